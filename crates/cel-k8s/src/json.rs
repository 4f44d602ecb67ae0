//! JSON documents as [`Tree`]s: `serde_json::Value` read in place (requests, parameter objects
//! given as JSON, tests).

use crate::value::{ScalarKind, Tree, TreeScalar};

impl Tree for serde_json::Value {
    fn scalar(&self) -> Option<TreeScalar<'_>> {
        use serde_json::Value as J;
        let (kind, text) = match self {
            J::Null => (ScalarKind::Null, ""),
            J::Bool(b) => (ScalarKind::Bool(*b), ""),
            J::Number(n) => match n.as_i64() {
                Some(i) => (ScalarKind::Int(i), ""),
                None => (ScalarKind::Double(n.as_f64().unwrap_or(f64::NAN)), ""),
            },
            J::String(s) => (ScalarKind::Str, s.as_str()),
            J::Array(_) | J::Object(_) => return None,
        };
        Some(TreeScalar { kind, text })
    }

    fn is_list(&self) -> bool {
        self.is_array()
    }

    fn is_map(&self) -> bool {
        self.is_object()
    }

    fn len(&self) -> usize {
        match self {
            serde_json::Value::Array(items) => items.len(),
            serde_json::Value::Object(map) => map.len(),
            _ => 0,
        }
    }

    fn item(&self, index: usize) -> Option<&dyn Tree> {
        self.as_array()?.get(index).map(|v| v as &dyn Tree)
    }

    fn field(&self, key: &str) -> Option<&dyn Tree> {
        self.as_object()?.get(key).map(|v| v as &dyn Tree)
    }

    fn entry(&self, index: usize) -> Option<(&str, &dyn Tree)> {
        self.as_object()?
            .iter()
            .nth(index)
            .map(|(k, v)| (k.as_str(), v as &dyn Tree))
    }
}
