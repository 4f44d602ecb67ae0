//! The CEL differential: Kubernetes' own CEL environment (`integration/kube/cmd/cel-oracle`,
//! k8s.io/apiserver v0.37.2's admission compiler at compatibility version 1.37) and
//! `cmek-gate eval --batch` answer the same corpus (`integration/fixtures/cel-oracle`), and
//! every answer must agree: a compile error (of the same class) in both, or a runtime error in
//! both, or the same value of the same type. A difference is accepted only where
//! `deliberate.json` lists the case with a reason that `docs/cel-differential.md` explains, and
//! such a case must still differ (a stale entry fails).
//!
//! CI runs the fixed-seed subset (the cases marked `ci`); `CMEK_GATE_FULL_DIFFERENTIAL=1` runs
//! the whole corpus and prints the figures the README gives.

use crate::server_support::gate_binary;
use crate::support::{repo, temp_dir};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

/// Builds the oracle with Go (the module and build caches make a rebuild quick); `None` (skip)
/// only outside CI.
fn build_oracle() -> Option<PathBuf> {
    let binary = repo().join("target/kube-bin/cel-oracle");
    let built = Command::new("go")
        .args(["build", "-o"])
        .arg(&binary)
        .arg("./cmd/cel-oracle")
        .current_dir(repo().join("integration/kube"))
        .output();
    match built {
        Err(e) => {
            assert!(
                !in_ci(),
                "`go` could not be run ({e}): CI is set, and the CEL differential needs Go 1.26 \
                 to build integration/kube/cmd/cel-oracle"
            );
            eprintln!("skipping the CEL differential: `go` could not be run ({e})");
            None
        }
        Ok(out) if !out.status.success() => panic!(
            "go build of integration/kube/cmd/cel-oracle failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Ok(_) => Some(binary),
    }
}

/// Runs `program` with `cases` (JSON lines) on stdin or as a file, and reads its JSON lines.
fn answers(mut command: Command, input: &Path, stdin: bool) -> Vec<Value> {
    if stdin {
        command.stdin(std::fs::File::open(input).unwrap());
    } else {
        command.arg(input).stdin(Stdio::null());
    }
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{command:?}: {e}: {l}")))
        .collect()
}

/// What an answer says, for comparing: the kind, and the class of a compile error or the value
/// and type.
#[derive(Debug, Clone, PartialEq)]
enum Said {
    Compile(&'static str),
    Runtime,
    Value(String, String),
}

/// The class of a compile error, from either side's message: syntax, an unknown name, a type
/// error, or other (a literal refused, a constant conversion that fails when the program is
/// built).
fn compile_class(message: &str) -> &'static str {
    let m = message.to_lowercase();
    if m.contains("program instantiation failed") {
        "other"
    } else if m.contains("syntax error") || m.contains("mismatched input") {
        "syntax"
    } else if m.contains("undeclared reference")
        || m.contains("unknown function")
        || m.contains("unknown variable")
    {
        "undeclared"
    } else if m.contains("no matching overload") || m.contains("expected type") {
        "type"
    } else if m.contains("is not in kubernetes' cel")
        || m.contains("is not offered here")
        || m.contains("or newer; --kubernetes-version is")
    {
        // The gate's words for a name the target's environment does not declare (an extension
        // not asked for, a function of a later release, or one Kubernetes never had); where the
        // target has other overloads of the name, the gate says `found no matching overload`
        // first, a type error as cel-go's.
        "undeclared"
    } else {
        "other"
    }
}

fn said(answer: &Value) -> Said {
    let text = |k: &str| answer.get(k).and_then(Value::as_str);
    if let Some(message) = text("compileError") {
        Said::Compile(compile_class(message))
    } else if text("runtimeError").is_some() {
        Said::Runtime
    } else {
        Said::Value(
            text("value").unwrap_or_default().to_owned(),
            text("type").unwrap_or_default().to_owned(),
        )
    }
}

fn show(answer: &Value) -> String {
    let text = |k: &str| answer.get(k).and_then(Value::as_str).unwrap_or_default();
    match said(answer) {
        Said::Compile(class) => format!(
            "compile error ({class}): {}",
            text("compileError").lines().next().unwrap_or_default()
        ),
        Said::Runtime => format!("runtime error: {}", text("runtimeError")),
        Said::Value(v, t) => format!("{v} ({t})"),
    }
}

/// The deliberate differences: case id -> the reason's anchor in docs/cel-differential.md.
fn deliberate() -> BTreeMap<String, String> {
    let path = repo().join("integration/fixtures/cel-oracle/deliberate.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let entries: Vec<Value> = serde_json::from_str(&text).unwrap();
    let docs = std::fs::read_to_string(repo().join("docs/cel-differential.md")).unwrap();
    let mut ids = BTreeMap::new();
    for entry in entries {
        let reason = entry["reason"].as_str().unwrap().to_owned();
        assert!(
            docs.contains(&format!("<a id=\"{reason}\"></a>")),
            "{}: reason {reason:?} is not explained in docs/cel-differential.md",
            path.display()
        );
        for id in entry["ids"].as_array().unwrap() {
            ids.insert(id.as_str().unwrap().to_owned(), reason.clone());
        }
    }
    ids
}

#[test]
fn kubernetes_cel_and_the_gate_agree_on_the_corpus() {
    let Some(oracle) = build_oracle() else {
        return;
    };
    let full = std::env::var_os("CMEK_GATE_FULL_DIFFERENTIAL").is_some_and(|v| v == "1");
    let corpus = repo().join("integration/fixtures/cel-oracle/corpus.jsonl");
    let all_cases: Vec<Value> = std::fs::read_to_string(&corpus)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let cases: Vec<&Value> = all_cases
        .iter()
        .filter(|c| full || c.get("ci").is_some())
        .collect();
    let input = temp_dir("cel-oracle").join("cases.jsonl");
    let lines: Vec<String> = cases.iter().map(|c| c.to_string()).collect();
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();

    let kubernetes = answers(Command::new(&oracle), &input, true);
    let mut gate = Command::new(gate_binary());
    gate.args(["eval", "--batch"]);
    let gate = answers(gate, &input, false);
    assert_eq!(
        kubernetes.len(),
        cases.len(),
        "the oracle answered every case"
    );
    assert_eq!(gate.len(), cases.len(), "the gate answered every case");

    let deliberate = deliberate();
    let every_id: BTreeSet<&str> = all_cases.iter().filter_map(|c| c["id"].as_str()).collect();
    let unknown: Vec<&String> = deliberate
        .keys()
        .filter(|id| !every_id.contains(id.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "deliberate.json names cases the corpus does not have: {unknown:?}"
    );
    let mut unexpected = Vec::new();
    let mut stale = Vec::new();
    let mut accepted: BTreeMap<&str, usize> = BTreeMap::new();
    let mut per_group: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut groups_seen = BTreeSet::new();
    for ((case, k), g) in cases.iter().zip(&kubernetes).zip(&gate) {
        let id = case["id"].as_str().unwrap();
        assert_eq!(k["id"], case["id"]);
        assert_eq!(g["id"], case["id"]);
        let group = case["group"].as_str().unwrap();
        groups_seen.insert(group);
        let agree = said(k) == said(g);
        let tally = per_group.entry(group).or_default();
        tally.0 += 1;
        tally.1 += usize::from(agree);
        match (agree, deliberate.get(id)) {
            (true, None) => {}
            (true, Some(_)) => stale.push(id.to_owned()),
            (false, Some(reason)) => *accepted.entry(reason).or_default() += 1,
            (false, None) => unexpected.push(format!(
                "{id}: {}\n    kubernetes: {}\n    gate:       {}",
                case["expression"].as_str().unwrap(),
                show(k),
                show(g)
            )),
        }
    }
    let agreeing: usize = per_group.values().map(|t| t.1).sum();
    eprintln!(
        "CEL differential ({}): {agreeing} of {} cases agree ({:.2} %) in {} groups; {} differ \
         deliberately ({accepted:?}), {} differ otherwise",
        if full { "full corpus" } else { "CI subset" },
        cases.len(),
        100.0 * agreeing as f64 / cases.len() as f64,
        groups_seen.len(),
        accepted.values().sum::<usize>(),
        unexpected.len()
    );
    if full {
        for (group, (total, agree)) in &per_group {
            if agree < total {
                eprintln!("  {group}: {agree} of {total}");
            }
        }
    }
    assert!(
        stale.is_empty(),
        "deliberate.json lists cases that now agree (remove them): {stale:?}"
    );
    assert!(
        unexpected.is_empty(),
        "{} cases differ from Kubernetes:\n{}",
        unexpected.len(),
        unexpected.join("\n")
    );
}
