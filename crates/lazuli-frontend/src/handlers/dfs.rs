//! The DFS (ADLS Gen2) endpoint over the hierarchical namespace of HNS accounts
//! (`docs/rfcs/0001-hierarchical-namespace.md`, partition side in `lazuli_partition::hns`).
//!
//! Served on the Blob port; the router tells DFS requests apart. Accounts without a
//! hierarchical namespace answer every DFS operation with `HierarchicalNamespaceNotEnabled`,
//! so nothing changes for them. Reads of file data go through the Blob API (Get Blob), which
//! resolves the path on HNS accounts.

use std::borrow::Cow;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as BASE64URL;
use base64::Engine;
use http::request::Parts;
use http::{HeaderMap, Response, StatusCode};
use hyper::body::Incoming;
use lazuli_partition::hns::{self, NewPath, PathRow};
use lazuli_partition::HttpHeaders;
use lazuli_types::conditions::Conditions;
use lazuli_types::time_fmt::rfc1123;
use lazuli_types::{AzureError, ErrorCode};

use super::blob::PUT_BLOCK_BYTES_MAX;
use super::blocking;
use crate::dfs_json;
use crate::http_util::{
    self, empty, full, header_str, header_string, names, percent_decode_utf8, response, set_header, PlusMode,
    ResponseBody,
};
use crate::service::{Ctx, Frontend};

/// The service's cap on `maxResults` of List Paths and List Filesystems.
const LIST_RESULTS_MAX: usize = 5000;

/// DFS operations need an account with a hierarchical namespace.
pub fn require_hns(frontend: &Frontend, ctx: &Ctx) -> Result<(), AzureError> {
    if frontend.partition.is_hns(ctx.account()) {
        Ok(())
    } else {
        Err(AzureError::new(
            ErrorCode::HierarchicalNamespaceNotEnabled,
            "This operation is only supported on an account with a hierarchical namespace.",
        ))
    }
}

/// A continuation token: the sort name of the next path, base64url so that any name fits a
/// header.
fn continuation_token(ctx: &Ctx) -> Result<Option<String>, AzureError> {
    match ctx.query.get("continuation").filter(|c| !c.is_empty()) {
        Some(token) => Ok(Some(
            BASE64URL
                .decode(token)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| AzureError::query("continuation", token, "invalid continuation token"))?,
        )),
        None => Ok(None),
    }
}

/// Container errors answered in DFS terms.
fn dfs_error(error: AzureError) -> AzureError {
    match error.code {
        ErrorCode::ContainerNotFound => hns::filesystem_not_found(),
        ErrorCode::ContainerAlreadyExists => AzureError::new(
            ErrorCode::FilesystemAlreadyExists,
            "The specified filesystem already exists.",
        ),
        _ => error,
    }
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response<ResponseBody> {
    let mut r = response(status, full(body));
    set_header(&mut r, "content-type", "application/json;charset=utf-8");
    r
}

fn max_results(ctx: &Ctx) -> Result<usize, AzureError> {
    match ctx.query.get("maxResults") {
        None => Ok(LIST_RESULTS_MAX),
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= 1 => Ok((n as usize).min(LIST_RESULTS_MAX)),
            _ => Err(AzureError::query("maxResults", v, "must be a positive integer")),
        },
    }
}

fn query_bool(ctx: &Ctx, name: &str) -> Result<Option<bool>, AzureError> {
    match ctx.query.get(name) {
        None => Ok(None),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(v) => Err(AzureError::query(name, v, "must be true or false")),
    }
}

fn properties(parts: &Parts) -> Result<Option<Vec<(String, String)>>, AzureError> {
    header_str(&parts.headers, "x-ms-properties")?
        .map(dfs_json::parse_properties)
        .transpose()
}

/// The path HTTP headers (`x-ms-content-type` …); `None` when none was sent.
fn path_headers(headers: &HeaderMap) -> Result<Option<HttpHeaders>, AzureError> {
    let names = [
        "x-ms-content-type",
        "x-ms-content-encoding",
        "x-ms-content-language",
        "x-ms-content-md5",
        "x-ms-cache-control",
        "x-ms-content-disposition",
    ];
    if !names.iter().any(|n| headers.contains_key(*n)) {
        return Ok(None);
    }
    Ok(Some(HttpHeaders {
        content_type: header_string(headers, "x-ms-content-type")?,
        content_encoding: header_string(headers, "x-ms-content-encoding")?,
        content_language: header_string(headers, "x-ms-content-language")?,
        content_md5: header_string(headers, "x-ms-content-md5")?,
        cache_control: header_string(headers, "x-ms-cache-control")?,
        content_disposition: header_string(headers, "x-ms-content-disposition")?,
    }))
}

fn write_times(r: &mut Response<ResponseBody>, etag: &str, last_modified: i128) {
    set_header(r, "etag", etag);
    set_header(
        r,
        "last-modified",
        rfc1123(lazuli_partition::time_from_nanos(last_modified)),
    );
}

// ---- filesystems -------------------------------------------------------------------------

pub async fn list_filesystems(frontend: &Arc<Frontend>, ctx: &Ctx) -> Result<Response<ResponseBody>, AzureError> {
    require_hns(frontend, ctx)?;
    let max = max_results(ctx)?;
    let prefix = ctx.query.get("prefix").unwrap_or("").to_string();
    let marker = ctx
        .query
        .get("continuation")
        .filter(|m| !m.is_empty())
        .map(str::to_string);
    let account = ctx.account().to_string();
    let page = blocking(frontend, move |p| {
        p.list_containers(&account, &prefix, marker.as_deref(), max)
    })
    .await?;
    let mut r = json_response(StatusCode::OK, dfs_json::filesystems(&page.containers));
    if let Some(next) = page.next_marker {
        set_header(&mut r, "x-ms-continuation", next);
    }
    Ok(r)
}

pub async fn create_filesystem(
    frontend: &Arc<Frontend>,
    ctx: &Ctx,
    parts: &Parts,
) -> Result<Response<ResponseBody>, AzureError> {
    require_hns(frontend, ctx)?;
    let metadata = properties(parts)?.unwrap_or_default();
    let (account, fs) = ctx.container_names();
    let row = blocking(frontend, move |p| p.create_container(&account, &fs, metadata, None))
        .await
        .map_err(dfs_error)?;
    let mut r = response(StatusCode::CREATED, empty());
    write_times(&mut r, &row.etag, row.last_modified);
    set_header(&mut r, "x-ms-namespace-enabled", "true");
    Ok(r)
}

pub async fn delete_filesystem(
    frontend: &Arc<Frontend>,
    ctx: &Ctx,
    parts: &Parts,
) -> Result<Response<ResponseBody>, AzureError> {
    require_hns(frontend, ctx)?;
    let conditions = http_util::conditions(&parts.headers)?;
    let (account, fs) = ctx.container_names();
    blocking(frontend, move |p| p.delete_container(&account, &fs, &conditions))
        .await
        .map_err(dfs_error)?;
    Ok(response(StatusCode::ACCEPTED, empty()))
}

pub async fn get_filesystem_properties(
    frontend: &Arc<Frontend>,
    ctx: &Ctx,
) -> Result<Response<ResponseBody>, AzureError> {
    require_hns(frontend, ctx)?;
    let (account, fs) = ctx.container_names();
    let row = blocking(frontend, move |p| p.get_container(&account, &fs))
        .await
        .map_err(dfs_error)?;
    let mut r = response(StatusCode::OK, empty());
    write_times(&mut r, &row.etag, row.last_modified);
    set_header(&mut r, "x-ms-properties", dfs_json::format_properties(&row.metadata));
    set_header(&mut r, "x-ms-namespace-enabled", "true");
    Ok(r)
}

pub async fn set_filesystem_properties(
    frontend: &Arc<Frontend>,
    ctx: &Ctx,
    parts: &Parts,
) -> Result<Response<ResponseBody>, AzureError> {
    require_hns(frontend, ctx)?;
    let metadata = properties(parts)?.unwrap_or_default();
    let conditions = http_util::conditions(&parts.headers)?;
    let (account, fs) = ctx.container_names();
    let row = blocking(frontend, move |p| {
        p.set_container_metadata(&account, &fs, metadata, &conditions)
    })
    .await
    .map_err(dfs_error)?;
    let mut r = response(StatusCode::OK, empty());
    write_times(&mut r, &row.etag, row.last_modified);
    Ok(r)
}

pub async fn list_paths(frontend: &Arc<Frontend>, ctx: &Ctx) -> Result<Response<ResponseBody>, AzureError> {
    require_hns(frontend, ctx)?;
    let recursive = query_bool(ctx, "recursive")?.unwrap_or(false);
    let max = max_results(ctx)?;
    let directory = ctx.query.get("directory").unwrap_or("").to_string();
    let continuation = continuation_token(ctx)?;
    let (account, fs) = ctx.container_names();
    let page = blocking(frontend, move |p| {
        p.list_paths(&account, &fs, &directory, recursive, max, continuation.as_deref())
    })
    .await?;
    let mut r = json_response(StatusCode::OK, dfs_json::paths(&page.paths));
    if let Some(next) = page.continuation {
        set_header(&mut r, "x-ms-continuation", BASE64URL.encode(next.as_bytes()));
    }
    Ok(r)
}

// ---- paths -------------------------------------------------------------------------------

pub async fn create_path(
    frontend: &Arc<Frontend>,
    ctx: &Ctx,
    parts: &Parts,
) -> Result<Response<ResponseBody>, AzureError> {
    require_hns(frontend, ctx)?;
    let is_directory = match ctx.query.get("resource") {
        Some("file") => false,
        Some("directory") => true,
        Some(other) => return Err(AzureError::query("resource", other, "must be file or directory")),
        None => return Err(AzureError::missing_query("resource")),
    };
    if parts.headers.contains_key("x-ms-owner") && ctx.principal().is_some() {
        // A user's new path is its own; only the superuser names another owner.
        return Err(hns::permission_denied());
    }
    let new = NewPath {
        metadata: properties(parts)?.unwrap_or_default(),
        headers: path_headers(&parts.headers)?.unwrap_or_default(),
        owner: header_string(&parts.headers, "x-ms-owner")?,
        group: header_string(&parts.headers, "x-ms-group")?,
        permissions: header_string(&parts.headers, "x-ms-permissions")?,
        umask: header_string(&parts.headers, "x-ms-umask")?,
        acl: header_string(&parts.headers, "x-ms-acl")?,
    };
    let conditions = http_util::conditions(&parts.headers)?;
    let (account, fs, path) = ctx.blob_names();
    let row = blocking(frontend, move |p| {
        p.create_path(&account, &fs, &path, is_directory, &new, &conditions)
    })
    .await?;
    let mut r = response(StatusCode::CREATED, empty());
    write_times(&mut r, &row.blob.etag, row.blob.last_modified);
    set_header(&mut r, "content-length", "0");
    set_header(&mut r, names::X_MS_REQUEST_SERVER_ENCRYPTED, "true");
    Ok(r)
}

/// `/{fs}/{path}[?sas]` of `x-ms-rename-source`, decoded.
fn rename_source(value: &str) -> Result<(String, String), AzureError> {
    let invalid = || AzureError::new(ErrorCode::InvalidSourceUri, "The source URI is invalid.");
    let path = value.split('?').next().unwrap_or_default();
    let path = path.strip_prefix('/').unwrap_or(path);
    let (fs, rest) = path.split_once('/').ok_or_else(invalid)?;
    let decode = |s: &str| {
        percent_decode_utf8(s, PlusMode::Literal)
            .map(Cow::into_owned)
            .ok_or_else(invalid)
    };
    let (fs, rest) = (decode(fs)?, decode(rest)?);
    if rest.trim_matches('/').is_empty() {
        return Err(invalid());
    }
    Ok((fs, rest))
}

/// The `x-ms-source-if-*` conditions of a rename, as ordinary conditions.
fn source_conditions(headers: &HeaderMap) -> Result<Conditions, AzureError> {
    let mut renamed = HeaderMap::new();
    for (from, to) in [
        ("x-ms-source-if-match", "if-match"),
        ("x-ms-source-if-none-match", "if-none-match"),
        ("x-ms-source-if-modified-since", "if-modified-since"),
        ("x-ms-source-if-unmodified-since", "if-unmodified-since"),
    ] {
        if let Some(value) = headers.get(from) {
            renamed.insert(to, value.clone());
        }
    }
    http_util::conditions(&renamed)
}

pub async fn rename_path(
    frontend: &Arc<Frontend>,
    ctx: &Ctx,
    parts: &Parts,
) -> Result<Response<ResponseBody>, AzureError> {
    require_hns(frontend, ctx)?;
    if let Some(mode) = ctx.query.get("mode") {
        if !matches!(mode, "legacy" | "posix") {
            return Err(AzureError::query("mode", mode, "must be legacy or posix"));
        }
    }
    let source = header_string(&parts.headers, "x-ms-rename-source")?.unwrap_or_default();
    let (source_fs, source_path) = rename_source(&source)?;
    if source_fs != ctx.container() {
        // Path ids are per filesystem: a move across filesystems would copy the subtree.
        return Err(AzureError::new(
            ErrorCode::NotImplemented,
            "Renaming across filesystems is not implemented by this server yet.",
        ));
    }
    let dest_conditions = http_util::conditions(&parts.headers)?;
    let src_conditions = source_conditions(&parts.headers)?;
    let (account, fs, path) = ctx.blob_names();
    let row = blocking(frontend, move |p| {
        p.rename_path(&account, &fs, &source_path, &path, &dest_conditions, &src_conditions)
    })
    .await?;
    let mut r = response(StatusCode::CREATED, empty());
    write_times(&mut r, &row.blob.etag, row.blob.last_modified);
    set_header(&mut r, "content-length", "0");
    Ok(r)
}

/// Delete Path (Delete Blob on an HNS account goes through `blob::delete`).
pub async fn delete_path(
    frontend: &Arc<Frontend>,
    ctx: &Ctx,
    parts: &Parts,
) -> Result<Response<ResponseBody>, AzureError> {
    require_hns(frontend, ctx)?;
    let recursive = query_bool(ctx, "recursive")?.unwrap_or(false);
    // `paginated=true` asks for the delete in pages; here it is one transaction whatever the
    // size, so no continuation is ever returned (validated all the same).
    query_bool(ctx, "paginated")?;
    let conditions = http_util::conditions(&parts.headers)?;
    let retention_days = super::snapshot::retention_days(frontend, ctx.account()).await?;
    let (account, fs, path) = ctx.blob_names();
    blocking(frontend, move |p| {
        // Under a soft-delete policy a file is kept as a deleted blob row and a directory as a
        // deleted-directory row with its tree (List Deleted Paths, Undelete Path).
        let kind = retention_days.and_then(|_| p.get_path(&account, &fs, &path).ok().map(|row| row.is_directory));
        if let (Some(days), Some(true)) = (retention_days, kind) {
            let deletion = lazuli_partition::soft_delete::Deletion::new(lazuli_partition::now_nanos(), days);
            return p.soft_delete_directory(&account, &fs, &path, recursive, deletion, &conditions);
        }
        if kind == Some(false) {
            let options = lazuli_partition::DeleteOptions {
                snapshots: lazuli_partition::DeleteSnapshots::Include,
                retention_days,
            };
            return p.delete_blob_with(
                &account,
                &fs,
                &path,
                &lazuli_partition::BlobVersion::Base,
                &options,
                &conditions,
            );
        }
        p.delete_path(&account, &fs, &path, recursive, &conditions)
    })
    .await?;
    if recursive {
        // The subtree is already unreachable; its rows and data go in the background.
        let partition = frontend.partition.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(error) = partition.collect_deleted_paths() {
                tracing::warn!(
                    code = error.code.as_str(),
                    "collecting deleted paths failed; retried at the next start"
                );
            }
        });
    }
    Ok(response(StatusCode::OK, empty()))
}

fn path_property_headers(r: &mut Response<ResponseBody>, row: &PathRow, with_properties: bool) {
    write_times(r, &row.blob.etag, row.blob.last_modified);
    set_header(
        r,
        "x-ms-resource-type",
        if row.is_directory { "directory" } else { "file" },
    );
    set_header(r, "x-ms-owner", &row.owner);
    set_header(r, "x-ms-group", &row.group);
    set_header(r, "x-ms-permissions", &row.permissions);
    if with_properties {
        set_header(r, "content-length", row.blob.content_length.to_string());
        set_header(r, "x-ms-properties", dfs_json::format_properties(&row.blob.metadata));
        set_header(
            r,
            names::X_MS_CREATION_TIME,
            rfc1123(lazuli_partition::time_from_nanos(row.blob.created)),
        );
        let headers = &row.blob.headers;
        for (name, value) in [
            ("content-type", &headers.content_type),
            ("content-encoding", &headers.content_encoding),
            ("content-language", &headers.content_language),
            ("content-md5", &headers.content_md5),
            ("cache-control", &headers.cache_control),
            ("content-disposition", &headers.content_disposition),
        ] {
            if let Some(value) = value {
                set_header(r, name, value);
            }
        }
    }
}

/// Get Properties (HEAD, `action=getStatus|getAccessControl`).
pub async fn get_path_properties(frontend: &Arc<Frontend>, ctx: &Ctx) -> Result<Response<ResponseBody>, AzureError> {
    require_hns(frontend, ctx)?;
    let action = ctx.query.get("action").map(str::to_string);
    let (account, fs, path) = ctx.blob_names();
    let row = blocking(frontend, move |p| p.get_path(&account, &fs, &path)).await?;
    let mut r = response(StatusCode::OK, empty());
    match action.as_deref() {
        Some("getAccessControl") => {
            path_property_headers(&mut r, &row, false);
            set_header(&mut r, "x-ms-acl", hns::acl_text(&row));
        }
        Some("getStatus") => {
            path_property_headers(&mut r, &row, false);
            set_header(&mut r, "content-length", row.blob.content_length.to_string());
        }
        _ => path_property_headers(&mut r, &row, true),
    }
    Ok(r)
}

pub async fn set_path_properties(
    frontend: &Arc<Frontend>,
    ctx: &Ctx,
    parts: &Parts,
) -> Result<Response<ResponseBody>, AzureError> {
    require_hns(frontend, ctx)?;
    let metadata = properties(parts)?;
    let headers = path_headers(&parts.headers)?;
    let conditions = http_util::conditions(&parts.headers)?;
    let (account, fs, path) = ctx.blob_names();
    let row = blocking(frontend, move |p| {
        p.update_path(&account, &fs, &path, &conditions, |row| {
            if let Some(metadata) = metadata {
                row.blob.metadata = metadata;
            }
            if let Some(headers) = headers {
                row.blob.headers = headers;
            }
            Ok(())
        })
    })
    .await?;
    let mut r = response(StatusCode::OK, empty());
    write_times(&mut r, &row.blob.etag, row.blob.last_modified);
    Ok(r)
}

pub async fn set_access_control(
    frontend: &Arc<Frontend>,
    ctx: &Ctx,
    parts: &Parts,
) -> Result<Response<ResponseBody>, AzureError> {
    require_hns(frontend, ctx)?;
    let owner = header_string(&parts.headers, "x-ms-owner")?;
    let group = header_string(&parts.headers, "x-ms-group")?;
    let permissions = header_string(&parts.headers, "x-ms-permissions")?;
    let acl = header_string(&parts.headers, "x-ms-acl")?
        .map(|text| lazuli_types::acl::parse(&text))
        .transpose()?;
    if permissions.is_some() && acl.is_some() {
        return Err(AzureError::new(
            ErrorCode::InvalidInput,
            "x-ms-permissions and x-ms-acl are mutually exclusive.",
        ));
    }
    if owner.is_some() && ctx.principal().is_some() {
        // Only the superuser gives a path away (a user may change what it owns otherwise).
        return Err(hns::permission_denied());
    }
    if let Some(p) = &permissions {
        hns::normalize_permissions(p)?;
    }
    let conditions = http_util::conditions(&parts.headers)?;
    let (account, fs, path) = ctx.blob_names();
    let row = blocking(frontend, move |p| {
        p.update_path(&account, &fs, &path, &conditions, |row| {
            if let Some(owner) = owner {
                row.owner = owner;
            }
            if let Some(group) = group {
                row.group = group;
            }
            match (permissions, acl) {
                (Some(permissions), _) => hns::set_mode(row, &permissions),
                (None, Some(entries)) => hns::set_acl(row, entries),
                (None, None) => Ok(()),
            }
        })
    })
    .await?;
    let mut r = response(StatusCode::OK, empty());
    write_times(&mut r, &row.blob.etag, row.blob.last_modified);
    Ok(r)
}

/// Set Access Control Recursive (`mode=set|modify|remove`, `maxRecords`, `continuation`):
/// one page of the subtree per call, JSON counts and failed entries.
pub async fn set_access_control_recursive(
    frontend: &Arc<Frontend>,
    ctx: &Ctx,
    parts: &Parts,
) -> Result<Response<ResponseBody>, AzureError> {
    use lazuli_types::acl;
    require_hns(frontend, ctx)?;
    let acl_text = header_string(&parts.headers, "x-ms-acl")?.ok_or_else(|| AzureError::missing_header("x-ms-acl"))?;
    let change = match ctx.query.get("mode") {
        Some("set") => hns::AclChange::Set(acl::parse(&acl_text)?),
        Some("modify") => hns::AclChange::Modify(acl::parse(&acl_text)?),
        Some("remove") => hns::AclChange::Remove(acl::parse_removal(&acl_text)?),
        Some(other) => return Err(AzureError::query("mode", other, "must be set, modify or remove")),
        None => return Err(AzureError::missing_query("mode")),
    };
    let max_records = match ctx.query.get("maxRecords") {
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=2000).contains(n))
            .ok_or_else(|| AzureError::query("maxRecords", v, "must be 1 to 2000"))?,
        None => 2000,
    };
    let continuation = continuation_token(ctx)?;
    let (account, fs, path) = ctx.blob_names();
    let result = blocking(frontend, move |p| {
        p.set_acl_recursive(&account, &fs, &path, &change, max_records, continuation.as_deref())
    })
    .await?;
    let failed: Vec<serde_json::Value> = result
        .failures
        .iter()
        .map(|(name, is_directory, message)| {
            serde_json::json!({
                "errorMessage": message,
                "name": name,
                "type": if *is_directory { "DIRECTORY" } else { "FILE" },
            })
        })
        .collect();
    let body = serde_json::json!({
        "directoriesSuccessful": result.directories,
        "filesSuccessful": result.files,
        "failureCount": result.failures.len(),
        "failedEntries": failed,
    });
    let mut r = json_response(StatusCode::OK, body.to_string().into_bytes());
    if let Some(next) = &result.continuation {
        set_header(&mut r, "x-ms-continuation", BASE64URL.encode(next.as_bytes()));
    }
    Ok(r)
}

/// Set Blob Expiry (`comp=expiry`): `x-ms-expiry-option` NeverExpire, RelativeToCreation
/// and RelativeToNow (`x-ms-expiry-time` in milliseconds), Absolute (an RFC 1123 time).
pub async fn set_expiry(
    frontend: &Arc<Frontend>,
    ctx: &Ctx,
    parts: &Parts,
) -> Result<Response<ResponseBody>, AzureError> {
    require_hns(frontend, ctx)?;
    let option = header_string(&parts.headers, "x-ms-expiry-option")?
        .ok_or_else(|| AzureError::missing_header("x-ms-expiry-option"))?;
    let time = header_string(&parts.headers, "x-ms-expiry-time")?;
    let millis = |time: &Option<String>| -> Result<u64, AzureError> {
        let text = time
            .as_deref()
            .ok_or_else(|| AzureError::missing_header("x-ms-expiry-time"))?;
        text.trim()
            .parse()
            .map_err(|_| AzureError::header("x-ms-expiry-time", text))
    };
    let expiry = match option.as_str() {
        "NeverExpire" if time.is_none() => hns::Expiry::Never,
        "RelativeToCreation" => hns::Expiry::RelativeToCreation(millis(&time)?),
        "RelativeToNow" => hns::Expiry::RelativeToNow(millis(&time)?),
        "Absolute" => {
            let text = time
                .as_deref()
                .ok_or_else(|| AzureError::missing_header("x-ms-expiry-time"))?;
            let at = lazuli_types::time_fmt::parse_rfc1123(text)
                .ok_or_else(|| AzureError::header("x-ms-expiry-time", text))?;
            hns::Expiry::Absolute(at.unix_timestamp_nanos())
        }
        "NeverExpire" => {
            return Err(AzureError::header(
                "x-ms-expiry-time",
                time.as_deref().unwrap_or_default(),
            ))
        }
        other => return Err(AzureError::header("x-ms-expiry-option", other)),
    };
    let conditions = http_util::conditions(&parts.headers)?;
    let (account, fs, path) = ctx.blob_names();
    let row = blocking(frontend, move |p| {
        p.set_path_expiry(&account, &fs, &path, expiry, &conditions)
    })
    .await?;
    let mut r = response(StatusCode::OK, empty());
    write_times(&mut r, &row.blob.etag, row.blob.last_modified);
    Ok(r)
}

/// What a user (bearer token) needs for the operation on an HNS account, checked against
/// the POSIX permissions and ACLs of the paths before the operation runs. Filesystem-level
/// operations are left to the account's roles (a valid token stands for a user allowed to
/// manage filesystems).
pub async fn check_user_access(
    frontend: &Arc<Frontend>,
    ctx: &Ctx,
    parts: &Parts,
    principal: &str,
) -> Result<(), AzureError> {
    use crate::router::Operation::*;
    use hns::PathAccess as A;
    let blob = ctx.blob().to_string();
    let mut checks: Vec<(String, A)> = Vec::new();
    match ctx.operation {
        GetBlob | GetBlockList | GetPageRanges | GetBlobTags => checks.push((blob, A::Read)),
        GetBlobProperties | GetBlobMetadata | DfsGetPathProperties => checks.push((blob, A::Traverse)),
        PutBlob | PutBlock | PutBlockList | PutAppendBlob | AppendBlock | SealAppendBlob | PutPageBlob | PutPage
        | SetBlobProperties | SetBlobMetadata | SetBlobTags | SetBlobTier | SnapshotBlob | LeaseBlob | CopyBlob
        | CopyBlobFromUrl | PutBlobFromUrl | PutBlockFromUrl | AppendBlockFromUrl | PutPageFromUrl
        | IncrementalCopyBlob | AbortCopyBlob | UndeleteBlob | DfsAppend | DfsFlush | DfsSetPathProperties
        | DfsLeasePath | SetBlobExpiry => checks.push((blob, A::Write)),
        DfsCreatePath => checks.push((blob, A::Create)),
        DeleteBlob | DfsDeletePath => checks.push((blob, A::Delete)),
        DfsSetAccessControl => checks.push((blob, A::Owner)),
        // Each path is checked as it is changed (failures are reported per path).
        DfsSetAccessControlRecursive => checks.push((blob, A::Traverse)),
        DfsRenamePath => {
            let source = header_string(&parts.headers, "x-ms-rename-source")?.unwrap_or_default();
            let (_, source_path) = rename_source(&source)?;
            checks.push((source_path, A::Delete));
            checks.push((blob, A::Create));
        }
        DfsListPaths => checks.push((ctx.query.get("directory").unwrap_or_default().to_string(), A::List)),
        ListBlobs => {
            let prefix = ctx.query.get("prefix").unwrap_or_default();
            let directory = prefix.rfind('/').map_or("", |slash| &prefix[..slash]);
            checks.push((directory.to_string(), A::List));
        }
        _ => {}
    }
    if checks.is_empty() || ctx.target.container.is_none() {
        return Ok(());
    }
    let (account, fs) = ctx.container_names();
    let principal = principal.to_string();
    blocking(frontend, move |p| {
        for (path, access) in &checks {
            p.check_path_access(&account, &fs, path, &principal, *access)?;
        }
        Ok(())
    })
    .await
}

fn position(ctx: &Ctx) -> Result<u64, AzureError> {
    match ctx.query.get("position") {
        Some(v) => v
            .parse()
            .map_err(|_| AzureError::query("position", v, "must be a non-negative integer")),
        None => Err(AzureError::missing_query("position")),
    }
}

pub async fn append(
    frontend: &Arc<Frontend>,
    ctx: &Ctx,
    parts: &Parts,
    body: Incoming,
) -> Result<Response<ResponseBody>, AzureError> {
    require_hns(frontend, ctx)?;
    let position = position(ctx)?;
    let flush = query_bool(ctx, "flush")?.unwrap_or(false);
    let received =
        super::blob::receive_checked(frontend, parts, body, PUT_BLOCK_BYTES_MAX, false, "content-md5").await?;
    let len = received.body.len;
    let (account, fs, path) = ctx.blob_names();
    let row = blocking(frontend, move |p| {
        p.append_path(&account, &fs, &path, position, received.body)?;
        if flush {
            let end = position + len;
            return p
                .flush_path(&account, &fs, &path, end, false, None, &Conditions::default())
                .map(Some);
        }
        Ok(None)
    })
    .await?;
    let mut r = response(StatusCode::ACCEPTED, empty());
    if let Some(row) = row {
        write_times(&mut r, &row.blob.etag, row.blob.last_modified);
    }
    set_header(&mut r, names::X_MS_REQUEST_SERVER_ENCRYPTED, "true");
    super::blob::echo_structured(&mut r, parts);
    Ok(r)
}

pub async fn flush(frontend: &Arc<Frontend>, ctx: &Ctx, parts: &Parts) -> Result<Response<ResponseBody>, AzureError> {
    require_hns(frontend, ctx)?;
    let position = position(ctx)?;
    if http_util::header_u64(&parts.headers, "content-length")?.unwrap_or(0) != 0 {
        return Err(AzureError::new(
            ErrorCode::InvalidInput,
            "The Content-Length of a flush must be 0.",
        ));
    }
    let retain = query_bool(ctx, "retainUncommittedData")?.unwrap_or(false);
    let headers = path_headers(&parts.headers)?;
    let conditions = http_util::conditions(&parts.headers)?;
    let (account, fs, path) = ctx.blob_names();
    let row = blocking(frontend, move |p| {
        p.flush_path(&account, &fs, &path, position, retain, headers, &conditions)
    })
    .await?;
    let mut r = response(StatusCode::OK, empty());
    write_times(&mut r, &row.blob.etag, row.blob.last_modified);
    set_header(&mut r, "content-length", "0");
    set_header(&mut r, names::X_MS_REQUEST_SERVER_ENCRYPTED, "true");
    Ok(r)
}
