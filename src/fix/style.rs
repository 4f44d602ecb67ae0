//! The style of a file, read from its text: how keys and strings are quoted near a place, how
//! far nested maps and list dashes are indented, and how a JSON document is laid out. New text
//! is written in that style.

use super::layout::{collection_start, colon_end, dash, is_flow, Fail, Flow};
use super::render::{plain_ok, Quote, Yaml};
use super::text::Src;
use crate::manifest::{Node, NodeValue};

/// The layout of a document written as JSON (its root in flow style).
pub(super) struct JsonStyle {
    /// The indentation step when the document spans lines.
    pub step: Option<String>,
    pub colon: &'static str,
    pub comma: &'static str,
}

/// How a JSON document is laid out: its indentation step and separators.
pub(super) fn json_style(src: &Src, root: &Node) -> Result<JsonStyle, Fail> {
    let flow = Flow::read(src, root)?;
    let open = collection_start(src, root)?;
    let pretty = src.text[open..flow.close].contains(['\n', '\r']);
    let step = pretty.then(|| {
        let base = src.indent_str(open);
        flow.members
            .iter()
            .filter(|m| src.first_on_line(m.start))
            .find_map(|m| src.indent_str(m.start).strip_prefix(base))
            .filter(|s| !s.is_empty())
            .unwrap_or("  ")
            .to_owned()
    });
    let colon = match root.entries().and_then(<[_]>::first) {
        Some(entry) => {
            let after = colon_end(src, entry)?;
            match src.byte(after) {
                Some(b' ' | b'\t' | b'\n' | b'\r') => ": ",
                _ => ":",
            }
        }
        None => ": ",
    };
    let comma = match flow.members.get(..2) {
        Some([a, b]) if &src.text[a.end..b.start] == "," => ",",
        _ => ", ",
    };
    Ok(JsonStyle { step, colon, comma })
}

/// The YAML writer for new values under the last node of `path` (the nodes from the root):
/// the file's indentation, and the quoting of the nearest keys and string values.
pub(super) fn yaml_writer<'a>(
    src: &Src<'a>,
    root: &Node,
    path: &[&Node],
    seq_indent: usize,
) -> Yaml<'a> {
    let (mut keys, mut values) = (None, None);
    for node in path.iter().rev() {
        let flow = is_flow(src, node).unwrap_or(false);
        // A quoted scalar shows the file's style only if it could have been plain.
        let style_of = |mark, text: &str| {
            let at = src.offset(mark)?;
            let quote = match src.byte(src.skip_properties(at)) {
                Some(b'"') => Quote::Double,
                Some(b'\'') => Quote::Single,
                Some(b'|' | b'>') => return None,
                _ => return Some(Quote::Plain),
            };
            plain_ok(text, flow).then_some(quote)
        };
        for entry in node.entries().unwrap_or_default() {
            keys = keys.or_else(|| style_of(entry.key_mark, &entry.key));
            let written = entry.value.mark > entry.key_mark;
            if let Some(text) = entry.value.as_str().filter(|_| written) {
                values = values.or_else(|| style_of(entry.value.mark, text));
            }
        }
    }
    let keys = keys.unwrap_or(Quote::Plain);
    Yaml {
        nl: src.nl,
        step: step(src, root, path).unwrap_or(2),
        seq_indent,
        keys,
        values: values.unwrap_or(keys),
    }
}

/// The indentation step of nested block maps: on the path first, else anywhere.
fn step(src: &Src, root: &Node, path: &[&Node]) -> Option<usize> {
    let on_path = path
        .windows(2)
        .rev()
        .find_map(|w| nested_step(src, w[0], w[1]));
    on_path.or_else(|| walk(root, &|parent, child| nested_step(src, parent, child)))
}

fn nested_step(src: &Src, parent: &Node, child: &Node) -> Option<usize> {
    let parent_key = parent
        .entries()?
        .iter()
        .find(|e| std::ptr::eq(&e.value, child))?;
    let child_key = child.entries()?.first()?;
    if is_flow(src, parent).ok()? || is_flow(src, child).ok()? {
        return None;
    }
    let column = |mark| Some(src.column(src.offset(mark)?));
    column(child_key.key_mark)?
        .checked_sub(column(parent_key.key_mark)?)
        .filter(|&s| s > 0)
}

/// How far the dashes of a block list are indented under its key, anywhere in the document.
pub(super) fn seq_indent(src: &Src, root: &Node) -> Option<usize> {
    walk(root, &|parent, child| {
        let key = parent
            .entries()?
            .iter()
            .find(|e| std::ptr::eq(&e.value, child))?;
        let first = child.items()?.first()?;
        if is_flow(src, parent).ok()? || is_flow(src, child).ok()? {
            return None;
        }
        let dash_at = dash(src, first).ok()?;
        let key_at = src.offset(key.key_mark)?;
        let below = src.line_no(dash_at) > src.line_no(key_at);
        below.then(|| src.column(dash_at).checked_sub(src.column(key_at)))?
    })
}

/// The first answer of `f` for a (parent, child) pair, depth first from the root. Aliases
/// (children marked before their parent) are skipped.
fn walk(root: &Node, f: &dyn Fn(&Node, &Node) -> Option<usize>) -> Option<usize> {
    let mut todo = vec![root];
    while let Some(node) = todo.pop() {
        let children: Vec<&Node> = match &node.value {
            NodeValue::Map(entries) => entries.iter().map(|e| &e.value).collect(),
            NodeValue::Seq(items) => items.iter().collect(),
            NodeValue::Scalar(_) => continue,
        };
        let written: Vec<&Node> = children
            .into_iter()
            .filter(|c| c.mark >= node.mark)
            .collect();
        if let Some(found) = written.iter().find_map(|child| f(node, child)) {
            return Some(found);
        }
        todo.extend(written.into_iter().rev());
    }
    None
}
