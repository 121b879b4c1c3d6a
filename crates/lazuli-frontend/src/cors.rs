//! CORS: preflight requests answered from the account's CORS rules, and the
//! `Access-Control-*` headers on actual cross-origin requests.

use std::sync::Arc;

use http::request::Parts;
use http::{HeaderValue, Method, Response, StatusCode};
use lazuli_types::{AzureError, ErrorCode};

use crate::handlers::service_properties;
use crate::http_util::{empty, header_str, response, set_header, ResponseBody};
use crate::service::{Ctx, Frontend};
use crate::xml::CorsRule;

fn list_contains(list: &str, item: &str, case_insensitive: bool) -> bool {
    list.split(',').map(str::trim).any(|entry| {
        entry == "*"
            || if case_insensitive {
                entry.eq_ignore_ascii_case(item)
            } else {
                entry == item
            }
            || entry
                .strip_suffix('*')
                .is_some_and(|prefix| item.to_ascii_lowercase().starts_with(&prefix.to_ascii_lowercase()))
    })
}

fn origin_allowed(rule: &CorsRule, origin: &str) -> bool {
    list_contains(&rule.allowed_origins, origin, true)
}

fn preflight_failure() -> AzureError {
    AzureError::new(
        ErrorCode::CorsPreflightFailure,
        "CORS not enabled or no matching rule found for this request.",
    )
}

/// OPTIONS: the first rule that allows the origin, the method and every requested header wins.
pub async fn preflight(
    frontend: &Arc<Frontend>,
    ctx: &Ctx,
    parts: &Parts,
) -> Result<Response<ResponseBody>, AzureError> {
    let origin = header_str(&parts.headers, "origin")?;
    let method = header_str(&parts.headers, "access-control-request-method")?;
    let (Some(origin), Some(method)) = (origin, method) else {
        return Err(AzureError::new(
            ErrorCode::InvalidHeaderValue,
            "A preflight request must carry Origin and Access-Control-Request-Method.",
        )
        .with_status(400));
    };
    let requested_headers: Vec<String> = header_str(&parts.headers, "access-control-request-headers")?
        .unwrap_or("")
        .split(',')
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect();
    let props = service_properties(frontend, ctx.account()).await?;
    let rule = props.cors.unwrap_or_default().into_iter().find(|rule| {
        origin_allowed(rule, origin)
            && list_contains(&rule.allowed_methods, method, false)
            && requested_headers
                .iter()
                .all(|h| list_contains(&rule.allowed_headers, h, true))
    });
    let Some(rule) = rule else {
        return Err(preflight_failure());
    };
    let mut r = response(StatusCode::OK, empty());
    let wildcard = rule.allowed_origins.trim() == "*";
    set_header(
        &mut r,
        "access-control-allow-origin",
        if wildcard { "*" } else { origin },
    );
    set_header(&mut r, "access-control-allow-methods", method);
    if !requested_headers.is_empty() {
        set_header(&mut r, "access-control-allow-headers", requested_headers.join(","));
    }
    set_header(&mut r, "access-control-max-age", rule.max_age_in_seconds.to_string());
    if !wildcard {
        set_header(&mut r, "access-control-allow-credentials", "true");
    }
    Ok(r)
}

/// The rule's exposed headers, with each prefix wildcard (`x-ms-meta-*`) replaced by the
/// response headers it matches: browsers only understand literal names there.
fn expose_headers(rule: &str, headers: &http::HeaderMap) -> String {
    let mut names: Vec<String> = Vec::new();
    for entry in rule.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        match entry.strip_suffix('*') {
            Some(prefix) => {
                let prefix = prefix.to_ascii_lowercase();
                names.extend(
                    headers
                        .keys()
                        .map(|k| k.as_str())
                        .filter(|k| k.starts_with(&prefix))
                        .map(str::to_string),
                );
            }
            None => names.push(entry.to_string()),
        }
    }
    names.dedup();
    names.join(",")
}

/// Adds the CORS headers to the response of an actual request carrying `Origin`.
pub async fn decorate(
    frontend: &Arc<Frontend>,
    account: &str,
    origin: &HeaderValue,
    method: &Method,
    response: &mut Response<ResponseBody>,
) {
    let Ok(origin) = origin.to_str() else { return };
    let Ok(props) = service_properties(frontend, account).await else {
        return;
    };
    let Some(rule) = props
        .cors
        .unwrap_or_default()
        .into_iter()
        .find(|rule| origin_allowed(rule, origin) && list_contains(&rule.allowed_methods, method.as_str(), false))
    else {
        return;
    };
    let wildcard = rule.allowed_origins.trim() == "*";
    set_header(
        response,
        "access-control-allow-origin",
        if wildcard { "*" } else { origin },
    );
    let exposed = expose_headers(&rule.exposed_headers, response.headers());
    if !exposed.is_empty() {
        set_header(response, "access-control-expose-headers", exposed);
    }
    if !wildcard {
        set_header(response, "access-control-allow-credentials", "true");
    }
    response
        .headers_mut()
        .append(http::header::VARY, HeaderValue::from_static("Origin"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposed_prefixes_expand_to_the_response_headers() {
        let mut headers = http::HeaderMap::new();
        headers.insert("x-ms-meta-foo", HeaderValue::from_static("1"));
        headers.insert("x-ms-meta-bar", HeaderValue::from_static("2"));
        headers.insert("etag", HeaderValue::from_static("3"));
        let exposed = expose_headers("x-ms-meta-*, x-ms-request-id", &headers);
        let mut names: Vec<&str> = exposed.split(',').collect();
        names.sort();
        assert_eq!(names, ["x-ms-meta-bar", "x-ms-meta-foo", "x-ms-request-id"]);
        assert_eq!(expose_headers("", &headers), "");
        assert!(list_contains("GET,PUT", "PUT", false) && !list_contains("GET", "PUT", false));
        assert!(list_contains("x-ms-meta-*", "x-ms-meta-abc", true));
    }
}
