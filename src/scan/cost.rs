//! KMS cost showback: what the keys in use cost a month, estimated per key, owner and project.
//! Pure.
//!
//! A key costs its active key versions at the price of its protection level, plus its
//! cryptographic operations per 10,000. Prices come from the params' `spec.kmsPrices` (the
//! shipped `CmekGateParams` carries Google's list prices with their date and source, and a user
//! updates them there); what is assumed of each key (protection level, active versions,
//! operations a month) from `spec.kmsUsage`, a default for every key and entries by key name.
//! A key's cost is shared equally among the resources the scan found using it, and so
//! attributed to their owners and projects. These are estimates: a key may serve resources the
//! scan did not see, and the usage is what the params say, not what billing measured.

use crate::manifest::Node;
use serde::Serialize;
use std::collections::BTreeMap;

/// A price table: per protection level (`SOFTWARE`, `HSM`, `EXTERNAL`, `EXTERNAL_VPC`), an
/// active key version a month and 10,000 cryptographic operations.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KmsPrices {
    pub currency: String,
    /// The day the prices were read from `source`.
    pub as_of: String,
    pub source: String,
    pub key_version_per_month: BTreeMap<String, f64>,
    pub per_10k_operations: BTreeMap<String, f64>,
}

impl Default for KmsPrices {
    /// The shipped table, the same as `policies/cmek-gate-params.yaml`'s `spec.kmsPrices`.
    fn default() -> Self {
        let levels = |prices: [f64; 4]| {
            ["SOFTWARE", "HSM", "EXTERNAL", "EXTERNAL_VPC"]
                .into_iter()
                .map(str::to_owned)
                .zip(prices)
                .collect()
        };
        KmsPrices {
            currency: "USD".into(),
            as_of: "2026-12-04".into(),
            source: "https://cloud.google.com/kms/pricing (list prices of symmetric keys)".into(),
            key_version_per_month: levels([0.06, 1.00, 3.00, 3.00]),
            per_10k_operations: levels([0.03, 0.03, 0.03, 0.03]),
        }
    }
}

/// What the estimate assumes of a key.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyUsage {
    pub protection_level: String,
    pub active_versions: f64,
    pub operations_per_month: f64,
}

impl Default for KeyUsage {
    fn default() -> Self {
        KeyUsage {
            protection_level: "SOFTWARE".into(),
            active_versions: 1.0,
            operations_per_month: 0.0,
        }
    }
}

/// The params' `spec.kmsUsage`: a default for every key, and entries by key name.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KmsUsage {
    pub default: KeyUsage,
    pub keys: BTreeMap<String, KeyUsage>,
}

impl KmsUsage {
    pub fn of(&self, key: &str) -> &KeyUsage {
        self.keys.get(key).unwrap_or(&self.default)
    }
}

/// Reads `spec.kmsPrices` over the shipped table, field by field.
pub fn prices_from(spec: &Node) -> KmsPrices {
    let mut prices = KmsPrices::default();
    let Some(node) = spec.get("kmsPrices") else {
        return prices;
    };
    let text = |field: &str| {
        node.get(field)
            .and_then(Node::scalar_text)
            .map(str::to_owned)
    };
    if let Some(currency) = text("currency") {
        prices.currency = currency;
    }
    if let Some(as_of) = text("asOf") {
        prices.as_of = as_of;
    }
    if let Some(source) = text("source") {
        prices.source = source;
    }
    let table = |field: &str| -> Option<BTreeMap<String, f64>> {
        let entries = node.get(field)?.entries()?;
        Some(
            entries
                .iter()
                .filter_map(|entry| Some((entry.key.clone(), number(&entry.value)?)))
                .collect(),
        )
    };
    if let Some(t) = table("keyVersionPerMonth") {
        prices.key_version_per_month = t;
    }
    if let Some(t) = table("per10kOperations") {
        prices.per_10k_operations = t;
    }
    prices
}

/// Reads `spec.kmsUsage`: `default` over the built-in default, each of `keys` over `default`.
pub fn usage_from(spec: &Node) -> KmsUsage {
    let mut usage = KmsUsage::default();
    let Some(node) = spec.get("kmsUsage") else {
        return usage;
    };
    let read = |node: &Node, base: &KeyUsage| {
        let mut usage = base.clone();
        if let Some(level) = node.get("protectionLevel").and_then(Node::scalar_text) {
            usage.protection_level = level.to_owned();
        }
        if let Some(n) = node.get("activeVersions").and_then(number) {
            usage.active_versions = n;
        }
        if let Some(n) = node.get("operationsPerMonth").and_then(number) {
            usage.operations_per_month = n;
        }
        usage
    };
    if let Some(default) = node.get("default") {
        usage.default = read(default, &usage.default);
    }
    if let Some(keys) = node.get("keys").and_then(Node::entries) {
        for entry in keys {
            let key = read(&entry.value, &usage.default);
            usage.keys.insert(entry.key.clone(), key);
        }
    }
    usage
}

fn number(node: &Node) -> Option<f64> {
    node.scalar_text()?.trim().parse().ok()
}

/// The estimate of one key a month: its versions and its operations.
pub fn key_monthly_cost(prices: &KmsPrices, usage: &KeyUsage) -> Option<f64> {
    let version = prices.key_version_per_month.get(&usage.protection_level)?;
    let operations = prices
        .per_10k_operations
        .get(&usage.protection_level)
        .copied()
        .unwrap_or(0.0);
    Some(usage.active_versions * version + usage.operations_per_month / 10_000.0 * operations)
}

/// The scan's estimate: the table it used, the total, and the total by owner and project.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct CostEstimate {
    /// Always true: the figures are estimates (see the module's documentation).
    pub estimate: bool,
    pub currency: String,
    pub prices_as_of: String,
    pub prices_source: String,
    pub monthly_total: f64,
    pub monthly_by_owner: BTreeMap<String, f64>,
    pub monthly_by_project: BTreeMap<String, f64>,
    /// Keys whose protection level has no price in the table (not counted in the totals).
    pub unpriced_keys: Vec<String>,
}

/// Rounds to a hundredth of the currency's unit, for the report.
pub fn cents(amount: f64) -> f64 {
    (amount * 100.0).round() / 100.0
}
