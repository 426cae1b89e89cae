//! The one request path: `https://` stages with a private CA
//! (`--cacert`), and no request ever sent twice, even a counting `GET`
//! whose connection drops.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;

use crate::helpers::{out_dir, run};

/// A test CA and a certificate it signed for 127.0.0.1, as PEM files.
pub struct TestCa {
    pub ca_pem: std::path::PathBuf,
    pub server: rustls::ServerConfig,
    _dir: tempfile::TempDir,
}

pub fn test_ca() -> TestCa {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().expect("CA key")).expect("CA");
    let key = KeyPair::generate().expect("server key");
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .expect("server params")
        .signed_by(&key, &ca)
        .expect("server certificate");
    let (dir, path) = out_dir();
    let ca_pem = path.join("ca.pem");
    std::fs::write(&ca_pem, ca.pem()).expect("write ca.pem");
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .expect("server config");
    TestCa {
        ca_pem,
        server,
        _dir: dir,
    }
}

/// Our contract's counter (atomic, in memory) over TLS on 127.0.0.1.
async fn tls_counter(config: rustls::ServerConfig) -> (String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("https://{}", listener.local_addr().expect("addr"));
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let counts: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
    let server = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, counts) = (acceptor.clone(), counts.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = service_fn(move |req: Request<Incoming>| {
                    let r = contract_answer(&req, &counts);
                    async move { Ok::<_, Infallible>(r) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (url, server)
}

fn contract_answer(
    req: &Request<Incoming>,
    counts: &Mutex<HashMap<String, u64>>,
) -> Response<Full<Bytes>> {
    let Ok(path) = counter_api::path_from_query(req.uri().query()) else {
        return Response::builder()
            .status(400)
            .body(Full::new(Bytes::new()))
            .unwrap_or_default();
    };
    let mut counts = counts.lock().unwrap_or_else(|e| e.into_inner());
    let n = counts.entry(path.clone()).or_insert(0);
    if req.method() == hyper::Method::POST {
        *n += 1;
    }
    let body = serde_json::json!({"path": path, "count": *n}).to_string();
    Response::builder()
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_default()
}

#[tokio::test]
async fn an_https_stage_with_a_private_ca_is_judged_with_cacert_and_named_without() {
    let ca = test_ca();
    let (url, _server) = tls_counter(ca.server.clone()).await;
    let cacert = ca.ca_pem.to_str().expect("utf-8 path");
    let r = run(
        "tls-cacert",
        &["--host", &url, "--cacert", cacert, "-u", "4", "-t", "2"],
    )
    .await;
    assert_eq!(r.code(), Some(0), "{}\n{}", r.stdout(), r.stderr());
    let s = r.summary();
    assert!(s.verdict.passed() && s.requests.ok > 10, "{:?}", s.requests);
    assert_eq!(s.requests.unknown, 0, "every request answered over TLS");

    let r = run("tls-untrusted", &["--host", &url, "-u", "2", "-t", "2"]).await;
    let err = r.stderr();
    assert_eq!(r.code(), Some(1), "{err}");
    assert!(
        err.contains("certificate") && err.contains("--cacert"),
        "the error names the certificate problem and the option: {err}"
    );
}

/// Counts every request it receives; answers the count, except that it
/// drops every fifth connection after counting, without a word.
async fn dropping_counter() -> (String, Arc<AtomicU64>, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let received = Arc::new(AtomicU64::new(0));
    let seen = received.clone();
    let server = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let service = service_fn(move |_req: Request<Incoming>| {
                    let n = seen.fetch_add(1, Ordering::SeqCst) + 1;
                    async move {
                        if n.is_multiple_of(5) {
                            return Err("dropped");
                        }
                        let body = format!(r#"{{"hits": {n}}}"#);
                        Ok(Response::new(Full::new(Bytes::from(body))))
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    (url, received, server)
}

#[tokio::test]
async fn a_counting_get_whose_connection_drops_is_unknown_and_never_sent_again() {
    let (url, received, _server) = dropping_counter().await;
    let r = run(
        "no-retry",
        &[
            "--host",
            &url,
            "--request",
            "GET /hit",
            "--read",
            "none",
            "--exclusive",
            "-u",
            "4",
            "-t",
            "2",
            "--abort-error-rate",
            "0.9",
            "--max-error-rate",
            "0.5",
        ],
    )
    .await;
    assert_eq!(r.code(), Some(0), "{}\n{}", r.stdout(), r.stderr());
    let s = r.summary();
    assert!(
        s.requests.unknown > 0,
        "some connections dropped: {:?}",
        s.requests
    );
    assert_eq!(
        received.load(Ordering::SeqCst),
        s.requests.total,
        "every request the counter received was recorded once: none was sent twice"
    );
}
