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

/// A price table or usage in the params that cannot be read: the field, and what is wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("spec.{field}: {problem}")]
pub struct CostError {
    pub field: String,
    pub problem: String,
}

fn error(field: String, problem: &str) -> CostError {
    CostError {
        field,
        problem: problem.to_owned(),
    }
}

/// A mapping's entries, or an error when the node is something else.
fn entries<'n>(node: &'n Node, field: &str) -> Result<&'n [crate::manifest::Entry], CostError> {
    node.entries()
        .ok_or_else(|| error(field.to_owned(), "must be a mapping"))
}

/// A field's text, or an error when it is not a scalar.
fn text(node: &Node, field: String) -> Result<String, CostError> {
    node.scalar_text()
        .map(str::to_owned)
        .ok_or_else(|| error(field, "must be a string"))
}

/// A field's number (zero or more), or an error naming it.
fn number(node: &Node, field: String) -> Result<f64, CostError> {
    match node
        .scalar_text()
        .and_then(|t| t.trim().parse::<f64>().ok())
    {
        Some(n) if n.is_finite() && n >= 0.0 => Ok(n),
        _ => Err(error(field, "must be a number, zero or more")),
    }
}

/// Reads `spec.kmsPrices` over the shipped table, field by field. A field the table does not
/// have, or a value of the wrong kind, is an error: a price table misread would give wrong
/// figures that look right.
pub fn prices_from(spec: &Node) -> Result<KmsPrices, CostError> {
    let mut prices = KmsPrices::default();
    let Some(node) = spec.get("kmsPrices") else {
        return Ok(prices);
    };
    for entry in entries(node, "kmsPrices")? {
        let field = format!("kmsPrices.{}", entry.key);
        match entry.key.as_str() {
            "currency" => prices.currency = text(&entry.value, field)?,
            "asOf" => prices.as_of = text(&entry.value, field)?,
            "source" => prices.source = text(&entry.value, field)?,
            "keyVersionPerMonth" | "per10kOperations" => {
                let mut table = BTreeMap::new();
                for price in entries(&entry.value, &field)? {
                    let level = format!("{field}.{}", price.key);
                    table.insert(price.key.clone(), number(&price.value, level)?);
                }
                if entry.key == "keyVersionPerMonth" {
                    prices.key_version_per_month = table;
                } else {
                    prices.per_10k_operations = table;
                }
            }
            _ => return Err(error(field, "is not a field of kmsPrices")),
        }
    }
    Ok(prices)
}

/// Reads `spec.kmsUsage`: `default` over the built-in default, each of `keys` over `default`.
/// As for the prices, what cannot be read is an error naming the field.
pub fn usage_from(spec: &Node) -> Result<KmsUsage, CostError> {
    let mut usage = KmsUsage::default();
    let Some(node) = spec.get("kmsUsage") else {
        return Ok(usage);
    };
    let read = |node: &Node, base: &KeyUsage, at: &str| -> Result<KeyUsage, CostError> {
        let mut usage = base.clone();
        for entry in entries(node, at)? {
            let field = format!("{at}.{}", entry.key);
            match entry.key.as_str() {
                "protectionLevel" => usage.protection_level = text(&entry.value, field)?,
                "activeVersions" => usage.active_versions = number(&entry.value, field)?,
                "operationsPerMonth" => usage.operations_per_month = number(&entry.value, field)?,
                _ => return Err(error(field, "is not a field of a key's usage")),
            }
        }
        Ok(usage)
    };
    for entry in entries(node, "kmsUsage")? {
        match entry.key.as_str() {
            "default" => usage.default = read(&entry.value, &usage.default, "kmsUsage.default")?,
            "keys" => {}
            _ => {
                let field = format!("kmsUsage.{}", entry.key);
                return Err(error(field, "is not a field of kmsUsage"));
            }
        }
    }
    // The keys over the default, wherever `default` stands.
    if let Some(keys) = node.get("keys") {
        for entry in entries(keys, "kmsUsage.keys")? {
            let at = format!("kmsUsage.keys[{}]", entry.key);
            let key = read(&entry.value, &usage.default, &at)?;
            usage.keys.insert(entry.key.clone(), key);
        }
    }
    Ok(usage)
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
