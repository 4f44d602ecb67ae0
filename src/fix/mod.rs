//! The text editor behind `cmek-gate fix`: writes JSON-patch changes into the user's YAML or
//! JSON file as byte-range edits, without re-serialising it, so every byte outside a change
//! (comments, key order, quoting, indentation, other documents, CRLF, a BOM) is kept.
//!
//! Pure: text and parsed documents in, edits out. Each planned edit is checked by parsing the
//! edited YAML document again (each document of a stream on its own, so that fixing a file is
//! linear in its size): it must read as the patched document, or planning fails.

mod edit;
mod layout;
mod render;
mod style;
#[cfg(test)]
mod tests;
mod text;

use crate::manifest::yaml::{parse_stream, Limits};
use crate::manifest::{Entry, Node, NodeValue};
use edit::{Planner, Raw};
use json_patch::PatchOperation;
use text::Src;

/// One replacement of a byte range of the file text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextEdit {
    pub start: usize,
    pub end: usize,
    pub replacement: String,
}

/// Why a patch could not be written into a text.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FixError {
    #[error("cannot write \"{op} {path}\" into the file: {reason} (line {line})")]
    Op {
        op: &'static str,
        path: String,
        reason: String,
        line: u32,
    },
    #[error("the document at line {line} is not in the text")]
    NotInText { line: u32 },
    #[error(
        "edit {start}..{end} does not fit the text ({len} bytes, or not at a character boundary)"
    )]
    OutOfRange {
        start: usize,
        end: usize,
        len: usize,
    },
    #[error("edits overlap at byte {at}")]
    Overlap { at: usize },
}

/// Plans the edits that apply `ops` (RFC 6902, in order, as a JSON patch to the JSON form of
/// `root`) to the text the document `root` was parsed from. `text` is the whole file (all its
/// documents); the edits' offsets are in it.
pub fn plan(text: &str, root: &Node, ops: &[PatchOperation]) -> Result<Vec<TextEdit>, FixError> {
    plan_all(text, &[(Target::of(root), ops)], 1).map_err(|failure| failure.error)
}

/// Which object of a text a patch is for: where it starts, and a fingerprint of what it reads
/// as, so that the object found again when its YAML document is parsed on its own is known to
/// be the one the patch was made for. Small, so that a caller can let the tree go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    pub mark: crate::manifest::Mark,
    pub fingerprint: u64,
}

impl Target {
    pub fn of(root: &Node) -> Target {
        // A fixed seed: the fingerprint checks that the parser read the same text the same way
        // twice, it is no defence against chosen collisions.
        let mut hasher =
            std::hash::BuildHasher::build_hasher(&foldhash::fast::FixedState::default());
        fingerprint(root, &mut hasher);
        Target {
            mark: root.mark,
            fingerprint: std::hash::Hasher::finish(&hasher),
        }
    }
}

/// Feeds what a node reads as (its JSON: scalars by resolved kind, keys and items in order) to
/// `hasher`. Nodes that read alike in the same order feed the same.
fn fingerprint(node: &Node, hasher: &mut impl std::hash::Hasher) {
    use crate::manifest::ScalarKind;
    use std::hash::Hash;
    match &node.value {
        NodeValue::Scalar(scalar) => match scalar.kind {
            ScalarKind::Null => 0u8.hash(hasher),
            ScalarKind::Bool(b) => (1u8, b).hash(hasher),
            ScalarKind::Int(i) => (2u8, i).hash(hasher),
            ScalarKind::Float(f) if f.is_finite() => (3u8, f.to_bits()).hash(hasher),
            ScalarKind::Float(_) | ScalarKind::Str => (4u8, &scalar.text).hash(hasher),
        },
        NodeValue::Seq(items) => {
            (5u8, items.len()).hash(hasher);
            items.iter().for_each(|item| fingerprint(item, hasher));
        }
        NodeValue::Map(entries) => {
            (6u8, entries.len()).hash(hasher);
            for entry in entries {
                entry.key.hash(hasher);
                fingerprint(&entry.value, hasher);
            }
        }
    }
}

/// Why the patch of one document (its index in the list given to [`plan_all`]) could not be
/// written into the text.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{error}")]
pub struct DocumentFixError {
    pub patch: usize,
    pub error: FixError,
}

/// Plans the edits for the patches of any number of documents of one text, in time linear in
/// the text: the text is cut into its YAML documents (at `---` lines) and each document that
/// has a patch is edited and re-parsed on its own. Every edit is checked by parsing the edited
/// YAML document again: it must read as the patched object, with its other objects unchanged.
pub fn plan_all(
    text: &str,
    patches: &[(Target, &[PatchOperation])],
    threads: usize,
) -> Result<Vec<TextEdit>, DocumentFixError> {
    plan_all_cut(text, &segments(without_bom(text)), patches, threads)
}

/// The text after a byte order mark, if it has one (what [`segments`] cuts).
pub fn without_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// [`plan_all`], for a text already cut: `segments` are those of [`without_bom`]`(text)`.
pub fn plan_all_cut(
    text: &str,
    segments: &[Segment],
    patches: &[(Target, &[PatchOperation])],
    threads: usize,
) -> Result<Vec<TextEdit>, DocumentFixError> {
    let body = without_bom(text);
    let bom = text.len() - body.len();
    // The patches of each segment, in the order given.
    let mut by_segment: Vec<Vec<usize>> = vec![Vec::new(); segments.len()];
    for (k, (target, _)) in patches.iter().enumerate() {
        let line = target.mark.line;
        let s = segments
            .partition_point(|seg| seg.line_offset < line)
            .saturating_sub(1);
        by_segment[s].push(k);
    }
    // The segments are independent: each is planned on its own, on `threads` threads.
    let with_patches: Vec<(&Segment, Vec<usize>)> = segments
        .iter()
        .zip(by_segment)
        .filter(|(_, members)| !members.is_empty())
        .collect();
    let planned = crate::parallel::map_in_order(&with_patches, threads, |(segment, members)| {
        plan_segment(&body[segment.start..segment.end], segment, patches, members)
    });
    let mut edits = Vec::new();
    for ((segment, _), planned) in with_patches.iter().zip(planned) {
        edits.extend(planned?.into_iter().map(|e| TextEdit {
            start: e.start + bom + segment.start,
            end: e.end + bom + segment.start,
            replacement: e.replacement,
        }));
    }
    Ok(edits)
}

/// One YAML document's part of a text: its byte range and the lines before it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment {
    pub start: usize,
    pub end: usize,
    pub line_offset: u32,
}

/// Cuts a text at each line that starts with a document marker (`---`, which YAML forbids
/// inside any scalar), except after a directive line (`%YAML`), which belongs to the marker.
/// Line breaks are counted as the parser counts them (`\n`, `\r\n`, a lone `\r`).
pub fn segments(text: &str) -> Vec<Segment> {
    match memchr::memchr(b'\r', text.as_bytes()) {
        None => segments_of_lines(text),
        Some(_) => segments_of_any_breaks(text),
    }
}

/// [`segments`] of a text whose lines all end with `\n`: the markers are found with a substring
/// search (`\n---`) and the lines between them counted in bulk, instead of line by line (this
/// runs on one thread over the whole of a file `fix` changes: the original, then the result).
fn segments_of_lines(text: &str) -> Vec<Segment> {
    let bytes = text.as_bytes();
    let mut found = vec![Segment {
        start: 0,
        end: text.len(),
        line_offset: 0,
    }];
    let (mut line, mut counted_to) = (0u32, 0usize);
    for at in memchr::memmem::find_iter(bytes, b"\n---") {
        let line_start = at + 1;
        if !matches!(bytes.get(line_start + 3), None | Some(b' ' | b'\t' | b'\n')) {
            continue;
        }
        // A directive line (`%YAML`) before the marker belongs to it.
        let previous = memchr::memrchr(b'\n', &bytes[..at]).map_or(0, |p| p + 1);
        if bytes[previous] == b'%' {
            continue;
        }
        line += count_line_feeds(&bytes[counted_to..line_start]) as u32;
        counted_to = line_start;
        cut(&mut found, line_start, line);
    }
    found
}

/// Ends the last segment at `start` and begins one there, after `line_offset` lines.
fn cut(found: &mut Vec<Segment>, start: usize, line_offset: u32) {
    let end = found.last().map_or(start, |last| last.end);
    if let Some(last) = found.last_mut() {
        last.end = start;
    }
    found.push(Segment {
        start,
        end,
        line_offset,
    });
}

/// The number of `\n` bytes in `bytes` (vectorised).
pub fn count_line_feeds(bytes: &[u8]) -> usize {
    memchr::memchr_iter(b'\n', bytes).count()
}

/// [`segments`] of a text with CRs (`\r\n` and lone `\r` line breaks), line by line.
fn segments_of_any_breaks(text: &str) -> Vec<Segment> {
    let bytes = text.as_bytes();
    let mut found = vec![Segment {
        start: 0,
        end: text.len(),
        line_offset: 0,
    }];
    let (mut line, mut line_start, mut previous_directive) = (0u32, 0usize, false);
    let mut from = 0;
    loop {
        let found_break = memchr::memchr2(b'\n', b'\r', &bytes[from..]).map(|p| from + p);
        if let Some(at) = found_break {
            if bytes[at] == b'\r' && bytes.get(at + 1) == Some(&b'\n') {
                from = at + 1;
                continue;
            }
        }
        // The line from `line_start` ends here (at the break found, or at the end of the text).
        let starts_line = &bytes[line_start..];
        let is_marker = starts_line.starts_with(b"---")
            && matches!(
                starts_line.get(3),
                None | Some(b' ' | b'\t' | b'\n' | b'\r')
            );
        if is_marker && !previous_directive && line_start > 0 {
            cut(&mut found, line_start, line);
        }
        previous_directive = starts_line.first() == Some(&b'%');
        line += 1;
        let Some(at) = found_break else { break };
        line_start = at + 1;
        from = at + 1;
    }
    found
}

/// Plans the patches `members` (indexes into `patches`) of the objects of one segment.
fn plan_segment(
    text: &str,
    segment: &Segment,
    patches: &[(Target, &[PatchOperation])],
    members: &[usize],
) -> Result<Vec<TextEdit>, DocumentFixError> {
    let shift = segment.line_offset;
    let mut draft = Draft {
        current: text.to_owned(),
        edits: Vec::new(),
    };
    let first = |error: FixError| DocumentFixError {
        patch: members[0],
        error,
    };
    let not_in_text = |target: &Target| FixError::NotInText {
        line: target.mark.line,
    };
    let mut objects_now =
        objects(&draft.current).map_err(|_| first(not_in_text(&patches[members[0]].0)))?;
    let mut meaning: Vec<serde_json::Value> = objects_now.iter().map(Node::to_json).collect();
    // Each patch's object, found before any edit moves the marks (edits keep the count).
    let mut found = Vec::with_capacity(members.len());
    for &k in members {
        let target = &patches[k].0;
        let index = objects_now
            .iter()
            .position(|c| {
                c.mark.line + shift == target.mark.line
                    && c.mark.column == target.mark.column
                    && Target::of(c).fingerprint == target.fingerprint
            })
            .ok_or_else(|| DocumentFixError {
                patch: k,
                error: not_in_text(target),
            })?;
        found.push((k, index));
    }
    for (k, index) in found {
        let (target, ops) = &patches[k];
        let at = |error: FixError| DocumentFixError { patch: k, error };
        let mut current = objects_now[index].clone();
        for op in ops.iter() {
            let fail = |reason: String, line: u32| {
                at(FixError::Op {
                    op: op_name(op),
                    path: op.path().to_string(),
                    reason,
                    line,
                })
            };
            if op_value(op).is_some_and(|v| too_deep(v, Limits::default().max_depth)) {
                return Err(fail(
                    "the value is nested too deeply".into(),
                    target.mark.line,
                ));
            }
            let line = current.mark.line + shift;
            let src = Src::new(&draft.current);
            let planned = Planner::new(&src, &current).and_then(|p| Ok((p.span()?, p.plan(op)?)));
            let ((first, last), mut raws) = planned.map_err(|f| fail(f.reason, f.line + shift))?;
            let mut expected = meaning[index].clone();
            json_patch::patch(&mut expected, std::slice::from_ref(op)).map_err(|e| {
                let reason = format!("the patch does not apply to the document: {}", e.kind);
                fail(reason, line)
            })?;
            raws.sort_by_key(|r| std::cmp::Reverse((r.start, r.end)));
            let sound = raws.iter().all(|r| {
                first <= r.start
                    && r.start <= r.end
                    && r.end <= last
                    && draft.current.is_char_boundary(r.start)
                    && draft.current.is_char_boundary(r.end)
            }) && raws.windows(2).all(|w| w[1].end <= w[0].start);
            if !sound {
                let reason = "the planned edits do not fit the text (please report this)".into();
                return Err(fail(reason, line));
            }
            for raw in raws {
                draft.edit(raw);
            }
            let reread = objects(&draft.current)
                .map_err(|e| fail(format!("the edited text would not parse: {e}"), line))?;
            if reread.len() != meaning.len() {
                return Err(fail("the edited text would lose the document".into(), line));
            }
            meaning[index] = expected;
            let reads_as_patched =
                reread
                    .iter()
                    .zip(&meaning)
                    .enumerate()
                    .all(|(j, (node, json))| match j == index {
                        true => node.reads_as(json),
                        false => reads_as_without_items(node, json),
                    });
            if !reads_as_patched {
                let reason = "the edited text would not read as the patched document".into();
                return Err(fail(reason, line));
            }
            objects_now = reread;
            current = objects_now[index].clone();
        }
    }
    Ok(draft.edits)
}

/// Applies non-overlapping edits (from any number of documents of the same text). Insertions
/// at the same offset keep their order.
pub fn apply(text: &str, mut edits: Vec<TextEdit>) -> Result<String, FixError> {
    edits.sort_by_key(|e| (e.start, e.end));
    let mut out = String::with_capacity(text.len());
    let mut position = 0;
    for edit in &edits {
        let fits = edit.start <= edit.end
            && edit.end <= text.len()
            && text.is_char_boundary(edit.start)
            && text.is_char_boundary(edit.end);
        if !fits {
            return Err(FixError::OutOfRange {
                start: edit.start,
                end: edit.end,
                len: text.len(),
            });
        }
        if edit.start < position {
            return Err(FixError::Overlap { at: edit.start });
        }
        out.push_str(&text[position..edit.start]);
        out.push_str(&edit.replacement);
        position = edit.end;
    }
    out.push_str(&text[position..]);
    Ok(out)
}

fn op_name(op: &PatchOperation) -> &'static str {
    match op {
        PatchOperation::Add(_) => "add",
        PatchOperation::Remove(_) => "remove",
        PatchOperation::Replace(_) => "replace",
        PatchOperation::Move(_) => "move",
        PatchOperation::Copy(_) => "copy",
        PatchOperation::Test(_) => "test",
    }
}

fn op_value(op: &PatchOperation) -> Option<&serde_json::Value> {
    match op {
        PatchOperation::Add(add) => Some(&add.value),
        PatchOperation::Replace(replace) => Some(&replace.value),
        PatchOperation::Test(test) => Some(&test.value),
        _ => None,
    }
}

/// Whether a value nests deeper than `limit` (checked without recursion: values are rendered
/// recursively).
fn too_deep(value: &serde_json::Value, limit: usize) -> bool {
    let mut todo = vec![(value, 0usize)];
    while let Some((value, depth)) = todo.pop() {
        if depth > limit {
            return true;
        }
        match value {
            serde_json::Value::Array(items) => todo.extend(items.iter().map(|v| (v, depth + 1))),
            serde_json::Value::Object(map) => todo.extend(map.values().map(|v| (v, depth + 1))),
            _ => {}
        }
    }
    false
}

/// Whether an object reads as `json`, leaving out a root `items` list on either side: a
/// `kind: List` holds the objects edited, which are compared on their own.
fn reads_as_without_items(node: &Node, json: &serde_json::Value) -> bool {
    let (Some(entries), Some(map)) = (node.entries(), json.as_object()) else {
        return node.reads_as(json);
    };
    let is_list = |e: &&Entry| e.key == "items" && matches!(e.value.value, NodeValue::Seq(_));
    let lists = entries.iter().filter(is_list).count();
    let json_lists = usize::from(map.get("items").is_some_and(serde_json::Value::is_array));
    entries.len() - lists == map.len() - json_lists
        && entries
            .iter()
            .filter(|e| !is_list(e))
            .all(|e| map.get(&e.key).is_some_and(|v| e.value.reads_as(v)))
}

/// Every node of a text a document can be: each YAML document's root, the items of a root
/// list, and the items of a root map's `items` list (a `kind: List`), in text order.
fn objects(text: &str) -> Result<Vec<Node>, String> {
    let documents = parse_stream(text, &Limits::default()).map_err(|e| e.error.to_string())?;
    let mut found = Vec::new();
    for root in documents.into_iter().filter_map(|d| d.root) {
        match root.value {
            NodeValue::Seq(items) => found.extend(items),
            NodeValue::Map(_) => {
                let items = root.get("items").and_then(Node::items).map(<[_]>::to_vec);
                found.push(root);
                found.extend(items.unwrap_or_default());
            }
            NodeValue::Scalar(_) => {}
        }
    }
    Ok(found)
}

/// The edits made so far, in the coordinates of the original text, and the text they make.
struct Draft {
    current: String,
    edits: Vec<TextEdit>,
}

impl Draft {
    /// Makes an edit given in the coordinates of the current text. Edits that touch earlier
    /// ones merge with them.
    fn edit(&mut self, raw: Raw) {
        // Where each earlier edit lies in the current text, and the size change before it.
        let mut spans = Vec::with_capacity(self.edits.len());
        let mut shift = 0isize;
        for e in &self.edits {
            let start = e.start.saturating_add_signed(shift);
            spans.push((start, start + e.replacement.len(), shift));
            shift += e.replacement.len() as isize - (e.end - e.start) as isize;
        }
        let touching: Vec<usize> = (0..spans.len())
            .filter(|&k| spans[k].0 <= raw.end && raw.start <= spans[k].1)
            .collect();
        let mut next = String::with_capacity(self.current.len() + raw.text.len());
        next.push_str(&self.current[..raw.start]);
        next.push_str(&raw.text);
        next.push_str(&self.current[raw.end..]);
        let growth = raw.text.len() as isize - (raw.end - raw.start) as isize;
        match (touching.first(), touching.last()) {
            (Some(&i), Some(&j)) => {
                let shift_after_j = spans[j].2 + self.edits[j].replacement.len() as isize
                    - (self.edits[j].end - self.edits[j].start) as isize;
                let from = raw.start.min(spans[i].0);
                let to = raw.end.max(spans[j].1);
                let start = match raw.start < spans[i].0 {
                    true => raw.start.saturating_add_signed(-spans[i].2),
                    false => self.edits[i].start,
                };
                let end = match raw.end > spans[j].1 {
                    true => raw.end.saturating_add_signed(-shift_after_j),
                    false => self.edits[j].end,
                };
                let replacement = next[from..to.saturating_add_signed(growth)].to_owned();
                self.edits.splice(
                    i..=j,
                    [TextEdit {
                        start,
                        end,
                        replacement,
                    }],
                );
            }
            _ => {
                let k = spans.partition_point(|s| s.1 < raw.start);
                let shift = spans.get(k).map_or(shift, |s| s.2);
                self.edits.insert(
                    k,
                    TextEdit {
                        start: raw.start.saturating_add_signed(-shift),
                        end: raw.end.saturating_add_signed(-shift),
                        replacement: raw.text,
                    },
                );
            }
        }
        self.current = next;
    }
}
