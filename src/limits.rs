//! Budgets for one request to the server: what an admission request, a `/v1/check` manifest or a
//! Cloud Run API body can legitimately be, far below what the CLI accepts for a 32 MiB file.
//! Pure: the server (and the Cloud Run API gate) call these before building or evaluating
//! anything, so that a hostile body costs little more than reading it.
//!
//! - [`RequestLimits::check_json`] scans a JSON body's bytes (no allocation) for its nesting
//!   depth and an upper bound of its node count, before `serde_json` builds anything.
//! - [`RequestLimits::read_limits`] are the manifest parser's limits for a YAML or JSON body:
//!   nodes (aliases counted by what they expand to), nodes added by alias expansion, depth and
//!   size, all counted before the nodes are allocated.
//! - [`RequestLimits::check_labels_json`] and [`RequestLimits::check_labels`] count the labels
//!   and annotations of every `metadata` in an object.

use crate::manifest::{self, Node, NodeValue, ReadLimits};

/// The budgets of one request body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestLimits {
    /// Most nodes (scalars, mappings and sequences) in one body; in YAML, aliases count by what
    /// they expand to.
    pub max_nodes: usize,
    /// Most nodes that YAML aliases may add by expansion (an AdmissionReview, JSON, has none).
    pub max_alias_nodes: usize,
    /// Deepest nesting of objects and arrays.
    pub max_depth: usize,
    /// Most labels and annotations, counted together, in any one `metadata` of a body.
    pub max_labels: usize,
}

impl Default for RequestLimits {
    /// Sized from what Kubernetes allows an object: a Cloud Run Service, Job or WorkerPool of
    /// the largest legitimate size (1.5 MiB in etcd, an UPDATE's review carrying two of them)
    /// is a few thousand nodes, nested about 15 deep, with tens of labels and annotations.
    fn default() -> Self {
        RequestLimits {
            max_nodes: 100_000,
            max_alias_nodes: 10_000,
            max_depth: 64,
            max_labels: 1_000,
        }
    }
}

/// Why a body is over its budget.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BudgetError {
    #[error("the body nests deeper than {limit} levels (at byte {offset})")]
    TooDeep { limit: usize, offset: usize },
    #[error("the body has more than {limit} values (at byte {offset})")]
    TooManyNodes { limit: usize, offset: usize },
    #[error(
        "{path} has {count} labels and annotations, more than the {limit} a request may carry"
    )]
    TooManyLabels {
        path: String,
        count: usize,
        limit: usize,
    },
}

impl RequestLimits {
    /// The manifest parser's limits for a body of at most `max_bytes`.
    pub fn read_limits(&self, max_bytes: usize) -> ReadLimits {
        ReadLimits {
            max_bytes,
            yaml: manifest::Limits {
                max_depth: self.max_depth,
                max_nodes: self.max_nodes,
                max_alias_nodes: self.max_alias_nodes,
            },
        }
    }

    /// Scans JSON text without building it: nesting depth, and an upper bound of its values
    /// (every `{`, `[` and `,` outside strings, plus one). Text that is not JSON passes here and
    /// fails in the parser.
    pub fn check_json(&self, body: &[u8]) -> Result<(), BudgetError> {
        let (mut depth, mut nodes) = (0usize, 1usize);
        let (mut in_string, mut escaped) = (false, false);
        for (offset, &byte) in body.iter().enumerate() {
            if in_string {
                match byte {
                    _ if escaped => escaped = false,
                    b'\\' => escaped = true,
                    b'"' => in_string = false,
                    _ => {}
                }
                continue;
            }
            match byte {
                b'"' => in_string = true,
                b'{' | b'[' => {
                    depth += 1;
                    nodes += 1;
                    if depth > self.max_depth {
                        return Err(BudgetError::TooDeep {
                            limit: self.max_depth,
                            offset,
                        });
                    }
                }
                b'}' | b']' => depth = depth.saturating_sub(1),
                b',' => nodes += 1,
                _ => continue,
            }
            if nodes > self.max_nodes {
                return Err(BudgetError::TooManyNodes {
                    limit: self.max_nodes,
                    offset,
                });
            }
        }
        Ok(())
    }

    /// Counts the labels and annotations of every `metadata` object in a JSON value (the
    /// object's own, a template's, ...).
    pub fn check_labels_json(&self, value: &serde_json::Value) -> Result<(), BudgetError> {
        // Counted first without the paths (the usual case: nothing over); the walk that names
        // the path runs only for a body over the limit.
        if !self.labels_over_json(value) {
            return Ok(());
        }
        let mut todo = vec![(value, String::new())];
        while let Some((value, path)) = todo.pop() {
            match value {
                serde_json::Value::Object(map) => {
                    for (key, child) in map {
                        let child_path = join(&path, key);
                        if key == "metadata" {
                            self.labels_within(&child_path, labels_in_json(child))?;
                        }
                        todo.push((child, child_path));
                    }
                }
                serde_json::Value::Array(items) => {
                    todo.extend(items.iter().map(|i| (i, format!("{path}[]"))));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// [`RequestLimits::check_labels_json`] for a parsed manifest document.
    pub fn check_labels(&self, node: &Node) -> Result<(), BudgetError> {
        if !self.labels_over(node) {
            return Ok(());
        }
        let mut todo = vec![(node, String::new())];
        while let Some((node, path)) = todo.pop() {
            match &node.value {
                NodeValue::Map(entries) => {
                    for entry in entries {
                        let child_path = join(&path, &entry.key);
                        if entry.key == "metadata" {
                            self.labels_within(&child_path, labels_in(&entry.value))?;
                        }
                        todo.push((&entry.value, child_path));
                    }
                }
                NodeValue::Seq(items) => {
                    todo.extend(items.iter().map(|i| (i, format!("{path}[]"))));
                }
                NodeValue::Scalar(_) => {}
            }
        }
        Ok(())
    }

    /// Whether any `metadata` in the JSON value holds more labels and annotations than the limit.
    fn labels_over_json(&self, value: &serde_json::Value) -> bool {
        let mut todo = vec![value];
        while let Some(value) = todo.pop() {
            match value {
                serde_json::Value::Object(map) => {
                    for (key, child) in map {
                        if key == "metadata" && labels_in_json(child) > self.max_labels {
                            return true;
                        }
                        todo.push(child);
                    }
                }
                serde_json::Value::Array(items) => todo.extend(items),
                _ => {}
            }
        }
        false
    }

    /// [`RequestLimits::labels_over_json`] for a parsed manifest document.
    fn labels_over(&self, node: &Node) -> bool {
        let mut todo = vec![node];
        while let Some(node) = todo.pop() {
            match &node.value {
                NodeValue::Map(entries) => {
                    for entry in entries {
                        if entry.key == "metadata" && labels_in(&entry.value) > self.max_labels {
                            return true;
                        }
                        todo.push(&entry.value);
                    }
                }
                NodeValue::Seq(items) => todo.extend(items),
                NodeValue::Scalar(_) => {}
            }
        }
        false
    }

    fn labels_within(&self, path: &str, count: usize) -> Result<(), BudgetError> {
        if count > self.max_labels {
            return Err(BudgetError::TooManyLabels {
                path: path.to_owned(),
                count,
                limit: self.max_labels,
            });
        }
        Ok(())
    }
}

/// The labels and annotations of one `metadata` object, together.
fn labels_in_json(metadata: &serde_json::Value) -> usize {
    ["labels", "annotations"]
        .iter()
        .filter_map(|k| metadata.get(k)?.as_object())
        .map(|m| m.len())
        .sum()
}

/// [`labels_in_json`] for a parsed manifest's `metadata`.
fn labels_in(metadata: &Node) -> usize {
    ["labels", "annotations"]
        .iter()
        .filter_map(|k| match &metadata.get(k)?.value {
            NodeValue::Map(m) => Some(m.len()),
            _ => None,
        })
        .sum()
}

/// `parent.key`; keys are the body's own text, so they are shown escaped.
fn join(parent: &str, key: &str) -> String {
    let key: String = key.escape_debug().take(64).collect();
    if parent.is_empty() {
        key
    } else {
        format!("{parent}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> RequestLimits {
        RequestLimits {
            max_nodes: 10,
            max_alias_nodes: 4,
            max_depth: 3,
            max_labels: 2,
        }
    }

    /// Asserts that checking `text` passed (`expected` None) or failed with an error that says
    /// `expected`.
    fn assert_outcome(result: Result<(), BudgetError>, expected: Option<&str>, text: &str) {
        match expected {
            None => assert_eq!(result, Ok(()), "{text}"),
            Some(message) => {
                let error = result.expect_err(text).to_string();
                assert!(error.contains(message), "{text}: {error}");
            }
        }
    }

    #[test]
    fn json_scans_count_depth_and_values_outside_strings() {
        let cases: &[(&str, Option<&str>)] = &[
            (r#"{"a": [1, 2, 3]}"#, None),
            (r#"{"a": {"b": {"c": 1}}}"#, None),
            (r#"{"a": {"b": {"c": [1]}}}"#, Some("deeper than 3")),
            (r#"[1,2,3,4,5,6,7,8,9]"#, None),
            (r#"[1,2,3,4,5,6,7,8,9,10]"#, Some("more than 10 values")),
            // Brackets, commas and escaped quotes inside strings are text.
            (r#"{"a": "[[[[,,,,,,,,,,,,\"[[[["}"#, None),
            (r#"{"a\\": "[[[[,,,,,,,,,,,,"}"#, None),
            ("not json at all", None),
        ];
        for (text, expected) in cases {
            assert_outcome(small().check_json(text.as_bytes()), *expected, text);
        }
    }

    #[test]
    fn labels_and_annotations_count_per_metadata() {
        let cases = [
            (r#"{"metadata": {"labels": {"a": "1", "b": "2"}}}"#, None),
            (
                r#"{"metadata": {"labels": {"a": "1"}, "annotations": {"b": "2", "c": "3"}}}"#,
                Some("metadata has 3 labels"),
            ),
            (
                r#"{"metadata": {"labels": {"a": "1"}}, "spec": {"template": {"metadata": {"labels": {"a": "1", "b": "2", "c": "3"}}}}}"#,
                Some("spec.template.metadata has 3"),
            ),
            (
                r#"{"items": [{"metadata": {"annotations": {"a": "", "b": "", "c": ""}}}]}"#,
                Some("items[].metadata has 3"),
            ),
            (r#"{"data": {"a": "", "b": "", "c": ""}}"#, None),
            // At the limit, in lists of lists, with labels that are not a map.
            (
                r#"{"metadata": {"labels": {"a": "1"}, "annotations": {"b": "2"}}, "spec": [[{"metadata": {"labels": "x"}}]]}"#,
                None,
            ),
            (
                r#"{"a": [{"b": [{"metadata": {"labels": {"x": "", "y": "", "z": ""}}}]}]}"#,
                Some("a[].b[].metadata has 3"),
            ),
        ];
        for (text, expected) in cases {
            let value: serde_json::Value = serde_json::from_str(text).unwrap();
            let node = Node::from_json(&value);
            assert_outcome(small().check_labels_json(&value), expected, text);
            assert_outcome(small().check_labels(&node), expected, text);
            // The count without paths says what the walk that names the path finds.
            assert_eq!(
                small().labels_over_json(&value),
                expected.is_some(),
                "{text}"
            );
            assert_eq!(small().labels_over(&node), expected.is_some(), "{text}");
        }
    }

    #[test]
    fn yaml_bodies_stop_at_the_alias_budget_before_the_node_budget() {
        let mut bomb = String::from("a0: &a0 [x, x, x]\n");
        for i in 1..4 {
            let p = i - 1;
            bomb.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}]\n"));
        }
        let limits = RequestLimits {
            max_nodes: 1_000,
            max_alias_nodes: 20,
            ..RequestLimits::default()
        };
        let yaml = limits.read_limits(1 << 20).yaml;
        let error = manifest::yaml::parse_stream(&bomb, &yaml)
            .unwrap_err()
            .error;
        assert!(
            error.to_string().contains("aliases expand to more than 20"),
            "{error}"
        );
        // About 180 nodes, most of them by expansion: under the node budget, over the alias one.
        assert!(manifest::yaml::parse_stream(&bomb, &manifest::Limits::default()).is_ok());
        let plain = "a: &a [x, z]\nb: *a\nc: *a\n";
        assert!(manifest::yaml::parse_stream(plain, &yaml).is_ok());
    }
}
