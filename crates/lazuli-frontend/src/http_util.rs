//! Small helpers over request headers and response building.

use std::borrow::Cow;
use std::convert::Infallible;

use bytes::Bytes;
use http::header::{self, IntoHeaderName};
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Empty, Full};
use lazuli_partition::HttpHeaders;
use lazuli_types::conditions::Conditions;
use lazuli_types::time_fmt::parse_rfc1123;
use lazuli_types::{AzureError, ErrorCode};

pub type ResponseBody = BoxBody<Bytes, std::io::Error>;

pub fn empty() -> ResponseBody {
    Empty::<Bytes>::new()
        .map_err(|never: Infallible| match never {})
        .boxed()
}

pub fn full(bytes: impl Into<Bytes>) -> ResponseBody {
    Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

/// A header name to look up: a `&str`, parsed and checked on every lookup, or on the paths
/// every request takes a prebuilt `HeaderName` (`http::header`'s constants or [`names`]).
pub trait LookupName: http::header::AsHeaderName + AsRef<str> + Clone {}

impl<T: http::header::AsHeaderName + AsRef<str> + Clone> LookupName for T {}

pub fn header_str(headers: &HeaderMap, name: impl LookupName) -> Result<Option<&str>, AzureError> {
    match headers.get(name.clone()) {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .map(Some)
            .map_err(|_| AzureError::header(name.as_ref(), "<non-ASCII>")),
    }
}

/// A header value as UTF-8 (metadata values may carry any bytes the client sent as Latin-1;
/// we keep what decodes and refuse the rest).
pub fn header_string(headers: &HeaderMap, name: &str) -> Result<Option<String>, AzureError> {
    match headers.get(name) {
        None => Ok(None),
        Some(value) => std::str::from_utf8(value.as_bytes())
            .map(|s| Some(s.to_string()))
            .map_err(|_| AzureError::header(name, "<invalid UTF-8>")),
    }
}

pub fn header_u64(headers: &HeaderMap, name: &str) -> Result<Option<u64>, AzureError> {
    match header_str(headers, name)? {
        None => Ok(None),
        Some(v) => v.trim().parse().map(Some).map_err(|_| AzureError::header(name, v)),
    }
}

pub fn header_bool(headers: &HeaderMap, name: impl LookupName) -> Result<bool, AzureError> {
    match header_str(headers, name.clone())? {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(AzureError::header(name.as_ref(), v)),
    }
}

pub fn header_date(headers: &HeaderMap, name: impl LookupName) -> Result<Option<time::OffsetDateTime>, AzureError> {
    match header_str(headers, name.clone())? {
        None => Ok(None),
        Some(v) => parse_rfc1123(v)
            .map(Some)
            .ok_or_else(|| AzureError::header(name.as_ref(), v)),
    }
}

pub fn conditions(headers: &HeaderMap) -> Result<Conditions, AzureError> {
    Ok(Conditions {
        if_match: header_str(headers, header::IF_MATCH)?.map(str::to_string),
        if_none_match: header_str(headers, header::IF_NONE_MATCH)?.map(str::to_string),
        if_modified_since: header_date(headers, header::IF_MODIFIED_SINCE)?,
        if_unmodified_since: header_date(headers, header::IF_UNMODIFIED_SINCE)?,
        lease_id: header_str(headers, names::X_MS_LEASE_ID)?.map(|v| v.trim().to_string()),
        if_tags: crate::tag_expr::if_tags(headers)?,
    })
}

/// `x-ms-meta-*` headers as (name, value), names as sent (the service keeps their case; see
/// `header_case`).
pub fn metadata(parts: &http::request::Parts) -> Result<Vec<(String, String)>, AzureError> {
    let mut pairs = Vec::new();
    for (name, value) in &parts.headers {
        if let Some(key) = name.as_str().strip_prefix("x-ms-meta-") {
            let value = std::str::from_utf8(value.as_bytes())
                .map_err(|_| AzureError::new(ErrorCode::InvalidMetadata, "The metadata specified is invalid."))?;
            pairs.push((key.to_string(), value.to_string()));
        }
    }
    if let Some(names) = parts.extensions.get::<crate::header_case::MetadataNames>() {
        names.respell(&mut pairs);
    }
    lazuli_types::names::validate_metadata(&pairs)?;
    Ok(pairs)
}

/// The blob HTTP headers a write carries: `x-ms-blob-content-*` on Put Blob, Put Block List
/// and Set Blob Properties (Put Blob also takes plain `Content-Type` etc. as fallbacks).
pub fn blob_http_headers(headers: &HeaderMap, fall_back_to_plain: bool) -> Result<HttpHeaders, AzureError> {
    let pick = |blob_name: &str, plain: &str| -> Result<Option<String>, AzureError> {
        match header_string(headers, blob_name)? {
            Some(v) => Ok(Some(v)),
            None if fall_back_to_plain => header_string(headers, plain),
            None => Ok(None),
        }
    };
    let content_md5 = match header_str(headers, "x-ms-blob-content-md5")? {
        Some(v) => {
            lazuli_types::checksum::md5_from_header(v).ok_or_else(|| {
                AzureError::new(
                    ErrorCode::InvalidMd5,
                    "The MD5 value specified in the request is invalid.",
                )
            })?;
            Some(v.trim().to_string())
        }
        None => None,
    };
    Ok(HttpHeaders {
        content_type: pick("x-ms-blob-content-type", "content-type")?,
        content_encoding: pick("x-ms-blob-content-encoding", "content-encoding")?,
        content_language: pick("x-ms-blob-content-language", "content-language")?,
        content_md5,
        cache_control: pick("x-ms-blob-cache-control", "cache-control")?,
        content_disposition: pick("x-ms-blob-content-disposition", "content-disposition")?,
    })
}

/// Sets a response header. Hot paths pass a [`names`] constant or one of `http::header`'s:
/// a `&'static str` name is parsed and validated again on every insert.
/// Values that are not valid header text are left out.
pub fn set_header(response: &mut Response<ResponseBody>, name: impl IntoHeaderName, value: impl HeaderText) {
    if let Some(value) = value.into_header_value() {
        response.headers_mut().insert(name, value);
    }
}

/// Text for [`set_header`]: a `String` the caller is done with becomes the header value as it is
/// (a response carries half a dozen formatted dates and numbers); borrowed text is copied.
pub trait HeaderText {
    fn into_header_value(self) -> Option<HeaderValue>;
}

impl HeaderText for String {
    fn into_header_value(self) -> Option<HeaderValue> {
        HeaderValue::try_from(self).ok()
    }
}

impl HeaderText for &str {
    fn into_header_value(self) -> Option<HeaderValue> {
        HeaderValue::from_str(self).ok()
    }
}

impl HeaderText for &String {
    fn into_header_value(self) -> Option<HeaderValue> {
        self.as_str().into_header_value()
    }
}

impl HeaderText for Cow<'_, str> {
    fn into_header_value(self) -> Option<HeaderValue> {
        match self {
            Cow::Borrowed(text) => text.into_header_value(),
            Cow::Owned(text) => text.into_header_value(),
        }
    }
}

/// [`set_header`] for a value known at compile time: no validation and no copy.
pub fn set_static_header(response: &mut Response<ResponseBody>, name: impl IntoHeaderName, value: &'static str) {
    response.headers_mut().insert(name, HeaderValue::from_static(value));
}

/// Room for the headers of a blob read (properties, checksums, request ids) without the map
/// growing and rehashing twice on the way.
const RESPONSE_HEADERS_CAPACITY: usize = 24;

pub fn response(status: StatusCode, body: ResponseBody) -> Response<ResponseBody> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = HeaderMap::with_capacity(RESPONSE_HEADERS_CAPACITY);
    response
}

/// Azure's own header names that every blob read or write answers with, built at compile
/// time (the standard ones are `http::header`'s constants).
// `HeaderName` holds a `Bytes`, whose atomic is never touched for static bytes, so a
// constant of it is never mutated through.
#[allow(clippy::declare_interior_mutable_const)]
pub mod names {
    use http::HeaderName;

    pub const X_MS_REQUEST_ID: HeaderName = HeaderName::from_static("x-ms-request-id");
    pub const X_MS_CLIENT_REQUEST_ID: HeaderName = HeaderName::from_static("x-ms-client-request-id");
    pub const X_MS_VERSION: HeaderName = HeaderName::from_static("x-ms-version");
    pub const X_MS_VERSION_ID: HeaderName = HeaderName::from_static("x-ms-version-id");
    pub const X_MS_IS_CURRENT_VERSION: HeaderName = HeaderName::from_static("x-ms-is-current-version");
    pub const X_MS_BLOB_TYPE: HeaderName = HeaderName::from_static("x-ms-blob-type");
    pub const X_MS_CREATION_TIME: HeaderName = HeaderName::from_static("x-ms-creation-time");
    pub const X_MS_LEASE_STATUS: HeaderName = HeaderName::from_static("x-ms-lease-status");
    pub const X_MS_LEASE_STATE: HeaderName = HeaderName::from_static("x-ms-lease-state");
    pub const X_MS_SERVER_ENCRYPTED: HeaderName = HeaderName::from_static("x-ms-server-encrypted");
    pub const X_MS_REQUEST_SERVER_ENCRYPTED: HeaderName = HeaderName::from_static("x-ms-request-server-encrypted");
    pub const X_MS_ACCESS_TIER: HeaderName = HeaderName::from_static("x-ms-access-tier");
    pub const X_MS_ACCESS_TIER_INFERRED: HeaderName = HeaderName::from_static("x-ms-access-tier-inferred");
    pub const X_MS_CONTENT_CRC64: HeaderName = HeaderName::from_static("x-ms-content-crc64");
    pub const CONTENT_MD5: HeaderName = HeaderName::from_static("content-md5");
    // Request headers every Get or write looks for.
    pub const X_MS_LEASE_ID: HeaderName = HeaderName::from_static("x-ms-lease-id");
    pub const X_MS_IF_TAGS: HeaderName = HeaderName::from_static("x-ms-if-tags");
    pub const X_MS_RANGE: HeaderName = HeaderName::from_static("x-ms-range");
    pub const X_MS_RANGE_GET_CONTENT_MD5: HeaderName = HeaderName::from_static("x-ms-range-get-content-md5");
    pub const X_MS_RANGE_GET_CONTENT_CRC64: HeaderName = HeaderName::from_static("x-ms-range-get-content-crc64");
}

/// Appends metadata as `x-ms-meta-*` response headers, names written as stored (see
/// `header_case`).
pub fn put_metadata_headers(response: &mut Response<ResponseBody>, metadata: &[(String, String)]) {
    // Every name, in order, once one has a capital (names that differ only in case then keep
    // their own spellings); none when hyper's lowercase is already right.
    let capitals = metadata
        .iter()
        .any(|(name, _)| name.bytes().any(|b| b.is_ascii_uppercase()));
    let mut spelled: Vec<Box<str>> = Vec::new();
    for (name, value) in metadata {
        let Ok(header) = http::HeaderName::from_bytes(format!("x-ms-meta-{name}").as_bytes()) else {
            continue;
        };
        if let Ok(value) = HeaderValue::from_bytes(value.as_bytes()) {
            if capitals {
                spelled.push(name.as_str().into());
            }
            response.headers_mut().append(header, value);
        }
    }
    if capitals {
        response
            .extensions_mut()
            .insert(crate::header_case::MetadataNames(spelled));
    }
}

/// How a literal '+' in a query string decodes. The service (ASP.NET query parsing) reads it
/// as a space; some SDKs sign it as a literal '+'; paths never change it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PlusMode {
    Space,
    Literal,
}

/// Percent-decodes one URL component: `%` and two hex digits is a byte, any other `%` stays as
/// it is. Borrows when there is nothing to decode; otherwise one allocation of the input's
/// size (every query parameter of every request comes through here).
pub(crate) fn percent_decode(raw: &str, plus: PlusMode) -> Cow<'_, [u8]> {
    let bytes = raw.as_bytes();
    let special = |b: u8| b == b'%' || (b == b'+' && plus == PlusMode::Space);
    let Some(first) = bytes.iter().position(|&b| special(b)) else {
        return Cow::Borrowed(bytes);
    };
    let hex = |b: Option<&u8>| b.and_then(|&b| (b as char).to_digit(16)).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(&bytes[..first]);
    let mut i = first;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => match (hex(bytes.get(i + 1)), hex(bytes.get(i + 2))) {
                (Some(high), Some(low)) => {
                    out.push(high << 4 | low);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus == PlusMode::Space => out.push(b' '),
            _ => out.push(b),
        }
        i += 1;
    }
    Cow::Owned(out)
}

/// [`percent_decode`] that must give UTF-8 (names, paths, query values the router reads).
pub(crate) fn percent_decode_utf8(raw: &str, plus: PlusMode) -> Option<Cow<'_, str>> {
    match percent_decode(raw, plus) {
        // Nothing was decoded: the input itself.
        Cow::Borrowed(_) => Some(Cow::Borrowed(raw)),
        Cow::Owned(bytes) => String::from_utf8(bytes).ok().map(Cow::Owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_text_is_validated_whether_owned_or_borrowed() {
        let value = |text: &str| {
            let owned = text.to_string().into_header_value();
            assert_eq!(owned, text.into_header_value(), "{text:?}");
            assert_eq!(owned, Cow::Borrowed(text).into_header_value(), "{text:?}");
            owned
        };
        assert_eq!(
            value("Sat, 28 Nov 2026 18:30:05 GMT").unwrap(),
            "Sat, 28 Nov 2026 18:30:05 GMT"
        );
        assert_eq!(value("\"0x8D1\"").unwrap(), "\"0x8D1\"");
        for invalid in ["line\nbreak", "carriage\rreturn", "nul\0"] {
            assert_eq!(value(invalid), None);
        }
        let mut response = response(StatusCode::OK, empty());
        set_header(&mut response, "x-ms-a", String::from("bad\n"));
        set_header(&mut response, "x-ms-b", 4096u64.to_string());
        assert!(!response.headers().contains_key("x-ms-a"));
        assert_eq!(response.headers()["x-ms-b"], "4096");
    }

    #[test]
    fn percent_decode_matches_the_url_rules() {
        let decode = |raw, plus| percent_decode(raw, plus).into_owned();
        assert!(matches!(
            percent_decode("plain-name_1.txt", PlusMode::Space),
            Cow::Borrowed(_)
        ));
        assert_eq!(decode("a%2Fb%3d%3D", PlusMode::Literal), b"a/b==");
        assert_eq!(decode("a+b%2B", PlusMode::Space), b"a b+");
        assert_eq!(decode("a+b%2B", PlusMode::Literal), b"a+b+");
        // Escapes that are not two hex digits stay as they are, at the end too.
        assert_eq!(decode("100%", PlusMode::Literal), b"100%");
        assert_eq!(decode("%zz%4", PlusMode::Literal), b"%zz%4");
        assert_eq!(decode("%%41", PlusMode::Literal), b"%A");
        assert_eq!(decode("%E2%82%AC", PlusMode::Literal), "\u{20ac}".as_bytes());
        assert_eq!(
            percent_decode_utf8("%E2%82%AC", PlusMode::Literal).as_deref(),
            Some("\u{20ac}")
        );
        assert_eq!(percent_decode_utf8("%FF", PlusMode::Literal), None);
        assert_eq!(percent_decode_utf8("x+y", PlusMode::Space).as_deref(), Some("x y"));
    }

    #[test]
    fn percent_decode_agrees_with_the_reference_decoder() {
        let samples = [
            "",
            "%",
            "%2",
            "%2g",
            "%%%",
            "a%20b",
            "%C3%A9t%C3%A9",
            "%c3%28",
            "sig=ab%2Bc%2F%3D",
            "+%2B+",
            "x%0Ay",
            "%41%4a%4A",
            "\u{00e9}%41",
        ];
        for raw in samples {
            let reference: Vec<u8> = percent_encoding::percent_decode_str(raw).collect();
            assert_eq!(
                percent_decode(raw, PlusMode::Literal).into_owned(),
                reference,
                "{raw:?}"
            );
            let spaced = raw.replace('+', " ");
            let reference: Vec<u8> = percent_encoding::percent_decode_str(&spaced).collect();
            assert_eq!(percent_decode(raw, PlusMode::Space).into_owned(), reference, "{raw:?}");
        }
    }
}
