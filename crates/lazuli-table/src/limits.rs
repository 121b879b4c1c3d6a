//! Every limit of the table, named, with the reason for its value.

/// Keys are (account, container, blob name, snapshot) tuples: blob names are at most 1,024
/// characters (up to 4 bytes each in UTF-8 is the worst case, but Azure counts URL characters), so
/// 4 KiB is room for the name plus its prefix. Keys also stay in memory in every checkpoint's block
/// index, so they must stay small. The block format stores key lengths in a u16.
pub const KEY_BYTES_MAX: usize = 4 << 10;

/// Rows hold metadata and inline small blobs (up to 16 KiB; 64 KiB in rows written by earlier
/// versions); the biggest rows are committed block lists (50,000 block ids). Large blob bodies
/// live in the blob-data stream, never in a row.
pub const VALUE_BYTES_MAX: usize = 8 << 20;

/// A batch is one commit-log record, which must fit one stream record (64 MiB), and is applied
/// to the memtable under one lock: bound both the bytes and the number of operations. Writes
/// that discard a blob's uncommitted blocks now delete them a page (~1 MiB of keys) per batch;
/// before that, one commit deleted up to 100,000 of them (~19 MiB with 64-character ids and a
/// 100-character name), and commit logs written then must still replay, so the bound stays.
pub const BATCH_BYTES_MAX: usize = 48 << 20;

/// See [`BATCH_BYTES_MAX`]; also bounds what a decoder allocates for a record's operation list.
/// Commit logs may hold a commit that deleted a blob's 100,000 uncommitted blocks (the
/// service's limit) along with its own rows, written before those deletes were paged.
pub const BATCH_OPS_MAX: usize = 131_072;

/// Index and bloom filter of a checkpoint are written as parts of at most this size, so that no
/// record comes near the stream's record size limit whatever the number of rows.
pub(crate) const PART_BYTES_MAX: usize = 1 << 20;

/// Checkpoint data blocks are appended in groups of at most this size (and at most
/// [`APPEND_GROUP_BLOCKS`] blocks): one durable append (one fsync) per group rather than per block.
/// A compaction can yield the rows stream to a waiting flush only between groups, so this also
/// bounds how long a flush waits for a compaction.
pub(crate) const APPEND_GROUP_BYTES: usize = 1 << 20;

/// See [`APPEND_GROUP_BYTES`]; counts blocks so small test blocks still make several groups.
pub(crate) const APPEND_GROUP_BLOCKS: usize = 64;

/// Checkpoints listed in one manifest. Compaction keeps the count near
/// `compaction_trigger_checkpoints`; this only bounds what a decoder accepts.
pub(crate) const MANIFEST_CHECKPOINTS_MAX: usize = 100_000;

/// Bits of bloom filter per key: about 1% false positives with 7 probes.
pub(crate) const BLOOM_BITS_PER_KEY: usize = 10;
/// The largest bloom filter a checkpoint gets (512 Mbit: about 50 million keys at the target
/// rate). The size comes from key counts that compaction reads from footers; capping it keeps
/// a damaged or lying footer from asking for an absurd allocation. A bigger checkpoint only
/// gets a higher false-positive rate, never a wrong answer.
pub(crate) const BLOOM_BYTES_MAX: usize = 64 << 20;

/// Probes per bloom lookup, the optimum for 10 bits per key (10 · ln 2 ≈ 7).
pub(crate) const BLOOM_PROBES: u8 = 7;

/// A memtable may exceed `memtable_bytes_max` while the background thread has not yet frozen it;
/// past this multiple writers wait, which bounds memory when the flusher falls behind.
pub(crate) const MEMTABLE_OVERSHOOT_FACTOR: usize = 2;
