//! An unmeasured warm-up of the local stage before a plain run.
//!
//! DynamoDB Local is a JVM: its first seconds under load run interpreted
//! code (a first run measured 430 requests/s, later ones 1,000–1,660 on
//! the same stage). A stepped run warms up inside its goose test plan; a
//! plain run gets this instead: `users` connections hammer a key of their
//! own (the run's counter is not touched, nothing is recorded) for the
//! `--warmup-secs`, bounded in time and count.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::client::{Client, Connection, Prepared};

/// At most this many warm-up requests, whatever the time says.
const MAX_REQUESTS: u64 = 1_000_000;

/// Sends `request` from `users` connections for `duration`; returns how
/// many were answered 200.
pub async fn warm_up(client: &Client, request: &Prepared, users: usize, duration: Duration) -> u64 {
    let answered = Arc::new(AtomicU64::new(0));
    let sent = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + duration;
    let workers: Vec<_> = (0..users.max(1))
        .map(|_| {
            let (client, request) = (client.clone(), request.clone());
            let (answered, sent) = (answered.clone(), sent.clone());
            tokio::spawn(async move {
                let mut conn = Connection::default();
                while Instant::now() < deadline
                    && sent.fetch_add(1, Ordering::Relaxed) < MAX_REQUESTS
                {
                    let left = deadline.saturating_duration_since(Instant::now());
                    let timeout = left.max(Duration::from_millis(100));
                    if conn
                        .send(&client, &request, timeout)
                        .await
                        .is_ok_and(|x| x.status == 200)
                    {
                        answered.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.await;
    }
    answered.load(Ordering::Relaxed)
}
