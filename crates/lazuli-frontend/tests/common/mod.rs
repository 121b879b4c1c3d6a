//! An in-process Lazuli on a free loopback port with a temporary data directory, and the
//! signing test client (`client.rs`).

#![allow(dead_code)]

pub mod client;

use std::net::SocketAddr;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use http::Method;
use lazuli_frontend::server::ServeOptions;
use lazuli_frontend::{Account, Frontend, FrontendConfig};
use lazuli_partition::{Partition, PartitionOptions};
use lazuli_stream::{LocalStore, StoreOptions};
use tokio::net::TcpListener;

#[allow(unused_imports)]
pub use client::{send_to, Auth, Reply, ACCOUNT, KEY, VERSION};

pub struct TestServer {
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub async fn start() -> TestServer {
    start_with_namespace(false).await
}

/// A server whose account has a hierarchical namespace (`hns`) or a flat one.
pub async fn start_with_namespace(hns: bool) -> TestServer {
    start_serving(hns, ServeOptions::default()).await
}

/// A server with the listener's `options` (e.g. a short header read timeout).
pub async fn start_serving(hns: bool, options: ServeOptions) -> TestServer {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = LocalStore::open(dir.path(), StoreOptions::default()).expect("store");
    let partition = tokio::task::spawn_blocking(move || Partition::open(store, PartitionOptions::default()))
        .await
        .expect("join")
        .expect("partition");
    partition.set_hns(ACCOUNT, hns);
    let config = FrontendConfig {
        accounts: vec![Account {
            name: ACCOUNT.into(),
            keys: vec![BASE64.decode(KEY).expect("key")],
        }],
        ..Default::default()
    };
    let frontend = Frontend::new(partition, config);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(lazuli_frontend::server::serve_with(
        listener,
        frontend,
        options,
        async move {
            let _ = rx.await;
        },
    ));
    TestServer {
        addr,
        _dir: dir,
        shutdown: Some(tx),
    }
}

pub async fn send(
    server: &TestServer,
    method: Method,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    auth: Auth<'_>,
) -> Reply {
    send_to(server.addr, method, path_and_query, headers, body, auth).await
}
