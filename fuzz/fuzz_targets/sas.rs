//! Account and service SAS: arbitrary query fields (and stored access policies) into
//! `auth::authenticate` never panic and only answer 400/403. When the server reports the string it
//! signed, the target signs it with the account key and retries: the retry must get past the
//! signature, into the stored-policy, time-window, IP and protocol checks, and the resulting grant
//! is asked to authorize arbitrary operations.

#![no_main]

mod common;

use arbitrary::Arbitrary;
use http::{HeaderMap, Method};
use lazuli_frontend::auth::{
    authenticate, Credential, Permission, Protocol, RequestInfo, RequiredAccess, ResourceType, Service, StoredPolicy,
    StoredPolicyLookup,
};
use lazuli_frontend::router::{parse_target, Query};
use libfuzzer_sys::fuzz_target;
use time::OffsetDateTime;

/// A field value: a plausible one (so most inputs get far), or anything.
#[derive(Arbitrary, Debug)]
enum Value {
    Good,
    Alt,
    Any(String),
}

#[derive(Arbitrary, Debug, Default)]
struct Fields {
    sv: Option<Value>,
    ss: Option<Value>,
    srt: Option<Value>,
    sr: Option<Value>,
    sp: Option<Value>,
    st: Option<Value>,
    se: Option<Value>,
    sip: Option<Value>,
    spr: Option<Value>,
    si: Option<Value>,
    ses: Option<Value>,
    sdd: Option<Value>,
    sig: Option<Value>,
    rscc: Option<Value>,
    rsct: Option<Value>,
    skoid: Option<Value>,
    snapshot: Option<Value>,
    directory: Option<Value>,
}

fn good(name: &str, alt: bool) -> &'static str {
    match (name, alt) {
        ("sv", false) => "2025-11-05",
        ("sv", true) => "2015-04-05",
        ("ss", false) => "b",
        ("ss", true) => "bfqt",
        ("srt", false) => "sco",
        ("srt", true) => "o",
        ("sr", false) => "c",
        ("sr", true) => "d",
        ("sp", false) => "racwdl",
        ("sp", true) => "r",
        ("st", false) => "2026-01-01T00:00:00Z",
        ("st", true) => "2026-06-01",
        ("se", false) => "2027-01-01T00:00:00Z",
        ("se", true) => "2026-06-01T12:30:00.1234567+01:00",
        ("sip", false) => "127.0.0.1",
        ("sip", true) => "10.0.0.0-10.255.255.255",
        ("spr", false) => "https,http",
        ("spr", true) => "https",
        ("si", _) => "policy1",
        ("ses", _) => "scope",
        ("sdd", false) => "1",
        ("sdd", true) => "2",
        ("sig", _) => "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        ("snapshot", _) => "2026-01-01T00:00:00.0000000Z",
        ("directory", _) => "dir/sub",
        _ => "x",
    }
}

#[derive(Arbitrary, Debug)]
struct Policy {
    start: Option<i64>,
    expiry: Option<i64>,
    permissions: Option<String>,
}

struct Lookup(Option<Policy>);

fn at(secs: i64) -> Option<OffsetDateTime> {
    // Within the years the time crate represents.
    OffsetDateTime::from_unix_timestamp(secs % 253_402_300_799).ok()
}

impl StoredPolicyLookup for Lookup {
    fn lookup(&self, _container: &str, _id: &str) -> Option<StoredPolicy> {
        self.0.as_ref().map(|p| StoredPolicy {
            start: p.start.and_then(at),
            expiry: p.expiry.and_then(at),
            permissions: p.permissions.clone(),
        })
    }
}

#[derive(Arbitrary, Debug)]
struct Input {
    fields: Fields,
    /// Extra raw pairs, appended unencoded.
    extra: Vec<(String, String)>,
    container: Option<String>,
    blob: Option<String>,
    https: bool,
    client_ip: [u8; 4],
    policy: Option<Policy>,
    /// Operations to authorize with the grant.
    needs: Vec<(u8, u8, u8, bool)>,
    method: u8,
}

const METHODS: [Method; 5] = [Method::GET, Method::HEAD, Method::PUT, Method::POST, Method::DELETE];
const PERMISSIONS: [Permission; 19] = [
    Permission::Read,
    Permission::Add,
    Permission::Create,
    Permission::Write,
    Permission::Delete,
    Permission::DeleteVersion,
    Permission::List,
    Permission::Tags,
    Permission::FilterByTags,
    Permission::SetImmutability,
    Permission::Move,
    Permission::Execute,
    Permission::Ownership,
    Permission::Permissions,
    Permission::PermanentDelete,
    Permission::Process,
    Permission::Update,
    Permission::Read,
    Permission::Write,
];
const RESOURCES: [ResourceType; 3] = [ResourceType::Service, ResourceType::Container, ResourceType::Object];
const SERVICES: [Service; 4] = [Service::Blob, Service::File, Service::Queue, Service::Table];

fn build_query(input: &Input, sig_override: Option<&str>) -> String {
    let f = &input.fields;
    let named: [(&str, &Option<Value>); 18] = [
        ("sv", &f.sv),
        ("ss", &f.ss),
        ("srt", &f.srt),
        ("sr", &f.sr),
        ("sp", &f.sp),
        ("st", &f.st),
        ("se", &f.se),
        ("sip", &f.sip),
        ("spr", &f.spr),
        ("si", &f.si),
        ("ses", &f.ses),
        ("sdd", &f.sdd),
        ("sig", &f.sig),
        ("rscc", &f.rscc),
        ("rsct", &f.rsct),
        ("skoid", &f.skoid),
        ("snapshot", &f.snapshot),
        ("directory", &f.directory),
    ];
    let mut pairs: Vec<String> = Vec::new();
    for (name, value) in named {
        let value: Option<&str> = match (name, sig_override) {
            ("sig", Some(sig)) => Some(sig),
            _ => match value {
                None => None,
                Some(Value::Good) => Some(good(name, false)),
                Some(Value::Alt) => Some(good(name, true)),
                Some(Value::Any(s)) => Some(s.as_str()),
            },
        };
        if let Some(v) = value {
            pairs.push(format!("{name}={}", common::encode(v)));
        }
    }
    for (n, v) in &input.extra {
        // A second `sig` would change what the retry signs; keep the extras to other names.
        if sig_override.is_some() && n.eq_ignore_ascii_case("sig") {
            continue;
        }
        pairs.push(format!("{n}={v}"));
    }
    pairs.join("&")
}

fuzz_target!(|input: Input| {
    let method = METHODS[usize::from(input.method) % METHODS.len()].clone();
    let mut raw_path = format!("/{}", common::ACCOUNT);
    if let Some(c) = &input.container {
        raw_path.push('/');
        raw_path.push_str(&common::encode(c));
        if let Some(b) = &input.blob {
            raw_path.push('/');
            raw_path.push_str(&common::encode(b));
        }
    }
    let Ok(target) = parse_target(&raw_path, Some("127.0.0.1:10000")) else {
        return;
    };
    let headers = HeaderMap::new();
    let account = common::account();
    let lookup = Lookup(input.policy.as_ref().map(|p| Policy {
        start: p.start,
        expiry: p.expiry,
        permissions: p.permissions.clone(),
    }));
    let client_ip = std::net::IpAddr::from(input.client_ip);
    // Authenticated from the raw query alone (as embedded requests are) and with the router's
    // decoding of it (as the service does when the router accepts it): the same outcome.
    let run = |query: &str| {
        let info = RequestInfo {
            method: &method,
            raw_path: &raw_path,
            raw_query: Some(query),
            query: None,
            headers: &headers,
            account: &target.account,
            path_style: true,
            container: target.container.as_deref(),
            blob: target.blob.as_deref(),
            protocol: if input.https { Protocol::Https } else { Protocol::Http },
            client_ip,
            now: common::now(),
        };
        let raw_only = authenticate(&info, &account, &lookup);
        if let Ok(decoded) = Query::parse(Some(query)) {
            let routed = authenticate(
                &RequestInfo {
                    query: Some(&decoded),
                    ..info
                },
                &account,
                &lookup,
            );
            assert_eq!(format!("{routed:?}"), format!("{raw_only:?}"), "query {query:?}");
        }
        raw_only
    };

    let query = build_query(&input, None);
    let outcome = match run(&query) {
        Ok(credential) => Ok(credential),
        Err(error) => {
            common::assert_client_error(&error);
            const PREFIX: &str = "Signature did not match. String to sign used was ";
            match common::detail(&error, "AuthenticationErrorDetail").and_then(|d| d.strip_prefix(PREFIX)) {
                None => Err(error),
                Some(sts) => {
                    let signature = common::sign(sts);
                    let retried = run(&build_query(&input, Some(&signature)));
                    if let Err(e) = &retried {
                        common::assert_client_error(e);
                        let again =
                            common::detail(e, "AuthenticationErrorDetail").is_some_and(|d| d.starts_with(PREFIX));
                        assert!(
                            !again,
                            "signing the reported string-to-sign {sts:?} did not verify: {e:?}"
                        );
                    }
                    retried
                }
            }
        }
    };
    let Ok(credential) = outcome else { return };
    let grant = match credential {
        Credential::Sas(grant) => grant,
        // No `sig` in the query: the request is anonymous.
        Credential::Anonymous => return,
        other => panic!("a query without an Authorization header gave {other:?}"),
    };
    for (p, r, s, with_blob) in &input.needs {
        let need = RequiredAccess {
            permission: PERMISSIONS[usize::from(*p) % PERMISSIONS.len()],
            resource: RESOURCES[usize::from(*r) % RESOURCES.len()],
            container: target.container.as_deref(),
            blob: if *with_blob { target.blob.as_deref() } else { None },
            service: SERVICES[usize::from(*s) % SERVICES.len()],
        };
        if let Err(e) = grant.authorize(&need) {
            assert_eq!(e.status(), 403, "authorize answered {e:?}");
        }
    }
});
