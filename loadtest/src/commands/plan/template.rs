//! The deployed stack's shape, from the SAM template as the workspace's
//! one reader reads it ([`sam_template`]): the function's memory,
//! architecture, timeout and reserved concurrency, the API's kind, its
//! default route throttle and every route with its own, the log group's
//! retention, the per-client limit (an AWS WAF web ACL). Parameters take
//! their defaults, or the values `--parameter NAME=VALUE` gives them, and
//! a resource's `Condition` is evaluated on them. This module only maps
//! the reader's model into the cost model's ([`crate::analysis::cost`]).

use std::path::Path;

use sam_template::{Architecture, Template, TemplateError};

use crate::analysis::cost::{ApiKind, Arch, Stack, StageCeiling, Throttle};

/// What a template says: the stack it deploys (fields it leaves out mean
/// what AWS does without them: no throttle, no reserved concurrency, logs
/// kept), and its routes, from which the stage's ceiling is worked out
/// again when a flag changes the default route throttle.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateShape {
    /// Its `stage_ceiling`: every route at its own throttle, or the
    /// template's default one.
    pub stack: Stack,
    /// Every route of the API (HTTP API events of the function), with the
    /// throttle of its own, if it has one.
    pub routes: Vec<Route>,
}

/// One route (`POST /visits`, `ANY /{proxy+}`) and its own throttle
/// (`None`: the stage's default).
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub key: String,
    pub throttle: Option<Throttle>,
}

/// Reads `path` with the parameters at their defaults but for
/// `overrides` (a name the template has no parameter for is refused).
/// `account`: API Gateway's account throttle, for a figure a route's
/// throttle leaves out.
pub fn read(
    path: &Path,
    overrides: &[(String, String)],
    account: sam_template::Throttle,
) -> Result<TemplateShape, TemplateError> {
    shape(&Template::read_with(path, overrides)?, account)
}

/// The stack a read template deploys.
pub fn shape(
    t: &Template,
    account: sam_template::Throttle,
) -> Result<TemplateShape, TemplateError> {
    let api = t.api()?;
    let function = t.function()?;
    // A throttle that gives one figure and leaves out the other takes the
    // account's for it, as the emulated stage does.
    let throttle = |th: sam_template::ThrottleSetting| {
        let th = th.or_account(account);
        Throttle {
            rate: th.rate,
            burst: th.burst,
        }
    };
    let route_throttle = api.default_throttle.map(throttle);
    let routes: Vec<Route> = api
        .routes
        .iter()
        .map(|r| Route {
            key: r.key.key(),
            throttle: r.own_throttle.map(throttle),
        })
        .collect();
    let stack = Stack {
        api: match api.kind {
            sam_template::ApiKind::Http => ApiKind::Http,
            sam_template::ApiKind::Rest => ApiKind::Rest,
        },
        arch: match function.architecture {
            Architecture::Arm64 => Arch::Arm64,
            Architecture::X86_64 => Arch::X86_64,
        },
        memory_mb: f64::from(function.memory_mb),
        timeout_s: function.timeout.as_secs_f64(),
        route_throttle,
        reserved_concurrency: function.reserved_concurrency.map(f64::from),
        log_retention_days: t.log_retention_days()?.map(f64::from),
        stage_ceiling: ceiling(&routes, route_throttle),
        // Requests to /visits per client IP in 5 minutes, when the
        // template's web ACL is on at the parameters' values.
        per_client_limit: t.per_client_limit()?.map(|l| l as f64),
    };
    Ok(TemplateShape { stack, routes })
}

/// Every route at its own throttle, or the default one (the counting
/// route's): the stage's whole ceiling. `None` when there is no route, or
/// a route has no throttle at all.
pub fn ceiling(routes: &[Route], default: Option<Throttle>) -> Option<StageCeiling> {
    if routes.is_empty() {
        return None;
    }
    let mut c = StageCeiling {
        routes: u32::try_from(routes.len()).unwrap_or(u32::MAX),
        rate: 0.0,
        burst: 0.0,
        write_rate: 0.0,
    };
    for r in routes {
        let th = r.throttle.or(default)?;
        c.rate += th.rate;
        c.burst += th.burst;
        if r.key == "POST /visits" {
            c.write_rate = th.rate;
        }
    }
    Some(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A template's text, read with the parameters at their defaults but
    /// for `overrides`.
    fn parse_with(text: &str, overrides: &[(String, String)]) -> Result<TemplateShape, String> {
        Template::parse_with(text, Path::new("t.yaml"), overrides)
            .and_then(|t| shape(&t, ACCOUNT))
            .map_err(|e| e.to_string())
    }

    /// A template's text, read with the parameters at their defaults.
    fn parse(text: &str) -> Result<TemplateShape, String> {
        parse_with(text, &[])
    }

    const REPO_TEMPLATE: &str = include_str!("../../../../infra/template.yaml");

    /// API Gateway's account throttle (the price book's figures).
    const ACCOUNT: sam_template::Throttle = sam_template::Throttle {
        rate: 10_000.0,
        burst: 5_000.0,
    };

    #[test]
    fn a_throttle_given_by_half_takes_the_accounts_other_figure() {
        let text = "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      Events:\n        P:\n          Type: HttpApi\n          Properties: {ApiId: !Ref A, Method: POST, Path: /visits}\n  A:\n    Type: AWS::Serverless::HttpApi\n    Properties:\n      DefaultRouteSettings: {ThrottlingRateLimit: 50}\n";
        let s = parse(text).expect("parses").stack;
        assert_eq!(
            s.route_throttle,
            Some(Throttle {
                rate: 50.0,
                burst: 5_000.0
            })
        );
    }

    #[test]
    fn the_repositorys_template_reads_as_deployed() {
        let shape = parse(REPO_TEMPLATE).expect("the template parses");
        let s = shape.stack;
        assert_eq!(s.api, ApiKind::Http);
        assert_eq!(s.arch, Arch::Arm64);
        assert_eq!((s.memory_mb, s.timeout_s), (128.0, 6.0));
        assert_eq!(
            s.route_throttle,
            Some(Throttle {
                rate: 200.0,
                burst: 15.0
            })
        );
        // The ReservedConcurrency parameter's default (sized in the template).
        assert_eq!(s.reserved_concurrency, Some(60.0));
        assert_eq!(s.log_retention_days, Some(30.0));
        // Four routes; the three besides POST /visits with their own throttle.
        let keys: Vec<&str> = shape.routes.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "POST /visits",
                "GET /visits",
                "OPTIONS /visits",
                "ANY /{proxy+}"
            ]
        );
        assert_eq!(shape.routes[0].throttle, None, "POST keeps the default");
        for r in &shape.routes[1..] {
            assert_eq!(
                r.throttle,
                Some(Throttle {
                    rate: 5.0,
                    burst: 10.0
                }),
                "{}",
                r.key
            );
        }
        assert_eq!(s.per_client_limit, None, "the web ACL is off by default");
        assert_eq!(
            s.stage_ceiling,
            Some(StageCeiling {
                routes: 4,
                rate: 215.0,
                burst: 45.0,
                write_rate: 200.0
            }),
            "200/s on POST /visits and 5/s on each of the three others"
        );
    }

    #[test]
    fn a_web_acl_counts_only_when_its_condition_holds_at_the_defaults() {
        let on = [("PerClientLimit".to_owned(), "300".to_owned())];
        assert_eq!(
            parse_with(REPO_TEMPLATE, &on)
                .expect("parses")
                .stack
                .per_client_limit,
            Some(300.0)
        );
        let bad = "Conditions:\n  C:\n    Fn::Whatever: []\nResources:\n  F:\n    Type: AWS::Serverless::Function\n  A:\n    Type: AWS::Serverless::HttpApi\n  W:\n    Type: AWS::WAFv2::WebACL\n    Condition: C\n";
        assert!(parse(bad).expect_err("refused").contains("cannot evaluate"));
    }

    #[test]
    fn a_bare_template_means_what_aws_does_without_the_settings() {
        let s = parse(
            "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      ReservedConcurrentExecutions: \"5\"\n  A:\n    Type: AWS::Serverless::Api\n",
        )
        .expect("parses")
        .stack;
        assert_eq!((s.api, s.arch), (ApiKind::Rest, Arch::X86_64));
        assert_eq!((s.memory_mb, s.timeout_s), (128.0, 3.0));
        assert_eq!(s.route_throttle, None);
        assert_eq!(s.reserved_concurrency, Some(5.0));
        assert_eq!(s.log_retention_days, None);
    }

    #[test]
    fn a_template_without_a_function_or_with_nonsense_is_refused() {
        assert!(parse("Resources: {}").is_err());
        assert!(parse(": : :").is_err());
        let bad = "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      MemorySize: lots\n  A:\n    Type: AWS::Serverless::HttpApi\n";
        assert!(parse(bad).expect_err("refused").contains("lots"));
    }
}
