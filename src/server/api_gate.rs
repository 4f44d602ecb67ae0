//! The Cloud Run API gate listener: speaks the Cloud Run Admin API to gcloud (pointed here by
//! `api_endpoint_overrides/run`), and fails closed. Each request is first planned on its
//! normalised form ([`crate::cloudrun_api::plan`]): a malformed or foreign `Host`, an ambiguous path,
//! a method override, or a write the gate neither judges nor lists as pass-through is refused
//! in Google's error format and never reaches the upstream. Creates and replaces are judged with
//! [`crate::cloudrun_api::judge_write`]; what is forwarded is exactly what was judged (the
//! normalised path and query, the body bytes read), to the upstream chosen from the parsed
//! region (or `--cloud-run-upstream`), through the one [`HttpClient`] with its timeouts.
//! The `Authorization` header is passed through and never logged.

use super::App;
use crate::cloudrun_api::{self, Plan, Refusal, RequestHead, Route, Verdict};
use crate::http_client::{BodyError, ClientOptions, HttpClient};
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HOST};
use hyper::http::request::Parts;
use hyper::{Request, Response, StatusCode, Uri};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How the API gate is configured.
#[derive(Debug, Clone)]
pub struct CloudRunConfig {
    pub listen: std::net::SocketAddr,
    /// Forward here instead of the region's Google endpoint (e.g. a test's stand-in, a proxy).
    pub upstream: Option<Uri>,
    /// The gate's host name: then only `HOST` and `REGION-HOST` are accepted in `Host`.
    pub gate_host: Option<String>,
    /// Serve plain HTTP (behind a TLS-terminating load balancer) rather than TLS.
    pub plaintext: bool,
    /// Run the mutating policies and forward allowed writes with what they add.
    pub mutate: bool,
    /// Extra CA certificates trusted for the upstream, besides the public roots.
    pub upstream_ca: Option<std::path::PathBuf>,
    /// Longest wait for the TCP connection to the upstream.
    pub connect_timeout: Duration,
    /// Longest wait for the upstream's response headers, and between pieces of its body.
    pub upstream_timeout: Duration,
    /// How long an idle upstream connection is kept for reuse.
    pub idle_timeout: Duration,
}

impl CloudRunConfig {
    /// The upstream client's options.
    pub fn client_options(&self) -> ClientOptions {
        ClientOptions {
            extra_ca: self.upstream_ca.clone(),
            connect_timeout: self.connect_timeout,
            response_timeout: self.upstream_timeout,
            idle_timeout: self.idle_timeout,
            ..ClientOptions::default()
        }
    }
}

/// Checks a configured upstream: an `http` or `https` URL with a host, and no query.
pub fn check_upstream(uri: &Uri) -> Result<(), String> {
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err("the upstream must be an http:// or https:// URL".into());
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err("the upstream URL has no host".into());
    }
    if uri.query().is_some() {
        return Err("the upstream URL must not have a query".into());
    }
    Ok(())
}

type Body = BoxBody<Bytes, BodyError>;

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

fn google(status: StatusCode, status_name: &str, message: &str) -> Response<Body> {
    let body = cloudrun_api::google_error(status.as_u16(), status_name, message);
    json_response(status, &body)
}

fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "application/json; charset=UTF-8")
        .body(full(serde_json::to_vec(body).expect("JSON serializes")))
        .expect("a response from valid parts")
}

/// The shared state of the listener: the app, and the client for the upstream.
pub struct Gate {
    pub app: Arc<App>,
    pub config: CloudRunConfig,
    pub client: HttpClient,
}

/// Hop-by-hop headers, never forwarded either way (RFC 9110 section 7.6.1).
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

/// Request headers the gate sets itself for the upstream, or that concern only this hop.
const SET_BY_THE_GATE: &[&str] = &["host", "content-length", "expect"];

/// The parts of the request [`cloudrun_api::plan`] decides on.
fn request_head(parts: &Parts) -> RequestHead<'_> {
    let headers = &parts.headers;
    let content_length_nonzero = headers
        .get_all(CONTENT_LENGTH)
        .iter()
        .any(|v| v.as_bytes() != b"0");
    RequestHead {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query(),
        absolute_form: parts.uri.scheme().is_some() || parts.uri.authority().is_some(),
        hosts: headers
            .get_all(HOST)
            .iter()
            .map(HeaderValue::as_bytes)
            .collect(),
        method_override_header: cloudrun_api::route::METHOD_OVERRIDE_HEADERS
            .iter()
            .any(|name| headers.contains_key(*name)),
        has_body: content_length_nonzero || headers.contains_key("transfer-encoding"),
    }
}

/// Handles one request from gcloud.
pub async fn handle(
    request: Request<Incoming>,
    gate: Arc<Gate>,
) -> Result<Response<Body>, std::convert::Infallible> {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let method = parts.method.as_str().to_owned();
    let plan = cloudrun_api::plan(&request_head(&parts), gate.config.gate_host.as_deref());
    let plan = match plan {
        Ok(plan) => plan,
        Err(Refusal {
            code,
            status,
            message,
        }) => {
            let code = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST);
            let answer = google(code, status, &message);
            let path = parts.uri.path().to_owned();
            log(&gate, &method, &path, "refused", started, code);
            return Ok(answer);
        }
    };
    let path = plan.target.path();
    let answer = match &plan.route {
        Route::Read => {
            let answer = forward(&gate, parts, Bytes::new(), &plan).await;
            (answer, "forwarded")
        }
        Route::PassThrough(_) => match read_body(&gate, body).await {
            Ok(bytes) => (forward(&gate, parts, bytes, &plan).await, "passed-through"),
            Err((answer, verdict)) => (answer, verdict),
        },
        Route::Judge(write) => match read_body(&gate, body).await {
            Ok(bytes) => judge_and_forward(&gate, parts, bytes, &plan, write).await,
            Err((answer, verdict)) => (answer, verdict),
        },
    };
    let (answer, verdict) = answer;
    log(&gate, &method, &path, verdict, started, answer.status());
    Ok(answer)
}

/// Reads a request body within the size limit and the read timeout.
async fn read_body(gate: &Gate, body: Incoming) -> Result<Bytes, (Response<Body>, &'static str)> {
    let limit = gate.app.config.max_body_bytes;
    let collected = tokio::time::timeout(
        gate.app.config.read_timeout,
        Limited::new(body, limit).collect(),
    )
    .await;
    match collected {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => Err((
            google(
                StatusCode::PAYLOAD_TOO_LARGE,
                "INVALID_ARGUMENT",
                &format!("cmek-gate: the request body is larger than {limit} bytes"),
            ),
            "too-large",
        )),
        Ok(Err(_)) | Err(_) => Err((
            google(
                StatusCode::BAD_REQUEST,
                "INVALID_ARGUMENT",
                "cmek-gate: the request body could not be read",
            ),
            "bad-request",
        )),
    }
}

async fn judge_and_forward(
    gate: &Gate,
    parts: Parts,
    body: Bytes,
    plan: &Plan,
    write: &cloudrun_api::Write,
) -> (Response<Body>, &'static str) {
    let Some(set) = gate.app.policy_set() else {
        let answer = google(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            "cmek-gate: no policy set loaded yet",
        );
        return (answer, "unavailable");
    };
    let mutate = gate.config.mutate;
    // The request budgets of every endpoint that takes a body: scanned before anything is built.
    let limits = gate.app.config.request_limits;
    if let Err(e) = limits.check_json(&body) {
        let message = format!("cmek-gate refused the request: {e}");
        let answer = google(StatusCode::PAYLOAD_TOO_LARGE, "INVALID_ARGUMENT", &message);
        return (answer, "over-budget");
    }
    let judged = {
        let (body, write, region) = (body.clone(), write.clone(), plan.region.clone());
        let live = gate.app.live.clone();
        gate.app
            .evaluate(body.len(), move || {
                let labels = serde_json::from_slice::<serde_json::Value>(&body)
                    .map(|value| limits.check_labels_json(&value));
                if let Ok(Err(e)) = labels {
                    return Err(e);
                }
                Ok(cloudrun_api::judge_write(
                    &set,
                    &write,
                    &body,
                    region.as_deref(),
                    mutate,
                    live.as_deref(),
                ))
            })
            .await
    };
    let verdict = match judged {
        Ok(Ok(verdict)) => verdict,
        Ok(Err(e)) => {
            let message = format!("cmek-gate refused the request: {e}");
            let answer = google(StatusCode::PAYLOAD_TOO_LARGE, "INVALID_ARGUMENT", &message);
            return (answer, "over-budget");
        }
        Err(e @ crate::server::EvaluationError::Busy { .. }) => {
            let mut answer = google(
                StatusCode::TOO_MANY_REQUESTS,
                "RESOURCE_EXHAUSTED",
                &format!("cmek-gate: {e}"),
            );
            answer.headers_mut().insert(
                hyper::header::RETRY_AFTER,
                hyper::header::HeaderValue::from_static("1"),
            );
            return (answer, "busy");
        }
        Err(crate::server::EvaluationError::Failed) => {
            let answer = google(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                "cmek-gate: the check failed",
            );
            return (answer, "error");
        }
    };
    match verdict {
        Verdict::Refuse {
            code,
            body,
            policies,
        } => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST);
            // The policy names come from the decision, never from the message (which holds
            // the resource's name).
            for policy in &policies {
                gate.app.metrics.violation(policy);
            }
            let verdict = if policies.is_empty() {
                "bad-request"
            } else {
                "denied"
            };
            (json_response(status, &body), verdict)
        }
        Verdict::Forward {
            body: changed,
            added,
            warnings,
        } => {
            let method = parts.method.as_str().to_owned();
            let path = plan.target.path();
            let mutated = changed.is_some();
            let body = changed.map(Bytes::from).unwrap_or(body);
            let mut answer = forward(gate, parts, body, plan).await;
            if mutated {
                tracing::info!(method, path, added = %added.join(","), "cloud run API gate: forwarded with the mutating policies' additions");
                if let Ok(value) = HeaderValue::from_str(&added.join(", ")) {
                    answer.headers_mut().insert("x-cmek-gate-mutated", value);
                }
            }
            if !warnings.is_empty() {
                tracing::info!(method, path, warnings = %warnings.join(" | "), "cloud run API gate: allowed with warnings");
            }
            (answer, if mutated { "mutated" } else { "allowed" })
        }
    }
}

fn log(gate: &Gate, method: &str, path: &str, verdict: &str, started: Instant, status: StatusCode) {
    let seconds = started.elapsed().as_secs_f64();
    gate.app.metrics.request("cloud-run", verdict, seconds);
    tracing::info!(
        method,
        path = ?path,
        verdict,
        status = status.as_u16(),
        latency_us = (seconds * 1e6) as u64,
        "cloud run API gate"
    );
}

/// The URL a planned request is forwarded to: the configured upstream, or the Google endpoint
/// of the parsed region; then the normalised path and query.
fn upstream_uri(gate: &Gate, plan: &Plan) -> Result<Uri, String> {
    let base = match &gate.config.upstream {
        Some(uri) => {
            let scheme = uri.scheme_str().unwrap_or("https");
            let authority = uri.authority().map_or("", |a| a.as_str());
            format!("{scheme}://{authority}{}", uri.path().trim_end_matches('/'))
        }
        None => cloudrun_api::upstream_for(plan.region.as_deref()),
    };
    format!("{base}{}", plan.target.path_and_query())
        .parse()
        .map_err(|e| format!("{e}"))
}

/// Sends the planned request (the normalised target, `body` as the body) to the upstream and
/// streams its response back. A failure is answered in Google's format: 502 when the upstream
/// cannot be reached, 504 when it does not answer within the timeout.
async fn forward(gate: &Gate, parts: Parts, body: Bytes, plan: &Plan) -> Response<Body> {
    let uri = match upstream_uri(gate, plan) {
        Ok(uri) => uri,
        Err(e) => {
            return google(
                StatusCode::BAD_GATEWAY,
                "UNAVAILABLE",
                &format!("cmek-gate: no upstream URL: {e}"),
            )
        }
    };
    let mut request = Request::new(Full::new(body.clone()));
    *request.method_mut() = parts.method.clone();
    *request.uri_mut() = uri.clone();
    let listed: Vec<HeaderName> = parts
        .headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    let headers = request.headers_mut();
    for (name, value) in &parts.headers {
        let own = HOP_BY_HOP.contains(&name.as_str()) || SET_BY_THE_GATE.contains(&name.as_str());
        if !own && !listed.contains(name) {
            headers.append(name.clone(), value.clone());
        }
    }
    if !body.is_empty() || matches!(parts.method.as_str(), "POST" | "PUT" | "PATCH") {
        headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    }
    let upstream = format!(
        "{}://{}",
        uri.scheme_str().unwrap_or_default(),
        uri.authority().map_or("", |a| a.as_str())
    );
    match gate.client.send(request).await {
        Ok(response) => {
            let (mut parts, body) = response.into_parts();
            for name in HOP_BY_HOP {
                parts.headers.remove(*name);
            }
            Response::from_parts(parts, body.boxed())
        }
        Err(e) => {
            tracing::warn!(upstream, error = %e, "cloud run API gate: upstream failed");
            let (code, status) = if e.is_timeout() {
                (StatusCode::GATEWAY_TIMEOUT, "DEADLINE_EXCEEDED")
            } else {
                (StatusCode::BAD_GATEWAY, "UNAVAILABLE")
            };
            google(
                code,
                status,
                &format!("cmek-gate: the upstream {upstream} failed: {e}"),
            )
        }
    }
}
