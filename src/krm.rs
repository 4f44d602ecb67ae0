//! A KRM function (`config.kubernetes.io/v1` ResourceList in and out), for kpt pipelines and
//! other KRM tooling. Pure: text in, text out.
//!
//! Every item is checked with the engine; violations become `results` of severity `error`,
//! warnings of severity `warning`, each with the `resourceRef`, the `field.path` the policy
//! points at, and `file.path`/`file.index` from the item's `internal.config.kubernetes.io/path`
//! and `index` annotations. The items are returned byte for byte (comments and all): the results
//! are appended to the input text. A `functionConfig` of kind `CmekGateParams` replaces the
//! parameters; a ConfigMap functionConfig may only say `mutate: "false"` (mutation is not yet
//! supported, and asking for it is an error rather than a silent no-op).

use crate::engine::{self, Request};
use crate::manifest::{self, shape, Document, Node, ReadLimits};
use crate::policy::{PolicySet, Source};
use serde_json::{json, Value};

#[derive(Debug, thiserror::Error)]
pub enum KrmError {
    #[error("the input is not a ResourceList: {0}")]
    NotAResourceList(String),
    #[error("functionConfig: {0}")]
    FunctionConfig(String),
}

/// The function's answer: the ResourceList text with results, and whether an error result is in it.
#[derive(Debug)]
pub struct KrmOutput {
    pub text: String,
    pub has_errors: bool,
}

/// The parameter override a `functionConfig` carries, as a policy source (`None` when it has none).
pub fn function_config_params(input: &str) -> Result<Option<Source>, KrmError> {
    let list = read_list(input)?;
    let Some(config) = list.get("functionConfig").filter(|c| !c.is_null()) else {
        return Ok(None);
    };
    let kind = config
        .get("kind")
        .and_then(Node::as_str)
        .unwrap_or_default();
    match kind {
        "CmekGateParams" => Ok(Some(Source {
            name: "<functionConfig>".into(),
            text: serde_json::to_string(&config.to_json()).unwrap_or_default(),
        })),
        "ConfigMap" => {
            let mutate = config
                .get("data")
                .and_then(|d| d.get("mutate"))
                .and_then(Node::scalar_text)
                .unwrap_or("false");
            if mutate != "false" {
                return Err(KrmError::FunctionConfig(
                    "mutate: mutation is not supported by this version of cmek-gate".into(),
                ));
            }
            Ok(None)
        }
        other => Err(KrmError::FunctionConfig(format!(
            "kind {other:?}: expected CmekGateParams or a ConfigMap"
        ))),
    }
}

fn read_list(input: &str) -> Result<Node, KrmError> {
    let mut docs = manifest::yaml::parse_stream(input, &ReadLimits::default().yaml)
        .map_err(|e| KrmError::NotAResourceList(e.error.to_string()))?;
    let root = docs
        .drain(..)
        .find_map(|d| d.root)
        .ok_or_else(|| KrmError::NotAResourceList("no document".into()))?;
    let kind = root.get("kind").and_then(Node::as_str).unwrap_or_default();
    let api = root
        .get("apiVersion")
        .and_then(Node::as_str)
        .unwrap_or_default();
    if kind != "ResourceList" || !api.starts_with("config.kubernetes.io/") {
        return Err(KrmError::NotAResourceList(format!("found {api} {kind}")));
    }
    Ok(root)
}

/// Checks every item and returns the ResourceList with `results`.
pub fn run(set: &PolicySet, input: &str) -> Result<KrmOutput, KrmError> {
    let list = read_list(input)?;
    let items: Vec<Node> = match list.get("items") {
        None => Vec::new(),
        Some(items) if items.is_null() => Vec::new(),
        Some(items) => items
            .items()
            .ok_or_else(|| KrmError::NotAResourceList("items is not a list".into()))?
            .to_vec(),
    };
    let mut results = Vec::new();
    let mut documents = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        match manifest::document_from_node(index, item) {
            Ok(document) => documents.push(document),
            Err(e) => {
                results.push(json!({"message": format!("item {index}: {e}"), "severity": "error"}))
            }
        }
    }
    let namespaces: Vec<&Document> = documents
        .iter()
        .filter(|d| d.kind == "Namespace" && d.api_version == "v1")
        .collect();
    for document in &documents {
        let mut request = Request::create(document);
        request.namespace_object = namespaces
            .iter()
            .find(|n| n.name == document.namespace)
            .map(|n| &n.root);
        let decision = engine::evaluate(set, &request);
        for v in &decision.violations {
            results.push(result(
                document,
                &v.policy,
                &v.message,
                "error",
                v.field.as_deref(),
            ));
        }
        for w in &decision.warnings {
            results.push(result(document, &w.policy, &w.message, "warning", None));
        }
    }
    let has_errors = results.iter().any(|r| r["severity"] == "error");
    Ok(KrmOutput {
        text: with_results(input, &list, results),
        has_errors,
    })
}

fn result(
    document: &Document,
    policy: &str,
    message: &str,
    severity: &str,
    field: Option<&str>,
) -> Value {
    let annotation = |key: &str| -> Option<String> {
        document
            .root
            .get("metadata")?
            .get("annotations")?
            .get(key)?
            .scalar_text()
            .map(str::to_owned)
    };
    let mut result = json!({
        "message": format!("[{policy}] {message}"),
        "severity": severity,
        "resourceRef": {
            "apiVersion": document.api_version,
            "kind": document.kind,
            "name": document.name,
            "namespace": document.namespace,
        },
        "tags": {"policy": policy},
    });
    let path = annotation("internal.config.kubernetes.io/path")
        .or_else(|| annotation("config.kubernetes.io/path"));
    if let Some(path) = path {
        let mut file = json!({"path": path});
        let index = annotation("internal.config.kubernetes.io/index")
            .or_else(|| annotation("config.kubernetes.io/index"));
        if let Some(index) = index.and_then(|i| i.parse::<u64>().ok()) {
            file["index"] = json!(index);
        }
        result["file"] = file;
    }
    if let Some(path) =
        field.and_then(|f| shape::field_jsonpath(document.group(), &document.kind, f))
    {
        result["field"] = json!({"path": path.trim_start_matches("$.")});
    }
    result
}

/// The input with `results` added: appended to the text when the ResourceList is a block
/// mapping without results (every byte of the items kept), else re-emitted as JSON.
fn with_results(input: &str, list: &Node, results: Vec<Value>) -> String {
    let results = Value::Array(results);
    let block = input
        .lines()
        .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#') && l.trim() != "---")
        .is_some_and(|first| !first.starts_with('{') && !first.starts_with(' '));
    if block && list.get("results").is_none() {
        let mut text = input.trim_end_matches('\n').to_owned();
        text.push_str("\nresults: ");
        text.push_str(&results.to_string());
        text.push('\n');
        return text;
    }
    let mut value = list.to_json();
    value["results"] = results;
    serde_json::to_string_pretty(&value).unwrap_or_default() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::embedded;

    const LIST: &str = "apiVersion: config.kubernetes.io/v1
kind: ResourceList
items:
- # a comment that must survive
  apiVersion: serving.knative.dev/v1
  kind: Service
  metadata:
    name: pay
    namespace: '123'
    labels: {data-classification: confidential, owner: x}
    annotations:
      internal.config.kubernetes.io/path: 'services/pay.yaml'
      internal.config.kubernetes.io/index: '0'
  spec:
    template:
      metadata:
        annotations: {}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: c}
";

    #[test]
    fn results_are_appended_and_items_kept() {
        let set = PolicySet::compile(&embedded::sources(), &[]).unwrap();
        let out = run(&set, LIST).unwrap();
        assert!(out.has_errors);
        assert!(
            out.text.starts_with(LIST),
            "the input is kept byte for byte"
        );
        let list = read_list(&out.text).unwrap();
        let results = list.get("results").unwrap().to_json();
        assert_eq!(results[0]["severity"], "error");
        assert_eq!(results[0]["tags"]["policy"], "cmek-required");
        assert_eq!(
            results[0]["file"],
            json!({"path": "services/pay.yaml", "index": 0})
        );
        assert_eq!(
            results[0]["field"]["path"],
            "spec.template.metadata.annotations['run.googleapis.com/encryption-key']"
        );
        assert_eq!(results[0]["resourceRef"]["name"], "pay");
    }

    #[test]
    fn bad_inputs_and_function_configs() {
        let set = PolicySet::compile(&embedded::sources(), &[]).unwrap();
        assert!(run(&set, "apiVersion: v1\nkind: List\nitems: []\n").is_err());
        assert!(run(&set, "a: [\n").is_err());
        let empty = run(&set, "{\"apiVersion\": \"config.kubernetes.io/v1\", \"kind\": \"ResourceList\", \"items\": []}").unwrap();
        assert!(!empty.has_errors);
        assert!(empty.text.contains("\"results\": []"), "{}", empty.text);
        let mutate = format!("{LIST}functionConfig:\n  apiVersion: v1\n  kind: ConfigMap\n  data: {{mutate: 'true'}}\n");
        assert!(function_config_params(&mutate)
            .unwrap_err()
            .to_string()
            .contains("mutation is not supported"));
        let params = format!("{LIST}functionConfig:\n  apiVersion: cmek-gate.dev/v1alpha1\n  kind: CmekGateParams\n  metadata: {{name: default}}\n  spec: {{}}\n");
        assert!(function_config_params(&params).unwrap().is_some());
        assert!(function_config_params(LIST).unwrap().is_none());
    }
}
