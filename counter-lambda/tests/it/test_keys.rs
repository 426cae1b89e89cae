//! Test keys (the load test's `/__loadtest/...`, the contract checks'
//! `/__contract/...`) carry `expires_at`, so the table's TTL deletes them;
//! pages never do. Read behind the API, in DynamoDB Local.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::AttributeValue;
use counter_lambda::store::TTL_ATTRIBUTE;

use crate::helpers::{TestStage, spawn_stage};

async fn expires_at(t: &TestStage, path: &str) -> Option<u64> {
    let item = t
        .client()
        .get_item()
        .table_name(t.stage.table())
        .key("path", AttributeValue::S(path.to_owned()))
        .consistent_read(true)
        .send()
        .await
        .expect("GetItem")
        .item
        .expect("the item exists");
    item.get(TTL_ATTRIBUTE)
        .map(|v| v.as_n().expect("a number").parse().expect("whole seconds"))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

#[tokio::test]
async fn test_keys_expire_and_pages_do_not() {
    let t = spawn_stage(&[("TEST_KEY_TTL_SECONDS", "3600")]).await;
    for path in ["/__loadtest/run-1", "/__contract/run-1/page"] {
        let before = now();
        assert_eq!(t.post_visit(path).await.count(), 1);
        let at = expires_at(&t, path).await.expect("a test key expires");
        assert!(
            (before + 3600..=now() + 3600).contains(&at),
            "{path}: expires_at {at}, written at {before}"
        );
        // The count is still one atomic ADD.
        assert_eq!(t.post_visit(path).await.count(), 2);
    }
    for page in ["/", "/blog/post"] {
        assert_eq!(t.post_visit(page).await.count(), 1);
        assert_eq!(expires_at(&t, page).await, None, "{page} is a page");
    }
}

#[tokio::test]
async fn a_ttl_of_zero_keeps_test_keys() {
    let t = spawn_stage(&[("TEST_KEY_TTL_SECONDS", "0")]).await;
    assert_eq!(t.post_visit("/__loadtest/run-1").await.count(), 1);
    assert_eq!(expires_at(&t, "/__loadtest/run-1").await, None);
}
