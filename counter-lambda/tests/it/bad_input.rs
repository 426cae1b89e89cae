//! Malformed requests get their documented 4xx error and never change a
//! counter: checked by reading the table behind the API afterwards.

use reqwest::Method;

use crate::helpers::spawn_stage;

struct Case {
    what: &'static str,
    method: Method,
    path_and_query: String,
    body: Option<&'static str>,
    status: u16,
    error: &'static str,
}

fn case(
    what: &'static str,
    method: Method,
    pq: impl Into<String>,
    status: u16,
    error: &'static str,
) -> Case {
    Case {
        what,
        method,
        path_and_query: pq.into(),
        body: None,
        status,
        error,
    }
}

fn cases() -> Vec<Case> {
    use Method as M;
    let long = format!("/visits?path=/{}", "a".repeat(256));
    let long_multibyte = format!("/visits?path=/{}", "%C3%A9".repeat(128)); // 257 bytes
    let huge_query = format!("/visits?path=/&pad={}", "x".repeat(3000));
    vec![
        case("no query", M::POST, "/visits", 400, "missing_path"),
        case("empty path", M::POST, "/visits?path=", 400, "missing_path"),
        case(
            "other parameter only",
            M::POST,
            "/visits?page=/",
            400,
            "missing_path",
        ),
        case(
            "relative path",
            M::POST,
            "/visits?path=blog",
            400,
            "invalid_path",
        ),
        case(
            "encoded percent, not a slash",
            M::POST,
            "/visits?path=%252F",
            400,
            "invalid_path",
        ),
        case("257-byte path", M::POST, long, 400, "path_too_long"),
        case(
            "257 bytes of two-byte characters",
            M::POST,
            long_multibyte,
            400,
            "path_too_long",
        ),
        case(
            "NUL byte",
            M::POST,
            "/visits?path=/%00",
            400,
            "invalid_path",
        ),
        case(
            "newline",
            M::POST,
            "/visits?path=/a%0Ab",
            400,
            "invalid_path",
        ),
        case("tab", M::POST, "/visits?path=/a%09b", 400, "invalid_path"),
        case("DEL", M::POST, "/visits?path=/%7F", 400, "invalid_path"),
        case(
            "C1 control",
            M::POST,
            "/visits?path=/%C2%85",
            400,
            "invalid_path",
        ),
        case(
            "invalid escape",
            M::POST,
            "/visits?path=/%zz",
            400,
            "invalid_escape",
        ),
        case(
            "truncated escape",
            M::POST,
            "/visits?path=/%4",
            400,
            "invalid_escape",
        ),
        case(
            "invalid escape in another parameter",
            M::POST,
            "/visits?path=/&x=%",
            400,
            "invalid_escape",
        ),
        case(
            "not UTF-8",
            M::POST,
            "/visits?path=/%FF%FE",
            400,
            "invalid_path",
        ),
        case(
            "path given twice",
            M::POST,
            "/visits?path=/&path=/blog/x",
            400,
            "repeated_path",
        ),
        case(
            "huge query string",
            M::POST,
            huge_query,
            400,
            "query_too_long",
        ),
        case(
            "outside the allow-list",
            M::POST,
            "/visits?path=/admin",
            400,
            "path_not_allowed",
        ),
        case(
            "the bare prefix of a prefix/* entry",
            M::POST,
            "/visits?path=/blog",
            400,
            "path_not_allowed",
        ),
        case(
            "GET of a bad path",
            M::GET,
            "/visits?path=blog",
            400,
            "invalid_path",
        ),
        case("unknown route", M::POST, "/visit?path=/", 404, "not_found"),
        case(
            "route below /visits",
            M::POST,
            "/visits/extra?path=/",
            404,
            "not_found",
        ),
        case("PUT", M::PUT, "/visits?path=/", 405, "method_not_allowed"),
        case(
            "DELETE",
            M::DELETE,
            "/visits?path=/",
            405,
            "method_not_allowed",
        ),
        Case {
            body: Some(r#"{"count":1000}"#),
            ..case(
                "a JSON body",
                M::POST,
                "/visits?path=/",
                400,
                "unexpected_body",
            )
        },
        Case {
            body: Some("path=/"),
            ..case(
                "a form body",
                M::POST,
                "/visits?path=/",
                400,
                "unexpected_body",
            )
        },
    ]
}

#[tokio::test]
async fn each_kind_of_bad_input_gets_its_error_and_counts_nothing() {
    let t = spawn_stage(&[("ALLOWED_PATHS", "/,/blog/*")]).await;
    assert_eq!(t.post_visit("/").await.count(), 1);
    let cases = cases();
    assert!(cases.len() >= 20);
    for c in &cases {
        let mut request = t.http.request(c.method.clone(), t.url(&c.path_and_query));
        if let Some(body) = c.body {
            request = request.body(body);
        }
        let r = t.send(request).await;
        assert_eq!(
            (r.status, r.error_code()),
            (c.status, c.error),
            "{}: {} {} answered {}",
            c.what,
            c.method,
            c.path_and_query,
            r.raw
        );
        let message = r.body["message"].as_str().unwrap_or_default();
        assert!(!message.is_empty(), "{}: a human message", c.what);
        for leak in ["dynamodb", "aws", "sdk", "panicked", "DispatchFailure"] {
            assert!(
                !message.to_lowercase().contains(&leak.to_lowercase()),
                "{}: leaks {leak}",
                c.what
            );
        }
    }
    assert_eq!(
        t.items().await,
        vec![("/".to_owned(), 1)],
        "no rejected request changed or created a counter"
    );
}
