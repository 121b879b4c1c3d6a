//! Many writers and readers at once, with the background thread flushing and compacting: batches
//! stay atomic for readers, no acknowledged write is lost, and a reopen sees them all.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use lazuli_stream::{MemStore, StreamStore};
use lazuli_table::{Table, TableOptions, WriteBatch};

fn options() -> TableOptions {
    TableOptions {
        memtable_bytes_max: 16 << 10,
        block_bytes: 1024,
        block_cache_bytes: 64 << 10,
        compaction_trigger_checkpoints: 2,
        background: true,
    }
}

#[test]
fn concurrent_writers_and_readers_see_whole_batches() {
    const WRITERS: u32 = 4;
    const BATCHES: u32 = 1_000;
    let store = MemStore::new();
    let table = Table::open(store.clone() as Arc<dyn StreamStore>, "c", options()).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let table = table.clone();
            let done = done.clone();
            std::thread::spawn(move || {
                let mut checks = 0u32;
                while !done.load(Ordering::Acquire) || checks == 0 {
                    // Every batch of writer w sets both pair/w/a and pair/w/z to the same value.
                    for w in 0..WRITERS {
                        let rows = table
                            .scan(
                                format!("pair/{w}/").as_bytes(),
                                Some(format!("pair/{w}/~").as_bytes()),
                                10,
                            )
                            .unwrap();
                        if !rows.is_empty() {
                            assert_eq!(rows.len(), 2, "{rows:?}");
                            assert_eq!(rows[0].1, rows[1].1, "half a batch visible");
                        }
                    }
                    checks += 1;
                }
                checks
            })
        })
        .collect();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let table = table.clone();
            std::thread::spawn(move || {
                for b in 0..BATCHES {
                    let mut batch = WriteBatch::new();
                    let value = format!("{w}-{b}");
                    batch
                        .put(format!("pair/{w}/a"), value.clone())
                        .put(format!("pair/{w}/z"), value.clone());
                    batch.put(format!("own/{w}/{b:05}"), vec![b as u8; 200]);
                    table.write(&batch).unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    done.store(true, Ordering::Release);
    for r in readers {
        assert!(r.join().unwrap() > 0);
    }
    let check = |table: &Table| {
        for w in 0..WRITERS {
            let own = table
                .scan(
                    format!("own/{w}/").as_bytes(),
                    Some(format!("own/{w}/~").as_bytes()),
                    usize::MAX,
                )
                .unwrap();
            assert_eq!(own.len(), BATCHES as usize);
            let last = format!("{w}-{}", BATCHES - 1).into_bytes();
            assert_eq!(
                table.get(format!("pair/{w}/a").as_bytes()).unwrap().map(Vec::from),
                Some(last.clone())
            );
            assert_eq!(
                table.get(format!("pair/{w}/z").as_bytes()).unwrap().map(Vec::from),
                Some(last)
            );
        }
    };
    check(&table);
    let stats = table.stats();
    println!("{stats:?}");
    assert!(stats.flushes >= 10 && stats.compactions >= 1, "{stats:?}");
    drop(table);
    let table = Table::open(store.crash() as Arc<dyn StreamStore>, "c", options()).unwrap();
    check(&table);
}
