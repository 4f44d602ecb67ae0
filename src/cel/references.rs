//! What a compiled expression refers to, found by walking its syntax tree once at load time:
//! unknown variables and functions become compile errors, `variables.NAME` uses are listed (so
//! only the variables an expression needs are evaluated), constant regexes are checked and
//! compiled ahead of use, and the tree's depth is bounded.

use super::{functions, literals, CompileError, Purpose, MAX_TREE_DEPTH};
use cel::common::ast::{EntryExpr, Expr, LiteralValue};
use cel::IdedExpr;

/// The variables a Kubernetes admission expression sees.
pub const ROOT_VARIABLES: &[&str] = &[
    "object",
    "oldObject",
    "request",
    "params",
    "namespaceObject",
    "variables",
];

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
    program: &'a cel::Program,
    allowed_variables: &'a [&'a str],
    purpose: Purpose,
    bound: Vec<String>,
    found: References,
}

impl References {
    pub(super) fn of(
        program: &cel::Program,
        source: &str,
        allowed_variables: &[&str],
        purpose: Purpose,
    ) -> Result<References, CompileError> {
        let mut walk = Walk {
            source,
            program,
            allowed_variables,
            purpose,
            bound: Vec::new(),
            found: References::default(),
        };
        walk.expr(program.expression(), 0)?;
        Ok(walk.found)
    }
}

impl Walk<'_> {
    fn error(&self, expr: &IdedExpr, message: String) -> CompileError {
        let position = self
            .program
            .source_info()
            .offset_for(expr.id)
            .map(|(start, _)| line_column(self.source, start as usize));
        CompileError { position, message }
    }

    /// An error about a call, at the function's name: the parser places a call at its `(`.
    fn call_error(&self, expr: &IdedExpr, function: &str, message: String) -> CompileError {
        let start = self.program.source_info().offset_for(expr.id);
        let position = start.map(|(start, _)| {
            let start = start as usize;
            let at_paren = self.source.as_bytes().get(start) == Some(&b'(');
            let name_start = start.checked_sub(function.len()).filter(|_| at_paren);
            line_column(self.source, name_start.unwrap_or(start))
        });
        CompileError { position, message }
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
                if !functions::is_known(&name) {
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
                        functions::precompile(p.inner()).map_err(|e| {
                            self.error(expr, format!("invalid regular expression: {e}"))
                        })?;
                    }
                }
                call.args.iter().try_for_each(|a| self.expr(a, next))
            }
            Expr::List(list) => list.elements.iter().try_for_each(|e| self.expr(e, next)),
            Expr::Map(map) => map.entries.iter().try_for_each(|entry| match &entry.expr {
                EntryExpr::MapEntry(e) => {
                    self.expr(&e.key, next)?;
                    self.expr(&e.value, next)
                }
                EntryExpr::StructField(f) => self.expr(&f.value, next),
            }),
            Expr::Struct(s) => {
                let in_mutation = self.purpose == Purpose::Mutation;
                let allowed = (in_mutation && literals::is_mutation_type(&s.type_name))
                    || cel_k8s::is_message_type(&s.type_name);
                if !allowed {
                    return Err(self.error(expr, literals::not_allowed(&s.type_name, in_mutation)));
                }
                s.entries.iter().try_for_each(|entry| match &entry.expr {
                    EntryExpr::MapEntry(e) => {
                        self.expr(&e.key, next)?;
                        self.expr(&e.value, next)
                    }
                    EntryExpr::StructField(f) => self.expr(&f.value, next),
                })
            }
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
            return Err(self.error(
                expr,
                "\"authorizer\" is not supported: the gate has no API server to ask".to_owned(),
            ));
        }
        Err(self.error(expr, format!("unknown variable \"{name}\"")))
    }
}

/// 1-based line and column (in characters) of a byte offset, as the parser gives them.
pub(super) fn line_column(source: &str, offset: usize) -> (u32, u32) {
    let (mut line, mut column) = (1u32, 1u32);
    for (_, c) in source.char_indices().take_while(|(i, _)| *i < offset) {
        if c == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    (line, column)
}
