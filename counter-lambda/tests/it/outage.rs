//! DynamoDB Local stopped mid-test: the API answers 503 with Retry-After
//! within its configured timeout, and recovers when the database is back.

use std::time::{Duration, Instant};

use local_stage::{LocalStage, StageOptions};

use crate::helpers::{TestStage, config};

#[tokio::test]
async fn database_outage_gives_503_with_retry_after_then_recovers() {
    let cfg = config(&[
        ("DYNAMODB_CONNECT_TIMEOUT_MS", "500"),
        ("DYNAMODB_ATTEMPT_TIMEOUT_MS", "1000"),
        ("DYNAMODB_OPERATION_TIMEOUT_MS", "2000"),
        ("RETRY_AFTER_SECONDS", "3"),
    ]);
    let operation_timeout = cfg.timeouts.operation;
    // Its own DynamoDB Local, since this test stops it.
    let mut t = TestStage::new(
        LocalStage::start(StageOptions::new(cfg))
            .await
            .expect("stage"),
    );
    assert_eq!(t.post_visit("/").await.count(), 1);

    t.stage.stop_database().expect("stop");
    for reply in [t.post_visit("/").await, t.get_visits("/").await] {
        assert_eq!(
            (reply.status, reply.error_code()),
            (503, "unavailable"),
            "{}",
            reply.raw
        );
        assert_eq!(reply.header("retry-after"), Some("3"));
        assert_eq!(reply.header("cache-control"), Some("no-store"));
    }
    // The configured timeout is a bound the API keeps, not a speed claim.
    let started = Instant::now();
    let reply = t.post_visit("/").await;
    assert_eq!(reply.status, 503);
    assert!(
        started.elapsed() < operation_timeout + Duration::from_secs(2),
        "answered after {:?}, timeout {:?}",
        started.elapsed(),
        operation_timeout
    );

    t.stage.restart_database().await.expect("restart");
    // In memory: the restarted database starts from an empty table.
    let reply = t.post_visit("/").await;
    assert_eq!((reply.status, reply.count()), (200, 1), "{}", reply.raw);
}
