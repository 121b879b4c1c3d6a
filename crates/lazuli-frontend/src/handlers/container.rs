//! Container operations.

use std::sync::Arc;

use http::request::Parts;
use http::{Response, StatusCode};
use hyper::body::Incoming;
use lazuli_partition::{BlobRow, ContainerRow, ListBlobsOptions, ListItem};
use lazuli_types::time_fmt::rfc1123;
use lazuli_types::{AzureError, ErrorCode};

use super::service::{max_results, service_endpoint};
use super::{blocking, read_small_body, XML_BODY_BYTES_MAX};
use crate::http_util::{
    self, empty, full, header_str, names, put_metadata_headers, response, set_header, ResponseBody,
};
use crate::service::{Ctx, Frontend};

/// List Blobs hands its page from the partition to the XML writer in chunks of this many
/// items, so that reading rows and writing XML overlap.
const LIST_CHUNK_ITEMS: usize = 500;
/// Chunks read ahead of the writer at most (bounds a listing's memory).
const LIST_CHUNKS_IN_FLIGHT: usize = 4;
use crate::xml;

fn public_access(parts: &Parts) -> Result<Option<String>, AzureError> {
    match header_str(&parts.headers, "x-ms-blob-public-access")? {
        None => Ok(None),
        Some(v) if v.eq_ignore_ascii_case("container") => Ok(Some("container".into())),
        Some(v) if v.eq_ignore_ascii_case("blob") => Ok(Some("blob".into())),
        Some(v) => Err(AzureError::header("x-ms-blob-public-access", v)),
    }
}

fn container_headers(r: &mut Response<ResponseBody>, row: &ContainerRow) {
    set_header(r, "etag", &row.etag);
    set_header(
        r,
        "last-modified",
        rfc1123(lazuli_partition::time_from_nanos(row.last_modified)),
    );
}

pub fn container_item(name: &str, row: &ContainerRow, include_metadata: bool) -> xml::ContainerItem {
    let lease = lazuli_partition::lease_view(row.lease.as_ref());
    xml::ContainerItem {
        name: name.to_string(),
        last_modified: lazuli_partition::time_from_nanos(row.last_modified),
        etag: row.etag.clone(),
        lease_status: lease.status.into(),
        lease_state: lease.state.into(),
        lease_duration: lease.duration.map(str::to_string),
        public_access: row.public_access.clone(),
        has_immutability_policy: false,
        has_legal_hold: false,
        metadata: include_metadata.then(|| row.metadata.clone()),
        deleted: row.deleted.is_some(),
        version: row.deleted_version.clone(),
        deleted_time: row.deleted.map(|d| lazuli_partition::time_from_nanos(d.time)),
        remaining_retention_days: row.deleted.map(|d| d.remaining_days(lazuli_partition::now_nanos())),
        default_encryption_scope: Some("$account-encryption-key".into()),
        deny_encryption_scope_override: false,
        immutable_storage_with_versioning_enabled: None,
    }
}

pub async fn create(frontend: &Arc<Frontend>, ctx: &Ctx, parts: &Parts) -> Result<Response<ResponseBody>, AzureError> {
    let metadata = http_util::metadata(parts)?;
    let access = public_access(parts)?;
    let (account, container) = ctx.container_names();
    let row = blocking(frontend, move |p| {
        p.create_container(&account, &container, metadata, access)
    })
    .await?;
    let mut r = response(StatusCode::CREATED, empty());
    container_headers(&mut r, &row);
    Ok(r)
}

pub async fn delete(frontend: &Arc<Frontend>, ctx: &Ctx, parts: &Parts) -> Result<Response<ResponseBody>, AzureError> {
    let conditions = http_util::conditions(&parts.headers)?;
    if conditions.if_match.is_some() || conditions.if_none_match.is_some() {
        return Err(AzureError::new(
            ErrorCode::UnsupportedHeader,
            "One of the HTTP headers specified in the request is not supported.",
        ));
    }
    let (account, container) = ctx.container_names();
    blocking(frontend, move |p| p.delete_container(&account, &container, &conditions)).await?;
    Ok(response(StatusCode::ACCEPTED, empty()))
}

pub async fn properties(frontend: &Arc<Frontend>, ctx: &Ctx) -> Result<Response<ResponseBody>, AzureError> {
    let (account, container) = ctx.container_names();
    let row = blocking(frontend, move |p| p.get_container(&account, &container)).await?;
    let mut r = response(StatusCode::OK, empty());
    container_headers(&mut r, &row);
    put_metadata_headers(&mut r, &row.metadata);
    let lease = lazuli_partition::lease_view(row.lease.as_ref());
    set_header(&mut r, names::X_MS_LEASE_STATUS, lease.status);
    set_header(&mut r, names::X_MS_LEASE_STATE, lease.state);
    if let Some(duration) = lease.duration {
        set_header(&mut r, "x-ms-lease-duration", duration);
    }
    if let Some(access) = &row.public_access {
        set_header(&mut r, "x-ms-blob-public-access", access);
    }
    set_header(&mut r, "x-ms-has-immutability-policy", "false");
    set_header(&mut r, "x-ms-has-legal-hold", "false");
    set_header(&mut r, "x-ms-default-encryption-scope", "$account-encryption-key");
    set_header(&mut r, "x-ms-deny-encryption-scope-override", "false");
    Ok(r)
}

pub async fn set_metadata(
    frontend: &Arc<Frontend>,
    ctx: &Ctx,
    parts: &Parts,
) -> Result<Response<ResponseBody>, AzureError> {
    let metadata = http_util::metadata(parts)?;
    let conditions = http_util::conditions(&parts.headers)?;
    let (account, container) = ctx.container_names();
    let row = blocking(frontend, move |p| {
        p.set_container_metadata(&account, &container, metadata, &conditions)
    })
    .await?;
    let mut r = response(StatusCode::OK, empty());
    container_headers(&mut r, &row);
    Ok(r)
}

pub async fn get_acl(frontend: &Arc<Frontend>, ctx: &Ctx) -> Result<Response<ResponseBody>, AzureError> {
    let (account, container) = ctx.container_names();
    let row = blocking(frontend, move |p| p.get_container(&account, &container)).await?;
    let identifiers: Vec<xml::SignedIdentifier> = row
        .signed_identifiers
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default();
    let mut r = response(StatusCode::OK, full(xml::write_signed_identifiers(&identifiers)));
    set_header(&mut r, "content-type", "application/xml");
    container_headers(&mut r, &row);
    if let Some(access) = &row.public_access {
        set_header(&mut r, "x-ms-blob-public-access", access);
    }
    Ok(r)
}

pub async fn set_acl(
    frontend: &Arc<Frontend>,
    ctx: &Ctx,
    parts: &Parts,
    body: Incoming,
) -> Result<Response<ResponseBody>, AzureError> {
    let access = public_access(parts)?;
    let conditions = http_util::conditions(&parts.headers)?;
    let body = read_small_body(body, XML_BODY_BYTES_MAX).await?;
    let identifiers = xml::parse_signed_identifiers(&body)?;
    let json = serde_json::to_string(&identifiers).map_err(|e| AzureError::internal(e.to_string()))?;
    let (account, container) = ctx.container_names();
    let row = blocking(frontend, move |p| {
        p.set_container_acl(&account, &container, access, Some(json), &conditions)
    })
    .await?;
    let mut r = response(StatusCode::OK, empty());
    container_headers(&mut r, &row);
    Ok(r)
}

/// A listed blob's entry, built from its row (taken, so its strings move into the entry).
pub fn blob_item(name: String, row: BlobRow, include_metadata: bool, include_tags: bool) -> xml::BlobItem {
    let now = lazuli_partition::now_nanos();
    let tier = (row.blob_type == "BlockBlob").then(|| row.tier_view(now));
    let h = row.headers;
    let mut properties = xml::BlobItemProperties::new(
        lazuli_partition::time_from_nanos(row.created),
        lazuli_partition::time_from_nanos(row.last_modified),
        "",
        row.content_length,
    );
    properties.etag = row.etag;
    properties.content_type = h.content_type.or(properties.content_type);
    properties.content_encoding = h.content_encoding;
    properties.content_language = h.content_language;
    properties.content_md5 = h.content_md5;
    properties.cache_control = h.cache_control;
    properties.content_disposition = h.content_disposition;
    properties.blob_sequence_number = (row.blob_type == "PageBlob").then_some(row.sequence_number);
    properties.sealed = (row.blob_type == "AppendBlob" && row.sealed).then_some(true);
    if let Some(tier) = tier {
        properties.access_tier = Some(tier.tier);
        properties.access_tier_inferred = tier.inferred.then_some(true);
        properties.access_tier_change_time = tier.change_time.map(lazuli_partition::time_from_nanos);
        properties.archive_status = tier.archive_status;
        properties.rehydrate_priority = tier.rehydrate_priority;
    }
    properties.blob_type = row.blob_type;
    let lease = lazuli_partition::lease_view(row.lease.as_ref());
    properties.lease_status = Some(lease.status.into());
    properties.lease_state = Some(lease.state.into());
    properties.lease_duration = lease.duration.map(str::to_string);
    if let Some(deletion) = &row.deleted {
        properties.deleted_time = Some(lazuli_partition::time_from_nanos(deletion.time));
        properties.remaining_retention_days = Some(deletion.remaining_days(now));
    }
    properties.tag_count = (!row.tags.is_empty()).then_some(row.tags.len() as u32);
    let no_snapshot = row.snapshot.is_none();
    xml::BlobItem {
        name,
        deleted: row.deleted.is_some(),
        is_current_version: (row.version_id.is_some() && no_snapshot && row.deleted.is_none())
            .then_some(!row.previous_version),
        version_id: row.version_id.filter(|_| no_snapshot),
        snapshot: row.snapshot,
        properties,
        metadata: include_metadata.then_some(row.metadata),
        tags: (include_tags && !row.tags.is_empty()).then_some(row.tags),
        has_versions_only: None,
    }
}

pub async fn list_blobs(frontend: &Arc<Frontend>, ctx: &Ctx) -> Result<Response<ResponseBody>, AzureError> {
    let max = max_results(ctx)?;
    let prefix = ctx.query.get("prefix").unwrap_or("").to_string();
    let delimiter = ctx.query.get("delimiter").filter(|d| !d.is_empty()).map(str::to_string);
    let marker = ctx.query.get("marker").filter(|m| !m.is_empty()).map(str::to_string);
    let include: Vec<String> = ctx
        .query
        .get("include")
        .unwrap_or("")
        .split(',')
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    for item in &include {
        if !matches!(
            item.as_str(),
            "metadata"
                | "snapshots"
                | "uncommittedblobs"
                | "copy"
                | "deleted"
                | "tags"
                | "versions"
                | "deletedwithversions"
                | "immutabilitypolicy"
                | "legalhold"
                | "permissions"
        ) {
            return Err(AzureError::query("include", item, "Invalid value for include."));
        }
    }
    let include_metadata = include.iter().any(|i| i == "metadata");
    let include_snapshots = include.iter().any(|i| i == "snapshots");
    let include_versions = include.iter().any(|i| i == "versions");
    // `showonly` (HNS listings): only soft-deleted paths (List Deleted Paths), files or
    // directories.
    let show_only = match ctx.query.get("showonly").filter(|v| !v.is_empty()) {
        None => None,
        Some(v @ ("deleted" | "files" | "directories")) => Some(v.to_string()),
        Some(other) => return Err(AzureError::query("showonly", other, "Invalid value for showonly.")),
    };
    let include_deleted =
        include.iter().any(|i| i == "deleted" || i == "deletedwithversions") || show_only.as_deref() == Some("deleted");
    let include_tags = include.iter().any(|i| i == "tags");
    let include_copy = include.iter().any(|i| i == "copy");
    let (account, container) = ctx.container_names();
    let (p, d, m) = (prefix.clone(), delimiter.clone(), marker.clone());
    // The partition walks on a blocking thread and hands the page over in chunks while this
    // thread renders them: reading rows and writing XML overlap on two cores. The response
    // is sent whole, so that an error anywhere still answers with its status.
    let (chunks_tx, mut chunks) = tokio::sync::mpsc::channel::<Vec<ListItem>>(LIST_CHUNKS_IN_FLIGHT);
    let listing = super::spawn_blocking_call(frontend, move |partition| {
        partition.list_blobs_chunked(
            &account,
            &container,
            &ListBlobsOptions {
                prefix: &p,
                delimiter: d.as_deref(),
                marker: m.as_deref(),
                max_results: max,
                include_snapshots,
                include_versions,
                include_deleted,
            },
            LIST_CHUNK_ITEMS,
            // A closed channel means the request is gone: the rest of the walk is not wanted.
            &mut |items| drop(chunks_tx.blocking_send(items)),
        )
    });
    let mut writer = xml::ListBlobsWriter::new(
        &service_endpoint(ctx),
        ctx.container(),
        ctx.query.get("prefix"),
        marker.as_deref(),
        ctx.query.get("maxresults").map(|_| max as u32),
        delimiter.as_deref(),
    );
    let is_folder = |row: &lazuli_partition::BlobRow| {
        row.metadata
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case(lazuli_partition::hns::FOLDER_METADATA) && v == "true")
    };
    let shown = |item: &ListItem| match (item, show_only.as_deref()) {
        (_, None) => true,
        (Ok((_, row)), Some("deleted")) => row.deleted.is_some(),
        (Ok((_, row)), Some("files")) => !is_folder(row),
        (Ok((_, row)), Some(_)) => is_folder(row),
        (Err(_), Some(kind)) => kind != "files",
    };
    while let Some(items) = chunks.recv().await {
        writer.reserve_items(items.len());
        for item in items.into_iter().filter(|item| shown(item)) {
            match item {
                Ok((name, row)) => {
                    let copy = include_copy.then(|| super::copy::copy_properties(&row)).flatten();
                    let mut item = blob_item(name, row, include_metadata, include_tags);
                    item.properties.copy = copy;
                    writer.blob(&item)
                }
                Err(blob_prefix) => writer.prefix(&blob_prefix),
            }
        }
    }
    let next_marker = listing.await?;
    let mut r = response(StatusCode::OK, full(writer.finish(next_marker.as_deref())));
    set_header(&mut r, "content-type", "application/xml");
    Ok(r)
}
