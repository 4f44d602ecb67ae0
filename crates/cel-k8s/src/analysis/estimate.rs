//! The static cost estimate of an expression. Pure.
//!
//! One walk over the syntax tree computes, for every node, an upper bound of its cost and of the
//! size of its value ([`SizeBound`]), in the spirit of Kubernetes' estimator: every node costs 1, a
//! comprehension costs `1 + N` plus `N` times its loop body (N the most entries its range can
//! have, so nested comprehensions multiply), a string function the string's length over 10, a
//! list function the list's length, and every value built (a list or map literal's entries, a
//! `+` of strings or lists, `replace`, `join`, `format`, `strings.quote`, `base64.encode`) its
//! size. The runtime meter ([`crate::cost`]) charges a subset of what the estimate counts, so an
//! expression within its estimate never runs out of budget on an input within the bounds its
//! shapes assume.
//!
//! The same walk measures how deeply the expression nests calls and comprehensions once every
//! charge of the gate's cost model is a call of its own (a comprehension's range, each value
//! built that can be large): [`Estimate::metered_depth`], which load bounds (see
//! `docs/lint.md`).

mod calls;

use super::size_bound::SizeBound;
use cel::common::ast::{
    ComprehensionExpr, EntryExpr, Expr, IdedEntryExpr, IdedExpr, LiteralValue, SelectExpr,
};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Values at most this many cost units (about 640 bytes of text) are not metered at run time:
/// what they cost is bounded by the expression's size and the iterations around them.
const SMALL: u64 = 64;
/// Most entries `lists.range` makes.
const MAX_RANGE: u64 = 1_000_000;

/// The shapes of what an expression can read: the root variables and `variables.NAME`.
#[derive(Debug, Clone)]
pub struct SizeBounds {
    pub object: SizeBound,
    pub old_object: SizeBound,
    pub params: SizeBound,
    pub request: SizeBound,
    pub namespace_object: SizeBound,
    pub variables: Vec<(String, SizeBound)>,
}

impl SizeBounds {
    /// Nothing known: every root variable can be anything a request holds.
    pub fn unknown() -> SizeBounds {
        SizeBounds {
            object: SizeBound::Unknown,
            old_object: SizeBound::Unknown,
            params: SizeBound::Unknown,
            request: SizeBound::Unknown,
            namespace_object: SizeBound::Unknown,
            variables: Vec::new(),
        }
    }

    fn root(&self, name: &str) -> Option<SizeBound> {
        Some(match name {
            "object" => self.object.clone(),
            "oldObject" => self.old_object.clone(),
            "params" => self.params.clone(),
            "request" => self.request.clone(),
            "namespaceObject" => self.namespace_object.clone(),
            _ => return None,
        })
    }
}

/// An expression's estimated cost and the shape of its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    pub cost: u64,
    pub shape: SizeBound,
    /// The deepest nesting of calls and comprehensions once the cost model's charges are calls
    /// of their own (a comprehension's range, each value built that can be large).
    pub metered_depth: usize,
}

/// Estimates the cost of `expr` when its variables have these shapes.
pub fn estimate(expr: &IdedExpr, shapes: &SizeBounds) -> Estimate {
    let mut walk = Walk {
        shapes,
        bound: Vec::new(),
        accumulated: None,
    };
    let out = walk.expr(expr, false);
    Estimate {
        cost: out.cost,
        shape: out.shape,
        metered_depth: out.depth,
    }
}

/// A node's cost, the shape of its value, and its metered depth.
struct Out {
    cost: u64,
    shape: SizeBound,
    depth: usize,
}

struct Walk<'a> {
    shapes: &'a SizeBounds,
    /// Comprehension variables in scope, innermost last.
    bound: Vec<(String, SizeBound)>,
    /// The list literal a `map` or `filter` appends to its result on each iteration: its
    /// elements are metered whatever their size, as they pile up.
    accumulated: Option<u64>,
}

fn add(a: u64, b: u64) -> u64 {
    a.saturating_add(b)
}

fn mul(a: u64, b: u64) -> u64 {
    a.saturating_mul(b)
}

fn log2(n: u64) -> u64 {
    64 - n.max(1).leading_zeros() as u64
}

/// The depth of a value once metered: one more when it can be large (or always, with `force`).
fn sized_if(depth: usize, shape: &SizeBound, force: bool) -> usize {
    depth + usize::from(force || shape.copy_units() > SMALL)
}

/// The depth of a value once metered: one more when it can be large.
fn sized(depth: usize, shape: &SizeBound) -> usize {
    sized_if(depth, shape, false)
}

impl Walk<'_> {
    fn lookup(&self, name: &str) -> Option<SizeBound> {
        self.bound
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s.clone())
    }

    fn is_bound(&self, name: &str) -> bool {
        self.bound.iter().any(|(n, _)| n == name)
    }

    fn expr(&mut self, e: &IdedExpr, in_sum: bool) -> Out {
        match &e.expr {
            // Constants cost nothing, as in cel-go's estimator.
            Expr::Literal(literal) => Out {
                cost: 0,
                shape: match literal {
                    LiteralValue::String(s) => SizeBound::String(s.inner().len() as u64),
                    LiteralValue::Bytes(b) => SizeBound::String(b.inner().len() as u64),
                    LiteralValue::Null => SizeBound::Null,
                    _ => SizeBound::Scalar,
                },
                depth: 0,
            },
            // Macros' accumulators (`@result`) are not what the author wrote: free.
            Expr::Ident(name) => Out {
                cost: u64::from(!name.starts_with('@')),
                shape: self
                    .lookup(name)
                    .or_else(|| self.shapes.root(name))
                    .unwrap_or(SizeBound::Scalar),
                depth: 0,
            },
            Expr::Select(select) => self.select(select),
            Expr::Call(c) => self.call(c, in_sum),
            Expr::List(list) => {
                let mut cost = 1;
                let mut item = SizeBound::Null;
                let mut depth = 0;
                for element in &list.elements {
                    let out = self.expr(element, false);
                    cost = add(cost, add(out.cost, out.shape.copy_units()));
                    item = item.join(&out.shape);
                    depth = depth.max(sized_if(
                        out.depth,
                        &out.shape,
                        self.accumulated == Some(e.id),
                    ));
                }
                Out {
                    cost,
                    shape: SizeBound::list(list.elements.len() as u64, item),
                    depth,
                }
            }
            Expr::Map(map) => self.entries(&map.entries),
            Expr::Struct(s) => self.entries(&s.entries),
            Expr::Comprehension(c) => self.comprehension(c),
            Expr::Unspecified => Out {
                cost: 1,
                shape: SizeBound::Unknown,
                depth: 0,
            },
        }
    }

    fn select(&mut self, select: &SelectExpr) -> Out {
        if let Expr::Ident(root) = &select.operand.expr {
            if root == "variables" && !self.is_bound(root) {
                let shape = self
                    .shapes
                    .variables
                    .iter()
                    .find(|(n, _)| *n == select.field)
                    .map_or(SizeBound::Unknown, |(_, s)| s.clone());
                return Out {
                    cost: 1,
                    shape,
                    depth: 0,
                };
            }
        }
        let operand = self.expr(&select.operand, false);
        Out {
            cost: add(operand.cost, 1),
            shape: if select.test {
                SizeBound::Scalar
            } else {
                operand.shape.select(&select.field)
            },
            depth: operand.depth,
        }
    }

    /// A map or struct literal's entries (a mutation's `Object{...}` is a map of its fields).
    fn entries(&mut self, entries: &[IdedEntryExpr]) -> Out {
        let mut cost = 1;
        let mut fields = BTreeMap::new();
        let mut literal_keys = true;
        let (mut key_bytes, mut values) = (0, SizeBound::Null);
        let mut depth = 0;
        for entry in entries {
            match &entry.expr {
                EntryExpr::MapEntry(m) => {
                    let key = self.expr(&m.key, false);
                    let value = self.expr(&m.value, false);
                    cost = add(
                        cost,
                        add(key.cost, add(value.cost, value.shape.copy_units())),
                    );
                    match &m.key.expr {
                        Expr::Literal(LiteralValue::String(k)) => {
                            fields.insert(k.inner().to_owned(), value.shape.clone());
                        }
                        _ => literal_keys = false,
                    }
                    key_bytes = key_bytes.max(key.shape.text_bytes());
                    values = values.join(&value.shape);
                    depth = depth.max(key.depth).max(sized(value.depth, &value.shape));
                }
                EntryExpr::StructField(f) => {
                    let value = self.expr(&f.value, false);
                    cost = add(cost, add(value.cost, value.shape.copy_units()));
                    fields.insert(f.field.clone(), value.shape.clone());
                    values = values.join(&value.shape);
                    depth = depth.max(sized(value.depth, &value.shape));
                }
            }
        }
        let shape = if literal_keys {
            SizeBound::Map {
                max: entries.len() as u64,
                key: fields.keys().map(|k| k.len() as u64).max().unwrap_or(0),
                fields: Arc::new(fields),
                other: None,
                shared: false,
            }
        } else {
            SizeBound::map(entries.len() as u64, key_bytes, values)
        };
        Out { cost, shape, depth }
    }

    fn comprehension(&mut self, c: &ComprehensionExpr) -> Out {
        let range = self.expr(&c.iter_range, false);
        let empty_range = matches!(&c.iter_range.expr, Expr::List(l) if l.elements.is_empty());
        let n = if empty_range {
            0
        } else {
            range.shape.entries()
        };
        let init = self.expr(&c.accu_init, false);
        let before = self.bound.len();
        match &c.iter_var2 {
            Some(second) => {
                let first = match &range.shape {
                    SizeBound::Map { key, .. } => SizeBound::String(*key),
                    _ => SizeBound::Scalar,
                };
                self.bound.push((c.iter_var.clone(), first));
                self.bound.push((second.clone(), range.shape.element(None)));
            }
            None => self
                .bound
                .push((c.iter_var.clone(), range.shape.iteration_variable())),
        }
        // The loop step, with the accumulator as it starts.
        self.bound.push((c.accu_var.clone(), init.shape.clone()));
        let outer = self
            .accumulated
            .replace(appended(c).map_or(u64::MAX, |(id, _)| id));
        let step = self.expr(&c.loop_step, false);
        self.accumulated = outer;
        let appended_count = appended(c).map(|(_, elements)| elements.len() as u64);
        let accumulated = match (appended_count, inserted(c)) {
            // `@result + [e]` (map, filter): one list of up to N times the appended elements.
            (Some(count), _) => match &step.shape {
                SizeBound::List { item, .. } => SizeBound::list(mul(n, count), (**item).clone()),
                other => other.clone(),
            },
            // `cel.@mapInsert(@result, ...)` (transformMap, transformMapEntry): a map of up to
            // N times the entries each step inserts.
            (None, true) => match &step.shape {
                SizeBound::Map {
                    max, key, other, ..
                } => SizeBound::map(
                    mul(n, *max),
                    *key,
                    other.as_deref().cloned().unwrap_or(SizeBound::Null),
                ),
                other => other.clone(),
            },
            (None, false) => init.shape.join(&step.shape),
        };
        self.bound.pop();
        self.bound.push((c.accu_var.clone(), accumulated.clone()));
        let cond = self.expr(&c.loop_cond, false);
        self.bound.truncate(before);
        self.bound.push((c.accu_var.clone(), accumulated));
        let result = self.expr(&c.result, false);
        self.bound.truncate(before);

        let per_iteration = add(cond.cost, step.cost);
        let cost = add(
            add(range.cost, init.cost),
            add(add(add(1, n), mul(n, per_iteration)), result.cost),
        );
        // A range that is not empty is charged through a call of its own.
        let range_depth = range.depth + usize::from(!empty_range);
        let depth = 1 + [
            range_depth,
            init.depth,
            cond.depth,
            step.depth,
            result.depth,
        ]
        .into_iter()
        .max()
        .unwrap_or(0);
        Out {
            cost,
            shape: result.shape,
            depth,
        }
    }
}

/// What a comprehension's loop step updates its accumulator with: the step, or the branch its
/// condition keeps (`map` and `transformList` with a filter, `filter`).
fn update(c: &ComprehensionExpr) -> &IdedExpr {
    match &c.loop_step.expr {
        Expr::Call(call) if call.func_name == "_?_:_" && call.args.len() == 3 => &call.args[1],
        _ => &c.loop_step,
    }
}

/// The list literal (its id and its elements) a comprehension's loop step appends to its
/// accumulator, when the update is `@result + [e...]` (`map`, `filter`, `transformList`).
fn appended(c: &ComprehensionExpr) -> Option<(u64, &[IdedExpr])> {
    match &update(c).expr {
        Expr::Call(call) if call.func_name == "_+_" && call.target.is_none() => {
            match call.args.as_slice() {
                [IdedExpr {
                    expr: Expr::Ident(accu),
                    ..
                }, IdedExpr {
                    id,
                    expr: Expr::List(list),
                }] if *accu == c.accu_var => Some((*id, &list.elements)),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Whether a comprehension's loop step inserts into its accumulator:
/// `cel.@mapInsert(@result, ...)` (`transformMap`, `transformMapEntry`).
fn inserted(c: &ComprehensionExpr) -> bool {
    matches!(&update(c).expr, Expr::Call(call)
        if call.func_name == crate::syntax::MAP_INSERT
            && matches!(call.args.first(), Some(IdedExpr { expr: Expr::Ident(accu), .. }) if *accu == c.accu_var))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::{on_parse_stack, parse};

    fn cost_of(source: &str, shapes: &SizeBounds) -> u64 {
        on_parse_stack(|| Ok(estimate(&parse(source)?.expr, shapes).cost))
            .unwrap_or_else(|e| panic!("{source}: {e}"))
    }

    fn labels() -> SizeBound {
        SizeBound::Map {
            max: 64,
            key: 317,
            fields: Arc::new(BTreeMap::new()),
            other: Some(Arc::new(SizeBound::String(63))),
            shared: true,
        }
    }

    fn object() -> SizeBounds {
        let mut metadata = BTreeMap::new();
        metadata.insert("labels".to_owned(), labels());
        metadata.insert("name".to_owned(), SizeBound::String(253));
        let mut fields = BTreeMap::new();
        fields.insert(
            "metadata".to_owned(),
            SizeBound::Map {
                max: 2,
                key: 8,
                fields: Arc::new(metadata),
                other: None,
                shared: true,
            },
        );
        fields.insert(
            "items".to_owned(),
            SizeBound::List {
                max: 10,
                item: Arc::new(SizeBound::String(100)),
                shared: true,
            },
        );
        let mut shapes = SizeBounds::unknown();
        shapes.object = SizeBound::Map {
            max: 2,
            key: 8,
            fields: Arc::new(fields),
            other: None,
            shared: true,
        };
        shapes
    }

    #[test]
    fn costs_follow_the_model() {
        let known = object();
        let unknown = SizeBounds::unknown();
        // (expression, shapes, expected cost)
        let cases: &[(&str, &SizeBounds, u64)] = &[
            // constants are free; an operator costs 1, and `+` the size of what it builds
            ("true", &known, 0),
            ("1 + 2", &known, 2),
            // a select chain: 1 per name
            ("object.metadata.name", &known, 3),
            // a string compare: the shorter string, 1 per 10 bytes
            ("object.metadata.name == 'a'", &known, 5),
            // a comprehension: range + (1 + N) + N * body; here N = 10 items
            ("object.items.all(i, i == 'x')", &known, 53),
            // nested comprehensions multiply
            (
                "object.items.all(i, object.items.all(j, i == j))",
                &known,
                1653,
            ),
            // over a list nothing bounds: 1048576 entries
            ("object.items.all(i, true)", &unknown, 2_097_155),
            // `in` a list: its entries times the compare; a map lookup: 1
            ("'x' in object.items", &known, 13),
            ("'x' in object.metadata.labels", &known, 4),
            // building: a list literal copies its elements, a join builds the string
            ("[object.metadata.name, 'a']", &known, 1 + 3 + 26 + 1),
            ("object.items.join(',')", &known, 2 + 1 + 10 + 102),
        ];
        let mut failed = Vec::new();
        for (source, shapes, expected) in cases {
            let got = cost_of(source, shapes);
            if got != *expected {
                failed.push(format!("{source}: {got}, expected {expected}"));
            }
        }
        assert!(failed.is_empty(), "{failed:#?}");
    }

    /// A `kms` call costs its fixed live-call units plus the record it builds; in a
    /// comprehension, once per element.
    #[test]
    fn live_calls_cost_a_fixed_amount_and_what_they_build() {
        let cost = |source: &str| cost_of(source, &object());
        let units = crate::libs::kms::LIVE_CALL_UNITS;
        // The call, its live units, and the scalar it gives.
        assert_eq!(cost("kms.available()"), 1 + units + 1);
        assert_eq!(cost("kms.serviceAgentCanUse('k', 'p')"), 1 + units + 1);
        let record = cost("kms.key('k')");
        assert!(record > 1 + units + 12, "{record}");
        // One call per element of the 10 items, each with the select of `state` and the compare.
        let per_item = cost("object.items.all(i, kms.key(i).state == 'ENABLED')");
        assert!(per_item >= 10 * record, "{per_item} < 10 x {record}");
    }
}
