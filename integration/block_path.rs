//! The block-YAML fast path (`src/manifest/block.rs`) against the YAML parser it stands in for:
//! on every text it takes, its events (what they are, and where each starts) are the parser's,
//! and it takes no text the parser refuses. Texts: the repository's YAML, and texts generated
//! from the block style with odd scalars, keys and lines mixed in (`CMEK_GATE_BLOCK_TEXTS`,
//! default 30,000, and `CMEK_GATE_BLOCK_SEED`). The parser differential (`parser_differential`)
//! then compares what the gate reads with kubectl and gcloud, fast path included.

use crate::parser_generator::Rng;
use cmek_gate::manifest::block::feed;
use saphyr_parser::{Event, Parser, Span};

/// An event as the builder reads it: what it is, and where it starts (the builder reads no
/// position of the ends).
fn describe(event: &Event, span: &Span) -> String {
    let at = span.start;
    match event {
        Event::MappingEnd | Event::SequenceEnd | Event::DocumentEnd => format!("{event:?}"),
        _ => format!("{event:?} @{}:{}:{}", at.line(), at.col(), at.index()),
    }
}

/// The YAML parser's events, or `None` when it fails.
fn parser_events(text: &str) -> Option<Vec<String>> {
    let mut events = Vec::new();
    for event in Parser::new_from_str(text) {
        let (event, span) = event.ok()?;
        if !matches!(event, Event::StreamStart | Event::StreamEnd) {
            events.push(describe(&event, &span));
        }
    }
    Some(events)
}

/// The fast path's events, or `None` when it gives up.
fn fast_events(text: &str) -> Option<Vec<String>> {
    let mut events = Vec::new();
    feed(text, |event, span| {
        events.push(describe(&event, span));
        Ok::<(), ()>(())
    })
    .ok()?;
    Some(events)
}

/// Compares both readings of `text`: the fast path takes only texts the YAML parser reads,
/// and gives its events. Returns whether the fast path took the text.
fn compare(name: &str, text: &str) -> bool {
    let Some(fast) = fast_events(text) else {
        return false;
    };
    let Some(parser) = parser_events(text) else {
        panic!("{name}: the YAML parser refuses {text:?}, the fast path read it as {fast:#?}");
    };
    assert_eq!(parser, fast, "{name}: {text:?}");
    true
}

fn corpus() -> Vec<(String, String)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut texts = Vec::new();
    for dir in [
        "examples",
        "policies",
        "integration/fixtures",
        "helm",
        "docs",
    ] {
        for entry in walkdir::WalkDir::new(root.join(dir)).sort_by_file_name() {
            let entry = entry.unwrap();
            let path = entry.path();
            if !matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml")
            ) {
                continue;
            }
            if let Ok(text) = std::fs::read_to_string(path) {
                texts.push((path.display().to_string(), text));
            }
        }
    }
    texts
}

#[test]
fn the_block_path_gives_the_yaml_parsers_events_on_the_repositorys_yaml() {
    let corpus = corpus();
    let taken = corpus
        .iter()
        .filter(|(name, text)| compare(name, text))
        .count();
    // Most of the rest have block scalars (`|`), flow collections or templates.
    assert!(
        taken >= 100,
        "the fast path took {taken} of {}",
        corpus.len()
    );
}

/// The constructs the fast path reads (each text must be taken, with the parser's events) and
/// some it leaves to the parser (each must be left).
#[test]
fn the_block_path_takes_the_block_style_and_leaves_the_rest() {
    let taken = [
        "a: 1\nb: two words # c\n",
        "---\na:\n  b: 'it''s'\n  c: \"q\"\n---\n",
        "l:\n- a: 1\n  b:\n- c\n-\n- # c\n  d: 2\n",
        "l:\n-   a: 1\n    b: 2\nm: {}\nn: []\n",
        "- - x\n  - y\n-\n  z\n",
        "a:\n  plain\nb:   # c\n  - 1\n",
        "# lead\n\n---  # c\nk: v\nx...: y\n",
        "caf\u{e9}: na\u{ef}ve \u{1F600}\nx: 'd\u{e9}j\u{e0}'\n",
        "a: 1\n---\n---\n# only a comment\n",
        "a: http://x:80/y\nb: a#b\nc: -1\n",
        "\n---",
        "a: b",
        // Scalars wrapped onto more lines, as gcloud writes them past 80 columns.
        "a: one\n  two\n\n   three\nb: 1\n",
        "- one\n  two\n",
        "- 'q one\n\n  q''s two  '\n",
        "- \"d one\n   d two\"\n",
        "m:\n  u: '[\"https://a.run.app\",\n    \"https://b.run.app\"]'\n  v: x\n",
    ];
    for text in taken {
        assert!(compare("taken", text), "the fast path left {text:?}");
    }
    let deep = format!("{}x\n", "- ".repeat(300));
    let left = [
        "a: |\n  x\n",
        "a: >-\n  x\n",
        "a: [1, 2]\n",
        "a: {b: 1}\n",
        "a: &x 1\nb: *x\n",
        "a: !!str 1\n",
        "a: \"x\\ty\"\n",
        "? a\n: b\n",
        "%YAML 1.2\n---\na: 1\n",
        "a: 1\n...\n",
        "a:\tb\n",
        "a: b\r\n",
        "scalar\n",
        "a: b: c\n",
        // Nested on one line deeper than the reader recurses (the budgets refuse it anyway).
        deep.as_str(),
        "a: one\n  two: three\n",
        "a: one\n  # c\n  two\n",
        "a: 'one\ntwo'\n",
        "  a: 1\n",
    ];
    for text in left {
        assert!(fast_events(text).is_none(), "the fast path took {text:?}");
        // The YAML parser gives its own reading (or error) of each.
        compare("left", text);
    }
}

/// A small deterministic generator of block-style texts: well-formed documents built from
/// nested mappings, sequences (indented and not, compact and not) and one-line scalars of
/// every kind the fast path reads or must give up on, then mutated line by line (indentation
/// moved, lines dropped, repeated or swapped, lines inserted).
struct Generator(Rng);

impl Generator {
    fn below(&mut self, n: usize) -> usize {
        self.0.below(n)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.0.below(items.len())]
    }

    fn scalar(&mut self) -> String {
        const PLAIN: &[&str] = &[
            "x",
            "two words",
            "8080",
            "true",
            "''",
            "'it''s'",
            "\"q\"",
            "a:b",
            "1.5",
            "europe-west1",
            "projects/p/locations/l/keyRings/r/cryptoKeys/k",
            "{}",
            "[]",
            "a value of several words",
            "'a quoted value of several words'",
            "\"a double-quoted value of words\"",
            "'it''s a value'",
        ];
        if self.below(4) != 0 {
            return self.pick(PLAIN).to_string();
        }
        const SCALARS: &[&str] = &[
            "x",
            "value",
            "two words",
            "1",
            "-1",
            "0x1f",
            "1.5",
            "true",
            "no",
            "null",
            "~",
            "''",
            "'single'",
            "'it''s'",
            "''''",
            "\"double\"",
            "\"\"",
            "\"a\\tb\"",
            "\"a # b\"",
            "'a: b'",
            "a#b",
            "a # comment",
            "a:b",
            "http://x:80/y",
            "a: b",
            "a:",
            "{}",
            "[]",
            "[a]",
            "{a: 1}",
            "&anchor x",
            "*alias",
            "!!str 1",
            "!t x",
            "|",
            ">-",
            "-",
            "- x",
            "--",
            "---",
            "-x",
            "?",
            "? x",
            ":x",
            "@x",
            "`x",
            "%x",
            "caf\u{e9}",
            "\u{1F600} ok",
            "\u{a0}x",
            "x\u{2028}y",
            "x\ty",
            "x  ",
            "x #",
            "'unterminated",
            "\"unterminated",
            "'a' b",
            "\"a\" b",
            "'a'#c",
            "'a' #c",
            "\u{feff}x",
            "<<",
            "=",
            ".",
            "...",
            "x...",
            "x ---",
            "0o17",
            "1e3",
            "+1",
            "{} x",
            "[] #c",
            "{}#c",
            "'a':",
            "\"a\":",
            "x\r",
            "\u{85}x",
        ];
        self.pick(SCALARS).to_string()
    }

    fn key(&mut self) -> String {
        const KEYS: &[&str] = &[
            "a",
            "b",
            "name",
            "spec",
            "metadata",
            "run.googleapis.com/encryption-key",
            "'quoted'",
            "\"dq\"",
            "a b",
            "k:v",
            "1",
            "true",
            "null",
            "<<",
            "-k",
            "?k",
            "caf\u{e9}",
            "x ",
            "'q' ",
            "\"d\" ",
            "#",
            "a#b",
            "'it''s'",
            "\"a:b\"",
        ];
        let key = self.pick(KEYS);
        // Unique enough that most mappings have no duplicate key.
        if key.starts_with(['\'', '"', '<', '#']) || self.below(3) == 0 {
            key.to_string()
        } else {
            format!("{key}{}", self.below(1000))
        }
    }

    fn comment(&mut self) -> &'static str {
        match self.below(8) {
            0 => " # note",
            1 => " #",
            2 => "#no",
            3 => "  ",
            _ => "",
        }
    }

    /// Lines of a node at `indent`, as a mapping's or a sequence's value.
    fn node(&mut self, indent: usize, depth: usize, out: &mut Vec<String>) {
        let pad = " ".repeat(indent);
        let kind = match depth {
            // Mostly a mapping or a sequence at the root (a scalar document is left to the
            // YAML parser).
            0 if self.below(10) != 0 => self.below(2),
            5.. => 2,
            _ => self.below(3),
        };
        match kind {
            0 => {
                for _ in 0..1 + self.below(4) {
                    let key = self.key();
                    match self.below(4) {
                        0 | 1 => {
                            let (scalar, comment) = (self.scalar(), self.comment());
                            let gap = if self.below(8) == 0 { "   " } else { " " };
                            out.push(format!("{pad}{key}:{gap}{scalar}{comment}"));
                        }
                        2 => {
                            let comment = self.comment();
                            out.push(format!("{pad}{key}:{comment}"));
                            let deeper = indent + [0, 1, 2, 4][self.below(4)];
                            if self.below(5) != 0 {
                                self.node(deeper, depth + 1, out);
                            }
                        }
                        _ => {
                            out.push(format!("{pad}{key}:"));
                            let deeper = indent + 2 * self.below(2);
                            self.sequence(deeper, depth + 1, out);
                        }
                    }
                }
            }
            1 => self.sequence(indent, depth, out),
            _ => {
                let scalar = self.scalar();
                out.push(format!("{pad}{scalar}"));
            }
        }
    }

    fn sequence(&mut self, indent: usize, depth: usize, out: &mut Vec<String>) {
        let pad = " ".repeat(indent);
        for _ in 0..1 + self.below(3) {
            match self.below(5) {
                0 => {
                    let scalar = self.scalar();
                    out.push(format!("{pad}- {scalar}"));
                }
                1 => {
                    out.push(format!("{pad}-{}", self.comment()));
                    if self.below(4) != 0 {
                        self.node(indent + 2, depth + 1, out);
                    }
                }
                _ => {
                    // A compact node on the dash's line: its first line joined to the dash.
                    let mut inner = Vec::new();
                    let gap = 1 + self.below(3) * (self.below(4) / 3);
                    self.node(indent + 1 + gap, depth + 1, &mut inner);
                    let first = inner.remove(0);
                    out.push(format!("{pad}-{}", &first[indent + 1..]));
                    out.append(&mut inner);
                }
            }
        }
    }

    /// Wraps line `i` at one of its spaces onto the next line, indented anywhere up to four
    /// columns deeper than it, maybe after a blank line or a comment line (as gcloud wraps long
    /// scalars at 80 columns).
    fn wrap(&mut self, lines: &mut Vec<String>, i: usize) {
        let line = lines[i].clone();
        let indent = line.len() - line.trim_start().len();
        let cuts: Vec<usize> = line
            .char_indices()
            .filter(|&(k, c)| c == ' ' && k > indent)
            .map(|(k, _)| k)
            .collect();
        if cuts.is_empty() {
            return;
        }
        let cut = cuts[self.below(cuts.len())];
        let pad = " ".repeat(self.below(indent + 5));
        lines[i] = line[..cut].to_string();
        lines.insert(i + 1, format!("{pad}{}", &line[cut + 1..]));
        match self.below(6) {
            0 => lines.insert(i + 1, String::new()),
            1 => lines.insert(i + 1, format!("{pad}# inside")),
            2 => lines.insert(i + 1, "  ".into()),
            _ => {}
        }
    }

    fn text(&mut self) -> String {
        let mut lines = Vec::new();
        let documents = 1 + self.below(3);
        for d in 0..documents {
            match self.below(6) {
                0 if d == 0 => {}
                0 => lines.push("--- # next".to_string()),
                1 => lines.push("---  ".to_string()),
                2 if d == 0 => lines.push("# a comment".to_string()),
                _ => lines.push("---".to_string()),
            }
            if self.below(10) != 0 {
                self.node(0, 0, &mut lines);
            }
        }
        // Mutations.
        for _ in 0..self.below(5) {
            if lines.is_empty() {
                break;
            }
            let i = self.below(lines.len());
            match self.below(10) {
                0 => lines[i].insert(0, ' '),
                1 => {
                    if lines[i].starts_with(' ') {
                        lines[i].remove(0);
                    }
                }
                2 => {
                    lines.remove(i);
                }
                3 => {
                    let line = lines[i].clone();
                    lines.insert(i, line);
                }
                4 => {
                    let j = self.below(lines.len());
                    lines.swap(i, j);
                }
                5 => lines.insert(i, String::new()),
                6 => {
                    let pad = " ".repeat(self.below(6));
                    lines.insert(i, format!("{pad}# between"));
                }
                7 => {
                    let pad = " ".repeat(1 + self.below(6));
                    let scalar = self.scalar();
                    lines.insert(i, format!("{pad}{scalar}"));
                }
                8 => self.wrap(&mut lines, i),
                _ => {
                    let line = self.pick(&["...", "---", "--- x", "%YAML 1.2", "", "  ", "---#"]);
                    lines.push(line.into());
                }
            }
        }
        if !lines.is_empty() && self.below(2) == 0 {
            let i = self.below(lines.len());
            self.wrap(&mut lines, i);
        }
        let mut text = lines.join("\n");
        if self.below(4) != 0 {
            text.push('\n');
        }
        text
    }
}

#[test]
fn the_block_path_gives_the_yaml_parsers_events_on_generated_texts() {
    // `CMEK_GATE_BLOCK_TEXTS` and `CMEK_GATE_BLOCK_SEED` for a longer or another run.
    let setting =
        |name: &str, default: u64| std::env::var(name).map_or(default, |v| v.parse().expect(name));
    let mut generator = Generator(Rng::new(setting(
        "CMEK_GATE_BLOCK_SEED",
        0x5eed_cafe_f00d_0001,
    )));
    let (mut taken, mut read_by_parser) = (0, 0);
    let total = setting("CMEK_GATE_BLOCK_TEXTS", 30_000) as usize;
    for n in 0..total {
        let text = generator.text();
        if parser_events(&text).is_some() {
            read_by_parser += 1;
        }
        if compare(&format!("generated text {n}"), &text) {
            taken += 1;
        }
    }
    eprintln!("generated {total}: the YAML parser read {read_by_parser}, the fast path {taken}");
    // Both well-formed texts and odd ones: the fast path must take many, and leave many.
    assert!(taken > total / 10, "the fast path took {taken} of {total}");
    let left = read_by_parser - taken;
    assert!(left > total / 10, "the fast path left {left} to the parser");
}
