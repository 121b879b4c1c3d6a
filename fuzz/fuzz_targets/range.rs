//! Request-header vocabulary of `lazuli-types`: `ByteRange::parse` + `resolve` + `requested_len`,
//! the conditional-header checks, the wire time parsers and the DFS ACL parser (`x-ms-acl`), on
//! arbitrary input. None may panic, and what they answer must be self-consistent: a resolved
//! range lies inside the object, a parsed time formats and parses back to itself, and so does a
//! parsed ACL.

#![no_main]

use arbitrary::Arbitrary;
use lazuli_types::acl;
use lazuli_types::conditions::{ConditionFailure, Conditions};
use lazuli_types::range::{ByteRange, Resolved};
use lazuli_types::time_fmt::{iso8601_7, parse_iso8601, parse_rfc1123, rfc1123};
use lazuli_types::ErrorCode;
use libfuzzer_sys::fuzz_target;
use time::OffsetDateTime;

#[derive(Arbitrary, Debug)]
enum RangeText {
    /// `bytes=a-b` from numbers, so the parser's number handling is reached at every magnitude.
    Numbers {
        start: u64,
        end: Option<u64>,
        spaces: bool,
    },
    Any(String),
}

#[derive(Arbitrary, Debug)]
struct Input {
    range: RangeText,
    size: u64,
    if_match: Option<String>,
    if_none_match: Option<String>,
    if_modified_since: Option<String>,
    if_unmodified_since: Option<String>,
    etag: String,
    last_modified_secs: i64,
    exists: bool,
    time_text: String,
    acl_text: String,
    owner: String,
    user: String,
}

fn time_in_range(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(secs % 253_402_300_799).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fuzz_target!(|input: Input| {
    // Ranges.
    let text = match &input.range {
        RangeText::Numbers { start, end, spaces } => {
            let sp = if *spaces { " " } else { "" };
            match end {
                Some(end) => format!("bytes={sp}{start}{sp}-{sp}{end}"),
                None => format!("bytes={start}-"),
            }
        }
        RangeText::Any(s) => s.clone(),
    };
    if let Some(range) = ByteRange::parse(&text) {
        if let Some(end) = range.end {
            assert!(end >= range.start, "parsed an inverted range from {text:?}");
        }
        let _ = range.requested_len();
        match range.resolve(input.size) {
            Resolved::Partial { start, len } => {
                assert!(len >= 1, "empty partial range");
                let end = start.checked_add(len).expect("range end overflows");
                assert!(end <= input.size, "range [{start}, {end}) past size {}", input.size);
            }
            Resolved::Unsatisfiable => assert!(range.start >= input.size),
        }
    }

    // Conditions, with dates parsed the way the handlers parse them.
    // Conditions added later (leases, tags) stay at their defaults.
    #[allow(clippy::needless_update)]
    let conditions = Conditions {
        if_match: input.if_match.clone(),
        if_none_match: input.if_none_match.clone(),
        if_modified_since: input.if_modified_since.as_deref().and_then(parse_rfc1123),
        if_unmodified_since: input.if_unmodified_since.as_deref().and_then(parse_rfc1123),
        ..Conditions::default()
    };
    let last_modified = time_in_range(input.last_modified_secs);
    match conditions.check_read(&input.etag, last_modified) {
        Ok(()) | Err(ConditionFailure::NotModified) => {}
        Err(ConditionFailure::Failed(e)) => assert_eq!(e.status(), 412),
    }
    let current = input.exists.then_some((input.etag.as_str(), last_modified));
    if let Err(e) = conditions.check_write(current, ErrorCode::BlobAlreadyExists) {
        assert!(matches!(e.status(), 409 | 412), "check_write answered {}", e.status());
    }
    if conditions.is_empty() {
        assert!(conditions.check_read(&input.etag, last_modified).is_ok());
    }

    // ACLs: a parsed list formats to text that parses back to the same entries; the
    // permissions it grants are bits of rwx; a removal list never removes a base entry.
    match acl::parse(&input.acl_text) {
        Ok(entries) => {
            let text = acl::format(&entries);
            let back = acl::parse(&text).unwrap_or_else(|e| panic!("formatted ACL {text:?} does not parse: {e:?}"));
            assert_eq!(back, entries, "{text}");
            assert!(acl::permissions_of(&entries, &input.owner, &input.user) <= 7);
        }
        Err(error) => assert_eq!(error.code, ErrorCode::InvalidAccessControlList),
    }
    if let Ok(removed) = acl::parse_removal(&input.acl_text) {
        assert!(removed
            .iter()
            .all(|(default, tag, qualifier)| *default || *tag == acl::Tag::Mask || !qualifier.is_empty()));
    }

    // Time formats.
    if let Some(t) = parse_rfc1123(&input.time_text) {
        let back = parse_rfc1123(&rfc1123(t)).expect("rfc1123 output parses");
        assert_eq!(back, t);
        let _ = iso8601_7(t);
    }
    if let Some(t) = parse_iso8601(&input.time_text) {
        let text = iso8601_7(t);
        let utc = t.to_offset(time::UtcOffset::UTC);
        // Four-digit years only: the format has no room for others.
        if (0..=9999).contains(&utc.year()) {
            let back = parse_iso8601(&text).unwrap_or_else(|| panic!("iso8601_7 output {text:?} does not parse"));
            // Seven fractional digits: equal to 100 ns.
            assert_eq!(
                back.unix_timestamp_nanos().div_euclid(100),
                utc.unix_timestamp_nanos().div_euclid(100),
                "{text}"
            );
        }
    }
});
