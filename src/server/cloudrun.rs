//! The Cloud Run API gate listener: speaks the Cloud Run Admin API to gcloud (pointed here by
//! `api_endpoint_overrides/run`), judges the writes with [`crate::cloudrun::judge_write`], and
//! forwards everything else, and allowed writes, to the upstream: the regional Google endpoint
//! the Host header names, or a configured one. Responses are streamed back with their status and
//! headers. The `Authorization` header is passed through and never logged.

use super::App;
use crate::cloudrun::{self, Verdict};
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, HOST};
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpStream;

/// How the API gate is configured.
#[derive(Debug, Clone)]
pub struct CloudRunConfig {
    pub listen: std::net::SocketAddr,
    /// Forward here instead of the Host header's regional Google endpoint (e.g. a test stub).
    pub upstream: Option<Uri>,
    /// The gate's host name, for reading the region in front of it (`REGION-HOST`).
    pub gate_host: Option<String>,
    /// Serve plain HTTP (behind a TLS-terminating load balancer) rather than TLS.
    pub plaintext: bool,
    /// Run the mutating policies and forward allowed writes with what they add.
    pub mutate: bool,
    /// Extra CA certificates trusted for the upstream, besides the public roots.
    pub upstream_ca: Option<std::path::PathBuf>,
}

type Body = BoxBody<Bytes, hyper::Error>;

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

fn google(status: StatusCode, status_name: &str, message: &str) -> Response<Body> {
    let body = cloudrun::google_error(status.as_u16(), status_name, message);
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "application/json; charset=UTF-8")
        .body(full(serde_json::to_vec(&body).expect("JSON serializes")))
        .expect("a response from valid parts")
}

/// The shared state of the listener: the app, and a TLS client for the upstream.
pub struct Gate {
    pub app: Arc<App>,
    pub config: CloudRunConfig,
    pub tls: tokio_rustls::TlsConnector,
}

/// Hop-by-hop headers, never forwarded (RFC 9110 section 7.6.1).
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Handles one request from gcloud.
pub async fn handle(
    request: Request<Incoming>,
    gate: Arc<Gate>,
) -> Result<Response<Body>, std::convert::Infallible> {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().map(str::to_owned);
    let host = request
        .headers()
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()))
        .unwrap_or_default()
        .to_owned();
    let region = cloudrun::region_from_host(&host, gate.config.gate_host.as_deref());
    let write = cloudrun::classify(&method, &path, query.as_deref());
    let Some(write) = write else {
        let (parts, body) = request.into_parts();
        let request = Request::from_parts(parts, body.boxed());
        let answer = forward_request(&gate, request, region.as_deref()).await;
        log(&gate, &method, &path, "forwarded", started, answer.status());
        return Ok(answer);
    };
    let (parts, body) = request.into_parts();
    let limit = gate.app.config.max_body_bytes;
    let body = match tokio::time::timeout(
        gate.app.config.read_timeout,
        Limited::new(body, limit).collect(),
    )
    .await
    {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
            let answer = google(
                StatusCode::PAYLOAD_TOO_LARGE,
                "INVALID_ARGUMENT",
                &format!("cmek-gate: the request body is larger than {limit} bytes"),
            );
            log(&gate, &method, &path, "too-large", started, answer.status());
            return Ok(answer);
        }
        Ok(Err(_)) | Err(_) => {
            let answer = google(
                StatusCode::BAD_REQUEST,
                "INVALID_ARGUMENT",
                "cmek-gate: the request body could not be read",
            );
            log(
                &gate,
                &method,
                &path,
                "bad-request",
                started,
                answer.status(),
            );
            return Ok(answer);
        }
    };
    let Some(set) = gate.app.policy_set() else {
        let answer = google(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            "cmek-gate: no policy set loaded yet",
        );
        log(
            &gate,
            &method,
            &path,
            "unavailable",
            started,
            answer.status(),
        );
        return Ok(answer);
    };
    let mutate = gate.config.mutate;
    let judged = {
        let body = body.clone();
        let region = region.clone();
        tokio::task::spawn_blocking(move || {
            cloudrun::judge_write(&set, &write, &body, region.as_deref(), mutate)
        })
        .await
    };
    let Ok(verdict) = judged else {
        return Ok(google(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "cmek-gate: the check failed",
        ));
    };
    match verdict {
        Verdict::Refuse { code, body } => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST);
            let verdict = if body["error"]["status"] == "FAILED_PRECONDITION" {
                "denied"
            } else {
                "bad-request"
            };
            if let Some(message) = body["error"]["message"].as_str() {
                for policy in message
                    .split('[')
                    .skip(1)
                    .filter_map(|s| s.split_once(']').map(|(p, _)| p))
                {
                    gate.app.metrics.violation(policy);
                }
            }
            let answer = Response::builder()
                .status(status)
                .header(CONTENT_TYPE, "application/json; charset=UTF-8")
                .body(full(serde_json::to_vec(&body).expect("JSON serializes")))
                .expect("a response from valid parts");
            log(&gate, &method, &path, verdict, started, status);
            Ok(answer)
        }
        Verdict::Forward {
            body: changed,
            added,
            warnings,
        } => {
            let mutated = changed.is_some();
            let body = changed.map(Bytes::from).unwrap_or(body);
            let mut request = Request::from_parts(parts, full(body.clone()));
            request.headers_mut().remove(CONTENT_LENGTH);
            request
                .headers_mut()
                .insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
            let mut answer = forward_request(&gate, request, region.as_deref()).await;
            if mutated {
                tracing::info!(method, path, added = %added.join(","), "cloud run API gate: forwarded with the mutating policies' additions");
                if let Ok(value) = HeaderValue::from_str(&added.join(", ")) {
                    answer.headers_mut().insert("x-cmek-gate-mutated", value);
                }
            }
            if !warnings.is_empty() {
                tracing::info!(method, path, warnings = %warnings.join(" | "), "cloud run API gate: allowed with warnings");
            }
            let verdict = if mutated { "mutated" } else { "allowed" };
            log(&gate, &method, &path, verdict, started, answer.status());
            Ok(answer)
        }
    }
}

fn log(gate: &Gate, method: &str, path: &str, verdict: &str, started: Instant, status: StatusCode) {
    let seconds = started.elapsed().as_secs_f64();
    gate.app.metrics.request("cloud-run", verdict, seconds);
    tracing::info!(
        method,
        path,
        verdict,
        status = status.as_u16(),
        latency_us = (seconds * 1e6) as u64,
        "cloud run API gate"
    );
}

/// Sends a request to the upstream and streams its response back; a failure to reach the
/// upstream is answered in Google's error format (502).
async fn forward_request(
    gate: &Gate,
    request: Request<Body>,
    region: Option<&str>,
) -> Response<Body> {
    let upstream = match &gate.config.upstream {
        Some(uri) => uri.clone(),
        None => match cloudrun::upstream_for(region).parse::<Uri>() {
            Ok(uri) => uri,
            Err(_) => {
                return google(
                    StatusCode::BAD_GATEWAY,
                    "UNAVAILABLE",
                    "cmek-gate: no upstream",
                )
            }
        },
    };
    match send(gate, &upstream, request).await {
        Ok(response) => {
            let (mut parts, body) = response.into_parts();
            for name in HOP_BY_HOP {
                parts.headers.remove(*name);
            }
            Response::from_parts(parts, body.boxed())
        }
        Err(message) => {
            tracing::warn!(upstream = %upstream, error = %message, "cloud run API gate: upstream unreachable");
            google(
                StatusCode::BAD_GATEWAY,
                "UNAVAILABLE",
                &format!("cmek-gate: the upstream {upstream} cannot be reached: {message}"),
            )
        }
    }
}

async fn send(
    gate: &Gate,
    upstream: &Uri,
    request: Request<Body>,
) -> Result<Response<Incoming>, String> {
    let https = upstream.scheme_str() == Some("https");
    let host = upstream
        .host()
        .ok_or("the upstream has no host")?
        .to_owned();
    let port = upstream.port_u16().unwrap_or(if https { 443 } else { 80 });
    let authority = match upstream.port_u16() {
        Some(port) => format!("{host}:{port}"),
        None => host.clone(),
    };
    let (mut parts, body) = request.into_parts();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let base = upstream.path().trim_end_matches('/');
    parts.uri = format!("{base}{path_and_query}")
        .parse()
        .map_err(|e| format!("{e}"))?;
    for name in HOP_BY_HOP {
        parts.headers.remove(*name);
    }
    parts.headers.insert(
        HOST,
        HeaderValue::from_str(&authority).map_err(|e| e.to_string())?,
    );
    let request = Request::from_parts(parts, body);
    let timeout = gate.app.config.read_timeout;
    let tcp = tokio::time::timeout(timeout, TcpStream::connect((host.as_str(), port)))
        .await
        .map_err(|_| "connect timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    if https {
        let name =
            rustls::pki_types::ServerName::try_from(host.clone()).map_err(|e| e.to_string())?;
        let tls = tokio::time::timeout(timeout, gate.tls.connect(name, tcp))
            .await
            .map_err(|_| "TLS handshake timed out".to_owned())?
            .map_err(|e| e.to_string())?;
        exchange(TokioIo::new(tls), request).await
    } else {
        exchange(TokioIo::new(tcp), request).await
    }
}

async fn exchange<T>(io: T, request: Request<Body>) -> Result<Response<Incoming>, String>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "upstream connection ended with an error");
        }
    });
    sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())
}
