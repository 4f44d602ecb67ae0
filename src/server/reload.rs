//! Reloading without a restart: the certificate and the policy files are checked for changes
//! every `reload_interval`, and the policies also on demand (SIGHUP). What fails to load is
//! logged and counted, and the previous certificate or policy set keeps serving.
//!
//! The policy files are read as a consistent snapshot ([`read_snapshot_live`], with the live policies under `--live`) and reloaded only when
//! the same snapshot was seen on two polls in a row, so files being written one by one are not
//! loaded part-way. A new set that binds no policy, or fewer policies than the serving one
//! (without `--allow-policy-shrink`), is a failed reload ([`may_replace`]).

use super::tls::{expiry_unix, CertStore, PemPair};
use super::App;
use crate::policy::bound::may_replace;
use crate::policy::load::{compile_snapshot, read_snapshot_live, Snapshot};
use crate::policy::PolicyError;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use tokio::sync::watch;

/// The policy files as one poll found them: a snapshot, or why they could not be read.
enum Polled {
    Files(Snapshot),
    Unreadable(PolicyError),
}

impl Polled {
    /// What a change is noticed by (an unreadable set by its error).
    fn fingerprint(&self) -> u64 {
        match self {
            Polled::Files(snapshot) => snapshot.fingerprint,
            Polled::Unreadable(error) => {
                let mut hasher = std::collections::hash_map::DefaultHasher::new();
                error.to_string().hash(&mut hasher);
                hasher.finish()
            }
        }
    }
}

/// Loads the first policy set, before the server listens. A set that binds no policy is an
/// error (the server must not start and allow everything); any other failure is logged and
/// counted, and the server starts unready, waiting for the files to change. Returns the
/// fingerprint of what was read, for [`watch`].
pub async fn initial_load(app: &Arc<App>) -> Result<u64, PolicyError> {
    let polled = poll(app).await;
    let fingerprint = polled.fingerprint();
    let loaded = match polled {
        Polled::Files(snapshot) => compile(app, snapshot).await,
        Polled::Unreadable(e) => Err(e),
    };
    if let Err(e @ PolicyError::NothingBound { .. }) = loaded {
        return Err(e);
    }
    apply(app, loaded, "start");
    Ok(fingerprint)
}

/// Runs until `stop` changes. `seen` is the fingerprint of the policy files last loaded (or
/// tried).
pub async fn watch(
    app: Arc<App>,
    store: Arc<CertStore>,
    mut pair: PemPair,
    mut seen: u64,
    mut reload_now: watch::Receiver<()>,
    mut stop: watch::Receiver<bool>,
) {
    let mut interval = tokio::time::interval(app.config.reload_interval);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval.tick().await;
    // A changed fingerprint waiting to be seen once more before it is loaded.
    let mut pending = None;
    let mut signals_open = true;
    loop {
        let forced = tokio::select! {
            _ = interval.tick() => false,
            changed = reload_now.changed(), if signals_open => {
                signals_open = changed.is_ok();
                signals_open
            }
            _ = stop.changed() => return,
        };
        check_certificate(&app, &store, &mut pair);
        let polled = poll(&app).await;
        let fingerprint = polled.fingerprint();
        let stable = pending == Some(fingerprint);
        pending = None;
        if !forced && fingerprint == seen {
            continue;
        }
        if !forced && !stable {
            pending = Some(fingerprint);
            continue;
        }
        seen = fingerprint;
        let why = if forced { "SIGHUP" } else { "file change" };
        let loaded = match polled {
            Polled::Files(snapshot) => compile(&app, snapshot).await,
            Polled::Unreadable(e) => Err(e),
        };
        apply(&app, loaded, why);
    }
}

/// Reads the policy and parameter files (on a blocking thread).
async fn poll(app: &Arc<App>) -> Polled {
    let (policies, params) = (app.config.policies.clone(), app.config.params.clone());
    let live = app.config.live.is_some();
    match tokio::task::spawn_blocking(move || read_snapshot_live(&policies, &params, live)).await {
        Ok(Ok(snapshot)) => Polled::Files(snapshot),
        Ok(Err(e)) => Polled::Unreadable(e),
        Err(e) => Polled::Unreadable(PolicyError::Read {
            path: "<policy files>".into(),
            message: e.to_string(),
        }),
    }
}

/// Compiles a snapshot (on a blocking thread).
async fn compile(
    app: &Arc<App>,
    snapshot: Snapshot,
) -> Result<crate::policy::PolicySet, PolicyError> {
    let paths = app.config.policies.clone();
    let options = app.config.compile_options;
    match tokio::task::spawn_blocking(move || compile_snapshot(&snapshot, &paths, &options)).await {
        Ok(result) => result,
        Err(e) => Err(PolicyError::Read {
            path: "<policy files>".into(),
            message: e.to_string(),
        }),
    }
}

/// Swaps in a compiled set if it may replace the serving one; else logs and counts why not.
fn apply(app: &App, loaded: Result<crate::policy::PolicySet, PolicyError>, why: &'static str) {
    let error = match loaded {
        Ok(set) => {
            let bound = set.bound_policies();
            let serving = app.policy_set().map(|s| s.bound_policies());
            match may_replace(serving.as_deref(), &bound, app.config.allow_policy_shrink) {
                Ok(()) => {
                    let count = set.policies.len() + set.mutating_policies.len();
                    for ignored in set.unselected_params() {
                        tracing::warn!(
                            file = %ignored.source_name,
                            kind = %ignored.kind,
                            namespace = %ignored.namespace,
                            name = %ignored.name,
                            why = %ignored.reason(),
                            "parameter object ignored: {ignored}"
                        );
                    }
                    for warning in set.type_warnings() {
                        tracing::warn!(
                            file = %warning.source_name,
                            line = warning.line,
                            policy = %warning.policy,
                            field = %warning.field,
                            "type checking against the schemas: {warning}"
                        );
                    }
                    app.set_policies(set);
                    tracing::info!(
                        policies = count,
                        bound = bound.len(),
                        reason = why,
                        "policy set loaded"
                    );
                    return;
                }
                Err(refusal) => {
                    app.metrics.reload_failed("policies", refusal.reason());
                    tracing::error!(
                        error = %refusal,
                        failure = refusal.reason(),
                        reason = why,
                        "policy reload failed: the previous policy set keeps serving"
                    );
                    return;
                }
            }
        }
        Err(e) => e,
    };
    let failure = failure_reason(&error);
    app.metrics.reload_failed("policies", failure);
    tracing::error!(
        error = %error,
        failure,
        reason = why,
        "policy reload failed: the previous policy set keeps serving"
    );
}

/// The `reason` label of a failed policy load.
fn failure_reason(error: &PolicyError) -> &'static str {
    match error {
        PolicyError::NothingBound { .. } => "binds-nothing",
        PolicyError::Unstable { .. } => "unstable",
        PolicyError::Read { .. } => "unreadable",
        _ => "invalid",
    }
}

/// Swaps in the certificate when its files changed and load.
fn check_certificate(app: &App, store: &CertStore, seen: &mut PemPair) {
    let (cert, key) = (&app.config.cert, &app.config.key);
    let current = match PemPair::read(cert, key) {
        Ok(current) => current,
        Err(e) => {
            // A Secret update swaps a symlink: a read can fall between; the next tick retries.
            tracing::debug!(error = %e, "cannot read the certificate files");
            return;
        }
    };
    if current == *seen {
        return;
    }
    match current.certified_key(cert, key) {
        Ok(certified) => {
            store.replace(certified);
            if let Some(expiry) = expiry_unix(&current.cert) {
                app.metrics.certificate_expiry_seconds.set(expiry as f64);
            }
            tracing::info!(cert = %cert.display(), "certificate reloaded");
        }
        Err(e) => {
            app.metrics.reload_failed("certificate", "invalid");
            tracing::error!(error = %e, "certificate reload failed: the previous certificate keeps serving");
        }
    }
    *seen = current;
}
