//! A binding's `namespaceSelector` that needs labels nobody gave is undecided, never silently
//! skipped: the CLI exits 2 with a message and a JSON `undecided` entry, the server denies, and
//! the user decides with a Namespace document, `--namespace-labels` or `--unknown-namespaces`.

use crate::server::{admission, ready, start};
use crate::support::{fixtures, gate, temp_dir};

fn fixture(name: &str) -> String {
    fixtures()
        .join("namespace-selector")
        .join(name)
        .display()
        .to_string()
}

fn check(extra: &[&str]) -> crate::support::Run {
    let (policy, services) = (fixture("policy.yaml"), fixture("services.yaml"));
    let mut args = vec!["check", "--policies", &policy, &services];
    args.extend(extra);
    gate(&args)
}

#[test]
fn an_undecidable_namespace_selector_is_an_error_naming_the_binding_and_namespace() {
    let run = check(&[]);
    run.expect_code(2)
        .stdout_has("Service api in demo: UNDECIDED")
        .stdout_has("undecided[key-required.example.com]: binding \"key-required-binding-test.example.com\"")
        .stdout_has("the labels of namespace \"demo\" are not known")
        .stdout_has("--namespace-labels demo=KEY=VALUE")
        .stdout_has("3 documents undecided")
        .stderr_has("services.yaml:2: Service api: binding");
    let run = check(&["--output", "json"]);
    run.expect_code(2);
    let report = run.json();
    assert_eq!(report["summary"]["undecided"], 3, "{run}");
    assert_eq!(report["summary"]["skipped"], 0, "{run}");
    for result in report["results"].as_array().unwrap() {
        assert_eq!(result["allowed"], false);
        assert_eq!(result["skipped"], false);
        let undecided = &result["undecided"][0];
        assert_eq!(
            undecided["binding"],
            "key-required-binding-test.example.com"
        );
        assert_eq!(undecided["policy"], "key-required.example.com");
        assert_eq!(undecided["namespace"], "demo");
    }
    let run = check(&["--output", "sarif"]);
    run.expect_code(2);
    let invocation = &run.json()["runs"][0]["invocations"][0];
    assert_eq!(invocation["executionSuccessful"], false, "{run}");
    assert_eq!(
        invocation["toolExecutionNotifications"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[test]
fn the_ways_to_decide_a_namespace_selector() {
    let namespace = fixture("namespace-test.yaml");
    // (extra arguments, exit code, what stdout says)
    let cases: [(&[&str], i32, &str); 6] = [
        (
            &["--namespace-labels", "demo=environment=test"],
            1,
            "3 denied, 0 skipped",
        ),
        (
            &["--namespace-labels", "demo=environment=prod,team=a"],
            0,
            "0 denied, 3 skipped",
        ),
        (&[&namespace], 1, "3 denied, 1 skipped"),
        (
            &["--unknown-namespaces", "no-match"],
            0,
            "0 denied, 3 skipped",
        ),
        (
            &["--unknown-namespaces", "match-all"],
            1,
            "3 denied, 0 skipped",
        ),
        // Labels for another namespace leave demo undecided.
        (
            &["--namespace-labels", "other=environment=test"],
            2,
            "0 denied, 0 skipped",
        ),
    ];
    for (extra, code, says) in cases {
        check(extra).expect_code(code).stdout_has(says);
    }
    check(&["--namespace-labels", "demo"])
        .expect_code(2)
        .stderr_has("expected NAMESPACE=KEY=VALUE");
}

#[test]
fn scan_and_krm_do_not_skip_an_undecidable_selector() {
    let (policy, services) = (fixture("policy.yaml"), fixture("services.yaml"));
    gate(&["scan", "--policies", &policy, &services])
        .expect_code(2)
        .stderr_has("the labels of namespace \"demo\" are not known");
    gate(&[
        "scan",
        "--policies",
        &policy,
        "--unknown-namespaces",
        "no-match",
        &services,
    ])
    .expect_code(0);
    let list = "apiVersion: config.kubernetes.io/v1
kind: ResourceList
items:
  - apiVersion: serving.knative.dev/v1
    kind: Service
    metadata: {name: api, namespace: demo}
    spec: {template: {spec: {containers: [{image: x}]}}}
";
    let dir = temp_dir("namespaces-krm");
    let run = crate::support::gate_in(&dir, &["krm", "--policies", &policy], list.as_bytes());
    run.expect_code(1)
        .stdout_has(r#"undecided: binding \"key-required-binding-test.example.com\""#);
    crate::support::gate_in(
        &dir,
        &[
            "krm",
            "--policies",
            &policy,
            "--namespace-labels",
            "demo=environment=prod",
        ],
        list.as_bytes(),
    )
    .expect_code(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_denies_an_undecidable_selector_unless_told_the_labels() {
    let policy = fixture("policy.yaml");
    let services = std::fs::read(fixture("services.yaml")).unwrap();
    // The review of a Service without a key in namespace "payments".
    let review = admission("create-denied");
    let dir = temp_dir("namespaces-server");
    let (server, client) = start(&dir, &["--policies", &policy]);
    ready(&server, &client).await;
    let reply = client.send("POST", "/v1/check", &services).await.unwrap();
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["summary"]["undecided"], 3);
    let reply = client.send("POST", "/validate", &review).await.unwrap();
    let response = &reply.json()["response"];
    assert_eq!(response["allowed"], false, "{response}");
    let message = response["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("undecided") && message.contains("namespace \"payments\""),
        "{message}"
    );
    drop(server);

    let dir = temp_dir("namespaces-server-labels");
    let (server, client) = start(
        &dir,
        &[
            "--policies",
            &policy,
            "--namespace-labels",
            "demo=environment=test",
            "--namespace-labels",
            "payments=environment=prod",
        ],
    );
    ready(&server, &client).await;
    let reply = client.send("POST", "/v1/check", &services).await.unwrap();
    assert_eq!(reply.status, 403, "the key-less Services are denied");
    let reply = client.send("POST", "/validate", &review).await.unwrap();
    assert_eq!(
        reply.json()["response"]["allowed"],
        true,
        "payments is not environment=test: the binding does not apply"
    );
}
