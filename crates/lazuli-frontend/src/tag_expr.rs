//! The wire side of blob index tags: the `x-ms-tags` header, the `x-ms-if-tags` header and
//! the `where` parameter of Find Blobs by Tags. The grammar itself lives in
//! `lazuli_types::tag_expr`, because the partition layer evaluates conditions under the
//! blob's lock; this module turns its syntax errors into the service's answers.

use std::borrow::Cow;

use http::HeaderMap;
use lazuli_types::tag_expr::{self, Comparison, Dialect, TagExpr};
use lazuli_types::{AzureError, ErrorCode};

use crate::http_util::{header_str, names, percent_decode_utf8, PlusMode};

/// `x-ms-if-tags`, parsed; a syntax error is 400 InvalidHeaderValue.
pub fn if_tags(headers: &HeaderMap) -> Result<Option<TagExpr>, AzureError> {
    let Some(value) = header_str(headers, names::X_MS_IF_TAGS)? else {
        return Ok(None);
    };
    tag_expr::parse(value, Dialect::Condition)
        .map(Some)
        .map_err(|reason| AzureError::header("x-ms-if-tags", value).with_detail("Reason", reason))
}

/// The `where` parameter of Find Blobs by Tags; a syntax error is 400
/// InvalidQueryParameterValue, as the service answers.
pub fn parse_where(value: Option<&str>) -> Result<Vec<Comparison>, AzureError> {
    let value = value.unwrap_or("");
    tag_expr::parse_filter(value).map_err(|reason| {
        AzureError::new(
            ErrorCode::InvalidQueryParameterValue,
            "Error parsing query at or near character position 1: syntax error",
        )
        .with_detail("QueryParameterName", "where")
        .with_detail("QueryParameterValue", value.to_string())
        .with_detail("Reason", reason)
    })
}

/// `x-ms-tags` on Put Blob, Put Block List and copies: a query-string-encoded
/// `k1=v1&k2=v2`, validated like a Set Blob Tags body. `None` when the header is absent.
pub fn tags_header(headers: &HeaderMap) -> Result<Option<Vec<(String, String)>>, AzureError> {
    let Some(value) = header_str(headers, "x-ms-tags")? else {
        return Ok(None);
    };
    let invalid = || AzureError::header("x-ms-tags", value);
    let decode = |s: &str| -> Result<String, AzureError> {
        // Form encoding: '+' is a space (a literal '+' arrives as %2B).
        percent_decode_utf8(s, PlusMode::Space)
            .map(Cow::into_owned)
            .ok_or_else(invalid)
    };
    let mut tags = Vec::new();
    for piece in value.split('&').filter(|p| !p.is_empty()) {
        let (key, val) = piece.split_once('=').ok_or_else(invalid)?;
        tags.push((decode(key)?, decode(val)?));
    }
    crate::xml::validate_tags(&tags)?;
    Ok(Some(tags))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_forms() {
        let mut h = HeaderMap::new();
        h.insert("x-ms-tags", "a=1&b%20c=x%2By+z".parse().unwrap());
        assert_eq!(
            tags_header(&h).unwrap().unwrap(),
            vec![("a".into(), "1".into()), ("b c".into(), "x+y z".into())]
        );
        h.insert("x-ms-tags", "a".parse().unwrap());
        assert!(tags_header(&h).is_err());
        h.insert("x-ms-tags", "a=%21".parse().unwrap());
        assert!(tags_header(&h).is_err());
        h.insert("x-ms-if-tags", "\"a\" = '1' OR \"b\" <> '2'".parse().unwrap());
        assert!(if_tags(&h).unwrap().is_some());
        h.insert("x-ms-if-tags", "\"a\" = ".parse().unwrap());
        assert_eq!(if_tags(&h).unwrap_err().code, ErrorCode::InvalidHeaderValue);
        assert_eq!(
            parse_where(Some("x = 1")).unwrap_err().code,
            ErrorCode::InvalidQueryParameterValue
        );
    }
}
