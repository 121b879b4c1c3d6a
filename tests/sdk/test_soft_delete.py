"""Blob soft delete: the DeleteRetentionPolicy, include=deleted, Undelete Blob.

Each test runs its own server: the retention policy is an account-wide setting."""

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.storage.blob import RetentionPolicy


@pytest.fixture
def soft(start_server):
    srv = start_server()
    service = srv.service_client()
    service.set_service_properties(delete_retention_policy=RetentionPolicy(enabled=True, days=3))
    return srv, service, service.create_container("soft")


def test_deleted_blob_listed_and_restored(soft):
    _, _, cc = soft
    blob = cc.get_blob_client("doc")
    blob.upload_blob(b"keep me", metadata={"m": "1"})
    blob.delete_blob()
    assert not blob.exists()
    assert list(cc.list_blobs()) == []
    deleted = list(cc.list_blobs(include=["deleted"]))
    assert [(b.name, b.deleted) for b in deleted] == [("doc", True)]
    assert deleted[0].deleted_time is not None
    assert deleted[0].remaining_retention_days == 3
    blob.undelete_blob()
    assert blob.download_blob().readall() == b"keep me"
    assert blob.get_blob_properties().metadata == {"m": "1"}
    assert [bool(b.deleted) for b in cc.list_blobs(include=["deleted"])] == [False]


def test_deleted_snapshots_restored_with_the_blob(soft):
    _, _, cc = soft
    blob = cc.get_blob_client("snapped")
    blob.upload_blob(b"v1")
    snap = blob.create_snapshot()["snapshot"]
    with pytest.raises(HttpResponseError) as e:
        blob.delete_blob()
    assert e.value.error_code == "SnapshotsPresent"
    blob.delete_blob(delete_snapshots="include")
    assert list(cc.list_blobs(include=["snapshots"])) == []
    listed = [(b.name, b.snapshot, b.deleted) for b in cc.list_blobs(include=["snapshots", "deleted"])]
    assert listed == [("snapped", snap, True), ("snapped", None, True)]
    with pytest.raises(ResourceNotFoundError):
        cc.get_blob_client("snapped", snapshot=snap).download_blob()
    blob.undelete_blob()
    assert cc.get_blob_client("snapped", snapshot=snap).download_blob().readall() == b"v1"
    assert blob.download_blob().readall() == b"v1"


def test_deleted_snapshot_alone_restored(soft):
    _, _, cc = soft
    blob = cc.get_blob_client("one-snap")
    blob.upload_blob(b"v1")
    snap = blob.create_snapshot()["snapshot"]
    cc.get_blob_client("one-snap", snapshot=snap).delete_blob()
    assert [b.snapshot for b in cc.list_blobs(include=["snapshots"])] == [None]
    blob.undelete_blob()
    assert [b.snapshot for b in cc.list_blobs(include=["snapshots"])] == [snap, None]


def test_undelete_of_unknown_blob_is_404(soft):
    _, _, cc = soft
    with pytest.raises(ResourceNotFoundError):
        cc.get_blob_client("never").undelete_blob()


def test_soft_deleted_blob_survives_restart(soft):
    srv, _, cc = soft
    cc.upload_blob("later", b"data")
    cc.delete_blob("later")
    srv.stop()
    srv.start()
    cc = srv.service_client().get_container_client("soft")
    assert [(b.name, b.deleted) for b in cc.list_blobs(include=["deleted"])] == [("later", True)]
    cc.get_blob_client("later").undelete_blob()
    assert cc.get_blob_client("later").download_blob().readall() == b"data"


def test_without_policy_delete_is_permanent(container):
    blob = container.get_blob_client("gone")
    blob.upload_blob(b"x")
    blob.delete_blob()
    assert list(container.list_blobs(include=["deleted"])) == []
    with pytest.raises(ResourceNotFoundError):
        blob.undelete_blob()


def test_container_soft_delete_and_restore(start_server):
    srv = start_server(env={"LAZULI_CONTAINER_DELETE_RETENTION_DAYS": "2"})
    service = srv.service_client()
    cc = service.create_container("restorable")
    cc.upload_blob("inside", b"still here")
    cc.delete_container()
    assert [c.name for c in service.list_containers()] == []
    with pytest.raises(ResourceNotFoundError):
        cc.get_blob_client("inside").download_blob()
    # The name stays taken while the deleted container can be restored.
    with pytest.raises(HttpResponseError) as e:
        service.create_container("restorable")
    assert (e.value.status_code, e.value.error_code) == (409, "ContainerBeingDeleted")
    deleted = [c for c in service.list_containers(include_deleted=True)]
    assert [(c.name, c.deleted) for c in deleted] == [("restorable", True)]
    assert deleted[0].version
    with pytest.raises(ResourceNotFoundError):
        service.undelete_container("restorable", "0000000000000000")
    srv.stop()
    srv.start()
    service = srv.service_client()
    restored = service.undelete_container("restorable", deleted[0].version)
    assert restored.get_blob_client("inside").download_blob().readall() == b"still here"
    assert [c.name for c in service.list_containers(include_deleted=True)] == ["restorable"]


def test_overwrite_keeps_a_soft_deleted_snapshot(soft):
    _, _, cc = soft
    blob = cc.get_blob_client("over")
    blob.upload_blob(b"first")
    blob.upload_blob(b"second", overwrite=True)
    assert [b.snapshot for b in cc.list_blobs(include=["snapshots"])] == [None]
    listed = [(b.snapshot is not None, bool(b.deleted)) for b in cc.list_blobs(include=["snapshots", "deleted"])]
    assert listed == [(True, True), (False, False)]
    blob.undelete_blob()
    snaps = [b.snapshot for b in cc.list_blobs(include=["snapshots"]) if b.snapshot]
    assert len(snaps) == 1
    assert cc.get_blob_client("over", snapshot=snaps[0]).download_blob().readall() == b"first"
    assert blob.download_blob().readall() == b"second"
