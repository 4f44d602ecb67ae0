//! A scan's counts kept as resources come ([`Tallies`]: by group and key, not by resource), and
//! where each resource is listed ([`Listed`], [`List`]). Pure.

use super::{cost, judged, KeyUse, LiveProblem, Resource, Scan, ScanSettings};
use super::{KEY_IAM_POLICY, KEY_USABLE_POLICY};
use crate::report::DocumentResult;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One judged resource as the scan lists it: the resource, and what each live policy said of it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Listed {
    pub resource: Resource,
    /// The messages of [`KEY_USABLE_POLICY`], `; `-joined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_not_usable: Option<String>,
    /// The messages of [`KEY_IAM_POLICY`], `; `-joined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_without_role: Option<String>,
}

impl Listed {
    /// Denied by a policy, or sensitive and not compliant: in [`Scan::non_compliant`].
    pub fn non_compliant(&self) -> bool {
        let r = &self.resource;
        !r.failing.is_empty() || (r.sensitive && !r.compliant)
    }

    /// A key on a resource that is not sensitive: in [`Scan::keys_not_needed`].
    pub fn key_not_needed(&self) -> bool {
        !self.resource.key.is_empty() && !self.resource.sensitive
    }

    /// Whether the resource is in `list`, and the live policy's message for the live lists.
    pub fn in_list(&self, list: List) -> Option<Option<&str>> {
        match list {
            List::NonCompliant => self.non_compliant().then_some(None),
            List::KeysNotNeeded => self.key_not_needed().then_some(None),
            List::Resources => Some(None),
            List::KeyNotUsable => self.key_not_usable.as_deref().map(Some),
            List::AgentWithoutRole => self.agent_without_role.as_deref().map(Some),
        }
    }
}

/// A resource [`describe`]d, with its check's verdict (see [`judged`]) and what the live policies
/// said of it.
pub fn listed(resource: Resource, result: &DocumentResult) -> Listed {
    let message = |policy: &str| {
        let messages: Vec<&str> = result
            .violations
            .iter()
            .filter(|v| v.policy == policy)
            .map(|v| v.message.as_str())
            .collect();
        (!messages.is_empty()).then(|| messages.join("; "))
    };
    Listed {
        key_not_usable: message(KEY_USABLE_POLICY),
        agent_without_role: message(KEY_IAM_POLICY),
        resource: judged(resource, result),
    }
}

/// The per-resource lists of a [`Scan`], in the order its JSON has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum List {
    NonCompliant,
    KeysNotNeeded,
    Resources,
    KeyNotUsable,
    AgentWithoutRole,
}

impl List {
    pub const ALL: [List; 5] = [
        List::NonCompliant,
        List::KeysNotNeeded,
        List::Resources,
        List::KeyNotUsable,
        List::AgentWithoutRole,
    ];
}

impl Scan {
    /// Adds a resource to the lists it belongs in (not to the counts: see [`Tallies`]).
    pub fn push(&mut self, listed: Listed) {
        if listed.non_compliant() {
            self.non_compliant.push(listed.resource.clone());
        }
        for (message, list) in [
            (&listed.key_not_usable, &mut self.key_not_usable),
            (&listed.agent_without_role, &mut self.agent_without_role),
        ] {
            if let Some(message) = message {
                list.push(LiveProblem {
                    resource: listed.resource.clone(),
                    message: message.clone(),
                });
            }
        }
        if listed.key_not_needed() {
            self.keys_not_needed.push(listed.resource.clone());
        }
        self.resources.push(listed.resource);
    }
}

/// The counts of a scan, kept as resources come: its memory grows with the number of projects,
/// regions, classifications, owners and keys, not of resources. The lists are the caller's to
/// keep ([`Scan::push`]) or to write out as they come.
#[derive(Debug, Default)]
pub struct Tallies {
    scan: Scan,
    keys: BTreeMap<String, KeyUse>,
    /// How many resources each list has.
    pub list_lengths: [usize; 5],
}

impl Tallies {
    /// Counts one resource.
    pub fn add(&mut self, listed: &Listed) {
        for (k, list) in List::ALL.into_iter().enumerate() {
            self.list_lengths[k] += listed.in_list(list).is_some() as usize;
        }
        let resource = &listed.resource;
        let scan = &mut self.scan;
        scan.total.add(resource);
        for (map, value) in [
            (&mut scan.by_project, &resource.project),
            (&mut scan.by_region, &resource.region),
            (&mut scan.by_classification, &resource.classification),
            (&mut scan.by_owner, &resource.owner),
        ] {
            match map.get_mut(value) {
                Some(tally) => tally.add(resource),
                None => map.entry(value.clone()).or_default().add(resource),
            }
        }
        if resource.key.is_empty() {
            return;
        }
        if !self.keys.contains_key(&resource.key) {
            let key = KeyUse {
                key: resource.key.clone(),
                ..KeyUse::default()
            };
            self.keys.insert(resource.key.clone(), key);
        }
        let Some(entry) = self.keys.get_mut(&resource.key) else {
            return;
        };
        if resource.kind.ends_with("Job") {
            entry.jobs += 1;
        } else {
            entry.services += 1;
        }
        if !entry.owners.contains(&resource.owner) {
            entry.owners.insert(resource.owner.clone());
        }
        if !entry.projects.contains(&resource.project) {
            entry.projects.insert(resource.project.clone());
        }
        let uses = (resource.owner.clone(), resource.project.clone());
        *entry.uses.entry(uses).or_default() += 1;
    }

    /// The scan's counts, keys and cost estimate; its lists empty.
    pub fn finish(self, settings: &ScanSettings) -> Scan {
        let mut scan = self.scan;
        scan.keys = self.keys.into_values().collect();
        scan.kms_cost = estimate_costs(settings, &mut scan.keys);
        scan
    }

    /// How many resources `list` has.
    pub fn list_length(&self, list: List) -> usize {
        self.list_lengths[List::ALL.iter().position(|l| *l == list).unwrap_or(0)]
    }
}

/// Prices every key in use and shares each key's cost equally among the resources using it.
pub(super) fn estimate_costs(settings: &ScanSettings, keys: &mut [KeyUse]) -> cost::CostEstimate {
    let prices = &settings.kms_prices;
    let mut estimate = cost::CostEstimate {
        estimate: true,
        currency: prices.currency.clone(),
        prices_as_of: prices.as_of.clone(),
        prices_source: prices.source.clone(),
        ..Default::default()
    };
    let mut total = 0.0;
    for key in keys.iter_mut() {
        key.usage = settings.kms_usage.of(&key.key).clone();
        let Some(monthly) = cost::key_monthly_cost(prices, &key.usage) else {
            estimate.unpriced_keys.push(key.key.clone());
            continue;
        };
        key.estimated_monthly_cost = Some(cost::cents(monthly));
        total += monthly;
        let share = monthly / key.uses.values().sum::<usize>().max(1) as f64;
        for ((owner, project), uses) in &key.uses {
            let amount = share * *uses as f64;
            *estimate.monthly_by_owner.entry(owner.clone()).or_default() += amount;
            *estimate
                .monthly_by_project
                .entry(project.clone())
                .or_default() += amount;
        }
    }
    estimate.monthly_total = cost::cents(total);
    for amount in estimate
        .monthly_by_owner
        .values_mut()
        .chain(estimate.monthly_by_project.values_mut())
    {
        *amount = cost::cents(*amount);
    }
    estimate
}
