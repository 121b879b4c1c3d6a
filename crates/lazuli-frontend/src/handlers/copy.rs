//! Copies: Copy Blob (asynchronous), Copy Blob From URL (synchronous), Put Blob From URL,
//! Put Block From URL and Abort Copy Blob.
//!
//! A source on this server (the URL names this server's host and one of its accounts) is
//! authorized like a read of it (a SAS in the URL, public access, or for the destination's
//! own account the destination request's Shared Key) and copied by sharing its segments: the
//! destination row references the same blob-data records, so no byte moves. Any other
//! source is fetched over `http://` or `https://` (rustls, trusting the platform's CA bundle
//! and `LAZULI_COPY_SOURCE_CA_FILE`) and streamed into the blob-data stream. Copy Blob from another server answers 202 `pending`
//! at once and finishes in the background (`success`, or `failed` with the reason).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::request::Parts;
use http::{HeaderMap, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use lazuli_partition::{BlobRow, CopyState, HttpHeaders, NewBlobOptions, Segment, UploadedBody};
use lazuli_types::checksum::{Crc64, Md5Hasher};
use lazuli_types::conditions::Conditions;
use lazuli_types::range::{ByteRange, Resolved};
use lazuli_types::time_fmt::rfc1123;
use lazuli_types::{AzureError, ErrorCode};

use super::blocking;
use crate::auth::{Credential, Permission, RequiredAccess, ResourceType, Service};
use crate::header_case::{CaseIo, ConnectionCase};
use crate::http_util::{self, empty, header_str, names, response, set_header, ResponseBody};
use crate::router::{self, Operation, Query, Target};
use crate::service::{Ctx, Frontend};

/// Copy Blob From URL and Put Blob From URL copy at most 256 MiB in the request.
const SYNC_COPY_BYTES_MAX: u64 = 256 * 1024 * 1024;
/// An asynchronous copy from another server may be as large as a Put Blob.
const ASYNC_COPY_BYTES_MAX: u64 = 5000 * 1024 * 1024;
/// Put Block From URL copies at most one block.
const BLOCK_FROM_URL_BYTES_MAX: u64 = 4000 * 1024 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);

enum Source {
    Local { target: Target, uri: Uri },
    Remote(Uri),
}

fn cannot_verify(status: u16, why: impl Into<String>) -> AzureError {
    AzureError::new(
        ErrorCode::CannotVerifyCopySource,
        format!(
            "Could not verify the copy source within the specified time. {}",
            why.into()
        ),
    )
    .with_status(status)
}

fn copy_source_header(parts: &Parts) -> Result<String, AzureError> {
    header_str(&parts.headers, "x-ms-copy-source")?
        .map(str::to_string)
        .ok_or_else(|| AzureError::missing_header("x-ms-copy-source"))
}

fn parse_source(ctx: &Ctx, value: &str) -> Result<Source, AzureError> {
    let invalid = || {
        AzureError::new(
            ErrorCode::InvalidHeaderValue,
            "The value for one of the HTTP headers is not in the correct format.",
        )
        .with_detail("HeaderName", "x-ms-copy-source")
        .with_detail("HeaderValue", value.to_string())
    };
    let uri: Uri = value.trim().parse().map_err(|_| invalid())?;
    let authority = uri.authority().ok_or_else(invalid)?.as_str().to_string();
    if !matches!(uri.scheme_str(), Some("http") | Some("https")) {
        return Err(invalid());
    }
    if authority.eq_ignore_ascii_case(&ctx.host) {
        let target = router::parse_target(uri.path(), Some(&authority))?;
        if target.container.is_some() && target.blob.is_some() {
            return Ok(Source::Local { target, uri });
        }
    }
    Ok(Source::Remote(uri))
}

/// The `x-ms-source-if-*` conditions, as conditions on the source.
fn source_conditions(headers: &HeaderMap) -> Result<Conditions, AzureError> {
    Ok(Conditions {
        if_match: header_str(headers, "x-ms-source-if-match")?.map(str::to_string),
        if_none_match: header_str(headers, "x-ms-source-if-none-match")?.map(str::to_string),
        if_modified_since: http_util::header_date(headers, "x-ms-source-if-modified-since")?,
        if_unmodified_since: http_util::header_date(headers, "x-ms-source-if-unmodified-since")?,
        if_tags: match header_str(headers, "x-ms-source-if-tags")? {
            Some(v) => Some(
                lazuli_types::tag_expr::parse(v, lazuli_types::tag_expr::Dialect::Condition)
                    .map_err(|_| AzureError::header("x-ms-source-if-tags", v))?,
            ),
            None => None,
        },
        ..Default::default()
    })
}

/// Checks that the request may read a source blob of this server.
/// A source on this server, authorized and read under its blob's lock after its source
/// conditions; its segments stay referenced until the caller unpins it.
async fn pin_local_source(
    frontend: &Arc<Frontend>,
    ctx: &Ctx,
    parts: &Parts,
    target: &Target,
    uri: &Uri,
) -> Result<lazuli_partition::PinnedSource, AzureError> {
    authorize_local(frontend, ctx, target, uri).await?;
    let conditions = source_conditions(&parts.headers)?;
    let (a, c, b) = (
        target.account.clone(),
        target.container.clone().unwrap_or_default(),
        target.blob.clone().unwrap_or_default(),
    );
    blocking(frontend, move |p| p.pin_source(&a, &c, &b, &conditions))
        .await
        .map_err(|e| match e.code {
            ErrorCode::BlobNotFound | ErrorCode::ContainerNotFound => cannot_verify(404, e.message),
            _ => e,
        })
}

async fn authorize_local(frontend: &Arc<Frontend>, ctx: &Ctx, target: &Target, uri: &Uri) -> Result<(), AzureError> {
    let has_sig = Query::parse(uri.query()).map(|q| q.has("sig")).unwrap_or(false);
    // The destination's own account key also grants reading its sources in that account.
    if !has_sig && target.account == ctx.account() && ctx.credential == Credential::SharedKey {
        return Ok(());
    }
    let denied = |e: AzureError| cannot_verify(e.status(), e.message);
    let credential = match frontend.url_credential(target, uri.path(), uri.query()) {
        Some(result) => result.map_err(denied)?,
        None => return Err(cannot_verify(404, "The source account does not exist.")),
    };
    match credential {
        Credential::Sas(grant) => grant
            .authorize(&RequiredAccess {
                permission: Permission::Read,
                resource: ResourceType::Object,
                container: target.container.as_deref(),
                blob: target.blob.as_deref(),
                service: Service::Blob,
            })
            .map_err(denied),
        other => {
            let source_ctx = Ctx {
                request_id: ctx.request_id.clone(),
                operation: Operation::GetBlob,
                target: target.clone(),
                query: Query::default(),
                now: ctx.now,
                credential: other,
                host: ctx.host.clone(),
                https: ctx.https,
            };
            frontend.authorize(&source_ctx).await.map_err(denied)
        }
    }
}

/// The platform's CA bundle (Debian/Ubuntu/Alpine path); trusted when present.
const PLATFORM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The TLS client for `https://` copy sources: trusts the platform's CA bundle and the CA
/// certificates of `extra_ca_files` (each must hold at least one).
pub fn tls_connector(extra_ca_files: &[std::path::PathBuf]) -> Result<tokio_rustls::TlsConnector, String> {
    use tokio_rustls::rustls;
    let mut roots = rustls::RootCertStore::empty();
    let read = |path: &std::path::Path| -> Result<Vec<_>, String> {
        let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        rustls_pemfile::certs(&mut std::io::BufReader::new(file))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{}: {e}", path.display()))
    };
    let platform = std::path::Path::new(PLATFORM_CA_BUNDLE);
    if platform.exists() {
        // A bundle entry rustls cannot use is skipped, as other TLS clients do.
        let (_added, _ignored) = roots.add_parsable_certificates(read(platform)?);
    }
    for path in extra_ca_files {
        let certs = read(path)?;
        if certs.is_empty() {
            return Err(format!("{}: no PEM certificate in it", path.display()));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// GETs a URL of another server (`http://`, or `https://` through the copy TLS client);
/// answers the response once its status is 2xx.
async fn fetch(frontend: &Frontend, uri: &Uri, headers: &[(&str, String)]) -> Result<Response<Incoming>, AzureError> {
    let https = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => return Err(cannot_verify(400, "Only http:// and https:// sources can be copied.")),
    };
    let host = uri.host().unwrap_or_default();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let unreachable = |why: String| cannot_verify(404, why);
    // `Uri::host` keeps the brackets of an IPv6 literal; sockets and TLS want the address.
    let bare_host = host.trim_start_matches('[').trim_end_matches(']');
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect((bare_host, port)))
        .await
        .map_err(|_| unreachable("The source did not answer in time.".into()))?
        .map_err(|e| unreachable(format!("The source could not be reached: {e}.")))?;
    let request = source_request(uri, headers)?;
    // The source's metadata names, spelled as it sent them (hyper lowercases them).
    let case = Arc::new(ConnectionCase::default());
    let mut reply = if https {
        let connector = frontend
            .copy_tls
            .as_ref()
            .map_err(|e| cannot_verify(400, format!("No TLS client for https:// sources: {e}.")))?;
        let name = tokio_rustls::rustls::pki_types::ServerName::try_from(bare_host.to_string())
            .map_err(|_| cannot_verify(400, "The source host is not a valid TLS server name."))?;
        let tls = tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name, stream))
            .await
            .map_err(|_| unreachable("The source did not answer in time.".into()))?
            .map_err(|e| unreachable(format!("The TLS handshake with the source failed: {e}.")))?;
        send_source_request(TokioIo::new(CaseIo::client(tls, case.clone())), request).await?
    } else {
        send_source_request(TokioIo::new(CaseIo::client(stream, case.clone())), request).await?
    };
    if !reply.status().is_success() {
        let status = reply.status().as_u16();
        return Err(cannot_verify(
            // A failed source condition or range keeps its status, as in the service.
            if matches!(status, 401 | 403 | 404 | 412 | 416) {
                status
            } else {
                409
            },
            format!("The source answered {status}."),
        ));
    }
    if let Some(names) = case.response_names() {
        reply.extensions_mut().insert(names);
    }
    Ok(reply)
}

/// The GET of a source: its path and query, Host, the service version and `headers`.
fn source_request(uri: &Uri, headers: &[(&str, String)]) -> Result<http::Request<Empty<Bytes>>, AzureError> {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = http::Request::get(path).header(http::header::HOST, uri.authority().map_or("", |a| a.as_str()));
    request = request.header("x-ms-version", crate::SERVICE_VERSION);
    for (name, value) in headers {
        request = request.header(*name, value.as_str());
    }
    request
        .body(Empty::<Bytes>::new())
        .map_err(|_| AzureError::internal("could not build the source request"))
}

/// Sends one request over a fresh HTTP/1.1 connection on `io` (plain or TLS).
async fn send_source_request<I>(io: I, request: http::Request<Empty<Bytes>>) -> Result<Response<Incoming>, AzureError>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let unreachable = |why: String| cannot_verify(404, why);
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| unreachable(format!("The source could not be reached: {e}.")))?;
    tokio::spawn(async move {
        // Ends with the response body (or an error the reader sees).
        let _ = connection.await;
    });
    tokio::time::timeout(RESPONSE_TIMEOUT, sender.send_request(request))
        .await
        .map_err(|_| unreachable("The source did not answer in time.".into()))?
        .map_err(|e| unreachable(format!("The source failed: {e}.")))
}

/// Headers for a source GET: the source conditions, the caller's bearer token, a range.
fn source_request_headers(parts: &Parts, range: Option<&str>) -> Result<Vec<(&'static str, String)>, AzureError> {
    let mut out = Vec::new();
    for (from, to) in [
        ("x-ms-source-if-match", "if-match"),
        ("x-ms-source-if-none-match", "if-none-match"),
        ("x-ms-source-if-modified-since", "if-modified-since"),
        ("x-ms-source-if-unmodified-since", "if-unmodified-since"),
        ("x-ms-copy-source-authorization", "authorization"),
    ] {
        if let Some(v) = header_str(&parts.headers, from)? {
            out.push((to, v.to_string()));
        }
    }
    if let Some(range) = range {
        out.push(("x-ms-range", range.to_string()));
    }
    Ok(out)
}

/// Content headers and metadata of a source response (metadata names as the source sent
/// them).
fn source_properties(reply: &Response<Incoming>) -> (HttpHeaders, Vec<(String, String)>) {
    let headers = reply.headers();
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let props = HttpHeaders {
        content_type: get("content-type"),
        content_encoding: get("content-encoding"),
        content_language: get("content-language"),
        content_md5: get("content-md5").or_else(|| get("x-ms-blob-content-md5")),
        cache_control: get("cache-control"),
        content_disposition: get("content-disposition"),
    };
    let mut metadata: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(name, value)| {
            let key = name.as_str().strip_prefix("x-ms-meta-")?;
            Some((key.to_string(), value.to_str().ok()?.to_string()))
        })
        .collect();
    if let Some(names) = reply.extensions().get::<crate::header_case::MetadataNames>() {
        names.respell(&mut metadata);
    }
    (props, metadata)
}

fn declared_len(reply: &Response<Incoming>) -> Option<u64> {
    reply
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

static COPY_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A copy id in the service's GUID shape, unique in this process and across restarts.
fn new_copy_id() -> String {
    let nanos = lazuli_partition::now_nanos() as u128;
    let n = COPY_COUNTER.fetch_add(1, Ordering::Relaxed) as u128;
    let x = nanos ^ (n << 64) ^ (std::process::id() as u128) << 96;
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        (x >> 96) as u32,
        (x >> 80) as u16,
        (x >> 68) as u16 & 0xfff,
        (x >> 56) as u16 & 0xfff,
        (x as u64) & 0xffff_ffff_ffff
    )
}

fn names(ctx: &Ctx) -> (String, String, String) {
    ctx.blob_names()
}

fn new_blob_options(parts: &Parts) -> Result<NewBlobOptions, AzureError> {
    Ok(NewBlobOptions {
        tags: crate::tag_expr::tags_header(&parts.headers)?,
        tier: super::tier::access_tier(&parts.headers)?,
        copy: None,
    })
}

fn optional_metadata(parts: &Parts) -> Result<Option<Vec<(String, String)>>, AzureError> {
    let metadata = http_util::metadata(parts)?;
    Ok((!metadata.is_empty()).then_some(metadata))
}

/// Copies a source of this server onto the destination by sharing segments.
#[allow(clippy::too_many_arguments)]
async fn copy_local(
    frontend: &Arc<Frontend>,
    ctx: &Ctx,
    parts: &Parts,
    target: &Target,
    uri: &Uri,
    headers: Option<HttpHeaders>,
    metadata: Option<Vec<(String, String)>>,
    options: NewBlobOptions,
) -> Result<BlobRow, AzureError> {
    authorize_local(frontend, ctx, target, uri).await?;
    let source_conditions = source_conditions(&parts.headers)?;
    let conditions = http_util::conditions(&parts.headers)?;
    let (account, container, blob) = names(ctx);
    let (src_account, src_container, src_blob) = (
        target.account.clone(),
        target.container.clone().unwrap_or_default(),
        target.blob.clone().unwrap_or_default(),
    );
    blocking(frontend, move |p| {
        let pinned = p
            .pin_source(&src_account, &src_container, &src_blob, &source_conditions)
            .map_err(|e| match e.code {
                ErrorCode::BlobNotFound | ErrorCode::ContainerNotFound => cannot_verify(404, e.message),
                _ => e,
            })?;
        p.copy_from_pinned(
            &account,
            &container,
            &blob,
            pinned,
            headers,
            metadata,
            &options,
            &conditions,
        )
    })
    .await
}

fn copy_reply(status: StatusCode, row: &BlobRow) -> Response<ResponseBody> {
    let mut r = response(status, empty());
    set_header(&mut r, "etag", &row.etag);
    set_header(
        &mut r,
        "last-modified",
        rfc1123(lazuli_partition::time_from_nanos(row.last_modified)),
    );
    if let Some(copy) = &row.copy {
        set_header(&mut r, "x-ms-copy-id", &copy.id);
        set_header(&mut r, "x-ms-copy-status", &copy.status);
    }
    r
}

/// Copy Blob (asynchronous) and Copy Blob From URL (`x-ms-requires-sync: true`).
pub async fn copy_blob(
    frontend: &Arc<Frontend>,
    ctx: &Ctx,
    parts: &Parts,
    sync: bool,
) -> Result<Response<ResponseBody>, AzureError> {
    let source_text = copy_source_header(parts)?;
    let source = parse_source(ctx, &source_text)?;
    let metadata = optional_metadata(parts)?;
    let mut options = new_blob_options(parts)?;
    let copy_id = new_copy_id();
    match source {
        Source::Local { target, uri } => {
            // Finished before the answer: the reply already says `success`.
            let size_guard = sync;
            options.copy = Some(CopyState::finished(&copy_id, &source_text, 0));
            let row = copy_local(frontend, ctx, parts, &target, &uri, None, metadata, options).await?;
            if size_guard && row.content_length > SYNC_COPY_BYTES_MAX {
                // The service refuses larger synchronous copies; the copy already shares
                // segments, so it costs nothing, but the answer must be the service's.
                return Err(cannot_verify(409, "The source is larger than 256 MiB."));
            }
            Ok(copy_reply(StatusCode::ACCEPTED, &row))
        }
        Source::Remote(uri) if sync => {
            let row = fetch_into_blob(frontend, ctx, parts, &uri, metadata, {
                options.copy = Some(CopyState::finished(&copy_id, &source_text, 0));
                options
            })
            .await?;
            Ok(copy_reply(StatusCode::ACCEPTED, &row))
        }
        Source::Remote(uri) => {
            let conditions = http_util::conditions(&parts.headers)?;
            let pending = CopyState {
                id: copy_id.clone(),
                source: source_text.clone(),
                status: "pending".into(),
                progress: "0/0".into(),
                ..Default::default()
            };
            let (account, container, blob) = names(ctx);
            let start_options = options.clone();
            let row = blocking(frontend, move |p| {
                let row = p.start_pending_copy(&account, &container, &blob, pending, &start_options, &conditions)?;
                if let Some(metadata) = metadata {
                    // The destination keeps the metadata of the request; the copy fills the rest.
                    return p.update_blob(&account, &container, &blob, &Conditions::default(), |r| {
                        r.metadata = metadata
                    });
                }
                Ok(row)
            })
            .await?;
            let request_headers = source_request_headers(parts, None)?;
            let frontend = frontend.clone();
            let (account, container, blob) = names(ctx);
            tokio::spawn(async move {
                let outcome = match fetch(&frontend, &uri, &request_headers).await {
                    Ok(reply) => {
                        let (props, source_metadata) = source_properties(&reply);
                        crate::body::receive(
                            &frontend.partition,
                            reply.into_body(),
                            ASYNC_COPY_BYTES_MAX,
                            true,
                            true,
                            None,
                        )
                        .await
                        .map(|received| (received.body, props, source_metadata))
                        .map_err(|e| e.message)
                    }
                    Err(e) => Err(e.message),
                };
                let result = blocking(&frontend, move |p| {
                    p.finish_copy(&account, &container, &blob, &copy_id, outcome)
                })
                .await;
                if let Err(error) = result {
                    tracing::debug!(?error, "asynchronous copy ended without effect");
                }
            });
            Ok(copy_reply(StatusCode::ACCEPTED, &row))
        }
    }
}

/// Fetches a source of another server into the destination blob (synchronously).
async fn fetch_into_blob(
    frontend: &Arc<Frontend>,
    ctx: &Ctx,
    parts: &Parts,
    uri: &Uri,
    metadata: Option<Vec<(String, String)>>,
    options: NewBlobOptions,
) -> Result<BlobRow, AzureError> {
    let reply = fetch(frontend, uri, &source_request_headers(parts, None)?).await?;
    if declared_len(&reply).is_some_and(|n| n > SYNC_COPY_BYTES_MAX) {
        return Err(cannot_verify(409, "The source is larger than 256 MiB."));
    }
    let (props, source_metadata) = source_properties(&reply);
    let received = crate::body::receive(
        &frontend.partition,
        reply.into_body(),
        SYNC_COPY_BYTES_MAX,
        true,
        true,
        None,
    )
    .await?;
    let conditions = http_util::conditions(&parts.headers)?;
    let (account, container, blob) = names(ctx);
    let metadata = metadata.unwrap_or(source_metadata);
    let mut options = options;
    let len = received.body.len;
    if let Some(copy) = &mut options.copy {
        copy.progress = format!("{len}/{len}");
    }
    blocking(frontend, move |p| {
        p.put_blob_with(
            &account,
            &container,
            &blob,
            received.body,
            props,
            metadata,
            &conditions,
            &options,
        )
    })
    .await
}

/// Put Blob From URL: a block blob with the content of the source, answered 201.
pub async fn put_blob_from_url(
    frontend: &Arc<Frontend>,
    ctx: &Ctx,
    parts: &Parts,
) -> Result<Response<ResponseBody>, AzureError> {
    let source_text = copy_source_header(parts)?;
    let source = parse_source(ctx, &source_text)?;
    // The request's metadata replaces the source's (none sent: none kept, as in the service).
    let metadata = Some(http_util::metadata(parts)?);
    let options = new_blob_options(parts)?;
    let copy_properties = header_str(&parts.headers, "x-ms-copy-source-blob-properties")?
        .is_none_or(|v| !v.eq_ignore_ascii_case("false"));
    let request_headers = http_util::blob_http_headers(&parts.headers, false)?;
    let headers = (!copy_properties).then_some(request_headers);
    let row = match source {
        Source::Local { target, uri } => {
            copy_local(frontend, ctx, parts, &target, &uri, headers, metadata, options).await?
        }
        Source::Remote(uri) => fetch_into_blob(frontend, ctx, parts, &uri, metadata, options).await?,
    };
    if row.content_length > SYNC_COPY_BYTES_MAX {
        return Err(cannot_verify(409, "The source is larger than 256 MiB."));
    }
    let mut r = copy_reply(StatusCode::CREATED, &row);
    if let Some(md5) = &row.headers.content_md5 {
        set_header(&mut r, names::CONTENT_MD5, md5);
    }
    set_header(&mut r, names::X_MS_REQUEST_SERVER_ENCRYPTED, "true");
    Ok(r)
}

/// Reads bytes [start, start+len) of a local blob into new segments of the blob-data
/// stream (a block may cut the source's segments anywhere, so it cannot share them).
async fn local_range_upload(
    frontend: &Arc<Frontend>,
    row: &BlobRow,
    start: u64,
    len: u64,
) -> Result<(UploadedBody, u64), AzureError> {
    let partition = frontend.partition.clone();
    let segment_max = partition.options().segment_bytes_max;
    let mut body = crate::body::blob_range(&partition, row, start, len);
    let mut buffer = BytesMut::new();
    let mut segments: Vec<Segment> = Vec::new();
    let mut md5 = Md5Hasher::new();
    let mut crc = Crc64::new();
    let release = |segments: &[Segment]| partition.release_segments(segments);
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(frame) => frame,
            Err(_) => {
                release(&segments);
                return Err(AzureError::internal("reading the source failed"));
            }
        };
        let Ok(data) = frame.into_data() else { continue };
        md5.update(&data);
        crc.update(&data);
        buffer.extend_from_slice(&data);
        while buffer.len() >= segment_max {
            let chunk = buffer.split_to(segment_max);
            match partition.append_segment(&chunk) {
                Ok(segment) => segments.push(segment),
                Err(e) => {
                    release(&segments);
                    return Err(e.into());
                }
            }
        }
    }
    if !buffer.is_empty() {
        match partition.append_segment(&buffer) {
            Ok(segment) => segments.push(segment),
            Err(e) => {
                release(&segments);
                return Err(e.into());
            }
        }
    }
    Ok((
        UploadedBody {
            inline: None,
            segments,
            len,
            md5: md5.finish(),
        },
        crc.finish(),
    ))
}

/// Put Block From URL: an uncommitted block with (a range of) the source's content.
pub async fn put_block_from_url(
    frontend: &Arc<Frontend>,
    ctx: &Ctx,
    parts: &Parts,
) -> Result<Response<ResponseBody>, AzureError> {
    let block_id = super::blob::block_id(ctx)?;
    let source_text = copy_source_header(parts)?;
    let source = parse_source(ctx, &source_text)?;
    let range_text = header_str(&parts.headers, "x-ms-source-range")?.map(str::to_string);
    let range = match &range_text {
        Some(text) => Some(ByteRange::parse(text).ok_or_else(|| AzureError::header("x-ms-source-range", text))?),
        None => None,
    };
    let body = match source {
        Source::Local { target, uri } => {
            let pinned = pin_local_source(frontend, ctx, parts, &target, &uri).await?;
            let size = pinned.row.content_length;
            let (start, len) = match range.map(|r| r.resolve(size)) {
                None => (0, size),
                Some(Resolved::Partial { start, len }) => (start, len),
                Some(Resolved::Unsatisfiable) => {
                    frontend.partition.unpin(pinned);
                    return Err(AzureError::new(
                        ErrorCode::InvalidRange,
                        "The range specified is invalid for the current size of the resource.",
                    )
                    .with_status(416));
                }
            };
            let uploaded = local_range_upload(frontend, &pinned.row, start, len).await;
            frontend.partition.unpin(pinned);
            uploaded?.0
        }
        Source::Remote(uri) => {
            let reply = fetch(frontend, &uri, &source_request_headers(parts, range_text.as_deref())?).await?;
            crate::body::receive(
                &frontend.partition,
                reply.into_body(),
                BLOCK_FROM_URL_BYTES_MAX,
                false,
                true,
                None,
            )
            .await?
            .body
        }
    };
    let md5_value = body.md5;
    let (account, container, blob) = names(ctx);
    blocking(frontend, move |p| {
        p.put_block(&account, &container, &blob, &block_id, body)
    })
    .await?;
    let mut r = response(StatusCode::CREATED, empty());
    set_header(
        &mut r,
        names::CONTENT_MD5,
        lazuli_types::checksum::md5_to_header(&md5_value),
    );
    set_header(&mut r, names::X_MS_REQUEST_SERVER_ENCRYPTED, "true");
    Ok(r)
}

/// The bytes of a copy source (or a range of it) for Append Block From URL and Put Page From
/// URL, in the blob-data stream, with their CRC-64 when they were read (`None` when the
/// segments of a source of this server were shared without reading them).
pub(crate) struct SourceBytes {
    pub body: UploadedBody,
    pub crc64: Option<u64>,
}

/// The `x-ms-source-content-md5` and `x-ms-source-content-crc64` the source bytes must have.
fn source_checksums(parts: &Parts) -> Result<(Option<[u8; 16]>, Option<u64>), AzureError> {
    let md5 = match header_str(&parts.headers, "x-ms-source-content-md5")? {
        Some(v) => Some(
            lazuli_types::checksum::md5_from_header(v)
                .ok_or_else(|| AzureError::header("x-ms-source-content-md5", v))?,
        ),
        None => None,
    };
    let crc = match header_str(&parts.headers, "x-ms-source-content-crc64")? {
        Some(v) => Some(
            lazuli_types::checksum::crc64_from_header(v)
                .ok_or_else(|| AzureError::header("x-ms-source-content-crc64", v))?,
        ),
        None => None,
    };
    Ok((md5, crc))
}

fn invalid_source_range() -> AzureError {
    AzureError::new(
        ErrorCode::InvalidRange,
        "The range specified is invalid for the current size of the resource.",
    )
    .with_status(416)
}

fn too_large(max: u64) -> AzureError {
    AzureError::new(
        ErrorCode::RequestBodyTooLarge,
        "The request body is too large and exceeds the maximum permissible limit.",
    )
    .with_detail("MaxLimit", max.to_string())
}

/// The whole segments that hold exactly `[start, start + len)` of a blob, when its body is
/// in the blob-data stream and the range starts and ends on segment boundaries: those can
/// be shared by the destination instead of copied.
fn whole_segments(row: &BlobRow, start: u64, len: u64) -> Option<Vec<Segment>> {
    if row.inline.is_some() || len == 0 {
        return None;
    }
    row.read_plan(start, len)
        .into_iter()
        .map(|piece| match piece {
            lazuli_partition::page::Piece::Data { segment, skip: 0, len } if len == segment.len => Some(segment),
            _ => None,
        })
        .collect()
}

/// Reads the `x-ms-copy-source` of the request (`range` of it, else all of it) into the
/// blob-data stream, checking the source conditions and the source checksums. With
/// `exact_len`, the source must hold the whole range (416 otherwise). The caller owns the
/// segments of the answer (one reference each) and must hand them on or release them.
pub(crate) async fn read_source_range(
    frontend: &Arc<Frontend>,
    ctx: &Ctx,
    parts: &Parts,
    range: Option<ByteRange>,
    exact_len: Option<u64>,
    max: u64,
) -> Result<SourceBytes, AzureError> {
    let source_text = copy_source_header(parts)?;
    let source = parse_source(ctx, &source_text)?;
    let (want_md5, want_crc) = source_checksums(parts)?;
    let read = match source {
        Source::Local { target, uri } => {
            let pinned = pin_local_source(frontend, ctx, parts, &target, &uri).await?;
            let size = pinned.row.content_length;
            let (start, len) = match range.map(|r| r.resolve(size)) {
                None => (0, size),
                Some(Resolved::Partial { start, len }) => (start, len),
                Some(Resolved::Unsatisfiable) => {
                    frontend.partition.unpin(pinned);
                    return Err(invalid_source_range());
                }
            };
            if exact_len.is_some_and(|n| n != len) {
                frontend.partition.unpin(pinned);
                return Err(invalid_source_range());
            }
            if len > max {
                frontend.partition.unpin(pinned);
                return Err(too_large(max));
            }
            // Checksums to verify need the bytes; otherwise whole segments are shared.
            let shared = if want_md5.is_none() && want_crc.is_none() {
                whole_segments(&pinned.row, start, len)
            } else {
                None
            };
            let read = match shared {
                Some(segments) => {
                    // The caller's reference, taken before the pin ends.
                    frontend.partition.reference_segments(&segments);
                    Ok(SourceBytes {
                        body: UploadedBody {
                            inline: None,
                            segments,
                            len,
                            md5: [0; 16],
                        },
                        crc64: None,
                    })
                }
                None => local_range_upload(frontend, &pinned.row, start, len)
                    .await
                    .map(|(body, crc)| SourceBytes { body, crc64: Some(crc) }),
            };
            frontend.partition.unpin(pinned);
            read?
        }
        Source::Remote(uri) => {
            let range_text = range.map(|r| match r.end {
                Some(end) => format!("bytes={}-{}", r.start, end),
                None => format!("bytes={}-", r.start),
            });
            let reply = fetch(frontend, &uri, &source_request_headers(parts, range_text.as_deref())?).await?;
            if declared_len(&reply).is_some_and(|n| n > max) {
                return Err(too_large(max));
            }
            let received = crate::body::receive(&frontend.partition, reply.into_body(), max, false, true, None)
                .await
                .map_err(|e| match e.code {
                    ErrorCode::RequestBodyTooLarge => e,
                    // The source broke off: not the fault of the request's body.
                    _ => cannot_verify(409, format!("Reading the source failed: {}", e.message)),
                })?;
            if exact_len.is_some_and(|n| n != received.body.len) {
                frontend.partition.release_segments(&received.body.segments);
                return Err(invalid_source_range());
            }
            SourceBytes {
                body: received.body,
                crc64: Some(received.crc64),
            }
        }
    };
    let md5_bad = want_md5.is_some_and(|m| m != read.body.md5);
    let crc_bad = want_crc.is_some_and(|c| Some(c) != read.crc64);
    if md5_bad || crc_bad {
        frontend.partition.release_segments(&read.body.segments);
        let (code, message) = if md5_bad {
            (
                ErrorCode::Md5Mismatch,
                "The MD5 value specified in the request did not match with the MD5 value calculated by the server.",
            )
        } else {
            (
                ErrorCode::Crc64Mismatch,
                "The CRC64 value specified in the request did not match with the CRC64 value calculated by the server.",
            )
        };
        return Err(AzureError::new(code, message));
    }
    Ok(read)
}

/// Abort Copy Blob.
pub async fn abort_copy(
    frontend: &Arc<Frontend>,
    ctx: &Ctx,
    parts: &Parts,
) -> Result<Response<ResponseBody>, AzureError> {
    match header_str(&parts.headers, "x-ms-copy-action")? {
        Some(v) if v.eq_ignore_ascii_case("abort") => {}
        Some(v) => return Err(AzureError::header("x-ms-copy-action", v)),
        None => return Err(AzureError::missing_header("x-ms-copy-action")),
    }
    let copy_id = ctx
        .query
        .get("copyid")
        .ok_or_else(|| AzureError::missing_query("copyid"))?
        .to_string();
    let conditions = http_util::conditions(&parts.headers)?;
    let (account, container, blob) = names(ctx);
    blocking(frontend, move |p| {
        p.abort_copy(&account, &container, &blob, &copy_id, &conditions)
    })
    .await?;
    Ok(response(StatusCode::NO_CONTENT, empty()))
}

/// The copy properties of Get Blob / Get Blob Properties.
pub fn copy_headers(r: &mut Response<ResponseBody>, row: &BlobRow) {
    let Some(copy) = &row.copy else { return };
    set_header(r, "x-ms-copy-id", &copy.id);
    set_header(r, "x-ms-copy-source", &copy.source);
    set_header(r, "x-ms-copy-status", &copy.status);
    set_header(r, "x-ms-copy-progress", &copy.progress);
    if let Some(t) = copy.completion_time {
        set_header(
            r,
            "x-ms-copy-completion-time",
            rfc1123(lazuli_partition::time_from_nanos(t)),
        );
    }
    if let Some(d) = &copy.status_description {
        set_header(r, "x-ms-copy-status-description", d);
    }
    if copy.incremental {
        set_header(r, "x-ms-incremental-copy", "true");
    }
    if let Some(s) = &copy.destination_snapshot {
        set_header(r, "x-ms-copy-destination-snapshot", s);
    }
}

/// The copy properties of a listing (`include=copy`).
pub fn copy_properties(row: &BlobRow) -> Option<crate::xml::CopyProperties> {
    let copy = row.copy.as_ref()?;
    Some(crate::xml::CopyProperties {
        copy_id: Some(copy.id.clone()),
        copy_source: Some(copy.source.clone()),
        copy_status: Some(copy.status.clone()),
        copy_progress: Some(copy.progress.clone()),
        copy_completion_time: copy.completion_time.map(lazuli_partition::time_from_nanos),
        copy_status_description: copy.status_description.clone(),
        incremental_copy: copy.incremental.then_some(true),
        destination_snapshot: copy.destination_snapshot.clone(),
    })
}

/// `x-ms-source-range` as a byte range (`bytes=first-last` or `bytes=first-`).
fn source_range(parts: &Parts) -> Result<Option<ByteRange>, AzureError> {
    match header_str(&parts.headers, "x-ms-source-range")? {
        Some(text) => ByteRange::parse(text)
            .map(Some)
            .ok_or_else(|| AzureError::header("x-ms-source-range", text)),
        None => Ok(None),
    }
}

/// The checksum headers of a write from a source: the MD5 when the request named one for
/// the source, else the CRC-64; none when the bytes were shared without being read.
fn source_checksum_headers(r: &mut Response<ResponseBody>, parts: &Parts, source: &SourceBytes) {
    let Some(crc) = source.crc64 else { return };
    if parts.headers.contains_key("x-ms-source-content-md5") {
        set_header(
            r,
            names::CONTENT_MD5,
            lazuli_types::checksum::md5_to_header(&source.body.md5),
        );
    } else {
        set_header(
            r,
            names::X_MS_CONTENT_CRC64,
            lazuli_types::checksum::crc64_to_header(crc),
        );
    }
}

/// Append Block From URL: appends (a range of) the source to an append blob, with the
/// conditions of Append Block. A same-server source whose range falls on segment
/// boundaries is appended by sharing its segments.
pub async fn append_block_from_url(
    frontend: &Arc<Frontend>,
    ctx: &Ctx,
    parts: &Parts,
) -> Result<Response<ResponseBody>, AzureError> {
    let conditions = http_util::conditions(&parts.headers)?;
    let append = super::append::append_conditions(parts)?;
    let range = source_range(parts)?;
    let exact = range.and_then(|r| r.requested_len());
    let read = read_source_range(
        frontend,
        ctx,
        parts,
        range,
        exact,
        lazuli_partition::APPEND_BLOCK_BYTES_MAX,
    )
    .await?;
    // An empty block would add a block that holds nothing, as for Append Block.
    if read.body.len == 0 {
        frontend.partition.release_segments(&read.body.segments);
        return Err(invalid_source_range());
    }
    let mut r = response(StatusCode::CREATED, empty());
    source_checksum_headers(&mut r, parts, &read);
    let (account, container, blob) = names(ctx);
    let (row, offset) = blocking(frontend, move |p| {
        p.append_block(&account, &container, &blob, read.body, &conditions, &append)
    })
    .await?;
    set_header(&mut r, "etag", &row.etag);
    set_header(
        &mut r,
        "last-modified",
        rfc1123(lazuli_partition::time_from_nanos(row.last_modified)),
    );
    set_header(&mut r, "x-ms-blob-append-offset", offset.to_string());
    set_header(
        &mut r,
        "x-ms-blob-committed-block-count",
        row.committed_block_count().to_string(),
    );
    set_header(&mut r, names::X_MS_REQUEST_SERVER_ENCRYPTED, "true");
    Ok(r)
}

/// Put Page From URL: writes `x-ms-source-range` of the source at `x-ms-range` of a page
/// blob, with the checks of Put Page (512-aligned ranges of equal length, up to 4 MiB,
/// sequence number conditions).
pub async fn put_page_from_url(
    frontend: &Arc<Frontend>,
    ctx: &Ctx,
    parts: &Parts,
) -> Result<Response<ResponseBody>, AzureError> {
    let conditions = http_util::conditions(&parts.headers)?;
    let sequence = super::page::sequence_conditions(parts)?;
    match header_str(&parts.headers, "x-ms-page-write")? {
        Some(v) if v.eq_ignore_ascii_case("update") => {}
        Some(v) => return Err(AzureError::header("x-ms-page-write", v)),
        None => return Err(AzureError::missing_header("x-ms-page-write")),
    }
    let (start, end) = super::page::request_range(parts)?.ok_or_else(|| AzureError::missing_header("x-ms-range"))?;
    lazuli_partition::page::check_page_range(start, end, None)?;
    let len = end - start;
    if len > lazuli_partition::PAGE_WRITE_BYTES_MAX {
        return Err(too_large(lazuli_partition::PAGE_WRITE_BYTES_MAX));
    }
    let range = source_range(parts)?.ok_or_else(|| AzureError::missing_header("x-ms-source-range"))?;
    // The source range must name exactly as many bytes as the pages it fills.
    if range.requested_len() != Some(len) {
        let text = header_str(&parts.headers, "x-ms-source-range")?.unwrap_or_default();
        return Err(AzureError::header("x-ms-source-range", text));
    }
    let read = read_source_range(
        frontend,
        ctx,
        parts,
        Some(range),
        Some(len),
        lazuli_partition::PAGE_WRITE_BYTES_MAX,
    )
    .await?;
    let mut r = response(StatusCode::CREATED, empty());
    source_checksum_headers(&mut r, parts, &read);
    let (account, container, blob) = names(ctx);
    let row = blocking(frontend, move |p| {
        p.write_pages(&account, &container, &blob, start, read.body, &conditions, &sequence)
    })
    .await?;
    set_header(&mut r, "etag", &row.etag);
    set_header(
        &mut r,
        "last-modified",
        rfc1123(lazuli_partition::time_from_nanos(row.last_modified)),
    );
    set_header(&mut r, "x-ms-blob-sequence-number", row.sequence_number.to_string());
    set_header(&mut r, names::X_MS_REQUEST_SERVER_ENCRYPTED, "true");
    Ok(r)
}

/// Incremental Copy Blob: the destination page blob takes the content of a snapshot of a
/// page blob of this server (named by URL with `?snapshot=`) and a snapshot of itself is
/// taken; both share the source snapshot's segments, so the copy is `success` at once.
pub async fn incremental_copy(
    frontend: &Arc<Frontend>,
    ctx: &Ctx,
    parts: &Parts,
) -> Result<Response<ResponseBody>, AzureError> {
    let source_text = copy_source_header(parts)?;
    let conditions = http_util::conditions(&parts.headers)?;
    let Source::Local { target, uri } = parse_source(ctx, &source_text)? else {
        // Copying page ranges from another server needs its page range diffs: not done yet.
        return Err(AzureError::new(
            ErrorCode::NotImplemented,
            "Incremental Copy Blob from another server is not implemented by this server yet.",
        ));
    };
    let snapshot = Query::parse(uri.query())
        .ok()
        .and_then(|q| q.get("snapshot").map(str::to_string))
        .filter(|s| lazuli_types::time_fmt::parse_iso8601(s).is_some())
        .ok_or_else(|| {
            AzureError::new(
                ErrorCode::IncrementalCopySourceMustBeSnapshot,
                "The source for incremental copy request must be a snapshot.",
            )
        })?;
    authorize_local(frontend, ctx, &target, &uri).await?;
    // The source blob, whatever snapshot: later copies must come from the same blob.
    let source_blob = source_text.trim().split('?').next().unwrap_or_default().to_string();
    let copy = CopyState::finished(&new_copy_id(), &source_text, 0);
    let (account, container, blob) = names(ctx);
    let (src_account, src_container, src_blob) = (
        target.account.clone(),
        target.container.clone().unwrap_or_default(),
        target.blob.clone().unwrap_or_default(),
    );
    let row = blocking(frontend, move |p| {
        let pinned = p
            .pin_page_snapshot(&src_account, &src_container, &src_blob, &snapshot)
            .map_err(|e| match e.code {
                ErrorCode::BlobNotFound | ErrorCode::ContainerNotFound => cannot_verify(404, e.message),
                _ => e,
            })?;
        p.incremental_copy(&account, &container, &blob, pinned, &source_blob, copy, &conditions)
    })
    .await?;
    Ok(copy_reply(StatusCode::ACCEPTED, &row))
}
