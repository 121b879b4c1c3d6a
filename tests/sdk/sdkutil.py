"""Helpers shared by the SDK conformance suite: the server process, clients, raw signed requests.

Every wait here is bounded: server start-up, shutdown, HTTP connects and reads.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import os
import re
import shlex
import signal
import socket
import subprocess
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Optional
from urllib.parse import parse_qsl, quote, urlsplit

import requests
from azure.storage.blob import (
    AccountSasPermissions,
    BlobSasPermissions,
    BlobServiceClient,
    ContainerSasPermissions,
    ResourceTypes,
    generate_account_sas,
    generate_blob_sas,
    generate_container_sas,
)

ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
HOST = "127.0.0.1"

# Server command line after the binary; {host}, {port}, {location} are filled in.
DEFAULT_SERVER_ARGS = "--blobHost {host} --blobPort {port} --location {location} --metricsPort 0"

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0
HTTP_TIMEOUT_S = 30.0
# SDK clients: no retries (a retry would hide the first answer, which is what we test), bounded waits.
SDK_CLIENT_KWARGS = dict(retry_total=0, connection_timeout=10, read_timeout=30)


def free_port() -> int:
    """A port that was free a moment ago (bind to 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Server:
    """A Lazuli server: either a process we own, or an external one (LAZULI_URL)."""

    def __init__(self, url: str, account: str = ACCOUNT, key: str = KEY):
        self.url = url.rstrip("/")
        self.account = account
        self.key = key
        self.proc: Optional[subprocess.Popen] = None
        self.log_path: Optional[Path] = None
        self.location: Optional[Path] = None
        self.port: Optional[int] = None

    # --- process management (owned servers only) -------------------------------------------
    @classmethod
    def spawn(cls, binary: str, location: Path, log_path: Path, env_extra: Optional[dict] = None,
              account: str = ACCOUNT, key: str = KEY) -> "Server":
        srv = cls(f"http://{HOST}:0/{account}", account, key)
        srv.binary = binary
        srv.location = Path(location)
        srv.log_path = Path(log_path)
        srv.env_extra = dict(env_extra or {})
        srv.start()
        return srv

    def start(self) -> None:
        """Start (or restart) on a fresh free port, on the same data directory."""
        assert self.proc is None or self.proc.poll() is not None, "server already running"
        self.location.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}/{self.account}"
        template = os.environ.get("LAZULI_SERVER_ARGS", DEFAULT_SERVER_ARGS)
        args = [a.format(host=HOST, port=self.port, location=str(self.location))
                for a in shlex.split(template)]
        env = dict(os.environ)
        env.update(self.env_extra)
        with open(self.log_path, "ab") as log:
            log.write(f"\n==== start {self.binary} {' '.join(args)} at {utcnow().isoformat()} ====\n".encode())
            log.flush()
            self.proc = subprocess.Popen([self.binary, *args], stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=env)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode} during start-up; "
                                   f"log:\n{self.log_tail()}")
            try:
                with socket.create_connection((HOST, self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"server did not accept connections on port {self.port} within "
                           f"{START_TIMEOUT_S}s; log:\n{self.log_tail()}")

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int:
        """Graceful stop: SIGTERM to our PID, bounded wait, SIGKILL if it does not exit."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=timeout)
            raise RuntimeError(f"server did not exit within {timeout}s of SIGTERM") from None

    def kill(self) -> None:
        """Crash: SIGKILL to our PID."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=STOP_TIMEOUT_S)

    def log_size(self) -> int:
        try:
            return self.log_path.stat().st_size if self.log_path else 0
        except OSError:
            return 0

    def log_tail(self, since: int = 0, max_chars: int = 20000) -> str:
        if not self.log_path or not self.log_path.exists():
            return "(no server log)"
        with open(self.log_path, "rb") as f:
            f.seek(since)
            data = f.read().decode("utf-8", "replace")
        data = re.sub(r"\x1b\[[0-9;]*m", "", data)  # colour codes, if the server wrote any
        if len(data) > max_chars:
            data = "...(cut)...\n" + data[-max_chars:]
        return data

    # --- clients ---------------------------------------------------------------------------
    @property
    def conn_str(self) -> str:
        return (f"DefaultEndpointsProtocol=http;AccountName={self.account};AccountKey={self.key};"
                f"BlobEndpoint={self.url};")

    def service_client(self, **kwargs) -> BlobServiceClient:
        kw = dict(SDK_CLIENT_KWARGS)
        kw.update(kwargs)
        return BlobServiceClient.from_connection_string(self.conn_str, **kw)

    def container_url(self, container: str) -> str:
        return f"{self.url}/{container}"

    def blob_url(self, container: str, blob: str) -> str:
        return f"{self.url}/{container}/{quote(blob, safe='/~')}"

    # --- SAS -------------------------------------------------------------------------------
    def account_sas(self, permission: str = "rwdlacup", resource_types: str = "sco",
                    expiry: Optional[dt.datetime] = None, **kw) -> str:
        return generate_account_sas(
            self.account, self.key,
            resource_types=ResourceTypes.from_string(resource_types),
            permission=AccountSasPermissions.from_string(permission),
            expiry=expiry or utcnow() + dt.timedelta(hours=1), **kw)

    def container_sas(self, container: str, permission: Optional[str] = "rwdlac",
                      expiry: Optional[dt.datetime] = None, **kw) -> str:
        if permission is not None:
            kw["permission"] = ContainerSasPermissions.from_string(permission)
        if expiry is not None or "policy_id" not in kw:
            kw["expiry"] = expiry or utcnow() + dt.timedelta(hours=1)
        return generate_container_sas(self.account, container, account_key=self.key, **kw)

    def blob_sas(self, container: str, blob: str, permission: Optional[str] = "racwd",
                 expiry: Optional[dt.datetime] = None, **kw) -> str:
        if permission is not None:
            kw["permission"] = BlobSasPermissions.from_string(permission)
        if expiry is not None or "policy_id" not in kw:
            kw["expiry"] = expiry or utcnow() + dt.timedelta(hours=1)
        return generate_blob_sas(self.account, container, blob, account_key=self.key, **kw)

    def blob_sas_url(self, container: str, blob: str, permission: str = "racwd", **kw) -> str:
        return f"{self.blob_url(container, blob)}?{self.blob_sas(container, blob, permission, **kw)}"


# --- raw HTTP ------------------------------------------------------------------------------

def raw(method: str, url: str, headers: Optional[dict] = None, data=None, auth=None,
        timeout: float = HTTP_TIMEOUT_S) -> requests.Response:
    return requests.request(method, url, headers=headers or {}, data=data, auth=auth,
                            timeout=timeout, allow_redirects=False)


class SharedKeyAuth(requests.auth.AuthBase):
    """Shared Key (not Lite) signing for `requests`, per 'Authorize with Shared Key'.

    Adds x-ms-date and x-ms-version (unless given) and signs the prepared request.
    """

    def __init__(self, account: str, key: str, version: str = "2025-11-05", header_order=None):
        self.account = account
        self.key = base64.b64decode(key)
        self.version = version
        # Order of the canonicalized x-ms-* headers: ordinal by default; a list of lowercase
        # names forces another order (the service accepts .NET culture-aware order too).
        self.header_order = header_order

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers.setdefault("x-ms-date", _http_date(utcnow()))
        r.headers.setdefault("x-ms-version", self.version)
        body = r.body
        length = len(body) if body else 0
        if body and "Content-Length" not in r.headers:
            r.headers["Content-Length"] = str(length)

        def h(name: str) -> str:
            return r.headers.get(name, "")

        content_length = h("Content-Length")
        if content_length == "0":
            content_length = ""
        parts = [r.method.upper(), h("Content-Encoding"), h("Content-Language"), content_length,
                 h("Content-MD5"), h("Content-Type"), "", h("If-Modified-Since"), h("If-Match"),
                 h("If-None-Match"), h("If-Unmodified-Since"), h("Range")]
        ms = sorted((k.lower(), " ".join(str(v).split())) for k, v in r.headers.items()
                    if k.lower().startswith("x-ms-"))
        if self.header_order is not None:
            rank = {name: i for i, name in enumerate(self.header_order)}
            ms.sort(key=lambda kv: (rank.get(kv[0], -1), kv[0]))
        canon_headers = "".join(f"{k}:{v}\n" for k, v in ms)
        u = urlsplit(r.url)
        resource = f"/{self.account}{u.path or '/'}"
        params: dict[str, list[str]] = {}
        for k, v in parse_qsl(u.query, keep_blank_values=True):
            params.setdefault(k.lower(), []).append(v)
        for k in sorted(params):
            resource += f"\n{k}:{','.join(sorted(params[k]))}"
        string_to_sign = "\n".join(parts) + "\n" + canon_headers + resource
        sig = base64.b64encode(hmac.new(self.key, string_to_sign.encode("utf-8"),
                                        hashlib.sha256).digest()).decode()
        r.headers["Authorization"] = f"SharedKey {self.account}:{sig}"
        return r


class SharedKeyLiteAuth(requests.auth.AuthBase):
    """Shared Key Lite for the Blob service: VERB, Content-MD5, Content-Type, Date, the x-ms-*
    headers, then the resource in its 2009-09-19 form with only ?comp= kept."""

    def __init__(self, account: str, key: str, version: str = "2025-11-05"):
        self.account = account
        self.key = base64.b64decode(key)
        self.version = version

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers.setdefault("x-ms-date", _http_date(utcnow()))
        r.headers.setdefault("x-ms-version", self.version)
        ms = sorted((k.lower(), " ".join(str(v).split())) for k, v in r.headers.items()
                    if k.lower().startswith("x-ms-"))
        u = urlsplit(r.url)
        resource = f"/{self.account}{u.path or '/'}"
        comp = [v for k, v in parse_qsl(u.query, keep_blank_values=True) if k.lower() == "comp"]
        if comp:
            resource += f"?comp={comp[0]}"
        string_to_sign = "\n".join([r.method.upper(), r.headers.get("Content-MD5", ""),
                                     r.headers.get("Content-Type", ""), ""]) + "\n"
        string_to_sign += "".join(f"{k}:{v}\n" for k, v in ms) + resource
        sig = base64.b64encode(hmac.new(self.key, string_to_sign.encode("utf-8"),
                                        hashlib.sha256).digest()).decode()
        r.headers["Authorization"] = f"SharedKeyLite {self.account}:{sig}"
        return r


def _http_date(t: dt.datetime) -> str:
    return t.strftime("%a, %d %b %Y %H:%M:%S GMT")


def error_code_from_body(resp: requests.Response) -> Optional[str]:
    if not resp.content:
        return None
    try:
        root = ET.fromstring(resp.content)
    except ET.ParseError:
        return None
    code = root.find("Code")
    return code.text if code is not None else None


def assert_common_headers(resp: requests.Response) -> None:
    for name in ("x-ms-request-id", "x-ms-version", "Date"):
        assert resp.headers.get(name), f"response {resp.status_code} lacks {name}: {dict(resp.headers)}"


def assert_error(resp: requests.Response, status: int, code: Optional[str] = None) -> None:
    """An Azure error: status, x-ms-error-code header, and (except HEAD) an XML <Error><Code>."""
    assert resp.status_code == status, (
        f"expected {status} {code}, got {resp.status_code} "
        f"{resp.headers.get('x-ms-error-code')}: {resp.text[:500]}")
    header_code = resp.headers.get("x-ms-error-code")
    assert header_code, f"error response without x-ms-error-code: {dict(resp.headers)}"
    if code is not None:
        assert header_code == code, f"x-ms-error-code {header_code!r}, expected {code!r}"
    if resp.request.method != "HEAD":
        body_code = error_code_from_body(resp)
        assert body_code == header_code, (
            f"XML body Code {body_code!r} differs from header {header_code!r}: {resp.text[:500]}")
    assert resp.headers.get("x-ms-request-id"), "error response without x-ms-request-id"


# --- names and data ------------------------------------------------------------------------

def unique_name(hint: str = "", max_len: int = 63) -> str:
    """A valid container name: lowercase letters, digits, single hyphens, 3..63 chars."""
    hint = re.sub(r"[^a-z0-9]+", "-", hint.lower()).strip("-")
    name = f"t{uuid.uuid4().hex[:10]}-{hint}" if hint else f"t{uuid.uuid4().hex[:12]}"
    return name[:max_len].rstrip("-")


def md5(data: bytes) -> bytes:
    return hashlib.md5(data).digest()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# CRC-64/NVME (the x-ms-content-crc64 variant): reflected poly 0x9A6C9329AC4BC9B5, init and
# xorout all ones. On the wire: base64 of the 8 little-endian bytes.
_CRC64_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ 0x9A6C9329AC4BC9B5 if _c & 1 else _c >> 1
    _CRC64_TABLE.append(_c)


def crc64_nvme(data: bytes) -> int:
    crc = 0xFFFFFFFFFFFFFFFF
    for byte in data:
        crc = _CRC64_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFFFFFFFFFF


def crc64_header(data: bytes) -> str:
    return b64(crc64_nvme(data).to_bytes(8, "little"))


assert crc64_nvme(b"123456789") == 0xAE8B14860A799888
