//! Spawns what the tests need: one DynamoDB Local for the whole test
//! binary, a fresh table and local stage per test.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use aws_sdk_dynamodb::Client;
use counter_lambda::Config;
use local_stage::{DynamoDbLocal, LocalStage, StageOptions};

/// One DynamoDB Local per test binary; its watchdog stops java when the
/// binary exits.
pub fn shared_dynamodb() -> &'static DynamoDbLocal {
    static DB: OnceLock<DynamoDbLocal> = OnceLock::new();
    DB.get_or_init(|| DynamoDbLocal::start().expect("DynamoDB Local starts"))
}

/// A table name no other test uses.
pub fn fresh_table() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "visitor_count_t{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The handler's configuration from these variables (plus a fresh table).
pub fn config(vars: &[(&str, &str)]) -> Config {
    let table = fresh_table();
    Config::from_lookup(|name| {
        if name == "TABLE_NAME" {
            return Some(table.clone());
        }
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    })
    .expect("test configuration is valid")
}

pub struct TestStage {
    pub stage: LocalStage,
    pub http: reqwest::Client,
}

/// A local stage on the shared DynamoDB Local with a table of its own.
pub async fn spawn_stage(vars: &[(&str, &str)]) -> TestStage {
    let mut options = StageOptions::new(config(vars));
    options.dynamodb_endpoint = Some(shared_dynamodb().endpoint());
    TestStage::new(
        LocalStage::start(options)
            .await
            .expect("local stage starts"),
    )
}

pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: serde_json::Value,
    pub raw: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    pub fn count(&self) -> u64 {
        self.body["count"].as_u64().expect("a count in the body")
    }
    pub fn error_code(&self) -> &str {
        self.body["error"].as_str().unwrap_or("<no error code>")
    }
}

impl TestStage {
    pub fn new(stage: LocalStage) -> Self {
        Self {
            stage,
            http: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.stage.url())
    }

    /// Any request: method, path and raw query as given, optional body.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.expect("the stage answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let raw = response.text().await.expect("a body");
        let body = if raw.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&raw).unwrap_or(serde_json::Value::Null)
        };
        Reply {
            status,
            headers,
            body,
            raw,
        }
    }

    pub async fn post_visit(&self, path: &str) -> Reply {
        self.send(self.http.post(self.url("/visits")).query(&[("path", path)]))
            .await
    }

    pub async fn get_visits(&self, path: &str) -> Reply {
        self.send(self.http.get(self.url("/visits")).query(&[("path", path)]))
            .await
    }

    /// Waits, reading (which counts nothing), until the stage answers 200:
    /// a DynamoDB Local just started can be slow over its first requests,
    /// beyond the short timeouts some tests configure. Bounded.
    pub async fn wait_until_answering(&self, path: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        loop {
            let reply = self.get_visits(path).await;
            if reply.status == 200 {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the stage never answered 200: {}",
                reply.raw
            );
        }
    }

    pub fn client(&self) -> &Client {
        self.stage.client()
    }

    /// Every item in this stage's table, read behind the API's back.
    pub async fn items(&self) -> Vec<(String, u64)> {
        let out = self
            .client()
            .scan()
            .table_name(self.stage.table())
            .consistent_read(true)
            .send()
            .await
            .expect("scan");
        let mut items: Vec<(String, u64)> = out
            .items()
            .iter()
            .map(|item| {
                let path = item["path"].as_s().expect("path is S").clone();
                let count = item["count"]
                    .as_n()
                    .expect("count is N")
                    .parse()
                    .expect("count is whole");
                (path, count)
            })
            .collect();
        items.sort();
        items
    }
}
