//! A local fake of the Google APIs the live checks read — Cloud KMS, Cloud Resource Manager and
//! Artifact Registry — over real TLS on loopback (a CA made at test time). It stands in only for
//! Google's APIs: the gate, its policies, its Google client, gcloud and the Cloud Run API gate
//! are the real ones. It answers from a world written in the APIs' own shapes (their discovery
//! documents: `CryptoKey`, IAM `Policy`, `Project`, `Repository`) and fails in Google's error
//! format (`{"error": {"code", "message", "status"}}`), and records every request.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the fake knows and how it misbehaves.
#[derive(Debug, Clone, Default)]
pub struct World {
    /// `CryptoKey`s by name.
    pub keys: Vec<(String, Value)>,
    /// Project numbers by project ID.
    pub projects: Vec<(String, String)>,
    /// IAM `Policy`s by resource (a key, a key ring, `projects/P`).
    pub iam: Vec<(String, Value)>,
    /// `Repository`s by name.
    pub repositories: Vec<(String, Value)>,
    /// Resources whose `getIamPolicy` answers 403 PERMISSION_DENIED.
    pub forbidden_iam: Vec<String>,
    /// Resources answered 429 RESOURCE_EXHAUSTED the first time they are read.
    pub flaky: Vec<String>,
    /// Resources never answered in time.
    pub hang: Vec<String>,
}

/// A request the fake received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub authorization: String,
}

struct State {
    world: World,
    seen: Vec<Seen>,
    /// The token accepted (`Bearer TOKEN`).
    token: String,
}

pub struct FakeGoogle {
    pub addr: SocketAddr,
    /// The CA that signed its certificate (PEM).
    pub ca: PathBuf,
    state: Arc<Mutex<State>>,
}

fn answer_json(code: u16, value: Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(code)
        .header("content-type", "application/json; charset=UTF-8")
        .body(Full::new(Bytes::from(value.to_string())))
        .unwrap()
}

fn google_error(code: u16, status: &str, message: &str) -> Response<Full<Bytes>> {
    answer_json(
        code,
        json!({"error": {"code": code, "message": message, "status": status}}),
    )
}

impl FakeGoogle {
    /// Starts the fake on its own thread; its certificate and CA go into `dir`.
    pub fn start(dir: &Path, world: World, token: &str) -> FakeGoogle {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let bundle = cmek_gate::certs::generate(&cmek_gate::certs::CertRequest {
            names: vec!["127.0.0.1".into(), "localhost".into()],
            client: None,
            valid_days: 1,
            now_unix: now,
        })
        .unwrap();
        let ca = dir.join("google-ca.crt");
        std::fs::write(&ca, &bundle.ca.cert_pem).unwrap();
        let pair = cmek_gate::server::tls::PemPair {
            cert: bundle.server.cert_pem.into_bytes(),
            key: bundle.server.key_pem.into_bytes(),
        };
        let key = pair
            .certified_key(Path::new("google.crt"), Path::new("google.key"))
            .unwrap();
        let config = cmek_gate::server::tls::server_config(
            cmek_gate::server::tls::CertStore::new(key),
            None,
        )
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let state = Arc::new(Mutex::new(State {
            world,
            seen: Vec::new(),
            token: token.to_owned(),
        }));
        let shared = Arc::clone(&state);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                loop {
                    let Ok((tcp, _)) = listener.accept().await else {
                        continue;
                    };
                    let (acceptor, state) = (acceptor.clone(), Arc::clone(&shared));
                    tokio::spawn(async move {
                        let Ok(tls) = acceptor.accept(tcp).await else {
                            return;
                        };
                        let service = hyper::service::service_fn(move |request| {
                            let state = Arc::clone(&state);
                            async move {
                                Ok::<_, std::convert::Infallible>(answer(&state, request).await)
                            }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                            .await;
                    });
                }
            });
        });
        FakeGoogle {
            addr: rx.recv().unwrap(),
            ca,
            state,
        }
    }

    pub fn url(&self) -> String {
        format!("https://{}/", self.addr)
    }

    /// The gate's flags that point it at the fake: every API's endpoint, the CA, the token file.
    pub fn gate_flags(&self, token_file: &Path) -> Vec<String> {
        let mut flags = vec!["--live".to_owned()];
        for api in ["cloudkms", "cloudresourcemanager", "artifactregistry"] {
            flags.push("--google-endpoint".into());
            flags.push(format!("{api}={}", self.url()));
        }
        flags.push("--google-ca".into());
        flags.push(self.ca.display().to_string());
        flags.push("--google-access-token-file".into());
        flags.push(token_file.display().to_string());
        flags
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    /// How many requests reached a path.
    pub fn count(&self, path: &str) -> usize {
        self.seen().iter().filter(|s| s.path == path).count()
    }

    /// Sets the IAM policy of a resource (`gcloud kms keys add-iam-policy-binding` done).
    pub fn set_iam(&self, resource: &str, policy: Value) {
        let mut state = self.state.lock().unwrap();
        state.world.iam.retain(|(r, _)| r != resource);
        state.world.iam.push((resource.to_owned(), policy));
    }

    /// From now on only `token` is accepted (the one the gate holds has expired or was revoked).
    pub fn accept_only(&self, token: &str) {
        self.state.lock().unwrap().token = token.to_owned();
    }
}

fn lookup<'w>(list: &'w [(String, Value)], name: &str) -> Option<&'w Value> {
    list.iter().find(|(n, _)| n == name).map(|(_, v)| v)
}

async fn answer(
    state: &Mutex<State>,
    request: Request<hyper::body::Incoming>,
) -> Response<Full<Bytes>> {
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let authorization = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let _ = request.into_body().collect().await;
    let (world, token, previous) = {
        let mut state = state.lock().unwrap();
        let previous = state.seen.iter().filter(|s| s.path == path).count();
        state.seen.push(Seen {
            method: method.clone(),
            path: path.clone(),
            authorization: authorization.clone(),
        });
        (state.world.clone(), state.token.clone(), previous)
    };
    if authorization != format!("Bearer {token}") {
        return google_error(
            401,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials. Expected OAuth 2 access token.",
        );
    }
    let Some(resource) = path.strip_prefix("/v1/") else {
        return google_error(404, "NOT_FOUND", "no such API version");
    };
    let (resource, verb) = match resource.split_once(':') {
        Some((r, v)) => (r.to_owned(), Some(v.to_owned())),
        None => (resource.to_owned(), None),
    };
    if world.hang.contains(&resource) {
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
    if world.flaky.contains(&resource) && previous == 0 {
        return google_error(
            429,
            "RESOURCE_EXHAUSTED",
            "Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute'.",
        );
    }
    let not_found = || google_error(404, "NOT_FOUND", &format!("{resource} not found."));
    match (method.as_str(), verb.as_deref()) {
        (_, Some("getIamPolicy")) => {
            if world.forbidden_iam.contains(&resource) {
                let permission = if resource.contains("/cryptoKeys/") {
                    "cloudkms.cryptoKeys.getIamPolicy"
                } else {
                    "cloudkms.keyRings.getIamPolicy"
                };
                return google_error(
                    403,
                    "PERMISSION_DENIED",
                    &format!("Permission '{permission}' denied on resource '{resource}' (or it may not exist)."),
                );
            }
            let policy = lookup(&world.iam, &resource)
                .cloned()
                .unwrap_or_else(|| json!({"version": 1, "etag": "BwXfake="}));
            answer_json(200, policy)
        }
        ("GET", None) if resource.contains("/cryptoKeys/") => {
            match lookup(&world.keys, &resource) {
                Some(key) => {
                    let mut key = key.clone();
                    key["name"] = json!(resource);
                    key["createTime"] = json!("2026-01-01T00:00:00Z");
                    answer_json(200, key)
                }
                None => not_found(),
            }
        }
        ("GET", None) if resource.contains("/repositories/") => {
            match lookup(&world.repositories, &resource) {
                Some(repository) => {
                    let mut repository = repository.clone();
                    repository["name"] = json!(resource);
                    repository["format"] = json!("DOCKER");
                    answer_json(200, repository)
                }
                None => not_found(),
            }
        }
        ("GET", None) if resource.starts_with("projects/") && !resource[9..].contains('/') => {
            let id = &resource[9..];
            match world.projects.iter().find(|(p, _)| p == id) {
                Some((_, number)) => answer_json(
                    200,
                    json!({"projectId": id, "projectNumber": number, "lifecycleState": "ACTIVE", "name": id}),
                ),
                None => google_error(
                    403,
                    "PERMISSION_DENIED",
                    "The caller does not have permission",
                ),
            }
        }
        _ => google_error(
            400,
            "INVALID_ARGUMENT",
            &format!("the fake does not know {method} {path}"),
        ),
    }
}
