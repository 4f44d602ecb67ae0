//! Kubernetes' CEL dialect, as `ValidatingAdmissionPolicy` and `MutatingAdmissionPolicy` use it.
//!
//! The `cel` crate parses; everything after is ours: the type checker ([`check`]), the compiled,
//! slot-resolved form, its evaluator, the cost meter and the Kubernetes libraries. Documents are
//! read in place through [`Tree`]: a field read or a comparison allocates nothing.
//!
//! The rest of the project sees compile, check, evaluate and [`Value`].

pub mod check;
pub mod error;
pub mod library;
pub mod types;
pub mod value;

pub use error::{CompileError, EvalError};
pub use types::Type;
pub use value::{List, Map, Opaque, Str, Tree, TreeScalar, Value};
