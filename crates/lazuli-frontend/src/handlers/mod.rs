//! One function per operation. Handlers parse what the operation needs from the request,
//! call the partition layer on a blocking thread, and build the reply.

mod append;
mod batch;
mod blob;
mod container;
mod copy;
mod dfs;
mod lease;
mod page;
mod service;
mod snapshot;
mod tags;
mod tier;
mod user_delegation;

use std::sync::Arc;

use http::request::Parts;
use http::Response;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use lazuli_partition::{BlobRow, Partition, PreparedWrite};
use lazuli_types::{AzureError, ErrorCode};

use crate::http_util::ResponseBody;
use crate::router::Operation;
use crate::service::{Ctx, Frontend};

/// Bodies parsed as XML documents (block lists, ACLs, service properties) are small; the
/// largest legitimate one is a 50,000-entry block list (~5 MiB with long ids).
pub const XML_BODY_BYTES_MAX: usize = 8 * 1024 * 1024;

tokio::task_local! {
    /// The user a request acts for (a bearer token's object id); `None`: the account key or
    /// a SAS, which act as the superuser. [`blocking`] hands it to the partition call.
    static PRINCIPAL: Option<String>;
}

pub async fn dispatch(
    frontend: &Arc<Frontend>,
    ctx: &Ctx,
    parts: Parts,
    body: Incoming,
) -> Result<Response<ResponseBody>, AzureError> {
    let principal = ctx.principal().map(str::to_string);
    if let Some(user) = &principal {
        if frontend.partition.is_hns(ctx.account()) {
            dfs::check_user_access(frontend, ctx, &parts, user).await?;
        }
    }
    PRINCIPAL
        .scope(principal, dispatch_operation(frontend, ctx, parts, body))
        .await
}

async fn dispatch_operation(
    frontend: &Arc<Frontend>,
    ctx: &Ctx,
    parts: Parts,
    body: Incoming,
) -> Result<Response<ResponseBody>, AzureError> {
    use Operation::*;
    snapshot::refuse_write_to_version(ctx)?;
    // The copies from a URL carry an HTTP client's state (~5 KiB): boxed, so that this
    // future, which every request's is built around, stays the size of a Put Blob's.
    match ctx.operation {
        GetAccountInfo if frontend.partition.is_hns(ctx.account()) => {
            let mut r = service::account_info(ctx)?;
            crate::http_util::set_header(&mut r, "x-ms-is-hns-enabled", "true");
            Ok(r)
        }
        DfsListFilesystems => dfs::list_filesystems(frontend, ctx).await,
        DfsCreateFilesystem => dfs::create_filesystem(frontend, ctx, &parts).await,
        DfsDeleteFilesystem => dfs::delete_filesystem(frontend, ctx, &parts).await,
        DfsGetFilesystemProperties => dfs::get_filesystem_properties(frontend, ctx).await,
        DfsSetFilesystemProperties => dfs::set_filesystem_properties(frontend, ctx, &parts).await,
        DfsListPaths => dfs::list_paths(frontend, ctx).await,
        DfsCreatePath => dfs::create_path(frontend, ctx, &parts).await,
        DfsRenamePath => dfs::rename_path(frontend, ctx, &parts).await,
        DfsDeletePath => dfs::delete_path(frontend, ctx, &parts).await,
        DfsGetPathProperties => dfs::get_path_properties(frontend, ctx).await,
        DfsSetPathProperties => dfs::set_path_properties(frontend, ctx, &parts).await,
        DfsSetAccessControl => dfs::set_access_control(frontend, ctx, &parts).await,
        DfsSetAccessControlRecursive => dfs::set_access_control_recursive(frontend, ctx, &parts).await,
        DfsLeasePath => {
            dfs::require_hns(frontend, ctx)?;
            lease::lease_blob(frontend, ctx, &parts).await
        }
        SetBlobExpiry => dfs::set_expiry(frontend, ctx, &parts).await,
        DfsAppend => dfs::append(frontend, ctx, &parts, body).await,
        DfsFlush => dfs::flush(frontend, ctx, &parts).await,
        ListContainers => service::list_containers(frontend, ctx).await,
        GetServiceProperties => service::get_properties(frontend, ctx).await,
        SetServiceProperties => service::set_properties(frontend, ctx, body).await,
        GetAccountInfo => service::account_info(ctx),
        Preflight => crate::cors::preflight(frontend, ctx, &parts).await,
        CreateContainer => container::create(frontend, ctx, &parts).await,
        DeleteContainer => container::delete(frontend, ctx, &parts).await,
        GetContainerProperties | GetContainerMetadata => container::properties(frontend, ctx).await,
        SetContainerMetadata => container::set_metadata(frontend, ctx, &parts).await,
        GetContainerAcl => container::get_acl(frontend, ctx).await,
        SetContainerAcl => container::set_acl(frontend, ctx, &parts, body).await,
        ListBlobs => container::list_blobs(frontend, ctx).await,
        PutBlob => blob::put_blob(frontend, ctx, &parts, body).await,
        PutBlock => blob::put_block(frontend, ctx, &parts, body).await,
        PutBlockList => blob::put_block_list(frontend, ctx, &parts, body).await,
        GetBlockList => blob::get_block_list(frontend, ctx).await,
        GetBlob | GetBlobProperties => blob::get_blob(frontend, ctx, &parts).await,
        GetBlobMetadata => blob::get_metadata(frontend, ctx, &parts).await,
        SetBlobProperties => blob::set_properties(frontend, ctx, &parts).await,
        SetBlobMetadata => blob::set_metadata(frontend, ctx, &parts).await,
        DeleteBlob => blob::delete(frontend, ctx, &parts).await,
        PutAppendBlob => append::put_append_blob(frontend, ctx, &parts).await,
        AppendBlock => append::append_block(frontend, ctx, &parts, body).await,
        SealAppendBlob => append::seal(frontend, ctx, &parts).await,
        PutPageBlob => page::put_page_blob(frontend, ctx, &parts).await,
        PutPage => page::put_page(frontend, ctx, &parts, body).await,
        GetPageRanges => page::get_page_ranges(frontend, ctx, &parts).await,
        GetBlobTags => tags::get_tags(frontend, ctx, &parts).await,
        SetBlobTags => tags::set_tags(frontend, ctx, &parts, body).await,
        FindBlobsByTags => tags::find_blobs(frontend, ctx).await,
        SetBlobTier => tier::set_tier(frontend, ctx, &parts).await,
        CopyBlob => Box::pin(copy::copy_blob(frontend, ctx, &parts, false)).await,
        CopyBlobFromUrl => Box::pin(copy::copy_blob(frontend, ctx, &parts, true)).await,
        PutBlobFromUrl => Box::pin(copy::put_blob_from_url(frontend, ctx, &parts)).await,
        PutBlockFromUrl => Box::pin(copy::put_block_from_url(frontend, ctx, &parts)).await,
        AppendBlockFromUrl => Box::pin(copy::append_block_from_url(frontend, ctx, &parts)).await,
        PutPageFromUrl => Box::pin(copy::put_page_from_url(frontend, ctx, &parts)).await,
        IncrementalCopyBlob => Box::pin(copy::incremental_copy(frontend, ctx, &parts)).await,
        AbortCopyBlob => copy::abort_copy(frontend, ctx, &parts).await,
        BlobBatch => batch::batch(frontend, ctx, &parts, body).await,
        GetUserDelegationKey => user_delegation::get_key(frontend, ctx, &parts, body).await,
        LeaseBlob => lease::lease_blob(frontend, ctx, &parts).await,
        LeaseContainer => lease::lease_container(frontend, ctx, &parts).await,
        SnapshotBlob => snapshot::create(frontend, ctx, &parts).await,
        UndeleteBlob => snapshot::undelete(frontend, ctx).await,
        RestoreContainer => snapshot::restore_container(frontend, ctx, &parts).await,
        Unsupported(name) => Err(AzureError::new(
            ErrorCode::NotImplemented,
            format!("The operation {name} is not implemented by this server yet."),
        )),
    }
}

/// Runs a blocking partition call off the async threads.
pub async fn blocking<T: Send + 'static>(
    frontend: &Arc<Frontend>,
    call: impl FnOnce(&Partition) -> Result<T, AzureError> + Send + 'static,
) -> Result<T, AzureError> {
    spawn_blocking_call(frontend, call).await
}

/// Starts a blocking partition call now, not when the result is awaited (as [`blocking`]
/// does), so the caller can work beside it.
pub fn spawn_blocking_call<T: Send + 'static>(
    frontend: &Arc<Frontend>,
    call: impl FnOnce(&Partition) -> Result<T, AzureError> + Send + 'static,
) -> impl std::future::Future<Output = Result<T, AzureError>> {
    run_blocking(frontend.partition.clone(), request_principal(), call)
}

/// Starts `call` on a blocking thread on behalf of `principal`.
fn run_blocking<T: Send + 'static>(
    partition: Arc<Partition>,
    principal: Option<String>,
    call: impl FnOnce(&Partition) -> Result<T, AzureError> + Send + 'static,
) -> impl std::future::Future<Output = Result<T, AzureError>> {
    let call = tokio::task::spawn_blocking(move || lazuli_partition::hns::as_principal(principal, || call(&partition)));
    async move {
        call.await
            .map_err(|_| AzureError::internal("The server encountered an internal error."))?
    }
}

/// A blob write that can run without a blocking thread: `prepare` runs on a runtime thread
/// (inside `lazuli_table::memory_only`, see `Partition::try_prepare_put_blob`) and its commit
/// is awaited there; when it declines, `fallback` does the same write on a blocking thread.
/// Either way the write runs in its own task, so that once its batch is queued it is applied
/// and its locks released even if the client goes away (as a blocking call runs to its end).
pub async fn write_blob<J: Send + 'static>(
    frontend: &Arc<Frontend>,
    job: J,
    prepare: impl for<'p> FnOnce(&'p Partition, &J) -> Option<Result<PreparedWrite<'p>, AzureError>> + Send + 'static,
    fallback: impl FnOnce(&Partition, J) -> Result<BlobRow, AzureError> + Send + 'static,
) -> Result<BlobRow, AzureError> {
    let partition = frontend.partition.clone();
    let principal = request_principal();
    let write = tokio::spawn(async move {
        let committed = match lazuli_partition::hns::as_principal(principal.clone(), || prepare(&partition, &job)) {
            Some(prepared) => partition.commit_prepared(prepared?).await,
            None => None,
        };
        match committed {
            Some(committed) => committed?.ok_or_else(|| AzureError::internal("the write produced no row")),
            None => run_blocking(partition, principal, move |p| fallback(p, job)).await,
        }
    });
    write
        .await
        .map_err(|_| AzureError::internal("The server encountered an internal error."))?
}

/// The bearer-token user the request runs as (none for account key and SAS requests).
pub fn request_principal() -> Option<String> {
    PRINCIPAL.try_with(Clone::clone).ok().flatten()
}

/// Reads a small body (XML documents) with a size limit.
pub async fn read_small_body(body: Incoming, max: usize) -> Result<Vec<u8>, AzureError> {
    let mut body = body;
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|_| AzureError::new(ErrorCode::InvalidInput, "The request body could not be read."))?;
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > max {
                return Err(AzureError::new(
                    ErrorCode::RequestBodyTooLarge,
                    "The request body is too large and exceeds the maximum permissible limit.",
                )
                .with_detail("MaxLimit", max.to_string()));
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out)
}

pub use copy::tls_connector as copy_tls_connector;
pub use service::load_service_properties as service_properties;

/// Reads a small body that may come as a structured message (the SDKs frame Put Block List
/// bodies too when content validation is on); returns the content.
pub async fn read_small_body_decoded(parts: &Parts, body: Incoming, max: usize) -> Result<(Vec<u8>, bool), AzureError> {
    let raw = read_small_body(body, max).await?;
    let Some(value) = crate::http_util::header_str(&parts.headers, "x-ms-structured-body")? else {
        return Ok((raw, false));
    };
    if !value
        .trim()
        .eq_ignore_ascii_case(crate::structured::STRUCTURED_BODY_V1_CRC64)
    {
        return Err(AzureError::header("x-ms-structured-body", value));
    }
    let mut decoder = crate::structured::Decoder::new(raw.len() as u64);
    let mut content = bytes::BytesMut::new();
    decoder.push(&raw, &mut content)?;
    decoder.finish()?;
    Ok((content.to_vec(), true))
}
