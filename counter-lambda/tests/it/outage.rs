//! DynamoDB Local stopped mid-test: the API answers 503 with Retry-After
//! within its configured timeout, and recovers when the database is back;
//! killed, the stage restarts it on the same data, with no zombie left.

use std::time::{Duration, Instant};

use local_stage::{DatabaseHealth, LocalStage, StageOptions, Storage};

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
    t.wait_until_answering("/").await;
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
    t.wait_until_answering("/").await;
    // On disk (the stage's default): the count survived the outage.
    let reply = t.post_visit("/").await;
    assert_eq!((reply.status, reply.count()), (200, 2), "{}", reply.raw);
}

/// How long the stage may take to bring a killed DynamoDB Local back:
/// generous (a JVM start on a busy 2-core machine), but a bound.
const RECOVERS_WITHIN: Duration = Duration::from_secs(120);

/// A process's state letter and parent, from /proc (`None`: no such
/// process, that is, it has exited and been reaped).
fn process(pid: u32) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "<pid> (<comm>) <state> <ppid> ...": the command may hold spaces.
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    Some((state, fields.next()?.parse().ok()?))
}

/// The killed java and the watchdog `sh` above it end up reaped: gone from
/// the process table, not zombies (state Z). Bounded wait: reaping happens
/// on the supervisor's next look.
async fn assert_reaped(pids: &[u32]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let zombies: Vec<u32> = pids
            .iter()
            .copied()
            .filter(|p| matches!(process(*p), Some(('Z', _))))
            .collect();
        if zombies.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "zombies left: {zombies:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_killed_database_is_restarted_on_the_same_data_and_reaped() {
    // Its own DynamoDB Local (this test kills it), on the stage's own disk.
    let t = TestStage::new(
        LocalStage::start(StageOptions::new(config(&[])))
            .await
            .expect("stage"),
    );
    t.wait_until_answering("/kept").await;
    for n in 1..=3 {
        let reply = t.post_visit("/kept").await;
        assert_eq!(reply.status, 200, "{}", reply.raw);
        assert_eq!(reply.count(), n);
    }
    let java = t.stage.database_pid().expect("the java process");
    let (_, watchdog) = process(java).expect("java runs");
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &java.to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());

    // Until it is back, every answer is a 503 (nothing else: no 500, no
    // count from an emptied table); then the count is the one it had.
    let deadline = Instant::now() + RECOVERS_WITHIN;
    let mut unavailable = 0;
    let recovered = loop {
        let reply = t.get_visits("/kept").await;
        match reply.status {
            200 => break reply.count(),
            503 => {
                assert_eq!(reply.error_code(), "unavailable", "{}", reply.raw);
                assert!(reply.header("retry-after").is_some());
                unavailable += 1;
            }
            other => panic!(
                "answered {other} while DynamoDB Local was down: {}",
                reply.raw
            ),
        }
        assert!(
            Instant::now() < deadline,
            "not back within {RECOVERS_WITHIN:?}: {:?}",
            t.stage.database_health()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(recovered, 3, "the counts survived the crash");
    assert_eq!(t.post_visit("/kept").await.count(), 4);
    assert_eq!(
        t.stage.database_health(),
        Some(DatabaseHealth::Up { restarts: 1 })
    );
    assert_ne!(t.stage.database_pid(), Some(java), "a new java process");
    eprintln!("{unavailable} answers of 503 while DynamoDB Local restarted");
    assert_reaped(&[java, watchdog]).await;
}

#[tokio::test]
async fn a_killed_in_memory_database_is_reported_not_silently_emptied() {
    let mut options = StageOptions::new(config(&[]));
    options.storage = Some(Storage::InMemory);
    let t = TestStage::new(LocalStage::start(options).await.expect("stage"));
    t.wait_until_answering("/").await;
    assert_eq!(t.post_visit("/").await.count(), 1);
    let java = t.stage.database_pid().expect("the java process");
    let (_, watchdog) = process(java).expect("java runs");
    let failed = t.stage.database_failed();
    std::process::Command::new("kill")
        .args(["-KILL", &java.to_string()])
        .status()
        .expect("kill runs");
    let cause = tokio::time::timeout(RECOVERS_WITHIN, failed)
        .await
        .expect("the stage reports the failure");
    assert!(cause.contains("in memory"), "{cause}");
    assert_eq!(t.post_visit("/").await.status, 503);
    assert_reaped(&[java, watchdog]).await;
}
