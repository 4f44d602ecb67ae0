//! What a parsed expression refers to, found by walking its syntax tree once at load time:
//! unknown variables and functions become compile errors (a function is known when the
//! reference, [`crate::docs::LIBRARY`], documents it), `variables.NAME` uses are listed, object
//! literals are refused outside mutations, constant regexes are checked, and the tree's depth is
//! bounded.

use super::visit;
use crate::env::{Purpose, ROOT_VARIABLES};
use crate::error::CompileError;
use crate::syntax::{Parsed, MAX_TREE_DEPTH};
use cel::common::ast::{Expr, IdedExpr, LiteralValue};

/// The names the parser gives operators and macro expansions, and the helpers expansions
/// call: known at compile time, but not functions a policy author calls by name.
const OPERATORS: &[&str] = &[
    "_?_:_",
    "_&&_",
    "_||_",
    "!_",
    "_-_",
    "_+_",
    "_*_",
    "_/_",
    "_%_",
    "_==_",
    "_!=_",
    "_>=_",
    "_<=_",
    "_>_",
    "_<_",
    "-_",
    "_[_]",
    "_[?_]",
    "_?._",
    "@in",
    "@not_strictly_false",
    "math.@max",
    "math.@min",
    "@sortByAssociatedKeys",
    crate::syntax::MAP_INSERT,
];

/// Whether a policy may call `name` (an operator or a documented function).
fn is_known(name: &str) -> bool {
    OPERATORS.contains(&name) || crate::docs::LIBRARY.iter().any(|doc| doc.name == name)
}

/// Identifiers that name types or namespaces rather than variables.
const TYPE_NAMES: &[&str] = &[
    "int",
    "uint",
    "double",
    "bool",
    "string",
    "bytes",
    "list",
    "map",
    "null_type",
    "type",
    "dyn",
    "optional",
    "math",
    "strings",
    "lists",
    "base64",
    "sets",
    "jsonpatch",
    "net",
    "kubernetes",
    "kms",
];

/// Namespaces whose functions are called as `ns.fn(...)`.
const NAMESPACES: &[&str] = &[
    "math",
    "strings",
    "lists",
    "base64",
    "optional",
    "sets",
    "ip",
    "jsonpatch",
    "format",
    "kms",
];

/// The facts about one expression that the engine uses.
#[derive(Debug, Clone, Default)]
pub struct References {
    /// `variables.NAME` names used, in first-use order.
    pub variables: Vec<String>,
    /// Whether the expression reads `params`.
    pub uses_params: bool,
}

struct Walk<'a> {
    source: &'a str,
    parsed: &'a Parsed,
    allowed_variables: &'a [&'a str],
    purpose: Purpose,
    bound: Vec<String>,
    found: References,
}

impl References {
    /// What `parsed` (the tree of `source`) refers to; `allowed_variables` are the names
    /// `variables.NAME` may use.
    pub fn of(
        parsed: &Parsed,
        source: &str,
        allowed_variables: &[&str],
        purpose: Purpose,
    ) -> Result<References, CompileError> {
        let mut walk = Walk {
            source,
            parsed,
            allowed_variables,
            purpose,
            bound: Vec::new(),
            found: References::default(),
        };
        walk.expr(&parsed.expr, 0)?;
        Ok(walk.found)
    }
}

impl Walk<'_> {
    fn error(&self, expr: &IdedExpr, message: String) -> CompileError {
        CompileError::new(self.parsed.position(self.source, expr.id), message)
    }

    /// An error about a call, at the function's name: the parser places a call at its `(`.
    fn call_error(&self, expr: &IdedExpr, function: &str, message: String) -> CompileError {
        let position = self.parsed.call_position(self.source, expr.id, function);
        CompileError::new(position, message)
    }

    fn expr(&mut self, expr: &IdedExpr, depth: usize) -> Result<(), CompileError> {
        if depth > MAX_TREE_DEPTH {
            return Err(self.error(
                expr,
                format!("expression is nested deeper than {MAX_TREE_DEPTH} levels"),
            ));
        }
        let next = depth + 1;
        match &expr.expr {
            Expr::Ident(name) => self.ident(expr, name),
            Expr::Select(select) => {
                if let Expr::Ident(root) = &select.operand.expr {
                    if root == "variables" && !self.bound.iter().any(|b| b == "variables") {
                        if !self.allowed_variables.contains(&select.field.as_str()) {
                            return Err(self.error(
                                expr,
                                format!("unknown variable \"variables.{}\"", select.field),
                            ));
                        }
                        if !self.found.variables.contains(&select.field) {
                            self.found.variables.push(select.field.clone());
                        }
                        return Ok(());
                    }
                }
                self.expr(&select.operand, next)
            }
            Expr::Call(call) => {
                let mut name = call.func_name.clone();
                let mut target = call.target.as_deref();
                if let Some(IdedExpr {
                    expr: Expr::Ident(ns),
                    ..
                }) = target
                {
                    if NAMESPACES.contains(&ns.as_str()) && !self.bound.contains(ns) {
                        name = format!("{ns}.{name}");
                        target = None;
                    }
                }
                if let Some(t) = target {
                    self.expr(t, next)?;
                }
                if !is_known(&name) {
                    let message = format!("unknown function \"{name}\"");
                    return Err(self.call_error(expr, &call.func_name, message));
                }
                if name == "matches" {
                    let pattern = match (target, call.args.as_slice()) {
                        (Some(_), [pattern]) | (None, [_, pattern]) => Some(pattern),
                        _ => None,
                    };
                    if let Some(IdedExpr {
                        expr: Expr::Literal(LiteralValue::String(p)),
                        ..
                    }) = pattern
                    {
                        crate::libs::regex::compile(p.inner()).map_err(|e| {
                            self.error(expr, format!("invalid regular expression: {e}"))
                        })?;
                    }
                }
                call.args.iter().try_for_each(|a| self.expr(a, next))
            }
            Expr::Struct(s) => {
                let in_mutation = self.purpose == Purpose::Mutation;
                let allowed = (in_mutation && crate::program::is_mutation_type(&s.type_name))
                    || crate::is_message_type(&s.type_name);
                if !allowed {
                    let message = crate::program::literal_not_allowed(&s.type_name, in_mutation);
                    return Err(self.error(expr, message));
                }
                visit::try_entries(&s.entries, |e| self.expr(e, next))
            }
            Expr::List(_) | Expr::Map(_) => visit::try_children(expr, |e| self.expr(e, next)),
            Expr::Comprehension(c) => {
                self.expr(&c.iter_range, next)?;
                self.expr(&c.accu_init, next)?;
                let before = self.bound.len();
                self.bound.push(c.accu_var.clone());
                self.expr(&c.result, next)?;
                self.bound.push(c.iter_var.clone());
                self.bound.extend(c.iter_var2.clone());
                self.expr(&c.loop_cond, next)?;
                self.expr(&c.loop_step, next)?;
                self.bound.truncate(before);
                Ok(())
            }
            Expr::Literal(_) | Expr::Unspecified => Ok(()),
        }
    }

    fn ident(&mut self, expr: &IdedExpr, name: &str) -> Result<(), CompileError> {
        if self.bound.iter().any(|b| b == name) || TYPE_NAMES.contains(&name) {
            return Ok(());
        }
        if name == "variables" {
            return Err(self.error(
                expr,
                "\"variables\" is only usable as variables.NAME".to_owned(),
            ));
        }
        if ROOT_VARIABLES.contains(&name) {
            self.found.uses_params |= name == "params";
            return Ok(());
        }
        if name == "authorizer" {
            return Err(self.error(expr, crate::check::AUTHORIZER_MESSAGE.to_owned()));
        }
        Err(self.error(expr, format!("unknown variable \"{name}\"")))
    }
}
