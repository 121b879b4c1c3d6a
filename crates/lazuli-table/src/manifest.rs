//! The manifest: the list of live checkpoints, the commit-log replay position and the highest
//! sequence number they cover, appended to the `{name}.meta` stream after every flush and
//! compaction (see docs/formats/manifest.md). The newest manifest record is the table's state.

use lazuli_stream::{RecordLocation, StreamPosition};

use crate::codec::{check_crc, corrupt, get_location, put_location, put_u32, put_u64, put_u8, seal_crc, Reader};
use crate::limits::MANIFEST_CHECKPOINTS_MAX;
use crate::Result;

pub(crate) const MANIFEST_VERSION: u8 = 1;
const KIND_MANIFEST: u8 = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ManifestCheckpoint {
    pub id: u64,
    pub footer: RecordLocation,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Manifest {
    /// Increases by one with every manifest written; recovery checks that it never goes back.
    pub generation: u64,
    /// Every batch with a sequence number up to this one is in the checkpoints.
    pub highest_seq: u64,
    /// Commit-log replay starts here; log extents wholly before it are garbage.
    pub log_replay_from: StreamPosition,
    /// The id the next checkpoint gets (ids are never reused: the block cache is keyed by them).
    pub next_checkpoint_id: u64,
    /// Live checkpoints, newest first.
    pub checkpoints: Vec<ManifestCheckpoint>,
}

pub(crate) fn encode(m: &Manifest) -> Vec<u8> {
    let mut out = Vec::with_capacity(48 + m.checkpoints.len() * 28 + 4);
    put_u8(&mut out, MANIFEST_VERSION);
    put_u8(&mut out, KIND_MANIFEST);
    put_u64(&mut out, m.generation);
    put_u64(&mut out, m.highest_seq);
    put_u64(&mut out, m.log_replay_from.extent);
    put_u64(&mut out, m.log_replay_from.offset);
    put_u64(&mut out, m.next_checkpoint_id);
    put_u32(&mut out, m.checkpoints.len() as u32);
    for c in &m.checkpoints {
        put_u64(&mut out, c.id);
        put_location(&mut out, c.footer);
    }
    seal_crc(&mut out);
    out
}

pub(crate) fn decode(bytes: &[u8]) -> Result<Manifest> {
    let body = check_crc(bytes, "manifest")?;
    let mut r = Reader::new(body, "manifest");
    r.header(MANIFEST_VERSION, KIND_MANIFEST)?;
    let generation = r.u64()?;
    let highest_seq = r.u64()?;
    let log_replay_from = StreamPosition {
        extent: r.u64()?,
        offset: r.u64()?,
    };
    let next_checkpoint_id = r.u64()?;
    let n = r.u32()? as usize;
    if n > MANIFEST_CHECKPOINTS_MAX || n > r.remaining() / 28 {
        return Err(corrupt(format!("manifest: {n} checkpoints cannot fit")));
    }
    let mut checkpoints = Vec::with_capacity(n);
    for _ in 0..n {
        let id = r.u64()?;
        if id >= next_checkpoint_id {
            return Err(corrupt(format!(
                "manifest: checkpoint id {id} not below the next id {next_checkpoint_id}"
            )));
        }
        checkpoints.push(ManifestCheckpoint {
            id,
            footer: get_location(&mut r)?,
        });
    }
    r.finish()?;
    Ok(Manifest {
        generation,
        highest_seq,
        log_replay_from,
        next_checkpoint_id,
        checkpoints,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_vector() {
        let m = Manifest {
            generation: 1,
            highest_seq: 2,
            log_replay_from: StreamPosition { extent: 3, offset: 4 },
            next_checkpoint_id: 6,
            checkpoints: vec![ManifestCheckpoint {
                id: 5,
                footer: RecordLocation {
                    extent: 7,
                    offset: 8,
                    len: 9,
                },
            }],
        };
        let bytes = encode(&m);
        let mut expected = vec![1u8, 5];
        for v in [1u64, 2, 3, 4, 6] {
            expected.extend_from_slice(&v.to_le_bytes());
        }
        expected.extend_from_slice(&1u32.to_le_bytes());
        for v in [5u64, 7, 8] {
            expected.extend_from_slice(&v.to_le_bytes());
        }
        expected.extend_from_slice(&9u32.to_le_bytes());
        let crc = lazuli_stream::crc::crc32c(&expected);
        expected.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(bytes, expected);
        assert_eq!(decode(&bytes).unwrap(), m);
    }

    proptest! {
        #[test]
        fn round_trip(generation in any::<u64>(), highest_seq in any::<u64>(), ids in proptest::collection::vec(0u64..1000, 0..20)) {
            let m = Manifest {
                generation,
                highest_seq,
                log_replay_from: StreamPosition { extent: 1, offset: 2 },
                next_checkpoint_id: 1000,
                checkpoints: ids.iter().map(|&id| ManifestCheckpoint { id, footer: RecordLocation { extent: id, offset: id * 2, len: 3 } }).collect(),
            };
            prop_assert_eq!(decode(&encode(&m)).unwrap(), m);
        }

        #[test]
        fn decoder_never_panics(mut bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if bytes.len() >= 2 {
                bytes[0] = MANIFEST_VERSION;
                bytes[1] = KIND_MANIFEST;
            }
            let _ = decode(&bytes);
            seal_crc(&mut bytes);
            let _ = decode(&bytes);
        }
    }
}
