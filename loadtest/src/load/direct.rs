//! A user's own HTTP/1.1 connection to a plain-`http` target: the request
//! path that does not go through goose's client.
//!
//! Goose's client is reqwest: per request it joins and parses the URL
//! (idna included), checks a connection out of a pool, builds a request
//! metric and sends it down a channel. For one fixed `POST` over one
//! keep-alive connection none of that is needed, and a profile put it at
//! a third of the generator's user-space CPU. So each user keeps one hyper
//! HTTP/1.1 connection of its own and sends a request made from parts
//! built once (the path and query, the `Host` header). `https` targets
//! keep goose's client (TLS, and any proxy settings it honours).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{CONTENT_LENGTH, HOST, HeaderValue};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::analysis::stats::server_timing_app_ms;

/// Where a plain-http target's requests go, parsed once for the run.
#[derive(Debug, Clone)]
pub struct DirectTarget {
    /// `host:port` to connect to.
    addr: String,
    /// The request's path and query.
    uri: Uri,
    host: HeaderValue,
}

impl DirectTarget {
    /// The target of a `POST` to `url`; `None` for `https` (goose's client
    /// does TLS) or a URL hyper cannot take as it stands.
    pub fn of(url: &str) -> Option<Self> {
        let uri: Uri = url.parse().ok()?;
        if uri.scheme_str() != Some("http") {
            return None;
        }
        let authority = uri.authority()?.clone();
        let port = authority.port_u16().unwrap_or(80);
        let path = uri.path_and_query()?.clone();
        Some(Self {
            addr: format!("{}:{port}", authority.host()),
            uri: Uri::from(path),
            host: HeaderValue::from_str(authority.as_str()).ok()?,
        })
    }

    fn request(&self) -> Request<Empty<Bytes>> {
        let mut request = Request::new(Empty::new());
        *request.method_mut() = Method::POST;
        *request.uri_mut() = self.uri.clone();
        let headers = request.headers_mut();
        headers.insert(HOST, self.host.clone());
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
        request
    }
}

/// The handler's own time (`Server-Timing: app;dur=`), ms, if it says.
pub fn server_ms(headers: &hyper::HeaderMap) -> Option<f64> {
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

/// One user's connection, opened on first use and again after an error.
#[derive(Default)]
pub struct Connection {
    sender: Option<SendRequest<Empty<Bytes>>>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl Connection {
    /// Sends one `POST`; `None` when no whole response came within
    /// `timeout` (then the connection is dropped: a late answer must not
    /// be read as the next request's).
    pub async fn post(&mut self, target: &DirectTarget, timeout: Duration) -> Option<Exchange> {
        match tokio::time::timeout(timeout, self.exchange(target)).await {
            Ok(Ok(exchange)) => Some(exchange),
            Ok(Err(e)) => {
                tracing::debug!("POST {}: {e}", target.uri);
                self.sender = None;
                None
            }
            Err(_) => {
                self.sender = None;
                None
            }
        }
    }

    async fn exchange(&mut self, target: &DirectTarget) -> Result<Exchange, BoxError> {
        // A keep-alive connection the server closed fails before the
        // request is written; only then is it sent again, on a new
        // connection (a request that may have been received never is).
        for attempt in 0..2 {
            if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
                self.sender = Some(connect(target).await?);
            }
            let Some(sender) = self.sender.as_mut() else {
                continue;
            };
            if sender.ready().await.is_err() {
                self.sender = None;
                continue;
            }
            match sender.send_request(target.request()).await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let server_ms = server_ms(response.headers());
                    let body = response.into_body().collect().await?.to_bytes();
                    return Ok(Exchange {
                        status,
                        server_ms,
                        body,
                    });
                }
                Err(e) if e.is_canceled() && attempt == 0 => self.sender = None,
                Err(e) => return Err(e.into()),
            }
        }
        Err("the connection closed twice before the request was sent".into())
    }
}

async fn connect(target: &DirectTarget) -> Result<SendRequest<Empty<Bytes>>, BoxError> {
    let stream = TcpStream::connect(&target.addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!("connection closed: {e}");
        }
    });
    Ok(sender)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_targets_are_parsed_once_and_https_ones_left_to_goose() {
        let t = DirectTarget::of("http://127.0.0.1:8080/prod/visits?path=%2Fa").expect("http");
        assert_eq!(t.addr, "127.0.0.1:8080");
        assert_eq!(t.host, "127.0.0.1:8080");
        let r = t.request();
        assert_eq!(r.uri(), "/prod/visits?path=%2Fa");
        assert_eq!(r.method(), Method::POST);
        assert_eq!(
            DirectTarget::of("http://localhost/visits").map(|t| t.addr),
            Some("localhost:80".to_owned())
        );
        assert!(DirectTarget::of("https://example.com/visits").is_none());
    }
}
