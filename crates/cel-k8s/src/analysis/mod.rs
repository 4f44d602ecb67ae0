//! Load-time analyses of a parsed expression, on the same tree the checker and the compiler
//! read (an expression is parsed once): what it refers to ([`references`]), its static cost
//! estimate ([`estimate`], over the shapes of [`size_bound`]) and what `lint` reads of it
//! ([`facts`]), each a walk over the tree's nodes in the order [`visit`] gives. Pure.

pub mod estimate;
pub mod facts;
pub mod references;
pub mod size_bound;
pub mod visit;

pub use estimate::{Estimate, SizeBounds};
pub use facts::Facts;
pub use references::References;
pub use size_bound::SizeBound;

use crate::syntax::Parsed;

/// A parsed expression and its source, kept beside its compiled program for the analyses that
/// depend on what the policy around it knows (the shapes of its variables) and for `lint`.
#[derive(Debug)]
pub struct Syntax {
    source: String,
    parsed: Parsed,
}

impl Syntax {
    pub fn new(source: &str, parsed: Parsed) -> Syntax {
        Syntax {
            source: source.to_owned(),
            parsed,
        }
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// The tree (macros expanded) and the offsets of its nodes.
    pub fn parsed(&self) -> &Parsed {
        &self.parsed
    }

    /// The static cost estimate when the expression's variables have these shapes.
    pub fn estimate(&self, shapes: &SizeBounds) -> Estimate {
        estimate::estimate(&self.parsed.expr, shapes)
    }
}
