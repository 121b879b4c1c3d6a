//! The listener: accepts connections, serves HTTP/1.1 with keep-alive, and shuts down
//! gracefully (stop accepting, let in-flight requests finish).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::http_util::full;
use crate::service::Frontend;

/// Connections served at once; beyond this, accepting waits (the kernel backlog holds the
/// rest), so a flood of connections cannot exhaust file descriptors or memory.
pub const CONNECTIONS_MAX: usize = 4096;
/// A client must finish sending request headers within this time (slow-loris defence).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long in-flight requests may take to finish at shutdown.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Serves `frontend` on `listener` until `shutdown` completes, then waits (bounded) for
/// in-flight requests.
pub async fn serve(listener: TcpListener, frontend: Arc<Frontend>, shutdown: impl Future<Output = ()>) {
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(CONNECTIONS_MAX));
    tokio::pin!(shutdown);
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else { break };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                // EMFILE and the like: back off briefly rather than spin.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Small responses must not wait for Nagle's algorithm (a 40 ms stall per request).
        let _ = stream.set_nodelay(true);
        let frontend = frontend.clone();
        let service = service_fn(move |request| {
            let frontend = frontend.clone();
            async move { Ok::<_, std::convert::Infallible>(frontend.handle(request, peer).await) }
        });
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .keep_alive(true)
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, %peer, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => tracing::info!("all connections closed"),
        _ = tokio::time::sleep(SHUTDOWN_GRACE) => tracing::warn!("shutdown grace period over; closing remaining connections"),
    }
}

/// Serves Prometheus metrics at `/metrics`.
pub async fn serve_metrics(listener: TcpListener, frontend: Arc<Frontend>, render_extra: fn() -> String) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let frontend = frontend.clone();
        let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            let frontend = frontend.clone();
            async move {
                let mut response = if request.uri().path() == "/metrics" {
                    let mut text = frontend.metrics.render();
                    text.push_str(&render_extra());
                    hyper::Response::new(full(text))
                } else {
                    let mut r = hyper::Response::new(full("not found\n"));
                    *r.status_mut() = hyper::StatusCode::NOT_FOUND;
                    r
                };
                response.headers_mut().insert("content-type", hyper::header::HeaderValue::from_static("text/plain; version=0.0.4"));
                Ok::<_, std::convert::Infallible>(response)
            }
        });
        tokio::spawn(async move {
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

pub fn local_addr(listener: &TcpListener) -> Option<SocketAddr> {
    listener.local_addr().ok()
}
