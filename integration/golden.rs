//! Golden fixtures: `fixtures/check/<case>/input.(yaml|json)` is checked with the embedded
//! library and the JSON report compared with `expected.json` beside it (`UPDATE_GOLDEN=1`
//! rewrites those; review the diff). Each case also has `expect.yaml`, written by hand: per
//! document, the verdict and the exact denying and warning policies, checked independently of
//! the golden file. `fixtures/hostile/<case>/` inputs must fail with the text in `expect.txt`.

use crate::support::fixtures;
use cmek_gate::batch::{check_inputs, CheckOptions, Input};
use cmek_gate::policy::{embedded, PolicySet, Source};
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    documents: Vec<ExpectDocument>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectDocument {
    kind: String,
    #[serde(default)]
    skipped: bool,
    #[serde(default = "yes")]
    allowed: bool,
    #[serde(default)]
    violations: Vec<String>,
    #[serde(default)]
    warnings: Vec<String>,
}

fn yes() -> bool {
    true
}

fn library() -> PolicySet {
    library_with(None)
}

/// The embedded library, with a case's `params.yaml` when it has one.
fn library_with(params: Option<&Path>) -> PolicySet {
    let params: Vec<Source> = params
        .map(|p| Source {
            name: p.display().to_string(),
            text: std::fs::read_to_string(p).unwrap(),
        })
        .into_iter()
        .collect();
    PolicySet::compile(&embedded::sources(), &params).expect("the embedded library compiles")
}

fn case_dirs(kind: &str) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(fixtures().join(kind))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

fn input_of(dir: &Path) -> (String, Vec<u8>) {
    for name in ["input.yaml", "input.json", "input.yml"] {
        if let Ok(text) = std::fs::read(dir.join(name)) {
            return (name.to_owned(), text);
        }
    }
    panic!("{}: no input file", dir.display());
}

fn sorted_unique(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names.dedup();
    names
}

#[test]
fn check_fixtures_match_expectations_and_golden_reports() {
    let set = library();
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut failures = Vec::new();
    let dirs = case_dirs("check");
    assert!(
        dirs.len() >= 30,
        "expected the fixture corpus, found {} cases",
        dirs.len()
    );
    for dir in &dirs {
        let case = dir.file_name().unwrap().to_string_lossy().into_owned();
        let (name, text) = input_of(dir);
        let params = dir.join("params.yaml");
        let own_set = params.exists().then(|| library_with(Some(&params)));
        let set = own_set.as_ref().unwrap_or(&set);
        let report = check_inputs(set, &[Input { name, text }], &CheckOptions::default());
        assert!(report.errors.is_empty(), "{case}: {:?}", report.errors);
        let expect: Expect = serde_yaml_expect(&dir.join("expect.yaml"));
        if expect.documents.len() != report.results.len() {
            failures.push(format!(
                "{case}: expect.yaml lists {} documents, the report has {}",
                expect.documents.len(),
                report.results.len()
            ));
            continue;
        }
        for (i, (want, got)) in expect.documents.iter().zip(&report.results).enumerate() {
            let violations: Vec<String> = if want.violations == ["ERROR"] {
                // denied because the document could not be evaluated
                got.violations
                    .iter()
                    .filter(|v| v.message.contains("' resulted in error: "))
                    .map(|_| "ERROR".to_owned())
                    .take(1)
                    .collect()
            } else {
                sorted_unique(got.violations.iter().map(|v| v.policy.clone()).collect())
            };
            let warnings = sorted_unique(got.warnings.iter().map(|w| w.policy.clone()).collect());
            let ok = want.kind == got.kind
                && want.skipped == got.skipped
                && (want.skipped
                    || (want.allowed == got.allowed
                        && want.violations == violations
                        && want.warnings == warnings));
            if !ok {
                failures.push(format!(
                    "{case} document {i}: want {} skipped={} allowed={} violations={:?} warnings={:?}; got {} skipped={} allowed={} violations={:?} warnings={:?}\n    messages: {:?}",
                    want.kind, want.skipped, want.allowed, want.violations, want.warnings,
                    got.kind, got.skipped, got.allowed, violations, warnings,
                    got.violations.iter().map(|v| &v.message).collect::<Vec<_>>()
                ));
            }
        }
        let actual = serde_json::to_string_pretty(&report.to_json()).unwrap() + "\n";
        let golden = dir.join("expected.json");
        if update {
            std::fs::write(&golden, &actual).unwrap();
        } else {
            match std::fs::read_to_string(&golden) {
                Ok(expected) if expected == actual => {}
                Ok(expected) => failures.push(format!(
                    "{case}: report differs from expected.json (UPDATE_GOLDEN=1 rewrites it):\n{}",
                    similar::TextDiff::from_lines(&expected, &actual)
                        .unified_diff()
                        .header("expected.json", "actual")
                )),
                Err(_) => failures.push(format!(
                    "{case}: no expected.json (run with UPDATE_GOLDEN=1)"
                )),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Reads expect.yaml with the gate's own YAML reader (serde through a JSON value).
fn serde_yaml_expect(path: &Path) -> Expect {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let docs = cmek_gate::manifest::yaml::parse_stream(&text, &Default::default())
        .unwrap_or_else(|e| panic!("{}: {}", path.display(), e.error));
    let root = docs
        .into_iter()
        .find_map(|d| d.root)
        .expect("expect.yaml has a document");
    serde_json::from_value(root.to_json()).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn hostile_inputs_fail_with_a_clear_message() {
    let set = library();
    let dirs = case_dirs("hostile");
    assert!(dirs.len() >= 10);
    for dir in dirs {
        let case = dir.file_name().unwrap().to_string_lossy().into_owned();
        let (name, text) = input_of(&dir);
        let expected = std::fs::read_to_string(dir.join("expect.txt")).unwrap();
        let expected = expected.trim();
        let report = check_inputs(&set, &[Input { name, text }], &CheckOptions::default());
        assert_eq!(
            report.exit_code(),
            2,
            "{case}: not refused: {:?}",
            report.results
        );
        let message = &report.errors[0].message;
        assert!(
            message.to_lowercase().contains(&expected.to_lowercase()),
            "{case}: {message:?} lacks {expected:?}"
        );
    }
}
