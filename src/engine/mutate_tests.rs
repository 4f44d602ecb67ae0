//! Table tests of the mutation phase: the Kubernetes documentation's examples loaded unchanged,
//! the shipped `cmek-default-key`, failures, reinvocation, and validation after mutation.

use super::*;
use crate::engine::{admit, Phases};
use crate::manifest::{parse_documents, Document, ReadLimits};
use crate::policy::{embedded, PolicySet, Source};
use serde_json::json;

fn set_of(texts: &[&str]) -> PolicySet {
    let sources: Vec<Source> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| Source {
            name: format!("test-{i}.yaml"),
            text: (*t).to_owned(),
        })
        .collect();
    PolicySet::compile(&sources, &[]).unwrap_or_else(|e| panic!("{e}"))
}

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/integration/fixtures/mutation/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn doc(text: &str) -> Document {
    parse_documents(text, &ReadLimits::default())
        .unwrap()
        .remove(0)
}

/// The shipped policies with params giving europe-west1 a default key (and `extra` spec lines).
fn shipped(extra: &str) -> PolicySet {
    let params = format!(
        "apiVersion: cmek-gate.dev/v1alpha1
kind: CmekGateParams
metadata:
  name: default
spec:
  defaultKeys:
    europe-west1: {KEY}
{extra}"
    );
    PolicySet::compile(
        &embedded::sources(),
        &[Source {
            name: "params.yaml".into(),
            text: params,
        }],
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

const KEY: &str = "projects/kms-central/locations/europe-west1/keyRings/run/cryptoKeys/default";

fn admit_json(set: &PolicySet, object: serde_json::Value) -> crate::engine::Decision {
    let document = doc(&object.to_string());
    admit(set, &Request::create(&document), Phases::ALL)
}

fn mutated_json(decision: &crate::engine::Decision) -> Option<serde_json::Value> {
    decision.mutated.as_ref().map(Node::to_json)
}

fn service(labels: serde_json::Value, template_metadata: serde_json::Value) -> serde_json::Value {
    json!({
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": "payments", "namespace": "123", "labels": labels},
        "spec": {"template": {"metadata": template_metadata, "spec": {"containers": [{"image": "x"}]}}}
    })
}

fn sensitive_in(region: &str) -> serde_json::Value {
    json!({"data-classification": "confidential", "cloud.googleapis.com/location": region})
}

#[test]
fn the_documented_apply_configuration_example_adds_the_sidecar_and_keeps_other_init_containers() {
    let set = set_of(&[&fixture("k8s-sidecar-apply-configuration.yaml")]);
    let pod = doc(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: default}\nspec:\n  initContainers: [{name: setup, image: busybox}]\n  containers: [{name: app, image: nginx}]\n",
    );
    let namespace = doc("apiVersion: v1\nkind: Namespace\nmetadata: {name: default, labels: {sidecar-injection: enabled}}\n");
    let mut request = Request::create(&pod);
    request.namespace_object = Some(&namespace.root);
    let decision = admit(&set, &request, Phases::ALL);
    assert!(decision.allowed(), "{:?}", decision.violations);
    let mutated = mutated_json(&decision).expect("mutated");
    assert_eq!(
        mutated["spec"]["initContainers"],
        json!([
            {"name": "setup", "image": "busybox"},
            {"name": "mesh-proxy", "image": "mesh/proxy:v1.0.0", "args": ["proxy", "sidecar"], "restartPolicy": "Always"}
        ])
    );
    // The webhook's patch, applied to the original, gives the same object.
    let mut patched = pod.root.to_json();
    json_patch::patch(&mut patched, &decision.patch.clone().unwrap()).unwrap();
    assert_eq!(patched, mutated);
    // Again on the result: the matchCondition stops it, nothing changes.
    let again = doc(&mutated.to_string());
    let mut request = Request::create(&again);
    request.namespace_object = Some(&namespace.root);
    assert_eq!(admit(&set, &request, Phases::ALL).patch, None);
    // A namespace without the label is not selected by the binding.
    let plain = doc("apiVersion: v1\nkind: Namespace\nmetadata: {name: default}\n");
    let mut request = Request::create(&pod);
    request.namespace_object = Some(&plain.root);
    let decision = admit(&set, &request, Phases::ALL);
    assert!(!decision.matched && decision.patch.is_none());
}

#[test]
fn the_documented_json_patch_example_appends_and_escapes_keys() {
    let set = set_of(&[&fixture("k8s-sidecar-json-patch.yaml")]);
    let pod = doc("apiVersion: v1\nkind: Pod\nmetadata: {name: p, labels: {app: web}}\nspec:\n  containers: [{name: app, image: nginx}]\n");
    let decision = admit(&set, &Request::create(&pod), Phases::ALL);
    assert!(decision.allowed(), "{:?}", decision.violations);
    let mutated = mutated_json(&decision).unwrap();
    assert_eq!(
        mutated["spec"]["initContainers"],
        json!([{"name": "mesh-proxy", "image": "mesh-proxy/v1.0.0", "restartPolicy": "Always"}])
    );
    assert_eq!(
        mutated["metadata"]["labels"]["example.com/environment"],
        "test"
    );
    assert_eq!(decision.mutations.len(), 1, "one change per binding");
    let paths: Vec<String> = decision
        .patch
        .unwrap()
        .0
        .iter()
        .map(|op| op.path().to_string())
        .collect();
    assert_eq!(
        paths,
        [
            "/metadata/labels/example.com~1environment",
            "/spec/initContainers"
        ]
    );
}

#[test]
fn cmek_default_key_adds_the_region_key_to_a_sensitive_service_once() {
    let set = shipped("");
    let decision = admit_json(&set, service(sensitive_in("europe-west1"), json!({})));
    assert!(decision.allowed(), "{:?}", decision.violations);
    let patch = serde_json::to_value(decision.patch.as_ref().unwrap()).unwrap();
    assert_eq!(
        patch,
        json!([{"op": "add", "path": "/spec/template/metadata/annotations", "value": {"run.googleapis.com/encryption-key": KEY}}])
    );
    let added: Vec<_> = decision
        .warnings
        .iter()
        .filter(|w| w.policy == "cmek-default-key")
        .collect();
    assert_eq!(added.len(), 1, "{:?}", decision.warnings);
    assert!(added[0].message.contains(KEY), "{}", added[0].message);
    // Idempotent: the mutated object is not changed again.
    let mutated = mutated_json(&decision).unwrap();
    let again = admit_json(&set, mutated);
    assert_eq!(again.patch, None);
    assert!(again.allowed());
}

#[test]
fn cmek_default_key_leaves_alone_what_it_must_not_change() {
    let set = shipped("");
    let cases = [
        (
            "a key already written",
            service(
                sensitive_in("europe-west1"),
                json!({"annotations": {"run.googleapis.com/encryption-key": "projects/team-keys/locations/europe-west1/keyRings/r/cryptoKeys/mine"}}),
            ),
            true,
        ),
        (
            "an empty key (the author's; cmek-required denies)",
            service(
                sensitive_in("europe-west1"),
                json!({"annotations": {"run.googleapis.com/encryption-key": ""}}),
            ),
            false,
        ),
        (
            "not sensitive",
            service(
                json!({"data-classification": "public", "cloud.googleapis.com/location": "europe-west1"}),
                json!({}),
            ),
            true,
        ),
        (
            "no default key for the region (cmek-required denies)",
            service(sensitive_in("us-central1"), json!({})),
            false,
        ),
        (
            "no region",
            service(json!({"data-classification": "confidential"}), json!({})),
            false,
        ),
        (
            "opted out",
            {
                let mut s = service(sensitive_in("europe-west1"), json!({}));
                s["metadata"]["annotations"] = json!({"cmek-gate.dev/mutate": "false"});
                s
            },
            false,
        ),
        (
            "the key misplaced on the service (the author meant a key)",
            {
                let mut s = service(sensitive_in("europe-west1"), json!({}));
                s["metadata"]["annotations"] = json!({"run.googleapis.com/encryption-key": KEY});
                s
            },
            false,
        ),
    ];
    for (name, object, allowed) in cases {
        let decision = admit_json(&set, object);
        assert_eq!(decision.patch, None, "{name}");
        assert_eq!(
            decision.allowed(),
            allowed,
            "{name}: {:?}",
            decision.violations
        );
    }
}

#[test]
fn cmek_default_key_handles_every_shape_and_the_revocation_default() {
    let set = shipped("  defaultRevocationAction: shut-down\n");
    let cases = [
        (
            json!({"apiVersion": "run.googleapis.com/v1", "kind": "Job", "metadata": {"name": "j", "labels": sensitive_in("europe-west1")},
                   "spec": {"template": {"metadata": {"annotations": null}, "spec": {}}}}),
            "/spec/template/metadata/annotations",
            json!({"run.googleapis.com/encryption-key": KEY, "run.googleapis.com/post-key-revocation-action-type": "shut-down"}),
        ),
        (
            json!({"apiVersion": "run.googleapis.com/v1", "kind": "WorkerPool", "metadata": {"name": "w", "labels": sensitive_in("europe-west1")},
                   "spec": {"template": {"metadata": {"annotations": {"run.googleapis.com/post-key-revocation-action-type": "prevent-new"}}}}}),
            "/spec/template/metadata/annotations/run.googleapis.com~1encryption-key",
            json!(KEY),
        ),
        (
            json!({"apiVersion": "run.cnrm.cloud.google.com/v1beta1", "kind": "RunService", "metadata": {"name": "r", "labels": {"data-classification": "confidential"}},
                   "spec": {"location": "europe-west1", "template": {"containers": []}}}),
            "/spec/template/encryptionKeyRef",
            json!({"external": KEY}),
        ),
        (
            json!({"apiVersion": "run.cnrm.cloud.google.com/v1beta1", "kind": "RunJob", "metadata": {"name": "r", "labels": {"data-classification": "confidential"}},
                   "spec": {"location": "europe-west1", "template": {"template": {}}}}),
            "/spec/template/template/encryptionKeyRef",
            json!({"external": KEY}),
        ),
    ];
    for (object, path, value) in cases {
        let kind = object["kind"].clone();
        let decision = admit_json(&set, object);
        let patch = decision
            .patch
            .clone()
            .unwrap_or_else(|| panic!("{kind}: no patch"));
        let ops = serde_json::to_value(&patch).unwrap();
        let op = ops
            .as_array()
            .unwrap()
            .iter()
            .find(|op| op["path"] == path)
            .unwrap_or_else(|| panic!("{kind}: no {path} in {ops}"));
        assert_eq!(op["value"], value, "{kind}");
        assert!(decision.allowed(), "{kind}: {:?}", decision.violations);
    }
}

const LABEL_POLICY: &str = "apiVersion: admissionregistration.k8s.io/v1beta1
kind: MutatingAdmissionPolicy
metadata: {name: NAME}
spec:
  failurePolicy: FAILURE
  reinvocationPolicy: REINVOKE
  matchConstraints:
    resourceRules:
      - {apiGroups: [serving.knative.dev], apiVersions: ['*'], operations: [CREATE], resources: [services]}
  mutations:
    - patchType: JSONPatch
      jsonPatch:
        expression: EXPR
---
apiVersion: admissionregistration.k8s.io/v1beta1
kind: MutatingAdmissionPolicyBinding
metadata: {name: NAME-binding}
spec: {policyName: NAME}
";

fn label_policy(name: &str, failure: &str, reinvoke: &str, expression: &str) -> String {
    LABEL_POLICY
        .replace("NAME", name)
        .replace("FAILURE", failure)
        .replace("REINVOKE", reinvoke)
        .replace("EXPR", &serde_json::to_string(expression).unwrap())
}

/// What the API server refuses when a mutating policy is created (a JSONPatch expression that
/// is not a `list(JSONPatch)`, `dyn` included) is refused at load: it never reaches evaluation.
#[test]
fn mutations_of_the_wrong_type_are_refused_at_load() {
    let cases = [
        (
            "'not a list'",
            "must evaluate to list(JSONPatch) but got string",
        ),
        (
            "[{'op': 'remove', 'path': '/spec/missing'}]",
            "must evaluate to list(JSONPatch) but got list(map(string, string))",
        ),
        (
            "object.spec.nothing",
            "must evaluate to list(JSONPatch) but got dyn",
        ),
        (
            "[JSONPatch{op: 1, path: '/a'}]",
            "expected type of field 'op' is 'string' but provided type is 'int'",
        ),
    ];
    for (expression, expected) in cases {
        let sources = [Source {
            name: "m.yaml".into(),
            text: label_policy("m", "Fail", "Never", expression),
        }];
        let error = PolicySet::compile(&sources, &[])
            .err()
            .unwrap_or_else(|| panic!("{expression}: loaded"))
            .to_string();
        assert!(
            error.starts_with("m.yaml:")
                && error.contains("spec.mutations[0].jsonPatch.expression: "),
            "{expression}: {error}"
        );
        assert!(error.ends_with(expected), "{expression}: {error}");
    }
}

#[test]
fn a_policy_that_asks_for_it_runs_again_after_a_later_change() {
    let add_x_after_y = "has(object.metadata.labels.y) && !has(object.metadata.labels.x) ? [JSONPatch{op: 'add', path: '/metadata/labels/x', value: 'from-a'}] : []";
    let add_y = "has(object.metadata.labels.y) ? [] : [JSONPatch{op: 'add', path: '/metadata/labels/y', value: 'from-b'}]";
    let object = json!({"apiVersion": "serving.knative.dev/v1", "kind": "Service", "metadata": {"name": "s", "labels": {}}});
    for (reinvoke, expect_x) in [("IfNeeded", true), ("Never", false)] {
        let set = set_of(&[
            &label_policy("a", "Fail", reinvoke, add_x_after_y),
            &label_policy("b", "Fail", "Never", add_y),
        ]);
        let decision = admit_json(&set, object.clone());
        let labels = &mutated_json(&decision).unwrap()["metadata"]["labels"];
        assert_eq!(labels["y"], "from-b");
        assert_eq!(labels.get("x").is_some(), expect_x, "{reinvoke}: {labels}");
    }
}

#[test]
fn failed_mutations_deny_under_fail_and_are_skipped_under_ignore() {
    let object = json!({"apiVersion": "serving.knative.dev/v1", "kind": "Service", "metadata": {"name": "s"}});
    let cases = [
        (
            "[JSONPatch{op: 'remove', path: '/spec/missing'}]",
            "the JSON patch does not apply",
        ),
        (
            "[JSONPatch{op: 'frobnicate', path: '/x'}]",
            "JSONPatch 0 is not a valid RFC 6902 operation",
        ),
        (
            "[JSONPatch{op: 'replace', path: '/kind', value: 'Other'}]",
            "a mutation may not change kind",
        ),
        (
            "[JSONPatch{op: 'add', path: '/metadata/name', value: 1}]",
            "a mutation may not change metadata.name",
        ),
    ];
    let assert_ignored = |expression: &str| {
        let set = set_of(&[&label_policy("m", "Ignore", "Never", expression)]);
        let decision = admit_json(&set, object.clone());
        assert!(decision.allowed(), "{expression} under Ignore");
    };
    for (expression, expected) in cases {
        let set = set_of(&[&label_policy("m", "Fail", "Never", expression)]);
        let decision = admit_json(&set, object.clone());
        assert_eq!(decision.violations.len(), 1, "{expression}");
        let message = &decision.violations[0].message;
        assert!(message.contains(expected), "{expression}: {message}");
        assert!(
            message.starts_with("policy \"m\", spec.mutations[0].jsonPatch.expression: "),
            "{message}"
        );
        assert_eq!(decision.patch, None);
        assert_ignored(expression);
    }
    // An evaluation error is worded as the API server words it, with the expression.
    let expression = "[JSONPatch{op: 'add', path: '/x', value: object.spec.nothing}]";
    let set = set_of(&[&label_policy("m", "Fail", "Never", expression)]);
    let decision = admit_json(&set, object.clone());
    assert_eq!(
        decision.violations[0].message,
        format!("expression '{expression}' resulted in error: no such key: spec")
    );
    assert_ignored(expression);
}

#[test]
fn validating_policies_judge_the_mutated_object() {
    let deny_y = "apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: no-y}
spec:
  matchConstraints:
    resourceRules:
      - {apiGroups: [serving.knative.dev], apiVersions: ['*'], operations: [CREATE], resources: [services]}
  validations:
    - expression: \"!has(object.metadata.labels.y)\"
      message: label y is not allowed
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: no-y-binding}
spec: {policyName: no-y, validationActions: [Deny]}
";
    let add_y = "[JSONPatch{op: 'add', path: '/metadata/labels/y', value: 'z'}]";
    let set = set_of(&[deny_y, &label_policy("b", "Fail", "Never", add_y)]);
    let object = json!({"apiVersion": "serving.knative.dev/v1", "kind": "Service", "metadata": {"name": "s", "labels": {}}});
    let decision = admit_json(&set, object.clone());
    assert!(!decision.allowed());
    assert_eq!(decision.violations[0].message, "label y is not allowed");
    // Without the mutation phase the same object is allowed, and nothing is patched.
    let document = doc(&object.to_string());
    let plain = admit(&set, &Request::create(&document), Phases::VALIDATE);
    assert!(plain.allowed() && plain.patch.is_none());
    // The mutation phase alone (the /mutate webhook) patches and leaves judging to /validate.
    let only = admit(&set, &Request::create(&document), Phases::MUTATE);
    assert!(only.allowed() && only.patch.is_some());
}

#[test]
fn object_literals_belong_to_mutations_only() {
    let in_validation = "apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: v}
spec:
  validations:
    - expression: \"Object{} == Object{}\"
";
    let error = PolicySet::compile(
        &[Source {
            name: "v.yaml".into(),
            text: in_validation.into(),
        }],
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("object literals are only allowed in the expressions of a MutatingAdmissionPolicy's mutations"),
        "{error}"
    );
    let unknown_type = label_policy("m", "Fail", "Never", "[Secret{}]");
    let error = PolicySet::compile(
        &[Source {
            name: "m.yaml".into(),
            text: unknown_type,
        }],
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("m.yaml:") && error.contains("\"Secret{...}\" constructs an unknown type"),
        "{error}"
    );
    let mismatched = label_policy("m", "Fail", "Never", "[]")
        .replace("patchType: JSONPatch", "patchType: ApplyConfiguration");
    let error = PolicySet::compile(
        &[Source {
            name: "m.yaml".into(),
            text: mismatched,
        }],
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("patchType ApplyConfiguration needs applyConfiguration (and only it)"),
        "{error}"
    );
}

#[test]
fn apply_configurations_merge_maps_named_lists_and_remove_nulls() {
    let mut target =
        json!({"a": {"keep": 1, "drop": 2}, "list": [1, 2], "named": [{"name": "x", "v": 1}]});
    merge(
        &mut target,
        json!({"a": {"drop": null, "new": 3}, "list": [3], "named": [{"name": "x", "w": 2}, {"name": "y"}], "fresh": {"b": {"c": 1}}}),
    );
    assert_eq!(
        target,
        json!({"a": {"keep": 1, "new": 3}, "list": [3], "named": [{"name": "x", "v": 1, "w": 2}, {"name": "y"}], "fresh": {"b": {"c": 1}}})
    );
}

#[test]
fn field_paths_read_like_the_manifest() {
    let cases = [
        (
            "/spec/template/metadata/annotations/run.googleapis.com~1encryption-key",
            "spec.template.metadata.annotations[\"run.googleapis.com/encryption-key\"]",
        ),
        ("/spec/containers/0/image", "spec.containers[0].image"),
        ("", "the object"),
    ];
    for (pointer, expected) in cases {
        let pointer = json_patch::jsonptr::Pointer::parse(pointer).unwrap();
        assert_eq!(field_path(pointer), expected);
    }
}

/// The pruned diff gives `json_patch::diff`'s operations, in its order, for pairs of values
/// made by random edits of one object (keys added, removed and changed at any depth, list items
/// added, removed, changed and reordered, a value replaced by one of another type).
#[test]
fn smallest_patch_is_json_patch_diff() {
    let base = json!({
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": "s", "labels": {"a": "1", "b~/c": "2"}, "annotations": {}},
        "spec": {"template": {"spec": {"containers": [
            {"name": "c", "image": "i", "env": [{"name": "X", "value": "1"}]},
            {"name": "d", "args": ["a", "b", 3, 4.5, null, true]}
        ]}}}
    });
    let mut random = crate::test_random::xorshift(0x1234_5678_9abc_def1);
    let replacements = [
        json!(null),
        json!(1),
        json!(1.0),
        json!("1"),
        json!([]),
        json!({}),
        json!({"k": [1, {"m": "n"}]}),
    ];
    // A random value inside `value`, edited in place.
    fn edit(
        value: &mut serde_json::Value,
        random: &mut dyn FnMut(usize) -> usize,
        new: serde_json::Value,
    ) {
        match value {
            serde_json::Value::Object(map) if !map.is_empty() && random(4) != 0 => {
                let key = map.keys().nth(random(map.len())).unwrap().clone();
                match random(5) {
                    0 => {
                        map.remove(&key);
                    }
                    1 => {
                        map.insert(format!("new/{}", random(3)), new);
                    }
                    _ => edit(map.get_mut(&key).unwrap(), random, new),
                }
            }
            serde_json::Value::Array(items) if !items.is_empty() && random(4) != 0 => {
                let at = random(items.len());
                match random(5) {
                    0 => {
                        items.remove(at);
                    }
                    1 => items.insert(at, new),
                    2 => items.swap(0, at),
                    _ => edit(&mut items[at], random, new),
                }
            }
            other => *other = new,
        }
    }
    let mut operations = 0;
    for _ in 0..3_000 {
        let (mut left, mut right) = (base.clone(), base.clone());
        for _ in 0..random(4) {
            let new = replacements[random(replacements.len())].clone();
            edit(&mut left, &mut random, new);
        }
        for _ in 0..1 + random(4) {
            let new = replacements[random(replacements.len())].clone();
            edit(&mut right, &mut random, new);
        }
        let expected = json_patch::diff(&left, &right);
        assert_eq!(smallest_patch(&left, &right), expected, "{left}\n{right}");
        operations += expected.0.len();
    }
    assert!(operations > 3_000, "{operations} operations");
}
