//! Blob Batch: `POST ?comp=batch` (account or container level) carrying up to 256 Delete
//! Blob or Set Blob Tier sub-requests as `multipart/mixed`, each an HTTP request of its own
//! (`application/http`) with its own credentials. Every sub-request is authenticated,
//! authorized and run as if it had arrived alone; the answer is 202 with one
//! `application/http` part per sub-request, in order, each carrying that sub-request's status
//! line, headers and (for errors) body.

use std::sync::Arc;

use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use lazuli_types::{AzureError, ErrorCode};

use super::read_small_body;
use crate::http_util::{full, header_str, response, set_header, ResponseBody};
use crate::router::{self, Operation, Query};
use crate::service::{render_error, Ctx, Frontend, SERVICE_VERSION};

/// The service's limit on sub-requests per batch.
pub const BATCH_REQUESTS_MAX: usize = 256;
/// A batch body holds only request lines and headers; 4 MiB is far above 256 of them.
const BATCH_BODY_BYTES_MAX: usize = 4 * 1024 * 1024;

fn invalid_batch(why: &str) -> AzureError {
    AzureError::new(ErrorCode::InvalidInput, format!("The batch request is invalid: {why}"))
}

/// One sub-request as parsed from its part.
struct SubRequest {
    content_id: Option<String>,
    method: Method,
    /// Path and query as sent.
    uri: String,
    headers: HeaderMap,
}

fn boundary(parts: &Parts) -> Result<String, AzureError> {
    let content_type = header_str(&parts.headers, "content-type")?.unwrap_or("");
    if !content_type
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("multipart/mixed")
    {
        return Err(AzureError::header("Content-Type", content_type));
    }
    content_type
        .split(';')
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v.trim().trim_matches('"').to_string())
        .filter(|b| !b.is_empty() && b.len() <= 200)
        .ok_or_else(|| AzureError::header("Content-Type", content_type))
}

/// Splits `text` at its first empty line (CRLF or LF line endings).
fn split_head(text: &str) -> (&str, &str) {
    for sep in ["\r\n\r\n", "\n\n"] {
        if let Some(at) = text.find(sep) {
            return (&text[..at], &text[at + sep.len()..]);
        }
    }
    (text, "")
}

fn header_lines(head: &str) -> impl Iterator<Item = (&str, &str)> {
    head.lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim(), v.trim()))
}

fn parse_body(body: &str, boundary: &str) -> Result<Vec<SubRequest>, AzureError> {
    let delimiter = format!("--{boundary}");
    let mut pieces = body.split(delimiter.as_str());
    // Text before the first delimiter is a preamble.
    pieces.next();
    let mut requests = Vec::new();
    let mut closed = false;
    for piece in pieces {
        if piece.starts_with("--") {
            closed = true;
            break;
        }
        let piece = piece.trim_start_matches(['\r', '\n']);
        let (part_head, embedded) = split_head(piece);
        let content_id = header_lines(part_head)
            .find(|(k, _)| k.eq_ignore_ascii_case("content-id"))
            .map(|(_, v)| v.to_string());
        let (request_head, _body) = split_head(embedded);
        let mut lines = request_head.lines();
        let request_line = lines.next().ok_or_else(|| invalid_batch("a part has no request"))?;
        let mut words = request_line.split_whitespace();
        let (Some(method), Some(uri)) = (words.next(), words.next()) else {
            return Err(invalid_batch("a sub-request line is malformed"));
        };
        let method = Method::from_bytes(method.as_bytes()).map_err(|_| invalid_batch("bad method"))?;
        let mut headers = HeaderMap::new();
        for (name, value) in header_lines(lines.collect::<Vec<_>>().join("\n").as_str()) {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid_batch("bad header name"))?;
            let value = HeaderValue::from_str(value).map_err(|_| invalid_batch("bad header value"))?;
            headers.append(name, value);
        }
        requests.push(SubRequest {
            content_id,
            method,
            uri: uri.to_string(),
            headers,
        });
        if requests.len() > BATCH_REQUESTS_MAX {
            return Err(AzureError::new(
                ErrorCode::InvalidInput,
                "The batch operation exceeds the maximum number of allowed subrequests (256).",
            ));
        }
    }
    if !closed {
        return Err(invalid_batch("the multipart body is not terminated"));
    }
    if requests.is_empty() {
        return Err(invalid_batch("the batch holds no sub-request"));
    }
    Ok(requests)
}

/// Runs one sub-request as the service would have run it alone.
async fn run(frontend: &Arc<Frontend>, outer: &Ctx, sub: &SubRequest) -> Result<Response<ResponseBody>, AzureError> {
    let uri: http::Uri = sub
        .uri
        .parse()
        .map_err(|_| AzureError::new(ErrorCode::InvalidUri, "The request URI is invalid."))?;
    let target = router::parse_target(uri.path(), Some(&outer.host))?;
    if target.account != outer.account() {
        return Err(AzureError::new(
            ErrorCode::InvalidUri,
            "A batch sub-request must address the batch's account.",
        ));
    }
    if let Some(container) = &outer.target.container {
        if target.container.as_ref() != Some(container) {
            return Err(AzureError::new(
                ErrorCode::InvalidUri,
                "A container batch sub-request must address a blob of that container.",
            ));
        }
    }
    let query = Query::parse(uri.query())?;
    let operation = router::classify(&sub.method, &target, &query, &sub.headers)?;
    if !matches!(operation, Operation::DeleteBlob | Operation::SetBlobTier) {
        return Err(AzureError::new(
            ErrorCode::InvalidInput,
            "A batch may only hold Delete Blob and Set Blob Tier sub-requests.",
        ));
    }
    if let Some(container) = &target.container {
        lazuli_types::names::validate_container_name(container)?;
    }
    if let Some(blob) = &target.blob {
        lazuli_types::names::validate_blob_name(blob)?;
    }
    let credential = frontend
        .embedded_credential(&sub.method, &target, uri.path(), uri.query(), &sub.headers)
        .ok_or_else(|| AzureError::new(ErrorCode::ResourceNotFound, "The specified resource does not exist."))??;
    let ctx = Ctx {
        request_id: outer.request_id.clone(),
        operation,
        target,
        query,
        now: outer.now,
        credential,
        host: outer.host.clone(),
        https: outer.https,
    };
    frontend.authorize(&ctx).await?;
    let mut builder = http::Request::builder().method(sub.method.clone()).uri(uri);
    for (name, value) in &sub.headers {
        builder = builder.header(name, value);
    }
    let (parts, ()) = builder
        .body(())
        .map_err(|_| AzureError::new(ErrorCode::InvalidInput, "The sub-request is invalid."))?
        .into_parts();
    match operation {
        Operation::DeleteBlob => super::blob::delete(frontend, &ctx, &parts).await,
        _ => super::tier::set_tier(frontend, &ctx, &parts).await,
    }
}

/// Writes one response part: the sub-response's status line, headers and body.
async fn write_part(
    out: &mut Vec<u8>,
    boundary: &str,
    content_id: Option<&str>,
    reply: Response<ResponseBody>,
    request_id: &str,
) {
    out.extend_from_slice(format!("--{boundary}\r\nContent-Type: application/http\r\n").as_bytes());
    if let Some(id) = content_id {
        out.extend_from_slice(format!("Content-ID: {id}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    let (parts, body) = reply.into_parts();
    let body = body.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
    let reason = parts.status.canonical_reason().unwrap_or("");
    out.extend_from_slice(format!("HTTP/1.1 {} {reason}\r\n", parts.status.as_u16()).as_bytes());
    for (name, value) in &parts.headers {
        if name == http::header::CONTENT_LENGTH {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("x-ms-request-id: {request_id}\r\nx-ms-version: {SERVICE_VERSION}\r\n").as_bytes());
    out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(&body);
    out.extend_from_slice(b"\r\n");
}

pub async fn batch(
    frontend: &Arc<Frontend>,
    ctx: &Ctx,
    parts: &Parts,
    body: Incoming,
) -> Result<Response<ResponseBody>, AzureError> {
    let boundary = boundary(parts)?;
    let body = read_small_body(body, BATCH_BODY_BYTES_MAX).await?;
    let text = std::str::from_utf8(&body).map_err(|_| invalid_batch("the body is not text"))?;
    let requests = parse_body(text, &boundary)?;
    let response_boundary = format!("batchresponse_{}", ctx.request_id);
    let mut out = Vec::new();
    for (n, sub) in requests.iter().enumerate() {
        let request_id = format!("{}-{n}", ctx.request_id);
        let reply = match run(frontend, ctx, sub).await {
            Ok(reply) => reply,
            Err(error) => render_error(&error, &request_id, &sub.method, false),
        };
        write_part(
            &mut out,
            &response_boundary,
            sub.content_id.as_deref(),
            reply,
            &request_id,
        )
        .await;
    }
    out.extend_from_slice(format!("--{response_boundary}--\r\n").as_bytes());
    let mut r = response(StatusCode::ACCEPTED, full(out));
    set_header(
        &mut r,
        "content-type",
        format!("multipart/mixed; boundary={response_boundary}"),
    );
    Ok(r)
}
