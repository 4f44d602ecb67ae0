//! The gate as a KRM function, driven by the real kpt (installed on these machines and CI's).

use crate::server_support::gate_binary;
use crate::support::{repo, temp_dir};
use std::path::Path;
use std::process::Command;

fn kpt(args: &[&str], dir: &Path) -> (i32, String) {
    let out = Command::new("kpt")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("kpt is installed (see README: it is used by the tests)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// A package with the README's denied example and the compliant one (renamed so names differ).
fn package(name: &str, with_denied: bool) -> std::path::PathBuf {
    let dir = temp_dir(name);
    let pkg = dir.join("pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    if with_denied {
        std::fs::copy(
            repo().join("examples/service.yaml"),
            pkg.join("service.yaml"),
        )
        .unwrap();
    }
    let compliant =
        std::fs::read_to_string(repo().join("examples/service-compliant.yaml")).unwrap();
    std::fs::write(
        pkg.join("compliant.yaml"),
        compliant.replace("name: payments-api\n", "name: payments-api-ok\n"),
    )
    .unwrap();
    std::fs::write(
        pkg.join("Kptfile"),
        format!(
            "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: pkg\npipeline:\n  validators:\n    - exec: {} krm\n",
            gate_binary()
        ),
    )
    .unwrap();
    dir
}

fn snapshot(pkg: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(pkg)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn kpt_fn_eval_reports_results_and_fails_on_a_denial() {
    let dir = package("kpt-eval", true);
    let before = snapshot(&dir.join("pkg"));
    let exec = format!("{} krm", gate_binary());
    let (code, text) = kpt(&["fn", "eval", "pkg", "--exec", &exec], &dir);
    assert_ne!(code, 0, "{text}");
    assert!(
        text.contains("[error] serving.knative.dev/v1/Service/123456789012/payments-api"),
        "{text}"
    );
    assert!(text.contains("[cmek-required]"), "{text}");
    assert!(
        !text.contains("payments-api-ok"),
        "the compliant service has no result: {text}"
    );
    assert_eq!(
        snapshot(&dir.join("pkg")),
        before,
        "kpt fn eval changed the package"
    );
}

#[test]
fn kpt_fn_render_runs_the_gate_as_a_validator() {
    let dir = package("kpt-render-denied", true);
    let (code, text) = kpt(&["fn", "render", "pkg", "--allow-exec"], &dir);
    assert_ne!(code, 0, "{text}");
    assert!(text.contains("[cmek-required]"), "{text}");

    let dir = package("kpt-render-allowed", false);
    let before = snapshot(&dir.join("pkg"));
    let (code, text) = kpt(&["fn", "render", "pkg", "--allow-exec"], &dir);
    assert_eq!(code, 0, "{text}");
    assert_eq!(
        snapshot(&dir.join("pkg")),
        before,
        "render rewrote the package: comments and formatting must survive"
    );
}

#[test]
fn kpt_fn_render_runs_the_gate_as_a_mutator_then_a_validator() {
    let dir = package("kpt-render-mutate", true);
    let params = crate::support::fixtures().join("mutation/default-keys-params.yaml");
    std::fs::write(
        dir.join("pkg/Kptfile"),
        format!(
            "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: pkg\npipeline:\n  mutators:\n    - exec: {gate} krm --mutate --params {params}\n  validators:\n    - exec: {gate} krm --params {params}\n",
            gate = gate_binary(),
            params = params.display()
        ),
    )
    .unwrap();
    let before = std::fs::read_to_string(dir.join("pkg/service.yaml")).unwrap();
    let (code, text) = kpt(&["fn", "render", "pkg", "--allow-exec"], &dir);
    assert_eq!(code, 0, "the mutated package passes the validator: {text}");
    let after = std::fs::read_to_string(dir.join("pkg/service.yaml")).unwrap();
    assert!(
        after.contains(
            "run.googleapis.com/encryption-key: projects/kms-central/locations/europe-west1/keyRings/run/cryptoKeys/default"
        ),
        "{after}"
    );
    for comment in before.lines().filter(|l| l.trim_start().starts_with('#')) {
        assert!(after.contains(comment.trim()), "lost {comment:?}:\n{after}");
    }
    // The same package through `kpt fn eval` with the ConfigMap functionConfig asking for it.
    let dir = package("kpt-eval-mutate", true);
    std::fs::write(
        dir.join("fn-config.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cmek-gate\ndata:\n  mutate: \"true\"\n",
    )
    .unwrap();
    let exec = format!("{} krm --params {}", gate_binary(), params.display());
    let (code, text) = kpt(
        &[
            "fn",
            "eval",
            "pkg",
            "--exec",
            &exec,
            "--fn-config",
            "fn-config.yaml",
        ],
        &dir,
    );
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("[info]"), "{text}");
    let after = std::fs::read_to_string(dir.join("pkg/service.yaml")).unwrap();
    assert!(
        after.contains("run.googleapis.com/encryption-key: projects/kms-central"),
        "{after}"
    );
}
