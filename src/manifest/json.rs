//! The JSON fast path of [`super::yaml`]: a text that is plain JSON (an object or an array, as
//! `gcloud ... --format json` and `kubectl ... -o json` print) is read by this tokenizer instead
//! of the YAML parser, and its tokens are fed, as the YAML parser's events, to the same tree
//! builder: the tree, its marks, the duplicate-key check, the budgets and the plain-scalar
//! refusals are the YAML path's by construction.
//!
//! It only reads what it is sure the YAML parser reads the same way: anything else (a syntax
//! error, a tab, a carriage return, a comment, a control character, a long or multi-line key, a
//! surrogate escape, content after the value) makes it give up, and the text is read by the YAML
//! parser, which then gives its own error or tree. Pure: no I/O.

use saphyr_parser::{Event, Marker, ScalarStyle, Span};
use std::borrow::Cow;

/// Why the fast path gave up: the text is read by the YAML parser instead.
#[derive(Debug, PartialEq)]
pub struct GiveUp;

/// Whether the text starts (after spaces and line feeds) with `{` or `[`: the fast path is worth
/// trying.
pub fn looks_like_json(text: &str) -> bool {
    matches!(
        text.bytes().find(|b| !matches!(b, b' ' | b'\n')),
        Some(b'{' | b'[')
    )
}

/// Keys longer than this are left to the YAML parser (YAML limits implicit keys to 1024
/// characters).
const MAX_KEY_BYTES: usize = 1000;

/// Reads `text` as one JSON value, giving each token to `event` as the YAML parser's event with
/// its span, and returns the marker of the value's first character (where the YAML parser starts
/// the document). Gives up on what it does not read exactly as the YAML parser does, and when
/// `event` fails.
pub fn feed<'t, E>(
    text: &'t str,
    mut event: impl FnMut(Event<'t>, &Span) -> Result<(), E>,
) -> Result<Marker, GiveUp> {
    let mut reader = Reader {
        text,
        bytes: text.as_bytes(),
        position: 0,
        line: 1,
        column: 0,
        index: 0,
    };
    reader.skip_space();
    let start = reader.marker();
    // What each open collection expects next.
    #[derive(Clone, Copy, PartialEq)]
    enum Expect {
        /// A key or the end of a mapping (just after `{`).
        FirstKey,
        /// A key (after `,`).
        Key,
        /// `,` or `}` after a value.
        MapNext,
        /// A value or `]` (just after `[`).
        FirstItem,
        /// `,` or `]` after an item.
        SeqNext,
    }
    let mut stack: Vec<Expect> = Vec::new();
    let mut emit = |e: Event<'t>, at: Marker| event(e, &Span::new(at, at)).map_err(|_| GiveUp);
    // Reads one value (a scalar, or the opening of a collection).
    loop {
        // Here a value is expected.
        reader.skip_space();
        let at = reader.marker();
        match reader.peek() {
            Some(b'{') => {
                reader.advance_ascii(1);
                emit(Event::MappingStart(0, None), at)?;
                stack.push(Expect::FirstKey);
            }
            Some(b'[') => {
                reader.advance_ascii(1);
                emit(Event::SequenceStart(0, None), at)?;
                stack.push(Expect::FirstItem);
            }
            Some(b'"') => {
                let value = reader.string()?;
                emit(Event::Scalar(value, ScalarStyle::DoubleQuoted, 0, None), at)?;
            }
            Some(_) => {
                let token = reader.plain()?;
                emit(Event::Scalar(token.into(), ScalarStyle::Plain, 0, None), at)?;
            }
            None => return Err(GiveUp),
        }
        // After a value (or an opening): close what ends, then find where the next value goes.
        loop {
            reader.skip_space();
            let at = reader.marker();
            let Some(top) = stack.last_mut() else {
                // The whole value is read: only spaces and line feeds may follow.
                return if reader.peek().is_none() {
                    Ok(start)
                } else {
                    Err(GiveUp)
                };
            };
            match (*top, reader.peek()) {
                (Expect::FirstKey | Expect::MapNext, Some(b'}')) => {
                    reader.advance_ascii(1);
                    emit(Event::MappingEnd, at)?;
                    stack.pop();
                    continue;
                }
                (Expect::FirstItem | Expect::SeqNext, Some(b']')) => {
                    reader.advance_ascii(1);
                    emit(Event::SequenceEnd, at)?;
                    stack.pop();
                    continue;
                }
                (Expect::MapNext, Some(b',')) => {
                    reader.advance_ascii(1);
                    *top = Expect::Key;
                    continue;
                }
                (Expect::SeqNext, Some(b',')) => {
                    reader.advance_ascii(1);
                    *top = Expect::SeqNext;
                    // An item follows (not `]`: a trailing comma is not JSON).
                    reader.skip_space();
                    if reader.peek() == Some(b']') {
                        return Err(GiveUp);
                    }
                    break;
                }
                (Expect::FirstItem, Some(_)) => {
                    *top = Expect::SeqNext;
                    break;
                }
                (Expect::FirstKey | Expect::Key, Some(b'"')) => {
                    let key_start = reader.position;
                    let key = reader.string()?;
                    if reader.position - key_start > MAX_KEY_BYTES {
                        return Err(GiveUp);
                    }
                    // The colon on the key's line (YAML wants an implicit key on one line).
                    while reader.peek() == Some(b' ') {
                        reader.advance_ascii(1);
                    }
                    if reader.peek() != Some(b':') {
                        return Err(GiveUp);
                    }
                    reader.advance_ascii(1);
                    emit(Event::Scalar(key, ScalarStyle::DoubleQuoted, 0, None), at)?;
                    *top = Expect::MapNext;
                    break;
                }
                _ => return Err(GiveUp),
            }
        }
    }
}

/// A position in the text, counted as the YAML parser counts it (lines from 1, columns and
/// indices in characters from 0).
struct Reader<'t> {
    text: &'t str,
    bytes: &'t [u8],
    position: usize,
    line: usize,
    column: usize,
    index: usize,
}

impl<'t> Reader<'t> {
    fn marker(&self) -> Marker {
        Marker::new(self.index, self.line, self.column)
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.position).copied()
    }

    /// Moves over `n` ASCII characters of one line.
    fn advance_ascii(&mut self, n: usize) {
        self.position += n;
        self.column += n;
        self.index += n;
    }

    /// Spaces and line feeds (a tab or a carriage return is left where it is, and then refused
    /// by whoever expects a token).
    fn skip_space(&mut self) {
        while let Some(b) = self.peek() {
            match b {
                b' ' => self.advance_ascii(1),
                b'\n' => {
                    self.position += 1;
                    self.index += 1;
                    self.line += 1;
                    self.column = 0;
                }
                _ => break,
            }
        }
    }

    /// A number, `true`, `false` or `null`, as its text.
    fn plain(&mut self) -> Result<&'t str, GiveUp> {
        let start = self.position;
        let end = self.bytes[start..]
            .iter()
            .position(|b| !matches!(b, b'0'..=b'9' | b'a'..=b'z' | b'+' | b'-' | b'.' | b'E'))
            .map_or(self.bytes.len(), |n| start + n);
        let token = &self.text[start..end];
        let valid = matches!(token, "true" | "false" | "null") || is_json_number(token);
        if !valid {
            return Err(GiveUp);
        }
        self.advance_ascii(end - start);
        Ok(token)
    }

    /// A string, from its opening quote, unescaped. Gives up on control characters, characters
    /// YAML does not print, and surrogate escapes.
    fn string(&mut self) -> Result<Cow<'t, str>, GiveUp> {
        self.advance_ascii(1);
        let start = self.position;
        let mut owned: Option<String> = None;
        let mut chunk = start;
        loop {
            let Some(b) = self.peek() else {
                return Err(GiveUp);
            };
            match b {
                b'"' => {
                    let value = match owned {
                        None => Cow::Borrowed(&self.text[start..self.position]),
                        Some(mut s) => {
                            s.push_str(&self.text[chunk..self.position]);
                            Cow::Owned(s)
                        }
                    };
                    self.advance_ascii(1);
                    return Ok(value);
                }
                b'\\' => {
                    let s = owned.get_or_insert_with(String::new);
                    s.push_str(&self.text[chunk..self.position]);
                    let escape = self.bytes.get(self.position + 1).copied();
                    let (c, length) = match escape {
                        Some(b'"') => ('"', 2),
                        Some(b'\\') => ('\\', 2),
                        Some(b'/') => ('/', 2),
                        Some(b'b') => ('\u{8}', 2),
                        Some(b'f') => ('\u{c}', 2),
                        Some(b'n') => ('\n', 2),
                        Some(b'r') => ('\r', 2),
                        Some(b't') => ('\t', 2),
                        Some(b'u') => {
                            let hex = self
                                .text
                                .get(self.position + 2..self.position + 6)
                                .ok_or(GiveUp)?;
                            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                                return Err(GiveUp);
                            }
                            let code = u32::from_str_radix(hex, 16).map_err(|_| GiveUp)?;
                            (char::from_u32(code).ok_or(GiveUp)?, 6)
                        }
                        _ => return Err(GiveUp),
                    };
                    s.push(c);
                    self.advance_ascii(length);
                    chunk = self.position;
                }
                0x20..=0x7e => {
                    // The run of characters that need no attention.
                    let run = self.bytes[self.position..]
                        .iter()
                        .position(|&b| b == b'"' || b == b'\\' || !(0x20..0x7f).contains(&b))
                        .unwrap_or(self.bytes.len() - self.position);
                    self.advance_ascii(run);
                }
                0x00..=0x7f => return Err(GiveUp),
                _ => {
                    let c = self.text[self.position..].chars().next().ok_or(GiveUp)?;
                    if !is_printable(c) {
                        return Err(GiveUp);
                    }
                    self.position += c.len_utf8();
                    self.column += 1;
                    self.index += 1;
                }
            }
        }
    }
}

/// YAML's printable characters beyond ASCII (`c-printable`), less the byte order mark.
pub(super) fn is_printable(c: char) -> bool {
    matches!(c, '\u{85}' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
        && c != '\u{feff}'
}

/// JSON's number grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
fn is_json_number(token: &str) -> bool {
    let b = token.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            digits(&mut i);
        }
        _ => return false,
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_numbers_are_told_from_other_tokens() {
        let cases = [
            ("0", true),
            ("-0", true),
            ("12", true),
            ("1.5e-3", true),
            ("1E+2", true),
            ("01", false),
            ("1.", false),
            (".5", false),
            ("+1", false),
            ("1e", false),
            ("-", false),
            ("0x1f", false),
            ("1_000", false),
        ];
        for (token, number) in cases {
            assert_eq!(is_json_number(token), number, "{token}");
        }
    }

    #[test]
    fn the_fast_path_is_tried_on_objects_and_arrays_only() {
        let cases = [
            ("{}", true),
            ("\n  [1]", true),
            ("\t{}", false),
            ("# c\n{}", false),
            ("a: 1", false),
            ("\"s\"", false),
            ("", false),
        ];
        for (text, tried) in cases {
            assert_eq!(looks_like_json(text), tried, "{text:?}");
        }
    }
}
