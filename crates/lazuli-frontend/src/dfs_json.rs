//! The DFS (ADLS Gen2) wire format: `x-ms-properties` and the JSON bodies of the listings.
//!
//! List Paths serialises numbers and booleans as strings (`"contentLength":"3"`,
//! `"isDirectory":"true"`), as the service does; the SDKs' deserializers accept both.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use lazuli_partition::hns::PathRow;
use lazuli_partition::ContainerRow;
use lazuli_types::time_fmt::rfc1123;
use lazuli_types::{AzureError, ErrorCode};
use serde_json::{json, Value};

fn invalid_properties(value: &str) -> AzureError {
    AzureError::new(
        ErrorCode::InvalidHeaderValue,
        "The value for one of the HTTP headers is not in the correct format.",
    )
    .with_detail("HeaderName", "x-ms-properties")
    .with_detail("HeaderValue", value.to_string())
}

/// `n1=<base64 v1>,n2=<base64 v2>` as metadata (name, decoded value). The values are stored
/// as the blob metadata values, so they must decode to UTF-8 text.
pub fn parse_properties(value: &str) -> Result<Vec<(String, String)>, AzureError> {
    let mut out = Vec::new();
    for pair in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, encoded) = pair.split_once('=').ok_or_else(|| invalid_properties(value))?;
        let bytes = BASE64.decode(encoded.trim()).map_err(|_| invalid_properties(value))?;
        let text = String::from_utf8(bytes).map_err(|_| invalid_properties(value))?;
        out.push((name.trim().to_string(), text));
    }
    lazuli_types::names::validate_metadata(&out)?;
    Ok(out)
}

pub fn format_properties(metadata: &[(String, String)]) -> String {
    metadata
        .iter()
        .map(|(name, value)| format!("{name}={}", BASE64.encode(value.as_bytes())))
        .collect::<Vec<_>>()
        .join(",")
}

pub fn filesystems(items: &[(String, ContainerRow)]) -> Vec<u8> {
    let list: Vec<Value> = items
        .iter()
        .map(|(name, row)| {
            json!({
                "name": name,
                "lastModified": rfc1123(lazuli_partition::time_from_nanos(row.last_modified)),
                "etag": row.etag,
            })
        })
        .collect();
    json!({ "filesystems": list }).to_string().into_bytes()
}

pub fn paths(items: &[(String, PathRow)]) -> Vec<u8> {
    let list: Vec<Value> = items
        .iter()
        .map(|(name, row)| {
            let mut item = json!({
                "name": name,
                "contentLength": row.blob.content_length.to_string(),
                "lastModified": rfc1123(lazuli_partition::time_from_nanos(row.blob.last_modified)),
                "etag": row.blob.etag,
                "owner": row.owner,
                "group": row.group,
                "permissions": row.permissions,
                "creationTime": windows_file_time(row.blob.created).to_string(),
            });
            if row.is_directory {
                item["isDirectory"] = Value::String("true".into());
            }
            item
        })
        .collect();
    json!({ "paths": list }).to_string().into_bytes()
}

/// The service reports `creationTime` as a Windows file time (100 ns ticks since 1601).
fn windows_file_time(unix_nanos: i128) -> i128 {
    const EPOCH_DIFFERENCE_TICKS: i128 = 116_444_736_000_000_000;
    unix_nanos / 100 + EPOCH_DIFFERENCE_TICKS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_round_trip() {
        let parsed = parse_properties("k=dg==, other=dmFsdWU=").unwrap();
        assert_eq!(parsed, vec![("k".into(), "v".into()), ("other".into(), "value".into())]);
        assert_eq!(format_properties(&parsed), "k=dg==,other=dmFsdWU=");
        assert!(parse_properties("k=!!").is_err());
        assert!(parse_properties("novalue").is_err());
    }
}
