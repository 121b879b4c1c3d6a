"""User delegation: Get User Delegation Key behind a bearer token (static test tokens from
LAZULI_TEST_BEARER_TOKENS), user delegation SAS signed with that key (verified again after a
restart: the key is derived, not stored), and the failure paths."""

import datetime as dt
import xml.etree.ElementTree as ET

import pytest
import requests
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import (BlobClient, BlobSasPermissions, ContainerClient, ContainerSasPermissions,
                                UserDelegationKey, generate_blob_sas, generate_container_sas)

import sdkutil

TOKENS = {"LAZULI_TEST_BEARER_TOKENS": "token-alice=11111111-aaaa-bbbb-cccc-000000000001,token-bob=oid-bob"}


def get_key(server, token, expiry_hours=1, start=None):
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    start_xml = f"<Start>{(start or now - dt.timedelta(minutes=5)).strftime('%Y-%m-%dT%H:%M:%SZ')}</Start>"
    expiry = (now + dt.timedelta(hours=expiry_hours)).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = f"<?xml version=\"1.0\" encoding=\"utf-8\"?><KeyInfo>{start_xml}<Expiry>{expiry}</Expiry></KeyInfo>"
    headers = {"x-ms-version": "2025-11-05", "Content-Type": "application/xml"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return requests.post(f"{server.url}/?restype=service&comp=userdelegationkey", data=body.encode(),
                         headers=headers, timeout=10)


def to_key(resp):
    root = ET.fromstring(resp.content)
    key = UserDelegationKey()
    key.signed_oid = root.findtext("SignedOid")
    key.signed_tid = root.findtext("SignedTid")
    key.signed_start = root.findtext("SignedStart")
    key.signed_expiry = root.findtext("SignedExpiry")
    key.signed_service = root.findtext("SignedService")
    key.signed_version = root.findtext("SignedVersion")
    key.value = root.findtext("Value")
    return key


@pytest.fixture
def ud_server(start_server):
    srv = start_server(env=TOKENS)
    c = srv.service_client().get_container_client("udc")
    c.create_container()
    c.upload_blob("secret.txt", b"delegated")
    return srv


def blob_sas(srv, key, permission="r", hours=1):
    return generate_blob_sas(srv.account, "udc", "secret.txt", user_delegation_key=key,
                             permission=BlobSasPermissions.from_string(permission),
                             expiry=dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=hours))


def test_key_and_blob_sas(ud_server):
    resp = get_key(ud_server, "token-alice")
    assert resp.status_code == 200, resp.text
    key = to_key(resp)
    assert key.signed_oid == "11111111-aaaa-bbbb-cccc-000000000001"
    assert key.signed_service == "b"
    sas = blob_sas(ud_server, key)
    blob = BlobClient.from_blob_url(f"{ud_server.url}/udc/secret.txt?{sas}")
    assert blob.download_blob().readall() == b"delegated"
    # The SAS grants reading only.
    with pytest.raises(HttpResponseError) as e:
        blob.upload_blob(b"x", overwrite=True)
    assert e.value.status_code == 403
    # A container SAS with list and write.
    csas = generate_container_sas(ud_server.account, "udc", user_delegation_key=key,
                                  permission=ContainerSasPermissions(read=True, write=True, list=True),
                                  expiry=dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1))
    container = ContainerClient.from_container_url(f"{ud_server.url}/udc?{csas}")
    container.upload_blob("new.txt", b"written")
    assert sorted(b.name for b in container.list_blobs()) == ["new.txt", "secret.txt"]


def test_sas_survives_restart(ud_server):
    key = to_key(get_key(ud_server, "token-bob"))
    sas = blob_sas(ud_server, key)
    ud_server.stop()
    ud_server.start()
    blob = BlobClient.from_blob_url(f"{ud_server.url}/udc/secret.txt?{sas}")
    assert blob.download_blob().readall() == b"delegated"


def test_key_refusals(ud_server):
    # No token, an unknown token, the account key: refused.
    assert get_key(ud_server, None).status_code in (401, 403, 404)
    bad = get_key(ud_server, "token-mallory")
    assert bad.status_code in (401, 403)
    svc = ud_server.service_client()
    with pytest.raises(HttpResponseError) as e:
        svc.get_user_delegation_key(dt.datetime.now(dt.timezone.utc),
                                    dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1))
    assert e.value.status_code == 403
    # Keys live at most seven days.
    assert get_key(ud_server, "token-alice", expiry_hours=24 * 8).status_code == 400


def test_forged_and_expired_sas(ud_server):
    key = to_key(get_key(ud_server, "token-alice"))
    # A key whose value was not issued by the server.
    forged = to_key(get_key(ud_server, "token-alice"))
    forged.value = sdkutil.b64(b"\0" * 32)
    blob = BlobClient.from_blob_url(f"{ud_server.url}/udc/secret.txt?{blob_sas(ud_server, forged)}")
    with pytest.raises(HttpResponseError) as e:
        blob.download_blob().readall()
    assert e.value.status_code == 403
    assert e.value.error_code == "AuthenticationFailed"
    # Changing a signed key field (the object id) breaks the signature.
    tampered = to_key(get_key(ud_server, "token-alice"))
    tampered.signed_oid = "oid-bob"
    blob = BlobClient.from_blob_url(f"{ud_server.url}/udc/secret.txt?{blob_sas(ud_server, tampered)}")
    with pytest.raises(HttpResponseError) as e:
        blob.download_blob().readall()
    assert e.value.status_code == 403
    # An expired SAS.
    expired = blob_sas(ud_server, key, hours=-1)
    blob = BlobClient.from_blob_url(f"{ud_server.url}/udc/secret.txt?{expired}")
    with pytest.raises(HttpResponseError) as e:
        blob.download_blob().readall()
    assert e.value.status_code == 403
