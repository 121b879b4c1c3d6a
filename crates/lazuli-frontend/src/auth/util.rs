//! Helpers shared by Shared Key and SAS: query decoding, the service's error shapes, HMAC
//! verification, and the date formats the protocol uses.

use std::borrow::Cow;

use base64::Engine;
use hmac::{Hmac, Mac};
use lazuli_types::{AzureError, ErrorCode};
use sha2::Sha256;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

pub(crate) const AUTH_FAILED_MESSAGE: &str =
    "Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.";

/// 403 `AuthenticationFailed` with the service's message and an `AuthenticationErrorDetail`.
pub(crate) fn auth_failed(detail: impl Into<String>) -> AzureError {
    AzureError::new(ErrorCode::AuthenticationFailed, AUTH_FAILED_MESSAGE)
        .with_detail("AuthenticationErrorDetail", detail)
}

/// 400 `InvalidAuthenticationInfo`: the service answers this when the Authorization header
/// cannot be parsed at all (unknown scheme, `SharedKey` without `account:signature`, a
/// signature that is not base64). Seen from the service: "Authentication information is not
/// given in the correct format. Check the value of Authorization header." (status 400).
pub(crate) fn invalid_auth_info(detail: impl Into<String>) -> AzureError {
    AzureError::new(
        ErrorCode::InvalidAuthenticationInfo,
        "Authentication information is not given in the correct format. Check the value of Authorization header.",
    )
    .with_detail("AuthenticationErrorDetail", detail)
}

/// The SAS authorization failures (all 403), with the service's messages.
pub(crate) fn authz(code: ErrorCode) -> AzureError {
    let message = match code {
        ErrorCode::AuthorizationPermissionMismatch => {
            "This request is not authorized to perform this operation using this permission."
        }
        ErrorCode::AuthorizationResourceTypeMismatch => {
            "This request is not authorized to perform this operation using this resource type."
        }
        ErrorCode::AuthorizationServiceMismatch => {
            "This request is not authorized to perform this operation using this service."
        }
        ErrorCode::AuthorizationProtocolMismatch => {
            "This request is not authorized to perform this operation using this protocol."
        }
        _ => "This request is not authorized to perform this operation.",
    };
    AzureError::new(code, message)
}

pub(crate) use crate::http_util::PlusMode;

/// Percent-decodes one query component. Invalid escapes stay as they are and invalid UTF-8 is
/// replaced, so any input decodes to something without failing.
pub(crate) fn decode_component(raw: &str, plus: PlusMode) -> Cow<'_, str> {
    match crate::http_util::percent_decode(raw, plus) {
        Cow::Borrowed(_) => Cow::Borrowed(raw),
        Cow::Owned(bytes) => Cow::Owned(match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(invalid) => String::from_utf8_lossy(invalid.as_bytes()).into_owned(),
        }),
    }
}

/// A decoded query: (name, value) pairs that borrow from the raw query where nothing needed
/// decoding (a SAS's fields usually don't).
pub(crate) type Query<'a> = Vec<(Cow<'a, str>, Cow<'a, str>)>;

/// Splits a raw query into decoded (name, value) pairs in the order sent. Empty segments
/// (`a=1&&b=2`) are skipped; a segment without '=' has an empty value.
pub(crate) fn parse_query(raw: &str, plus: PlusMode) -> Query<'_> {
    raw.split('&')
        .filter(|segment| !segment.is_empty())
        .map(|segment| {
            let (name, value) = segment.split_once('=').unwrap_or((segment, ""));
            (decode_component(name, plus), decode_component(value, plus))
        })
        .collect()
}

/// A query parameter by case-insensitive name, the way the service's query collection reads
/// it: several occurrences are joined with ','.
pub(crate) fn query_get(query: &[(Cow<'_, str>, Cow<'_, str>)], name: &str) -> Option<String> {
    let mut found: Option<String> = None;
    for (n, v) in query {
        if n.eq_ignore_ascii_case(name) {
            match &mut found {
                Some(joined) => {
                    joined.push(',');
                    joined.push_str(v);
                }
                None => found = Some(v.to_string()),
            }
        }
    }
    found
}

/// Whether any key's HMAC-SHA256 over any candidate string equals `signature`, compared in
/// constant time (`verify_slice`).
pub(crate) fn verify_any(keys: &[Vec<u8>], candidates: &[String], signature: &[u8]) -> bool {
    for key in keys {
        for candidate in candidates {
            let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
                continue;
            };
            mac.update(candidate.as_bytes());
            if mac.verify_slice(signature).is_ok() {
                return true;
            }
        }
    }
    false
}

/// Base64 HMAC-SHA256 of `data` with `key` (the signature a client sends).
#[cfg(test)]
pub(crate) fn sign(key: &[u8], data: &str) -> String {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail here; an empty MAC
    // (which matches nothing) is the harmless fallback.
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(data.as_bytes());
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    }
}

pub(crate) fn decode_base64(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(text.as_bytes()).ok()
}

/// Compares two `YYYY-MM-DD` service versions; they sort as strings.
pub(crate) fn version_at_least(version: &str, min: &str) -> bool {
    version >= min
}

/// Whether `text` looks like a service version (`YYYY-MM-DD`, digits and dashes).
pub(crate) fn is_version(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        })
}

/// RFC 1123 (`Mon, 08 Aug 2016 08:08:51 GMT`), the format of the service's SAS time details.
/// Never panics, unlike `httpdate` for dates before 1970.
pub(crate) fn rfc1123(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    let weekday = match t.weekday() {
        time::Weekday::Monday => "Mon",
        time::Weekday::Tuesday => "Tue",
        time::Weekday::Wednesday => "Wed",
        time::Weekday::Thursday => "Thu",
        time::Weekday::Friday => "Fri",
        time::Weekday::Saturday => "Sat",
        time::Weekday::Sunday => "Sun",
    };
    let month = match t.month() {
        Month::January => "Jan",
        Month::February => "Feb",
        Month::March => "Mar",
        Month::April => "Apr",
        Month::May => "May",
        Month::June => "Jun",
        Month::July => "Jul",
        Month::August => "Aug",
        Month::September => "Sep",
        Month::October => "Oct",
        Month::November => "Nov",
        Month::December => "Dec",
    };
    format!(
        "{weekday}, {:02} {month} {:04} {:02}:{:02}:{:02} GMT",
        t.day(),
        t.year(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Parses an HTTP date header (`x-ms-date` / `Date`): IMF-fixdate, RFC 850 or asctime.
pub(crate) fn parse_http_date(text: &str) -> Option<OffsetDateTime> {
    httpdate::parse_http_date(text.trim()).ok().map(OffsetDateTime::from)
}

/// Parses a SAS time: ISO 8601 in UTC as the SDKs write it — `YYYY-MM-DD`,
/// `YYYY-MM-DDThh:mm[Z]`, `YYYY-MM-DDThh:mm:ss[.fffffff][Z]` — and, leniently, an explicit
/// `+hh:mm`/`-hh:mm` offset. A missing zone means UTC.
pub(crate) fn parse_sas_time(text: &str) -> Option<OffsetDateTime> {
    let text = text.trim();
    let (date_part, rest) = match text.find(['T', 't']) {
        Some(i) => (&text[..i], Some(&text[i + 1..])),
        None => (text, None),
    };
    let date = parse_date(date_part)?;
    let Some(rest) = rest else {
        return Some(PrimitiveDateTime::new(date, Time::MIDNIGHT).assume_utc());
    };
    // Split the zone designator off the time.
    let (time_part, offset) = if let Some(t) = rest.strip_suffix(['Z', 'z']) {
        (t, UtcOffset::UTC)
    } else if let Some(i) = rest.rfind(['+', '-']) {
        (&rest[..i], parse_offset(&rest[i..])?)
    } else {
        (rest, UtcOffset::UTC)
    };
    let time = parse_time(time_part)?;
    // Checked: `9999-12-31T23:59:59-01:00` is past the last representable UTC time.
    PrimitiveDateTime::new(date, time)
        .assume_offset(offset)
        .checked_to_offset(UtcOffset::UTC)
}

fn digits(text: &str, len: usize) -> Option<u32> {
    if text.len() != len || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn parse_date(text: &str) -> Option<Date> {
    let mut parts = text.split('-');
    let year = digits(parts.next()?, 4)?;
    let month = digits(parts.next()?, 2)?;
    let day = digits(parts.next()?, 2)?;
    if parts.next().is_some() {
        return None;
    }
    let month = Month::try_from(u8::try_from(month).ok()?).ok()?;
    Date::from_calendar_date(i32::try_from(year).ok()?, month, u8::try_from(day).ok()?).ok()
}

fn parse_time(text: &str) -> Option<Time> {
    let (main, fraction) = match text.split_once('.') {
        Some((m, f)) => (m, Some(f)),
        None => (text, None),
    };
    let mut parts = main.split(':');
    let hour = digits(parts.next()?, 2)?;
    let minute = digits(parts.next()?, 2)?;
    let second = match parts.next() {
        Some(s) => digits(s, 2)?,
        None => {
            if fraction.is_some() {
                return None;
            }
            0
        }
    };
    if parts.next().is_some() {
        return None;
    }
    let nanos = match fraction {
        Some(f) => {
            if f.is_empty() || f.len() > 9 || !f.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let mut n: u32 = f.parse().ok()?;
            for _ in f.len()..9 {
                n *= 10;
            }
            n
        }
        None => 0,
    };
    Time::from_hms_nano(
        u8::try_from(hour).ok()?,
        u8::try_from(minute).ok()?,
        u8::try_from(second).ok()?,
        nanos,
    )
    .ok()
}

fn parse_offset(text: &str) -> Option<UtcOffset> {
    let sign: i8 = if text.starts_with('-') { -1 } else { 1 };
    let body = text.get(1..)?;
    let (h, m) = body.split_once(':').unwrap_or((body, "00"));
    let h = i8::try_from(digits(h, 2)?).ok()?;
    let m = i8::try_from(digits(m, 2)?).ok()?;
    UtcOffset::from_hms(sign * h, sign * m, 0).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by `fuzz/fuzz_targets/sas.rs`: a SAS time whose UTC equivalent is past year 9999
    /// panicked in `to_offset` (reachable without credentials: `se`/`st` are parsed before the
    /// signature is checked).
    #[test]
    fn sas_time_past_the_representable_range_is_refused() {
        assert_eq!(parse_sas_time("9999-12-31T23:59:59-01:00"), None);
        assert_eq!(parse_sas_time("9999-12-31T23:59:59Z").map(|t| t.year()), Some(9999));
        assert_eq!(parse_sas_time("0000-01-01T00:00:00+01:00").map(|t| t.year()), Some(-1));
    }
}
