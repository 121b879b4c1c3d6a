//! Page blob operations: Put Blob (PageBlob), Put Page, Get Page Ranges, and the page blob
//! part of Set Blob Properties (resize, sequence number).

use std::fmt::Write as _;
use std::sync::Arc;

use http::request::Parts;
use http::{Response, StatusCode};
use hyper::body::Incoming;
use lazuli_partition::{BlobRow, SequenceAction, SequenceConditions, PAGE_WRITE_BYTES_MAX};
use lazuli_types::checksum::{crc64_to_header, md5_to_header};
use lazuli_types::time_fmt::rfc1123;
use lazuli_types::{AzureError, ErrorCode};

use super::blocking;
use crate::http_util::{self, empty, full, header_str, names, response, set_header, ResponseBody};
use crate::service::{Ctx, Frontend};

/// Get Page Ranges answers at most this many ranges per page when `maxresults` is absent.
const PAGE_RANGES_MAX: usize = 10_000;

fn write_headers(r: &mut Response<ResponseBody>, row: &BlobRow) {
    set_header(r, "etag", &row.etag);
    set_header(
        r,
        "last-modified",
        rfc1123(lazuli_partition::time_from_nanos(row.last_modified)),
    );
}

fn names(ctx: &Ctx) -> (String, String, String) {
    ctx.blob_names()
}

fn missing_header(name: &'static str) -> AzureError {
    AzureError::missing_header(name)
}

/// The page range of a request as `[start, end)`: `x-ms-range`, else `Range`, in the form
/// `bytes=first-last` (both ends required).
pub(crate) fn request_range(parts: &Parts) -> Result<Option<(u64, u64)>, AzureError> {
    let (name, value) = match header_str(&parts.headers, "x-ms-range")? {
        Some(v) => ("x-ms-range", v),
        None => match header_str(&parts.headers, "range")? {
            Some(v) => ("Range", v),
            None => return Ok(None),
        },
    };
    let parsed = value
        .trim()
        .strip_prefix("bytes=")
        .and_then(|r| r.split_once('-'))
        .and_then(|(a, b)| Some((a.trim().parse::<u64>().ok()?, b.trim().parse::<u64>().ok()?)))
        .filter(|(first, last)| first <= last)
        .and_then(|(first, last)| Some((first, last.checked_add(1)?)));
    parsed.map(Some).ok_or_else(|| AzureError::header(name, value))
}

pub(crate) fn sequence_conditions(parts: &Parts) -> Result<SequenceConditions, AzureError> {
    Ok(SequenceConditions {
        le: http_util::header_u64(&parts.headers, "x-ms-if-sequence-number-le")?,
        lt: http_util::header_u64(&parts.headers, "x-ms-if-sequence-number-lt")?,
        eq: http_util::header_u64(&parts.headers, "x-ms-if-sequence-number-eq")?,
    })
}

pub async fn put_page_blob(
    frontend: &Arc<Frontend>,
    ctx: &Ctx,
    parts: &Parts,
) -> Result<Response<ResponseBody>, AzureError> {
    super::append::require_empty_body(parts)?;
    let size = http_util::header_u64(&parts.headers, "x-ms-blob-content-length")?
        .ok_or_else(|| missing_header("x-ms-blob-content-length"))?;
    let sequence_number = http_util::header_u64(&parts.headers, "x-ms-blob-sequence-number")?.unwrap_or(0);
    let metadata = http_util::metadata(parts)?;
    let headers = http_util::blob_http_headers(&parts.headers, true)?;
    let tags = crate::tag_expr::tags_header(&parts.headers)?.unwrap_or_default();
    let conditions = http_util::conditions(&parts.headers)?;
    let (account, container, blob) = names(ctx);
    let row = blocking(frontend, move |p| {
        p.create_page_blob(
            &account,
            &container,
            &blob,
            size,
            sequence_number,
            headers,
            metadata,
            tags,
            &conditions,
        )
    })
    .await?;
    let mut r = response(StatusCode::CREATED, empty());
    write_headers(&mut r, &row);
    set_header(&mut r, names::X_MS_REQUEST_SERVER_ENCRYPTED, "true");
    Ok(r)
}

pub async fn put_page(
    frontend: &Arc<Frontend>,
    ctx: &Ctx,
    parts: &Parts,
    body: Incoming,
) -> Result<Response<ResponseBody>, AzureError> {
    let conditions = http_util::conditions(&parts.headers)?;
    let sequence = sequence_conditions(parts)?;
    let write = header_str(&parts.headers, "x-ms-page-write")?.ok_or_else(|| missing_header("x-ms-page-write"))?;
    let (start, end) = request_range(parts)?.ok_or_else(|| missing_header("x-ms-range"))?;
    lazuli_partition::page::check_page_range(start, end, None)?;
    let (account, container, blob) = names(ctx);
    let content_length = http_util::header_u64(&parts.headers, "content-length")?.unwrap_or(0);
    if write.eq_ignore_ascii_case("clear") {
        if content_length != 0 {
            return Err(AzureError::header("Content-Length", &content_length.to_string()));
        }
        let row = blocking(frontend, move |p| {
            p.clear_pages(&account, &container, &blob, start, end, &conditions, &sequence)
        })
        .await?;
        let mut r = response(StatusCode::CREATED, empty());
        write_headers(&mut r, &row);
        set_header(&mut r, "x-ms-blob-sequence-number", row.sequence_number.to_string());
        return Ok(r);
    }
    if !write.eq_ignore_ascii_case("update") {
        return Err(AzureError::header("x-ms-page-write", write));
    }
    if end - start > PAGE_WRITE_BYTES_MAX {
        return Err(AzureError::new(
            ErrorCode::RequestBodyTooLarge,
            "The request body is too large and exceeds the maximum permissible limit.",
        )
        .with_detail("MaxLimit", PAGE_WRITE_BYTES_MAX.to_string()));
    }
    // The body must fill the range exactly (for a structured body, its decoded content).
    let declared = match http_util::header_u64(&parts.headers, "x-ms-structured-content-length")? {
        Some(n) if parts.headers.contains_key("x-ms-structured-body") => n,
        _ => content_length,
    };
    if declared != end - start {
        return Err(AzureError::header("Content-Length", &declared.to_string()));
    }
    let received =
        super::blob::receive_checked(frontend, parts, body, PAGE_WRITE_BYTES_MAX, false, "content-md5").await?;
    if received.body.len != end - start {
        frontend.partition.release_segments(&received.body.segments);
        return Err(AzureError::header("Content-Length", &received.body.len.to_string()));
    }
    let (md5_value, crc) = (received.body.md5, received.crc64);
    let row = blocking(frontend, move |p| {
        p.write_pages(
            &account,
            &container,
            &blob,
            start,
            received.body,
            &conditions,
            &sequence,
        )
    })
    .await?;
    let mut r = response(StatusCode::CREATED, empty());
    write_headers(&mut r, &row);
    set_header(&mut r, "x-ms-blob-sequence-number", row.sequence_number.to_string());
    if parts.headers.contains_key("content-md5") {
        set_header(&mut r, names::CONTENT_MD5, md5_to_header(&md5_value));
    } else {
        set_header(&mut r, names::X_MS_CONTENT_CRC64, crc64_to_header(crc));
    }
    set_header(&mut r, names::X_MS_REQUEST_SERVER_ENCRYPTED, "true");
    super::blob::echo_structured(&mut r, parts);
    Ok(r)
}

pub async fn get_page_ranges(
    frontend: &Arc<Frontend>,
    ctx: &Ctx,
    parts: &Parts,
) -> Result<Response<ResponseBody>, AzureError> {
    // The managed-disk form of the diff names the previous snapshot by URL.
    if parts.headers.contains_key("x-ms-previous-snapshot-url") {
        return Err(AzureError::new(
            ErrorCode::NotImplemented,
            "Get Page Ranges Diff with x-ms-previous-snapshot-url is not implemented by this server yet.",
        ));
    }
    let version = super::snapshot::blob_version(ctx)?;
    let previous = match ctx.query.get("prevsnapshot") {
        None => None,
        Some(p) if lazuli_types::time_fmt::parse_iso8601(p).is_some() => Some(p.to_string()),
        Some(p) => return Err(AzureError::query("prevsnapshot", p, "Invalid snapshot id.")),
    };
    let conditions = http_util::conditions(&parts.headers)?;
    let range = request_range(parts)?;
    let marker = match ctx.query.get("marker").filter(|m| !m.is_empty()) {
        None => 0,
        Some(m) => m
            .parse::<u64>()
            .map_err(|_| AzureError::query("marker", m, "Invalid marker."))?,
    };
    let max_results = match ctx.query.get("maxresults") {
        None => PAGE_RANGES_MAX,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if n > 0 => n.min(PAGE_RANGES_MAX),
            _ => return Err(AzureError::query("maxresults", v, "Invalid maxresults.")),
        },
    };
    let (account, container, blob) = names(ctx);
    let found = blocking(frontend, move |p| {
        p.get_page_ranges(
            &account,
            &container,
            &blob,
            &version,
            previous.as_deref(),
            &conditions,
            range,
        )
    })
    .await?;
    let Some((row, ranges)) = found else {
        let mut r = response(StatusCode::NOT_MODIFIED, empty());
        set_header(&mut r, "x-ms-error-code", "ConditionNotMet");
        return Ok(r);
    };
    // The marker is the first byte of the next range to report.
    let mut remaining = ranges.iter().filter(|(first, _, _)| *first >= marker);
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?><PageList>");
    for (first, last, cleared) in remaining.by_ref().take(max_results) {
        let element = if *cleared { "ClearRange" } else { "PageRange" };
        let _ = write!(xml, "<{element}><Start>{first}</Start><End>{last}</End></{element}>");
    }
    match remaining.next() {
        Some((next, _, _)) => {
            let _ = write!(xml, "<NextMarker>{next}</NextMarker>");
        }
        None => xml.push_str("<NextMarker />"),
    }
    xml.push_str("</PageList>");
    let mut r = response(StatusCode::OK, full(xml));
    write_headers(&mut r, &row);
    set_header(&mut r, "content-type", "application/xml");
    set_header(&mut r, "x-ms-blob-content-length", row.content_length.to_string());
    Ok(r)
}

/// True when Set Blob Properties carries page blob properties (size or sequence number).
pub fn has_page_properties(parts: &Parts) -> bool {
    parts.headers.contains_key("x-ms-blob-content-length") || parts.headers.contains_key("x-ms-sequence-number-action")
}

/// Set Blob Properties of a page blob. A request that sets only the size and/or sequence
/// number leaves the HTTP headers alone (as the service documents); otherwise they are
/// replaced as for any blob.
pub async fn set_properties(
    frontend: &Arc<Frontend>,
    ctx: &Ctx,
    parts: &Parts,
) -> Result<Response<ResponseBody>, AzureError> {
    let conditions = http_util::conditions(&parts.headers)?;
    let size = http_util::header_u64(&parts.headers, "x-ms-blob-content-length")?;
    let number = http_util::header_u64(&parts.headers, "x-ms-blob-sequence-number")?;
    let action = match header_str(&parts.headers, "x-ms-sequence-number-action")? {
        None => None,
        Some(a) if a.eq_ignore_ascii_case("increment") => {
            if number.is_some() {
                return Err(AzureError::header(
                    "x-ms-blob-sequence-number",
                    &number.unwrap_or(0).to_string(),
                ));
            }
            Some(SequenceAction::Increment)
        }
        Some(a) if a.eq_ignore_ascii_case("max") => Some(SequenceAction::Max(
            number.ok_or_else(|| missing_header("x-ms-blob-sequence-number"))?,
        )),
        Some(a) if a.eq_ignore_ascii_case("update") => Some(SequenceAction::Update(
            number.ok_or_else(|| missing_header("x-ms-blob-sequence-number"))?,
        )),
        Some(a) => return Err(AzureError::header("x-ms-sequence-number-action", a)),
    };
    let sets_headers = parts.headers.keys().any(|name| {
        matches!(
            name.as_str(),
            "x-ms-blob-content-type"
                | "x-ms-blob-content-encoding"
                | "x-ms-blob-content-language"
                | "x-ms-blob-content-md5"
                | "x-ms-blob-cache-control"
                | "x-ms-blob-content-disposition"
        )
    });
    let headers = if sets_headers {
        Some(http_util::blob_http_headers(&parts.headers, false)?)
    } else {
        None
    };
    let (account, container, blob) = names(ctx);
    let row = blocking(frontend, move |p| {
        p.set_page_blob_properties(&account, &container, &blob, &conditions, headers, size, action)
    })
    .await?;
    let mut r = response(StatusCode::OK, empty());
    write_headers(&mut r, &row);
    set_header(&mut r, "x-ms-blob-sequence-number", row.sequence_number.to_string());
    Ok(r)
}
