//! A scan as text: a table for the terminal, CSV (one row per resource), Markdown (for a report
//! or a pull request comment). The Prometheus exposition is `super::prometheus`.

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
    let mut writer = csv::Writer::from_writer(Vec::new());
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
    // Writing into memory does not fail.
    let _ = writer.write_record(header);
    for r in &scan.resources {
        let _ = writer.write_record([
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
        ]);
    }
    let bytes = writer.into_inner().unwrap_or_default();
    // Every field is a Rust string: the bytes are UTF-8.
    String::from_utf8(bytes).unwrap_or_default()
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
    out
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}
