//! Block blob operations.

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use http::request::Parts;
use http::{header, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use lazuli_partition::{BlobRow, BlockListItem, BlockListKind};
use lazuli_types::checksum::{crc64, crc64_to_header, md5, md5_to_header};
use lazuli_types::range::{ByteRange, Resolved};
use lazuli_types::time_fmt::rfc1123;
use lazuli_types::{AzureError, ErrorCode};

use super::{blocking, XML_BODY_BYTES_MAX};
use crate::body::{self, Received};
use crate::http_util::{
    self, empty, full, header_bool, header_str, names, put_metadata_headers, response, set_header, set_static_header,
    ResponseBody,
};
use crate::service::{Ctx, Frontend};
use crate::{structured, xml};

/// Put Blob accepts up to 5000 MiB in one request (versions 2019-12-12 and later).
pub const PUT_BLOB_BYTES_MAX: u64 = 5000 * 1024 * 1024;
/// Put Block accepts blocks up to 4000 MiB.
pub const PUT_BLOCK_BYTES_MAX: u64 = 4000 * 1024 * 1024;
/// Range MD5/CRC64 are computed only for ranges up to 4 MiB, as the service does.
pub const RANGE_CHECKSUM_BYTES_MAX: u64 = 4 * 1024 * 1024;

fn require_content_length(parts: &Parts) -> Result<u64, AzureError> {
    http_util::header_u64(&parts.headers, "content-length")?.ok_or_else(|| {
        AzureError::new(
            ErrorCode::MissingContentLengthHeader,
            "Content-Length HTTP header is missing.",
        )
    })
}

fn write_headers(r: &mut Response<ResponseBody>, row: &BlobRow) {
    set_header(r, header::ETAG, &row.etag);
    set_header(
        r,
        header::LAST_MODIFIED,
        rfc1123(lazuli_partition::time_from_nanos(row.last_modified)),
    );
    super::snapshot::version_header(r, row);
}

pub(crate) async fn receive_checked(
    frontend: &Arc<Frontend>,
    parts: &Parts,
    body: Incoming,
    max: u64,
    inline_allowed: bool,
    md5_header: &str,
) -> Result<Received, AzureError> {
    let declared = require_content_length(parts)?;
    if declared > max {
        return Err(AzureError::new(
            ErrorCode::RequestBodyTooLarge,
            "The request body is too large and exceeds the maximum permissible limit.",
        )
        .with_detail("MaxLimit", max.to_string()));
    }
    let structured = structured_upload(parts, declared)?;
    // Put Blob stores the body's MD5; other writes need it only to check a Content-MD5.
    let want_md5 = inline_allowed || parts.headers.contains_key(md5_header);
    let received = body::receive(&frontend.partition, body, max, inline_allowed, want_md5, structured).await?;
    if let Some(expected) = http_util::header_u64(&parts.headers, "x-ms-structured-content-length")? {
        if parts.headers.contains_key(STRUCTURED_BODY) && expected != received.body.len {
            frontend.partition.release_segments(&received.body.segments);
            return Err(AzureError::new(
                ErrorCode::InvalidInput,
                "x-ms-structured-content-length does not match the content of the structured body.",
            ));
        }
    }
    let verified = body::verify_checksums(
        &received,
        header_str(&parts.headers, md5_header)?,
        header_str(&parts.headers, "x-ms-content-crc64")?,
    );
    if let Err(error) = verified {
        frontend.partition.release_segments(&received.body.segments);
        return Err(error);
    }
    Ok(received)
}

const STRUCTURED_BODY: &str = "x-ms-structured-body";

/// A decoder when the request carries a structured message body.
fn structured_upload(parts: &Parts, encoded_len: u64) -> Result<Option<structured::Decoder>, AzureError> {
    match header_str(&parts.headers, STRUCTURED_BODY)? {
        None => Ok(None),
        Some(v) if v.trim().eq_ignore_ascii_case(structured::STRUCTURED_BODY_V1_CRC64) => {
            if !parts.headers.contains_key("x-ms-structured-content-length") {
                return Err(AzureError::missing_header("x-ms-structured-content-length"));
            }
            Ok(Some(structured::Decoder::new(encoded_len)))
        }
        Some(v) => Err(AzureError::header(STRUCTURED_BODY, v)),
    }
}

/// Acknowledges a structured upload the way the SDKs check for it.
pub(crate) fn echo_structured(r: &mut Response<ResponseBody>, parts: &Parts) {
    if parts.headers.contains_key(STRUCTURED_BODY) {
        set_header(r, STRUCTURED_BODY, structured::STRUCTURED_BODY_V1_CRC64);
    }
}

pub async fn put_blob(
    frontend: &Arc<Frontend>,
    ctx: &Ctx,
    parts: &Parts,
    body: Incoming,
) -> Result<Response<ResponseBody>, AzureError> {
    let metadata = http_util::metadata(parts)?;
    let mut headers = http_util::blob_http_headers(&parts.headers, true)?;
    let conditions = http_util::conditions(&parts.headers)?;
    // x-ms-blob-content-md5, when sent, both validates the body and is stored; otherwise the
    // service stores the MD5 it computed.
    let md5_header = if headers.content_md5.is_some() {
        "x-ms-blob-content-md5"
    } else {
        "content-md5"
    };
    let options = new_blob_options(parts)?;
    let received = receive_checked(frontend, parts, body, PUT_BLOB_BYTES_MAX, true, md5_header).await?;
    if headers.content_md5.is_none() {
        headers.content_md5 = Some(md5_to_header(&received.body.md5));
    }
    let crc = received.crc64;
    let (account, container, blob) = ctx.blob_names();
    // The row is committed from a runtime thread when nothing has to wait (its rows in
    // memory, its locks free): no blocking thread is woken and parked per request, and the
    // sync wakes the task directly.
    let job = (
        account,
        container,
        blob,
        received.body,
        headers,
        metadata,
        conditions,
        options,
    );
    let row = super::write_blob(
        frontend,
        job,
        |p, (account, container, blob, body, headers, metadata, conditions, options)| {
            p.try_prepare_put_blob(account, container, blob, body, headers, metadata, conditions, options)
        },
        |p, (account, container, blob, body, headers, metadata, conditions, options)| {
            p.put_blob_with(
                &account,
                &container,
                &blob,
                body,
                headers,
                metadata,
                &conditions,
                &options,
            )
        },
    )
    .await?;
    let mut r = response(StatusCode::CREATED, empty());
    write_headers(&mut r, &row);
    if let Some(md5) = &row.headers.content_md5 {
        set_header(&mut r, names::CONTENT_MD5, md5);
    }
    set_header(&mut r, names::X_MS_CONTENT_CRC64, crc64_to_header(crc));
    set_header(&mut r, names::X_MS_REQUEST_SERVER_ENCRYPTED, "true");
    echo_structured(&mut r, parts);
    Ok(r)
}

/// The creation-time properties a new blob takes from the request (`x-ms-tags`).
fn new_blob_options(parts: &Parts) -> Result<lazuli_partition::NewBlobOptions, AzureError> {
    Ok(lazuli_partition::NewBlobOptions {
        tags: crate::tag_expr::tags_header(&parts.headers)?,
        tier: super::tier::access_tier(&parts.headers)?,
        copy: None,
    })
}

pub(super) fn block_id(ctx: &Ctx) -> Result<String, AzureError> {
    let id = ctx
        .query
        .get("blockid")
        .ok_or_else(|| AzureError::missing_query("blockid"))?;
    let invalid = || {
        AzureError::new(
            ErrorCode::InvalidQueryParameterValue,
            "Value for one of the query parameters specified in the request URI is invalid.",
        )
        .with_detail("QueryParameterName", "blockid")
        .with_detail("QueryParameterValue", id.to_string())
    };
    let decoded = BASE64.decode(id).map_err(|_| invalid())?;
    if decoded.is_empty() || decoded.len() > lazuli_partition::BLOCK_ID_BYTES_MAX {
        return Err(invalid());
    }
    Ok(id.to_string())
}

pub async fn put_block(
    frontend: &Arc<Frontend>,
    ctx: &Ctx,
    parts: &Parts,
    body: Incoming,
) -> Result<Response<ResponseBody>, AzureError> {
    let id = block_id(ctx)?;
    let received = receive_checked(frontend, parts, body, PUT_BLOCK_BYTES_MAX, false, "content-md5").await?;
    let (md5_value, crc) = (received.body.md5, received.crc64);
    let (account, container, blob) = ctx.blob_names();
    let lease_id = header_str(&parts.headers, "x-ms-lease-id")?.map(str::to_string);
    blocking(frontend, move |p| {
        // Put Block does not need the lease id; when given it must be the active lease's.
        if let Err(error) = p.check_blob_lease_if_given(&account, &container, &blob, lease_id.as_deref()) {
            p.release_segments(&received.body.segments);
            return Err(error);
        }
        p.put_block(&account, &container, &blob, &id, received.body)
    })
    .await?;
    let mut r = response(StatusCode::CREATED, empty());
    if parts.headers.contains_key("content-md5") {
        set_header(&mut r, names::CONTENT_MD5, md5_to_header(&md5_value));
    } else {
        set_header(&mut r, names::X_MS_CONTENT_CRC64, crc64_to_header(crc));
    }
    set_header(&mut r, names::X_MS_REQUEST_SERVER_ENCRYPTED, "true");
    echo_structured(&mut r, parts);
    Ok(r)
}

pub async fn put_block_list(
    frontend: &Arc<Frontend>,
    ctx: &Ctx,
    parts: &Parts,
    body: Incoming,
) -> Result<Response<ResponseBody>, AzureError> {
    let metadata = http_util::metadata(parts)?;
    let headers = http_util::blob_http_headers(&parts.headers, false)?;
    let conditions = http_util::conditions(&parts.headers)?;
    let options = new_blob_options(parts)?;
    let (body, _) = super::read_small_body_decoded(parts, body, XML_BODY_BYTES_MAX).await?;
    if let Some(value) = header_str(&parts.headers, "content-md5")? {
        let expected = lazuli_types::checksum::md5_from_header(value).ok_or_else(|| {
            AzureError::new(
                ErrorCode::InvalidMd5,
                "The MD5 value specified in the request is invalid.",
            )
        })?;
        if expected != md5(&body) {
            return Err(AzureError::new(
                ErrorCode::Md5Mismatch,
                "The MD5 value specified in the request did not match with the MD5 value calculated by the server.",
            ));
        }
    }
    let list: Vec<BlockListItem> = xml::parse_block_list(&body)?
        .into_iter()
        .map(|item| BlockListItem {
            kind: match item.kind {
                xml::BlockListKind::Committed => BlockListKind::Committed,
                xml::BlockListKind::Uncommitted => BlockListKind::Uncommitted,
                xml::BlockListKind::Latest => BlockListKind::Latest,
            },
            id: item.id,
        })
        .collect();
    let (account, container, blob) = ctx.blob_names();
    let row = blocking(frontend, move |p| {
        p.put_block_list_with(
            &account,
            &container,
            &blob,
            &list,
            headers,
            metadata,
            &conditions,
            &options,
        )
    })
    .await?;
    let mut r = response(StatusCode::CREATED, empty());
    write_headers(&mut r, &row);
    set_header(&mut r, names::X_MS_REQUEST_SERVER_ENCRYPTED, "true");
    echo_structured(&mut r, parts);
    Ok(r)
}

pub async fn get_block_list(frontend: &Arc<Frontend>, ctx: &Ctx) -> Result<Response<ResponseBody>, AzureError> {
    let which = ctx
        .query
        .get("blocklisttype")
        .unwrap_or("committed")
        .to_ascii_lowercase();
    if !matches!(which.as_str(), "committed" | "uncommitted" | "all") {
        return Err(AzureError::query("blocklisttype", &which, "Invalid block list type."));
    }
    let (account, container, blob) = ctx.blob_names();
    let lists = blocking(frontend, move |p| p.get_block_list(&account, &container, &blob)).await?;
    let row = lists.row;
    let committed: &[(String, u64)] = if which == "uncommitted" { &[] } else { &lists.committed };
    let uncommitted = (which != "committed").then_some(lists.uncommitted.as_slice());
    let mut r = response(StatusCode::OK, full(xml::write_block_list(committed, uncommitted)));
    set_header(&mut r, "content-type", "application/xml");
    if let Some(row) = &row {
        write_headers(&mut r, row);
        set_header(&mut r, "x-ms-blob-content-length", row.content_length.to_string());
    }
    Ok(r)
}

fn property_headers(r: &mut Response<ResponseBody>, row: &BlobRow) {
    write_headers(r, row);
    if row.blob_type == "BlockBlob" {
        super::tier::tier_headers(r, row);
    }
    super::copy::copy_headers(r, row);
    let h = &row.headers;
    match &h.content_type {
        Some(value) => set_header(r, header::CONTENT_TYPE, value),
        None => set_static_header(r, header::CONTENT_TYPE, "application/octet-stream"),
    }
    for (name, value) in [
        (header::CONTENT_ENCODING, h.content_encoding.as_deref()),
        (header::CONTENT_LANGUAGE, h.content_language.as_deref()),
        (header::CACHE_CONTROL, h.cache_control.as_deref()),
        (header::CONTENT_DISPOSITION, h.content_disposition.as_deref()),
    ] {
        if let Some(value) = value {
            set_header(r, name, value);
        }
    }
    put_metadata_headers(r, &row.metadata);
    match row.blob_type.as_str() {
        "BlockBlob" => set_static_header(r, names::X_MS_BLOB_TYPE, "BlockBlob"),
        "AppendBlob" => set_static_header(r, names::X_MS_BLOB_TYPE, "AppendBlob"),
        "PageBlob" => set_static_header(r, names::X_MS_BLOB_TYPE, "PageBlob"),
        other => set_header(r, names::X_MS_BLOB_TYPE, other),
    }
    set_header(
        r,
        names::X_MS_CREATION_TIME,
        rfc1123(lazuli_partition::time_from_nanos(row.created)),
    );
    if let Some(at) = row.expires_on {
        set_header(r, "x-ms-expiry-time", rfc1123(lazuli_partition::time_from_nanos(at)));
    }
    let lease = lazuli_partition::lease_view(row.lease.as_ref());
    set_static_header(r, names::X_MS_LEASE_STATUS, lease.status);
    set_static_header(r, names::X_MS_LEASE_STATE, lease.state);
    if let Some(duration) = lease.duration {
        set_static_header(r, "x-ms-lease-duration", duration);
    }
    if row.version_id.is_some() && row.snapshot.is_none() {
        set_static_header(
            r,
            names::X_MS_IS_CURRENT_VERSION,
            if row.previous_version { "false" } else { "true" },
        );
    }
    set_static_header(r, names::X_MS_SERVER_ENCRYPTED, "true");
    set_static_header(r, header::ACCEPT_RANGES, "bytes");
    // The service sends the count for append blobs only (a block blob's is in Get Block
    // List), and a properties read of a block blob has not decoded its blocks.
    if row.blob_type == "AppendBlob" {
        set_header(
            r,
            "x-ms-blob-committed-block-count",
            row.committed_block_count().to_string(),
        );
    }
    match row.blob_type.as_str() {
        "PageBlob" => set_header(r, "x-ms-blob-sequence-number", row.sequence_number.to_string()),
        "AppendBlob" => set_header(r, "x-ms-blob-sealed", if row.sealed { "true" } else { "false" }),
        _ => {}
    }
    if !row.tags.is_empty() {
        set_header(r, "x-ms-tag-count", row.tags.len().to_string());
    }
}

/// The blob (base, snapshot or version) a read request names, if the conditions allow; of a
/// page blob, with the pages of bytes `pages_for` (all when `None`, none when empty).
async fn read_blob(
    frontend: &Arc<Frontend>,
    ctx: &Ctx,
    conditions: lazuli_types::conditions::Conditions,
    pages_for: Option<std::ops::Range<u64>>,
) -> Result<Option<BlobRow>, AzureError> {
    let (account, container, blob) = ctx.blob_names();
    let version = super::snapshot::blob_version(ctx)?;
    // A hot row (memtable or cached block) is read right here: the hand-off to a blocking
    // thread and back costs more than the read.
    let in_memory = lazuli_partition::memory_only(|| {
        frontend.partition.get_blob_version_within(
            &account,
            &container,
            &blob,
            &version,
            &conditions,
            pages_for.clone(),
        )
    });
    match in_memory {
        Some(found) => found,
        None => {
            blocking(frontend, move |p| {
                p.get_blob_version_within(&account, &container, &blob, &version, &conditions, pages_for)
            })
            .await
        }
    }
}

/// Get Blob and Get Blob Properties (HEAD): whole or ranged, with range checksums.
pub async fn get_blob(
    frontend: &Arc<Frontend>,
    ctx: &Ctx,
    parts: &Parts,
) -> Result<Response<ResponseBody>, AzureError> {
    let conditions = http_util::conditions(&parts.headers)?;
    let range_header = match header_str(&parts.headers, names::X_MS_RANGE)? {
        Some(v) => Some(v),
        None => header_str(&parts.headers, header::RANGE)?,
    };
    let range = range_header.and_then(ByteRange::parse);
    let want_md5 = header_bool(&parts.headers, names::X_MS_RANGE_GET_CONTENT_MD5)?;
    let want_crc64 = header_bool(&parts.headers, names::X_MS_RANGE_GET_CONTENT_CRC64)?;
    if want_md5 && want_crc64 {
        return Err(AzureError::header("x-ms-range-get-content-crc64", "true"));
    }
    let head = parts.method == http::Method::HEAD;
    // Of a page blob, only the pages the response sends are read.
    let pages_for = if head {
        Some(0..0)
    } else {
        range.map(|range| range.start..range.end.map_or(u64::MAX, |end| end.saturating_add(1)))
    };
    let found = read_blob(frontend, ctx, conditions, pages_for).await?;
    let Some(row) = found else {
        let mut r = response(StatusCode::NOT_MODIFIED, empty());
        set_header(&mut r, "x-ms-error-code", "ConditionNotMet");
        return Ok(r);
    };
    if !head {
        super::tier::refuse_archived(&row)?;
    }
    let size = row.content_length;
    let (status, start, len) = match range.filter(|_| !head) {
        None => (StatusCode::OK, 0, size),
        Some(range) => match range.resolve(size) {
            Resolved::Partial { start, len } => (StatusCode::PARTIAL_CONTENT, start, len),
            Resolved::Unsatisfiable => {
                return Err(AzureError::new(
                    ErrorCode::InvalidRange,
                    "The range specified is invalid for the current size of the resource.",
                )
                .with_status(416)
                .with_header("content-range", format!("bytes */{size}")));
            }
        },
    };
    if (want_md5 || want_crc64) && (status != StatusCode::PARTIAL_CONTENT || len > RANGE_CHECKSUM_BYTES_MAX) {
        return Err(AzureError::new(
            ErrorCode::OutOfRangeInput,
            "The specified range is too large to compute a range checksum; ranges of at most 4 MiB are allowed.",
        ));
    }
    let range_checksum = if want_md5 || want_crc64 {
        let bytes = collect(body::blob_range(&frontend.partition, &row, start, len)).await?;
        Some(if want_md5 {
            ("content-md5", md5_to_header(&md5(&bytes)))
        } else {
            ("x-ms-content-crc64", crc64_to_header(crc64(&bytes)))
        })
    } else {
        None
    };
    let structured_download = match header_str(&parts.headers, STRUCTURED_BODY)? {
        None => false,
        Some(v) if v.trim().eq_ignore_ascii_case(structured::STRUCTURED_BODY_V1_CRC64) => !head,
        Some(v) => return Err(AzureError::header(STRUCTURED_BODY, v)),
    };
    let (body, wire_len) = if head {
        (empty(), len)
    } else if structured_download {
        let content = body::blob_range(&frontend.partition, &row, start, len);
        let encoded = structured::EncodeBody::new(content, len, structured::DOWNLOAD_SEGMENT_BYTES);
        (
            encoded.boxed(),
            structured::encoded_len(len, structured::DOWNLOAD_SEGMENT_BYTES),
        )
    } else {
        (body::blob_range(&frontend.partition, &row, start, len), len)
    };
    let mut r = response(status, body);
    property_headers(&mut r, &row);
    set_header(&mut r, header::CONTENT_LENGTH, wire_len.to_string());
    if structured_download {
        set_header(&mut r, STRUCTURED_BODY, structured::STRUCTURED_BODY_V1_CRC64);
        set_header(&mut r, "x-ms-structured-content-length", len.to_string());
    }
    if status == StatusCode::PARTIAL_CONTENT {
        set_header(
            &mut r,
            "content-range",
            format!("bytes {}-{}/{}", start, start + len.saturating_sub(1), size),
        );
        if let Some(md5) = &row.headers.content_md5 {
            set_header(&mut r, "x-ms-blob-content-md5", md5);
        }
    } else if let Some(md5) = &row.headers.content_md5 {
        set_header(&mut r, names::CONTENT_MD5, md5);
    }
    if let Some((name, value)) = range_checksum {
        set_header(&mut r, name, value);
    }
    if let crate::auth::Credential::Sas(grant) = &ctx.credential {
        apply_sas_overrides(&mut r, grant);
    }
    Ok(r)
}

async fn collect(body: ResponseBody) -> Result<Vec<u8>, AzureError> {
    body.collect()
        .await
        .map(|c| c.to_bytes().to_vec())
        .map_err(|e| AzureError::internal(e.to_string()))
}

pub async fn get_metadata(
    frontend: &Arc<Frontend>,
    ctx: &Ctx,
    parts: &Parts,
) -> Result<Response<ResponseBody>, AzureError> {
    let conditions = http_util::conditions(&parts.headers)?;
    let found = read_blob(frontend, ctx, conditions, Some(0..0)).await?;
    let Some(row) = found else {
        return Ok(response(StatusCode::NOT_MODIFIED, empty()));
    };
    let mut r = response(StatusCode::OK, empty());
    write_headers(&mut r, &row);
    put_metadata_headers(&mut r, &row.metadata);
    Ok(r)
}

pub async fn set_properties(
    frontend: &Arc<Frontend>,
    ctx: &Ctx,
    parts: &Parts,
) -> Result<Response<ResponseBody>, AzureError> {
    if super::page::has_page_properties(parts) {
        return super::page::set_properties(frontend, ctx, parts).await;
    }
    // Set Blob Properties replaces all the HTTP headers: any not sent are cleared.
    let headers = http_util::blob_http_headers(&parts.headers, false)?;
    let conditions = http_util::conditions(&parts.headers)?;
    let row = update_blob(frontend, ctx, conditions, headers, |row, headers| row.headers = headers).await?;
    let mut r = response(StatusCode::OK, empty());
    write_headers(&mut r, &row);
    Ok(r)
}

/// Sets one property of an existing blob's row to `value` (Set Blob Properties, Set Blob
/// Metadata), on the runtime thread when nothing has to wait.
async fn update_blob<V: Clone + Send + 'static>(
    frontend: &Arc<Frontend>,
    ctx: &Ctx,
    conditions: lazuli_types::conditions::Conditions,
    value: V,
    set: fn(&mut BlobRow, V),
) -> Result<BlobRow, AzureError> {
    let (account, container, blob) = ctx.blob_names();
    super::write_blob(
        frontend,
        (account, container, blob, conditions, value),
        move |p, (account, container, blob, conditions, value)| {
            p.try_prepare_update_blob(account, container, blob, conditions, |row| set(row, value.clone()))
        },
        move |p, (account, container, blob, conditions, value)| {
            p.update_blob(&account, &container, &blob, &conditions, |row| set(row, value))
        },
    )
    .await
}

pub async fn set_metadata(
    frontend: &Arc<Frontend>,
    ctx: &Ctx,
    parts: &Parts,
) -> Result<Response<ResponseBody>, AzureError> {
    let metadata = http_util::metadata(parts)?;
    let conditions = http_util::conditions(&parts.headers)?;
    let row = update_blob(frontend, ctx, conditions, metadata, |row, metadata| {
        row.metadata = metadata
    })
    .await?;
    let mut r = response(StatusCode::OK, empty());
    write_headers(&mut r, &row);
    set_header(&mut r, names::X_MS_REQUEST_SERVER_ENCRYPTED, "true");
    Ok(r)
}

pub async fn delete(frontend: &Arc<Frontend>, ctx: &Ctx, parts: &Parts) -> Result<Response<ResponseBody>, AzureError> {
    // Snapshots, versions and soft delete decide what a delete does: see `snapshot.rs`.
    super::snapshot::delete(frontend, ctx, parts).await
}

/// A SAS may override response headers of Get Blob (`rscc`, `rscd`, `rsce`, `rscl`, `rsct`).
fn apply_sas_overrides(r: &mut Response<ResponseBody>, grant: &crate::auth::SasGrant) {
    for (name, value) in [
        ("cache-control", &grant.cache_control),
        ("content-disposition", &grant.content_disposition),
        ("content-encoding", &grant.content_encoding),
        ("content-language", &grant.content_language),
        ("content-type", &grant.content_type),
    ] {
        if let Some(value) = value {
            set_header(r, name, value);
        }
    }
}
