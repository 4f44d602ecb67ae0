//! A scan as text: a table for the terminal, CSV (one row per resource), Markdown (for a report
//! or a pull request comment). The Prometheus exposition is `super::prometheus`.

use super::history::{resource_id, Change, HistoryReport, MttrStats};
use super::{Resource, Scan, Tally};
use std::collections::BTreeMap;
use std::fmt::Write;

fn rate(t: &Tally) -> String {
    format!("{:.2}%", t.compliance_percent)
}

/// The total rate, saying why it is 100% when nothing is sensitive.
fn total_rate(t: &Tally) -> String {
    if t.sensitive == 0 {
        format!("{} (no sensitive resources)", rate(t))
    } else {
        rate(t)
    }
}

/// The inputs that were empty lists, for the reader who wonders why nothing was found.
fn empty_lists_line(scan: &Scan) -> String {
    if scan.empty_lists.is_empty() {
        String::new()
    } else {
        format!(
            "empty lists (no resources): {}\n",
            scan.empty_lists.join(", ")
        )
    }
}

fn tally_rows(title: &str, groups: &BTreeMap<String, Tally>) -> Vec<Vec<String>> {
    let mut rows = vec![vec![
        title.to_owned(),
        "resources".into(),
        "sensitive".into(),
        "compliant".into(),
        "rate".into(),
    ]];
    for (name, t) in groups {
        rows.push(vec![
            name.clone(),
            t.resources.to_string(),
            t.sensitive.to_string(),
            t.compliant.to_string(),
            rate(t),
        ]);
    }
    rows
}

/// Aligned columns.
fn columns(rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = (0..rows.first().map_or(0, Vec::len))
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        let _ = writeln!(out, "  {}", line.join("  ").trim_end());
    }
    out
}

/// Why a resource is listed as non-compliant.
fn why_non_compliant(r: &Resource) -> String {
    if r.failing.is_empty() {
        "sensitive without a key".to_owned()
    } else {
        r.failing.join(", ")
    }
}

/// The keys-in-use table: a header row, then a row per key.
fn key_rows(scan: &Scan, key: impl Fn(&str) -> String, separator: &str) -> Vec<Vec<String>> {
    let header = [
        "key",
        "services",
        "jobs",
        "owners",
        "projects",
        "protection",
        "versions",
        "operations/month",
        "estimated/month",
    ];
    let mut rows = vec![header.iter().map(|h| h.to_string()).collect()];
    for k in &scan.keys {
        let join = |set: &std::collections::BTreeSet<String>| {
            set.iter().cloned().collect::<Vec<_>>().join(separator)
        };
        rows.push(vec![
            key(&k.key),
            k.services.to_string(),
            k.jobs.to_string(),
            join(&k.owners),
            join(&k.projects),
            k.usage.protection_level.clone(),
            k.usage.active_versions.to_string(),
            k.usage.operations_per_month.to_string(),
            k.estimated_monthly_cost
                .map_or_else(|| "no price".to_owned(), |c| format!("{c:.2}")),
        ]);
    }
    rows
}

/// The cost estimate in a sentence, saying it is one and where its prices come from.
fn cost_line(scan: &Scan) -> String {
    let c = &scan.kms_cost;
    let shares = |map: &std::collections::BTreeMap<String, f64>| {
        map.iter()
            .map(|(k, v)| format!("{k} {v:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut line = format!(
        "estimated KMS cost: {:.2} {} a month (an estimate from list prices as of {}, {}; each key's cost shared equally among the resources using it)",
        c.monthly_total, c.currency, c.prices_as_of, c.prices_source
    );
    if !c.monthly_by_owner.is_empty() {
        let _ = write!(
            line,
            "
  by owner: {}",
            shares(&c.monthly_by_owner)
        );
        let _ = write!(
            line,
            "
  by project: {}",
            shares(&c.monthly_by_project)
        );
    }
    if !c.unpriced_keys.is_empty() {
        let _ = write!(
            line,
            "
  not priced (no price for their protection level): {}",
            c.unpriced_keys.join(", ")
        );
    }
    line
}

fn resource_label(r: &Resource) -> String {
    format!("{}:{} {} {}/{}", r.file, r.line, r.kind, r.project, r.name)
}

/// For people at a terminal.
pub fn to_table(scan: &Scan) -> String {
    let t = &scan.total;
    let mut out = format!(
        "{} Cloud Run resources, {} sensitive, {} compliant: compliance {}\n{}",
        t.resources,
        t.sensitive,
        t.compliant,
        total_rate(t),
        empty_lists_line(scan)
    );
    for (title, groups) in [
        ("project", &scan.by_project),
        ("region", &scan.by_region),
        ("classification", &scan.by_classification),
        ("owner", &scan.by_owner),
    ] {
        let _ = write!(out, "\nby {title}\n{}", columns(&tally_rows(title, groups)));
    }
    if !scan.non_compliant.is_empty() {
        let _ = writeln!(out, "\nnon-compliant ({})", scan.non_compliant.len());
        for r in &scan.non_compliant {
            let _ = writeln!(
                out,
                "  {} (owner {}): {}",
                resource_label(r),
                r.owner,
                why_non_compliant(r)
            );
        }
    }
    if !scan.keys.is_empty() {
        let rows = key_rows(scan, |k| k.to_owned(), ",");
        let _ = write!(
            out,
            "\nkeys in use ({})\n{}{}\n",
            scan.keys.len(),
            columns(&rows),
            cost_line(scan)
        );
    }
    if !scan.keys_not_needed.is_empty() {
        let _ = writeln!(
            out,
            "\nkeys on resources that are not sensitive ({})",
            scan.keys_not_needed.len()
        );
        for r in &scan.keys_not_needed {
            let _ = writeln!(
                out,
                "  {} (classification {}): {}",
                resource_label(r),
                r.classification,
                r.key
            );
        }
    }
    for (title, problems) in live_sections(scan) {
        let _ = writeln!(out, "\n{title} ({})", problems.len());
        for p in problems {
            let _ = writeln!(out, "  {}: {}", resource_label(&p.resource), p.message);
        }
    }
    if let Some(h) = &scan.history {
        out += &history_table(h);
    }
    for e in &scan.errors {
        let _ = writeln!(out, "\n{}: error: {}", e.file, e.message);
    }
    out
}

/// The live checks' lists (`scan --live`), with their titles; empty ones left out.
fn live_sections(scan: &Scan) -> Vec<(&'static str, &[super::LiveProblem])> {
    [
        ("key not usable (live)", scan.key_not_usable.as_slice()),
        (
            "Cloud Run service agent without the key role (live)",
            scan.agent_without_role.as_slice(),
        ),
    ]
    .into_iter()
    .filter(|(_, list)| !list.is_empty())
    .collect()
}

/// One row per resource, after a header row; fields quoted only where needed (a comma, a quote,
/// a line break), as RFC 4180 says.
pub fn to_csv(scan: &Scan) -> String {
    let mut out = Vec::new();
    // Writing into memory does not fail.
    let _ = write_csv(scan, &mut super::listing::InMemory(scan), &mut out);
    // Every field is a Rust string: the bytes are UTF-8.
    String::from_utf8(out).unwrap_or_default()
}

/// [`to_csv`], the resources taken from `lists` and written as they come.
pub fn write_csv(
    scan: &Scan,
    lists: &mut dyn super::listing::ScanLists,
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    let mut writer = csv::Writer::from_writer(out);
    let header = [
        "file",
        "document",
        "line",
        "kind",
        "project",
        "region",
        "name",
        "classification",
        "owner",
        "sensitive",
        "key",
        "compliant",
        "failing_policies",
    ];
    let history = scan.history.as_ref().map(history_columns);
    let history_header = ["history", "non_compliant_since", "open_seconds"];
    writer.write_record(
        header
            .iter()
            .chain(history.as_ref().map_or(&[][..], |_| &history_header[..])),
    )?;
    lists.each(super::List::Resources, &mut |r, _| {
        let extra = history.as_ref().map(|columns| {
            columns
                .get(resource_id(r).as_str())
                .cloned()
                .unwrap_or_default()
        });
        writer.write_record(
            [
                r.file.clone(),
                r.document.to_string(),
                r.line.to_string(),
                r.kind.clone(),
                r.project.clone(),
                r.region.clone(),
                r.name.clone(),
                r.classification.clone(),
                r.owner.clone(),
                r.sensitive.to_string(),
                r.key.clone(),
                r.compliant.to_string(),
                r.failing.join(" "),
            ]
            .into_iter()
            .chain(extra.into_iter().flatten()),
        )?;
        Ok(())
    })?;
    writer.flush()
}

fn md_cell(value: &str) -> String {
    value.replace('|', "\\|")
}

fn md_table(rows: &[Vec<String>]) -> String {
    let mut out = String::new();
    for (i, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row.iter().map(|c| md_cell(c)).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
        if i == 0 {
            let _ = writeln!(out, "|{}", "---|".repeat(row.len()));
        }
    }
    out
}

/// A Markdown report.
pub fn to_markdown(scan: &Scan) -> String {
    let t = &scan.total;
    let mut out = format!(
        "## CMEK compliance: {}\n\n{} Cloud Run resources, {} sensitive, {} compliant.\n{}",
        total_rate(t),
        t.resources,
        t.sensitive,
        t.compliant,
        empty_lists_line(scan)
    );
    for (title, groups) in [
        ("project", &scan.by_project),
        ("region", &scan.by_region),
        ("classification", &scan.by_classification),
        ("owner", &scan.by_owner),
    ] {
        let _ = write!(
            out,
            "\n### By {title}\n\n{}",
            md_table(&tally_rows(title, groups))
        );
    }
    if !scan.non_compliant.is_empty() {
        let mut rows = vec![vec![
            "resource".to_owned(),
            "owner".into(),
            "failing".into(),
        ]];
        for r in &scan.non_compliant {
            rows.push(vec![
                resource_label(r),
                r.owner.clone(),
                why_non_compliant(r),
            ]);
        }
        let _ = write!(out, "\n### Non-compliant\n\n{}", md_table(&rows));
    }
    if !scan.keys.is_empty() {
        let rows = key_rows(scan, |k| format!("`{k}`"), ", ");
        let _ = write!(
            out,
            "\n### Keys in use\n\n{}\n{}\n",
            md_table(&rows),
            cost_line(scan).replace("\n  ", "\n- ")
        );
    }
    if !scan.keys_not_needed.is_empty() {
        let mut rows = vec![vec![
            "resource".to_owned(),
            "classification".into(),
            "key".into(),
        ]];
        for r in &scan.keys_not_needed {
            rows.push(vec![
                resource_label(r),
                r.classification.clone(),
                format!("`{}`", r.key),
            ]);
        }
        let _ = write!(
            out,
            "\n### Keys on resources that are not sensitive\n\n{}",
            md_table(&rows)
        );
    }
    for (title, problems) in live_sections(scan) {
        let mut rows = vec![vec!["resource".to_owned(), "problem".into()]];
        for p in problems {
            rows.push(vec![resource_label(&p.resource), p.message.clone()]);
        }
        let _ = write!(out, "\n### {}\n\n{}", capitalised(title), md_table(&rows));
    }
    if let Some(h) = &scan.history {
        out += &history_markdown(h);
    }
    out
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// A duration in seconds as people read it (`2h 5m`), to the second.
fn duration(seconds: f64) -> String {
    let seconds = seconds.round().max(0.0) as u64;
    humantime::format_duration(std::time::Duration::from_secs(seconds)).to_string()
}

fn mttr_text(stats: &MttrStats) -> String {
    match (stats.mean_seconds, stats.p90_seconds) {
        (Some(mean), Some(p90)) => format!(
            "mean {}, p90 {} ({} remediated)",
            duration(mean),
            duration(p90 as f64),
            stats.remediations
        ),
        _ => "no remediation yet".to_owned(),
    }
}

/// The MTTR groups as `(dimension, group, stats)`, overall first.
fn mttr_rows(h: &HistoryReport) -> Vec<(&'static str, &str, &MttrStats)> {
    let mut rows = vec![("overall", "", &h.mttr.overall)];
    for (dimension, groups) in [
        ("owner", &h.mttr.by_owner),
        ("project", &h.mttr.by_project),
        ("classification", &h.mttr.by_classification),
    ] {
        rows.extend(groups.iter().map(|(g, s)| (dimension, g.as_str(), s)));
    }
    rows
}

fn history_heading(h: &HistoryReport) -> String {
    format!(
        "snapshot {}, {} kept, {}",
        h.taken_at,
        h.snapshots,
        h.previous
            .as_ref()
            .map_or_else(|| "the first".to_owned(), |p| format!("previous {p}"))
    )
}

fn change_line(c: &Change) -> String {
    format!("{} (owner {}): {}", c.id, c.owner, failing_text(&c.failing))
}

fn failing_text(failing: &[String]) -> String {
    if failing.is_empty() {
        "sensitive without a key".to_owned()
    } else {
        failing.join(", ")
    }
}

/// The history section of the table.
fn history_table(h: &HistoryReport) -> String {
    let mut out = format!("\nhistory: {}\n", history_heading(h));
    for (title, changes) in [
        ("newly non-compliant", &h.newly_non_compliant),
        ("fixed since the last run (was failing)", &h.fixed),
    ] {
        let _ = writeln!(out, "  {title} ({})", changes.len());
        for c in changes {
            let _ = writeln!(out, "    {}", change_line(c));
        }
    }
    let _ = writeln!(out, "  open ({})", h.open.len());
    for o in &h.open {
        let _ = writeln!(
            out,
            "    {}: open {} (since {})",
            change_line(&o.resource),
            duration(o.open_seconds as f64),
            o.since
        );
    }
    let _ = writeln!(out, "  time to remediate");
    for (dimension, group, stats) in mttr_rows(h) {
        let name = if group.is_empty() {
            dimension.to_owned()
        } else {
            format!("{dimension} {group}")
        };
        let _ = writeln!(out, "    {name}: {}", mttr_text(stats));
    }
    out
}

/// The history section of the Markdown report.
fn history_markdown(h: &HistoryReport) -> String {
    let mut out = format!("\n### History\n\n{}.\n\n", history_heading(h));
    let mut rows = vec![vec![
        "change".to_owned(),
        "resource".into(),
        "owner".into(),
        "failing".into(),
        "open since".into(),
        "open for".into(),
    ]];
    let change_row = |what: &str, c: &Change, since: &str, open: &str| {
        vec![
            what.to_owned(),
            c.id.clone(),
            c.owner.clone(),
            failing_text(&c.failing),
            since.to_owned(),
            open.to_owned(),
        ]
    };
    rows.extend(
        h.newly_non_compliant
            .iter()
            .map(|c| change_row("newly non-compliant", c, "", "")),
    );
    rows.extend(h.fixed.iter().map(|c| change_row("fixed", c, "", "")));
    rows.extend(h.open.iter().map(|o| {
        change_row(
            "open",
            &o.resource,
            &o.since,
            &duration(o.open_seconds as f64),
        )
    }));
    out += &md_table(&rows);
    let mut rows = vec![vec![
        "by".to_owned(),
        "group".into(),
        "remediated".into(),
        "mean time to remediate".into(),
        "p90".into(),
    ]];
    for (dimension, group, stats) in mttr_rows(h) {
        rows.push(vec![
            dimension.to_owned(),
            group.to_owned(),
            stats.remediations.to_string(),
            stats.mean_seconds.map_or_else(String::new, duration),
            stats
                .p90_seconds
                .map_or_else(String::new, |p| duration(p as f64)),
        ]);
    }
    out += "\n";
    out += &md_table(&rows);
    out
}

/// The CSV columns `--history` adds, per resource: its status this run (`newly-non-compliant`,
/// `open`, `fixed` or empty), since when it is non-compliant, and for how many seconds.
fn history_columns(h: &HistoryReport) -> BTreeMap<&str, [String; 3]> {
    let mut columns: BTreeMap<&str, [String; 3]> = BTreeMap::new();
    for c in &h.fixed {
        columns.insert(&c.id, ["fixed".into(), String::new(), String::new()]);
    }
    for o in &h.open {
        columns.insert(
            &o.resource.id,
            ["open".into(), o.since.clone(), o.open_seconds.to_string()],
        );
    }
    for c in &h.newly_non_compliant {
        if let Some(row) = columns.get_mut(c.id.as_str()) {
            row[0] = "newly-non-compliant".into();
        }
    }
    columns
}
