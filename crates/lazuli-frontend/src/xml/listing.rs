//! List Containers, List Blobs and Find Blobs by Tags response bodies.
//!
//! The listing writers append to a buffer item by item, so a handler can send what is
//! written so far ([`ListBlobsWriter::take_chunk`]) while it keeps scanning. Element order
//! follows recorded responses of the service, which differ in places from the swagger and
//! the documentation (e.g. `AccessTier` comes right after `BlobType`, `CopySource` before
//! `CopyStatus`). Optional elements are written only when set, as the service does;
//! `Prefix`, `Marker`, `MaxResults` and `Delimiter` only when the request had them.

use time::OffsetDateTime;

use super::writer::{Escape, Xml};

/// Strips the quotes from an ETag: blob listings show it bare (`0x8D9B53AFBD52DA5`),
/// container listings quoted (`"0x8D863587BFB5C7E"`), whatever the store keeps.
fn bare_etag(etag: &str) -> &str {
    etag.strip_prefix('"').and_then(|e| e.strip_suffix('"')).unwrap_or(etag)
}

/// Writes `<Metadata>…</Metadata>` (`<Metadata />` when empty). A name that cannot be an
/// element name is reported the way the service does, as
/// `<x-ms-invalid-name>name</x-ms-invalid-name>`.
fn write_metadata(x: &mut Xml, metadata: &[(String, String)]) {
    if metadata.is_empty() {
        x.empty("Metadata");
        return;
    }
    x.open("Metadata");
    for (name, value) in metadata {
        if is_metadata_element_name(name) {
            x.elem(name, value);
        } else {
            x.elem("x-ms-invalid-name", name);
        }
    }
    x.close("Metadata");
}

/// Metadata names are C# identifiers, which are valid XML names; anything else (names
/// stored before validation, or through another API) must not break the document.
fn is_metadata_element_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

fn open_enumeration(x: &mut Xml, service_endpoint: &str, container: Option<&str>) {
    x.raw("<EnumerationResults");
    x.attr("ServiceEndpoint", service_endpoint);
    if let Some(container) = container {
        x.attr("ContainerName", container);
    }
    x.raw(">");
}

fn write_paging(x: &mut Xml, prefix: Option<&str>, marker: Option<&str>, max_results: Option<u32>) {
    x.elem_opt("Prefix", prefix);
    x.elem_opt("Marker", marker);
    if let Some(max) = max_results {
        x.elem_num("MaxResults", max);
    }
}

/// One container of a List Containers response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerItem {
    pub name: String,
    pub last_modified: OffsetDateTime,
    /// With or without quotes; written quoted, as the service does here.
    pub etag: String,
    /// `locked` | `unlocked`.
    pub lease_status: String,
    /// `available` | `leased` | `expired` | `breaking` | `broken`.
    pub lease_state: String,
    /// `infinite` | `fixed`, only while leased.
    pub lease_duration: Option<String>,
    /// `container` | `blob`; `None` for a private container.
    pub public_access: Option<String>,
    pub has_immutability_policy: bool,
    pub has_legal_hold: bool,
    /// `Some` when the request had `include=metadata`.
    pub metadata: Option<Vec<(String, String)>>,
    /// Soft-deleted container (listed with `include=deleted`).
    pub deleted: bool,
    /// The deleted container's version, for Restore Container.
    pub version: Option<String>,
    pub deleted_time: Option<OffsetDateTime>,
    pub remaining_retention_days: Option<u32>,
    /// `$account-encryption-key` on the service; written with
    /// `DenyEncryptionScopeOverride` when set.
    pub default_encryption_scope: Option<String>,
    pub deny_encryption_scope_override: bool,
    pub immutable_storage_with_versioning_enabled: Option<bool>,
}

/// Streams a List Containers response.
pub struct ListContainersWriter {
    x: Xml,
    opened_list: bool,
}

impl ListContainersWriter {
    pub fn new(service_endpoint: &str, prefix: Option<&str>, marker: Option<&str>, max_results: Option<u32>) -> Self {
        let mut x = Xml::with_declaration();
        open_enumeration(&mut x, service_endpoint, None);
        write_paging(&mut x, prefix, marker, max_results);
        ListContainersWriter { x, opened_list: false }
    }

    pub fn container(&mut self, c: &ContainerItem) {
        let x = &mut self.x;
        if !self.opened_list {
            x.open("Containers");
            self.opened_list = true;
        }
        x.open("Container");
        x.elem("Name", &c.name);
        if c.deleted {
            x.elem_bool("Deleted", true);
        }
        x.elem_opt("Version", c.version.as_deref());
        x.open("Properties");
        x.elem_date("Last-Modified", c.last_modified);
        x.elem("Etag", &format!("\"{}\"", bare_etag(&c.etag)));
        x.elem("LeaseStatus", &c.lease_status);
        x.elem("LeaseState", &c.lease_state);
        x.elem_opt("LeaseDuration", c.lease_duration.as_deref());
        x.elem_opt("PublicAccess", c.public_access.as_deref());
        if let Some(scope) = &c.default_encryption_scope {
            x.elem("DefaultEncryptionScope", scope);
            x.elem_bool("DenyEncryptionScopeOverride", c.deny_encryption_scope_override);
        }
        x.elem_bool("HasImmutabilityPolicy", c.has_immutability_policy);
        x.elem_bool("HasLegalHold", c.has_legal_hold);
        if let Some(v) = c.immutable_storage_with_versioning_enabled {
            x.elem_bool("ImmutableStorageWithVersioningEnabled", v);
        }
        if let Some(t) = c.deleted_time {
            x.elem_date("DeletedTime", t);
        }
        if let Some(days) = c.remaining_retention_days {
            x.elem_num("RemainingRetentionDays", days);
        }
        x.close("Properties");
        if let Some(metadata) = &c.metadata {
            write_metadata(x, metadata);
        }
        x.close("Container");
    }

    /// The bytes written so far, leaving the writer ready for more.
    pub fn take_chunk(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.x.buf)
    }

    /// Closes the document; `next_marker` is the continuation token, if any. Returns the
    /// bytes not yet taken with [`ListContainersWriter::take_chunk`].
    pub fn finish(mut self, next_marker: Option<&str>) -> Vec<u8> {
        if self.opened_list {
            self.x.close("Containers");
        } else {
            self.x.empty("Containers");
        }
        self.x.elem("NextMarker", next_marker.unwrap_or(""));
        self.x.close("EnumerationResults");
        self.x.buf
    }
}

/// The copy properties of a blob that was the destination of a copy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CopyProperties {
    pub copy_id: Option<String>,
    pub copy_source: Option<String>,
    /// `pending` | `success` | `aborted` | `failed`.
    pub copy_status: Option<String>,
    /// `bytes copied/total bytes`.
    pub copy_progress: Option<String>,
    pub copy_completion_time: Option<OffsetDateTime>,
    pub copy_status_description: Option<String>,
    pub incremental_copy: Option<bool>,
    pub destination_snapshot: Option<String>,
}

/// The `Properties` of a listed blob. `None` fields are left out, except the
/// content headers, which the service always writes (empty when unset).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobItemProperties {
    pub creation_time: OffsetDateTime,
    pub last_modified: OffsetDateTime,
    /// With or without quotes; written bare, as the service does here.
    pub etag: String,
    pub content_length: u64,
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub content_language: Option<String>,
    /// Base64.
    pub content_crc64: Option<String>,
    /// Base64.
    pub content_md5: Option<String>,
    pub cache_control: Option<String>,
    pub content_disposition: Option<String>,
    /// Page blobs only.
    pub blob_sequence_number: Option<u64>,
    /// `BlockBlob` | `PageBlob` | `AppendBlob`.
    pub blob_type: String,
    pub access_tier: Option<String>,
    /// `rehydrate-pending-to-hot` and the like.
    pub archive_status: Option<String>,
    pub rehydrate_priority: Option<String>,
    pub access_tier_inferred: Option<bool>,
    pub access_tier_change_time: Option<OffsetDateTime>,
    pub lease_status: Option<String>,
    pub lease_state: Option<String>,
    pub lease_duration: Option<String>,
    /// Written with `include=copy`.
    pub copy: Option<CopyProperties>,
    pub server_encrypted: bool,
    pub customer_provided_key_sha256: Option<String>,
    pub encryption_scope: Option<String>,
    pub deleted_time: Option<OffsetDateTime>,
    pub remaining_retention_days: Option<u32>,
    pub tag_count: Option<u32>,
    pub expiry_time: Option<OffsetDateTime>,
    /// Append blobs only, when sealed.
    pub sealed: Option<bool>,
    pub last_access_time: Option<OffsetDateTime>,
    pub immutability_policy_until_date: Option<OffsetDateTime>,
    /// `Unlocked` | `Locked`.
    pub immutability_policy_mode: Option<String>,
    pub legal_hold: Option<bool>,
}

impl BlobItemProperties {
    /// A block blob with the usual defaults, for handlers to fill in.
    pub fn new(creation_time: OffsetDateTime, last_modified: OffsetDateTime, etag: &str, content_length: u64) -> Self {
        BlobItemProperties {
            creation_time,
            last_modified,
            etag: etag.to_string(),
            content_length,
            content_type: Some("application/octet-stream".to_string()),
            content_encoding: None,
            content_language: None,
            content_crc64: None,
            content_md5: None,
            cache_control: None,
            content_disposition: None,
            blob_sequence_number: None,
            blob_type: "BlockBlob".to_string(),
            access_tier: None,
            archive_status: None,
            rehydrate_priority: None,
            access_tier_inferred: None,
            access_tier_change_time: None,
            lease_status: Some("unlocked".to_string()),
            lease_state: Some("available".to_string()),
            lease_duration: None,
            copy: None,
            server_encrypted: true,
            customer_provided_key_sha256: None,
            encryption_scope: None,
            deleted_time: None,
            remaining_retention_days: None,
            tag_count: None,
            expiry_time: None,
            sealed: None,
            last_access_time: None,
            immutability_policy_until_date: None,
            immutability_policy_mode: None,
            legal_hold: None,
        }
    }
}

/// One blob (or snapshot, or version) of a List Blobs response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobItem {
    pub name: String,
    /// Soft-deleted (listed with `include=deleted`); `<Deleted>true</Deleted>` is written
    /// only for deleted blobs.
    pub deleted: bool,
    pub snapshot: Option<String>,
    pub version_id: Option<String>,
    pub is_current_version: Option<bool>,
    pub properties: BlobItemProperties,
    /// `Some` with `include=metadata`.
    pub metadata: Option<Vec<(String, String)>>,
    /// `Some` with `include=tags` (and only for blobs that have tags).
    pub tags: Option<Vec<(String, String)>>,
    /// With `include=versions` and `include=deleted`, in hierarchical namespaces.
    pub has_versions_only: Option<bool>,
}

/// Streams a List Blobs response (flat or hierarchical).
pub struct ListBlobsWriter {
    x: Xml,
    opened_list: bool,
}

impl ListBlobsWriter {
    pub fn new(
        service_endpoint: &str,
        container: &str,
        prefix: Option<&str>,
        marker: Option<&str>,
        max_results: Option<u32>,
        delimiter: Option<&str>,
    ) -> Self {
        let mut x = Xml::with_declaration();
        open_enumeration(&mut x, service_endpoint, Some(container));
        write_paging(&mut x, prefix, marker, max_results);
        x.elem_opt("Delimiter", delimiter);
        ListBlobsWriter { x, opened_list: false }
    }

    /// Makes room for `items` entries at once: a page of 5000 is megabytes, and growing the
    /// buffer by doubling copied it over and over.
    pub fn reserve_items(&mut self, items: usize) {
        /// About what one listed blob takes (its properties without metadata).
        const ITEM_BYTES: usize = 1024;
        self.x.buf.reserve(items.saturating_mul(ITEM_BYTES));
    }

    fn list(&mut self) -> &mut Xml {
        if !self.opened_list {
            self.x.open("Blobs");
            self.opened_list = true;
        }
        &mut self.x
    }

    /// A `BlobPrefix` (virtual directory) of a hierarchical listing.
    pub fn prefix(&mut self, name: &str) {
        let x = self.list();
        x.open("BlobPrefix");
        x.name(name);
        x.close("BlobPrefix");
    }

    pub fn blob(&mut self, b: &BlobItem) {
        let x = self.list();
        x.open("Blob");
        x.name(&b.name);
        if b.deleted {
            x.elem_bool("Deleted", true);
        }
        x.elem_opt("Snapshot", b.snapshot.as_deref());
        x.elem_opt("VersionId", b.version_id.as_deref());
        if let Some(current) = b.is_current_version {
            x.elem_bool("IsCurrentVersion", current);
        }
        write_blob_properties(x, &b.properties);
        if let Some(metadata) = &b.metadata {
            write_metadata(x, metadata);
        }
        if let Some(tags) = &b.tags {
            x.tags(tags);
        }
        if let Some(v) = b.has_versions_only {
            x.elem_bool("HasVersionsOnly", v);
        }
        x.close("Blob");
    }

    /// The bytes written so far, leaving the writer ready for more.
    pub fn take_chunk(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.x.buf)
    }

    /// Closes the document; returns the bytes not yet taken.
    pub fn finish(mut self, next_marker: Option<&str>) -> Vec<u8> {
        if self.opened_list {
            self.x.close("Blobs");
        } else {
            self.x.empty("Blobs");
        }
        self.x.elem("NextMarker", next_marker.unwrap_or(""));
        self.x.close("EnumerationResults");
        self.x.buf
    }
}

fn write_blob_properties(x: &mut Xml, p: &BlobItemProperties) {
    // The content headers are always written, empty when unset.
    let text = |v: &Option<String>| -> String { v.clone().unwrap_or_default() };
    x.open("Properties");
    x.elem_date("Creation-Time", p.creation_time);
    x.elem_date("Last-Modified", p.last_modified);
    x.elem("Etag", bare_etag(&p.etag));
    x.elem_num("Content-Length", p.content_length);
    x.elem("Content-Type", &text(&p.content_type));
    x.elem("Content-Encoding", &text(&p.content_encoding));
    x.elem("Content-Language", &text(&p.content_language));
    x.elem("Content-CRC64", &text(&p.content_crc64));
    x.elem("Content-MD5", &text(&p.content_md5));
    x.elem("Cache-Control", &text(&p.cache_control));
    x.elem("Content-Disposition", &text(&p.content_disposition));
    if let Some(n) = p.blob_sequence_number {
        x.elem_num("x-ms-blob-sequence-number", n);
    }
    x.elem("BlobType", &p.blob_type);
    x.elem_opt("AccessTier", p.access_tier.as_deref());
    x.elem_opt("ArchiveStatus", p.archive_status.as_deref());
    x.elem_opt("RehydratePriority", p.rehydrate_priority.as_deref());
    if let Some(inferred) = p.access_tier_inferred {
        x.elem_bool("AccessTierInferred", inferred);
    }
    if let Some(t) = p.access_tier_change_time {
        x.elem_date("AccessTierChangeTime", t);
    }
    x.elem_opt("LeaseStatus", p.lease_status.as_deref());
    x.elem_opt("LeaseState", p.lease_state.as_deref());
    x.elem_opt("LeaseDuration", p.lease_duration.as_deref());
    if let Some(copy) = &p.copy {
        x.elem_opt("CopyId", copy.copy_id.as_deref());
        x.elem_opt("CopySource", copy.copy_source.as_deref());
        x.elem_opt("CopyStatus", copy.copy_status.as_deref());
        x.elem_opt("CopyProgress", copy.copy_progress.as_deref());
        if let Some(t) = copy.copy_completion_time {
            x.elem_date("CopyCompletionTime", t);
        }
        x.elem_opt("CopyStatusDescription", copy.copy_status_description.as_deref());
    }
    x.elem_bool("ServerEncrypted", p.server_encrypted);
    if let Some(copy) = &p.copy {
        if let Some(v) = copy.incremental_copy {
            x.elem_bool("IncrementalCopy", v);
        }
        x.elem_opt("DestinationSnapshot", copy.destination_snapshot.as_deref());
    }
    x.elem_opt("CustomerProvidedKeySha256", p.customer_provided_key_sha256.as_deref());
    x.elem_opt("EncryptionScope", p.encryption_scope.as_deref());
    if let Some(t) = p.deleted_time {
        x.elem_date("DeletedTime", t);
    }
    if let Some(days) = p.remaining_retention_days {
        x.elem_num("RemainingRetentionDays", days);
    }
    if let Some(n) = p.tag_count {
        x.elem_num("TagCount", n);
    }
    if let Some(t) = p.expiry_time {
        x.elem_date("Expiry-Time", t);
    }
    if let Some(sealed) = p.sealed {
        x.elem_bool("Sealed", sealed);
    }
    if let Some(t) = p.last_access_time {
        x.elem_date("LastAccessTime", t);
    }
    if let Some(t) = p.immutability_policy_until_date {
        x.elem_date("ImmutabilityPolicyUntilDate", t);
    }
    x.elem_opt("ImmutabilityPolicyMode", p.immutability_policy_mode.as_deref());
    if let Some(hold) = p.legal_hold {
        x.elem_bool("LegalHold", hold);
    }
    x.close("Properties");
}

/// One Find Blobs by Tags result: `(container, blob name, matching tags)`.
pub type FoundBlob = (String, String, Vec<(String, String)>);

/// Find Blobs by Tags response (account or container level). `results` are
/// `(container, blob name, matching tags)`; the service lists the tags that matched the
/// `where` expression. This response comes from the same serializer as Get Blob Tags:
/// a line break after the declaration and `<NextMarker/>` without a space.
pub fn write_find_blobs(
    service_endpoint: &str,
    where_expr: &str,
    results: &[FoundBlob],
    next_marker: Option<&str>,
) -> Vec<u8> {
    let mut x = Xml::with_declaration();
    x.mode = Escape::TextWithQuotes;
    x.raw("\n");
    open_enumeration(&mut x, service_endpoint, None);
    x.open("Where");
    x.text(where_expr);
    x.close("Where");
    if results.is_empty() {
        x.raw("<Blobs/>");
    } else {
        x.open("Blobs");
        for (container, name, tags) in results {
            x.open("Blob");
            x.name(name);
            x.elem("ContainerName", container);
            if !tags.is_empty() {
                x.tags(tags);
            }
            x.close("Blob");
        }
        x.close("Blobs");
    }
    match next_marker {
        Some(m) if !m.is_empty() => {
            x.open("NextMarker");
            x.text(m);
            x.close("NextMarker");
        }
        _ => x.raw("<NextMarker/>"),
    }
    x.close("EnumerationResults");
    x.buf
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn s(v: &str) -> Option<String> {
        Some(v.to_string())
    }

    fn container(name: &str) -> ContainerItem {
        ContainerItem {
            name: name.into(),
            last_modified: datetime!(2016-10-26 20:39:39 UTC),
            etag: "0x8CACB9BD7C6B1B2".into(),
            lease_status: "unlocked".into(),
            lease_state: "available".into(),
            lease_duration: None,
            public_access: None,
            has_immutability_policy: false,
            has_legal_hold: false,
            metadata: None,
            deleted: false,
            version: None,
            deleted_time: None,
            remaining_retention_days: None,
            default_encryption_scope: None,
            deny_encryption_scope_override: false,
            immutable_storage_with_versioning_enabled: None,
        }
    }

    #[test]
    fn list_containers() {
        let mut w = ListContainersWriter::new("https://myaccount.blob.core.windows.net/", None, None, Some(3));
        let mut audio = container("audio");
        audio.public_access = s("container");
        audio.lease_status = "locked".into();
        audio.lease_state = "leased".into();
        audio.lease_duration = s("infinite");
        audio.metadata = Some(vec![("key1".into(), "a<&>\"'".into()), ("bad name".into(), "v".into())]);
        w.container(&audio);
        let mut deleted = container("gone");
        deleted.etag = "\"0x8D863587BFB5C7E\"".into();
        deleted.deleted = true;
        deleted.version = s("01D6954159845195");
        deleted.lease_state = "expired".into();
        deleted.default_encryption_scope = s("$account-encryption-key");
        deleted.immutable_storage_with_versioning_enabled = Some(false);
        deleted.deleted_time = Some(datetime!(2020-09-28 02:45:17 UTC));
        deleted.remaining_retention_days = Some(7);
        deleted.metadata = Some(vec![]);
        w.container(&deleted);
        let head = w.take_chunk();
        let tail = w.finish(Some("video"));
        let xml = String::from_utf8([head, tail].concat()).unwrap();
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><EnumerationResults \
             ServiceEndpoint=\"https://myaccount.blob.core.windows.net/\"><MaxResults>3</MaxResults><Containers>\
             <Container><Name>audio</Name><Properties><Last-Modified>Wed, 26 Oct 2016 20:39:39 GMT</Last-Modified>\
             <Etag>\"0x8CACB9BD7C6B1B2\"</Etag><LeaseStatus>locked</LeaseStatus><LeaseState>leased</LeaseState>\
             <LeaseDuration>infinite</LeaseDuration><PublicAccess>container</PublicAccess>\
             <HasImmutabilityPolicy>false</HasImmutabilityPolicy><HasLegalHold>false</HasLegalHold></Properties>\
             <Metadata><key1>a&lt;&amp;&gt;\"'</key1><x-ms-invalid-name>bad name</x-ms-invalid-name>\
             </Metadata></Container>\
             <Container><Name>gone</Name><Deleted>true</Deleted><Version>01D6954159845195</Version><Properties>\
             <Last-Modified>Wed, 26 Oct 2016 20:39:39 GMT</Last-Modified><Etag>\"0x8D863587BFB5C7E\"</Etag>\
             <LeaseStatus>unlocked</LeaseStatus><LeaseState>expired</LeaseState>\
             <DefaultEncryptionScope>$account-encryption-key</DefaultEncryptionScope>\
             <DenyEncryptionScopeOverride>false</DenyEncryptionScopeOverride>\
             <HasImmutabilityPolicy>false</HasImmutabilityPolicy><HasLegalHold>false</HasLegalHold>\
             <ImmutableStorageWithVersioningEnabled>false</ImmutableStorageWithVersioningEnabled>\
             <DeletedTime>Mon, 28 Sep 2020 02:45:17 GMT</DeletedTime><RemainingRetentionDays>7</RemainingRetentionDays>\
             </Properties><Metadata /></Container></Containers><NextMarker>video</NextMarker></EnumerationResults>"
        );
    }

    #[test]
    fn empty_container_listing_with_paging_echo() {
        let w = ListContainersWriter::new("http://127.0.0.1:10000/devstoreaccount1", Some("a&b"), Some(""), None);
        assert_eq!(
            String::from_utf8(w.finish(None)).unwrap(),
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><EnumerationResults \
             ServiceEndpoint=\"http://127.0.0.1:10000/devstoreaccount1\"><Prefix>a&amp;b</Prefix><Marker />\
             <Containers /><NextMarker /></EnumerationResults>"
        );
    }

    fn blob(name: &str) -> BlobItem {
        let mut props = BlobItemProperties::new(
            datetime!(2021-12-02 02:25:18 UTC),
            datetime!(2021-12-02 02:25:18 UTC),
            "\"0x8D9B53AFBD52DA5\"",
            0,
        );
        props.content_md5 = s("1B2M2Y8AsgTpgAmY7PhCfg==");
        props.access_tier = s("Hot");
        props.access_tier_inferred = Some(true);
        BlobItem {
            name: name.into(),
            deleted: false,
            snapshot: None,
            version_id: None,
            is_current_version: None,
            properties: props,
            metadata: None,
            tags: None,
            has_versions_only: None,
        }
    }

    /// The properties block of a recorded service listing of a new block blob.
    const RECORDED_PROPS: &str = "<Properties><Creation-Time>Thu, 02 Dec 2021 02:25:18 GMT</Creation-Time>\
        <Last-Modified>Thu, 02 Dec 2021 02:25:18 GMT</Last-Modified><Etag>0x8D9B53AFBD52DA5</Etag>\
        <Content-Length>0</Content-Length><Content-Type>application/octet-stream</Content-Type>\
        <Content-Encoding /><Content-Language /><Content-CRC64 /><Content-MD5>1B2M2Y8AsgTpgAmY7PhCfg==</Content-MD5>\
        <Cache-Control /><Content-Disposition /><BlobType>BlockBlob</BlobType><AccessTier>Hot</AccessTier>\
        <AccessTierInferred>true</AccessTierInferred><LeaseStatus>unlocked</LeaseStatus>\
        <LeaseState>available</LeaseState><ServerEncrypted>true</ServerEncrypted></Properties>";

    #[test]
    fn hierarchical_listing_matches_a_recorded_response() {
        let mut w = ListBlobsWriter::new(
            "https://fakestorageaccount.blob.core.windows.net/",
            "container163841191727006884",
            None,
            None,
            None,
            Some("/"),
        );
        w.blob(&blob("NormalBlob"));
        w.prefix("first_dir\u{FFFF}/");
        w.blob(&blob("first_file\u{FFFF}.blob"));
        w.prefix("normal_dir/");
        let xml = String::from_utf8(w.finish(None)).unwrap();
        let expected = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><EnumerationResults \
             ServiceEndpoint=\"https://fakestorageaccount.blob.core.windows.net/\" \
             ContainerName=\"container163841191727006884\"><Delimiter>/</Delimiter><Blobs>\
             <Blob><Name>NormalBlob</Name>{RECORDED_PROPS}</Blob>\
             <BlobPrefix><Name Encoded=\"true\">first_dir%EF%BF%BF%2F</Name></BlobPrefix>\
             <Blob><Name Encoded=\"true\">first_file%EF%BF%BF.blob</Name>{RECORDED_PROPS}</Blob>\
             <BlobPrefix><Name>normal_dir/</Name></BlobPrefix></Blobs><NextMarker /></EnumerationResults>"
        );
        assert_eq!(xml, expected);
    }

    #[test]
    fn every_optional_blob_element_in_order() {
        let mut b = blob("dir/a&b<c>\"'.txt");
        b.deleted = true;
        b.snapshot = s("2019-08-15T08:33:21.4569721Z");
        b.version_id = s("2021-06-28T05:50:54.5449201Z");
        b.is_current_version = Some(true);
        let p = &mut b.properties;
        p.content_length = 512;
        p.content_type = s("text/plain");
        p.content_encoding = s("gzip");
        p.content_language = s("en");
        p.content_crc64 = s("AAAAAAAAAAA=");
        p.cache_control = s("no-cache");
        p.content_disposition = s("attachment");
        p.blob_sequence_number = Some(0);
        p.blob_type = "PageBlob".into();
        p.access_tier = s("Archive");
        p.archive_status = s("rehydrate-pending-to-hot");
        p.rehydrate_priority = s("Standard");
        p.access_tier_inferred = None;
        p.access_tier_change_time = Some(datetime!(2020-07-08 12:33:59 UTC));
        p.lease_status = s("locked");
        p.lease_state = s("leased");
        p.lease_duration = s("fixed");
        p.copy = Some(CopyProperties {
            copy_id: s("8ae85440"),
            copy_source: s("https://a/b?x=1&y=2"),
            copy_status: s("success"),
            copy_progress: s("512/512"),
            copy_completion_time: Some(datetime!(2021-07-15 17:40:59 UTC)),
            copy_status_description: None,
            incremental_copy: Some(true),
            destination_snapshot: s("2021-07-15T17:40:59.0000000Z"),
        });
        p.encryption_scope = s("scope");
        p.deleted_time = Some(datetime!(2019-07-05 09:19:46 UTC));
        p.remaining_retention_days = Some(6);
        p.tag_count = Some(1);
        p.sealed = Some(true);
        p.legal_hold = Some(false);
        b.metadata = Some(vec![("k".into(), "v".into())]);
        b.tags = Some(vec![("t".into(), "u".into())]);
        let mut w = ListBlobsWriter::new("http://h/acct/", "c", Some("dir/"), Some("m"), Some(2), None);
        w.blob(&b);
        let xml = String::from_utf8(w.finish(Some("2!100!abc"))).unwrap();
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><EnumerationResults ServiceEndpoint=\"http://h/acct/\" \
             ContainerName=\"c\"><Prefix>dir/</Prefix><Marker>m</Marker><MaxResults>2</MaxResults><Blobs><Blob>\
             <Name>dir/a&amp;b&lt;c&gt;\"'.txt</Name><Deleted>true</Deleted>\
             <Snapshot>2019-08-15T08:33:21.4569721Z</Snapshot><VersionId>2021-06-28T05:50:54.5449201Z</VersionId>\
             <IsCurrentVersion>true</IsCurrentVersion><Properties>\
             <Creation-Time>Thu, 02 Dec 2021 02:25:18 GMT</Creation-Time>\
             <Last-Modified>Thu, 02 Dec 2021 02:25:18 GMT</Last-Modified><Etag>0x8D9B53AFBD52DA5</Etag>\
             <Content-Length>512</Content-Length><Content-Type>text/plain</Content-Type>\
             <Content-Encoding>gzip</Content-Encoding><Content-Language>en</Content-Language>\
             <Content-CRC64>AAAAAAAAAAA=</Content-CRC64><Content-MD5>1B2M2Y8AsgTpgAmY7PhCfg==</Content-MD5>\
             <Cache-Control>no-cache</Cache-Control><Content-Disposition>attachment</Content-Disposition>\
             <x-ms-blob-sequence-number>0</x-ms-blob-sequence-number><BlobType>PageBlob</BlobType>\
             <AccessTier>Archive</AccessTier><ArchiveStatus>rehydrate-pending-to-hot</ArchiveStatus>\
             <RehydratePriority>Standard</RehydratePriority>\
             <AccessTierChangeTime>Wed, 08 Jul 2020 12:33:59 GMT</AccessTierChangeTime>\
             <LeaseStatus>locked</LeaseStatus><LeaseState>leased</LeaseState><LeaseDuration>fixed</LeaseDuration>\
             <CopyId>8ae85440</CopyId><CopySource>https://a/b?x=1&amp;y=2</CopySource><CopyStatus>success</CopyStatus>\
             <CopyProgress>512/512</CopyProgress><CopyCompletionTime>Thu, 15 Jul 2021 17:40:59 GMT</CopyCompletionTime>\
             <ServerEncrypted>true</ServerEncrypted><IncrementalCopy>true</IncrementalCopy>\
             <DestinationSnapshot>2021-07-15T17:40:59.0000000Z</DestinationSnapshot>\
             <EncryptionScope>scope</EncryptionScope><DeletedTime>Fri, 05 Jul 2019 09:19:46 GMT</DeletedTime>\
             <RemainingRetentionDays>6</RemainingRetentionDays><TagCount>1</TagCount><Sealed>true</Sealed>\
             <LegalHold>false</LegalHold></Properties><Metadata><k>v</k></Metadata>\
             <Tags><TagSet><Tag><Key>t</Key><Value>u</Value></Tag></TagSet></Tags></Blob></Blobs>\
             <NextMarker>2!100!abc</NextMarker></EnumerationResults>"
        );
    }

    #[test]
    fn empty_blob_listing_and_chunks() {
        let mut w = ListBlobsWriter::new("http://h/", "c", None, None, None, None);
        let head = w.take_chunk();
        assert!(w.take_chunk().is_empty());
        let tail = w.finish(None);
        assert_eq!(
            String::from_utf8([head, tail].concat()).unwrap(),
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><EnumerationResults ServiceEndpoint=\"http://h/\" \
             ContainerName=\"c\"><Blobs /><NextMarker /></EnumerationResults>"
        );
    }

    #[test]
    fn find_blobs_matches_a_recorded_response() {
        let xml = write_find_blobs(
            "https://fakestorageaccount.blob.core.windows.net/",
            "key160587627463508352='val1160587627463603343'",
            &[(
                "container1160587627347606823".into(),
                "blobname1160587627463504264".into(),
                vec![("key160587627463508352".into(), "val1160587627463603343".into())],
            )],
            None,
        );
        assert_eq!(
            String::from_utf8(xml).unwrap(),
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<EnumerationResults \
             ServiceEndpoint=\"https://fakestorageaccount.blob.core.windows.net/\"><Where>key160587627463508352=\
             &apos;val1160587627463603343&apos;</Where><Blobs><Blob><Name>blobname1160587627463504264</Name>\
             <ContainerName>container1160587627347606823</ContainerName><Tags><TagSet><Tag>\
             <Key>key160587627463508352</Key><Value>val1160587627463603343</Value></Tag></TagSet></Tags></Blob>\
             </Blobs><NextMarker/></EnumerationResults>"
        );
        let xml = write_find_blobs("http://h/", "\"a\" = 'b'", &[], Some("n"));
        assert_eq!(
            String::from_utf8(xml).unwrap(),
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<EnumerationResults ServiceEndpoint=\"http://h/\">\
             <Where>&quot;a&quot; = &apos;b&apos;</Where><Blobs/><NextMarker>n</NextMarker></EnumerationResults>"
        );
    }
}
