//! Hostile headers, bodies, queries, methods and versions sent through a well-behaved HTTP client:
//! every one is answered with the service's status and `x-ms-error-code`, nothing is stored by a
//! refused request, and the server keeps serving.

mod common;

use common::{send, start, Auth, TestServer};
use http::{Method, StatusCode};

async fn setup() -> TestServer {
    let server = start().await;
    let r = send(
        &server,
        Method::PUT,
        "/devstoreaccount1/cnt?restype=container",
        &[],
        b"",
        Auth::SharedKey,
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = send(
        &server,
        Method::PUT,
        "/devstoreaccount1/cnt/ten",
        &[("x-ms-blob-type", "BlockBlob")],
        b"0123456789",
        Auth::SharedKey,
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    server
}

async fn get(server: &TestServer, path: &str, headers: &[(&str, &str)]) -> common::Reply {
    send(server, Method::GET, path, headers, b"", Auth::SharedKey).await
}

async fn exists(server: &TestServer, blob: &str) -> bool {
    send(
        server,
        Method::HEAD,
        &format!("/devstoreaccount1/cnt/{blob}"),
        &[],
        b"",
        Auth::SharedKey,
    )
    .await
    .status
        == StatusCode::OK
}

// ---- Headers ----

/// A range that starts past the end is 416 `InvalidRange`, for `x-ms-range` and `Range`.
#[tokio::test]
async fn range_past_the_end_is_invalid_range() {
    let server = setup().await;
    for (name, value) in [
        ("x-ms-range", "bytes=10-20"),
        ("x-ms-range", "bytes=100-"),
        ("range", "bytes=10-10"),
        ("x-ms-range", "bytes=18446744073709551615-"),
    ] {
        let r = get(&server, "/devstoreaccount1/cnt/ten", &[(name, value)]).await;
        assert_eq!(
            (r.status, r.error_code()),
            (StatusCode::RANGE_NOT_SATISFIABLE, "InvalidRange"),
            "{name}: {value}"
        );
    }
    // The largest closed range is clamped to the blob, not overflowed.
    let r = get(
        &server,
        "/devstoreaccount1/cnt/ten",
        &[("x-ms-range", "bytes=0-18446744073709551615")],
    )
    .await;
    assert_eq!(
        (r.status, &r.body[..]),
        (StatusCode::PARTIAL_CONTENT, &b"0123456789"[..])
    );
    assert_eq!(
        r.headers.get("content-range").and_then(|v| v.to_str().ok()),
        Some("bytes 0-9/10")
    );
}

/// The service's 416 carries `Content-Range: bytes */<size>` so that a client learns the size
/// (captured from the service in floci-io/floci-az#81).
#[tokio::test]
async fn range_past_the_end_tells_the_size() {
    let server = setup().await;
    let r = get(&server, "/devstoreaccount1/cnt/ten", &[("x-ms-range", "bytes=10-20")]).await;
    assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        r.headers.get("content-range").and_then(|v| v.to_str().ok()),
        Some("bytes */10")
    );
}

/// A `Range` that is not one of the two documented forms (`bytes=a-`, `bytes=a-b`) is ignored, as
/// HTTP allows, and the whole blob is answered; it is never an error or a crash.
#[tokio::test]
async fn malformed_range_is_ignored() {
    let server = setup().await;
    for value in [
        "bytes=abc",
        "bytes=5-3",
        "bytes=-5",
        "bytes=0-1,4-5",
        "items=0-1",
        "bytes=",
        "bytes=99999999999999999999999-",
        "bytes=0-1x",
    ] {
        let r = get(&server, "/devstoreaccount1/cnt/ten", &[("range", value)]).await;
        assert_eq!(
            (r.status, &r.body[..]),
            (StatusCode::OK, &b"0123456789"[..]),
            "{value:?}"
        );
    }
}

/// A `Content-MD5` that is not base64 of 16 bytes is 400 `InvalidMd5`; nothing is stored.
#[tokio::test]
async fn bad_content_md5_is_invalid_md5() {
    let server = setup().await;
    for value in ["not base64!", "AAAA", "AAAAAAAAAAAAAAAAAAAAAAAAAAAA"] {
        let r = send(
            &server,
            Method::PUT,
            "/devstoreaccount1/cnt/md5",
            &[("x-ms-blob-type", "BlockBlob"), ("content-md5", value)],
            b"data",
            Auth::SharedKey,
        )
        .await;
        assert_eq!(
            (r.status, r.error_code()),
            (StatusCode::BAD_REQUEST, "InvalidMd5"),
            "{value}"
        );
    }
    assert!(!exists(&server, "md5").await);
    // A well-formed MD5 of other bytes is a mismatch, not an invalid value.
    let r = send(
        &server,
        Method::PUT,
        "/devstoreaccount1/cnt/md5",
        &[
            ("x-ms-blob-type", "BlockBlob"),
            ("content-md5", "AAAAAAAAAAAAAAAAAAAAAA=="),
        ],
        b"data",
        Auth::SharedKey,
    )
    .await;
    assert_eq!((r.status, r.error_code()), (StatusCode::BAD_REQUEST, "Md5Mismatch"));
    assert!(!exists(&server, "md5").await);
}

/// Metadata names and values over 8 KiB in total are 400 `MetadataTooLarge`; exactly 8 KiB fits.
#[tokio::test]
async fn metadata_over_8_kib_is_too_large() {
    let server = setup().await;
    // Name "m" (1 byte) + value: 8 KiB in total.
    let fits = "v".repeat(8 * 1024 - 1);
    let r = send(
        &server,
        Method::PUT,
        "/devstoreaccount1/cnt/meta",
        &[("x-ms-blob-type", "BlockBlob"), ("x-ms-meta-m", &fits)],
        b"",
        Auth::SharedKey,
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.error_code());
    let over = "v".repeat(8 * 1024);
    let r = send(
        &server,
        Method::PUT,
        "/devstoreaccount1/cnt/meta2",
        &[("x-ms-blob-type", "BlockBlob"), ("x-ms-meta-m", &over)],
        b"",
        Auth::SharedKey,
    )
    .await;
    assert_eq!(
        (r.status, r.error_code()),
        (StatusCode::BAD_REQUEST, "MetadataTooLarge")
    );
    assert!(!exists(&server, "meta2").await);
    // Many small pairs add up the same way (80 pairs of 4 + 110 bytes).
    let values: Vec<(String, String)> = (0..80)
        .map(|i| (format!("x-ms-meta-k{i:03}"), "v".repeat(110)))
        .collect();
    let headers: Vec<(&str, &str)> = values.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let r = send(
        &server,
        Method::PUT,
        "/devstoreaccount1/cnt/meta?comp=metadata",
        &headers,
        b"",
        Auth::SharedKey,
    )
    .await;
    assert_eq!(
        (r.status, r.error_code()),
        (StatusCode::BAD_REQUEST, "MetadataTooLarge")
    );
}

/// Many small metadata pairs within 8 KiB are valid (the service bounds their size, not their
/// count): 150 pairs of 8 bytes must be stored.
#[tokio::test]
async fn many_small_metadata_pairs_are_accepted() {
    let server = setup().await;
    let values: Vec<(String, String)> = (0..150)
        .map(|i| (format!("x-ms-meta-k{i:03}"), "v".to_string()))
        .collect();
    let headers: Vec<(&str, &str)> = values.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let r = send(
        &server,
        Method::PUT,
        "/devstoreaccount1/cnt/ten?comp=metadata",
        &headers,
        b"",
        Auth::SharedKey,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.error_code());
}

/// Metadata names must be C# identifiers: 400 `InvalidMetadata` otherwise.
#[tokio::test]
async fn invalid_metadata_name_is_refused() {
    let server = setup().await;
    for name in ["x-ms-meta-1abc", "x-ms-meta-a-b", "x-ms-meta-a.b"] {
        let r = send(
            &server,
            Method::PUT,
            "/devstoreaccount1/cnt/ten?comp=metadata",
            &[(name, "v")],
            b"",
            Auth::SharedKey,
        )
        .await;
        assert_eq!(
            (r.status, r.error_code()),
            (StatusCode::BAD_REQUEST, "InvalidMetadata"),
            "{name}"
        );
    }
}

// ---- Bodies ----

/// Malformed XML for each document the API takes is 400 `InvalidXmlDocument`.
#[tokio::test]
async fn malformed_xml_bodies_are_invalid_xml_document() {
    let server = setup().await;
    let documents: [&[u8]; 5] = [
        b"<BlockList><Latest>QUE=</Latest>",
        b"<<<>>>",
        b"\xff\xfe<x/>",
        b"<BlockList></Wrong>",
        b"<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"b\">]><BlockList>&a;</BlockList>",
    ];
    for body in documents {
        for (method, path) in [
            (Method::PUT, "/devstoreaccount1/cnt/ten?comp=blocklist"),
            (Method::PUT, "/devstoreaccount1/cnt?restype=container&comp=acl"),
            (Method::PUT, "/devstoreaccount1?restype=service&comp=properties"),
        ] {
            let r = send(&server, method, path, &[], body, Auth::SharedKey).await;
            assert_eq!(
                (r.status, r.error_code()),
                (StatusCode::BAD_REQUEST, "InvalidXmlDocument"),
                "{path}: {}",
                String::from_utf8_lossy(body)
            );
        }
    }
    // The blob is unchanged by the refused block lists.
    let r = get(&server, "/devstoreaccount1/cnt/ten", &[]).await;
    assert_eq!(&r.body[..], b"0123456789");
}

/// An access-policy time past the last representable instant (`9999-12-31T23:59:59-01:00` is in
/// year 10000 UTC) is a bad node value, not a dropped connection (found by the `xml` fuzz target).
#[tokio::test]
async fn acl_time_past_year_9999_is_invalid_node_value() {
    let server = setup().await;
    let body = b"<?xml version=\"1.0\" encoding=\"utf-8\"?><SignedIdentifiers><SignedIdentifier><Id>p</Id><AccessPolicy><Start>9999-12-31T23:59:59-01:00</Start><Expiry>9999-12-31T23:59:59Z</Expiry><Permission>r</Permission></AccessPolicy></SignedIdentifier></SignedIdentifiers>";
    let r = send(
        &server,
        Method::PUT,
        "/devstoreaccount1/cnt?restype=container&comp=acl",
        &[],
        body,
        Auth::SharedKey,
    )
    .await;
    assert_eq!(
        (r.status, r.error_code()),
        (StatusCode::BAD_REQUEST, "InvalidXmlNodeValue")
    );
}

/// A SAS whose expiry is past the last representable instant is refused (403
/// `AuthenticationFailed`), without credentials and without a dropped connection (found by the
/// `sas` fuzz target: `se`/`st` are parsed before the signature is checked).
#[tokio::test]
async fn sas_time_past_year_9999_is_authentication_failed() {
    let server = setup().await;
    let sig = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA%3D";
    for field in ["se", "st"] {
        let other = if field == "se" {
            "st=2026-01-01"
        } else {
            "se=2027-01-01"
        };
        let path = format!("/devstoreaccount1/cnt/ten?sv=2025-11-05&sr=b&sp=r&{other}&{field}=9999-12-31T23%3A59%3A59-01%3A00&sig={sig}");
        let r = send(&server, Method::GET, &path, &[], b"", Auth::None).await;
        assert_eq!(
            (r.status, r.error_code()),
            (StatusCode::FORBIDDEN, "AuthenticationFailed"),
            "{field}"
        );
    }
}

/// A Put Block List body over the XML body limit (8 MiB) is 413 `RequestBodyTooLarge`.
#[tokio::test]
async fn oversized_block_list_is_request_body_too_large() {
    let server = setup().await;
    let mut body = b"<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>".to_vec();
    while body.len() <= 8 * 1024 * 1024 {
        body.extend_from_slice(b"<Latest>QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB</Latest>");
    }
    body.extend_from_slice(b"</BlockList>");
    let r = send(
        &server,
        Method::PUT,
        "/devstoreaccount1/cnt/big?comp=blocklist",
        &[],
        &body,
        Auth::SharedKey,
    )
    .await;
    assert_eq!(
        (r.status, r.error_code()),
        (StatusCode::PAYLOAD_TOO_LARGE, "RequestBodyTooLarge")
    );
    assert!(!exists(&server, "big").await);
}

// ---- Query and method ----
//
// (`x-ms-version: 2099-01-01` is in hostile_connections.rs: this client always sends its own
// version header, and a second one would change the signed string.)

/// An unknown `comp=` is 400 `InvalidQueryParameterValue` at every level.
#[tokio::test]
async fn unknown_comp_is_invalid_query_parameter_value() {
    let server = setup().await;
    for path in [
        "/devstoreaccount1?comp=bogus",
        "/devstoreaccount1/cnt?restype=container&comp=bogus",
        "/devstoreaccount1/cnt/ten?comp=bogus",
        "/devstoreaccount1/cnt/ten?comp=%00",
    ] {
        let r = get(&server, path, &[]).await;
        assert_eq!(
            (r.status, r.error_code()),
            (StatusCode::BAD_REQUEST, "InvalidQueryParameterValue"),
            "{path}"
        );
    }
}

/// A method the service does not know is 405 `UnsupportedHttpVerb`.
#[tokio::test]
async fn unknown_method_is_unsupported_http_verb() {
    let server = setup().await;
    for method in ["FOO", "PROPFIND", "TRACE", "CONNECTX"] {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        for path in ["/devstoreaccount1/cnt/ten", "/devstoreaccount1/cnt?restype=container"] {
            let r = send(&server, method.clone(), path, &[], b"", Auth::SharedKey).await;
            assert_eq!(
                (r.status, r.error_code()),
                (StatusCode::METHOD_NOT_ALLOWED, "UnsupportedHttpVerb"),
                "{method} {path}"
            );
        }
    }
}
