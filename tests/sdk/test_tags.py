"""Blob index tags: Set/Get Blob Tags, x-ms-tags on uploads, x-ms-if-tags, listings with
include=tags, and Find Blobs by Tags (account and container level) with its grammar and
continuation, plus the failure paths."""

import pytest
from azure.core.exceptions import HttpResponseError, ResourceModifiedError
from azure.storage.blob import BlobBlock

import sdkutil


def test_set_get_and_tag_count(container):
    blob = container.get_blob_client("t1")
    blob.upload_blob(b"x")
    etag = blob.get_blob_properties().etag
    blob.set_blob_tags({"project": "lazuli", "tier": "gold"})
    assert blob.get_blob_tags() == {"project": "lazuli", "tier": "gold"}
    props = blob.get_blob_properties()
    assert props.tag_count == 2
    # Setting tags changes neither the ETag nor the content.
    assert props.etag == etag
    blob.set_blob_tags({})
    assert blob.get_blob_tags() == {}
    assert not blob.get_blob_properties().tag_count


def test_tags_on_upload_and_commit(container):
    blob = container.get_blob_client("t2")
    blob.upload_blob(b"x", tags={"a b": "c+d", "k": "v/1:2=3_4.5-6"})
    assert blob.get_blob_tags() == {"a b": "c+d", "k": "v/1:2=3_4.5-6"}
    # An overwrite without tags drops them.
    blob.upload_blob(b"y", overwrite=True)
    assert blob.get_blob_tags() == {}
    blob.stage_block("QUE=", b"abc")
    blob.commit_block_list([BlobBlock("QUE=")], tags={"committed": "yes"})
    assert blob.get_blob_tags() == {"committed": "yes"}


def test_invalid_tags(container):
    blob = container.get_blob_client("t3")
    blob.upload_blob(b"x")
    too_many = {f"k{i}": "v" for i in range(11)}
    with pytest.raises(HttpResponseError) as e:
        blob.set_blob_tags(too_many)
    assert e.value.status_code == 400
    with pytest.raises(HttpResponseError) as e:
        blob.set_blob_tags({"bad!": "v"})
    assert e.value.status_code == 400
    with pytest.raises(HttpResponseError) as e:
        container.get_blob_client("t3b").upload_blob(b"x", tags={"k": "v" * 257})
    assert e.value.status_code == 400
    with pytest.raises(HttpResponseError) as e:
        container.get_blob_client("missing").set_blob_tags({"k": "v"})
    assert e.value.status_code == 404


def test_if_tags_conditions(container):
    blob = container.get_blob_client("t4")
    blob.upload_blob(b"x", tags={"state": "draft"})
    assert blob.download_blob(if_tags_match_condition="\"state\" = 'draft'").readall() == b"x"
    with pytest.raises((HttpResponseError, ResourceModifiedError)) as e:
        blob.download_blob(if_tags_match_condition="\"state\" = 'final'").readall()
    assert e.value.status_code == 412
    with pytest.raises((HttpResponseError, ResourceModifiedError)) as e:
        blob.upload_blob(b"y", overwrite=True, if_tags_match_condition="\"state\" <> 'draft'")
    assert e.value.status_code == 412
    blob.upload_blob(b"y", overwrite=True, if_tags_match_condition="\"state\" = 'draft' OR \"x\" = '1'")
    assert blob.download_blob().readall() == b"y"
    blob.set_blob_tags({"state": "final"})
    with pytest.raises((HttpResponseError, ResourceModifiedError)) as e:
        blob.set_blob_tags({"state": "x"}, if_tags_match_condition="\"state\" = 'draft'")
    assert e.value.status_code == 412
    with pytest.raises((HttpResponseError, ResourceModifiedError)) as e:
        blob.delete_blob(if_tags_match_condition="\"state\" = 'draft'")
    assert e.value.status_code == 412
    # A malformed condition is a bad header, not a failed condition.
    with pytest.raises(HttpResponseError) as e:
        blob.get_blob_properties(if_tags_match_condition="state = draft")
    assert e.value.status_code == 400
    blob.delete_blob(if_tags_match_condition="\"state\" = 'final'")


def test_list_include_tags(container):
    container.upload_blob("l1", b"x", tags={"a": "1"})
    container.upload_blob("l2", b"x")
    listed = {b.name: b for b in container.list_blobs(include=["tags"])}
    assert listed["l1"].tags == {"a": "1"}
    assert listed["l1"].tag_count == 1
    assert not listed["l2"].tags
    plain = {b.name: b for b in container.list_blobs()}
    assert not plain["l1"].tags


def test_find_blobs_by_tags(service, container):
    tag = sdkutil.unique_name("find", 30).replace("-", "")
    other = service.get_container_client(sdkutil.unique_name("findother"))
    other.create_container()
    try:
        container.upload_blob("b1", b"x", tags={tag: "10", "color": "red"})
        container.upload_blob("b2", b"x", tags={tag: "20", "color": "blue"})
        container.upload_blob("b3", b"x", tags={tag: "30", "color": "red"})
        other.upload_blob("o1", b"x", tags={tag: "10", "color": "red"})

        def names(it):
            return sorted((b.container_name, b.name) for b in it)

        c, o = container.container_name, other.container_name
        assert names(service.find_blobs_by_tags(f"\"{tag}\" = '10'")) == sorted([(c, "b1"), (o, "o1")])
        assert names(service.find_blobs_by_tags(f"\"{tag}\" > '10' AND \"{tag}\" <= '30'")) == [(c, "b2"), (c, "b3")]
        assert names(service.find_blobs_by_tags(f"\"{tag}\" >= '20' AND \"color\" = 'red'")) == [(c, "b3")]
        assert names(service.find_blobs_by_tags(f"\"{tag}\" < '20'")) == sorted([(c, "b1"), (o, "o1")])
        assert names(service.find_blobs_by_tags(f"@container = '{o}' AND \"{tag}\" = '10'")) == [(o, "o1")]
        # Container level.
        assert names(container.find_blobs_by_tags(f"\"{tag}\" = '10'")) == [(c, "b1")]
        # The results carry the tags the expression names.
        found = list(service.find_blobs_by_tags(f"\"{tag}\" = '20'"))
        assert found[0].tags == {tag: "20"}
        # Continuation, one result per page.
        pages = service.find_blobs_by_tags(f"\"{tag}\" >= '0'", results_per_page=1).by_page()
        seen = [(b.container_name, b.name) for page in pages for b in page]
        assert sorted(seen) == sorted([(c, "b1"), (c, "b2"), (c, "b3"), (o, "o1")])
        assert len(seen) == 4
        # Changes are visible at once: retag, overwrite, delete.
        container.get_blob_client("b1").set_blob_tags({tag: "99"})
        container.upload_blob("b2", b"y", overwrite=True)
        container.delete_blob("b3")
        assert names(service.find_blobs_by_tags(f"\"{tag}\" >= '0'")) == sorted([(c, "b1"), (o, "o1")])
        other.delete_container()
        assert names(service.find_blobs_by_tags(f"\"{tag}\" >= '0'")) == [(c, "b1")]
    finally:
        try:
            other.delete_container()
        except HttpResponseError:
            pass


@pytest.mark.parametrize("expr", [
    "project = 'x'",
    "\"project\" = \"x\"",
    "\"a\" = 'x' OR \"b\" = 'y'",
    "\"a\" = 'x' AND",
    "\"a\" == 'x'",
    "\"a\" = 'x",
    "@container > 'c'",
    " AND ".join(f"\"k{i}\" = 'v'" for i in range(11)),
])
def test_find_blobs_syntax_errors(service, expr):
    with pytest.raises(HttpResponseError) as e:
        list(service.find_blobs_by_tags(expr))
    assert e.value.status_code == 400
    assert e.value.error_code == "InvalidQueryParameterValue"


def test_tags_survive_restart(start_server):
    srv = start_server()
    svc = srv.service_client()
    c = svc.get_container_client("tagsrestart")
    c.create_container()
    c.upload_blob("r1", b"x", tags={"keep": "me"})
    c.upload_blob("r2", b"x", tags={"keep": "me"})
    c.delete_blob("r2")
    srv.stop()
    srv.start()
    svc = srv.service_client()
    c = svc.get_container_client("tagsrestart")
    assert c.get_blob_client("r1").get_blob_tags() == {"keep": "me"}
    assert [b.name for b in svc.find_blobs_by_tags("\"keep\" = 'me'")] == ["r1"]
