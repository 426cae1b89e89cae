//! The HTTP handler: one function for API Gateway (v1, v2, function URLs)
//! and for the local stage.

use std::time::Instant;

use http::{HeaderValue, Method, Response, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt};

use counter_api::CountBody;

use crate::App;
use crate::error::{ALLOWED_METHODS, ApiError};
use crate::route::{Action, RequestParts, classify, strip_stage};
use crate::store::StoreError;

/// Answers one request. Never fails: every error becomes its documented
/// JSON response here.
pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let started = Instant::now();
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .map(str::to_owned);
    let allow_origin = app
        .config
        .allowed_origins
        .allow_origin_for(origin.as_deref());
    let route = route_of(&req);
    let parts = RequestParts {
        method: req.method(),
        route: &route,
        query: req.uri().query(),
        body_len: req.body().len(),
    };

    let result = match classify(parts, &app.config.allowed_paths) {
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

fn log(req: &Request, route: &str, status: StatusCode, started: Instant, origin: Option<&str>) {
    let method: &Method = req.method();
    tracing::info!(
        method = %method,
        route,
        status = status.as_u16(),
        elapsed_us = started.elapsed().as_micros() as u64,
        origin,
        "request"
    );
}
