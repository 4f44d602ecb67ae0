//! The command line: arguments in, a library call, output and an exit code out. One file per
//! subcommand. Errors here carry context for people (anyhow); the library's are typed.
//! Output goes through `write!` on a locked stdout, never `print!` (which panics when the
//! reader has closed the pipe): a closed pipe is an error like any other, exit 2.

#![deny(clippy::print_stdout)]

pub mod certs;
pub mod check;
pub mod eval;
pub mod fix;
pub mod gcloud;
pub mod krm;
pub mod lint;
pub mod scan;
pub mod serve;
pub mod test;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "cmek-gate",
    version,
    about = "Keeps sensitive Cloud Run services from being deployed without a customer-managed encryption key (CMEK)",
    long_about = None,
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check manifests against the policies: exit 0 allowed, 1 denied, 2 error.
    Check(check::CheckArgs),
    /// Evaluate a CEL expression on a manifest, or show a policy's variables and validations
    /// (or mutations).
    Eval(eval::EvalArgs),
    /// Write what the mutating policies add (the region's default key) into the files, keeping
    /// every other byte: exit 0 when all is now allowed, 1 when something is still denied.
    Fix(fix::FixArgs),
    /// Check FILE, then run `gcloud run services|jobs|worker-pools replace FILE ...` only if it is
    /// allowed: exit 1 (gcloud not run) when denied, else gcloud's exit code.
    Gcloud(gcloud::GcloudArgs),
    /// Lint policy files: compile errors, unknown fields, unguarded keys, cost, bindings.
    Lint(lint::LintArgs),
    /// Run as a KRM function (kpt): a ResourceList on stdin, the same with results on stdout.
    Krm(krm::KrmArgs),
    /// Report the CMEK compliance of Cloud Run resources: rate, breakdowns, keys in use.
    Scan(scan::ScanArgs),
    /// Serve the HTTPS admission webhooks (/validate, /mutate), the check endpoint (/v1/check),
    /// and optionally the Cloud Run API gate (--cloud-run-listen).
    Serve(Box<serve::ServeArgs>),
    /// Run policy test suites (YAML files of kind PolicyTest): exit 1 when a case fails.
    Test(test::TestArgs),
    /// Write development certificates (a CA and a serving certificate) and print the caBundle.
    Certs(certs::CertsArgs),
}

/// Runs the parsed command line; returns the process exit code.
/// An error and its causes, `: `-separated, as `{:#}` prints them, but each cause only once: an
/// error whose message already ends with its cause's (`cannot listen on ADDR: {source}`) is not
/// followed by that cause again.
pub fn error_text(error: &anyhow::Error) -> String {
    let mut text = String::new();
    let mut previous = String::new();
    for cause in error.chain() {
        let message = cause.to_string();
        if text.is_empty() {
            text = message.clone();
        } else if !previous.ends_with(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        previous = message;
    }
    text
}

pub fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Check(args) => check::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Fix(args) => fix::run(args),
        Command::Gcloud(args) => gcloud::run(args),
        Command::Krm(args) => krm::run(args),
        Command::Lint(args) => lint::run(args),
        Command::Scan(args) => scan::run(args),
        Command::Serve(args) => serve::run_serve(*args),
        Command::Certs(args) => certs::run_certs(args),
        Command::Test(args) => test::run(args),
    }
}

/// `--policies` and `--params`, shared by the subcommands that evaluate.
#[derive(Debug, Clone, clap::Args)]
pub struct PolicyArgs {
    /// Policy files or directories, replacing the embedded library (repeatable, or
    /// comma-separated in the environment variable).
    #[arg(
        long = "policies",
        value_name = "PATH",
        env = "CMEK_GATE_POLICIES",
        value_delimiter = ','
    )]
    pub policies: Vec<std::path::PathBuf>,
    /// Parameter files; an object here replaces the loaded one of the same kind, namespace and
    /// name (repeatable).
    #[arg(
        long = "params",
        value_name = "FILE",
        env = "CMEK_GATE_PARAMS",
        value_delimiter = ','
    )]
    pub params: Vec<std::path::PathBuf>,
    #[command(flatten)]
    pub cost: CostArgs,
}

/// `--max-expression-cost`, `--max-policy-cost`, `--kubernetes-version` and `--cel-extensions`,
/// taken by every command that loads policies.
#[derive(Debug, Clone, clap::Args)]
pub struct CostArgs {
    /// The most an expression's estimated cost may be: a policy with a costlier one is refused
    /// at load; also the cost one evaluation of an expression may spend (see docs/lint.md).
    #[arg(
        long,
        value_name = "UNITS",
        env = "CMEK_GATE_MAX_EXPRESSION_COST",
        default_value_t = crate::policy::CompileOptions::default().max_expression_cost
    )]
    pub max_expression_cost: u64,
    /// The most a policy's estimated cost (all its expressions) may be: refused at load above.
    #[arg(
        long,
        value_name = "UNITS",
        env = "CMEK_GATE_MAX_POLICY_COST",
        default_value_t = crate::policy::CompileOptions::default().max_policy_cost
    )]
    pub max_policy_cost: u64,
    /// The Kubernetes release whose CEL the policies may use, 1.30 to 1.37: what it lacks is a
    /// compile error naming the release that added it. Default: the `spec.kubernetesVersion`
    /// of a loaded CmekGateParams, else 1.37 (see docs/kubernetes-versions.md).
    #[arg(
        long,
        value_name = "MAJOR.MINOR",
        env = "CMEK_GATE_KUBERNETES_VERSION",
        value_parser = parse_kubernetes_version
    )]
    pub kubernetes_version: Option<cel_k8s::KubernetesVersion>,
    /// cmek-gate's CEL extensions beyond Kubernetes every policy may use, comma-separated:
    /// math, encoders, bind, strings, kms (a policy asks for its own with the annotation
    /// cmek-gate.dev/cel-extensions). Default: none.
    #[arg(
        long,
        value_name = "LIST",
        env = "CMEK_GATE_CEL_EXTENSIONS",
        value_parser = parse_extensions,
        default_value = ""
    )]
    pub cel_extensions: cel_k8s::Extensions,
}

fn parse_kubernetes_version(text: &str) -> Result<cel_k8s::KubernetesVersion, String> {
    text.parse()
        .map_err(|e: cel_k8s::profile::VersionError| e.to_string())
}

fn parse_extensions(text: &str) -> Result<cel_k8s::Extensions, String> {
    cel_k8s::Extensions::parse(text).map_err(|e| e.to_string())
}

impl CostArgs {
    /// The cost limits and the target the policies are compiled with.
    pub fn compile_options(&self) -> crate::policy::CompileOptions {
        crate::policy::CompileOptions {
            max_expression_cost: self.max_expression_cost,
            max_policy_cost: self.max_policy_cost,
            kubernetes_version: self.kubernetes_version,
            extensions: self.cel_extensions,
        }
    }
}

/// Prints on stderr what the schema-typed check found in a loaded set (see
/// `policy::typing`): Kubernetes warns about these, it does not refuse the policy.
pub fn warn_type_warnings(set: &crate::policy::PolicySet) {
    for warning in set.type_warnings() {
        eprintln!("warning: {warning}");
    }
}

impl PolicyArgs {
    /// The policy paths given (none: the embedded library).
    pub fn paths(&self) -> Vec<std::path::PathBuf> {
        self.policies
            .iter()
            .filter(|p| !p.as_os_str().is_empty())
            .cloned()
            .collect()
    }

    /// [`PolicyArgs::load`], with the embedded live policies when `live` (`--live`).
    pub fn load_live(&self, live: bool) -> anyhow::Result<crate::policy::PolicySet> {
        use anyhow::Context;
        let set = crate::policy::load::load_policy_set_live(
            &self.paths(),
            &self.params,
            &self.compile_options(),
            live,
        )
        .context("cannot load the policies")?;
        warn_type_warnings(&set);
        for unselected in set.unselected_params() {
            eprintln!("warning: {unselected}");
        }
        Ok(set)
    }

    /// Loads the policy set, warning on stderr about each mistake the schema-typed check found
    /// (Kubernetes warns about them, it does not refuse the policy) and each parameter object no
    /// binding selects (the policies never read it: a misnamed `CmekGateParams` would otherwise
    /// go unnoticed).
    pub fn load(&self) -> anyhow::Result<crate::policy::PolicySet> {
        self.load_live(false)
    }

    /// The cost limits the policies are compiled with.
    pub fn compile_options(&self) -> crate::policy::CompileOptions {
        self.cost.compile_options()
    }
}

/// `--live` and how it reads Google, shared by `check`, `scan` and `serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct LiveArgs {
    /// Live checks: load the live policies (cmek-key-usable, cmek-key-iam, cmek-key-rotation,
    /// cmek-image-key) and answer the `kms` CEL extension from Google (Cloud KMS, Resource
    /// Manager, Artifact Registry) with Application Default Credentials. See
    /// docs/live-checks.md.
    #[arg(long, env = "CMEK_GATE_LIVE")]
    pub live: bool,
    /// What a policy that could not read Google does: deny (fail closed), warn (allow with a
    /// warning), or allow (with the audit annotation cmek-gate.dev/live-unreachable).
    #[arg(
        long,
        value_enum,
        value_name = "ACTION",
        env = "CMEK_GATE_LIVE_UNREACHABLE",
        default_value_t = crate::live::Unreachable::Deny,
        requires = "live"
    )]
    pub live_unreachable: crate::live::Unreachable,
    /// Another endpoint for one of the APIs read, as gcloud's api_endpoint_overrides:
    /// API=URL with API cloudkms, cloudresourcemanager or artifactregistry (repeatable, or
    /// comma-separated in the environment variable).
    #[arg(
        long = "google-endpoint",
        value_name = "API=URL",
        env = "CMEK_GATE_GOOGLE_ENDPOINTS",
        value_delimiter = ',',
        requires = "live"
    )]
    pub google_endpoints: Vec<String>,
    /// CA certificates (PEM) trusted for the Google endpoints besides the public roots (a
    /// private endpoint, a proxy).
    #[arg(
        long,
        value_name = "FILE",
        env = "CMEK_GATE_GOOGLE_CA",
        requires = "live"
    )]
    pub google_ca: Option<std::path::PathBuf>,
    /// Read the access token from this file (as gcloud's --access-token-file) instead of
    /// Application Default Credentials; read again when Google refuses it.
    #[arg(
        long,
        value_name = "FILE",
        env = "CMEK_GATE_GOOGLE_ACCESS_TOKEN_FILE",
        requires = "live"
    )]
    pub google_access_token_file: Option<std::path::PathBuf>,
    /// How long an answer from Google is reused.
    #[arg(long, value_name = "DURATION", env = "CMEK_GATE_GOOGLE_CACHE_TTL", default_value = "5m", value_parser = serve::parse_duration)]
    pub google_cache_ttl: std::time::Duration,
    /// How long a NOT_FOUND from Google is reused.
    #[arg(long, value_name = "DURATION", env = "CMEK_GATE_GOOGLE_NOT_FOUND_TTL", default_value = "1m", value_parser = serve::parse_duration)]
    pub google_not_found_ttl: std::time::Duration,
    /// Longest wait for one answer from Google (each of its at most 4 attempts).
    #[arg(long, value_name = "DURATION", env = "CMEK_GATE_GOOGLE_TIMEOUT", default_value = "10s", value_parser = serve::parse_duration)]
    pub google_timeout: std::time::Duration,
}

impl LiveArgs {
    /// The live settings, or `None` without `--live`.
    pub fn settings(&self) -> anyhow::Result<Option<crate::live::LiveSettings>> {
        if !self.live {
            return Ok(None);
        }
        let mut client = crate::google::GoogleClientOptions {
            positive_ttl: self.google_cache_ttl,
            negative_ttl: self.google_not_found_ttl,
            ..crate::google::GoogleClientOptions::default()
        };
        client.http.response_timeout = self.google_timeout;
        client.http.extra_ca = self.google_ca.clone();
        for entry in &self.google_endpoints {
            let (api, url) = entry
                .split_once('=')
                .ok_or_else(|| anyhow::anyhow!("--google-endpoint {entry:?}: expected API=URL"))?;
            client
                .endpoints
                .set_override(api.trim(), url.trim())
                .map_err(|e| anyhow::anyhow!("--google-endpoint: {e}"))?;
        }
        Ok(Some(crate::live::LiveSettings {
            client,
            access_token_file: self.google_access_token_file.clone(),
            unreachable: self.live_unreachable,
        }))
    }

    /// Live mode for a command without a runtime (`check`, `scan`), or `None` without `--live`.
    pub fn live(&self) -> anyhow::Result<Option<std::sync::Arc<crate::live::Live>>> {
        use anyhow::Context;
        match self.settings()? {
            None => Ok(None),
            Some(settings) => Ok(Some(std::sync::Arc::new(
                settings
                    .live_with_runtime()
                    .context("--live: cannot read Google")?,
            ))),
        }
    }
}

/// What a binding's `namespaceSelector` does for a namespace whose labels are not known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum UnknownNamespacesArg {
    /// The document is undecided: not allowed, exit code 2 (the default).
    Undecided,
    /// The selector does not match: the binding is skipped.
    NoMatch,
    /// The selector matches: the binding applies.
    MatchAll,
}

/// `--namespace-labels` and `--unknown-namespaces`, shared by the subcommands that evaluate.
#[derive(Debug, Clone, clap::Args)]
pub struct NamespaceArgs {
    /// The labels of a namespace, as a binding's namespaceSelector and `namespaceObject` see
    /// them: NAMESPACE=KEY=VALUE[,KEY=VALUE...] (NAMESPACE= for none; repeatable, or
    /// `;`-separated in the environment variable). A `kind: Namespace` document in the input
    /// says the same and comes first.
    #[arg(
        long = "namespace-labels",
        value_name = "NS=KEY=VALUE,...",
        env = "CMEK_GATE_NAMESPACE_LABELS",
        value_delimiter = ';'
    )]
    pub namespace_labels: Vec<String>,
    /// What a namespaceSelector does for a namespace whose labels are not given.
    #[arg(
        long,
        value_enum,
        value_name = "RULE",
        env = "CMEK_GATE_UNKNOWN_NAMESPACES",
        default_value_t = UnknownNamespacesArg::Undecided
    )]
    pub unknown_namespaces: UnknownNamespacesArg,
}

impl NamespaceArgs {
    pub fn known(&self) -> anyhow::Result<crate::namespaces::KnownNamespaces> {
        use crate::policy::matching::UnknownNamespaces as U;
        let unknown = match self.unknown_namespaces {
            UnknownNamespacesArg::Undecided => U::Undecided,
            UnknownNamespacesArg::NoMatch => U::NoMatch,
            UnknownNamespacesArg::MatchAll => U::MatchAll,
        };
        Ok(crate::namespaces::KnownNamespaces::parse(
            &self.namespace_labels,
            unknown,
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::error_text;
    use anyhow::Context;

    #[test]
    fn each_cause_is_printed_once() {
        let in_use = || std::io::Error::from(std::io::ErrorKind::AddrInUse);
        let listen = || crate::server::ServerError::Listen {
            addr: "127.0.0.1:8443".parse().unwrap(),
            source: in_use(),
        };
        let cases: Vec<(anyhow::Error, String)> = vec![
            (
                anyhow::Error::new(listen()),
                format!("cannot listen on 127.0.0.1:8443: {}", in_use()),
            ),
            (
                Err::<(), _>(listen()).context("cannot serve").unwrap_err(),
                format!(
                    "cannot serve: cannot listen on 127.0.0.1:8443: {}",
                    in_use()
                ),
            ),
            (
                Err::<(), _>(in_use()).context("cannot bind").unwrap_err(),
                format!("cannot bind: {}", in_use()),
            ),
        ];
        for (error, expected) in cases {
            assert_eq!(error_text(&error), expected, "{error:?}");
        }
    }
}
