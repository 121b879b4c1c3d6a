//! Get User Delegation Key (`POST /?restype=service&comp=userdelegationkey`), for bearer
//! (OAuth) callers only. The key is derived, not stored: see `auth/delegation.rs`.

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use http::request::Parts;
use http::{Response, StatusCode};
use hyper::body::Incoming;
use lazuli_types::time_fmt::parse_iso8601;
use lazuli_types::{AzureError, ErrorCode};

use super::read_small_body;
use crate::auth::delegation::{self, KeyFields, TENANT_ID};
use crate::auth::Credential;
use crate::http_util::{full, header_str, response, set_header, ResponseBody};
use crate::service::{Ctx, Frontend, SERVICE_VERSION};
use crate::xml;

/// The service issues keys valid for at most seven days.
const KEY_LIFETIME_MAX: time::Duration = time::Duration::days(7);

pub async fn get_key(
    frontend: &Arc<Frontend>,
    ctx: &Ctx,
    parts: &Parts,
    body: Incoming,
) -> Result<Response<ResponseBody>, AzureError> {
    let Credential::Bearer(oid) = &ctx.credential else {
        return Err(AzureError::new(
            ErrorCode::AuthenticationFailed,
            "Only authentication schemes of type Bearer are supported for this operation.",
        )
        .with_status(403));
    };
    let body = read_small_body(body, 64 * 1024).await?;
    let info = xml::parse_key_info(&body)?;
    let now = time::OffsetDateTime::now_utc();
    let start_text = info.start.clone().unwrap_or_else(|| {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            now.year(),
            u8::from(now.month()),
            now.day(),
            now.hour(),
            now.minute(),
            now.second()
        )
    });
    let invalid = |name: &str, value: &str| {
        AzureError::new(
            ErrorCode::InvalidXmlNodeValue,
            "The value for one of the XML nodes is not in the correct format.",
        )
        .with_detail("XmlNodeName", name.to_string())
        .with_detail("XmlNodeValue", value.to_string())
    };
    let start = parse_iso8601(&start_text).ok_or_else(|| invalid("Start", &start_text))?;
    let expiry = parse_iso8601(&info.expiry).ok_or_else(|| invalid("Expiry", &info.expiry))?;
    if expiry <= start || expiry <= now || expiry - now.max(start) > KEY_LIFETIME_MAX {
        return Err(invalid("Expiry", &info.expiry));
    }
    let version = header_str(&parts.headers, "x-ms-version")?
        .unwrap_or(SERVICE_VERSION)
        .to_string();
    let keys = frontend
        .account_keys(ctx.account())
        .ok_or_else(|| AzureError::new(ErrorCode::ResourceNotFound, "The specified resource does not exist."))?;
    let account_key = keys
        .keys
        .first()
        .ok_or_else(|| AzureError::internal("the account has no key"))?;
    let fields = KeyFields {
        oid,
        tid: TENANT_ID,
        start: &start_text,
        expiry: &info.expiry,
        service: "b",
        version: &version,
    };
    let value = BASE64.encode(delegation::derive_key(account_key, &fields));
    let key = xml::UserDelegationKey {
        signed_oid: oid.clone(),
        signed_tid: TENANT_ID.to_string(),
        signed_start: start_text.clone(),
        signed_expiry: info.expiry.clone(),
        signed_service: "b".into(),
        signed_version: version.clone(),
        signed_delegated_user_tid: info.delegated_user_tid.clone(),
        value,
    };
    let mut r = response(StatusCode::OK, full(xml::write_user_delegation_key(&key)));
    set_header(&mut r, "content-type", "application/xml");
    Ok(r)
}
