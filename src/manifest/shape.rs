//! Where each kind keeps what the gate's own code reads: a data table of JSONPath expressions.
//!
//! Supporting a new shape is a new row here, not new code: messages (the line of the offending
//! field), `fix`, `scan` and the API gate read fields through [`field`] and [`field_mark`]. The
//! table also gives the resource plural that fills `request.resource` for each known kind.
//! Queries are compiled once and run straight on the positioned [`Node`] tree.

use super::node::{Mark, Node, NodeValue, ScalarKind};
use jsonpath_rust::parser::model::{JpQuery, Segment, Selector};
use jsonpath_rust::query::queryable::Queryable;
use std::collections::HashMap;
use std::sync::OnceLock;

/// The fields the gate's own code reads, by name.
pub const FIELDS: &[&str] = &[
    "region",
    "labels",
    "templateLabels",
    "key",
    "misplacedKey",
    "revocationAction",
    "shutdownHours",
];

const V1_TEMPLATE: &[(&str, &str)] = &[
    ("region", "$.metadata.labels['cloud.googleapis.com/location']"),
    ("labels", "$.metadata.labels"),
    ("templateLabels", "$.spec.template.metadata.labels"),
    ("key", "$.spec.template.metadata.annotations['run.googleapis.com/encryption-key']"),
    ("misplacedKey", "$.metadata.annotations['run.googleapis.com/encryption-key']"),
    (
        "revocationAction",
        "$.spec.template.metadata.annotations['run.googleapis.com/post-key-revocation-action-type']",
    ),
    (
        "shutdownHours",
        "$.spec.template.metadata.annotations['run.googleapis.com/encryption-key-shutdown-hours']",
    ),
];

const CNRM_SERVICE: &[(&str, &str)] = &[
    ("region", "$.spec.location"),
    ("labels", "$.metadata.labels"),
    ("templateLabels", "$.spec.template.labels"),
    ("key", "$.spec.template.encryptionKeyRef"),
    (
        "revocationAction",
        "$.spec.template.encryptionKeyRevocationAction",
    ),
    (
        "shutdownHours",
        "$.spec.template.encryptionKeyShutdownDuration",
    ),
];

const CNRM_JOB: &[(&str, &str)] = &[
    ("region", "$.spec.location"),
    ("labels", "$.metadata.labels"),
    ("templateLabels", "$.spec.template.labels"),
    ("key", "$.spec.template.template.encryptionKeyRef"),
    (
        "revocationAction",
        "$.spec.template.template.encryptionKeyRevocationAction",
    ),
    (
        "shutdownHours",
        "$.spec.template.template.encryptionKeyShutdownDuration",
    ),
];

/// The Cloud Run Admin API v2 REST shape of a service or worker pool (no apiVersion or kind:
/// the URL says what it is; the region is the URL's `locations/{l}`). The API gate maps a v2 body
/// onto the v1 shape through these rows and [`V1_TEMPLATE`]'s, so the same policies judge it.
pub const V2_SERVICE: &[(&str, &str)] = &[
    ("labels", "$.labels"),
    ("annotations", "$.annotations"),
    ("templateLabels", "$.template.labels"),
    ("templateAnnotations", "$.template.annotations"),
    ("key", "$.template.encryptionKey"),
    (
        "revocationAction",
        "$.template.encryptionKeyRevocationAction",
    ),
    ("shutdownHours", "$.template.encryptionKeyShutdownDuration"),
];

/// The v2 shape of a job: the key is on the task template, `template.template`.
pub const V2_JOB: &[(&str, &str)] = &[
    ("labels", "$.labels"),
    ("annotations", "$.annotations"),
    ("templateLabels", "$.template.labels"),
    ("templateAnnotations", "$.template.annotations"),
    ("key", "$.template.template.encryptionKey"),
    (
        "revocationAction",
        "$.template.template.encryptionKeyRevocationAction",
    ),
    (
        "shutdownHours",
        "$.template.template.encryptionKeyShutdownDuration",
    ),
];

/// Where the v1 shape keeps the v2 rows' fields that are not in the main table.
pub const V1_EXTRA: &[(&str, &str)] = &[
    ("annotations", "$.metadata.annotations"),
    (
        "templateAnnotations",
        "$.spec.template.metadata.annotations",
    ),
];

/// The v1 JSONPath of a field, for the v2 mapping.
pub fn v1_path(field: &str) -> Option<&'static str> {
    V1_TEMPLATE
        .iter()
        .chain(V1_EXTRA)
        .find(|(f, _)| *f == field)
        .map(|(_, p)| *p)
}

/// The segments of one of the table's paths: `$.a.b['c.d']` is `[a, b, c.d]`.
pub fn path_segments(path: &str) -> Vec<String> {
    let mut segments = Vec::new();
    let mut rest = path.strip_prefix('$').unwrap_or(path);
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("['") {
            let end = after.find("']").unwrap_or(after.len());
            segments.push(after[..end].to_owned());
            rest = after.get(end + 2..).unwrap_or("");
        } else if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            segments.push(after[..end].to_owned());
            rest = &after[end..];
        } else {
            break;
        }
    }
    segments
}

/// A kind the gate knows: its resource plural, and where its CMEK fields live (if it has any).
#[derive(Debug)]
pub struct KindInfo {
    pub group: &'static str,
    pub kind: &'static str,
    pub resource: &'static str,
    pub namespaced: bool,
    pub fields: &'static [(&'static str, &'static str)],
}

const fn row(
    group: &'static str,
    kind: &'static str,
    resource: &'static str,
    fields: &'static [(&'static str, &'static str)],
) -> KindInfo {
    KindInfo {
        group,
        kind,
        resource,
        namespaced: true,
        fields,
    }
}

/// Every kind with a known plural. Kinds with fields are the Cloud Run shapes.
pub static KINDS: &[KindInfo] = &[
    row("serving.knative.dev", "Service", "services", V1_TEMPLATE),
    row(
        "serving.knative.dev",
        "Configuration",
        "configurations",
        V1_TEMPLATE,
    ),
    row("serving.knative.dev", "Revision", "revisions", &[]),
    row("serving.knative.dev", "Route", "routes", &[]),
    row("run.googleapis.com", "Job", "jobs", V1_TEMPLATE),
    row(
        "run.googleapis.com",
        "WorkerPool",
        "workerpools",
        V1_TEMPLATE,
    ),
    row("run.googleapis.com", "Execution", "executions", &[]),
    row(
        "run.cnrm.cloud.google.com",
        "RunService",
        "runservices",
        CNRM_SERVICE,
    ),
    row("run.cnrm.cloud.google.com", "RunJob", "runjobs", CNRM_JOB),
    KindInfo {
        namespaced: false,
        ..row("", "Namespace", "namespaces", &[])
    },
    row("", "ConfigMap", "configmaps", &[]),
    row("", "Secret", "secrets", &[]),
    row("", "Service", "services", &[]),
    row("", "ServiceAccount", "serviceaccounts", &[]),
    row("apps", "Deployment", "deployments", &[]),
    row("apps", "StatefulSet", "statefulsets", &[]),
    row("apps", "DaemonSet", "daemonsets", &[]),
    row("batch", "Job", "jobs", &[]),
    row("batch", "CronJob", "cronjobs", &[]),
    row(
        "kms.cnrm.cloud.google.com",
        "KMSCryptoKey",
        "kmscryptokeys",
        &[],
    ),
    row(
        "kms.cnrm.cloud.google.com",
        "KMSKeyRing",
        "kmskeyrings",
        &[],
    ),
];

/// The known kind for an API group and kind.
pub fn kind_info(group: &str, kind: &str) -> Option<&'static KindInfo> {
    KINDS.iter().find(|k| k.group == group && k.kind == kind)
}

/// The resource plural for a kind: from the table, else the lower-cased kind plus `s`
/// (`es` after `s`, `x`, `ch`, `sh`; `ies` for a consonant and `y`), as kubectl guesses it.
pub fn resource_for(group: &str, kind: &str) -> String {
    if let Some(info) = kind_info(group, kind) {
        return info.resource.to_owned();
    }
    let lower = kind.to_ascii_lowercase();
    if lower.ends_with('s')
        || lower.ends_with('x')
        || lower.ends_with("ch")
        || lower.ends_with("sh")
    {
        format!("{lower}es")
    } else if let Some(stem) = lower
        .strip_suffix('y')
        .filter(|s| s.chars().last().is_some_and(|c| !"aeiou".contains(c)))
    {
        format!("{stem}ies")
    } else {
        format!("{lower}s")
    }
}

/// Whether the kind is one the CMEK fields apply to.
pub fn is_cloud_run_shape(group: &str, kind: &str) -> bool {
    kind_info(group, kind).is_some_and(|k| !k.fields.is_empty())
}

type Compiled = HashMap<(&'static str, &'static str, &'static str), Query>;

/// A table path, compiled: the query, and its keys when it is a plain chain of names
/// (`$.a.b['c']`, every row today), which [`field`] follows with `Node::get` as the query's
/// name selectors do, without the query engine's result paths.
struct Query {
    query: JpQuery,
    keys: Option<Vec<String>>,
}

fn compiled() -> &'static Compiled {
    static QUERIES: OnceLock<Compiled> = OnceLock::new();
    QUERIES.get_or_init(|| {
        let mut map = HashMap::new();
        for info in KINDS {
            for (field, path) in info.fields {
                let query = jsonpath_rust::parser::parse_json_path(path)
                    .unwrap_or_else(|e| panic!("shape table path {path:?} is invalid: {e}"));
                let keys = query
                    .segments
                    .iter()
                    .map(|segment| match segment {
                        Segment::Selector(Selector::Name(name)) => Some(name.clone()),
                        _ => None,
                    })
                    .collect();
                map.insert((info.group, info.kind, *field), Query { query, keys });
            }
        }
        map
    })
}

/// The value of a named field in a document of a known shape.
pub fn field<'a>(root: &'a Node, group: &str, kind: &str, field: &str) -> Option<&'a Node> {
    let info = kind_info(group, kind)?;
    let query = compiled().get(&(info.group, info.kind, field_name(info, field)?))?;
    if let Some(keys) = &query.keys {
        return keys.iter().try_fold(root, |node, key| node.get(key));
    }
    jsonpath_rust::query::js_path_process(&query.query, root)
        .ok()?
        .into_iter()
        .next()
        .map(|found| found.val)
}

/// The JSONPath of a named field in a kind (`$.spec.template...`).
pub fn field_jsonpath(group: &str, kind: &str, field: &str) -> Option<&'static str> {
    kind_info(group, kind)?
        .fields
        .iter()
        .find(|(f, _)| *f == field)
        .map(|(_, path)| *path)
}

/// The line and column of a named field: the field's key where it is present, else the deepest
/// part of its path that is present (where the field belongs, e.g. the `annotations:` a missing
/// key should be added to).
pub fn field_mark(root: &Node, group: &str, kind: &str, field: &str) -> Option<Mark> {
    let info = kind_info(group, kind)?;
    let query = &compiled()
        .get(&(info.group, info.kind, field_name(info, field)?))?
        .query;
    for keep in (1..=query.segments.len()).rev() {
        let prefix = JpQuery::new(query.segments[..keep].to_vec());
        let found = jsonpath_rust::query::js_path_process(&prefix, root).ok()?;
        if let Some(first) = found.first() {
            let segments = normalized_path_segments(&first.path);
            return Some(root.deepest(&segments).1);
        }
    }
    Some(root.mark)
}

fn field_name(info: &KindInfo, field: &str) -> Option<&'static str> {
    info.fields
        .iter()
        .find(|(f, _)| *f == field)
        .map(|(f, _)| *f)
}

/// Splits a normalized path (`$['a']['b'][0]`, RFC 9535) into its segments.
fn normalized_path_segments(path: &str) -> Vec<String> {
    let mut segments = Vec::new();
    let mut chars = path.strip_prefix('$').unwrap_or(path).chars().peekable();
    while let Some(c) = chars.next() {
        if c != '[' {
            continue;
        }
        let mut segment = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => segment.extend(chars.next()),
                    '\'' => break,
                    c => segment.push(c),
                }
            }
        } else {
            segment.extend(chars.by_ref().take_while(|c| *c != ']'));
        }
        segments.push(segment);
    }
    segments
}

impl From<&str> for Node {
    fn from(s: &str) -> Node {
        Node::string(s)
    }
}

impl From<String> for Node {
    fn from(s: String) -> Node {
        Node::string(s)
    }
}

impl From<bool> for Node {
    fn from(b: bool) -> Node {
        Node::scalar(b.to_string(), ScalarKind::Bool(b))
    }
}

impl From<i64> for Node {
    fn from(i: i64) -> Node {
        Node::scalar(i.to_string(), ScalarKind::Int(i))
    }
}

impl From<f64> for Node {
    fn from(f: f64) -> Node {
        Node::scalar(f.to_string(), ScalarKind::Float(f))
    }
}

impl From<Vec<Node>> for Node {
    fn from(items: Vec<Node>) -> Node {
        Node {
            value: NodeValue::Seq(items),
            mark: Mark::default(),
        }
    }
}

/// Lets `jsonpath-rust` query the positioned tree directly, with no conversion.
impl Queryable for Node {
    fn get(&self, key: &str) -> Option<&Self> {
        Node::get(self, key)
    }

    fn as_array(&self) -> Option<&Vec<Self>> {
        match &self.value {
            NodeValue::Seq(items) => Some(items),
            _ => None,
        }
    }

    fn as_object(&self) -> Option<Vec<(&str, &Self)>> {
        self.entries()
            .map(|entries| entries.iter().map(|e| (e.key.as_str(), &e.value)).collect())
    }

    fn as_str(&self) -> Option<&str> {
        Node::as_str(self)
    }

    fn as_i64(&self) -> Option<i64> {
        match &self.value {
            NodeValue::Scalar(s) => match s.kind {
                ScalarKind::Int(i) => Some(i),
                _ => None,
            },
            _ => None,
        }
    }

    fn as_f64(&self) -> Option<f64> {
        match &self.value {
            NodeValue::Scalar(s) => match s.kind {
                ScalarKind::Float(f) => Some(f),
                ScalarKind::Int(i) => Some(i as f64),
                _ => None,
            },
            _ => None,
        }
    }

    fn as_bool(&self) -> Option<bool> {
        match &self.value {
            NodeValue::Scalar(s) => match s.kind {
                ScalarKind::Bool(b) => Some(b),
                _ => None,
            },
            _ => None,
        }
    }

    fn null() -> Self {
        Node::null()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{parse_documents, ReadLimits};

    const SERVICE: &str = "apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: s
  labels:
    cloud.googleapis.com/location: europe-west1
spec:
  template:
    metadata:
      annotations:
        run.googleapis.com/encryption-key: projects/p/locations/europe-west1/keyRings/r/cryptoKeys/k
";

    const RUN_JOB: &str = "apiVersion: run.cnrm.cloud.google.com/v1beta1
kind: RunJob
metadata:
  name: j
spec:
  location: us-central1
  template:
    template:
      containers: []
";

    fn root(text: &str) -> Node {
        parse_documents(text, &ReadLimits::default())
            .unwrap()
            .remove(0)
            .root
    }

    #[test]
    fn every_table_path_compiles() {
        assert!(compiled().len() >= 30);
        // Every row is a chain of names, which `field` follows without the query engine.
        assert!(compiled().values().all(|q| q.keys.is_some()));
        for info in KINDS {
            for (name, _) in info.fields {
                assert!(FIELDS.contains(name), "{name} is not in FIELDS");
            }
        }
    }

    #[test]
    fn fields_and_their_lines() {
        let service = root(SERVICE);
        let job = root(RUN_JOB);
        let g = "serving.knative.dev";
        let c = "run.cnrm.cloud.google.com";
        type Case<'a> = (&'a Node, &'a str, &'a str, &'a str, Option<&'a str>, u32);
        let cases: &[Case] = &[
            (&service, g, "Service", "region", Some("europe-west1"), 6),
            (
                &service,
                g,
                "Service",
                "key",
                Some("projects/p/locations/europe-west1/keyRings/r/cryptoKeys/k"),
                11,
            ),
            (&service, g, "Service", "misplacedKey", None, 3),
            (&service, g, "Service", "revocationAction", None, 10),
            (&service, g, "Service", "templateLabels", None, 9),
            (&job, c, "RunJob", "region", Some("us-central1"), 6),
            (&job, c, "RunJob", "key", None, 8),
        ];
        for (node, group, kind, name, value, line) in cases {
            assert_eq!(
                field(node, group, kind, name).and_then(Node::as_str),
                *value,
                "{kind} {name}"
            );
            assert_eq!(
                field_mark(node, group, kind, name).unwrap().line,
                *line,
                "{kind} {name}"
            );
        }
        assert!(field(&service, "apps", "Deployment", "key").is_none());
        // Following the keys finds what the query finds, for every row, in documents that have
        // the field, lack it, or hold a list or a scalar where a map is expected.
        let odd =
            root("apiVersion: v1\nkind: X\nmetadata: [a]\nspec:\n  template: x\n  location: [1]\n");
        for node in [&service, &job, &odd] {
            for query in compiled().values() {
                let walked = query
                    .keys
                    .as_ref()
                    .unwrap()
                    .iter()
                    .try_fold(node, |n, key| n.get(key));
                let found = jsonpath_rust::query::js_path_process(&query.query, node).unwrap();
                let queried = found.into_iter().next().map(|f| f.val);
                assert!(
                    walked.map(std::ptr::from_ref) == queried.map(std::ptr::from_ref),
                    "{}",
                    query.query
                );
            }
        }
    }

    #[test]
    fn plurals() {
        let cases = [
            ("serving.knative.dev", "Service", "services"),
            ("run.googleapis.com", "WorkerPool", "workerpools"),
            ("example.com", "Policy", "policies"),
            ("example.com", "Ingress", "ingresses"),
            ("example.com", "Gateway", "gateways"),
        ];
        for (group, kind, plural) in cases {
            assert_eq!(resource_for(group, kind), plural);
        }
    }

    #[test]
    fn normalized_paths_split() {
        assert_eq!(
            normalized_path_segments("$['a']['b.c/d'][3]['it\\'s']"),
            vec!["a", "b.c/d", "3", "it's"]
        );
    }
}
