//! The object tables.
