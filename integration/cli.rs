//! The real binary, run as a user runs it: exit codes, output, stdin, options.

use crate::support::{fixtures, gate, gate_in, repo, resource_list, temp_dir};

#[test]
fn the_readme_example_is_denied_and_the_compliant_one_allowed() {
    gate(&["check", "examples/service.yaml"])
        .expect_code(1)
        .stdout_has("DENIED")
        .stdout_has("error[cmek-required]");
    gate(&["check", "examples/service-compliant.yaml"])
        .expect_code(0)
        .stdout_has("allowed");
}

#[test]
fn the_readme_shows_what_the_first_command_prints() {
    let run = gate(&["check", "examples/service.yaml"]);
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    assert!(
        readme.contains(&format!("```\n{}```", run.stdout)),
        "README.md's example output is stale; the command now prints:\n{run}"
    );
}

#[test]
fn json_output_has_the_documented_shape() {
    let run = gate(&["check", "--output", "json", "examples/service.yaml"]);
    run.expect_code(1);
    let report = run.json();
    let result = &report["results"][0];
    for field in [
        "file",
        "document",
        "line",
        "apiVersion",
        "kind",
        "name",
        "namespace",
        "skipped",
        "allowed",
        "violations",
        "warnings",
        "auditAnnotations",
    ] {
        assert!(
            result.get(field).is_some(),
            "results[0] lacks {field}\n{run}"
        );
    }
    let violation = &result["violations"][0];
    for field in ["policy", "binding", "message", "reason", "line"] {
        assert!(
            violation.get(field).is_some(),
            "violation lacks {field}\n{run}"
        );
    }
    assert_eq!(report["summary"]["denied"], 1, "{run}");
}

#[test]
fn stdin_and_directories() {
    let text = std::fs::read(repo().join("examples/service.yaml")).unwrap();
    gate_in(&repo(), &["check", "-"], &text)
        .expect_code(1)
        .stdout_has("<stdin>:");
    // A directory is walked: the Config Sync example repository (Namespaces, a Repo, services).
    let run = gate(&["check", "--output", "json", "examples/config-sync"]);
    run.expect_code(0);
    assert!(
        run.json()["summary"]["documents"].as_u64().unwrap() >= 5,
        "{run}"
    );
    assert!(
        run.json()["summary"]["checked"].as_u64().unwrap() >= 3,
        "{run}"
    );
}

#[test]
fn errors_exit_2_with_the_file_named() {
    gate(&["check", "no/such/file.yaml"])
        .expect_code(2)
        .stderr_has("no/such/file.yaml");
    let hostile = fixtures().join("hostile/duplicate-keys");
    gate_in(&hostile, &["check", "input.yaml"], b"")
        .expect_code(2)
        .stderr_has("input.yaml")
        .stderr_has("duplicate key");
    gate_in(&repo(), &["check", "-"], b"a: [\n")
        .expect_code(2)
        .stderr_has("<stdin>");
    gate(&["check"]).expect_code(2);
}

/// Runs `cmek-gate ARGS` in the repository with `stdin` and the environment variables `env`
/// (the cost limits' variables otherwise unset).
fn gate_with_env(args: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> crate::support::Run {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut command = Command::new(env!("CARGO_BIN_EXE_cmek-gate"));
    command
        .args(args)
        .current_dir(repo())
        .env_remove("CMEK_GATE_POLICIES")
        .env_remove("CMEK_GATE_PARAMS")
        .env_remove("CMEK_GATE_MAX_EXPRESSION_COST")
        .env_remove("CMEK_GATE_MAX_POLICY_COST")
        .env_remove("CMEK_GATE_KUBERNETES_VERSION")
        .env_remove("CMEK_GATE_CEL_EXTENSIONS")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("the binary starts");
    let _ = child.stdin.take().unwrap().write_all(stdin);
    let out = child.wait_with_output().unwrap();
    let shown_env: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v} ")).collect();
    crate::support::Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        command: format!("{}cmek-gate {}", shown_env.concat(), args.join(" ")),
    }
}

#[test]
fn cost_limits_apply_to_every_command_that_loads_policies() {
    let params = std::fs::read_to_string(repo().join("policies/cmek-gate-params.yaml")).unwrap();
    let params_config: String = params
        .lines()
        .filter(|l| !l.starts_with('#') && *l != "---")
        .map(|l| format!("  {l}\n"))
        .collect();
    let plain_list = resource_list("");
    let params_list = resource_list(&format!("functionConfig:\n{params_config}"));
    // Each command, its input, and its exit code within the default limits (the shipped library
    // fits them); over a limit, each refuses the policy naming it (lint reports it, exit 1; the
    // others cannot load it, exit 2).
    let commands: Vec<(Vec<&str>, &[u8], i32)> = vec![
        (vec!["check", "examples/service-compliant.yaml"], b"", 0),
        (vec!["scan", "examples/service-compliant.yaml"], b"", 0),
        (
            vec!["fix", "--diff", "examples/service-compliant.yaml"],
            b"",
            0,
        ),
        (
            vec![
                "gcloud",
                "run",
                "services",
                "replace",
                "examples/service.yaml",
            ],
            b"",
            1,
        ),
        (vec!["krm"], plain_list.as_bytes(), 1),
        (vec!["krm"], params_list.as_bytes(), 1),
        (vec!["test", "policies/tests"], b"", 0),
        (
            vec![
                "eval",
                "--policy",
                "policies/cmek-required.yaml",
                "-f",
                "examples/service.yaml",
            ],
            b"",
            0,
        ),
        (vec!["lint", "policies/cmek-required.yaml"], b"", 0),
    ];
    for (args, stdin, within) in &commands {
        gate_with_env(args, stdin, &[]).expect_code(*within);
        let over = if args[0] == "lint" { 1 } else { 2 };
        for (flag, variable, limit, says) in [
            (
                "--max-expression-cost",
                "CMEK_GATE_MAX_EXPRESSION_COST",
                "100",
                "is over the limit of 100",
            ),
            (
                "--max-policy-cost",
                "CMEK_GATE_MAX_POLICY_COST",
                "1000",
                "is over the limit of 1000",
            ),
        ] {
            let mut with_flag = vec![args[0], flag, limit];
            with_flag.extend(&args[1..]);
            let by_flag = gate_with_env(&with_flag, stdin, &[]);
            let by_env = gate_with_env(args, stdin, &[(variable, limit)]);
            for run in [by_flag, by_env] {
                run.expect_code(over);
                assert!(
                    run.stdout.contains(says) || run.stderr.contains(says),
                    "does not say {says:?}\n{run}"
                );
                assert!(
                    run.stdout.contains("policy \"") || run.stderr.contains("policy \""),
                    "does not name the policy\n{run}"
                );
            }
        }
    }
}

#[test]
fn a_broken_policy_file_is_an_error_naming_it() {
    let dir = temp_dir("broken-policy");
    std::fs::write(
        dir.join("policy.yaml"),
        "apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: broken
spec:
  matchConstraints:
    resourceRules:
      - {apiGroups: ['*'], apiVersions: ['*'], resources: ['*'], operations: ['*']}
  validations:
    - expression: object.metadata.name ==
",
    )
    .unwrap();
    gate_in(
        &dir,
        &[
            "check",
            "--policies",
            "policy.yaml",
            &repo().join("examples/service.yaml").display().to_string(),
        ],
        b"",
    )
    .expect_code(2)
    // The line and column in the policy file: just past the end of the expression.
    .stderr_has(
        "error: cannot load the policies: policy.yaml:10:42: policy \"broken\", spec.validations[0].expression: Syntax error: mismatched input '<EOF>'",
    );
}

/// What Kubernetes refuses when a policy is created (a type error with `object` dyn) stops
/// `check` (exit 2) with the file, line and column; what only the schemas show is a warning on
/// stderr, as Kubernetes' type checking reports it, and the documents are still checked.
#[test]
fn type_errors_refuse_the_policy_and_schema_mistakes_are_warnings() {
    let dir = temp_dir("type-errors");
    let policy = |expression: &str| {
        format!(
            "apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: typed
spec:
  matchConstraints:
    resourceRules:
      - {{apiGroups: [serving.knative.dev], apiVersions: ['*'], resources: [services], operations: ['*']}}
  validations:
    - expression: \"{expression}\"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: typed
spec:
  policyName: typed
  validationActions: [Deny]
"
        )
    };
    let service = repo().join("examples/service.yaml").display().to_string();
    std::fs::write(
        dir.join("refused.yaml"),
        policy("object.metadata.name.startsWith(1)"),
    )
    .unwrap();
    gate_in(&dir, &["check", "--policies", "refused.yaml", &service], b"")
        .expect_code(2)
        .stderr_has(
            "error: cannot load the policies: refused.yaml:10:51: policy \"typed\", spec.validations[0].expression: found no matching overload for 'startsWith' applied to 'dyn.(int)'",
        );
    std::fs::write(
        dir.join("warned.yaml"),
        policy("size(object.spec.template.spec.containerConcurrency) >= 0"),
    )
    .unwrap();
    // Loaded, and the mistake the warning names fails at run time (failurePolicy Fail denies).
    gate_in(&dir, &["check", "--policies", "warned.yaml", &service], b"")
        .expect_code(1)
        .stdout_has("resulted in error: no matching overload for 'size' applied to '(int)'")
        .stderr_has(
            "warning: warned.yaml:10:24: policy \"typed\", spec.validations[0].expression: found no matching overload for 'size' applied to '(int)', with object typed from the schema of serving.knative.dev/v1 Service (Kubernetes reports this as a type-checking warning)",
        );
}

/// The server logs a schema-typed mistake as a WARN line at start (and serves the policy).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_logs_schema_typed_mistakes() {
    use crate::server::{ready, start};
    let dir = temp_dir("type-warnings-serve");
    let policy = dir.join("warned.yaml");
    std::fs::write(
        &policy,
        "apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: typed
spec:
  matchConstraints:
    resourceRules:
      - {apiGroups: [serving.knative.dev], apiVersions: ['*'], resources: [services], operations: ['*']}
  validations:
    - expression: \"size(object.spec.template.spec.containerConcurrency) >= 0\"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: typed
spec:
  policyName: typed
  validationActions: [Deny]
",
    )
    .unwrap();
    let (server, client) = start(&dir, &["--policies", policy.to_str().unwrap()]);
    ready(&server, &client).await;
    let log = server.log();
    let warned = log
        .lines()
        .filter(|l| {
            l.contains("WARN")
                && l.contains("type checking against the schemas")
                && l.contains("warned.yaml:10:24: policy \"typed\", spec.validations[0].expression: found no matching overload for 'size' applied to '(int)'")
        })
        .count();
    assert_eq!(warned, 1, "{log}");
}

#[test]
fn params_replace_the_defaults() {
    let dir = temp_dir("params");
    let compliant = repo()
        .join("examples/service-compliant.yaml")
        .display()
        .to_string();
    std::fs::write(
        dir.join("params.yaml"),
        "apiVersion: cmek-gate.dev/v1alpha1
kind: CmekGateParams
metadata:
  name: default
spec:
  sensitiveLabels:
    - key: data-classification
      values: [confidential, restricted, sensitive, regulated]
  classificationLabel: data-classification
  nonSensitiveClassifications: [public, internal]
  ownerLabels: [owner, team]
  allowedKeyProjects: [some-other-project]
",
    )
    .unwrap();
    gate_in(&dir, &["check", &compliant], b"").expect_code(0);
    gate_in(&dir, &["check", "--params", "params.yaml", &compliant], b"")
        .expect_code(1)
        .stdout_has("error[cmek-key-project]");
}

#[test]
fn eval_prints_values_errors_and_policy_traces() {
    let run = gate(&[
        "eval",
        "-e",
        "object.metadata.labels",
        "-f",
        "examples/service.yaml",
    ]);
    run.expect_code(0);
    let first_key = run.stdout.lines().nth(1).unwrap_or_default().to_owned();
    assert!(
        first_key.contains("\"cloud.googleapis.com/location\""),
        "keys are sorted\n{run}"
    );
    gate(&[
        "eval",
        "-e",
        "object.spec.nope",
        "-f",
        "examples/service.yaml",
    ])
    .expect_code(1)
    .stderr_has("nope");
    gate(&[
        "eval",
        "-e",
        "object.metadata.",
        "-f",
        "examples/service.yaml",
    ])
    .expect_code(2)
    .stderr_has("line 1, column");
    gate(&[
        "eval",
        "--policy",
        "policies/cmek-required.yaml",
        "-f",
        "examples/service.yaml",
    ])
    .expect_code(0)
    .stdout_has("policy cmek-required (params CmekGateParams/default)")
    .stdout_has("variables.sensitive = true")
    .stdout_has("validations[0] !variables.sensitive || variables.hasKey => false");
    gate(&[
        "eval",
        "-e",
        "1",
        "-f",
        "examples/service.yaml",
        "--document",
        "3",
    ])
    .expect_code(2)
    .stderr_has("there is no document 3");
}

#[test]
fn test_runs_suites_and_fails_on_a_wrong_expectation() {
    let run = gate(&["test", "policies/tests"]);
    run.expect_code(0);
    let last = run.stdout.lines().last().unwrap_or_default().to_owned();
    assert!(last.ends_with(" passed, 0 failed"), "{run}");
    let dir = temp_dir("suite-failing");
    std::fs::write(
        dir.join("suite.yaml"),
        format!(
            "apiVersion: cmek-gate.dev/v1alpha1
kind: PolicyTest
metadata: {{name: wrong}}
cases:
  - name: expects the denied example to be allowed
    objectFile: {}
    expect: {{allowed: true}}
",
            repo().join("examples/service.yaml").display()
        ),
    )
    .unwrap();
    gate_in(&dir, &["test"], b"")
        .expect_code(1)
        .stdout_has("... FAILED")
        .stdout_has("allowed: expected true, got false")
        .stdout_has("0 passed, 1 failed");
    std::fs::write(
        dir.join("suite.yaml"),
        "apiVersion: cmek-gate.dev/v1alpha1\nkind: PolicyTest\ncases: [{name: x}]\n",
    )
    .unwrap();
    gate_in(&dir, &["test"], b"")
        .expect_code(2)
        .stderr_has("cases[0]: missing field `expect`");
}

/// Each file that hides a sensitive Service behind a construct kubectl or gcloud read differently
/// is refused by `check` (exit 2, the construct and its line named), and `fix` leaves it byte for
/// byte as it was (exit 2).
#[test]
fn test_without_paths_runs_the_suites_in_policies_tests_and_nothing_else() {
    // In the repository root, whose fixtures include hostile YAML: the shipped suites only.
    let default = gate(&["test"]);
    default.expect_code(0);
    let explicit = gate(&["test", "policies/tests"]);
    explicit.expect_code(0);
    assert_eq!(default.stdout, explicit.stdout, "{default}");
    assert!(
        default
            .stdout
            .lines()
            .all(|l| !l.starts_with("running") || l.contains("from policies/tests/")),
        "{default}"
    );
    // Elsewhere it walks the current directory, and says where it looked when nothing is there.
    let empty = temp_dir("test-no-suites");
    gate_in(&empty, &["test"], b"")
        .expect_code(2)
        .stderr_has("no test suites (files of kind PolicyTest) under [\".\"] (with no path given, policies/tests if it exists, else .)");
}

#[test]
fn disguised_services_are_refused_by_check_and_left_untouched_by_fix() {
    let dir = temp_dir("disguised");
    let params = fixtures().join("mutation/default-keys-params.yaml");
    let params = params.display().to_string();
    let variants = crate::disguised::variants();
    assert!(variants.len() >= 10);
    for variant in &variants {
        let file = format!("{}.yaml", variant.name);
        std::fs::write(dir.join(&file), &variant.text).unwrap();
        let line = format!("line {}", variant.line);
        gate_in(&dir, &["check", &file], b"")
            .expect_code(2)
            .stderr_has(&file)
            .stderr_has(variant.message)
            .stderr_has(&line);
        let json = gate_in(&dir, &["check", "--output", "json", &file], b"");
        json.expect_code(2);
        assert_eq!(
            json.json()["summary"]["allowed"],
            0,
            "{}\n{json}",
            variant.name
        );
        gate_in(&dir, &["fix", "--params", &params, &file], b"")
            .expect_code(2)
            .stderr_has(variant.message);
        assert_eq!(
            std::fs::read(dir.join(&file)).unwrap(),
            variant.text,
            "{}: fix changed the file",
            variant.name
        );
    }
    // The whole directory: every file refused, nothing allowed, nothing written.
    let run = gate_in(&dir, &["check", "--output", "json", "."], b"");
    run.expect_code(2);
    assert_eq!(
        run.json()["summary"]["errors"],
        variants.len(),
        "one error per file\n{run}"
    );
}

/// Puts a file (or link, or FIFO) into a test folder.
type Place<'a> = dyn Fn(&std::path::Path) + 'a;

/// A directory is read as any consumer might read it: hidden files and folders, extensions in
/// any case and symbolic links are judged; loops, dangling links and FIFOs are errors; a file
/// reached twice counts once. A denied Service in any of those places is never "allowed".
#[test]
fn directories_are_walked_as_a_consumer_might_apply_them() {
    let denied = std::fs::read(repo().join("examples/service.yaml")).unwrap();
    let allowed = std::fs::read(repo().join("examples/service-compliant.yaml")).unwrap();
    let root = temp_dir("walk");
    let outside = root.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("svc.yaml"), &denied).unwrap();
    // (case, how the denied Service is placed) -> exit 1 and one denied document.
    let placements: &[(&str, &Place)] = &[
        ("hidden-file", &|d| {
            std::fs::write(d.join(".svc.yaml"), &denied).unwrap()
        }),
        ("named-only-by-its-extension", &|d| {
            std::fs::write(d.join(".yaml"), &denied).unwrap()
        }),
        ("hidden-folder", &|d| {
            std::fs::create_dir_all(d.join(".hidden/deeper")).unwrap();
            std::fs::write(d.join(".hidden/deeper/svc.yml"), &denied).unwrap();
        }),
        ("upper-case-extension", &|d| {
            std::fs::write(d.join("svc.YAML"), &denied).unwrap()
        }),
        ("mixed-case-json", &|d| {
            std::fs::write(
                d.join("svc.Json"),
                br#"{"apiVersion": "serving.knative.dev/v1", "kind": "Service", "metadata": {"name": "j", "labels": {"data-classification": "confidential"}}, "spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}}"#,
            )
            .unwrap()
        }),
        ("symlink-to-a-file", &|d| {
            std::os::unix::fs::symlink(outside.join("svc.yaml"), d.join("link.yaml")).unwrap()
        }),
        ("symlink-to-a-folder", &|d| {
            std::os::unix::fs::symlink(&outside, d.join("linked")).unwrap()
        }),
    ];
    for (case, place) in placements {
        let dir = root.join(case);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ok.yaml"), &allowed).unwrap();
        place(&dir);
        gate(&["check", &dir.display().to_string()])
            .expect_code(1)
            .stdout_has("2 documents: 1 allowed, 1 denied");
        let scan = gate(&["scan", "--output", "json", &dir.display().to_string()]);
        scan.expect_code(0);
        assert_eq!(scan.json()["total"]["resources"], 2, "{case}\n{scan}");
    }
    // A file reached twice (through a link) counts once.
    let twice = root.join("twice");
    std::fs::create_dir_all(&twice).unwrap();
    std::fs::write(twice.join("svc.yaml"), &denied).unwrap();
    std::os::unix::fs::symlink(twice.join("svc.yaml"), twice.join("again.yaml")).unwrap();
    gate(&["check", &twice.display().to_string()])
        .expect_code(1)
        .stdout_has("1 document: 0 allowed, 1 denied");
    // Errors, never skipped: a loop, a dangling link, a FIFO. (Tests run as root, which reads
    // any file whatever its mode: an unreadable file is what a dangling link is to a reader.)
    let errors: &[(&str, &Place, &str)] = &[
        (
            "symlink-loop",
            &|d| std::os::unix::fs::symlink(d, d.join("loop")).unwrap(),
            "symbolic link loop",
        ),
        (
            "dangling-symlink",
            &|d| std::os::unix::fs::symlink(d.join("gone"), d.join("gone.yaml")).unwrap(),
            "dangling symbolic link",
        ),
        (
            "fifo",
            &|d| {
                let made = std::process::Command::new("mkfifo")
                    .arg(d.join("pipe.yaml"))
                    .status()
                    .unwrap();
                assert!(made.success());
            },
            "not a regular file",
        ),
    ];
    for (case, place, message) in errors {
        let dir = root.join(case);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("svc.yaml"), &denied).unwrap();
        place(&dir);
        gate(&["check", &dir.display().to_string()])
            .expect_code(2)
            .stderr_has(message);
    }
    // `.git` folders are not entered: git's own files are not manifests any consumer applies.
    let git = root.join("git");
    std::fs::create_dir_all(git.join(".git")).unwrap();
    std::fs::write(git.join("ok.yaml"), &allowed).unwrap();
    std::fs::write(git.join(".git/svc.yaml"), &denied).unwrap();
    gate(&["check", &git.display().to_string()])
        .expect_code(0)
        .stdout_has("1 document: 1 allowed");
    // `fix DIR` walks the same way: the hidden file gets the key.
    let fix_dir = root.join("fix-hidden");
    std::fs::create_dir_all(fix_dir.join(".hidden")).unwrap();
    std::fs::write(fix_dir.join(".hidden/svc.yaml"), &denied).unwrap();
    let params = fixtures().join("mutation/default-keys-params.yaml");
    gate(&[
        "fix",
        "--params",
        &params.display().to_string(),
        &fix_dir.display().to_string(),
    ])
    .expect_code(0);
    let fixed = std::fs::read_to_string(fix_dir.join(".hidden/svc.yaml")).unwrap();
    assert!(
        fixed.contains("run.googleapis.com/encryption-key"),
        "{fixed}"
    );
}

/// How many times `needle` occurs in `haystack`.
fn occurrences(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

#[test]
fn errors_name_their_cause_once() {
    let dir = temp_dir("errors-once");
    crate::server_support::make_certs(&dir, false);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (cert, key) = (dir.join("tls.crt"), dir.join("tls.key"));
    let run = gate(&[
        "serve",
        "--cert",
        cert.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
        "--listen",
        &addr,
        "--metrics-listen",
        "off",
    ]);
    run.expect_code(2)
        .stderr_has(&format!("cannot listen on {addr}: "));
    let in_use = std::io::Error::from_raw_os_error(98).to_string();
    assert_eq!(occurrences(&run.stderr, &in_use), 1, "{}", run.stderr);

    let missing = dir.join("missing.yaml");
    let missing = missing.to_str().unwrap();
    for command in ["lint", "check"] {
        let run = gate(&[command, missing]);
        run.expect_code(2).stderr_has(missing);
        assert_eq!(occurrences(&run.stderr, missing), 1, "{}", run.stderr);
    }
}

#[test]
fn certs_keeps_an_existing_ca_unless_forced() {
    let dir = temp_dir("certs-force");
    let out = dir.to_str().unwrap();
    let first = gate(&["certs", "--out", out, "--dns", "localhost"]);
    first.expect_code(0);
    let ca = std::fs::read_to_string(dir.join("ca.crt")).unwrap();
    let again = gate(&["certs", "--out", out, "--dns", "localhost"]);
    again
        .expect_code(2)
        .stderr_has("ca.crt exists")
        .stderr_has("--force");
    assert_eq!(std::fs::read_to_string(dir.join("ca.crt")).unwrap(), ca);
    let forced = gate(&["certs", "--out", out, "--dns", "localhost", "--force"]);
    forced.expect_code(0);
    assert_ne!(std::fs::read_to_string(dir.join("ca.crt")).unwrap(), ca);
    assert_eq!(forced.stdout.trim(), {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(std::fs::read(dir.join("ca.crt")).unwrap())
    });
}

/// `serve`'s durations: humantime's syntax or a bare number of seconds; a duration too large
/// for the clock is refused with exit 2 naming the flag (it used to panic, exit 101).
#[test]
fn serve_refuses_durations_it_cannot_hold_without_a_panic() {
    for (flag, value) in [
        ("--read-timeout", "99999999999999999999999s"),
        ("--shutdown-grace", "99999999999999999999999"),
        ("--reload-interval", "10 parsecs"),
        ("--evaluation-queue-timeout", "-1s"),
    ] {
        let flag_value = format!("{flag}={value}");
        gate(&["serve", "--cert", "c.pem", "--key", "k.pem", &flag_value])
            .expect_code(2)
            .stderr_has(&format!("invalid value '{value}' for '{flag}"))
            .stderr_has("is not a duration such as 10s or 500ms");
    }
}

/// A policy only Kubernetes 1.37 compiles (`list.includes`), bound to Services, and one that
/// uses the math extension, asking for it.
const INCLUDES_POLICY: &str = "apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: name-not-forbidden
spec:
  matchConstraints:
    resourceRules:
      - apiGroups: [serving.knative.dev]
        apiVersions: ['*']
        resources: [services]
        operations: [CREATE, UPDATE]
  validations:
    - expression: \"!['forbidden'].includes(object.metadata.name)\"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: name-not-forbidden
spec:
  policyName: name-not-forbidden
  validationActions: [Deny]
";

/// `args` with `extra` after the subcommand.
fn with<'a>(args: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec![args[0]];
    all.extend(extra);
    all.extend(&args[1..]);
    all
}

#[test]
fn the_kubernetes_version_is_a_flag_a_variable_or_a_params_field_of_every_command() {
    let dir = temp_dir("kubernetes-version");
    let policy = dir.join("policy.yaml");
    std::fs::write(&policy, INCLUDES_POLICY).unwrap();
    let params = |version: &str| {
        let path = dir.join(format!("params-{version}.yaml"));
        // The shipped parameters (they replace them), with the release.
        let shipped =
            std::fs::read_to_string(repo().join("policies/cmek-gate-params.yaml")).unwrap();
        std::fs::write(
            &path,
            format!("{shipped}  kubernetesVersion: '{version}'\n"),
        )
        .unwrap();
        path.to_str().unwrap().to_owned()
    };
    let (old, new) = (params("1.36"), params("1.37"));
    let policy = policy.to_str().unwrap();
    let list = resource_list("");
    let commands: Vec<(Vec<&str>, &[u8], i32)> = vec![
        (
            vec![
                "check",
                "--policies",
                policy,
                "examples/service-compliant.yaml",
            ],
            b"",
            0,
        ),
        (
            // With the library, whose cmek-required says what is sensitive (scan needs one).
            vec![
                "scan",
                "--policies",
                "policies",
                "--policies",
                policy,
                "examples/service-compliant.yaml",
            ],
            b"",
            0,
        ),
        (
            vec![
                "fix",
                "--diff",
                "--policies",
                "policies",
                "--policies",
                policy,
                "examples/service-compliant.yaml",
            ],
            b"",
            0,
        ),
        (vec!["krm", "--policies", policy], list.as_bytes(), 0),
        (
            vec!["eval", "--policy", policy, "-f", "examples/service.yaml"],
            b"",
            0,
        ),
        (vec!["lint", policy], b"", 0),
    ];
    let refusal = "`list.includes()` needs Kubernetes 1.37 or newer; --kubernetes-version is 1.36";
    for (args, stdin, within) in &commands {
        gate_with_env(args, stdin, &[]).expect_code(*within);
        gate_with_env(&with(args, &["--kubernetes-version", "1.37"]), stdin, &[])
            .expect_code(*within);
        let over = if args[0] == "lint" { 1 } else { 2 };
        let params_flag = "--params";
        let refused = [
            gate_with_env(&with(args, &["--kubernetes-version", "1.36"]), stdin, &[]),
            gate_with_env(args, stdin, &[("CMEK_GATE_KUBERNETES_VERSION", "1.36")]),
        ];
        for run in refused {
            run.expect_code(over);
            assert!(
                run.stdout.contains(refusal) || run.stderr.contains(refusal),
                "does not say {refusal:?}\n{run}"
            );
        }
        if args[0] != "lint" {
            gate_with_env(&with(args, &[params_flag, &old]), stdin, &[]).expect_code(over);
            gate_with_env(&with(args, &[params_flag, &new]), stdin, &[]).expect_code(*within);
            // The flag wins over the parameter object.
            gate_with_env(
                &with(args, &["--kubernetes-version", "1.37", params_flag, &old]),
                stdin,
                &[],
            )
            .expect_code(*within);
        }
        for (bad, says) in [
            (
                "1.29",
                "Kubernetes 1.29 is not supported: the gate targets 1.30 to 1.37",
            ),
            ("1.38", "Kubernetes 1.38 is not supported"),
            (
                "one.thirty",
                "\"one.thirty\" is not a Kubernetes version: write MAJOR.MINOR",
            ),
        ] {
            for run in [
                gate_with_env(&with(args, &["--kubernetes-version", bad]), stdin, &[]),
                gate_with_env(args, stdin, &[("CMEK_GATE_KUBERNETES_VERSION", bad)]),
            ] {
                run.expect_code(2);
                assert!(run.stderr.contains(says), "does not say {says:?}\n{run}");
            }
        }
    }
}

#[test]
fn extensions_are_asked_for_by_annotation_or_flag() {
    let dir = temp_dir("cel-extensions");
    let policy = |annotation: &str| {
        let text = INCLUDES_POLICY
            .replace(
                "  name: name-not-forbidden\nspec:",
                &format!("  name: name-not-forbidden\n{annotation}spec:"),
            )
            .replace(
                "!['forbidden'].includes(object.metadata.name)",
                "math.abs(size(object.metadata.name)) < 50",
            );
        let path = dir.join(format!("policy-{}.yaml", annotation.len()));
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let plain = policy("");
    let asking = policy("  annotations:\n    cmek-gate.dev/cel-extensions: math\n");
    let unknown = policy("  annotations:\n    cmek-gate.dev/cel-extensions: maths\n");
    let check = |path: &str, env: &[(&str, &str)]| {
        gate_with_env(
            &[
                "check",
                "--policies",
                path,
                "examples/service-compliant.yaml",
            ],
            b"",
            env,
        )
    };
    let refused = check(&plain, &[]);
    refused.expect_code(2);
    assert!(
        refused.stderr.contains("`math.abs()` is not in Kubernetes' CEL: it is cmek-gate's \"math\" extension; ask for it with the policy annotation cmek-gate.dev/cel-extensions: \"math\""),
        "{refused}"
    );
    check(&asking, &[]).expect_code(0);
    check(&plain, &[("CMEK_GATE_CEL_EXTENSIONS", "math")]).expect_code(0);
    gate_with_env(
        &[
            "check",
            "--cel-extensions",
            "math,bind",
            "--policies",
            &plain,
            "examples/service-compliant.yaml",
        ],
        b"",
        &[],
    )
    .expect_code(0);
    let run = check(&unknown, &[]);
    run.expect_code(2);
    assert!(
        run.stderr.contains("unknown CEL extension \"maths\" (the extensions are math, encoders, bind, strings, kms)"),
        "{run}"
    );
    let run = gate_with_env(
        &[
            "check",
            "--cel-extensions",
            "math,nope",
            "examples/service-compliant.yaml",
        ],
        b"",
        &[],
    );
    run.expect_code(2);
    assert!(
        run.stderr.contains("unknown CEL extension \"nope\""),
        "{run}"
    );
}
