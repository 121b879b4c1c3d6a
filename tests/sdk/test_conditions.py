"""Conditional requests: If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since.

Reads (Get Blob, Get Blob Properties) follow HTTP/1.1: a failed If-None-Match or If-Modified-Since
answers 304 Not Modified, a failed If-Match or If-Unmodified-Since 412 ConditionNotMet. Writes always
answer 412 ConditionNotMet (Microsoft docs, 'Specifying conditional headers for Blob service
operations'). The service puts x-ms-error-code: ConditionNotMet on the 304 too, which is why the
Python SDK raises ResourceModifiedError (not ResourceNotModifiedError) for it: Microsoft's own
recorded SDK tests expect error_code ConditionNotMet for download_blob with a matching
If-None-Match. So read tests check the status code and catch HttpResponseError.

Azurite deviations seen (3.35): a ranged Get Blob (what download_blob sends) with a failed
If-None-Match / If-Modified-Since answers 412 instead of 304; a 304 carries no ETag.
"""

import datetime as dt

import pytest
from azure.core import MatchConditions
from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)

import sdkutil
from sdkutil import raw

PAST = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
FUTURE = dt.datetime(2099, 1, 1, tzinfo=dt.timezone.utc)
WRONG_ETAG = '"0x8D0000000000000"'


@pytest.fixture
def blob(container):
    b = container.get_blob_client("cond")
    b.upload_blob(b"v1")
    return b


def test_download_if_match(blob):
    etag = blob.get_blob_properties().etag
    assert blob.download_blob(etag=etag, match_condition=MatchConditions.IfNotModified).readall() == b"v1"
    with pytest.raises(ResourceModifiedError) as e:
        blob.download_blob(etag=WRONG_ETAG, match_condition=MatchConditions.IfNotModified)
    assert e.value.status_code == 412
    assert e.value.error_code == "ConditionNotMet"


def test_download_if_match_star(blob, container):
    # Azurite 3.35 deviates: fails If-Match: * on an existing blob with 412.
    assert blob.download_blob(match_condition=MatchConditions.IfPresent).readall() == b"v1"
    # On a missing blob If-Match: * cannot hold, but the missing blob is reported first.
    with pytest.raises(ResourceNotFoundError):
        container.get_blob_client("missing").download_blob(match_condition=MatchConditions.IfPresent)


def test_download_if_none_match(blob):
    etag = blob.get_blob_properties().etag
    with pytest.raises(HttpResponseError) as e:
        blob.download_blob(etag=etag, match_condition=MatchConditions.IfModified)
    assert e.value.status_code == 304
    assert e.value.error_code == "ConditionNotMet"
    assert blob.download_blob(etag=WRONG_ETAG, match_condition=MatchConditions.IfModified).readall() == b"v1"


def test_download_if_modified_since(blob):
    assert blob.download_blob(if_modified_since=PAST).readall() == b"v1"
    with pytest.raises(HttpResponseError) as e:
        blob.download_blob(if_modified_since=FUTURE)
    assert e.value.status_code == 304


def test_download_if_unmodified_since(blob):
    assert blob.download_blob(if_unmodified_since=FUTURE).readall() == b"v1"
    with pytest.raises(ResourceModifiedError) as e:
        blob.download_blob(if_unmodified_since=PAST)
    assert e.value.status_code == 412
    assert e.value.error_code == "ConditionNotMet"


def test_properties_conditions(blob):
    etag = blob.get_blob_properties().etag
    with pytest.raises(ResourceModifiedError) as e:
        blob.get_blob_properties(etag=WRONG_ETAG, match_condition=MatchConditions.IfNotModified)
    assert e.value.status_code == 412
    with pytest.raises(HttpResponseError) as e:
        blob.get_blob_properties(etag=etag, match_condition=MatchConditions.IfModified)
    assert e.value.status_code == 304
    with pytest.raises(HttpResponseError) as e:
        blob.get_blob_properties(if_modified_since=FUTURE)
    assert e.value.status_code == 304
    with pytest.raises(HttpResponseError) as e:
        blob.get_blob_properties(if_unmodified_since=PAST)
    assert e.value.status_code == 412


def test_upload_if_match(blob):
    etag = blob.get_blob_properties().etag
    with pytest.raises(ResourceModifiedError) as e:
        blob.upload_blob(b"v2", overwrite=True, etag=WRONG_ETAG, match_condition=MatchConditions.IfNotModified)
    assert e.value.status_code == 412
    assert e.value.error_code == "ConditionNotMet"
    assert blob.download_blob().readall() == b"v1"
    blob.upload_blob(b"v2", overwrite=True, etag=etag, match_condition=MatchConditions.IfNotModified)
    assert blob.download_blob().readall() == b"v2"
    # The old ETag is stale now.
    with pytest.raises(ResourceModifiedError):
        blob.upload_blob(b"v3", overwrite=True, etag=etag, match_condition=MatchConditions.IfNotModified)
    assert blob.download_blob().readall() == b"v2"


def test_upload_if_none_match(blob):
    etag = blob.get_blob_properties().etag
    with pytest.raises(ResourceModifiedError) as e:
        blob.upload_blob(b"v2", overwrite=True, etag=etag, match_condition=MatchConditions.IfModified)
    assert e.value.status_code == 412
    assert e.value.error_code == "ConditionNotMet"
    blob.upload_blob(b"v2", overwrite=True, etag=WRONG_ETAG, match_condition=MatchConditions.IfModified)
    assert blob.download_blob().readall() == b"v2"


def test_upload_if_none_match_star(blob, container):
    # If-None-Match: * on an existing blob: 409 BlobAlreadyExists (what overwrite=False sends).
    with pytest.raises(ResourceExistsError) as e:
        blob.upload_blob(b"v2", overwrite=True, match_condition=MatchConditions.IfMissing)
    assert e.value.status_code == 409
    assert e.value.error_code == "BlobAlreadyExists"
    fresh = container.get_blob_client("fresh")
    fresh.upload_blob(b"new", overwrite=True, match_condition=MatchConditions.IfMissing)
    assert fresh.download_blob().readall() == b"new"


def test_upload_if_match_star_on_missing(container):
    # Azurite 3.35 deviates: creates the blob despite If-Match: *.
    missing = container.get_blob_client("missing-star")
    with pytest.raises(HttpResponseError) as e:
        missing.upload_blob(b"x", overwrite=True, match_condition=MatchConditions.IfPresent)
    # The real service answers 412 ConditionNotMet for If-Match on a missing blob; some
    # versions say 404 BlobNotFound.
    assert e.value.status_code in (412, 404)
    assert not missing.exists()


def test_upload_if_modified_since(blob):
    with pytest.raises(ResourceModifiedError) as e:
        blob.upload_blob(b"v2", overwrite=True, if_modified_since=FUTURE)
    # A write never answers 304.
    assert e.value.status_code == 412
    assert e.value.error_code == "ConditionNotMet"
    blob.upload_blob(b"v2", overwrite=True, if_modified_since=PAST)
    assert blob.download_blob().readall() == b"v2"


def test_upload_if_unmodified_since(blob):
    with pytest.raises(ResourceModifiedError) as e:
        blob.upload_blob(b"v2", overwrite=True, if_unmodified_since=PAST)
    assert e.value.status_code == 412
    assert e.value.error_code == "ConditionNotMet"
    blob.upload_blob(b"v2", overwrite=True, if_unmodified_since=FUTURE)
    assert blob.download_blob().readall() == b"v2"


def test_metadata_and_delete_conditions(blob):
    etag = blob.get_blob_properties().etag
    with pytest.raises(ResourceModifiedError):
        blob.set_blob_metadata({"a": "b"}, etag=WRONG_ETAG, match_condition=MatchConditions.IfNotModified)
    blob.set_blob_metadata({"a": "b"}, etag=etag, match_condition=MatchConditions.IfNotModified)
    with pytest.raises(ResourceModifiedError):
        blob.delete_blob(etag=etag, match_condition=MatchConditions.IfNotModified)  # stale now
    assert blob.exists()
    blob.delete_blob(etag=blob.get_blob_properties().etag, match_condition=MatchConditions.IfNotModified)
    assert not blob.exists()


def test_commit_block_list_conditions(blob):
    blob.stage_block("c1", b"committed")
    with pytest.raises(ResourceModifiedError) as e:
        blob.commit_block_list(["c1"], etag=WRONG_ETAG, match_condition=MatchConditions.IfNotModified)
    assert e.value.status_code == 412
    assert blob.download_blob().readall() == b"v1"


def test_container_conditions(container):
    props = container.get_container_properties()
    with pytest.raises(ResourceModifiedError) as e:
        container.set_container_metadata({"a": "1"}, if_modified_since=FUTURE)
    assert e.value.status_code == 412
    container.set_container_metadata({"a": "1"}, if_modified_since=PAST)
    with pytest.raises(ResourceModifiedError):
        container.delete_container(if_unmodified_since=PAST)
    assert container.exists()
    assert props.etag


def test_raw_condition_headers(server, container_name, blob):
    """The same through raw HTTP, where the status codes and headers are visible."""
    url = server.blob_sas_url(container_name, "cond", permission="r")
    etag = blob.get_blob_properties().etag
    resp = raw("GET", url, headers={"If-None-Match": etag})
    assert resp.status_code == 304
    assert resp.content == b""
    resp = raw("GET", url, headers={"If-None-Match": etag, "x-ms-range": "bytes=0-0"})
    assert resp.status_code == 304, "ranged reads follow the same rule"
    resp = raw("GET", url, headers={"If-Match": WRONG_ETAG})
    sdkutil.assert_error(resp, 412, "ConditionNotMet")
    resp = raw("GET", url, headers={"If-Modified-Since": "Thu, 01 Jan 2099 00:00:00 GMT"})
    assert resp.status_code == 304
    resp = raw("GET", url, headers={"If-Unmodified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"})
    sdkutil.assert_error(resp, 412, "ConditionNotMet")
