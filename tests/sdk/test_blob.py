"""Block blobs: Put Blob, Put Block, Put Block List, Get Block List, Get Blob, properties, metadata."""

import base64
import datetime as dt
import os

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobBlock, BlockState, ContentSettings

import sdkutil

KIB = 1024


def test_upload_download_small(container):
    data = os.urandom(1000)
    blob = container.get_blob_client("small.bin")
    resp = blob.upload_blob(data)
    assert resp["etag"] and resp["last_modified"] is not None
    assert blob.download_blob().readall() == data
    props = blob.get_blob_properties()
    assert props.size == 1000
    assert props.blob_type == "BlockBlob"
    assert props.etag == resp["etag"]
    assert props.etag.startswith('"') and props.etag.endswith('"')
    assert abs(props.last_modified - sdkutil.utcnow()) < dt.timedelta(minutes=5)
    # Put Blob stores the MD5 of the whole body that it computed.
    assert bytes(props.content_settings.content_md5) == sdkutil.md5(data)


def test_upload_empty(container):
    blob = container.get_blob_client("empty")
    blob.upload_blob(b"")
    assert blob.download_blob().readall() == b""
    assert blob.get_blob_properties().size == 0


def test_blob_names_with_special_characters(container):
    names = ["dir/sub dir/file name.txt", "unicodé/ñ/文件", "a+b=c&d", "percent%20literal", "~tilde!$'()*,;"]
    for name in names:
        container.get_blob_client(name).upload_blob(name.encode())
    for name in names:
        assert container.get_blob_client(name).download_blob().readall() == name.encode()
    # The development account has a hierarchical namespace: directories are listed too.
    listed = container.list_blobs(include=["metadata"])
    assert sorted(b.name for b in listed if "hdi_isfolder" not in (b.metadata or {})) == sorted(names)


def test_upload_multi_block(server, container_name):
    # Small single-put and block sizes force Put Block + Put Block List.
    service = server.service_client(max_single_put_size=64 * KIB, max_block_size=64 * KIB)
    blob = service.get_blob_client(container_name, "multi.bin")
    data = os.urandom(300 * KIB + 123)
    blob.upload_blob(data, max_concurrency=2)
    assert blob.download_blob().readall() == data
    blocks = blob.get_block_list("committed")
    committed, uncommitted = blocks
    assert len(committed) == 5
    assert [b.size for b in committed] == [64 * KIB] * 4 + [300 * KIB + 123 - 4 * 64 * KIB]
    assert uncommitted == []
    props = blob.get_blob_properties()
    assert props.size == len(data)
    # Put Block List computes no whole-blob MD5 unless x-ms-blob-content-md5 is given.
    assert props.content_settings.content_md5 is None


def test_download_with_small_chunks(server, container_name):
    service = server.service_client(max_single_get_size=32 * KIB, max_chunk_get_size=32 * KIB)
    blob = service.get_blob_client(container_name, "chunks.bin")
    data = os.urandom(200 * KIB + 7)
    blob.upload_blob(data)
    assert blob.download_blob(max_concurrency=3).readall() == data
    assert b"".join(blob.download_blob().chunks()) == data


def test_stage_and_commit_latest_committed_uncommitted(container):
    # Azurite 3.35 deviates: resolves a Committed entry to the newer uncommitted block of the same id.
    blob = container.get_blob_client("blocks")
    a1, b1, c1, a2 = b"A" * 10, b"B" * 20, b"C" * 30, b"a" * 11
    blob.stage_block("blk-0001", a1)
    blob.stage_block("blk-0002", b1)
    committed, uncommitted = blob.get_block_list("uncommitted")
    assert committed == []
    assert [(b.id, b.size) for b in uncommitted] == [("blk-0001", 10), ("blk-0002", 20)]
    # Staged but not committed: the blob does not exist yet.
    with pytest.raises(ResourceNotFoundError) as e:
        blob.download_blob().readall()
    assert e.value.error_code == "BlobNotFound"

    blob.commit_block_list([BlobBlock("blk-0001"), BlobBlock("blk-0002")])
    assert blob.download_blob().readall() == a1 + b1
    props = blob.get_blob_properties()
    # The service sends a committed block count for append blobs only.
    assert (props.size, props.append_blob_committed_block_count) == (30, None)
    committed, uncommitted = blob.get_block_list("all")
    assert [(b.id, b.size) for b in committed] == [("blk-0001", 10), ("blk-0002", 20)]
    assert uncommitted == []

    # Stage a new version of blk-0001 and a new block.
    blob.stage_block("blk-0001", a2)
    blob.stage_block("blk-0003", c1)
    committed, uncommitted = blob.get_block_list("all")
    assert [(b.id, b.size) for b in committed] == [("blk-0001", 10), ("blk-0002", 20)]
    assert sorted((b.id, b.size) for b in uncommitted) == [("blk-0001", 11), ("blk-0003", 30)]

    # Committed picks the committed blk-0001 even though an uncommitted one exists. The
    # Python SDK writes every entry as <Latest> whatever its BlobBlock state, so the block
    # list goes out as raw XML.
    ids = {name: base64.b64encode(name.encode()).decode() for name in ("blk-0001", "blk-0002", "blk-0003")}
    block_list = (
        "<?xml version='1.0' encoding='utf-8'?><BlockList>"
        f"<Committed>{ids['blk-0001']}</Committed>"
        f"<Uncommitted>{ids['blk-0003']}</Uncommitted>"
        f"<Latest>{ids['blk-0002']}</Latest></BlockList>"
    )
    resp = sdkutil.raw("PUT", blob.url + "?comp=blocklist", data=block_list.encode(),
                       auth=sdkutil.SharedKeyAuth(sdkutil.ACCOUNT, sdkutil.KEY))
    assert resp.status_code == 201, resp.text
    assert blob.download_blob().readall() == a1 + c1 + b1
    committed, uncommitted = blob.get_block_list("all")
    assert [b.id for b in committed] == ["blk-0001", "blk-0003", "blk-0002"]
    assert uncommitted == [], "a commit discards the uncommitted blocks it did not use"

    # Latest prefers the uncommitted version.
    blob.stage_block("blk-0001", a2)
    blob.commit_block_list([BlobBlock("blk-0001", BlockState.LATEST)])
    assert blob.download_blob().readall() == a2

    # Uncommitted for a block that is only committed: InvalidBlockList, blob unchanged.
    block_list = f"<?xml version='1.0' encoding='utf-8'?><BlockList><Uncommitted>{ids['blk-0001']}</Uncommitted></BlockList>"
    resp = sdkutil.raw("PUT", blob.url + "?comp=blocklist", data=block_list.encode(),
                       auth=sdkutil.SharedKeyAuth(sdkutil.ACCOUNT, sdkutil.KEY))
    sdkutil.assert_error(resp, 400, "InvalidBlockList")
    assert blob.download_blob().readall() == a2


def test_commit_unknown_block_fails(container):
    blob = container.get_blob_client("unknown-block")
    blob.stage_block("blk-0001", b"x")
    with pytest.raises(HttpResponseError) as e:
        blob.commit_block_list([BlobBlock("blk-0001"), BlobBlock("blk-9999")])
    assert e.value.status_code == 400
    assert e.value.error_code == "InvalidBlockList"
    assert not blob.exists()


def test_commit_with_content_settings_and_metadata(container):
    blob = container.get_blob_client("commit-props")
    data = b"hello block list"
    blob.stage_block("b1", data)
    settings = ContentSettings(content_type="text/plain", content_md5=sdkutil.md5(data),
                               cache_control="no-cache", content_language="en",
                               content_disposition="inline", content_encoding="identity")
    blob.commit_block_list([BlobBlock("b1")], content_settings=settings, metadata={"m": "1"})
    props = blob.get_blob_properties()
    assert props.content_settings.content_type == "text/plain"
    assert bytes(props.content_settings.content_md5) == sdkutil.md5(data)
    assert props.content_settings.cache_control == "no-cache"
    assert props.content_settings.content_language == "en"
    assert props.content_settings.content_disposition == "inline"
    assert props.content_settings.content_encoding == "identity"
    assert props.metadata == {"m": "1"}


def test_commit_empty_block_list(container):
    blob = container.get_blob_client("empty-list")
    blob.commit_block_list([])
    assert blob.download_blob().readall() == b""


def test_get_block_list_missing_blob(container):
    with pytest.raises(ResourceNotFoundError) as e:
        container.get_blob_client("nope").get_block_list("all")
    assert e.value.error_code == "BlobNotFound"


def test_block_blob_from_put_blob_has_no_committed_blocks(container):
    blob = container.get_blob_client("put-blob")
    blob.upload_blob(b"0123456789")
    committed, uncommitted = blob.get_block_list("all")
    # Put Blob stores the blob as one block with a service-chosen id (the real service
    # reports it); emulators may report none. Only the total size is certain.
    assert sum(b.size for b in committed) in (0, 10)
    assert uncommitted == []


def test_download_ranges(container):
    data = bytes(range(256)) * 40  # 10240 bytes
    blob = container.get_blob_client("ranges")
    blob.upload_blob(data)
    assert blob.download_blob(offset=5, length=10).readall() == data[5:15]
    assert blob.download_blob(offset=10000).readall() == data[10000:]
    assert blob.download_blob(offset=len(data) - 1, length=1).readall() == data[-1:]
    assert blob.download_blob(offset=0, length=1).readall() == data[:1]
    # A length past the end is cut to the blob size.
    assert blob.download_blob(offset=10200, length=1000).readall() == data[10200:]
    d = blob.download_blob(offset=100, length=50)
    assert d.size == 50


def test_properties_and_http_headers(container):
    blob = container.get_blob_client("props.txt")
    settings = ContentSettings(content_type="text/csv", content_encoding="x-lazuli-test", content_language="de",
                               content_disposition="attachment; filename=x.csv", cache_control="max-age=60")
    blob.upload_blob(b"a,b\n1,2\n", content_settings=settings, metadata={"owner": "me", "k2": "v 2"})
    props = blob.get_blob_properties()
    cs = props.content_settings
    assert cs.content_type == "text/csv"
    assert cs.content_encoding == "x-lazuli-test"
    assert cs.content_language == "de"
    assert cs.content_disposition == "attachment; filename=x.csv"
    assert cs.cache_control == "max-age=60"
    assert props.metadata == {"owner": "me", "k2": "v 2"}
    assert props.creation_time is not None

    # The download carries the same headers.
    d = blob.download_blob()
    assert d.properties.content_settings.content_type == "text/csv"
    assert d.properties.content_settings.content_encoding == "x-lazuli-test"
    assert d.readall() == b"a,b\n1,2\n"

    etag = props.etag
    new = ContentSettings(content_type="application/json", cache_control="no-store")
    blob.set_http_headers(new)
    props2 = blob.get_blob_properties()
    assert props2.content_settings.content_type == "application/json"
    assert props2.content_settings.cache_control == "no-store"
    # Set Blob Properties clears the headers it is not given (Microsoft docs, Set Blob Properties).
    assert props2.content_settings.content_encoding is None
    assert props2.content_settings.content_language is None
    assert props2.content_settings.content_disposition is None
    assert props2.etag != etag
    assert props2.metadata == {"owner": "me", "k2": "v 2"}, "Set Blob Properties keeps metadata"


def test_default_content_type(container):
    blob = container.get_blob_client("no-type")
    blob.upload_blob(b"x")
    assert blob.get_blob_properties().content_settings.content_type == "application/octet-stream"


def test_metadata(container):
    blob = container.get_blob_client("md")
    blob.upload_blob(b"x", metadata={"a": "1"})
    etag = blob.get_blob_properties().etag
    blob.set_blob_metadata({"b": "2", "c": "three"})
    props = blob.get_blob_properties()
    assert props.metadata == {"b": "2", "c": "three"}
    assert props.etag != etag
    assert blob.download_blob().readall() == b"x", "metadata change keeps the data"
    blob.set_blob_metadata({})
    assert blob.get_blob_properties().metadata == {}


def test_delete(container):
    blob = container.get_blob_client("del")
    blob.upload_blob(b"x")
    blob.delete_blob()
    assert not blob.exists()
    with pytest.raises(ResourceNotFoundError) as e:
        blob.get_blob_properties()
    assert e.value.error_code == "BlobNotFound"
    with pytest.raises(ResourceNotFoundError) as e:
        blob.delete_blob()
    assert e.value.error_code == "BlobNotFound"
    assert [b.name for b in container.list_blobs()] == []


def test_overwrite(container):
    blob = container.get_blob_client("ow")
    blob.upload_blob(b"first")
    with pytest.raises(ResourceExistsError) as e:
        blob.upload_blob(b"second")  # overwrite=False is the SDK default: If-None-Match: *
    assert e.value.error_code == "BlobAlreadyExists"
    assert e.value.status_code == 409
    assert blob.download_blob().readall() == b"first"
    blob.upload_blob(b"second", overwrite=True, metadata={"v": "2"})
    assert blob.download_blob().readall() == b"second"
    assert blob.get_blob_properties().metadata == {"v": "2"}, "Put Blob replaces metadata"


def test_overwrite_multi_block_false(server, container_name):
    service = server.service_client(max_single_put_size=16 * KIB, max_block_size=16 * KIB)
    blob = service.get_blob_client(container_name, "ow-multi")
    blob.upload_blob(os.urandom(40 * KIB))
    with pytest.raises(ResourceExistsError) as e:
        blob.upload_blob(os.urandom(40 * KIB))
    assert e.value.error_code == "BlobAlreadyExists"


def test_put_blob_replaces_committed_blocks(container):
    blob = container.get_blob_client("replace")
    blob.stage_block("b1", b"one")
    blob.commit_block_list([BlobBlock("b1")])
    blob.upload_blob(b"plain", overwrite=True)
    assert blob.download_blob().readall() == b"plain"
    committed, _ = blob.get_block_list("all")
    assert "b1" not in [b.id for b in committed]


def test_parallel_small_uploads(container):
    """Many concurrent small writes (group commit, concurrent index updates)."""
    from concurrent.futures import ThreadPoolExecutor

    def put(i):
        container.get_blob_client(f"p/{i:04d}").upload_blob(f"payload {i}".encode() * (i % 7 + 1))

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(put, range(300)))
    names = [b.name for b in container.list_blobs(name_starts_with="p/")]
    assert names == [f"p/{i:04d}" for i in range(300)]

    def check(i):
        got = container.get_blob_client(f"p/{i:04d}").download_blob().readall()
        return got == f"payload {i}".encode() * (i % 7 + 1)

    with ThreadPoolExecutor(max_workers=16) as pool:
        assert all(pool.map(check, range(300)))


def test_concurrent_writers_same_blob(container):
    """Concurrent overwrites of one blob: the result is exactly one of the writes."""
    from concurrent.futures import ThreadPoolExecutor

    blob = container.get_blob_client("contended")
    bodies = [bytes([i]) * (50 * KIB + i) for i in range(12)]
    with ThreadPoolExecutor(max_workers=12) as pool:
        list(pool.map(lambda b: blob.upload_blob(b, overwrite=True), bodies))
    assert blob.download_blob().readall() in bodies


def test_block_ids_must_have_equal_length(container):
    blob = container.get_blob_client("idlen")
    blob.stage_block("aaaa", b"1")
    with pytest.raises(HttpResponseError) as e:
        blob.stage_block("bbbbbbbb", b"2")
    # The real service: 400 InvalidBlobOrBlock ("all block IDs must be of the same length").
    assert e.value.status_code == 400


def test_last_modified_moves_forward(container):
    import time

    blob = container.get_blob_client("lm")
    blob.upload_blob(b"1")
    p1 = blob.get_blob_properties()
    time.sleep(1.1)  # Last-Modified has a one-second resolution on the wire
    blob.set_blob_metadata({"x": "y"})
    p2 = blob.get_blob_properties()
    assert p2.last_modified > p1.last_modified
    assert p2.etag != p1.etag
    assert p2.creation_time == p1.creation_time


def test_metadata_name_case_preserved(server, container):
    """Metadata names keep the case they were written with (and compare case-insensitively):
    Microsoft docs, 'Setting and retrieving properties and metadata for Blob service resources'."""
    md = {"CamelCase": "1", "lower": "2", "UPPER": "3"}
    blob = container.get_blob_client("case")
    blob.upload_blob(b"x", metadata=md)
    assert blob.get_blob_properties().metadata == md
    assert [b.metadata for b in container.list_blobs(include=["metadata"])] == [md]
    blob.set_blob_metadata({"MixedCase": "v"})
    assert blob.get_blob_properties().metadata == {"MixedCase": "v"}
    container.set_container_metadata(md)
    assert container.get_container_properties().metadata == md
    service = server.service_client()
    listed = [c.metadata for c in service.list_containers(name_starts_with=container.container_name,
                                                          include_metadata=True)]
    assert listed == [md]


@pytest.mark.parametrize("size", [1, 64 * KIB - 1, 64 * KIB, 64 * KIB + 1, 4 * 1024 * KIB + 1])
def test_sizes_around_boundaries(container, size):
    """Sizes around the inline-data limit and the 4 MiB chunk size, single Put Blob."""
    import hashlib

    data = os.urandom(size)
    blob = container.get_blob_client(f"size-{size}")
    blob.upload_blob(data)
    got = blob.download_blob().readall()
    assert len(got) == size and hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    assert blob.download_blob(offset=size - 1, length=1).readall() == data[-1:]
    assert blob.get_blob_properties().size == size
    # Overwrite with a size on the other side of the boundary, then back.
    small = b"tiny"
    blob.upload_blob(small, overwrite=True)
    assert blob.download_blob().readall() == small
    blob.upload_blob(data, overwrite=True)
    assert blob.download_blob().readall() == data
