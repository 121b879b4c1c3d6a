//! Blob index tags: Get/Set Blob Tags and Find Blobs by Tags (account and container level).

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as MARKER_BASE64;
use base64::Engine;
use http::request::Parts;
use http::{Response, StatusCode};
use hyper::body::Incoming;
use lazuli_types::tag_expr::CONTAINER_KEY;
use lazuli_types::{AzureError, ErrorCode};

use super::service::{max_results, service_endpoint};
use super::{blocking, read_small_body};
use crate::http_util::{self, empty, full, header_str, response, set_header, ResponseBody};
use crate::service::{Ctx, Frontend};
use crate::{tag_expr, xml};

/// A Set Blob Tags body is at most ten short tags; anything past this is not a tag document.
const TAGS_BODY_BYTES_MAX: usize = 64 * 1024;

fn names(ctx: &Ctx) -> (String, String, String) {
    ctx.blob_names()
}

pub async fn get_tags(
    frontend: &Arc<Frontend>,
    ctx: &Ctx,
    parts: &Parts,
) -> Result<Response<ResponseBody>, AzureError> {
    let conditions = http_util::conditions(&parts.headers)?;
    let (account, container, blob) = names(ctx);
    let tags = blocking(frontend, move |p| {
        p.get_blob_tags(&account, &container, &blob, &conditions)
    })
    .await?;
    let mut r = response(StatusCode::OK, full(xml::write_tags(&tags)));
    set_header(&mut r, "content-type", "application/xml");
    Ok(r)
}

pub async fn set_tags(
    frontend: &Arc<Frontend>,
    ctx: &Ctx,
    parts: &Parts,
    body: Incoming,
) -> Result<Response<ResponseBody>, AzureError> {
    let conditions = http_util::conditions(&parts.headers)?;
    let body = read_small_body(body, TAGS_BODY_BYTES_MAX).await?;
    if let Some(value) = header_str(&parts.headers, "content-md5")? {
        let expected = lazuli_types::checksum::md5_from_header(value).ok_or_else(|| {
            AzureError::new(
                ErrorCode::InvalidMd5,
                "The MD5 value specified in the request is invalid.",
            )
        })?;
        if expected != lazuli_types::checksum::md5(&body) {
            return Err(AzureError::new(
                ErrorCode::Md5Mismatch,
                "The MD5 value specified in the request did not match with the MD5 value calculated by the server.",
            ));
        }
    }
    let tags = xml::parse_tags(&body)?;
    let (account, container, blob) = names(ctx);
    blocking(frontend, move |p| {
        p.set_blob_tags(&account, &container, &blob, tags, &conditions)
    })
    .await?;
    Ok(response(StatusCode::NO_CONTENT, empty()))
}

/// Find Blobs by Tags. The continuation marker is the index key (after the account) of the
/// next result, base64url-encoded: index keys hold NUL separators, which XML cannot carry.
pub async fn find_blobs(frontend: &Arc<Frontend>, ctx: &Ctx) -> Result<Response<ResponseBody>, AzureError> {
    let where_expr = ctx.query.get("where").unwrap_or("").to_string();
    let filter = tag_expr::parse_where(Some(&where_expr))?;
    let max = max_results(ctx)?;
    let marker = match ctx.query.get("marker").filter(|m| !m.is_empty()) {
        Some(m) => Some(
            MARKER_BASE64
                .decode(m)
                .map_err(|_| AzureError::query("marker", m, "The marker is not valid."))?,
        ),
        None => None,
    };
    let account = ctx.account().to_string();
    let container = ctx.target.container.clone();
    let wanted_keys: Vec<String> = filter
        .iter()
        .filter(|c| c.key != CONTAINER_KEY)
        .map(|c| c.key.clone())
        .collect();
    let found = blocking(frontend, move |p| {
        p.find_blobs_by_tags(&account, container.as_deref(), &filter, marker.as_deref(), max)
    })
    .await?;
    // The service lists, for each blob, the tags that the expression names.
    let results: Vec<xml::FoundBlob> = found
        .items
        .into_iter()
        .map(|(container, name, tags)| {
            let matched = tags.into_iter().filter(|(k, _)| wanted_keys.contains(k)).collect();
            (container, name, matched)
        })
        .collect();
    let next_marker = found.next_marker.map(|m| MARKER_BASE64.encode(m));
    let body = xml::write_find_blobs(&service_endpoint(ctx), &where_expr, &results, next_marker.as_deref());
    let mut r = response(StatusCode::OK, full(body));
    set_header(&mut r, "content-type", "application/xml");
    Ok(r)
}
