//! Object literals of mutations: `Object{...}`, `Object.spec.template{...}` and `JSONPatch{...}`.
//!
//! Kubernetes type-checks these against the resource's OpenAPI schema and builds typed objects.
//! We have no schemas at evaluation time, so a literal is rewritten, once at compile time, into
//! the map with the same fields: an apply configuration and a patch operation are JSON objects
//! in the end. Other struct literals (no policy can construct any other type) are compile errors,
//! and so is any literal outside a mutation.

use super::CompileError;
use cel::common::ast::{EntryExpr, Expr, LiteralValue, MapEntryExpr, MapExpr};
use cel::IdedExpr;

/// Whether a struct literal's type name is one a mutation may construct.
pub(super) fn is_mutation_type(name: &str) -> bool {
    name == "Object" || name.starts_with("Object.") || name == "JSONPatch"
}

/// The message for a struct literal that is not allowed where it is written.
pub(super) fn not_allowed(name: &str, in_mutation: bool) -> String {
    if in_mutation {
        format!(
            "\"{name}{{...}}\" constructs an unknown type: a mutation builds Object{{...}} (and Object.FIELD{{...}}) or JSONPatch{{...}}"
        )
    } else {
        format!("undeclared reference to '{name}' (in container ''): \"{name}{{...}}\": object literals are only allowed in the expressions of a MutatingAdmissionPolicy's mutations")
    }
}

/// Rewrites every allowed struct literal of the tree into a map literal, in place.
pub(super) fn rewrite(expr: &mut IdedExpr) -> Result<(), CompileError> {
    match &mut expr.expr {
        // A protocol buffer message literal (`google.protobuf.Duration{...}`) stays one.
        Expr::Struct(s) if cel_k8s::is_message_type(&s.type_name) => {
            for entry in &mut s.entries {
                if let EntryExpr::StructField(field) = &mut entry.expr {
                    rewrite(&mut field.value)?;
                }
            }
            Ok(())
        }
        Expr::Struct(s) => {
            if !is_mutation_type(&s.type_name) {
                return Err(CompileError {
                    position: None,
                    message: not_allowed(&s.type_name, true),
                });
            }
            let mut entries = std::mem::take(&mut s.entries);
            for entry in &mut entries {
                if let EntryExpr::StructField(field) = &mut entry.expr {
                    rewrite(&mut field.value)?;
                    let value = std::mem::take(&mut field.value);
                    entry.expr = EntryExpr::MapEntry(MapEntryExpr {
                        key: IdedExpr {
                            // The key takes the entry's id: ids only serve positions here.
                            id: entry.id,
                            expr: Expr::Literal(LiteralValue::String(field.field.clone().into())),
                        },
                        value,
                        optional: field.optional,
                    });
                }
            }
            expr.expr = Expr::Map(MapExpr { entries });
            Ok(())
        }
        Expr::Call(call) => {
            if let Some(target) = call.target.as_deref_mut() {
                rewrite(target)?;
            }
            call.args.iter_mut().try_for_each(rewrite)
        }
        Expr::Select(select) => rewrite(&mut select.operand),
        Expr::List(list) => list.elements.iter_mut().try_for_each(rewrite),
        Expr::Map(map) => map
            .entries
            .iter_mut()
            .try_for_each(|entry| match &mut entry.expr {
                EntryExpr::MapEntry(e) => {
                    rewrite(&mut e.key)?;
                    rewrite(&mut e.value)
                }
                EntryExpr::StructField(f) => rewrite(&mut f.value),
            }),
        Expr::Comprehension(c) => {
            rewrite(&mut c.iter_range)?;
            rewrite(&mut c.accu_init)?;
            rewrite(&mut c.loop_cond)?;
            rewrite(&mut c.loop_step)?;
            rewrite(&mut c.result)
        }
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => Ok(()),
    }
}
