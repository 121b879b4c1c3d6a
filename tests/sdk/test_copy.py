"""Copies: Copy Blob (same server by shared segments, another server in the background),
Copy Blob From URL, Put Blob From URL, Put Block From URL, Abort Copy, copy properties on
reads and in listings, source conditions, and unreachable or unauthorized sources."""

import time

import pytest
from azure.core.exceptions import HttpResponseError, ResourceModifiedError
from azure.core import MatchConditions
from azure.storage.blob import BlobBlock, StandardBlobTier

import sdkutil


def wait_copy(blob, deadline_s=30):
    deadline = time.monotonic() + deadline_s
    props = blob.get_blob_properties()
    while props.copy.status == "pending" and time.monotonic() < deadline:
        time.sleep(0.1)
        props = blob.get_blob_properties()
    return props


def test_copy_same_account_shared_key(container):
    src = container.get_blob_client("src")
    src.upload_blob(b"abc" * 50000, metadata={"m": "1"}, content_settings=None)
    dst = container.get_blob_client("dst")
    copy = dst.start_copy_from_url(src.url)
    assert copy["copy_status"] == "success"
    assert copy["copy_id"]
    props = dst.get_blob_properties()
    assert props.copy.status == "success"
    assert props.copy.id == copy["copy_id"]
    assert props.copy.source == src.url
    assert props.copy.progress == f"{150000}/{150000}"
    assert props.copy.completion_time is not None
    assert props.metadata == {"m": "1"}
    assert dst.download_blob().readall() == b"abc" * 50000
    # The copy is independent of its source.
    src.delete_blob()
    assert dst.download_blob().readall() == b"abc" * 50000
    listed = {b.name: b for b in container.list_blobs(include=["copy"])}
    assert listed["dst"].copy.status == "success"
    assert listed["dst"].copy.id == copy["copy_id"]


def test_copy_with_new_metadata_tags_and_tier(container):
    src = container.get_blob_client("src")
    src.upload_blob(b"x", metadata={"old": "1"})
    dst = container.get_blob_client("dst")
    dst.start_copy_from_url(src.url, metadata={"new": "2"}, tags={"k": "v"}, standard_blob_tier=StandardBlobTier.COOL)
    props = dst.get_blob_properties()
    assert props.metadata == {"new": "2"}
    assert props.tag_count == 1
    assert props.blob_tier == "Cool"


def test_copy_source_conditions_and_missing_source(container):
    src = container.get_blob_client("src")
    src.upload_blob(b"x")
    dst = container.get_blob_client("dst")
    with pytest.raises((HttpResponseError, ResourceModifiedError)) as e:
        dst.start_copy_from_url(src.url, source_etag="\"0x1\"", source_match_condition=MatchConditions.IfNotModified)
    assert e.value.status_code == 412
    with pytest.raises(HttpResponseError) as e:
        dst.start_copy_from_url(container.get_blob_client("nope").url)
    assert e.value.status_code == 404
    assert e.value.error_code == "CannotVerifyCopySource"


def test_copy_with_sas_and_sync_copy_from_url(server, container):
    src = container.get_blob_client("src")
    src.upload_blob(b"sync data")
    url = server.blob_sas_url(container.container_name, "src", permission="r")
    dst = container.get_blob_client("dst")
    copy = dst.start_copy_from_url(url, requires_sync=True)
    assert copy["copy_status"] == "success"
    assert dst.download_blob().readall() == b"sync data"
    # A SAS without read permission does not authorize the source.
    bad = server.blob_sas_url(container.container_name, "src", permission="w")
    with pytest.raises(HttpResponseError) as e:
        container.get_blob_client("dst2").start_copy_from_url(bad, requires_sync=True)
    assert e.value.status_code == 403
    assert e.value.error_code == "CannotVerifyCopySource"


def test_put_blob_and_block_from_url(container):
    src = container.get_blob_client("src")
    src.upload_blob(b"0123456789" * 1000, metadata={"m": "1"})
    dst = container.get_blob_client("from-url")
    dst.upload_blob_from_url(src.url)
    assert dst.download_blob().readall() == b"0123456789" * 1000
    assert dst.get_blob_properties().metadata == {}
    staged = container.get_blob_client("staged")
    staged.stage_block_from_url("QUE=", src.url, source_offset=10, source_length=20)
    staged.stage_block_from_url("QUI=", src.url, source_offset=0, source_length=5)
    staged.commit_block_list([BlobBlock("QUE="), BlobBlock("QUI=")])
    assert staged.download_blob().readall() == b"0123456789" * 2 + b"01234"


def test_copy_across_servers(start_server, container, server):
    other = start_server()
    osvc = other.service_client()
    oc = osvc.get_container_client("remote")
    oc.create_container()
    data = b"remote bytes" * 10000
    oc.upload_blob("r", data, metadata={"from": "other"})
    url = other.blob_sas_url("remote", "r", permission="r")
    dst = container.get_blob_client("async-remote")
    copy = dst.start_copy_from_url(url)
    assert copy["copy_status"] in ("pending", "success")
    props = wait_copy(dst)
    assert props.copy.status == "success", props.copy.status_description
    assert dst.download_blob().readall() == data
    assert props.metadata == {"from": "other"}
    # Synchronous, Put Blob From URL and Put Block From URL from the other server.
    sync = container.get_blob_client("sync-remote")
    assert sync.start_copy_from_url(url, requires_sync=True)["copy_status"] == "success"
    assert sync.download_blob().readall() == data
    put = container.get_blob_client("put-remote")
    put.upload_blob_from_url(url)
    assert put.download_blob().readall() == data
    block = container.get_blob_client("block-remote")
    block.stage_block_from_url("QUE=", url, source_offset=0, source_length=12)
    block.commit_block_list([BlobBlock("QUE=")])
    assert block.download_blob().readall() == b"remote bytes"
    # The other server's blob needs authorization: without the SAS, the source refuses.
    with pytest.raises(HttpResponseError) as e:
        container.get_blob_client("x").start_copy_from_url(oc.get_blob_client("r").url, requires_sync=True)
    assert e.value.error_code == "CannotVerifyCopySource"


def test_copy_from_unreachable_source(container):
    port = sdkutil.free_port()
    url = f"http://127.0.0.1:{port}/devstoreaccount1/c/b"
    with pytest.raises(HttpResponseError) as e:
        container.get_blob_client("sync").start_copy_from_url(url, requires_sync=True)
    assert e.value.error_code == "CannotVerifyCopySource"
    dst = container.get_blob_client("async")
    copy = dst.start_copy_from_url(url)
    assert copy["copy_status"] == "pending"
    props = wait_copy(dst)
    assert props.copy.status == "failed"
    assert props.copy.status_description


def test_abort_copy(container):
    src = container.get_blob_client("src")
    src.upload_blob(b"x")
    dst = container.get_blob_client("dst")
    copy = dst.start_copy_from_url(src.url)
    # A finished copy cannot be aborted.
    with pytest.raises(HttpResponseError) as e:
        dst.abort_copy(copy["copy_id"])
    assert e.value.status_code == 409
    assert e.value.error_code == "NoPendingCopyOperation"
