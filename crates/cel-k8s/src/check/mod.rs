//! The type checker: cel-go's checker (checker/checker.go) over the `cel` crate's parsed tree,
//! with the declarations Kubernetes gives admission policies.
//!
//! [`check`] infers a type for every expression, resolves each call to the overloads that
//! match its argument types, and reports what cel-go reports, worded as cel-go words it
//! (`undeclared reference to 'x' (in container '')`, `undefined field 'f'`, `found no matching
//! overload for '_+_' applied to '(string, int)'`), at the line and column of the expression.
//! After checking it applies Kubernetes' literal validators: homogeneous list and map literals
//! (`cel.HomogeneousAggregateLiterals`), and constant arguments of `duration`, `timestamp` and
//! `matches`.
//!
//! Kubernetes compiles a policy's expressions with `object`, `oldObject` and `params` typed
//! `dyn` (what the API server refuses), and type-checks them again against the schemas of the
//! matched kinds (what it reports as `status.typeChecking` warnings): [`Declarations::admission`]
//! builds either, given `dyn` or a [`schema::object_type`]. The functions and macros declared are
//! those of a target ([`crate::profile::Profile`], [`Declarations::profile`]): a Kubernetes
//! release's (the newest by default) and the extensions asked for; a call of one the target
//! lacks is refused naming the release that added it, or the extension and how to ask for it.
//!
//! The tests compare messages, positions and result types with what a real kube-apiserver
//! (1.37.2) answers for the same expressions (`testdata/kubernetes`).

mod checker;
mod decls;
mod env;
mod kube;
pub mod schema;
mod ty;
mod validate;

#[cfg(test)]
mod tests;

#[cfg(test)]
pub(crate) use decls::parse_type;
pub use decls::{functions, Overload, CIDR, IP, NAMED_FORMAT, QUANTITY, SEMVER, URL};
pub use env::{
    apply_configuration_result, check_variables, expect_result, json_patch_result, Checked,
    Declarations,
};
pub use kube::{namespace_type, request_type};

use crate::error::CompileError;
use crate::types::Type;
use cel::common::ast::{IdedExpr, SourceInfo};
use checker::Checker;
use std::collections::HashMap;
use ty::Mapping;

/// Deepest expression tree checked: deeper, the check stops with an error instead of
/// recursing further (the parser's callers refuse far shallower trees; this bounds the
/// checker's stack by itself).
pub const MAX_CHECK_DEPTH: usize = 250;

/// The message for `authorizer`, which the gate cannot offer.
pub const AUTHORIZER_MESSAGE: &str =
    "\"authorizer\" is not supported: the gate has no API server to ask";

/// Type-checks an expression parsed with `source` against `declarations`.
pub fn check(
    expr: &IdedExpr,
    source: &SourceInfo,
    declarations: &Declarations,
) -> Result<Checked, Vec<CompileError>> {
    let mut checker = Checker {
        declarations,
        source,
        mapping: Mapping::default(),
        types: HashMap::new(),
        overloads: HashMap::new(),
        scopes: Vec::new(),
        errors: Vec::new(),
        depth: 0,
    };
    checker.check(expr);
    let types: HashMap<u64, Type> = checker
        .types
        .iter()
        .map(|(id, t)| (*id, checker.mapping.substitute(t).to_type()))
        .collect();
    let mut errors = checker.errors;
    if errors.is_empty() {
        validate::literals(expr, &types, source, &mut errors);
        validate::format_calls(expr, &types, source, &mut errors);
    }
    // cel-go reports its issues in the order of their positions.
    errors.sort_by_key(|e| e.position.unwrap_or((u32::MAX, u32::MAX)));
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Checked {
        result: types.get(&expr.id).cloned().unwrap_or(Type::Dyn),
        types,
        overloads: checker.overloads,
    })
}

/// Parses an expression (as [`crate::Environment::compile`] parses it, with the same limits,
/// on a thread with a large stack) and type-checks it against `declarations`.
pub fn check_source(
    source: &str,
    declarations: &Declarations,
) -> Result<Checked, Vec<CompileError>> {
    crate::syntax::on_parse_stack(|| {
        let parsed = crate::syntax::parse(source)?;
        Ok(check(&parsed.expr, &parsed.info, declarations))
    })
    .unwrap_or_else(|error| Err(vec![error]))
}

/// The 1-based line and column, in characters, of the expression with this id.
pub(crate) fn position(source: &SourceInfo, id: u64) -> Option<(u32, u32)> {
    let (start, _) = source.offset_for(id)?;
    let text = &source.source;
    let start = (start as usize).min(text.len());
    let start = (0..=start).rev().find(|i| text.is_char_boundary(*i))?;
    let before = &text[..start];
    let line = before.matches('\n').count() as u32 + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = text[line_start..start].chars().count() as u32 + 1;
    Some((line, column))
}
