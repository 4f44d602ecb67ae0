//! The real consumers' parsers, for the parser differential: kubectl's (k8s.io/cli-runtime's
//! resource builder, built from `integration/kube` as `kubectl-yaml`) and gcloud's (its own FILE
//! argument type under its bundled Python, `integration/gcloud_yaml.py`), and the gate's own
//! reading of the same bytes. Each consumer reads a whole batch of inputs in one process.

use crate::support::repo;
use cmek_gate::batch::{check_inputs, CheckOptions, Input};
use cmek_gate::manifest::{self, Part, ReadLimits};
use cmek_gate::policy::PolicySet;
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// What a consumer read from one input: the objects it would send (kubectl sends the objects
/// read before an error), and the error that stopped it, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumerRead {
    pub objects: Vec<Value>,
    pub error: Option<String>,
}

/// A consumer: a program speaking the batch protocol (JSON lines `{"id", "text_b64"}` in, JSON
/// lines `{"id", "objects", "error"}` out).
pub struct Consumer {
    pub name: &'static str,
    program: PathBuf,
    args: Vec<String>,
    dir: PathBuf,
}

fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

/// Where a missing tool leads: a failure in CI, else a skip with the reason (`None`).
fn missing(what: &str) -> Option<Consumers> {
    assert!(
        !in_ci(),
        "{what} (CI is set: the parser differential cannot be skipped)"
    );
    eprintln!("skipping the parser differential: {what}");
    None
}

/// Both consumers, built once per test run.
pub struct Consumers {
    pub kubectl: Consumer,
    pub gcloud: Consumer,
}

/// gcloud's bundled Python.
pub const GCLOUD_PYTHON: &str = "/usr/lib/google-cloud-sdk/platform/bundledpythonunix/bin/python3";

/// Builds kubectl-yaml (`go build`, honouring the Go module and build caches) and finds gcloud's
/// Python. `None` (skip) only outside CI.
pub fn consumers() -> Option<&'static Consumers> {
    static CONSUMERS: OnceLock<Option<Consumers>> = OnceLock::new();
    CONSUMERS.get_or_init(build_consumers).as_ref()
}

fn build_consumers() -> Option<Consumers> {
    let kube = repo().join("integration/kube");
    let binary = repo().join("target/kube-bin/kubectl-yaml");
    let built = Command::new("go")
        .args(["build", "-o"])
        .arg(&binary)
        .arg("./cmd/kubectl-yaml")
        .current_dir(&kube)
        .output();
    match built {
        Err(e) => {
            return missing(&format!(
                "`go` could not be run ({e}): install Go 1.26 to build integration/kube (kubectl's parser)"
            ))
        }
        Ok(out) if !out.status.success() => panic!(
            "go build of integration/kube/cmd/kubectl-yaml failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Ok(_) => {}
    }
    let python = std::env::var("CMEK_GATE_GCLOUD_PYTHON").unwrap_or_else(|_| GCLOUD_PYTHON.into());
    if !Path::new(&python).exists() {
        return missing(&format!(
            "gcloud's bundled Python is not at {python} (install google-cloud-cli, or set CMEK_GATE_GCLOUD_PYTHON)"
        ));
    }
    Some(Consumers {
        kubectl: Consumer {
            name: "kubectl",
            program: binary,
            args: vec![],
            dir: kube,
        },
        gcloud: Consumer {
            name: "gcloud",
            program: python.into(),
            args: vec![repo()
                .join("integration/gcloud_yaml.py")
                .display()
                .to_string()],
            dir: repo(),
        },
    })
}

impl Consumer {
    /// Reads every input in one process; the answers are in the inputs' order.
    pub fn read_all(&self, inputs: &[Vec<u8>]) -> Vec<ConsumerRead> {
        use base64::Engine;
        let mut child = Command::new(&self.program)
            .args(&self.args)
            .current_dir(&self.dir)
            .env("PYTHONWARNINGS", "ignore")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{} reader {:?} starts: {e}", self.name, self.program));
        let mut stdin = child.stdin.take().unwrap();
        let lines: Vec<String> = inputs
            .iter()
            .enumerate()
            .map(|(id, text)| {
                let b64 = base64::engine::general_purpose::STANDARD.encode(text);
                format!("{{\"id\":{id},\"text_b64\":\"{b64}\"}}\n")
            })
            .collect();
        let writer = std::thread::spawn(move || {
            for line in lines {
                if stdin.write_all(line.as_bytes()).is_err() {
                    break;
                }
            }
        });
        let stdout = child.stdout.take().unwrap();
        let mut reads = Vec::with_capacity(inputs.len());
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("a consumer's output is UTF-8");
            let answer: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("{}: bad answer line {line:?}: {e}", self.name));
            assert_eq!(
                answer["id"],
                reads.len(),
                "{}: answers out of order",
                self.name
            );
            reads.push(ConsumerRead {
                objects: answer["objects"].as_array().cloned().unwrap_or_default(),
                error: answer["error"].as_str().map(str::to_owned),
            });
        }
        writer.join().unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success() && reads.len() == inputs.len(),
            "{} reader failed after {} of {} inputs: {}\n{}",
            self.name,
            reads.len(),
            inputs.len(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        reads
    }
}

/// The gate's verdict on one input through `check_inputs`, as `cmek-gate check` gives it.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Exit 2: the input could not be read.
    Refused(String),
    /// Exit 1, with the denying policies.
    Denied(Vec<String>),
    /// Exit 0.
    Allowed,
}

/// The embedded policy library, compiled once.
pub fn policies() -> &'static PolicySet {
    static SET: OnceLock<PolicySet> = OnceLock::new();
    SET.get_or_init(|| {
        PolicySet::compile(&cmek_gate::policy::embedded::sources(), &[])
            .expect("the embedded policies compile")
    })
}

pub fn verdict(text: &[u8]) -> Verdict {
    let input = Input {
        name: "input.yaml".into(),
        text: text.to_vec(),
    };
    let report = check_inputs(policies(), &[input], &CheckOptions::default());
    if let Some(error) = report.errors.first() {
        return Verdict::Refused(error.message.clone());
    }
    let mut denying: Vec<String> = report
        .results
        .iter()
        .filter(|r| !r.allowed)
        .flat_map(|r| r.violations.iter().map(|v| v.policy.clone()))
        .collect();
    denying.dedup();
    if denying.is_empty() && report.results.iter().all(|r| r.allowed) {
        Verdict::Allowed
    } else {
        Verdict::Denied(denying)
    }
}

/// The gate's reading of one input as JSON values: `decode` and `parse_documents`, the path
/// `check` takes for a text under the split size.
pub fn gate_read(text: &[u8]) -> Result<Vec<Value>, String> {
    let limits = ReadLimits::default();
    let text = manifest::decode(text, &limits).map_err(|e| e.to_string())?;
    let documents = manifest::parse_documents(text, &limits).map_err(|e| e.to_string())?;
    Ok(documents.iter().map(|d| d.root.to_json()).collect())
}

/// The gate's reading of one input split into `parts` at document boundaries and parsed part
/// by part (`split_stream` and `parse_part`), the path `check` takes for a large text on
/// several threads, joined as `check` joins it.
pub fn gate_read_split(text: &[u8], parts: usize) -> Result<Vec<Value>, String> {
    let limits = ReadLimits::default();
    let text = manifest::decode(text, &limits).map_err(|e| e.to_string())?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let (mut values, mut yaml_before, mut objects_before) = (Vec::new(), 0, 0);
    for (line_offset, piece) in manifest::split_stream(text, parts) {
        let part = Part {
            line_offset,
            ..Part::default()
        };
        let parsed = manifest::parse_part(piece, &limits, part)
            .map_err(|e| e.shifted(yaml_before, objects_before).to_string())?;
        yaml_before += parsed.yaml_documents;
        objects_before += parsed.documents.len();
        values.extend(parsed.documents.iter().map(|d| d.root.to_json()));
    }
    if values.is_empty() {
        return Err(manifest::ManifestError::NoDocuments.to_string());
    }
    Ok(values)
}

/// What a consumer's object means to a Kubernetes object reader: gcloud's tagged values (see
/// gcloud_yaml.py) as the strings a JSON encoder would make of them, keys that are not strings
/// as Python's `str` of them. Used to judge the consumer's object with the gate's own engine.
pub fn plain(value: &Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.iter().map(plain).collect()),
        Value::Object(map) => match map.get("$type").and_then(Value::as_str) {
            Some("map") => Value::Object(
                map["entries"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|pair| (python_str(&pair[0]), plain(&pair[1])))
                    .collect(),
            ),
            Some("pairs") => Value::Object(
                map["items"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|pair| (python_str(&pair[0]), plain(&pair[1])))
                    .collect(),
            ),
            Some("set") | Some("tuple") => plain(&map["items"]),
            Some("binary") => match base64_text(&map["base64"]) {
                Some(text) => Value::String(text),
                None => map["base64"].clone(),
            },
            Some(_) => map
                .get("value")
                .or_else(|| map.get("repr"))
                .cloned()
                .unwrap_or(Value::Null),
            None => Value::Object(map.iter().map(|(k, v)| (k.clone(), plain(v))).collect()),
        },
        other => other.clone(),
    }
}

fn base64_text(value: &Value) -> Option<String> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value.as_str()?)
        .ok()?;
    String::from_utf8(bytes).ok()
}

fn python_str(key: &Value) -> String {
    match plain(key) {
        Value::String(s) => s,
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Null => "None".into(),
        other => other.to_string(),
    }
}

/// The gate's engine on a consumer's object: the policies that deny it, if any. The object goes
/// to the engine as a value (not as text through the gate's parser, which may refuse what a
/// consumer's JSON holds, a BOM in a string, say).
pub fn consumer_denied_by(object: &Value) -> Vec<String> {
    use cmek_gate::engine::{admit, Phases, Request};
    let node = cmek_gate::manifest::Node::from_json(&plain(object));
    let Ok(document) = manifest::document_from_node(0, node) else {
        // No apiVersion or kind: no API server takes it.
        return Vec::new();
    };
    let mut denying: Vec<String> = admit(policies(), &Request::create(&document), Phases::VALIDATE)
        .violations
        .into_iter()
        .map(|v| v.policy)
        .collect();
    denying.dedup();
    denying
}

/// The same JSON value, numbers compared by value (1 and 1.0 are the same), objects by their
/// keys in any order.
pub fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}
