"""Fixtures for the SDK conformance suite.

Environment:
  LAZULI_BIN          server binary (default: <repo>/target/debug/lazuli)
  LAZULI_SERVER_ARGS  its arguments, with {host} {port} {location} placeholders
                      (default: --blobHost {host} --blobPort {port} --location {location} --metricsPort 0)
  LAZULI_URL          test an already running server at this account URL instead
                      (e.g. http://127.0.0.1:10000/devstoreaccount1); tests that need a server
                      of their own (restart) are then skipped
  LAZULI_ACCOUNT_KEY  key of that account (default: the well-known devstoreaccount1 key)
  LAZULI_KNOWN_FAILURES  file of known failures (default: tests/sdk/known-failures.txt): one test
                      node id a line (as pytest prints it, relative to tests/sdk, e.g.
                      `test_auth.py::test_invalid_range`), optionally `# reason`; those tests run
                      as non-strict xfail, so they neither break the build nor hide a fix (XPASS
                      is listed in the summary)
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest

import sdkutil
from sdkutil import Server

SDK_DIR = Path(__file__).resolve().parent
REPO_ROOT = SDK_DIR.parents[1]

# Servers whose log is shown when a test fails: (server, log offset when the test started).
_active_servers: list[Server] = []


def _binary() -> str:
    path = os.environ.get("LAZULI_BIN") or str(REPO_ROOT / "target" / "debug" / "lazuli")
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail(f"server binary {path!r} is missing: run `cargo build -p lazuli` "
                    f"(or set LAZULI_BIN / LAZULI_URL)", pytrace=False)
    return path


def external_url() -> str | None:
    return os.environ.get("LAZULI_URL") or None


@pytest.fixture(scope="session")
def workdir():
    d = Path(tempfile.mkdtemp(prefix="lazuli-sdk-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def server(workdir) -> Server:
    """The shared server for the session."""
    url = external_url()
    if url:
        account = urlsplit(url).path.strip("/").split("/")[0] or sdkutil.ACCOUNT
        srv = Server(url, account, os.environ.get("LAZULI_ACCOUNT_KEY", sdkutil.KEY))
        yield srv
        return
    yield from spawn_kept_server(workdir, "shared")


def spawn_kept_server(workdir: Path, name: str, env: dict | None = None):
    """A server for a whole session or module (its log shown on failures), stopped at the end:
    a fixture yields from it."""
    if external_url():
        pytest.skip("needs a server of its own; LAZULI_URL points at an external one")
    srv = Server.spawn(_binary(), workdir / f"{name}-data", workdir / f"{name}-server.log", env_extra=env)
    _active_servers.append(srv)
    try:
        yield srv
    finally:
        _active_servers.remove(srv)
        srv.stop()


@pytest.fixture(scope="session")
def flat_server(workdir) -> Server:
    """A server whose development account has a flat namespace (`LAZULI_HNS_ACCOUNTS=`), for
    the Blob behaviour of accounts without a hierarchical namespace (the default account has
    one, so its listings show directories)."""
    yield from spawn_kept_server(workdir, "flat", {"LAZULI_HNS_ACCOUNTS": ""})


@pytest.fixture
def start_server(workdir, request):
    """Factory for a dedicated server (restart tests): start_server(location=None, env=None).

    Servers it started are stopped (SIGTERM, then SIGKILL) when the test ends.
    """
    if external_url():
        pytest.skip("needs a server of its own; LAZULI_URL points at an external one")
    binary = _binary()
    started: list[Server] = []

    def factory(location: Path | None = None, env: dict | None = None, **kw) -> Server:
        n = len(started)
        loc = location or workdir / f"{sdkutil.unique_name(request.node.name, 40)}-{n}"
        log = workdir / f"{loc.name}.log"
        srv = Server.spawn(binary, loc, log, env_extra=env, **kw)
        started.append(srv)
        _active_servers.append(srv)
        return srv

    yield factory
    for srv in started:
        _active_servers.remove(srv)
        try:
            srv.stop()
        except Exception:  # noqa: BLE001 - best effort at teardown; kill is bounded
            srv.kill()


@pytest.fixture
def service(server):
    return server.service_client()


def _fresh_container(service_client, request):
    """Yields a new private container named after the test and deletes it afterwards."""
    client = service_client.get_container_client(sdkutil.unique_name(request.node.name))
    client.create_container()
    yield client
    try:
        client.delete_container()
    except Exception:  # noqa: BLE001 - the test may have deleted it already
        pass


@pytest.fixture
def container(service, request):
    """A fresh private container for this test, deleted afterwards."""
    yield from _fresh_container(service, request)


@pytest.fixture
def flat_container(flat_server, request):
    """A fresh container in an account without a hierarchical namespace."""
    yield from _fresh_container(flat_server.service_client(), request)


@pytest.fixture
def container_name(container):
    return container.container_name


# --- known failures ----------------------------------------------------------------------

def _known_failures() -> dict[str, str]:
    path = Path(os.environ.get("LAZULI_KNOWN_FAILURES") or SDK_DIR / "known-failures.txt")
    if not path.exists():
        return {}
    known = {}
    for line in path.read_text().splitlines():
        node, _, reason = line.partition("#")
        node = node.strip()
        if node:
            known[node] = reason.strip() or "known failure"
    return known


def pytest_collection_modifyitems(config, items):
    known = _known_failures()
    if not known:
        return
    seen = set()
    files = set()
    for item in items:
        rel = item.nodeid.split("tests/sdk/", 1)[-1]
        files.add(rel.split("::", 1)[0])
        for key in (rel, rel.split("[", 1)[0]):
            if key in known:
                item.add_marker(pytest.mark.xfail(reason=known[key], strict=False))
                seen.add(key)
                break
    # Entries for a collected file that match none of its tests are probably renamed tests.
    stale = sorted(k for k in set(known) - seen if k.split("::", 1)[0] in files
                   and not config.option.keyword and not config.option.markexpr)
    if stale:
        config.issue_config_time_warning(
            pytest.PytestConfigWarning(f"known-failures entries match no test: {stale}"), stacklevel=2)


# --- server log on failure -----------------------------------------------------------------

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    item._lazuli_log_offsets = {id(s): s.log_size() for s in _active_servers}
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed:
        return
    offsets = getattr(item, "_lazuli_log_offsets", {})
    for srv in list(_active_servers):
        if srv.log_path is None:
            continue
        if srv.proc is not None and srv.proc.poll() is not None:
            rep.sections.append(("SERVER NOT RUNNING",
                                 f"{srv.log_path.name}: the server exited with code {srv.proc.returncode}"))
        since = offsets.get(id(srv), 0)
        rep.sections.append((f"server log {srv.log_path.name} (from this test on)",
                             srv.log_tail(since)))
