"""Protocol-wide behaviour: x-ms-version, common response headers, error format."""

import uuid
import xml.etree.ElementTree as ET

import pytest
from azure.core.exceptions import HttpResponseError

import sdkutil
from sdkutil import assert_common_headers, assert_error, raw


def test_future_x_ms_version_accepted(server, container_name, container):
    """Lazuli serves versions newer than it knows (the real service and a strict Azurite
    answer 400 InvalidHeaderValue; Azurite only passes with --skipApiVersionCheck)."""
    container.get_blob_client("v").upload_blob(b"versioned")
    auth = sdkutil.SharedKeyAuth(server.account, server.key, version="2099-01-01")
    resp = raw("GET", server.blob_url(container_name, "v"), auth=auth)
    assert resp.status_code == 200, resp.text
    assert resp.content == b"versioned"
    assert resp.headers.get("x-ms-version")
    # Same through a SAS.
    url = server.blob_sas_url(container_name, "v", permission="r")
    resp = raw("GET", url, headers={"x-ms-version": "2099-01-01"})
    assert resp.status_code == 200, resp.text
    assert resp.headers.get("x-ms-version")


def test_common_headers_on_sdk_traffic(server, request):
    """Every response to a spread of SDK calls carries x-ms-request-id, x-ms-version and Date;
    every error response carries x-ms-error-code."""
    # Azurite 3.35 deviates: omits x-ms-version on error responses.
    responses = []

    def hook(response):
        responses.append(response.http_response)

    service = server.service_client(raw_response_hook=hook)
    name = sdkutil.unique_name(request.node.name)
    cc = service.create_container(name)
    try:
        bc = cc.get_blob_client("h")
        bc.upload_blob(b"headers", metadata={"a": "b"})
        bc.get_blob_properties()
        bc.download_blob().readall()
        bc.set_blob_metadata({"c": "d"})
        bc.stage_block("blk1", b"x")
        bc.get_block_list("all")
        list(cc.list_blobs())
        list(service.list_containers(name_starts_with=name))
        cc.get_container_access_policy()
        service.get_service_properties()
        service.get_account_information()
        for call in (lambda: cc.get_blob_client("missing").download_blob(),
                     lambda: cc.get_blob_client("missing").get_blob_properties(),
                     lambda: service.create_container(name)):
            with pytest.raises(HttpResponseError):
                call()
        bc.delete_blob()
    finally:
        cc.delete_container()
    assert len(responses) >= 15
    for r in responses:
        where = f"{r.request.method} {r.request.url} -> {r.status_code}"
        for name_ in ("x-ms-request-id", "x-ms-version", "Date"):
            assert r.headers.get(name_), f"{where}: no {name_} header"
        if r.status_code >= 400:
            code = r.headers.get("x-ms-error-code")
            assert code, f"{where}: no x-ms-error-code"
            if r.request.method != "HEAD":
                root = ET.fromstring(r.body())
                assert root.tag == "Error" and root.findtext("Code") == code, f"{where}: body {r.body()[:300]!r}"


def test_client_request_id_echoed(server, container_name, container):
    # Azurite 3.35 deviates: does not echo x-ms-client-request-id on errors.
    container.get_blob_client("there").upload_blob(b"x")
    for blob, status in (("there", 200), ("nope", 404)):
        rid = str(uuid.uuid4())
        url = server.blob_sas_url(container_name, blob, permission="r")
        resp = raw("GET", url, headers={"x-ms-client-request-id": rid})
        assert resp.status_code == status
        assert resp.headers.get("x-ms-client-request-id") == rid, f"{status}: not echoed"
        assert resp.headers.get("x-ms-request-id") and resp.headers["x-ms-request-id"] != rid


def test_request_ids_are_unique(server, container_name):
    url = server.blob_sas_url(container_name, "nope", permission="r")
    ids = {raw("GET", url).headers.get("x-ms-request-id") for _ in range(5)}
    assert len(ids) == 5


def test_error_body_format(server, container_name):
    # Azurite 3.35 deviates: omits x-ms-version on error responses.
    resp = raw("GET", server.blob_sas_url(container_name, "nope", permission="r"))
    assert_error(resp, 404, "BlobNotFound")
    assert_common_headers(resp)
    assert "xml" in resp.headers.get("Content-Type", ""), resp.headers.get("Content-Type")
    root = ET.fromstring(resp.content)
    assert root.tag == "Error"
    assert root.findtext("Code") == "BlobNotFound"
    assert root.findtext("Message"), "the error body has a Message"


def test_unknown_comp_is_an_azure_error(server, container_name):
    # Azurite 3.35 deviates: treats an unknown comp as Get Container Properties (200).
    auth = sdkutil.SharedKeyAuth(server.account, server.key)
    resp = raw("GET", f"{server.container_url(container_name)}?restype=container&comp=nonsense", auth=auth)
    assert 400 <= resp.status_code < 500 or resp.status_code == 501, resp.status_code
    assert resp.headers.get("x-ms-error-code"), resp.headers


def test_success_headers(server, container_name, container):
    container.get_blob_client("ok").upload_blob(b"ok")
    resp = raw("GET", server.blob_sas_url(container_name, "ok", permission="r"))
    assert resp.status_code == 200
    assert_common_headers(resp)
    assert resp.headers.get("ETag")
    assert resp.headers.get("Last-Modified")
    assert resp.headers.get("x-ms-creation-time")
    assert resp.headers.get("x-ms-blob-type") == "BlockBlob"
    assert resp.headers.get("x-ms-server-encrypted") in ("true", "false")
