//! Put Block List request body and Get Block List response body.

use lazuli_types::{AzureError, ErrorCode};
use serde::{Deserialize, Serialize};

use super::reader::Pull;
use super::writer::Xml;

/// The service refuses a block list longer than this (`BlockListTooLong`).
pub const MAX_BLOCK_LIST_ENTRIES: usize = 50_000;

/// 50,000 entries of the longest form (`<Uncommitted>` + an 88-character id for a
/// 64-byte block id) is under 6 MiB; the rest is room for whitespace and comments.
pub const MAX_BLOCK_LIST_BYTES: usize = 16 << 20;

/// Which list a Put Block List entry looks the block up in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BlockListKind {
    Committed,
    Uncommitted,
    /// The uncommitted block if there is one, else the committed one.
    Latest,
}

/// One entry of a Put Block List body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockListItem {
    pub kind: BlockListKind,
    /// The block id exactly as sent (base64 text; validating it is the handler's job).
    pub id: String,
}

/// Parses `<BlockList><Latest>id</Latest><Committed>…</Committed>…</BlockList>`.
/// The order of the entries is the order of the blocks in the blob, so it is kept.
pub fn parse_block_list(body: &[u8]) -> Result<Vec<BlockListItem>, AzureError> {
    let mut p = Pull::new(body, MAX_BLOCK_LIST_BYTES)?;
    p.root("BlockList")?;
    let mut items = Vec::new();
    while let Some(name) = p.next_child()? {
        let kind = match name.as_str() {
            "Committed" => BlockListKind::Committed,
            "Uncommitted" => BlockListKind::Uncommitted,
            "Latest" => BlockListKind::Latest,
            _ => return Err(p.unsupported(&name)),
        };
        if items.len() == MAX_BLOCK_LIST_ENTRIES {
            return Err(AzureError::new(
                ErrorCode::BlockListTooLong,
                "The block list may not contain more than 50,000 blocks.",
            ));
        }
        items.push(BlockListItem { kind, id: p.text()? });
    }
    p.finish()?;
    Ok(items)
}

/// Get Block List response: `(block id, size)` pairs in blob order. `uncommitted` is
/// `None` for `blocklisttype=committed`, where the service leaves out
/// `UncommittedBlocks` altogether; an empty list is written `<CommittedBlocks />`.
pub fn write_block_list(committed: &[(String, u64)], uncommitted: Option<&[(String, u64)]>) -> Vec<u8> {
    let mut x = Xml::with_declaration();
    x.open("BlockList");
    write_blocks(&mut x, "CommittedBlocks", committed);
    if let Some(uncommitted) = uncommitted {
        write_blocks(&mut x, "UncommittedBlocks", uncommitted);
    }
    x.close("BlockList");
    x.buf
}

fn write_blocks(x: &mut Xml, wrapper: &str, blocks: &[(String, u64)]) {
    if blocks.is_empty() {
        x.empty(wrapper);
        return;
    }
    x.open(wrapper);
    for (name, size) in blocks {
        x.open("Block");
        x.elem("Name", name);
        x.elem_num("Size", *size);
        x.close("Block");
    }
    x.close(wrapper);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(kind: BlockListKind, id: &str) -> BlockListItem {
        BlockListItem {
            kind,
            id: id.to_string(),
        }
    }

    #[test]
    fn order_is_kept_across_kinds() {
        let body = br#"<?xml version="1.0" encoding="utf-8"?>
<BlockList>
  <Latest>AAAA</Latest>
  <Committed>BBBB</Committed>
  <Uncommitted>CCCC</Uncommitted>
  <Latest>DDDD</Latest>
  <Committed>AAAA</Committed>
</BlockList>"#;
        assert_eq!(
            parse_block_list(body).unwrap(),
            vec![
                item(BlockListKind::Latest, "AAAA"),
                item(BlockListKind::Committed, "BBBB"),
                item(BlockListKind::Uncommitted, "CCCC"),
                item(BlockListKind::Latest, "DDDD"),
                item(BlockListKind::Committed, "AAAA"),
            ]
        );
    }

    #[test]
    fn empty_list_and_empty_ids() {
        assert!(parse_block_list(b"<BlockList/>").unwrap().is_empty());
        assert!(parse_block_list(b"<BlockList></BlockList>").unwrap().is_empty());
        // An empty id is the handler's to reject (InvalidBlockId / InvalidBlockList).
        assert_eq!(
            parse_block_list(b"<BlockList><Latest/></BlockList>").unwrap(),
            vec![item(BlockListKind::Latest, "")]
        );
        // Escaped characters decode; base64 never needs them but they must not break.
        assert_eq!(
            parse_block_list(b"<BlockList><Latest>a&amp;b</Latest></BlockList>").unwrap(),
            vec![item(BlockListKind::Latest, "a&b")]
        );
    }

    #[test]
    fn errors() {
        let code = |b: &[u8]| parse_block_list(b).unwrap_err().code;
        assert_eq!(code(b""), ErrorCode::InvalidXmlDocument);
        assert_eq!(code(b"not xml"), ErrorCode::InvalidXmlDocument);
        assert_eq!(
            code(b"<BlockLists><Latest>a</Latest></BlockLists>"),
            ErrorCode::InvalidXmlDocument
        );
        assert_eq!(code(b"<BlockList><Latest>a</Latest>"), ErrorCode::InvalidXmlDocument);
        assert_eq!(
            code(b"<BlockList><Latest>a</Committed></BlockList>"),
            ErrorCode::InvalidXmlDocument
        );
        assert_eq!(
            code(b"<BlockList><Latest><X/></Latest></BlockList>"),
            ErrorCode::InvalidXmlDocument
        );
        assert_eq!(code(b"<BlockList>text</BlockList>"), ErrorCode::InvalidXmlDocument);
        assert_eq!(
            code(b"<BlockList><Block>a</Block></BlockList>"),
            ErrorCode::UnsupportedXmlNode
        );
    }

    #[test]
    fn too_many_entries() {
        let mut body = String::from("<BlockList>");
        for _ in 0..MAX_BLOCK_LIST_ENTRIES {
            body.push_str("<Latest>QUFBQQ==</Latest>");
        }
        body.push_str("</BlockList>");
        assert_eq!(parse_block_list(body.as_bytes()).unwrap().len(), MAX_BLOCK_LIST_ENTRIES);
        let body = body.replace("</BlockList>", "<Latest>QUFBQQ==</Latest></BlockList>");
        assert_eq!(
            parse_block_list(body.as_bytes()).unwrap_err().code,
            ErrorCode::BlockListTooLong
        );
    }

    #[test]
    fn get_block_list_shapes() {
        let committed = vec![("MQ==".to_string(), 10), ("Mg==".to_string(), 10)];
        // blocklisttype=committed (shape of a recorded service response).
        assert_eq!(
            String::from_utf8(write_block_list(&committed, None)).unwrap(),
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList><CommittedBlocks>\
             <Block><Name>MQ==</Name><Size>10</Size></Block><Block><Name>Mg==</Name><Size>10</Size></Block>\
             </CommittedBlocks></BlockList>"
        );
        // blocklisttype=all with nothing uncommitted.
        assert_eq!(
            String::from_utf8(write_block_list(&committed[1..], Some(&[]))).unwrap(),
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList><CommittedBlocks>\
             <Block><Name>Mg==</Name><Size>10</Size></Block></CommittedBlocks><UncommittedBlocks /></BlockList>"
        );
        // blocklisttype=uncommitted.
        let uncommitted = vec![("YmxvY2sx".to_string(), 62)];
        assert_eq!(
            String::from_utf8(write_block_list(&[], Some(&uncommitted))).unwrap(),
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList><CommittedBlocks /><UncommittedBlocks>\
             <Block><Name>YmxvY2sx</Name><Size>62</Size></Block></UncommittedBlocks></BlockList>"
        );
    }
}
