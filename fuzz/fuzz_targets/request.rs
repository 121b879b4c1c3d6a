//! The whole front-end on hostile requests: bytes written to an in-memory connection served by
//! hyper and `Frontend::handle` over a real partition (a `LocalStore` in a temporary directory,
//! shared by every input of the run). Structured inputs are signed with the development key, so
//! that they get past authentication into the handlers: header parsing (ranges, conditions,
//! metadata, MD5/CRC64, public access), bodies, block lists, listings and the partition layer.
//!
//! Properties: no panic anywhere (libFuzzer aborts on a panic in any thread), an answer or a
//! close within 10 s (no hang), and never a 500: internal errors are for failing disks, not for
//! anything a client can send.

#![no_main]

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arbitrary::Arbitrary;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use lazuli_frontend::{Account, Frontend, FrontendConfig};
use lazuli_partition::{Partition, PartitionOptions};
use lazuli_stream::{LocalStore, StoreOptions};
use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct World {
    runtime: tokio::runtime::Runtime,
    frontend: Arc<Frontend>,
}

/// The data directory of this process. Statics are never dropped, so a `TempDir` would leak at
/// exit: each run instead removes the directories of fuzzing processes that are gone.
fn data_dir() -> std::path::PathBuf {
    let base = std::env::temp_dir().join("lazuli-fuzz-request");
    if let Ok(entries) = std::fs::read_dir(&base) {
        for entry in entries.flatten() {
            let gone = entry
                .file_name()
                .to_str()
                .and_then(|pid| pid.parse::<u32>().ok())
                .is_some_and(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists());
            if gone {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    let dir = base.join(std::process::id().to_string());
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("data dir");
    dir
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let store = LocalStore::open(
            &data_dir(),
            StoreOptions {
                sync: false,
                ..StoreOptions::default()
            },
        )
        .expect("store");
        let partition = Partition::open(store, PartitionOptions::default()).expect("partition");
        let account = common::account();
        // As the server's default: the development account has a hierarchical namespace, so
        // Blob requests run through the path resolver and DFS requests are served.
        partition.set_hns(&account.name, true);
        let frontend = Frontend::new(
            partition,
            FrontendConfig {
                accounts: vec![Account {
                    name: account.name,
                    keys: account.keys,
                }],
                ..Default::default()
            },
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let world = World { runtime, frontend };
        // A container and a blob for the requests to find.
        for request in [
            signed("PUT", "/devstoreaccount1/cnt?restype=container", &[], b""),
            signed(
                "PUT",
                "/devstoreaccount1/cnt/b",
                &[("x-ms-blob-type".into(), "BlockBlob".into())],
                b"0123456789",
            ),
        ] {
            let (status, _) = world.runtime.block_on(exchange(&world.frontend, request));
            assert_eq!(status, 201, "setup request failed");
        }
        world
    })
}

/// Writes `request` to a fresh connection and reads until the server closes it.
async fn exchange(frontend: &Arc<Frontend>, request: Vec<u8>) -> (u16, Vec<u8>) {
    let (mut client, server) = tokio::io::duplex(1 << 20);
    let frontend = frontend.clone();
    let peer: SocketAddr = "127.0.0.1:50000".parse().expect("addr");
    let service = service_fn(move |req| {
        let frontend = frontend.clone();
        async move { Ok::<_, Infallible>(frontend.handle(req, peer).await) }
    });
    // The client shuts down its write side after the request (so that a short body ends);
    // half-close support keeps the server answering instead of dropping the request at EOF.
    let connection = tokio::spawn(
        hyper::server::conn::http1::Builder::new()
            .half_close(true)
            .serve_connection(TokioIo::new(server), service),
    );
    let exchange = async {
        let _ = client.write_all(&request).await;
        let _ = client.shutdown().await;
        let mut response = Vec::new();
        let _ = client.read_to_end(&mut response).await;
        response
    };
    let response = tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .expect("no answer and no close within 10 s");
    let _ = connection.await;
    let status = std::str::from_utf8(response.get(9..12).unwrap_or_default())
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, response)
}

/// A request head and body signed with Shared Key (see `common`): `host`, `x-ms-date`,
/// `x-ms-version` and `content-length` are added.
fn signed(method: &str, path: &str, headers: &[(String, String)], body: &[u8]) -> Vec<u8> {
    let mut all: Vec<(String, String)> = vec![
        ("host".into(), "127.0.0.1:10000".into()),
        (
            "x-ms-date".into(),
            httpdate::fmt_http_date(std::time::SystemTime::now()),
        ),
        ("content-length".into(), body.len().to_string()),
    ];
    if !headers.iter().any(|(n, _)| n == "x-ms-version") {
        all.push(("x-ms-version".into(), "2025-11-05".into()));
    }
    all.extend(headers.iter().cloned());
    let signature = common::sign(&common::shared_key_string_to_sign(method, path, &all));
    let mut out = format!("{method} {path} HTTP/1.1\r\n");
    for (n, v) in &all {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str(&format!(
        "authorization: SharedKey {}:{signature}\r\n\r\n",
        common::ACCOUNT
    ));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

#[derive(Arbitrary, Debug)]
enum Method {
    Get,
    Head,
    Put,
    Delete,
    Post,
    Options,
    Patch,
}

#[derive(Arbitrary, Debug)]
enum Target {
    Account,
    Container,
    Blob,
    OtherBlob(String),
    Raw(String),
}

#[derive(Arbitrary, Debug)]
enum Name {
    BlobType,
    XmsRange,
    Range,
    ContentMd5,
    BlobContentMd5,
    ContentCrc64,
    IfMatch,
    IfNoneMatch,
    IfModifiedSince,
    IfUnmodifiedSince,
    Meta(String),
    ContentType,
    BlobContentType,
    BlobContentDisposition,
    PublicAccess,
    RangeGetMd5,
    RangeGetCrc64,
    Origin,
    RequestMethod,
    RequestHeaders,
    Version,
    StructuredBody,
    StructuredContentLength,
    Other(String),
}

impl Name {
    fn text(&self) -> String {
        match self {
            Name::BlobType => "x-ms-blob-type".into(),
            Name::XmsRange => "x-ms-range".into(),
            Name::Range => "range".into(),
            Name::ContentMd5 => "content-md5".into(),
            Name::BlobContentMd5 => "x-ms-blob-content-md5".into(),
            Name::ContentCrc64 => "x-ms-content-crc64".into(),
            Name::IfMatch => "if-match".into(),
            Name::IfNoneMatch => "if-none-match".into(),
            Name::IfModifiedSince => "if-modified-since".into(),
            Name::IfUnmodifiedSince => "if-unmodified-since".into(),
            Name::Meta(suffix) => format!("x-ms-meta-{suffix}"),
            Name::ContentType => "content-type".into(),
            Name::BlobContentType => "x-ms-blob-content-type".into(),
            Name::BlobContentDisposition => "x-ms-blob-content-disposition".into(),
            Name::PublicAccess => "x-ms-blob-public-access".into(),
            Name::RangeGetMd5 => "x-ms-range-get-content-md5".into(),
            Name::RangeGetCrc64 => "x-ms-range-get-content-crc64".into(),
            Name::Origin => "origin".into(),
            Name::RequestMethod => "access-control-request-method".into(),
            Name::RequestHeaders => "access-control-request-headers".into(),
            Name::Version => "x-ms-version".into(),
            Name::StructuredBody => "x-ms-structured-body".into(),
            Name::StructuredContentLength => "x-ms-structured-content-length".into(),
            Name::Other(n) => n.to_ascii_lowercase(),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Key {
    Comp,
    Restype,
    BlockId,
    BlockListType,
    Prefix,
    Delimiter,
    MaxResults,
    Marker,
    Include,
    // DFS
    Resource,
    Action,
    Recursive,
    Position,
    Mode,
    Directory,
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum Input {
    /// Anything on the wire.
    Raw(Vec<u8>),
    /// A well-formed, signed request with arbitrary parts.
    Signed {
        method: Method,
        target: Target,
        query: Vec<(Key, String)>,
        headers: Vec<(Name, String)>,
        body: Vec<u8>,
    },
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

fn is_value(s: &str) -> bool {
    s.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
}

fuzz_target!(|input: Input| {
    let world = world();
    let request = match input {
        Input::Raw(bytes) => bytes,
        Input::Signed {
            method,
            target,
            query,
            headers,
            body,
        } => {
            let method = match method {
                Method::Get => "GET",
                Method::Head => "HEAD",
                Method::Put => "PUT",
                Method::Delete => "DELETE",
                Method::Post => "POST",
                Method::Options => "OPTIONS",
                Method::Patch => "PATCH",
            };
            let mut path = match &target {
                Target::Account => "/devstoreaccount1".to_string(),
                Target::Container => "/devstoreaccount1/cnt".to_string(),
                Target::Blob => "/devstoreaccount1/cnt/b".to_string(),
                Target::OtherBlob(name) => format!("/devstoreaccount1/cnt/{}", common::encode(name)),
                Target::Raw(raw) => raw.clone(),
            };
            if !path.starts_with('/') || !path.bytes().all(|b| (0x21..0x7f).contains(&b)) {
                return;
            }
            let pairs: Vec<String> = query
                .iter()
                .map(|(k, v)| {
                    let k = match k {
                        Key::Comp => "comp".to_string(),
                        Key::Restype => "restype".to_string(),
                        Key::BlockId => "blockid".to_string(),
                        Key::BlockListType => "blocklisttype".to_string(),
                        Key::Prefix => "prefix".to_string(),
                        Key::Delimiter => "delimiter".to_string(),
                        Key::MaxResults => "maxresults".to_string(),
                        Key::Marker => "marker".to_string(),
                        Key::Include => "include".to_string(),
                        Key::Resource => "resource".to_string(),
                        Key::Action => "action".to_string(),
                        Key::Recursive => "recursive".to_string(),
                        Key::Position => "position".to_string(),
                        Key::Mode => "mode".to_string(),
                        Key::Directory => "directory".to_string(),
                        Key::Other(k) => common::encode(k),
                    };
                    format!("{k}={}", common::encode(v))
                })
                .collect();
            if !pairs.is_empty() {
                path.push('?');
                path.push_str(&pairs.join("&"));
            }
            let headers: Vec<(String, String)> = headers
                .iter()
                .map(|(n, v)| (n.text(), v.trim().to_string()))
                .filter(|(n, v)| is_token(n) && is_value(v))
                .filter(|(n, _)| {
                    !matches!(
                        n.as_str(),
                        "host"
                            | "content-length"
                            | "transfer-encoding"
                            | "authorization"
                            | "x-ms-date"
                            | "connection"
                            | "expect"
                            | "upgrade"
                    )
                })
                .collect();
            signed(method, &path, &headers, &body)
        }
    };
    let (status, response) = world.runtime.block_on(exchange(&world.frontend, request));
    assert!(
        status != 500,
        "500 for a client request: {}",
        String::from_utf8_lossy(&response[..response.len().min(2000)])
    );
});
