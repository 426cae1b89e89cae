//! Hand-worked plans. The figures are the data file's (us-east-1, checked
//! 2026-11-26): change a figure there and these sums must be reworked.

use super::*;

const DATA: &str = include_str!("../../../data/aws-us-east-1.json");

fn figures() -> Figures {
    FigureBook::parse(DATA, "data")
        .and_then(|b| b.resolve())
        .expect("the data file")
}

fn traffic(visits: f64, peak: f64) -> Traffic {
    Traffic {
        visits_per_month: visits,
        peak_visits_per_second: peak,
        reads_per_visit: 0.0,
        cold_start_rate: 0.01,
        free_tier: false,
    }
}

/// The shape infra/template.yaml had when these sums were worked: HTTP API
/// throttled to 200/s (burst 400),
/// arm64, 128 MB, 6 s, logs kept 30 days.
fn template_stack() -> Stack {
    Stack {
        api: ApiKind::Http,
        arch: Arch::Arm64,
        memory_mb: 128.0,
        timeout_s: 6.0,
        route_throttle: Some(Throttle {
            rate: 200.0,
            burst: 400.0,
        }),
        reserved_concurrency: None,
        log_retention_days: Some(30.0),
        stage_ceiling: None,
        per_client_limit: None,
    }
}

fn unthrottled() -> Stack {
    Stack {
        route_throttle: None,
        ..template_stack()
    }
}

/// 7.4 ms a request, 50 B bodies (+ 350 B of headers: 400 B a response).
fn measured() -> Measured {
    Measured {
        function_ms: 7.4,
        basis: DurationBasis::ServerTiming { responses: 1000 },
        response_body_bytes: 50.0,
        demonstrated_rps: None,
        local_stage: false,
    }
}

fn usd(p: &CapacityPlan, item: CostItem) -> f64 {
    p.cost(item).expect("cost line").usd_per_month
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

/// 10 M visits a month, HTTP API, arm64 at 128 MB, 7.4 ms billed as 8 ms,
/// 1% cold starts of 12.4 ms billed as 13 ms, 400 B a response:
/// - API Gateway: 10 M × $1.00 = $10.00
/// - Lambda requests: 10 M × $0.20 = $2.00
/// - duration: 10e6 × 0.008 s × 0.125 GB = 10,000 GB-s × $0.0000133334 = $0.133334
/// - init: 100,000 × 0.013 s × 0.125 GB = 162.5 GB-s × $0.0000133334 = $0.0021667
/// - DynamoDB writes: 10 M × $0.625 = $6.25; reads: none
/// - logs: (350 handler + 259 platform + 4 × 26) = 713 B an invocation,
///   plus 100,000 cold starts of (192 + 26) B: 7,151,800,000 B, which is
///   6.660633 GB at $0.50 = $3.330316
/// - log storage: 6.660633 × 30 / 30.4375 = 6.564895 GB × $0.03 = $0.196947
/// - transfer: 10e6 × 400 B = 3.725290 GB × $0.09 = $0.335276
/// - total: $22.248040
#[test]
fn ten_million_visits_cost_what_the_hand_worked_example_says() {
    let p = estimate(
        &traffic(10e6, 20.0),
        &template_stack(),
        &measured(),
        &figures(),
    );
    assert!(close(usd(&p, CostItem::ApiGateway), 10.0, 1e-9));
    assert!(close(usd(&p, CostItem::LambdaRequests), 2.0, 1e-9));
    assert!(close(usd(&p, CostItem::LambdaDuration), 0.133_334, 1e-9));
    assert!(close(usd(&p, CostItem::LambdaInit), 0.002_166_68, 1e-8));
    assert!(close(usd(&p, CostItem::DynamoDbWrites), 6.25, 1e-9));
    assert!(close(usd(&p, CostItem::DynamoDbReads), 0.0, 1e-12));
    assert!(close(usd(&p, CostItem::LogsIngestion), 3.330_316, 1e-6));
    assert!(close(usd(&p, CostItem::LogsStorage), 0.196_947, 1e-6));
    assert!(close(usd(&p, CostItem::DataTransferOut), 0.335_276, 1e-6));
    assert!(
        close(p.total_usd_per_month, 22.248_040, 1e-5),
        "{}",
        p.total_usd_per_month
    );
}

/// The CloudWatch Logs line rests on the handler's measured log line
/// (the data file says how it was measured) plus the platform lines.
#[test]
fn the_logs_line_uses_the_measured_handler_line_and_costs_more_than_duration_and_transfer() {
    let mut f = figures();
    let p = estimate(&traffic(10e6, 20.0), &template_stack(), &measured(), &f);
    let logs = p.cost(CostItem::LogsIngestion).expect("logs line");
    assert!(
        logs.explain[0].contains("350 B, measured"),
        "{:?}",
        logs.explain
    );
    assert!(
        logs.usd_per_month > usd(&p, CostItem::LambdaDuration) + usd(&p, CostItem::DataTransferOut)
    );
    f.footprint.handler_log_bytes += 100.0;
    let more = estimate(&traffic(10e6, 20.0), &template_stack(), &measured(), &f);
    // 10e6 × 100 B more = 0.931323 GB × $0.50.
    assert!(close(
        usd(&more, CostItem::LogsIngestion) - logs.usd_per_month,
        0.465_661,
        1e-6
    ));
}

/// With --free-tier: 1 M of the 10 M invocations free ($0.20), all
/// 10,162.5 GB-s under 400,000 ($0.133334 + $0.0021667), 3.7 GB of
/// transfer under 100 GB ($0.335276), 5 of 6.66 GB of logs ($2.50):
/// $3.170777 less, $19.077263 in all.
#[test]
fn the_free_tier_lowers_the_bill_by_the_worked_amount() {
    let f = figures();
    let full = estimate(&traffic(10e6, 20.0), &template_stack(), &measured(), &f);
    let free_traffic = Traffic {
        free_tier: true,
        ..traffic(10e6, 20.0)
    };
    let free = estimate(&free_traffic, &template_stack(), &measured(), &f);
    let saved = full.total_usd_per_month - free.total_usd_per_month;
    assert!(close(saved, 3.170_777, 1e-6), "saved {saved}");
    assert!(close(free.total_usd_per_month, 19.077_263, 1e-5));
    assert!(close(usd(&free, CostItem::LambdaRequests), 1.80, 1e-9));
    assert!(close(usd(&free, CostItem::LambdaDuration), 0.0, 1e-12));
    let logs = free.cost(CostItem::LogsIngestion).expect("logs");
    assert!(close(logs.free_quantity, 5.0, 1e-9));
    assert!(logs.explain.iter().any(|l| l.starts_with("free tier")));
}

/// At 300 visits/s the template's 200/s route throttle binds first
/// (headroom 200/300 = 0.667), long before DynamoDB's 1,000/s.
#[test]
fn a_300_per_second_peak_on_the_template_binds_on_the_stage_throttle() {
    let p = estimate(
        &traffic(10e6, 300.0),
        &template_stack(),
        &measured(),
        &figures(),
    );
    assert_eq!(p.binding_limit, Some(LimitKind::StageRouteThrottle));
    let stage = p.limit(LimitKind::StageRouteThrottle).expect("stage row");
    assert!(close(stage.headroom, 2.0 / 3.0, 1e-9));
    assert_eq!(stage.burst, Some(400.0));
    assert!(close(stage.binds_at_visits_per_second, 200.0, 1e-9));
    assert!(
        p.warnings
            .iter()
            .any(|w| w.kind == WarningKind::PeakAboveLimit
                && w.limit == Some(LimitKind::StageRouteThrottle))
    );
    let item = p
        .limit(LimitKind::DynamoDbItemThroughput)
        .expect("item row");
    assert!(close(item.headroom, 1000.0 / 300.0, 1e-9));
}

/// 20,000 visits/s at 5 ms: concurrency needed 20,000 × 0.005 = 100 of
/// 1,000 (binds at 200,000/s), but Lambda's request cap is 10 × 1,000 =
/// 10,000/s: it binds first of Lambda's limits. One item binds at 1,000/s
/// before either; with the counter sharded (item and table limits out of
/// the way) the request cap binds, tied with API Gateway's account
/// 10,000/s. 2,000 environments at 10 requests/s each: 20 s from idle.
#[test]
fn a_20000_per_second_peak_with_a_5_ms_function_binds_on_the_request_cap_before_concurrency() {
    let m = Measured {
        function_ms: 5.0,
        ..measured()
    };
    let mut f = figures();
    let p = estimate(&traffic(10e6, 20_000.0), &unthrottled(), &m, &f);
    assert_eq!(p.binding_limit, Some(LimitKind::DynamoDbItemThroughput));
    f.quotas.dynamodb_item_write_units_per_second = 1e6;
    f.quotas.dynamodb_table_write_units_per_second = 1e6;
    let p = estimate(&traffic(10e6, 20_000.0), &unthrottled(), &m, &f);
    let cap = p.limit(LimitKind::LambdaRequestRate).expect("cap row");
    let conc = p
        .limit(LimitKind::LambdaConcurrency)
        .expect("concurrency row");
    assert!(close(cap.binds_at_visits_per_second, 10_000.0, 1e-9));
    assert!(close(cap.headroom, 0.5, 1e-9));
    assert!(close(conc.needed_at_peak, 100.0, 1e-9));
    assert!(close(conc.binds_at_visits_per_second, 200_000.0, 1e-6));
    let bound: Vec<_> = p
        .binding_limit
        .into_iter()
        .chain(p.binds_with.clone())
        .collect();
    assert!(bound.contains(&LimitKind::LambdaRequestRate), "{bound:?}");
    assert!(!bound.contains(&LimitKind::LambdaConcurrency));
    let scaling = p
        .warnings
        .iter()
        .find(|w| w.kind == WarningKind::LambdaScalingRate)
        .expect("a burst warning");
    assert!(
        scaling.message.contains("2,000 execution environments"),
        "{}",
        scaling.message
    );
    assert!(
        scaling.message.contains("about 20 s"),
        "{}",
        scaling.message
    );

    f.quotas.api_gateway_account_rps = 50_000.0;
    let p = estimate(&traffic(10e6, 20_000.0), &unthrottled(), &m, &f);
    assert_eq!(p.binding_limit, Some(LimitKind::LambdaRequestRate));
    assert!(p.binds_with.is_empty(), "{:?}", p.binds_with);
}

#[test]
fn a_peak_above_one_items_budget_gets_the_sharding_advice_with_the_table_ceilings() {
    let p = estimate(
        &traffic(10e6, 1500.0),
        &unthrottled(),
        &measured(),
        &figures(),
    );
    assert_eq!(p.binding_limit, Some(LimitKind::DynamoDbItemThroughput));
    let advice = p
        .warnings
        .iter()
        .find(|w| w.kind == WarningKind::ItemSharding)
        .expect("sharding advice");
    for needle in [
        "write sharding",
        "no longer a unique",
        "4,000",
        "2× the previous peak",
        "40,000",
    ] {
        assert!(
            advice.message.contains(needle),
            "{needle}: {}",
            advice.message
        );
    }
    assert!(
        !p.warnings
            .iter()
            .any(|w| w.kind == WarningKind::PeakAboveLimit)
    );
}

/// 3 consistent reads a visit: 40 M requests; 30 M read units × $0.125 =
/// $3.75; a visit takes 1 + 3 × 1,000/3,000 = 2 write-unit equivalents of
/// the item, which then binds at 500 visits/s.
#[test]
fn reads_cost_read_units_and_share_the_items_budget() {
    let t = Traffic {
        reads_per_visit: 3.0,
        ..traffic(10e6, 100.0)
    };
    let p = estimate(&t, &unthrottled(), &measured(), &figures());
    assert!(close(usd(&p, CostItem::DynamoDbReads), 3.75, 1e-9));
    assert!(close(usd(&p, CostItem::ApiGateway), 40.0, 1e-9));
    let item = p
        .limit(LimitKind::DynamoDbItemThroughput)
        .expect("item row");
    assert!(close(item.binds_at_visits_per_second, 500.0, 1e-9));
    assert!(close(item.needed_at_peak, 200.0, 1e-9));
}

/// 400 M requests on the HTTP API: 300 M × $1.00 + 100 M × $0.90 = $390.
/// REST on x86_64 at 512 MB, 1 M visits, 20 ms: $3.50 and
/// 1e6 × 0.020 s × 0.5 GB = 10,000 GB-s × $0.0000166667 = $0.166667.
#[test]
fn volume_tiers_apply_where_the_profile_crosses_them() {
    let f = figures();
    let p = estimate(&traffic(400e6, 200.0), &unthrottled(), &measured(), &f);
    assert!(close(usd(&p, CostItem::ApiGateway), 390.0, 1e-6));
    assert_eq!(
        p.cost(CostItem::ApiGateway).expect("api").basis,
        "400 M requests tiered"
    );
    let s = Stack {
        api: ApiKind::Rest,
        arch: Arch::X86_64,
        memory_mb: 512.0,
        ..unthrottled()
    };
    let m = Measured {
        function_ms: 20.0,
        ..measured()
    };
    let p = estimate(&traffic(1e6, 5.0), &s, &m, &f);
    assert!(close(usd(&p, CostItem::ApiGateway), 3.5, 1e-9));
    assert!(close(usd(&p, CostItem::LambdaDuration), 0.166_667, 1e-9));
}

/// Reserved concurrency 5 at 200 ms: 5 ÷ 0.2 s = 25 visits/s, before its
/// request cap of 10 × 5 = 50/s.
#[test]
fn a_low_reserved_concurrency_binds_instead() {
    let s = Stack {
        reserved_concurrency: Some(5.0),
        ..unthrottled()
    };
    let m = Measured {
        function_ms: 200.0,
        ..measured()
    };
    let p = estimate(&traffic(1e6, 80.0), &s, &m, &figures());
    assert_eq!(p.binding_limit, Some(LimitKind::LambdaConcurrency));
    let conc = p.limit(LimitKind::LambdaConcurrency).expect("row");
    assert!(close(conc.binds_at_visits_per_second, 25.0, 1e-9));
    assert!(close(
        p.limit(LimitKind::LambdaRequestRate).expect("cap").capacity,
        50.0,
        1e-9
    ));
}

#[test]
fn what_the_measurements_are_worth_is_said_by_kind() {
    let m = Measured {
        basis: DurationBasis::ClientLatency,
        local_stage: true,
        demonstrated_rps: Some(10.0),
        ..measured()
    };
    let s = Stack {
        log_retention_days: None,
        ..template_stack()
    };
    let p = estimate(&traffic(1e6, 20.0), &s, &m, &figures());
    let kinds: Vec<WarningKind> = p.warnings.iter().map(|w| w.kind).collect();
    for k in [
        WarningKind::LocalStage,
        WarningKind::ClientLatency,
        WarningKind::LogsNeverExpire,
    ] {
        assert!(kinds.contains(&k), "{k:?} in {kinds:?}");
    }
    assert!(
        !kinds.contains(&WarningKind::BeyondDemonstrated),
        "a local stage's capacity describes the machine, not the stack"
    );
    let real = Measured {
        local_stage: false,
        ..m
    };
    let p = estimate(&traffic(1e6, 20.0), &s, &real, &figures());
    assert!(
        p.warnings
            .iter()
            .any(|w| w.kind == WarningKind::BeyondDemonstrated)
    );
}

#[test]
fn numbers_read_as_people_write_them() {
    assert_eq!(num(10_000_000.0, 0), "10,000,000");
    assert_eq!(num(1234.5678, 2), "1,234.57");
    assert_eq!(num(0.125, 6), "0.125");
    assert_eq!(num(999.0, 3), "999");
    assert_eq!(price(1.0), "$1.00");
    assert_eq!(price(0.625), "$0.625");
    assert_eq!(price(0.000_013_333_4), "$0.0000133334");
}

/// infra/template.yaml's stage: POST /visits 200/s (burst 15) and three
/// routes at 5/s (burst 10): 215 requests/s, buckets of 45.
fn template_ceiling() -> StageCeiling {
    StageCeiling {
        routes: 4,
        rate: 215.0,
        burst: 45.0,
        write_rate: 200.0,
    }
}

/// The worked example's 10 M visits with the per-client limit on: the web
/// ACL and its rule $5 + $1, its requests 10 M × $0.60 = $6.00, the API's
/// requests through CloudFront 10 M × $1.00 = $10.00: $22.00 on top of
/// $22.248040. With the free tier, CloudFront's 10 M requests are free.
#[test]
fn the_per_client_limit_is_priced_when_on() {
    let on = Stack {
        per_client_limit: Some(300.0),
        ..template_stack()
    };
    let f = figures();
    let p = estimate(&traffic(10e6, 100.0), &on, &measured(), &f);
    assert!(close(usd(&p, CostItem::WafWebAcl), 6.0, 1e-9));
    assert!(close(usd(&p, CostItem::WafRequests), 6.0, 1e-9));
    assert!(close(usd(&p, CostItem::CloudFrontRequests), 10.0, 1e-9));
    assert!(
        close(p.total_usd_per_month, 44.248040, 1e-5),
        "{}",
        p.total_usd_per_month
    );
    let off = estimate(&traffic(10e6, 100.0), &template_stack(), &measured(), &f);
    assert!(
        off.cost(CostItem::WafWebAcl).is_none(),
        "off: not in the bill"
    );
    let free = Traffic {
        free_tier: true,
        ..traffic(10e6, 100.0)
    };
    let p = estimate(&free, &on, &measured(), &f);
    assert!(close(usd(&p, CostItem::CloudFrontRequests), 0.0, 1e-12));
    assert!(
        close(usd(&p, CostItem::WafWebAcl), 6.0, 1e-9),
        "no free tier for WAF"
    );
}

/// A month at the template's whole ceiling: 215 × 2,629,800 = 565,407,000
/// requests. API Gateway: 300 M × $1.00 + 265.407 M × $0.90 = $538.8663;
/// Lambda requests 565.407 M × $0.20 = $113.0814; writes 200 × 2,629,800
/// = 525,960,000 × $0.625/M = $328.725; the other routes' 15/s as reads:
/// 39,447,000 × $0.125/M = $4.930875; each log line at its bound (753 B).
#[test]
fn the_worst_case_bills_every_route_at_its_throttle_all_month() {
    let s = Stack {
        stage_ceiling: Some(template_ceiling()),
        ..template_stack()
    };
    let p = estimate(&traffic(1e6, 10.0), &s, &measured(), &figures());
    let w = p.worst_case.as_ref().expect("a worst case");
    assert!(close(w.requests_per_month, 565_407_000.0, 1e-3));
    let line = |item| {
        w.costs
            .iter()
            .find(|c| c.item == item)
            .expect("a line")
            .usd_per_month
    };
    assert!(close(line(CostItem::ApiGateway), 538.8663, 1e-6));
    assert!(close(line(CostItem::LambdaRequests), 113.0814, 1e-6));
    assert!(close(line(CostItem::DynamoDbWrites), 328.725, 1e-6));
    assert!(close(line(CostItem::DynamoDbReads), 4.930875, 1e-6));
    let logs = w
        .costs
        .iter()
        .find(|c| c.item == CostItem::LogsIngestion)
        .expect("logs");
    assert!(
        logs.explain[0].contains("(753 B, measured)"),
        "{:?}",
        logs.explain
    );
    assert!(w.total_usd_per_month > 1000.0 * p.total_usd_per_month / 100.0);
    assert!(
        w.explain[0].contains("4 routes, 215 requests/s"),
        "{:?}",
        w.explain
    );

    // Without a ceiling (no template), no worst case is claimed.
    let p = estimate(
        &traffic(1e6, 10.0),
        &template_stack(),
        &measured(),
        &figures(),
    );
    assert!(p.worst_case.is_none());
    // With the per-client limit on, the edge's unbounded part is said.
    let on = Stack {
        per_client_limit: Some(300.0),
        ..s
    };
    let p = estimate(&traffic(1e6, 10.0), &on, &measured(), &figures());
    assert!(p.warnings.iter().any(|w| w.kind == WarningKind::WorstCase));
    let w = p.worst_case.expect("a worst case");
    assert!(w.costs.iter().any(|c| c.item == CostItem::WafRequests));
}

/// The template's ceiling needs 45 + 215 × d concurrent executions: at the
/// measured 7.4 ms that is 46.6 of 60 reserved; at 400 ms, 131: the limits
/// disagree, and the plan says so.
#[test]
fn limits_that_disagree_at_the_measured_duration_are_warned() {
    let s = Stack {
        stage_ceiling: Some(template_ceiling()),
        reserved_concurrency: Some(60.0),
        ..template_stack()
    };
    let disagree = |p: &CapacityPlan| {
        p.warnings
            .iter()
            .any(|w| w.kind == WarningKind::LimitsDisagree)
    };
    let fast = estimate(&traffic(1e6, 10.0), &s, &measured(), &figures());
    assert!(!disagree(&fast), "{:?}", fast.warnings);
    let slow = Measured {
        function_ms: 400.0,
        ..measured()
    };
    let p = estimate(&traffic(1e6, 10.0), &s, &slow, &figures());
    assert!(disagree(&p), "{:?}", p.warnings);
    let w = p
        .warnings
        .iter()
        .find(|w| w.kind == WarningKind::LimitsDisagree)
        .expect("warned");
    assert!(
        w.message.contains("= 131 concurrent executions"),
        "{}",
        w.message
    );
}

/// The dollar amounts an explain line works out ("= $1,333.34").
fn dollars_worked_out(explain: &[String]) -> f64 {
    explain
        .iter()
        .filter_map(|l| l.split_once("= $"))
        .map(|(_, rest)| {
            let figure: String = rest
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ',')
                .filter(|c| *c != ',')
                .collect();
            figure.parse::<f64>().expect("a dollar figure")
        })
        .sum()
}

/// Every line's explain ends in its price arithmetic, whatever prices it
/// (tiers, per million, a monthly fee, on top of another line), and with
/// the free tier taken off first; its amounts add up to what it bills.
#[test]
fn every_lines_arithmetic_adds_up_to_what_it_bills() {
    let f = figures();
    let on = Stack {
        per_client_limit: Some(300.0),
        ..template_stack()
    };
    for visits in [0.0, 1e6, 10e6, 4e8, 5e10] {
        for free_tier in [false, true] {
            let t = Traffic {
                free_tier,
                reads_per_visit: 1.0,
                ..traffic(visits, 100.0)
            };
            let p = estimate(&t, &on, &measured(), &f);
            assert_eq!(p.costs.len(), 12);
            for c in &p.costs {
                let worked = dollars_worked_out(&c.explain);
                let tolerance = 1e-5 * c.explain.len() as f64 + 1e-9 * c.usd_per_month;
                assert!(
                    close(worked, c.usd_per_month, tolerance),
                    "{visits} visits, free tier {free_tier}: {} bills {} but works out {worked}: {:?}",
                    c.service,
                    c.usd_per_month,
                    c.explain
                );
                let said = c.explain.iter().any(|l| l.starts_with("free tier"));
                assert!(free_tier || !said, "{:?}", c.explain);
                assert!(said || c.free_quantity == 0.0, "{:?}", c.explain);
            }
        }
    }
}

/// Init is billed on duration's GB-second meter, from where duration left
/// off: 37 billion invocations of 200 ms at 1 GB are 7.4e9 GB-s of
/// duration; half of them cold with 200 ms of init add 3.7e9 GB-s, of
/// which 0.1e9 fill the first tier (7.5e9 at $0.0000133334 = $1,333.34)
/// and 3.6e9 fall in the second ($0.0000120001: $43,200.36).
#[test]
fn init_is_priced_on_top_of_duration_in_the_tiers_it_reaches() {
    let mut f = figures();
    f.footprint.init_ms_arm64 = 200.0;
    let s = Stack {
        memory_mb: 1024.0,
        ..unthrottled()
    };
    let m = Measured {
        function_ms: 200.0,
        basis: DurationBasis::Given,
        ..measured()
    };
    let t = Traffic {
        cold_start_rate: 0.5,
        ..traffic(3.7e10, 20_000.0)
    };
    let p = estimate(&t, &s, &m, &f);
    let duration = p.cost(CostItem::LambdaDuration).expect("duration");
    assert!(close(duration.quantity, 7.4e9, 1e-3));
    let init = p.cost(CostItem::LambdaInit).expect("init");
    assert!(close(init.quantity, 3.7e9, 1e-3));
    assert!(
        close(init.usd_per_month, 1_333.34 + 43_200.36, 1e-6),
        "{}",
        init.usd_per_month
    );
    assert!(init.basis.ends_with("tiered"), "{}", init.basis);
    for tier in [
        "100,000,000 GB-s × $0.0000133334 = $1,333.34",
        "3,600,000,000 GB-s × $0.0000120001 = $43,200.36",
    ] {
        assert!(
            init.explain.iter().any(|l| l == tier),
            "{tier}: {:?}",
            init.explain
        );
    }
}
