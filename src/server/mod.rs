//! `cmek-gate serve`: the HTTPS admission webhook and check endpoint, a thin I/O edge over the
//! engine. Every verdict comes from [`crate::admission::review`] or [`crate::batch::check_inputs`],
//! the functions the CLI uses.
//!
//! Connections are served by hyper (HTTP/1.1) over tokio-rustls; each has its own task, so a
//! slow client holds only its own connection, and header, body and handshake reads are bounded
//! in time. The policy set and the certificate are reloaded when their files change (and the
//! policies on SIGHUP); a failed reload keeps the previous one serving. SIGTERM stops accepting
//! and lets requests in flight finish.

pub mod api_gate;
mod evaluation_pool;
mod reload;
mod routes;
pub mod tls;

use crate::limits::RequestLimits;
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
    pub cloud_run: Option<api_gate::CloudRunConfig>,
    /// The cost limits policies are compiled with (a reload over them is refused).
    pub compile_options: crate::policy::CompileOptions,
    /// Whether a reload may bind fewer policies than the serving set (never none).
    pub allow_policy_shrink: bool,
    /// Namespace labels given for `namespaceSelector` (the AdmissionReview carries none).
    pub namespaces: crate::namespaces::KnownNamespaces,
    /// The budgets of one request body (with `max_body_bytes`).
    pub request_limits: RequestLimits,
    /// Most evaluations (parsing and judging a body) running at once, each on one of as many
    /// evaluation threads.
    pub max_concurrent_evaluations: usize,
    /// Longest wait for an evaluation slot before answering 429.
    pub evaluation_queue_timeout: Duration,
    /// Live checks (`--live`): how Google is read.
    pub live: Option<crate::live::LiveSettings>,
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
    #[error("--live: cannot read Google: {0}")]
    Live(crate::google::GoogleError),
    #[error("cannot start the evaluation threads: {0}")]
    Threads(#[source] std::io::Error),
}

/// What every request handler shares: immutable but for the swappable policy set.
pub struct App {
    pub config: ServerConfig,
    pub metrics: Metrics,
    /// Live mode, shared by the webhooks and the API gate.
    pub live: Option<Arc<crate::live::Live>>,
    policies: RwLock<Option<Arc<PolicySet>>>,
    evaluations: Arc<Semaphore>,
    large_evaluations: Arc<Semaphore>,
    /// The threads evaluations run on, one per evaluation slot.
    evaluation_threads: evaluation_pool::EvaluationPool,
}

/// Why an evaluation did not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EvaluationError {
    /// Every evaluation slot stayed taken for the queue timeout: answer 429 with `Retry-After`.
    #[error("the server is busy: {slots} evaluations running, none finished within {waited:?}")]
    Busy { slots: usize, waited: Duration },
    /// The evaluation panicked.
    #[error("the evaluation failed")]
    Failed,
}

/// Bodies from this size on are large: they also take one of the fewer large-body slots, so
/// that however many arrive, they never hold every evaluation slot and small requests (an
/// ordinary AdmissionReview is a few KiB) are not queued behind them.
pub const LARGE_BODY_BYTES: usize = 256 * 1024;

/// After a large body's evaluation of `t` that refused it (over budget, unreadable), its
/// large-body slot stays taken for this many times `t`: refused large bodies get at most
/// 1/(1 + this) of a large-body slot's time, so that a stream of them (a label flood) cannot take
/// the CPU that other requests need.
pub const LARGE_BODY_REST: u32 = 9;

impl App {
    /// Runs `work` (parsing and judging a body of `body_bytes`: CPU-bound) on one of the
    /// evaluation threads ([`evaluation_pool`]), once one of the `--max-concurrent-evaluations`
    /// slots is free; a large body ([`LARGE_BODY_BYTES`]) first takes one of half as many
    /// large-body slots. A request waits at most the queue timeout for its slots. Every handler
    /// that parses or evaluates a body goes through here (or [`App::evaluate_refusing`]), so that
    /// hostile bodies can neither stall the async workers, nor take more than the slots, nor
    /// starve small requests.
    pub async fn evaluate<T, F>(&self, body_bytes: usize, work: F) -> Result<T, EvaluationError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.evaluate_refusing(body_bytes, work, |_| false).await
    }

    /// [`App::evaluate`], where `refused` tells from the result whether the body was refused
    /// unjudged (over budget, unreadable): the large-body slot of such a large body then rests
    /// ([`LARGE_BODY_REST`]).
    pub async fn evaluate_refusing<T, F, R>(
        &self,
        body_bytes: usize,
        work: F,
        refused: R,
    ) -> Result<T, EvaluationError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
        R: FnOnce(&T) -> bool,
    {
        let waited = self.config.evaluation_queue_timeout;
        let slots = self.config.max_concurrent_evaluations;
        let large = body_bytes >= LARGE_BODY_BYTES;
        let permits = tokio::time::timeout(waited, async {
            let large_permit = match large {
                true => Some(Arc::clone(&self.large_evaluations).acquire_owned().await?),
                false => None,
            };
            let permit = Arc::clone(&self.evaluations).acquire_owned().await?;
            Ok::<_, tokio::sync::AcquireError>((permit, large_permit))
        })
        .await;
        let Ok(Ok((permit, large_permit))) = permits else {
            self.metrics.evaluations_refused.inc();
            return Err(EvaluationError::Busy { slots, waited });
        };
        self.metrics.evaluations_running.inc();
        let result = self
            .evaluation_threads
            .run(move || {
                let _permit = permit;
                let started = std::time::Instant::now();
                (work(), started.elapsed())
            })
            .await;
        self.metrics.evaluations_running.dec();
        let (value, took) = result.map_err(|_| EvaluationError::Failed)?;
        if let Some(large_permit) = large_permit.filter(|_| refused(&value)) {
            tokio::spawn(async move {
                tokio::time::sleep(took * LARGE_BODY_REST).await;
                drop(large_permit);
            });
        }
        Ok(value)
    }

    /// The serving policy set: a request keeps the one it started with.
    pub fn policy_set(&self) -> Option<Arc<PolicySet>> {
        self.policies.read().ok().and_then(|p| p.clone())
    }

    fn set_policies(&self, set: PolicySet) {
        let count = set.policies.len() as i64;
        let ignored = set.unselected_params().len() as i64;
        if let Ok(mut current) = self.policies.write() {
            *current = Some(Arc::new(set));
        }
        self.metrics.policy_generation.inc();
        self.metrics.policies_loaded.set(count);
        self.metrics.ignored_params.set(ignored);
        self.metrics.policy_loaded_seconds.set(unix_now());
    }
}

/// Half the evaluation slots, at least one.
fn large_slots(slots: usize) -> usize {
    (slots / 2).max(1)
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
    let metrics = Metrics::new();
    let live = match &config.live {
        None => None,
        Some(settings) => {
            let observer: Arc<dyn crate::google::CallObserver> = Arc::new(metrics.google.clone());
            Some(Arc::new(
                settings
                    .live_on_current_runtime(Some(observer))
                    .await
                    .map_err(ServerError::Live)?,
            ))
        }
    };
    let app = Arc::new(App {
        config: config.clone(),
        metrics,
        live,
        policies: RwLock::new(None),
        evaluations: Arc::new(Semaphore::new(config.max_concurrent_evaluations.max(1))),
        large_evaluations: Arc::new(Semaphore::new(large_slots(
            config.max_concurrent_evaluations,
        ))),
        evaluation_threads: evaluation_pool::EvaluationPool::new(config.max_concurrent_evaluations)
            .map_err(ServerError::Threads)?,
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
            let gate = Arc::new(api_gate::Gate {
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
                move |request| api_gate::handle(request, Arc::clone(&gate)),
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

/// Accepts connections (TLS, or plain HTTP without an acceptor) until told to stop; then serves
/// the connections the kernel had already accepted (still in the listen backlog), and waits for
/// open ones, up to the grace period. Each request goes to `handler`.
///
/// At the stop, a connection finishes what it was accepted for: a TLS handshake in progress
/// completes, a connection that has not sent its first request yet gets to send it (within the
/// header read timeout), and a request in flight is answered; then the connection closes.
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
    // Every connection task holds a sender: when all are dropped, every connection is done.
    let (open, mut all_closed) = tokio::sync::mpsc::channel::<()>(1);
    let connection_stop = stop.clone();
    let spawn = |tcp: tokio::net::TcpStream,
                 peer: SocketAddr,
                 permit: Option<tokio::sync::OwnedSemaphorePermit>| {
        let connection = Connection {
            acceptor: acceptor.clone(),
            timeout: app.config.read_timeout,
            stop: connection_stop.clone(),
            peer,
        };
        let open = open.clone();
        let handler = handler.clone();
        tokio::spawn(async move {
            let (_permit, _open) = (permit, open);
            connection.serve(tcp, handler).await;
        });
    };
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
        spawn(tcp, peer, Some(permit));
    }
    // The backlog: connections the kernel completed before the stop are served, not reset.
    let mut backlog = 0usize;
    if let Ok(listener) = listener.into_std() {
        while let Ok((tcp, peer)) = listener.accept() {
            let tcp = tcp
                .set_nonblocking(true)
                .and_then(|()| tokio::net::TcpStream::from_std(tcp));
            if let Ok(tcp) = tcp {
                backlog += 1;
                spawn(tcp, peer, None);
            }
        }
    }
    if backlog > 0 {
        tracing::info!(
            connections = backlog,
            "serving the connections accepted before the stop"
        );
    }
    drop(open);
    let grace = app.config.shutdown_grace;
    if tokio::time::timeout(grace, all_closed.recv())
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight after {grace:?}: closing them");
    }
}

/// One accepted connection.
struct Connection {
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    timeout: Duration,
    stop: watch::Receiver<bool>,
    peer: SocketAddr,
}

/// A byte stream hyper can serve: plain TCP or TLS.
trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin> Stream for T {}

impl Connection {
    async fn serve<H, F, B>(self, tcp: tokio::net::TcpStream, handler: H)
    where
        H: Fn(hyper::Request<hyper::body::Incoming>) -> F + Send + Sync + 'static,
        F: std::future::Future<Output = Result<hyper::Response<B>, std::convert::Infallible>>
            + Send
            + 'static,
        B: hyper::body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let Connection {
            acceptor,
            timeout,
            mut stop,
            peer,
        } = self;
        // A handshake in progress completes, stop or not (bounded by the read timeout).
        let io: Box<dyn Stream> = match acceptor {
            None => Box::new(tcp),
            Some(acceptor) => match tokio::time::timeout(timeout, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => Box::new(stream),
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            },
        };
        let requests = Arc::new(tokio::sync::Notify::new());
        let seen = Arc::clone(&requests);
        let service = hyper::service::service_fn(move |request| {
            seen.notify_one();
            handler(request)
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(timeout)
            .keep_alive(true);
        let connection = builder.serve_connection(TokioIo::new(io), service);
        tokio::pin!(connection);
        let ended = tokio::select! {
            ended = connection.as_mut() => Some(ended),
            _ = stop.wait_for(|stopped| *stopped) => None,
        };
        let ended = match ended {
            Some(ended) => ended,
            None => {
                // Stopping. A connection that has not sent a request yet gets to send one: it
                // was accepted to be answered. (A request seen earlier left a notification.)
                let ended = tokio::select! {
                    ended = connection.as_mut() => Some(ended),
                    _ = requests.notified() => None,
                };
                match ended {
                    Some(ended) => ended,
                    None => {
                        connection.as_mut().graceful_shutdown();
                        connection.await
                    }
                }
            }
        };
        if let Err(e) = ended {
            tracing::debug!(%peer, error = %e, "connection ended with an error");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(slots: usize, queue_timeout: Duration) -> Arc<App> {
        let config = ServerConfig {
            listen: ([127, 0, 0, 1], 0).into(),
            metrics_listen: None,
            cert: PathBuf::new(),
            key: PathBuf::new(),
            client_ca: None,
            policies: Vec::new(),
            params: Vec::new(),
            max_body_bytes: 1024,
            max_connections: 1,
            read_timeout: Duration::from_secs(1),
            reload_interval: Duration::from_secs(1),
            shutdown_grace: Duration::from_secs(1),
            cloud_run: None,
            compile_options: Default::default(),
            allow_policy_shrink: false,
            namespaces: Default::default(),
            request_limits: RequestLimits::default(),
            max_concurrent_evaluations: slots,
            evaluation_queue_timeout: queue_timeout,
            live: None,
        };
        Arc::new(App {
            config,
            metrics: Metrics::new(),
            live: None,
            policies: RwLock::new(None),
            evaluations: Arc::new(Semaphore::new(slots)),
            large_evaluations: Arc::new(Semaphore::new(large_slots(slots))),
            evaluation_threads: evaluation_pool::EvaluationPool::new(slots).unwrap(),
        })
    }

    /// An evaluation of a `body_bytes` body holding its slot, running.
    struct Holder {
        /// The evaluation's outcome, once released.
        task: tokio::task::JoinHandle<Result<(), EvaluationError>>,
        /// The name of the thread its work runs on.
        thread: Option<String>,
        /// Sending (or dropping) it ends the work.
        release: std::sync::mpsc::Sender<()>,
    }

    /// Starts an evaluation of `body_bytes` whose work waits for [`Holder::release`]; returns
    /// once the work is running.
    async fn hold_a_slot(app: &Arc<App>, body_bytes: usize) -> Holder {
        let (started, running) = tokio::sync::oneshot::channel();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let task = tokio::spawn({
            let app = Arc::clone(app);
            async move {
                app.evaluate(body_bytes, move || {
                    let _ = started.send(std::thread::current().name().map(str::to_owned));
                    released.recv().unwrap();
                })
                .await
            }
        });
        let thread = running.await.unwrap();
        Holder {
            task,
            thread,
            release,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn evaluations_beyond_the_slots_wait_then_are_refused() {
        let waited = Duration::from_millis(500);
        let app = app(1, waited);
        let holder = hold_a_slot(&app, 0).await;
        // The work runs on an evaluation thread, not on an async worker.
        assert_eq!(holder.thread.as_deref(), Some("cmek-gate-evaluation-0"));
        assert_eq!(
            app.evaluate(0, || 2).await,
            Err(EvaluationError::Busy { slots: 1, waited })
        );
        assert_eq!(app.metrics.evaluations_refused.get(), 1);
        assert_eq!(app.metrics.evaluations_running.get(), 1);
        // A request that finds the slot freed within the queue timeout is evaluated.
        let waiting = tokio::spawn({
            let app = Arc::clone(&app);
            async move { app.evaluate(0, || 3).await }
        });
        holder.release.send(()).unwrap();
        assert_eq!(holder.task.await.unwrap(), Ok(()));
        assert_eq!(waiting.await.unwrap(), Ok(3));
        assert_eq!(app.metrics.evaluations_running.get(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refused_large_body_rests_its_slot_and_a_judged_one_does_not() {
        let waited = Duration::from_millis(200);
        let app = app(2, waited);
        let work = || std::thread::sleep(Duration::from_millis(50));
        // Judged: the next large body gets the slot at once.
        assert_eq!(
            app.evaluate_refusing(LARGE_BODY_BYTES, work, |_| false)
                .await,
            Ok(())
        );
        assert_eq!(app.evaluate(LARGE_BODY_BYTES, || 1).await, Ok(1));
        // Refused after 50 ms of work: the slot rests at least 450 ms, longer than the wait.
        assert_eq!(
            app.evaluate_refusing(LARGE_BODY_BYTES, work, |_| true)
                .await,
            Ok(())
        );
        assert_eq!(
            app.evaluate(LARGE_BODY_BYTES, || 2).await,
            Err(EvaluationError::Busy { slots: 2, waited })
        );
        // Small bodies are not held back meanwhile.
        assert_eq!(app.evaluate(1024, || 3).await, Ok(3));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn large_bodies_never_take_every_slot() {
        let waited = Duration::from_millis(300);
        let app = app(2, waited);
        let holder = hold_a_slot(&app, LARGE_BODY_BYTES).await;
        // The one large-body slot is taken: a second large body waits, then is refused...
        assert_eq!(
            app.evaluate(LARGE_BODY_BYTES, || ()).await,
            Err(EvaluationError::Busy { slots: 2, waited })
        );
        // ...while a small one takes the other slot at once.
        assert_eq!(app.evaluate(LARGE_BODY_BYTES - 1, || 7).await, Ok(7));
        holder.release.send(()).unwrap();
        assert_eq!(holder.task.await.unwrap(), Ok(()));
    }
}
