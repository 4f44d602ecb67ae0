//! Snapshots, their changes, episodes and MTTR, from snapshots with set times.

use super::*;

const T0: Seconds = 1_780_000_000; // 2026-05-28T20:26:40Z
const HOUR: Seconds = 3600;

/// An entry: `state` is `ok` (sensitive, compliant), `nokey` (sensitive without a key),
/// `denied` (a policy denies it) or `public` (not sensitive, not denied).
fn entry(id: &str, state: &str, owner: &str) -> Entry {
    let (sensitive, compliant, failing) = match state {
        "ok" => (true, true, vec![]),
        "nokey" => (true, false, vec![]),
        "denied" => (false, false, vec!["cmek-required".to_owned()]),
        "public" => (false, false, vec![]),
        other => panic!("no state {other}"),
    };
    Entry {
        id: id.to_owned(),
        sensitive,
        compliant,
        owner: owner.to_owned(),
        project: format!("p-{owner}"),
        classification: "confidential".into(),
        failing,
        key: String::new(),
    }
}

/// A snapshot at `T0 + hours` of `(id, state, owner)`.
fn snap(hours: Seconds, entries: &[(&str, &str, &str)]) -> Snapshot {
    Snapshot {
        taken_at: T0 + hours * HOUR,
        entries: entries
            .iter()
            .map(|(id, state, owner)| (id.to_string(), entry(id, state, owner)))
            .collect(),
    }
}

fn ids(changes: &[Change]) -> Vec<&str> {
    changes.iter().map(|c| c.id.as_str()).collect()
}

#[test]
fn non_compliant_is_what_the_scan_lists() {
    for (state, expected) in [
        ("ok", false),
        ("nokey", true),
        ("denied", true),
        ("public", false),
    ] {
        assert_eq!(entry("a", state, "o").non_compliant(), expected, "{state}");
    }
}

#[test]
fn snapshots_round_trip_as_json_lines() {
    let snapshot = snap(
        0,
        &[("Service/p/r/b", "denied", "x"), ("Job/p/r/a", "ok", "y")],
    );
    let text = to_jsonl(&snapshot);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        r#"{"cmekGateSnapshot":1,"takenAt":"2026-05-28T20:26:40Z"}"#
    );
    assert!(lines[1].starts_with(r#"{"id":"Job/p/r/a","sensitive":true"#));
    assert_eq!(lines.len(), 3);
    assert_eq!(from_jsonl(&text).unwrap(), snapshot);
}

#[test]
fn unreadable_snapshots_are_errors_naming_the_line() {
    let header = r#"{"cmekGateSnapshot":1,"takenAt":"2026-05-28T20:26:40Z"}"#;
    let good = serde_json::to_string(&entry("a", "ok", "o")).unwrap();
    for (text, expected) in [
        (String::new(), "line 1: empty"),
        ("{}".to_owned(), "line 1: not a snapshot header"),
        (
            r#"{"cmekGateSnapshot":2,"takenAt":"2026-05-28T20:26:40Z"}"#.to_owned(),
            "line 1: snapshot format 2",
        ),
        (
            r#"{"cmekGateSnapshot":1,"takenAt":"yesterday"}"#.to_owned(),
            "line 1: \"yesterday\" is not a UTC time",
        ),
        (
            format!("{header}\n{good}\n{{\"id\":\"b\"}}\n"),
            "line 3: not a snapshot entry",
        ),
        (
            format!("{header}\n{good}\n{good}\n"),
            "line 3: a is listed twice",
        ),
        (
            format!("{header}\n{good}\n{{truncated"),
            "line 3: not a snapshot entry",
        ),
    ] {
        let error = from_jsonl(&text).unwrap_err().to_string();
        assert!(error.starts_with(expected), "{text:?}: {error}");
    }
}

#[test]
fn file_names_say_the_time_and_sort_by_it() {
    assert_eq!(file_name(T0), "20260528T202640Z.jsonl");
    assert_eq!(time_of_file_name("20260528T202640Z.jsonl"), Some(T0));
    assert!(file_name(T0) < file_name(T0 + 1) && file_name(T0 + 1) < file_name(T0 + 86_400));
    for name in [
        "20260528T202640Z.json",
        "20260528T202640.jsonl",
        "2026-05-28T20:26:40Z.jsonl",
        "20261328T202640Z.jsonl",
        ".tmpAbC123",
        "README.md",
    ] {
        assert_eq!(time_of_file_name(name), None, "{name}");
    }
    assert_eq!(parse_time("2026-05-28T20:26:40Z").unwrap(), T0);
    assert_eq!(format_time(T0), "2026-05-28T20:26:40Z");
    assert!(parse_time("2026-05-28 20:26").is_err());
}

#[test]
fn a_resource_listed_twice_is_one_entry_compliant_only_if_both_are() {
    let resource = |compliant: bool, failing: &[&str]| Resource {
        file: "f".into(),
        document: 1,
        line: 1,
        kind: "Service".into(),
        name: "api".into(),
        project: "p".into(),
        region: "europe-west1".into(),
        classification: "confidential".into(),
        owner: "o".into(),
        sensitive: true,
        key: if compliant { "k".into() } else { String::new() },
        compliant,
        failing: failing.iter().map(|s| s.to_string()).collect(),
        messages: Vec::new(),
        undecided: Vec::new(),
    };
    let snapshot = snapshot_of(&[resource(true, &[]), resource(false, &["b", "a"])], T0);
    assert_eq!(snapshot.entries.len(), 1);
    let e = &snapshot.entries["Service/p/europe-west1/api"];
    assert!(!e.compliant && e.non_compliant());
    assert_eq!(e.failing, ["a", "b"]);
    assert_eq!(e.key, "k");
}

/// Each case: snapshots at hours, then what the last one changed, what is open (id, hours
/// open) and the remediations' (id, hours).
#[test]
fn changes_streaks_and_remediations() {
    type Case<'a> = (
        &'a str,
        Vec<Snapshot>,
        &'a [&'a str],
        &'a [&'a str],
        &'a [(&'a str, Seconds)],
        &'a [(&'a str, Seconds)],
    );
    let cases: Vec<Case> = vec![
        (
            "first run: everything non-compliant is new, nothing fixed",
            vec![snap(0, &[("a", "nokey", "x"), ("b", "ok", "x")])],
            &["a"],
            &[],
            &[("a", 0)],
            &[],
        ),
        (
            "fixed after 5 hours",
            vec![
                snap(0, &[("a", "nokey", "x")]),
                snap(2, &[("a", "denied", "x")]),
                snap(5, &[("a", "ok", "x")]),
            ],
            &[],
            &["a"],
            &[],
            &[("a", 5)],
        ),
        (
            "open since its streak began, not since it was first seen",
            vec![
                snap(0, &[("a", "nokey", "x")]),
                snap(1, &[("a", "ok", "x")]),
                snap(3, &[("a", "denied", "x")]),
                snap(10, &[("a", "nokey", "x")]),
            ],
            &[],
            &[],
            &[("a", 7)],
            &[("a", 1)],
        ),
        (
            "a resource missing from a snapshot ends its streak uncounted",
            vec![
                snap(0, &[("a", "nokey", "x")]),
                snap(1, &[]),
                snap(2, &[("a", "nokey", "x")]),
                snap(4, &[("a", "ok", "x")]),
            ],
            &[],
            &["a"],
            &[],
            &[("a", 2)],
        ),
        (
            "gone is not fixed",
            vec![
                snap(0, &[("a", "nokey", "x")]),
                snap(1, &[("b", "ok", "x")]),
            ],
            &[],
            &[],
            &[],
            &[],
        ),
        (
            "a public resource no longer denied is fixed; one never denied is nothing",
            vec![
                snap(0, &[("a", "denied", "x"), ("b", "public", "x")]),
                snap(
                    3,
                    &[
                        ("a", "public", "x"),
                        ("b", "public", "x"),
                        ("c", "denied", "y"),
                    ],
                ),
            ],
            &["c"],
            &["a"],
            &[("c", 0)],
            &[("a", 3)],
        ),
    ];
    for (name, snapshots, newly, fixed, open, remediated) in cases {
        let mut history = History::default();
        let mut step = Step::default();
        for s in &snapshots {
            step = history.add(s).unwrap();
        }
        let report = history.report(step);
        assert_eq!(ids(&report.newly_non_compliant), newly, "{name}");
        assert_eq!(ids(&report.fixed), fixed, "{name}");
        let open_hours: Vec<(&str, Seconds)> = report
            .open
            .iter()
            .map(|o| (o.resource.id.as_str(), o.open_seconds / HOUR))
            .collect();
        assert_eq!(open_hours, open, "{name}");
        let remediations: Vec<(&str, Seconds)> = history
            .remediations()
            .iter()
            .map(|r| (r.id.as_str(), (r.fixed - r.opened) / HOUR))
            .collect();
        assert_eq!(remediations, remediated, "{name}");
        assert_eq!(report.snapshots, snapshots.len(), "{name}");
        assert_eq!(
            report.taken_at,
            format_time(snapshots.last().unwrap().taken_at),
            "{name}"
        );
    }
}

#[test]
fn fixed_reports_what_was_failing_and_open_says_since_when() {
    let mut history = History::default();
    history.add(&snap(0, &[("a", "denied", "x")])).unwrap();
    history.add(&snap(1, &[("b", "nokey", "y")])).unwrap();
    let step = history
        .add(&snap(2, &[("a", "ok", "x"), ("b", "nokey", "y")]))
        .unwrap();
    let report = history.report(step);
    // a was gone at hour 1: not fixed at hour 2.
    assert!(report.fixed.is_empty());
    assert_eq!(report.open[0].since, format_time(T0 + HOUR));
    assert_eq!(report.open[0].open_seconds, HOUR);
    assert_eq!(report.previous, Some(format_time(T0 + HOUR)));

    let mut history = History::default();
    history.add(&snap(0, &[("a", "denied", "x")])).unwrap();
    let step = history.add(&snap(1, &[("a", "ok", "z")])).unwrap();
    assert_eq!(step.fixed[0].failing, ["cmek-required"]);
    assert_eq!(
        step.fixed[0].owner, "x",
        "grouped as it was when non-compliant"
    );
}

#[test]
fn snapshots_must_come_oldest_first() {
    let mut history = History::default();
    history.add(&snap(1, &[])).unwrap();
    for hours in [1, 0] {
        let error = history.add(&snap(hours, &[])).unwrap_err();
        assert!(matches!(error, HistoryError::OutOfOrder { .. }), "{error}");
    }
}

#[test]
fn mean_and_nearest_rank_p90() {
    for (durations, remediations, mean, p90) in [
        (vec![], 0, None, None),
        (vec![10], 1, Some(10.0), Some(10)),
        ((1..=10).collect(), 10, Some(5.5), Some(9)),
        ((1..=11).rev().collect(), 11, Some(6.0), Some(10)),
        (vec![1, 2], 2, Some(1.5), Some(2)),
        (vec![1, 1, 2], 3, Some(1.33), Some(2)),
    ] {
        let stats = MttrStats::of(durations.clone());
        assert_eq!(
            stats,
            MttrStats {
                remediations,
                mean_seconds: mean,
                p90_seconds: p90
            },
            "{durations:?}"
        );
    }
}

#[test]
fn mttr_overall_and_by_owner_project_and_classification() {
    let mut history = History::default();
    history
        .add(&snap(
            0,
            &[
                ("a", "nokey", "x"),
                ("b", "denied", "y"),
                ("c", "nokey", "x"),
            ],
        ))
        .unwrap();
    history
        .add(&snap(
            2,
            &[("a", "ok", "x"), ("b", "denied", "y"), ("c", "nokey", "x")],
        ))
        .unwrap();
    let step = history
        .add(&snap(
            6,
            &[("a", "ok", "x"), ("b", "ok", "y"), ("c", "ok", "x")],
        ))
        .unwrap();
    let mttr = history.report(step).mttr;
    assert_eq!(mttr.overall.remediations, 3);
    assert_eq!(
        mttr.overall.mean_seconds,
        Some((2 + 6 + 6) as f64 * 3600.0 / 3.0)
    );
    assert_eq!(mttr.overall.p90_seconds, Some(6 * HOUR));
    assert_eq!(mttr.by_owner["x"].mean_seconds, Some(4.0 * 3600.0));
    assert_eq!(mttr.by_owner["y"].p90_seconds, Some(6 * HOUR));
    assert_eq!(mttr.by_project["p-x"].remediations, 2);
    assert_eq!(mttr.by_classification["confidential"].remediations, 3);
}

#[test]
fn the_trend_has_each_snapshots_compliance_and_the_mttr_so_far() {
    let mut history = History::default();
    history
        .add(&snap(
            0,
            &[("a", "nokey", "x"), ("b", "ok", "x"), ("c", "public", "y")],
        ))
        .unwrap();
    history
        .add(&snap(
            2,
            &[("a", "ok", "x"), ("b", "nokey", "x"), ("d", "denied", "y")],
        ))
        .unwrap();
    let step = history
        .add(&snap(3, &[("a", "ok", "x"), ("b", "ok", "x")]))
        .unwrap();
    let trend = history.report(step).trend;
    let rows: Vec<_> = trend
        .iter()
        .map(|p| {
            (
                p.taken_at.clone(),
                p.resources,
                p.sensitive,
                p.compliant,
                p.compliance_percent,
                p.non_compliant,
                p.mttr.remediations,
                p.mttr.mean_seconds,
                p.mttr.p90_seconds,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (format_time(T0), 3, 2, 1, 50.0, 1, 0, None, None),
            (
                format_time(T0 + 2 * HOUR),
                3,
                2,
                1,
                50.0,
                2,
                1,
                Some(7200.0),
                Some(7200)
            ),
            // b fixed after 1 hour; d gone (uncounted).
            (
                format_time(T0 + 3 * HOUR),
                2,
                2,
                2,
                100.0,
                0,
                2,
                Some(5400.0),
                Some(7200)
            ),
        ]
    );
}
