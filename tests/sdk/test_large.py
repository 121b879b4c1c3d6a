"""Large transfers: 256 MiB up and down with 4 parallel connections, checked by SHA-256."""

import hashlib
import os

import pytest

MIB = 1024 * 1024
SIZE = 256 * MIB
CHUNK = 4 * MIB


def _make_file(path, size):
    h = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            chunk = os.urandom(min(CHUNK, left))
            h.update(chunk)
            f.write(chunk)
            left -= len(chunk)
    return h.hexdigest()


def _sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


@pytest.mark.slow
def test_256mib_parallel_upload_and_download(server, container_name, tmp_path):
    src = tmp_path / "src.bin"
    dst = tmp_path / "dst.bin"
    want = _make_file(src, SIZE)
    service = server.service_client(max_block_size=8 * MIB, max_single_put_size=8 * MIB,
                                    max_single_get_size=8 * MIB, max_chunk_get_size=8 * MIB,
                                    read_timeout=300)
    blob = service.get_blob_client(container_name, "large.bin")
    with open(src, "rb") as f:
        blob.upload_blob(f, length=SIZE, max_concurrency=4)
    props = blob.get_blob_properties()
    assert props.size == SIZE
    committed, _ = blob.get_block_list("committed")
    assert len(committed) == SIZE // (8 * MIB)
    with open(dst, "wb") as f:
        n = blob.download_blob(max_concurrency=4).readinto(f)
    assert n == SIZE
    assert os.path.getsize(dst) == SIZE
    assert _sha256_file(dst) == want
    # A range in the middle, across block boundaries.
    off = 8 * MIB - 1000
    part = blob.download_blob(offset=off, length=3000).readall()
    with open(src, "rb") as f:
        f.seek(off)
        assert part == f.read(3000)
    blob.delete_blob()


@pytest.mark.slow
def test_single_put_large(server, container_name):
    """One Put Blob of 32 MiB (streamed body, no blocks)."""
    data = os.urandom(32 * MIB)
    service = server.service_client(max_single_put_size=64 * MIB, read_timeout=300)
    blob = service.get_blob_client(container_name, "single.bin")
    blob.upload_blob(data)
    got = blob.download_blob(max_concurrency=2).readall()
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    assert blob.get_block_list("uncommitted")[1] == []
