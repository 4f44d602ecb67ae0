//! Policy reloads of the real server (real TLS on loopback) that must not fail open: a set that
//! binds nothing, a shrink, files written one by one, and a ConfigMap `..data` swap.

use crate::server::{eventually, ready, start};
use crate::server_support::{gate_binary, make_certs, Client, Server};
use crate::support::{fixtures, repo, temp_dir};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The shipped library's policy files, copied into `dir`.
fn copy_library(dir: &Path) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).unwrap();
    let mut copied = Vec::new();
    for entry in std::fs::read_dir(repo().join("policies")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let to = dir.join(path.file_name().unwrap());
            std::fs::copy(&path, &to).unwrap();
            copied.push(to);
        }
    }
    copied
}

fn reload_fixture(name: &str) -> String {
    std::fs::read_to_string(fixtures().join("reload").join(name)).unwrap()
}

/// The HTTP status `/v1/check` answers for a manifest file of the repository.
async fn check_status(client: &Client, manifest: &str) -> u16 {
    let body = std::fs::read(repo().join(manifest)).unwrap();
    client
        .send("POST", "/v1/check", &body)
        .await
        .unwrap()
        .status
}

const SENSITIVE_WITHOUT_KEY: &str = "examples/service.yaml";
const BLOCKED_NAME: &str = "integration/fixtures/reload/blocked-service.yaml";

fn failures(reason: &str) -> String {
    format!("cmek_gate_reload_failures_total{{what=\"policies\",reason=\"{reason}\"}}")
}

/// Waits (bounded) until the server has counted a policy reload failure for `reason`.
async fn counted_failure(server: &Server, reason: &str) {
    eventually(server, &format!("a counted {reason} failure"), || async {
        server.metric(&failures(reason)).await >= 1.0
    })
    .await;
}

/// Asserts that the server loaded two policy sets (its generation and its log agree; `when`
/// says which) and counted no reload failure.
async fn two_loads_and_no_failure(server: &Server, when: &str) {
    assert_eq!(
        (
            server.metric("cmek_gate_policy_set_generation").await,
            loads(server)
        ),
        (2.0, 2),
        "{when}\n{}",
        server.log()
    );
    assert!(
        !server
            .metrics_text()
            .await
            .contains("cmek_gate_reload_failures_total{"),
        "{}",
        server.log()
    );
}

/// Removes every file of the policy folder `policies`.
fn remove_every_file(policies: &Path) {
    for entry in std::fs::read_dir(policies).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
}

/// Writes the reload fixture `policies/NAME` to `policies`/NAME.
fn add_fixture(policies: &Path, name: &str) {
    std::fs::write(
        policies.join(name),
        reload_fixture(&format!("policies/{name}")),
    )
    .unwrap();
}

/// How many policy sets the server says it loaded.
fn loads(server: &Server) -> usize {
    server.log().matches("policy set loaded").count()
}

/// Starts a server on the library copied into `dir/policies`.
async fn serve_library(dir: &Path, extra: &[&str]) -> (Server, Client, PathBuf) {
    let policies = dir.join("policies");
    copy_library(&policies);
    let mut args = vec!["--policies", policies.to_str().unwrap()];
    args.extend(extra);
    let (server, client) = start(dir, &args);
    ready(&server, &client).await;
    assert_eq!(check_status(&client, SENSITIVE_WITHOUT_KEY).await, 403);
    (server, client, policies)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_every_policy_file_keeps_the_old_set_and_counts_the_failure() {
    let dir = temp_dir("reload-delete-all");
    let (server, client, policies) = serve_library(&dir, &[]).await;
    remove_every_file(&policies);
    counted_failure(&server, "binds-nothing").await;
    assert_eq!(server.metric("cmek_gate_policy_set_generation").await, 1.0);
    assert_eq!(
        check_status(&client, SENSITIVE_WITHOUT_KEY).await,
        403,
        "the old set still denies a sensitive Service without a key"
    );
    let log = server.log();
    assert!(
        log.contains("policy reload failed") && log.contains("no policy is bound"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_without_its_binding_never_replaces_the_set() {
    let dir = temp_dir("reload-unbound");
    let (server, client, policies) = serve_library(&dir, &[]).await;
    remove_every_file(&policies);
    add_fixture(&policies, "blocked-name-policy.yaml");
    counted_failure(&server, "binds-nothing").await;
    assert_eq!(check_status(&client, SENSITIVE_WITHOUT_KEY).await, 403);
    // With its binding the set binds one policy, fewer than the nine serving: a shrink.
    add_fixture(&policies, "blocked-name-binding.yaml");
    counted_failure(&server, "shrink").await;
    assert_eq!(server.metric("cmek_gate_policy_set_generation").await, 1.0);
    assert_eq!(check_status(&client, SENSITIVE_WITHOUT_KEY).await, 403);
    assert_eq!(check_status(&client, BLOCKED_NAME).await, 200);
    assert!(
        server.log().contains("--allow-policy-shrink"),
        "{}",
        server.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shrink_is_refused_unless_the_operator_allows_it() {
    let dir = temp_dir("reload-shrink");
    let (server, client, policies) = serve_library(&dir, &[]).await;
    std::fs::remove_file(policies.join("cmek-required.yaml")).unwrap();
    counted_failure(&server, "shrink").await;
    assert_eq!(check_status(&client, SENSITIVE_WITHOUT_KEY).await, 403);
    assert!(
        server
            .log()
            .contains("no longer bound: ValidatingAdmissionPolicy/cmek-required"),
        "{}",
        server.log()
    );
    // `--allow-policy-shrink` lets the same change through (server::a_broken_policy_file_...
    // does the same with a compile error first).
    let allowed_dir = temp_dir("reload-shrink-allowed");
    let (allowed, allowed_client, allowed_policies) =
        serve_library(&allowed_dir, &["--allow-policy-shrink"]).await;
    std::fs::remove_file(allowed_policies.join("cmek-required.yaml")).unwrap();
    eventually(&allowed, "the smaller set loading", || async {
        allowed.metric("cmek_gate_policy_set_generation").await >= 2.0
    })
    .await;
    assert_eq!(
        check_status(&allowed_client, SENSITIVE_WITHOUT_KEY).await,
        200
    );
}

/// Runs `cmek-gate serve` that must exit on its own within 20 s; returns its code and stderr.
fn serve_expecting_exit(dir: &Path, policies: &Path) -> (i32, String) {
    if !dir.join("ca.crt").exists() {
        make_certs(dir, false);
    }
    let stderr_path = dir.join("serve.log");
    let mut child = std::process::Command::new(gate_binary())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "off",
        ])
        .arg("--cert")
        .arg(dir.join("tls.crt"))
        .arg("--key")
        .arg(dir.join("tls.key"))
        .arg("--policies")
        .arg(policies)
        .env_remove("CMEK_GATE_POLICIES")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "serve did not exit: it serves a set that binds nothing\n{}",
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (
        status.code().unwrap_or(-1),
        std::fs::read_to_string(&stderr_path).unwrap(),
    )
}

#[test]
fn serve_refuses_to_start_on_a_set_that_binds_nothing() {
    let dir = temp_dir("serve-binds-nothing");
    let only_policy = dir.join("only-policy");
    std::fs::create_dir_all(&only_policy).unwrap();
    add_fixture(&only_policy, "blocked-name-policy.yaml");
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    for policies in [&only_policy, &empty] {
        let (code, stderr) = serve_expecting_exit(&dir, policies);
        assert_eq!(code, 2, "{stderr}");
        assert!(
            stderr.contains(&format!("{}: no policy is bound", policies.display())),
            "{stderr}"
        );
    }
}

/// The text of a policy and its binding, numbered, each denying Services named `blocked-...`.
fn numbered_pair(n: usize) -> (String, String) {
    let policy = reload_fixture("policies/blocked-name-policy.yaml")
        .replace("name: blocked-name\n", &format!("name: blocked-name-{n}\n"));
    let binding = reload_fixture("policies/blocked-name-binding.yaml")
        .replace(
            "name: blocked-name-binding\n",
            &format!("name: blocked-name-binding-{n}\n"),
        )
        .replace(
            "policyName: blocked-name\n",
            &format!("policyName: blocked-name-{n}\n"),
        );
    (policy, binding)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_written_one_by_one_load_once_when_complete() {
    let dir = temp_dir("reload-one-by-one");
    // Polls every 500 ms; a file every 100 ms for 800 ms: a poll always falls while they are
    // being written, and two polls in a row never see the same files until the last one.
    let (server, client, policies) = serve_library(&dir, &["--reload-interval", "500ms"]).await;
    for n in 1..=4 {
        let (policy, binding) = numbered_pair(n);
        std::fs::write(policies.join(format!("zz-{n}-policy.yaml")), policy).unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        std::fs::write(policies.join(format!("zz-{n}-binding.yaml")), binding).unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eventually(&server, "the complete set loading", || async {
        server.metric("cmek_gate_policy_set_generation").await >= 2.0
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    two_loads_and_no_failure(&server, "one load at start, one when all files were there").await;
    assert_eq!(check_status(&client, BLOCKED_NAME).await, 403);
    assert_eq!(check_status(&client, SENSITIVE_WITHOUT_KEY).await, 403);
}

/// A kubelet-style ConfigMap version folder `..NAME` holding `files` (name, text).
fn write_version(mount: &Path, name: &str, files: &[(String, String)]) {
    let version = mount.join(name);
    std::fs::create_dir_all(&version).unwrap();
    for (file, text) in files {
        std::fs::write(version.join(file), text).unwrap();
    }
}

/// Points `..data` at `..NAME` atomically, as the kubelet does: a new symlink renamed over it.
fn swap_data(mount: &Path, name: &str) {
    let tmp = mount.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(name, &tmp).unwrap();
    std::fs::rename(&tmp, mount.join("..data")).unwrap();
}

fn link_file(mount: &Path, file: &str) {
    std::os::unix::fs::symlink(format!("..data/{file}"), mount.join(file)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configmap_data_swap_reloads_to_exactly_the_new_set() {
    let dir = temp_dir("reload-configmap");
    let library = dir.join("library");
    let mut v1: Vec<(String, String)> = copy_library(&library)
        .iter()
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(p).unwrap(),
            )
        })
        .collect();
    v1.sort();
    // The new version: owner-label removed, blocked-name added.
    let mut v2: Vec<(String, String)> = v1
        .iter()
        .filter(|(name, _)| name != "owner-label.yaml")
        .cloned()
        .collect();
    for name in ["blocked-name-policy.yaml", "blocked-name-binding.yaml"] {
        v2.push((name.into(), reload_fixture(&format!("policies/{name}"))));
    }
    let mount = dir.join("mount");
    std::fs::create_dir_all(&mount).unwrap();
    let (old, new) = (
        "..2026_12_04_10_00_00.000000001",
        "..2026_12_04_10_05_00.000000002",
    );
    write_version(&mount, old, &v1);
    swap_data(&mount, old);
    for (file, _) in &v1 {
        link_file(&mount, file);
    }
    make_certs(&dir, false);
    let server = Server::start(
        &dir.join("tls.crt"),
        &dir.join("tls.key"),
        &["--policies", mount.to_str().unwrap()],
        &dir,
    );
    let client = Client::new(server.addr, &[&dir.join("ca.crt")], None);
    ready(&server, &client).await;
    assert_eq!(check_status(&client, BLOCKED_NAME).await, 200);
    // The kubelet's order, slowed down: the new folder, the swap, new links, stale links
    // removed, the old folder removed. Each step outlasts two polls (200 ms each).
    write_version(&mount, new, &v2);
    swap_data(&mount, new);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    link_file(&mount, "blocked-name-policy.yaml");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    link_file(&mount, "blocked-name-binding.yaml");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    std::fs::remove_file(mount.join("owner-label.yaml")).unwrap();
    std::fs::remove_dir_all(mount.join(old)).unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(check_status(&client, BLOCKED_NAME).await, 403);
    assert_eq!(check_status(&client, SENSITIVE_WITHOUT_KEY).await, 403);
    two_loads_and_no_failure(&server, "one load at start, one at the swap").await;
}
