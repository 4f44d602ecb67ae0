//! Kubernetes' CEL libraries on the crate's own [`Value`](crate::value::Value): every function
//! of `docs/cel-functions.md` beyond the standard ones and optionals (those are `stdlib`'s).
//!
//! One module per library, each with `register`; [`register_all`] adds them all. Functions
//! take their arguments with the receiver first, dispatch on the kinds they get and answer
//! [`EvalError::no_overload`](crate::EvalError::no_overload) for kinds they do not take.
//! Errors name the function, never the input (it may be a secret); sizes an input controls
//! are bounded.

pub mod encoders;
pub mod jsonpatch;
pub mod lists;
pub mod math;
pub mod named_formats;
pub mod net;
pub mod quantity;
pub mod regex;
pub mod semver;
pub mod sets;
pub mod strfmt;
pub mod strings;
mod support;
pub mod url;

use crate::library::Library;

/// Registers every library function.
pub fn register_all(library: &mut Library) {
    strings::register(library);
    strfmt::register(library);
    lists::register(library);
    sets::register(library);
    regex::register(library);
    math::register(library);
    encoders::register(library);
    jsonpatch::register(library);
    quantity::register(library);
    semver::register(library);
    net::register(library);
    url::register(library);
    named_formats::register(library);
}
