//! The real `cmek-gate serve` over real TLS on loopback, driven by a real HTTPS client.

use crate::server_support::{make_certs, Client, Server};
use crate::support::{fixtures, repo, temp_dir};
use rustls::pki_types::pem::PemObject;
use std::path::Path;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

pub(crate) fn admission(name: &str) -> Vec<u8> {
    std::fs::read(fixtures().join(format!("admission/{name}.json"))).unwrap()
}

pub(crate) fn start(dir: &Path, extra: &[&str]) -> (Server, Client) {
    make_certs(dir, true);
    let server = Server::start(&dir.join("tls.crt"), &dir.join("tls.key"), extra, dir);
    let client = Client::new(server.addr, &[&dir.join("ca.crt")], None);
    (server, client)
}

/// Waits until the server answers `/readyz` with 200.
pub(crate) async fn ready(server: &Server, client: &Client) {
    eventually(server, "readiness", || async {
        client
            .send("GET", "/readyz", b"")
            .await
            .is_ok_and(|r| r.status == 200)
    })
    .await;
}

/// Waits (polling, bounded) until `ready` holds; panics with the server log if it never does.
pub(crate) async fn eventually<F, Fut>(server: &Server, what: &str, mut ready: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..200 {
        if ready().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "{what} did not happen within 10 s\n--- server log\n{}",
        server.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_reviews_in_the_api_servers_form() {
    let dir = temp_dir("server-admission");
    let (server, client) = start(&dir, &[]);
    ready(&server, &client).await;
    let cases = [
        ("create-denied", false),
        ("create-allowed", true),
        ("update-removes-key", false),
        ("dry-run-denied", false),
        ("delete", true),
        ("config-sync-apply-denied", false),
        ("config-sync-apply-allowed", true),
    ];
    for (name, allowed) in cases {
        let body = admission(name);
        let sent: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let reply = client.send("POST", "/validate", &body).await.unwrap();
        assert_eq!(reply.status, 200, "{name}");
        let review = reply.json();
        assert_eq!(review["apiVersion"], "admission.k8s.io/v1");
        assert_eq!(review["kind"], "AdmissionReview");
        assert_eq!(
            review["response"]["uid"], sent["request"]["uid"],
            "{name}: uid echoed"
        );
        assert_eq!(review["response"]["allowed"], allowed, "{name}: {review}");
        if !allowed {
            assert_eq!(review["response"]["status"]["code"], 403);
            let message = review["response"]["status"]["message"].as_str().unwrap();
            assert!(message.contains("[cmek-required]"), "{message}");
        }
    }
    let reply = client
        .send("POST", "/validate", b"{\"kind\": \"Pod\"}")
        .await
        .unwrap();
    assert_eq!(reply.status, 400);
    assert!(reply.json()["error"]
        .as_str()
        .unwrap()
        .contains("not an AdmissionReview"));
    assert_eq!(
        server
            .metric("cmek_gate_requests_total{endpoint=\"validate\",verdict=\"denied\"}")
            .await,
        4.0
    );
    assert!(
        server
            .metric("cmek_gate_violations_total{policy=\"cmek-required\"}")
            .await
            >= 4.0
    );
    assert!(
        server
            .metric("cmek_gate_certificate_expiry_timestamp_seconds")
            .await
            > 1.7e9
    );
    assert!(
        server.log().contains("admission decision"),
        "one log line per decision"
    );
    assert!(!server.log().contains("4111"), "no body content in logs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_check_endpoint_answers_like_the_cli() {
    let dir = temp_dir("server-check");
    let (server, client) = start(&dir, &["--max-body-bytes", "65536"]);
    ready(&server, &client).await;
    let denied = std::fs::read(repo().join("examples/service.yaml")).unwrap();
    let allowed = std::fs::read(repo().join("examples/service-compliant.yaml")).unwrap();
    let reply = client.send("POST", "/v1/check", &denied).await.unwrap();
    assert_eq!(reply.status, 403);
    let report = reply.json();
    assert_eq!(
        report["results"][0]["violations"][0]["policy"],
        "cmek-required"
    );
    assert_eq!(
        report["results"][0]["violations"][0]["line"], 23,
        "lines of the posted text"
    );
    // The same verdict and messages as `cmek-gate check --output json`.
    let cli = crate::support::gate(&["check", "--output", "json", "examples/service.yaml"]).json();
    assert_eq!(
        report["results"][0]["violations"],
        cli["results"][0]["violations"]
    );
    assert_eq!(
        client
            .send("POST", "/v1/check", &allowed)
            .await
            .unwrap()
            .status,
        200
    );
    assert_eq!(
        client
            .send("POST", "/v1/check", b"a: [\n")
            .await
            .unwrap()
            .status,
        400
    );
    // The server answers 413 from the declared length and closes without reading the body, so
    // the client's write may fail: read the answer on a raw connection.
    let status = client
        .status_line_of_raw("POST", "/v1/check", &vec![b' '; 70_000])
        .await;
    assert!(status.starts_with("HTTP/1.1 413"), "{status:?}");
    assert_eq!(
        client.send("GET", "/v1/check", b"").await.unwrap().status,
        405
    );
    assert_eq!(
        client.send("GET", "/healthz", b"").await.unwrap().status,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_refuses_clients_without_a_certificate() {
    let dir = temp_dir("server-mtls");
    make_certs(&dir, true);
    let ca = dir.join("ca.crt");
    let server = Server::start(
        &dir.join("tls.crt"),
        &dir.join("tls.key"),
        &["--client-ca", ca.to_str().unwrap()],
        &dir,
    );
    let anonymous = Client::new(server.addr, &[&ca], None);
    let with_cert = Client::new(
        server.addr,
        &[&ca],
        Some((&dir.join("client.crt"), &dir.join("client.key"))),
    );
    ready(&server, &with_cert).await;
    let refused = anonymous
        .send("POST", "/validate", &admission("create-denied"))
        .await;
    assert!(
        refused.is_err(),
        "a client without a certificate was served"
    );
    let reply = with_cert
        .send("POST", "/validate", &admission("create-denied"))
        .await
        .unwrap();
    assert_eq!(reply.json()["response"]["allowed"], false);
    // Probes without a client certificate use the plain metrics listener.
    assert_eq!(server.plain_get("/readyz").await.0, 200);
    assert_eq!(server.plain_get("/healthz").await.0, 200);
}

/// Lays out the files as the kubelet mounts a Secret: `tls.crt -> ..data/tls.crt`,
/// `..data -> ..<version>`; an update writes a new version folder and swaps `..data`.
fn mount_secret(mount: &Path, version: &str, from: &Path) {
    let target = mount.join(format!("..{version}"));
    std::fs::create_dir_all(&target).unwrap();
    for name in ["tls.crt", "tls.key"] {
        std::fs::copy(from.join(name), target.join(name)).unwrap();
    }
    let tmp = mount.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(format!("..{version}"), &tmp).unwrap();
    std::fs::rename(&tmp, mount.join("..data")).unwrap();
    for name in ["tls.crt", "tls.key"] {
        let link = mount.join(name);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(format!("..data/{name}"), &link).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_rotation_by_symlink_swap_drops_no_request() {
    let dir = temp_dir("server-rotation");
    let (old, new, mount) = (dir.join("old"), dir.join("new"), dir.join("mount"));
    make_certs(&old, false);
    make_certs(&new, false);
    std::fs::create_dir_all(&mount).unwrap();
    mount_secret(&mount, "v1", &old);
    let server = Server::start(&mount.join("tls.crt"), &mount.join("tls.key"), &[], &dir);
    let client = Client::new(
        server.addr,
        &[&old.join("ca.crt"), &new.join("ca.crt")],
        None,
    );
    ready(&server, &client).await;
    let new_der = rustls::pki_types::CertificateDer::from_pem_file(new.join("tls.crt"))
        .unwrap()
        .to_vec();
    let old_der = rustls::pki_types::CertificateDer::from_pem_file(old.join("tls.crt"))
        .unwrap()
        .to_vec();
    let body = admission("create-allowed");
    let (mut sent, mut failed, mut served_new) = (0, Vec::new(), false);
    let mut swapped = false;
    // Requests on new connections, continuously, until the new certificate has been served for a
    // while after the swap (bounded: at most 2,000 requests).
    let mut after_swap = 0;
    while sent < 2_000 && after_swap < 50 {
        match client.send("POST", "/validate", &body).await {
            Ok(reply) if reply.status == 200 => {
                if reply.server_cert == new_der {
                    served_new = true;
                } else {
                    assert_eq!(reply.server_cert, old_der);
                    assert!(
                        !served_new,
                        "the old certificate came back after the new one"
                    );
                }
            }
            Ok(reply) => failed.push(format!("status {}", reply.status)),
            Err(e) => failed.push(e),
        }
        sent += 1;
        if sent == 20 && !swapped {
            mount_secret(&mount, "v2", &new);
            swapped = true;
        }
        if served_new {
            after_swap += 1;
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {sent} requests failed: {:?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );
    assert!(
        served_new,
        "the new certificate was never served\n{}",
        server.log()
    );
    assert!(server.log().contains("certificate reloaded"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_policy_file_keeps_the_old_set_serving() {
    let dir = temp_dir("server-policy-reload");
    let policies = dir.join("policies");
    std::fs::create_dir_all(&policies).unwrap();
    for entry in std::fs::read_dir(repo().join("policies")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            std::fs::copy(&path, policies.join(path.file_name().unwrap())).unwrap();
        }
    }
    // The fix below removes a policy: a shrink the operator allows.
    let (server, client) = start(
        &dir,
        &[
            "--policies",
            policies.to_str().unwrap(),
            "--allow-policy-shrink",
        ],
    );
    ready(&server, &client).await;
    let generation = server.metric("cmek_gate_policy_set_generation").await;
    assert_eq!(generation, 1.0);
    let denied = admission("create-denied");
    let required = policies.join("cmek-required.yaml");
    let original = std::fs::read_to_string(&required).unwrap();
    // Broken: an expression that does not compile.
    std::fs::write(
        &required,
        original.replacen(
            "expression: \"!variables.sensitive || variables.hasKey\"",
            "expression: \"!variables.sensitive ||\"",
            1,
        ),
    )
    .unwrap();
    eventually(&server, "a counted reload failure", || async {
        server
            .metric("cmek_gate_reload_failures_total{what=\"policies\",reason=\"invalid\"}")
            .await
            >= 1.0
    })
    .await;
    let reply = client.send("POST", "/validate", &denied).await.unwrap();
    assert_eq!(
        reply.json()["response"]["allowed"],
        false,
        "the old set still denies"
    );
    assert_eq!(server.metric("cmek_gate_policy_set_generation").await, 1.0);
    assert!(
        server.log().contains("policy reload failed"),
        "{}",
        server.log()
    );
    // Fixed, and without cmek-required at all: the new set allows the same review.
    std::fs::remove_file(&required).unwrap();
    eventually(&server, "the fixed set loading", || async {
        server.metric("cmek_gate_policy_set_generation").await >= 2.0
    })
    .await;
    let reply = client.send("POST", "/validate", &denied).await.unwrap();
    assert_eq!(
        reply.json()["response"]["allowed"],
        true,
        "{}",
        reply.json()
    );
    // SIGHUP reloads too.
    server.signal("HUP");
    eventually(&server, "a SIGHUP reload", || async {
        server.metric("cmek_gate_policy_set_generation").await >= 3.0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_client_does_not_delay_others_and_sigterm_drains() {
    let dir = temp_dir("server-slow");
    let (server, client) = start(&dir, &["--read-timeout", "30s"]);
    ready(&server, &client).await;
    let body = admission("create-allowed");
    // A client that sends its request a byte at a time.
    let mut slow = client.connect().await.unwrap();
    let head = format!(
        "POST /validate HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    for byte in &body[..5] {
        slow.write_all(&[*byte]).await.unwrap();
        slow.flush().await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        // Meanwhile other clients are answered.
        let reply = client.send("POST", "/validate", &body).await.unwrap();
        assert_eq!(reply.status, 200);
    }
    // SIGTERM while the slow request is in flight: no new connections, the slow one finishes.
    server.signal("TERM");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        client.send("GET", "/healthz", b"").await.is_err(),
        "accepted a connection after SIGTERM"
    );
    slow.write_all(&body[5..]).await.unwrap();
    slow.flush().await.unwrap();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    use tokio::io::AsyncReadExt;
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), slow.read(&mut buffer))
            .await
            .unwrap()
            .unwrap_or(0);
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buffer[..n]);
        if answer.windows(9).any(|w| w == b"\"allowed\"") {
            break;
        }
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"allowed\":true"), "{answer}");
    let mut server = server;
    let status = tokio::task::spawn_blocking(move || {
        let status = server.child.wait().unwrap();
        (status, server.log())
    })
    .await
    .unwrap();
    assert!(
        status.0.success(),
        "exit after SIGTERM: {:?}\n{}",
        status.0,
        status.1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warnings_and_audit_annotations_over_tls() {
    let dir = temp_dir("server-warn-audit");
    let policies = dir.join("policies");
    std::fs::create_dir_all(&policies).unwrap();
    std::fs::copy(
        fixtures().join("admission/keep-key-policy.yaml"),
        policies.join("keep-key.yaml"),
    )
    .unwrap();
    let (server, client) = start(&dir, &["--policies", policies.to_str().unwrap()]);
    ready(&server, &client).await;
    let review = client
        .send("POST", "/validate", &admission("update-removes-key"))
        .await
        .unwrap()
        .json();
    let response = &review["response"];
    assert_eq!(response["allowed"], true, "{review}");
    assert_eq!(
        response["warnings"][0],
        "[keep-key] the encryption key may not be removed"
    );
    assert_eq!(
        response["auditAnnotations"]["keep-key.operation"],
        "UPDATE by system:serviceaccount:config-management-system:root-reconciler"
    );
    assert!(response["auditAnnotations"]["validation_failure"]
        .as_str()
        .unwrap()
        .contains("the encryption key may not be removed"));
    assert_eq!(
        server
            .metric(
                "cmek_gate_requests_total{endpoint=\"validate\",verdict=\"allowed-with-warnings\"}"
            )
            .await,
        1.0
    );
}

const DEFAULT_KEY: &str =
    "projects/kms-central/locations/europe-west1/keyRings/run/cryptoKeys/default";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mutating_webhook_answers_a_patch_that_the_validating_webhook_then_allows() {
    use base64::Engine as _;
    let dir = temp_dir("server-mutate");
    let params = fixtures().join("mutation/default-keys-params.yaml");
    let (server, client) = start(&dir, &["--params", params.to_str().unwrap()]);
    ready(&server, &client).await;
    let body = admission("create-denied");
    let mut sent: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let review = client.send("POST", "/mutate", &body).await.unwrap().json();
    let response = &review["response"];
    assert_eq!(response["uid"], sent["request"]["uid"]);
    assert_eq!(response["allowed"], true, "{review}");
    assert_eq!(response["patchType"], "JSONPatch");
    let patch_bytes = base64::engine::general_purpose::STANDARD
        .decode(response["patch"].as_str().unwrap())
        .unwrap();
    let patch: json_patch::Patch = serde_json::from_slice(&patch_bytes).unwrap();
    // Minimal: one operation, adding only the key.
    assert_eq!(patch.0.len(), 1, "{patch:?}");
    assert_eq!(
        patch.0[0].path().to_string(),
        "/spec/template/metadata/annotations/run.googleapis.com~1encryption-key"
    );
    let warning = response["warnings"][0].as_str().unwrap();
    assert!(
        warning.starts_with("[cmek-default-key] added") && warning.contains(DEFAULT_KEY),
        "{warning}"
    );
    // The API server applies the patch and sends the result to /validate: allowed.
    let object = &mut sent["request"]["object"];
    let before = object.clone();
    json_patch::patch(object, &patch).unwrap();
    assert_eq!(
        object["spec"]["template"]["metadata"]["annotations"]["run.googleapis.com/encryption-key"],
        DEFAULT_KEY
    );
    assert_eq!(json_patch::diff(&before, object).0.len(), 1);
    let mutated = serde_json::to_vec(&sent).unwrap();
    let validated = client
        .send("POST", "/validate", &mutated)
        .await
        .unwrap()
        .json();
    assert_eq!(validated["response"]["allowed"], true, "{validated}");
    // The mutated object is not changed again, and one with its own key is left alone.
    for body in [mutated, admission("create-allowed")] {
        let again = client.send("POST", "/mutate", &body).await.unwrap().json();
        assert_eq!(again["response"]["allowed"], true);
        assert!(again["response"].get("patch").is_none(), "{again}");
    }
    // /v1/check?mutate=true judges the mutated object and returns the patch.
    let manifest = std::fs::read(repo().join("examples/service.yaml")).unwrap();
    let reply = client
        .send("POST", "/v1/check?mutate=true", &manifest)
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    let report = reply.json();
    assert_eq!(report["results"][0]["allowed"], true, "{report}");
    assert_eq!(report["results"][0]["patch"][0]["value"], DEFAULT_KEY);
    let plain = client.send("POST", "/v1/check", &manifest).await.unwrap();
    assert_eq!(
        plain.status, 403,
        "without mutation the same manifest is denied"
    );
    let typo = client
        .send("POST", "/v1/check?mutat=true", &manifest)
        .await
        .unwrap();
    assert_eq!(typo.status, 400);
    assert!(typo.json()["error"]
        .as_str()
        .unwrap()
        .contains("mutat=true"));
    assert_eq!(
        server
            .metric("cmek_gate_requests_total{endpoint=\"mutate\",verdict=\"mutated\"}")
            .await,
        1.0
    );
}

/// `/v1/check` refuses (400) every file that hides a sensitive Service behind a construct kubectl
/// or gcloud read differently, naming the construct and its line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_check_endpoint_refuses_what_the_consumers_read_differently() {
    let dir = temp_dir("server-disguised");
    let (server, client) = start(&dir, &[]);
    ready(&server, &client).await;
    for variant in crate::disguised::variants() {
        for path in ["/v1/check", "/v1/check?mutate=true"] {
            let reply = client.send("POST", path, &variant.text).await.unwrap();
            assert_eq!(reply.status, 400, "{} {path}", variant.name);
            let body = String::from_utf8_lossy(&reply.body).into_owned();
            assert!(
                body.contains(variant.message) && body.contains(&format!("line {}", variant.line)),
                "{} {path}: {body}",
                variant.name
            );
        }
    }
}
