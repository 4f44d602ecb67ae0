//! The one outbound HTTP client: hyper-util's pooling `Client` over hyper-rustls, used by the
//! API gate to reach its upstream and by `cmek-gate gcloud --remote` to reach a central gate.
//!
//! TLS trusts the Mozilla roots of `webpki-roots` plus an optional extra CA
//! ([`crate::server::tls::client_config`]). Every exchange is bounded: the TCP connect, the
//! wait for the response headers, the pause between pieces of the response body, and (for
//! [`HttpClient::send_collect`]) the response size. Idle connections are kept for reuse up to
//! the idle timeout.

use crate::server::tls::{self, TlsError};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::{Request, Response};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// How a client is built.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// CA certificates (PEM) trusted besides the public roots.
    pub extra_ca: Option<PathBuf>,
    /// Longest wait for the TCP connection.
    pub connect_timeout: Duration,
    /// Longest wait from sending a request to the response headers (connect and TLS included),
    /// and then between two pieces of the response body.
    pub response_timeout: Duration,
    /// How long an idle pooled connection is kept.
    pub idle_timeout: Duration,
    /// Idle connections kept per host.
    pub max_idle_per_host: usize,
}

impl Default for ClientOptions {
    fn default() -> ClientOptions {
        ClientOptions {
            extra_ca: None,
            connect_timeout: Duration::from_secs(5),
            response_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(90),
            max_idle_per_host: 32,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no response within {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Request(String),
    #[error("the response is larger than {0} bytes")]
    TooLarge(usize),
    #[error("the response body could not be read: {0}")]
    Body(String),
}

impl ClientError {
    /// Whether the upstream did not answer in time (504), rather than could not be reached (502).
    pub fn is_timeout(&self) -> bool {
        matches!(self, ClientError::Timeout(_))
    }
}

/// The error and its sources, on one line (hyper's own message alone says little).
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

/// A pooling HTTP/1.1 client for `http` and `https` URLs. Cheap to clone.
#[derive(Clone, Debug)]
pub struct HttpClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    response_timeout: Duration,
}

impl HttpClient {
    /// Builds the client; fails only when the extra CA file does not load.
    pub fn new(options: &ClientOptions) -> Result<HttpClient, TlsError> {
        let mut tls = tls::client_config(options.extra_ca.as_deref())?;
        // hyper-rustls sets ALPN itself (none for HTTP/1.1 only).
        tls.alpn_protocols.clear();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(options.connect_timeout));
        http.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(options.idle_timeout)
            .pool_max_idle_per_host(options.max_idle_per_host)
            .build(https);
        Ok(HttpClient {
            client,
            response_timeout: options.response_timeout,
        })
    }

    /// Sends a request (its URI absolute: scheme and authority) and returns the response once
    /// its headers arrived; the body streams, each piece within the response timeout.
    pub async fn send(
        &self,
        request: Request<Full<Bytes>>,
    ) -> Result<Response<TimedBody>, ClientError> {
        let timeout = self.response_timeout;
        let response = tokio::time::timeout(timeout, self.client.request(request))
            .await
            .map_err(|_| ClientError::Timeout(timeout))?
            .map_err(|e| ClientError::Request(chain(&e)))?;
        Ok(response.map(|body| TimedBody::new(body, timeout)))
    }

    /// Sends a request and reads the whole response, refusing one over `max_bytes`.
    pub async fn send_collect(
        &self,
        request: Request<Full<Bytes>>,
        max_bytes: usize,
    ) -> Result<Response<Bytes>, ClientError> {
        let (parts, body) = self.send(request).await?.into_parts();
        let limited = http_body_util::Limited::new(body, max_bytes);
        let bytes = limited
            .collect()
            .await
            .map_err(|e| {
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some()
                {
                    ClientError::TooLarge(max_bytes)
                } else {
                    ClientError::Body(e.to_string())
                }
            })?
            .to_bytes();
        Ok(Response::from_parts(parts, bytes))
    }
}

/// A response body whose every piece must arrive within a time limit: a stalled upstream ends
/// the body with an error instead of holding the connection open.
pub struct TimedBody {
    inner: Incoming,
    limit: Duration,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl TimedBody {
    fn new(inner: Incoming, limit: Duration) -> TimedBody {
        TimedBody {
            inner,
            limit,
            deadline: Box::pin(tokio::time::sleep(limit)),
        }
    }
}

/// The body of a response was not received in time.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("no part of the response body within {0:?}")]
    Stalled(Duration),
    #[error(transparent)]
    Hyper(#[from] hyper::Error),
}

impl Body for TimedBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                let limit = this.limit;
                this.deadline
                    .as_mut()
                    .reset(tokio::time::Instant::now() + limit);
                Poll::Ready(frame.map(|f| f.map_err(BodyError::from)))
            }
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(BodyError::Stalled(this.limit)))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
