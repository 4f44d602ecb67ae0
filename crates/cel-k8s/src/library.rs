//! The functions an expression may call, by name, call style and arity.
//!
//! Each library module registers its overloads' implementations here; the type checker declares
//! their signatures separately (in `check`). The compiler resolves a call once, at compile time,
//! to one [`Function`]; the function dispatches on its arguments' kinds at run time and answers
//! [`EvalError::no_overload`] for kinds it does not take.

use crate::error::EvalError;
use crate::value::Value;

/// An implementation. A receiver-style call (`x.f(y)`) gets the receiver first.
pub type Function = for<'a> fn(&[Value<'a>]) -> Result<Value<'a>, EvalError>;

/// How a function is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Style {
    /// `f(x, y)` (also namespaced: `strings.quote(s)`, `sets.contains(a, b)`).
    Global,
    /// `x.f(y)`.
    Receiver,
}

/// One implementation: a name, a call style and the number of arguments (the receiver counted).
#[derive(Clone)]
pub struct Overload {
    pub name: &'static str,
    pub style: Style,
    pub arity: usize,
    pub function: Function,
}

/// Every implementation an environment offers.
#[derive(Clone, Default)]
pub struct Library {
    overloads: Vec<Overload>,
}

impl Library {
    /// Adds an implementation; a later one for the same name, style and arity replaces it.
    pub fn add(&mut self, name: &'static str, style: Style, arity: usize, function: Function) {
        self.overloads
            .retain(|o| !(o.name == name && o.style == style && o.arity == arity));
        self.overloads.push(Overload {
            name,
            style,
            arity,
            function,
        });
    }

    /// Removes every overload whose name `drop` says to.
    pub fn remove(&mut self, drop: impl Fn(&str, Style) -> bool) {
        self.overloads.retain(|o| !drop(o.name, o.style));
    }

    /// The implementation for a call, resolved once when compiling.
    pub fn lookup(&self, name: &str, style: Style, arity: usize) -> Option<Function> {
        self.overloads
            .iter()
            .find(|o| o.name == name && o.style == style && o.arity == arity)
            .map(|o| o.function)
    }

    /// Whether any overload has this name (for "unknown function" against "wrong arguments").
    pub fn has(&self, name: &str) -> bool {
        self.overloads.iter().any(|o| o.name == name)
    }

    pub fn overloads(&self) -> &[Overload] {
        &self.overloads
    }
}
