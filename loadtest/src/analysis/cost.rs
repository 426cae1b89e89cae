//! The cost and limits model: from a traffic profile and what a run
//! measured, to a monthly bill by service and the headroom to each limit.
//!
//! Pure. Prices and limits are inputs ([`Prices`], [`Quotas`]) whose
//! defaults are documented (README, "Capacity planning") and can be
//! replaced from a JSON file; nothing here is a buried constant.

use serde::{Deserialize, Serialize};

/// USD prices. Defaults: AWS us-east-1 list prices (2025–2026), free tiers
/// ignored. Sources: aws.amazon.com/lambda/pricing,
/// aws.amazon.com/api-gateway/pricing, aws.amazon.com/dynamodb/pricing/on-demand,
/// aws.amazon.com/ec2/pricing/on-demand (data transfer).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Prices {
    pub lambda_per_million_requests: f64,
    pub lambda_per_gb_second_arm64: f64,
    pub lambda_per_gb_second_x86_64: f64,
    /// Lambda bills duration in 1 ms steps.
    pub lambda_billing_granularity_ms: f64,
    pub http_api_per_million: f64,
    pub rest_api_per_million: f64,
    /// On-demand: one write of an item up to 1 KB is one write request unit.
    pub dynamodb_per_million_write_units: f64,
    pub dynamodb_per_million_read_units: f64,
    pub data_transfer_out_per_gb: f64,
}

impl Default for Prices {
    fn default() -> Self {
        Self {
            lambda_per_million_requests: 0.20,
            lambda_per_gb_second_arm64: 0.000_013_333_4,
            lambda_per_gb_second_x86_64: 0.000_016_666_7,
            lambda_billing_granularity_ms: 1.0,
            http_api_per_million: 1.00,
            rest_api_per_million: 3.50,
            dynamodb_per_million_write_units: 0.625,
            dynamodb_per_million_read_units: 0.125,
            data_transfer_out_per_gb: 0.09,
        }
    }
}

/// Service limits. Defaults: AWS's documented defaults (the account ones
/// can be raised on request; the per-partition one cannot).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Quotas {
    /// One item lives in one partition: 1,000 write units a second.
    pub dynamodb_partition_writes_per_second: f64,
    /// Lambda concurrent executions per account and region.
    pub lambda_account_concurrency: f64,
    /// API Gateway requests a second per account and region (steady state).
    pub api_gateway_account_rps: f64,
    /// API Gateway burst.
    pub api_gateway_account_burst: f64,
}

impl Default for Quotas {
    fn default() -> Self {
        Self {
            dynamodb_partition_writes_per_second: 1000.0,
            lambda_account_concurrency: 1000.0,
            api_gateway_account_rps: 10_000.0,
            api_gateway_account_burst: 5000.0,
        }
    }
}

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

/// The traffic to plan for, and the deployment's shape.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Traffic {
    pub visits_per_month: f64,
    pub peak_visits_per_second: f64,
    pub api: ApiKind,
    pub arch: Arch,
    pub lambda_memory_mb: f64,
}

/// What a run measured that the plan needs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    /// Time a Lambda invocation takes (the run's mean latency is an upper
    /// bound: it includes the network and API Gateway).
    pub lambda_duration_ms: f64,
    /// Bytes sent back per visit (body and headers).
    pub response_bytes: f64,
    /// What the tested stage sustained (the knee, or the run's throughput).
    pub stage_capacity_rps: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostLine {
    pub service: String,
    pub usd_per_month: f64,
    /// How it was worked out, with the numbers.
    pub basis: String,
}

/// Which limit a [`LimitLine`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitKind {
    DynamoDbItemWrites,
    LambdaConcurrency,
    ApiGatewayAccountRate,
    MeasuredStageCapacity,
}

impl LimitKind {
    pub fn label(self) -> &'static str {
        match self {
            LimitKind::DynamoDbItemWrites => "DynamoDB writes/s to one item (one partition)",
            LimitKind::LambdaConcurrency => "Lambda concurrent executions (account)",
            LimitKind::ApiGatewayAccountRate => "API Gateway requests/s (account)",
            LimitKind::MeasuredStageCapacity => "measured stage capacity (this run)",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LimitLine {
    pub kind: LimitKind,
    /// [`LimitKind::label`], for readers of the JSON.
    pub limit: String,
    pub capacity: f64,
    /// What the peak needs of it, in the same unit.
    pub needed_at_peak: f64,
    /// capacity / needed: below 1 the peak does not fit.
    pub headroom: f64,
    /// Visits a second at which this limit is reached.
    pub binds_at_visits_per_second: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapacityPlan {
    pub traffic: Traffic,
    pub measured: Measured,
    pub costs: Vec<CostLine>,
    pub total_usd_per_month: f64,
    pub limits: Vec<LimitLine>,
    /// The limit reached at the lowest visit rate.
    pub binding_limit: String,
    /// Plain advice when the peak does not fit a limit.
    pub warnings: Vec<String>,
}

/// Works out the plan.
pub fn estimate(
    traffic: &Traffic,
    measured: &Measured,
    prices: &Prices,
    quotas: &Quotas,
) -> CapacityPlan {
    let costs = monthly_costs(traffic, measured, prices);
    let total = costs.iter().map(|c| c.usd_per_month).sum();
    let lines = limit_lines(traffic, measured, quotas);
    let binding = lines
        .iter()
        .min_by(|a, b| {
            a.binds_at_visits_per_second
                .total_cmp(&b.binds_at_visits_per_second)
        })
        .map(|l| l.limit.clone())
        .unwrap_or_default();
    let warnings = warnings(traffic, quotas, &lines);
    CapacityPlan {
        traffic: *traffic,
        measured: *measured,
        costs,
        total_usd_per_month: total,
        limits: lines,
        binding_limit: binding,
        warnings,
    }
}

/// The bill by service.
fn monthly_costs(traffic: &Traffic, measured: &Measured, prices: &Prices) -> Vec<CostLine> {
    let visits = traffic.visits_per_month;
    let millions = visits / 1e6;
    let billed_ms = (measured.lambda_duration_ms / prices.lambda_billing_granularity_ms).ceil()
        * prices.lambda_billing_granularity_ms;
    let gb_seconds = visits * billed_ms / 1000.0 * traffic.lambda_memory_mb / 1024.0;
    let (gb_price, arch) = match traffic.arch {
        Arch::Arm64 => (prices.lambda_per_gb_second_arm64, "arm64"),
        Arch::X86_64 => (prices.lambda_per_gb_second_x86_64, "x86_64"),
    };
    let (api_price, api_name) = match traffic.api {
        ApiKind::Http => (prices.http_api_per_million, "HTTP API"),
        ApiKind::Rest => (prices.rest_api_per_million, "REST API"),
    };
    let transfer_gb = visits * measured.response_bytes / 1e9;
    vec![
        CostLine {
            service: format!("API Gateway ({api_name})"),
            usd_per_month: millions * api_price,
            basis: format!("{millions:.3} M requests × ${api_price}/M"),
        },
        CostLine {
            service: "Lambda requests".into(),
            usd_per_month: millions * prices.lambda_per_million_requests,
            basis: format!(
                "{millions:.3} M × ${}/M",
                prices.lambda_per_million_requests
            ),
        },
        CostLine {
            service: format!("Lambda duration ({arch})"),
            usd_per_month: gb_seconds * gb_price,
            basis: format!(
                "{visits:.0} × {billed_ms} ms × {} MB = {gb_seconds:.1} GB-s × ${gb_price}",
                traffic.lambda_memory_mb
            ),
        },
        CostLine {
            service: "DynamoDB writes (on-demand)".into(),
            usd_per_month: millions * prices.dynamodb_per_million_write_units,
            basis: format!(
                "{millions:.3} M write units × ${}/M",
                prices.dynamodb_per_million_write_units
            ),
        },
        CostLine {
            service: "Data transfer out".into(),
            usd_per_month: transfer_gb * prices.data_transfer_out_per_gb,
            basis: format!(
                "{transfer_gb:.4} GB ({:.0} B a visit) × ${}/GB",
                measured.response_bytes, prices.data_transfer_out_per_gb
            ),
        },
    ]
}

fn limit_line(kind: LimitKind, capacity: f64, needed_at_peak: f64, binds_at: f64) -> LimitLine {
    LimitLine {
        kind,
        limit: kind.label().to_owned(),
        capacity,
        needed_at_peak,
        headroom: ratio(capacity, needed_at_peak),
        binds_at_visits_per_second: binds_at,
    }
}

/// Each limit: its capacity, what the peak needs, where it binds.
fn limit_lines(traffic: &Traffic, measured: &Measured, quotas: &Quotas) -> Vec<LimitLine> {
    let peak = traffic.peak_visits_per_second;
    let concurrency_per_rps = measured.lambda_duration_ms / 1000.0;
    let item = quotas.dynamodb_partition_writes_per_second;
    let concurrency = quotas.lambda_account_concurrency;
    let mut lines = vec![
        limit_line(LimitKind::DynamoDbItemWrites, item, peak, item),
        limit_line(
            LimitKind::LambdaConcurrency,
            concurrency,
            peak * concurrency_per_rps,
            ratio(concurrency, concurrency_per_rps),
        ),
        limit_line(
            LimitKind::ApiGatewayAccountRate,
            quotas.api_gateway_account_rps,
            peak,
            quotas.api_gateway_account_rps,
        ),
    ];
    if let Some(cap) = measured.stage_capacity_rps {
        lines.push(limit_line(LimitKind::MeasuredStageCapacity, cap, peak, cap));
    }
    lines
}

/// Plain advice where the peak does not fit.
fn warnings(traffic: &Traffic, quotas: &Quotas, lines: &[LimitLine]) -> Vec<String> {
    let peak = traffic.peak_visits_per_second;
    let mut warnings = Vec::new();
    let item_limit = quotas.dynamodb_partition_writes_per_second;
    if peak > item_limit {
        let shards = (peak / item_limit).ceil() as u64 * 2;
        warnings.push(format!(
            "The peak of {peak:.0} visits/s is above one DynamoDB item's write limit of {item_limit:.0}/s: \
             a single counter item will be throttled (503s) at the peak. Options: \
             (1) write sharding: spread each page's counter over N items (e.g. {shards} items `path#0`..`path#{}`), \
             ADD to a random one and sum them on read; the trade-off is that the count a visit gets back is \
             no longer a unique, ordered visitor number, and a read costs N read units; \
             (2) buffer increments (SQS or Kinesis) and apply them in batches, showing a count that lags; \
             (3) accept throttling at the peak: the site shows its fallback for those visits.",
            shards - 1
        ));
    }
    for l in lines {
        if l.headroom < 1.0 && l.kind != LimitKind::DynamoDbItemWrites {
            warnings.push(format!(
                "The peak needs {:.1} of \"{}\" but only {:.1} is available: raise the limit or expect throttling.",
                l.needed_at_peak, l.limit, l.capacity
            ));
        }
    }
    warnings
}

fn ratio(capacity: f64, needed: f64) -> f64 {
    if needed <= 0.0 {
        f64::INFINITY
    } else {
        capacity / needed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn traffic(visits: f64, peak: f64) -> Traffic {
        Traffic {
            visits_per_month: visits,
            peak_visits_per_second: peak,
            api: ApiKind::Http,
            arch: Arch::Arm64,
            lambda_memory_mb: 128.0,
        }
    }

    fn measured() -> Measured {
        Measured {
            lambda_duration_ms: 7.4,
            response_bytes: 400.0,
            stage_capacity_rps: None,
        }
    }

    fn row(p: &CapacityPlan, kind: LimitKind) -> &LimitLine {
        p.limits.iter().find(|l| l.kind == kind).expect("limit row")
    }

    fn cost(p: &CapacityPlan, prefix: &str) -> f64 {
        p.costs
            .iter()
            .find(|c| c.service.starts_with(prefix))
            .map(|c| c.usd_per_month)
            .expect("cost line")
    }

    /// Worked by hand: 10 M visits a month, HTTP API, arm64 at 128 MB,
    /// 7.4 ms billed as 8 ms, 400 B a response.
    /// - API Gateway: 10 M × $1.00 = $10.00
    /// - Lambda requests: 10 M × $0.20 = $2.00
    /// - Lambda duration: 10e6 × 0.008 s × 0.125 GB = 10,000 GB-s × $0.0000133334 = $0.133334
    /// - DynamoDB: 10 M × $0.625 = $6.25
    /// - Transfer: 10e6 × 400 B = 4 GB × $0.09 = $0.36
    /// - Total: $18.743334
    #[test]
    fn ten_million_visits_cost_what_the_hand_worked_example_says() {
        let p = estimate(
            &traffic(10e6, 20.0),
            &measured(),
            &Prices::default(),
            &Quotas::default(),
        );
        assert!((cost(&p, "API Gateway") - 10.0).abs() < 1e-9);
        assert!((cost(&p, "Lambda requests") - 2.0).abs() < 1e-9);
        assert!((cost(&p, "Lambda duration") - 0.133_334).abs() < 1e-6);
        assert!((cost(&p, "DynamoDB") - 6.25).abs() < 1e-9);
        assert!((cost(&p, "Data transfer") - 0.36).abs() < 1e-9);
        assert!((p.total_usd_per_month - 18.743_334).abs() < 1e-6);
    }

    /// REST API on x86_64 at 512 MB, 1 M visits, 20 ms:
    /// - API: 1 M × $3.50 = $3.50
    /// - duration: 1e6 × 0.020 s × 0.5 GB = 10,000 GB-s × $0.0000166667 = $0.166667
    #[test]
    fn rest_api_and_x86_use_their_own_prices() {
        let t = Traffic {
            api: ApiKind::Rest,
            arch: Arch::X86_64,
            lambda_memory_mb: 512.0,
            ..traffic(1e6, 5.0)
        };
        let m = Measured {
            lambda_duration_ms: 20.0,
            ..measured()
        };
        let p = estimate(&t, &m, &Prices::default(), &Quotas::default());
        assert!((cost(&p, "API Gateway") - 3.5).abs() < 1e-9);
        assert!((cost(&p, "Lambda duration") - 0.166_667).abs() < 1e-6);
    }

    /// At 20 visits/s with 7.4 ms each, Lambda needs 0.148 concurrent
    /// executions: it binds at 1000 / 0.0074 = 135,135 visits/s; the item
    /// binds at 1,000/s, API Gateway at 10,000/s. The item binds first.
    #[test]
    fn the_single_item_write_limit_binds_first_for_a_fast_lambda() {
        let p = estimate(
            &traffic(10e6, 20.0),
            &measured(),
            &Prices::default(),
            &Quotas::default(),
        );
        assert!(
            p.binding_limit.starts_with("DynamoDB writes/s to one item"),
            "{}",
            p.binding_limit
        );
        let lambda = row(&p, LimitKind::LambdaConcurrency);
        assert!((lambda.needed_at_peak - 0.148).abs() < 1e-9);
        assert!((lambda.binds_at_visits_per_second - 135_135.135).abs() < 0.01);
        assert!((row(&p, LimitKind::DynamoDbItemWrites).headroom - 50.0).abs() < 1e-9);
        assert!(p.warnings.is_empty());
    }

    #[test]
    fn a_peak_above_one_items_limit_is_said_plainly_with_sharding() {
        let p = estimate(
            &traffic(10e6, 1500.0),
            &measured(),
            &Prices::default(),
            &Quotas::default(),
        );
        assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
        assert!(p.warnings[0].contains("above one DynamoDB item's write limit"));
        assert!(p.warnings[0].contains("write sharding"));
        assert!(p.warnings[0].contains("no longer a unique"));
    }

    #[test]
    fn a_slow_stage_or_a_low_account_limit_binds_instead() {
        let m = Measured {
            stage_capacity_rps: Some(300.0),
            ..measured()
        };
        let p = estimate(
            &traffic(1e6, 10.0),
            &m,
            &Prices::default(),
            &Quotas::default(),
        );
        assert_eq!(p.binding_limit, "measured stage capacity (this run)");
        let low = Quotas {
            lambda_account_concurrency: 1.0,
            ..Quotas::default()
        };
        let m = Measured {
            lambda_duration_ms: 100.0,
            ..measured()
        };
        let p = estimate(&traffic(1e6, 50.0), &m, &Prices::default(), &low);
        assert!(p.binding_limit.starts_with("Lambda"), "{}", p.binding_limit);
        assert!(p.warnings.iter().any(|w| w.contains("Lambda concurrent")));
    }

    #[test]
    fn prices_and_limits_read_from_partial_json_keep_other_defaults() {
        let p: Prices = serde_json::from_str(r#"{"http_api_per_million": 1.11}"#).expect("json");
        assert_eq!(p.http_api_per_million, 1.11);
        assert_eq!(
            p.rest_api_per_million,
            Prices::default().rest_api_per_million
        );
        assert!(serde_json::from_str::<Quotas>(r#"{"typo": 1}"#).is_err());
    }
}
