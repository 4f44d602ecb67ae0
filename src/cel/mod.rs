//! The CEL environment policies are compiled and evaluated in. Pure: no I/O.
//!
//! The rest of the crate sees [`Environment::compile`], [`Environment::evaluate`] and
//! [`to_cel`]: the evaluator underneath (the `cel` crate) can be tuned or replaced without
//! touching policies or the engine. Compilation checks what `cel` leaves to run time: unknown
//! variables and functions, invalid constant regexes, and nesting deep enough to overflow the
//! evaluator's stack.

mod analysis;
mod convert;
mod functions;

pub use analysis::{Analysis, ROOT_VARIABLES};
pub use convert::to_cel;

use cel::{Context, Env};
use std::fmt;
use std::sync::Arc;

/// Longest expression accepted, in bytes.
pub const MAX_EXPRESSION_BYTES: usize = 16 * 1024;
/// Deepest bracket nesting accepted before parsing (the parser recurses on it).
pub const MAX_BRACKET_DEPTH: usize = 32;
/// Deepest syntax tree accepted after parsing (the evaluator recurses on it).
pub const MAX_TREE_DEPTH: usize = 96;

/// A compile error, with a 1-based line and column inside the expression where known.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}{message}", position.map(|(l, c)| format!("line {l}, column {c}: ")).unwrap_or_default())]
pub struct CompileError {
    pub position: Option<(u32, u32)>,
    pub message: String,
}

/// An error while evaluating a compiled expression.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct EvalError(pub String);

/// A compiled expression, kept beside its source text.
pub struct Program {
    pub source: String,
    program: cel::Program,
    pub analysis: Analysis,
}

impl fmt::Debug for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Program")
            .field("source", &self.source)
            .finish()
    }
}

/// The values an expression sees. Unset ones are `null`.
#[derive(Default, Clone)]
pub struct Activation {
    pub values: Vec<(&'static str, cel::Value)>,
}

impl Activation {
    pub fn set(&mut self, name: &'static str, value: cel::Value) {
        match self.values.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.values.push((name, value)),
        }
    }
}

/// The functions and macros of Kubernetes CEL that the `cel` crate provides, plus ours.
pub struct Environment {
    env: Arc<Env>,
}

impl Default for Environment {
    fn default() -> Self {
        Environment::new()
    }
}

impl Environment {
    pub fn new() -> Environment {
        let mut env = Env::stdlib();
        env.add_extension(cel::extensions::strings)
            .and_then(|_| env.add_extension(cel::extensions::lists))
            .and_then(|_| env.add_extension(cel::extensions::math))
            .and_then(|_| env.add_extension(cel::extensions::encoders))
            .and_then(|_| functions::register(&mut env))
            .expect("the CEL extensions register without conflict");
        Environment { env: Arc::new(env) }
    }

    /// Compiles an expression, checking what it refers to. `variables` are the names
    /// `variables.NAME` may use.
    pub fn compile(&self, source: &str, variables: &[&str]) -> Result<Program, CompileError> {
        check_size(source)?;
        let program = self.env.compile(source).map_err(|errors| {
            let first = errors.errors.first();
            CompileError {
                position: first.and_then(|e| {
                    (e.pos.0 >= 0 && e.pos.1 >= 0).then_some((e.pos.0 as u32, e.pos.1 as u32 + 1))
                }),
                message: first.map_or_else(|| errors.to_string(), |e| e.msg.clone()),
            }
        })?;
        let analysis = Analysis::of(&program, source, variables)?;
        Ok(Program {
            source: source.to_owned(),
            program,
            analysis,
        })
    }

    /// Evaluates a compiled expression. A panic inside the evaluator is turned into an error.
    pub fn evaluate(
        &self,
        program: &Program,
        activation: &Activation,
    ) -> Result<cel::Value, EvalError> {
        let mut context = Context::with_env(Arc::clone(&self.env));
        for (name, value) in &activation.values {
            context.add_variable_from_value(*name, value.clone());
        }
        for name in ROOT_VARIABLES {
            if !activation.values.iter().any(|(n, _)| n == name) {
                context.add_variable_from_value(*name, cel::Value::Null);
            }
        }
        let run = std::panic::AssertUnwindSafe(|| program.program.execute(&context));
        match std::panic::catch_unwind(run) {
            Ok(result) => result.map_err(|e| EvalError(e.to_string())),
            Err(_) => Err(EvalError("the evaluator failed on this expression".into())),
        }
    }
}

/// Refuses what would make the parser recurse too deeply, before it runs.
fn check_size(source: &str) -> Result<(), CompileError> {
    if source.len() > MAX_EXPRESSION_BYTES {
        return Err(CompileError {
            position: None,
            message: format!("expression is longer than {MAX_EXPRESSION_BYTES} bytes"),
        });
    }
    let (mut depth, mut line, mut column) = (0usize, 1u32, 0u32);
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in source.chars() {
        column += 1;
        if c == '\n' {
            line += 1;
            column = 0;
        }
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => quote = Some(c),
            '(' | '[' | '{' => {
                depth += 1;
                if depth > MAX_BRACKET_DEPTH {
                    return Err(CompileError {
                        position: Some((line, column)),
                        message: format!(
                            "expression nests brackets deeper than {MAX_BRACKET_DEPTH}"
                        ),
                    });
                }
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cel::Value;

    fn eval(source: &str) -> Result<Value, String> {
        let env = Environment::new();
        let program = env.compile(source, &["x"]).map_err(|e| e.to_string())?;
        let mut activation = Activation::default();
        let object =
            serde_json::json!({"metadata": {"name": "s", "labels": {"a": "b"}}, "n": [1, 2]});
        activation.set("object", to_cel(&crate::manifest::Node::from_json(&object)));
        env.evaluate(&program, &activation)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn kubernetes_style_expressions() {
        let cases: &[(&str, Value)] = &[
            ("object.metadata.name == 's'", Value::Bool(true)),
            ("object.metadata.labels.a.lowerAscii()", Value::from("b")),
            ("'a/b'.split('/').size()", Value::Int(2)),
            (
                "object.metadata.?labels.?zz.orValue('none')",
                Value::from("none"),
            ),
            ("has(object.metadata.annotations)", Value::Bool(false)),
            (
                "'projects/p'.matches('^projects/[a-z]+$')",
                Value::Bool(true),
            ),
            ("matches('abc', 'b')", Value::Bool(true)),
            ("object.n.all(i, i > 0)", Value::Bool(true)),
            ("oldObject == null", Value::Bool(true)),
            ("math.greatest(1, 5)", Value::Int(5)),
            ("['x', 'y'].join('-')", Value::from("x-y")),
        ];
        for (source, expected) in cases {
            assert_eq!(eval(source).as_ref(), Ok(expected), "{source}");
        }
    }

    #[test]
    fn compile_errors_say_what_and_where() {
        let deep = format!("{}1{}", "(".repeat(200), ")".repeat(200));
        let long_chain = format!("object{}", ".a".repeat(400));
        let cases: &[(&str, &str)] = &[
            ("object.metadata.", "line 1, column"),
            ("objet.metadata.name", "unknown variable \"objet\""),
            ("variables.nope", "unknown variable \"variables.nope\""),
            ("object.name.lowerAsci()", "unknown function \"lowerAsci\""),
            ("'a'.matches('(')", "invalid regular expression"),
            (&deep, "nests brackets deeper than 32"),
            (&long_chain, "nested deeper than"),
            ("authorizer.path('x')", "not supported"),
        ];
        let env = Environment::new();
        for (source, expected) in cases {
            let err = env.compile(source, &["x"]).unwrap_err().to_string();
            assert!(
                err.contains(expected),
                "{source:.40}: {err:?} lacks {expected:?}"
            );
        }
    }

    #[test]
    fn runtime_errors_are_errors_not_panics() {
        for source in [
            "object.metadata.missing",
            "1 / 0",
            "object.n[5]",
            "int('x')",
        ] {
            assert!(eval(source).is_err(), "{source}");
        }
    }
}
