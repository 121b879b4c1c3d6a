//! The timestamp formats of the wire: RFC 1123 for HTTP dates, ISO 8601 with seven fractional
//! digits for snapshots, versions and XML dates.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// `Wed, 26 Oct 2016 20:39:39 GMT`, for any representable time (formatting through
/// `SystemTime` would panic before 1970 or after 9999). Written digit by digit rather than
/// through `format!`: a Get has two of these and every listed blob two more.
pub fn rfc1123(t: OffsetDateTime) -> String {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let t = t.to_offset(time::UtcOffset::UTC);
    let (year, month, day) = t.to_calendar_date();
    let weekday = DAYS[usize::from(t.weekday().number_days_from_monday())];
    let month = MONTHS[usize::from(u8::from(month) - 1)];
    let (hour, minute, second) = t.to_hms();
    let Ok(four_digit_year @ 0..=9999) = u32::try_from(year) else {
        return format!("{weekday}, {day:02} {month} {year:04} {hour:02}:{minute:02}:{second:02} GMT");
    };
    let mut out = String::with_capacity(29);
    out.push_str(weekday);
    out.push_str(", ");
    push_digits(&mut out, u32::from(day), 2);
    out.push(' ');
    out.push_str(month);
    out.push(' ');
    push_digits(&mut out, four_digit_year, 4);
    out.push(' ');
    push_digits(&mut out, u32::from(hour), 2);
    out.push(':');
    push_digits(&mut out, u32::from(minute), 2);
    out.push(':');
    push_digits(&mut out, u32::from(second), 2);
    out.push_str(" GMT");
    out
}

/// The last `width` decimal digits of `value`, zero-padded.
fn push_digits(out: &mut String, value: u32, width: u32) {
    for place in (0..width).rev() {
        let digit = (value / 10u32.pow(place) % 10) as u8;
        out.push(char::from(b'0' + digit));
    }
}

pub fn parse_rfc1123(value: &str) -> Option<OffsetDateTime> {
    httpdate::parse_http_date(value.trim()).ok().map(OffsetDateTime::from)
}

/// `2026-11-28T02:03:04.1234567Z`, the form of snapshot and version ids.
pub fn iso8601_7(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:07}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.nanosecond() / 100
    )
}

/// Parses ISO 8601 / RFC 3339 timestamps with or without fractional seconds.
pub fn parse_iso8601(value: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(value.trim(), &Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_789).unwrap();
        assert_eq!(iso8601_7(t), "2023-11-14T22:13:20.1234567Z");
        assert_eq!(rfc1123(t), "Tue, 14 Nov 2023 22:13:20 GMT");
        // Padding, and both ends of the four-digit years, agree with the formatter's form.
        for (unix, expected) in [
            (0, "Thu, 01 Jan 1970 00:00:00 GMT"),
            (1_000_000_000, "Sun, 09 Sep 2001 01:46:40 GMT"),
            (-62_135_596_800, "Mon, 01 Jan 0001 00:00:00 GMT"),
            (253_402_300_799, "Fri, 31 Dec 9999 23:59:59 GMT"),
        ] {
            assert_eq!(rfc1123(OffsetDateTime::from_unix_timestamp(unix).unwrap()), expected);
        }
        // Every second of a day, and days across leap years and centuries, as `httpdate`
        // (the reference formatter for 1970 to 9999) writes them.
        let seconds = (0..86_400).chain((0..400_000).map(|day| day * 86_400 + day % 86_400 * 7 % 86_400));
        for unix in seconds.step_by(7) {
            let expected = httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix));
            assert_eq!(
                rfc1123(OffsetDateTime::from_unix_timestamp(unix as i64).unwrap()),
                expected
            );
        }
        let before_year_zero = OffsetDateTime::from_unix_timestamp(-62_167_219_201).unwrap();
        assert!(
            rfc1123(before_year_zero).contains(" -001 "),
            "{}",
            rfc1123(before_year_zero)
        );
        assert_eq!(
            parse_rfc1123("Tue, 14 Nov 2023 22:13:20 GMT").unwrap().unix_timestamp(),
            1_700_000_000
        );
        assert_eq!(
            parse_iso8601("2023-11-14T22:13:20.1234567Z").unwrap().nanosecond(),
            123_456_700
        );
    }
}
