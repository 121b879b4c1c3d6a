//! A small pull parser over quick-xml shared by every request-body parser.
//!
//! Request bodies are small, fixed-shape documents, so each parser is a hand-written
//! recursive descent over this cursor. The cursor owns the safety rules that every body
//! needs: a size cap, a nesting cap, UTF-8 only, no DTD (so no entity games), only
//! characters that XML 1.0 allows, and exactly one root element.

use lazuli_types::{AzureError, ErrorCode};
use quick_xml::events::Event;
use quick_xml::Reader;

/// The deepest nesting any request body of the Blob API needs is 4
/// (`StorageServiceProperties/Logging/RetentionPolicy/Days`); anything much deeper is an
/// attack or garbage, and is refused before it costs memory.
pub(crate) const MAX_DEPTH: usize = 16;

/// Size cap for the small documents (service properties, ACLs, tags, key info). The
/// biggest legal one, five CORS rules of 64 origins of 256 characters, is well under this.
pub(crate) const MAX_SMALL_DOCUMENT: usize = 1 << 20;

pub(crate) const MSG_INVALID_XML: &str = "XML specified is not syntactically valid.";
const MSG_NODE_VALUE: &str = "The value for one of the XML nodes is not in the correct format.";
const MSG_MISSING_NODE: &str = "A required XML node was not specified in the request body.";
const MSG_UNSUPPORTED_NODE: &str = "One of the XML nodes specified in the request body is not supported.";

/// An `InvalidXmlDocument` error without a position (used before parsing starts).
pub(crate) fn invalid_xml(reason: impl Into<String>) -> AzureError {
    AzureError::new(ErrorCode::InvalidXmlDocument, MSG_INVALID_XML)
        .with_detail("LineNumber", "0")
        .with_detail("LinePosition", "0")
        .with_detail("Reason", reason)
}

/// `InvalidXmlNodeValue`, carrying the node name and value as the service does.
pub(crate) fn node_value_error(name: &str, value: &str) -> AzureError {
    AzureError::new(ErrorCode::InvalidXmlNodeValue, MSG_NODE_VALUE)
        .with_detail("XmlNodeName", name)
        .with_detail("XmlNodeValue", value)
}

pub(crate) fn missing_node(name: &str) -> AzureError {
    AzureError::new(ErrorCode::MissingRequiredXmlNode, MSG_MISSING_NODE).with_detail("XmlNodeName", name)
}

/// The characters XML 1.0 allows in a document (`Char` production). Rust `char`s are never
/// surrogates, so only the control characters and U+FFFE/U+FFFF are left to exclude.
pub(crate) fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

enum Node {
    Start(String),
    End,
    Text(String),
}

/// A cursor over one request body.
pub(crate) struct Pull<'a> {
    input: &'a str,
    reader: Reader<&'a [u8]>,
    depth: usize,
    /// Set once the root element has been closed: only trailing whitespace may follow.
    root_closed: bool,
    /// Set once the root element was opened.
    root_seen: bool,
}

impl<'a> Pull<'a> {
    pub(crate) fn new(body: &'a [u8], max_bytes: usize) -> Result<Self, AzureError> {
        if body.len() > max_bytes {
            return Err(AzureError::new(
                ErrorCode::RequestBodyTooLarge,
                "The request body is too large and exceeds the maximum permissible limit.",
            )
            .with_detail("MaxLimit", max_bytes.to_string()));
        }
        let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
        let input = std::str::from_utf8(body).map_err(|_| invalid_xml("The request body is not valid UTF-8."))?;
        let mut reader = Reader::from_str(input);
        let config = reader.config_mut();
        // `<A/>` and `<A></A>` must mean the same to every parser below.
        config.expand_empty_elements = true;
        config.check_end_names = true;
        config.check_comments = true;
        config.trim_text(false);
        Ok(Pull {
            input,
            reader,
            depth: 0,
            root_closed: false,
            root_seen: false,
        })
    }

    /// True when the body holds nothing but whitespace (some operations treat that as an
    /// empty list).
    pub(crate) fn is_blank(&self) -> bool {
        self.input.trim().is_empty()
    }

    /// `InvalidXmlDocument` pointing at the current position, with the service's
    /// `LineNumber`/`LinePosition`/`Reason` details.
    pub(crate) fn error(&self, reason: impl Into<String>) -> AzureError {
        let offset = usize::try_from(self.reader.buffer_position())
            .unwrap_or(usize::MAX)
            .min(self.input.len());
        self.error_at(offset, reason)
    }

    fn error_at(&self, offset: usize, reason: impl Into<String>) -> AzureError {
        let mut offset = offset.min(self.input.len());
        while !self.input.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &self.input[..offset];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        AzureError::new(ErrorCode::InvalidXmlDocument, MSG_INVALID_XML)
            .with_detail("LineNumber", line.to_string())
            .with_detail("LinePosition", column.to_string())
            .with_detail("Reason", reason)
    }

    pub(crate) fn unsupported(&self, name: &str) -> AzureError {
        AzureError::new(ErrorCode::UnsupportedXmlNode, MSG_UNSUPPORTED_NODE).with_detail("XmlNodeName", name)
    }

    /// The next event that matters to a parser: declarations, comments and processing
    /// instructions are skipped; `None` is the end of the input.
    fn next_node(&mut self) -> Result<Option<Node>, AzureError> {
        loop {
            let event = match self.reader.read_event() {
                Ok(e) => e,
                Err(e) => {
                    let offset = usize::try_from(self.reader.error_position()).unwrap_or(usize::MAX);
                    return Err(self.error_at(offset, e.to_string()));
                }
            };
            match event {
                Event::Decl(_) | Event::Comment(_) | Event::PI(_) => continue,
                Event::DocType(_) => return Err(self.error("DTDs are not allowed.")),
                Event::Start(start) => {
                    if self.root_closed {
                        return Err(self.error("Only one root element is allowed."));
                    }
                    if self.depth >= MAX_DEPTH {
                        return Err(self.error("The document is nested too deeply."));
                    }
                    self.depth += 1;
                    self.root_seen = true;
                    let name = String::from_utf8_lossy(start.name().as_ref()).into_owned();
                    return Ok(Some(Node::Start(name)));
                }
                // Never produced with `expand_empty_elements`; handled the same way anyway.
                Event::Empty(_) => return Err(self.error("Unexpected empty element.")),
                Event::End(_) => {
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 0 {
                        self.root_closed = true;
                    }
                    return Ok(Some(Node::End));
                }
                Event::Text(text) => {
                    let text = text.unescape().map_err(|e| self.error(e.to_string()))?;
                    return Ok(Some(Node::Text(self.checked_text(text.into_owned())?)));
                }
                Event::CData(data) => {
                    let text = data.decode().map_err(|e| self.error(e.to_string()))?;
                    return Ok(Some(Node::Text(self.checked_text(text.into_owned())?)));
                }
                Event::Eof => {
                    if self.depth > 0 {
                        return Err(self.error("Unexpected end of the document."));
                    }
                    return Ok(None);
                }
            }
        }
    }

    /// Character references can smuggle in characters that XML 1.0 forbids (`&#1;`).
    fn checked_text(&self, text: String) -> Result<String, AzureError> {
        if text.chars().all(is_xml_char) {
            Ok(text)
        } else {
            Err(self.error("The document contains a character that is not allowed in XML."))
        }
    }

    /// Moves to the root element and checks its name. `Ok(false)` when the document holds
    /// no element at all (only whitespace, a declaration or comments).
    pub(crate) fn root_or_empty(&mut self, expected: &str) -> Result<bool, AzureError> {
        loop {
            match self.next_node()? {
                None => return Ok(false),
                Some(Node::Text(t)) if is_blank(&t) => continue,
                Some(Node::Text(_)) => return Err(self.error("Text is not allowed outside the root element.")),
                Some(Node::Start(name)) if name == expected => return Ok(true),
                Some(Node::Start(name)) => {
                    return Err(self.error(format!("The root element must be '{expected}', not '{name}'.")))
                }
                Some(Node::End) => return Err(self.error("Unexpected end tag.")),
            }
        }
    }

    /// Moves to the root element, which must exist and be named `expected`.
    pub(crate) fn root(&mut self, expected: &str) -> Result<(), AzureError> {
        if self.root_or_empty(expected)? {
            Ok(())
        } else {
            Err(self.error(format!("The document has no root element; expected '{expected}'.")))
        }
    }

    /// Inside an element whose content is other elements: the name of the next child, or
    /// `None` when the parent's end tag was reached. Whitespace between children is
    /// ignored; any other text is an error.
    pub(crate) fn next_child(&mut self) -> Result<Option<String>, AzureError> {
        loop {
            match self.next_node()? {
                None => return Err(self.error("Unexpected end of the document.")),
                Some(Node::Text(t)) if is_blank(&t) => continue,
                Some(Node::Text(_)) => return Err(self.error("Unexpected text content.")),
                Some(Node::Start(name)) => return Ok(Some(name)),
                Some(Node::End) => return Ok(None),
            }
        }
    }

    /// Inside a leaf element: its whole text (possibly empty), consuming the end tag.
    pub(crate) fn text(&mut self) -> Result<String, AzureError> {
        let mut out = String::new();
        loop {
            match self.next_node()? {
                None => return Err(self.error("Unexpected end of the document.")),
                Some(Node::Text(t)) => out.push_str(&t),
                Some(Node::Start(name)) => {
                    return Err(self.error(format!("Element '{name}' is not expected here.")));
                }
                Some(Node::End) => return Ok(out),
            }
        }
    }

    /// A leaf holding `true`/`false` (also `1`/`0`, as XML Schema booleans allow).
    pub(crate) fn bool_text(&mut self, name: &str) -> Result<bool, AzureError> {
        let text = self.text()?;
        match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(node_value_error(name, &text)),
        }
    }

    /// A leaf holding a non-negative integer.
    pub(crate) fn u32_text(&mut self, name: &str) -> Result<u32, AzureError> {
        let text = self.text()?;
        let trimmed = text.trim();
        let digits = trimmed.strip_prefix('+').unwrap_or(trimmed);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(node_value_error(name, &text));
        }
        digits.parse::<u32>().map_err(|_| node_value_error(name, &text))
    }

    /// After the root's end tag: only whitespace, comments or processing instructions may
    /// follow.
    pub(crate) fn finish(&mut self) -> Result<(), AzureError> {
        debug_assert!(self.root_seen);
        loop {
            match self.next_node()? {
                None => return Ok(()),
                Some(Node::Text(t)) if is_blank(&t) => continue,
                Some(_) => return Err(self.error("Content is not allowed after the root element.")),
            }
        }
    }
}

fn is_blank(s: &str) -> bool {
    s.chars().all(|c| matches!(c, ' ' | '\t' | '\n' | '\r'))
}

/// Stores a child's value, refusing a second occurrence of the same element.
pub(crate) fn set_once<T>(p: &Pull<'_>, slot: &mut Option<T>, name: &str, value: T) -> Result<(), AzureError> {
    if slot.is_some() {
        return Err(p.error(format!("Element '{name}' appears more than once.")));
    }
    *slot = Some(value);
    Ok(())
}

/// Parses the ISO 8601 forms the service accepts in access policies and key info
/// (`YYYY-MM-DD`, `YYYY-MM-DDThh:mm`, `YYYY-MM-DDThh:mm:ss`, with up to 7 fractional
/// digits and an optional `Z` or `±hh:mm` offset; no offset means UTC).
pub(crate) fn parse_iso8601(s: &str) -> Option<time::OffsetDateTime> {
    use time::{Date, Month, PrimitiveDateTime, Time, UtcOffset};
    let s = s.trim();
    let b = s.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = b.get(range)?;
        if part.iter().all(u8::is_ascii_digit) {
            std::str::from_utf8(part).ok()?.parse().ok()
        } else {
            None
        }
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year = i32::try_from(num(0..4)?).ok()?;
    let month = Month::try_from(u8::try_from(num(5..7)?).ok()?).ok()?;
    let day = u8::try_from(num(8..10)?).ok()?;
    let date = Date::from_calendar_date(year, month, day).ok()?;
    let mut rest = &s[10..];
    let (mut hour, mut minute, mut second, mut nanos) = (0u8, 0u8, 0u8, 0u32);
    if let Some(t) = rest.strip_prefix('T') {
        let tb = t.as_bytes();
        let two = |i: usize| -> Option<u8> {
            let part = tb.get(i..i + 2)?;
            if part.iter().all(u8::is_ascii_digit) {
                Some((part[0] - b'0') * 10 + (part[1] - b'0'))
            } else {
                None
            }
        };
        hour = two(0)?;
        if tb.get(2) != Some(&b':') {
            return None;
        }
        minute = two(3)?;
        let mut used = 5;
        if tb.get(5) == Some(&b':') {
            second = two(6)?;
            used = 8;
            if tb.get(8) == Some(&b'.') {
                // .NET stops at 7 digits (100 ns); up to 9 (Go, RFC 3339 nano) are taken
                // and truncated to the 100 ns the service keeps.
                let digits = tb[9..].iter().take_while(|c| c.is_ascii_digit()).count();
                if digits == 0 || digits > 9 {
                    return None;
                }
                let frac = &t[9..9 + digits];
                let value: u32 = frac.parse().ok()?;
                nanos = value * 10u32.pow(9 - digits as u32) / 100 * 100;
                used = 9 + digits;
            }
        }
        rest = &t[used..];
    }
    let offset = match rest {
        "" | "Z" => UtcOffset::UTC,
        _ => {
            let rb = rest.as_bytes();
            if rb.len() != 6 || rb[3] != b':' {
                return None;
            }
            let sign: i8 = match rb[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let h = i8::try_from(std::str::from_utf8(&rb[1..3]).ok()?.parse::<u8>().ok()?).ok()?;
            let m = i8::try_from(std::str::from_utf8(&rb[4..6]).ok()?.parse::<u8>().ok()?).ok()?;
            if !rb[1..3].iter().chain(&rb[4..6]).all(u8::is_ascii_digit) {
                return None;
            }
            UtcOffset::from_hms(sign * h, sign * m, 0).ok()?
        }
    };
    let time = Time::from_hms_nano(hour, minute, second, nanos).ok()?;
    // Checked: `9999-12-31T23:59:59-01:00` is past the last representable UTC time.
    PrimitiveDateTime::new(date, time)
        .assume_offset(offset)
        .checked_to_offset(UtcOffset::UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err_code(r: Result<impl std::fmt::Debug, AzureError>) -> ErrorCode {
        r.expect_err("expected an error").code
    }

    #[test]
    fn iso8601_forms() {
        let full = parse_iso8601("2017-12-31T11:22:33.4560000Z").unwrap();
        assert_eq!(full.nanosecond(), 456_000_000);
        assert_eq!(
            parse_iso8601("2017-12-31T11:22:33.123456789Z").unwrap().nanosecond(),
            123_456_700
        );
        assert_eq!(parse_iso8601("2017-12-31").unwrap().hour(), 0);
        assert_eq!(parse_iso8601("2017-12-31T11:22Z").unwrap().minute(), 22);
        assert_eq!(parse_iso8601("2017-12-31T11:22:33").unwrap().second(), 33);
        assert_eq!(parse_iso8601("2017-12-31T11:22:33+01:00").unwrap().hour(), 10);
        assert_eq!(parse_iso8601("2017-12-31T23:22:33-02:30").unwrap().day(), 1);
        for bad in [
            "",
            "2017",
            "2017-13-01",
            "2017-02-30",
            "2017-12-31T25:00Z",
            "2017-12-31T11:22:33.Z",
            "2017-12-31T11:22:33.1234567891Z",
            "2017-12-31T11:22:33+1:00",
            "2017-12-31T11:22:33Q",
            "2017-12-31 11:22:33Z",
            "２017-12-31",
        ] {
            assert!(parse_iso8601(bad).is_none(), "{bad}");
        }
    }

    /// Found with the `xml` fuzz target's harness: an access policy or key info time whose UTC
    /// equivalent is past year 9999 panicked in `to_offset` (Set Container ACL answered by a
    /// dropped connection instead of 400).
    #[test]
    fn iso8601_past_the_representable_range_is_refused() {
        assert!(parse_iso8601("9999-12-31T23:59:59-01:00").is_none());
        assert_eq!(parse_iso8601("9999-12-31T23:59:59Z").map(|t| t.year()), Some(9999));
        let acl = b"<SignedIdentifiers><SignedIdentifier><Id>abc</Id><AccessPolicy><Start>9999-12-31T23:59:59-01:00</Start></AccessPolicy></SignedIdentifier></SignedIdentifiers>";
        assert_eq!(
            err_code(crate::xml::parse_signed_identifiers(acl)),
            ErrorCode::InvalidXmlNodeValue
        );
    }

    #[test]
    fn cursor_rules() {
        let mut p = Pull::new(b"<A>x</A>", 100).unwrap();
        p.root("A").unwrap();
        assert_eq!(p.text().unwrap(), "x");
        p.finish().unwrap();

        // Wrong root, second root, trailing text, DTD, unclosed element, bad bytes.
        assert_eq!(
            err_code(Pull::new(b"<B/>", 100).unwrap().root("A")),
            ErrorCode::InvalidXmlDocument
        );
        let mut p = Pull::new(b"<A/><A/>", 100).unwrap();
        p.root("A").unwrap();
        assert!(p.next_child().unwrap().is_none());
        assert!(p.finish().is_err());
        let mut p = Pull::new(b"<A/>junk", 100).unwrap();
        p.root("A").unwrap();
        assert!(p.next_child().unwrap().is_none());
        assert!(p.finish().is_err());
        assert!(Pull::new(b"<!DOCTYPE A [<!ENTITY x \"y\">]><A>&x;</A>", 100)
            .unwrap()
            .root("A")
            .is_err());
        let mut p = Pull::new(b"<A><B>", 100).unwrap();
        p.root("A").unwrap();
        assert_eq!(p.next_child().unwrap().as_deref(), Some("B"));
        assert!(p.text().is_err());
        assert!(Pull::new(b"\xff\xfe<A/>", 100).is_err());
        assert_eq!(
            Pull::new(&[b' '; 101], 100).err().map(|e| e.code),
            Some(ErrorCode::RequestBodyTooLarge)
        );

        // A forbidden character through a reference, and an unknown entity.
        let mut p = Pull::new(b"<A>&#1;</A>", 100).unwrap();
        p.root("A").unwrap();
        assert!(p.text().is_err());
        let mut p = Pull::new(b"<A>&nbsp;</A>", 100).unwrap();
        p.root("A").unwrap();
        assert!(p.text().is_err());

        // Nesting cap.
        let deep = "<A>".repeat(MAX_DEPTH + 1);
        let mut p = Pull::new(deep.as_bytes(), 1000).unwrap();
        p.root("A").unwrap();
        let mut failed = false;
        for _ in 0..MAX_DEPTH + 1 {
            if p.next_child().is_err() {
                failed = true;
                break;
            }
        }
        assert!(failed);
    }

    #[test]
    fn error_positions_are_reported() {
        let mut p = Pull::new(b"<A>\n  <B>x</C>\n</A>", 100).unwrap();
        p.root("A").unwrap();
        assert_eq!(p.next_child().unwrap().as_deref(), Some("B"));
        let err = p.text().unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidXmlDocument);
        assert_eq!(err.details[0], ("LineNumber", "2".to_string()));
    }

    #[test]
    fn bom_cdata_comments_and_entities() {
        let body = "\u{FEFF}<?xml version=\"1.0\"?><!-- c --><A><![CDATA[<x>]]>&amp;&#x41;</A>";
        let mut p = Pull::new(body.as_bytes(), 1000).unwrap();
        p.root("A").unwrap();
        assert_eq!(p.text().unwrap(), "<x>&A");
        p.finish().unwrap();
    }
}
