//! Snapshot Blob, Undelete Blob, and what snapshots, versions and soft delete add to the
//! blob operations: which row a request addresses (`?snapshot=`, `?versionid=`), the rules
//! of Delete Blob (`x-ms-delete-snapshots`, the account's DeleteRetentionPolicy).

use std::sync::Arc;

use http::request::Parts;
use http::{Response, StatusCode};
use lazuli_partition::{BlobRow, BlobVersion, DeleteOptions, DeleteSnapshots};
use lazuli_types::time_fmt::{parse_iso8601, rfc1123};
use lazuli_types::AzureError;

use super::blocking;
use crate::http_util::{self, empty, header_str, names, response, set_header, ResponseBody};
use crate::service::{Ctx, Frontend};

/// The row a blob request addresses. Snapshot and version ids are ISO 8601 times.
pub fn blob_version(ctx: &Ctx) -> Result<BlobVersion, AzureError> {
    let snapshot = ctx.query.get("snapshot");
    let version = ctx.query.get("versionid");
    let check = |name: &str, value: &str| {
        if parse_iso8601(value).is_some() {
            Ok(value.to_string())
        } else {
            Err(AzureError::query(
                name,
                value,
                "The value is not a valid snapshot or version id.",
            ))
        }
    };
    match (snapshot, version) {
        (None, None) => Ok(BlobVersion::Base),
        (Some(s), None) => Ok(BlobVersion::Snapshot(check("snapshot", s)?)),
        (None, Some(v)) => Ok(BlobVersion::Version(check("versionid", v)?)),
        (Some(_), Some(v)) => Err(AzureError::query(
            "versionid",
            v,
            "snapshot and versionid cannot be used together.",
        )),
    }
}

/// `x-ms-version-id` after a write, when versioning gave the blob a version.
pub fn version_header(r: &mut Response<ResponseBody>, row: &BlobRow) {
    if let Some(version) = &row.version_id {
        set_header(r, names::X_MS_VERSION_ID, version);
    }
}

/// The account's soft-delete retention in days, when its DeleteRetentionPolicy is enabled.
pub async fn retention_days(frontend: &Arc<Frontend>, account: &str) -> Result<Option<u32>, AzureError> {
    let props = super::service_properties(frontend, account).await?;
    Ok(props
        .delete_retention_policy
        .filter(|policy| policy.enabled)
        .map(|policy| policy.days.unwrap_or(7)))
}

pub async fn create(frontend: &Arc<Frontend>, ctx: &Ctx, parts: &Parts) -> Result<Response<ResponseBody>, AzureError> {
    let metadata = http_util::metadata(parts)?;
    let conditions = http_util::conditions(&parts.headers)?;
    let (account, container, blob) = ctx.blob_names();
    let (id, row) = blocking(frontend, move |p| {
        p.create_snapshot(&account, &container, &blob, metadata, &conditions)
    })
    .await?;
    let mut r = response(StatusCode::CREATED, empty());
    set_header(&mut r, "x-ms-snapshot", &id);
    set_header(&mut r, "etag", &row.etag);
    set_header(
        &mut r,
        "last-modified",
        rfc1123(lazuli_partition::time_from_nanos(row.last_modified)),
    );
    version_header(&mut r, &row);
    set_header(&mut r, names::X_MS_REQUEST_SERVER_ENCRYPTED, "false");
    Ok(r)
}

pub async fn undelete(frontend: &Arc<Frontend>, ctx: &Ctx) -> Result<Response<ResponseBody>, AzureError> {
    let (account, container, blob) = ctx.blob_names();
    blocking(frontend, move |p| p.undelete_blob(&account, &container, &blob)).await?;
    Ok(response(StatusCode::OK, empty()))
}

/// Delete Blob: the blob (with `x-ms-delete-snapshots`), one snapshot, or one version;
/// soft-deleted when the account's DeleteRetentionPolicy is on.
pub async fn delete(frontend: &Arc<Frontend>, ctx: &Ctx, parts: &Parts) -> Result<Response<ResponseBody>, AzureError> {
    let conditions = http_util::conditions(&parts.headers)?;
    let version = blob_version(ctx)?;
    let snapshots = match header_str(&parts.headers, "x-ms-delete-snapshots")? {
        None => DeleteSnapshots::Refuse,
        Some(v) if v.trim().eq_ignore_ascii_case("include") => DeleteSnapshots::Include,
        Some(v) if v.trim().eq_ignore_ascii_case("only") => DeleteSnapshots::Only,
        Some(v) => return Err(AzureError::header("x-ms-delete-snapshots", v)),
    };
    let retention_days = retention_days(frontend, ctx.account()).await?;
    let options = DeleteOptions {
        snapshots,
        retention_days,
    };
    let (account, container, blob) = ctx.blob_names();
    blocking(frontend, move |p| {
        p.delete_blob_with(&account, &container, &blob, &version, &options, &conditions)
    })
    .await?;
    let mut r = response(StatusCode::ACCEPTED, empty());
    set_header(
        &mut r,
        "x-ms-delete-type-permanent",
        if retention_days.is_some() { "false" } else { "true" },
    );
    Ok(r)
}

/// Snapshots and previous versions are read-only: writes that address one by `?snapshot=` or
/// `?versionid=` are refused rather than applied to the blob itself.
pub fn refuse_write_to_version(ctx: &Ctx) -> Result<(), AzureError> {
    use crate::router::Operation::*;
    let write = matches!(
        ctx.operation,
        PutBlob
            | PutBlock
            | PutBlockList
            | SetBlobProperties
            | SetBlobMetadata
            | LeaseBlob
            | SnapshotBlob
            | UndeleteBlob
    );
    for name in ["snapshot", "versionid"] {
        if let Some(value) = ctx.query.get(name).filter(|_| write) {
            return Err(AzureError::query(
                name,
                value,
                "Snapshots and previous versions of a blob cannot be modified.",
            ));
        }
    }
    Ok(())
}

/// Restore Container (`PUT ?restype=container&comp=undelete`): the soft-deleted container named
/// by `x-ms-deleted-container-name` and `-version` comes back under its own name.
pub async fn restore_container(
    frontend: &Arc<Frontend>,
    ctx: &Ctx,
    parts: &Parts,
) -> Result<Response<ResponseBody>, AzureError> {
    let required = |name: &'static str| -> Result<String, AzureError> {
        header_str(&parts.headers, name)?.map(str::to_string).ok_or_else(|| {
            AzureError::new(
                lazuli_types::ErrorCode::MissingRequiredHeader,
                "An HTTP header that's mandatory for this request is not specified.",
            )
            .with_detail("HeaderName", name)
        })
    };
    let deleted_name = required("x-ms-deleted-container-name")?;
    let version = required("x-ms-deleted-container-version")?;
    if deleted_name != ctx.container() {
        // Restoring under another name would move every blob row of the container.
        return Err(AzureError::new(
            lazuli_types::ErrorCode::NotImplemented,
            "Restoring a container under another name is not implemented by this server yet.",
        ));
    }
    let (account, container) = ctx.container_names();
    let row = blocking(frontend, move |p| p.restore_container(&account, &container, &version)).await?;
    let mut r = response(StatusCode::CREATED, empty());
    set_header(&mut r, "etag", &row.etag);
    set_header(
        &mut r,
        "last-modified",
        rfc1123(lazuli_partition::time_from_nanos(row.last_modified)),
    );
    Ok(r)
}
