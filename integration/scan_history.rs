//! `cmek-gate scan --history DIR` run several times with a set clock on changing inputs: the
//! changes, open streaks and MTTR in JSON and Prometheus, the snapshot files, pruning, and
//! failing closed on a snapshot it cannot read.

use crate::support::{gate_in, temp_dir, Run};
use std::collections::BTreeMap;
use std::path::Path;

const KEY: &str = "projects/kms-prod/locations/europe-west1/keyRings/run/cryptoKeys/k";

/// A sensitive Cloud Run service in project `p`, with the key or without.
fn service(name: &str, owner: &str, keyed: bool) -> String {
    let annotations = if keyed {
        format!(r#", "annotations": {{"run.googleapis.com/encryption-key": "{KEY}"}}"#)
    } else {
        String::new()
    };
    format!(
        r#"{{"apiVersion": "serving.knative.dev/v1", "kind": "Service",
  "metadata": {{"name": "{name}", "namespace": "p", "labels": {{"cloud.googleapis.com/location": "europe-west1", "data-classification": "confidential", "owner": "{owner}"}}}},
  "spec": {{"template": {{"metadata": {{"labels": {{}}{annotations}}}, "spec": {{"containers": [{{"image": "x"}}]}}}}}}}}"#
    )
}

/// Runs `scan list.json --history history --now NOW` in `dir` over `services` (`(name, owner,
/// keyed)`), with more arguments.
fn run_at(dir: &Path, now: &str, services: &[(&str, &str, bool)], more: &[&str]) -> Run {
    let list: Vec<String> = services.iter().map(|(n, o, k)| service(n, o, *k)).collect();
    std::fs::write(dir.join("list.json"), format!("[{}]", list.join(",\n"))).unwrap();
    let mut args = vec!["scan", "list.json", "--history", "history", "--now", now];
    args.extend(more);
    gate_in(dir, &args, b"")
}

fn ids(value: &serde_json::Value) -> Vec<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

fn id(name: &str) -> String {
    format!("Service/p/europe-west1/{name}")
}

/// The samples of an OpenMetrics text: `name{labels}` (labels as written) to value.
fn samples(text: &str) -> BTreeMap<String, f64> {
    let sample = regex::Regex::new(r#"^([a-z_]+(?:\{[^}]*\})?) (-?[0-9.e+]+)$"#).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let c = sample
                .captures(l)
                .unwrap_or_else(|| panic!("not a sample: {l:?}"));
            (c[1].to_owned(), c[2].parse().unwrap())
        })
        .collect()
}

/// The Prometheus project's OpenMetrics parser reads `text` (the history gauges have two labels
/// and, before a first remediation, families with no sample).
fn reference_parser_reads(text: &str) {
    use std::io::Write as _;
    let probe = std::process::Command::new("python3")
        .args(["-c", "import prometheus_client.openmetrics.parser"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        let what = "python3 with prometheus-client is needed (.ci/run installs it)";
        crate::support::missing_tool(what);
        return;
    }
    let mut parser = std::process::Command::new("python3")
        .arg(crate::support::repo().join("integration/read_openmetrics.py"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    parser
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let parsed = parser.wait_with_output().unwrap();
    assert!(
        parsed.status.success(),
        "not OpenMetrics: {}\n{text}",
        String::from_utf8_lossy(&parsed.stderr)
    );
}

fn snapshot_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("history"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn scan_history_reports_changes_open_streaks_and_mttr_over_runs() {
    let dir = temp_dir("scan-history");
    // 00:00: a and c lack a key, b has one.
    let first = run_at(
        &dir,
        "2026-03-01T00:00:00Z",
        &[("a", "x", false), ("b", "x", true), ("c", "y", false)],
        &["--output", "json"],
    );
    first.expect_code(0);
    let h = &first.json()["history"];
    assert_eq!(ids(&h["newlyNonCompliant"]), [id("a"), id("c")], "{first}");
    assert_eq!(ids(&h["fixed"]), Vec::<String>::new(), "{first}");
    assert_eq!(h["previous"], serde_json::Value::Null, "{first}");
    assert_eq!(h["mttr"]["overall"]["remediations"], 0, "{first}");
    assert_eq!(h["mttr"]["overall"]["meanSeconds"], serde_json::Value::Null);
    let no_remediation = run_at(
        &dir,
        "2026-03-01T00:00:00Z",
        &[("a", "x", false), ("b", "x", true), ("c", "y", false)],
        &["--output", "prometheus"],
    );
    no_remediation.expect_code(0);
    reference_parser_reads(&no_remediation.stdout);
    let s = samples(&no_remediation.stdout);
    assert_eq!(
        s.get("cmek_gate_scan_open_non_compliant_resources"),
        Some(&2.0)
    );
    assert!(!s.keys().any(|k| k.contains("mttr")), "{no_remediation}");

    // 02:00: a fixed, b lost its key, c still open.
    let second = run_at(
        &dir,
        "2026-03-01T02:00:00Z",
        &[("a", "x", true), ("b", "x", false), ("c", "y", false)],
        &["--output", "json"],
    );
    second.expect_code(0);
    let h = &second.json()["history"];
    assert_eq!(ids(&h["newlyNonCompliant"]), [id("b")], "{second}");
    assert_eq!(ids(&h["fixed"]), [id("a")], "{second}");
    assert_eq!(h["fixed"][0]["failing"][0], "cmek-required", "{second}");
    assert_eq!(ids(&h["open"]), [id("b"), id("c")], "{second}");
    assert_eq!(h["open"][0]["openSeconds"], 0, "{second}");
    assert_eq!(h["open"][1]["openSeconds"], 7200, "{second}");
    assert_eq!(h["open"][1]["since"], "2026-03-01T00:00:00Z", "{second}");
    assert_eq!(h["previous"], "2026-03-01T00:00:00Z", "{second}");
    assert_eq!(h["mttr"]["overall"]["meanSeconds"], 7200.0, "{second}");

    // 06:00: b and c fixed. Remediations: a 2h, b 4h, c 6h.
    let services = [("a", "x", true), ("b", "x", true), ("c", "y", true)];
    let third = run_at(&dir, "2026-03-01T06:00:00Z", &services, &["-o", "json"]);
    third.expect_code(0);
    let h = &third.json()["history"];
    assert_eq!(ids(&h["fixed"]), [id("b"), id("c")], "{third}");
    assert_eq!(ids(&h["open"]), Vec::<String>::new(), "{third}");
    assert_eq!(h["snapshots"], 3, "{third}");
    let mttr = &h["mttr"];
    assert_eq!(mttr["overall"]["remediations"], 3, "{third}");
    assert_eq!(mttr["overall"]["meanSeconds"], 14400.0, "{third}");
    assert_eq!(mttr["overall"]["p90Seconds"], 21600, "{third}");
    assert_eq!(mttr["byOwner"]["x"]["meanSeconds"], 10800.0, "{third}");
    assert_eq!(mttr["byOwner"]["y"]["p90Seconds"], 21600, "{third}");
    assert_eq!(mttr["byProject"]["p"]["remediations"], 3, "{third}");

    // The same second again, in Prometheus: that second's snapshot is replaced, the figures stay.
    let prometheus = run_at(
        &dir,
        "2026-03-01T06:00:00Z",
        &services,
        &["-o", "prometheus"],
    );
    prometheus.expect_code(0);
    reference_parser_reads(&prometheus.stdout);
    let s = samples(&prometheus.stdout);
    for (name, value) in [
        ("cmek_gate_scan_history_snapshots", 3.0),
        ("cmek_gate_scan_newly_non_compliant_resources", 0.0),
        ("cmek_gate_scan_fixed_resources", 2.0),
        ("cmek_gate_scan_open_non_compliant_resources", 0.0),
        ("cmek_gate_scan_remediations", 3.0),
        (r#"cmek_gate_scan_mttr_seconds{stat="mean"}"#, 14400.0),
        (r#"cmek_gate_scan_mttr_seconds{stat="p90"}"#, 21600.0),
        (
            r#"cmek_gate_scan_mttr_seconds_by_owner{owner="x",stat="mean"}"#,
            10800.0,
        ),
        (
            r#"cmek_gate_scan_mttr_seconds_by_owner{owner="x",stat="p90"}"#,
            14400.0,
        ),
        (
            r#"cmek_gate_scan_mttr_seconds_by_classification{classification="confidential",stat="mean"}"#,
            14400.0,
        ),
    ] {
        assert_eq!(s.get(name), Some(&value), "{name}\n{prometheus}");
    }
    assert_eq!(
        snapshot_names(&dir),
        [
            "20260301T000000Z.jsonl",
            "20260301T020000Z.jsonl",
            "20260301T060000Z.jsonl"
        ]
    );

    // 07:00, c open again, in CSV and as a table.
    let reopened = [("a", "x", true), ("b", "x", true), ("c", "y", false)];
    let csv = run_at(&dir, "2026-03-01T07:00:00Z", &reopened, &["-o", "csv"]);
    csv.expect_code(0);
    assert!(
        csv.stdout
            .lines()
            .next()
            .unwrap()
            .ends_with(",failing_policies,history,non_compliant_since,open_seconds"),
        "{csv}"
    );
    assert!(
        csv.stdout
            .contains(",c,confidential,y,true,,false,cmek-required,newly-non-compliant,2026-03-01T07:00:00Z,0\n"),
        "{csv}"
    );
    let table = run_at(&dir, "2026-03-01T08:00:00Z", &reopened, &[]);
    table
        .expect_code(0)
        .stdout_has("history: snapshot 2026-03-01T08:00:00Z, 5 kept, previous 2026-03-01T07:00:00Z")
        .stdout_has("    Service/p/europe-west1/c (owner y): cmek-required: open 1h (since 2026-03-01T07:00:00Z)")
        .stdout_has("    overall: mean 4h, p90 6h (3 remediated)");

    // Three days on, keeping two: every earlier snapshot is pruned, and with it the MTTR.
    let later = run_at(
        &dir,
        "2026-03-04T07:00:00Z",
        &reopened,
        &["-o", "json", "--history-keep", "2"],
    );
    later.expect_code(0);
    let h = &later.json()["history"];
    assert_eq!(h["snapshots"], 1, "{later}");
    assert_eq!(ids(&h["newlyNonCompliant"]), [id("c")], "{later}");
    assert_eq!(h["mttr"]["overall"]["remediations"], 0, "{later}");
    assert_eq!(snapshot_names(&dir), ["20260304T070000Z.jsonl"]);
}

#[test]
fn scan_history_fails_closed_on_a_snapshot_it_cannot_read() {
    let dir = temp_dir("scan-history-closed");
    let services = [("a", "x", false)];
    run_at(&dir, "2026-03-01T00:00:00Z", &services, &[]).expect_code(0);
    let history = dir.join("history");
    // Other files are left alone; a file named as a snapshot must be one.
    std::fs::write(history.join("notes.txt"), "not a snapshot").unwrap();
    run_at(&dir, "2026-03-01T01:00:00Z", &services, &[]).expect_code(0);
    let broken = history.join("20260301T013000Z.jsonl");
    std::fs::write(
        &broken,
        "{\"cmekGateSnapshot\":1,\"takenAt\":\"2026-03-01T01:30:00Z\"}\n{\"id\":",
    )
    .unwrap();
    run_at(&dir, "2026-03-01T02:00:00Z", &services, &[])
        .expect_code(2)
        .stderr_has("20260301T013000Z.jsonl: not a readable snapshot")
        .stderr_has("line 2: not a snapshot entry");
    std::fs::write(
        &broken,
        "{\"cmekGateSnapshot\":1,\"takenAt\":\"2026-03-01T01:31:00Z\"}\n",
    )
    .unwrap();
    run_at(&dir, "2026-03-01T02:00:00Z", &services, &[])
        .expect_code(2)
        .stderr_has("the snapshot says it was taken at 2026-03-01T01:31:00Z, its name says 2026-03-01T01:30:00Z");
    std::fs::remove_file(&broken).unwrap();
    run_at(&dir, "2026-02-28T00:00:00Z", &services, &[])
        .expect_code(2)
        .stderr_has("a snapshot taken after this run's time 2026-02-28T00:00:00Z");
    run_at(&dir, "yesterday", &services, &[])
        .expect_code(2)
        .stderr_has("--now (CMEK_GATE_NOW): \"yesterday\" is not a UTC time");
    // A scan with an unreadable input writes no snapshot.
    run_at(
        &dir,
        "2026-03-01T03:00:00Z",
        &services,
        &["no/such/file.yaml"],
    )
    .expect_code(2)
    .stderr_has("no snapshot written to history");
    assert_eq!(
        snapshot_names(&dir),
        [
            "20260301T000000Z.jsonl",
            "20260301T010000Z.jsonl",
            "notes.txt"
        ]
    );
    // The clock from the environment.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cmek-gate"))
        .args(["scan", "list.json", "--history", "history", "-o", "json"])
        .current_dir(&dir)
        .env("CMEK_GATE_NOW", "2026-03-01T04:00:00Z")
        .env_remove("CMEK_GATE_POLICIES")
        .env_remove("CMEK_GATE_PARAMS")
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["history"]["takenAt"], "2026-03-01T04:00:00Z");
    assert_eq!(json["history"]["open"][0]["openSeconds"], 4 * 3600);
    // Without --history the clock is not read: a stray CMEK_GATE_NOW does no harm.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cmek-gate"))
        .args(["scan", "list.json", "-o", "json"])
        .current_dir(&dir)
        .env("CMEK_GATE_NOW", "not a time")
        .env_remove("CMEK_GATE_POLICIES")
        .env_remove("CMEK_GATE_PARAMS")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(json.get("history").is_none(), "{json}");
}
