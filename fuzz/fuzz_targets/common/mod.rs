//! Shared by the authentication targets: the development account, a fixed clock, and the
//! re-signing trick that lets the fuzzer get past the HMAC.
//!
//! A random signature never verifies, so a plain fuzzer stops at the MAC comparison and never
//! reaches the checks after it (stored policies, time windows, IP ranges, protocol). The server
//! quotes the string it signed in its `AuthenticationFailed` detail (as the service does), so a
//! target can sign exactly that string with the account key and send the request again: the
//! second attempt must then get past the signature. That is also a property worth checking: the
//! string-to-sign the server reports is the one it verifies.

#![allow(dead_code)]

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hmac::{Hmac, Mac};
use lazuli_frontend::auth::AccountKeys;
use lazuli_types::AzureError;
use sha2::Sha256;
use time::OffsetDateTime;

pub const ACCOUNT: &str = "devstoreaccount1";
/// The well-known development storage key (public, documented by Microsoft).
pub const KEY: &str = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

pub fn account() -> AccountKeys {
    AccountKeys {
        name: ACCOUNT.to_string(),
        keys: vec![BASE64.decode(KEY).expect("dev key is base64")],
    }
}

/// The fuzzer's "now": fixed, so every input replays the same way.
pub fn now() -> OffsetDateTime {
    time::macros::datetime!(2026-06-01 12:00:00 UTC)
}

/// A date header value inside the 15-minute window of [`now`].
pub const FRESH_DATE: &str = "Mon, 01 Jun 2026 12:00:00 GMT";

pub fn sign(string_to_sign: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(&BASE64.decode(KEY).expect("dev key")).expect("any key length");
    mac.update(string_to_sign.as_bytes());
    BASE64.encode(mac.finalize().into_bytes())
}

pub fn detail<'a>(error: &'a AzureError, name: &str) -> Option<&'a str> {
    error.details.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
}

/// Every error `authenticate` returns is a client error (400 or 403), never a 5xx.
pub fn assert_client_error(error: &AzureError) {
    assert!(
        matches!(error.status(), 400 | 403),
        "authenticate answered {} {:?}",
        error.status(),
        error.code
    );
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
pub fn encode(text: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(text, SET).to_string()
}

/// The Shared Key string-to-sign (version 2015-02-21 and later) of a request with `path` (raw,
/// with its query, whose values must be percent-encoded UTF-8) and `headers` (lowercase names,
/// in the order sent).
pub fn shared_key_string_to_sign(method: &str, path: &str, headers: &[(String, String)]) -> String {
    let get = |name: &str| -> String {
        let values: Vec<&str> = headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect();
        values.join(",")
    };
    let length = get("content-length");
    let length = if length == "0" { String::new() } else { length };
    let mut canonical: Vec<(String, String)> = Vec::new();
    for (name, _) in headers.iter().filter(|(n, _)| n.starts_with("x-ms-")) {
        if !canonical.iter().any(|(c, _)| c == name) {
            canonical.push((name.clone(), get(name).trim().to_string()));
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
    for (name, value) in canonical {
        sts.push_str(&format!("{name}:{value}\n"));
    }
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    sts.push_str(&format!("/{ACCOUNT}{path}"));
    let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
    let mut params: Vec<(String, Vec<String>)> = Vec::new();
    for piece in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
        let (name, value) = (decode(name).to_lowercase(), decode(value));
        match params.iter_mut().find(|(n, _)| *n == name) {
            Some((_, values)) => values.push(value),
            None => params.push((name, vec![value])),
        }
    }
    params.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, mut values) in params {
        values.sort();
        sts.push_str(&format!("\n{name}:{}", values.join(",")));
    }
    sts
}
