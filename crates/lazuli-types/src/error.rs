//! Azure error codes: the one place that knows each code's HTTP status.

use std::fmt;

macro_rules! error_codes {
    ($($name:ident => $status:expr),* $(,)?) => {
        /// An Azure Storage error code (the `x-ms-error-code` header and `<Code>` element).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum ErrorCode { $($name),* }

        impl ErrorCode {
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$name => stringify!($name)),* }
            }
            /// The HTTP status the service answers with for this code.
            pub fn status(self) -> u16 {
                match self { $(ErrorCode::$name => $status),* }
            }
        }
    };
}

error_codes! {
    // Common to every service.
    AuthenticationFailed => 403,
    AuthorizationFailure => 403,
    AuthorizationPermissionMismatch => 403,
    AuthorizationResourceTypeMismatch => 403,
    AuthorizationServiceMismatch => 403,
    AuthorizationProtocolMismatch => 403,
    AuthorizationSourceIPMismatch => 403,
    ConditionHeadersNotSupported => 400,
    ConditionNotMet => 412,
    EmptyMetadataKey => 400,
    InsufficientAccountPermissions => 403,
    InternalError => 500,
    InvalidAuthenticationInfo => 400,
    InvalidHeaderValue => 400,
    InvalidHttpVerb => 400,
    InvalidInput => 400,
    InvalidMd5 => 400,
    InvalidMetadata => 400,
    InvalidQueryParameterValue => 400,
    InvalidRange => 416,
    InvalidResourceName => 400,
    InvalidUri => 400,
    InvalidXmlDocument => 400,
    InvalidXmlNodeValue => 400,
    Md5Mismatch => 400,
    MetadataTooLarge => 400,
    MissingContentLengthHeader => 411,
    MissingRequiredQueryParameter => 400,
    MissingRequiredHeader => 400,
    MissingRequiredXmlNode => 400,
    MultipleConditionHeadersNotSupported => 400,
    OperationTimedOut => 500,
    OutOfRangeInput => 400,
    OutOfRangeQueryParameterValue => 400,
    RequestBodyTooLarge => 413,
    RequestUrlFailedToParse => 400,
    ResourceNotFound => 404,
    ResourceAlreadyExists => 409,
    ResourceTypeMismatch => 409,
    ServerBusy => 503,
    UnsupportedHeader => 400,
    UnsupportedHttpVerb => 405,
    UnsupportedQueryParameter => 400,
    UnsupportedXmlNode => 400,
    NotImplemented => 501,
    // Blob service.
    BlobAlreadyExists => 409,
    BlobNotFound => 404,
    BlobTooLarge => 413,
    BlockCountExceedsLimit => 409,
    BlockListTooLong => 400,
    ContainerAlreadyExists => 409,
    ContainerBeingDeleted => 409,
    ContainerNotFound => 404,
    Crc64Mismatch => 400,
    CorsPreflightFailure => 403,
    InvalidBlobOrBlock => 400,
    InvalidBlobType => 409,
    InvalidBlockId => 400,
    InvalidBlockList => 400,
    InvalidTag => 400,
    UnsupportedRestVersion => 400,
    FeatureVersionMismatch => 409,
    // Leases, snapshots, versions and soft delete.
    LeaseAlreadyPresent => 409,
    LeaseIdMismatchWithBlobOperation => 412,
    LeaseIdMismatchWithContainerOperation => 412,
    LeaseIdMismatchWithLeaseOperation => 409,
    LeaseIdMissing => 412,
    LeaseIsBreakingAndCannotBeAcquired => 409,
    LeaseIsBreakingAndCannotBeChanged => 409,
    LeaseIsBrokenAndCannotBeRenewed => 409,
    LeaseLost => 412,
    LeaseNotPresentWithBlobOperation => 412,
    LeaseNotPresentWithContainerOperation => 412,
    LeaseNotPresentWithLeaseOperation => 409,
    SnapshotsPresent => 409,
    InvalidOperation => 400,
    // Append and page blobs.
    AppendPositionConditionNotMet => 412,
    BlobIsSealed => 409,
    InvalidPageRange => 416,
    MaxBlobSizeConditionNotMet => 412,
    SequenceNumberConditionNotMet => 412,
    SequenceNumberIncrementTooLarge => 409,
    // Tiers, copy, batch.
    BlobArchived => 409,
    BlobBeingRehydrated => 409,
    InvalidBlobTier => 400,
    CannotVerifyCopySource => 404,
    NoPendingCopyOperation => 409,
    CopyIdMismatch => 409,
    PendingCopyOperation => 409,
    InvalidSourceBlobUrl => 409,
    InvalidSourceBlobType => 400,
    CopyAcrossAccountsNotSupported => 400,
    IncrementalCopySourceMustBeSnapshot => 409,
    IncrementalCopyBlobMismatch => 409,
    // The service's code, misspelling included.
    IncrementalCopyOfEralierVersionSnapshotNotAllowed => 409,
    InvalidBatchRequest => 400,
    // DFS (ADLS Gen2), see `docs/rfcs/0001-hierarchical-namespace.md`.
    FilesystemNotFound => 404,
    FilesystemAlreadyExists => 409,
    PathNotFound => 404,
    PathAlreadyExists => 409,
    DirectoryNotEmpty => 409,
    SourcePathNotFound => 404,
    InvalidFlushPosition => 400,
    InvalidSourceUri => 400,
    PathConflict => 409,
    HierarchicalNamespaceNotEnabled => 409,
    InvalidAccessControlList => 400,
}

/// An error answered to a client: a code, a message, and optional extra detail elements
/// (e.g. `AuthenticationErrorDetail`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AzureError {
    pub code: ErrorCode,
    pub message: String,
    /// Extra XML elements after `<Message>` (name, value), e.g. `AuthenticationErrorDetail`.
    pub details: Vec<(&'static str, String)>,
    /// Overrides the code's status (a few codes answer with another status in some cases,
    /// e.g. `InvalidRange` on a ranged read answers 416 but `OutOfRangeInput` on a header 400).
    pub status: Option<u16>,
    /// Response headers the error carries besides `x-ms-error-code` (e.g. a 416's
    /// `Content-Range: bytes */<size>`).
    pub headers: Vec<(&'static str, String)>,
}

impl AzureError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        AzureError {
            code,
            message: message.into(),
            details: Vec::new(),
            status: None,
            headers: Vec::new(),
        }
    }
    pub fn with_detail(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.details.push((name, value.into()));
        self
    }
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
    pub fn status(&self) -> u16 {
        self.status.unwrap_or_else(|| self.code.status())
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InternalError, message)
    }
    pub fn header(name: &str, value: &str) -> Self {
        Self::new(
            ErrorCode::InvalidHeaderValue,
            "The value for one of the HTTP headers is not in the correct format.",
        )
        .with_detail("HeaderName", name)
        .with_detail("HeaderValue", value)
    }
    pub fn missing_header(name: &str) -> Self {
        Self::new(
            ErrorCode::MissingRequiredHeader,
            "An HTTP header that's mandatory for this request is not specified.",
        )
        .with_detail("HeaderName", name)
    }
    pub fn missing_query(name: &str) -> Self {
        Self::new(
            ErrorCode::MissingRequiredQueryParameter,
            "A query parameter that's mandatory for this request is not specified.",
        )
        .with_detail("QueryParameterName", name)
    }
    pub fn query(name: &str, value: &str, reason: &str) -> Self {
        Self::new(
            ErrorCode::InvalidQueryParameterValue,
            "Value for one of the query parameters specified in the request URI is invalid.",
        )
        .with_detail("QueryParameterName", name)
        .with_detail("QueryParameterValue", value)
        .with_detail("Reason", reason)
    }
}

impl fmt::Display for AzureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for AzureError {}
