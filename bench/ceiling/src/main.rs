//! The request-rate ceiling of the Lazuli benchmark (`make bench`).
//!
//! A minimal hyper 1 HTTP/1.1 server on tokio's multi-threaded runtime, the
//! same stack Lazuli's front-end is built on, doing no work beyond HTTP:
//!
//! * `GET <any path>[?size=N]` answers 200 with N bytes (default 4096) from a
//!   buffer made once at start-up;
//! * `PUT <any path>` reads the whole body, drops it, and answers 201.
//!
//! Whatever Lazuli does per request (auth, routing, storage, fsync) comes on
//! top of this, so wrk against it gives an upper bound on requests/s.
//!
//! Usage: `lazuli-bench-ceiling <port>` (listens on 127.0.0.1 only).

use std::convert::Infallible;
use std::net::SocketAddr;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

const DEFAULT_SIZE: usize = 4096;
const MAX_SIZE: usize = 64 << 20;

fn requested_size(req: &Request<Incoming>) -> usize {
    req.uri()
        .query()
        .and_then(|q| {
            q.split('&')
                .find_map(|kv| kv.strip_prefix("size="))
                .and_then(|v| v.parse::<usize>().ok())
        })
        .unwrap_or(DEFAULT_SIZE)
        .min(MAX_SIZE)
}

async fn handle(req: Request<Incoming>, payload: Bytes) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut resp = Response::new(Full::new(Bytes::new()));
    match *req.method() {
        Method::GET | Method::HEAD => {
            let n = requested_size(&req);
            *resp.body_mut() = Full::new(payload.slice(0..n));
        }
        Method::PUT | Method::POST => {
            let mut body = req.into_body();
            while let Some(frame) = body.frame().await {
                if frame.is_err() {
                    *resp.status_mut() = StatusCode::BAD_REQUEST;
                    return Ok(resp);
                }
            }
            *resp.status_mut() = StatusCode::CREATED;
        }
        _ => *resp.status_mut() = StatusCode::METHOD_NOT_ALLOWED,
    }
    Ok(resp)
}

#[tokio::main]
async fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(18080);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = TcpListener::bind(addr).await.expect("bind");
    eprintln!("ceiling listening on http://{}", listener.local_addr().unwrap());
    let payload = Bytes::from(vec![b'x'; MAX_SIZE]);
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(_) => continue,
        };
        let _ = stream.set_nodelay(true);
        let payload = payload.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| handle(req, payload.clone()));
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}
