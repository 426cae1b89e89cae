//! The site's real script in headless Chromium, for each response the
//! contract documents, against wiremock playing the API.

use std::time::{Duration, Instant};

use contract_tests::browser::{counter_busy, counter_line, counter_text};
use wiremock::ResponseTemplate;

use crate::helpers::{FALLBACK, PLACEHOLDER, from_contract, scene, scene_with_timeout};

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
        (403, "originNotAllowed"),
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

/// While the request is pending the page shows the placeholder and says it
/// is busy; at the timeout it shows the fallback; and the reply that comes
/// later does not overwrite it.
#[tokio::test]
async fn a_slow_api_shows_the_placeholder_then_the_fallback_after_the_timeout() {
    // Generous timings: the checks in between must fit on a busy machine.
    let timeout = Duration::from_millis(3000);
    let late_by = Duration::from_millis(2000);
    let delay = timeout + late_by;
    let s = scene_with_timeout(timeout.as_millis() as u64, |origin| {
        from_contract(200, "counted", Some(origin)).set_delay(delay)
    })
    .await;
    let open = s
        .browser
        .open(&format!("{}/", s.site.origin()))
        .await
        .expect("the page opens");

    // The request is pending: the API has it and has not answered.
    let deadline = Instant::now() + Duration::from_secs(15);
    while s.api.received_requests().await.map_or(0, |r| r.len()) == 0 {
        assert!(Instant::now() < deadline, "the page never sent its request");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let sent = Instant::now();
    assert_eq!(
        counter_text(&open.page).await.expect("text"),
        PLACEHOLDER,
        "while the request is pending"
    );
    assert!(
        counter_busy(&open.page).await.expect("aria-busy"),
        "the line says it is waiting while the request is pending"
    );

    // The timeout: the fallback replaces the placeholder.
    let deadline = sent + timeout + Duration::from_secs(10);
    let mut text = PLACEHOLDER.to_owned();
    while text == PLACEHOLDER && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(25)).await;
        text = counter_text(&open.page).await.expect("text");
    }
    assert_eq!(text, FALLBACK, "after the timeout");
    assert!(!counter_busy(&open.page).await.expect("aria-busy"));

    // The late reply (sent `delay` after the request arrived) does not
    // overwrite the fallback: watched until well past its arrival.
    // Checked at least once, the last time after the reply is due.
    let past_the_reply = sent + delay + Duration::from_secs(1);
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let due = Instant::now() >= past_the_reply;
        assert_eq!(
            counter_text(&open.page).await.expect("text"),
            FALLBACK,
            "the late reply must not replace the fallback"
        );
        if due {
            break;
        }
    }
    assert!(open.exceptions().is_empty(), "{:?}", open.exceptions());
    s.assert_one_contract_request("/").await;
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

/// The real site in Chromium against the real local stage (DynamoDB Local)
/// that allows one origin: the same page served from another origin cannot
/// change the count, neither through its script nor through a hostile
/// `no-cors` POST (which a browser sends without asking); served from the
/// allowed origin, it counts.
#[tokio::test]
async fn a_page_on_a_disallowed_origin_cannot_change_the_count() {
    use contract_tests::site::SiteListener;
    use local_stage::{LocalStage, StageOptions};

    let allowed = SiteListener::bind().await.expect("bind");
    let elsewhere = SiteListener::bind().await.expect("bind");
    let config = counter_lambda::Config::from_lookup(|name| {
        (name == "ALLOWED_ORIGINS").then(|| allowed.origin.clone())
    })
    .expect("configuration");
    let stage = LocalStage::start(StageOptions::new(config))
        .await
        .expect("local stage");
    let count = || async {
        let url = format!("{}/visits?path=/", stage.url());
        let body: serde_json::Value = reqwest::get(&url)
            .await
            .expect("read")
            .json()
            .await
            .expect("json");
        body["count"].as_u64().expect("a count")
    };
    let browser = contract_tests::browser::Browser::launch()
        .await
        .expect("Chromium");

    let hostile = elsewhere.serve(stage.url(), 5000);
    let visit = browser
        .visit(
            &format!("{}/", hostile.origin()),
            |t| !t.is_empty() && t != PLACEHOLDER,
            Duration::from_secs(15),
        )
        .await
        .expect("page");
    assert_eq!(visit.text, FALLBACK, "the page shows no count");
    let post = format!(
        "Promise.all([1, 2, 3].map(() => fetch('{}/visits?path=%2F', {{method: 'POST', mode: 'no-cors'}}).then(r => r.type)))",
        stage.url()
    );
    let sent = visit.page.evaluate(post).await.expect("the page posts");
    assert_eq!(
        sent.into_value::<Vec<String>>().expect("types"),
        vec!["opaque"; 3],
        "the browser sent them (opaque answers)"
    );
    assert_eq!(count().await, 0, "a page on another origin counted");

    let site = allowed.serve(stage.url(), 5000);
    let visit = browser
        .visit(
            &format!("{}/", site.origin()),
            |t| !t.is_empty() && t != PLACEHOLDER,
            Duration::from_secs(15),
        )
        .await
        .expect("page");
    assert_eq!(visit.text, "1", "the allowed origin counts");
    assert_eq!(count().await, 1);
}
