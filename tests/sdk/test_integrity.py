"""Integrity: transactional MD5 and CRC-64, stored MD5, range MD5."""

import base64
import os

import pytest
from azure.core.exceptions import ResourceNotFoundError

import sdkutil
from sdkutil import assert_error, raw

KIB = 1024


def test_validate_content_md5_single_put(container):
    blob = container.get_blob_client("v1")
    data = os.urandom(5000)
    blob.upload_blob(data, validate_content=True)
    assert blob.download_blob(validate_content=True).readall() == data


def test_validate_content_md5_multi_block(server, container_name):
    service = server.service_client(max_single_put_size=32 * KIB, max_block_size=32 * KIB,
                                    max_single_get_size=32 * KIB, max_chunk_get_size=32 * KIB)
    blob = service.get_blob_client(container_name, "v2")
    data = os.urandom(100 * KIB + 1)
    blob.upload_blob(data, validate_content=True)
    # A chunked download with validation asks for the MD5 of every range.
    assert blob.download_blob(validate_content=True).readall() == data


def _crc64_service(server):
    pytest.importorskip("azure.storage.extensions")
    return server.service_client(max_single_put_size=128 * KIB, max_block_size=128 * KIB,
                                 max_single_get_size=128 * KIB, max_chunk_get_size=128 * KIB)


@pytest.mark.parametrize("size", [100, 300 * KIB])
def test_validate_content_crc64_upload(server, container_name, size):
    """validate_content='crc64' on upload: x-ms-content-crc64 on a small Put Blob, structured
    message bodies (x-ms-structured-body: XSM/1.0; properties=crc64) on Put Block."""
    blob = _crc64_service(server).get_blob_client(container_name, f"crc-up-{size}")
    data = os.urandom(size)
    blob.upload_blob(data, validate_content="crc64")
    assert blob.download_blob().readall() == data


@pytest.mark.parametrize("size", [100, 300 * KIB])
def test_validate_content_crc64_download(server, container_name, container, size):
    """validate_content='crc64' on download: the SDK asks for a structured-message response."""
    # Azurite 3.35 deviates: has no structured-message (XSM/1.0) support.
    data = os.urandom(size)
    container.get_blob_client(f"crc-down-{size}").upload_blob(data)
    blob = _crc64_service(server).get_blob_client(container_name, f"crc-down-{size}")
    assert blob.download_blob(validate_content="crc64").readall() == data


@pytest.mark.parametrize("size", [1000, 300 * KIB])
def test_structured_message_upload(server, container_name, size):
    """Structured-message bodies (x-ms-structured-body: XSM/1.0; properties=crc64) on Put Blob and
    Put Block: the service checks the segment CRCs, stores only the payload and echoes the
    x-ms-structured-body header. The SDK sends them for streams; 'crc64-sm' forces them for bytes."""
    # Azurite 3.35 deviates: has no structured-message (XSM/1.0) support.
    from azure.core.exceptions import AzureError

    blob = _crc64_service(server).get_blob_client(container_name, f"xsm-{size}")
    data = os.urandom(size)
    try:
        blob.upload_blob(data, validate_content="crc64-sm")
        echoed = True
    except AzureError as e:
        if "structured message header in response" not in str(e):
            raise
        echoed = False
    got = container_download(server, container_name, f"xsm-{size}")
    assert len(got) == len(data) and got == data, (
        f"stored {len(got)} bytes for a {len(data)}-byte payload, starting {got[:16].hex()}: "
        "the structured-message framing was stored as data, or data was lost")
    assert echoed, "the response does not echo x-ms-structured-body"


def container_download(server, container_name, name):
    return server.service_client().get_blob_client(container_name, name).download_blob().readall()


def _put(url, data, extra=None):
    headers = {"x-ms-blob-type": "BlockBlob", "x-ms-version": "2025-11-05"}
    headers.update(extra or {})
    return raw("PUT", url, headers=headers, data=data)


def test_put_blob_wrong_md5_rejected(server, container_name):
    # Azurite 3.35 deviates: answers 400 InvalidOperation (real service: Md5Mismatch).
    url = server.blob_sas_url(container_name, "bad-md5")
    resp = _put(url, b"hello", {"Content-MD5": sdkutil.b64(sdkutil.md5(b"other"))})
    assert_error(resp, 400, "Md5Mismatch")
    assert raw("HEAD", url).status_code == 404, "nothing is stored after a failed MD5 check"

    resp = _put(url, b"hello", {"Content-MD5": sdkutil.b64(sdkutil.md5(b"hello"))})
    assert resp.status_code == 201, resp.text
    assert resp.headers.get("Content-MD5") == sdkutil.b64(sdkutil.md5(b"hello"))


def test_put_blob_malformed_md5_rejected(server, container_name):
    # Azurite 3.35 deviates: answers 400 InvalidOperation (real service: InvalidMd5).
    url = server.blob_sas_url(container_name, "bad-md5-format")
    resp = _put(url, b"hello", {"Content-MD5": "not-base64!"})
    assert resp.status_code == 400, resp.text
    assert resp.headers.get("x-ms-error-code") in ("InvalidMd5", "InvalidHeaderValue")
    assert raw("HEAD", url).status_code == 404


def test_put_blob_wrong_crc64_rejected(server, container_name):
    # Azurite 3.35 deviates: does not check x-ms-content-crc64 (added on its unreleased main).
    url = server.blob_sas_url(container_name, "bad-crc")
    resp = _put(url, b"hello", {"x-ms-content-crc64": sdkutil.crc64_header(b"other")})
    assert_error(resp, 400, "Crc64Mismatch")
    assert raw("HEAD", url).status_code == 404, "nothing is stored after a failed CRC-64 check"

    resp = _put(url, b"hello", {"x-ms-content-crc64": sdkutil.crc64_header(b"hello")})
    assert resp.status_code == 201, resp.text
    assert raw("GET", url).content == b"hello"


def test_put_block_wrong_md5_rejected(server, container_name, container):
    # Azurite 3.35 deviates: answers 400 InvalidOperation (real service: Md5Mismatch).
    url = server.blob_sas_url(container_name, "blk-md5")
    block_id = base64.b64encode(b"block-01").decode()
    resp = raw("PUT", f"{url}&comp=block&blockid={block_id}",
               headers={"Content-MD5": sdkutil.b64(sdkutil.md5(b"zzz")), "x-ms-version": "2025-11-05"},
               data=b"abc")
    assert_error(resp, 400, "Md5Mismatch")
    resp = raw("PUT", f"{url}&comp=block&blockid={block_id}",
               headers={"x-ms-content-crc64": sdkutil.crc64_header(b"zzz"), "x-ms-version": "2025-11-05"},
               data=b"abc")
    assert_error(resp, 400, "Crc64Mismatch")
    blob = container.get_blob_client("blk-md5")
    with pytest.raises(ResourceNotFoundError):
        blob.get_block_list("all")  # blob does not exist, no block was staged
    resp = raw("PUT", f"{url}&comp=block&blockid={block_id}",
               headers={"Content-MD5": sdkutil.b64(sdkutil.md5(b"abc")), "x-ms-version": "2025-11-05"},
               data=b"abc")
    assert resp.status_code == 201, resp.text
    _, uncommitted = blob.get_block_list("uncommitted")
    assert [(b.id, b.size) for b in uncommitted] == [("block-01", 3)]


def test_both_md5_and_crc64_rejected(server, container_name):
    # Azurite 3.35 deviates: accepts both headers.
    url = server.blob_sas_url(container_name, "both")
    resp = _put(url, b"hello", {"Content-MD5": sdkutil.b64(sdkutil.md5(b"hello")),
                                "x-ms-content-crc64": sdkutil.crc64_header(b"hello")})
    assert resp.status_code == 400, resp.text
    assert raw("HEAD", url).status_code == 404


def test_x_ms_blob_content_md5_is_stored(server, container_name, container):
    url = server.blob_sas_url(container_name, "stored-md5")
    data = b"stored md5 body"
    resp = _put(url, data, {"x-ms-blob-content-md5": sdkutil.b64(sdkutil.md5(data))})
    assert resp.status_code == 201, resp.text
    props = container.get_blob_client("stored-md5").get_blob_properties()
    assert bytes(props.content_settings.content_md5) == sdkutil.md5(data)
    resp = raw("GET", url)
    assert resp.headers.get("Content-MD5") == sdkutil.b64(sdkutil.md5(data))


def test_range_get_content_md5(server, container_name, container):
    data = os.urandom(10000)
    container.get_blob_client("rmd5").upload_blob(data)
    url = server.blob_sas_url(container_name, "rmd5", permission="r")
    resp = raw("GET", url, headers={"x-ms-range": "bytes=100-1099", "x-ms-range-get-content-md5": "true",
                                    "x-ms-version": "2025-11-05"})
    assert resp.status_code == 206, resp.text
    assert resp.content == data[100:1100]
    assert resp.headers["Content-Range"] == "bytes 100-1099/10000"
    assert resp.headers["Content-Length"] == "1000"
    assert resp.headers.get("Content-MD5") == sdkutil.b64(sdkutil.md5(data[100:1100]))
    # The whole blob's stored MD5 is reported separately on ranged reads.
    assert resp.headers.get("x-ms-blob-content-md5") == sdkutil.b64(sdkutil.md5(data))

    # Standard Range header works as well.
    resp = raw("GET", url, headers={"Range": "bytes=0-9", "x-ms-range-get-content-md5": "true"})
    assert resp.status_code == 206
    assert resp.headers.get("Content-MD5") == sdkutil.b64(sdkutil.md5(data[:10]))


def test_range_get_content_md5_over_4mib_rejected(server, container_name, container):
    # Azurite 3.35 deviates: serves the range instead of 400.
    container.get_blob_client("big-rmd5").upload_blob(b"\0" * (4 * 1024 * 1024 + 10))
    url = server.blob_sas_url(container_name, "big-rmd5", permission="r")
    resp = raw("GET", url, headers={"x-ms-range": f"bytes=0-{4 * 1024 * 1024}",
                                    "x-ms-range-get-content-md5": "true"})
    assert resp.status_code == 400, resp.status_code
    assert resp.headers.get("x-ms-error-code")


def test_full_get_returns_stored_md5(server, container_name, container):
    data = b"whole body"
    container.get_blob_client("full").upload_blob(data)
    resp = raw("GET", server.blob_sas_url(container_name, "full", permission="r"))
    assert resp.status_code == 200
    assert resp.headers.get("Content-MD5") == sdkutil.b64(sdkutil.md5(data))
    assert resp.headers.get("Content-Length") == str(len(data))
    assert resp.headers.get("Accept-Ranges") == "bytes"
    assert resp.headers.get("x-ms-blob-type") == "BlockBlob"
