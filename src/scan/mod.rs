//! Auditing what is deployed (or committed): the CMEK compliance of Cloud Run resources, with the
//! KPIs the governance playbook asks for. Pure: takes the documents and the report of a check.
//!
//! The policies decide, not this module: a resource is **sensitive** when a policy marked
//! `cmek-gate.dev/scan-role: sensitivity` holds it so (see [`crate::policy::Sensitivity`]: the
//! policy applies to it and its `sensitive` variable, if it has one, is true), and **compliant**
//! when it is sensitive and no policy denies it. The **compliance rate** is compliant /
//! sensitive (100% when nothing is sensitive). Classification and owner are descriptive, read
//! from the labels the params name. Keys are inventoried for cost showback.
use crate::manifest::{shape, Document, Node};
use crate::policy::PolicySet;
use crate::report::{DocumentResult, Report};
pub mod cai;
pub mod cost;
pub mod history;
mod html;
pub mod listing;
mod prometheus;
mod render;
mod tally;

pub use html::to_html;
pub use prometheus::to_prometheus;
pub use render::{to_csv, to_markdown, to_table, write_csv};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
pub use tally::{listed, List, Listed, Tallies};

/// How resources are described (classification, ownership) and keys priced: from the policy
/// set's `CmekGateParams` named `default`, else the library's defaults. Sensitivity is not here:
/// the policies decide it.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanSettings {
    pub classification_label: String,
    pub owner_labels: Vec<String>,
    /// The KMS price table and usage the cost estimate uses (see [`cost`]).
    pub kms_prices: cost::KmsPrices,
    pub kms_usage: cost::KmsUsage,
}

impl Default for ScanSettings {
    fn default() -> Self {
        let own = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        ScanSettings {
            classification_label: "data-classification".into(),
            owner_labels: own(&["owner", "team"]),
            kms_prices: cost::KmsPrices::default(),
            kms_usage: cost::KmsUsage::default(),
        }
    }
}

impl ScanSettings {
    /// The settings of the set's `CmekGateParams` `default`, field by field over the defaults;
    /// an error when its KMS price table or usage cannot be read.
    pub fn from_policy_set(set: &PolicySet) -> Result<ScanSettings, cost::CostError> {
        let mut settings = ScanSettings::default();
        let Some(spec) = set
            .params
            .iter()
            .find(|p| p.kind == "CmekGateParams" && p.name == "default")
            .and_then(|p| p.root.get("spec"))
        else {
            return Ok(settings);
        };
        let strings = |node: &Node| -> Vec<String> {
            node.items()
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|i| i.scalar_text().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        if let Some(label) = spec.get("classificationLabel").and_then(Node::scalar_text) {
            settings.classification_label = label.to_owned();
        }
        if let Some(owners) = spec.get("ownerLabels") {
            settings.owner_labels = strings(owners);
        }
        settings.kms_prices = cost::prices_from(spec)?;
        settings.kms_usage = cost::usage_from(spec)?;
        Ok(settings)
    }
}

/// One Cloud Run resource as the scan sees it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    pub file: String,
    pub document: usize,
    pub line: u32,
    pub kind: String,
    pub name: String,
    /// The project (ID or number): `metadata.namespace` for Cloud Run, the
    /// `cnrm.cloud.google.com/project-id` annotation (else the namespace) for Config Connector.
    pub project: String,
    pub region: String,
    pub classification: String,
    pub owner: String,
    pub sensitive: bool,
    /// The key name, `ref:NAME` for a Config Connector reference, or empty.
    pub key: String,
    pub compliant: bool,
    /// The policies that deny it.
    pub failing: Vec<String>,
    /// What the denying policies say, in their order (each message names what to change).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<String>,
    /// Why a binding could not be decided for it (an undecided resource is not compliant).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub undecided: Vec<String>,
}

/// Counts for one group of resources. With nothing sensitive (no resources at all included) the
/// rate is 100%: no sensitive resource lacks a key.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Tally {
    pub resources: usize,
    pub sensitive: usize,
    pub compliant: usize,
    /// compliant / sensitive, in percent (100 when nothing is sensitive).
    pub compliance_percent: f64,
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            resources: 0,
            sensitive: 0,
            compliant: 0,
            compliance_percent: percent(0, 0),
        }
    }
}

impl Tally {
    fn add(&mut self, resource: &Resource) {
        self.resources += 1;
        self.sensitive += resource.sensitive as usize;
        self.compliant += resource.compliant as usize;
        self.compliance_percent = percent(self.compliant, self.sensitive);
    }
}

fn percent(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        100.0
    } else {
        (part as f64 * 10_000.0 / whole as f64).round() / 100.0
    }
}

/// A key in use, for cost showback.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct KeyUse {
    pub key: String,
    pub services: usize,
    pub jobs: usize,
    pub owners: BTreeSet<String>,
    pub projects: BTreeSet<String>,
    /// What the cost estimate assumed of the key (the params' `spec.kmsUsage`).
    pub usage: cost::KeyUsage,
    /// The estimated cost a month (`None`: the protection level has no price in the table).
    pub estimated_monthly_cost: Option<f64>,
    /// How many resources of each owner and project use the key, to share its cost out.
    #[serde(skip)]
    uses: BTreeMap<(String, String), usize>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Scan {
    /// Inputs that hold an empty list (`[]`, a `List` without items): read, with no resources.
    pub empty_lists: Vec<String>,
    pub total: Tally,
    pub by_project: BTreeMap<String, Tally>,
    pub by_region: BTreeMap<String, Tally>,
    pub by_classification: BTreeMap<String, Tally>,
    pub by_owner: BTreeMap<String, Tally>,
    /// Resources denied by a policy, or sensitive without a key.
    pub non_compliant: Vec<Resource>,
    pub keys: Vec<KeyUse>,
    /// The keys' estimated KMS cost (see [`cost`]).
    pub kms_cost: cost::CostEstimate,
    /// Resources that carry a key but are not sensitive (CMEK over-applied: cost and risk).
    pub keys_not_needed: Vec<Resource>,
    pub resources: Vec<Resource>,
    /// Live checks (`scan --live`): resources whose key does not work (missing, its primary
    /// version not ENABLED, the wrong purpose), with the live policy's message.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub key_not_usable: Vec<LiveProblem>,
    /// Live checks: resources whose project's Cloud Run service agent may not use the key.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub agent_without_role: Vec<LiveProblem>,
    /// Inputs that could not be read.
    pub errors: Vec<crate::report::InputError>,
    /// With `--history`: the changes since the last run, what is open and for how long, MTTR.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<history::HistoryReport>,
}

/// What a live policy found wrong with a resource's key.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LiveProblem {
    pub resource: Resource,
    /// The policy's messages, `; `-joined.
    pub message: String,
}

/// The live policy whose violations say the key does not work.
pub const KEY_USABLE_POLICY: &str = "cmek-key-usable";
/// The live policy whose violations say the service agent lacks the role.
pub const KEY_IAM_POLICY: &str = "cmek-key-iam";

const UNSET: &str = "(none)";

/// The most text, less comment lines, that [`is_empty_list`] parses: an empty `kind: List` as
/// `kubectl get -o yaml` prints it is about 80 bytes.
const EMPTY_LIST_MAX_BYTES: usize = 64 * 1024;

/// Whether a text is an empty list: `[]` (what `gcloud … list --format json` prints for a
/// project with nothing in it) or a `kind: List` whose `items` are empty or null, and nothing
/// else. Such an input is read and has no resources; a text with no document at all (empty,
/// blank, only comments) is not an empty list: the command that made it most likely failed.
pub fn is_empty_list(bytes: &[u8], limits: &crate::manifest::ReadLimits) -> bool {
    // An empty list is short once comments are left out: a long text is not one, and is not
    // parsed here (the check parses it).
    let significant: usize = bytes
        .split(|&b| b == b'\n')
        .filter(|line| line.trim_ascii_start().first() != Some(&b'#'))
        .map(|line| line.len() + 1)
        .sum();
    if significant > EMPTY_LIST_MAX_BYTES {
        return false;
    }
    let Ok(text) = crate::manifest::decode(bytes, limits) else {
        return false;
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let Ok(parsed) = crate::manifest::parse_part(text, limits, crate::manifest::Part::default())
    else {
        return false;
    };
    if !parsed.documents.is_empty() {
        return false;
    }
    // No objects: an empty list when some document is `[]` or an empty `List`, not just comments.
    crate::manifest::yaml::parse_stream(text, &limits.yaml)
        .map(|streams| {
            streams.iter().any(|doc| {
                doc.root.as_ref().is_some_and(|root| {
                    root.items().is_some_and(|items| items.is_empty())
                        || root.get("kind").and_then(Node::scalar_text) == Some("List")
                })
            })
        })
        .unwrap_or(false)
}

/// Builds the scan from a check's report and what [`describe`] made of each of its documents
/// (the same order), every list in memory (see [`Tallies`] for a scan that does not hold them).
pub fn scan(settings: &ScanSettings, described: Vec<Option<Resource>>, report: &Report) -> Scan {
    let mut tallies = Tallies::default();
    let mut lists = Scan::default();
    for (resource, result) in described.into_iter().zip(&report.results) {
        let Some(resource) = resource else {
            continue;
        };
        let listed = listed(resource, result);
        tallies.add(&listed);
        lists.push(listed);
    }
    let mut scan = tallies.finish(settings);
    scan.errors = report.errors.clone();
    scan.non_compliant = lists.non_compliant;
    scan.keys_not_needed = lists.keys_not_needed;
    scan.resources = lists.resources;
    scan.key_not_usable = lists.key_not_usable;
    scan.agent_without_role = lists.agent_without_role;
    scan
}

/// What a document is to the scan: `None` when it is not a Cloud Run resource, else its facts
/// (the verdict's fields, `sensitive` among them, are filled in by [`judged`]). Kept instead of the document, so that a
/// scan's memory does not hold every document.
pub fn describe(settings: &ScanSettings, document: &Document) -> Option<Resource> {
    let (group, kind) = (document.group(), document.kind.as_str());
    if !shape::is_cloud_run_shape(group, kind) {
        return None;
    }
    let root = &document.root;
    let labels_at = |field: &str| -> BTreeMap<String, String> {
        shape::field(root, group, kind, field)
            .map(Node::string_map)
            .unwrap_or_default()
    };
    let levels = [labels_at("labels"), labels_at("templateLabels")];
    let label = |key: &str| -> Option<String> {
        levels
            .iter()
            .find_map(|l| l.get(key).filter(|v| !v.is_empty()).cloned())
    };
    let key = match shape::field(root, group, kind, "key") {
        Some(node) if node.entries().is_some() => match (node.get("external"), node.get("name")) {
            (Some(external), _) if external.scalar_text().is_some_and(|t| !t.is_empty()) => {
                external.scalar_text().unwrap_or_default().to_owned()
            }
            (_, Some(name)) if name.scalar_text().is_some_and(|t| !t.is_empty()) => {
                format!("ref:{}", name.scalar_text().unwrap_or_default())
            }
            _ => String::new(),
        },
        Some(node) => node.scalar_text().unwrap_or_default().trim().to_owned(),
        None => String::new(),
    };
    let project = root
        .get("metadata")
        .and_then(|m| m.get("annotations"))
        .and_then(|a| a.get("cnrm.cloud.google.com/project-id"))
        .and_then(Node::scalar_text)
        .map(str::to_owned)
        .unwrap_or_else(|| document.namespace.clone());
    let or_unset = |v: Option<String>| {
        v.filter(|v| !v.is_empty())
            .unwrap_or_else(|| UNSET.to_owned())
    };
    Some(Resource {
        file: String::new(),
        document: 0,
        line: document.line,
        kind: document.kind.clone(),
        name: document.name.clone(),
        project: or_unset(Some(project)),
        region: or_unset(
            shape::field(root, group, kind, "region")
                .and_then(Node::scalar_text)
                .map(str::to_owned),
        ),
        classification: or_unset(
            label(&settings.classification_label).map(|c| c.to_ascii_lowercase()),
        ),
        owner: or_unset(settings.owner_labels.iter().find_map(|o| label(o))),
        sensitive: false,
        compliant: false,
        key,
        failing: Vec::new(),
        messages: Vec::new(),
        undecided: Vec::new(),
    })
}

/// A resource [`describe`]d, with its check's verdict: sensitive when a policy marked for
/// sensitivity holds it so, compliant when it is sensitive and nothing denies it (no violation,
/// no undecided binding).
pub fn judged(mut resource: Resource, result: &DocumentResult) -> Resource {
    let mut failing: Vec<String> = result.violations.iter().map(|v| v.policy.clone()).collect();
    failing.dedup();
    resource.file.clone_from(&result.file);
    resource.document = result.document;
    resource.line = result.line;
    resource.sensitive = !result.sensitive_by.is_empty();
    resource.compliant =
        resource.sensitive && result.violations.is_empty() && result.undecided.is_empty();
    resource.failing = failing;
    resource.messages = result
        .violations
        .iter()
        .map(|v| format!("{}: {}", v.policy, v.message))
        .collect();
    resource.messages.dedup();
    resource.undecided = result
        .undecided
        .iter()
        .map(|u| format!("{}: {}", u.policy, u.message))
        .collect();
    resource
}

#[cfg(test)]
mod tests;
