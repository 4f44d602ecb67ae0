//! `cmek-gate gcloud run services replace FILE [gcloud flags...]` (and `run jobs replace`,
//! `run worker-pools replace`): checks FILE as gcloud would read it, with the local policies or a
//! central gate's `/v1/check` (`--remote URL`), prints the decision, and only when allowed runs
//! the real gcloud with the same arguments, passing its exit code through. Denied: exit 1 and
//! gcloud never runs. `--fix` deploys a temporary copy with the mutating policies' additions.

use crate::batch::{check_inputs, CheckOptions, Input};
use crate::report::Report;
use anyhow::{bail, Context};
use clap::Args;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct GcloudArgs {
    /// Check with a central gate's /v1/check (its policies) instead of the local policies,
    /// e.g. https://cmek-gate.example.com:8443.
    #[arg(long, value_name = "URL", env = "CMEK_GATE_REMOTE")]
    pub remote: Option<hyper::Uri>,
    /// CA certificates (PEM) trusted for --remote, besides the public roots.
    #[arg(
        long,
        value_name = "FILE",
        env = "CMEK_GATE_REMOTE_CA",
        requires = "remote"
    )]
    pub remote_ca: Option<PathBuf>,
    /// Apply the mutating policies (the region's default key) to a temporary copy of FILE and
    /// deploy that; FILE itself is not changed (`cmek-gate fix` writes it).
    #[arg(long)]
    pub fix: bool,
    #[command(flatten)]
    pub policy: super::PolicyArgs,
    /// Live checks for the local check (with --remote, the central gate's own --live decides).
    #[command(flatten)]
    pub live: super::LiveArgs,
    /// The gcloud command: run services|jobs|worker-pools replace FILE [flags...].
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "GCLOUD ARGS"
    )]
    pub args: Vec<String>,
}

/// The gcloud commands the wrapper gates, by their second word.
const GATED: &[&str] = &["services", "jobs", "worker-pools"];

/// gcloud's flags that take a value as the next argument (`--region europe-west1`), so that the
/// value is not taken for FILE.
const VALUE_FLAGS: &[&str] = &[
    "--region",
    "--project",
    "--platform",
    "--cluster",
    "--cluster-location",
    "--context",
    "--kubeconfig",
    "--namespace",
    "--format",
    "--account",
    "--billing-project",
    "--configuration",
    "--flags-file",
    "--impersonate-service-account",
    "--verbosity",
    "--trace-token",
];

/// Where FILE is among the gcloud arguments: the first positional after `replace`.
fn file_index(args: &[String]) -> anyhow::Result<usize> {
    let gated = args.len() >= 3
        && args[0] == "run"
        && GATED.contains(&args[1].as_str())
        && args[2] == "replace";
    if !gated {
        bail!(
            "cmek-gate gcloud gates `gcloud run services replace`, `run jobs replace` and `run worker-pools replace` (got `gcloud {}`); run other commands with gcloud itself",
            args.join(" ")
        );
    }
    let mut i = 3;
    while i < args.len() {
        let arg = &args[i];
        if arg == "-" || !arg.starts_with('-') {
            return Ok(i);
        }
        if VALUE_FLAGS.contains(&arg.as_str()) {
            i += 1;
        }
        i += 1;
    }
    bail!(
        "no FILE: gcloud {} needs the file to deploy (or - for stdin)",
        args[..3].join(" ")
    )
}

pub fn run(args: GcloudArgs) -> anyhow::Result<i32> {
    let index = file_index(&args.args)?;
    let file = args.args[index].clone();
    let text = if file == "-" {
        let mut text = Vec::new();
        std::io::stdin()
            .read_to_end(&mut text)
            .context("cannot read stdin")?;
        text
    } else {
        std::fs::read(&file).with_context(|| format!("cannot read {file}"))?
    };
    let name = if file == "-" {
        "<stdin>".to_owned()
    } else {
        file.clone()
    };
    let input = Input {
        name: name.clone(),
        text: text.clone(),
    };
    let (report, patches) = match &args.remote {
        Some(url) => remote_check(url, args.remote_ca.as_deref(), &input, args.fix)?,
        None => local_check(&args.policy, &args.live, &input, args.fix)?,
    };
    eprint!("{}", report.to_human(false));
    if let Some(error) = report.errors.first() {
        bail!("{}: {}", name, error.message);
    }
    if report.exit_code() != 0 {
        eprintln!("cmek-gate: not deploying: {name} is denied (gcloud was not run)");
        return Ok(1);
    }
    if !report.results.iter().any(|r| !r.skipped) {
        bail!("{name}: no Cloud Run resource the policies apply to: refusing to deploy what was not checked");
    }
    let mut gcloud_args = args.args.clone();
    let mut deployed = text.clone();
    let _temporary;
    if args.fix && patches.iter().any(Option::is_some) {
        let source = String::from_utf8(text).context("the file is not UTF-8")?;
        let documents = crate::manifest::parse_documents(&source, &Default::default())?;
        let mut edits = Vec::new();
        for (document, patch) in documents.iter().zip(&patches) {
            if let Some(patch) = patch {
                edits.extend(crate::fix::plan(&source, &document.root, &patch.0)?);
                for op in &patch.0 {
                    eprintln!(
                        "cmek-gate: --fix added {} to {} {} (commit it with `cmek-gate fix {name}`)",
                        crate::engine::mutate::field_path(op.path()),
                        document.kind,
                        document.name
                    );
                }
            }
        }
        let fixed = crate::fix::apply(&source, edits)?;
        if file != "-" {
            // A new directory of our own (mode 0700, a name nobody could have taken first), so
            // that what gcloud deploys is what was checked; removed when the run ends.
            let dir = tempfile::Builder::new()
                .prefix("cmek-gate-gcloud-")
                .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
                .tempdir()
                .context("cannot make a temporary directory for the fixed copy")?;
            let base = Path::new(&file)
                .file_name()
                .map_or_else(|| "service.yaml".into(), |n| n.to_os_string());
            let path = dir.path().join(base);
            std::fs::write(&path, &fixed)?;
            gcloud_args[index] = path.display().to_string();
            _temporary = dir;
        }
        deployed = fixed.into_bytes();
    }
    let gcloud = std::env::var_os("CMEK_GATE_GCLOUD").unwrap_or_else(|| "gcloud".into());
    eprintln!(
        "cmek-gate: allowed; running gcloud {}",
        gcloud_args.join(" ")
    );
    let mut command = std::process::Command::new(&gcloud);
    command.args(&gcloud_args);
    if file == "-" {
        command.stdin(std::process::Stdio::piped());
    }
    let mut child = command.spawn().with_context(|| {
        format!(
            "cannot run {} (set CMEK_GATE_GCLOUD to its path)",
            Path::new(&gcloud).display()
        )
    })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(&deployed)?;
    }
    let status = child.wait()?;
    Ok(status.code().unwrap_or(1))
}

type Patches = Vec<Option<json_patch::Patch>>;

fn local_check(
    policy: &super::PolicyArgs,
    live: &super::LiveArgs,
    input: &Input,
    mutate: bool,
) -> anyhow::Result<(Report, Patches)> {
    let set = policy.load_live(live.live)?;
    let options = CheckOptions {
        mutate,
        live: live.live()?,
        ..CheckOptions::default()
    };
    let report = check_inputs(&set, std::slice::from_ref(input), &options);
    let patches = report.results.iter().map(|r| r.patch.clone()).collect();
    Ok((report, patches))
}

/// The largest check report accepted from a central gate.
const MAX_REPORT_BYTES: usize = 16 * 1024 * 1024;

/// Asks a central gate: `POST URL/v1/check` (with `?mutate=true` for `--fix`).
fn remote_check(
    url: &hyper::Uri,
    ca: Option<&Path>,
    input: &Input,
    mutate: bool,
) -> anyhow::Result<(Report, Patches)> {
    let base = url.to_string();
    let target = format!(
        "{}/v1/check{}",
        base.trim_end_matches('/'),
        if mutate { "?mutate=true" } else { "" }
    );
    let target: hyper::Uri = target.parse().context("--remote is not a URL")?;
    let options = crate::http_client::ClientOptions {
        extra_ca: ca.map(Path::to_path_buf),
        ..Default::default()
    };
    let request = hyper::Request::post(target)
        .header(hyper::header::CONTENT_TYPE, "application/yaml")
        .body(http_body_util::Full::new(bytes::Bytes::from(
            input.text.clone(),
        )))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let response = runtime
        .block_on(async {
            let client = crate::http_client::HttpClient::new(&options)?;
            anyhow::Ok(client.send_collect(request, MAX_REPORT_BYTES).await?)
        })
        .with_context(|| format!("cannot reach the gate at {base}"))?;
    let status = response.status().as_u16();
    let answer = response.into_body();
    if !matches!(status, 200 | 403) {
        bail!(
            "the gate at {base} answered {status}: {}",
            String::from_utf8_lossy(&answer)
        );
    }
    let json: serde_json::Value =
        serde_json::from_slice(&answer).context("the gate's answer is not a check report")?;
    let mut report: Report =
        serde_json::from_value(json.clone()).context("the gate's answer is not a check report")?;
    for result in &mut report.results {
        result.file = input.name.clone();
    }
    let patches = json["results"]
        .as_array()
        .map(|results| {
            results
                .iter()
                .map(|r| serde_json::from_value(r["patch"].clone()).ok())
                .collect()
        })
        .unwrap_or_default();
    Ok((report, patches))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn the_file_is_the_first_positional_after_replace() {
        let cases = [
            ("run services replace s.yaml --region europe-west1", Some(3)),
            ("run services replace --region europe-west1 s.yaml", Some(5)),
            ("run jobs replace --async --project p - --region r", Some(6)),
            ("run worker-pools replace --format=json w.yaml", Some(4)),
            ("run services replace --region r", None),
            ("run services deploy api --image x", None),
            ("run services list", None),
            ("compute instances create x", None),
        ];
        for (line, expected) in cases {
            assert_eq!(file_index(&args(line)).ok(), expected, "{line}");
        }
        let message = file_index(&args("run deploy api")).unwrap_err().to_string();
        assert!(
            message.contains("run other commands with gcloud itself"),
            "{message}"
        );
    }
}
