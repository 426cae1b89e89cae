//! The counter store: DynamoDB, and the only module that talks to it.
//!
//! Writes are one `UpdateItem ADD` each, never read-then-write. An `ADD` is
//! not idempotent, so the SDK's automatic retries are switched off for it:
//! a retry after a lost response would count one visit twice. Only a
//! throttling error proves the write did not happen, and only that is
//! retried here (see ARCHITECTURE.md "Retries").

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use crate::config::StoreTimeouts;

/// The partition key attribute of the `visitor_count` table.
pub const KEY_ATTRIBUTE: &str = "path";
/// The counter attribute (`count` is a DynamoDB reserved word: always `#count`).
pub const COUNT_ATTRIBUTE: &str = "count";
/// The table's time-to-live attribute (epoch seconds): set on test keys
/// only ([`TestKeys`]), so DynamoDB deletes them some time after it.
pub const TTL_ATTRIBUTE: &str = "expires_at";

/// Which counters are test keys (the load test's and the contract checks'
/// own), which expire: paths below the configured load-test prefix, and
/// paths whose first segment starts with `__` (`/__loadtest/...`,
/// `/__contract/...`), a namespace no page of the site uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TestKeys {
    /// The load-test prefix, without a trailing `/`.
    pub prefix: Option<String>,
    /// How long a test key lives after its last write; `None`: forever.
    pub ttl: Option<Duration>,
}

impl TestKeys {
    pub fn is_test_key(&self, path: &str) -> bool {
        let below_prefix = self.prefix.as_deref().is_some_and(|p| {
            path.strip_prefix(p)
                .is_some_and(|rest| rest.starts_with('/'))
        });
        below_prefix || path.starts_with("/__")
    }

    /// The `expires_at` value for a write to `path` at `now`, or `None`
    /// when that key does not expire.
    pub fn expires_at(&self, path: &str, now: std::time::SystemTime) -> Option<u64> {
        let ttl = self.ttl?;
        if !self.is_test_key(path) {
            return None;
        }
        let now = now.duration_since(std::time::UNIX_EPOCH).ok()?;
        Some((now + ttl).as_secs())
    }
}

/// How many times a throttled write is tried again before giving up with 503.
const THROTTLE_RETRIES: u32 = 2;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// DynamoDB refused the request for capacity: nothing was written.
    #[error("throttled by DynamoDB")]
    Throttled,
    /// No usable answer (connection refused, timeout, broken response, a
    /// 5xx): a write may or may not have happened.
    #[error("DynamoDB unavailable: {0}")]
    Unavailable(String),
    /// Anything else (a missing table, bad credentials, a malformed item).
    #[error("DynamoDB request failed: {0}")]
    Failed(String),
}

const THROTTLING_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
];
const UNAVAILABLE_CODES: &[&str] = &["InternalServerError", "ServiceUnavailable"];

fn store_error<E, R>(err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match &err {
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or("unknown");
            if THROTTLING_CODES.contains(&code) {
                StoreError::Throttled
            } else if UNAVAILABLE_CODES.contains(&code) {
                StoreError::Unavailable(code.to_owned())
            } else {
                StoreError::Failed(code.to_owned())
            }
        }
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
            StoreError::Unavailable(format!(
                "{}",
                aws_smithy_types::error::display::DisplayErrorContext(&err)
            ))
        }
        _ => StoreError::Failed(format!(
            "{}",
            aws_smithy_types::error::display::DisplayErrorContext(&err)
        )),
    }
}

/// Builds the SDK client: credentials, region and endpoint from the
/// environment (`AWS_ENDPOINT_URL_DYNAMODB` reaches DynamoDB Local), with
/// explicit timeouts. Built once per Lambda instance.
pub async fn dynamodb_client(timeouts: StoreTimeouts) -> Client {
    let shared = aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(timeout_config(timeouts))
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .load()
        .await;
    Client::new(&shared)
}

pub fn timeout_config(t: StoreTimeouts) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(t.connect)
        .operation_attempt_timeout(t.attempt)
        .operation_timeout(t.operation)
        .build()
}

/// The counters of one table.
#[derive(Debug, Clone)]
pub struct CounterStore {
    client: Client,
    table: String,
    /// The whole write, throttle retries and their waits included, ends
    /// within this (the configured operation timeout).
    budget: Duration,
    test_keys: TestKeys,
}

impl CounterStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            budget: StoreTimeouts::default().operation,
            test_keys: TestKeys::default(),
        }
    }

    /// Which keys are test keys, and how long they live.
    pub fn with_test_keys(mut self, test_keys: TestKeys) -> Self {
        self.test_keys = test_keys;
        self
    }

    /// Bounds a whole write, retries included, by `budget`.
    pub fn with_budget(mut self, budget: Duration) -> Self {
        self.budget = budget;
        self
    }

    /// Adds one to the counter of `path` and returns the new value, within
    /// the budget: a retry whose wait would pass it is not made (the write
    /// was throttled, so nothing was written), and an attempt still running
    /// at the deadline is abandoned as unavailable (it may have landed).
    pub async fn increment(&self, path: &str) -> Result<u64, StoreError> {
        let deadline = tokio::time::Instant::now() + self.budget;
        let mut attempt = 0;
        loop {
            let result = match tokio::time::timeout_at(deadline, self.increment_once(path)).await {
                Ok(result) => result,
                Err(_) => {
                    return Err(StoreError::Unavailable(
                        "the write's time budget ran out".to_owned(),
                    ));
                }
            };
            match result {
                Err(StoreError::Throttled) if attempt < THROTTLE_RETRIES => {
                    attempt += 1;
                    let wait = backoff(attempt);
                    if tokio::time::Instant::now() + wait >= deadline {
                        return Err(StoreError::Throttled);
                    }
                    tokio::time::sleep(wait).await;
                }
                other => return other,
            }
        }
    }

    async fn increment_once(&self, path: &str) -> Result<u64, StoreError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY_ATTRIBUTE, AttributeValue::S(path.to_owned()))
            .expression_attribute_names("#count", COUNT_ATTRIBUTE)
            .expression_attribute_values(":one", AttributeValue::N("1".to_owned()));
        // Still one atomic UpdateItem: a test key's expiry moves with each
        // write in the same request.
        let update = match self
            .test_keys
            .expires_at(path, std::time::SystemTime::now())
        {
            None => update.update_expression("ADD #count :one"),
            Some(at) => update
                .update_expression("ADD #count :one SET #expires = :expires")
                .expression_attribute_names("#expires", TTL_ATTRIBUTE)
                .expression_attribute_values(":expires", AttributeValue::N(at.to_string())),
        };
        let out = update
            .return_values(ReturnValue::UpdatedNew)
            .customize()
            .config_override(
                aws_sdk_dynamodb::config::Builder::default().retry_config(RetryConfig::disabled()),
            )
            .send()
            .await
            .map_err(store_error)?;
        count_of(out.attributes())?
            .ok_or_else(|| StoreError::Failed("UpdateItem returned no count".to_owned()))
    }

    /// The current count of `path` (0 for a page never counted). A strongly
    /// consistent read: right after a POST it sees that POST.
    pub async fn current(&self, path: &str) -> Result<u64, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(KEY_ATTRIBUTE, AttributeValue::S(path.to_owned()))
            .projection_expression("#count")
            .expression_attribute_names("#count", COUNT_ATTRIBUTE)
            .consistent_read(true)
            .send()
            .await
            .map_err(store_error)?;
        Ok(count_of(out.item())?.unwrap_or(0))
    }
}

fn count_of(
    item: Option<&std::collections::HashMap<String, AttributeValue>>,
) -> Result<Option<u64>, StoreError> {
    match item.and_then(|i| i.get(COUNT_ATTRIBUTE)) {
        None => Ok(None),
        Some(AttributeValue::N(n)) => n
            .parse()
            .map(Some)
            .map_err(|_| StoreError::Failed("count is not a whole number".to_owned())),
        Some(_) => Err(StoreError::Failed("count is not a number".to_owned())),
    }
}

/// 50 ms before the first retry, 100 ms before the second, with up to 50% jitter from the clock's low bits (no
/// random-number crate in the Lambda for this).
fn backoff(attempt: u32) -> Duration {
    let base = 25u64 << attempt.min(6);
    let jitter = u64::from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0),
    ) % (base / 2 + 1);
    Duration::from_millis(base + jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_test_keys_expire() {
        let keys = TestKeys {
            prefix: Some("/lt".to_owned()),
            ttl: Some(Duration::from_secs(3600)),
        };
        let now = std::time::UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(keys.expires_at("/lt/run-1", now), Some(1_003_600));
        assert_eq!(keys.expires_at("/__loadtest/run-1", now), Some(1_003_600));
        assert_eq!(keys.expires_at("/__contract/x/page", now), Some(1_003_600));
        for page in ["/", "/blog/post", "/ltx", "/lt", "/_x", "/a/__b"] {
            assert_eq!(keys.expires_at(page, now), None, "{page} is a page");
        }
        let forever = TestKeys {
            ttl: None,
            ..keys.clone()
        };
        assert_eq!(forever.expires_at("/lt/run-1", now), None);
    }
}
