//! Authentication and SAS authorization: Shared Key, Shared Key Lite, account SAS and
//! service SAS, as pure functions over what the request handler already parsed. No I/O.
//!
//! # API (what the request handler calls)
//!
//! ```text
//! authenticate(&RequestInfo, &AccountKeys, &dyn StoredPolicyLookup) -> Result<Credential, AzureError>
//!     Credential::SharedKey      the request was signed with an account key: full access
//!     Credential::Sas(SasGrant)  a SAS whose signature, time window, IP and protocol were checked;
//!                                call grant.authorize(&RequiredAccess) for each operation
//!     Credential::Anonymous      no Authorization header and no `sig`: only public reads
//! SasGrant::authorize(&RequiredAccess) -> Result<(), AzureError>
//!     service (`ss`), resource type (`srt` / signed resource scope) and permission checks
//! ```
//!
//! Order of precedence, as in the service: an `Authorization` header wins over a `sig` query
//! parameter (a request carrying both is authenticated by the header only).
//!
//! `RequestInfo::raw_path` is the path exactly as sent; for path-style (emulator) URLs it starts
//! with the account segment, which is why the canonicalized resource then names the account
//! twice (`/devstoreaccount1/devstoreaccount1/c/b`). `path_style` is informational: the raw path
//! already carries everything the signature covers.
//!
//! Service SAS scope is enforced by the signature itself, like the service does: the
//! canonicalized resource in the string-to-sign is built from the container and blob *of the
//! request*, so a container SAS presented for another container (or a blob SAS for another blob)
//! fails with 403 `AuthenticationFailed` "Signature did not match". `SasGrant::authorize` checks
//! the scope again against `RequiredAccess` as defence in depth (403 `AuthorizationFailure`).
//!
//! For a directory SAS (`sr=d`, DFS) the signed directory is the first `sdd` segments of the
//! request's blob path; for List Paths (no blob in the URL) it is taken from the `directory`
//! query parameter; `SasGrant::authorize` accepts a List on the container with no blob for it
//! (or the directory passed as `RequiredAccess::blob`).
//!
//! # Errors (as the service answers them)
//!
//! - 400 `InvalidAuthenticationInfo`: unknown scheme (`Basic ...`), `SharedKey` without exactly
//!   `account:signature`, a signature that is not base64, two Authorization headers.
//! - 403 `AuthenticationFailed` with an `AuthenticationErrorDetail`: missing/bad/too old
//!   (> 15 min) `x-ms-date`/`Date`, another account in the header, MAC mismatch (detail quotes
//!   the string-to-sign), `Bearer` (not supported yet), malformed SAS fields ("Signature fields
//!   not well formed.", "sp is mandatory. Cannot be empty", ...), SAS time window, SAS signature
//!   mismatch ("Signature did not match. String to sign used was ..."), stored policy errors,
//!   user delegation SAS (not supported yet).
//! - 403 `AuthorizationSourceIPMismatch` / `AuthorizationProtocolMismatch` from `authenticate`;
//!   403 `AuthorizationServiceMismatch` / `AuthorizationResourceTypeMismatch` /
//!   `AuthorizationPermissionMismatch` / `AuthorizationFailure` from `SasGrant::authorize`.

pub mod delegation;
mod sas;
mod shared_key;
mod util;

#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::net::IpAddr;

use lazuli_types::AzureError;
use time::OffsetDateTime;

pub use sas::{IpRange, SasGrant, SasKind, SasProtocol, SignedResource};

/// An account's name and its decoded keys (key1, key2). A signature made with any key is valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountKeys {
    pub name: String,
    pub keys: Vec<Vec<u8>>,
}

/// The protocol the request arrived over (for `spr=https`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Http,
    Https,
}

/// What the handler knows about the request.
#[derive(Clone, Debug)]
pub struct RequestInfo<'a> {
    pub method: &'a http::Method,
    /// As sent, percent-encoded, e.g. "/devstoreaccount1/c/b%20x".
    pub raw_path: &'a str,
    /// As sent, without the '?'.
    pub raw_query: Option<&'a str>,
    /// `raw_query` as the router decoded it (escapes decoded, '+' kept, strict UTF-8), when
    /// the request came through the router.
    pub query: Option<&'a crate::router::Query>,
    pub headers: &'a http::HeaderMap,
    /// The resolved account name.
    pub account: &'a str,
    /// The account is the first path segment (emulator style); false for `{account}.blob.host`.
    pub path_style: bool,
    /// Decoded container (file system) name.
    pub container: Option<&'a str>,
    /// Decoded blob (path) name.
    pub blob: Option<&'a str>,
    pub protocol: Protocol,
    pub client_ip: IpAddr,
    pub now: OffsetDateTime,
}

/// The outcome of a successful authentication.
// One per request and short-lived, so the size of the `Sas` variant does not matter; keeping
// the grant unboxed keeps the handler's pattern matching plain.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// The account key holder: full access.
    SharedKey,
    /// An account or service SAS: signature verified, time, IP and protocol checked.
    Sas(SasGrant),
    /// No credentials: the handler allows only public-container reads.
    Anonymous,
    /// A bearer token of the configured test tokens (`delegation.rs`): the user's object id.
    Bearer(String),
}

/// A container's stored access policy (Set Container ACL), looked up for `si=`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoredPolicy {
    pub start: Option<OffsetDateTime>,
    pub expiry: Option<OffsetDateTime>,
    pub permissions: Option<String>,
}

/// Looks up a container's stored access policy by its id.
pub trait StoredPolicyLookup {
    fn lookup(&self, container: &str, id: &str) -> Option<StoredPolicy>;
}

/// A lookup that knows no policies (for callers and tests without containers).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoStoredPolicies;

impl StoredPolicyLookup for NoStoredPolicies {
    fn lookup(&self, _container: &str, _id: &str) -> Option<StoredPolicy> {
        None
    }
}

/// The resource level an operation acts on (account SAS `srt` letters s, c, o).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResourceType {
    Service,
    Container,
    Object,
}

/// The storage service an operation belongs to (account SAS `ss` letters). DFS uses `Blob`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    Blob,
    File,
    Queue,
    Table,
}

/// A SAS permission an operation needs. Letters (service SAS): r a c w d x y l t f m e o p i.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    Read,
    /// Satisfied by `a` or `w` (Append Block accepts either).
    Add,
    /// Satisfied by `c` or `w` (`w` may create or overwrite, `c` only create).
    Create,
    Write,
    Delete,
    DeleteVersion,
    List,
    Tags,
    FilterByTags,
    SetImmutability,
    /// DFS rename (`m`); an account SAS has no `m`: it needs `w` and `d`.
    Move,
    /// DFS get status / ACL (`e`); an account SAS needs `r`.
    Execute,
    /// DFS set owner (`o`); an account SAS needs `w`.
    Ownership,
    /// DFS set ACL/permissions (`p` in a service SAS); an account SAS needs `w`, because its `p`
    /// means Process (queues).
    Permissions,
    PermanentDelete,
    /// Account SAS `p` (queue messages).
    Process,
    /// Account SAS `u` (queue messages, table entities).
    Update,
}

/// What one operation needs; the handler builds one per operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequiredAccess<'a> {
    pub permission: Permission,
    pub resource: ResourceType,
    pub container: Option<&'a str>,
    pub blob: Option<&'a str>,
    pub service: Service,
}

/// Verifies the request's credentials. `policies` looks up a container's stored access policy
/// by id for `si=`.
pub fn authenticate(
    req: &RequestInfo,
    account: &AccountKeys,
    policies: &dyn StoredPolicyLookup,
) -> Result<Credential, AzureError> {
    let mut auth_headers = req.headers.get_all(http::header::AUTHORIZATION).iter();
    if let Some(value) = auth_headers.next() {
        if auth_headers.next().is_some() {
            return Err(util::invalid_auth_info("Duplicate authorization headers found"));
        }
        if let Some(token) = value.to_str().ok().and_then(|v| v.trim().strip_prefix("Bearer ")) {
            return match delegation::bearer_tokens().get(token.trim()) {
                Some(oid) => Ok(Credential::Bearer(oid.clone())),
                None => Err(util::auth_failed("The bearer token is not valid.")),
            };
        }
        shared_key::authenticate(req, account, value)?;
        return Ok(Credential::SharedKey);
    }
    let raw_query = req.raw_query.unwrap_or("");
    // Authentication reads '+' as a space, the router keeps it; without one the router's
    // decoding (which succeeded, so is valid UTF-8) is the one this would make: borrow it
    // rather than decode a SAS's escaped signature and times a second time.
    let query: util::Query<'_> = match req.query {
        Some(decoded) if !raw_query.contains('+') => decoded
            .pairs()
            .map(|(name, value)| (Cow::Borrowed(name), Cow::Borrowed(value)))
            .collect(),
        _ => util::parse_query(raw_query, util::PlusMode::Space),
    };
    if query.iter().any(|(name, _)| name.eq_ignore_ascii_case("sig")) {
        return sas::authenticate(req, account, policies, &query).map(Credential::Sas);
    }
    Ok(Credential::Anonymous)
}
