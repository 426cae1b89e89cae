//! The benchmark's bare goose: the same `POST /visits?path=...` with goose's
//! own client and nothing else (no recording, no parsing), as a goose user
//! would write it. The yardstick `loadtest` is measured against.
//!
//! `cargo run --release -p loadtest --example bare_goose -- --host http://127.0.0.1:PORT -u 16 -r 16 -t 15`
//! (any goose option; `BENCH_PATH` sets the counted path, default `/bench/bare-goose`).

use std::sync::LazyLock;

use goose::prelude::*;

/// The request's path and query, made once.
static URL: LazyLock<String> = LazyLock::new(|| {
    let path = std::env::var("BENCH_PATH").unwrap_or_else(|_| "/bench/bare-goose".into());
    format!("/visits?path={}", counter_api::encode_component(&path))
});

async fn visit(user: &mut GooseUser) -> TransactionResult {
    let _ = user.post(URL.as_str(), "").await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), GooseError> {
    GooseAttack::initialize()?
        .register_scenario(scenario!("visitor").register_transaction(transaction!(visit)))
        .set_default(GooseDefault::NoTelnet, true)?
        .execute()
        .await?;
    Ok(())
}
