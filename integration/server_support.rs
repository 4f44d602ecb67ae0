//! Running the real server for a test, and a real HTTPS client (hyper over tokio-rustls) to talk
//! to it. The server process is killed when its handle is dropped.

use crate::support::repo;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use tokio::net::TcpStream;

pub fn gate_binary() -> &'static str {
    env!("CARGO_BIN_EXE_cmek-gate")
}

/// Writes development certificates with `cmek-gate certs` into `dir`.
pub fn make_certs(dir: &Path, client: bool) {
    let mut args = vec![
        "certs",
        "--out",
        dir.to_str().unwrap(),
        "--dns",
        "localhost",
        "--dns",
        "127.0.0.1",
    ];
    if client {
        args.extend(["--client", "kube-apiserver"]);
    }
    let out = Command::new(gate_binary()).args(&args).output().unwrap();
    assert!(
        out.status.success(),
        "cmek-gate certs failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A running `cmek-gate serve`.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub metrics: SocketAddr,
    /// The Cloud Run API gate, when started with --cloud-run-listen.
    pub cloud_run: Option<SocketAddr>,
    pub stderr_path: PathBuf,
}

impl Server {
    /// Starts `cmek-gate serve` with `cert`/`key` and extra flags on loopback ports.
    pub fn start(cert: &Path, key: &Path, extra: &[&str], log_dir: &Path) -> Server {
        let stderr_path = log_dir.join("server.log");
        let stderr = std::fs::File::create(&stderr_path).unwrap();
        let mut child = Command::new(gate_binary())
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--metrics-listen",
                "127.0.0.1:0",
            ])
            .arg("--cert")
            .arg(cert)
            .arg("--key")
            .arg(key)
            .args(if extra.contains(&"--reload-interval") {
                &[][..]
            } else {
                &["--reload-interval", "200ms"][..]
            })
            .args(extra)
            .current_dir(repo())
            .env_remove("CMEK_GATE_POLICIES")
            .env_remove("CMEK_GATE_PARAMS")
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut addr = None;
        let mut metrics = None;
        let mut cloud_run = None;
        let want_gate = extra.contains(&"--cloud-run-listen");
        while addr.is_none() || metrics.is_none() || (want_gate && cloud_run.is_none()) {
            let line = match lines.next() {
                Some(Ok(line)) => line,
                _ => panic!(
                    "the server exited before listening:\n{}",
                    std::fs::read_to_string(&stderr_path).unwrap_or_default()
                ),
            };
            if let Some(a) = line.strip_prefix("listening on https://") {
                addr = Some(a.parse().unwrap());
            }
            if let Some(m) = line.strip_prefix("metrics on http://") {
                metrics = Some(m.trim_end_matches("/metrics").parse().unwrap());
            }
            if let Some(g) = line
                .strip_prefix("cloud run API gate on https://")
                .or_else(|| line.strip_prefix("cloud run API gate on http://"))
            {
                cloud_run = Some(g.parse().unwrap());
            }
        }
        Server {
            child,
            addr: addr.unwrap(),
            metrics: metrics.unwrap(),
            cloud_run,
            stderr_path,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// The metrics page, over plain HTTP.
    pub async fn metrics_text(&self) -> String {
        self.plain_get("/metrics").await.1
    }

    /// A GET on the plain-HTTP metrics listener: status and body.
    pub async fn plain_get(&self, path: &str) -> (u16, String) {
        let stream = TcpStream::connect(self.metrics).await.unwrap();
        let io = hyper_util::rt::TokioIo::new(stream);
        let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await.unwrap();
        tokio::spawn(connection);
        let request = hyper::Request::get(path)
            .header("host", "localhost")
            .body(Full::new(Bytes::new()))
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        let status = response.status().as_u16();
        let body = body_bytes(response.into_body()).await;
        (status, String::from_utf8(body).unwrap())
    }

    /// The value of a metric line that starts with `prefix`, 0 when absent.
    pub async fn metric(&self, prefix: &str) -> f64 {
        self.metrics_text()
            .await
            .lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    }

    /// Sends a signal with kill(1).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTPS client that trusts the given CA certificates, optionally with a client certificate.
#[derive(Clone)]
pub struct Client {
    connector: tokio_rustls::TlsConnector,
    pub addr: SocketAddr,
}

/// What one request got back.
pub struct Reply {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
    /// The server's certificate as presented in the handshake.
    pub server_cert: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

impl Client {
    pub fn new(
        addr: SocketAddr,
        ca_files: &[&Path],
        client_cert: Option<(&Path, &Path)>,
    ) -> Client {
        let mut roots = rustls::RootCertStore::empty();
        for ca in ca_files {
            for cert in CertificateDer::pem_file_iter(ca).unwrap() {
                roots.add(cert.unwrap()).unwrap();
            }
        }
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
        let mut config = match client_cert {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => {
                let chain = CertificateDer::pem_file_iter(cert)
                    .unwrap()
                    .map(Result::unwrap)
                    .collect();
                builder
                    .with_client_auth_cert(chain, PrivateKeyDer::from_pem_file(key).unwrap())
                    .unwrap()
            }
        };
        // Full handshakes only, so that every connection shows the certificate being served.
        config.resumption = rustls::client::Resumption::disabled();
        Client {
            connector: tokio_rustls::TlsConnector::from(Arc::new(config)),
            addr,
        }
    }

    /// The TLS connector (for a connection whose TCP part is opened first).
    pub fn connector(&self) -> tokio_rustls::TlsConnector {
        self.connector.clone()
    }

    /// Opens a TLS connection (a new one for every call).
    pub async fn connect(&self) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
        let tcp = TcpStream::connect(self.addr).await?;
        self.connector
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
    }

    /// Writes `head` (the request line and headers, with the blank line) and `body` on a new TLS
    /// connection, ignoring a failed write (a server may answer an oversized body and close
    /// before the body is sent), and returns all it reads until the server closes.
    pub async fn exchange_raw(&self, head: &str, body: &[u8]) -> Vec<u8> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut tls = self.connect().await.unwrap();
        let _ = tls.write_all(head.as_bytes()).await;
        let _ = tls.write_all(body).await;
        let _ = tls.flush().await;
        let mut answer = Vec::new();
        let _ = tls.read_to_end(&mut answer).await;
        answer
    }

    /// Sends a request on a raw TLS connection ([`Client::exchange_raw`]) and returns the status
    /// line.
    pub async fn status_line_of_raw(&self, method: &str, path: &str, body: &[u8]) -> String {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nhost: localhost\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        let answer = self.exchange_raw(&head, body).await;
        String::from_utf8_lossy(&answer)
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned()
    }

    /// One request on a new connection.
    pub async fn send(&self, method: &str, path: &str, body: &[u8]) -> Result<Reply, String> {
        self.send_with(method, path, body, &[("host", "localhost")])
            .await
    }

    /// One request on a new connection, with these headers (and a JSON content type).
    pub async fn send_with(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        headers: &[(&str, &str)],
    ) -> Result<Reply, String> {
        let tls = self.connect().await.map_err(|e| format!("TLS: {e}"))?;
        let server_cert = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.to_vec())
            .unwrap_or_default();
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                .await
                .map_err(|e| format!("HTTP handshake: {e}"))?;
        tokio::spawn(connection);
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Full::new(Bytes::copy_from_slice(body)))
            .unwrap();
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("request: {e}"))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("body: {e}"))?
            .to_bytes();
        Ok(Reply {
            status,
            headers,
            body,
            server_cert,
        })
    }
}

/// All the bytes of a request's or response's body.
pub async fn body_bytes(body: hyper::body::Incoming) -> Vec<u8> {
    body.collect().await.unwrap().to_bytes().to_vec()
}

/// A plain-HTTP/1.1 server on a loopback port, on a thread of its own (a current-thread
/// runtime), standing in for an upstream the gate forwards to.
pub struct FakeUpstream {
    pub addr: SocketAddr,
    /// How many connections it accepted.
    pub connections: Arc<std::sync::atomic::AtomicUsize>,
}

impl FakeUpstream {
    /// Starts the server; every request it receives, on any connection, is answered by `answer`.
    pub fn start<A, F>(answer: A) -> FakeUpstream
    where
        A: Fn(hyper::Request<hyper::body::Incoming>) -> F + Clone + Send + 'static,
        F: std::future::Future<Output = hyper::Response<Full<Bytes>>> + Send + 'static,
    {
        let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = Arc::clone(&connections);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
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
                    counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let answer = answer.clone();
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |request| {
                            let response = answer(request);
                            async move { Ok::<_, std::convert::Infallible>(response.await) }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                            .await;
                    });
                }
            });
        });
        FakeUpstream {
            addr: rx.recv().unwrap(),
            connections,
        }
    }
}
