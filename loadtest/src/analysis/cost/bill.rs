//! The monthly bill, line by line, each with its arithmetic.

use super::figures::{Footprint, Prices, TierUse, Tiers};
use super::{
    ApiKind, Arch, CostItem, CostLine, DurationBasis, Figures, Measured, SECONDS_PER_MONTH, Stack,
    StageCeiling, Traffic, Warning, WarningKind, WorstCase, num, price,
};

/// Average days in a month (365.25 / 12): log retention in months.
const DAYS_PER_MONTH: f64 = 30.4375;

/// The GB-second meter duration and init share.
struct Meter<'a> {
    gb: f64,
    tiers: &'a Tiers,
}

/// What the free tier leaves: (billed, covered, the explain line).
type Free = (f64, f64, Option<String>);

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

/// The tiers a quantity falls into, as explain lines, and the total.
fn tier_lines(uses: &[TierUse], unit: &str, decimals: usize) -> (Vec<String>, f64) {
    let total = uses.iter().map(|u| u.quantity * u.price).sum();
    let lines = uses
        .iter()
        .map(|u| {
            format!(
                "{} {unit} × {} = ${}",
                num(u.quantity, decimals),
                price(u.price),
                num(u.quantity * u.price, 6)
            )
        })
        .collect();
    (lines, total)
}

/// "× $p" for one tier, "tiered" for several.
fn rate(uses: &[TierUse], tiers: &Tiers) -> String {
    match uses {
        [one] => format!("× {}", price(one.price)),
        [] => format!("× {}", price(tiers.first())),
        _ => "tiered".to_owned(),
    }
}

/// What the free tier leaves to pay, and the explain line that says so.
fn after_free(quantity: f64, free: f64, on: bool, unit: &str) -> Free {
    if !on {
        return (quantity, 0.0, None);
    }
    let covered = quantity.min(free);
    let line = format!(
        "free tier: {} of {} {unit} free, {} billed",
        num(covered, 3),
        num(free, 0),
        num(quantity - covered, 3)
    );
    (quantity - covered, covered, Some(line))
}

fn line(item: CostItem, service: String, quantity: f64, unit: &str, usd: f64) -> CostLine {
    CostLine {
        item,
        service,
        quantity,
        unit: unit.to_owned(),
        free_quantity: 0.0,
        usd_per_month: usd,
        basis: String::new(),
        explain: vec![],
    }
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
        let uses = tiers.split(millions);
        let (tiered, usd) = tier_lines(&uses, "M requests", 3);
        let mut l = line(
            CostItem::ApiGateway,
            format!("API Gateway ({name})"),
            millions,
            "million requests",
            usd,
        );
        l.basis = format!("{} M requests {}", num(millions, 3), rate(&uses, tiers));
        l.explain = vec![self.requests_line()];
        l.explain.extend(tiered);
        l
    }

    fn lambda_requests(&self) -> CostLine {
        let per_m = self.p.lambda_requests_per_million;
        let (billed, free, note) = after_free(
            self.requests,
            self.p.free_lambda_requests,
            self.t.free_tier,
            "invocations",
        );
        let usd = billed / 1e6 * per_m;
        let mut l = line(
            CostItem::LambdaRequests,
            CostItem::LambdaRequests.label().to_owned(),
            self.requests,
            "invocations",
            usd,
        );
        l.free_quantity = free;
        l.basis = format!("{} M × {}/M", num(billed / 1e6, 3), price(per_m));
        l.explain = vec![format!(
            "one invocation per request: {}",
            num(self.requests, 0)
        )];
        l.explain.extend(note);
        l.explain.push(format!(
            "{} M × {}/M = ${}",
            num(billed / 1e6, 6),
            price(per_m),
            num(usd, 6)
        ));
        l
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
        let dur_gbs = self.requests * run_ms / 1000.0 * gb;
        let colds = self.requests * self.t.cold_start_rate;
        let init_ms = self.billed_ms(self.init_ms());
        let init_gbs = colds * init_ms / 1000.0 * gb;
        let free_total = self.p.free_lambda_gb_seconds;
        let dur = after_free(dur_gbs, free_total, self.t.free_tier, "GB-s");
        let init = after_free(init_gbs, free_total - dur.1, self.t.free_tier, "GB-s");
        let dur_usd = tiers.cost(dur.0);
        let init_usd = tiers.cost(dur.0 + init.0) - dur_usd;
        let meter = Meter { gb, tiers };
        [
            self.duration_line(&meter, run_ms, dur_gbs, dur),
            self.init_line(&meter, colds, init_ms, init_gbs, init, init_usd),
        ]
    }

    fn duration_line(&self, meter: &Meter<'_>, run_ms: f64, gbs: f64, free: Free) -> CostLine {
        let (billed, free_quantity, note) = free;
        let uses = meter.tiers.split(billed);
        let (tiered, usd) = tier_lines(&uses, "GB-s", 3);
        let mut l = line(
            CostItem::LambdaDuration,
            format!("Lambda duration ({})", self.s.arch.name()),
            gbs,
            "GB-s",
            usd,
        );
        l.free_quantity = free_quantity;
        l.basis = format!(
            "{} GB-s ({} ms × {} MB) {}",
            num(billed, 1),
            num(run_ms, 3),
            num(self.s.memory_mb, 0),
            rate(&uses, meter.tiers)
        );
        l.explain = vec![
            format!(
                "{} ms a request, billed in {} ms steps: {} ms",
                num(self.m.function_ms, 3),
                num(self.p.lambda_billing_granularity_ms, 3),
                num(run_ms, 3)
            ),
            format!(
                "{} invocations × {} s × {} GB ({} MB) = {} GB-s",
                num(self.requests, 0),
                num(run_ms / 1000.0, 6),
                num(meter.gb, 6),
                num(self.s.memory_mb, 0),
                num(gbs, 3)
            ),
        ];
        l.explain.extend(note);
        l.explain.extend(tiered);
        l
    }

    fn init_line(
        &self,
        meter: &Meter<'_>,
        colds: f64,
        init_ms: f64,
        gbs: f64,
        free: Free,
        usd: f64,
    ) -> CostLine {
        let arch = self.s.arch.name();
        let mut l = line(
            CostItem::LambdaInit,
            format!("Lambda init ({arch}, cold starts)"),
            gbs,
            "GB-s",
            usd,
        );
        l.free_quantity = free.1;
        l.basis = format!("{} cold starts × {} ms", num(colds, 0), num(init_ms, 3));
        l.explain = vec![
            format!(
                "{} invocations × {} cold-start rate = {} cold starts",
                num(self.requests, 0),
                num(self.t.cold_start_rate, 6),
                num(colds, 1)
            ),
            format!(
                "init {} ms ({arch}; billed on provided.al2023), billed as {} ms: {} × {} s × {} GB = {} GB-s",
                num(self.init_ms(), 3),
                num(init_ms, 3),
                num(colds, 1),
                num(init_ms / 1000.0, 6),
                num(meter.gb, 6),
                num(gbs, 3)
            ),
        ];
        l.explain.extend(free.2);
        l.explain.push(format!(
            "priced on top of duration in the same GB-s tiers: ${}",
            num(usd, 6)
        ));
        l
    }

    fn dynamodb_writes(&self) -> CostLine {
        let units = self.t.visits_per_month;
        let per_m = self.p.dynamodb_write_units_per_million;
        let usd = units / 1e6 * per_m;
        let mut l = line(
            CostItem::DynamoDbWrites,
            CostItem::DynamoDbWrites.label().to_owned(),
            units,
            "write units",
            usd,
        );
        l.basis = format!("{} M write units × {}/M", num(units / 1e6, 3), price(per_m));
        l.explain = vec![
            format!(
                "one UpdateItem ADD a visit, one write unit (item under 1 KB): {} units",
                num(units, 0)
            ),
            format!(
                "{} M × {}/M = ${}",
                num(units / 1e6, 6),
                price(per_m),
                num(usd, 6)
            ),
        ];
        l
    }

    fn dynamodb_reads(&self) -> CostLine {
        let units = self.t.visits_per_month * self.t.reads_per_visit;
        let per_m = self.p.dynamodb_read_units_per_million;
        let usd = units / 1e6 * per_m;
        let mut l = line(
            CostItem::DynamoDbReads,
            CostItem::DynamoDbReads.label().to_owned(),
            units,
            "read units",
            usd,
        );
        l.basis = format!("{} M read units × {}/M", num(units / 1e6, 3), price(per_m));
        l.explain = vec![
            format!(
                "{} visits × {} reads (a consistent GetItem of an item under 4 KB is one read unit) = {} units",
                num(self.t.visits_per_month, 0),
                num(self.t.reads_per_visit, 3),
                num(units, 0)
            ),
            format!(
                "{} M × {}/M = ${}",
                num(units / 1e6, 6),
                price(per_m),
                num(usd, 6)
            ),
        ];
        l
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
        let (billed, free, note) = after_free(gb, p.free_logs_gb, self.t.free_tier, "GB");
        let uses = p.logs_ingestion_per_gb.split(billed);
        let (tiered, usd) = tier_lines(&uses, "GB", 4);
        let mut ingest = line(
            CostItem::LogsIngestion,
            CostItem::LogsIngestion.label().to_owned(),
            gb,
            "GB",
            usd,
        );
        ingest.free_quantity = free;
        ingest.basis = format!(
            "{} GB ({} B an invocation) {}",
            num(gb, 3),
            num(per_invocation, 1),
            rate(&uses, &p.logs_ingestion_per_gb)
        );
        ingest.explain = vec![
            format!(
                "an invocation logs the handler's line ({} B, measured) + START/END/REPORT ({} B) + {} B × {} events = {} B",
                num(f.handler_log_bytes, 1),
                num(f.platform_log_bytes, 1),
                num(p.logs_event_overhead_bytes, 0),
                num(events, 0),
                num(per_invocation, 1)
            ),
            format!(
                "a cold start adds {} B (INIT_START, Init Duration) + {} B",
                num(f.cold_start_log_bytes, 1),
                num(p.logs_event_overhead_bytes, 0)
            ),
            format!(
                "{} × {} B + {} × {} B = {} B = {} GB (÷ {})",
                num(self.requests, 0),
                num(per_invocation, 1),
                num(colds, 1),
                num(per_cold, 1),
                num(bytes, 0),
                num(gb, 4),
                num(p.bytes_per_gb, 0)
            ),
        ];
        ingest.explain.extend(note);
        ingest.explain.extend(tiered);
        [ingest, self.log_storage(gb)]
    }

    fn log_storage(&self, gb_a_month: f64) -> CostLine {
        let per = self.p.logs_storage_per_gb_month;
        let (months, kept) = match self.s.log_retention_days {
            Some(days) => (days / DAYS_PER_MONTH, format!("kept {} days", num(days, 0))),
            None => (
                1.0,
                "never expire: this is the first month, and it grows each month".into(),
            ),
        };
        let stored = gb_a_month * months;
        let usd = stored * per;
        let mut l = line(
            CostItem::LogsStorage,
            CostItem::LogsStorage.label().to_owned(),
            stored,
            "GB-month",
            usd,
        );
        l.basis = format!("{} GB stored × {}", num(stored, 3), price(per));
        l.explain = vec![
            format!(
                "{} GB a month, {kept}: {} × {} months = {} GB held (uncompressed: AWS bills compressed, so an upper bound)",
                num(gb_a_month, 4),
                num(gb_a_month, 4),
                num(months, 4),
                num(stored, 4)
            ),
            format!("{} GB × {} = ${}", num(stored, 4), price(per), num(usd, 6)),
        ];
        l
    }

    /// The per-client limit: a web ACL with one rate-based rule on the
    /// distribution the API now answers through.
    fn edge(&self, limit: f64) -> [CostLine; 3] {
        let p = self.p;
        let fixed = p.waf_web_acl_per_month + p.waf_rule_per_month;
        let mut acl = line(
            CostItem::WafWebAcl,
            CostItem::WafWebAcl.label().to_owned(),
            1.0,
            "web ACL with 1 rule",
            fixed,
        );
        acl.basis = format!(
            "{} + 1 rule × {}",
            price(p.waf_web_acl_per_month),
            price(p.waf_rule_per_month)
        );
        acl.explain = vec![
            format!(
                "the per-client limit ({} requests to /visits per client IP in 5 minutes) is one web ACL with one rate-based rule, prorated hourly",
                num(limit, 0)
            ),
            format!(
                "{} + {} = ${} a month, whatever the traffic",
                price(p.waf_web_acl_per_month),
                price(p.waf_rule_per_month),
                num(fixed, 2)
            ),
        ];
        let millions = self.requests / 1e6;
        let waf_usd = millions * p.waf_requests_per_million;
        let mut waf = line(
            CostItem::WafRequests,
            CostItem::WafRequests.label().to_owned(),
            millions,
            "million requests",
            waf_usd,
        );
        waf.basis = format!(
            "{} M × {}/M",
            num(millions, 3),
            price(p.waf_requests_per_million)
        );
        waf.explain = vec![
            format!(
                "every API request passes the web ACL: {} M × {}/M = ${}",
                num(millions, 6),
                price(p.waf_requests_per_million),
                num(waf_usd, 6)
            ),
            "the site's own page and script loads pass it too: not in this plan".to_owned(),
        ];
        [acl, waf, self.cloudfront()]
    }

    fn cloudfront(&self) -> CostLine {
        let p = self.p;
        let (billed, free, note) = after_free(
            self.requests,
            p.free_cloudfront_requests,
            self.t.free_tier,
            "requests",
        );
        let usd = billed / 1e6 * p.cloudfront_requests_per_million;
        let mut l = line(
            CostItem::CloudFrontRequests,
            CostItem::CloudFrontRequests.label().to_owned(),
            self.requests,
            "requests",
            usd,
        );
        l.free_quantity = free;
        l.basis = format!(
            "{} M × {}/M",
            num(billed / 1e6, 3),
            price(p.cloudfront_requests_per_million)
        );
        l.explain = vec![format!(
            "with the per-client limit on, the API answers through the site's distribution: {} requests",
            num(self.requests, 0)
        )];
        l.explain.extend(note);
        l.explain.push(format!(
            "{} M × {}/M = ${}",
            num(billed / 1e6, 6),
            price(p.cloudfront_requests_per_million),
            num(usd, 6)
        ));
        l
    }

    fn transfer(&self) -> CostLine {
        let p = self.p;
        let per_request = self.m.response_body_bytes + self.f.response_header_bytes;
        let gb = self.requests * per_request / p.bytes_per_gb;
        let (billed, free, note) = after_free(gb, p.free_data_transfer_gb, self.t.free_tier, "GB");
        let uses = p.data_transfer_out_per_gb.split(billed);
        let (tiered, usd) = tier_lines(&uses, "GB", 4);
        let mut l = line(
            CostItem::DataTransferOut,
            CostItem::DataTransferOut.label().to_owned(),
            gb,
            "GB",
            usd,
        );
        l.free_quantity = free;
        l.basis = format!(
            "{} GB ({} B a response) {}",
            num(gb, 3),
            num(per_request, 0),
            rate(&uses, &p.data_transfer_out_per_gb)
        );
        l.explain = vec![
            format!(
                "a response: {} B body (measured) + {} B status line and headers (estimate) = {} B",
                num(self.m.response_body_bytes, 1),
                num(self.f.response_header_bytes, 0),
                num(per_request, 1)
            ),
            format!(
                "{} × {} B = {} GB",
                num(self.requests, 0),
                num(per_request, 1),
                num(gb, 4)
            ),
        ];
        l.explain.extend(note);
        l.explain.extend(tiered);
        l
    }
}
