//! The result of a check, as JSON (`--output json`, `/v1/check`) and as text for people.
//! Messages come from policies only: no value from a manifest is echoed beyond what a policy's
//! message says (manifests carry secrets in env values).

pub mod sarif;

use crate::engine::{Decision, Violation, Warning};
use crate::manifest::Document;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write;

/// The verdict on one document.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DocumentResult {
    pub file: String,
    /// 0-based index of the object in its file.
    pub document: usize,
    pub line: u32,
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub namespace: String,
    /// No policy selected the document.
    pub skipped: bool,
    pub allowed: bool,
    pub violations: Vec<ViolationResult>,
    pub warnings: Vec<WarningResult>,
    pub audit_annotations: BTreeMap<String, String>,
    /// Bindings whose namespace selector needs labels nobody gave: the document is not allowed,
    /// and the check fails with exit code 2.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub undecided: Vec<UndecidedResult>,
    /// With mutation: the change the mutating policies made, as an RFC 6902 patch of the
    /// document; the verdict above is on the changed object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch: Option<json_patch::Patch>,
    /// The policies marked `cmek-gate.dev/scan-role: sensitivity` that hold the document
    /// sensitive (what `scan` counts; not in the check's report).
    #[serde(skip)]
    pub sensitive_by: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ViolationResult {
    pub policy: String,
    pub binding: String,
    pub message: String,
    pub reason: String,
    /// The line of the offending field, else of the document.
    pub line: u32,
}

/// A binding that could not be decided.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UndecidedResult {
    pub policy: String,
    pub binding: String,
    pub namespace: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WarningResult {
    pub policy: String,
    pub message: String,
}

/// A parameter object the policies never read (no binding selects it): a warning, which does
/// not change the exit code.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct IgnoredParam {
    /// The file it was loaded from (`<embedded>`, `<functionConfig>` for those sources).
    pub file: String,
    pub api_version: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    pub name: String,
    /// Why: `no binding selects it (the bindings' paramRef selects name "default"; ...)`.
    pub reason: String,
    /// The whole warning, as `check` prints it on stderr.
    pub message: String,
}

impl From<&crate::policy::selection::UnselectedParam> for IgnoredParam {
    fn from(param: &crate::policy::selection::UnselectedParam) -> Self {
        IgnoredParam {
            file: param.source_name.clone(),
            api_version: param.api_version.clone(),
            kind: param.kind.clone(),
            namespace: param.namespace.clone(),
            name: param.name.clone(),
            reason: param.reason(),
            message: param.to_string(),
        }
    }
}

/// An input that could not be read.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InputError {
    pub file: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Summary {
    pub documents: usize,
    pub checked: usize,
    pub skipped: usize,
    pub allowed: usize,
    pub denied: usize,
    pub violations: usize,
    pub warnings: usize,
    pub errors: usize,
    /// Documents not allowed because a binding could not be decided (and none denied them).
    #[serde(skip_serializing_if = "is_zero")]
    pub undecided: usize,
    /// Documents a mutating policy changed (with mutation only).
    #[serde(skip_serializing_if = "is_zero")]
    pub mutated: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Everything a check found.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Report {
    pub results: Vec<DocumentResult>,
    /// Inputs that could not be read (the check then fails with exit code 2).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<InputError>,
    /// Parameter objects no binding selects (warnings).
    #[serde(
        default,
        rename = "ignoredParams",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ignored_params: Vec<IgnoredParam>,
}

impl DocumentResult {
    pub fn new(file: &str, document: &Document, decision: Decision) -> DocumentResult {
        let violation = |v: Violation| ViolationResult {
            line: v.line.unwrap_or(document.line),
            policy: v.policy,
            binding: v.binding,
            message: v.message,
            reason: v.reason,
        };
        let warning = |w: Warning| WarningResult {
            policy: w.policy,
            message: w.message,
        };
        DocumentResult {
            file: file.to_owned(),
            document: document.index,
            line: document.line,
            api_version: document.api_version.clone(),
            kind: document.kind.clone(),
            name: document.name.clone(),
            namespace: document.namespace.clone(),
            skipped: !decision.matched,
            allowed: decision.allowed(),
            violations: decision.violations.into_iter().map(violation).collect(),
            warnings: decision.warnings.into_iter().map(warning).collect(),
            audit_annotations: decision.audit_annotations,
            undecided: decision
                .undecided
                .iter()
                .map(|u| UndecidedResult {
                    policy: u.policy.clone(),
                    binding: u.binding.clone(),
                    namespace: u.namespace.clone(),
                    message: u.message(),
                })
                .collect(),
            patch: decision.patch,
            sensitive_by: decision.sensitive_by,
        }
    }
}

impl Summary {
    /// Counts one more document's result.
    pub fn add(&mut self, r: &DocumentResult) {
        self.documents += 1;
        if r.skipped {
            self.skipped += 1;
            return;
        }
        self.checked += 1;
        self.mutated += usize::from(r.patch.is_some());
        if r.allowed {
            self.allowed += 1;
        } else if r.violations.is_empty() {
            self.undecided += 1;
        } else {
            self.denied += 1;
        }
        self.violations += r.violations.len();
        self.warnings += r.warnings.len();
    }
}

impl Report {
    pub fn summary(&self) -> Summary {
        let mut s = Summary {
            errors: self.errors.len(),
            ..Summary::default()
        };
        for r in &self.results {
            s.add(r);
        }
        s
    }

    /// 0 when everything is allowed, 1 when something is denied, 2 when an input could not be
    /// read or a binding could not be decided.
    pub fn exit_code(&self) -> i32 {
        if !self.errors.is_empty() || self.results.iter().any(|r| !r.undecided.is_empty()) {
            2
        } else if self.results.iter().any(|r| !r.allowed) {
            1
        } else {
            0
        }
    }

    /// The JSON report: `{"results": [...], "summary": {...}}` (and `errors` when there are any).
    pub fn to_json(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).expect("a report serializes");
        value["summary"] = serde_json::to_value(self.summary()).expect("a summary serializes");
        value
    }

    /// Text for people: one line per checked document, one per violation and warning.
    pub fn to_human(&self, verbose: bool) -> String {
        let mut out = String::new();
        for r in &self.results {
            human_result(&mut out, r, verbose);
        }
        human_footer(&mut out, &self.errors, &self.summary());
        out
    }
}

/// The human report's lines for one document.
fn human_result(out: &mut String, r: &DocumentResult, verbose: bool) {
    if r.skipped && !verbose {
        return;
    }
    let verdict = match (r.skipped, r.allowed, r.warnings.is_empty()) {
        (true, _, _) => "skipped (no policy applies)",
        (false, false, _) if r.violations.is_empty() => "UNDECIDED",
        (false, false, _) => "DENIED",
        (false, true, true) => "allowed",
        (false, true, false) => "allowed with warnings",
    };
    let ns = if r.namespace.is_empty() {
        String::new()
    } else {
        format!(" in {}", r.namespace)
    };
    let _ = writeln!(
        out,
        "{}:{}: {} {}{}: {}",
        r.file, r.line, r.kind, r.name, ns, verdict
    );
    for v in &r.violations {
        let _ = writeln!(
            out,
            "  {}:{}: error[{}]: {}",
            r.file, v.line, v.policy, v.message
        );
    }
    for u in &r.undecided {
        let _ = writeln!(
            out,
            "  {}:{}: undecided[{}]: {}",
            r.file, r.line, u.policy, u.message
        );
    }
    for w in &r.warnings {
        let _ = writeln!(out, "  warning[{}]: {}", w.policy, w.message);
    }
    if r.patch.is_some() {
        let _ = writeln!(
            out,
            "  mutated: the verdict is on the object as the mutating policies changed it (cmek-gate fix writes the change)"
        );
    }
}

/// The human report's last lines: the unreadable inputs and the summary.
fn human_footer(out: &mut String, errors: &[InputError], s: &Summary) {
    for e in errors {
        let _ = writeln!(out, "{}: error: {}", e.file, e.message);
    }
    let _ = writeln!(
        out,
        "{} document{}: {} allowed, {} denied, {} skipped; {} violation{}, {} warning{}{}",
        s.documents,
        plural(s.documents),
        s.allowed,
        s.denied,
        s.skipped,
        s.violations,
        plural(s.violations),
        s.warnings,
        plural(s.warnings),
        if s.errors > 0 {
            format!("; {} unreadable input{}", s.errors, plural(s.errors))
        } else {
            String::new()
        }
    );
    if s.undecided > 0 {
        let _ = writeln!(
            out,
            "{} document{} undecided: a binding selects namespaces by label and the labels are not known (see above)",
            s.undecided,
            plural(s.undecided)
        );
    }
}

/// The format a [`ReportWriter`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamFormat {
    /// The JSON report, as [`Report::to_json`] pretty-printed.
    Json,
    /// The text of [`Report::to_human`].
    Human { verbose: bool },
}

/// Writes a report as its results come (a [`crate::batch::ReportSink`]): each document's entry
/// is written when its input is decided and then forgotten; only the counts, the unreadable
/// inputs and the undecided bindings (for the exit code and the error lines) are kept. The bytes
/// are those of the whole report's [`Report::to_json`] (pretty) or [`Report::to_human`].
pub struct ReportWriter<W: std::io::Write> {
    out: W,
    format: StreamFormat,
    summary: Summary,
    errors: Vec<InputError>,
    ignored_params: Vec<IgnoredParam>,
    /// Each undecided binding: the document's file, line, kind and name, and the binding's message.
    undecided: Vec<(String, u32, String, String, String)>,
    denied: bool,
    /// The first write error: the rest is not written.
    failed: Option<std::io::Error>,
}

impl<W: std::io::Write> ReportWriter<W> {
    /// Starts the report; `errors` are inputs already known to be unreadable (they come first).
    pub fn new(out: W, format: StreamFormat, errors: Vec<InputError>) -> ReportWriter<W> {
        let mut writer = ReportWriter {
            out,
            format,
            summary: Summary::default(),
            errors,
            ignored_params: Vec::new(),
            undecided: Vec::new(),
            denied: false,
            failed: None,
        };
        if format == StreamFormat::Json {
            writer.write(b"{\n  \"results\": [");
        }
        writer
    }

    fn write(&mut self, bytes: &[u8]) {
        if self.failed.is_none() {
            if let Err(e) = self.out.write_all(bytes) {
                self.failed = Some(e);
            }
        }
    }

    /// One document's result.
    fn result(&mut self, r: &DocumentResult) {
        let first = self.summary.documents == 0;
        self.summary.add(r);
        self.denied |= !r.allowed;
        for u in &r.undecided {
            self.undecided.push((
                r.file.clone(),
                r.line,
                r.kind.clone(),
                r.name.clone(),
                u.message.clone(),
            ));
        }
        match self.format {
            StreamFormat::Json => {
                let entry = pretty_at(r, "    ");
                let separator: &[u8] = if first { b"\n    " } else { b",\n    " };
                self.write(separator);
                self.write(entry.as_bytes());
            }
            StreamFormat::Human { verbose } => {
                let mut text = String::new();
                human_result(&mut text, r, verbose);
                self.write(text.as_bytes());
            }
        }
    }

    /// Ends the report: the unreadable inputs and the summary. Gives the exit code (as
    /// [`Report::exit_code`]), the undecided bindings as `file:line: kind name: message` for
    /// the error stream, and the unreadable inputs.
    pub fn finish(mut self) -> std::io::Result<Finished> {
        self.summary.errors = self.errors.len();
        match self.format {
            StreamFormat::Json => {
                let mut tail = String::new();
                tail.push_str(if self.summary.documents == 0 {
                    "]"
                } else {
                    "\n  ]"
                });
                if !self.errors.is_empty() {
                    tail.push_str(",\n  \"errors\": ");
                    tail.push_str(&pretty_at(&self.errors, "  "));
                }
                if !self.ignored_params.is_empty() {
                    tail.push_str(",\n  \"ignoredParams\": ");
                    tail.push_str(&pretty_at(&self.ignored_params, "  "));
                }
                tail.push_str(",\n  \"summary\": ");
                tail.push_str(&pretty_at(&self.summary, "  "));
                tail.push_str("\n}");
                self.write(tail.as_bytes());
            }
            StreamFormat::Human { .. } => {
                let mut tail = String::new();
                human_footer(&mut tail, &self.errors, &self.summary);
                self.write(tail.as_bytes());
            }
        }
        if let Some(e) = self.failed {
            return Err(e);
        }
        self.out.flush()?;
        let exit_code = if !self.errors.is_empty() || !self.undecided.is_empty() {
            2
        } else if self.denied {
            1
        } else {
            0
        };
        Ok(Finished {
            exit_code,
            errors: self.errors,
            undecided: self
                .undecided
                .into_iter()
                .map(|(file, line, kind, name, message)| {
                    format!("{file}:{line}: {kind} {name}: {message}")
                })
                .collect(),
        })
    }
}

/// What a [`ReportWriter`] gives back at the end.
#[derive(Debug)]
pub struct Finished {
    pub exit_code: i32,
    pub errors: Vec<InputError>,
    /// One line per undecided binding: `file:line: kind name: message`.
    pub undecided: Vec<String>,
}

impl<W: std::io::Write> crate::batch::ReportSink for ReportWriter<W> {
    fn input_results(&mut self, results: Vec<DocumentResult>) {
        for r in &results {
            self.result(r);
        }
    }

    fn input_error(&mut self, error: InputError) {
        self.errors.push(error);
    }

    fn ignored_params(&mut self, params: Vec<IgnoredParam>) {
        self.ignored_params = params;
    }
}

/// `value` pretty-printed as it would be `indent` deep in a pretty-printed document (JSON strings
/// hold no raw line breaks, so every line break is the printer's own).
fn pretty_at(value: &impl Serialize, indent: &str) -> String {
    let text = serde_json::to_string_pretty(value).expect("a report serializes");
    text.replace('\n', &format!("\n{indent}"))
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
