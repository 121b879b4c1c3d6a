//! Shared Key and Shared Key Lite: arbitrary Authorization headers, dates, signed headers, paths
//! and queries into `auth::authenticate` never panic and only ever answer 400/403. When the server
//! reports the string it signed, the target signs that string with the account key and retries:
//! the retry must authenticate (the reported string-to-sign is the verified one).

#![no_main]

mod common;

use arbitrary::Arbitrary;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use lazuli_frontend::auth::{authenticate, Credential, NoStoredPolicies, Protocol, RequestInfo};
use lazuli_frontend::router::parse_target;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Scheme {
    SharedKey,
    SharedKeyLite,
    /// Any scheme token (`Basic`, `Bearer`, `sharedkey`, garbage).
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum Authorization {
    /// `{scheme} {account}:{signature}`; the account is the real one unless `account` is given.
    Structured {
        scheme: Scheme,
        account: Option<String>,
        signature: String,
    },
    /// Raw header bytes (anything a client can put on the wire).
    Raw(Vec<u8>),
    /// Two Authorization headers.
    Twice(Vec<u8>, Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum DateChoice {
    /// A valid, current `x-ms-date`.
    Fresh,
    XmsDate(String),
    Date(String),
    None,
}

/// The headers the string-to-sign reads, and others.
#[derive(Arbitrary, Debug)]
enum Name {
    ContentEncoding,
    ContentLanguage,
    ContentLength,
    ContentMd5,
    ContentType,
    IfModifiedSince,
    IfMatch,
    IfNoneMatch,
    IfUnmodifiedSince,
    Range,
    XmsVersion,
    /// `x-ms-{suffix}`: a canonicalized header.
    XMs(String),
    Other(String),
}

#[derive(Arbitrary, Debug)]
struct Input {
    method: u8,
    path: String,
    query: Option<String>,
    authorization: Authorization,
    date: DateChoice,
    headers: Vec<(Name, Vec<u8>)>,
    ipv6: bool,
}

const METHODS: [Method; 7] = [
    Method::GET,
    Method::HEAD,
    Method::PUT,
    Method::POST,
    Method::DELETE,
    Method::OPTIONS,
    Method::PATCH,
];

fn header_value(bytes: &[u8]) -> Option<HeaderValue> {
    HeaderValue::from_bytes(bytes).ok()
}

fuzz_target!(|input: Input| {
    let method = METHODS[usize::from(input.method) % METHODS.len()].clone();
    let mut headers = HeaderMap::new();
    for (name, value) in &input.headers {
        let name = match name {
            Name::ContentEncoding => HeaderName::from_static("content-encoding"),
            Name::ContentLanguage => HeaderName::from_static("content-language"),
            Name::ContentLength => HeaderName::from_static("content-length"),
            Name::ContentMd5 => HeaderName::from_static("content-md5"),
            Name::ContentType => HeaderName::from_static("content-type"),
            Name::IfModifiedSince => HeaderName::from_static("if-modified-since"),
            Name::IfMatch => HeaderName::from_static("if-match"),
            Name::IfNoneMatch => HeaderName::from_static("if-none-match"),
            Name::IfUnmodifiedSince => HeaderName::from_static("if-unmodified-since"),
            Name::Range => HeaderName::from_static("range"),
            Name::XmsVersion => HeaderName::from_static("x-ms-version"),
            Name::XMs(suffix) => match HeaderName::from_bytes(format!("x-ms-{suffix}").as_bytes()) {
                Ok(n) => n,
                Err(_) => continue,
            },
            Name::Other(n) => match HeaderName::from_bytes(n.as_bytes()) {
                Ok(n) => n,
                Err(_) => continue,
            },
        };
        if name == http::header::AUTHORIZATION {
            continue;
        }
        if let Some(value) = header_value(value) {
            headers.append(name, value);
        }
    }
    match &input.date {
        DateChoice::Fresh => {
            headers.insert("x-ms-date", HeaderValue::from_static(common::FRESH_DATE));
        }
        DateChoice::XmsDate(d) => {
            if let Some(v) = header_value(d.as_bytes()) {
                headers.insert("x-ms-date", v);
            }
        }
        DateChoice::Date(d) => {
            if let Some(v) = header_value(d.as_bytes()) {
                headers.insert("date", v);
            }
        }
        DateChoice::None => {}
    }
    let mut scheme_text = None;
    match &input.authorization {
        Authorization::Structured {
            scheme,
            account,
            signature,
        } => {
            let scheme = match scheme {
                Scheme::SharedKey => "SharedKey",
                Scheme::SharedKeyLite => "SharedKeyLite",
                Scheme::Other(s) => s.as_str(),
            };
            let account = account.as_deref().unwrap_or(common::ACCOUNT);
            let Some(v) = header_value(format!("{scheme} {account}:{signature}").as_bytes()) else {
                return;
            };
            headers.insert(http::header::AUTHORIZATION, v);
            scheme_text = Some(scheme.to_string());
        }
        Authorization::Raw(raw) => {
            let Some(v) = header_value(raw) else { return };
            headers.insert(http::header::AUTHORIZATION, v);
        }
        Authorization::Twice(a, b) => {
            let (Some(a), Some(b)) = (header_value(a), header_value(b)) else {
                return;
            };
            headers.append(http::header::AUTHORIZATION, a);
            headers.append(http::header::AUTHORIZATION, b);
        }
    }

    let raw_path = if input.path.starts_with('/') {
        input.path.clone()
    } else {
        format!("/{ACCOUNT}/{}", input.path, ACCOUNT = common::ACCOUNT)
    };
    let Ok(target) = parse_target(&raw_path, Some("127.0.0.1:10000")) else {
        return;
    };
    let account = common::account();
    let client_ip = if input.ipv6 {
        "::1".parse().unwrap()
    } else {
        "127.0.0.1".parse().unwrap()
    };
    let request = |headers: &HeaderMap| {
        let info = RequestInfo {
            method: &method,
            raw_path: &raw_path,
            raw_query: input.query.as_deref(),
            query: None,
            headers,
            account: &target.account,
            path_style: target.path_style,
            container: target.container.as_deref(),
            blob: target.blob.as_deref(),
            protocol: Protocol::Http,
            client_ip,
            now: common::now(),
        };
        authenticate(&info, &account, &NoStoredPolicies)
    };

    let error = match request(&headers) {
        Ok(Credential::SharedKey) => return,
        Ok(other) => panic!("an Authorization header gave {other:?}"),
        Err(error) => error,
    };
    common::assert_client_error(&error);

    // Re-sign the string the server says it used, and retry.
    const PREFIX: &str = "Server used following string to sign: '";
    let Some(scheme) = scheme_text else { return };
    let Some(detail) = common::detail(&error, "AuthenticationErrorDetail") else {
        return;
    };
    let Some(at) = detail.find(PREFIX) else { return };
    let Some(sts) = detail[at + PREFIX.len()..].strip_suffix("'.") else {
        return;
    };
    let signature = common::sign(sts);
    let Some(v) = header_value(format!("{scheme} {}:{signature}", common::ACCOUNT).as_bytes()) else {
        return;
    };
    headers.insert(http::header::AUTHORIZATION, v);
    match request(&headers) {
        Ok(Credential::SharedKey) => {}
        other => panic!("signing the reported string-to-sign {sts:?} did not authenticate: {other:?}"),
    }
});
