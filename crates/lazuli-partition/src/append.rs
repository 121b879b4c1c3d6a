//! Append blobs: created empty, grown by Append Block, optionally sealed.
//!
//! An append blob's row keeps one committed block per Append Block call (with an empty id),
//! each naming the segments its bytes were streamed into. Appending adds one entry to the
//! row's block list: earlier data is never copied.

use lazuli_table::WriteBatch;
use lazuli_types::conditions::Conditions;
use lazuli_types::{AzureError, ErrorCode};

use crate::blob::{blob_not_found, UploadedBody, COMMITTED_BLOCKS_MAX};
use crate::rows::{BlobRow, CommittedBlock, HttpHeaders, Segment};
use crate::{now_nanos, Partition};

/// Append Block accepts up to 100 MiB per call (service version 2022-11-02 and later).
pub const APPEND_BLOCK_BYTES_MAX: u64 = 100 * 1024 * 1024;

/// `x-ms-blob-condition-appendpos` and `x-ms-blob-condition-maxsize`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AppendConditions {
    /// The blob's length must equal this before the append.
    pub append_position: Option<u64>,
    /// The blob's length after the append must not exceed this.
    pub max_size: Option<u64>,
}

impl AppendConditions {
    fn check(&self, length: u64, appended: u64) -> Result<(), AzureError> {
        if self.max_size.is_some_and(|max| length.saturating_add(appended) > max) {
            return Err(AzureError::new(
                ErrorCode::MaxBlobSizeConditionNotMet,
                "The max blob size condition specified was not met.",
            ));
        }
        if self.append_position.is_some_and(|position| position != length) {
            return Err(AzureError::new(
                ErrorCode::AppendPositionConditionNotMet,
                "The append position condition specified was not met.",
            ));
        }
        Ok(())
    }
}

fn require_append_blob(row: &BlobRow) -> Result<(), AzureError> {
    if row.blob_type == "AppendBlob" {
        Ok(())
    } else {
        Err(AzureError::new(
            ErrorCode::InvalidBlobType,
            "The blob type is invalid for this operation.",
        ))
    }
}

fn blob_is_sealed() -> AzureError {
    AzureError::new(
        ErrorCode::BlobIsSealed,
        "The blob is sealed and its contents cannot be modified.",
    )
}

impl Partition {
    /// Put Blob with `x-ms-blob-type: AppendBlob`: a new, empty append blob (with `tags`, from
    /// `x-ms-tags`).
    #[allow(clippy::too_many_arguments)]
    pub fn create_append_blob(
        &self,
        account: &str,
        container: &str,
        blob: &str,
        headers: HttpHeaders,
        metadata: Vec<(String, String)>,
        tags: Vec<(String, String)>,
        conditions: &Conditions,
    ) -> Result<BlobRow, AzureError> {
        let row = self.modify_blob(account, container, blob, |current| {
            Self::check_write_conditions(current, conditions)?;
            let now = now_nanos();
            let row = BlobRow {
                blob_type: "AppendBlob".into(),
                etag: self.new_etag(),
                last_modified: now,
                created: current.map_or(now, |row| row.created),
                content_length: 0,
                headers,
                metadata,
                inline: Some(bytes::Bytes::new()),
                tags,
                ..Default::default()
            };
            let mut batch = WriteBatch::new();
            let consumed = self.discard_uncommitted(account, container, blob, &mut batch)?;
            Ok((Some(row), batch, consumed))
        })?;
        row.ok_or_else(|| AzureError::internal("create produced no row"))
    }

    /// Append Block: adds `body` at the end of the blob. Returns the new row and the offset
    /// at which the block was appended. On any error the body's segments are released.
    pub fn append_block(
        &self,
        account: &str,
        container: &str,
        blob: &str,
        body: UploadedBody,
        conditions: &Conditions,
        append: &AppendConditions,
    ) -> Result<(BlobRow, u64), AzureError> {
        let mut held: Vec<Segment> = body.segments.clone();
        let result = (|| {
            let segments = match &body.inline {
                // Appended bytes always live in the data stream, so that the row only grows
                // by a reference per append.
                Some(inline) if !inline.is_empty() => {
                    let segment = self.append_segment(inline)?;
                    held.push(segment);
                    vec![segment]
                }
                Some(_) => Vec::new(),
                None => body.segments.clone(),
            };
            let mut offset = 0;
            let row = self.modify_blob(account, container, blob, |current| {
                let current = current.ok_or_else(blob_not_found)?;
                Self::check_write_conditions(Some(current), conditions)?;
                require_append_blob(current)?;
                if current.sealed {
                    return Err(blob_is_sealed());
                }
                append.check(current.content_length, body.len)?;
                if current.blocks.len() >= COMMITTED_BLOCKS_MAX {
                    return Err(AzureError::new(
                        ErrorCode::BlockCountExceedsLimit,
                        "The committed block count cannot exceed the maximum limit of 50,000 blocks.",
                    ));
                }
                offset = current.content_length;
                let mut row = current.clone();
                row.blocks.push(CommittedBlock {
                    id: String::new(),
                    size: body.len,
                    segments,
                });
                row.inline = None;
                row.content_length += body.len;
                row.etag = self.new_etag();
                row.last_modified = now_nanos();
                Ok((Some(row), WriteBatch::new(), Vec::new()))
            })?;
            let row = row.ok_or_else(|| AzureError::internal("append produced no row"))?;
            Ok((row, offset))
        })();
        // The upload's own references end here: the row took its own if the append succeeded.
        self.release_segments(&held);
        result
    }

    /// Seal: the append blob becomes read-only (it can still be deleted or overwritten by
    /// Put Blob).
    pub fn seal_append_blob(
        &self,
        account: &str,
        container: &str,
        blob: &str,
        conditions: &Conditions,
        append: &AppendConditions,
    ) -> Result<BlobRow, AzureError> {
        let row = self.modify_blob(account, container, blob, |current| {
            let current = current.ok_or_else(blob_not_found)?;
            Self::check_write_conditions(Some(current), conditions)?;
            require_append_blob(current)?;
            append.check(current.content_length, 0)?;
            let mut row = current.clone();
            if !row.sealed {
                row.sealed = true;
                row.etag = self.new_etag();
                row.last_modified = now_nanos();
            }
            Ok((Some(row), WriteBatch::new(), Vec::new()))
        })?;
        row.ok_or_else(|| AzureError::internal("seal produced no row"))
    }
}
