//! Each limit at the peak (its capacity, what the peak needs, the visit
//! rate where it binds), which binds first, and the warnings.

use super::figures::Quotas;
use super::{
    DurationBasis, LimitKind, LimitLine, Measured, Stack, Traffic, Warning, WarningKind, num,
};

/// Two limits reached within this share of each other bind together.
const TIE: f64 = 1e-6;

struct Limit {
    kind: LimitKind,
    unit: &'static str,
    capacity: f64,
    burst: Option<f64>,
    needed: f64,
    binds_at: f64,
    explain: Vec<String>,
}

impl Limit {
    fn line(self) -> LimitLine {
        LimitLine {
            kind: self.kind,
            limit: self.kind.label().to_owned(),
            unit: self.unit.to_owned(),
            capacity: self.capacity,
            burst: self.burst,
            needed_at_peak: self.needed,
            headroom: ratio(self.capacity, self.needed),
            binds_at_visits_per_second: self.binds_at,
            explain: self.explain,
        }
    }
}

fn ratio(capacity: f64, needed: f64) -> f64 {
    if needed <= 0.0 {
        f64::INFINITY
    } else {
        capacity / needed
    }
}

/// The function's concurrency: its reserved share, else the account's.
fn concurrency(s: &Stack, q: &Quotas) -> (f64, String) {
    match s.reserved_concurrency {
        Some(r) => (
            r.min(q.lambda_account_concurrency),
            format!("reserved concurrency {}", num(r, 0)),
        ),
        None => (
            q.lambda_account_concurrency,
            format!(
                "account concurrency {} (the default; new accounts may start lower: check Service Quotas)",
                num(q.lambda_account_concurrency, 0)
            ),
        ),
    }
}

pub(super) fn limit_lines(t: &Traffic, s: &Stack, m: &Measured, q: &Quotas) -> Vec<LimitLine> {
    let peak = t.peak_visits_per_second;
    let per_visit = t.requests_per_visit();
    let rps = peak * per_visit;
    let per_visit_line = format!(
        "{} visits/s × {} requests a visit = {} requests/s",
        num(peak, 3),
        num(per_visit, 3),
        num(rps, 3)
    );
    let rate_limit = |kind, capacity: f64, burst, why: String| Limit {
        kind,
        unit: "requests/s",
        capacity,
        burst,
        needed: rps,
        binds_at: capacity / per_visit,
        explain: vec![
            why,
            per_visit_line.clone(),
            format!(
                "binds at {} ÷ {} = {} visits/s",
                num(capacity, 3),
                num(per_visit, 3),
                num(capacity / per_visit, 3)
            ),
        ],
    };
    let mut lines = Vec::new();
    if let Some(th) = s.route_throttle {
        lines.push(rate_limit(
            LimitKind::StageRouteThrottle,
            th.rate,
            Some(th.burst),
            format!(
                "the stage's default route throttle: {} requests/s steady, bursts up to {}; above it API Gateway answers 429",
                num(th.rate, 3),
                num(th.burst, 0)
            ),
        ));
    }
    lines.push(rate_limit(
        LimitKind::ApiGatewayAccountRate,
        q.api_gateway_account_rps,
        Some(q.api_gateway_account_burst),
        format!(
            "API Gateway, per account and region (all APIs): {} requests/s, burst {}",
            num(q.api_gateway_account_rps, 0),
            num(q.api_gateway_account_burst, 0)
        ),
    ));
    let (conc, conc_why) = concurrency(s, q);
    let cap = q.lambda_requests_per_second_per_concurrency * conc;
    lines.push(rate_limit(
        LimitKind::LambdaRequestRate,
        cap,
        None,
        format!(
            "Lambda serves at most {} requests/s per unit of concurrency, whatever the duration: {} × {conc_why} = {} requests/s",
            num(q.lambda_requests_per_second_per_concurrency, 0),
            num(q.lambda_requests_per_second_per_concurrency, 0),
            num(cap, 0)
        ),
    ));
    lines.push(concurrency_limit(t, m, conc, conc_why));
    lines.push(item_limit(t, q));
    lines.push(table_limit(t, q));
    lines.into_iter().map(Limit::line).collect()
}

fn concurrency_limit(t: &Traffic, m: &Measured, conc: f64, why: String) -> Limit {
    let seconds = m.function_ms / 1000.0;
    let per_visit = t.requests_per_visit() * seconds;
    let needed = t.peak_visits_per_second * per_visit;
    Limit {
        kind: LimitKind::LambdaConcurrency,
        unit: "concurrent executions",
        capacity: conc,
        burst: None,
        needed,
        binds_at: ratio(conc, per_visit),
        explain: vec![
            why,
            format!(
                "needed = requests/s × duration: {} × {} × {} s = {}",
                num(t.peak_visits_per_second, 3),
                num(t.requests_per_visit(), 3),
                num(seconds, 6),
                num(needed, 4)
            ),
            format!(
                "binds at {} ÷ ({} × {} s) = {} visits/s",
                num(conc, 0),
                num(t.requests_per_visit(), 3),
                num(seconds, 6),
                num(ratio(conc, per_visit), 3)
            ),
        ],
    }
}

/// One item: writes and reads share its partition linearly, so a read
/// costs 1,000/3,000 of a write unit.
fn item_limit(t: &Traffic, q: &Quotas) -> Limit {
    let w = q.dynamodb_item_write_units_per_second;
    let r = q.dynamodb_item_read_units_per_second;
    let per_visit = 1.0 + t.reads_per_visit * w / r;
    let needed = t.peak_visits_per_second * per_visit;
    Limit {
        kind: LimitKind::DynamoDbItemThroughput,
        unit: "write units/s (a read = 1/3)",
        capacity: w,
        burst: None,
        needed,
        binds_at: w / per_visit,
        explain: vec![
            format!(
                "one page's counter is one item in one partition: {} write units/s or {} read units/s, shared linearly (writes/{} + reads/{} ≤ 1)",
                num(w, 0),
                num(r, 0),
                num(w, 0),
                num(r, 0)
            ),
            format!(
                "a visit = 1 write + {} consistent reads × {}/{} = {} write-unit equivalents",
                num(t.reads_per_visit, 3),
                num(w, 0),
                num(r, 0),
                num(per_visit, 4)
            ),
            format!(
                "needed {} × {} = {}; binds at {} ÷ {} = {} visits/s to one page",
                num(t.peak_visits_per_second, 3),
                num(per_visit, 4),
                num(needed, 3),
                num(w, 0),
                num(per_visit, 4),
                num(w / per_visit, 3)
            ),
        ],
    }
}

fn table_limit(t: &Traffic, q: &Quotas) -> Limit {
    let cap = q.dynamodb_table_write_units_per_second;
    Limit {
        kind: LimitKind::DynamoDbTableWrites,
        unit: "write units/s",
        capacity: cap,
        burst: None,
        needed: t.peak_visits_per_second,
        binds_at: cap,
        explain: vec![format!(
            "an on-demand table serves at most {} write units/s by default (all pages together; raisable); a visit is 1 write unit",
            num(cap, 0)
        )],
    }
}

/// The limit reached first, and any reached at the same rate.
pub(super) fn binding(lines: &[LimitLine]) -> (Option<LimitKind>, Vec<LimitKind>) {
    let Some(first) = lines.iter().min_by(|a, b| {
        a.binds_at_visits_per_second
            .total_cmp(&b.binds_at_visits_per_second)
    }) else {
        return (None, vec![]);
    };
    let at = first.binds_at_visits_per_second;
    let with = lines
        .iter()
        .filter(|l| l.kind != first.kind && (l.binds_at_visits_per_second - at).abs() <= TIE * at)
        .map(|l| l.kind)
        .collect();
    (Some(first.kind), with)
}

pub(super) fn warnings(
    t: &Traffic,
    s: &Stack,
    m: &Measured,
    q: &Quotas,
    lines: &[LimitLine],
) -> Vec<Warning> {
    let mut out = Vec::new();
    for l in lines.iter().filter(|l| l.headroom < 1.0) {
        if l.kind == LimitKind::DynamoDbItemThroughput {
            out.push(sharding_advice(t, q, l));
        } else {
            out.push(Warning {
                kind: WarningKind::PeakAboveLimit,
                limit: Some(l.kind),
                message: format!(
                    "The peak needs {} {} of \"{}\" but only {} is available: expect throttling (429) at the peak, or raise the limit.",
                    num(l.needed_at_peak, 2),
                    l.unit,
                    l.limit,
                    num(l.capacity, 2)
                ),
            });
        }
    }
    out.extend(scaling_warning(t, m, q));
    out.extend(ceiling_warning(s, m, q));
    out.extend(new_table_warning(t, q));
    out.extend(measurement_warnings(t, s, m));
    out
}

fn sharding_advice(t: &Traffic, q: &Quotas, item: &LimitLine) -> Warning {
    let peak = t.peak_visits_per_second;
    let shards = (item.needed_at_peak / item.capacity).ceil() as u64 * 2;
    let message = format!(
        "The peak of {} visits/s needs {} write units/s of one item, above its partition's {} (reads and writes share it): \
         a single counter item will be throttled (503s) at the peak. Options: \
         (1) write sharding: spread each page's counter over N items (e.g. {shards} items `path#0`..`path#{}`), \
         ADD to a random one and sum them on read; the count a visit gets back is then no longer a unique, \
         ordered visitor number, and a read costs N read units. The table still caps the sum: a new on-demand \
         table serves {} write units/s at once, traffic above {}× the previous peak within 30 minutes can \
         throttle, and {} write units/s per table is the default maximum (pre-warm with warm throughput, \
         or ask for more); \
         (2) buffer increments (SQS or Kinesis) and apply them in batches, showing a count that lags; \
         (3) accept throttling at the peak: the site shows its fallback for those visits.",
        num(peak, 0),
        num(item.needed_at_peak, 0),
        num(item.capacity, 0),
        shards.saturating_sub(1),
        num(q.dynamodb_new_table_write_units_per_second, 0),
        num(q.dynamodb_growth_factor_per_30_min, 0),
        num(q.dynamodb_table_write_units_per_second, 0),
    );
    Warning {
        kind: WarningKind::ItemSharding,
        limit: Some(LimitKind::DynamoDbItemThroughput),
        message,
    }
}

/// Environments a sudden peak needs, against Lambda's scaling rate.
fn scaling_warning(t: &Traffic, m: &Measured, q: &Quotas) -> Option<Warning> {
    let rps = t.peak_visits_per_second * t.requests_per_visit();
    let by_duration = rps * m.function_ms / 1000.0;
    let by_rate = rps / q.lambda_requests_per_second_per_concurrency;
    let environments = by_duration.max(by_rate);
    let step = q.lambda_scaling_environments_per_10_s;
    (environments > step).then(|| {
        Warning::new(
            WarningKind::LambdaScalingRate,
            format!(
                "A sudden peak of {} requests/s needs {} execution environments (the larger of requests/s × duration = {} \
                 and requests/s ÷ {} = {}); Lambda adds {} per function every 10 s, so from idle it takes about {} s \
                 to get there, and requests beyond the environments ready meanwhile are throttled (429).",
                num(rps, 0),
                num(environments.ceil(), 0),
                num(by_duration, 1),
                num(q.lambda_requests_per_second_per_concurrency, 0),
                num(by_rate, 1),
                num(step, 0),
                num((environments / step).ceil() * 10.0, 0)
            ),
        )
    })
}

/// The stage's whole ceiling against the function's concurrency: a token
/// bucket of burst b refilled at r/s admits at most b + r × d requests in
/// any window of d seconds, each holding an environment for d.
fn ceiling_warning(s: &Stack, m: &Measured, q: &Quotas) -> Option<Warning> {
    let c = s.stage_ceiling?;
    let seconds = m.function_ms / 1000.0;
    let needed = c.burst + c.rate * seconds;
    let (conc, why) = concurrency(s, q);
    (needed > conc).then(|| {
        Warning::new(
            WarningKind::LimitsDisagree,
            format!(
                "At the measured duration ({} ms) the stage's ceiling ({} routes: {} requests/s, buckets of {} together) \
                 needs up to {} + {} × {} s = {} concurrent executions, above the function's {why}: a burst the API \
                 admits becomes Lambda throttles (500s) instead of 429s, and the throttle alarm rolls a deploy back. \
                 Lower the routes' bursts (ThrottleBurstLimit, OtherRoutesBurstLimit) or raise ReservedConcurrency.",
                num(m.function_ms, 3),
                c.routes,
                num(c.rate, 3),
                num(c.burst, 0),
                num(c.burst, 0),
                num(c.rate, 3),
                num(seconds, 6),
                num(needed, 2)
            ),
        )
    })
}

fn new_table_warning(t: &Traffic, q: &Quotas) -> Option<Warning> {
    let at_once = q.dynamodb_new_table_write_units_per_second;
    (t.peak_visits_per_second > at_once).then(|| {
        Warning::new(
            WarningKind::NewTableRamp,
            format!(
                "The peak's {} write units/s are above the {} a new on-demand table serves at once; \
                 on-demand then absorbs up to {}× the previous peak within 30 minutes: pre-warm the table \
                 (warm throughput) before the peak.",
                num(t.peak_visits_per_second, 0),
                num(at_once, 0),
                num(q.dynamodb_growth_factor_per_30_min, 0)
            ),
        )
    })
}

/// What the measurements are worth.
fn measurement_warnings(t: &Traffic, s: &Stack, m: &Measured) -> Vec<Warning> {
    let mut out = Vec::new();
    if m.local_stage {
        out.push(Warning::new(
            WarningKind::LocalStage,
            "Measured on the local stage (127.0.0.1, DynamoDB Local), not AWS: the function's duration and the \
             response size come from this machine; measure a real stage (--host) for real figures."
                .into(),
        ));
    }
    if m.basis == DurationBasis::ClientLatency {
        out.push(Warning::new(
            WarningKind::ClientLatency,
            format!(
                "The run has no Server-Timing: the client's mean latency ({} ms) is billed as the function's \
                 duration, an upper bound (it includes the network and API Gateway).",
                num(m.function_ms, 3)
            ),
        ));
    }
    if m.function_ms > s.timeout_s * 1000.0 {
        out.push(Warning::new(
            WarningKind::DurationAboveTimeout,
            format!(
                "The duration ({} ms) is above the function's timeout ({} s): such invocations fail.",
                num(m.function_ms, 1),
                num(s.timeout_s, 0)
            ),
        ));
    }
    if s.log_retention_days.is_none() {
        out.push(Warning::new(
            WarningKind::LogsNeverExpire,
            "The log group keeps logs forever: storage grows every month (set RetentionInDays)."
                .into(),
        ));
    }
    if let Some(shown) = m.demonstrated_rps.filter(|_| !m.local_stage) {
        let needed = t.peak_visits_per_second * t.requests_per_visit();
        if needed > shown {
            out.push(Warning::new(
                WarningKind::BeyondDemonstrated,
                format!(
                    "The peak's {} requests/s are above the {} the run showed the stage sustains: untested; run a \
                     stepped test up to the peak.",
                    num(needed, 1),
                    num(shown, 1)
                ),
            ));
        }
    }
    out
}
