//! Tests with known vectors. Expected signatures were computed independently (Python `hmac`)
//! over the literal strings-to-sign below, with the well-known development account key.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use base64::Engine;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use lazuli_types::{AzureError, ErrorCode};
use time::macros::datetime;
use time::OffsetDateTime;

use super::shared_key::{culture_cmp, string_to_sign_candidates, Scheme};
use super::util::{self, parse_sas_time, sign};
use super::*;

const DEV_KEY: &str = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const ACCOUNT: &str = "devstoreaccount1";
const NOW: OffsetDateTime = datetime!(2026-11-28 04:05:00 UTC);
const DATE: &str = "Sat, 28 Nov 2026 04:00:00 GMT";

fn dev_key() -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(DEV_KEY)
        .unwrap_or_default()
}

fn keys() -> AccountKeys {
    AccountKeys {
        name: ACCOUNT.to_string(),
        keys: vec![vec![7u8; 64], dev_key()],
    }
}

fn headers(list: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in list {
        let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) else {
            panic!("bad test header {name}: {value}");
        };
        map.append(n, v);
    }
    map
}

/// A request: path-style, over http from 127.0.0.1 at NOW.
struct Req {
    method: Method,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    container: Option<String>,
    blob: Option<String>,
    protocol: Protocol,
    ip: IpAddr,
    now: OffsetDateTime,
}

impl Req {
    fn new(method: Method, path: &str, query: Option<&str>, hs: &[(&str, &str)]) -> Req {
        // Derive container and blob from a path-style path.
        let rest = path.trim_start_matches('/').splitn(3, '/').collect::<Vec<_>>();
        let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
        Req {
            method,
            path: path.to_string(),
            query: query.map(str::to_string),
            headers: headers(hs),
            container: rest.get(1).filter(|s| !s.is_empty()).map(|s| decode(s)),
            blob: rest.get(2).filter(|s| !s.is_empty()).map(|s| decode(s)),
            protocol: Protocol::Http,
            ip: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)),
            now: NOW,
        }
    }

    fn info(&self) -> RequestInfo<'_> {
        RequestInfo {
            method: &self.method,
            raw_path: &self.path,
            raw_query: self.query.as_deref(),
            query: None,
            headers: &self.headers,
            account: ACCOUNT,
            path_style: true,
            container: self.container.as_deref(),
            blob: self.blob.as_deref(),
            protocol: self.protocol,
            client_ip: self.ip,
            now: self.now,
        }
    }

    fn auth(&self) -> Result<Credential, AzureError> {
        self.auth_with(&NoStoredPolicies)
    }

    /// Authenticates as the service does, with the router's decoded query, and checks that
    /// authenticating from the raw query alone (as embedded requests do) ends the same way.
    fn auth_with(&self, policies: &dyn StoredPolicyLookup) -> Result<Credential, AzureError> {
        let raw_only = authenticate(&self.info(), &keys(), policies);
        let Ok(decoded) = crate::router::Query::parse(self.query.as_deref()) else {
            return raw_only;
        };
        let info = RequestInfo {
            query: Some(&decoded),
            ..self.info()
        };
        let routed = authenticate(&info, &keys(), policies);
        assert_eq!(format!("{routed:?}"), format!("{raw_only:?}"), "query {:?}", self.query);
        routed
    }

    fn with_auth(mut self, value: &str) -> Req {
        let Ok(v) = HeaderValue::from_str(value) else {
            panic!("bad authorization")
        };
        self.headers.insert(http::header::AUTHORIZATION, v);
        self
    }

    fn candidates(&self, scheme: Scheme) -> Vec<String> {
        string_to_sign_candidates(&self.info(), ACCOUNT, scheme)
    }
}

fn detail(e: &AzureError) -> String {
    e.details
        .iter()
        .find(|(n, _)| *n == "AuthenticationErrorDetail")
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

fn expect_err(r: Result<Credential, AzureError>) -> AzureError {
    match r {
        Ok(c) => panic!("expected an error, got {c:?}"),
        Err(e) => e,
    }
}

fn expect_sas(r: Result<Credential, AzureError>) -> SasGrant {
    match r {
        Ok(Credential::Sas(g)) => g,
        other => panic!("expected a SAS grant, got {other:?}"),
    }
}

// ---------------------------------------------------------------- Shared Key

const PUT_STS: &str = "PUT\n\n\n11\n\ntext/plain\n\n\n\n\n\n\nx-ms-blob-type:BlockBlob\nx-ms-date:Sat, 28 Nov 2026 04:00:00 GMT\nx-ms-meta-foo:a b\nx-ms-version:2021-08-06\n/devstoreaccount1/devstoreaccount1/mycontainer/my%20blob.txt";
const PUT_SIG: &str = "yCxKfafv7eMyIfr2z+g2FLeBi2irtVC4HLzwYKUnqpQ=";

fn put_request() -> Req {
    Req::new(
        Method::PUT,
        "/devstoreaccount1/mycontainer/my%20blob.txt",
        None,
        &[
            ("x-ms-version", "2021-08-06"),
            ("x-ms-date", DATE),
            ("content-length", "11"),
            ("content-type", "text/plain"),
            ("x-ms-blob-type", "BlockBlob"),
            ("x-ms-meta-Foo", "a    b"),
        ],
    )
}

#[test]
fn shared_key_string_to_sign_put_blob_path_style() {
    let c = put_request().candidates(Scheme::SharedKey);
    assert_eq!(c[0], PUT_STS);
}

#[test]
fn shared_key_string_to_sign_query_canonicalization() {
    let r = Req::new(
        Method::GET,
        "/mycontainer",
        Some("restype=container&comp=list&Prefix=a%20b&include=snapshots&include=metadata"),
        &[("x-ms-date", DATE), ("x-ms-version", "2021-08-06")],
    );
    let c = r.candidates(Scheme::SharedKey);
    let expected = "GET\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:Sat, 28 Nov 2026 04:00:00 GMT\nx-ms-version:2021-08-06\n/devstoreaccount1/mycontainer\ncomp:list\ninclude:metadata,snapshots\nprefix:a b\nrestype:container";
    assert_eq!(c[0], expected);
    // Independently computed signature of that string (host-style request).
    let r = r.with_auth("SharedKey devstoreaccount1:bgh6MSlmq6Xo7KoItlwhb8QjIQJTyAmoakLwQgOz3Vg=");
    assert_eq!(r.auth(), Ok(Credential::SharedKey));
}

#[test]
fn shared_key_known_vector_verifies() {
    assert_eq!(sign(&dev_key(), PUT_STS), PUT_SIG);
    let r = put_request().with_auth(&format!("SharedKey devstoreaccount1:{PUT_SIG}"));
    assert_eq!(r.auth(), Ok(Credential::SharedKey));
}

#[test]
fn shared_key_either_account_key_and_scheme_case() {
    let sig = sign(&[7u8; 64], PUT_STS);
    let r = put_request().with_auth(&format!("sharedkey devstoreaccount1:{sig}"));
    assert_eq!(r.auth(), Ok(Credential::SharedKey));
}

#[test]
fn shared_key_wrong_key_fails_with_mac_detail() {
    let sig = sign(b"not the key", PUT_STS);
    let e = expect_err(
        put_request()
            .with_auth(&format!("SharedKey devstoreaccount1:{sig}"))
            .auth(),
    );
    assert_eq!(e.code, ErrorCode::AuthenticationFailed);
    assert_eq!(e.status(), 403);
    assert_eq!(e.message, util::AUTH_FAILED_MESSAGE);
    assert_eq!(
        detail(&e),
        format!("The MAC signature found in the HTTP request '{sig}' is not the same as any computed signature. Server used following string to sign: '{PUT_STS}'.")
    );
}

#[test]
fn shared_key_tampered_request_fails() {
    let mut r = put_request().with_auth(&format!("SharedKey devstoreaccount1:{PUT_SIG}"));
    r.path = "/devstoreaccount1/mycontainer/other.txt".to_string();
    assert_eq!(expect_err(r.auth()).code, ErrorCode::AuthenticationFailed);
}

fn metadata_request() -> Req {
    Req::new(
        Method::PUT,
        "/devstoreaccount1/c/b",
        Some("comp=metadata"),
        &[
            ("x-ms-date", DATE),
            ("x-ms-version", "2021-08-06"),
            ("x-ms-meta-a-c", "4"),
            ("x-ms-meta-ab", "3"),
            ("x-ms-meta-aa", "2"),
            ("x-ms-meta-a_b", "1"),
        ],
    )
}

fn sts_with_headers(order: &[&str]) -> String {
    let values: HashMap<&str, &str> = [
        ("x-ms-meta-a-c", "4"),
        ("x-ms-meta-ab", "3"),
        ("x-ms-meta-aa", "2"),
        ("x-ms-meta-a_b", "1"),
    ]
    .into();
    let mut s = String::from("PUT\n\n\n\n\n\n\n\n\n\n\n\n");
    for name in order {
        let value = match *name {
            "x-ms-date" => DATE,
            "x-ms-version" => "2021-08-06",
            other => values.get(other).copied().unwrap_or(""),
        };
        s.push_str(&format!("{name}:{value}\n"));
    }
    s.push_str("/devstoreaccount1/devstoreaccount1/c/b\ncomp:metadata");
    s
}

#[test]
fn shared_key_accepts_culture_and_ordinal_header_orders() {
    let culture = sts_with_headers(&[
        "x-ms-date",
        "x-ms-meta-a_b",
        "x-ms-meta-aa",
        "x-ms-meta-ab",
        "x-ms-meta-a-c",
        "x-ms-version",
    ]);
    let ordinal = sts_with_headers(&[
        "x-ms-date",
        "x-ms-meta-a-c",
        "x-ms-meta-a_b",
        "x-ms-meta-aa",
        "x-ms-meta-ab",
        "x-ms-version",
    ]);
    assert_ne!(culture, ordinal);
    let candidates = metadata_request().candidates(Scheme::SharedKey);
    assert_eq!(candidates[0], culture, "the documented (service) order comes first");
    assert!(candidates.contains(&ordinal));
    for sts in [&culture, &ordinal] {
        let r = metadata_request().with_auth(&format!("SharedKey devstoreaccount1:{}", sign(&dev_key(), sts)));
        assert_eq!(r.auth(), Ok(Credential::SharedKey));
    }
    // A third order is not accepted.
    let wrong = sts_with_headers(&[
        "x-ms-date",
        "x-ms-meta-ab",
        "x-ms-meta-aa",
        "x-ms-meta-a_b",
        "x-ms-meta-a-c",
        "x-ms-version",
    ]);
    let r = metadata_request().with_auth(&format!("SharedKey devstoreaccount1:{}", sign(&dev_key(), &wrong)));
    assert_eq!(expect_err(r.auth()).code, ErrorCode::AuthenticationFailed);
}

#[test]
fn culture_comparator_orders_like_dotnet() {
    let mut names = vec!["x-ms-meta-a-c", "x-ms-meta-ab", "x-ms-meta-aa", "x-ms-meta-a_b"];
    names.sort_by(|a, b| culture_cmp(a, b));
    assert_eq!(
        names,
        ["x-ms-meta-a_b", "x-ms-meta-aa", "x-ms-meta-ab", "x-ms-meta-a-c"]
    );
    // Hyphens are ignored first, then break ties: the name with the earlier hyphen sorts later.
    assert_eq!(culture_cmp("x-ms-meta-ab", "x-ms-meta-a-b"), Ordering::Less);
    assert_eq!(culture_cmp("x-ms-meta-a-b", "x-ms-meta-ab"), Ordering::Greater);
    assert_eq!(culture_cmp("x-ms-meta-a-b", "x-ms-meta-a-b"), Ordering::Equal);
    // Symbols before digits before letters; shorter prefix first.
    assert_eq!(culture_cmp("x-ms-meta-_", "x-ms-meta-1"), Ordering::Less);
    assert_eq!(culture_cmp("x-ms-meta-1", "x-ms-meta-a"), Ordering::Less);
    assert_eq!(culture_cmp("x-ms-meta-a", "x-ms-meta-aa"), Ordering::Less);
    assert_eq!(culture_cmp("x-ms-date", "x-ms-version"), Ordering::Less);
}

#[test]
fn shared_key_unfolded_and_raw_values_both_accepted() {
    let raw = PUT_STS.replace("x-ms-meta-foo:a b", "x-ms-meta-foo:a    b");
    let r = put_request().with_auth(&format!("SharedKey devstoreaccount1:{}", sign(&dev_key(), &raw)));
    assert_eq!(r.auth(), Ok(Credential::SharedKey));
}

#[test]
fn shared_key_zero_length_and_date_variants() {
    let hs = [
        ("x-ms-date", DATE),
        ("x-ms-version", "2014-02-14"),
        ("content-length", "0"),
        ("date", DATE),
    ];
    let r = Req::new(Method::DELETE, "/devstoreaccount1/c", Some("restype=container"), &hs);
    let c = r.candidates(Scheme::SharedKey);
    let base = "\n\n\n\n\n\nx-ms-date:Sat, 28 Nov 2026 04:00:00 GMT\nx-ms-version:2014-02-14\n/devstoreaccount1/devstoreaccount1/c\nrestype:container";
    assert_eq!(c[0], format!("DELETE\n\n\n\n\n\n{base}"));
    // Old version: "0" also accepted; Date line with the Date value also accepted.
    assert!(c.contains(&format!("DELETE\n\n\n0\n\n\n{base}")));
    assert!(c.contains(&format!("DELETE\n\n\n\n\n\n{DATE}{base}")));
}

#[test]
fn shared_key_plus_in_query_both_readings() {
    let r = Req::new(
        Method::GET,
        "/devstoreaccount1/c",
        Some("restype=container&comp=list&prefix=a+b"),
        &[("x-ms-date", DATE)],
    );
    let c = r.candidates(Scheme::SharedKey);
    assert!(c[0].ends_with("\nprefix:a b\nrestype:container"));
    assert!(c.iter().any(|s| s.ends_with("\nprefix:a+b\nrestype:container")));
}

#[test]
fn shared_key_lite_string_to_sign_and_verify() {
    let r = Req::new(
        Method::GET,
        "/devstoreaccount1/c",
        Some("restype=container&comp=list"),
        &[
            ("x-ms-date", DATE),
            ("x-ms-version", "2021-08-06"),
            ("content-type", "text/plain"),
        ],
    );
    let c = r.candidates(Scheme::SharedKeyLite);
    let expected = "GET\n\ntext/plain\n\nx-ms-date:Sat, 28 Nov 2026 04:00:00 GMT\nx-ms-version:2021-08-06\n/devstoreaccount1/devstoreaccount1/c?comp=list";
    assert_eq!(c[0], expected);
    let r = r.with_auth(&format!(
        "SharedKeyLite devstoreaccount1:{}",
        sign(&dev_key(), expected)
    ));
    assert_eq!(r.auth(), Ok(Credential::SharedKey));
}

#[test]
fn shared_key_date_checks() {
    let sig = "SharedKey devstoreaccount1:yCxKfafv7eMyIfr2z+g2FLeBi2irtVC4HLzwYKUnqpQ=";
    let no_date = Req::new(Method::GET, "/devstoreaccount1/c", None, &[]).with_auth(sig);
    let e = expect_err(no_date.auth());
    assert_eq!(
        (e.code, detail(&e).as_str()),
        (ErrorCode::AuthenticationFailed, "Request date header not specified")
    );

    let bad = Req::new(Method::GET, "/devstoreaccount1/c", None, &[("x-ms-date", "yesterday")]).with_auth(sig);
    assert_eq!(
        detail(&expect_err(bad.auth())),
        "The Date header in the request is incorrect."
    );

    let mut old = put_request().with_auth(&format!("SharedKey devstoreaccount1:{PUT_SIG}"));
    old.now = datetime!(2026-11-28 04:20:00 UTC);
    let e = expect_err(old.auth());
    assert_eq!(
        detail(&e),
        "Request date header too old: 'Sat, 28 Nov 2026 04:00:00 GMT'"
    );

    // A Date header alone is enough.
    let d = Req::new(Method::GET, "/devstoreaccount1/c", None, &[("date", DATE)]);
    let sts = "GET\n\n\n\n\n\n".to_string() + DATE + "\n\n\n\n\n\n/devstoreaccount1/devstoreaccount1/c";
    let d = d.with_auth(&format!("SharedKey devstoreaccount1:{}", sign(&dev_key(), &sts)));
    assert_eq!(d.auth(), Ok(Credential::SharedKey));
}

#[test]
fn authorization_header_malformed() {
    let base = || Req::new(Method::GET, "/devstoreaccount1/c", None, &[("x-ms-date", DATE)]);
    for (value, code) in [
        ("Basic dXNlcjpwYXNz", ErrorCode::InvalidAuthenticationInfo),
        ("SharedKey", ErrorCode::InvalidAuthenticationInfo),
        ("SharedKey devstoreaccount1", ErrorCode::InvalidAuthenticationInfo),
        ("SharedKey devstoreaccount1:", ErrorCode::InvalidAuthenticationInfo),
        ("SharedKey a:b:c", ErrorCode::InvalidAuthenticationInfo),
        (
            "SharedKey devstoreaccount1:not*base64!",
            ErrorCode::InvalidAuthenticationInfo,
        ),
        (
            "SharedKey otheraccount:yCxKfafv7eMyIfr2z+g2FLeBi2irtVC4HLzwYKUnqpQ=",
            ErrorCode::AuthenticationFailed,
        ),
        ("SharedKey devstoreaccount1:AAAA", ErrorCode::AuthenticationFailed),
        ("Bearer eyJ0eXAi", ErrorCode::AuthenticationFailed),
    ] {
        let e = expect_err(base().with_auth(value).auth());
        assert_eq!(e.code, code, "{value}");
    }
    let e = expect_err(base().with_auth("Basic xyz").auth());
    assert_eq!(e.status(), 400);
    assert_eq!(
        e.message,
        "Authentication information is not given in the correct format. Check the value of Authorization header."
    );
    // Two Authorization headers.
    let mut r = base().with_auth(&format!("SharedKey devstoreaccount1:{PUT_SIG}"));
    r.headers
        .append(http::header::AUTHORIZATION, HeaderValue::from_static("SharedKey x:y"));
    assert_eq!(expect_err(r.auth()).code, ErrorCode::InvalidAuthenticationInfo);
}

#[test]
fn anonymous_without_credentials() {
    let r = Req::new(Method::GET, "/devstoreaccount1/c/b", Some("comp=metadata"), &[]);
    assert_eq!(r.auth(), Ok(Credential::Anonymous));
}

// ---------------------------------------------------------------- SAS helpers

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn query(fields: &[(&str, &str)], sig: &str) -> String {
    let mut parts: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={}", enc(v))).collect();
    parts.push(format!("sig={}", enc(sig)));
    parts.join("&")
}

fn account_sts(f: &HashMap<&str, &str>) -> String {
    let g = |k: &str| f.get(k).copied().unwrap_or("");
    let mut s = format!(
        "{ACCOUNT}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n",
        g("sp"),
        g("ss"),
        g("srt"),
        g("st"),
        g("se"),
        g("sip"),
        g("spr"),
        g("sv")
    );
    if g("sv") >= "2020-12-06" {
        s.push_str(g("ses"));
        s.push('\n');
    }
    s
}

fn account_sas_request(path: &str, extra: &[(&str, &str)], fields: &[(&str, &str)]) -> Req {
    let map: HashMap<&str, &str> = fields.iter().copied().collect();
    let sig = sign(&dev_key(), &account_sts(&map));
    let mut q = query(fields, &sig);
    for (k, v) in extra {
        q = format!("{k}={v}&{q}");
    }
    Req::new(Method::GET, path, Some(&q), &[("x-ms-version", "2021-08-06")])
}

const ACCOUNT_FIELDS: &[(&str, &str)] = &[
    ("sv", "2021-08-06"),
    ("ss", "b"),
    ("srt", "sco"),
    ("sp", "rl"),
    ("se", "2026-12-01T00:00:00Z"),
];

fn need<'a>(p: Permission, r: ResourceType, c: Option<&'a str>, b: Option<&'a str>) -> RequiredAccess<'a> {
    RequiredAccess {
        permission: p,
        resource: r,
        container: c,
        blob: b,
        service: Service::Blob,
    }
}

fn with_field<'a>(base: &[(&'a str, &'a str)], key: &'a str, value: &'a str) -> Vec<(&'a str, &'a str)> {
    let mut v: Vec<(&str, &str)> = base.iter().copied().filter(|(k, _)| *k != key).collect();
    v.push((key, value));
    v
}

// ---------------------------------------------------------------- Account SAS

#[test]
fn account_sas_known_vector() {
    let map: HashMap<&str, &str> = ACCOUNT_FIELDS.iter().copied().collect();
    let sts = account_sts(&map);
    assert_eq!(
        sts,
        "devstoreaccount1\nrl\nb\nsco\n\n2026-12-01T00:00:00Z\n\n\n2021-08-06\n\n"
    );
    assert_eq!(sign(&dev_key(), &sts), "65dkD1TwILijm8XumZjCPsu/f8vJ/egeyXPYkqLdf8A=");
}

#[test]
fn account_sas_allows_and_denies() {
    let r = account_sas_request("/devstoreaccount1", &[("comp", "list")], ACCOUNT_FIELDS);
    let g = expect_sas(r.auth());
    assert_eq!(g.permissions, "rl");
    assert!(g
        .authorize(&need(Permission::List, ResourceType::Service, None, None))
        .is_ok());
    assert!(g
        .authorize(&need(Permission::Read, ResourceType::Object, Some("c"), Some("b")))
        .is_ok());
    let code = |n: RequiredAccess| g.authorize(&n).err().map(|e| e.code);
    assert_eq!(
        code(need(Permission::Write, ResourceType::Object, Some("c"), Some("b"))),
        Some(ErrorCode::AuthorizationPermissionMismatch)
    );
    assert_eq!(
        code(need(Permission::Create, ResourceType::Container, Some("c"), None)),
        Some(ErrorCode::AuthorizationPermissionMismatch)
    );
    let mut queue = need(Permission::Read, ResourceType::Service, None, None);
    queue.service = Service::Queue;
    assert_eq!(code(queue), Some(ErrorCode::AuthorizationServiceMismatch));

    // Resource type.
    let f = with_field(ACCOUNT_FIELDS, "srt", "o");
    let g = expect_sas(account_sas_request("/devstoreaccount1/c/b", &[], &f).auth());
    let e = g
        .authorize(&need(Permission::List, ResourceType::Container, Some("c"), None))
        .err();
    assert_eq!(e.map(|e| e.code), Some(ErrorCode::AuthorizationResourceTypeMismatch));

    // Service letter missing.
    let f = with_field(ACCOUNT_FIELDS, "ss", "qt");
    let g = expect_sas(account_sas_request("/devstoreaccount1/c/b", &[], &f).auth());
    let e = g
        .authorize(&need(Permission::Read, ResourceType::Object, Some("c"), Some("b")))
        .err();
    assert_eq!(e.map(|e| e.code), Some(ErrorCode::AuthorizationServiceMismatch));

    // Write implies create; add accepts write.
    let f = with_field(ACCOUNT_FIELDS, "sp", "w");
    let g = expect_sas(account_sas_request("/devstoreaccount1/c/b", &[], &f).auth());
    assert!(g
        .authorize(&need(Permission::Create, ResourceType::Object, Some("c"), Some("b")))
        .is_ok());
    assert!(g
        .authorize(&need(Permission::Add, ResourceType::Object, Some("c"), Some("b")))
        .is_ok());
    assert!(g
        .authorize(&need(Permission::Delete, ResourceType::Object, Some("c"), Some("b")))
        .is_err());
}

#[test]
fn account_sas_time_window() {
    // Expired (no st): the service reports expiry against "now" as start.
    let f = with_field(ACCOUNT_FIELDS, "se", "2026-11-01");
    let e = expect_err(account_sas_request("/devstoreaccount1/c", &[], &f).auth());
    assert_eq!(e.code, ErrorCode::AuthenticationFailed);
    assert_eq!(
        detail(&e),
        "Signed expiry time [Sun, 01 Nov 2026 00:00:00 GMT] must be after signed start time [Sat, 28 Nov 2026 04:05:00 GMT]"
    );
    // Not yet valid.
    let f = with_field(ACCOUNT_FIELDS, "st", "2026-11-29T00:00Z");
    let e = expect_err(account_sas_request("/devstoreaccount1/c", &[], &f).auth());
    assert_eq!(
        detail(&e),
        "Signature not valid in the specified time frame: Start [Sun, 29 Nov 2026 00:00:00 GMT] - Expiry [Tue, 01 Dec 2026 00:00:00 GMT] - Current [Sat, 28 Nov 2026 04:05:00 GMT]"
    );
    // Valid window with start, fractional seconds.
    let f = with_field(ACCOUNT_FIELDS, "st", "2026-11-28T04:00:00.1234567Z");
    let g = expect_sas(account_sas_request("/devstoreaccount1/c", &[], &f).auth());
    assert_eq!(g.start, Some(datetime!(2026-11-28 04:00:00.1234567 UTC)));
}

#[test]
fn account_sas_ip_and_protocol() {
    let f = with_field(ACCOUNT_FIELDS, "sip", "10.0.0.1-10.0.0.9");
    let mut r = account_sas_request("/devstoreaccount1/c", &[], &f);
    assert_eq!(expect_err(r.auth()).code, ErrorCode::AuthorizationSourceIPMismatch);
    r.ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 5));
    assert!(r.auth().is_ok());
    // IPv4-mapped IPv6 from a dual-stack listener.
    r.ip = "::ffff:10.0.0.9".parse().unwrap_or(r.ip);
    assert!(r.auth().is_ok());

    let f = with_field(ACCOUNT_FIELDS, "sip", "127.0.0.1");
    assert!(account_sas_request("/devstoreaccount1/c", &[], &f).auth().is_ok());

    let f = with_field(ACCOUNT_FIELDS, "spr", "https");
    let mut r = account_sas_request("/devstoreaccount1/c", &[], &f);
    let e = expect_err(r.auth());
    assert_eq!((e.code, e.status()), (ErrorCode::AuthorizationProtocolMismatch, 403));
    r.protocol = Protocol::Https;
    assert!(r.auth().is_ok());
}

#[test]
fn account_sas_signature_mismatch_and_malformed() {
    let r = account_sas_request("/devstoreaccount1/c", &[], ACCOUNT_FIELDS);
    // Tamper with the permissions after signing.
    let q = r.query.clone().unwrap_or_default().replace("sp=rl", "sp=rwl");
    let mut r2 = Req::new(Method::GET, "/devstoreaccount1/c", Some(&q), &[]);
    r2.now = NOW;
    let e = expect_err(r2.auth());
    assert_eq!(e.code, ErrorCode::AuthenticationFailed);
    assert_eq!(
        detail(&e),
        "Signature did not match. String to sign used was devstoreaccount1\nrwl\nb\nsco\n\n2026-12-01T00:00:00Z\n\n\n2021-08-06\n\n"
    );
    // Malformed fields.
    for (k, v) in [
        ("se", "garbage"),
        ("sp", "rz"),
        ("sp", "rr"),
        ("ss", "x"),
        ("srt", "k"),
        ("sip", "1.2.3"),
        ("spr", "ftp"),
    ] {
        let f = with_field(ACCOUNT_FIELDS, k, v);
        let e = expect_err(account_sas_request("/devstoreaccount1/c", &[], &f).auth());
        assert_eq!(
            (e.code, detail(&e).as_str()),
            (ErrorCode::AuthenticationFailed, "Signature fields not well formed."),
            "{k}={v}"
        );
    }
    let f = with_field(ACCOUNT_FIELDS, "sv", "2014-02-14");
    assert_eq!(
        expect_err(account_sas_request("/devstoreaccount1/c", &[], &f).auth()).code,
        ErrorCode::AuthenticationFailed
    );
    // Bad signature encodings.
    for sig in ["%%%", "AAAA", ""] {
        let q = format!("sv=2021-08-06&ss=b&srt=sco&sp=rl&se=2026-12-01&sig={sig}");
        let r = Req::new(Method::GET, "/devstoreaccount1/c", Some(&q), &[]);
        assert_eq!(expect_err(r.auth()).code, ErrorCode::AuthenticationFailed, "{sig}");
    }
}

#[test]
fn account_sas_unescaped_plus_in_signature() {
    // Find fields whose signature contains '+', then send it unescaped.
    for day in 1..28 {
        let se = format!("2026-12-{day:02}");
        let f = with_field(ACCOUNT_FIELDS, "se", &se);
        let map: HashMap<&str, &str> = f.iter().copied().collect();
        let sig = sign(&dev_key(), &account_sts(&map));
        if !sig.contains('+') {
            continue;
        }
        let fields: Vec<String> = f.iter().map(|(k, v)| format!("{k}={}", enc(v))).collect();
        let q = format!("{}&sig={sig}", fields.join("&"));
        let r = Req::new(Method::GET, "/devstoreaccount1/c", Some(&q), &[]);
        assert!(r.auth().is_ok());
        return;
    }
    panic!("no signature with '+' found");
}

#[test]
fn sas_ignored_when_authorization_header_present() {
    let r = account_sas_request("/devstoreaccount1/c", &[], ACCOUNT_FIELDS).with_auth("Basic abc");
    assert_eq!(expect_err(r.auth()).code, ErrorCode::InvalidAuthenticationInfo);
}

// ---------------------------------------------------------------- Service SAS

/// Builds a service SAS string-to-sign in the layout of version `sv`.
fn service_sts(f: &HashMap<&str, &str>, canonical: &str, snapshot: &str) -> String {
    let g = |k: &str| f.get(k).copied().unwrap_or("");
    let sv = g("sv");
    if sv >= "2020-12-06" {
        [
            g("sp"),
            g("st"),
            g("se"),
            canonical,
            g("si"),
            g("sip"),
            g("spr"),
            sv,
            g("sr"),
            snapshot,
            g("ses"),
            g("rscc"),
            g("rscd"),
            g("rsce"),
            g("rscl"),
            g("rsct"),
        ]
        .join("\n")
    } else if sv >= "2018-11-09" {
        [
            g("sp"),
            g("st"),
            g("se"),
            canonical,
            g("si"),
            g("sip"),
            g("spr"),
            sv,
            g("sr"),
            snapshot,
            g("rscc"),
            g("rscd"),
            g("rsce"),
            g("rscl"),
            g("rsct"),
        ]
        .join("\n")
    } else {
        [
            g("sp"),
            g("st"),
            g("se"),
            canonical,
            g("si"),
            g("sip"),
            g("spr"),
            sv,
            g("rscc"),
            g("rscd"),
            g("rsce"),
            g("rscl"),
            g("rsct"),
        ]
        .join("\n")
    }
}

fn service_sas_request(path: &str, extra: &str, fields: &[(&str, &str)], canonical: &str, snapshot: &str) -> Req {
    let map: HashMap<&str, &str> = fields.iter().copied().collect();
    let sig = sign(&dev_key(), &service_sts(&map, canonical, snapshot));
    let mut q = query(fields, &sig);
    if !extra.is_empty() {
        q = format!("{extra}&{q}");
    }
    Req::new(Method::GET, path, Some(&q), &[])
}

const BLOB_FIELDS: &[(&str, &str)] = &[
    ("sv", "2021-08-06"),
    ("sr", "b"),
    ("sp", "r"),
    ("se", "2026-12-01T00:00:00Z"),
    ("spr", "https,http"),
];
const BLOB_RESOURCE: &str = "/blob/devstoreaccount1/mycontainer/my blob.txt";

#[test]
fn service_sas_known_vector() {
    let map: HashMap<&str, &str> = BLOB_FIELDS.iter().copied().collect();
    let sts = service_sts(&map, BLOB_RESOURCE, "");
    assert_eq!(sts, "r\n\n2026-12-01T00:00:00Z\n/blob/devstoreaccount1/mycontainer/my blob.txt\n\n\nhttps,http\n2021-08-06\nb\n\n\n\n\n\n\n");
    assert_eq!(sign(&dev_key(), &sts), "AT6/JjzpIjLf+T/Ew52XumNZa7cTyEJhwNzNmtGxxPM=");
    let q = "sv=2021-08-06&sr=b&sp=r&se=2026-12-01T00%3A00%3A00Z&spr=https%2Chttp&sig=AT6%2FJjzpIjLf%2BT%2FEw52XumNZa7cTyEJhwNzNmtGxxPM%3D";
    let r = Req::new(Method::GET, "/devstoreaccount1/mycontainer/my%20blob.txt", Some(q), &[]);
    let g = expect_sas(r.auth());
    assert_eq!(
        g.kind,
        SasKind::Service {
            resource: SignedResource::Blob,
            container: "mycontainer".into(),
            path: Some("my blob.txt".into())
        }
    );
    assert!(g
        .authorize(&need(
            Permission::Read,
            ResourceType::Object,
            Some("mycontainer"),
            Some("my blob.txt")
        ))
        .is_ok());
    let e = g.authorize(&need(
        Permission::Write,
        ResourceType::Object,
        Some("mycontainer"),
        Some("my blob.txt"),
    ));
    assert_eq!(
        e.err().map(|e| e.code),
        Some(ErrorCode::AuthorizationPermissionMismatch)
    );
}

#[test]
fn service_sas_blob_scope() {
    let r = service_sas_request(
        "/devstoreaccount1/mycontainer/my%20blob.txt",
        "",
        BLOB_FIELDS,
        BLOB_RESOURCE,
        "",
    );
    assert!(r.auth().is_ok());
    // The same SAS on another blob: the signature no longer matches (the service's answer).
    let q = r.query.clone().unwrap_or_default();
    let other = Req::new(Method::GET, "/devstoreaccount1/mycontainer/other.txt", Some(&q), &[]);
    let e = expect_err(other.auth());
    assert_eq!(e.code, ErrorCode::AuthenticationFailed);
    assert!(detail(&e).starts_with("Signature did not match. String to sign used was r\n"));
    assert!(detail(&e).contains("/blob/devstoreaccount1/mycontainer/other.txt"));
    // On the container (no blob in the URL): not allowed at that level.
    let container = Req::new(
        Method::GET,
        "/devstoreaccount1/mycontainer",
        Some(&format!("restype=container&comp=list&{q}")),
        &[],
    );
    let e = expect_err(container.auth());
    assert_eq!(
        detail(&e),
        "The specified signed resource is not allowed for the this resource level"
    );
    // Defence in depth in authorize().
    let g = expect_sas(r.auth());
    let code = |n: RequiredAccess| g.authorize(&n).err().map(|e| e.code);
    assert_eq!(
        code(need(
            Permission::Read,
            ResourceType::Object,
            Some("mycontainer"),
            Some("x")
        )),
        Some(ErrorCode::AuthorizationFailure)
    );
    assert_eq!(
        code(need(
            Permission::Read,
            ResourceType::Object,
            Some("other"),
            Some("my blob.txt")
        )),
        Some(ErrorCode::AuthorizationFailure)
    );
    assert_eq!(
        code(need(
            Permission::Read,
            ResourceType::Container,
            Some("mycontainer"),
            None
        )),
        Some(ErrorCode::AuthorizationResourceTypeMismatch)
    );
    assert_eq!(
        code(need(Permission::Read, ResourceType::Service, None, None)),
        Some(ErrorCode::AuthorizationResourceTypeMismatch)
    );
}

#[test]
fn service_sas_container_scope() {
    let f = [("sv", "2020-02-10"), ("sr", "c"), ("sp", "rcwl"), ("se", "2026-12-01")];
    let canonical = "/blob/devstoreaccount1/mycontainer";
    let r = service_sas_request("/devstoreaccount1/mycontainer/a/b.txt", "", &f, canonical, "");
    let g = expect_sas(r.auth());
    assert!(g
        .authorize(&need(
            Permission::Write,
            ResourceType::Object,
            Some("mycontainer"),
            Some("a/b.txt")
        ))
        .is_ok());
    assert!(g
        .authorize(&need(
            Permission::List,
            ResourceType::Container,
            Some("mycontainer"),
            None
        ))
        .is_ok());
    let e = g.authorize(&need(
        Permission::Delete,
        ResourceType::Object,
        Some("mycontainer"),
        Some("a/b.txt"),
    ));
    assert_eq!(
        e.err().map(|e| e.code),
        Some(ErrorCode::AuthorizationPermissionMismatch)
    );
    // Same SAS on the container itself and on another blob of it.
    let q = r.query.clone().unwrap_or_default();
    let list = Req::new(
        Method::GET,
        "/devstoreaccount1/mycontainer",
        Some(&format!("restype=container&comp=list&{q}")),
        &[],
    );
    assert!(list.auth().is_ok());
    let other_blob = Req::new(Method::GET, "/devstoreaccount1/mycontainer/zzz", Some(&q), &[]);
    assert!(other_blob.auth().is_ok());
    // Another container: signature mismatch.
    let other = Req::new(Method::GET, "/devstoreaccount1/othercontainer/a/b.txt", Some(&q), &[]);
    assert_eq!(expect_err(other.auth()).code, ErrorCode::AuthenticationFailed);
    // Service level: not allowed.
    let svc = Req::new(Method::GET, "/devstoreaccount1", Some(&format!("comp=list&{q}")), &[]);
    assert_eq!(
        detail(&expect_err(svc.auth())),
        "The specified signed resource is not allowed for the this resource level"
    );
}

#[test]
fn service_sas_version_layouts() {
    // 2015-04-05 .. 2018-03-28: no sr, no snapshot.
    let f = [
        ("sv", "2017-07-29"),
        ("sr", "b"),
        ("sp", "r"),
        ("se", "2026-12-01"),
        ("sip", "127.0.0.1"),
        ("rsct", "text/html"),
    ];
    let map: HashMap<&str, &str> = f.iter().copied().collect();
    let canonical = "/blob/devstoreaccount1/c/b";
    assert_eq!(
        service_sts(&map, canonical, ""),
        "r\n\n2026-12-01\n/blob/devstoreaccount1/c/b\n\n127.0.0.1\n\n2017-07-29\n\n\n\n\ntext/html"
    );
    let g = expect_sas(service_sas_request("/devstoreaccount1/c/b", "", &f, canonical, "").auth());
    assert_eq!(g.content_type.as_deref(), Some("text/html"));

    // 2018-11-09 .. 2020-10-02 with a snapshot.
    let f = [("sv", "2019-12-12"), ("sr", "bs"), ("sp", "rd"), ("se", "2026-12-01")];
    let snap = "2026-11-01T00:00:00.0000000Z";
    let r = service_sas_request(
        "/devstoreaccount1/c/b",
        &format!("snapshot={}", enc(snap)),
        &f,
        canonical,
        snap,
    );
    let g = expect_sas(r.auth());
    assert_eq!(
        g.kind,
        SasKind::Service {
            resource: SignedResource::BlobSnapshot,
            container: "c".into(),
            path: Some("b".into())
        }
    );

    // 2020-12-06+: ses after the snapshot; response overrides.
    let f = [
        ("sv", "2022-11-02"),
        ("sr", "b"),
        ("sp", "r"),
        ("se", "2026-12-01"),
        ("ses", "scope1"),
        ("rscc", "no-cache"),
        ("rscd", "attachment; filename=\"x y.txt\""),
        ("rsce", "gzip"),
        ("rscl", "en"),
    ];
    let g = expect_sas(service_sas_request("/devstoreaccount1/c/b", "", &f, canonical, "").auth());
    assert_eq!(g.encryption_scope.as_deref(), Some("scope1"));
    assert_eq!(g.cache_control.as_deref(), Some("no-cache"));
    assert_eq!(
        g.content_disposition.as_deref(),
        Some("attachment; filename=\"x y.txt\"")
    );
    assert_eq!(g.content_encoding.as_deref(), Some("gzip"));
    assert_eq!(g.content_language.as_deref(), Some("en"));

    // A SAS signed with another layout than its sv does not verify.
    let map: HashMap<&str, &str> = [("sv", "2022-11-02"), ("sr", "b"), ("sp", "r"), ("se", "2026-12-01")].into();
    let old_layout = {
        let mut m = map.clone();
        m.insert("sv", "2017-07-29");
        service_sts(&m, canonical, "").replace("2017-07-29", "2022-11-02")
    };
    let sig = sign(&dev_key(), &old_layout);
    let q = query(
        &[("sv", "2022-11-02"), ("sr", "b"), ("sp", "r"), ("se", "2026-12-01")],
        &sig,
    );
    let r = Req::new(Method::GET, "/devstoreaccount1/c/b", Some(&q), &[]);
    assert_eq!(expect_err(r.auth()).code, ErrorCode::AuthenticationFailed);

    // Pre-2015-02-21: no "/blob" prefix, no sip/spr.
    let f = [("sv", "2013-08-15"), ("sr", "c"), ("sp", "r"), ("se", "2026-12-01")];
    let sts = "r\n\n2026-12-01\n/devstoreaccount1/c\n\n2013-08-15\n\n\n\n\n";
    let q = query(&f, &sign(&dev_key(), sts));
    let r = Req::new(Method::GET, "/devstoreaccount1/c/b", Some(&q), &[]);
    assert!(r.auth().is_ok());
}

struct Policies(Vec<(&'static str, &'static str, StoredPolicy)>);

impl StoredPolicyLookup for Policies {
    fn lookup(&self, container: &str, id: &str) -> Option<StoredPolicy> {
        self.0
            .iter()
            .find(|(c, i, _)| *c == container && *i == id)
            .map(|(_, _, p)| p.clone())
    }
}

#[test]
fn service_sas_stored_policy() {
    let policies = Policies(vec![
        (
            "c",
            "full",
            StoredPolicy {
                start: None,
                expiry: Some(datetime!(2026-12-01 00:00 UTC)),
                permissions: Some("rwl".into()),
            },
        ),
        (
            "c",
            "noexp",
            StoredPolicy {
                start: None,
                expiry: None,
                permissions: Some("r".into()),
            },
        ),
        (
            "c",
            "expired",
            StoredPolicy {
                start: None,
                expiry: Some(datetime!(2026-11-01 00:00 UTC)),
                permissions: Some("r".into()),
            },
        ),
    ]);
    let canonical = "/blob/devstoreaccount1/c";
    let f = [("sv", "2021-08-06"), ("sr", "c"), ("si", "full")];
    let r = service_sas_request("/devstoreaccount1/c/b", "", &f, canonical, "");
    let g = expect_sas(r.auth_with(&policies));
    assert_eq!(g.permissions, "rwl");
    assert_eq!(g.identifier.as_deref(), Some("full"));
    assert!(g
        .authorize(&need(Permission::Write, ResourceType::Object, Some("c"), Some("b")))
        .is_ok());

    // Unknown id.
    let f = [("sv", "2021-08-06"), ("sr", "c"), ("si", "nope")];
    let e = expect_err(service_sas_request("/devstoreaccount1/c/b", "", &f, canonical, "").auth_with(&policies));
    assert_eq!(
        detail(&e),
        "SAS identifier cannot be found for specified signed identifier"
    );
    // A field in both.
    let f = [("sv", "2021-08-06"), ("sr", "c"), ("si", "full"), ("sp", "r")];
    let e = expect_err(service_sas_request("/devstoreaccount1/c/b", "", &f, canonical, "").auth_with(&policies));
    assert_eq!(
        detail(&e),
        "Access policy fields can be associated with signature or SAS identifier but not both"
    );
    // Expiry from the SAS, permissions from the policy.
    let f = [("sv", "2021-08-06"), ("sr", "c"), ("si", "noexp"), ("se", "2026-12-01")];
    let g = expect_sas(service_sas_request("/devstoreaccount1/c/b", "", &f, canonical, "").auth_with(&policies));
    assert_eq!(
        (g.permissions.as_str(), g.expiry),
        ("r", datetime!(2026-12-01 00:00 UTC))
    );
    // Expiry nowhere.
    let f = [("sv", "2021-08-06"), ("sr", "c"), ("si", "noexp")];
    let e = expect_err(service_sas_request("/devstoreaccount1/c/b", "", &f, canonical, "").auth_with(&policies));
    assert_eq!(
        detail(&e),
        "Signed expiry must be specified in signature or SAS identifier"
    );
    // The policy's expiry is past: revoking by editing the policy works.
    let f = [("sv", "2021-08-06"), ("sr", "c"), ("si", "expired")];
    let e = expect_err(service_sas_request("/devstoreaccount1/c/b", "", &f, canonical, "").auth_with(&policies));
    assert!(detail(&e).starts_with("Signed expiry time [Sun, 01 Nov 2026 00:00:00 GMT] must be after"));
}

#[test]
fn service_sas_directory_scope() {
    let f = [
        ("sv", "2021-08-06"),
        ("sr", "d"),
        ("sdd", "2"),
        ("sp", "rl"),
        ("se", "2026-12-01"),
    ];
    let canonical = "/blob/devstoreaccount1/fs/a/b";
    let r = service_sas_request("/devstoreaccount1/fs/a/b/c.txt", "", &f, canonical, "");
    let g = expect_sas(r.auth());
    assert!(g
        .authorize(&need(
            Permission::Read,
            ResourceType::Object,
            Some("fs"),
            Some("a/b/c.txt")
        ))
        .is_ok());
    assert!(g
        .authorize(&need(
            Permission::List,
            ResourceType::Container,
            Some("fs"),
            Some("a/b")
        ))
        .is_ok());
    let e = g.authorize(&need(Permission::Read, ResourceType::Object, Some("fs"), Some("a/bc")));
    assert_eq!(e.err().map(|e| e.code), Some(ErrorCode::AuthorizationFailure));
    // List Paths: the directory comes from the query.
    let q = r.query.clone().unwrap_or_default();
    let list = Req::new(
        Method::GET,
        "/devstoreaccount1/fs",
        Some(&format!("resource=filesystem&directory=a%2Fb&recursive=false&{q}")),
        &[],
    );
    assert!(list.auth().is_ok());
    // Outside the directory: the signature does not match.
    let other = Req::new(Method::GET, "/devstoreaccount1/fs/a/x/c.txt", Some(&q), &[]);
    assert_eq!(expect_err(other.auth()).code, ErrorCode::AuthenticationFailed);
    // Path shallower than sdd.
    let shallow = Req::new(Method::GET, "/devstoreaccount1/fs/a", Some(&q), &[]);
    assert_eq!(expect_err(shallow.auth()).code, ErrorCode::AuthenticationFailed);
}

#[test]
fn service_sas_missing_fields() {
    for (q, d) in [
        (
            "sv=2021-08-06&sp=r&se=2026-12-01&sig=AAAA",
            "sr is mandatory. Cannot be empty",
        ),
        ("sr=b&sp=r&se=2026-12-01&sig=AAAA", "sv is mandatory. Cannot be empty"),
        ("sv=2021-08-06&sr=b&sp=r&sig=AAAA", "se is mandatory. Cannot be empty"),
        ("sv=2021-08-06&sr=b&se=2026-12-01&sig=AAAA", "Signature size is invalid"),
        (
            "sv=2021-08-06&sr=x&sp=r&se=2026-12-01&sig=AAAA",
            "Signature fields not well formed.",
        ),
        (
            "sv=2021-08-06&sr=b&sp=r&se=2026-12-01&st=&sig=AAAA",
            "st is optional but cannot be empty",
        ),
        (
            // A user delegation SAS needs every signed key field.
            "sv=2021-08-06&sr=b&sp=r&se=2099-12-01&skoid=x&sig=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA%3D",
            "sktid is mandatory. Cannot be empty",
        ),
    ] {
        let r = Req::new(Method::GET, "/devstoreaccount1/c/b", Some(q), &[]);
        let e = expect_err(r.auth());
        assert_eq!(
            (e.code, detail(&e).as_str()),
            (ErrorCode::AuthenticationFailed, d),
            "{q}"
        );
    }
}

// ---------------------------------------------------------------- Dates

#[test]
fn sas_time_formats() {
    let t = |s: &str| parse_sas_time(s);
    assert_eq!(t("2026-12-01"), Some(datetime!(2026-12-01 00:00 UTC)));
    assert_eq!(t("2026-12-01T10:20Z"), Some(datetime!(2026-12-01 10:20 UTC)));
    assert_eq!(t("2026-12-01T10:20:30Z"), Some(datetime!(2026-12-01 10:20:30 UTC)));
    assert_eq!(
        t("2026-12-01T10:20:30.1234567Z"),
        Some(datetime!(2026-12-01 10:20:30.1234567 UTC))
    );
    assert_eq!(t("2026-12-01T10:20:30+02:00"), Some(datetime!(2026-12-01 08:20:30 UTC)));
    for bad in [
        "",
        "garbage",
        "2026-13-01",
        "2026-02-30",
        "2026-12-01T25:00Z",
        "2026-12-01T10Z",
        "2026-12-01T10:20:30.Z",
        "１２３４-12-01",
        "2026-12-01T10:20:30.1234567890Z",
    ] {
        assert_eq!(t(bad), None, "{bad}");
    }
    assert_eq!(
        util::rfc1123(datetime!(0001-01-01 00:00 UTC)),
        "Mon, 01 Jan 0001 00:00:00 GMT"
    );
}

// ---------------------------------------------------------------- No panics

mod fuzz {
    use proptest::prelude::*;

    use super::*;

    fn arbitrary_request(path: &str, query: &str, auth: &str, extra: &[(String, String)]) -> Req {
        let mut r = Req::new(Method::GET, "/devstoreaccount1/c/b", None, &[("x-ms-date", DATE)]);
        r.path = path.to_string();
        r.query = Some(query.to_string());
        if let Ok(v) = HeaderValue::from_str(auth) {
            if !auth.is_empty() {
                r.headers.insert(http::header::AUTHORIZATION, v);
            }
        }
        for (n, v) in extra {
            if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(n.as_bytes()), HeaderValue::from_str(v)) {
                r.headers.append(n, v);
            }
        }
        r
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_input(
            path in ".{0,40}",
            query in "(([a-z]{1,4}|sig|sv|sr|sp|se|st|ss|srt|sip|spr|si|sdd|comp)=[-a-zA-Z0-9%:+/=,.T ]{0,30}&?){0,10}",
            auth in "((SharedKey|SharedKeyLite|Bearer|x) ?)?[-a-zA-Z0-9:+/= ]{0,40}",
            extra in proptest::collection::vec(("x-ms-[a-z_-]{1,10}|date|x-ms-date|content-length", "[ -~]{0,20}"), 0..4),
            container in proptest::option::of(".{0,10}"),
            blob in proptest::option::of(".{0,10}"),
        ) {
            let mut r = arbitrary_request(&path, &query, &auth, &extra);
            r.container = container;
            r.blob = blob;
            if let Ok(Credential::Sas(g)) = r.auth() {
                let _ = g.authorize(&need(Permission::Read, ResourceType::Object, Some("c"), Some("b")));
            }
        }

        #[test]
        fn sas_time_parser_never_panics(s in ".{0,40}") {
            let _ = parse_sas_time(&s);
        }

        #[test]
        fn culture_cmp_is_antisymmetric(a in "x-ms-[a-z0-9_'-]{0,8}", b in "x-ms-[a-z0-9_'-]{0,8}") {
            prop_assert_eq!(culture_cmp(&a, &b), culture_cmp(&b, &a).reverse());
        }
    }
}

// ---------------------------------------------------------------- Vectors from a real SDK

/// Produced by azure-storage-blob 12.31.1 (Python): `generate_*_sas` with the dev key, and its
/// `SharedKeyCredentialPolicy` on a Set Blob Metadata request (culture-aware header order,
/// Content-Length 0 dropped).
#[test]
fn python_sdk_vectors() {
    let account = "st=2026-11-28T03%3A00%3A00Z&se=2026-12-01T00%3A00%3A00Z&sp=rwlc&sv=2026-10-06&ss=b&srt=sco&sig=FeQew9UlqtaHpFOUR0rulGW3zctGSsY2xAhJ7VNoxUc%3D";
    let r = Req::new(
        Method::GET,
        "/devstoreaccount1",
        Some(&format!("comp=list&{account}")),
        &[],
    );
    let g = expect_sas(r.auth());
    assert!(g
        .authorize(&need(Permission::List, ResourceType::Service, None, None))
        .is_ok());

    let blob = "st=2026-11-28T03%3A00%3A00Z&se=2026-12-01T00%3A00%3A00Z&sp=r&sip=127.0.0.1&spr=https%2Chttp&sv=2026-10-06&sr=b&rscd=attachment%3B%20filename%3Da.txt&rsct=text/plain&sig=rNVqUQF9L9jmVZ5vCX1B80bd/1dalyXMrww6X1ayC2A%3D";
    let r = Req::new(
        Method::GET,
        "/devstoreaccount1/my%20container/dir/my%20blob%2Bx.txt",
        Some(blob),
        &[],
    );
    let g = expect_sas(r.auth());
    assert_eq!(g.content_disposition.as_deref(), Some("attachment; filename=a.txt"));
    assert_eq!(g.content_type.as_deref(), Some("text/plain"));

    let container =
        "se=2026-12-01T00%3A00%3A00Z&sp=rl&sv=2026-10-06&sr=c&sig=XHzDo0xjsk0RyQq9Qax0vtqTwMdBBZaj784cDM2sK/c%3D";
    let r = Req::new(
        Method::GET,
        "/devstoreaccount1/my%20container",
        Some(&format!("restype=container&comp=list&{container}")),
        &[],
    );
    assert!(r.auth().is_ok());

    let r = Req::new(
        Method::PUT,
        "/devstoreaccount1/my%20container/dir/b%2Bx.txt",
        Some("comp=metadata&timeout=30"),
        &[
            ("x-ms-date", DATE),
            ("x-ms-version", "2025-05-05"),
            ("x-ms-meta-a-c", "4"),
            ("x-ms-meta-ab", "3"),
            ("x-ms-meta-aa", "2"),
            ("x-ms-meta-a_b", "1"),
            ("x-ms-client-request-id", "abc"),
            ("content-length", "0"),
        ],
    )
    .with_auth("SharedKey devstoreaccount1:hgeih6ybIQxX1kkOn8KNIIG9Z2h71Ypc5VxjPD2kbWc=");
    assert_eq!(r.auth(), Ok(Credential::SharedKey));
}

/// Produced by azure-storage-file-datalake 12.26.1 (Python): a directory SAS (`sr=d`, `sdd=2`)
/// and a file SAS, with the dev key.
#[test]
fn python_datalake_sdk_vectors() {
    let dir = "se=2026-12-01T00%3A00%3A00Z&sp=rlme&sv=2026-10-06&sr=d&sdd=2&sig=DQCS1OLAS208KZ40y3qnJz4DP5V4j8POWnMu6BpIxIk%3D";
    let r = Req::new(Method::GET, "/devstoreaccount1/fs/a/b/deeper/c.txt", Some(dir), &[]);
    let g = expect_sas(r.auth());
    assert!(g
        .authorize(&need(
            Permission::Move,
            ResourceType::Object,
            Some("fs"),
            Some("a/b/deeper/c.txt")
        ))
        .is_ok());
    assert!(g
        .authorize(&need(
            Permission::Execute,
            ResourceType::Object,
            Some("fs"),
            Some("a/b")
        ))
        .is_ok());
    let e = g.authorize(&need(
        Permission::Write,
        ResourceType::Object,
        Some("fs"),
        Some("a/b/x"),
    ));
    assert_eq!(
        e.err().map(|e| e.code),
        Some(ErrorCode::AuthorizationPermissionMismatch)
    );
    let r = Req::new(
        Method::GET,
        "/devstoreaccount1/fs",
        Some(&format!("resource=filesystem&directory=a%2Fb&{dir}")),
        &[],
    );
    assert!(r.auth().is_ok());

    let file =
        "se=2026-12-01T00%3A00%3A00Z&sp=rw&sv=2026-10-06&sr=b&sig=UdPfbkqesNVwG5QEjme75ssT/HU0cnD1FFrsmg33b6I%3D";
    let r = Req::new(
        Method::PUT,
        "/devstoreaccount1/fs/a/b/c.txt",
        Some(&format!("action=append&position=0&{file}")),
        &[],
    );
    assert!(r.auth().is_ok());
}

#[test]
fn directory_sas_list_paths_without_blob() {
    let f = [
        ("sv", "2021-08-06"),
        ("sr", "d"),
        ("sdd", "1"),
        ("sp", "rl"),
        ("se", "2026-12-01"),
    ];
    let r = service_sas_request(
        "/devstoreaccount1/fs/a/c.txt",
        "",
        &f,
        "/blob/devstoreaccount1/fs/a",
        "",
    );
    let g = expect_sas(r.auth());
    assert!(g
        .authorize(&need(Permission::List, ResourceType::Container, Some("fs"), None))
        .is_ok());
    let e = g.authorize(&need(Permission::Read, ResourceType::Container, Some("fs"), None));
    assert_eq!(e.err().map(|e| e.code), Some(ErrorCode::AuthorizationFailure));
}
