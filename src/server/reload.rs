//! Reloading without a restart: the certificate and the policy files are checked for changes
//! every `reload_interval`, and the policies also on demand (SIGHUP). What fails to load is
//! logged and counted, and the previous certificate or policy set keeps serving.

use super::tls::{expiry_unix, CertStore, PemPair};
use super::App;
use crate::policy::load::{load_policy_set, manifest_files};
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::watch;

/// Runs until `stop` changes.
pub async fn watch(
    app: Arc<App>,
    store: Arc<CertStore>,
    mut pair: PemPair,
    mut reload_now: watch::Receiver<()>,
    mut stop: watch::Receiver<bool>,
) {
    let mut seen_policies = policy_fingerprint(&app.config.policies, &app.config.params);
    load_policies(&app, "start").await;
    let mut interval = tokio::time::interval(app.config.reload_interval);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
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
        let fingerprint = policy_fingerprint(&app.config.policies, &app.config.params);
        if forced || fingerprint != seen_policies {
            seen_policies = fingerprint;
            load_policies(&app, if forced { "SIGHUP" } else { "file change" }).await;
        }
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
            app.metrics.reload_failed("certificate");
            tracing::error!(error = %e, "certificate reload failed: the previous certificate keeps serving");
        }
    }
    *seen = current;
}

/// Loads the policy set (on a blocking thread) and swaps it in.
async fn load_policies(app: &Arc<App>, why: &'static str) {
    let (policies, params) = (app.config.policies.clone(), app.config.params.clone());
    let options = app.config.compile_options;
    let loaded =
        tokio::task::spawn_blocking(move || load_policy_set(&policies, &params, &options)).await;
    match loaded {
        Ok(Ok(set)) => {
            let count = set.policies.len();
            app.set_policies(set);
            tracing::info!(policies = count, reason = why, "policy set loaded");
        }
        Ok(Err(e)) => {
            app.metrics.reload_failed("policies");
            tracing::error!(error = %e, reason = why, "policy reload failed: the previous policy set keeps serving");
        }
        Err(e) => {
            app.metrics.reload_failed("policies");
            tracing::error!(error = %e, "policy loading failed");
        }
    }
}

/// A hash of the names and contents of every policy and parameter file (nothing for the
/// embedded library), to notice a change.
fn policy_fingerprint(policies: &[PathBuf], params: &[PathBuf]) -> u64 {
    let mut hasher = DefaultHasher::new();
    for path in policies.iter().chain(params) {
        match manifest_files(path, true) {
            Ok(files) => {
                for file in files {
                    file.hash(&mut hasher);
                    std::fs::read(&file).ok().hash(&mut hasher);
                }
            }
            Err(e) => e.to_string().hash(&mut hasher),
        }
    }
    hasher.finish()
}
