//! Manifests for the parser differential, built structurally and then mutated with the
//! constructs where YAML 1.1 readers (kubectl's go-yaml, gcloud's ruamel.yaml) and the gate's
//! YAML 1.2 reader can part ways. Deterministic: a seed gives the same inputs.

use serde_json::{json, Value};

/// A small deterministic PRNG (SplitMix64): the inputs of a seed never change.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// One generated input: its bytes and the constructs it was built with.
pub struct Generated {
    pub text: Vec<u8>,
    pub constructs: Vec<String>,
}

pub const KEY: &str = "projects/acme-kms/locations/europe-west1/keyRings/run/cryptoKeys/payments";

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Service,
    Job,
    RunService,
}

#[derive(Clone, Copy, PartialEq)]
enum Key {
    Absent,
    Empty,
    Valid,
}

/// Where the sensitivity payload goes.
#[derive(Clone, Copy, PartialEq)]
enum Level {
    Top,
    Template,
}

const SENSITIVE: &[(&str, &str)] = &[
    ("data-classification", "confidential"),
    ("data-classification", "restricted"),
    ("compliance", "pci-dss"),
    ("compliance", "hipaa"),
];

const LINE_BREAKS_1_1: &[&str] = &["\u{85}", "\u{2028}", "\u{2029}"];

const SPELLINGS_1_1: &[&str] = &[
    "yes",
    "no",
    "on",
    "off",
    "y",
    "n",
    "Yes",
    "ON",
    "0x1F",
    "1_000",
    "017",
    "0o17",
    "0b101",
    "1:20",
    "190:20:30",
    "2001-12-14",
    "2001-12-14t21:59:43.10-05:00",
    "~",
    "null",
    ".inf",
    "-.Inf",
    ".NaN",
    "1e3",
    "1.5e+3",
    "+12",
    "0.",
    "=",
    "<<",
];

const TAGS: &[&str] = &[
    "!!str ",
    "!!int ",
    "!!binary ",
    "!!python/str ",
    "!!python/unicode ",
    "!!python/object:os.system ",
    "!custom ",
    "!<tag:yaml.org,2002:str> ",
    "!!timestamp ",
    "!!bool ",
    "!!null ",
    "!!float ",
    "!!merge ",
    "!!set ",
    "!!omap ",
];

const ODD_CHARACTERS: &[&str] = &[
    "\u{feff}",
    "\u{85}",
    "\u{2028}",
    "\u{2029}",
    "\u{0}",
    "\u{1}",
    "\u{7}",
    "\u{1b}",
    "\u{7f}",
    "\u{9f}",
    "\u{fffe}",
    "\u{ffff}",
    "\u{a0}",
    "\u{200b}",
    "\u{d7ff}",
    "\u{1f600}",
    "\t",
    "\r",
    "\r\n",
    "\n",
    " ",
    "#",
    ":",
    ": ",
    "-",
    "- ",
    "?",
    "'",
    "\"",
    "&a ",
    "*a",
    "!",
    "|",
    ">",
    "{",
    "}",
    "[",
    "]",
    ",",
    "%",
    "@",
    "`",
    "\\",
    "<<: ",
    "---\n",
    "...\n",
];

/// The label lines that carry a sensitivity label past a reader that does not see what YAML 1.1
/// sees (or the other way round), at indentation `ind`, with the construct's name.
fn payload(rng: &mut Rng, ind: &str) -> (String, &'static str) {
    let (k, v) = *rng.pick(SENSITIVE);
    let lb = *rng.pick(LINE_BREAKS_1_1);
    let options: [(String, &'static str); 24] = [
        (format!("{k}: {v}"), "plain"),
        (format!("{k}: public"), "public"),
        (format!("{k}: {}", v.to_uppercase()), "upper-case"),
        (
            format!("# note{lb}{ind}{k}: {v}"),
            "1.1-line-break-in-comment",
        ),
        (
            format!("team: t1{lb}{ind}{k}: {v}"),
            "1.1-line-break-after-value",
        ),
        (
            format!("team: \"t1{lb}{ind}{k}: {v}\""),
            "1.1-line-break-in-quoted",
        ),
        (
            format!("team: t1 # c{lb}{ind}{k}: {v}"),
            "1.1-line-break-in-trailing-comment",
        ),
        (format!("<<: {{{k}: {v}}}"), "merge"),
        (
            format!("<<: {{team: a}}\n{ind}<<: {{{k}: {v}}}"),
            "merge-several",
        ),
        (format!("<<: [{{team: a}}, {{{k}: {v}}}]"), "merge-list"),
        (
            format!("? team\n{ind}: a\n{ind}<<: {{{k}: {v}}}"),
            "merge-after-explicit-key",
        ),
        (
            format!("{k}: public\n{ind}<<: {{{k}: {v}}}"),
            "merge-under-explicit",
        ),
        ("<<: *sens".to_owned(), "merge-alias"),
        (format!("? <<\n{ind}: {{{k}: {v}}}"), "merge-explicit"),
        (format!("{k}: !!binary {}", b64(v)), "binary-tag"),
        (format!("{k}: !custom {v}"), "custom-tag"),
        (format!("{k}: !!str {v}"), "str-tag"),
        (format!("{k}: {v}\n{ind}{k}: public"), "duplicate-key"),
        (format!("{k}: public\n{ind}{k}: {v}"), "duplicate-key-last"),
        (format!("\t{k}: {v}"), "tab-indent"),
        (format!("{k}:\t{v}"), "tab-after-colon"),
        (format!("{k}: {v}\u{1}"), "control-character"),
        (format!("{k}: {v}\u{feff}"), "bom-in-value"),
        (format!("? {k}\n{ind}: {v}"), "explicit-key"),
    ];
    let (text, name) = rng.pick(&options).clone();
    (text, name)
}

fn b64(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// A plain YAML emitter for the generated models: block mappings and sequences, strings plain
/// when every YAML reader reads them as the same string, else single-quoted.
fn emit(value: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                out.push_str(&pad);
                out.push_str(&scalar(k));
                out.push(':');
                emit_after_key(v, indent, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                out.push_str(&pad);
                out.push('-');
                match item {
                    Value::Object(m) if !m.is_empty() => {
                        let mut inner = String::new();
                        emit(item, indent + 2, &mut inner);
                        out.push(' ');
                        out.push_str(inner.trim_start());
                    }
                    _ => emit_after_key(item, indent, out),
                }
            }
        }
        _ => {
            out.push_str(&pad);
            out.push_str(&scalar_value(value));
            out.push('\n');
        }
    }
}

fn emit_after_key(v: &Value, indent: usize, out: &mut String) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            emit(v, indent + 2, out);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            emit(v, indent, out);
        }
        Value::Object(_) => out.push_str(" {}\n"),
        Value::Array(_) => out.push_str(" []\n"),
        _ => {
            out.push(' ');
            out.push_str(&scalar_value(v));
            out.push('\n');
        }
    }
}

fn scalar_value(v: &Value) -> String {
    match v {
        Value::String(s) => scalar(s),
        other => other.to_string(),
    }
}

fn scalar(s: &str) -> String {
    let plain_safe = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-".contains(c))
        && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && !SPELLINGS_1_1.iter().any(|w| w.eq_ignore_ascii_case(s))
        && !["true", "false", "null"].contains(&s.to_ascii_lowercase().as_str());
    if plain_safe {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "''"))
    }
}

/// The sentinel label the payload replaces.
const SENTINEL: &str = "zz-payload";

struct Model {
    kind: Kind,
    value: Value,
}

fn labels(rng: &mut Rng, with_payload: bool) -> Value {
    let mut map = serde_json::Map::new();
    if rng.chance(50) {
        map.insert("owner".into(), json!("payments"));
    }
    if !with_payload && rng.chance(25) {
        map.insert("data-classification".into(), json!("public"));
    }
    if with_payload {
        map.insert(SENTINEL.into(), json!("x"));
    }
    Value::Object(map)
}

fn model(rng: &mut Rng, level: Level) -> Model {
    let kind = *rng.pick(&[Kind::Service, Kind::Service, Kind::Job, Kind::RunService]);
    let key = *rng.pick(&[Key::Absent, Key::Absent, Key::Empty, Key::Valid]);
    let name = format!("svc-{}", rng.below(1000));
    let mut top = labels(rng, level == Level::Top);
    top.as_object_mut().unwrap().insert(
        "cloud.googleapis.com/location".into(),
        json!("europe-west1"),
    );
    let tmpl = labels(rng, level == Level::Template);
    let key_text = match key {
        Key::Absent => None,
        Key::Empty => Some(""),
        Key::Valid => Some(KEY),
    };
    let container = json!([{"image": "europe-docker.pkg.dev/acme/run/api:1.0", "ports": [{"containerPort": 8080}]}]);
    let value = match kind {
        Kind::Service | Kind::Job => {
            let mut annotations = serde_json::Map::new();
            annotations.insert("autoscaling.knative.dev/maxScale".into(), json!("20"));
            if let Some(k) = key_text {
                annotations.insert("run.googleapis.com/encryption-key".into(), json!(k));
            }
            let (api, kind_name, inner) = if kind == Kind::Service {
                (
                    "serving.knative.dev/v1",
                    "Service",
                    json!({"containers": container}),
                )
            } else {
                (
                    "run.googleapis.com/v1",
                    "Job",
                    json!({"template": {"spec": {"containers": container}}}),
                )
            };
            json!({
                "apiVersion": api,
                "kind": kind_name,
                "metadata": {"name": name, "namespace": "123456789012", "labels": top},
                "spec": {"template": {
                    "metadata": {"labels": tmpl, "annotations": Value::Object(annotations)},
                    "spec": inner}},
            })
        }
        Kind::RunService => {
            let mut template = json!({"labels": tmpl, "containers": container});
            if let Some(k) = key_text {
                template["encryptionKeyRef"] = json!({"external": k});
            }
            json!({
                "apiVersion": "run.cnrm.cloud.google.com/v1beta1",
                "kind": "RunService",
                "metadata": {"name": name, "labels": top},
                "spec": {"location": "europe-west1", "projectRef": {"external": "acme"}, "template": template},
            })
        }
    };
    Model { kind, value }
}

/// Generates one input.
pub fn generate(rng: &mut Rng) -> Generated {
    let mut constructs = Vec::new();
    let level = if rng.chance(50) {
        Level::Top
    } else {
        Level::Template
    };
    let m = model(rng, level);
    constructs.push(
        match m.kind {
            Kind::Service => "Service",
            Kind::Job => "Job",
            Kind::RunService => "RunService",
        }
        .to_owned(),
    );
    let mut text = if rng.chance(12) {
        constructs.push("json".into());
        json_text(rng, &m.value, &mut constructs)
    } else {
        yaml_text(rng, &m.value, &mut constructs)
    };
    // Whole-text mutations.
    let rounds = rng.below(3);
    for _ in 0..rounds {
        mutate(rng, &mut text, &mut constructs);
    }
    let mut text = text.into_bytes();
    for _ in constructs.iter().filter(|c| *c == "byte-inserted") {
        let at = rng.below(text.len() + 1);
        text.insert(at, rng.next() as u8);
    }
    Generated { text, constructs }
}

fn yaml_text(rng: &mut Rng, value: &Value, constructs: &mut Vec<String>) -> String {
    let mut body = String::new();
    emit(value, 0, &mut body);
    // The payload replaces the sentinel line.
    let at = body
        .find(&format!("{SENTINEL}:"))
        .expect("the sentinel is emitted");
    let line_start = body[..at].rfind('\n').map_or(0, |i| i + 1);
    let line_end = at + body[at..].find('\n').unwrap();
    let ind = body[line_start..at].to_owned();
    let (lines, name) = payload(rng, &ind);
    constructs.push(name.into());
    body.replace_range(line_start + ind.len()..line_end, &lines);
    let mut text = String::new();
    if name == "merge-alias" || rng.chance(10) {
        // An anchor the payload (or nothing) refers to, in an earlier document or this one.
        let (k, v) = *rng.pick(SENSITIVE);
        if rng.chance(50) {
            constructs.push("anchor-in-earlier-document".into());
            text.push_str(&format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: defs}}\ndata: &sens {{{k}: {v}}}\n---\n"
            ));
        } else {
            constructs.push("anchor-in-same-document".into());
            body = format!("x-defs: &sens {{{k}: {v}}}\n{body}");
        }
    }
    if rng.chance(5) {
        // kubectl decodes any object with `items` as a list and sends its items.
        constructs.push("items-outside-a-list".into());
        let (k, v) = *rng.pick(SENSITIVE);
        body.push_str(&format!(
            "items:\n- apiVersion: serving.knative.dev/v1\n  kind: Service\n  metadata:\n    name: inner\n    labels: {{{k}: {v}}}\n"
        ));
    }
    if rng.chance(8) {
        constructs.push("list".into());
        let nested = rng.chance(50);
        if nested {
            constructs.push("nested-list".into());
        }
        let item = indent_item(&body, if nested { 4 } else { 2 });
        body = if nested {
            format!("apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: List\n  items:\n{item}")
        } else {
            format!("apiVersion: v1\nkind: List\nitems:\n{item}")
        };
    }
    if rng.chance(10) {
        constructs.push("second-document".into());
        let mut other = String::new();
        emit(&model(rng, Level::Top).value, 0, &mut other);
        let other = other.replace(&format!("{SENTINEL}: x"), "team: t2");
        if rng.chance(50) {
            body = format!("{other}---\n{body}");
        } else {
            body = format!("{body}...\n---\n{other}");
        }
    }
    text.push_str(&body);
    text
}

/// `body` as the first (and only) item of a block sequence at `indent`.
fn indent_item(body: &str, indent: usize) -> String {
    let pad = " ".repeat(indent);
    let mut out = String::new();
    for (i, line) in body.lines().enumerate() {
        if i == 0 {
            out.push_str(&format!("{}- {line}\n", &pad[..indent - 2]));
        } else {
            out.push_str(&format!("{pad}{line}\n"));
        }
    }
    out
}

fn json_text(rng: &mut Rng, value: &Value, constructs: &mut Vec<String>) -> String {
    let (k, v) = *rng.pick(SENSITIVE);
    let text = serde_json::to_string_pretty(value).unwrap();
    let sentinel = format!("\"{SENTINEL}\": \"x\"");
    let options: [(String, &str); 9] = [
        (format!("\"{k}\": \"{v}\""), "json-plain"),
        (
            format!("\"{k}\": \"{v}\", \"{k}\": \"public\""),
            "json-duplicate-key",
        ),
        (
            format!("\"{k}\": \"public\", \"{k}\": \"{v}\""),
            "json-duplicate-key-last",
        ),
        (format!("\"{k}\": \"{v}\\ud800\""), "json-lone-surrogate"),
        (
            format!("\"{k}\\udc00\": \"{v}\""),
            "json-lone-surrogate-key",
        ),
        (
            format!("\"{k}\": \"{v}\", \"n\": 1e400"),
            "json-number-beyond-float",
        ),
        (format!("\"{k}\": \"\\u0063onfidential\""), "json-escape"),
        (
            format!("\"{k}\": \"{v}\", \"<<\": {{\"{k}\": \"public\"}}"),
            "json-merge-key",
        ),
        (format!("\"{k}\": \"{v}\"\t"), "json-tab"),
    ];
    let (payload, name) = rng.pick(&options).clone();
    constructs.push(name.into());
    let mut text = text.replace(&sentinel, &payload);
    match rng.below(8) {
        0 => {
            constructs.push("json-array".into());
            text = format!("[{text}]");
        }
        1 => {
            constructs.push("json-list".into());
            text = format!("{{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [{text}]}}");
        }
        2 => {
            constructs.push("json-two-objects".into());
            text = format!("{{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {{\"name\": \"c\"}}}}\n{text}");
        }
        _ => {}
    }
    text
}

fn char_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// One whole-text mutation.
fn mutate(rng: &mut Rng, text: &mut String, constructs: &mut Vec<String>) {
    if text.is_empty() {
        return;
    }
    let at = char_boundary(text, rng.below(text.len() + 1));
    let newlines: Vec<usize> = text.match_indices('\n').map(|(i, _)| i).collect();
    let name = match rng.below(14) {
        0 if !newlines.is_empty() => {
            let i = *rng.pick(&newlines);
            let lb = *rng.pick(LINE_BREAKS_1_1);
            text.replace_range(i..i + 1, lb);
            "1.1-line-break-for-newline"
        }
        1 => {
            let lb = *rng.pick(LINE_BREAKS_1_1);
            text.insert_str(at, lb);
            "1.1-line-break-inserted"
        }
        2 => {
            match rng.below(3) {
                0 => text.insert(0, '\u{feff}'),
                1 => text.insert(at, '\u{feff}'),
                _ => {
                    if let Some(i) = text.find("---\n") {
                        text.insert(i + 4, '\u{feff}');
                    } else {
                        text.insert_str(0, "\u{feff}\u{feff}");
                    }
                }
            }
            "bom"
        }
        3 if !newlines.is_empty() => {
            let i = *rng.pick(&newlines) + 1;
            if text[i..].starts_with("  ") {
                text.replace_range(i..i + 2, "\t");
            } else {
                text.insert(i, '\t');
            }
            "tab-indentation"
        }
        4 => {
            let c = *rng.pick(&[
                "\u{1}", "\u{8}", "\u{1f}", "\u{7f}", "\u{fffe}", "\u{ffff}", "\u{0}", "\u{80}",
                "\u{9b}",
            ]);
            text.insert_str(at, c);
            "control-character"
        }
        5 => {
            if let Some((i, _)) = pick_match(rng, text, ": ") {
                let tag = *rng.pick(TAGS);
                text.insert_str(i + 2, tag);
            }
            "tag"
        }
        6 => {
            if let Some((i, _)) = pick_match(rng, text, ": ") {
                let start = i + 2;
                let end = start + text[start..].find('\n').unwrap_or(text.len() - start);
                let word = *rng.pick(SPELLINGS_1_1);
                text.replace_range(start..end, word);
            }
            "1.1-spelling-value"
        }
        7 => {
            if let Some(i) = newlines.get(rng.below(newlines.len().max(1))) {
                let line_start = *i + 1;
                let indent =
                    text[line_start..].len() - text[line_start..].trim_start_matches(' ').len();
                let key = *rng.pick(&[
                    "1: x",
                    "true: x",
                    "on: x",
                    "y: x",
                    "~: x",
                    "[a]: x",
                    "? {a: b}\n: x",
                    "1.5: x",
                    "2001-12-14: x",
                    "0x1F: x",
                    "null: x",
                    "'1': x",
                ]);
                let key = key.replace('\n', &format!("\n{}", " ".repeat(indent)));
                text.insert_str(line_start, &format!("{}{key}\n", " ".repeat(indent)));
            }
            "non-string-key"
        }
        8 => {
            let odd = *rng.pick(ODD_CHARACTERS);
            text.insert_str(at, odd);
            "character-inserted"
        }
        9 => {
            let end = char_boundary(text, (at + 1 + rng.below(4)).min(text.len()));
            if end > at {
                text.replace_range(at..end, "");
            }
            "characters-deleted"
        }
        10 => "byte-inserted", // done on the bytes, at the end (it may break UTF-8)
        11 => {
            *text = if rng.chance(70) {
                text.replace('\n', "\r\n")
            } else {
                text.replace('\n', "\r")
            };
            "crlf-or-cr"
        }
        12 => {
            text.insert_str(
                at,
                &char::from_u32(rng.below(0x3_0000) as u32).map_or(String::new(), String::from),
            );
            "unicode-inserted"
        }
        _ => {
            if let Some((i, _)) = pick_match(rng, text, ": ") {
                let anchor = format!("&a{} ", rng.below(3));
                text.insert_str(i + 2, &anchor);
            }
            if let Some((i, _)) = pick_match(rng, text, ": ") {
                let start = i + 2;
                let end = start + text[start..].find('\n').unwrap_or(text.len() - start);
                text.replace_range(start..end, &format!("*a{}", rng.below(3)));
            }
            "anchor-and-alias"
        }
    };
    constructs.push(name.into());
}

fn pick_match<'a>(rng: &mut Rng, text: &'a str, needle: &str) -> Option<(usize, &'a str)> {
    let all: Vec<(usize, &str)> = text.match_indices(needle).collect();
    if all.is_empty() {
        None
    } else {
        Some(all[rng.below(all.len())])
    }
}
