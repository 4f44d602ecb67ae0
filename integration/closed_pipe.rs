//! Every subcommand that prints, run as `cmek-gate … | head` runs it when `head` has already
//! gone: stdout is a pipe whose reading end is closed before the binary starts, so the first
//! write fails (EPIPE) every time. The binary says so and exits 2; it never panics (exit 101).

use crate::support::{fixtures, repo, resource_list, temp_dir};
use std::io::Write;
use std::process::{Command, Stdio};

/// Runs `cmek-gate ARGS` in the repository with `stdin`, its stdout a pipe already closed.
fn run_into_closed_pipe(args: &[&str], stdin: &[u8]) -> (Option<i32>, String) {
    let mut ends = [0; 2];
    // SAFETY: `pipe` writes two new descriptors into `ends`; each is owned exactly once below.
    assert_eq!(unsafe { libc::pipe(ends.as_mut_ptr()) }, 0, "pipe(2)");
    let (reader, writer) = unsafe {
        use std::os::fd::FromRawFd;
        (
            std::fs::File::from_raw_fd(ends[0]),
            std::fs::File::from_raw_fd(ends[1]),
        )
    };
    drop(reader);
    let mut child = Command::new(env!("CARGO_BIN_EXE_cmek-gate"))
        .args(args)
        .current_dir(repo())
        .env_remove("CMEK_GATE_POLICIES")
        .env_remove("CMEK_GATE_PARAMS")
        .stdin(Stdio::piped())
        .stdout(writer)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The binary may stop before reading all of stdin: a failed write here is no matter.
    let _ = child.stdin.take().unwrap().write_all(stdin);
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn no_subcommand_panics_when_its_reader_has_gone() {
    let params = fixtures()
        .join("mutation/default-keys-params.yaml")
        .display()
        .to_string();
    let fixable = fixtures()
        .join("fix/comments/input.yaml")
        .display()
        .to_string();
    let certs = temp_dir("closed-pipe-certs").display().to_string();
    let list = resource_list("");
    let cases: Vec<(Vec<&str>, &[u8])> = vec![
        (vec!["check", "examples/service.yaml"], b""),
        (vec!["check", "-o", "json", "examples/service.yaml"], b""),
        (vec!["check", "-o", "sarif", "examples/service.yaml"], b""),
        (vec!["scan", "examples/service.yaml"], b""),
        (vec!["test", "policies/tests"], b""),
        (vec!["test"], b""),
        (
            vec![
                "eval",
                "-e",
                "object.metadata",
                "-f",
                "examples/service.yaml",
            ],
            b"",
        ),
        (
            vec![
                "eval",
                "--policy",
                "policies/cmek-required.yaml",
                "-f",
                "examples/service.yaml",
            ],
            b"",
        ),
        (
            vec![
                "eval",
                "--json",
                "--policy",
                "policies/cmek-required.yaml",
                "-f",
                "examples/service.yaml",
            ],
            b"",
        ),
        (vec!["lint", "integration/fixtures/lint/mistakes.yaml"], b""),
        (vec!["lint", "-o", "json", "policies"], b""),
        (vec!["lint", "-o", "sarif", "policies"], b""),
        (vec!["fix", "--params", &params, "--stdout", &fixable], b""),
        (vec!["fix", "--params", &params, "--diff", &fixable], b""),
        (vec!["krm"], list.as_bytes()),
        (vec!["certs", "--out", &certs, "--dns", "localhost"], b""),
    ];
    for (args, stdin) in cases {
        let (code, stderr) = run_into_closed_pipe(&args, stdin);
        let command = format!("cmek-gate {} | (closed)", args.join(" "));
        assert!(
            !stderr.contains("panicked"),
            "{command} panicked (exit {code:?}):\n{stderr}"
        );
        assert_eq!(code, Some(2), "{command}: exit code\n{stderr}");
        assert!(
            stderr.contains("Broken pipe"),
            "{command} does not say why it stopped:\n{stderr}"
        );
    }
}
