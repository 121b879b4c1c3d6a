//! Whatever method, path, query and headers a client sends, routing answers an operation or a
//! 4xx Azure error: `parse_target`, `Query::parse` and `classify` never panic, and the names they
//! decode go through the name rules without panicking either.

#![no_main]

use arbitrary::Arbitrary;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use lazuli_frontend::router::{classify, parse_target, Query};
use libfuzzer_sys::fuzz_target;

/// Methods the service knows, so that most inputs get past the method and into the routing
/// tables; `Other` covers extension methods and garbage tokens.
#[derive(Arbitrary, Debug)]
enum MethodChoice {
    Get,
    Head,
    Put,
    Post,
    Delete,
    Options,
    Patch,
    Other(String),
}

/// Header names the router and pipeline look at, plus arbitrary ones.
#[derive(Arbitrary, Debug)]
enum Name {
    BlobType,
    CopySource,
    RenameSource,
    LeaseAction,
    Host,
    Other(String),
}

#[derive(Arbitrary, Debug)]
struct Input {
    method: MethodChoice,
    path: String,
    host: Option<String>,
    query: Option<String>,
    /// Query pairs appended as `name=value` (raw, not encoded), to reach the `comp`/`restype`
    /// branches more often than a free-form string would.
    pairs: Vec<(String, String)>,
    headers: Vec<(Name, Vec<u8>)>,
}

fuzz_target!(|input: Input| {
    let method = match &input.method {
        MethodChoice::Get => Method::GET,
        MethodChoice::Head => Method::HEAD,
        MethodChoice::Put => Method::PUT,
        MethodChoice::Post => Method::POST,
        MethodChoice::Delete => Method::DELETE,
        MethodChoice::Options => Method::OPTIONS,
        MethodChoice::Patch => Method::PATCH,
        MethodChoice::Other(m) => match Method::from_bytes(m.as_bytes()) {
            Ok(m) => m,
            Err(_) => return,
        },
    };
    let mut headers = HeaderMap::new();
    for (name, value) in &input.headers {
        let name = match name {
            Name::BlobType => HeaderName::from_static("x-ms-blob-type"),
            Name::CopySource => HeaderName::from_static("x-ms-copy-source"),
            Name::RenameSource => HeaderName::from_static("x-ms-rename-source"),
            Name::LeaseAction => HeaderName::from_static("x-ms-lease-action"),
            Name::Host => HeaderName::from_static("host"),
            Name::Other(n) => match HeaderName::from_bytes(n.as_bytes()) {
                Ok(n) => n,
                Err(_) => continue,
            },
        };
        if let Ok(value) = HeaderValue::from_bytes(value) {
            headers.append(name, value);
        }
    }
    let mut query = input.query.clone().unwrap_or_default();
    for (n, v) in &input.pairs {
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str(n);
        query.push('=');
        query.push_str(v);
    }
    let raw_query = (input.query.is_some() || !input.pairs.is_empty()).then_some(query.as_str());

    let target = match parse_target(&input.path, input.host.as_deref()) {
        Ok(target) => target,
        Err(e) => {
            assert!((400..500).contains(&e.status()), "parse_target answered {}", e.status());
            return;
        }
    };
    // Decoded names are only ever keys; validating them must not panic either.
    if let Some(container) = &target.container {
        let _ = lazuli_types::names::validate_container_name(container);
    }
    if let Some(blob) = &target.blob {
        if lazuli_types::names::validate_blob_name(blob).is_ok() {
            assert!(!blob.contains('\0'), "a blob name with NUL passed validation");
        }
    }
    let _ = lazuli_types::names::is_valid_account_name(&target.account);
    let query = match Query::parse(raw_query) {
        Ok(query) => query,
        Err(e) => {
            assert!((400..500).contains(&e.status()), "Query::parse answered {}", e.status());
            return;
        }
    };
    match classify(&method, &target, &query, &headers) {
        Ok(operation) => assert!(!operation.name().is_empty()),
        Err(e) => assert!((400..500).contains(&e.status()), "classify answered {}", e.status()),
    }
});
