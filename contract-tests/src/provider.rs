//! The provider side: replays the contract's operations and examples
//! against a real API and reports every way the answers differ.
//!
//! Against a real stage it writes only to `/__contract/<run>/...` paths.

use std::fmt;

use reqwest::Method;
use serde_json::Value;

use crate::contract::{Contract, Operation};

/// What [`encode`] leaves as itself: RFC 3986's unreserved characters.
const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes a query value with the `percent-encoding` crate, not the
/// server's own encoder, so a bug there cannot hide here (it also encodes
/// `/`, which the server's encoder leaves as is).
pub fn encode(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, UNRESERVED).to_string()
}

/// Where and how to check.
#[derive(Debug, Clone)]
pub struct Provider {
    /// The API's base URL (a stage URL may carry the stage in its path).
    pub base: String,
    /// An origin the API allows, to check CORS echoing (optional).
    pub allowed_origin: Option<String>,
    /// A valid path the API's allow-list refuses, for the `notAllowed`
    /// example (optional: a stage may allow every path).
    pub disallowed_path: Option<String>,
    /// An origin the API does not allow, for the `originNotAllowed`
    /// example (optional: a stage allowing `*` refuses no origin).
    pub disallowed_origin: Option<String>,
    /// Whether every other route at this address is the API's (its 404).
    /// Not so for an API behind the site's distribution at `/visits`: the
    /// site's bucket answers every other path.
    pub unknown_routes: bool,
    /// Unique per check run, so counters start at zero.
    pub run_id: String,
}

/// One difference between the API and the contract.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// Which check: e.g. `POST /visits 200 (first visit)`.
    pub check: String,
    pub problem: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.check, self.problem)
    }
}

/// What an HTTP exchange returned.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Option<Value>,
    pub raw: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub async fn send(
    http: &reqwest::Client,
    method: Method,
    url: &str,
    origin: Option<&str>,
) -> Result<Reply, String> {
    let mut req = http.request(method.clone(), url);
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    let response = req
        .send()
        .await
        .map_err(|e| format!("{method} {url}: {e}"))?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let raw = response
        .text()
        .await
        .map_err(|e| format!("{method} {url}: body: {e}"))?;
    Ok(Reply {
        status,
        headers,
        body: serde_json::from_str(&raw).ok(),
        raw,
    })
}

/// Checks one reply against what the contract says of `op`: the status,
/// `Content-Type`, every required header (and its value where fixed), and
/// the body against the schema.
pub fn check_reply(
    contract: &Contract,
    op: &Operation,
    reply: &Reply,
    check: &str,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut fail = |problem: String| {
        out.push(Finding {
            check: check.to_owned(),
            problem,
        })
    };
    if reply.status != op.status {
        fail(format!(
            "status {} where the contract says {} (body {})",
            reply.status, op.status, reply.raw
        ));
        return out;
    }
    if reply.header("content-type") != Some("application/json") {
        fail(format!(
            "Content-Type {:?}, not application/json",
            reply.header("content-type")
        ));
    }
    match contract.headers(&op.path, &op.method, op.status) {
        Err(e) => fail(e.to_string()),
        Ok(headers) => {
            for (name, required, constant) in headers {
                match (reply.header(&name), required, constant) {
                    (None, true, _) => fail(format!("required header {name} is missing")),
                    (Some(v), _, Some(c)) if v != c => {
                        fail(format!("header {name} is {v:?}, the contract says {c:?}"))
                    }
                    _ => {}
                }
            }
        }
    }
    if op.status != 204 {
        match &reply.body {
            None => fail(format!("body is not JSON: {:?}", reply.raw)),
            Some(body) => match contract.validate_body(&op.path, &op.method, op.status, body) {
                Err(e) => fail(e.to_string()),
                Ok(errors) => {
                    for e in errors {
                        fail(format!("body {} breaks the schema: {e}", reply.raw));
                    }
                }
            },
        }
    }
    out
}

fn op(path: &str, method: &str, status: u16) -> Operation {
    Operation {
        path: path.to_owned(),
        method: method.to_owned(),
        status,
    }
}

/// The outcome of a provider check: the findings, and which documented
/// responses were exercised.
#[derive(Debug, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
    pub covered: Vec<Operation>,
}

impl Report {
    fn add(&mut self, findings: Vec<Finding>, covered: Operation) {
        self.findings.extend(findings);
        if !self.covered.contains(&covered) {
            self.covered.push(covered);
        }
    }

    fn problem(&mut self, check: &str, problem: String) {
        self.findings.push(Finding {
            check: check.to_owned(),
            problem,
        });
    }
}

/// Replays every operation and example that a healthy stage can answer:
/// 200s (counting and reading), 204, and each documented 4xx example.
/// (503 and 500 need a broken stage: see the local-stage tests.)
pub async fn verify(contract: &Contract, target: &Provider) -> Report {
    let probe = Probe::new(contract, target);
    let mut report = Report::default();
    probe.counting(&mut report).await;
    probe.never_seen(&mut report).await;
    probe.error_examples(&mut report).await;
    probe.preflight(&mut report).await;
    probe.nothing_rejected_counted(&mut report).await;
    report
}

/// What every step of [`verify`] shares: the contract, a client, the base
/// URL and the page the checks count on.
struct Probe<'a> {
    contract: &'a Contract,
    target: &'a Provider,
    http: reqwest::Client,
    base: String,
    origin: Option<&'a str>,
    page: String,
}

/// One documented error example and a request that causes it.
struct ErrorCase {
    example: &'static str,
    method: Method,
    url: String,
    status: u16,
    path: &'static str,
    /// The `Origin` it is sent with, when not the allowed one.
    origin: Option<String>,
}

impl<'a> Probe<'a> {
    fn new(contract: &'a Contract, target: &'a Provider) -> Self {
        Self {
            contract,
            target,
            http: reqwest::Client::new(),
            base: target.base.trim_end_matches('/').to_owned(),
            origin: target.allowed_origin.as_deref(),
            // Spaces, `+`, `&`, `%` and non-ASCII: the path survives encoding
            // by a client and decoding by the server only if both follow the
            // contract.
            page: format!("/__contract/{}/pâge 1+1&%", target.run_id),
        }
    }

    fn visits(&self, path: &str) -> String {
        format!("{}/visits?path={}", self.base, encode(path))
    }

    /// POST twice, GET: counts 1, 2, then 2 again.
    async fn counting(&self, report: &mut Report) {
        let mut counts = Vec::new();
        for (method, what) in [
            (Method::POST, "first visit"),
            (Method::POST, "second visit"),
            (Method::GET, "read"),
        ] {
            let o = op("/visits", method.as_str(), 200);
            let check = format!("{} /visits 200 ({what})", method.as_str());
            match send(&self.http, method, &self.visits(&self.page), self.origin).await {
                Err(e) => report.problem(&check, e),
                Ok(reply) => {
                    report.add(check_reply(self.contract, &o, &reply, &check), o);
                    let body = reply.body.clone().unwrap_or_default();
                    if body["path"] != self.page.as_str() {
                        report.problem(
                            &check,
                            format!(
                                "path is {}, not the {:?} asked for",
                                body["path"], self.page
                            ),
                        );
                    }
                    counts.push(body["count"].as_u64());
                    if let Some(o) = self.origin
                        && reply.header("access-control-allow-origin") != Some(o)
                    {
                        report.problem(
                            &check,
                            format!("allowed origin {o} not echoed in Access-Control-Allow-Origin"),
                        );
                    }
                }
            }
        }
        if counts != [Some(1), Some(2), Some(2)] {
            report.problem(
                "counting",
                format!(
                    "a fresh page counted {counts:?} for POST, POST, GET; the contract means 1, 2, 2"
                ),
            );
        }
    }

    /// A page never counted reads 0 (the `neverSeen` example's shape).
    async fn never_seen(&self, report: &mut Report) {
        let never = format!("/__contract/{}/never", self.target.run_id);
        let o = op("/visits", "GET", 200);
        let check = "GET /visits 200 (never seen)";
        match send(&self.http, Method::GET, &self.visits(&never), self.origin).await {
            Err(e) => report.problem(check, e),
            Ok(reply) => {
                report.add(check_reply(self.contract, &o, &reply, check), o);
                let expected = serde_json::json!({"path": never, "count": 0});
                if reply.body.as_ref() != Some(&expected) {
                    report.problem(check, format!("got {}, expected {expected}", reply.raw));
                }
            }
        }
    }

    /// Requests that cause each documented error example.
    fn error_cases(&self) -> Vec<ErrorCase> {
        let case = |example, method, url, status, path| ErrorCase {
            example,
            method,
            url,
            status,
            path,
            origin: None,
        };
        let long = format!("/__contract/{}", "a".repeat(300));
        let mut cases = vec![
            case(
                "missingPath",
                Method::POST,
                format!("{}/visits", self.base),
                400,
                "/visits",
            ),
            case(
                "invalidPath",
                Method::POST,
                self.visits("relative"),
                400,
                "/visits",
            ),
            case(
                "invalidPath",
                Method::GET,
                self.visits("relative"),
                400,
                "/visits",
            ),
            case("tooLong", Method::POST, self.visits(&long), 400, "/visits"),
            case(
                "notFound",
                Method::GET,
                format!("{}/nope", self.base),
                404,
                "/{unknown}",
            ),
            case(
                "methodNotAllowed",
                Method::DELETE,
                self.visits(&self.page),
                405,
                "/visits",
            ),
        ];
        // Other spellings of the route are other routes: 404, nothing
        // counted (checked last: the page still reads 2).
        for route in ["/visits/", "/visits//"] {
            for method in [Method::POST, Method::GET] {
                let url = format!("{}{route}?path={}", self.base, encode(&self.page));
                cases.push(case("notFound", method, url, 404, "/{unknown}"));
            }
        }
        if !self.target.unknown_routes {
            cases.retain(|c| c.path != "/{unknown}");
        }
        if let Some(p) = &self.target.disallowed_path {
            cases.push(case(
                "notAllowed",
                Method::POST,
                self.visits(p),
                400,
                "/visits",
            ));
        }
        // A page on another origin counting the checks' own page: refused,
        // and (checked last) the page still reads 2.
        if let Some(o) = &self.target.disallowed_origin {
            let url = self.visits(&self.page);
            let refused = case("originNotAllowed", Method::POST, url, 403, "/visits");
            cases.push(ErrorCase {
                origin: Some(o.clone()),
                ..refused
            });
        }
        cases
    }

    /// Each documented error example, replayed and compared.
    async fn error_examples(&self, report: &mut Report) {
        for c in self.error_cases() {
            // The contract documents 405 under POST; 404 under GET
            // /{unknown} (which stands for every method).
            let doc_method = match c.status {
                405 => "POST",
                404 => "GET",
                _ => c.method.as_str(),
            };
            let o = op(c.path, doc_method, c.status);
            let check = format!(
                "{} {} {} ({})",
                c.method.as_str(),
                c.path,
                c.status,
                c.example
            );
            let origin = c.origin.as_deref().or(self.origin);
            let reply = match send(&self.http, c.method, &c.url, origin).await {
                Err(e) => {
                    report.problem(&check, e);
                    continue;
                }
                Ok(reply) => reply,
            };
            report.add(check_reply(self.contract, &o, &reply, &check), o.clone());
            if let (Some(from), Some(allowed)) =
                (&c.origin, reply.header("access-control-allow-origin"))
            {
                report.problem(
                    &check,
                    format!("a page on {from} may read the refusal (Access-Control-Allow-Origin: {allowed})"),
                );
            }
            match self
                .contract
                .example(&o.path, &o.method, c.status, c.example)
            {
                Err(e) => report.problem(&check, e.to_string()),
                Ok(expected) if reply.body.as_ref() != Some(&expected) => report.problem(
                    &check,
                    format!(
                        "body {} differs from the contract's example {expected}",
                        reply.raw
                    ),
                ),
                Ok(_) => {}
            }
        }
    }

    /// The preflight.
    async fn preflight(&self, report: &mut Report) {
        let o = op("/visits", "OPTIONS", 204);
        let url = format!("{}/visits", self.base);
        match send(&self.http, Method::OPTIONS, &url, self.origin).await {
            Err(e) => report.problem("OPTIONS /visits 204", e),
            Ok(reply) => {
                let mut findings = check_reply(self.contract, &o, &reply, "OPTIONS /visits 204");
                // A 204 has no body: its Content-Type is not checked.
                findings.retain(|f| !f.problem.starts_with("Content-Type"));
                report.add(findings, o);
            }
        }
    }

    /// Nothing rejected changed the counter.
    async fn nothing_rejected_counted(&self, report: &mut Report) {
        let check = "rejected requests count nothing";
        match send(
            &self.http,
            Method::GET,
            &self.visits(&self.page),
            self.origin,
        )
        .await
        {
            Ok(reply) if reply.body.as_ref().and_then(|b| b["count"].as_u64()) == Some(2) => {}
            Ok(reply) => report.problem(
                check,
                format!("after the error cases the page reads {}", reply.raw),
            ),
            Err(e) => report.problem(check, e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_leaves_only_unreserved_characters() {
        assert_eq!(
            encode("/pâge 1+1&%?=#"),
            "%2Fp%C3%A2ge%201%2B1%26%25%3F%3D%23"
        );
        assert_eq!(encode("a-b_c.d~e"), "a-b_c.d~e");
    }
}
