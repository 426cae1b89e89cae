//! The one place where failures become HTTP responses.

use http::StatusCode;

use crate::path::PathError;
use crate::store::StoreError;

/// Everything that makes a request fail. `Display` is the human `message`;
/// none of them carries internals to the client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("no such route: the API serves /visits")]
    NotFound,
    #[error("method not allowed on /visits: use GET, POST or OPTIONS")]
    MethodNotAllowed,
    #[error("requests to /visits take no body")]
    UnexpectedBody,
    #[error("{0}")]
    BadPath(#[from] PathError),
    /// A counting request from a browser page on an origin the stage does
    /// not allow: another site cannot make its visitors count here.
    #[error("this origin may not count visits")]
    OriginNotAllowed,
    /// The stage answers only through its CloudFront distribution, and this
    /// request did not come through it.
    #[error("this API answers only through the site's address")]
    DirectAccessRefused,
    #[error("the counter is busy, try again shortly")]
    Throttled,
    #[error("the counter is unavailable, try again shortly")]
    Unavailable,
    #[error("internal error")]
    Internal,
}

/// The methods `/visits` answers, for `Allow` and preflights.
pub const ALLOWED_METHODS: &str = "GET, POST, OPTIONS";

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::UnexpectedBody | ApiError::BadPath(_) => StatusCode::BAD_REQUEST,
            ApiError::OriginNotAllowed | ApiError::DirectAccessRefused => StatusCode::FORBIDDEN,
            ApiError::Throttled | ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable `error` code (listed in `openapi.yaml`).
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::NotFound => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::UnexpectedBody => "unexpected_body",
            ApiError::BadPath(e) => e.code(),
            ApiError::OriginNotAllowed => "origin_not_allowed",
            ApiError::DirectAccessRefused => "direct_access_refused",
            ApiError::Throttled => "throttled",
            ApiError::Unavailable => "unavailable",
            ApiError::Internal => "internal",
        }
    }

    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({ "error": self.code(), "message": self.to_string() })
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Throttled => ApiError::Throttled,
            StoreError::Unavailable(_) => ApiError::Unavailable,
            StoreError::Failed(_) => ApiError::Internal,
        }
    }
}
