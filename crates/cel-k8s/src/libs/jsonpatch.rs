//! Kubernetes' JSON Patch library: `jsonpatch.escapeKey`.

use super::support::no_overload;
use crate::error::EvalError;
use crate::library::{Library, Style};
use crate::value::Value;

pub fn register(library: &mut Library) {
    library.add("jsonpatch.escapeKey", Style::Global, 1, escape_key);
}

/// A key escaped for a JSON Patch path (RFC 6901): `~` as `~0`, `/` as `~1`.
fn escape_key<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    match args {
        [Value::String(key)] => Ok(Value::string(key.replace('~', "~0").replace('/', "~1"))),
        _ => Err(no_overload("jsonpatch.escapeKey", args)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::libs::support::testing::*;

    #[test]
    fn escapes_as_rfc_6901() {
        check(
            "doc",
            escape_key(&[s("k8s.io/my~label")]),
            s("k8s.io~1my~0label"),
        );
        check("order", escape_key(&[s("~1")]), s("~01"));
        check("empty", escape_key(&[s("")]), s(""));
        check_err("kind", escape_key(&[i(1)]), "no matching overload");
    }
}
