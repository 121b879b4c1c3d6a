//! Request bodies into the blob-data stream, and blob bodies out to the client: both
//! streamed, holding at most one segment (4 MiB by default) per request in memory.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use lazuli_partition::{BlobRow, Partition, Piece, Segment, UploadedBody};
use lazuli_types::checksum::{Crc64, Md5Hasher};
use lazuli_types::{AzureError, ErrorCode};
use tokio::sync::mpsc;

use crate::http_util::{full, ResponseBody};

/// Segments in flight to the client per download: one being sent while the next is read.
const DOWNLOAD_SEGMENTS_AHEAD: usize = 2;
/// Ranges of one segment up to this size are read on the request's own thread when their
/// bytes are in the page cache (see `blob_range`); a larger one would hold that thread, and
/// every connection it serves, for a millisecond or more. A segment written before blob data
/// had checksums per 64 KiB is read whole for any range of it, so it must itself be this
/// small.
const INLINE_READ_BYTES_MAX: u32 = 1024 * 1024;
/// A body's last segment up to this size is hashed and appended on the request's own thread
/// (`Partition::append_segment_async`). A larger one goes to a blocking thread: its MD5 would
/// hold a runtime thread, and every connection it serves, for longer than the hand-off costs
/// (MD5 runs at ~0.55 GiB/s here: 256 KiB takes ~0.45 ms, 4 MiB ~7 ms).
const ASYNC_APPEND_BYTES_MAX: usize = 256 * 1024;
/// Unwritten pages of a page blob are read from this.
static ZERO_CHUNK: [u8; 64 * 1024] = [0; 64 * 1024];

/// What was received, with the checksums computed over it.
pub struct Received {
    pub body: UploadedBody,
    pub crc64: u64,
}

struct Hashers {
    /// MD5 runs at a few hundred MB/s per core, an order of magnitude slower than the rest of
    /// the path: it is computed only when the operation needs it.
    md5: Option<Md5Hasher>,
    crc64: Crc64,
}

impl Hashers {
    fn update(&mut self, bytes: &[u8]) {
        if let Some(md5) = self.md5.as_mut() {
            md5.update(bytes);
        }
        self.crc64.update(bytes);
    }
}

/// Reads a request body of at most `max_bytes`. Small bodies (up to the partition's inline
/// limit, when `inline_allowed`) stay in memory; larger ones are appended segment by segment
/// to the blob-data stream, hashing each segment on the same blocking thread as its append
/// (the last one, if small, on this task: see `ASYNC_APPEND_BYTES_MAX`).
/// On any error the segments already written are released.
///
/// With `structured`, the body is a structured message (see `structured.rs`): it is decoded
/// on the fly, its CRCs checked, and only the content is stored.
pub async fn receive(
    partition: &Arc<Partition>,
    mut body: Incoming,
    max_bytes: u64,
    inline_allowed: bool,
    want_md5: bool,
    mut structured: Option<crate::structured::Decoder>,
) -> Result<Received, AzureError> {
    let options = partition.options();
    let segment_max = options.segment_bytes_max;
    let inline_max = if inline_allowed { options.inline_bytes_max } else { 0 };
    let mut buffer = BytesMut::new();
    let mut segments: Vec<Segment> = Vec::new();
    let mut hashers = Hashers {
        md5: want_md5.then(Md5Hasher::new),
        crc64: Crc64::new(),
    };
    let mut total: u64 = 0;
    let fail = |partition: &Arc<Partition>, segments: &[Segment], error: AzureError| {
        partition.release_segments(segments);
        Err(error)
    };
    loop {
        let frame = match body.frame().await {
            None => break,
            Some(Ok(frame)) => frame,
            Some(Err(error)) => {
                tracing::debug!(%error, "request body failed");
                return fail(
                    partition,
                    &segments,
                    AzureError::new(ErrorCode::InvalidInput, "The request body could not be read."),
                );
            }
        };
        let Ok(data) = frame.into_data() else { continue };
        match structured.as_mut() {
            Some(decoder) => {
                let before = buffer.len();
                if let Err(error) = decoder.push(&data, &mut buffer) {
                    return fail(partition, &segments, error);
                }
                total += (buffer.len() - before) as u64;
            }
            None => {
                total += data.len() as u64;
                buffer.extend_from_slice(&data);
            }
        }
        if total > max_bytes {
            return fail(
                partition,
                &segments,
                AzureError::new(
                    ErrorCode::RequestBodyTooLarge,
                    "The request body is too large and exceeds the maximum permissible limit.",
                )
                .with_detail("MaxLimit", max_bytes.to_string()),
            );
        }
        while buffer.len() >= segment_max.max(inline_max + 1) {
            let chunk = buffer.split_to(segment_max).freeze();
            match append(partition, chunk, hashers).await {
                Ok((segment, back)) => {
                    segments.push(segment);
                    hashers = back;
                }
                Err(error) => return fail(partition, &segments, error),
            }
        }
    }
    if let Some(decoder) = &structured {
        if let Err(error) = decoder.finish() {
            return fail(partition, &segments, error);
        }
    }
    if segments.is_empty() && buffer.len() <= inline_max {
        hashers.update(&buffer);
        let body = UploadedBody {
            inline: Some(buffer.to_vec()),
            segments,
            len: total,
            md5: hashers.md5.map(Md5Hasher::finish).unwrap_or_default(),
        };
        return Ok(Received {
            body,
            crc64: hashers.crc64.finish(),
        });
    }
    if !buffer.is_empty() {
        let appended = if buffer.len() <= ASYNC_APPEND_BYTES_MAX {
            // Hashed and queued right here, awaited without a thread: the hand-off to a
            // blocking thread and back cost more than the hashing (see the constant).
            hashers.update(&buffer);
            match partition.append_segment_async(&buffer).await {
                Ok(segment) => Ok((segment, hashers)),
                Err(error) => Err(error.into()),
            }
        } else {
            append(partition, buffer.freeze(), hashers).await
        };
        match appended {
            Ok((segment, back)) => {
                segments.push(segment);
                hashers = back;
            }
            Err(error) => return fail(partition, &segments, error),
        }
    }
    let crc64 = hashers.crc64.finish();
    let body = UploadedBody {
        inline: None,
        segments,
        len: total,
        md5: hashers.md5.map(Md5Hasher::finish).unwrap_or_default(),
    };
    Ok(Received { body, crc64 })
}

async fn append(
    partition: &Arc<Partition>,
    chunk: Bytes,
    mut hashers: Hashers,
) -> Result<(Segment, Hashers), AzureError> {
    let partition = partition.clone();
    let joined = tokio::task::spawn_blocking(move || {
        hashers.update(&chunk);
        partition.append_segment(&chunk).map(|segment| (segment, hashers))
    })
    .await;
    match joined {
        Ok(Ok(result)) => Ok(result),
        Ok(Err(error)) => Err(error.into()),
        Err(_) => Err(AzureError::internal("append task failed")),
    }
}

/// Checks the transactional checksums a client sent against what was received.
pub fn verify_checksums(
    received: &Received,
    content_md5: Option<&str>,
    content_crc64: Option<&str>,
) -> Result<(), AzureError> {
    if content_md5.is_some() && content_crc64.is_some() {
        return Err(AzureError::new(
            ErrorCode::InvalidHeaderValue,
            "Both Content-MD5 and x-ms-content-crc64 headers are present; only one may be sent.",
        ));
    }
    if let Some(value) = content_md5 {
        let expected = lazuli_types::checksum::md5_from_header(value).ok_or_else(|| {
            AzureError::new(
                ErrorCode::InvalidMd5,
                "The MD5 value specified in the request is invalid. The MD5 value must be 128 bits and Base64-encoded.",
            )
        })?;
        if expected != received.body.md5 {
            return Err(AzureError::new(
                ErrorCode::Md5Mismatch,
                "The MD5 value specified in the request did not match with the MD5 value calculated by the server.",
            )
            .with_detail("UserSpecifiedMd5", value.to_string())
            .with_detail(
                "ServerCalculatedMd5",
                lazuli_types::checksum::md5_to_header(&received.body.md5),
            ));
        }
    }
    if let Some(value) = content_crc64 {
        let expected = lazuli_types::checksum::crc64_from_header(value)
            .ok_or_else(|| AzureError::header("x-ms-content-crc64", value))?;
        if expected != received.crc64 {
            return Err(AzureError::new(
                ErrorCode::Crc64Mismatch,
                "The CRC64 value specified in the request did not match with the CRC64 value calculated by the server.",
            )
            .with_detail("UserSpecifiedCrc64", value.to_string())
            .with_detail(
                "ServerCalculatedCrc64",
                lazuli_types::checksum::crc64_to_header(received.crc64),
            ));
        }
    }
    Ok(())
}

/// A response body fed by a task that reads segments on blocking threads.
struct ChannelBody {
    receiver: mpsc::Receiver<Result<Bytes, std::io::Error>>,
    remaining: u64,
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        match self.receiver.poll_recv(cx) {
            Poll::Ready(Some(Ok(bytes))) => {
                self.remaining = self.remaining.saturating_sub(bytes.len() as u64);
                Poll::Ready(Some(Ok(Frame::data(bytes))))
            }
            Poll::Ready(Some(Err(error))) => Poll::Ready(Some(Err(error))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

fn inline_bounds(size: usize, start: u64, len: u64) -> (usize, usize) {
    let from = usize::try_from(start).unwrap_or(usize::MAX).min(size);
    let to = usize::try_from(start.saturating_add(len))
        .unwrap_or(usize::MAX)
        .min(size);
    (from, to)
}

/// The bytes `[start, start + len)` of a blob, streamed (an inline body without a copy: it
/// shares the memory of the row as the table handed it out).
pub fn blob_range(partition: &Arc<Partition>, row: &BlobRow, start: u64, len: u64) -> ResponseBody {
    if let Some(inline) = &row.inline {
        let (from, to) = inline_bounds(inline.len(), start, len);
        return full(inline.slice(from..to));
    }
    // Segment slices and, for page blobs, runs of zeros for unwritten pages.
    let plan = row.read_plan(start, len);
    // A range within one segment whose bytes are in the page cache is read right here: the
    // hand-off to a blocking thread and back (a task, a channel, two wake-ups) cost more than
    // the read, ~100 us of CPU per 64 KiB Get and ~150 us per 1 MiB Get. Anything else,
    // errors included, takes the streaming path below, which reports them as it always did.
    if let [Piece::Data {
        segment,
        skip,
        len: take,
    }] = plan.as_slice()
    {
        // Only a segment too large to read whole here needs asking how it reads a range.
        let small_enough = segment.len <= INLINE_READ_BYTES_MAX
            || (*take <= INLINE_READ_BYTES_MAX && partition.reads_ranges_by_chunk(*segment));
        if small_enough {
            if let Ok(Some(bytes)) = partition.read_segment_range_cached(*segment, *skip, *take) {
                return full(Bytes::from(bytes));
            }
        }
    }
    stream_pieces(partition, plan, len)
}

/// Streams `plan` (`len` bytes in all), its segments read on blocking threads.
fn stream_pieces(partition: &Arc<Partition>, plan: Vec<Piece>, len: u64) -> ResponseBody {
    let (sender, receiver) = mpsc::channel(DOWNLOAD_SEGMENTS_AHEAD);
    let partition = partition.clone();
    tokio::spawn(async move {
        for piece in plan {
            let (segment, skip, take) = match piece {
                Piece::Data { segment, skip, len } => (segment, skip, len),
                Piece::Zeros(mut n) => {
                    // Zeros are sent in bounded chunks: an unwritten range may be terabytes.
                    while n > 0 {
                        let chunk = n.min(ZERO_CHUNK.len() as u64) as usize;
                        if sender.send(Ok(Bytes::from_static(&ZERO_CHUNK[..chunk]))).await.is_err() {
                            return;
                        }
                        n -= chunk as u64;
                    }
                    continue;
                }
            };
            let reader = partition.clone();
            let read = tokio::task::spawn_blocking(move || reader.read_segment_range(segment, skip, take)).await;
            let chunk = match read {
                Ok(Ok(bytes)) => Ok(Bytes::from(bytes)),
                Ok(Err(error)) => {
                    tracing::error!(%error, "blob segment read failed");
                    Err(std::io::Error::other(error.to_string()))
                }
                Err(_) => Err(std::io::Error::other("read task failed")),
            };
            let failed = chunk.is_err();
            if sender.send(chunk).await.is_err() || failed {
                return;
            }
        }
    });
    ChannelBody {
        receiver,
        remaining: len,
    }
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use lazuli_partition::{CommittedBlock, PartitionOptions};
    use lazuli_stream::MemStore;

    async fn collect(body: ResponseBody) -> Vec<u8> {
        body.collect().await.expect("body").to_bytes().to_vec()
    }

    /// A range within one segment is read on the spot when its bytes are in memory and
    /// streamed from a blocking thread when they are not; both give the same bytes, and a
    /// range across segments is streamed.
    #[tokio::test]
    async fn segment_ranges_read_the_same_from_memory_or_not() {
        let store = MemStore::new();
        let partition = Arc::new(Partition::open(store.clone(), PartitionOptions::default()).expect("open"));
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let (first, second) = data.split_at(60_000);
        let segments = vec![
            partition.append_segment(first).expect("append"),
            partition.append_segment(second).expect("append"),
        ];
        let row = BlobRow {
            blob_type: "BlockBlob".into(),
            content_length: data.len() as u64,
            blocks: vec![CommittedBlock {
                id: String::new(),
                size: data.len() as u64,
                segments,
            }],
            ..Default::default()
        };
        for cold in [false, true] {
            store.set_cold_reads(cold);
            for (start, len) in [
                (0, 60_000),
                (1_000, 5_000),
                (60_000, 40_000),
                (59_000, 2_000),
                (0, 100_000),
            ] {
                let body = collect(blob_range(&partition, &row, start, len)).await;
                let (start, end) = (start as usize, (start + len) as usize);
                assert_eq!(body, data[start..end], "cold {cold}, bytes {start}..{end}");
            }
        }
    }
}
