//! Configuration, read from the environment once per Lambda instance.
//!
//! Every variable is documented in docs/configuration.md; parsing
//! takes a lookup function so tests need not touch the process environment.

use std::time::Duration;

use crate::path::{PathAllowList, PathError, PathPattern};

/// Which browser origins may read responses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowedOrigins {
    /// `*`: any origin (only when configured so).
    Any,
    /// Exact origins, e.g. `https://example.com`. Empty: no CORS at all.
    Only(Vec<String>),
}

impl AllowedOrigins {
    pub fn parse(text: &str) -> Self {
        let text = text.trim();
        if text == "*" {
            return AllowedOrigins::Any;
        }
        AllowedOrigins::Only(
            text.split(',')
                .map(|o| o.trim().trim_end_matches('/').to_owned())
                .filter(|o| !o.is_empty())
                .collect(),
        )
    }

    /// Whether a request with this `Origin` header may count: yes without
    /// one (not a browser page: `curl`, the load test, a server), else
    /// only for an allowed origin (an empty list allows none).
    pub fn admits(&self, origin: Option<&str>) -> bool {
        match (self, origin) {
            (_, None) | (AllowedOrigins::Any, _) => true,
            (AllowedOrigins::Only(list), Some(o)) => list.iter().any(|allowed| allowed == o),
        }
    }

    /// The value for `Access-Control-Allow-Origin`, if this origin may read.
    pub fn allow_origin_for(&self, origin: Option<&str>) -> Option<String> {
        match self {
            AllowedOrigins::Any => Some("*".to_owned()),
            AllowedOrigins::Only(list) => {
                let origin = origin?;
                list.iter().any(|o| o == origin).then(|| origin.to_owned())
            }
        }
    }
}

/// Timeouts for DynamoDB calls: far below API Gateway's 29 s limit, so a
/// slow or unreachable table turns into a prompt 503, not a gateway timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreTimeouts {
    pub connect: Duration,
    /// One attempt (one HTTP exchange with DynamoDB).
    pub attempt: Duration,
    /// The whole operation, retries of throttled writes included.
    pub operation: Duration,
}

impl Default for StoreTimeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_millis(1000),
            attempt: Duration::from_millis(2000),
            operation: Duration::from_millis(4000),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub table_name: String,
    pub allowed_origins: AllowedOrigins,
    /// The allow-list, with the load-test prefix already folded in.
    pub allowed_paths: PathAllowList,
    /// Paths below this prefix are always allowed, so the load test can use
    /// a counter of its own (`<prefix>/<run-id>`). `None`: disabled.
    pub loadtest_prefix: Option<String>,
    /// How long a test key (below the load-test prefix, or under `/__`)
    /// lives after its last write: the store sets `expires_at` on it, and
    /// the table's TTL deletes it. `None` (`0`): test keys never expire.
    pub test_key_ttl: Option<Duration>,
    pub timeouts: StoreTimeouts,
    /// Seconds sent in `Retry-After` with a 503.
    pub retry_after_secs: u32,
    /// When set, the stage answers only through its CloudFront
    /// distribution, which adds [`ORIGIN_VERIFY_HEADER`] with this value to
    /// every request it forwards; anything else is refused (403).
    pub edge_secret: Option<String>,
    /// The allow-list plus [`PRETRAFFIC_PATH`]: what a request invoked
    /// directly by the deployment's PreTraffic check may count and read.
    pub pretraffic_paths: PathAllowList,
}

/// The key the PreTraffic check writes on a new version before it takes
/// traffic: counted only for requests that reach the function by direct
/// invocation (IAM), never through the API, so the public can neither
/// count nor read it (it is outside every allow-list the template allows).
pub const PRETRAFFIC_PATH: &str = "/__pretraffic";

/// The header CloudFront adds to what it forwards to the API (an origin
/// custom header), when the stage answers only through it.
pub const ORIGIN_VERIFY_HEADER: &str = "x-origin-verify";

pub const DEFAULT_TABLE: &str = "visitor_count";

/// The table a `TABLE_NAME` value names: the default when unset or blank.
pub fn table_name(value: Option<String>) -> String {
    value
        .filter(|t| !t.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_TABLE.to_owned())
}

/// Every environment variable [`Config::from_env`] reads (a unit test
/// keeps this list exact; the deployment test checks the template against it).
pub const VARIABLES: [&str; 10] = [
    "TABLE_NAME",
    "ALLOWED_ORIGINS",
    "ALLOWED_PATHS",
    "LOADTEST_PATH_PREFIX",
    "TEST_KEY_TTL_SECONDS",
    "DYNAMODB_CONNECT_TIMEOUT_MS",
    "DYNAMODB_ATTEMPT_TIMEOUT_MS",
    "DYNAMODB_OPERATION_TIMEOUT_MS",
    "RETRY_AFTER_SECONDS",
    "ORIGIN_VERIFY_SECRET",
];
pub const DEFAULT_LOADTEST_PREFIX: &str = "/__loadtest";
/// One day: long enough to read a run's counter back and look into it,
/// short enough that test keys do not pile up.
pub const DEFAULT_TEST_KEY_TTL_SECONDS: u64 = 86_400;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{var}: {source}")]
    BadPattern {
        var: &'static str,
        source: PathError,
    },
    #[error("{var}: expected a whole number, got {value:?}")]
    BadNumber { var: &'static str, value: String },
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let number = |var: &'static str, default: u64| -> Result<u64, ConfigError> {
            match get(var) {
                None => Ok(default),
                Some(value) => value
                    .trim()
                    .parse()
                    .map_err(|_| ConfigError::BadNumber { var, value }),
            }
        };
        let loadtest_prefix = match get("LOADTEST_PATH_PREFIX") {
            None => Some(DEFAULT_LOADTEST_PREFIX.to_owned()),
            Some(p) if p.trim().is_empty() => None,
            Some(p) => Some(p.trim().trim_end_matches('/').to_owned()),
        };
        let mut allowed_paths = PathAllowList::parse(&get("ALLOWED_PATHS").unwrap_or_default())
            .map_err(|source| ConfigError::BadPattern {
                var: "ALLOWED_PATHS",
                source,
            })?;
        if let Some(prefix) = &loadtest_prefix {
            let pattern = PathPattern::parse(&format!("{prefix}/*")).map_err(|source| {
                ConfigError::BadPattern {
                    var: "LOADTEST_PATH_PREFIX",
                    source,
                }
            })?;
            allowed_paths = allowed_paths.with(pattern);
        }
        let pretraffic_paths =
            allowed_paths
                .clone()
                .with(PathPattern::parse(PRETRAFFIC_PATH).map_err(|source| {
                    ConfigError::BadPattern {
                        var: "PRETRAFFIC_PATH",
                        source,
                    }
                })?);
        Ok(Config {
            table_name: table_name(get("TABLE_NAME")),
            allowed_origins: AllowedOrigins::parse(&get("ALLOWED_ORIGINS").unwrap_or_default()),
            allowed_paths,
            loadtest_prefix,
            test_key_ttl: match number("TEST_KEY_TTL_SECONDS", DEFAULT_TEST_KEY_TTL_SECONDS)? {
                0 => None,
                secs => Some(Duration::from_secs(secs)),
            },
            timeouts: StoreTimeouts {
                connect: ms(number("DYNAMODB_CONNECT_TIMEOUT_MS", 1000)?),
                attempt: ms(number("DYNAMODB_ATTEMPT_TIMEOUT_MS", 2000)?),
                operation: ms(number("DYNAMODB_OPERATION_TIMEOUT_MS", 4000)?),
            },
            retry_after_secs: u32::try_from(number("RETRY_AFTER_SECONDS", 1)?).unwrap_or(1),
            edge_secret: get("ORIGIN_VERIFY_SECRET")
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty()),
            pretraffic_paths,
        })
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn variables_lists_exactly_what_is_read() {
        let read = std::cell::RefCell::new(std::collections::BTreeSet::new());
        Config::from_lookup(|name| {
            read.borrow_mut().insert(name.to_owned());
            None
        })
        .expect("defaults");
        let listed: std::collections::BTreeSet<String> =
            VARIABLES.iter().map(|v| (*v).to_owned()).collect();
        assert_eq!(read.into_inner(), listed);
    }

    #[test]
    fn defaults_are_documented_values() {
        let c = config(&[]).expect("defaults parse");
        assert_eq!(c.table_name, "visitor_count");
        assert_eq!(c.allowed_origins, AllowedOrigins::Only(vec![]));
        assert!(c.allowed_paths.allows("/anything"));
        assert_eq!(c.loadtest_prefix.as_deref(), Some("/__loadtest"));
        assert_eq!(c.test_key_ttl, Some(Duration::from_secs(86_400)));
        assert_eq!(c.timeouts, StoreTimeouts::default());
        let never = config(&[("TEST_KEY_TTL_SECONDS", "0")]).expect("valid");
        assert_eq!(never.test_key_ttl, None);
    }

    #[test]
    fn loadtest_prefix_joins_a_restricted_allow_list() {
        let c =
            config(&[("ALLOWED_PATHS", "/"), ("LOADTEST_PATH_PREFIX", "/__lt/")]).expect("valid");
        assert!(c.allowed_paths.allows("/"));
        assert!(c.allowed_paths.allows("/__lt/run-1"));
        assert!(!c.allowed_paths.allows("/__loadtest/run-1"));
        let off = config(&[("ALLOWED_PATHS", "/"), ("LOADTEST_PATH_PREFIX", "")]).expect("valid");
        assert!(!off.allowed_paths.allows("/__loadtest/run-1"));
    }

    #[test]
    fn bad_configuration_is_named() {
        let err = config(&[("ALLOWED_PATHS", "blog")]).expect_err("relative pattern");
        assert!(err.to_string().starts_with("ALLOWED_PATHS"), "{err}");
        let err = config(&[("DYNAMODB_ATTEMPT_TIMEOUT_MS", "soon")]).expect_err("not a number");
        assert!(
            err.to_string().contains("DYNAMODB_ATTEMPT_TIMEOUT_MS"),
            "{err}"
        );
    }

    #[test]
    fn origins_echo_only_configured_ones() {
        let only = AllowedOrigins::parse("https://a.example, https://b.example/");
        assert_eq!(
            only.allow_origin_for(Some("https://b.example")).as_deref(),
            Some("https://b.example")
        );
        assert_eq!(only.allow_origin_for(Some("https://evil.example")), None);
        assert_eq!(only.allow_origin_for(None), None);
        assert_eq!(
            AllowedOrigins::parse("*").allow_origin_for(None).as_deref(),
            Some("*")
        );
        assert_eq!(AllowedOrigins::parse("").allow_origin_for(Some("x")), None);
    }

    #[test]
    fn only_allowed_origins_or_none_at_all_may_count() {
        let only = AllowedOrigins::parse("https://a.example");
        assert!(only.admits(None), "not a browser page");
        assert!(only.admits(Some("https://a.example")));
        assert!(!only.admits(Some("https://evil.example")));
        assert!(!only.admits(Some("null")), "a sandboxed or file: page");
        assert!(!AllowedOrigins::parse("").admits(Some("https://a.example")));
        assert!(AllowedOrigins::parse("*").admits(Some("https://evil.example")));
    }

    #[test]
    fn the_pretraffic_key_is_allowed_only_on_its_own_list() {
        let c = config(&[("ALLOWED_PATHS", "/"), ("LOADTEST_PATH_PREFIX", "")]).expect("valid");
        assert!(!c.allowed_paths.allows(PRETRAFFIC_PATH));
        assert!(c.pretraffic_paths.allows(PRETRAFFIC_PATH));
        assert!(c.pretraffic_paths.allows("/"));
        assert!(!c.pretraffic_paths.allows("/__pretraffic/x"));
        assert_eq!(c.edge_secret, None);
        let gated = config(&[("ORIGIN_VERIFY_SECRET", " s3cret ")]).expect("valid");
        assert_eq!(gated.edge_secret.as_deref(), Some("s3cret"));
    }
}
