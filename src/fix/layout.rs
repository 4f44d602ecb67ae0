//! Where the nodes of a parsed tree lie in its text: the start and end of values, keys, colons
//! and dashes, and whether a collection is written in flow (`{}`, `[]`) or block style.

use super::text::Src;
use crate::manifest::node::Scalar;
use crate::manifest::{Entry, Node, NodeValue, ScalarKind};

/// Where a value sits: in a flow collection or in block context, the indentation of the block
/// node that owns it (the key's column, or the dash's), and where its slot starts (after the
/// key's colon or the item's dash), which is also where an empty value ends.
#[derive(Clone, Copy, Debug)]
pub(super) struct Ctx {
    pub flow: bool,
    pub indent: usize,
    pub after: usize,
}

/// Why a layout could not be read; the planner adds the op and line.
pub(super) type Fail = String;

pub(super) fn offset(src: &Src, node_mark: crate::manifest::Mark) -> Result<usize, Fail> {
    src.offset(node_mark)
        .ok_or_else(|| format!("position {node_mark} is not in the text"))
}

/// The offset where a collection's own syntax starts (after an anchor or a tag).
pub(super) fn collection_start(src: &Src, node: &Node) -> Result<usize, Fail> {
    Ok(src.skip_properties(offset(src, node.mark)?))
}

/// Whether a map or a sequence is written in flow style.
pub(super) fn is_flow(src: &Src, node: &Node) -> Result<bool, Fail> {
    let start = collection_start(src, node)?;
    Ok(match &node.value {
        NodeValue::Map(entries) => {
            src.byte(start) == Some(b'{') && entries.first().is_none_or(|e| e.key_mark != node.mark)
        }
        NodeValue::Seq(items) => {
            src.byte(start) == Some(b'[') && items.first().is_none_or(|i| i.mark != node.mark)
        }
        NodeValue::Scalar(_) => false,
    })
}

/// The end of a key.
pub(super) fn key_end(src: &Src, entry: &Entry) -> Result<usize, Fail> {
    let start = offset(src, entry.key_mark)?;
    let end = match src.byte(start) {
        Some(b'"') => src.double_quoted_end(start),
        Some(b'\'') => src.single_quoted_end(start),
        _ => src.text[start..]
            .starts_with(entry.key.as_str())
            .then(|| start + entry.key.len()),
    };
    end.ok_or_else(|| format!("the key {:?} is not written on one line", entry.key))
}

/// The offset after the colon that follows a key.
pub(super) fn colon_end(src: &Src, entry: &Entry) -> Result<usize, Fail> {
    let at = src.skip_blanks(key_end(src, entry)?);
    match src.byte(at) {
        Some(b':') => Ok(at + 1),
        _ => Err(format!(
            "the key {:?} is not followed by a colon on its line",
            entry.key
        )),
    }
}

/// The context of the value of an entry of `map`.
pub(super) fn entry_ctx(src: &Src, entry: &Entry, flow: bool) -> Result<Ctx, Fail> {
    Ok(Ctx {
        flow,
        indent: src.column(offset(src, entry.key_mark)?),
        after: colon_end(src, entry)?,
    })
}

/// The dash of an item of a block sequence.
pub(super) fn dash(src: &Src, item: &Node) -> Result<usize, Fail> {
    let start = offset(src, item.mark)?;
    let before = src.text[..start].trim_end_matches([' ', '\t']);
    match before.as_bytes().last() {
        Some(b'-') => Ok(before.len() - 1),
        _ => Err("a list item has no dash before it".into()),
    }
}

/// The context of an item of a sequence.
pub(super) fn item_ctx(src: &Src, item: &Node, flow: bool) -> Result<Ctx, Fail> {
    if flow {
        let start = offset(src, item.mark)?;
        return Ok(Ctx {
            flow,
            indent: 0,
            after: start,
        });
    }
    let dash = dash(src, item)?;
    Ok(Ctx {
        flow,
        indent: src.column(dash),
        after: dash + 1,
    })
}

/// Where a value's text starts: a block scalar at its header (`|`), others at their mark; an
/// empty value where its slot starts.
pub(super) fn value_start(src: &Src, node: &Node, ctx: Ctx) -> Result<usize, Fail> {
    if is_empty(node) {
        return Ok(ctx.after);
    }
    if let Some(header) = block_scalar_header(src, node, ctx) {
        return Ok(header);
    }
    offset(src, node.mark)
}

/// A null written as nothing at all (`key:`).
pub(super) fn is_empty(node: &Node) -> bool {
    matches!(&node.value, NodeValue::Scalar(Scalar { text, kind: ScalarKind::Null }) if text.is_empty())
}

fn block_scalar_header(src: &Src, node: &Node, ctx: Ctx) -> Option<usize> {
    if ctx.flow || !matches!(node.value, NodeValue::Scalar(_)) {
        return None;
    }
    let at = src.skip_properties(src.skip_blanks(ctx.after));
    matches!(src.byte(at), Some(b'|' | b'>')).then_some(at)
}

/// Where a value's text ends.
pub(super) fn node_end(src: &Src, node: &Node, ctx: Ctx) -> Result<usize, Fail> {
    match &node.value {
        NodeValue::Scalar(_) => scalar_end(src, node, ctx),
        _ if ctx.flow && !is_flow(src, node)? => {
            Err("a map written as a pair (`[a: b]`) in a flow list is not supported".into())
        }
        NodeValue::Map(entries) => {
            let flow = is_flow(src, node)?;
            let inner = match entries.last() {
                Some(last) => node_end(src, &last.value, entry_ctx(src, last, flow)?)?,
                None if flow => collection_start(src, node)? + 1,
                None => return Err("an empty block map".into()),
            };
            if flow {
                close_after(src, inner, b'}')
            } else {
                Ok(inner)
            }
        }
        NodeValue::Seq(items) => {
            let flow = is_flow(src, node)?;
            let inner = match items.last() {
                Some(last) => node_end(src, last, item_ctx(src, last, flow)?)?,
                None if flow => collection_start(src, node)? + 1,
                None => return Err("an empty block list".into()),
            };
            if flow {
                close_after(src, inner, b']')
            } else {
                Ok(inner)
            }
        }
    }
}

fn scalar_end(src: &Src, node: &Node, ctx: Ctx) -> Result<usize, Fail> {
    if is_empty(node) {
        // Nothing, or only an anchor or a tag (`key: &a`).
        let value = src.skip_blanks(ctx.after);
        let properties = src.skip_properties(value);
        return Ok(match properties > value {
            true => src.text[..properties].trim_end_matches([' ', '\t']).len(),
            false => ctx.after,
        });
    }
    if let Some(header) = block_scalar_header(src, node, ctx) {
        return Ok(src.block_scalar_end(header, ctx.indent));
    }
    let start = src.skip_properties(offset(src, node.mark)?);
    let end = match src.byte(start) {
        Some(b'"') => src.double_quoted_end(start),
        Some(b'\'') => src.single_quoted_end(start),
        Some(b'*') => Some(src.alias_end(start)),
        _ if ctx.flow => {
            let end = src.plain_end_on_line(start, true);
            let NodeValue::Scalar(s) = &node.value else {
                unreachable!("scalar_end takes scalars")
            };
            (src.text[start..end] == s.text).then_some(end)
        }
        _ => Some(src.plain_end_block(start, ctx.indent)),
    };
    end.ok_or_else(|| "a scalar spans lines in a way this editor does not follow".into())
}

/// The offset after the closing bracket that follows the last member of a flow collection.
pub(super) fn close_after(src: &Src, inner: usize, close: u8) -> Result<usize, Fail> {
    let mut at = src.skip_flow_gap(inner);
    if src.byte(at) == Some(b',') {
        at = src.skip_flow_gap(at + 1);
    }
    match src.byte(at) {
        Some(b) if b == close => Ok(at + 1),
        _ => Err(format!("no closing {:?} found", close as char)),
    }
}

/// One member of a flow collection: where its key (or item) starts and its value ends.
#[derive(Clone, Copy, Debug)]
pub(super) struct Member {
    pub start: usize,
    pub end: usize,
}

/// A flow collection: its brackets and members.
#[derive(Debug)]
pub(super) struct Flow {
    pub open: usize,
    pub close: usize,
    pub members: Vec<Member>,
}

impl Flow {
    pub fn read(src: &Src, node: &Node) -> Result<Flow, Fail> {
        let open = collection_start(src, node)?;
        let members = match &node.value {
            NodeValue::Map(entries) => entries
                .iter()
                .map(|e| {
                    Ok(Member {
                        start: offset(src, e.key_mark)?,
                        end: node_end(src, &e.value, entry_ctx(src, e, true)?)?,
                    })
                })
                .collect::<Result<Vec<_>, Fail>>()?,
            NodeValue::Seq(items) => items
                .iter()
                .map(|i| {
                    let ctx = item_ctx(src, i, true)?;
                    Ok(Member {
                        start: value_start(src, i, ctx)?,
                        end: node_end(src, i, ctx)?,
                    })
                })
                .collect::<Result<Vec<_>, Fail>>()?,
            NodeValue::Scalar(_) => return Err("not a collection".into()),
        };
        let close_byte = if matches!(node.value, NodeValue::Map(_)) {
            b'}'
        } else {
            b']'
        };
        let inner = members.last().map_or(open + 1, |m| m.end);
        let close = close_after(src, inner, close_byte)? - 1;
        Ok(Flow {
            open,
            close,
            members,
        })
    }

    /// Whether the collection spans lines after its last member (or, empty, inside it).
    pub fn multi_line(&self, src: &Src) -> bool {
        let from = self.members.last().map_or(self.open, |m| m.end);
        src.text[from..self.close].contains(['\n', '\r'])
    }
}
