//! A JSON body checked for repeated object keys, which parsers resolve differently (the first
//! or the last wins, or an error): the gate refuses such a body rather than judge one reading
//! and forward bytes the upstream may read another way. Pure.

use serde::de::{DeserializeSeed, Deserializer, Error, MapAccess, SeqAccess, Visitor};
use std::collections::HashSet;
use std::fmt;

/// Walks a JSON value, failing on an object with a key given twice.
struct NoDuplicateKeys;

impl<'de> DeserializeSeed<'de> for NoDuplicateKeys {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NoDuplicateKeys {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(NoDuplicateKeys)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            map.next_value_seed(NoDuplicateKeys)?;
            if !seen.insert(key.clone()) {
                return Err(A::Error::custom(format!("the key {key:?} is repeated")));
            }
        }
        Ok(())
    }
}

/// Checks that no object in the JSON text repeats a key (after unescaping: `"a"` and `"\u0061"`
/// are the same key).
pub fn check_no_duplicate_keys(text: &[u8]) -> Result<(), serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(text);
    NoDuplicateKeys.deserialize(&mut deserializer)?;
    deserializer.end()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_keys_are_found_at_any_depth() {
        let cases = [
            (r#"{"a": 1, "b": {"c": [1, {"d": null}]}}"#, true),
            (r#"{"a": 1, "a": 2}"#, false),
            (r#"{"a": 1, "\u0061": 2}"#, false),
            (r#"{"m": {"labels": {}, "labels": {"x": "y"}}}"#, false),
            (r#"[{"a": 1}, {"a": 1}]"#, true),
            (r#"[{"a": 1, "b": [{"k": 1, "k": 1}]}]"#, false),
            (r#"{"a": 1.5e3, "b": -2, "c": true, "d": "s"}"#, true),
        ];
        for (text, ok) in cases {
            assert_eq!(
                check_no_duplicate_keys(text.as_bytes()).is_ok(),
                ok,
                "{text}"
            );
        }
    }
}
