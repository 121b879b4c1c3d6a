"""ADLS Gen2 (DFS) through azure-storage-file-datalake, on the same port as Blob.

DFS needs an account with a hierarchical namespace: the development account has one by default
(`LAZULI_HNS_ACCOUNTS` configures which accounts do), so these tests use the shared server; an
account without one must refuse DFS path operations with a clear error.

Like test_more_operations.py: a test whose first DFS call answers 501 (with an error code) is
skipped, so these tests are the to-do list for what is not implemented; anything else that goes
wrong fails. Not checked against a reference server: Azurite has no DFS endpoint. Expectations
follow the DFS REST reference (Path Create/Update/Lease/Delete, Filesystem List Paths).
"""

import os

import pytest
from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

import conftest
import sdkutil

datalake = pytest.importorskip("azure.storage.filedatalake")


@pytest.fixture
def hns_server(server):
    """The shared server: its development account has a hierarchical namespace by default."""
    return server


def attempt(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except HttpResponseError as e:
        if e.status_code == 501:
            assert e.error_code, "a 501 must carry x-ms-error-code"
            pytest.skip(f"DFS not implemented ({e.error_code})")
        raise


@pytest.fixture
def dls(hns_server):
    return datalake.DataLakeServiceClient.from_connection_string(hns_server.conn_str, **sdkutil.SDK_CLIENT_KWARGS)


@pytest.fixture
def filesystem(dls, request):
    name = sdkutil.unique_name(request.node.name)
    fs = dls.create_file_system(name)
    yield fs
    try:
        fs.delete_file_system()
    except Exception:  # noqa: BLE001 - best-effort cleanup
        pass


def test_file_create_append_flush_read(filesystem):
    f = filesystem.get_file_client("dir/file.txt")
    attempt(f.create_file)
    f.append_data(b"hello ", offset=0, length=6)
    f.append_data(b"world", offset=6, length=5)
    # Appended but not flushed: not visible yet.
    assert f.get_file_properties().size == 0
    f.flush_data(11)
    assert f.download_file().readall() == b"hello world"
    assert f.get_file_properties().size == 11
    # The parent directory exists implicitly.
    assert filesystem.get_directory_client("dir").exists()
    # And the file is an ordinary blob on the Blob side.
    blob = filesystem._container_client.get_blob_client("dir/file.txt")
    assert blob.download_blob().readall() == b"hello world"


def test_append_at_wrong_position_rejected(filesystem):
    f = filesystem.get_file_client("pos.txt")
    attempt(f.create_file)
    f.append_data(b"abc", offset=0, length=3)
    with pytest.raises(HttpResponseError) as e:
        f.append_data(b"x", offset=10, length=1)
    assert e.value.status_code == 400
    with pytest.raises(HttpResponseError) as e:
        f.flush_data(99)
    assert e.value.status_code == 400
    assert e.value.error_code == "InvalidFlushPosition"


def test_upload_data_large(filesystem):
    data = os.urandom(9 * 1024 * 1024 + 17)
    f = filesystem.get_file_client("big/data.bin")
    attempt(f.upload_data, data, overwrite=True, chunk_size=4 * 1024 * 1024)
    assert f.download_file().readall() == data
    assert f.download_file(offset=5, length=10).readall() == data[5:15]


def test_create_file_if_none_match(filesystem):
    f = filesystem.get_file_client("once.txt")
    attempt(f.create_file)
    with pytest.raises(ResourceExistsError) as e:
        f.create_file(match_condition=MatchConditions.IfMissing)
    assert e.value.error_code == "PathAlreadyExists"


def test_directories_and_list_paths(filesystem):
    attempt(filesystem.create_directory, "a")
    filesystem.create_directory("a/b")
    filesystem.get_file_client("a/b/f1").upload_data(b"1")
    filesystem.get_file_client("a/f2").upload_data(b"22")
    filesystem.get_file_client("top").upload_data(b"333")
    paths = {p.name: p for p in filesystem.get_paths(recursive=True)}
    assert sorted(paths) == ["a", "a/b", "a/b/f1", "a/f2", "top"]
    assert paths["a"].is_directory and paths["a/b"].is_directory
    assert not paths["top"].is_directory and paths["top"].content_length == 3
    flat = sorted(p.name for p in filesystem.get_paths(recursive=False))
    assert flat == ["a", "top"]
    under = sorted(p.name for p in filesystem.get_paths(path="a", recursive=False))
    assert under == ["a/b", "a/f2"]


def test_list_paths_pagination(filesystem):
    attempt(filesystem.create_directory, "p")
    for i in range(7):
        filesystem.get_file_client(f"p/{i}").upload_data(b"x")
    pages = list(filesystem.get_paths(path="p", max_results=3).by_page())
    names = [p.name for page in pages for p in page]
    assert names == [f"p/{i}" for i in range(7)]
    assert len(pages) == 3


def test_rename_file_and_directory(filesystem):
    d = attempt(filesystem.create_directory, "src")
    filesystem.get_file_client("src/x.txt").upload_data(b"x")
    filesystem.get_file_client("src/deep/y.txt").upload_data(b"y")
    f = filesystem.get_file_client("src/x.txt")
    f.rename_file(f"{filesystem.file_system_name}/src/x2.txt")
    assert not filesystem.get_file_client("src/x.txt").exists()
    assert filesystem.get_file_client("src/x2.txt").download_file().readall() == b"x"
    d.rename_directory(f"{filesystem.file_system_name}/dst")
    assert not filesystem.get_directory_client("src").exists()
    assert filesystem.get_file_client("dst/deep/y.txt").download_file().readall() == b"y"
    assert sorted(p.name for p in filesystem.get_paths(recursive=True)) == [
        "dst", "dst/deep", "dst/deep/y.txt", "dst/x2.txt"]


def test_delete_directory_recursive(filesystem):
    d = attempt(filesystem.create_directory, "tree")
    filesystem.get_file_client("tree/a/b/c.txt").upload_data(b"c")
    d.delete_directory()
    assert not d.exists()
    assert list(filesystem.get_paths(recursive=True)) == []
    with pytest.raises(ResourceNotFoundError) as e:
        filesystem.get_file_client("tree/a/b/c.txt").download_file()
    assert e.value.status_code == 404


def test_access_control(filesystem):
    f = filesystem.get_file_client("acl.txt")
    attempt(f.create_file)
    acl = f.get_access_control()
    assert {"owner", "group", "permissions", "acl"} <= set(acl)
    f.set_access_control(permissions="rwxr-x---")
    assert f.get_access_control()["permissions"].startswith("rwxr-x---")


def test_metadata_and_properties(filesystem):
    f = filesystem.get_file_client("props.bin")
    attempt(f.create_file, metadata={"k": "v"})
    f.upload_data(b"data", overwrite=True, metadata={"k": "v2"})
    props = f.get_file_properties()
    assert props.metadata == {"k": "v2"}
    assert props.size == 4


def test_account_info_reports_hns(server):
    info = server.service_client().get_account_information()
    # Lazuli serves the DFS API; whether the account reports a hierarchical namespace is the
    # server's choice, but the header must be a boolean.
    assert info.get("is_hns_enabled") in (True, False, "true", "false")


def test_account_info_reports_hns_on_hns_account(hns_server):
    assert hns_server.service_client().get_account_information()["is_hns_enabled"] in (True, "true")


def test_non_hns_account_refuses_dfs_paths(flat_server, flat_container):
    # An account configured without a hierarchical namespace (`LAZULI_HNS_ACCOUNTS=`): nothing
    # changes for its Blob API, and DFS path operations answer a clear 409.
    dls = datalake.DataLakeServiceClient.from_connection_string(flat_server.conn_str, **sdkutil.SDK_CLIENT_KWARGS)
    fs = dls.get_file_system_client(flat_container.container_name)
    with pytest.raises(HttpResponseError) as e:
        fs.create_directory("d")
    assert (e.value.status_code, e.value.error_code) == (409, "HierarchicalNamespaceNotEnabled")
    assert flat_server.service_client().get_account_information()["is_hns_enabled"] in (False, "false")


def test_filesystem_rest_wire_format(hns_server, request):
    """Filesystem operations and DFS errors on the wire (the SDK routes some of them through
    the Blob API, so they are checked here directly)."""
    auth = sdkutil.SharedKeyAuth(hns_server.account, hns_server.key)
    base = hns_server.url.rstrip("/")
    stem = sdkutil.unique_name(request.node.name, 30)
    names = [f"{stem}-{i}" for i in range(3)]
    for name in names:
        r = sdkutil.raw("PUT", f"{base}/{name}?resource=filesystem", auth=auth,
                        headers={"x-ms-properties": "k=dg=="})
        assert r.status_code == 201, r.text
        assert r.headers["x-ms-namespace-enabled"] == "true"
    r = sdkutil.raw("PUT", f"{base}/{names[0]}?resource=filesystem", auth=auth)
    assert (r.status_code, r.headers["x-ms-error-code"]) == (409, "FilesystemAlreadyExists")
    assert r.json()["error"]["code"] == "FilesystemAlreadyExists"
    r = sdkutil.raw("HEAD", f"{base}/{names[0]}?resource=filesystem", auth=auth)
    assert r.status_code == 200
    assert (r.headers["x-ms-properties"], r.headers["x-ms-namespace-enabled"]) == ("k=dg==", "true")
    r = sdkutil.raw("PATCH", f"{base}/{names[0]}?resource=filesystem", auth=auth,
                    headers={"x-ms-properties": "a=Yg=="})
    assert r.status_code == 200
    r = sdkutil.raw("HEAD", f"{base}/{names[0]}?resource=filesystem", auth=auth)
    assert r.headers["x-ms-properties"] == "a=Yg=="
    prefix = stem
    r = sdkutil.raw("GET", f"{base}?resource=account&prefix={prefix}&maxResults=2", auth=auth)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    first = [f["name"] for f in r.json()["filesystems"]]
    assert first == names[:2]
    token = r.headers["x-ms-continuation"]
    r = sdkutil.raw("GET", f"{base}?resource=account&prefix={prefix}&continuation={token}", auth=auth)
    assert [f["name"] for f in r.json()["filesystems"]] == names[2:]
    assert "x-ms-continuation" not in r.headers
    # Path errors are JSON with the DFS codes.
    r = sdkutil.raw("HEAD", f"{base}/{names[0]}/missing?action=getStatus", auth=auth)
    assert (r.status_code, r.headers["x-ms-error-code"]) == (404, "PathNotFound")
    r = sdkutil.raw("PUT", f"{base}/{names[0]}/d?resource=directory", auth=auth)
    assert r.status_code == 201
    r = sdkutil.raw("PUT", f"{base}/{names[0]}/d/f?resource=file", auth=auth)
    assert r.status_code == 201
    r = sdkutil.raw("DELETE", f"{base}/{names[0]}/d?recursive=false", auth=auth)
    assert (r.status_code, r.json()["error"]["code"]) == (409, "DirectoryNotEmpty")
    r = sdkutil.raw("PUT", f"{base}/{names[0]}/e", auth=auth,
                    headers={"x-ms-rename-source": f"/{names[0]}/nope"})
    assert (r.status_code, r.json()["error"]["code"]) == (404, "SourcePathNotFound")
    r = sdkutil.raw("PUT", f"{base}/{names[0]}/d2?mode=legacy", auth=auth,
                    headers={"x-ms-rename-source": f"/{names[0]}/d"})
    assert r.status_code == 201
    r = sdkutil.raw("GET", f"{base}/{names[0]}?resource=filesystem&recursive=true", auth=auth)
    paths = r.json()["paths"]
    assert [p["name"] for p in paths] == ["d2", "d2/f"]
    assert paths[0]["isDirectory"] == "true" and paths[1]["contentLength"] == "0"
    r = sdkutil.raw("DELETE", f"{base}/{names[0]}/d2?recursive=true", auth=auth)
    assert r.status_code == 200
    for name in names:
        r = sdkutil.raw("DELETE", f"{base}/{name}?resource=filesystem", auth=auth)
        assert r.status_code == 202
    r = sdkutil.raw("HEAD", f"{base}/{names[0]}?resource=filesystem", auth=auth)
    assert (r.status_code, r.headers["x-ms-error-code"]) == (404, "FilesystemNotFound")


def test_lease_path(hns_server, filesystem):
    f = filesystem.create_file("leased")
    f.upload_data(b"v1", overwrite=True)
    lease = f.acquire_lease(lease_duration=15)
    with pytest.raises(HttpResponseError) as e:
        f.upload_data(b"v2", overwrite=True)
    assert e.value.status_code == 412
    f.upload_data(b"v2", overwrite=True, lease=lease)
    lease.release()
    # The DFS REST operation (Path Lease: POST with x-ms-lease-action) on the same lease.
    auth = sdkutil.SharedKeyAuth(hns_server.account, hns_server.key)
    url = f"{hns_server.url}/{filesystem.file_system_name}/leased"
    r = sdkutil.raw("POST", url, auth=auth, headers={"x-ms-lease-action": "acquire", "x-ms-lease-duration": "-1",
                                                      "x-ms-proposed-lease-id": "11111111-2222-3333-4444-555555555555"})
    assert (r.status_code, r.headers["x-ms-lease-id"]) == (201, "11111111-2222-3333-4444-555555555555")
    assert f.get_file_properties().lease.state == "leased"
    r = sdkutil.raw("DELETE", url, auth=auth)
    assert (r.status_code, r.headers["x-ms-error-code"]) == (412, "LeaseIdMissing")
    r = sdkutil.raw("POST", url, auth=auth, headers={"x-ms-lease-action": "break", "x-ms-lease-break-period": "0"})
    assert r.status_code == 202
    f.delete_file()


def test_set_expiry(filesystem):
    f = filesystem.create_file("temp")
    f.upload_data(b"short-lived", overwrite=True)
    f.set_file_expiry("RelativeToNow", expires_on=60_000)
    props = f.get_file_properties()
    assert props.expiry_time is not None
    delta = props.expiry_time - props.last_modified
    assert 55 < delta.total_seconds() < 65
    f.set_file_expiry("NeverExpire")
    assert f.get_file_properties().expiry_time is None
    f.set_file_expiry("RelativeToNow", expires_on=1000)
    import time
    time.sleep(1.5)
    with pytest.raises(ResourceNotFoundError):
        f.download_file().readall()
    assert [p.name for p in filesystem.get_paths()] == []
    # The name is free again.
    filesystem.create_file("temp").upload_data(b"again", overwrite=True)
    assert filesystem.get_file_client("temp").download_file().readall() == b"again"
    with pytest.raises(HttpResponseError) as e:
        filesystem.create_directory("dir").get_file_client("x")  # noqa: B018 - a client only
        filesystem.get_file_client("dir").set_file_expiry("RelativeToNow", expires_on=1000)
    assert e.value.status_code == 400


def test_paginated_recursive_delete(hns_server, filesystem):
    for i in range(5):
        filesystem.create_file(f"big/d{i % 2}/f{i}")
    auth = sdkutil.SharedKeyAuth(hns_server.account, hns_server.key)
    url = f"{hns_server.url}/{filesystem.file_system_name}/big?recursive=true&paginated=true"
    r = sdkutil.raw("DELETE", url, auth=auth)
    # The delete is one transaction whatever the size: no continuation is ever needed.
    assert r.status_code == 200 and "x-ms-continuation" not in r.headers
    assert [p.name for p in filesystem.get_paths()] == []
    r = sdkutil.raw("DELETE", f"{hns_server.url}/{filesystem.file_system_name}/x?recursive=true&paginated=maybe",
                    auth=auth)
    assert r.status_code == 400


def test_soft_deleted_file_is_restored(server, filesystem):
    service = server.service_client()
    props = service.get_service_properties()
    from azure.storage.blob import RetentionPolicy
    service.set_service_properties(delete_retention_policy=RetentionPolicy(enabled=True, days=1))
    try:
        f = filesystem.create_file("dir/kept.txt")
        f.upload_data(b"keep me", overwrite=True)
        blob = service.get_blob_client(filesystem.file_system_name, "dir/kept.txt")
        blob.delete_blob()
        assert not f.exists()
        deleted = [b.name for b in service.get_container_client(filesystem.file_system_name)
                   .list_blobs(include=["deleted"]) if b.deleted]
        assert deleted == ["dir/kept.txt"]
        blob.undelete_blob()
        assert f.download_file().readall() == b"keep me"
    finally:
        service.set_service_properties(delete_retention_policy=props["delete_retention_policy"])


def test_list_deleted_paths_and_undelete(server, filesystem):
    service = server.service_client()
    props = service.get_service_properties()
    from azure.storage.blob import RetentionPolicy
    service.set_service_properties(delete_retention_policy=RetentionPolicy(enabled=True, days=1))
    try:
        filesystem.create_file("d/gone.txt").upload_data(b"back", overwrite=True)
        filesystem.create_file("d/stays.txt")
        filesystem.get_file_client("d/gone.txt").delete_file()
        deleted = list(filesystem.list_deleted_paths())
        assert [p.name for p in deleted] == ["d/gone.txt"]
        filesystem._undelete_path("d/gone.txt", deleted[0].deletion_id)
        assert filesystem.get_file_client("d/gone.txt").download_file().readall() == b"back"
        assert list(filesystem.list_deleted_paths()) == []
        # A directory goes with its whole tree and comes back with it.
        filesystem.get_file_client("tree/a/b.txt").upload_data(b"deep")
        filesystem.get_directory_client("tree").delete_directory()
        assert [p.name for p in filesystem.get_paths(recursive=True)] == ["d", "d/gone.txt", "d/stays.txt"]
        deleted = list(filesystem.list_deleted_paths())
        assert [p.name for p in deleted] == ["tree"]
        filesystem._undelete_path("tree", deleted[0].deletion_id)
        assert filesystem.get_file_client("tree/a/b.txt").download_file().readall() == b"deep"
        assert list(filesystem.list_deleted_paths()) == []
    finally:
        service.set_service_properties(delete_retention_policy=props["delete_retention_policy"])


def test_rename_onto_existing_path_with_conditions(filesystem):
    src = filesystem.create_file("a.txt")
    src.upload_data(b"a", overwrite=True)
    dst = filesystem.create_file("b.txt")
    dst.upload_data(b"b", overwrite=True)
    fsn = filesystem.file_system_name
    # If-None-Match: * on the destination: it exists, so the rename is refused.
    with pytest.raises(ResourceExistsError) as e:
        src.rename_file(f"{fsn}/b.txt", match_condition=MatchConditions.IfMissing)
    assert (e.value.status_code, e.value.error_code) == (409, "PathAlreadyExists")
    # A destination ETag that does not match, then a source ETag that does not match: 412.
    with pytest.raises(HttpResponseError) as e:
        src.rename_file(f"{fsn}/b.txt", etag='"0x1"', match_condition=MatchConditions.IfNotModified)
    assert e.value.status_code == 412
    with pytest.raises(HttpResponseError) as e:
        src.rename_file(f"{fsn}/b.txt", source_etag='"0x1"', source_match_condition=MatchConditions.IfNotModified)
    assert e.value.status_code == 412
    assert filesystem.get_file_client("b.txt").download_file().readall() == b"b"
    # With the destination's current ETag, the file replaces it.
    etag = dst.get_file_properties().etag
    src.rename_file(f"{fsn}/b.txt", etag=etag, match_condition=MatchConditions.IfNotModified)
    assert filesystem.get_file_client("b.txt").download_file().readall() == b"a"
    assert not filesystem.get_file_client("a.txt").exists()
    # A directory never replaces a path, and cannot move into itself.
    filesystem.create_directory("d/e")
    with pytest.raises(HttpResponseError) as e:
        filesystem.get_directory_client("d").rename_directory(f"{fsn}/b.txt")
    assert e.value.status_code == 409
    with pytest.raises(HttpResponseError) as e:
        filesystem.get_directory_client("d").rename_directory(f"{fsn}/d/e/inner")
    assert e.value.status_code == 400


def test_directory_and_filesystem_sas(hns_server, filesystem):
    import datetime as dt
    from azure.storage.filedatalake import (DirectorySasPermissions, FileSystemSasPermissions,
                                            generate_directory_sas, generate_file_system_sas)
    fsn = filesystem.file_system_name
    filesystem.create_directory("team/data")
    filesystem.get_file_client("team/data/a.txt").upload_data(b"a")
    filesystem.get_file_client("other/b.txt").upload_data(b"b")
    expiry = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
    sas = generate_directory_sas(hns_server.account, fsn, "team", credential=hns_server.key,
                                 permission=DirectorySasPermissions(read=True, write=True, create=True, list=True),
                                 expiry=expiry)
    d = datalake.DataLakeDirectoryClient(hns_server.url, fsn, "team", credential=sas, **sdkutil.SDK_CLIENT_KWARGS)
    d.get_file_client("data/new.txt").upload_data(b"via directory sas")
    assert d.get_file_client("data/a.txt").download_file().readall() == b"a"
    assert filesystem.get_file_client("team/data/new.txt").download_file().readall() == b"via directory sas"
    # Outside the directory the signature does not apply; without m/p, no rename or ACL change.
    outside = datalake.DataLakeFileClient(hns_server.url, fsn, "other/b.txt", credential=sas,
                                          **sdkutil.SDK_CLIENT_KWARGS)
    with pytest.raises(HttpResponseError) as e:
        outside.download_file().readall()
    assert e.value.status_code == 403
    with pytest.raises(HttpResponseError) as e:
        d.get_file_client("data/a.txt").rename_file(f"{fsn}/team/data/renamed.txt")
    assert e.value.status_code == 403
    with pytest.raises(HttpResponseError) as e:
        d.get_file_client("data/a.txt").set_access_control(permissions="rwx------")
    assert e.value.status_code == 403
    # A filesystem SAS with move and manage-access permissions.
    fs_sas = generate_file_system_sas(hns_server.account, fsn, credential=hns_server.key,
                                      permission=FileSystemSasPermissions(read=True, write=True, list=True,
                                                                          move=True, manage_access_control=True),
                                      expiry=expiry)
    client = datalake.FileSystemClient(hns_server.url, fsn, credential=fs_sas, **sdkutil.SDK_CLIENT_KWARGS)
    client.get_file_client("team/data/a.txt").rename_file(f"{fsn}/other/moved.txt")
    client.get_file_client("other/moved.txt").set_access_control(permissions="rwx------")
    assert filesystem.get_file_client("other/moved.txt").get_access_control()["permissions"] == "rwx------"
    assert sorted(p.name for p in client.get_paths(path="other")) == ["other/b.txt", "other/moved.txt"]
