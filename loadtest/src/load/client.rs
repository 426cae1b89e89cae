//! The one way a request is sent: each user keeps one HTTP/1.1 keep-alive
//! connection of its own, over TCP for `http://` and over TLS (rustls) for
//! `https://`, and sends requests made from parts built once for the run.
//!
//! Goose runs the users (their number, ramp, test plans, pacing and
//! throttle); this module sends. Goose's own client (reqwest) would join
//! and parse the URL, check a connection out of a pool and build a metric
//! for every request, and it retries idempotent methods after a dropped
//! connection in some versions: an automatic retry of a counting `GET` is
//! a double count the checker would blame on the server. Here a request
//! is sent again only when it provably never left (hyper hands it back
//! unsent when a kept-alive connection closed before it was written); a
//! request that may have been received is never resent: it is unknown.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{CONTENT_LENGTH, HOST, HeaderMap, HeaderValue};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use rustls::pki_types::pem::PemObject;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::request::Header;
use crate::analysis::stats::server_timing_app_ms;

/// Where the run's requests go: `--host`, parsed once.
#[derive(Debug, Clone)]
pub struct Endpoint {
    tls: bool,
    /// `host:port` to connect to.
    addr: String,
    server_name: ServerName<'static>,
    host: HeaderValue,
    /// The URL's own path (an API Gateway stage), without a trailing `/`.
    base_path: String,
}

/// A `--host` that cannot be a target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--host {url:?}: {why}")]
pub struct HostError {
    pub url: String,
    pub why: String,
}

impl Endpoint {
    /// An absolute `http://` or `https://` URL, with or without a path.
    pub fn parse(url: &str) -> Result<Self, HostError> {
        let err = |why: String| HostError {
            url: url.to_owned(),
            why,
        };
        let uri: Uri = url.parse().map_err(|e| {
            let hint = if url.contains("://") {
                String::new()
            } else {
                format!(" (did you mean http://{url} ?)")
            };
            err(format!("not a URL ({e}){hint}"))
        })?;
        let tls = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ if !url.contains("://") => {
                return Err(err(format!("not a URL (did you mean http://{url} ?)")));
            }
            _ => return Err(err("use http:// or https://".into())),
        };
        let authority = uri.authority().ok_or_else(|| err("no host in it".into()))?;
        if authority.as_str().contains('@') {
            return Err(err(
                "user names and passwords do not go in the URL: use -H".into()
            ));
        }
        if uri.query().is_some() {
            return Err(err("no query here: it goes in --request".into()));
        }
        let host = authority.host();
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let server_name = ServerName::try_from(bare.to_owned())
            .map_err(|_| err(format!("{host:?} is not a host name")))?;
        let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
        Ok(Self {
            tls,
            addr: format!("{host}:{port}"),
            server_name,
            host: HeaderValue::from_str(authority.as_str())
                .map_err(|_| err("not a host name".into()))?,
            base_path: uri.path().trim_end_matches('/').to_owned(),
        })
    }

    pub fn is_tls(&self) -> bool {
        self.tls
    }
}

/// Why a client could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("--cacert {path}: {why}")]
    CaFile { path: String, why: String },
    #[error("TLS set-up: {0}")]
    Tls(#[from] rustls::Error),
}

/// The run's endpoint and, for `https://`, its TLS settings: shared by
/// every user, each with a [`Connection`] of its own.
#[derive(Clone)]
pub struct Client {
    endpoint: Endpoint,
    tls: Option<TlsConnector>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.endpoint)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl Client {
    /// For `https://`: the platform's trusted roots, and the CA in
    /// `cacert` (PEM) for a stage with a private certificate.
    pub fn new(endpoint: Endpoint, cacert: Option<&Path>) -> Result<Self, ClientError> {
        let tls = if endpoint.tls {
            Some(TlsConnector::from(tls_config(cacert)?))
        } else {
            None
        };
        Ok(Self { endpoint, tls })
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// A request to `target` (path and query, after `--host`'s own path),
    /// built once and sent as often as wanted.
    pub fn prepare(
        &self,
        method: Method,
        target: &str,
        headers: &[Header],
        body: Bytes,
    ) -> Result<Prepared, String> {
        let full = format!("{}{target}", self.endpoint.base_path);
        let uri: Uri = full
            .parse()
            .map_err(|e| format!("{full:?} is not a path and query: {e}"))?;
        let mut map = HeaderMap::new();
        map.insert(HOST, self.endpoint.host.clone());
        for h in headers {
            map.append(h.name.clone(), h.value.clone());
        }
        let bodiless = matches!(
            method,
            Method::GET | Method::HEAD | Method::DELETE | Method::OPTIONS
        );
        if !(bodiless && body.is_empty()) {
            map.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
        }
        Ok(Prepared {
            method,
            uri,
            headers: map,
            body,
        })
    }

    /// `url`'s scheme, host and port, as a user would write it.
    pub fn origin(&self) -> String {
        let scheme = if self.endpoint.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.endpoint.host.to_str().unwrap_or("?"))
    }
}

/// `--cacert`: a file of PEM certificates, checked before anything starts.
pub fn check_cacert(path: &Path) -> Result<(), ClientError> {
    tls_config(Some(path)).map(|_| ())
}

/// The roots: the platform's, plus `cacert`'s certificates.
fn tls_config(cacert: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, ClientError> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    if let Some(path) = cacert {
        let bad = |why: String| ClientError::CaFile {
            path: path.display().to_string(),
            why,
        };
        let certs = rustls::pki_types::CertificateDer::pem_file_iter(path)
            .map_err(|e| bad(e.to_string()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(e.to_string()))?;
        if certs.is_empty() {
            return Err(bad("no PEM certificate in it".into()));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| bad(e.to_string()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A request built once: each send clones its parts.
#[derive(Debug, Clone)]
pub struct Prepared {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
}

impl Prepared {
    fn request(&self) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(self.body.clone()));
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.uri.clone();
        *request.headers_mut() = self.headers.clone();
        request
    }

    /// `METHOD /path?query`, for messages.
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.uri)
    }
}

/// The handler's own time (`Server-Timing: app;dur=`), ms, if it says.
pub fn server_ms(headers: &HeaderMap) -> Option<f64> {
    headers
        .get("server-timing")
        .and_then(|v| v.to_str().ok())
        .and_then(server_timing_app_ms)
}

/// What came back for one request.
#[derive(Debug)]
pub struct Exchange {
    pub status: u16,
    /// The handler's own time (`Server-Timing: app;dur=`), ms.
    pub server_ms: Option<f64>,
    pub body: Bytes,
}

/// Why no whole answer came.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("no answer within {0:?}")]
    TimedOut(Duration),
    #[error("connecting to {addr}: {why}")]
    Connect { addr: String, why: String },
    #[error("TLS with {host}: {why}")]
    Tls { host: String, why: String },
    #[error("{0}")]
    Http(String),
}

/// One user's connection, opened on first use and again after an error.
#[derive(Default)]
pub struct Connection {
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Connection {
    /// Sends `request`, waiting at most `timeout` for the whole answer.
    /// On any error the connection is dropped (a late answer must not be
    /// read as the next request's) and the next send opens a new one.
    pub async fn send(
        &mut self,
        client: &Client,
        request: &Prepared,
        timeout: Duration,
    ) -> Result<Exchange, SendError> {
        let result = tokio::time::timeout(timeout, self.exchange(client, request)).await;
        let result = result.unwrap_or(Err(SendError::TimedOut(timeout)));
        if let Err(e) = &result {
            tracing::debug!("{}: {e}", request.line());
            self.sender = None;
        }
        result
    }

    async fn exchange(
        &mut self,
        client: &Client,
        prepared: &Prepared,
    ) -> Result<Exchange, SendError> {
        let mut request = prepared.request();
        // A kept-alive connection the server closed hands the request
        // back unwritten: only then is it sent again, on a new connection.
        for _ in 0..2 {
            if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
                self.sender = Some(connect(client).await?);
            }
            let Some(sender) = self.sender.as_mut() else {
                continue;
            };
            if sender.ready().await.is_err() {
                self.sender = None;
                continue;
            }
            match sender.try_send_request(request).await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let server_ms = server_ms(response.headers());
                    let body = response
                        .into_body()
                        .collect()
                        .await
                        .map_err(|e| SendError::Http(with_causes(&e)))?
                        .to_bytes();
                    return Ok(Exchange {
                        status,
                        server_ms,
                        body,
                    });
                }
                Err(mut e) => match e.take_message() {
                    Some(unsent) => {
                        request = unsent;
                        self.sender = None;
                    }
                    None => return Err(SendError::Http(with_causes(e.error()))),
                },
            }
        }
        Err(SendError::Http(
            "the connection closed twice before the request was written".into(),
        ))
    }
}

async fn connect(client: &Client) -> Result<SendRequest<Full<Bytes>>, SendError> {
    let e = &client.endpoint;
    let stream = TcpStream::connect(&e.addr)
        .await
        .map_err(|err| SendError::Connect {
            addr: e.addr.clone(),
            why: err.to_string(),
        })?;
    let _ = stream.set_nodelay(true);
    let (sender, connection) = match &client.tls {
        None => http1::handshake(TokioIo::new(stream)).await,
        Some(tls) => {
            let stream = tls
                .connect(e.server_name.clone(), stream)
                .await
                .map_err(|err| tls_error(e, &err))?;
            let (sender, connection) = http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|err| SendError::Http(with_causes(&err)))?;
            tokio::spawn(drive(connection));
            return Ok(sender);
        }
    }
    .map_err(|err| SendError::Http(with_causes(&err)))?;
    tokio::spawn(drive(connection));
    Ok(sender)
}

/// Runs a connection until it closes.
async fn drive<F: std::future::Future<Output = Result<(), hyper::Error>>>(connection: F) {
    if let Err(e) = connection.await {
        tracing::debug!("connection closed: {e}");
    }
}

/// A TLS failure, with what to do about a certificate the machine does
/// not trust.
fn tls_error(e: &Endpoint, err: &std::io::Error) -> SendError {
    let rustls_error = err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    let hint = match rustls_error {
        Some(rustls::Error::InvalidCertificate(_)) => {
            " (the stage's certificate is not one this machine trusts: for a private CA, give its certificate with --cacert FILE)"
        }
        _ => "",
    };
    SendError::Tls {
        host: e.addr.clone(),
        why: format!("{err}{hint}"),
    }
}

/// An error and its causes on one line ("error sending request: client
/// error (Connect): tcp connect error: Connection refused").
pub fn with_causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let c = cause.to_string();
        if !text.contains(&c) {
            text.push_str(": ");
            text.push_str(&c);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_is_parsed_once_with_its_stage_path() {
        let e = Endpoint::parse("https://abc.execute-api.eu-west-1.amazonaws.com/prod/")
            .expect("an API Gateway URL");
        assert!(e.is_tls());
        assert_eq!(e.addr, "abc.execute-api.eu-west-1.amazonaws.com:443");
        assert_eq!(e.base_path, "/prod");
        let client = Client {
            endpoint: e,
            tls: None,
        };
        let p = client
            .prepare(Method::POST, "/visits?path=%2Fa", &[], Bytes::new())
            .expect("prepared");
        assert_eq!(p.uri, "/prod/visits?path=%2Fa");
        assert_eq!(p.headers[HOST], "abc.execute-api.eu-west-1.amazonaws.com");
        assert_eq!(p.headers[CONTENT_LENGTH], "0");
        let e = Endpoint::parse("http://127.0.0.1:8080").expect("plain");
        assert_eq!(
            (e.addr.as_str(), e.base_path.as_str()),
            ("127.0.0.1:8080", "")
        );
        let e = Endpoint::parse("http://[::1]:9/").expect("v6");
        assert_eq!(e.addr, "[::1]:9");
        for bad in [
            "127.0.0.1:8080",
            "ftp://x",
            "http://user:pw@x/",
            "http://x/?a=1",
            "",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad:?} refused");
        }
        let hint = Endpoint::parse("localhost:8080").expect_err("no scheme");
        assert!(hint.to_string().contains("http://localhost:8080"), "{hint}");
    }

    #[test]
    fn a_read_has_no_content_length_and_a_body_has_its_own() {
        let client = Client::new(Endpoint::parse("http://x").expect("url"), None).expect("client");
        let get = client
            .prepare(Method::GET, "/n", &[], Bytes::new())
            .expect("get");
        assert!(get.headers.get(CONTENT_LENGTH).is_none());
        let h: Header = "X-Api-Key: s3cret".parse().expect("header");
        let post = client
            .prepare(Method::POST, "/n", &[h], Bytes::from_static(b"{}"))
            .expect("post");
        assert_eq!(post.headers[CONTENT_LENGTH], "2");
        assert_eq!(post.headers["x-api-key"], "s3cret");
        assert_eq!(post.line(), "POST /n");
    }
}
