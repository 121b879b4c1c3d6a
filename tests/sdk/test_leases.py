"""Blob and container leases: the state machine, its error codes, and the lease checks on writes."""

import time
import uuid

import pytest
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import BlobLeaseClient

import sdkutil


def _fails(status, code, fn, *args, **kwargs):
    with pytest.raises(HttpResponseError) as e:
        fn(*args, **kwargs)
    assert (e.value.status_code, e.value.error_code) == (status, code)


def test_blob_lease_state_machine(container):
    blob = container.get_blob_client("leased")
    blob.upload_blob(b"v1")
    mine, other = str(uuid.uuid4()), str(uuid.uuid4())
    lease = blob.acquire_lease(lease_duration=-1, lease_id=mine)
    assert lease.id == mine
    props = blob.get_blob_properties()
    assert (props.lease.state, props.lease.status, props.lease.duration) == ("leased", "locked", "infinite")
    # Acquiring again with the same id is allowed, with another id not.
    blob.acquire_lease(lease_duration=-1, lease_id=mine)
    _fails(409, "LeaseAlreadyPresent", blob.acquire_lease, lease_duration=15, lease_id=other)
    _fails(409, "LeaseIdMismatchWithLeaseOperation", BlobLeaseClient(blob, other).renew)
    _fails(409, "LeaseIdMismatchWithLeaseOperation", BlobLeaseClient(blob, other).release)
    lease.renew()
    lease.change(other)
    assert lease.id == other
    assert blob.get_blob_properties().lease.state == "leased"
    _fails(412, "LeaseIdMismatchWithBlobOperation", blob.upload_blob, b"x", overwrite=True, lease=mine)
    lease.release()
    assert blob.get_blob_properties().lease.state == "available"
    # The SDK forgets the id on release (the reply carries none): name it again.
    _fails(409, "LeaseNotPresentWithLeaseOperation", BlobLeaseClient(blob, other).release)
    _fails(409, "LeaseNotPresentWithLeaseOperation", BlobLeaseClient(blob, other).break_lease)
    _fails(412, "LeaseNotPresentWithBlobOperation", blob.upload_blob, b"x", overwrite=True, lease=mine)


def test_writes_and_deletes_need_the_lease(container):
    blob = container.get_blob_client("guarded")
    blob.upload_blob(b"v1")
    lease = blob.acquire_lease(lease_duration=15)
    wrong = str(uuid.uuid4())
    _fails(412, "LeaseIdMissing", blob.set_blob_metadata, {"a": "1"})
    _fails(412, "LeaseIdMismatchWithBlobOperation", blob.set_blob_metadata, {"a": "1"}, lease=wrong)
    _fails(412, "LeaseIdMissing", blob.set_http_headers)
    _fails(412, "LeaseIdMissing", blob.delete_blob)
    _fails(412, "LeaseIdMissing", blob.commit_block_list, [])
    # Put Block needs no lease id; a wrong one is refused.
    blob.stage_block("b1", b"block")
    _fails(412, "LeaseIdMismatchWithBlobOperation", blob.stage_block, "b2", b"block", lease=wrong)
    blob.set_blob_metadata({"a": "1"}, lease=lease)
    assert blob.get_blob_properties().metadata == {"a": "1"}
    blob.delete_blob(lease=lease)
    assert not blob.exists()


def test_break_period_then_broken(container):
    blob = container.get_blob_client("breaking")
    blob.upload_blob(b"v1")
    lease = blob.acquire_lease(lease_duration=-1)
    assert lease.break_lease(lease_break_period=2) in (1, 2)
    props = blob.get_blob_properties()
    assert (props.lease.state, props.lease.status) == ("breaking", "locked")
    # While breaking, writes still need the lease id; it cannot be renewed or re-acquired.
    _fails(412, "LeaseIdMissing", blob.upload_blob, b"v2", overwrite=True)
    _fails(409, "LeaseIsBrokenAndCannotBeRenewed", lease.renew)
    _fails(409, "LeaseIsBreakingAndCannotBeAcquired", blob.acquire_lease, lease_duration=15, lease_id=lease.id)
    _fails(409, "LeaseIsBreakingAndCannotBeChanged", lease.change, str(uuid.uuid4()))
    time.sleep(2.2)
    props = blob.get_blob_properties()
    assert (props.lease.state, props.lease.status) == ("broken", "unlocked")
    _fails(409, "LeaseIsBrokenAndCannotBeRenewed", lease.renew)
    blob.upload_blob(b"v2", overwrite=True)
    # A broken lease can be acquired anew.
    again = blob.acquire_lease(lease_duration=15)
    assert blob.get_blob_properties().lease.state == "leased"
    again.release()


def test_fixed_lease_expires(container):
    blob = container.get_blob_client("expiring")
    blob.upload_blob(b"v1")
    lease = blob.acquire_lease(lease_duration=15)
    assert blob.get_blob_properties().lease.duration == "fixed"
    with pytest.raises(HttpResponseError) as e:
        blob.acquire_lease(lease_duration=10)
    assert e.value.status_code == 400
    with pytest.raises(HttpResponseError) as e:
        lease.break_lease(lease_break_period=61)
    assert e.value.status_code == 400
    # The service counts a fixed lease's break from its remaining time.
    assert 0 < lease.break_lease() <= 15


def test_lease_state_in_listing(container):
    container.upload_blob("a", b"x")
    container.upload_blob("b", b"x")
    container.get_blob_client("a").acquire_lease(lease_duration=-1)
    listed = {b.name: b.lease for b in container.list_blobs()}
    assert (listed["a"].state, listed["a"].status, listed["a"].duration) == ("leased", "locked", "infinite")
    assert (listed["b"].state, listed["b"].status) == ("available", "unlocked")


def test_container_lease(service, container):
    lease = container.acquire_lease(lease_duration=-1)
    props = container.get_container_properties()
    assert (props.lease.state, props.lease.status, props.lease.duration) == ("leased", "locked", "infinite")
    listed = [c for c in service.list_containers(name_starts_with=container.container_name)]
    assert listed[0].lease.state == "leased"
    _fails(412, "LeaseIdMissing", container.delete_container)
    _fails(412, "LeaseIdMismatchWithContainerOperation", container.delete_container, lease=str(uuid.uuid4()))
    _fails(412, "LeaseIdMismatchWithContainerOperation", container.set_container_metadata, {"a": "1"},
           lease=str(uuid.uuid4()))
    # Metadata needs no lease id on a leased container.
    container.set_container_metadata({"a": "1"})
    # Blob writes in a leased container are not affected.
    container.upload_blob("inside", b"x")
    assert lease.break_lease(lease_break_period=0) == 0
    assert container.get_container_properties().lease.state == "broken"
    container.delete_container()


def test_container_lease_release_then_delete(service):
    name = sdkutil.unique_name("lease-release")
    cc = service.create_container(name)
    lease = cc.acquire_lease(lease_duration=15)
    lease.renew()
    lease.release()
    assert cc.get_container_properties().lease.state == "available"
    cc.delete_container()


def test_lease_survives_restart(start_server):
    srv = start_server()
    cc = srv.service_client().create_container("leases")
    blob = cc.get_blob_client("b")
    blob.upload_blob(b"x")
    lease = blob.acquire_lease(lease_duration=-1)
    srv.stop()
    srv.start()
    blob = srv.service_client().get_container_client("leases").get_blob_client("b")
    assert blob.get_blob_properties().lease.state == "leased"
    _fails(412, "LeaseIdMissing", blob.delete_blob)
    blob.delete_blob(lease=lease.id)
