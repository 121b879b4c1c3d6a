//! The listener: accepts connections, serves HTTP/1.1 with keep-alive, and shuts down
//! gracefully (stop accepting, let in-flight requests finish).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::header_case::{CaseIo, ConnectionCase, MetadataNames};
use crate::http_util::{full, ResponseBody};
use crate::service::Frontend;

/// TLS for the listener, from PEM files (`--cert`, `--key`).
pub fn tls_acceptor(
    cert_pem: &std::path::Path,
    key_pem: &std::path::Path,
) -> std::io::Result<tokio_rustls::TlsAcceptor> {
    use std::io::{BufReader, Error};
    let certs =
        rustls_pemfile::certs(&mut BufReader::new(std::fs::File::open(cert_pem)?)).collect::<Result<Vec<_>, _>>()?;
    let key = rustls_pemfile::private_key(&mut BufReader::new(std::fs::File::open(key_pem)?))?
        .ok_or_else(|| Error::other("no private key found in the key file"))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(Error::other)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(Error::other)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// A client must finish the TLS handshake within this time.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections served at once; beyond this, accepting waits (the kernel backlog holds the
/// rest), so a flood of connections cannot exhaust file descriptors or memory.
pub const CONNECTIONS_MAX: usize = 4096;
/// A client must finish sending request headers within this time (slow-loris defence).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Request headers per request: metadata is bounded by size (8 KiB), not by count, so a
/// legitimate request can carry a few hundred `x-ms-meta-*` headers; hyper's default of 100
/// would refuse it.
pub const REQUEST_HEADERS_MAX: usize = 1024;
/// The read buffer, and so the largest request head (request line plus headers) accepted;
/// the service refuses heads far smaller than this, and it bounds per-connection memory.
pub const REQUEST_HEAD_BYTES_MAX: usize = 64 * 1024;
/// How long in-flight requests may take to finish at shutdown.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// How the listener serves its connections; the defaults are the service's.
#[derive(Clone)]
pub struct ServeOptions {
    /// TLS for every connection, or plain HTTP.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// How long a connection may wait for, or take to send, its next request head.
    pub header_read_timeout: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            tls: None,
            header_read_timeout: HEADER_READ_TIMEOUT,
        }
    }
}

/// Serves `frontend` on `listener` until `shutdown` completes, then waits (bounded) for
/// in-flight requests.
pub async fn serve(listener: TcpListener, frontend: Arc<Frontend>, shutdown: impl Future<Output = ()>) {
    serve_with(listener, frontend, ServeOptions::default(), shutdown).await
}

pub async fn serve_with(
    listener: TcpListener,
    frontend: Arc<Frontend>,
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(CONNECTIONS_MAX));
    tokio::pin!(shutdown);
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
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
        let head_watch = Arc::new(HeadWatch::new());
        let case = Arc::new(ConnectionCase::default());
        let service = {
            let head_watch = head_watch.clone();
            let case = case.clone();
            service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
                head_watch.serving();
                if let Some(names) = case.serving(hyper::body::Body::size_hint(request.body()).exact()) {
                    request.extensions_mut().insert(names);
                }
                let frontend = frontend.clone();
                let head_watch = head_watch.clone();
                let case = case.clone();
                async move {
                    let mut response = frontend.handle(request, peer).await;
                    case.response_ready(response.extensions_mut().remove::<MetadataNames>());
                    Ok::<_, std::convert::Infallible>(response.map(|body| WatchedBody { body, head_watch }))
                }
            })
        };
        let mut builder = http1::Builder::new();
        builder
            // The connection's HeadWatch does this (and hyper has no timer to run it).
            .header_read_timeout(None)
            .keep_alive(true)
            .max_headers(REQUEST_HEADERS_MAX)
            .max_buf_size(REQUEST_HEAD_BYTES_MAX);
        let watcher = graceful.watcher();
        let tls = options.tls.clone();
        let header_read_timeout = options.header_read_timeout;
        tokio::spawn(async move {
            let served = async {
                match tls {
                    None => {
                        watcher
                            .watch(builder.serve_connection(TokioIo::new(CaseIo::new(stream, case)), service))
                            .await
                    }
                    Some(acceptor) => {
                        match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                            Ok(Ok(stream)) => {
                                watcher
                                    .watch(builder.serve_connection(TokioIo::new(CaseIo::new(stream, case)), service))
                                    .await
                            }
                            Ok(Err(error)) => {
                                tracing::debug!(%error, %peer, "TLS handshake failed");
                                Ok(())
                            }
                            Err(_) => Ok(()),
                        }
                    }
                }
            };
            // Dropping the connection closes it, as hyper's own header timeout would.
            let result = tokio::select! {
                biased;
                result = served => result,
                () = head_watch.expired(header_read_timeout) => {
                    tracing::debug!(%peer, "no request head within the header read timeout");
                    Ok(())
                }
            };
            if let Err(error) = result {
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

/// The slow-loris defence of one connection: the time since it began waiting for its next
/// request head (when it was accepted, or when hyper took the last of the previous response)
/// may not exceed the header read timeout. Hyper's own header timer would do the same by
/// setting up and tearing down a timer for every request (~1.5 % of a small Get's
/// instructions); this one only reads the clock once per request, and its one timer is
/// re-armed at most once per timeout.
struct HeadWatch {
    /// Milliseconds since [`CLOCK_ORIGIN`] when the wait began, or `SERVING`.
    waiting_since: AtomicU64,
}

const SERVING: u64 = u64::MAX;

static CLOCK_ORIGIN: LazyLock<Instant> = LazyLock::new(Instant::now);

fn clock_millis() -> u64 {
    CLOCK_ORIGIN.elapsed().as_millis() as u64
}

impl HeadWatch {
    fn new() -> HeadWatch {
        HeadWatch {
            waiting_since: AtomicU64::new(clock_millis()),
        }
    }

    /// A request head has been read: its request is being served, however long it takes.
    fn serving(&self) {
        self.waiting_since.store(SERVING, Ordering::Relaxed);
    }

    /// The response has been handed over: the connection waits for its next request head.
    fn waiting(&self) {
        self.waiting_since.store(clock_millis(), Ordering::Relaxed);
    }

    /// Completes once the connection has waited longer than `timeout` for a request head.
    async fn expired(&self, timeout: Duration) {
        let timeout_millis = timeout.as_millis() as u64;
        loop {
            let since = self.waiting_since.load(Ordering::Relaxed);
            let wait = if since == SERVING {
                timeout_millis
            } else {
                // Both clock readings are floored to the millisecond: one more keeps the
                // wait from ending up to a millisecond short of the timeout.
                let deadline = since.saturating_add(timeout_millis + 1);
                let now = clock_millis();
                if now >= deadline {
                    return;
                }
                deadline - now
            };
            tokio::time::sleep(Duration::from_millis(wait)).await;
        }
    }
}

/// A response body that tells its connection's [`HeadWatch`] when hyper is done with it
/// (hyper drops a body once it has taken its last frame, or when the connection ends).
struct WatchedBody {
    body: ResponseBody,
    head_watch: Arc<HeadWatch>,
}

impl Body for WatchedBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for WatchedBody {
    fn drop(&mut self) {
        self.head_watch.waiting();
    }
}

/// Serves Prometheus metrics at `/metrics`.
pub async fn serve_metrics(listener: TcpListener, frontend: Arc<Frontend>, render_extra: fn() -> String) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
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
                response.headers_mut().insert(
                    "content-type",
                    hyper::header::HeaderValue::from_static("text/plain; version=0.0.4"),
                );
                Ok::<_, std::convert::Infallible>(response)
            }
        });
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

pub fn local_addr(listener: &TcpListener) -> Option<SocketAddr> {
    listener.local_addr().ok()
}
