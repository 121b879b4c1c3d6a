"""Snapshots (Snapshot Blob, reads and deletes by ?snapshot=, x-ms-delete-snapshots, listing) and
versioning (a dedicated server with LAZULI_VERSIONING, reads and deletes by ?versionid=)."""

import re

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

ISO7 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$")


def _fails(status, code, fn, *args, **kwargs):
    with pytest.raises(HttpResponseError) as e:
        fn(*args, **kwargs)
    assert (e.value.status_code, e.value.error_code) == (status, code)


def test_snapshot_reads_and_properties(container):
    blob = container.get_blob_client("snap")
    blob.upload_blob(b"original", metadata={"k": "base"})
    snap = blob.create_snapshot()
    assert ISO7.match(snap["snapshot"]), snap["snapshot"]
    with_meta = blob.create_snapshot(metadata={"k": "snap"})
    assert with_meta["snapshot"] > snap["snapshot"]
    blob.upload_blob(b"changed!!", overwrite=True)
    old = container.get_blob_client("snap", snapshot=snap["snapshot"])
    assert old.download_blob().readall() == b"original"
    props = old.get_blob_properties()
    assert props.size == len(b"original")
    assert props.metadata == {"k": "base"}
    assert container.get_blob_client("snap", snapshot=with_meta["snapshot"]).get_blob_properties().metadata == {
        "k": "snap"}
    missing = container.get_blob_client("snap", snapshot="2001-01-01T00:00:00.0000000Z")
    with pytest.raises(ResourceNotFoundError):
        missing.get_blob_properties()
    with pytest.raises(ResourceNotFoundError):
        container.get_blob_client("nope").create_snapshot()


def test_snapshots_listed_before_the_blob_oldest_first(container):
    blob = container.get_blob_client("a")
    blob.upload_blob(b"1")
    s1 = blob.create_snapshot()["snapshot"]
    s2 = blob.create_snapshot()["snapshot"]
    container.upload_blob("b", b"2")
    listed = [(b.name, b.snapshot) for b in container.list_blobs(include=["snapshots"])]
    assert listed == [("a", s1), ("a", s2), ("a", None), ("b", None)]
    assert [b.name for b in container.list_blobs()] == ["a", "b"]


def test_delete_snapshot_rules(container):
    blob = container.get_blob_client("rules")
    blob.upload_blob(b"x")
    s1 = blob.create_snapshot()["snapshot"]
    s2 = blob.create_snapshot()["snapshot"]
    _fails(409, "SnapshotsPresent", blob.delete_blob)
    # One snapshot by id.
    container.get_blob_client("rules", snapshot=s1).delete_blob()
    with pytest.raises(ResourceNotFoundError):
        container.get_blob_client("rules", snapshot=s1).download_blob()
    # Only the snapshots.
    blob.delete_blob(delete_snapshots="only")
    assert [(b.name, b.snapshot) for b in container.list_blobs(include=["snapshots"])] == [("rules", None)]
    with pytest.raises(ResourceNotFoundError):
        container.get_blob_client("rules", snapshot=s2).download_blob()
    # The blob and its snapshots.
    blob.create_snapshot()
    blob.delete_blob(delete_snapshots="include")
    assert list(container.list_blobs(include=["snapshots"])) == []


def test_snapshot_needs_no_lease_but_checks_a_given_one(container):
    blob = container.get_blob_client("leased-snap")
    blob.upload_blob(b"x")
    lease = blob.acquire_lease(lease_duration=-1)
    assert blob.create_snapshot()["snapshot"]
    assert blob.create_snapshot(lease=lease)["snapshot"]
    _fails(412, "LeaseIdMismatchWithBlobOperation", blob.create_snapshot,
           lease="00000000-0000-0000-0000-000000000000")
    # Deleting the leased blob with its snapshots needs the lease.
    _fails(412, "LeaseIdMissing", blob.delete_blob, delete_snapshots="include")
    blob.delete_blob(delete_snapshots="include", lease=lease)


def test_snapshots_survive_restart(start_server):
    srv = start_server()
    cc = srv.service_client().create_container("snaps")
    blob = cc.get_blob_client("b")
    blob.upload_blob(b"before" * 20000)
    snap = blob.create_snapshot()["snapshot"]
    blob.upload_blob(b"after", overwrite=True)
    srv.stop()
    srv.start()
    cc = srv.service_client().get_container_client("snaps")
    assert cc.get_blob_client("b", snapshot=snap).download_blob().readall() == b"before" * 20000
    assert cc.get_blob_client("b").download_blob().readall() == b"after"


@pytest.fixture
def versioned(start_server):
    srv = start_server(env={"LAZULI_VERSIONING": "devstoreaccount1"})
    cc = srv.service_client().create_container("versioned")
    return srv, cc


def test_versions(versioned):
    srv, cc = versioned
    blob = cc.get_blob_client("v")
    v1 = blob.upload_blob(b"one")["version_id"]
    v2 = blob.upload_blob(b"two", overwrite=True)["version_id"]
    assert ISO7.match(v1) and ISO7.match(v2) and v1 < v2
    props = blob.get_blob_properties()
    assert (props.version_id, props.is_current_version) == (v2, True)
    old = cc.get_blob_client("v", version_id=v1)
    assert old.download_blob().readall() == b"one"
    assert old.get_blob_properties().is_current_version is False
    v3 = blob.set_blob_metadata({"m": "1"})["version_id"]
    assert v3 > v2
    listed = [(b.name, b.version_id, b.is_current_version) for b in cc.list_blobs(include=["versions"])]
    assert listed == [("v", v1, False), ("v", v2, False), ("v", v3, True)]
    assert [b.name for b in cc.list_blobs()] == ["v"]
    # A previous version can be deleted by id.
    old.delete_blob()
    with pytest.raises(ResourceNotFoundError):
        old.download_blob()
    # Deleting the blob keeps its versions.
    blob.delete_blob()
    assert not blob.exists()
    assert cc.get_blob_client("v", version_id=v3).download_blob().readall() == b"two"
    assert [b.version_id for b in cc.list_blobs(include=["versions"])] == [v2, v3]
    srv.stop()
    srv.start()
    cc = srv.service_client().get_container_client("versioned")
    assert cc.get_blob_client("v", version_id=v2).download_blob().readall() == b"two"


def test_snapshots_are_read_only(container):
    blob = container.get_blob_client("ro")
    blob.upload_blob(b"x", metadata={"m": "base"})
    snap = container.get_blob_client("ro", snapshot=blob.create_snapshot()["snapshot"])
    with pytest.raises(HttpResponseError) as e:
        snap.set_blob_metadata({"m": "changed"})
    assert e.value.status_code == 400
    with pytest.raises(HttpResponseError) as e:
        snap.upload_blob(b"y", overwrite=True)
    assert e.value.status_code == 400
    assert blob.get_blob_properties().metadata == {"m": "base"}
    assert blob.download_blob().readall() == b"x"
