//! Resource names and the service's rules for them.

use crate::error::{AzureError, ErrorCode};

pub const CONTAINER_NAME_LEN_MIN: usize = 3;
pub const CONTAINER_NAME_LEN_MAX: usize = 63;
/// The service limits blob names to 1024 characters (UTF-16 code units on the service side).
pub const BLOB_NAME_LEN_MAX: usize = 1024;
/// More path segments than this are refused by the service for blob names.
pub const BLOB_NAME_SEGMENTS_MAX: usize = 254;
/// Total size of all metadata names and values on one resource.
pub const METADATA_BYTES_MAX: usize = 8 * 1024;

pub fn invalid_name() -> AzureError {
    AzureError::new(
        ErrorCode::InvalidResourceName,
        "The specifed resource name contains invalid characters.",
    )
}

/// Container names: 3–63 characters of lowercase letters, digits and single hyphens, starting
/// and ending with a letter or digit. `$root`, `$logs` and `$web` are the reserved names.
pub fn validate_container_name(name: &str) -> Result<(), AzureError> {
    if matches!(name, "$root" | "$logs" | "$web" | "$blobchangefeed") {
        return Ok(());
    }
    let bytes = name.as_bytes();
    let length_ok = (CONTAINER_NAME_LEN_MIN..=CONTAINER_NAME_LEN_MAX).contains(&bytes.len());
    let chars_ok = bytes
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
    let edges_ok = bytes.first().is_some_and(|b| *b != b'-') && bytes.last().is_some_and(|b| *b != b'-');
    let no_double_hyphen = !name.contains("--");
    if length_ok && chars_ok && edges_ok && no_double_hyphen {
        Ok(())
    } else if !length_ok {
        Err(AzureError::new(
            ErrorCode::OutOfRangeInput,
            "The specified resource name length is not within the permissible limits.",
        ))
    } else {
        Err(invalid_name())
    }
}

/// Blob names: 1–1024 characters, at most 254 segments. Any Unicode is allowed except that
/// the service refuses names ending in a dot or slash-dot (they cannot be addressed as URLs)
/// and control characters that cannot be carried in an XML listing; we refuse NUL and
/// U+FFFE/U+FFFF as well.
pub fn validate_blob_name(name: &str) -> Result<(), AzureError> {
    let length = name.encode_utf16().count();
    if length == 0 || length > BLOB_NAME_LEN_MAX {
        return Err(AzureError::new(
            ErrorCode::OutOfRangeInput,
            "The specified resource name length is not within the permissible limits.",
        ));
    }
    if name.split('/').count() > BLOB_NAME_SEGMENTS_MAX {
        return Err(invalid_name());
    }
    if name.chars().any(|c| c == '\0' || c == '\u{FFFE}' || c == '\u{FFFF}') {
        return Err(invalid_name());
    }
    Ok(())
}

/// Metadata names must be valid C# identifiers (letters, digits, underscore; not starting with a digit).
pub fn validate_metadata_name(name: &str) -> Result<(), AzureError> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        Ok(())
    } else if name.is_empty() {
        Err(AzureError::new(
            ErrorCode::EmptyMetadataKey,
            "The key for one of the metadata key-value pairs is empty.",
        ))
    } else {
        Err(AzureError::new(
            ErrorCode::InvalidMetadata,
            "The metadata specified is invalid. It has characters that are not permitted.",
        ))
    }
}

pub fn validate_metadata(pairs: &[(String, String)]) -> Result<(), AzureError> {
    let mut total = 0usize;
    for (name, value) in pairs {
        validate_metadata_name(name)?;
        total += name.len() + value.len();
    }
    if total > METADATA_BYTES_MAX {
        return Err(AzureError::new(
            ErrorCode::MetadataTooLarge,
            "The size of the request metadata exceeds the maximum size permitted.",
        ));
    }
    Ok(())
}

/// Account names: 3–24 lowercase letters and digits.
pub fn is_valid_account_name(name: &str) -> bool {
    (3..=24).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_names() {
        for ok in [
            "abc",
            "a-b-c",
            "0abc",
            "$root",
            "a23456789012345678901234567890123456789012345678901234567890123",
        ] {
            assert!(validate_container_name(ok).is_ok(), "{ok}");
        }
        for bad in ["ab", "Abc", "a--b", "-ab", "ab-", "a_b", "a.b", "", "$other"] {
            assert!(validate_container_name(bad).is_err(), "{bad}");
        }
        assert_eq!(
            validate_container_name("ab").unwrap_err().code,
            ErrorCode::OutOfRangeInput
        );
        assert_eq!(
            validate_container_name("A_B").unwrap_err().code,
            ErrorCode::InvalidResourceName
        );
    }

    #[test]
    fn blob_names() {
        assert!(validate_blob_name("a/b/c.txt").is_ok());
        assert!(validate_blob_name("ünïcødé ☃").is_ok());
        assert!(validate_blob_name(&"x".repeat(1024)).is_ok());
        assert!(validate_blob_name(&"x".repeat(1025)).is_err());
        assert!(validate_blob_name("").is_err());
        assert!(validate_blob_name("a\0b").is_err());
        assert!(validate_blob_name(&"a/".repeat(300)).is_err());
    }

    #[test]
    fn metadata() {
        assert!(validate_metadata(&[("a_b1".into(), "x".into())]).is_ok());
        assert_eq!(
            validate_metadata(&[("1a".into(), "x".into())]).unwrap_err().code,
            ErrorCode::InvalidMetadata
        );
        assert_eq!(
            validate_metadata(&[("a".into(), "x".repeat(9000))]).unwrap_err().code,
            ErrorCode::MetadataTooLarge
        );
    }
}
