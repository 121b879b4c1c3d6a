"""Durability across restarts: graceful (SIGTERM) and crash (SIGKILL after the acknowledgement).

Each test starts a dedicated server on its own data directory, writes, stops it, starts it again
on the same directory (on a fresh port) and reads everything back byte for byte.
"""

import base64
import hashlib
import os

import pytest
from azure.storage.blob import BlobBlock, ContentSettings

import sdkutil
from sdkutil import Server

pytestmark = pytest.mark.restart

KIB = 1024


def _write_fixture_data(srv):
    """Small, multi-block and metadata-bearing blobs; returns what to expect."""
    service = srv.service_client(max_single_put_size=64 * KIB, max_block_size=64 * KIB)
    cc = service.create_container("durable", metadata={"kind": "restart-test"})
    expected = {}
    for i in range(20):
        data = os.urandom(100 + i * 37)
        cc.upload_blob(f"small/{i:02d}", data, metadata={"i": str(i)})
        expected[f"small/{i:02d}"] = data
    big = os.urandom(1 * 1024 * KIB + 5)  # 17 blocks
    cc.upload_blob("big.bin", big, content_settings=ContentSettings(content_type="application/x-test"))
    expected["big.bin"] = big
    # Overwritten and deleted blobs must stay so.
    cc.upload_blob("small/00", b"overwritten", overwrite=True, metadata={"i": "0"})
    expected["small/00"] = b"overwritten"
    cc.delete_blob("small/19")
    del expected["small/19"]
    # A staged, uncommitted block: acknowledged Put Block is durable too.
    cc.get_blob_client("staged").stage_block("s1", b"staged block data")
    return expected


def _check_fixture_data(srv, expected):
    service = srv.service_client()
    cc = service.get_container_client("durable")
    assert cc.get_container_properties().metadata == {"kind": "restart-test"}
    # The development account has a hierarchical namespace: "small" is a directory.
    assert [b.name for b in cc.list_blobs()] == sorted([*expected, "small"])
    for name, data in expected.items():
        got = cc.get_blob_client(name).download_blob().readall()
        assert hashlib.sha256(got).hexdigest() == hashlib.sha256(data).hexdigest(), name
    assert cc.get_blob_client("small/05").get_blob_properties().metadata == {"i": "5"}
    big = cc.get_blob_client("big.bin").get_blob_properties()
    assert big.content_settings.content_type == "application/x-test"
    assert len(cc.get_blob_client("big.bin").get_block_list("committed")[0]) == 17
    staged = cc.get_blob_client("staged")
    _, uncommitted = staged.get_block_list("uncommitted")
    assert [(b.id, b.size) for b in uncommitted] == [("s1", len(b"staged block data"))]
    staged.commit_block_list([BlobBlock("s1")])
    assert staged.download_blob().readall() == b"staged block data"


def test_restart_after_sigterm(start_server):
    srv = start_server()
    expected = _write_fixture_data(srv)
    rc = srv.stop()
    assert rc == 0, f"graceful shutdown exit code {rc}"
    srv.start()
    _check_fixture_data(srv, expected)
    # And it keeps working after the restart.
    cc = srv.service_client().get_container_client("durable")
    cc.upload_blob("after", b"after restart")
    srv.stop()
    srv.start()
    cc = srv.service_client().get_container_client("durable")
    assert cc.get_blob_client("after").download_blob().readall() == b"after restart"


def test_restart_after_sigkill(start_server):
    # Azurite 3.35 deviates: loses acknowledged writes on SIGKILL (its LokiJS metadata is saved periodically).
    srv = start_server()
    expected = _write_fixture_data(srv)
    srv.kill()  # everything above was acknowledged, so it must survive a crash
    srv.start()
    _check_fixture_data(srv, expected)


def test_sigkill_right_after_each_write(start_server):
    """Acknowledged means durable: kill immediately after single writes, several times."""
    # Azurite 3.35 deviates: loses acknowledged writes on SIGKILL (its LokiJS metadata is saved periodically).
    srv = start_server()
    expected = {}
    srv.service_client().create_container("crash")
    for round_ in range(3):
        cc = srv.service_client().get_container_client("crash")
        data = os.urandom(70 * KIB + round_)
        cc.upload_blob(f"r{round_}", data)
        expected[f"r{round_}"] = data
        srv.kill()
        srv.start()
        cc = srv.service_client().get_container_client("crash")
        for name, want in expected.items():
            assert cc.get_blob_client(name).download_blob().readall() == want, (round_, name)


def test_restart_empty_data_dir(start_server):
    """A server stopped before any write restarts cleanly."""
    srv = start_server()
    assert srv.stop() == 0
    srv.start()
    assert list(srv.service_client().list_containers()) == []


def test_second_account(start_server):
    """AZURITE_ACCOUNTS adds accounts; each sees only its own containers and key."""
    key2 = base64.b64encode(b"second-account-key-0123456789abcdef").decode()
    srv = start_server(env={"AZURITE_ACCOUNTS": f"devstoreaccount1:{sdkutil.KEY};acct2:{key2}"})
    other = Server(srv.url.replace("/devstoreaccount1", "/acct2"), "acct2", key2)
    other.service_client().create_container("only-in-acct2")
    srv.service_client().create_container("only-in-dev")
    assert [c.name for c in other.service_client().list_containers()] == ["only-in-acct2"]
    assert [c.name for c in srv.service_client().list_containers()] == ["only-in-dev"]
    # A second key works too; the other account's key does not.
    key2b = base64.b64encode(b"second-account-key-number-two-xyz").decode()
    srv.stop()
    srv.env_extra = {"AZURITE_ACCOUNTS": f"devstoreaccount1:{sdkutil.KEY};acct2:{key2}:{key2b}"}
    srv.start()
    other = Server(srv.url.replace("/devstoreaccount1", "/acct2"), "acct2", key2)
    other_b = Server(other.url, "acct2", key2b)
    assert [c.name for c in other.service_client().list_containers()] == ["only-in-acct2"]
    assert [c.name for c in other_b.service_client().list_containers()] == ["only-in-acct2"]
    wrong = Server(other.url, "acct2", sdkutil.KEY)
    with pytest.raises(Exception) as e:
        list(wrong.service_client().list_containers())
    assert getattr(e.value, "status_code", None) == 403


def test_restart_keeps_deletions_and_service_properties(start_server):
    # Azurite 3.35 deviates: loses acknowledged writes on SIGKILL.
    from azure.storage.blob import CorsRule, RetentionPolicy

    srv = start_server()
    service = srv.service_client()
    service.create_container("gone")
    service.get_container_client("gone").upload_blob("b", b"x")
    service.delete_container("gone")
    keep = service.create_container("kept", metadata={"a": "1"})
    keep.set_container_access_policy({}, public_access="blob")
    service.set_service_properties(
        cors=[CorsRule(["http://o.example"], ["GET"], max_age_in_seconds=7)],
        delete_retention_policy=RetentionPolicy(enabled=True, days=3))
    srv.kill()
    srv.start()
    service = srv.service_client()
    assert [c.name for c in service.list_containers()] == ["kept"]
    kept = service.get_container_client("kept").get_container_properties()
    assert kept.metadata == {"a": "1"}
    assert kept.public_access == "blob"
    props = service.get_service_properties()
    assert [(r.allowed_origins, r.max_age_in_seconds) for r in props["cors"]] == [("http://o.example", 7)]
    assert props["delete_retention_policy"].days == 3


def test_sigterm_during_upload(start_server):
    """SIGTERM while a large upload is in flight: whatever was acknowledged survives the restart,
    and nothing half-written is ever visible."""
    import threading

    srv = start_server()
    cc = srv.service_client().create_container("inflight")
    data = os.urandom(24 * 1024 * KIB)
    outcome = {}

    def upload():
        try:
            svc = srv.service_client(max_single_put_size=4 * 1024 * KIB, max_block_size=1024 * KIB)
            svc.get_blob_client("inflight", "big").upload_blob(data)
            outcome["ok"] = True
        except Exception as e:  # noqa: BLE001 - any failure is acceptable, a partial blob is not
            outcome["error"] = repr(e)

    cc.upload_blob("before", b"acknowledged before SIGTERM")
    t = threading.Thread(target=upload, daemon=True)
    t.start()
    # Let some blocks go through, then stop the server gracefully.
    import time

    time.sleep(0.3)
    rc = srv.stop()
    t.join(timeout=60)
    assert not t.is_alive(), "the client hung after the server stopped"
    assert rc == 0, f"graceful shutdown exit code {rc}"
    srv.start()
    cc = srv.service_client().get_container_client("inflight")
    assert cc.get_blob_client("before").download_blob().readall() == b"acknowledged before SIGTERM"
    big = cc.get_blob_client("big")
    if outcome.get("ok"):
        assert big.download_blob().readall() == data
    elif big.exists():
        # The commit may have happened with its answer lost; then it must be whole.
        assert big.download_blob().readall() == data, (
            f"upload failed ({outcome.get('error')}) and a partial blob is visible")
