//! The source text as lines: marks to byte offsets, line boundaries, and scanners that find
//! where a scalar ends (the tree keeps only where nodes start).

use crate::manifest::Mark;

/// A text with its line starts. Line breaks are `\n`, `\r\n` and a lone `\r`, as the parser
/// counts them.
pub(super) struct Src<'a> {
    pub text: &'a str,
    line_starts: Vec<usize>,
    /// The line break new lines use: the file's first one, `\n` when it has none.
    pub nl: &'static str,
}

impl<'a> Src<'a> {
    pub fn new(text: &'a str) -> Src<'a> {
        let bytes = text.as_bytes();
        let mut line_starts = vec![0];
        for i in memchr::memchr2_iter(b'\n', b'\r', bytes) {
            let lone_cr = bytes[i] == b'\r' && bytes.get(i + 1) != Some(&b'\n');
            if bytes[i] == b'\n' || lone_cr {
                line_starts.push(i + 1);
            }
        }
        let first_break = text.find(['\n', '\r']).map(|i| &text[i..]);
        let nl = match first_break {
            Some(rest) if rest.starts_with("\r\n") => "\r\n",
            Some(rest) if rest.starts_with('\r') => "\r",
            _ => "\n",
        };
        Src {
            text,
            line_starts,
            nl,
        }
    }

    pub fn len(&self) -> usize {
        self.text.len()
    }

    pub fn byte(&self, offset: usize) -> Option<u8> {
        self.text.as_bytes().get(offset).copied()
    }

    /// The byte offset of a mark (1-based line, column in characters).
    pub fn offset(&self, mark: Mark) -> Option<usize> {
        let start = *self.line_starts.get((mark.line as usize).checked_sub(1)?)?;
        let column = (mark.column as usize).checked_sub(1)?;
        let line = &self.text[start..self.content_end(start)];
        match line.char_indices().nth(column) {
            Some((i, _)) => Some(start + i),
            None if line.chars().count() == column => Some(start + line.len()),
            None => None,
        }
    }

    /// The 1-based line number of an offset.
    pub fn line_no(&self, offset: usize) -> u32 {
        self.line_starts.partition_point(|&s| s <= offset) as u32
    }

    pub fn line_start(&self, offset: usize) -> usize {
        self.line_starts[self.line_no(offset) as usize - 1]
    }

    /// Where the line of `offset` ends, before its line break.
    pub fn content_end(&self, offset: usize) -> usize {
        self.text[offset..]
            .find(['\n', '\r'])
            .map_or(self.len(), |i| offset + i)
    }

    /// The start of the line after the line of `offset`.
    pub fn next_line(&self, offset: usize) -> Option<usize> {
        self.line_starts.get(self.line_no(offset) as usize).copied()
    }

    /// The length of the line break that ends just before `line_start` (0 on the first line).
    pub fn break_before(&self, line_start: usize) -> usize {
        let before = &self.text[..line_start];
        if before.ends_with("\r\n") {
            2
        } else {
            usize::from(before.ends_with(['\n', '\r']))
        }
    }

    /// The leading spaces and tabs of the line of `offset`.
    pub fn indent_str(&self, offset: usize) -> &'a str {
        let start = self.line_start(offset);
        let line = &self.text[start..self.content_end(start)];
        &line[..line.len() - line.trim_start_matches([' ', '\t']).len()]
    }

    /// Whether only spaces and tabs come before `offset` on its line.
    pub fn first_on_line(&self, offset: usize) -> bool {
        self.text[self.line_start(offset)..offset]
            .bytes()
            .all(|b| b == b' ' || b == b'\t')
    }

    /// The column of `offset` in bytes from its line start (indentation is ASCII).
    pub fn column(&self, offset: usize) -> usize {
        offset - self.line_start(offset)
    }

    /// Skips spaces and tabs on the line.
    pub fn skip_blanks(&self, mut offset: usize) -> usize {
        while matches!(self.byte(offset), Some(b' ' | b'\t')) {
            offset += 1;
        }
        offset
    }

    /// Skips an anchor (`&a`) and a tag (`!!str`) before a node, on the same line.
    pub fn skip_properties(&self, mut offset: usize) -> usize {
        while matches!(self.byte(offset), Some(b'&' | b'!')) {
            while !matches!(self.byte(offset), None | Some(b' ' | b'\t' | b'\n' | b'\r')) {
                offset += 1;
            }
            offset = self.skip_blanks(offset);
        }
        offset
    }

    /// Skips whitespace, line breaks and comments between the tokens of a flow collection.
    pub fn skip_flow_gap(&self, mut offset: usize) -> usize {
        loop {
            match self.byte(offset) {
                Some(b' ' | b'\t' | b'\n' | b'\r') => offset += 1,
                Some(b'#') => offset = self.content_end(offset),
                _ => return offset,
            }
        }
    }

    /// The end of a double-quoted scalar starting at `start` (after its closing quote).
    pub fn double_quoted_end(&self, start: usize) -> Option<usize> {
        let bytes = self.text.as_bytes();
        let mut i = start + 1;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' => i += 2,
                b'"' => return Some(i + 1),
                _ => i += 1,
            }
        }
        None
    }

    /// The end of a single-quoted scalar starting at `start` (`''` is an escaped quote).
    pub fn single_quoted_end(&self, start: usize) -> Option<usize> {
        let bytes = self.text.as_bytes();
        let mut i = start + 1;
        while i < bytes.len() {
            if bytes[i] == b'\'' {
                if bytes.get(i + 1) == Some(&b'\'') {
                    i += 2;
                    continue;
                }
                return Some(i + 1);
            }
            i += 1;
        }
        None
    }

    /// The end of an alias (`*name`).
    pub fn alias_end(&self, start: usize) -> usize {
        let rest = &self.text[start..];
        start
            + rest
                .find([' ', '\t', '\n', '\r', ',', '[', ']', '{', '}'])
                .unwrap_or(rest.len())
    }

    /// The end of the part of a plain scalar on the line of `start`: before a comment, a `: `,
    /// a flow indicator in a flow collection, and trailing blanks.
    pub fn plain_end_on_line(&self, start: usize, flow: bool) -> usize {
        let bytes = self.text.as_bytes();
        let line_end = self.content_end(start);
        let mut end = start;
        for i in start..line_end {
            let c = bytes[i];
            let next = bytes.get(i + 1).copied();
            let ends = match c {
                b'#' => i > start && matches!(bytes[i - 1], b' ' | b'\t'),
                b':' => {
                    i + 1 == line_end
                        || matches!(next, Some(b' ' | b'\t'))
                        || (flow && matches!(next, Some(b',' | b'[' | b']' | b'{' | b'}')))
                }
                b',' | b'[' | b']' | b'{' | b'}' => flow,
                _ => false,
            };
            if ends {
                break;
            }
            if c != b' ' && c != b'\t' {
                end = i + 1;
            }
        }
        end
    }

    /// The end of a plain scalar in block context, with its continuation lines: the following
    /// lines indented more than `indent` that are not comments.
    pub fn plain_end_block(&self, start: usize, indent: usize) -> usize {
        let mut end = self.plain_end_on_line(start, false);
        let mut line = self.next_line(start);
        while let Some(line_start) = line {
            let content = &self.text[line_start..self.content_end(line_start)];
            let body = content.trim_start_matches([' ', '\t']);
            line = self.next_line(line_start);
            if body.is_empty() {
                continue;
            }
            let spaces = content.len() - content.trim_start_matches(' ').len();
            if spaces <= indent || body.starts_with('#') {
                break;
            }
            end = self.plain_end_on_line(line_start + content.len() - body.len(), false);
        }
        end
    }

    /// The end of a block scalar (`|`, `>`) whose header starts at `header`, its content being
    /// the following lines indented more than `indent`. Trailing blank lines belong to it only
    /// with the keep indicator (`|+`).
    pub fn block_scalar_end(&self, header: usize, indent: usize) -> usize {
        let header_end = self.content_end(header);
        let indicators = self.text[header..header_end]
            .split([' ', '\t', '#'])
            .next()
            .unwrap_or_default();
        let keep = indicators.contains('+');
        let (mut end, mut blank_end) = (header_end, None);
        let mut line = self.next_line(header);
        while let Some(line_start) = line {
            let content_end = self.content_end(line_start);
            let content = &self.text[line_start..content_end];
            line = self.next_line(line_start);
            if content.trim_start_matches(' ').is_empty() {
                blank_end = Some(content_end);
                continue;
            }
            if content.len() - content.trim_start_matches(' ').len() <= indent {
                break;
            }
            (end, blank_end) = (content_end, None);
        }
        match blank_end {
            Some(blank) if keep => blank,
            _ => end,
        }
    }
}
