//! The page from scans made in the test: hostile strings are inert, nothing is fetched, the
//! figures carry their `data-kpi` names, and the sections follow what the scan holds.

use super::*;
use crate::scan::history::{History, Snapshot};
use crate::scan::Resource;

const HOSTILE: &str = "<script>alert('x')</script>\"><img src=x onerror=alert(1)>";

fn resource(name: &str, owner: &str, sensitive: bool, key: &str, failing: &[&str]) -> Resource {
    Resource {
        file: format!("dir/{name}.yaml"),
        document: 1,
        line: 3,
        kind: "Service".into(),
        name: name.into(),
        project: "p".into(),
        region: "europe-west1".into(),
        classification: "confidential".into(),
        owner: owner.into(),
        sensitive,
        key: key.into(),
        compliant: sensitive && !key.is_empty() && failing.is_empty(),
        failing: failing.iter().map(|f| f.to_string()).collect(),
        messages: failing
            .iter()
            .map(|f| format!("{f}: needs a key"))
            .collect(),
        undecided: Vec::new(),
    }
}

/// A scan of `resources` as `crate::scan::scan` would count them (tallies, non-compliant list).
fn scan_of(resources: Vec<Resource>) -> Scan {
    let mut scan = Scan::default();
    for r in resources {
        scan.total.add(&r);
        scan.by_owner.entry(r.owner.clone()).or_default().add(&r);
        scan.by_project
            .entry(r.project.clone())
            .or_default()
            .add(&r);
        if !r.failing.is_empty() || (r.sensitive && !r.compliant) {
            scan.non_compliant.push(r.clone());
        }
        scan.resources.push(r);
    }
    scan
}

#[test]
fn strings_from_the_input_are_escaped_everywhere() {
    let mut r = resource(HOSTILE, HOSTILE, true, "", &[HOSTILE]);
    r.file = HOSTILE.into();
    r.project = HOSTILE.into();
    r.undecided = vec![HOSTILE.into()];
    let mut scan = scan_of(vec![r.clone()]);
    scan.keys_not_needed.push(r.clone());
    scan.kms_cost.prices_source = HOSTILE.into();
    scan.kms_cost.currency = HOSTILE.into();
    scan.errors.push(crate::report::InputError {
        file: HOSTILE.into(),
        message: HOSTILE.into(),
    });
    let mut history = History::default();
    let step = history
        .add(&crate::scan::history::snapshot_of(&[r], 1_780_000_000))
        .unwrap();
    scan.history = Some(history.report(step));
    let page = to_html(&scan);
    assert!(!page.contains("<script"), "{page}");
    assert!(!page.contains("<img"), "{page}");
    assert!(!page.contains("'x'"), "{page}");
    assert!(page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&quot;&gt;&lt;img"));
    // The hostile text shows up in each place it was put, escaped.
    assert!(page.matches("&lt;script&gt;").count() >= 8, "{page}");
}

#[test]
fn the_fix_column_shows_what_the_policies_said() {
    let mut denied = resource("pay", "web", true, "", &["cmek-required"]);
    denied.messages = vec!["cmek-required: set run.googleapis.com/encryption-key".into()];
    let mut undecided = resource("ledger", "web", true, "k", &[]);
    undecided.compliant = false;
    undecided.undecided = vec!["cmek-required: params not found".into()];
    let page = to_html(&scan_of(vec![denied, undecided]));
    assert!(
        page.contains("<div>cmek-required: set run.googleapis.com/encryption-key</div>"),
        "{page}"
    );
    assert!(
        page.contains("<div>cmek-required: params not found</div>"),
        "{page}"
    );
    assert!(
        page.contains("none decided: a binding could not be evaluated"),
        "{page}"
    );
}

#[test]
fn escape_covers_the_characters_that_end_text_or_an_attribute() {
    for (text, escaped) in [
        ("a&b", "a&amp;b"),
        ("<b>", "&lt;b&gt;"),
        ("\"'", "&quot;&#39;"),
        ("plain é", "plain é"),
    ] {
        assert_eq!(escape(text), escaped);
    }
}

#[test]
fn the_page_fetches_nothing_and_allows_no_script() {
    let scan = scan_of(vec![resource("a", "x", true, "k", &[])]);
    let page = to_html(&scan);
    assert!(page.contains("default-src 'none'; style-src 'unsafe-inline'"));
    for reference in ["src=", "href=", "url(", "@import", "<script", "<link"] {
        assert!(!page.contains(reference), "{reference} in {page}");
    }
}

#[test]
fn the_kpis_are_the_scans_figures() {
    let scan = scan_of(vec![
        resource("a", "x", true, "k", &[]),
        resource("b", "x", true, "", &["cmek-required"]),
        resource("c", "y", true, "", &[]),
        resource("d", "y", false, "", &[]),
    ]);
    let page = to_html(&scan);
    for (name, value) in [
        ("compliance-rate", "33.33"),
        ("resources", "4"),
        ("sensitive", "3"),
        ("compliant", "1"),
        ("non-compliant", "2"),
        ("kms-cost-monthly", "0.00"),
    ] {
        let needle = format!("data-kpi=\"{name}\">{value}<");
        assert!(page.contains(&needle), "{needle} in {page}");
    }
    // No history: no trend, no MTTR.
    assert!(!page.contains("data-chart"));
    assert!(!page.contains("mttr-mean"));
    assert!(page.contains("data-note=\"no-history\""));
    assert!(page.contains("<code>cmek-required</code>"));
    assert!(page.contains("none: sensitive without a key"));
}

#[test]
fn with_history_the_trend_is_drawn_point_by_point() {
    let mut history = History::default();
    let mut step = Default::default();
    for (hour, compliant) in [(0, false), (2, true), (5, true)] {
        let r = resource("a", "x", true, if compliant { "k" } else { "" }, &[]);
        let snapshot: Snapshot = crate::scan::history::snapshot_of(&[r], hour * 3600);
        step = history.add(&snapshot).unwrap();
    }
    let mut scan = scan_of(vec![resource("a", "x", true, "k", &[])]);
    scan.history = Some(history.report(step));
    let page = to_html(&scan);
    assert!(page.contains("data-chart=\"compliance-trend\""));
    assert!(page.contains("data-chart=\"mttr-trend\""));
    assert!(!page.contains("data-note=\"no-history\""));
    // Three compliance points; MTTR from the second snapshot on (mean and p90).
    let rate_chart =
        &page[page.find("compliance-trend").unwrap()..page.find("mttr-trend").unwrap()];
    assert_eq!(rate_chart.matches("<circle").count(), 3);
    let mttr_chart = &page[page.find("mttr-trend").unwrap()..];
    assert_eq!(mttr_chart.matches("<circle").count(), 4);
    assert!(
        page.contains("data-kpi=\"mttr-mean\" data-seconds=\"7200\">2h<"),
        "{page}"
    );
}
