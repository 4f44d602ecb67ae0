//! Lint findings as a SARIF 2.1.0 log (`lint --output sarif`), for GitHub code scanning. Pure.
//!
//! One rule per lint rule ([`super::RULES`]), one result per finding at its line and column, in
//! the file as it was named (see [`crate::report::sarif::artifact_location`]); `partialFingerprints`
//! hash the file, the rule, the message and its ordinal among equal ones, not the position.
//! Files that could not be read are `toolExecutionNotifications`, and the execution is then
//! unsuccessful.

use super::{Finding, RULES};
use crate::report::sarif::{artifact_location, fnv1a64, unreadable_notification, SCHEMA_URI};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// The key of the lint fingerprint in `partialFingerprints`.
pub const FINGERPRINT_KEY: &str = "cmekGateLint/v1";

/// The SARIF log of one lint run: its findings, the files it could not read (name, message),
/// and its exit code.
pub fn to_sarif(
    findings: &[Finding],
    unreadable: &[(String, String)],
    exit_code: i32,
    tool_version: &str,
) -> Value {
    let rules: Vec<Value> = RULES
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "name": r.id,
                "shortDescription": { "text": r.description },
                "defaultConfiguration": { "level": r.severity.as_str() },
            })
        })
        .collect();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let results: Vec<Value> = findings
        .iter()
        .map(|f| {
            let key = [f.file.as_str(), f.rule, &f.message].join("\0");
            let ordinal = seen.entry(key.clone()).or_default();
            let fingerprint = format!("{:016x}", fnv1a64(format!("{key}\0{ordinal}").as_bytes()));
            *ordinal += 1;
            let mut result = Map::new();
            result.insert("ruleId".into(), json!(f.rule));
            if let Some(index) = RULES.iter().position(|r| r.id == f.rule) {
                result.insert("ruleIndex".into(), json!(index));
            }
            result.insert("level".into(), json!(f.severity.as_str()));
            result.insert("message".into(), json!({ "text": f.message }));
            if let Some(artifact) = artifact_location(&f.file) {
                result.insert(
                    "locations".into(),
                    json!([{
                        "physicalLocation": {
                            "artifactLocation": artifact,
                            "region": { "startLine": f.line, "startColumn": f.column },
                        }
                    }]),
                );
            }
            result.insert(
                "partialFingerprints".into(),
                json!({ FINGERPRINT_KEY: fingerprint }),
            );
            Value::Object(result)
        })
        .collect();
    let mut invocation = Map::new();
    invocation.insert("executionSuccessful".into(), json!(unreadable.is_empty()));
    invocation.insert("exitCode".into(), json!(exit_code));
    if !unreadable.is_empty() {
        let notifications: Vec<Value> = unreadable
            .iter()
            .map(|(file, message)| unreadable_notification(file, message))
            .collect();
        invocation.insert("toolExecutionNotifications".into(), json!(notifications));
    }
    json!({
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": { "name": "cmek-gate", "version": tool_version, "rules": rules } },
            "invocations": [Value::Object(invocation)],
            "columnKind": "unicodeCodePoints",
            "results": results,
        }]
    })
}

/// Adds the oldest Kubernetes release of each policy to the run's property bag
/// (`runs[0].properties.policies`, each as lint's JSON output gives it).
pub fn add_policy_releases(log: &mut Value, policies: &[super::PolicyRelease]) {
    if let Some(run) = log.pointer_mut("/runs/0").and_then(Value::as_object_mut) {
        run.insert("properties".into(), json!({ "policies": policies }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::Severity;

    #[test]
    fn policy_releases_are_in_the_runs_property_bag() {
        let mut log = to_sarif(&[], &[], 0, "0");
        let release = crate::lint::PolicyRelease {
            file: "p.yaml".into(),
            line: 2,
            policy: "p".into(),
            kind: "ValidatingAdmissionPolicy".into(),
            oldest_kubernetes_version: Some("1.32".into()),
            extensions: vec!["math"],
            refused_before: Some("why".into()),
        };
        add_policy_releases(&mut log, &[release]);
        let policy = &log["runs"][0]["properties"]["policies"][0];
        assert_eq!(policy["oldestKubernetesVersion"], "1.32");
        assert_eq!(policy["extensions"][0], "math");
        assert_eq!(policy["refusedBefore"], "why");
    }

    #[test]
    fn findings_are_results_at_their_line_and_column() {
        let findings = vec![
            Finding {
                file: "policies/p.yaml".into(),
                line: 12,
                column: 34,
                severity: Severity::Error,
                rule: "unknown-field",
                message: "no field".into(),
            },
            Finding {
                file: "policies/p.yaml".into(),
                line: 3,
                column: 1,
                severity: Severity::Warning,
                rule: "unused-variable",
                message: "unused".into(),
            },
        ];
        let log = to_sarif(&findings, &[], 1, "0.1.0");
        let run = &log["runs"][0];
        let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
        assert_eq!(rules.len(), RULES.len());
        let results = run["results"].as_array().unwrap();
        let table = [
            ("unknown-field", "error", 12, 34),
            ("unused-variable", "warning", 3, 1),
        ];
        for (result, (rule, level, line, column)) in results.iter().zip(table) {
            assert_eq!(result["ruleId"], rule);
            assert_eq!(
                rules[result["ruleIndex"].as_u64().unwrap() as usize]["id"],
                rule
            );
            assert_eq!(result["level"], level);
            let region = &result["locations"][0]["physicalLocation"]["region"];
            assert_eq!(
                (region["startLine"].clone(), region["startColumn"].clone()),
                (json!(line), json!(column))
            );
            assert_eq!(
                result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
                "policies/p.yaml"
            );
        }
        assert_ne!(
            results[0]["partialFingerprints"],
            results[1]["partialFingerprints"]
        );
        assert_eq!(run["invocations"][0]["executionSuccessful"], true);
        let failed = to_sarif(&[], &[("gone.yaml".into(), "not found".into())], 2, "0.1.0");
        let invocation = &failed["runs"][0]["invocations"][0];
        assert_eq!(invocation["executionSuccessful"], false);
        assert_eq!(
            invocation["toolExecutionNotifications"][0]["level"],
            "error"
        );
    }
}
