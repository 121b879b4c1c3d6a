//! POSIX access control lists of the hierarchical namespace, in the DFS wire form:
//! `[default:]user|group|mask|other:[qualifier]:rwx`, entries separated by `,`
//! (`user::rwx,user:alice:r-x,group::r--,mask::r-x,other::---,default:user::rwx`).
//! Removal lists (Set Access Control Recursive, `mode=remove`) name entries without their
//! permissions (`user:alice,default:mask`).

use crate::{AzureError, ErrorCode};

/// The service's limit on entries in one ACL (access and default counted apart).
pub const ACL_ENTRIES_MAX: usize = 32;
/// A qualifier is an object id, a user principal name or a group name.
const QUALIFIER_BYTES_MAX: usize = 256;

pub const READ: u8 = 4;
pub const WRITE: u8 = 2;
pub const EXECUTE: u8 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tag {
    User,
    Group,
    Mask,
    Other,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AclEntry {
    pub default: bool,
    pub tag: Tag,
    /// Empty for the owner (`user::`), the owning group (`group::`), `mask` and `other`.
    pub qualifier: String,
    /// `READ | WRITE | EXECUTE`.
    pub perms: u8,
}

impl AclEntry {
    /// The identity of the entry (what `mode=remove` names and what must not repeat).
    pub fn key(&self) -> (bool, Tag, &str) {
        (self.default, self.tag, &self.qualifier)
    }
}

pub fn invalid_acl(detail: &str) -> AzureError {
    AzureError::new(
        ErrorCode::InvalidAccessControlList,
        format!("The access control list value is invalid. {detail}"),
    )
}

/// `rwx` / `r-x` / … as bits.
pub fn parse_perms(text: &str) -> Option<u8> {
    let bytes = text.as_bytes();
    if bytes.len() != 3 {
        return None;
    }
    let mut perms = 0;
    for (&b, (letter, bit)) in bytes.iter().zip([(b'r', READ), (b'w', WRITE), (b'x', EXECUTE)]) {
        match b {
            b'-' => {}
            b if b == letter => perms |= bit,
            _ => return None,
        }
    }
    Some(perms)
}

pub fn format_perms(perms: u8) -> String {
    [(READ, 'r'), (WRITE, 'w'), (EXECUTE, 'x')]
        .iter()
        .map(|&(bit, c)| if perms & bit != 0 { c } else { '-' })
        .collect()
}

/// (default, tag, qualifier, rest) of one entry's text.
fn split_entry(text: &str) -> Result<(bool, Tag, &str, Option<&str>), AzureError> {
    let text = text.trim();
    let (default, rest) = match text.strip_prefix("default:") {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let mut parts = rest.splitn(3, ':');
    let tag = match parts.next() {
        Some("user") => Tag::User,
        Some("group") => Tag::Group,
        Some("mask") => Tag::Mask,
        Some("other") => Tag::Other,
        _ => return Err(invalid_acl(&format!("The entry {text:?} has no valid type."))),
    };
    let qualifier = parts.next().unwrap_or("");
    let perms = parts.next();
    if matches!(tag, Tag::Mask | Tag::Other) && !qualifier.is_empty() {
        return Err(invalid_acl(&format!("The entry {text:?} cannot name a user or group.")));
    }
    if qualifier.len() > QUALIFIER_BYTES_MAX || qualifier.chars().any(|c| c.is_control() || c == ' ') {
        return Err(invalid_acl(&format!("The entry {text:?} has an invalid qualifier.")));
    }
    Ok((default, tag, qualifier, perms))
}

fn check_counts_and_duplicates<'a>(keys: impl Iterator<Item = (bool, Tag, &'a str)>) -> Result<(), AzureError> {
    let mut seen = std::collections::HashSet::new();
    let (mut access, mut default) = (0, 0);
    for key in keys {
        if !seen.insert(key) {
            return Err(invalid_acl("An entry appears twice."));
        }
        if key.0 {
            default += 1;
        } else {
            access += 1;
        }
    }
    if access > ACL_ENTRIES_MAX || default > ACL_ENTRIES_MAX {
        return Err(invalid_acl("The list has more than 32 entries."));
    }
    Ok(())
}

/// A full ACL (every entry with its permissions), in canonical order.
pub fn parse(text: &str) -> Result<Vec<AclEntry>, AzureError> {
    if text.trim().is_empty() {
        return Err(invalid_acl("The list is empty."));
    }
    let mut entries = Vec::new();
    for item in text.split(',') {
        let (default, tag, qualifier, perms) = split_entry(item)?;
        let perms = perms
            .and_then(parse_perms)
            .ok_or_else(|| invalid_acl(&format!("The entry {:?} has invalid permissions.", item.trim())))?;
        entries.push(AclEntry {
            default,
            tag,
            qualifier: qualifier.to_string(),
            perms,
        });
    }
    check_counts_and_duplicates(entries.iter().map(AclEntry::key))?;
    sort(&mut entries);
    Ok(entries)
}

/// A removal list: entries named without permissions. The owner, owning group and other
/// entries of the access ACL cannot be removed.
pub fn parse_removal(text: &str) -> Result<Vec<(bool, Tag, String)>, AzureError> {
    if text.trim().is_empty() {
        return Err(invalid_acl("The list is empty."));
    }
    let mut keys = Vec::new();
    for item in text.split(',') {
        let (default, tag, qualifier, perms) = split_entry(item)?;
        if perms.is_some() {
            return Err(invalid_acl(&format!("The entry {:?} names permissions.", item.trim())));
        }
        if !default && tag != Tag::Mask && qualifier.is_empty() {
            return Err(invalid_acl("The base entries of the access ACL cannot be removed."));
        }
        keys.push((default, tag, qualifier.to_string()));
    }
    check_counts_and_duplicates(keys.iter().map(|(d, t, q)| (*d, *t, q.as_str())))?;
    Ok(keys)
}

/// Access entries first, then default ones; in each: owner, named users, owning group, named
/// groups, mask, other.
pub fn sort(entries: &mut [AclEntry]) {
    entries.sort_by(|a, b| {
        let rank = |e: &AclEntry| (e.default, e.tag, !e.qualifier.is_empty());
        rank(a).cmp(&rank(b)).then_with(|| a.qualifier.cmp(&b.qualifier))
    });
}

pub fn format(entries: &[AclEntry]) -> String {
    entries
        .iter()
        .map(|e| {
            let tag = match e.tag {
                Tag::User => "user",
                Tag::Group => "group",
                Tag::Mask => "mask",
                Tag::Other => "other",
            };
            let scope = if e.default { "default:" } else { "" };
            format!("{scope}{tag}:{}:{}", e.qualifier, format_perms(e.perms))
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// `mode=modify`: entries replace those with the same identity, others are added.
pub fn modify(current: &mut Vec<AclEntry>, changes: &[AclEntry]) -> Result<(), AzureError> {
    for change in changes {
        match current.iter_mut().find(|e| e.key() == change.key()) {
            Some(existing) => existing.perms = change.perms,
            None => current.push(change.clone()),
        }
    }
    check_counts_and_duplicates(current.iter().map(AclEntry::key))?;
    sort(current);
    Ok(())
}

pub fn remove(current: &mut Vec<AclEntry>, removed: &[(bool, Tag, String)]) {
    current.retain(|e| !removed.iter().any(|(d, t, q)| e.key() == (*d, *t, q.as_str())));
}

/// The permissions an access ACL grants `user`: the owner's entry, else a named entry for
/// the user (limited by the mask), else the other entry. Callers here belong to no group
/// (bearer principals carry no group claims), so group entries grant nothing.
pub fn permissions_of(entries: &[AclEntry], owner: &str, user: &str) -> u8 {
    let access = || entries.iter().filter(|e| !e.default);
    let entry = |tag: Tag, qualifier: &str| access().find(|e| e.tag == tag && e.qualifier == qualifier);
    if owner == user {
        return entry(Tag::User, "").map_or(0, |e| e.perms);
    }
    if let Some(named) = entry(Tag::User, user) {
        let mask = entry(Tag::Mask, "").map_or(READ | WRITE | EXECUTE, |e| e.perms);
        return named.perms & mask;
    }
    entry(Tag::Other, "").map_or(0, |e| e.perms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_formats_and_orders() {
        let acl = parse("other::---,default:user::rwx,user:bob:r-x,group::r--,user::rwx,mask::r-x").unwrap();
        assert_eq!(
            format(&acl),
            "user::rwx,user:bob:r-x,group::r--,mask::r-x,other::---,default:user::rwx"
        );
        assert_eq!(permissions_of(&acl, "alice", "alice"), READ | WRITE | EXECUTE);
        assert_eq!(permissions_of(&acl, "alice", "bob"), READ | EXECUTE);
        assert_eq!(permissions_of(&acl, "alice", "carol"), 0);
    }

    #[test]
    fn mask_limits_named_entries() {
        let acl = parse("user::rwx,user:bob:rwx,group::r--,mask::r--,other::---").unwrap();
        assert_eq!(permissions_of(&acl, "alice", "bob"), READ);
    }

    #[test]
    fn invalid_lists_are_refused() {
        for bad in [
            "",
            "user::rwz",
            "user::rw",
            "user::rwxr",
            "owner::rwx",
            "other:bob:rwx",
            "mask:x:rwx",
            "user::rwx,user::r--",
            "default:",
            "user:a b:rwx",
            "user::xwr",
        ] {
            let error = parse(bad).unwrap_err();
            assert_eq!(error.code, ErrorCode::InvalidAccessControlList, "{bad:?}");
        }
        let too_many: Vec<String> = (0..33).map(|i| format!("user:u{i}:r--")).collect();
        assert!(parse(&too_many.join(",")).is_err());
    }

    #[test]
    fn modify_and_remove() {
        let mut acl = parse("user::rwx,group::r-x,other::---").unwrap();
        modify(&mut acl, &parse("user:bob:r--,other::r--").unwrap()).unwrap();
        assert_eq!(format(&acl), "user::rwx,user:bob:r--,group::r-x,other::r--");
        let removed = parse_removal("user:bob,default:mask").unwrap();
        remove(&mut acl, &removed);
        assert_eq!(format(&acl), "user::rwx,group::r-x,other::r--");
        assert!(parse_removal("user::").is_err());
        assert!(parse_removal("user:bob:rwx").is_err());
    }
}
