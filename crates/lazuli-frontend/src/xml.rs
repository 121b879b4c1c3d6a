//! XML request parsers and response writers of the Blob REST API.
//!
//! Everything here is pure: bytes in, values out (or values in, bytes out). Parsers never
//! panic, whatever the input; they answer the Azure error the service would
//! (`InvalidXmlDocument` with `LineNumber`/`LinePosition`/`Reason` for malformed or
//! rule-breaking documents, `UnsupportedXmlNode` for unknown elements,
//! `MissingRequiredXmlNode`, `InvalidXmlNodeValue`) and bound their input (size, nesting,
//! list lengths). Writers reproduce the service's element order and spelling, taken from
//! recorded service responses where they differ from the swagger.

mod acl;
mod block_list;
mod error;
mod listing;
mod reader;
mod service_properties;
mod tags;
mod user_delegation;
mod writer;

pub use acl::{parse_signed_identifiers, write_signed_identifiers, SignedIdentifier, MAX_SIGNED_IDENTIFIERS};
pub use block_list::{
    parse_block_list, write_block_list, BlockListItem, BlockListKind, MAX_BLOCK_LIST_BYTES, MAX_BLOCK_LIST_ENTRIES,
};
pub use error::{write_azure_error, write_error};
pub use listing::{
    write_find_blobs, BlobItem, BlobItemProperties, ContainerItem, CopyProperties, FoundBlob, ListBlobsWriter,
    ListContainersWriter,
};
pub use service_properties::{
    parse_service_properties, write_service_properties, CorsRule, Logging, Metrics, RetentionPolicy, ServiceProperties,
    StaticWebsite, CORS_METHODS, MAX_CORS_RULES, MAX_RETENTION_DAYS,
};
pub use tags::{parse_tags, validate_tags, write_tags, MAX_TAGS};
pub use user_delegation::{parse_key_info, write_user_delegation_key, KeyInfo, UserDelegationKey};

#[cfg(test)]
mod fuzz {
    //! Whatever a client sends, every parser answers `Ok` or an `AzureError`, never a
    //! panic, and every error is a 4xx.

    use super::*;
    use proptest::prelude::*;

    fn all_parsers(body: &[u8]) {
        for status in [
            parse_block_list(body).err().map(|e| e.status()),
            parse_service_properties(body).err().map(|e| e.status()),
            parse_signed_identifiers(body).err().map(|e| e.status()),
            parse_tags(body).err().map(|e| e.status()),
            parse_key_info(body).err().map(|e| e.status()),
        ]
        .into_iter()
        .flatten()
        {
            assert!((400..500).contains(&status), "status {status}");
        }
    }

    /// Fragments of the documents the parsers know, so that random input gets past the
    /// root element and into the nested parsers.
    const PIECES: &[&str] = &[
        "<BlockList>",
        "</BlockList>",
        "<Latest>",
        "</Latest>",
        "<Committed>",
        "</Committed>",
        "<StorageServiceProperties>",
        "</StorageServiceProperties>",
        "<Logging>",
        "</Logging>",
        "<Version>1.0</Version>",
        "<Delete>true</Delete>",
        "<Read>false</Read>",
        "<Write>1</Write>",
        "<RetentionPolicy>",
        "</RetentionPolicy>",
        "<Enabled>true</Enabled>",
        "<Enabled>false</Enabled>",
        "<Days>7</Days>",
        "<Days>0</Days>",
        "<HourMetrics>",
        "</HourMetrics>",
        "<Cors>",
        "</Cors>",
        "<CorsRule>",
        "</CorsRule>",
        "<AllowedOrigins>*</AllowedOrigins>",
        "<AllowedMethods>GET</AllowedMethods>",
        "<AllowedHeaders/>",
        "<ExposedHeaders/>",
        "<MaxAgeInSeconds>5</MaxAgeInSeconds>",
        "<StaticWebsite>",
        "</StaticWebsite>",
        "<DeleteRetentionPolicy>",
        "</DeleteRetentionPolicy>",
        "<SignedIdentifiers>",
        "</SignedIdentifiers>",
        "<SignedIdentifier>",
        "</SignedIdentifier>",
        "<Id>x</Id>",
        "<AccessPolicy>",
        "</AccessPolicy>",
        "<Start>2024-01-01T00:00:00Z</Start>",
        "<Expiry>2024-01-01</Expiry>",
        "<Permission>r</Permission>",
        "<Tags>",
        "</Tags>",
        "<TagSet>",
        "</TagSet>",
        "<Tag>",
        "</Tag>",
        "<Key>k</Key>",
        "<Value>v</Value>",
        "<KeyInfo>",
        "</KeyInfo>",
        "&amp;",
        "&#1;",
        "&#x10FFFF;",
        "&bogus;",
        "<![CDATA[x]]>",
        "<!-- c -->",
        "<?pi x?>",
        "<?xml version=\"1.0\"?>",
        "<!DOCTYPE x>",
        " ",
        "\n",
        "<",
        ">",
        "/>",
        "\u{FFFF}",
        "\u{FEFF}",
        "<A b=\"c\">",
        "</A>",
    ];

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            all_parsers(&body);
        }

        #[test]
        fn shuffled_fragments_never_panic(pieces in proptest::collection::vec(0..PIECES.len(), 0..40)) {
            let body: String = pieces.into_iter().map(|i| PIECES[i]).collect();
            all_parsers(body.as_bytes());
        }

        #[test]
        fn tags_round_trip(tags in proptest::collection::btree_map("[a-zA-Z0-9 +./:=_-]{1,20}", "[a-zA-Z0-9 +./:=_-]{0,20}", 0..=10)) {
            let tags: Vec<(String, String)> = tags.into_iter().collect();
            prop_assert_eq!(parse_tags(&write_tags(&tags)).unwrap(), tags);
        }

        #[test]
        fn block_list_round_trip(ids in proptest::collection::vec(("[A-Za-z0-9+/=]{0,12}", 0..3u8), 0..50)) {
            let items: Vec<BlockListItem> = ids
                .into_iter()
                .map(|(id, k)| BlockListItem {
                    kind: [BlockListKind::Committed, BlockListKind::Uncommitted, BlockListKind::Latest][usize::from(k)],
                    id,
                })
                .collect();
            let mut body = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>");
            for item in &items {
                let tag = match item.kind {
                    BlockListKind::Committed => "Committed",
                    BlockListKind::Uncommitted => "Uncommitted",
                    BlockListKind::Latest => "Latest",
                };
                body.push_str(&format!("<{tag}>{}</{tag}>", item.id));
            }
            body.push_str("</BlockList>");
            prop_assert_eq!(parse_block_list(body.as_bytes()).unwrap(), items);
        }

        /// Whatever a blob is called, the listing stays well-formed XML and the name comes
        /// back (decoded when the writer had to encode it).
        #[test]
        fn listed_names_survive(name in "\\PC{0,30}|[\\x00-\\x1f\u{FFFE}\u{FFFF}a/&<]{0,10}") {
            let mut w = ListBlobsWriter::new("http://h/", "c", None, None, None, Some("/"));
            w.prefix(&name);
            let xml = w.finish(None);
            let text = String::from_utf8(xml).unwrap();
            let mut reader = quick_xml::Reader::from_str(&text);
            let mut encoded = false;
            let mut got = None;
            loop {
                match reader.read_event().unwrap() {
                    quick_xml::events::Event::Start(e) if e.name().as_ref() == b"Name" => {
                        encoded = e.try_get_attribute("Encoded").unwrap().is_some();
                        got = Some(reader.read_text(e.name()).unwrap().into_owned());
                    }
                    quick_xml::events::Event::Eof => break,
                    _ => {}
                }
            }
            let got = got.unwrap_or_default();
            let got = if encoded {
                percent_encoding::percent_decode_str(&got).decode_utf8().unwrap().into_owned()
            } else {
                quick_xml::escape::unescape(&got).unwrap().into_owned()
            };
            prop_assert_eq!(got, name);
        }
    }
}
