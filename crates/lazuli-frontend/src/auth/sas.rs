//! Shared access signatures: account SAS (`ss`/`srt`) and service SAS (`sr`), verified with the
//! account keys, and the grant they give.
//!
//! The checks follow the service's order: field syntax ("Signature fields not well formed."),
//! the time window when the SAS carries it, the signature, then the stored access policy
//! (`si`) and the merged time window, then source IP and protocol. Service, resource type and
//! permission are checked per operation by [`SasGrant::authorize`].

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use lazuli_types::{AzureError, ErrorCode};
use time::OffsetDateTime;

use super::util::{self, auth_failed, authz};
use super::{
    AccountKeys, Permission, Protocol, RequestInfo, RequiredAccess, ResourceType, Service, StoredPolicyLookup,
};

const NOT_WELL_FORMED: &str = "Signature fields not well formed.";

/// Service SAS permission letters (`sp`).
const SERVICE_LETTERS: &str = "racwdxyltfmeopi";
/// Account SAS permission letters (`sp`).
const ACCOUNT_LETTERS: &str = "rwdxylacuptfi";

/// A verified SAS: what it allows, and the response header overrides it carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SasGrant {
    pub kind: SasKind,
    /// `sv`: the version the SAS was signed with.
    pub version: String,
    /// Effective permission letters (from `sp`, or from the stored policy for `si`).
    pub permissions: String,
    /// Effective start, if any (from `st` or the stored policy).
    pub start: Option<OffsetDateTime>,
    /// Effective expiry (from `se` or the stored policy).
    pub expiry: OffsetDateTime,
    pub ip: Option<IpRange>,
    pub protocol: SasProtocol,
    /// `si`: the stored access policy id, if the SAS refers to one.
    pub identifier: Option<String>,
    /// `ses`: encryption scope.
    pub encryption_scope: Option<String>,
    /// `rscc`: Cache-Control to answer with on reads.
    pub cache_control: Option<String>,
    /// `rscd`: Content-Disposition override.
    pub content_disposition: Option<String>,
    /// `rsce`: Content-Encoding override.
    pub content_encoding: Option<String>,
    /// `rscl`: Content-Language override.
    pub content_language: Option<String>,
    /// `rsct`: Content-Type override.
    pub content_type: Option<String>,
}

/// Account SAS (any container of the signed services) or service SAS (one resource).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SasKind {
    Account {
        /// `ss` letters (b f q t).
        services: String,
        /// `srt` letters (s c o).
        resource_types: String,
    },
    Service {
        resource: SignedResource,
        /// The container the SAS is bound to.
        container: String,
        /// The blob (for `b`, `bs`, `bv`) or directory (for `d`) the SAS is bound to.
        path: Option<String>,
    },
}

/// `sr`: what a service SAS was signed for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignedResource {
    /// `c`: the container and every blob in it.
    Container,
    /// `b`: one blob.
    Blob,
    /// `bs`: one blob snapshot.
    BlobSnapshot,
    /// `bv`: one blob version.
    BlobVersion,
    /// `d` (DFS): a directory and everything under it; `depth` is `sdd`.
    Directory { depth: u32 },
}

/// `spr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SasProtocol {
    /// `https,http` or absent.
    HttpsOrHttp,
    /// `https`.
    HttpsOnly,
}

/// `sip`: one address or an inclusive range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpRange {
    pub start: IpAddr,
    pub end: IpAddr,
}

impl IpRange {
    fn parse(text: &str) -> Option<IpRange> {
        let (a, b) = text.split_once('-').unwrap_or((text, text));
        let start: IpAddr = a.trim().parse().ok()?;
        let end: IpAddr = b.trim().parse().ok()?;
        if start.is_ipv4() != end.is_ipv4() {
            return None;
        }
        Some(IpRange { start, end })
    }

    /// Whether `ip` is in the range; an IPv4-mapped IPv6 client address (dual-stack listener)
    /// counts as its IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(v6)),
            v4 => v4,
        };
        match (self.start, self.end, ip) {
            (IpAddr::V4(s), IpAddr::V4(e), IpAddr::V4(x)) => v4(s) <= v4(x) && v4(x) <= v4(e),
            (IpAddr::V6(s), IpAddr::V6(e), IpAddr::V6(x)) => v6(s) <= v6(x) && v6(x) <= v6(e),
            _ => false,
        }
    }
}

fn v4(a: Ipv4Addr) -> u32 {
    u32::from(a)
}

fn v6(a: Ipv6Addr) -> u128 {
    u128::from(a)
}

/// The SAS query fields, decoded; borrowed from the query unless a name repeats.
#[derive(Default)]
struct Fields<'q> {
    sv: Option<Cow<'q, str>>,
    ss: Option<Cow<'q, str>>,
    srt: Option<Cow<'q, str>>,
    sr: Option<Cow<'q, str>>,
    sp: Option<Cow<'q, str>>,
    st: Option<Cow<'q, str>>,
    se: Option<Cow<'q, str>>,
    sip: Option<Cow<'q, str>>,
    spr: Option<Cow<'q, str>>,
    si: Option<Cow<'q, str>>,
    ses: Option<Cow<'q, str>>,
    sdd: Option<Cow<'q, str>>,
    sig: Cow<'q, str>,
    rscc: Option<Cow<'q, str>>,
    rscd: Option<Cow<'q, str>>,
    rsce: Option<Cow<'q, str>>,
    rscl: Option<Cow<'q, str>>,
    rsct: Option<Cow<'q, str>>,
    skoid: Option<Cow<'q, str>>,
    // User delegation SAS.
    sktid: Option<Cow<'q, str>>,
    skt: Option<Cow<'q, str>>,
    ske: Option<Cow<'q, str>>,
    sks: Option<Cow<'q, str>>,
    skv: Option<Cow<'q, str>>,
    saoid: Option<Cow<'q, str>>,
    suoid: Option<Cow<'q, str>>,
    scid: Option<Cow<'q, str>>,
    skdutid: Option<Cow<'q, str>>,
    sduoid: Option<Cow<'q, str>>,
    srh: Option<Cow<'q, str>>,
    srq: Option<Cow<'q, str>>,
}

impl<'q> Fields<'q> {
    /// One pass over the query. Names match in any case and a repeated name's values are
    /// joined with ',', as the service's query collection reads them.
    fn from_query(query: &'q [(Cow<'_, str>, Cow<'_, str>)]) -> Fields<'q> {
        let mut f = Fields::default();
        let mut sig: Option<Cow<'q, str>> = None;
        for (name, value) in query {
            // Every field name has 2 to 7 ASCII letters: lowercased on the stack.
            let mut lowercase = [0u8; 7];
            let Some(buffer) = lowercase.get_mut(..name.len()).filter(|_| name.len() >= 2) else {
                continue;
            };
            buffer.copy_from_slice(name.as_bytes());
            buffer.make_ascii_lowercase();
            let slot = std::str::from_utf8(buffer)
                .ok()
                .and_then(|lower| f.slot(lower, &mut sig));
            if let Some(slot) = slot {
                match slot {
                    Some(joined) => {
                        let joined = joined.to_mut();
                        joined.push(',');
                        joined.push_str(value);
                    }
                    None => *slot = Some(Cow::Borrowed(value.as_ref())),
                }
            }
        }
        // A base64 signature never holds a space: one here is a '+' sent unescaped and read
        // back as a space by form decoding.
        f.sig = match sig {
            Some(sig) if sig.contains(' ') => Cow::Owned(sig.replace(' ', "+")),
            sig => sig.unwrap_or_default(),
        };
        f
    }

    fn slot<'a>(
        &'a mut self,
        lowercase_name: &str,
        sig: &'a mut Option<Cow<'q, str>>,
    ) -> Option<&'a mut Option<Cow<'q, str>>> {
        Some(match lowercase_name {
            "sv" => &mut self.sv,
            "ss" => &mut self.ss,
            "srt" => &mut self.srt,
            "sr" => &mut self.sr,
            "sp" => &mut self.sp,
            "st" => &mut self.st,
            "se" => &mut self.se,
            "sip" => &mut self.sip,
            "spr" => &mut self.spr,
            "si" => &mut self.si,
            "ses" => &mut self.ses,
            "sdd" => &mut self.sdd,
            "sig" => sig,
            "rscc" => &mut self.rscc,
            "rscd" => &mut self.rscd,
            "rsce" => &mut self.rsce,
            "rscl" => &mut self.rscl,
            "rsct" => &mut self.rsct,
            "skoid" => &mut self.skoid,
            "sktid" => &mut self.sktid,
            "skt" => &mut self.skt,
            "ske" => &mut self.ske,
            "sks" => &mut self.sks,
            "skv" => &mut self.skv,
            "saoid" => &mut self.saoid,
            "suoid" => &mut self.suoid,
            "scid" => &mut self.scid,
            "skdutid" => &mut self.skdutid,
            "sduoid" => &mut self.sduoid,
            "srh" => &mut self.srh,
            "srq" => &mut self.srq,
            _ => return None,
        })
    }
}

fn opt<'a>(v: &'a Option<Cow<'_, str>>) -> &'a str {
    v.as_deref().unwrap_or("")
}

/// A mandatory field: present and not blank.
fn mandatory<'a>(v: &'a Option<Cow<'_, str>>, name: &str) -> Result<&'a str, AzureError> {
    match v.as_deref() {
        Some(s) if !s.trim().is_empty() => Ok(s),
        _ => Err(auth_failed(format!("{name} is mandatory. Cannot be empty"))),
    }
}

/// An optional field: absent, or not blank.
fn optional<'a>(v: &'a Option<Cow<'_, str>>, name: &str) -> Result<Option<&'a str>, AzureError> {
    match v.as_deref() {
        None => Ok(None),
        Some(s) if s.trim().is_empty() => Err(auth_failed(format!("{name} is optional but cannot be empty"))),
        Some(s) => Ok(Some(s)),
    }
}

fn time_field(v: Option<&str>) -> Result<Option<OffsetDateTime>, AzureError> {
    match v {
        None => Ok(None),
        Some(s) => util::parse_sas_time(s)
            .map(Some)
            .ok_or_else(|| auth_failed(NOT_WELL_FORMED)),
    }
}

/// Letters from `allowed`, each at most once.
fn letters(text: &str, allowed: &str) -> Result<String, AzureError> {
    let mut seen = String::with_capacity(text.len());
    for c in text.chars() {
        if !allowed.contains(c) || seen.contains(c) {
            return Err(auth_failed(NOT_WELL_FORMED));
        }
        seen.push(c);
    }
    Ok(seen)
}

fn parse_protocol(v: Option<&str>) -> Result<SasProtocol, AzureError> {
    match v {
        None => Ok(SasProtocol::HttpsOrHttp),
        Some(s) => match s.trim() {
            "https" => Ok(SasProtocol::HttpsOnly),
            "https,http" | "http,https" => Ok(SasProtocol::HttpsOrHttp),
            _ => Err(auth_failed(NOT_WELL_FORMED)),
        },
    }
}

fn parse_ip(v: Option<&str>) -> Result<Option<IpRange>, AzureError> {
    match v {
        None => Ok(None),
        Some(s) => IpRange::parse(s).map(Some).ok_or_else(|| auth_failed(NOT_WELL_FORMED)),
    }
}

/// The signature must be base64 of a 32-byte HMAC-SHA256.
fn signature_bytes(sig: &str) -> Result<Vec<u8>, AzureError> {
    if sig.trim().is_empty() {
        return Err(auth_failed("sig is mandatory. Cannot be empty"));
    }
    let bytes = util::decode_base64(sig).ok_or_else(|| auth_failed(NOT_WELL_FORMED))?;
    if bytes.len() != 32 {
        return Err(auth_failed("Signature size is invalid"));
    }
    Ok(bytes)
}

/// The service's time-window check: start (now when absent) must be before expiry, and now in
/// [start, expiry).
fn check_window(start: Option<OffsetDateTime>, expiry: OffsetDateTime, now: OffsetDateTime) -> Result<(), AzureError> {
    let effective_start = start.unwrap_or(now);
    if effective_start >= expiry {
        return Err(auth_failed(format!(
            "Signed expiry time [{}] must be after signed start time [{}]",
            util::rfc1123(expiry),
            util::rfc1123(effective_start)
        )));
    }
    if now < effective_start || now >= expiry {
        return Err(auth_failed(format!(
            "Signature not valid in the specified time frame: Start [{}] - Expiry [{}] - Current [{}]",
            util::rfc1123(effective_start),
            util::rfc1123(expiry),
            util::rfc1123(now)
        )));
    }
    Ok(())
}

fn check_ip_and_protocol(req: &RequestInfo, ip: Option<&IpRange>, protocol: SasProtocol) -> Result<(), AzureError> {
    if let Some(range) = ip {
        if !range.contains(req.client_ip) {
            return Err(AzureError::new(
                ErrorCode::AuthorizationSourceIPMismatch,
                format!(
                    "This request is not authorized to perform this operation using this source IP {}.",
                    req.client_ip
                ),
            ));
        }
    }
    if protocol == SasProtocol::HttpsOnly && req.protocol != Protocol::Https {
        return Err(authz(ErrorCode::AuthorizationProtocolMismatch));
    }
    Ok(())
}

fn signature_mismatch(string_to_sign: &str) -> AzureError {
    auth_failed(format!(
        "Signature did not match. String to sign used was {string_to_sign}"
    ))
}

pub(crate) fn authenticate(
    req: &RequestInfo,
    account: &AccountKeys,
    policies: &dyn StoredPolicyLookup,
    query: &[(Cow<'_, str>, Cow<'_, str>)],
) -> Result<SasGrant, AzureError> {
    let f = Fields::from_query(query);
    if f.skoid.is_some() {
        // A user delegation SAS is a service SAS signed with a user delegation key.
        return service_sas(req, account, policies, &f);
    }
    if f.sr.is_none() && (f.ss.is_some() || f.srt.is_some()) {
        account_sas(req, account, &f)
    } else {
        service_sas(req, account, policies, &f)
    }
}

/// Account SAS: `account\nsp\nss\nsrt\nst\nse\nsip\nspr\nsv\n` (+ `ses\n` from 2020-12-06).
fn account_sas(req: &RequestInfo, account: &AccountKeys, f: &Fields) -> Result<SasGrant, AzureError> {
    let sv = mandatory(&f.sv, "sv")?;
    if !util::is_version(sv) || !util::version_at_least(sv, "2015-04-05") {
        return Err(auth_failed(
            "sv is either not in the correct format or is not equal or later than version 2015-04-05",
        ));
    }
    let start = time_field(optional(&f.st, "st")?)?;
    let expiry = time_field(Some(mandatory(&f.se, "se")?))?.ok_or_else(|| auth_failed(NOT_WELL_FORMED))?;
    let ip = parse_ip(optional(&f.sip, "sip")?)?;
    let protocol = parse_protocol(optional(&f.spr, "spr")?)?;
    let services = letters(mandatory(&f.ss, "ss")?, "bfqt")?;
    let resource_types = letters(mandatory(&f.srt, "srt")?, "sco")?;
    let sig = signature_bytes(&f.sig)?;
    let permissions = letters(mandatory(&f.sp, "sp")?, ACCOUNT_LETTERS)?;

    check_window(start, expiry, req.now)?;

    let sts = account_string_to_sign(&account.name, f, sv);
    if !util::verify_any(&account.keys, std::slice::from_ref(&sts), &sig) {
        return Err(signature_mismatch(&sts));
    }
    check_ip_and_protocol(req, ip.as_ref(), protocol)?;
    Ok(SasGrant {
        kind: SasKind::Account {
            services,
            resource_types,
        },
        version: sv.to_string(),
        permissions,
        start,
        expiry,
        ip,
        protocol,
        identifier: None,
        encryption_scope: f.ses.as_deref().map(str::to_string),
        cache_control: None,
        content_disposition: None,
        content_encoding: None,
        content_language: None,
        content_type: None,
    })
}

fn account_string_to_sign(account: &str, f: &Fields, sv: &str) -> String {
    let mut sts = format!(
        "{account}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{sv}\n",
        opt(&f.sp),
        opt(&f.ss),
        opt(&f.srt),
        opt(&f.st),
        opt(&f.se),
        opt(&f.sip),
        opt(&f.spr),
    );
    if util::version_at_least(sv, "2020-12-06") {
        sts.push_str(opt(&f.ses));
        sts.push('\n');
    }
    sts
}

/// Service SAS (`sr` = c, b, bs, bv, d).
fn service_sas(
    req: &RequestInfo,
    account: &AccountKeys,
    policies: &dyn StoredPolicyLookup,
    f: &Fields,
) -> Result<SasGrant, AzureError> {
    let sr = mandatory(&f.sr, "sr")?;
    let sv = mandatory(&f.sv, "sv")?;
    if !util::is_version(sv) || !util::version_at_least(sv, "2012-02-12") {
        return Err(auth_failed(
            "sv is either not in the correct format or is not equal or later than version 2012-02-12",
        ));
    }
    let resource = match sr {
        "c" => SignedResource::Container,
        "b" => SignedResource::Blob,
        "bs" => SignedResource::BlobSnapshot,
        "bv" => SignedResource::BlobVersion,
        "d" => {
            let depth = mandatory(&f.sdd, "sdd")?;
            let depth: u32 = depth.trim().parse().map_err(|_| auth_failed(NOT_WELL_FORMED))?;
            if depth == 0 {
                return Err(auth_failed(NOT_WELL_FORMED));
            }
            SignedResource::Directory { depth }
        }
        _ => return Err(auth_failed(NOT_WELL_FORMED)),
    };
    let si = optional(&f.si, "si")?;
    let revocable = si.is_some();
    let start = time_field(optional(&f.st, "st")?)?;
    let expiry = if revocable {
        time_field(optional(&f.se, "se")?)?
    } else {
        time_field(Some(mandatory(&f.se, "se")?))?
    };
    let ip = parse_ip(optional(&f.sip, "sip")?)?;
    let protocol = parse_protocol(optional(&f.spr, "spr")?)?;
    let sig = signature_bytes(&f.sig)?;
    let permissions = if revocable {
        optional(&f.sp, "sp")?
    } else {
        Some(mandatory(&f.sp, "sp")?)
    };
    let permissions = permissions.map(|p| letters(p, SERVICE_LETTERS)).transpose()?;

    // The resource the SAS must have been signed for is the one the request addresses.
    let not_allowed = || auth_failed("The specified signed resource is not allowed for the this resource level");
    let container = req.container.filter(|c| !c.is_empty()).ok_or_else(not_allowed)?;
    let path: Option<String> = match resource {
        SignedResource::Container => None,
        SignedResource::Blob | SignedResource::BlobSnapshot | SignedResource::BlobVersion => {
            Some(req.blob.filter(|b| !b.is_empty()).ok_or_else(not_allowed)?.to_string())
        }
        SignedResource::Directory { depth } => {
            // List Paths names the directory in the query rather than the path.
            let query = util::parse_query(req.raw_query.unwrap_or(""), util::PlusMode::Space);
            let directory = util::query_get(&query, "directory");
            let target = req
                .blob
                .map(str::to_string)
                .or(directory)
                .filter(|p| !p.is_empty())
                .ok_or_else(not_allowed)?;
            Some(signed_directory(&target, depth).ok_or_else(not_allowed)?)
        }
    };

    if let Some(e) = expiry {
        if !revocable {
            check_window(start, e, req.now)?;
        }
    }

    let canonical = canonicalized_resource(&account.name, container, path.as_deref(), sv);
    let snapshot_field = match resource {
        SignedResource::BlobSnapshot => Some("snapshot"),
        SignedResource::BlobVersion => Some("versionid"),
        _ => None,
    };
    let snapshot = snapshot_field
        .and_then(|name| {
            let query = util::parse_query(req.raw_query.unwrap_or(""), util::PlusMode::Space);
            util::query_get(&query, name)
        })
        .unwrap_or_default();
    let (sts, keys) = if f.skoid.is_some() {
        let (sts, keys) = user_delegation_signing(req, account, f, &canonical, sv, sr, &snapshot)?;
        (sts, Cow::Owned(keys))
    } else {
        (
            service_string_to_sign(f, &canonical, sv, sr, &snapshot),
            Cow::Borrowed(account.keys.as_slice()),
        )
    };
    if !util::verify_any(&keys, std::slice::from_ref(&sts), &sig) {
        return Err(signature_mismatch(&sts));
    }

    // Merge the stored access policy: each of start, expiry and permissions comes from the SAS
    // or the policy, never both.
    let (start, expiry, permissions) = match si {
        None => (start, expiry, permissions),
        Some(id) => {
            let policy = policies
                .lookup(container, id)
                .ok_or_else(|| auth_failed("SAS identifier cannot be found for specified signed identifier"))?;
            if expiry.is_none() && policy.expiry.is_none() {
                return Err(auth_failed(
                    "Signed expiry must be specified in signature or SAS identifier",
                ));
            }
            if permissions.is_none() && policy.permissions.is_none() {
                return Err(auth_failed(
                    "Signed permission must be specified in signature or SAS identifier",
                ));
            }
            if (start.is_some() && policy.start.is_some())
                || (expiry.is_some() && policy.expiry.is_some())
                || (permissions.is_some() && policy.permissions.is_some())
            {
                return Err(auth_failed(
                    "Access policy fields can be associated with signature or SAS identifier but not both",
                ));
            }
            let policy_permissions = policy
                .permissions
                .as_deref()
                .map(|p| letters(p, SERVICE_LETTERS))
                .transpose()?;
            (
                start.or(policy.start),
                expiry.or(policy.expiry),
                permissions.or(policy_permissions),
            )
        }
    };
    let expiry = expiry.ok_or_else(|| auth_failed("Signed expiry must be specified in signature or SAS identifier"))?;
    let permissions = permissions.unwrap_or_default();
    check_window(start, expiry, req.now)?;
    check_ip_and_protocol(req, ip.as_ref(), protocol)?;

    Ok(SasGrant {
        kind: SasKind::Service {
            resource,
            container: container.to_string(),
            path,
        },
        version: sv.to_string(),
        permissions,
        start,
        expiry,
        ip,
        protocol,
        identifier: si.map(str::to_string),
        encryption_scope: f.ses.as_deref().map(str::to_string),
        cache_control: f.rscc.as_deref().map(str::to_string),
        content_disposition: f.rscd.as_deref().map(str::to_string),
        content_encoding: f.rsce.as_deref().map(str::to_string),
        content_language: f.rscl.as_deref().map(str::to_string),
        content_type: f.rsct.as_deref().map(str::to_string),
    })
}

/// The string-to-sign of a user delegation SAS and the keys that may have signed it (the
/// user delegation key derived from each account key; see `delegation.rs`).
fn user_delegation_signing(
    req: &RequestInfo,
    account: &AccountKeys,
    f: &Fields,
    canonical: &str,
    sv: &str,
    sr: &str,
    snapshot: &str,
) -> Result<(String, Vec<Vec<u8>>), AzureError> {
    if f.si.is_some() {
        return Err(auth_failed(NOT_WELL_FORMED));
    }
    let key = super::delegation::KeyFields {
        oid: mandatory(&f.skoid, "skoid")?,
        tid: mandatory(&f.sktid, "sktid")?,
        start: mandatory(&f.skt, "skt")?,
        expiry: mandatory(&f.ske, "ske")?,
        service: mandatory(&f.sks, "sks")?,
        version: mandatory(&f.skv, "skv")?,
    };
    if key.service != "b" {
        return Err(auth_failed(NOT_WELL_FORMED));
    }
    let key_start = time_field(Some(key.start))?.ok_or_else(|| auth_failed(NOT_WELL_FORMED))?;
    let key_expiry = time_field(Some(key.expiry))?.ok_or_else(|| auth_failed(NOT_WELL_FORMED))?;
    if req.now < key_start || req.now >= key_expiry {
        return Err(auth_failed(format!(
            "The user delegation key is not valid at this time: Start [{}] - Expiry [{}] - Current [{}]",
            util::rfc1123(key_start),
            util::rfc1123(key_expiry),
            util::rfc1123(req.now)
        )));
    }
    let keys = account
        .keys
        .iter()
        .map(|k| super::delegation::derive_key(k, &key))
        .collect();
    let ud = super::delegation::UdFields {
        key,
        saoid: opt(&f.saoid),
        suoid: opt(&f.suoid),
        scid: opt(&f.scid),
        skdutid: opt(&f.skdutid),
        sduoid: opt(&f.sduoid),
        srh: opt(&f.srh),
        srq: opt(&f.srq),
    };
    let sts = super::delegation::string_to_sign(
        opt(&f.sp),
        opt(&f.st),
        opt(&f.se),
        canonical,
        &ud,
        opt(&f.sip),
        opt(&f.spr),
        sv,
        sr,
        snapshot,
        opt(&f.ses),
        [opt(&f.rscc), opt(&f.rscd), opt(&f.rsce), opt(&f.rscl), opt(&f.rsct)],
    );
    Ok((sts, keys))
}

/// The first `depth` segments of `path`, or None when it has fewer.
fn signed_directory(path: &str, depth: u32) -> Option<String> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let depth = usize::try_from(depth).ok()?;
    if segments.len() < depth || segments.iter().take(depth).any(|s| s.is_empty()) {
        return None;
    }
    Some(segments[..depth].join("/"))
}

/// `/blob/{account}/{container}[/{path}]` (no `/blob` prefix before 2015-02-21).
fn canonicalized_resource(account: &str, container: &str, path: Option<&str>, sv: &str) -> String {
    let length = "/blob//".len() + account.len() + container.len() + path.map_or(0, |p| 1 + p.len());
    let mut out = String::with_capacity(length);
    if util::version_at_least(sv, "2015-02-21") {
        out.push_str("/blob");
    }
    out.push('/');
    out.push_str(account);
    out.push('/');
    out.push_str(container);
    if let Some(p) = path {
        out.push('/');
        out.push_str(p);
    }
    out
}

/// The service SAS string-to-sign for version `sv`:
/// - `sp st se canonicalizedResource si`, then `sip spr` (2015-04-05+), then `sv`,
/// - then `sr snapshotTime|versionId` (2018-11-09+), then `ses` (2020-12-06+),
/// - then `rscc rscd rsce rscl rsct` (2013-08-15+), all joined by '\n'.
fn service_string_to_sign(f: &Fields, canonical: &str, sv: &str, sr: &str, snapshot: &str) -> String {
    // Room for every field of the newest version, so the list never grows.
    let mut parts: Vec<&str> = Vec::with_capacity(16);
    parts.extend([opt(&f.sp), opt(&f.st), opt(&f.se), canonical, opt(&f.si)]);
    if util::version_at_least(sv, "2015-04-05") {
        parts.push(opt(&f.sip));
        parts.push(opt(&f.spr));
    }
    parts.push(sv);
    if util::version_at_least(sv, "2018-11-09") {
        parts.push(sr);
        parts.push(snapshot);
    }
    if util::version_at_least(sv, "2020-12-06") {
        parts.push(opt(&f.ses));
    }
    if util::version_at_least(sv, "2013-08-15") {
        parts.extend([opt(&f.rscc), opt(&f.rscd), opt(&f.rsce), opt(&f.rscl), opt(&f.rsct)]);
    }
    parts.join("\n")
}

fn permission_letter(p: Permission, account: bool) -> &'static str {
    match p {
        Permission::Read => "r",
        Permission::Add => "a",
        Permission::Create => "c",
        Permission::Write => "w",
        Permission::Delete => "d",
        Permission::DeleteVersion => "x",
        Permission::List => "l",
        Permission::Tags => "t",
        Permission::FilterByTags => "f",
        Permission::SetImmutability => "i",
        Permission::Move if account => "wd",
        Permission::Move => "m",
        Permission::Execute if account => "r",
        Permission::Execute => "e",
        Permission::Ownership if account => "w",
        Permission::Ownership => "o",
        Permission::Permissions if account => "w",
        Permission::Permissions => "p",
        Permission::PermanentDelete => "y",
        Permission::Process => "p",
        Permission::Update => "u",
    }
}

/// Whether the letters grant `p`: every letter of its requirement, or `w` for Create and Add
/// (a write permission may create a blob or append a block).
fn grants(letters: &str, p: Permission, account: bool) -> bool {
    let needed = permission_letter(p, account);
    if needed.chars().all(|c| letters.contains(c)) {
        return true;
    }
    matches!(p, Permission::Create | Permission::Add) && letters.contains('w')
}

fn service_letter(s: Service) -> char {
    match s {
        Service::Blob => 'b',
        Service::File => 'f',
        Service::Queue => 'q',
        Service::Table => 't',
    }
}

fn resource_type_letter(r: ResourceType) -> char {
    match r {
        ResourceType::Service => 's',
        ResourceType::Container => 'c',
        ResourceType::Object => 'o',
    }
}

impl SasGrant {
    /// Whether this SAS allows an operation. Errors are the service's 403 codes:
    /// `AuthorizationServiceMismatch`, `AuthorizationResourceTypeMismatch`,
    /// `AuthorizationPermissionMismatch`, and `AuthorizationFailure` for a resource outside a
    /// service SAS's scope (which the signature already prevents for the request's own target).
    pub fn authorize(&self, need: &RequiredAccess) -> Result<(), AzureError> {
        match &self.kind {
            SasKind::Account {
                services,
                resource_types,
            } => {
                if !services.contains(service_letter(need.service)) {
                    return Err(authz(ErrorCode::AuthorizationServiceMismatch));
                }
                if !resource_types.contains(resource_type_letter(need.resource)) {
                    return Err(authz(ErrorCode::AuthorizationResourceTypeMismatch));
                }
                if !grants(&self.permissions, need.permission, true) {
                    return Err(authz(ErrorCode::AuthorizationPermissionMismatch));
                }
                Ok(())
            }
            SasKind::Service {
                resource,
                container,
                path,
            } => {
                // A service SAS is a Blob-service credential (DFS included).
                if need.service != Service::Blob {
                    return Err(authz(ErrorCode::AuthorizationServiceMismatch));
                }
                if need.resource == ResourceType::Service {
                    return Err(authz(ErrorCode::AuthorizationResourceTypeMismatch));
                }
                if need.container != Some(container.as_str()) {
                    return Err(authz(ErrorCode::AuthorizationFailure));
                }
                match resource {
                    SignedResource::Container => {}
                    SignedResource::Blob | SignedResource::BlobSnapshot | SignedResource::BlobVersion => {
                        // A blob SAS cannot act on its container (e.g. list blobs).
                        if need.resource != ResourceType::Object {
                            return Err(authz(ErrorCode::AuthorizationResourceTypeMismatch));
                        }
                        if need.blob != path.as_deref() {
                            return Err(authz(ErrorCode::AuthorizationFailure));
                        }
                    }
                    SignedResource::Directory { .. } => {
                        let dir = path.as_deref().unwrap_or("");
                        let target = need.blob.unwrap_or("").trim_matches('/');
                        // List Paths names no path: authenticate() already bound its `directory`
                        // parameter to the signed directory, so a listing is in scope.
                        let listing = need.blob.is_none()
                            && need.resource == ResourceType::Container
                            && need.permission == Permission::List;
                        let inside = listing
                            || target == dir
                            || target.strip_prefix(dir).is_some_and(|rest| rest.starts_with('/'));
                        if !inside {
                            return Err(authz(ErrorCode::AuthorizationFailure));
                        }
                    }
                }
                if !grants(&self.permissions, need.permission, false) {
                    return Err(authz(ErrorCode::AuthorizationPermissionMismatch));
                }
                Ok(())
            }
        }
    }
}
