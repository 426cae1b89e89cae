use reqwest::Method;

use crate::helpers::{Reply, TestStage, spawn_stage};

const SITE: &str = "https://site.example";

async fn one_of_each_response(t: &TestStage, origin: Option<&str>) -> Vec<(&'static str, Reply)> {
    let with = |r: reqwest::RequestBuilder| match origin {
        Some(o) => r.header("origin", o),
        None => r,
    };
    vec![
        (
            "200 POST",
            t.send(with(t.http.post(t.url("/visits?path=/")))).await,
        ),
        (
            "200 GET",
            t.send(with(t.http.get(t.url("/visits?path=/")))).await,
        ),
        (
            "400",
            t.send(with(t.http.post(t.url("/visits?path=x")))).await,
        ),
        ("404", t.send(with(t.http.get(t.url("/nope")))).await),
        (
            "405",
            t.send(with(t.http.put(t.url("/visits?path=/")))).await,
        ),
        (
            "204 preflight",
            t.send(with(t.http.request(Method::OPTIONS, t.url("/visits"))))
                .await,
        ),
    ]
}

#[tokio::test]
async fn an_allowed_origin_is_echoed_with_vary_on_every_response() {
    let t = spawn_stage(&[(
        "ALLOWED_ORIGINS",
        "https://other.example,https://site.example",
    )])
    .await;
    for (what, r) in one_of_each_response(&t, Some(SITE)).await {
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some(SITE),
            "{what}"
        );
        assert_eq!(r.header("vary"), Some("Origin"), "{what}");
    }
}

#[tokio::test]
async fn a_disallowed_or_missing_origin_gets_no_allow_origin() {
    let t = spawn_stage(&[("ALLOWED_ORIGINS", SITE)]).await;
    for origin in [
        Some("https://evil.example"),
        Some("https://site.example.evil"),
        None,
    ] {
        for (what, r) in one_of_each_response(&t, origin).await {
            assert_eq!(
                r.header("access-control-allow-origin"),
                None,
                "{what} from {origin:?}"
            );
            assert_eq!(r.header("vary"), Some("Origin"), "{what}");
        }
    }
}

#[tokio::test]
async fn star_is_sent_only_when_configured() {
    let t = spawn_stage(&[("ALLOWED_ORIGINS", "*")]).await;
    for (what, r) in one_of_each_response(&t, Some("https://anyone.example")).await {
        assert_eq!(r.header("access-control-allow-origin"), Some("*"), "{what}");
    }
}

#[tokio::test]
async fn every_response_is_json_and_never_cached() {
    let t = spawn_stage(&[]).await;
    for (what, r) in one_of_each_response(&t, None).await {
        assert_eq!(r.header("cache-control"), Some("no-store"), "{what}");
        assert_eq!(r.header("content-type"), Some("application/json"), "{what}");
        if r.status != 204 {
            assert!(
                r.body.is_object(),
                "{what}: a JSON object body, got {}",
                r.raw
            );
        }
    }
}
