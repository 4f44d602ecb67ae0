//! `cmek-gate fix`, run as a user runs it: golden pairs (`fixtures/fix/<case>/input.*` and
//! `expected.*`, byte for byte; `UPDATE_GOLDEN=1` rewrites the expected files: review the diff),
//! and properties over generated variants: fixing twice changes nothing the second time, `check`
//! allows what fix wrote, and the text means what the mutation means.

use crate::support::{fixtures, gate_in, temp_dir};
use cmek_gate::engine::{admit, Phases, Request};
use cmek_gate::manifest::{parse_documents, ReadLimits};
use cmek_gate::policy::{embedded, PolicySet, Source};
use std::path::{Path, PathBuf};

const KEY: &str = "projects/kms-central/locations/europe-west1/keyRings/run/cryptoKeys/default";

fn params() -> PathBuf {
    fixtures().join("mutation/default-keys-params.yaml")
}

fn params_arg() -> String {
    params().display().to_string()
}

fn input_of(case: &Path) -> PathBuf {
    ["input.yaml", "input.json"]
        .iter()
        .map(|n| case.join(n))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("{}: no input.yaml or input.json", case.display()))
}

#[test]
fn golden_pairs_keep_every_byte_but_the_added_key() {
    let dir = temp_dir("fix-golden");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(fixtures().join("fix"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 10, "the golden cases are missing");
    let p = params_arg();
    for case in cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let input = input_of(&case);
        let extension = input.extension().unwrap().to_string_lossy().into_owned();
        let expected_path = case.join(format!("expected.{extension}"));
        let file = format!("{name}.{extension}");
        std::fs::copy(&input, dir.join(&file)).unwrap();
        let run = gate_in(&dir, &["fix", "--params", &p, &file], b"");
        run.expect_code(0).stdout_has("fix: changed 1 file");
        let fixed = std::fs::read(dir.join(&file)).unwrap();
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&expected_path, &fixed).unwrap();
        }
        let expected = std::fs::read(&expected_path).unwrap();
        assert!(
            fixed == expected,
            "{name}: fix wrote\n{}\n--- expected\n{}",
            String::from_utf8_lossy(&fixed),
            String::from_utf8_lossy(&expected)
        );
        // Only lines were added or changed where the key goes: every input line is still there,
        // in order, except a changed flow map or null line.
        let original = std::fs::read_to_string(&input).unwrap();
        let fixed_text = String::from_utf8(fixed.clone()).unwrap();
        assert!(
            fixed_text.contains(KEY),
            "{name}: the key is not in the file"
        );
        let kept = original
            .split_inclusive('\n')
            .filter(|l| fixed_text.contains(*l))
            .count();
        assert!(
            kept + 2 >= original.split_inclusive('\n').count(),
            "{name}: lines of the input are gone"
        );
        // Again: nothing to do. And check (no mutation) allows the file as written.
        gate_in(&dir, &["fix", "--params", &p, &file], b"")
            .expect_code(0)
            .stdout_has("fix: changed 0 files");
        assert_eq!(std::fs::read(dir.join(&file)).unwrap(), fixed, "{name}");
        gate_in(&dir, &["check", "--params", &p, &file], b"").expect_code(0);
    }
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("cmek-gate-fix"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn diff_and_stdout_write_nothing_and_stdin_works() {
    let dir = temp_dir("fix-modes");
    let p = params_arg();
    let case = fixtures().join("fix/comments");
    std::fs::copy(case.join("input.yaml"), dir.join("svc.yaml")).unwrap();
    let original = std::fs::read(dir.join("svc.yaml")).unwrap();
    let expected = std::fs::read_to_string(case.join("expected.yaml")).unwrap();
    let diff = gate_in(&dir, &["fix", "--params", &p, "--diff", "svc.yaml"], b"");
    diff.expect_code(0)
        .stdout_has("--- a/svc.yaml\n+++ b/svc.yaml\n")
        .stdout_has(&format!(
            "+        run.googleapis.com/encryption-key: {KEY}\n"
        ))
        .stderr_has("fix: would change 1 file");
    let minus = diff.stdout.lines().filter(|l| l.starts_with("-")).count();
    assert_eq!(minus, 1, "only the header removes: {}", diff.stdout);
    let stdout = gate_in(&dir, &["fix", "--params", &p, "--stdout", "svc.yaml"], b"");
    stdout.expect_code(0);
    assert_eq!(stdout.stdout, expected);
    assert_eq!(std::fs::read(dir.join("svc.yaml")).unwrap(), original);
    let piped = gate_in(&dir, &["fix", "--params", &p, "-"], &original);
    piped.expect_code(0);
    assert_eq!(piped.stdout, expected);
    gate_in(
        &dir,
        &["fix", "--params", &p, "--stdout", "svc.yaml", "svc.yaml"],
        b"",
    )
    .expect_code(2)
    .stderr_has("takes exactly one file");
}

#[test]
fn what_fix_cannot_mend_exits_1_and_says_why_and_bad_input_exits_2_untouched() {
    let dir = temp_dir("fix-denied");
    let p = params_arg();
    let text = "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: far\n  labels: {cloud.googleapis.com/location: asia-east1, data-classification: restricted}\nspec:\n  template:\n    spec:\n      containers: [{image: x}]\n";
    std::fs::write(dir.join("far.yaml"), text).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.join("far.yaml"), std::fs::Permissions::from_mode(0o640))
            .unwrap();
    }
    gate_in(&dir, &["fix", "--params", &p, "far.yaml"], b"")
        .expect_code(1)
        .stdout_has("far.yaml:1: Service far: still DENIED after fixing")
        .stdout_has("error[cmek-required]")
        .stdout_has("this resource has region \"asia-east1\"");
    assert_eq!(std::fs::read_to_string(dir.join("far.yaml")).unwrap(), text);
    // A file that does change keeps its permissions.
    let near = text.replace("asia-east1", "europe-west1");
    std::fs::write(dir.join("far.yaml"), &near).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.join("far.yaml"), std::fs::Permissions::from_mode(0o640))
            .unwrap();
        gate_in(&dir, &["fix", "--params", &p, "far.yaml"], b"").expect_code(0);
        let mode = std::fs::metadata(dir.join("far.yaml"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o640);
    }
    let broken = "apiVersion: v1\nkind: Service\nmetadata: {name: [\n";
    std::fs::write(dir.join("broken.yaml"), broken).unwrap();
    gate_in(&dir, &["fix", "--params", &p, "broken.yaml"], b"")
        .expect_code(2)
        .stderr_has("broken.yaml");
    assert_eq!(
        std::fs::read_to_string(dir.join("broken.yaml")).unwrap(),
        broken
    );
    // Without a mutating policy there is nothing to fix: an error, not a silent no-op.
    let only = crate::support::repo().join("policies/cmek-required.yaml");
    gate_in(
        &dir,
        &["fix", "--policies", only.to_str().unwrap(), "far.yaml"],
        b"",
    )
    .expect_code(2)
    .stderr_has("no mutating policy is loaded");
}

/// The variants: indentation, line endings, comments, and every way the annotations can be
/// written (or not).
fn variants() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let templates = [
        ("block", "METADATA\n  annotations:\n    a: b\n"),
        ("flow-empty", "METADATA\n  annotations: {}\n"),
        ("flow", "METADATA\n  annotations: {a: b}\n"),
        ("null", "METADATA\n  annotations:\n"),
        ("tilde", "METADATA\n  annotations: ~\n"),
        ("labels-only", "METADATA\n  labels:\n    app: x\n"),
        ("no-metadata", ""),
    ];
    for (style, metadata) in templates {
        for indent in [2usize, 4] {
            for crlf in [false, true] {
                for comments in [false, true] {
                    let pad = |level: usize| " ".repeat(level * indent);
                    let comment = |text: &str| {
                        if comments {
                            format!("  # {text}")
                        } else {
                            String::new()
                        }
                    };
                    let mut text = String::new();
                    if comments {
                        text.push_str("# generated variant\n");
                    }
                    text.push_str("apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n");
                    text.push_str(&format!("{}name: v{}\n", pad(1), comment("name")));
                    text.push_str(&format!("{}labels:\n", pad(1)));
                    text.push_str(&format!(
                        "{}cloud.googleapis.com/location: europe-west1\n{}data-classification: confidential{}\n",
                        pad(2),
                        pad(2),
                        comment("sensitive")
                    ));
                    text.push_str(&format!("spec:\n{}template:\n", pad(1)));
                    for line in metadata.lines() {
                        let line = line.replacen("METADATA", "metadata:", 1);
                        let depth = line.len() - line.trim_start().len();
                        let level = 2 + depth / 2;
                        text.push_str(&format!("{}{}\n", pad(level), line.trim_start()));
                    }
                    text.push_str(&format!(
                        "{}spec:\n{}containers:\n{}- image: x{}\n",
                        pad(2),
                        pad(3),
                        pad(3),
                        comment("image")
                    ));
                    if crlf {
                        text = text.replace('\n', "\r\n");
                    }
                    let name = format!(
                        "{style}-{indent}{}{}.yaml",
                        if crlf { "-crlf" } else { "" },
                        if comments { "-comments" } else { "" }
                    );
                    out.push((name, text));
                }
            }
        }
    }
    out
}

#[test]
fn fixing_generated_variants_is_idempotent_allowed_and_means_the_mutation() {
    let dir = temp_dir("fix-variants");
    let files = variants();
    for (name, text) in &files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let p = params_arg();
    gate_in(&dir, &["fix", "--params", &p, "."], b"")
        .expect_code(0)
        .stdout_has(&format!("fix: changed {} files", files.len()));
    let set = PolicySet::compile(
        &embedded::sources(),
        &[Source {
            name: "params".into(),
            text: std::fs::read_to_string(params()).unwrap(),
        }],
    )
    .unwrap();
    for (name, original) in &files {
        let fixed = std::fs::read_to_string(dir.join(name)).unwrap();
        // Line endings are kept: no bare LF in a CRLF file, no CR in an LF one.
        if name.contains("crlf") {
            assert!(
                !fixed.replace("\r\n", "").contains('\n'),
                "{name}: a bare LF\n{fixed}"
            );
        } else {
            assert!(!fixed.contains('\r'), "{name}");
        }
        // The text means what the mutation means.
        let before = parse_documents(original, &ReadLimits::default()).unwrap();
        let decision = admit(&set, &Request::create(&before[0]), Phases::ALL);
        let mutated = decision
            .mutated
            .as_ref()
            .unwrap_or_else(|| panic!("{name}: no mutation"))
            .to_json();
        let after = parse_documents(&fixed, &ReadLimits::default())
            .unwrap_or_else(|e| panic!("{name}: the fixed file does not parse: {e}\n{fixed}"));
        assert_eq!(after[0].root.to_json(), mutated, "{name}:\n{fixed}");
        // Comments survive.
        for comment in original
            .lines()
            .filter_map(|l| l.find('#').map(|i| &l[i..]))
        {
            assert!(
                fixed.contains(comment.trim_end_matches('\r')),
                "{name}: lost {comment}"
            );
        }
    }
    // Twice is once; and check allows every file as written.
    gate_in(&dir, &["fix", "--params", &p, "."], b"")
        .expect_code(0)
        .stdout_has("fix: changed 0 files");
    gate_in(&dir, &["check", "--params", &p, "."], b"").expect_code(0);
}

/// A fixable Service in europe-west1 (the params give that region a key).
const FIXABLE: &str = "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: near\n  labels: {cloud.googleapis.com/location: europe-west1, data-classification: restricted}\nspec:\n  template:\n    spec:\n      containers: [{image: x}]\n";

#[test]
fn an_error_in_any_file_writes_no_file() {
    let dir = temp_dir("fix-all-or-nothing");
    let p = params_arg();
    let broken = "apiVersion: v1\nkind: Service\nmetadata: {name: [\n";
    std::fs::write(dir.join("a-fixable.yaml"), FIXABLE).unwrap();
    std::fs::write(dir.join("b-broken.yaml"), broken).unwrap();
    gate_in(&dir, &["fix", "--params", &p, "."], b"")
        .expect_code(2)
        .stdout_has("nothing written")
        .stderr_has("b-broken.yaml");
    assert_eq!(
        std::fs::read(dir.join("a-fixable.yaml")).unwrap(),
        FIXABLE.as_bytes()
    );
    assert_eq!(
        std::fs::read(dir.join("b-broken.yaml")).unwrap(),
        broken.as_bytes()
    );
    // No temporary file is left beside them.
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["a-fixable.yaml", "b-broken.yaml"]);
    // Once the broken file is mended, the fixable one is written.
    std::fs::remove_file(dir.join("b-broken.yaml")).unwrap();
    gate_in(&dir, &["fix", "--params", &p, "."], b"")
        .expect_code(0)
        .stdout_has("fix: changed 1 file");
    assert!(std::fs::read_to_string(dir.join("a-fixable.yaml"))
        .unwrap()
        .contains(KEY));
}

#[test]
fn a_file_still_denied_exits_1_and_the_fixable_file_is_written() {
    // Still denied is a verdict, not an error: what can be fixed is written, and exit 1 says
    // that something is still denied (and why).
    let dir = temp_dir("fix-denied-and-fixable");
    let p = params_arg();
    let far = FIXABLE
        .replace("europe-west1", "asia-east1")
        .replace("near", "far");
    std::fs::write(dir.join("a-fixable.yaml"), FIXABLE).unwrap();
    std::fs::write(dir.join("b-far.yaml"), &far).unwrap();
    gate_in(&dir, &["fix", "--params", &p, "."], b"")
        .expect_code(1)
        .stdout_has("fix: changed 1 file")
        .stdout_has("b-far.yaml:1: Service far: still DENIED after fixing")
        .stdout_has("this resource has region \"asia-east1\"");
    assert!(std::fs::read_to_string(dir.join("a-fixable.yaml"))
        .unwrap()
        .contains(KEY));
    assert_eq!(
        std::fs::read_to_string(dir.join("b-far.yaml")).unwrap(),
        far
    );
}

#[test]
fn every_document_of_a_long_stream_is_fixed_and_the_others_kept() {
    // Every third of 30 documents needs the key; the others are compliant or not sensitive.
    let dir = temp_dir("fix-stream");
    let p = params_arg();
    let mut text = String::from("# a stream\n");
    for k in 0..30 {
        let body = match k % 3 {
            0 => FIXABLE.replace("name: near", &format!("name: s{k}")),
            1 => format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c{k}\ndata: {{a: b}}\n"),
            _ => format!("apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: public{k}\nspec:\n  template:\n    spec:\n      containers: [{{image: x}}]\n"),
        };
        text.push_str("---\n");
        text.push_str(&body);
    }
    std::fs::write(dir.join("stream.yaml"), &text).unwrap();
    let run = gate_in(&dir, &["fix", "--params", &p, "stream.yaml"], b"");
    run.expect_code(0).stdout_has("fix: changed 1 file");
    let fixed = std::fs::read_to_string(dir.join("stream.yaml")).unwrap();
    assert_eq!(fixed.matches(KEY).count(), 10);
    // Each fixed document reads as the mutation's result, and every other is unchanged.
    let before = parse_documents(&text, &ReadLimits::default()).unwrap();
    let after = parse_documents(&fixed, &ReadLimits::default()).unwrap();
    assert_eq!(before.len(), after.len());
    for (b, a) in before.iter().zip(&after) {
        let (b, a) = (b.root.to_json(), a.root.to_json());
        if b["metadata"]["labels"]["data-classification"] == "restricted" {
            let template = &a["spec"]["template"];
            assert_eq!(
                template["metadata"]["annotations"]["run.googleapis.com/encryption-key"],
                KEY
            );
            let mut a = a.clone();
            let template = a["spec"]["template"].as_object_mut().unwrap();
            template.remove("metadata");
            assert_eq!(a, b);
        } else {
            assert_eq!(a, b);
        }
    }
}
