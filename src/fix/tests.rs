//! Table tests: input text, ops, expected text byte for byte. Each case is also checked for
//! meaning (the edited text reads as the patched document, the other documents unchanged) and
//! for keeping every byte outside the edits.

use super::*;
use crate::manifest::{parse_documents, ReadLimits};
use serde_json::Value;

const KEY: &str = "projects/p/locations/europe-west1/keyRings/r/cryptoKeys/k";

struct Case {
    name: &'static str,
    input: &'static str,
    /// Which document of `parse_documents` to edit.
    doc: usize,
    ops: Value,
    expected: &'static str,
}

/// `add` of the CMEK annotation at `path` (a map holding it when `nested` names the keys above).
fn add_key(path: &str) -> Value {
    let full = format!("{path}/run.googleapis.com~1encryption-key");
    serde_json::json!([{"op": "add", "path": full, "value": KEY}])
}

fn add_map(path: &str, value: Value) -> Value {
    serde_json::json!([{"op": "add", "path": path, "value": value}])
}

fn annotations() -> Value {
    serde_json::json!({"run.googleapis.com/encryption-key": KEY})
}

fn patch_of(ops: &Value) -> json_patch::Patch {
    serde_json::from_value(ops.clone()).unwrap()
}

/// Plans, applies and checks one case: the output, its meaning, and the bytes kept.
fn check(case: &Case) {
    let name = case.name;
    let docs = parse_documents(case.input, &ReadLimits::default()).unwrap();
    let patch = patch_of(&case.ops);
    let edits =
        plan(case.input, &docs[case.doc].root, &patch.0).unwrap_or_else(|e| panic!("{name}: {e}"));
    let output = apply(case.input, edits.clone()).unwrap();
    assert_eq!(output, case.expected, "{name}: output");
    let mut expected = docs.iter().map(|d| d.root.to_json()).collect::<Vec<_>>();
    json_patch::patch(&mut expected[case.doc], &patch.0).unwrap();
    assert_meaning(name, &output, &expected);
    assert_kept(name, case.input, &edits, &output);
}

/// The output parses to `expected`, document by document.
fn assert_meaning(name: &str, output: &str, expected: &[Value]) {
    let reread = parse_documents(output, &ReadLimits::default()).unwrap();
    let got: Vec<Value> = reread.iter().map(|d| d.root.to_json()).collect();
    assert_eq!(got, expected, "{name}: meaning");
}

/// Every byte of `input` outside the edits is in `output`, in order, around the replacements.
fn assert_kept(name: &str, input: &str, edits: &[TextEdit], output: &str) {
    let mut sorted = edits.to_vec();
    sorted.sort_by_key(|e| (e.start, e.end));
    let (mut from, mut at) = (0, 0);
    for edit in sorted.iter().chain([&TextEdit {
        start: input.len(),
        end: input.len(),
        replacement: String::new(),
    }]) {
        let kept = &input[from..edit.start];
        assert_eq!(&output[at..at + kept.len()], kept, "{name}: bytes kept");
        at += kept.len();
        let written = &output[at..at + edit.replacement.len()];
        assert_eq!(written, edit.replacement, "{name}: replacement");
        at += edit.replacement.len();
        from = edit.end;
    }
    assert_eq!(at, output.len(), "{name}: length");
}

#[test]
fn cmek_annotation_lands_in_every_layout() {
    let cases = [
        Case {
            name: "block annotations present",
            input: r#"apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: hello
spec:
  template:
    metadata:
      annotations:
        autoscaling.knative.dev/maxScale: "10"
    spec:
      containers:
        - image: gcr.io/p/hello
"#,
            doc: 0,
            ops: add_key("/spec/template/metadata/annotations"),
            expected: r#"apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: hello
spec:
  template:
    metadata:
      annotations:
        autoscaling.knative.dev/maxScale: "10"
        run.googleapis.com/encryption-key: projects/p/locations/europe-west1/keyRings/r/cryptoKeys/k
    spec:
      containers:
        - image: gcr.io/p/hello
"#,
        },
        Case {
            name: "annotations missing, metadata with labels",
            input: r#"apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: hello
spec:
  template:
    metadata:
      labels:
        app: hello
    spec:
      containers:
      - image: gcr.io/p/hello
"#,
            doc: 0,
            ops: add_map("/spec/template/metadata/annotations", annotations()),
            expected: r#"apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: hello
spec:
  template:
    metadata:
      labels:
        app: hello
      annotations:
        run.googleapis.com/encryption-key: projects/p/locations/europe-west1/keyRings/r/cryptoKeys/k
    spec:
      containers:
      - image: gcr.io/p/hello
"#,
        },
        Case {
            name: "template metadata missing",
            input: r#"apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: hello
spec:
  template:
    spec:
      containers:
      - image: gcr.io/p/hello
        env:
        - name: A
          value: b
"#,
            doc: 0,
            ops: add_map(
                "/spec/template/metadata",
                serde_json::json!({"annotations": annotations()}),
            ),
            expected: r#"apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: hello
spec:
  template:
    spec:
      containers:
      - image: gcr.io/p/hello
        env:
        - name: A
          value: b
    metadata:
      annotations:
        run.googleapis.com/encryption-key: projects/p/locations/europe-west1/keyRings/r/cryptoKeys/k
"#,
        },
        Case {
            name: "flow annotations empty",
            input: r#"apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: hello
spec:
  template:
    metadata:
      annotations: {}
    spec: {}
"#,
            doc: 0,
            ops: add_key("/spec/template/metadata/annotations"),
            expected: r#"apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: hello
spec:
  template:
    metadata:
      annotations: {run.googleapis.com/encryption-key: projects/p/locations/europe-west1/keyRings/r/cryptoKeys/k}
    spec: {}
"#,
        },
        Case {
            name: "flow annotations with a member",
            input: r#"apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: hello
spec:
  template:
    metadata:
      annotations: {a: b}  # flow
"#,
            doc: 0,
            ops: add_key("/spec/template/metadata/annotations"),
            expected: r#"apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: hello
spec:
  template:
    metadata:
      annotations: {a: b, run.googleapis.com/encryption-key: projects/p/locations/europe-west1/keyRings/r/cryptoKeys/k}  # flow
"#,
        },
        Case {
            name: "annotations null, written as nothing",
            input: r#"apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: hello
spec:
  template:
    metadata:
      annotations:
    spec: {}
"#,
            doc: 0,
            ops: serde_json::json!([{"op": "replace", "path": "/spec/template/metadata/annotations", "value": annotations()}]),
            expected: r#"apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: hello
spec:
  template:
    metadata:
      annotations:
        run.googleapis.com/encryption-key: projects/p/locations/europe-west1/keyRings/r/cryptoKeys/k
    spec: {}
"#,
        },
        Case {
            name: "annotations null with a comment",
            input: r#"apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: hello
  annotations: null # none yet
  labels: ~
"#,
            doc: 0,
            ops: serde_json::json!([
                {"op": "replace", "path": "/metadata/annotations", "value": annotations()},
                {"op": "replace", "path": "/metadata/labels", "value": {"app": "hello"}},
            ]),
            expected: r#"apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: hello
  annotations: # none yet
    run.googleapis.com/encryption-key: projects/p/locations/europe-west1/keyRings/r/cryptoKeys/k
  labels:
    app: hello
"#,
        },
        Case {
            name: "comments everywhere",
            input: r#"# head comment
apiVersion: serving.knative.dev/v1  # trailing
kind: Service
metadata:
  name: hello # the name
spec:
  template:
    metadata:
      annotations:
        # about the scale
        autoscaling.knative.dev/class: 'kpa.autoscaling.knative.dev' # the default
        # a comment after the last annotation

    # a comment before spec
    spec:
      containers:
      - image: gcr.io/p/hello
"#,
            doc: 0,
            ops: add_key("/spec/template/metadata/annotations"),
            expected: r#"# head comment
apiVersion: serving.knative.dev/v1  # trailing
kind: Service
metadata:
  name: hello # the name
spec:
  template:
    metadata:
      annotations:
        # about the scale
        autoscaling.knative.dev/class: 'kpa.autoscaling.knative.dev' # the default
        run.googleapis.com/encryption-key: 'projects/p/locations/europe-west1/keyRings/r/cryptoKeys/k'
        # a comment after the last annotation

    # a comment before spec
    spec:
      containers:
      - image: gcr.io/p/hello
"#,
        },
        Case {
            name: "quoted key style",
            input: r#""apiVersion": "serving.knative.dev/v1"
"kind": "Service"
"metadata":
  "name": "hello"
"spec":
  "template":
    "metadata":
      "labels":
        "app": "hello"
"#,
            doc: 0,
            ops: add_map("/spec/template/metadata/annotations", annotations()),
            expected: r#""apiVersion": "serving.knative.dev/v1"
"kind": "Service"
"metadata":
  "name": "hello"
"spec":
  "template":
    "metadata":
      "labels":
        "app": "hello"
      "annotations":
        "run.googleapis.com/encryption-key": "projects/p/locations/europe-west1/keyRings/r/cryptoKeys/k"
"#,
        },
        Case {
            name: "4-space YAML",
            input: r#"apiVersion: serving.knative.dev/v1
kind: Service
metadata:
    name: hello
spec:
    template:
        spec:
            containers:
                - image: gcr.io/p/hello
"#,
            doc: 0,
            ops: add_map(
                "/spec/template/metadata",
                serde_json::json!({"annotations": annotations()}),
            ),
            expected: r#"apiVersion: serving.knative.dev/v1
kind: Service
metadata:
    name: hello
spec:
    template:
        spec:
            containers:
                - image: gcr.io/p/hello
        metadata:
            annotations:
                run.googleapis.com/encryption-key: projects/p/locations/europe-west1/keyRings/r/cryptoKeys/k
"#,
        },
        Case {
            name: "a list at its key's indentation after the insertion point",
            input: r#"apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: hello
spec:
  template:
    spec:
      containers:
      - image: gcr.io/p/hello
      - image: gcr.io/p/sidecar
"#,
            doc: 0,
            ops: serde_json::json!([
                {"op": "add", "path": "/spec/template/spec/serviceAccountName", "value": "runner"},
                {"op": "add", "path": "/spec/template/spec/volumes", "value": [{"name": "v", "emptyDir": {}}]},
            ]),
            expected: r#"apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: hello
spec:
  template:
    spec:
      containers:
      - image: gcr.io/p/hello
      - image: gcr.io/p/sidecar
      serviceAccountName: runner
      volumes:
      - name: v
        emptyDir: {}
"#,
        },
    ];
    for case in &cases {
        check(case);
    }
}

#[test]
fn file_formats_keep_every_byte_around_the_edit() {
    let cases = [
        Case {
            name: "second document only",
            input: r#"# config first
apiVersion: v1
kind: ConfigMap
metadata:
  name: config
  annotations:
    a: b
---
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: hello
  annotations:
    a: b
---
"#,
            doc: 1,
            ops: add_key("/metadata/annotations"),
            expected: r#"# config first
apiVersion: v1
kind: ConfigMap
metadata:
  name: config
  annotations:
    a: b
---
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: hello
  annotations:
    a: b
    run.googleapis.com/encryption-key: projects/p/locations/europe-west1/keyRings/r/cryptoKeys/k
---
"#,
        },
        Case {
            name: "CRLF",
            input: "apiVersion: serving.knative.dev/v1\r\nkind: Service\r\nmetadata:\r\n  name: hello\r\n  labels:\r\n    app: hello\r\nspec: {}\r\n",
            doc: 0,
            ops: add_map("/metadata/annotations", annotations()),
            expected: "apiVersion: serving.knative.dev/v1\r\nkind: Service\r\nmetadata:\r\n  name: hello\r\n  labels:\r\n    app: hello\r\n  annotations:\r\n    run.googleapis.com/encryption-key: projects/p/locations/europe-west1/keyRings/r/cryptoKeys/k\r\nspec: {}\r\n",
        },
        Case {
            name: "no final newline",
            input: "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: hello\n  annotations:\n    a: b",
            doc: 0,
            ops: add_key("/metadata/annotations"),
            expected: "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: hello\n  annotations:\n    a: b\n    run.googleapis.com/encryption-key: projects/p/locations/europe-west1/keyRings/r/cryptoKeys/k",
        },
        Case {
            name: "BOM",
            input: "\u{feff}apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: h\u{e9}llo\n  annotations: {}\n",
            doc: 0,
            ops: add_key("/metadata/annotations"),
            expected: "\u{feff}apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: h\u{e9}llo\n  annotations: {run.googleapis.com/encryption-key: projects/p/locations/europe-west1/keyRings/r/cryptoKeys/k}\n",
        },
        Case {
            name: "JSON, 2 spaces, metadata missing",
            input: r#"{
  "apiVersion": "serving.knative.dev/v1",
  "kind": "Service",
  "metadata": {
    "name": "hello"
  },
  "spec": {
    "template": {
      "spec": {
        "containers": [
          {
            "image": "gcr.io/p/hello"
          }
        ]
      }
    }
  }
}
"#,
            doc: 0,
            ops: add_map(
                "/spec/template/metadata",
                serde_json::json!({"annotations": annotations()}),
            ),
            expected: r#"{
  "apiVersion": "serving.knative.dev/v1",
  "kind": "Service",
  "metadata": {
    "name": "hello"
  },
  "spec": {
    "template": {
      "spec": {
        "containers": [
          {
            "image": "gcr.io/p/hello"
          }
        ]
      },
      "metadata": {
        "annotations": {
          "run.googleapis.com/encryption-key": "projects/p/locations/europe-west1/keyRings/r/cryptoKeys/k"
        }
      }
    }
  }
}
"#,
        },
        Case {
            name: "JSON, 4 spaces, annotations present and empty",
            input: r#"{
    "apiVersion": "serving.knative.dev/v1",
    "kind": "Service",
    "metadata": {
        "name": "hello",
        "annotations": {
            "a": "b"
        },
        "labels": {}
    }
}"#,
            doc: 0,
            ops: serde_json::json!([
                {"op": "add", "path": "/metadata/annotations/run.googleapis.com~1encryption-key", "value": KEY},
                {"op": "add", "path": "/metadata/labels/app", "value": "hello"},
            ]),
            expected: r#"{
    "apiVersion": "serving.knative.dev/v1",
    "kind": "Service",
    "metadata": {
        "name": "hello",
        "annotations": {
            "a": "b",
            "run.googleapis.com/encryption-key": "projects/p/locations/europe-west1/keyRings/r/cryptoKeys/k"
        },
        "labels": {
            "app": "hello"
        }
    }
}"#,
        },
        Case {
            name: "one-line JSON",
            input: r#"{"apiVersion": "serving.knative.dev/v1", "kind": "Service", "metadata": {"name": "hello"}}
"#,
            doc: 0,
            ops: add_map("/metadata/annotations", annotations()),
            expected: r#"{"apiVersion": "serving.knative.dev/v1", "kind": "Service", "metadata": {"name": "hello", "annotations": {"run.googleapis.com/encryption-key": "projects/p/locations/europe-west1/keyRings/r/cryptoKeys/k"}}}
"#,
        },
        Case {
            name: "minified JSON",
            input: r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"hello","annotations":{"a":"b"}}}"#,
            doc: 0,
            ops: add_key("/metadata/annotations"),
            expected: r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"hello","annotations":{"a":"b","run.googleapis.com/encryption-key":"projects/p/locations/europe-west1/keyRings/r/cryptoKeys/k"}}}"#,
        },
        Case {
            name: "JSON kind: List, second item",
            input: r#"{
  "apiVersion": "v1",
  "kind": "List",
  "items": [
    {
      "apiVersion": "serving.knative.dev/v1",
      "kind": "Service",
      "metadata": {"name": "one"}
    },
    {
      "apiVersion": "serving.knative.dev/v1",
      "kind": "Service",
      "metadata": {
        "name": "two"
      }
    }
  ]
}
"#,
            doc: 1,
            ops: add_map("/metadata/annotations", annotations()),
            expected: r#"{
  "apiVersion": "v1",
  "kind": "List",
  "items": [
    {
      "apiVersion": "serving.knative.dev/v1",
      "kind": "Service",
      "metadata": {"name": "one"}
    },
    {
      "apiVersion": "serving.knative.dev/v1",
      "kind": "Service",
      "metadata": {
        "name": "two",
        "annotations": {
          "run.googleapis.com/encryption-key": "projects/p/locations/europe-west1/keyRings/r/cryptoKeys/k"
        }
      }
    }
  ]
}
"#,
        },
        Case {
            name: "JSON array, second item",
            input: r#"[
	{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "one"}},
	{
		"apiVersion": "serving.knative.dev/v1",
		"kind": "Service",
		"metadata": {
			"name": "two"
		}
	}
]
"#,
            doc: 1,
            ops: add_map("/metadata/annotations", annotations()),
            expected: r#"[
	{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "one"}},
	{
		"apiVersion": "serving.knative.dev/v1",
		"kind": "Service",
		"metadata": {
			"name": "two",
			"annotations": {
				"run.googleapis.com/encryption-key": "projects/p/locations/europe-west1/keyRings/r/cryptoKeys/k"
			}
		}
	}
]
"#,
        },
        Case {
            name: "YAML kind: List, second item",
            input: r#"apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata:
    name: one
- apiVersion: serving.knative.dev/v1
  kind: Service
  metadata:
    name: two
"#,
            doc: 1,
            ops: add_map("/metadata/annotations", annotations()),
            expected: r#"apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata:
    name: one
- apiVersion: serving.knative.dev/v1
  kind: Service
  metadata:
    name: two
    annotations:
      run.googleapis.com/encryption-key: projects/p/locations/europe-west1/keyRings/r/cryptoKeys/k
"#,
        },
    ];
    for case in &cases {
        check(case);
    }
}

#[test]
fn edits_of_two_documents_apply_together() {
    let input = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: one\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: two\n";
    let docs = parse_documents(input, &ReadLimits::default()).unwrap();
    let ops = patch_of(&add_map("/metadata/annotations", annotations()));
    let mut edits = plan(input, &docs[0].root, &ops.0).unwrap();
    edits.extend(plan(input, &docs[1].root, &ops.0).unwrap());
    let output = apply(input, edits.clone()).unwrap();
    let added = format!("  annotations:\n    run.googleapis.com/encryption-key: {KEY}\n");
    let expected = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: one\n{added}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: two\n{added}"
    );
    assert_eq!(output, expected);
    let mut patched: Vec<Value> = docs.iter().map(|d| d.root.to_json()).collect();
    for doc in &mut patched {
        json_patch::patch(doc, &ops.0).unwrap();
    }
    assert_meaning("two documents", &output, &patched);
    assert_kept("two documents", input, &edits, &output);
}

#[test]
fn scalars_are_quoted_only_when_they_must_be() {
    let ops = serde_json::json!([
        {"op": "add", "path": "/metadata/labels/t", "value": "true"},
        {"op": "add", "path": "/metadata/labels/i", "value": "123"},
        {"op": "add", "path": "/metadata/labels/c", "value": "a: b"},
        {"op": "add", "path": "/metadata/labels/e", "value": ""},
        {"op": "add", "path": "/metadata/labels/no", "value": "no"},
        {"op": "add", "path": "/metadata/labels/x", "value": "0x1F"},
        {"op": "add", "path": "/metadata/labels/d", "value": "-x"},
        {"op": "add", "path": "/metadata/labels/h", "value": "a #b"},
        {"op": "add", "path": "/metadata/labels/s", "value": " lead"},
        {"op": "add", "path": "/metadata/labels/m", "value": "two\nlines\t\u{1}"},
        {"op": "add", "path": "/metadata/labels/q", "value": "it's fine, a:b"},
        {"op": "add", "path": "/metadata/labels/u", "value": "\u{e9}t\u{e9}"},
        {"op": "add", "path": "/metadata/labels/num", "value": 123},
        {"op": "add", "path": "/metadata/labels/f", "value": 1.5},
        {"op": "add", "path": "/metadata/labels/b", "value": false},
        {"op": "add", "path": "/metadata/labels/z", "value": null},
        {"op": "add", "path": "/metadata/labels/true", "value": "k"},
        {"op": "add", "path": "/metadata/labels/a: b", "value": []},
        {"op": "add", "path": "/metadata/flow/m", "value": "plain text"},
        {"op": "add", "path": "/metadata/flow/k", "value": "a,b"},
        {"op": "add", "path": "/metadata/flow/l", "value": "[x]"},
    ]);
    check(&Case {
        name: "quoting",
        input: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: q\n  labels:\n    app: q\n  flow: {}\n",
        doc: 0,
        ops,
        expected: r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: q
  labels:
    app: q
    t: "true"
    i: "123"
    c: "a: b"
    e: ""
    "no": "no"
    x: "0x1F"
    d: "-x"
    h: "a #b"
    s: " lead"
    m: "two\nlines\t\u0001"
    q: it's fine, a:b
    u: été
    num: 123
    f: 1.5
    b: false
    z: null
    "true": k
    "a: b": []
  flow: {m: plain text, k: "a,b", l: "[x]"}
"#,
    });
}

#[test]
fn replaced_scalars_keep_their_quoting_when_they_can() {
    let cases = [
        Case {
            name: "block scalars",
            input: r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: hello # the name
data:
  a: 'x'
  b: "y"
  c: plain
  d: |
    block
    text
  e: 1
  f: &anchor value
  g: 'two
    lines'
  h: multi
    line plain
"#,
            doc: 0,
            ops: serde_json::json!([
                {"op": "replace", "path": "/metadata/name", "value": "world"},
                {"op": "replace", "path": "/data/a", "value": "it's"},
                {"op": "replace", "path": "/data/b", "value": "new\nline"},
                {"op": "replace", "path": "/data/c", "value": "true"},
                {"op": "replace", "path": "/data/d", "value": "one"},
                {"op": "replace", "path": "/data/e", "value": 2},
                {"op": "replace", "path": "/data/f", "value": "other"},
                {"op": "replace", "path": "/data/g", "value": "one line"},
                {"op": "replace", "path": "/data/h", "value": "short"},
            ]),
            expected: r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: world # the name
data:
  a: 'it''s'
  b: "new\nline"
  c: "true"
  d: one
  e: 2
  f: other
  g: 'one line'
  h: short
"#,
        },
        Case {
            name: "flow and JSON scalars",
            input: r#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "hello"}, "data": {"n": 1, "s": "x"}}"#,
            doc: 0,
            ops: serde_json::json!([
                {"op": "replace", "path": "/metadata/name", "value": "world"},
                {"op": "replace", "path": "/data/n", "value": "1"},
                {"op": "replace", "path": "/data/s", "value": {"k": ["v"]}},
            ]),
            expected: r#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "world"}, "data": {"n": "1", "s": {"k": ["v"]}}}"#,
        },
        Case {
            name: "pretty JSON, one-line objects stay on one line",
            input: "{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"ConfigMap\",\n  \"metadata\": {\"name\": \"c\", \"labels\": null},\n  \"data\": null\n}\n",
            doc: 0,
            ops: serde_json::json!([
                {"op": "replace", "path": "/metadata/labels", "value": {"a": "b"}},
                {"op": "replace", "path": "/data", "value": {"k": ["v"]}},
            ]),
            expected: "{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"ConfigMap\",\n  \"metadata\": {\"name\": \"c\", \"labels\": {\"a\": \"b\"}},\n  \"data\": {\n    \"k\": [\n      \"v\"\n    ]\n  }\n}\n",
        },
        Case {
            name: "YAML flow scalars",
            input: "apiVersion: v1\nkind: ConfigMap\ndata: {a: b, c: 'd'}\n",
            doc: 0,
            ops: serde_json::json!([
                {"op": "replace", "path": "/data/a", "value": "x, y"},
                {"op": "replace", "path": "/data/c", "value": "e"},
            ]),
            expected: "apiVersion: v1\nkind: ConfigMap\ndata: {a: \"x, y\", c: 'e'}\n",
        },
    ];
    for case in &cases {
        check(case);
    }
}

#[test]
fn lists_take_new_items() {
    let cases = [
        Case {
            // `y` is a bool to YAML 1.1 readers: quoted.
            name: "block list, indented dashes",
            input: r#"apiVersion: v1
kind: Pod
spec:
  containers:
    - name: a
      args:
        - one
    - name: b # last
  volumes: []
"#,
            doc: 0,
            ops: serde_json::json!([
                {"op": "add", "path": "/spec/containers/-", "value": {"name": "c", "args": ["x", "y"]}},
                {"op": "add", "path": "/spec/containers/0", "value": {"name": "first"}},
                {"op": "add", "path": "/spec/containers/1/args/1", "value": "two"},
                {"op": "add", "path": "/spec/volumes/0", "value": {"name": "v"}},
            ]),
            expected: r#"apiVersion: v1
kind: Pod
spec:
  containers:
    - name: first
    - name: a
      args:
        - one
        - two
    - name: b # last
    - name: c
      args:
        - x
        - "y"
  volumes: [{name: v}]
"#,
        },
        Case {
            name: "flow and JSON lists",
            input: r#"{
  "apiVersion": "v1",
  "kind": "Pod",
  "spec": {
    "args": ["a", "c"],
    "ports": [
      {"containerPort": 80}
    ]
  }
}
"#,
            doc: 0,
            ops: serde_json::json!([
                {"op": "add", "path": "/spec/args/1", "value": "b"},
                {"op": "add", "path": "/spec/args/-", "value": "d"},
                {"op": "add", "path": "/spec/ports/1", "value": {"containerPort": 443}},
                {"op": "add", "path": "/spec/ports/0", "value": {"containerPort": 22}},
            ]),
            expected: r#"{
  "apiVersion": "v1",
  "kind": "Pod",
  "spec": {
    "args": ["a", "b", "c", "d"],
    "ports": [
      {
        "containerPort": 22
      },
      {"containerPort": 80},
      {
        "containerPort": 443
      }
    ]
  }
}
"#,
        },
    ];
    for case in &cases {
        check(case);
    }
}

#[test]
fn removed_entries_take_their_lines() {
    let cases = [
        Case {
            name: "block entries and items",
            input: r#"apiVersion: v1
kind: Pod
metadata:
  name: p
  labels:
    a: b # gone
    c:
      d: e
    f: g
  annotations:
    only: one
spec:
  args:
  - x
  - z
"#,
            doc: 0,
            ops: serde_json::json!([
                {"op": "remove", "path": "/metadata/labels/a"},
                {"op": "remove", "path": "/metadata/labels/c"},
                {"op": "remove", "path": "/metadata/annotations/only"},
                {"op": "remove", "path": "/spec/args/1"},
            ]),
            expected: r#"apiVersion: v1
kind: Pod
metadata:
  name: p
  labels:
    f: g
  annotations: {}
spec:
  args:
  - x
"#,
        },
        Case {
            name: "last entry of a file without a final newline",
            input: "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels:\n    a: b\n    c: d",
            doc: 0,
            ops: serde_json::json!([{"op": "remove", "path": "/metadata/labels/c"}]),
            expected: "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels:\n    a: b",
        },
        Case {
            name: "flow and JSON members",
            input: r#"{
  "apiVersion": "v1",
  "kind": "Pod",
  "metadata": {
    "name": "p",
    "labels": {"a": "b", "c": "d", "e": "f"},
    "annotations": {"only": "one"},
    "finalizers": ["x", "y"]
  }
}
"#,
            doc: 0,
            ops: serde_json::json!([
                {"op": "remove", "path": "/metadata/labels/c"},
                {"op": "remove", "path": "/metadata/labels/e"},
                {"op": "remove", "path": "/metadata/annotations/only"},
                {"op": "remove", "path": "/metadata/finalizers/0"},
                {"op": "remove", "path": "/metadata/finalizers"},
            ]),
            expected: r#"{
  "apiVersion": "v1",
  "kind": "Pod",
  "metadata": {
    "name": "p",
    "labels": {"a": "b"},
    "annotations": {}
  }
}
"#,
        },
    ];
    for case in &cases {
        check(case);
    }
}

#[test]
fn ops_apply_in_order_and_see_earlier_ones() {
    check(&Case {
        name: "an empty map, then a key in it, then another",
        input: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n",
        doc: 0,
        ops: serde_json::json!([
            {"op": "add", "path": "/metadata/annotations", "value": {}},
            {"op": "add", "path": "/metadata/annotations/a", "value": "1"},
            {"op": "add", "path": "/metadata/annotations/b", "value": "two"},
            {"op": "replace", "path": "/metadata/name", "value": "d"},
        ]),
        expected: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: d\n  annotations: {a: \"1\", b: two}\n",
    });
}

#[test]
fn what_cannot_be_written_is_an_error_that_says_where() {
    let input = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: c
  annotations:
  labels:
    a: b
data:
  list: [1, 2]
base: &base
  x: 1
alias: *base
"#;
    let cases = [
        (
            serde_json::json!([{"op": "add", "path": "/spec/template/x", "value": 1}]),
            r#"cannot write "add /spec/template/x" into the file: the map has no key "spec" (line 1)"#,
        ),
        (
            serde_json::json!([{"op": "add", "path": "/metadata/labels/a", "value": "c"}]),
            r#"cannot write "add /metadata/labels/a" into the file: the key "a" already exists (line 7)"#,
        ),
        (
            serde_json::json!([{"op": "add", "path": "/metadata/annotations/k", "value": "v"}]),
            r#"cannot write "add /metadata/annotations/k" into the file: the value is a null, not a map or a list (line 5)"#,
        ),
        (
            serde_json::json!([{"op": "replace", "path": "/metadata", "value": {}}]),
            r#"cannot write "replace /metadata" into the file: replacing a map is not supported (line 4)"#,
        ),
        (
            serde_json::json!([{"op": "move", "from": "/metadata/name", "path": "/kind"}]),
            r#"cannot write "move /kind" into the file: the move operation is not supported (line 1)"#,
        ),
        (
            serde_json::json!([{"op": "test", "path": "/kind", "value": "ConfigMap"}]),
            r#"cannot write "test /kind" into the file: the test operation is not supported (line 1)"#,
        ),
        (
            serde_json::json!([{"op": "add", "path": "/data/list/5", "value": 3}]),
            r#"cannot write "add /data/list/5" into the file: the list has no index 5 (2 items) (line 9)"#,
        ),
        (
            serde_json::json!([{"op": "add", "path": "/alias/y", "value": 2}]),
            r#"cannot write "add /alias/y" into the file: a value written as an alias (*name) is not supported (line 12)"#,
        ),
        (
            serde_json::json!([{"op": "remove", "path": ""}]),
            r#"cannot write "remove " into the file: removing the whole document is not supported (line 1)"#,
        ),
    ];
    let docs = parse_documents(input, &ReadLimits::default()).unwrap();
    for (ops, expected) in cases {
        let err = plan(input, &docs[0].root, &patch_of(&ops).0).unwrap_err();
        assert_eq!(err.to_string(), expected);
    }
}

/// Texts with every layout the editor meets, for the sweep below.
const SWEEP: &[&str] = &[
    r#"# head
a: &x 1   # anchored
b:
  - c: |
      block
      text

    d: >-
      folded
  -   e: 'q''s'
      f: "dq \" x"
  - [1, {g: h}]
  -
  - - nested
    - seq
i: {j: [k, l], m: {}}   # flow
nn:
o: ~
o2: &anchored   # only an anchor
p: plain
  continued
"q r": {"s": 1,}
t: [
  1,
  2, # c
]
u: |+
  keep

v: end
w:
- x
- yy: z
  y2: |
    text
# tail
"#,
    r#"{
  "a": [1, {"b": [], "c": {}}],
  "d": {
    "e": "f",
    "g": null
  },
  "h": "\u00e9\"x"
}"#,
    r#"[{"a": 1, "b": {"c": [1,2]}}, {"d": {}}]"#,
    "k:\n    l:\n        - m: 1\n          nn: [o]\n    p: q\n---\nr: s\n",
];

fn sweep_ops(path: &str, node: &Node) -> Vec<Value> {
    let new = |value: Value| serde_json::json!({"op": "add", "path": format!("{path}/new"), "value": value});
    let mut ops = Vec::new();
    match &node.value {
        NodeValue::Map(_) => {
            for value in [
                serde_json::json!("v"),
                serde_json::json!({"k": {"l": "true"}}),
                serde_json::json!([1, {"k": ["v"]}]),
                serde_json::json!({}),
            ] {
                ops.push(new(value));
            }
        }
        NodeValue::Seq(_) => {
            for index in ["-", "0", "1"] {
                for value in [
                    serde_json::json!("v"),
                    serde_json::json!({"k": "v", "l": [1]}),
                ] {
                    ops.push(serde_json::json!({"op": "add", "path": format!("{path}/{index}"), "value": value}));
                }
            }
        }
        NodeValue::Scalar(_) => {
            for value in [
                serde_json::json!("new: v"),
                serde_json::json!(7),
                serde_json::json!({"k": {"l": "v"}}),
                serde_json::json!([]),
                serde_json::json!(["a", {"b": "c"}]),
            ] {
                ops.push(serde_json::json!({"op": "replace", "path": path, "value": value}));
            }
        }
    }
    if !path.is_empty() {
        ops.push(serde_json::json!({"op": "remove", "path": path}));
    }
    ops
}

fn paths(path: String, node: &Node, out: &mut Vec<(String, Node)>) {
    out.push((path.clone(), node.clone()));
    match &node.value {
        NodeValue::Map(entries) => {
            for e in entries {
                let key = e.key.replace('~', "~0").replace('/', "~1");
                paths(format!("{path}/{key}"), &e.value, out);
            }
        }
        NodeValue::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                paths(format!("{path}/{i}"), item, out);
            }
        }
        NodeValue::Scalar(_) => {}
    }
}

/// Every op at every node of texts in every layout, with CRLF, without a final newline and
/// with a BOM: never a panic, and whatever is planned means what the patch means.
#[test]
fn sweep_plans_only_what_the_patch_means() {
    let mut texts: Vec<String> = Vec::new();
    for text in SWEEP {
        texts.push(text.to_string());
        texts.push(text.replace('\n', "\r\n"));
        // A CR-only text with several documents is refused (kubectl splits at LF only).
        if !text.contains("\n---") {
            texts.push(text.replace('\n', "\r"));
        }
        texts.push(text.trim_end().to_string());
        texts.push(format!("\u{feff}{text}"));
    }
    let (mut planned, mut refused) = (0, Vec::new());
    for text in &texts {
        let roots = objects(text.trim_start_matches('\u{feff}')).unwrap();
        for root in &roots {
            let mut all = Vec::new();
            paths(String::new(), root, &mut all);
            for (path, node) in &all {
                for op in sweep_ops(path, node) {
                    let patch = patch_of(&Value::Array(vec![op.clone()]));
                    match plan(text, root, &patch.0) {
                        Ok(edits) => {
                            planned += 1;
                            let output = apply(text, edits.clone()).unwrap();
                            let reread = objects(output.trim_start_matches('\u{feff}')).unwrap();
                            let mut expected = root.to_json();
                            json_patch::patch(&mut expected, &patch.0).unwrap();
                            assert!(
                                reread.iter().any(|r| r.to_json() == expected),
                                "{op} in {text:?}"
                            );
                            assert_kept("sweep", text, &edits, &output);
                        }
                        Err(e) => refused.push(format!("{e}")),
                    }
                }
            }
        }
    }
    refused.sort();
    refused.dedup();
    for r in &refused {
        println!("{r}");
    }
    println!("planned {planned}, refused {}", refused.len());
    let bugs: Vec<_> = refused
        .iter()
        .filter(|r| r.contains("would") || r.contains("report"))
        .collect();
    assert!(bugs.is_empty(), "{bugs:#?}");
}

/// Random small mutations of the sweep texts: whatever still parses is planned without a
/// panic, and a planned edit always fits the text. Slow: `cargo test --release -- --ignored`.
#[test]
#[ignore]
fn mutated_texts_never_panic() {
    let mut random = crate::test_random::xorshift(0x9e37_79b9_7f4a_7c15);
    let pieces = [
        " ", "\n", "- ", ": ", "#", "'", "\"", "{", "}", "[", "]", ",", "|", "\t", "\r", "\u{e9}",
        "&a ", "*a", "? ", "a", "  ",
    ];
    for round in 0..20_000 {
        let mut text: Vec<char> = SWEEP[round % SWEEP.len()].chars().collect();
        for _ in 0..1 + random(3) {
            let at = random(text.len() + 1);
            if random(3) == 0 && at < text.len() {
                text.remove(at);
            } else {
                let piece = pieces[random(pieces.len())];
                for (i, c) in piece.chars().enumerate() {
                    text.insert(at + i, c);
                }
            }
        }
        let text: String = text.into_iter().collect();
        let Ok(roots) = objects(&text) else {
            continue;
        };
        for root in roots.iter().take(2) {
            let mut all = Vec::new();
            paths(String::new(), root, &mut all);
            for (path, node) in all.iter().take(12) {
                for op in sweep_ops(path, node) {
                    let patch = patch_of(&Value::Array(vec![op.clone()]));
                    let planned = std::panic::catch_unwind(|| plan(&text, root, &patch.0));
                    match planned {
                        Err(_) => panic!("{op} in {text:?}: panicked"),
                        Ok(Ok(edits)) => assert!(apply(&text, edits).is_ok(), "{op} in {text:?}"),
                        Ok(Err(e)) => {
                            assert!(!e.to_string().contains("fit"), "{op} in {text:?}: {e}")
                        }
                    }
                }
            }
        }
    }
}

/// Ops as mutation makes them, `json_patch::diff(original, mutated)`, with the CMEK annotation
/// set on the revision template whatever is there already.
#[test]
fn diffs_of_a_mutation_write_the_annotation() {
    let inputs = [
        "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  template:\n    spec:\n      containers:\n      - image: x\n",
        "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  template:\n    metadata:\n      labels: {a: b}\n    spec: {}\n",
        "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  template:\n    metadata:\n      annotations: # none\n    spec: {}\n",
        "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  template:\n    metadata:\n      annotations:\n        run.googleapis.com/encryption-key: old\n",
        "{\"apiVersion\": \"serving.knative.dev/v1\", \"kind\": \"Service\", \"metadata\": {\"name\": \"s\"}, \"spec\": {}}",
    ];
    for input in inputs {
        let docs = parse_documents(input, &ReadLimits::default()).unwrap();
        let original = docs[0].root.to_json();
        let mut mutated = original.clone();
        let template = mutated["spec"]
            .as_object_mut()
            .unwrap()
            .entry("template")
            .or_insert_with(|| serde_json::json!({}));
        let metadata = template
            .as_object_mut()
            .unwrap()
            .entry("metadata")
            .or_insert_with(|| serde_json::json!({}));
        let annotations = metadata
            .as_object_mut()
            .unwrap()
            .entry("annotations")
            .or_insert(Value::Null);
        if annotations.is_null() {
            *annotations = serde_json::json!({});
        }
        annotations["run.googleapis.com/encryption-key"] = Value::from(KEY);
        let patch = json_patch::diff(&original, &mutated);
        let edits = plan(input, &docs[0].root, &patch.0).unwrap_or_else(|e| panic!("{e}"));
        let output = apply(input, edits.clone()).unwrap();
        assert_meaning(input, &output, &[mutated]);
        assert_kept(input, input, &edits, &output);
        assert!(output.contains(KEY), "{output}");
    }
}

#[test]
fn segments_cut_at_document_markers_as_the_parser_counts_lines() {
    // (text, [(start, line_offset)]): each segment ends where the next starts.
    let cases: [(&str, &[(usize, u32)]); 7] = [
        ("a: 1\n", &[(0, 0)]),
        ("---\na: 1\n", &[(0, 0)]),
        ("a: 1\n---\nb: 2\n", &[(0, 0), (5, 1)]),
        ("a: 1\r\n--- \r\nb: 2\r\n", &[(0, 0), (6, 1)]),
        // A lone CR is a line break, as the parser counts it.
        ("a: 1\r---\rb: 2\r", &[(0, 0), (5, 1)]),
        // A directive belongs to the marker after it; `----` and ` ---` are no markers.
        (
            "a: 1\n...\n%YAML 1.2\n---\nb: 2\n----: x\n ---\n",
            &[(0, 0)],
        ),
        ("a: 1\n---\n---\n", &[(0, 0), (5, 1), (9, 2)]),
    ];
    for (text, expected) in cases {
        let got: Vec<(usize, u32)> = segments(text)
            .iter()
            .map(|s| (s.start, s.line_offset))
            .collect();
        assert_eq!(got, expected, "{text:?}");
        let found = segments(text);
        assert_eq!(found.last().map(|s| s.end), Some(text.len()), "{text:?}");
        assert!(found.windows(2).all(|w| w[0].end == w[1].start), "{text:?}");
    }
}

/// The cutter for texts without CRs (a substring search for markers) cuts where the line-by-line
/// cutter does, on texts built from pieces that make and unmake markers and directives.
#[test]
fn segments_of_lines_cut_where_the_line_by_line_cutter_does() {
    let pieces = [
        "---",
        "--- ",
        "---\t",
        "----",
        " ---",
        "--",
        "-",
        "%YAML 1.2",
        "%",
        "...",
        "a: 1",
        "# c",
        "- x",
        "",
        "\u{e9}",
        "---a",
        "--- # c",
    ];
    let mut random = crate::test_random::xorshift(0x2545_f491_4f6c_dd1d);
    let mut cuts = 0;
    for round in 0..20_000 {
        let lines = 1 + random(12);
        let mut text: String = (0..lines)
            .map(|_| pieces[random(pieces.len())])
            .collect::<Vec<_>>()
            .join("\n");
        if round % 2 == 0 {
            text.push('\n');
        }
        let fast = segments_of_lines(&text);
        assert_eq!(fast, segments_of_any_breaks(&text), "{text:?}");
        assert_eq!(fast, segments(&text), "{text:?}");
        cuts += fast.len() - 1;
        let breaks = count_line_feeds(text.as_bytes());
        assert_eq!(breaks, text.matches('\n').count(), "{text:?}");
    }
    // The pieces make markers often enough for the comparison to mean something.
    assert!(cuts > 10_000, "{cuts} cuts");
}

/// Comparing objects without their root `items` lists is comparing their JSON with `items`
/// removed where it is a list, on either side.
#[test]
fn reads_as_without_items_leaves_out_root_item_lists_only() {
    let texts = [
        "{kind: List, items: [1]}",
        "{kind: List, items: [2]}",
        "{kind: List}",
        "{kind: List, items: 1}",
        "{kind: List, items: 2}",
        "{kind: List, items: {a: 1}}",
        "{kind: List, items: []}",
        "{kind: Other, items: [1]}",
        "[{items: [1]}]",
        "[{items: [2]}]",
        "{a: 1}",
    ];
    let without_items = |mut json: Value| {
        if let Some(map) = json.as_object_mut() {
            if map.get("items").is_some_and(Value::is_array) {
                map.remove("items");
            }
        }
        json
    };
    let nodes: Vec<Node> = texts
        .iter()
        .map(|t| objects(t).unwrap().swap_remove(0))
        .collect();
    for (a, text_a) in nodes.iter().zip(texts) {
        for (b, text_b) in nodes.iter().zip(texts) {
            let json = b.to_json();
            let expected = without_items(a.to_json()) == without_items(json.clone());
            assert_eq!(
                reads_as_without_items(a, &json),
                expected,
                "{text_a} against {text_b}"
            );
        }
    }
}

#[test]
fn plan_all_edits_many_documents_of_a_stream_at_once() {
    // Ten documents, every other one patched, with CRLF and a BOM: the edits of every document
    // are planned in one call and mean what the patches mean.
    let mut input = String::from("\u{feff}# head\r\n");
    for k in 0..10 {
        input.push_str(&format!(
            "---\r\napiVersion: v1\r\nkind: ConfigMap\r\nmetadata:\r\n  name: c{k}\r\n"
        ));
    }
    let docs = parse_documents(&input, &ReadLimits::default()).unwrap();
    let patch = patch_of(&add_map("/metadata/annotations", annotations()));
    let patched: Vec<(Target, &[PatchOperation])> = docs
        .iter()
        .step_by(2)
        .map(|d| (Target::of(&d.root), patch.0.as_slice()))
        .collect();
    let edits = plan_all(&input, &patched, 1).unwrap();
    // Planned on two threads: the same edits, in the same order.
    assert_eq!(plan_all(&input, &patched, 2).unwrap(), edits);
    let output = apply(&input, edits.clone()).unwrap();
    let mut expected: Vec<Value> = docs.iter().map(|d| d.root.to_json()).collect();
    for json in expected.iter_mut().step_by(2) {
        json_patch::patch(json, &patch.0).unwrap();
    }
    assert_meaning("stream", &output, &expected);
    assert_kept("stream", &input, &edits, &output);
    assert_eq!(output.matches(KEY).count(), 5);
    // A document that is not in the text is named by its patch's index.
    let other = parse_documents(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
        &ReadLimits::default(),
    )
    .unwrap();
    for threads in [1, 2] {
        let failure = plan_all(
            &input,
            &[
                (Target::of(&docs[0].root), &patch.0),
                (Target::of(&other[0].root), &patch.0),
            ],
            threads,
        )
        .unwrap_err();
        assert_eq!(failure.patch, 1, "{threads} threads");
        assert_eq!(
            failure.error,
            FixError::NotInText { line: 1 },
            "{threads} threads"
        );
        // Where a document starts, but what it reads as is not what the patch was made for.
        let elsewhere = Target {
            mark: docs[2].root.mark,
            ..Target::of(&docs[1].root)
        };
        let failure = plan_all(&input, &[(elsewhere, patch.0.as_slice())], threads).unwrap_err();
        let line = docs[2].root.mark.line;
        assert_eq!(failure.error, FixError::NotInText { line }, "{threads}");
    }
}

/// Objects that read alike have one fingerprint, whatever their positions, styles and comments;
/// any difference in a key, a value, its kind or the order gives another.
#[test]
fn fingerprints_are_what_an_object_reads_as() {
    let fingerprint = |text: &str| Target::of(&objects(text).unwrap()[0]).fingerprint;
    let base = fingerprint("a: 1\nb: [p, 'q']\nc: {d: null}\n");
    let alike = [
        "a: 1\nb: [p, 'q']\nc: {d: null}\n",
        "# c\na: 1 # c\nb:\n- \"p\"\n- q\nc:\n  d: ~\n",
        "{a: 1, b: [p, q], c: {d: }}\n",
    ];
    for text in alike {
        assert_eq!(fingerprint(text), base, "{text:?}");
    }
    let different = [
        "a: '1'\nb: [p, q]\nc: {d: null}\n",
        "a: 2\nb: [p, q]\nc: {d: null}\n",
        "a: true\nb: [p, q]\nc: {d: null}\n",
        "a: 1\nb: [q, p]\nc: {d: null}\n",
        "b: [p, q]\na: 1\nc: {d: null}\n",
        "a: 1\nb: [p, q]\nc: {d: ''}\n",
        "a: 1\nb: [p, q]\nc: {e: null}\n",
        "a: 1\nb: [p, q, r]\nc: {d: null}\n",
        "a: 1\nb: [[p, q]]\nc: {d: null}\n",
    ];
    for text in different {
        assert_ne!(fingerprint(text), base, "{text:?}");
    }
}
