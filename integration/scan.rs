//! `cmek-gate scan` run as a user runs it.

use crate::support::{gate, gate_in, repo};

const LIST: &str = "integration/fixtures/check/json-array-services-list/input.json";

#[test]
fn scan_reads_a_services_list_on_stdin_and_gates_on_compliance() {
    let list = std::fs::read(repo().join(LIST)).unwrap();
    let run = gate_in(&repo(), &["scan", "-", "--output", "json"], &list);
    run.expect_code(0);
    let scan = run.json();
    assert_eq!(scan["total"]["resources"], 4, "{run}");
    assert_eq!(scan["total"]["sensitive"], 2, "{run}");
    assert_eq!(scan["total"]["compliancePercent"], 50.0, "{run}");
    assert_eq!(scan["nonCompliant"][0]["failing"][0], "cmek-required");
    gate_in(&repo(), &["scan", "-", "--min-compliance", "50"], &list).expect_code(0);
    gate_in(&repo(), &["scan", "-", "--min-compliance", "75"], &list)
        .expect_code(1)
        .stderr_has("compliance 50.00% is below the minimum 75%");
    gate_in(&repo(), &["scan", "-", "--min-compliance", "120"], &list).expect_code(2);
}

#[test]
fn scan_outputs() {
    let table = gate(&["scan", LIST]);
    table
        .expect_code(0)
        .stdout_has("4 Cloud Run resources, 2 sensitive, 1 compliant: compliance 50.00%");
    let csv = gate(&["scan", "--output", "csv", LIST]);
    csv.expect_code(0);
    let lines: Vec<&str> = csv.stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{csv}");
    assert!(lines[0].starts_with("file,document,line,kind,project,region,name,"));
    assert!(
        lines[1..].iter().all(|l| l.split(',').count() >= 13),
        "{csv}"
    );
    gate(&["scan", "--output", "markdown", LIST])
        .expect_code(0)
        .stdout_has("## CMEK compliance: 50.00%");
    let prometheus = gate(&["scan", "--output", "prometheus", LIST]);
    prometheus
        .expect_code(0)
        .stdout_has("cmek_gate_scan_compliance_ratio 0.5");
    let sample =
        regex::Regex::new(r#"^[a-z_]+(\{[a-z_]+="(?:[^"\\]|\\.)*"\})? -?[0-9.e+]+$"#).unwrap();
    for line in prometheus.stdout.lines().filter(|l| !l.starts_with('#')) {
        assert!(sample.is_match(line), "not a Prometheus sample: {line:?}");
    }
    gate(&["scan", "no/such/dir"]).expect_code(2);
}
