"""Errors, Shared Key, SAS (account, service, stored access policy) and anonymous access."""

import datetime as dt

import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError
from azure.storage.blob import (
    AccessPolicy,
    BlobClient,
    BlobServiceClient,
    ContainerClient,
    ContainerSasPermissions,
)

import sdkutil
from sdkutil import SDK_CLIENT_KWARGS, assert_error, raw

WRONG_KEY = "AAAAvdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


# --- not found -----------------------------------------------------------------------------

def test_missing_container(service):
    name = sdkutil.unique_name("missing")
    with pytest.raises(ResourceNotFoundError) as e:
        service.get_container_client(name).get_container_properties()
    assert e.value.error_code == "ContainerNotFound"
    assert e.value.status_code == 404
    # Blob operations in a missing container report the container.
    with pytest.raises(ResourceNotFoundError) as e:
        service.get_blob_client(name, "b").download_blob()
    assert e.value.error_code == "ContainerNotFound"
    with pytest.raises(ResourceNotFoundError) as e:
        service.get_blob_client(name, "b").upload_blob(b"x")
    assert e.value.error_code == "ContainerNotFound"


def test_missing_blob(container):
    blob = container.get_blob_client("nope")
    with pytest.raises(ResourceNotFoundError) as e:
        blob.download_blob()
    assert e.value.error_code == "BlobNotFound"
    assert e.value.status_code == 404
    with pytest.raises(ResourceNotFoundError) as e:
        blob.get_blob_properties()  # HEAD: code only in x-ms-error-code
    assert e.value.error_code == "BlobNotFound"


def test_missing_blob_raw(server, container_name):
    resp = raw("GET", server.blob_sas_url(container_name, "nope", permission="r"))
    assert_error(resp, 404, "BlobNotFound")
    resp = raw("HEAD", server.blob_sas_url(container_name, "nope", permission="r"))
    assert resp.status_code == 404
    assert resp.headers.get("x-ms-error-code") == "BlobNotFound"
    assert resp.content == b""


def test_invalid_range(server, container_name, container):
    # Azurite 3.35 deviates: answers 206 with the whole tail for a range starting past the end (real
    #   service: 416 InvalidRange).
    container.get_blob_client("ten").upload_blob(b"0123456789")
    url = server.blob_sas_url(container_name, "ten", permission="r")
    resp = raw("GET", url, headers={"Range": "bytes=1000-2000"})
    assert_error(resp, 416, "InvalidRange")
    resp = raw("GET", url, headers={"x-ms-range": "bytes=10-"})
    assert_error(resp, 416, "InvalidRange")
    # A range that starts inside the blob is cut to its end.
    resp = raw("GET", url, headers={"Range": "bytes=5-2000"})
    assert resp.status_code == 206
    assert resp.content == b"56789"
    assert resp.headers["Content-Range"] == "bytes 5-9/10"


def test_invalid_range_on_empty_blob(server, container_name, container):
    container.get_blob_client("empty").upload_blob(b"")
    url = server.blob_sas_url(container_name, "empty", permission="r")
    resp = raw("GET", url, headers={"Range": "bytes=0-10"})
    assert_error(resp, 416, "InvalidRange")
    assert raw("GET", url).status_code == 200


def test_sdk_invalid_range(container):
    blob = container.get_blob_client("ten")
    blob.upload_blob(b"0123456789")
    with pytest.raises(HttpResponseError) as e:
        blob.download_blob(offset=100, length=10)
    assert e.value.status_code == 416
    assert e.value.error_code == "InvalidRange"


# --- Shared Key ----------------------------------------------------------------------------

def test_wrong_key_rejected(server):
    # Azurite 3.35 deviates: a bad signature gives 403 AuthorizationFailure (real service:
    #   AuthenticationFailed).
    conn = (f"DefaultEndpointsProtocol=http;AccountName={server.account};AccountKey={WRONG_KEY};"
            f"BlobEndpoint={server.url};")
    client = BlobServiceClient.from_connection_string(conn, **SDK_CLIENT_KWARGS)
    with pytest.raises(ClientAuthenticationError) as e:
        list(client.list_containers())
    assert e.value.status_code == 403
    assert e.value.error_code == "AuthenticationFailed"
    with pytest.raises(ClientAuthenticationError) as e:
        client.get_blob_client("somecontainer", "b").get_blob_properties()
    assert e.value.status_code == 403


def test_shared_key_raw(server, container_name, container):
    # Azurite 3.35 deviates: a bad signature gives 403 AuthorizationFailure (real service:
    #   AuthenticationFailed).
    container.get_blob_client("sk").upload_blob(b"shared key")
    auth = sdkutil.SharedKeyAuth(server.account, server.key)
    resp = raw("GET", server.blob_url(container_name, "sk"), auth=auth)
    assert resp.status_code == 200, resp.text
    assert resp.content == b"shared key"
    resp = raw("GET", f"{server.container_url(container_name)}?restype=container&comp=list", auth=auth)
    assert resp.status_code == 200, resp.text
    assert b"<Name>sk</Name>" in resp.content
    bad = sdkutil.SharedKeyAuth(server.account, WRONG_KEY)
    resp = raw("GET", server.blob_url(container_name, "sk"), auth=bad)
    assert_error(resp, 403, "AuthenticationFailed")


def test_shared_key_metadata_header_orders(server, container_name, container):
    """Metadata names with '_' and digits sort differently in ordinal order (older SDKs, other
    clients) and in .NET culture-aware order (the service; the current Python and JS SDKs
    imitate it); a compatible server accepts both. (Metadata names are C# identifiers: no '-'.)"""
    # Azurite 3.35 deviates: accepts only its own (localeCompare) order; ordinal-signed requests fail.
    want = {"a_b": "1", "a1": "2", "ab": "3"}
    via_sdk = container.get_blob_client("order-sdk")
    via_sdk.upload_blob(b"x", metadata=want)
    assert via_sdk.get_blob_properties().metadata == want
    md = {f"x-ms-meta-{k}": v for k, v in want.items()}
    ordinal = sorted(["x-ms-blob-type", "x-ms-date", "x-ms-version", *md])
    culture = ["x-ms-blob-type", "x-ms-date", "x-ms-meta-a_b", "x-ms-meta-a1", "x-ms-meta-ab", "x-ms-version"]
    assert ordinal != culture
    for order, name in ((ordinal, "order-ordinal"), (culture, "order-culture")):
        auth = sdkutil.SharedKeyAuth(server.account, server.key, header_order=order)
        resp = raw("PUT", server.blob_url(container_name, name), auth=auth, data=b"y",
                   headers={"x-ms-blob-type": "BlockBlob", **md})
        assert resp.status_code == 201, f"{name}: {resp.status_code} {resp.text[:300]}"
        assert container.get_blob_client(name).get_blob_properties().metadata == want


def test_invalid_metadata_name_rejected(container):
    """Metadata names must be C# identifiers: a '-' gives 400 InvalidMetadata."""
    with pytest.raises(HttpResponseError) as e:
        container.get_blob_client("bad-md").upload_blob(b"x", metadata={"a-c": "1"})
    assert e.value.status_code == 400
    assert e.value.error_code == "InvalidMetadata"
    assert not container.get_blob_client("bad-md").exists()


def test_shared_key_lite(server, container_name, container):
    # Azurite 3.35 deviates: supports Shared Key Lite only for the Table service.
    container.get_blob_client("lite").upload_blob(b"lite")
    auth = sdkutil.SharedKeyLiteAuth(server.account, server.key)
    resp = raw("GET", server.blob_url(container_name, "lite"), auth=auth)
    assert resp.status_code == 200, resp.text
    assert resp.content == b"lite"
    resp = raw("GET", f"{server.container_url(container_name)}?restype=container&comp=list", auth=auth)
    assert resp.status_code == 200, resp.text
    resp = raw("PUT", server.blob_url(container_name, "lite2"), auth=auth, data=b"written",
               headers={"x-ms-blob-type": "BlockBlob", "Content-Type": "text/plain"})
    assert resp.status_code == 201, resp.text
    assert container.get_blob_client("lite2").download_blob().readall() == b"written"
    bad = sdkutil.SharedKeyLiteAuth(server.account, WRONG_KEY)
    assert_error(raw("GET", server.blob_url(container_name, "lite"), auth=bad), 403, "AuthenticationFailed")


def test_shared_key_stale_date_rejected(server, container_name, container):
    # Azurite 3.35 deviates: does not check the request date.
    container.get_blob_client("sk").upload_blob(b"x")
    auth = sdkutil.SharedKeyAuth(server.account, server.key)
    old = sdkutil.utcnow() - dt.timedelta(hours=1)
    resp = raw("GET", server.blob_url(container_name, "sk"), auth=auth,
               headers={"x-ms-date": old.strftime("%a, %d %b %Y %H:%M:%S GMT")})
    # The service refuses requests older than 15 minutes.
    assert_error(resp, 403, "AuthenticationFailed")


def test_no_credentials_on_private(server, container_name, container):
    # Azurite 3.35 deviates: anonymous access to private resources gives 403 AuthorizationFailure (real
    #   service: 404 ResourceNotFound).
    container.get_blob_client("p").upload_blob(b"private")
    # Anonymous requests to private resources: 404 ResourceNotFound (existence is not revealed).
    resp = raw("GET", server.blob_url(container_name, "p"))
    assert_error(resp, 404, "ResourceNotFound")
    resp = raw("GET", f"{server.container_url(container_name)}?restype=container&comp=list")
    assert_error(resp, 404, "ResourceNotFound")


# --- SAS -------------------------------------------------------------------------------------

def test_expired_sas_rejected(server, container_name, container):
    # Azurite 3.35 deviates: an expired SAS gives 403 AuthorizationFailure (real service:
    #   AuthenticationFailed).
    container.get_blob_client("e").upload_blob(b"x")
    expired = sdkutil.utcnow() - dt.timedelta(minutes=5)
    sas = server.blob_sas(container_name, "e", permission="r", expiry=expired,
                          start=expired - dt.timedelta(hours=1))
    resp = raw("GET", f"{server.blob_url(container_name, 'e')}?{sas}")
    assert_error(resp, 403, "AuthenticationFailed")

    blob = BlobClient.from_blob_url(f"{server.blob_url(container_name, 'e')}?{sas}", **SDK_CLIENT_KWARGS)
    with pytest.raises(ClientAuthenticationError) as e:
        blob.download_blob()
    assert e.value.error_code == "AuthenticationFailed"


def test_sas_not_yet_valid_rejected(server, container_name, container):
    # Azurite 3.35 deviates: gives 403 AuthorizationFailure (real service: AuthenticationFailed).
    container.get_blob_client("f").upload_blob(b"x")
    start = sdkutil.utcnow() + dt.timedelta(hours=1)
    sas = server.blob_sas(container_name, "f", permission="r", start=start,
                          expiry=start + dt.timedelta(hours=1))
    resp = raw("GET", f"{server.blob_url(container_name, 'f')}?{sas}")
    assert_error(resp, 403, "AuthenticationFailed")


def test_tampered_sas_rejected(server, container_name, container):
    # Azurite 3.35 deviates: gives 403 AuthorizationFailure (real service: AuthenticationFailed).
    container.get_blob_client("t").upload_blob(b"x")
    sas = server.blob_sas(container_name, "t", permission="r")
    # Ask for more permissions than were signed.
    tampered = sas.replace("sp=r", "sp=rw")
    assert tampered != sas
    resp = raw("PUT", f"{server.blob_url(container_name, 't')}?{tampered}",
               headers={"x-ms-blob-type": "BlockBlob"}, data=b"evil")
    assert_error(resp, 403, "AuthenticationFailed")


def test_sas_for_other_blob_rejected(server, container_name, container):
    # Azurite 3.35 deviates: gives 403 AuthorizationFailure (real service: AuthenticationFailed).
    container.get_blob_client("one").upload_blob(b"1")
    container.get_blob_client("two").upload_blob(b"2")
    sas = server.blob_sas(container_name, "one", permission="r")
    resp = raw("GET", f"{server.blob_url(container_name, 'two')}?{sas}")
    assert_error(resp, 403, "AuthenticationFailed")


def test_sas_without_permission(server, container_name, container):
    container.get_blob_client("ro").upload_blob(b"read only")
    sas = server.blob_sas(container_name, "ro", permission="r")
    url = f"{server.blob_url(container_name, 'ro')}?{sas}"
    assert raw("GET", url).content == b"read only"
    resp = raw("PUT", url, headers={"x-ms-blob-type": "BlockBlob"}, data=b"overwrite")
    assert_error(resp, 403, "AuthorizationPermissionMismatch")
    resp = raw("DELETE", url)
    assert_error(resp, 403, "AuthorizationPermissionMismatch")
    blob = BlobClient.from_blob_url(url, **SDK_CLIENT_KWARGS)
    with pytest.raises(HttpResponseError) as e:
        blob.upload_blob(b"x", overwrite=True)
    assert e.value.status_code == 403
    assert e.value.error_code == "AuthorizationPermissionMismatch"
    assert blob.download_blob().readall() == b"read only"

    # A container SAS with read but no list cannot list.
    csas = server.container_sas(container_name, permission="r")
    resp = raw("GET", f"{server.container_url(container_name)}?restype=container&comp=list&{csas}")
    assert_error(resp, 403, "AuthorizationPermissionMismatch")


def test_account_sas(server):
    sas = server.account_sas(permission="rwdlac", resource_types="sco")
    client = BlobServiceClient(server.url, credential=sas, **SDK_CLIENT_KWARGS)
    name = sdkutil.unique_name("acctsas")
    cc = client.create_container(name)
    try:
        cc.upload_blob("b", b"via account sas")
        assert cc.get_blob_client("b").download_blob().readall() == b"via account sas"
        assert name in [c.name for c in client.list_containers(name_starts_with=name)]
        assert [b.name for b in cc.list_blobs()] == ["b"]
        client.get_service_properties()
    finally:
        cc.delete_container()


def test_account_sas_limits(server, container_name, container):
    # Azurite 3.35 deviates: an expired account SAS gives AuthorizationFailure (real service:
    #   AuthenticationFailed).
    container.get_blob_client("b").upload_blob(b"x")
    # Object-only resource type: no container operations.
    sas = server.account_sas(permission="rl", resource_types="o")
    resp = raw("GET", f"{server.container_url(container_name)}?restype=container&comp=list&{sas}")
    assert resp.status_code == 403, resp.text
    assert resp.headers.get("x-ms-error-code") in ("AuthorizationResourceTypeMismatch",
                                                   "AuthorizationPermissionMismatch")
    assert raw("GET", f"{server.blob_url(container_name, 'b')}?{sas}").content == b"x"
    # Read-only: no writes.
    resp = raw("PUT", f"{server.blob_url(container_name, 'c')}?{sas}",
               headers={"x-ms-blob-type": "BlockBlob"}, data=b"y")
    assert_error(resp, 403, "AuthorizationPermissionMismatch")
    # Expired account SAS.
    old = server.account_sas(permission="rl", resource_types="sco",
                             expiry=sdkutil.utcnow() - dt.timedelta(minutes=5))
    resp = raw("GET", f"{server.blob_url(container_name, 'b')}?{old}")
    assert_error(resp, 403, "AuthenticationFailed")


def test_container_sas(server, container_name, container):
    container.get_blob_client("x/1").upload_blob(b"1")
    sas = server.container_sas(container_name, permission="rwl")
    cc = ContainerClient.from_container_url(f"{server.container_url(container_name)}?{sas}",
                                            **SDK_CLIENT_KWARGS)
    # The development account has a hierarchical namespace: "x" is a directory.
    assert [b.name for b in cc.list_blobs()] == ["x", "x/1"]
    cc.upload_blob("x/2", b"2")
    assert cc.get_blob_client("x/2").download_blob().readall() == b"2"
    with pytest.raises(HttpResponseError) as e:
        cc.get_blob_client("x/2").delete_blob()
    assert e.value.error_code == "AuthorizationPermissionMismatch"
    # The SAS is for this container only.
    other = sdkutil.unique_name("other")
    resp = raw("GET", f"{server.container_url(other)}?restype=container&comp=list&{sas}")
    assert resp.status_code == 403


def test_blob_sas(server, container_name, container):
    sas = server.blob_sas(container_name, "new blob", permission="cw")
    bc = BlobClient.from_blob_url(f"{server.blob_url(container_name, 'new blob')}?{sas}", **SDK_CLIENT_KWARGS)
    bc.upload_blob(b"created via blob sas")
    assert container.get_blob_client("new blob").download_blob().readall() == b"created via blob sas"
    with pytest.raises(HttpResponseError) as e:
        bc.download_blob()
    assert e.value.error_code == "AuthorizationPermissionMismatch"


def test_sas_response_header_overrides(server, container_name, container):
    container.get_blob_client("h").upload_blob(b"x")
    sas = server.blob_sas(container_name, "h", permission="r", content_type="text/x-override",
                          content_disposition="attachment; filename=o.txt", cache_control="no-cache")
    resp = raw("GET", f"{server.blob_url(container_name, 'h')}?{sas}")
    assert resp.status_code == 200
    # Azurite does not implement rscc/rscd/rsct (README); the real service does.
    assert resp.headers.get("Content-Type") == "text/x-override"
    assert resp.headers.get("Content-Disposition") == "attachment; filename=o.txt"
    assert resp.headers.get("Cache-Control") == "no-cache"


def test_stored_access_policy(server, container_name, container):
    # Azurite 3.35 deviates: a SAS naming a removed policy gives AuthorizationFailure (real service:
    #   AuthenticationFailed).
    container.get_blob_client("p").upload_blob(b"policy")
    expiry = sdkutil.utcnow() + dt.timedelta(hours=1)
    container.set_container_access_policy(
        {"readers": AccessPolicy(permission=ContainerSasPermissions(read=True, list=True), expiry=expiry)})
    # NB: the real service may take up to 30 s to apply a new policy; emulators apply it at once.
    sas = server.blob_sas(container_name, "p", permission=None, policy_id="readers")
    url = f"{server.blob_url(container_name, 'p')}?{sas}"
    assert raw("GET", url).content == b"policy"
    resp = raw("PUT", url, headers={"x-ms-blob-type": "BlockBlob"}, data=b"no")
    assert_error(resp, 403, "AuthorizationPermissionMismatch")

    csas = server.container_sas(container_name, permission=None, policy_id="readers")
    cc = ContainerClient.from_container_url(f"{server.container_url(container_name)}?{csas}",
                                            **SDK_CLIENT_KWARGS)
    assert [b.name for b in cc.list_blobs()] == ["p"]

    # Removing the policy revokes the SAS that names it.
    container.set_container_access_policy({})
    resp = raw("GET", url)
    assert_error(resp, 403, "AuthenticationFailed")


def test_stored_access_policy_unknown_id(server, container_name, container):
    # Azurite 3.35 deviates: gives AuthorizationFailure (real service: AuthenticationFailed).
    container.get_blob_client("p").upload_blob(b"policy")
    sas = server.blob_sas(container_name, "p", permission=None, policy_id="nosuchpolicy")
    resp = raw("GET", f"{server.blob_url(container_name, 'p')}?{sas}")
    assert_error(resp, 403, "AuthenticationFailed")


# --- anonymous access ------------------------------------------------------------------------

def _anon_blob(server, container_name, blob):
    return BlobClient.from_blob_url(server.blob_url(container_name, blob), **SDK_CLIENT_KWARGS)


def _anon_container(server, container_name):
    return ContainerClient.from_container_url(server.container_url(container_name), **SDK_CLIENT_KWARGS)


def test_anonymous_blob_access(server, container_name, container):
    # Azurite 3.35 deviates: anonymous listing of a blob-level public container gives 403
    #   AuthorizationFailure (real service: 404 ResourceNotFound).
    container.get_blob_client("pub").upload_blob(b"public bytes")
    container.set_container_access_policy({}, public_access="blob")
    anon = _anon_blob(server, container_name, "pub")
    assert anon.download_blob().readall() == b"public bytes"
    assert anon.get_blob_properties().size == len(b"public bytes")
    # Blob-level public access does not allow listing.
    resp = raw("GET", f"{server.container_url(container_name)}?restype=container&comp=list")
    assert_error(resp, 404, "ResourceNotFound")
    with pytest.raises(HttpResponseError):
        list(_anon_container(server, container_name).list_blobs())
    # Nor writing.
    resp = raw("PUT", server.blob_url(container_name, "anon-write"),
               headers={"x-ms-blob-type": "BlockBlob"}, data=b"x")
    assert resp.status_code in (403, 404), resp.status_code
    assert not container.get_blob_client("anon-write").exists()


def test_anonymous_container_access(server, container_name, container):
    container.get_blob_client("a").upload_blob(b"A")
    container.get_blob_client("b").upload_blob(b"B")
    container.set_container_access_policy({}, public_access="container")
    anon = _anon_container(server, container_name)
    assert [b.name for b in anon.list_blobs()] == ["a", "b"]
    assert anon.get_container_properties().name == container_name
    assert _anon_blob(server, container_name, "b").download_blob().readall() == b"B"
    resp = raw("DELETE", server.blob_url(container_name, "a"))
    assert resp.status_code in (403, 404), resp.status_code
    assert container.get_blob_client("a").exists()


def test_anonymous_private_container(server, container_name, container):
    # Azurite 3.35 deviates: gives 403 AuthorizationFailure (real service: 404 ResourceNotFound).
    container.get_blob_client("secret").upload_blob(b"S")
    anon = _anon_blob(server, container_name, "secret")
    with pytest.raises(HttpResponseError) as e:
        anon.download_blob()
    assert e.value.status_code == 404
    assert e.value.error_code == "ResourceNotFound"
    with pytest.raises(HttpResponseError) as e:
        list(_anon_container(server, container_name).list_blobs())
    assert e.value.status_code == 404


def test_anonymous_public_access_revoked(server, container_name, container):
    # Azurite 3.35 deviates: gives 403 AuthorizationFailure (real service: 404 ResourceNotFound).
    container.get_blob_client("pub").upload_blob(b"x")
    container.set_container_access_policy({}, public_access="container")
    assert raw("GET", server.blob_url(container_name, "pub")).status_code == 200
    container.set_container_access_policy({})
    assert_error(raw("GET", server.blob_url(container_name, "pub")), 404, "ResourceNotFound")


def test_anonymous_service_operations_refused(server):
    resp = raw("GET", f"{server.url}/?comp=list")
    assert resp.status_code in (403, 404), resp.status_code
    assert resp.headers.get("x-ms-error-code")
