//! No evidence is no verdict, and a failed verdict shows why: runs whose
//! answers cannot be judged end INCONCLUSIVE with exit 1; a run directory
//! whose history no atomic counter produces fails completeness, and its
//! report draws the operations that prove it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use http_body_util::Full;
use hyper::body::Bytes;
use loadtest::analysis::analyse::{RunEvidence, Thresholds, analyse};
use loadtest::analysis::checker::{CheckName, Status, VerdictStatus};
use loadtest::analysis::observation::Observation;
use loadtest::analysis::summary::RunFacts;
use local_stage::RequestBody;

use crate::helpers::{loadtest, out_dir, run, serve_on_loopback, stderr, stdout};

/// How the test stage answers `POST /visits`.
#[derive(Clone, Copy)]
enum Posts {
    /// 200 with a body that is not a count: the write may have happened.
    Unusable,
    /// An atomic counter: 200 with the next count.
    Counting,
}

/// A counter stage on 127.0.0.1 whose reads always work; aborted on drop.
struct Stage {
    url: String,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Stage {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn answer(
    posts: Posts,
    count: &AtomicU64,
    req: hyper::Request<RequestBody>,
) -> hyper::Response<Full<Bytes>> {
    let path = counter_api::path_from_query(req.uri().query()).unwrap_or_default();
    let body = match (req.method() == hyper::Method::POST, posts) {
        (true, Posts::Unusable) => "<html>Service temporarily busy</html>".to_owned(),
        (true, Posts::Counting) => {
            let n = count.fetch_add(1, Ordering::SeqCst) + 1;
            serde_json::json!({"path": path, "count": n}).to_string()
        }
        (false, _) => {
            serde_json::json!({"path": path, "count": count.load(Ordering::SeqCst)}).to_string()
        }
    };
    hyper::Response::builder()
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_default()
}

async fn spawn_stage(posts: Posts) -> Stage {
    let count = Arc::new(AtomicU64::new(0));
    let (url, server) = serve_on_loopback(move |req| {
        let count = count.clone();
        async move { answer(posts, &count, req).await }
    })
    .await;
    Stage { url, server }
}

/// Every POST answered 200 with a body that is not a count: every request
/// is unknown, no check can fail, and still the run must not pass. The
/// error-rate threshold and the abort are lifted so that the verdict alone
/// decides the exit code.
#[tokio::test]
async fn a_stage_whose_every_answer_is_unusable_is_inconclusive_not_a_pass() {
    let stage = spawn_stage(Posts::Unusable).await;
    let r = run(
        "unusable",
        &[
            "--host",
            &stage.url,
            "-u",
            "2",
            "-t",
            "2",
            "--max-requests",
            "60",
            "--max-duration",
            "60",
            "--abort-error-rate",
            "1",
            "--max-error-rate",
            "1",
        ],
    )
    .await;
    let text = r.stdout();
    assert_eq!(r.code(), Some(1), "{text}{}", r.stderr());
    assert!(
        text.contains("VERDICT: INCONCLUSIVE (no ok response among"),
        "{text}"
    );
    let s = r.summary();
    assert_eq!(s.verdict.status, VerdictStatus::Inconclusive);
    assert!(
        s.verdict
            .inconclusive_reason
            .as_deref()
            .is_some_and(|why| why.contains("no count to judge")),
        "{:?}",
        s.verdict.inconclusive_reason
    );
    assert!(s.verdict.checks.iter().all(|c| c.status != Status::Fail));
    assert!(s.requests.total > 0 && s.requests.unknown == s.requests.total);
    assert!(s.aborted.is_none() && s.thresholds.iter().all(|t| t.passed));
    assert!(!s.passed);
    let json = std::fs::read_to_string(r.dir.join("summary.json")).expect("summary.json");
    assert!(json.contains("\"status\": \"inconclusive\""), "{json}");
}

/// A correct counter, but fewer ok answers than `--min-ok` asks for; the
/// same run with a lower `--min-ok` passes.
#[tokio::test]
async fn fewer_ok_responses_than_min_ok_is_inconclusive_and_enough_pass() {
    let stage = spawn_stage(Posts::Counting).await;
    let args = |min_ok: &'static str| {
        vec![
            "--host".to_owned(),
            stage.url.clone(),
            "-u".into(),
            "1".into(),
            "-t".into(),
            "5".into(),
            "--max-requests".into(),
            "6".into(),
            "--max-duration".into(),
            "60".into(),
            "--min-ok".into(),
            min_ok.into(),
        ]
    };
    let few = args("50");
    let few: Vec<&str> = few.iter().map(String::as_str).collect();
    let r = run("few", &few).await;
    assert_eq!(r.code(), Some(1), "{}{}", r.stdout(), r.stderr());
    assert!(
        r.stdout().contains("VERDICT: INCONCLUSIVE (only "),
        "{}",
        r.stdout()
    );
    assert!(r.stdout().contains("--min-ok"), "{}", r.stdout());
    let enough = args("1");
    let enough: Vec<&str> = enough.iter().map(String::as_str).collect();
    let r = run("enough", &enough).await;
    assert_eq!(r.code(), Some(0), "{}{}", r.stdout(), r.stderr());
    assert!(r.stdout().contains("VERDICT: PASS"), "{}", r.stdout());
}

#[tokio::test]
async fn min_ok_below_one_is_a_usage_error() {
    for cmd in [&["--min-ok", "0"][..], &["merge", "x", "--min-ok", "0"][..]] {
        let o = loadtest(cmd).await;
        assert_eq!(o.status.code(), Some(2), "{cmd:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("--min-ok"), "{}", stderr(&o));
    }
}

const MS: u64 = 1_000_000;

/// A node's run directory, written through the library as a run writes it.
fn node_dir(out: &std::path::Path, name: &str, final_count: u64, ops: &[Observation]) -> String {
    let evidence = RunEvidence {
        initial: 0,
        final_count,
        min_ok: 1,
        ..RunEvidence::of(RunFacts {
            run_id: "why".into(),
            nodes: vec![0],
            host: "http://127.0.0.1:1".into(),
            local_stage: false,
            path: "/__loadtest/why".into(),
            outside_traffic: false,
            started_at_unix_ns: 0,
            users: 2,
            api: None,
        })
    };
    let summary = analyse(
        evidence,
        ops,
        &Thresholds {
            max_p99_ms: None,
            max_error_rate: 1.0,
        },
    );
    let dir = out.join(name);
    std::fs::create_dir_all(&dir).expect("dir");
    loadtest::output::run_dir::write_run(&dir, &summary, ops).expect("written");
    dir.to_string_lossy().into_owned()
}

/// The crafted history: ok responses 1 and 3, the "3" ended at 10 ms, the
/// one unknown request started at 20 ms, final count 3. Count 2 came from
/// nowhere: the run FAILs completeness, naming count 2 and both operations,
/// and its report draws them. `merge` judges the same history the same way
/// and applies `--min-ok` over all nodes.
#[tokio::test]
async fn a_count_from_nowhere_fails_and_the_report_shows_why() {
    let (_tmp, out) = out_dir();
    let unknown = Observation {
        start_ns: 20 * MS,
        end_ns: 30 * MS,
        count: 0,
        status: 0,
        node: 0,
        outcome: loadtest::analysis::observation::Outcome::Unknown,
        late: loadtest::analysis::observation::Lateness::ZERO,
    };
    let ops = [
        Observation::ok(0, 5 * MS, 1),
        Observation::ok(MS, 10 * MS, 3),
        unknown,
    ];
    let dir = node_dir(&out, "crafted", 3, &ops);
    let html = std::fs::read_to_string(std::path::Path::new(&dir).join("report.html"))
        .expect("report.html");
    assert!(html.contains("<h2>Why it failed</h2>"), "{html}");
    assert!(html.contains("✕ count 2 taken by nobody"), "{html}");
    assert!(
        html.contains(&format!("{:<16} FAIL", "completeness")),
        "{html}"
    );

    let merged = out.join("merged");
    let merged_s = merged.to_str().expect("utf-8");
    let o = loadtest(&["merge", &dir, "--out", merged_s, "--min-ok", "1"]).await;
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{text}{}", stderr(&o));
    assert!(text.contains("VERDICT: FAIL"), "{text}");
    assert!(
        text.contains("count 2: no ok response returned it")
            && text.contains("req #1 [0.001 s – 0.010 s] returned 3")
            && text.contains("req #2 [0.020 s – 0.030 s] started too late"),
        "{text}"
    );
    let s = crate::helpers::summary(&merged);
    let c = s
        .verdict
        .get(CheckName::Completeness)
        .expect("completeness checked");
    assert_eq!((c.status, c.violations), (Status::Fail, 1));
    assert_eq!(c.witnesses[0].count, Some(2));
    let report = std::fs::read_to_string(merged.join("report.html")).expect("merged report");
    assert!(report.contains("<h2>Why it failed</h2>"));

    // The same node, sound this time (the unknown started in time), but
    // judged on 2 ok responses: merge's --min-ok decides.
    let sound = [
        ops[0],
        ops[1],
        Observation {
            start_ns: 2 * MS,
            ..unknown
        },
    ];
    let dir = node_dir(&out, "sound", 3, &sound);
    let lenient = ["--max-error-rate", "1"];
    let o = loadtest(&[
        "merge", &dir, "--out", merged_s, "--min-ok", "3", lenient[0], lenient[1],
    ])
    .await;
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("VERDICT: INCONCLUSIVE (only 2 ok responses"));
    let o = loadtest(&[
        "merge", &dir, "--out", merged_s, "--min-ok", "2", lenient[0], lenient[1],
    ])
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(
        !std::fs::read_to_string(merged.join("report.html"))
            .expect("report")
            .contains("Why it failed")
    );
}
