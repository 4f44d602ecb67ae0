//! The endpoints: `POST /validate` and `POST /mutate` (AdmissionReview), `POST /v1/check` (a
//! manifest, the check report back; `?mutate=true` runs the mutating policies first), `GET /healthz`, `GET /readyz`, and `GET /metrics` on the metrics listener.
//! Handlers read the body within the limits, call the library within the request budgets and
//! an evaluation slot ([`App::evaluate`]: off the async workers, 429 when none frees in time),
//! record, and answer.

use super::App;
use crate::admission;
use crate::batch::{check_inputs, CheckOptions, Input};
use crate::limits::RequestLimits;
use crate::report::{InputError, Report};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpListener;
use tokio::sync::watch;

type Answer = Response<Full<Bytes>>;

fn respond(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Answer {
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, content_type)
        .body(Full::new(body.into()))
        .expect("a response from valid parts")
}

fn json(status: StatusCode, value: &impl serde::Serialize) -> Answer {
    let body = serde_json::to_vec(value).expect("responses serialize");
    respond(status, "application/json", body)
}

fn error(status: StatusCode, message: impl Into<String>) -> Answer {
    json(status, &serde_json::json!({"error": message.into()}))
}

/// Routes one request.
pub async fn handle(request: Request<Incoming>, app: Arc<App>) -> Result<Answer, Infallible> {
    let answer = match (request.method(), request.uri().path()) {
        (&Method::GET, "/healthz") => respond(StatusCode::OK, "text/plain", "ok\n"),
        (&Method::GET, "/readyz") => readiness(&app),
        (&Method::POST, "/validate") => admission_review(request, &app, Endpoint::Validate).await,
        (&Method::POST, "/mutate") => admission_review(request, &app, Endpoint::Mutate).await,
        (&Method::POST, "/v1/check") => check(request, &app).await,
        (_, "/validate" | "/mutate" | "/v1/check") => {
            error(StatusCode::METHOD_NOT_ALLOWED, "use POST")
        }
        (_, "/healthz" | "/readyz") => error(StatusCode::METHOD_NOT_ALLOWED, "use GET"),
        (_, path) => error(StatusCode::NOT_FOUND, format!("no endpoint {path}")),
    };
    Ok(answer)
}

fn readiness(app: &App) -> Answer {
    match app.policy_set() {
        Some(_) => respond(StatusCode::OK, "text/plain", "ready\n"),
        None => respond(
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            "no policy set loaded yet\n",
        ),
    }
}

/// Reads the body within the size limit and the read timeout.
async fn read_body(request: Request<Incoming>, app: &App) -> Result<Bytes, Answer> {
    let limit = app.config.max_body_bytes;
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than {limit} bytes"),
        )
    };
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let body = Limited::new(request.into_body(), limit);
    match tokio::time::timeout(app.config.read_timeout, body.collect()).await {
        Err(_) => Err(error(
            StatusCode::REQUEST_TIMEOUT,
            "the body was not received in time",
        )),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Ok(Err(e)) => Err(error(
            StatusCode::BAD_REQUEST,
            format!("cannot read the body: {e}"),
        )),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
    }
}

/// The two admission webhooks.
#[derive(Debug, Clone, Copy)]
enum Endpoint {
    Validate,
    Mutate,
}

/// What evaluating an AdmissionReview body came to.
enum ReviewOutcome {
    /// Not an AdmissionReview: 400.
    Unreadable(String),
    /// Over a budget: denied (when the review's uid could be read), else 413.
    OverBudget { uid: Option<String>, reason: String },
    Reviewed {
        reviewed: Box<admission::Reviewed>,
        uid: String,
        operation: String,
        dry_run: bool,
    },
}

/// Parses and judges an AdmissionReview body within the request budgets (on an evaluation thread).
fn review_body(
    body: &[u8],
    set: &crate::policy::PolicySet,
    limits: &RequestLimits,
    phases: crate::engine::Phases,
    namespaces: &crate::namespaces::KnownNamespaces,
    live: Option<&crate::live::Live>,
) -> ReviewOutcome {
    let over_budget = |reason: String| ReviewOutcome::OverBudget {
        uid: review_uid(body),
        reason,
    };
    if let Err(e) = limits.check_json(body) {
        return over_budget(e.to_string());
    }
    let request = match admission::parse_review(body) {
        Ok(r) => r,
        Err(e) => return ReviewOutcome::Unreadable(e.to_string()),
    };
    for object in [&request.object, &request.old_object].into_iter().flatten() {
        if let Err(e) = limits.check_labels_json(object) {
            return over_budget(e.to_string());
        }
    }
    let reviewed = admission::review_live(set, &request, phases, namespaces, live);
    ReviewOutcome::Reviewed {
        reviewed: Box::new(reviewed),
        uid: request.uid,
        operation: request.operation,
        dry_run: request.dry_run.unwrap_or(false),
    }
}

/// The `request.uid` of a review body, read without building the rest (skipped values are not
/// allocated), so that a body over budget can still be denied by its uid.
fn review_uid(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Review {
        request: Option<UidOnly>,
    }
    #[derive(serde::Deserialize)]
    struct UidOnly {
        uid: String,
    }
    serde_json::from_slice::<Review>(body)
        .ok()?
        .request
        .map(|r| r.uid)
}

/// An AdmissionReview denying the request `uid` without evaluating it.
fn refusal(uid: String, code: u16, reason: &str, message: String) -> admission::AdmissionReviewOut {
    admission::AdmissionReviewOut {
        api_version: admission::API_VERSION,
        kind: "AdmissionReview",
        response: admission::AdmissionResponse {
            uid,
            allowed: false,
            status: Some(admission::Status {
                code,
                message,
                reason: reason.into(),
            }),
            warnings: Vec::new(),
            audit_annotations: Default::default(),
            patch_type: None,
            patch: None,
        },
    }
}

/// 429 with `Retry-After`: the API server's client retries it (within the webhook's timeout);
/// the body is a Kubernetes `Status` saying so.
fn busy(refused: &super::EvaluationError, kubernetes: bool) -> Answer {
    let mut answer = if kubernetes {
        json(
            StatusCode::TOO_MANY_REQUESTS,
            &serde_json::json!({
                "kind": "Status", "apiVersion": "v1", "metadata": {},
                "status": "Failure", "reason": "TooManyRequests", "code": 429,
                "message": format!("cmek-gate: {refused}"),
                "details": {"retryAfterSeconds": RETRY_AFTER_SECONDS},
            }),
        )
    } else {
        error(StatusCode::TOO_MANY_REQUESTS, refused.to_string())
    };
    answer
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
    answer
}

const RETRY_AFTER_SECONDS: u32 = 1;

async fn admission_review(request: Request<Incoming>, app: &App, endpoint: Endpoint) -> Answer {
    let (name, phases) = match endpoint {
        Endpoint::Validate => ("validate", crate::engine::Phases::VALIDATE),
        Endpoint::Mutate => ("mutate", crate::engine::Phases::MUTATE),
    };
    let body = match read_body(request, app).await {
        Ok(body) => body,
        Err(answer) => return answer,
    };
    let started = Instant::now();
    let Some(set) = app.policy_set() else {
        app.metrics.request(name, "unavailable", 0.0);
        return error(StatusCode::SERVICE_UNAVAILABLE, "no policy set loaded yet");
    };
    let limits = app.config.request_limits;
    let namespaces = app.config.namespaces.clone();
    let live = app.live.clone();
    let outcome = app
        .evaluate_refusing(
            body.len(),
            move || review_body(&body, &set, &limits, phases, &namespaces, live.as_deref()),
            |outcome| !matches!(outcome, ReviewOutcome::Reviewed { .. }),
        )
        .await;
    let seconds = || started.elapsed().as_secs_f64();
    let (reviewed, uid, operation, dry_run) = match outcome {
        Err(e @ super::EvaluationError::Busy { .. }) => {
            app.metrics.request(name, "busy", seconds());
            tracing::warn!(endpoint = name, error = %e, "admission review refused: busy");
            return busy(&e, true);
        }
        Err(super::EvaluationError::Failed) => {
            app.metrics.request(name, "error", seconds());
            return error(StatusCode::INTERNAL_SERVER_ERROR, "the review failed");
        }
        Ok(ReviewOutcome::Unreadable(message)) => {
            app.metrics.request(name, "bad-request", seconds());
            return error(StatusCode::BAD_REQUEST, message);
        }
        Ok(ReviewOutcome::OverBudget { uid, reason }) => {
            app.metrics.request(name, "over-budget", seconds());
            tracing::warn!(
                endpoint = name,
                uid = uid.as_deref().unwrap_or_default(),
                reason = reason.as_str(),
                "admission review over budget: denied"
            );
            let message = format!("cmek-gate refused the request: {reason}");
            return match uid {
                Some(uid) => json(
                    StatusCode::OK,
                    &refusal(uid, 413, "RequestEntityTooLarge", message),
                ),
                None => error(StatusCode::PAYLOAD_TOO_LARGE, message),
            };
        }
        Ok(ReviewOutcome::Reviewed {
            reviewed,
            uid,
            operation,
            dry_run,
        }) => (reviewed, uid, operation, dry_run),
    };
    let seconds = seconds();
    let verdict = match &reviewed.decision {
        None => "not-evaluated",
        Some(d) if !d.allowed() => "denied",
        Some(d) if d.patch.is_some() => "mutated",
        Some(d) if !d.warnings.is_empty() => "allowed-with-warnings",
        Some(_) => "allowed",
    };
    let policies: Vec<&str> = reviewed
        .decision
        .iter()
        .flat_map(|d| d.violations.iter().map(|v| v.policy.as_str()))
        .collect();
    for policy in &policies {
        app.metrics.violation(policy);
    }
    app.metrics.request(name, verdict, seconds);
    let patched: Vec<String> = reviewed
        .decision
        .iter()
        .flat_map(|d| d.patch.iter().flat_map(|p| p.0.iter()))
        .map(|op| op.path().to_string())
        .collect();
    // Values from the request are logged as text fields: quoted and escaped in every format.
    tracing::info!(
        endpoint = name,
        uid = uid.as_str(),
        operation = operation.as_str(),
        kind = reviewed.kind.as_str(),
        namespace = reviewed.namespace.as_str(),
        name = reviewed.name.as_str(),
        dry_run,
        verdict,
        policies = policies.join(",").as_str(),
        patched = patched.join(",").as_str(),
        latency_us = (seconds * 1e6) as u64,
        "admission decision"
    );
    json(StatusCode::OK, &reviewed.review)
}

async fn check(request: Request<Incoming>, app: &App) -> Answer {
    let mutate = match request.uri().query().map(check_query).transpose() {
        Ok(mutate) => mutate.unwrap_or(false),
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    let body = match read_body(request, app).await {
        Ok(body) => body,
        Err(answer) => return answer,
    };
    let started = Instant::now();
    let Some(set) = app.policy_set() else {
        app.metrics.request("check", "unavailable", 0.0);
        return error(StatusCode::SERVICE_UNAVAILABLE, "no policy set loaded yet");
    };
    let limits = app.config.request_limits;
    let max_bytes = app.config.max_body_bytes;
    let namespaces = app.config.namespaces.clone();
    let live = app.live.clone();
    let report = app
        .evaluate_refusing(
            body.len(),
            move || check_body(&body, &set, &limits, max_bytes, mutate, namespaces, live),
            |report| report.exit_code() == 2,
        )
        .await;
    let report = match report {
        Ok(report) => report,
        Err(e @ super::EvaluationError::Busy { .. }) => {
            app.metrics
                .request("check", "busy", started.elapsed().as_secs_f64());
            return busy(&e, false);
        }
        Err(super::EvaluationError::Failed) => {
            return error(StatusCode::INTERNAL_SERVER_ERROR, "the check failed")
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    let (status, verdict) = match report.exit_code() {
        0 => (StatusCode::OK, "allowed"),
        1 => (StatusCode::FORBIDDEN, "denied"),
        _ if report.errors.is_empty() => (StatusCode::BAD_REQUEST, "undecided"),
        _ => (StatusCode::BAD_REQUEST, "bad-request"),
    };
    for result in &report.results {
        for violation in &result.violations {
            app.metrics.violation(&violation.policy);
        }
    }
    app.metrics.request("check", verdict, seconds);
    let summary = report.summary();
    tracing::info!(
        documents = summary.documents,
        denied = summary.denied,
        errors = summary.errors,
        verdict,
        latency_us = (seconds * 1e6) as u64,
        "check decision"
    );
    json(status, &report.to_json())
}

/// Checks a `/v1/check` body as the CLI checks a file, within the request budgets (nodes, alias
/// expansion and depth while parsing; then labels and annotations, before evaluating).
fn check_body(
    body: &[u8],
    set: &crate::policy::PolicySet,
    limits: &RequestLimits,
    max_bytes: usize,
    mutate: bool,
    namespaces: crate::namespaces::KnownNamespaces,
    live: Option<Arc<crate::live::Live>>,
) -> Report {
    const NAME: &str = "<request>";
    let read_limits = limits.read_limits(max_bytes);
    // A body that does not parse is reported by the check itself, as the CLI reports it.
    let documents = crate::manifest::decode(body, &read_limits)
        .ok()
        .and_then(|text| crate::manifest::parse_documents(text, &read_limits).ok());
    for document in documents.iter().flatten() {
        if let Err(e) = limits.check_labels(&document.root) {
            let mut report = Report::default();
            report.errors.push(InputError {
                file: NAME.into(),
                message: format!("document {}: {e}", document.index),
            });
            return report;
        }
    }
    let inputs = [Input {
        name: NAME.into(),
        text: body.to_vec(),
    }];
    let options = CheckOptions {
        limits: read_limits,
        mutate,
        namespaces,
        live,
        ..CheckOptions::default()
    };
    check_inputs(set, &inputs, &options)
}

/// The query of `/v1/check`: `mutate=true|false`; anything else is refused (a typo must not
/// silently check without what the caller asked for).
fn check_query(query: &str) -> Result<bool, String> {
    let mut mutate = false;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair {
            "mutate" | "mutate=true" => mutate = true,
            "mutate=false" => mutate = false,
            _ => {
                return Err(format!(
                    "unknown query parameter {pair:?}: the only one is mutate=true|false"
                ))
            }
        }
    }
    Ok(mutate)
}

/// Serves `GET /metrics` (and `/healthz`) over plain HTTP until told to stop.
pub async fn serve_metrics(listener: TcpListener, app: Arc<App>, mut stop: watch::Receiver<bool>) {
    loop {
        let (tcp, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(_) => continue,
            },
            _ = stop.changed() => return,
        };
        let app = Arc::clone(&app);
        let read_timeout = app.config.read_timeout;
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let app = Arc::clone(&app);
                async move {
                    let answer = match (request.method(), request.uri().path()) {
                        (&Method::GET, "/metrics") => respond(
                            StatusCode::OK,
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                            app.metrics.encode(),
                        ),
                        (&Method::GET, "/healthz") => respond(StatusCode::OK, "text/plain", "ok\n"),
                        // Also here, for probes when the HTTPS port requires client certificates.
                        (&Method::GET, "/readyz") => readiness(&app),
                        _ => error(
                            StatusCode::NOT_FOUND,
                            "only /metrics, /healthz and /readyz here",
                        ),
                    };
                    Ok::<_, Infallible>(answer)
                }
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(read_timeout);
            let _ = builder.serve_connection(TokioIo::new(tcp), service).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_answer_says_when_to_retry_in_the_form_the_api_server_reads() {
        let refused = super::super::EvaluationError::Busy {
            slots: 2,
            waited: std::time::Duration::from_secs(2),
        };
        for kubernetes in [true, false] {
            let answer = busy(&refused, kubernetes);
            assert_eq!(answer.status(), StatusCode::TOO_MANY_REQUESTS);
            assert_eq!(answer.headers()[RETRY_AFTER], "1");
            let body = body_of(answer);
            if kubernetes {
                assert_eq!(body["kind"], "Status");
                assert_eq!(body["reason"], "TooManyRequests");
                assert_eq!(body["details"]["retryAfterSeconds"], 1);
            } else {
                assert!(body["error"].as_str().unwrap().contains("busy"), "{body}");
            }
        }
    }

    #[test]
    fn review_uids_are_read_without_building_the_body() {
        let cases: &[(&str, Option<&str>)] = &[
            (
                r#"{"request": {"uid": "u-1", "object": {"a": [1, 2, {"b": null}]}}}"#,
                Some("u-1"),
            ),
            (
                r#"{"kind": "AdmissionReview", "request": {"object": {}}}"#,
                None,
            ),
            (r#"{"request": null}"#, None),
            ("not json", None),
        ];
        for (body, uid) in cases {
            assert_eq!(review_uid(body.as_bytes()).as_deref(), *uid, "{body}");
        }
    }

    fn body_of(answer: Answer) -> serde_json::Value {
        let bytes = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(answer.into_body().collect())
            .unwrap()
            .to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }
}
