//! Structured message bodies (`x-ms-structured-body: XSM/1.0; properties=crc64`): the framing
//! newer SDKs use to carry a CRC-64 per segment and for the whole message, on uploads and,
//! when asked, downloads.
//!
//! Layout (all integers little-endian):
//! - message header, 13 bytes: version (u8 = 1), message length (u64, the whole encoded
//!   body), flags (u16; bit 0 = CRC-64), segment count (u16);
//! - per segment: number (u16, from 1), content length (u64), the content, and with the CRC
//!   flag its CRC-64/NVME (u64);
//! - with the CRC flag, the CRC-64 of all the content (u64).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{BufMut, Bytes, BytesMut};
use hyper::body::{Body, Frame, SizeHint};
use lazuli_types::checksum::Crc64;
use lazuli_types::{AzureError, ErrorCode};

use crate::http_util::ResponseBody;

/// The only form the SDKs send and accept.
pub const STRUCTURED_BODY_V1_CRC64: &str = "XSM/1.0; properties=crc64";
pub const MESSAGE_HEADER_BYTES: usize = 13;
pub const SEGMENT_HEADER_BYTES: usize = 10;
pub const CRC_BYTES: usize = 8;
const FLAG_CRC64: u16 = 1;
/// Segment size of the downloads we encode, as the SDKs use for uploads.
pub const DOWNLOAD_SEGMENT_BYTES: u64 = 4 * 1024 * 1024;

fn invalid(reason: &str) -> AzureError {
    AzureError::new(
        ErrorCode::InvalidInput,
        format!("The structured message body is invalid: {reason}."),
    )
}

fn crc_mismatch() -> AzureError {
    AzureError::new(
        ErrorCode::Crc64Mismatch,
        "The CRC64 value specified in the request did not match with the CRC64 value calculated by the server.",
    )
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Region {
    MessageHeader,
    SegmentHeader,
    SegmentContent { remaining: u64 },
    SegmentFooter,
    MessageFooter,
    Done,
}

/// Streaming decoder: feed the encoded body in any pieces, get the content out.
pub struct Decoder {
    region: Region,
    /// Bytes of a fixed-size region (header or footer) gathered so far.
    pending: Vec<u8>,
    encoded_len_expected: u64,
    encoded_len_seen: u64,
    crc: bool,
    segments: u16,
    segment: u16,
    segment_crc: Crc64,
    message_crc: Crc64,
    pub content_len: u64,
}

impl Decoder {
    /// `encoded_len` is the request's Content-Length (the message length must equal it).
    pub fn new(encoded_len: u64) -> Decoder {
        Decoder {
            region: Region::MessageHeader,
            pending: Vec::with_capacity(MESSAGE_HEADER_BYTES),
            encoded_len_expected: encoded_len,
            encoded_len_seen: 0,
            crc: false,
            segments: 0,
            segment: 0,
            segment_crc: Crc64::new(),
            message_crc: Crc64::new(),
            content_len: 0,
        }
    }

    fn region_len(&self) -> usize {
        match self.region {
            Region::MessageHeader => MESSAGE_HEADER_BYTES,
            Region::SegmentHeader => SEGMENT_HEADER_BYTES,
            Region::SegmentFooter | Region::MessageFooter => CRC_BYTES,
            Region::SegmentContent { .. } | Region::Done => 0,
        }
    }

    pub fn push(&mut self, mut input: &[u8], out: &mut BytesMut) -> Result<(), AzureError> {
        self.encoded_len_seen += input.len() as u64;
        if self.encoded_len_seen > self.encoded_len_expected {
            return Err(invalid("more bytes than the message length"));
        }
        while !input.is_empty() {
            match self.region {
                Region::Done => return Err(invalid("bytes after the message footer")),
                Region::SegmentContent { remaining } => {
                    let take = (remaining.min(input.len() as u64)) as usize;
                    let (content, rest) = input.split_at(take);
                    self.segment_crc.update(content);
                    self.message_crc.update(content);
                    out.put_slice(content);
                    self.content_len += take as u64;
                    input = rest;
                    let remaining = remaining - take as u64;
                    self.region = if remaining > 0 {
                        Region::SegmentContent { remaining }
                    } else if self.crc {
                        Region::SegmentFooter
                    } else {
                        self.after_segment()
                    };
                }
                _ => {
                    let need = self.region_len() - self.pending.len();
                    let take = need.min(input.len());
                    self.pending.extend_from_slice(&input[..take]);
                    input = &input[take..];
                    if self.pending.len() == self.region_len() {
                        let fixed = std::mem::take(&mut self.pending);
                        self.complete_fixed_region(&fixed)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn after_segment(&mut self) -> Region {
        if self.segment == self.segments {
            if self.crc {
                Region::MessageFooter
            } else {
                Region::Done
            }
        } else {
            Region::SegmentHeader
        }
    }

    fn complete_fixed_region(&mut self, bytes: &[u8]) -> Result<(), AzureError> {
        let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
        let u64_at = |at: usize| {
            let mut array = [0u8; 8];
            array.copy_from_slice(&bytes[at..at + 8]);
            u64::from_le_bytes(array)
        };
        match self.region {
            Region::MessageHeader => {
                if bytes[0] != 1 {
                    return Err(invalid("unsupported version"));
                }
                if u64_at(1) != self.encoded_len_expected {
                    return Err(invalid("message length differs from Content-Length"));
                }
                let flags = u16_at(9);
                if flags & !FLAG_CRC64 != 0 {
                    return Err(invalid("unknown flags"));
                }
                self.crc = flags & FLAG_CRC64 != 0;
                self.segments = u16_at(11);
                if self.segments == 0 {
                    return Err(invalid("no segments"));
                }
                self.region = Region::SegmentHeader;
            }
            Region::SegmentHeader => {
                let number = u16_at(0);
                if number != self.segment + 1 || number > self.segments {
                    return Err(invalid("segment out of order"));
                }
                self.segment = number;
                self.segment_crc = Crc64::new();
                let len = u64_at(2);
                self.region = if len > 0 {
                    Region::SegmentContent { remaining: len }
                } else if self.crc {
                    Region::SegmentFooter
                } else {
                    self.after_segment()
                };
            }
            Region::SegmentFooter => {
                if u64_at(0) != self.segment_crc.finish() {
                    return Err(crc_mismatch());
                }
                self.region = self.after_segment();
            }
            Region::MessageFooter => {
                if u64_at(0) != self.message_crc.finish() {
                    return Err(crc_mismatch());
                }
                self.region = Region::Done;
            }
            Region::SegmentContent { .. } | Region::Done => {}
        }
        Ok(())
    }

    /// Checks that the message ended where it should; returns the content length.
    pub fn finish(&self) -> Result<u64, AzureError> {
        if self.region != Region::Done || self.encoded_len_seen != self.encoded_len_expected {
            return Err(invalid("the message ended early"));
        }
        Ok(self.content_len)
    }
}

/// The encoded length of `content_len` bytes in segments of `segment_bytes`, with CRC-64.
pub fn encoded_len(content_len: u64, segment_bytes: u64) -> u64 {
    let segments = content_len.div_ceil(segment_bytes).max(1);
    MESSAGE_HEADER_BYTES as u64 + segments * (SEGMENT_HEADER_BYTES + CRC_BYTES) as u64 + content_len + CRC_BYTES as u64
}

/// Wraps a content body of known length into a structured message with CRC-64.
pub struct EncodeBody {
    inner: ResponseBody,
    content_len: u64,
    segment_bytes: u64,
    /// Content bytes emitted so far.
    offset: u64,
    started: bool,
    finished: bool,
    segment: u16,
    segment_crc: Crc64,
    message_crc: Crc64,
    remaining_encoded: u64,
}

impl EncodeBody {
    pub fn new(inner: ResponseBody, content_len: u64, segment_bytes: u64) -> EncodeBody {
        EncodeBody {
            inner,
            content_len,
            segment_bytes,
            offset: 0,
            started: false,
            finished: false,
            segment: 0,
            segment_crc: Crc64::new(),
            message_crc: Crc64::new(),
            remaining_encoded: encoded_len(content_len, segment_bytes),
        }
    }

    fn segments(&self) -> u16 {
        self.content_len.div_ceil(self.segment_bytes).max(1) as u16
    }

    fn open_segment(&mut self, out: &mut BytesMut) {
        self.segment += 1;
        self.segment_crc = Crc64::new();
        let len = (self.content_len - self.offset).min(self.segment_bytes);
        out.put_u16_le(self.segment);
        out.put_u64_le(len);
    }

    fn close_segment(&mut self, out: &mut BytesMut) {
        out.put_u64_le(self.segment_crc.finish());
    }

    fn start(&mut self, out: &mut BytesMut) {
        out.put_u8(1);
        out.put_u64_le(encoded_len(self.content_len, self.segment_bytes));
        out.put_u16_le(FLAG_CRC64);
        out.put_u16_le(self.segments());
        self.open_segment(out);
        self.started = true;
    }

    fn encode_content(&mut self, mut data: &[u8], out: &mut BytesMut) {
        while !data.is_empty() {
            let segment_end = (self.segment as u64) * self.segment_bytes;
            let take = ((segment_end - self.offset) as usize).min(data.len());
            let (piece, rest) = data.split_at(take);
            self.segment_crc.update(piece);
            self.message_crc.update(piece);
            out.put_slice(piece);
            self.offset += take as u64;
            data = rest;
            if self.offset == segment_end && self.offset < self.content_len {
                self.close_segment(out);
                self.open_segment(out);
            }
        }
    }
}

impl Body for EncodeBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if self.finished {
            return Poll::Ready(None);
        }
        let mut out = BytesMut::new();
        if !self.started {
            self.start(&mut out);
        }
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    self.encode_content(&data, &mut out);
                }
            }
            Poll::Ready(Some(Err(error))) => return Poll::Ready(Some(Err(error))),
            Poll::Ready(None) => {
                if self.offset != self.content_len {
                    return Poll::Ready(Some(Err(std::io::Error::other("content shorter than announced"))));
                }
                self.close_segment(&mut out);
                let crc = self.message_crc.finish();
                out.put_u64_le(crc);
                self.finished = true;
            }
            Poll::Pending if out.is_empty() => return Poll::Pending,
            Poll::Pending => {}
        }
        self.remaining_encoded = self.remaining_encoded.saturating_sub(out.len() as u64);
        Poll::Ready(Some(Ok(Frame::data(out.freeze()))))
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining_encoded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn encode_all(content: &[u8], segment: u64) -> Vec<u8> {
        let inner = crate::http_util::full(Bytes::copy_from_slice(content));
        let body = EncodeBody::new(inner, content.len() as u64, segment);
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        runtime.block_on(async { body.collect().await.expect("collect").to_bytes().to_vec() })
    }

    fn decode_all(encoded: &[u8], pieces: usize) -> Result<Vec<u8>, AzureError> {
        let mut decoder = Decoder::new(encoded.len() as u64);
        let mut out = BytesMut::new();
        for chunk in encoded.chunks(pieces.max(1)) {
            decoder.push(chunk, &mut out)?;
        }
        decoder.finish()?;
        Ok(out.to_vec())
    }

    #[test]
    fn round_trips_across_segment_boundaries() {
        for len in [0usize, 1, 99, 100, 101, 350] {
            let content: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let encoded = encode_all(&content, 100);
            assert_eq!(encoded.len() as u64, encoded_len(len as u64, 100));
            for pieces in [1, 3, 13, 1000] {
                assert_eq!(
                    decode_all(&encoded, pieces).expect("decode"),
                    content,
                    "len {len} pieces {pieces}"
                );
            }
        }
    }

    #[test]
    fn header_layout_matches_the_sdk() {
        let encoded = encode_all(b"hello", 4 * 1024 * 1024);
        assert_eq!(encoded[0], 1);
        assert_eq!(
            u64::from_le_bytes(encoded[1..9].try_into().unwrap()),
            encoded.len() as u64
        );
        assert_eq!(u16::from_le_bytes([encoded[9], encoded[10]]), 1);
        assert_eq!(u16::from_le_bytes([encoded[11], encoded[12]]), 1);
        assert_eq!(u16::from_le_bytes([encoded[13], encoded[14]]), 1);
        assert_eq!(u64::from_le_bytes(encoded[15..23].try_into().unwrap()), 5);
        assert_eq!(&encoded[23..28], b"hello");
        let crc = lazuli_types::checksum::crc64(b"hello");
        assert_eq!(u64::from_le_bytes(encoded[28..36].try_into().unwrap()), crc);
        assert_eq!(u64::from_le_bytes(encoded[36..44].try_into().unwrap()), crc);
    }

    #[test]
    fn corruption_is_refused() {
        let content: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
        let encoded = encode_all(&content, 100);
        for at in 0..encoded.len() {
            let mut bad = encoded.clone();
            bad[at] ^= 0x40;
            assert!(decode_all(&bad, 7).is_err(), "flipped byte {at} went unnoticed");
        }
        assert!(decode_all(&encoded[..encoded.len() - 1], 7).is_err());
        let mut decoder = Decoder::new(5);
        assert!(decoder.push(b"123456", &mut BytesMut::new()).is_err());
    }
}
