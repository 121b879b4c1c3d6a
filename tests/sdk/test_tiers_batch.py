"""Access tiers (Set Blob Tier, tier on upload, archive and rehydration, tier properties in
reads and listings) and Blob Batch (delete and set-tier sub-requests, each authorized on its
own), with their failure paths."""

import time

import pytest
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import BlobBlock, StandardBlobTier

# The server's rehydration delay for these tests (LAZULI_REHYDRATE_DELAY_MS).
REHYDRATE_MS = 1500



@pytest.fixture
def tcontainer(start_server, request):
    srv = start_server(env={"LAZULI_REHYDRATE_DELAY_MS": str(REHYDRATE_MS)})
    svc = srv.service_client()
    c = svc.get_container_client("tiers")
    c.create_container()
    c.server = srv
    return c


def test_default_tier_is_inferred_hot(container):
    blob = container.get_blob_client("t")
    blob.upload_blob(b"x")
    props = blob.get_blob_properties()
    assert props.blob_tier == "Hot"
    assert props.blob_tier_inferred is True
    listed = next(iter(container.list_blobs()))
    assert listed.blob_tier == "Hot"


def test_set_tier_and_upload_tier(container):
    blob = container.get_blob_client("t")
    blob.upload_blob(b"x", standard_blob_tier=StandardBlobTier.COOL)
    props = blob.get_blob_properties()
    etag = props.etag
    assert props.blob_tier == "Cool"
    assert not props.blob_tier_inferred
    assert props.blob_tier_change_time is not None
    blob.set_standard_blob_tier("Cold")
    props = blob.get_blob_properties()
    assert props.blob_tier == "Cold"
    assert props.etag == etag
    assert blob.download_blob().readall() == b"x"
    other = container.get_blob_client("t2")
    other.stage_block("QUE=", b"abc")
    other.commit_block_list([BlobBlock("QUE=")], standard_blob_tier=StandardBlobTier.COOL)
    assert other.get_blob_properties().blob_tier == "Cool"
    listed = {b.name: b for b in container.list_blobs()}
    assert listed["t"].blob_tier == "Cold"
    assert listed["t2"].blob_tier == "Cool"


def test_invalid_tier(container):
    blob = container.get_blob_client("t")
    blob.upload_blob(b"x")
    with pytest.raises(HttpResponseError) as e:
        blob.set_standard_blob_tier("Lukewarm")
    assert e.value.status_code == 400
    with pytest.raises(HttpResponseError) as e:
        container.get_blob_client("missing").set_standard_blob_tier("Cool")
    assert e.value.status_code == 404


def test_archive_and_rehydrate(tcontainer):
    blob = tcontainer.get_blob_client("cold-storage")
    blob.upload_blob(b"frozen")
    blob.set_standard_blob_tier("Archive")
    props = blob.get_blob_properties()
    assert props.blob_tier == "Archive"
    # The content of an archived blob cannot be read; its properties can.
    with pytest.raises(HttpResponseError) as e:
        blob.download_blob().readall()
    assert e.value.status_code == 409
    assert e.value.error_code == "BlobArchived"
    blob.set_standard_blob_tier("Hot", rehydrate_priority="Standard")
    props = blob.get_blob_properties()
    assert props.blob_tier == "Archive"
    assert props.archive_status == "rehydrate-pending-to-hot"
    listed = next(iter(tcontainer.list_blobs()))
    assert listed.archive_status == "rehydrate-pending-to-hot"
    # Rehydrating to another tier than the pending one is refused.
    with pytest.raises(HttpResponseError) as e:
        blob.set_standard_blob_tier("Cool")
    assert e.value.status_code == 409
    # Completion survives a restart.
    tcontainer.server.stop()
    tcontainer.server.start()
    blob = tcontainer.server.service_client().get_blob_client("tiers", "cold-storage")
    deadline = time.monotonic() + 10
    while blob.get_blob_properties().blob_tier != "Hot" and time.monotonic() < deadline:
        time.sleep(0.2)
    props = blob.get_blob_properties()
    assert props.blob_tier == "Hot"
    assert props.archive_status is None
    assert blob.download_blob().readall() == b"frozen"


def test_batch_delete_and_set_tier(container):
    for n in ("b1", "b2", "b3", "b4"):
        container.upload_blob(n, b"x")
    replies = list(container.delete_blobs("b1", "b2"))
    assert [r.status_code for r in replies] == [202, 202]
    assert sorted(b.name for b in container.list_blobs()) == ["b3", "b4"]
    replies = list(container.set_standard_blob_tier_blobs("Cool", "b3", "b4"))
    assert [r.status_code for r in replies] == [200, 200]
    assert {b.name: b.blob_tier for b in container.list_blobs()} == {"b3": "Cool", "b4": "Cool"}


def test_batch_account_level_and_sas(server, service, container):
    for n in ("s1", "s2"):
        container.upload_blob(n, b"x")
    from azure.storage.blob import BlobServiceClient
    sas = server.account_sas(permission="rwdl", resource_types="sco")
    svc = BlobServiceClient(server.url, credential=sas)
    svc.get_container_client(container.container_name).delete_blobs("s1")
    assert [b.name for b in container.list_blobs()] == ["s2"]
    # Sub-requests are authorized on their own: a SAS without delete permission fails each.
    weak = BlobServiceClient(server.url, credential=server.account_sas(permission="rl", resource_types="sco"))
    with pytest.raises(HttpResponseError) as e:
        weak.get_container_client(container.container_name).delete_blobs("s2")
    assert [b.name for b in container.list_blobs()] == ["s2"]
    parts = list(e.value.parts)
    assert parts[0].status_code == 403


def test_batch_with_a_bad_sub_request(container):
    container.upload_blob("ok", b"x")
    with pytest.raises(HttpResponseError) as e:
        container.delete_blobs("ok", "missing")
    parts = list(e.value.parts)
    assert [p.status_code for p in parts] == [202, 404]
    assert parts[1].headers["x-ms-error-code"] == "BlobNotFound"
    assert not list(container.list_blobs())
    # Without raising, each reply is returned in order.
    container.upload_blob("again", b"x")
    replies = list(container.delete_blobs("nope", "again", raise_on_any_failure=False))
    assert [r.status_code for r in replies] == [404, 202]
    # More than 256 sub-requests are refused by the SDK or the server.
    with pytest.raises((HttpResponseError, ValueError)):
        container.delete_blobs(*[f"n{i}" for i in range(257)])
