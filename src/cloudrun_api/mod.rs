//! The Cloud Run Admin API as the gate sees it: which requests create or replace a resource, how
//! a v2 body maps onto the v1 shape the policies read, the region a request is for, and Google's
//! error format. Pure: the server's API-gate listener (`server::api_gate`) does the I/O.
//!
//! Requests are sorted by [`route::plan`] on their normalised form ([`path`]), with the region
//! from a strictly parsed `Host` header ([`host`]); writes are judged by [`judge_write`], which
//! calls the same engine as every other entry point.

pub mod host;
mod json;
pub mod path;
pub mod route;

pub use host::{is_region, region_from_host, upstream_for};
pub use route::{classify, plan, Plan, Refusal, RequestHead, Route, PASS_THROUGH};

use crate::engine::{self, Phases, Request};
use crate::manifest::{self, shape, Node};
use crate::policy::PolicySet;
use serde_json::{json, Value};

/// The API version of a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiVersion {
    /// `/apis/{group}/v1/namespaces/{ns}/{plural}[/{name}]`: the body is the v1 object.
    V1,
    /// `/v2/projects/{p}/locations/{l}/{plural}[/{name}]`: the body is the v2 REST resource.
    V2,
}

/// A request that creates or replaces a Cloud Run resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub version: ApiVersion,
    /// The v1 API group and kind the policies see (`serving.knative.dev` `Service`, ...).
    pub group: &'static str,
    pub kind: &'static str,
    /// The project (v2) or namespace (v1: the project ID or number).
    pub namespace: String,
    /// The region from the URL (v2, and v1's `/v1/projects/P/locations/L` form); v1's
    /// namespaced form takes it from the host (see [`region_from_host`]).
    pub location: Option<String>,
    /// The name from the URL (`PUT`/`PATCH`, or v2's `?serviceId=`), if any.
    pub name: Option<String>,
    /// CREATE for POST, UPDATE for PUT and PATCH.
    pub operation: &'static str,
}

/// Google's error body: `{"error": {"code", "status", "message"}}`, which gcloud prints as
/// `ERROR: (gcloud.run.services.replace) STATUS: message`.
pub fn google_error(code: u16, status: &str, message: &str) -> Value {
    json!({"error": {"code": code, "status": status, "message": message}})
}

/// What the gate does with a write.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Refused: the HTTP status, Google's error body, and the policies that denied (from the
    /// decision's violations; empty for a request that could not be read).
    Refuse {
        code: u16,
        body: Value,
        policies: Vec<String>,
    },
    /// Forwarded: the original body, or (with mutation) a changed one, and what was added.
    Forward {
        body: Option<Vec<u8>>,
        added: Vec<String>,
        /// The policies that warned.
        warnings: Vec<String>,
    },
}

/// Judges a write's body with the engine. `region` is the host's, for v1 bodies that do not
/// carry the location label (as `gcloud run deploy` sends them). With `mutate`, the mutating
/// policies run first and an allowed body is forwarded with what they added.
pub fn judge_write(
    set: &PolicySet,
    write: &Write,
    body: &[u8],
    region: Option<&str>,
    mutate: bool,
    live: Option<&crate::live::Live>,
) -> Verdict {
    let bad_request = |message: String| Verdict::Refuse {
        code: 400,
        body: google_error(400, "INVALID_ARGUMENT", &format!("cmek-gate: {message}")),
        policies: Vec::new(),
    };
    let Ok(original) = serde_json::from_slice::<Value>(body) else {
        return bad_request("the request body is not JSON".into());
    };
    if !original.is_object() {
        return bad_request("the request body is not a JSON object".into());
    }
    // Parsers differ on a repeated key (first or last wins): the upstream must read what was judged.
    if let Err(e) = json::check_no_duplicate_keys(body) {
        return bad_request(format!("the request body is ambiguous: {e}"));
    }
    let region = write.location.as_deref().or(region);
    if write.version == ApiVersion::V1 {
        let api_version = format!("{}/v1", write.group);
        if original["apiVersion"] != api_version.as_str() || original["kind"] != write.kind {
            return bad_request(format!(
                "the body is not a {api_version} {}, as the URL says",
                write.kind
            ));
        }
    }
    let view = match write.version {
        ApiVersion::V1 => v1_view(&original, region),
        ApiVersion::V2 => v2_to_v1(&original, write),
    };
    // The body is JSON already: the tree is built from it directly (no positions to keep).
    let document = match manifest::document_from_node(0, Node::from_json(&view)) {
        Ok(document) => document,
        Err(e) => return bad_request(format!("the resource cannot be read: {e}")),
    };
    let mut request = Request::create(&document);
    request.operation = write.operation.into();
    let phases = if mutate {
        Phases::ALL
    } else {
        Phases::VALIDATE
    };
    let decision = crate::live::admit(live, set, &request, phases);
    if !decision.allowed() {
        let summary = match write.version {
            ApiVersion::V1 => decision.violation_summary(),
            ApiVersion::V2 => v1_words_to_v2(&decision.violation_summary(), write),
        };
        let message = format!(
            "cmek-gate denied {} {}: {summary}",
            write.kind, document.name
        );
        let policies = decision
            .violations
            .iter()
            .map(|v| v.policy.clone())
            .collect();
        return Verdict::Refuse {
            code: 400,
            body: google_error(400, "FAILED_PRECONDITION", &message),
            policies,
        };
    }
    let warnings = decision
        .warnings
        .iter()
        .map(|w| format!("[{}] {}", w.policy, w.message))
        .collect();
    let (Some(patch), Some(mutated)) = (&decision.patch, &decision.mutated) else {
        return Verdict::Forward {
            body: None,
            added: Vec::new(),
            warnings,
        };
    };
    let added: Vec<String> = patch
        .0
        .iter()
        .map(|op| engine::mutate::field_path(op.path()))
        .collect();
    let changed = match write.version {
        ApiVersion::V1 => {
            let mut changed = original.clone();
            match json_patch::patch(&mut changed, &patch.0) {
                Ok(()) => changed,
                Err(e) => return bad_request(format!("the mutation does not apply: {e}")),
            }
        }
        ApiVersion::V2 => v1_changes_to_v2(&original, &mutated.to_json(), write),
    };
    Verdict::Forward {
        body: Some(serde_json::to_vec(&changed).expect("JSON serializes")),
        added,
        warnings,
    }
}

/// A policy message, worded for the v1 shape, in the v2 request's own words, through the shape
/// table: "the run.googleapis.com/encryption-key annotation in spec.template.metadata.annotations"
/// becomes `template.encryptionKey`, and `spec.template.metadata.annotations` becomes
/// `template.annotations`. An annotation key named on its own stays: it is one in v2 as well.
pub fn v1_words_to_v2(message: &str, write: &Write) -> String {
    let dotted = |path: &str| shape::path_segments(path).join(".");
    let mut rules: Vec<(String, String)> = Vec::new();
    for (field, v2_path) in v2_table(write) {
        let Some(v1) = shape::v1_path(field) else {
            continue;
        };
        let segments = shape::path_segments(v1);
        match segments.split_last() {
            Some((key, container)) if key.contains('/') => rules.push((
                format!("the {key} annotation in {}", container.join(".")),
                dotted(v2_path),
            )),
            _ => rules.push((segments.join("."), dotted(v2_path))),
        }
    }
    // The longest first: `spec.template.metadata.annotations` before `metadata.annotations`.
    rules.sort_by_key(|(from, _)| std::cmp::Reverse(from.len()));
    let part_of_a_name = |c: char| c.is_alphanumeric() || "._-/".contains(c);
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(c) = rest.chars().next() {
        let starts_a_name = !out.chars().next_back().is_some_and(part_of_a_name);
        let rule = rules.iter().find(|(from, _)| {
            rest.strip_prefix(from.as_str()).is_some_and(|after| {
                let mut next = after.chars();
                match next.next() {
                    None => true,
                    // A sentence's full stop ends the name; `.x` would continue it.
                    Some('.') => !next.next().is_some_and(part_of_a_name),
                    Some(c) => !part_of_a_name(c) && c != '[',
                }
            })
        });
        match rule {
            Some((from, to)) if starts_a_name => {
                out.push_str(to);
                rest = &rest[from.len()..];
            }
            _ => {
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    out
}

/// The v1 body as the policies see it: with the host's region as the location label when the
/// body has none.
fn v1_view(body: &Value, region: Option<&str>) -> Value {
    let mut view = body.clone();
    if let Some(region) = region {
        let segments = shape::path_segments(shape::v1_path("region").unwrap_or_default());
        if get_at(&view, &segments).is_none() {
            set_at(&mut view, &segments, json!(region));
        }
    }
    view
}

/// Maps a v2 body onto the v1 shape, field by field through the shape table: labels and
/// annotations at both levels, the key, the revocation fields, the region from the URL.
pub fn v2_to_v1(body: &Value, write: &Write) -> Value {
    let api_version = if write.group == "serving.knative.dev" {
        "serving.knative.dev/v1"
    } else {
        "run.googleapis.com/v1"
    };
    let name = write.name.clone().or_else(|| {
        body.get("name")
            .and_then(Value::as_str)
            .and_then(|n| n.rsplit('/').next())
            .map(str::to_owned)
    });
    let mut view = json!({
        "apiVersion": api_version,
        "kind": write.kind,
        "metadata": {"name": name.unwrap_or_default(), "namespace": write.namespace},
        "spec": {"template": {}},
    });
    for (field, v2_path) in v2_table(write) {
        let Some(value) = get_at(body, &shape::path_segments(v2_path)) else {
            continue;
        };
        let Some(v1) = shape::v1_path(field) else {
            continue;
        };
        let value = match *field {
            "revocationAction" => json!(revocation_v2_to_v1(value)),
            "shutdownHours" => json!(duration_to_hours(value)),
            _ => value.clone(),
        };
        merge_at(&mut view, &shape::path_segments(v1), value);
    }
    if let Some(location) = &write.location {
        let segments = shape::path_segments(shape::v1_path("region").unwrap_or_default());
        set_at(&mut view, &segments, json!(location));
    }
    view
}

/// Writes what the mutating policies added to the v1 view (the key, the revocation fields) into
/// the v2 body, where the body does not have them.
fn v1_changes_to_v2(body: &Value, mutated_view: &Value, write: &Write) -> Value {
    let mut changed = body.clone();
    for (field, v2_path) in v2_table(write) {
        if !matches!(*field, "key" | "revocationAction" | "shutdownHours") {
            continue;
        }
        let v2_segments = shape::path_segments(v2_path);
        if get_at(&changed, &v2_segments).is_some() {
            continue;
        }
        let Some(v1) = shape::v1_path(field) else {
            continue;
        };
        let Some(value) = get_at(mutated_view, &shape::path_segments(v1)) else {
            continue;
        };
        let value = match *field {
            "revocationAction" => json!(revocation_v1_to_v2(value)),
            "shutdownHours" => json!(format!(
                "{}s",
                value
                    .as_str()
                    .and_then(|h| h.parse::<u64>().ok())
                    .unwrap_or(0)
                    * 3600
            )),
            _ => value.clone(),
        };
        set_at(&mut changed, &v2_segments, value);
    }
    changed
}

fn v2_table(write: &Write) -> &'static [(&'static str, &'static str)] {
    if write.kind == "Job" {
        shape::V2_JOB
    } else {
        shape::V2_SERVICE
    }
}

/// `PREVENT_NEW` / `SHUTDOWN` as the v1 annotation writes them; anything else as given (the
/// policies then say it is not a valid action).
fn revocation_v2_to_v1(value: &Value) -> String {
    match value.as_str() {
        Some("PREVENT_NEW") => "prevent-new".into(),
        Some("SHUTDOWN") => "shut-down".into(),
        Some(other) => other.to_owned(),
        None => value.to_string(),
    }
}

fn revocation_v1_to_v2(value: &Value) -> String {
    match value.as_str() {
        Some("prevent-new") => "PREVENT_NEW".into(),
        Some("shut-down") => "SHUTDOWN".into(),
        Some(other) => other.to_owned(),
        None => value.to_string(),
    }
}

/// A v2 duration (`"7200s"`) as the v1 annotation's whole hours (`"2"`); a duration that is not
/// whole hours is kept as written, so the policies report it.
fn duration_to_hours(value: &Value) -> String {
    let text = value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned);
    text.strip_suffix('s')
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|seconds| seconds % 3600 == 0)
        .map_or(text.clone(), |seconds| (seconds / 3600).to_string())
}

fn get_at<'v>(value: &'v Value, segments: &[String]) -> Option<&'v Value> {
    segments
        .iter()
        .try_fold(value, |v, key| v.get(key.as_str()))
        .filter(|v| !v.is_null())
}

fn set_at(value: &mut Value, segments: &[String], new: Value) {
    let Some((last, parents)) = segments.split_last() else {
        return;
    };
    let mut at = value;
    for key in parents {
        if !at.get(key.as_str()).is_some_and(Value::is_object) {
            at[key.as_str()] = json!({});
        }
        at = &mut at[key.as_str()];
    }
    if at.is_object() {
        at[last.as_str()] = new;
    }
}

/// Sets a value, merging maps into a map already there (labels into labels).
fn merge_at(value: &mut Value, segments: &[String], new: Value) {
    match (get_at(value, segments).and_then(Value::as_object), new) {
        (Some(existing), Value::Object(map)) => {
            let mut merged = existing.clone();
            merged.extend(map);
            set_at(value, segments, Value::Object(merged));
        }
        (_, new) => set_at(value, segments, new),
    }
}

#[cfg(test)]
mod tests;
