//! Every XML request parser (`parse_block_list`, `parse_service_properties`,
//! `parse_signed_identifiers`, `parse_tags`, `parse_key_info`) on arbitrary bytes answers `Ok` or a
//! 4xx Azure error, never a panic. Documents that parse are written back and must parse again to
//! the same value (block lists and tags), so the writers cannot emit what the parsers refuse.

#![no_main]

use lazuli_frontend::xml::{
    parse_block_list, parse_key_info, parse_service_properties, parse_signed_identifiers, parse_tags, validate_tags,
    write_tags,
};
use libfuzzer_sys::fuzz_target;

fn check<T>(what: &str, result: Result<T, lazuli_types::AzureError>) -> Option<T> {
    match result {
        Ok(v) => Some(v),
        Err(e) => {
            assert!(
                (400..500).contains(&e.status()),
                "{what} answered {} {:?}",
                e.status(),
                e.code
            );
            None
        }
    }
}

fuzz_target!(|body: &[u8]| {
    let _ = check("parse_block_list", parse_block_list(body));
    let _ = check("parse_service_properties", parse_service_properties(body));
    let _ = check("parse_signed_identifiers", parse_signed_identifiers(body));
    let _ = check("parse_key_info", parse_key_info(body));
    if let Some(tags) = check("parse_tags", parse_tags(body)) {
        if validate_tags(&tags).is_ok() {
            let again = parse_tags(&write_tags(&tags));
            assert_eq!(again.as_ref().ok(), Some(&tags), "tags do not survive write and parse");
        }
    }
});
