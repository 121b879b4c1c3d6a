//! Hostile resource names: dot segments, encoded slashes, NUL and invalid UTF-8, names at and
//! just past the length limits, Unicode normalization variants, and every way a container name
//! can be wrong. Each answer is the status and `x-ms-error-code` the service gives; where the
//! service's answer comes from its HTTP stack rather than from Storage (no error code), the test
//! says so and checks the status only.

mod common;

use common::{send, start, Auth, TestServer};
use http::{Method, StatusCode};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// What the SDKs percent-encode in a blob name: everything but unreserved characters and '/'.
const PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

fn encode(name: &str) -> String {
    utf8_percent_encode(name, PATH).to_string()
}

async fn create_container(server: &TestServer, name: &str) {
    let r = send(
        server,
        Method::PUT,
        &format!("/devstoreaccount1/{name}?restype=container"),
        &[],
        b"",
        Auth::SharedKey,
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "create container {name}: {}",
        r.error_code()
    );
}

async fn put_blob(server: &TestServer, container: &str, raw_name: &str, body: &[u8]) -> common::Reply {
    send(
        server,
        Method::PUT,
        &format!("/devstoreaccount1/{container}/{raw_name}"),
        &[("x-ms-blob-type", "BlockBlob")],
        body,
        Auth::SharedKey,
    )
    .await
}

/// Blob names of a listing, decoded (`Encoded="true"` names are percent-decoded).
async fn list_names(server: &TestServer, container: &str) -> Vec<String> {
    let r = send(
        server,
        Method::GET,
        &format!("/devstoreaccount1/{container}?restype=container&comp=list"),
        &[],
        b"",
        Auth::SharedKey,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let text = String::from_utf8(r.body.to_vec()).expect("listing is UTF-8");
    let mut reader = quick_xml::Reader::from_str(&text);
    let mut names = Vec::new();
    let mut in_blob = false;
    loop {
        match reader.read_event().expect("listing is XML") {
            quick_xml::events::Event::Start(e) if e.name().as_ref() == b"Blob" => in_blob = true,
            quick_xml::events::Event::End(e) if e.name().as_ref() == b"Blob" => in_blob = false,
            quick_xml::events::Event::Start(e) if in_blob && e.name().as_ref() == b"Name" => {
                let encoded = e
                    .try_get_attribute("Encoded")
                    .expect("attribute")
                    .is_some_and(|a| a.value.as_ref() == b"true");
                let text = reader.read_text(e.name()).expect("name text").into_owned();
                let text = quick_xml::escape::unescape(&text).expect("unescape").into_owned();
                names.push(if encoded {
                    percent_encoding::percent_decode_str(&text)
                        .decode_utf8()
                        .expect("utf8")
                        .into_owned()
                } else {
                    text
                });
            }
            quick_xml::events::Event::Eof => break,
            _ => {}
        }
    }
    names
}

async fn container_names(server: &TestServer) -> Vec<String> {
    let r = send(
        server,
        Method::GET,
        "/devstoreaccount1?comp=list",
        &[],
        b"",
        Auth::SharedKey,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let text = String::from_utf8(r.body.to_vec()).expect("UTF-8");
    text.split("<Name>")
        .skip(1)
        .filter_map(|s| s.split("</Name>").next())
        .map(str::to_string)
        .collect()
}

/// A name with dot segments is a key inside its container: the write succeeds, the same URL reads
/// it back, and no other container appears (nothing a client sends becomes a file path).
#[tokio::test]
async fn dot_segments_stay_inside_the_container() {
    let server = start().await;
    create_container(&server, "cnt").await;
    for raw in ["a/../b", "../../../../etc/passwd", "%2E%2E/%2E%2E/x", "..%2F..%2Fy"] {
        let r = put_blob(&server, "cnt", raw, b"dots").await;
        assert_eq!(r.status, StatusCode::CREATED, "{raw}: {}", r.error_code());
        let r = send(
            &server,
            Method::GET,
            &format!("/devstoreaccount1/cnt/{raw}"),
            &[],
            b"",
            Auth::SharedKey,
        )
        .await;
        assert_eq!((r.status, &r.body[..]), (StatusCode::OK, &b"dots"[..]), "{raw}");
    }
    assert_eq!(container_names(&server).await, vec!["cnt".to_string()]);
}

/// The service resolves dot segments before routing (`./key`, `%2E/key`, `.%2Fkey` all address
/// `key`, as a raw REST probe reported in Azure/azure-sdk-for-rust#5275 shows), so `a/../b` is the
/// blob `b`.
#[tokio::test]
async fn dot_segments_are_resolved_like_the_service() {
    let server = start().await;
    create_container(&server, "cnt").await;
    assert_eq!(
        put_blob(&server, "cnt", "a/../b", b"x").await.status,
        StatusCode::CREATED
    );
    assert_eq!(put_blob(&server, "cnt", "./c", b"y").await.status, StatusCode::CREATED);
    assert_eq!(list_names(&server, "cnt").await, vec!["b".to_string(), "c".to_string()]);
}

/// `%2F` in a blob name is a '/', as in the service: `a%2Fb` and `a/b` are one blob.
#[tokio::test]
async fn encoded_slash_is_a_slash() {
    let server = start().await;
    create_container(&server, "cnt").await;
    assert_eq!(
        put_blob(&server, "cnt", "a%2Fb", b"one").await.status,
        StatusCode::CREATED
    );
    let r = send(
        &server,
        Method::GET,
        "/devstoreaccount1/cnt/a/b",
        &[],
        b"",
        Auth::SharedKey,
    )
    .await;
    assert_eq!((r.status, &r.body[..]), (StatusCode::OK, &b"one"[..]));
    assert_eq!(list_names(&server, "cnt").await, vec!["a/b".to_string()]);
}

/// A percent-encoded NUL can be carried by no URL the service accepts: its HTTP stack refuses it
/// with 400 before Storage sees it (no `x-ms-error-code`); Lazuli answers 400
/// `InvalidResourceName`. Either way nothing is stored.
#[tokio::test]
async fn encoded_nul_is_refused() {
    let server = start().await;
    create_container(&server, "cnt").await;
    for raw in ["a%00b", "%00", "x/%00/y"] {
        let r = put_blob(&server, "cnt", raw, b"nul").await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{raw}");
    }
    assert!(list_names(&server, "cnt").await.is_empty());
}

/// Percent sequences that are not UTF-8 are refused as an invalid URI (400 `InvalidUri`).
#[tokio::test]
async fn invalid_utf8_percent_sequences_are_invalid_uri() {
    let server = start().await;
    create_container(&server, "cnt").await;
    for raw in ["%FF", "a%C3%28", "%ED%A0%80", "%F4%90%80%80", "ok/%C0%AF"] {
        let r = put_blob(&server, "cnt", raw, b"bad").await;
        assert_eq!(
            (r.status, r.error_code()),
            (StatusCode::BAD_REQUEST, "InvalidUri"),
            "{raw}"
        );
    }
    assert!(list_names(&server, "cnt").await.is_empty());
}

/// 1,024 characters is the longest blob name; 1,025 is 400 `OutOfRangeInput`. Characters are
/// counted as the service counts them, in UTF-16 code units: 512 emoji fit, 513 do not.
#[tokio::test]
async fn blob_name_length_limit() {
    let server = start().await;
    create_container(&server, "cnt").await;
    let longest = "n".repeat(1024);
    assert_eq!(
        put_blob(&server, "cnt", &longest, b"1").await.status,
        StatusCode::CREATED
    );
    let r = put_blob(&server, "cnt", &"n".repeat(1025), b"1").await;
    assert_eq!((r.status, r.error_code()), (StatusCode::BAD_REQUEST, "OutOfRangeInput"));
    let emoji = "\u{1F60A}".repeat(512);
    assert_eq!(
        put_blob(&server, "cnt", &encode(&emoji), b"2").await.status,
        StatusCode::CREATED
    );
    let r = put_blob(&server, "cnt", &encode(&"\u{1F60A}".repeat(513)), b"2").await;
    assert_eq!((r.status, r.error_code()), (StatusCode::BAD_REQUEST, "OutOfRangeInput"));
    // Reads of a too-long name are refused the same way, not answered 404.
    let r = send(
        &server,
        Method::GET,
        &format!("/devstoreaccount1/cnt/{}", "n".repeat(1025)),
        &[],
        b"",
        Auth::SharedKey,
    )
    .await;
    assert_eq!((r.status, r.error_code()), (StatusCode::BAD_REQUEST, "OutOfRangeInput"));
    let mut names = list_names(&server, "cnt").await;
    names.sort();
    let mut expected = vec![longest, emoji];
    expected.sort();
    assert_eq!(names, expected);
}

/// The service does not normalize Unicode: NFC `é` and NFD `e` + U+0301 are two blobs, and each is
/// listed back byte for byte.
#[tokio::test]
async fn unicode_normalization_variants_are_distinct_blobs() {
    let server = start().await;
    create_container(&server, "cnt").await;
    let nfc = "caf\u{00E9}";
    let nfd = "cafe\u{0301}";
    assert_ne!(nfc.as_bytes(), nfd.as_bytes());
    assert_eq!(
        put_blob(&server, "cnt", &encode(nfc), b"nfc").await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        put_blob(&server, "cnt", &encode(nfd), b"nfd").await.status,
        StatusCode::CREATED
    );
    for (name, body) in [(nfc, &b"nfc"[..]), (nfd, &b"nfd"[..])] {
        let r = send(
            &server,
            Method::GET,
            &format!("/devstoreaccount1/cnt/{}", encode(name)),
            &[],
            b"",
            Auth::SharedKey,
        )
        .await;
        assert_eq!((r.status, &r.body[..]), (StatusCode::OK, body));
    }
    let mut names = list_names(&server, "cnt").await;
    names.sort();
    let mut expected = vec![nfc.to_string(), nfd.to_string()];
    expected.sort();
    assert_eq!(names, expected);
}

/// Container names: 3–63 characters (else 400 `OutOfRangeInput`), lowercase letters, digits and
/// single inner hyphens (else 400 `InvalidResourceName`).
#[tokio::test]
async fn bad_container_names() {
    let server = start().await;
    let cases: [(&str, &str); 8] = [
        ("ab", "OutOfRangeInput"),
        (&"a".repeat(64), "OutOfRangeInput"),
        ("Abc", "InvalidResourceName"),
        ("ABCDEF", "InvalidResourceName"),
        ("a--b", "InvalidResourceName"),
        ("-abc", "InvalidResourceName"),
        ("abc-", "InvalidResourceName"),
        ("a_bc", "InvalidResourceName"),
    ];
    for (name, code) in cases {
        let r = send(
            &server,
            Method::PUT,
            &format!("/devstoreaccount1/{name}?restype=container"),
            &[],
            b"",
            Auth::SharedKey,
        )
        .await;
        assert_eq!((r.status, r.error_code()), (StatusCode::BAD_REQUEST, code), "{name}");
    }
    let longest = "a".repeat(63);
    create_container(&server, &longest).await;
    create_container(&server, "a-b-c").await;
    let mut names = container_names(&server).await;
    names.sort();
    assert_eq!(names, vec!["a-b-c".to_string(), longest]);
}
