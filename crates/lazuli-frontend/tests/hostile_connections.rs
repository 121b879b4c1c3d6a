//! Hostile connections, written byte by byte on raw TCP where an HTTP client library would refuse
//! to produce the input: huge and numerous headers, a body shorter than its Content-Length, a
//! client that stops in the middle of the request line (slow loris) or between requests, duplicate
//! version headers.
//! Each must get a clean 4xx or a closed connection, never a hang, and other clients must be
//! served meanwhile.

mod common;

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use common::{send, Auth, TestServer, ACCOUNT, KEY};
use hmac::{Hmac, Mac};
use http::{Method, StatusCode};
use lazuli_frontend::server::ServeOptions;
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Upper bound for any answer in these tests: a hang fails the test instead of stalling CI.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// Reads until the peer closes (or `ANSWER_WITHIN` passes) and returns what arrived.
async fn read_until_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    let deadline = tokio::time::Instant::now() + ANSWER_WITHIN;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return out,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => panic!(
                "no answer and no close within {ANSWER_WITHIN:?}; got {:?}",
                String::from_utf8_lossy(&out)
            ),
        }
    }
}

/// Reads one response head (status line and headers) and returns the status and the head text.
async fn read_head(stream: &mut TcpStream) -> (u16, String) {
    let mut out = Vec::new();
    let mut byte = [0u8; 1];
    let deadline = tokio::time::Instant::now() + ANSWER_WITHIN;
    while !out.ends_with(b"\r\n\r\n") {
        match tokio::time::timeout_at(deadline, stream.read(&mut byte)).await {
            Ok(Ok(1)) => out.push(byte[0]),
            Ok(_) => break,
            Err(_) => panic!("no response head within {ANSWER_WITHIN:?}"),
        }
    }
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, text)
}

fn status_of(response: &[u8]) -> u16 {
    String::from_utf8_lossy(response)
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// A Shared Key signature for a raw request (string-to-sign of version 2015-02-21 and later).
/// `headers` are (lowercase name, value) and must include every header sent.
fn sign(method: &str, path: &str, headers: &[(&str, &str)]) -> String {
    let get = |name: &str| -> String {
        let values: Vec<&str> = headers.iter().filter(|(n, _)| *n == name).map(|(_, v)| *v).collect();
        values.join(",")
    };
    let length = get("content-length");
    let length = if length == "0" { String::new() } else { length };
    let mut canonical: Vec<(String, String)> = Vec::new();
    for (n, _) in headers.iter().filter(|(n, _)| n.starts_with("x-ms-")) {
        if !canonical.iter().any(|(c, _)| c == n) {
            canonical.push((n.to_string(), get(n)));
        }
    }
    canonical.sort();
    let mut sts = format!(
        "{method}\n{}\n{}\n{length}\n{}\n{}\n\n{}\n{}\n{}\n{}\n{}\n",
        get("content-encoding"),
        get("content-language"),
        get("content-md5"),
        get("content-type"),
        get("if-modified-since"),
        get("if-match"),
        get("if-none-match"),
        get("if-unmodified-since"),
        get("range"),
    );
    for (n, v) in canonical {
        sts.push_str(&format!("{n}:{v}\n"));
    }
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    sts.push_str(&format!("/{ACCOUNT}{path}"));
    let mut params: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .map(|(n, v)| (n.to_lowercase(), v.to_string()))
        .collect();
    params.sort();
    for (n, v) in params {
        sts.push_str(&format!("\n{n}:{v}"));
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(&BASE64.decode(KEY).unwrap()).unwrap();
    mac.update(sts.as_bytes());
    BASE64.encode(mac.finalize().into_bytes())
}

/// A signed raw request head (without the final blank line's body).
fn signed_head(server: &TestServer, method: &str, path: &str, extra: &[(&str, &str)]) -> String {
    let date = httpdate::fmt_http_date(std::time::SystemTime::now());
    let host = server.addr.to_string();
    let mut headers: Vec<(&str, &str)> = vec![("host", &host), ("x-ms-date", &date)];
    headers.extend_from_slice(extra);
    if !headers.iter().any(|(n, _)| *n == "x-ms-version") {
        headers.push(("x-ms-version", common::VERSION));
    }
    let signature = sign(method, path, &headers);
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    for (n, v) in &headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str(&format!("authorization: SharedKey {ACCOUNT}:{signature}\r\n\r\n"));
    head
}

async fn setup() -> TestServer {
    setup_with(ServeOptions::default()).await
}

/// A server with the listener's `options` and a container `cnt`.
async fn setup_with(options: ServeOptions) -> TestServer {
    let server = common::start_serving(false, options).await;
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
    server
}

/// The server still answers a normal request.
async fn assert_serving(server: &TestServer) {
    let r = tokio::time::timeout(
        ANSWER_WITHIN,
        send(
            server,
            Method::GET,
            "/devstoreaccount1/cnt?restype=container",
            &[],
            b"",
            Auth::SharedKey,
        ),
    )
    .await
    .expect("a normal request was not answered in time");
    assert_eq!(r.status, StatusCode::OK);
}

/// The raw signer agrees with the server (otherwise the tests below would prove nothing).
#[tokio::test]
async fn raw_signed_requests_are_accepted() {
    let server = setup().await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let head = signed_head(
        &server,
        "GET",
        "/devstoreaccount1/cnt?restype=container",
        &[("connection", "close")],
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let response = read_until_close(&mut stream).await;
    assert_eq!(status_of(&response), 200, "{}", String::from_utf8_lossy(&response));
}

/// A 1 MiB header is refused with a 4xx (431) and the connection closed; the server keeps serving.
#[tokio::test]
async fn huge_header_is_refused_cleanly() {
    let server = setup().await;
    for size in [100 * 1024, 1024 * 1024] {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        let head = format!(
            "GET /devstoreaccount1/cnt?restype=container HTTP/1.1\r\nhost: x\r\nconnection: close\r\nx-big: {}\r\n\r\n",
            "a".repeat(size)
        );
        // The server may answer and close before taking every byte: a failed write is fine.
        let _ = stream.write_all(head.as_bytes()).await;
        let response = read_until_close(&mut stream).await;
        let status = status_of(&response);
        assert!(
            status == 0 || (400..500).contains(&status),
            "{size}-byte header answered {status}: {}",
            String::from_utf8_lossy(&response[..response.len().min(200)])
        );
        if size >= 1024 * 1024 {
            assert!(matches!(status, 0 | 400 | 431), "1 MiB header answered {status}");
        }
        assert_serving(&server).await;
    }
}

/// The service's HTTP stack refuses request heads of this size (its header limit is far below
/// 100 KiB), and so does Lazuli (`server::REQUEST_HEAD_BYTES_MAX`, 64 KiB).
#[tokio::test]
async fn hundred_kib_header_is_refused() {
    let server = setup().await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "GET /devstoreaccount1/cnt?restype=container HTTP/1.1\r\nhost: x\r\nconnection: close\r\nx-big: {}\r\n\r\n",
        "a".repeat(100 * 1024)
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let response = read_until_close(&mut stream).await;
    assert!(matches!(status_of(&response), 0 | 400 | 431));
}

/// Thousands of headers are refused with a 4xx (431) or a close, never a hang.
#[tokio::test]
async fn many_headers_are_refused_cleanly() {
    let server = setup().await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let mut head =
        String::from("GET /devstoreaccount1/cnt?restype=container HTTP/1.1\r\nhost: x\r\nconnection: close\r\n");
    for i in 0..5000 {
        head.push_str(&format!("x-h{i}: v\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes()).await;
    let response = read_until_close(&mut stream).await;
    let status = status_of(&response);
    assert!(matches!(status, 0 | 400 | 431), "5000 headers answered {status}");
    assert_serving(&server).await;
}

/// Garbage instead of a request line is a 400 (or a close), never a hang or a crash.
#[tokio::test]
async fn garbage_request_line_is_refused() {
    let server = setup().await;
    for garbage in [
        &b"\x00\x01\x02\r\n\r\n"[..],
        b"GET\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"\xff\xfe\xfd / HTTP/1.1\r\n\r\n",
        b"GET /devstoreaccount1 HTTP/1.1\r\nhost: x\r\ncontent-length: -1\r\n\r\n",
        b"GET /devstoreaccount1 HTTP/1.1\r\nhost: x\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nab",
    ] {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        let _ = stream.write_all(garbage).await;
        let response = read_until_close(&mut stream).await;
        let status = status_of(&response);
        assert!(
            status == 0 || (400..500).contains(&status),
            "{:?} answered {status}",
            String::from_utf8_lossy(garbage)
        );
    }
    assert_serving(&server).await;
}

/// A Put Blob whose body stops short of its Content-Length, then the client closes: nothing is
/// stored, and the server keeps serving others.
#[tokio::test]
async fn short_body_then_close_stores_nothing() {
    let server = setup().await;
    for (declared, sent) in [(1000usize, 10usize), (10 * 1024 * 1024, 5 * 1024 * 1024)] {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        let length = declared.to_string();
        let head = signed_head(
            &server,
            "PUT",
            "/devstoreaccount1/cnt/short",
            &[("x-ms-blob-type", "BlockBlob"), ("content-length", &length)],
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(&vec![b'x'; sent]).await.unwrap();
        stream.shutdown().await.unwrap();
        let _ = read_until_close(&mut stream).await;
        drop(stream);
        assert_serving(&server).await;
        let r = send(
            &server,
            Method::HEAD,
            "/devstoreaccount1/cnt/short",
            &[],
            b"",
            Auth::SharedKey,
        )
        .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "declared {declared}, sent {sent}");
    }
}

/// A client that sends half a request line and then nothing does not stop others from being
/// served: 50 such connections are held open while normal requests go through.
#[tokio::test]
async fn slow_loris_does_not_block_others() {
    let server = setup().await;
    let mut idle = Vec::new();
    for _ in 0..50 {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream.write_all(b"GET /devstoreaccount1/cnt?rest").await.unwrap();
        idle.push(stream);
    }
    for _ in 0..5 {
        assert_serving(&server).await;
    }
    drop(idle);
}

/// The header read timeout of the servers below: short, so that these tests take seconds.
const SHORT_HEAD_TIMEOUT: Duration = Duration::from_secs(1);

/// A server whose connections must send each request head within `SHORT_HEAD_TIMEOUT`.
async fn setup_with_short_head_timeout() -> TestServer {
    setup_with(ServeOptions {
        header_read_timeout: SHORT_HEAD_TIMEOUT,
        ..Default::default()
    })
    .await
}

/// Waits for the server to close `stream` without answering (or with a 4xx) and returns how
/// long that took from `since`.
async fn closed_after(stream: &mut TcpStream, since: std::time::Instant) -> Duration {
    let mut buf = [0u8; 1024];
    let read = tokio::time::timeout(SHORT_HEAD_TIMEOUT + ANSWER_WITHIN, stream.read(&mut buf)).await;
    let elapsed = since.elapsed();
    match read {
        Ok(Ok(n)) => {
            let text = String::from_utf8_lossy(&buf[..n]);
            assert!(n == 0 || (400..500).contains(&status_of(&buf[..n])), "got {text:?}");
        }
        Ok(Err(_)) => {}
        Err(_) => panic!("connection still open after {elapsed:?}"),
    }
    elapsed
}

/// A slow-loris connection is closed once the header read timeout passes (and not before).
#[tokio::test]
async fn slow_loris_is_closed_after_the_header_timeout() {
    let server = setup_with_short_head_timeout().await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let started = std::time::Instant::now();
    stream.write_all(b"GET /devstoreaccount1/cnt?rest").await.unwrap();
    let elapsed = closed_after(&mut stream, started).await;
    assert!(
        elapsed >= SHORT_HEAD_TIMEOUT,
        "closed after {elapsed:?}, before the timeout"
    );
    assert!(elapsed < SHORT_HEAD_TIMEOUT * 4, "closed only after {elapsed:?}");
    assert_serving(&server).await;
}

/// The timeout runs from the end of each response: a keep-alive connection whose requests
/// come more often than the timeout is served for longer than the timeout, and closed once
/// it has been idle for the timeout.
#[tokio::test]
async fn idle_keep_alive_connection_is_closed_after_the_header_timeout() {
    let server = setup_with_short_head_timeout().await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let started = std::time::Instant::now();
    // The server's idle clock starts when it has written a response, which is after the
    // client sent the request and before the client has read the answer: measuring from
    // the send is the bound that cannot come out short.
    let mut last_sent = started;
    for _ in 0..3 {
        let head = signed_head(&server, "GET", "/devstoreaccount1/cnt?restype=container", &[]);
        last_sent = std::time::Instant::now();
        stream.write_all(head.as_bytes()).await.unwrap();
        let (status, text) = read_head(&mut stream).await;
        assert_eq!(status, 200, "{text}");
        tokio::time::sleep(SHORT_HEAD_TIMEOUT * 3 / 5).await;
    }
    assert!(
        started.elapsed() > SHORT_HEAD_TIMEOUT,
        "the requests did not outlast one timeout"
    );
    let idle = closed_after(&mut stream, last_sent).await;
    assert!(
        idle >= SHORT_HEAD_TIMEOUT,
        "closed after {idle:?} idle, before the timeout"
    );
    assert!(idle < SHORT_HEAD_TIMEOUT * 4, "closed only after {idle:?} idle");
}

/// The timeout covers request heads only: a body that pauses for longer than the timeout
/// mid-upload, and a client that pauses mid-download, are served in full.
#[tokio::test]
async fn slow_bodies_are_not_cut_by_the_header_timeout() {
    let server = setup_with_short_head_timeout().await;
    let pause = SHORT_HEAD_TIMEOUT * 5 / 2;
    let body: Vec<u8> = (0..16u32 << 20).map(|i| (i % 251) as u8).collect();

    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let length = body.len().to_string();
    let head = signed_head(
        &server,
        "PUT",
        "/devstoreaccount1/cnt/slow",
        &[("x-ms-blob-type", "BlockBlob"), ("content-length", &length)],
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..1 << 20]).await.unwrap();
    tokio::time::sleep(pause).await;
    stream.write_all(&body[1 << 20..]).await.unwrap();
    let (status, text) = read_head(&mut stream).await;
    assert_eq!(status, 201, "{text}");

    let head = signed_head(&server, "GET", "/devstoreaccount1/cnt/slow", &[]);
    stream.write_all(head.as_bytes()).await.unwrap();
    let (status, text) = read_head(&mut stream).await;
    assert_eq!(status, 200, "{text}");
    let mut received = vec![0u8; body.len()];
    stream.read_exact(&mut received[..1 << 20]).await.unwrap();
    tokio::time::sleep(pause).await;
    tokio::time::timeout(ANSWER_WITHIN, stream.read_exact(&mut received[1 << 20..]))
        .await
        .expect("the rest of the download did not arrive in time")
        .expect("the download was cut");
    assert!(received == body, "the downloaded bytes differ from the uploaded ones");
}

/// A client newer than the server keeps working: `x-ms-version: 2099-01-01` is served and
/// answered with the server's own version.
#[tokio::test]
async fn future_version_is_served() {
    let server = setup().await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let head = signed_head(
        &server,
        "GET",
        "/devstoreaccount1/cnt?restype=container",
        &[("x-ms-version", "2099-01-01"), ("connection", "close")],
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let (status, head) = read_head(&mut stream).await;
    assert_eq!(status, 200, "{head}");
    let version = format!("x-ms-version: {}", lazuli_frontend::SERVICE_VERSION);
    assert!(
        head.to_ascii_lowercase().contains(&version.to_ascii_lowercase()),
        "{head}"
    );
}
