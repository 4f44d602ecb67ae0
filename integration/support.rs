//! Helpers: paths, running the real binary, and a failure report that shows the command, its
//! folder, stdout and stderr.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A tool a test needs is missing: with `CI` set that is a failure (`.ci/run` installs every
/// tool), elsewhere the test says it is skipped and the caller returns.
pub fn missing_tool(what: &str) {
    let in_ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
    assert!(!in_ci, "{what}; CI is set, so this test cannot be skipped");
    eprintln!("skipped: {what}");
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixtures() -> PathBuf {
    repo().join("integration/fixtures")
}

/// The output of one run of the binary.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub command: String,
}

impl Run {
    /// Panics with the whole run unless the exit code is `code`.
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "exit code\n{self}");
        self
    }

    pub fn stdout_has(&self, needle: &str) -> &Self {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}\n{self}"
        );
        self
    }

    pub fn stderr_has(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}\n{self}"
        );
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON: {e}\n{self}"))
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "command: {}\nexit code: {}\n--- stdout\n{}\n--- stderr\n{}",
            self.command, self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `cmek-gate ARGS` in `dir` with `stdin`.
pub fn gate_in(dir: &Path, args: &[&str], stdin: &[u8]) -> Run {
    let binary = env!("CARGO_BIN_EXE_cmek-gate");
    let mut child = Command::new(binary)
        .args(args)
        .current_dir(dir)
        .env_remove("CMEK_GATE_POLICIES")
        .env_remove("CMEK_GATE_PARAMS")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        command: format!("(cd {} && cmek-gate {})", dir.display(), args.join(" ")),
    }
}

pub fn gate(args: &[&str]) -> Run {
    gate_in(&repo(), args, b"")
}

/// A fresh temporary directory under the target folder, `NAME-` and a name `tempfile` made up,
/// so that no two tests (threads of one process) ever share one; kept after the run, for a look
/// at what a failing test left.
pub fn temp_dir(name: &str) -> PathBuf {
    let parent = repo().join("target/integration-tmp");
    std::fs::create_dir_all(&parent).unwrap();
    tempfile::Builder::new()
        .prefix(&format!("{name}-"))
        .tempdir_in(parent)
        .unwrap()
        .keep()
}

/// Two tests asking for a directory of the same name get two directories (with the process id
/// as the only difference, the second used to wipe the first).
#[test]
fn temporary_directories_are_never_shared() {
    let (first, second) = (temp_dir("same-name"), temp_dir("same-name"));
    assert_ne!(first, second);
    assert!(first.is_dir() && second.is_dir());
}

/// A ResourceList holding the README's Service, with `function_config` (YAML, indented by 2).
pub fn resource_list(function_config: &str) -> String {
    let service = std::fs::read_to_string(repo().join("examples/service.yaml")).unwrap();
    let item: String = service
        .lines()
        .filter(|l| !l.starts_with('#') && *l != "---")
        .map(|l| format!("    {l}\n"))
        .collect();
    format!(
        "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\n{function_config}items:\n  - {}",
        item.trim_start()
    )
}
