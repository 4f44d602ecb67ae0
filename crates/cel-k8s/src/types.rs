//! CEL types as Kubernetes' type checker sees them.
//!
//! Objects typed from an OpenAPI schema are [`Type::Object`]: a named record whose fields have
//! types of their own, as cel-go's `DeclType` gives `object`, `oldObject` and `params`. Where
//! Kubernetes would say `dyn` (`x-kubernetes-preserve-unknown-fields`, `int-or-string`), so do we.

use std::fmt;
use std::sync::Arc;

/// A CEL type.
#[derive(Debug, Clone, PartialEq)]
pub enum Type {
    Dyn,
    Null,
    Bool,
    Int,
    Uint,
    Double,
    String,
    Bytes,
    Duration,
    Timestamp,
    List(Arc<Type>),
    Map(Arc<Type>, Arc<Type>),
    Optional(Arc<Type>),
    /// The type of a type value (`type(x)`, `string`, `map`); the parameter when known.
    Type(Option<Arc<Type>>),
    /// A record typed from a schema: its name (for messages) and fields, sorted by name.
    Object(Arc<ObjectType>),
    /// A value type of a library (`kubernetes.Quantity`, `net.IP`, `kubernetes.URL`, ...).
    Opaque(&'static str),
    /// A type parameter of an overload (`A` in `list(A).size()`), only inside declarations.
    Param(&'static str),
    /// The type of an erroneous expression, after its error was reported.
    Error,
}

/// A record type from a schema.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectType {
    /// The name messages use (`object`, `Service.spec.template`).
    pub name: String,
    /// The fields, sorted by name.
    pub fields: Vec<(String, Type)>,
}

impl ObjectType {
    /// The type of a field, if the schema declares it.
    pub fn field(&self, name: &str) -> Option<&Type> {
        self.fields
            .binary_search_by(|(n, _)| n.as_str().cmp(name))
            .ok()
            .map(|i| &self.fields[i].1)
    }
}

impl Type {
    pub fn list(element: Type) -> Type {
        Type::List(Arc::new(element))
    }

    pub fn map(key: Type, value: Type) -> Type {
        Type::Map(Arc::new(key), Arc::new(value))
    }

    pub fn optional(inner: Type) -> Type {
        Type::Optional(Arc::new(inner))
    }
}

impl fmt::Display for Type {
    /// The type as cel-go prints it in messages: `list(string)`, `map(string, dyn)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Dyn => f.write_str("dyn"),
            Type::Null => f.write_str("null_type"),
            Type::Bool => f.write_str("bool"),
            Type::Int => f.write_str("int"),
            Type::Uint => f.write_str("uint"),
            Type::Double => f.write_str("double"),
            Type::String => f.write_str("string"),
            Type::Bytes => f.write_str("bytes"),
            Type::Duration => f.write_str("google.protobuf.Duration"),
            Type::Timestamp => f.write_str("google.protobuf.Timestamp"),
            Type::List(e) => write!(f, "list({e})"),
            Type::Map(k, v) => write!(f, "map({k}, {v})"),
            Type::Optional(t) => write!(f, "optional_type({t})"),
            Type::Type(None) => f.write_str("type"),
            Type::Type(Some(t)) => write!(f, "type({t})"),
            Type::Object(o) => f.write_str(&o.name),
            Type::Opaque(name) => f.write_str(name),
            Type::Param(name) => f.write_str(name),
            Type::Error => f.write_str("*error*"),
        }
    }
}
