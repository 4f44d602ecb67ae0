#!/usr/bin/env python3
"""Regenerates compile.jsonl and typecheck.jsonl: what a real kube-apiserver says of the
expressions of expressions.json, for cel-k8s' checker tests (check/tests/kubernetes.rs).

- "dyn": each expression is a validation of a ValidatingAdmissionPolicy created with a server
  dry run: the API server compiles it with object, oldObject and params typed dyn and refuses
  what does not compile, or does not evaluate to bool.
- "mutation": each expression (an ApplyConfiguration's, or a JSONPatch's when it starts with
  `[`) is a mutation of a MutatingAdmissionPolicy created with a server dry run.
- "typed": each expression is a validation of a policy matching Knative's Service CRD
  (integration/fixtures/kube/crds), type-checked by Kubernetes' own TypeChecker (what the status
  controller writes to status.typeChecking) against the API server's published schema.

Needs Go (it builds the rig, integration/kube, and cmd/vap-check) and kubectl. Run from
anywhere: python3 crates/cel-k8s/testdata/kubernetes/regenerate.py
"""
import json
import os
import pathlib
import subprocess
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[3]
MODULE = REPO / "integration" / "kube"


def policy(name, expressions, group, version, resource):
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [{
                "apiGroups": [group], "apiVersions": [version],
                "operations": ["CREATE"], "resources": [resource]}]},
            "validations": [{"expression": e} for e in expressions],
        },
    }


def mutating_policy(name, expressions):
    mutations = []
    for e in expressions:
        if e.startswith("["):
            mutations.append({"patchType": "JSONPatch", "jsonPatch": {"expression": e}})
        else:
            mutations.append({"patchType": "ApplyConfiguration",
                              "applyConfiguration": {"expression": e}})
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {
            "failurePolicy": "Fail",
            "reinvocationPolicy": "Never",
            "matchConstraints": {"resourceRules": [{
                "apiGroups": [""], "apiVersions": ["v1"],
                "operations": ["CREATE"], "resources": ["configmaps"]}]},
            "mutations": mutations,
        },
    }


def field_index(field):
    # spec.validations[12].expression, spec.mutations[3].jsonPatch.expression
    return int(field.split("[", 1)[1].split("]", 1)[0])


def ask(tool, kubeconfig, mode, doc, work):
    path = work / f"{mode}.json"
    path.write_text(json.dumps(doc))
    run = subprocess.run([tool, str(kubeconfig), mode, str(path)],
                         capture_output=True, text=True, check=True)
    found = {}
    for line in run.stdout.splitlines():
        entry = json.loads(line)
        found.setdefault(field_index(entry["field"]), []).append(entry["message"])
    return found


def main():
    subprocess.run(["bash", str(MODULE / "build-rig.sh")], check=True)
    work = pathlib.Path(tempfile.mkdtemp(prefix="cel-k8s-kubernetes-"))
    tool = work / "vap-check"
    subprocess.run(["go", "build", "-o", str(tool), "./cmd/vap-check"], cwd=MODULE, check=True)
    kubeconfig = work / "kubeconfig"
    rig = subprocess.Popen(
        [str(REPO / "target" / "kube-bin" / "kube-rig"), "--kubeconfig", str(kubeconfig),
         "--audit-log", str(work / "audit.log")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=open(work / "rig.log", "w"),
        text=True)
    try:
        ready = json.loads(rig.stdout.readline())
        assert ready["ready"], ready
        env = dict(os.environ, KUBECONFIG=str(kubeconfig))
        kubectl = lambda *args: subprocess.run(["kubectl", *args], env=env, check=True,
                                               capture_output=True, text=True).stdout
        kubectl("apply", "--server-side", "-f", str(REPO / "integration/fixtures/kube/crds"))
        for attempt in range(30):
            wait = subprocess.run(["kubectl", "wait", "--for=condition=Established",
                                   "--timeout=60s", "crd/services.serving.knative.dev"],
                                  env=env, capture_output=True, text=True)
            if wait.returncode == 0:
                break
            time.sleep(2)
        else:
            raise SystemExit(f"the CRDs were not established: {wait.stderr}")
        version = json.loads(kubectl("version", "-o", "json"))["serverVersion"]["gitVersion"]
        expressions = json.loads((HERE / "expressions.json").read_text())
        outputs = [
            ("compile.jsonl", "create", expressions["dyn"],
             policy("cel-k8s-compile", expressions["dyn"], "", "v1", "configmaps")),
            ("mutation.jsonl", "create", expressions["mutation"],
             mutating_policy("cel-k8s-mutation", expressions["mutation"])),
            ("typecheck.jsonl", "typecheck", expressions["typed"],
             policy("cel-k8s-typecheck", expressions["typed"], "serving.knative.dev", "v1",
                    "services")),
        ]
        for file_name, mode, exprs, doc in outputs:
            found = ask(tool, kubeconfig, mode, doc, work)
            # The CRD's schema is published a little after it is established: until then the
            # type checker finds no schema and checks nothing (typed has known mistakes).
            for _ in range(60):
                if found or mode != "typecheck":
                    break
                time.sleep(2)
                found = ask(tool, kubeconfig, mode, doc, work)
            lines = [json.dumps({"kubernetes": version})]
            for i, e in enumerate(exprs):
                lines.append(json.dumps({"expression": e, "messages": found.get(i, [])},
                                        ensure_ascii=False))
            (HERE / file_name).write_text("\n".join(lines) + "\n")
            print(f"{file_name}: {len(exprs)} expressions, {len(found)} refused ({version})")
    finally:
        rig.stdin.close()
        rig.wait(timeout=60)


if __name__ == "__main__":
    main()
