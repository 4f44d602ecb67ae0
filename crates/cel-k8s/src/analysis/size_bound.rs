//! What the cost estimate knows of a value: the largest it can be. Pure.
//!
//! A [`SizeBound`] is an upper bound: a string's longest length in bytes, a list's or map's most
//! entries and the shape of each, or [`SizeBound::Unknown`] (anything a request can hold). Bounds of
//! `object` come from the reduced schemas of the kinds a policy matches (the gate's `lint::schema`),
//! of `params` from the parameter objects loaded, of `variables` from their own expressions.
//! Sizes are measured in cost units (see `docs/lint.md`): a scalar is 1, a string 1 per 10
//! bytes (Kubernetes' traversal cost factor), a list or map the sum of its entries.

use std::collections::BTreeMap;
use std::sync::Arc;

/// Largest request the API server accepts (Kubernetes' `MaxRequestSizeBytes`): what bounds a
/// value nothing else bounds.
pub const MAX_REQUEST_BYTES: u64 = 3 * 1024 * 1024;
/// Most entries of a list or map nothing else bounds: the request size over 3 bytes, the
/// smallest entry with its separator (`"",` or `{},`).
pub const UNBOUNDED_ENTRIES: u64 = MAX_REQUEST_BYTES / 3;
pub use crate::cost::BYTES_PER_UNIT;
/// Longest key of a map nothing else bounds: a label or annotation key (a 253-byte DNS prefix,
/// a slash and a 63-byte name).
pub const UNBOUNDED_KEY_BYTES: u64 = 317;

/// A cost for messages: the number, or (saturated) that it is past counting.
pub fn cost_text(cost: u64) -> String {
    if cost == u64::MAX {
        format!("over {}", u64::MAX)
    } else {
        cost.to_string()
    }
}

/// The largest a value can be.
#[derive(Debug, Clone, PartialEq)]
pub enum SizeBound {
    /// Anything up to the request size.
    Unknown,
    /// `null`: nothing to evaluate (no parameter object loaded).
    Null,
    /// A bool, number, duration, timestamp or other fixed-size value.
    Scalar,
    /// A string (or bytes) of at most this many bytes.
    String(u64),
    List {
        max: u64,
        item: Arc<SizeBound>,
        /// Read from the request or parameters: copied by reference, not element by element.
        shared: bool,
    },
    Map {
        max: u64,
        /// Longest key, in bytes.
        key: u64,
        /// Fields known by name (an object's properties).
        fields: Arc<BTreeMap<String, SizeBound>>,
        /// The shape of any other key's value; `None`: no other key.
        other: Option<Arc<SizeBound>>,
        shared: bool,
    },
}

fn add(a: u64, b: u64) -> u64 {
    a.saturating_add(b)
}

fn mul(a: u64, b: u64) -> u64 {
    a.saturating_mul(b)
}

impl SizeBound {
    pub fn string_units(bytes: u64) -> u64 {
        1 + bytes / BYTES_PER_UNIT
    }

    /// A list of up to `max` items, built by an expression.
    pub fn list(max: u64, item: SizeBound) -> SizeBound {
        SizeBound::List {
            max,
            item: Arc::new(item),
            shared: false,
        }
    }

    /// A map of any keys, built by an expression.
    pub fn map(max: u64, key: u64, value: SizeBound) -> SizeBound {
        SizeBound::Map {
            max,
            key,
            fields: Arc::new(BTreeMap::new()),
            other: Some(Arc::new(value)),
            shared: false,
        }
    }

    /// The smallest shape that bounds both.
    pub fn join(&self, other: &SizeBound) -> SizeBound {
        use SizeBound::*;
        match (self, other) {
            (a, b) if a == b => a.clone(),
            (Unknown, _) | (_, Unknown) => Unknown,
            (Null, x) | (x, Null) => x.clone(),
            (Scalar, Scalar) => Scalar,
            (String(a), String(b)) => String(*a.max(b)),
            (
                List {
                    max: a,
                    item: ia,
                    shared: sa,
                },
                List {
                    max: b,
                    item: ib,
                    shared: sb,
                },
            ) => List {
                max: *a.max(b),
                item: Arc::new(ia.join(ib)),
                shared: *sa && *sb,
            },
            (
                Map {
                    max: a,
                    key: ka,
                    fields: fa,
                    other: oa,
                    shared: sa,
                },
                Map {
                    max: b,
                    key: kb,
                    fields: fb,
                    other: ob,
                    shared: sb,
                },
            ) => {
                let mut fields = (**fa).clone();
                for (name, shape) in fb.iter() {
                    let joined = match fields.get(name) {
                        Some(mine) => mine.join(shape),
                        None => shape.clone(),
                    };
                    fields.insert(name.clone(), joined);
                }
                let other = match (oa, ob) {
                    (Some(a), Some(b)) => Some(Arc::new(a.join(b))),
                    (a, b) => a.clone().or_else(|| b.clone()),
                };
                Map {
                    // A value is one or the other: at most the larger's entries.
                    max: *a.max(b),
                    key: *ka.max(kb),
                    fields: Arc::new(fields),
                    other,
                    shared: *sa && *sb,
                }
            }
            _ => Unknown,
        }
    }

    /// The shape of field `name` of a map (an object's field, or any key).
    pub fn select(&self, name: &str) -> SizeBound {
        match self {
            SizeBound::Map { fields, other, .. } => match fields.get(name) {
                Some(shape) => shape.clone(),
                None => other.as_deref().cloned().unwrap_or(SizeBound::Null),
            },
            SizeBound::Null | SizeBound::Scalar | SizeBound::String(_) => SizeBound::Null,
            _ => SizeBound::Unknown,
        }
    }

    /// The shape of an element: a list's item or a map's value (`key` when known).
    pub fn element(&self, key: Option<&str>) -> SizeBound {
        match (self, key) {
            (SizeBound::List { item, .. }, _) => (**item).clone(),
            (SizeBound::Map { .. }, Some(key)) => self.select(key),
            (SizeBound::Map { fields, other, .. }, None) => fields
                .values()
                .chain(other.as_deref())
                .fold(SizeBound::Null, |acc, s| acc.join(s)),
            (SizeBound::Null | SizeBound::Scalar, _) => SizeBound::Null,
            _ => SizeBound::Unknown,
        }
    }

    /// What a comprehension's first variable is bound to: a list's items, a map's keys.
    pub fn iteration_variable(&self) -> SizeBound {
        match self {
            SizeBound::Map { key, .. } => SizeBound::String(*key),
            _ => self.element(None),
        }
    }

    /// Most entries (a list's or map's), or bytes (a string's).
    pub fn entries(&self) -> u64 {
        match self {
            SizeBound::Unknown => UNBOUNDED_ENTRIES,
            SizeBound::Null | SizeBound::Scalar => 0,
            SizeBound::String(n) => *n,
            SizeBound::List { max, .. } => *max,
            SizeBound::Map {
                max, fields, other, ..
            } => match other {
                Some(_) => *max,
                None => (*max).min(fields.len() as u64),
            },
        }
    }

    /// The bytes of a string, or of anything as text (a number is at most 32).
    pub fn text_bytes(&self) -> u64 {
        match self {
            SizeBound::String(n) => *n,
            SizeBound::Unknown => MAX_REQUEST_BYTES,
            SizeBound::Null | SizeBound::Scalar => 32,
            _ => MAX_REQUEST_BYTES.min(mul(self.units(), BYTES_PER_UNIT)),
        }
    }

    /// Cost units of reading the whole value once.
    pub fn units(&self) -> u64 {
        match self {
            SizeBound::Unknown => SizeBound::string_units(MAX_REQUEST_BYTES),
            SizeBound::Null | SizeBound::Scalar => 1,
            SizeBound::String(n) => SizeBound::string_units(*n),
            SizeBound::List { max, item, .. } => add(1, mul(*max, item.units())),
            SizeBound::Map {
                max,
                key,
                fields,
                other,
                ..
            } => {
                let known = fields.iter().fold(1u64, |acc, (k, v)| {
                    add(acc, add(SizeBound::string_units(k.len() as u64), v.units()))
                });
                match other {
                    Some(value) => add(
                        known,
                        mul(*max, add(SizeBound::string_units(*key), value.units())),
                    ),
                    None => known,
                }
            }
        }
    }

    /// Cost units of copying the value: 1 for a shared list or map (a pointer), else all of it.
    pub fn copy_units(&self) -> u64 {
        match self {
            SizeBound::List { shared: true, .. } | SizeBound::Map { shared: true, .. } => 1,
            other => other.units(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_in_units() {
        let labels = SizeBound::Map {
            max: 64,
            key: 317,
            fields: Arc::new(BTreeMap::new()),
            other: Some(Arc::new(SizeBound::String(63))),
            shared: true,
        };
        let cases: &[(SizeBound, u64, u64, u64)] = &[
            // shape, entries, units, copy units
            (SizeBound::Scalar, 0, 1, 1),
            (SizeBound::String(95), 95, 10, 10),
            (SizeBound::Unknown, UNBOUNDED_ENTRIES, 314_573, 314_573),
            (SizeBound::list(3, SizeBound::String(10)), 3, 7, 7),
            (labels.clone(), 64, 1 + 64 * (32 + 7), 1),
        ];
        for (shape, entries, units, copy) in cases {
            assert_eq!(shape.entries(), *entries, "{shape:?}");
            assert_eq!(shape.units(), *units, "{shape:?}");
            assert_eq!(shape.copy_units(), *copy, "{shape:?}");
        }
        assert_eq!(labels.select("owner"), SizeBound::String(63));
        assert_eq!(labels.iteration_variable(), SizeBound::String(317));
    }

    #[test]
    fn joins_bound_both() {
        let a = SizeBound::list(2, SizeBound::String(5));
        let b = SizeBound::list(7, SizeBound::String(1));
        assert_eq!(a.join(&b), SizeBound::list(7, SizeBound::String(5)));
        assert_eq!(SizeBound::Null.join(&a), a);
        assert_eq!(SizeBound::Scalar.join(&a), SizeBound::Unknown);
    }
}
