//! The front-end: one hyper service that parses a request into an operation, authenticates
//! it, runs it against the partition layer and renders the reply or the Azure error.

pub mod auth;
pub mod xml;
