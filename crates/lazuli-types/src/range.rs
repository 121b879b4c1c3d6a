//! Byte ranges from `Range` / `x-ms-range` headers.

/// An inclusive byte range as clients send it: `bytes=start-end` or `bytes=start-`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    pub end: Option<u64>,
}

/// What a range means against an object of a given size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolved {
    /// Serve `[start, start + len)`.
    Partial { start: u64, len: u64 },
    /// The range starts past the end: 416.
    Unsatisfiable,
}

impl ByteRange {
    /// Parses `bytes=a-b` or `bytes=a-`. Returns None for anything else (multiple ranges,
    /// suffix ranges, end before start): the service ignores such a `Range` header and answers
    /// the whole object, as HTTP allows.
    pub fn parse(value: &str) -> Option<ByteRange> {
        let spec = value.trim().strip_prefix("bytes=")?;
        let (start, end) = spec.split_once('-')?;
        let start: u64 = start.trim().parse().ok()?;
        let end = end.trim();
        if end.is_empty() {
            return Some(ByteRange { start, end: None });
        }
        let end: u64 = end.parse().ok()?;
        (end >= start).then_some(ByteRange { start, end: Some(end) })
    }

    pub fn resolve(&self, size: u64) -> Resolved {
        if self.start >= size {
            return Resolved::Unsatisfiable;
        }
        let last = self.end.map_or(size - 1, |end| end.min(size - 1));
        Resolved::Partial {
            start: self.start,
            len: last - self.start + 1,
        }
    }

    /// The length requested, if the range is closed (and, for `bytes=0-18446744073709551615`,
    /// representable).
    pub fn requested_len(&self) -> Option<u64> {
        self.end.and_then(|end| end.checked_sub(self.start)?.checked_add(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_resolve() {
        assert_eq!(
            ByteRange::parse("bytes=0-99"),
            Some(ByteRange {
                start: 0,
                end: Some(99)
            })
        );
        assert_eq!(ByteRange::parse("bytes=5-"), Some(ByteRange { start: 5, end: None }));
        assert_eq!(ByteRange::parse("bytes=-5"), None);
        assert_eq!(ByteRange::parse("bytes=9-3"), None);
        assert_eq!(ByteRange::parse("items=0-1"), None);
        assert_eq!(ByteRange::parse("bytes=0-1,4-5"), None);
        let range = ByteRange::parse("bytes=10-1000").unwrap();
        assert_eq!(range.resolve(100), Resolved::Partial { start: 10, len: 90 });
        assert_eq!(range.resolve(10), Resolved::Unsatisfiable);
        assert_eq!(
            ByteRange::parse("bytes=0-").unwrap().resolve(0),
            Resolved::Unsatisfiable
        );
    }

    /// Found by `fuzz/fuzz_targets/range.rs`: `bytes=0-18446744073709551615` asks for 2^64 bytes,
    /// which overflowed `requested_len`.
    #[test]
    fn requested_len_of_the_whole_u64_range_does_not_overflow() {
        let range = ByteRange::parse("bytes= 0 - 18446744073709551615").unwrap();
        assert_eq!(range.requested_len(), None);
        assert_eq!(
            range.resolve(3_070_230_528),
            Resolved::Partial {
                start: 0,
                len: 3_070_230_528
            }
        );
        assert_eq!(ByteRange::parse("bytes=5-9").unwrap().requested_len(), Some(5));
    }
}
