//! Set/Get Container ACL: stored access policies (`SignedIdentifiers`).

use lazuli_types::AzureError;
use serde::{Deserialize, Serialize};

use super::reader::{missing_node, node_value_error, parse_iso8601, set_once, Pull, MAX_SMALL_DOCUMENT};
use super::writer::{iso8601_7, Xml};

/// A container holds at most five stored access policies.
pub const MAX_SIGNED_IDENTIFIERS: usize = 5;
/// A policy id is at most 64 characters.
pub const MAX_SIGNED_IDENTIFIER_ID: usize = 64;

/// One stored access policy. `start` and `expiry` are kept in the service's normalised
/// form (`2017-12-31T11:22:33.4560000Z`), which is what Get Container ACL returns.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedIdentifier {
    pub id: String,
    pub start: Option<String>,
    pub expiry: Option<String>,
    pub permission: Option<String>,
}

/// Parses a Set Container ACL body. An empty body (or a document with no root) is an
/// empty list: the SDKs clear the policies that way.
pub fn parse_signed_identifiers(body: &[u8]) -> Result<Vec<SignedIdentifier>, AzureError> {
    let mut p = Pull::new(body, MAX_SMALL_DOCUMENT)?;
    if p.is_blank() || !p.root_or_empty("SignedIdentifiers")? {
        return Ok(Vec::new());
    }
    let mut list = Vec::new();
    while let Some(name) = p.next_child()? {
        if name != "SignedIdentifier" {
            return Err(p.unsupported(&name));
        }
        if list.len() == MAX_SIGNED_IDENTIFIERS {
            return Err(p.error(format!(
                "No more than {MAX_SIGNED_IDENTIFIERS} signed identifiers are allowed."
            )));
        }
        list.push(parse_identifier(&mut p)?);
    }
    p.finish()?;
    Ok(list)
}

fn parse_identifier(p: &mut Pull<'_>) -> Result<SignedIdentifier, AzureError> {
    let mut id = None;
    let mut policy = None;
    while let Some(name) = p.next_child()? {
        match name.as_str() {
            "Id" => {
                let v = p.text()?;
                let len = v.chars().count();
                if len == 0 || len > MAX_SIGNED_IDENTIFIER_ID {
                    return Err(p.error(format!(
                        "A signed identifier must be 1 to {MAX_SIGNED_IDENTIFIER_ID} characters long."
                    )));
                }
                set_once(p, &mut id, &name, v)?;
            }
            "AccessPolicy" => {
                let v = parse_policy(p)?;
                set_once(p, &mut policy, &name, v)?;
            }
            _ => return Err(p.unsupported(&name)),
        }
    }
    let (start, expiry, permission) = policy.unwrap_or_default();
    Ok(SignedIdentifier {
        id: id.ok_or_else(|| missing_node("Id"))?,
        start,
        expiry,
        permission,
    })
}

type Policy = (Option<String>, Option<String>, Option<String>);

fn parse_policy(p: &mut Pull<'_>) -> Result<Policy, AzureError> {
    let (mut start, mut expiry, mut permission) = (None, None, None);
    while let Some(name) = p.next_child()? {
        match name.as_str() {
            "Start" => {
                let v = date(&p.text()?, &name)?;
                set_once(p, &mut start, &name, v)?;
            }
            "Expiry" => {
                let v = date(&p.text()?, &name)?;
                set_once(p, &mut expiry, &name, v)?;
            }
            "Permission" => {
                let v = p.text()?;
                set_once(p, &mut permission, &name, v.trim().to_string())?;
            }
            _ => return Err(p.unsupported(&name)),
        }
    }
    // An empty `<Start/>` was stored as `Some(None)`: not set.
    Ok((start.flatten(), expiry.flatten(), permission))
}

/// An empty `<Start/>` means "not set", as the SDKs send it for an unset time.
fn date(text: &str, name: &str) -> Result<Option<String>, AzureError> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    parse_iso8601(text)
        .map(|t| Some(iso8601_7(t)))
        .ok_or_else(|| node_value_error(name, text))
}

/// Get Container ACL response body.
pub fn write_signed_identifiers(list: &[SignedIdentifier]) -> Vec<u8> {
    let mut x = Xml::with_declaration();
    if list.is_empty() {
        x.empty("SignedIdentifiers");
        return x.buf;
    }
    x.open("SignedIdentifiers");
    for si in list {
        x.open("SignedIdentifier");
        x.elem("Id", &si.id);
        if si.start.is_none() && si.expiry.is_none() && si.permission.is_none() {
            x.empty("AccessPolicy");
        } else {
            x.open("AccessPolicy");
            x.elem_opt("Start", si.start.as_deref());
            x.elem_opt("Expiry", si.expiry.as_deref());
            x.elem_opt("Permission", si.permission.as_deref());
            x.close("AccessPolicy");
        }
        x.close("SignedIdentifier");
    }
    x.close("SignedIdentifiers");
    x.buf
}

#[cfg(test)]
mod tests {
    use super::*;
    use lazuli_types::ErrorCode;

    fn si(id: &str) -> SignedIdentifier {
        SignedIdentifier {
            id: id.into(),
            start: Some("2017-12-31T11:22:33.4560000Z".into()),
            expiry: Some("2018-12-31T11:22:33.4560000Z".into()),
            permission: Some("rwd".into()),
        }
    }

    #[test]
    fn parse_sdk_body_and_normalise_times() {
        let body = br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><SignedIdentifiers><SignedIdentifier><Id>MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI=</Id><AccessPolicy><Start>2017-12-31T11:22:33.456Z</Start><Expiry>2018-12-31T11:22:33Z</Expiry><Permission>rwd</Permission></AccessPolicy></SignedIdentifier><SignedIdentifier><Id>empty</Id><AccessPolicy/></SignedIdentifier><SignedIdentifier><Id>bare</Id></SignedIdentifier></SignedIdentifiers>"#;
        let list = parse_signed_identifiers(body).unwrap();
        assert_eq!(list.len(), 3);
        assert_eq!(list[0].start.as_deref(), Some("2017-12-31T11:22:33.4560000Z"));
        assert_eq!(list[0].expiry.as_deref(), Some("2018-12-31T11:22:33.0000000Z"));
        assert_eq!(list[0].permission.as_deref(), Some("rwd"));
        assert_eq!(
            list[1],
            SignedIdentifier {
                id: "empty".into(),
                ..Default::default()
            }
        );
        assert_eq!(
            list[2],
            SignedIdentifier {
                id: "bare".into(),
                ..Default::default()
            }
        );
    }

    #[test]
    fn empty_bodies_are_empty_lists() {
        for body in [
            &b""[..],
            b"  \n",
            b"<?xml version=\"1.0\"?>",
            b"<SignedIdentifiers/>",
            b"<SignedIdentifiers />",
        ] {
            assert!(parse_signed_identifiers(body).unwrap().is_empty());
        }
    }

    #[test]
    fn writer_and_round_trip() {
        let list = vec![
            si("id-1"),
            SignedIdentifier {
                id: "a<&>\"'".into(),
                ..Default::default()
            },
        ];
        let xml = String::from_utf8(write_signed_identifiers(&list)).unwrap();
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><SignedIdentifiers><SignedIdentifier><Id>id-1</Id>\
             <AccessPolicy><Start>2017-12-31T11:22:33.4560000Z</Start><Expiry>2018-12-31T11:22:33.4560000Z</Expiry>\
             <Permission>rwd</Permission></AccessPolicy></SignedIdentifier><SignedIdentifier>\
             <Id>a&lt;&amp;&gt;\"'</Id><AccessPolicy /></SignedIdentifier></SignedIdentifiers>"
        );
        assert_eq!(parse_signed_identifiers(xml.as_bytes()).unwrap(), list);
        assert_eq!(
            String::from_utf8(write_signed_identifiers(&[])).unwrap(),
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><SignedIdentifiers />"
        );
    }

    #[test]
    fn limits_and_errors() {
        let one = "<SignedIdentifier><Id>x</Id></SignedIdentifier>";
        let five = format!("<SignedIdentifiers>{}</SignedIdentifiers>", one.repeat(5));
        assert_eq!(parse_signed_identifiers(five.as_bytes()).unwrap().len(), 5);
        let six = format!("<SignedIdentifiers>{}</SignedIdentifiers>", one.repeat(6));
        assert_eq!(
            parse_signed_identifiers(six.as_bytes()).unwrap_err().code,
            ErrorCode::InvalidXmlDocument
        );

        let code = |b: &str| parse_signed_identifiers(b.as_bytes()).unwrap_err().code;
        let id64 = "a".repeat(64);
        let ok = format!("<SignedIdentifiers><SignedIdentifier><Id>{id64}</Id></SignedIdentifier></SignedIdentifiers>");
        assert!(parse_signed_identifiers(ok.as_bytes()).is_ok());
        let long = ok.replace(&id64, &"a".repeat(65));
        assert_eq!(code(&long), ErrorCode::InvalidXmlDocument);
        assert_eq!(
            code("<SignedIdentifiers><SignedIdentifier><Id></Id></SignedIdentifier></SignedIdentifiers>"),
            ErrorCode::InvalidXmlDocument
        );
        assert_eq!(
            code("<SignedIdentifiers><SignedIdentifier><AccessPolicy/></SignedIdentifier></SignedIdentifiers>"),
            ErrorCode::MissingRequiredXmlNode
        );
        assert_eq!(
            code("<SignedIdentifiers><SignedIdentifier><Id>x</Id><AccessPolicy><Start>tomorrow</Start></AccessPolicy></SignedIdentifier></SignedIdentifiers>"),
            ErrorCode::InvalidXmlNodeValue
        );
        assert_eq!(
            code("<SignedIdentifiers><Policy/></SignedIdentifiers>"),
            ErrorCode::UnsupportedXmlNode
        );
        assert_eq!(code("<Identifiers/>"), ErrorCode::InvalidXmlDocument);
        assert_eq!(code("<SignedIdentifiers>"), ErrorCode::InvalidXmlDocument);
    }
}
