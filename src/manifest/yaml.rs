//! YAML (and so JSON) text into positioned [`Node`] trees, one per document.
//!
//! The `saphyr-parser` event stream feeds a tree builder of our own that enforces budgets as it
//! goes: nesting depth, total nodes (aliases count by what they expand to, which stops "billion
//! laughs"), and duplicate keys. The builder is iterative, so hostile nesting cannot overflow the
//! stack. Scalars resolve by the YAML 1.2 core schema (as JSON does).

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
    #[error("line {}, column {}: alias to an unknown anchor", .mark.line, .mark.column)]
    UnknownAlias { mark: Mark },
    #[error("line {}, column {}: unsupported tag {tag}", .mark.line, .mark.column)]
    UnsupportedTag { mark: Mark, tag: String },
    #[error("line {}, column {}: {text:?} is not a valid {tag}", .mark.line, .mark.column)]
    InvalidTagged {
        mark: Mark,
        text: String,
        tag: &'static str,
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
            | YamlError::InvalidTagged { mark, .. } => *mark,
        }
    }
}

/// One YAML document of a stream: its root (`None` when the document is empty) and where it starts.
#[derive(Debug)]
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
        merges: Vec<(Node, Mark)>,
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
    let mut documents = Vec::new();
    let mut builder = Builder {
        limits,
        line_offset,
        stack: Vec::new(),
        anchors: HashMap::new(),
        nodes: 0,
        alias_nodes: 0,
        root: None,
    };
    let mut start = Mark::default();
    for event in Parser::new_from_str(text) {
        let fail = |error| StreamError {
            document: documents.len(),
            error,
        };
        let (event, span) = event.map_err(|e| {
            fail(YamlError::Syntax {
                mark: Mark {
                    line: e.marker().line() as u32 + line_offset,
                    column: e.marker().col() as u32 + 1,
                },
                message: e.info().to_string(),
            })
        })?;
        match event {
            Event::DocumentStart(_) => {
                start = mark_of(&span, line_offset);
                builder.root = None;
            }
            Event::DocumentEnd => {
                documents.push(YamlDocument {
                    root: builder.root.take(),
                    start,
                });
            }
            other => builder.event(other, &span).map_err(fail)?,
        }
    }
    Ok(documents)
}

impl Builder<'_> {
    fn event(&mut self, event: Event<'_>, span: &Span) -> Result<(), YamlError> {
        let mark = mark_of(span, self.line_offset);
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                self.count(1, mark)?;
                let node = Node {
                    value: NodeValue::Scalar(resolve_scalar(
                        text.into_owned(),
                        style,
                        tag.as_deref(),
                        mark,
                    )?),
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
                    merges: Vec::new(),
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
                mut entries,
                mark,
                anchor,
                merges,
                ..
            }) => {
                apply_merges(&mut entries, merges)?;
                (
                    Node {
                        value: NodeValue::Map(entries),
                        mark,
                    },
                    anchor,
                )
            }
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
                merges,
                seen,
                ..
            }) => match pending_key.take() {
                None => {
                    let NodeValue::Scalar(scalar) = node.value else {
                        return Err(YamlError::ComplexKey { mark });
                    };
                    *pending_key = Some((scalar.text, node.mark));
                    Ok(())
                }
                Some((key, key_mark)) if key == "<<" => {
                    merges.push((node, key_mark));
                    Ok(())
                }
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

/// `<<: *base` merge keys: entries of the merged maps that the mapping does not set itself.
fn apply_merges(entries: &mut Vec<Entry>, merges: Vec<(Node, Mark)>) -> Result<(), YamlError> {
    for (merged, mark) in merges {
        let sources: Vec<Node> = match merged.value {
            NodeValue::Map(_) => vec![merged],
            NodeValue::Seq(items) => items,
            NodeValue::Scalar(_) => {
                return Err(YamlError::Syntax {
                    mark,
                    message: "a merge key (<<) takes a mapping or a list of mappings".into(),
                })
            }
        };
        for source in sources {
            let NodeValue::Map(source_entries) = source.value else {
                return Err(YamlError::Syntax {
                    mark,
                    message: "a merge key (<<) takes a mapping or a list of mappings".into(),
                });
            };
            for entry in source_entries {
                if !entries.iter().any(|e| e.key == entry.key) {
                    entries.push(entry);
                }
            }
        }
    }
    Ok(())
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
        Some(t) if t.handle == "tag:yaml.org,2002:" && t.suffix == expected => Ok(()),
        Some(t) if t.handle == "!!" && t.suffix == expected => Ok(()),
        Some(t) => Err(YamlError::UnsupportedTag {
            mark,
            tag: format!("{}{}", t.handle, t.suffix),
        }),
    }
}

/// Resolves a scalar by its style and tag: quoted and block scalars are strings; plain ones follow
/// the YAML 1.2 core schema.
fn resolve_scalar(
    text: String,
    style: ScalarStyle,
    tag: Option<&Tag>,
    mark: Mark,
) -> Result<Scalar, YamlError> {
    let core_tag = match tag {
        None => None,
        Some(t) if t.handle == "!" && t.suffix.is_empty() => Some("str"),
        Some(t) if t.handle == "!!" || t.handle == "tag:yaml.org,2002:" => Some(t.suffix.as_str()),
        Some(t) => {
            return Err(YamlError::UnsupportedTag {
                mark,
                tag: format!("{}{}", t.handle, t.suffix),
            })
        }
    };
    let kind = match core_tag {
        Some("str") => ScalarKind::Str,
        None if style != ScalarStyle::Plain => ScalarKind::Str,
        None => resolve_plain(&text),
        Some(tagged) => {
            let (kind, name): (Option<ScalarKind>, &'static str) = match tagged {
                "int" => (resolve_int(&text).map(ScalarKind::Int), "!!int"),
                "float" => (
                    resolve_float(&text)
                        .or_else(|| resolve_int(&text).map(|i| i as f64))
                        .map(ScalarKind::Float),
                    "!!float",
                ),
                "bool" => (resolve_bool(&text).map(ScalarKind::Bool), "!!bool"),
                "null" => (is_null(&text).then_some(ScalarKind::Null), "!!null"),
                other => {
                    return Err(YamlError::UnsupportedTag {
                        mark,
                        tag: format!("!!{other}"),
                    })
                }
            };
            kind.ok_or(YamlError::InvalidTagged {
                mark,
                text: text.clone(),
                tag: name,
            })?
        }
    };
    Ok(Scalar { text, kind })
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
            ("a: 0x1f", ScalarKind::Int(31)),
            ("a: 1.5", ScalarKind::Float(1.5)),
            ("a: 1e3", ScalarKind::Float(1000.0)),
            ("a: true", ScalarKind::Bool(true)),
            ("a: FALSE", ScalarKind::Bool(false)),
            ("a: ~", ScalarKind::Null),
            ("a:", ScalarKind::Null),
            ("a: yes", ScalarKind::Str),
            ("a: '123'", ScalarKind::Str),
            ("a: \"true\"", ScalarKind::Str),
            ("a: !!str 12", ScalarKind::Str),
            ("a: 1.2.3", ScalarKind::Str),
            ("a: 99999999999999999999", ScalarKind::Str),
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
    fn aliases_and_merge_keys_expand() {
        let node = root("base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  y: 3\ncopy: *b\n");
        assert_eq!(
            node.get("use").unwrap().to_json(),
            serde_json::json!({"y": 3, "x": 1})
        );
        assert_eq!(
            node.get("copy").unwrap().to_json(),
            serde_json::json!({"x": 1, "y": 2})
        );
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
            ("a: !!int abc\n".into(), "not a valid !!int"),
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
}
