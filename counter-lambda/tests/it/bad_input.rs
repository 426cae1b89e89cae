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
        case(
            "a `..` segment",
            M::POST,
            "/visits?path=/blog/../admin",
            400,
            "invalid_path",
        ),
        case(
            "a percent-encoded `..` segment",
            M::POST,
            "/visits?path=/blog/%2E%2E/admin",
            400,
            "invalid_path",
        ),
        case(
            "a half-encoded, lower-case `..` segment",
            M::POST,
            "/visits?path=/blog/%2e./admin",
            400,
            "invalid_path",
        ),
        case(
            "slashes and dots all encoded",
            M::POST,
            "/visits?path=%2Fblog%2F%2E%2E%2Fadmin",
            400,
            "invalid_path",
        ),
        case(
            "a trailing `..`",
            M::POST,
            "/visits?path=/blog/..",
            400,
            "invalid_path",
        ),
        case(
            "a `.` segment",
            M::POST,
            "/visits?path=/blog/./x",
            400,
            "invalid_path",
        ),
        case("`/.` alone", M::GET, "/visits?path=/.", 400, "invalid_path"),
        case(
            "overlong UTF-8 for `/`",
            M::POST,
            "/visits?path=/%C0%AF",
            400,
            "invalid_path",
        ),
        case(
            "a UTF-16 surrogate encoded as UTF-8",
            M::POST,
            "/visits?path=/%ED%A0%80",
            400,
            "invalid_path",
        ),
        case(
            "257 bytes once normalised to NFC",
            M::POST,
            format!("/visits?path=/{}", "%E0%A5%98".repeat(43)), // U+0958: 3 bytes, 6 in NFC
            400,
            "path_too_long",
        ),
        case(
            "the parameter name in upper case",
            M::POST,
            "/visits?PATH=/",
            400,
            "missing_path",
        ),
        case(
            "PATCH",
            M::PATCH,
            "/visits?path=/",
            405,
            "method_not_allowed",
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

#[tokio::test]
async fn equivalent_spellings_of_a_page_count_on_one_item() {
    let t = spawn_stage(&[("ALLOWED_PATHS", "/,/blog/*")]).await;
    let spellings = [
        "/blog/caf%C3%A9",     // NFC, upper-case escapes
        "/blog/caf%c3%a9",     // lower-case escapes
        "%2Fblog%2Fcaf%C3%A9", // encoded slashes
        "/blog/cafe%CC%81",    // NFD: e + combining acute accent
        "/blog/caf\u{e9}",     // raw UTF-8 in the query
    ];
    for (i, spelling) in spellings.iter().enumerate() {
        let r = t
            .send(t.http.post(t.url(&format!("/visits?path={spelling}"))))
            .await;
        assert_eq!(r.status, 200, "{spelling}: {}", r.raw);
        assert_eq!(r.body["path"], "/blog/caf\u{e9}", "{spelling}");
        assert_eq!(r.count(), i as u64 + 1, "{spelling}");
    }
    assert_eq!(
        t.items().await,
        vec![("/blog/caf\u{e9}".to_owned(), spellings.len() as u64)],
        "one page, one item"
    );
}

/// A stage that gives slow clients half a second.
async fn impatient_stage() -> crate::helpers::TestStage {
    let mut options = local_stage::StageOptions::new(crate::helpers::config(&[]));
    options.dynamodb_endpoint = Some(crate::helpers::shared_dynamodb().endpoint());
    options.serve = local_stage::ServeOptions {
        header_read_timeout: std::time::Duration::from_millis(500),
        body_read_timeout: std::time::Duration::from_millis(500),
        ..Default::default()
    };
    crate::helpers::TestStage::new(
        local_stage::LocalStage::start(options)
            .await
            .expect("local stage starts"),
    )
}

/// Far past the stage's timeouts: a connection still open then is held.
const HELD_FOR: std::time::Duration = std::time::Duration::from_secs(20);

/// Writes `head`, then `trickle` one byte every 100 ms; returns what the
/// stage answered once it closed the connection, or `None` if it still
/// held it after [`HELD_FOR`].
async fn raw_request(t: &crate::helpers::TestStage, head: &[u8], trickle: &[u8]) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = t.stage.url().trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(head).await.expect("write");
    let started = std::time::Instant::now();
    let (mut answer, mut buf, mut sent) = (Vec::new(), [0u8; 2048], 0);
    while started.elapsed() < HELD_FOR {
        if let Some(byte) = trickle.get(sent)
            && stream.write_all(&[*byte]).await.is_ok()
        {
            sent += 1;
        }
        let wait = std::time::Duration::from_millis(100);
        match tokio::time::timeout(wait, stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return Some(String::from_utf8_lossy(&answer).into_owned()),
            Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    None
}

#[tokio::test]
async fn a_body_announced_and_never_sent_is_refused_and_the_connection_closed() {
    let t = impatient_stage().await;
    let head = b"POST /visits?path=/ HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n";
    let answer = raw_request(&t, head, b"").await;
    let answer = answer.expect("the stage closed the connection");
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("unexpected_body"), "{answer}");
    assert_eq!(t.items().await, vec![], "nothing was counted");
}

#[tokio::test]
async fn a_request_trickled_byte_by_byte_is_cut_off_uncounted() {
    let t = impatient_stage().await;
    // The head, one byte at a time: cut by the header-read timeout.
    let head = b"POST /visits?path=/ HTTP/1.1\r\nHost: x\r\nX-Padding: 0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\r\n\r\n";
    let answer = raw_request(&t, b"", head).await;
    assert_eq!(answer.as_deref(), Some(""), "closed with no answer");
    // A body, one byte at a time: cut by the body-read timeout.
    let head = b"POST /visits?path=/ HTTP/1.1\r\nHost: x\r\nContent-Length: 400\r\n\r\n";
    let answer = raw_request(&t, head, &[b'x'; 400]).await;
    let answer = answer.expect("the stage closed the connection");
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert_eq!(t.items().await, vec![], "nothing was counted");
}
