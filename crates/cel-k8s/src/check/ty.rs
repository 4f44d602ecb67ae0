//! The checker's own types: [`Type`] plus type variables, and cel-go's assignability and
//! type-parameter unification over them (checker/types.go: `internalIsAssignable`,
//! `isValidTypeSubstitution`, `mostGeneral`, `substitute`).

use crate::types::{ObjectType, Type};
use std::fmt;
use std::rc::Rc;
use std::sync::Arc;

/// A type while checking: a declared [`Type`], or a type variable bound as checking goes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Ty {
    Dyn,
    Null,
    Bool,
    Int,
    Uint,
    Double,
    String,
    Bytes,
    Duration,
    Timestamp,
    List(Rc<Ty>),
    Map(Rc<Ty>, Rc<Ty>),
    Optional(Rc<Ty>),
    Type(Option<Rc<Ty>>),
    Object(Arc<ObjectType>),
    /// A type of a mutation's object literal (`Object`, `Object.spec`): any field, typed dyn.
    Open(Rc<str>),
    Opaque(&'static str),
    /// A type parameter of a declaration (`A`), replaced by a fresh variable at each use.
    Param(&'static str),
    /// A type variable of this check.
    Var(u32),
    Error,
}

impl Ty {
    pub(crate) fn list(t: Ty) -> Ty {
        Ty::List(Rc::new(t))
    }
    pub(crate) fn map(k: Ty, v: Ty) -> Ty {
        Ty::Map(Rc::new(k), Rc::new(v))
    }
    pub(crate) fn optional(t: Ty) -> Ty {
        Ty::Optional(Rc::new(t))
    }
    pub(crate) fn type_of(t: Ty) -> Ty {
        Ty::Type(Some(Rc::new(t)))
    }

    pub(crate) fn is_dyn_or_error(&self) -> bool {
        matches!(self, Ty::Dyn | Ty::Error)
    }

    /// The type parameters (`list(A)` has one).
    fn params(&self) -> Vec<&Ty> {
        match self {
            Ty::List(e) | Ty::Optional(e) => vec![e],
            Ty::Map(k, v) => vec![k, v],
            Ty::Type(Some(t)) => vec![t],
            _ => Vec::new(),
        }
    }

    pub(crate) fn from_type(t: &Type) -> Ty {
        match t {
            Type::Dyn => Ty::Dyn,
            Type::Null => Ty::Null,
            Type::Bool => Ty::Bool,
            Type::Int => Ty::Int,
            Type::Uint => Ty::Uint,
            Type::Double => Ty::Double,
            Type::String => Ty::String,
            Type::Bytes => Ty::Bytes,
            Type::Duration => Ty::Duration,
            Type::Timestamp => Ty::Timestamp,
            Type::List(e) => Ty::list(Ty::from_type(e)),
            Type::Map(k, v) => Ty::map(Ty::from_type(k), Ty::from_type(v)),
            Type::Optional(e) => Ty::optional(Ty::from_type(e)),
            Type::Type(p) => Ty::Type(p.as_ref().map(|p| Rc::new(Ty::from_type(p)))),
            Type::Object(o) => Ty::Object(o.clone()),
            Type::Opaque(n) => Ty::Opaque(n),
            Type::Param(n) => Ty::Param(n),
            Type::Error => Ty::Error,
        }
    }

    /// The public type; variables still unbound become `dyn`, as cel-go's final substitution does.
    pub(crate) fn to_type(&self) -> Type {
        match self {
            Ty::Dyn | Ty::Var(_) | Ty::Param(_) => Type::Dyn,
            Ty::Null => Type::Null,
            Ty::Bool => Type::Bool,
            Ty::Int => Type::Int,
            Ty::Uint => Type::Uint,
            Ty::Double => Type::Double,
            Ty::String => Type::String,
            Ty::Bytes => Type::Bytes,
            Ty::Duration => Type::Duration,
            Ty::Timestamp => Type::Timestamp,
            Ty::List(e) => Type::list(e.to_type()),
            Ty::Map(k, v) => Type::map(k.to_type(), v.to_type()),
            Ty::Optional(e) => Type::optional(e.to_type()),
            Ty::Type(p) => Type::Type(p.as_ref().map(|p| Arc::new(p.to_type()))),
            Ty::Object(o) => Type::Object(o.clone()),
            Ty::Open(name) => Type::Object(Arc::new(ObjectType {
                name: name.to_string(),
                fields: Vec::new(),
            })),
            Ty::Opaque(n) => Type::Opaque(n),
            Ty::Error => Type::Error,
        }
    }
}

impl fmt::Display for Ty {
    /// As cel-go prints types in messages; a variable prints as cel-go's `_var0`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ty::List(e) => write!(f, "list({e})"),
            Ty::Map(k, v) => write!(f, "map({k}, {v})"),
            Ty::Optional(e) => write!(f, "optional_type({e})"),
            Ty::Type(Some(t)) => write!(f, "type({t})"),
            Ty::Open(name) => f.write_str(name),
            Ty::Var(n) => write!(f, "_var{n}"),
            // cel-go's FormatCELType prints the null type as `null` in messages.
            Ty::Null => f.write_str("null"),
            Ty::Error => f.write_str("!error!"),
            other => write!(f, "{}", other.to_type()),
        }
    }
}

/// Bindings of type variables, copied on each trial as cel-go's `mapping` is.
#[derive(Debug, Clone, Default)]
pub(crate) struct Mapping {
    bound: Vec<Option<Ty>>,
}

impl Mapping {
    pub(crate) fn fresh(&mut self) -> Ty {
        self.bound.push(None);
        Ty::Var(self.bound.len() as u32 - 1)
    }

    fn find(&self, t: &Ty) -> Option<&Ty> {
        match t {
            Ty::Var(n) => self.bound.get(*n as usize).and_then(Option::as_ref),
            _ => None,
        }
    }

    fn add(&mut self, var: &Ty, t: Ty) {
        if let Ty::Var(n) = var {
            self.bound[*n as usize] = Some(t);
        }
    }

    /// Whether `t1` is assignable to `t2`; on success the bindings it needed are kept.
    pub(crate) fn assign(&mut self, t1: &Ty, t2: &Ty) -> bool {
        let mut trial = self.clone();
        if trial.assignable(t1, t2) {
            *self = trial;
            true
        } else {
            false
        }
    }

    /// [`Mapping::assign`] over two lists of equal length.
    pub(crate) fn assign_all(&mut self, l1: &[Ty], l2: &[Ty]) -> bool {
        let mut trial = self.clone();
        if l1.len() == l2.len() && l1.iter().zip(l2).all(|(a, b)| trial.assignable(a, b)) {
            *self = trial;
            true
        } else {
            false
        }
    }

    fn assignable(&mut self, t1: &Ty, t2: &Ty) -> bool {
        if matches!(t2, Ty::Var(_)) {
            let (valid, has_sub) = self.valid_substitution(t1, t2);
            if valid {
                return true;
            }
            if has_sub {
                return false;
            }
        }
        if matches!(t1, Ty::Var(_)) {
            return self.valid_substitution(t2, t1).0;
        }
        if t1.is_dyn_or_error() || t2.is_dyn_or_error() {
            return true;
        }
        match (t1, t2) {
            (Ty::Null, other) | (other, Ty::Null) => nullable(other),
            (Ty::List(a), Ty::List(b)) | (Ty::Optional(a), Ty::Optional(b)) => {
                self.assignable(a, b)
            }
            (Ty::Map(k1, v1), Ty::Map(k2, v2)) => {
                self.assignable(k1, k2) && self.assignable(v1, v2)
            }
            (Ty::Type(_), Ty::Type(_)) => true,
            (Ty::Object(a), Ty::Object(b)) => a.name == b.name,
            (Ty::Open(a), Ty::Open(b)) => a == b,
            (Ty::Opaque(a), Ty::Opaque(b)) => a == b,
            (a, b) => {
                std::mem::discriminant(a) == std::mem::discriminant(b) && a.params().is_empty()
            }
        }
    }

    /// cel-go's `isValidTypeSubstitution(m, t1, t2)`, `t2` a variable.
    fn valid_substitution(&mut self, t1: &Ty, t2: &Ty) -> (bool, bool) {
        if t1 == t2 {
            return (true, true);
        }
        if let Some(sub) = self.find(t2).cloned() {
            if *t1 == sub {
                return (true, true);
            }
            if self.assignable(t1, &sub) {
                let general = most_general(t1, &sub);
                if self.not_referenced_in(t2, &general) {
                    self.add(t2, general);
                }
                return (true, true);
            }
            return (false, true);
        }
        if self.not_referenced_in(t2, t1) {
            self.add(t2, t1.clone());
            return (true, false);
        }
        (false, false)
    }

    /// The occurs check.
    fn not_referenced_in(&self, var: &Ty, within: &Ty) -> bool {
        if var == within {
            return false;
        }
        match within {
            Ty::Var(_) => match self.find(within) {
                Some(sub) => self.not_referenced_in(var, sub),
                None => true,
            },
            other => other
                .params()
                .iter()
                .all(|p| self.not_referenced_in(var, p)),
        }
    }

    /// `t` with bound variables replaced by their bindings, recursively.
    pub(crate) fn substitute(&self, t: &Ty) -> Ty {
        if let Some(sub) = self.find(t) {
            return self.substitute(sub);
        }
        match t {
            Ty::List(e) => Ty::list(self.substitute(e)),
            Ty::Optional(e) => Ty::optional(self.substitute(e)),
            Ty::Map(k, v) => Ty::map(self.substitute(k), self.substitute(v)),
            Ty::Type(Some(p)) => Ty::type_of(self.substitute(p)),
            other => other.clone(),
        }
    }
}

/// Whether `null` may be assigned to a value of this type (cel-go: messages, abstract and
/// opaque types, optionals, wrappers and the well-known types `Duration`, `Timestamp`, `Any`).
fn nullable(t: &Ty) -> bool {
    matches!(
        t,
        Ty::Null
            | Ty::Object(_)
            | Ty::Open(_)
            | Ty::Opaque(_)
            | Ty::Optional(_)
            | Ty::Duration
            | Ty::Timestamp
    )
}

/// The more general of two types known to unify: the less specific one (dyn, a variable).
pub(crate) fn most_general(t1: &Ty, t2: &Ty) -> Ty {
    if less_or_equally_specific(t1, t2) {
        t1.clone()
    } else {
        t2.clone()
    }
}

fn less_or_equally_specific(t1: &Ty, t2: &Ty) -> bool {
    if matches!(t1, Ty::Dyn | Ty::Var(_) | Ty::Param(_)) {
        return true;
    }
    if matches!(t2, Ty::Dyn | Ty::Var(_) | Ty::Param(_)) {
        return false;
    }
    match (t1, t2) {
        (Ty::List(a), Ty::List(b)) | (Ty::Optional(a), Ty::Optional(b)) => {
            less_or_equally_specific(a, b)
        }
        (Ty::Map(k1, v1), Ty::Map(k2, v2)) => {
            less_or_equally_specific(k1, k2) && less_or_equally_specific(v1, v2)
        }
        (Ty::Type(_), Ty::Type(_)) => true,
        (a, b) => a == b,
    }
}
