//! The CEL environment policies are compiled and evaluated in: a thin adapter over `cel-k8s`.
//! Pure: no I/O.
//!
//! The rest of the crate sees [`Environment::compile`] (and its checked form), the compiled
//! [`Program`] it gives (the `cel-k8s` program the engine evaluates, beside the analyses the
//! policy loader and `lint` read: references, cost estimate, facts) and the environment's
//! budget. Each expression is parsed once: the checker, the compiler and the analyses read the
//! same tree. Compilation refuses unknown variables and functions, invalid constant regexes,
//! and nesting deep enough to overflow the evaluator's stack.

pub use cel_k8s::analysis::{facts as expression_facts, size_bound};
pub use cel_k8s::analysis::{Estimate, References, SizeBound, SizeBounds};
pub use cel_k8s::{
    DEFAULT_MAX_EXPRESSION_COST, MAX_BRACKET_DEPTH, MAX_EXPRESSION_BYTES, MAX_TREE_DEPTH,
    ROOT_VARIABLES,
};

use cel_k8s::analysis::{Facts, Syntax};
use std::fmt;

/// Deepest nesting of calls and comprehensions accepted, counting a call for each charge of the
/// cost model (see [`Estimate::metered_depth`] and `docs/lint.md`): it keeps the evaluator's
/// recursion within a 2 MiB thread stack.
pub const MAX_METERED_DEPTH: usize = 48;

/// A compile error, with a 1-based line and column inside the expression where known.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}{message}", position.map(|(l, c)| format!("line {l}, column {c}: ")).unwrap_or_default())]
pub struct CompileError {
    pub position: Option<(u32, u32)>,
    pub message: String,
}

/// A compiled expression, kept beside its source text: the program the engine runs
/// ([`Program::executable`], compiled by `cel-k8s`), and the parsed tree the cost estimate and
/// lint read.
pub struct Program {
    pub source: String,
    /// What the engine evaluates.
    pub executable: cel_k8s::Program,
    syntax: Syntax,
    /// The estimate with the shapes last given (see [`Program::bound`]; at first, unknown).
    pub estimate: Estimate,
    pub references: References,
    /// The type checking inferred for the expression, when it was compiled with a
    /// [`TypeCheck`] (`variables.NAME` has this type in the expressions after it).
    pub result_type: Option<cel_k8s::Type>,
}

impl Program {
    /// The static cost estimate of the expression when its variables have these shapes.
    pub fn estimate(&self, shapes: &SizeBounds) -> Estimate {
        self.syntax.estimate(shapes)
    }

    /// Estimates the cost with these shapes (what the policy knows: its objects' schemas, its
    /// parameters) and keeps the estimate as the program's.
    pub fn bound(&mut self, shapes: &SizeBounds) -> &Estimate {
        self.estimate = self.syntax.estimate(shapes);
        &self.estimate
    }

    /// The facts lint reads (see [`Facts`]).
    pub fn facts(&self) -> Facts {
        self.syntax.facts()
    }
}

/// What an expression is compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Purpose {
    /// A condition, variable, validation or message: no object literals.
    #[default]
    Check,
    /// A mutation: may build `Object{...}` and `JSONPatch{...}` literals.
    Mutation,
}

impl From<Purpose> for cel_k8s::Purpose {
    fn from(purpose: Purpose) -> cel_k8s::Purpose {
        match purpose {
            Purpose::Check => cel_k8s::Purpose::Check,
            Purpose::Mutation => cel_k8s::Purpose::Mutation,
        }
    }
}

impl fmt::Debug for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Program")
            .field("source", &self.source)
            .finish()
    }
}

/// How an expression is type-checked when compiled: the names it may use with their types (see
/// `cel_k8s::check`), and the result types its field requires (empty: any).
#[derive(Debug, Clone, Copy)]
pub struct TypeCheck<'a> {
    pub declarations: &'a cel_k8s::check::Declarations,
    pub result: &'a [cel_k8s::Type],
}

/// The `cel-k8s` environment expressions are compiled in, for a target, with the budget of one
/// evaluation of one expression.
pub struct Environment {
    runtime: cel_k8s::Environment,
    /// The target its unchecked compilations call the functions of.
    profile: cel_k8s::Profile,
}

impl Default for Environment {
    fn default() -> Self {
        Environment::new()
    }
}

impl Environment {
    /// Every function the gate implements, with the default budget.
    pub fn new() -> Environment {
        Environment {
            runtime: cel_k8s::Environment::new(),
            profile: cel_k8s::Profile::everything(),
        }
    }

    /// The environment of a target (see `cel_k8s::profile`): an expression compiled without a
    /// type check calls the functions its Kubernetes release and extensions offer (a checked
    /// one, those of its declarations' target).
    pub fn for_profile(profile: cel_k8s::Profile) -> Environment {
        Environment {
            runtime: cel_k8s::Environment::for_profile(profile),
            profile,
        }
    }

    /// The target (`Environment::new`'s: every function the gate implements).
    pub fn profile(&self) -> cel_k8s::Profile {
        self.profile
    }

    /// The same environment, with another runtime budget per evaluation of one expression.
    pub fn with_budget(mut self, units: u64) -> Environment {
        self.runtime = self.runtime.with_budget(units);
        self
    }

    /// The environment the engine evaluates in (`cel-k8s`), with the same budget.
    pub fn runtime(&self) -> &cel_k8s::Environment {
        &self.runtime
    }

    /// Cost units one evaluation of one expression may spend.
    pub fn budget(&self) -> u64 {
        self.runtime.budget()
    }

    /// Compiles an expression, checking what it refers to. `variables` are the names
    /// `variables.NAME` may use.
    pub fn compile(&self, source: &str, variables: &[&str]) -> Result<Program, CompileError> {
        self.compile_for(source, variables, Purpose::Check)
    }

    /// Compiles an expression for a purpose (see [`Purpose`]).
    pub fn compile_for(
        &self,
        source: &str,
        variables: &[&str],
        purpose: Purpose,
    ) -> Result<Program, CompileError> {
        self.compile_checked(source, variables, purpose, None)
    }

    /// Compiles an expression for a purpose, type-checking it as Kubernetes does when a policy
    /// is created (with `check`): a type error, or a result of another type than the field
    /// requires, is a compile error (the first one, by position).
    pub fn compile_checked(
        &self,
        source: &str,
        variables: &[&str],
        purpose: Purpose,
        check: Option<TypeCheck<'_>>,
    ) -> Result<Program, CompileError> {
        // The parser recurses once per operator of a chain (`a.b.c...`, `1+1+...`), which no
        // pre-check bounds well: parse on a thread with a stack large enough for the longest
        // expression accepted, and drop a rejected (deep) tree there too.
        cel_k8s::syntax::on_parse_stack(|| Ok(self.compile_here(source, variables, purpose, check)))
            .map_err(CompileError::from)
            .and_then(|compiled| compiled)
    }

    fn compile_here(
        &self,
        source: &str,
        variables: &[&str],
        purpose: Purpose,
        check: Option<TypeCheck<'_>>,
    ) -> Result<Program, CompileError> {
        let parsed = cel_k8s::syntax::parse(source)?;
        let references = References::of(&parsed, source, variables, purpose.into())?;
        // Unknown shapes meter the most: no later estimate nests deeper.
        let estimate = cel_k8s::analysis::estimate::estimate(&parsed.expr, &SizeBounds::unknown());
        if estimate.metered_depth > MAX_METERED_DEPTH {
            return Err(CompileError {
                position: None,
                message: format!(
                    "expression nests calls and comprehensions deeper than {MAX_METERED_DEPTH} levels (counting the cost meter's)"
                ),
            });
        }
        let options = cel_k8s::CompileOptions {
            variables,
            purpose: purpose.into(),
        };
        let (executable, result_type) = match check {
            None => (
                self.runtime.compile_parsed(source, &parsed, &options)?,
                None,
            ),
            Some(check) => {
                // Compiled against the functions of the declarations' target (its
                // extensions, `kms` among them, included).
                let (executable, checked) = self
                    .runtime
                    .compile_checked_parsed(source, &parsed, &options, check.declarations)
                    .map_err(first_error)?;
                if !check.result.is_empty() {
                    // The whole expression has the wrong type: point at its start.
                    cel_k8s::check::expect_result(&checked, check.result).map_err(|e| {
                        CompileError {
                            position: Some((1, 1)),
                            message: e.message,
                        }
                    })?;
                }
                (executable, Some(checked.result))
            }
        };
        Ok(Program {
            source: source.to_owned(),
            executable,
            syntax: Syntax::new(source, parsed),
            estimate,
            references,
            result_type,
        })
    }
}

impl From<cel_k8s::CompileError> for CompileError {
    fn from(e: cel_k8s::CompileError) -> CompileError {
        CompileError {
            position: e.position,
            message: e.message,
        }
    }
}

/// The first of a check's errors (they come in the order of their positions), saying how many
/// more there are.
fn first_error(errors: Vec<cel_k8s::CompileError>) -> CompileError {
    let more = errors.len().saturating_sub(1);
    let mut first = errors
        .into_iter()
        .next()
        .map(CompileError::from)
        .unwrap_or_else(|| CompileError {
            position: None,
            message: "the expression does not type-check".into(),
        });
    match more {
        0 => {}
        1 => first.message.push_str(" (and 1 more type error)"),
        n => first
            .message
            .push_str(&format!(" (and {n} more type errors)")),
    }
    first
}

/// The result of evaluating an expression that reads nothing (`lint`'s constant expressions):
/// evaluated with no variables bound, on the environment's budget.
pub fn evaluate_constant<'p>(
    env: &Environment,
    program: &'p Program,
) -> Result<cel_k8s::Value<'p>, cel_k8s::EvalError> {
    program
        .executable
        .evaluate(&cel_k8s::Activation::new(), &mut env.runtime.meter())
}

#[cfg(test)]
mod tests;
