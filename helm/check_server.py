#!/usr/bin/env python3
"""Runs a built cmek-gate binary the way the chart's Deployment would run it, with no cluster:

    cargo build --release --locked
    python3 helm/check_server.py [target/release/cmek-gate]

It renders the chart with the real Helm (through helm/check_chart.py's Renderer: $CMEK_GATE_HELM or
target/kube-bin/helm, built by integration/helm/build-helm.sh) and starts `cmek-gate` with the
container's rendered `args` and `env`. The paths are moved into a temporary folder and the ports
onto free local ones; nothing else changes. /tls, /policies, /params, /client-ca,
/google-credentials and /google-ca are laid out as the kubelet lays out Secret and ConfigMap
volumes: a timestamped folder, a `..data` symlink to it and one symlink per file. Updates swap `..data` atomically, as the kubelet's AtomicWriter does. The
policies and params are the rendered ConfigMaps' data. Then it checks:

  - /readyz and /healthz over HTTPS, and /metrics on the metrics port (9 policies loaded);
  - POST /validate denies examples/service.yaml (cmek-required);
  - the params ConfigMap is in force (a key from a project outside allowedKeyProjects is denied);
  - a Secret-style swap of /tls is served without a restart, and a ConfigMap-style swap of
    /policies reloads the policies;
  - SIGTERM ends the server well within terminationGracePeriodSeconds;
  - with clientCA enabled, HTTPS without a client certificate is refused, the rendered liveness
    probe (plain /healthz on the metrics port) answers 200, and the rendered readiness probe (a
    TCP connect) succeeds;
  - with live.enabled and a key Secret (/google-credentials holding a service-account key file
    made here with openssl, GOOGLE_APPLICATION_CREDENTIALS from the rendered env), the server
    starts with the rendered --live flags; Google is unreachable (every live.endpoints entry and
    the key's token_uri a closed local port), so live.unreachable=warn admits
    examples/service-compliant.yaml with the warning, and the token was asked of the key file's
    token_uri.

Stdlib + PyYAML. Exit code 0 when every check passes, 1 otherwise. Not run here: the kubelet
itself, the API server, cert-manager. It makes its own certificates with `cmek-gate certs`.
"""

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

sys.dont_write_bytecode = True  # no __pycache__ beside the chart
sys.path.insert(0, str(Path(__file__).resolve().parent))
import check_chart as cc  # noqa: E402  (the renderer)

RELOAD_WAIT = 6.0  # the server polls every 2 s by default and loads a policy change seen by two polls


class Run:
    def __init__(self, binary, root):
        self.binary = binary
        self.root = root
        self.values = yaml.safe_load((cc.CHART / "values.yaml").read_text(encoding="utf-8"))
        self.results = []
        self.generation = 0

    def check(self, ok, what):
        self.results.append(bool(ok))
        print(("PASS  " if ok else "FAIL  ") + what, flush=True)
        return bool(ok)

    def render(self, overrides):
        out = cc.Renderer(cc.CHART).render(
            cc.helm_numbers(cc.deep_merge(self.values, overrides)), "cmek-gate", "cmek-gate")
        docs = {}
        for name, text in out.items():
            if name.endswith(".yaml"):
                for doc in yaml.safe_load_all(text):
                    if doc:
                        docs.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = doc
        return docs

    def volume(self, mount, files):
        """Writes files into mount as the kubelet does: new folder, ..data swapped, symlinks."""
        self.generation += 1
        mount.mkdir(parents=True, exist_ok=True)
        folder = f"..2026_01_01_00_00_{self.generation:02d}.{os.getpid()}"
        (mount / folder).mkdir()
        for name, data in files.items():
            (mount / folder / name).write_text(data, encoding="utf-8")
        tmp = mount / "..data_tmp"
        os.symlink(folder, tmp)
        os.replace(tmp, mount / "..data")
        for name in files:
            if not (mount / name).is_symlink():
                os.symlink(f"..data/{name}", mount / name)
        for entry in os.listdir(mount):
            if not entry.startswith("..") and entry not in files:
                os.remove(mount / entry)

    def certs(self, name, client=None):
        out = self.root / name
        cmd = [self.binary, "certs", "--out", str(out), "--dns", "localhost",
               "--dns", "cmek-gate.cmek-gate.svc"]
        if client:
            cmd += ["--client", client]
        subprocess.run(cmd, capture_output=True, text=True, check=True)
        return {f: (out / f).read_text(encoding="utf-8") for f in os.listdir(out)}, out

    def start(self, docs, ports, log_name):
        container = docs["Deployment"]["cmek-gate"]["spec"]["template"]["spec"]["containers"][0]
        remap = {"/tls/": f"{self.root}/tls/", "/policies": f"{self.root}/policies",
                 "/params/": f"{self.root}/params/", "/client-ca/": f"{self.root}/client-ca/",
                 "/google-credentials/": f"{self.root}/google-credentials/",
                 "/google-ca/": f"{self.root}/google-ca/",
                 "0.0.0.0:8443": f"127.0.0.1:{ports[0]}", "0.0.0.0:9090": f"127.0.0.1:{ports[1]}"}

        def moved(text):
            for old, new in remap.items():
                text = text.replace(old, new)
            return text

        args = [moved(arg) for arg in container["args"]]
        env = {k: v for k, v in os.environ.items()
               if k != "GOOGLE_APPLICATION_CREDENTIALS" and not k.startswith("CMEK_GATE_")}
        env.update({e["name"]: moved(e["value"]) for e in container.get("env") or []})
        log = open(self.root / log_name, "w")
        print(f"      {self.binary} {' '.join(args)}", flush=True)
        return container, subprocess.Popen([self.binary] + args, stdout=log, stderr=log, env=env)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def context(ca, client=None):
    ctx = ssl.create_default_context(cafile=str(ca))
    if client:
        ctx.load_cert_chain(str(client[0]), str(client[1]))
    return ctx


def https(port, path, ca, body=None, client=None, timeout=5):
    req = urllib.request.Request(f"https://localhost:{port}{path}", data=body,
                                 headers={"Content-Type": "application/json"} if body else {})
    try:
        with urllib.request.urlopen(req, context=context(ca, client), timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def metric(port, name):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return line.split()[-1]
    return None


def served_cert(port, ca):
    with socket.create_connection(("localhost", port), timeout=5) as s:
        with context(ca).wrap_socket(s, server_hostname="cmek-gate.cmek-gate.svc") as t:
            return ssl.DER_cert_to_PEM_cert(t.getpeercert(binary_form=True)).strip()


def wait_ready(port, ca, client=None, proc=None):
    for _ in range(150):
        if proc is not None and proc.poll() is not None:
            return False
        try:
            if https(port, "/readyz", ca, client=client)[0] == 200:
                return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def review(obj, uid):
    gv = {"group": "serving.knative.dev", "version": "v1"}
    return json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": uid, "kind": dict(gv, kind="Service"), "resource": dict(gv, resource="services"),
        "requestKind": dict(gv, kind="Service"), "requestResource": dict(gv, resource="services"),
        "name": obj["metadata"]["name"], "namespace": obj["metadata"]["namespace"],
        "operation": "CREATE", "userInfo": {"username": "system:serviceaccount:config-management-system:root-reconciler"},
        "object": obj, "oldObject": None, "dryRun": False, "options": None}}).encode()


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=25)
        except subprocess.TimeoutExpired:
            proc.kill()


def plain_webhook_run(run, service):
    # The policy swap below removes a policy: a shrink, which the server takes only when allowed.
    docs = run.render({"params": {"allowedKeyProjects": ["kms-central"]},
                       "server": {"allowPolicyShrink": True}})
    first, first_dir = run.certs("gen1")
    second, second_dir = run.certs("gen2")
    policies = docs["ConfigMap"]["cmek-gate-policies"]["data"]
    run.volume(run.root / "tls", {"tls.crt": first["tls.crt"], "tls.key": first["tls.key"]})
    run.volume(run.root / "policies", policies)
    run.volume(run.root / "params", docs["ConfigMap"]["cmek-gate-params"]["data"])
    ports = (free_port(), free_port())
    container, proc = run.start(docs, ports, "server-1.log")
    ca1, ca2 = first_dir / "ca.crt", second_dir / "ca.crt"
    try:
        run.check(wait_ready(ports[0], ca1, proc=proc),
                  "/readyz 200 with the rendered args, /policies = the rendered ConfigMap")
        run.check(https(ports[0], "/healthz", ca1)[0] == 200, "/healthz 200 over HTTPS")
        run.check(metric(ports[1], "cmek_gate_policies") == "9", "/metrics on the metrics port: 9 policies")
        code, body = https(ports[0], "/validate", ca1, review(service, "u1"))
        resp = json.loads(body).get("response", {})
        run.check(code == 200 and resp.get("allowed") is False
                  and "cmek-required" in resp.get("status", {}).get("message", ""),
                  "POST /validate denies examples/service.yaml (cmek-required)")
        keyed = json.loads(json.dumps(service))
        keyed["spec"]["template"]["metadata"]["annotations"]["run.googleapis.com/encryption-key"] = \
            "projects/other-proj/locations/europe-west1/keyRings/ring/cryptoKeys/key"
        code, body = https(ports[0], "/validate", ca1, review(keyed, "u2"))
        resp = json.loads(body).get("response", {})
        run.check(resp.get("allowed") is False
                  and "cmek-key-project" in resp.get("status", {}).get("message", ""),
                  "the params ConfigMap (allowedKeyProjects: [kms-central]) is in force")
        before = served_cert(ports[0], ca1)
        run.volume(run.root / "tls", {"tls.crt": second["tls.crt"], "tls.key": second["tls.key"]})
        time.sleep(RELOAD_WAIT)
        after = served_cert(ports[0], ca2)
        run.check(before != after and after == second["tls.crt"].strip(),
                  "a Secret-style swap of /tls is served without a restart")
        run.volume(run.root / "policies", {k: v for k, v in policies.items() if k != "cmek-required.yaml"})
        time.sleep(RELOAD_WAIT)
        run.check(metric(ports[1], "cmek_gate_policies") == "8",
                  "a ConfigMap-style swap of /policies reloads the policies (8, with server.allowPolicyShrink)")
        grace = docs["Deployment"]["cmek-gate"]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        started = time.time()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=grace)
        took = time.time() - started
        run.check(code == 0 and took < grace, f"SIGTERM: exit {code} after {took:.2f}s (grace {grace}s)")
    finally:
        stop(proc)


def mutual_tls_run(run):
    docs = run.render({"clientCA": {"enabled": True, "configMapName": "apiserver-client-ca"}})
    files, folder = run.certs("gen3", client="kube-apiserver")
    run.volume(run.root / "tls", {"tls.crt": files["tls.crt"], "tls.key": files["tls.key"]})
    run.volume(run.root / "policies", docs["ConfigMap"]["cmek-gate-policies"]["data"])
    run.volume(run.root / "client-ca", {"ca.crt": files["ca.crt"]})
    ports = (free_port(), free_port())
    container, proc = run.start(docs, ports, "server-2.log")
    ca, client = folder / "ca.crt", (folder / "client.crt", folder / "client.key")
    try:
        run.check(wait_ready(ports[0], ca, client=client, proc=proc),
                  "mutual TLS: /readyz 200 with a client certificate")
        try:
            code, _ = https(ports[0], "/healthz", ca)
            run.check(False, f"mutual TLS: HTTPS without a client certificate answered {code}")
        except (OSError, ssl.SSLError) as e:
            run.check(True, f"mutual TLS: HTTPS without a client certificate refused ({type(e).__name__})")
        live = container["livenessProbe"].get("httpGet", {})
        port = {"https": ports[0], "metrics": ports[1]}.get(live.get("port"))
        if run.check(live.get("scheme") == "HTTP" and port, "mutual TLS: the liveness probe is plain HTTP"):
            url = f"http://127.0.0.1:{port}{live.get('path')}"
            code = urllib.request.urlopen(url, timeout=5).status
            run.check(code == 200, f"mutual TLS: the rendered liveness probe ({live.get('path')} on "
                                   f"{live.get('port')}) answers {code}")
        ready = container["readinessProbe"].get("httpGet", {})
        port = {"https": ports[0], "metrics": ports[1]}.get(ready.get("port"))
        if run.check(ready.get("scheme") == "HTTP" and port, "mutual TLS: the readiness probe is plain HTTP"):
            url = f"http://127.0.0.1:{port}{ready.get('path')}"
            code = urllib.request.urlopen(url, timeout=5).status
            run.check(code == 200, f"mutual TLS: the rendered readiness probe ({ready.get('path')} on "
                                   f"{ready.get('port')}) answers {code}")
    finally:
        stop(proc)


def service_account_key(token_uri):
    """A service-account key file as Google issues them, with a new RSA key (openssl) and its
    token endpoint at token_uri."""
    proc = subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl genpkey failed: {proc.stderr.strip()}")
    return json.dumps({"type": "service_account", "project_id": "security-prod", "private_key_id": "0" * 40,
                       "private_key": proc.stdout,
                       "client_email": "cmek-gate@security-prod.iam.gserviceaccount.com",
                       "client_id": "1" * 21, "auth_uri": "https://accounts.google.com/o/oauth2/auth",
                       "token_uri": token_uri})


def live_run(run, compliant):
    """Live mode as the chart renders it with a key Secret: the server starts with the rendered
    flags and GOOGLE_APPLICATION_CREDENTIALS, and, with Google unreachable (every endpoint and the
    token endpoint a closed local port), live.unreachable=warn admits with the warning."""
    closed = f"http://127.0.0.1:{free_port()}"
    docs = run.render({"live": {"enabled": True, "unreachable": "warn", "googleTimeout": "1s",
                                "credentialsSecret": "cmek-gate-google",
                                "endpoints": {api: closed for api in
                                              ("cloudkms", "cloudresourcemanager", "artifactregistry")},
                                "googleCA": {"configMapName": "google-ca"}}})
    files, folder = run.certs("gen4")
    run.volume(run.root / "tls", {"tls.crt": files["tls.crt"], "tls.key": files["tls.key"]})
    run.volume(run.root / "policies", docs["ConfigMap"]["cmek-gate-policies"]["data"])
    run.volume(run.root / "google-credentials", {"key.json": service_account_key(f"{closed}/token")})
    run.volume(run.root / "google-ca", {"ca.crt": files["ca.crt"]})
    ports = (free_port(), free_port())
    container, proc = run.start(docs, ports, "server-3.log")
    ca = folder / "ca.crt"
    try:
        run.check(wait_ready(ports[0], ca, proc=proc),
                  "live: /readyz 200 with the rendered --live flags and the key file from the Secret")
        code, body = https(ports[0], "/validate", ca, review(compliant, "u3"), timeout=60)
        resp = json.loads(body).get("response", {})
        warnings = resp.get("warnings") or []
        ok = code == 200 and resp.get("allowed") is True and any(
            "allowed without live data (--live-unreachable warn)" in w for w in warnings)
        run.check(ok, "live: with Google unreachable, live.unreachable=warn admits "
                      "examples/service-compliant.yaml with the warning"
                      + ("" if ok else f" (got {code}, allowed {resp.get('allowed')}, warnings {warnings})"))
        # The token was asked of the key file's token_uri: GOOGLE_APPLICATION_CREDENTIALS reached it.
        run.check(any("cannot get an access token" in w for w in warnings),
                  "live: the token was asked with the mounted key file (its token_uri refused)")
    finally:
        stop(proc)


def main():
    binary = Path(sys.argv[1] if len(sys.argv) > 1 else cc.REPO / "target" / "release" / "cmek-gate")
    if not binary.is_file():
        print(f"check_server: no binary at {binary}; build it with cargo build --release --locked",
              file=sys.stderr)
        return 1
    service = yaml.safe_load((cc.REPO / "examples" / "service.yaml").read_text(encoding="utf-8"))
    service["metadata"]["namespace"] = "team-a"
    compliant = yaml.safe_load((cc.REPO / "examples" / "service-compliant.yaml").read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory(prefix="cmek-gate-check-server-") as tmp:
        run = Run(str(binary.resolve()), Path(tmp))
        try:
            plain_webhook_run(run, service)
            mutual_tls_run(run)
            live_run(run, compliant)
        except Exception as e:  # a crash is a failure with its reason, plus the server logs
            run.check(False, f"{type(e).__name__}: {e}")
        if not all(run.results):
            for log in sorted(Path(tmp).glob("server-*.log")):
                print(f"--- {log.name}\n{log.read_text()[-3000:]}", file=sys.stderr)
    passed = sum(run.results)
    print(f"check_server: {passed}/{len(run.results)} passed")
    return 0 if run.results and all(run.results) else 1


if __name__ == "__main__":
    sys.exit(main())
