use crate::helpers::spawn_stage;

#[tokio::test]
async fn post_counts_up_and_get_reads_without_changing() {
    let t = spawn_stage(&[]).await;
    let first = t.post_visit("/").await;
    assert_eq!(first.status, 200);
    assert_eq!(first.raw, r#"{"path":"/","count":1}"#);
    assert_eq!(t.post_visit("/").await.count(), 2);
    let read = t.get_visits("/").await;
    assert_eq!((read.status, read.count()), (200, 2));
    assert_eq!(t.get_visits("/").await.count(), 2, "GET does not count");
    assert_eq!(t.items().await, vec![("/".to_owned(), 2)]);
}

#[tokio::test]
async fn a_page_never_seen_reads_zero_and_is_not_created() {
    let t = spawn_stage(&[]).await;
    let read = t.get_visits("/never/seen").await;
    assert_eq!(read.status, 200);
    assert_eq!(
        read.body,
        serde_json::json!({"path": "/never/seen", "count": 0})
    );
    assert!(t.items().await.is_empty());
}

#[tokio::test]
async fn pages_count_separately_and_paths_are_decoded() {
    let t = spawn_stage(&[]).await;
    t.post_visit("/a").await;
    t.post_visit("/a").await;
    let b = t.post_visit("/b c/ü").await;
    assert_eq!(b.body["path"], "/b c/ü");
    assert_eq!(b.count(), 1);
    assert_eq!(
        t.items().await,
        vec![("/a".to_owned(), 2), ("/b c/ü".to_owned(), 1)]
    );
}

#[tokio::test]
async fn unknown_route_is_404_and_wrong_method_is_405_with_allow() {
    let t = spawn_stage(&[]).await;
    let r = t.send(t.http.post(t.url("/count?path=/"))).await;
    assert_eq!((r.status, r.error_code()), (404, "not_found"));
    let r = t.send(t.http.get(t.url("/"))).await;
    assert_eq!((r.status, r.error_code()), (404, "not_found"));
    for method in [
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
        reqwest::Method::PATCH,
    ] {
        let r = t
            .send(t.http.request(method.clone(), t.url("/visits?path=/")))
            .await;
        assert_eq!(
            (r.status, r.error_code()),
            (405, "method_not_allowed"),
            "{method}"
        );
        assert_eq!(r.header("allow"), Some("GET, POST, OPTIONS"));
    }
    assert!(t.items().await.is_empty());
}

#[tokio::test]
async fn preflight_is_answered_without_counting() {
    let t = spawn_stage(&[("ALLOWED_ORIGINS", "https://site.example")]).await;
    let r = t
        .send(
            t.http
                .request(reqwest::Method::OPTIONS, t.url("/visits?path=/"))
                .header("origin", "https://site.example")
                .header("access-control-request-method", "POST"),
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://site.example")
    );
    assert_eq!(
        r.header("access-control-allow-methods"),
        Some("GET, POST, OPTIONS")
    );
    assert!(t.items().await.is_empty());
}

#[tokio::test]
async fn allow_list_admits_listed_pages_and_the_loadtest_prefix_only() {
    let t = spawn_stage(&[("ALLOWED_PATHS", "/,/blog/*")]).await;
    assert_eq!(t.post_visit("/").await.status, 200);
    assert_eq!(t.post_visit("/blog/post").await.status, 200);
    assert_eq!(t.post_visit("/__loadtest/run-1").await.status, 200);
    let refused = t.post_visit("/admin").await;
    assert_eq!(
        (refused.status, refused.error_code()),
        (400, "path_not_allowed")
    );
    let refused = t.get_visits("/admin").await;
    assert_eq!(refused.status, 400);
    assert_eq!(t.items().await.len(), 3);
}
