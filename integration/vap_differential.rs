//! The policy differential: the same policies, namespaces, parameters and objects given to a real
//! kube-apiserver (the rig, `integration/kube.rs`) and to `cmek-gate check`, and every answer
//! compared: admitted or refused, the policy, binding, message and reason of the refusal, every
//! denial (through the Audit action the harness adds to each Deny-only binding), the warnings,
//! the audit annotations and, for the mutating policies, the object the API server would store.
//!
//! The corpus: the shipped library (`policies/`) and the policies, namespaces and parameters of
//! `integration/fixtures/differential/`, and objects generated here (deterministic, from a seed):
//! Knative Services and Configurations (Cloud Run manifests) and Config Connector RunServices and
//! RunJobs, with labels at both levels, valid and broken keys, missing maps, wrong value types,
//! unicode and very large values. The API server's side is `integration/kube/cmd/vap-diff`.
//!
//! `kube_policy_differential_ci_subset` runs [`CI_OBJECTS`] objects; the full corpus,
//! [`FULL_OBJECTS`], runs with `CMEK_GATE_FULL_DIFFERENTIAL=1 cargo test --locked --test
//! integration kube_policy_differential_full -- --ignored --nocapture`. Both print their figures
//! and write every difference to `target/vap-differential-<name>.txt`; a difference that is not
//! in [`DELIBERATE`] (documented in docs/policy-differential.md) fails the test.

use crate::kube::{build_go_tool, rig};
use crate::server_support::gate_binary;
use crate::support::{repo, temp_dir};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

/// Objects in the CI subset: every policy judges some of them (asserted).
const CI_OBJECTS: usize = 320;
/// Objects in the full corpus.
const FULL_OBJECTS: usize = 2400;
/// The seed of the generator.
const SEED: u64 = 0x5eed_c3e4_2026;

/// The label the harness adds to every binding's namespaceSelector (an `Exists` term), so that
/// the corpus' policies judge only the differential's namespaces on the shared rig.
const SCOPE_LABEL: &str = "differential.cmek-gate.dev/scope";

/// The namespaces objects are generated into (integration/fixtures/differential/setup.yaml).
const NAMESPACES: [&str; 3] = [
    "differential-prod",
    "differential-dev",
    "differential-sandbox",
];

/// The kinds of difference that are documented (docs/policy-differential.md), each with why it
/// stays; any other kind fails the test.
const DELIBERATE: &[(&str, &str)] = &[
    (
        "CEL error words",
        "the words of a CEL runtime error (after `resulted in error: `) are cel-go's; the CEL \
         differential compares them expression by expression. Everything around them (verdict, \
         policy, binding, action, expression index, the expression) must still match",
    ),
    (
        "apply configuration on a malformed object",
        "the API server converts an object to its schema's type before it applies an apply \
         configuration and refuses one whose shape contradicts the schema; cmek-gate has no \
         schema to convert to, and refuses the object through the policy's own checks instead",
    ),
    (
        "metadata stored as ObjectMeta",
        "the API server stores a resource's own metadata as ObjectMeta (null fields, empty \
         labels and annotations left out); cmek-gate's patch is a patch of the file as written",
    ),
    (
        "template label typed as a string",
        "cmek-gate reads the labels and annotations of a nested `metadata` (a template's) as \
         strings, as ObjectMeta types them; the API server keeps a CRD template's values as \
         written, so a call the type checker resolved to its string overload (`string(x)`, x \
         inferred a string) fails there on a bool label (`no such overload: string(bool)`) and \
         succeeds in cmek-gate on the string",
    ),
];

/// A tiny deterministic generator (xorshift64*), so that a seed always gives the same corpus.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }
}

/// A value for a label: mostly strings, sometimes unicode, very large, or not a string at all.
fn label_value(rng: &mut Rng, typical: &[&str], odd_percent: usize) -> Value {
    if !rng.chance(odd_percent) {
        return json!(rng.pick(typical));
    }
    match rng.below(8) {
        0 => json!(42),
        1 => json!(true),
        2 => json!(["a", "b"]),
        3 => json!({"nested": "map"}),
        4 => json!("Ünïcødé-équipe"),
        5 => json!("日本語チーム"),
        6 => json!("x".repeat(300 + rng.below(6000))),
        _ => Value::Null,
    }
}

/// A map of labels: missing, null, empty, or some of the labels the policies read, with odd keys
/// and values at the given rate.
fn labels(rng: &mut Rng, odd_percent: usize, template: bool) -> Option<Value> {
    match rng.below(12) {
        0 => return None,
        1 if rng.chance(odd_percent * 3) => return Some(Value::Null),
        2 => return Some(json!({})),
        3 if rng.chance(odd_percent * 3) => return Some(json!(["team", "payments"])),
        _ => {}
    }
    let mut map = Map::new();
    let candidates: [(&str, &[&str]); 10] = [
        ("team", &["payments", "web", "legacy", "contractors"]),
        (
            "data-classification",
            &["confidential", "public", "PUBLIC", "internal", "restricted"],
        ),
        ("compliance", &["pci-dss", "hipaa", "none"]),
        (
            "owner",
            &[
                "alice",
                "payments-oncall",
                "a-very-long-owner-name-over-thirty",
            ],
        ),
        ("tier", &["frontend", "edge", "backend"]),
        (
            "cloud.googleapis.com/location",
            &["europe-west1", "europe-west4", "us-central1", "asia-east1"],
        ),
        ("app", &["api", "worker"]),
        ("version", &["v1", "v2", "2026-12-04"]),
        ("managed-by", &["ci", "platform"]),
        ("exempt", &["yes"]),
    ];
    for (key, values) in candidates {
        let wanted = match key {
            "app" | "version" => template && rng.chance(60),
            "team" => rng.chance(70),
            _ => rng.chance(35),
        };
        if wanted {
            map.insert(key.to_owned(), label_value(rng, values, odd_percent));
        }
    }
    if rng.chance(odd_percent) {
        let key = rng.pick(&[
            "bad key",
            "-leading-dash",
            "a/b/c",
            "UPPER.example.com/Name",
            "ünï/cødé",
            "example.com/",
            "valid.example.com/name",
        ]);
        map.insert(key.to_owned(), json!("x"));
    }
    if rng.chance(odd_percent) {
        map.insert(format!("k{}", "e".repeat(70)), json!("long-key"));
    }
    Some(Value::Object(map))
}

/// An image reference: allowed registries, other registries, tags, digests, unicode, very long.
fn image(rng: &mut Rng) -> Value {
    match rng.below(14) {
        0 => json!("europe-docker.pkg.dev/acme-prod/api/app:1.2.3"),
        1 => json!("europe-docker.pkg.dev/acme-dev/api/app:latest"),
        2 => json!("gcr.io/acme/api@sha256:0123456789abcdef"),
        3 => json!("gcr.io/acme/worker"),
        4 => json!("gcr.io/other/tool:v1"),
        5 => json!("docker.io/library/nginx:latest"),
        6 => json!("docker.io/library/nginx:1.27"),
        7 => json!("nginx"),
        8 => json!("gcr.io/acme/ümlaut:1"),
        9 => json!(format!("gcr.io/acme/{}:1", "p".repeat(90 + rng.below(200)))),
        10 => json!(7),
        11 => Value::Null,
        _ => json!("europe-docker.pkg.dev/acme-prod/web/site:2026.12"),
    }
}

/// A container, as Knative and Config Connector write one.
fn container(rng: &mut Rng) -> Value {
    let mut c = Map::new();
    if rng.chance(92) {
        c.insert("image".into(), image(rng));
    }
    if rng.chance(40) {
        c.insert("startupProbe".into(), json!({"tcpSocket": {"port": 8080}}));
    }
    if rng.chance(20) {
        c.insert(
            "livenessProbe".into(),
            json!({"httpGet": {"path": "/healthz"}}),
        );
    }
    if rng.chance(60) {
        let mut limits = Map::new();
        if rng.chance(80) {
            limits.insert(
                "memory".into(),
                rng.pick(&[
                    json!("512Mi"),
                    json!("2Gi"),
                    json!("8Gi"),
                    json!("bad"),
                    json!(2),
                    json!("1.5Gi"),
                ]),
            );
        }
        if rng.chance(60) {
            limits.insert("cpu".into(), rng.pick(&[json!("1"), json!("2000m")]));
        }
        c.insert("resources".into(), json!({ "limits": limits }));
    }
    if rng.chance(30) {
        let names = [
            "LOG_LEVEL",
            "AWS_ACCESS_KEY_ID",
            "PASSWORD",
            "GOOGLE_CLOUD_PROJECT",
        ];
        let env: Vec<Value> = (0..1 + rng.below(3))
            .map(|_| json!({"name": rng.pick(&names), "value": "v"}))
            .collect();
        c.insert("env".into(), Value::Array(env));
    }
    Value::Object(c)
}

fn containers(rng: &mut Rng, odd_percent: usize) -> Value {
    if rng.chance(odd_percent) {
        return rng.pick(&[json!({}), json!("nginx"), Value::Null]);
    }
    let n = rng.pick(&[0, 1, 1, 1, 2, 2, 3, 4]);
    Value::Array((0..n).map(|_| container(rng)).collect())
}

/// Template annotations of a Cloud Run revision.
fn template_annotations(rng: &mut Rng, odd_percent: usize) -> Option<Value> {
    if rng.chance(20) {
        return None;
    }
    let mut map = Map::new();
    if rng.chance(50) {
        let scale = if rng.chance(odd_percent) {
            rng.pick(&[json!(7), json!("abc"), json!(""), json!("1e3")])
        } else {
            rng.pick(&[json!("5"), json!("50"), json!("80"), json!("500")])
        };
        map.insert("autoscaling.knative.dev/maxScale".into(), scale);
    }
    if rng.chance(35) {
        let key = rng.pick(&[
            "projects/kms-central/locations/europe-west1/keyRings/run/cryptoKeys/api",
            "projects/acme-keys/locations/europe-west4/keyRings/r/cryptoKeys/k",
            "projects/other-project/locations/us-central1/keyRings/r/cryptoKeys/k",
            "",
            "not-a-key",
        ]);
        map.insert("run.googleapis.com/encryption-key".into(), json!(key));
        if rng.chance(40) {
            map.insert(
                "run.googleapis.com/post-key-revocation-action-type".into(),
                json!(rng.pick(&["shut-down", "prevent-new", "explode"])),
            );
        }
    }
    if rng.chance(25) {
        map.insert(
            "run.googleapis.com/startup-cpu-boost".into(),
            json!(rng.pick(&["true", "false"])),
        );
    }
    if rng.chance(odd_percent) {
        map.insert("note".into(), json!("é".repeat(1000 + rng.below(2000))));
    }
    Some(Value::Object(map))
}

/// Top-level annotations.
fn annotations(rng: &mut Rng, odd_percent: usize) -> Option<Value> {
    if rng.chance(30) {
        return None;
    }
    let mut map = Map::new();
    if rng.chance(50) {
        map.insert(
            "run.googleapis.com/ingress".into(),
            json!(rng.pick(&["all", "internal", "internal-and-cloud-load-balancing"])),
        );
    }
    if rng.chance(10) {
        map.insert("differential.cmek-gate.dev/skip".into(), json!("true"));
    }
    if rng.chance(8) {
        map.insert("cmek-gate.dev/mutate".into(), json!("false"));
    }
    if rng.chance(15) {
        map.insert(
            "run.googleapis.com/encryption-key".into(),
            json!("projects/kms-central/locations/europe-west1/keyRings/run/cryptoKeys/api"),
        );
    }
    if rng.chance(odd_percent * 2) {
        map.insert(
            "description".into(),
            json!("long ".repeat(150 + rng.below(400))),
        );
    }
    Some(Value::Object(map))
}

fn metadata(rng: &mut Rng, name: &str, namespace: &str, odd_percent: usize) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), json!(name));
    m.insert("namespace".into(), json!(namespace));
    if let Some(labels) = labels(rng, odd_percent, false) {
        m.insert("labels".into(), labels);
    }
    if let Some(annotations) = annotations(rng, odd_percent) {
        m.insert("annotations".into(), annotations);
    }
    Value::Object(m)
}

/// A Knative Service or Configuration: `spec.template.{metadata,spec}`.
fn knative(rng: &mut Rng, kind: &str, name: &str, namespace: &str) -> Value {
    let odd = 6;
    let mut object = json!({
        "apiVersion": "serving.knative.dev/v1",
        "kind": kind,
        "metadata": metadata(rng, name, namespace, odd),
    });
    if rng.chance(4) {
        return object;
    }
    if rng.chance(3) {
        object["spec"] = rng.pick(&[
            json!({"template": "oops"}),
            json!({"template": null}),
            json!([]),
        ]);
        return object;
    }
    let mut template = Map::new();
    if rng.chance(90) {
        let mut meta = Map::new();
        if let Some(labels) = labels(rng, odd * 2, true) {
            meta.insert("labels".into(), labels);
        }
        if let Some(annotations) = template_annotations(rng, odd) {
            meta.insert("annotations".into(), annotations);
        }
        template.insert("metadata".into(), Value::Object(meta));
    }
    if rng.chance(92) {
        let mut spec = Map::new();
        spec.insert("containers".into(), containers(rng, odd));
        if rng.chance(40) {
            spec.insert(
                "containerConcurrency".into(),
                rng.pick(&[json!(80), json!(5000), json!("80"), json!(1.5), json!(1000)]),
            );
        }
        if rng.chance(40) {
            spec.insert(
                "timeoutSeconds".into(),
                rng.pick(&[json!(300), json!(900), json!(3600), json!("x")]),
            );
        }
        template.insert("spec".into(), Value::Object(spec));
    }
    object["spec"] = json!({ "template": template });
    object
}

/// A Config Connector RunService or RunJob (`run.cnrm.cloud.google.com/v1beta1`).
fn config_connector(rng: &mut Rng, kind: &str, name: &str, namespace: &str) -> Value {
    let odd = 6;
    let mut object = json!({
        "apiVersion": "run.cnrm.cloud.google.com/v1beta1",
        "kind": kind,
        "metadata": metadata(rng, name, namespace, odd),
    });
    if rng.chance(4) {
        return object;
    }
    let mut spec = Map::new();
    if rng.chance(85) {
        spec.insert(
            "location".into(),
            json!(rng.pick(&["europe-west1", "europe-west4", "us-central1", "asia-east1"])),
        );
    }
    let mut holder = Map::new();
    holder.insert("containers".into(), containers(rng, odd));
    if rng.chance(30) {
        holder.insert(
            "encryptionKeyRef".into(),
            rng.pick(&[
                json!({"external": "projects/kms-central/locations/europe-west1/keyRings/run/cryptoKeys/api"}),
                json!({"external": "projects/other/locations/us-central1/keyRings/r/cryptoKeys/k"}),
                json!({"name": "api-key"}),
                json!("projects/x"),
            ]),
        );
    }
    let mut template = Map::new();
    if let Some(labels) = labels(rng, odd * 2, true) {
        template.insert("labels".into(), labels);
    }
    if kind == "RunJob" {
        if rng.chance(50) {
            holder.insert(
                "maxRetries".into(),
                rng.pick(&[json!(3), json!(10), json!("3")]),
            );
        }
        if rng.chance(50) {
            template.insert(
                "taskCount".into(),
                rng.pick(&[json!(1), json!(20), json!(100)]),
            );
        }
        if rng.chance(92) {
            template.insert("template".into(), Value::Object(holder));
        }
    } else {
        template.extend(holder);
        if rng.chance(50) {
            let mut scaling = Map::new();
            if rng.chance(70) {
                scaling.insert(
                    "minInstanceCount".into(),
                    rng.pick(&[json!(0), json!(2), json!(5)]),
                );
            }
            if rng.chance(70) {
                scaling.insert(
                    "maxInstanceCount".into(),
                    rng.pick(&[json!(5), json!(10), json!(100), json!("7")]),
                );
            }
            template.insert("scaling".into(), Value::Object(scaling));
        }
    }
    if rng.chance(95) {
        spec.insert("template".into(), Value::Object(template));
    }
    object["spec"] = Value::Object(spec);
    object
}

/// An object every differential policy admits.
fn compliant(kind: &str, name: &str, namespace: &str) -> Value {
    let team = match namespace {
        "differential-prod" => "payments",
        _ => "web",
    };
    let metadata = json!({
        "name": name,
        "namespace": namespace,
        "labels": {
            "team": team,
            "data-classification": "public",
            "cloud.googleapis.com/location": "europe-west1",
        },
        "annotations": {"run.googleapis.com/ingress": "internal"},
    });
    let container = json!({
        "image": "europe-docker.pkg.dev/acme-prod/api/app:1.2.3",
        "startupProbe": {"tcpSocket": {"port": 8080}},
        "resources": {"limits": {"cpu": "1", "memory": "512Mi"}},
    });
    match kind {
        "Service" | "Configuration" => json!({
            "apiVersion": "serving.knative.dev/v1",
            "kind": kind,
            "metadata": metadata,
            "spec": {"template": {
                "metadata": {
                    "labels": {"app": "api", "version": "v1", "owner": "alice"},
                    "annotations": {"autoscaling.knative.dev/maxScale": "5"},
                },
                "spec": {"containers": [container], "timeoutSeconds": 300},
            }},
        }),
        "RunService" => json!({
            "apiVersion": "run.cnrm.cloud.google.com/v1beta1",
            "kind": kind,
            "metadata": metadata,
            "spec": {"location": "europe-west1", "template": {
                "labels": {"app": "api", "owner": "alice"},
                "containers": [container],
                "scaling": {"minInstanceCount": 1, "maxInstanceCount": 5},
            }},
        }),
        _ => json!({
            "apiVersion": "run.cnrm.cloud.google.com/v1beta1",
            "kind": kind,
            "metadata": metadata,
            "spec": {"location": "europe-west1", "template": {
                "labels": {"app": "batch"},
                "taskCount": 1,
                "template": {"containers": [container], "maxRetries": 3},
            }},
        }),
    }
}

/// Changes one thing of an object: a label at either level, an annotation, an image, a
/// container, a map removed or of the wrong type, a unicode or very large value.
fn perturb(rng: &mut Rng, object: &mut Value) {
    let knative = object["apiVersion"] == "serving.knative.dev/v1";
    let template_labels = if knative {
        "/spec/template/metadata/labels"
    } else {
        "/spec/template/labels"
    };
    let containers = if object["kind"] == "RunJob" {
        "/spec/template/template/containers"
    } else if knative {
        "/spec/template/spec/containers"
    } else {
        "/spec/template/containers"
    };
    let set = |object: &mut Value, path: &str, value: Value| {
        let (parent, key) = path.rsplit_once('/').unwrap();
        if let Some(Value::Object(map)) = object.pointer_mut(parent) {
            map.insert(key.replace("~1", "/"), value);
        }
    };
    let remove = |object: &mut Value, path: &str| {
        let (parent, key) = path.rsplit_once('/').unwrap();
        if let Some(Value::Object(map)) = object.pointer_mut(parent) {
            map.remove(&key.replace("~1", "/"));
        }
    };
    match rng.below(22) {
        0 => remove(object, "/metadata/labels/team"),
        1 => set(
            object,
            "/metadata/labels/team",
            json!(rng.pick(&["legacy", "web", "payments"])),
        ),
        2 => set(
            object,
            "/metadata/labels/data-classification",
            json!(rng.pick(&["confidential", "restricted", "PUBLIC", "internal"])),
        ),
        3 => set(object, "/metadata/labels/compliance", json!("pci-dss")),
        4 => set(
            object,
            "/metadata/labels/cloud.googleapis.com~1location",
            json!(rng.pick(&["europe-west4", "us-central1", "asia-east1"])),
        ),
        5 => {
            if let Some(location) = object.pointer_mut("/spec/location") {
                *location = json!(rng.pick(&["europe-west4", "us-central1", "asia-east1"]));
            }
        }
        6 => {
            let value = label_value(rng, &["frontend", "edge"], 30);
            set(object, "/metadata/labels/tier", value);
        }
        7 => {
            let value = labels(rng, 20, true).unwrap_or(Value::Null);
            set(object, template_labels, value);
        }
        8 => {
            let key = format!("{template_labels}/owner");
            let value = label_value(rng, &["Ünïcødé-équipe", "日本語", "bob"], 50);
            set(object, &key, value);
        }
        9 => remove(object, template_labels),
        10 => set(object, "/metadata/labels", Value::Null),
        11 => {
            let image = image(rng);
            set(object, &format!("{containers}/0/image"), image);
        }
        12 => {
            if let Some(Value::Array(list)) = object.pointer_mut(containers) {
                list.push(container(rng));
            }
        }
        13 => set(
            object,
            containers,
            rng.pick(&[json!([]), json!({}), Value::Null]),
        ),
        14 => {
            let scale = rng.pick(&[json!("50"), json!("500"), json!("abc"), json!(7)]);
            set(
                object,
                "/spec/template/metadata/annotations/autoscaling.knative.dev~1maxScale",
                scale,
            );
        }
        15 => set(
            object,
            "/spec/template/metadata/annotations/run.googleapis.com~1encryption-key",
            json!(rng.pick(&[
                "projects/kms-central/locations/europe-west1/keyRings/run/cryptoKeys/api",
                "projects/other/locations/us-central1/keyRings/r/cryptoKeys/k",
                "",
            ])),
        ),
        16 => set(
            object,
            "/metadata/annotations/differential.cmek-gate.dev~1skip",
            json!("true"),
        ),
        17 => set(
            object,
            "/metadata/annotations/description",
            // An odd number of bytes before the 'ü's, so that a cut at 10 KiB may split one.
            json!(format!("x{}", "ü".repeat(500 + rng.below(1500)))),
        ),
        18 => set(
            object,
            "/spec/template",
            rng.pick(&[Value::Null, json!("oops"), json!({})]),
        ),
        19 => set(object, "/metadata/labels/managed-by", json!("ci")),
        20 => set(
            object,
            "/spec/template/spec/containerConcurrency",
            rng.pick(&[json!(80), json!(5000), json!("80")]),
        ),
        _ => set(
            object,
            "/metadata/annotations/cmek-gate.dev~1mutate",
            json!("false"),
        ),
    }
}

/// The corpus: `count` objects from `seed`, named `vd-NNNNN` (unique, so both sides' answers are
/// matched by name).
fn generate(count: usize, seed: u64) -> Vec<Value> {
    // splitmix64's first step, so that neighbouring seeds give unrelated corpora.
    let mut rng = Rng(seed
        .wrapping_add(0x9e37_79b9_7f4a_7c15)
        .wrapping_mul(0xbf58_476d_1ce4_e5b9)
        | 1);
    (0..count)
        .map(|i| {
            let name = format!("vd-{i:05}");
            let namespace = NAMESPACES[i % NAMESPACES.len()];
            let kind = match rng.below(20) {
                0..=8 => "Service",
                9..=11 => "Configuration",
                12..=16 => "RunService",
                _ => "RunJob",
            };
            if rng.chance(50) {
                // A compliant object with a few changes, so that many reach admission (and the
                // mutating policies) and most rules are crossed one at a time.
                let mut object = compliant(kind, &name, namespace);
                for _ in 0..rng.below(4) {
                    perturb(&mut rng, &mut object);
                }
                object
            } else if kind == "Service" || kind == "Configuration" {
                knative(&mut rng, kind, &name, namespace)
            } else {
                config_connector(&mut rng, kind, &name, namespace)
            }
        })
        .collect()
}

/// The setup both sides load: the params CRD, the namespaces and parameters, the shipped library
/// (but its parameter file: setup.yaml has the differential's `default`), the differential's
/// policies, and the canaries last.
fn setup_text() -> String {
    let fixtures = repo().join("integration/fixtures/differential");
    let mut files = vec![
        repo().join("policies/crd/cmekgateparams.yaml"),
        fixtures.join("setup.yaml"),
    ];
    let mut shipped: Vec<_> = std::fs::read_dir(repo().join("policies"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "yaml") && !p.ends_with("cmek-gate-params.yaml")
        })
        .collect();
    shipped.sort();
    files.extend(shipped);
    for name in [
        "policies-platform.yaml",
        "policies-mutating.yaml",
        "canary-policies.yaml",
    ] {
        files.push(fixtures.join(name));
    }
    files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect::<Vec<_>>()
        .join("\n---\n")
}

/// The documents of a file vap-diff wrote: JSON documents separated by `---` lines.
fn json_documents(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && l.trim() != "---")
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn write_documents(path: &Path, documents: &[&Value]) {
    let text: String = documents
        .iter()
        .map(|d| format!("---\n{}\n", serde_json::to_string(d).unwrap()))
        .collect();
    std::fs::write(path, text).unwrap();
}

/// What the corpus' setup says: which policies mutate, and the binding of each policy.
struct Setup {
    mutating: BTreeSet<String>,
    binding_of: BTreeMap<String, String>,
}

impl Setup {
    fn of(documents: &[Value]) -> Setup {
        let mut mutating = BTreeSet::new();
        let mut binding_of = BTreeMap::new();
        for d in documents {
            let name = d["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            match d["kind"].as_str().unwrap_or_default() {
                "MutatingAdmissionPolicy" => {
                    mutating.insert(name);
                }
                "ValidatingAdmissionPolicyBinding" | "MutatingAdmissionPolicyBinding" => {
                    let policy = d["spec"]["policyName"].as_str().unwrap().to_owned();
                    assert!(
                        binding_of.insert(policy.clone(), name).is_none(),
                        "policy {policy} has two bindings: the harness matches warnings to bindings by policy"
                    );
                }
                _ => {}
            }
        }
        Setup {
            mutating,
            binding_of,
        }
    }
}

/// One difference between the API server and the gate on one object.
struct Difference {
    object: String,
    kind: &'static str,
    detail: String,
}

/// The figures of a run.
#[derive(Default)]
struct Figures {
    objects: usize,
    judged: usize,
    refused_before_policies: usize,
    admitted: usize,
    refused: usize,
    mutated: usize,
    warnings: usize,
    audit_annotations: usize,
    agreeing: usize,
}

/// The API server's refusal by a policy: policy, binding and message, from the status message
/// (`ValidatingAdmissionPolicy 'P' with binding 'B' denied request: M`, or for a mutating policy
/// `policy 'P' with binding 'B' denied request: M`).
fn policy_denial(message: &str) -> Option<(String, String, String)> {
    let marker = ["ValidatingAdmissionPolicy '", "policy '"]
        .into_iter()
        .find(|m| message.contains(m))?;
    let rest = &message[message.find(marker)? + marker.len()..];
    let (policy, rest) = rest.split_once("' with binding '")?;
    let (binding, text) = rest.split_once("' denied request: ")?;
    Some((policy.to_owned(), binding.to_owned(), text.to_owned()))
}

/// A message without the words of the CEL runtime error it reports (what follows `resulted in
/// error: `): those are cel-go's, compared expression by expression by the CEL differential.
fn without_cel_error_words(message: &str) -> String {
    match message.find("resulted in error: ") {
        Some(at) => format!("{}resulted in error: …", &message[..at]),
        None => message.to_owned(),
    }
}

/// The entries of a `validation.policy.admission.k8s.io/validation_failure` annotation, each as
/// compact JSON (with `words` applied to the message), sorted (the API server's order is its map
/// order, which varies).
fn validation_failures(annotations: &Map<String, Value>, words: fn(&str) -> String) -> Vec<String> {
    let mut entries: Vec<String> = annotations
        .get("validation.policy.admission.k8s.io/validation_failure")
        .and_then(Value::as_str)
        .map(|text| {
            let list: Vec<Value> = serde_json::from_str(text).unwrap();
            list.into_iter()
                .map(|mut v| {
                    let message = words(v["message"].as_str().unwrap_or_default());
                    v["message"] = Value::String(message);
                    v.to_string()
                })
                .collect()
        })
        .unwrap_or_default();
    entries.sort();
    entries
}

/// The same message.
fn exact(message: &str) -> String {
    message.to_owned()
}

/// The kind of a difference: `kind` when the two sides still differ without the CEL error words,
/// else "CEL error words".
fn kind_of(kind: &'static str, same_without_cel_words: bool) -> &'static str {
    if same_without_cel_words {
        "CEL error words"
    } else {
        kind
    }
}

/// The object without what the API server adds when it stores it.
fn without_server_fields(mut object: Value) -> Value {
    if let Some(metadata) = object["metadata"].as_object_mut() {
        for field in [
            "uid",
            "creationTimestamp",
            "generation",
            "managedFields",
            "resourceVersion",
        ] {
            metadata.remove(field);
        }
    }
    object
}

/// The object with its own metadata as the API server stores ObjectMeta: fields that are null,
/// and labels or annotations that are empty, left out; null label and annotation values "".
fn as_object_meta(mut object: Value) -> Value {
    if let Some(metadata) = object["metadata"].as_object_mut() {
        metadata.retain(|_, v| !v.is_null());
        for key in ["labels", "annotations"] {
            if let Some(Value::Object(map)) = metadata.get_mut(key) {
                for value in map.values_mut() {
                    if value.is_null() {
                        *value = json!("");
                    }
                }
                if map.is_empty() {
                    metadata.remove(key);
                }
            }
        }
    }
    object
}

/// A warning or a validation_failure entry without the CEL error words of its message.
fn entry_without_cel_error_words(m: &str) -> String {
    match serde_json::from_str::<Value>(m) {
        Ok(mut entry) if entry.is_object() => {
            let message = without_cel_error_words(entry["message"].as_str().unwrap_or_default());
            entry["message"] = Value::String(message);
            entry.to_string()
        }
        _ => without_cel_error_words(m),
    }
}

/// Whether two sorted lists of messages differ only in CEL error words, or where the API server
/// failed a call on a template label it keeps as written and cmek-gate reads as a string
/// (`no such overload: f(type)`): `Some("CEL error words")`, `Some("template label typed as a
/// string")`, or `None`.
fn documented_message_difference(server: &[String], gate: &[String]) -> Option<&'static str> {
    let overload = |m: &String| m.contains("resulted in error: no such overload: ");
    let words = |list: &[String], drop_overloads: bool| {
        let mut list: Vec<String> = list
            .iter()
            .filter(|m| !(drop_overloads && overload(m)))
            .map(|m| entry_without_cel_error_words(m))
            .collect();
        list.sort();
        list
    };
    if words(server, false) == words(gate, false) {
        return Some("CEL error words");
    }
    // A checked overload fails in the API server on a label value cmek-gate reads as a string:
    // the entry is the API server's alone (the gate's, if any, is a different outcome of the
    // same expression).
    let server_overloads: BTreeSet<String> = server
        .iter()
        .filter(|m| overload(m))
        .map(|m| entry_without_cel_error_words(m))
        .collect();
    let gate_rest: Vec<String> = gate
        .iter()
        .filter(|m| {
            let m = entry_without_cel_error_words(m);
            !server_overloads.iter().any(|s| same_expression(s, &m))
        })
        .cloned()
        .collect();
    (!server_overloads.is_empty() && words(server, true) == words(&gate_rest, false))
        .then_some("template label typed as a string")
}

/// Whether two messages (warnings, or validation_failure entries) name the same policy and
/// the same failed expression.
fn same_expression(a: &str, b: &str) -> bool {
    fn policy_and_expression(m: &str) -> (String, String) {
        let (policy, message) = match serde_json::from_str::<Value>(m) {
            Ok(entry) => (
                entry["policy"].as_str().unwrap_or_default().to_owned(),
                entry["message"].as_str().unwrap_or_default().to_owned(),
            ),
            Err(_) => {
                let rest = m
                    .strip_prefix("Validation failed for ValidatingAdmissionPolicy '")
                    .unwrap_or(m);
                let (policy, rest) = rest.split_once('\'').unwrap_or_default();
                let message = rest.split_once("': ").map_or("", |(_, m)| m);
                (policy.to_owned(), message.to_owned())
            }
        };
        let expression = message
            .split(" resulted in error")
            .next()
            .unwrap_or_default();
        (policy, expression.to_owned())
    }
    policy_and_expression(a) == policy_and_expression(b)
}

/// Compares one object's answers.
fn compare(
    setup: &Setup,
    input: &Value,
    server: &Value,
    gate: &Value,
    figures: &mut Figures,
) -> Vec<Difference> {
    let name = input["metadata"]["name"].as_str().unwrap().to_owned();
    let mut differences = Vec::new();
    let mut differ = |kind: &'static str, detail: String| {
        differences.push(Difference {
            object: name.clone(),
            kind,
            detail,
        })
    };
    let message = server["message"].as_str().unwrap_or_default();
    let server_allowed = server["allowed"] == true;
    let by_policy = policy_denial(message);
    if !server_allowed && by_policy.is_none() && !message.contains("AdmissionPolicy") {
        // Refused by the API server's own validation of the object (metadata, schema) before the
        // validating policies ran: there is no policy verdict to compare.
        figures.refused_before_policies += 1;
        return Vec::new();
    }
    figures.judged += 1;
    let gate_allowed = gate["allowed"] == true;
    if message.contains("error applying patch: failed to convert original object to typed object")
        && !gate_allowed
    {
        // The API server converts the object to its schema's type before it applies an apply
        // configuration; one whose shape contradicts the schema (a list where the schema says
        // object) is refused there, before the mutating policy's expression runs and before any
        // validating policy. cmek-gate has no schema to convert to: the expression runs, and its
        // own checks refuse the object, with their messages.
        figures.refused += 1;
        return vec![Difference {
            object: name,
            kind: "apply configuration on a malformed object",
            detail: format!("API server: {message}; cmek-gate: {}", gate["violations"]),
        }];
    }
    if server_allowed {
        figures.admitted += 1;
    } else {
        figures.refused += 1;
    }
    if server_allowed != gate_allowed {
        differ(
            "verdict",
            format!(
                "API server {} ({message}), cmek-gate {} ({})",
                if server_allowed { "admits" } else { "refuses" },
                if gate_allowed { "admits" } else { "refuses" },
                gate["violations"]
            ),
        );
    }
    let violations = gate["violations"].as_array().cloned().unwrap_or_default();
    match &by_policy {
        Some((policy, binding, text)) => {
            let find = |words: fn(&str) -> String| {
                violations.iter().find(|v| {
                    v["policy"] == policy.as_str()
                        && v["binding"] == binding.as_str()
                        && words(v["message"].as_str().unwrap_or_default()) == words(text)
                })
            };
            let found = find(exact);
            match found {
                None => differ(
                    kind_of("denial message", find(without_cel_error_words).is_some()),
                    format!(
                        "API server: [{policy}/{binding}] {text:?}; cmek-gate: {}",
                        violations
                            .iter()
                            .map(|v| format!("[{}/{}] {}", v["policy"], v["binding"], v["message"]))
                            .collect::<Vec<_>>()
                            .join("; ")
                    ),
                ),
                Some(v) if v["reason"] != server["reason"] => differ(
                    "denial reason",
                    format!(
                        "{policy}: API server {} ({}), cmek-gate {}",
                        server["reason"], server["code"], v["reason"]
                    ),
                ),
                Some(_) => {}
            }
        }
        None if !server_allowed => differ("refusal", format!("API server: {message}")),
        None => {}
    }
    // Every denial, through the Audit action on every Deny binding.
    let server_annotations = server["auditAnnotations"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let gate_annotations = gate["auditAnnotations"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let server_failures = validation_failures(&server_annotations, exact);
    let gate_failures = validation_failures(&gate_annotations, exact);
    if server_failures != gate_failures {
        let documented = documented_message_difference(&server_failures, &gate_failures);
        let only = |a: &[String], b: &[String]| -> Vec<String> {
            a.iter().filter(|x| !b.contains(x)).cloned().collect()
        };
        differ(
            documented.unwrap_or("validation failures"),
            format!(
                "only the API server: {:?}; only cmek-gate: {:?}",
                only(&server_failures, &gate_failures),
                only(&gate_failures, &server_failures)
            ),
        );
    }
    let others = |annotations: &Map<String, Value>| -> BTreeMap<String, Value> {
        annotations
            .iter()
            .filter(|(k, _)| k.as_str() != "validation.policy.admission.k8s.io/validation_failure")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    let (server_others, gate_others) = (others(&server_annotations), others(&gate_annotations));
    figures.audit_annotations += server_others.len();
    if server_others != gate_others {
        differ(
            "audit annotations",
            format!("API server {server_others:?}, cmek-gate {gate_others:?}"),
        );
    }
    // Warnings: the validating policies' (the gate also reports what the mutations added).
    let mut server_warnings: Vec<String> = server["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap().to_owned())
        .collect();
    let mut gate_warnings: Vec<String> = gate["warnings"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|w| {
            !setup
                .mutating
                .contains(w["policy"].as_str().unwrap_or_default())
        })
        .map(|w| {
            let policy = w["policy"].as_str().unwrap_or_default();
            format!(
                "Validation failed for ValidatingAdmissionPolicy '{policy}' with binding '{}': {}",
                setup.binding_of.get(policy).map_or("?", String::as_str),
                w["message"].as_str().unwrap_or_default()
            )
        })
        .collect();
    server_warnings.sort();
    gate_warnings.sort();
    figures.warnings += server_warnings.len();
    if server_warnings != gate_warnings {
        differ(
            documented_message_difference(&server_warnings, &gate_warnings).unwrap_or("warnings"),
            format!("API server {server_warnings:?}, cmek-gate {gate_warnings:?}"),
        );
    }
    // The stored object: what the mutating policies made of the input.
    if server_allowed {
        let stored = without_server_fields(server["object"].clone());
        let mut expected = input.clone();
        if let Some(patch) = gate.get("patch") {
            let patch: json_patch::Patch = serde_json::from_value(patch.clone()).unwrap();
            json_patch::patch(&mut expected, &patch).unwrap();
        }
        if stored != *input {
            figures.mutated += 1;
        }
        if stored != expected {
            differ(
                if as_object_meta(stored.clone()) == as_object_meta(expected.clone()) {
                    "metadata stored as ObjectMeta"
                } else {
                    "stored object"
                },
                format!("API server {stored}, cmek-gate {expected}"),
            );
        }
    }
    differences
}

/// Runs the differential on `count` objects and checks that every difference is deliberate.
fn run_differential(name: &str, count: usize) {
    let rig = rig();
    let vap_diff = build_go_tool(
        "vap-diff",
        &repo().join("integration/kube"),
        "build-vap-diff.sh",
    )
    .unwrap_or_else(|why| panic!("{why}"));
    let dir = temp_dir(&format!("vap-differential-{name}"));
    let setup_path = dir.join("setup.yaml");
    std::fs::write(&setup_path, setup_text()).unwrap();
    let corpus = generate(count, SEED);
    let objects_path = dir.join("objects.jsonl");
    let lines: String = corpus
        .iter()
        .map(|o| serde_json::to_string(o).unwrap() + "\n")
        .collect();
    std::fs::write(&objects_path, lines).unwrap();
    let applied_path = dir.join("applied.yaml");
    let out = Command::new(vap_diff)
        .arg("--kubeconfig")
        .arg(&rig.kubeconfig)
        .arg("--audit-log")
        .arg(&rig.audit_log)
        .arg("--setup")
        .arg(&setup_path)
        .arg("--canaries")
        .arg(repo().join("integration/fixtures/differential/canaries.jsonl"))
        .arg("--objects")
        .arg(&objects_path)
        .arg("--scope-label")
        .arg(SCOPE_LABEL)
        .arg("--audit-denials")
        .arg("--write-setup")
        .arg(&applied_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "vap-diff failed:\n{}\n--- rig log: {}",
        String::from_utf8_lossy(&out.stderr),
        rig.log.display()
    );
    std::fs::write(dir.join("server.jsonl"), &out.stdout).unwrap();
    let server: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(server.len(), corpus.len(), "one answer per object");

    // The gate: the same setup as applied (bindings scoped, Audit added), the namespaces as
    // Namespace documents before the objects.
    let applied = json_documents(&std::fs::read_to_string(&applied_path).unwrap());
    let setup = Setup::of(&applied);
    let kind_of = |d: &Value| d["kind"].as_str().unwrap_or_default().to_owned();
    let policies: Vec<&Value> = applied
        .iter()
        .filter(|d| kind_of(d).contains("AdmissionPolicy"))
        .collect();
    let params: Vec<&Value> = applied
        .iter()
        .filter(|d| matches!(kind_of(d).as_str(), "ConfigMap" | "CmekGateParams"))
        .collect();
    let mut input: Vec<&Value> = applied
        .iter()
        .filter(|d| kind_of(d) == "Namespace")
        .collect();
    input.extend(corpus.iter());
    write_documents(&dir.join("policies.yaml"), &policies);
    write_documents(&dir.join("params.yaml"), &params);
    write_documents(&dir.join("input.yaml"), &input);
    let out = Command::new(gate_binary())
        .current_dir(&dir)
        .args([
            "check",
            // Kubernetes does not refuse a policy for its estimated cost; the gate's load-time
            // limit is its own (DELIBERATE "estimated cost").
            "--max-expression-cost",
            "1000000000000000",
            "--max-policy-cost",
            "1000000000000000",
            "--policies",
            "policies.yaml",
            "--params",
            "params.yaml",
            "--mutate",
            "--output",
            "json",
            "input.yaml",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "cmek-gate check failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let gate: BTreeMap<String, Value> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] != "Namespace")
        .map(|r| (r["name"].as_str().unwrap().to_owned(), r.clone()))
        .collect();

    let mut figures = Figures {
        objects: corpus.len(),
        ..Figures::default()
    };
    let mut differences = Vec::new();
    for (object, answer) in corpus.iter().zip(&server) {
        let name = object["metadata"]["name"].as_str().unwrap();
        assert_eq!(answer["name"], name, "vap-diff answers in input order");
        let gate_result = gate
            .get(name)
            .unwrap_or_else(|| panic!("cmek-gate reports nothing for {name}"));
        let judged = figures.judged;
        let found = compare(&setup, object, answer, gate_result, &mut figures);
        if figures.judged > judged && found.is_empty() {
            figures.agreeing += 1;
        }
        differences.extend(found);
    }
    // Every policy (but the canaries) must have failed, warned, annotated or mutated somewhere
    // in the corpus, so that each is compared on something.
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for answer in &server {
        if let Some((policy, _, _)) = policy_denial(answer["message"].as_str().unwrap_or_default())
        {
            seen.insert(policy);
        }
        let annotations = answer["auditAnnotations"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for entry in validation_failures(&annotations, exact) {
            let entry: Value = serde_json::from_str(&entry).unwrap();
            seen.insert(entry["policy"].as_str().unwrap().to_owned());
        }
        for key in annotations.keys() {
            seen.insert(key.split('/').next().unwrap().to_owned());
        }
        for warning in answer["warnings"].as_array().unwrap() {
            if let Some(rest) = warning
                .as_str()
                .unwrap()
                .strip_prefix("Validation failed for ValidatingAdmissionPolicy '")
            {
                seen.insert(rest.split('\'').next().unwrap().to_owned());
            }
        }
    }
    for result in gate.values() {
        for warning in result["warnings"].as_array().cloned().unwrap_or_default() {
            let policy = warning["policy"].as_str().unwrap_or_default();
            if setup.mutating.contains(policy) {
                seen.insert(policy.to_owned());
            }
        }
    }
    let unexercised: Vec<&String> = setup
        .binding_of
        .keys()
        .filter(|p| !p.starts_with("differential-canary") && !seen.contains(*p))
        .collect();
    assert!(
        unexercised.is_empty(),
        "policies the corpus never exercises: {unexercised:?}"
    );
    let deliberate: BTreeSet<&str> = DELIBERATE.iter().map(|(kind, _)| *kind).collect();
    let mut by_kind: BTreeMap<&str, usize> = BTreeMap::new();
    for d in &differences {
        *by_kind.entry(d.kind).or_default() += 1;
    }
    let report_path = repo().join(format!("target/vap-differential-{name}.txt"));
    let text: String = differences
        .iter()
        .map(|d| format!("{} [{}] {}\n", d.object, d.kind, d.detail))
        .collect();
    std::fs::write(&report_path, &text).unwrap();
    let disagreeing = figures.judged - figures.agreeing;
    let undocumented_objects: BTreeSet<&str> = differences
        .iter()
        .filter(|d| !deliberate.contains(d.kind))
        .map(|d| d.object.as_str())
        .collect();
    eprintln!(
        "policy differential ({name}): {} objects, {} refused by the API server before its validating policies, {} judged by the policies ({} admitted, {} refused, {} stored mutated, {} warnings, {} audit annotations); {} agree in every field ({:.1} %), {} differ: {:?}; {:.1} % agree but for documented differences; report {}",
        figures.objects,
        figures.refused_before_policies,
        figures.judged,
        figures.admitted,
        figures.refused,
        figures.mutated,
        figures.warnings,
        figures.audit_annotations,
        figures.agreeing,
        100.0 * figures.agreeing as f64 / figures.judged.max(1) as f64,
        disagreeing,
        by_kind,
        100.0 * (figures.judged - undocumented_objects.len()) as f64 / figures.judged.max(1) as f64,
        report_path.display()
    );
    let unexplained: Vec<&Difference> = differences
        .iter()
        .filter(|d| !deliberate.contains(d.kind))
        .collect();
    assert!(
        unexplained.is_empty(),
        "{} differences between the API server and cmek-gate that are not deliberate; the first:\n{}",
        unexplained.len(),
        unexplained
            .iter()
            .take(15)
            .map(|d| format!("{} [{}] {}", d.object, d.kind, d.detail))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        figures.judged * 2 > figures.objects,
        "most objects must reach the policies: {} of {}",
        figures.judged,
        figures.objects
    );
}

#[test]
fn kube_policy_differential_ci_subset() {
    run_differential("ci", CI_OBJECTS);
}

#[test]
#[ignore = "the full corpus: CMEK_GATE_FULL_DIFFERENTIAL=1 cargo test --test integration kube_policy_differential_full -- --ignored"]
fn kube_policy_differential_full() {
    assert!(
        std::env::var_os("CMEK_GATE_FULL_DIFFERENTIAL").is_some(),
        "set CMEK_GATE_FULL_DIFFERENTIAL=1 to run the full policy differential"
    );
    run_differential("full", FULL_OBJECTS);
}

#[test]
fn differential_corpus_is_deterministic_and_varied() {
    let a = generate(400, SEED);
    assert_eq!(a, generate(400, SEED));
    assert_ne!(a, generate(400, SEED + 1));
    let text = serde_json::to_string(&a).unwrap();
    for needle in [
        "\"Service\"",
        "\"Configuration\"",
        "\"RunService\"",
        "\"RunJob\"",
        "bad key",
        "Ünïcødé",
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "\"labels\":null",
        "\"team\":42",
    ] {
        assert!(text.contains(needle), "the corpus has no {needle}");
    }
}
