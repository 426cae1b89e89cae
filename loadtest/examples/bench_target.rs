//! The benchmark's target: a minimal atomic visitor counter over hyper,
//! HTTP/1.1 keep-alive, one thread (pin it to a core). `POST /visits?path=P`
//! adds one to P's count and answers `{"path":P,"count":n}`; `GET` reads it.
//! Anything else is 404. It exists to load generators, not to be an API:
//! see `bench/generators.sh`.
//!
//! `cargo run --release -p loadtest --example bench_target [PORT] [--tls CERT KEY]`
//! prints `http://127.0.0.1:<port>` (with `--tls`: `https://`, the PEM
//! certificate chain and key given) on its first line (PORT 0 or none: a
//! free one). TLS is rustls with the crypto provider loadtest uses.

use std::cell::RefCell;
use std::collections::HashMap;
use std::convert::Infallible;
use std::io::Write;
use std::rc::Rc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// Counts by decoded path. One thread serves every connection, so a
/// `RefCell` is the whole of the atomicity: one request is handled at a time.
type Counts = Rc<RefCell<HashMap<String, u64>>>;

fn answer(req: &Request<Incoming>, counts: &Counts) -> Response<Full<Bytes>> {
    let path = match counter_api::path_from_query(req.uri().query()) {
        Ok(p) if req.uri().path() == counter_api::VISITS_ROUTE => p,
        _ => return status(StatusCode::NOT_FOUND),
    };
    let count = {
        let mut counts = counts.borrow_mut();
        let slot = counts.entry(path.clone()).or_insert(0);
        match *req.method() {
            Method::POST => *slot += 1,
            Method::GET => {}
            _ => return status(StatusCode::METHOD_NOT_ALLOWED),
        }
        *slot
    };
    let body = serde_json::to_vec(&counter_api::CountBody { path, count }).unwrap_or_default();
    let mut response = Response::new(Full::new(Bytes::from(body)));
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = code;
    r
}

/// `--tls CERT KEY`: the server's certificate chain and key (PEM).
fn tls_acceptor(cert: &str, key: &str) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_file_iter(cert)?.collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_file(key)?;
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config)))
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (port, tls) = match args.as_slice() {
        [] => (0, None),
        [port] => (port.parse()?, None),
        [port, flag, cert, key] if flag == "--tls" => {
            (port.parse()?, Some(tls_acceptor(cert, key)?))
        }
        _ => anyhow::bail!("usage: bench_target [PORT] [--tls CERT KEY]"),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let mut out = std::io::stdout();
        let scheme = if tls.is_some() { "https" } else { "http" };
        writeln!(out, "{scheme}://{}", listener.local_addr()?)?;
        out.flush()?;
        let counts: Counts = Rc::default();
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            let (counts, tls) = (counts.clone(), tls.clone());
            tokio::task::spawn_local(async move {
                let service = service_fn(move |req| {
                    let r = answer(&req, &counts);
                    async move { Ok::<_, Infallible>(r) }
                });
                let http = http1::Builder::new();
                let _ = match tls {
                    None => http.serve_connection(TokioIo::new(stream), service).await,
                    Some(tls) => match tls.accept(stream).await {
                        Ok(stream) => http.serve_connection(TokioIo::new(stream), service).await,
                        Err(_) => return,
                    },
                };
            });
        }
    })
}
