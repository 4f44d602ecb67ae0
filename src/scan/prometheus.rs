//! A scan in the OpenMetrics text format (`scan --output prometheus`), for a node-exporter
//! textfile collector or a push gateway. Pure: the figures are taken from the [`Scan`] into a
//! `prometheus-client` collector, which writes the exposition (names, `HELP`, `TYPE`, values,
//! the closing `# EOF`) in the order given here.

use super::history::{HistoryReport, MttrStats};
use super::{Scan, Tally};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelValue, EncodeMetric, LabelValueEncoder, MetricEncoder,
};
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::collections::BTreeMap;
use std::fmt::Write;

/// A label value escaped as the exposition formats require (`\\`, `\"`, `\n`):
/// `prometheus-client` writes label values as they are, and these come from manifests.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct LabelValue(String);

impl EncodeLabelValue for LabelValue {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        for c in self.0.chars() {
            match c {
                '\\' => encoder.write_str("\\\\")?,
                '"' => encoder.write_str("\\\"")?,
                '\n' => encoder.write_str("\\n")?,
                c => encoder.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// A gauge's value: a count, or a ratio.
#[derive(Debug, Clone, Copy)]
enum Value {
    Count(i64),
    Float(f64),
}

impl Value {
    fn encode(self, encoder: MetricEncoder) -> std::fmt::Result {
        match self {
            Value::Count(n) => ConstGauge::new(n).encode(encoder),
            Value::Float(r) => ConstGauge::new(r).encode(encoder),
        }
    }
}

/// A gauge with no labels, or one series per value of one label.
#[derive(Debug)]
enum Series {
    One(Value),
    ByLabel(&'static str, Vec<(String, Value)>),
    ByLabels(Vec<(Vec<(&'static str, String)>, Value)>),
}

/// One gauge: its name, its help text and its series.
#[derive(Debug)]
struct Gauge {
    name: String,
    help: String,
    series: Series,
}

/// The scan's gauges, in the order they are written.
#[derive(Debug)]
struct ScanMetrics(Vec<Gauge>);

impl Collector for ScanMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for gauge in &self.0 {
            let mut metric =
                encoder.encode_descriptor(&gauge.name, &gauge.help, None, MetricType::Gauge)?;
            match &gauge.series {
                Series::One(value) => value.encode(metric)?,
                Series::ByLabel(label, values) => {
                    for (label_value, value) in values {
                        let labels = [(*label, LabelValue(label_value.clone()))];
                        value.encode(metric.encode_family(&labels)?)?;
                    }
                }
                Series::ByLabels(series) => {
                    for (labels, value) in series {
                        let labels: Vec<(&str, LabelValue)> = labels
                            .iter()
                            .map(|(k, v)| (*k, LabelValue(v.clone())))
                            .collect();
                        value.encode(metric.encode_family(&labels)?)?;
                    }
                }
            }
        }
        Ok(())
    }
}

fn count(n: usize) -> Value {
    Value::Count(i64::try_from(n).unwrap_or(i64::MAX))
}

fn ratio(tally: &Tally) -> Value {
    Value::Float(tally.compliance_percent / 100.0)
}

fn one(name: &str, help: &str, value: Value) -> Gauge {
    Gauge {
        name: name.to_owned(),
        help: help.to_owned(),
        series: Series::One(value),
    }
}

fn by(dimension: &'static str, groups: &BTreeMap<String, Tally>) -> Gauge {
    Gauge {
        name: format!("cmek_gate_scan_compliance_ratio_by_{dimension}"),
        help: format!("Compliant / sensitive resources by {dimension} (1 when none is sensitive)"),
        series: Series::ByLabel(
            dimension,
            groups
                .iter()
                .map(|(value, tally)| (value.clone(), ratio(tally)))
                .collect(),
        ),
    }
}

/// The MTTR series of one group (`by` its labels): the mean and p90, when there is a remediation.
fn mttr_series(
    by: &[(&'static str, &str)],
    stats: &MttrStats,
) -> Vec<(Vec<(&'static str, String)>, Value)> {
    let labels = |stat: &str| {
        let mut labels: Vec<(&'static str, String)> =
            by.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
        labels.push(("stat", stat.to_owned()));
        labels
    };
    let mut series = Vec::new();
    if let (Some(mean), Some(p90)) = (stats.mean_seconds, stats.p90_seconds) {
        series.push((labels("mean"), Value::Float(mean)));
        series.push((labels("p90"), Value::Float(p90 as f64)));
    }
    series
}

/// The gauges of `scan --history`.
fn history_gauges(h: &HistoryReport) -> Vec<Gauge> {
    let mut gauges = vec![
        one(
            "cmek_gate_scan_history_snapshots",
            "Snapshots kept in the history, this run's included",
            count(h.snapshots),
        ),
        one(
            "cmek_gate_scan_newly_non_compliant_resources",
            "Resources non-compliant now that were not in the last snapshot",
            count(h.newly_non_compliant.len()),
        ),
        one(
            "cmek_gate_scan_fixed_resources",
            "Resources non-compliant in the last snapshot and not now",
            count(h.fixed.len()),
        ),
        one(
            "cmek_gate_scan_open_non_compliant_resources",
            "Resources non-compliant now (open episodes)",
            count(h.open.len()),
        ),
        one(
            "cmek_gate_scan_oldest_open_seconds",
            "How long the oldest open non-compliance has been open (0 when none is)",
            Value::Count(h.open.iter().map(|o| o.open_seconds).max().unwrap_or(0)),
        ),
        one(
            "cmek_gate_scan_remediations",
            "Non-compliant episodes closed (remediated) in the snapshots kept",
            count(h.mttr.overall.remediations),
        ),
        Gauge {
            name: "cmek_gate_scan_mttr_seconds".into(),
            help: "Time to remediate (first seen non-compliant to compliant) in the snapshots kept: stat mean or p90 (nearest rank)".into(),
            series: Series::ByLabels(mttr_series(&[], &h.mttr.overall)),
        },
    ];
    for (dimension, groups) in [
        ("owner", &h.mttr.by_owner),
        ("project", &h.mttr.by_project),
        ("classification", &h.mttr.by_classification),
    ] {
        gauges.push(Gauge {
            name: format!("cmek_gate_scan_mttr_seconds_by_{dimension}"),
            help: format!("Time to remediate by {dimension}: stat mean or p90 (nearest rank)"),
            series: Series::ByLabels(
                groups
                    .iter()
                    .flat_map(|(group, stats)| mttr_series(&[(dimension, group)], stats))
                    .collect(),
            ),
        });
    }
    gauges
}

fn metrics(scan: &Scan) -> ScanMetrics {
    let mut gauges = scan_gauges(scan);
    if let Some(h) = &scan.history {
        gauges.extend(history_gauges(h));
    }
    ScanMetrics(gauges)
}

fn scan_gauges(scan: &Scan) -> Vec<Gauge> {
    let t = &scan.total;
    vec![
        one(
            "cmek_gate_scan_resources",
            "Cloud Run resources scanned",
            count(t.resources),
        ),
        one(
            "cmek_gate_scan_sensitive_resources",
            "Sensitive Cloud Run resources",
            count(t.sensitive),
        ),
        one(
            "cmek_gate_scan_compliant_resources",
            "Sensitive resources with a valid key",
            count(t.compliant),
        ),
        one(
            "cmek_gate_scan_compliance_ratio",
            "Compliant / sensitive resources (1 when nothing is sensitive, no resources included)",
            ratio(t),
        ),
        one(
            "cmek_gate_scan_non_compliant_resources",
            "Resources denied by a policy or sensitive without a key",
            count(scan.non_compliant.len()),
        ),
        one(
            "cmek_gate_scan_keys",
            "Distinct keys in use",
            count(scan.keys.len()),
        ),
        one(
            "cmek_gate_scan_kms_estimated_monthly_cost",
            "Estimated KMS cost a month of the keys in use (an estimate from the params' price table)",
            Value::Float(scan.kms_cost.monthly_total),
        ),
        one(
            "cmek_gate_scan_keys_not_needed",
            "Keys on resources that are not sensitive",
            count(scan.keys_not_needed.len()),
        ),
        by("project", &scan.by_project),
        by("region", &scan.by_region),
        by("classification", &scan.by_classification),
        by("owner", &scan.by_owner),
        Gauge {
            name: "cmek_gate_scan_kms_estimated_monthly_cost_by_project".into(),
            help: format!(
                "Estimated KMS cost a month by project, in {} (list prices as of {})",
                scan.kms_cost.currency, scan.kms_cost.prices_as_of
            ),
            series: Series::ByLabel(
                "project",
                scan.kms_cost
                    .monthly_by_project
                    .iter()
                    .map(|(project, cost)| (project.clone(), Value::Float(*cost)))
                    .collect(),
            ),
        },
        Gauge {
            name: "cmek_gate_scan_key_resources".into(),
            help: "Resources using each key".into(),
            series: Series::ByLabel(
                "key",
                scan.keys
                    .iter()
                    .map(|k| (k.key.clone(), count(k.services + k.jobs)))
                    .collect(),
            ),
        },
    ]
}

/// The scan in the OpenMetrics text format, ending with `# EOF`.
pub fn to_prometheus(scan: &Scan) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(metrics(scan)));
    let mut out = String::new();
    // Writing into a String does not fail; the collector above returns no error of its own.
    let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
    out
}
