//! Access tiers: Set Blob Tier, `x-ms-access-tier` on uploads, and the tier headers of reads.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http::request::Parts;
use http::{HeaderMap, Response, StatusCode};
use lazuli_partition::BlobRow;
use lazuli_types::time_fmt::rfc1123;
use lazuli_types::{AzureError, ErrorCode};

use super::blocking;
use crate::http_util::{self, empty, header_str, names, response, set_header, ResponseBody};
use crate::service::{Ctx, Frontend};

/// How long a rehydration from Archive takes (High priority: half). The service takes hours;
/// an emulator should not. `LAZULI_REHYDRATE_DELAY_MS` overrides the default of 2 seconds.
pub fn rehydrate_delay() -> Duration {
    static DELAY: OnceLock<Duration> = OnceLock::new();
    *DELAY.get_or_init(|| {
        std::env::var("LAZULI_REHYDRATE_DELAY_MS")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_millis)
            .unwrap_or(Duration::from_secs(2))
    })
}

/// `x-ms-access-tier` in canonical spelling; an unknown tier is 400 InvalidHeaderValue.
pub fn access_tier(headers: &HeaderMap) -> Result<Option<String>, AzureError> {
    let Some(value) = header_str(headers, "x-ms-access-tier")? else {
        return Ok(None);
    };
    let tier = ["Hot", "Cool", "Cold", "Archive"]
        .into_iter()
        .find(|t| t.eq_ignore_ascii_case(value.trim()))
        .ok_or_else(|| AzureError::header("x-ms-access-tier", value))?;
    Ok(Some(tier.to_string()))
}

fn rehydrate_priority(headers: &HeaderMap) -> Result<Option<&'static str>, AzureError> {
    let Some(value) = header_str(headers, "x-ms-rehydrate-priority")? else {
        return Ok(None);
    };
    ["Standard", "High"]
        .into_iter()
        .find(|t| t.eq_ignore_ascii_case(value.trim()))
        .map(Some)
        .ok_or_else(|| AzureError::header("x-ms-rehydrate-priority", value))
}

pub async fn set_tier(
    frontend: &Arc<Frontend>,
    ctx: &Ctx,
    parts: &Parts,
) -> Result<Response<ResponseBody>, AzureError> {
    let tier = access_tier(&parts.headers)?.ok_or_else(|| AzureError::missing_header("x-ms-access-tier"))?;
    let priority = rehydrate_priority(&parts.headers)?;
    let conditions = http_util::conditions(&parts.headers)?;
    let (account, container, blob) = ctx.blob_names();
    let pending = blocking(frontend, move |p| {
        p.set_blob_tier(
            &account,
            &container,
            &blob,
            &tier,
            priority,
            rehydrate_delay(),
            &conditions,
        )
    })
    .await?;
    let status = if pending { StatusCode::ACCEPTED } else { StatusCode::OK };
    Ok(response(status, empty()))
}

/// The tier headers of Get Blob / Get Blob Properties.
pub fn tier_headers(r: &mut Response<ResponseBody>, row: &BlobRow) {
    let view = row.tier_view(lazuli_partition::now_nanos());
    set_header(r, names::X_MS_ACCESS_TIER, &view.tier);
    if view.inferred {
        set_header(r, names::X_MS_ACCESS_TIER_INFERRED, "true");
    }
    if let Some(t) = view.change_time {
        set_header(
            r,
            "x-ms-access-tier-change-time",
            rfc1123(lazuli_partition::time_from_nanos(t)),
        );
    }
    if let Some(status) = &view.archive_status {
        set_header(r, "x-ms-archive-status", status);
    }
    if let Some(priority) = &view.rehydrate_priority {
        set_header(r, "x-ms-rehydrate-priority", priority);
    }
}

/// Get Blob on an archived blob: 409 BlobArchived (its properties stay readable).
pub fn refuse_archived(row: &BlobRow) -> Result<(), AzureError> {
    if row.is_archived(lazuli_partition::now_nanos()) {
        return Err(AzureError::new(
            ErrorCode::BlobArchived,
            "This operation is not permitted on an archived blob.",
        ));
    }
    Ok(())
}
