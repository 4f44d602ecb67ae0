#!/usr/bin/env python3
"""Checks the cmek-gate Helm chart (helm/cmek-gate/) without a helm binary. CI runs it:

    python3 helm/check_chart.py [--out DIR]

Python 3 (tested with 3.11) with PyYAML; nothing else. Exit code 0 when every check passes, 1 with a message per
failure otherwise. --out DIR also writes each rendered scenario to DIR/<scenario>.yaml.

What it checks
  1. Chart.yaml and values.yaml parse; Chart.yaml has apiVersion v2, a name and a version, and its
     appVersion equals the package version in Cargo.toml.
  2. values.yaml is documented: every key (at any depth) has a comment line directly above it, at
     the key's indentation, and every key is written in block style (so it can carry one).
  3. Every template is balanced: each `{{` has its `}}`, no stray `}}`, and every if / range /
     with / define has its `end` (`else` only inside if / range / with).
  4. Every `.Values.x.y` a template reads exists in values.yaml (a typo would render as empty), and
     every `include` / `template` names a defined template.
  5. The templates render (see the renderer below) in six scenarios, every rendered document parses
     as YAML and is an object with apiVersion, kind and metadata.name (namespaced kinds also carry
     metadata.namespace, the release's):
       defaults          the chart as shipped;
       no-cert-manager   certManager.enabled=false, a caBundle given as PEM (and, compared, the same
                         as base64) and an existing Secret;
       missing-ca        certManager.enabled=false without a caBundle: rendering must fail, saying so;
       issuer-ref        cert-manager with an existing ClusterIssuer;
       everything        ServiceMonitor, HPA, params, extraPolicies, policies.exclude, client CA,
                         failurePolicy Ignore, timeoutSeconds 5, extra args and env;
       other-release     release "gate" in namespace "security" (names follow the release).
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

The renderer, and its limits
  A small interpreter of Go text/template as Helm uses it, enough for this chart and no more:
  actions with `{{-`/`-}}` trimming and comments; pipelines with `|`; fields (`.a.b`, `$.a`,
  `$v.a`); variables (`:=`, `=`); string, raw-string, number and boolean literals; parentheses;
  if / else if / else, range (lists and maps, sorted keys, one or two variables, else), with,
  define, template, include. Functions: include, toYaml, nindent, indent, quote, default, printf
  (%s %d %v %q), trunc, trimSuffix, trim, hasPrefix, replace, contains, base, has, hasKey, b64enc,
  int, eq, ne, not, and, or, fail, required. Objects: .Values (values.yaml plus overrides, deep
  merged; numbers become floats as in Helm, so a number printed as-is formats like Go's %v: a
  large one comes out as 1e+06, which is why the templates print such values through `int`),
  .Release, .Chart, .Files.Get, .Files.Glob (.helmignore is not applied).
  toYaml goes through PyYAML, not Go's yaml: keys sorted and lists unindented as in Helm, but the
  quoting style can differ ('1' where Helm writes "1"); the parsed values are the same.
  Not implemented, so not usable in the templates: every other Sprig/Helm function (tpl, lookup,
  sha256sum, toJson, dict, list, ...), .Capabilities, .Template, `block`, `break`/`continue`,
  `else with`, method calls other than .Files.Get/.Files.Glob, chart dependencies, values schema
  validation, and Helm's post-render manifest sorting. It is stricter than Helm in three places: a
  map or list printed directly is an error (Helm prints Go syntax), so is a comment-only document,
  and so is a `}}` in template text outside an action (legal, but here a sign of imbalance). Passing here is evidence, not proof, that `helm template` would give the same output:
  `helm lint` and `helm template` have not been run against this chart on this machine.
"""

import argparse
import ast
import base64
import copy
import decimal
import posixpath
import re
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
CHART = REPO / "helm" / "cmek-gate"


class TemplateError(Exception):
    """A template that does not parse or render."""


# --------------------------------------------------------------------------------------------
# Lexing: text and actions
# --------------------------------------------------------------------------------------------

WS = " \t\r\n"


def lex(src, name):
    """Splits a template into ('text', str) and ('action', content, line) items, applying trim
    markers and dropping comments."""
    items = []
    pos = 0
    trim_next = False
    while True:
        start = src.find("{{", pos)
        text = src[pos:] if start < 0 else src[pos:start]
        if trim_next:
            text = text.lstrip(WS)
        if "}}" in text:
            line = src.count("\n", 0, pos + text.index("}}")) + 1
            raise TemplateError(f"{name}:{line}: unbalanced '}}}}' outside an action")
        if start < 0:
            items.append(("text", text))
            return items
        line = src.count("\n", 0, start) + 1
        j = start + 2
        if src.startswith("-", j) and j + 1 < len(src) and src[j + 1] in WS:
            text = text.rstrip(WS)
            j += 2
        items.append(("text", text))
        k = j
        while True:
            if k >= len(src):
                raise TemplateError(f"{name}:{line}: '{{{{' without its '}}}}'")
            c = src[k]
            if src.startswith("}}", k):
                break
            if src.startswith("{{", k):
                raise TemplateError(f"{name}:{line}: '{{{{' without its '}}}}' (another '{{{{' follows)")
            if c in "\"'":
                k += 1
                while k < len(src) and src[k] != c:
                    k += 2 if src[k] == "\\" else 1
                if k >= len(src):
                    raise TemplateError(f"{name}:{line}: unterminated string in action")
            elif c == "`":
                end = src.find("`", k + 1)
                if end < 0:
                    raise TemplateError(f"{name}:{line}: unterminated raw string in action")
                k = end
            elif src.startswith("/*", k):
                end = src.find("*/", k + 2)
                if end < 0:
                    raise TemplateError(f"{name}:{line}: unterminated comment")
                k = end + 1
            k += 1
        content = src[j:k]
        trim_next = False
        if content.endswith("-") and len(content) >= 2 and content[-2] in WS:
            content = content[:-2]
            trim_next = True
        pos = k + 2
        stripped = content.strip(WS)
        if stripped.startswith("/*"):
            if not stripped.endswith("*/"):
                raise TemplateError(f"{name}:{line}: a comment must end right before '}}}}'")
            continue
        items.append(("action", content, line))


TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<str>"(?:[^"\\\n]|\\.)*")
  | (?P<raw>`[^`]*`)
  | (?P<decl>:=)
  | (?P<assign>=)
  | (?P<lp>\()
  | (?P<rp>\))
  | (?P<pipe>\|)
  | (?P<comma>,)
  | (?P<num>-?\d+(?:\.\d+)?)
  | (?P<var>\$[A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<field>(?:\.[A-Za-z_][A-Za-z0-9_]*)+|\.)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    """,
    re.X,
)

KEYWORDS = {"if", "else", "end", "range", "with", "define", "template", "block", "break", "continue"}


def tokenize(content, where):
    toks = []
    pos = 0
    while pos < len(content):
        m = TOKEN_RE.match(content, pos)
        if not m:
            raise TemplateError(f"{where}: cannot read action at {content[pos:pos + 20]!r}")
        kind = m.lastgroup
        if kind != "ws":
            toks.append((kind, m.group(), m.start()))
        pos = m.end()
    return toks


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------


class Parser:
    """Builds a tree of nodes from lexed items. Nodes are tuples:
    ('text', s) ('action', pipe) ('if', pipe, body, else) ('range', pipe, body, else)
    ('with', pipe, body, else) ('template', name, pipe|None).
    A pipe is (decl_vars, is_assign, [command]); a command is [operand]; an operand is
    ('field', names) ('var', name, names) ('str', s) ('num', n) ('bool', b) ('nil',)
    ('ident', name) ('paren', pipe, names)."""

    def __init__(self, items, name, defines):
        self.items = items
        self.name = name
        self.defines = defines
        self.pos = 0

    def parse(self):
        nodes, term, _, line = self.parse_list(set())
        if term:
            raise TemplateError(f"{self.name}:{line}: unexpected {{{{{term}}}}}")
        return nodes

    def parse_list(self, terminators):
        nodes = []
        while self.pos < len(self.items):
            item = self.items[self.pos]
            self.pos += 1
            if item[0] == "text":
                if item[1]:
                    nodes.append(("text", item[1]))
                continue
            _, content, line = item
            where = f"{self.name}:{line}"
            toks = tokenize(content, where)
            if not toks:
                raise TemplateError(f"{where}: empty action")
            kw = toks[0][1] if toks[0][0] == "ident" and toks[0][1] in KEYWORDS else None
            if kw in ("end", "else"):
                if kw not in terminators:
                    raise TemplateError(f"{where}: unexpected {{{{{kw}}}}}")
                if kw == "end" and len(toks) > 1:
                    raise TemplateError(f"{where}: unexpected words after end")
                return nodes, kw, toks, line
            if kw == "if":
                nodes.append(self.parse_if(toks[1:], where))
            elif kw in ("range", "with"):
                pipe = self.parse_pipe(toks[1:], where, allow_decl=True)
                body, term, ttoks, tline = self.parse_list({"end", "else"})
                if term is None:
                    raise TemplateError(f"{where}: {{{{{kw}}}}} without its end")
                other = []
                if term == "else":
                    if len(ttoks) > 1:
                        raise TemplateError(f"{self.name}:{tline}: 'else {ttoks[1][1]}' is not supported")
                    other, term2, _, _ = self.parse_list({"end"})
                    if term2 is None:
                        raise TemplateError(f"{where}: {{{{{kw}}}}} without its end")
                nodes.append((kw, pipe, body, other))
            elif kw == "define":
                if len(toks) != 2 or toks[1][0] not in ("str", "raw"):
                    raise TemplateError(f"{where}: define needs one quoted name")
                body, term, _, _ = self.parse_list({"end"})
                if term is None:
                    raise TemplateError(f"{where}: define without its end")
                self.defines[literal(toks[1])] = (body, self.name)
            elif kw == "template":
                if len(toks) < 2 or toks[1][0] not in ("str", "raw"):
                    raise TemplateError(f"{where}: template needs a quoted name")
                pipe = self.parse_pipe(toks[2:], where) if len(toks) > 2 else None
                nodes.append(("template", literal(toks[1]), pipe, where))
            elif kw is not None:
                raise TemplateError(f"{where}: {{{{{kw}}}}} is not supported by this renderer")
            else:
                nodes.append(("action", self.parse_pipe(toks, where, allow_decl=True), where))
        return nodes, None, None, None

    def parse_if(self, toks, where):
        cond = self.parse_pipe(toks, where, allow_decl=True)
        body, term, ttoks, tline = self.parse_list({"end", "else"})
        if term is None:
            raise TemplateError(f"{where}: {{{{if}}}} without its end")
        if term == "end":
            return ("if", cond, body, [], where)
        if len(ttoks) > 1:
            if ttoks[1] != ("ident", "if", ttoks[1][2]):
                raise TemplateError(f"{self.name}:{tline}: 'else {ttoks[1][1]}' is not supported")
            return ("if", cond, body, [self.parse_if(ttoks[2:], f"{self.name}:{tline}")], where)
        other, term2, _, _ = self.parse_list({"end"})
        if term2 is None:
            raise TemplateError(f"{where}: {{{{if}}}} without its end")
        return ("if", cond, body, other, where)

    def parse_pipe(self, toks, where, allow_decl=False):
        decl, assign = [], False
        # $a := ..., $a, $b := ..., $a = ...
        i = 0
        names = []
        while i < len(toks) and toks[i][0] == "var" and "." not in toks[i][1][1:]:
            names.append(toks[i][1])
            if i + 1 < len(toks) and toks[i + 1][0] == "comma":
                i += 2
                continue
            if i + 1 < len(toks) and toks[i + 1][0] in ("decl", "assign"):
                if not allow_decl:
                    raise TemplateError(f"{where}: a variable declaration is not allowed here")
                decl, assign = names, toks[i + 1][0] == "assign"
                toks = toks[i + 2:]
            break
        if not toks:
            raise TemplateError(f"{where}: missing value in pipeline")
        commands, current, depth = [], [], 0
        for tok in toks:
            if tok[0] == "lp":
                depth += 1
            elif tok[0] == "rp":
                depth -= 1
                if depth < 0:
                    raise TemplateError(f"{where}: unbalanced ')'")
            if tok[0] == "pipe" and depth == 0:
                commands.append(current)
                current = []
            else:
                current.append(tok)
        if depth:
            raise TemplateError(f"{where}: unbalanced '('")
        commands.append(current)
        parsed = []
        for cmd in commands:
            if not cmd:
                raise TemplateError(f"{where}: empty command in pipeline")
            parsed.append(self.parse_operands(cmd, where))
        return (decl, assign, parsed)

    def parse_operands(self, toks, where):
        ops = []
        i = 0
        while i < len(toks):
            kind, text, at = toks[i]
            if kind == "lp":
                depth, j = 1, i + 1
                while depth:
                    if toks[j][0] == "lp":
                        depth += 1
                    elif toks[j][0] == "rp":
                        depth -= 1
                    j += 1
                inner = self.parse_pipe(toks[i + 1:j - 1], where)
                names = []
                if j < len(toks) and toks[j][0] == "field" and toks[j][2] == toks[j - 1][2] + 1:
                    names = toks[j][1].split(".")[1:]
                    j += 1
                ops.append(("paren", inner, names))
                i = j
                continue
            if kind in ("str", "raw"):
                ops.append(("str", literal(toks[i])))
            elif kind == "num":
                ops.append(("num", float(text) if "." in text else int(text)))
            elif kind == "field":
                ops.append(("field", [] if text == "." else text.split(".")[1:]))
            elif kind == "var":
                parts = text.split(".")
                ops.append(("var", parts[0], parts[1:]))
            elif kind == "ident":
                if text in ("true", "false"):
                    ops.append(("bool", text == "true"))
                elif text == "nil":
                    ops.append(("nil",))
                else:
                    ops.append(("ident", text))
            else:
                raise TemplateError(f"{where}: unexpected {text!r}")
            i += 1
        return ops


def literal(tok):
    kind, text, _ = tok
    if kind == "raw":
        return text[1:-1]
    return ast.literal_eval(text)


# --------------------------------------------------------------------------------------------
# Values as Helm sees them, and their printing
# --------------------------------------------------------------------------------------------


def helm_numbers(value):
    """Helm reads values through JSON: every number becomes a float64."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return float(value)
    if isinstance(value, dict):
        return {k: helm_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [helm_numbers(v) for v in value]
    return value


def go_float(f):
    """A float64 as Go's %v prints it (strconv 'g', shortest): 2 -> "2", 1e6 -> "1e+06"."""
    if f == 0:
        return "0"
    sign = "-" if f < 0 else ""
    d = decimal.Decimal(repr(abs(f))).normalize()
    digits = "".join(str(x) for x in d.as_tuple().digits)
    exp = d.adjusted()
    if exp < -4 or exp >= 6:  # strconv 'g' with the shortest precision switches to %e at 1e+06
        mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mant}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if exp >= 0:
        whole = digits[: exp + 1].ljust(exp + 1, "0")
        frac = digits[exp + 1:]
        return sign + whole + ("." + frac if frac else "")
    return sign + "0." + "0" * (-exp - 1) + digits


def go_str(v, where):
    """How an action prints a value."""
    if v is None:
        return ""  # Helm replaces "<no value>" with ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return go_float(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return v
    raise TemplateError(f"{where}: printing a {type(v).__name__} directly (use toYaml)")


def go_quote(s):
    """Go's %q of a string."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def to_yaml(v):
    """Helm's toYaml: sigs.k8s.io/yaml (sorted keys, numbers via JSON), trailing newline trimmed."""

    def plain(x):
        if isinstance(x, float) and x == int(x) and abs(x) < 1e15:
            return int(x)
        if isinstance(x, dict):
            return {str(k): plain(val) for k, val in x.items()}
        if isinstance(x, list):
            return [plain(val) for val in x]
        return x

    text = yaml.safe_dump(plain(v), default_flow_style=False, sort_keys=True, width=1 << 20,
                          allow_unicode=True)
    if text.endswith("\n...\n"):
        text = text[: -len("\n...\n")]
    return text.rstrip("\n")


def truth(v):
    if v is None:
        return False
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return v != 0
    if isinstance(v, (str, list, dict, tuple, bytes)):
        return len(v) > 0
    return True


def empty(v):
    return not truth(v)


# --------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------


class Files:
    """.Files: the chart's files, as Helm exposes them (Get -> text, Glob -> {path: bytes})."""

    def __init__(self, root):
        self.root = root
        self.paths = sorted(
            p.relative_to(root).as_posix()
            for p in root.rglob("*")
            if p.is_file() and not p.relative_to(root).as_posix().startswith("templates/")
        )

    def Get(self, path):
        p = self.root / path
        return p.read_text(encoding="utf-8") if p.is_file() else ""

    def Glob(self, pattern):
        regex = ""
        i = 0
        while i < len(pattern):
            if pattern.startswith("**", i):
                regex += ".*"
                i += 2
                continue
            c = pattern[i]
            regex += "[^/]*" if c == "*" else "[^/]" if c == "?" else re.escape(c)
            i += 1
        rx = re.compile(regex + r"\Z")
        return {p: (self.root / p).read_bytes() for p in self.paths if rx.match(p)}


class Renderer:
    def __init__(self, chart_dir):
        self.chart_dir = chart_dir
        self.defines = {}
        self.templates = {}
        for path in sorted((chart_dir / "templates").iterdir()):
            if path.is_file():
                name = f"templates/{path.name}"
                items = lex(path.read_text(encoding="utf-8"), name)
                self.templates[name] = Parser(items, name, self.defines).parse()

    # -- entry point
    def render(self, values, release_name, namespace):
        chart = yaml.safe_load((self.chart_dir / "Chart.yaml").read_text(encoding="utf-8"))
        root = {
            "Values": values,
            "Release": {"Name": release_name, "Namespace": namespace, "Service": "Helm",
                        "IsInstall": True, "IsUpgrade": False, "Revision": 1},
            "Chart": {k[0].upper() + k[1:]: v for k, v in chart.items()},
            "Files": Files(self.chart_dir),
        }
        out = {}
        for name, nodes in self.templates.items():
            if Path(name).name.startswith("_"):
                continue
            out[name] = self.exec_nodes(nodes, root, [{"$": root}], root)
        return out

    # -- statements
    def exec_nodes(self, nodes, dot, scopes, root):
        parts = []
        for node in nodes:
            kind = node[0]
            if kind == "text":
                parts.append(node[1])
            elif kind == "action":
                _, pipe, where = node
                value = self.eval_pipe(pipe, dot, scopes, root, where)
                if not pipe[0]:
                    parts.append(go_str(value, where))
            elif kind == "if":
                _, cond, body, other, where = node
                chosen = body if truth(self.eval_pipe(cond, dot, scopes, root, where)) else other
                parts.append(self.exec_nodes(chosen, dot, scopes + [{}], root))
            elif kind == "with":
                _, pipe, body, other = node
                where = "with"
                value = self.eval_pipe(pipe, dot, scopes + [{}], root, where)
                if truth(value):
                    parts.append(self.exec_nodes(body, value, scopes + [{}], root))
                else:
                    parts.append(self.exec_nodes(other, dot, scopes + [{}], root))
            elif kind == "range":
                _, pipe, body, other = node
                decl, assign, cmds = pipe
                value = self.eval_pipe(([], False, cmds), dot, scopes, root, "range")
                if value is None:
                    pairs = []
                elif isinstance(value, dict):
                    pairs = [(k, value[k]) for k in sorted(value)]
                elif isinstance(value, (list, tuple)):
                    pairs = list(enumerate(value))
                else:
                    raise TemplateError(f"range over a {type(value).__name__}")
                if not pairs:
                    parts.append(self.exec_nodes(other, dot, scopes + [{}], root))
                for key, item in pairs:
                    frame = {}
                    if len(decl) == 1:
                        frame[decl[0]] = item
                    elif len(decl) == 2:
                        frame[decl[0]], frame[decl[1]] = key, item
                    parts.append(self.exec_nodes(body, item, scopes + [frame], root))
            elif kind == "template":
                _, name, pipe, where = node
                data = self.eval_pipe(pipe, dot, scopes, root, where) if pipe else None
                parts.append(self.include(name, data, where))
            else:
                raise TemplateError(f"unknown node {kind}")
        return "".join(parts)

    def include(self, name, data, where):
        if name not in self.defines:
            raise TemplateError(f"{where}: no template named {name!r}")
        body, _ = self.defines[name]
        return self.exec_nodes(body, data, [{"$": data}], data)

    # -- expressions
    def eval_pipe(self, pipe, dot, scopes, root, where):
        decl, assign, cmds = pipe
        value = None
        for i, cmd in enumerate(cmds):
            value = self.eval_command(cmd, dot, scopes, root, where, piped=i > 0, last=value)
        for name in decl:
            if assign:
                for frame in reversed(scopes):
                    if name in frame:
                        frame[name] = value
                        break
                else:
                    raise TemplateError(f"{where}: undefined variable {name}")
            else:
                scopes[-1][name] = value
        return value

    def eval_command(self, cmd, dot, scopes, root, where, piped, last):
        head = cmd[0]
        if head[0] == "ident":
            name = head[1]
            if name in ("and", "or"):
                args = cmd[1:]
                thunks = [lambda a=a: self.eval_operand(a, dot, scopes, root, where) for a in args]
                if piped:
                    thunks.append(lambda: last)
                result = None
                for thunk in thunks:
                    result = thunk()
                    if (name == "and") != truth(result):
                        return result
                return result
            args = [self.eval_operand(a, dot, scopes, root, where) for a in cmd[1:]]
            if piped:
                args.append(last)
            return self.call(name, args, where)
        value = self.eval_operand(head, dot, scopes, root, where)
        if callable(value):
            args = [self.eval_operand(a, dot, scopes, root, where) for a in cmd[1:]]
            if piped:
                args.append(last)
            return value(*args)
        if len(cmd) > 1 or piped:
            raise TemplateError(f"{where}: can't give arguments to a non-function")
        return value

    def eval_operand(self, op, dot, scopes, root, where):
        kind = op[0]
        if kind in ("str", "num", "bool"):
            return op[1]
        if kind == "nil":
            return None
        if kind == "ident":
            return self.call(op[1], [], where)
        if kind == "field":
            return self.walk(dot, op[1], where, ".")
        if kind == "var":
            for frame in reversed(scopes):
                if op[1] in frame:
                    return self.walk(frame[op[1]], op[2], where, op[1])
            raise TemplateError(f"{where}: undefined variable {op[1]}")
        if kind == "paren":
            return self.walk(self.eval_pipe(op[1], dot, scopes, root, where), op[2], where, "(...)")
        raise TemplateError(f"{where}: unknown operand {kind}")

    @staticmethod
    def walk(value, names, where, start):
        path = start
        for name in names:
            if isinstance(value, Files):
                if name not in ("Get", "Glob"):
                    raise TemplateError(f"{where}: .Files.{name} is not supported")
                value = getattr(value, name)
            elif isinstance(value, dict):
                value = value.get(name)
            elif value is None:
                raise TemplateError(f"{where}: nil pointer evaluating {path}.{name}")
            else:
                raise TemplateError(f"{where}: can't evaluate field {name} in {type(value).__name__}")
            path = f"{path}.{name}" if path != "." else f".{name}"
        return value

    def call(self, name, args, where):
        def need(n):
            if len(args) != n:
                raise TemplateError(f"{where}: {name} takes {n} arguments, got {len(args)}")

        def text(v):
            if isinstance(v, str):
                return v
            return go_str(v, where)

        if name == "include":
            need(2)
            return self.include(args[0], args[1], where)
        if name == "toYaml":
            need(1)
            return to_yaml(args[0])
        if name in ("nindent", "indent"):
            need(2)
            pad = " " * int(args[0])
            s = pad + text(args[1]).replace("\n", "\n" + pad)
            return "\n" + s if name == "nindent" else s
        if name == "quote":
            return " ".join(go_quote(text(a)) for a in args if a is not None)
        if name == "default":
            if len(args) not in (1, 2):
                raise TemplateError(f"{where}: default takes 1 or 2 arguments")
            given = args[1] if len(args) == 2 else None
            return args[0] if empty(given) else given
        if name == "printf":
            if not args:
                raise TemplateError(f"{where}: printf needs a format")
            return go_printf(args[0], args[1:], where)
        if name == "trunc":
            need(2)
            n, s = int(args[0]), text(args[1])
            if n < 0:
                return s[len(s) + n:] if len(s) + n > 0 else s
            return s[:n]
        if name == "trimSuffix":
            need(2)
            suffix, s = text(args[0]), text(args[1])
            return s[: -len(suffix)] if suffix and s.endswith(suffix) else s
        if name == "trim":
            need(1)
            return text(args[0]).strip(" \t\r\n\v\f")
        if name == "hasPrefix":
            need(2)
            return text(args[1]).startswith(text(args[0]))
        if name == "replace":
            need(3)
            return text(args[2]).replace(text(args[0]), text(args[1]))
        if name == "contains":
            need(2)
            return text(args[0]) in text(args[1])
        if name == "base":
            need(1)
            return posixpath.basename(text(args[0]).rstrip("/")) or "."
        if name == "has":
            need(2)
            return args[1] is not None and args[0] in args[1]
        if name == "hasKey":
            need(2)
            return isinstance(args[0], dict) and args[1] in args[0]
        if name == "b64enc":
            need(1)
            return base64.b64encode(text(args[0]).encode()).decode()
        if name == "int":
            need(1)
            v = args[0]
            if v is None:
                return 0
            if isinstance(v, str):
                return int(v) if re.fullmatch(r"-?\d+", v) else 0
            return int(v)
        if name in ("eq", "ne"):
            if len(args) < 2:
                raise TemplateError(f"{where}: {name} needs two arguments")
            for other in args[1:]:
                if type(args[0]) is not type(other) and not (
                    isinstance(args[0], (int, float)) and isinstance(other, (int, float))
                    and not isinstance(args[0], bool) and not isinstance(other, bool)
                ):
                    raise TemplateError(f"{where}: incompatible types for comparison")
            result = any(args[0] == other for other in args[1:])
            return result if name == "eq" else not result
        if name == "not":
            need(1)
            return not truth(args[0])
        if name == "fail":
            need(1)
            raise TemplateError(f"{where}: execution error: {text(args[0])}")
        if name == "required":
            need(2)
            if args[1] is None or args[1] == "":
                raise TemplateError(f"{where}: execution error: {text(args[0])}")
            return args[1]
        raise TemplateError(f"{where}: function {name!r} is not supported by this renderer")


def go_printf(fmt, args, where):
    out, i, n = [], 0, 0
    while i < len(fmt):
        c = fmt[i]
        if c != "%":
            out.append(c)
            i += 1
            continue
        verb = fmt[i + 1] if i + 1 < len(fmt) else ""
        i += 2
        if verb == "%":
            out.append("%")
            continue
        if n >= len(args):
            raise TemplateError(f"{where}: printf: missing argument for %{verb}")
        a = args[n]
        n += 1
        if verb in ("s", "v"):
            out.append(go_str(a, where))
        elif verb == "d":
            out.append(str(int(a)))
        elif verb == "q":
            out.append(go_quote(go_str(a, where)))
        else:
            raise TemplateError(f"{where}: printf verb %{verb} is not supported")
    if n != len(args):
        raise TemplateError(f"{where}: printf: extra arguments")
    return "".join(out)


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


BLOCK_OPEN = {"if", "range", "with", "define", "block"}


def check_balanced(c, path):
    """Each {{ has its }}, and if/range/with/define ... end nest properly."""
    c.section = f"templates/{path.name}"
    src = path.read_text(encoding="utf-8")
    try:
        items = lex(src, f"templates/{path.name}")
    except TemplateError as e:
        c.fail(str(e))
        return
    stack = []
    for item in items:
        if item[0] != "action":
            continue
        _, content, line = item
        words = content.split()
        word = words[0] if words else ""
        if word in BLOCK_OPEN:
            stack.append((word, line))
        elif word == "else":
            if not stack or stack[-1][0] not in ("if", "range", "with"):
                c.fail(f"line {line}: else outside if/range/with")
        elif word == "end":
            if not stack:
                c.fail(f"line {line}: end without an open if/range/with/define")
            else:
                stack.pop()
    for word, line in stack:
        c.fail(f"line {line}: {word} without its end")


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
                "--namespace-labels", "--unknown-namespaces"}


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
    for path in templates:
        check_balanced(c, path)
    check_files_identical(c)
    check_dockerfile(c, values)
    if c.failures:  # rendering would only repeat the structural failures
        return report(c)

    c.section = ""  # the render checks name their scenario
    try:
        renderer = Renderer(CHART)
    except TemplateError as e:
        c.fail(f"templates do not parse: {e}")
        return report(c)
    for path in templates:
        check_values_references(c, path, values, renderer.defines)
    c.section = ""
    try:
        run_scenarios(c, renderer, values)
    except TemplateError as e:
        c.fail(f"rendering failed: {e}")
    return report(c)


def report(c):
    if c.failures:
        print(f"check_chart: {len(c.failures)} failure(s):", file=sys.stderr)
        for f in c.failures:
            print(f"  - {f}", file=sys.stderr)
        return 1
    print("check_chart: OK (Chart.yaml, values.yaml documentation, template balance, .Values references, "
          "6 render scenarios, files/policies identical to policies/, Dockerfile)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
