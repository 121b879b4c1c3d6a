"""Append and page blobs: the success paths the SDK helpers take, and the failure paths
(append position and max size conditions, sealed blobs, misaligned pages, sequence-number
conditions, resize)."""

import os

import pytest
from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import BlobType, ContentSettings, SequenceNumberAction

import sdkutil
from sdkutil import SharedKeyAuth

KIB = 1024
MIB = 1024 * KIB


def expect_error(status, code, fn, *args, **kwargs):
    with pytest.raises(HttpResponseError) as e:
        fn(*args, **kwargs)
    assert (e.value.status_code, e.value.error_code) == (status, code), e.value
    return e.value


# --- append blobs --------------------------------------------------------------------------

def test_append_block_reports_offset_count_and_checksum(container):
    blob = container.get_blob_client("log")
    blob.create_append_blob(metadata={"kind": "log"},
                            content_settings=ContentSettings(content_type="text/plain"))
    props = blob.get_blob_properties()
    assert (props.blob_type, props.size, props.append_blob_committed_block_count) == ("AppendBlob", 0, 0)
    assert props.is_append_blob_sealed is False
    assert blob.download_blob().readall() == b""
    r1 = blob.append_block(b"abc", validate_content=True)
    assert (r1["blob_append_offset"], r1["blob_committed_block_count"]) == ("0", 1)
    assert r1["content_md5"] == sdkutil.md5(b"abc")
    big = os.urandom(5 * MIB + 3)  # more than one segment of the blob-data stream
    r2 = blob.append_block(big)
    assert (r2["blob_append_offset"], r2["blob_committed_block_count"]) == ("3", 2)
    assert r2["content_crc64"] == sdkutil.crc64_nvme(big).to_bytes(8, "little")
    assert blob.download_blob().readall() == b"abc" + big
    assert blob.download_blob(offset=MIB, length=10).readall() == (b"abc" + big)[MIB:MIB + 10]
    props = blob.get_blob_properties()
    assert (props.size, props.append_blob_committed_block_count) == (len(big) + 3, 2)
    assert props.metadata == {"kind": "log"}
    assert props.content_settings.content_type == "text/plain"
    listed = {b.name: b for b in container.list_blobs()}
    assert listed["log"].blob_type == "AppendBlob"
    assert listed["log"].size == len(big) + 3


def test_many_small_appends_read_back_exactly_with_their_count(container):
    # Past the number of small blocks the server merges into one (32), and with a block past
    # the merge size (256 KiB) in the middle: the count stays that of the calls.
    blob = container.get_blob_client("many")
    blob.create_append_blob()
    expected = b""
    for i in range(80):
        data = os.urandom(300 * KIB) if i == 40 else b"line %03d\n" % i
        r = blob.append_block(data)
        assert (r["blob_append_offset"], r["blob_committed_block_count"]) == (str(len(expected)), i + 1)
        expected += data
    assert blob.get_blob_properties().append_blob_committed_block_count == 80
    assert blob.download_blob().readall() == expected
    assert blob.download_blob(offset=300, length=300 * KIB).readall() == expected[300:300 + 300 * KIB]
    copy = container.get_blob_client("many-copy")
    copy.start_copy_from_url(blob.url)
    props = copy.get_blob_properties()
    assert (props.blob_type, props.append_blob_committed_block_count) == ("AppendBlob", 80)
    assert copy.append_block(b"more")["blob_committed_block_count"] == 81
    assert copy.download_blob().readall() == expected + b"more"


def test_append_conditions(container):
    blob = container.get_blob_client("cond")
    blob.create_append_blob()
    blob.append_block(b"12345")
    expect_error(412, "AppendPositionConditionNotMet", blob.append_block, b"x", appendpos_condition=4)
    expect_error(412, "MaxBlobSizeConditionNotMet", blob.append_block, b"xy", maxsize_condition=6)
    blob.append_block(b"6", appendpos_condition=5, maxsize_condition=6)
    assert blob.download_blob().readall() == b"123456"
    # Ordinary conditions apply too.
    etag = blob.get_blob_properties().etag
    blob.append_block(b"7", etag=etag, match_condition=MatchConditions.IfNotModified)
    expect_error(412, "ConditionNotMet", blob.append_block, b"8", etag=etag,
                 match_condition=MatchConditions.IfNotModified)
    assert blob.download_blob().readall() == b"1234567"


def test_append_to_missing_or_block_blob(container):
    expect_error(404, "BlobNotFound", container.get_blob_client("nope").append_block, b"x")
    block = container.get_blob_client("block")
    block.upload_blob(b"data")
    expect_error(409, "InvalidBlobType", block.append_block, b"x")
    appendable = container.get_blob_client("appendable")
    appendable.create_append_blob()
    expect_error(409, "InvalidBlobType", appendable.stage_block, "YmxvY2s=", b"x")
    # Creating over an existing blob replaces it, whatever its type.
    block.create_append_blob()
    assert block.get_blob_properties().blob_type == "AppendBlob"
    assert block.download_blob().readall() == b""


def test_put_append_blob_with_body_is_refused(server, container):
    url = server.blob_url(container.container_name, "withbody")
    auth = SharedKeyAuth(server.account, server.key)
    resp = sdkutil.raw("PUT", url, headers={"x-ms-blob-type": "AppendBlob"}, data=b"body", auth=auth)
    sdkutil.assert_error(resp, 400, "InvalidHeaderValue")


def test_seal(container):
    blob = container.get_blob_client("sealed")
    blob.create_append_blob()
    blob.append_block(b"before")
    sealed = blob.seal_append_blob()
    assert sealed["blob_sealed"] is True
    expect_error(409, "BlobIsSealed", blob.append_block, b"after")
    props = blob.get_blob_properties()
    assert props.is_append_blob_sealed is True
    assert blob.download_blob().readall() == b"before"
    listed = [b for b in container.list_blobs() if b.name == "sealed"]
    assert listed[0].is_append_blob_sealed is True
    # Metadata can still change; the blob can be deleted.
    blob.set_blob_metadata({"a": "1"})
    blob.delete_blob()
    # Seal applies to append blobs only.
    block = container.get_blob_client("block")
    block.upload_blob(b"x")
    expect_error(409, "InvalidBlobType", block.seal_append_blob)


def test_upload_blob_as_append_blob(container):
    data = os.urandom(9 * MIB + 17)
    blob = container.get_blob_client("uploaded")
    blob.upload_blob(data, blob_type=BlobType.APPENDBLOB)
    assert blob.download_blob().readall() == data
    more = os.urandom(1000)
    blob.upload_blob(more, blob_type=BlobType.APPENDBLOB, overwrite=False)
    assert blob.download_blob().readall() == data + more


# --- page blobs ----------------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore:get_page_ranges is deprecated:DeprecationWarning")
def test_page_blob_sparse_reads_and_ranges(container):
    blob = container.get_blob_client("disk")
    blob.create_page_blob(size=64 * KIB, sequence_number=7, metadata={"m": "1"})
    props = blob.get_blob_properties()
    assert (props.blob_type, props.size, props.page_blob_sequence_number) == ("PageBlob", 64 * KIB, 7)
    assert blob.download_blob().readall() == b"\0" * (64 * KIB)
    a = os.urandom(4 * KIB)
    r = blob.upload_page(a, offset=8 * KIB, length=4 * KIB)
    assert r["blob_sequence_number"] == 7
    b = os.urandom(512)
    blob.upload_page(b, offset=10 * KIB, length=512)  # overwrites part of `a`
    expected = bytearray(64 * KIB)
    expected[8 * KIB:12 * KIB] = a
    expected[10 * KIB:10 * KIB + 512] = b
    assert blob.download_blob().readall() == bytes(expected)
    assert blob.download_blob(offset=9 * KIB, length=3 * KIB + 100).readall() == \
        bytes(expected[9 * KIB:12 * KIB + 100])
    blob.upload_page(os.urandom(512), offset=0, length=512)
    expected[0:512] = blob.download_blob(offset=0, length=512).readall()
    ranges = [(r.start, r.end) for r in blob.list_page_ranges() if not r.cleared]
    assert ranges == [(0, 511), (8 * KIB, 12 * KIB - 1)]
    filled, cleared = blob.get_page_ranges(offset=9 * KIB, length=2 * KIB)
    assert [(r["start"], r["end"]) for r in filled] == [(9 * KIB, 11 * KIB - 1)]
    assert cleared == []
    # A range past the end of the blob holds no pages.
    filled, _ = blob.get_page_ranges(offset=128 * KIB, length=KIB)
    assert filled == []
    # Clearing splits a range and reads back as zeros.
    blob.clear_page(offset=9 * KIB, length=KIB)
    expected[9 * KIB:10 * KIB] = bytes(KIB)
    ranges = [(r.start, r.end) for r in blob.list_page_ranges()]
    assert ranges == [(0, 511), (8 * KIB, 9 * KIB - 1), (10 * KIB, 12 * KIB - 1)]
    assert blob.download_blob().readall() == bytes(expected)
    listed = [b for b in container.list_blobs() if b.name == "disk"][0]
    assert listed.blob_type == "PageBlob"
    assert listed.page_blob_sequence_number == 7


def test_page_ranges_pagination(container):
    blob = container.get_blob_client("many")
    blob.create_page_blob(size=64 * KIB)
    for n in range(0, 20, 2):
        blob.upload_page(b"\x01" * 512, offset=n * 512, length=512)
    pages = blob.list_page_ranges(results_per_page=3).by_page()
    seen = []
    page_sizes = []
    for page in pages:
        items = [(r.start, r.end) for r in page]
        page_sizes.append(len(items))
        seen.extend(items)
    assert seen == [(n * 512, n * 512 + 511) for n in range(0, 20, 2)]
    assert page_sizes == [3, 3, 3, 1]


def test_misaligned_and_out_of_range_pages(server, container):
    blob = container.get_blob_client("aligned")
    blob.create_page_blob(size=4 * KIB)
    url = server.blob_url(container.container_name, "aligned") + "?comp=page"
    auth = SharedKeyAuth(server.account, server.key)
    for rng, body in (("bytes=0-99", b"x" * 100), ("bytes=100-611", b"x" * 512)):
        resp = sdkutil.raw("PUT", url, headers={"x-ms-page-write": "update", "x-ms-range": rng},
                           data=body, auth=auth)
        sdkutil.assert_error(resp, 400, "InvalidHeaderValue")
    # Past the end of the blob.
    expect_error(416, "InvalidPageRange", blob.upload_page, b"\x01" * 512, offset=4 * KIB, length=512)
    expect_error(416, "InvalidPageRange", blob.clear_page, offset=3 * KIB, length=2 * KIB)
    # The body must fill the range.
    resp = sdkutil.raw("PUT", url, headers={"x-ms-page-write": "update", "x-ms-range": "bytes=0-1023"},
                       data=b"x" * 512, auth=auth)
    sdkutil.assert_error(resp, 400)
    # More than 4 MiB per write.
    big = container.get_blob_client("big")
    big.create_page_blob(size=8 * MIB)
    resp = sdkutil.raw("PUT", server.blob_url(container.container_name, "big") + "?comp=page",
                       headers={"x-ms-page-write": "update", "x-ms-range": f"bytes=0-{4 * MIB + 511}"},
                       data=b"x" * (4 * MIB + 512), auth=auth)
    sdkutil.assert_error(resp, 413, "RequestBodyTooLarge")
    # Wrong type; bad sizes.
    block = container.get_blob_client("block")
    block.upload_blob(b"x")
    expect_error(409, "InvalidBlobType", block.upload_page, b"\x01" * 512, offset=0, length=512)
    expect_error(400, "InvalidHeaderValue", container.get_blob_client("odd").create_page_blob, size=1000)
    assert blob.download_blob().readall() == b"\0" * (4 * KIB)


def test_sequence_number_conditions_and_actions(container):
    blob = container.get_blob_client("seq")
    blob.create_page_blob(size=4 * KIB, sequence_number=5)
    page = b"\x02" * 512
    blob.upload_page(page, offset=0, length=512, if_sequence_number_lte=5)
    blob.upload_page(page, offset=0, length=512, if_sequence_number_lt=6)
    blob.upload_page(page, offset=0, length=512, if_sequence_number_eq=5)
    for kw in ({"if_sequence_number_lte": 4}, {"if_sequence_number_lt": 5}, {"if_sequence_number_eq": 6}):
        expect_error(412, "SequenceNumberConditionNotMet", blob.upload_page, page, offset=512, length=512, **kw)
        expect_error(412, "SequenceNumberConditionNotMet", blob.clear_page, offset=0, length=512, **kw)
    assert blob.download_blob(offset=512, length=512).readall() == b"\0" * 512
    assert blob.set_sequence_number(SequenceNumberAction.Increment)["blob_sequence_number"] == 6
    assert blob.set_sequence_number(SequenceNumberAction.Max, 3)["blob_sequence_number"] == 6
    assert blob.set_sequence_number(SequenceNumberAction.Max, 30)["blob_sequence_number"] == 30
    assert blob.set_sequence_number(SequenceNumberAction.Update, 2)["blob_sequence_number"] == 2
    assert blob.get_blob_properties().page_blob_sequence_number == 2


def test_resize(container):
    blob = container.get_blob_client("resize")
    blob.create_page_blob(size=4 * KIB, content_settings=ContentSettings(content_type="application/x-disk"))
    data = os.urandom(KIB)
    blob.upload_page(data, offset=2 * KIB, length=KIB)
    blob.resize_blob(2 * KIB + 512)
    props = blob.get_blob_properties()
    assert props.size == 2 * KIB + 512
    # Resizing alone leaves the HTTP headers alone.
    assert props.content_settings.content_type == "application/x-disk"
    assert [(r.start, r.end) for r in blob.list_page_ranges()] == [(2 * KIB, 2 * KIB + 511)]
    blob.resize_blob(8 * KIB)
    assert blob.download_blob().readall() == bytes(2 * KIB) + data[:512] + bytes(8 * KIB - 2 * KIB - 512)
    expect_error(400, "InvalidHeaderValue", blob.resize_blob, 1000)
    block = container.get_blob_client("block")
    block.upload_blob(b"x")
    with pytest.raises(HttpResponseError):
        block.resize_blob(512)


def test_upload_blob_as_page_blob(container):
    data = os.urandom(6 * MIB)
    blob = container.get_blob_client("uploaded.vhd")
    blob.upload_blob(data, blob_type=BlobType.PAGEBLOB)
    assert blob.download_blob().readall() == data
    assert blob.get_blob_properties().size == len(data)


def test_page_ranges_of_a_snapshot_and_diff(container):
    blob = container.get_blob_client("snapdisk")
    blob.create_page_blob(size=8 * KIB)
    blob.upload_page(b"\x01" * (4 * KIB), offset=0, length=4 * KIB)
    snap = blob.create_snapshot()["snapshot"]
    blob.upload_page(b"\x02" * 512, offset=512, length=512)
    blob.clear_page(offset=KIB + 512, length=512)
    blob.upload_page(b"\x03" * 512, offset=6 * KIB, length=512)
    diff = [(r.start, r.end, r.cleared) for r in blob.list_page_ranges(previous_snapshot=snap)]
    assert diff == [(512, 1023, False), (KIB + 512, 2 * KIB - 1, True), (6 * KIB, 6 * KIB + 511, False)]
    # The snapshot keeps its own pages.
    snapshot = container.get_blob_client("snapdisk", snapshot=snap)
    assert [(r.start, r.end) for r in snapshot.list_page_ranges()] == [(0, 4 * KIB - 1)]
    assert snapshot.download_blob(offset=KIB + 512, length=512).readall() == b"\x01" * 512
    # Paged diff: markers carry over both kinds.
    pages = [[(r.start, r.cleared) for r in page]
             for page in blob.list_page_ranges(previous_snapshot=snap, results_per_page=2).by_page()]
    assert pages == [[(512, False), (KIB + 512, True)], [(6 * KIB, False)]]


def test_many_page_writes_in_order_then_a_diff(container):
    # More writes in order than the server merges into one run (32), then a snapshot: the pages
    # written after it, next to merged ones, are all the diff names.
    blob = container.get_blob_client("seqdisk")
    blob.create_page_blob(size=256 * KIB)
    expected = bytearray(256 * KIB)
    for i in range(40):
        data = os.urandom(4 * KIB)
        blob.upload_page(data, offset=i * 4 * KIB, length=4 * KIB)
        expected[i * 4 * KIB:(i + 1) * 4 * KIB] = data
    snap = blob.create_snapshot()["snapshot"]
    for i in range(40, 60):
        data = os.urandom(4 * KIB)
        blob.upload_page(data, offset=i * 4 * KIB, length=4 * KIB)
        expected[i * 4 * KIB:(i + 1) * 4 * KIB] = data
    assert blob.download_blob().readall() == bytes(expected)
    assert [(r.start, r.end) for r in blob.list_page_ranges()] == [(0, 240 * KIB - 1)]
    diff = [(r.start, r.end, r.cleared) for r in blob.list_page_ranges(previous_snapshot=snap)]
    assert diff == [(160 * KIB, 240 * KIB - 1, False)]
    snapshot = container.get_blob_client("seqdisk", snapshot=snap)
    assert snapshot.download_blob().readall() == bytes(expected[:160 * KIB]) + bytes(96 * KIB)


def random_page_writes_across_chunks(container, rename=None):
    """Writes at random offsets of a 12 MiB blob, some across the server's 4 MiB page map
    chunks: the bytes, the ranges and a diff against a snapshot; then `rename(old, new)` of the
    blob, if given, and a write to it under its new name."""
    import random
    rng = random.Random(3)
    mib = 1024 * KIB
    blob = container.get_blob_client("randisk")
    blob.create_page_blob(size=12 * mib)
    expected = bytearray(12 * mib)
    written = set()

    def write(client, offset, length):
        data = os.urandom(length)
        client.upload_page(data, offset=offset, length=length)
        expected[offset:offset + length] = data
        written.update(range(offset // 512, (offset + length) // 512))

    for boundary in (4 * mib, 8 * mib):
        write(blob, boundary - 1024, 4 * KIB)
    for _ in range(60):
        write(blob, rng.randrange(0, 12 * mib // 512 - 16) * 512, rng.randrange(1, 17) * 512)

    def ranges(pages):
        out = []
        for page in sorted(pages):
            if out and out[-1][1] + 1 == page * 512:
                out[-1][1] = page * 512 + 511
            else:
                out.append([page * 512, page * 512 + 511])
        return [tuple(r) for r in out]

    assert blob.download_blob().readall() == bytes(expected)
    assert [(r.start, r.end) for r in blob.list_page_ranges()] == ranges(written)
    snap = blob.create_snapshot()["snapshot"]
    before = bytes(expected)
    since = set()
    for offset in (4 * mib - 512, 9 * mib + 4 * KIB):
        write(blob, offset, 1024)
        since.update(range(offset // 512, offset // 512 + 2))
    diff = [(r.start, r.end, r.cleared) for r in blob.list_page_ranges(previous_snapshot=snap)]
    assert diff == [(a, b, False) for a, b in ranges(since)]
    snapshot = container.get_blob_client("randisk", snapshot=snap)
    assert snapshot.download_blob().readall() == before
    window = blob.download_blob(offset=4 * mib - 2048, length=4096).readall()
    assert window == bytes(expected[4 * mib - 2048:4 * mib + 2048])
    if rename:
        blob.delete_blob(delete_snapshots="include")
        blob.create_page_blob(size=12 * mib)
        expected[:] = bytes(12 * mib)
        written.clear()
        for offset in (0, 4 * mib - 512, 11 * mib):
            write(blob, offset, 2 * KIB)
        rename("randisk", "moved/randisk")
        moved = container.get_blob_client("moved/randisk")
        assert moved.download_blob().readall() == bytes(expected)
        write(moved, 8 * mib, 512)
        assert moved.download_blob().readall() == bytes(expected)
        assert [(r.start, r.end) for r in moved.list_page_ranges()] == ranges(written)


def test_random_page_writes_across_chunks_and_a_rename(server, container):
    datalake = pytest.importorskip("azure.storage.filedatalake")
    dls = datalake.DataLakeServiceClient.from_connection_string(server.conn_str, **sdkutil.SDK_CLIENT_KWARGS)
    fs = dls.get_file_system_client(container.container_name)

    def rename(old, new):
        fs.get_file_client(old).rename_file(f"{container.container_name}/{new}")

    random_page_writes_across_chunks(container, rename)


def test_random_page_writes_across_chunks_flat(flat_container):
    random_page_writes_across_chunks(flat_container)


def test_tags_on_create(container):
    log = container.get_blob_client("tagged-log")
    log.create_append_blob(tags={"kind": "log"})
    disk = container.get_blob_client("tagged-disk")
    disk.create_page_blob(size=512, tags={"kind": "disk"})
    assert log.get_blob_tags() == {"kind": "log"}
    assert disk.get_blob_tags() == {"kind": "disk"}
    log.append_block(b"x")
    disk.upload_page(b"\x01" * 512, offset=0, length=512)
    assert log.get_blob_tags() == {"kind": "log"}
    assert disk.get_blob_properties().tag_count == 1


# --- durability ----------------------------------------------------------------------------

@pytest.mark.restart
def test_append_and_page_blobs_survive_restart(start_server):
    srv = start_server()
    cc = srv.service_client().create_container("typed")
    log = cc.get_blob_client("log")
    log.create_append_blob()
    log.append_block(b"one ")
    log.append_block(b"two")
    log.seal_append_blob()
    disk = cc.get_blob_client("disk")
    disk.create_page_blob(size=8 * KIB, sequence_number=3)
    page = os.urandom(KIB)
    disk.upload_page(page, offset=KIB, length=KIB)
    disk.clear_page(offset=KIB, length=512)
    srv.kill()  # acknowledged, so it must survive a crash
    srv.start()
    cc = srv.service_client().get_container_client("typed")
    log = cc.get_blob_client("log")
    assert log.download_blob().readall() == b"one two"
    props = log.get_blob_properties()
    assert (props.blob_type, props.is_append_blob_sealed, props.append_blob_committed_block_count) == \
        ("AppendBlob", True, 2)
    expect_error(409, "BlobIsSealed", log.append_block, b"three")
    disk = cc.get_blob_client("disk")
    assert disk.get_blob_properties().page_blob_sequence_number == 3
    assert disk.download_blob().readall() == bytes(KIB + 512) + page[512:] + bytes(6 * KIB)
    assert [(r.start, r.end) for r in disk.list_page_ranges()] == [(KIB + 512, 2 * KIB - 1)]
