//! The real binary, run as a user runs it: exit codes, output, stdin, options.

use crate::support::{fixtures, gate, gate_in, repo, temp_dir};

#[test]
fn the_readme_example_is_denied_and_the_compliant_one_allowed() {
    gate(&["check", "examples/service.yaml"])
        .expect_code(1)
        .stdout_has("DENIED")
        .stdout_has("error[cmek-required]");
    gate(&["check", "examples/service-compliant.yaml"])
        .expect_code(0)
        .stdout_has("allowed");
}

#[test]
fn the_readme_shows_what_the_first_command_prints() {
    let run = gate(&["check", "examples/service.yaml"]);
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    assert!(
        readme.contains(&format!("```\n{}```", run.stdout)),
        "README.md's example output is stale; the command now prints:\n{run}"
    );
}

#[test]
fn json_output_has_the_documented_shape() {
    let run = gate(&["check", "--output", "json", "examples/service.yaml"]);
    run.expect_code(1);
    let report = run.json();
    let result = &report["results"][0];
    for field in [
        "file",
        "document",
        "line",
        "apiVersion",
        "kind",
        "name",
        "namespace",
        "skipped",
        "allowed",
        "violations",
        "warnings",
        "auditAnnotations",
    ] {
        assert!(
            result.get(field).is_some(),
            "results[0] lacks {field}\n{run}"
        );
    }
    let violation = &result["violations"][0];
    for field in ["policy", "binding", "message", "reason", "line"] {
        assert!(
            violation.get(field).is_some(),
            "violation lacks {field}\n{run}"
        );
    }
    assert_eq!(report["summary"]["denied"], 1, "{run}");
}

#[test]
fn stdin_and_directories() {
    let text = std::fs::read(repo().join("examples/service.yaml")).unwrap();
    gate_in(&repo(), &["check", "-"], &text)
        .expect_code(1)
        .stdout_has("<stdin>:");
    // A directory is walked: the Config Sync example repository (Namespaces, a Repo, services).
    let run = gate(&["check", "--output", "json", "examples/config-sync"]);
    run.expect_code(0);
    assert!(
        run.json()["summary"]["documents"].as_u64().unwrap() >= 5,
        "{run}"
    );
    assert!(
        run.json()["summary"]["checked"].as_u64().unwrap() >= 3,
        "{run}"
    );
}

#[test]
fn errors_exit_2_with_the_file_named() {
    gate(&["check", "no/such/file.yaml"])
        .expect_code(2)
        .stderr_has("no/such/file.yaml");
    let hostile = fixtures().join("hostile/duplicate-keys");
    gate_in(&hostile, &["check", "input.yaml"], b"")
        .expect_code(2)
        .stderr_has("input.yaml")
        .stderr_has("duplicate key");
    gate_in(&repo(), &["check", "-"], b"a: [\n")
        .expect_code(2)
        .stderr_has("<stdin>");
    gate(&["check"]).expect_code(2);
}

#[test]
fn cost_limits_apply_to_every_command_that_loads_policies() {
    // The shipped library is within the default limits, and refused, naming the policy, the
    // field and the estimate, under a tiny one.
    gate(&["check", "examples/service-compliant.yaml"]).expect_code(0);
    gate(&[
        "check",
        "--max-expression-cost",
        "100",
        "examples/service-compliant.yaml",
    ])
    .expect_code(2)
    .stderr_has("is over the limit of 100");
    gate(&[
        "check",
        "--max-policy-cost",
        "1000",
        "examples/service-compliant.yaml",
    ])
    .expect_code(2)
    .stderr_has("over the limit of 1000");
}

#[test]
fn a_broken_policy_file_is_an_error_naming_it() {
    let dir = temp_dir("broken-policy");
    std::fs::write(
        dir.join("policy.yaml"),
        "apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: broken
spec:
  matchConstraints:
    resourceRules:
      - {apiGroups: ['*'], apiVersions: ['*'], resources: ['*'], operations: ['*']}
  validations:
    - expression: object.metadata.name ==
",
    )
    .unwrap();
    gate_in(
        &dir,
        &[
            "check",
            "--policies",
            "policy.yaml",
            &repo().join("examples/service.yaml").display().to_string(),
        ],
        b"",
    )
    .expect_code(2)
    // The line and column in the policy file: just past the end of the expression.
    .stderr_has(
        "error: cannot load the policies: policy.yaml:10:42: policy \"broken\", spec.validations[0].expression: Syntax error: mismatched input '<EOF>'",
    );
}

#[test]
fn params_replace_the_defaults() {
    let dir = temp_dir("params");
    let compliant = repo()
        .join("examples/service-compliant.yaml")
        .display()
        .to_string();
    std::fs::write(
        dir.join("params.yaml"),
        "apiVersion: cmek-gate.dev/v1alpha1
kind: CmekGateParams
metadata:
  name: default
spec:
  sensitiveLabels:
    - key: data-classification
      values: [confidential, restricted, sensitive, regulated]
  classificationLabel: data-classification
  nonSensitiveClassifications: [public, internal]
  ownerLabels: [owner, team]
  allowedKeyProjects: [some-other-project]
",
    )
    .unwrap();
    gate_in(&dir, &["check", &compliant], b"").expect_code(0);
    gate_in(&dir, &["check", "--params", "params.yaml", &compliant], b"")
        .expect_code(1)
        .stdout_has("error[cmek-key-project]");
}

#[test]
fn eval_prints_values_errors_and_policy_traces() {
    let run = gate(&[
        "eval",
        "-e",
        "object.metadata.labels",
        "-f",
        "examples/service.yaml",
    ]);
    run.expect_code(0);
    let first_key = run.stdout.lines().nth(1).unwrap_or_default().to_owned();
    assert!(
        first_key.contains("\"cloud.googleapis.com/location\""),
        "keys are sorted\n{run}"
    );
    gate(&[
        "eval",
        "-e",
        "object.spec.nope",
        "-f",
        "examples/service.yaml",
    ])
    .expect_code(1)
    .stderr_has("nope");
    gate(&[
        "eval",
        "-e",
        "object.metadata.",
        "-f",
        "examples/service.yaml",
    ])
    .expect_code(2)
    .stderr_has("line 1, column");
    gate(&[
        "eval",
        "--policy",
        "policies/cmek-required.yaml",
        "-f",
        "examples/service.yaml",
    ])
    .expect_code(0)
    .stdout_has("policy cmek-required (params CmekGateParams/default)")
    .stdout_has("variables.sensitive = true")
    .stdout_has("validations[0] !variables.sensitive || variables.hasKey => false");
    gate(&[
        "eval",
        "-e",
        "1",
        "-f",
        "examples/service.yaml",
        "--document",
        "3",
    ])
    .expect_code(2)
    .stderr_has("there is no document 3");
}

#[test]
fn test_runs_suites_and_fails_on_a_wrong_expectation() {
    let run = gate(&["test", "policies/tests"]);
    run.expect_code(0);
    let last = run.stdout.lines().last().unwrap_or_default().to_owned();
    assert!(last.ends_with(" passed, 0 failed"), "{run}");
    let dir = temp_dir("suite-failing");
    std::fs::write(
        dir.join("suite.yaml"),
        format!(
            "apiVersion: cmek-gate.dev/v1alpha1
kind: PolicyTest
metadata: {{name: wrong}}
cases:
  - name: expects the denied example to be allowed
    objectFile: {}
    expect: {{allowed: true}}
",
            repo().join("examples/service.yaml").display()
        ),
    )
    .unwrap();
    gate_in(&dir, &["test"], b"")
        .expect_code(1)
        .stdout_has("... FAILED")
        .stdout_has("allowed: expected true, got false")
        .stdout_has("0 passed, 1 failed");
    std::fs::write(
        dir.join("suite.yaml"),
        "apiVersion: cmek-gate.dev/v1alpha1\nkind: PolicyTest\ncases: [{name: x}]\n",
    )
    .unwrap();
    gate_in(&dir, &["test"], b"")
        .expect_code(2)
        .stderr_has("cases[0]: missing field `expect`");
}
