//! Bodies are streamed: uploading and downloading a blob of several GiB through one request
//! each keeps the server's peak RSS under 256 MiB.
//!
//! `LAZULI_STREAMING_TEST_BYTES` sets the blob size (default 1 GiB; the full run is 4 GiB).

mod common;

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use common::{client, proc_status_bytes, ServerProcess};

const RSS_LIMIT_BYTES: u64 = 256 << 20;
const CHUNK_BYTES: usize = 1 << 20;

/// A body of `remaining` bytes generated chunk by chunk (never held whole in memory).
struct Generated {
    remaining: u64,
    chunk: Bytes,
}

impl Body for Generated {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let take = self.remaining.min(self.chunk.len() as u64) as usize;
        self.remaining -= take as u64;
        Poll::Ready(Some(Ok(Frame::data(self.chunk.slice(..take)))))
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

async fn connect(addr: std::net::SocketAddr) -> hyper::client::conn::http1::SendRequest<Generated> {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(connection);
    sender
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_gib_blob_streams_in_bounded_memory() {
    let size: u64 = std::env::var("LAZULI_STREAMING_TEST_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1 << 30);
    let dir = tempfile::tempdir().expect("tempdir");
    let server = ServerProcess::start(dir.path());
    let addr = server.addr;
    let created = client::send_to(
        addr,
        Method::PUT,
        "/devstoreaccount1/big?restype=container",
        &[],
        b"",
        client::Auth::SharedKey,
    )
    .await;
    assert_eq!(created.status, 201);

    let chunk: Bytes = (0..CHUNK_BYTES)
        .map(|i| (i * 131 % 251) as u8)
        .collect::<Vec<u8>>()
        .into();
    let date = httpdate::fmt_http_date(std::time::SystemTime::now());
    let mut request = Request::builder()
        .method(Method::PUT)
        .uri("/devstoreaccount1/big/blob")
        .header("host", addr.to_string())
        .header("x-ms-date", &date)
        .header("x-ms-version", client::VERSION)
        .header("x-ms-blob-type", "BlockBlob")
        .header("content-length", size.to_string())
        .body(Generated {
            remaining: size,
            chunk: chunk.clone(),
        })
        .expect("request");
    let signature = client::sign(&request, client::KEY);
    request.headers_mut().insert(
        "authorization",
        format!("SharedKey {}:{signature}", client::ACCOUNT)
            .parse()
            .expect("header"),
    );
    let mut sender = connect(addr).await;
    let response = sender.send_request(request).await.expect("upload");
    assert_eq!(response.status(), 201, "upload answered {}", response.status());
    let after_upload = proc_status_bytes(server.pid(), "VmHWM");

    let mut download = Request::builder()
        .method(Method::GET)
        .uri("/devstoreaccount1/big/blob")
        .header("host", addr.to_string())
        .header("x-ms-date", &date)
        .header("x-ms-version", client::VERSION)
        .body(Generated {
            remaining: 0,
            chunk: Bytes::new(),
        })
        .expect("request");
    let signature = client::sign(&download, client::KEY);
    download.headers_mut().insert(
        "authorization",
        format!("SharedKey {}:{signature}", client::ACCOUNT)
            .parse()
            .expect("header"),
    );
    let mut sender = connect(addr).await;
    let response = sender.send_request(download).await.expect("download");
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let mut offset = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.expect("body frame");
        let Ok(data) = frame.into_data() else { continue };
        // Every byte equals what the generator produced at that offset.
        let mut rest: &[u8] = &data;
        while !rest.is_empty() {
            let at = (offset % CHUNK_BYTES as u64) as usize;
            let take = rest.len().min(CHUNK_BYTES - at);
            assert!(rest[..take] == chunk[at..at + take], "bytes at {offset} differ");
            rest = &rest[take..];
            offset += take as u64;
        }
    }
    assert_eq!(offset, size, "downloaded length");
    let peak = proc_status_bytes(server.pid(), "VmHWM");
    server.kill();
    println!(
        "{} MiB up and down; server peak RSS after upload {} MiB, at the end {} MiB",
        size >> 20,
        after_upload >> 20,
        peak >> 20
    );
    assert!(peak < RSS_LIMIT_BYTES, "peak RSS {peak} bytes");
}
