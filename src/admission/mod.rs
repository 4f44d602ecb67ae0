//! AdmissionReview `admission.k8s.io/v1` in, AdmissionReview out. Pure: the server hands the
//! parsed body here and writes back what it returns.
//!
//! The response keeps the request's `uid`. A denial carries `status.code` 403, a message naming
//! every violated policy, and the first violation's reason; Warn actions become `warnings` and
//! Audit actions `auditAnnotations` (keyed without `/`, see [`webhook_audit_key`]). DELETE and CONNECT are allowed without evaluation (there is
//! no object to check). The webhook has no view of the cluster: `namespaceObject` is set only
//! when the object is itself a Namespace.

use crate::engine::{Decision, Phases, Request};
use crate::manifest::{shape, Node};
use crate::namespaces::KnownNamespaces;
use crate::policy::PolicySet;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const API_VERSION: &str = "admission.k8s.io/v1";

/// Why a body is not a usable AdmissionReview.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReviewError {
    #[error("the body is not an AdmissionReview: {0}")]
    NotAReview(String),
    #[error("unsupported AdmissionReview apiVersion {0:?}: only admission.k8s.io/v1 is served")]
    Version(String),
    #[error("the AdmissionReview has no request")]
    NoRequest,
}

#[derive(Debug, Clone, Deserialize, Serialize, Default, PartialEq)]
pub struct GroupVersionKind {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub kind: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, Default, PartialEq)]
pub struct GroupVersionResource {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub resource: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, Default, PartialEq)]
pub struct UserInfo {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub uid: String,
    #[serde(default)]
    pub groups: Vec<String>,
}

/// The request part of an AdmissionReview, as the API server sends it.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionRequest {
    pub uid: String,
    pub kind: GroupVersionKind,
    pub resource: GroupVersionResource,
    #[serde(default)]
    pub sub_resource: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
    pub operation: String,
    #[serde(default)]
    pub user_info: UserInfo,
    #[serde(default)]
    pub object: Option<serde_json::Value>,
    #[serde(default)]
    pub old_object: Option<serde_json::Value>,
    #[serde(default)]
    pub dry_run: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AdmissionReviewIn {
    api_version: String,
    kind: String,
    request: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Status {
    pub code: u16,
    pub message: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionResponse {
    pub uid: String,
    pub allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub audit_annotations: BTreeMap<String, String>,
    /// `JSONPatch` when `patch` is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch_type: Option<&'static str>,
    /// The RFC 6902 patch of the object, base64-encoded (a mutating webhook's answer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionReviewOut {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub response: AdmissionResponse,
}

/// The answer to one review, with what the server logs and counts.
#[derive(Debug, Clone)]
pub struct Reviewed {
    pub review: AdmissionReviewOut,
    /// `None` when nothing was evaluated (DELETE, CONNECT).
    pub decision: Option<Decision>,
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

/// Parses a body as an AdmissionReview v1 with a request.
pub fn parse_review(body: &[u8]) -> Result<AdmissionRequest, ReviewError> {
    let review: AdmissionReviewIn =
        serde_json::from_slice(body).map_err(|e| ReviewError::NotAReview(e.to_string()))?;
    if review.kind != "AdmissionReview" {
        return Err(ReviewError::NotAReview(format!(
            "kind is {:?}",
            review.kind
        )));
    }
    if review.api_version != API_VERSION {
        return Err(ReviewError::Version(review.api_version));
    }
    let request = review.request.ok_or(ReviewError::NoRequest)?;
    serde_json::from_value(request).map_err(|e| ReviewError::NotAReview(format!("request: {e}")))
}

/// Evaluates a review's request with the validating policies (`/validate`) and builds the
/// response.
pub fn review(set: &PolicySet, request: &AdmissionRequest) -> Reviewed {
    review_with(set, request, Phases::VALIDATE)
}

/// Evaluates a review's request in the given phases and builds the response: `/mutate` runs the
/// mutation phase and answers with the patch (the smallest one, only what was changed), leaving
/// judgement to `/validate`, which the API server calls with the mutated object.
pub fn review_with(set: &PolicySet, request: &AdmissionRequest, phases: Phases) -> Reviewed {
    review_knowing(set, request, phases, &KnownNamespaces::default())
}

/// [`review_with`], with the namespace labels the server was given: the AdmissionReview carries
/// none, so a namespace selector of a binding is decided by `namespaces` (labels given for the
/// object's namespace, else its `unknown` rule: by default undecided, which denies).
pub fn review_knowing(
    set: &PolicySet,
    request: &AdmissionRequest,
    phases: Phases,
    namespaces: &KnownNamespaces,
) -> Reviewed {
    review_live(set, request, phases, namespaces, None)
}

/// [`review_knowing`], in live mode when `live` is given (the `kms` extension answered from
/// Google; this blocks on Google's answers: call it off the async workers).
pub fn review_live(
    set: &PolicySet,
    request: &AdmissionRequest,
    phases: Phases,
    namespaces: &KnownNamespaces,
    live: Option<&crate::live::Live>,
) -> Reviewed {
    let object = request
        .object
        .as_ref()
        .filter(|o| !o.is_null())
        .map(Node::from_json);
    let old_object = request
        .old_object
        .as_ref()
        .filter(|o| !o.is_null())
        .map(Node::from_json);
    let name = request
        .name
        .clone()
        .filter(|n| !n.is_empty())
        .or_else(|| {
            object.as_ref().and_then(|o| {
                o.get("metadata")?
                    .get("name")?
                    .scalar_text()
                    .map(str::to_owned)
            })
        })
        .unwrap_or_default();
    let namespace = request.namespace.clone().unwrap_or_default();
    let mut reviewed = Reviewed {
        review: AdmissionReviewOut {
            api_version: API_VERSION,
            kind: "AdmissionReview",
            response: AdmissionResponse {
                uid: request.uid.clone(),
                allowed: true,
                status: None,
                warnings: Vec::new(),
                audit_annotations: BTreeMap::new(),
                patch_type: None,
                patch: None,
            },
        },
        decision: None,
        kind: request.kind.kind.clone(),
        namespace: namespace.clone(),
        name: name.clone(),
    };
    if matches!(request.operation.as_str(), "DELETE" | "CONNECT") {
        return reviewed;
    }
    let is_namespace = request.kind.group.is_empty() && request.kind.kind == "Namespace";
    let resource = if request.resource.resource.is_empty() {
        shape::resource_for(&request.kind.group, &request.kind.kind)
    } else {
        request.resource.resource.clone()
    };
    let namespace_object = if is_namespace {
        object.as_ref()
    } else {
        namespaces.object(&namespace)
    };
    let engine_request = Request {
        object: object.as_ref(),
        old_object: old_object.as_ref(),
        group: request.kind.group.clone(),
        version: request.kind.version.clone(),
        kind: request.kind.kind.clone(),
        resource,
        name,
        namespace,
        operation: request.operation.clone(),
        namespace_object,
        username: request.user_info.username.clone(),
        groups: request.user_info.groups.clone(),
        dry_run: request.dry_run.unwrap_or(false),
        uid: request.uid.clone(),
        unknown_namespaces: namespaces.unknown,
        live: None,
    };
    let decision = crate::live::admit(live, set, &engine_request, phases);
    let response = &mut reviewed.review.response;
    if let Some(patch) = decision.patch.as_ref().filter(|_| decision.allowed()) {
        use base64::Engine as _;
        let json = serde_json::to_vec(patch).expect("a patch serializes");
        response.patch_type = Some("JSONPatch");
        response.patch = Some(base64::engine::general_purpose::STANDARD.encode(json));
    }
    response.allowed = decision.allowed();
    response.warnings = decision
        .warnings
        .iter()
        .map(|w| format!("[{}] {}", w.policy, w.message))
        .collect();
    response.audit_annotations = decision
        .audit_annotations
        .iter()
        .map(|(key, value)| (webhook_audit_key(key), value.clone()))
        .collect();
    if !decision.allowed() {
        let subject = match (reviewed.namespace.is_empty(), reviewed.name.is_empty()) {
            (_, true) => reviewed.kind.clone(),
            (true, false) => format!("{} {}", reviewed.kind, reviewed.name),
            (false, false) => format!("{} {}/{}", reviewed.kind, reviewed.namespace, reviewed.name),
        };
        response.status = Some(Status {
            code: 403,
            message: format!(
                "cmek-gate denied {subject}: {}",
                decision.violation_summary()
            ),
            reason: decision
                .violations
                .first()
                .map_or_else(|| "Forbidden".to_owned(), |v| v.reason.clone()),
        });
    }
    reviewed.decision = Some(decision);
    reviewed
}

#[cfg(test)]
mod tests;

/// The key of an audit annotation in a webhook's answer. The API server records it as
/// `<webhook name>/<key>` and drops it (with only a log line) unless that is a qualified name, so
/// the key may not hold a `/`: the engine's `policy/key` (as an in-process
/// ValidatingAdmissionPolicy records it) becomes `policy.key`, and
/// `validation.policy.admission.k8s.io/validation_failure` becomes `validation_failure`.
pub fn webhook_audit_key(key: &str) -> String {
    match key.split_once('/') {
        Some(("validation.policy.admission.k8s.io", name)) => name.to_owned(),
        Some((policy, name)) => format!("{policy}.{name}"),
        None => key.to_owned(),
    }
}
