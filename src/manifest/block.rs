//! The block-YAML fast path of [`super::yaml`]: a text written in the plain block style that
//! `kubectl get -o yaml`, `gcloud ... --format yaml`, Helm and most people write (block mappings
//! and sequences, plain and quoted scalars, wrapped onto more lines as gcloud wraps them at 80
//! columns, comments, `---` between documents) is read by this line reader instead of the YAML
//! parser, and its tokens are fed, as the YAML parser's events with the YAML parser's positions,
//! to the same tree builder: the tree, its marks, the duplicate-key check, the budgets and the
//! plain-scalar refusals are the YAML path's by construction.
//!
//! It only reads what it is sure the YAML parser reads the same way, and gives up on anything
//! else: a tab, a carriage return, a control character, a line break or a character the
//! consumers read differently; a block scalar (`|`, `>`), a flow collection other than an empty
//! `{}` or `[]`, an anchor, alias or tag, a directive or `...`; a key that goes on to the next
//! line, a continuation line that could be read as a key, a comment or an indicator; a
//! double-quoted scalar with an escape; an explicit key (`?`); a scalar document; a line
//! indented where the YAML parser would read it as an error. The text is then read by the YAML
//! parser, which gives its own tree or error. `integration/block_path.rs` compares the events of
//! both on every text the fast path takes. Pure: no I/O.

use super::json::{is_printable, GiveUp};
use saphyr_parser::{Event, Marker, ScalarStyle, Span};
use std::borrow::Cow;

/// The most collections open at once: the reader recurses once per node of a line.
const MAX_OPEN: usize = 256;

/// Keys longer than this are left to the YAML parser (YAML limits implicit keys to 1024
/// characters).
const MAX_KEY_BYTES: usize = 1000;

/// Reads every document of `text`, giving each token to `event` as the YAML parser's event with
/// its span (from `DocumentStart` to `DocumentEnd`; no `StreamStart` or `StreamEnd`). Gives up on
/// what it does not read exactly as the YAML parser does, and when `event` fails.
pub fn feed<'t, E>(
    text: &'t str,
    event: impl FnMut(Event<'t>, &Span) -> Result<(), E>,
) -> Result<(), GiveUp> {
    let ascii = check_characters(text)?;
    let mut reader = Reader {
        text,
        bytes: text.as_bytes(),
        ascii,
        line: Line::default(),
        stack: Vec::new(),
        pending: Pending::None,
        document: Document::None,
        event,
    };
    reader.read()
}

/// Whether the text is ASCII; gives up on a character the fast path does not read: a tab, a
/// carriage return, any other control character, and beyond ASCII what YAML does not print or
/// reads as a line break (NEL, LS, PS) or a byte order mark, and the no-break space (a blank to
/// some readers).
fn check_characters(text: &str) -> Result<bool, GiveUp> {
    let plain = |b: u8| (0x20..0x7f).contains(&b) || b == b'\n';
    // Chunks without an early exit within them, which the compiler turns into vector code.
    if text
        .as_bytes()
        .chunks(64)
        .all(|chunk| chunk.iter().fold(true, |all, &b| all & plain(b)))
    {
        return Ok(true);
    }
    let allowed = |c: char| match c {
        ' '..='~' | '\n' => true,
        '\u{85}' | '\u{a0}' | '\u{2028}' | '\u{2029}' => false,
        _ => is_printable(c),
    };
    if text.chars().all(allowed) {
        Ok(false)
    } else {
        Err(GiveUp)
    }
}

/// The line being read: byte offsets in the text, its number (from 1) and the character index of
/// its start, as the YAML parser counts them. The default is the line before the first (number
/// 0).
#[derive(Clone, Copy, Default)]
struct Line {
    start: usize,
    end: usize,
    number: usize,
    index: usize,
    ascii: bool,
}

/// An open block collection, by the column (in bytes of ASCII indentation) of its entries.
#[derive(Clone, Copy, Debug)]
enum Frame {
    Map {
        indent: usize,
    },
    /// `indentless`: the sequence is a mapping's value at the mapping's own indentation.
    Seq {
        indent: usize,
        indentless: bool,
    },
}

impl Frame {
    fn indent(self) -> usize {
        match self {
            Frame::Map { indent } | Frame::Seq { indent, .. } => indent,
        }
    }
}

/// A node that has begun without content on its line: what it is if no deeper line follows is an
/// empty scalar at this marker.
#[derive(Clone, Copy)]
enum Pending {
    None,
    /// `key:` and nothing after: the marker of the colon.
    MapValue(Marker),
    /// `-` and nothing after: the marker of the end of the dash's line.
    SeqItem(Marker),
}

/// Where the reader is in the stream of documents.
#[derive(Clone, Copy)]
enum Document {
    /// Before the first document.
    None,
    /// Inside a document begun by `---`, with no content yet.
    ExplicitEmpty,
    /// Inside a document with content.
    Content,
}

struct Reader<'t, F> {
    text: &'t str,
    bytes: &'t [u8],
    ascii: bool,
    line: Line,
    stack: Vec<Frame>,
    pending: Pending,
    document: Document,
    event: F,
}

/// What stops plain text on its line.
enum PlainStop {
    /// A colon and a space or the end of the line, at this byte: a key ends here.
    Colon(usize),
    /// A comment (` #`), from this byte.
    Comment(usize),
    End,
}

/// A mapping key read on its line.
struct Key<'t> {
    value: Cow<'t, str>,
    style: ScalarStyle,
    /// The byte of the colon after it.
    colon: usize,
}

impl<'t, E, F> Reader<'t, F>
where
    F: FnMut(Event<'t>, &Span) -> Result<(), E>,
{
    fn read(&mut self) -> Result<(), GiveUp> {
        while let Some(line) = self.line_after(self.line) {
            self.line = line;
            self.read_line()?;
        }
        // The end of the text, where the YAML parser's last token is: at the start of the line
        // after the last, as if the text ended with a line break.
        let last = self.line;
        let end = if last.number == 0 {
            Marker::new(0, 1, 0)
        } else {
            let chars = last.index + self.column_in(last, last.end);
            Marker::new(
                chars + usize::from(last.end < self.bytes.len()),
                last.number + 1,
                0,
            )
        };
        self.end_document(end)
    }

    /// The line after `line` (the first line after the default one), if the text goes on.
    fn line_after(&self, line: Line) -> Option<Line> {
        let (start, number, index) = if line.number == 0 {
            (0, 1, 0)
        } else {
            let chars = self.column_in(line, line.end);
            (line.end + 1, line.number + 1, line.index + chars + 1)
        };
        if start >= self.bytes.len() {
            return None;
        }
        let end =
            memchr::memchr(b'\n', &self.bytes[start..]).map_or(self.bytes.len(), |i| start + i);
        Some(Line {
            start,
            end,
            number,
            index,
            ascii: self.ascii || self.bytes[start..end].is_ascii(),
        })
    }

    /// The column of byte `at` of `line`, in characters.
    fn column_in(&self, line: Line, at: usize) -> usize {
        if line.ascii {
            at - line.start
        } else {
            self.text[line.start..at].chars().count()
        }
    }

    /// The column of byte `at` of the current line, in characters.
    fn column(&self, at: usize) -> usize {
        self.column_in(self.line, at)
    }

    fn marker(&self, at: usize) -> Marker {
        let column = self.column(at);
        Marker::new(self.line.index + column, self.line.number, column)
    }

    fn emit(&mut self, event: Event<'t>, at: Marker) -> Result<(), GiveUp> {
        (self.event)(event, &Span::new(at, at)).map_err(|_| GiveUp)
    }

    fn emit_empty(&mut self, at: Marker) -> Result<(), GiveUp> {
        self.emit(
            Event::Scalar(Cow::Borrowed(""), ScalarStyle::Plain, 0, None),
            at,
        )
    }

    fn byte(&self, at: usize) -> Option<u8> {
        (at < self.line.end).then(|| self.bytes[at])
    }

    /// Whether `at` is the end of the line or the start of a comment (a `#` after a space).
    fn ends_content(&self, at: usize) -> bool {
        match self.byte(at) {
            None => true,
            Some(b'#') => at > self.line.start && self.bytes[at - 1] == b' ',
            Some(_) => false,
        }
    }

    fn skip_spaces(&self, mut at: usize) -> usize {
        while self.byte(at) == Some(b' ') {
            at += 1;
        }
        at
    }

    /// Whether a block sequence entry (`-` then a space or the end of the line) starts at `at`.
    fn is_dash(&self, at: usize) -> bool {
        self.byte(at) == Some(b'-') && matches!(self.byte(at + 1), None | Some(b' '))
    }

    fn read_line(&mut self) -> Result<(), GiveUp> {
        let Line { start, end, .. } = self.line;
        let content = self.skip_spaces(start);
        if content == end || self.bytes[content] == b'#' {
            return Ok(()); // a blank line or a comment
        }
        let indent = content - start;
        if indent == 0 {
            match self.bytes[content] {
                b'-' if self.bytes[content..end].starts_with(b"---") => {
                    return self.document_marker();
                }
                b'.' if self.bytes[content..end].starts_with(b"...") => return Err(GiveUp),
                b'%' => return Err(GiveUp),
                _ => {}
            }
        }
        match self.document {
            Document::None => {
                let at = self.marker(content);
                self.emit(Event::DocumentStart(false), at)?;
            }
            Document::ExplicitEmpty => {}
            Document::Content => return self.content_line(indent, content),
        }
        self.document = Document::Content;
        if indent != 0 {
            // A root indented: left to the YAML parser.
            return Err(GiveUp);
        }
        self.node(indent, content)
    }

    /// A `---` line: only spaces and a comment may follow the marker.
    fn document_marker(&mut self) -> Result<(), GiveUp> {
        let start = self.line.start;
        let after = self.skip_spaces(start + 3);
        if after == start + 3 && after != self.line.end || !self.ends_content(after) {
            return Err(GiveUp);
        }
        let at = self.marker(start);
        self.end_document(at)?;
        self.emit(Event::DocumentStart(true), at)?;
        self.document = Document::ExplicitEmpty;
        Ok(())
    }

    /// Ends the current document (if any) where the next token (`at`) is.
    fn end_document(&mut self, at: Marker) -> Result<(), GiveUp> {
        match self.document {
            Document::None => return Ok(()),
            Document::ExplicitEmpty => self.emit_empty(at)?,
            Document::Content => {
                self.resolve_pending()?;
                while let Some(frame) = self.stack.pop() {
                    self.close(frame, at)?;
                }
            }
        }
        self.document = Document::None;
        self.emit(Event::DocumentEnd, at)
    }

    fn resolve_pending(&mut self) -> Result<(), GiveUp> {
        match std::mem::replace(&mut self.pending, Pending::None) {
            Pending::None => Ok(()),
            Pending::MapValue(at) | Pending::SeqItem(at) => self.emit_empty(at),
        }
    }

    fn close(&mut self, frame: Frame, at: Marker) -> Result<(), GiveUp> {
        let event = match frame {
            Frame::Map { .. } => Event::MappingEnd,
            Frame::Seq { .. } => Event::SequenceEnd,
        };
        self.emit(event, at)
    }

    /// A line of a document that has content, its first character at `content`.
    fn content_line(&mut self, indent: usize, content: usize) -> Result<(), GiveUp> {
        let dash = self.is_dash(content);
        let top = self.stack.last().copied().ok_or(GiveUp)?;
        match self.pending {
            Pending::MapValue(_)
                if dash && matches!(top, Frame::Map { indent: i } if i == indent) =>
            {
                // A sequence at its key's indentation: the YAML parser starts it where the first
                // item's content is (the end of the line when there is none).
                self.pending = Pending::None;
                let at = self.after_dash(content);
                self.emit(Event::SequenceStart(0, None), at)?;
                self.stack.push(Frame::Seq {
                    indent,
                    indentless: true,
                });
                return self.item(content);
            }
            Pending::MapValue(_) | Pending::SeqItem(_) if indent > top.indent() => {
                self.pending = Pending::None;
                return self.node(indent, content);
            }
            _ => {}
        }
        self.resolve_pending()?;
        let at = self.marker(content);
        while let Some(&frame) = self.stack.last() {
            let ends = match frame {
                Frame::Seq {
                    indent: i,
                    indentless: true,
                } => i > indent || i == indent && !dash,
                other => other.indent() > indent,
            };
            if !ends {
                break;
            }
            self.stack.pop();
            self.close(frame, at)?;
        }
        match self.stack.last() {
            Some(Frame::Map { indent: i }) if *i == indent && !dash => self.entry(content),
            Some(Frame::Seq { indent: i, .. }) if *i == indent && dash => self.item(content),
            // A second root, a line indented where nothing opens, a sequence item in a mapping.
            _ => Err(GiveUp),
        }
    }

    /// A node that starts at `at` (column `indent`): a sequence, a mapping or a scalar. Nodes
    /// on one line (`- - - x`) recurse: deeper than [`MAX_OPEN`] open collections, the YAML
    /// parser reads the text (and the budgets refuse it long before, at 100 by default).
    fn node(&mut self, indent: usize, at: usize) -> Result<(), GiveUp> {
        if self.stack.len() >= MAX_OPEN {
            return Err(GiveUp);
        }
        let marker = self.marker(at);
        if self.is_dash(at) {
            self.emit(Event::SequenceStart(0, None), marker)?;
            self.stack.push(Frame::Seq {
                indent,
                indentless: false,
            });
            return self.item(at);
        }
        if let Some(key) = self.key(at)? {
            self.emit(Event::MappingStart(0, None), marker)?;
            self.stack.push(Frame::Map { indent });
            return self.entry_with(at, key);
        }
        if self.stack.is_empty() {
            return Err(GiveUp); // a scalar document
        }
        self.scalar(at)
    }

    /// Where the YAML parser is after a dash at `at`: the item's content, or the end of the line
    /// (after spaces and a comment) when it has none.
    fn after_dash(&self, at: usize) -> Marker {
        let content = self.skip_spaces(at + 1);
        if self.ends_content(content) {
            self.marker(self.line.end)
        } else {
            self.marker(content)
        }
    }

    /// A sequence item, from its dash at `at`.
    fn item(&mut self, at: usize) -> Result<(), GiveUp> {
        let content = self.skip_spaces(at + 1);
        if self.ends_content(content) {
            self.pending = Pending::SeqItem(self.after_dash(at));
            return Ok(());
        }
        // A compact node: its column is where its content starts (ASCII before it).
        self.node(content - self.line.start, content)
    }

    /// A mapping entry, from its key at `at`.
    fn entry(&mut self, at: usize) -> Result<(), GiveUp> {
        let key = self.key(at)?.ok_or(GiveUp)?;
        self.entry_with(at, key)
    }

    /// A mapping entry whose key at `at` is read.
    fn entry_with(&mut self, at: usize, key: Key<'t>) -> Result<(), GiveUp> {
        let marker = self.marker(at);
        let colon = self.marker(key.colon);
        self.emit(Event::Scalar(key.value, key.style, 0, None), marker)?;
        let value = self.skip_spaces(key.colon + 1);
        if self.ends_content(value) {
            self.pending = Pending::MapValue(colon);
            return Ok(());
        }
        if self.is_dash(value) {
            return Err(GiveUp); // a sequence on its key's line
        }
        self.scalar(value)
    }

    /// The key of a mapping entry at `at`, if the line has one there: a one-line plain or quoted
    /// scalar followed by a colon and a space or the end of the line. Gives up on what the YAML
    /// parser could read otherwise.
    fn key(&self, at: usize) -> Result<Option<Key<'t>>, GiveUp> {
        let (value, style, after) = match self.bytes[at] {
            b'\'' | b'"' => {
                // A key closes on its line (else this is a scalar that goes on).
                let (value, close) = self.quoted_part(self.bytes[at], at + 1)?;
                let Some(close) = close else {
                    return Ok(None);
                };
                let (after, style) = (close + 1, quote_style(self.bytes[at]));
                if self.byte(after) != Some(b':')
                    || !matches!(self.byte(after + 1), None | Some(b' '))
                {
                    // A quoted scalar, not a key (unless spaces come before the colon).
                    let next = self.skip_spaces(after);
                    return if self.ends_content(next) {
                        Ok(None)
                    } else {
                        Err(GiveUp)
                    };
                }
                (value, style, after)
            }
            first => {
                if !plain_may_start(first, self.byte(at + 1)) {
                    return Ok(None); // a scalar (which gives up on what it does not read)
                }
                let PlainStop::Colon(colon) = self.plain_stop(at) else {
                    return Ok(None);
                };
                let text = self.text[at..colon].trim_end_matches(' ');
                (Cow::Borrowed(text), ScalarStyle::Plain, colon)
            }
        };
        if after - at > MAX_KEY_BYTES {
            return Err(GiveUp);
        }
        Ok(Some(Key {
            value,
            style,
            colon: after,
        }))
    }

    /// A scalar (or an empty `{}` or `[]`) that takes the rest of the line from `at`, and for a
    /// plain or quoted one, the lines that continue it.
    fn scalar(&mut self, at: usize) -> Result<(), GiveUp> {
        let marker = self.marker(at);
        let first = self.bytes[at];
        let after = match first {
            b'\'' | b'"' => {
                let (value, style, after) = self.quoted(at)?;
                self.emit(Event::Scalar(value, style, 0, None), marker)?;
                after
            }
            b'{' | b'[' => {
                let (close, start, end) = if first == b'{' {
                    (b'}', Event::MappingStart(0, None), Event::MappingEnd)
                } else {
                    (b']', Event::SequenceStart(0, None), Event::SequenceEnd)
                };
                if self.byte(at + 1) != Some(close) {
                    return Err(GiveUp);
                }
                self.emit(start, marker)?;
                let closing = self.marker(at + 1);
                self.emit(end, closing)?;
                at + 2
            }
            _ => {
                if !plain_may_start(first, self.byte(at + 1)) {
                    return Err(GiveUp);
                }
                let value = self.plain(at)?;
                return self.emit(Event::Scalar(value, ScalarStyle::Plain, 0, None), marker);
            }
        };
        let rest = self.skip_spaces(after);
        if rest == after && rest != self.line.end || !self.ends_content(rest) {
            return Err(GiveUp);
        }
        Ok(())
    }

    /// The indentation the lines that continue a scalar must exceed: the open collection's.
    fn scalar_indent(&self) -> usize {
        self.stack.last().map_or(0, |f| f.indent())
    }

    /// The next line that continues a scalar (more indented than `indent`, and for a plain one
    /// not a comment), with the number of blank lines before it; `None` when the scalar ends
    /// before it.
    fn continuation(&self, indent: usize, plain: bool) -> Option<(Line, usize, usize)> {
        let mut blanks = 0;
        let mut cursor = self.line;
        while let Some(next) = self.line_after(cursor) {
            let content = (next.start..next.end)
                .find(|&i| self.bytes[i] != b' ')
                .unwrap_or(next.end);
            if content == next.end {
                blanks += 1;
                cursor = next;
                continue;
            }
            if content - next.start <= indent || plain && self.bytes[content] == b'#' {
                return None;
            }
            return Some((next, content, blanks));
        }
        None
    }

    /// Folds a line into a scalar: one space for the line break, or a line feed per blank line.
    fn fold(value: &mut String, blanks: usize) {
        if blanks == 0 {
            value.push(' ');
        } else {
            value.extend(std::iter::repeat_n('\n', blanks));
        }
    }

    /// A plain scalar from `at`: the rest of the line (up to a comment), and the lines that
    /// continue it, folded. Gives up where a continuation line could be read as anything else (a
    /// key, a comment, an indicator).
    fn plain(&mut self, at: usize) -> Result<Cow<'t, str>, GiveUp> {
        let (stop, comment) = self.plain_end(at)?;
        let text = self.text[at..stop].trim_end_matches(' ');
        if comment {
            return Ok(Cow::Borrowed(text));
        }
        let indent = self.scalar_indent();
        let mut value: Option<String> = None;
        while let Some((line, content, blanks)) = self.continuation(indent, true) {
            self.line = line;
            if !plain_may_start(self.bytes[content], self.byte(content + 1))
                || self.bytes[content] == b'-'
            {
                return Err(GiveUp);
            }
            let (stop, comment) = self.plain_end(content)?;
            if comment {
                return Err(GiveUp);
            }
            let value = value.get_or_insert_with(|| text.to_string());
            Self::fold(value, blanks);
            value.push_str(self.text[content..stop].trim_end_matches(' '));
        }
        Ok(value.map_or(Cow::Borrowed(text), Cow::Owned))
    }

    /// Where a plain scalar's text on the current line from `at` stops, and whether a comment
    /// stops it. Gives up on `: ` (a key on a value's line).
    fn plain_end(&self, at: usize) -> Result<(usize, bool), GiveUp> {
        match self.plain_stop(at) {
            PlainStop::Colon(_) => Err(GiveUp),
            PlainStop::Comment(i) => Ok((i, true)),
            PlainStop::End => Ok((self.line.end, false)),
        }
    }

    /// What first stops plain text on the current line from `at` (not a `#` or `:` itself).
    fn plain_stop(&self, at: usize) -> PlainStop {
        for i in at..self.line.end {
            match self.bytes[i] {
                b':' if matches!(self.byte(i + 1), None | Some(b' ')) => {
                    return PlainStop::Colon(i)
                }
                b'#' if self.bytes[i - 1] == b' ' => return PlainStop::Comment(i),
                _ => {}
            }
        }
        PlainStop::End
    }

    /// A quoted scalar from its opening quote at `at`: its value, style and the byte after its
    /// closing quote (on the current line, which becomes the closing quote's): it may go on over
    /// more indented lines, folded. Gives up on a double-quoted scalar with an escape.
    fn quoted(&mut self, at: usize) -> Result<(Cow<'t, str>, ScalarStyle, usize), GiveUp> {
        let quote = self.bytes[at];
        let style = quote_style(quote);
        let start = at + 1;
        let (first, close) = self.quoted_part(quote, start)?;
        if let Some(close) = close {
            return Ok((first, style, close + 1));
        }
        let indent = self.scalar_indent();
        let mut value = first.trim_end_matches(' ').to_string();
        loop {
            let (line, content, blanks) = self.continuation(indent, false).ok_or(GiveUp)?;
            self.line = line;
            let (part, close) = self.quoted_part(quote, content)?;
            Self::fold(&mut value, blanks);
            match close {
                Some(close) => {
                    value.push_str(&part);
                    return Ok((Cow::Owned(value), style, close + 1));
                }
                None => value.push_str(part.trim_end_matches(' ')),
            }
        }
    }

    /// The text of a quoted scalar on the current line from `start`, unescaped, and the byte of
    /// its closing quote if it closes on this line.
    fn quoted_part(
        &self,
        quote: u8,
        start: usize,
    ) -> Result<(Cow<'t, str>, Option<usize>), GiveUp> {
        let end = self.line.end;
        if quote == b'"' {
            let close = self.bytes[start..end]
                .iter()
                .position(|&b| b == b'"' || b == b'\\')
                .map(|p| start + p);
            return match close {
                Some(c) if self.bytes[c] == b'\\' => Err(GiveUp),
                Some(c) => Ok((Cow::Borrowed(&self.text[start..c]), Some(c))),
                None => Ok((Cow::Borrowed(&self.text[start..end]), None)),
            };
        }
        let mut owned: Option<String> = None;
        let mut chunk = start;
        let mut i = start;
        let close = loop {
            let Some(found) = memchr::memchr(b'\'', &self.bytes[i..end]) else {
                break None;
            };
            i += found;
            if self.byte(i + 1) == Some(b'\'') {
                let s = owned.get_or_insert_with(String::new);
                s.push_str(&self.text[chunk..=i]);
                i += 2;
                chunk = i;
                continue;
            }
            break Some(i);
        };
        let stop = close.unwrap_or(end);
        let value = match owned {
            None => Cow::Borrowed(&self.text[start..stop]),
            Some(mut s) => {
                s.push_str(&self.text[chunk..stop]);
                Cow::Owned(s)
            }
        };
        Ok((value, close))
    }
}

/// The style of a scalar quoted with `quote`.
fn quote_style(quote: u8) -> ScalarStyle {
    if quote == b'"' {
        ScalarStyle::DoubleQuoted
    } else {
        ScalarStyle::SingleQuoted
    }
}

/// Whether a plain scalar may start with `first` (then `next`) in block context, as the fast path
/// reads it: not an indicator, not `-`, `?` or `:` before a space, not `---`.
fn plain_may_start(first: u8, next: Option<u8>) -> bool {
    match first {
        b'-' => !matches!(next, None | Some(b' ' | b'-')),
        b'?' | b':' | b',' | b'[' | b']' | b'{' | b'}' | b'#' | b'&' | b'*' | b'!' | b'|'
        | b'>' | b'\'' | b'"' | b'%' | b'@' | b'`' => false,
        _ => true,
    }
}
