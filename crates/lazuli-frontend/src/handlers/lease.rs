//! Lease Blob and Lease Container (`PUT ?comp=lease`): parse the action and its headers;
//! the state machine itself lives in the partition layer (`lazuli_partition::lease`).

use std::sync::Arc;

use http::request::Parts;
use http::{Response, StatusCode};
use lazuli_partition::{LeaseAction, LeaseOutcome};
use lazuli_types::time_fmt::rfc1123;
use lazuli_types::{AzureError, ErrorCode};

use super::blocking;
use crate::http_util::{self, empty, header_str, response, set_header, ResponseBody};
use crate::service::{Ctx, Frontend};

/// Lease ids are GUIDs (`xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`); the service refuses others.
fn is_guid(value: &str) -> bool {
    let bytes = value.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

fn lease_id_header(parts: &Parts, name: &str) -> Result<Option<String>, AzureError> {
    match header_str(&parts.headers, name)? {
        None => Ok(None),
        Some(v) if is_guid(v.trim()) => Ok(Some(v.trim().to_string())),
        Some(v) => Err(AzureError::header(name, v)),
    }
}

/// The action and the lease id it names (`x-ms-lease-id`), from the request headers.
fn parse_action(parts: &Parts) -> Result<(LeaseAction, Option<String>), AzureError> {
    let action = header_str(&parts.headers, "x-ms-lease-action")?
        .ok_or_else(|| AzureError::missing_header("x-ms-lease-action"))?;
    let lease_id = lease_id_header(parts, "x-ms-lease-id")?;
    let proposed = lease_id_header(parts, "x-ms-proposed-lease-id")?;
    let require_id = || {
        lease_id
            .clone()
            .ok_or_else(|| AzureError::missing_header("x-ms-lease-id"))
    };
    let parsed = match action.trim().to_ascii_lowercase().as_str() {
        "acquire" => {
            let raw = header_str(&parts.headers, "x-ms-lease-duration")?
                .ok_or_else(|| AzureError::missing_header("x-ms-lease-duration"))?;
            let duration: i32 = raw
                .trim()
                .parse()
                .ok()
                .filter(|d| *d == -1 || (15..=60).contains(d))
                .ok_or_else(|| AzureError::header("x-ms-lease-duration", raw))?;
            LeaseAction::Acquire {
                duration,
                proposed_id: proposed,
            }
        }
        "renew" => {
            require_id()?;
            LeaseAction::Renew
        }
        "change" => {
            require_id()?;
            LeaseAction::Change {
                proposed_id: proposed.ok_or_else(|| AzureError::missing_header("x-ms-proposed-lease-id"))?,
            }
        }
        "release" => {
            require_id()?;
            LeaseAction::Release
        }
        "break" => {
            let period = match header_str(&parts.headers, "x-ms-lease-break-period")? {
                None => None,
                Some(raw) => Some(
                    raw.trim()
                        .parse::<u32>()
                        .ok()
                        .filter(|p| *p <= 60)
                        .ok_or_else(|| AzureError::header("x-ms-lease-break-period", raw))?,
                ),
            };
            LeaseAction::Break { period }
        }
        _ => return Err(AzureError::header("x-ms-lease-action", action)),
    };
    Ok((parsed, lease_id))
}

fn reply(action: &LeaseAction, outcome: &LeaseOutcome, etag: &str, last_modified: i128) -> Response<ResponseBody> {
    let status = match action {
        LeaseAction::Acquire { .. } => StatusCode::CREATED,
        LeaseAction::Break { .. } => StatusCode::ACCEPTED,
        _ => StatusCode::OK,
    };
    let mut r = response(status, empty());
    set_header(&mut r, "etag", etag);
    set_header(
        &mut r,
        "last-modified",
        rfc1123(lazuli_partition::time_from_nanos(last_modified)),
    );
    if let Some(id) = &outcome.lease_id {
        set_header(&mut r, "x-ms-lease-id", id);
    }
    if let Some(seconds) = outcome.lease_time {
        set_header(&mut r, "x-ms-lease-time", seconds.to_string());
    }
    r
}

pub async fn lease_blob(
    frontend: &Arc<Frontend>,
    ctx: &Ctx,
    parts: &Parts,
) -> Result<Response<ResponseBody>, AzureError> {
    let (action, lease_id) = parse_action(parts)?;
    let conditions = http_util::conditions(&parts.headers)?;
    let (account, container, blob) = ctx.blob_names();
    let call_action = action.clone();
    let (row, outcome) = blocking(frontend, move |p| {
        p.lease_blob(
            &account,
            &container,
            &blob,
            &call_action,
            lease_id.as_deref(),
            &conditions,
        )
    })
    .await?;
    Ok(reply(&action, &outcome, &row.etag, row.last_modified))
}

pub async fn lease_container(
    frontend: &Arc<Frontend>,
    ctx: &Ctx,
    parts: &Parts,
) -> Result<Response<ResponseBody>, AzureError> {
    let (action, lease_id) = parse_action(parts)?;
    let conditions = http_util::conditions(&parts.headers)?;
    if conditions.if_match.is_some() || conditions.if_none_match.is_some() {
        // Lease Container takes only the date conditions.
        return Err(AzureError::new(
            ErrorCode::UnsupportedHeader,
            "One of the HTTP headers specified in the request is not supported.",
        ));
    }
    let (account, container) = ctx.container_names();
    let call_action = action.clone();
    let (row, outcome) = blocking(frontend, move |p| {
        p.lease_container(&account, &container, &call_action, lease_id.as_deref(), &conditions)
    })
    .await?;
    Ok(reply(&action, &outcome, &row.etag, row.last_modified))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids() {
        assert!(is_guid("0f8fad5b-d9cb-469f-a165-70867728950e"));
        assert!(!is_guid("0f8fad5b-d9cb-469f-a165-70867728950"));
        assert!(!is_guid("0f8fad5bxd9cb-469f-a165-70867728950e"));
    }
}
