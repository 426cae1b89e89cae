//! The site's real script in headless Chromium, for each response the
//! contract documents, against wiremock playing the API.

use std::time::Duration;

use contract_tests::browser::counter_line;
use wiremock::ResponseTemplate;

use crate::helpers::{FALLBACK, PLACEHOLDER, TIMEOUT_MS, from_contract, scene};

#[tokio::test]
async fn a_200_shows_the_count_from_one_contracted_request() {
    let s = scene(|origin| from_contract(200, "counted", Some(origin))).await;
    let visit = s.load("/").await;
    assert_eq!(visit.text, "42");
    assert_eq!(
        counter_line(&visit.page).await.expect("line"),
        "Visitor #: 42"
    );
    assert!(visit.exceptions.is_empty(), "{:?}", visit.exceptions);
    s.assert_one_contract_request("/").await;
}

#[tokio::test]
async fn the_page_path_is_sent_encoded_and_decoded_back_by_the_api() {
    let s = scene(|origin| {
        ResponseTemplate::new(200)
            .set_body_json(serde_json::json!({"path": "/blog/héllo wörld", "count": 7}))
            .insert_header("access-control-allow-origin", origin)
    })
    .await;
    let visit = s.load("/blog/h%C3%A9llo%20w%C3%B6rld").await;
    assert_eq!(visit.text, "7");
    // Sent once, decoded: the API counts the page, not one spelling of its URL.
    s.assert_one_contract_request("/blog/héllo wörld").await;
}

/// Each documented error response leaves the quiet fallback and no
/// uncaught error.
#[tokio::test]
async fn each_documented_error_shows_the_fallback_without_an_uncaught_error() {
    for (status, example) in [
        (400, "invalidPath"),
        (400, "notAllowed"),
        (405, "methodNotAllowed"),
        (500, "internal"),
        (503, "unavailable"),
        (503, "throttled"),
    ] {
        let s = scene(|origin| from_contract(status, example, Some(origin))).await;
        let visit = s.load("/").await;
        assert_eq!(visit.text, FALLBACK, "{status} {example}");
        assert!(
            visit.exceptions.is_empty(),
            "{status} {example}: {:?}",
            visit.exceptions
        );
        s.assert_one_contract_request("/").await;
    }
}

#[tokio::test]
async fn a_404_shows_the_fallback() {
    let s = scene(|origin| {
        let c = crate::helpers::contract();
        let body = c
            .example("/{unknown}", "GET", 404, "notFound")
            .expect("example");
        ResponseTemplate::new(404)
            .set_body_json(body)
            .insert_header("access-control-allow-origin", origin)
    })
    .await;
    let visit = s.load("/").await;
    assert_eq!(visit.text, FALLBACK);
    assert!(visit.exceptions.is_empty(), "{:?}", visit.exceptions);
}

#[tokio::test]
async fn a_slow_api_shows_the_placeholder_then_the_fallback_after_the_timeout() {
    let s = scene(|origin| {
        from_contract(200, "counted", Some(origin))
            .set_delay(Duration::from_millis(TIMEOUT_MS + 3000))
    })
    .await;
    // While waiting: the placeholder.
    let early = s
        .browser
        .visit(
            &format!("{}/", s.site.origin()),
            |t| t == PLACEHOLDER,
            Duration::from_secs(5),
        )
        .await
        .expect("loads");
    assert_eq!(early.text, PLACEHOLDER);
    // After the timeout: the fallback, not the late count.
    let visit = s.load("/").await;
    assert_eq!(visit.text, FALLBACK);
    assert!(visit.exceptions.is_empty(), "{:?}", visit.exceptions);
}

#[tokio::test]
async fn a_200_without_allow_origin_is_blocked_by_the_browser() {
    let s = scene(|_| from_contract(200, "counted", None)).await;
    let visit = s.load("/").await;
    assert_eq!(
        visit.text, FALLBACK,
        "the browser must not let the page read it"
    );
    assert!(visit.exceptions.is_empty(), "{:?}", visit.exceptions);
    assert!(
        visit
            .console
            .iter()
            .any(|c| c.contains("CORS") || c.contains("Access-Control-Allow-Origin")),
        "the browser says why: {:?}",
        visit.console
    );
}

#[tokio::test]
async fn a_malformed_body_shows_the_fallback() {
    for body in [
        r#"{"visits": 3}"#,
        "not json",
        r#"{"path": "/", "count": -1}"#,
        r#"{"path": "/", "count": "42"}"#,
    ] {
        let s = scene(|origin| {
            ResponseTemplate::new(200)
                .set_body_raw(body, "application/json")
                .insert_header("access-control-allow-origin", origin)
        })
        .await;
        let visit = s.load("/").await;
        assert_eq!(visit.text, FALLBACK, "{body}");
        assert!(
            visit.exceptions.is_empty(),
            "{body}: {:?}",
            visit.exceptions
        );
    }
}
