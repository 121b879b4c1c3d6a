//! Turns (method, path, query, headers) into an [`Operation`]: a pure function, so it is
//! unit-tested and fuzzed without a server. Blob and DFS requests share one port; they are
//! told apart by `restype`/`comp` (Blob) versus `resource`/`action` and PATCH (DFS).

use std::borrow::Cow;

use http::{HeaderMap, Method};
use lazuli_types::{AzureError, ErrorCode};

use crate::http_util::{percent_decode_utf8, PlusMode};

/// Every operation the router knows. `Unsupported` operations are recognised (so they are
/// authenticated and answered with a clear error) but not implemented yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    // Service
    ListContainers,
    GetServiceProperties,
    SetServiceProperties,
    GetAccountInfo,
    Preflight,
    // Container
    CreateContainer,
    DeleteContainer,
    GetContainerProperties,
    GetContainerMetadata,
    SetContainerMetadata,
    GetContainerAcl,
    SetContainerAcl,
    ListBlobs,
    // Blob
    PutBlob,
    PutBlock,
    PutBlockList,
    GetBlockList,
    GetBlob,
    GetBlobProperties,
    SetBlobProperties,
    GetBlobMetadata,
    SetBlobMetadata,
    DeleteBlob,
    // Blob index tags
    GetBlobTags,
    SetBlobTags,
    FindBlobsByTags,
    SetBlobTier,
    // Copies
    CopyBlob,
    CopyBlobFromUrl,
    PutBlobFromUrl,
    PutBlockFromUrl,
    AppendBlockFromUrl,
    PutPageFromUrl,
    IncrementalCopyBlob,
    AbortCopyBlob,
    BlobBatch,
    GetUserDelegationKey,
    // Leases, snapshots, soft delete
    LeaseBlob,
    LeaseContainer,
    SnapshotBlob,
    UndeleteBlob,
    RestoreContainer,
    // Append and page blobs
    PutAppendBlob,
    AppendBlock,
    SealAppendBlob,
    PutPageBlob,
    PutPage,
    GetPageRanges,
    // DFS (ADLS Gen2) on HNS accounts: `handlers/dfs.rs`.
    DfsListFilesystems,
    DfsCreateFilesystem,
    DfsDeleteFilesystem,
    DfsGetFilesystemProperties,
    DfsSetFilesystemProperties,
    DfsListPaths,
    DfsCreatePath,
    DfsRenamePath,
    DfsDeletePath,
    DfsGetPathProperties,
    DfsSetPathProperties,
    DfsSetAccessControl,
    DfsSetAccessControlRecursive,
    DfsLeasePath,
    SetBlobExpiry,
    DfsAppend,
    DfsFlush,
    /// A real operation of the service that Lazuli does not implement yet.
    Unsupported(&'static str),
}

impl Operation {
    pub fn name(self) -> &'static str {
        match self {
            Operation::Unsupported(name) => name,
            other => other.static_name(),
        }
    }

    fn static_name(self) -> &'static str {
        match self {
            Operation::ListContainers => "ListContainers",
            Operation::GetServiceProperties => "GetServiceProperties",
            Operation::SetServiceProperties => "SetServiceProperties",
            Operation::GetAccountInfo => "GetAccountInfo",
            Operation::Preflight => "Preflight",
            Operation::CreateContainer => "CreateContainer",
            Operation::DeleteContainer => "DeleteContainer",
            Operation::GetContainerProperties => "GetContainerProperties",
            Operation::GetContainerMetadata => "GetContainerMetadata",
            Operation::SetContainerMetadata => "SetContainerMetadata",
            Operation::GetContainerAcl => "GetContainerAcl",
            Operation::SetContainerAcl => "SetContainerAcl",
            Operation::ListBlobs => "ListBlobs",
            Operation::PutBlob => "PutBlob",
            Operation::PutBlock => "PutBlock",
            Operation::PutBlockList => "PutBlockList",
            Operation::GetBlockList => "GetBlockList",
            Operation::GetBlob => "GetBlob",
            Operation::GetBlobProperties => "GetBlobProperties",
            Operation::SetBlobProperties => "SetBlobProperties",
            Operation::GetBlobMetadata => "GetBlobMetadata",
            Operation::SetBlobMetadata => "SetBlobMetadata",
            Operation::DeleteBlob => "DeleteBlob",
            Operation::GetBlobTags => "GetBlobTags",
            Operation::SetBlobTags => "SetBlobTags",
            Operation::FindBlobsByTags => "FindBlobsByTags",
            Operation::SetBlobTier => "SetBlobTier",
            Operation::CopyBlob => "CopyBlob",
            Operation::CopyBlobFromUrl => "CopyBlobFromUrl",
            Operation::PutBlobFromUrl => "PutBlobFromUrl",
            Operation::PutBlockFromUrl => "PutBlockFromUrl",
            Operation::AppendBlockFromUrl => "AppendBlockFromUrl",
            Operation::PutPageFromUrl => "PutPageFromUrl",
            Operation::IncrementalCopyBlob => "IncrementalCopyBlob",
            Operation::AbortCopyBlob => "AbortCopyBlob",
            Operation::BlobBatch => "BlobBatch",
            Operation::GetUserDelegationKey => "GetUserDelegationKey",
            Operation::LeaseBlob => "LeaseBlob",
            Operation::LeaseContainer => "LeaseContainer",
            Operation::SnapshotBlob => "SnapshotBlob",
            Operation::UndeleteBlob => "UndeleteBlob",
            Operation::RestoreContainer => "RestoreContainer",
            Operation::PutAppendBlob => "PutAppendBlob",
            Operation::AppendBlock => "AppendBlock",
            Operation::SealAppendBlob => "SealAppendBlob",
            Operation::PutPageBlob => "PutPageBlob",
            Operation::PutPage => "PutPage",
            Operation::GetPageRanges => "GetPageRanges",
            Operation::DfsListFilesystems => "DfsListFilesystems",
            Operation::DfsCreateFilesystem => "DfsCreateFilesystem",
            Operation::DfsDeleteFilesystem => "DfsDeleteFilesystem",
            Operation::DfsGetFilesystemProperties => "DfsGetFilesystemProperties",
            Operation::DfsSetFilesystemProperties => "DfsSetFilesystemProperties",
            Operation::DfsListPaths => "DfsListPaths",
            Operation::DfsCreatePath => "DfsCreatePath",
            Operation::DfsRenamePath => "DfsRenamePath",
            Operation::DfsDeletePath => "DfsDeletePath",
            Operation::DfsGetPathProperties => "DfsGetPathProperties",
            Operation::DfsSetPathProperties => "DfsSetPathProperties",
            Operation::DfsSetAccessControl => "DfsSetAccessControl",
            Operation::DfsSetAccessControlRecursive => "DfsSetAccessControlRecursive",
            Operation::DfsLeasePath => "DfsLeasePath",
            Operation::SetBlobExpiry => "SetBlobExpiry",
            Operation::DfsAppend => "DfsAppend",
            Operation::DfsFlush => "DfsFlush",
            Operation::Unsupported(name) => name,
        }
    }

    /// True for operations answered in the DFS wire format (JSON errors).
    pub fn is_dfs(self) -> bool {
        self.name().starts_with("Dfs")
    }

    /// The DFS operations (also in [`Operation::IMPLEMENTED`]).
    pub const DFS: [Operation; 16] = [
        Operation::DfsListFilesystems,
        Operation::DfsCreateFilesystem,
        Operation::DfsDeleteFilesystem,
        Operation::DfsGetFilesystemProperties,
        Operation::DfsSetFilesystemProperties,
        Operation::DfsListPaths,
        Operation::DfsCreatePath,
        Operation::DfsRenamePath,
        Operation::DfsDeletePath,
        Operation::DfsGetPathProperties,
        Operation::DfsSetPathProperties,
        Operation::DfsSetAccessControl,
        Operation::DfsSetAccessControlRecursive,
        Operation::DfsLeasePath,
        Operation::DfsAppend,
        Operation::DfsFlush,
    ];

    /// Every implemented operation, for tests that walk all routes.
    pub const IMPLEMENTED: [Operation; 65] = [
        Operation::ListContainers,
        Operation::GetServiceProperties,
        Operation::SetServiceProperties,
        Operation::GetAccountInfo,
        Operation::Preflight,
        Operation::CreateContainer,
        Operation::DeleteContainer,
        Operation::GetContainerProperties,
        Operation::GetContainerMetadata,
        Operation::SetContainerMetadata,
        Operation::GetContainerAcl,
        Operation::SetContainerAcl,
        Operation::ListBlobs,
        Operation::PutBlob,
        Operation::PutBlock,
        Operation::PutBlockList,
        Operation::GetBlockList,
        Operation::GetBlob,
        Operation::GetBlobProperties,
        Operation::SetBlobProperties,
        Operation::GetBlobMetadata,
        Operation::SetBlobMetadata,
        Operation::DeleteBlob,
        Operation::PutAppendBlob,
        Operation::AppendBlock,
        Operation::SealAppendBlob,
        Operation::PutPageBlob,
        Operation::PutPage,
        Operation::GetPageRanges,
        Operation::GetBlobTags,
        Operation::SetBlobTags,
        Operation::FindBlobsByTags,
        Operation::SetBlobTier,
        Operation::CopyBlob,
        Operation::CopyBlobFromUrl,
        Operation::PutBlobFromUrl,
        Operation::PutBlockFromUrl,
        Operation::AppendBlockFromUrl,
        Operation::PutPageFromUrl,
        Operation::IncrementalCopyBlob,
        Operation::AbortCopyBlob,
        Operation::BlobBatch,
        Operation::GetUserDelegationKey,
        Operation::LeaseBlob,
        Operation::LeaseContainer,
        Operation::SnapshotBlob,
        Operation::UndeleteBlob,
        Operation::RestoreContainer,
        Operation::SetBlobExpiry,
        Operation::DfsListFilesystems,
        Operation::DfsCreateFilesystem,
        Operation::DfsDeleteFilesystem,
        Operation::DfsGetFilesystemProperties,
        Operation::DfsSetFilesystemProperties,
        Operation::DfsListPaths,
        Operation::DfsCreatePath,
        Operation::DfsRenamePath,
        Operation::DfsDeletePath,
        Operation::DfsGetPathProperties,
        Operation::DfsSetPathProperties,
        Operation::DfsSetAccessControl,
        Operation::DfsSetAccessControlRecursive,
        Operation::DfsLeasePath,
        Operation::DfsAppend,
        Operation::DfsFlush,
    ];
}

/// The resource a request addresses, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub account: String,
    pub container: Option<String>,
    pub blob: Option<String>,
    /// The account was the first path segment (emulator style) rather than the host name.
    pub path_style: bool,
}

/// Decoded query parameters, in request order. Names are case-sensitive as in the service,
/// except that lookups of the routing keys accept any case.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Query {
    /// Every decoded name and value, one after the other: one allocation for the whole query
    /// instead of two per parameter (a SAS alone has eight or more).
    text: String,
    /// Per parameter: where its name ends and its value starts in `text`, and where the value
    /// ends (the name starts where the previous value ended).
    bounds: Vec<(usize, usize)>,
}

impl Query {
    pub fn parse(raw: Option<&str>) -> Result<Query, AzureError> {
        let raw = raw.unwrap_or("");
        let mut query = Query {
            text: String::with_capacity(raw.len()),
            bounds: Vec::with_capacity(raw.bytes().filter(|&b| b == b'&').count() + 1),
        };
        for piece in raw.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
            query.text.push_str(&decode_component(name)?);
            let name_end = query.text.len();
            query.text.push_str(&decode_component(value)?);
            query.bounds.push((name_end, query.text.len()));
        }
        Ok(query)
    }

    /// The (name, value) pairs in request order.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        let mut start = 0;
        self.bounds.iter().map(move |&(name_end, value_end)| {
            let pair = (&self.text[start..name_end], &self.text[name_end..value_end]);
            start = value_end;
            pair
        })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v)
    }

    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

fn decode_component(component: &str) -> Result<Cow<'_, str>, AzureError> {
    percent_decode_utf8(component, PlusMode::Literal)
        .ok_or_else(|| AzureError::new(ErrorCode::InvalidUri, "The request URI is invalid."))
}

/// Host names that mean "the account is in the path" (the emulator convention that the SDKs
/// use for IP addresses and localhost).
fn is_path_style_host(host: &str) -> bool {
    let host = host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    host.parse::<std::net::IpAddr>().is_ok()
        || host.starts_with('[')
        || host.eq_ignore_ascii_case("localhost")
        || host.eq_ignore_ascii_case("host.docker.internal")
        || !host.contains('.')
}

fn decode_segment(segment: &str) -> Result<String, AzureError> {
    decode_component(segment).map(Cow::into_owned)
}

/// Splits the path into account, container and blob. Host-style URLs
/// (`account.blob.example`) carry the account in the host.
pub fn parse_target(raw_path: &str, host: Option<&str>) -> Result<Target, AzureError> {
    let path = raw_path.strip_prefix('/').unwrap_or(raw_path);
    let host_account = host
        .filter(|h| !is_path_style_host(h))
        .and_then(|h| h.split('.').next())
        .map(str::to_string);
    let (account, rest, path_style) = match host_account {
        Some(account) => (account, path, false),
        None => {
            let (account, rest) = path.split_once('/').unwrap_or((path, ""));
            (decode_segment(account)?, rest, true)
        }
    };
    let (container, blob) = match rest.split_once('/') {
        Some((container, blob)) => (container, blob),
        None => (rest, ""),
    };
    let container = (!container.is_empty()).then(|| decode_segment(container)).transpose()?;
    let blob = (!blob.is_empty())
        .then(|| decode_segment(blob).map(|name| resolve_dot_segments(&name)))
        .transpose()?
        .filter(|name| !name.is_empty());
    Ok(Target {
        account,
        container,
        blob,
        path_style,
    })
}

/// Resolves `.` and `..` segments of a blob name the way the service's URL handling does
/// (`a/../b` is `b`, `./c` is `c`, also when the dots or slashes were percent-encoded), never
/// climbing above the container. Names without such segments are returned unchanged.
fn resolve_dot_segments(name: &str) -> String {
    if !name.split('/').any(|segment| segment == "." || segment == "..") {
        return name.to_string();
    }
    let mut kept: Vec<&str> = Vec::new();
    for segment in name.split('/') {
        match segment {
            "." => {}
            ".." => {
                kept.pop();
            }
            other => kept.push(other),
        }
    }
    kept.join("/")
}

fn unknown_comp(comp: &str) -> AzureError {
    AzureError::query("comp", comp, "Unknown value for the comp query parameter.")
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Classifies a request. `target` must come from [`parse_target`].
pub fn classify(method: &Method, target: &Target, query: &Query, headers: &HeaderMap) -> Result<Operation, AzureError> {
    use Operation::*;
    if method == Method::OPTIONS {
        return Ok(Preflight);
    }
    let restype = query.get("restype");
    let comp = query.get("comp");
    let resource = query.get("resource");
    if restype == Some("account") && comp == Some("properties") && matches!(*method, Method::GET | Method::HEAD) {
        return Ok(GetAccountInfo);
    }
    if method == Method::PATCH
        || query.has("action")
        || resource.is_some_and(|r| r != "account" || target.container.is_none())
    {
        return Ok(classify_dfs(method, target, query, headers));
    }
    if method == Method::DELETE && target.blob.is_some() && query.has("recursive") && comp.is_none() {
        return Ok(DfsDeletePath);
    }
    match (&target.container, &target.blob) {
        (None, _) => match (method.as_str(), restype, comp) {
            ("GET", _, Some("list")) => Ok(ListContainers),
            ("GET" | "HEAD", Some("service"), Some("properties")) => Ok(GetServiceProperties),
            ("PUT", Some("service"), Some("properties")) => Ok(SetServiceProperties),
            ("GET", Some("service"), Some("stats")) => Ok(Unsupported("GetServiceStats")),
            ("POST", Some("service"), Some("userdelegationkey")) => Ok(GetUserDelegationKey),
            ("GET", _, Some("blobs")) => Ok(FindBlobsByTags),
            ("POST", _, Some("batch")) => Ok(BlobBatch),
            (_, _, Some(other))
                if !matches!(
                    other,
                    "list" | "properties" | "stats" | "userdelegationkey" | "blobs" | "batch"
                ) =>
            {
                Err(unknown_comp(other))
            }
            ("GET" | "HEAD" | "PUT" | "POST" | "DELETE", _, _) => Err(AzureError::new(
                ErrorCode::InvalidQueryParameterValue,
                "Value for one of the query parameters specified in the request URI is invalid.",
            )
            .with_detail("QueryParameterName", "comp")),
            _ => Err(unsupported_verb()),
        },
        (Some(_), None) => {
            if restype != Some("container") {
                // A container URL without restype=container addresses a blob in $root.
                return Err(AzureError::new(
                    ErrorCode::InvalidQueryParameterValue,
                    "Value for one of the query parameters specified in the request URI is invalid.",
                )
                .with_detail("QueryParameterName", "restype")
                .with_detail("QueryParameterValue", restype.unwrap_or("")));
            }
            match (method.as_str(), comp) {
                ("PUT", None) => Ok(CreateContainer),
                ("DELETE", None) => Ok(DeleteContainer),
                ("GET" | "HEAD", None) => Ok(GetContainerProperties),
                ("GET" | "HEAD", Some("metadata")) => Ok(GetContainerMetadata),
                ("PUT", Some("metadata")) => Ok(SetContainerMetadata),
                ("GET" | "HEAD", Some("acl")) => Ok(GetContainerAcl),
                ("PUT", Some("acl")) => Ok(SetContainerAcl),
                ("GET", Some("list")) => Ok(ListBlobs),
                ("PUT", Some("lease")) => Ok(LeaseContainer),
                ("PUT", Some("undelete")) => Ok(RestoreContainer),
                ("PUT", Some("rename")) => Ok(Unsupported("RenameContainer")),
                ("GET", Some("blobs")) => Ok(FindBlobsByTags),
                ("POST", Some("batch")) => Ok(BlobBatch),
                (_, Some(other))
                    if !matches!(
                        other,
                        "metadata" | "acl" | "list" | "lease" | "undelete" | "rename" | "blobs" | "batch"
                    ) =>
                {
                    Err(unknown_comp(other))
                }
                _ => Err(unsupported_verb()),
            }
        }
        (Some(_), Some(_)) => {
            let has_copy_source = headers.contains_key("x-ms-copy-source");
            match (method.as_str(), comp) {
                ("PUT", None) if headers.contains_key("x-ms-rename-source") => Ok(DfsRenamePath),
                ("PUT", None) if has_copy_source => {
                    let sync = header(headers, "x-ms-requires-sync").is_some_and(|v| v.eq_ignore_ascii_case("true"));
                    if sync {
                        Ok(CopyBlobFromUrl)
                    } else if header(headers, "x-ms-blob-type").is_some_and(|t| t.eq_ignore_ascii_case("BlockBlob")) {
                        Ok(PutBlobFromUrl)
                    } else {
                        Ok(CopyBlob)
                    }
                }
                ("PUT", None) => match header(headers, "x-ms-blob-type") {
                    Some(t) if t.eq_ignore_ascii_case("BlockBlob") => Ok(PutBlob),
                    Some(t) if t.eq_ignore_ascii_case("PageBlob") => Ok(PutPageBlob),
                    Some(t) if t.eq_ignore_ascii_case("AppendBlob") => Ok(PutAppendBlob),
                    Some(t) => Err(AzureError::header("x-ms-blob-type", t)),
                    None => Err(AzureError::missing_header("x-ms-blob-type")),
                },
                ("PUT", Some("block")) if has_copy_source => Ok(PutBlockFromUrl),
                ("PUT", Some("block")) => Ok(PutBlock),
                ("PUT", Some("blocklist")) => Ok(PutBlockList),
                ("GET", Some("blocklist")) => Ok(GetBlockList),
                ("PUT", Some("properties")) => Ok(SetBlobProperties),
                ("PUT", Some("metadata")) => Ok(SetBlobMetadata),
                ("GET" | "HEAD", Some("metadata")) => Ok(GetBlobMetadata),
                ("GET", None) => Ok(GetBlob),
                ("HEAD", None) => Ok(GetBlobProperties),
                ("DELETE", None) => Ok(DeleteBlob),
                ("PUT", Some("lease")) => Ok(LeaseBlob),
                ("PUT", Some("snapshot")) => Ok(SnapshotBlob),
                ("PUT", Some("copy")) => Ok(AbortCopyBlob),
                ("PUT", Some("tier")) => Ok(SetBlobTier),
                ("GET", Some("tags")) => Ok(GetBlobTags),
                ("PUT", Some("tags")) => Ok(SetBlobTags),
                ("PUT", Some("appendblock")) if has_copy_source => Ok(AppendBlockFromUrl),
                ("PUT", Some("appendblock")) => Ok(AppendBlock),
                ("PUT", Some("seal")) => Ok(SealAppendBlob),
                ("PUT", Some("page")) if has_copy_source => Ok(PutPageFromUrl),
                ("PUT", Some("page")) => Ok(PutPage),
                ("GET", Some("pagelist")) => Ok(GetPageRanges),
                ("PUT", Some("incrementalcopy")) => Ok(IncrementalCopyBlob),
                ("PUT", Some("undelete")) => Ok(UndeleteBlob),
                ("PUT", Some("expiry")) => Ok(SetBlobExpiry),
                ("PUT" | "DELETE", Some("immutabilityPolicies")) => Ok(Unsupported("BlobImmutabilityPolicy")),
                ("PUT", Some("legalhold")) => Ok(Unsupported("SetBlobLegalHold")),
                ("POST", Some("query")) => Ok(Unsupported("QueryBlobContents")),
                ("POST", None) if headers.contains_key("x-ms-lease-action") => Ok(DfsLeasePath),
                (_, Some(other))
                    if !matches!(
                        other,
                        "block"
                            | "blocklist"
                            | "properties"
                            | "metadata"
                            | "lease"
                            | "snapshot"
                            | "copy"
                            | "tier"
                            | "tags"
                            | "appendblock"
                            | "seal"
                            | "page"
                            | "pagelist"
                            | "incrementalcopy"
                            | "undelete"
                            | "expiry"
                            | "immutabilityPolicies"
                            | "legalhold"
                            | "query"
                    ) =>
                {
                    Err(unknown_comp(other))
                }
                _ => Err(unsupported_verb()),
            }
        }
    }
}

/// DFS requests (`resource=`, `action=`, PATCH): see `docs/reference` section 2.2.
fn classify_dfs(method: &Method, target: &Target, query: &Query, headers: &HeaderMap) -> Operation {
    use Operation::*;
    let resource = query.get("resource");
    let action = query.get("action");
    match (&target.container, &target.blob) {
        (None, _) => match (method.as_str(), resource) {
            ("GET", Some("account")) => DfsListFilesystems,
            _ => Unsupported("DfsOperation"),
        },
        (Some(_), None) => match (method.as_str(), resource) {
            ("PUT", Some("filesystem")) => DfsCreateFilesystem,
            ("DELETE", Some("filesystem")) => DfsDeleteFilesystem,
            ("HEAD", Some("filesystem")) => DfsGetFilesystemProperties,
            ("PATCH", Some("filesystem")) => DfsSetFilesystemProperties,
            ("GET", Some("filesystem")) => DfsListPaths,
            _ => Unsupported("DfsOperation"),
        },
        (Some(_), Some(_)) => match (method.as_str(), action) {
            ("PUT", _) if headers.contains_key("x-ms-rename-source") => DfsRenamePath,
            ("PUT", None) if matches!(resource, Some("file" | "directory")) => DfsCreatePath,
            ("PATCH", Some("append")) => DfsAppend,
            ("PATCH", Some("flush")) => DfsFlush,
            ("PATCH", Some("setProperties")) => DfsSetPathProperties,
            ("PATCH", Some("setAccessControl")) => DfsSetAccessControl,
            ("PATCH", Some("setAccessControlRecursive")) => DfsSetAccessControlRecursive,
            ("HEAD", Some("getStatus" | "getAccessControl")) => DfsGetPathProperties,
            _ => Unsupported("DfsOperation"),
        },
    }
}

fn unsupported_verb() -> AzureError {
    AzureError::new(
        ErrorCode::UnsupportedHttpVerb,
        "The resource doesn't support specified Http Verb.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: Method, path: &str, query: &str, headers: &[(&str, &str)]) -> Result<Operation, AzureError> {
        let target = parse_target(path, Some("127.0.0.1:10000"))?;
        let query = Query::parse(Some(query))?;
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        classify(&method, &target, &query, &map)
    }

    #[test]
    fn query_parameters_decode_in_order() {
        let q = Query::parse(Some("comp=list&&prefix=a%2Fb+c&Restype=container&flag&comp=second&e=")).unwrap();
        let pairs: Vec<(&str, &str)> = q.pairs().collect();
        assert_eq!(
            pairs,
            [
                ("comp", "list"),
                ("prefix", "a/b+c"),
                ("Restype", "container"),
                ("flag", ""),
                ("comp", "second"),
                ("e", "")
            ]
        );
        // The first of repeated names; names in any case.
        assert_eq!(q.get("COMP"), Some("list"));
        assert_eq!(q.get("restype"), Some("container"));
        assert!(q.has("flag") && !q.has("fla"));
        assert_eq!(Query::parse(None).unwrap().pairs().count(), 0);
        let e = Query::parse(Some("a=%FF")).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidUri);
        assert_eq!(
            Query::parse(Some("n%C3%A9=%E2%82%AC")).unwrap().get("n\u{e9}"),
            Some("\u{20ac}")
        );
    }

    #[test]
    fn targets() {
        let t = parse_target("/devstoreaccount1/c/a%20b/c.txt", Some("127.0.0.1:10000")).unwrap();
        assert_eq!(t.account, "devstoreaccount1");
        assert_eq!(t.container.as_deref(), Some("c"));
        assert_eq!(t.blob.as_deref(), Some("a b/c.txt"));
        assert!(t.path_style);
        let t = parse_target("/c/b", Some("acct.blob.localhost:10000")).unwrap();
        assert_eq!(
            (
                t.account.as_str(),
                t.container.as_deref(),
                t.blob.as_deref(),
                t.path_style
            ),
            ("acct", Some("c"), Some("b"), false)
        );
        let t = parse_target("/devstoreaccount1", Some("localhost")).unwrap();
        assert_eq!(t.container, None);
        assert!(parse_target("/a/c/%FF", None).is_err());
        let blob = |path: &str| parse_target(path, Some("127.0.0.1")).unwrap().blob;
        assert_eq!(blob("/a/c/x/../y").as_deref(), Some("y"));
        assert_eq!(blob("/a/c/./z").as_deref(), Some("z"));
        assert_eq!(blob("/a/c/%2E%2E%2Fk").as_deref(), Some("k"));
        assert_eq!(blob("/a/c/../../k").as_deref(), Some("k"));
        assert_eq!(blob("/a/c/x..y/.z").as_deref(), Some("x..y/.z"));
        assert_eq!(blob("/a/c/x/.."), None);
    }

    #[test]
    fn routes() {
        use Operation::*;
        assert_eq!(route(Method::GET, "/a", "comp=list", &[]).unwrap(), ListContainers);
        assert_eq!(
            route(Method::PUT, "/a", "restype=service&comp=properties", &[]).unwrap(),
            SetServiceProperties
        );
        assert_eq!(
            route(Method::GET, "/a/c/b", "restype=account&comp=properties", &[]).unwrap(),
            GetAccountInfo
        );
        assert_eq!(
            route(Method::PUT, "/a/c", "restype=container", &[]).unwrap(),
            CreateContainer
        );
        assert_eq!(
            route(Method::GET, "/a/c", "restype=container&comp=list", &[]).unwrap(),
            ListBlobs
        );
        assert_eq!(
            route(Method::PUT, "/a/c/b", "", &[("x-ms-blob-type", "BlockBlob")]).unwrap(),
            PutBlob
        );
        assert_eq!(
            route(Method::PUT, "/a/c/b", "comp=block&blockid=AA%3D%3D", &[]).unwrap(),
            PutBlock
        );
        assert_eq!(route(Method::HEAD, "/a/c/b", "", &[]).unwrap(), GetBlobProperties);
        assert_eq!(route(Method::DELETE, "/a/c/b", "", &[]).unwrap(), DeleteBlob);
        assert_eq!(route(Method::PUT, "/a/c/b", "comp=lease", &[]).unwrap(), LeaseBlob);
        assert_eq!(route(Method::OPTIONS, "/a/c/b", "", &[]).unwrap(), Preflight);
        assert_eq!(route(Method::PATCH, "/a/c/b", "action=append", &[]).unwrap(), DfsAppend);
        assert_eq!(
            route(Method::GET, "/a", "resource=account", &[]).unwrap(),
            DfsListFilesystems
        );
        assert_eq!(
            route(Method::PUT, "/a/c", "resource=filesystem", &[]).unwrap(),
            DfsCreateFilesystem
        );
        assert_eq!(
            route(Method::GET, "/a/c", "resource=filesystem&recursive=true", &[]).unwrap(),
            DfsListPaths
        );
        assert_eq!(
            route(Method::PUT, "/a/c/d", "resource=directory", &[]).unwrap(),
            DfsCreatePath
        );
        assert_eq!(
            route(Method::PUT, "/a/c/d", "mode=legacy", &[("x-ms-rename-source", "/c/e")]).unwrap(),
            DfsRenamePath
        );
        assert_eq!(
            route(Method::DELETE, "/a/c/d", "recursive=true", &[]).unwrap(),
            DfsDeletePath
        );
        assert_eq!(route(Method::DELETE, "/a/c/d", "", &[]).unwrap(), DeleteBlob);
        assert_eq!(
            route(Method::HEAD, "/a/c/d", "action=getAccessControl", &[]).unwrap(),
            DfsGetPathProperties
        );
        assert!(DfsFlush.is_dfs() && !GetBlob.is_dfs());
        assert_eq!(
            route(Method::PUT, "/a/c/b", "", &[]).unwrap_err().code,
            ErrorCode::MissingRequiredHeader
        );
        assert_eq!(
            route(Method::PUT, "/a/c/b", "comp=bogus", &[]).unwrap_err().code,
            ErrorCode::InvalidQueryParameterValue
        );
        assert_eq!(
            route(Method::TRACE, "/a/c/b", "", &[]).unwrap_err().code,
            ErrorCode::UnsupportedHttpVerb
        );
    }
}
