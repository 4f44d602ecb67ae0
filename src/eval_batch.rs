//! `cmek-gate eval --batch`: many expressions, one JSON line each, compiled as a policy's
//! expressions are when the policy is loaded (type-checked with `object`, `oldObject` and
//! `params` typed `dyn`) and evaluated as the engine evaluates them, each answered by one JSON
//! line: the compile error, or the value in a canonical text with its type, or the runtime
//! error. Pure: the CLI reads and writes the lines. The canonical text is the one Kubernetes'
//! side of the CEL differential prints (`integration/kube/cmd/cel-oracle`).

use crate::cel::{self, Purpose, TypeCheck};
use crate::engine::Request;
use crate::manifest::{self, Document, Node, ReadLimits};
use crate::policy::typing::creation_declarations;
use crate::trace::eval_program;
use cel_k8s::Value;
use serde::{Deserialize, Serialize};
use std::fmt::Write;

/// One line of input.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Case {
    /// Echoed in the answer.
    pub id: String,
    pub expression: String,
    /// The documents the expression sees; `null` when absent.
    #[serde(default)]
    pub object: Option<serde_json::Value>,
    #[serde(default)]
    pub old_object: Option<serde_json::Value>,
    #[serde(default)]
    pub params: Option<serde_json::Value>,
}

/// One line of output: exactly one of `compile_error`, `value` (with `type`) and
/// `runtime_error`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Answer {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compile_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_error: Option<String>,
}

/// A case whose documents cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("case {id:?}: {what} is not a document the gate can read: {source}")]
pub struct CaseError {
    pub id: String,
    pub what: &'static str,
    #[source]
    pub source: manifest::ManifestError,
}

/// The compiled environment a batch is answered in: `env`'s functions, budget and target (its
/// release and extensions), with the declarations a policy with a paramKind is type-checked
/// with when it is loaded.
pub struct Batch<'e> {
    env: &'e cel::Environment,
    declarations: cel_k8s::check::Declarations,
}

impl<'e> Batch<'e> {
    pub fn new(env: &'e cel::Environment) -> Batch<'e> {
        Batch {
            env,
            declarations: creation_declarations(true, env.profile()),
        }
    }

    /// Compiles and evaluates one case.
    pub fn answer(&self, case: &Case) -> Result<Answer, CaseError> {
        let mut answer = Answer {
            id: case.id.clone(),
            ..Answer::default()
        };
        let check = TypeCheck {
            declarations: &self.declarations,
            result: &[],
        };
        let program =
            match self
                .env
                .compile_checked(&case.expression, &[], Purpose::Check, Some(check))
            {
                Ok(program) => program,
                Err(e) => {
                    answer.compile_error = Some(e.to_string());
                    return Ok(answer);
                }
            };
        let read = |what: &'static str, value: &Option<serde_json::Value>| {
            value
                .as_ref()
                .map(|v| {
                    read_document(v).map_err(|source| CaseError {
                        id: case.id.clone(),
                        what,
                        source,
                    })
                })
                .transpose()
        };
        let object = read("object", &case.object)?;
        let old = read("oldObject", &case.old_object)?;
        let params = read("params", &case.params)?;
        let mut request = match &object {
            Some(document) => Request::create(document),
            None => Request {
                object: None,
                old_object: None,
                group: String::new(),
                version: String::new(),
                kind: String::new(),
                resource: String::new(),
                name: String::new(),
                namespace: String::new(),
                operation: "CREATE".into(),
                namespace_object: None,
                username: String::new(),
                groups: Vec::new(),
                dry_run: false,
                uid: String::new(),
                unknown_namespaces: Default::default(),
                live: None,
            },
        };
        if let Some(old) = &old {
            request.old_object = Some(&old.root);
            request.operation = "UPDATE".into();
        }
        let params: Option<&Node> = params.as_ref().map(|d| &d.root);
        eval_program(
            self.env,
            &program,
            &request,
            params,
            |result| match result {
                Ok(value) => {
                    answer.type_name = Some(value.type_name().to_owned());
                    answer.value = Some(canonical(&value));
                }
                Err(e) => answer.runtime_error = Some(e.0),
            },
        );
        Ok(answer)
    }
}

/// A JSON document as the manifest reader reads it (as YAML, which JSON is).
fn read_document(value: &serde_json::Value) -> Result<Document, manifest::ManifestError> {
    let text = serde_json::to_string(value).expect("a JSON value prints");
    let mut documents = manifest::parse_documents(&text, &ReadLimits::default())?;
    Ok(documents.swap_remove(0))
}

/// A value's canonical text: CEL-like literals (`1`, `2u`, `1.5e0`, `"\u{e9}"`, `b"\xff"`,
/// `duration(1500000000ns)`, `timestamp(1704067200.500000000)`, `optional.of(1)`, `type(int)`),
/// a map's entries sorted by their text, a library's value (a quantity, an IP) as its type
/// name only (`<kubernetes.Quantity>`).
pub fn canonical(value: &Value<'_>) -> String {
    let mut out = String::new();
    write_canonical(&mut out, value);
    out
}

fn write_canonical(out: &mut String, value: &Value<'_>) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Uint(u) => {
            let _ = write!(out, "{u}u");
        }
        Value::Double(d) => out.push_str(&double(*d)),
        Value::String(s) => quote(out, s),
        Value::Bytes(bytes) => {
            out.push_str("b\"");
            for &b in bytes.iter() {
                match b {
                    b'"' | b'\\' => {
                        out.push('\\');
                        out.push(b as char);
                    }
                    0x20..=0x7e => out.push(b as char),
                    _ => {
                        let _ = write!(out, "\\x{b:02x}");
                    }
                }
            }
            out.push('"');
        }
        Value::Duration(d) => {
            let _ = write!(out, "duration({}ns)", d.0);
        }
        Value::Timestamp(t) => {
            let _ = write!(out, "timestamp({}.{:09})", t.seconds, t.nanos);
        }
        Value::List(list) => {
            out.push('[');
            for (i, item) in list.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_canonical(out, &item);
            }
            out.push(']');
        }
        Value::Map(map) => {
            let mut entries: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", canonical(&k), canonical(&v)))
                .collect();
            entries.sort();
            let _ = write!(out, "{{{}}}", entries.join(", "));
        }
        Value::Optional(None) => out.push_str("optional.none()"),
        Value::Optional(Some(inner)) => {
            out.push_str("optional.of(");
            write_canonical(out, inner);
            out.push(')');
        }
        Value::Type(t) => {
            let name = t.to_string();
            let base = name.split('(').next().unwrap_or_default();
            let _ = write!(out, "type({base})");
        }
        Value::Opaque(o) => {
            let _ = write!(out, "<{}>", o.type_name());
        }
    }
}

/// The shortest digits that read back as the same double, in exponent form (`1.5e0`, `-0e0`),
/// or `NaN`, `inf`, `-inf`.
fn double(d: f64) -> String {
    if d.is_nan() {
        "NaN".to_owned()
    } else {
        format!("{d:e}")
    }
}

/// A string quoted: printable ASCII as is, `"` and `\` escaped, every other code point `\u{hex}`.
fn quote(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(expression: &str, object: Option<serde_json::Value>) -> Answer {
        let env = cel::Environment::new();
        let case = Case {
            id: "t".into(),
            expression: expression.into(),
            object,
            old_object: None,
            params: None,
        };
        Batch::new(&env).answer(&case).unwrap()
    }

    #[test]
    fn values_print_canonically_with_their_type() {
        let cases = [
            ("1", "1", "int"),
            ("2u", "2u", "uint"),
            ("1.5", "1.5e0", "double"),
            ("-0.0", "-0e0", "double"),
            ("1e300 * 1e300", "inf", "double"),
            ("'é\\n\"'", r#""\u{e9}\u{a}\"""#, "string"),
            ("b'\\xff\"'", r#"b"\xff\"""#, "bytes"),
            (
                "duration('1.5s')",
                "duration(1500000000ns)",
                "google.protobuf.Duration",
            ),
            (
                "timestamp('2024-01-01T00:00:00.5Z')",
                "timestamp(1704067200.500000000)",
                "google.protobuf.Timestamp",
            ),
            ("{'b': 1, 'a': 2}", r#"{"a": 2, "b": 1}"#, "map"),
            (
                "[optional.of(1), optional.none()]",
                "[optional.of(1), optional.none()]",
                "list",
            ),
            ("type([1])", "type(list)", "type"),
            (
                "quantity('1')",
                "<kubernetes.Quantity>",
                "kubernetes.Quantity",
            ),
            ("object.spec.replicas", "3", "int"),
        ];
        for (expression, value, type_name) in cases {
            let got = answer(
                expression,
                Some(
                    serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": 3}}),
                ),
            );
            assert_eq!(got.value.as_deref(), Some(value), "{expression}: {got:?}");
            assert_eq!(got.type_name.as_deref(), Some(type_name), "{expression}");
        }
    }

    #[test]
    fn compile_and_runtime_errors_are_answers() {
        let got = answer("1 + 'a'", None);
        assert!(
            got.compile_error.unwrap().contains("no matching overload"),
            "a type error is a compile error"
        );
        let got = answer("1 / 0", None);
        assert!(got.runtime_error.is_some() && got.value.is_none());
        let got = answer("object == null", None);
        assert_eq!(got.value.as_deref(), Some("true"));
    }
}
