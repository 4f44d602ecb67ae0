//! The client against a local fake of Google's APIs: a small hyper server on loopback over
//! real TLS (a CA made at test time), standing in for Cloud KMS, Resource Manager and Artifact
//! Registry. It answers in the shapes of the APIs' discovery documents and Google's error
//! format, and counts what it receives. No test reaches Google: tokens come from a fixed-token
//! source, never from Application Default Credentials.

use super::client::{AccessToken, Call, TokenFuture, TokenSource};
use super::resources::{KeyName, RepositoryName};
use super::{Api, GoogleClient, GoogleClientOptions};
use crate::server::tls::{server_config, CertStore, PemPair};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, StatusCode};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TOKEN: &str = "fixed-test-token-6f1c9a";
const KEYS: &str = "projects/kms-project/locations/europe-west1/keyRings/ring/cryptoKeys";
const AGENT: &str =
    "serviceAccount:service-123456789012@serverless-robot-prod.iam.gserviceaccount.com";

/// A token source that always gives the same token (tests never ask Google for one).
struct FixedToken(&'static str);

impl TokenSource for FixedToken {
    fn token(&self) -> TokenFuture<'_> {
        Box::pin(async move { Ok(AccessToken::new(self.0)) })
    }
}

/// A request as the fake saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path_and_query: String,
    authorization: String,
    body: String,
}

#[derive(Default)]
struct FakeState {
    seen: Mutex<Vec<Seen>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

/// The stand-in for Google's APIs.
struct FakeGoogle {
    url: String,
    ca: PathBuf,
    state: Arc<FakeState>,
    _dir: tempfile::TempDir,
}

impl FakeGoogle {
    async fn start() -> FakeGoogle {
        let dir = tempfile::tempdir().unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let bundle = crate::certs::generate(&crate::certs::CertRequest {
            names: vec!["127.0.0.1".into(), "localhost".into()],
            client: None,
            valid_days: 1,
            now_unix: now,
        })
        .unwrap();
        let ca = dir.path().join("ca.crt");
        std::fs::write(&ca, &bundle.ca.cert_pem).unwrap();
        let pair = PemPair {
            cert: bundle.server.cert_pem.into_bytes(),
            key: bundle.server.key_pem.into_bytes(),
        };
        let key = pair
            .certified_key(Path::new("server.crt"), Path::new("server.key"))
            .unwrap();
        let config = server_config(CertStore::new(key), None).unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://{}/", listener.local_addr().unwrap());
        let state = Arc::new(FakeState::default());
        let shared = Arc::clone(&state);
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                let state = Arc::clone(&shared);
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper::service::service_fn(move |request| {
                        let state = Arc::clone(&state);
                        async move { Ok::<_, std::convert::Infallible>(answer(state, request).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        FakeGoogle {
            url,
            ca,
            state,
            _dir: dir,
        }
    }

    fn client(&self, adjust: impl FnOnce(&mut GoogleClientOptions)) -> GoogleClient {
        self.client_with_token(TOKEN, adjust)
    }

    fn client_with_token(
        &self,
        token: &'static str,
        adjust: impl FnOnce(&mut GoogleClientOptions),
    ) -> GoogleClient {
        let mut options = GoogleClientOptions {
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(5),
            ..GoogleClientOptions::default()
        };
        options.http.extra_ca = Some(self.ca.clone());
        for api in Api::ALL {
            options
                .endpoints
                .set_override(api.name(), &self.url)
                .unwrap();
        }
        adjust(&mut options);
        GoogleClient::new(options, Arc::new(FixedToken(token))).unwrap()
    }

    fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    /// How many requests reached the fake for a path (query aside).
    fn count(&self, path: &str) -> usize {
        self.seen()
            .iter()
            .filter(|s| s.path_and_query.split('?').next() == Some(path))
            .count()
    }
}

fn json_response(status: StatusCode, body: serde_json::Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json; charset=UTF-8")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

/// Google's error format.
fn google_error(status: StatusCode, name: &str, message: &str) -> Response<Full<Bytes>> {
    json_response(
        status,
        json!({"error": {"code": status.as_u16(), "message": message, "status": name}}),
    )
}

fn crypto_key(name: &str) -> serde_json::Value {
    json!({
        "name": name,
        "primary": {
            "name": format!("{name}/cryptoKeyVersions/1"),
            "state": "ENABLED",
            "createTime": "2026-01-01T00:00:00Z",
            "protectionLevel": "HSM",
            "algorithm": "GOOGLE_SYMMETRIC_ENCRYPTION",
            "generateTime": "2026-01-01T00:00:01Z"
        },
        "purpose": "ENCRYPT_DECRYPT",
        "createTime": "2026-01-01T00:00:00Z",
        "nextRotationTime": "2026-04-01T00:00:00Z",
        "rotationPeriod": "7776000s",
        "versionTemplate": {"protectionLevel": "HSM", "algorithm": "GOOGLE_SYMMETRIC_ENCRYPTION"},
        "destroyScheduledDuration": "2592000s"
    })
}

async fn answer(
    state: Arc<FakeState>,
    request: Request<hyper::body::Incoming>,
) -> Response<Full<Bytes>> {
    let method = request.method().to_string();
    let path_and_query = request
        .uri()
        .path_and_query()
        .map_or("", |p| p.as_str())
        .to_string();
    let path = request.uri().path().to_string();
    let authorization = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = request.into_body().collect().await.unwrap().to_bytes();
    let previous = {
        let mut seen = state.seen.lock().unwrap();
        let previous = seen
            .iter()
            .filter(|s| s.path_and_query == path_and_query)
            .count();
        seen.push(Seen {
            method: method.clone(),
            path_and_query: path_and_query.clone(),
            authorization: authorization.clone(),
            body: String::from_utf8_lossy(&body).into_owned(),
        });
        previous
    };
    if authorization != format!("Bearer {TOKEN}") {
        return google_error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials.",
        );
    }
    let key_path = |id: &str| format!("/v1/{KEYS}/{id}");
    let ring_policy = format!("/v1/{}:getIamPolicy", KEYS.trim_end_matches("/cryptoKeys"));
    match (method.as_str(), path.as_str()) {
        ("GET", p) if p == key_path("good") => {
            json_response(StatusCode::OK, crypto_key(&format!("{KEYS}/good")))
        }
        ("GET", p) if p == format!("{}:getIamPolicy", key_path("good")) => json_response(
            StatusCode::OK,
            json!({"version": 1, "etag": "BwXk", "bindings": [
                {"role": "roles/cloudkms.viewer", "members": [AGENT]}]}),
        ),
        ("GET", p) if p == ring_policy => json_response(
            StatusCode::OK,
            json!({"version": 1, "etag": "BwXr", "bindings": [
                {"role": "roles/cloudkms.cryptoKeyEncrypterDecrypter",
                 "members": [AGENT, "user:admin@example.com"]}]}),
        ),
        ("POST", "/v1/projects/kms-project:getIamPolicy") => {
            json_response(StatusCode::OK, json!({"version": 1, "etag": "BwXp"}))
        }
        ("GET", "/v1/projects/run-project") => json_response(
            StatusCode::OK,
            json!({"projectNumber": "123456789012", "projectId": "run-project",
                   "lifecycleState": "ACTIVE", "name": "Run project",
                   "createTime": "2025-01-01T00:00:00Z",
                   "parent": {"type": "organization", "id": "1"}}),
        ),
        ("GET", "/v1/projects/run-project/locations/europe-west1/repositories/images") => {
            json_response(
                StatusCode::OK,
                json!({"name": "projects/run-project/locations/europe-west1/repositories/images",
                       "format": "DOCKER", "mode": "STANDARD_REPOSITORY",
                       "kmsKeyName": format!("{KEYS}/good")}),
            )
        }
        ("GET", "/v1/projects/run-project/locations/europe-west1/repositories/plain") => {
            json_response(
                StatusCode::OK,
                json!({"name": "projects/run-project/locations/europe-west1/repositories/plain",
                       "format": "DOCKER", "mode": "STANDARD_REPOSITORY"}),
            )
        }
        ("GET", p) if p == key_path("missing") => google_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            &format!("{KEYS}/missing not found."),
        ),
        ("GET", p) if p == key_path("flaky") && previous == 0 => google_error(
            StatusCode::TOO_MANY_REQUESTS,
            "RESOURCE_EXHAUSTED",
            "Quota exceeded for quota metric 'Read requests'.",
        ),
        ("GET", p) if p == key_path("flaky") => {
            json_response(StatusCode::OK, crypto_key(&format!("{KEYS}/flaky")))
        }
        ("GET", p) if p == key_path("storm") => google_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            "The service is currently unavailable.",
        ),
        ("GET", p) if p == key_path("hang") => {
            // Never answers in time: the client's response timeout ends each attempt.
            tokio::time::sleep(Duration::from_secs(30)).await;
            json_response(StatusCode::OK, crypto_key(&format!("{KEYS}/hang")))
        }
        ("GET", p) if p == format!("{}:getIamPolicy", key_path("denied")) => google_error(
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
            "Permission 'cloudkms.cryptoKeys.getIamPolicy' denied on resource (or it may not exist).",
        ),
        ("GET", p) if p.starts_with(&key_path("slow-")) => {
            // Holds each request until a second one is in flight (or a bounded while), so a
            // cap above one is reached and a cap that does not hold would show.
            let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            state.max_in_flight.fetch_max(now, Ordering::SeqCst);
            for _ in 0..100 {
                if state.in_flight.load(Ordering::SeqCst) >= 2 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            state.in_flight.fetch_sub(1, Ordering::SeqCst);
            json_response(StatusCode::OK, crypto_key(&format!("{KEYS}{}", &p[4 + KEYS.len()..])))
        }
        _ => google_error(
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            &format!("the fake does not know {method} {path_and_query}"),
        ),
    }
}

fn key(id: &str) -> KeyName {
    KeyName::parse(&format!("{KEYS}/{id}")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_the_discovery_shapes_with_the_token() {
    let google = FakeGoogle::start().await;
    let client = google.client(|_| {});

    let good = client.crypto_key(&key("good")).await.unwrap().unwrap();
    assert_eq!(good.purpose, "ENCRYPT_DECRYPT");
    assert_eq!(good.primary_state(), "ENABLED");
    assert_eq!(good.protection_level(), "HSM");
    assert_eq!(good.rotation_period_seconds(), Some(7_776_000));
    assert_eq!(
        good.next_rotation_time.as_deref(),
        Some("2026-04-01T00:00:00Z")
    );

    assert_eq!(
        client
            .project_number("run-project")
            .await
            .unwrap()
            .as_deref(),
        Some("123456789012")
    );
    // A number needs no call.
    assert_eq!(
        client.project_number("42424242").await.unwrap().as_deref(),
        Some("42424242")
    );

    let images =
        RepositoryName::parse("projects/run-project/locations/europe-west1/repositories/images")
            .unwrap();
    let plain =
        RepositoryName::parse("projects/run-project/locations/europe-west1/repositories/plain")
            .unwrap();
    let images = client.repository(&images).await.unwrap().unwrap();
    assert_eq!(images.cmek_key(), Some(format!("{KEYS}/good").as_str()));
    assert_eq!(
        client.repository(&plain).await.unwrap().unwrap().cmek_key(),
        None
    );

    // Granted on the key ring only; the key's own binding is a viewer role.
    let access = client
        .service_agent_key_access(&key("good"), "123456789012")
        .await
        .unwrap();
    assert!(access.can_use(), "{access:?}");
    assert_eq!(access.grants.len(), 1);
    assert_eq!(access.grants[0].level, super::iam::Level::KeyRing);
    let other = client
        .service_agent_key_access(&key("good"), "999999999999")
        .await
        .unwrap();
    assert!(!other.can_use(), "{other:?}");

    let seen = google.seen();
    assert!(
        seen.iter()
            .all(|s| s.authorization == format!("Bearer {TOKEN}")),
        "{seen:?}"
    );
    let project_policy = seen
        .iter()
        .find(|s| s.path_and_query == "/v1/projects/kms-project:getIamPolicy")
        .expect("the project's policy was asked for");
    assert_eq!(project_policy.method, "POST");
    assert_eq!(
        project_policy.body,
        r#"{"options":{"requestedPolicyVersion":3}}"#
    );
    let key_policy = seen
        .iter()
        .find(|s| {
            s.path_and_query
                .starts_with(&format!("/v1/{KEYS}/good:getIamPolicy"))
        })
        .unwrap();
    assert_eq!(key_policy.method, "GET");
    assert!(key_policy
        .path_and_query
        .ends_with("?options.requestedPolicyVersion=3"));
    // The second key-access question was answered from the cache: three policies, once each.
    assert_eq!(google.count(&format!("/v1/{KEYS}/good:getIamPolicy")), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_is_retried_and_then_succeeds() {
    let google = FakeGoogle::start().await;
    let client = google.client(|_| {});
    let flaky = client.crypto_key(&key("flaky")).await.unwrap().unwrap();
    assert_eq!(flaky.primary_state(), "ENABLED");
    assert_eq!(
        google.count(&format!("/v1/{KEYS}/flaky")),
        2,
        "one 429, one success"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_503_storm_ends_after_the_bounded_attempts_with_an_error() {
    let google = FakeGoogle::start().await;
    let client = google.client(|o| o.max_attempts = 3);
    let error = client.crypto_key(&key("storm")).await.unwrap_err();
    assert_eq!(error.status(), Some("UNAVAILABLE"));
    let text = error.to_string();
    assert!(text.contains("gave up after 3 attempts"), "{text}");
    assert!(
        text.contains("The service is currently unavailable."),
        "{text}"
    );
    assert_eq!(google.count(&format!("/v1/{KEYS}/storm")), 3);
    // Errors other than NOT_FOUND are not cached: asking again asks Google again.
    let _ = client.crypto_key(&key("storm")).await.unwrap_err();
    assert_eq!(google.count(&format!("/v1/{KEYS}/storm")), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_that_does_not_answer_times_out_and_is_retried_within_bounds() {
    let google = FakeGoogle::start().await;
    let client = google.client(|o| {
        o.max_attempts = 2;
        o.http.response_timeout = Duration::from_millis(200);
    });
    let error = client.crypto_key(&key("hang")).await.unwrap_err();
    let text = error.to_string();
    assert!(text.contains("gave up after 2 attempts"), "{text}");
    assert!(text.contains("no response within 200ms"), "{text}");
    assert_eq!(google.count(&format!("/v1/{KEYS}/hang")), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_found_and_found_answers_are_cached_for_their_ttl() {
    let google = FakeGoogle::start().await;
    let client = google.client(|_| {});
    for _ in 0..3 {
        assert!(client.crypto_key(&key("missing")).await.unwrap().is_none());
        assert!(client.crypto_key(&key("good")).await.unwrap().is_some());
    }
    assert_eq!(google.count(&format!("/v1/{KEYS}/missing")), 1);
    assert_eq!(google.count(&format!("/v1/{KEYS}/good")), 1);
    // A clone shares the cache.
    assert!(client
        .clone()
        .crypto_key(&key("missing"))
        .await
        .unwrap()
        .is_none());
    assert_eq!(google.count(&format!("/v1/{KEYS}/missing")), 1);

    // With no time to live for NOT_FOUND, every question reaches the fake.
    let uncached = google.client(|o| o.negative_ttl = Duration::ZERO);
    for _ in 0..2 {
        assert!(uncached
            .crypto_key(&key("missing"))
            .await
            .unwrap()
            .is_none());
    }
    assert_eq!(google.count(&format!("/v1/{KEYS}/missing")), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_403_names_the_permission_the_gate_needs_and_is_not_retried() {
    let google = FakeGoogle::start().await;
    let client = google.client(|_| {});
    let error = client.key_iam_policy(&key("denied")).await.unwrap_err();
    assert_eq!(error.status(), Some("PERMISSION_DENIED"));
    let text = error.to_string();
    assert!(
        text.contains("needs the permission cloudkms.cryptoKeys.getIamPolicy"),
        "{text}"
    );
    assert_eq!(google.count(&format!("/v1/{KEYS}/denied:getIamPolicy")), 1);

    let wrong = google.client_with_token("someone-else", |_| {});
    let error = wrong.crypto_key(&key("good")).await.unwrap_err();
    assert_eq!(error.status(), Some("UNAUTHENTICATED"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_are_capped() {
    let google = FakeGoogle::start().await;
    let client = google.client(|o| o.max_concurrent = 2);
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..6 {
        let client = client.clone();
        calls.spawn(async move { client.crypto_key(&key(&format!("slow-{i}"))).await });
    }
    while let Some(result) = calls.join_next().await {
        assert!(result.unwrap().unwrap().is_some());
    }
    assert_eq!(google.seen().len(), 6);
    assert_eq!(google.state.max_in_flight.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_is_never_in_debug_output() {
    let google = FakeGoogle::start().await;
    let client = google.client(|_| {});
    let _ = client.crypto_key(&key("good")).await.unwrap();
    let token = AccessToken::new(TOKEN);
    let call = Call {
        api: Api::Kms,
        method: hyper::Method::GET,
        path: format!("v1/{KEYS}/good"),
        body: None,
        resource: "k",
        permission: "cloudkms.cryptoKeys.get",
    };
    let request = client.build_request(&call, &token).unwrap();
    // The header is there, and sent (the fake checks it), but formatted as sensitive.
    assert!(request.headers().contains_key("authorization"));
    for text in [
        format!("{client:?}"),
        format!("{request:?}"),
        format!("{token:?}"),
        format!("{:?}", request.headers()),
    ] {
        assert!(!text.contains(TOKEN), "the token shows in {text}");
    }
    assert!(format!("{request:?}").contains("Sensitive"));
}

/// A token source whose cached token is stale until it is asked to refresh (as a revoked
/// token would be), counting the refreshes.
struct StaleUntilRefreshed {
    refreshed: AtomicUsize,
}

impl TokenSource for StaleUntilRefreshed {
    fn token(&self) -> TokenFuture<'_> {
        Box::pin(async move {
            Ok(AccessToken::new(
                if self.refreshed.load(Ordering::SeqCst) > 0 {
                    TOKEN
                } else {
                    "revoked-token"
                },
            ))
        })
    }

    fn refresh(&self) -> TokenFuture<'_> {
        self.refreshed.fetch_add(1, Ordering::SeqCst);
        self.token()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_is_retried_once_with_a_fresh_token() {
    let google = FakeGoogle::start().await;
    let mut options = GoogleClientOptions::default();
    options.http.extra_ca = Some(google.ca.clone());
    options
        .endpoints
        .set_override("cloudkms", &google.url)
        .unwrap();
    let tokens = Arc::new(StaleUntilRefreshed {
        refreshed: AtomicUsize::new(0),
    });
    let client = GoogleClient::new(options, tokens.clone()).unwrap();
    assert!(client.crypto_key(&key("good")).await.unwrap().is_some());
    assert_eq!(tokens.refreshed.load(Ordering::SeqCst), 1);
    let tokens_sent: Vec<String> = google.seen().into_iter().map(|s| s.authorization).collect();
    assert_eq!(
        tokens_sent,
        ["Bearer revoked-token".to_owned(), format!("Bearer {TOKEN}")]
    );
    // A token still refused after the refresh is an error, not a loop.
    let wrong = google.client_with_token("someone-else", |_| {});
    let before = google.seen().len();
    let error = wrong.crypto_key(&key("good")).await.unwrap_err();
    assert_eq!(error.status(), Some("UNAUTHENTICATED"));
    assert_eq!(
        google.seen().len() - before,
        2,
        "one try, one with the refreshed token"
    );
}

/// Counts the calls' events by API.
#[derive(Default)]
struct Counting(Mutex<Vec<(Api, super::CallEvent)>>);

impl super::CallObserver for Counting {
    fn observe(&self, api: Api, event: super::CallEvent) {
        self.0.lock().unwrap().push((api, event));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_cache_hits_and_errors_are_observed_per_api() {
    use super::CallEvent::{CacheHit, Failed, Sent};
    let google = FakeGoogle::start().await;
    let observer = Arc::new(Counting::default());
    let mut options = GoogleClientOptions {
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
        max_attempts: 2,
        ..GoogleClientOptions::default()
    };
    options.http.extra_ca = Some(google.ca.clone());
    for api in Api::ALL {
        options
            .endpoints
            .set_override(api.name(), &google.url)
            .unwrap();
    }
    let client =
        GoogleClient::with_observer(options, Arc::new(FixedToken(TOKEN)), observer.clone())
            .unwrap();
    client.crypto_key(&key("good")).await.unwrap();
    client.crypto_key(&key("good")).await.unwrap();
    client.project_number("run-project").await.unwrap();
    let _ = client.crypto_key(&key("storm")).await.unwrap_err();
    let events = observer.0.lock().unwrap().clone();
    assert_eq!(
        events,
        [
            (Api::Kms, Sent),
            (Api::Kms, CacheHit),
            (Api::ResourceManager, Sent),
            (Api::Kms, Sent),
            (Api::Kms, Sent),
            (Api::Kms, Failed),
        ]
    );
}
