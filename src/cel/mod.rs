//! The CEL environment policies are compiled and evaluated in. Pure: no I/O.
//!
//! The rest of the crate sees [`Environment::compile`], [`Environment::evaluate`] and
//! [`to_cel`]: the evaluator underneath (the `cel` crate) can be tuned or replaced without
//! touching policies or the engine. Compilation checks what `cel` leaves to run time: unknown
//! variables and functions, invalid constant regexes, and nesting deep enough to overflow the
//! evaluator's stack.

mod convert;
mod cost;
pub mod expression_facts;
mod functions;
mod literals;
mod meter;
mod references;
pub mod size_bound;

pub use convert::{list_val, map_val, null_val, string_val, to_val, Shared, SharedList, SharedMap};
pub use cost::{Estimate, SizeBounds};
pub use references::{References, ROOT_VARIABLES};
pub use size_bound::SizeBound;

use cel::common::traits::Indexer;
use cel::common::types::{CelBool, CelNull, CelString, Type, DYN_TYPE};
use cel::common::value::{CowVal, Val};
use cel::{Context, Env};
use std::fmt;
use std::sync::Arc;

/// Longest expression accepted, in bytes.
pub const MAX_EXPRESSION_BYTES: usize = 16 * 1024;
/// Deepest bracket nesting accepted before parsing (the parser recurses on it).
pub const MAX_BRACKET_DEPTH: usize = 32;
/// Deepest syntax tree accepted after parsing (the evaluator recurses on it).
pub const MAX_TREE_DEPTH: usize = 96;
/// Deepest nesting of calls and comprehensions in the evaluated (metered) tree: the evaluator's
/// frames for them are the largest, and this many fit a 2 MiB thread stack in a debug build
/// (measured: 52 do, 56 do not).
pub const MAX_METERED_DEPTH: usize = 48;
/// Stack for the parser: enough for the deepest chain MAX_EXPRESSION_BYTES can spell. It is
/// reserved address space; only what the parser touches is memory.
const COMPILE_STACK_BYTES: usize = 128 * 1024 * 1024;
/// The default limit of one expression's cost, estimated at load and spent at run time
/// (Kubernetes' `StaticEstimatedCostLimit`; see `docs/lint.md`).
pub const DEFAULT_MAX_EXPRESSION_COST: u64 = 10_000_000;

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

/// A compiled expression, kept beside its source text: the program the engine runs
/// ([`Program::executable`], compiled by `cel-k8s`), and the `cel` crate's tree this module's
/// analysis, cost estimate and lint read (and which the reference interpreter runs in tests).
pub struct Program {
    pub source: String,
    /// What the engine evaluates.
    pub executable: cel_k8s::Program,
    program: cel::Program,
    /// The tree with object literals rewritten (see [`literals`]), for a mutation's expression.
    rewritten: Option<cel::IdedExpr>,
    /// The tree evaluated: the expression with the runtime meter's calls (see [`cost`]).
    metered: cel::IdedExpr,
    /// The estimate the metered tree was built with.
    pub estimate: Estimate,
    pub references: References,
    /// The type checking inferred for the expression, when it was compiled with a
    /// [`TypeCheck`] (`variables.NAME` has this type in the expressions after it).
    pub result_type: Option<cel_k8s::Type>,
}

impl Program {
    fn expression(&self) -> &cel::IdedExpr {
        self.rewritten
            .as_ref()
            .unwrap_or_else(|| self.program.expression())
    }

    /// The static cost estimate of the expression when its variables have these shapes.
    pub fn estimate(&self, shapes: &SizeBounds) -> Estimate {
        cost::estimate(self.expression(), shapes).0
    }

    /// Estimates the cost with these shapes, and meters at run time what they leave unbounded:
    /// the shapes a policy knows (its objects' schemas, its parameters) spare the meter's calls
    /// on values they bound as small.
    pub fn meter(&mut self, shapes: &SizeBounds) -> &Estimate {
        let (estimate, metered) = cost::estimate(self.expression(), shapes);
        self.estimate = estimate;
        self.metered = metered;
        &self.estimate
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

/// The values an expression sees. Unset root variables are `null`.
#[derive(Default, Clone)]
pub struct Activation {
    pub values: Vec<(&'static str, Shared)>,
}

impl Activation {
    pub fn set(&mut self, name: &'static str, value: Box<dyn Val>) {
        let value = Shared::from(value);
        match self.values.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.values.push((name, value)),
        }
    }
}

/// The functions and macros of Kubernetes CEL that the `cel` crate provides, plus ours, and the
/// `cel-k8s` environment that compiles what the engine runs.
pub struct Environment {
    env: Arc<Env>,
    runtime: cel_k8s::Environment,
    /// Cost units one evaluation of one expression may spend (see [`meter`]).
    budget: u64,
    /// The target its unchecked compilations call the functions of.
    profile: cel_k8s::Profile,
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
            .and_then(|_| meter::register(&mut env))
            .expect("the CEL extensions register without conflict");
        Environment {
            env: Arc::new(env),
            runtime: cel_k8s::Environment::new(),
            budget: DEFAULT_MAX_EXPRESSION_COST,
            profile: cel_k8s::Profile::everything(),
        }
    }

    /// The environment of a target (see `cel_k8s::profile`): an expression compiled without a
    /// type check calls the functions its Kubernetes release and extensions offer (a checked
    /// one, those of its declarations' target).
    pub fn for_profile(profile: cel_k8s::Profile) -> Environment {
        let mut env = Environment::new();
        env.runtime = cel_k8s::Environment::for_profile(profile).with_budget(env.budget);
        env.profile = profile;
        env
    }

    /// The target (`Environment::new`'s: every function the gate implements).
    pub fn profile(&self) -> cel_k8s::Profile {
        self.profile
    }

    /// The same environment, with another runtime budget per evaluation of one expression.
    pub fn with_budget(mut self, units: u64) -> Environment {
        self.budget = units;
        self.runtime = self.runtime.with_budget(units);
        self
    }

    /// The environment the engine evaluates in (`cel-k8s`), with the same budget.
    pub fn runtime(&self) -> &cel_k8s::Environment {
        &self.runtime
    }

    /// Cost units one evaluation of one expression may spend.
    pub fn budget(&self) -> u64 {
        self.budget
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
        check_size(source)?;
        // The parser recurses once per operator of a chain (`a.b.c...`, `1+1+...`), which no
        // pre-check bounds well: parse on a thread with a stack large enough for the longest
        // expression accepted, and drop a rejected (deep) tree there too.
        std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name("cel-compile".into())
                .stack_size(COMPILE_STACK_BYTES)
                .spawn_scoped(scope, || {
                    self.compile_here(source, variables, purpose, check)
                })
                .map_err(|e| CompileError {
                    position: None,
                    message: format!("cannot start the compiler thread: {e}"),
                })?
                .join()
                .unwrap_or_else(|_| {
                    Err(CompileError {
                        position: None,
                        message: "the CEL parser failed on this expression".into(),
                    })
                })
        })
    }

    fn compile_here(
        &self,
        source: &str,
        variables: &[&str],
        purpose: Purpose,
        check: Option<TypeCheck<'_>>,
    ) -> Result<Program, CompileError> {
        let program = self
            .env
            .compile(source)
            .map_err(|errors| CompileError::from(cel_k8s::syntax::parse_error(source, &errors)))?;
        let references = References::of(&program, source, variables, purpose)?;
        let rewritten = match purpose {
            Purpose::Check => None,
            Purpose::Mutation => {
                let mut tree = program.expression().clone();
                literals::rewrite(&mut tree)?;
                Some(tree)
            }
        };
        // Unknown shapes meter the most: no later metering nests deeper.
        let (estimate, metered) = cost::estimate(
            rewritten.as_ref().unwrap_or_else(|| program.expression()),
            &SizeBounds::unknown(),
        );
        if cost::call_depth(&metered) > MAX_METERED_DEPTH {
            return Err(CompileError {
                position: None,
                message: format!(
                    "expression nests calls and comprehensions deeper than {MAX_METERED_DEPTH} levels (counting the cost meter's)"
                ),
            });
        }
        let options = cel_k8s::CompileOptions {
            variables,
            purpose: match purpose {
                Purpose::Check => cel_k8s::Purpose::Check,
                Purpose::Mutation => cel_k8s::Purpose::Mutation,
            },
        };
        let (executable, result_type) = match check {
            None => (
                self.runtime
                    .compile(source, &options)
                    .map_err(CompileError::from)?,
                None,
            ),
            Some(check) => {
                // Compiled against the functions of the declarations' target (its
                // extensions, `kms` among them, included).
                let (executable, checked) = self
                    .runtime
                    .compile_checked(source, &options, check.declarations)
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
            program,
            rewritten,
            metered,
            estimate,
            references,
            result_type,
        })
    }

    /// Binds the activation's values for evaluating many expressions against them: each value
    /// is converted to the evaluator's form once, here. Unset root variables are `null`.
    pub fn scope(&self, activation: &Activation) -> Scope<'static> {
        let mut context = Context::with_env(Arc::clone(&self.env));
        for (name, value) in &activation.values {
            context.add_variable_as_val(*name, value.clone_as_boxed());
        }
        for name in ROOT_VARIABLES {
            if !activation.values.iter().any(|(n, _)| n == name) {
                context.add_variable_as_val(*name, null_val());
            }
        }
        Scope { context }
    }

    /// Evaluates a compiled expression in a scope, with `variables` bound to the given values
    /// (shared, not copied). A panic inside the evaluator is turned into an error, and so is an
    /// evaluation that spends more than the environment's budget.
    pub fn run(
        &self,
        scope: &Scope<'_>,
        program: &Program,
        variables: Vec<(Arc<str>, Shared)>,
    ) -> Result<Shared, EvalError> {
        self.run_metered(scope, program, variables).0
    }

    /// [`Environment::run`], and the cost units the evaluation spent (the budget when it ran out).
    pub fn run_metered(
        &self,
        scope: &Scope<'_>,
        program: &Program,
        variables: Vec<(Arc<str>, Shared)>,
    ) -> (Result<Shared, EvalError>, u64) {
        let run = std::panic::AssertUnwindSafe(|| {
            meter::with_budget(self.budget, || {
                let result = if variables.is_empty() {
                    cel::Value::resolve_val(&program.metered, &scope.context)
                        .map(CowVal::into_owned)
                } else {
                    let mut inner = scope.context.new_inner_scope();
                    inner.add_variable_as_val("variables", Box::new(VariablesVal(variables)));
                    cel::Value::resolve_val(&program.metered, &inner).map(CowVal::into_owned)
                };
                result.map(Shared::from)
            })
        });
        match std::panic::catch_unwind(run) {
            Ok(Ok((result, spent))) => (result.map_err(|e| EvalError(describe(&e))), spent),
            Ok(Err(limit)) => (
                Err(EvalError(format!(
                    "the expression exceeded its cost budget of {limit} units \
                     (comprehension iterations and the size of the values it builds)"
                ))),
                limit,
            ),
            Err(_) => (
                Err(EvalError("the evaluator failed on this expression".into())),
                0,
            ),
        }
    }

    /// Evaluates one expression against an activation (a scope of its own) into a `Value`.
    pub fn evaluate(
        &self,
        program: &Program,
        activation: &Activation,
    ) -> Result<cel::Value, EvalError> {
        let scope = self.scope(activation);
        let result = self.run(&scope, program, Vec::new())?;
        cel::Value::try_from(&*result).map_err(|e| EvalError(describe(&e)))
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

/// Values bound for evaluation, converted once (see [`Environment::scope`]). A child scope adds
/// values (a policy's `params`) over its parent's without copying them.
pub struct Scope<'p> {
    context: Context<'p, 'static>,
}

impl Scope<'_> {
    /// A scope with `name` bound to `value` over this one's values.
    pub fn child(&self, name: &'static str, value: &(dyn Val + 'static)) -> Scope<'_> {
        let mut context = self.context.new_inner_scope();
        context.add_variable_as_val(name, value.clone_as_boxed());
        Scope { context }
    }
}

/// A result as JSON. CEL maps have no order (the evaluator's may vary from run to run): keys come
/// out sorted, so that the same result always gives the same JSON.
pub fn to_json(value: &dyn Val) -> Result<serde_json::Value, EvalError> {
    let value = cel::Value::try_from(value).map_err(|e| EvalError(describe(&e)))?;
    value
        .json()
        .map(sorted_keys)
        .map_err(|e| EvalError(format!("the value has no JSON form: {e}")))
}

fn sorted_keys(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        J::Object(map) => {
            let mut entries: Vec<_> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            J::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, sorted_keys(v)))
                    .collect(),
            )
        }
        J::Array(items) => J::Array(items.into_iter().map(sorted_keys).collect()),
        other => other,
    }
}

/// The result as a bool, if it is one.
pub fn as_bool(value: &dyn Val) -> Option<bool> {
    value.downcast_ref::<CelBool>().map(|b| *b.inner())
}

/// The result as a string, if it is one.
pub fn as_string(value: &dyn Val) -> Option<String> {
    value
        .downcast_ref::<CelString>()
        .map(|s| s.inner().to_owned())
}

/// Whether the result is `null`.
pub fn is_null(value: &dyn Val) -> bool {
    value.downcast_ref::<CelNull>().is_some()
}

/// The CEL type name of a result, for messages.
pub fn type_name(value: &dyn Val) -> String {
    value.get_type().name().to_owned()
}

/// `variables`: a map from the names an expression uses to values computed earlier, handed
/// out by reference.
#[derive(Debug, Clone)]
struct VariablesVal(Vec<(Arc<str>, Shared)>);

impl Val for VariablesVal {
    fn get_type(&self) -> &Type {
        &DYN_TYPE
    }

    fn cel_type() -> &'static Type {
        &DYN_TYPE
    }

    fn as_indexer<'b, 'v>(&'b self) -> Option<&'b (dyn Indexer + 'v)>
    where
        Self: 'v,
    {
        Some(self)
    }

    fn clone_as_boxed<'v>(&self) -> Box<dyn Val + 'v> {
        Box::new(self.clone())
    }
}

impl Indexer for VariablesVal {
    fn get<'b, 'v>(&'b self, idx: &dyn Val) -> Result<CowVal<'b, 'v>, cel::ExecutionError>
    where
        Self: 'v,
    {
        let name = idx.downcast_ref::<CelString>().map_or("", |s| s.inner());
        match self.0.iter().find(|(n, _)| &**n == name) {
            Some((_, value)) => Ok(CowVal::Borrowed(&**value)),
            None => Err(cel::ExecutionError::no_such_key(name)),
        }
    }

    fn steal<'v>(self: Box<Self>, idx: &dyn Val) -> Result<Box<dyn Val + 'v>, cel::ExecutionError>
    where
        Self: 'v,
    {
        self.get(idx).map(CowVal::into_owned)
    }
}

/// Describes an evaluation error by the types involved, never the values: a value may come
/// from the manifest (an env value, a secret) and messages reach logs and CI output.
fn describe(error: &cel::ExecutionError) -> String {
    use cel::ExecutionError as E;
    let ty = |v: &cel::Value| v.type_of().to_string();
    match error {
        E::ValuesNotComparable(a, b) => format!("a {} cannot be compared to a {}", ty(a), ty(b)),
        E::UnsupportedBinaryOperator(op, a, b) => {
            format!(
                "operator '{op}' does not apply to a {} and a {}",
                ty(a),
                ty(b)
            )
        }
        E::UnsupportedTargetType { target } => {
            format!("unsupported argument of type {}", ty(target))
        }
        E::NotSupportedAsMethod { method, target } => {
            format!("'{method}' is not a method of type {}", ty(target))
        }
        E::UnsupportedKeyType(v) => format!("a {} cannot be a map key", ty(v)),
        E::UnsupportedIndex(index, target) => {
            format!("a {} cannot index a {}", ty(index), ty(target))
        }
        E::DivisionByZero(_) => "division by zero".into(),
        E::RemainderByZero(_) => "remainder by zero".into(),
        E::Overflow(op, _, _) => format!("integer overflow in '{op}'"),
        E::IndexOutOfBounds(_) => "list index out of bounds".into(),
        E::DuplicateKey(_) => "duplicate key in a map literal".into(),
        other => other.to_string(),
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
        activation.set("object", to_val(&crate::manifest::Node::from_json(&object)));
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
    fn runtime_errors_name_types_not_values() {
        let cases = [
            (
                "object.metadata.name < 1",
                "no matching overload for '_<_' applied to '(string, int)'",
            ),
            ("1 / 0", "division by zero"),
            ("object.n[5]", "list index out of bounds"),
        ];
        for (source, expected) in cases {
            let err = eval(source).unwrap_err();
            assert!(err.contains(expected), "{source}: {err:?}");
            assert!(!err.contains("\"s\""), "{source}: {err:?} echoes a value");
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
#[cfg(test)]
mod shared_tests {
    use super::*;

    #[test]
    fn shared_containers_behave_as_builtins() {
        let env = Environment::new();
        let object =
            serde_json::json!({"spec": {"list": ["a", "b"], "empty": [], "m": {"k": "v"}}});
        let mut activation = Activation::default();
        activation.set("object", to_val(&crate::manifest::Node::from_json(&object)));
        let cases = [
            "object.?spec.?list.orValue([]) == ['a', 'b']",
            "size(object.spec.list) == 2",
            "size(object.?spec.?list.orValue([])) == 2",
            "size(object.?spec.?nope.orValue([])) == 0",
            "'a' in object.spec.list",
            "object.spec.list.exists(p, string(p) == 'b')",
            "object.spec.list.map(p, p + '!').join(',') == 'a!,b!'",
            "'k' in object.spec.m && object.spec.m.k == 'v'",
            "object.spec.m == {'k': 'v'}",
            "object.spec.list + ['c'] == ['a', 'b', 'c']",
            "type(object.spec.m) == map && type(object.spec.list) == list",
            "object.spec.m[?'k'].orValue('') == 'v'",
            "object.spec.empty.all(x, false)",
        ];
        let mut failed = Vec::new();
        for source in cases {
            let program = env.compile(source, &[]).unwrap();
            let got = env.evaluate(&program, &activation);
            if got != Ok(cel::Value::Bool(true)) {
                failed.push(format!("{source}: {got:?}"));
            }
        }
        assert!(failed.is_empty(), "{failed:#?}");
    }
}
#[cfg(test)]
mod hostile_tests {
    use super::*;

    /// Long operator chains and member chains are refused or evaluated, never a stack overflow
    /// (tests run on 2 MiB thread stacks).
    #[test]
    fn long_chains_do_not_overflow() {
        let env = Environment::new();
        let longest = MAX_EXPRESSION_BYTES;
        let deep = [
            vec!["1"; longest / 2].join("+"),
            format!("object{}", ".a".repeat((longest - 6) / 2)),
            format!("object{}", "[0]".repeat((longest - 6) / 3)),
        ];
        for source in &deep {
            assert!(source.len() <= longest);
            let err = env.compile(source, &[]).unwrap_err().to_string();
            assert!(err.contains("nested deeper than"), "{:.20}: {err}", source);
        }
        let others = [
            vec!["true"; 3000].join(" && "),
            vec!["false"; 2500].join(" || "),
            format!("{}1", "-".repeat(longest - 1)),
            format!("{}true", "!".repeat(longest - 4)),
            format!("[{}]", vec!["1"; 5000].join(",")),
            vec!["1 ? 2 : 3"; 1500].join(" ? 4 : "),
        ];
        // The deepest trees accepted evaluate on a 2 MiB test-thread stack.
        let accepted = [
            format!("object{}", ".a".repeat(MAX_TREE_DEPTH - 2)),
            format!(
                "{}true{}",
                "[".repeat(MAX_BRACKET_DEPTH),
                "]".repeat(MAX_BRACKET_DEPTH)
            ),
            format!(
                "{}1{}",
                "(1 + ".repeat(MAX_BRACKET_DEPTH),
                ")".repeat(MAX_BRACKET_DEPTH)
            ),
        ];
        for source in accepted {
            let program = env
                .compile(&source, &[])
                .unwrap_or_else(|e| panic!("{source:.30}: {e}"));
            let _ = env.evaluate(&program, &Activation::default());
        }
        for source in others {
            let source = &source[..source.len().min(longest)];
            if let Ok(program) = env.compile(source, &[]) {
                let _ = env.evaluate(&program, &Activation::default());
            }
        }
    }
}
