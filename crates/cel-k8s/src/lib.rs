//! Kubernetes' CEL dialect, as `ValidatingAdmissionPolicy` and `MutatingAdmissionPolicy` use it.
//!
//! The `cel` crate parses; everything after is ours: the type checker ([`check`]), the compiled,
//! slot-resolved form, its evaluator, the cost meter and the Kubernetes libraries. Documents are
//! read in place through [`Tree`]: a field read or a comparison allocates nothing.
//!
//! The rest of the project sees compile, check, evaluate and [`Value`]:
//!
//! ```text
//! let env = Environment::new();                        // once; share it
//! let program = env.compile("object.spec.x == 1", &CompileOptions::default())?;
//! let mut activation = Activation::new();              // once per document
//! activation.bind_tree(Root::Object, &document);       // a &dyn Tree, read in place
//! let value = program.evaluate(&activation, &mut env.meter())?;
//! ```
//!
//! What an expression may call is a target's ([`Profile`]): a Kubernetes release from 1.30 to
//! 1.37 and the extensions beyond Kubernetes asked for; [`Environment::new`] offers everything.
//! The `kms` extension reads Cloud KMS facts from a [`LiveData`] snapshot the caller binds on
//! the activation ([`Activation::set_live`]), so evaluation never does I/O ([`live`]).
//!
//! A policy's variables are compiled in order, variable `i` with `CompileOptions::variables`
//! naming the variables before it (every other expression with all of them), and defined on
//! the activation in the same order ([`Activation::define_variable`]): each is evaluated on
//! first use, once per activation, with a budget of its own.

pub mod analysis;
pub mod check;
pub mod cost;
pub mod docs;
pub mod env;
pub mod error;
mod eval;
mod guard;
mod json;
pub mod library;
pub mod libs;
pub mod live;
pub mod profile;
pub mod program;
mod protobuf;
pub mod stdlib;
pub mod syntax;
pub mod types;
pub mod value;
pub mod value_ops;

#[cfg(test)]
mod probes;
#[cfg(test)]
mod tests;

pub use cost::{Meter, DEFAULT_MAX_EXPRESSION_COST};
pub use env::{
    Activation, CompileOptions, Environment, Purpose, Root, SharedCells, VariableCell,
    VariableDefinitions, VariableSlot, ROOT_VARIABLES,
};
pub use error::{CompileError, EvalError};
pub use live::LiveData;
pub use profile::{Extension, Extensions, Feature, KubernetesVersion, Profile};
pub use program::Program;
pub use protobuf::is_message_type;
pub use syntax::{MAX_BRACKET_DEPTH, MAX_EXPRESSION_BYTES, MAX_TREE_DEPTH};
pub use types::Type;
pub use value::{List, Map, Opaque, ScalarKind, Str, Tree, TreeScalar, TreeShape, Value};
