"""CORS: preflight (OPTIONS) against the service's CORS rules, and CORS headers on requests."""

import pytest
from azure.storage.blob import CorsRule

from sdkutil import assert_error, raw


@pytest.fixture
def cors_rule(service):
    before = service.get_service_properties()["cors"] or []
    service.set_service_properties(cors=[
        CorsRule(["http://allowed.example"], ["GET", "PUT"], allowed_headers=["x-ms-meta-*", "content-type"],
                 exposed_headers=["x-ms-meta-*"], max_age_in_seconds=600),
    ])
    yield
    service.set_service_properties(cors=before)


def test_cors_preflight_allowed(server, container_name, cors_rule):
    resp = raw("OPTIONS", server.blob_url(container_name, "any"), headers={
        "Origin": "http://allowed.example",
        "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "x-ms-meta-foo,content-type",
    })
    assert resp.status_code == 200, resp.text
    assert resp.headers.get("Access-Control-Allow-Origin") == "http://allowed.example"
    assert "PUT" in resp.headers.get("Access-Control-Allow-Methods", "")
    assert resp.headers.get("Access-Control-Max-Age") == "600"
    allow_headers = resp.headers.get("Access-Control-Allow-Headers", "").lower()
    assert "x-ms-meta-foo" in allow_headers or "x-ms-meta-*" in allow_headers


def test_cors_preflight_rejected(server, container_name, cors_rule):
    resp = raw("OPTIONS", server.blob_url(container_name, "any"), headers={
        "Origin": "http://evil.example", "Access-Control-Request-Method": "GET"})
    assert_error(resp, 403, "CorsPreflightFailure")
    assert "Access-Control-Allow-Origin" not in resp.headers
    # Right origin, method not in the rule.
    resp = raw("OPTIONS", server.blob_url(container_name, "any"), headers={
        "Origin": "http://allowed.example", "Access-Control-Request-Method": "DELETE"})
    assert_error(resp, 403, "CorsPreflightFailure")


def test_cors_preflight_without_rules(server, service, container_name):
    before = service.get_service_properties()["cors"] or []
    service.set_service_properties(cors=[])
    try:
        resp = raw("OPTIONS", server.blob_url(container_name, "any"), headers={
            "Origin": "http://allowed.example", "Access-Control-Request-Method": "GET"})
        assert_error(resp, 403, "CorsPreflightFailure")
    finally:
        service.set_service_properties(cors=before)


def test_cors_actual_request_headers(server, container_name, container, cors_rule):
    container.get_blob_client("c").upload_blob(b"x", metadata={"foo": "bar"})
    url = server.blob_sas_url(container_name, "c", permission="r")
    resp = raw("GET", url, headers={"Origin": "http://allowed.example"})
    assert resp.status_code == 200
    assert resp.headers.get("Access-Control-Allow-Origin") == "http://allowed.example"
    # Browsers do not understand prefix wildcards in Access-Control-Expose-Headers, so the
    # service lists the response headers the x-ms-meta-* rule matches.
    assert "x-ms-meta-foo" in resp.headers.get("Access-Control-Expose-Headers", "").lower()
    resp = raw("GET", url, headers={"Origin": "http://evil.example"})
    assert resp.status_code == 200, "CORS never blocks the request itself"
    assert "Access-Control-Allow-Origin" not in resp.headers


def test_cors_preflight_missing_headers(server, container_name, cors_rule):
    """An OPTIONS without Origin or Access-Control-Request-Method is a bad request (400)."""
    resp = raw("OPTIONS", server.blob_url(container_name, "any"), headers={"Origin": "http://allowed.example"})
    assert resp.status_code == 400, resp.status_code
    resp = raw("OPTIONS", server.blob_url(container_name, "any"), headers={"Access-Control-Request-Method": "GET"})
    assert resp.status_code == 400, resp.status_code
