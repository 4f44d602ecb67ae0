//! Plans the text edits for one JSON-patch operation on one document: finds the nodes the path
//! names, then writes the change in the style of the text around it.

use super::layout::{
    dash, entry_ctx, is_empty, is_flow, item_ctx, node_end, offset, value_start, Ctx, Fail, Flow,
};
use super::render::{Json, Quote, Yaml};
use super::style::{self, json_style, JsonStyle};
use super::text::Src;
use crate::manifest::{Node, NodeValue};
use json_patch::PatchOperation;
use serde_json::Value;

/// An edit of the text being planned (offsets in that text).
#[derive(Debug)]
pub(super) struct Raw {
    pub start: usize,
    pub end: usize,
    pub text: String,
}

/// Why an operation cannot be written, and the line it concerns.
#[derive(Debug)]
pub(super) struct Failure {
    pub reason: String,
    pub line: u32,
}

/// How a node was reached from its parent.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Slot {
    Root,
    Entry(usize),
    Item(usize),
}

/// One node on a path from the root, with where its value sits.
struct Link<'n> {
    node: &'n Node,
    slot: Slot,
    ctx: Ctx,
}

/// Plans edits on one document of a text.
pub(super) struct Planner<'a> {
    src: &'a Src<'a>,
    root: &'a Node,
    json: Option<JsonStyle>,
    seq_indent: usize,
}

type Planned = Result<Vec<Raw>, Failure>;

impl<'a> Planner<'a> {
    pub fn new(src: &'a Src<'a>, root: &'a Node) -> Result<Planner<'a>, Failure> {
        let at = |reason: Fail| Failure {
            reason,
            line: root.mark.line,
        };
        let json = match &root.value {
            NodeValue::Map(_) | NodeValue::Seq(_) if is_flow(src, root).map_err(at)? => {
                Some(json_style(src, root).map_err(at)?)
            }
            _ => None,
        };
        if let (Some(first), false) = (root.entries().and_then(<[_]>::first), json.is_some()) {
            // A block map starts its line or follows a dash; else it is a pair in a flow list.
            let key = offset(src, first.key_mark).map_err(at)?;
            let before = src.text[src.line_start(key)..key].trim_end_matches([' ', '\t']);
            if !(before.is_empty() || before.ends_with('-')) {
                let reason = "a map written as a pair (`[a: b]`) in a flow list is not supported";
                return Err(at(reason.into()));
            }
        }
        Ok(Planner {
            src,
            root,
            json,
            seq_indent: style::seq_indent(src, root).unwrap_or(0),
        })
    }

    /// The part of the text the document takes, from its first line to the line break after
    /// its last: edits stay inside it.
    pub fn span(&self) -> Result<(usize, usize), Failure> {
        let start = self.layout(offset(self.src, self.root.mark), self.root)?;
        let ctx = Ctx {
            flow: self.json.is_some(),
            indent: 0,
            after: start,
        };
        let end = self.layout(node_end(self.src, self.root, ctx), self.root)?;
        let first = match self.src.first_on_line(start) {
            true => self.src.line_start(start),
            false => start,
        };
        let last = self.src.next_line(end).unwrap_or(self.src.len());
        Ok((first, last))
    }

    pub fn plan(&self, op: &PatchOperation) -> Planned {
        let tokens: Vec<String> = op
            .path()
            .tokens()
            .map(|t| t.decoded().into_owned())
            .collect();
        match op {
            PatchOperation::Add(add) => self.add(&tokens, &add.value),
            PatchOperation::Replace(replace) => self.replace(&tokens, &replace.value),
            PatchOperation::Remove(_) => self.remove(&tokens),
            PatchOperation::Move(_) => self.unsupported("the move operation"),
            PatchOperation::Copy(_) => self.unsupported("the copy operation"),
            PatchOperation::Test(_) => self.unsupported("the test operation"),
        }
    }

    fn unsupported(&self, what: &str) -> Planned {
        Err(self.fail(format!("{what} is not supported"), self.root))
    }

    fn fail(&self, reason: String, node: &Node) -> Failure {
        Failure {
            reason,
            line: node.mark.line,
        }
    }

    fn layout<T>(&self, result: Result<T, Fail>, node: &Node) -> Result<T, Failure> {
        result.map_err(|reason| self.fail(reason, node))
    }

    /// The nodes from the root down the path.
    fn resolve(&self, tokens: &[String]) -> Result<Vec<Link<'a>>, Failure> {
        let root_ctx = Ctx {
            flow: false,
            indent: 0,
            after: 0,
        };
        let mut chain = vec![Link {
            node: self.root,
            slot: Slot::Root,
            ctx: root_ctx,
        }];
        for token in tokens {
            let node = chain[chain.len() - 1].node;
            let flow = self.layout(is_flow(self.src, node), node)?;
            let (child, slot, ctx) = match &node.value {
                NodeValue::Map(entries) => {
                    let ordered = entries.windows(2).all(|w| w[0].key_mark < w[1].key_mark)
                        && entries.first().is_none_or(|e| e.key_mark >= node.mark);
                    if !ordered {
                        let reason = "a map with merge keys (<<) is not supported".into();
                        return Err(self.fail(reason, node));
                    }
                    let Some(i) = entries.iter().position(|e| e.key == *token) else {
                        return Err(self.fail(format!("the map has no key {token:?}"), node));
                    };
                    let entry = &entries[i];
                    let ctx = self.layout(entry_ctx(self.src, entry, flow), node)?;
                    (&entry.value, Slot::Entry(i), ctx)
                }
                NodeValue::Seq(items) => {
                    let index = token.parse::<usize>().ok().filter(|&i| i < items.len());
                    let Some(i) = index else {
                        let reason =
                            format!("the list has no item {token} ({} items)", items.len());
                        return Err(self.fail(reason, node));
                    };
                    let ctx = self.layout(item_ctx(self.src, &items[i], flow), node)?;
                    (&items[i], Slot::Item(i), ctx)
                }
                NodeValue::Scalar(_) => {
                    let reason =
                        format!("the value is a {}, not a map or a list", node.type_name());
                    return Err(self.fail(reason, node));
                }
            };
            // An alias's node is a copy of the anchored one, with its marks: before the key.
            let before = match slot {
                Slot::Entry(i) => node.entries().map(|e| e[i].key_mark),
                Slot::Item(i) if i > 0 => node.items().map(|items| items[i - 1].mark),
                _ => Some(node.mark),
            };
            if let Some(before) = before.filter(|&before| child.mark < before) {
                return Err(Failure {
                    reason: "a value written as an alias (*name) is not supported".into(),
                    line: before.line,
                });
            }
            let collection = !matches!(child.value, NodeValue::Scalar(_));
            if flow && collection && !self.layout(is_flow(self.src, child), child)? {
                let reason = "a map written as a pair (`[a: b]`) in a flow list is not supported";
                return Err(self.fail(reason.into(), child));
            }
            chain.push(Link {
                node: child,
                slot,
                ctx,
            });
        }
        Ok(chain)
    }

    fn add(&self, tokens: &[String], value: &Value) -> Planned {
        let Some((last, parent_path)) = tokens.split_last() else {
            return self.unsupported("adding the whole document");
        };
        let chain = self.resolve(parent_path)?;
        let parent = chain[chain.len() - 1].node;
        let flow = self.layout(is_flow(self.src, parent), parent)?;
        match &parent.value {
            NodeValue::Map(entries) => {
                if let Some(entry) = entries.iter().find(|e| e.key == *last) {
                    let reason = format!("the key {last:?} already exists");
                    return Err(Failure {
                        reason,
                        line: entry.key_mark.line,
                    });
                }
                if flow {
                    self.add_flow(&chain, Some(last), value, None)
                } else {
                    self.add_block_entry(&chain, last, value)
                }
            }
            NodeValue::Seq(items) => {
                let index = match last.as_str() {
                    "-" => Some(items.len()),
                    _ => last.parse::<usize>().ok().filter(|&i| i <= items.len()),
                };
                let Some(index) = index else {
                    let reason = format!("the list has no index {last} ({} items)", items.len());
                    return Err(self.fail(reason, parent));
                };
                if flow {
                    self.add_flow(&chain, None, value, Some(index))
                } else {
                    self.add_block_item(&chain, index, value)
                }
            }
            NodeValue::Scalar(_) => {
                let reason = format!("the value is a {}, not a map or a list", parent.type_name());
                Err(self.fail(reason, parent))
            }
        }
    }

    /// A new last entry of a block map, on the line after its last value.
    fn add_block_entry(&self, chain: &[Link], key: &str, value: &Value) -> Planned {
        let map = chain[chain.len() - 1].node;
        let Some(last) = map.entries().and_then(<[_]>::last) else {
            return self.unsupported("adding to an empty block map");
        };
        let ctx = self.layout(entry_ctx(self.src, last, false), map)?;
        let end = self.layout(node_end(self.src, &last.value, ctx), map)?;
        let at = self.src.content_end(end);
        let yaml = self.yaml(chain);
        let text = format!(
            "{}{}{}",
            self.src.nl,
            " ".repeat(ctx.indent),
            yaml.block_entry(key, value, ctx.indent)
        );
        Ok(vec![insert(at, text)])
    }

    /// A new item of a block list: before item `index`, or after the last one.
    fn add_block_item(&self, chain: &[Link], index: usize, value: &Value) -> Planned {
        let seq = chain[chain.len() - 1].node;
        let items = seq.items().unwrap_or_default();
        let Some(first) = items.first() else {
            return self.unsupported("adding to an empty block list");
        };
        let yaml = self.yaml(chain);
        if let Some(next) = items.get(index) {
            // At the dash of the item it goes before, which then starts the next line.
            let next_dash = self.layout(dash(self.src, next), next)?;
            let column = self.src.column(next_dash);
            let body = yaml.item_body(value, column);
            let text = format!("- {body}{}{}", self.src.nl, " ".repeat(column));
            return Ok(vec![insert(next_dash, text)]);
        }
        let column = self.src.column(self.layout(dash(self.src, first), seq)?);
        let item = format!("{}- {}", " ".repeat(column), yaml.item_body(value, column));
        let last = &items[items.len() - 1];
        let ctx = self.layout(item_ctx(self.src, last, false), seq)?;
        let end = self.layout(node_end(self.src, last, ctx), seq)?;
        let at = self.src.content_end(end);
        Ok(vec![insert(at, format!("{}{item}", self.src.nl))])
    }

    /// A new member of a flow map (`key` given) or item of a flow list (`index` given).
    fn add_flow(
        &self,
        chain: &[Link],
        key: Option<&str>,
        value: &Value,
        index: Option<usize>,
    ) -> Planned {
        let node = chain[chain.len() - 1].node;
        let flow = self.layout(Flow::read(self.src, node), node)?;
        let multi_line = flow.multi_line(self.src);
        let member = |indent: &str, pretty: bool| match (&self.json, key) {
            (Some(style), _) => {
                let json = self.json_writer(style, pretty);
                key.map_or_else(
                    || json.value(value, indent),
                    |k| json.member(k, value, indent),
                )
            }
            (None, Some(k)) => {
                let yaml = self.yaml(chain);
                format!("{}: {}", yaml.key(k, true), yaml.flow(value))
            }
            (None, None) => self.yaml(chain).flow(value),
        };
        let comma = self.json.as_ref().map_or(", ", |s| s.comma);
        let pretty_doc = self.json.as_ref().and_then(|s| s.step.as_deref());
        if flow.members.is_empty() {
            let text = match pretty_doc {
                Some(step) => {
                    let base = self.src.indent_str(flow.open);
                    let inner = format!("{base}{step}");
                    let nl = self.src.nl;
                    format!("{nl}{inner}{}{nl}{base}", member(&inner, true))
                }
                None => member("", false),
            };
            return Ok(vec![replace(flow.open + 1, flow.close, text)]);
        }
        let last = flow.members[flow.members.len() - 1];
        let indent = if self.src.first_on_line(last.start) {
            self.src.indent_str(last.start).to_owned()
        } else {
            let step = pretty_doc.unwrap_or("  ");
            format!("{}{step}", self.src.indent_str(flow.close))
        };
        let pretty = multi_line && pretty_doc.is_some();
        if let Some(next) = index.and_then(|i| flow.members.get(i)) {
            let text = match multi_line && self.src.first_on_line(next.start) {
                true => format!("{},{}{indent}", member(&indent, pretty), self.src.nl),
                false => format!("{}{comma}", member(&indent, false)),
            };
            return Ok(vec![insert(next.start, text)]);
        }
        let text = match multi_line {
            true => format!(",{}{indent}{}", self.src.nl, member(&indent, pretty)),
            false => format!("{comma}{}", member(&indent, false)),
        };
        Ok(vec![insert(last.end, text)])
    }

    fn replace(&self, tokens: &[String], value: &Value) -> Planned {
        if tokens.is_empty() {
            return self.unsupported("replacing the whole document");
        }
        let chain = self.resolve(tokens)?;
        let link = &chain[chain.len() - 1];
        match &link.node.value {
            NodeValue::Map(_) => {
                Err(self.fail("replacing a map is not supported".into(), link.node))
            }
            NodeValue::Seq(_) => {
                Err(self.fail("replacing a list is not supported".into(), link.node))
            }
            NodeValue::Scalar(_) => self.replace_scalar(&chain, value),
        }
    }

    /// A scalar replaced by any value: in place, or, for a map or a list in block context,
    /// as block lines under its key.
    fn replace_scalar(&self, chain: &[Link], value: &Value) -> Planned {
        let Link { node, slot, ctx } = chain[chain.len() - 1];
        let start = self.layout(value_start(self.src, node, ctx), node)?;
        let end = self.layout(node_end(self.src, node, ctx), node)?;
        let space = if is_empty(node) { " " } else { "" };
        if let Some(style) = &self.json {
            // Pretty-printed where the collection around it spans lines.
            let parent = chain[chain.len() - 2].node;
            let around = self.layout(Flow::read(self.src, parent), parent)?;
            let json = self.json_writer(style, around.multi_line(self.src));
            let text = json.value(value, self.src.indent_str(start));
            return Ok(vec![replace(start, end, format!("{space}{text}"))]);
        }
        let yaml = self.yaml(&chain[..chain.len() - 1]);
        let quote = match self.src.byte(self.src.skip_properties(start)) {
            _ if is_empty(node) => yaml.values,
            Some(b'"') => Quote::Double,
            Some(b'\'') => Quote::Single,
            _ => Quote::Plain,
        };
        if let Some(text) = yaml.inline(value, quote, ctx.flow) {
            return Ok(vec![replace(start, end, format!("{space}{text}"))]);
        }
        if ctx.flow {
            return Ok(vec![replace(
                start,
                end,
                format!("{space}{}", yaml.flow(value)),
            )]);
        }
        match slot {
            Slot::Entry(_) => {
                let lines = yaml.block_children(value, ctx.indent);
                let mut edits = vec![insert(self.src.content_end(end), lines)];
                if end > ctx.after {
                    edits.push(replace(ctx.after, end, String::new()));
                }
                Ok(edits)
            }
            Slot::Item(_) => {
                let body = yaml.item_body(value, ctx.indent);
                Ok(vec![replace(start, end, format!("{space}{body}"))])
            }
            Slot::Root => self.unsupported("replacing the whole document"),
        }
    }

    fn remove(&self, tokens: &[String]) -> Planned {
        if tokens.is_empty() {
            return self.unsupported("removing the whole document");
        }
        let chain = self.resolve(tokens)?;
        let Link { node, slot, ctx } = chain[chain.len() - 1];
        let parent = &chain[chain.len() - 2];
        let flow = self.layout(is_flow(self.src, parent.node), parent.node)?;
        let (index, count, start) = match (slot, &parent.node.value) {
            (Slot::Entry(i), NodeValue::Map(entries)) => {
                let key = self.layout(offset(self.src, entries[i].key_mark), node)?;
                (i, entries.len(), key)
            }
            (Slot::Item(i), NodeValue::Seq(items)) => {
                let start = match flow {
                    true => self.layout(value_start(self.src, node, ctx), node)?,
                    false => self.layout(dash(self.src, node), node)?,
                };
                (i, items.len(), start)
            }
            _ => return self.unsupported("removing this value"),
        };
        if flow {
            return self.remove_flow(parent.node, index);
        }
        let end = self.layout(node_end(self.src, node, ctx), node)?;
        match (count, self.src.first_on_line(start)) {
            (1, _) => self.empty_block(&chain, end),
            (_, true) => Ok(vec![self.remove_lines(start, end)]),
            (_, false) => self.remove_after_dash(parent.node, index, start),
        }
    }

    /// A member of a flow collection, with the comma before or after it.
    fn remove_flow(&self, collection: &Node, index: usize) -> Planned {
        let layout = self.layout(Flow::read(self.src, collection), collection)?;
        let m = &layout.members;
        let (from, to) = match (m.len(), index + 1 < m.len()) {
            (1, _) => (layout.open + 1, layout.close),
            (_, true) => (m[index].start, m[index + 1].start),
            (_, false) if index > 0 => (m[index - 1].end, m[index].end),
            _ => return self.unsupported("removing this member"),
        };
        Ok(vec![replace(from, to, String::new())])
    }

    /// The only entry of a block map (or item of a block list) removed: `{}` (`[]`) after the
    /// collection's key, in place of its lines.
    fn empty_block(&self, chain: &[Link], end: usize) -> Planned {
        let removed = &chain[chain.len() - 1];
        let collection = &chain[chain.len() - 2];
        let empty = match removed.slot {
            Slot::Entry(_) => " {}",
            _ => " []",
        };
        match collection.slot {
            Slot::Entry(_) => {
                let to = self.src.content_end(end);
                Ok(vec![replace(collection.ctx.after, to, empty.into())])
            }
            _ => self.unsupported("removing the only entry of a map or list not under a key"),
        }
    }

    /// The lines from `start` to `end`, with the line break after them (or, at the end of a
    /// text without one, before them).
    fn remove_lines(&self, start: usize, end: usize) -> Raw {
        let mut from = self.src.line_start(start);
        let to = match self.src.next_line(end) {
            Some(next) => next,
            None => {
                from -= self.src.break_before(from);
                self.src.len()
            }
        };
        replace(from, to, String::new())
    }

    /// The first of a list item's entries, or a list's first item, on the line of a dash:
    /// removed up to the next one, which takes its place.
    fn remove_after_dash(&self, collection: &Node, index: usize, start: usize) -> Planned {
        let next = match &collection.value {
            NodeValue::Map(entries) => entries.get(index + 1).map(|e| offset(self.src, e.key_mark)),
            NodeValue::Seq(items) => items.get(index + 1).map(|i| dash(self.src, i)),
            NodeValue::Scalar(_) => None,
        };
        let Some(next) = next else {
            return self.unsupported("removing a value that shares its line with a dash");
        };
        let next = self.layout(next, collection)?;
        Ok(vec![replace(start, next, String::new())])
    }

    /// The YAML writer for new values under the last node of `chain`.
    fn yaml(&self, chain: &[Link]) -> Yaml<'a> {
        let path: Vec<&Node> = chain.iter().map(|link| link.node).collect();
        style::yaml_writer(self.src, self.root, &path, self.seq_indent)
    }

    fn json_writer<'s>(&'s self, style: &'s JsonStyle, pretty: bool) -> Json<'s> {
        Json {
            nl: self.src.nl,
            step: style.step.as_deref().filter(|_| pretty),
            colon: style.colon,
            comma: style.comma,
        }
    }
}

fn insert(at: usize, text: String) -> Raw {
    replace(at, at, text)
}

fn replace(start: usize, end: usize, text: String) -> Raw {
    Raw { start, end, text }
}
