//! Access tiers: immediate changes, archive, rehydration that completes by the clock (also
//! across a crash), and the tier a blob is created in.

use std::sync::Arc;
use std::time::Duration;

use lazuli_partition::{HttpHeaders, NewBlobOptions, Partition, PartitionOptions, UploadedBody};
use lazuli_stream::{MemStore, StreamStore};
use lazuli_table::TableOptions;
use lazuli_types::conditions::Conditions;
use lazuli_types::ErrorCode;

const A: &str = "acct";

fn open(store: Arc<dyn StreamStore>) -> Arc<Partition> {
    let options = PartitionOptions {
        table: TableOptions {
            background: false,
            ..Default::default()
        },
        ..Default::default()
    };
    Partition::open(store, options).expect("open")
}

fn body() -> UploadedBody {
    UploadedBody {
        inline: Some(b"x".to_vec()),
        segments: vec![],
        len: 1,
        md5: lazuli_types::checksum::md5(b"x"),
    }
}

fn tier(partition: &Partition, blob: &str) -> lazuli_partition::tier::TierView {
    partition
        .get_blob(A, "c", blob, &Conditions::default())
        .expect("get")
        .expect("row")
        .tier_view(lazuli_partition::now_nanos())
}

#[test]
fn tiers_change_and_rehydrate_by_the_clock() {
    let store = MemStore::new();
    let partition = open(store.clone());
    let none = Conditions::default();
    partition.create_container(A, "c", vec![], None).expect("create");
    partition
        .put_blob(A, "c", "b", body(), HttpHeaders::default(), vec![], &none)
        .expect("put");
    let view = tier(&partition, "b");
    assert_eq!((view.tier.as_str(), view.inferred), ("Hot", true));
    let etag = partition.get_blob(A, "c", "b", &none).unwrap().unwrap().etag;

    let delay = Duration::from_millis(300);
    assert!(!partition
        .set_blob_tier(A, "c", "b", "Cool", None, delay, &none)
        .expect("cool"));
    let view = tier(&partition, "b");
    assert_eq!((view.tier.as_str(), view.inferred), ("Cool", false));
    assert!(view.change_time.is_some());
    assert!(!partition
        .set_blob_tier(A, "c", "b", "Archive", None, delay, &none)
        .expect("archive"));
    assert!(partition
        .set_blob_tier(A, "c", "b", "Hot", Some("Standard"), delay, &none)
        .expect("rehydrate"));
    let view = tier(&partition, "b");
    assert_eq!(view.tier, "Archive");
    assert_eq!(view.archive_status.as_deref(), Some("rehydrate-pending-to-hot"));
    let refused = partition.set_blob_tier(A, "c", "b", "Cool", None, delay, &none);
    assert_eq!(refused.unwrap_err().code, ErrorCode::BlobBeingRehydrated);
    // Tier changes leave the ETag alone.
    assert_eq!(partition.get_blob(A, "c", "b", &none).unwrap().unwrap().etag, etag);

    // The rehydration completes by the clock, with the server down or not.
    let partition = open(store.crash_process());
    std::thread::sleep(delay + Duration::from_millis(50));
    let view = tier(&partition, "b");
    assert_eq!((view.tier.as_str(), view.archive_status), ("Hot", None));

    let options = NewBlobOptions {
        tier: Some("Archive".into()),
        ..Default::default()
    };
    partition
        .put_blob_with(A, "c", "a", body(), HttpHeaders::default(), vec![], &none, &options)
        .expect("put archived");
    let row = partition.get_blob(A, "c", "a", &none).unwrap().unwrap();
    assert!(row.is_archived(lazuli_partition::now_nanos()));
    let refused = partition.set_blob_tier(A, "c", "missing", "Cool", None, delay, &none);
    assert_eq!(refused.unwrap_err().code, ErrorCode::BlobNotFound);
}
