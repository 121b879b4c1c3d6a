"""POSIX permissions and ACLs of the hierarchical namespace.

The account key and SAS act as the superuser (the SDK's shared-key clients set things up);
callers with a bearer token (static test tokens, LAZULI_TEST_BEARER_TOKENS) are users whose
every DFS and Blob operation is checked against the owner, mode bits, ACL entries, mask and
sticky bit of the paths. The Python SDK sends bearer tokens only over HTTPS, so the users'
requests are plain HTTP requests here.
"""

import json

import pytest
import requests
from azure.core.exceptions import HttpResponseError

import sdkutil

datalake = pytest.importorskip("azure.storage.filedatalake")

ALICE, BOB = "oid-alice", "oid-bob"
TOKENS = {"LAZULI_TEST_BEARER_TOKENS": f"token-alice={ALICE},token-bob={BOB}"}


@pytest.fixture(scope="module")
def acl_server(workdir):
    import conftest
    yield from conftest.spawn_kept_server(workdir, "acl", TOKENS)


@pytest.fixture
def fs(acl_server, request):
    dls = datalake.DataLakeServiceClient.from_connection_string(acl_server.conn_str, **sdkutil.SDK_CLIENT_KWARGS)
    client = dls.create_file_system(sdkutil.unique_name(request.node.name))
    yield client
    client.delete_file_system()


def as_user(srv, token, method, path, params=None, headers=None, data=None):
    h = {"x-ms-version": "2025-11-05", "Authorization": f"Bearer {token}"}
    h.update(headers or {})
    return requests.request(method, f"{srv.url}/{path}", params=params, headers=h, data=data, timeout=10)


def code(resp):
    return resp.status_code, resp.headers.get("x-ms-error-code")


@pytest.fixture
def shared_dir(fs):
    """`shared/`: alice may do anything (named entry, inherited by new children), others
    nothing; the root lets everyone traverse."""
    fs.get_directory_client("/").set_access_control(acl="user::rwx,group::r-x,other::--x")
    d = fs.create_directory("shared")
    d.set_access_control(acl=f"user::rwx,user:{ALICE}:rwx,group::r-x,mask::rwx,other::---,"
                             f"default:user::rwx,default:user:{ALICE}:rwx,default:group::r-x,"
                             f"default:mask::rwx,default:other::---")
    return d


def test_user_creates_and_owns_paths_with_inherited_acl(acl_server, fs, shared_dir):
    name = fs.file_system_name
    r = as_user(acl_server, "token-alice", "PUT", f"{name}/shared/a.txt", {"resource": "file"})
    assert r.status_code == 201, r.text
    r = as_user(acl_server, "token-alice", "PUT", f"{name}/shared/b.txt", headers={"x-ms-blob-type": "BlockBlob"},
                data=b"through the blob api")
    assert r.status_code == 201, r.text
    for file in ("shared/a.txt", "shared/b.txt"):
        acl = fs.get_file_client(file).get_access_control()
        assert acl["owner"] == ALICE
        # The directory's default ACL became the file's access ACL (no default ACL on files).
        assert f"user:{ALICE}:rwx" in acl["acl"] and "default:" not in acl["acl"]
    r = as_user(acl_server, "token-alice", "GET", f"{name}/shared/b.txt")
    assert (r.status_code, r.content) == (200, b"through the blob api")
    # Only the superuser creates a path owned by someone else.
    r = as_user(acl_server, "token-alice", "PUT", f"{name}/shared/c.txt", {"resource": "file"}, {"x-ms-owner": BOB})
    assert code(r) == (403, "AuthorizationPermissionMismatch")


def test_other_users_are_refused(acl_server, fs, shared_dir):
    name = fs.file_system_name
    fs.get_file_client("shared/secret.txt").upload_data(b"secret")
    for method, path, params in [
        ("GET", f"{name}/shared/secret.txt", None),
        ("PUT", f"{name}/shared/new.txt", {"resource": "file"}),
        ("DELETE", f"{name}/shared/secret.txt", None),
        ("GET", name, {"resource": "filesystem", "directory": "shared", "recursive": "false"}),
        ("PATCH", f"{name}/shared/secret.txt", {"action": "setAccessControl"}),
    ]:
        headers = {"x-ms-permissions": "rwxrwxrwx"} if params and params.get("action") else None
        r = as_user(acl_server, "token-bob", method, path, params, headers)
        assert code(r) == (403, "AuthorizationPermissionMismatch"), (method, path, r.text)
    # Alice, through the named entry: reads and lists.
    assert as_user(acl_server, "token-alice", "GET", f"{name}/shared/secret.txt").content == b"secret"
    r = as_user(acl_server, "token-alice", "GET", name,
                {"resource": "filesystem", "directory": "shared", "recursive": "false"})
    assert [p["name"] for p in r.json()["paths"]] == ["shared/secret.txt"]


def test_mode_bits_owner_and_sticky_bit(acl_server, fs, shared_dir):
    name = fs.file_system_name
    assert as_user(acl_server, "token-alice", "PUT", f"{name}/shared/mine", {"resource": "file"}).status_code == 201
    # The owner changes its own file's mode; nobody but the superuser gives a path away.
    r = as_user(acl_server, "token-alice", "PATCH", f"{name}/shared/mine", {"action": "setAccessControl"},
                {"x-ms-permissions": "rw-r--r--"})
    assert r.status_code == 200, r.text
    r = as_user(acl_server, "token-alice", "PATCH", f"{name}/shared/mine", {"action": "setAccessControl"},
                {"x-ms-owner": BOB})
    assert code(r) == (403, "AuthorizationPermissionMismatch")
    # Others may now traverse `shared` and read `mine` (other::r--), not delete it.
    shared_dir.set_access_control(permissions="rwxrwxr-x")
    assert as_user(acl_server, "token-bob", "GET", f"{name}/shared/mine").status_code == 200
    assert code(as_user(acl_server, "token-bob", "DELETE", f"{name}/shared/mine"))[0] == 403
    # Everyone may write in a sticky directory, but only delete what they own.
    shared_dir.set_access_control(permissions="rwxrwxrwt")
    assert shared_dir.get_access_control()["permissions"] == "rwxrwxrwt"
    assert as_user(acl_server, "token-bob", "PUT", f"{name}/shared/bobs", {"resource": "file"}).status_code == 201
    assert code(as_user(acl_server, "token-bob", "DELETE", f"{name}/shared/mine")) == (
        403, "AuthorizationPermissionMismatch")
    # (A DELETE without DFS parameters is Delete Blob: 202.)
    assert as_user(acl_server, "token-bob", "DELETE", f"{name}/shared/bobs").status_code == 202
    assert as_user(acl_server, "token-alice", "DELETE", f"{name}/shared/mine").status_code == 202


def test_bad_acl_strings(fs):
    d = fs.create_directory("d")
    f = fs.create_file("d/f")
    for bad in ["user::rwz", "user::rw", "owner::rwx", "other:bob:rwx", "user::rwx,user::r--", ""]:
        with pytest.raises(HttpResponseError) as e:
            d.set_access_control(acl=bad or ",")
        assert (e.value.status_code, e.value.error_code) == (400, "InvalidAccessControlList"), bad
    with pytest.raises(HttpResponseError) as e:
        f.set_access_control(acl="user::rwx,group::r--,other::---,default:user::rwx")
    assert (e.value.status_code, e.value.error_code) == (400, "InvalidAccessControlList")
    with pytest.raises(HttpResponseError) as e:
        fs.create_file("d/g", acl="user::rwx,bogus")
    assert e.value.error_code == "InvalidAccessControlList"
    # Nothing changed.
    assert d.get_access_control()["acl"] == "user::rwx,group::r-x,other::---"


def test_acl_round_trip_and_mask(fs):
    d = fs.create_directory("m")
    d.set_access_control(acl=f"user::rwx,user:{ALICE}:rwx,group::r--,mask::r-x,other::---")
    acl = d.get_access_control()
    assert acl["acl"] == f"user::rwx,user:{ALICE}:rwx,group::r--,mask::r-x,other::---"
    # The group class of the mode bits shows the mask, as in POSIX.
    assert acl["permissions"] == "rwxr-x---"
    d.set_access_control(permissions="rwx------")
    assert d.get_access_control()["acl"] == f"user::rwx,user:{ALICE}:rwx,group::r--,mask::---,other::---"


def test_set_access_control_recursive(fs):
    d = fs.create_directory("tree")
    for i in range(5):
        fs.create_file(f"tree/f{i}")
    fs.create_directory("tree/sub")
    fs.create_file("tree/sub/g")
    acl = f"user::rwx,user:{ALICE}:r-x,group::r-x,other::---,default:user:{ALICE}:r-x"
    result = d.set_access_control_recursive(acl=acl, batch_size=3)
    assert (result.counters.directories_successful, result.counters.files_successful,
            result.counters.failure_count) == (2, 6, 0)
    assert fs.get_file_client("tree/sub/g").get_access_control()["acl"] == (
        f"user::rwx,user:{ALICE}:r-x,group::r-x,other::---")
    assert "default:user:" in fs.get_directory_client("tree/sub").get_access_control()["acl"]
    result = d.update_access_control_recursive(acl=f"user:{BOB}:rw-")
    assert result.counters.files_successful == 6
    assert f"user:{BOB}:rw-" in fs.get_file_client("tree/f3").get_access_control()["acl"]
    result = d.remove_access_control_recursive(acl=f"user:{BOB},user:{ALICE}")
    assert fs.get_file_client("tree/f3").get_access_control()["acl"] == "user::rwx,group::r-x,other::---"
    with pytest.raises(HttpResponseError) as e:
        d.update_access_control_recursive(acl="user:x:rwq")
    assert e.value.error_code == "InvalidAccessControlList"


def test_recursive_change_by_a_user_reports_what_it_does_not_own(acl_server, fs, shared_dir):
    name = fs.file_system_name
    fs.get_file_client("shared/admins").create_file()
    assert as_user(acl_server, "token-alice", "PUT", f"{name}/shared/alices", {"resource": "file"}).status_code == 201
    r = as_user(acl_server, "token-alice", "PATCH", f"{name}/shared",
                {"action": "setAccessControlRecursive", "mode": "modify"}, {"x-ms-acl": f"user:{BOB}:r--"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["directoriesSuccessful"], body["filesSuccessful"], body["failureCount"]) == (0, 1, 2)
    assert sorted((e["name"], e["type"]) for e in body["failedEntries"]) == [
        ("shared", "DIRECTORY"), ("shared/admins", "FILE")]
    assert f"user:{BOB}:r--" in fs.get_file_client("shared/alices").get_access_control()["acl"]
    assert f"user:{BOB}" not in fs.get_file_client("shared/admins").get_access_control()["acl"]
    assert json.loads(r.content)  # a JSON body, as the SDK parses it
