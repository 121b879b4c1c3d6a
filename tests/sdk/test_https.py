"""HTTPS with --cert/--key (here through LAZULI_CERT/LAZULI_KEY): the SDK works over TLS
against a certificate it trusts, and plain HTTP is not served on that port."""

import datetime as dt
import ipaddress

import pytest
import requests
from azure.storage.blob import BlobServiceClient
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import sdkutil


def _self_signed(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path = tmp_path / "cert.pem"
    key_path = tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_sdk_over_https(start_server, tmp_path):
    cert, key = _self_signed(tmp_path)
    srv = start_server(env={"LAZULI_CERT": str(cert), "LAZULI_KEY": str(key)})
    url = f"https://{sdkutil.HOST}:{srv.port}/{srv.account}"
    service = BlobServiceClient(url, credential={"account_name": srv.account, "account_key": srv.key},
                                connection_verify=str(cert))
    container = service.create_container("tls")
    container.upload_blob("hello", b"over tls", metadata={"CamelCase": "1"})
    assert container.download_blob("hello").readall() == b"over tls"
    assert [b.name for b in container.list_blobs()] == ["hello"]
    # Metadata names keep their case through the TLS stream too.
    assert container.get_blob_client("hello").get_blob_properties().metadata == {"CamelCase": "1"}
    # The same port does not speak plain HTTP.
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"http://{sdkutil.HOST}:{srv.port}/{srv.account}?comp=list", timeout=5)
