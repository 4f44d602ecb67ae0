//! `cmek-gate serve`: flags (and environment variables, as a container expects) into a
//! [`ServerConfig`], logging, signals, and the tokio runtime around [`crate::server::run`].

use crate::limits::RequestLimits;
use crate::server::{run, Bound, ServerConfig};
use anyhow::Context;
use clap::{Args, ValueEnum};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Serving certificate chain (PEM); re-read when it changes.
    #[arg(long, env = "CMEK_GATE_CERT", value_name = "FILE")]
    pub cert: PathBuf,
    /// Private key of the serving certificate (PEM); re-read when it changes.
    #[arg(long, env = "CMEK_GATE_KEY", value_name = "FILE")]
    pub key: PathBuf,
    /// Address of the HTTPS listener.
    #[arg(long, env = "CMEK_GATE_LISTEN", default_value = "0.0.0.0:8443")]
    pub listen: SocketAddr,
    /// Address of the plain-HTTP metrics listener (`/metrics`); "off" for none.
    #[arg(long, env = "CMEK_GATE_METRICS_LISTEN", default_value = "0.0.0.0:9090")]
    pub metrics_listen: String,
    /// CA certificates (PEM) that client certificates must chain to: mutual TLS, so that only
    /// the API server can call.
    #[arg(long, env = "CMEK_GATE_CLIENT_CA", value_name = "FILE")]
    pub client_ca: Option<PathBuf>,
    #[command(flatten)]
    pub policy: super::PolicyArgs,
    #[command(flatten)]
    pub live: super::LiveArgs,
    /// Namespace labels for namespaceSelector: the AdmissionReview carries none, so without
    /// them a binding that selects namespaces by label denies (undecided).
    #[command(flatten)]
    pub namespaces: super::NamespaceArgs,
    /// Largest request body, in bytes (answered with 413 above).
    #[arg(long, env = "CMEK_GATE_MAX_BODY_BYTES", default_value_t = 3 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Most evaluations (parsing and judging a body) at once, on threads of their own; a request
    /// that finds none free within --evaluation-queue-timeout is answered 429 with Retry-After.
    /// Default: the number of cores.
    #[arg(long, env = "CMEK_GATE_MAX_CONCURRENT_EVALUATIONS", value_name = "N")]
    pub max_concurrent_evaluations: Option<usize>,
    /// Longest wait for an evaluation slot (e.g. 1s, 200ms).
    #[arg(long, env = "CMEK_GATE_EVALUATION_QUEUE_TIMEOUT", default_value = "2s", value_parser = parse_duration)]
    pub evaluation_queue_timeout: Duration,
    /// Most nodes in one request body (YAML aliases counted by what they expand to); above, the
    /// request is refused before it is evaluated.
    #[arg(long, env = "CMEK_GATE_MAX_REQUEST_NODES", default_value_t = RequestLimits::default().max_nodes)]
    pub max_request_nodes: usize,
    /// Most labels and annotations, together, in any one `metadata` of a request body.
    #[arg(long, env = "CMEK_GATE_MAX_REQUEST_LABELS", default_value_t = RequestLimits::default().max_labels)]
    pub max_request_labels: usize,
    /// Most connections served at once; more wait to be accepted.
    #[arg(long, env = "CMEK_GATE_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,
    /// Longest wait for a TLS handshake, request headers or a request body (e.g. 10s, 500ms).
    #[arg(long, env = "CMEK_GATE_READ_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub read_timeout: Duration,
    /// How often the certificate and policy files are checked for changes (a changed policy set
    /// is loaded once two checks in a row see the same files).
    #[arg(long, env = "CMEK_GATE_RELOAD_INTERVAL", default_value = "2s", value_parser = parse_duration)]
    pub reload_interval: Duration,
    /// Let a reload bind fewer policies than the serving set (by default such a reload fails
    /// and the previous set keeps serving). A set that binds no policy is refused regardless.
    #[arg(long, env = "CMEK_GATE_ALLOW_POLICY_SHRINK")]
    pub allow_policy_shrink: bool,
    /// Longest wait for requests in flight after SIGTERM.
    #[arg(long, env = "CMEK_GATE_SHUTDOWN_GRACE", default_value = "20s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,
    /// Log format.
    #[arg(long, env = "CMEK_GATE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Also serve the Cloud Run API gate on this address: point users' gcloud at it with
    /// `gcloud config set api_endpoint_overrides/run https://HOST/` (see docs/cloud-run-api-gate.md).
    #[arg(long, env = "CMEK_GATE_CLOUD_RUN_LISTEN", value_name = "ADDR")]
    pub cloud_run_listen: Option<SocketAddr>,
    /// Where the API gate forwards (default: https://REGION-run.googleapis.com, the region parsed
    /// from the Host header that gcloud prefixes with it, or https://run.googleapis.com).
    #[arg(
        long,
        env = "CMEK_GATE_CLOUD_RUN_UPSTREAM",
        value_name = "URL",
        requires = "cloud_run_listen",
        value_parser = parse_upstream
    )]
    pub cloud_run_upstream: Option<hyper::Uri>,
    /// The API gate's own host name: only `HOST` and `REGION-HOST` are then accepted as the
    /// Host header (lower case, no port).
    #[arg(
        long,
        env = "CMEK_GATE_CLOUD_RUN_HOST",
        value_name = "HOST",
        requires = "cloud_run_listen",
        value_parser = parse_gate_host
    )]
    pub cloud_run_host: Option<String>,
    /// Longest wait for the TCP connection to the API gate's upstream.
    #[arg(long, env = "CMEK_GATE_CLOUD_RUN_CONNECT_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub cloud_run_connect_timeout: Duration,
    /// Longest wait for the upstream's response headers (connect and TLS included), and then
    /// between two pieces of its body; past it the gate answers 504.
    #[arg(long, env = "CMEK_GATE_CLOUD_RUN_UPSTREAM_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub cloud_run_upstream_timeout: Duration,
    /// How long an idle connection to the upstream is kept for reuse.
    #[arg(long, env = "CMEK_GATE_CLOUD_RUN_IDLE_TIMEOUT", default_value = "90s", value_parser = parse_duration)]
    pub cloud_run_idle_timeout: Duration,
    /// Serve the API gate over plain HTTP (behind a TLS-terminating load balancer).
    #[arg(
        long,
        env = "CMEK_GATE_CLOUD_RUN_PLAINTEXT",
        requires = "cloud_run_listen"
    )]
    pub cloud_run_plaintext: bool,
    /// Run the mutating policies in the API gate: an allowed write is forwarded with what they
    /// add (the region's default key), said in an `x-cmek-gate-mutated` response header.
    #[arg(
        long,
        env = "CMEK_GATE_CLOUD_RUN_MUTATE",
        requires = "cloud_run_listen"
    )]
    pub cloud_run_mutate: bool,
    /// Extra CA certificates (PEM) the API gate trusts for the upstream.
    #[arg(
        long,
        env = "CMEK_GATE_CLOUD_RUN_UPSTREAM_CA",
        value_name = "FILE",
        requires = "cloud_run_listen"
    )]
    pub cloud_run_upstream_ca: Option<PathBuf>,
}

fn parse_upstream(text: &str) -> Result<hyper::Uri, String> {
    let uri: hyper::Uri = text.parse().map_err(|e| format!("{text:?}: {e}"))?;
    crate::server::api_gate::check_upstream(&uri)?;
    Ok(uri)
}

fn parse_gate_host(text: &str) -> Result<String, String> {
    crate::cloudrun_api::host::check_host_name(text).map_err(|e| e.to_string())?;
    Ok(text.to_owned())
}

/// A duration as `humantime` reads it (`500ms`, `10s`, `2m`, `1h`, `1m 30s`, `1.5s`), or a bare
/// number of seconds (`3`, `0.5`). Too large for a `Duration`, negative or not a number: an
/// error naming the text.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let seconds = text
        .parse::<f64>()
        .ok()
        .filter(|_| text.bytes().all(|b| b.is_ascii_digit() || b == b'.'));
    match seconds {
        Some(seconds) => Duration::try_from_secs_f64(seconds)
            .map_err(|e| format!("{text:?} is not a duration such as 10s or 500ms: {e}")),
        None => humantime::parse_duration(text)
            .map_err(|e| format!("{text:?} is not a duration such as 10s or 500ms: {e}")),
    }
}

pub fn run_serve(args: ServeArgs) -> anyhow::Result<i32> {
    init_logging(args.log_format);
    let metrics_listen = match args.metrics_listen.as_str() {
        "off" | "" => None,
        addr => Some(
            addr.parse()
                .with_context(|| format!("--metrics-listen {addr:?} is not an address"))?,
        ),
    };
    let config = ServerConfig {
        listen: args.listen,
        metrics_listen,
        cert: args.cert,
        key: args.key,
        client_ca: args.client_ca,
        policies: args.policy.paths(),
        params: args.policy.params.clone(),
        max_body_bytes: args.max_body_bytes,
        max_connections: args.max_connections,
        read_timeout: args.read_timeout,
        reload_interval: args.reload_interval,
        shutdown_grace: args.shutdown_grace,
        compile_options: args.policy.compile_options(),
        allow_policy_shrink: args.allow_policy_shrink,
        namespaces: args.namespaces.known()?,
        request_limits: RequestLimits {
            max_nodes: args.max_request_nodes,
            max_labels: args.max_request_labels,
            ..RequestLimits::default()
        },
        max_concurrent_evaluations: args
            .max_concurrent_evaluations
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
            .max(1),
        evaluation_queue_timeout: args.evaluation_queue_timeout,
        live: args.live.settings()?,
        cloud_run: args
            .cloud_run_listen
            .map(|listen| crate::server::api_gate::CloudRunConfig {
                listen,
                upstream: args.cloud_run_upstream.clone(),
                gate_host: args.cloud_run_host.clone(),
                plaintext: args.cloud_run_plaintext,
                mutate: args.cloud_run_mutate,
                upstream_ca: args.cloud_run_upstream_ca.clone(),
                connect_timeout: args.cloud_run_connect_timeout,
                upstream_timeout: args.cloud_run_upstream_timeout,
                idle_timeout: args.cloud_run_idle_timeout,
            }),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    let grace = config.shutdown_grace;
    runtime.block_on(async move {
        let (reload_tx, reload_rx) = tokio::sync::watch::channel(());
        let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
        tokio::spawn(async move {
            while hangup.recv().await.is_some() {
                tracing::info!("SIGHUP: reloading the policies");
                let _ = reload_tx.send(());
            }
        });
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let shutdown = async move {
            tokio::select! {
                _ = terminate.recv() => tracing::info!("SIGTERM"),
                _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT"),
            }
            exit_at_the_latest(grace);
        };
        run(config, shutdown, reload_rx, announce).await?;
        Ok::<_, anyhow::Error>(())
    })?;
    // Evaluations cut at the grace period may still run on their threads: not waited for.
    runtime.shutdown_background();
    Ok(0)
}

/// The process exits at most `grace` after the signal, whatever still runs: a thread of its own
/// ends it then (exit code 1) if the drain has not.
fn exit_at_the_latest(grace: Duration) {
    let deadline = std::time::Instant::now() + grace;
    std::thread::spawn(move || {
        std::thread::sleep(deadline.saturating_duration_since(std::time::Instant::now()));
        tracing::warn!("the grace period of {grace:?} is over with requests in flight: exiting");
        std::process::exit(1);
    });
}

/// Tells the bound addresses on stdout (one line each), for scripts and tests.
fn announce(bound: Bound) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "listening on https://{}", bound.listen);
    if let Some(metrics) = bound.metrics {
        let _ = writeln!(out, "metrics on http://{metrics}/metrics");
    }
    if let Some((gate, tls)) = bound.cloud_run {
        let scheme = if tls { "https" } else { "http" };
        let _ = writeln!(out, "cloud run API gate on {scheme}://{gate}");
    }
    let _ = out.flush();
    tracing::info!(listen = %bound.listen, metrics = ?bound.metrics, "serving");
}

/// Logs to stderr, one line per event in both formats: JSON escapes every value; the text
/// format writes text fields quoted and escaped (handlers log request values as `&str`), and
/// escapes control characters in every other value and the message, so that no value from a
/// request can start a line of its own or end the line early.
fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CMEK_GATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    use tracing_subscriber::field::MakeExt;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .fmt_fields(
                tracing_subscriber::fmt::format::debug_fn(|out, field, value| {
                    let text = format!("{value:?}");
                    let text = escape_controls(&text);
                    match field.name() {
                        "message" => write!(out, "{text}"),
                        name => write!(out, "{name}={text}"),
                    }
                })
                .delimited(" "),
            )
            .try_init(),
    };
}

/// Control characters (line breaks, escape sequences, ...) and the Unicode line and paragraph
/// separators as `\n`, `\u{1b}`, ...; the rest
/// unchanged. Text that `Debug` already escaped has none left.
pub fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    let breaks = |c: char| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}');
    if !text.chars().any(breaks) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if breaks(c) {
            escaped.extend(c.escape_default());
        } else {
            escaped.push(c);
        }
    }
    std::borrow::Cow::Owned(escaped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_in_log_values_are_escaped() {
        let cases = [
            (
                "plain text, quoted \"or\" not",
                "plain text, quoted \"or\" not",
            ),
            ("a\nb", "a\\nb"),
            ("a\r\nb", "a\\r\\nb"),
            ("\u{1b}[31mred", "\\u{1b}[31mred"),
            ("tab\there", "tab\\there"),
            ("\u{85}next line", "\\u{85}next line"),
            ("caf\u{e9} \u{2028}", "caf\u{e9} \\u{2028}"),
        ];
        for (raw, logged) in cases {
            assert_eq!(escape_controls(raw), logged, "{raw:?}");
        }
    }

    #[test]
    fn durations() {
        let cases = [
            ("10s", Some(10_000)),
            ("500ms", Some(500)),
            ("2m", Some(120_000)),
            ("3", Some(3_000)),
            ("1.5s", Some(1_500)),
            ("0.5", Some(500)),
            ("10h", Some(36_000_000)),
            ("1m 30s", Some(90_000)),
            ("s", None),
            ("", None),
            ("-1s", None),
            ("10 parsecs", None),
            ("NaN", None),
            ("inf", None),
            ("99999999999999999999999s", None),
            ("99999999999999999999999", None),
        ];
        for (text, millis) in cases {
            assert_eq!(
                parse_duration(text).ok().map(|d| d.as_millis() as u64),
                millis,
                "{text}"
            );
        }
    }
}
