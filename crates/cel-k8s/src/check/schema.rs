//! `object`, `oldObject` and `params` typed from OpenAPI v3 schemas, as Kubernetes' type
//! checking types them (k8s.io/apiserver/pkg/cel/common/schemas.go, `SchemaDeclType`):
//!
//! - `properties` make a record whose fields are the properties that have a type (names
//!   escaped as Kubernetes escapes them: `x-y` is `x__dash__y`);
//! - `additionalProperties` with a schema make `map(string, T)`, `items` make `list(T)`;
//! - `x-kubernetes-int-or-string` is `dyn`; `integer` is `int`, `number` is `double`,
//!   `boolean` is `bool`; strings of format `byte`, `duration`, `date` and `date-time` are
//!   `bytes`, `duration` and `timestamp`;
//! - the root of a resource (and an `x-kubernetes-embedded-resource`) always has `kind` and
//!   `apiVersion`, and its `metadata` is `ObjectMeta`, as the API server's published schema
//!   for every kind, custom resources included, gives it.
//!
//! `x-kubernetes-preserve-unknown-fields` is ignored, as Kubernetes ignores it: an object that
//! keeps unknown fields has only its declared ones, and reading another is `undefined field`
//! (verified against kube-apiserver 1.37's type checking: `object.spec.template` of Knative's
//! Service CRD, whose `spec` keeps unknown fields, is `undefined field 'template'`).
//! [`Rules::preserve_unknown_fields_as_dyn`] types such an object `dyn` instead, for a check
//! that lets a policy read what a schemaless CRD leaves undeclared.

use super::kube::object;
use crate::types::{ObjectType, Type};
use serde_json::Value;
use std::sync::Arc;

/// How a schema becomes a type where a check may choose to differ from Kubernetes. The
/// default is Kubernetes' rules.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rules {
    /// An object with `x-kubernetes-preserve-unknown-fields: true` is `dyn` (Kubernetes: only
    /// its declared properties).
    pub preserve_unknown_fields_as_dyn: bool,
}

impl Rules {
    /// Kubernetes' rules, except that objects keeping unknown fields are `dyn`.
    pub fn preserve_unknown_fields_as_dyn() -> Rules {
        Rules {
            preserve_unknown_fields_as_dyn: true,
        }
    }
}

/// The type of a resource described by an `openAPIV3Schema`, named `object` in messages.
pub fn object_type(schema: &Value) -> Type {
    declared_type(schema, "object", Rules::default())
}

/// The type of a resource described by an `openAPIV3Schema`, its records named from `name`
/// (`Service`, `Service.spec`, ...); `dyn` for a schema Kubernetes would not expose.
pub fn declared_type(schema: &Value, name: &str, rules: Rules) -> Type {
    convert(schema, name, true, rules).unwrap_or(Type::Dyn)
}

/// The `openAPIV3Schema` of a CustomResourceDefinition's version: the one named, else the
/// storage version.
pub fn crd_schema<'v>(crd: &'v Value, version: Option<&str>) -> Option<&'v Value> {
    let versions = crd.pointer("/spec/versions")?.as_array()?;
    let chosen = versions.iter().find(|v| match version {
        Some(name) => v.get("name").and_then(Value::as_str) == Some(name),
        None => v.get("storage").and_then(Value::as_bool) == Some(true),
    })?;
    chosen.pointer("/schema/openAPIV3Schema")
}

fn flag(schema: &Value, key: &str) -> bool {
    schema.get(key).and_then(Value::as_bool) == Some(true)
}

/// `SchemaDeclType`: `None` where Kubernetes does not expose the value.
fn convert(schema: &Value, name: &str, resource_root: bool, rules: Rules) -> Option<Type> {
    if flag(schema, "x-kubernetes-int-or-string") {
        return Some(Type::Dyn);
    }
    let has_properties = schema.get("properties").is_some_and(Value::is_object);
    if rules.preserve_unknown_fields_as_dyn && flag(schema, "x-kubernetes-preserve-unknown-fields")
    {
        return Some(Type::Dyn);
    }
    let kind =
        schema
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or(if resource_root || has_properties {
                "object"
            } else {
                ""
            });
    match kind {
        "array" => {
            let items = schema.get("items")?;
            let embedded = flag(items, "x-kubernetes-embedded-resource");
            convert(items, &format!("{name}.@items"), embedded, rules).map(Type::list)
        }
        "object" => {
            if let Some(values) = schema.get("additionalProperties").filter(|v| v.is_object()) {
                let embedded = flag(values, "x-kubernetes-embedded-resource");
                return convert(values, &format!("{name}.@values"), embedded, rules)
                    .map(|t| Type::map(Type::String, t));
            }
            Some(record(schema, name, resource_root, rules))
        }
        "string" => Some(match schema.get("format").and_then(Value::as_str) {
            Some("byte") => Type::Bytes,
            Some("duration") => Type::Duration,
            Some("date" | "date-time") => Type::Timestamp,
            _ => Type::String,
        }),
        "boolean" => Some(Type::Bool),
        "number" => Some(Type::Double),
        "integer" => Some(Type::Int),
        _ => None,
    }
}

fn record(schema: &Value, name: &str, resource_root: bool, rules: Rules) -> Type {
    let mut fields: Vec<(String, Type)> = Vec::new();
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        for (property, sub) in properties {
            if resource_root && matches!(property.as_str(), "metadata" | "kind" | "apiVersion") {
                continue;
            }
            let embedded = flag(sub, "x-kubernetes-embedded-resource");
            let Some(field_name) = escape(property) else {
                continue;
            };
            if let Some(t) = convert(sub, &format!("{name}.{property}"), embedded, rules) {
                fields.push((field_name, t));
            }
        }
    }
    if resource_root {
        fields.push(("kind".to_owned(), Type::String));
        fields.push(("apiVersion".to_owned(), Type::String));
        fields.push(("metadata".to_owned(), object_meta()));
    }
    fields.sort_by(|a, b| a.0.cmp(&b.0));
    Type::Object(Arc::new(ObjectType {
        name: name.to_owned(),
        fields,
    }))
}

/// `io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta`, as its OpenAPI schema types it.
pub fn object_meta() -> Type {
    let strings = || Type::list(Type::String);
    let owner = object(
        "io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference",
        vec![
            ("apiVersion", Type::String),
            ("kind", Type::String),
            ("name", Type::String),
            ("uid", Type::String),
            ("controller", Type::Bool),
            ("blockOwnerDeletion", Type::Bool),
        ],
    );
    let managed = object(
        "io.k8s.apimachinery.pkg.apis.meta.v1.ManagedFieldsEntry",
        vec![
            ("manager", Type::String),
            ("operation", Type::String),
            ("apiVersion", Type::String),
            ("time", Type::Timestamp),
            ("fieldsType", Type::String),
            ("fieldsV1", Type::Dyn),
            ("subresource", Type::String),
        ],
    );
    object(
        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
        vec![
            ("name", Type::String),
            ("generateName", Type::String),
            ("namespace", Type::String),
            ("selfLink", Type::String),
            ("uid", Type::String),
            ("resourceVersion", Type::String),
            ("generation", Type::Int),
            ("creationTimestamp", Type::Timestamp),
            ("deletionTimestamp", Type::Timestamp),
            ("deletionGracePeriodSeconds", Type::Int),
            ("labels", Type::map(Type::String, Type::String)),
            ("annotations", Type::map(Type::String, Type::String)),
            ("ownerReferences", Type::list(owner)),
            ("finalizers", strings()),
            ("managedFields", Type::list(managed)),
        ],
    )
}

const RESERVED: [&str; 21] = [
    "true",
    "false",
    "null",
    "in",
    "as",
    "break",
    "const",
    "continue",
    "else",
    "for",
    "function",
    "if",
    "import",
    "let",
    "loop",
    "package",
    "namespace",
    "return",
    "var",
    "void",
    "while",
];

/// A property name as CEL reads it (k8s.io/apiserver/pkg/cel/escaping.go), or `None` when it
/// cannot be written.
pub fn escape(name: &str) -> Option<String> {
    if RESERVED.contains(&name) {
        return Some(format!("__{name}__"));
    }
    let mut chars = name.chars();
    let first = chars.next()?;
    if !(first.is_ascii_alphabetic() || first == '_') {
        return None;
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/'))
    {
        return None;
    }
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while !rest.is_empty() {
        if let Some(tail) = rest.strip_prefix("__") {
            out.push_str("__underscores__");
            rest = tail;
            continue;
        }
        let c = rest.chars().next().unwrap_or('_');
        match c {
            '.' => out.push_str("__dot__"),
            '-' => out.push_str("__dash__"),
            '/' => out.push_str("__slash__"),
            c => out.push(c),
        }
        rest = &rest[c.len_utf8()..];
    }
    Some(out)
}
