//! Metadata names keep the case they were written with, on the wire: hyper lowercases header
//! names, so these tests speak raw HTTP/1.1 over TCP, several requests per connection, and
//! read the response heads' bytes.

mod common;

use std::time::Duration;

use common::client::{account_sas, SasSpec};
use common::{start_with_namespace, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ANSWER_WITHIN: Duration = Duration::from_secs(10);

struct Response {
    status: u16,
    head: String,
    body: Vec<u8>,
}

/// Sends `request` (head and body as bytes) and reads one response (no body for HEAD).
async fn exchange(stream: &mut TcpStream, request: &[u8]) -> Response {
    stream.write_all(request).await.expect("write");
    let is_head = request.starts_with(b"HEAD ");
    tokio::time::timeout(ANSWER_WITHIN, read_response(stream, is_head))
        .await
        .expect("a response in time")
}

async fn read_response(stream: &mut TcpStream, is_head: bool) -> Response {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            stream.read(&mut byte).await.expect("read"),
            1,
            "connection closed: {head:?}"
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).expect("ASCII head");
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status");
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length: "))
        .map_or(0, |v| v.trim().parse().expect("length"));
    let mut body = vec![0u8; if is_head { 0 } else { length }];
    stream.read_exact(&mut body).await.expect("body");
    Response { status, head, body }
}

fn sas() -> String {
    account_sas(&SasSpec::default())
}

fn request(method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nx-ms-version: 2021-08-06\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

async fn connect(server: &TestServer) -> TcpStream {
    TcpStream::connect(server.addr).await.expect("connect")
}

/// Every `x-ms-meta-` header line of a response head, as written.
fn metadata_lines(head: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = head
        .lines()
        .filter(|line| line.to_ascii_lowercase().starts_with("x-ms-meta-"))
        .collect();
    lines.sort_unstable();
    lines
}

#[tokio::test]
async fn blob_and_container_metadata_come_back_as_written_on_both_namespaces() {
    for hns in [false, true] {
        let server = start_with_namespace(hns).await;
        let mut conn = connect(&server).await;
        let sas = sas();
        let created = exchange(
            &mut conn,
            &request(
                "PUT",
                &format!("/devstoreaccount1/cnt?restype=container&{sas}"),
                &[("x-ms-meta-Owner", "team"), ("X-MS-META-lower", "l")],
                b"",
            ),
        )
        .await;
        assert_eq!(created.status, 201, "{}", created.head);
        let put = request(
            "PUT",
            &format!("/devstoreaccount1/cnt/dir/b?{sas}"),
            &[
                ("x-ms-blob-type", "BlockBlob"),
                ("x-ms-meta-CamelCase", "1"),
                ("x-ms-meta-lower", "2"),
                ("X-Ms-Meta-UPPER", "3"),
            ],
            b"hello",
        );
        assert_eq!(exchange(&mut conn, &put).await.status, 201);
        let props = exchange(
            &mut conn,
            &request("HEAD", &format!("/devstoreaccount1/cnt/dir/b?{sas}"), &[], b""),
        )
        .await;
        assert_eq!(props.status, 200);
        assert_eq!(
            metadata_lines(&props.head),
            ["x-ms-meta-CamelCase: 1", "x-ms-meta-UPPER: 3", "x-ms-meta-lower: 2"],
            "hns {hns}: {}",
            props.head
        );
        let get = exchange(
            &mut conn,
            &request("GET", &format!("/devstoreaccount1/cnt/dir/b?{sas}"), &[], b""),
        )
        .await;
        assert_eq!(get.body, b"hello");
        assert_eq!(metadata_lines(&get.head).len(), 3);
        assert!(get.head.contains("x-ms-meta-CamelCase: 1"), "{}", get.head);
        let container = exchange(
            &mut conn,
            &request(
                "HEAD",
                &format!("/devstoreaccount1/cnt?restype=container&{sas}"),
                &[],
                b"",
            ),
        )
        .await;
        assert_eq!(
            metadata_lines(&container.head),
            ["x-ms-meta-Owner: team", "x-ms-meta-lower: l"]
        );
        let listed = exchange(
            &mut conn,
            &request(
                "GET",
                &format!("/devstoreaccount1/cnt?restype=container&comp=list&include=metadata&{sas}"),
                &[],
                b"",
            ),
        )
        .await;
        let xml = String::from_utf8(listed.body).expect("xml");
        assert!(
            xml.contains("<CamelCase>1</CamelCase>") && xml.contains("<UPPER>3</UPPER>"),
            "{xml}"
        );
    }
}

/// A server (flat namespace), an account SAS, and a connection on which container `cnt` was
/// just created.
async fn with_container() -> (TestServer, String, TcpStream) {
    let server = start_with_namespace(false).await;
    let sas = sas();
    let mut conn = connect(&server).await;
    let created = exchange(
        &mut conn,
        &request(
            "PUT",
            &format!("/devstoreaccount1/cnt?restype=container&{sas}"),
            &[],
            b"",
        ),
    )
    .await;
    assert_eq!(created.status, 201);
    (server, sas, conn)
}

/// Bodies are not request heads: a metadata header line in one (a request's own body, or
/// that of a request refused before its body was read) changes no name's spelling.
#[tokio::test]
async fn text_in_bodies_is_not_taken_for_request_headers() {
    let (_server, sas, mut conn) = with_container().await;
    let decoy = b"PUT /x HTTP/1.1\r\nx-ms-meta-NEWNAME: 1\r\nx-ms-meta-Other: 1\r\n\r\n";
    let refused = request(
        "PUT",
        "/devstoreaccount1/cnt/b?sv=2021-06-08&sig=bad",
        &[("x-ms-blob-type", "BlockBlob")],
        decoy,
    );
    let answer = exchange(&mut conn, &refused).await;
    assert_eq!(answer.status, 403, "{}", answer.head);
    // hyper read that small body with the head, so it keeps the connection.
    let put = request(
        "PUT",
        &format!("/devstoreaccount1/cnt/b?{sas}"),
        &[("x-ms-blob-type", "BlockBlob"), ("x-ms-meta-NewName", "v")],
        decoy,
    );
    let put = exchange(&mut conn, &put).await;
    assert_eq!(put.status, 201, "{}", put.head);
    let props = exchange(
        &mut conn,
        &request("HEAD", &format!("/devstoreaccount1/cnt/b?{sas}"), &[], b""),
    )
    .await;
    assert_eq!(metadata_lines(&props.head), ["x-ms-meta-NewName: v"], "{}", props.head);
}

/// `Expect: 100-continue`: the interim response goes out before the final one, whose names
/// are respelled, and the next request on the connection is read as one.
#[tokio::test]
async fn names_survive_an_interim_response() {
    let (_server, sas, mut conn) = with_container().await;

    let head = format!(
        "PUT /devstoreaccount1/cnt/b?{sas} HTTP/1.1\r\nHost: h\r\nx-ms-version: 2021-08-06\r\n\
         x-ms-blob-type: BlockBlob\r\nx-ms-meta-Expecting: 1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"
    );
    conn.write_all(head.as_bytes()).await.expect("head");
    let interim = tokio::time::timeout(ANSWER_WITHIN, read_response(&mut conn, true))
        .await
        .expect("interim");
    assert_eq!(interim.status, 100, "{}", interim.head);
    conn.write_all(b"data").await.expect("body");
    let put = tokio::time::timeout(ANSWER_WITHIN, read_response(&mut conn, false))
        .await
        .expect("answer");
    assert_eq!(put.status, 201, "{}", put.head);
    let props = exchange(
        &mut conn,
        &request("HEAD", &format!("/devstoreaccount1/cnt/b?{sas}"), &[], b""),
    )
    .await;
    assert_eq!(
        metadata_lines(&props.head),
        ["x-ms-meta-Expecting: 1"],
        "{}",
        props.head
    );
}
