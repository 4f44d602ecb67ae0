//! `cmek-gate fix`: writes what the mutating policies add (the region's default key) into the
//! manifest files, as textual edits that keep every other byte (see `crate::fix`), then judges
//! the result. `--diff` prints a unified diff instead of writing, `--stdout` prints the result.
//! All or nothing: every input is read, planned, re-parsed and judged before the first write,
//! and nothing is written when any of that fails (exit 2). Then every new text is staged in a
//! temporary file beside its original, and the temporary files are renamed over the originals.

use super::check::read_inputs_reporting;
use crate::batch::{
    check_inputs_judging, is_namespace, judge_documents, recheck_inputs, CheckOptions, Input,
    Judged,
};
use crate::fix::without_bom;
use crate::manifest::{yaml::Counts, Document, Part};
use crate::report::{DocumentResult, InputError, Report};
use anyhow::bail;
use clap::Args;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct FixArgs {
    /// Manifest files or directories (walked for .yaml, .yml and .json), or - for stdin (the
    /// result then goes to stdout).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub policy: super::PolicyArgs,
    #[command(flatten)]
    pub namespaces: super::NamespaceArgs,
    /// Print a unified diff of the changes and write nothing.
    #[arg(long, conflicts_with = "stdout")]
    pub diff: bool,
    /// Write the fixed text to stdout instead of the file (one input only).
    #[arg(long)]
    pub stdout: bool,
    /// The admission operation the documents are fixed and judged as.
    #[arg(long, default_value = "CREATE", value_parser = ["CREATE", "UPDATE"])]
    pub operation: String,
}

/// What happened to one input.
struct Fixed {
    /// The input's name.
    name: String,
    /// The input's text (valid UTF-8: fix reads nothing else).
    original: String,
    /// The YAML documents of the original (after a BOM), as `crate::fix::segments` cuts them.
    segments: Vec<crate::fix::Segment>,
    /// The fixed text, when something changed.
    text: Option<String>,
    /// One line per change, for the summary.
    changes: Vec<String>,
    /// For each document (by index): whether a mutation changed it, and its region if known.
    documents: Vec<(bool, Option<String>)>,
    /// The verdicts of the documents no mutating policy changed or spoke of, by the line each
    /// starts on, with its column: validation alone gave them, and their text is not changed, so
    /// the check of the fixed text takes them rather than judging the same text again. Lines on
    /// which more than one document starts have none. The verdict is `first.results[index]`.
    unchanged: HashMap<u32, (u32, usize)>,
    /// Where the edits moved the lines: (a line of the fixed text, the number of lines the edits
    /// up to it added), in order.
    shifts: Vec<(u32, i64)>,
    /// What the first check said of the original text, for [`Fixed::recheck_changed`].
    first: FirstCheck,
}

/// What fix keeps of each document of the first check: the column it starts at, its region,
/// which object to edit when a mutation changed it, and the document itself only when it is a
/// `kind: Namespace` (the trees are released on the check's threads as soon as they are judged).
struct FirstDocument {
    column: u32,
    region: Option<String>,
    target: Option<crate::fix::Target>,
    namespace: Option<Document>,
}

impl FirstDocument {
    fn of(document: Document, result: &DocumentResult) -> FirstDocument {
        let region = crate::manifest::shape::field(
            &document.root,
            document.group(),
            &document.kind,
            "region",
        )
        .and_then(|n| n.scalar_text())
        .map(str::to_owned);
        FirstDocument {
            column: document.root.mark.column,
            region,
            target: result
                .patch
                .is_some()
                .then(|| crate::fix::Target::of(&document.root)),
            namespace: is_namespace(&document).then_some(document),
        }
    }
}

/// The first check of an input (with mutation): every result in order, whether validation
/// alone gave it, what the text spent of the parser's budgets, and its `kind: Namespace`
/// documents (`None` when fix changed one: the others' verdicts cannot be kept then).
struct FirstCheck {
    results: Vec<DocumentResult>,
    validation_alone: Vec<bool>,
    counts: Counts,
    namespaces: Option<Vec<Document>>,
}

impl Fixed {
    /// The verdict of the unchanged document `document` of the fixed text, moved to its line.
    fn earlier(&self, document: &Document) -> Option<DocumentResult> {
        let before = self
            .shifts
            .partition_point(|(line, _)| *line <= document.line);
        let shift = before.checked_sub(1).map_or(0, |k| self.shifts[k].1);
        let line = u32::try_from(i64::from(document.line) - shift).ok()?;
        let &(column, index) = self.unchanged.get(&line)?;
        let earlier = &self.first.results[index];
        let same = column == document.root.mark.column
            && earlier.api_version == document.api_version
            && earlier.kind == document.kind
            && earlier.name == document.name
            && earlier.namespace == document.namespace;
        if !same {
            return None;
        }
        let mut result = earlier.clone();
        result.line = document.line;
        for violation in &mut result.violations {
            violation.line = u32::try_from(i64::from(violation.line) + shift).ok()?;
        }
        Some(result)
    }

    /// The results of judging the fixed text (without mutation), from the YAML documents
    /// (segments between `---` lines) fix changed alone: each is parsed where it lies in the
    /// fixed text and judged, and the other segments keep the first check's verdicts, moved to
    /// their lines. `None` when that could differ from parsing and judging the whole text (a
    /// JSON text, a single document, a lone CR, a budget that could run out, a segment that
    /// reads differently): the caller then rechecks the whole text.
    fn recheck_changed(
        &self,
        set: &crate::policy::PolicySet,
        options: &CheckOptions,
        documents_read: &[&Document],
    ) -> Option<Vec<DocumentResult>> {
        let first = &self.first;
        let original = self.original.as_str();
        let fixed = self.text.as_deref().unwrap_or(original);
        if fixed.len() > options.limits.max_bytes {
            return None;
        }
        let (original, fixed) = (without_bom(original), without_bom(fixed));
        // A lone CR breaks lines for the parser but not where the check cuts large texts.
        let lone_cr = |t: &str| {
            memchr::memchr_iter(b'\r', t.as_bytes())
                .any(|i| t.as_bytes().get(i + 1) != Some(&b'\n'))
        };
        let json = crate::manifest::json::looks_like_json;
        if json(original) || json(fixed) || lone_cr(fixed) {
            return None;
        }
        // The original was cut when fix planned its edits; the fixed text is cut here.
        let before = &self.segments;
        let cut_fixed;
        let after = match &self.text {
            Some(_) => {
                cut_fixed = crate::fix::segments(fixed);
                &cut_fixed
            }
            None => before,
        };
        if before.len() != after.len() || before.len() < 2 {
            return None;
        }
        let segment_of = |line: u32| {
            before
                .partition_point(|s| s.line_offset < line)
                .saturating_sub(1)
        };
        let moved = |line: u32, shift: i64| u32::try_from(i64::from(line) + shift).ok();
        // Each segment keeps its verdicts (same text, validation alone gave them) or is judged
        // again; those are parsed and judged on the check's threads, then joined in order.
        enum Segment<'t> {
            Kept {
                members: std::ops::Range<usize>,
                shift: i64,
            },
            Judged {
                members: std::ops::Range<usize>,
                line_offset: u32,
                text: &'t str,
            },
        }
        let mut segments = Vec::with_capacity(after.len());
        let mut next = 0;
        for (k, (old, new)) in before.iter().zip(after).enumerate() {
            let start = next;
            while next < first.results.len() && segment_of(first.results[next].line) == k {
                next += 1;
            }
            let members = start..next;
            let same = original[old.start..old.end] == fixed[new.start..new.end];
            let kept = members
                .clone()
                .all(|i| first.validation_alone[i] && first.results[i].patch.is_none());
            segments.push(if same && kept {
                let shift = i64::from(new.line_offset) - i64::from(old.line_offset);
                Segment::Kept { members, shift }
            } else {
                Segment::Judged {
                    members,
                    line_offset: new.line_offset,
                    text: &fixed[new.start..new.end],
                }
            });
        }
        if next != first.results.len() {
            return None;
        }
        let judge = |segment: &Segment| -> Option<(Counts, Vec<DocumentResult>)> {
            let Segment::Judged {
                members,
                line_offset,
                text,
            } = segment
            else {
                return Some((Counts::default(), Vec::new()));
            };
            // Numbered as in the whole text (the YAML document count only names errors, and an
            // error gives up).
            let part = Part {
                line_offset: *line_offset,
                objects: members.start,
                ..Part::default()
            };
            let parsed = crate::manifest::parse_part(text, &options.limits, part).ok()?;
            if parsed.documents.len() != members.len() {
                return None;
            }
            let results =
                judge_documents(set, options, documents_read, &self.name, &parsed.documents);
            Some((parsed.counts, results))
        };
        let to_judge: Vec<&Segment> = segments
            .iter()
            .filter(|s| matches!(s, Segment::Judged { .. }))
            .collect();
        let threads = options.threads.clamp(1, 64);
        let mut judged =
            crate::parallel::map_in_order(&to_judge, threads, |s| judge(s)).into_iter();
        let mut results = Vec::with_capacity(first.results.len());
        let mut spent = first.counts;
        for segment in &segments {
            match segment {
                Segment::Kept { members, shift } => {
                    for earlier in &first.results[members.clone()] {
                        let mut result = earlier.clone();
                        result.line = moved(result.line, *shift)?;
                        for violation in &mut result.violations {
                            violation.line = moved(violation.line, *shift)?;
                        }
                        results.push(result);
                    }
                }
                Segment::Judged { .. } => {
                    let (counts, mut judged) = judged.next()??;
                    // The segment's nodes counted again on top of the first text's (which had
                    // the segment as it was): more than the fixed text holds, so within the
                    // budgets means the whole text is too.
                    spent = counts.after(spent);
                    results.append(&mut judged);
                }
            }
        }
        if spent.exceed(&options.limits.yaml) {
            return None;
        }
        Some(results)
    }
}

/// The check of the fixed texts by [`Fixed::recheck_changed`], or `None` when an input cannot
/// take it (or several inputs have `kind: Namespace` documents: the first check judged each
/// input with its own).
fn recheck_changed(
    set: &crate::policy::PolicySet,
    fixed: &[Fixed],
    options: &CheckOptions,
) -> Option<Report> {
    let mut namespaces = Vec::new();
    for f in fixed {
        namespaces.extend(f.first.namespaces.as_ref()?);
    }
    if fixed.len() > 1 && !namespaces.is_empty() {
        return None;
    }
    let mut report = Report {
        ignored_params: set.unselected_params().iter().map(Into::into).collect(),
        ..Report::default()
    };
    for f in fixed {
        report
            .results
            .append(&mut f.recheck_changed(set, options, &namespaces)?);
    }
    Some(report)
}

/// For each edit, in order: the line of the fixed text its replacement ends on, and the lines
/// the edits up to it added (less those they removed).
fn line_shifts(text: &str, edits: &[crate::fix::TextEdit]) -> Vec<(u32, i64)> {
    let mut edits: Vec<&crate::fix::TextEdit> = edits.iter().collect();
    edits.sort_by_key(|e| (e.start, e.end));
    let lines = |s: &str| crate::fix::count_line_feeds(s.as_bytes()) as i64;
    let (mut shifts, mut added, mut line, mut position) = (Vec::new(), 0i64, 1i64, 0usize);
    for edit in edits {
        if edit.start < position || edit.end > text.len() {
            continue;
        }
        line += lines(&text[position..edit.end]);
        position = edit.end;
        added += lines(&edit.replacement) - lines(&text[edit.start..edit.end]);
        shifts.push((u32::try_from(line + added).unwrap_or(u32::MAX), added));
    }
    shifts
}

pub fn run(args: FixArgs) -> anyhow::Result<i32> {
    let set = args.policy.load()?;
    if !set.mutates() {
        bail!("no mutating policy is loaded: there is nothing fix could add (the embedded library has cmek-default-key)");
    }
    let (inputs, unreadable) = read_inputs_reporting(&args.paths)?;
    let to_stdout = args.stdout || inputs.iter().any(|i| i.name == "<stdin>");
    if to_stdout && inputs.len() + unreadable.len() > 1 {
        bail!("--stdout (and - for stdin) takes exactly one file");
    }
    let options = CheckOptions {
        operation: args.operation.clone(),
        mutate: true,
        namespaces: args.namespaces.known()?,
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        ..CheckOptions::default()
    };
    let mut errors: Vec<InputError> = unreadable;
    let mut fixed = Vec::new();
    for input in inputs {
        match fix_input(&set, input, &options) {
            Ok(f) => fixed.push(f),
            Err(e) => errors.push(e),
        }
    }
    // Judge what the files now say: the fixed text, without mutation, so that what is reported
    // allowed is allowed as written.
    let judged = CheckOptions {
        mutate: false,
        ..options
    };
    // The documents fix changed are judged again; the others keep the verdict validation alone
    // gave them above (their text is the same). When that cannot be done, the fixed texts are
    // checked whole (copied into inputs only then).
    let earlier = |input: usize, document: &Document| fixed[input].earlier(document);
    let mut report = recheck_changed(&set, &fixed, &judged).unwrap_or_else(|| {
        let after: Vec<Input> = fixed
            .iter()
            .map(|f| Input {
                name: f.name.clone(),
                text: f.text.as_ref().unwrap_or(&f.original).clone().into_bytes(),
            })
            .collect();
        recheck_inputs(&set, &after, &judged, &earlier)
    });
    report.errors.splice(0..0, errors);

    // All or nothing: every input was read, planned, re-parsed and judged above; on any error
    // (exit 2) no file is written and no text is printed.
    let failed = report.exit_code() == 2;
    let mut stdout = std::io::stdout().lock();
    let mut changed_files = 0;
    let mut staged = Vec::new();
    for f in fixed.iter().filter(|_| !failed) {
        let Some(text) = &f.text else {
            if to_stdout {
                stdout.write_all(f.original.as_bytes())?;
            }
            continue;
        };
        changed_files += 1;
        if args.diff {
            let diff = similar::TextDiff::from_lines(f.original.as_str(), text.as_str());
            let (old, new) = if Path::new(&f.name).is_relative() {
                (format!("a/{}", f.name), format!("b/{}", f.name))
            } else {
                (f.name.clone(), f.name.clone())
            };
            write!(
                stdout,
                "{}",
                diff.unified_diff().context_radius(3).header(&old, &new)
            )?;
        } else if to_stdout {
            stdout.write_all(text.as_bytes())?;
        } else {
            let path = Path::new(&f.name);
            match stage(path, text.as_bytes()) {
                Ok(temporary) => staged.push((temporary, path)),
                // The files staged so far are removed as `staged` is dropped.
                Err(e) => bail!("cannot write {}: {e} (no file was changed)", f.name),
            }
        }
    }
    commit(staged)?;
    drop(stdout);
    // The summary goes to stderr when stdout carries the text or the diff.
    let mut summary = String::new();
    for f in &fixed {
        for change in &f.changes {
            summary.push_str(&format!("{}:{change}\n", f.name));
        }
    }
    let verb = if args.diff { "would change" } else { "changed" };
    if failed {
        summary.push_str("fix: nothing written: an input has an error (below)\n");
    } else {
        summary.push_str(&format!(
            "fix: {verb} {changed_files} file{}\n",
            if changed_files == 1 { "" } else { "s" }
        ));
    }
    summary.push_str(&still_denied(&report, &fixed));
    if args.diff || to_stdout {
        eprint!("{summary}");
    } else {
        std::io::stdout().lock().write_all(summary.as_bytes())?;
    }
    for error in &report.errors {
        eprintln!("error: {}: {}", error.file, error.message);
    }
    Ok(report.exit_code())
}

/// Plans and applies the mutations of every document of one input.
fn fix_input(
    set: &crate::policy::PolicySet,
    input: Input,
    options: &CheckOptions,
) -> Result<Fixed, InputError> {
    let name = input.name.clone();
    let error = |message: String| InputError {
        file: name.clone(),
        message,
    };
    let Judged {
        report,
        kept,
        validation_alone,
        counts,
    } = check_inputs_judging(
        set,
        std::slice::from_ref(&input),
        options,
        FirstDocument::of,
    );
    if let Some(e) = report.errors.first() {
        return Err(error(e.message.clone()));
    }
    // A mutating binding that could not be decided: the file is left as it is.
    if let Some((r, u)) = report
        .results
        .iter()
        .find_map(|r| r.undecided.first().map(|u| (r, u)))
    {
        return Err(error(format!(
            "document {} ({} {}): {}",
            r.document, r.kind, r.name, u.message
        )));
    }
    let original = String::from_utf8(input.text).map_err(|e| error(e.utf8_error().to_string()))?;
    let text = original.as_str();
    let mut patches = Vec::new();
    let mut changes = Vec::new();
    let mut states = Vec::new();
    let mut unchanged = HashMap::new();
    let mut starts: HashMap<u32, usize> = HashMap::new();
    for result in &report.results {
        *starts.entry(result.line).or_default() += 1;
    }
    let mut namespaces = Vec::new();
    let (mut patched, mut namespace_changed) = (Vec::new(), false);
    for (index, ((result, first), &alone)) in report
        .results
        .iter()
        .zip(kept)
        .zip(&validation_alone)
        .enumerate()
    {
        if alone && result.patch.is_none() && starts[&result.line] == 1 {
            unchanged.insert(result.line, (first.column, index));
        }
        states.push((result.patch.is_some(), first.region));
        let is_namespace = first.namespace.is_some();
        if let Some(mut document) = first.namespace {
            // Numbered as in the whole text (the check numbered it within its piece).
            document.index = result.document;
            namespaces.push(document);
        }
        let (Some(target), Some(patch)) = (first.target, &result.patch) else {
            continue;
        };
        for op in &patch.0 {
            let value = match op {
                json_patch::PatchOperation::Add(a) => format!(": {}", a.value),
                json_patch::PatchOperation::Replace(r) => format!(" to {}", r.value),
                _ => String::new(),
            };
            changes.push(format!(
                "{}: {} {}: {} {}{value}",
                result.line,
                result.kind,
                result.name,
                describe_op(op),
                crate::engine::mutate::field_path(op.path())
            ));
        }
        namespace_changed |= is_namespace;
        patches.push((target, patch.0.as_slice()));
        patched.push(result);
    }
    // Every document of the file at once: the text is cut into its YAML documents and each is
    // edited and re-parsed on its own, so the time is linear in the file's size.
    let segments = crate::fix::segments(without_bom(text));
    let planned = crate::fix::plan_all_cut(text, &segments, &patches, options.threads);
    let edits = planned.map_err(|failure| {
        let result = patched[failure.patch];
        error(format!(
            "document {} ({} {}): {}",
            result.document, result.kind, result.name, failure.error
        ))
    })?;
    // The patches borrow the first check's results, which are kept below.
    drop(patches);
    drop(patched);
    let first = FirstCheck {
        namespaces: (!namespace_changed).then_some(namespaces),
        results: report.results,
        validation_alone,
        counts: counts.first().copied().unwrap_or_default(),
    };
    if edits.is_empty() {
        return Ok(Fixed {
            name,
            original,
            segments,
            text: None,
            changes,
            documents: states,
            unchanged,
            shifts: Vec::new(),
            first,
        });
    }
    let shifts = line_shifts(text, &edits);
    let fixed = crate::fix::apply(text, edits).map_err(|e| error(e.to_string()))?;
    Ok(Fixed {
        name,
        original,
        segments,
        text: Some(fixed),
        changes,
        documents: states,
        unchanged,
        shifts,
        first,
    })
}

fn describe_op(op: &json_patch::PatchOperation) -> &'static str {
    use json_patch::PatchOperation as Op;
    match op {
        Op::Add(_) => "added",
        Op::Replace(_) => "set",
        Op::Remove(_) => "removed",
        Op::Move(_) => "moved",
        Op::Copy(_) => "copied",
        Op::Test(_) => "tested",
    }
}

/// What is still denied after fixing, and why (e.g. no default key for the region).
fn still_denied(report: &Report, fixed: &[Fixed]) -> String {
    let mut out = String::new();
    for r in report.results.iter().filter(|r| !r.allowed) {
        out.push_str(&format!(
            "{}:{}: {} {}: still DENIED after fixing\n",
            r.file, r.line, r.kind, r.name
        ));
        for v in &r.violations {
            out.push_str(&format!(
                "  {}:{}: error[{}]: {}\n",
                r.file, v.line, v.policy, v.message
            ));
        }
        let state = fixed
            .iter()
            .find(|f| f.name == r.file)
            .and_then(|f| f.documents.get(r.document));
        if let Some((false, region)) = state {
            let region = match region {
                Some(region) => format!("region {region:?}"),
                None => "no region (label cloud.googleapis.com/location, or spec.location)".into(),
            };
            out.push_str(&format!(
                "  note: no mutating policy changed it; cmek-default-key adds a key only for a region in the params' spec.defaultKeys, and this resource has {region}\n"
            ));
        }
    }
    out
}

/// Writes the new contents of a file into a temporary file in the same directory (a fresh
/// name from `tempfile`, removed if it is not committed), with the original's permissions,
/// ready to be renamed over it (see [`commit`]).
fn stage(path: &Path, contents: &[u8]) -> std::io::Result<tempfile::TempPath> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let permissions = std::fs::metadata(path)?.permissions();
    let mut file = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".cmek-gate-fix")
        .tempfile_in(dir)?;
    file.write_all(contents)?;
    file.as_file().sync_all()?;
    file.as_file().set_permissions(permissions)?;
    Ok(file.into_temp_path())
}

/// Renames every staged file over its original: each replacement is atomic (a crash leaves the
/// old or the new file, never half of one). A rename that fails names the files already
/// replaced; the temporary files left are removed.
fn commit(staged: Vec<(tempfile::TempPath, &Path)>) -> anyhow::Result<()> {
    let mut done: Vec<String> = Vec::new();
    for (temporary, path) in staged {
        if let Err(e) = temporary.persist(path) {
            bail!(
                "cannot write {}: {} (already written: {})",
                path.display(),
                e.error,
                if done.is_empty() {
                    "none".into()
                } else {
                    done.join(", ")
                }
            );
        }
        done.push(path.display().to_string());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::check_inputs;
    use crate::policy::{PolicySet, Source};
    use std::os::unix::fs::PermissionsExt;

    /// The check of the fixed text that keeps the verdicts of the unchanged documents gives the
    /// report that judging the whole fixed text gives: documents after, between and before the
    /// changed ones, denied ones (whose violation lines move), several on one line (JSON, a YAML
    /// flow list), a Namespace the mutating policies leave alone, a text with nothing to change,
    /// a BOM, CRLF, empty documents and comments. The recheck that parses only the changed
    /// segments gives it too, where it applies (`fast`); where it does not (a JSON text, a
    /// single document, a lone CR, a budget the fixed text runs out of) it gives way to the
    /// whole check.
    #[test]
    fn keeping_unchanged_verdicts_gives_the_report_of_judging_everything() {
        let params = Source {
            name: "params.yaml".into(),
            text: include_str!("../../integration/fixtures/mutation/default-keys-params.yaml")
                .into(),
        };
        let set = PolicySet::compile(&crate::policy::embedded::sources(), &[params]).unwrap();
        let needs_key = include_str!("../../examples/service.yaml");
        let compliant = include_str!("../../examples/service-compliant.yaml");
        let denied =
            include_str!("../../integration/fixtures/kube/configsync-repo/runservice.yaml");
        let runjob = include_str!("../../integration/fixtures/kube/configsync-repo/runjob.yaml");
        let stream =
            |bodies: &[&str]| -> String { bodies.iter().map(|b| format!("---\n{b}")).collect() };
        let json_of = |text: &str| {
            crate::manifest::parse_documents(text, &Default::default()).unwrap()[0]
                .root
                .to_json()
        };
        let one_line_list = serde_json::to_string(&serde_json::json!([
            json_of(needs_key),
            json_of(compliant),
            json_of(compliant),
        ]))
        .unwrap();
        let flow_list = format!(
            "{}\n",
            serde_json::to_string(&serde_json::json!([json_of(compliant), json_of(needs_key)]))
                .unwrap()
        );
        let options = CheckOptions {
            mutate: true,
            ..CheckOptions::default()
        };
        // Just enough nodes for the text as written: the fixed text has more.
        let tight = stream(&[compliant, needs_key]);
        let mut limits = crate::manifest::ReadLimits::default();
        limits.yaml.max_nodes = crate::manifest::parse_part(&tight, &limits, Part::default())
            .unwrap()
            .counts
            .nodes;
        let tight_options = CheckOptions {
            limits,
            ..options.clone()
        };
        let texts: Vec<(String, &CheckOptions, bool)> = vec![
            (
                stream(&[
                    compliant, needs_key, denied, compliant, needs_key, runjob, denied,
                ]),
                &options,
                true,
            ),
            (stream(&[needs_key, needs_key, compliant]), &options, true),
            (stream(&[compliant, denied, runjob]), &options, true),
            (
                stream(&[
                    "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n",
                    needs_key,
                    compliant,
                ]),
                &options,
                true,
            ),
            (one_line_list, &options, false),
            (
                format!("\u{feff}{}", stream(&[needs_key, denied, needs_key])),
                &options,
                true,
            ),
            (
                stream(&[denied, needs_key, compliant]).replace('\n', "\r\n"),
                &options,
                true,
            ),
            (
                format!(
                    "# a comment, then an empty document\n---\n{}",
                    stream(&[
                        "",
                        needs_key,
                        &flow_list,
                        denied,
                        "# only a comment\n",
                        needs_key
                    ])
                ),
                &options,
                true,
            ),
            (needs_key.to_string(), &options, false),
            (
                format!(
                    "# a lone CR\r# breaks this line\n{}",
                    stream(&[denied, needs_key])
                ),
                &options,
                false,
            ),
            (tight, &tight_options, false),
        ];
        let mut reused = 0;
        for (i, (text, options, fast)) in texts.iter().enumerate() {
            let judged = CheckOptions {
                mutate: false,
                ..(*options).clone()
            };
            let input = Input {
                name: format!("t{i}.yaml"),
                text: text.clone().into_bytes(),
            };
            let fixed = [fix_input(&set, input, options).unwrap()];
            let after = [Input {
                name: fixed[0].name.clone(),
                text: fixed[0].text.clone().map_or_else(
                    || fixed[0].original.clone().into_bytes(),
                    String::into_bytes,
                ),
            }];
            let everything = check_inputs(&set, &after, &judged);
            let earlier = |input: usize, document: &Document| fixed[input].earlier(document);
            let kept = recheck_inputs(&set, &after, &judged, &earlier);
            assert_eq!(kept, everything, "text {i}");
            let changed = recheck_changed(&set, &fixed, &judged);
            assert_eq!(changed.is_some(), *fast, "text {i}");
            if let Some(changed) = changed {
                assert_eq!(changed, everything, "text {i}");
            }
            if let Ok(parsed) = crate::manifest::parse_documents(
                std::str::from_utf8(&after[0].text).unwrap(),
                &judged.limits,
            ) {
                reused += parsed
                    .iter()
                    .filter(|d| fixed[0].earlier(d).is_some())
                    .count();
            }
        }
        assert!(reused >= 8, "the unchanged verdicts are kept: {reused}");
    }

    /// Several inputs: the recheck of the changed segments gives the report of judging them all,
    /// unless one has a `kind: Namespace` document (the first check judged each input with its
    /// own namespaces, the whole check with all of them).
    #[test]
    fn several_inputs_are_rechecked_by_their_changed_segments_unless_namespaces_cross() {
        let params = Source {
            name: "params.yaml".into(),
            text: include_str!("../../integration/fixtures/mutation/default-keys-params.yaml")
                .into(),
        };
        let set = PolicySet::compile(&crate::policy::embedded::sources(), &[params]).unwrap();
        let needs_key = include_str!("../../examples/service.yaml");
        let compliant = include_str!("../../examples/service-compliant.yaml");
        let namespace = "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n";
        let stream =
            |bodies: &[&str]| -> String { bodies.iter().map(|b| format!("---\n{b}")).collect() };
        let options = CheckOptions {
            mutate: true,
            ..CheckOptions::default()
        };
        let judged = CheckOptions {
            mutate: false,
            ..options.clone()
        };
        let cases = [
            (
                vec![
                    stream(&[compliant, needs_key]),
                    stream(&[needs_key, compliant]),
                ],
                true,
            ),
            (
                vec![
                    stream(&[compliant, needs_key]),
                    stream(&[namespace, needs_key]),
                ],
                false,
            ),
        ];
        for (i, (texts, fast)) in cases.into_iter().enumerate() {
            let fixed: Vec<Fixed> = texts
                .iter()
                .enumerate()
                .map(|(k, text)| {
                    let input = Input {
                        name: format!("f{k}.yaml"),
                        text: text.clone().into_bytes(),
                    };
                    fix_input(&set, input, &options).unwrap()
                })
                .collect();
            let after: Vec<Input> = fixed
                .iter()
                .map(|f| Input {
                    name: f.name.clone(),
                    text: f.text.clone().unwrap().into_bytes(),
                })
                .collect();
            let everything = check_inputs(&set, &after, &judged);
            let changed = recheck_changed(&set, &fixed, &judged);
            assert_eq!(changed.is_some(), fast, "case {i}");
            if let Some(changed) = changed {
                assert_eq!(changed, everything, "case {i}");
            }
        }
    }

    /// Two stagings of one file get two temporary files (a name made from the process id, as
    /// before, collided: the second failed), each removed unless committed; a commit replaces
    /// the file and keeps its mode.
    #[test]
    fn staged_copies_have_fresh_names_and_vanish_unless_committed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("service.yaml");
        std::fs::write(&path, "old\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let first = stage(&path, b"first\n").unwrap();
        let second = stage(&path, b"second\n").unwrap();
        assert_ne!(first.to_path_buf(), second.to_path_buf());
        let files = || std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(files(), 3);
        drop(first);
        assert_eq!(files(), 2);
        commit(vec![(second, path.as_path())]).unwrap();
        assert_eq!(files(), 1);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "second\n");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
    }
}
