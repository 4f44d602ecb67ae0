//! Manifests: text in, documents out. Pure: no files, no I/O.
//!
//! A text is YAML with any number of `---` documents, or JSON (one object, an array, or a
//! `kind: List` with `items`, as `gcloud ... list --format json` prints). Every document keeps the
//! positions of its fields. A text that cannot be read is an error naming the document and line:
//! it is never skipped.

pub mod agreement;
pub mod block;
pub mod cel_tree;
pub mod json;
pub mod node;
pub mod scalar;
pub mod shape;
pub mod yaml;

pub use node::{Entry, Mark, Node, NodeValue, ScalarKind};
pub use yaml::Limits;

/// Budgets for reading one input text.
#[derive(Clone, Copy, Debug)]
pub struct ReadLimits {
    /// Largest text, in bytes.
    pub max_bytes: usize,
    pub yaml: Limits,
}

impl Default for ReadLimits {
    fn default() -> Self {
        ReadLimits {
            max_bytes: 32 * 1024 * 1024,
            yaml: Limits::default(),
        }
    }
}

/// Why a text could not be read as manifests.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ManifestError {
    #[error("input is too large: {size} bytes, the limit is {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("invalid UTF-8 at line {line}, byte {offset}")]
    InvalidUtf8 { line: usize, offset: usize },
    #[error("document {document}: {source}")]
    Yaml {
        document: usize,
        #[source]
        source: yaml::YamlError,
    },
    #[error("document {document} (line {line}): expected an object, found a {found}")]
    NotAnObject {
        document: usize,
        line: u32,
        found: &'static str,
    },
    #[error("document {document} (line {line}): {message}")]
    BadIdentity {
        document: usize,
        line: u32,
        message: String,
    },
    #[error("no documents in the input")]
    NoDocuments,
}

impl ManifestError {
    /// The same error for a part that had `yaml_documents` YAML documents and `objects` objects
    /// before it (see [`split_stream`]).
    pub fn shifted(self, yaml_documents: usize, objects: usize) -> ManifestError {
        match self {
            ManifestError::Yaml { document, source } => ManifestError::Yaml {
                document: document + yaml_documents,
                source,
            },
            ManifestError::NotAnObject {
                document,
                line,
                found,
            } => ManifestError::NotAnObject {
                document: document + objects,
                line,
                found,
            },
            ManifestError::BadIdentity {
                document,
                line,
                message,
            } => ManifestError::BadIdentity {
                document: document + objects,
                line,
                message,
            },
            other => other,
        }
    }
}

/// One object of an input, with what identifies it.
#[derive(Debug, Clone)]
pub struct Document {
    /// 0-based position among the objects of its text (items of a list count one each).
    pub index: usize,
    /// The line the object starts on.
    pub line: u32,
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub namespace: String,
    pub root: Node,
}

impl Document {
    /// The API group of `apiVersion` (`""` for the core group).
    pub fn group(&self) -> &str {
        self.api_version
            .rsplit_once('/')
            .map_or("", |(group, _)| group)
    }

    /// The version part of `apiVersion`.
    pub fn version(&self) -> &str {
        self.api_version
            .rsplit_once('/')
            .map_or(self.api_version.as_str(), |(_, v)| v)
    }
}

/// Checks the size and encoding of raw input.
pub fn decode<'a>(bytes: &'a [u8], limits: &ReadLimits) -> Result<&'a str, ManifestError> {
    if bytes.len() > limits.max_bytes {
        return Err(ManifestError::TooLarge {
            size: bytes.len(),
            limit: limits.max_bytes,
        });
    }
    std::str::from_utf8(bytes).map_err(|e| {
        let offset = e.valid_up_to();
        let line = bytes[..offset].iter().filter(|&&b| b == b'\n').count() + 1;
        ManifestError::InvalidUtf8 { line, offset }
    })
}

/// Parses every object of a text.
pub fn parse_documents(text: &str, limits: &ReadLimits) -> Result<Vec<Document>, ManifestError> {
    if text.len() > limits.max_bytes {
        return Err(ManifestError::TooLarge {
            size: text.len(),
            limit: limits.max_bytes,
        });
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let parsed = parse_part(text, limits, Part::default())?;
    if parsed.documents.is_empty() {
        return Err(ManifestError::NoDocuments);
    }
    Ok(parsed.documents)
}

/// Where a part of a text starts: its first line's number less one, how many YAML documents
/// and objects came before it, and what the parts before counted against the budgets.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Part {
    pub line_offset: u32,
    pub yaml_documents: usize,
    pub objects: usize,
    pub counts: yaml::Counts,
}

/// The objects of one part of a text, numbered as in the whole text.
#[derive(Debug)]
pub struct ParsedPart {
    pub documents: Vec<Document>,
    /// YAML documents in the part, empty ones included.
    pub yaml_documents: usize,
    /// The budgets' counts at the end of the part (the parts before included).
    pub counts: yaml::Counts,
}

/// Splits a YAML stream into at most `parts` texts at document boundaries (lines starting with
/// `---`, which YAML forbids inside any scalar), of roughly equal size, so that they can be
/// parsed in parallel. Each text comes with the number of lines before it.
pub fn split_stream(text: &str, parts: usize) -> Vec<(u32, &str)> {
    let mut pieces = Vec::new();
    if parts <= 1 {
        pieces.push((0, text));
        return pieces;
    }
    let bytes = text.as_bytes();
    let target = text.len() / parts + 1;
    let markers = memchr::memmem::Finder::new(b"\n---");
    let (mut start, mut start_line) = (0usize, 0u32);
    // Lines counted up to `counted`; markers searched for from `from`.
    let (mut counted, mut line, mut from) = (0usize, 0u32, 0usize);
    while pieces.len() + 1 < parts {
        // A cut starts a line at least `target` bytes into the piece: its newline comes first.
        let search = from.max(start + target - 1);
        let Some(found) = bytes.get(search..).and_then(|rest| markers.find(rest)) else {
            break;
        };
        let offset = search + found + 1;
        from = offset;
        let is_marker = matches!(
            bytes.get(offset + 3),
            None | Some(b' ' | b'\t' | b'\n' | b'\r')
        );
        // A marker right after a directive line (`%YAML 1.2`) belongs to that document.
        let previous_line = memchr::memrchr(b'\n', &bytes[..offset - 1]).map_or(0, |i| i + 1);
        if !is_marker || bytes[previous_line] == b'%' {
            continue;
        }
        line += memchr::memchr_iter(b'\n', &bytes[counted..offset]).count() as u32;
        counted = offset;
        pieces.push((start_line, &text[start..offset]));
        start = offset;
        start_line = line;
    }
    pieces.push((start_line, &text[start..]));
    pieces
}

/// Parses a part of a text (see [`split_stream`]); an empty part is no error.
pub fn parse_part(
    text: &str,
    limits: &ReadLimits,
    part: Part,
) -> Result<ParsedPart, ManifestError> {
    let (streams, counts) =
        yaml::parse_stream_counted(text, &limits.yaml, part.line_offset, part.counts).map_err(
            |e| ManifestError::Yaml {
                document: e.document + part.yaml_documents,
                source: e.error,
            },
        )?;
    let yaml_documents = streams.len();
    let mut documents = Vec::new();
    let identify = |index: usize, node: Node| identify(index + part.objects, node);
    for doc in streams {
        let Some(root) = doc.root.filter(|r| !r.is_null()) else {
            continue;
        };
        let index = documents.len();
        match &root.value {
            NodeValue::Seq(_) => {
                let NodeValue::Seq(items) = root.value else {
                    unreachable!()
                };
                for item in items {
                    refuse_items_field(&item, documents.len() + part.objects, "in a list")?;
                    documents.push(identify(documents.len(), item)?);
                }
            }
            NodeValue::Map(_) if is_list(&root) => {
                let NodeValue::Map(entries) = root.value else {
                    unreachable!()
                };
                let items = entries
                    .into_iter()
                    .find(|e| e.key == "items")
                    .map(|e| e.value);
                match items.map(|i| i.value) {
                    Some(NodeValue::Seq(items)) => {
                        for item in items {
                            refuse_items_field(&item, documents.len() + part.objects, "in a List")?;
                            documents.push(identify(documents.len(), item)?);
                        }
                    }
                    Some(NodeValue::Scalar(s)) if s.kind == ScalarKind::Null => {}
                    _ => {
                        return Err(ManifestError::BadIdentity {
                            document: index + part.objects,
                            line: doc.start.line,
                            message: "a List's items must be a list".into(),
                        })
                    }
                }
            }
            _ => {
                refuse_items_field(&root, index + part.objects, "outside a List")?;
                documents.push(identify(index, root)?);
            }
        }
    }
    Ok(ParsedPart {
        documents,
        yaml_documents,
        counts,
    })
}

/// An object given as a node (an item of a KRM ResourceList, say), identified as a document.
pub fn document_from_node(index: usize, root: Node) -> Result<Document, ManifestError> {
    identify(index, root)
}

/// kubectl reads any object with an `items` field as a List of those items (and refuses a List in
/// a List), whatever its kind: such an object, where the gate would judge it as itself, is refused.
fn refuse_items_field(object: &Node, document: usize, place: &str) -> Result<(), ManifestError> {
    match object.entry("items") {
        Some(items) => Err(ManifestError::BadIdentity {
            document,
            line: items.key_mark.line,
            message: format!(
                "an object with an `items` field {place}: kubectl reads it as a List of its items \
                 (and refuses a List nested in a List); the gate refuses it"
            ),
        }),
        None => Ok(()),
    }
}

fn is_list(root: &Node) -> bool {
    root.get("kind")
        .and_then(Node::as_str)
        .is_some_and(|k| k.ends_with("List"))
        && root.get("items").is_some()
        && root.get("apiVersion").is_some()
}

/// Reads apiVersion, kind, name and namespace. A scalar name or namespace written unquoted
/// (`namespace: 123456789`) is read as the text written.
fn identify(index: usize, root: Node) -> Result<Document, ManifestError> {
    let line = root.mark.line;
    if root.entries().is_none() {
        return Err(ManifestError::NotAnObject {
            document: index,
            line,
            found: root.type_name(),
        });
    }
    let required = |field: &str| -> Result<String, ManifestError> {
        match root.get(field) {
            Some(node) => {
                node.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| ManifestError::BadIdentity {
                        document: index,
                        line: node.mark.line,
                        message: format!("{field} must be a string, found a {}", node.type_name()),
                    })
            }
            None => Err(ManifestError::BadIdentity {
                document: index,
                line,
                message: format!("{field} is missing"),
            }),
        }
    };
    let api_version = required("apiVersion")?;
    let kind = required("kind")?;
    let metadata = root.get("metadata");
    let text_of = |field: &str| -> String {
        metadata
            .and_then(|m| m.get(field))
            .and_then(Node::scalar_text)
            .unwrap_or_default()
            .to_owned()
    };
    let (name, namespace) = (text_of("name"), text_of("namespace"));
    Ok(Document {
        index,
        line,
        api_version,
        kind,
        name,
        namespace,
        root,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<Document>, ManifestError> {
        parse_documents(text, &ReadLimits::default())
    }

    #[test]
    fn splits_yaml_streams_json_arrays_and_lists() {
        let cases = [
            (
                "apiVersion: v1\nkind: A\n---\napiVersion: v1\nkind: B\n---\n",
                vec!["A", "B"],
            ),
            (
                r#"[{"apiVersion": "v1", "kind": "A"}, {"apiVersion": "v1", "kind": "B"}]"#,
                vec!["A", "B"],
            ),
            (
                r#"{"apiVersion": "v1", "kind": "List", "items": [{"apiVersion": "v1", "kind": "C"}]}"#,
                vec!["C"],
            ),
            (
                "apiVersion: v1\nkind: ServiceList\nitems: []\n---\napiVersion: v1\nkind: D\n",
                vec!["D"],
            ),
        ];
        for (text, kinds) in cases {
            let docs = parse(text).unwrap();
            let got: Vec<_> = docs.iter().map(|d| d.kind.as_str()).collect();
            assert_eq!(got, kinds, "{text}");
            assert!(docs.iter().enumerate().all(|(i, d)| d.index == i));
        }
    }

    #[test]
    fn split_streams_parse_as_the_whole_text() {
        let text = "---\napiVersion: v1\nkind: A\n---\napiVersion: v1\nkind: B\nx: |\n  --- not a marker\n---\n\n--- # c\napiVersion: v1\nkind: C\n";
        let whole = parse(text).unwrap();
        for parts in 1..6 {
            let pieces = split_stream(text, parts);
            assert!(pieces.len() <= parts.max(1));
            assert!(parts == 1 || pieces.len() >= 2, "{parts} parts: not split");
            assert_eq!(pieces.iter().map(|(_, p)| *p).collect::<String>(), text);
            let mut documents = Vec::new();
            for (line_offset, piece) in pieces {
                let part = Part {
                    line_offset,
                    ..Part::default()
                };
                let mut parsed = parse_part(piece, &ReadLimits::default(), part).unwrap();
                for d in &mut parsed.documents {
                    d.index += documents.len();
                }
                documents.append(&mut parsed.documents);
            }
            let summary = |docs: &[Document]| {
                docs.iter()
                    .map(|d| (d.index, d.line, d.kind.clone()))
                    .collect::<Vec<_>>()
            };
            assert_eq!(summary(&documents), summary(&whole), "{parts} parts");
        }
    }

    /// `split_stream` as it was first written, line by line: the reference for the search.
    fn split_by_lines(text: &str, parts: usize) -> Vec<(u32, &str)> {
        if parts <= 1 {
            return vec![(0, text)];
        }
        let mut pieces = Vec::new();
        let target = text.len() / parts + 1;
        let (mut start, mut start_line, mut line, mut offset) = (0usize, 0u32, 0u32, 0usize);
        let mut previous_directive = false;
        for raw in text.split_inclusive('\n') {
            let is_marker = raw.starts_with("---")
                && matches!(
                    raw.as_bytes().get(3),
                    None | Some(b' ' | b'\t' | b'\n' | b'\r')
                );
            if is_marker
                && !previous_directive
                && offset - start >= target
                && pieces.len() + 1 < parts
            {
                pieces.push((start_line, &text[start..offset]));
                start = offset;
                start_line = line;
            }
            previous_directive = raw.starts_with('%');
            offset += raw.len();
            line += 1;
        }
        pieces.push((start_line, &text[start..]));
        pieces
    }

    #[test]
    fn split_streams_cut_where_a_line_by_line_reading_cuts() {
        let texts = [
            "a: 1\n---\nb: 2\n---\nc: 3\n---\nd: 4\n",
            "---\na: 1\n---\r\nb: 2\r\n--- # c\r\nc: 3\r\n---\td: 4\n---",
            "a: 1\n----\nb: |\n  ---\n---x\n--- !tag\nc: 3\n",
            "%YAML 1.2\n---\na: 1\n...\n%YAML 1.2\n---\nb: 2\n---\nc: 3\n",
            "\n\n---\n\n---\n\n---\n",
            "a: 1\n---",
            "no marker at all\nin this text\n",
            "",
        ];
        for text in texts {
            let long = text.repeat(7);
            for text in [text, long.as_str()] {
                for parts in 0..12 {
                    assert_eq!(
                        split_stream(text, parts),
                        split_by_lines(text, parts),
                        "{parts} parts of {text:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn identity_reads_unquoted_namespaces_and_positions() {
        let docs = parse("# c\napiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: s\n  namespace: 123456789\n").unwrap();
        let d = &docs[0];
        assert_eq!((d.group(), d.version()), ("serving.knative.dev", "v1"));
        assert_eq!((d.name.as_str(), d.namespace.as_str()), ("s", "123456789"));
        assert_eq!(d.line, 2);
    }

    #[test]
    fn bad_documents_are_errors_that_say_where() {
        let cases = [
            ("", "no documents"),
            ("# nothing\n", "no documents"),
            (
                "hello\n",
                "document 0 (line 1): expected an object, found a string",
            ),
            (
                "apiVersion: v1\nkind: A\n---\n- 1\n",
                "document 1 (line 4): expected an object, found a int",
            ),
            ("kind: A\n", "apiVersion is missing"),
            ("apiVersion: v1\nkind: [A]\n", "kind must be a string"),
            ("apiVersion: v1\nkind: A\n---\na: [\n", "document 1: line"),
            (
                "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: List\n  items: []\n",
                "document 0 (line 6): an object with an `items` field in a List",
            ),
            (
                "apiVersion: v1\nkind: A\n---\napiVersion: v1\nkind: Service\nitems:\n- {apiVersion: v1, kind: B}\n",
                "document 1 (line 6): an object with an `items` field outside a List: kubectl reads it as a List",
            ),
            (
                "[{apiVersion: v1, kind: A}, {apiVersion: v1, kind: B, items: []}]",
                "document 1 (line 1): an object with an `items` field in a list",
            ),
        ];
        for (text, expected) in cases {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(expected), "{err:?} lacks {expected:?}");
        }
        let err = decode(b"a: \xff\n", &ReadLimits::default()).unwrap_err();
        assert_eq!(err.to_string(), "invalid UTF-8 at line 1, byte 3");
        let small = ReadLimits {
            max_bytes: 4,
            ..Default::default()
        };
        assert!(matches!(
            decode(b"12345", &small),
            Err(ManifestError::TooLarge { .. })
        ));
    }
}
