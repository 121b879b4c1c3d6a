//! Append blob operations: Put Blob (AppendBlob), Append Block, Seal.

use std::sync::Arc;

use http::request::Parts;
use http::{Response, StatusCode};
use hyper::body::Incoming;
use lazuli_partition::{AppendConditions, BlobRow, APPEND_BLOCK_BYTES_MAX};
use lazuli_types::checksum::{crc64_to_header, md5_to_header};
use lazuli_types::time_fmt::rfc1123;
use lazuli_types::AzureError;

use super::blocking;
use crate::http_util::{self, empty, names, response, set_header, ResponseBody};
use crate::service::{Ctx, Frontend};

fn write_headers(r: &mut Response<ResponseBody>, row: &BlobRow) {
    set_header(r, "etag", &row.etag);
    set_header(
        r,
        "last-modified",
        rfc1123(lazuli_partition::time_from_nanos(row.last_modified)),
    );
}

/// Put Blob of a page or append blob creates it empty: the request must carry no body.
pub(crate) fn require_empty_body(parts: &Parts) -> Result<(), AzureError> {
    match http_util::header_u64(&parts.headers, "content-length")? {
        None | Some(0) => Ok(()),
        Some(n) => Err(AzureError::header("Content-Length", &n.to_string())),
    }
}

pub(crate) fn append_conditions(parts: &Parts) -> Result<AppendConditions, AzureError> {
    Ok(AppendConditions {
        append_position: http_util::header_u64(&parts.headers, "x-ms-blob-condition-appendpos")?,
        max_size: http_util::header_u64(&parts.headers, "x-ms-blob-condition-maxsize")?,
    })
}

fn names(ctx: &Ctx) -> (String, String, String) {
    ctx.blob_names()
}

pub async fn put_append_blob(
    frontend: &Arc<Frontend>,
    ctx: &Ctx,
    parts: &Parts,
) -> Result<Response<ResponseBody>, AzureError> {
    require_empty_body(parts)?;
    let metadata = http_util::metadata(parts)?;
    let headers = http_util::blob_http_headers(&parts.headers, true)?;
    let tags = crate::tag_expr::tags_header(&parts.headers)?.unwrap_or_default();
    let conditions = http_util::conditions(&parts.headers)?;
    let (account, container, blob) = names(ctx);
    let row = blocking(frontend, move |p| {
        p.create_append_blob(&account, &container, &blob, headers, metadata, tags, &conditions)
    })
    .await?;
    let mut r = response(StatusCode::CREATED, empty());
    write_headers(&mut r, &row);
    set_header(&mut r, names::X_MS_REQUEST_SERVER_ENCRYPTED, "true");
    Ok(r)
}

pub async fn append_block(
    frontend: &Arc<Frontend>,
    ctx: &Ctx,
    parts: &Parts,
    body: Incoming,
) -> Result<Response<ResponseBody>, AzureError> {
    let conditions = http_util::conditions(&parts.headers)?;
    let append = append_conditions(parts)?;
    // An empty block would add a block that holds nothing; the service refuses it.
    if http_util::header_u64(&parts.headers, "content-length")? == Some(0) {
        return Err(AzureError::header("Content-Length", "0"));
    }
    let received =
        super::blob::receive_checked(frontend, parts, body, APPEND_BLOCK_BYTES_MAX, false, "content-md5").await?;
    let (md5_value, crc) = (received.body.md5, received.crc64);
    let (account, container, blob) = names(ctx);
    let (row, offset) = blocking(frontend, move |p| {
        p.append_block(&account, &container, &blob, received.body, &conditions, &append)
    })
    .await?;
    let mut r = response(StatusCode::CREATED, empty());
    write_headers(&mut r, &row);
    set_header(&mut r, "x-ms-blob-append-offset", offset.to_string());
    set_header(
        &mut r,
        "x-ms-blob-committed-block-count",
        row.committed_block_count().to_string(),
    );
    if parts.headers.contains_key("content-md5") {
        set_header(&mut r, names::CONTENT_MD5, md5_to_header(&md5_value));
    } else {
        set_header(&mut r, names::X_MS_CONTENT_CRC64, crc64_to_header(crc));
    }
    set_header(&mut r, names::X_MS_REQUEST_SERVER_ENCRYPTED, "true");
    super::blob::echo_structured(&mut r, parts);
    Ok(r)
}

pub async fn seal(frontend: &Arc<Frontend>, ctx: &Ctx, parts: &Parts) -> Result<Response<ResponseBody>, AzureError> {
    let conditions = http_util::conditions(&parts.headers)?;
    let append = append_conditions(parts)?;
    let (account, container, blob) = names(ctx);
    let row = blocking(frontend, move |p| {
        p.seal_append_blob(&account, &container, &blob, &conditions, &append)
    })
    .await?;
    let mut r = response(StatusCode::OK, empty());
    write_headers(&mut r, &row);
    set_header(&mut r, "x-ms-blob-sealed", "true");
    Ok(r)
}
