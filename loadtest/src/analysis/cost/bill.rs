//! The monthly bill, line by line, each with its arithmetic.

use super::charge::{Charge, Price};
use super::figures::{Footprint, Prices, Tiers};
use super::{
    ApiKind, Arch, CostItem, CostLine, DurationBasis, Figures, Measured, SECONDS_PER_MONTH, Stack,
    StageCeiling, Traffic, Warning, WarningKind, WorstCase, num,
};

/// Average days in a month (365.25 / 12): log retention in months.
const DAYS_PER_MONTH: f64 = 30.4375;

struct Bill<'a> {
    t: &'a Traffic,
    s: &'a Stack,
    m: &'a Measured,
    p: &'a Prices,
    f: &'a Footprint,
    /// API requests (= invocations) a month.
    requests: f64,
}

pub(super) fn monthly_costs(t: &Traffic, s: &Stack, m: &Measured, f: &Figures) -> Vec<CostLine> {
    let b = Bill {
        t,
        s,
        m,
        p: &f.prices,
        f: &f.footprint,
        requests: t.visits_per_month * t.requests_per_visit(),
    };
    let mut lines = vec![b.api_gateway(), b.lambda_requests()];
    lines.extend(b.lambda_compute());
    lines.push(b.dynamodb_writes());
    lines.push(b.dynamodb_reads());
    lines.extend(b.logs());
    lines.push(b.transfer());
    if let Some(limit) = s.per_client_limit {
        lines.extend(b.edge(limit));
    }
    lines
}

/// A month with every route at its throttle: the counting route's rate
/// billed as visits (a write each), every other route's as reads (an upper
/// bound: junk on the catch-all reads nothing), each log line at its bound.
pub(super) fn worst_case(
    c: StageCeiling,
    t: &Traffic,
    s: &Stack,
    m: &Measured,
    f: &Figures,
) -> WorstCase {
    let (writes, others) = if c.write_rate > 0.0 {
        (c.write_rate, (c.rate - c.write_rate).max(0.0))
    } else {
        (c.rate, 0.0)
    };
    let traffic = Traffic {
        visits_per_month: writes * SECONDS_PER_MONTH,
        peak_visits_per_second: writes,
        reads_per_visit: others / writes.max(f64::MIN_POSITIVE),
        ..*t
    };
    let figures = Figures {
        footprint: Footprint {
            handler_log_bytes: f.footprint.handler_log_bytes_max,
            ..f.footprint
        },
        ..f.clone()
    };
    let costs = monthly_costs(&traffic, s, m, &figures);
    let total = costs.iter().map(|l| l.usd_per_month).sum();
    let requests = c.rate * SECONDS_PER_MONTH;
    let explain = vec![
        format!(
            "every route at its own throttle, all month: {} routes, {} requests/s together (their buckets, {} at once, are not sustained) = {} requests",
            c.routes,
            num(c.rate, 3),
            num(c.burst, 0),
            num(requests, 0)
        ),
        format!(
            "the counting route's {}/s billed as visits (a write each), the other routes' {}/s as reads: an upper bound (a 404 or 403 reads nothing)",
            num(writes, 3),
            num(others, 3)
        ),
        format!(
            "each invocation's log line at its bound: {} B (an ordinary one is {} B); the duration billed is the measured one",
            num(f.footprint.handler_log_bytes_max, 0),
            num(f.footprint.handler_log_bytes, 0)
        ),
    ];
    WorstCase {
        ceiling: c,
        requests_per_month: requests,
        costs,
        total_usd_per_month: total,
        explain,
    }
}

/// What the worst case cannot bound: with the per-client limit on, the
/// requests refused at the edge still cost the edge's per-request fees.
pub(super) fn worst_case_warning(w: &WorstCase, s: &Stack) -> Option<Warning> {
    s.per_client_limit?;
    Some(Warning::new(
        WarningKind::WorstCase,
        format!(
            "The worst case (${} a month) bounds what reaches the API. With the per-client limit on, requests \
             refused at the edge (one client above its limit, or past the stage's throttles) still pass CloudFront \
             and the web ACL, billed per request with no ceiling but the senders': the edge's fees are in the \
             figures (cloudfront_requests_per_million, waf_requests_per_million).",
            num(w.total_usd_per_month, 2)
        ),
    ))
}

impl Bill<'_> {
    fn requests_line(&self) -> String {
        format!(
            "{} visits × {} requests a visit (1 POST + {} reads) = {} requests",
            num(self.t.visits_per_month, 0),
            num(self.t.requests_per_visit(), 3),
            num(self.t.reads_per_visit, 3),
            num(self.requests, 0)
        )
    }

    fn api_gateway(&self) -> CostLine {
        let (tiers, name) = match self.s.api {
            ApiKind::Http => (&self.p.http_api_per_million, "HTTP API"),
            ApiKind::Rest => (&self.p.rest_api_per_million, "REST API"),
        };
        let millions = self.requests / 1e6;
        Charge::new(
            CostItem::ApiGateway,
            millions,
            "million requests",
            Price::tiered(tiers),
        )
        .service(format!("API Gateway ({name})"))
        .short_unit("M requests")
        .how(self.requests_line())
        .bill(self.t.free_tier)
    }

    fn lambda_requests(&self) -> CostLine {
        let per_m = Price::PerMillion(self.p.lambda_requests_per_million);
        Charge::new(
            CostItem::LambdaRequests,
            self.requests,
            "invocations",
            per_m,
        )
        .how(format!(
            "one invocation per request: {}",
            num(self.requests, 0)
        ))
        .free(self.p.free_lambda_requests)
        .bill(self.t.free_tier)
    }

    /// Rounded up to the billing step.
    fn billed_ms(&self, ms: f64) -> f64 {
        let step = self.p.lambda_billing_granularity_ms;
        (ms / step).ceil() * step
    }

    fn init_ms(&self) -> f64 {
        match self.s.arch {
            Arch::Arm64 => self.f.init_ms_arm64,
            Arch::X86_64 => self.f.init_ms_x86_64,
        }
    }

    /// Duration and init share one GB-second meter: its tiers and its
    /// free allowance (spent on duration first).
    fn lambda_compute(&self) -> [CostLine; 2] {
        let gb = self.s.memory_mb / 1024.0;
        let tiers = match self.s.arch {
            Arch::Arm64 => &self.p.lambda_gb_second_arm64,
            Arch::X86_64 => &self.p.lambda_gb_second_x86_64,
        };
        // REPORT lines' Billed Duration is rounded per invocation already.
        let run_ms = match self.m.basis {
            DurationBasis::LambdaReports { .. } => self.m.function_ms,
            _ => self.billed_ms(self.m.function_ms),
        };
        let gbs = self.requests * run_ms / 1000.0 * gb;
        let (ms, mb) = (num(run_ms, 3), num(self.s.memory_mb, 0));
        let duration = Charge::new(CostItem::LambdaDuration, gbs, "GB-s", Price::tiered(tiers))
            .service(format!("Lambda duration ({})", self.s.arch.name()))
            .detail(format!("({ms} ms × {mb} MB)"))
            .how(format!(
                "{} ms a request, billed in {} ms steps: {ms} ms",
                num(self.m.function_ms, 3),
                num(self.p.lambda_billing_granularity_ms, 3)
            ))
            .how(format!(
                "{} invocations × {} s × {} GB ({mb} MB) = {} GB-s",
                num(self.requests, 0),
                num(run_ms / 1000.0, 6),
                num(gb, 6),
                num(gbs, 3)
            ))
            .free(self.p.free_lambda_gb_seconds)
            .bill(self.t.free_tier);
        let init = self.init(gb, tiers, &duration);
        [duration, init]
    }

    /// Cold starts' init, on top of `duration` on the same meter.
    fn init(&self, gb: f64, tiers: &Tiers, duration: &CostLine) -> CostLine {
        let arch = self.s.arch.name();
        let colds = self.requests * self.t.cold_start_rate;
        let init_ms = self.billed_ms(self.init_ms());
        let gbs = colds * init_ms / 1000.0 * gb;
        let price = Price::OnTopOf {
            tiers,
            used: duration.quantity - duration.free_quantity,
            by: "duration",
        };
        Charge::new(CostItem::LambdaInit, gbs, "GB-s", price)
            .service(format!("Lambda init ({arch}, cold starts)"))
            .detail(format!(
                "({} cold starts × {} ms)",
                num(colds, 0),
                num(init_ms, 3)
            ))
            .how(format!(
                "{} invocations × {} cold-start rate = {} cold starts",
                num(self.requests, 0),
                num(self.t.cold_start_rate, 6),
                num(colds, 1)
            ))
            .how(format!(
                "init {} ms ({arch}; billed on provided.al2023), billed as {} ms: {} × {} s × {} GB = {} GB-s",
                num(self.init_ms(), 3),
                num(init_ms, 3),
                num(colds, 1),
                num(init_ms / 1000.0, 6),
                num(gb, 6),
                num(gbs, 3)
            ))
            .free(self.p.free_lambda_gb_seconds - duration.free_quantity)
            .bill(self.t.free_tier)
    }

    fn dynamodb_writes(&self) -> CostLine {
        let units = self.t.visits_per_month;
        let per_m = Price::PerMillion(self.p.dynamodb_write_units_per_million);
        Charge::new(CostItem::DynamoDbWrites, units, "write units", per_m)
            .how(format!(
                "one UpdateItem ADD a visit, one write unit (item under 1 KB): {} units",
                num(units, 0)
            ))
            .bill(self.t.free_tier)
    }

    fn dynamodb_reads(&self) -> CostLine {
        let units = self.t.visits_per_month * self.t.reads_per_visit;
        let per_m = Price::PerMillion(self.p.dynamodb_read_units_per_million);
        Charge::new(CostItem::DynamoDbReads, units, "read units", per_m)
            .how(format!(
                "{} visits × {} reads (a consistent GetItem of an item under 4 KB is one read unit) = {} units",
                num(self.t.visits_per_month, 0),
                num(self.t.reads_per_visit, 3),
                num(units, 0)
            ))
            .bill(self.t.free_tier)
    }

    fn logs(&self) -> [CostLine; 2] {
        let (f, p) = (self.f, self.p);
        let events = 1.0 + f.platform_log_events;
        let per_invocation =
            f.handler_log_bytes + f.platform_log_bytes + p.logs_event_overhead_bytes * events;
        let colds = self.requests * self.t.cold_start_rate;
        let per_cold = f.cold_start_log_bytes + p.logs_event_overhead_bytes;
        let bytes = self.requests * per_invocation + colds * per_cold;
        let gb = bytes / p.bytes_per_gb;
        let tiers = Price::tiered(&p.logs_ingestion_per_gb);
        let ingestion = Charge::new(CostItem::LogsIngestion, gb, "GB", tiers)
            .detail(format!("({} B an invocation)", num(per_invocation, 1)))
            .how(format!(
                "an invocation logs the handler's line ({} B, measured) + START/END/REPORT ({} B) + {} B × {} events = {} B",
                num(f.handler_log_bytes, 1),
                num(f.platform_log_bytes, 1),
                num(p.logs_event_overhead_bytes, 0),
                num(events, 0),
                num(per_invocation, 1)
            ))
            .how(format!(
                "a cold start adds {} B (INIT_START, Init Duration) + {} B",
                num(f.cold_start_log_bytes, 1),
                num(p.logs_event_overhead_bytes, 0)
            ))
            .how(format!(
                "{} × {} B + {} × {} B = {} B = {} GB (÷ {})",
                num(self.requests, 0),
                num(per_invocation, 1),
                num(colds, 1),
                num(per_cold, 1),
                num(bytes, 0),
                num(gb, 4),
                num(p.bytes_per_gb, 0)
            ))
            .free(p.free_logs_gb)
            .bill(self.t.free_tier);
        [ingestion, self.log_storage(gb)]
    }

    fn log_storage(&self, gb_a_month: f64) -> CostLine {
        let (months, kept) = match self.s.log_retention_days {
            Some(days) => (days / DAYS_PER_MONTH, format!("kept {} days", num(days, 0))),
            None => (
                1.0,
                "never expire: this is the first month, and it grows each month".into(),
            ),
        };
        let stored = gb_a_month * months;
        let per_gb_month = Price::flat(self.p.logs_storage_per_gb_month);
        Charge::new(CostItem::LogsStorage, stored, "GB-month", per_gb_month)
            .how(format!(
                "{} GB a month, {kept}: {} × {} months = {} GB held (uncompressed: AWS bills compressed, so an upper bound)",
                num(gb_a_month, 4),
                num(gb_a_month, 4),
                num(months, 4),
                num(stored, 4)
            ))
            .bill(self.t.free_tier)
    }

    /// The per-client limit: a web ACL with one rate-based rule on the
    /// distribution the API now answers through.
    fn edge(&self, limit: f64) -> [CostLine; 3] {
        let p = self.p;
        let fixed = Price::Monthly(vec![
            ("web ACL", p.waf_web_acl_per_month),
            ("rule", p.waf_rule_per_month),
        ]);
        let acl = Charge::new(CostItem::WafWebAcl, 1.0, "web ACL with 1 rule", fixed)
            .how(format!(
                "the per-client limit ({} requests to /visits per client IP in 5 minutes) is one web ACL with one rate-based rule, prorated hourly",
                num(limit, 0)
            ))
            .bill(self.t.free_tier);
        let per_m = Price::flat(p.waf_requests_per_million);
        let waf = Charge::new(
            CostItem::WafRequests,
            self.requests / 1e6,
            "million requests",
            per_m,
        )
        .short_unit("M requests")
        .how(format!(
            "every API request passes the web ACL: {} requests",
            num(self.requests, 0)
        ))
        .how("the site's own page and script loads pass it too: not in this plan".to_owned())
        .bill(self.t.free_tier);
        [acl, waf, self.cloudfront()]
    }

    fn cloudfront(&self) -> CostLine {
        let per_m = Price::PerMillion(self.p.cloudfront_requests_per_million);
        Charge::new(CostItem::CloudFrontRequests, self.requests, "requests", per_m)
            .how(format!(
                "with the per-client limit on, the API answers through the site's distribution: {} requests",
                num(self.requests, 0)
            ))
            .free(self.p.free_cloudfront_requests)
            .bill(self.t.free_tier)
    }

    fn transfer(&self) -> CostLine {
        let p = self.p;
        let per_request = self.m.response_body_bytes + self.f.response_header_bytes;
        let gb = self.requests * per_request / p.bytes_per_gb;
        let tiers = Price::tiered(&p.data_transfer_out_per_gb);
        Charge::new(CostItem::DataTransferOut, gb, "GB", tiers)
            .detail(format!("({} B a response)", num(per_request, 0)))
            .how(format!(
                "a response: {} B body (measured) + {} B status line and headers (estimate) = {} B",
                num(self.m.response_body_bytes, 1),
                num(self.f.response_header_bytes, 0),
                num(per_request, 1)
            ))
            .how(format!(
                "{} × {} B = {} GB",
                num(self.requests, 0),
                num(per_request, 1),
                num(gb, 4)
            ))
            .free(p.free_data_transfer_gb)
            .bill(self.t.free_tier)
    }
}
