//! Lambda's platform log lines (`START`, `END`, `REPORT`) as Lambda writes
//! them in its text log format, and the stage's figures gathered from the
//! same measurements.
//!
//! The REPORT line's fields, tab-separated, with a trailing tab
//! (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs.html;
//! as exported lines show it):
//!
//! ```text
//! REPORT RequestId: <id>\tDuration: 5.83 ms\tBilled Duration: 6 ms\tMemory Size: 128 MB\tMax Memory Used: 21 MB\t
//! ```
//!
//! plus `Init Duration: 12.40 ms` on a cold start and `Status: timeout`
//! (or `Status: error\tError Type: Runtime.ExitError`) when the invocation
//! did not end with a response. Billing: "rounded up to the nearest 1 ms"
//! (https://aws.amazon.com/lambda/pricing/), and since 1 August 2025 the
//! init phase is billed on every runtime
//! (https://aws.amazon.com/blogs/compute/aws-lambda-standardizes-billing-for-init-phase/),
//! so a cold start's Billed Duration is Duration + Init Duration, rounded
//! up, as real lines show (`Duration: 607.04 ms Billed Duration: 2923 ms
//! ... Init Duration: 2315.74 ms`).

use std::fs::File;
use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How an invocation ended, for the REPORT line's `Status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// A response or a function error (`/response`, `/error`): no status.
    Normally,
    /// The function's Timeout passed: `Status: timeout`.
    Timeout,
    /// The process exited mid-invocation: `Status: error`,
    /// `Error Type: Runtime.ExitError`.
    Crashed,
}

/// One invocation's measurements.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    pub request_id: String,
    pub duration: Duration,
    pub init: Option<Duration>,
    pub memory_size_mb: u32,
    pub max_memory_used_mb: u64,
    pub ended: Ended,
}

impl Invocation {
    /// Billed milliseconds: duration (and init, on a cold start), rounded
    /// up to the next whole millisecond.
    pub fn billed_ms(&self) -> u64 {
        let total = self.duration + self.init.unwrap_or_default();
        let micros = total.as_micros() as u64;
        micros.div_ceil(1000).max(1)
    }

    /// The REPORT line, without a newline.
    pub fn report_line(&self) -> String {
        let mut line = format!(
            "REPORT RequestId: {}\tDuration: {:.2} ms\tBilled Duration: {} ms\tMemory Size: {} MB\tMax Memory Used: {} MB\t",
            self.request_id,
            ms(self.duration),
            self.billed_ms(),
            self.memory_size_mb,
            self.max_memory_used_mb,
        );
        if let Some(init) = self.init {
            line.push_str(&format!("Init Duration: {:.2} ms\t", ms(init)));
        }
        match self.ended {
            Ended::Normally => {}
            Ended::Timeout => line.push_str("Status: timeout"),
            Ended::Crashed => line.push_str("Status: error\tError Type: Runtime.ExitError"),
        }
        line
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The stage's own figures for a run, as the load test reports them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StageFigures {
    /// Requests that reached API Gateway.
    pub requests: u64,
    /// Answered 429 by API Gateway's throttle (route or account).
    pub throttled_by_api_gateway: u64,
    /// Lambda rejected the invocation: every allowed environment was busy
    /// (API Gateway answered 500; the function never ran).
    pub throttled_by_lambda: u64,
    /// The function ran and failed: an error it reported, a crash, a
    /// failed init, or an answer API Gateway could not map (500).
    pub function_errors: u64,
    /// The function ran past its Timeout and was stopped (500).
    pub function_timeouts: u64,
    /// API Gateway stopped waiting (its integration timeout; 503).
    pub integration_timeouts: u64,
    /// No stage or route matched (404).
    pub not_found: u64,
    /// Invocations the function received.
    pub invocations: u64,
    pub cold_starts: u64,
    /// Init Duration of the cold starts, ms.
    pub init_ms_p50: Option<f64>,
    pub init_ms_max: Option<f64>,
    /// Execution environments alive at once, at most.
    pub environments_peak: u64,
    /// Execution environments alive now (free or busy).
    #[serde(default)]
    pub environments_alive: u64,
    /// The most the stage allowed: the reserved concurrency, else the
    /// account's.
    pub environments_limit: u64,
    pub memory_size_mb: u32,
    pub max_memory_used_mb: Option<u64>,
    /// Billed Duration over the invocations, ms.
    pub billed_ms_mean: Option<f64>,
    pub billed_ms_p50: Option<f64>,
    pub billed_ms_p99: Option<f64>,
    /// Duration over the invocations, ms.
    pub duration_ms_mean: Option<f64>,
}

/// Where the platform lines go: the stage's function log (everything,
/// as a log stream holds it) and the REPORT file (REPORT lines only, as
/// `aws logs filter-log-events --filter-pattern REPORT` exports them).
#[derive(Debug)]
pub struct Sink {
    log: Mutex<File>,
    reports: Mutex<File>,
}

impl Sink {
    pub fn new(log: File, reports: File) -> Self {
        Self {
            log: Mutex::new(log),
            reports: Mutex::new(reports),
        }
    }

    /// A line of the function log (one write, so lines from the
    /// environments' own output, appended to the same file, stay whole).
    pub fn log(&self, line: &str) {
        Self::append(&self.log, &format!("{line}\n"));
    }

    pub fn report(&self, inv: &Invocation) {
        let line = inv.report_line();
        tracing::info!(target: "lambda", "{line}");
        let line = line + "\n";
        Self::append(&self.log, &line);
        Self::append(&self.reports, &line);
    }

    fn append(file: &Mutex<File>, line: &str) {
        let mut f = file.lock().unwrap_or_else(|e| e.into_inner());
        let _ = f.write_all(line.as_bytes());
    }
}

/// The measurements behind [`StageFigures`].
#[derive(Debug, Default)]
pub struct Tally {
    pub requests: u64,
    pub throttled_by_api_gateway: u64,
    pub throttled_by_lambda: u64,
    pub function_errors: u64,
    pub function_timeouts: u64,
    pub integration_timeouts: u64,
    pub not_found: u64,
    pub init_ms: Vec<f64>,
    pub billed_ms: Vec<u32>,
    pub duration_ms_sum: f64,
    pub max_memory_used_mb: Option<u64>,
}

impl Tally {
    pub fn invocation(&mut self, inv: &Invocation) {
        if let Some(init) = inv.init {
            self.init_ms.push(ms(init));
        }
        self.billed_ms
            .push(u32::try_from(inv.billed_ms()).unwrap_or(u32::MAX));
        self.duration_ms_sum += ms(inv.duration);
        self.max_memory_used_mb = self.max_memory_used_mb.max(Some(inv.max_memory_used_mb));
    }

    /// `environments`: at peak, the limit, alive now.
    pub fn figures(&self, environments: (u64, u64, u64), memory_size_mb: u32) -> StageFigures {
        let mut init = self.init_ms.clone();
        init.sort_by(f64::total_cmp);
        let mut billed = self.billed_ms.clone();
        billed.sort_unstable();
        let n = billed.len();
        let mean = |sum: f64| (n > 0).then(|| sum / n as f64);
        StageFigures {
            requests: self.requests,
            throttled_by_api_gateway: self.throttled_by_api_gateway,
            throttled_by_lambda: self.throttled_by_lambda,
            function_errors: self.function_errors,
            function_timeouts: self.function_timeouts,
            integration_timeouts: self.integration_timeouts,
            not_found: self.not_found,
            invocations: n as u64,
            cold_starts: init.len() as u64,
            init_ms_p50: quantile(&init, 0.5),
            init_ms_max: init.last().copied(),
            environments_peak: environments.0,
            environments_limit: environments.1,
            environments_alive: environments.2,
            memory_size_mb,
            max_memory_used_mb: self.max_memory_used_mb,
            billed_ms_mean: mean(billed.iter().map(|b| f64::from(*b)).sum()),
            billed_ms_p50: quantile_u32(&billed, 0.5),
            billed_ms_p99: quantile_u32(&billed, 0.99),
            duration_ms_mean: mean(self.duration_ms_sum),
        }
    }
}

/// The nearest-rank quantile of sorted values.
fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    let n = sorted.len();
    (n > 0).then(|| sorted[((q * n as f64).ceil() as usize).clamp(1, n) - 1])
}

fn quantile_u32(sorted: &[u32], q: f64) -> Option<f64> {
    let n = sorted.len();
    (n > 0).then(|| f64::from(sorted[((q * n as f64).ceil() as usize).clamp(1, n) - 1]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv(duration_us: u64, init_us: Option<u64>, ended: Ended) -> Invocation {
        Invocation {
            request_id: "8476a536-e9f4-11e8-9739-2dfe598c3fcd".into(),
            duration: Duration::from_micros(duration_us),
            init: init_us.map(Duration::from_micros),
            memory_size_mb: 128,
            max_memory_used_mb: 21,
            ended,
        }
    }

    #[test]
    fn report_lines_read_as_lambdas() {
        assert_eq!(
            inv(5_830, None, Ended::Normally).report_line(),
            "REPORT RequestId: 8476a536-e9f4-11e8-9739-2dfe598c3fcd\tDuration: 5.83 ms\tBilled Duration: 6 ms\tMemory Size: 128 MB\tMax Memory Used: 21 MB\t"
        );
        // A cold start bills its init too (Duration 607.04 + Init 2315.74 → 2923).
        let cold = inv(607_040, Some(2_315_740), Ended::Normally).report_line();
        assert!(
            cold.ends_with("Billed Duration: 2923 ms\tMemory Size: 128 MB\tMax Memory Used: 21 MB\tInit Duration: 2315.74 ms\t"),
            "{cold}"
        );
        let timeout = inv(6_000_000, None, Ended::Timeout).report_line();
        assert!(
            timeout.ends_with("Max Memory Used: 21 MB\tStatus: timeout"),
            "{timeout}"
        );
        let crash = inv(1_000, None, Ended::Crashed).report_line();
        assert!(
            crash.ends_with("Status: error\tError Type: Runtime.ExitError"),
            "{crash}"
        );
    }

    #[test]
    fn billing_rounds_up_to_the_millisecond() {
        assert_eq!(inv(1_000, None, Ended::Normally).billed_ms(), 1);
        assert_eq!(inv(1_001, None, Ended::Normally).billed_ms(), 2);
        assert_eq!(inv(10, None, Ended::Normally).billed_ms(), 1);
    }

    #[test]
    fn figures_summarise_the_invocations() {
        let mut t = Tally::default();
        for (d, init) in [
            (2_000, Some(10_000)),
            (3_000, None),
            (1_000, Some(30_000)),
            (4_000, None),
        ] {
            t.invocation(&inv(d, init, Ended::Normally));
        }
        let f = t.figures((2, 50, 1), 128);
        assert_eq!((f.invocations, f.cold_starts), (4, 2));
        assert_eq!((f.init_ms_p50, f.init_ms_max), (Some(10.0), Some(30.0)));
        // Billed: 12, 3, 31, 4.
        assert_eq!(f.billed_ms_p50, Some(4.0));
        assert_eq!(f.billed_ms_p99, Some(31.0));
        assert_eq!(f.billed_ms_mean, Some(12.5));
        assert_eq!((f.environments_peak, f.environments_limit), (2, 50));
        assert_eq!(Tally::default().figures((0, 1, 0), 128).billed_ms_p50, None);
    }
}
