//! Merging sorted sources (memtables and checkpoints) into one sorted stream of rows in which, for
//! each key, the newest source wins. Used by scans and by compaction.

use crate::checkpoint::CheckpointCursor;
use crate::memtable::Row;
use crate::Result;

pub(crate) enum Source {
    /// Rows copied out of a memtable.
    Rows(std::vec::IntoIter<Row>),
    Checkpoint(CheckpointCursor),
}

impl Source {
    fn next_row(&mut self) -> Result<Option<Row>> {
        match self {
            Source::Rows(rows) => Ok(rows.next()),
            Source::Checkpoint(cursor) => cursor.next_row(),
        }
    }
}

/// Sources are given newest first; a key present in several yields only the newest row (which
/// may be a tombstone: the caller decides whether tombstones matter).
pub(crate) struct Merge {
    sources: Vec<Source>,
    heads: Vec<Option<Row>>,
    end: Option<Vec<u8>>,
}

impl Merge {
    pub(crate) fn new(mut sources: Vec<Source>, end: Option<Vec<u8>>) -> Result<Self> {
        let heads = sources.iter_mut().map(Source::next_row).collect::<Result<Vec<_>>>()?;
        Ok(Merge { sources, heads, end })
    }

    pub(crate) fn next_row(&mut self) -> Result<Option<Row>> {
        // Few sources (two memtables and a handful of checkpoints): a linear pass beats a heap.
        let mut best: Option<usize> = None;
        for (i, head) in self.heads.iter().enumerate() {
            if let Some((key, _)) = head {
                match best {
                    Some(b) if self.heads[b].as_ref().is_some_and(|(bk, _)| bk <= key) => {}
                    _ => best = Some(i),
                }
            }
        }
        let Some(best) = best else { return Ok(None) };
        let row = self.heads[best].take();
        let Some(row) = row else { return Ok(None) };
        if let Some(end) = &self.end {
            if row.0.as_slice() >= end.as_slice() {
                self.heads.iter_mut().for_each(|h| *h = None);
                return Ok(None);
            }
        }
        // Drop the same key from older sources, and advance every source we consumed from.
        for i in 0..self.heads.len() {
            let consumed = i == best || self.heads[i].as_ref().is_some_and(|(k, _)| *k == row.0);
            if consumed {
                self.heads[i] = self.sources[i].next_row()?;
            }
        }
        Ok(Some(row))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(items: &[(&str, Option<&str>)]) -> Source {
        Source::Rows(
            items
                .iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v.map(|v| v.as_bytes().to_vec())))
                .collect::<Vec<_>>()
                .into_iter(),
        )
    }

    #[test]
    fn newest_source_wins_and_end_is_exclusive() {
        let newest = rows(&[("b", None), ("c", Some("new"))]);
        let oldest = rows(&[("a", Some("1")), ("b", Some("2")), ("c", Some("old")), ("d", Some("4"))]);
        let mut m = Merge::new(vec![newest, oldest], Some(b"d".to_vec())).unwrap();
        let mut out = Vec::new();
        while let Some(row) = m.next_row().unwrap() {
            out.push(row);
        }
        assert_eq!(
            out,
            vec![
                (b"a".to_vec(), Some(b"1".to_vec())),
                (b"b".to_vec(), None),
                (b"c".to_vec(), Some(b"new".to_vec())),
            ]
        );
    }
}
