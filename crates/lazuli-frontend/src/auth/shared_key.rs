//! Shared Key and Shared Key Lite (`Authorization: SharedKey[Lite] account:signature`).
//!
//! Clients disagree on a few details of the string-to-sign, so the server builds every
//! plausible variant and accepts a signature over any of them (each variant is still an HMAC
//! with the account key over the whole request, so accepting several forges nothing):
//! - canonicalized header order: ordinal (older SDKs, Azurite) or the .NET culture-aware order
//!   the service uses and newer SDKs imitate (see [`culture_cmp`]);
//! - header values with internal whitespace runs folded to one space (the documented rule) or
//!   left as sent (SDKs that do not fold);
//! - `Date` line empty when `x-ms-date` is present (documented) or holding the `Date` value;
//! - `Content-Length: 0` signed as empty (2015-02-21+) or as `0` (older versions);
//! - `Content-Encoding`/`Content-Language` in documented order or swapped (the JS SDK signs
//!   Language before Encoding);
//! - a literal '+' in the query decoded as a space (the service) or kept (some SDKs).
//!
//! The error detail quotes the documented variant, as the service does.

use std::cmp::Ordering;

use lazuli_types::AzureError;
use time::Duration;

use super::util::{self, PlusMode};
use super::{AccountKeys, RequestInfo};

/// The service refuses requests whose date is older than this (replay protection).
const MAX_DATE_AGE: Duration = Duration::minutes(15);

/// Caps the number of string-to-sign variants tried, whatever the request looks like.
const MAX_CANDIDATES: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scheme {
    SharedKey,
    SharedKeyLite,
}

pub(crate) fn authenticate(
    req: &RequestInfo,
    account: &AccountKeys,
    header: &http::HeaderValue,
) -> Result<(), AzureError> {
    let value = header
        .to_str()
        .map_err(|_| util::invalid_auth_info("The Authorization header is not valid ASCII."))?
        .trim();
    let (scheme_text, params) = value.split_once([' ', '\t']).unwrap_or((value, ""));
    // The service parses the scheme case-insensitively.
    let scheme = if scheme_text.eq_ignore_ascii_case("SharedKey") {
        Scheme::SharedKey
    } else if scheme_text.eq_ignore_ascii_case("SharedKeyLite") {
        Scheme::SharedKeyLite
    } else if scheme_text.eq_ignore_ascii_case("Bearer") {
        // A real scheme of the service (OAuth); not implemented here yet.
        return Err(util::auth_failed("Authentication scheme Bearer is not supported."));
    } else {
        // The service answers 400 InvalidAuthenticationInfo to schemes it does not know
        // (e.g. `Basic` forwarded by a redirect-following client).
        return Err(util::invalid_auth_info(format!(
            "Authentication scheme {scheme_text} is not supported."
        )));
    };

    // `account:signature`; like the service, empty pieces between colons are dropped and
    // exactly two must remain.
    let pieces: Vec<&str> = params.trim().split(':').filter(|p| !p.is_empty()).collect();
    let [claimed_account, signature] = pieces[..] else {
        return Err(util::invalid_auth_info(format!(
            "Authorization value '{value}' is invalid."
        )));
    };

    check_date(req)?;

    if claimed_account != account.name {
        return Err(util::auth_failed(format!(
            "Cannot find the claimed account when trying to GetProperties for the account {claimed_account}."
        )));
    }
    let Some(sig_bytes) = util::decode_base64(signature) else {
        return Err(util::invalid_auth_info("Signature is not a valid base64 string."));
    };

    let candidates = string_to_sign_candidates(req, &account.name, scheme);
    if util::verify_any(&account.keys, &candidates, &sig_bytes) {
        return Ok(());
    }
    let documented = candidates.first().cloned().unwrap_or_default();
    Err(util::auth_failed(format!(
        "The MAC signature found in the HTTP request '{signature}' is not the same as any computed signature. Server used following string to sign: '{documented}'."
    )))
}

/// `x-ms-date` (or `Date`) must be present, parse, and be at most 15 minutes old.
fn check_date(req: &RequestInfo) -> Result<(), AzureError> {
    let raw = header_str(req, "x-ms-date").or_else(|| header_str(req, "date"));
    let Some(raw) = raw else {
        return Err(util::auth_failed("Request date header not specified"));
    };
    let Some(date) = util::parse_http_date(&raw) else {
        return Err(util::auth_failed("The Date header in the request is incorrect."));
    };
    if date < req.now - MAX_DATE_AGE {
        return Err(util::auth_failed(format!(
            "Request date header too old: '{}'",
            util::rfc1123(date)
        )));
    }
    Ok(())
}

/// A header's value as text (several occurrences joined with ','), or None when absent.
fn header_str(req: &RequestInfo, name: &str) -> Option<String> {
    let mut values = req.headers.get_all(name).iter().peekable();
    values.peek()?;
    let joined: Vec<String> = values
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    Some(joined.join(","))
}

/// Every string-to-sign variant for the request, the documented one first, without duplicates.
pub(crate) fn string_to_sign_candidates(req: &RequestInfo, account: &str, scheme: Scheme) -> Vec<String> {
    let verb = req.method.as_str().to_ascii_uppercase();
    let get = |name: &str| header_str(req, name).unwrap_or_default();

    // Date line: empty when x-ms-date is present (documented), else the Date value.
    let date = get("date");
    let mut date_variants = vec![];
    if req.headers.contains_key("x-ms-date") {
        date_variants.push(String::new());
    }
    date_variants.push(date);
    dedup(&mut date_variants);

    let headers_variants = canonicalized_headers_variants(req);

    let resource_variants: Vec<String> = match scheme {
        Scheme::SharedKey => {
            let mut v = vec![canonicalized_resource(req, account, PlusMode::Space)];
            if req.raw_query.is_some_and(|q| q.contains('+')) {
                v.push(canonicalized_resource(req, account, PlusMode::Literal));
            }
            v
        }
        Scheme::SharedKeyLite => vec![lite_canonicalized_resource(req, account)],
    };

    let mut out = Vec::new();
    match scheme {
        Scheme::SharedKey => {
            let content_length = get("content-length");
            let mut length_variants = vec![];
            if content_length.trim() == "0" {
                length_variants.push(String::new());
                // Before 2015-02-21 a zero length was signed as "0".
                let version = get("x-ms-version");
                if version.is_empty() || !util::version_at_least(&version, "2015-02-21") {
                    length_variants.push("0".to_string());
                }
            } else {
                length_variants.push(content_length);
            }
            let encoding = get("content-encoding");
            let language = get("content-language");
            let mut enc_lang = vec![(encoding.clone(), language.clone())];
            if encoding != language {
                enc_lang.push((language, encoding));
            }
            let tail = [
                get("content-md5"),
                get("content-type"),
                // date goes here
                get("if-modified-since"),
                get("if-match"),
                get("if-none-match"),
                get("if-unmodified-since"),
                get("range"),
            ];
            'outer: for resource in &resource_variants {
                for headers in &headers_variants {
                    for date in &date_variants {
                        for length in &length_variants {
                            for (first, second) in &enc_lang {
                                let sts = format!(
                                    "{verb}\n{first}\n{second}\n{length}\n{}\n{}\n{date}\n{}\n{}\n{}\n{}\n{}\n{headers}{resource}",
                                    tail[0], tail[1], tail[2], tail[3], tail[4], tail[5], tail[6]
                                );
                                push_unique(&mut out, sts);
                                if out.len() >= MAX_CANDIDATES {
                                    break 'outer;
                                }
                            }
                        }
                    }
                }
            }
        }
        Scheme::SharedKeyLite => {
            let md5 = get("content-md5");
            let content_type = get("content-type");
            'outer_lite: for resource in &resource_variants {
                for headers in &headers_variants {
                    for date in &date_variants {
                        push_unique(
                            &mut out,
                            format!("{verb}\n{md5}\n{content_type}\n{date}\n{headers}{resource}"),
                        );
                        if out.len() >= MAX_CANDIDATES {
                            break 'outer_lite;
                        }
                    }
                }
            }
        }
    }
    out
}

fn push_unique(out: &mut Vec<String>, s: String) {
    if !out.contains(&s) {
        out.push(s);
    }
}

fn dedup(v: &mut Vec<String>) {
    let mut seen: Vec<String> = Vec::with_capacity(v.len());
    v.retain(|s| {
        if seen.contains(s) {
            false
        } else {
            seen.push(s.clone());
            true
        }
    });
}

/// CanonicalizedHeaders variants: (culture-aware order, ordinal order) × (folded, raw values),
/// the documented form (culture order, folded) first.
fn canonicalized_headers_variants(req: &RequestInfo) -> Vec<String> {
    // Collect x-ms-* headers by lowercase name (HeaderMap names are already lowercase), one
    // entry per name with repeated values joined by ','.
    let mut entries: Vec<(String, String)> = Vec::new();
    for name in req.headers.keys() {
        let name = name.as_str();
        if !name.starts_with("x-ms-") {
            continue;
        }
        if let Some(value) = header_str(req, name) {
            entries.push((name.to_string(), value));
        }
    }
    let mut culture = entries.clone();
    culture.sort_by(|a, b| culture_cmp(&a.0, &b.0));
    let mut ordinal = entries;
    ordinal.sort_by(|a, b| a.0.cmp(&b.0));

    let render = |list: &[(String, String)], fold: bool| -> String {
        let mut s = String::new();
        for (name, value) in list {
            s.push_str(name);
            s.push(':');
            if fold {
                s.push_str(&fold_whitespace(value));
            } else {
                s.push_str(value.trim());
            }
            s.push('\n');
        }
        s
    };
    let mut variants = vec![
        render(&culture, true),
        render(&ordinal, true),
        render(&culture, false),
        render(&ordinal, false),
    ];
    dedup(&mut variants);
    variants
}

/// Trims and replaces each run of whitespace (including folded line breaks) with one space.
fn fold_whitespace(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `/account` + raw path, then `\nname:v1,v2` per query parameter, names lowercased and sorted,
/// values decoded and sorted.
fn canonicalized_resource(req: &RequestInfo, account: &str, plus: PlusMode) -> String {
    let path = if req.raw_path.is_empty() { "/" } else { req.raw_path };
    let mut out = format!("/{account}{path}");
    let mut params: Vec<(String, Vec<std::borrow::Cow<'_, str>>)> = Vec::new();
    for (name, value) in util::parse_query(req.raw_query.unwrap_or(""), plus) {
        let name = name.to_lowercase();
        match params.iter_mut().find(|(n, _)| *n == name) {
            Some((_, values)) => values.push(value),
            None => params.push((name, vec![value])),
        }
    }
    params.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, mut values) in params {
        values.sort();
        out.push('\n');
        out.push_str(&name);
        out.push(':');
        out.push_str(&values.join(","));
    }
    out
}

/// The legacy (Shared Key Lite) resource: `/account` + raw path + `?comp=value` if present.
fn lite_canonicalized_resource(req: &RequestInfo, account: &str) -> String {
    let path = if req.raw_path.is_empty() { "/" } else { req.raw_path };
    let mut out = format!("/{account}{path}");
    let query = util::parse_query(req.raw_query.unwrap_or(""), PlusMode::Space);
    if let Some(comp) = util::query_get(&query, "comp") {
        out.push_str("?comp=");
        out.push_str(&comp);
    }
    out
}

/// Primary (first-level) sort weight of an ASCII character in the .NET en-US culture order,
/// or None for characters that are ignored at that level (hyphen, apostrophe). Only the
/// relative order matters: symbols, then digits, then letters (case-insensitive).
fn primary_weight(c: char) -> Option<u32> {
    let w = match c {
        '\'' | '-' => return None,
        '!' => 1,
        '"' => 2,
        '#' => 3,
        '$' => 4,
        '%' => 5,
        '&' => 6,
        '(' => 7,
        ')' => 8,
        '*' => 9,
        ',' => 10,
        '.' => 11,
        '/' => 12,
        ':' => 13,
        ';' => 14,
        '?' => 15,
        '@' => 16,
        '[' => 17,
        '\\' => 18,
        ']' => 19,
        '^' => 20,
        '_' => 21,
        '`' => 22,
        '{' => 23,
        '|' => 24,
        '}' => 25,
        '~' => 26,
        '+' => 40,
        '<' => 41,
        '=' => 42,
        '>' => 43,
        '0'..='9' => 100 + (c as u32 - '0' as u32),
        'a'..='z' => 200 + (c as u32 - 'a' as u32),
        'A'..='Z' => 200 + (c as u32 - 'A' as u32),
        // Anything else (not valid in a header name) sorts after, by code point.
        other => 1000 + other as u32,
    };
    Some(w)
}

/// Weight of an ignorable character at the last level: apostrophe before hyphen.
fn special_weight(c: char) -> u32 {
    if c == '\'' {
        1
    } else {
        2
    }
}

/// Compares header names the way the service's .NET culture-aware (en-US) comparison does for
/// ASCII: first by the sequence of primary weights with hyphens and apostrophes ignored
/// (`x-ms-meta-a_b < x-ms-meta-aa < x-ms-meta-ab < x-ms-meta-a-c`); on a tie, by where the
/// ignored characters are: at the first position where one name has an ignorable and the
/// other does not, the one with the ignorable sorts after (and apostrophe before hyphen).
pub(crate) fn culture_cmp(a: &str, b: &str) -> Ordering {
    let pa = a.chars().filter_map(primary_weight);
    let pb = b.chars().filter_map(primary_weight);
    match pa.cmp(pb) {
        Ordering::Equal => {}
        other => return other,
    }
    // Tie-break on the positions of the ignorable characters.
    let ca: Vec<char> = a.chars().collect();
    let cb: Vec<char> = b.chars().collect();
    let ignorable = |c: char| primary_weight(c).is_none();
    let mut i = 0;
    loop {
        match (ca.get(i), cb.get(i)) {
            (None, None) => return a.cmp(b),
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(&x), Some(&y)) => match (ignorable(x), ignorable(y)) {
                (false, false) => {}
                (true, false) => return Ordering::Greater,
                (false, true) => return Ordering::Less,
                (true, true) => match special_weight(x).cmp(&special_weight(y)) {
                    Ordering::Equal => {}
                    other => return other,
                },
            },
        }
        i += 1;
    }
}
