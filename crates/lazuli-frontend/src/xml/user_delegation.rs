//! Get User Delegation Key: the `KeyInfo` request and the `UserDelegationKey` response.

use lazuli_types::AzureError;
use serde::{Deserialize, Serialize};

use super::reader::{missing_node, node_value_error, parse_iso8601, set_once, Pull, MAX_SMALL_DOCUMENT};
use super::writer::Xml;

/// The request body. Times are returned as sent (after checking they are ISO 8601), since
/// the client signs SAS tokens with the values the response echoes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyInfo {
    pub start: Option<String>,
    pub expiry: String,
    /// Version 2025-07-05 and later: the tenant of a delegated (cross-tenant) user.
    pub delegated_user_tid: Option<String>,
}

pub fn parse_key_info(body: &[u8]) -> Result<KeyInfo, AzureError> {
    let mut p = Pull::new(body, MAX_SMALL_DOCUMENT)?;
    p.root("KeyInfo")?;
    let (mut start, mut expiry, mut tid) = (None, None, None);
    while let Some(name) = p.next_child()? {
        match name.as_str() {
            "Start" => {
                let v = time_text(&mut p, &name)?;
                set_once(&p, &mut start, &name, v)?;
            }
            "Expiry" => {
                let v = time_text(&mut p, &name)?;
                set_once(&p, &mut expiry, &name, v)?;
            }
            "DelegatedUserTid" => {
                let v = p.text()?.trim().to_string();
                set_once(&p, &mut tid, &name, v)?;
            }
            _ => return Err(p.unsupported(&name)),
        }
    }
    p.finish()?;
    Ok(KeyInfo {
        start,
        expiry: expiry.ok_or_else(|| missing_node("Expiry"))?,
        delegated_user_tid: tid,
    })
}

fn time_text(p: &mut Pull<'_>, name: &str) -> Result<String, AzureError> {
    let text = p.text()?;
    let trimmed = text.trim();
    if parse_iso8601(trimmed).is_none() {
        return Err(node_value_error(name, &text));
    }
    Ok(trimmed.to_string())
}

/// The response body, in the service's element order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserDelegationKey {
    pub signed_oid: String,
    pub signed_tid: String,
    pub signed_start: String,
    pub signed_expiry: String,
    /// `b` for the Blob service.
    pub signed_service: String,
    pub signed_version: String,
    /// Echoed when the request had `DelegatedUserTid`.
    pub signed_delegated_user_tid: Option<String>,
    /// The base64 key.
    pub value: String,
}

pub fn write_user_delegation_key(key: &UserDelegationKey) -> Vec<u8> {
    let mut x = Xml::with_declaration();
    x.open("UserDelegationKey");
    x.elem("SignedOid", &key.signed_oid);
    x.elem("SignedTid", &key.signed_tid);
    x.elem("SignedStart", &key.signed_start);
    x.elem("SignedExpiry", &key.signed_expiry);
    x.elem("SignedService", &key.signed_service);
    x.elem("SignedVersion", &key.signed_version);
    x.elem_opt("SignedDelegatedUserTid", key.signed_delegated_user_tid.as_deref());
    x.elem("Value", &key.value);
    x.close("UserDelegationKey");
    x.buf
}

#[cfg(test)]
mod tests {
    use super::*;
    use lazuli_types::ErrorCode;

    #[test]
    fn key_info() {
        let info = parse_key_info(
            b"<?xml version=\"1.0\" encoding=\"utf-8\"?><KeyInfo><Start>2024-01-01T00:00:00Z</Start>\
              <Expiry>2024-01-02T00:00:00Z</Expiry></KeyInfo>",
        )
        .unwrap();
        assert_eq!(
            info,
            KeyInfo {
                start: Some("2024-01-01T00:00:00Z".into()),
                expiry: "2024-01-02T00:00:00Z".into(),
                delegated_user_tid: None
            }
        );
        let info = parse_key_info(
            b"<KeyInfo><Expiry>2024-01-02T00:00:00Z</Expiry><DelegatedUserTid>t</DelegatedUserTid></KeyInfo>",
        )
        .unwrap();
        assert_eq!(info.start, None);
        assert_eq!(info.delegated_user_tid.as_deref(), Some("t"));

        let code = |b: &str| parse_key_info(b.as_bytes()).unwrap_err().code;
        assert_eq!(
            code("<KeyInfo><Start>2024-01-01T00:00:00Z</Start></KeyInfo>"),
            ErrorCode::MissingRequiredXmlNode
        );
        assert_eq!(
            code("<KeyInfo><Expiry>soon</Expiry></KeyInfo>"),
            ErrorCode::InvalidXmlNodeValue
        );
        assert_eq!(
            code("<KeyInfo><Expiry>2024-01-02</Expiry><Oid/></KeyInfo>"),
            ErrorCode::UnsupportedXmlNode
        );
        assert_eq!(code("<Key/>"), ErrorCode::InvalidXmlDocument);
    }

    #[test]
    fn user_delegation_key_order() {
        let key = UserDelegationKey {
            signed_oid: "oid".into(),
            signed_tid: "tid".into(),
            signed_start: "2024-01-01T00:00:00Z".into(),
            signed_expiry: "2024-01-02T00:00:00Z".into(),
            signed_service: "b".into(),
            signed_version: "2025-11-05".into(),
            signed_delegated_user_tid: Some("dtid".into()),
            value: "a2V5".into(),
        };
        assert_eq!(
            String::from_utf8(write_user_delegation_key(&key)).unwrap(),
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><UserDelegationKey><SignedOid>oid</SignedOid>\
             <SignedTid>tid</SignedTid><SignedStart>2024-01-01T00:00:00Z</SignedStart>\
             <SignedExpiry>2024-01-02T00:00:00Z</SignedExpiry><SignedService>b</SignedService>\
             <SignedVersion>2025-11-05</SignedVersion><SignedDelegatedUserTid>dtid</SignedDelegatedUserTid>\
             <Value>a2V5</Value></UserDelegationKey>"
        );
    }
}
