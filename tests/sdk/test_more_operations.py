"""Operations beyond the core (leases, snapshots, append and page blobs, tags, tiers, copy, batch).

Each test either sees the operation work, checked for real, or sees it refused the way an
unimplemented operation must be: HTTP 501 with an x-ms-error-code (and then it is skipped, so
the skip list in the summary is the list of operations still to do). Anything else fails: a
crash, a 500, a malformed error, or an operation that answers success but does nothing.
"""

import time

import pytest
from azure.core.exceptions import HttpResponseError, ResourceModifiedError

KIB = 1024


def attempt(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except HttpResponseError as e:
        if e.status_code == 501:
            assert e.error_code, "a 501 must carry x-ms-error-code"
            pytest.skip(f"not implemented ({e.error_code})")
        raise


def test_blob_lease(container):
    blob = container.get_blob_client("leased")
    blob.upload_blob(b"v1")
    lease = attempt(blob.acquire_lease, lease_duration=15)
    assert lease.id
    # Writes without the lease id fail while the lease is held.
    with pytest.raises(HttpResponseError) as e:
        blob.upload_blob(b"v2", overwrite=True)
    assert e.value.status_code == 412
    assert e.value.error_code == "LeaseIdMissing"
    blob.upload_blob(b"v2", overwrite=True, lease=lease)
    assert blob.get_blob_properties().lease.state == "leased"
    with pytest.raises(HttpResponseError) as e:
        blob.acquire_lease(lease_duration=15)
    assert e.value.status_code == 409
    assert e.value.error_code == "LeaseAlreadyPresent"
    lease.release()
    assert blob.get_blob_properties().lease.state == "available"
    blob.upload_blob(b"v3", overwrite=True)
    assert blob.download_blob().readall() == b"v3"


def test_container_lease(container):
    lease = attempt(container.acquire_lease, lease_duration=-1)
    with pytest.raises(HttpResponseError) as e:
        container.delete_container()
    assert e.value.status_code == 412
    assert e.value.error_code == "LeaseIdMissing"
    lease.break_lease(lease_break_period=0)
    assert container.get_container_properties().lease.state in ("broken", "available")


def test_snapshot(container):
    blob = container.get_blob_client("snap")
    blob.upload_blob(b"original")
    snap = attempt(blob.create_snapshot)
    assert snap.get("snapshot")
    blob.upload_blob(b"changed", overwrite=True)
    snap_client = container.get_blob_client("snap", snapshot=snap["snapshot"])
    assert snap_client.download_blob().readall() == b"original"
    assert blob.download_blob().readall() == b"changed"
    names = [(b.name, b.snapshot) for b in container.list_blobs(include=["snapshots"])]
    assert ("snap", snap["snapshot"]) in names
    assert ("snap", None) in names


def test_append_blob(container):
    blob = container.get_blob_client("append.log")
    attempt(blob.create_append_blob)
    blob.append_block(b"line 1\n")
    blob.append_block(b"line 2\n")
    props = blob.get_blob_properties()
    assert props.blob_type == "AppendBlob"
    assert props.size == 14
    assert blob.download_blob().readall() == b"line 1\nline 2\n"
    # Append position condition.
    with pytest.raises(HttpResponseError) as e:
        blob.append_block(b"x", appendpos_condition=3)
    assert e.value.status_code == 412
    # Block operations do not apply to append blobs.
    with pytest.raises(HttpResponseError) as e:
        blob.stage_block("b1", b"x")
    assert e.value.status_code in (400, 409)


def test_page_blob(container):
    blob = container.get_blob_client("disk.vhd")
    attempt(blob.create_page_blob, size=4 * KIB)
    blob.upload_page(b"\x01" * 512, offset=512, length=512)
    data = blob.download_blob().readall()
    assert len(data) == 4 * KIB
    assert data[:512] == b"\0" * 512
    assert data[512:1024] == b"\x01" * 512
    ranges = [(r.start, r.end) for r in blob.list_page_ranges() if not r.cleared]
    assert ranges == [(512, 1023)]
    assert blob.get_blob_properties().blob_type == "PageBlob"


def test_blob_tags(container):
    blob = container.get_blob_client("tagged")
    blob.upload_blob(b"x")
    attempt(blob.set_blob_tags, {"project": "lazuli", "tier": "gold"})
    assert blob.get_blob_tags() == {"project": "lazuli", "tier": "gold"}
    assert blob.get_blob_properties().tag_count == 2


def test_set_tier(container):
    blob = container.get_blob_client("tiered")
    blob.upload_blob(b"x")
    attempt(blob.set_standard_blob_tier, "Cool")
    assert blob.get_blob_properties().blob_tier == "Cool"
    blob.set_standard_blob_tier("Hot")
    assert blob.get_blob_properties().blob_tier == "Hot"


def test_copy_within_account(server, container):
    src = container.get_blob_client("copy-src")
    data = b"copy me" * 1000
    src.upload_blob(data, metadata={"m": "1"})
    dst = container.get_blob_client("copy-dst")
    # The source is read with a SAS, as a client copying between accounts would do.
    source_url = server.blob_sas_url(container.container_name, "copy-src", permission="r")
    copy = attempt(dst.start_copy_from_url, source_url)
    deadline = time.monotonic() + 30
    status = copy.get("copy_status")
    while status == "pending" and time.monotonic() < deadline:
        time.sleep(0.2)
        status = dst.get_blob_properties().copy.status
    assert status == "success", status
    assert dst.download_blob().readall() == data
    assert dst.get_blob_properties().metadata == {"m": "1"}


def test_batch_delete(container):
    for n in ("b1", "b2", "b3"):
        container.upload_blob(n, b"x")
    attempt(container.delete_blobs, "b1", "b2")
    assert [b.name for b in container.list_blobs()] == ["b3"]


def test_lease_conditions_on_read(container):
    """A lease does not block reads; a wrong lease id on read is refused."""
    blob = container.get_blob_client("lease-read")
    blob.upload_blob(b"x")
    lease = attempt(blob.acquire_lease, lease_duration=15)
    assert blob.download_blob().readall() == b"x"
    with pytest.raises((HttpResponseError, ResourceModifiedError)) as e:
        blob.download_blob(lease="00000000-0000-0000-0000-000000000000").readall()
    assert e.value.status_code == 412
    lease.release()
