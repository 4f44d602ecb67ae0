//! cmek-gate behind a real kube-apiserver, driven by the real kubectl.
//!
//! The control plane is `integration/kube/cmd/kube-rig` (Go): an embedded etcd and Kubernetes' own
//! integration-test API server (`k8s.io/kubernetes/cmd/kube-apiserver/app/testing`) at the pinned
//! release, built once with `go build` (skipped while the binary is newer than the Go sources) and
//! started once for the whole test run. It stops when its stdin closes, that is when this test
//! binary exits.
//!
//! Each test gets its own namespace, its own `cmek-gate serve` on loopback TLS (certificates from
//! `cmek-gate certs`) and its own webhook configurations, rendered from the Helm chart by the real
//! Helm with `webhook.url` pointing at it and scoped to the test's namespace, so tests running in
//! parallel never see each other's webhooks.

use crate::server_support::{gate_binary, Server};
use crate::support::{repo, temp_dir, Run};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{mpsc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

/// The running control plane, shared by every test of the run.
pub(crate) struct Rig {
    pub(crate) kubeconfig: PathBuf,
    pub(crate) audit_log: PathBuf,
    pub(crate) log: PathBuf,
    /// Held so that the rig's stdin closes, and it stops, only when this process exits.
    _process: Mutex<(Child, ChildStdin, ChildStdout)>,
}

static RIG: OnceLock<Result<Rig, String>> = OnceLock::new();

/// The shared control plane, started on first use with the CRDs installed; panics (failing the
/// test) with the reason when it cannot be built or started.
pub(crate) fn rig() -> &'static Rig {
    match RIG.get_or_init(start_rig) {
        Ok(rig) => rig,
        Err(why) => panic!("the real Kubernetes rig is not available: {why}"),
    }
}

/// Builds the rig unless the binary is newer than every file of its Go module.
fn build_rig() -> Result<PathBuf, String> {
    build_go_tool("kube-rig", &repo().join("integration/kube"), "build-rig.sh")
}

/// Builds the real Helm (integration/helm) unless the binary is newer than its Go module.
fn build_helm() -> Result<PathBuf, String> {
    build_go_tool("helm", &repo().join("integration/helm"), "build-helm.sh")
}

/// Runs `module/script`, which builds `target/kube-bin/name` with Go, unless that binary is newer
/// than every file of the module.
pub(crate) fn build_go_tool(name: &str, module: &Path, script: &str) -> Result<PathBuf, String> {
    let binary = repo().join("target/kube-bin").join(name);
    if let Ok(built) = std::fs::metadata(&binary).and_then(|m| m.modified()) {
        if newest_mtime(module) < built {
            return Ok(binary);
        }
    }
    let started = Instant::now();
    let out = Command::new("bash")
        .arg(module.join(script))
        .output()
        .map_err(|e| format!("cannot run bash: {e}"))?;
    if !out.status.success() {
        let ci = if std::env::var_os("CI").is_some() {
            " (CI is set: .ci/run builds it before cargo test, with Go 1.26 installed)"
        } else {
            ""
        };
        return Err(format!(
            "building {name} ({}/{script}, with Go) failed{ci}:\n{}",
            module.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    eprintln!(
        "kube: built {} in {:.1}s",
        binary.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(binary)
}

/// The newest modification time of the files under `dir`.
fn newest_mtime(dir: &Path) -> SystemTime {
    let mut newest = SystemTime::UNIX_EPOCH;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if let Ok(modified) = entry.metadata().and_then(|m| m.modified()) {
                newest = newest.max(modified);
            }
        }
    }
    newest
}

fn start_rig() -> Result<Rig, String> {
    let binary = build_rig()?;
    let dir = temp_dir("kube-rig");
    let kubeconfig = dir.join("kubeconfig");
    let audit_log = dir.join("audit.log");
    let log = dir.join("kube-rig.log");
    let stderr = std::fs::File::create(&log).map_err(|e| e.to_string())?;
    let mut child = Command::new(&binary)
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .arg("--audit-log")
        .arg(&audit_log)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .map_err(|e| format!("starting {}: {e}", binary.display()))?;
    let stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    // The ready line, read on a thread so that a rig that hangs is a bounded wait here.
    let (sender, receiver) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut line = String::new();
        let read = stdout.read_line(&mut line);
        let _ = sender.send(read.map(|_| line));
        stdout
    });
    let tail = |log: &Path| {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    };
    let line = match receiver.recv_timeout(Duration::from_secs(300)) {
        Ok(Ok(line)) if !line.is_empty() => line,
        Ok(_) => {
            let _ = child.wait();
            return Err(format!(
                "kube-rig exited before it was ready; the end of {}:\n{}",
                log.display(),
                tail(&log)
            ));
        }
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "kube-rig was not ready within 300 s; the end of {}:\n{}",
                log.display(),
                tail(&log)
            ));
        }
    };
    let stdout = reader.join().unwrap().into_inner();
    let ready: serde_json::Value = serde_json::from_str(&line)
        .map_err(|e| format!("kube-rig's ready line is not JSON ({e}): {line}"))?;
    if ready["ready"] != true || ready["kubeconfig"] != kubeconfig.to_str().unwrap() {
        return Err(format!("unexpected ready line from kube-rig: {line}"));
    }
    let rig = Rig {
        kubeconfig,
        audit_log,
        log,
        _process: Mutex::new((child, stdin, stdout)),
    };
    let crds = rig.kubectl(&[
        "apply",
        "--server-side",
        "-f",
        "integration/fixtures/kube/crds/",
    ]);
    if crds.code != 0 {
        return Err(format!("installing the CRDs failed:\n{crds}"));
    }
    // `kubectl wait` fails at once, rather than waiting, while a new CRD has no status
    // conditions yet ("accessor error: <nil>"): it is asked again until the deadline.
    let deadline = Instant::now() + Duration::from_secs(90);
    let established = loop {
        let run = rig.kubectl(&[
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/services.serving.knative.dev",
            "crd/configurations.serving.knative.dev",
            "crd/runservices.run.cnrm.cloud.google.com",
            "crd/runjobs.run.cnrm.cloud.google.com",
            "crd/certificates.cert-manager.io",
            "crd/issuers.cert-manager.io",
            "crd/servicemonitors.monitoring.coreos.com",
        ]);
        let not_yet = run.to_string().contains("accessor error");
        if run.code == 0 || !not_yet || Instant::now() > deadline {
            break run;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    if established.code != 0 {
        return Err(format!("the CRDs were not established:\n{established}"));
    }
    Ok(rig)
}

impl Rig {
    /// Runs the real kubectl with the rig's admin kubeconfig, in the repository folder.
    pub(crate) fn kubectl(&self, args: &[&str]) -> Run {
        let out = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .current_dir(repo())
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run kubectl ({e}): the kube tests drive the real kubectl")
            });
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            command: format!("kubectl {}", args.join(" ")),
        }
    }

    /// kubectl that must succeed.
    fn kubectl_ok(&self, args: &[&str]) -> Run {
        let run = self.kubectl(args);
        assert_eq!(run.code, 0, "{run}\n--- rig log: {}", self.log.display());
        run
    }
}

/// The chart's `webhook.name`.
const WEBHOOK_NAME: &str = "validate.cmek-gate.dev";

/// A namespace of the rig whose Knative and Config Connector writes go through a `cmek-gate serve`
/// of its own. Dropping it deletes the webhook configuration and the namespace and stops the gate.
struct GatedNamespace {
    name: String,
    webhook_configuration: String,
    dir: PathBuf,
    gate: Server,
}

/// How a test's gate runs and is registered.
struct GateOptions<'a> {
    /// Extra arguments of `cmek-gate serve`.
    serve_args: &'a [&'a str],
    /// The webhook's failurePolicy (the chart's default: Fail).
    failure_policy: &'a str,
    /// Also register the chart's MutatingWebhookConfiguration (mutatingWebhook.enabled).
    mutating: bool,
}

impl Default for GateOptions<'_> {
    fn default() -> Self {
        GateOptions {
            serve_args: &[],
            failure_policy: "Fail",
            mutating: false,
        }
    }
}

impl GatedNamespace {
    /// Creates `namespace`, starts a gate for it and registers the gate's validating webhook.
    fn start(namespace: &str) -> GatedNamespace {
        GatedNamespace::start_with(namespace, GateOptions::default())
    }

    fn start_with(namespace: &str, options: GateOptions) -> GatedNamespace {
        let rig = rig();
        let dir = temp_dir(&format!("kube-{namespace}"));
        rig.kubectl_ok(&["create", "namespace", namespace]);
        // The API server calls https://127.0.0.1:PORT: the certificate names that IP address.
        let ca_bundle = gate_certs(&dir.join("certs"));
        let gate = Server::start(
            &dir.join("certs/tls.crt"),
            &dir.join("certs/tls.key"),
            options.serve_args,
            &dir,
        );
        let webhook_configuration = format!("cmek-gate-{namespace}");
        let base_url = format!("https://127.0.0.1:{}", gate.addr.port());
        let configuration = validating_webhook_configuration(
            namespace,
            &base_url,
            &ca_bundle,
            &[&format!("webhook.failurePolicy={}", options.failure_policy)],
        );
        let file = dir.join("validating-webhook-configuration.yaml");
        std::fs::write(&file, configuration).unwrap();
        rig.kubectl_ok(&["apply", "-f", file.to_str().unwrap()]);
        if options.mutating {
            let configuration = mutating_webhook_configuration(namespace, &base_url, &ca_bundle);
            let file = dir.join("mutating-webhook-configuration.yaml");
            std::fs::write(&file, configuration).unwrap();
            rig.kubectl_ok(&["apply", "-f", file.to_str().unwrap()]);
        }
        let gated = GatedNamespace {
            name: namespace.to_owned(),
            webhook_configuration,
            dir,
            gate,
        };
        gated.wait_until_enforced();
        if options.mutating {
            gated.wait_until_mutating();
        }
        gated
    }

    /// Waits (bounded) until a server-side dry run of the README example, which the mutating
    /// webhook gives a key, is admitted.
    fn wait_until_mutating(&self) {
        let probe = self.file(
            "mutation-probe.yaml",
            &self
                .example_text("service.yaml")
                .replace("name: payments-api\n", "name: mutation-probe\n"),
        );
        self.kubectl_until(
            &["create", "--dry-run=server", "-f", probe.to_str().unwrap()],
            "the mutating webhook was not called",
            |run| run.code == 0,
        );
    }

    /// The API server picks up a new webhook configuration asynchronously: waits (bounded) until a
    /// server-side dry run of a denied object is refused by this gate. The probe's key is in
    /// another region than the service (cmek-key-location), which no mutation changes.
    fn wait_until_enforced(&self) {
        let probe = self.file(
            "enforcement-probe.yaml",
            &self
                .example_text("service-compliant.yaml")
                .replace("name: payments-api\n", "name: enforcement-probe\n")
                .replace(
                    "locations/europe-west1/keyRings",
                    "locations/us-central1/keyRings",
                ),
        );
        let denied = format!("admission webhook \"{WEBHOOK_NAME}\" denied the request");
        self.kubectl_until(
            &["create", "--dry-run=server", "-f", probe.to_str().unwrap()],
            "the webhook was not enforced",
            |run| run.stderr.contains(&denied),
        );
    }

    /// `examples/FILE_NAME` moved to this namespace.
    fn example_text(&self, file_name: &str) -> String {
        let path = repo().join("examples").join(file_name);
        namespaced(&std::fs::read_to_string(path).unwrap(), &self.name)
    }

    /// `examples/FILE_NAME` moved to this namespace, written under the same name to this test's
    /// folder: returns its path.
    fn example(&self, file_name: &str) -> PathBuf {
        self.file(file_name, &self.example_text(file_name))
    }

    /// The caBundle (base64) of the CA that signed this gate's certificate.
    fn ca_bundle(&self) -> String {
        base64(&std::fs::read(self.dir.join("certs/ca.crt")).unwrap())
    }

    /// The URL the API server calls this gate at.
    fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.gate.addr.port())
    }

    /// Writes a webhook configuration (or any object) to `name` in this test's folder and applies
    /// it with kubectl, which must succeed.
    fn apply(&self, name: &str, text: &str) {
        let file = self.file(name, text);
        rig().kubectl_ok(&["apply", "-f", file.to_str().unwrap()]);
    }

    /// Runs kubectl with `args` every 200 ms until `done` holds for its run, and returns that run;
    /// the API server picks up configurations and labels asynchronously. Panics after 30 s with
    /// `not_yet` (what did not happen), the last run and the gate's log.
    fn kubectl_until(&self, args: &[&str], not_yet: &str, done: impl Fn(&Run) -> bool) -> Run {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let run = rig().kubectl(args);
            if done(&run) {
                return run;
            }
            assert!(
                Instant::now() < deadline,
                "{not_yet} within 30 s\n{run}\n--- gate log\n{}",
                self.gate.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The encryption key annotation of the stored Knative Service `name` of this namespace.
    fn stored_key(&self, name: &str) -> String {
        let jsonpath =
            "jsonpath={.spec.template.metadata.annotations.run\\.googleapis\\.com/encryption-key}";
        rig()
            .kubectl_ok(&["get", "ksvc", name, "-n", &self.name, "-o", jsonpath])
            .stdout
    }

    /// Writes `text` to a file of this test's folder and returns its path.
    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for GatedNamespace {
    fn drop(&mut self) {
        if let Some(Ok(rig)) = RIG.get() {
            for kind in [
                "validatingwebhookconfiguration",
                "mutatingwebhookconfiguration",
            ] {
                rig.kubectl(&[
                    "delete",
                    kind,
                    &self.webhook_configuration,
                    "--ignore-not-found",
                ]);
            }
            rig.kubectl(&["delete", "namespace", &self.name, "--wait=false"]);
        }
    }
}

/// The chart's ValidatingWebhookConfiguration for a test, rendered by the real Helm (`helm
/// template`, certManager off, `webhook.url` and `webhook.caBundle` set) with `sets` (more `--set`
/// values). Its namespaceSelector gets one more expression through
/// `webhook.namespaceSelectorExpressions`: the test's own namespace, so that tests running in
/// parallel never see each other's webhooks. The release is `cmek-gate-NAMESPACE`, and so is the
/// configuration's name.
fn validating_webhook_configuration(
    namespace: &str,
    base_url: &str,
    ca_bundle: &str,
    sets: &[&str],
) -> String {
    chart_webhook(
        "templates/validatingwebhookconfiguration.yaml",
        namespace,
        base_url,
        ca_bundle,
        sets,
    )
}

/// The chart's MutatingWebhookConfiguration (mutatingWebhook.enabled), rendered like the
/// validating one.
fn mutating_webhook_configuration(namespace: &str, base_url: &str, ca_bundle: &str) -> String {
    chart_webhook(
        "templates/mutatingwebhookconfiguration.yaml",
        namespace,
        base_url,
        ca_bundle,
        &["mutatingWebhook.enabled=true"],
    )
}

fn chart_webhook(
    template: &str,
    namespace: &str,
    base_url: &str,
    ca_bundle: &str,
    sets: &[&str],
) -> String {
    let release = format!("cmek-gate-{namespace}");
    let url = format!("webhook.url={base_url}");
    let bundle = format!("webhook.caBundle={ca_bundle}");
    let selector = format!(
        r#"webhook.namespaceSelectorExpressions=[{{"key":"kubernetes.io/metadata.name","operator":"In","values":["{namespace}"]}}]"#
    );
    let mut args = vec![
        "template",
        &release,
        "helm/cmek-gate",
        "--namespace",
        "cmek-gate",
        "--show-only",
        template,
        "--set",
        "certManager.enabled=false",
        "--set-string",
        &url,
        "--set-string",
        &bundle,
        "--set-json",
        &selector,
    ];
    for set in sets {
        args.extend(["--set", set]);
    }
    let run = helm(&args, false);
    assert_eq!(run.code, 0, "{run}");
    run.stdout
}

/// A manifest of `examples/` moved to `namespace` (the examples use the project number
/// '123456789012', as `gcloud run services describe --format export` writes it).
fn namespaced(manifest: &str, namespace: &str) -> String {
    let example = "namespace: '123456789012'";
    assert!(
        manifest.contains(example),
        "the example names its namespace"
    );
    manifest.replace(example, &format!("namespace: '{namespace}'"))
}

/// What kubectl prints, exactly, for the README example (examples/service.yaml) refused by the
/// gate; the README's webhook section shows it.
const README_EXAMPLE_DENIAL: &str = "Error from server (Forbidden): error when creating \"examples/service.yaml\": admission webhook \"validate.cmek-gate.dev\" denied the request: cmek-gate denied Service 123456789012/payments-api: [cmek-required] Service payments-api is labelled sensitive (data-classification=confidential, compliance=pci-dss) but has no customer-managed encryption key (CMEK): set the run.googleapis.com/encryption-key annotation in spec.template.metadata.annotations to projects/PROJECT/locations/REGION/keyRings/RING/cryptoKeys/KEY\n";

#[test]
fn kube_rig_serves_the_admission_apis_at_v1() {
    let run = rig().kubectl_ok(&[
        "api-resources",
        "--api-group=admissionregistration.k8s.io",
        "-o",
        "name",
    ]);
    for resource in [
        "validatingwebhookconfigurations",
        "mutatingwebhookconfigurations",
        "validatingadmissionpolicies",
        "validatingadmissionpolicybindings",
        "mutatingadmissionpolicies",
        "mutatingadmissionpolicybindings",
    ] {
        run.stdout_has(&format!("{resource}.admissionregistration.k8s.io\n"));
    }
    let versions = rig().kubectl_ok(&["api-versions"]);
    versions.stdout_has("admissionregistration.k8s.io/v1\n");
    versions.stdout_has("serving.knative.dev/v1\n");
    versions.stdout_has("run.cnrm.cloud.google.com/v1beta1\n");
}

#[test]
fn kube_refuses_the_readme_example_and_creates_the_compliant_service() {
    let gated = GatedNamespace::start("123456789012");
    let rig = rig();

    let denied = rig.kubectl(&["apply", "-f", "examples/service.yaml"]);
    assert_eq!(denied.code, 1, "{denied}");
    assert_eq!(denied.stdout, "", "{denied}");
    assert_eq!(denied.stderr, README_EXAMPLE_DENIAL, "{denied}");
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    assert!(
        readme.contains(README_EXAMPLE_DENIAL),
        "the README's webhook section shows what kubectl prints:\n{README_EXAMPLE_DENIAL}"
    );
    let absent = rig.kubectl(&["get", "ksvc", "payments-api", "-n", &gated.name]);
    absent.expect_code(1).stderr_has("NotFound");

    let created = rig.kubectl_ok(&["apply", "-f", "examples/service-compliant.yaml"]);
    assert_eq!(
        created.stdout,
        "service.serving.knative.dev/payments-api created\n"
    );
    assert_eq!(
        gated.stored_key("payments-api"),
        "projects/acme-payments-prod/locations/europe-west1/keyRings/cloud-run/cryptoKeys/payments-api"
    );
}

#[test]
fn kube_server_dry_run_is_judged_like_a_write_and_stores_nothing() {
    let gated = GatedNamespace::start("kube-dry-run");
    let rig = rig();
    let denied_file = gated.example("service.yaml");
    let compliant_file = gated.example("service-compliant.yaml");

    let denied = rig.kubectl(&[
        "apply",
        "--dry-run=server",
        "-f",
        denied_file.to_str().unwrap(),
    ]);
    assert_eq!(denied.code, 1, "{denied}");
    denied.stderr_has(&format!(
        "admission webhook \"{WEBHOOK_NAME}\" denied the request: cmek-gate denied Service kube-dry-run/payments-api: [cmek-required] "
    ));

    let allowed = rig.kubectl_ok(&[
        "apply",
        "--dry-run=server",
        "-f",
        compliant_file.to_str().unwrap(),
    ]);
    assert_eq!(
        allowed.stdout,
        "service.serving.knative.dev/payments-api created (server dry run)\n"
    );
    let none = rig.kubectl_ok(&["get", "ksvc", "-n", &gated.name, "-o", "name"]);
    assert_eq!(none.stdout, "", "a dry run stores nothing");
}

#[test]
fn kube_config_sync_server_side_apply_of_a_repository() {
    let gated = GatedNamespace::start("configsync-repo");
    let rig = rig();
    let run = rig.kubectl(&[
        "apply",
        "--server-side",
        "--field-manager=configsync",
        "-f",
        "integration/fixtures/kube/configsync-repo/",
    ]);
    assert_eq!(run.code, 1, "{run}");
    let mut applied: Vec<&str> = run.stdout.lines().collect();
    applied.sort();
    assert_eq!(
        applied,
        [
            "runjob.run.cnrm.cloud.google.com/claims-reconcile serverside-applied",
            "service.serving.knative.dev/payments-api-ok serverside-applied",
            "service.serving.knative.dev/public-site serverside-applied",
        ],
        "{run}"
    );
    // Server-side apply reports a denial without the file: the gate's message names the object.
    let errors: Vec<&str> = run.stderr.lines().collect();
    let expected = [
        (
            "Forbidden",
            "Configuration configsync-repo/batch-export: [cmek-required] ",
        ),
        (
            "Forbidden",
            "Service configsync-repo/payments-api: [cmek-required] ",
        ),
        (
            "Forbidden",
            "RunService configsync-repo/payments-api-kcc: [cmek-required] ",
        ),
        // The status reason is the violated validation's reason (cmek-key-location says Invalid).
        (
            "Invalid",
            "Service configsync-repo/ledger-worker: [cmek-key-location] ",
        ),
    ];
    assert_eq!(errors.len(), expected.len(), "{run}");
    for (reason, denial) in expected {
        let line = format!(
            "Error from server ({reason}): admission webhook \"{WEBHOOK_NAME}\" denied the request: cmek-gate denied {denial}"
        );
        assert!(
            errors.iter().any(|e| e.starts_with(&line)),
            "no line starting {line:?}\n{run}"
        );
    }
    let stored = rig.kubectl_ok(&[
        "get",
        "ksvc,configurations.serving.knative.dev,runservices.run.cnrm.cloud.google.com,runjobs.run.cnrm.cloud.google.com",
        "-n",
        &gated.name,
        "-o",
        "name",
    ]);
    assert_eq!(
        stored.stdout,
        "service.serving.knative.dev/payments-api-ok\nservice.serving.knative.dev/public-site\nrunjob.run.cnrm.cloud.google.com/claims-reconcile\n"
    );
    let managers = rig.kubectl_ok(&[
        "get",
        "ksvc",
        "public-site",
        "-n",
        &gated.name,
        "--show-managed-fields",
        "-o",
        "jsonpath={.metadata.managedFields[*].manager}",
    ]);
    assert_eq!(managers.stdout, "configsync");
}

/// The shipped library plus a Warn + Audit policy on UPDATE that reads `oldObject`.
const WITH_KEEP_KEY: &[&str] = &[
    "--policies",
    "policies",
    "--policies",
    "integration/fixtures/admission/keep-key-policy.yaml",
];

/// The audit events of the rig's log for `namespace`/`name` whose annotations include one
/// recorded for the gate's webhook, waiting (bounded) for one to be written.
fn audit_events_with_gate_annotations(namespace: &str, name: &str) -> Vec<serde_json::Value> {
    let prefix = format!("{WEBHOOK_NAME}/");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(&rig().audit_log).unwrap_or_default();
        let events: Vec<serde_json::Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|e| {
                e["objectRef"]["namespace"] == namespace
                    && e["objectRef"]["name"] == name
                    && e["annotations"]
                        .as_object()
                        .is_some_and(|a| a.keys().any(|k| k.starts_with(&prefix)))
            })
            .collect();
        if !events.is_empty() || Instant::now() > deadline {
            return events;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn kube_warnings_reach_kubectl_and_an_update_is_judged_with_the_old_object() {
    let gated = GatedNamespace::start_with(
        "kube-update",
        GateOptions {
            serve_args: WITH_KEEP_KEY,
            ..GateOptions::default()
        },
    );
    let rig = rig();
    let created = rig.kubectl_ok(&[
        "apply",
        "-f",
        "integration/fixtures/kube/update/public-site-with-key.yaml",
    ]);
    assert_eq!(
        created.stdout,
        "service.serving.knative.dev/public-site created\n"
    );
    assert_eq!(
        created.stderr,
        "Warning: [cmek-over-applied] Service public-site is classified data-classification=public but carries a customer-managed encryption key: Cloud KMS charges per key and per operation, and a disabled or destroyed key stops new instances; drop the key or reclassify the workload\n"
    );

    // An UPDATE (kubectl apply sends a PATCH): keep-key compares oldObject with object.
    let updated = rig.kubectl_ok(&[
        "apply",
        "-f",
        "integration/fixtures/kube/update/public-site-without-key.yaml",
    ]);
    assert_eq!(
        updated.stdout,
        "service.serving.knative.dev/public-site configured\n"
    );
    assert_eq!(
        updated.stderr,
        "Warning: [keep-key] the encryption key may not be removed\n"
    );
    let annotations = rig.kubectl_ok(&[
        "get",
        "ksvc",
        "public-site",
        "-n",
        &gated.name,
        "-o",
        "jsonpath={.spec.template.metadata.annotations}",
    ]);
    assert_eq!(
        annotations.stdout, r#"{"autoscaling.knative.dev/maxScale":"5"}"#,
        "the key was removed"
    );

    // A DELETE is not sent to the gate (the chart's rules name CREATE and UPDATE).
    let deleted = rig.kubectl_ok(&["delete", "ksvc", "public-site", "-n", &gated.name]);
    assert_eq!(
        deleted.stdout,
        "service.serving.knative.dev \"public-site\" deleted\n"
    );
}

#[test]
fn kube_the_gates_audit_annotations_reach_the_audit_log() {
    let gated = GatedNamespace::start_with(
        "kube-audit",
        GateOptions {
            serve_args: WITH_KEEP_KEY,
            ..GateOptions::default()
        },
    );
    let rig = rig();
    let moved = |file: &str| {
        gated.file(
            file,
            &std::fs::read_to_string(repo().join("integration/fixtures/kube/update").join(file))
                .unwrap()
                .replace("namespace: kube-update", "namespace: kube-audit"),
        )
    };
    let with_key = moved("public-site-with-key.yaml");
    let without_key = moved("public-site-without-key.yaml");
    rig.kubectl_ok(&["apply", "-f", with_key.to_str().unwrap()]);
    rig.kubectl_ok(&["apply", "-f", without_key.to_str().unwrap()]);
    let events = audit_events_with_gate_annotations(&gated.name, "public-site");
    let update = events
        .iter()
        .find(|e| e["verb"] == "patch" && e["stage"] == "ResponseComplete")
        .unwrap_or_else(|| {
            panic!(
                "no audit event of the UPDATE with the gate's annotations in {}:\n{events:#?}\n--- rig log: {}",
                rig.audit_log.display(),
                rig.log.display()
            )
        });
    let annotations = update["annotations"].as_object().unwrap();
    assert_eq!(
        annotations[&format!("{WEBHOOK_NAME}/keep-key.operation")],
        "UPDATE by kube-rig-admin",
        "{annotations:#?}"
    );
    let failure = annotations[&format!("{WEBHOOK_NAME}/validation_failure")]
        .as_str()
        .unwrap();
    assert!(
        failure.contains("the encryption key may not be removed"),
        "{failure}"
    );
}

#[test]
fn kube_a_namespace_opts_out_with_the_charts_label() {
    let gated = GatedNamespace::start("kube-opt-out");
    let rig = rig();
    let denied = gated.example("service.yaml");
    let denied = denied.to_str().unwrap();
    rig.kubectl_ok(&[
        "label",
        "namespace",
        &gated.name,
        "cmek-gate.dev/ignore=true",
    ]);
    // The API server sees namespace labels through an informer: wait (bounded) for the label.
    let run = gated.kubectl_until(
        &["apply", "-f", denied],
        "the opt-out label was not honoured",
        |run| run.code == 0,
    );
    assert_eq!(
        run.stdout,
        "service.serving.knative.dev/payments-api created\n"
    );
    rig.kubectl_ok(&["label", "namespace", &gated.name, "cmek-gate.dev/ignore-"]);
    gated.wait_until_enforced();
}

/// Registers a gate with `failure_policy`, stops it, and applies the README example.
fn apply_with_the_gate_stopped(namespace: &str, failure_policy: &str) -> (Run, u16) {
    let mut gated = GatedNamespace::start_with(
        namespace,
        GateOptions {
            failure_policy,
            ..GateOptions::default()
        },
    );
    let port = gated.gate.addr.port();
    gated.gate.child.kill().unwrap();
    gated.gate.child.wait().unwrap();
    let file = gated.example("service.yaml");
    (
        rig().kubectl(&["apply", "-f", file.to_str().unwrap()]),
        port,
    )
}

#[test]
fn kube_a_stopped_gate_with_failure_policy_fail_refuses() {
    let (run, port) = apply_with_the_gate_stopped("kube-fail", "Fail");
    assert_eq!(run.code, 1, "{run}");
    run.stderr_has(&format!(
        "Internal error occurred: failed calling webhook \"{WEBHOOK_NAME}\": failed to call webhook: Post \"https://127.0.0.1:{port}/validate?timeout=10s\": dial tcp 127.0.0.1:{port}: connect: connection refused"
    ));
}

#[test]
fn kube_a_stopped_gate_with_failure_policy_ignore_admits() {
    let (run, _) = apply_with_the_gate_stopped("kube-ignore", "Ignore");
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(
        run.stdout,
        "service.serving.knative.dev/payments-api created\n"
    );
}

#[test]
fn kube_the_mutating_webhook_adds_the_regions_key_and_validation_admits_it() {
    let gated = GatedNamespace::start_with(
        "kube-mutate",
        GateOptions {
            serve_args: &[
                "--params",
                "integration/fixtures/mutation/default-keys-params.yaml",
            ],
            mutating: true,
            ..GateOptions::default()
        },
    );
    let rig = rig();
    let file = gated.example("service.yaml");
    let created = rig.kubectl_ok(&["apply", "-f", file.to_str().unwrap()]);
    assert_eq!(
        created.stdout,
        "service.serving.knative.dev/payments-api created\n"
    );
    created.stderr_has("Warning: [cmek-default-key] added spec.template.metadata.annotations[\"run.googleapis.com/encryption-key\"]");
    assert_eq!(
        gated.stored_key("payments-api"),
        "projects/kms-central/locations/europe-west1/keyRings/run/cryptoKeys/default"
    );
}

#[test]
fn kube_a_body_over_the_gates_limit_is_refused_by_the_api_server() {
    let gated = GatedNamespace::start_with(
        "kube-body-limit",
        GateOptions {
            serve_args: &["--max-body-bytes", "65536"],
            ..GateOptions::default()
        },
    );
    // The compliant example with a 100 kB annotation: the API server's AdmissionReview is over
    // the gate's limit.
    let compliant = gated.example_text("service-compliant.yaml");
    let big = compliant.replace(
        "    run.googleapis.com/client-name: gcloud\n    run.googleapis.com/client-version: 528.0.0\n    run.googleapis.com/ingress:",
        &format!(
            "    run.googleapis.com/client-name: gcloud\n    example.com/padding: {}\n    run.googleapis.com/client-version: 528.0.0\n    run.googleapis.com/ingress:",
            "x".repeat(100_000)
        ),
    );
    assert_ne!(big, compliant);
    let file = gated.file("big-service.yaml", &big);
    let run = rig().kubectl(&["apply", "-f", file.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{run}");
    // The gate answers 413 and closes as soon as the length is over its limit: the API server
    // reports the 413 or, when it was still writing the body, the closed connection.
    let failed = format!("Internal error occurred: failed calling webhook \"{WEBHOOK_NAME}\": failed to call webhook: ");
    let answered = format!("{failed}the server responded with the status code 413 but did not return more information\n");
    let port = gated.gate.addr.port();
    let closed = format!(
        "{failed}Post \"https://127.0.0.1:{port}/validate?timeout=10s\": write tcp 127.0.0.1:"
    );
    assert!(
        run.stderr.contains(&answered)
            || (run.stderr.contains(&closed)
                && (run.stderr.ends_with(": write: broken pipe\n")
                    || run.stderr.ends_with(": connection reset by peer\n"))),
        "{run}"
    );
    rig()
        .kubectl(&["get", "ksvc", "payments-api", "-n", &gated.name])
        .expect_code(1)
        .stderr_has("NotFound");
}

/// Standard base64 (RFC 4648, padded), for a caBundle of several certificates.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `cmek-gate certs` for 127.0.0.1 into `dir`: returns the caBundle it prints.
fn gate_certs(dir: &Path) -> String {
    let certs = Command::new(gate_binary())
        .args(["certs", "--out"])
        .arg(dir)
        .args(["--dns", "127.0.0.1"])
        .output()
        .unwrap();
    assert!(
        certs.status.success(),
        "cmek-gate certs: {}",
        String::from_utf8_lossy(&certs.stderr)
    );
    String::from_utf8(certs.stdout).unwrap().trim().to_owned()
}

#[test]
fn kube_base64_matches_the_ca_bundle_cmek_gate_certs_prints() {
    let dir = temp_dir("kube-base64");
    let printed = gate_certs(&dir);
    assert_eq!(base64(&std::fs::read(dir.join("ca.crt")).unwrap()), printed);
    assert_eq!(base64(b"ab"), "YWI=");
    assert_eq!(base64(b"a"), "YQ==");
}

#[test]
fn kube_a_certificate_rotated_with_a_new_ca_bundle_while_kubectl_keeps_applying() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let gated = GatedNamespace::start("kube-rotate");
    let rig = rig();
    let url = gated.url();
    let old_ca = std::fs::read(gated.dir.join("certs/ca.crt")).unwrap();
    let next = gated.dir.join("certs-next");
    gate_certs(&next);
    let new_ca = std::fs::read(next.join("ca.crt")).unwrap();
    let both = base64(&[old_ca.clone(), new_ca.clone()].concat());

    // kubectl keeps applying (server dry runs of the denied probe) through the whole rotation.
    let probe = gated.dir.join("enforcement-probe.yaml");
    let stop = Arc::new(AtomicBool::new(false));
    let applying = {
        let stop = stop.clone();
        let probe = probe.clone();
        std::thread::spawn(move || {
            let mut runs = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                runs.push(self::rig().kubectl(&[
                    "create",
                    "--dry-run=server",
                    "-f",
                    probe.to_str().unwrap(),
                ]));
            }
            runs
        })
    };

    // 1. The caBundle trusts both CAs. A second webhook in the same configuration, served with
    // the new CA's certificate for another namespace, shows when the API server uses it.
    let witness_namespace = "kube-rotate-witness";
    rig.kubectl_ok(&["create", "namespace", witness_namespace]);
    let witness_dir = gated.dir.join("witness");
    std::fs::create_dir_all(&witness_dir).unwrap();
    let witness = Server::start(
        &next.join("tls.crt"),
        &next.join("tls.key"),
        &[],
        &witness_dir,
    );
    let witness_url = format!("https://127.0.0.1:{}", witness.addr.port());
    let witness_entry =
        validating_webhook_configuration(witness_namespace, &witness_url, &both, &[]);
    let witness_entry = witness_entry.split_once("webhooks:\n").unwrap().1.replace(
        &format!("  - name: {WEBHOOK_NAME}\n"),
        "  - name: witness.cmek-gate.dev\n",
    );
    let configuration = format!(
        "{}{witness_entry}",
        validating_webhook_configuration(&gated.name, &url, &both, &[])
    );
    gated.apply("both-cas.yaml", &configuration);
    let witness_probe = gated.file(
        "witness-probe.yaml",
        &std::fs::read_to_string(&probe).unwrap().replace(
            &format!("namespace: '{}'", gated.name),
            &format!("namespace: '{witness_namespace}'"),
        ),
    );
    gated.kubectl_until(
        &[
            "create",
            "--dry-run=server",
            "-f",
            witness_probe.to_str().unwrap(),
        ],
        "the configuration with both CAs was not in use",
        |run| {
            run.stderr
                .contains("admission webhook \"witness.cmek-gate.dev\" denied the request")
        },
    );

    // 2. The gate's certificate is replaced on disk (as a Secret update would); it reloads it.
    for file in ["tls.key", "tls.crt"] {
        let staged = gated.dir.join(format!("certs/{file}.new"));
        std::fs::copy(next.join(file), &staged).unwrap();
        std::fs::rename(&staged, gated.dir.join("certs").join(file)).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while !gated.gate.log().contains("certificate reloaded") {
        assert!(
            Instant::now() < deadline,
            "the gate did not reload its certificate\n{}",
            gated.gate.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // 3. The old CA leaves the caBundle.
    let configuration = validating_webhook_configuration(&gated.name, &url, &base64(&new_ca), &[]);
    gated.apply("new-ca.yaml", &configuration);
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::SeqCst);
    let runs = applying.join().unwrap();
    rig.kubectl(&["delete", "namespace", witness_namespace, "--wait=false"]);

    assert!(runs.len() >= 3, "kubectl applied {} times", runs.len());
    for run in &runs {
        assert!(
            run.stderr.contains(&format!(
                "admission webhook \"{WEBHOOK_NAME}\" denied the request: cmek-gate denied Service kube-rotate/enforcement-probe: [cmek-key-location]"
            )),
            "an apply during the rotation was not judged by the gate\n{run}\n--- gate log\n{}",
            gated.gate.log()
        );
    }
}

/// A loopback TCP proxy to `target` that holds every connection for `delay` before forwarding
/// it: a gate slower than the webhook's timeoutSeconds, with the real TLS passing through.
fn delaying_proxy(target: std::net::SocketAddr, delay: Duration) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            std::thread::spawn(move || {
                std::thread::sleep(delay);
                let Ok(server) = std::net::TcpStream::connect(target) else {
                    return;
                };
                let (mut client_read, mut server_write) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                let (mut server_read, mut client_write) = (server, client);
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut client_read, &mut server_write);
                    let _ = server_write.shutdown(std::net::Shutdown::Write);
                });
                let _ = std::io::copy(&mut server_read, &mut client_write);
                let _ = client_write.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    port
}

#[test]
fn kube_a_gate_slower_than_timeout_seconds_is_a_failure_of_the_call() {
    let gated = GatedNamespace::start("kube-slow");
    let port = delaying_proxy(gated.gate.addr, Duration::from_secs(4));
    let ca_bundle = gated.ca_bundle();
    let configuration = validating_webhook_configuration(
        &gated.name,
        &format!("https://127.0.0.1:{port}"),
        &ca_bundle,
        &["webhook.timeoutSeconds=1"],
    );
    gated.apply("slow.yaml", &configuration);
    let compliant = gated.example("service-compliant.yaml");
    let failed = format!("failed calling webhook \"{WEBHOOK_NAME}\": failed to call webhook: Post \"https://127.0.0.1:{port}/validate?timeout=1s\"");
    let run = gated.kubectl_until(
        &[
            "apply",
            "--dry-run=server",
            "-f",
            compliant.to_str().unwrap(),
        ],
        "the slow configuration was not in use",
        |run| run.stderr.contains(&failed),
    );
    // A compliant Service, refused: the call timed out and failurePolicy is Fail.
    assert_eq!(run.code, 1, "{run}");
    run.stderr_has(&format!(
        "Internal error occurred: {failed}: context deadline exceeded\n"
    ));
}

/// The real Helm, built once per run.
fn helm_binary() -> &'static Path {
    static HELM: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match HELM.get_or_init(build_helm) {
        Ok(path) => path,
        Err(why) => panic!("the real Helm is not available: {why}"),
    }
}

/// Runs the real helm in the repository folder (with the rig's kubeconfig when `cluster`).
fn helm(args: &[&str], cluster: bool) -> Run {
    let mut command = Command::new(helm_binary());
    if cluster {
        command.arg("--kubeconfig").arg(&rig().kubeconfig);
    }
    let out = command
        .args(args)
        .current_dir(repo())
        .env("HELM_CACHE_HOME", repo().join("target/helm-home/cache"))
        .env("HELM_CONFIG_HOME", repo().join("target/helm-home/config"))
        .env("HELM_DATA_HOME", repo().join("target/helm-home/data"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        command: format!("helm {}", args.join(" ")),
    }
}

/// The `kind/name` of every document in a rendered manifest, in order.
fn rendered_kinds(manifest: &str) -> Vec<String> {
    manifest
        .split("\n---")
        .filter_map(|doc| {
            let kind = doc.lines().find_map(|l| l.strip_prefix("kind: "))?;
            Some(kind.trim().to_owned())
        })
        .collect()
}

/// The chart's live mode with a key file from a Secret, every live setting given.
const HELM_LIVE_KEY_SECRET: &str = "live.enabled=true,live.unreachable=warn,live.googleTimeout=1500ms,live.cacheTTL=10m,live.notFoundTTL=30s,live.credentialsSecret=cmek-gate-google,live.endpoints.cloudkms=https://cloudkms.example.test,live.googleCA.configMapName=google-ca";

/// The chart's live mode with GKE Workload Identity, the other live values as shipped.
const HELM_LIVE_WORKLOAD_IDENTITY: &str =
    "live.enabled=true,live.gcpServiceAccount=cmek-gate@security-prod.iam.gserviceaccount.com";

/// A caBundle from `cmek-gate certs` for the chart's `webhook.caBundle` (certManager off).
fn chart_ca_bundle(test: &str) -> String {
    gate_certs(&temp_dir(test).join("certs"))
}

#[test]
fn kube_helm_lints_the_chart_strictly() {
    let bundle = chart_ca_bundle("kube-helm-lint");
    for values in [
        vec![],
        vec![
            "--set".to_owned(),
            "certManager.enabled=false".to_owned(),
            "--set".to_owned(),
            format!("webhook.caBundle={bundle}"),
        ],
        vec!["--set".to_owned(), HELM_LIVE_KEY_SECRET.to_owned()],
        vec!["--set".to_owned(), HELM_LIVE_WORKLOAD_IDENTITY.to_owned()],
    ] {
        let mut args = vec!["lint", "--strict", "helm/cmek-gate"];
        args.extend(values.iter().map(String::as_str));
        let run = helm(&args, false);
        assert_eq!(run.code, 0, "{run}");
        run.stdout_has("1 chart(s) linted, 0 chart(s) failed");
    }
}

#[test]
fn kube_helm_renders_the_main_value_combinations() {
    let bundle = chart_ca_bundle("kube-helm-template");
    let without_cert_manager = format!("certManager.enabled=false,webhook.caBundle={bundle}");
    let cases: [(&str, &[&str], &[&str]); 6] = [
        (
            "",
            &[
                "Certificate",
                "Issuer",
                "ValidatingWebhookConfiguration",
                "PodDisruptionBudget",
            ],
            &[
                "MutatingWebhookConfiguration",
                "ServiceMonitor",
                "HorizontalPodAutoscaler",
            ],
        ),
        (
            &without_cert_manager,
            &["ValidatingWebhookConfiguration", "Deployment", "Service"],
            &["Certificate", "Issuer"],
        ),
        (
            "mutatingWebhook.enabled=true",
            &[
                "MutatingWebhookConfiguration",
                "ValidatingWebhookConfiguration",
            ],
            &[],
        ),
        ("serviceMonitor.enabled=true", &["ServiceMonitor"], &[]),
        (
            "autoscaling.enabled=true",
            &["HorizontalPodAutoscaler"],
            &[],
        ),
        (
            "podDisruptionBudget.enabled=false",
            &[],
            &["PodDisruptionBudget"],
        ),
    ];
    for (set, present, absent) in cases {
        let mut args = vec![
            "template",
            "cmek-gate",
            "helm/cmek-gate",
            "--namespace",
            "cmek-gate",
        ];
        if !set.is_empty() {
            args.extend(["--set", set]);
        }
        let run = helm(&args, false);
        assert_eq!(run.code, 0, "{run}");
        let kinds = rendered_kinds(&run.stdout);
        for kind in present {
            assert!(
                kinds.iter().any(|k| k == kind),
                "--set {set}: no {kind} in {kinds:?}"
            );
        }
        for kind in absent {
            assert!(
                !kinds.iter().any(|k| k == kind),
                "--set {set}: {kind} in {kinds:?}"
            );
        }
    }
    // Without cert-manager and without a caBundle, rendering fails with the chart's message.
    let run = helm(
        &[
            "template",
            "cmek-gate",
            "helm/cmek-gate",
            "--set",
            "certManager.enabled=false",
        ],
        false,
    );
    assert_eq!(run.code, 1, "{run}");
    run.stderr_has("webhook.caBundle is required when certManager.enabled is false");
}

#[test]
fn kube_helm_renders_live_mode_and_refuses_a_wrong_live_unreachable() {
    let template = |set: &str| {
        helm(
            &[
                "template",
                "cmek-gate",
                "helm/cmek-gate",
                "--namespace",
                "cmek-gate",
                "--set",
                set,
            ],
            false,
        )
    };
    let live_flags = |manifest: &str| -> Vec<String> {
        manifest
            .lines()
            .map(str::trim)
            .filter_map(|l| l.strip_prefix("- "))
            .map(|a| a.trim_matches('"'))
            .filter(|a| a.starts_with("--live") || a.starts_with("--google-"))
            .map(str::to_owned)
            .collect()
    };

    // Off (the default): no live flag, key file or annotation, whatever else live.* says.
    let run = template("live.unreachable=warn,live.credentialsSecret=cmek-gate-google");
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(live_flags(&run.stdout), Vec::<String>::new(), "{run}");
    for absent in [
        "GOOGLE_APPLICATION_CREDENTIALS",
        "google-credentials",
        "iam.gke.io/",
    ] {
        assert!(
            !run.stdout.contains(absent),
            "{absent} with live off\n{run}"
        );
    }

    // A key file from a Secret, every setting given.
    let run = template(HELM_LIVE_KEY_SECRET);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(
        live_flags(&run.stdout),
        [
            "--live",
            "--live-unreachable=warn",
            "--google-timeout=1500ms",
            "--google-cache-ttl=10m",
            "--google-not-found-ttl=30s",
            "--google-endpoint=cloudkms=https://cloudkms.example.test",
            "--google-ca=/google-ca/ca.crt",
        ],
        "{run}"
    );
    run.stdout_has(
        "            - name: GOOGLE_APPLICATION_CREDENTIALS\n              value: /google-credentials/key.json\n",
    );
    run.stdout_has("        - name: google-credentials\n          secret:\n            secretName: cmek-gate-google\n");
    assert!(!run.stdout.contains("iam.gke.io/"), "{run}");

    // Workload Identity: the ServiceAccount's annotation, the shipped live defaults, no key file.
    let run = template(HELM_LIVE_WORKLOAD_IDENTITY);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(
        live_flags(&run.stdout),
        ["--live", "--live-unreachable=deny", "--google-timeout=2s"],
        "{run}"
    );
    run.stdout_has(
        "  annotations:\n    iam.gke.io/gcp-service-account: cmek-gate@security-prod.iam.gserviceaccount.com\n",
    );
    assert!(
        !run.stdout.contains("GOOGLE_APPLICATION_CREDENTIALS"),
        "{run}"
    );

    // A live.unreachable the server would not take is refused by the chart (live on or off):
    // nothing to install rather than pods that fail to start.
    for set in [
        "live.enabled=true,live.unreachable=ignore",
        "live.unreachable=ignore",
    ] {
        let run = template(set);
        assert_eq!(run.code, 1, "--set {set}: {run}");
        run.stderr_has(r#"live.unreachable must be deny, warn or allow, not "ignore""#);
        assert!(run.stdout.is_empty(), "--set {set}: {run}");
    }
}

#[test]
fn kube_helm_installs_the_chart_and_the_api_server_accepts_every_object() {
    let rig = rig();
    let bundle = chart_ca_bundle("kube-helm-install");
    let namespace = "cmek-gate-helm";
    // Every object of the chart, the webhook configurations included, through the API server's
    // own validation (OpenAPI, admission) in a server-side dry run: nothing is stored, so the
    // webhooks (whose Service has no pods here) do not reach the other tests' namespaces. The
    // cert-manager and Prometheus operator objects are validated against the CRDs controller-gen
    // generates from those projects' Go API types (integration/crds).
    let dir = temp_dir("kube-helm-install");
    rig.kubectl_ok(&["create", "namespace", namespace]);
    let own_secret = format!(
        "certManager.enabled=false,webhook.caBundle={bundle},mutatingWebhook.enabled=true,autoscaling.enabled=true"
    );
    let cert_manager =
        "mutatingWebhook.enabled=true,serviceMonitor.enabled=true,grafanaDashboard.enabled=true"
            .to_owned();
    let live_key_secret = HELM_LIVE_KEY_SECRET.to_owned();
    let live_workload_identity = HELM_LIVE_WORKLOAD_IDENTITY.to_owned();
    let scenarios: [(&str, &String, &[&str]); 4] = [
        (
            "own-secret",
            &own_secret,
            &[
                "ValidatingWebhookConfiguration",
                "MutatingWebhookConfiguration",
                "Deployment",
                "HorizontalPodAutoscaler",
                "PodDisruptionBudget",
            ],
        ),
        (
            "cert-manager",
            &cert_manager,
            &[
                "ValidatingWebhookConfiguration",
                "MutatingWebhookConfiguration",
                "Certificate",
                "Issuer",
                "ServiceMonitor",
            ],
        ),
        (
            "live-key-secret",
            &live_key_secret,
            &["ValidatingWebhookConfiguration", "Deployment"],
        ),
        (
            "live-workload-identity",
            &live_workload_identity,
            &["ServiceAccount", "Deployment"],
        ),
    ];
    for (scenario, set, expected_kinds) in scenarios {
        let rendered = helm(
            &[
                "template",
                "cmek-gate",
                "helm/cmek-gate",
                "--namespace",
                namespace,
                "--set",
                set,
            ],
            false,
        );
        assert_eq!(rendered.code, 0, "{scenario}: {rendered}");
        let manifest = dir.join(format!("{scenario}.yaml"));
        std::fs::write(&manifest, &rendered.stdout).unwrap();
        let dry_run = rig.kubectl_ok(&[
            "apply",
            "--server-side",
            "--dry-run=server",
            "-f",
            manifest.to_str().unwrap(),
        ]);
        let kinds = rendered_kinds(&rendered.stdout);
        assert_eq!(
            dry_run.stdout.lines().count(),
            kinds.len(),
            "{scenario}: one line per object\n{dry_run}"
        );
        assert!(
            dry_run
                .stdout
                .lines()
                .all(|l| l.ends_with(" serverside-applied (server dry run)")),
            "{scenario}: {dry_run}"
        );
        for kind in expected_kinds {
            assert!(
                kinds.iter().any(|k| k == kind),
                "{scenario}: {kind} in {kinds:?}"
            );
        }
    }

    // Real installs, without the webhook configurations (see above): the chart with its own
    // Secret, then with cert-manager's objects and the ServiceMonitor, stored by the API server.
    let installs: [(String, &[&str]); 2] = [
        (
            format!("certManager.enabled=false,webhook.caBundle={bundle},webhook.enabled=false"),
            &[
                "deployment.apps/cmek-gate",
                "service/cmek-gate",
                "serviceaccount/cmek-gate",
                "poddisruptionbudget.policy/cmek-gate",
            ],
        ),
        (
            "webhook.enabled=false,serviceMonitor.enabled=true".to_owned(),
            &[
                "deployment.apps/cmek-gate",
                "certificate.cert-manager.io/cmek-gate-ca",
                "certificate.cert-manager.io/cmek-gate-serving",
                "issuer.cert-manager.io/cmek-gate-selfsigned",
                "issuer.cert-manager.io/cmek-gate-ca",
                "servicemonitor.monitoring.coreos.com/cmek-gate",
            ],
        ),
    ];
    for (set, stored) in installs {
        let install = helm(
            &[
                "install",
                "cmek-gate",
                "helm/cmek-gate",
                "--namespace",
                namespace,
                "--set",
                &set,
            ],
            true,
        );
        assert_eq!(install.code, 0, "--set {set}: {install}");
        install.stdout_has("STATUS: deployed");
        let objects = rig.kubectl_ok(&[
            "get",
            "deployment,service,serviceaccount,configmap,poddisruptionbudget,certificates.cert-manager.io,issuers.cert-manager.io,servicemonitors.monitoring.coreos.com",
            "-n",
            namespace,
            "-l",
            "app.kubernetes.io/instance=cmek-gate",
            "-o",
            "name",
        ]);
        for object in stored {
            objects.stdout_has(&format!("{object}\n"));
        }
        let uninstall = helm(&["uninstall", "cmek-gate", "--namespace", namespace], true);
        assert_eq!(uninstall.code, 0, "--set {set}: {uninstall}");
    }
    rig.kubectl(&["delete", "namespace", namespace, "--wait=false"]);
}

#[test]
fn kube_the_mutating_webhook_is_reinvoked_after_a_later_webhook_changes_the_object() {
    let gated = GatedNamespace::start_with(
        "kube-reinvoke",
        GateOptions {
            serve_args: &[
                "--params",
                "integration/fixtures/mutation/default-keys-params.yaml",
            ],
            mutating: true,
            ..GateOptions::default()
        },
    );
    let rig = rig();
    // A second gate whose only policy labels an unclassified Service confidential, registered
    // under a configuration name that sorts after cmek-gate's, so the API server calls it later.
    let classifier_dir = gated.dir.join("classifier");
    std::fs::create_dir_all(&classifier_dir).unwrap();
    let classifier = Server::start(
        &gated.dir.join("certs/tls.crt"),
        &gated.dir.join("certs/tls.key"),
        &[
            "--policies",
            "integration/fixtures/kube/reinvocation/classify-confidential.yaml",
        ],
        &classifier_dir,
    );
    let ca_bundle = gated.ca_bundle();
    let classifier_configuration = mutating_webhook_configuration(
        &gated.name,
        &format!("https://127.0.0.1:{}", classifier.addr.port()),
        &ca_bundle,
    )
    .replace(
        &format!("name: {}\n", gated.webhook_configuration),
        "name: zz-classifier-kube-reinvoke\n",
    )
    .replace(
        "- name: mutate.cmek-gate.dev\n",
        "- name: classify.example.com\n",
    );
    gated.apply("classifier.yaml", &classifier_configuration);
    let service = "integration/fixtures/kube/reinvocation/unclassified-service.yaml";
    gated.kubectl_until(
        &[
            "create",
            "--dry-run=server",
            "-f",
            service,
            "-o",
            "jsonpath={.metadata.labels.data-classification}",
        ],
        "the classifier webhook was not called",
        |run| run.stdout == "confidential",
    );

    // cmek-gate saw an unclassified Service first; reinvoked (reinvocationPolicy IfNeeded) after
    // the classifier, it adds the region's key, and the validating webhook admits the result.
    let created = rig.kubectl_ok(&["apply", "-f", service]);
    assert_eq!(
        created.stdout,
        "service.serving.knative.dev/ledger-api created\n"
    );
    let stored = rig.kubectl_ok(&[
        "get",
        "ksvc",
        "ledger-api",
        "-n",
        &gated.name,
        "-o",
        "jsonpath={.metadata.labels.data-classification} {.spec.template.metadata.annotations.run\\.googleapis\\.com/encryption-key}",
    ]);
    assert_eq!(
        stored.stdout,
        "confidential projects/kms-central/locations/europe-west1/keyRings/run/cryptoKeys/default"
    );

    // With reinvocationPolicy Never the same Service is refused: the key came from the second call.
    let never = mutating_webhook_configuration(&gated.name, &gated.url(), &ca_bundle).replace(
        "reinvocationPolicy: IfNeeded\n",
        "reinvocationPolicy: Never\n",
    );
    gated.apply("never.yaml", &never);
    let renamed = gated.file(
        "unclassified-2.yaml",
        &std::fs::read_to_string(repo().join(service))
            .unwrap()
            .replace("name: ledger-api\n", "name: ledger-api-2\n"),
    );
    gated
        .kubectl_until(
            &["apply", "--dry-run=server", "-f", renamed.to_str().unwrap()],
            "reinvocationPolicy Never was not in force",
            |run| run.code == 1,
        )
        .stderr_has(
            "denied the request: cmek-gate denied Service kube-reinvoke/ledger-api-2: [cmek-required] ",
        );
    rig.kubectl(&[
        "delete",
        "mutatingwebhookconfiguration",
        "zz-classifier-kube-reinvoke",
        "--ignore-not-found",
    ]);
}
