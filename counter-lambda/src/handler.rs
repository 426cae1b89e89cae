//! The HTTP handler: one function for API Gateway (v1, v2, function URLs)
//! and for the local stage.

use std::time::Instant;

use http::{HeaderValue, Method, Response, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt};

use counter_api::CountBody;

use crate::App;
use crate::config::ORIGIN_VERIFY_HEADER;
use crate::error::{ALLOWED_METHODS, ApiError};
use crate::route::{Action, RequestParts, classify, strip_stage};
use crate::store::StoreError;

/// Answers one request. Never fails: every error becomes its documented
/// JSON response here.
pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let started = Instant::now();
    // Present but not text (bytes a browser never sends) is still present:
    // it matches no allowed origin, so it cannot count.
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .map(|o| String::from_utf8_lossy(o.as_bytes()).into_owned());
    let config = &app.config;
    let allow_origin = config.allowed_origins.allow_origin_for(origin.as_deref());
    let route = route_of(&req);
    let pretraffic = is_pretraffic(&req);
    let parts = RequestParts {
        method: req.method(),
        route: &route,
        query: req.uri().query(),
        body_len: req.body().len(),
        origin_allowed: config.allowed_origins.admits(origin.as_deref()),
        via_edge: pretraffic || came_through_edge(&req, config.edge_secret.as_deref()),
    };
    let allowed_paths = if pretraffic {
        &config.pretraffic_paths
    } else {
        &config.allowed_paths
    };

    let result = match classify(parts, allowed_paths) {
        Ok(Action::Preflight) => Ok(None),
        Ok(Action::Read(path)) => match app.store.current(&path).await {
            Ok(count) => Ok(Some((path, count))),
            Err(e) => Err(store_failure(e)),
        },
        Ok(Action::Increment(path)) => match app.store.increment(&path).await {
            Ok(count) => Ok(Some((path, count))),
            Err(e) => Err(store_failure(e)),
        },
        Err(e) => Err(e),
    };

    let mut response = match result {
        Ok(Some((path, count))) => json_response(
            StatusCode::OK,
            serde_json::to_string(&CountBody { path, count }).unwrap_or_default(),
        ),
        Ok(None) => preflight_response(),
        Err(err) => error_response(&err, app.config.retry_after_secs),
    };
    add_common_headers(response.headers_mut(), allow_origin.as_deref());
    add_server_timing(response.headers_mut(), started);
    log(&req, &route, response.status(), started, origin.as_deref());
    response
}

/// Set by the deployment's PreTraffic check, which invokes a new version
/// directly (Lambda `Invoke`, which IAM allows only the hook's role): its
/// HTTP API event carries `requestContext.authorizer.lambda.pretraffic`.
/// API Gateway fills `authorizer` only from an authorizer, and this API
/// has none, so no request through the API can carry it.
fn is_pretraffic(req: &Request) -> bool {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx
            .authorizer
            .as_ref()
            .is_some_and(|a| a.fields.get("pretraffic") == Some(&serde_json::Value::Bool(true))),
        _ => false,
    }
}

/// Whether the request carries the CloudFront distribution's secret
/// header, when the stage requires one (always true when it does not).
fn came_through_edge(req: &Request, secret: Option<&str>) -> bool {
    let Some(secret) = secret else {
        return true;
    };
    req.headers()
        .get(ORIGIN_VERIFY_HEADER)
        .is_some_and(|v| same_bytes(v.as_bytes(), secret.as_bytes()))
}

/// Compares without stopping at the first difference, so the time taken
/// does not tell how much of a guess was right.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Logs a store failure with its detail (which the client never sees).
fn store_failure(e: StoreError) -> ApiError {
    match &e {
        StoreError::Throttled => tracing::warn!(error = %e, "store throttled"),
        _ => tracing::error!(error = %e, "store failed"),
    }
    e.into()
}

/// The route without an API Gateway stage prefix.
fn route_of(req: &Request) -> String {
    let raw = req.raw_http_path();
    let path = if raw.is_empty() {
        req.uri().path()
    } else {
        raw
    };
    let stage = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(ctx)) => ctx.stage.clone(),
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.stage.clone(),
        _ => None,
    };
    strip_stage(path, stage.as_deref()).to_owned()
}

fn json_response(status: StatusCode, body: String) -> Response<Body> {
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() = status;
    response
}

fn preflight_response() -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::NO_CONTENT;
    let h = response.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(ALLOWED_METHODS),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("content-type"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    response
}

fn error_response(err: &ApiError, retry_after_secs: u32) -> Response<Body> {
    let mut response = json_response(err.status(), err.body().to_string());
    let h = response.headers_mut();
    match err {
        ApiError::MethodNotAllowed => {
            h.insert(header::ALLOW, HeaderValue::from_static(ALLOWED_METHODS));
        }
        ApiError::Throttled | ApiError::Unavailable => {
            h.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        _ => {}
    }
    response
}

fn add_common_headers(h: &mut http::HeaderMap, allow_origin: Option<&str>) {
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Some(value) = allow_origin.and_then(|o| HeaderValue::from_str(o).ok()) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
    }
}

/// W3C `Server-Timing: app;dur=<ms>`: the handler's own time, so a client
/// (the load test, a browser's devtools) can tell the function's duration
/// from the network's and API Gateway's.
fn add_server_timing(h: &mut http::HeaderMap, started: Instant) {
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if let Ok(value) = HeaderValue::from_str(&format!("app;dur={ms:.3}")) {
        h.insert(SERVER_TIMING, value);
    }
}

const SERVER_TIMING: header::HeaderName = header::HeaderName::from_static("server-timing");

/// The most bytes of a field the request chose (route, `Origin`, method)
/// that a log line keeps: anyone can send kilobytes of them, and every
/// byte is billed as CloudWatch Logs ingestion. A truncated field is
/// logged with its original length beside it (`route_len`, `origin_len`,
/// `method_len`), so a junk request is still visible for what it was.
pub const LOG_FIELD_MAX_BYTES: usize = 128;

/// `value` cut to at most `max` bytes on a character boundary, and its
/// original length when it was cut.
pub fn bounded(value: &str, max: usize) -> (&str, Option<usize>) {
    if value.len() <= max {
        return (value, None);
    }
    let mut end = max;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    (&value[..end], Some(value.len()))
}

fn log(req: &Request, route: &str, status: StatusCode, started: Instant, origin: Option<&str>) {
    let method: &Method = req.method();
    let (method, method_len) = bounded(method.as_str(), LOG_FIELD_MAX_BYTES);
    let (route, route_len) = bounded(route, LOG_FIELD_MAX_BYTES);
    let (origin, origin_len) = match origin.map(|o| bounded(o, LOG_FIELD_MAX_BYTES)) {
        Some((o, len)) => (Some(o), len),
        None => (None, None),
    };
    tracing::info!(
        method,
        method_len,
        route,
        route_len,
        status = status.as_u16(),
        elapsed_us = started.elapsed().as_micros() as u64,
        origin,
        origin_len,
        "request"
    );
}
