//! The emulated stage's own figures (`--emulate-aws`), as summary.json
//! carries them: what API Gateway and Lambda did with the run's requests.
//! The stage counts them (`local_stage::StageFigures`); this is their
//! record here, so the pure core needs no stage to read a summary.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StageFigures {
    /// Requests that reached API Gateway.
    pub requests: u64,
    /// Answered 429 by API Gateway's throttle.
    pub throttled_by_api_gateway: u64,
    /// Lambda rejected the invocation (every allowed environment busy):
    /// API Gateway answered 500, and the function never ran.
    pub throttled_by_lambda: u64,
    /// The function ran and failed (500).
    pub function_errors: u64,
    /// The function ran past its timeout (500).
    pub function_timeouts: u64,
    /// API Gateway stopped waiting (503).
    pub integration_timeouts: u64,
    pub invocations: u64,
    pub cold_starts: u64,
    pub init_ms_p50: Option<f64>,
    pub init_ms_max: Option<f64>,
    pub environments_peak: u64,
    pub environments_limit: u64,
    pub memory_size_mb: u32,
    pub max_memory_used_mb: Option<u64>,
    pub billed_ms_mean: Option<f64>,
    pub billed_ms_p50: Option<f64>,
    pub billed_ms_p99: Option<f64>,
    /// The template the stage read, and the command its environments ran.
    pub template: String,
    pub function: String,
}

impl StageFigures {
    /// The report's lines about the stage.
    pub fn lines(&self) -> Vec<String> {
        let ms = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1} ms"));
        vec![
            format!(
                "{} requests: {} throttled by API Gateway (429), {} by Lambda (500: every one of {} environments busy), \
                 {} function errors, {} function timeouts, {} integration timeouts",
                self.requests,
                self.throttled_by_api_gateway,
                self.throttled_by_lambda,
                self.environments_limit,
                self.function_errors,
                self.function_timeouts,
                self.integration_timeouts
            ),
            format!(
                "{} invocations, {} cold starts (init p50 {}, max {}), {} environments at peak",
                self.invocations,
                self.cold_starts,
                ms(self.init_ms_p50),
                ms(self.init_ms_max),
                self.environments_peak
            ),
            format!(
                "billed duration mean {}, p50 {}, p99 {}; memory {} MB, max used {}",
                ms(self.billed_ms_mean),
                ms(self.billed_ms_p50),
                ms(self.billed_ms_p99),
                self.memory_size_mb,
                self.max_memory_used_mb
                    .map_or("-".to_owned(), |m| format!("{m} MB"))
            ),
            format!("template {}, function: {}", self.template, self.function),
        ]
    }
}
