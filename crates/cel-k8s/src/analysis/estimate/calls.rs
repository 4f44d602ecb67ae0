//! The cost and the shape of a function call or operator (see the module above for the model).

use super::{add, log2, mul, sized, Out, Walk, MAX_RANGE};
use crate::analysis::size_bound::SizeBound;
use cel::common::ast::{CallExpr, Expr, IdedExpr, LiteralValue};

/// The shape of `a + b`: an unknown operand is as large as a request can make it, and the sum
/// of two is larger still.
fn concatenation(a: &SizeBound, b: &SizeBound) -> SizeBound {
    match (a, b) {
        (SizeBound::String(x), SizeBound::String(y)) => SizeBound::String(add(*x, *y)),
        (SizeBound::String(_) | SizeBound::Unknown, SizeBound::String(_) | SizeBound::Unknown) => {
            SizeBound::String(add(a.text_bytes(), b.text_bytes()))
        }
        (
            SizeBound::List {
                max: x, item: i, ..
            },
            SizeBound::List {
                max: y, item: j, ..
            },
        ) => SizeBound::list(add(*x, *y), i.join(j)),
        (SizeBound::Unknown, _) | (_, SizeBound::Unknown) => SizeBound::Unknown,
        (SizeBound::List { .. }, other) | (other, SizeBound::List { .. })
            if matches!(other, SizeBound::Null) =>
        {
            SizeBound::Unknown
        }
        _ => SizeBound::Scalar,
    }
}

/// Functions whose target is a string they read once.
const STRING_SCANS: &[&str] = &[
    "contains",
    "matches",
    "find",
    "findAll",
    "indexOf",
    "lastIndexOf",
    "lowerAscii",
    "upperAscii",
    "trim",
    "split",
    "substring",
    "charAt",
    "reverse",
    "url",
    "isURL",
    "ip",
    "isIP",
    "cidr",
    "isCIDR",
    "semver",
    "isSemver",
    "quantity",
    "isQuantity",
    "base64.decode",
    "base64.encode",
    "strings.quote",
    "format",
];

/// Functions whose target is a list they read once.
const LIST_SCANS: &[&str] = &[
    "isSorted",
    "sum",
    "min",
    "max",
    "indexOf",
    "lastIndexOf",
    "includes",
    "slice",
    "reverse",
    "flatten",
    "math.greatest",
    "math.least",
    "optional.unwrap",
    "unwrapOpt",
];

/// Namespaces whose functions are called as `ns.fn(...)`.
const NAMESPACES: &[&str] = &[
    "math", "strings", "lists", "base64", "optional", "sets", "ip", "format", "kms",
];

/// The longest string a `kms` record holds: a resource name or a state (a key's name is at
/// most about 220 bytes: a project ID, a location, a key ring's and a key's name).
const KMS_STRING_BYTES: u64 = 256;

/// The shape of a `kms` call's result: a record of a dozen short fields, or a scalar.
fn kms_result(name: &str) -> SizeBound {
    match name {
        "kms.key" | "kms.imageRepository" => {
            SizeBound::map(12, 32, SizeBound::String(KMS_STRING_BYTES))
        }
        "kms.projectNumber" => SizeBound::String(20),
        _ => SizeBound::Scalar,
    }
}

impl Walk<'_> {
    pub(super) fn call(&mut self, c: &CallExpr, in_sum: bool) -> Out {
        let mut name = c.func_name.clone();
        let mut target = c.target.as_deref();
        if let Some(IdedExpr {
            expr: Expr::Ident(ns),
            ..
        }) = target
        {
            if NAMESPACES.contains(&ns.as_str()) && !self.is_bound(ns) {
                name = format!("{ns}.{name}");
                target = None;
            }
        }
        let is_sum = name == "_+_";
        let target_out = target.map(|t| self.expr(t, false));
        let args: Vec<Out> = c.args.iter().map(|a| self.expr(a, is_sum)).collect();
        // Helpers macros expand to (`@not_strictly_false`) cost only their arguments.
        let mut cost = add(
            u64::from(!name.starts_with('@') || name == "@in"),
            args.iter()
                .chain(target_out.as_ref())
                .fold(0, |acc, o| add(acc, o.cost)),
        );
        // The shapes of the receiver, then of the arguments.
        let shapes: Vec<SizeBound> = target_out
            .iter()
            .chain(args.iter())
            .map(|o| o.shape.clone())
            .collect();
        let first = shapes.first().cloned().unwrap_or(SizeBound::Null);
        let arg = |i: usize| shapes.get(i).cloned().unwrap_or(SizeBound::Null);
        // Once metered, the call is a call (the namespace's name is no operand).
        let depth = 1 + target_out
            .iter()
            .chain(args.iter())
            .map(|o| o.depth)
            .max()
            .unwrap_or(0);
        let literal_string = |i: usize| match c.args.get(i).map(|a| &a.expr) {
            Some(Expr::Literal(LiteralValue::String(s))) => Some(s.inner().to_owned()),
            _ => None,
        };

        let shape = match name.as_str() {
            "_?._" => first.select(literal_string(1).as_deref().unwrap_or("")),
            "_[_]" | "_[?_]" => first.element(literal_string(1).as_deref()),
            "_?_:_" => {
                // One branch runs: the costlier bounds it.
                let branches = args[1].cost.max(args[2].cost);
                cost = add(add(1, args[0].cost), branches);
                arg(1).join(&arg(2))
            }
            "_+_" => {
                let shape = concatenation(&arg(0), &arg(1));
                let accumulator = matches!(&c.args[0].expr, Expr::Ident(n) if n.starts_with('@'));
                if !in_sum && !accumulator {
                    cost = add(cost, shape.units());
                    return Out {
                        cost,
                        depth: sized(depth, &shape),
                        shape,
                    };
                }
                shape
            }
            "_==_" | "_!=_" | "_<_" | "_<=_" | "_>_" | "_>=_" => {
                cost = add(cost, arg(0).units().min(arg(1).units()));
                SizeBound::Scalar
            }
            "@in" => {
                let collection = arg(1);
                if !matches!(collection, SizeBound::Map { .. }) {
                    let per = arg(0).units().min(collection.element(None).units());
                    cost = add(cost, mul(collection.entries(), per));
                }
                SizeBound::Scalar
            }
            "dyn" | "optional.of" | "optional.ofNonZeroValue" | "value" => first,
            "first" | "last" => first.element(None),
            "orValue" | "or" => first.join(&arg(1)),
            "optional.none" => SizeBound::Null,
            "string" => {
                cost = add(cost, first.units());
                SizeBound::String(first.text_bytes())
            }
            "startsWith" | "endsWith" => {
                cost = add(cost, arg(1).units());
                SizeBound::Scalar
            }
            "replace" => {
                let bytes = first.text_bytes();
                let result = SizeBound::String(add(bytes, mul(add(bytes, 1), arg(2).text_bytes())));
                cost = add(cost, add(first.units(), result.units()));
                // Metered by a call in its place that charges before building: no deeper.
                result
            }
            "join" => {
                let entries = first.entries();
                let separator = if shapes.len() > 1 {
                    arg(1).text_bytes()
                } else {
                    0
                };
                let bytes = add(
                    mul(entries, first.element(None).text_bytes()),
                    mul(entries, separator),
                );
                let result = SizeBound::String(bytes);
                cost = add(cost, add(entries, result.units()));
                result
            }
            // A live call: charged a fixed amount at run time (its answer is read from the
            // snapshot, never from Google during the evaluation), plus what it builds.
            "kms.available"
            | "kms.key"
            | "kms.projectNumber"
            | "kms.serviceAgentCanUse"
            | "kms.imageRepository" => {
                let shape = kms_result(&name);
                cost = add(cost, add(crate::libs::kms::LIVE_CALL_UNITS, shape.units()));
                shape
            }
            // The two-variable macros' insertion into their accumulator: what it adds costs
            // as a map literal's entries do.
            crate::syntax::MAP_INSERT => {
                let added = arg(shapes.len().saturating_sub(1));
                cost = add(cost, added.copy_units());
                match shapes.len() {
                    3 => SizeBound::map(1, arg(1).text_bytes(), added),
                    _ => added,
                }
            }
            "sets.contains" | "sets.equivalent" | "sets.intersects" => {
                cost = add(cost, mul(arg(0).entries(), arg(1).entries()));
                SizeBound::Scalar
            }
            "sort" | "distinct" | "@sortByAssociatedKeys" => {
                let n = first.entries();
                let work = if name == "distinct" {
                    mul(n, n)
                } else {
                    mul(n, log2(n))
                };
                cost = add(cost, work);
                match first {
                    SizeBound::List { max, item, .. } => SizeBound::list(max, (*item).clone()),
                    other => other,
                }
            }
            "lists.range" => {
                let n = match c.args.first().map(|a| &a.expr) {
                    Some(Expr::Literal(LiteralValue::Int(n))) => (*n.inner()).max(0) as u64,
                    _ => MAX_RANGE,
                }
                .min(MAX_RANGE);
                cost = add(cost, n);
                let shape = SizeBound::list(n, SizeBound::Scalar);
                return Out {
                    cost,
                    depth: sized(depth, &shape),
                    shape,
                };
            }
            _ if LIST_SCANS.contains(&name.as_str())
                && matches!(
                    first,
                    SizeBound::List { .. } | SizeBound::Map { .. } | SizeBound::Unknown
                ) =>
            {
                cost = add(cost, first.entries());
                match name.as_str() {
                    "sum" | "min" | "max" => first.element(None),
                    "slice" | "reverse" | "optional.unwrap" | "unwrapOpt" => match first {
                        SizeBound::List { max, item, .. } => SizeBound::list(max, (*item).clone()),
                        other => other,
                    },
                    "flatten" => {
                        let inner = first.element(None);
                        SizeBound::list(
                            mul(first.entries(), inner.entries().max(1)),
                            inner.element(None),
                        )
                    }
                    _ => SizeBound::Scalar,
                }
            }
            _ if STRING_SCANS.contains(&name.as_str()) => {
                let scanned = shapes
                    .iter()
                    .filter(|s| matches!(s, SizeBound::String(_) | SizeBound::Unknown))
                    .fold(0, |acc, s| add(acc, s.units()));
                cost = add(cost, scanned);
                let bytes = first.text_bytes();
                let grown = match name.as_str() {
                    "lowerAscii" | "upperAscii" | "trim" | "reverse" | "substring" | "charAt"
                    | "find" | "base64.decode" => {
                        return Out {
                            cost,
                            shape: SizeBound::String(bytes),
                            depth,
                        }
                    }
                    "split" | "findAll" => {
                        return Out {
                            cost,
                            shape: SizeBound::list(add(bytes, 1), SizeBound::String(bytes)),
                            depth,
                        }
                    }
                    "strings.quote" => SizeBound::String(add(2, mul(bytes, 6))),
                    "base64.encode" => SizeBound::String(add(4, bytes / 3 * 4)),
                    "format" => {
                        let list = arg(1);
                        SizeBound::String(add(
                            bytes,
                            mul(list.entries(), list.element(None).text_bytes()),
                        ))
                    }
                    _ => {
                        return Out {
                            cost,
                            shape: SizeBound::Scalar,
                            depth,
                        }
                    }
                };
                cost = add(cost, grown.units());
                return Out {
                    cost,
                    depth: sized(depth, &grown),
                    shape: grown,
                };
            }
            _ => {
                let scanned = shapes
                    .iter()
                    .filter(|s| matches!(s, SizeBound::String(_)))
                    .fold(0, |acc, s| add(acc, s.units()));
                cost = add(cost, scanned);
                SizeBound::Scalar
            }
        };
        Out { cost, shape, depth }
    }
}
