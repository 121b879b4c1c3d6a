//! A small HTTP client for tests that signs requests with Shared Key, written here from the
//! documented scheme, independently of the server's verifier.

#![allow(dead_code)]

use std::net::SocketAddr;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use sha2::Sha256;
use tokio::net::TcpStream;

pub const ACCOUNT: &str = "devstoreaccount1";
pub const KEY: &str = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
pub const VERSION: &str = "2025-11-05";

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn error_code(&self) -> &str {
        self.headers
            .get("x-ms-error-code")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// How to authenticate a request.
#[derive(Clone, Copy, Debug)]
pub enum Auth<'a> {
    None,
    SharedKey,
    /// Shared Key computed with another key.
    WrongKey(&'a str),
    /// A well-formed header whose signature is garbage.
    BadSignature,
}

pub async fn send_to(
    addr: SocketAddr,
    method: Method,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    auth: Auth<'_>,
) -> Reply {
    try_send_to(addr, method, path_and_query, headers, body, auth)
        .await
        .expect("request failed")
}

/// Like [`send_to`], but a connection failure is an error rather than a panic (for tests
/// that kill the server under the client).
pub async fn try_send_to(
    addr: SocketAddr,
    method: Method,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    auth: Auth<'_>,
) -> Result<Reply, String> {
    let date = httpdate::fmt_http_date(std::time::SystemTime::now());
    let mut builder = Request::builder()
        .method(method.clone())
        .uri(path_and_query)
        .header("host", addr.to_string())
        .header("x-ms-date", &date)
        .header("x-ms-version", VERSION)
        .header("content-length", body.len().to_string());
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let mut request = builder.body(Full::new(Bytes::copy_from_slice(body))).expect("request");
    let signature = match auth {
        Auth::None => None,
        Auth::SharedKey => Some(sign(&request, KEY)),
        Auth::WrongKey(key) => Some(sign(&request, key)),
        Auth::BadSignature => Some(BASE64.encode([7u8; 32])),
    };
    if let Some(signature) = signature {
        request.headers_mut().insert(
            "authorization",
            format!("SharedKey {ACCOUNT}:{signature}").parse().expect("header"),
        );
    }
    let stream = TcpStream::connect(addr).await.map_err(|e| format!("connect: {e}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(connection);
    let response = sender.send_request(request).await.map_err(|e| format!("send: {e}"))?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| format!("body: {e}"))?;
    Ok(Reply { status, headers, body })
}

/// Shared Key string-to-sign (ordinal header order), as documented for version 2015-02-21+.
pub fn sign<B>(request: &Request<B>, key: &str) -> String {
    let headers = request.headers();
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let content_length = get("content-length");
    let content_length = if content_length == "0" {
        String::new()
    } else {
        content_length
    };
    let mut canonical_headers: Vec<(String, String)> = headers
        .iter()
        .filter(|(n, _)| n.as_str().starts_with("x-ms-"))
        .map(|(n, v)| (n.as_str().to_string(), v.to_str().unwrap_or("").trim().to_string()))
        .collect();
    canonical_headers.sort();
    let mut resource = format!("/{ACCOUNT}{}", request.uri().path());
    let mut params: Vec<(String, String)> = request
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (n, v) = p.split_once('=').unwrap_or((p, ""));
            let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
            (decode(n).to_lowercase(), decode(v))
        })
        .collect();
    params.sort();
    for (name, value) in params {
        resource.push_str(&format!("\n{name}:{value}"));
    }
    let mut sts = format!(
        "{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n",
        request.method(),
        get("content-encoding"),
        get("content-language"),
        content_length,
        get("content-md5"),
        get("content-type"),
        "",
        get("if-modified-since"),
        get("if-match"),
        get("if-none-match"),
        get("if-unmodified-since"),
        get("range"),
    );
    for (name, value) in canonical_headers {
        sts.push_str(&format!("{name}:{value}\n"));
    }
    sts.push_str(&resource);
    let mut mac = Hmac::<Sha256>::new_from_slice(&BASE64.decode(key).expect("key")).expect("hmac");
    mac.update(sts.as_bytes());
    BASE64.encode(mac.finalize().into_bytes())
}

/// The fields of a SAS token; `None` leaves a field out.
#[derive(Clone, Debug)]
pub struct SasSpec<'a> {
    pub permissions: &'a str,
    pub expiry: &'a str,
    pub start: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub protocol: &'a str,
    /// Account SAS: services and resource types.
    pub services: &'a str,
    pub resource_types: &'a str,
    pub key: &'a str,
}

impl Default for SasSpec<'_> {
    fn default() -> Self {
        SasSpec {
            permissions: "rwdlacup",
            expiry: "2099-01-01T00:00:00Z",
            start: None,
            ip: None,
            protocol: "https,http",
            services: "b",
            resource_types: "sco",
            key: KEY,
        }
    }
}

const SAS_VERSION: &str = "2021-06-08";

fn hmac_base64(key: &str, text: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(&BASE64.decode(key).expect("key")).expect("hmac");
    mac.update(text.as_bytes());
    BASE64.encode(mac.finalize().into_bytes())
}

fn encode(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn sas_query(fields: &[(&str, Option<&str>)], signature: &str) -> String {
    let mut query: Vec<String> = fields
        .iter()
        .filter_map(|(name, value)| value.map(|v| format!("{name}={}", encode(v))))
        .collect();
    query.push(format!("sig={}", encode(signature)));
    query.join("&")
}

/// An account SAS query string (documented string-to-sign for versions 2020-12-06 and later).
pub fn account_sas(spec: &SasSpec) -> String {
    let string_to_sign = format!(
        "{ACCOUNT}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{SAS_VERSION}\n\n",
        spec.permissions,
        spec.services,
        spec.resource_types,
        spec.start.unwrap_or(""),
        spec.expiry,
        spec.ip.unwrap_or(""),
        spec.protocol,
    );
    let signature = hmac_base64(spec.key, &string_to_sign);
    sas_query(
        &[
            ("sv", Some(SAS_VERSION)),
            ("ss", Some(spec.services)),
            ("srt", Some(spec.resource_types)),
            ("sp", Some(spec.permissions)),
            ("st", spec.start),
            ("se", Some(spec.expiry)),
            ("sip", spec.ip),
            ("spr", Some(spec.protocol)),
        ],
        &signature,
    )
}

/// A service SAS for a container (`blob` None, `sr=c`) or a blob (`sr=b`).
pub fn service_sas(spec: &SasSpec, container: &str, blob: Option<&str>) -> String {
    let (resource, signed_resource) = match blob {
        Some(blob) => (format!("/blob/{ACCOUNT}/{container}/{blob}"), "b"),
        None => (format!("/blob/{ACCOUNT}/{container}"), "c"),
    };
    let string_to_sign = format!(
        "{}\n{}\n{}\n{resource}\n\n{}\n{}\n{SAS_VERSION}\n{signed_resource}\n\n\n\n\n\n\n",
        spec.permissions,
        spec.start.unwrap_or(""),
        spec.expiry,
        spec.ip.unwrap_or(""),
        spec.protocol,
    );
    let signature = hmac_base64(spec.key, &string_to_sign);
    sas_query(
        &[
            ("sv", Some(SAS_VERSION)),
            ("sr", Some(signed_resource)),
            ("sp", Some(spec.permissions)),
            ("st", spec.start),
            ("se", Some(spec.expiry)),
            ("sip", spec.ip),
            ("spr", Some(spec.protocol)),
        ],
        &signature,
    )
}
