//! The runtime cost meter: a counter the evaluator charges in its own loop, with the units of
//! the gate's cost model (`docs/lint.md`): each comprehension 1 plus its range's entries before
//! it runs, each value built its size (a list or map literal, a `+` of strings or lists, what a
//! `map` or `filter` appends, the results of the functions of [`SIZED_RESULTS`]), and `replace`
//! and `join` the size of their result before it is built.
//!
//! Once the budget is spent every further charge fails, and the evaluation reports the budget
//! error even if an `||` or an `exists()` swallowed it.

use crate::error::EvalError;
use crate::value::{List, Map, Value};

/// The default limit of one expression's cost, estimated at load and spent at run time
/// (Kubernetes' `StaticEstimatedCostLimit`).
pub const DEFAULT_MAX_EXPRESSION_COST: u64 = 10_000_000;

/// Bytes of a string per cost unit (Kubernetes' traversal factor).
pub const BYTES_PER_UNIT: u64 = 10;

/// Functions whose result is charged its size once built.
pub const SIZED_RESULTS: &[&str] = &["format", "strings.quote", "base64.encode", "lists.range"];

/// The budget of one evaluation, and what it has spent.
#[derive(Debug, Clone)]
pub struct Meter {
    limit: u64,
    remaining: u64,
    exceeded: bool,
}

impl Meter {
    /// A meter with a budget of `limit` units.
    pub fn new(limit: u64) -> Meter {
        Meter {
            limit,
            remaining: limit,
            exceeded: false,
        }
    }

    /// Takes `units`, or fails (and keeps failing) once the budget cannot pay them.
    #[inline]
    pub fn charge(&mut self, units: u64) -> Result<(), EvalError> {
        if units > self.remaining || self.exceeded {
            self.remaining = 0;
            self.exceeded = true;
            return Err(self.exceeded_error());
        }
        self.remaining -= units;
        Ok(())
    }

    /// The units left.
    pub fn remaining(&self) -> u64 {
        self.remaining
    }

    /// The units spent (the budget once it ran out).
    pub fn spent(&self) -> u64 {
        self.limit - self.remaining
    }

    /// The budget.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Whether a charge failed.
    pub fn exceeded(&self) -> bool {
        self.exceeded
    }

    /// The error of an evaluation that ran out of budget, worded as the old meter's.
    pub fn exceeded_error(&self) -> EvalError {
        EvalError::new(format!(
            "the expression exceeded its cost budget of {} units \
             (comprehension iterations and the size of the values it builds)",
            self.limit
        ))
    }
}

/// The units of a string of `bytes` bytes.
pub fn string_units(bytes: u64) -> u64 {
    1 + bytes / BYTES_PER_UNIT
}

/// The cost units of a value, counted up to about `cap`: a string 1 per 10 bytes, a list or map
/// built by an expression its entries, one read from a document 1 (it is shared).
pub fn value_units(value: &Value<'_>, cap: u64) -> u64 {
    match value {
        Value::String(s) => string_units(s.len() as u64),
        Value::Bytes(b) => string_units(b.len() as u64),
        Value::List(List::Tree(_)) | Value::Map(Map::Tree(_)) => 1,
        Value::List(List::Owned(items)) => items_units(items, cap),
        Value::Map(Map::Owned(entries)) => {
            let mut total: u64 = 1;
            for (key, item) in entries.iter() {
                total = total
                    .saturating_add(value_units(key, cap))
                    .saturating_add(value_units(item, cap.saturating_sub(total)));
                if total > cap {
                    break;
                }
            }
            total
        }
        _ => 1,
    }
}

/// [`value_units`] of a built list of `items`.
pub fn items_units(items: &[Value<'_>], cap: u64) -> u64 {
    let mut total: u64 = 1;
    for item in items {
        total = total.saturating_add(value_units(item, cap.saturating_sub(total)));
        if total > cap {
            break;
        }
    }
    total
}

/// What a `replace` or `join` will build, charged before it is: `None` for other functions
/// or arguments they do not take (the function reports those).
pub fn result_units_before(name: &str, args: &[Value<'_>]) -> Option<u64> {
    match (name, args) {
        ("replace", [Value::String(text), Value::String(from), Value::String(to), rest @ ..]) => {
            let limit = match rest {
                [] => None,
                [Value::Int(n)] => usize::try_from(*n).ok(),
                _ => return None,
            };
            let found = if from.is_empty() {
                text.chars().count() + 1
            } else {
                text.matches(&**from).count()
            };
            let count = limit.map_or(found, |n| n.min(found)) as u64;
            let bytes = (text.len() as u64)
                .saturating_sub(count.saturating_mul(from.len() as u64))
                .saturating_add(count.saturating_mul(to.len() as u64));
            Some(string_units(bytes))
        }
        ("join", [Value::List(list), rest @ ..]) => {
            let separator = match rest {
                [] => 0,
                [Value::String(s)] => s.len() as u64,
                _ => return None,
            };
            let mut bytes = 0u64;
            for item in list.iter() {
                if let Value::String(s) = item {
                    bytes = bytes.saturating_add(s.len() as u64);
                }
            }
            let separators = (list.len().saturating_sub(1) as u64).saturating_mul(separator);
            Some(string_units(bytes.saturating_add(separators)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spent_budget_keeps_failing() {
        let mut meter = Meter::new(10);
        assert!(meter.charge(4).is_ok());
        assert_eq!(meter.spent(), 4);
        let err = meter.charge(7).unwrap_err();
        assert!(err
            .to_string()
            .contains("exceeded its cost budget of 10 units"));
        assert!(meter.charge(0).is_err());
        assert!(meter.exceeded());
    }

    #[test]
    fn units_of_values() {
        let cases: &[(Value, u64)] = &[
            (Value::string("a".repeat(25)), 3),
            (Value::Int(1), 1),
            (
                Value::List(List::from_values(vec![Value::Int(1), Value::string("x")])),
                3,
            ),
        ];
        for (value, units) in cases {
            assert_eq!(value_units(value, u64::MAX), *units, "{value:?}");
        }
        let replace = [
            Value::string("aaaa"),
            Value::string("a"),
            Value::string("bbbbbbbbbb"),
        ];
        assert_eq!(result_units_before("replace", &replace), Some(5));
    }
}
