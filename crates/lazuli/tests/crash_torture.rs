//! Crash torture: a load generator writes and deletes blobs (small, segmented, block lists),
//! appends to append blobs (whose small blocks the server merges as they accumulate) and
//! writes pages at random offsets of page blobs (whose page maps span two chunk rows) through
//! HTTP while the server is killed with SIGKILL at random moments, again and again.
//! After every restart each acknowledged write reads back byte-exact and each acknowledged
//! delete stays deleted; an operation cut off by the kill may have happened or not, but only
//! entirely. The server must be serving again within a bound.
//!
//! `LAZULI_TORTURE_CYCLES` sets the number of kill cycles (default 8; the full run is 100).

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::client::{send_to, try_send_to, Auth};
use common::ServerProcess;
use http::Method;
use rand::{Rng, SeedableRng};

/// A restarted server must accept requests within this time.
const STARTUP_BOUND: Duration = Duration::from_secs(20);
const WRITERS: usize = 8;

/// What a blob may hold: the content's fingerprint, or None for deleted/absent.
type State = Option<(usize, u64)>;

#[derive(Default)]
struct Model {
    /// The last acknowledged state of each blob.
    acked: HashMap<String, State>,
    /// States an operation in flight may have left (the kill can land before or after it).
    pending: HashMap<String, Vec<State>>,
    /// Operations acknowledged over the whole run.
    acknowledged: usize,
    /// The content of each append blob as last acknowledged (or found after a restart), which
    /// its next append extends.
    logs: HashMap<String, Vec<u8>>,
    /// The content of each page blob, likewise, which its next Put Page overwrites in part.
    disks: HashMap<String, Vec<u8>>,
    /// Put Pages acknowledged over the whole run.
    page_writes: usize,
}

impl Model {
    /// An operation about to be sent may leave `name` in `state` (the kill can land before or
    /// after it).
    fn in_flight(&mut self, name: &str, state: State) {
        self.pending.entry(name.to_owned()).or_default().push(state);
    }

    /// The operation that would leave `name` in `state` was acknowledged.
    fn acknowledge(&mut self, name: &str, state: State) {
        self.acknowledged += 1;
        self.acked.insert(name.to_owned(), state);
        if let Some(pending) = self.pending.get_mut(name) {
            if let Some(at) = pending.iter().position(|s| *s == state) {
                pending.remove(at);
            }
        }
    }
}

/// Page blobs span the first page map chunk boundary (4 MiB) of the server.
const DISK_BYTES: usize = 4 * 1024 * 1024 + 512 * 1024;

fn fingerprint(bytes: &[u8]) -> (usize, u64) {
    // FNV-1a: enough to tell contents apart in a test.
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x100_0000_01b3)
    });
    (bytes.len(), hash)
}

fn content(rng: &mut impl Rng) -> Vec<u8> {
    let len = match rng.gen_range(0..10) {
        0..=5 => rng.gen_range(0..2048),
        6..=8 => rng.gen_range(60_000..200_000),
        _ => rng.gen_range(4_000_000..9_000_000),
    };
    let seed: u8 = rng.gen();
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// Put Blob of `blob_type` (`BlockBlob` with `body`, or an empty `AppendBlob`).
async fn put_blob(addr: SocketAddr, name: &str, blob_type: &str, body: &[u8]) -> bool {
    let path = format!("/devstoreaccount1/torture/{name}");
    let reply = try_send_to(
        addr,
        Method::PUT,
        &path,
        &[("x-ms-blob-type", blob_type)],
        body,
        Auth::SharedKey,
    )
    .await;
    reply.is_ok_and(|r| r.status == 201)
}

async fn put_block_list(addr: SocketAddr, name: &str, body: &[u8]) -> bool {
    let parts: Vec<&[u8]> = if body.is_empty() {
        vec![]
    } else {
        body.chunks(body.len().div_ceil(3)).collect()
    };
    let mut list = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>");
    for (i, part) in parts.iter().enumerate() {
        let id = format!("YmxvY2st{i:04}"); // equal-length ids
        let path = format!("/devstoreaccount1/torture/{name}?comp=block&blockid={id}");
        if !try_send_to(addr, Method::PUT, &path, &[], part, Auth::SharedKey)
            .await
            .is_ok_and(|r| r.status == 201)
        {
            return false;
        }
        list.push_str(&format!("<Latest>{id}</Latest>"));
    }
    list.push_str("</BlockList>");
    let path = format!("/devstoreaccount1/torture/{name}?comp=blocklist");
    try_send_to(addr, Method::PUT, &path, &[], list.as_bytes(), Auth::SharedKey)
        .await
        .is_ok_and(|r| r.status == 201)
}

async fn append_block(addr: SocketAddr, name: &str, body: &[u8]) -> bool {
    let path = format!("/devstoreaccount1/torture/{name}?comp=appendblock");
    let reply = try_send_to(addr, Method::PUT, &path, &[], body, Auth::SharedKey).await;
    reply.is_ok_and(|r| r.status == 201)
}

/// A piece to append: mostly a few bytes, now and then more than the size the server stops
/// merging at (256 KiB).
fn piece(rng: &mut impl Rng) -> Vec<u8> {
    let len = if rng.gen_range(0..20) == 0 {
        rng.gen_range(262_144..400_000)
    } else {
        rng.gen_range(1..1500)
    };
    let seed: u8 = rng.gen();
    (0..len).map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed)).collect()
}

async fn delete_blob(addr: SocketAddr, name: &str) -> bool {
    let path = format!("/devstoreaccount1/torture/{name}");
    let reply = try_send_to(addr, Method::DELETE, &path, &[], b"", Auth::SharedKey).await;
    reply.is_ok_and(|r| r.status == 202 || r.status == 404)
}

/// Appends to (or creates) the writer's append blob `log`; false once the server is gone.
async fn append_once(addr: SocketAddr, model: &Mutex<Model>, log: &str, rng: &mut impl Rng) -> bool {
    let current = model.lock().expect("model").logs.get(log).cloned();
    let (next, appended) = match current {
        None => (Vec::new(), None),
        Some(content) => {
            let piece = piece(rng);
            ([content.as_slice(), &piece].concat(), Some(piece))
        }
    };
    let new_state = Some(fingerprint(&next));
    model.lock().expect("model").in_flight(log, new_state);
    let acknowledged = match &appended {
        None => put_blob(addr, log, "AppendBlob", b"").await,
        Some(piece) => append_block(addr, log, piece).await,
    };
    if !acknowledged {
        return false;
    }
    let mut model = model.lock().expect("model");
    model.acknowledge(log, new_state);
    model.logs.insert(log.to_owned(), next);
    true
}

/// Creates the writer's page blob `disk`, or writes pages of it at a random offset (one write
/// in four across the 4 MiB chunk boundary); false once the server is gone.
async fn page_once(addr: SocketAddr, model: &Mutex<Model>, disk: &str, rng: &mut impl Rng) -> bool {
    let current = model.lock().expect("model").disks.get(disk).cloned();
    let path = format!("/devstoreaccount1/torture/{disk}");
    let (next, request) = match current {
        None => (vec![0u8; DISK_BYTES], None),
        Some(mut content) => {
            let len = rng.gen_range(1..=32usize) * 512;
            let start = if rng.gen_range(0..4) == 0 {
                4 * 1024 * 1024 - rng.gen_range(1..len / 512 + 1) * 512
            } else {
                rng.gen_range(0..(DISK_BYTES - len) / 512) * 512
            };
            let seed: u8 = rng.gen();
            let data: Vec<u8> = (0..len)
                .map(|i| (i as u8).wrapping_mul(13).wrapping_add(seed))
                .collect();
            content[start..start + len].copy_from_slice(&data);
            (content, Some((start, data)))
        }
    };
    let new_state = Some(fingerprint(&next));
    model.lock().expect("model").in_flight(disk, new_state);
    let acknowledged = match &request {
        None => {
            let size = DISK_BYTES.to_string();
            let headers = [
                ("x-ms-blob-type", "PageBlob"),
                ("x-ms-blob-content-length", size.as_str()),
            ];
            let reply = try_send_to(addr, Method::PUT, &path, &headers, b"", Auth::SharedKey).await;
            reply.is_ok_and(|r| r.status == 201)
        }
        Some((start, data)) => {
            let range = format!("bytes={}-{}", start, start + data.len() - 1);
            let headers = [("x-ms-page-write", "update"), ("x-ms-range", range.as_str())];
            let path = format!("{path}?comp=page");
            let reply = try_send_to(addr, Method::PUT, &path, &headers, data, Auth::SharedKey).await;
            reply.is_ok_and(|r| r.status == 201)
        }
    };
    if !acknowledged {
        return false;
    }
    let mut model = model.lock().expect("model");
    model.acknowledge(disk, new_state);
    model.page_writes += usize::from(request.is_some());
    model.disks.insert(disk.to_owned(), next);
    true
}

/// One writer: random operations until the server dies under it.
async fn writer(addr: SocketAddr, model: Arc<Mutex<Model>>, seed: u64, names: Vec<String>) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let log = format!("log-{}", names[0]);
    let disk = format!("disk-{}", names[0]);
    loop {
        match rng.gen_range(0..10) {
            0..=4 => {
                if !append_once(addr, &model, &log, &mut rng).await {
                    return;
                }
                continue;
            }
            5..=6 => {
                if !page_once(addr, &model, &disk, &mut rng).await {
                    return;
                }
                continue;
            }
            _ => {}
        }
        let name = names[rng.gen_range(0..names.len())].clone();
        let delete = rng.gen_range(0..5) == 0;
        let body = if delete { Vec::new() } else { content(&mut rng) };
        let new_state: State = if delete { None } else { Some(fingerprint(&body)) };
        model.lock().expect("model").in_flight(&name, new_state);
        let ok = if delete {
            delete_blob(addr, &name).await
        } else if rng.gen_bool(0.3) {
            put_block_list(addr, &name, &body).await
        } else {
            put_blob(addr, &name, "BlockBlob", &body).await
        };
        if !ok {
            // The server is gone (or refused): leave the state pending for the checker.
            return;
        }
        model.lock().expect("model").acknowledge(&name, new_state);
    }
}

async fn check(addr: SocketAddr, model: &mut Model) {
    let names: Vec<String> = model.acked.keys().chain(model.pending.keys()).cloned().collect();
    for name in names {
        let reply = send_to(
            addr,
            Method::GET,
            &format!("/devstoreaccount1/torture/{name}"),
            &[],
            b"",
            Auth::SharedKey,
        )
        .await;
        let found: State = match reply.status.as_u16() {
            200 => Some(fingerprint(&reply.body)),
            404 => None,
            other => panic!("GET {name} after restart answered {other}"),
        };
        let acked = model.acked.get(&name).copied().unwrap_or(None);
        let pending = model.pending.remove(&name).unwrap_or_default();
        assert!(
            found == acked || pending.contains(&found),
            "{name}: found {found:?}, acknowledged {acked:?}, in flight {pending:?}"
        );
        // Whatever is there now is the truth the next cycle builds on.
        let contents = if name.starts_with("log-") {
            Some(&mut model.logs)
        } else if name.starts_with("disk-") {
            Some(&mut model.disks)
        } else {
            None
        };
        if let Some(contents) = contents {
            match found {
                Some(_) => contents.insert(name.clone(), reply.body.to_vec()),
                None => contents.remove(&name),
            };
        }
        model.acked.insert(name, found);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_sigkill() {
    let cycles: usize = std::env::var("LAZULI_TORTURE_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let dir = tempfile::tempdir().expect("tempdir");
    let names: Vec<String> = (0..24).map(|i| format!("blob-{i:02}")).collect();
    let mut model = Model::default();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x1a2u64 ^ cycles as u64);
    for cycle in 0..cycles {
        let started = Instant::now();
        let server = ServerProcess::start(dir.path());
        let addr = server.addr;
        loop {
            let reply = try_send_to(
                addr,
                Method::PUT,
                "/devstoreaccount1/torture?restype=container",
                &[],
                b"",
                Auth::SharedKey,
            )
            .await;
            if reply.is_ok_and(|r| r.status == 201 || r.status == 409) {
                break;
            }
            assert!(
                started.elapsed() < STARTUP_BOUND,
                "server not serving within {STARTUP_BOUND:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            started.elapsed() < STARTUP_BOUND,
            "cycle {cycle}: startup took {:?}",
            started.elapsed()
        );
        check(addr, &mut model).await;
        let shared = Arc::new(Mutex::new(std::mem::take(&mut model)));
        // Each writer owns its names, so the operations on one blob are sequential and the
        // last acknowledged one is the one the server must hold.
        let tasks: Vec<_> = (0..WRITERS)
            .map(|w| {
                let owned: Vec<String> = names.iter().skip(w).step_by(WRITERS).cloned().collect();
                tokio::spawn(writer(addr, shared.clone(), rng.gen(), owned))
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(rng.gen_range(100..1200))).await;
        server.kill();
        for task in tasks {
            let _ = task.await;
        }
        model = Arc::try_unwrap(shared)
            .ok()
            .expect("writers done")
            .into_inner()
            .expect("model");
    }
    let server = ServerProcess::start(dir.path());
    check(server.addr, &mut model).await;
    // More appends than the server leaves unmerged (32 small blocks): merges ran between kills.
    let mut most_appends = 0;
    for log in model.logs.keys() {
        let reply = send_to(
            server.addr,
            Method::HEAD,
            &format!("/devstoreaccount1/torture/{log}"),
            &[],
            b"",
            Auth::SharedKey,
        )
        .await;
        let count = reply
            .headers
            .get("x-ms-blob-committed-block-count")
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            .unwrap_or(0);
        most_appends = most_appends.max(count);
    }
    server.kill();
    assert!(
        most_appends > 32,
        "no append blob took enough appends to be merged ({most_appends})"
    );
    println!(
        "{cycles} kill cycles, {} acknowledged operations ({} Put Pages) checked, none lost",
        model.acknowledged, model.page_writes
    );
    assert!(model.page_writes > 0, "no Put Page was acknowledged");
    assert!(
        model.acknowledged > cycles,
        "the load generator made too little progress to prove anything"
    );
}
