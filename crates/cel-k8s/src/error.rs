//! The two errors of the dialect: one at compile time, with a position, one at run time.

/// A compile (parse or type-check) error, with a 1-based line and column in characters inside
/// the expression where known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", position.map(|(l, c)| format!("line {l}, column {c}: ")).unwrap_or_default())]
pub struct CompileError {
    pub position: Option<(u32, u32)>,
    pub message: String,
}

impl CompileError {
    pub fn new(position: Option<(u32, u32)>, message: impl Into<String>) -> CompileError {
        CompileError {
            position,
            message: message.into(),
        }
    }
}

/// An evaluation error. Messages name types and functions, never the values involved: a value
/// may come from a manifest (an env value, a secret) and messages reach logs and CI output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EvalError(pub String);

impl EvalError {
    #[cold]
    #[inline(never)]
    pub fn new(message: impl Into<String>) -> EvalError {
        EvalError(message.into())
    }

    /// `no matching overload for 'NAME' applied to '(T1, T2)'`, as cel-go words it.
    #[cold]
    #[inline(never)]
    pub fn no_overload(function: &str, types: &[&str]) -> EvalError {
        EvalError(format!(
            "no matching overload for '{function}' applied to '({})'",
            types.join(", ")
        ))
    }

    /// `no such key: K` for a missing map key or field: the key is a name from the expression
    /// (or a document's key), never a value.
    #[cold]
    #[inline(never)]
    pub fn no_such_key(key: &str) -> EvalError {
        EvalError(format!("no such key: {key}"))
    }
}
