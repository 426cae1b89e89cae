use std::time::Duration;

use contract_tests::Contract;
use contract_tests::browser::{Browser, Visit};
use contract_tests::site::{SiteListener, SiteServer};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The placeholder the page shows while it waits.
pub const PLACEHOLDER: &str = "…";
/// The quiet fallback when the count cannot be shown.
pub const FALLBACK: &str = "—";
/// The script's timeout in these tests.
pub const TIMEOUT_MS: u64 = 1500;

pub fn contract() -> Contract {
    Contract::load().expect("openapi.yaml")
}

/// A wiremock response built from the contract: the example's body, the
/// headers every response carries, the response's required headers.
pub fn from_contract(status: u16, example: &str, allow_origin: Option<&str>) -> ResponseTemplate {
    let c = contract();
    let body = c
        .example("/visits", "POST", status, example)
        .expect("example in the contract");
    let mut t = ResponseTemplate::new(status)
        .set_body_json(body)
        .insert_header("content-type", "application/json")
        .insert_header("cache-control", "no-store")
        .insert_header("vary", "Origin");
    for (name, required, constant) in c.headers("/visits", "POST", status).expect("headers") {
        if required && !["Cache-Control", "Vary"].contains(&name.as_str()) {
            t = t.insert_header(
                name.as_str(),
                constant.unwrap_or_else(|| "1".to_owned()).as_str(),
            );
        }
    }
    if let Some(o) = allow_origin {
        t = t.insert_header("access-control-allow-origin", o);
    }
    t
}

/// The site in Chromium against an API that answers POST /visits with `response`.
pub struct Scene {
    pub api: MockServer,
    pub site: SiteServer,
    pub browser: Browser,
}

pub async fn scene(response: impl FnOnce(&str) -> ResponseTemplate) -> Scene {
    scene_with_timeout(TIMEOUT_MS, response).await
}

/// A scene whose script gives up after `timeout_ms`.
pub async fn scene_with_timeout(
    timeout_ms: u64,
    response: impl FnOnce(&str) -> ResponseTemplate,
) -> Scene {
    let api = MockServer::start().await;
    let listener = SiteListener::bind().await.expect("bind site");
    Mock::given(method("POST"))
        .and(path("/visits"))
        .respond_with(response(&listener.origin))
        .mount(&api)
        .await;
    let site = listener.serve(&api.uri(), timeout_ms);
    let browser = Browser::launch().await.expect("headless Chromium starts");
    Scene { api, site, browser }
}

impl Scene {
    /// Loads a page and waits until the placeholder is replaced (bounded).
    pub async fn load(&self, page_path: &str) -> Visit {
        self.browser
            .visit(
                &format!("{}{page_path}", self.site.origin()),
                |t| !t.is_empty() && t != PLACEHOLDER,
                Duration::from_millis(TIMEOUT_MS + 5000),
            )
            .await
            .expect("the page loads")
    }

    /// The API saw exactly one request, the one the contract describes.
    pub async fn assert_one_contract_request(&self, page_path: &str) {
        let requests = self.api.received_requests().await.expect("recording on");
        assert_eq!(requests.len(), 1, "one request per page load: {requests:?}");
        let r = &requests[0];
        assert_eq!(r.method.as_str(), "POST");
        assert_eq!(r.url.path(), "/visits");
        let pairs: Vec<(String, String)> = r
            .url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        assert_eq!(
            pairs,
            vec![("path".to_owned(), page_path.to_owned())],
            "query: {:?}",
            r.url.query()
        );
        assert!(r.body.is_empty(), "no body");
        assert!(
            r.headers.get("content-type").is_none(),
            "no Content-Type: a CORS simple request"
        );
        assert_eq!(
            r.headers.get("origin").and_then(|v| v.to_str().ok()),
            Some(self.site.origin()),
            "a cross-origin request from the site"
        );
        assert!(r.headers.get("cookie").is_none(), "no credentials");
    }
}
