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

/// The same warning where a machine reads it: `ignoredParams` in `--output json` (the object,
/// its file and why), a `toolConfigurationNotifications` entry of level warning in SARIF; the
/// exit code is unchanged, and an object named `default` gives neither.
#[test]
fn a_params_object_no_binding_selects_is_a_warning_in_json_and_sarif() {
    let dir = temp_dir("params-selection-json");
    std::fs::write(dir.join("prod.yaml"), params("prod")).unwrap();
    std::fs::write(dir.join("default.yaml"), params("default")).unwrap();
    let compliant = repo().join("examples/service-compliant.yaml");
    let compliant = compliant.to_str().unwrap();
    let json = gate_in(
        &dir,
        &[
            "check",
            "--output",
            "json",
            "--params",
            "prod.yaml",
            compliant,
        ],
        b"",
    );
    json.expect_code(0);
    let ignored = &json.json()["ignoredParams"];
    assert_eq!(ignored.as_array().map(Vec::len), Some(1), "{json}");
    assert_eq!(ignored[0]["file"], "prod.yaml");
    assert_eq!(ignored[0]["apiVersion"], "cmek-gate.dev/v1alpha1");
    assert_eq!(ignored[0]["kind"], "CmekGateParams");
    assert_eq!(ignored[0]["name"], "prod");
    assert_eq!(
        ignored[0]["reason"],
        "no binding selects it (the bindings' paramRef selects name \"default\"; name it \"default\" to use it)"
    );
    assert!(ignored[0]["message"]
        .as_str()
        .unwrap()
        .starts_with("prod.yaml: CmekGateParams \"prod\" is ignored: no binding selects it"));
    let sarif = gate_in(
        &dir,
        &[
            "check",
            "--output",
            "sarif",
            "--params",
            "prod.yaml",
            compliant,
        ],
        b"",
    );
    sarif.expect_code(0);
    let invocation = &sarif.json()["runs"][0]["invocations"][0];
    assert_eq!(invocation["executionSuccessful"], true, "{sarif}");
    let notes = invocation["toolConfigurationNotifications"]
        .as_array()
        .unwrap();
    assert_eq!(notes.len(), 1, "{sarif}");
    assert_eq!(notes[0]["level"], "warning");
    assert_eq!(notes[0]["descriptor"]["id"], "ignored-params");
    assert_eq!(notes[0]["message"]["text"], ignored[0]["message"]);
    let location = &notes[0]["locations"][0];
    assert_eq!(
        location["physicalLocation"]["artifactLocation"]["uri"],
        "prod.yaml"
    );
    assert_eq!(
        location["logicalLocations"][0]["fullyQualifiedName"],
        "CmekGateParams/prod"
    );
    for output in ["json", "sarif"] {
        let run = gate_in(
            &dir,
            &[
                "check",
                "--output",
                output,
                "--params",
                "default.yaml",
                compliant,
            ],
            b"",
        );
        run.expect_code(0);
        assert!(!run.stdout.contains("ignoredParams"), "{run}");
        assert!(
            !run.stdout.contains("toolConfigurationNotifications"),
            "{run}"
        );
    }
}

/// In `krm`: a `warning` result naming the object (its `resourceRef`), its file when it has
/// one, and why; for a functionConfig not named `default` as for a `--params` file.
#[test]
fn a_params_object_no_binding_selects_is_a_warning_result_in_krm() {
    let dir = temp_dir("params-selection-krm");
    std::fs::write(dir.join("prod.yaml"), params("prod")).unwrap();
    let function_config = "functionConfig:\n  apiVersion: cmek-gate.dev/v1alpha1\n  kind: CmekGateParams\n  metadata: {name: prod}\n  spec: {}\n";
    for (args, list, file) in [
        (
            vec!["krm"],
            crate::support::resource_list(function_config),
            None,
        ),
        (
            vec!["krm", "--params", "prod.yaml"],
            crate::support::resource_list(""),
            Some("prod.yaml"),
        ),
    ] {
        let run = gate_in(&dir, &args, list.as_bytes());
        // The README's Service is denied either way: the params object is not what decides.
        run.expect_code(1);
        // The results are appended to the list as one JSON line.
        let results: Vec<serde_json::Value> = run
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("results: "))
            .map(|json| serde_json::from_str(json).unwrap())
            .unwrap_or_else(|| panic!("no results line: {run}"));
        let warnings: Vec<&serde_json::Value> = results
            .iter()
            .filter(|r| r["resourceRef"]["kind"] == "CmekGateParams")
            .collect();
        assert_eq!(warnings.len(), 1, "{args:?}: {run}");
        let warning = warnings[0];
        assert_eq!(warning["severity"], "warning");
        assert_eq!(warning["resourceRef"]["name"], "prod");
        assert_eq!(
            warning["resourceRef"]["apiVersion"],
            "cmek-gate.dev/v1alpha1"
        );
        let message = warning["message"].as_str().unwrap();
        assert!(
            message.contains("CmekGateParams \"prod\" is ignored: no binding selects it"),
            "{message}"
        );
        match file {
            Some(file) => assert_eq!(warning["file"]["path"], file),
            None => assert!(warning.get("file").is_none(), "{warning}"),
        }
    }
}

/// In `serve`: each load (at start and on reload) logs a warning naming the object, its file and
/// why; the metrics listener, which reports the serving policy set, counts them
/// (`cmek_gate_ignored_params`); `/v1/check` answers with `ignoredParams`. Renaming the object
/// `default` clears all three.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_params_object_no_binding_selects_is_logged_and_counted_by_the_server() {
    use crate::server::{eventually, ready, start};
    let dir = temp_dir("params-selection-serve");
    let params_file = dir.join("prod.yaml");
    std::fs::write(&params_file, params("prod")).unwrap();
    let (server, client) = start(&dir, &["--params", params_file.to_str().unwrap()]);
    ready(&server, &client).await;
    let log = server.log();
    let warned = |log: &str| {
        log.lines()
            .filter(|l| {
                l.contains("WARN")
                    && l.contains("parameter object ignored")
                    && l.contains("CmekGateParams \"prod\" is ignored: no binding selects it")
                    && l.contains("prod.yaml")
            })
            .count()
    };
    assert_eq!(warned(&log), 1, "{log}");
    assert_eq!(server.metric("cmek_gate_ignored_params ").await, 1.0);
    let service = std::fs::read(repo().join("examples/service-compliant.yaml")).unwrap();
    let reply = client.send("POST", "/v1/check", &service).await.unwrap();
    assert_eq!(reply.status, 200);
    let report = reply.json();
    assert_eq!(report["ignoredParams"][0]["name"], "prod", "{report}");
    assert_eq!(
        report["ignoredParams"][0]["file"],
        params_file.to_str().unwrap()
    );
    // A reload: still ignored, logged again.
    let mut renamed = params("prod");
    renamed.push_str("  # touched\n");
    std::fs::write(&params_file, renamed).unwrap();
    eventually(&server, "a second load, warned again", || async {
        warned(&server.log()) == 2
    })
    .await;
    // Named `default`: selected, so neither logged nor counted.
    std::fs::write(&params_file, params("default")).unwrap();
    eventually(&server, "a load with nothing ignored", || async {
        server.metric("cmek_gate_policy_set_generation").await == 3.0
    })
    .await;
    assert_eq!(server.metric("cmek_gate_ignored_params ").await, 0.0);
    assert_eq!(warned(&server.log()), 2);
    let reply = client.send("POST", "/v1/check", &service).await.unwrap();
    assert!(reply.json().get("ignoredParams").is_none());
}
