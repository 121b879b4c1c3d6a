//! The commit log: one record per [`WriteBatch`] in the `{name}.log` stream (see
//! docs/formats/commit-log.md). A batch is acknowledged once its record is durable; recovery
//! replays the records after the manifest's replay position.

use crate::codec::{check_crc, corrupt, put_u32, put_u64, put_u8, seal_crc, Reader};
use crate::limits::{BATCH_OPS_MAX, KEY_BYTES_MAX, VALUE_BYTES_MAX};
use crate::{Result, WriteBatch};

pub(crate) const LOG_VERSION: u8 = 1;
const OP_PUT: u8 = 1;
const OP_DELETE: u8 = 2;
/// Byte offset of the sequence number, so that a record can be encoded before its sequence number
/// is known (outside the write gate) and patched in place.
const SEQ_OFFSET: usize = 1;

/// Encodes `batch` with sequence number 0; [`set_seq`] fills it in.
pub(crate) fn encode(batch: &WriteBatch) -> Vec<u8> {
    let payload: usize = batch
        .ops
        .iter()
        .map(|(k, v)| 9 + k.len() + v.as_ref().map_or(0, Vec::len))
        .sum();
    let mut out = Vec::with_capacity(1 + 8 + 4 + payload + 4);
    put_u8(&mut out, LOG_VERSION);
    put_u64(&mut out, 0);
    put_u32(&mut out, batch.ops.len() as u32);
    for (key, value) in &batch.ops {
        match value {
            Some(value) => {
                put_u8(&mut out, OP_PUT);
                put_u32(&mut out, key.len() as u32);
                out.extend_from_slice(key);
                put_u32(&mut out, value.len() as u32);
                out.extend_from_slice(value);
            }
            None => {
                put_u8(&mut out, OP_DELETE);
                put_u32(&mut out, key.len() as u32);
                out.extend_from_slice(key);
            }
        }
    }
    // The CRC is appended by `set_seq`, once the record is final.
    out
}

/// Writes the sequence number into a record made by [`encode`] and seals it with its CRC.
pub(crate) fn set_seq(record: &mut Vec<u8>, seq: u64) {
    record[SEQ_OFFSET..SEQ_OFFSET + 8].copy_from_slice(&seq.to_le_bytes());
    seal_crc(record);
}

/// A decoded log record.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct LogRecord {
    pub seq: u64,
    pub batch: WriteBatch,
}

pub(crate) fn decode(bytes: &[u8]) -> Result<LogRecord> {
    let body = check_crc(bytes, "commit-log record")?;
    let mut r = Reader::new(body, "commit-log record");
    let version = r.u8()?;
    if version != LOG_VERSION {
        return Err(corrupt(format!("commit-log record: unknown format version {version}")));
    }
    let seq = r.u64()?;
    let count = r.u32()? as usize;
    if count > BATCH_OPS_MAX {
        return Err(corrupt(format!(
            "commit-log record: {count} operations exceeds the limit"
        )));
    }
    // Each operation takes at least 5 bytes, so a huge count cannot make us allocate much.
    let mut ops = Vec::with_capacity(count.min(r.remaining() / 5));
    for _ in 0..count {
        let kind = r.u8()?;
        let key_len = r.u32()? as usize;
        if key_len > KEY_BYTES_MAX {
            return Err(corrupt(format!("commit-log record: key of {key_len} bytes")));
        }
        let key = r.bytes(key_len)?.to_vec();
        let value = match kind {
            OP_PUT => {
                let value_len = r.u32()? as usize;
                if value_len > VALUE_BYTES_MAX {
                    return Err(corrupt(format!("commit-log record: value of {value_len} bytes")));
                }
                Some(r.bytes(value_len)?.to_vec())
            }
            OP_DELETE => None,
            other => return Err(corrupt(format!("commit-log record: unknown operation {other}"))),
        };
        ops.push((key, value));
    }
    r.finish()?;
    Ok(LogRecord {
        seq,
        batch: WriteBatch { ops },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn record(seq: u64, batch: &WriteBatch) -> Vec<u8> {
        let mut bytes = encode(batch);
        set_seq(&mut bytes, seq);
        bytes
    }

    #[test]
    fn known_vector() {
        let mut batch = WriteBatch::new();
        batch.put("k", "v").delete("d");
        let bytes = record(7, &batch);
        let mut expected = vec![1u8, 7, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0];
        expected.extend_from_slice(&[1, 1, 0, 0, 0, b'k', 1, 0, 0, 0, b'v']);
        expected.extend_from_slice(&[2, 1, 0, 0, 0, b'd']);
        let crc = lazuli_stream::crc::crc32c(&expected);
        expected.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(bytes, expected);
        assert_eq!(decode(&bytes).unwrap(), LogRecord { seq: 7, batch });
    }

    #[test]
    fn flipped_byte_is_detected() {
        let mut batch = WriteBatch::new();
        batch.put("key", "value");
        let good = record(1, &batch);
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x40;
            assert!(decode(&bad).is_err(), "flip at {i} not detected");
        }
    }

    proptest! {
        #[test]
        fn round_trip(seq in any::<u64>(), ops in proptest::collection::vec(
            (proptest::collection::vec(any::<u8>(), 0..20), proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40))),
            0..10,
        )) {
            let batch = WriteBatch { ops };
            let bytes = record(seq, &batch);
            prop_assert_eq!(decode(&bytes).unwrap(), LogRecord { seq, batch });
        }

        #[test]
        fn decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode(&bytes);
        }

        #[test]
        fn decoder_never_panics_with_valid_crc(mut bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            // Without a valid CRC the decoder stops at the checksum; this reaches the field parser.
            seal_crc(&mut bytes);
            let _ = decode(&bytes);
        }
    }
}
