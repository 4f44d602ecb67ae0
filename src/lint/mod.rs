//! `cmek-gate lint`: what is wrong or risky in policy files, found without running them. Pure:
//! policy texts in, findings (file, line, column, severity, rule, message) out.
//!
//! Every expression is compiled (all of them, not only up to the first error), read for the
//! field paths it uses (checked against the reduced schemas of the kinds its policy matches,
//! [`schema`]), for map keys read without a guard, for its type where the syntax decides it, for
//! constants and unused variables, and estimated for cost; bindings are checked against the
//! policies and parameters loaded beside them. The rules are listed in [`RULES`] and
//! `docs/lint.md`.

mod expressions;
mod policy;
pub mod sarif;
pub mod schema;

use crate::manifest::{self, Document, ReadLimits};
use crate::policy::types::{MutatingAdmissionPolicyBinding, ValidatingAdmissionPolicyBinding};
use crate::policy::{CompileOptions, PolicyError, PolicySet, Source, POLICY_GROUP};
use serde::Serialize;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// One thing lint found, at a line and column (1-based, in characters) of a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub severity: Severity,
    pub rule: &'static str,
    pub message: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}: {} [{}]",
            self.file,
            self.line,
            self.column,
            self.severity.as_str(),
            self.message,
            self.rule
        )
    }
}

/// A rule: its id, its severity, and what it finds.
#[derive(Debug)]
pub struct Rule {
    pub id: &'static str,
    pub severity: Severity,
    pub description: &'static str,
}

/// Every rule, in the order `docs/lint.md` lists them.
pub const RULES: &[Rule] = &[
    Rule {
        id: "parse",
        severity: Severity::Error,
        description: "The file is not YAML or JSON manifests.",
    },
    Rule {
        id: "decode",
        severity: Severity::Error,
        description: "A policy or binding has an unknown field or a field of the wrong type.",
    },
    Rule {
        id: "compile",
        severity: Severity::Error,
        description: "An expression does not compile: a syntax error, an unknown variable or function, a type error (as Kubernetes' type checker finds it with object, oldObject and params dyn), an invalid regular expression.",
    },
    Rule {
        id: "kubernetes-version",
        severity: Severity::Error,
        description: "A CmekGateParams' spec.kubernetesVersion that is no release the gate targets (1.30 to 1.37), or a policy's cmek-gate.dev/cel-extensions annotation naming no extension.",
    },
    Rule {
        id: "load",
        severity: Severity::Error,
        description: "The policies do not load together: a name defined twice, a binding without validationActions, a document that is neither a policy, a binding nor a parameter object.",
    },
    Rule {
        id: "unknown-field",
        severity: Severity::Error,
        description: "An expression reads a field that no kind its policy matches has.",
    },
    Rule {
        id: "unguarded-key",
        severity: Severity::Warning,
        description: "A map key (a label, an annotation), or a map field itself, is read without has(), `in` or an optional access guarding it: the evaluation fails when it is absent.",
    },
    Rule {
        id: "expression-type",
        severity: Severity::Error,
        description: "An expression whose type is not the one its field requires (a bool for a validation or match condition, a string for a messageExpression, ...): Kubernetes refuses the policy.",
    },
    Rule {
        id: "schema-type",
        severity: Severity::Warning,
        description: "An expression that does not type-check with object typed from the schemas of the kinds its policy matches, or params from its paramKind's CRD: Kubernetes reports it as a type-checking warning.",
    },
    Rule {
        id: "constant-validation",
        severity: Severity::Warning,
        description: "A validation whose expression reads nothing: it always allows, or always denies.",
    },
    Rule {
        id: "unused-variable",
        severity: Severity::Warning,
        description: "A variable no expression of its policy uses.",
    },
    Rule {
        id: "live-unguarded",
        severity: Severity::Warning,
        description: "A policy calls the kms extension's live functions (kms.key, kms.serviceAgentCanUse, ...) but never tests kms.available(): without --live its evaluation fails, a denial under failurePolicy Fail.",
    },
    Rule {
        id: "binding-without-policy",
        severity: Severity::Warning,
        description: "A binding names a policy that is not loaded: it does nothing.",
    },
    Rule {
        id: "param-ref",
        severity: Severity::Warning,
        description: "A binding has a paramRef for a policy without paramKind, or none for a policy with one.",
    },
    Rule {
        id: "params-not-loaded",
        severity: Severity::Warning,
        description: "A policy's paramKind has no parameter object among the files linted.",
    },
    Rule {
        id: "cost",
        severity: Severity::Error,
        description: "An expression, or a policy, whose estimated cost is over the limit.",
    },
];

/// The runtime budget of evaluating a constant validation, to report its value.
const CONSTANT_BUDGET: u64 = 100_000;

/// The limits the cost rule applies, and the target the policies are compiled for.
#[derive(Debug, Clone, Copy)]
pub struct LintOptions {
    pub max_expression_cost: u64,
    pub max_policy_cost: u64,
    /// `None`: a loaded CmekGateParams' `spec.kubernetesVersion`, else the newest.
    pub kubernetes_version: Option<cel_k8s::KubernetesVersion>,
    /// Extensions every policy may use.
    pub extensions: cel_k8s::Extensions,
}

impl Default for LintOptions {
    fn default() -> Self {
        let defaults = CompileOptions::default();
        LintOptions {
            max_expression_cost: defaults.max_expression_cost,
            max_policy_cost: defaults.max_policy_cost,
            kubernetes_version: defaults.kubernetes_version,
            extensions: defaults.extensions,
        }
    }
}

/// A document of a source.
pub(crate) struct Doc<'a> {
    pub source: &'a Source,
    pub doc: Document,
}

impl Doc<'_> {
    /// A finding at a line and column of this document's file.
    pub fn finding(
        &self,
        (line, column): (u32, u32),
        rule: &'static str,
        message: String,
    ) -> Finding {
        finding(&self.source.name, (line, column), rule, message)
    }

    /// The line and column of the key at `path` (as far as it exists).
    pub fn key_position(&self, path: &[&str]) -> (u32, u32) {
        let mark = self.doc.root.deepest(path).1;
        (mark.line.max(self.doc.line), mark.column.max(1))
    }
}

fn finding(file: &str, (line, column): (u32, u32), rule: &'static str, message: String) -> Finding {
    let severity = RULES
        .iter()
        .find(|r| r.id == rule)
        .map_or(Severity::Error, |r| r.severity);
    Finding {
        file: file.to_owned(),
        line: line.max(1),
        column: column.max(1),
        severity,
        rule,
        message,
    }
}

/// What was loaded beside the policies: their bindings and parameter objects.
pub(crate) struct Loaded<'a> {
    pub validating: Vec<policy::PolicyDoc<'a>>,
    pub mutating: Vec<policy::PolicyDoc<'a>>,
    pub validating_bindings: Vec<(Doc<'a>, ValidatingAdmissionPolicyBinding)>,
    pub mutating_bindings: Vec<(Doc<'a>, MutatingAdmissionPolicyBinding)>,
    pub params: Vec<Doc<'a>>,
    /// The CustomResourceDefinitions among the files (they type `params`).
    pub crds: Vec<serde_json::Value>,
}

/// The oldest Kubernetes release a policy runs on, as lint reports it beside its findings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRelease {
    pub file: String,
    pub line: u32,
    pub policy: String,
    pub kind: String,
    /// `None`: it compiles on no release the gate targets.
    pub oldest_kubernetes_version: Option<String>,
    /// The extensions it was given (its annotation's and `--cel-extensions`).
    pub extensions: Vec<&'static str>,
    /// Why the release before the oldest (or, when there is none, the newest) refuses it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused_before: Option<String>,
}

impl std::fmt::Display for PolicyRelease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: policy \"{}\" ",
            self.file, self.line, self.policy
        )?;
        match &self.oldest_kubernetes_version {
            Some(version) => write!(f, "runs on Kubernetes {version} or newer")?,
            None => write!(f, "compiles on no Kubernetes release from 1.30 to 1.37")?,
        }
        if !self.extensions.is_empty() {
            write!(f, " with the extensions {}", self.extensions.join(","))?;
        }
        if let Some(why) = &self.refused_before {
            write!(f, " ({why})")?;
        }
        Ok(())
    }
}

/// What lint reports: its findings, and the oldest release each policy runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LintReport {
    pub findings: Vec<Finding>,
    pub policies: Vec<PolicyRelease>,
}

/// Lints policy sources: every finding, in file order, then by line and column.
pub fn lint(sources: &[Source], options: &LintOptions) -> Vec<Finding> {
    lint_report(sources, options).findings
}

/// [`lint`], and the oldest Kubernetes release each policy runs on.
pub fn lint_report(sources: &[Source], options: &LintOptions) -> LintReport {
    let mut findings = Vec::new();
    let mut loaded = Loaded {
        validating: Vec::new(),
        mutating: Vec::new(),
        validating_bindings: Vec::new(),
        mutating_bindings: Vec::new(),
        params: Vec::new(),
        crds: Vec::new(),
    };
    for source in sources {
        match manifest::parse_documents(&source.text, &ReadLimits::default()) {
            Ok(docs) => {
                for doc in docs {
                    classify(Doc { source, doc }, &mut loaded, &mut findings);
                }
            }
            Err(error) => findings.push(finding(
                &source.name,
                (manifest_error_line(&error), 1),
                "parse",
                error.to_string(),
            )),
        }
    }
    let version = match options.kubernetes_version {
        Some(version) => version,
        None => crate::policy::settings::kubernetes_version_setting(
            loaded
                .params
                .iter()
                .map(|d| (d.source.name.as_str(), &d.doc)),
            std::iter::empty(),
        )
        .unwrap_or_else(|error| {
            if let PolicyError::Invalid {
                source_name,
                line,
                message,
            } = &error
            {
                findings.push(finding(
                    source_name,
                    (*line, 1),
                    "kubernetes-version",
                    message.clone(),
                ));
            }
            None
        })
        .unwrap_or_default(),
    };
    let target = cel_k8s::Profile::new(version, options.extensions);
    // Lint evaluates only constant expressions, to say what they always give: on a small budget.
    let env = crate::cel::Environment::for_profile(target).with_budget(CONSTANT_BUDGET);
    let mut policies = Vec::new();
    for doc in loaded.validating.iter().chain(&loaded.mutating) {
        let profile = policy::lint_policy(&env, target, doc, &loaded, options, &mut findings);
        policies.push(policy::oldest_release(doc, profile.extensions));
    }
    policy::lint_bindings(&loaded, &mut findings);
    if !findings.iter().any(|f| f.severity == Severity::Error) {
        let options = CompileOptions {
            kubernetes_version: options.kubernetes_version,
            extensions: options.extensions,
            ..CompileOptions::unlimited()
        };
        if let Err(error) = PolicySet::compile_with(sources, &[], &options) {
            findings.push(load_finding(&error));
        }
    }
    let order: Vec<&str> = sources.iter().map(|s| s.name.as_str()).collect();
    findings.sort_by_key(|f| {
        (
            order.iter().position(|n| *n == f.file),
            f.line,
            f.column,
            f.rule,
        )
    });
    findings.dedup();
    policies.sort_by_key(|p| (order.iter().position(|n| *n == p.file), p.line));
    LintReport { findings, policies }
}

/// Sorts a document into policies, bindings and parameter candidates; one that does not decode
/// is a finding.
fn classify<'a>(doc: Doc<'a>, loaded: &mut Loaded<'a>, findings: &mut Vec<Finding>) {
    // The column of the deepest key of a decode error's path that exists, on its line.
    let root = doc.doc.root.clone();
    let decode_error = |error: PolicyError| match error {
        PolicyError::Decode {
            source_name,
            line,
            path,
            message,
            ..
        } => {
            let mark = root.deepest(&expressions::segments(&path)).1;
            let column = if mark.line == line { mark.column } else { 1 };
            finding(
                &source_name,
                (line, column),
                "decode",
                format!("{path}: {message}"),
            )
        }
        other => load_finding(&other),
    };
    match (doc.doc.group(), doc.doc.kind.as_str()) {
        (POLICY_GROUP, "ValidatingAdmissionPolicy" | "MutatingAdmissionPolicy") => {
            match policy::PolicyDoc::decode(doc) {
                Ok(policy) if policy.is_mutating() => loaded.mutating.push(policy),
                Ok(policy) => loaded.validating.push(policy),
                Err(error) => findings.push(decode_error(error)),
            }
        }
        (POLICY_GROUP, "ValidatingAdmissionPolicyBinding") => {
            match crate::policy::decode(doc.source, &doc.doc) {
                Ok(binding) => loaded.validating_bindings.push((doc, binding)),
                Err(error) => findings.push(decode_error(error)),
            }
        }
        (POLICY_GROUP, "MutatingAdmissionPolicyBinding") => {
            match crate::policy::decode(doc.source, &doc.doc) {
                Ok(binding) => loaded.mutating_bindings.push((doc, binding)),
                Err(error) => findings.push(decode_error(error)),
            }
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            loaded.crds.push(doc.doc.root.to_json())
        }
        _ => loaded.params.push(doc),
    }
}

fn manifest_error_line(error: &crate::manifest::ManifestError) -> u32 {
    use crate::manifest::ManifestError as E;
    match error {
        E::Yaml { source, .. } => source.mark().line,
        E::NotAnObject { line, .. } | E::BadIdentity { line, .. } => *line,
        E::InvalidUtf8 { line, .. } => *line as u32,
        _ => 1,
    }
}

/// A policy error the set's loading found, as a finding of the `load` rule.
fn load_finding(error: &PolicyError) -> Finding {
    let (file, line, column) = match error {
        PolicyError::Manifest { source_name, error } => {
            (source_name.as_str(), manifest_error_line(error), 1)
        }
        PolicyError::Decode {
            source_name, line, ..
        }
        | PolicyError::Invalid {
            source_name, line, ..
        }
        | PolicyError::Cost {
            source_name, line, ..
        } => (source_name.as_str(), *line, 1),
        PolicyError::Compile {
            source_name,
            line,
            column,
            ..
        } => (source_name.as_str(), *line, column.unwrap_or(1)),
        PolicyError::Read { path, .. } => (path.as_str(), 1, 1),
        PolicyError::NothingBound { paths, .. } | PolicyError::Unstable { paths, .. } => {
            (paths.as_str(), 1, 1)
        }
    };
    // The message without the file and line the finding already gives.
    let text = error.to_string();
    let message = text
        .strip_prefix(&format!("{file}:{line}: "))
        .or_else(|| text.strip_prefix(&format!("{file}: ")))
        .unwrap_or(&text)
        .to_owned();
    finding(file, (line, column), "load", message)
}

/// Exit code of a lint run: 1 when an error was found (or a warning, with `deny_warnings`).
pub fn exit_code(findings: &[Finding], deny_warnings: bool) -> i32 {
    let failing = findings
        .iter()
        .any(|f| f.severity == Severity::Error || deny_warnings);
    i32::from(failing)
}

#[cfg(test)]
mod tests;
