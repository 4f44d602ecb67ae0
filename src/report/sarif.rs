//! The report as SARIF 2.1.0 (`check --output sarif`), the format GitHub code scanning and other
//! CI systems read. Pure: a [`Report`] and the [`PolicySet`] it was made with in, a JSON value out.
//!
//! - One rule per loaded policy (`id` = the policy's name), in the order the policies were
//!   loaded, with the `cmek-gate.dev/description` annotation as its description and a default
//!   level from its bindings: `error` when one denies, `warning` when they only warn, `note`
//!   otherwise (audit-only or unbound: such a policy gives no results).
//! - One result per violation (`error`) and per warning (`warning`), at the violation's line
//!   (a warning: the document's line), column 1, in the file as it was named (relative paths stay
//!   relative, against `%SRCROOT%`; absolute ones become `file://` URIs; stdin has no file, only
//!   the object's logical location).
//! - `partialFingerprints` hash the file, the object (kind, namespace, name), the policy, the
//!   result's level and its ordinal among identical keys, not the line: a result keeps its
//!   identity across runs while lines move.
//! - Inputs that could not be read are `invocations[0].toolExecutionNotifications` (level
//!   `error`), and `executionSuccessful` is then false. A denial is a successful execution.
//! - A parameter object no binding selects (the policies never read it) is an
//!   `invocations[0].toolConfigurationNotifications` entry of level `warning`, id
//!   `ignored-params`, naming the object, its file and why.
//!
//! Messages are the policies' own, as in the other outputs: no manifest value is echoed.

use crate::policy::types::ValidationAction;
use crate::policy::PolicySet;
use crate::report::{DocumentResult, IgnoredParam, Report};
use serde_json::{json, Map, Value};
use std::collections::{BTreeSet, HashMap};

/// The `$schema` of the log.
pub const SCHEMA_URI: &str = "https://json.schemastore.org/sarif-2.1.0.json";
/// The key of our fingerprint in `partialFingerprints` (versioned: a change of what is hashed
/// gets a new key rather than silently re-identifying every alert).
pub const FINGERPRINT_KEY: &str = "cmekGateResult/v1";
/// The base a relative artifact URI is resolved against: the checkout's root in CI.
pub const SRCROOT: &str = "%SRCROOT%";
/// The name inputs read from stdin are reported under (see `cli::check`).
const STDIN_NAME: &str = "<stdin>";

/// The SARIF log of one check.
pub fn to_sarif(report: &Report, set: &PolicySet, tool_version: &str) -> Value {
    let mut rule_index: HashMap<&str, usize> = set
        .policies
        .iter()
        .enumerate()
        .map(|(i, p)| (p.name.as_str(), i))
        .collect();
    let mut rules: Vec<Value> = (0..set.policies.len()).map(|i| rule(set, i)).collect();
    // Mutating policies report what they add as warnings (`check --mutate`).
    for policy in &set.mutating_policies {
        if !rule_index.contains_key(policy.name.as_str()) {
            rule_index.insert(&policy.name, rules.len());
            rules.push(mutating_rule(policy));
        }
    }

    let mut results = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for document in report.results.iter().filter(|r| !r.skipped) {
        let found = document
            .violations
            .iter()
            .map(|v| (v.policy.as_str(), v.message.as_str(), v.line, Level::Error))
            .chain(document.warnings.iter().map(|w| {
                (
                    w.policy.as_str(),
                    w.message.as_str(),
                    document.line,
                    Level::Warning,
                )
            }));
        for (policy, message, line, level) in found {
            let key = fingerprint_key(document, policy, level);
            let ordinal = seen.entry(key.clone()).or_default();
            let fingerprint = format!("{:016x}", fnv1a64(format!("{key}\0{ordinal}").as_bytes()));
            *ordinal += 1;
            let mut result = Map::new();
            result.insert("ruleId".into(), json!(policy));
            if let Some(index) = rule_index.get(policy) {
                result.insert("ruleIndex".into(), json!(index));
            }
            result.insert("level".into(), json!(level.as_str()));
            result.insert("message".into(), json!({ "text": message }));
            result.insert("locations".into(), json!([location(document, line)]));
            result.insert(
                "partialFingerprints".into(),
                json!({ FINGERPRINT_KEY: fingerprint }),
            );
            result.insert(
                "properties".into(),
                json!({
                    "apiVersion": document.api_version,
                    "kind": document.kind,
                    "namespace": document.namespace,
                    "name": document.name,
                    "document": document.document,
                }),
            );
            results.push(Value::Object(result));
        }
    }

    let mut invocation = Map::new();
    // A binding that could not be decided is, like an unreadable input, a failed execution.
    let undecided: Vec<(String, String)> = report
        .results
        .iter()
        .flat_map(|r| {
            r.undecided.iter().map(move |u| {
                let message = format!(
                    "line {}: {} {}: undecided: {}",
                    r.line, r.kind, r.name, u.message
                );
                (r.file.clone(), message)
            })
        })
        .collect();
    invocation.insert(
        "executionSuccessful".into(),
        json!(report.errors.is_empty() && undecided.is_empty()),
    );
    invocation.insert("exitCode".into(), json!(report.exit_code()));
    if !report.errors.is_empty() || !undecided.is_empty() {
        let notifications: Vec<Value> = report
            .errors
            .iter()
            .map(|e| unreadable_notification(&e.file, &e.message))
            .chain(
                undecided
                    .iter()
                    .map(|(file, message)| unreadable_notification(file, message)),
            )
            .collect();
        invocation.insert("toolExecutionNotifications".into(), json!(notifications));
    }
    // A parameter object no binding selects is a problem of the configuration, not of the run.
    if !report.ignored_params.is_empty() {
        let notifications: Vec<Value> = report
            .ignored_params
            .iter()
            .map(ignored_param_notification)
            .collect();
        invocation.insert(
            "toolConfigurationNotifications".into(),
            json!(notifications),
        );
    }

    json!({
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "cmek-gate",
                    "version": tool_version,
                    "rules": rules,
                }
            },
            "invocations": [Value::Object(invocation)],
            "columnKind": "unicodeCodePoints",
            "results": results,
        }]
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Error,
    Warning,
    Note,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Note => "note",
        }
    }
}

/// The actions of the bindings of policy `index`, and the rule level they give.
fn actions_and_level(set: &PolicySet, index: usize) -> (BTreeSet<ValidationAction>, Level) {
    let actions: BTreeSet<ValidationAction> = set
        .bindings
        .iter()
        .filter(|b| b.policy == Some(index))
        .flat_map(|b| b.spec.validation_actions.iter().copied())
        .collect();
    let level = if actions.contains(&ValidationAction::Deny) {
        Level::Error
    } else if actions.contains(&ValidationAction::Warn) {
        Level::Warning
    } else {
        Level::Note
    };
    (actions, level)
}

fn rule(set: &PolicySet, index: usize) -> Value {
    let policy = &set.policies[index];
    let (actions, level) = actions_and_level(set, index);
    let short = short_description(policy);
    let actions: Vec<String> = actions.iter().map(|a| format!("{a:?}")).collect();
    let bound = if actions.is_empty() {
        "no binding selects it, so it reports nothing".to_owned()
    } else {
        format!("its bindings' validationActions: {}", actions.join(", "))
    };
    let full = format!(
        "{short} (ValidatingAdmissionPolicy {} from {}:{}; {bound}.)",
        policy.name, policy.source_name, policy.line
    );
    rule_json(policy, &full, level, json!(actions))
}

/// A `reportingDescriptor` for a policy.
fn rule_json(
    policy: &crate::policy::CompiledPolicy,
    full: &str,
    level: Level,
    actions: Value,
) -> Value {
    json!({
        "id": policy.name,
        "name": policy.name,
        "shortDescription": { "text": short_description(policy) },
        "fullDescription": { "text": full },
        "defaultConfiguration": { "level": level.as_str() },
        "properties": { "validationActions": actions },
    })
}

/// A `toolExecutionNotification` for an input that could not be read.
pub(crate) fn unreadable_notification(file: &str, message: &str) -> Value {
    let mut notification = Map::new();
    notification.insert("level".into(), json!("error"));
    notification.insert(
        "message".into(),
        json!({ "text": format!("{file}: {message}") }),
    );
    if let Some(artifact) = artifact_location(file) {
        notification.insert(
            "locations".into(),
            json!([{ "physicalLocation": { "artifactLocation": artifact } }]),
        );
    }
    Value::Object(notification)
}

/// The id of the configuration notification for a parameter object no binding selects.
pub const IGNORED_PARAMS_ID: &str = "ignored-params";

/// A `toolConfigurationNotification` (level `warning`) for a parameter object no binding
/// selects: the message says which object, where and why; the location is its file (not for
/// the embedded library or a KRM functionConfig) and the object as a logical location.
fn ignored_param_notification(param: &IgnoredParam) -> Value {
    let mut location = Map::new();
    if let Some(artifact) = Some(param.file.as_str())
        .filter(|f| !f.starts_with('<'))
        .and_then(artifact_location)
    {
        location.insert(
            "physicalLocation".into(),
            json!({ "artifactLocation": artifact }),
        );
    }
    let mut qualified = vec![param.kind.as_str()];
    if !param.namespace.is_empty() {
        qualified.push(&param.namespace);
    }
    qualified.push(&param.name);
    location.insert(
        "logicalLocations".into(),
        json!([{
            "name": param.name,
            "fullyQualifiedName": qualified.join("/"),
            "kind": "resource",
        }]),
    );
    json!({
        "level": "warning",
        "descriptor": { "id": IGNORED_PARAMS_ID },
        "message": { "text": param.message },
        "locations": [Value::Object(location)],
    })
}

/// A policy's `cmek-gate.dev/description`, else its name.
fn short_description(policy: &crate::policy::CompiledPolicy) -> &str {
    policy
        .description
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .unwrap_or(&policy.name)
}

fn mutating_rule(policy: &crate::policy::CompiledPolicy) -> Value {
    let short = short_description(policy);
    let full = format!(
        "{short} (MutatingAdmissionPolicy {} from {}:{}; with check --mutate, each change it makes is a warning naming what was added.)",
        policy.name, policy.source_name, policy.line
    );
    rule_json(policy, &full, Level::Warning, json!([]))
}

/// Where a result is: the file and line, and the object as a logical location.
fn location(document: &DocumentResult, line: u32) -> Value {
    let mut location = Map::new();
    if let Some(artifact) = artifact_location(&document.file) {
        location.insert(
            "physicalLocation".into(),
            json!({
                "artifactLocation": artifact,
                "region": { "startLine": line.max(1), "startColumn": 1 },
            }),
        );
    }
    let mut qualified = vec![document.kind.as_str()];
    if !document.namespace.is_empty() {
        qualified.push(&document.namespace);
    }
    qualified.push(&document.name);
    location.insert(
        "logicalLocations".into(),
        json!([{
            "name": document.name,
            "fullyQualifiedName": qualified.join("/"),
            "kind": "resource",
        }]),
    );
    Value::Object(location)
}

/// The SARIF `artifactLocation` of a file named as the CLI names it; `None` for stdin.
/// Relative paths stay relative (against `%SRCROOT%`), without a leading `./`; absolute paths
/// become `file://` URIs. Characters outside RFC 3986's unreserved set (and `/`) are
/// percent-encoded, so every name is a valid URI reference.
pub fn artifact_location(file: &str) -> Option<Value> {
    if file == STDIN_NAME || file.is_empty() {
        return None;
    }
    let path = if std::path::MAIN_SEPARATOR == '\\' {
        file.replace('\\', "/")
    } else {
        file.to_owned()
    };
    let bytes = path.as_bytes();
    let windows_drive = bytes.len() >= 3
        && bytes[0].is_ascii_alphabetic()
        && bytes[1] == b':'
        && (bytes[2] == b'/' || bytes[2] == b'\\');
    if windows_drive {
        let path = path.replace('\\', "/");
        // The drive's colon stays: `file:///C:/dir/file.yaml`.
        return Some(json!({
            "uri": format!("file:///{}:{}", &path[..1], percent_encode(&path[2..]))
        }));
    }
    if path.starts_with('/') {
        return Some(json!({ "uri": format!("file://{}", percent_encode(&path)) }));
    }
    let mut relative = path.as_str();
    while let Some(rest) = relative.strip_prefix("./") {
        relative = rest.trim_start_matches('/');
    }
    if relative.is_empty() {
        relative = ".";
    }
    Some(json!({ "uri": percent_encode(relative), "uriBaseId": SRCROOT }))
}

/// Percent-encodes every byte but RFC 3986's unreserved characters and `/`.
fn percent_encode(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for &b in path.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// What identifies a result across runs, but for its ordinal among equal keys.
fn fingerprint_key(document: &DocumentResult, policy: &str, level: Level) -> String {
    [
        document.file.as_str(),
        // The API group, not its version: moving to a new version keeps the identity.
        document
            .api_version
            .rsplit_once('/')
            .map_or("", |(group, _)| group),
        document.kind.as_str(),
        document.namespace.as_str(),
        document.name.as_str(),
        policy,
        level.as_str(),
    ]
    .join("\0")
}

/// FNV-1a, 64 bits: fixed by its definition, unlike `std`'s hasher, so fingerprints are the same
/// across releases, platforms and runs.
pub(crate) fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Source;
    use crate::report::{InputError, ViolationResult, WarningResult};

    fn policy(name: &str, description: Option<&str>, actions: Option<&str>) -> String {
        let annotations = description
            .map(|d| format!("  annotations:\n    cmek-gate.dev/description: \"{d}\"\n"))
            .unwrap_or_default();
        let binding = actions
            .map(|a| {
                format!(
                    "---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: {name}-binding
spec:
  policyName: {name}
  validationActions: [{a}]
"
                )
            })
            .unwrap_or_default();
        format!(
            "apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: {name}
{annotations}spec:
  matchConstraints:
    resourceRules:
      - {{apiGroups: [serving.knative.dev], apiVersions: ['*'], resources: [services], operations: [CREATE]}}
  validations:
    - expression: 'true'
{binding}"
        )
    }

    /// deny (Deny), warn (Warn), both (Warn and Deny over two bindings), audit (Audit), unbound.
    fn set() -> PolicySet {
        let text = [
            policy("deny", Some("Keys are required."), Some("Deny")),
            policy("warn", None, Some("Warn")),
            policy("both", Some("  "), Some("Warn")),
            "---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: both-deny
spec:
  policyName: both
  validationActions: [Deny, Audit]
"
            .to_owned(),
            policy("audit", None, Some("Audit")),
            policy("unbound", None, None),
        ]
        .join("---\n");
        PolicySet::compile(
            &[Source {
                name: "p.yaml".into(),
                text,
            }],
            &[],
        )
        .unwrap()
    }

    fn document(file: &str, name: &str) -> DocumentResult {
        DocumentResult {
            file: file.into(),
            document: 0,
            line: 3,
            api_version: "serving.knative.dev/v1".into(),
            kind: "Service".into(),
            name: name.into(),
            namespace: "123".into(),
            skipped: false,
            allowed: true,
            violations: vec![],
            warnings: vec![],
            audit_annotations: Default::default(),
            undecided: vec![],
            patch: None,
            sensitive_by: vec![],
        }
    }

    fn violation(policy: &str, line: u32) -> ViolationResult {
        ViolationResult {
            policy: policy.into(),
            binding: format!("{policy}-binding"),
            message: format!("{policy} failed"),
            reason: "Forbidden".into(),
            line,
        }
    }

    fn warning(policy: &str) -> WarningResult {
        WarningResult {
            policy: policy.into(),
            message: format!("{policy} warned"),
        }
    }

    fn results(log: &Value) -> &Vec<Value> {
        log["runs"][0]["results"].as_array().unwrap()
    }

    #[test]
    fn rules_are_the_policies_with_levels_from_their_bindings() {
        let log = to_sarif(&Report::default(), &set(), "1.2.3");
        assert_eq!(log["$schema"], SCHEMA_URI);
        assert_eq!(log["version"], "2.1.0");
        let driver = &log["runs"][0]["tool"]["driver"];
        assert_eq!(driver["name"], "cmek-gate");
        assert_eq!(driver["version"], "1.2.3");
        assert!(driver.get("informationUri").is_none());
        let table = [
            // id, shortDescription, level, validationActions
            ("deny", "Keys are required.", "error", vec!["Deny"]),
            ("warn", "warn", "warning", vec!["Warn"]),
            ("both", "both", "error", vec!["Deny", "Warn", "Audit"]),
            ("audit", "audit", "note", vec!["Audit"]),
            ("unbound", "unbound", "note", vec![]),
        ];
        let rules = driver["rules"].as_array().unwrap();
        assert_eq!(rules.len(), table.len());
        for (rule, (id, short, level, actions)) in rules.iter().zip(table) {
            assert_eq!(rule["id"], id);
            assert_eq!(rule["shortDescription"]["text"], short, "{id}");
            assert_eq!(rule["defaultConfiguration"]["level"], level, "{id}");
            assert_eq!(
                rule["properties"]["validationActions"],
                json!(actions),
                "{id}"
            );
            let full = rule["fullDescription"]["text"].as_str().unwrap();
            assert!(full.starts_with(short), "{full}");
            assert!(full.contains(&format!("{id} from p.yaml:")), "{full}");
            assert!(rule.get("helpUri").is_none());
        }
        assert_eq!(results(&log).len(), 0);
        let invocation = &log["runs"][0]["invocations"][0];
        assert_eq!(invocation["executionSuccessful"], true);
        assert_eq!(invocation["exitCode"], 0);
        assert!(invocation.get("toolExecutionNotifications").is_none());
    }

    #[test]
    fn violations_are_errors_at_their_line_and_warnings_at_the_documents() {
        let mut denied = document("deploy/svc.yaml", "api");
        denied.allowed = false;
        denied.violations = vec![violation("deny", 12), violation("both", 0)];
        denied.warnings = vec![warning("warn")];
        let mut skipped = document("deploy/svc.yaml", "cm");
        skipped.skipped = true;
        skipped.warnings = vec![warning("warn")];
        let report = Report {
            results: vec![denied, skipped],
            errors: vec![],
            ignored_params: vec![],
        };
        let log = to_sarif(&report, &set(), "0.1.0");
        let table = [
            // ruleId, ruleIndex, level, startLine, message
            ("deny", 0, "error", 12, "deny failed"),
            ("both", 2, "error", 1, "both failed"),
            ("warn", 1, "warning", 3, "warn warned"),
        ];
        let results = results(&log);
        assert_eq!(results.len(), table.len(), "{log:#}");
        for (result, (id, index, level, line, message)) in results.iter().zip(table) {
            assert_eq!(result["ruleId"], id);
            assert_eq!(result["ruleIndex"], index, "{id}");
            assert_eq!(result["level"], level, "{id}");
            assert_eq!(result["message"]["text"], message, "{id}");
            let physical = &result["locations"][0]["physicalLocation"];
            assert_eq!(physical["artifactLocation"]["uri"], "deploy/svc.yaml");
            assert_eq!(physical["artifactLocation"]["uriBaseId"], "%SRCROOT%");
            assert_eq!(physical["region"]["startLine"], line, "{id}");
            assert_eq!(physical["region"]["startColumn"], 1, "{id}");
            let logical = &result["locations"][0]["logicalLocations"][0];
            assert_eq!(logical["fullyQualifiedName"], "Service/123/api");
            assert_eq!(result["properties"]["kind"], "Service");
            let fingerprint = result["partialFingerprints"][FINGERPRINT_KEY]
                .as_str()
                .unwrap();
            assert_eq!(fingerprint.len(), 16);
        }
        assert_eq!(log["runs"][0]["invocations"][0]["exitCode"], 1);
        assert_eq!(
            log["runs"][0]["invocations"][0]["executionSuccessful"],
            true
        );
    }

    #[test]
    fn a_policy_missing_from_the_set_has_a_rule_id_but_no_index() {
        let mut denied = document("a.yaml", "api");
        denied.violations = vec![violation("gone", 4)];
        let report = Report {
            results: vec![denied],
            errors: vec![],
            ignored_params: vec![],
        };
        let log = to_sarif(&report, &set(), "0");
        let result = &results(&log)[0];
        assert_eq!(result["ruleId"], "gone");
        assert!(result.get("ruleIndex").is_none());
    }

    #[test]
    fn fingerprints_are_stable_and_ignore_lines_but_not_identity() {
        let fingerprint = |file: &str, name: &str, policy: &str, line: u32| {
            let mut d = document(file, name);
            d.violations = vec![violation(policy, line)];
            let report = Report {
                results: vec![d],
                errors: vec![],
                ignored_params: vec![],
            };
            results(&to_sarif(&report, &set(), "0"))[0]["partialFingerprints"][FINGERPRINT_KEY]
                .as_str()
                .unwrap()
                .to_owned()
        };
        let base = fingerprint("a.yaml", "api", "deny", 10);
        // Fixed by FNV-1a: a change here re-identifies every alert users have (bump the key).
        assert_eq!(base, "beae19e68ccd1421");
        assert_eq!(fingerprint("a.yaml", "api", "deny", 99), base);
        for other in [
            fingerprint("b.yaml", "api", "deny", 10),
            fingerprint("a.yaml", "web", "deny", 10),
            fingerprint("a.yaml", "api", "both", 10),
        ] {
            assert_ne!(other, base);
        }
        // Two violations of one policy on one object (two validations) stay distinct.
        let mut d = document("a.yaml", "api");
        d.violations = vec![violation("deny", 10), violation("deny", 11)];
        d.warnings = vec![warning("deny")];
        let report = Report {
            results: vec![d],
            errors: vec![],
            ignored_params: vec![],
        };
        let log = to_sarif(&report, &set(), "0");
        let prints: BTreeSet<&str> = results(&log)
            .iter()
            .map(|r| r["partialFingerprints"][FINGERPRINT_KEY].as_str().unwrap())
            .collect();
        assert_eq!(prints.len(), 3);
        assert!(prints.contains(base.as_str()));
    }

    #[test]
    fn fnv1a64_matches_the_reference_vectors() {
        for (input, expected) in [
            ("", 0xcbf29ce484222325u64),
            ("a", 0xaf63dc4c8601ec8c),
            ("foobar", 0x85944171f73967e8),
        ] {
            assert_eq!(fnv1a64(input.as_bytes()), expected, "{input:?}");
        }
    }

    #[test]
    fn artifact_locations() {
        let table: [(&str, Option<Value>); 9] = [
            (
                "examples/service.yaml",
                Some(json!({"uri": "examples/service.yaml", "uriBaseId": "%SRCROOT%"})),
            ),
            (
                "./deploy/./a.yaml",
                Some(json!({"uri": "deploy/./a.yaml", "uriBaseId": "%SRCROOT%"})),
            ),
            (
                "../other/a.yaml",
                Some(json!({"uri": "../other/a.yaml", "uriBaseId": "%SRCROOT%"})),
            ),
            (
                "my dir/ünï:x#1.yaml",
                Some(json!({
                    "uri": "my%20dir/%C3%BCn%C3%AF%3Ax%231.yaml",
                    "uriBaseId": "%SRCROOT%"
                })),
            ),
            (
                "/work/repo/a b.yaml",
                Some(json!({"uri": "file:///work/repo/a%20b.yaml"})),
            ),
            (
                "C:/repo/a.yaml",
                Some(json!({"uri": "file:///C:/repo/a.yaml"})),
            ),
            (
                "a%b.json",
                Some(json!({"uri": "a%25b.json", "uriBaseId": "%SRCROOT%"})),
            ),
            ("<stdin>", None),
            ("", None),
        ];
        for (file, expected) in table {
            assert_eq!(artifact_location(file), expected, "{file:?}");
        }
    }

    #[test]
    fn stdin_results_have_only_a_logical_location() {
        let mut d = document("<stdin>", "api");
        d.violations = vec![violation("deny", 5)];
        let report = Report {
            results: vec![d],
            errors: vec![],
            ignored_params: vec![],
        };
        let log = to_sarif(&report, &set(), "0");
        let location = &results(&log)[0]["locations"][0];
        assert!(location.get("physicalLocation").is_none(), "{location}");
        assert_eq!(
            location["logicalLocations"][0]["fullyQualifiedName"],
            "Service/123/api"
        );
    }

    #[test]
    fn unreadable_inputs_are_error_notifications_and_fail_the_execution() {
        let report = Report {
            results: vec![document("good.yaml", "api")],
            errors: vec![
                InputError {
                    file: "bad.yaml".into(),
                    message: "document 0 (line 1): apiVersion is missing".into(),
                },
                InputError {
                    file: "<stdin>".into(),
                    message: "invalid UTF-8 at line 1, byte 3".into(),
                },
            ],
            ignored_params: vec![],
        };
        let log = to_sarif(&report, &set(), "0");
        let invocation = &log["runs"][0]["invocations"][0];
        assert_eq!(invocation["executionSuccessful"], false);
        assert_eq!(invocation["exitCode"], 2);
        let notifications = invocation["toolExecutionNotifications"].as_array().unwrap();
        assert_eq!(notifications.len(), 2);
        assert_eq!(notifications[0]["level"], "error");
        assert_eq!(
            notifications[0]["message"]["text"],
            "bad.yaml: document 0 (line 1): apiVersion is missing"
        );
        assert_eq!(
            notifications[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            "bad.yaml"
        );
        assert!(notifications[1].get("locations").is_none());
    }

    /// A parameter object no binding selects: a configuration notification (the run still
    /// succeeds), located at its file when it has one, and always at the object.
    #[test]
    fn ignored_params_are_configuration_warnings() {
        for (file, namespace, uri, qualified) in [
            (
                "params/prod.yaml",
                "",
                Some("params/prod.yaml"),
                "CmekGateParams/prod",
            ),
            ("<functionConfig>", "shop", None, "CmekGateParams/shop/prod"),
        ] {
            let report = Report {
                results: vec![document("good.yaml", "api")],
                errors: vec![],
                ignored_params: vec![IgnoredParam {
                    file: file.into(),
                    api_version: "cmek-gate.dev/v1alpha1".into(),
                    kind: "CmekGateParams".into(),
                    namespace: namespace.into(),
                    name: "prod".into(),
                    reason: "no binding selects it".into(),
                    message: format!(
                        "{file}: CmekGateParams \"prod\" is ignored: no binding selects it"
                    ),
                }],
            };
            let log = to_sarif(&report, &set(), "0");
            let invocation = &log["runs"][0]["invocations"][0];
            assert_eq!(invocation["executionSuccessful"], true);
            assert!(invocation.get("toolExecutionNotifications").is_none());
            let notes = invocation["toolConfigurationNotifications"]
                .as_array()
                .unwrap();
            assert_eq!(notes.len(), 1, "{file}");
            assert_eq!(notes[0]["level"], "warning");
            assert_eq!(notes[0]["descriptor"]["id"], IGNORED_PARAMS_ID);
            assert_eq!(
                notes[0]["message"]["text"],
                report.ignored_params[0].message
            );
            let location = &notes[0]["locations"][0];
            assert_eq!(
                location["physicalLocation"]["artifactLocation"]["uri"].as_str(),
                uri,
                "{file}"
            );
            assert_eq!(
                location["logicalLocations"][0]["fullyQualifiedName"],
                qualified
            );
        }
    }
}
