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
mod tables;

use super::history::{HistoryReport, MttrStats};
use super::Scan;
use std::fmt::Write;
use tables::{breakdowns, changes, keys, non_compliant, other_findings};

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

/// Where the trend would be, on a scan without `--history`.
const NO_HISTORY: &str =
    "<p class=\"note\" data-note=\"no-history\">No trend and no time to remediate: \
    run the scan with <code>--history DIR</code> to keep a snapshot of each run.</p>\n";

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
    match &scan.history {
        Some(h) => out += &trend(h),
        None => out += NO_HISTORY,
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

#[cfg(test)]
mod tests;
