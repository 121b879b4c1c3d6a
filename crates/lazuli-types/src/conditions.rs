//! Conditional headers (`If-Match`, `If-None-Match`, `If-Modified-Since`,
//! `If-Unmodified-Since`) and how the service answers when they fail.

use time::OffsetDateTime;

use crate::error::{AzureError, ErrorCode};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Conditions {
    pub if_match: Option<String>,
    pub if_none_match: Option<String>,
    pub if_modified_since: Option<OffsetDateTime>,
    pub if_unmodified_since: Option<OffsetDateTime>,
    /// `x-ms-if-tags`: the operation applies only if the blob's tags satisfy it.
    pub if_tags: Option<crate::tag_expr::TagExpr>,
    /// `x-ms-lease-id`: the lease access condition. Checked by the partition layer against
    /// the resource's lease (not part of [`Conditions::is_empty`], which is about the HTTP
    /// conditional headers).
    pub lease_id: Option<String>,
}

/// The outcome of a failed condition on a read: 304 with no body, or 412.
#[derive(Debug, PartialEq, Eq)]
pub enum ConditionFailure {
    NotModified,
    Failed(AzureError),
}

fn etag_matches(list: &str, etag: &str) -> bool {
    list.split(',')
        .map(str::trim)
        .any(|candidate| candidate == "*" || candidate == etag)
}

fn not_met() -> AzureError {
    AzureError::new(
        ErrorCode::ConditionNotMet,
        "The condition specified using HTTP conditional header(s) is not met.",
    )
}

/// Times on the wire have second precision: compare at that precision, as the service does.
fn secs(t: OffsetDateTime) -> i64 {
    t.unix_timestamp()
}

impl Conditions {
    pub fn is_empty(&self) -> bool {
        self.if_match.is_none()
            && self.if_none_match.is_none()
            && self.if_modified_since.is_none()
            && self.if_unmodified_since.is_none()
            && self.if_tags.is_none()
    }

    /// Checks `x-ms-if-tags` against a blob's tags (412 ConditionNotMet when it fails).
    pub fn check_tags(&self, tags: &[(String, String)]) -> Result<(), AzureError> {
        match &self.if_tags {
            Some(expr) if !expr.holds(tags) => Err(not_met()),
            _ => Ok(()),
        }
    }

    /// Checks the conditions for a read of an existing resource.
    pub fn check_read(&self, etag: &str, last_modified: OffsetDateTime) -> Result<(), ConditionFailure> {
        if let Some(list) = &self.if_match {
            if !etag_matches(list, etag) {
                return Err(ConditionFailure::Failed(not_met()));
            }
        }
        if let Some(since) = self.if_unmodified_since {
            if secs(last_modified) > secs(since) {
                return Err(ConditionFailure::Failed(not_met()));
            }
        }
        if let Some(list) = &self.if_none_match {
            if etag_matches(list, etag) {
                return Err(ConditionFailure::NotModified);
            }
        }
        if let Some(since) = self.if_modified_since {
            if self.if_none_match.is_none() && secs(last_modified) <= secs(since) {
                return Err(ConditionFailure::NotModified);
            }
        }
        Ok(())
    }

    /// Checks the conditions for a write. `current` is the resource's (etag, last modified)
    /// if it exists. A write never answers 304: every failure is 412, except that
    /// `If-None-Match: *` against an existing resource answers `exists` (409 BlobAlreadyExists
    /// for blobs).
    pub fn check_write(&self, current: Option<(&str, OffsetDateTime)>, exists: ErrorCode) -> Result<(), AzureError> {
        match current {
            None => {
                if self.if_match.is_some() {
                    return Err(not_met());
                }
                Ok(())
            }
            Some((etag, last_modified)) => {
                if let Some(list) = &self.if_match {
                    if !etag_matches(list, etag) {
                        return Err(not_met());
                    }
                }
                if let Some(since) = self.if_unmodified_since {
                    if secs(last_modified) > secs(since) {
                        return Err(not_met());
                    }
                }
                if let Some(list) = &self.if_none_match {
                    if list.trim() == "*" {
                        return Err(AzureError::new(exists, "The specified blob already exists."));
                    }
                    if etag_matches(list, etag) {
                        return Err(not_met());
                    }
                }
                if let Some(since) = self.if_modified_since {
                    if secs(last_modified) <= secs(since) {
                        return Err(not_met());
                    }
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(secs).unwrap()
    }

    #[test]
    fn reads() {
        let etag = "\"0x1\"";
        let none = Conditions::default();
        assert!(none.check_read(etag, at(100)).is_ok());
        let c = Conditions {
            if_none_match: Some(etag.into()),
            ..Default::default()
        };
        assert_eq!(c.check_read(etag, at(100)), Err(ConditionFailure::NotModified));
        let c = Conditions {
            if_match: Some("\"0x2\"".into()),
            ..Default::default()
        };
        assert!(matches!(c.check_read(etag, at(100)), Err(ConditionFailure::Failed(_))));
        let c = Conditions {
            if_modified_since: Some(at(100)),
            ..Default::default()
        };
        assert_eq!(c.check_read(etag, at(100)), Err(ConditionFailure::NotModified));
        assert!(c.check_read(etag, at(101)).is_ok());
        let c = Conditions {
            if_unmodified_since: Some(at(99)),
            ..Default::default()
        };
        assert!(matches!(c.check_read(etag, at(100)), Err(ConditionFailure::Failed(_))));
    }

    #[test]
    fn writes() {
        let etag = "\"0x1\"";
        let star = Conditions {
            if_none_match: Some("*".into()),
            ..Default::default()
        };
        assert!(star.check_write(None, ErrorCode::BlobAlreadyExists).is_ok());
        assert_eq!(
            star.check_write(Some((etag, at(1))), ErrorCode::BlobAlreadyExists)
                .unwrap_err()
                .code,
            ErrorCode::BlobAlreadyExists
        );
        let m = Conditions {
            if_match: Some(etag.into()),
            ..Default::default()
        };
        assert!(m.check_write(Some((etag, at(1))), ErrorCode::BlobAlreadyExists).is_ok());
        assert_eq!(
            m.check_write(None, ErrorCode::BlobAlreadyExists).unwrap_err().code,
            ErrorCode::ConditionNotMet
        );
        let nm = Conditions {
            if_none_match: Some(etag.into()),
            ..Default::default()
        };
        assert_eq!(
            nm.check_write(Some((etag, at(1))), ErrorCode::BlobAlreadyExists)
                .unwrap_err()
                .code,
            ErrorCode::ConditionNotMet
        );
    }
}
