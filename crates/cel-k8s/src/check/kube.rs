//! The types Kubernetes declares for admission expressions (k8s.io/apiserver/pkg/admission/
//! plugin/cel/compile.go: `BuildRequestType`, `BuildNamespaceType`) and the type names an
//! expression may write (`int`, `map`, `google.protobuf.Timestamp`, ...).

use crate::types::{ObjectType, Type};
use std::sync::Arc;

/// A record type with these fields.
pub(crate) fn object(name: &str, fields: Vec<(&str, Type)>) -> Type {
    let mut fields: Vec<(String, Type)> =
        fields.into_iter().map(|(n, t)| (n.to_owned(), t)).collect();
    fields.sort_by(|a, b| a.0.cmp(&b.0));
    Type::Object(Arc::new(ObjectType {
        name: name.to_owned(),
        fields,
    }))
}

fn strings() -> Type {
    Type::list(Type::String)
}

fn string_map() -> Type {
    Type::map(Type::String, Type::String)
}

/// `request`: `kubernetes.AdmissionRequest`.
pub fn request_type() -> Type {
    let gvk = object(
        "kubernetes.GroupVersionKind",
        vec![
            ("group", Type::String),
            ("version", Type::String),
            ("kind", Type::String),
        ],
    );
    let gvr = object(
        "kubernetes.GroupVersionResource",
        vec![
            ("group", Type::String),
            ("version", Type::String),
            ("resource", Type::String),
        ],
    );
    let user_info = object(
        "kubernetes.UserInfo",
        vec![
            ("username", Type::String),
            ("uid", Type::String),
            ("groups", strings()),
            ("extra", Type::map(Type::String, strings())),
        ],
    );
    object(
        "kubernetes.AdmissionRequest",
        vec![
            ("kind", gvk.clone()),
            ("resource", gvr.clone()),
            ("subResource", Type::String),
            ("requestKind", gvk),
            ("requestResource", gvr),
            ("requestSubResource", Type::String),
            ("name", Type::String),
            ("namespace", Type::String),
            ("operation", Type::String),
            ("userInfo", user_info),
            ("dryRun", Type::Bool),
            ("options", Type::Dyn),
        ],
    )
}

/// `namespaceObject`: `kubernetes.Namespace` (no managedFields or ownerReferences, by design,
/// and `UID` spelt as Kubernetes spells it there).
pub fn namespace_type() -> Type {
    let spec = object("kubernetes.NamespaceSpec", vec![("finalizers", strings())]);
    let condition = object(
        "kubernetes.NamespaceCondition",
        vec![
            ("status", Type::String),
            ("type", Type::String),
            ("lastTransitionTime", Type::Timestamp),
            ("message", Type::String),
            ("reason", Type::String),
        ],
    );
    let status = object(
        "kubernetes.NamespaceStatus",
        vec![
            ("conditions", Type::list(condition)),
            ("phase", Type::String),
        ],
    );
    let metadata = object(
        "kubernetes.NamespaceMetadata",
        vec![
            ("name", Type::String),
            ("generateName", Type::String),
            ("namespace", Type::String),
            ("labels", string_map()),
            ("annotations", string_map()),
            ("UID", Type::String),
            ("creationTimestamp", Type::Timestamp),
            ("deletionGracePeriodSeconds", Type::Int),
            ("deletionTimestamp", Type::Timestamp),
            ("generation", Type::Int),
            ("resourceVersion", Type::String),
            ("finalizers", strings()),
        ],
    );
    object(
        "kubernetes.Namespace",
        vec![("metadata", metadata), ("spec", spec), ("status", status)],
    )
}

/// The type a type name denotes (`string` is `type(string)`'s value), if it is one.
pub(crate) fn type_name(name: &str) -> Option<Type> {
    Some(match name {
        "bool" => Type::Bool,
        "int" => Type::Int,
        "uint" => Type::Uint,
        "double" => Type::Double,
        "string" => Type::String,
        "bytes" => Type::Bytes,
        "null_type" => Type::Null,
        "list" => Type::list(Type::Dyn),
        "map" => Type::map(Type::Dyn, Type::Dyn),
        "type" => Type::Type(None),
        // `dyn` is a function, not a type name cel-go declares: `dyn` alone is undeclared.
        "optional_type" => Type::optional(Type::Dyn),
        "google.protobuf.Duration" => Type::Duration,
        "google.protobuf.Timestamp" => Type::Timestamp,
        "kubernetes.Quantity" => Type::Opaque(super::decls::QUANTITY),
        "kubernetes.URL" => Type::Opaque(super::decls::URL),
        "kubernetes.Semver" => Type::Opaque(super::decls::SEMVER),
        "net.IP" => Type::Opaque(super::decls::IP),
        "net.CIDR" => Type::Opaque(super::decls::CIDR),
        _ => return None,
    })
}
