//! cel-go's encoders extension: `base64.encode` and `base64.decode`.

use super::support::{fail, no_overload};
use crate::error::EvalError;
use crate::library::{Library, Style};
use crate::value::Value;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use std::sync::Arc;

/// The standard alphabet as leniently as cel-go decodes it: Go's `StdEncoding` (line breaks
/// skipped, trailing bits ignored), then `RawStdEncoding` when that fails: padding optional.
const DECODER: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

pub fn register(library: &mut Library) {
    library.add("base64.encode", Style::Global, 1, encode);
    library.add("base64.decode", Style::Global, 1, decode);
}

fn encode<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    match args {
        [Value::Bytes(b)] => Ok(Value::string(
            base64::engine::general_purpose::STANDARD.encode(b),
        )),
        _ => Err(no_overload("base64.encode", args)),
    }
}

fn decode<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    let [Value::String(s)] = args else {
        return Err(no_overload("base64.decode", args));
    };
    let decoded = if s.contains(['\r', '\n']) {
        DECODER.decode(s.replace(['\r', '\n'], ""))
    } else {
        DECODER.decode(&**s)
    };
    decoded
        .map(|b| Value::Bytes(Arc::from(b)))
        .map_err(|_| fail("base64.decode", "illegal base64 data"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::libs::support::testing::*;

    #[test]
    fn encodes_and_decodes() {
        check("encode", encode(&[bytes(b"hello")]), s("aGVsbG8="));
        check("decode unpadded", decode(&[s("aGVsbG8")]), bytes(b"hello"));
        check("decode padded", decode(&[s("aGVsbG8=")]), bytes(b"hello"));
        check(
            "decode lines",
            decode(&[s("aGVs\r\nbG8=")]),
            bytes(b"hello"),
        );
        check("empty", decode(&[s("")]), bytes(b""));
        check("encode empty", encode(&[bytes(b"")]), s(""));
        check_err("bad", decode(&[s("a*b")]), "illegal base64");
        check_err(
            "kind",
            encode(&[s("hello")]),
            "no matching overload for 'base64.encode' applied to '(string)'",
        );
    }
}
