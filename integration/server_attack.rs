//! The real `cmek-gate serve` under attack, over real TLS on loopback: hostile bodies within a
//! memory bound, SIGTERM drains (handshakes, first requests and large bodies in flight, the
//! listen backlog) and always exits within the grace period, and request values cannot forge
//! log lines.

use crate::server_support::{make_certs, Client, Server};
use crate::support::{fixtures, temp_dir};
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn start(dir: &Path, extra: &[&str]) -> (Server, Client) {
    make_certs(dir, false);
    let server = Server::start(&dir.join("tls.crt"), &dir.join("tls.key"), extra, dir);
    let client = Client::new(server.addr, &[&dir.join("ca.crt")], None);
    (server, client)
}

async fn ready(server: &Server, client: &Client) {
    for _ in 0..200 {
        if client
            .send("GET", "/readyz", b"")
            .await
            .is_ok_and(|r| r.status == 200)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("not ready within 10 s\n{}", server.log());
}

fn admission(name: &str) -> serde_json::Value {
    let text = std::fs::read(fixtures().join(format!("admission/{name}.json"))).unwrap();
    serde_json::from_slice(&text).unwrap()
}

/// The 829-byte billion-laughs manifest (9 levels of 9 aliases).
fn alias_bomb() -> Vec<u8> {
    std::fs::read(fixtures().join("hostile/billion-laughs/input.yaml")).unwrap()
}

/// A 2.3 MB AdmissionReview whose object carries 150,000 labels.
fn label_heavy_review() -> Vec<u8> {
    let mut review = admission("create-allowed");
    let labels = review["request"]["object"]["metadata"]["labels"]
        .as_object_mut()
        .unwrap();
    for i in 0..150_000 {
        labels.insert(format!("label-{i:06}"), "v".into());
    }
    serde_json::to_vec(&review).unwrap()
}

/// A legitimate review of about `bytes` bytes: one long annotation (few nodes, many bytes).
fn large_review(bytes: usize, uid: &str) -> Vec<u8> {
    let mut review = admission("create-allowed");
    review["request"]["uid"] = uid.into();
    review["request"]["object"]["metadata"]["annotations"]["example.com/notes"] =
        "n".repeat(bytes).into();
    serde_json::to_vec(&review).unwrap()
}

/// The server's peak resident memory, in kB (VmHWM).
fn peak_rss_kb(server: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_alias_bombs_and_label_floods_stay_within_a_memory_bound() {
    let dir = temp_dir("server-attack-memory");
    // Refused floods make the large-body slot rest: let them wait for it (else 429, busy).
    let (server, client) = start(&dir, &["--evaluation-queue-timeout", "120s"]);
    ready(&server, &client).await;
    let bomb = alias_bomb();
    let flood = label_heavy_review();
    assert!(flood.len() > 2_000_000);
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (client, bomb) = (client.clone(), bomb.clone());
        tasks.push(tokio::spawn(async move {
            ("bomb", client.send("POST", "/v1/check", &bomb).await)
        }));
    }
    for _ in 0..4 {
        let (client, flood) = (client.clone(), flood.clone());
        tasks.push(tokio::spawn(async move {
            ("flood", client.send("POST", "/validate", &flood).await)
        }));
    }
    for task in tasks {
        let (what, reply) = task.await.unwrap();
        let reply = reply.unwrap_or_else(|e| panic!("{what}: {e}\n{}", server.log()));
        let body = reply.json();
        match what {
            // Refused as the CLI refuses the file: an input error, 400.
            "bomb" => {
                assert_eq!(reply.status, 400, "{body}");
                let message = body["errors"][0]["message"].as_str().unwrap_or_default();
                assert!(message.contains("aliases expand to more than"), "{body}");
            }
            // Denied by its uid (fail closed whatever the failurePolicy), not evaluated.
            _ => {
                assert_eq!(reply.status, 200, "{body}");
                let response = &body["response"];
                assert_eq!(response["uid"], "705ab4f5-6393-11e8-b7cc-42010a800003");
                assert_eq!(response["allowed"], false, "{body}");
                assert_eq!(response["status"]["code"], 413, "{body}");
                let message = response["status"]["message"].as_str().unwrap();
                assert!(message.contains("more than 100000 values"), "{message}");
            }
        }
    }
    // Before the budgets, 16 bombs took the server to 4.2 GB.
    let peak = peak_rss_kb(&server);
    assert!(
        peak < 150 * 1024,
        "peak RSS {peak} kB over 150 MB\n{}",
        server.log()
    );
    // The server still answers.
    let allowed = serde_json::to_vec(&admission("create-allowed")).unwrap();
    let reply = client.send("POST", "/validate", &allowed).await.unwrap();
    assert_eq!(reply.json()["response"]["allowed"], true);
}

/// Reads an HTTP/1.1 response to its end (the server closes after answering at shutdown).
async fn read_answer<S: tokio::io::AsyncRead + Unpin>(stream: &mut S) -> String {
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

async fn send_all<S: tokio::io::AsyncWrite + Unpin>(
    stream: &mut S,
    parts: &[&[u8]],
) -> std::io::Result<()> {
    for part in parts {
        stream.write_all(part).await?;
    }
    stream.flush().await
}

fn request_head(body_len: usize) -> String {
    format!(
        "POST /validate HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: {body_len}\r\n\r\n"
    )
}

/// Waits for the server process to exit; its status and how long it took after `since`.
async fn exit_of(server: Server, since: Instant) -> (std::process::ExitStatus, Duration, String) {
    let mut server = server;
    tokio::task::spawn_blocking(move || {
        let status = server.child.wait().unwrap();
        (status, since.elapsed(), server.log())
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_answers_every_connection_accepted_before_it_and_exits_within_the_grace() {
    let dir = temp_dir("server-attack-drain");
    // 30 connections at once: of the 30 opened last, 10 are accepted and 20 wait in the listen
    // backlog when the signal comes.
    let (server, client) = start(
        &dir,
        &[
            "--max-connections",
            "30",
            "--shutdown-grace",
            "20s",
            "--evaluation-queue-timeout",
            "20s",
        ],
    );
    ready(&server, &client).await;
    let large = 512 * 1024;
    // 10 connections with a large request half sent.
    let mut in_flight = Vec::new();
    for i in 0..10 {
        let body = large_review(large, &format!("in-flight-{i}"));
        let mut tls = client.connect().await.unwrap();
        tls.write_all(request_head(body.len()).as_bytes())
            .await
            .unwrap();
        tls.write_all(&body[..body.len() / 2]).await.unwrap();
        tls.flush().await.unwrap();
        in_flight.push((tls, body));
    }
    // 10 connections past the handshake, their request not sent yet.
    let mut handshaken = Vec::new();
    for _ in 0..10 {
        handshaken.push(client.connect().await.unwrap());
    }
    // 30 TCP connections whose TLS handshake has not started.
    let mut fresh = Vec::new();
    for _ in 0..30 {
        fresh.push(tokio::net::TcpStream::connect(server.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.signal("TERM");
    let signalled = Instant::now();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut tasks = Vec::new();
    for (i, (mut tls, body)) in in_flight.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            let uid = format!("in-flight-{i}");
            if let Err(e) = send_all(&mut tls, &[&body[body.len() / 2..]]).await {
                return (uid, format!("the rest of the body could not be sent: {e}"));
            }
            (uid, read_answer(&mut tls).await)
        }));
    }
    for (i, mut tls) in handshaken.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            let uid = format!("handshaken-{i}");
            let body = large_review(16, &uid);
            let head = request_head(body.len());
            if let Err(e) = send_all(&mut tls, &[head.as_bytes(), &body]).await {
                return (uid, format!("the request could not be sent: {e}"));
            }
            (uid, read_answer(&mut tls).await)
        }));
    }
    for (i, tcp) in fresh.into_iter().enumerate() {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let uid = format!("fresh-{i}");
            let connector = client.connector();
            let mut tls = match connector.connect(localhost(), tcp).await {
                Ok(tls) => tls,
                Err(e) => return (uid, format!("TLS handshake failed: {e}")),
            };
            let body = large_review(16, &uid);
            let head = request_head(body.len());
            if let Err(e) = send_all(&mut tls, &[head.as_bytes(), &body]).await {
                return (uid, format!("the request could not be sent: {e}"));
            }
            (uid, read_answer(&mut tls).await)
        }));
    }
    let mut failures = Vec::new();
    let total = tasks.len();
    for task in tasks {
        let (uid, answer) = task.await.unwrap();
        let complete = answer.starts_with("HTTP/1.1 200")
            && answer.contains(&format!("\"uid\":\"{uid}\""))
            && answer.contains("\"allowed\":true");
        if !complete {
            failures.push(format!("{uid}: {:.200}", answer));
        }
    }
    let (status, took, log) = exit_of(server, signalled).await;
    assert!(
        failures.is_empty(),
        "{} of {total} accepted connections got no complete answer:\n{}\n--- server log\n{log}",
        failures.len(),
        failures.join("\n")
    );
    assert!(status.success(), "exit after SIGTERM: {status:?}\n{log}");
    assert!(
        took < Duration::from_secs(20),
        "exited {took:?} after SIGTERM"
    );
}

fn localhost() -> rustls::pki_types::ServerName<'static> {
    rustls::pki_types::ServerName::try_from("localhost").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_with_hostile_bodies_and_a_stuck_client_in_flight_exits_within_the_grace() {
    let dir = temp_dir("server-attack-grace");
    let grace = Duration::from_secs(3);
    let (server, client) = start(&dir, &["--shutdown-grace", "3s", "--read-timeout", "60s"]);
    ready(&server, &client).await;
    // A request that will never finish: its body is never sent whole.
    let body = large_review(1024, "stuck");
    let mut stuck = client.connect().await.unwrap();
    stuck
        .write_all(request_head(body.len()).as_bytes())
        .await
        .unwrap();
    stuck.write_all(&body[..100]).await.unwrap();
    stuck.flush().await.unwrap();
    // Attackers: alias bombs and label floods, as fast as they are answered.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut attackers = Vec::new();
    let (bomb, flood) = (alias_bomb(), label_heavy_review());
    for i in 0..6 {
        let (client, stop, answered) = (client.clone(), stop.clone(), answered.clone());
        let (path, body) = if i % 2 == 0 {
            ("/v1/check", bomb.clone())
        } else {
            ("/validate", flood.clone())
        };
        attackers.push(tokio::spawn(async move {
            let mut sent = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && sent < 500 {
                if client.send("POST", path, &body).await.is_ok() {
                    answered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                sent += 1;
            }
        }));
    }
    // The signal comes once the server is busy answering the attackers (on a loaded machine that
    // can take longer than the 800 ms it takes on an idle one), so that the stuck request, whose
    // head was sent before any attack, is in flight.
    tokio::time::sleep(Duration::from_millis(800)).await;
    for _ in 0..200 {
        if answered.load(std::sync::atomic::Ordering::Relaxed) >= 6 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.signal("TERM");
    let signalled = Instant::now();
    let (status, took, log) = exit_of(server, signalled).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for attacker in attackers {
        let _ = attacker.await;
    }
    drop(stuck);
    // The stuck request was still in flight at the deadline: the process ended it, and says so.
    assert!(
        took < grace + Duration::from_secs(1),
        "exited {took:?} after SIGTERM, the grace is {grace:?}\n{log}"
    );
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(log.contains("grace period"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_values_cannot_forge_log_lines_in_either_format() {
    let uid = "abc\nFORGED admission decision verdict=allowed\r\u{1b}[31m\u{2028}end";
    for format in ["text", "json"] {
        let dir = temp_dir(&format!("server-attack-log-{format}"));
        let (server, client) = start(&dir, &["--log-format", format]);
        ready(&server, &client).await;
        let mut review = admission("create-denied");
        review["request"]["uid"] = uid.into();
        review["request"]["name"] = "name\nFORGED name".into();
        let reply = client
            .send("POST", "/validate", &serde_json::to_vec(&review).unwrap())
            .await
            .unwrap();
        assert_eq!(reply.json()["response"]["uid"], uid);
        let log = server.log();
        let decision = log
            .lines()
            .find(|l| l.contains("admission decision"))
            .unwrap_or_else(|| panic!("no decision logged:\n{log}"));
        for line in log.lines() {
            assert!(
                !line.trim_start().starts_with("FORGED") && !line.contains('\u{1b}'),
                "{format}: a forged line or a raw escape:\n{log}"
            );
        }
        assert!(!log.contains('\r'), "{log}");
        match format {
            "text" => {
                // JSON may carry U+2028 raw (it is JSON); a text line may not.
                assert!(!log.contains('\u{2028}'), "{log}");
                assert!(
                    decision.contains(
                        r#"uid="abc\nFORGED admission decision verdict=allowed\r\u{1b}[31m\u{2028}end""#
                    ),
                    "{decision}"
                );
                assert!(
                    decision.contains(r#"name="name\nFORGED name""#),
                    "{decision}"
                );
            }
            _ => {
                let line: serde_json::Value = serde_json::from_str(decision).unwrap();
                assert_eq!(line["uid"], uid, "{decision}");
                assert_eq!(line["name"], "name\nFORGED name", "{decision}");
            }
        }
    }
}
