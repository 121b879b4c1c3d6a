//! List Blobs over the blob rows and their sub-rows (snapshots, versions, soft-deleted
//! blobs). One range scan visits a blob's row and then its sub-rows (they sort right after
//! it); they are gathered per blob name and emitted in the service's order: snapshots oldest
//! first, then previous versions, then deleted rows, then the blob itself.
//!
//! A page never splits one blob's group, so that the marker stays a plain blob name: a page
//! stops before the first group that starts once `max_results` items are out (a group with
//! many snapshots can make a page longer than `max_results`).

use crate::blob::{ListBlobsOptions, ListBlobsPage};
use crate::container::container_not_found;
use crate::keys::{self, SUBROW_DELETED, SUBROW_SNAPSHOT, SUBROW_VERSION};
use crate::rows::{self, BlobRow};
use crate::{Partition, PartitionError};
use lazuli_types::AzureError;

/// Rows read per scan step while listing.
const LIST_SCAN_ROWS: usize = 1024;

#[derive(Default)]
struct Group {
    name: String,
    base: Option<BlobRow>,
    snapshots: Vec<BlobRow>,
    versions: Vec<BlobRow>,
    deleted: Vec<BlobRow>,
}

impl Group {
    fn flush(self, items: &mut Vec<Result<(String, BlobRow), String>>) {
        let name = self.name;
        for row in self
            .snapshots
            .into_iter()
            .chain(self.versions)
            .chain(self.deleted)
            .chain(self.base)
        {
            items.push(Ok((name.clone(), row)));
        }
    }

    fn is_empty(&self) -> bool {
        self.base.is_none() && self.snapshots.is_empty() && self.versions.is_empty() && self.deleted.is_empty()
    }
}

impl Partition {
    /// One page of List Blobs. With `chunks`, a plain listing of an HNS filesystem hands its
    /// items to the sink as the walk finds them instead of returning them (see
    /// [`Partition::list_blobs_chunked`]).
    pub(crate) fn list_blob_rows(
        &self,
        account: &str,
        container: &str,
        options: &ListBlobsOptions,
        chunks: Option<(usize, crate::blob::ItemSink<'_>)>,
    ) -> Result<ListBlobsPage, AzureError> {
        if !self.container_exists(account, container)? {
            return Err(container_not_found());
        }
        if self.is_hns(account) {
            return self.list_hns_blobs(account, container, options, chunks);
        }
        self.list_flat_rows(account, container, options, None)
    }

    /// List Blobs handing the page's items to `sink` as they are found, about `chunk` at a
    /// time, so that the caller can render one chunk while the next is read (a plain listing
    /// of an HNS filesystem is walked chunk by chunk; other listings come as one chunk).
    /// Returns the next marker.
    pub fn list_blobs_chunked(
        &self,
        account: &str,
        container: &str,
        options: &ListBlobsOptions,
        chunk: usize,
        sink: crate::blob::ItemSink<'_>,
    ) -> Result<Option<String>, AzureError> {
        let page = self.list_blob_rows(account, container, options, Some((chunk.max(1), &mut *sink)))?;
        if !page.items.is_empty() {
            sink(page.items);
        }
        Ok(page.next_marker)
    }

    /// The listing of the `B` rows (on an HNS account only snapshots, versions and deleted
    /// rows are there: the paths themselves are `P` rows).
    /// `until`: the name the scan stops before (the end of an HNS listing's page).
    pub(crate) fn list_flat_rows(
        &self,
        account: &str,
        container: &str,
        options: &ListBlobsOptions,
        until: Option<&str>,
    ) -> Result<ListBlobsPage, AzureError> {
        let base = keys::blobs_prefix(account, container);
        let prefix_key = [base.as_slice(), options.prefix.as_bytes()].concat();
        let end = match (keys::prefix_end(&prefix_key), until) {
            (end, None) => end,
            (None, Some(until)) => Some([base.as_slice(), until.as_bytes()].concat()),
            (Some(end), Some(until)) => Some(end.min([base.as_slice(), until.as_bytes()].concat())),
        };
        let mut start = prefix_key.clone();
        if let Some(marker) = options.marker {
            start = start.max([base.as_slice(), marker.as_bytes()].concat());
        }
        let delimiter = options.delimiter.filter(|d| !d.is_empty());
        let mut page = ListBlobsPage::default();
        let mut group: Option<Group> = None;
        loop {
            let found = self
                .table
                .scan(&start, end.as_deref(), LIST_SCAN_ROWS)
                .map_err(PartitionError::from)?;
            let Some((last_key, _)) = found.last() else { break };
            let full = found.len() == LIST_SCAN_ROWS;
            let mut after_last = [last_key.as_slice(), &[0]].concat();
            let mut restart_at = None;
            for (key, value) in &found {
                let full_name = String::from_utf8_lossy(&key[base.len()..]).into_owned();
                let (name, sub) = keys::split_blob_name(&full_name);
                if group.as_ref().is_none_or(|g| g.name != name) {
                    if let Some(done) = group.take() {
                        done.flush(&mut page.items);
                    }
                    if page.items.len() >= options.max_results {
                        page.next_marker = Some(name.to_string());
                        return Ok(page);
                    }
                    let rolled_up = delimiter.and_then(|d| {
                        let rest = name.get(options.prefix.len()..)?;
                        rest.find(d)
                            .map(|at| name[..options.prefix.len() + at + d.len()].to_string())
                    });
                    if let Some(blob_prefix) = rolled_up {
                        // Skip every other name under this prefix with one seek.
                        let prefix_bytes = [base.as_slice(), blob_prefix.as_bytes()].concat();
                        page.items.push(Err(blob_prefix));
                        match keys::prefix_end(&prefix_bytes) {
                            Some(after) => restart_at = Some(after),
                            None => return Ok(page),
                        }
                        break;
                    }
                    group = Some(Group {
                        name: name.to_string(),
                        ..Default::default()
                    });
                }
                let Some(current) = group.as_mut() else { continue };
                match sub {
                    None => current.base = Some(rows::decode_blob(value)?),
                    Some((SUBROW_SNAPSHOT, _)) if options.include_snapshots => {
                        let row = rows::decode_blob(value)?;
                        if row.deleted.is_none() || options.include_deleted {
                            current.snapshots.push(row);
                        }
                    }
                    Some((SUBROW_VERSION, _)) if options.include_versions => {
                        let mut row = rows::decode_blob(value)?;
                        row.previous_version = true;
                        if row.deleted.is_none() || options.include_deleted {
                            current.versions.push(row);
                        }
                    }
                    Some((SUBROW_DELETED, _)) if options.include_deleted => {
                        current.deleted.push(rows::decode_blob(value)?);
                    }
                    _ => {}
                }
            }
            match restart_at {
                Some(after) => after_last = after,
                None if !full => break,
                None => {}
            }
            start = after_last;
        }
        if let Some(done) = group.take().filter(|g| !g.is_empty()) {
            done.flush(&mut page.items);
        }
        Ok(page)
    }
}
