//! Every command that loads policies refuses a set that binds nothing (exit 2, naming the
//! paths): an empty directory, or policies without their bindings, would allow everything.

use crate::support::{fixtures, gate_in, repo, temp_dir};

const RESOURCE_LIST: &str = "apiVersion: config.kubernetes.io/v1
kind: ResourceList
items:
  - apiVersion: serving.knative.dev/v1
    kind: Service
    metadata: {name: api, namespace: '123'}
    spec: {template: {spec: {containers: [{image: x}]}}}
";

#[test]
fn every_command_refuses_a_policy_set_that_binds_nothing() {
    let dir = temp_dir("cli-binds-nothing");
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let only_policy = dir.join("only-policy");
    std::fs::create_dir_all(&only_policy).unwrap();
    std::fs::copy(
        fixtures().join("reload/policies/blocked-name-policy.yaml"),
        only_policy.join("blocked-name-policy.yaml"),
    )
    .unwrap();
    let service = repo().join("examples/service.yaml");
    let service = service.to_str().unwrap();
    for policies in [&empty, &only_policy] {
        let policies = policies.to_str().unwrap();
        let commands: [(&[&str], &str); 6] = [
            (&["check", "--policies", policies, service], ""),
            (
                &["check", "--output", "json", "--policies", policies, service],
                "",
            ),
            (&["fix", "--stdout", "--policies", policies, service], ""),
            (&["scan", "--policies", policies, service], ""),
            (&["krm", "--policies", policies], RESOURCE_LIST),
            (&["krm", "--mutate", "--policies", policies], RESOURCE_LIST),
        ];
        for (args, stdin) in commands {
            gate_in(&dir, args, stdin.as_bytes())
                .expect_code(2)
                .stderr_has(&format!("{policies}: no policy is bound"));
        }
    }
    // With its binding, the same policy is a set, and denies.
    let bound = fixtures().join("reload/policies");
    let blocked = fixtures().join("reload/blocked-service.yaml");
    gate_in(
        &dir,
        &[
            "check",
            "--policies",
            bound.to_str().unwrap(),
            blocked.to_str().unwrap(),
        ],
        b"",
    )
    .expect_code(1)
    .stdout_has("error[blocked-name]");
}

#[test]
fn a_test_suite_whose_policies_bind_nothing_is_an_error() {
    let dir = temp_dir("suite-binds-nothing");
    std::fs::copy(
        fixtures().join("reload/policies/blocked-name-policy.yaml"),
        dir.join("blocked-name-policy.yaml"),
    )
    .unwrap();
    std::fs::write(
        dir.join("suite.yaml"),
        "apiVersion: cmek-gate.dev/v1alpha1
kind: PolicyTest
metadata: {name: unbound}
policies: [blocked-name-policy.yaml]
cases:
  - name: would pass with nothing bound
    object:
      apiVersion: serving.knative.dev/v1
      kind: Service
      metadata: {name: blocked-api, namespace: '123'}
      spec: {template: {spec: {containers: [{image: x}]}}}
    expect: {allowed: true}
",
    )
    .unwrap();
    gate_in(&dir, &["test", "suite.yaml"], b"")
        .expect_code(2)
        .stderr_has("blocked-name-policy.yaml: no policy is bound");
}
