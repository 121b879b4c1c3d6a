"""The Blob API on an account with a hierarchical namespace (the development account's default).

One namespace, two views: blob writes create the parent directories, listings show directories
as empty blobs with `hdi_isfolder=true` (and, with a delimiter, both as a blob and as a
prefix, as the service answers), DFS sees what Blob wrote and the other way round.
"""

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.storage.blob import BlobPrefix

import sdkutil

datalake = pytest.importorskip("azure.storage.filedatalake")

TREE = ["a/1", "a/2", "a/b/3", "c", "d/4", "d/5/6"]
# Flat listing order: every path, directories included, depth first in name order.
FLAT = ["a", "a/1", "a/2", "a/b", "a/b/3", "c", "d", "d/4", "d/5", "d/5/6"]
DIRECTORIES = {"a", "a/b", "d", "d/5"}


@pytest.fixture
def tree(container):
    for i, name in enumerate(TREE):
        container.upload_blob(name, name.encode() * (i + 1), metadata={"n": str(i)})
    return container


@pytest.fixture
def fs_client(server, container):
    dls = datalake.DataLakeServiceClient.from_connection_string(server.conn_str, **sdkutil.SDK_CLIENT_KWARGS)
    return dls.get_file_system_client(container.container_name)


def test_account_is_hns_by_default(server):
    assert server.service_client().get_account_information()["is_hns_enabled"] in (True, "true")


def test_flat_listing_shows_directories(tree):
    blobs = list(tree.list_blobs(include=["metadata"]))
    assert [b.name for b in blobs] == FLAT
    for b in blobs:
        if b.name in DIRECTORIES:
            assert b.metadata == {"hdi_isfolder": "true"} and b.size == 0
        else:
            assert b.metadata == {"n": str(TREE.index(b.name))}
            assert b.size == len(b.name) * (TREE.index(b.name) + 1)


def test_listing_prefix_and_pages(tree):
    assert [b.name for b in tree.list_blobs(name_starts_with="a/")] == ["a/1", "a/2", "a/b", "a/b/3"]
    assert [b.name for b in tree.list_blobs(name_starts_with="d")] == ["d", "d/4", "d/5", "d/5/6"]
    assert [b.name for b in tree.list_blobs(name_starts_with="zzz")] == []
    pager = tree.list_blobs(results_per_page=3).by_page()
    pages = [[b.name for b in page] for page in pager]
    assert pages == [FLAT[0:3], FLAT[3:6], FLAT[6:9], FLAT[9:]]


def test_delimiter_listing_shows_directory_as_blob_and_prefix(tree):
    top = sorted((x.name, type(x).__name__) for x in tree.walk_blobs(delimiter="/"))
    assert top == [("a", "BlobProperties"), ("a/", "BlobPrefix"), ("c", "BlobProperties"),
                   ("d", "BlobProperties"), ("d/", "BlobPrefix")]
    a = next(x for x in tree.walk_blobs(delimiter="/") if x.name == "a/")
    assert isinstance(a, BlobPrefix)
    assert sorted(x.name for x in a) == ["a/1", "a/2", "a/b", "a/b/"]
    paged = tree.walk_blobs(name_starts_with="d/", delimiter="/", results_per_page=1).by_page()
    assert [sorted(x.name for x in page) for page in paged] == [["d/4"], ["d/5", "d/5/"]]


def test_blob_writes_create_directories_seen_by_dfs(tree, fs_client):
    assert fs_client.get_directory_client("d/5").exists()
    paths = [(p.name, p.is_directory) for p in fs_client.get_paths(recursive=True)]
    assert paths == [(n, n in DIRECTORIES) for n in FLAT]
    assert fs_client.get_file_client("a/b/3").download_file().readall() == b"a/b/3" * 3


def test_dfs_files_are_blobs(container, fs_client):
    f = fs_client.create_file("x/y/z.txt")
    f.append_data(b"through dfs", 0)
    f.flush_data(11)
    blob = container.get_blob_client("x/y/z.txt")
    assert blob.download_blob().readall() == b"through dfs"
    assert blob.get_blob_properties().size == 11
    # A rename moves the blob with its directory.
    fs_client.get_directory_client("x").rename_directory(f"{container.container_name}/moved")
    with pytest.raises(ResourceNotFoundError):
        blob.get_blob_properties()
    assert container.get_blob_client("moved/y/z.txt").download_blob().readall() == b"through dfs"


def test_folder_marker_blob_is_a_directory(container, fs_client):
    container.upload_blob("made/by/blob", b"", metadata={"hdi_isfolder": "true"})
    assert fs_client.get_directory_client("made/by/blob").exists()
    paths = [(p.name, p.is_directory) for p in fs_client.get_paths(recursive=True)]
    assert paths == [("made", True), ("made/by", True), ("made/by/blob", True)]
    props = container.get_blob_client("made/by/blob").get_blob_properties()
    assert props.metadata == {"hdi_isfolder": "true"} and props.size == 0


def test_directory_conflicts(tree):
    # Data onto a directory, a blob under a file, and deleting a non-empty directory: 409.
    with pytest.raises(HttpResponseError) as e:
        tree.upload_blob("a", b"data", overwrite=True)
    assert e.value.status_code == 409
    with pytest.raises(HttpResponseError) as e:
        tree.upload_blob("c/under-a-file", b"data")
    assert e.value.status_code == 409
    with pytest.raises(HttpResponseError) as e:
        tree.delete_blob("a")
    assert (e.value.status_code, e.value.error_code) == (409, "DirectoryNotEmpty")
    # An empty directory goes; a missing blob is BlobNotFound as on any account.
    tree.delete_blob("d/5/6")
    tree.delete_blob("d/5")
    assert [b.name for b in tree.list_blobs(name_starts_with="d")] == ["d", "d/4"]
    with pytest.raises(ResourceNotFoundError) as e:
        tree.delete_blob("d/5")
    assert e.value.error_code == "BlobNotFound"


def test_blob_features_on_paths(container):
    # Snapshots, leases, metadata, tags and block lists work on files of the namespace.
    blob = container.get_blob_client("dir/file")
    blob.upload_blob(b"v1")
    snap = blob.create_snapshot()
    blob.upload_blob(b"v2", overwrite=True)
    assert container.get_blob_client("dir/file", snapshot=snap["snapshot"]).download_blob().readall() == b"v1"
    listed = [(b.name, b.snapshot) for b in container.list_blobs(include=["snapshots"])]
    assert listed == [("dir", None), ("dir/file", snap["snapshot"]), ("dir/file", None)]
    lease = blob.acquire_lease()
    with pytest.raises(HttpResponseError) as e:
        blob.set_blob_metadata({"k": "v"})
    assert e.value.error_code == "LeaseIdMissing"
    blob.set_blob_metadata({"k": "v"}, lease=lease)
    lease.release()
    assert blob.get_blob_properties().metadata == {"k": "v"}
    blob.stage_block("b1", b"block one ")
    blob.stage_block("b2", b"block two")
    blob.commit_block_list(["b1", "b2"])
    assert blob.download_blob().readall() == b"block one block two"
    blob.delete_blob(delete_snapshots="include")
    assert [b.name for b in container.list_blobs()] == ["dir"]
