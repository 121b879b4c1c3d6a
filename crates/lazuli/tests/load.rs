//! Load: 256 concurrent keep-alive clients of mixed reads and writes for a bounded time. No
//! request fails, the server's open sockets return to where they started once the
//! clients leave, and its memory stays flat.
//!
//! `LAZULI_LOAD_SECONDS` sets the duration (default 5; the full run is 60).

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rand::{Rng, SeedableRng};
use tokio::net::TcpStream;

use common::{client, proc_status_bytes, ServerProcess};

const CLIENTS: usize = 256;
/// Distinct blob names; clients overwrite and read each other's blobs.
const NAMES: usize = 512;
/// Growth of the peak RSS allowed between the first and the last part of the run.
const RSS_GROWTH_BYTES_MAX: u64 = 64 << 20;

/// Open sockets of the process: connections that outlive their clients would show here.
/// (Regular files are left out: the stream layer opens one per extent, and extents come and
/// go as the data grows and is compacted.)
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| {
            dir.flatten()
                .filter(|entry| {
                    std::fs::read_link(entry.path()).is_ok_and(|target| target.to_string_lossy().starts_with("socket:"))
                })
                .count()
        })
        .unwrap_or(0)
}

fn signed(method: Method, addr: SocketAddr, path: &str, headers: &[(&str, &str)], body: Bytes) -> Request<Full<Bytes>> {
    let date = httpdate::fmt_http_date(std::time::SystemTime::now());
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string())
        .header("x-ms-date", date)
        .header("x-ms-version", client::VERSION)
        .header("content-length", body.len().to_string());
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let mut request = builder.body(Full::new(body)).expect("request");
    let signature = client::sign(&request, client::KEY);
    request.headers_mut().insert(
        "authorization",
        format!("SharedKey {}:{signature}", client::ACCOUNT)
            .parse()
            .expect("header"),
    );
    request
}

async fn client_loop(addr: SocketAddr, seed: u64, deadline: Instant, done: Arc<AtomicU64>, failed: Arc<AtomicU64>) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(connection);
    while Instant::now() < deadline {
        let name = format!("/devstoreaccount1/load/blob-{}", rng.gen_range(0..NAMES));
        let request = if rng.gen_bool(0.2) {
            let len = rng.gen_range(4096..65536);
            let body = Bytes::from(vec![rng.gen::<u8>(); len]);
            signed(Method::PUT, addr, &name, &[("x-ms-blob-type", "BlockBlob")], body)
        } else {
            signed(Method::GET, addr, &name, &[], Bytes::new())
        };
        let ok = match sender.send_request(request).await {
            Ok(response) => {
                let status = response.status().as_u16();
                let body_ok = response.into_body().collect().await.is_ok();
                body_ok && matches!(status, 200 | 201)
            }
            Err(_) => false,
        };
        if ok {
            done.fetch_add(1, Ordering::Relaxed);
        } else {
            failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_load_without_errors_or_leaks() {
    let seconds: u64 = std::env::var("LAZULI_LOAD_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let dir = tempfile::tempdir().expect("tempdir");
    let server = ServerProcess::start(dir.path());
    let addr = server.addr;
    let pid = server.pid();
    let created = client::send_to(
        addr,
        Method::PUT,
        "/devstoreaccount1/load?restype=container",
        &[],
        b"",
        client::Auth::SharedKey,
    )
    .await;
    assert_eq!(created.status, 201);
    for i in 0..NAMES {
        let path = format!("/devstoreaccount1/load/blob-{i}");
        let put = client::send_to(
            addr,
            Method::PUT,
            &path,
            &[("x-ms-blob-type", "BlockBlob")],
            &[1u8; 4096],
            client::Auth::SharedKey,
        )
        .await;
        assert_eq!(put.status, 201);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let fds_before = open_fds(pid);

    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|c| tokio::spawn(client_loop(addr, c as u64, deadline, done.clone(), failed.clone())))
        .collect();
    tokio::time::sleep(Duration::from_secs(seconds) / 3).await;
    let rss_early = proc_status_bytes(pid, "VmRSS");
    let fds_during = open_fds(pid);
    for task in tasks {
        task.await.expect("client task");
    }
    let rss_late = proc_status_bytes(pid, "VmRSS");
    // Connections close when the clients drop them; give the server a moment to notice.
    let mut fds_after = open_fds(pid);
    for _ in 0..50 {
        if fds_after <= fds_before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        fds_after = open_fds(pid);
    }
    server.kill();
    let requests = done.load(Ordering::Relaxed);
    println!(
        "{CLIENTS} clients, {seconds} s: {requests} requests ({:.0}/s), fds {fds_before} → {fds_during} → {fds_after}, RSS {} → {} MiB",
        requests as f64 / started.elapsed().as_secs_f64(),
        rss_early >> 20,
        rss_late >> 20
    );
    assert_eq!(failed.load(Ordering::Relaxed), 0, "requests failed under load");
    assert!(
        fds_during >= fds_before + CLIENTS / 2,
        "the clients were not all connected at once ({fds_during} fds)"
    );
    assert!(
        fds_after <= fds_before,
        "file descriptors leaked: {fds_before} before, {fds_after} after"
    );
    assert!(
        rss_late <= rss_early + RSS_GROWTH_BYTES_MAX,
        "RSS grew from {rss_early} to {rss_late}"
    );
}
