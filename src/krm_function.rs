//! A KRM function (`config.kubernetes.io/v1` ResourceList in and out), for kpt pipelines and
//! other KRM tooling. Pure: text in, text out.
//!
//! Every item is checked with the engine; violations become `results` of severity `error`,
//! warnings of severity `warning`, each with the `resourceRef`, the `field.path` the policy
//! points at, and `file.path`/`file.index` from the item's `internal.config.kubernetes.io/path`
//! and `index` annotations. The items are returned byte for byte (comments and all): the results
//! are appended to the input text. A `functionConfig` of kind `CmekGateParams` replaces the
//! parameters; a ConfigMap functionConfig says `mutate: "true"` or `"false"`. A parameter object
//! no binding selects (a functionConfig not named `default`, say) is a `warning` result naming it
//! and why: the policies never read it.
//!
//! With mutation (the ConfigMap, or `cmek-gate krm --mutate`), the mutating policies run first:
//! their changes are written into the items as textual edits (see `crate::fix`), so the rest of
//! each item keeps its bytes, each change is an `info` result, and the validating policies judge
//! the items as changed.

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
    #[error("cannot write the mutation into the items: {0}")]
    Mutation(String),
}

/// The function's answer: the ResourceList text with results, and whether an error result is in it.
#[derive(Debug)]
pub struct KrmOutput {
    pub text: String,
    pub has_errors: bool,
}

/// What a `functionConfig` asks for.
#[derive(Debug, Default)]
pub struct FunctionConfig {
    /// The parameter override, as a policy source.
    pub params: Option<Source>,
    /// `Some(true)` when it asks for mutation, `Some(false)` when it refuses it.
    pub mutate: Option<bool>,
}

/// Reads the ResourceList's `functionConfig`.
pub fn function_config(input: &str) -> Result<FunctionConfig, KrmError> {
    let list = read_list(input)?;
    let Some(config) = list.get("functionConfig").filter(|c| !c.is_null()) else {
        return Ok(FunctionConfig::default());
    };
    let kind = config
        .get("kind")
        .and_then(Node::as_str)
        .unwrap_or_default();
    match kind {
        "CmekGateParams" => Ok(FunctionConfig {
            params: Some(Source {
                name: "<functionConfig>".into(),
                text: serde_json::to_string(&config.to_json()).unwrap_or_default(),
            }),
            mutate: None,
        }),
        "ConfigMap" => {
            let data = config.get("data").filter(|d| !d.is_null());
            if let Some(key) = data
                .and_then(Node::entries)
                .and_then(|entries| entries.iter().find(|e| e.key != "mutate"))
            {
                return Err(KrmError::FunctionConfig(format!(
                    "data.{}: unknown key (the ConfigMap takes only mutate: \"true\" or \"false\"; parameters come as a CmekGateParams functionConfig)",
                    key.key
                )));
            }
            let mutate = match data.and_then(|d| d.get("mutate")).map(Node::scalar_text) {
                None => None,
                Some(Some("true")) => Some(true),
                Some(Some("false")) => Some(false),
                Some(_) => {
                    return Err(KrmError::FunctionConfig(
                        "data.mutate: must be \"true\" or \"false\"".into(),
                    ))
                }
            };
            Ok(FunctionConfig {
                params: None,
                mutate,
            })
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

/// Checks every item (after the mutating policies, with `mutate`) and returns the ResourceList
/// with `results`.
pub fn run(set: &PolicySet, input: &str, mutate: bool) -> Result<KrmOutput, KrmError> {
    run_knowing(set, input, mutate, &Default::default())
}

/// [`run`], with namespaces given by their labels (a Namespace item comes first) and the rule for
/// the others: a binding whose namespace selector cannot be decided is an error result.
pub fn run_knowing(
    set: &PolicySet,
    input: &str,
    mutate: bool,
    known: &crate::namespaces::KnownNamespaces,
) -> Result<KrmOutput, KrmError> {
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
    let phases = if mutate {
        engine::Phases::ALL
    } else {
        engine::Phases::VALIDATE
    };
    let mut edits = Vec::new();
    for document in &documents {
        let mut request = Request::create(document);
        request.namespace_object = namespaces
            .iter()
            .find(|n| n.name == document.namespace)
            .map(|n| &n.root)
            .or_else(|| known.object(&document.namespace));
        request.unknown_namespaces = known.unknown;
        let decision = engine::admit(set, &request, phases);
        if let Some(patch) = &decision.patch {
            // The item's positions are those of the ResourceList text: edit it in place.
            let planned = crate::fix::plan(input, &document.root, &patch.0).map_err(|e| {
                KrmError::Mutation(format!(
                    "item {} ({} {}): {e}",
                    document.index, document.kind, document.name
                ))
            })?;
            edits.extend(planned);
        }
        for change in &decision.mutations {
            for op in &change.patch.0 {
                let message = match op {
                    json_patch::PatchOperation::Add(a) => format!(
                        "added {}: {}",
                        engine::mutate::field_path(op.path()),
                        a.value
                    ),
                    _ => format!("changed {}", engine::mutate::field_path(op.path())),
                };
                let mut info = result(document, &change.policy, &message, "info", None);
                info["field"] = json!({"path": json_pointer_to_field(op.path())});
                results.push(info);
            }
        }
        let mutating: Vec<&str> = decision
            .mutations
            .iter()
            .map(|c| c.policy.as_str())
            .collect();
        for v in &decision.violations {
            results.push(result(
                document,
                &v.policy,
                &v.message,
                "error",
                v.field.as_deref(),
            ));
        }
        for u in &decision.undecided {
            let message = format!("undecided: {}", u.message());
            results.push(result(document, &u.policy, &message, "error", None));
        }
        // A mutation's own warnings (what it added) are the info results above.
        for w in decision
            .warnings
            .iter()
            .filter(|w| !mutating.contains(&w.policy.as_str()))
        {
            results.push(result(document, &w.policy, &w.message, "warning", None));
        }
    }
    results.extend(set.unselected_params().iter().map(ignored_param_result));
    let has_errors = results.iter().any(|r| r["severity"] == "error");
    if edits.is_empty() {
        return Ok(KrmOutput {
            text: with_results(input, &list, results),
            has_errors,
        });
    }
    let edited = crate::fix::apply(input, edits).map_err(|e| KrmError::Mutation(e.to_string()))?;
    let list = read_list(&edited)?;
    Ok(KrmOutput {
        text: with_results(&edited, &list, results),
        has_errors,
    })
}

/// A parameter object no binding selects, as a `warning` result: the object as its
/// `resourceRef`, its file (not for a functionConfig or the embedded library), and why.
fn ignored_param_result(param: &crate::policy::selection::UnselectedParam) -> Value {
    let mut result = json!({
        "message": param.to_string(),
        "severity": "warning",
        "resourceRef": {
            "apiVersion": param.api_version,
            "kind": param.kind,
            "name": param.name,
            "namespace": param.namespace,
        },
        "tags": {"check": "ignored-params"},
    });
    if !param.source_name.starts_with('<') {
        result["file"] = json!({"path": param.source_name});
    }
    result
}

/// A JSON pointer as the field path KRM results use, as for violations:
/// `spec.template.metadata.annotations['run.googleapis.com/encryption-key']`.
fn json_pointer_to_field(pointer: &json_patch::jsonptr::Pointer) -> String {
    engine::mutate::dotted_path(pointer, |key| {
        format!("'{}'", key.replace('\\', "\\\\").replace('\'', "\\'"))
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
        let out = run(&set, LIST, false).unwrap();
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
        assert!(run(&set, "apiVersion: v1\nkind: List\nitems: []\n", false).is_err());
        assert!(run(&set, "a: [\n", false).is_err());
        let empty = run(&set, "{\"apiVersion\": \"config.kubernetes.io/v1\", \"kind\": \"ResourceList\", \"items\": []}", false).unwrap();
        assert!(!empty.has_errors);
        assert!(empty.text.contains("\"results\": []"), "{}", empty.text);
        let config = |data: &str| {
            function_config(&format!(
                "{LIST}functionConfig:\n  apiVersion: v1\n  kind: ConfigMap\n  data: {data}\n"
            ))
        };
        assert_eq!(config("{mutate: 'true'}").unwrap().mutate, Some(true));
        assert_eq!(config("{mutate: 'false'}").unwrap().mutate, Some(false));
        assert_eq!(config("{}").unwrap().mutate, None);
        assert!(config("{mutate: 'yes'}")
            .unwrap_err()
            .to_string()
            .contains("data.mutate: must be \"true\" or \"false\""));
        assert!(config("{mutat: 'true'}")
            .unwrap_err()
            .to_string()
            .contains("data.mutat: unknown key"));
        let params = format!("{LIST}functionConfig:\n  apiVersion: cmek-gate.dev/v1alpha1\n  kind: CmekGateParams\n  metadata: {{name: default}}\n  spec: {{}}\n");
        assert!(function_config(&params).unwrap().params.is_some());
        assert!(function_config(LIST).unwrap().params.is_none());
    }

    /// A parameter object no binding selects is a warning result (not an error: the exit code
    /// is the items'), with the object as `resourceRef` and its file unless it has none.
    #[test]
    fn ignored_params_are_warning_results() {
        for (source, file) in [
            ("<functionConfig>", None),
            ("params/prod.yaml", Some("params/prod.yaml")),
        ] {
            let params = Source {
                name: source.into(),
                text: "apiVersion: cmek-gate.dev/v1alpha1\nkind: CmekGateParams\nmetadata: {name: prod, namespace: shop}\nspec: {}\n".into(),
            };
            let set = PolicySet::compile(&embedded::sources(), &[params]).unwrap();
            let empty = "{\"apiVersion\": \"config.kubernetes.io/v1\", \"kind\": \"ResourceList\", \"items\": []}";
            let out = run(&set, empty, false).unwrap();
            assert!(!out.has_errors, "{}", out.text);
            let results = read_list(&out.text)
                .unwrap()
                .get("results")
                .unwrap()
                .to_json();
            assert_eq!(results.as_array().unwrap().len(), 1, "{results}");
            let warning = &results[0];
            assert_eq!(warning["severity"], "warning");
            assert_eq!(warning["resourceRef"]["kind"], "CmekGateParams");
            assert_eq!(warning["resourceRef"]["namespace"], "shop");
            assert_eq!(warning["resourceRef"]["name"], "prod");
            assert!(warning["message"].as_str().unwrap().starts_with(&format!(
                "{source}: CmekGateParams \"prod\" is ignored: no binding selects it"
            )));
            assert_eq!(warning["file"]["path"].as_str(), file, "{warning}");
        }
    }

    #[test]
    fn mutation_edits_the_items_in_place_and_reports_info_results() {
        let params = Source {
            name: "params".into(),
            text: "apiVersion: cmek-gate.dev/v1alpha1\nkind: CmekGateParams\nmetadata: {name: default}\nspec:\n  defaultKeys: {europe-west1: projects/kms-central/locations/europe-west1/keyRings/r/cryptoKeys/d}\n".into(),
        };
        let set = PolicySet::compile(&embedded::sources(), &[params]).unwrap();
        let input = LIST.replace(
            "labels: {data-classification: confidential, owner: x}",
            "labels: {data-classification: confidential, owner: x, cloud.googleapis.com/location: europe-west1}",
        );
        let out = run(&set, &input, true).unwrap();
        assert!(!out.has_errors, "{}", out.text);
        let expected_items = input.replace(
            "annotations: {}",
            "annotations: {run.googleapis.com/encryption-key: projects/kms-central/locations/europe-west1/keyRings/r/cryptoKeys/d}",
        );
        assert!(out.text.starts_with(&expected_items), "{}", out.text);
        let list = read_list(&out.text).unwrap();
        let results = list.get("results").unwrap().to_json();
        assert_eq!(results.as_array().unwrap().len(), 1, "{results}");
        assert_eq!(results[0]["severity"], "info");
        assert_eq!(results[0]["tags"]["policy"], "cmek-default-key");
        assert_eq!(
            results[0]["field"]["path"],
            "spec.template.metadata.annotations['run.googleapis.com/encryption-key']"
        );
        // Without mutation the same list is denied and unchanged.
        let plain = run(&set, &input, false).unwrap();
        assert!(plain.has_errors && plain.text.starts_with(&input));
    }
}
