//! The per-request CPU work before any storage: routing and Shared Key verification.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use criterion::{criterion_group, criterion_main, Criterion};
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderValue, Method};
use lazuli_frontend::auth::{self, AccountKeys, NoStoredPolicies};
use lazuli_frontend::router::{classify, parse_target, Query};
use sha2::Sha256;

const KEY: &str = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

fn routing(c: &mut Criterion) {
    let mut headers = HeaderMap::new();
    headers.insert("x-ms-blob-type", HeaderValue::from_static("BlockBlob"));
    c.bench_function("route/put_blob", |b| {
        b.iter(|| {
            let target =
                parse_target("/devstoreaccount1/container/dir/blob.bin", Some("127.0.0.1:10000")).expect("target");
            let query = Query::parse(Some("timeout=30")).expect("query");
            classify(&Method::PUT, &target, &query, &headers).expect("route")
        })
    });
}

fn shared_key(c: &mut Criterion) {
    let date = "Sat, 28 Nov 2026 04:00:00 GMT";
    let now = time::OffsetDateTime::from_unix_timestamp(1_795_838_400).expect("time");
    let mut headers = HeaderMap::new();
    headers.insert("x-ms-date", HeaderValue::from_static(date));
    headers.insert("x-ms-version", HeaderValue::from_static("2025-11-05"));
    headers.insert("x-ms-blob-type", HeaderValue::from_static("BlockBlob"));
    headers.insert("content-length", HeaderValue::from_static("4096"));
    let string_to_sign = format!(
        "PUT\n\n\n4096\n\n\n\n\n\n\n\n\nx-ms-blob-type:BlockBlob\nx-ms-date:{date}\nx-ms-version:2025-11-05\n/devstoreaccount1/devstoreaccount1/container/blob"
    );
    let key = BASE64.decode(KEY).expect("key");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("hmac");
    mac.update(string_to_sign.as_bytes());
    let signature = BASE64.encode(mac.finalize().into_bytes());
    headers.insert(
        "authorization",
        HeaderValue::from_str(&format!("SharedKey devstoreaccount1:{signature}")).expect("header"),
    );
    let account = AccountKeys {
        name: "devstoreaccount1".into(),
        keys: vec![key],
    };
    let method = Method::PUT;
    c.bench_function("auth/shared_key_verify", |b| {
        b.iter(|| {
            let info = auth::RequestInfo {
                method: &method,
                raw_path: "/devstoreaccount1/container/blob",
                raw_query: None,
                query: None,
                headers: &headers,
                account: "devstoreaccount1",
                path_style: true,
                container: Some("container"),
                blob: Some("blob"),
                protocol: auth::Protocol::Http,
                client_ip: std::net::IpAddr::from([127, 0, 0, 1]),
                now,
            };
            auth::authenticate(&info, &account, &NoStoredPolicies).expect("valid signature")
        })
    });
}

criterion_group!(benches, routing, shared_key);
criterion_main!(benches);
