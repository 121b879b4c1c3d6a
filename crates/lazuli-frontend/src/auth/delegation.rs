//! User delegation: bearer tokens (static test tokens, since no identity provider exists
//! here) and the user delegation key that signs a user delegation SAS.
//!
//! `LAZULI_TEST_BEARER_TOKENS=token1=oid1,token2=oid2` names the accepted tokens and the
//! object id (user) each stands for. A request with `Authorization: Bearer <token>` of that
//! list is authenticated as that user, with full access (as an account owner role would
//! give); any other bearer token is refused.
//!
//! The key is never stored: it is derived from the account key and the key's own signed
//! fields, `HMAC-SHA256(account key, "lazuli-user-delegation-key\n" oid \n tid \n start \n
//! expiry \n service \n version)`. A SAS carries those fields (`skoid`, `sktid`, `skt`,
//! `ske`, `sks`, `skv`), so the server derives the same key again to verify it, after a
//! restart included, and a key cannot be forged without the account key. Rotating the
//! account key revokes every key derived from it, as in the service.

use std::collections::HashMap;
use std::sync::OnceLock;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::util::version_at_least;

/// The tenant every emulated user belongs to.
pub const TENANT_ID: &str = "00000000-0000-0000-0000-00000000a2a2";

/// The configured test tokens: token → object id.
pub fn bearer_tokens() -> &'static HashMap<String, String> {
    static TOKENS: OnceLock<HashMap<String, String>> = OnceLock::new();
    TOKENS.get_or_init(|| {
        std::env::var("LAZULI_TEST_BEARER_TOKENS")
            .map(|v| parse_tokens(&v))
            .unwrap_or_default()
    })
}

fn parse_tokens(text: &str) -> HashMap<String, String> {
    text.split(',')
        .filter_map(|pair| pair.split_once('='))
        .map(|(token, oid)| (token.trim().to_string(), oid.trim().to_string()))
        .filter(|(token, oid)| !token.is_empty() && !oid.is_empty())
        .collect()
}

/// The fields a user delegation key is made of (and that a SAS carries).
pub struct KeyFields<'a> {
    pub oid: &'a str,
    pub tid: &'a str,
    pub start: &'a str,
    pub expiry: &'a str,
    pub service: &'a str,
    pub version: &'a str,
}

pub fn derive_key(account_key: &[u8], f: &KeyFields) -> Vec<u8> {
    let material = format!(
        "lazuli-user-delegation-key\n{}\n{}\n{}\n{}\n{}\n{}",
        f.oid, f.tid, f.start, f.expiry, f.service, f.version
    );
    match Hmac::<Sha256>::new_from_slice(account_key) {
        Ok(mut mac) => {
            mac.update(material.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        // HMAC takes keys of any length; an empty key matches no signature.
        Err(_) => Vec::new(),
    }
}

/// The user delegation SAS fields beyond those of a service SAS.
pub struct UdFields<'a> {
    pub key: KeyFields<'a>,
    pub saoid: &'a str,
    pub suoid: &'a str,
    pub scid: &'a str,
    pub skdutid: &'a str,
    pub sduoid: &'a str,
    pub srh: &'a str,
    pub srq: &'a str,
}

/// The user delegation SAS string-to-sign for version `sv` (the service's layouts):
/// `sp st se canonicalizedResource skoid sktid skt ske sks skv`, then `saoid suoid scid`
/// (2020-02-10+), `skdutid sduoid` (2025-07-05+), `sip spr sv sr snapshotTime`, `ses`
/// (2020-12-06+), `srh srq` (2026-04-06+), `rscc rscd rsce rscl rsct`.
#[allow(clippy::too_many_arguments)]
pub fn string_to_sign(
    sp: &str,
    st: &str,
    se: &str,
    canonical: &str,
    ud: &UdFields,
    sip: &str,
    spr: &str,
    sv: &str,
    sr: &str,
    snapshot: &str,
    ses: &str,
    rsc: [&str; 5],
) -> String {
    let k = &ud.key;
    let mut parts: Vec<&str> = vec![
        sp, st, se, canonical, k.oid, k.tid, k.start, k.expiry, k.service, k.version,
    ];
    if version_at_least(sv, "2020-02-10") {
        parts.extend([ud.saoid, ud.suoid, ud.scid]);
    }
    if version_at_least(sv, "2025-07-05") {
        parts.extend([ud.skdutid, ud.sduoid]);
    }
    parts.extend([sip, spr, sv, sr, snapshot]);
    if version_at_least(sv, "2020-12-06") {
        parts.push(ses);
    }
    if version_at_least(sv, "2026-04-06") {
        parts.extend([ud.srh, ud.srq]);
    }
    parts.extend(rsc);
    parts.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_keys() {
        let tokens = parse_tokens("t1=oid1, t2 = oid2,bad,=x");
        assert_eq!(tokens.len(), 2);
        assert_eq!(tokens["t2"], "oid2");
        let f = KeyFields {
            oid: "o",
            tid: TENANT_ID,
            start: "2026-01-01T00:00:00Z",
            expiry: "2026-01-02T00:00:00Z",
            service: "b",
            version: "2026-02-06",
        };
        let a = derive_key(b"key", &f);
        assert_eq!(a, derive_key(b"key", &f));
        assert_ne!(a, derive_key(b"other", &f));
        assert_ne!(a, derive_key(b"key", &KeyFields { oid: "p", ..f }));
    }
}
