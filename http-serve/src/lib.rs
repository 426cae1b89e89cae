//! [`serve`]: the one HTTP/1.1 accept loop of the workspace (the local
//! stage and the emulated one, the fault proxy, loadtest's `/metrics`,
//! and the tests' servers: the Lambda Runtime API, the stand-in counters,
//! the site), hardened against clients that misbehave and against running
//! out of file descriptors. Its own crate so that loadtest built without
//! the local stage (no AWS SDK) serves `/metrics` with it too.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use http_body_util::Full;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! tokio::spawn(http_serve::serve(
//!     listener,
//!     |_req| async { hyper::Response::new(Full::new(bytes::Bytes::from("hi"))) },
//!     http_serve::ServeOptions::default(),
//! ));
//! # Ok(()) }
//! ```
//!
//! - A slow client cannot hold a connection forever: the request head must
//!   arrive within [`ServeOptions::header_read_timeout`] (hyper's own
//!   timeout, which needs a timer) and its body within
//!   [`ServeOptions::body_read_timeout`] (a deadline on [`RequestBody`]).
//! - A failed `accept` never spins: errors about one connection (reset,
//!   aborted) are skipped, anything else (EMFILE, ENFILE, ENOBUFS, ...)
//!   waits with a bounded exponential backoff ([`AcceptBackoff`]) before
//!   trying again, so the loop sleeps instead of burning a core while
//!   descriptors are exhausted.
//! - Optionally ([`ServeOptions::max_connections`],
//!   [`ServeOptions::connection_lifetime`]) a server that only a few
//!   clients should use holds at most that many connections, each for at
//!   most that long: one more is closed at once.
//! - [`serve_fallible`]: a handler may refuse to answer (an error), and
//!   the connection is then closed without one (the fault proxy's cut).

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};

/// The limits [`serve`] applies to each connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeOptions {
    /// The whole request head (request line and headers) must arrive within
    /// this, counted from when the connection starts waiting for it; an idle
    /// keep-alive connection is closed after it too.
    pub header_read_timeout: Duration,
    /// The whole request body must arrive within this, counted from the end
    /// of the head. Past it, reading the body fails with
    /// [`BodyError::TimedOut`] and the connection is not reused.
    pub body_read_timeout: Duration,
    /// At most this many connections at once; one more is closed at once.
    pub max_connections: Option<usize>,
    /// A connection is closed this long after it was accepted, whatever
    /// it is doing (its client opens another).
    pub connection_lifetime: Option<Duration>,
}

impl Default for ServeOptions {
    /// 10 s each: far above what a client on loopback or a browser needs
    /// for a request with no body, far below "held open indefinitely".
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
            max_connections: None,
            connection_lifetime: None,
        }
    }
}

/// Serves HTTP/1.1 on `listener` until the task running it is dropped or
/// aborted: each request goes to `handler`, which answers it (errors are
/// the handler's to turn into responses).
pub async fn serve<H, Fut, B>(listener: TcpListener, handler: H, options: ServeOptions)
where
    H: Fn(hyper::Request<RequestBody>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = hyper::Response<B>> + Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let answering = move |req| {
        let answer = handler(req);
        async move { Ok::<_, Infallible>(answer.await) }
    };
    serve_fallible(listener, answering, options).await;
}

/// [`serve`], with a handler that may refuse to answer: on an error the
/// connection is closed without a response.
pub async fn serve_fallible<H, Fut, B, E>(listener: TcpListener, handler: H, options: ServeOptions)
where
    H: Fn(hyper::Request<RequestBody>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<hyper::Response<B>, E>> + Send + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut backoff = AcceptBackoff::default();
    let slots = options
        .max_connections
        .map(|n| std::sync::Arc::new(Semaphore::new(n)));
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => {
                backoff.succeeded();
                stream
            }
            Err(e) => {
                if let Some(delay) = backoff.failed(&e) {
                    tracing::warn!(error = %e, delay_ms = delay.as_millis() as u64, "accept failed; backing off");
                    tokio::time::sleep(delay).await;
                }
                continue;
            }
        };
        let slot = match &slots {
            None => None,
            Some(slots) => match slots.clone().try_acquire_owned() {
                Ok(slot) => Some(slot),
                // Full: the connection is closed at once (dropped here).
                Err(_) => continue,
            },
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: hyper::Request<Incoming>| {
                handler(req.map(|body| RequestBody::new(body, options.body_read_timeout)))
            });
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(options.header_read_timeout)
                .serve_connection(TokioIo::new(stream), service);
            match options.connection_lifetime {
                None => {
                    let _ = connection.await;
                }
                Some(lifetime) => {
                    let _ = tokio::time::timeout(lifetime, connection).await;
                }
            }
            drop(slot);
        });
    }
}

/// When `accept` fails, how long to wait before the next one.
///
/// An error about one connection (the peer reset or aborted it before it
/// was accepted) says nothing about the listener: try again at once. Any
/// other error (out of file descriptors, out of buffers or memory) will
/// recur until something is freed, and the listener stays readable, so
/// trying again at once would spin a core: wait 5 ms, then twice as long
/// after each consecutive failure, at most [`AcceptBackoff::MAX`]. One
/// accepted connection starts the sequence over.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AcceptBackoff {
    consecutive: u32,
}

impl AcceptBackoff {
    pub const FIRST: Duration = Duration::from_millis(5);
    pub const MAX: Duration = Duration::from_secs(1);

    /// The delay after this failure, or `None` to try again at once.
    pub fn failed(&mut self, error: &io::Error) -> Option<Duration> {
        if is_per_connection(error) {
            return None;
        }
        let delay = Self::delay(self.consecutive);
        self.consecutive = self.consecutive.saturating_add(1);
        Some(delay)
    }

    pub fn succeeded(&mut self) {
        self.consecutive = 0;
    }

    /// The delay after `previous` consecutive failures: 5 ms, 10 ms, 20 ms,
    /// ... doubling, capped at [`AcceptBackoff::MAX`].
    pub fn delay(previous: u32) -> Duration {
        Self::FIRST
            .checked_mul(1u32.checked_shl(previous).unwrap_or(u32::MAX))
            .map_or(Self::MAX, |d| d.min(Self::MAX))
    }
}

fn is_per_connection(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    )
}

/// A request body that must arrive by a deadline (see
/// [`ServeOptions::body_read_timeout`]): a client that announces a body and
/// then trickles it, or never sends it, gets an error instead of a
/// connection held open.
#[derive(Debug)]
pub struct RequestBody {
    inner: Incoming,
    deadline: Pin<Box<Sleep>>,
    timeout: Duration,
}

impl RequestBody {
    fn new(inner: Incoming, timeout: Duration) -> Self {
        Self {
            inner,
            deadline: Box::pin(tokio::time::sleep_until(Instant::now() + timeout)),
            timeout,
        }
    }
}

/// Why a [`RequestBody`] could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the request body did not arrive within {0:?}")]
    TimedOut(Duration),
    #[error(transparent)]
    Http(#[from] hyper::Error),
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.get_mut();
        if this.inner.is_end_stream() {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => Poll::Ready(frame.map(|f| f.map_err(BodyError::from))),
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(BodyError::TimedOut(this.timeout)))),
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

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Full};
    use std::net::Ipv4Addr;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn resource_errors_back_off_exponentially_up_to_a_bound() {
        let emfile = io::Error::from_raw_os_error(24); // EMFILE on Linux
        let mut backoff = AcceptBackoff::default();
        let delays: Vec<u64> = (0..12)
            .map(|_| backoff.failed(&emfile).map_or(0, |d| d.as_millis() as u64))
            .collect();
        assert_eq!(
            delays,
            [5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000, 1000]
        );
        backoff.succeeded();
        assert_eq!(backoff.failed(&emfile), Some(Duration::from_millis(5)));
        assert_eq!(AcceptBackoff::delay(u32::MAX), AcceptBackoff::MAX);
    }

    #[test]
    fn errors_about_one_connection_are_retried_at_once() {
        let mut backoff = AcceptBackoff::default();
        for kind in [
            io::ErrorKind::ConnectionAborted,
            io::ErrorKind::ConnectionReset,
        ] {
            assert_eq!(backoff.failed(&io::Error::from(kind)), None);
        }
        // ...and do not grow the delay of the next resource error.
        let enfile = io::Error::from_raw_os_error(23); // ENFILE
        assert_eq!(backoff.failed(&enfile), Some(AcceptBackoff::FIRST));
    }

    /// A server whose handler reads the whole body and echoes its length.
    async fn echo_length(
        options: ServeOptions,
    ) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(serve(
            listener,
            |req: hyper::Request<RequestBody>| async move {
                let text = match req.into_body().collect().await {
                    Ok(body) => format!("{} bytes", body.to_bytes().len()),
                    Err(e) => e.to_string(),
                };
                hyper::Response::new(Full::new(Bytes::from(text)))
            },
            options,
        ));
        (addr, task)
    }

    const SHORT: ServeOptions = ServeOptions {
        header_read_timeout: Duration::from_millis(500),
        body_read_timeout: Duration::from_millis(500),
        max_connections: None,
        connection_lifetime: None,
    };

    /// How long the slow clients below keep trickling before giving up: far
    /// past the timeouts, so a server without them is caught holding the
    /// connection open.
    const TRICKLE_FOR: Duration = Duration::from_secs(20);

    /// Sends `at_once`, then `bytes` one at a time, 100 ms apart; returns
    /// what the server answered before closing, or `None` if it was still
    /// open after [`TRICKLE_FOR`].
    async fn trickle(addr: std::net::SocketAddr, at_once: &[u8], bytes: &[u8]) -> Option<String> {
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        stream.write_all(at_once).await.expect("write");
        let started = Instant::now();
        let mut answer = Vec::new();
        let mut buf = [0u8; 1024];
        let mut sent = 0;
        while started.elapsed() < TRICKLE_FOR {
            if sent < bytes.len() && stream.write_all(&bytes[sent..=sent]).await.is_ok() {
                sent += 1;
            }
            match tokio::time::timeout(Duration::from_millis(100), stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return Some(String::from_utf8_lossy(&answer).into()),
                Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
                Err(_) => {} // nothing yet: trickle on
            }
        }
        None
    }

    #[tokio::test]
    async fn a_request_head_trickled_byte_by_byte_is_cut_off() {
        let (addr, _server) = echo_length(SHORT).await;
        let slow_head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
        let answer = trickle(addr, b"", slow_head).await;
        assert!(
            answer.is_some(),
            "the server still held a trickled request head after {TRICKLE_FOR:?}"
        );
        // The head never completed, so no request reached the handler.
        assert!(!answer.unwrap_or_default().contains("bytes"));
    }

    #[tokio::test]
    async fn a_body_announced_but_never_sent_is_cut_off() {
        let (addr, _server) = echo_length(SHORT).await;
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        stream
            .write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n")
            .await
            .expect("write");
        let mut answer = String::new();
        let read = tokio::time::timeout(TRICKLE_FOR, stream.read_to_string(&mut answer)).await;
        assert!(
            read.is_ok(),
            "the connection was still open after {TRICKLE_FOR:?}"
        );
        assert!(answer.contains("did not arrive"), "{answer:?}");
    }

    #[tokio::test]
    async fn a_body_trickled_byte_by_byte_is_cut_off() {
        let (addr, _server) = echo_length(SHORT).await;
        let head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 400\r\n\r\n";
        let answer = trickle(addr, head, &[b'a'; 400]).await;
        assert!(
            answer
                .as_deref()
                .is_some_and(|a| a.contains("did not arrive")),
            "{answer:?}"
        );
    }

    #[tokio::test]
    async fn prompt_requests_are_served_and_keep_their_connection() {
        let (addr, _server) = echo_length(SHORT).await;
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        for _ in 0..2 {
            stream
                .write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
                .await
                .expect("write");
            let mut answer = Vec::new();
            let mut buf = [0u8; 1024];
            while !answer.ends_with(b"3 bytes") {
                let n = tokio::time::timeout(TRICKLE_FOR, stream.read(&mut buf))
                    .await
                    .expect("an answer")
                    .expect("read");
                assert!(n > 0, "closed: {}", String::from_utf8_lossy(&answer));
                answer.extend_from_slice(&buf[..n]);
            }
            assert!(answer.starts_with(b"HTTP/1.1 200"));
        }
    }

    /// Reads until the server closes the connection, at most [`TRICKLE_FOR`]:
    /// what it said, or `None` if it held the connection open.
    async fn until_closed(stream: &mut tokio::net::TcpStream) -> Option<String> {
        let mut answer = String::new();
        tokio::time::timeout(TRICKLE_FOR, stream.read_to_string(&mut answer))
            .await
            .ok()
            .map(|_| answer)
    }

    #[tokio::test]
    async fn a_connection_past_the_cap_is_closed_at_once_and_one_past_its_lifetime_too() {
        let options = ServeOptions {
            max_connections: Some(1),
            connection_lifetime: Some(Duration::from_millis(500)),
            ..SHORT
        };
        let (addr, _server) = echo_length(ServeOptions {
            header_read_timeout: TRICKLE_FOR * 2,
            ..options
        })
        .await;
        let mut first = tokio::net::TcpStream::connect(addr).await.expect("connect");
        // The first is accepted and held (it sends nothing yet)...
        first.write_all(b"GET / HTTP/1.1\r\n").await.expect("write");
        // ...so a second is over the cap: closed unanswered. (No wait
        // needed: the loop accepts in the kernel's queue order, and the
        // first connection was established before the second began.)
        let mut second = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let said = until_closed(&mut second).await;
        assert_eq!(said.as_deref(), Some(""), "closed at once, unanswered");
        // The first one's lifetime ends it, however patient its head timeout.
        assert!(
            until_closed(&mut first).await.is_some(),
            "held past its lifetime"
        );
    }

    #[tokio::test]
    async fn a_handler_that_refuses_closes_the_connection_unanswered() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let _server = tokio::spawn(serve_fallible(
            listener,
            |_req: hyper::Request<RequestBody>| async {
                Err::<hyper::Response<Full<Bytes>>, _>(std::io::Error::other("refused"))
            },
            SHORT,
        ));
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("write");
        assert_eq!(until_closed(&mut stream).await.as_deref(), Some(""));
    }
}
