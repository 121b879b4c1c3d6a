//! Output helpers: escaping, the service's date formats, and a tiny element writer.
//!
//! Responses are written by hand into a `Vec<u8>` rather than through a generic
//! serializer because the service's exact shape matters to clients that compare bytes
//! or depend on order: empty values are `<Name />`, some elements appear only when set,
//! and names that XML cannot carry are percent-encoded.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use time::OffsetDateTime;

use super::reader::is_xml_char;

pub(crate) const DECLARATION: &[u8] = b"<?xml version=\"1.0\" encoding=\"utf-8\"?>";

/// How much to escape: the service's two serializers differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum Escape {
    /// Character data as most responses write it: only `&`, `<` and `>` (a recorded
    /// container listing shows `<Etag>"0x8D863587BFB5C7E"</Etag>`).
    #[default]
    Text,
    /// Character data of the Get Blob Tags / Find Blobs serializer, which also writes
    /// quotes as references (a recorded `<Where>` shows `&apos;`).
    TextWithQuotes,
    /// Attribute values (double-quoted).
    Attribute,
}

/// Appends `s` escaped as `mode` says.
///
/// A carriage return is written as a reference because XML parsers turn a raw one into
/// `\n`; in attributes tabs and newlines are too, because attribute normalisation turns
/// them into spaces. Characters XML 1.0 cannot carry at all become U+FFFD: callers that
/// must keep them (blob names) percent-encode instead, see [`push_name`].
pub(crate) fn push_escaped(buf: &mut Vec<u8>, s: &str, mode: Escape) {
    let attribute = mode == Escape::Attribute;
    let quotes = mode == Escape::TextWithQuotes;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let replacement: &str = match c {
            '&' => "&amp;",
            '<' => "&lt;",
            '>' => "&gt;",
            '"' if attribute || quotes => "&quot;",
            '\'' if quotes => "&apos;",
            '\r' => "&#xD;",
            '\n' if attribute => "&#xA;",
            '\t' if attribute => "&#x9;",
            c if !is_xml_char(c) => "\u{FFFD}",
            _ => continue,
        };
        buf.extend_from_slice(&s.as_bytes()[start..i]);
        buf.extend_from_slice(replacement.as_bytes());
        start = i + c.len_utf8();
    }
    buf.extend_from_slice(&s.as_bytes()[start..]);
}

/// RFC 2396 leaves alphanumerics and `-_.!~*'()` unreserved; the service percent-encodes
/// everything else in an encoded name (a real listing shows `first_dir%EF%BF%BF%2F`).
const NAME_ENCODE_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// Writes `<Name>…</Name>`. Since version 2021-02-12 the service percent-encodes a name
/// that holds characters XML 1.0 cannot represent (U+FFFE, U+FFFF, control characters)
/// and marks it `Encoded="true"`; SDKs decode such names.
pub(crate) fn push_name(buf: &mut Vec<u8>, name: &str, mode: Escape) {
    if name.chars().all(is_xml_char) {
        buf.extend_from_slice(b"<Name>");
        push_escaped(buf, name, mode);
    } else {
        buf.extend_from_slice(b"<Name Encoded=\"true\">");
        buf.extend(utf8_percent_encode(name, NAME_ENCODE_SET).flat_map(str::bytes));
    }
    buf.extend_from_slice(b"</Name>");
}

pub(crate) use lazuli_types::time_fmt::{iso8601_7, rfc1123};

/// An element writer over a byte buffer.
#[derive(Default)]
pub(crate) struct Xml {
    pub(crate) buf: Vec<u8>,
    /// How element text is escaped.
    pub(crate) mode: Escape,
}

impl Xml {
    pub(crate) fn with_declaration() -> Self {
        Xml {
            buf: DECLARATION.to_vec(),
            mode: Escape::Text,
        }
    }

    /// The text escaped in this writer's mode.
    pub(crate) fn text(&mut self, s: &str) {
        push_escaped(&mut self.buf, s, self.mode);
    }

    /// `<Name>` of a listed blob or prefix, see [`push_name`].
    pub(crate) fn name(&mut self, name: &str) {
        push_name(&mut self.buf, name, self.mode);
    }

    pub(crate) fn raw(&mut self, s: &str) {
        self.buf.extend_from_slice(s.as_bytes());
    }

    pub(crate) fn open(&mut self, name: &str) {
        self.buf.push(b'<');
        self.raw(name);
        self.buf.push(b'>');
    }

    pub(crate) fn close(&mut self, name: &str) {
        self.buf.extend_from_slice(b"</");
        self.raw(name);
        self.buf.push(b'>');
    }

    /// `<name />`, the service's spelling of an empty element.
    pub(crate) fn empty(&mut self, name: &str) {
        self.buf.push(b'<');
        self.raw(name);
        self.buf.extend_from_slice(b" />");
    }

    /// `<name>text</name>`, or `<name />` when `text` is empty.
    pub(crate) fn elem(&mut self, name: &str, text: &str) {
        if text.is_empty() {
            self.empty(name);
        } else {
            self.open(name);
            self.text(text);
            self.close(name);
        }
    }

    /// Like [`Xml::elem`], writing nothing for `None`.
    pub(crate) fn elem_opt(&mut self, name: &str, text: Option<&str>) {
        if let Some(text) = text {
            self.elem(name, text);
        }
    }

    pub(crate) fn elem_bool(&mut self, name: &str, value: bool) {
        self.elem(name, if value { "true" } else { "false" });
    }

    pub(crate) fn elem_num(&mut self, name: &str, value: impl Into<u64>) {
        self.elem(name, &value.into().to_string());
    }

    pub(crate) fn elem_date(&mut self, name: &str, value: OffsetDateTime) {
        self.elem(name, &rfc1123(value));
    }

    pub(crate) fn attr(&mut self, name: &str, value: &str) {
        self.buf.push(b' ');
        self.raw(name);
        self.buf.extend_from_slice(b"=\"");
        push_escaped(&mut self.buf, value, Escape::Attribute);
        self.buf.push(b'"');
    }

    /// A `<Tags><TagSet>…</TagSet></Tags>` block, shared by Get Blob Tags, List Blobs and
    /// Find Blobs by Tags.
    pub(crate) fn tags(&mut self, tags: &[(String, String)]) {
        self.open("Tags");
        if tags.is_empty() {
            self.raw("<TagSet />");
        } else {
            self.open("TagSet");
            for (key, value) in tags {
                self.open("Tag");
                self.elem("Key", key);
                self.elem("Value", value);
                self.close("Tag");
            }
            self.close("TagSet");
        }
        self.close("Tags");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn escaped(s: &str, mode: Escape) -> String {
        let mut buf = Vec::new();
        push_escaped(&mut buf, s, mode);
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn escaping() {
        assert_eq!(escaped("a<b>&\"c'", Escape::Text), "a&lt;b&gt;&amp;\"c'");
        assert_eq!(
            escaped("a<b>&\"c'", Escape::TextWithQuotes),
            "a&lt;b&gt;&amp;&quot;c&apos;"
        );
        assert_eq!(escaped("a<b>&\"c'", Escape::Attribute), "a&lt;b&gt;&amp;&quot;c'");
        assert_eq!(escaped("plain é 😀", Escape::Text), "plain é 😀");
        assert_eq!(escaped("a\rb\nc\td", Escape::Text), "a&#xD;b\nc\td");
        assert_eq!(escaped("a\rb\nc\td", Escape::Attribute), "a&#xD;b&#xA;c&#x9;d");
        assert_eq!(escaped("x\u{1}y\u{FFFF}", Escape::Text), "x\u{FFFD}y\u{FFFD}");
    }

    #[test]
    fn names_with_characters_xml_cannot_hold_are_percent_encoded() {
        let mut buf = Vec::new();
        push_name(&mut buf, "first_dir\u{FFFF}/", Escape::Text);
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "<Name Encoded=\"true\">first_dir%EF%BF%BF%2F</Name>"
        );
        let mut buf = Vec::new();
        push_name(&mut buf, "a b\u{1}(x)~*!'.-_", Escape::Text);
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "<Name Encoded=\"true\">a%20b%01(x)~*!'.-_</Name>"
        );
        let mut buf = Vec::new();
        push_name(&mut buf, "dir/a&b<c>.txt", Escape::Text);
        assert_eq!(String::from_utf8(buf).unwrap(), "<Name>dir/a&amp;b&lt;c&gt;.txt</Name>");
    }

    #[test]
    fn date_formats() {
        assert_eq!(
            rfc1123(datetime!(2016-10-26 20:39:39 UTC)),
            "Wed, 26 Oct 2016 20:39:39 GMT"
        );
        assert_eq!(
            rfc1123(datetime!(2021-01-03 01:02:03 +02:00)),
            "Sat, 02 Jan 2021 23:02:03 GMT"
        );
        assert_eq!(
            iso8601_7(datetime!(2019-09-11 02:19:05.4457059 UTC)),
            "2019-09-11T02:19:05.4457059Z"
        );
        assert_eq!(
            iso8601_7(datetime!(2019-09-11 02:19:05 UTC)),
            "2019-09-11T02:19:05.0000000Z"
        );
    }
}
