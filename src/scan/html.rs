//! A scan as one self-contained HTML page (`scan --output html`), for people who would rather
//! look than read: the KPIs, the trend from `--history` as inline SVG, the breakdowns, the
//! non-compliant list and the key inventory with its estimated cost. Pure: renders the same
//! [`Scan`] the JSON is serialized from, computing nothing the scan did not.
//!
//! Self-contained: inline CSS and SVG, no script, font, image or link to fetch, and a
//! Content-Security-Policy that forbids any. Every string from the input is escaped.
//! The figures carry `data-kpi` (and table cells `data-field`) attributes, so that a test can
//! read them back from the rendered page.

mod chart;

use super::history::{resource_id, HistoryReport, MttrStats};
use super::{Resource, Scan, Tally};
use std::collections::BTreeMap;
use std::fmt::Write;

/// Text as HTML element content or an attribute value in double quotes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#1f2933;background:#fff}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2.2rem;border-bottom:1px solid #d9e2ec;padding-bottom:.3rem}
.sub{color:#52606d;margin-top:0}.note{color:#52606d;font-size:.85rem}
.kpis{display:grid;grid-template-columns:repeat(auto-fill,minmax(11rem,1fr));gap:.8rem}
.kpi{border:1px solid #d9e2ec;border-radius:.5rem;padding:.7rem .9rem}
.kpi .label{font-size:.8rem;color:#52606d}.kpi .value{font-size:1.5rem;font-weight:600}
.kpi.bad .value{color:#b42318}.kpi.good .value{color:#067647}
table{border-collapse:collapse;width:100%;font-size:.88rem;margin:.5rem 0}
th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #e4e7eb;vertical-align:top}
th{background:#f5f7fa;font-weight:600}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
code{font-size:.82rem;overflow-wrap:anywhere}
.bar{display:inline-block;width:6rem;height:.6rem;background:#fde2e1;border-radius:.3rem;vertical-align:middle;margin-left:.4rem}
.bar span{display:block;height:100%;background:#12b76a;border-radius:.3rem}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(30rem,1fr));gap:1rem}
svg text{font-family:inherit;font-size:11px;fill:#52606d}
";

/// The page.
pub fn to_html(scan: &Scan) -> String {
    let mut out = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>CMEK compliance report</title>\n<style>",
    );
    out += STYLE;
    out += "</style>\n</head>\n<body>\n<h1>CMEK compliance report</h1>\n";
    let _ = writeln!(out, "<p class=\"sub\">{}</p>", escape(&subtitle(scan)));
    out += &kpis(scan);
    if let Some(h) = &scan.history {
        out += &trend(h);
    }
    out += &breakdowns(scan);
    out += &non_compliant(scan);
    if let Some(h) = &scan.history {
        out += &changes(h);
    }
    out += &keys(scan);
    out += &other_findings(scan);
    out += "</body>\n</html>\n";
    out
}

fn subtitle(scan: &Scan) -> String {
    let mut text = "cmek-gate scan".to_owned();
    if let Some(h) = &scan.history {
        let _ = write!(
            text,
            ", snapshot {} ({} kept{})",
            h.taken_at,
            h.snapshots,
            h.previous
                .as_ref()
                .map_or_else(String::new, |p| format!(", previous {p}"))
        );
    }
    if !scan.empty_lists.is_empty() {
        let _ = write!(
            text,
            "; empty lists (no resources): {}",
            scan.empty_lists.join(", ")
        );
    }
    text
}

/// A KPI card: `value` is HTML (escaped by the caller), `extra` more attributes.
fn kpi(name: &str, label: &str, value: &str, extra: &str, class: &str) -> String {
    format!(
        "<div class=\"kpi {class}\"><div class=\"label\">{label}</div><div class=\"value\"><span data-kpi=\"{name}\"{extra}>{value}</span></div></div>\n"
    )
}

/// A duration in seconds as people read it (`2h 5m`).
fn duration(seconds: f64) -> String {
    let seconds = seconds.round().max(0.0) as u64;
    humantime::format_duration(std::time::Duration::from_secs(seconds)).to_string()
}

fn money(amount: f64) -> String {
    format!("{amount:.2}")
}

fn kpis(scan: &Scan) -> String {
    let t = &scan.total;
    let rate_class = if t.compliant < t.sensitive {
        "bad"
    } else {
        "good"
    };
    let mut out = String::from("<h2>Key figures</h2>\n<div class=\"kpis\">\n");
    out += &kpi(
        "compliance-rate",
        "compliance rate (compliant / sensitive)",
        &format!("{:.2}", t.compliance_percent),
        "",
        rate_class,
    )
    .replace("</span></div></div>", "</span>%</div></div>");
    for (name, label, value) in [
        ("resources", "Cloud Run resources", t.resources),
        ("sensitive", "sensitive", t.sensitive),
        ("compliant", "compliant", t.compliant),
        ("non-compliant", "non-compliant", scan.non_compliant.len()),
    ] {
        out += &kpi(name, label, &value.to_string(), "", "");
    }
    if let Some(h) = &scan.history {
        out += &mttr_kpis(&h.mttr.overall);
        out += &kpi(
            "open-non-compliant",
            "open non-compliant",
            &h.open.len().to_string(),
            "",
            "",
        );
    }
    let c = &scan.kms_cost;
    out += &kpi(
        "kms-cost-monthly",
        &format!("estimated KMS cost a month ({})", escape(&c.currency)),
        &money(c.monthly_total),
        "",
        "",
    );
    out += "</div>\n";
    let _ = writeln!(
        out,
        "<p class=\"note\" data-kpi=\"kms-cost-note\">The KMS cost is an <strong>estimate</strong> from list prices as of {} ({}), and the key usage the params assume; each key's cost is shared equally among the resources using it.</p>",
        escape(&c.prices_as_of),
        escape(&c.prices_source)
    );
    out
}

fn mttr_kpis(stats: &MttrStats) -> String {
    let mut out = String::new();
    let values = [
        ("mttr-mean", "mean time to remediate", stats.mean_seconds),
        (
            "mttr-p90",
            "time to remediate, p90",
            stats.p90_seconds.map(|s| s as f64),
        ),
    ];
    for (name, label, seconds) in values {
        let (text, extra) = match seconds {
            Some(s) => (duration(s), format!(" data-seconds=\"{s}\"")),
            None => ("none yet".to_owned(), String::new()),
        };
        out += &kpi(name, label, &text, &extra, "");
    }
    out += &kpi(
        "remediations",
        "remediations (history kept)",
        &stats.remediations.to_string(),
        "",
        "",
    );
    out
}

fn trend(h: &HistoryReport) -> String {
    let times: Vec<i64> = h
        .trend
        .iter()
        .map(|p| super::history::parse_time(&p.taken_at).unwrap_or_default())
        .collect();
    let rates: Vec<Option<f64>> = h.trend.iter().map(|p| Some(p.compliance_percent)).collect();
    let means: Vec<Option<f64>> = h.trend.iter().map(|p| p.mttr.mean_seconds).collect();
    let p90s: Vec<Option<f64>> = h
        .trend
        .iter()
        .map(|p| p.mttr.p90_seconds.map(|s| s as f64))
        .collect();
    let labels: Vec<&str> = h.trend.iter().map(|p| p.taken_at.as_str()).collect();
    let rate_chart = chart::LineChart {
        id: "compliance-trend",
        title: "compliance rate by snapshot",
        times: &times,
        labels: &labels,
        series: vec![("compliance", "#1570ef", rates)],
        y_max: 100.0,
        y_label: &|v| format!("{v:.0}%"),
        value_label: &|v| format!("{v:.2}%"),
    };
    let max_p90 = p90s.iter().flatten().fold(0.0f64, |a, &b| a.max(b));
    let mttr_chart = chart::LineChart {
        id: "mttr-trend",
        title: "time to remediate by snapshot (every remediation so far)",
        times: &times,
        labels: &labels,
        series: vec![("mean", "#7a5af8", means), ("p90", "#f79009", p90s)],
        y_max: if max_p90 > 0.0 { max_p90 } else { 3600.0 },
        y_label: &|v| duration(v),
        value_label: &|v| duration(v),
    };
    format!(
        "<h2>Trend ({} snapshots)</h2>\n<div class=\"charts\">\n{}{}</div>\n",
        h.trend.len(),
        rate_chart.to_svg(),
        mttr_chart.to_svg()
    )
}

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

/// The tallies by `dimension`, with each group's MTTR (from the history) and estimated cost.
fn breakdown(
    dimension: &str,
    groups: &BTreeMap<String, Tally>,
    mttr: Option<&BTreeMap<String, MttrStats>>,
    cost: &BTreeMap<String, f64>,
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
    columns.push(("estimated KMS cost/month", true));
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
        let cost = cost.get(name).map(|c| money(*c)).unwrap_or_default();
        let _ = writeln!(out, "{}</tr>", cell("kms-cost", &cost, true));
    }
    out + "</table>\n"
}

fn breakdowns(scan: &Scan) -> String {
    let mttr = scan.history.as_ref().map(|h| &h.mttr);
    let none = BTreeMap::new();
    let mut out = String::from("<h2>Breakdowns</h2>\n");
    out += &breakdown(
        "owner",
        &scan.by_owner,
        mttr.map(|m| &m.by_owner),
        &scan.kms_cost.monthly_by_owner,
    );
    out += &breakdown(
        "project",
        &scan.by_project,
        mttr.map(|m| &m.by_project),
        &scan.kms_cost.monthly_by_project,
    );
    out += &breakdown(
        "classification",
        &scan.by_classification,
        mttr.map(|m| &m.by_classification),
        &none,
    );
    out += &breakdown("region", &scan.by_region, None, &none);
    out
}

fn location(r: &Resource) -> String {
    format!("{}:{} (document {})", escape(&r.file), r.line, r.document)
}

/// The failing policies, and what to do about them: the policies' own messages and patches
/// are a `check` and a `fix` of the file away (the scan keeps only the policies' names).
fn failing_and_fix(r: &Resource) -> (String, String) {
    let file = shell_quote(&r.file);
    if r.failing.is_empty() {
        (
            "none: sensitive without a key".to_owned(),
            format!(
                "set a customer-managed encryption key on it (<code>cmek-gate fix {}</code> adds the region's default key, where the params' <code>spec.defaultKeys</code> name one)",
                escape(&file)
            ),
        )
    } else {
        let names: Vec<String> = r
            .failing
            .iter()
            .map(|p| format!("<code>{}</code>", escape(p)))
            .collect();
        (
            names.join(", "),
            format!(
                "<code>cmek-gate check {0}</code> says what each policy wants; <code>cmek-gate fix {0}</code> applies the policies' patches",
                escape(&file)
            ),
        )
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

fn non_compliant(scan: &Scan) -> String {
    let mut out = format!("<h2>Non-compliant ({})</h2>\n", scan.non_compliant.len());
    if scan.non_compliant.is_empty() {
        return out + "<p>None.</p>\n";
    }
    let open: BTreeMap<&str, &super::history::Open> = scan
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

fn changes(h: &HistoryReport) -> String {
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

fn keys(scan: &Scan) -> String {
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
fn other_findings(scan: &Scan) -> String {
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

#[cfg(test)]
mod tests;
