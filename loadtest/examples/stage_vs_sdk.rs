//! What the local stage costs on top of DynamoDB Local: the same atomic
//! `UpdateItem ADD` loop, 16 concurrent workers, run directly with the SDK
//! (the stage's own client) and through the stage's HTTP API (`POST
//! /visits`, each worker on its own keep-alive connection, as loadtest's
//! users are), interleaved (alternating which goes first), after an
//! unmeasured warm-up of both (20 s by default).
//!
//! `cargo run --release -p loadtest --example stage_vs_sdk [SECS] [REPS] [WARM-UP]`
//! (default 8 s, 4 repetitions, 20 s). Everything is on 127.0.0.1.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use counter_lambda::store::{COUNT_ATTRIBUTE, KEY_ATTRIBUTE};
use loadtest::load::api::Api;
use loadtest::load::client::Connection;
use local_stage::{Config, LocalStage, StageOptions};

const WORKERS: usize = 16;

#[derive(Clone, Copy)]
enum Via {
    Sdk,
    Stage,
}

/// Requests a second over `secs`, all workers together.
async fn measure(via: Via, stage: &LocalStage, key: &str, secs: f64) -> anyhow::Result<f64> {
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for _ in 0..WORKERS {
        let (done, stop) = (done.clone(), stop.clone());
        let client = stage.client().clone();
        let table = stage.table().to_owned();
        let key = key.to_owned();
        let api = Api::ours(stage.url(), &key)?;
        workers.push(tokio::spawn(async move {
            let mut conn = Connection::default();
            while !stop.load(Ordering::Relaxed) {
                let ok = match via {
                    Via::Sdk => add(&client, &table, &key).await,
                    Via::Stage => conn
                        .send(api.client(), &api.counting, Duration::from_secs(10))
                        .await
                        .is_ok_and(|x| x.status == 200),
                };
                if ok {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let start = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    let n = done.load(Ordering::Relaxed);
    let elapsed = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await?;
    }
    Ok(n as f64 / elapsed)
}

/// The Lambda's write, with the SDK alone.
async fn add(client: &Client, table: &str, key: &str) -> bool {
    client
        .update_item()
        .table_name(table)
        .key(KEY_ATTRIBUTE, AttributeValue::S(key.to_owned()))
        .update_expression("ADD #count :one")
        .expression_attribute_names("#count", COUNT_ATTRIBUTE)
        .expression_attribute_values(":one", AttributeValue::N("1".to_owned()))
        .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
        .send()
        .await
        .is_ok()
}

/// The middle value; the mean of the two middle ones for an even count.
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n.is_multiple_of(2) {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    } else {
        v[n / 2]
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let secs: f64 = args.next().map_or(Ok(8.0), |s| s.parse())?;
    let reps: usize = args.next().map_or(Ok(4), |s| s.parse())?;
    let warm_up: f64 = args.next().map_or(Ok(20.0), |s| s.parse())?;
    let mut config = Config::from_lookup(|_| None)?;
    config.loadtest_prefix = Some("/__bench".to_owned());
    let stage = LocalStage::start(StageOptions::new(config)).await?;
    println!(
        "stage {} on DynamoDB Local {}",
        stage.url(),
        stage.dynamodb_endpoint()
    );
    // DynamoDB Local's JIT takes longer than a few seconds to settle.
    for via in [Via::Sdk, Via::Stage, Via::Sdk, Via::Stage] {
        measure(via, &stage, "/__bench/warm-up", warm_up / 4.0).await?;
    }
    let (mut sdk, mut through) = (Vec::new(), Vec::new());
    for rep in 0..reps {
        // Alternate which goes first, so a drift favours neither.
        let (s, h) = if rep % 2 == 0 {
            let s = measure(Via::Sdk, &stage, &format!("/__bench/sdk-{rep}"), secs).await?;
            let h = measure(Via::Stage, &stage, &format!("/__bench/stage-{rep}"), secs).await?;
            (s, h)
        } else {
            let h = measure(Via::Stage, &stage, &format!("/__bench/stage-{rep}"), secs).await?;
            let s = measure(Via::Sdk, &stage, &format!("/__bench/sdk-{rep}"), secs).await?;
            (s, h)
        };
        println!(
            "rep {}: SDK direct {s:.0} req/s, through the stage {h:.0} req/s",
            rep + 1
        );
        sdk.push(s);
        through.push(h);
    }
    let pairs = median(sdk.iter().zip(&through).map(|(s, h)| h / s).collect());
    println!("median of the repetitions' ratios (stage / SDK): {pairs:.3}");
    let (s, h) = (median(sdk), median(through));
    println!(
        "median: SDK direct {s:.0} req/s, through the stage {h:.0} req/s: the stage costs {:.1}% (throughput ratio {:.3})",
        100.0 * (s / h - 1.0),
        h / s
    );
    Ok(())
}
