//! The XML error body of the Blob API.

use lazuli_types::AzureError;
use time::OffsetDateTime;

use super::writer::{iso8601_7, Xml};

/// `<Error><Code>…</Code><Message>…\nRequestId:…\nTime:…</Message>…details…</Error>`.
///
/// The service appends the request id and the time (seven fractional digits) to every
/// message; the SDKs surface the whole message, so both matter to users reading logs.
/// Each detail is an element after `Message` (e.g. `AuthenticationErrorDetail`,
/// `HeaderName`/`HeaderValue`, `LineNumber`/`LinePosition`/`Reason`); an empty value is
/// written `<Name />` as the service does.
pub fn write_error(
    code: &str,
    message: &str,
    details: &[(&str, String)],
    request_id: &str,
    time: OffsetDateTime,
) -> Vec<u8> {
    let mut x = Xml::with_declaration();
    x.open("Error");
    x.elem("Code", code);
    x.elem(
        "Message",
        &format!("{message}\nRequestId:{request_id}\nTime:{}", iso8601_7(time)),
    );
    for (name, value) in details {
        if is_element_name(name) {
            x.elem(name, value);
        }
    }
    x.close("Error");
    x.buf
}

/// Convenience over [`write_error`] for an [`AzureError`].
pub fn write_azure_error(err: &AzureError, request_id: &str, time: OffsetDateTime) -> Vec<u8> {
    write_error(err.code.as_str(), &err.message, &err.details, request_id, time)
}

/// Detail names are chosen by our code, not by clients; this guards the document against
/// a careless one anyway.
fn is_element_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lazuli_types::ErrorCode;
    use time::macros::datetime;

    #[test]
    fn shape_of_a_service_error() {
        let body = write_error(
            "BlobNotFound",
            "The specified blob does not exist.",
            &[],
            "5597be56-f01e-0031-6d23-e705aa000000",
            datetime!(2021-12-02 02:25:18.1234567 UTC),
        );
        assert_eq!(
            String::from_utf8(body).unwrap(),
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>BlobNotFound</Code><Message>The specified blob \
             does not exist.\nRequestId:5597be56-f01e-0031-6d23-e705aa000000\nTime:2021-12-02T02:25:18.1234567Z\
             </Message></Error>"
        );
    }

    #[test]
    fn details_and_escaping() {
        let err = AzureError::new(
            ErrorCode::InvalidXmlDocument,
            "XML specified is not syntactically valid.",
        )
        .with_detail("LineNumber", "1")
        .with_detail("LinePosition", "213")
        .with_detail("Reason", "Element <Days> & 'x'")
        .with_detail("Empty", "")
        .with_detail("bad name", "dropped");
        let body = String::from_utf8(write_azure_error(&err, "r<1>", datetime!(2022-04-27 03:43:10 UTC))).unwrap();
        assert_eq!(
            body,
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>InvalidXmlDocument</Code><Message>XML specified \
             is not syntactically valid.\nRequestId:r&lt;1&gt;\nTime:2022-04-27T03:43:10.0000000Z</Message>\
             <LineNumber>1</LineNumber><LinePosition>213</LinePosition><Reason>Element &lt;Days&gt; &amp; \
             'x'</Reason><Empty /></Error>"
        );
    }
}
