//! API Gateway's HTTP API, as far as a request meets it before and after
//! the function: stage and route selection, the throttle, the payload
//! format 2.0 event, and how the function's answer (or failure) becomes
//! the client's. Pure: no I/O, no clock of its own (times are passed in).

use std::collections::BTreeMap;
use std::time::Instant;

use bytes::Bytes;
use serde_json::{Map, Value, json};

use sam_template::{Route, Throttle};

/// The answers API Gateway writes itself, each with its status and body.
///
/// - 429 `{"message":"Too Many Requests"}`: its throttle
///   (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-throttling.html).
/// - 404 `{"message":"Not Found"}`: no stage or no route matches
///   (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-routes.html,
///   "Routing API requests").
/// - 500 `{"message":"Internal Server Error"}`: Lambda rejected the
///   invocation (a throttle: "If the Lambda API rejects the invocation
///   request, API Gateway returns a 500",
///   https://docs.aws.amazon.com/lambda/latest/dg/services-apigateway-errors.html),
///   and, on an HTTP API, the function failing too: that page's 502 is a
///   REST API's; an HTTP API answers a function error, a crash, a function
///   timeout or a malformed answer with 500 and this body (the body from
///   https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-troubleshooting-lambda.html;
///   the status as HTTP APIs' access logs show it, `"status":"500",
///   "integrationStatus":"200"` for an unhandled function error:
///   github.com/theam/aws-lambda-haskell-runtime/issues/105, and for
///   Lambda timeouts github.com/denoland/deno_registry2/issues/87). So on
///   an HTTP API a client cannot tell a throttle (the function never ran)
///   from a failure (it may have run) by the answer.
/// - 503 `{"message":"Service Unavailable"}`: the integration timeout
///   passed (observed on HTTP APIs: github.com/cortexlabs/cortex/issues/1225;
///   AWS documents the 30 s limit, not the answer).
/// - 413 `{"message":"Request Entity Too Large"}`: a request past the
///   10 MB payload quota (the body is our choice; AWS documents the limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayAnswer {
    Throttled,
    NotFound,
    InternalError,
    ServiceUnavailable,
    TooLarge,
}

impl GatewayAnswer {
    pub fn status(self) -> u16 {
        match self {
            Self::Throttled => 429,
            Self::NotFound => 404,
            Self::InternalError => 500,
            Self::ServiceUnavailable => 503,
            Self::TooLarge => 413,
        }
    }

    pub fn body(self) -> &'static str {
        match self {
            Self::Throttled => r#"{"message":"Too Many Requests"}"#,
            Self::NotFound => r#"{"message":"Not Found"}"#,
            Self::InternalError => r#"{"message":"Internal Server Error"}"#,
            Self::ServiceUnavailable => r#"{"message":"Service Unavailable"}"#,
            Self::TooLarge => r#"{"message":"Request Entity Too Large"}"#,
        }
    }
}

/// HTTP APIs' payload quota: 10 MB
/// (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-quotas.html).
pub const MAX_REQUEST_BYTES: usize = 10 * 1024 * 1024;

/// A token bucket: `burst` tokens at most, `rate` added a second, one
/// taken per request; starts full. API Gateway throttles "using the token
/// bucket algorithm, where a token counts for a request"
/// (http-api-throttling, above).
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub fn new(t: Throttle, now: Instant) -> Self {
        Self {
            rate: t.rate.max(0.0),
            burst: t.burst.max(0.0),
            tokens: t.burst.max(0.0),
            last: now,
        }
    }

    /// Takes a token if there is one.
    pub fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now.max(self.last);
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The routes of one stage, with how a request picks one.
#[derive(Debug, Clone)]
pub struct Router {
    /// `None`: the `$default` stage (no prefix).
    stage: Option<String>,
    routes: Vec<Route>,
}

/// The route a request took, and its path parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Matched {
    pub index: usize,
    pub path_parameters: BTreeMap<String, String>,
}

impl Router {
    pub fn new(stage_name: &str, routes: Vec<Route>) -> Self {
        Self {
            stage: (stage_name != "$default").then(|| stage_name.to_owned()),
            routes,
        }
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The URL path prefix of the stage: `/prod`, or empty.
    pub fn base_path(&self) -> String {
        self.stage
            .as_ref()
            .map_or(String::new(), |s| format!("/{s}"))
    }

    pub fn stage_name(&self) -> &str {
        self.stage.as_deref().unwrap_or("$default")
    }

    /// The route for a request, by API Gateway's priority: a full match
    /// of path and method (path variables included; a literal method
    /// before `ANY`, more literal segments first), then a greedy path
    /// variable (`{proxy+}`, the longest prefix first), then `$default`.
    /// `None`: 404 (no stage, or no route).
    pub fn route(&self, method: &str, raw_path: &str) -> Option<Matched> {
        let path = match &self.stage {
            None => raw_path,
            Some(stage) => {
                let rest = raw_path.strip_prefix('/')?.strip_prefix(stage.as_str())?;
                if !(rest.is_empty() || rest.starts_with('/')) {
                    return None;
                }
                rest
            }
        };
        let path = if path.is_empty() { "/" } else { path };
        let segments: Vec<&str> = path.split('/').skip(1).collect();
        let mut best: Option<((u8, usize, u8), Matched)> = None;
        for (index, r) in self.routes.iter().enumerate() {
            let (Some(m), Some(p)) = (&r.key.method, &r.key.path) else {
                continue;
            };
            if m != "ANY" && !m.eq_ignore_ascii_case(method) {
                continue;
            }
            let Some((greedy, literal, params)) = match_path(p, &segments) else {
                continue;
            };
            let rank = (u8::from(!greedy), literal, u8::from(m != "ANY"));
            if best.as_ref().is_none_or(|(b, _)| rank > *b) {
                best = Some((
                    rank,
                    Matched {
                        index,
                        path_parameters: params,
                    },
                ));
            }
        }
        best.map(|(_, m)| m).or_else(|| {
            let index = self.routes.iter().position(|r| r.key.path.is_none())?;
            Some(Matched {
                index,
                path_parameters: BTreeMap::new(),
            })
        })
    }
}

/// Matches a route path against the request's segments: whether it took
/// a greedy variable, how many literal segments matched, the parameters.
fn match_path(route: &str, segments: &[&str]) -> Option<(bool, usize, BTreeMap<String, String>)> {
    let parts: Vec<&str> = route.split('/').skip(1).collect();
    let mut params = BTreeMap::new();
    let mut literal = 0;
    for (i, part) in parts.iter().enumerate() {
        if let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix("+}")) {
            // A greedy variable takes one segment or more.
            let rest = segments
                .get(i..)
                .filter(|r| !r.is_empty() && !r[0].is_empty())?;
            params.insert(name.to_owned(), decode(&rest.join("/")));
            return Some((true, literal, params));
        }
        let seg = segments.get(i)?;
        match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            Some(name) if !seg.is_empty() => {
                params.insert(name.to_owned(), decode(seg));
            }
            Some(_) => return None,
            None if part == seg => literal += 1,
            None => return None,
        }
    }
    (parts.len() == segments.len()).then_some((false, literal, params))
}

/// Percent-decoding (API Gateway "decodes URL-encoded request parameters
/// before passing them to your backend integration", http-api-develop-routes).
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied(),
            bytes.get(i + 2).copied(),
        ) {
            (b'%', Some(h), Some(l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What the event is built from.
pub struct EventInput<'a> {
    pub method: &'a str,
    pub raw_path: &'a str,
    pub raw_query: &'a str,
    pub headers: &'a http::HeaderMap,
    pub body: &'a [u8],
    pub route_key: &'a str,
    pub stage: &'a str,
    pub path_parameters: &'a BTreeMap<String, String>,
    pub request_id: &'a str,
    pub api_id: &'a str,
    pub source_ip: &'a str,
    /// `dd/Mon/yyyy:HH:mm:ss +0000` and unix ms.
    pub time: &'a str,
    pub time_epoch_ms: u64,
}

/// Format 2.0's headers (repeated ones joined with commas) and its
/// `cookies` (taken out of the `Cookie` header).
fn headers_v2(from: &http::HeaderMap) -> (Map<String, Value>, Vec<String>) {
    let mut headers = Map::new();
    let mut cookies = Vec::new();
    for (name, value) in from {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == http::header::COOKIE {
            cookies.extend(value.split(';').map(|c| c.trim().to_owned()));
            continue;
        }
        join_into(&mut headers, name.as_str().to_owned(), value);
    }
    (headers, cookies)
}

/// Format 2.0's `queryStringParameters`: decoded, repeated ones joined
/// with commas.
fn query_v2(raw: &str) -> Map<String, Value> {
    let mut query = Map::new();
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        join_into(&mut query, decode(k), decode(v));
    }
    query
}

/// Adds `value` under `name`, after a comma if `name` is there already.
fn join_into(map: &mut Map<String, Value>, name: String, value: String) {
    match map.get_mut(&name) {
        Some(Value::String(s)) => {
            s.push(',');
            s.push_str(&value);
        }
        _ => {
            map.insert(name, Value::String(value));
        }
    }
}

/// The payload format 2.0 event
/// (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html):
/// duplicate headers and query parameters joined with commas, cookies in
/// `cookies`, a body that is not UTF-8 sent base64-encoded.
pub fn event_v2(e: &EventInput<'_>) -> Value {
    let (headers, cookies) = headers_v2(e.headers);
    let query = query_v2(e.raw_query);
    let user_agent = headers.get("user-agent").cloned().unwrap_or(json!(""));
    let domain = format!(
        "{}.execute-api.{}.amazonaws.com",
        e.api_id,
        sam_template::REGION
    );
    let mut event = json!({
        "version": "2.0",
        "routeKey": e.route_key,
        "rawPath": e.raw_path,
        "rawQueryString": e.raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": sam_template::ACCOUNT_ID,
            "apiId": e.api_id,
            "domainName": domain,
            "domainPrefix": e.api_id,
            "http": {
                "method": e.method,
                "path": e.raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": e.source_ip,
                "userAgent": user_agent,
            },
            "requestId": e.request_id,
            "routeKey": e.route_key,
            "stage": e.stage,
            "time": e.time,
            "timeEpoch": e.time_epoch_ms,
        },
        "isBase64Encoded": false,
    });
    if !cookies.is_empty() {
        event["cookies"] = json!(cookies);
    }
    if !query.is_empty() {
        event["queryStringParameters"] = Value::Object(query);
    }
    if !e.path_parameters.is_empty() {
        event["pathParameters"] = json!(e.path_parameters);
    }
    if !e.body.is_empty() {
        match std::str::from_utf8(e.body) {
            Ok(text) => event["body"] = json!(text),
            Err(_) => {
                event["body"] = json!(base64_encode(e.body));
                event["isBase64Encoded"] = json!(true);
            }
        }
    }
    event
}

/// An answer for the client.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Answer {
    pub fn gateway(a: GatewayAnswer) -> Self {
        Self {
            status: a.status(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: Bytes::from_static(a.body().as_bytes()),
        }
    }
}

/// A function's result as format 2.0 maps it. With a `statusCode`, the
/// result is a response: `statusCode`, `headers`, `cookies` (each a
/// `set-cookie`), `body`, `isBase64Encoded`. Without one, API Gateway
/// "assumes" a 200 with `content-type: application/json` and the result
/// as the body (its table: a JSON string becomes the body as that string,
/// anything else its JSON text). A result that is not JSON, or a response
/// whose fields have the wrong types, is malformed: `None` (the caller
/// answers it as API Gateway answers a function error).
pub fn map_result_v2(payload: &[u8]) -> Option<Answer> {
    let value: Value = serde_json::from_slice(payload).ok()?;
    let code = match &value {
        Value::Object(m) => m.get("statusCode"),
        _ => None,
    };
    let Some(code) = code else {
        // The result as the function wrote it (a string: its text).
        let body = match value {
            Value::String(s) => Bytes::from(s),
            _ => Bytes::copy_from_slice(payload.trim_ascii()),
        };
        return Some(Answer {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body,
        });
    };
    let status = code
        .as_u64()
        .or_else(|| code.as_str().and_then(|s| s.parse().ok()))
        .filter(|s| (100..=599).contains(s))? as u16;
    let mut headers = Vec::new();
    match &value["headers"] {
        Value::Null => {}
        Value::Object(h) => {
            for (k, v) in h {
                let v = match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    _ => return None,
                };
                headers.push((k.to_ascii_lowercase(), v));
            }
        }
        _ => return None,
    }
    match &value["cookies"] {
        Value::Null => {}
        Value::Array(c) => {
            for cookie in c {
                headers.push(("set-cookie".into(), cookie.as_str()?.to_owned()));
            }
        }
        _ => return None,
    }
    let body = match &value["body"] {
        Value::Null => Bytes::new(),
        Value::String(s) if value["isBase64Encoded"] == true => Bytes::from(base64_decode(s)?),
        Value::String(s) => Bytes::from(s.clone()),
        _ => return None,
    };
    Some(Answer {
        status,
        headers,
        body,
    })
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=') {
        let v = B64.iter().position(|b| *b == c)? as u32;
        acc = acc << 6 | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sam_template::RouteKey;
    use std::time::Duration;

    fn route(key: &str) -> Route {
        let key = match key.split_once(' ') {
            Some((m, p)) => RouteKey {
                method: Some(m.into()),
                path: Some(p.into()),
            },
            None => RouteKey {
                method: None,
                path: None,
            },
        };
        Route {
            key,
            payload_format: "2.0".into(),
            integration_timeout: sam_template::MAX_INTEGRATION_TIMEOUT,
            own_throttle: None,
            throttle: None,
        }
    }

    fn router(stage: &str, keys: &[&str]) -> Router {
        Router::new(stage, keys.iter().map(|k| route(k)).collect())
    }

    fn taken(r: &Router, method: &str, path: &str) -> Option<String> {
        r.route(method, path).map(|m| r.routes()[m.index].key.key())
    }

    #[test]
    fn routes_are_chosen_by_api_gateways_priority() {
        // AWS's own example (http-api-develop-routes, "Routing API requests").
        let r = router(
            "$default",
            &[
                "GET /pets/dog/1",
                "GET /pets/dog/{id}",
                "GET /pets/{proxy+}",
                "ANY /{proxy+}",
                "$default",
            ],
        );
        assert_eq!(
            taken(&r, "GET", "/pets/dog/1").as_deref(),
            Some("GET /pets/dog/1")
        );
        assert_eq!(
            taken(&r, "GET", "/pets/dog/2").as_deref(),
            Some("GET /pets/dog/{id}")
        );
        assert_eq!(
            taken(&r, "GET", "/pets/cat/1").as_deref(),
            Some("GET /pets/{proxy+}")
        );
        assert_eq!(
            taken(&r, "POST", "/pets/dog/1").as_deref(),
            Some("ANY /{proxy+}")
        );
        assert_eq!(taken(&r, "GET", "/").as_deref(), Some("$default"));
        let m = r.route("GET", "/pets/dog/a%20b").expect("a route");
        assert_eq!(m.path_parameters["id"], "a b");
    }

    #[test]
    fn a_named_stage_serves_only_under_its_prefix() {
        let r = router("prod", &["POST /visits", "GET /visits", "ANY /{proxy+}"]);
        assert_eq!(r.base_path(), "/prod");
        assert_eq!(
            taken(&r, "POST", "/prod/visits").as_deref(),
            Some("POST /visits")
        );
        assert_eq!(
            taken(&r, "DELETE", "/prod/visits").as_deref(),
            Some("ANY /{proxy+}")
        );
        assert_eq!(taken(&r, "POST", "/visits"), None, "outside the stage: 404");
        assert_eq!(taken(&r, "POST", "/production/visits"), None);
        assert_eq!(taken(&r, "GET", "/prod"), None, "no route for the root");
    }

    #[test]
    fn the_bucket_allows_the_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(
            Throttle {
                rate: 10.0,
                burst: 5.0,
            },
            t0,
        );
        let first: usize = (0..20).filter(|_| b.take(t0)).count();
        assert_eq!(first, 5, "the burst, at once");
        let later = t0 + Duration::from_millis(500);
        let refilled: usize = (0..20).filter(|_| b.take(later)).count();
        assert_eq!(refilled, 5, "10/s for half a second");
        let much_later = later + Duration::from_secs(60);
        let capped: usize = (0..20).filter(|_| b.take(much_later)).count();
        assert_eq!(capped, 5, "never more than the burst");
        let mut shut = TokenBucket::new(
            Throttle {
                rate: 100.0,
                burst: 0.0,
            },
            t0,
        );
        assert!(
            !shut.take(t0 + Duration::from_secs(1)),
            "burst 0 admits nothing"
        );
    }

    #[test]
    fn the_event_is_format_2_0_and_lambda_http_reads_it() {
        let mut headers = http::HeaderMap::new();
        headers.insert("origin", "https://site.example".parse().expect("value"));
        headers.append("x-dup", "a".parse().expect("value"));
        headers.append("x-dup", "b".parse().expect("value"));
        headers.insert("cookie", "a=1; b=2".parse().expect("value"));
        let params = BTreeMap::new();
        let event = event_v2(&EventInput {
            method: "POST",
            raw_path: "/prod/visits",
            raw_query: "path=%2Fblog%2Fh%C3%A9llo&x=1&x=2",
            headers: &headers,
            body: b"",
            route_key: "POST /visits",
            stage: "prod",
            path_parameters: &params,
            request_id: "abc=",
            api_id: "local",
            source_ip: "127.0.0.1",
            time: "01/Jan/2026:00:00:00 +0000",
            time_epoch_ms: 1_767_225_600_000,
        });
        assert_eq!(event["headers"]["x-dup"], "a,b");
        assert_eq!(event["cookies"], json!(["a=1", "b=2"]));
        assert_eq!(event["queryStringParameters"]["path"], "/blog/héllo");
        assert_eq!(event["queryStringParameters"]["x"], "1,2");
        let req =
            lambda_http::request::from_str(&event.to_string()).expect("lambda_http parses it");
        assert_eq!(req.method(), "POST");
        assert_eq!(req.uri().path(), "/prod/visits");
    }

    #[test]
    fn results_map_as_format_2_0_says() {
        let plain = map_result_v2(br#"{"path":"/a","count":3}"#).expect("inferred");
        assert_eq!(
            (plain.status, &plain.body[..]),
            (200, &br#"{"path":"/a","count":3}"#[..])
        );
        assert!(
            plain
                .headers
                .contains(&("content-type".into(), "application/json".into()))
        );
        let text = map_result_v2(br#""Hello from Lambda!""#).expect("a string");
        assert_eq!(&text.body[..], b"Hello from Lambda!");
        let full = map_result_v2(
            br#"{"statusCode":404,"headers":{"Cache-Control":"no-store"},"cookies":["s=1"],"body":"{}"}"#,
        )
        .expect("a response");
        assert_eq!(full.status, 404);
        assert!(
            full.headers
                .contains(&("cache-control".into(), "no-store".into()))
        );
        assert!(full.headers.contains(&("set-cookie".into(), "s=1".into())));
        let b64 = map_result_v2(br#"{"statusCode":200,"body":"aGk=","isBase64Encoded":true}"#)
            .expect("base64");
        assert_eq!(&b64.body[..], b"hi");
        for malformed in [
            &b"SUCCESS"[..],
            br#"{"statusCode":"teapot"}"#,
            br#"{"statusCode":200,"body":{"not":"a string"}}"#,
            br#"{"statusCode":200,"headers":["x"]}"#,
        ] {
            assert_eq!(
                map_result_v2(malformed),
                None,
                "{}",
                String::from_utf8_lossy(malformed)
            );
        }
    }

    #[test]
    fn base64_round_trips() {
        for input in [&b""[..], b"a", b"ab", b"abc", b"\xff\x00\x10hello"] {
            assert_eq!(base64_decode(&base64_encode(input)).as_deref(), Some(input));
        }
        assert_eq!(base64_encode(b"hi"), "aGk=");
    }
}
