//! `cmek-gate serve`: the HTTPS admission webhook and check endpoint, a thin I/O edge over the
//! engine. Every verdict comes from [`crate::admission::review`] or [`crate::check::check_inputs`],
//! the functions the CLI uses.
//!
//! Connections are served by hyper (HTTP/1.1) over tokio-rustls; each has its own task, so a
//! slow client holds only its own connection, and header, body and handshake reads are bounded
//! in time. The policy set and the certificate are reloaded when their files change (and the
//! policies on SIGHUP); a failed reload keeps the previous one serving. SIGTERM stops accepting
//! and lets requests in flight finish.

pub mod cloudrun;
mod reload;
mod routes;
pub mod tls;

use crate::metrics::Metrics;
use crate::policy::PolicySet;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

/// Everything `serve` is told.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub metrics_listen: Option<SocketAddr>,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_ca: Option<PathBuf>,
    pub policies: Vec<PathBuf>,
    pub params: Vec<PathBuf>,
    pub max_body_bytes: usize,
    pub max_connections: usize,
    /// Longest wait for a TLS handshake, for request headers, and for a request body.
    pub read_timeout: Duration,
    /// How often the certificate and policy files are checked for changes.
    pub reload_interval: Duration,
    /// Longest wait for requests in flight at shutdown.
    pub shutdown_grace: Duration,
    /// The Cloud Run API gate listener, when enabled.
    pub cloud_run: Option<cloudrun::CloudRunConfig>,
    /// The cost limits policies are compiled with (a reload over them is refused).
    pub compile_options: crate::policy::CompileOptions,
    /// Whether a reload may bind fewer policies than the serving set (never none).
    pub allow_policy_shrink: bool,
    /// Namespace labels given for `namespaceSelector` (the AdmissionReview carries none).
    pub namespaces: crate::namespaces::KnownNamespaces,
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("cannot serve these policies: {0}")]
    Policies(#[from] crate::policy::PolicyError),
}

/// What every request handler shares: immutable but for the swappable policy set.
pub struct App {
    pub config: ServerConfig,
    pub metrics: Metrics,
    policies: RwLock<Option<Arc<PolicySet>>>,
}

impl App {
    /// The serving policy set: a request keeps the one it started with.
    pub fn policy_set(&self) -> Option<Arc<PolicySet>> {
        self.policies.read().ok().and_then(|p| p.clone())
    }

    fn set_policies(&self, set: PolicySet) {
        let count = set.policies.len() as i64;
        if let Ok(mut current) = self.policies.write() {
            *current = Some(Arc::new(set));
        }
        self.metrics.policy_generation.inc();
        self.metrics.policies_loaded.set(count);
        self.metrics.policy_loaded_seconds.set(unix_now());
    }
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The addresses actually bound (port 0 picks one).
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    pub listen: SocketAddr,
    pub metrics: Option<SocketAddr>,
    /// The Cloud Run API gate, and whether it speaks TLS.
    pub cloud_run: Option<(SocketAddr, bool)>,
}

/// Binds the listeners, loads the certificate, and serves until `shutdown` resolves; then stops
/// accepting and waits up to the grace period for requests in flight. `on_bound` is told the
/// bound addresses once the server accepts connections. The policy set is loaded first: one that
/// binds no policy is an error; one that fails otherwise leaves `/readyz` answering 503 until
/// the files change and load.
pub async fn run(
    config: ServerConfig,
    shutdown: impl std::future::Future<Output = ()>,
    reload_now: watch::Receiver<()>,
    on_bound: impl FnOnce(Bound),
) -> Result<(), ServerError> {
    let pair = tls::PemPair::read(&config.cert, &config.key)?;
    let store = tls::CertStore::new(pair.certified_key(&config.cert, &config.key)?);
    let tls_config = Arc::new(tls::server_config(
        Arc::clone(&store),
        config.client_ca.as_ref(),
    )?);
    let listener =
        TcpListener::bind(config.listen)
            .await
            .map_err(|source| ServerError::Listen {
                addr: config.listen,
                source,
            })?;
    let metrics_listener = match config.metrics_listen {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .map_err(|source| ServerError::Listen { addr, source })?,
        ),
        None => None,
    };
    let cloud_run_listener =
        match &config.cloud_run {
            Some(gate) => Some(TcpListener::bind(gate.listen).await.map_err(|source| {
                ServerError::Listen {
                    addr: gate.listen,
                    source,
                }
            })?),
            None => None,
        };
    // The API gate serves users' gcloud: no client certificates, whatever the webhook requires.
    let gate_tls = Arc::new(tls::server_config(Arc::clone(&store), None)?);
    let upstream_client = match &config.cloud_run {
        Some(gate) => Some(crate::http_client::HttpClient::new(&gate.client_options())?),
        None => None,
    };
    let app = Arc::new(App {
        config: config.clone(),
        metrics: Metrics::new(),
        policies: RwLock::new(None),
    });
    if let Some(expiry) = tls::expiry_unix(&pair.cert) {
        app.metrics.certificate_expiry_seconds.set(expiry as f64);
    }
    let seen_policies = reload::initial_load(&app).await?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let reloader = tokio::spawn(reload::watch(
        Arc::clone(&app),
        store,
        pair,
        seen_policies,
        reload_now,
        stop_rx.clone(),
    ));
    on_bound(Bound {
        listen: listener.local_addr().unwrap_or(config.listen),
        metrics: metrics_listener.as_ref().and_then(|l| l.local_addr().ok()),
        cloud_run: match (&cloud_run_listener, &config.cloud_run) {
            (Some(l), Some(gate)) => l.local_addr().ok().map(|a| (a, !gate.plaintext)),
            _ => None,
        },
    });
    let metrics_task = metrics_listener
        .map(|l| tokio::spawn(routes::serve_metrics(l, Arc::clone(&app), stop_rx.clone())));
    let gate_task = match (cloud_run_listener, &config.cloud_run, upstream_client) {
        (Some(listener), Some(gate_config), Some(client)) => {
            let gate = Arc::new(cloudrun::Gate {
                app: Arc::clone(&app),
                config: gate_config.clone(),
                client,
            });
            let acceptor =
                (!gate_config.plaintext).then(|| tokio_rustls::TlsAcceptor::from(gate_tls));
            Some(tokio::spawn(serve_connections(
                listener,
                acceptor,
                Arc::clone(&app),
                stop_rx.clone(),
                move |request| cloudrun::handle(request, Arc::clone(&gate)),
            )))
        }
        _ => None,
    };
    let acceptor = Some(tokio_rustls::TlsAcceptor::from(tls_config));
    let webhook_app = Arc::clone(&app);
    let serving = serve_connections(
        listener,
        acceptor,
        Arc::clone(&app),
        stop_rx,
        move |request| routes::handle(request, Arc::clone(&webhook_app)),
    );
    tokio::pin!(serving);
    tokio::select! {
        _ = &mut serving => {}
        _ = shutdown => {
            tracing::info!("shutting down: no new connections, finishing requests in flight");
            let _ = stop_tx.send(true);
            serving.await;
        }
    }
    if let Some(task) = gate_task {
        let _ = task.await;
    }
    reloader.abort();
    if let Some(task) = metrics_task {
        task.abort();
    }
    Ok(())
}

/// Accepts connections (TLS, or plain HTTP without an acceptor) until told to stop, then waits
/// for open ones (up to the grace period). Each request goes to `handler`.
async fn serve_connections<H, F, B>(
    listener: TcpListener,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    app: Arc<App>,
    mut stop: watch::Receiver<bool>,
    handler: H,
) where
    H: Fn(hyper::Request<hyper::body::Incoming>) -> F + Clone + Send + Sync + 'static,
    F: std::future::Future<Output = Result<hyper::Response<B>, std::convert::Infallible>>
        + Send
        + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let limit = Arc::new(Semaphore::new(app.config.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&limit).acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = stop.changed() => break,
        };
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => break,
        };
        let acceptor = acceptor.clone();
        let timeout = app.config.read_timeout;
        let watcher = graceful.watcher();
        let handler = handler.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let service = hyper::service::service_fn(handler);
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(timeout)
                .keep_alive(true);
            let Some(acceptor) = acceptor else {
                let connection = builder.serve_connection(TokioIo::new(tcp), service);
                if let Err(e) = watcher.watch(connection).await {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            };
            let stream = match tokio::time::timeout(timeout, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            if let Err(e) = watcher.watch(connection).await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    let grace = app.config.shutdown_grace;
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight after {grace:?}: closing them");
    }
}
