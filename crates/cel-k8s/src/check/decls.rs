//! The signature of every overload of every function an expression may call: cel-go's standard
//! library and its `ext` libraries as Kubernetes enables them, and Kubernetes' own libraries
//! (k8s.io/apiserver/pkg/cel/library), with the same parameter and result types.
//!
//! Each overload is written as its signature, `name(T, U) -> R` for a global function or
//! `T.name(U) -> R` for a receiver-style one; type parameters are single capitals (`A`, `K`,
//! `V`). The signature text is the overload's identity in [`super::Checked::overloads`].

use crate::profile::{Extension, Feature};
use crate::types::Type;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

/// One overload: its call style, parameter types (the receiver first) and result.
#[derive(Debug)]
pub struct Overload {
    pub signature: &'static str,
    /// What a target must offer for it to be declared (see [`feature_of`]); `None`: every
    /// release the gate targets has it.
    pub feature: Option<Feature>,
    pub receiver: bool,
    pub params: Vec<Type>,
    pub result: Type,
}

/// The opaque types of the Kubernetes libraries, by the names cel-go prints.
pub const QUANTITY: &str = "kubernetes.Quantity";
pub const URL: &str = "kubernetes.URL";
pub const SEMVER: &str = "kubernetes.Semver";
pub const NAMED_FORMAT: &str = "kubernetes.NamedFormat";
pub const IP: &str = "net.IP";
pub const CIDR: &str = "net.CIDR";

const COMPARISONS: [&str; 4] = ["_<_", "_<=_", "_>_", "_>=_"];
const COMPARABLE_PAIRS: [(&str, &str); 14] = [
    ("bool", "bool"),
    ("int", "int"),
    ("int", "uint"),
    ("int", "double"),
    ("uint", "uint"),
    ("uint", "int"),
    ("uint", "double"),
    ("double", "double"),
    ("double", "int"),
    ("double", "uint"),
    ("string", "string"),
    ("bytes", "bytes"),
    ("timestamp", "timestamp"),
    ("duration", "duration"),
];

/// Signatures written out once; the comparison operators and Kubernetes' templated list
/// functions are generated from their type lists in [`functions`].
const SIGNATURES: &[&str] = &[
    // Operators.
    "!_(bool) -> bool",
    "-_(int) -> int",
    "-_(double) -> double",
    "_&&_(bool, bool) -> bool",
    "_||_(bool, bool) -> bool",
    "_?_:_(bool, A, A) -> A",
    "@not_strictly_false(bool) -> bool",
    "_==_(A, A) -> bool",
    "_!=_(A, A) -> bool",
    "_+_(int, int) -> int",
    "_+_(uint, uint) -> uint",
    "_+_(double, double) -> double",
    "_+_(string, string) -> string",
    "_+_(bytes, bytes) -> bytes",
    "_+_(list(A), list(A)) -> list(A)",
    "_+_(timestamp, duration) -> timestamp",
    "_+_(duration, timestamp) -> timestamp",
    "_+_(duration, duration) -> duration",
    "_-_(int, int) -> int",
    "_-_(uint, uint) -> uint",
    "_-_(double, double) -> double",
    "_-_(timestamp, timestamp) -> duration",
    "_-_(timestamp, duration) -> timestamp",
    "_-_(duration, duration) -> duration",
    "_*_(int, int) -> int",
    "_*_(uint, uint) -> uint",
    "_*_(double, double) -> double",
    "_/_(int, int) -> int",
    "_/_(uint, uint) -> uint",
    "_/_(double, double) -> double",
    "_%_(int, int) -> int",
    "_%_(uint, uint) -> uint",
    "_[_](list(A), int) -> A",
    "_[_](map(K, V), K) -> V",
    "_[_](optional(list(V)), int) -> optional(V)",
    "_[_](optional(map(K, V)), K) -> optional(V)",
    "_[?_](list(V), int) -> optional(V)",
    "_[?_](map(K, V), K) -> optional(V)",
    "_[?_](optional(list(V)), int) -> optional(V)",
    "_[?_](optional(map(K, V)), K) -> optional(V)",
    "@in(A, list(A)) -> bool",
    "@in(A, map(A, B)) -> bool",
    // Standard functions.
    "size(string) -> int",
    "size(bytes) -> int",
    "size(list(A)) -> int",
    "size(map(K, V)) -> int",
    "string.size() -> int",
    "bytes.size() -> int",
    "list(A).size() -> int",
    "map(K, V).size() -> int",
    "type(A) -> type(A)",
    "dyn(A) -> dyn",
    "int(int) -> int",
    "int(uint) -> int",
    "int(double) -> int",
    "int(string) -> int",
    "int(timestamp) -> int",
    "int(duration) -> int",
    "uint(uint) -> uint",
    "uint(int) -> uint",
    "uint(double) -> uint",
    "uint(string) -> uint",
    "double(double) -> double",
    "double(int) -> double",
    "double(uint) -> double",
    "double(string) -> double",
    "string(string) -> string",
    "string(int) -> string",
    "string(uint) -> string",
    "string(double) -> string",
    "string(bytes) -> string",
    "string(bool) -> string",
    "string(timestamp) -> string",
    "string(duration) -> string",
    "bytes(bytes) -> bytes",
    "bytes(string) -> bytes",
    "bool(bool) -> bool",
    "bool(string) -> bool",
    "duration(duration) -> duration",
    "duration(string) -> duration",
    "timestamp(timestamp) -> timestamp",
    "timestamp(string) -> timestamp",
    "timestamp(int) -> timestamp",
    "string.contains(string) -> bool",
    "string.startsWith(string) -> bool",
    "string.endsWith(string) -> bool",
    "string.matches(string) -> bool",
    "matches(string, string) -> bool",
    // Optional values.
    "optional.of(V) -> optional(V)",
    "optional.ofNonZeroValue(V) -> optional(V)",
    "optional.none() -> optional(V)",
    "optional(V).value() -> V",
    "optional(V).hasValue() -> bool",
    "optional(V).or(optional(V)) -> optional(V)",
    "optional(V).orValue(V) -> V",
    "list(V).first() -> optional(V)",
    "list(V).last() -> optional(V)",
    "optional.unwrap(list(optional(V))) -> list(V)",
    "list(optional(V)).unwrapOpt() -> list(V)",
    // ext.Strings.
    "string.charAt(int) -> string",
    "string.indexOf(string) -> int",
    "string.indexOf(string, int) -> int",
    "string.lastIndexOf(string) -> int",
    "string.lastIndexOf(string, int) -> int",
    "string.lowerAscii() -> string",
    "string.upperAscii() -> string",
    "string.replace(string, string) -> string",
    "string.replace(string, string, int) -> string",
    "string.split(string) -> list(string)",
    "string.split(string, int) -> list(string)",
    "string.substring(int) -> string",
    "string.substring(int, int) -> string",
    "string.trim() -> string",
    "list(string).join() -> string",
    "list(string).join(string) -> string",
    "string.format(list(dyn)) -> string",
    "strings.quote(string) -> string",
    // ext.Lists.
    "list(A).slice(int, int) -> list(A)",
    "list(list(A)).flatten() -> list(A)",
    "list(dyn).flatten(int) -> list(dyn)",
    "list(A).distinct() -> list(A)",
    "list(A).reverse() -> list(A)",
    "lists.range(int) -> list(int)",
    // Kubernetes lists (isSorted, sum, min and max are generated per element type).
    "list(A).indexOf(A) -> int",
    "list(A).lastIndexOf(A) -> int",
    "dyn.includes(dyn) -> bool",
    // ext.Sets.
    "sets.contains(list(A), list(A)) -> bool",
    "sets.equivalent(list(A), list(A)) -> bool",
    "sets.intersects(list(A), list(A)) -> bool",
    // Kubernetes regex.
    "string.find(string) -> string",
    "string.findAll(string) -> list(string)",
    "string.findAll(string, int) -> list(string)",
    // Kubernetes URLs.
    "url(string) -> kubernetes.URL",
    "isURL(string) -> bool",
    "kubernetes.URL.getScheme() -> string",
    "kubernetes.URL.getHost() -> string",
    "kubernetes.URL.getHostname() -> string",
    "kubernetes.URL.getPort() -> string",
    "kubernetes.URL.getEscapedPath() -> string",
    "kubernetes.URL.getQuery() -> map(string, list(string))",
    // Kubernetes quantities.
    "quantity(string) -> kubernetes.Quantity",
    "isQuantity(string) -> bool",
    "kubernetes.Quantity.isInteger() -> bool",
    "kubernetes.Quantity.asInteger() -> int",
    "kubernetes.Quantity.asApproximateFloat() -> double",
    "kubernetes.Quantity.add(kubernetes.Quantity) -> kubernetes.Quantity",
    "kubernetes.Quantity.add(int) -> kubernetes.Quantity",
    "kubernetes.Quantity.sub(kubernetes.Quantity) -> kubernetes.Quantity",
    "kubernetes.Quantity.sub(int) -> kubernetes.Quantity",
    "kubernetes.Quantity.isLessThan(kubernetes.Quantity) -> bool",
    "kubernetes.Quantity.isGreaterThan(kubernetes.Quantity) -> bool",
    "kubernetes.Quantity.compareTo(kubernetes.Quantity) -> int",
    "sign(kubernetes.Quantity) -> int",
    // Kubernetes IP addresses and CIDR ranges.
    "ip(string) -> net.IP",
    "isIP(string) -> bool",
    "ip.isCanonical(string) -> bool",
    "string(net.IP) -> string",
    "net.IP.family() -> int",
    "net.IP.isUnspecified() -> bool",
    "net.IP.isLoopback() -> bool",
    "net.IP.isLinkLocalMulticast() -> bool",
    "net.IP.isLinkLocalUnicast() -> bool",
    "net.IP.isGlobalUnicast() -> bool",
    "cidr(string) -> net.CIDR",
    "isCIDR(string) -> bool",
    "string(net.CIDR) -> string",
    "net.CIDR.containsIP(net.IP) -> bool",
    "net.CIDR.containsIP(string) -> bool",
    "net.CIDR.containsCIDR(net.CIDR) -> bool",
    "net.CIDR.containsCIDR(string) -> bool",
    "net.CIDR.ip() -> net.IP",
    "net.CIDR.masked() -> net.CIDR",
    "net.CIDR.prefixLength() -> int",
    // Kubernetes semantic versions.
    "semver(string) -> kubernetes.Semver",
    "semver(string, bool) -> kubernetes.Semver",
    "isSemver(string) -> bool",
    "isSemver(string, bool) -> bool",
    "kubernetes.Semver.major() -> int",
    "kubernetes.Semver.minor() -> int",
    "kubernetes.Semver.patch() -> int",
    "kubernetes.Semver.isLessThan(kubernetes.Semver) -> bool",
    "kubernetes.Semver.isGreaterThan(kubernetes.Semver) -> bool",
    "kubernetes.Semver.compareTo(kubernetes.Semver) -> int",
    // Kubernetes named formats (the format.NAME() functions are generated).
    "format.named(string) -> optional(kubernetes.NamedFormat)",
    "kubernetes.NamedFormat.validate(string) -> optional(list(string))",
    // Helpers of macro expansions: cel-go's two-variable comprehensions, and ours (the `cel`
    // crate's adapter in the main crate).
    "cel.@mapInsert(map(K, V), K, V) -> map(K, V)",
    "cel.@mapInsert(map(K, V), map(K, V)) -> map(K, V)",
    "@pairs(dyn) -> list(list(dyn))",
    "@mapFromPairs(list(dyn)) -> map(dyn, dyn)",
    "@mergeMapEntries(list(dyn)) -> map(dyn, dyn)",
];

/// What cmek-gate offers beyond Kubernetes' environment (kube-apiserver 1.37's, verified:
/// `testdata/kubernetes`): ext.Math, ext.Encoders, ext.Strings' `reverse` (version 3), a
/// receiver-style `Quantity.sign()`, and JSON Patch's `escapeKey` outside a mutation. Each is
/// declared only where its extension is asked for ([`feature_of`]); `escapeKey` in a mutation,
/// `Quantity.sign()` nowhere.
const EXTENDED_SIGNATURES: &[&str] = &[
    "string.reverse() -> string",
    "kubernetes.Quantity.sign() -> int",
    "jsonpatch.escapeKey(string) -> string",
    "base64.encode(bytes) -> string",
    "base64.decode(string) -> bytes",
    "math.abs(int) -> int",
    "math.abs(uint) -> uint",
    "math.abs(double) -> double",
    "math.sign(int) -> int",
    "math.sign(uint) -> uint",
    "math.sign(double) -> double",
    "math.ceil(double) -> double",
    "math.floor(double) -> double",
    "math.round(double) -> double",
    "math.trunc(double) -> double",
    "math.sqrt(int) -> double",
    "math.sqrt(uint) -> double",
    "math.sqrt(double) -> double",
    "math.isFinite(double) -> bool",
    "math.isInf(double) -> bool",
    "math.isNaN(double) -> bool",
    "math.bitAnd(int, int) -> int",
    "math.bitAnd(uint, uint) -> uint",
    "math.bitOr(int, int) -> int",
    "math.bitOr(uint, uint) -> uint",
    "math.bitXor(int, int) -> int",
    "math.bitXor(uint, uint) -> uint",
    "math.bitNot(int) -> int",
    "math.bitNot(uint) -> uint",
    "math.bitShiftLeft(int, int) -> int",
    "math.bitShiftLeft(uint, int) -> uint",
    "math.bitShiftRight(int, int) -> int",
    "math.bitShiftRight(uint, int) -> uint",
];

/// The `kms` extension (`crate::libs::kms`): declared only where the target has it
/// ([`Extension::Kms`]).
const KMS_SIGNATURES: &[&str] = &[
    "kms.available() -> bool",
    "kms.key(string) -> kms.Key",
    "kms.projectNumber(string) -> string",
    "kms.serviceAgentCanUse(string, string) -> bool",
    "kms.imageRepository(string) -> kms.Repository",
];

/// The record `kms.key` returns: its fields and their types. `rotationPeriod` is a duration or
/// null (the key does not rotate), `nextRotationTime` a timestamp or null: both `dyn`.
pub fn kms_key_type() -> Type {
    record(
        crate::libs::kms::KEY_TYPE,
        &[
            ("exists", Type::Bool),
            ("keyRing", Type::String),
            ("location", Type::String),
            ("name", Type::String),
            ("nextRotationTime", Type::Dyn),
            ("project", Type::String),
            ("protectionLevel", Type::String),
            ("purpose", Type::String),
            ("rotationPeriod", Type::Dyn),
            ("state", Type::String),
        ],
    )
}

/// The record `kms.imageRepository` returns.
pub fn kms_repository_type() -> Type {
    record(
        crate::libs::kms::REPOSITORY_TYPE,
        &[
            ("artifactRegistry", Type::Bool),
            ("cmek", Type::Bool),
            ("exists", Type::Bool),
            ("kmsKeyName", Type::String),
            ("name", Type::String),
        ],
    )
}

fn record(name: &str, fields: &[(&str, Type)]) -> Type {
    let mut fields: Vec<(String, Type)> = fields
        .iter()
        .map(|(n, t)| ((*n).to_owned(), t.clone()))
        .collect();
    fields.sort_by(|a, b| a.0.cmp(&b.0));
    Type::Object(Arc::new(crate::types::ObjectType {
        name: name.to_owned(),
        fields,
    }))
}

/// The named formats of `format.NAME()`.
pub const NAMED_FORMATS: [&str; 13] = [
    "dns1123Label",
    "dns1123Subdomain",
    "dns1035Label",
    "qualifiedName",
    "dns1123LabelPrefix",
    "dns1123SubdomainPrefix",
    "dns1035LabelPrefix",
    "labelValue",
    "uri",
    "uuid",
    "byte",
    "date",
    "datetime",
];

/// Every overload, by function name, in declaration order.
pub fn functions() -> &'static HashMap<&'static str, Vec<Overload>> {
    static FUNCTIONS: OnceLock<HashMap<&'static str, Vec<Overload>>> = OnceLock::new();
    FUNCTIONS.get_or_init(|| {
        let mut table: HashMap<&'static str, Vec<Overload>> = HashMap::new();
        for signature in SIGNATURES {
            push(&mut table, signature);
        }
        for signature in EXTENDED_SIGNATURES {
            push(&mut table, signature);
        }
        for signature in KMS_SIGNATURES {
            push(&mut table, signature);
        }
        for op in COMPARISONS {
            for (a, b) in COMPARABLE_PAIRS {
                push(&mut table, leak(format!("{op}({a}, {b}) -> bool")));
            }
        }
        // Kubernetes' templated list functions (library/lists.go: comparableTypes,
        // summableTypes), and ext.Lists' over the same comparable types.
        for t in [
            "int",
            "uint",
            "double",
            "bool",
            "duration",
            "timestamp",
            "string",
            "bytes",
        ] {
            push(&mut table, leak(format!("list({t}).isSorted() -> bool")));
            // ext.Lists' sort and sortBy's helper take the same comparable types.
            push(&mut table, leak(format!("list({t}).sort() -> list({t})")));
            push(
                &mut table,
                leak(format!(
                    "list(A).@sortByAssociatedKeys(list({t})) -> list(A)"
                )),
            );
            push(&mut table, leak(format!("list({t}).min() -> {t}")));
            push(&mut table, leak(format!("list({t}).max() -> {t}")));
        }
        for t in ["int", "uint", "double", "duration"] {
            push(&mut table, leak(format!("list({t}).sum() -> {t}")));
        }
        for getter in [
            "getFullYear",
            "getMonth",
            "getDate",
            "getDayOfMonth",
            "getDayOfWeek",
            "getDayOfYear",
            "getHours",
            "getMinutes",
            "getSeconds",
            "getMilliseconds",
        ] {
            push(&mut table, leak(format!("timestamp.{getter}() -> int")));
            push(
                &mut table,
                leak(format!("timestamp.{getter}(string) -> int")),
            );
        }
        for getter in ["getHours", "getMinutes", "getSeconds", "getMilliseconds"] {
            push(&mut table, leak(format!("duration.{getter}() -> int")));
        }
        for name in NAMED_FORMATS {
            push(
                &mut table,
                leak(format!("format.{name}() -> kubernetes.NamedFormat")),
            );
        }
        for f in ["math.@max", "math.@min"] {
            for t in ["int", "double", "uint"] {
                push(&mut table, leak(format!("{f}({t}) -> {t}")));
                push(&mut table, leak(format!("{f}({t}, {t}) -> {t}")));
                push(&mut table, leak(format!("{f}(list({t})) -> {t}")));
            }
            for (a, b) in [
                ("int", "uint"),
                ("int", "double"),
                ("double", "int"),
                ("double", "uint"),
                ("uint", "int"),
                ("uint", "double"),
            ] {
                push(&mut table, leak(format!("{f}({a}, {b}) -> dyn")));
            }
        }
        table
    })
}

fn push(table: &mut HashMap<&'static str, Vec<Overload>>, signature: &'static str) {
    let (name, mut overload) = parse_signature(signature);
    overload.feature = feature_of(name, signature);
    table.entry(name).or_default().push(overload);
}

/// What a target needs to have an overload: Kubernetes' release table
/// (`docs/kubernetes-versions.md`) for its libraries, an extension for cmek-gate's others.
pub fn feature_of(name: &str, signature: &str) -> Option<Feature> {
    let extension = |e| Some(Feature::Extension(e));
    match name {
        "slice" | "flatten" | "distinct" | "sort" | "lists.range" | "@sortByAssociatedKeys" => {
            Some(Feature::ListsVersion3)
        }
        "reverse" if signature.starts_with("list(") => Some(Feature::ListsVersion3),
        "reverse" => extension(Extension::Strings),
        "includes" => Some(Feature::ListsIncludes),
        "first" | "last" | "optional.unwrap" | "unwrapOpt" => Some(Feature::OptionalVersion2),
        "validate" => Some(Feature::NamedFormats),
        n if n.starts_with("format.") => Some(Feature::NamedFormats),
        "semver" | "isSemver" => Some(Feature::Semver),
        _ if signature.starts_with("kubernetes.Semver.") => Some(Feature::Semver),
        n if n.starts_with("math.") => extension(Extension::Math),
        n if n.starts_with("base64.") => extension(Extension::Encoders),
        n if n.starts_with("kms.") => extension(Extension::Kms),
        "sign" if signature.starts_with("kubernetes.Quantity.") => Some(Feature::Never(
            "Kubernetes' quantities take sign(q), not q.sign()",
        )),
        "jsonpatch.escapeKey" => Some(Feature::Never(
            "jsonpatch.escapeKey is only in a MutatingAdmissionPolicy's mutations",
        )),
        _ => None,
    }
}

/// A generated signature, kept for the life of the process (the table is built once).
fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// `name(T, U) -> R` or `T.name(U) -> R`.
fn parse_signature(signature: &'static str) -> (&'static str, Overload) {
    let (call, result) = signature
        .split_once(" -> ")
        .unwrap_or_else(|| panic!("signature without a result: {signature}"));
    let open = matching_open(call);
    let args = &call[open + 1..call.len() - 1];
    let head = &call[..open];
    let mut params: Vec<Type> = split_top(args).into_iter().map(parse_type).collect();
    // A receiver-style signature has a type before the name: `string.contains`,
    // `list(A).join`, `kubernetes.URL.getHost`. A global one may be namespaced
    // (`optional.of`, `math.abs`, `ip.isCanonical`): those namespaces are not types.
    let (receiver, name) = match head.rfind('.') {
        Some(dot) if is_type_text(&head[..dot]) => (Some(&head[..dot]), &head[dot + 1..]),
        _ => (None, head),
    };
    if let Some(receiver) = receiver {
        params.insert(0, parse_type(receiver));
    }
    (
        name,
        Overload {
            signature,
            feature: None,
            receiver: receiver.is_some(),
            params,
            result: parse_type(result),
        },
    )
}

fn is_type_text(text: &str) -> bool {
    if text.ends_with(')') {
        return ["list(", "map(", "optional("]
            .iter()
            .any(|p| text.starts_with(p));
    }
    matches!(
        text,
        "dyn"
            | "string"
            | "bytes"
            | "timestamp"
            | "duration"
            | "kubernetes.URL"
            | "kubernetes.Quantity"
            | "kubernetes.Semver"
            | "kubernetes.NamedFormat"
            | "net.IP"
            | "net.CIDR"
    )
}

/// The index of the `(` matching the final `)`.
fn matching_open(call: &str) -> usize {
    let mut depth = 0;
    for (i, c) in call.char_indices().rev() {
        match c {
            ')' => depth += 1,
            '(' => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced signature: {call}")
}

/// Comma-separated parts at depth 0.
fn split_top(text: &'static str) -> Vec<&'static str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(text[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    if !text.trim().is_empty() {
        parts.push(text[start..].trim());
    }
    parts
}

/// A type in signature syntax.
pub(crate) fn parse_type(text: &'static str) -> Type {
    let text = text.trim();
    let (base, args) = match text.find('(') {
        Some(open) => (&text[..open], split_top(&text[open + 1..text.len() - 1])),
        None => (text, Vec::new()),
    };
    let arg = |i: usize| Arc::new(parse_type(args[i]));
    match base {
        "dyn" => Type::Dyn,
        "null_type" => Type::Null,
        "bool" => Type::Bool,
        "int" => Type::Int,
        "uint" => Type::Uint,
        "double" => Type::Double,
        "string" => Type::String,
        "bytes" => Type::Bytes,
        "duration" => Type::Duration,
        "timestamp" => Type::Timestamp,
        "list" => Type::List(arg(0)),
        "map" => Type::Map(arg(0), arg(1)),
        "optional" => Type::Optional(arg(0)),
        "type" if args.is_empty() => Type::Type(None),
        "type" => Type::Type(Some(arg(0))),
        p if p.len() == 1 && p.chars().all(|c| c.is_ascii_uppercase()) => Type::Param(p),
        crate::libs::kms::KEY_TYPE => kms_key_type(),
        crate::libs::kms::REPOSITORY_TYPE => kms_repository_type(),
        opaque if opaque.contains('.') => Type::Opaque(opaque),
        other => panic!("unknown type in a signature: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_parse_into_name_style_and_types() {
        let cases: &[(&str, &str, bool, usize)] = &[
            ("string.contains(string) -> bool", "contains", true, 2),
            ("list(A).join(string) -> string", "join", true, 2),
            ("math.abs(int) -> int", "math.abs", false, 1),
            ("ip.isCanonical(string) -> bool", "ip.isCanonical", false, 1),
            (
                "kubernetes.URL.getQuery() -> map(string, list(string))",
                "getQuery",
                true,
                1,
            ),
            ("_?_:_(bool, A, A) -> A", "_?_:_", false, 3),
            ("optional.none() -> optional(V)", "optional.none", false, 0),
            ("optional(V).or(optional(V)) -> optional(V)", "or", true, 2),
        ];
        for (signature, name, receiver, arity) in cases {
            let (n, o) = parse_signature(signature);
            assert_eq!(
                (n, o.receiver, o.params.len()),
                (*name, *receiver, *arity),
                "{signature}"
            );
        }
    }

    #[test]
    fn every_documented_function_is_declared() {
        let table = functions();
        for name in [
            "size",
            "contains",
            "startsWith",
            "endsWith",
            "matches",
            "int",
            "uint",
            "double",
            "string",
            "bytes",
            "bool",
            "dyn",
            "type",
            "duration",
            "timestamp",
            "getFullYear",
            "getMonth",
            "getDate",
            "getDayOfMonth",
            "getDayOfWeek",
            "getDayOfYear",
            "getHours",
            "getMinutes",
            "getSeconds",
            "getMilliseconds",
            "optional.of",
            "optional.none",
            "optional.ofNonZeroValue",
            "optional.unwrap",
            "unwrapOpt",
            "first",
            "last",
            "hasValue",
            "value",
            "orValue",
            "or",
            "charAt",
            "indexOf",
            "lastIndexOf",
            "lowerAscii",
            "upperAscii",
            "replace",
            "split",
            "substring",
            "trim",
            "join",
            "format",
            "strings.quote",
            "reverse",
            "slice",
            "flatten",
            "distinct",
            "sort",
            "lists.range",
            "isSorted",
            "sum",
            "min",
            "max",
            "sets.contains",
            "sets.equivalent",
            "sets.intersects",
            "find",
            "findAll",
            "url",
            "isURL",
            "getScheme",
            "getHost",
            "getHostname",
            "getPort",
            "getEscapedPath",
            "getQuery",
            "quantity",
            "isQuantity",
            "compareTo",
            "isLessThan",
            "isGreaterThan",
            "add",
            "sub",
            "asInteger",
            "isInteger",
            "asApproximateFloat",
            "sign",
            "ip",
            "isIP",
            "ip.isCanonical",
            "family",
            "isUnspecified",
            "isLoopback",
            "isLinkLocalMulticast",
            "isLinkLocalUnicast",
            "isGlobalUnicast",
            "cidr",
            "isCIDR",
            "containsIP",
            "containsCIDR",
            "masked",
            "prefixLength",
            "semver",
            "isSemver",
            "major",
            "minor",
            "patch",
            "math.@max",
            "math.@min",
            "math.abs",
            "math.ceil",
            "math.floor",
            "math.round",
            "math.trunc",
            "math.sign",
            "math.sqrt",
            "math.isFinite",
            "math.isInf",
            "math.isNaN",
            "math.bitAnd",
            "math.bitOr",
            "math.bitXor",
            "math.bitNot",
            "math.bitShiftLeft",
            "math.bitShiftRight",
            "base64.encode",
            "base64.decode",
            "format.named",
            "validate",
            "format.dns1123Label",
            "format.datetime",
            "jsonpatch.escapeKey",
        ] {
            assert!(table.contains_key(name), "{name} is not declared");
        }
    }
}
