//! What the gate's consumers read differently: the constructs the gate refuses. Pure.
//!
//! The gate reads YAML 1.2. The programs that act after it do not: kubectl reads YAML through
//! sigs.k8s.io/yaml over a go-yaml v2 fork (YAML 1.1 resolution, documents split by a line
//! reader at `---`), gcloud through ruamel.yaml forced to YAML 1.1. For every input the gate
//! either builds the objects they build, or refuses the input naming the construct and its line.
//! This module holds the refusals that are decided on the text or on one scalar; the tree builder
//! ([`super::yaml`]) calls them. The decision table is in the README ("What it refuses, and why").

use super::node::{Mark, ScalarKind};
use regex::Regex;
use std::sync::OnceLock;

/// A construct the consumers read differently from the gate, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub mark: Mark,
    /// The construct, as the message names it (`a merge key (<<)`).
    pub construct: String,
    /// Why it is refused and how to write it instead.
    pub reason: &'static str,
}

const LINE_BREAK: &str =
    "kubectl and gcloud (YAML 1.1) read it as a line break, YAML 1.2 does not; remove it";
const CONTROL: &str = "kubectl and gcloud refuse or read it differently; remove it";
const BOM: &str = "a byte order mark is only read at the start of the input; remove it";
const DIRECTIVE: &str =
    "kubectl reads only YAML 1.1 directives and %TAG changes what tags mean; remove the line";
const DOCUMENT_END: &str = "kubectl reads only the first document before `...` and gcloud refuses what follows; use `---` between documents";
const MARKER_CONTENT: &str =
    "kubectl splits documents at lines starting with `---` and refuses content after it; put the content on the next line";

/// What is refused at the start of `line` (its line break included, if any): a directive, content
/// after a `---` marker, or a document end marker; the construct and the reason.
fn marker_refusal(line: &str) -> Option<(&'static str, &'static str)> {
    let body = line.trim_end_matches(['\n', '\r']);
    if body.starts_with('%') {
        return Some(("a directive (%)", DIRECTIVE));
    }
    if let Some(rest) = body.strip_prefix("---") {
        let separated = rest.is_empty() || rest.starts_with([' ', '\t']);
        let trimmed = rest.trim();
        if !separated || !(trimmed.is_empty() || trimmed.starts_with('#')) {
            return Some(("content after a `---` document marker", MARKER_CONTENT));
        }
    }
    if let Some(rest) = body.strip_prefix("...") {
        if rest.is_empty() || rest.starts_with([' ', '\t']) {
            return Some(("a document end marker (...)", DOCUMENT_END));
        }
    }
    None
}

/// Whether nothing in `text` can be refused by [`screen_lines`], found without reading it line
/// by line: every byte printable ASCII, a tab or a line break, and no line whose start is
/// refused (only lines starting with `%`, `-` or `.` are looked at). A text this does not clear
/// is screened line by line, which names what is refused.
fn is_plainly_agreed(text: &str) -> bool {
    let bytes = text.as_bytes();
    let plain = |b: u8| (0x20..0x7f).contains(&b) || matches!(b, b'\t' | b'\n' | b'\r');
    // Chunks without an early exit within them, which the compiler turns into vector code.
    let all_plain = bytes
        .chunks(64)
        .all(|chunk| chunk.iter().fold(true, |all, &b| all & plain(b)));
    let refused_at = |start: usize| {
        matches!(bytes.get(start), Some(b'%' | b'-' | b'.')) && {
            let end = memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |i| start + i);
            marker_refusal(&text[start..end]).is_some()
        }
    };
    all_plain && !refused_at(0) && !memchr::memchr_iter(b'\n', bytes).any(|i| refused_at(i + 1))
}

/// Checks the text itself: characters that are line breaks or invalid to the consumers, byte order
/// marks after the start, directives, document end markers and `---` lines the consumers' document
/// splitter reads differently. `line_offset` is the number of lines before `text` in the whole
/// input; a byte order mark is allowed at the very start of the input only.
pub fn screen_text(text: &str, line_offset: u32) -> Result<(), Refusal> {
    if !is_plainly_agreed(text) {
        screen_lines(text, line_offset)?;
    }
    screen_lone_carriage_returns(text, line_offset)
}

/// [`screen_text`]'s reading of each line: its characters and how it starts.
fn screen_lines(text: &str, line_offset: u32) -> Result<(), Refusal> {
    for (row, line) in text.split_inclusive('\n').enumerate() {
        let line_number = row as u32 + 1 + line_offset;
        let at = |column: usize| Mark {
            line: line_number,
            column: column as u32 + 1,
        };
        // Most lines are printable ASCII: only the others are read character by character.
        let plain_ascii = line.is_ascii()
            && !line
                .bytes()
                .any(|b| (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r')) || b == 0x7f);
        let to_read = if plain_ascii { "" } else { line };
        for (column, c) in to_read.chars().enumerate() {
            let refused = |construct: String, reason| {
                Err(Refusal {
                    mark: at(column),
                    construct,
                    reason,
                })
            };
            match c {
                '\u{85}' | '\u{2028}' | '\u{2029}' => {
                    return refused(
                        format!("a YAML 1.1 line break (U+{:04X})", c as u32),
                        LINE_BREAK,
                    )
                }
                '\u{feff}' if row == 0 && column == 0 && line_offset == 0 => {}
                '\u{feff}' => return refused("a byte order mark (U+FEFF)".into(), BOM),
                '\t' | '\n' | '\r' => {}
                '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{fffe}' | '\u{ffff}' => {
                    return refused(format!("a control character (U+{:04X})", c as u32), CONTROL)
                }
                _ => {}
            }
        }
        let refused = |construct: &str, reason| {
            Err(Refusal {
                mark: at(0),
                construct: construct.into(),
                reason,
            })
        };
        if let Some((construct, reason)) = marker_refusal(line) {
            return refused(construct, reason);
        }
    }
    Ok(())
}

/// kubectl's document splitter reads lines ended by LF; YAML also ends a line at a CR alone. A
/// `---`, `...` or `%` line after a lone CR is a document boundary to YAML that kubectl does not
/// see: it hands both documents to go-yaml as one, which reads the first and drops the rest.
fn screen_lone_carriage_returns(text: &str, line_offset: u32) -> Result<(), Refusal> {
    let bytes = text.as_bytes();
    if !bytes.contains(&b'\r') {
        return Ok(());
    }
    // Lines as YAML counts them: LF, CRLF and a lone CR each end one.
    let mut line = line_offset + 1;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'\n' => line += 1,
            b'\r' if bytes.get(i + 1) != Some(&b'\n') => {
                line += 1;
                let next = &bytes[i + 1..];
                if next.starts_with(b"---") || next.starts_with(b"...") || next.starts_with(b"%") {
                    return Err(Refusal {
                        mark: Mark { line, column: 1 },
                        construct: "a document marker after a lone carriage return (CR without LF)".into(),
                        reason: "kubectl splits documents at LF line ends only and would read the first document alone; use LF or CRLF line ends",
                    });
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// What a consumer reads a plain scalar as, when that is not a string.
fn read_as_by_consumers(text: &str) -> Option<&'static str> {
    if matches!(
        text,
        "y" | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "on"
            | "On"
            | "ON"
            | "off"
            | "Off"
            | "OFF"
            | "true"
            | "True"
            | "TRUE"
            | "false"
            | "False"
            | "FALSE"
    ) {
        return Some("a boolean");
    }
    if matches!(text, "" | "~" | "null" | "Null" | "NULL") {
        return Some("a null");
    }
    match text {
        "=" => return Some("a YAML 1.1 value key (=)"),
        "<<" => return Some("a merge key (<<)"),
        _ => {}
    }
    if !text.starts_with([
        '-', '+', '.', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9',
    ]) {
        return None;
    }
    let patterns = consumer_patterns();
    if patterns.timestamp.is_match(text) {
        return Some("a date or time");
    }
    // go-yaml v2 removes `_` before reading numbers; ruamel's patterns allow it in place.
    let without_underscores = text.replace('_', "");
    let number = patterns.ruamel_int.is_match(text)
        || patterns.ruamel_float.is_match(text)
        || patterns.go_int.is_match(&without_underscores)
        || patterns.go_float.is_match(&without_underscores)
        || patterns.go_dot_float.is_match(text);
    number.then_some("a number")
}

struct ConsumerPatterns {
    ruamel_int: Regex,
    ruamel_float: Regex,
    timestamp: Regex,
    go_int: Regex,
    go_float: Regex,
    go_dot_float: Regex,
}

/// The YAML 1.1 implicit types of ruamel.yaml (`resolver.py`, version 1.1) and of go-yaml v2
/// (`resolve.go`: `strconv.ParseInt(s, 0, 64)` after removing `_`, its float pattern, and
/// `strconv.ParseFloat` for scalars starting with `.`).
fn consumer_patterns() -> &'static ConsumerPatterns {
    static PATTERNS: OnceLock<ConsumerPatterns> = OnceLock::new();
    PATTERNS.get_or_init(|| {
        let re = |pattern: &str| Regex::new(pattern).expect("a valid pattern");
        ConsumerPatterns {
            ruamel_int: re(concat!(
                r"^(?:[-+]?0b[0-1_]+|[-+]?0?[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)",
                r"|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$"
            )),
            ruamel_float: re(concat!(
                r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?",
                r"|[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)|\.[0-9_]+(?:[eE][-+][0-9]+)?",
                r"|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*",
                r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
            )),
            timestamp: re(concat!(
                r"^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]",
                r"|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?",
                r"(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?",
                r"(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$"
            )),
            go_int: re(r"^[-+]?(?:0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)$"),
            go_float: re(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$"),
            go_dot_float: re(r"^\.[0-9]+(?:[eE][-+]?[0-9]+)?$"),
        }
    })
}

fn is_decimal_int(text: &str) -> bool {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    digits == "0"
        || (digits.starts_with(['1', '2', '3', '4', '5', '6', '7', '8', '9'])
            && digits.bytes().all(|b| b.is_ascii_digit()))
}

fn is_decimal_fraction(text: &str) -> bool {
    let body = text.strip_prefix(['-', '+']).unwrap_or(text);
    match body.split_once('.') {
        Some((int, frac)) => {
            !int.is_empty()
                && !frac.is_empty()
                && int.bytes().all(|b| b.is_ascii_digit())
                && frac.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

/// Checks an unquoted, untagged scalar value that YAML 1.2 resolved to `core`. Accepted: the
/// spellings every reader reads alike (`null`, `~`, nothing; `true`/`false` in three cases;
/// decimal integers that fit 64 bits; decimal fractions that are not whole numbers) and strings
/// that no consumer reads as anything but a string. Refused otherwise, with what a consumer
/// reads it as.
pub fn check_plain_value(text: &str, core: ScalarKind) -> Result<(), String> {
    let agreed = match core {
        ScalarKind::Null | ScalarKind::Bool(_) => true,
        ScalarKind::Int(_) => is_decimal_int(text),
        ScalarKind::Float(f) => is_decimal_fraction(text) && f.is_finite() && f.fract() != 0.0,
        ScalarKind::Str => read_as_by_consumers(text).is_none(),
    };
    if agreed {
        return Ok(());
    }
    let read_as = match (core, read_as_by_consumers(text)) {
        (ScalarKind::Float(_), _) => "a number whose type or value differs between readers",
        (ScalarKind::Int(_), _) => "a number in a YAML 1.1 spelling (hex, octal, ...)",
        (_, Some(read_as)) => read_as,
        (_, None) => "something else",
    };
    Err(format!(
        "a plain scalar: an unquoted value that kubectl or gcloud (YAML 1.1) read as {read_as}"
    ))
}

/// Checks an unquoted, untagged mapping key: it must be a string to every reader.
pub fn check_plain_key(text: &str, core: ScalarKind) -> Result<(), String> {
    let read_as = match core {
        ScalarKind::Str => read_as_by_consumers(text),
        ScalarKind::Null => Some("a null"),
        ScalarKind::Bool(_) => Some("a boolean"),
        ScalarKind::Int(_) | ScalarKind::Float(_) => Some("a number"),
    };
    match read_as {
        None => Ok(()),
        Some("a merge key (<<)") => Err("a merge key (<<)".into()),
        Some(read_as) => Err(format!(
            "a key that is not a string: an unquoted key that kubectl or gcloud (YAML 1.1) read as {read_as}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_screen_refuses_what_the_consumers_split_or_break_differently() {
        // (text, expected construct or None, line)
        let cases: &[(&str, Option<&str>, u32)] = &[
            ("a: 1\n", None, 0),
            ("\u{feff}a: 1\n", None, 0),
            ("a: b\tc\r\n", None, 0),
            ("a: 1\n--- # next\nb: 2\n---\n", None, 0),
            ("a: é ü 日本\n", None, 0),
            ("a: 1\n# x\u{2028}b: 2\n", Some("line break (U+2028)"), 2),
            ("a: \"x\u{2029}y\"\n", Some("line break (U+2029)"), 1),
            ("a: x\u{85}y\n", Some("line break (U+0085)"), 1),
            ("a: 1\nb: x\u{1}\n", Some("control character (U+0001)"), 2),
            ("a: x\u{7f}\n", Some("control character (U+007F)"), 1),
            ("a: x\u{9b}\n", Some("control character (U+009B)"), 1),
            ("a: x\u{fffe}\n", Some("control character (U+FFFE)"), 1),
            ("a: x\u{ffff}\n", Some("control character (U+FFFF)"), 1),
            ("a: x\u{0}\n", Some("control character (U+0000)"), 1),
            ("a: 1\n\u{feff}b: 2\n", Some("byte order mark"), 2),
            ("a: 1\n---\n\u{feff}b: 2\n", Some("byte order mark"), 3),
            ("%YAML 1.1\n---\na: 1\n", Some("directive"), 1),
            ("%TAG !e! tag:x,2000:\n---\na: 1\n", Some("directive"), 1),
            ("a: 1\n...\nb: 2\n", Some("document end marker"), 2),
            ("--- {a: 1}\n", Some("content after a `---`"), 1),
            ("a: 1\n---#x\nb: 2\n", Some("content after a `---`"), 2),
            ("a: 1\n----\n", Some("content after a `---`"), 2),
            ("a: 1\rb: 2\r", None, 0),
            ("a: 1\r\n---\r\nb: 2\r\n", None, 0),
            ("a: 1\rb: 2\r---\rc: 3\r", Some("lone carriage return"), 3),
            ("a: 1\n\r...\r", Some("lone carriage return"), 3),
        ];
        for (text, expected, line) in cases {
            match (screen_text(text, 0), expected) {
                (Ok(()), None) => {}
                (Err(refusal), Some(construct)) => {
                    assert!(
                        refusal.construct.contains(construct),
                        "{text:?}: {refusal:?} is not {construct:?}"
                    );
                    assert_eq!(refusal.mark.line, *line, "{text:?}");
                }
                (got, expected) => panic!("{text:?}: got {got:?}, expected {expected:?}"),
            }
        }
        // The quick look clears only texts the line by line reading clears too.
        for (text, expected, _) in cases {
            if is_plainly_agreed(text) {
                assert_eq!(screen_lines(text, 0), Ok(()), "{text:?}");
            } else if expected.is_none() {
                assert!(
                    !text.is_ascii(),
                    "{text:?}: plain ASCII, the quick look clears it"
                );
            }
        }
        // A part of a larger text: lines count from the whole text, and a BOM is not at its start.
        let refusal = screen_text("\u{feff}a: 1\n", 10).unwrap_err();
        assert_eq!((refusal.mark.line, refusal.mark.column), (11, 1));
    }

    #[test]
    fn plain_scalars_are_accepted_only_where_every_reader_agrees() {
        use ScalarKind::*;
        let accepted = [
            ("", Null),
            ("~", Null),
            ("Null", Null),
            ("true", Bool(true)),
            ("FALSE", Bool(false)),
            ("123456789", Int(123456789)),
            ("-7", Int(-7)),
            ("+12", Int(12)),
            ("0", Int(0)),
            ("1.5", Float(1.5)),
            ("-0.25", Float(-0.25)),
            ("hello", Str),
            ("1.2.3", Str),
            ("512Mi", Str),
            ("1000m", Str),
            ("2fa-service", Str),
            ("projects/p/locations/l", Str),
            ("europe-west1", Str),
            ("10-4", Str),
            ("-", Str),
            (".", Str),
            ("yesterday", Str),
            ("nope", Str),
        ];
        for (text, kind) in accepted {
            assert_eq!(check_plain_value(text, kind), Ok(()), "{text:?}");
        }
        let refused = [
            ("yes", Str, "boolean"),
            ("No", Str, "boolean"),
            ("ON", Str, "boolean"),
            ("off", Str, "boolean"),
            ("y", Str, "boolean"),
            ("N", Str, "boolean"),
            ("0x1F", Int(31), "YAML 1.1 spelling"),
            ("0o17", Int(15), "YAML 1.1 spelling"),
            ("017", Int(17), "YAML 1.1 spelling"),
            ("0b101", Str, "number"),
            ("1_000", Str, "number"),
            ("1__", Str, "number"),
            ("+0x_1F", Str, "number"),
            ("1:20", Str, "number"),
            ("1:20.5", Str, "number"),
            ("1e3", Float(1000.0), "differs"),
            ("1.0", Float(1.0), "differs"),
            ("1.", Float(1.0), "differs"),
            (".5", Float(0.5), "differs"),
            ("1e400", Float(f64::INFINITY), "differs"),
            (".inf", Float(f64::INFINITY), "differs"),
            ("-.Inf", Float(f64::NEG_INFINITY), "differs"),
            (".NaN", Float(f64::NAN), "differs"),
            ("99999999999999999999", Str, "number"),
            ("2001-12-14", Str, "date"),
            ("2001-12-14t21:59:43.10-05:00", Str, "date"),
            ("2001-12-14 21:59:43.10 -5", Str, "date"),
            ("=", Str, "value key"),
            ("<<", Str, "merge key"),
        ];
        for (text, kind, expected) in refused {
            let message = check_plain_value(text, kind).expect_err(text);
            assert!(message.contains(expected), "{text:?}: {message:?}");
        }
    }

    #[test]
    fn plain_keys_must_be_strings_to_every_reader() {
        use ScalarKind::*;
        assert_eq!(check_plain_key("metadata", Str), Ok(()));
        assert_eq!(check_plain_key("run.googleapis.com/x", Str), Ok(()));
        for (text, kind) in [
            ("1", Int(1)),
            ("1.5", Float(1.5)),
            ("true", Bool(true)),
            ("~", Null),
            ("", Null),
            ("n", Str),
            ("on", Str),
            ("0b1", Str),
            ("2001-12-14", Str),
        ] {
            let message = check_plain_key(text, kind).expect_err(text);
            assert!(message.contains("not a string"), "{text:?}: {message}");
        }
        assert_eq!(
            check_plain_key("<<", Str),
            Err("a merge key (<<)".to_string())
        );
    }
}
