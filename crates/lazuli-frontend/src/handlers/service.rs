//! Service-level operations: List Containers, service properties, account information.

use std::sync::Arc;

use http::{Response, StatusCode};
use hyper::body::Incoming;
use lazuli_types::{AzureError, ErrorCode};

use super::{blocking, read_small_body, XML_BODY_BYTES_MAX};
use crate::http_util::{empty, full, response, set_header, ResponseBody};
use crate::service::{Ctx, Frontend};
use crate::xml;

/// The service's cap on `maxresults` for listings.
pub const LIST_RESULTS_MAX: usize = 5000;

pub const SERVICE_PROPERTIES_SETTING: &str = "service-properties";

pub fn max_results(ctx: &Ctx) -> Result<usize, AzureError> {
    match ctx.query.get("maxresults") {
        None => Ok(LIST_RESULTS_MAX),
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= 1 => Ok((n as usize).min(LIST_RESULTS_MAX)),
            _ => Err(AzureError::new(
                ErrorCode::OutOfRangeQueryParameterValue,
                "One of the query parameters specified in the request URI is outside the permissible range.",
            )
            .with_detail("QueryParameterName", "maxresults")
            .with_detail("QueryParameterValue", v.to_string())
            .with_detail("MinimumAllowed", "1")),
        },
    }
}

pub fn service_endpoint(ctx: &Ctx) -> String {
    let scheme = if ctx.https { "https" } else { "http" };
    if ctx.target.path_style {
        format!("{scheme}://{}/{}/", ctx.host, ctx.account())
    } else {
        format!("{scheme}://{}/", ctx.host)
    }
}

fn xml_response(body: Vec<u8>) -> Response<ResponseBody> {
    let mut r = response(StatusCode::OK, full(body));
    set_header(&mut r, "content-type", "application/xml");
    r
}

pub async fn list_containers(frontend: &Arc<Frontend>, ctx: &Ctx) -> Result<Response<ResponseBody>, AzureError> {
    let max = max_results(ctx)?;
    let prefix = ctx.query.get("prefix").unwrap_or("").to_string();
    let marker = ctx.query.get("marker").filter(|m| !m.is_empty()).map(str::to_string);
    let include_metadata = ctx
        .query
        .get("include")
        .is_some_and(|i| i.split(',').any(|p| p == "metadata"));
    let account = ctx.account().to_string();
    let (p, m) = (prefix.clone(), marker.clone());
    let include_deleted = ctx
        .query
        .get("include")
        .is_some_and(|i| i.split(',').any(|p| p == "deleted"));
    let page = blocking(frontend, move |partition| {
        let mut page = partition.list_containers(&account, &p, m.as_deref(), max)?;
        if include_deleted {
            // Soft-deleted containers live in their own key range: merge those that fall
            // in this page's name range, so that each shows up on exactly one page.
            let deleted = partition.list_deleted_containers(&account, &p)?;
            let (from, to) = (m.as_deref(), page.next_marker.clone());
            page.containers.extend(deleted.into_iter().filter(|(name, _)| {
                from.is_none_or(|f| name.as_str() >= f) && to.as_deref().is_none_or(|t| name.as_str() < t)
            }));
            page.containers.sort_by(|a, b| a.0.cmp(&b.0));
        }
        Ok(page)
    })
    .await?;
    let mut writer = xml::ListContainersWriter::new(
        &service_endpoint(ctx),
        ctx.query.get("prefix"),
        marker.as_deref(),
        ctx.query.get("maxresults").map(|_| max as u32),
    );
    for (name, row) in &page.containers {
        writer.container(&crate::handlers::container::container_item(name, row, include_metadata));
    }
    Ok(xml_response(writer.finish(page.next_marker.as_deref())))
}

pub async fn load_service_properties(
    frontend: &Arc<Frontend>,
    account: &str,
) -> Result<xml::ServiceProperties, AzureError> {
    let account = account.to_string();
    let stored = blocking(frontend, move |p| {
        p.account_setting(&account, SERVICE_PROPERTIES_SETTING)
    })
    .await?;
    Ok(stored
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default())
}

pub async fn get_properties(frontend: &Arc<Frontend>, ctx: &Ctx) -> Result<Response<ResponseBody>, AzureError> {
    let props = load_service_properties(frontend, ctx.account()).await?;
    Ok(xml_response(xml::write_service_properties(&props)))
}

/// Set Blob Service Properties: elements present in the request replace the stored ones;
/// absent ones are kept, as the service does.
pub async fn set_properties(
    frontend: &Arc<Frontend>,
    ctx: &Ctx,
    body: Incoming,
) -> Result<Response<ResponseBody>, AzureError> {
    let body = read_small_body(body, XML_BODY_BYTES_MAX).await?;
    let update = xml::parse_service_properties(&body)?;
    let mut props = load_service_properties(frontend, ctx.account()).await?;
    macro_rules! merge { ($($field:ident),*) => { $(if update.$field.is_some() { props.$field = update.$field; })* } }
    merge!(
        logging,
        hour_metrics,
        minute_metrics,
        cors,
        default_service_version,
        delete_retention_policy,
        static_website
    );
    let bytes = serde_json::to_vec(&props).map_err(|e| AzureError::internal(e.to_string()))?;
    let account = ctx.account().to_string();
    // Overwrites keep soft-deleted snapshots: the partition layer needs the retention.
    let retention = props
        .delete_retention_policy
        .as_ref()
        .filter(|policy| policy.enabled)
        .map(|policy| policy.days.unwrap_or(7));
    blocking(frontend, move |p| {
        p.set_account_setting(&account, SERVICE_PROPERTIES_SETTING, &bytes)?;
        p.set_blob_delete_retention(&account, retention)
    })
    .await?;
    Ok(response(StatusCode::ACCEPTED, empty()))
}

pub fn account_info(_ctx: &Ctx) -> Result<Response<ResponseBody>, AzureError> {
    let mut r = response(StatusCode::OK, empty());
    set_header(&mut r, "x-ms-sku-name", "Standard_RAGRS");
    set_header(&mut r, "x-ms-account-kind", "StorageV2");
    set_header(&mut r, "x-ms-is-hns-enabled", "false");
    Ok(r)
}
