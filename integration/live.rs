//! Live checks end to end: the real `cmek-gate` (`check --live`, and `serve --live` through the
//! webhook and the Cloud Run API gate) reading a local fake of Google's APIs over TLS
//! ([`crate::fake_google`]: it stands in only for Cloud KMS, Resource Manager and Artifact
//! Registry; the gate, its live policies and its Google client are the real ones).

use crate::fake_google::{FakeGoogle, World};
use crate::server_support::{make_certs, Client, FakeUpstream, Server};
use crate::support::{gate, temp_dir};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

const RING: &str = "projects/keys-prod/locations/europe-west1/keyRings/run";
const AGENT: &str =
    "serviceAccount:service-123456789012@serverless-robot-prod.iam.gserviceaccount.com";

pub(crate) fn key(name: &str) -> String {
    format!("{RING}/cryptoKeys/{name}")
}

fn enabled(purpose: &str, state: &str) -> Value {
    json!({"purpose": purpose, "rotationPeriod": "7776000s", "nextRotationTime": "2027-01-01T00:00:00Z",
           "primary": {"name": "v/1", "state": state, "protectionLevel": "SOFTWARE",
                       "algorithm": "GOOGLE_SYMMETRIC_ENCRYPTION"},
           "versionTemplate": {"protectionLevel": "SOFTWARE", "algorithm": "GOOGLE_SYMMETRIC_ENCRYPTION"}})
}

fn granted() -> Value {
    json!({"version": 1, "etag": "BwX=", "bindings": [
        {"role": "roles/cloudkms.cryptoKeyEncrypterDecrypter", "members": [AGENT]}]})
}

/// Keys in every state the live policies judge, and the agent's role granted at each level.
pub(crate) fn world() -> World {
    let ok = || enabled("ENCRYPT_DECRYPT", "ENABLED");
    World {
        keys: vec![
            (key("payments"), ok()),
            (key("disabled"), enabled("ENCRYPT_DECRYPT", "DISABLED")),
            (key("destroyed"), enabled("ENCRYPT_DECRYPT", "DESTROYED")),
            (key("scheduled"), enabled("ENCRYPT_DECRYPT", "DESTROY_SCHEDULED")),
            (key("signing"), enabled("ASYMMETRIC_SIGN", "ENABLED")),
            (key("ungranted"), ok()),
            (key("forbidden"), ok()),
            (key("flaky"), ok()),
            (key("hang"), ok()),
            (key("refresh"), ok()),
            (format!("{}/cryptoKeys/ring-granted", RING.replace("/run", "/other")), ok()),
            (
                "projects/keys-shared/locations/europe-west1/keyRings/run/cryptoKeys/project-granted".into(),
                ok(),
            ),
        ],
        projects: vec![("run-project".into(), "123456789012".into())],
        iam: vec![
            (key("payments"), granted()),
            (key("disabled"), granted()),
            (key("destroyed"), granted()),
            (key("scheduled"), granted()),
            (key("signing"), granted()),
            (key("flaky"), granted()),
            (key("hang"), granted()),
            (key("refresh"), granted()),
            (RING.replace("/run", "/other"), granted()),
            ("projects/keys-shared".into(), granted()),
        ],
        repositories: Vec::new(),
        forbidden_iam: vec![key("forbidden")],
        flaky: vec![key("flaky")],
        hang: vec![key("hang")],
    }
}

/// A Service deploying into run-project with this key.
fn service(name: &str, key: &str) -> Value {
    json!({"apiVersion": "serving.knative.dev/v1", "kind": "Service",
           "metadata": {"name": name, "namespace": "run-project"},
           "spec": {"template": {"metadata": {"annotations": {"run.googleapis.com/encryption-key": key}},
                                 "spec": {"containers": [{"image": "docker.io/library/nginx:1"}]}}}})
}

fn write_services(dir: &Path, services: &[Value]) -> std::path::PathBuf {
    let path = dir.join("services.yaml");
    let text: Vec<String> = services.iter().map(|s| s.to_string()).collect();
    std::fs::write(&path, text.join("\n---\n")).unwrap();
    path
}

pub(crate) fn token_file(dir: &Path, token: &str) -> std::path::PathBuf {
    let path = dir.join("token");
    std::fs::write(&path, format!("{token}\n")).unwrap();
    path
}

/// `check --live` through the CLI: every key state, every IAM level, a 403 on getIamPolicy, a
/// 429 then success; each document's verdict and message.
#[test]
fn check_live_judges_every_key_state_and_iam_level() {
    let dir = temp_dir("live-check");
    let google = FakeGoogle::start(&dir, world(), "token-1");
    let cases: Vec<(&str, String, &[&str], &str)> = vec![
        ("payments", key("payments"), &[], ""),
        ("disabled", key("disabled"), &["cmek-key-usable"], "primary version is DISABLED, not ENABLED"),
        ("destroyed", key("destroyed"), &["cmek-key-usable"], "primary version is DESTROYED"),
        ("scheduled", key("scheduled"), &["cmek-key-usable"], "primary version is DESTROY_SCHEDULED"),
        ("signing", key("signing"), &["cmek-key-usable"], "has purpose ASYMMETRIC_SIGN, not ENCRYPT_DECRYPT"),
        ("missing", key("missing"), &["cmek-key-usable"], "does not exist"),
        ("ring-granted", format!("{}/cryptoKeys/ring-granted", RING.replace("/run", "/other")), &[], ""),
        ("project-granted", "projects/keys-shared/locations/europe-west1/keyRings/run/cryptoKeys/project-granted".into(), &[], ""),
        ("ungranted", key("ungranted"), &["cmek-key-iam"],
            "Grant it: gcloud kms keys add-iam-policy-binding ungranted --keyring run --location europe-west1 --project keys-prod --member serviceAccount:service-123456789012@serverless-robot-prod.iam.gserviceaccount.com --role roles/cloudkms.cryptoKeyEncrypterDecrypter"),
        ("forbidden", key("forbidden"), &["cmek-key-iam"],
            "PERMISSION_DENIED (403): Permission 'cloudkms.cryptoKeys.getIamPolicy' denied on resource"),
        ("flaky", key("flaky"), &[], ""),
    ];
    let services: Vec<Value> = cases.iter().map(|(n, k, _, _)| service(n, k)).collect();
    let file = write_services(&dir, &services);
    let token = token_file(&dir, "token-1");
    let mut args: Vec<String> = vec!["check".into(), "-o".into(), "json".into()];
    args.extend(google.gate_flags(&token));
    args.extend([
        "--policies".into(),
        "policies/live".into(),
        file.display().to_string(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = gate(&args);
    run.expect_code(1);
    let report = run.json();
    let mut failed = Vec::new();
    for ((name, _, violations, message), result) in
        cases.iter().zip(report["results"].as_array().unwrap())
    {
        assert_eq!(result["name"], *name);
        let got: Vec<&str> = result["violations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["policy"].as_str().unwrap())
            .collect();
        let messages: Vec<&str> = result["violations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["message"].as_str().unwrap())
            .collect();
        if got != *violations
            || !messages.iter().any(|m| m.contains(message)) && !message.is_empty()
        {
            failed.push(format!("{name}: {got:?} {messages:#?}"));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
    // The 403 is the gate's own identity lacking a permission: the message names it, and the
    // failure is told apart from a denial.
    let forbidden = &report["results"][9]["violations"][0];
    assert_eq!(forbidden["reason"], "LiveDataUnavailable");
    assert!(
        forbidden["message"].as_str().unwrap().contains(
            "the gate's own identity needs the permission cloudkms.cryptoKeys.getIamPolicy"
        ),
        "{forbidden}"
    );
    // 429 then success: read twice.
    assert_eq!(google.count(&format!("/v1/{}", key("flaky"))), 2);
    // Each key read once, however many policies ask (the snapshot and the cache).
    assert_eq!(google.count(&format!("/v1/{}", key("payments"))), 1);
    assert!(google
        .seen()
        .iter()
        .all(|s| s.authorization == "Bearer token-1"));
    // The project's policy is read as Resource Manager v1 takes it: a POST.
    assert!(google
        .seen()
        .iter()
        .any(|s| s.method == "POST" && s.path == "/v1/projects/keys-prod:getIamPolicy"));
}

/// An API that does not answer: each attempt ends at --google-timeout; by default the live
/// policies then deny (fail closed); `--live-unreachable allow` lets it through with an audit
/// annotation, `warn` with a warning.
#[test]
fn check_live_when_google_does_not_answer() {
    let dir = temp_dir("live-timeout");
    let google = FakeGoogle::start(&dir, world(), "token-1");
    let file = write_services(&dir, &[service("hang", &key("hang"))]);
    let token = token_file(&dir, "token-1");
    let run_with = |extra: &[&str]| {
        let mut args: Vec<String> = vec!["check".into(), "-o".into(), "json".into()];
        args.extend(google.gate_flags(&token));
        args.extend(["--google-timeout".into(), "300ms".into()]);
        args.extend(extra.iter().map(|s| s.to_string()));
        args.extend([
            "--policies".into(),
            "policies/live".into(),
            file.display().to_string(),
        ]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        gate(&args)
    };
    let denied = run_with(&[]);
    denied.expect_code(1);
    let report = denied.json();
    let message = report["results"][0]["violations"][0]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("live data unavailable"), "{message}");
    assert!(message.contains("gave up after 4 attempts"), "{message}");
    assert!(message.contains("no response within 300ms"), "{message}");
    assert_eq!(google.count(&format!("/v1/{}", key("hang"))), 4);

    let allowed = run_with(&["--live-unreachable", "allow"]);
    allowed.expect_code(0);
    let annotations = &allowed.json()["results"][0]["auditAnnotations"];
    assert!(
        annotations["cmek-gate.dev/live-unreachable"]
            .as_str()
            .is_some_and(|a| a.contains("[cmek-key-usable]")),
        "{annotations}"
    );
    let warned = run_with(&["--live-unreachable", "warn"]);
    warned.expect_code(0);
    let warnings = warned.json()["results"][0]["warnings"].clone();
    assert!(
        warnings.to_string().contains("--live-unreachable warn"),
        "{warnings}"
    );
}

pub(crate) fn review(name: &str, key: &str) -> Vec<u8> {
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
           "request": {"uid": format!("uid-{name}"),
                       "kind": {"group": "serving.knative.dev", "version": "v1", "kind": "Service"},
                       "resource": {"group": "serving.knative.dev", "version": "v1", "resource": "services"},
                       "name": name, "namespace": "run-project", "operation": "CREATE",
                       "userInfo": {"username": "alice"},
                       "object": service(name, key)}})
    .to_string()
    .into_bytes()
}

pub(crate) async fn wait_ready(webhook: &Client, server: &Server) {
    for _ in 0..200 {
        if webhook
            .send("GET", "/readyz", b"")
            .await
            .is_ok_and(|r| r.status == 200)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the server never became ready:\n{}", server.log());
}

/// `serve --live`: the webhook denies with the fixing command, reads a key once (cache), counts
/// calls, cache hits and errors per API in /metrics, retries a 401 once with the token file read
/// again; the Cloud Run API gate refuses the same deploy in Google's error format.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_live_in_the_webhook_and_the_api_gate() {
    let dir = temp_dir("live-serve");
    make_certs(&dir, false);
    let google = FakeGoogle::start(&dir, world(), "token-1");
    let token = token_file(&dir, "token-1");
    let upstream = FakeUpstream::start(|_request| async {
        hyper::Response::builder()
            .header("content-type", "application/json")
            .body(http_body_util::Full::new(bytes::Bytes::from_static(b"{}")))
            .unwrap()
    });
    let upstream_url = format!("http://{}", upstream.addr);
    let mut flags = google.gate_flags(&token);
    flags.extend(
        [
            "--policies",
            "policies/live",
            "--cloud-run-listen",
            "127.0.0.1:0",
            "--cloud-run-upstream",
            &upstream_url,
        ]
        .map(str::to_owned),
    );
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let server = Server::start(&dir.join("tls.crt"), &dir.join("tls.key"), &flags, &dir);
    let webhook = Client::new(server.addr, &[&dir.join("ca.crt")], None);
    wait_ready(&webhook, &server).await;

    // Denied, with the role and the command in the message.
    for _ in 0..2 {
        let reply = webhook
            .send("POST", "/validate", &review("pay", &key("ungranted")))
            .await
            .unwrap();
        let response = &reply.json()["response"];
        assert_eq!(response["allowed"], false, "{response}");
        let message = response["status"]["message"].as_str().unwrap();
        assert!(
            message.contains("[cmek-key-iam]")
                && message.contains("needs roles/cloudkms.cryptoKeyEncrypterDecrypter")
                && message
                    .contains("gcloud kms keys add-iam-policy-binding ungranted --keyring run"),
            "{message}"
        );
    }
    // The second review was answered from the cache.
    assert_eq!(google.count(&format!("/v1/{}", key("ungranted"))), 1);
    let allowed = webhook
        .send("POST", "/validate", &review("ok", &key("payments")))
        .await
        .unwrap();
    assert_eq!(
        allowed.json()["response"]["allowed"],
        true,
        "{}",
        server.log()
    );

    // /v1/check (what `cmek-gate gcloud --remote` asks) judges with live data too.
    let report = webhook
        .send(
            "POST",
            "/v1/check",
            service("pay", &key("disabled")).to_string().as_bytes(),
        )
        .await
        .unwrap()
        .json();
    assert_eq!(report["results"][0]["allowed"], false, "{report}");
    assert!(
        report["results"][0]["violations"]
            .to_string()
            .contains("primary version is DISABLED"),
        "{report}"
    );

    // The token expires: the fake accepts only a new one, which the file now holds. One 401,
    // then the same call again with the token read afresh.
    google.accept_only("token-2");
    std::fs::write(&token, "token-2\n").unwrap();
    let reply = webhook
        .send("POST", "/validate", &review("refresh", &key("refresh")))
        .await
        .unwrap();
    assert_eq!(
        reply.json()["response"]["allowed"],
        true,
        "{}",
        server.log()
    );
    let tokens: Vec<String> = google
        .seen()
        .into_iter()
        .filter(|s| s.path == format!("/v1/{}", key("refresh")))
        .map(|s| s.authorization)
        .collect();
    assert_eq!(tokens, ["Bearer token-1", "Bearer token-2"]);

    // The Cloud Run API gate: the same deploy, refused in Google's error format.
    let gate_client = Client::new(server.cloud_run.unwrap(), &[&dir.join("ca.crt")], None);
    let body = service("pay", &key("ungranted")).to_string();
    let reply = gate_client
        .send_with(
            "POST",
            "/apis/serving.knative.dev/v1/namespaces/run-project/services",
            body.as_bytes(),
            &[("host", "europe-west1-gate.test")],
        )
        .await
        .unwrap();
    let answer = reply.json();
    assert_eq!(reply.status, 400, "{answer}");
    assert_eq!(answer["error"]["status"], "FAILED_PRECONDITION");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("cmek-gate denied Service pay: [cmek-key-iam]")
            && message.contains("--role roles/cloudkms.cryptoKeyEncrypterDecrypter"),
        "{message}"
    );
    assert_eq!(
        upstream
            .connections
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );

    // A 403 counts as an error of the API.
    let _ = webhook
        .send("POST", "/validate", &review("forbidden", &key("forbidden")))
        .await
        .unwrap();
    let text = server.metrics_text().await;
    let value = |name: &str, api: &str| {
        let line = format!("cmek_gate_{name}_total{{api=\"{api}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&line))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    assert!(value("google_calls", "cloudkms") >= 5.0, "{text}");
    assert!(
        value("google_calls", "cloudresourcemanager") >= 1.0,
        "{text}"
    );
    assert!(value("google_cache_hits", "cloudkms") >= 1.0, "{text}");
    assert!(value("google_errors", "cloudkms") >= 1.0, "{text}");
}

/// README's live-check example is what `check --live` prints for a service whose key the
/// service agent may not use.
#[test]
fn the_readme_denial_is_what_check_live_prints() {
    let dir = temp_dir("live-readme");
    let google = FakeGoogle::start(&dir, world(), "token-1");
    let token = token_file(&dir, "token-1");
    let mut service = service("payments-api", &key("ungranted"));
    service["metadata"]["namespace"] = json!("123456789012");
    let file = dir.join("service.yaml");
    std::fs::write(&file, service.to_string()).unwrap();
    let mut args: Vec<String> = vec!["check".into()];
    args.extend(google.gate_flags(&token));
    args.push("service.yaml".into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = crate::support::gate_in(&dir, &args, b"");
    run.expect_code(1);
    let readme = std::fs::read_to_string(crate::support::repo().join("README.md")).unwrap();
    let printed = run.stdout.clone();
    for line in printed.lines().filter(|l| l.contains("cmek-key-iam")) {
        assert!(
            readme.contains(line.trim()),
            "README lacks the line:\n{line}"
        );
    }
    assert!(printed.contains("cmek-key-iam"), "{printed}");
}

/// `scan --live`: compliant means the key works; the report lists the resources whose key does
/// not and those whose service agent lacks the role.
#[test]
fn scan_live_lists_unusable_keys_and_agents_without_the_role() {
    let dir = temp_dir("live-scan");
    let google = FakeGoogle::start(&dir, world(), "token-1");
    let token = token_file(&dir, "token-1");
    let labelled = |name: &str, key: &str| {
        let mut s = service(name, key);
        s["metadata"]["labels"] = json!({"data-classification": "confidential",
                                         "cloud.googleapis.com/location": "europe-west1"});
        s
    };
    let file = write_services(
        &dir,
        &[
            labelled("pay", &key("payments")),
            labelled("off", &key("disabled")),
            labelled("locked", &key("ungranted")),
        ],
    );
    let mut args: Vec<String> = vec!["scan".into(), "-o".into(), "json".into()];
    args.extend(google.gate_flags(&token));
    // The live policies and the one that says what is sensitive.
    args.extend([
        "--policies".into(),
        "policies/live".into(),
        "--policies".into(),
        "policies/cmek-required.yaml".into(),
        "--params".into(),
        "policies/cmek-gate-params.yaml".into(),
        file.display().to_string(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = gate(&args);
    run.expect_code(0);
    let scan = run.json();
    assert_eq!(scan["total"]["compliant"], 1, "{scan}");
    let names = |list: &Value| -> Vec<String> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|p| p["resource"]["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(&scan["keyNotUsable"]), ["off"]);
    assert_eq!(names(&scan["agentWithoutRole"]), ["locked"]);
    assert!(scan["agentWithoutRole"][0]["message"]
        .as_str()
        .unwrap()
        .contains("gcloud kms keys add-iam-policy-binding ungranted"));
}
