#!/usr/bin/env python3
"""Checks the cmek-gate Helm chart (helm/cmek-gate/), rendered by the real Helm. CI runs it:

    bash integration/helm/build-helm.sh          # target/kube-bin/helm (v4.3.2, from Go modules)
    python3 helm/check_chart.py [--out DIR] [--helm HELM]

Python 3 (tested with 3.11) with PyYAML, and helm ($CMEK_GATE_HELM or target/kube-bin/helm). Exit
code 0 when every check passes, 1 with a message per failure otherwise. --out DIR also writes each
rendered scenario to DIR/<scenario>.yaml.

What it checks
  1. Chart.yaml and values.yaml parse; Chart.yaml has apiVersion v2, a name and a version, and its
     appVersion equals the package version in Cargo.toml.
  2. values.yaml is documented: every key (at any depth) has a comment line directly above it, at
     the key's indentation, and every key is written in block style (so it can carry one).
  3. (Template syntax is Helm's to check: a template that does not parse fails every render.)
  4. Every `.Values.x.y` a template reads exists in values.yaml (a typo would render as empty), and
     every `include` / `template` names a defined template.
  5. `helm template` renders the chart in ten scenarios, every rendered document parses
     as YAML and is an object with apiVersion, kind and metadata.name (namespaced kinds also carry
     metadata.namespace, the release's):
       defaults          the chart as shipped;
       no-cert-manager   certManager.enabled=false, a caBundle given as PEM (and, compared, the same
                         as base64) and an existing Secret;
       missing-ca        certManager.enabled=false without a caBundle: rendering must fail, saying so;
       issuer-ref        cert-manager with an existing ClusterIssuer;
       everything        ServiceMonitor, HPA, the Grafana dashboard ConfigMap (labelled for the
                         sidecar, its JSON equal to dashboards/cmek-gate.json), params,
                         extraPolicies, policies.exclude, client CA,
                         failurePolicy Ignore, timeoutSeconds 5, extra args and env;
       other-release     release "gate" in namespace "security" (names follow the release);
       live-off          live.* settings (a key Secret, then Workload Identity) with live.enabled
                         false: no live argument, env, volume or ServiceAccount annotation;
       live-key-secret   live.enabled with every setting: `--live`, `--live-unreachable=warn`, the
                         timeout, cache TTLs, an endpoint and a CA as `serve` flags, the key Secret
                         mounted at /google-credentials and GOOGLE_APPLICATION_CREDENTIALS naming it;
       live-workload-identity  live.enabled with live.gcpServiceAccount: the ServiceAccount's
                         iam.gke.io/gcp-service-account annotation beside serviceAccount.annotations,
                         `--live-unreachable=deny` and `--google-timeout=2s` by default, no key file;
       live-refused      values rendering must refuse, saying which: live.unreachable other than
                         deny/warn/allow (also with live off), a malformed duration, an unknown API
                         or a non-URL in live.endpoints, both kinds of credentials, Workload
                         Identity without the chart's ServiceAccount.
     In them it checks the ValidatingWebhookConfiguration and, when mutatingWebhook.enabled (off by
     default; on in no-cert-manager and everything), the MutatingWebhookConfiguration the same way
     on /mutate with its reinvocationPolicy (exactly the two rules: serving.knative.dev
     services+configurations and run.cnrm.cloud.google.com runservices+runjobs, CREATE/UPDATE,
     apiVersions "*", scope Namespaced; admissionReviewVersions [v1]; sideEffects None;
     failurePolicy Fail and timeoutSeconds 10 by default; matchPolicy Equivalent; matchConditions
     skipping objects being deleted; clientConfig to the
     Service on /validate; the namespaceSelector excluding the release namespace and kube-system and
     the cmek-gate.dev/ignore label; caBundle injected by cert-manager or given), the Deployment (2
     replicas, pod and container security context, resources, probes (HTTPS /healthz and /readyz; with
     a client CA, /healthz on the metrics port and a TCP check), ports, args (each a `cmek-gate serve`
     flag), the /tls Secret and /policies ConfigMap mounts, anti-affinity, topology spread, a
     termination grace above preStop sleep + the server's shutdown grace), the Service (443 -> https/8443,
     metrics 9090), the ServiceAccount, the PodDisruptionBudget, the cert-manager chain, the policies
     ConfigMap (its files equal the repository's policies/*.yaml byte for byte), and the optional
     objects.
  6. helm/cmek-gate/files/policies/*.yaml are byte-identical to the repository's top-level
     policies/*.yaml, and the two sets of file names are equal.
  7. The Dockerfile exposes the chart's container ports, builds with cargo build --release --locked,
     runs /cmek-gate and sets a non-root USER.

helm/check_server.py goes one step further: it runs a built binary with the rendered args.

Rendering
  `helm template RELEASE helm/cmek-gate --namespace NS --values V` with the scenario's values (the
  chart's values.yaml deep-merged with the scenario's overrides). This script used to carry its own
  Go-template renderer, from before Helm could be built here; Helm replaced it. The tests in
  integration/kube.rs also run `helm lint --strict`, `helm template` and `helm install` against a
  real kube-apiserver.
"""

import argparse
import base64
import copy
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
CHART = REPO / "helm" / "cmek-gate"


class TemplateError(Exception):
    """A template that does not parse or render."""


# --------------------------------------------------------------------------------------------
# Rendering: the real Helm
# --------------------------------------------------------------------------------------------


def default_helm():
    """The helm binary: $CMEK_GATE_HELM, else the one integration/helm/build-helm.sh builds."""
    return os.environ.get("CMEK_GATE_HELM") or str(REPO / "target" / "kube-bin" / "helm")


def helm_numbers(value):
    """The values as given: Helm reads them itself (kept for helm/check_server.py)."""
    return value


class Renderer:
    """`helm template` of the chart with the given values, by the real Helm."""

    def __init__(self, chart, helm=None):
        self.chart = chart
        self.helm = helm or default_helm()
        if not Path(self.helm).is_file():
            raise TemplateError(f"no helm binary at {self.helm}: build it with "
                                "`bash integration/helm/build-helm.sh` or name one with --helm")
        self.defines = set()
        for path in (chart / "templates").iterdir():
            if path.is_file():
                self.defines.update(re.findall(r'\bdefine\s+"([^"]+)"', path.read_text(encoding="utf-8")))

    def render(self, values, release, namespace):
        """Returns {template path: rendered text}; raises TemplateError with Helm's message."""
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", encoding="utf-8") as f:
            yaml.safe_dump(values, f)
            f.flush()
            proc = subprocess.run([self.helm, "template", release, str(self.chart), "--namespace", namespace,
                                   "--values", f.name], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise TemplateError(proc.stderr.strip())
        out = {}
        for part in re.split(r"^---\n", proc.stdout, flags=re.M):
            m = re.match(r"# Source: [^/\n]+/(.+)\n", part)
            if not m:
                continue
            name, text = m.group(1), part[m.end():]
            out[name] = f"{out[name]}\n---\n{text}" if name in out else text
        return out

# --------------------------------------------------------------------------------------------
# The checks
# --------------------------------------------------------------------------------------------


class Checker:
    def __init__(self, out_dir=None):
        self.failures = []
        self.out_dir = out_dir
        self.section = ""

    def fail(self, message):
        self.failures.append(f"[{self.section}] {message}" if self.section else message)

    def expect(self, cond, message):
        if not cond:
            self.fail(message)
        return cond

    def equal(self, actual, expected, what):
        return self.expect(actual == expected, f"{what}: expected {expected!r}, got {actual!r}")


def load_yaml(path, checker):
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        checker.fail(f"{path.relative_to(REPO)} does not parse: {e}")
        return None


def check_chart_yaml(c):
    c.section = "Chart.yaml"
    chart = load_yaml(CHART / "Chart.yaml", c)
    if not isinstance(chart, dict):
        c.fail("Chart.yaml is not a mapping")
        return None
    c.equal(chart.get("apiVersion"), "v2", "apiVersion")
    c.equal(chart.get("name"), "cmek-gate", "name")
    c.expect(re.fullmatch(r"\d+\.\d+\.\d+(?:[-+].*)?", str(chart.get("version", ""))),
             f"version {chart.get('version')!r} is not SemVer")
    cargo = (REPO / "Cargo.toml").read_text(encoding="utf-8")
    m = re.search(r'(?ms)^\[package\].*?^version\s*=\s*"([^"]+)"', cargo)
    if c.expect(m, "no package version in Cargo.toml"):
        c.equal(str(chart.get("appVersion")), m.group(1), "appVersion (must equal Cargo.toml's version)")
    return chart


KEY_LINE = re.compile(r"^(?P<indent> *)(?P<dash>- +)?(?P<key>[A-Za-z0-9_.\-/]+|\"[^\"]*\"|'[^']*'):(?:\s|$)")


def check_values_documented(c, text, values):
    """Every key has a comment line right above it at its indentation; keys are in block style."""
    c.section = "values.yaml"
    lines = text.splitlines()
    stack = []  # (indent, key)
    found = set()
    block_indent = None
    for n, line in enumerate(lines, 1):
        if block_indent is not None:
            if not line.strip() or len(line) - len(line.lstrip(" ")) > block_indent:
                continue
            block_indent = None
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if "\t" in line[: len(line) - len(line.lstrip())]:
            c.fail(f"line {n}: indented with a tab")
        m = KEY_LINE.match(line)
        if not m:
            continue
        indent = len(m.group("indent"))
        if m.group("dash"):
            c.fail(f"line {n}: key {m.group('key')} inside a list item: give lists of scalars only, "
                   "or document the shape in the comment of the list and leave the default empty")
            continue
        key = m.group("key").strip("\"'")
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = tuple(k for _, k in stack) + (key,)
        found.add(path)
        stack.append((indent, key))
        prev_line = lines[n - 2] if n >= 2 else ""
        if not (prev_line.strip().startswith("#")
                and len(prev_line) - len(prev_line.lstrip(" ")) == indent):
            c.fail(f"line {n}: key {'.'.join(path)} has no comment directly above it (at its indentation)")
        rest = line[m.end():].split(" #")[0].strip()
        if rest in ("|", "|-", "|+", ">", ">-", ">+"):
            block_indent = indent

    def paths(node, prefix=()):
        if isinstance(node, dict):
            for k, v in node.items():
                yield prefix + (str(k),)
                yield from paths(v, prefix + (str(k),))

    expected = set(paths(values))
    for p in sorted(expected - found):
        c.fail(f"key {'.'.join(p)} is not written in block style (one key per line), so it cannot "
               "carry a comment")
    for p in sorted(found - expected):
        c.fail(f"line scan found key {'.'.join(p)} that YAML does not have (check the indentation)")


def check_values_references(c, path, values, defines):
    c.section = f"templates/{path.name}"
    src = path.read_text(encoding="utf-8")
    for m in re.finditer(r"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)", src):
        node = values
        walked = []
        for key in m.group(1).split(".")[1:]:
            if not isinstance(node, dict) or key not in node:
                line = src.count("\n", 0, m.start()) + 1
                c.fail(f"line {line}: .Values{m.group(1)} is not in values.yaml "
                       f"(no {'.'.join(walked + [key])})")
                break
            node = node[key]
            walked.append(key)
    for m in re.finditer(r"\b(?:include|template)\s+\"([^\"]+)\"", src):
        if m.group(1) not in defines:
            line = src.count("\n", 0, m.start()) + 1
            c.fail(f"line {line}: no template named {m.group(1)!r} is defined")


def deep_merge(base, override):
    out = copy.deepcopy(base)
    for k, v in override.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


NAMESPACED = {"Deployment", "Service", "ServiceAccount", "PodDisruptionBudget", "ConfigMap",
              "Issuer", "Certificate", "HorizontalPodAutoscaler", "ServiceMonitor"}


def render(c, renderer, values, overrides, release, namespace, scenario):
    """Renders a scenario; returns {kind: [docs]} or None when rendering failed."""
    merged = helm_numbers(deep_merge(values, overrides))
    out = renderer.render(merged, release, namespace)
    docs = {}
    text_all = []
    for name, text in out.items():
        if not name.endswith((".yaml", ".yml")):
            continue
        text_all.append(f"# Source: cmek-gate/{name}\n{text}\n")
        for i, chunk in enumerate(re.split(r"(?:^|\s*\n)---\s*", text)):  # Helm's SplitManifests
            if not chunk.strip():
                continue
            try:
                doc = yaml.safe_load(chunk)
            except yaml.YAMLError as e:
                c.fail(f"{scenario}: {name} document {i} does not parse as YAML: {e}\n{number(chunk)}")
                continue
            if doc is None:
                c.fail(f"{scenario}: {name} document {i} has only comments (helm would send an empty object)")
                continue
            if not isinstance(doc, dict):
                c.fail(f"{scenario}: {name} document {i} is not a mapping")
                continue
            kind = doc.get("kind")
            meta = doc.get("metadata") or {}
            if not (doc.get("apiVersion") and kind and meta.get("name")):
                c.fail(f"{scenario}: {name} document {i} lacks apiVersion, kind or metadata.name")
                continue
            if kind in NAMESPACED:
                c.equal(meta.get("namespace"), namespace, f"{scenario}: {kind} {meta['name']} metadata.namespace")
            elif "namespace" in meta:
                c.fail(f"{scenario}: cluster-scoped {kind} {meta['name']} has a namespace")
            if len(meta["name"]) > 253 or not re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", meta["name"]):
                c.fail(f"{scenario}: {kind} name {meta['name']!r} is not a DNS subdomain")
            docs.setdefault(kind, []).append(doc)
    if "NOTES.txt" in [Path(n).name for n in out]:
        c.expect(out["templates/NOTES.txt"].strip(), f"{scenario}: NOTES.txt renders empty")
    if c.out_dir:
        c.out_dir.mkdir(parents=True, exist_ok=True)
        (c.out_dir / f"{scenario}.yaml").write_text("---\n".join(text_all), encoding="utf-8")
    return docs


def number(text):
    return "\n".join(f"{i:4} | {line}" for i, line in enumerate(text.splitlines(), 1))


def one(c, docs, kind, scenario, name=None):
    found = [d for d in docs.get(kind, []) if name is None or d["metadata"]["name"] == name]
    if not c.expect(len(found) == 1, f"{scenario}: expected one {kind}{' ' + name if name else ''}, "
                                     f"found {len(found)}"):
        return None
    return found[0]


EXPECTED_RULES = [
    {"apiGroups": ["serving.knative.dev"], "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"],
     "resources": ["services", "configurations"], "scope": "Namespaced"},
    {"apiGroups": ["run.cnrm.cloud.google.com"], "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"],
     "resources": ["runservices", "runjobs"], "scope": "Namespaced"},
]

SERVER_SHUTDOWN_GRACE = 20  # cmek-gate serve --shutdown-grace default, seconds

SERVER_FLAGS = {"--cert", "--key", "--listen", "--metrics-listen", "--policies", "--params",
                "--client-ca", "--max-body-bytes", "--max-connections", "--read-timeout",
                "--max-concurrent-evaluations", "--evaluation-queue-timeout",
                "--max-request-nodes", "--max-request-labels",
                "--reload-interval", "--shutdown-grace", "--log-format", "--allow-policy-shrink",
                "--namespace-labels", "--unknown-namespaces",
                "--live", "--live-unreachable", "--google-timeout", "--google-cache-ttl",
                "--google-not-found-ttl", "--google-endpoint", "--google-ca", "--google-access-token-file"}

LIVE_FLAGS = {f for f in SERVER_FLAGS if f.startswith(("--live", "--google-"))}


def check_webhook(c, docs, scenario, fullname, namespace, failure_policy="Fail", timeout=10,
                  excluded=("kube-system",), ignore_label="cmek-gate.dev/ignore",
                  ca_bundle=None, inject_from=None, kind="ValidatingWebhookConfiguration",
                  path="/validate", reinvocation=None):
    vwc = one(c, docs, kind, scenario)
    if vwc is None:
        return
    s = f"{scenario}: {kind}"
    c.equal(vwc["apiVersion"], "admissionregistration.k8s.io/v1", f"{s} apiVersion")
    hooks = vwc.get("webhooks") or []
    if not c.equal(len(hooks), 1, f"{s} number of webhooks"):
        return
    w = hooks[0]
    c.expect(len(str(w.get("name", "")).split(".")) >= 3, f"{s} webhook name {w.get('name')!r} needs 3 segments")
    c.equal(w.get("rules"), EXPECTED_RULES, f"{s} rules")
    c.equal(w.get("sideEffects"), "None", f"{s} sideEffects")
    c.equal(w.get("admissionReviewVersions"), ["v1"], f"{s} admissionReviewVersions")
    c.equal(w.get("failurePolicy"), failure_policy, f"{s} failurePolicy")
    c.equal(w.get("timeoutSeconds"), timeout, f"{s} timeoutSeconds")
    c.equal(w.get("matchPolicy"), "Equivalent", f"{s} matchPolicy")
    c.equal(w.get("reinvocationPolicy"), reinvocation, f"{s} reinvocationPolicy")
    c.expect("objectSelector" not in w, f"{s} has an objectSelector (users could opt out by label)")
    c.equal(w.get("matchConditions"), [{"name": "not-terminating",
                                        "expression": "!has(object.metadata.deletionTimestamp)"}],
            f"{s} matchConditions")
    expressions = [{"key": "kubernetes.io/metadata.name", "operator": "NotIn",
                    "values": [namespace] + list(excluded)}]
    if ignore_label:
        expressions.append({"key": ignore_label, "operator": "DoesNotExist"})
    c.equal(w.get("namespaceSelector"), {"matchExpressions": expressions}, f"{s} namespaceSelector")
    cc = w.get("clientConfig") or {}
    c.equal(cc.get("service"), {"name": fullname, "namespace": namespace, "path": path, "port": 443},
            f"{s} clientConfig.service")
    c.expect("url" not in cc, f"{s} clientConfig has a url")
    annotations = vwc["metadata"].get("annotations") or {}
    if inject_from:
        c.equal(annotations.get("cert-manager.io/inject-ca-from"), inject_from, f"{s} inject-ca-from annotation")
        c.expect("caBundle" not in cc, f"{s} sets caBundle although cert-manager injects it")
    else:
        c.expect("cert-manager.io/inject-ca-from" not in annotations, f"{s} has inject-ca-from without cert-manager")
        c.equal(cc.get("caBundle"), ca_bundle, f"{s} caBundle")
        try:
            pem = base64.b64decode(cc.get("caBundle") or "", validate=True).decode()
            c.expect(pem.startswith("-----BEGIN CERTIFICATE-----"), f"{s} caBundle is not a base64 PEM certificate")
        except (ValueError, UnicodeDecodeError):
            c.fail(f"{s} caBundle is not base64")


def check_deployment(c, docs, scenario, fullname, tls_secret, replicas=2, client_ca=False, params=False):
    d = one(c, docs, "Deployment", scenario)
    if d is None:
        return None
    s = f"{scenario}: Deployment"
    spec = d["spec"]
    if replicas is None:
        c.expect("replicas" not in spec, f"{s} sets replicas although the HPA owns them")
    else:
        c.equal(spec.get("replicas"), replicas, f"{s} replicas")
    selector = spec["selector"]["matchLabels"]
    pod = spec["template"]
    labels = pod["metadata"]["labels"]
    c.expect(selector.items() <= labels.items(), f"{s} selector {selector} does not select its pods {labels}")
    ps = pod["spec"]
    c.equal(ps.get("automountServiceAccountToken"), False, f"{s} automountServiceAccountToken")
    psc = ps.get("securityContext") or {}
    c.equal(psc.get("runAsNonRoot"), True, f"{s} pod runAsNonRoot")
    c.equal((psc.get("seccompProfile") or {}).get("type"), "RuntimeDefault", f"{s} pod seccompProfile")
    c.expect(isinstance(psc.get("runAsUser"), int) and psc["runAsUser"] > 0, f"{s} pod runAsUser is not a non-root uid")
    containers = ps.get("containers") or []
    if not c.equal(len(containers), 1, f"{s} containers"):
        return d
    ct = containers[0]
    sc = ct.get("securityContext") or {}
    c.equal(sc.get("allowPrivilegeEscalation"), False, f"{s} allowPrivilegeEscalation")
    c.equal(sc.get("readOnlyRootFilesystem"), True, f"{s} readOnlyRootFilesystem")
    c.equal(sc.get("runAsNonRoot"), True, f"{s} container runAsNonRoot")
    c.expect(not sc.get("privileged"), f"{s} privileged")
    c.equal((sc.get("capabilities") or {}).get("drop"), ["ALL"], f"{s} capabilities.drop")
    c.expect(not (sc.get("capabilities") or {}).get("add"), f"{s} adds capabilities")
    res = ct.get("resources") or {}
    for part in ("requests", "limits"):
        for r in ("cpu", "memory"):
            c.expect((res.get(part) or {}).get(r), f"{s} resources.{part}.{r} is not set")
    ports = {p["name"]: p["containerPort"] for p in ct.get("ports") or []}
    c.equal(ports, {"https": 8443, "metrics": 9090}, f"{s} container ports")
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        pr = ct.get(probe) or {}
        if not client_ca:
            c.equal(pr.get("httpGet"), {"path": path, "port": "https", "scheme": "HTTPS"}, f"{s} {probe}")
        else:  # the kubelet has no client certificate: plain HTTP on the metrics port
            c.equal(pr.get("httpGet"), {"path": path, "port": "metrics", "scheme": "HTTP"},
                    f"{s} {probe} with a client CA")
    args = ct.get("args") or []
    c.equal(args[:1], ["serve"], f"{s} first argument")
    for a in args[1:]:
        flag = a.split("=", 1)[0]
        c.expect(flag in SERVER_FLAGS, f"{s} argument {a!r} is not a `cmek-gate serve` flag")
    for want in ("--cert=/tls/tls.crt", "--key=/tls/tls.key", "--listen=0.0.0.0:8443",
                 "--metrics-listen=0.0.0.0:9090", "--policies=/policies"):
        c.expect(want in args, f"{s} args lack {want}")
    c.equal("--params=/params/params.yaml" in args, params, f"{s} --params present")
    c.equal(any(a.startswith("--client-ca=/client-ca/") for a in args), client_ca, f"{s} --client-ca present")
    mounts = {m["name"]: m for m in ct.get("volumeMounts") or []}
    volumes = {v["name"]: v for v in ps.get("volumes") or []}
    for name, path in (("tls", "/tls"), ("policies", "/policies")):
        m = mounts.get(name) or {}
        c.equal((m.get("mountPath"), m.get("readOnly"), m.get("subPath")), (path, True, None),
                f"{s} mount {name} (mountPath, readOnly, subPath)")
    c.equal((volumes.get("tls") or {}).get("secret", {}).get("secretName"), tls_secret, f"{s} tls Secret")
    c.equal((volumes.get("tls") or {}).get("secret", {}).get("defaultMode"), 0o440, f"{s} tls defaultMode")
    c.equal((volumes.get("policies") or {}).get("configMap", {}).get("name"), f"{fullname}-policies",
            f"{s} policies ConfigMap")
    aff = ((ps.get("affinity") or {}).get("podAntiAffinity") or {}).get(
        "preferredDuringSchedulingIgnoredDuringExecution") or []
    if c.expect(len(aff) == 1, f"{s} preferred podAntiAffinity missing"):
        term = aff[0]["podAffinityTerm"]
        c.equal(term.get("topologyKey"), "kubernetes.io/hostname", f"{s} anti-affinity topologyKey")
        c.equal(term.get("labelSelector"), {"matchLabels": selector}, f"{s} anti-affinity labelSelector")
    grace, sleep = ps.get("terminationGracePeriodSeconds"), ((ct.get("lifecycle") or {}).get("preStop") or {})
    sleep = (sleep.get("sleep") or {}).get("seconds", 0)
    c.expect(isinstance(grace, int) and grace > sleep + SERVER_SHUTDOWN_GRACE,
             f"{s} terminationGracePeriodSeconds {grace} must exceed the preStop sleep ({sleep}s) plus the "
             f"server's default --shutdown-grace ({SERVER_SHUTDOWN_GRACE}s)")
    tsc = ps.get("topologySpreadConstraints") or []
    if c.expect(len(tsc) == 1, f"{s} topologySpreadConstraints missing"):
        c.equal(tsc[0].get("topologyKey"), "topology.kubernetes.io/zone", f"{s} topology spread key")
        c.equal(tsc[0].get("labelSelector"), {"matchLabels": selector}, f"{s} topology spread labelSelector")
    return d


def check_common(c, docs, scenario, fullname, namespace, deployment):
    s = scenario
    svc = one(c, docs, "Service", s)
    if svc and deployment:
        selector = deployment["spec"]["selector"]["matchLabels"]
        c.equal(svc["metadata"]["name"], fullname, f"{s}: Service name")
        c.equal(svc["spec"].get("selector"), selector, f"{s}: Service selector")
        ports = {p["name"]: (p["port"], p["targetPort"]) for p in svc["spec"]["ports"]}
        c.equal(ports, {"https": (443, "https"), "metrics": (9090, "metrics")}, f"{s}: Service ports")
        c.expect(len(fullname) <= 63, f"{s}: Service name {fullname!r} longer than 63")
    sa = one(c, docs, "ServiceAccount", s)
    if sa and deployment:
        c.equal(deployment["spec"]["template"]["spec"].get("serviceAccountName"), sa["metadata"]["name"],
                f"{s}: Deployment serviceAccountName")
        c.equal(sa.get("automountServiceAccountToken"), False, f"{s}: ServiceAccount automountServiceAccountToken")
    pdb = one(c, docs, "PodDisruptionBudget", s)
    if pdb and deployment:
        c.equal(pdb["apiVersion"], "policy/v1", f"{s}: PodDisruptionBudget apiVersion")
        c.equal(pdb["spec"].get("minAvailable"), 1, f"{s}: PodDisruptionBudget minAvailable")
        c.equal(pdb["spec"].get("selector"), {"matchLabels": deployment["spec"]["selector"]["matchLabels"]},
                f"{s}: PodDisruptionBudget selector")


def check_cert_manager(c, docs, scenario, fullname, namespace, tls_secret, issuer_ref=None):
    s = scenario
    serving = one(c, docs, "Certificate", s, f"{fullname}-serving")
    if serving is None:
        return
    sp = serving["spec"]
    c.equal(sp.get("secretName"), tls_secret, f"{s}: serving Certificate secretName")
    host = f"{fullname}.{namespace}.svc"
    c.equal(sp.get("dnsNames"), [fullname, f"{fullname}.{namespace}", host, f"{host}.cluster.local"],
            f"{s}: serving Certificate dnsNames")
    c.expect("server auth" in (sp.get("usages") or []), f"{s}: serving Certificate lacks usage 'server auth'")
    c.equal((sp.get("privateKey") or {}).get("encoding"), "PKCS8", f"{s}: serving key encoding")
    if issuer_ref:
        c.equal(sp.get("issuerRef"), issuer_ref, f"{s}: serving Certificate issuerRef")
        c.equal(len(docs.get("Issuer", [])), 0, f"{s}: Issuers with an existing issuerRef")
        c.equal(len(docs.get("Certificate", [])), 1, f"{s}: Certificates with an existing issuerRef")
        return
    c.equal(sp.get("issuerRef"), {"name": f"{fullname}-ca", "kind": "Issuer", "group": "cert-manager.io"},
            f"{s}: serving Certificate issuerRef")
    selfsigned = one(c, docs, "Issuer", s, f"{fullname}-selfsigned")
    if selfsigned:
        c.equal(selfsigned["spec"], {"selfSigned": {}}, f"{s}: self-signed Issuer spec")
    ca = one(c, docs, "Certificate", s, f"{fullname}-ca")
    if ca:
        c.equal(ca["spec"].get("isCA"), True, f"{s}: CA Certificate isCA")
        c.equal(ca["spec"].get("issuerRef"), {"name": f"{fullname}-selfsigned", "kind": "Issuer",
                                              "group": "cert-manager.io"}, f"{s}: CA Certificate issuerRef")
        ca_issuer = one(c, docs, "Issuer", s, f"{fullname}-ca")
        if ca_issuer:
            c.equal(ca_issuer["spec"], {"ca": {"secretName": ca["spec"].get("secretName")}},
                    f"{s}: CA Issuer spec")
    c.equal(len(docs.get("Certificate", [])), 2, f"{s}: number of Certificates")
    c.equal(len(docs.get("Issuer", [])), 2, f"{s}: number of Issuers")


def check_live(c, docs, scenario, deployment, args=(), key_secret=None, google_ca=None, gcp_sa=None):
    """Live mode as rendered: exactly the given live args, and the credentials' env, volumes and
    ServiceAccount annotation (or none of them)."""
    s = f"{scenario}: live"
    if deployment is None:
        return
    ps = deployment["spec"]["template"]["spec"]
    ct = ps["containers"][0]
    live_args = [a for a in ct.get("args") or [] if a.split("=", 1)[0] in LIVE_FLAGS]
    c.equal(live_args, list(args), f"{s} args")
    env = {e["name"]: e for e in ct.get("env") or []}
    mounts = {m["name"]: m for m in ct.get("volumeMounts") or []}
    volumes = {v["name"]: v for v in ps.get("volumes") or []}
    if key_secret:
        c.equal(env.get("GOOGLE_APPLICATION_CREDENTIALS"),
                {"name": "GOOGLE_APPLICATION_CREDENTIALS", "value": f"/google-credentials/{key_secret[1]}"},
                f"{s} GOOGLE_APPLICATION_CREDENTIALS")
        m = mounts.get("google-credentials") or {}
        c.equal((m.get("mountPath"), m.get("readOnly"), m.get("subPath")), ("/google-credentials", True, None),
                f"{s} google-credentials mount (mountPath, readOnly, subPath)")
        c.equal((volumes.get("google-credentials") or {}).get("secret"),
                {"secretName": key_secret[0], "defaultMode": 0o440}, f"{s} google-credentials volume")
    else:
        c.expect("GOOGLE_APPLICATION_CREDENTIALS" not in env, f"{s} sets GOOGLE_APPLICATION_CREDENTIALS")
        c.expect("google-credentials" not in mounts and "google-credentials" not in volumes,
                 f"{s} mounts google-credentials")
    if google_ca:
        m = mounts.get("google-ca") or {}
        c.equal((m.get("mountPath"), m.get("readOnly")), ("/google-ca", True), f"{s} google-ca mount")
        c.equal((volumes.get("google-ca") or {}).get("configMap"), {"name": google_ca}, f"{s} google-ca volume")
    else:
        c.expect("google-ca" not in mounts and "google-ca" not in volumes, f"{s} mounts google-ca")
    sa = one(c, docs, "ServiceAccount", scenario)
    if sa:
        annotation = (sa["metadata"].get("annotations") or {}).get("iam.gke.io/gcp-service-account")
        c.equal(annotation, gcp_sa, f"{s} ServiceAccount iam.gke.io/gcp-service-account")


def expect_refused(c, renderer, values, overrides, scenario, message):
    """Rendering with these overrides must fail, with Helm's error holding `message`."""
    try:
        renderer.render(helm_numbers(deep_merge(values, overrides)), "cmek-gate", "cmek-gate")
        c.fail(f"{scenario}: rendering with {overrides} succeeded; it must fail")
    except TemplateError as e:
        c.expect(message in str(e), f"{scenario}: the error does not say {message!r}: {e}")


def run_live_scenarios(c, renderer, values):
    """live.enabled with a key Secret, with Workload Identity, and the values refused."""
    rel, ns, full = "cmek-gate", "cmek-gate", "cmek-gate"
    # live settings that take no effect while live.enabled is false
    idle = {"live": {"unreachable": "warn", "cacheTTL": "10m", "googleCA": {"configMapName": "google-ca"}}}
    for credentials in ({"credentialsSecret": "gate-key"},
                        {"gcpServiceAccount": "cmek-gate@security-prod.iam.gserviceaccount.com"}):
        docs = render(c, renderer, values, deep_merge(idle, {"live": credentials}), rel, ns, "live-off")
        dep = check_deployment(c, docs, "live-off", full, f"{full}-tls")
        check_live(c, docs, "live-off", dep)

    # a key file from a Secret, every setting given
    over = {"live": {"enabled": True, "unreachable": "warn", "googleTimeout": "1500ms", "cacheTTL": "10m",
                     "notFoundTTL": "30s", "credentialsSecret": "gate-key", "credentialsSecretKey": "sa.json",
                     "endpoints": {"cloudkms": "https://cloudkms.p.googleapis.com"},
                     "googleCA": {"configMapName": "google-ca", "key": "roots.pem"}},
            "server": {"extraEnv": [{"name": "CMEK_GATE_LOG", "value": "debug"}]}}
    docs = render(c, renderer, values, over, rel, ns, "live-key-secret")
    dep = check_deployment(c, docs, "live-key-secret", full, f"{full}-tls")
    check_common(c, docs, "live-key-secret", full, ns, dep)
    check_live(c, docs, "live-key-secret", dep,
               args=["--live", "--live-unreachable=warn", "--google-timeout=1500ms", "--google-cache-ttl=10m",
                     "--google-not-found-ttl=30s", "--google-endpoint=cloudkms=https://cloudkms.p.googleapis.com",
                     "--google-ca=/google-ca/roots.pem"],
               key_secret=("gate-key", "sa.json"), google_ca="google-ca")
    if dep:
        env = dep["spec"]["template"]["spec"]["containers"][0].get("env") or []
        c.equal([e["name"] for e in env], ["GOOGLE_APPLICATION_CREDENTIALS", "CMEK_GATE_LOG"],
                "live-key-secret: env (the key file, then server.extraEnv)")

    # GKE Workload Identity: the chart's defaults for the rest
    gsa = "cmek-gate@security-prod.iam.gserviceaccount.com"
    over = {"live": {"enabled": True, "gcpServiceAccount": gsa},
            "serviceAccount": {"annotations": {"example.com/owner": "security"}}}
    docs = render(c, renderer, values, over, rel, ns, "live-workload-identity")
    dep = check_deployment(c, docs, "live-workload-identity", full, f"{full}-tls")
    check_common(c, docs, "live-workload-identity", full, ns, dep)
    check_live(c, docs, "live-workload-identity", dep,
               args=["--live", "--live-unreachable=deny", "--google-timeout=2s"], gcp_sa=gsa)
    sa = one(c, docs, "ServiceAccount", "live-workload-identity")
    if sa:
        c.equal(sa["metadata"].get("annotations"),
                {"example.com/owner": "security", "iam.gke.io/gcp-service-account": gsa},
                "live-workload-identity: ServiceAccount annotations (serviceAccount.annotations kept)")

    # values the chart refuses (fail closed), live on or off
    for overrides, message in [
        ({"live": {"enabled": True, "unreachable": "ignore"}},
         'live.unreachable must be deny, warn or allow, not "ignore"'),
        ({"live": {"unreachable": "Deny"}}, 'live.unreachable must be deny, warn or allow, not "Deny"'),
        ({"live": {"enabled": True, "unreachable": ""}}, 'live.unreachable must be deny, warn or allow, not ""'),
        ({"live": {"enabled": True, "googleTimeout": "2 seconds"}},
         'live.googleTimeout must be a duration such as 2s, 500ms or 5m, not "2 seconds"'),
        ({"live": {"enabled": True, "cacheTTL": "-1s"}}, 'live.cacheTTL must be a duration'),
        ({"live": {"enabled": True, "endpoints": {"iam": "https://iam.googleapis.com"}}},
         'live.endpoints: unknown API "iam"'),
        ({"live": {"enabled": True, "endpoints": {"cloudkms": "cloudkms.googleapis.com"}}},
         "live.endpoints.cloudkms must be an http:// or https:// URL"),
        ({"live": {"enabled": True, "gcpServiceAccount": gsa, "credentialsSecret": "gate-key"}},
         "live.gcpServiceAccount (Workload Identity) and live.credentialsSecret (a key file) are both set"),
        ({"live": {"enabled": True, "gcpServiceAccount": gsa}, "serviceAccount": {"create": False}},
         "live.gcpServiceAccount needs serviceAccount.create"),
    ]:
        expect_refused(c, renderer, values, overrides, "live-refused", message)


def shipped_policies():
    return {p.name: p.read_bytes() for p in sorted((REPO / "policies").glob("*.yaml"))}


def check_policies_configmap(c, docs, scenario, fullname, expected):
    cm = one(c, docs, "ConfigMap", scenario, f"{fullname}-policies")
    if cm is None:
        return
    data = cm.get("data") or {}
    c.equal(sorted(data), sorted(expected), f"{scenario}: policies ConfigMap keys")
    for name, text in expected.items():
        if name in data:
            c.expect(data[name] == text, f"{scenario}: policies ConfigMap {name} differs from its source")
    size = sum(len(k) + len(v.encode()) for k, v in data.items())
    c.expect(size < 1024 * 1024, f"{scenario}: policies ConfigMap is {size} bytes (limit 1 MiB)")
    for key in data:
        c.expect(re.fullmatch(r"[-._a-zA-Z0-9]+", key), f"{scenario}: ConfigMap key {key!r} is invalid")


def check_files_identical(c):
    c.section = "files/policies"
    source = shipped_policies()
    copies = {p.name: p.read_bytes() for p in sorted((CHART / "files" / "policies").glob("*.yaml"))}
    c.expect(source, "no policies/*.yaml in the repository")
    for name in sorted(set(source) - set(copies)):
        c.fail(f"helm/cmek-gate/files/policies/{name} is missing (copy policies/{name})")
    for name in sorted(set(copies) - set(source)):
        c.fail(f"helm/cmek-gate/files/policies/{name} has no policies/{name} (remove it)")
    for name in sorted(set(source) & set(copies)):
        c.expect(source[name] == copies[name],
                 f"helm/cmek-gate/files/policies/{name} differs from policies/{name}: "
                 "cp policies/*.yaml helm/cmek-gate/files/policies/")
    others = [p.name for p in (CHART / "files" / "policies").iterdir() if not p.name.endswith(".yaml")]
    c.expect(not others, f"files/policies holds non-.yaml files: {others}")


def check_dockerfile(c, values):
    c.section = "Dockerfile"
    path = REPO / "Dockerfile"
    if not c.expect(path.is_file(), "no Dockerfile at the repository root"):
        return
    text = path.read_text(encoding="utf-8")
    exposed = set()
    for m in re.finditer(r"(?m)^EXPOSE\s+(.+)$", text):
        exposed |= {int(p.split("/")[0]) for p in m.group(1).split()}
    ports = {int(values["containerPorts"]["https"]), int(values["containerPorts"]["metrics"])}
    c.equal(exposed, ports, "EXPOSE (must equal values.yaml containerPorts)")
    c.expect(re.search(r'(?m)^ENTRYPOINT\s+\["/cmek-gate"\]', text), 'ENTRYPOINT is not ["/cmek-gate"]')
    c.expect("cargo build --release --locked" in text, "the builder does not run cargo build --release --locked")
    c.expect(re.search(r"(?m)^USER\s+(?!0\b|root\b)\S+", text), "the final stage sets no non-root USER")


PEM = """-----BEGIN CERTIFICATE-----
MIIBfzCCASWgAwIBAgIUTESTONLYtestonlyTESTONLYtestonlyMAoGCCqGSM49BAMC
MBUxEzARBgNVBAMMCmNtZWstZ2F0ZTAeFw0yNjAxMDEwMDAwMDBaFw0zNjAxMDEw
-----END CERTIFICATE-----"""


def run_scenarios(c, renderer, values):
    shipped = {k: v.decode("utf-8") for k, v in shipped_policies().items()}
    rel, ns, full = "cmek-gate", "cmek-gate", "cmek-gate"

    # defaults
    docs = render(c, renderer, values, {}, rel, ns, "defaults")
    check_webhook(c, docs, "defaults", full, ns, inject_from=f"{ns}/{full}-serving")
    dep = check_deployment(c, docs, "defaults", full, f"{full}-tls")
    check_common(c, docs, "defaults", full, ns, dep)
    check_cert_manager(c, docs, "defaults", full, ns, f"{full}-tls")
    check_policies_configmap(c, docs, "defaults", full, shipped)
    expected_kinds = {"Deployment": 1, "Service": 1, "ServiceAccount": 1, "PodDisruptionBudget": 1,
                      "ValidatingWebhookConfiguration": 1, "ConfigMap": 1, "Issuer": 2, "Certificate": 2}
    c.equal({k: len(v) for k, v in docs.items()}, expected_kinds, "defaults: kinds rendered")
    check_live(c, docs, "defaults", dep)

    # no cert-manager: a given caBundle (PEM or base64) and an existing Secret
    b64 = base64.b64encode((PEM + "\n").encode()).decode()
    over = {"certManager": {"enabled": False}, "tls": {"secretName": "my-webhook-tls"},
            "webhook": {"caBundle": PEM + "\n"}, "mutatingWebhook": {"enabled": True}}
    docs = render(c, renderer, values, over, rel, ns, "no-cert-manager")
    check_webhook(c, docs, "no-cert-manager", full, ns, ca_bundle=b64)
    check_webhook(c, docs, "no-cert-manager", full, ns, ca_bundle=b64, kind="MutatingWebhookConfiguration",
                  path="/mutate", reinvocation="IfNeeded")
    dep = check_deployment(c, docs, "no-cert-manager", full, "my-webhook-tls")
    check_common(c, docs, "no-cert-manager", full, ns, dep)
    c.expect("Certificate" not in docs and "Issuer" not in docs, "no-cert-manager: cert-manager objects rendered")
    over["webhook"]["caBundle"] = b64
    docs = render(c, renderer, values, over, rel, ns, "no-cert-manager-base64")
    check_webhook(c, docs, "no-cert-manager (base64 caBundle)", full, ns, ca_bundle=b64)

    # no cert-manager and no caBundle: must fail, saying what is missing
    try:
        renderer.render(helm_numbers(deep_merge(values, {"certManager": {"enabled": False}})), rel, ns)
        c.fail("missing-ca: rendering without cert-manager and without webhook.caBundle succeeded; "
               "it must fail")
    except TemplateError as e:
        c.expect("webhook.caBundle is required" in str(e), f"missing-ca: unexpected error: {e}")

    # an existing issuer
    ref = {"name": "internal-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"}
    docs = render(c, renderer, values, {"certManager": {"issuerRef": ref}}, rel, ns, "issuer-ref")
    check_cert_manager(c, docs, "issuer-ref", full, ns, f"{full}-tls", issuer_ref=ref)
    check_webhook(c, docs, "issuer-ref", full, ns, inject_from=f"{ns}/{full}-serving")

    # every option on
    extra = "# mine\napiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicy\n" \
            "metadata:\n  name: mine\nspec:\n  validations:\n    - expression: \"true\"\n"
    replaced = "# replaced\n"
    over = {
        "serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}},
        "grafanaDashboard": {"enabled": True, "annotations": {"grafana_folder": "CMEK"}},
        "autoscaling": {"enabled": True},
        "params": {"allowedKeyProjects": ["kms-prod", "123456789"]},
        "extraPolicies": {"zz-mine.yaml": extra, "owner-label.yaml": replaced},
        "policies": {"exclude": ["cmek-over-applied.yaml"]},
        "clientCA": {"enabled": True, "configMapName": "apiserver-client-ca"},
        "webhook": {"failurePolicy": "Ignore", "timeoutSeconds": 5, "annotations": {"team": "security"}},
        "mutatingWebhook": {"enabled": True, "reinvocationPolicy": "Never", "timeoutSeconds": 7,
                            "annotations": {"team": "platform"}},
        "server": {"maxBodyBytes": 3145728, "maxConnections": 512, "allowPolicyShrink": True,
                   "maxConcurrentEvaluations": 3, "extraArgs": ["--log-format=text"],
                   "extraEnv": [{"name": "RUST_BACKTRACE", "value": "1"}]},
        "podAnnotations": {"example.com/a": "b"},
    }
    docs = render(c, renderer, values, over, rel, ns, "everything")
    check_webhook(c, docs, "everything", full, ns, failure_policy="Ignore", timeout=5,
                  inject_from=f"{ns}/{full}-serving")
    vwc = one(c, docs, "ValidatingWebhookConfiguration", "everything")
    if vwc:
        c.equal(vwc["metadata"]["annotations"].get("team"), "security", "everything: webhook annotations")
    check_webhook(c, docs, "everything", full, ns, timeout=7, inject_from=f"{ns}/{full}-serving",
                  kind="MutatingWebhookConfiguration", path="/mutate", reinvocation="Never")
    mwc = one(c, docs, "MutatingWebhookConfiguration", "everything")
    if mwc:
        c.equal(mwc["metadata"]["annotations"].get("team"), "platform", "everything: mutating webhook annotations")
    dep = check_deployment(c, docs, "everything", full, f"{full}-tls", replicas=None, client_ca=True, params=True)
    if dep:
        ct = dep["spec"]["template"]["spec"]["containers"][0]
        for want in ("--max-body-bytes=3145728", "--max-connections=512", "--client-ca=/client-ca/ca.crt",
                     "--allow-policy-shrink", "--max-concurrent-evaluations=3"):
            c.expect(want in ct["args"], f"everything: Deployment args lack {want} (got {ct['args']})")
        c.equal(ct.get("env"), [{"name": "RUST_BACKTRACE", "value": "1"}], "everything: env")
        vols = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
        c.equal(vols.get("client-ca", {}).get("configMap", {}).get("name"), "apiserver-client-ca",
                "everything: client-ca volume")
        c.equal(vols.get("params", {}).get("configMap", {}).get("name"), f"{full}-params",
                "everything: params volume")
        c.equal(dep["spec"]["template"]["metadata"].get("annotations"), {"example.com/a": "b"},
                "everything: pod annotations")
    hpa = one(c, docs, "HorizontalPodAutoscaler", "everything")
    if hpa:
        c.equal(hpa["spec"]["scaleTargetRef"], {"apiVersion": "apps/v1", "kind": "Deployment", "name": full},
                "everything: HPA target")
        c.equal((hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]), (2, 5), "everything: HPA bounds")
    sm = one(c, docs, "ServiceMonitor", "everything")
    if sm:
        c.equal(sm["spec"]["endpoints"][0].get("port"), "metrics", "everything: ServiceMonitor port")
        c.equal(sm["spec"]["endpoints"][0].get("path"), "/metrics", "everything: ServiceMonitor path")
        c.equal(sm["metadata"]["labels"].get("release"), "prometheus", "everything: ServiceMonitor labels")
    dashboard_cm = one(c, docs, "ConfigMap", "everything", f"{full}-dashboard")
    if dashboard_cm:
        c.equal(dashboard_cm["metadata"]["labels"].get("grafana_dashboard"), "1",
                "everything: dashboard ConfigMap sidecar label")
        c.equal(dashboard_cm["metadata"].get("annotations"), {"grafana_folder": "CMEK"},
                "everything: dashboard ConfigMap annotations")
        shipped_dashboard = json.loads((CHART / "dashboards" / "cmek-gate.json").read_text(encoding="utf-8"))
        c.equal(json.loads(dashboard_cm["data"]["cmek-gate.json"]), shipped_dashboard,
                "everything: dashboard ConfigMap holds dashboards/cmek-gate.json")
    params_cm = one(c, docs, "ConfigMap", "everything", f"{full}-params")
    if params_cm:
        p = yaml.safe_load(params_cm["data"]["params.yaml"])
        c.equal(p, {"apiVersion": "cmek-gate.dev/v1alpha1", "kind": "CmekGateParams",
                    "metadata": {"name": "default"},
                    "spec": {"allowedKeyProjects": ["kms-prod", "123456789"]}}, "everything: params object")
    expected = {k: v for k, v in shipped.items() if k != "cmek-over-applied.yaml"}
    expected.update({"zz-mine.yaml": extra, "owner-label.yaml": replaced})
    check_policies_configmap(c, docs, "everything", full, expected)

    # another release name and namespace
    docs = render(c, renderer, values, {}, "gate", "security", "other-release")
    full2 = "gate-cmek-gate"
    check_webhook(c, docs, "other-release", full2, "security", inject_from=f"security/{full2}-serving")
    dep = check_deployment(c, docs, "other-release", full2, f"{full2}-tls")
    check_common(c, docs, "other-release", full2, "security", dep)
    check_cert_manager(c, docs, "other-release", full2, "security", f"{full2}-tls")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="also write each rendered scenario to DIR/<scenario>.yaml")
    parser.add_argument("--helm", help="the helm binary (default: $CMEK_GATE_HELM or target/kube-bin/helm)")
    args = parser.parse_args()
    c = Checker(args.out)

    check_chart_yaml(c)
    c.section = "values.yaml"
    values_text = (CHART / "values.yaml").read_text(encoding="utf-8")
    try:
        values = yaml.safe_load(values_text)
    except yaml.YAMLError as e:
        c.fail(f"values.yaml does not parse: {e}")
        values = None
    if not isinstance(values, dict):
        c.fail("values.yaml is not a mapping")
        return report(c)
    check_values_documented(c, values_text, values)

    templates = sorted(p for p in (CHART / "templates").iterdir() if p.is_file())
    check_files_identical(c)
    check_dockerfile(c, values)
    if c.failures:  # rendering would only repeat the structural failures
        return report(c)

    c.section = ""  # the render checks name their scenario
    try:
        renderer = Renderer(CHART, args.helm)
    except TemplateError as e:
        c.fail(f"templates do not parse: {e}")
        return report(c)
    for path in templates:
        check_values_references(c, path, values, renderer.defines)
    c.section = ""
    try:
        run_scenarios(c, renderer, values)
        run_live_scenarios(c, renderer, values)
    except TemplateError as e:
        c.fail(f"rendering failed: {e}")
    return report(c)


def report(c):
    if c.failures:
        print(f"check_chart: {len(c.failures)} failure(s):", file=sys.stderr)
        for f in c.failures:
            print(f"  - {f}", file=sys.stderr)
        return 1
    print("check_chart: OK (Chart.yaml, values.yaml documentation, .Values references, "
          "10 scenarios rendered by helm template (4 of live mode), files/policies identical to policies/, Dockerfile)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
