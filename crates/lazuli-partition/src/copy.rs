//! Copy Blob state: what the copy properties of a destination blob report.

use lazuli_table::WriteBatch;
use lazuli_types::conditions::{ConditionFailure, Conditions};
use lazuli_types::{AzureError, ErrorCode};
use serde::{Deserialize, Serialize};

use lazuli_types::time_fmt::iso8601_7;

use crate::blob::{blob_not_found, UploadedBody};
use crate::keys;
use crate::rows::{self, BlobRow, CommittedBlock, HttpHeaders};
use crate::snapshot::BlobVersion;
use crate::tags::NewBlobOptions;
use crate::{now_nanos, time_from_nanos, Partition, PartitionError};

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
    /// An incremental copy blob (`x-ms-incremental-copy`): a page blob kept in step with
    /// snapshots of its source by Incremental Copy Blob.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub incremental: bool,
    /// The snapshot of the destination the last incremental copy took
    /// (`x-ms-copy-destination-snapshot`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_snapshot: Option<String>,
    /// The source snapshot the last incremental copy copied: a later copy must name a
    /// newer one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_snapshot: Option<String>,
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
            ..Default::default()
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

    /// Reads a snapshot of a page blob as the source of an incremental copy and pins its
    /// segments (see [`Partition::pin_source`]).
    pub fn pin_page_snapshot(
        &self,
        account: &str,
        container: &str,
        blob: &str,
        snapshot: &str,
    ) -> Result<PinnedSource, AzureError> {
        let _blob_guard = self.locks.blob(account, container, blob);
        let row = self
            .get_blob_version(
                account,
                container,
                blob,
                &BlobVersion::Snapshot(snapshot.to_string()),
                &Conditions::default(),
            )?
            .ok_or_else(|| AzureError::internal("unconditional read answered 304"))?;
        if row.blob_type != "PageBlob" {
            return Err(AzureError::new(
                ErrorCode::InvalidSourceBlobType,
                "The source blob type is invalid for this operation.",
            )
            .with_status(409));
        }
        self.reference_segments(row.segments());
        Ok(PinnedSource { row })
    }

    /// Incremental Copy Blob from a pinned page blob snapshot of this server: the destination
    /// (new, or an incremental copy blob of the same source blob whose last copied snapshot
    /// is older) takes the snapshot's pages by sharing its segments, and a snapshot of the
    /// destination is taken in the same atomic write. `source_blob` names the source blob
    /// (its URL without query); `copy` the copy state to record.
    #[allow(clippy::too_many_arguments)]
    pub fn incremental_copy(
        &self,
        account: &str,
        container: &str,
        blob: &str,
        source: PinnedSource,
        source_blob: &str,
        copy: CopyState,
        conditions: &Conditions,
    ) -> Result<BlobRow, AzureError> {
        let src = &source.row;
        let source_snapshot = src.snapshot.clone().unwrap_or_default();
        let mut snapshot_row: Option<BlobRow> = None;
        let result = self.modify_blob(account, container, blob, |current| {
            Self::check_write_conditions(current, conditions)?;
            if let Some(current) = current {
                let Some(previous) = current.copy.as_ref().filter(|c| c.incremental) else {
                    return Err(AzureError::new(
                        ErrorCode::InvalidBlobType,
                        "The blob type is invalid for this operation.",
                    ));
                };
                let same_source = previous
                    .source
                    .split('?')
                    .next()
                    .is_some_and(|s| s.eq_ignore_ascii_case(source_blob));
                if !same_source {
                    return Err(AzureError::new(
                        ErrorCode::IncrementalCopyBlobMismatch,
                        "The specified source blob is different than the copy source of the destination blob.",
                    ));
                }
                // Snapshot ids are fixed-width times: text order is time order.
                if previous.source_snapshot.as_deref().is_some_and(|p| p >= source_snapshot.as_str()) {
                    return Err(AzureError::new(
                        ErrorCode::IncrementalCopyOfEralierVersionSnapshotNotAllowed,
                        "The specified snapshot is earlier than the last snapshot copied into the incremental copy blob.",
                    ));
                }
            }
            let now = now_nanos();
            // The destination snapshot's id: a time to 100 ns not taken yet, as Snapshot Blob.
            let mut at = now;
            let (snapshot_id, snapshot_key) = loop {
                let id = iso8601_7(time_from_nanos(at));
                let key = keys::blob_subrow(account, container, blob, keys::SUBROW_SNAPSHOT, &id);
                if self.table.get(&key).map_err(PartitionError::from)?.is_none() {
                    break (id, key);
                }
                at += 100;
            };
            let row = BlobRow {
                blob_type: "PageBlob".into(),
                etag: self.new_etag(),
                last_modified: now,
                created: current.map_or(now, |row| row.created),
                content_length: src.content_length,
                headers: src.headers.clone(),
                metadata: src.metadata.clone(),
                pages: src.pages.clone(),
                sequence_number: src.sequence_number,
                tags: current.map(|row| row.tags.clone()).unwrap_or_default(),
                lease: current.and_then(|row| row.lease.clone()),
                copy: Some(CopyState {
                    progress: format!("{0}/{0}", src.content_length),
                    incremental: true,
                    destination_snapshot: Some(snapshot_id.clone()),
                    source_snapshot: Some(source_snapshot.clone()),
                    ..copy.clone()
                }),
                ..Default::default()
            };
            let mut snapshot = row.clone();
            snapshot.lease = None;
            snapshot.snapshot = Some(snapshot_id);
            let mut batch = WriteBatch::new();
            batch.put(snapshot_key, rows::encode_blob(&snapshot));
            snapshot_row = Some(snapshot);
            // As any blob creation: blocks staged under this name are dropped.
            let consumed = self.discard_uncommitted(account, container, blob, &mut batch)?;
            Ok((Some(row), batch, consumed))
        });
        if result.is_ok() {
            // The snapshot row written with the blob holds its own references; taken while
            // the pin still holds the segments.
            if let Some(snapshot) = &snapshot_row {
                self.reference_segments(snapshot.segments());
            }
        }
        self.unpin(source);
        result?.ok_or_else(|| AzureError::internal("incremental copy produced no row"))
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
                appended_blocks: src.appended_blocks,
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
                        row.inline = Some(bytes::Bytes::from(body.inline.clone().unwrap_or_default()));
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
