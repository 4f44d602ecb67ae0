//! YAML (and so JSON) text into positioned [`Node`] trees, one per document.
//!
//! The `saphyr-parser` event stream feeds a tree builder of our own that enforces budgets as it
//! goes: nesting depth, total nodes (aliases count by what they expand to, which stops "billion
//! laughs"), and duplicate keys. The builder is iterative, so hostile nesting cannot overflow the
//! stack. Scalars resolve by the YAML 1.2 core schema (as JSON does). What kubectl and gcloud
//! (YAML 1.1) would read differently is refused ([`super::agreement`]): the text is screened
//! first, and each plain scalar, tag, merge key and alias is checked as it is built.

use super::agreement::{self, Refusal};
use super::node::{Entry, Mark, Node, NodeValue, Scalar, ScalarKind};
use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};
use std::collections::{HashMap, HashSet};

/// Budgets for one input text.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Deepest nesting of mappings and sequences.
    pub max_depth: usize,
    /// Most nodes in all the documents of one text, aliases counted by what they expand to.
    pub max_nodes: usize,
    /// Most nodes that aliases may add, by expansion, in all the documents of one text (counted
    /// before the copies are made).
    pub max_alias_nodes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 100,
            max_nodes: 2_000_000,
            max_alias_nodes: 2_000_000,
        }
    }
}

/// Why a text could not be read as YAML. `document` is the 0-based index of the YAML document.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum YamlError {
    #[error("line {}, column {}: {message}", .mark.line, .mark.column)]
    Syntax { mark: Mark, message: String },
    #[error("line {}, column {}: nesting deeper than {limit} levels", .mark.line, .mark.column)]
    TooDeep { mark: Mark, limit: usize },
    #[error("line {}, column {}: more than {limit} nodes (alias expansion counts): refusing to build it", .mark.line, .mark.column)]
    TooManyNodes { mark: Mark, limit: usize },
    #[error("line {}, column {}: aliases expand to more than {limit} nodes: refusing to build them", .mark.line, .mark.column)]
    TooManyAliasNodes { mark: Mark, limit: usize },
    #[error("line {}, column {}: duplicate key {key:?} (first at line {first_line})", .mark.line, .mark.column)]
    DuplicateKey {
        mark: Mark,
        key: String,
        first_line: u32,
    },
    #[error("line {}, column {}: a mapping key must be a scalar", .mark.line, .mark.column)]
    ComplexKey { mark: Mark },
    #[error("line {}, column {}: alias to an unknown anchor (none is defined before it in its document, and an anchor of another document does not count: kubectl and gcloud do not carry anchors across documents)", .mark.line, .mark.column)]
    UnknownAlias { mark: Mark },
    #[error("line {}, column {}: unsupported tag {tag}: kubectl and gcloud read tags differently; only !!str on a scalar, !!map and !!seq are accepted", .mark.line, .mark.column)]
    UnsupportedTag { mark: Mark, tag: String },
    /// A construct kubectl or gcloud read differently from the gate ([`agreement`]).
    #[error("line {}, column {}: {construct}: {reason}", .mark.line, .mark.column)]
    Refused {
        mark: Mark,
        construct: String,
        reason: &'static str,
    },
}

impl YamlError {
    pub fn mark(&self) -> Mark {
        match self {
            YamlError::Syntax { mark, .. }
            | YamlError::TooDeep { mark, .. }
            | YamlError::TooManyNodes { mark, .. }
            | YamlError::TooManyAliasNodes { mark, .. }
            | YamlError::DuplicateKey { mark, .. }
            | YamlError::ComplexKey { mark }
            | YamlError::UnknownAlias { mark }
            | YamlError::UnsupportedTag { mark, .. }
            | YamlError::Refused { mark, .. } => *mark,
        }
    }
}

/// One YAML document of a stream: its root (`None` when the document is empty) and where it starts.
#[derive(Debug, PartialEq)]
pub struct YamlDocument {
    pub root: Option<Node>,
    pub start: Mark,
}

/// A document that failed, with its index in the stream.
#[derive(Debug)]
pub struct StreamError {
    pub document: usize,
    pub error: YamlError,
}

fn mark_of(span: &Span, line_offset: u32) -> Mark {
    Mark {
        line: span.start.line() as u32 + line_offset,
        column: span.start.col() as u32 + 1,
    }
}

enum Frame {
    Seq {
        items: Vec<Node>,
        mark: Mark,
        anchor: usize,
    },
    Map {
        entries: Vec<Entry>,
        mark: Mark,
        anchor: usize,
        pending_key: Option<(String, Mark)>,
        seen: Option<HashSet<String>>,
    },
}

struct Anchored {
    node: Node,
    nodes: usize,
    depth: usize,
}

/// Builds the documents of one text.
struct Builder<'l> {
    limits: &'l Limits,
    line_offset: u32,
    stack: Vec<Frame>,
    /// The anchors of the current document (the consumers forget them at each document).
    anchors: HashMap<usize, Anchored>,
    nodes: usize,
    alias_nodes: usize,
    root: Option<Node>,
}

/// Parses every document of `text`. Stops at the first error.
pub fn parse_stream(text: &str, limits: &Limits) -> Result<Vec<YamlDocument>, StreamError> {
    parse_stream_at(text, limits, 0)
}

/// Like [`parse_stream`], for a part of a larger text that starts after `line_offset` lines:
/// positions are those in the whole text.
pub fn parse_stream_at(
    text: &str,
    limits: &Limits,
    line_offset: u32,
) -> Result<Vec<YamlDocument>, StreamError> {
    parse_stream_counted(text, limits, line_offset, Counts::default())
        .map(|(documents, _)| documents)
}

/// What the budgets of [`Limits`] count, for a text read in parts: the nodes and alias nodes of
/// the parts before.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub nodes: usize,
    pub alias_nodes: usize,
}

impl Counts {
    /// The counts of this part after `before`.
    pub fn after(self, before: Counts) -> Counts {
        Counts {
            nodes: before.nodes.saturating_add(self.nodes),
            alias_nodes: before.alias_nodes.saturating_add(self.alias_nodes),
        }
    }

    /// Whether these counts exceed the budgets.
    pub fn exceed(self, limits: &Limits) -> bool {
        self.nodes > limits.max_nodes || self.alias_nodes > limits.max_alias_nodes
    }
}

/// Like [`parse_stream_at`], with `before` already counted against the budgets (the parts of the
/// text before this one); gives the counts at the end of this part, `before` included.
pub fn parse_stream_counted(
    text: &str,
    limits: &Limits,
    line_offset: u32,
    before: Counts,
) -> Result<(Vec<YamlDocument>, Counts), StreamError> {
    // The text is screened once: a refusal is left to the YAML parser, which reports it where it
    // reaches its line.
    let refusal = agreement::screen_text(text, line_offset).err();
    if refusal.is_none() {
        if let Some(parsed) = parse_fast(text, limits, line_offset, before) {
            return Ok(parsed);
        }
    }
    parse_yaml(text, limits, line_offset, before, refusal)
}

/// [`parse_stream_counted`] by the YAML parser, whatever the text, with the text's refusal if
/// the screen gave one.
fn parse_yaml(
    text: &str,
    limits: &Limits,
    line_offset: u32,
    before: Counts,
    mut refusal: Option<Refusal>,
) -> Result<(Vec<YamlDocument>, Counts), StreamError> {
    let mut stream = Stream::new(limits, line_offset, before);
    // The text's refusal ([`agreement::screen_text`]) is reported where the parser reaches its
    // line, so that it is counted in the right document, unless the parser fails before.
    for event in Parser::new_from_str(text) {
        let document = stream.documents.len();
        let fail = |error| StreamError { document, error };
        let line = match &event {
            Ok((_, span)) => span.start.line() as u32 + line_offset,
            Err(e) => e.marker().line() as u32 + line_offset,
        };
        if let Some(r) = refusal.take_if(|r| r.mark.line <= line) {
            return Err(fail(refused(r)));
        }
        let (event, span) = event.map_err(|e| {
            let mark = Mark {
                line: e.marker().line() as u32 + line_offset,
                column: e.marker().col() as u32 + 1,
            };
            fail(if e.info().contains("unknown anchor") {
                YamlError::UnknownAlias { mark }
            } else {
                YamlError::Syntax {
                    mark,
                    message: e.info().to_string(),
                }
            })
        })?;
        stream.event(event, &span).map_err(fail)?;
    }
    if let Some(r) = refusal {
        return Err(StreamError {
            document: stream.documents.len().saturating_sub(1),
            error: refused(r),
        });
    }
    Ok(stream.finish())
}

/// The documents of a text as its events come, from the YAML parser or a fast path.
struct Stream<'l> {
    builder: Builder<'l>,
    documents: Vec<YamlDocument>,
    start: Mark,
}

impl<'l> Stream<'l> {
    fn new(limits: &'l Limits, line_offset: u32, before: Counts) -> Self {
        Stream {
            builder: Builder {
                limits,
                line_offset,
                stack: Vec::new(),
                anchors: HashMap::new(),
                nodes: before.nodes,
                alias_nodes: before.alias_nodes,
                root: None,
            },
            documents: Vec::new(),
            start: Mark::default(),
        }
    }

    fn event(&mut self, event: Event<'_>, span: &Span) -> Result<(), YamlError> {
        match event {
            Event::DocumentStart(_) => {
                self.start = mark_of(span, self.builder.line_offset);
                self.builder.root = None;
                self.builder.anchors.clear();
                Ok(())
            }
            Event::DocumentEnd => {
                self.documents.push(YamlDocument {
                    root: self.builder.root.take(),
                    start: self.start,
                });
                Ok(())
            }
            other => self.builder.event(other, span),
        }
    }

    fn finish(self) -> (Vec<YamlDocument>, Counts) {
        let counts = Counts {
            nodes: self.builder.nodes,
            alias_nodes: self.builder.alias_nodes,
        };
        (self.documents, counts)
    }
}

/// The fast paths, for a text the screen passed: a JSON text by [`super::json`], another by the
/// block-YAML reader ([`super::block`]), their tokens fed to the same builder as the YAML
/// parser's events. `None` when the fast path gives up: the YAML parser then reads the text, and
/// gives the error if there is one.
fn parse_fast(
    text: &str,
    limits: &Limits,
    line_offset: u32,
    before: Counts,
) -> Option<(Vec<YamlDocument>, Counts)> {
    let mut stream = Stream::new(limits, line_offset, before);
    if super::json::looks_like_json(text) {
        let start =
            super::json::feed(text, |event, span| stream.builder.event(event, span)).ok()?;
        let document = YamlDocument {
            root: stream.builder.root.take(),
            start: mark_of(&Span::new(start, start), line_offset),
        };
        stream.documents.push(document);
    } else {
        super::block::feed(text, |event, span| stream.event(event, span)).ok()?;
    }
    Some(stream.finish())
}

fn refused(refusal: Refusal) -> YamlError {
    YamlError::Refused {
        mark: refusal.mark,
        construct: refusal.construct,
        reason: refusal.reason,
    }
}

const MERGE_KEY: &str =
    "kubectl and gcloud merge the mapping it names, the gate does not; write the keys out";
const PLAIN_SCALAR: &str = "the gate reads YAML 1.2 and would see a different value; quote it";

impl Builder<'_> {
    fn event(&mut self, event: Event<'_>, span: &Span) -> Result<(), YamlError> {
        let mark = mark_of(span, self.line_offset);
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                self.count(1, mark)?;
                let is_key = matches!(
                    self.stack.last(),
                    Some(Frame::Map {
                        pending_key: None,
                        ..
                    })
                );
                let untagged_plain = style == ScalarStyle::Plain && tag.is_none();
                let scalar = resolve_scalar(text.into_owned(), style, tag.as_deref(), mark)?;
                if untagged_plain {
                    let checked = if is_key {
                        agreement::check_plain_key(&scalar.text, scalar.kind)
                    } else {
                        agreement::check_plain_value(&scalar.text, scalar.kind)
                    };
                    checked.map_err(|construct| YamlError::Refused {
                        mark,
                        reason: if construct.contains("merge key") {
                            MERGE_KEY
                        } else {
                            PLAIN_SCALAR
                        },
                        construct,
                    })?;
                }
                let node = Node {
                    value: NodeValue::Scalar(scalar),
                    mark,
                };
                self.remember(anchor, &node, 1, 0);
                self.attach(node, mark)
            }
            Event::SequenceStart(anchor, tag) => {
                check_collection_tag(tag.as_deref(), "seq", mark)?;
                self.open(mark)?;
                self.stack.push(Frame::Seq {
                    items: Vec::new(),
                    mark,
                    anchor,
                });
                Ok(())
            }
            Event::MappingStart(anchor, tag) => {
                check_collection_tag(tag.as_deref(), "map", mark)?;
                self.open(mark)?;
                self.stack.push(Frame::Map {
                    entries: Vec::new(),
                    mark,
                    anchor,
                    pending_key: None,
                    seen: None,
                });
                Ok(())
            }
            Event::SequenceEnd | Event::MappingEnd => self.close(),
            Event::Alias(id) => {
                let anchored = self
                    .anchors
                    .get(&id)
                    .ok_or(YamlError::UnknownAlias { mark })?;
                if self.stack.len() + anchored.depth > self.limits.max_depth {
                    return Err(YamlError::TooDeep {
                        mark,
                        limit: self.limits.max_depth,
                    });
                }
                let count = anchored.nodes;
                self.alias_nodes = self.alias_nodes.saturating_add(count);
                if self.alias_nodes > self.limits.max_alias_nodes {
                    return Err(YamlError::TooManyAliasNodes {
                        mark,
                        limit: self.limits.max_alias_nodes,
                    });
                }
                self.count(count, mark)?;
                let node = self.anchors[&id].node.clone();
                self.attach(node, mark)
            }
            Event::StreamStart | Event::StreamEnd | Event::Nothing => Ok(()),
            Event::DocumentStart(_) | Event::DocumentEnd => Ok(()),
        }
    }

    fn count(&mut self, n: usize, mark: Mark) -> Result<(), YamlError> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > self.limits.max_nodes {
            return Err(YamlError::TooManyNodes {
                mark,
                limit: self.limits.max_nodes,
            });
        }
        Ok(())
    }

    fn open(&mut self, mark: Mark) -> Result<(), YamlError> {
        if self.stack.len() >= self.limits.max_depth {
            return Err(YamlError::TooDeep {
                mark,
                limit: self.limits.max_depth,
            });
        }
        self.count(1, mark)
    }

    fn remember(&mut self, anchor: usize, node: &Node, nodes: usize, depth: usize) {
        if anchor != 0 {
            self.anchors.insert(
                anchor,
                Anchored {
                    node: node.clone(),
                    nodes,
                    depth,
                },
            );
        }
    }

    fn close(&mut self) -> Result<(), YamlError> {
        let (node, anchor) = match self.stack.pop() {
            Some(Frame::Seq {
                items,
                mark,
                anchor,
            }) => (
                Node {
                    value: NodeValue::Seq(items),
                    mark,
                },
                anchor,
            ),
            Some(Frame::Map {
                entries,
                mark,
                anchor,
                ..
            }) => (
                Node {
                    value: NodeValue::Map(entries),
                    mark,
                },
                anchor,
            ),
            None => return Ok(()),
        };
        if anchor != 0 {
            let (nodes, depth) = measure(&node);
            self.remember(anchor, &node, nodes, depth);
        }
        let mark = node.mark;
        self.attach(node, mark)
    }

    fn attach(&mut self, node: Node, mark: Mark) -> Result<(), YamlError> {
        match self.stack.last_mut() {
            None => {
                self.root = Some(node);
                Ok(())
            }
            Some(Frame::Seq { items, .. }) => {
                items.push(node);
                Ok(())
            }
            Some(Frame::Map {
                entries,
                pending_key,
                seen,
                ..
            }) => match pending_key.take() {
                None => {
                    let NodeValue::Scalar(scalar) = node.value else {
                        return Err(YamlError::ComplexKey { mark });
                    };
                    // An alias to a number, a boolean or a null as a key: a plain one is refused
                    // where it is read (agreement::check_plain_key).
                    if scalar.kind != ScalarKind::Str {
                        return Err(YamlError::Refused {
                            mark,
                            construct: "a key that is not a string".into(),
                            reason: "kubectl turns it into a string, gcloud keeps it a number, boolean or null; quote it",
                        });
                    }
                    *pending_key = Some((scalar.text, node.mark));
                    Ok(())
                }
                Some((key, key_mark)) if key == "<<" => Err(YamlError::Refused {
                    mark: key_mark,
                    construct: "a merge key (<<)".into(),
                    reason: MERGE_KEY,
                }),
                Some((key, key_mark)) => {
                    let duplicate = match seen {
                        Some(set) => !set.insert(key.clone()),
                        None => {
                            let dup = entries.iter().any(|e| e.key == key);
                            if entries.len() >= 16 {
                                *seen = Some(entries.iter().map(|e| e.key.clone()).collect());
                                seen.as_mut().map(|s| s.insert(key.clone()));
                            }
                            dup
                        }
                    };
                    if duplicate {
                        let first_line = entries
                            .iter()
                            .find(|e| e.key == key)
                            .map_or(0, |e| e.key_mark.line);
                        return Err(YamlError::DuplicateKey {
                            mark: key_mark,
                            key,
                            first_line,
                        });
                    }
                    entries.push(Entry {
                        key,
                        key_mark,
                        value: node,
                    });
                    Ok(())
                }
            },
        }
    }
}

/// Node count and depth of a subtree (iterative).
fn measure(node: &Node) -> (usize, usize) {
    let mut nodes = 0;
    let mut deepest = 0;
    let mut todo = vec![(node, 0usize)];
    while let Some((n, depth)) = todo.pop() {
        nodes += 1;
        deepest = deepest.max(depth);
        match &n.value {
            NodeValue::Seq(items) => todo.extend(items.iter().map(|i| (i, depth + 1))),
            NodeValue::Map(entries) => todo.extend(entries.iter().map(|e| (&e.value, depth + 1))),
            NodeValue::Scalar(_) => {}
        }
    }
    (nodes, deepest)
}

fn check_collection_tag(tag: Option<&Tag>, expected: &str, mark: Mark) -> Result<(), YamlError> {
    match tag {
        None => Ok(()),
        Some(t) if is_core_tag(t, expected) => Ok(()),
        Some(t) => Err(YamlError::UnsupportedTag {
            mark,
            tag: tag_name(t),
        }),
    }
}

/// Resolves a scalar by its style and tag: quoted and block scalars are strings; plain ones follow
/// the YAML 1.2 core schema. The only tag accepted is `!!str` (kubectl and gcloud read the others,
/// the non-specific `!` included, differently or not at all).
fn resolve_scalar(
    text: String,
    style: ScalarStyle,
    tag: Option<&Tag>,
    mark: Mark,
) -> Result<Scalar, YamlError> {
    let kind = match tag {
        None if style != ScalarStyle::Plain => ScalarKind::Str,
        None => resolve_plain(&text),
        Some(t) if is_core_tag(t, "str") => ScalarKind::Str,
        Some(t) => {
            return Err(YamlError::UnsupportedTag {
                mark,
                tag: tag_name(t),
            })
        }
    };
    Ok(Scalar { text, kind })
}

/// Whether `tag` is `tag:yaml.org,2002:NAME`, written `!!NAME` or verbatim.
fn is_core_tag(tag: &Tag, name: &str) -> bool {
    match tag.handle.as_str() {
        "!!" | "tag:yaml.org,2002:" => tag.suffix == name,
        "" => tag.suffix.strip_prefix("tag:yaml.org,2002:") == Some(name),
        _ => false,
    }
}

fn tag_name(tag: &Tag) -> String {
    if tag.handle == "tag:yaml.org,2002:" {
        format!("!!{}", tag.suffix)
    } else {
        format!("{}{}", tag.handle, tag.suffix)
    }
}

fn is_null(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

fn resolve_bool(text: &str) -> Option<bool> {
    match text {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

fn resolve_int(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if let Some(hex) = text.strip_prefix("0x") {
        return (!hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| i64::from_str_radix(hex, 16).ok())
            .flatten();
    }
    if let Some(oct) = text.strip_prefix("0o") {
        return (!oct.is_empty() && oct.bytes().all(|b| (b'0'..=b'7').contains(&b)))
            .then(|| i64::from_str_radix(oct, 8).ok())
            .flatten();
    }
    let digits = match bytes.first() {
        Some(b'-' | b'+') => &text[1..],
        _ => text,
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<i64>().ok()
}

fn resolve_float(text: &str) -> Option<f64> {
    match text {
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        _ => {}
    }
    let body = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (int_part, frac_part) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match frac_part {
        Some(f) => digits(int_part) && digits(f) && !(int_part.is_empty() && f.is_empty()),
        None => !int_part.is_empty() && digits(int_part) && exponent.is_some(),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    (mantissa_ok && exponent_ok)
        .then(|| text.parse::<f64>().ok())
        .flatten()
}

fn resolve_plain(text: &str) -> ScalarKind {
    if is_null(text) {
        return ScalarKind::Null;
    }
    let first = text.as_bytes()[0];
    if let Some(b) = resolve_bool(text) {
        return ScalarKind::Bool(b);
    }
    if first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.') {
        if let Some(i) = resolve_int(text) {
            return ScalarKind::Int(i);
        }
        if let Some(f) = resolve_float(text) {
            return ScalarKind::Float(f);
        }
    }
    ScalarKind::Str
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<YamlDocument>, StreamError> {
        parse_stream(text, &Limits::default())
    }

    fn root(text: &str) -> Node {
        parse(text).unwrap().remove(0).root.unwrap()
    }

    #[test]
    fn plain_scalars_resolve_by_the_core_schema() {
        let cases = [
            ("a: 123456789", ScalarKind::Int(123456789)),
            ("a: -7", ScalarKind::Int(-7)),
            ("a: 1.5", ScalarKind::Float(1.5)),
            ("a: true", ScalarKind::Bool(true)),
            ("a: FALSE", ScalarKind::Bool(false)),
            ("a: ~", ScalarKind::Null),
            ("a:", ScalarKind::Null),
            ("a: 'yes'", ScalarKind::Str),
            ("a: '123'", ScalarKind::Str),
            ("a: \"true\"", ScalarKind::Str),
            ("a: !!str 12", ScalarKind::Str),
            ("a: 1.2.3", ScalarKind::Str),
            ("a: '99999999999999999999'", ScalarKind::Str),
            ("a: !<tag:yaml.org,2002:str> 12", ScalarKind::Str),
            ("a: !!str yes", ScalarKind::Str),
            ("a: |\n  12\n", ScalarKind::Str),
            ("a: .", ScalarKind::Str),
        ];
        for (text, kind) in cases {
            let node = root(text);
            let NodeValue::Scalar(s) = &node.get("a").unwrap().value else {
                panic!("{text}: not a scalar")
            };
            assert_eq!(s.kind, kind, "{text}");
        }
    }

    #[test]
    fn keys_and_values_keep_their_positions() {
        let node = root("apiVersion: v1\nmetadata:\n  name: x\n  labels:\n    a: b\n");
        let metadata = node.entry("metadata").unwrap();
        assert_eq!(metadata.key_mark, Mark { line: 2, column: 1 });
        let labels = metadata.value.entry("labels").unwrap();
        assert_eq!(labels.key_mark, Mark { line: 4, column: 3 });
        assert_eq!(
            labels.value.get("a").unwrap().mark,
            Mark { line: 5, column: 8 }
        );
    }

    #[test]
    fn multi_document_streams_give_each_document_and_empty_ones() {
        let docs = parse("a: 1\n---\nb: 2\n---\n# only a comment\n").unwrap();
        assert_eq!(docs.len(), 3);
        assert_eq!(docs[1].start.line, 2);
        assert!(docs[2].root.as_ref().is_none_or(Node::is_null));
    }

    #[test]
    fn json_parses_with_positions() {
        let node = root("{\n  \"kind\": \"Service\",\n  \"n\": [1, 2.5, null, true]\n}");
        assert_eq!(node.get("kind").unwrap().as_str(), Some("Service"));
        assert_eq!(node.entry("n").unwrap().key_mark.line, 3);
        assert_eq!(node.get("n").unwrap().items().unwrap().len(), 4);
    }

    #[test]
    fn aliases_expand_within_their_document() {
        let node = root("base: &b {x: 1, c: 2}\ncopy: *b\nlist: !!seq [&s a, *s]\n");
        assert_eq!(
            node.get("copy").unwrap().to_json(),
            serde_json::json!({"x": 1, "c": 2})
        );
        assert_eq!(
            node.get("list").unwrap().to_json(),
            serde_json::json!(["a", "a"])
        );
    }

    /// Each construct kubectl or gcloud read differently: the message names it and its line.
    #[test]
    fn what_the_consumers_read_differently_is_refused_with_its_line() {
        let cases: &[(&str, &str)] = &[
            // merge keys, wherever they are and however written
            ("b: &b {x: 1}\nu:\n  <<: *b\n", "line 3, column 3: a merge key (<<)"),
            ("b: &b {x: 1}\nu:\n  c: 2\n  <<: *b\n", "line 4, column 3: a merge key (<<)"),
            ("b: &b {x: 1}\nu:\n  <<: [*b, *b]\n", "line 3, column 3: a merge key (<<)"),
            ("u:\n  \"<<\": {x: 1}\n", "line 2, column 3: a merge key (<<)"),
            ("u: {<<: {x: 1}}\n", "line 1, column 5: a merge key (<<)"),
            // plain scalars typed differently by YAML 1.1
            ("a:\n  b: yes\n", "line 2, column 6: a plain scalar: an unquoted value that kubectl or gcloud (YAML 1.1) read as a boolean"),
            ("a: [x, off]\n", "line 1, column 8: a plain scalar: an unquoted value"),
            ("a: 0x1F\n", "line 1, column 4: a plain scalar"),
            ("a: 0o17\n", "YAML 1.1 spelling"),
            ("a: 1_000\n", "read as a number"),
            ("a: 1:20\n", "read as a number"),
            ("a: 2001-12-14\n", "read as a date"),
            ("a: .inf\n", "unquoted value"),
            ("a: 1e400\n", "unquoted value"),
            ("a: 99999999999999999999\n", "unquoted value"),
            ("a: =\n", "value key"),
            // keys that are not strings to a consumer
            ("1: a\n", "line 1, column 1: a key that is not a string: an unquoted key that kubectl or gcloud (YAML 1.1) read as a number"),
            ("x:\n  n: a\n", "line 2, column 3: a key that is not a string"),
            ("~: a\n", "unquoted key"),
            ("a: &n 1\nb: {*n : x}\n", "line 2, column 5: a key that is not a string"),
            // tags
            ("a: ! 12\n", "unsupported tag !"),
            ("a: !!int 12\n", "unsupported tag !!int"),
            ("a: !!binary aGk=\n", "unsupported tag !!binary"),
            ("a: !!timestamp 2001-12-14\n", "unsupported tag !!timestamp"),
            ("a: !!set {x}\n", "unsupported tag !!set"),
            ("a: !!omap [x: 1]\n", "unsupported tag !!omap"),
            ("a: !!python/name:os.system x\n", "unsupported tag !!python/name:os.system"),
            ("a: !foo x\n", "unsupported tag !foo"),
            // anchors of another document
            ("a: &x 1\n---\nb: *x\n", "line 3, column 4: alias to an unknown anchor (none is defined before it in its document, and an anchor of another document does not count"),
            // the text
            ("a: 1\n# \u{2028}b: 2\n", "line 2, column 3: a YAML 1.1 line break (U+2028)"),
            ("a: 'x\u{85}y'\n", "line 1, column 6: a YAML 1.1 line break (U+0085)"),
            ("a: x\u{7}\n", "line 1, column 5: a control character (U+0007)"),
            ("a: 1\n\u{feff}b: 2\n", "line 2, column 1: a byte order mark"),
            ("%YAML 1.1\n---\na: 1\n", "line 1, column 1: a directive"),
            ("a: 1\n...\nb: 2\n", "line 2, column 1: a document end marker"),
            // JSON
            ("{\"a\": \"\\ud800\"}", "line 1"),
            ("{\"a\": \"\\ud83d\\ude00\"}", "invalid Unicode"),
            ("{\"a\": 1e400}", "line 1, column 7: a plain scalar"),
            ("{\"a\": 1, \"a\": 2}", "duplicate key"),
        ];
        for (text, expected) in cases {
            let err = parse(text).expect_err(text);
            let message = err.error.to_string();
            assert!(
                message.contains(expected),
                "{text:?}: {message:?} lacks {expected:?}"
            );
        }
        // The document a refusal of the text is in.
        let err = parse("a: 1\n---\nb: 2\n---\nc: x\u{1}\n").unwrap_err();
        assert_eq!((err.document, err.error.mark().line), (2, 5));
    }

    #[test]
    fn hostile_inputs_are_refused_with_the_reason() {
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let p = i - 1;
            bomb.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let deep_flow = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let mut deep_block = String::new();
        for i in 0..500 {
            deep_block.push_str(&" ".repeat(i));
            deep_block.push_str("k:\n");
        }
        let cases: Vec<(String, &str)> = vec![
            (bomb, "more than"),
            (deep_flow, "recursion limit exceeded"),
            (deep_block, "nesting deeper"),
            (
                "a: 1\na: 2\n".into(),
                "duplicate key \"a\" (first at line 1)",
            ),
            ("? [a]\n: 1\n".into(), "mapping key must be a scalar"),
            ("a: *nope\n".into(), "line 1"),
            ("a: !custom x\n".into(), "unsupported tag"),
            ("a: [1, 2\n".into(), "line"),
            ("a:\n\tb: 1\n".into(), "line 2"),
        ];
        for (text, expected) in cases {
            let err = parse(&text).expect_err(expected);
            let message = err.error.to_string();
            assert!(message.contains(expected), "{message:?} lacks {expected:?}");
        }
    }

    #[test]
    fn many_keys_still_detect_duplicates() {
        let mut text: String = (0..40).map(|i| format!("k{i}: {i}\n")).collect();
        text.push_str("k3: again\n");
        let err = parse(&text).unwrap_err();
        assert!(err.error.to_string().contains("duplicate key \"k3\""));
    }

    /// The JSON fast path gives the YAML parser's tree (values, marks, document start, budget
    /// counts) for every JSON text it takes, and gives up on every text the YAML parser refuses
    /// (duplicate keys, budgets, syntax), so that the YAML parser's error stands. The corpus: the
    /// parser corpus's JSON files, the examples as `serde_json` prints them, and edge cases.
    #[test]
    fn the_json_path_gives_the_yaml_paths_tree() {
        let corpus_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("integration/fixtures/parser-corpus");
        let mut corpus: Vec<(String, String)> = std::fs::read_dir(&corpus_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .map(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                (name, std::fs::read_to_string(&p).unwrap())
            })
            .collect();
        corpus.sort();
        assert!(corpus.len() >= 10, "the parser corpus's JSON files");
        for example in [
            include_str!("../../examples/service.yaml"),
            include_str!("../../examples/service-compliant.yaml"),
        ] {
            let root = parse_stream(example, &Limits::default()).unwrap()[0]
                .root
                .as_ref()
                .unwrap()
                .to_json();
            corpus.push((
                "pretty".into(),
                serde_json::to_string_pretty(&root).unwrap(),
            ));
            corpus.push(("compact".into(), serde_json::to_string(&root).unwrap()));
            let list =
                serde_json::json!({"apiVersion": "v1", "kind": "List", "items": [root, root]});
            corpus.push(("list".into(), serde_json::to_string_pretty(&list).unwrap()));
        }
        let long_key = format!("{{\"{}\": 1}}", "k".repeat(1500));
        let edge_cases = [
            "{}",
            "[]",
            "  \n\n  {\"a\": 1}\n\n",
            "[1, -2, 3.5, 1e3, -0.0e-2, 12345678901234567890, true, false, null]",
            "{\"a\":1,\"b\":[{},[]],\"c\":{\"d\":\"e\"}}",
            "{\"s\": \"tab\\tnl\\nquote\\\"slash\\/back\\\\ \\u00e9\\u20ac \\b\\f\\r\"}",
            "{\"s\": \"caf\u{e9} \u{1F600} na\u{ef}ve\", \"t\": \"x\"}",
            "{\"\u{e9}\": {\"\u{1F600}\": [\"\u{e9}\", 1]}}",
            "{\"hash\": \"a # not a comment\", \"colon\": \"a: b\", \"dash\": \"--- x\"}",
            "{\"nul\": \"\\u0000\"}",
            "{\n\"a\": 1\n}",
            "{\n  \"a\" : [\n    1 ,\n    2\n  ]\n}",
            "{\"a\": 1, \"a\": 2}",
            "{\"a\": 1,}",
            "[1, 2,]",
            "{\"a\"\n: 1}",
            "{\"a\": 01}",
            "{\"a\": .5}",
            "{\"a\": yes}",
            "{\"a\": 1} {\"b\": 2}",
            "{\"a\": 1}\n# comment\n",
            "{\"a\":\t1}",
            "{\"a\": 1}\r\n",
            "{\"a\": \"\\ud83d\\ude00\"}",
            "{\"a\": \"\\ud83d\"}",
            "{\"<<\": {\"a\": 1}}",
            "{\"a\": [[[[[[[[[[1]]]]]]]]]]}",
            "{\"a\": \"unterminated}",
            "{\"a\": 1",
            "[",
            long_key.as_str(),
        ];
        corpus.extend(
            edge_cases
                .iter()
                .map(|t| ("edge".to_string(), t.to_string())),
        );
        let limits = [
            Limits::default(),
            Limits {
                max_depth: 5,
                max_nodes: 40,
                max_alias_nodes: 10,
            },
        ];
        let mut taken = 0;
        for (name, text) in &corpus {
            assert!(
                super::super::json::looks_like_json(text),
                "{name}: {text:?}"
            );
            for limits in &limits {
                for (line_offset, before) in [
                    (0, Counts::default()),
                    (
                        7,
                        Counts {
                            nodes: 3,
                            alias_nodes: 0,
                        },
                    ),
                ] {
                    let refusal = agreement::screen_text(text, line_offset).err();
                    let json = refusal
                        .is_none()
                        .then(|| parse_fast(text, limits, line_offset, before))
                        .flatten();
                    let yaml = parse_yaml(text, limits, line_offset, before, refusal);
                    match (&yaml, json) {
                        (Ok(yaml), Some(json)) => {
                            assert_eq!(yaml, &json, "{name}: {text:?}");
                            taken += 1;
                        }
                        (_, None) => {}
                        (Err(e), Some(_)) => {
                            panic!("{name}: {text:?}: the YAML parser refuses it ({}), the JSON path took it", e.error)
                        }
                    }
                    // The public entry point gives the YAML parser's answer, error or tree.
                    let public = parse_stream_counted(text, limits, line_offset, before);
                    match (&yaml, &public) {
                        (Ok(a), Ok(b)) => assert_eq!(a, b, "{name}"),
                        (Err(a), Err(b)) => {
                            assert_eq!((a.document, &a.error), (b.document, &b.error), "{name}")
                        }
                        _ => panic!("{name}: {text:?}: {yaml:?} against {public:?}"),
                    }
                }
            }
        }
        // The fast path takes the well-formed texts, not only the odd ones: 66 (text, limits,
        // offset) cases when this was written.
        assert!(taken >= 60, "the JSON path took {taken}");
    }
}
