//! The traversal the tree's walkers share: a node's children in the order the source writes
//! them (a call's target then its arguments, an entry's key then its value, a comprehension's
//! range, initial accumulator, condition, step and result). Each walker adds what it tracks
//! around it (the names a comprehension binds, the shapes of values).

use cel::common::ast::{EntryExpr, Expr, IdedEntryExpr, IdedExpr};

/// Calls `visit` on each child of `expr`, in order, stopping at its first error.
pub fn try_children<'a, E>(
    expr: &'a IdedExpr,
    mut visit: impl FnMut(&'a IdedExpr) -> Result<(), E>,
) -> Result<(), E> {
    match &expr.expr {
        Expr::Call(call) => {
            if let Some(target) = call.target.as_deref() {
                visit(target)?;
            }
            call.args.iter().try_for_each(visit)
        }
        Expr::Select(select) => visit(&select.operand),
        Expr::List(list) => list.elements.iter().try_for_each(visit),
        Expr::Map(map) => try_entries(&map.entries, visit),
        Expr::Struct(literal) => try_entries(&literal.entries, visit),
        Expr::Comprehension(c) => [
            &c.iter_range,
            &c.accu_init,
            &c.loop_cond,
            &c.loop_step,
            &c.result,
        ]
        .into_iter()
        .try_for_each(visit),
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => Ok(()),
    }
}

/// Calls `visit` on the expressions of a map or struct literal's entries (each key, then its
/// value), stopping at its first error.
pub fn try_entries<'a, E>(
    entries: &'a [IdedEntryExpr],
    mut visit: impl FnMut(&'a IdedExpr) -> Result<(), E>,
) -> Result<(), E> {
    entries.iter().try_for_each(|entry| match &entry.expr {
        EntryExpr::MapEntry(e) => {
            visit(&e.key)?;
            visit(&e.value)
        }
        EntryExpr::StructField(f) => visit(&f.value),
    })
}

/// Calls `visit` on each child of `expr`, in order.
pub fn children<'a>(expr: &'a IdedExpr, mut visit: impl FnMut(&'a IdedExpr)) {
    let _ = try_children::<()>(expr, |child| {
        visit(child);
        Ok(())
    });
}
