//! The page's tables and lists: the breakdowns, the non-compliant resources with the fix, what
//! changed since the last run, the keys with their estimated cost, and the other findings.

use super::{duration, escape, money};
use crate::scan::history::{resource_id, HistoryReport, MttrStats, Open};
use crate::scan::{Resource, Scan, Tally};
use std::collections::BTreeMap;
use std::fmt::Write;

fn rate_bar(t: &Tally) -> String {
    format!(
        "<span class=\"bar\" title=\"{:.2}%\"><span style=\"width:{:.1}%\"></span></span>",
        t.compliance_percent,
        t.compliance_percent.clamp(0.0, 100.0)
    )
}

/// A cell: `field` names it for readers of the page's figures.
fn cell(field: &str, value: &str, numeric: bool) -> String {
    let class = if numeric { " class=\"n\"" } else { "" };
    format!("<td data-field=\"{field}\"{class}>{value}</td>")
}

fn header(columns: &[(&str, bool)]) -> String {
    let cells: String = columns
        .iter()
        .map(|(name, numeric)| {
            let class = if *numeric { " class=\"n\"" } else { "" };
            format!("<th{class}>{name}</th>")
        })
        .collect();
    format!("<table>\n<tr>{cells}</tr>\n")
}

/// The tallies by `dimension`, with each group's MTTR (from the history) and estimated cost
/// (where the estimate has one by this dimension).
fn breakdown(
    dimension: &str,
    groups: &BTreeMap<String, Tally>,
    mttr: Option<&BTreeMap<String, MttrStats>>,
    cost: Option<&BTreeMap<String, f64>>,
) -> String {
    let mut out = format!("<h3>By {dimension}</h3>\n");
    let mut columns = vec![
        (dimension, false),
        ("resources", true),
        ("sensitive", true),
        ("compliant", true),
        ("compliance", true),
    ];
    if mttr.is_some() {
        columns.extend([("MTTR mean", true), ("MTTR p90", true)]);
    }
    if cost.is_some() {
        columns.push(("estimated KMS cost/month", true));
    }
    out += &header(&columns);
    for (name, t) in groups {
        let _ = write!(
            out,
            "<tr data-row=\"by-{dimension}/{}\">{}{}{}{}{}",
            escape(name),
            cell("name", &escape(name), false),
            cell("resources", &t.resources.to_string(), true),
            cell("sensitive", &t.sensitive.to_string(), true),
            cell("compliant", &t.compliant.to_string(), true),
            cell(
                "compliance",
                &format!("{:.2}%{}", t.compliance_percent, rate_bar(t)),
                true
            ),
        );
        if let Some(mttr) = mttr {
            let stats = mttr.get(name);
            let mean = stats.and_then(|s| s.mean_seconds).map(duration);
            let p90 = stats
                .and_then(|s| s.p90_seconds)
                .map(|s| duration(s as f64));
            out += &cell("mttr-mean", &mean.unwrap_or_default(), true);
            out += &cell("mttr-p90", &p90.unwrap_or_default(), true);
        }
        if let Some(cost) = cost {
            let cost = cost.get(name).map(|c| money(*c)).unwrap_or_default();
            out += &cell("kms-cost", &cost, true);
        }
        out += "</tr>\n";
    }
    out + "</table>\n"
}

pub(super) fn breakdowns(scan: &Scan) -> String {
    let mttr = scan.history.as_ref().map(|h| &h.mttr);
    let mut out = String::from("<h2>Breakdowns</h2>\n");
    out += &breakdown(
        "owner",
        &scan.by_owner,
        mttr.map(|m| &m.by_owner),
        Some(&scan.kms_cost.monthly_by_owner),
    );
    out += &breakdown(
        "project",
        &scan.by_project,
        mttr.map(|m| &m.by_project),
        Some(&scan.kms_cost.monthly_by_project),
    );
    out += &breakdown(
        "classification",
        &scan.by_classification,
        mttr.map(|m| &m.by_classification),
        None,
    );
    out += &breakdown("region", &scan.by_region, None, None);
    out
}

fn location(r: &Resource) -> String {
    format!("{}:{} (document {})", escape(&r.file), r.line, r.document)
}

/// The failing policies, and what to do about them: each denying policy's own message (which
/// names what to change), or why it could not be decided, then the commands that show and apply
/// the policies' fixes for the file.
fn failing_and_fix(r: &Resource) -> (String, String) {
    let file = escape(&shell_quote(&r.file));
    let commands = format!(
        "<code>cmek-gate check {file}</code> says what each policy wants; <code>cmek-gate fix {file}</code> applies the policies' patches"
    );
    let said: Vec<String> = r
        .messages
        .iter()
        .chain(&r.undecided)
        .map(|m| format!("<div>{}</div>", escape(m)))
        .collect();
    let failing = if !r.failing.is_empty() {
        r.failing
            .iter()
            .map(|p| format!("<code>{}</code>", escape(p)))
            .collect::<Vec<_>>()
            .join(", ")
    } else if !r.undecided.is_empty() {
        "none decided: a binding could not be evaluated".to_owned()
    } else {
        "none: sensitive without a key".to_owned()
    };
    if said.is_empty() {
        (failing, commands)
    } else {
        (failing, format!("{}{commands}", said.concat()))
    }
}

/// A file name as a POSIX shell word.
fn shell_quote(name: &str) -> String {
    if !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@+=,".contains(c))
    {
        name.to_owned()
    } else {
        format!("'{}'", name.replace('\'', r"'\''"))
    }
}

pub(super) fn non_compliant(scan: &Scan) -> String {
    let mut out = format!("<h2>Non-compliant ({})</h2>\n", scan.non_compliant.len());
    if scan.non_compliant.is_empty() {
        return out + "<p>None.</p>\n";
    }
    let open: BTreeMap<&str, &Open> = scan
        .history
        .iter()
        .flat_map(|h| &h.open)
        .map(|o| (o.resource.id.as_str(), o))
        .collect();
    let mut columns = vec![
        ("resource", false),
        ("owner", false),
        ("project", false),
        ("where", false),
        ("failing policies", false),
        ("fix", false),
    ];
    if scan.history.is_some() {
        columns.push(("open for", true));
    }
    out += &header(&columns);
    for r in &scan.non_compliant {
        let (failing, fix) = failing_and_fix(r);
        let id = resource_id(r);
        let _ = write!(
            out,
            "<tr data-row=\"non-compliant/{}\">{}{}{}{}{}{}",
            escape(&id),
            cell(
                "resource",
                &format!("{} <code>{}</code>", escape(&r.kind), escape(&r.name)),
                false
            ),
            cell("owner", &escape(&r.owner), false),
            cell("project", &escape(&r.project), false),
            cell("where", &location(r), false),
            cell("failing", &failing, false),
            cell("fix", &fix, false),
        );
        if scan.history.is_some() {
            let open_for = open.get(id.as_str()).map_or_else(String::new, |o| {
                format!(
                    "<span title=\"since {}\">{}</span>",
                    escape(&o.since),
                    duration(o.open_seconds as f64)
                )
            });
            out += &cell("open-for", &open_for, true);
        }
        out += "</tr>\n";
    }
    out + "</table>\n"
}

pub(super) fn changes(h: &HistoryReport) -> String {
    let mut out = String::from("<h2>Since the last run</h2>\n");
    for (field, title, list) in [
        (
            "newly-non-compliant",
            "newly non-compliant",
            &h.newly_non_compliant,
        ),
        ("fixed", "fixed (was failing)", &h.fixed),
    ] {
        let _ = writeln!(
            out,
            "<h3>{title} (<span data-kpi=\"{field}\">{}</span>)</h3>",
            list.len()
        );
        if list.is_empty() {
            continue;
        }
        out += &header(&[("resource", false), ("owner", false), ("failing", false)]);
        for c in list {
            let failing: Vec<String> = c.failing.iter().map(|f| escape(f)).collect();
            let _ = writeln!(
                out,
                "<tr>{}{}{}</tr>",
                cell(
                    "resource",
                    &format!("<code>{}</code>", escape(&c.id)),
                    false
                ),
                cell("owner", &escape(&c.owner), false),
                cell("failing", &failing.join(", "), false),
            );
        }
        out += "</table>\n";
    }
    out
}

pub(super) fn keys(scan: &Scan) -> String {
    let c = &scan.kms_cost;
    let mut out = format!("<h2>Keys in use ({})</h2>\n", scan.keys.len());
    if scan.keys.is_empty() {
        return out + "<p>None.</p>\n";
    }
    out += &header(&[
        ("key", false),
        ("services", true),
        ("jobs", true),
        ("owners", false),
        ("projects", false),
        ("protection", false),
        ("versions", true),
        ("operations/month", true),
        ("estimated cost/month", true),
    ]);
    for k in &scan.keys {
        let join = |set: &std::collections::BTreeSet<String>| {
            set.iter().map(|s| escape(s)).collect::<Vec<_>>().join(", ")
        };
        let _ = writeln!(
            out,
            "<tr data-row=\"key/{}\">{}{}{}{}{}{}{}{}{}</tr>",
            escape(&k.key),
            cell("key", &format!("<code>{}</code>", escape(&k.key)), false),
            cell("services", &k.services.to_string(), true),
            cell("jobs", &k.jobs.to_string(), true),
            cell("owners", &join(&k.owners), false),
            cell("projects", &join(&k.projects), false),
            cell("protection", &escape(&k.usage.protection_level), false),
            cell("versions", &k.usage.active_versions.to_string(), true),
            cell(
                "operations",
                &k.usage.operations_per_month.to_string(),
                true
            ),
            cell(
                "kms-cost",
                &k.estimated_monthly_cost
                    .map_or_else(|| "no price".to_owned(), money),
                true
            ),
        );
    }
    out += "</table>\n";
    let _ = writeln!(
        out,
        "<p class=\"note\">Estimated total: {} {} a month (an estimate, from list prices as of {}, {}).{}</p>",
        money(c.monthly_total),
        escape(&c.currency),
        escape(&c.prices_as_of),
        escape(&c.prices_source),
        if c.unpriced_keys.is_empty() {
            String::new()
        } else {
            format!(
                " Not priced (no price for their protection level): {}.",
                c.unpriced_keys
                    .iter()
                    .map(|k| escape(k))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    );
    out
}

/// Keys where none is needed, the live checks' findings and the inputs that could not be read.
pub(super) fn other_findings(scan: &Scan) -> String {
    let mut out = String::new();
    let resource = |r: &Resource| {
        format!(
            "{} <code>{}/{}</code> at {}",
            escape(&r.kind),
            escape(&r.project),
            escape(&r.name),
            location(r)
        )
    };
    let mut list = |title: &str, items: Vec<String>| {
        if !items.is_empty() {
            let _ = write!(out, "<h2>{title} ({})</h2>\n<ul>\n", items.len());
            for item in items {
                let _ = writeln!(out, "<li>{item}</li>");
            }
            out += "</ul>\n";
        }
    };
    list(
        "Keys on resources that are not sensitive",
        scan.keys_not_needed
            .iter()
            .map(|r| format!("{}: <code>{}</code>", resource(r), escape(&r.key)))
            .collect(),
    );
    for (title, problems) in [
        ("Key not usable (live)", &scan.key_not_usable),
        (
            "Cloud Run service agent without the key role (live)",
            &scan.agent_without_role,
        ),
    ] {
        list(
            title,
            problems
                .iter()
                .map(|p| format!("{}: {}", resource(&p.resource), escape(&p.message)))
                .collect(),
        );
    }
    list(
        "Inputs that could not be read",
        scan.errors
            .iter()
            .map(|e| format!("{}: {}", escape(&e.file), escape(&e.message)))
            .collect(),
    );
    out
}
