//! JSON values written as new text in the style of the file around them: YAML block or flow
//! style, or JSON (pretty-printed with the file's indentation, or on one line).

use crate::manifest::yaml::{parse_stream, Limits};
use crate::manifest::{NodeValue, ScalarKind};
use serde_json::Value;

/// How a YAML string is quoted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Quote {
    /// Plain when that reads back as the same string, else double-quoted.
    Plain,
    /// Single-quoted when the string has no control characters, else double-quoted.
    Single,
    Double,
}

/// YAML text in a file's style.
pub(super) struct Yaml<'a> {
    pub nl: &'a str,
    /// Spaces a nested map is indented by.
    pub step: usize,
    /// Spaces the dashes of a list are indented by under its key.
    pub seq_indent: usize,
    pub keys: Quote,
    pub values: Quote,
}

impl Yaml<'_> {
    pub fn key(&self, key: &str, flow: bool) -> String {
        string(key, self.keys, flow)
    }

    /// A scalar, or an empty map or list, on one line.
    pub fn inline(&self, value: &Value, quote: Quote, flow: bool) -> Option<String> {
        Some(match value {
            Value::String(s) => string(s, quote, flow),
            Value::Object(m) if !m.is_empty() => return None,
            Value::Array(a) if !a.is_empty() => return None,
            other => literal(other),
        })
    }

    /// `key: value` at `indent` (the first line without its indentation); maps and lists in
    /// block style on the lines below.
    pub fn block_entry(&self, key: &str, value: &Value, indent: usize) -> String {
        let mut out = self.key(key, false);
        out.push(':');
        match self.inline(value, self.values, false) {
            Some(scalar) => {
                out.push(' ');
                out.push_str(&scalar);
            }
            None => out.push_str(&self.block_children(value, indent)),
        }
        out
    }

    /// The lines of a map or a list under a key at `indent`, each starting with a line break.
    pub fn block_children(&self, value: &Value, indent: usize) -> String {
        let mut out = String::new();
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    self.line(&mut out, indent + self.step);
                    out.push_str(&self.block_entry(k, v, indent + self.step));
                }
            }
            Value::Array(items) => {
                for item in items {
                    self.line(&mut out, indent + self.seq_indent);
                    out.push_str("- ");
                    out.push_str(&self.item_body(item, indent + self.seq_indent));
                }
            }
            _ => {}
        }
        out
    }

    /// A list item's value after its `- ` (the dash at `dash`): a map's first entry on the
    /// dash's line, the others below it.
    pub fn item_body(&self, value: &Value, dash: usize) -> String {
        let inner = dash + 2;
        let mut out = String::new();
        match value {
            Value::Object(map) if !map.is_empty() => {
                for (i, (k, v)) in map.iter().enumerate() {
                    if i > 0 {
                        self.line(&mut out, inner);
                    }
                    out.push_str(&self.block_entry(k, v, inner));
                }
            }
            Value::Array(items) if !items.is_empty() => {
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.line(&mut out, inner);
                    }
                    out.push_str("- ");
                    out.push_str(&self.item_body(item, inner));
                }
            }
            scalar => out.push_str(&self.inline(scalar, self.values, false).unwrap_or_default()),
        }
        out
    }

    /// A value in flow style on one line: `{a: b, c: [d]}`.
    pub fn flow(&self, value: &Value) -> String {
        match value {
            Value::Object(map) if !map.is_empty() => {
                let members: Vec<String> = map
                    .iter()
                    .map(|(k, v)| format!("{}: {}", self.key(k, true), self.flow(v)))
                    .collect();
                format!("{{{}}}", members.join(", "))
            }
            Value::Array(items) if !items.is_empty() => {
                let items: Vec<String> = items.iter().map(|v| self.flow(v)).collect();
                format!("[{}]", items.join(", "))
            }
            scalar => self.inline(scalar, self.values, true).unwrap_or_default(),
        }
    }

    fn line(&self, out: &mut String, indent: usize) {
        out.push_str(self.nl);
        out.extend(std::iter::repeat_n(' ', indent));
    }
}

/// JSON text in a file's style.
pub(super) struct Json<'a> {
    pub nl: &'a str,
    /// The indentation one level adds; `None` writes everything on one line.
    pub step: Option<&'a str>,
    /// `": "` or `":"`.
    pub colon: &'a str,
    /// `", "` or `","` (one-line objects).
    pub comma: &'a str,
}

impl Json<'_> {
    /// `"key": value`, a member whose line is indented by `indent`.
    pub fn member(&self, key: &str, value: &Value, indent: &str) -> String {
        format!(
            "{}{}{}",
            json_string(key),
            self.colon,
            self.value(value, indent)
        )
    }

    /// A value whose first line is indented by `indent`.
    pub fn value(&self, value: &Value, indent: &str) -> String {
        let (open, close, members): (char, char, Vec<(Option<&String>, &Value)>) = match value {
            Value::Object(map) if !map.is_empty() => {
                ('{', '}', map.iter().map(|(k, v)| (Some(k), v)).collect())
            }
            Value::Array(items) if !items.is_empty() => {
                ('[', ']', items.iter().map(|v| (None, v)).collect())
            }
            Value::String(s) => return json_string(s),
            other => return literal(other),
        };
        let inner = format!("{indent}{}", self.step.unwrap_or_default());
        let written: Vec<String> = members
            .into_iter()
            .map(|(k, v)| match k {
                Some(k) => self.member(k, v, &inner),
                None => self.value(v, &inner),
            })
            .collect();
        match self.step {
            Some(_) => {
                let separator = format!(",{}{inner}", self.nl);
                let body = written.join(&separator);
                format!("{open}{}{inner}{body}{}{indent}{close}", self.nl, self.nl)
            }
            None => format!("{open}{}{close}", written.join(self.comma)),
        }
    }
}

/// `null`, a bool or a number as JSON (and YAML) writes it.
fn literal(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => json_string(s),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

/// A YAML string in the given quoting, falling back to double quotes.
pub(super) fn string(s: &str, quote: Quote, flow: bool) -> String {
    match quote {
        Quote::Plain if plain_ok(s, flow) => s.to_owned(),
        Quote::Single if !s.chars().any(special) => format!("'{}'", s.replace('\'', "''")),
        _ => json_string(s),
    }
}

/// A JSON string, with the characters YAML 1.1 readers take as line breaks escaped too; a
/// valid YAML double-quoted scalar.
pub(super) fn json_string(s: &str) -> String {
    let quoted = serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
    if !quoted.contains(['\u{85}', '\u{2028}', '\u{2029}', '\u{feff}']) {
        return quoted;
    }
    quoted
        .chars()
        .map(|c| match c {
            '\u{85}' | '\u{2028}' | '\u{2029}' | '\u{feff}' => format!("\\u{:04x}", c as u32),
            c => c.to_string(),
        })
        .collect()
}

/// Characters that need double quotes: controls and line breaks of any YAML version.
fn special(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}')
}

/// Whether `s` written plain reads back as the same string, in YAML 1.2 and 1.1 readers alike.
pub(super) fn plain_ok(s: &str, flow: bool) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    let looks_like_number = first.is_ascii_digit()
        || (matches!(first, '.' | '+' | '-')
            && s.chars()
                .nth(1)
                .is_some_and(|c| c.is_ascii_digit() || c == '.'));
    let reserved = matches!(
        s.to_ascii_lowercase().as_str(),
        "y" | "yes"
            | "n"
            | "no"
            | "on"
            | "off"
            | "true"
            | "false"
            | "null"
            | "~"
            | ".inf"
            | "-.inf"
            | "+.inf"
            | ".nan"
    );
    let forbidden = s.chars().any(|c| special(c) || c == '\t')
        || s.starts_with(|c: char| "-?:,[]{}#&*!|>'\"%@`".contains(c) || c == ' ')
        || s.ends_with([' ', ':'])
        || s.contains(": ")
        || s.contains(" #")
        || (flow && s.contains([',', '[', ']', '{', '}']));
    !(looks_like_number || reserved || forbidden) && reads_back(s, flow)
}

/// Parses `s` as a plain value and checks it is the same string.
fn reads_back(s: &str, flow: bool) -> bool {
    let text = if flow {
        format!("[{s}]")
    } else {
        format!("k: {s}\n")
    };
    let Ok(mut docs) = parse_stream(&text, &Limits::default()) else {
        return false;
    };
    let Some(root) = docs.pop().and_then(|d| d.root) else {
        return false;
    };
    let value = match &root.value {
        NodeValue::Seq(items) if items.len() == 1 => &items[0],
        NodeValue::Map(entries) if entries.len() == 1 => &entries[0].value,
        _ => return false,
    };
    matches!(&value.value, NodeValue::Scalar(sc) if sc.kind == ScalarKind::Str && sc.text == s)
}
