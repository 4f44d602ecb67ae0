//! `cmek-gate scan --output html`: the page for a fixed scan with three snapshots of history
//! (`fixtures/scan-html/run-N.json` at set times) against its golden file
//! (`fixtures/scan-html/report.html`; `UPDATE_GOLDEN=1` rewrites it: review the diff), and the
//! same page in a real headless Chromium: no console message, the numbers in the rendered DOM
//! equal the JSON report's, the hostile owner label stays text, and a screenshot is kept as
//! `target/test-artefacts/scan-report.png`.

use crate::support::{fixtures, gate_in, repo, temp_dir, Run};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The runs' times: the third is the report's.
const TIMES: [&str; 3] = [
    "2026-03-01T00:00:00Z",
    "2026-03-02T06:00:00Z",
    "2026-03-04T00:00:00Z",
];

/// Copies the fixture's inputs to a fresh directory, runs the first two scans there to build
/// the history, and returns the directory: `report(dir, output)` is then the third run.
fn with_history(name: &str) -> PathBuf {
    let dir = temp_dir(name);
    for n in 1..=3 {
        let file = format!("run-{n}.json");
        std::fs::copy(fixtures().join("scan-html").join(&file), dir.join(&file)).unwrap();
    }
    for (n, now) in TIMES[..2].iter().enumerate() {
        let file = format!("run-{}.json", n + 1);
        let args = ["scan", &file, "--history", "history", "--now", now];
        gate_in(&dir, &args, b"").expect_code(0);
    }
    dir
}

/// The third run (the same second each time: its snapshot is replaced, the report the same).
fn report(dir: &Path, output: &str) -> Run {
    let args = [
        "scan",
        "run-3.json",
        "--history",
        "history",
        "--now",
        TIMES[2],
        "--output",
        output,
    ];
    let run = gate_in(dir, &args, b"");
    run.expect_code(0);
    run
}

#[test]
fn scan_html_matches_its_golden_file() {
    let dir = with_history("scan-html-golden");
    let page = report(&dir, "html").stdout;
    let golden = fixtures().join("scan-html/report.html");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &page).unwrap();
    }
    let expected = std::fs::read_to_string(&golden).unwrap();
    assert!(
        page == expected,
        "scan --output html differs from {}:\n{page}",
        golden.display()
    );
    // The fixture's owner label is `<script>alert(1)</script>`: text, never an element.
    assert!(!page.contains("<script"), "{page}");
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
}

#[test]
fn only_scan_takes_output_html() {
    let dir = temp_dir("scan-html-refused");
    std::fs::write(dir.join("s.yaml"), "kind: ConfigMap\napiVersion: v1\n").unwrap();
    for command in ["check", "lint"] {
        gate_in(&dir, &[command, "s.yaml", "--output", "html"], b"")
            .expect_code(2)
            .stderr_has("invalid value 'html' for '--output");
    }
}

/// Chromium, or `None` (and a note) when it is not installed; with CI set its absence fails.
fn chromium() -> Option<&'static str> {
    let found = Command::new("chromium")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return Some("chromium");
    }
    let what =
        "Debian's chromium is needed for the HTML report's browser test (.ci/run installs it)";
    crate::support::missing_tool(what);
    None
}

/// Headless Chromium on `page` with `more` arguments, a fresh profile, no network of its own,
/// and its log on stderr: `(stdout, the console messages it logged)`.
fn headless(binary: &str, page: &Path, more: &[&str]) -> (String, Vec<String>) {
    let profile = temp_dir("chromium-profile");
    let out = Command::new(binary)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(more)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium starts");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "chromium failed: {stderr}");
    // Each console message (console.*, an uncaught error, a blocked load) is logged as
    // `[…:INFO:CONSOLE:LINE] "message", source: URL (LINE)`.
    let console = stderr
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_owned)
        .collect();
    (String::from_utf8_lossy(&out.stdout).into_owned(), console)
}

/// Text of serialized HTML: tags dropped, the entities Chromium writes decoded.
fn text(html: &str) -> String {
    let tags = regex::Regex::new(r"<[^>]*>").unwrap();
    tags.replace_all(html, "")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
        .trim()
        .to_owned()
}

/// What the rendered DOM shows: the `data-kpi` figures (text, and `data-seconds` where given),
/// and the table rows by `data-row`, each cell by `data-field`.
struct Dom {
    kpis: BTreeMap<String, (String, Option<f64>)>,
    rows: BTreeMap<String, BTreeMap<String, String>>,
}

impl Dom {
    fn read(dom: &str) -> Dom {
        let kpi = regex::Regex::new(r#"data-kpi="([^"]+)"([^>]*)>([^<]*)<"#).unwrap();
        let seconds = regex::Regex::new(r#"data-seconds="([^"]+)""#).unwrap();
        let row = regex::Regex::new(r#"(?s)<tr data-row="([^"]*)">(.*?)</tr>"#).unwrap();
        let cell = regex::Regex::new(r#"(?s)<td data-field="([^"]+)"[^>]*>(.*?)</td>"#).unwrap();
        let kpis = kpi
            .captures_iter(dom)
            .map(|c| {
                let s = seconds.captures(&c[2]).map(|s| s[1].parse().unwrap());
                (c[1].to_owned(), (text(&c[3]), s))
            })
            .collect();
        let rows = row
            .captures_iter(dom)
            .map(|c| {
                let cells = cell
                    .captures_iter(&c[2])
                    .map(|d| (d[1].to_owned(), text(&d[2])))
                    .collect();
                (text(&c[1]), cells)
            })
            .collect();
        Dom { kpis, rows }
    }

    fn kpi(&self, name: &str) -> f64 {
        let (text, _) = self
            .kpis
            .get(name)
            .unwrap_or_else(|| panic!("no data-kpi={name} in the page"));
        text.parse()
            .unwrap_or_else(|_| panic!("data-kpi={name}: {text:?} is not a number"))
    }

    fn cell(&self, row: &str, field: &str) -> &str {
        self.rows
            .get(row)
            .and_then(|r| r.get(field))
            .unwrap_or_else(|| panic!("no row {row:?} with a {field} cell: {:?}", self.rows))
    }
}

/// Seconds a duration shown on the page stands for (`1day 18h`).
fn seconds_shown(text: &str) -> f64 {
    humantime::parse_duration(text)
        .unwrap_or_else(|e| panic!("{text:?} is not a duration: {e}"))
        .as_secs() as f64
}

fn number(value: &serde_json::Value) -> f64 {
    value
        .as_f64()
        .unwrap_or_else(|| panic!("not a number: {value}"))
}

/// Each `data-row="by-DIMENSION/NAME"` row holds the JSON's tally, MTTR and estimated cost.
fn breakdown_matches(dom: &Dom, json: &serde_json::Value, dimension: &str, groups: &str) {
    let tallies = json[groups].as_object().unwrap();
    let cost_key = format!("monthlyBy{}", &groups[2..]);
    assert!(!tallies.is_empty());
    for (name, tally) in tallies {
        let row = format!("by-{dimension}/{name}");
        for field in ["resources", "sensitive", "compliant"] {
            let shown: f64 = dom.cell(&row, field).parse().unwrap();
            assert_eq!(shown, number(&tally[field]), "{row} {field}");
        }
        let rate = dom.cell(&row, "compliance").trim_end_matches('%');
        assert_eq!(
            rate.parse::<f64>().unwrap(),
            number(&tally["compliancePercent"]),
            "{row}"
        );
        let mttr = &json["history"]["mttr"][groups][name];
        for (field, stat) in [("mttr-mean", "meanSeconds"), ("mttr-p90", "p90Seconds")] {
            let shown = dom.cell(&row, field);
            match mttr[stat].as_f64() {
                Some(seconds) => assert_eq!(seconds_shown(shown), seconds.round(), "{row} {field}"),
                None => assert_eq!(shown, "", "{row} {field}: no remediation"),
            }
        }
        let cost = &json["kmsCost"][&cost_key][name];
        let shown = dom.cell(&row, "kms-cost");
        if cost.is_null() {
            assert_eq!(shown, "", "{row}");
        } else {
            assert_eq!(shown.parse::<f64>().unwrap(), number(cost), "{row} cost");
        }
    }
    let rows = dom
        .rows
        .keys()
        .filter(|r| r.starts_with(&format!("by-{dimension}/")));
    assert_eq!(
        rows.count(),
        tallies.len(),
        "by {dimension}: one row per group"
    );
}

/// The page's figures, as read from the DOM Chromium rendered, against the JSON report of the
/// same run.
fn figures_match(dom: &Dom, json: &serde_json::Value) {
    let total = &json["total"];
    assert_eq!(
        dom.kpi("compliance-rate"),
        number(&total["compliancePercent"])
    );
    for (kpi, field) in [
        ("resources", "resources"),
        ("sensitive", "sensitive"),
        ("compliant", "compliant"),
    ] {
        assert_eq!(dom.kpi(kpi), number(&total[field]), "{kpi}");
    }
    let non_compliant = json["nonCompliant"].as_array().unwrap();
    assert_eq!(dom.kpi("non-compliant"), non_compliant.len() as f64);
    assert_eq!(
        dom.kpi("kms-cost-monthly"),
        number(&json["kmsCost"]["monthlyTotal"])
    );
    let history = &json["history"];
    let overall = &history["mttr"]["overall"];
    for (kpi, field) in [("mttr-mean", "meanSeconds"), ("mttr-p90", "p90Seconds")] {
        let (text, seconds) = &dom.kpis[kpi];
        assert_eq!(*seconds, Some(number(&overall[field])), "{kpi}");
        assert_eq!(
            seconds_shown(text),
            number(&overall[field]).round(),
            "{kpi}"
        );
    }
    assert_eq!(dom.kpi("remediations"), number(&overall["remediations"]));
    for (kpi, list) in [
        ("open-non-compliant", "open"),
        ("newly-non-compliant", "newlyNonCompliant"),
        ("fixed", "fixed"),
    ] {
        let expected = history[list].as_array().unwrap().len() as f64;
        assert_eq!(dom.kpi(kpi), expected, "{kpi}");
    }
    breakdown_matches(dom, json, "owner", "byOwner");
    breakdown_matches(dom, json, "project", "byProject");
    for key in json["keys"].as_array().unwrap() {
        let row = format!("key/{}", key["key"].as_str().unwrap());
        let shown: f64 = dom.cell(&row, "kms-cost").parse().unwrap();
        assert_eq!(shown, number(&key["estimatedMonthlyCost"]), "{row}");
    }
    let open: BTreeMap<&str, f64> = history["open"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["id"].as_str().unwrap(), number(&o["openSeconds"])))
        .collect();
    for r in non_compliant {
        let id = format!(
            "{}/{}/{}/{}",
            r["kind"].as_str().unwrap(),
            r["project"].as_str().unwrap(),
            r["region"].as_str().unwrap(),
            r["name"].as_str().unwrap()
        );
        let row = format!("non-compliant/{id}");
        for policy in r["failing"].as_array().unwrap() {
            assert!(dom.cell(&row, "failing").contains(policy.as_str().unwrap()));
        }
        assert_eq!(seconds_shown(dom.cell(&row, "open-for")), open[id.as_str()]);
    }
}

/// The compliance trend's points say the JSON trend's rates, oldest first.
fn trend_matches(dom: &str, json: &serde_json::Value) {
    let chart = regex::Regex::new(r#"(?s)data-chart="compliance-trend".*?</svg>"#).unwrap();
    let chart = chart
        .find(dom)
        .expect("the compliance trend chart")
        .as_str();
    let point = regex::Regex::new(r"<title>([^<]*): compliance ([0-9.]+)%</title>").unwrap();
    let shown: Vec<(String, f64)> = point
        .captures_iter(chart)
        .map(|c| (c[1].to_owned(), c[2].parse().unwrap()))
        .collect();
    let expected: Vec<(String, f64)> = json["history"]["trend"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let at = p["takenAt"].as_str().unwrap().to_owned();
            (at, number(&p["compliancePercent"]))
        })
        .collect();
    assert_eq!(shown, expected);
    assert_eq!(expected.len(), 3);
}

#[test]
fn scan_html_in_headless_chromium_shows_the_json_reports_numbers() {
    let Some(chromium) = chromium() else {
        return;
    };
    let dir = with_history("scan-html-browser");
    let page = dir.join("report.html");
    std::fs::write(&page, report(&dir, "html").stdout).unwrap();
    let json = report(&dir, "json").json();

    // The console check sees what it looks for: a page with a console.error and a blocked
    // load logs both.
    let probe = dir.join("probe.html");
    std::fs::write(
        &probe,
        "<!DOCTYPE html><meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; script-src 'unsafe-inline'\">\
         <script>console.error('probe')</script><img src=\"http://127.0.0.1:9/x.png\">",
    )
    .unwrap();
    let (_, console) = headless(chromium, &probe, &["--dump-dom"]);
    assert_eq!(
        console.len(),
        2,
        "the probe's console messages: {console:?}"
    );

    let (dom, console) = headless(chromium, &page, &["--dump-dom"]);
    assert!(console.is_empty(), "console messages: {console:#?}");
    assert!(dom.contains("data-kpi=\"compliance-rate\""), "{dom}");
    // The hostile owner label is text in the DOM, not a script element.
    assert!(!dom.contains("<script"), "{dom}");
    assert!(dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    figures_match(&Dom::read(&dom), &json);
    trend_matches(&dom, &json);

    let artefacts = repo().join("target/test-artefacts");
    std::fs::create_dir_all(&artefacts).unwrap();
    let screenshot = artefacts.join("scan-report.png");
    let _ = std::fs::remove_file(&screenshot);
    let (_, console) = headless(
        chromium,
        &page,
        &[
            &format!("--screenshot={}", screenshot.display()),
            "--window-size=1280,2000",
            "--hide-scrollbars",
        ],
    );
    assert!(console.is_empty(), "console messages: {console:#?}");
    let png = std::fs::read(&screenshot).expect("the screenshot was written");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    // IHDR: width and height, big-endian, at bytes 16..24.
    let size = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    assert_eq!((size(16), size(20)), (1280, 2000));
    // A blank page of this size is about 12 KB; this one, drawn, over 200 KB.
    assert!(png.len() > 50_000, "{} bytes: a blank page?", png.len());
}
