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
            .stdout_has("\ncmek_gate_scan_compliance_ratio 1.0\n")
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

/// `--output prometheus` read by the Prometheus project's reference parser for OpenMetrics
/// (`prometheus_client`, which `.ci/run` installs before `cargo test`; without it this fails
/// when `CI` is set): the text is valid (closing `# EOF`, label values escaped, also an owner
/// label holding `"`, `\` and a newline, as an untrusted manifest may), and the figures are the
/// JSON output's.
#[test]
fn scan_prometheus_output_is_openmetrics_as_the_reference_parser_reads_it() {
    let probe = std::process::Command::new("python3")
        .args(["-c", "import prometheus_client.openmetrics.parser"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        let what = "python3 with prometheus-client is needed (.ci/run installs it)";
        crate::support::missing_tool(what);
        return;
    }
    let hostile_owner = "pay\"ments\\team\nline two";
    let mut list: serde_json::Value =
        serde_json::from_slice(&std::fs::read(repo().join(LIST)).unwrap()).unwrap();
    list[0]["metadata"]["labels"]["owner"] = hostile_owner.into();
    let input = serde_json::to_vec(&list).unwrap();
    let scan = gate_in(&repo(), &["scan", "-", "--output", "json"], &input).json();
    let prometheus = gate_in(&repo(), &["scan", "-", "--output", "prometheus"], &input);
    prometheus.expect_code(0);
    let mut parser = std::process::Command::new("python3")
        .arg(repo().join("integration/read_openmetrics.py"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    parser
        .stdin
        .take()
        .unwrap()
        .write_all(prometheus.stdout.as_bytes())
        .unwrap();
    let parsed = parser.wait_with_output().unwrap();
    assert!(
        parsed.status.success(),
        "not OpenMetrics: {}\n{prometheus}",
        String::from_utf8_lossy(&parsed.stderr)
    );
    let samples: Vec<(String, std::collections::BTreeMap<String, String>, f64)> =
        serde_json::from_slice(&parsed.stdout).unwrap();
    let value = |name: &str, label: Option<(&str, &str)>| -> f64 {
        let found: Vec<f64> = samples
            .iter()
            .filter(|(n, labels, _)| {
                n == name
                    && match label {
                        None => labels.is_empty(),
                        Some((k, v)) => {
                            labels.len() == 1 && labels.get(k).map(String::as_str) == Some(v)
                        }
                    }
            })
            .map(|(_, _, v)| *v)
            .collect();
        assert_eq!(found.len(), 1, "{name} {label:?} in {samples:?}");
        found[0]
    };
    let total = &scan["total"];
    assert_eq!(
        value("cmek_gate_scan_resources", None),
        total["resources"].as_f64().unwrap()
    );
    assert_eq!(
        value("cmek_gate_scan_sensitive_resources", None),
        total["sensitive"].as_f64().unwrap()
    );
    assert_eq!(
        value("cmek_gate_scan_compliant_resources", None),
        total["compliant"].as_f64().unwrap()
    );
    assert_eq!(
        value("cmek_gate_scan_compliance_ratio", None),
        total["compliancePercent"].as_f64().unwrap() / 100.0
    );
    let by_owner = scan["byOwner"].as_object().unwrap();
    assert!(by_owner.contains_key(hostile_owner), "{scan}");
    for (owner, tally) in by_owner {
        assert_eq!(
            value(
                "cmek_gate_scan_compliance_ratio_by_owner",
                Some(("owner", owner))
            ),
            tally["compliancePercent"].as_f64().unwrap() / 100.0,
            "{owner:?}"
        );
    }
    for key in scan["keys"].as_array().unwrap() {
        let uses = key["services"].as_f64().unwrap() + key["jobs"].as_f64().unwrap();
        assert_eq!(
            value(
                "cmek_gate_scan_key_resources",
                Some(("key", key["key"].as_str().unwrap()))
            ),
            uses
        );
    }
}

/// A Cloud Asset Inventory export (newline-delimited assets, as an export to Cloud Storage
/// writes it) is detected and scanned: v1 and v2 resources of every project, findings on the
/// export's lines, other asset types counted and named on stderr.
#[test]
fn scan_reads_a_cloud_asset_inventory_export() {
    let export = "integration/fixtures/cai/export.ndjson";
    let run = gate(&["scan", "--output", "json", export]);
    run.expect_code(0);
    let scan = run.json();
    assert_eq!(scan["total"]["resources"], 4, "{run}");
    assert_eq!(scan["total"]["sensitive"], 3, "{run}");
    assert_eq!(scan["total"]["compliant"], 2, "{run}");
    let ledger = &scan["nonCompliant"][0];
    assert_eq!(ledger["name"], "ledger", "{run}");
    assert_eq!(ledger["line"], 2, "the export's line: {run}");
    assert_eq!(ledger["failing"][0], "cmek-required", "{run}");
    // Every resource of a project under its number, the v2 job's from the asset's parent.
    assert_eq!(scan["byProject"]["444444444444"]["resources"], 1, "{run}");
    assert_eq!(scan["byProject"]["111111111111"]["resources"], 3, "{run}");
    run.stderr_has("1 Cloud Asset Inventory asset(s) of other types");
    // The same, said explicitly; read as manifests it is not YAML one can judge.
    gate(&["scan", "--input-format", "cai-export", export]).expect_code(0);
    gate(&["scan", "--format", "export", export]).expect_code(0);
    gate(&["scan", "--input-format", "manifests", export]).expect_code(2);
    // A search with the resources, and one without them (no --read-mask): the second cannot be
    // judged, and says what to add.
    let search = gate(&[
        "scan",
        "--output",
        "json",
        "integration/fixtures/cai/search.json",
    ]);
    search.expect_code(0);
    assert_eq!(search.json()["total"]["sensitive"], 1, "{search}");
    gate(&[
        "scan",
        "integration/fixtures/cai/search-without-read-mask.json",
    ])
    .expect_code(2)
    .stderr_has("--read-mask='*'");
}

/// A KMS price table the gate cannot read stops the scan (exit 2) naming the field, rather than
/// giving figures that look right.
#[test]
fn scan_refuses_a_price_table_it_cannot_read() {
    let dir = crate::support::temp_dir("scan-bad-prices");
    let params = dir.join("params.yaml");
    std::fs::write(
        &params,
        "apiVersion: cmek-gate.dev/v1alpha1\nkind: CmekGateParams\nmetadata: {name: default}\nspec:\n  kmsPrices: {keyVersionPerMonth: {HSM: \"one\"}}\n",
    )
    .unwrap();
    gate(&["scan", "--params", params.to_str().unwrap(), LIST])
        .expect_code(2)
        .stderr_has("spec.kmsPrices.keyVersionPerMonth.HSM: must be a number, zero or more");
}

/// The policies say what is sensitive and compliant, not the scan: a policy set whose
/// sensitivity policy reads an annotation instead of the labels counts other resources, and a
/// set with no policy marked for sensitivity is refused rather than reported 100% compliant.
#[test]
fn a_custom_policy_set_decides_what_scan_counts() {
    let dir = "integration/fixtures/scan-policies";
    let services = format!("{dir}/services.yaml");
    let counts = |run: &crate::support::Run| {
        run.expect_code(0);
        let scan = run.json();
        let names = |list: &str| -> Vec<String> {
            scan[list]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["name"].as_str().unwrap().to_owned())
                .collect()
        };
        let sensitive: Vec<String> = scan["resources"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["sensitive"] == true)
            .map(|r| r["name"].as_str().unwrap().to_owned())
            .collect();
        (
            scan["total"]["resources"].as_u64().unwrap(),
            sensitive,
            scan["total"]["compliant"].as_u64().unwrap(),
            names("nonCompliant"),
        )
    };
    let shipped = gate(&["scan", "--output", "json", &services]);
    assert_eq!(
        counts(&shipped),
        (
            4,
            vec!["pay".into(), "ledger".into()],
            1,
            vec!["ledger".into()]
        ),
        "{shipped}"
    );
    let custom_policies = format!("{dir}/personal-data.yaml");
    let custom = gate(&[
        "scan",
        "--output",
        "json",
        "--policies",
        &custom_policies,
        &services,
    ]);
    assert_eq!(
        counts(&custom),
        (
            4,
            vec!["crm".into(), "newsletter".into()],
            1,
            vec!["crm".into()]
        ),
        "{custom}"
    );
    let unmarked = format!("{dir}/owner-only.yaml");
    gate(&["scan", "--policies", &unmarked, &services])
        .expect_code(2)
        .stderr_has("no bound policy in the set is marked cmek-gate.dev/scan-role: sensitivity");
}

/// An export far larger than one batch is read and judged as it comes: every resource counted,
/// findings on the export's lines and numbered among its resources, whatever batch they fell in;
/// a line that breaks the export is an error naming it (exit 2), with what came before counted.
#[test]
fn a_large_export_is_judged_as_it_is_read() {
    let line = |i: usize| {
        format!(
            r#"{{"name": "//run.googleapis.com/projects/shop/locations/europe-west1/services/svc-{i}", "asset_type": "run.googleapis.com/Service", "resource": {{"version": "v1", "parent": "//cloudresourcemanager.googleapis.com/projects/111", "location": "europe-west1", "data": {{"apiVersion": "serving.knative.dev/v1", "kind": "Service", "metadata": {{"name": "svc-{i}", "namespace": "111", "labels": {{"data-classification": "{}", "owner": "team-{}"}}}}, "spec": {{"template": {{"spec": {{"containers": [{{"image": "x"}}]}}}}}}}}}}}}"#,
            if i % 10 == 0 {
                "confidential"
            } else {
                "public"
            },
            i % 7
        )
    };
    let bucket = r#"{"name": "//storage.googleapis.com/logs", "asset_type": "storage.googleapis.com/Bucket", "resource": {"version": "v1", "data": {"name": "logs"}}}"#;
    let mut export = String::new();
    for i in 0..1300 {
        if i == 700 {
            export.push_str(bucket);
            export.push('\n');
        }
        export.push_str(&line(i));
        export.push('\n');
    }
    let dir = crate::support::temp_dir("scan-large-export");
    let path = dir.join("export.ndjson");
    std::fs::write(&path, &export).unwrap();
    let path = path.to_str().unwrap();
    let run = gate(&["scan", "--output", "json", path]);
    run.expect_code(0);
    let scan = run.json();
    assert_eq!(scan["total"]["resources"], 1300, "{run}");
    assert_eq!(scan["total"]["sensitive"], 130, "{run}");
    assert_eq!(scan["total"]["compliant"], 0, "{run}");
    assert_eq!(scan["byOwner"]["team-3"]["resources"], 186, "{run}");
    let non_compliant = scan["nonCompliant"].as_array().unwrap();
    assert_eq!(non_compliant.len(), 130, "{run}");
    let last = &non_compliant[129];
    assert_eq!(last["name"], "svc-1290", "{run}");
    // After the bucket's line: one line further than its index says.
    assert_eq!(
        (last["line"].clone(), last["document"].clone()),
        (1292.into(), 1290.into())
    );
    assert_eq!(scan["resources"].as_array().unwrap().len(), 1300, "{run}");
    run.stderr_has("1 Cloud Asset Inventory asset(s) of other types");
    // CSV: a row per resource, written as they are read back.
    let csv = gate(&["scan", "--output", "csv", path]);
    csv.expect_code(0);
    assert_eq!(csv.stdout.lines().count(), 1301, "{csv}");
    // An export with no Cloud Run resource is read, and empty (as `[]` is).
    let buckets = dir.join("buckets.ndjson");
    std::fs::write(&buckets, format!("{bucket}\n")).unwrap();
    let buckets = buckets.to_str().unwrap();
    let run = gate(&["scan", "--output", "json", buckets]);
    run.expect_code(0);
    assert_eq!(run.json()["emptyLists"][0], buckets, "{run}");
    assert_eq!(run.json()["total"]["resources"], 0, "{run}");
    let broken = dir.join("broken.ndjson");
    std::fs::write(&broken, format!("{export}{{\"name\": \n")).unwrap();
    let run = gate(&["scan", "--output", "json", broken.to_str().unwrap()]);
    run.expect_code(2)
        .stderr_has("line 1302: not a JSON asset: EOF while parsing");
    assert_eq!(run.json()["total"]["resources"], 1300, "{run}");
}
