//! Set/Get Blob Tags (`<Tags><TagSet><Tag><Key/><Value/></Tag>…</TagSet></Tags>`).

use lazuli_types::{AzureError, ErrorCode};

use super::reader::{missing_node, set_once, Pull, MAX_SMALL_DOCUMENT};
use super::writer::{Escape, Xml};

/// A blob carries at most ten tags.
pub const MAX_TAGS: usize = 10;
pub const MAX_TAG_KEY_CHARS: usize = 128;
pub const MAX_TAG_VALUE_CHARS: usize = 256;

/// The service's `InvalidTag` code is not in `ErrorCode` yet; until it is, tag problems
/// answer `InvalidXmlNodeValue` (also 400) with the service's message.
fn invalid_tag(detail: String) -> AzureError {
    AzureError::new(
        ErrorCode::InvalidXmlNodeValue,
        "The tags specified are invalid. It contains characters that are not permitted.",
    )
    .with_detail("Reason", detail)
}

fn tag_char_ok(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, ' ' | '+' | '-' | '.' | '/' | ':' | '=' | '_')
}

/// Checks a tag set against the service's rules: at most ten tags, unique keys of 1 to
/// 128 characters, values of 0 to 256, and only `a-zA-Z0-9 +-./:=_`. Shared with the
/// `x-ms-tags` header path.
pub fn validate_tags(tags: &[(String, String)]) -> Result<(), AzureError> {
    if tags.len() > MAX_TAGS {
        return Err(invalid_tag(format!("No more than {MAX_TAGS} tags are allowed.")));
    }
    for (i, (key, value)) in tags.iter().enumerate() {
        let key_len = key.chars().count();
        if key_len == 0 || key_len > MAX_TAG_KEY_CHARS || !key.chars().all(tag_char_ok) {
            return Err(invalid_tag(format!("The tag key '{key}' is not valid.")));
        }
        if value.chars().count() > MAX_TAG_VALUE_CHARS || !value.chars().all(tag_char_ok) {
            return Err(invalid_tag(format!("The value of tag '{key}' is not valid.")));
        }
        if tags[..i].iter().any(|(k, _)| k == key) {
            return Err(invalid_tag(format!("The tag key '{key}' appears more than once.")));
        }
    }
    Ok(())
}

/// Parses a Set Blob Tags body and validates the tags (see [`validate_tags`]). The order
/// of the document is kept.
pub fn parse_tags(body: &[u8]) -> Result<Vec<(String, String)>, AzureError> {
    let mut p = Pull::new(body, MAX_SMALL_DOCUMENT)?;
    p.root("Tags")?;
    let mut tags = Vec::new();
    let mut seen_set = false;
    while let Some(name) = p.next_child()? {
        if name != "TagSet" {
            return Err(p.unsupported(&name));
        }
        if seen_set {
            return Err(p.error("Element 'TagSet' appears more than once."));
        }
        seen_set = true;
        while let Some(name) = p.next_child()? {
            if name != "Tag" {
                return Err(p.unsupported(&name));
            }
            if tags.len() == MAX_TAGS {
                return Err(invalid_tag(format!("No more than {MAX_TAGS} tags are allowed.")));
            }
            tags.push(parse_tag(&mut p)?);
        }
    }
    p.finish()?;
    validate_tags(&tags)?;
    Ok(tags)
}

fn parse_tag(p: &mut Pull<'_>) -> Result<(String, String), AzureError> {
    let (mut key, mut value) = (None, None);
    while let Some(name) = p.next_child()? {
        match name.as_str() {
            "Key" => {
                let v = p.text()?;
                set_once(p, &mut key, &name, v)?;
            }
            "Value" => {
                let v = p.text()?;
                set_once(p, &mut value, &name, v)?;
            }
            _ => return Err(p.unsupported(&name)),
        }
    }
    Ok((
        key.ok_or_else(|| missing_node("Key"))?,
        value.ok_or_else(|| missing_node("Value"))?,
    ))
}

/// Get Blob Tags response body. The service puts a line break after the declaration here
/// (its tags and Find Blobs responses come from a different serializer).
pub fn write_tags(tags: &[(String, String)]) -> Vec<u8> {
    let mut x = Xml::with_declaration();
    x.mode = Escape::TextWithQuotes;
    x.raw("\n");
    x.tags(tags);
    x.buf
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn parse_and_write() {
        let body =
            b"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Tags><TagSet><Tag><Key>tag1</Key><Value>val1</Value></Tag>\
                     <Tag><Key>a b+c-d.e/f:g=h_i</Key><Value/></Tag></TagSet></Tags>";
        let tags = parse_tags(body).unwrap();
        assert_eq!(tags, vec![t("tag1", "val1"), t("a b+c-d.e/f:g=h_i", "")]);
        assert_eq!(
            String::from_utf8(write_tags(&tags[..1])).unwrap(),
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Tags><TagSet><Tag><Key>tag1</Key><Value>val1</Value></Tag></TagSet></Tags>"
        );
        assert_eq!(parse_tags(&write_tags(&tags)).unwrap(), tags);
        assert_eq!(
            String::from_utf8(write_tags(&[])).unwrap(),
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Tags><TagSet /></Tags>"
        );
        assert!(parse_tags(b"<Tags><TagSet/></Tags>").unwrap().is_empty());
        assert!(parse_tags(b"<Tags/>").unwrap().is_empty());
    }

    #[test]
    fn limits() {
        let tag = |i: usize| format!("<Tag><Key>k{i}</Key><Value>v</Value></Tag>");
        let body = |n: usize| format!("<Tags><TagSet>{}</TagSet></Tags>", (0..n).map(tag).collect::<String>());
        assert_eq!(parse_tags(body(10).as_bytes()).unwrap().len(), 10);
        assert_eq!(
            parse_tags(body(11).as_bytes()).unwrap_err().code,
            ErrorCode::InvalidXmlNodeValue
        );

        let one =
            |k: &str, v: &str| format!("<Tags><TagSet><Tag><Key>{k}</Key><Value>{v}</Value></Tag></TagSet></Tags>");
        assert!(parse_tags(one(&"k".repeat(128), &"v".repeat(256)).as_bytes()).is_ok());
        for (k, v) in [
            ("k".repeat(129), "v".to_string()),
            ("k".to_string(), "v".repeat(257)),
            (String::new(), "v".to_string()),
            ("k!".to_string(), "v".to_string()),
            ("k".to_string(), "v&amp;".to_string()),
            ("é".to_string(), "v".to_string()),
        ] {
            assert_eq!(
                parse_tags(one(&k, &v).as_bytes()).unwrap_err().code,
                ErrorCode::InvalidXmlNodeValue,
                "{k} {v}"
            );
        }
        let dup = "<Tags><TagSet><Tag><Key>a</Key><Value>1</Value></Tag><Tag><Key>a</Key><Value>2</Value></Tag></TagSet></Tags>";
        assert_eq!(
            parse_tags(dup.as_bytes()).unwrap_err().code,
            ErrorCode::InvalidXmlNodeValue
        );
    }

    #[test]
    fn structure_errors() {
        let code = |b: &str| parse_tags(b.as_bytes()).unwrap_err().code;
        assert_eq!(
            code("<Tags><TagSet><Tag><Key>a</Key></Tag></TagSet></Tags>"),
            ErrorCode::MissingRequiredXmlNode
        );
        assert_eq!(
            code("<Tags><TagSet><Tag><Value>a</Value></Tag></TagSet></Tags>"),
            ErrorCode::MissingRequiredXmlNode
        );
        assert_eq!(
            code("<Tags><TagSet><Tag><Name>a</Name></Tag></TagSet></Tags>"),
            ErrorCode::UnsupportedXmlNode
        );
        assert_eq!(code("<Tags><Tag/></Tags>"), ErrorCode::UnsupportedXmlNode);
        assert_eq!(code("<TagSet/>"), ErrorCode::InvalidXmlDocument);
        assert_eq!(code(""), ErrorCode::InvalidXmlDocument);
        assert_eq!(code("<Tags><TagSet/><TagSet/></Tags>"), ErrorCode::InvalidXmlDocument);
    }
}
