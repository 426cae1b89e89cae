//! The visitor counter API as its clients see it: which page paths exist
//! and how they are spelled, what a count looks like, and the limits.
//!
//! Pure (no I/O, no AWS SDK), so the Lambda that enforces these rules and
//! the tools that call it (the load test, the contract tests) share one
//! copy. `openapi.yaml` states the same rules; tests keep the two equal.
//!
//! ```
//! use counter_api::{CountBody, encode_component, validate_path};
//! assert!(validate_path("/blog/café").is_ok());
//! assert_eq!(encode_component("/a b"), "/a%20b");
//! let body: CountBody = serde_json::from_str(r#"{"path":"/","count":3}"#).unwrap();
//! assert_eq!(body.count, 3);
//! ```

pub mod path;

pub use path::{
    MAX_PATH_BYTES, MAX_QUERY_BYTES, PathAllowList, PathError, PathPattern, canonical_path,
    decode_component, encode_component, path_from_query, validate_path,
};

/// The one route of the API.
pub const VISITS_ROUTE: &str = "/visits";

/// The body of a successful `GET` or `POST /visits` (the contract's `Count`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CountBody {
    pub path: String,
    pub count: u64,
}
