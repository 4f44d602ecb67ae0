//! YAML documents as JSON values, for the tests that read the shipped policies and CRDs: plain
//! scalars resolved as YAML 1.2's core schema does, quoted and block scalars as strings.

use saphyr_parser::{Event, Parser, ScalarStyle};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// Every document of a YAML stream.
pub(crate) fn documents(text: &str) -> Result<Vec<Value>, String> {
    let mut parser = Parser::new_from_str(text);
    let mut anchors: HashMap<usize, Value> = HashMap::new();
    let mut stack: Vec<(Value, Option<String>, usize)> = Vec::new();
    let mut documents = Vec::new();
    while let Some(event) = parser.next_event() {
        let (event, _) = event.map_err(|e| e.to_string())?;
        let done = match event {
            Event::Scalar(text, style, anchor, _) => Some((scalar(&text, style), anchor)),
            Event::Alias(id) => Some((anchors.get(&id).cloned().unwrap_or(Value::Null), 0)),
            Event::SequenceStart(anchor, _) => {
                stack.push((Value::Array(Vec::new()), None, anchor));
                None
            }
            Event::MappingStart(anchor, _) => {
                stack.push((Value::Object(Map::new()), None, anchor));
                None
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (value, _, anchor) = stack.pop().ok_or("unbalanced YAML events")?;
                Some((value, anchor))
            }
            _ => None,
        };
        let Some((value, anchor)) = done else {
            continue;
        };
        if anchor != 0 {
            anchors.insert(anchor, value.clone());
        }
        match stack.last_mut() {
            None => documents.push(value),
            Some((Value::Array(items), _, _)) => items.push(value),
            Some((Value::Object(map), key, _)) => match key.take() {
                None => {
                    *key = Some(match value {
                        Value::String(s) => s,
                        other => other.to_string(),
                    })
                }
                Some(k) => {
                    map.insert(k, value);
                }
            },
            Some(_) => return Err("a scalar cannot hold values".to_owned()),
        }
    }
    Ok(documents)
}

fn scalar(text: &str, style: ScalarStyle) -> Value {
    if style != ScalarStyle::Plain {
        return Value::String(text.to_owned());
    }
    match text {
        "" | "~" | "null" | "Null" | "NULL" => Value::Null,
        "true" | "True" | "TRUE" => Value::Bool(true),
        "false" | "False" | "FALSE" => Value::Bool(false),
        _ => {
            if let Ok(i) = text.parse::<i64>() {
                Value::from(i)
            } else if let Some(f) = text
                .parse::<f64>()
                .ok()
                .filter(|_| text.chars().any(|c| c.is_ascii_digit()))
            {
                Value::from(f)
            } else {
                Value::String(text.to_owned())
            }
        }
    }
}

#[test]
fn documents_read_as_json() {
    let docs = documents("a: 1\nb: [x, 'y', true, ~]\n---\n- {c: 2.5}\n").expect("parses");
    assert_eq!(
        docs,
        vec![
            serde_json::json!({"a": 1, "b": ["x", "y", true, null]}),
            serde_json::json!([{"c": 2.5}])
        ]
    );
}
