//! The parser differential (issue 13): generated manifests read by the gate and by the real
//! consumers' parsers (kubectl's and gcloud's, see `consumers`). For every input the gate must
//! either refuse it or see what the consumers see:
//! - a WRONG ALLOW (the gate allows; a consumer reads an object the gate's own engine denies,
//!   e.g. a sensitive service with no key) fails the test;
//! - a DISAGREEMENT (the gate reads the input; a consumer reads other objects) fails it too (the
//!   rule of issue 13: the gate sees the same object or refuses); `CMEK_GATE_FUZZ_STRICT=0` only
//!   records them;
//! - a SPLIT MISMATCH (the gate's split, parallel path reads other objects than the whole-text
//!   path) is a disagreement of the gate with itself.
//!
//! `CMEK_GATE_FUZZ_INPUTS` (default 6000) and `CMEK_GATE_FUZZ_SEED` set the run; findings are
//! written to `target/parser-differential/findings.md`. The committed corpus
//! (`integration/fixtures/parser-corpus/`) is replayed by `parser_corpus_is_refused_or_read_alike`.

use crate::consumers::{
    consumer_denied_by, consumers, gate_read, gate_read_split, same, ConsumerRead, Verdict,
};
use crate::parser_generator::{generate, Rng};
use crate::support::{fixtures, repo};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// How one input went.
#[derive(Debug, Default)]
pub struct Outcome {
    pub gate_refused: bool,
    pub consumers_refused: Vec<&'static str>,
    /// Consumers that read a denied object while the gate allowed, with the denying policies.
    pub wrong_allows: Vec<(&'static str, Vec<String>)>,
    /// Consumers that read other objects than the gate, which read the input.
    pub disagreements: Vec<&'static str>,
    /// The split path read other objects than the whole-text path.
    pub split_mismatch: bool,
}

impl Outcome {
    pub fn interesting(&self) -> bool {
        !self.wrong_allows.is_empty() || !self.disagreements.is_empty() || self.split_mismatch
    }
}

/// Compares the gate's reading and verdict with one consumer's reading.
fn judge_consumer(
    name: &'static str,
    gate: &Result<Vec<Value>, String>,
    verdict: &Verdict,
    read: &ConsumerRead,
    outcome: &mut Outcome,
) {
    if read.error.is_some() {
        outcome.consumers_refused.push(name);
    }
    if *verdict == Verdict::Allowed {
        let denied: Vec<String> = read.objects.iter().flat_map(consumer_denied_by).collect();
        if !denied.is_empty() {
            outcome.wrong_allows.push((name, denied));
        }
    }
    if let Ok(gate) = gate {
        // A consumer that met an error sends what it read apart from it (kubectl stops at a YAML
        // error, skips a document it cannot decode and goes on): each of those must be an object
        // the gate read alike, in the same order. A consumer that read everything must read
        // what the gate read.
        let agrees = if read.error.is_some() {
            let mut rest = gate.iter();
            read.objects
                .iter()
                .all(|object| rest.any(|g| same(object, g)))
        } else {
            read.objects.len() == gate.len()
                && read.objects.iter().zip(gate).all(|(a, b)| same(a, b))
        };
        // gcloud reads one document or refuses: a refusal of a multi-object file agrees.
        if !agrees {
            outcome.disagreements.push(name);
        }
    }
}

/// Reads every input with the gate and both consumers and judges each.
pub fn run(inputs: &[Vec<u8>]) -> Option<Vec<(Outcome, Reads)>> {
    let consumers = consumers()?;
    let (kubectl, gcloud) = std::thread::scope(|s| {
        let k = s.spawn(|| consumers.kubectl.read_all(inputs));
        let g = s.spawn(|| consumers.gcloud.read_all(inputs));
        (k.join().unwrap(), g.join().unwrap())
    });
    let mut results = Vec::with_capacity(inputs.len());
    for ((text, kubectl), gcloud) in inputs.iter().zip(kubectl).zip(gcloud) {
        let gate = gate_read(text);
        let verdict = crate::consumers::verdict(text);
        let mut outcome = Outcome {
            gate_refused: matches!(verdict, Verdict::Refused(_)),
            ..Outcome::default()
        };
        // The split path, forced (a small text is never split by `check`).
        let split = gate_read_split(text, 3);
        outcome.split_mismatch = match (&gate, &split) {
            (Ok(a), Ok(b)) => !(a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same(a, b))),
            (Err(_), Err(_)) => false,
            _ => true,
        };
        judge_consumer("kubectl", &gate, &verdict, &kubectl, &mut outcome);
        judge_consumer("gcloud", &gate, &verdict, &gcloud, &mut outcome);
        results.push((
            outcome,
            Reads {
                gate,
                split,
                verdict,
                kubectl,
                gcloud,
            },
        ));
    }
    Some(results)
}

/// The three readings of one input.
pub struct Reads {
    pub gate: Result<Vec<Value>, String>,
    pub split: Result<Vec<Value>, String>,
    pub verdict: Verdict,
    pub kubectl: ConsumerRead,
    pub gcloud: ConsumerRead,
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name} must be a number: {v:?}"))
        })
        .unwrap_or(default)
}

fn show(result: &Result<Vec<Value>, String>) -> String {
    match result {
        Ok(values) => serde_json::to_string(values).unwrap(),
        Err(e) => format!("error: {e}"),
    }
}

fn show_read(read: &ConsumerRead) -> String {
    let mut out = serde_json::to_string(&read.objects).unwrap();
    if let Some(e) = &read.error {
        let e: String = e.chars().take(300).collect();
        write!(out, " + error: {e}").unwrap();
    }
    out
}

/// A finding as Markdown: the input (escaped), what it was built with and the readings.
pub fn describe(
    title: &str,
    constructs: &str,
    text: &[u8],
    outcome: &Outcome,
    reads: &Reads,
) -> String {
    let mut out = String::new();
    writeln!(out, "### {title}").unwrap();
    writeln!(out, "- constructs: {constructs}").unwrap();
    writeln!(
        out,
        "- finding: wrong allows {:?}, disagreements {:?}, split mismatch {}",
        outcome.wrong_allows, outcome.disagreements, outcome.split_mismatch
    )
    .unwrap();
    writeln!(
        out,
        "- input (Rust escapes): `{:?}`",
        String::from_utf8_lossy(text)
    )
    .unwrap();
    writeln!(out, "- gate verdict: {:?}", reads.verdict).unwrap();
    writeln!(out, "- gate reads: {}", show(&reads.gate)).unwrap();
    if outcome.split_mismatch {
        writeln!(out, "- gate split path reads: {}", show(&reads.split)).unwrap();
    }
    writeln!(out, "- kubectl reads: {}", show_read(&reads.kubectl)).unwrap();
    writeln!(out, "- gcloud reads: {}", show_read(&reads.gcloud)).unwrap();
    out
}

#[test]
fn generated_manifests_are_refused_or_read_as_the_consumers_read_them() {
    let count = env_number("CMEK_GATE_FUZZ_INPUTS", 6000) as usize;
    let seed = env_number("CMEK_GATE_FUZZ_SEED", 13);
    let strict = std::env::var("CMEK_GATE_FUZZ_STRICT").map_or(true, |v| v != "0");
    let mut rng = Rng::new(seed);
    let generated: Vec<_> = (0..count).map(|_| generate(&mut rng)).collect();
    let inputs: Vec<Vec<u8>> = generated.iter().map(|g| g.text.clone()).collect();
    let Some(results) = run(&inputs) else {
        return;
    };
    let mut summary = BTreeMap::<&str, usize>::new();
    // One finding kept per kind and construct list: the shortest input.
    let mut kept: BTreeMap<String, usize> = BTreeMap::new();
    // Why the gate refused, the message without its numbers: to see what the generator hits.
    let mut refusals = BTreeMap::<String, usize>::new();
    for (i, (outcome, reads)) in results.iter().enumerate() {
        if let Verdict::Refused(message) = &reads.verdict {
            let shape: String = message
                .chars()
                .filter(|c| !c.is_ascii_digit())
                .take(70)
                .collect();
            *refusals.entry(shape).or_default() += 1;
        }
        *summary.entry("inputs").or_default() += 1;
        if outcome.gate_refused {
            *summary.entry("refused by gate").or_default() += 1;
        }
        if !outcome.consumers_refused.is_empty() {
            *summary.entry("refused by a consumer").or_default() += 1;
        }
        if !outcome.disagreements.is_empty() {
            *summary.entry("disagreements").or_default() += 1;
        }
        if outcome.split_mismatch {
            *summary.entry("split mismatches").or_default() += 1;
        }
        if !outcome.wrong_allows.is_empty() {
            *summary.entry("wrong allows").or_default() += 1;
        }
        if outcome.interesting() {
            let class = format!(
                "{}{}{} {}",
                if outcome.wrong_allows.is_empty() {
                    ""
                } else {
                    "WRONG ALLOW "
                },
                if outcome.disagreements.is_empty() {
                    ""
                } else {
                    "disagreement "
                },
                if outcome.split_mismatch { "split " } else { "" },
                generated[i].constructs.join(",")
            );
            let entry = kept.entry(class).or_insert(i);
            if inputs[i].len() < inputs[*entry].len() {
                *entry = i;
            }
        }
    }
    let mut refusals: Vec<(usize, String)> = refusals.into_iter().map(|(m, n)| (n, m)).collect();
    refusals.sort_by(|a, b| b.cmp(a));
    let mut report = format!(
        "# Parser differential: seed {seed}, {count} inputs\n\n{summary:?}\n\nThe gate's refusals, most frequent first:\n"
    );
    for (n, message) in refusals.iter().take(25) {
        writeln!(report, "- {n}: {message:?}").unwrap();
    }
    report.push('\n');
    for (class, i) in &kept {
        let (outcome, reads) = &results[*i];
        report.push_str(&describe(
            class,
            &generated[*i].constructs.join(", "),
            &inputs[*i],
            outcome,
            reads,
        ));
        report.push('\n');
    }
    let dir = repo().join("target/parser-differential");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("findings-seed{seed}.md"));
    std::fs::write(&path, &report).unwrap();
    let count_of = |k: &str| summary.get(k).copied().unwrap_or(0);
    println!(
        "parser differential: seed {seed}, {} inputs, {} refused by the gate, {} refused by a consumer, {} disagreements, {} split mismatches, {} wrong allows (findings: {})",
        count_of("inputs"),
        count_of("refused by gate"),
        count_of("refused by a consumer"),
        count_of("disagreements"),
        count_of("split mismatches"),
        count_of("wrong allows"),
        path.display()
    );
    let wrong: Vec<&String> = kept
        .keys()
        .filter(|k| k.starts_with("WRONG ALLOW"))
        .collect();
    assert!(
        wrong.is_empty(),
        "{} wrong allows (the gate allows what a consumer reads as a denied object): {wrong:#?}\nsee {}",
        count_of("wrong allows"),
        path.display()
    );
    if strict {
        assert!(
            kept.is_empty(),
            "{} inputs the gate reads differently from a consumer: see {}",
            kept.len(),
            path.display()
        );
    }
}

fn corpus_dir() -> std::path::PathBuf {
    fixtures().join("parser-corpus")
}

/// What a consumer does with an input: sends objects the gate's engine allows, sends an object
/// it denies, or refuses the input (sending nothing).
fn consumer_outcome(read: &ConsumerRead) -> &'static str {
    if read
        .objects
        .iter()
        .any(|o| !consumer_denied_by(o).is_empty())
    {
        "deny"
    } else if read.error.is_some() && read.objects.is_empty() {
        "refuse"
    } else if read.error.is_some() {
        "partial"
    } else {
        "allow"
    }
}

fn gate_outcome(verdict: &Verdict) -> String {
    match verdict {
        Verdict::Refused(message) => format!("refuse: {message}"),
        Verdict::Denied(_) => "deny".into(),
        Verdict::Allowed => "allow".into(),
    }
}

/// One row of the corpus index: file, construct, the gate's expected outcome (`allow`, `deny`,
/// or `refuse: TEXT`, TEXT being in the message), kubectl's and gcloud's (`allow`, `deny`,
/// `refuse`, `partial`: objects sent before an error).
struct IndexRow {
    file: String,
    gate: String,
    kubectl: String,
    gcloud: String,
}

fn corpus_index() -> Vec<IndexRow> {
    let text = std::fs::read_to_string(corpus_dir().join("index.md")).unwrap();
    text.lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<String> = l
                .split(" | ")
                .map(|c| {
                    c.trim_matches(|c| c == '|' || c == ' ' || c == '`')
                        .to_owned()
                })
                .collect();
            let first_word = |c: &str| c.split(" (").next().unwrap().trim().to_owned();
            IndexRow {
                file: cells[0].clone(),
                gate: first_word(&cells[2]),
                kubectl: first_word(&cells[3]),
                gcloud: first_word(&cells[4]),
            }
        })
        .collect()
}

fn corpus_files() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "index.md")
        .collect();
    files.sort();
    files
}

/// The corpus read by the gate and both consumers; `None` when the consumers are not here
/// (outside CI).
fn read_corpus() -> Option<Vec<(String, Outcome, Reads)>> {
    let files = corpus_files();
    let inputs: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(corpus_dir().join(f)).unwrap())
        .collect();
    let results = run(&inputs)?;
    Some(
        files
            .into_iter()
            .zip(results)
            .map(|(f, (o, r))| (f, o, r))
            .collect(),
    )
}

/// The consumers read every corpus file as its index says: the index stays a true record of
/// what kubectl and gcloud do with each construct.
#[test]
fn parser_corpus_index_says_what_the_consumers_read() {
    let Some(corpus) = read_corpus() else { return };
    let index = corpus_index();
    let mut wrong = Vec::new();
    for (file, _, reads) in &corpus {
        let kubectl = consumer_outcome(&reads.kubectl);
        let gcloud = consumer_outcome(&reads.gcloud);
        match index.iter().find(|r| &r.file == file) {
            None => wrong.push(format!(
                "{file}: not in index.md (now: gate {}, kubectl {kubectl}, gcloud {gcloud})",
                gate_outcome(&reads.verdict)
            )),
            Some(row) if row.kubectl != kubectl || row.gcloud != gcloud => wrong.push(format!(
                "{file}: index.md says kubectl {}, gcloud {}; they now {kubectl}, {gcloud}",
                row.kubectl, row.gcloud
            )),
            Some(_) => {}
        }
    }
    for row in &index {
        if !corpus.iter().any(|(f, _, _)| *f == row.file) {
            wrong.push(format!("{}: in index.md but not in the corpus", row.file));
        }
    }
    assert!(
        wrong.is_empty(),
        "parser corpus index:\n{}",
        wrong.join("\n")
    );
}

/// Every corpus file is refused by the gate, or read by the gate as both consumers read it
/// (a consumer may refuse it: then it sends nothing, or only documents the gate read alike),
/// and the gate's outcome is the one index.md expects (the decision table of issue 13).
#[test]
fn parser_corpus_is_refused_or_read_alike() {
    let Some(corpus) = read_corpus() else { return };
    let index = corpus_index();
    let mut failures = Vec::new();
    for (file, outcome, reads) in &corpus {
        let gate = gate_outcome(&reads.verdict);
        if outcome.interesting() {
            failures.push(format!(
                "{file}: the gate reads it ({gate}) but wrong allows {:?}, disagreements {:?}, split mismatch {}",
                outcome.wrong_allows, outcome.disagreements, outcome.split_mismatch
            ));
        }
        if let Some(row) = index.iter().find(|r| &r.file == file) {
            let expected = match row
                .gate
                .strip_prefix("refuse")
                .map(|r| r.trim_start_matches(": "))
            {
                Some(needle) => {
                    gate.starts_with("refuse: ")
                        && gate.to_lowercase().contains(&needle.to_lowercase())
                }
                None => gate == row.gate,
            };
            if !expected {
                failures.push(format!(
                    "{file}: index.md expects the gate to {}, it does: {gate}",
                    row.gate
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} parser corpus files are not refused or read alike:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Prints every corpus file's readings (for writing index.md):
/// `cargo test --test integration parser_corpus_readings -- --ignored --nocapture`.
#[test]
#[ignore = "a report, not a check"]
fn parser_corpus_readings() {
    let corpus = read_corpus().expect("the consumers are needed");
    for (file, outcome, reads) in &corpus {
        println!(
            "{file}\tgate {}\tkubectl {}\tgcloud {}\t{}",
            gate_outcome(&reads.verdict)
                .chars()
                .take(90)
                .collect::<String>(),
            consumer_outcome(&reads.kubectl),
            consumer_outcome(&reads.gcloud),
            if outcome.interesting() {
                format!(
                    "DIFF {:?} {:?}",
                    outcome.wrong_allows, outcome.disagreements
                )
            } else {
                String::new()
            }
        );
    }
}

/// `metadata.labels: {}` dropped: `kubectl label` adds it to an object without labels.
fn without_empty_labels(mut object: Value) -> Value {
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        if metadata
            .get("labels")
            .is_some_and(|l| l.as_object().is_some_and(|m| m.is_empty()))
        {
            metadata.remove("labels");
        }
    }
    object
}

/// The real kubectl (`/usr/bin/kubectl`, offline: `kubectl label --local -f FILE -o json
/// LABEL-`, which reads the file with the same resource builder and prints every object,
/// removing a label none has) reads each corpus file it accepts exactly as kubectl-yaml does.
#[test]
fn real_kubectl_reads_the_corpus_as_kubectl_yaml_does() {
    let Some(corpus) = read_corpus() else { return };
    let mut compared = 0;
    let mut different = Vec::new();
    for (file, _, reads) in &corpus {
        let out = match std::process::Command::new("kubectl")
            .args(["label", "--local", "-o", "json", "-f"])
            .arg(corpus_dir().join(file))
            .arg("zz-cmek-gate-probe-")
            .env("KUBECONFIG", "/dev/null")
            .output()
        {
            Ok(out) => out,
            Err(e) => {
                let in_ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
                assert!(!in_ci, "kubectl could not be run ({e}) and CI is set");
                eprintln!("skipping the real kubectl check: kubectl could not be run ({e})");
                return;
            }
        };
        if !out.status.success() {
            // `label` decodes metadata into typed fields (a label that is not a string is an
            // error there, and only at the API server for apply): a refusal here proves nothing.
            continue;
        }
        let real: Vec<Value> = serde_json::Deserializer::from_slice(&out.stdout)
            .into_iter::<Value>()
            .map(|v| without_empty_labels(v.expect("kubectl prints JSON")))
            .collect();
        let ours: Vec<Value> = reads
            .kubectl
            .objects
            .iter()
            .cloned()
            .map(without_empty_labels)
            .collect();
        compared += 1;
        let alike = reads.kubectl.error.is_none()
            && real.len() == ours.len()
            && real.iter().zip(&ours).all(|(a, b)| same(a, b));
        if !alike {
            different.push(format!(
                "{file}: kubectl {} vs kubectl-yaml {}",
                serde_json::to_string(&real).unwrap(),
                show_read(&reads.kubectl)
            ));
        }
    }
    println!(
        "real kubectl: {compared} of {} corpus files read, {} differently from kubectl-yaml",
        corpus.len(),
        different.len()
    );
    assert!(
        different.is_empty(),
        "the real kubectl reads these corpus files differently:\n{}",
        different.join("\n")
    );
    assert!(
        compared >= 20,
        "only {compared} corpus files were read by the real kubectl: the check says little"
    );
}
