//! Kubernetes' JSON Patch library: `jsonpatch.escapeKey`.

use cel::common::types::CelString;
use cel::{DeclarationError, Env};

pub(super) fn register(env: &mut Env) -> Result<(), DeclarationError> {
    cel::add_overload!(env, fn escape_key: (CelString) -> CelString, name = "jsonpatch.escapeKey")
}

/// A key escaped for a JSON Patch path (RFC 6901): `~` as `~0`, `/` as `~1`.
fn escape_key(key: &CelString<'_>) -> CelString<'static> {
    key.inner().replace('~', "~0").replace('/', "~1").into()
}
