//! Copy Blob state: what the copy properties of a destination blob report.

use lazuli_table::WriteBatch;
use lazuli_types::conditions::{ConditionFailure, Conditions};
use lazuli_types::{AzureError, ErrorCode};
use serde::{Deserialize, Serialize};

use crate::blob::{blob_not_found, UploadedBody};
use crate::rows::{BlobRow, CommittedBlock, HttpHeaders};
use crate::tags::NewBlobOptions;
use crate::{now_nanos, time_from_nanos, Partition};

/// The last copy operation whose destination is this blob.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopyState {
    pub id: String,
    pub source: String,
    /// `pending`, `success`, `aborted` or `failed`.
    pub status: String,
    /// `copied/total` bytes.
    pub progress: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<i128>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_description: Option<String>,
}

/// What an asynchronous copy fetched: the body, the source's content headers and metadata.
pub type FetchedCopy = (UploadedBody, HttpHeaders, Vec<(String, String)>);

/// A source blob read for a copy: its row, with one reference taken on each of its segments
/// so that they outlive a concurrent delete or overwrite of the source until the destination
/// row holds its own. Hand it to [`Partition::copy_from_pinned`] or [`Partition::unpin`].
pub struct PinnedSource {
    pub row: BlobRow,
}

fn source_condition_failed() -> AzureError {
    AzureError::new(
        ErrorCode::ConditionNotMet,
        "The condition specified using HTTP conditional header(s) is not met.",
    )
}

impl CopyState {
    pub fn finished(id: &str, source: &str, len: u64) -> CopyState {
        CopyState {
            id: id.to_string(),
            source: source.to_string(),
            status: "success".into(),
            progress: format!("{len}/{len}"),
            completion_time: Some(now_nanos()),
            status_description: None,
        }
    }
}

impl Partition {
    /// Reads a copy source under its lock, checks the source conditions (`x-ms-source-if-*`;
    /// every failure is 412 here, a copy never answers 304) and pins its segments.
    pub fn pin_source(
        &self,
        account: &str,
        container: &str,
        blob: &str,
        conditions: &Conditions,
    ) -> Result<PinnedSource, AzureError> {
        let _blob_guard = self.locks.blob(account, container, blob);
        let row = self
            .read_blob_row(account, container, blob)?
            .ok_or_else(blob_not_found)?;
        conditions.check_tags(&row.tags)?;
        match conditions.check_read(&row.etag, time_from_nanos(row.last_modified)) {
            Ok(()) => {}
            Err(ConditionFailure::NotModified) => return Err(source_condition_failed()),
            Err(ConditionFailure::Failed(error)) => return Err(error),
        }
        if row.is_archived(now_nanos()) {
            return Err(AzureError::new(
                ErrorCode::BlobArchived,
                "This operation is not permitted on an archived blob.",
            ));
        }
        self.reference_segments(row.segments());
        Ok(PinnedSource { row })
    }

    pub fn unpin(&self, source: PinnedSource) {
        self.release_segments(source.row.segments());
    }

    /// Creates (or overwrites) a blob with the content of a pinned source blob of this
    /// server: the new row shares the source's segments, so no byte is copied. `metadata`
    /// `None` copies the source's; `headers` `None` copies the source's content headers.
    #[allow(clippy::too_many_arguments)]
    pub fn copy_from_pinned(
        &self,
        account: &str,
        container: &str,
        blob: &str,
        source: PinnedSource,
        headers: Option<HttpHeaders>,
        metadata: Option<Vec<(String, String)>>,
        options: &NewBlobOptions,
        conditions: &Conditions,
    ) -> Result<BlobRow, AzureError> {
        let src = &source.row;
        let result = self.modify_blob(account, container, blob, |current| {
            Self::check_write_conditions(current, conditions)?;
            let now = now_nanos();
            let row = BlobRow {
                blob_type: src.blob_type.clone(),
                etag: self.new_etag(),
                last_modified: now,
                created: current.map_or(now, |row| row.created),
                content_length: src.content_length,
                headers: headers.clone().unwrap_or_else(|| src.headers.clone()),
                metadata: metadata.clone().unwrap_or_else(|| src.metadata.clone()),
                blocks: src.blocks.clone(),
                inline: src.inline.clone(),
                pages: src.pages.clone(),
                sequence_number: src.sequence_number,
                tags: options.tags.clone().unwrap_or_default(),
                tier: crate::tier::initial(options.tier.as_deref(), now),
                copy: options.copy.clone().map(|copy| CopyState {
                    progress: format!("{0}/{0}", src.content_length),
                    ..copy
                }),
                ..Default::default()
            };
            let mut batch = WriteBatch::new();
            let consumed = self.discard_uncommitted(account, container, blob, &mut batch)?;
            Ok((Some(row), batch, consumed))
        });
        // The destination row took its own references; the pin ends whatever happened.
        self.unpin(source);
        result?.ok_or_else(|| AzureError::internal("copy produced no row"))
    }

    /// The destination of an asynchronous copy from another server, while it runs: an
    /// empty blob whose copy status is `pending`.
    pub fn start_pending_copy(
        &self,
        account: &str,
        container: &str,
        blob: &str,
        copy: CopyState,
        options: &NewBlobOptions,
        conditions: &Conditions,
    ) -> Result<BlobRow, AzureError> {
        let options = NewBlobOptions {
            copy: Some(copy),
            ..options.clone()
        };
        self.put_blob_with(
            account,
            container,
            blob,
            UploadedBody::default(),
            HttpHeaders::default(),
            Vec::new(),
            conditions,
            &options,
        )
    }

    /// Ends an asynchronous copy: with the fetched body (success) or a reason (failed). Does
    /// nothing (and releases the body) if the copy was aborted or replaced meanwhile.
    pub fn finish_copy(
        &self,
        account: &str,
        container: &str,
        blob: &str,
        copy_id: &str,
        outcome: Result<FetchedCopy, String>,
    ) -> Result<(), AzureError> {
        let body_segments = match &outcome {
            Ok((body, ..)) => body.segments.clone(),
            Err(_) => Vec::new(),
        };
        let result = self.modify_blob(account, container, blob, |current| {
            let current = current.ok_or_else(blob_not_found)?;
            let pending = current
                .copy
                .as_ref()
                .is_some_and(|c| c.id == copy_id && c.status == "pending");
            if !pending {
                return Err(AzureError::new(
                    ErrorCode::NoPendingCopyOperation,
                    "There is currently no pending copy operation.",
                ));
            }
            let mut row = current.clone();
            let mut copy = current.copy.clone().unwrap_or_default();
            copy.completion_time = Some(now_nanos());
            let mut consumed = Vec::new();
            match &outcome {
                Ok((body, headers, metadata)) => {
                    copy.status = "success".into();
                    copy.progress = format!("{0}/{0}", body.len);
                    row.content_length = body.len;
                    row.headers = headers.clone();
                    if row.metadata.is_empty() {
                        row.metadata = metadata.clone();
                    }
                    if body.segments.is_empty() {
                        row.blocks = Vec::new();
                        row.inline = Some(body.inline.clone().unwrap_or_default());
                    } else {
                        row.blocks = vec![CommittedBlock {
                            id: String::new(),
                            size: body.len,
                            segments: body.segments.clone(),
                        }];
                        row.inline = None;
                    }
                    consumed.extend(body.segments.iter().copied());
                    row.etag = self.new_etag();
                    row.last_modified = now_nanos();
                }
                Err(reason) => {
                    copy.status = "failed".into();
                    copy.status_description = Some(reason.clone());
                }
            }
            row.copy = Some(copy);
            Ok((Some(row), WriteBatch::new(), consumed))
        });
        if result.is_err() {
            self.release_segments(&body_segments);
        }
        result.map(|_| ())
    }

    /// Abort Copy Blob: a pending copy with this id ends `aborted`, leaving an empty blob.
    pub fn abort_copy(
        &self,
        account: &str,
        container: &str,
        blob: &str,
        copy_id: &str,
        conditions: &Conditions,
    ) -> Result<(), AzureError> {
        self.modify_blob(account, container, blob, |current| {
            let current = current.ok_or_else(blob_not_found)?;
            conditions.check_tags(&current.tags)?;
            let Some(copy) = current.copy.as_ref().filter(|c| c.status == "pending") else {
                return Err(AzureError::new(
                    ErrorCode::NoPendingCopyOperation,
                    "There is currently no pending copy operation.",
                ));
            };
            if copy.id != copy_id {
                return Err(AzureError::new(
                    ErrorCode::CopyIdMismatch,
                    "The specified copy ID did not match the copy ID for the pending copy operation.",
                ));
            }
            let mut row = current.clone();
            row.copy = Some(CopyState {
                status: "aborted".into(),
                completion_time: Some(now_nanos()),
                ..copy.clone()
            });
            Ok((Some(row), WriteBatch::new(), Vec::new()))
        })?;
        Ok(())
    }
}
