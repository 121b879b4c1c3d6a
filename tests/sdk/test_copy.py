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
    # A name with capitals keeps them through the other server's response headers.
    oc.upload_blob("r", data, metadata={"from": "other", "CamelCase": "1"})
    url = other.blob_sas_url("remote", "r", permission="r")
    dst = container.get_blob_client("async-remote")
    copy = dst.start_copy_from_url(url)
    assert copy["copy_status"] in ("pending", "success")
    props = wait_copy(dst)
    assert props.copy.status == "success", props.copy.status_description
    assert dst.download_blob().readall() == data
    assert props.metadata == {"from": "other", "CamelCase": "1"}
    # Synchronous, Put Blob From URL and Put Block From URL from the other server.
    sync = container.get_blob_client("sync-remote")
    assert sync.start_copy_from_url(url, requires_sync=True)["copy_status"] == "success"
    assert sync.download_blob().readall() == data
    assert sync.get_blob_properties().metadata == {"from": "other", "CamelCase": "1"}
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


def test_append_block_from_url(container):
    import hashlib
    src = container.get_blob_client("src")
    data = bytes(range(256)) * 4096  # 1 MiB: lives in the blob-data stream
    src.upload_blob(data)
    dst = container.get_blob_client("append")
    dst.create_append_blob()
    # The whole source (its segments are shared), then a range of it (copied).
    r = dst.append_block_from_url(src.url)
    assert r["blob_append_offset"] == "0"
    assert r["blob_committed_block_count"] == 1
    r = dst.append_block_from_url(src.url, source_offset=10, source_length=100)
    assert r["blob_append_offset"] == str(len(data))
    # An open-ended range, with the source's MD5 checked.
    tail = data[-300:]
    dst.append_block_from_url(
        src.url, source_offset=len(data) - 300, source_content_md5=hashlib.md5(tail).digest()
    )
    expected = data + data[10:110] + tail
    assert dst.download_blob().readall() == expected
    props = dst.get_blob_properties()
    assert props.blob_type == "AppendBlob"
    assert props.size == len(expected)
    # The appended blocks are independent of the source.
    src.delete_blob()
    assert dst.download_blob().readall() == expected


def test_append_block_from_url_failures(server, container):
    import hashlib
    src = container.get_blob_client("src")
    src.upload_blob(b"0123456789")
    dst = container.get_blob_client("append")
    dst.create_append_blob()
    # A failed source condition.
    with pytest.raises((HttpResponseError, ResourceModifiedError)) as e:
        dst.append_block_from_url(src.url, source_etag="\"0x1\"", source_match_condition=MatchConditions.IfNotModified)
    assert e.value.status_code == 412
    # A range past the end of the source.
    with pytest.raises(HttpResponseError) as e:
        dst.append_block_from_url(src.url, source_offset=100, source_length=5)
    assert e.value.status_code == 416
    # The source's bytes do not have the MD5 the request names.
    with pytest.raises(HttpResponseError) as e:
        dst.append_block_from_url(src.url, source_content_md5=hashlib.md5(b"other").digest())
    assert e.value.status_code == 400
    assert e.value.error_code == "Md5Mismatch"
    # The same with the source's CRC-64 (a raw request: the SDK does not send it).
    url = server.blob_url(container.container_name, "append") + "?comp=appendblock"
    auth = sdkutil.SharedKeyAuth(server.account, server.key)
    for crc, expected in ((sdkutil.crc64_header(b"other"), 400), (sdkutil.crc64_header(b"0123456789"), 201)):
        headers = {"x-ms-copy-source": src.url, "x-ms-source-content-crc64": crc}
        resp = sdkutil.raw("PUT", url, headers=headers, auth=auth)
        assert resp.status_code == expected, resp.text
        if expected == 400:
            sdkutil.assert_error(resp, 400, "Crc64Mismatch")
        else:
            assert resp.headers["x-ms-content-crc64"] == crc
    assert dst.download_blob().readall() == b"0123456789"
    # An append condition of the destination, as for Append Block.
    with pytest.raises(HttpResponseError) as e:
        dst.append_block_from_url(src.url, appendpos_condition=3)
    assert e.value.status_code == 412
    assert e.value.error_code == "AppendPositionConditionNotMet"
    # A missing source, an unreachable one, and a destination of another type.
    with pytest.raises(HttpResponseError) as e:
        dst.append_block_from_url(container.get_blob_client("nope").url)
    assert e.value.error_code == "CannotVerifyCopySource"
    with pytest.raises(HttpResponseError) as e:
        dst.append_block_from_url(f"http://127.0.0.1:{sdkutil.free_port()}/devstoreaccount1/c/b")
    assert e.value.error_code == "CannotVerifyCopySource"
    block = container.get_blob_client("block")
    block.upload_blob(b"x")
    with pytest.raises(HttpResponseError) as e:
        block.append_block_from_url(src.url)
    assert e.value.error_code == "InvalidBlobType"
    assert dst.get_blob_properties().size == 10


def test_upload_pages_from_url(container):
    src = container.get_blob_client("src")
    data = bytes(range(256)) * 16  # 4096 bytes
    src.upload_blob(data)
    dst = container.get_blob_client("pages")
    dst.create_page_blob(8192)
    r = dst.upload_pages_from_url(src.url, offset=1024, length=2048, source_offset=512)
    assert r["etag"]
    dst.upload_pages_from_url(src.url, offset=4096, length=512, source_offset=0)
    content = dst.download_blob().readall()
    assert content == b"\0" * 1024 + data[512:2560] + b"\0" * 1024 + data[:512] + b"\0" * 3584
    ranges, _ = dst.get_page_ranges()
    assert [(r["start"], r["end"]) for r in ranges] == [(1024, 3071), (4096, 4607)]
    # A page blob source: its written pages and its zeros.
    other = container.get_blob_client("pages2")
    other.create_page_blob(4096)
    other.upload_pages_from_url(dst.url, offset=0, length=4096, source_offset=2048)
    assert other.download_blob().readall() == content[2048:6144]


def test_upload_pages_from_url_failures(server, container):
    src = container.get_blob_client("src")
    src.upload_blob(b"p" * 1024)
    dst = container.get_blob_client("pages")
    dst.create_page_blob(2048)
    # Misaligned, and source and destination ranges of different lengths (raw requests:
    # the SDK refuses to send either).
    url = server.blob_url(container.container_name, "pages") + "?comp=page"
    auth = sdkutil.SharedKeyAuth(server.account, server.key)
    for rng, source_rng in (("bytes=100-611", "bytes=0-511"), ("bytes=0-511", "bytes=0-1023")):
        headers = {
            "x-ms-page-write": "update",
            "x-ms-range": rng,
            "x-ms-source-range": source_rng,
            "x-ms-copy-source": src.url,
        }
        resp = sdkutil.raw("PUT", url, headers=headers, auth=auth)
        sdkutil.assert_error(resp, 400, "InvalidHeaderValue")
    # Past the end of the destination, past the end of the source.
    with pytest.raises(HttpResponseError) as e:
        dst.upload_pages_from_url(src.url, offset=2048, length=512, source_offset=0)
    assert e.value.status_code == 416
    assert e.value.error_code == "InvalidPageRange"
    with pytest.raises(HttpResponseError) as e:
        dst.upload_pages_from_url(src.url, offset=0, length=1024, source_offset=512)
    assert e.value.status_code == 416
    # A failed source condition; a sequence number condition of the destination.
    with pytest.raises((HttpResponseError, ResourceModifiedError)) as e:
        dst.upload_pages_from_url(
            src.url, offset=0, length=512, source_offset=0,
            source_etag="\"0x1\"", source_match_condition=MatchConditions.IfNotModified,
        )
    assert e.value.status_code == 412
    with pytest.raises(HttpResponseError) as e:
        dst.upload_pages_from_url(src.url, offset=0, length=512, source_offset=0, if_sequence_number_lt=0)
    assert e.value.error_code == "SequenceNumberConditionNotMet"
    with pytest.raises(HttpResponseError) as e:
        dst.upload_pages_from_url(
            f"http://127.0.0.1:{sdkutil.free_port()}/devstoreaccount1/c/b", offset=0, length=512, source_offset=0
        )
    assert e.value.error_code == "CannotVerifyCopySource"
    assert dst.get_page_ranges()[0] == []


def test_append_and_pages_from_another_server(start_server, container):
    other = start_server()
    oc = other.service_client().get_container_client("remote")
    oc.create_container()
    data = bytes(range(256)) * 8
    oc.upload_blob("r", data)
    url = other.blob_sas_url("remote", "r", permission="r")
    dst = container.get_blob_client("append")
    dst.create_append_blob()
    dst.append_block_from_url(url)
    dst.append_block_from_url(url, source_offset=5, source_length=7)
    assert dst.download_blob().readall() == data + data[5:12]
    pages = container.get_blob_client("pages")
    pages.create_page_blob(1024)
    pages.upload_pages_from_url(url, offset=512, length=512, source_offset=1024)
    assert pages.download_blob().readall() == b"\0" * 512 + data[1024:1536]
    # The source's conditions are sent to it; its refusal fails the request.
    with pytest.raises((HttpResponseError, ResourceModifiedError)) as e:
        dst.append_block_from_url(url, source_etag="\"0x1\"", source_match_condition=MatchConditions.IfNotModified)
    assert e.value.status_code == 412
    with pytest.raises(HttpResponseError) as e:
        pages.upload_pages_from_url(url, offset=0, length=512, source_offset=4096)
    assert e.value.status_code == 416


def test_incremental_copy(server, container):
    src = container.get_blob_client("disk")
    src.create_page_blob(4096)
    src.upload_page(b"a" * 1024, offset=0, length=1024)
    snap1 = src.create_snapshot()["snapshot"]
    sas = server.blob_sas(container.container_name, "disk", permission="r")
    url1 = f"{src.url}?snapshot={snap1}&{sas}"
    dst = container.get_blob_client("backup")
    copy = dst.start_copy_from_url(url1, incremental_copy=True)
    assert copy["copy_status"] == "success"
    props = dst.get_blob_properties()
    assert props.blob_type == "PageBlob"
    assert props.size == 4096
    assert props.copy.incremental_copy is True
    dest_snap1 = props.copy.destination_snapshot
    assert dest_snap1
    first = container.get_blob_client("backup", snapshot=dest_snap1)
    assert first.download_blob().readall() == b"a" * 1024 + b"\0" * 3072
    # The source changes; a later snapshot of it updates the copy and takes a new snapshot.
    src.upload_page(b"b" * 512, offset=2048, length=512)
    snap2 = src.create_snapshot()["snapshot"]
    dst.start_copy_from_url(f"{src.url}?snapshot={snap2}&{sas}", incremental_copy=True)
    props = dst.get_blob_properties()
    dest_snap2 = props.copy.destination_snapshot
    assert dest_snap2 and dest_snap2 != dest_snap1
    second = container.get_blob_client("backup", snapshot=dest_snap2)
    assert second.download_blob().readall() == b"a" * 1024 + b"\0" * 1024 + b"b" * 512 + b"\0" * 1536
    assert first.download_blob().readall() == b"a" * 1024 + b"\0" * 3072
    listed = {(b.name, b.snapshot): b for b in container.list_blobs(include=["copy", "snapshots"])}
    assert listed[("backup", None)].copy.incremental_copy is True
    assert listed[("backup", None)].copy.destination_snapshot == dest_snap2
    # The copy outlives the source.
    src.delete_blob(delete_snapshots="include")
    assert second.download_blob().readall()[2048:2560] == b"b" * 512


def test_incremental_copy_failures(server, container):
    src = container.get_blob_client("disk")
    src.create_page_blob(1024)
    snap1 = src.create_snapshot()["snapshot"]
    snap2 = src.create_snapshot()["snapshot"]
    sas = server.blob_sas(container.container_name, "disk", permission="r")
    dst = container.get_blob_client("backup")
    # The source must be a snapshot.
    with pytest.raises(HttpResponseError) as e:
        dst.start_copy_from_url(f"{src.url}?{sas}", incremental_copy=True)
    assert e.value.error_code == "IncrementalCopySourceMustBeSnapshot"
    dst.start_copy_from_url(f"{src.url}?snapshot={snap2}&{sas}", incremental_copy=True)
    # Not an earlier snapshot than the last one copied, nor the same one.
    for snap in (snap1, snap2):
        with pytest.raises(HttpResponseError) as e:
            dst.start_copy_from_url(f"{src.url}?snapshot={snap}&{sas}", incremental_copy=True)
        assert e.value.status_code == 409
        assert e.value.error_code == "IncrementalCopyOfEralierVersionSnapshotNotAllowed"
    # Not from another source blob.
    other = container.get_blob_client("disk2")
    other.create_page_blob(1024)
    osnap = other.create_snapshot()["snapshot"]
    osas = server.blob_sas(container.container_name, "disk2", permission="r")
    with pytest.raises(HttpResponseError) as e:
        dst.start_copy_from_url(f"{other.url}?snapshot={osnap}&{osas}", incremental_copy=True)
    assert e.value.error_code == "IncrementalCopyBlobMismatch"
    # Not over a blob that is not an incremental copy; not from a block blob.
    plain = container.get_blob_client("plain")
    plain.upload_blob(b"x")
    with pytest.raises(HttpResponseError) as e:
        plain.start_copy_from_url(f"{src.url}?snapshot={snap2}&{sas}", incremental_copy=True)
    assert e.value.status_code == 409
    bsnap = plain.create_snapshot()["snapshot"]
    bsas = server.blob_sas(container.container_name, "plain", permission="r")
    with pytest.raises(HttpResponseError) as e:
        container.get_blob_client("new").start_copy_from_url(
            f"{plain.url}?snapshot={bsnap}&{bsas}", incremental_copy=True
        )
    assert e.value.status_code == 409
    assert e.value.error_code == "InvalidSourceBlobType"
    # A missing snapshot; an unauthorized one.
    with pytest.raises(HttpResponseError) as e:
        container.get_blob_client("new").start_copy_from_url(
            f"{src.url}?snapshot=2001-01-01T00:00:00.0000000Z&{sas}", incremental_copy=True
        )
    assert e.value.error_code == "CannotVerifyCopySource"
    bad = server.blob_sas(container.container_name, "disk", permission="w")
    with pytest.raises(HttpResponseError) as e:
        container.get_blob_client("new").start_copy_from_url(
            f"{src.url}?snapshot={snap2}&{bad}", incremental_copy=True
        )
    assert e.value.error_code == "CannotVerifyCopySource"


def test_copy_from_https_source(start_server, container, tmp_path):
    from azure.storage.blob import BlobServiceClient
    from test_https import _self_signed

    cert, key = _self_signed(tmp_path)
    other = start_server(env={"LAZULI_CERT": str(cert), "LAZULI_KEY": str(key)})
    base = f"https://{sdkutil.HOST}:{other.port}/{other.account}"
    osvc = BlobServiceClient(base, credential={"account_name": other.account, "account_key": other.key},
                             connection_verify=str(cert))
    oc = osvc.create_container("tls")
    data = bytes(range(256)) * 8
    oc.upload_blob("r", data, metadata={"over": "tls"})
    url = f"{base}/tls/r?{other.blob_sas('tls', 'r', permission='r')}"
    # A server that does not trust the source's certificate refuses it.
    with pytest.raises(HttpResponseError) as e:
        container.get_blob_client("untrusted").upload_blob_from_url(url)
    assert e.value.error_code == "CannotVerifyCopySource"
    # One that trusts it (LAZULI_COPY_SOURCE_CA_FILE) copies over TLS in every form.
    me = start_server(env={"LAZULI_COPY_SOURCE_CA_FILE": str(cert)})
    dc = me.service_client().create_container("dst")
    put = dc.get_blob_client("put")
    put.upload_blob_from_url(url)
    assert put.download_blob().readall() == data
    sync = dc.get_blob_client("sync")
    assert sync.start_copy_from_url(url, requires_sync=True)["copy_status"] == "success"
    assert sync.download_blob().readall() == data
    background = dc.get_blob_client("async")
    background.start_copy_from_url(url)
    props = wait_copy(background)
    assert props.copy.status == "success", props.copy.status_description
    assert props.metadata == {"over": "tls"}
    assert background.download_blob().readall() == data
    block = dc.get_blob_client("block")
    block.stage_block_from_url("QUE=", url, source_offset=0, source_length=100)
    block.commit_block_list([BlobBlock("QUE=")])
    assert block.download_blob().readall() == data[:100]
    append = dc.get_blob_client("append")
    append.create_append_blob()
    append.append_block_from_url(url, source_offset=1, source_length=10)
    assert append.download_blob().readall() == data[1:11]
    pages = dc.get_blob_client("pages")
    pages.create_page_blob(1024)
    pages.upload_pages_from_url(url, offset=512, length=512, source_offset=512)
    assert pages.download_blob().readall() == b"\0" * 512 + data[512:1024]
