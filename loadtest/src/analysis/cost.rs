//! The cost and limits model: from a traffic profile, the deployed stack's
//! shape and what a run measured, to a monthly bill by service, the
//! headroom to each limit and the limit that binds first.
//!
//! Pure. Prices, limits and per-request footprints are inputs
//! ([`figures::Figures`]), read from a data file that states each figure's
//! source; nothing here is a buried constant. Rows are enums
//! ([`CostItem`], [`LimitKind`], [`WarningKind`]): tests and readers of
//! the JSON pick them by kind, never by label.

mod bill;
mod charge;
pub mod figures;
mod limits;

use serde::{Deserialize, Serialize};

pub use figures::{FigureBook, FigureError, Figures, Footprint, Group, Prices, Quotas, Tiers};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiKind {
    /// API Gateway HTTP API (what infra/template.yaml deploys).
    Http,
    /// API Gateway REST API.
    Rest,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arch {
    Arm64,
    #[serde(rename = "x86_64")]
    X86_64,
}

impl Arch {
    pub fn name(self) -> &'static str {
        match self {
            Arch::Arm64 => "arm64",
            Arch::X86_64 => "x86_64",
        }
    }
}

/// A token-bucket throttle: steady requests a second, and the bucket.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Throttle {
    pub rate: f64,
    pub burst: f64,
}

/// Average seconds in a month (30.4375 days).
pub const SECONDS_PER_MONTH: f64 = 2_629_800.0;

/// The stage's whole ceiling: every route at its own throttle. HTTP API
/// throttles apply per route, and every route reaches the function, so
/// this, not one route's throttle, is what the stage admits and bills.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StageCeiling {
    pub routes: u32,
    /// Requests a second, all routes together.
    pub rate: f64,
    /// The routes' buckets together: requests admitted at once.
    pub burst: f64,
    /// Of `rate`, the counting route's (POST /visits): each a write.
    pub write_rate: f64,
}

/// The deployed stack's shape (from infra/template.yaml, flags or defaults).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stack {
    pub api: ApiKind,
    pub arch: Arch,
    pub memory_mb: f64,
    pub timeout_s: f64,
    /// The stage's default route throttle; `None`: only the account's.
    pub route_throttle: Option<Throttle>,
    /// The function's reserved concurrency; `None`: the account pool.
    pub reserved_concurrency: Option<f64>,
    /// The log group's retention; `None`: logs never expire.
    pub log_retention_days: Option<f64>,
    /// Every route's throttle together; `None`: unknown (no template).
    pub stage_ceiling: Option<StageCeiling>,
    /// The per-client limit (AWS WAF: requests to /visits per client IP
    /// in 5 minutes), when the stack has it on; the API then answers
    /// through CloudFront.
    pub per_client_limit: Option<f64>,
}

/// The traffic to plan for.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Traffic {
    pub visits_per_month: f64,
    pub peak_visits_per_second: f64,
    /// Strongly consistent `GET /visits` per visit (each one request, one
    /// invocation, one read unit).
    pub reads_per_visit: f64,
    /// Share of invocations that start a new execution environment.
    pub cold_start_rate: f64,
    /// Subtract the always-free allowances.
    pub free_tier: bool,
}

impl Traffic {
    /// API requests (and Lambda invocations) per visit: its POST and its reads.
    pub fn requests_per_visit(&self) -> f64 {
        1.0 + self.reads_per_visit
    }
}

/// Where the function's duration came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "from")]
pub enum DurationBasis {
    /// The handler's own `Server-Timing`, averaged over this many responses.
    ServerTiming { responses: u64 },
    /// The client's mean latency: an upper bound (network, API Gateway).
    ClientLatency,
    /// Given with `--lambda-ms`.
    Given,
    /// Lambda's REPORT lines (the emulated stage's, or a real stage's
    /// export): the warm invocations' mean Billed Duration, already in
    /// billing steps.
    LambdaReports { invocations: u64 },
}

/// What a run measured that the plan needs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    /// One invocation's duration, before rounding up for billing.
    pub function_ms: f64,
    pub basis: DurationBasis,
    /// Mean response body, bytes.
    pub response_body_bytes: f64,
    /// What the run showed the stage sustains (its knee, or its
    /// throughput), requests a second.
    pub demonstrated_rps: Option<f64>,
    /// Measured on the local stage (this machine, DynamoDB Local), not AWS.
    pub local_stage: bool,
}

/// One line of the bill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CostItem {
    ApiGateway,
    LambdaRequests,
    LambdaDuration,
    LambdaInit,
    DynamoDbWrites,
    DynamoDbReads,
    LogsIngestion,
    LogsStorage,
    DataTransferOut,
    /// The per-client limit's web ACL and its rule, a month.
    WafWebAcl,
    /// The requests the web ACL inspects.
    WafRequests,
    /// The API's requests through CloudFront (with the per-client limit).
    CloudFrontRequests,
}

impl CostItem {
    pub fn label(self) -> &'static str {
        match self {
            CostItem::ApiGateway => "API Gateway requests",
            CostItem::LambdaRequests => "Lambda requests",
            CostItem::LambdaDuration => "Lambda duration",
            CostItem::LambdaInit => "Lambda init (cold starts)",
            CostItem::DynamoDbWrites => "DynamoDB writes (on-demand)",
            CostItem::DynamoDbReads => "DynamoDB reads (on-demand)",
            CostItem::LogsIngestion => "CloudWatch Logs ingestion",
            CostItem::LogsStorage => "CloudWatch Logs storage",
            CostItem::DataTransferOut => "Data transfer out",
            CostItem::WafWebAcl => "AWS WAF web ACL and rule",
            CostItem::WafRequests => "AWS WAF requests",
            CostItem::CloudFrontRequests => "CloudFront requests (the API)",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostLine {
    pub item: CostItem,
    /// [`CostItem::label`] with the variant (HTTP API, arm64...).
    pub service: String,
    /// What is billed, a month, in `unit`.
    pub quantity: f64,
    pub unit: String,
    /// Of which the free tier covers (0 without `--free-tier`).
    pub free_quantity: f64,
    pub usd_per_month: f64,
    /// The arithmetic, one short line.
    pub basis: String,
    /// The arithmetic in full, a line per step (`plan --explain`).
    pub explain: Vec<String>,
}

/// Which limit a [`LimitLine`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitKind {
    /// The stage's route throttle (infra/template.yaml's ThrottlingRateLimit).
    StageRouteThrottle,
    ApiGatewayAccountRate,
    /// Lambda's requests-a-second cap: 10 × concurrency.
    LambdaRequestRate,
    LambdaConcurrency,
    /// One item's partition: 1,000 write units/s, 3,000 read units/s, shared.
    DynamoDbItemThroughput,
    /// The on-demand table's maximum (all pages together).
    DynamoDbTableWrites,
}

impl LimitKind {
    pub fn label(self) -> &'static str {
        match self {
            LimitKind::StageRouteThrottle => "API stage route throttle",
            LimitKind::ApiGatewayAccountRate => "API Gateway requests/s (account)",
            LimitKind::LambdaRequestRate => "Lambda requests/s (10 x concurrency)",
            LimitKind::LambdaConcurrency => "Lambda concurrent executions",
            LimitKind::DynamoDbItemThroughput => "DynamoDB one item (1,000 WRU/s, 3,000 RRU/s)",
            LimitKind::DynamoDbTableWrites => "DynamoDB on-demand table writes/s",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LimitLine {
    pub kind: LimitKind,
    /// [`LimitKind::label`], for readers of the JSON.
    pub limit: String,
    pub unit: String,
    pub capacity: f64,
    /// The token bucket above the steady rate, where the limit has one.
    pub burst: Option<f64>,
    /// What the peak needs of it, in `unit`.
    pub needed_at_peak: f64,
    /// capacity / needed: below 1 the peak does not fit.
    pub headroom: f64,
    /// Visits a second at which this limit is reached.
    pub binds_at_visits_per_second: f64,
    pub explain: Vec<String>,
}

/// What a [`Warning`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningKind {
    /// The peak does not fit a limit (named in `limit`).
    PeakAboveLimit,
    /// The peak is above one item's budget: the sharding options.
    ItemSharding,
    /// A sudden peak needs more environments than Lambda adds in 10 s.
    LambdaScalingRate,
    /// The peak is above what a new on-demand table serves at once.
    NewTableRamp,
    /// The peak is above what the run showed the stage sustains.
    BeyondDemonstrated,
    /// Measured on the local stage, not AWS.
    LocalStage,
    /// The duration billed is the client's latency, an upper bound.
    ClientLatency,
    /// The duration measured is above the function's timeout.
    DurationAboveTimeout,
    /// The log group keeps logs forever: storage grows every month.
    LogsNeverExpire,
    /// At the measured duration, the stage's ceiling needs more concurrent
    /// executions than the function has: a burst the API admits becomes
    /// Lambda throttles (5xx) instead of the API's 429s.
    LimitsDisagree,
    /// What the worst case cannot bound (requests refused at the edge).
    WorstCase,
    /// Not from the cost model: about where the inputs came from.
    Inputs,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Warning {
    pub kind: WarningKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<LimitKind>,
    pub message: String,
}

impl Warning {
    pub fn new(kind: WarningKind, message: String) -> Self {
        Self {
            kind,
            limit: None,
            message,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapacityPlan {
    pub traffic: Traffic,
    pub stack: Stack,
    pub measured: Measured,
    pub costs: Vec<CostLine>,
    pub total_usd_per_month: f64,
    pub limits: Vec<LimitLine>,
    /// The limit reached at the lowest visit rate...
    pub binding_limit: Option<LimitKind>,
    /// ...and any other reached at the same rate.
    pub binds_with: Vec<LimitKind>,
    /// What a month at the stage's whole ceiling costs, when it is known.
    pub worst_case: Option<WorstCase>,
    pub warnings: Vec<Warning>,
}

/// The bill of a month with every route of the stage at its throttle, all
/// month: the most the API can be made to cost, whoever sends the traffic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorstCase {
    pub ceiling: StageCeiling,
    pub requests_per_month: f64,
    pub costs: Vec<CostLine>,
    pub total_usd_per_month: f64,
    /// How it is worked out, a line per step.
    pub explain: Vec<String>,
}

impl CapacityPlan {
    pub fn cost(&self, item: CostItem) -> Option<&CostLine> {
        self.costs.iter().find(|c| c.item == item)
    }

    pub fn limit(&self, kind: LimitKind) -> Option<&LimitLine> {
        self.limits.iter().find(|l| l.kind == kind)
    }
}

/// Works out the plan.
pub fn estimate(t: &Traffic, s: &Stack, m: &Measured, f: &Figures) -> CapacityPlan {
    let costs = bill::monthly_costs(t, s, m, f);
    let total = costs.iter().map(|c| c.usd_per_month).sum();
    let lines = limits::limit_lines(t, s, m, &f.quotas);
    let (binding_limit, binds_with) = limits::binding(&lines);
    let mut warnings = limits::warnings(t, s, m, &f.quotas, &lines);
    let worst_case = s.stage_ceiling.map(|c| bill::worst_case(c, t, s, m, f));
    warnings.extend(
        worst_case
            .as_ref()
            .and_then(|w| bill::worst_case_warning(w, s)),
    );
    CapacityPlan {
        traffic: *t,
        stack: *s,
        measured: *m,
        costs,
        total_usd_per_month: total,
        limits: lines,
        binding_limit,
        binds_with,
        worst_case,
        warnings,
    }
}

/// A number for people: thousands grouped, at most `decimals` shown
/// (trailing zeros dropped).
pub fn num(x: f64, decimals: usize) -> String {
    if !x.is_finite() {
        return if x > 0.0 { "∞".into() } else { x.to_string() };
    }
    let text = format!("{:.*}", decimals, x.abs());
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    let frac = frac.trim_end_matches('0');
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if x < 0.0 && text.chars().any(|c| c != '0' && c != '.') {
        "-"
    } else {
        ""
    };
    if frac.is_empty() {
        format!("{sign}{grouped}")
    } else {
        format!("{sign}{grouped}.{frac}")
    }
}

/// A price as the price pages write it: at least cents, every digit given.
pub fn price(x: f64) -> String {
    let shortest = format!("{x}");
    match shortest.split_once('.') {
        Some((_, frac)) if frac.len() >= 2 => format!("${shortest}"),
        Some(_) => format!("${x:.2}"),
        None => format!("${x:.2}"),
    }
}

#[cfg(test)]
mod tests;
