//! The Cloud Run API gate failing closed, with hostile requests over real TLS on loopback.
//!
//! A small recording HTTP server stands in for Google's Cloud Run Admin API (which cannot be
//! reached from these machines): the gate forwards to it with `--cloud-run-upstream`, and every
//! table row asserts both the gate's answer and what the stand-in saw — nothing, or exactly the
//! normalised request the gate judged. Requests are written as raw bytes, so that Host headers,
//! request targets and methods reach the gate exactly as an attacker would send them.

use crate::server_support::{body_bytes, make_certs, Client, FakeUpstream, Server};
use crate::support::{fixtures, temp_dir};
use bytes::Bytes;
use cmek_gate::policy::{embedded, PolicySet};
use http_body_util::Full;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request the stand-in for Google received.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    method: String,
    /// Path and query as received.
    target: String,
    body: Vec<u8>,
}

/// The stand-in for Google's API: answers every request with 200 `{}` and records it; with
/// `answer: false` it accepts connections and requests and never answers.
struct FakeGoogle {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    /// How many connections it accepted.
    connections: Arc<std::sync::atomic::AtomicUsize>,
}

impl FakeGoogle {
    fn start(answer: bool) -> FakeGoogle {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let shared = Arc::clone(&seen);
        let upstream =
            FakeUpstream::start(move |request: hyper::Request<hyper::body::Incoming>| {
                let seen = Arc::clone(&shared);
                async move {
                    let method = request.method().to_string();
                    let target = request
                        .uri()
                        .path_and_query()
                        .map_or("/".to_owned(), |p| p.to_string());
                    let body = body_bytes(request.into_body()).await;
                    seen.lock().unwrap().push(Seen {
                        method,
                        target,
                        body,
                    });
                    if !answer {
                        std::future::pending::<()>().await;
                    }
                    hyper::Response::builder()
                        .header("content-type", "application/json")
                        .body(Full::new(Bytes::from_static(b"{}")))
                        .unwrap()
                }
            });
        FakeGoogle {
            addr: upstream.addr,
            seen,
            connections: upstream.connections,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn take(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

/// Starts `serve` with the API gate and these flags, and waits until the policies are loaded.
async fn start_gate(dir: &Path, extra: &[&str]) -> (Server, Client, Client) {
    // A second gate in the same folder keeps the first one's CA (`certs` would refuse to replace it).
    if !dir.join("ca.crt").exists() {
        make_certs(dir, false);
    }
    let mut args = vec!["--cloud-run-listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let server = Server::start(&dir.join("tls.crt"), &dir.join("tls.key"), &args, dir);
    let webhook = Client::new(server.addr, &[&dir.join("ca.crt")], None);
    let gate = Client::new(server.cloud_run.unwrap(), &[&dir.join("ca.crt")], None);
    for _ in 0..200 {
        if webhook
            .send("GET", "/readyz", b"")
            .await
            .is_ok_and(|r| r.status == 200)
        {
            return (server, webhook, gate);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the server never became ready:\n{}", server.log());
}

/// What the gate answered a raw request.
#[derive(Debug)]
struct Answer {
    status: u16,
    body: String,
}

impl Answer {
    /// The status name of Google's error format (`{"error": {"code", "status", "message"}}`,
    /// the code the HTTP status), or what is wrong with the body.
    fn google_status(&self) -> String {
        let Ok(json) = serde_json::from_str::<serde_json::Value>(&self.body) else {
            return format!("(not JSON: {:?})", self.body);
        };
        if json["error"]["code"] != self.status || !json["error"]["message"].is_string() {
            return format!("(not Google's error format: {json})");
        }
        json["error"]["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

/// Sends `head` (the request line and headers, without the final blank line) and `body` on a
/// new TLS connection, with `content-length` and `connection: close`; reads the whole answer.
async fn raw(gate: &Client, head: &str, body: &[u8]) -> Answer {
    let request = format!(
        "{head}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let exchange = gate.exchange_raw(&request, body);
    let answer = tokio::time::timeout(Duration::from_secs(60), exchange).await;
    let answer = answer.unwrap_or_else(|_| panic!("no answer to {head:?}"));
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (status_head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = status_head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?} for {head:?}"));
    Answer {
        status,
        body: body.to_owned(),
    }
}

const DENIED: &[u8] = br#"{"apiVersion":"serving.knative.dev/v1","kind":"Service","metadata":{"name":"api","labels":{"data-classification":"confidential"}},"spec":{"template":{"spec":{"containers":[{"image":"x"}]}}}}"#;
const ALLOWED: &[u8] = br#"{"apiVersion":"serving.knative.dev/v1","kind":"Service","metadata":{"name":"api","labels":{"data-classification":"confidential"}},"spec":{"template":{"metadata":{"annotations":{"run.googleapis.com/encryption-key":"projects/kms-central/locations/europe-west1/keyRings/r/cryptoKeys/k"}}}}}"#;
const V2_DENIED: &[u8] =
    br#"{"labels":{"compliance":"hipaa"},"template":{"containers":[{"image":"x"}]}}"#;
const NOT_A_SERVICE: &[u8] = br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"api","labels":{"data-classification":"confidential"}}}"#;
/// Labelled sensitive, then not: a parser where the first key wins reads a sensitive service.
const DUPLICATE_LABELS: &[u8] = br#"{"apiVersion":"serving.knative.dev/v1","kind":"Service","metadata":{"name":"api","labels":{"data-classification":"confidential"},"labels":{}},"spec":{"template":{"spec":{"containers":[{"image":"x"}]}}}}"#;
const SVC: &str = "/apis/serving.knative.dev/v1/namespaces/1/services";
const HOST: &str = "host: europe-west1-gate.test";

/// A row: the request head, its body, the gate's status and Google status name, and what the
/// stand-in must have seen (`None`: nothing; else the method and target).
type Row<'a> = (String, &'a [u8], u16, &'a str, Option<(&'a str, &'a str)>);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_paths_methods_and_hosts_never_reach_the_upstream_unjudged() {
    let dir = temp_dir("api-gate-hostile");
    let google = FakeGoogle::start(true);
    let upstream = google.url();
    let (server, _, gate) = start_gate(&dir, &["--cloud-run-upstream", &upstream]).await;
    let line = |method: &str, target: &str, headers: &[&str]| {
        let mut head = format!("{method} {target} HTTP/1.1");
        for header in headers {
            head.push_str("\r\n");
            head.push_str(header);
        }
        head
    };
    let rows: Vec<Row> = vec![
        // Other spellings of a denied create: normalised, judged, refused.
        (line("POST", "/apis/serving.knative.dev/v1/namespaces/1/%73ervices", &[HOST]), DENIED, 400, "FAILED_PRECONDITION", None),
        (line("POST", "//apis/serving.knative.dev/v1/namespaces/1/services", &[HOST]), DENIED, 400, "FAILED_PRECONDITION", None),
        (line("POST", &format!("{SVC}/"), &[HOST]), DENIED, 400, "FAILED_PRECONDITION", None),
        (line("POST", "/apis/serving.knative.dev/v1/namespaces/1/x/../services", &[HOST]), DENIED, 400, "FAILED_PRECONDITION", None),
        (line("POST", "/apis/serving.knative.dev/v1/namespaces/1/x/%2E%2E/./services", &[HOST]), DENIED, 400, "FAILED_PRECONDITION", None),
        (line("PUT", &format!("{SVC}//api/"), &[HOST]), DENIED, 400, "FAILED_PRECONDITION", None),
        // The allowed one, spelled oddly: forwarded as normalised.
        (line("POST", "/apis/serving.knative.dev/v1/namespaces/1/%73ervices/?alt=json", &[HOST]), ALLOWED, 200, "", Some(("POST", "/apis/serving.knative.dev/v1/namespaces/1/services?alt=json"))),
        // Ambiguous encodings: refused, not guessed.
        (line("POST", "/apis/serving.knative.dev/v1/namespaces/1%2Fservices", &[HOST]), DENIED, 400, "INVALID_ARGUMENT", None),
        (line("POST", "/apis/serving.knative.dev/v1/namespaces/1/%2573ervices", &[HOST]), DENIED, 400, "INVALID_ARGUMENT", None),
        (line("POST", "/apis/serving.knative.dev/v1/namespaces/1/services;x=y", &[HOST]), DENIED, 400, "INVALID_ARGUMENT", None),
        (line("POST", "/apis/serving.knative.dev/v1/namespaces/1/services%00", &[HOST]), DENIED, 400, "INVALID_ARGUMENT", None),
        (line("GET", "/../apis", &[HOST]), b"", 400, "INVALID_ARGUMENT", None),
        (line("POST", &format!("http://127.0.0.1:1{SVC}"), &[HOST]), DENIED, 400, "INVALID_ARGUMENT", None),
        // Method overrides, whatever they ask for.
        (line("POST", "/v2/projects/p/locations/europe-west1/services/api", &[HOST, "x-http-method-override: PATCH"]), V2_DENIED, 403, "PERMISSION_DENIED", None),
        (line("POST", "/v2/projects/p/locations/europe-west1/services/api", &[HOST, "X-HTTP-Method: PATCH"]), V2_DENIED, 403, "PERMISSION_DENIED", None),
        (line("POST", "/v2/projects/p/locations/europe-west1/services/api", &[HOST, "X-Method-Override: PATCH"]), V2_DENIED, 403, "PERMISSION_DENIED", None),
        (line("POST", "/v2/projects/p/locations/europe-west1/services/api?$httpMethod=PATCH", &[HOST]), V2_DENIED, 403, "PERMISSION_DENIED", None),
        (line("POST", &format!("{SVC}/api?_method=PUT"), &[HOST]), DENIED, 403, "PERMISSION_DENIED", None),
        (line("GET", &format!("{SVC}/api"), &[HOST, "x-http-method-override: PUT"]), b"", 403, "PERMISSION_DENIED", None),
        // Writes the gate does not understand.
        (line("PATCH", &format!("{SVC}/api"), &[HOST]), DENIED, 403, "PERMISSION_DENIED", None),
        (line("POST", "/apis/serving.knative.dev/v1/namespaces/1/configurations", &[HOST]), DENIED, 403, "PERMISSION_DENIED", None),
        (line("PUT", "/apis/run.googleapis.com/v1/namespaces/1/services/api", &[HOST]), DENIED, 403, "PERMISSION_DENIED", None),
        (line("PATCH", "/v2/projects/p/locations/europe-west1/services/api?updateMask=template.encryptionKey", &[HOST]), V2_DENIED, 403, "PERMISSION_DENIED", None),
        (line("POST", "/v2/projects/p/locations/-/services?serviceId=api", &[HOST]), V2_DENIED, 403, "PERMISSION_DENIED", None),
        (line("GET", &format!("{SVC}/api"), &[HOST]), DENIED, 403, "PERMISSION_DENIED", None),
        (line("OPTIONS", SVC, &[HOST]), b"", 403, "PERMISSION_DENIED", None),
        (line("DELETE", SVC, &[HOST]), b"", 403, "PERMISSION_DENIED", None),
        (line("POST", SVC, &[HOST]), NOT_A_SERVICE, 400, "INVALID_ARGUMENT", None),
        (line("POST", SVC, &[HOST]), DUPLICATE_LABELS, 400, "INVALID_ARGUMENT", None),
        // The pass-through list and reads: forwarded as normalised.
        (line("DELETE", &format!("{SVC}//api/"), &[HOST]), b"", 200, "", Some(("DELETE", "/apis/serving.knative.dev/v1/namespaces/1/services/api"))),
        (line("POST", "/apis/run.googleapis.com/v1/namespaces/1/jobs/j%3Arun", &[HOST]), b"{}", 200, "", Some(("POST", "/apis/run.googleapis.com/v1/namespaces/1/jobs/j:run"))),
        (line("GET", "/apis/serving.knative.dev/v1/namespaces/1/./services/api?fields=a,b", &[HOST]), b"", 200, "", Some(("GET", "/apis/serving.knative.dev/v1/namespaces/1/services/api?fields=a%2Cb"))),
        // Host headers: only a well-formed name is accepted, even with a fixed upstream.
        (line("GET", SVC, &["host: localhost:19999#-gate.example.com"]), b"", 400, "INVALID_ARGUMENT", None),
        (line("GET", SVC, &["host: evil@europe-west1-gate.test"]), b"", 400, "INVALID_ARGUMENT", None),
        (line("GET", SVC, &["host: 127.0.0.1:8443"]), b"", 400, "INVALID_ARGUMENT", None),
        (line("GET", SVC, &["host: [::1]:8443"]), b"", 400, "INVALID_ARGUMENT", None),
        (line("GET", SVC, &["host: EUROPE-WEST1-gate.test"]), b"", 400, "INVALID_ARGUMENT", None),
        (line("GET", SVC, &["host: europe-west1-gate.test."]), b"", 400, "INVALID_ARGUMENT", None),
        (line("GET", SVC, &["host: europe-west1-gate.test/x"]), b"", 400, "INVALID_ARGUMENT", None),
        (line("GET", SVC, &["host: europe%2dwest1-gate.test"]), b"", 400, "INVALID_ARGUMENT", None),
        (line("GET", SVC, &["host: europe-west1-gate.test:99999"]), b"", 400, "INVALID_ARGUMENT", None),
        (line("GET", SVC, &["host: europe-west1 gate.test"]), b"", 400, "INVALID_ARGUMENT", None),
        (line("GET", SVC, &[HOST, HOST]), b"", 400, "INVALID_ARGUMENT", None),
        (line("GET", SVC, &[HOST]), b"", 200, "", Some(("GET", SVC))),
    ];
    let mut failures = Vec::new();
    for (head, body, status, google_status, expected) in &rows {
        let answer = raw(&gate, head, body).await;
        // The gate answers after the upstream answered: what it saw is complete.
        let seen = google.take();
        let mut wrong = answer.status != *status;
        if !google_status.is_empty() {
            wrong |= answer.google_status() != *google_status;
        }
        match expected {
            None => wrong |= !seen.is_empty(),
            Some((method, target)) => {
                let judged_body = if *method == "GET" { &b""[..] } else { body };
                wrong |= seen
                    != [Seen {
                        method: method.to_string(),
                        target: target.to_string(),
                        body: judged_body.to_vec(),
                    }];
            }
        }
        if wrong {
            failures.push(format!(
                "{head:?}: got {} {}, the upstream saw {seen:?}; want {status} {google_status}, {expected:?}",
                answer.status, answer.body
            ));
        }
    }
    // The forwarded requests came one after the other: the pooled connection was reused.
    let forwarded = rows.iter().filter(|r| r.4.is_some()).count();
    let connections = google.connections.load(std::sync::atomic::Ordering::SeqCst);
    if connections != 1 {
        failures.push(format!(
            "{forwarded} requests forwarded one after the other over {connections} connections, not 1"
        ));
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows wrong:\n{}\n--- gate log\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n"),
        server.log()
    );
}

/// The attack of the issue: with `--cloud-run-host`, `Host: localhost:PORT#-gate.example.com`
/// made the gate connect to PORT. Now it is refused and no connection is made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_header_never_chooses_where_the_gate_connects() {
    let dir = temp_dir("api-gate-trap");
    let trap = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    trap.set_nonblocking(true).unwrap();
    let port = trap.local_addr().unwrap().port();
    let (server, _, gate) = start_gate(&dir, &["--cloud-run-host", "gate.example.com"]).await;
    let hosts = [
        format!("localhost:{port}#-gate.example.com"),
        format!("127.0.0.1:{port}#-gate.example.com"),
        format!("localhost:{port}/-gate.example.com"),
        format!("localhost:{port}?-gate.example.com"),
        format!("x@localhost:{port}#-gate.example.com"),
        format!("localhost-gate.example.com:{port}"),
        "europe-west1-other.example.com".to_owned(),
        "gate.example.com.evil.test".to_owned(),
    ];
    let mut wrong = Vec::new();
    for host in &hosts {
        let head = format!(
            "GET /apis/serving.knative.dev/v1/namespaces/1/services HTTP/1.1\r\nhost: {host}"
        );
        let answer = raw(&gate, &head, b"").await;
        let status = answer.google_status();
        let refused = matches!(
            (answer.status, status.as_str()),
            (400, "INVALID_ARGUMENT") | (403, "PERMISSION_DENIED")
        );
        if !refused {
            wrong.push(format!("{host}: {answer:?}"));
        }
    }
    let connections = std::iter::from_fn(|| trap.accept().ok()).count();
    assert_eq!(
        connections, 0,
        "the gate connected to the port a Host header named"
    );
    assert!(wrong.is_empty(), "{wrong:#?}\n{}", server.log());
}

/// A stand-in for Google that never answers: the gate answers 504 in Google's format, from its
/// upstream timeout (nothing else could answer: the stand-in holds every request forever).
/// Bodies over --max-body-bytes are 413 and never forwarded, judged or passed through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_upstream_times_out_and_big_bodies_are_refused() {
    let dir = temp_dir("api-gate-timeout");
    let silent = FakeGoogle::start(false);
    let upstream = silent.url();
    let (server, _, gate) = start_gate(
        &dir,
        &[
            "--cloud-run-upstream",
            &upstream,
            "--cloud-run-upstream-timeout",
            "1s",
            "--max-body-bytes",
            "1000",
        ],
    )
    .await;
    let answer = raw(&gate, &format!("GET {SVC}/api HTTP/1.1\r\n{HOST}"), b"").await;
    assert_eq!(answer.status, 504, "{answer:?}\n{}", server.log());
    assert_eq!(answer.google_status(), "DEADLINE_EXCEEDED");
    assert_eq!(silent.take().len(), 1, "the request did reach the upstream");
    let big = vec![b' '; 2000];
    for (method, target) in [
        ("POST", SVC.to_owned()),
        (
            "POST",
            "/apis/run.googleapis.com/v1/namespaces/1/jobs/j:run".to_owned(),
        ),
        (
            "POST",
            "/v2/projects/p/locations/europe-west1/services/s:setIamPolicy".to_owned(),
        ),
    ] {
        let answer = raw(
            &gate,
            &format!("{method} {target} HTTP/1.1\r\n{HOST}"),
            &big,
        )
        .await;
        assert_eq!(answer.status, 413, "{target}: {answer:?}");
        assert_eq!(answer.google_status(), "INVALID_ARGUMENT");
    }
    assert!(
        silent.take().is_empty(),
        "a body over the limit was forwarded"
    );
    drop(server);

    // An upstream that sends its headers and 3 of the 100 bytes it announced, then nothing: the
    // gate ends the response after the timeout instead of holding the connection.
    let stalling = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let stalling_url = format!("http://{}", stalling.local_addr().unwrap());
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        let Ok((mut tcp, _)) = stalling.accept() else {
            return;
        };
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && tcp.read(&mut byte).is_ok_and(|n| n == 1) {
            head.push(byte[0]);
        }
        let _ = tcp.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nabc");
        std::thread::sleep(Duration::from_secs(120));
    });
    let (server, _, gate) = start_gate(
        &dir,
        &[
            "--cloud-run-upstream",
            &stalling_url,
            "--cloud-run-upstream-timeout",
            "1s",
        ],
    )
    .await;
    let answer = raw(&gate, &format!("GET {SVC}/api HTTP/1.1\r\n{HOST}"), b"").await;
    assert_eq!(answer.status, 200, "{answer:?}\n{}", server.log());
    assert_eq!(
        answer.body, "abc",
        "the body ends where the upstream stalled"
    );
}

/// A Service named `a[junk-1]`, denied by the API gate and by the webhook: the violation metric
/// is labelled with the real policy only. (The webhook already took the names from the decision;
/// the API gate split the message text, which holds the name.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn violation_metrics_are_labelled_with_policy_names_only() {
    let dir = temp_dir("api-gate-metric");
    let google = FakeGoogle::start(true);
    let upstream = google.url();
    let (server, webhook, gate) = start_gate(&dir, &["--cloud-run-upstream", &upstream]).await;
    let body = String::from_utf8(DENIED.to_vec())
        .unwrap()
        .replace(r#""name":"api""#, r#""name":"a[junk-1] [x]""#);
    let answer = raw(
        &gate,
        &format!("POST {SVC} HTTP/1.1\r\n{HOST}"),
        body.as_bytes(),
    )
    .await;
    assert_eq!(answer.status, 400, "{answer:?}");
    assert!(answer.body.contains("a[junk-1]"), "{answer:?}");
    let review = std::fs::read_to_string(fixtures().join("admission/create-denied.json"))
        .unwrap()
        .replace("payments-api", "b[junk-2]");
    let reply = webhook
        .send("POST", "/validate", review.as_bytes())
        .await
        .unwrap();
    assert_eq!(reply.json()["response"]["allowed"], false);
    let text = server.metrics_text().await;
    let labels: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("cmek_gate_violations_total{"))
        .filter_map(|l| l.split('"').nth(1))
        .collect();
    let library = PolicySet::compile(&embedded::sources(), &[]).unwrap();
    let names: Vec<&str> = library.policies.iter().map(|p| p.name.as_str()).collect();
    assert!(labels.contains(&"cmek-required"), "{text}");
    assert!(
        labels.iter().all(|l| names.contains(l)),
        "labels {labels:?} are not all policy names {names:?}\n{text}"
    );
    assert!(google.take().is_empty());
}

/// A gate host or an upstream that could not be parsed safely stops `serve` before it listens.
#[test]
fn serve_refuses_a_gate_host_or_upstream_it_cannot_trust() {
    let dir = temp_dir("api-gate-config");
    make_certs(&dir, false);
    let cases: &[(&str, &str, &str)] = &[
        (
            "--cloud-run-host",
            "gate.example.com:443",
            "lower-case DNS name",
        ),
        (
            "--cloud-run-host",
            "Gate.example.com",
            "lower-case DNS name",
        ),
        ("--cloud-run-host", "10.0.0.1", "IP address"),
        (
            "--cloud-run-upstream",
            "ftp://run.googleapis.com",
            "http:// or https://",
        ),
        ("--cloud-run-upstream", "/relative", "http:// or https://"),
        (
            "--cloud-run-upstream",
            "https://run.googleapis.com/?x=1",
            "query",
        ),
    ];
    for (flag, value, message) in cases {
        let mut child = std::process::Command::new(crate::server_support::gate_binary())
            .arg("serve")
            .arg("--cert")
            .arg(dir.join("tls.crt"))
            .arg("--key")
            .arg(dir.join("tls.key"))
            .args(["--listen", "127.0.0.1:0", "--metrics-listen", "off"])
            .args(["--cloud-run-listen", "127.0.0.1:0", flag, value])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // A serve that accepted the value runs until killed: wait a bounded time for the exit.
        let mut status = None;
        for _ in 0..200 {
            status = child.try_wait().unwrap();
            if status.is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if status.is_none() {
            let _ = child.kill();
            let _ = child.wait();
            panic!("serve accepted {flag} {value} and started serving");
        }
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert_eq!(status.unwrap().code(), Some(2), "{flag} {value}: {stderr}");
        assert!(stderr.contains(message), "{flag} {value}: {stderr}");
    }
}
