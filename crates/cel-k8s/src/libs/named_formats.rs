//! Kubernetes' format library (k8s.io/apiserver/pkg/cel/library/format.go): named string
//! validations, `format.named(name)` and `format.<name>()`, whose `validate(s)` is
//! `optional.none()` for a valid string, else the list of Kubernetes' error messages (those
//! are the value asked for, so they are Kubernetes' words, input included where Kubernetes
//! includes it, as for `uri`).

use super::support::{fail, no_overload, opaque, opaque_type, opaque_value, string_list};
use crate::error::EvalError;
use crate::library::{Function, Library, Style};
use crate::value::Value;
use regex::Regex;
use std::sync::{Arc, LazyLock};

/// The type name Kubernetes gives named formats.
pub const FORMAT_TYPE: &str = "kubernetes.NamedFormat";

/// A named format.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedFormat(&'static str);

opaque_type!(NamedFormat, FORMAT_TYPE);

/// The formats, by the name `format.named` takes.
pub(crate) const NAMES: &[&str] = &[
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

pub fn register(library: &mut Library) {
    use Style::{Global, Receiver};
    library.add("format.named", Global, 1, named);
    library.add("validate", Receiver, 2, validate);
    let constants: [(&'static str, Function); 13] = [
        ("format.dns1123Label", |_| {
            Ok(opaque_value(NamedFormat("dns1123Label")))
        }),
        ("format.dns1123Subdomain", |_| {
            Ok(opaque_value(NamedFormat("dns1123Subdomain")))
        }),
        ("format.dns1035Label", |_| {
            Ok(opaque_value(NamedFormat("dns1035Label")))
        }),
        ("format.qualifiedName", |_| {
            Ok(opaque_value(NamedFormat("qualifiedName")))
        }),
        ("format.dns1123LabelPrefix", |_| {
            Ok(opaque_value(NamedFormat("dns1123LabelPrefix")))
        }),
        ("format.dns1123SubdomainPrefix", |_| {
            Ok(opaque_value(NamedFormat("dns1123SubdomainPrefix")))
        }),
        ("format.dns1035LabelPrefix", |_| {
            Ok(opaque_value(NamedFormat("dns1035LabelPrefix")))
        }),
        ("format.labelValue", |_| {
            Ok(opaque_value(NamedFormat("labelValue")))
        }),
        ("format.uri", |_| Ok(opaque_value(NamedFormat("uri")))),
        ("format.uuid", |_| Ok(opaque_value(NamedFormat("uuid")))),
        ("format.byte", |_| Ok(opaque_value(NamedFormat("byte")))),
        ("format.date", |_| Ok(opaque_value(NamedFormat("date")))),
        ("format.datetime", |_| {
            Ok(opaque_value(NamedFormat("datetime")))
        }),
    ];
    for (name, f) in constants {
        library.add(name, Global, 0, f);
    }
}

fn named<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    let [Value::String(name)] = args else {
        return Err(no_overload("format.named", args));
    };
    Ok(Value::Optional(
        NAMES
            .iter()
            .find(|n| **n == &**name)
            .map(|n| Arc::new(opaque_value(NamedFormat(n)))),
    ))
}

fn validate<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    let [format, Value::String(s)] = args else {
        return Err(no_overload("validate", args));
    };
    let format = opaque::<NamedFormat>(format).ok_or_else(|| no_overload("validate", args))?;
    let errors = errors(format.0, s).map_err(|e| fail("validate", e))?;
    Ok(Value::Optional(if errors.is_empty() {
        None
    } else {
        Some(Arc::new(string_list(errors)))
    }))
}

fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).expect("a valid constant pattern")
}

const LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1035_FMT: &str = "[a-z]([-a-z0-9]*[a-z0-9])?";
const QUALIFIED_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
static LABEL: LazyLock<Regex> = LazyLock::new(|| regex(&format!("^{LABEL_FMT}$")));
static SUBDOMAIN_FMT: LazyLock<String> = LazyLock::new(|| format!("{LABEL_FMT}(\\.{LABEL_FMT})*"));
static SUBDOMAIN: LazyLock<Regex> = LazyLock::new(|| regex(&format!("^{}$", *SUBDOMAIN_FMT)));
static DNS1035: LazyLock<Regex> = LazyLock::new(|| regex(&format!("^{DNS1035_FMT}$")));
static QUALIFIED: LazyLock<Regex> = LazyLock::new(|| regex(&format!("^{QUALIFIED_FMT}$")));
static LABEL_VALUE: LazyLock<Regex> = LazyLock::new(|| regex(&format!("^{LABEL_VALUE_FMT}$")));
static UUID: LazyLock<Regex> = LazyLock::new(|| {
    regex("(?i)(^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$)|(^[0-9a-f]{32}$)")
});
static TIME: LazyLock<Regex> = LazyLock::new(|| {
    regex(r"^([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?(z|([+-][0-9]{2}:[0-9]{2}))$")
});

/// apimachinery's `RegexError`.
fn regex_error(msg: &str, fmt: &str, examples: &[&str]) -> String {
    if examples.is_empty() {
        return format!("{msg} (regex used for validation is '{fmt}')");
    }
    let examples: Vec<String> = examples.iter().map(|e| format!("'{e}', ")).collect();
    format!(
        "{msg} (e.g. {}regex used for validation is '{fmt}')",
        examples.join(" or ")
    )
}

fn max_len(n: usize) -> String {
    format!("must be no more than {n} characters")
}

/// The length error of a qualified name's name part and of a label value, which Kubernetes
/// counts in bytes.
fn max_bytes(n: usize) -> String {
    format!("must be no more than {n} bytes")
}

fn dns1123_label(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 63 {
        errs.push(max_len(63));
    }
    if !LABEL.is_match(value) {
        if SUBDOMAIN.is_match(value) {
            errs.push("must not contain dots".into());
        } else {
            errs.push(regex_error(
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
                LABEL_FMT,
                &["my-name", "123-abc"],
            ));
        }
    }
    errs
}

fn dns1123_subdomain(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 253 {
        errs.push(max_len(253));
    }
    if !SUBDOMAIN.is_match(value) {
        errs.push(regex_error(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
            &SUBDOMAIN_FMT,
            &["example.com"],
        ));
    }
    errs
}

fn dns1035_label(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 63 {
        errs.push(max_len(63));
    }
    if !DNS1035.is_match(value) {
        errs.push(regex_error(
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character",
            DNS1035_FMT,
            &["my-name", "abc-123"],
        ));
    }
    errs
}

const QUALIFIED_MSG: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";

fn qualified_name(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = value.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".into());
            } else {
                errs.extend(dns1123_subdomain(prefix).into_iter().map(|m| format!("prefix part {m}")));
            }
            *name
        }
        _ => {
            return vec![format!(
                "a valid label key {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_error(QUALIFIED_MSG, QUALIFIED_FMT, &["MyName", "my.name", "123-abc"])
            )]
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".into());
    } else if name.len() > 63 {
        errs.push(format!("name part {}", max_bytes(63)));
    }
    if !QUALIFIED.is_match(name) {
        errs.push(format!(
            "name part {}",
            regex_error(
                QUALIFIED_MSG,
                QUALIFIED_FMT,
                &["MyName", "my.name", "123-abc"]
            )
        ));
    }
    errs
}

fn label_value(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 63 {
        errs.push(max_bytes(63));
    }
    if !LABEL_VALUE.is_match(value) {
        errs.push(regex_error(
            "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
            LABEL_VALUE_FMT,
            &["MyValue", "my_value", "12345"],
        ));
    }
    errs
}

/// apimachinery's `maskTrailingDash`, for the prefix formats: a name that will get a suffix
/// may end with a dash.
fn mask_trailing_dash(name: &str) -> String {
    if name.len() > 1 && name.ends_with('-') {
        format!("{}a", &name[..name.len() - 2])
    } else {
        name.to_owned()
    }
}

/// Go's `time.Parse("2006-01-02", s)`.
fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && [0, 1, 2, 3, 5, 6, 8, 9]
            .iter()
            .all(|i| b[*i].is_ascii_digit())
        && {
            let n = |r: std::ops::Range<usize>| s[r].parse::<u32>().unwrap_or(0);
            let (year, month, day) = (n(0..4), n(5..7), n(8..10));
            let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
            let days = match month {
                1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
                4 | 6 | 9 | 11 => 30,
                2 if leap => 29,
                2 => 28,
                _ => 0,
            };
            (1..=days).contains(&day)
        }
}

/// strfmt's `IsDateTime`.
fn is_datetime(s: &str) -> bool {
    if s.len() < 4 {
        return false;
    }
    let lower = s.to_lowercase();
    let parts: Vec<&str> = lower.split('t').collect();
    if parts.len() < 2 || !is_date(parts[0]) {
        return false;
    }
    TIME.captures(parts[1])
        .is_some_and(|m| &m[1] <= "23" && &m[2] <= "59" && &m[3] <= "59")
}

/// Go's `base64.StdEncoding.DecodeString` accepting the text.
fn is_base64(s: &str) -> bool {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    use base64::Engine;
    const STD: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::RequireCanonical)
            .with_decode_allow_trailing_bits(true),
    );
    STD.decode(s.replace(['\r', '\n'], "")).is_ok()
}

fn errors(format: &str, s: &str) -> Result<Vec<String>, String> {
    let one = |ok: bool, message: &str| {
        if ok {
            Vec::new()
        } else {
            vec![message.to_owned()]
        }
    };
    Ok(match format {
        "dns1123Label" => dns1123_label(s),
        "dns1123Subdomain" => dns1123_subdomain(s),
        "dns1035Label" => dns1035_label(s),
        "qualifiedName" => qualified_name(s),
        "dns1123LabelPrefix" => dns1123_label(&mask_trailing_dash(s)),
        "dns1123SubdomainPrefix" => dns1123_subdomain(&mask_trailing_dash(s)),
        "dns1035LabelPrefix" => dns1035_label(&mask_trailing_dash(s)),
        "labelValue" => label_value(s),
        "uri" => match super::url::parse_request_uri(s) {
            Ok(()) => Vec::new(),
            Err(e) => vec![format!("parse {s:?}: {e}")],
        },
        "uuid" => one(UUID.is_match(s), "does not match the UUID format"),
        // Kubernetes' check refuses the empty string too.
        "byte" => one(!s.is_empty() && is_base64(s), "invalid base64"),
        "date" => one(is_date(s), "invalid date"),
        "datetime" => one(is_datetime(s), "invalid datetime"),
        _ => return Err("unknown format".into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validations_follow_apimachinery() {
        assert!(dns1123_label("my-name").is_empty());
        assert_eq!(dns1123_label("a.b"), ["must not contain dots"]);
        assert_eq!(dns1123_label(&"a".repeat(64)), [max_len(63)]);
        assert!(dns1123_label("My")
            .pop()
            .unwrap()
            .contains("(e.g. 'my-name',  or '123-abc', regex"));
        assert!(dns1123_label(&mask_trailing_dash("my-prefix-")).is_empty());
        assert!(qualified_name("example.com/MyName").is_empty());
        assert_eq!(qualified_name("/x"), ["prefix part must be non-empty"]);
        assert!(label_value("").is_empty());
        assert!(is_datetime("2021-01-01T00:00:00Z") && !is_datetime("2021-01-01T24:00:00Z"));
        assert!(is_date("2024-02-29") && !is_date("2023-02-29") && !is_date("2023-2-01"));
        assert!(is_base64("aGVsbG8=") && !is_base64("aGVsbG8"));
    }

    use crate::libs::support::testing::*;

    fn validated(format: &str, value: &str) -> Value<'static> {
        let mut library = Library::default();
        register(&mut library);
        let make = library
            .lookup(&format!("format.{format}"), Style::Global, 0)
            .unwrap_or_else(|| panic!("format.{format}"));
        validate(&[make(&[]).unwrap(), Value::string(value)]).unwrap()
    }

    fn has_value(v: &Value<'_>) -> bool {
        matches!(v, Value::Optional(Some(_)))
    }

    #[test]
    fn documented_examples() {
        assert!(has_value(&named(&[s("dns1123Label")]).unwrap()));
        assert!(!has_value(&named(&[s("nope")]).unwrap()));
        let Value::Optional(Some(errors)) = validated("dns1123Label", "a.b") else {
            panic!("errors")
        };
        check(
            "dots",
            Ok((*errors).clone()),
            strs(&["must not contain dots"]),
        );
        let cases = [
            ("dns1123Label", "my-name", false),
            ("dns1123Subdomain", "apiextensions.k8s.io", false),
            ("dns1035Label", "1abc", true),
            ("qualifiedName", "apiextensions.k8s.io/v1beta1", false),
            ("dns1123LabelPrefix", "my-label-prefix-", false),
            ("dns1123SubdomainPrefix", "mysubdomain.prefix.-", false),
            ("dns1035LabelPrefix", "my-label-prefix-", false),
            ("labelValue", "my_value", false),
            ("uri", "http://example.com", false),
            ("uuid", "123e4567-e89b-12d3-a456-426614174000", false),
            ("byte", "aGVsbG8=", false),
            ("datetime", "2021-01-01T00:00:00Z", false),
            ("uri", "relative", true),
            ("byte", "aGVsbG8", true),
        ];
        for (format, value, invalid) in cases {
            assert_eq!(
                has_value(&validated(format, value)),
                invalid,
                "{format} {value}"
            );
        }
        let Value::Optional(Some(errors)) = validated("date", "2021-02-30") else {
            panic!("errors")
        };
        check("date", Ok((*errors).clone()), strs(&["invalid date"]));
        check_err(
            "kind",
            validate(&[s("x"), s("y")]),
            "no matching overload for 'validate'",
        );
    }
}
