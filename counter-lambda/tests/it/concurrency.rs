use futures::future::join_all;

use crate::helpers::spawn_stage;

/// Atomicity, not timeouts, is under test here: the stage gets generous
/// DynamoDB timeouts so a slow attempt on a busy machine is waited for
/// rather than turned into a 503 (the production timeouts have tests of
/// their own in `outage`).
#[tokio::test]
async fn two_hundred_concurrent_posts_return_each_count_from_1_to_200_once() {
    let t = spawn_stage(&[
        ("DYNAMODB_CONNECT_TIMEOUT_MS", "10000"),
        ("DYNAMODB_ATTEMPT_TIMEOUT_MS", "30000"),
        ("DYNAMODB_OPERATION_TIMEOUT_MS", "60000"),
    ])
    .await;
    let replies = join_all((0..200).map(|_| t.post_visit("/busy"))).await;
    let mut counts: Vec<u64> = replies
        .iter()
        .map(|r| {
            assert_eq!(r.status, 200, "{}", r.raw);
            r.count()
        })
        .collect();
    counts.sort_unstable();
    assert_eq!(counts, (1..=200).collect::<Vec<u64>>());
    assert_eq!(t.get_visits("/busy").await.count(), 200);
}
