//! The front-end: one hyper service that parses a request into an operation, authenticates
//! it, runs it against the partition layer and renders the reply or the Azure error.

pub mod auth;
mod body;
mod cors;
mod dfs_json;
mod handlers;
pub mod header_case;
mod http_util;
pub mod metrics;
pub mod router;
pub mod server;
pub mod service;
pub mod structured;
mod tag_expr;
pub mod xml;

pub use handlers::copy_tls_connector;
pub use service::{Account, Frontend, FrontendConfig, SERVICE_VERSION};
