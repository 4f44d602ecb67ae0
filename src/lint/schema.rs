//! The reduced OpenAPI schemas of the kinds the gate knows (`schemas/*.json`, embedded): the
//! fields policies plausibly read of Knative `Service` and `Configuration`, Cloud Run `Job` and
//! `WorkerPool`, and Config Connector `RunService` and `RunJob`, with the bounds
//! (`maxLength`, `maxItems`, `maxProperties`) the cost estimate uses. Pure.
//!
//! A policy's `object` has the schema of every kind its `matchConstraints` select, merged (a
//! field of any of them exists); a policy that can match a kind without a schema has none, and
//! nothing is checked against it.

use crate::cel::size_bound::{MAX_REQUEST_BYTES, UNBOUNDED_ENTRIES, UNBOUNDED_KEY_BYTES};
use crate::cel::SizeBound;
use crate::policy::types::MatchResources;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

const FILES: &[(&str, &str)] = &[
    ("meta.json", include_str!("schemas/meta.json")),
    (
        "serving.knative.dev.json",
        include_str!("schemas/serving.knative.dev.json"),
    ),
    (
        "run.googleapis.com.json",
        include_str!("schemas/run.googleapis.com.json"),
    ),
    (
        "run.cnrm.cloud.google.com.json",
        include_str!("schemas/run.cnrm.cloud.google.com.json"),
    ),
];

/// Deepest `$ref` chain followed (the schemas have no cycles; this bounds a mistake).
const MAX_DEPTH: usize = 32;
const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

/// One node of a schema: an object's properties, a map's values, a list's items, and bounds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Schema {
    pub type_name: Option<String>,
    pub properties: BTreeMap<String, Schema>,
    /// The schema of any other key's value (a map such as `labels`).
    pub additional: Option<Box<Schema>>,
    pub items: Option<Box<Schema>>,
    pub max_items: Option<u64>,
    pub max_length: Option<u64>,
    pub max_properties: Option<u64>,
    pub key_max_length: Option<u64>,
    /// `x-kubernetes-preserve-unknown-fields`: any field, unchecked.
    pub open: bool,
}

/// A kind with a schema.
#[derive(Debug)]
pub struct Kind {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub schema: Schema,
    /// The OpenAPI schema itself, `$ref`s replaced by what they name (for type checking).
    pub openapi: Value,
}

/// What a field name finds in a schema.
#[derive(Debug, PartialEq)]
pub enum Field<'a> {
    Found(&'a Schema),
    /// The schema does not say (an open object, a value of unknown type).
    Unchecked,
    /// Not a field of this object: its fields, to suggest one.
    Unknown(Vec<&'a str>),
}

/// Every kind with a schema.
pub fn kinds() -> &'static [Kind] {
    static KINDS: OnceLock<Vec<Kind>> = OnceLock::new();
    KINDS.get_or_init(|| {
        let components = components();
        let mut kinds = Vec::new();
        for (name, value) in &components {
            let Some(gvks) = value
                .get("x-kubernetes-group-version-kind")
                .and_then(Value::as_array)
            else {
                continue;
            };
            for gvk in gvks {
                let text = |k: &str| gvk.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
                kinds.push(Kind {
                    group: text("group"),
                    version: text("version"),
                    kind: text("kind"),
                    schema: resolve(&components, value, 0)
                        .unwrap_or_else(|| panic!("schema {name} resolves")),
                    openapi: inline(&components, value, 0)
                        .unwrap_or_else(|| panic!("schema {name} resolves")),
                });
            }
        }
        kinds
    })
}

/// `metadata` of any object (a Namespace's, for `namespaceObject`).
pub fn object_meta() -> &'static Schema {
    static META: OnceLock<Schema> = OnceLock::new();
    META.get_or_init(|| {
        let components = components();
        resolve(&components, &components[OBJECT_META], 0).expect("ObjectMeta resolves")
    })
}

fn components() -> BTreeMap<String, Value> {
    let mut all = BTreeMap::new();
    for (file, text) in FILES {
        let document: Value =
            serde_json::from_str(text).unwrap_or_else(|e| panic!("schemas/{file}: {e}"));
        if let Some(schemas) = document["components"]["schemas"].as_object() {
            for (name, schema) in schemas {
                all.insert(name.clone(), schema.clone());
            }
        }
    }
    all
}

fn resolve(components: &BTreeMap<String, Value>, value: &Value, depth: usize) -> Option<Schema> {
    if depth > MAX_DEPTH {
        return None;
    }
    if let Some(reference) = value.get("$ref").and_then(Value::as_str) {
        let name = reference.strip_prefix("#/components/schemas/")?;
        return resolve(components, components.get(name)?, depth + 1);
    }
    let child = |key: &str| match value.get(key) {
        Some(v) if v.is_object() => resolve(components, v, depth + 1).map(Box::new),
        _ => None,
    };
    let number = |key: &str| value.get(key).and_then(Value::as_u64);
    let mut properties = BTreeMap::new();
    if let Some(props) = value.get("properties").and_then(Value::as_object) {
        for (name, schema) in props {
            properties.insert(name.clone(), resolve(components, schema, depth + 1)?);
        }
    }
    Some(Schema {
        type_name: value.get("type").and_then(Value::as_str).map(str::to_owned),
        properties,
        additional: child("additionalProperties"),
        items: child("items"),
        max_items: number("maxItems"),
        max_length: number("maxLength"),
        max_properties: number("maxProperties"),
        key_max_length: value
            .get("propertyNames")
            .and_then(|p| p.get("maxLength"))
            .and_then(Value::as_u64),
        open: value
            .get("x-kubernetes-preserve-unknown-fields")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
}

/// A schema with each `$ref` replaced by the schema it names (`depth` counts the references
/// followed: the schemas have no cycles, and this bounds a mistake).
fn inline(components: &BTreeMap<String, Value>, value: &Value, depth: usize) -> Option<Value> {
    if depth > MAX_DEPTH {
        return None;
    }
    match value {
        Value::Object(map) => {
            if let Some(reference) = map.get("$ref").and_then(Value::as_str) {
                let name = reference.strip_prefix("#/components/schemas/")?;
                return inline(components, components.get(name)?, depth + 1);
            }
            let mut out = serde_json::Map::new();
            for (key, v) in map {
                out.insert(key.clone(), inline(components, v, depth)?);
            }
            Some(Value::Object(out))
        }
        Value::Array(items) => items
            .iter()
            .map(|v| inline(components, v, depth))
            .collect::<Option<Vec<_>>>()
            .map(Value::Array),
        other => Some(other.clone()),
    }
}

/// The kinds a policy with these match constraints selects (their group, version and kind,
/// and their schemas); `None` when it can select a kind without a schema (or selects nothing).
pub fn matched_kinds(constraints: Option<&MatchResources>) -> Option<Vec<&'static Kind>> {
    let all = kinds();
    matched(constraints).map(|indexes| indexes.into_iter().map(|i| &all[i]).collect())
}

/// The schema of `object` for a policy with these match constraints: the kinds it selects,
/// merged; `None` when it can select a kind without a schema (or selects nothing). Merged
/// schemas are kept, one per set of kinds.
pub fn for_match(constraints: Option<&MatchResources>) -> Option<Arc<Schema>> {
    matched(constraints).map(|kinds| merged(&kinds).0)
}

/// The shape (for the cost estimate) of `object` for a policy with these match constraints:
/// [`for_match`]'s, or unknown.
pub fn object_shape(constraints: Option<&MatchResources>) -> SizeBound {
    matched(constraints).map_or(SizeBound::Unknown, |kinds| merged(&kinds).1)
}

/// The indexes (into [`kinds`]) of the kinds the rules select, sorted; `None` when one of them
/// has no schema.
fn matched(constraints: Option<&MatchResources>) -> Option<Vec<usize>> {
    let mut found = Vec::new();
    for rule in &constraints?.resource_rules {
        for group in &rule.api_groups {
            for resource in &rule.resources {
                let index = kinds().iter().position(|k| {
                    k.group == *group
                        && crate::manifest::shape::kind_info(&k.group, &k.kind)
                            .is_some_and(|info| info.resource == resource)
                })?;
                found.push(index);
            }
        }
    }
    found.sort_unstable();
    found.dedup();
    (!found.is_empty()).then_some(found)
}

/// The merged schema of some kinds, and its shape.
fn merged(indexes: &[usize]) -> (Arc<Schema>, SizeBound) {
    type Cache = Mutex<HashMap<Vec<usize>, (Arc<Schema>, SizeBound)>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(found) = cache.lock().ok().and_then(|c| c.get(indexes).cloned()) {
        return found;
    }
    let all = kinds();
    let mut schema = all[indexes[0]].schema.clone();
    for &i in &indexes[1..] {
        schema = schema.union(&all[i].schema);
    }
    let shape = schema.shape();
    let entry = (Arc::new(schema), shape);
    if let Ok(mut c) = cache.lock() {
        c.insert(indexes.to_vec(), entry.clone());
    }
    entry
}

impl Schema {
    /// What `name` is in this object.
    pub fn field(&self, name: &str) -> Field<'_> {
        if let Some(found) = self.properties.get(name) {
            return Field::Found(found);
        }
        if let Some(value) = &self.additional {
            return Field::Found(value);
        }
        let is_object = self.type_name.as_deref() == Some("object");
        if self.open || !is_object || self.properties.is_empty() {
            return Field::Unchecked;
        }
        Field::Unknown(self.properties.keys().map(String::as_str).collect())
    }

    /// Whether this is a map of any keys (labels, annotations).
    pub fn is_map(&self) -> bool {
        self.additional.is_some()
    }

    /// The schema of a value that may be either's: fields of both, the larger bounds.
    pub fn union(&self, other: &Schema) -> Schema {
        // Each node copied once: a field of both merged, a field of one cloned.
        let mut properties: BTreeMap<String, Schema> = self
            .properties
            .iter()
            .map(|(name, mine)| {
                let merged = match other.properties.get(name) {
                    Some(theirs) => mine.union(theirs),
                    None => mine.clone(),
                };
                (name.clone(), merged)
            })
            .collect();
        for (name, theirs) in &other.properties {
            if !self.properties.contains_key(name) {
                properties.insert(name.clone(), theirs.clone());
            }
        }
        let either = |a: &Option<Box<Schema>>, b: &Option<Box<Schema>>| match (a, b) {
            (Some(a), Some(b)) => Some(Box::new(a.union(b))),
            (a, b) => a.clone().or_else(|| b.clone()),
        };
        let larger = |a: Option<u64>, b: Option<u64>| a.zip(b).map(|(a, b)| a.max(b));
        Schema {
            type_name: if self.type_name == other.type_name {
                self.type_name.clone()
            } else {
                None
            },
            properties,
            additional: either(&self.additional, &other.additional),
            items: either(&self.items, &other.items),
            max_items: larger(self.max_items, other.max_items),
            max_length: larger(self.max_length, other.max_length),
            max_properties: larger(self.max_properties, other.max_properties),
            key_max_length: larger(self.key_max_length, other.key_max_length),
            open: self.open || other.open,
        }
    }

    /// The largest value this schema allows, for the cost estimate: bounds it does not give are
    /// those of the request size.
    pub fn shape(&self) -> SizeBound {
        match self.type_name.as_deref() {
            Some("string") => SizeBound::String(self.max_length.unwrap_or(MAX_REQUEST_BYTES)),
            Some("integer" | "number" | "boolean") => SizeBound::Scalar,
            Some("array") => SizeBound::List {
                max: self.max_items.unwrap_or(UNBOUNDED_ENTRIES),
                item: Arc::new(
                    self.items
                        .as_ref()
                        .map_or(SizeBound::Unknown, |i| i.shape()),
                ),
                shared: true,
            },
            Some("object") if !self.open => {
                let other = match &self.additional {
                    Some(value) => Some(Arc::new(value.shape())),
                    None if self.properties.is_empty() => Some(Arc::new(SizeBound::Unknown)),
                    None => None,
                };
                let fields: BTreeMap<String, SizeBound> = self
                    .properties
                    .iter()
                    .map(|(name, schema)| (name.clone(), schema.shape()))
                    .collect();
                SizeBound::Map {
                    max: match &other {
                        Some(_) => self.max_properties.unwrap_or(UNBOUNDED_ENTRIES),
                        None => fields.len() as u64,
                    },
                    key: self.key_max_length.unwrap_or(
                        fields
                            .keys()
                            .map(|k| k.len() as u64)
                            .max()
                            .unwrap_or(UNBOUNDED_KEY_BYTES),
                    ),
                    fields: Arc::new(fields),
                    other,
                    shared: true,
                }
            }
            _ => SizeBound::Unknown,
        }
    }
}

/// The closest of `candidates` to `name`, if close enough to be a typo of it.
pub fn did_you_mean<'a>(name: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(2);
    candidates
        .iter()
        .map(|c| (edit_distance(name, c), *c))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, c)| c)
}

/// Levenshtein distance, counting an adjacent transposition as one edit.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::types::NamedRuleWithOperations;

    fn rules(pairs: &[(&str, &str)]) -> MatchResources {
        MatchResources {
            resource_rules: pairs
                .iter()
                .map(|(g, r)| NamedRuleWithOperations {
                    api_groups: vec![(*g).to_owned()],
                    api_versions: vec!["*".to_owned()],
                    resources: vec![(*r).to_owned()],
                    operations: vec!["CREATE".to_owned()],
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    fn path<'a>(schema: &'a Schema, path: &[&str]) -> Field<'a> {
        let mut node = schema;
        for (i, segment) in path.iter().enumerate() {
            match node.field(segment) {
                Field::Found(next) => node = next,
                other if i + 1 == path.len() => return other,
                _ => return Field::Unchecked,
            }
            if i + 1 < path.len() {
                if let Some(items) = &node.items {
                    node = items;
                }
            }
        }
        Field::Found(node)
    }

    #[test]
    fn every_kind_resolves() {
        let names: Vec<String> = kinds()
            .iter()
            .map(|k| format!("{}/{} {}", k.group, k.version, k.kind))
            .collect();
        assert_eq!(
            names,
            [
                "run.cnrm.cloud.google.com/v1beta1 RunJob",
                "run.cnrm.cloud.google.com/v1beta1 RunService",
                "run.googleapis.com/v1 Job",
                "run.googleapis.com/v1 WorkerPool",
                "serving.knative.dev/v1 Configuration",
                "serving.knative.dev/v1 Service",
            ]
        );
    }

    #[test]
    fn fields_of_the_kinds_a_policy_matches() {
        let knative = for_match(Some(&rules(&[("serving.knative.dev", "services")]))).unwrap();
        let both = for_match(Some(&rules(&[
            ("serving.knative.dev", "services"),
            ("run.cnrm.cloud.google.com", "runjobs"),
        ])))
        .unwrap();
        let found = |s: &Schema, p: &[&str]| matches!(path(s, p), Field::Found(_));
        assert!(found(
            &knative,
            &["spec", "template", "metadata", "annotations", "x"]
        ));
        assert!(found(
            &knative,
            &["spec", "template", "spec", "containers", "image"]
        ));
        assert!(!found(&knative, &["spec", "template", "template"]));
        assert!(found(
            &both,
            &["spec", "template", "template", "encryptionKeyRef"]
        ));
        assert!(
            found(&both, &["status", "anything"])
                || path(&both, &["status", "x"]) == Field::Unchecked
        );
        match path(&knative, &["metadata", "anotations"]) {
            Field::Unknown(fields) => {
                assert_eq!(did_you_mean("anotations", &fields), Some("annotations"))
            }
            other => panic!("{other:?}"),
        }
        // Anything that can match a kind without a schema: no schema.
        for unknown in [
            ("*", "services"),
            ("serving.knative.dev", "*"),
            ("", "pods"),
        ] {
            assert!(for_match(Some(&rules(&[unknown]))).is_none(), "{unknown:?}");
        }
        assert!(for_match(None).is_none());
    }

    #[test]
    fn shapes_carry_the_bounds() {
        let knative = for_match(Some(&rules(&[("serving.knative.dev", "services")]))).unwrap();
        let shape = knative.shape();
        let labels = shape.select("metadata").select("labels");
        assert_eq!(labels.entries(), 64);
        assert_eq!(labels.select("x"), SizeBound::String(63));
        let containers = shape
            .select("spec")
            .select("template")
            .select("spec")
            .select("containers");
        assert_eq!(containers.entries(), 10);
    }

    #[test]
    fn suggestions_are_close_names() {
        let names = ["annotations", "labels", "name", "namespace"];
        let cases = [
            ("anotations", Some("annotations")),
            ("lables", Some("labels")),
            ("nmae", Some("name")),
            ("owner", None),
        ];
        for (typo, expected) in cases {
            assert_eq!(did_you_mean(typo, &names), expected, "{typo}");
        }
    }
}
