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

/// Input with no sensitive resource: the rate is 100% (no sensitive resource lacks a key), said
/// as such, and `--min-compliance` passes.
#[test]
fn scan_with_nothing_sensitive_is_fully_compliant_and_says_so() {
    let config_map = b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\n";
    let public = b"apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: site\n  labels: {data-classification: public}\nspec: {template: {spec: {containers: [{image: x}]}}}\n";
    for input in [&config_map[..], &public[..]] {
        let run = gate_in(&repo(), &["scan", "-", "--min-compliance", "95"], input);
        run.expect_code(0)
            .stdout_has("0 sensitive, 0 compliant: compliance 100.00% (no sensitive resources)");
        let json = gate_in(&repo(), &["scan", "-", "--output", "json"], input);
        assert_eq!(json.json()["total"]["compliancePercent"], 100.0, "{json}");
        assert_eq!(json.json()["total"]["sensitive"], 0, "{json}");
        gate_in(&repo(), &["scan", "-", "--output", "markdown"], input)
            .expect_code(0)
            .stdout_has("## CMEK compliance: 100.00% (no sensitive resources)");
        let prometheus = gate_in(&repo(), &["scan", "-", "--output", "prometheus"], input);
        prometheus
            .expect_code(0)
            .stdout_has("(1 when nothing is sensitive")
            .stdout_has("\ncmek_gate_scan_compliance_ratio 1\n")
            .stdout_has("\ncmek_gate_scan_sensitive_resources 0\n");
    }
}

/// An empty list (`gcloud run services list --format json` in a new project prints `[]`) is a
/// valid input with no resources; an input with no document at all is still an error.
#[test]
fn scan_of_an_empty_list_is_an_empty_inventory_and_of_nothing_an_error() {
    for empty_list in [
        &b"[]\n"[..],
        b"[ ]",
        b"apiVersion: v1\nkind: List\nitems: []\n",
        b"apiVersion: v1\nkind: List\nitems:\n",
    ] {
        let run = gate_in(
            &repo(),
            &["scan", "-", "--output", "json", "--min-compliance", "100"],
            empty_list,
        );
        run.expect_code(0);
        let scan = run.json();
        assert_eq!(scan["total"]["resources"], 0, "{run}");
        assert_eq!(scan["total"]["compliancePercent"], 100.0, "{run}");
        assert_eq!(scan["emptyLists"][0], "<stdin>", "{run}");
        assert_eq!(scan["errors"].as_array().map(Vec::len), Some(0), "{run}");
        gate_in(&repo(), &["scan", "-"], empty_list)
            .expect_code(0)
            .stdout_has("0 Cloud Run resources, 0 sensitive, 0 compliant: compliance 100.00% (no sensitive resources)")
            .stdout_has("empty lists (no resources): <stdin>");
    }
    for nothing in [&b""[..], b"\n", b"# only a comment\n", b"---\n"] {
        gate_in(&repo(), &["scan", "-"], nothing)
            .expect_code(2)
            .stderr_has("<stdin>: no documents in the input");
    }
    // An empty list beside real resources: both are read.
    let dir = crate::support::temp_dir("scan-empty-list-and-services");
    std::fs::write(dir.join("jobs.json"), "[]").unwrap();
    std::fs::copy(repo().join(LIST), dir.join("services.json")).unwrap();
    let run = gate_in(&dir, &["scan", "--output", "json", "."], b"");
    run.expect_code(0);
    assert_eq!(run.json()["total"]["resources"], 4, "{run}");
}
