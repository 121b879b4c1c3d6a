//! Vocabulary shared by every layer: Azure error codes, resource names and their validation,
//! ETags, byte ranges, checksums (CRC-64/NVME, MD5) and timestamps. No I/O.

pub mod acl;
pub mod checksum;
pub mod conditions;
pub mod error;
pub mod names;
pub mod range;
pub mod tag_expr;
pub mod time_fmt;

pub use error::{AzureError, ErrorCode};
