//! The real gcloud (528, installed on these machines and CI's) against the Cloud Run API gate
//! (`serve --cloud-run-listen`, over real TLS) and through the wrapper (`cmek-gate gcloud`).
//!
//! Google's APIs cannot be reached from here: a small local HTTP stub stands in for them (the
//! Cloud Run Admin API the gate forwards to, Cloud Resource Manager for the project number, and
//! Service Usage for `gcloud run deploy`). It keeps what is created, so gcloud's polling for
//! readiness ends, and records every request it receives. gcloud puts the region in front of the
//! endpoint override's host, so `europe-west1-gate.test` must resolve: the test adds that line
//! to /etc/hosts (the tests run as root), tagged with the test process, and removes it afterwards.

use crate::server_support::{body_bytes, gate_binary, FakeUpstream, Server};
use crate::support::{fixtures, repo, temp_dir};
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

const HOST: &str = "europe-west1-gate.test";
const PROJECT: &str = "my-project";
const PROJECT_NUMBER: &str = "123456789012";

/// One request the stub received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    body: Vec<u8>,
    authorization: Option<String>,
}

#[derive(Default)]
struct StubState {
    seen: Vec<Seen>,
    objects: HashMap<String, serde_json::Value>,
}

/// The stand-in for Google's APIs, on a thread of its own.
struct Stub {
    addr: SocketAddr,
    state: Arc<Mutex<StubState>>,
}

impl Stub {
    fn start() -> Stub {
        let state = Arc::new(Mutex::new(StubState::default()));
        let shared = Arc::clone(&state);
        let upstream = FakeUpstream::start(move |request| {
            let state = Arc::clone(&shared);
            async move { answer(request, &state).await }
        });
        Stub {
            addr: upstream.addr,
            state,
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    fn writes(&self) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| {
                matches!(s.method.as_str(), "POST" | "PUT" | "PATCH") && !s.path.contains(':')
            })
            .collect()
    }

    fn clear(&self) {
        self.state.lock().unwrap().seen.clear();
    }
}

async fn answer(
    request: Request<hyper::body::Incoming>,
    state: &Mutex<StubState>,
) -> Response<Full<Bytes>> {
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let authorization = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = body_bytes(request.into_body()).await;
    let mut state = state.lock().unwrap();
    state.seen.push(Seen {
        method: method.clone(),
        path: path.clone(),
        body: body.clone(),
        authorization,
    });
    let json = |code: u16, value: serde_json::Value| {
        Response::builder()
            .status(code)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(value.to_string())))
            .unwrap()
    };
    let not_found = || {
        json(
            404,
            serde_json::json!({"error": {"code": 404, "status": "NOT_FOUND", "message": "not found"}}),
        )
    };
    if path.starts_with("/v1/projects/") && path.ends_with("/services/run.googleapis.com") {
        return json(
            200,
            serde_json::json!({"name": format!("projects/{PROJECT_NUMBER}/services/run.googleapis.com"), "state": "ENABLED"}),
        );
    }
    if path == format!("/v1/projects/{PROJECT}") {
        return json(
            200,
            serde_json::json!({"projectId": PROJECT, "projectNumber": PROJECT_NUMBER, "lifecycleState": "ACTIVE"}),
        );
    }
    if path.ends_with(":testIamPermissions") {
        return json(200, serde_json::json!({}));
    }
    // Objects are kept by kind and name: gcloud names the project by ID or by number.
    let key_of = |path: &str| {
        let parts: Vec<&str> = path.rsplitn(3, '/').collect();
        parts
            .iter()
            .take(2)
            .rev()
            .copied()
            .collect::<Vec<_>>()
            .join("/")
    };
    match method.as_str() {
        "GET" => match state.objects.get(&key_of(&path)) {
            Some(object) => json(200, object.clone()),
            None => not_found(),
        },
        "POST" | "PUT" => {
            let Ok(mut object) = serde_json::from_slice::<serde_json::Value>(&body) else {
                return json(
                    400,
                    serde_json::json!({"error": {"code": 400, "message": "not JSON"}}),
                );
            };
            let name = object["metadata"]["name"]
                .as_str()
                .unwrap_or("x")
                .to_owned();
            object["metadata"]["generation"] = 1.into();
            object["status"] = serde_json::json!({
                "observedGeneration": 1,
                "conditions": [{"type": "Ready", "status": "True"}, {"type": "ConfigurationsReady", "status": "True"}, {"type": "RoutesReady", "status": "True"}],
                "latestReadyRevisionName": format!("{name}-00001"),
                "latestCreatedRevisionName": format!("{name}-00001"),
                "url": format!("https://{name}.run.app"),
                "traffic": [{"revisionName": format!("{name}-00001"), "percent": 100, "latestRevision": true}],
                "latestCreatedExecution": {"name": format!("{name}-x"), "completionTimestamp": "2026-01-01T00:00:00Z"},
            });
            let key = if method == "POST" {
                key_of(&format!("{path}/{name}"))
            } else {
                key_of(&path)
            };
            state.objects.insert(key, object.clone());
            json(200, object)
        }
        _ => not_found(),
    }
}

/// Adds the region-prefixed host to /etc/hosts, on a line tagged with this process and instance, and removes
/// that line (only that line, re-reading the file) when dropped: test runs in other worktrees on
/// the same machine may hold a line of their own meanwhile.
struct Hosts {
    tag: String,
}

impl Hosts {
    fn add() -> Hosts {
        // One tag per instance: the tests of this binary that need the line run in parallel,
        // and one's Drop must not remove another's line.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let instance = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let tag = format!("# cmek-gate gcloud test {} {instance}", std::process::id());
        let mut text = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&format!("127.0.0.1 {HOST} {tag}\n"));
        std::fs::write("/etc/hosts", text).unwrap_or_else(|e| {
            panic!("cannot add {HOST} to /etc/hosts ({e}): gcloud needs it, and the tests run as root on these machines")
        });
        Hosts { tag }
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        if let Ok(text) = std::fs::read_to_string("/etc/hosts") {
            let kept: String = text
                .split_inclusive('\n')
                .filter(|line| !line.trim_end().ends_with(&self.tag))
                .collect();
            let _ = std::fs::write("/etc/hosts", kept);
        }
    }
}

/// gcloud with a configuration of its own, its run API at `run_endpoint`, the other APIs at
/// the stub, and the test CA trusted.
fn gcloud(dir: &Path, run_endpoint: &str, stub: &Stub, ca: &Path, args: &[&str]) -> (i32, String) {
    let out = command_env(Command::new("gcloud"), dir, run_endpoint, stub, ca)
        .args(args)
        .output()
        .expect("gcloud is installed (see README: the tests drive it)");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn command_env(
    mut command: Command,
    dir: &Path,
    run_endpoint: &str,
    stub: &Stub,
    ca: &Path,
) -> Command {
    let stub_url = format!("http://127.0.0.1:{}/", stub.addr.port());
    command
        .current_dir(dir)
        .env("CLOUDSDK_CONFIG", dir.join("gcloud-config"))
        .env("CLOUDSDK_CORE_PROJECT", PROJECT)
        .env("CLOUDSDK_AUTH_DISABLE_CREDENTIALS", "true")
        .env("CLOUDSDK_CORE_DISABLE_PROMPTS", "1")
        .env("CLOUDSDK_CORE_DISABLE_USAGE_REPORTING", "true")
        .env("CLOUDSDK_API_ENDPOINT_OVERRIDES_RUN", run_endpoint)
        .env(
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDRESOURCEMANAGER",
            &stub_url,
        )
        .env("CLOUDSDK_API_ENDPOINT_OVERRIDES_SERVICEUSAGE", &stub_url)
        // gcloud's HTTP library also reads REQUESTS_CA_BUNDLE, which some machines set.
        .env("CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE", ca)
        .env("REQUESTS_CA_BUNDLE", ca)
        .env_remove("CMEK_GATE_POLICIES")
        .env_remove("CMEK_GATE_PARAMS");
    command
}

fn certs(dir: &Path) -> PathBuf {
    let out = Command::new(gate_binary())
        .args([
            "certs",
            "--out",
            dir.to_str().unwrap(),
            "--dns",
            HOST,
            "--dns",
            "localhost",
            "--dns",
            "127.0.0.1",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir.join("ca.crt")
}

/// Waits (polling, bounded) until the server has loaded its policies.
fn wait_ready(addr: SocketAddr, ca: &Path, log: &Path) {
    let client = crate::server_support::Client::new(addr, &[ca], None);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for _ in 0..200 {
        let ready = runtime
            .block_on(client.send("GET", "/readyz", b""))
            .is_ok_and(|r| r.status == 200);
        if ready {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!(
        "the server never became ready:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

fn example(name: &str) -> PathBuf {
    repo().join("examples").join(name)
}

#[test]
fn the_real_gcloud_through_the_api_gate_and_the_wrapper() {
    let dir = temp_dir("gcloud");
    let ca = certs(&dir);
    let stub = Stub::start();
    let _hosts = Hosts::add();
    let upstream = format!("http://127.0.0.1:{}", stub.addr.port());
    let params = fixtures().join("mutation/default-keys-params.yaml");
    let server = Server::start(
        &dir.join("tls.crt"),
        &dir.join("tls.key"),
        &[
            "--cloud-run-listen",
            "127.0.0.1:0",
            "--cloud-run-upstream",
            &upstream,
        ],
        &dir,
    );
    wait_ready(server.addr, &ca, &server.stderr_path);
    let gate_port = server.cloud_run.expect("the API gate listens").port();
    let via_gate = format!("https://gate.test:{gate_port}/");
    let run = |args: &[&str]| gcloud(&dir, &via_gate, &stub, &ca, args);
    let region = ["--region", "europe-west1"];

    // 1. `services replace` of a sensitive service without a key: refused with our message,
    //    exit 1, and the stub never sees the write.
    let denied = example("service.yaml");
    let (code, text) = run(&[
        &["run", "services", "replace", denied.to_str().unwrap()],
        &region[..],
    ]
    .concat());
    assert_eq!(code, 1, "{text}\n--- gate\n{}", server.log());
    assert!(
        text.contains("ERROR: (gcloud.run.services.replace) FAILED_PRECONDITION: cmek-gate denied Service payments-api: [cmek-required]"),
        "{text}"
    );
    assert!(
        stub.writes().is_empty(),
        "the stub saw a write: {:?}",
        stub.writes()
    );
    // The GET gcloud made first went through to the stub.
    assert!(stub
        .seen()
        .iter()
        .any(|s| s.method == "GET" && s.path.ends_with("/services/payments-api")));

    // 2. A compliant one reaches the stub byte for byte (gcloud's JSON of the file).
    let compliant = example("service-compliant.yaml");
    let (code, text) = run(&[
        &["run", "services", "replace", compliant.to_str().unwrap()],
        &region[..],
    ]
    .concat());
    assert_eq!(code, 0, "{text}\n--- gate\n{}", server.log());
    let writes = stub.writes();
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert_eq!(writes[0].method, "POST");
    assert_eq!(
        writes[0].path,
        format!("/apis/serving.knative.dev/v1/namespaces/{PROJECT_NUMBER}/services")
    );
    let sent: serde_json::Value = serde_json::from_slice(&writes[0].body).unwrap();
    assert_eq!(sent["metadata"]["name"], "payments-api");
    // Byte for byte: what the gate received from gcloud is what it forwarded. The gate logs
    // the body's length; compare with a second, direct replace against the stub.
    stub.clear();
    let direct = format!("http://gate.test:{}/", stub.addr.port());
    let (code, text) = gcloud(
        &dir,
        &direct,
        &stub,
        &ca,
        &[
            &["run", "services", "replace", compliant.to_str().unwrap()],
            &region[..],
        ]
        .concat(),
    );
    assert_eq!(code, 0, "{text}");
    let direct_writes = stub.writes();
    assert_eq!(direct_writes.len(), 1, "{direct_writes:?}");
    assert_eq!(
        direct_writes[0].method, "PUT",
        "the service now exists: gcloud replaces it"
    );
    let direct_body: serde_json::Value = serde_json::from_slice(&direct_writes[0].body).unwrap();
    let mut via_gate_body = sent.clone();
    via_gate_body["metadata"]["generation"] = direct_body["metadata"]["generation"].clone();
    for key in ["resourceVersion", "uid", "creationTimestamp", "selfLink"] {
        via_gate_body["metadata"][key] = direct_body["metadata"][key].clone();
    }
    assert_eq!(
        via_gate_body["spec"], direct_body["spec"],
        "the forwarded spec is gcloud's"
    );

    // 3. A GET passes through: describe reads what the stub keeps.
    stub.clear();
    let (code, text) = run(&[
        "run",
        "services",
        "describe",
        "payments-api",
        "--region",
        "europe-west1",
        "--format",
        "value(metadata.name)",
    ]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("payments-api"), "{text}");

    // 4. `gcloud run deploy` with a sensitive label and no --key: refused; with --key in the
    //    service's region: through.
    stub.clear();
    let deploy = [
        "run",
        "deploy",
        "ledger",
        "--image",
        "europe-docker.pkg.dev/p/r/ledger:1",
        "--labels",
        "data-classification=confidential",
        "--region",
        "europe-west1",
    ];
    let (code, text) = run(&deploy);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("FAILED_PRECONDITION: cmek-gate denied Service ledger: [cmek-required]"),
        "{text}"
    );
    assert!(stub.writes().is_empty());
    let key = "projects/kms-central/locations/europe-west1/keyRings/run/cryptoKeys/ledger";
    let (code, text) = run(&[&deploy[..], &["--key", key]].concat());
    assert_eq!(code, 0, "{text}\n--- gate\n{}", server.log());
    let writes = stub.writes();
    assert_eq!(writes.len(), 1);
    let sent: serde_json::Value = serde_json::from_slice(&writes[0].body).unwrap();
    assert_eq!(
        sent["spec"]["template"]["metadata"]["annotations"]["run.googleapis.com/encryption-key"],
        key
    );
    // A key from another region is refused: the region comes from the host gcloud called.
    let other = "projects/kms-central/locations/us-east1/keyRings/run/cryptoKeys/ledger";
    let (code, text) = run(&[&deploy[..], &["--key", other]].concat());
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("[cmek-key-location]"), "{text}");

    // 5. A job replace, denied then allowed.
    stub.clear();
    let job = dir.join("job.yaml");
    let job_text = "apiVersion: run.googleapis.com/v1\nkind: Job\nmetadata:\n  name: nightly\n  labels:\n    compliance: hipaa\n    cloud.googleapis.com/location: europe-west1\nspec:\n  template:\n    metadata:\n      annotations: {}\n    spec:\n      template:\n        spec:\n          containers:\n          - image: europe-docker.pkg.dev/p/r/batch:1\n";
    std::fs::write(&job, job_text).unwrap();
    let (code, text) = run(&[
        &["run", "jobs", "replace", job.to_str().unwrap()],
        &region[..],
    ]
    .concat());
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains(
            "ERROR: (gcloud.run.jobs.replace) FAILED_PRECONDITION: cmek-gate denied Job nightly"
        ),
        "{text}"
    );
    assert!(stub.writes().is_empty());
    std::fs::write(&job, job_text.replace("annotations: {}", "annotations: {run.googleapis.com/encryption-key: projects/kms-central/locations/europe-west1/keyRings/run/cryptoKeys/batch}")).unwrap();
    let (code, text) = run(&[
        &["run", "jobs", "replace", job.to_str().unwrap()],
        &region[..],
    ]
    .concat());
    assert_eq!(code, 0, "{text}");
    assert_eq!(stub.writes().len(), 1);
    assert!(server.log().contains("verdict=\"denied\""));
    drop(server);

    // 6. The wrapper, with the local policies and with --remote against a running gate; gcloud
    //    itself talks to the stub directly.
    stub.clear();
    let remote = Server::start(
        &dir.join("tls.crt"),
        &dir.join("tls.key"),
        &["--params", params.to_str().unwrap()],
        &dir,
    );
    wait_ready(remote.addr, &ca, &remote.stderr_path);
    let remote_url = format!("https://localhost:{}", remote.addr.port());
    let wrapper = |extra: &[&str], file: &Path| {
        let mut command = command_env(Command::new(gate_binary()), &dir, &direct, &stub, &ca);
        command
            .arg("gcloud")
            .args(extra)
            .args(["run", "services", "replace"])
            .arg(file)
            .args(region);
        let out = command.output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let ca_arg = ca.to_str().unwrap();
    for extra in [
        vec![],
        vec!["--remote", remote_url.as_str(), "--remote-ca", ca_arg],
    ] {
        stub.clear();
        let (code, text) = wrapper(&extra, &denied);
        assert_eq!(code, 1, "{extra:?}: {text}");
        assert!(
            text.contains("error[cmek-required]") && text.contains("gcloud was not run"),
            "{text}"
        );
        assert!(
            stub.seen().is_empty(),
            "{extra:?}: gcloud ran: {:?}",
            stub.seen()
        );
        let (code, text) = wrapper(&extra, &compliant);
        assert_eq!(code, 0, "{extra:?}: {text}");
        assert_eq!(stub.writes().len(), 1, "{extra:?}");
    }
    // --fix with the remote gate's default key: a temporary copy with the key is deployed; the
    // file is not changed.
    stub.clear();
    let before = std::fs::read(&denied).unwrap();
    let (code, text) = wrapper(
        &["--remote", &remote_url, "--remote-ca", ca_arg, "--fix"],
        &denied,
    );
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains(
            "--fix added spec.template.metadata.annotations[\"run.googleapis.com/encryption-key\"]"
        ),
        "{text}"
    );
    let writes = stub.writes();
    assert_eq!(writes.len(), 1);
    let sent: serde_json::Value = serde_json::from_slice(&writes[0].body).unwrap();
    assert_eq!(
        sent["spec"]["template"]["metadata"]["annotations"]["run.googleapis.com/encryption-key"],
        "projects/kms-central/locations/europe-west1/keyRings/run/cryptoKeys/default"
    );
    assert_eq!(std::fs::read(&denied).unwrap(), before);
    // gcloud's exit code passes through: a failing gcloud (an unknown flag) fails the wrapper.
    let (code, text) = wrapper(&["--no-such-wrapper-flag"], &compliant);
    assert_eq!(code, 2, "{text}");
}

/// The API gate with a plain HTTPS client: bytes forwarded as received, v2 bodies judged through
/// the v1 shape, mutation, Google's errors, an unreachable upstream, and the Authorization header
/// passed through and never logged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_gate_forwards_bytes_judges_v2_and_mutates() {
    use crate::server_support::Client;
    let dir = temp_dir("api-gate");
    let ca = certs(&dir);
    let stub = Stub::start();
    let upstream = format!("http://127.0.0.1:{}", stub.addr.port());
    let params = fixtures().join("mutation/default-keys-params.yaml");
    let server = Server::start(
        &dir.join("tls.crt"),
        &dir.join("tls.key"),
        &[
            "--cloud-run-listen",
            "127.0.0.1:0",
            "--cloud-run-upstream",
            &upstream,
            "--cloud-run-mutate",
            "--params",
            params.to_str().unwrap(),
        ],
        &dir,
    );
    let (addr, wait_ca, log) = (server.addr, ca.clone(), server.stderr_path.clone());
    tokio::task::spawn_blocking(move || wait_ready(addr, &wait_ca, &log))
        .await
        .unwrap();
    let client = Client::new(server.cloud_run.unwrap(), &[&ca], None);
    let host = [
        ("host", "europe-west1-gate.test"),
        ("authorization", "Bearer secret-token-123"),
    ];
    // A compliant v1 body with odd spacing: the stub gets exactly these bytes.
    let body = br#"{"apiVersion":"serving.knative.dev/v1",  "kind":"Service","metadata":{"name":"a","labels":{"data-classification":"confidential"}},
      "spec":{"template":{"metadata":{"annotations":{"run.googleapis.com/encryption-key":"projects/kms-central/locations/europe-west1/keyRings/r/cryptoKeys/k"}}}}}"#;
    let reply = client
        .send_with(
            "POST",
            "/apis/serving.knative.dev/v1/namespaces/1/services?alt=json",
            body,
            &host,
        )
        .await
        .unwrap();
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(
        reply.headers["content-type"], "application/json",
        "the upstream's headers come back"
    );
    let writes = stub.writes();
    assert_eq!(writes.len(), 1);
    assert_eq!(writes[0].body, body.to_vec(), "forwarded byte for byte");
    assert_eq!(
        writes[0].authorization.as_deref(),
        Some("Bearer secret-token-123")
    );
    // v1 without a key, in a region with a default key: forwarded with the key added.
    stub.clear();
    let no_key = br#"{"apiVersion":"serving.knative.dev/v1","kind":"Service","metadata":{"name":"b","labels":{"data-classification":"confidential"}},"spec":{"template":{"spec":{"containers":[{"image":"x"}]}}}}"#;
    let reply = client
        .send_with(
            "POST",
            "/apis/serving.knative.dev/v1/namespaces/1/services",
            no_key,
            &host,
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.headers["x-cmek-gate-mutated"],
        "spec.template.metadata"
    );
    let sent: serde_json::Value = serde_json::from_slice(&stub.writes()[0].body).unwrap();
    assert_eq!(
        sent["spec"]["template"]["metadata"]["annotations"]["run.googleapis.com/encryption-key"],
        "projects/kms-central/locations/europe-west1/keyRings/run/cryptoKeys/default"
    );
    // The same in a region without a default key: refused in Google's format.
    stub.clear();
    let reply = client
        .send_with(
            "POST",
            "/apis/serving.knative.dev/v1/namespaces/1/services",
            no_key,
            &[("host", "asia-east1-gate.test")],
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 400);
    let error = reply.json();
    assert_eq!(error["error"]["code"], 400);
    assert_eq!(error["error"]["status"], "FAILED_PRECONDITION");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("[cmek-required]"),
        "{error}"
    );
    assert!(stub.writes().is_empty());
    // v2: judged through the v1 shape, the region from the URL; mutated in the v2 shape.
    let v2 = br#"{"labels":{"compliance":"hipaa"},"template":{"containers":[{"image":"x"}]}}"#;
    let reply = client
        .send_with(
            "POST",
            "/v2/projects/p/locations/asia-east1/services?serviceId=c",
            v2,
            &host,
        )
        .await
        .unwrap();
    assert_eq!(
        reply.status,
        400,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert!(reply.json()["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("cmek-gate denied Service c: [cmek-required]"));
    let reply = client
        .send_with(
            "POST",
            "/v2/projects/p/locations/europe-west1/services?serviceId=c",
            v2,
            &host,
        )
        .await
        .unwrap();
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let sent: serde_json::Value = serde_json::from_slice(&stub.writes()[0].body).unwrap();
    assert_eq!(
        sent["template"]["encryptionKey"],
        "projects/kms-central/locations/europe-west1/keyRings/run/cryptoKeys/default"
    );
    // Reads pass through, with the upstream's status.
    let reply = client
        .send_with(
            "GET",
            "/apis/serving.knative.dev/v1/namespaces/1/services/nope",
            b"",
            &host,
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 404);
    assert_eq!(reply.json()["error"]["status"], "NOT_FOUND");
    let log = server.log();
    assert!(
        !log.contains("secret-token-123"),
        "the Authorization header was logged"
    );
    drop(server);
    // An upstream that cannot be reached: 502 in Google's format.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let server = Server::start(
        &dir.join("tls.crt"),
        &dir.join("tls.key"),
        &[
            "--cloud-run-listen",
            "127.0.0.1:0",
            "--cloud-run-upstream",
            &dead_url,
        ],
        &dir,
    );
    let client = Client::new(server.cloud_run.unwrap(), &[&ca], None);
    let reply = client
        .send_with(
            "GET",
            "/apis/serving.knative.dev/v1/namespaces/1/services/x",
            b"",
            &host,
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 502);
    assert_eq!(reply.json()["error"]["status"], "UNAVAILABLE");
}

/// `cmek-gate gcloud --fix` deploys a temporary copy: it lives in a directory of its own that
/// only the user can enter (mode 0700, made by `tempfile`; the fixed name under /tmp it had
/// before was 0755 and could have been made first by someone else, who could then swap the
/// checked copy), holds the key, and is gone when the run ends. gcloud is a stand-in script.
#[test]
fn the_wrapper_deploys_the_fixed_copy_from_a_private_directory_it_removes() {
    let dir = crate::support::temp_dir("gcloud-fix-private");
    let params = dir.join("params.yaml");
    std::fs::write(
        &params,
        "apiVersion: cmek-gate.dev/v1alpha1\nkind: CmekGateParams\nmetadata: {name: default}\nspec:\n  defaultKeys: {europe-west1: projects/kms-central/locations/europe-west1/keyRings/run/cryptoKeys/default}\n",
    )
    .unwrap();
    let seen = dir.join("seen");
    let stand_in = dir.join("gcloud");
    std::fs::write(
        &stand_in,
        format!(
            "#!/bin/sh\nfile=\"$4\"\nstat -c '%a' \"$(dirname \"$file\")\" > {seen}\necho \"$file\" >> {seen}\ncat \"$file\" >> {seen}\n",
            seen = seen.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &stand_in,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let service = repo().join("examples/service.yaml");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cmek-gate"))
        .args(["gcloud", "--params"])
        .arg(&params)
        .args(["--fix", "run", "services", "replace"])
        .arg(&service)
        .env("CMEK_GATE_GCLOUD", &stand_in)
        .env_remove("CMEK_GATE_POLICIES")
        .env_remove("CMEK_GATE_PARAMS")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let seen = std::fs::read_to_string(&seen).unwrap();
    let mut lines = seen.lines();
    assert_eq!(lines.next(), Some("700"), "{seen}");
    let copy = std::path::PathBuf::from(lines.next().unwrap());
    assert_ne!(copy, service);
    assert!(
        seen.contains("run.googleapis.com/encryption-key: projects/kms-central/locations/europe-west1/keyRings/run/cryptoKeys/default"),
        "{seen}"
    );
    assert!(!copy.exists(), "{} was left behind", copy.display());
    assert!(!copy.parent().unwrap().exists());
}

/// The real gcloud through the API gate with `--live`: a deploy whose key the Cloud Run service
/// agent may not use is refused, and the message holds the command that grants the role; once
/// the role is granted, the same deploy goes through. Google's KMS and Resource Manager APIs
/// are the local fake ([`crate::fake_google`]): it stands in only for Google's APIs; gcloud, the
/// gate and its live policies are real.
#[test]
fn the_real_gcloud_through_the_api_gate_with_live_checks() {
    use crate::fake_google::{FakeGoogle, World};
    let dir = temp_dir("gcloud-live");
    let ca = certs(&dir);
    let stub = Stub::start();
    let _hosts = Hosts::add();
    let key = "projects/acme-payments-prod/locations/europe-west1/keyRings/cloud-run/cryptoKeys/payments-api";
    let world = World {
        keys: vec![(
            key.to_owned(),
            serde_json::json!({"purpose": "ENCRYPT_DECRYPT", "rotationPeriod": "7776000s",
                               "nextRotationTime": "2027-01-01T00:00:00Z",
                               "primary": {"state": "ENABLED", "protectionLevel": "SOFTWARE"}}),
        )],
        ..World::default()
    };
    let google = FakeGoogle::start(&dir, world, "live-token");
    let token = dir.join("token");
    std::fs::write(&token, "live-token\n").unwrap();
    let upstream = format!("http://127.0.0.1:{}", stub.addr.port());
    let mut flags = google.gate_flags(&token);
    // No caching: the grant below is seen at once.
    flags.extend(
        [
            "--google-cache-ttl",
            "0s",
            "--cloud-run-listen",
            "127.0.0.1:0",
            "--cloud-run-upstream",
            &upstream,
        ]
        .map(str::to_owned),
    );
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let server = Server::start(&dir.join("tls.crt"), &dir.join("tls.key"), &flags, &dir);
    wait_ready(server.addr, &ca, &server.stderr_path);
    let gate_port = server.cloud_run.expect("the API gate listens").port();
    let via_gate = format!("https://gate.test:{gate_port}/");
    let compliant = example("service-compliant.yaml");
    let replace = [
        "run",
        "services",
        "replace",
        compliant.to_str().unwrap(),
        "--region",
        "europe-west1",
    ];
    let (code, text) = gcloud(&dir, &via_gate, &stub, &ca, &replace);
    assert_eq!(code, 1, "{text}\n--- gate\n{}", server.log());
    assert!(
        text.contains("FAILED_PRECONDITION: cmek-gate denied Service payments-api: [cmek-key-iam]"),
        "{text}"
    );
    assert!(
        text.contains("gcloud kms keys add-iam-policy-binding payments-api --keyring cloud-run --location europe-west1 --project acme-payments-prod --member serviceAccount:service-123456789012@serverless-robot-prod.iam.gserviceaccount.com --role roles/cloudkms.cryptoKeyEncrypterDecrypter"),
        "{text}"
    );
    assert!(stub.writes().is_empty(), "{:?}", stub.writes());

    // The binding the message asks for, made: the same deploy goes through.
    google.set_iam(
        key,
        serde_json::json!({"version": 1, "etag": "BwY=", "bindings": [{
            "role": "roles/cloudkms.cryptoKeyEncrypterDecrypter",
            "members": ["serviceAccount:service-123456789012@serverless-robot-prod.iam.gserviceaccount.com"]}]}),
    );
    let (code, text) = gcloud(&dir, &via_gate, &stub, &ca, &replace);
    assert_eq!(code, 0, "{text}\n--- gate\n{}", server.log());
    assert_eq!(stub.writes().len(), 1, "{:?}", stub.writes());
}
