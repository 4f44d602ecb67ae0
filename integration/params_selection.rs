//! A parameter object that no binding selects is named, with why, by the commands that load
//! policies: a misnamed `CmekGateParams` is otherwise ignored in silence.

use crate::support::{gate_in, repo, temp_dir};

const SERVICE: &str = "examples/service.yaml";

fn params(name: &str) -> String {
    format!(
        "apiVersion: cmek-gate.dev/v1alpha1\nkind: CmekGateParams\nmetadata:\n  name: {name}\nspec:\n  defaultKeys:\n    europe-west1: projects/kms-central/locations/europe-west1/keyRings/run/cryptoKeys/default\n"
    )
}

#[test]
fn a_params_object_no_binding_selects_is_named_on_stderr() {
    let dir = temp_dir("params-selection");
    std::fs::write(dir.join("prod.yaml"), params("prod")).unwrap();
    std::fs::write(dir.join("default.yaml"), params("default")).unwrap();
    let service = repo().join(SERVICE);
    let service = service.to_str().unwrap();
    let warning = "warning: prod.yaml: CmekGateParams \"prod\" is ignored: no binding selects it (the bindings' paramRef selects name \"default\"; name it \"default\" to use it)";
    for args in [
        vec!["check", "--mutate", "--params", "prod.yaml", service],
        vec!["fix", "--diff", "--params", "prod.yaml", service],
        vec![
            "scan",
            "--min-compliance",
            "100",
            "--params",
            "prod.yaml",
            service,
        ],
    ] {
        gate_in(&dir, &args, b"").expect_code(1).stderr_has(warning);
    }
    let named_default = gate_in(
        &dir,
        &["check", "--mutate", "--params", "default.yaml", service],
        b"",
    );
    named_default.expect_code(0);
    assert!(
        !named_default.stderr.contains("warning:"),
        "{named_default}"
    );
}

/// A params file without apiVersion says so once, naming the file.
#[test]
fn a_params_file_that_is_not_an_object_says_why_once() {
    let dir = temp_dir("params-no-api-version");
    std::fs::write(dir.join("my-params.yaml"), "spec:\n  defaultKeys: {}\n").unwrap();
    let run = gate_in(
        &dir,
        &[
            "check",
            "--params",
            "my-params.yaml",
            repo().join(SERVICE).to_str().unwrap(),
        ],
        b"",
    );
    run.expect_code(2)
        .stderr_has("my-params.yaml: document 0 (line 1): apiVersion is missing");
    assert_eq!(
        run.stderr.matches("apiVersion is missing").count(),
        1,
        "{run}"
    );
}
