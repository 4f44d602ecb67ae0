//! Where each character of a YAML scalar's value was written in its file: plain, single- and
//! double-quoted (escapes included) and block scalars (literal `|` and folded `>`, any chomping
//! and indentation indicator). Pure.
//!
//! The parser gives where a scalar starts ([`Mark`]) and its value; this re-reads the source from
//! there, applying YAML's folding and escaping rules, and pairs each character of the value with
//! the line and column it came from. It checks every character it produces against the value, so
//! a source it does not read the way the parser did gives `None`, never a wrong position.

use super::node::Mark;

/// The position in the file of the character at 1-based `line` and `column` (counted in
/// characters) of a scalar's `value`; a position just past the end of the value maps just past
/// its last character (so does one further past the end of its line). `start` is the scalar node's mark. `None` when the position is outside the
/// value or the source at `start` does not spell `value`.
pub fn position_in_value(
    text: &str,
    start: Mark,
    value: &str,
    line: u32,
    column: u32,
) -> Option<Mark> {
    let offset = char_offset(value, line, column)?;
    let marks = value_marks(text, start, value)?;
    match marks.get(offset) {
        Some(mark) => Some(*mark),
        // Parsers report an unexpected end past the last character: just after it.
        None => Some(match marks.last() {
            Some(last) => Mark {
                line: last.line,
                column: last.column + 1,
            },
            None => start,
        }),
    }
}

/// The file position of every character of `value`, the scalar written at `start` in `text`.
pub fn value_marks(text: &str, start: Mark, value: &str) -> Option<Vec<Mark>> {
    let lines: Vec<Vec<char>> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l).chars().collect())
        .collect();
    let row = (start.line as usize).checked_sub(1)?;
    let col = (start.column as usize).checked_sub(1)?;
    let mut reader = Reader {
        lines: &lines,
        expected: value.chars().collect(),
        marks: Vec::with_capacity(value.len()),
    };
    // A block scalar's mark is where its content starts, below its header.
    if let Some(header) = block_header_above(&lines, row) {
        reader.block(header, Some(col));
        if reader.marks.len() == reader.expected.len() {
            return Some(reader.marks);
        }
        reader.marks.clear();
    }
    let (row, col) = skip_properties(&lines, row, col)?;
    match lines.get(row)?.get(col)? {
        '\'' => reader.flow(row, col + 1, Quote::Single),
        '"' => reader.flow(row, col + 1, Quote::Double),
        '|' | '>' => reader.block((row, col), None),
        _ => reader.flow(row, col, Quote::Plain),
    };
    (reader.marks.len() == reader.expected.len()).then_some(reader.marks)
}

/// The block scalar header (`|`, `>-`, `|2`...) ending the last non-blank line above `row`, if
/// that line ends with one: its row and column.
fn block_header_above(lines: &[Vec<char>], row: usize) -> Option<(usize, usize)> {
    let above = (0..row)
        .rev()
        .find(|r| lines[*r].iter().any(|c| !c.is_whitespace()))?;
    let line: String = lines[above].iter().collect();
    // The line without a trailing comment.
    let code = match line.find(" #") {
        Some(cut) => &line[..cut],
        None => line.as_str(),
    };
    let code = code.trim_end();
    let token_start = code.rfind(char::is_whitespace).map_or(0, |i| i + 1);
    let token: Vec<char> = code[token_start..].chars().collect();
    let is_header = matches!(token.first(), Some('|' | '>'))
        && token.len() <= 3
        && token[1..]
            .iter()
            .all(|c| matches!(c, '+' | '-' | '1'..='9'))
        && token[1..].iter().filter(|c| c.is_ascii_digit()).count() <= 1
        && token[1..].iter().filter(|c| !c.is_ascii_digit()).count() <= 1;
    is_header.then(|| (above, code[..token_start].chars().count()))
}

/// The 0-based character offset of a 1-based line and column in `value`.
fn char_offset(value: &str, line: u32, column: u32) -> Option<usize> {
    let (line, column) = (
        line.checked_sub(1)? as usize,
        column.checked_sub(1)? as usize,
    );
    let mut offset = 0;
    for (i, text) in value.split('\n').enumerate() {
        let len = text.chars().count();
        if i == line {
            return Some(offset + column.min(len));
        }
        offset += len + 1;
    }
    None
}

/// Skips a tag (`!!str`) and an anchor (`&a`) written before the scalar.
fn skip_properties(lines: &[Vec<char>], mut row: usize, mut col: usize) -> Option<(usize, usize)> {
    loop {
        let line = lines.get(row)?;
        match line.get(col) {
            Some('!' | '&') => {
                while line.get(col).is_some_and(|c| !c.is_whitespace()) {
                    col += 1;
                }
            }
            Some(' ' | '\t') => col += 1,
            Some(_) => return Some((row, col)),
            None => {
                row += 1;
                col = 0;
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Quote {
    Plain,
    Single,
    Double,
}

struct Reader<'a> {
    lines: &'a [Vec<char>],
    expected: Vec<char>,
    marks: Vec<Mark>,
}

fn mark(row: usize, col: usize) -> Mark {
    Mark {
        line: row as u32 + 1,
        column: col as u32 + 1,
    }
}

impl Reader<'_> {
    fn done(&self) -> bool {
        self.marks.len() >= self.expected.len()
    }

    /// Records `c`, read at `at`; false (stop) when it is not the next character of the value.
    fn push(&mut self, c: char, at: Mark) -> bool {
        if self.expected.get(self.marks.len()) != Some(&c) {
            return false;
        }
        self.marks.push(at);
        true
    }

    /// A plain or quoted scalar from `row`, `col` (after the opening quote).
    fn flow(&mut self, mut row: usize, mut col: usize, quote: Quote) {
        // Whitespace is held back: it is dropped when a line break follows it.
        let mut spaces: Vec<(char, Mark)> = Vec::new();
        loop {
            if self.done() {
                return;
            }
            let Some(line) = self.lines.get(row) else {
                return;
            };
            let Some(&c) = line.get(col) else {
                // A line break folds: into a space, or one newline per empty line after it.
                let break_at = spaces.first().map_or(mark(row, col), |s| s.1);
                spaces.clear();
                let (next_row, next_col, empty) = self.next_content_line(row + 1);
                let folded: Vec<(char, Mark)> = if empty.is_empty() {
                    vec![(' ', break_at)]
                } else {
                    empty.into_iter().map(|r| ('\n', mark(r, 0))).collect()
                };
                for (c, at) in folded {
                    if !self.push(c, at) {
                        return;
                    }
                }
                (row, col) = (next_row, next_col);
                continue;
            };
            let at = mark(row, col);
            if c == ' ' || c == '\t' {
                spaces.push((c, at));
                col += 1;
                continue;
            }
            for (s, s_at) in spaces.drain(..) {
                if !self.push(s, s_at) {
                    return;
                }
            }
            match (quote, c) {
                (Quote::Single, '\'') if line.get(col + 1) == Some(&'\'') => {
                    if !self.push('\'', at) {
                        return;
                    }
                    col += 2;
                }
                (Quote::Single, '\'') | (Quote::Double, '"') => return,
                (Quote::Double, '\\') => {
                    if col + 1 == line.len() {
                        // An escaped line break: nothing, and the next line's indentation goes.
                        let (next_row, next_col, empty) = self.next_content_line(row + 1);
                        for r in empty {
                            if !self.push('\n', mark(r, 0)) {
                                return;
                            }
                        }
                        (row, col) = (next_row, next_col);
                        continue;
                    }
                    let Some((escaped, len)) = unescape(&line[col + 1..]) else {
                        return;
                    };
                    if !self.push(escaped, at) {
                        return;
                    }
                    col += 1 + len;
                }
                _ => {
                    if !self.push(c, at) {
                        return;
                    }
                    col += 1;
                }
            }
        }
    }

    /// The first line from `row` with something but whitespace on it, where that starts, and the
    /// empty (or blank) lines before it.
    fn next_content_line(&self, mut row: usize) -> (usize, usize, Vec<usize>) {
        let mut empty = Vec::new();
        while let Some(line) = self.lines.get(row) {
            match line.iter().position(|c| *c != ' ' && *c != '\t') {
                Some(col) => return (row, col, empty),
                None => empty.push(row),
            }
            row += 1;
        }
        (row, 0, empty)
    }

    /// A block scalar whose header (`|`, `>-`, `|2+`...) is at `row`, `col`; `content_col` is
    /// the column its content starts at, when known (the parser's mark for it).
    fn block(&mut self, (row, col): (usize, usize), content_col: Option<usize>) {
        let header = &self.lines[row];
        let folded = header[col] == '>';
        let mut explicit = None;
        for c in header[col + 1..].iter().take(2) {
            if let Some(d) = c.to_digit(10) {
                explicit = Some(d as usize);
            }
        }
        let first = row + 1;
        let indent = match (content_col, explicit) {
            (Some(col), _) => col,
            (None, Some(n)) => header.iter().take_while(|c| **c == ' ').count() + n,
            (None, None) => {
                let content = self.lines[first.min(self.lines.len())..]
                    .iter()
                    .find(|l| l.iter().any(|c| *c != ' '));
                match content {
                    Some(l) => l.iter().take_while(|c| **c == ' ').count(),
                    None => return,
                }
            }
        };
        let is_blank = |line: &Vec<char>| line.len() <= indent && line.iter().all(|c| *c == ' ');
        // Empty lines before the next content line, each a line break.
        let mut breaks: Vec<Mark> = Vec::new();
        let mut line_break: Option<Mark> = None;
        let mut leading_non_space = false;
        let mut r = first;
        while let Some(line) = self.lines.get(r) {
            if self.done() {
                return;
            }
            if is_blank(line) {
                breaks.push(mark(r, line.len()));
                r += 1;
                continue;
            }
            if line.iter().take(indent).any(|c| *c != ' ') || line.len() < indent {
                break; // less indented: the scalar has ended
            }
            let starts_with_space = matches!(line.get(indent), Some(' ' | '\t'));
            if let Some(lb) = line_break.take() {
                if folded && leading_non_space && !starts_with_space {
                    if breaks.is_empty() && !self.push(' ', lb) {
                        return;
                    }
                } else if !self.push('\n', lb) {
                    return;
                }
            }
            for b in breaks.drain(..) {
                if !self.push('\n', b) {
                    return;
                }
            }
            leading_non_space = !starts_with_space;
            for (i, c) in line.iter().enumerate().skip(indent) {
                if !self.push(*c, mark(r, i)) {
                    return;
                }
            }
            line_break = Some(mark(r, line.len()));
            r += 1;
        }
        // The end: the last line break and trailing empty lines, as far as chomping kept them.
        for b in line_break.into_iter().chain(breaks) {
            if !self.push('\n', b) {
                return;
            }
        }
    }
}

/// The character a double-quoted escape (after its backslash) stands for, and its length.
fn unescape(rest: &[char]) -> Option<(char, usize)> {
    let simple = match rest.first()? {
        '0' => '\0',
        'a' => '\u{7}',
        'b' => '\u{8}',
        't' | '\t' => '\t',
        'n' => '\n',
        'v' => '\u{b}',
        'f' => '\u{c}',
        'r' => '\r',
        'e' => '\u{1b}',
        ' ' => ' ',
        '"' => '"',
        '/' => '/',
        '\\' => '\\',
        'N' => '\u{85}',
        '_' => '\u{a0}',
        'L' => '\u{2028}',
        'P' => '\u{2029}',
        'x' => return hex(rest, 2),
        'u' => return hex(rest, 4),
        'U' => return hex(rest, 8),
        _ => return None,
    };
    Some((simple, 1))
}

fn hex(rest: &[char], digits: usize) -> Option<(char, usize)> {
    let text: String = rest.get(1..=digits)?.iter().collect();
    let code = u32::from_str_radix(&text, 16).ok()?;
    Some((char::from_u32(code)?, 1 + digits))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::yaml::{parse_stream, Limits};

    /// The `expression` node of the first document of `yaml`.
    fn expression(yaml: &str) -> Option<crate::manifest::Node> {
        let docs = parse_stream(yaml, &Limits::default()).ok()?;
        docs.into_iter().next()?.root?.get("expression").cloned()
    }

    /// The position of (line, column) of the `expression` value in `yaml`, found through the
    /// parser's mark for it, as `line:column`.
    fn locate(yaml: &str, line: u32, column: u32) -> Option<String> {
        let node = expression(yaml).unwrap();
        let value = node.as_str().unwrap();
        position_in_value(yaml, node.mark, value, line, column).map(|m| m.to_string())
    }

    #[test]
    fn positions_in_each_scalar_style() {
        // (yaml, line and column in the value, expected line:column in the file)
        let cases: &[(&str, (u32, u32), &str)] = &[
            // plain
            ("kind: X\nexpression: a == b\n", (1, 6), "2:18"),
            ("kind: X\nexpression: a == b\n", (1, 7), "2:19"),
            ("kind: X\nexpression: a == b\n", (1, 1), "2:13"),
            // plain, folded over lines: the break is a space, indentation goes
            ("expression: a ==\n  b.c\n", (1, 6), "2:3"),
            ("expression: a ==\n  b.c\n", (1, 8), "2:5"),
            ("expression: a ==   \n\n  b\n", (2, 1), "3:3"),
            // single-quoted, with a doubled quote
            ("expression: 'a == ''x'' && b'\n", (1, 6), "1:19"),
            ("expression: 'a == ''x'' && b'\n", (1, 13), "1:28"),
            ("expression: 'x ||\n    y'\n", (1, 6), "2:5"),
            // double-quoted, with escapes
            ("expression: \"a == \\\"x\\\" && b\"\n", (1, 6), "1:19"),
            ("expression: \"a == \\\"x\\\" && b\"\n", (1, 13), "1:28"),
            ("expression: \"\\u00e9 + b\"\n", (1, 5), "1:23"),
            ("expression: \"a +\\\n    b\"\n", (1, 4), "2:5"),
            ("expression: \"a\\tb\\nc\"\n", (2, 1), "1:20"),
            // literal block
            ("expression: |\n  a &&\n    b.c\n", (2, 3), "3:5"),
            ("expression: |-\n  a\n\n  b\n", (3, 1), "4:3"),
            ("expression: |2\n    a\n", (1, 3), "2:5"),
            // folded block: lines joined with spaces, more-indented lines kept
            ("expression: >-\n  a &&\n  b.c\n", (1, 6), "3:3"),
            ("expression: >\n  a\n\n  b\n", (2, 1), "4:3"),
            ("expression: >-\n  a\n    b\n  c\n", (3, 1), "4:3"),
            // past the end: just after the last character
            ("expression: a.b.\n", (1, 5), "1:17"),
            ("expression: |-\n  a.b.\n", (1, 5), "2:7"),
            // non-ASCII: columns count characters
            ("expression: x + 'é' + y\n", (1, 11), "1:23"),
            // CRLF line endings
            (
                "kind: X\r\nexpression: |\r\n  a\r\n  b.c\r\n",
                (2, 2),
                "4:4",
            ),
            // a tag before the scalar
            ("expression: !!str 'a + b'\n", (1, 5), "1:24"),
        ];
        for (yaml, (line, column), expected) in cases {
            assert_eq!(
                locate(yaml, *line, *column).as_deref(),
                Some(*expected),
                "{yaml:?} at {line}:{column}"
            );
        }
    }

    #[test]
    fn every_character_is_accounted_for_or_none() {
        let cases = [
            "expression: >+\n  a\n\n  b\n\n\n",
            "expression: |+\n  a\n\n",
            "expression: \"a\\x41\\U0001F600 \\_b\"\n",
            "expression: 'one\n\n  two\n   three'\n",
            "expression:    plain   text  # a comment\n",
            "expression: |\n    deeper\n  shallower\n",
        ];
        for yaml in cases {
            let Some(node) = expression(yaml) else {
                continue;
            };
            let value = node.as_str().unwrap();
            let marks = value_marks(yaml, node.mark, value);
            assert_eq!(
                marks.map(|m| m.len()),
                Some(value.chars().count()),
                "{yaml:?}"
            );
        }
        // A mark that does not start the value gives nothing.
        assert_eq!(
            value_marks("expression: abc\n", mark(0, 0), "abc"),
            None,
            "wrong start"
        );
        assert_eq!(char_offset("ab\ncd", 2, 3), Some(5));
        assert_eq!(char_offset("ab\ncd", 2, 9), Some(5));
        assert_eq!(char_offset("ab", 3, 1), None);
    }
}
