//! Every snippet the docs mark as a file runs as written. A fenced block whose info string names a
//! file (```` ```yaml file=my-params.yaml ````) is written into a fresh directory holding a copy of
//! `examples/` (as a fresh clone's root has); each `cmek-gate` command of the same section's `sh`
//! blocks that names one of the section's files runs there through `sh -c`. It must exit 0 or 1
//! (exactly N when its comment says `(exit N)`), never 2.

use crate::support::{repo, temp_dir};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A fenced block: its info string, its text, and the line it starts on.
#[derive(Debug)]
struct Block {
    info: String,
    text: String,
    line: usize,
}

/// A section of a Markdown file (from one heading to the next) and its fenced blocks.
#[derive(Debug)]
struct Section {
    heading: String,
    blocks: Vec<Block>,
}

fn sections(markdown: &str) -> Vec<Section> {
    let mut sections = vec![Section {
        heading: String::new(),
        blocks: Vec::new(),
    }];
    // The open block: its fence, its indentation, its first line, its info string and its text.
    let mut open: Option<(String, usize, usize, String, String)> = None;
    for (index, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_start();
        if let Some((fence, indent, start, info, text)) = &mut open {
            if trimmed.starts_with(fence.as_str())
                && trimmed.trim_start_matches('`').trim().is_empty()
            {
                let block = Block {
                    info: std::mem::take(info),
                    text: std::mem::take(text),
                    line: *start,
                };
                sections.last_mut().unwrap().blocks.push(block);
                open = None;
            } else {
                let own_indent = line.len() - trimmed.len();
                text.push_str(&line[own_indent.min(*indent)..]);
                text.push('\n');
            }
            continue;
        }
        if trimmed.starts_with("```") {
            let fence: String = trimmed.chars().take_while(|&c| c == '`').collect();
            let info = trimmed[fence.len()..].trim().to_owned();
            let indent = line.len() - trimmed.len();
            open = Some((fence, indent, index + 1, info, String::new()));
        } else if line.starts_with('#') {
            sections.push(Section {
                heading: line.trim_start_matches('#').trim().to_owned(),
                blocks: Vec::new(),
            });
        }
    }
    assert!(open.is_none(), "a fenced block is never closed");
    sections
}

/// The file a block's info string names (`yaml file=NAME`).
fn file_name(info: &str) -> Option<&str> {
    info.split_whitespace()
        .find_map(|word| word.strip_prefix("file="))
}

/// The exit code a command's comment promises, if it says `(exit N)`.
fn promised_code(command: &str) -> Option<i32> {
    let comment = command.split_once(" #")?.1;
    let at = comment.find("(exit ")? + "(exit ".len();
    comment[at..].split(')').next()?.trim().parse().ok()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn documents() -> Vec<PathBuf> {
    let mut files = vec![repo().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(repo().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

#[test]
fn the_docs_file_snippets_run_as_written() {
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_cmek-gate"));
    let path = std::env::join_paths(
        std::iter::once(binary.parent().unwrap().to_path_buf()).chain(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        )),
    )
    .unwrap();
    let (mut files, mut commands) = (0, 0);
    for document in documents() {
        let markdown = std::fs::read_to_string(&document).unwrap();
        for (number, section) in sections(&markdown).iter().enumerate() {
            let marked: Vec<(&str, &Block)> = section
                .blocks
                .iter()
                .filter_map(|b| Some((file_name(&b.info)?, b)))
                .collect();
            if marked.is_empty() {
                continue;
            }
            let dir = temp_dir(&format!(
                "doc-snippets-{}-{number}",
                document.file_stem().unwrap().to_string_lossy()
            ));
            copy_dir(&repo().join("examples"), &dir.join("examples"));
            for (name, block) in &marked {
                std::fs::write(dir.join(name), &block.text).unwrap();
                files += 1;
            }
            let lines: Vec<&str> = section
                .blocks
                .iter()
                .filter(|b| b.info == "sh")
                .flat_map(|b| b.text.lines())
                .filter(|l| l.trim_start().starts_with("cmek-gate "))
                .filter(|l| marked.iter().any(|(name, _)| l.contains(name)))
                .collect();
            assert!(
                !lines.is_empty(),
                "{}: section \"{}\": files {:?} but no `cmek-gate` command in an sh block uses them",
                document.display(),
                section.heading,
                marked.iter().map(|(n, b)| (n, b.line)).collect::<Vec<_>>()
            );
            for line in lines {
                commands += 1;
                let out = Command::new("sh")
                    .arg("-c")
                    .arg(line)
                    .current_dir(&dir)
                    .env("PATH", &path)
                    .env_remove("CMEK_GATE_POLICIES")
                    .env_remove("CMEK_GATE_PARAMS")
                    .output()
                    .unwrap();
                let code = out.status.code().unwrap_or(-1);
                let report = format!(
                    "{}: section \"{}\": (cd {} && {line})\nexit {code}\nstdout:\n{}\nstderr:\n{}",
                    document.display(),
                    section.heading,
                    dir.display(),
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
                match promised_code(line) {
                    Some(promised) => assert_eq!(code, promised, "{report}"),
                    None => assert!(code == 0 || code == 1, "{report}"),
                }
                assert!(
                    !String::from_utf8_lossy(&out.stderr).contains("warning: my-params"),
                    "a documented params file is ignored: {report}"
                );
            }
        }
    }
    assert!(
        files > 0 && commands > 0,
        "no file snippets found ({files} files, {commands} commands)"
    );
}

#[test]
fn snippet_markdown_is_read_by_section_and_fence() {
    let markdown = "# A\n```yaml file=a.yaml\nx:\n  y: 1\n```\n## B\n  ```sh\n  cmek-gate check a.yaml # (exit 1)\n    more\n  ```\n````md\n```\n````\n";
    let sections = sections(markdown);
    let shape: Vec<(&str, Vec<(&str, &str)>)> = sections
        .iter()
        .map(|s| {
            (
                s.heading.as_str(),
                s.blocks
                    .iter()
                    .map(|b| (b.info.as_str(), b.text.as_str()))
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        shape,
        vec![
            ("", vec![]),
            ("A", vec![("yaml file=a.yaml", "x:\n  y: 1\n")]),
            (
                "B",
                vec![
                    ("sh", "cmek-gate check a.yaml # (exit 1)\n  more\n"),
                    ("md", "```\n")
                ]
            ),
        ]
    );
    assert_eq!(file_name("yaml file=a.yaml"), Some("a.yaml"));
    assert_eq!(file_name("yaml"), None);
    assert_eq!(
        promised_code("cmek-gate check a.yaml # denied (exit 1)"),
        Some(1)
    );
    assert_eq!(promised_code("cmek-gate check a.yaml # denied"), None);
}
