//! Leases, snapshots, versions and soft delete: their semantics, that they survive a restart,
//! and that the segment reference counts stay equal to what the rows hold.

use std::sync::Arc;
use std::time::Duration;

use lazuli_partition::{
    BlobRow, BlobVersion, DeleteOptions, DeleteSnapshots, HttpHeaders, LeaseAction, ListBlobsOptions, Partition,
    PartitionOptions, UploadedBody,
};
use lazuli_stream::{MemStore, StreamStore};
use lazuli_table::TableOptions;
use lazuli_types::conditions::Conditions;
use lazuli_types::ErrorCode;

const A: &str = "acct";
const C: &str = "c";
const LEASE: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";
const OTHER: &str = "11111111-2222-3333-4444-555555555555";

fn options() -> PartitionOptions {
    PartitionOptions {
        inline_bytes_max: 16,
        segment_bytes_max: 64,
        gc_grace: Duration::ZERO,
        table: TableOptions {
            memtable_bytes_max: 64 * 1024,
            background: false,
            ..Default::default()
        },
        ..Default::default()
    }
}

fn open(store: Arc<dyn StreamStore>) -> Arc<Partition> {
    Partition::open(store, options()).expect("open")
}

fn setup() -> (Arc<MemStore>, Arc<Partition>) {
    let store = MemStore::new();
    let partition = open(store.clone());
    partition.create_container(A, C, vec![], None).expect("container");
    (store, partition)
}

/// Segmented (not inline) so that rows share data segments.
fn upload(partition: &Partition, data: &[u8]) -> UploadedBody {
    let segments = data
        .chunks(partition.options().segment_bytes_max)
        .map(|chunk| partition.append_segment(chunk).expect("append"))
        .collect();
    UploadedBody {
        inline: None,
        segments,
        len: data.len() as u64,
        md5: lazuli_types::checksum::md5(data),
    }
}

fn put_with(partition: &Partition, blob: &str, data: &[u8], conditions: &Conditions) -> Result<BlobRow, ErrorCode> {
    let body = upload(partition, data);
    partition
        .put_blob(A, C, blob, body, HttpHeaders::default(), vec![], conditions)
        .map_err(|e| e.code)
}

fn put(partition: &Partition, blob: &str, data: &[u8]) -> BlobRow {
    put_with(partition, blob, data, &Conditions::default()).expect("put")
}

fn content(partition: &Partition, row: &BlobRow) -> Vec<u8> {
    if let Some(inline) = &row.inline {
        return inline.to_vec();
    }
    row.segments()
        .flat_map(|s| partition.read_segment(*s).expect("read"))
        .collect()
}

fn read(partition: &Partition, blob: &str, version: &BlobVersion) -> Result<Vec<u8>, ErrorCode> {
    let row = partition
        .get_blob_version(A, C, blob, version, &Conditions::default())
        .map_err(|e| e.code)?
        .expect("not 304");
    Ok(content(partition, &row))
}

fn with_lease(id: &str) -> Conditions {
    Conditions {
        lease_id: Some(id.into()),
        ..Default::default()
    }
}

/// The live bytes counted while running equal those rebuilt from the rows by a fresh open
/// after a simulated crash; returns the reopened partition.
fn assert_live_bytes_match_rows(store: &Arc<MemStore>, partition: &Partition) -> (Arc<MemStore>, Arc<Partition>) {
    let (_, live) = partition.data_usage();
    let store = store.crash_process();
    let reopened = open(store.clone());
    assert_eq!(reopened.data_usage().1, live, "reference counts drifted from the rows");
    (store, reopened)
}

fn list(partition: &Partition, snapshots: bool, versions: bool, deleted: bool) -> Vec<(String, BlobRow)> {
    partition
        .list_blobs(
            A,
            C,
            &ListBlobsOptions {
                max_results: 5000,
                include_snapshots: snapshots,
                include_versions: versions,
                include_deleted: deleted,
                ..Default::default()
            },
        )
        .expect("list")
        .items
        .into_iter()
        .map(|item| item.expect("no prefixes"))
        .collect()
}

fn acquire(duration: i32, id: &str) -> LeaseAction {
    LeaseAction::Acquire {
        duration,
        proposed_id: Some(id.into()),
    }
}

#[test]
fn blob_leases_guard_writes_and_survive_restart() {
    let (store, p) = setup();
    put(&p, "b", b"v1");
    let (_, outcome) = p
        .lease_blob(A, C, "b", &acquire(-1, LEASE), None, &Conditions::default())
        .unwrap();
    assert_eq!(outcome.lease_id.as_deref(), Some(LEASE));
    assert_eq!(
        put_with(&p, "b", b"v2", &Conditions::default()).unwrap_err(),
        ErrorCode::LeaseIdMissing
    );
    assert_eq!(
        put_with(&p, "b", b"v2", &with_lease(OTHER)).unwrap_err(),
        ErrorCode::LeaseIdMismatchWithBlobOperation
    );
    assert_eq!(
        p.delete_blob(A, C, "b", &Conditions::default()).unwrap_err().code,
        ErrorCode::LeaseIdMissing
    );
    // The lease survives an overwrite by its holder.
    let row = put_with(&p, "b", b"v2", &with_lease(LEASE)).unwrap();
    assert_eq!(row.lease.as_ref().map(|l| l.id.as_str()), Some(LEASE));
    assert_eq!(
        p.lease_blob(A, C, "b", &acquire(15, OTHER), None, &Conditions::default())
            .unwrap_err()
            .code,
        ErrorCode::LeaseAlreadyPresent
    );
    // Reads need no lease id, but a wrong one is refused.
    assert!(p.get_blob(A, C, "b", &Conditions::default()).is_ok());
    assert_eq!(
        p.get_blob(A, C, "b", &with_lease(OTHER)).unwrap_err().code,
        ErrorCode::LeaseIdMismatchWithBlobOperation
    );

    let (store, p) = assert_live_bytes_match_rows(&store, &p);
    let row = p.get_blob(A, C, "b", &Conditions::default()).unwrap().unwrap();
    assert_eq!(lazuli_partition::lease_view(row.lease.as_ref()).state, "leased");
    // Breaking with a period keeps the lease until it ends; writes still need the id.
    let (_, outcome) = p
        .lease_blob(
            A,
            C,
            "b",
            &LeaseAction::Break { period: Some(60) },
            None,
            &Conditions::default(),
        )
        .unwrap();
    assert_eq!(outcome.lease_time, Some(60));
    assert_eq!(
        put_with(&p, "b", b"v3", &Conditions::default()).unwrap_err(),
        ErrorCode::LeaseIdMissing
    );
    assert_eq!(
        p.lease_blob(A, C, "b", &LeaseAction::Renew, Some(LEASE), &Conditions::default())
            .unwrap_err()
            .code,
        ErrorCode::LeaseIsBrokenAndCannotBeRenewed
    );
    // Breaking at once: broken, writes without an id pass, with the old id they are refused.
    p.lease_blob(
        A,
        C,
        "b",
        &LeaseAction::Break { period: Some(0) },
        None,
        &Conditions::default(),
    )
    .unwrap();
    assert_eq!(
        put_with(&p, "b", b"v3", &with_lease(LEASE)).unwrap_err(),
        ErrorCode::LeaseLost
    );
    put(&p, "b", b"v3");
    p.lease_blob(A, C, "b", &LeaseAction::Release, Some(LEASE), &Conditions::default())
        .unwrap();
    assert_eq!(
        put_with(&p, "b", b"v4", &with_lease(LEASE)).unwrap_err(),
        ErrorCode::LeaseNotPresentWithBlobOperation
    );
    p.delete_blob(A, C, "b", &Conditions::default()).unwrap();
    assert_live_bytes_match_rows(&store, &p);
}

#[test]
fn container_leases_guard_delete() {
    let (store, p) = setup();
    p.lease_container(A, C, &acquire(-1, LEASE), None, &Conditions::default())
        .unwrap();
    assert_eq!(
        p.delete_container(A, C, &Conditions::default()).unwrap_err().code,
        ErrorCode::LeaseIdMissing
    );
    assert_eq!(
        p.delete_container(A, C, &with_lease(OTHER)).unwrap_err().code,
        ErrorCode::LeaseIdMismatchWithContainerOperation
    );
    assert_eq!(
        p.set_container_metadata(A, C, vec![], &with_lease(OTHER))
            .unwrap_err()
            .code,
        ErrorCode::LeaseIdMismatchWithContainerOperation
    );
    p.set_container_metadata(A, C, vec![], &Conditions::default()).unwrap();
    let (_, p) = assert_live_bytes_match_rows(&store, &p);
    let row = p.get_container(A, C).unwrap();
    assert_eq!(
        lazuli_partition::lease_view(row.lease.as_ref()).duration,
        Some("infinite")
    );
    p.delete_container(A, C, &with_lease(LEASE)).unwrap();
}

#[test]
fn snapshots_share_segments_and_follow_the_delete_rules() {
    let (store, p) = setup();
    let original = vec![7u8; 200];
    put(&p, "s", &original);
    let (first, _) = p.create_snapshot(A, C, "s", vec![], &Conditions::default()).unwrap();
    let (second, _) = p
        .create_snapshot(A, C, "s", vec![("m".into(), "1".into())], &Conditions::default())
        .unwrap();
    assert!(first < second, "snapshot ids increase");
    // Taking snapshots copies no bytes.
    let live_before = p.data_usage().1;
    put(&p, "s", b"changed-and-longer-than-inline");
    assert_eq!(read(&p, "s", &BlobVersion::Snapshot(first.clone())).unwrap(), original);
    assert!(
        p.data_usage().1 > live_before,
        "the old data stays live for the snapshots"
    );
    let (store, p) = assert_live_bytes_match_rows(&store, &p);

    let listed = list(&p, true, false, false);
    let order: Vec<Option<String>> = listed.iter().map(|(_, r)| r.snapshot.clone()).collect();
    assert_eq!(order, vec![Some(first.clone()), Some(second.clone()), None]);
    assert_eq!(listed[1].1.metadata, vec![("m".to_string(), "1".to_string())]);
    assert_eq!(list(&p, false, false, false).len(), 1);

    let delete = |version: BlobVersion, snapshots| {
        p.delete_blob_with(
            A,
            C,
            "s",
            &version,
            &DeleteOptions {
                snapshots,
                retention_days: None,
            },
            &Conditions::default(),
        )
        .map_err(|e| e.code)
    };
    assert_eq!(
        delete(BlobVersion::Base, DeleteSnapshots::Refuse).unwrap_err(),
        ErrorCode::SnapshotsPresent
    );
    delete(BlobVersion::Snapshot(first.clone()), DeleteSnapshots::Refuse).unwrap();
    assert_eq!(
        read(&p, "s", &BlobVersion::Snapshot(first)).unwrap_err(),
        ErrorCode::BlobNotFound
    );
    delete(BlobVersion::Base, DeleteSnapshots::Only).unwrap();
    assert_eq!(list(&p, true, false, false).len(), 1, "only the blob is left");
    put(&p, "s", &original);
    p.create_snapshot(A, C, "s", vec![], &Conditions::default()).unwrap();
    delete(BlobVersion::Base, DeleteSnapshots::Include).unwrap();
    assert!(list(&p, true, false, false).is_empty());
    let (_, p) = assert_live_bytes_match_rows(&store, &p);
    assert_eq!(p.data_usage().1, 0, "nothing references data any more");
}

#[test]
fn versions_keep_previous_content() {
    let (store, p) = setup();
    p.set_versioning(A, true).unwrap();
    let v1 = put(&p, "v", &[1u8; 100]).version_id.expect("version id");
    let v2 = put(&p, "v", &[2u8; 100]).version_id.expect("version id");
    assert!(v1 < v2);
    assert_eq!(
        read(&p, "v", &BlobVersion::Version(v1.clone())).unwrap(),
        vec![1u8; 100]
    );
    assert_eq!(
        read(&p, "v", &BlobVersion::Version(v2.clone())).unwrap(),
        vec![2u8; 100]
    );
    // Property changes keep the version; metadata changes make a new one.
    let same = p
        .update_blob(A, C, "v", &Conditions::default(), |row| {
            row.headers.content_type = Some("text/plain".into())
        })
        .unwrap();
    assert_eq!(same.version_id.as_deref(), Some(v2.as_str()));
    let listed = list(&p, false, true, false);
    assert_eq!(listed.len(), 2);
    assert!(listed[0].1.previous_version && !listed[1].1.previous_version);
    let (store, p) = assert_live_bytes_match_rows(&store, &p);

    // Deleting the blob keeps its current version as a previous one.
    p.delete_blob(A, C, "v", &Conditions::default()).unwrap();
    assert_eq!(
        p.get_blob(A, C, "v", &Conditions::default()).unwrap_err().code,
        ErrorCode::BlobNotFound
    );
    assert_eq!(
        read(&p, "v", &BlobVersion::Version(v2.clone())).unwrap(),
        vec![2u8; 100]
    );
    assert_eq!(list(&p, false, true, false).len(), 2);
    assert!(list(&p, false, false, false).is_empty());
    p.delete_blob_with(
        A,
        C,
        "v",
        &BlobVersion::Version(v1.clone()),
        &DeleteOptions::default(),
        &Conditions::default(),
    )
    .unwrap();
    assert_eq!(
        read(&p, "v", &BlobVersion::Version(v1)).unwrap_err(),
        ErrorCode::BlobNotFound
    );
    assert_live_bytes_match_rows(&store, &p);
}

#[test]
fn soft_deleted_blobs_are_listed_restored_and_purged() {
    let (store, p) = setup();
    let data = vec![9u8; 150];
    put(&p, "d", &data);
    p.create_snapshot(A, C, "d", vec![], &Conditions::default()).unwrap();
    let soft = |days| DeleteOptions {
        snapshots: DeleteSnapshots::Include,
        retention_days: Some(days),
    };
    p.delete_blob_with(A, C, "d", &BlobVersion::Base, &soft(7), &Conditions::default())
        .unwrap();
    assert_eq!(
        p.get_blob(A, C, "d", &Conditions::default()).unwrap_err().code,
        ErrorCode::BlobNotFound
    );
    assert!(list(&p, true, false, false).is_empty());
    let deleted = list(&p, true, false, true);
    assert_eq!(deleted.len(), 2);
    assert!(deleted.iter().all(|(_, row)| row.deleted.is_some()));
    assert_eq!(
        deleted[1]
            .1
            .deleted
            .unwrap()
            .remaining_days(lazuli_partition::now_nanos()),
        7
    );
    let (store, p) = assert_live_bytes_match_rows(&store, &p);
    assert_eq!(p.purge_soft_deleted().unwrap(), 0, "still within retention");

    p.undelete_blob(A, C, "d").unwrap();
    assert_eq!(read(&p, "d", &BlobVersion::Base).unwrap(), data);
    assert_eq!(list(&p, true, false, false).len(), 2);

    // Retention of zero days: purged on the next pass, and its data is no longer live.
    p.delete_blob_with(A, C, "d", &BlobVersion::Base, &soft(0), &Conditions::default())
        .unwrap();
    assert_eq!(p.purge_soft_deleted().unwrap(), 2);
    assert!(list(&p, true, true, true).is_empty());
    assert_eq!(p.undelete_blob(A, C, "d").unwrap_err().code, ErrorCode::BlobNotFound);
    let (_, p) = assert_live_bytes_match_rows(&store, &p);
    assert_eq!(p.data_usage().1, 0);
}

#[test]
fn soft_deleted_containers_are_restored_or_purged() {
    let (store, p) = setup();
    p.set_container_delete_retention(A, Some(1)).unwrap();
    put(&p, "kept", &[5u8; 100]);
    p.delete_container(A, C, &Conditions::default()).unwrap();
    assert_eq!(p.get_container(A, C).unwrap_err().code, ErrorCode::ContainerNotFound);
    assert_eq!(
        p.get_blob(A, C, "kept", &Conditions::default()).unwrap_err().code,
        ErrorCode::ContainerNotFound
    );
    assert!(p.list_containers(A, "", None, 10).unwrap().containers.is_empty());
    assert_eq!(
        p.create_container(A, C, vec![], None).unwrap_err().code,
        ErrorCode::ContainerBeingDeleted
    );
    let deleted = p.list_deleted_containers(A, "").unwrap();
    assert_eq!(deleted.len(), 1);
    let version = deleted[0].1.deleted_version.clone().unwrap();
    assert_eq!(
        p.restore_container(A, C, "0000000000000000").unwrap_err().code,
        ErrorCode::ContainerNotFound
    );
    let (store, p) = assert_live_bytes_match_rows(&store, &p);
    p.restore_container(A, C, &version).unwrap();
    assert_eq!(read(&p, "kept", &BlobVersion::Base).unwrap(), vec![5u8; 100]);
    assert!(p.list_deleted_containers(A, "").unwrap().is_empty());

    // Retention over: purged with its blobs, and the name is free again.
    p.set_container_delete_retention(A, Some(0)).unwrap();
    p.delete_container(A, C, &Conditions::default()).unwrap();
    assert_eq!(p.purge_soft_deleted().unwrap(), 1);
    assert!(p.list_deleted_containers(A, "").unwrap().is_empty());
    p.create_container(A, C, vec![], None).unwrap();
    assert!(list(&p, true, true, true).is_empty());
    let (_, p) = assert_live_bytes_match_rows(&store, &p);
    assert_eq!(p.data_usage().1, 0);
}

#[test]
fn overwrites_keep_a_soft_deleted_snapshot() {
    let (store, p) = setup();
    put(&p, "o", &[1u8; 100]);
    // Soft delete off: an overwrite keeps nothing.
    put(&p, "o", &[2u8; 100]);
    assert_eq!(list(&p, true, false, true).len(), 1);
    p.set_blob_delete_retention(A, Some(2)).unwrap();
    put(&p, "o", &[3u8; 100]);
    // Property changes keep nothing.
    p.update_blob(A, C, "o", &Conditions::default(), |row| {
        row.headers.cache_control = Some("no-cache".into())
    })
    .unwrap();
    let listed = list(&p, true, false, true);
    assert_eq!(listed.len(), 2);
    let kept = &listed[0].1;
    assert!(kept.deleted.is_some() && kept.snapshot.is_some());
    assert_eq!(content(&p, kept), vec![2u8; 100]);
    assert!(list(&p, true, false, false).len() == 1, "deleted snapshots are hidden");
    let (store, p) = assert_live_bytes_match_rows(&store, &p);
    p.undelete_blob(A, C, "o").unwrap();
    let snapshot = list(&p, true, false, false)[0].1.snapshot.clone().unwrap();
    assert_eq!(read(&p, "o", &BlobVersion::Snapshot(snapshot)).unwrap(), vec![2u8; 100]);
    assert_live_bytes_match_rows(&store, &p);
}

/// Put Blob of a segmented body committed from an async thread (`try_prepare_put_blob`,
/// `commit_prepared`): the new row takes over the upload's segment references, and a refused
/// condition drops them, so the live bytes stay what the rows hold, as on the blocking path.
#[test]
fn async_put_blob_hands_the_upload_references_to_the_row_or_drops_them() {
    let store = MemStore::new();
    let mut opts = options();
    // Async commits need the background flusher.
    opts.table.background = true;
    let p = Partition::open(store.clone(), opts).expect("open");
    p.create_container(A, C, vec![], None).expect("container");
    let put_async = |data: &[u8], conditions: &Conditions| {
        let body = upload(&p, data);
        let prepared = p
            .try_prepare_put_blob(
                A,
                C,
                "b",
                &body,
                &HttpHeaders::default(),
                &[],
                conditions,
                &lazuli_partition::NewBlobOptions::default(),
            )
            .expect("nothing to wait for")?;
        Ok::<_, lazuli_types::AzureError>(
            lazuli_stream::block_on(p.commit_prepared(prepared))
                .expect("not declined")?
                .expect("a row"),
        )
    };
    let first = put_async(&[1u8; 200], &Conditions::default()).expect("put");
    assert_eq!(content(&p, &first), [1u8; 200]);
    let refused = Conditions {
        if_none_match: Some("*".into()),
        ..Default::default()
    };
    assert_eq!(
        put_async(&[2u8; 200], &refused).unwrap_err().code,
        ErrorCode::BlobAlreadyExists
    );
    let second = put_async(&[3u8; 300], &Conditions::default()).expect("overwrite");
    assert_eq!(content(&p, &second), [3u8; 300]);
    let (_, live) = p.data_usage();
    assert_eq!(live, 300, "only the current row's bytes are live");
    assert_live_bytes_match_rows(&store, &p);
}

/// An async Put Blob over a blob with more uncommitted blocks than one batch deletes is
/// declined (the rest are deleted after the commit, which writes and waits), and made on a
/// blocking thread instead; with fewer, it discards them itself.
#[test]
fn async_put_blob_leaves_a_long_discard_to_a_blocking_thread() {
    let store = MemStore::new();
    let mut opts = options();
    opts.table.background = true;
    opts.staged_rows_per_batch = 7;
    let p = Partition::open(store.clone(), opts).expect("open");
    p.create_container(A, C, vec![], None).expect("container");
    let stage = |count: usize| {
        for i in 0..count {
            p.put_block(A, C, "b", &format!("{i:04}"), upload(&p, b"block"))
                .expect("block");
        }
    };
    let try_put = |body: &UploadedBody| {
        p.try_prepare_put_blob(
            A,
            C,
            "b",
            body,
            &HttpHeaders::default(),
            &[],
            &Conditions::default(),
            &lazuli_partition::NewBlobOptions::default(),
        )
    };
    stage(20);
    // As the front-end does: a declined write is made again with the same upload.
    let body = upload(&p, b"whole");
    assert!(try_put(&body).is_none(), "declined: the discard needs a sweep");
    assert_eq!(p.get_block_list(A, C, "b").expect("list").uncommitted.len(), 20);
    p.put_blob(A, C, "b", body, HttpHeaders::default(), vec![], &Conditions::default())
        .expect("the blocking path sweeps");
    assert!(p.get_block_list(A, C, "b").expect("list").uncommitted.is_empty());
    stage(5);
    let prepared = try_put(&upload(&p, b"whole")).expect("not declined").expect("prepared");
    lazuli_stream::block_on(p.commit_prepared(prepared))
        .expect("not declined")
        .expect("put");
    assert!(p.get_block_list(A, C, "b").expect("list").uncommitted.is_empty());
    assert_eq!(p.data_usage().1, 5, "only the row's bytes are live");
    assert_live_bytes_match_rows(&store, &p);
}
