//! `cmek-gate check --output sarif`, run as CI runs it: the SARIF shape GitHub code scanning reads,
//! and the same exit codes as the other outputs. (`integration/validate_sarif.py` validates the
//! same output against the OASIS schema; `.ci/run` runs it.)

use crate::support::{gate, gate_in, repo, temp_dir};
use serde_json::Value;

fn rule_ids(log: &Value) -> Vec<&str> {
    log["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect()
}

#[test]
fn a_denied_file_is_an_error_result_at_the_offending_line_and_exits_1() {
    let run = gate(&["check", "--output", "sarif", "examples/service.yaml"]);
    run.expect_code(1);
    let log = run.json();
    assert_eq!(
        log["$schema"],
        "https://json.schemastore.org/sarif-2.1.0.json"
    );
    assert_eq!(log["version"], "2.1.0");
    let runs = log["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "{run}");
    let driver = &runs[0]["tool"]["driver"];
    assert_eq!(driver["name"], "cmek-gate");
    assert_eq!(driver["version"], env!("CARGO_PKG_VERSION"));
    let ids = rule_ids(&log);
    assert!(ids.contains(&"cmek-required"), "{ids:?}");
    let rules = driver["rules"].as_array().unwrap();
    let cmek_required = rules.iter().find(|r| r["id"] == "cmek-required").unwrap();
    assert_eq!(cmek_required["defaultConfiguration"]["level"], "error");
    assert!(cmek_required["shortDescription"]["text"]
        .as_str()
        .unwrap()
        .contains("customer-managed encryption key"));
    let owner = rules.iter().find(|r| r["id"] == "owner-label").unwrap();
    assert_eq!(owner["defaultConfiguration"]["level"], "warning");

    let results = runs[0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "{run}");
    let result = &results[0];
    assert_eq!(result["ruleId"], "cmek-required");
    assert_eq!(
        ids[result["ruleIndex"].as_u64().unwrap() as usize],
        "cmek-required"
    );
    assert_eq!(result["level"], "error");
    assert!(result["message"]["text"]
        .as_str()
        .unwrap()
        .contains("payments-api"));
    let physical = &result["locations"][0]["physicalLocation"];
    assert_eq!(
        physical["artifactLocation"]["uri"], "examples/service.yaml",
        "{run}"
    );
    assert_eq!(physical["artifactLocation"]["uriBaseId"], "%SRCROOT%");
    // The README's human output points at the same line.
    assert_eq!(physical["region"]["startLine"], 23, "{run}");
    assert_eq!(physical["region"]["startColumn"], 1);
    assert!(result["partialFingerprints"]
        .as_object()
        .is_some_and(|f| !f.is_empty()));
    let invocation = &runs[0]["invocations"][0];
    assert_eq!(invocation["executionSuccessful"], true);
    assert_eq!(invocation["exitCode"], 1);
}

#[test]
fn a_compliant_file_has_no_results_and_exits_0() {
    let run = gate(&[
        "check",
        "--output",
        "sarif",
        "examples/service-compliant.yaml",
    ]);
    run.expect_code(0);
    let log = run.json();
    assert_eq!(log["runs"][0]["results"], serde_json::json!([]), "{run}");
    assert!(!rule_ids(&log).is_empty());
}

#[test]
fn fingerprints_survive_lines_moving() {
    let dir = temp_dir("sarif-fingerprints");
    let service = std::fs::read_to_string(repo().join("examples/service.yaml")).unwrap();
    std::fs::write(dir.join("svc.yaml"), &service).unwrap();
    let before = gate_in(&dir, &["check", "-o", "sarif", "svc.yaml"], b"").json();
    std::fs::write(
        dir.join("svc.yaml"),
        format!("# a comment\n# another\n{service}"),
    )
    .unwrap();
    let after = gate_in(&dir, &["check", "-o", "sarif", "svc.yaml"], b"").json();
    let at = |log: &Value| {
        let r = &log["runs"][0]["results"][0];
        (
            r["locations"][0]["physicalLocation"]["region"]["startLine"]
                .as_u64()
                .unwrap(),
            r["partialFingerprints"].clone(),
        )
    };
    let (line_before, print_before) = at(&before);
    let (line_after, print_after) = at(&after);
    assert_eq!(line_after, line_before + 2);
    assert_eq!(print_before, print_after);
}

#[test]
fn unreadable_inputs_are_notifications_and_exit_2() {
    let dir = temp_dir("sarif-unreadable");
    std::fs::write(dir.join("bad.yaml"), "not: [closed\n").unwrap();
    let compliant = repo().join("examples/service-compliant.yaml");
    let run = gate_in(
        &dir,
        &[
            "check",
            "--output",
            "sarif",
            "bad.yaml",
            compliant.to_str().unwrap(),
        ],
        b"",
    );
    run.expect_code(2).stderr_has("bad.yaml");
    let log = run.json();
    let invocation = &log["runs"][0]["invocations"][0];
    assert_eq!(invocation["executionSuccessful"], false, "{run}");
    assert_eq!(invocation["exitCode"], 2);
    let notification = &invocation["toolExecutionNotifications"][0];
    assert_eq!(notification["level"], "error");
    assert!(notification["message"]["text"]
        .as_str()
        .unwrap()
        .starts_with("bad.yaml: "));
    assert_eq!(
        notification["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "bad.yaml"
    );
}

#[test]
fn the_config_sync_example_is_allowed() {
    let run = gate(&["check", "--output", "sarif", "examples/config-sync"]);
    run.expect_code(0);
    assert_eq!(
        run.json()["runs"][0]["results"],
        serde_json::json!([]),
        "{run}"
    );
    // Without its key, the example's service is denied at the place the key belongs.
    let service = std::fs::read_to_string(
        repo().join("examples/config-sync/namespaces/payments/service.yaml"),
    )
    .unwrap();
    let keyless: String = service
        .lines()
        .filter(|l| !l.contains("encryptionKey") && !l.contains("external: projects/"))
        .map(|l| format!("{l}\n"))
        .collect();
    let run = gate_in(&repo(), &["check", "-o", "sarif", "-"], keyless.as_bytes());
    run.expect_code(1);
    assert_eq!(
        run.json()["runs"][0]["results"][0]["ruleId"],
        "cmek-required",
        "{run}"
    );
}
