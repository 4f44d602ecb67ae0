//! The Google API client of the live checks: one bearer token source, the project's one
//! outbound HTTP client ([`crate::http_client`]), bounded retries with jittered exponential
//! backoff on 429, 5xx and transport failures, a TTL cache of positive and NOT_FOUND answers,
//! a cap on concurrent calls, and per-API endpoint overrides.
//!
//! Tokens only ever go into the `Authorization` header, marked sensitive; neither the client's
//! nor a request's `Debug` shows them, and nothing here logs headers.

use super::{Api, Endpoints, GoogleError};
use crate::http_client::{ClientOptions, HttpClient};
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use hyper::{Method, Request, StatusCode};
use std::collections::HashMap;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// An OAuth 2 access token. Its `Debug` does not show it.
#[derive(Clone)]
pub struct AccessToken(String);

impl AccessToken {
    pub fn new(token: impl Into<String>) -> AccessToken {
        AccessToken(token.into())
    }
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessToken(****)")
    }
}

/// A boxed future, as [`TokenSource`] returns.
pub type TokenFuture<'a> =
    Pin<Box<dyn Future<Output = Result<AccessToken, GoogleError>> + Send + 'a>>;

/// Where access tokens come from: Application Default Credentials in production
/// ([`AdcTokenSource`]), a fixed token in tests. Called before every attempt; a source caches
/// and refreshes tokens itself.
pub trait TokenSource: Send + Sync {
    fn token(&self) -> TokenFuture<'_>;
    /// A token fetched afresh, not from a cache: asked once when Google answers 401 (the
    /// cached token was revoked or expired early). [`TokenSource::token`] then gives it too.
    fn refresh(&self) -> TokenFuture<'_> {
        self.token()
    }
}

/// What happened on a call, for metrics (see [`GoogleClient::with_observer`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallEvent {
    /// A request was sent to Google (each attempt counts).
    Sent,
    /// The answer came from the cache.
    CacheHit,
    /// The call ended in an error (after its retries).
    Failed,
}

/// Receives every [`CallEvent`], by API.
pub trait CallObserver: Send + Sync {
    fn observe(&self, api: Api, event: CallEvent);
}

/// The scope asked for: Cloud KMS, Resource Manager and Artifact Registry all accept it.
pub const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

/// Application Default Credentials through the `gcp_auth` crate: the service-account file named
/// by `GOOGLE_APPLICATION_CREDENTIALS`, gcloud's application-default user credentials, the
/// metadata server (GCE, GKE Workload Identity, Cloud Run), then `gcloud auth
/// print-access-token`. `gcp_auth` caches each token until shortly before it expires.
pub struct AdcTokenSource {
    provider: Mutex<Arc<dyn gcp_auth::TokenProvider>>,
}

impl AdcTokenSource {
    /// Finds the credentials (this may ask the metadata server whether it exists).
    pub async fn discover() -> Result<AdcTokenSource, GoogleError> {
        let provider = gcp_auth::provider()
            .await
            .map_err(|e| GoogleError::Token(e.to_string()))?;
        Ok(AdcTokenSource {
            provider: Mutex::new(provider),
        })
    }

    fn provider(&self) -> Arc<dyn gcp_auth::TokenProvider> {
        Arc::clone(&self.provider.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl std::fmt::Debug for AdcTokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdcTokenSource")
    }
}

impl TokenSource for AdcTokenSource {
    fn token(&self) -> TokenFuture<'_> {
        Box::pin(async move {
            let token = self
                .provider()
                .token(&[SCOPE])
                .await
                .map_err(|e| GoogleError::Token(e.to_string()))?;
            Ok(AccessToken::new(token.as_str()))
        })
    }

    /// `gcp_auth` keeps its token until shortly before it expires: a new provider (found as
    /// the first was) has none cached, so it fetches one.
    fn refresh(&self) -> TokenFuture<'_> {
        Box::pin(async move {
            let provider = gcp_auth::provider()
                .await
                .map_err(|e| GoogleError::Token(e.to_string()))?;
            *self.provider.lock().unwrap_or_else(|e| e.into_inner()) = provider;
            self.token().await
        })
    }
}

/// An access token read from a file, as gcloud's `--access-token-file` takes one (a token
/// minted elsewhere: CI's workload identity federation, a test). Read on first use, and read
/// again when Google refuses it (401): whoever writes the file refreshes it.
pub struct FileTokenSource {
    path: std::path::PathBuf,
    cached: Mutex<Option<AccessToken>>,
}

impl FileTokenSource {
    pub fn new(path: std::path::PathBuf) -> FileTokenSource {
        FileTokenSource {
            path,
            cached: Mutex::new(None),
        }
    }

    fn read(&self) -> Result<AccessToken, GoogleError> {
        let text = std::fs::read_to_string(&self.path)
            .map_err(|e| GoogleError::Token(format!("cannot read {}: {e}", self.path.display())))?;
        let token = text.trim();
        if token.is_empty() || token.contains(char::is_whitespace) {
            return Err(GoogleError::Token(format!(
                "{} does not hold one access token",
                self.path.display()
            )));
        }
        let token = AccessToken::new(token);
        *self.cached.lock().unwrap_or_else(|e| e.into_inner()) = Some(token.clone());
        Ok(token)
    }
}

impl std::fmt::Debug for FileTokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileTokenSource")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl TokenSource for FileTokenSource {
    fn token(&self) -> TokenFuture<'_> {
        Box::pin(async move {
            let cached = self
                .cached
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            match cached {
                Some(token) => Ok(token),
                None => self.read(),
            }
        })
    }

    fn refresh(&self) -> TokenFuture<'_> {
        Box::pin(async move { self.read() })
    }
}

/// How the client behaves.
#[derive(Debug, Clone)]
pub struct GoogleClientOptions {
    pub endpoints: Endpoints,
    /// Transport settings (timeouts, an extra CA for a private endpoint or a test).
    pub http: ClientOptions,
    /// Attempts per call, the first included (at least 1).
    pub max_attempts: u32,
    /// The first retry waits up to this long; each further one twice as long.
    pub initial_backoff: Duration,
    /// No wait between attempts is longer.
    pub max_backoff: Duration,
    /// How long an answer is reused.
    pub positive_ttl: Duration,
    /// How long a NOT_FOUND is reused.
    pub negative_ttl: Duration,
    /// Calls to Google in flight at once, across all APIs.
    pub max_concurrent: usize,
    /// Largest response body read.
    pub max_response_bytes: usize,
}

impl Default for GoogleClientOptions {
    fn default() -> GoogleClientOptions {
        GoogleClientOptions {
            endpoints: Endpoints::default(),
            http: ClientOptions {
                response_timeout: Duration::from_secs(10),
                ..ClientOptions::default()
            },
            max_attempts: 4,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            positive_ttl: Duration::from_secs(300),
            negative_ttl: Duration::from_secs(60),
            max_concurrent: 8,
            max_response_bytes: 1 << 20,
        }
    }
}

/// A cached answer: the JSON, or `None` for NOT_FOUND.
type Answer = Option<Arc<serde_json::Value>>;

struct CacheEntry {
    expires: Instant,
    answer: Answer,
}

/// One call: which API, what for (for messages), the request, the permission it needs.
pub(crate) struct Call<'a> {
    pub api: Api,
    pub method: Method,
    /// The path after the endpoint, e.g. `v1/projects/p`.
    pub path: String,
    pub body: Option<serde_json::Value>,
    /// The resource, for messages.
    pub resource: &'a str,
    /// The IAM permission the gate's identity needs for this call, named on a 403.
    pub permission: &'static str,
}

/// The client. Cheap to clone; clones share the cache and the concurrency cap.
#[derive(Clone)]
pub struct GoogleClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: HttpClient,
    tokens: Arc<dyn TokenSource>,
    options: GoogleClientOptions,
    cache: Mutex<HashMap<String, CacheEntry>>,
    permits: Semaphore,
    observer: Option<Arc<dyn CallObserver>>,
}

impl std::fmt::Debug for GoogleClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cached = self.inner.cache.lock().map(|c| c.len()).unwrap_or(0);
        f.debug_struct("GoogleClient")
            .field("options", &self.inner.options)
            .field("cached", &cached)
            .finish_non_exhaustive()
    }
}

impl GoogleClient {
    pub fn new(
        options: GoogleClientOptions,
        tokens: Arc<dyn TokenSource>,
    ) -> Result<GoogleClient, GoogleError> {
        let http =
            HttpClient::new(&options.http).map_err(|e| GoogleError::Client(e.to_string()))?;
        let permits = Semaphore::new(options.max_concurrent.max(1));
        Ok(GoogleClient {
            inner: Arc::new(Inner {
                http,
                tokens,
                options,
                cache: Mutex::new(HashMap::new()),
                permits,
                observer: None,
            }),
        })
    }

    /// [`GoogleClient::new`], telling `observer` about every call (metrics).
    pub fn with_observer(
        options: GoogleClientOptions,
        tokens: Arc<dyn TokenSource>,
        observer: Arc<dyn CallObserver>,
    ) -> Result<GoogleClient, GoogleError> {
        let mut client = GoogleClient::new(options, tokens)?;
        if let Some(inner) = Arc::get_mut(&mut client.inner) {
            inner.observer = Some(observer);
        }
        Ok(client)
    }

    fn observe(&self, api: Api, event: CallEvent) {
        if let Some(observer) = &self.inner.observer {
            observer.observe(api, event);
        }
    }

    /// Builds the HTTP request of a call, with the token in a sensitive header.
    pub(crate) fn build_request(
        &self,
        call: &Call<'_>,
        token: &AccessToken,
    ) -> Result<Request<Full<Bytes>>, GoogleError> {
        let url = format!(
            "{}{}",
            self.inner.options.endpoints.base(call.api),
            call.path
        );
        let mut authorization =
            HeaderValue::try_from(format!("Bearer {}", token.0)).map_err(|_| {
                GoogleError::Token("the access token is not a valid header value".into())
            })?;
        authorization.set_sensitive(true);
        let body = match &call.body {
            Some(json) => Bytes::from(json.to_string()),
            None => Bytes::new(),
        };
        let mut builder = Request::builder()
            .method(call.method.clone())
            .uri(&url)
            .header(AUTHORIZATION, authorization)
            .header(ACCEPT, "application/json");
        if call.body.is_some() {
            builder = builder.header(CONTENT_TYPE, "application/json");
        }
        builder
            .body(Full::new(body))
            .map_err(|e| GoogleError::Endpoint {
                api: call.api.name().to_string(),
                message: format!("{url}: {e}"),
            })
    }

    fn cache_key(&self, call: &Call<'_>) -> String {
        let body = call
            .body
            .as_ref()
            .map(|b| b.to_string())
            .unwrap_or_default();
        format!(
            "{} {}{} {body}",
            call.method,
            self.inner.options.endpoints.base(call.api),
            call.path
        )
    }

    fn cached(&self, key: &str) -> Option<Answer> {
        let cache = self.inner.cache.lock().ok()?;
        let entry = cache.get(key)?;
        (entry.expires > Instant::now()).then(|| entry.answer.clone())
    }

    fn remember(&self, key: String, answer: &Answer) {
        let ttl = match answer {
            Some(_) => self.inner.options.positive_ttl,
            None => self.inner.options.negative_ttl,
        };
        if ttl.is_zero() {
            return;
        }
        if let Ok(mut cache) = self.inner.cache.lock() {
            let now = Instant::now();
            cache.retain(|_, e| e.expires > now);
            cache.insert(
                key,
                CacheEntry {
                    expires: now + ttl,
                    answer: answer.clone(),
                },
            );
        }
    }

    /// Makes a call (or answers it from the cache): `Ok(None)` when Google says NOT_FOUND.
    pub(crate) async fn call(&self, call: Call<'_>) -> Result<Answer, GoogleError> {
        let key = self.cache_key(&call);
        if let Some(answer) = self.cached(&key) {
            tracing::debug!(
                api = call.api.name(),
                resource = call.resource,
                "google api cache hit"
            );
            self.observe(call.api, CallEvent::CacheHit);
            return Ok(answer);
        }
        let _permit = self
            .inner
            .permits
            .acquire()
            .await
            .map_err(|_| GoogleError::Client("the client is closed".into()))?;
        // Another call may have filled the cache while this one waited.
        if let Some(answer) = self.cached(&key) {
            self.observe(call.api, CallEvent::CacheHit);
            return Ok(answer);
        }
        let answer = self.call_with_retries(&call).await.inspect_err(|_| {
            self.observe(call.api, CallEvent::Failed);
        })?;
        self.remember(key, &answer);
        Ok(answer)
    }

    async fn call_with_retries(&self, call: &Call<'_>) -> Result<Answer, GoogleError> {
        let options = &self.inner.options;
        let attempts = options.max_attempts.max(1);
        let mut attempt = 1;
        let mut refreshed = false;
        loop {
            let (error, retry_after) = match self.attempt(call).await {
                Ok(answer) => return Ok(answer),
                Err(Attempt::Final(error)) => return Err(error),
                // The token was refused: once, a fresh one (not counted as an attempt).
                Err(Attempt::Unauthorized(error)) if !refreshed => {
                    refreshed = true;
                    tracing::debug!(
                        api = call.api.name(),
                        resource = call.resource,
                        "google api answered 401: fetching a fresh token"
                    );
                    if self.inner.tokens.refresh().await.is_err() {
                        return Err(error);
                    }
                    continue;
                }
                Err(Attempt::Unauthorized(error)) => return Err(error),
                Err(Attempt::Retryable(error, retry_after)) => (error, retry_after),
            };
            tracing::debug!(
                api = call.api.name(),
                resource = call.resource,
                attempt,
                error = %error,
                "google api call failed, may retry"
            );
            if attempt >= attempts {
                return Err(GoogleError::Exhausted {
                    api: call.api.name(),
                    resource: call.resource.to_string(),
                    attempts,
                    last: Box::new(error),
                });
            }
            let wait = backoff(options, attempt).max(retry_after.unwrap_or_default());
            tokio::time::sleep(wait.min(options.max_backoff)).await;
            attempt += 1;
        }
    }

    async fn attempt(&self, call: &Call<'_>) -> Result<Answer, Attempt> {
        let token = self.inner.tokens.token().await.map_err(Attempt::Final)?;
        let request = self.build_request(call, &token).map_err(Attempt::Final)?;
        self.observe(call.api, CallEvent::Sent);
        let response = self
            .inner
            .http
            .send_collect(request, self.inner.options.max_response_bytes)
            .await
            .map_err(|e| {
                Attempt::Retryable(
                    GoogleError::Transport {
                        api: call.api.name(),
                        resource: call.resource.to_string(),
                        message: e.to_string(),
                    },
                    None,
                )
            })?;
        let status = response.status();
        if status.is_success() {
            let value: serde_json::Value =
                serde_json::from_slice(response.body()).map_err(|e| {
                    Attempt::Final(GoogleError::Decode {
                        api: call.api.name(),
                        resource: call.resource.to_string(),
                        message: e.to_string(),
                    })
                })?;
            return Ok(Some(Arc::new(value)));
        }
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let error = super::api_error(call, status, response.body());
        if status == StatusCode::UNAUTHORIZED {
            return Err(Attempt::Unauthorized(error));
        }
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            Err(Attempt::Retryable(error, retry_after))
        } else {
            Err(Attempt::Final(error))
        }
    }
}

enum Attempt {
    Final(GoogleError),
    /// 401: the token was refused.
    Unauthorized(GoogleError),
    Retryable(GoogleError, Option<Duration>),
}

/// The wait before retry `attempt` (1-based): a random time between half and all of
/// `initial * 2^(attempt-1)`, capped at `max_backoff` ("equal jitter").
fn backoff(options: &GoogleClientOptions, attempt: u32) -> Duration {
    let full = options
        .initial_backoff
        .saturating_mul(1u32 << (attempt - 1).min(16))
        .min(options.max_backoff);
    let half = full / 2;
    let spread = (full - half).as_nanos() as u64;
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    half + Duration::from_nanos(if spread == 0 {
        0
    } else {
        random % (spread + 1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_bounds_and_is_capped() {
        let options = GoogleClientOptions {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(500),
            ..GoogleClientOptions::default()
        };
        for (attempt, low, high) in [
            (1, 50, 100),
            (2, 100, 200),
            (3, 200, 400),
            (4, 250, 500),
            (30, 250, 500),
        ] {
            for _ in 0..20 {
                let wait = backoff(&options, attempt);
                assert!(
                    wait >= Duration::from_millis(low) && wait <= Duration::from_millis(high),
                    "attempt {attempt}: {wait:?}"
                );
            }
        }
    }
}
