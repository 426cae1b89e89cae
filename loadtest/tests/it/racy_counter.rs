//! A deliberately racy counter, for tests only (never in the Lambda): it
//! speaks the contract but increments by reading the item and writing it
//! back, against DynamoDB Local. Concurrent visits lose updates.

use std::sync::Arc;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use bytes_body::Full;
use counter_lambda::config::StoreTimeouts;
use http_body_util as bytes_body;
use hyper::body::Bytes;
use local_stage::{DynamoDbLocal, RequestBody, create_table, local_client};

use crate::helpers::serve_on_loopback;

pub struct RacyCounter {
    pub url: String,
    // Dropped first: the fault injector, then its proxy (see spawn_racy_counter_with_faults).
    _faults: Option<(local_stage::FaultInjector, local_stage::FaultProxy)>,
    _db: DynamoDbLocal,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for RacyCounter {
    fn drop(&mut self) {
        self.server.abort();
    }
}

const TABLE: &str = "racy_visitor_count";

async fn read(client: &Client, path: &str) -> u64 {
    client
        .get_item()
        .table_name(TABLE)
        .key("path", AttributeValue::S(path.to_owned()))
        .consistent_read(true)
        .send()
        .await
        .ok()
        .and_then(|o| o.item)
        .and_then(|i| {
            i.get("count")
                .and_then(|c| c.as_n().ok())
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

async fn answer(client: &Client, req: hyper::Request<RequestBody>) -> hyper::Response<Full<Bytes>> {
    let query = req.uri().query().unwrap_or("");
    let path = counter_lambda::path::path_from_query(Some(query)).unwrap_or_default();
    let mut count = read(client, &path).await;
    if req.method() == hyper::Method::POST {
        // The bug under test: read, then write back read + 1.
        count += 1;
        let _ = client
            .put_item()
            .table_name(TABLE)
            .item("path", AttributeValue::S(path.clone()))
            .item("count", AttributeValue::N(count.to_string()))
            .send()
            .await;
    }
    let body = serde_json::json!({"path": path, "count": count}).to_string();
    hyper::Response::builder()
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_default()
}

pub async fn spawn_racy_counter() -> RacyCounter {
    spawn_racy_counter_with_faults(None).await
}

/// The racy counter, its DynamoDB client going through a fault proxy
/// driven by `faults` (proxy kinds only: it has no supervised java).
pub async fn spawn_racy_counter_with_faults(faults: Option<local_stage::FaultPlan>) -> RacyCounter {
    let db = tokio::task::spawn_blocking(DynamoDbLocal::start)
        .await
        .expect("join")
        .expect("DynamoDB Local");
    create_table(
        &local_client(&db.endpoint(), StoreTimeouts::default()).await,
        TABLE,
    )
    .await
    .expect("table");
    let (endpoint, faults) = match faults {
        None => (db.endpoint(), None),
        Some(plan) => {
            let proxy = local_stage::FaultProxy::start(&db.endpoint())
                .await
                .expect("proxy");
            let targets = local_stage::FaultTargets {
                attempt_timeout: StoreTimeouts::default().attempt,
                proxy: Some(proxy.switch()),
                process: None,
            };
            let faults =
                local_stage::FaultInjector::start(plan, targets, std::time::Instant::now())
                    .expect("faults");
            (proxy.url().to_owned(), Some((faults, proxy)))
        }
    };
    let client = Arc::new(local_client(&endpoint, StoreTimeouts::default()).await);
    let (url, server) = serve_on_loopback(move |req| {
        let client = client.clone();
        async move { answer(&client, req).await }
    })
    .await;
    RacyCounter {
        url,
        _faults: faults,
        _db: db,
        server,
    }
}
