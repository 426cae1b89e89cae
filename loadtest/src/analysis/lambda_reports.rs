//! Lambda's REPORT lines, read: the emulated stage's
//! (`lambda-reports.log` in a run directory) and a real stage's, exported
//! from CloudWatch Logs, through one parser. Pure: text in, figures out.
//!
//! A REPORT line, as Lambda writes it in its text log format, tab-separated
//! (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs.html):
//!
//! ```text
//! REPORT RequestId: 8476a536-...\tDuration: 5.83 ms\tBilled Duration: 6 ms\tMemory Size: 128 MB\tMax Memory Used: 21 MB\tInit Duration: 12.40 ms\t
//! ```
//!
//! `Init Duration` only on a cold start; `Status: timeout` (or `error`)
//! when the invocation did not end with an answer. Accepted input: the
//! lines themselves, with anything before `REPORT` on a line (timestamps,
//! `aws logs tail`'s prefix); or the JSON of `aws logs filter-log-events`
//! (the whole answer, or `--query 'events[].message'`).

use serde::{Deserialize, Serialize};

/// One REPORT line's fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub request_id: String,
    pub duration_ms: f64,
    pub billed_ms: f64,
    pub memory_size_mb: f64,
    pub max_memory_used_mb: f64,
    pub init_ms: Option<f64>,
    /// `timeout`, `error`, ...: the invocation did not end with an answer.
    pub status: Option<String>,
}

/// What a set of REPORT lines says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportFigures {
    pub invocations: u64,
    pub cold_starts: u64,
    /// Invocations with a `Status` (timeouts, crashes).
    pub failed: u64,
    /// Warm invocations' mean Billed Duration: what a plan bills per
    /// invocation (cold starts' init is billed apart).
    pub warm_billed_ms_mean: Option<f64>,
    pub warm_duration_ms_mean: Option<f64>,
    pub billed_ms_p50: f64,
    pub billed_ms_p99: f64,
    pub init_ms_p50: Option<f64>,
    pub init_ms_max: Option<f64>,
    pub memory_size_mb: f64,
    pub max_memory_used_mb: f64,
}

/// A line's REPORT fields: `None` when the line holds no REPORT,
/// `Some(Err)` when it holds one that does not read.
pub fn parse_line(line: &str) -> Option<Result<Report, String>> {
    let start = line.find("REPORT RequestId:")?;
    let body = &line[start + "REPORT ".len()..];
    let mut fields = std::collections::BTreeMap::new();
    for field in body.split('\t').map(str::trim).filter(|f| !f.is_empty()) {
        if let Some((k, v)) = field.split_once(": ") {
            fields.insert(k, v.trim());
        }
    }
    let number = |key: &str, unit: &str| -> Result<f64, String> {
        let v = fields
            .get(key)
            .ok_or_else(|| format!("no {key}"))?
            .strip_suffix(unit)
            .ok_or_else(|| format!("{key} is not in {unit}"))?;
        v.trim()
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite() && *n >= 0.0)
            .ok_or_else(|| format!("{key} {v:?} is not a number"))
    };
    let read = || -> Result<Report, String> {
        Ok(Report {
            request_id: fields.get("RequestId").ok_or("no RequestId")?.to_string(),
            duration_ms: number("Duration", "ms")?,
            billed_ms: number("Billed Duration", "ms")?,
            memory_size_mb: number("Memory Size", "MB")?,
            max_memory_used_mb: number("Max Memory Used", "MB")?,
            init_ms: match fields.get("Init Duration") {
                Some(_) => Some(number("Init Duration", "ms")?),
                None => None,
            },
            status: fields.get("Status").map(|s| s.to_string()),
        })
    };
    Some(read().map_err(|e| format!("{e}: {}", line.trim())))
}

/// The messages of a CloudWatch Logs export, or the text's lines.
fn messages(text: &str) -> Vec<String> {
    match serde_json::from_str::<serde_json::Value>(text.trim()) {
        Ok(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_owned))
            .collect(),
        Ok(v) if v["events"].is_array() => v["events"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["message"].as_str().map(str::to_owned))
            .collect(),
        _ => text.lines().map(str::to_owned).collect(),
    }
}

/// Every REPORT line in `text`. Lines without one are skipped; a REPORT
/// line that does not read is an error (the file is not what it seems).
pub fn parse(text: &str) -> Result<Vec<Report>, String> {
    let mut reports = Vec::new();
    for m in messages(text) {
        for line in m.lines() {
            if let Some(r) = parse_line(line) {
                reports.push(r?);
            }
        }
    }
    if reports.is_empty() {
        return Err("no REPORT lines (Lambda writes one per invocation: \
                    `REPORT RequestId: ... Duration: ... Billed Duration: ...`)"
            .into());
    }
    Ok(reports)
}

/// The figures of a set of reports (not empty).
pub fn figures(reports: &[Report]) -> ReportFigures {
    let mut billed: Vec<f64> = reports.iter().map(|r| r.billed_ms).collect();
    billed.sort_by(f64::total_cmp);
    let mut init: Vec<f64> = reports.iter().filter_map(|r| r.init_ms).collect();
    init.sort_by(f64::total_cmp);
    let warm: Vec<&Report> = reports
        .iter()
        .filter(|r| r.init_ms.is_none() && r.status.is_none())
        .collect();
    let mean = |v: &mut dyn Iterator<Item = f64>| {
        let (n, sum) = v.fold((0u64, 0.0), |(n, s), x| (n + 1, s + x));
        (n > 0).then(|| sum / n as f64)
    };
    let mut sizes: Vec<f64> = reports.iter().map(|r| r.memory_size_mb).collect();
    sizes.sort_by(f64::total_cmp);
    ReportFigures {
        invocations: reports.len() as u64,
        cold_starts: init.len() as u64,
        failed: reports.iter().filter(|r| r.status.is_some()).count() as u64,
        warm_billed_ms_mean: mean(&mut warm.iter().map(|r| r.billed_ms)),
        warm_duration_ms_mean: mean(&mut warm.iter().map(|r| r.duration_ms)),
        billed_ms_p50: quantile(&billed, 0.5).unwrap_or(0.0),
        billed_ms_p99: quantile(&billed, 0.99).unwrap_or(0.0),
        init_ms_p50: quantile(&init, 0.5),
        init_ms_max: init.last().copied(),
        // The size most invocations ran with (a deploy may change it).
        memory_size_mb: quantile(&sizes, 0.5).unwrap_or(0.0),
        max_memory_used_mb: reports
            .iter()
            .map(|r| r.max_memory_used_mb)
            .fold(0.0, f64::max),
    }
}

/// The nearest-rank quantile of sorted values.
fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    let n = sorted.len();
    (n > 0).then(|| sorted[((q * n as f64).ceil() as usize).clamp(1, n) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    const WARM: &str = "REPORT RequestId: 1b1baecc-d560-4468-b2b5-2fac2e5a7cd7\tDuration: 5.83 ms\tBilled Duration: 6 ms\tMemory Size: 128 MB\tMax Memory Used: 21 MB\t";
    const COLD: &str = "REPORT RequestId: 372cfa1f-6bc2-4107-ada2-b05103ea5924\tDuration: 607.04 ms\tBilled Duration: 2923 ms\tMemory Size: 1024 MB\tMax Memory Used: 44 MB\tInit Duration: 2315.74 ms\t";
    const TIMEOUT: &str = "REPORT RequestId: 13222b1e-f16b-4550-89df-869ab0a9806d\tDuration: 3000.00 ms\tBilled Duration: 3000 ms\tMemory Size: 1024 MB\tMax Memory Used: 64 MB\tStatus: timeout";

    #[test]
    fn lines_read_as_lambda_writes_them() {
        let r = parse_line(COLD).expect("a REPORT").expect("reads");
        assert_eq!(r.request_id, "372cfa1f-6bc2-4107-ada2-b05103ea5924");
        assert_eq!(
            (r.duration_ms, r.billed_ms, r.init_ms),
            (607.04, 2923.0, Some(2315.74))
        );
        assert_eq!((r.memory_size_mb, r.max_memory_used_mb), (1024.0, 44.0));
        let t = parse_line(TIMEOUT).expect("a REPORT").expect("reads");
        assert_eq!(t.status.as_deref(), Some("timeout"));
        assert_eq!(parse_line("START RequestId: x Version: $LATEST"), None);
        // `aws logs tail`'s prefix, and a timestamp, before it.
        let tailed = format!("2026-12-07T13:28:26.123Z /aws/lambda/f {WARM}");
        assert_eq!(
            parse_line(&tailed)
                .expect("found")
                .expect("reads")
                .billed_ms,
            6.0
        );
    }

    #[test]
    fn a_report_line_that_does_not_read_is_an_error() {
        for bad in [
            "REPORT RequestId: x\tDuration: fast ms\tBilled Duration: 6 ms\tMemory Size: 128 MB\tMax Memory Used: 21 MB",
            "REPORT RequestId: x\tDuration: 5 ms\tMemory Size: 128 MB\tMax Memory Used: 21 MB",
            "REPORT RequestId: x\tDuration: 5 s\tBilled Duration: 6 ms\tMemory Size: 128 MB\tMax Memory Used: 21 MB",
        ] {
            assert!(parse_line(bad).expect("a REPORT").is_err(), "{bad}");
            assert!(parse(bad).is_err());
        }
        assert!(
            parse("nothing here\n")
                .expect_err("no lines")
                .contains("no REPORT")
        );
    }

    #[test]
    fn cloudwatch_exports_read_too() {
        let query = serde_json::json!([format!("{WARM}\n"), format!("{COLD}\n")]).to_string();
        assert_eq!(parse(&query).expect("reads").len(), 2);
        let whole = serde_json::json!({
            "events": [
                {"logStreamName": "s", "timestamp": 1, "message": format!("{TIMEOUT}\n")},
                {"logStreamName": "s", "timestamp": 2, "message": "START RequestId: y Version: $LATEST\n"},
            ],
            "searchedLogStreams": []
        })
        .to_string();
        let reports = parse(&whole).expect("reads");
        assert_eq!(reports.len(), 1);
        assert_eq!(reports[0].status.as_deref(), Some("timeout"));
    }

    #[test]
    fn figures_bill_warm_invocations_apart_from_cold_ones() {
        let text = [WARM, WARM, COLD, TIMEOUT].join("\n");
        let f = figures(&parse(&text).expect("reads"));
        assert_eq!((f.invocations, f.cold_starts, f.failed), (4, 1, 1));
        assert_eq!(f.warm_billed_ms_mean, Some(6.0));
        assert_eq!(f.warm_duration_ms_mean, Some(5.83));
        assert_eq!(
            (f.init_ms_p50, f.init_ms_max),
            (Some(2315.74), Some(2315.74))
        );
        assert_eq!(f.billed_ms_p50, 6.0);
        assert_eq!(f.billed_ms_p99, 3000.0);
        assert_eq!(f.max_memory_used_mb, 64.0);
        assert_eq!(
            f.memory_size_mb, 128.0,
            "the size most ran with (a tie: the lower)"
        );
    }
}
