//! The Grafana dashboard beside the chart (`helm/cmek-gate/dashboards/cmek-gate.json`) names only
//! metrics that exist: every metric in a panel's PromQL is looked up in what the real server
//! exports on /metrics (started with `--live` against the fake Google, after a few admission
//! reviews) and in what `scan --output prometheus` writes (with three snapshots of history). Every
//! family those export has a panel, and a dashboard with a misspelt metric fails the check.

use crate::fake_google::FakeGoogle;
use crate::live::{key, review, token_file, wait_ready, world};
use crate::server::eventually;
use crate::server_support::{make_certs, Client, Server};
use crate::support::{fixtures, gate_in, repo, temp_dir};
use std::collections::BTreeSet;

fn dashboard() -> serde_json::Value {
    let path = repo().join("helm/cmek-gate/dashboards/cmek-gate.json");
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every panel's `(title, expr)`, rows' panels included.
fn exprs(dashboard: &serde_json::Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut panels: Vec<&serde_json::Value> =
        dashboard["panels"].as_array().unwrap().iter().collect();
    while let Some(panel) = panels.pop() {
        if let Some(inner) = panel["panels"].as_array() {
            panels.extend(inner);
        }
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().expect("a target with an expr");
            out.push((panel["title"].as_str().unwrap().to_owned(), expr.to_owned()));
        }
    }
    out
}

/// The metric names a PromQL expression reads: its identifiers, less string literals, label
/// matchers, range selectors, `by (…)`-style label lists, function names, keywords and numbers.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let strip = |pattern: &str, text: &str| {
        regex::Regex::new(pattern)
            .unwrap()
            .replace_all(text, " ")
            .into_owned()
    };
    let mut text = strip(r#""(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'"#, expr);
    text = strip(r"\{[^}]*\}", &text);
    text = strip(r"\[[^\]]*\]", &text);
    text = strip(
        r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)",
        &text,
    );
    // A duration after `offset` is no name either.
    text = strip(r"\boffset\s+-?[0-9][0-9a-z]*", &text);
    let keywords = [
        "and",
        "or",
        "unless",
        "bool",
        "group_left",
        "group_right",
        "inf",
        "nan",
    ];
    let identifier = regex::Regex::new(r"[A-Za-z_:][A-Za-z0-9_:]*(\s*\()?").unwrap();
    identifier
        .captures_iter(&text)
        .filter(|c| c.get(1).is_none())
        .map(|c| c[0].to_owned())
        .filter(|name| !keywords.contains(&name.to_ascii_lowercase().as_str()))
        .collect()
}

/// The sample names an OpenMetrics text can hold: each family as its type writes it (a counter's
/// `_total`, a histogram's `_bucket`, `_sum` and `_count`, a gauge as named), and each sample's.
fn exported(text: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut families = BTreeSet::new();
    let mut names = BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (family, kind) = rest.split_once(' ').unwrap();
            families.insert(family.to_owned());
            match kind {
                "counter" => names.extend([format!("{family}_total"), format!("{family}_created")]),
                "histogram" => names.extend(
                    ["_bucket", "_sum", "_count", "_created"].map(|s| format!("{family}{s}")),
                ),
                _ => {
                    names.insert(family.to_owned());
                }
            }
        } else if !line.starts_with('#') && !line.is_empty() {
            let name = line.split(['{', ' ']).next().unwrap();
            names.insert(name.to_owned());
        }
    }
    (families, names)
}

/// The dashboard's metrics that `names` lacks, as `panel: metric`.
fn missing(exprs: &[(String, String)], names: &BTreeSet<String>) -> Vec<String> {
    exprs
        .iter()
        .flat_map(|(title, expr)| metric_names(expr).into_iter().map(move |m| (title, m)))
        .filter(|(_, m)| !names.contains(m))
        .map(|(title, m)| format!("{title}: {m}"))
        .collect()
}

#[test]
fn metric_names_are_read_out_of_promql() {
    let cases: [(&str, &[&str]); 5] = [
        (
            "sum by (endpoint, verdict) (rate(cmek_gate_requests_total[$__rate_interval]))",
            &["cmek_gate_requests_total"],
        ),
        (
            r#"histogram_quantile(0.9, sum(rate(a_bucket{le!="x", endpoint=~"v.*"}[5m])) by (le))"#,
            &["a_bucket"],
        ),
        ("time() - max(b_seconds) offset 5m", &["b_seconds"]),
        ("x / ignoring(stat) group_left y or vector(0)", &["x", "y"]),
        (
            "sum(c_total) / (sum(c_total) + sum(d_total))",
            &["c_total", "d_total"],
        ),
    ];
    for (expr, expected) in cases {
        let names: Vec<String> = metric_names(expr).into_iter().collect();
        assert_eq!(names, expected, "{expr}");
    }
}

/// What the real server exports after allowed and denied reviews with live checks (one whose
/// IAM policy Google refuses to show) and a policy reload that failed, and what a scan with
/// history writes.
async fn exported_by_server_and_scan() -> (String, String) {
    let dir = temp_dir("dashboard-metrics");
    make_certs(&dir, false);
    let google = FakeGoogle::start(&dir, world(), "token-1");
    let token = token_file(&dir, "token-1");
    let policies = dir.join("policies");
    std::fs::create_dir(&policies).unwrap();
    let live = repo().join("policies/live/cmek-live.yaml");
    std::fs::copy(&live, policies.join("cmek-live.yaml")).unwrap();
    let mut flags = google.gate_flags(&token);
    flags.extend(["--policies".to_owned(), policies.display().to_string()]);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let server = Server::start(&dir.join("tls.crt"), &dir.join("tls.key"), &flags, &dir);
    let webhook = Client::new(server.addr, &[&dir.join("ca.crt")], None);
    wait_ready(&webhook, &server).await;
    let reviews = [
        ("pay", "payments"),
        ("pay", "payments"),
        ("bad", "ungranted"),
        ("hidden", "forbidden"),
    ];
    for (name, key_name) in reviews {
        let reply = webhook
            .send("POST", "/validate", &review(name, &key(key_name)))
            .await
            .unwrap();
        assert_eq!(reply.status, 200);
    }
    std::fs::write(policies.join("broken.yaml"), "kind: [\n").unwrap();
    eventually(&server, "a counted reload failure", || async {
        server.metric("cmek_gate_reload_failures_total{").await >= 1.0
    })
    .await;
    let metrics = server.metrics_text().await;

    for n in 1..=3 {
        let file = format!("run-{n}.json");
        std::fs::copy(fixtures().join("scan-html").join(&file), dir.join(&file)).unwrap();
    }
    let times = [
        "2026-03-01T00:00:00Z",
        "2026-03-02T06:00:00Z",
        "2026-03-04T00:00:00Z",
    ];
    let mut scan = String::new();
    for (n, now) in times.iter().enumerate() {
        let file = format!("run-{}.json", n + 1);
        let args = [
            "scan",
            &file,
            "--history",
            "history",
            "--now",
            now,
            "--output",
            "prometheus",
        ];
        let run = gate_in(&dir, &args, b"");
        run.expect_code(0);
        scan = run.stdout;
    }
    (metrics, scan)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_names_only_metrics_the_server_and_scan_export() {
    let (metrics, scan) = exported_by_server_and_scan().await;
    let (server_families, server_names) = exported(&metrics);
    let (scan_families, scan_names) = exported(&scan);
    // The scrape came after real traffic: the series the panels plot have samples.
    for sample in [
        "cmek_gate_requests_total{",
        "cmek_gate_violations_total{",
        "cmek_gate_request_duration_seconds_bucket{",
        "cmek_gate_google_calls_total{",
        "cmek_gate_google_cache_hits_total{",
        "cmek_gate_google_errors_total{",
        "cmek_gate_reload_failures_total{",
    ] {
        assert!(metrics.contains(sample), "no {sample} sample in\n{metrics}");
    }
    assert!(
        scan.contains("cmek_gate_scan_mttr_seconds_by_owner{"),
        "{scan}"
    );

    let names: BTreeSet<String> = server_names.union(&scan_names).cloned().collect();
    let exprs = exprs(&dashboard());
    assert!(exprs.len() > 20, "{exprs:?}");
    let missing_names = missing(&exprs, &names);
    assert!(
        missing_names.is_empty(),
        "the dashboard names metrics nothing exports: {missing_names:#?}\n--- /metrics\n{metrics}\n--- scan\n{scan}"
    );
    // Each panel reads some metric.
    for (title, expr) in &exprs {
        assert!(!metric_names(expr).is_empty(), "{title}: {expr}");
    }

    // Every family exported has a panel.
    let used: BTreeSet<String> = exprs.iter().flat_map(|(_, e)| metric_names(e)).collect();
    for family in server_families.union(&scan_families) {
        let plotted = used.iter().any(|m| {
            m == family
                || m.strip_prefix(family.as_str())
                    .is_some_and(|s| ["_total", "_bucket", "_sum", "_count"].contains(&s))
        });
        assert!(plotted, "no panel plots {family}");
    }

    // The check fails on a misspelt metric, and on a counter read as a histogram.
    let mut broken = exprs.clone();
    broken.push(("typo".into(), "rate(cmek_gate_request_total[5m])".into()));
    broken.push((
        "wrong type".into(),
        "rate(cmek_gate_requests_bucket[5m])".into(),
    ));
    assert_eq!(
        missing(&broken, &names),
        [
            "typo: cmek_gate_request_total",
            "wrong type: cmek_gate_requests_bucket"
        ]
    );
}
