//! The deployed stack's shape, read from a SAM template: the function's
//! memory, architecture, timeout and reserved concurrency, the API's kind,
//! its default route throttle and every route with its own, the log
//! group's retention, the per-client limit (an AWS WAF web ACL). `Ref`s to
//! parameters resolve to the parameters' defaults, and a resource's
//! `Condition` is evaluated on them (overrides given at deploy time are not
//! in the file).

use std::path::{Path, PathBuf};

use serde_yaml_ng::Value;

use crate::analysis::cost::{ApiKind, Arch, Stack, StageCeiling, Throttle};

/// Where `plan` looks, from the current directory up to the git root.
pub const RELATIVE_PATH: &str = "infra/template.yaml";

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

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("reading {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("{0}: {1}")]
    Shape(PathBuf, String),
}

/// `infra/template.yaml` in `start` or a directory above it, stopping at
/// the first directory that holds `.git` (the repository's root).
pub fn find(start: &Path) -> Option<PathBuf> {
    for dir in start.ancestors() {
        let candidate = dir.join(RELATIVE_PATH);
        if candidate.is_file() {
            return Some(candidate);
        }
        if dir.join(".git").exists() {
            break;
        }
    }
    None
}

pub fn read(path: &Path) -> Result<TemplateShape, TemplateError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| TemplateError::Read(path.to_owned(), e))?;
    parse(&text).map_err(|e| TemplateError::Shape(path.to_owned(), e))
}

/// Parses a template's text.
pub fn parse(text: &str) -> Result<TemplateShape, String> {
    let doc: Value = serde_yaml_ng::from_str(text).map_err(|e| format!("not YAML: {e}"))?;
    let t = Template { doc: &doc };
    let function = t
        .resource(&["AWS::Serverless::Function", "AWS::Lambda::Function"])
        .ok_or("no AWS::Serverless::Function resource")?;
    let global = &doc["Globals"]["Function"];
    let setting = |key: &str| -> Result<Option<f64>, String> {
        match t.number(&function["Properties"][key])? {
            Some(v) => Ok(Some(v)),
            None => t.number(&global[key]),
        }
    };
    let arch = match t
        .resolve(&function["Properties"]["Architectures"][0])
        .as_str()
    {
        Some("arm64") => Arch::Arm64,
        Some("x86_64") | None => Arch::X86_64,
        Some(other) => return Err(format!("unknown architecture {other:?}")),
    };
    let (api, route_throttle) = t.api()?;
    let routes = t.routes(function)?;
    // Requests to /visits per client IP in 5 minutes, when the template's
    // web ACL is on at the parameters' defaults.
    let per_client_limit = t.per_client_limit()?;
    let stack = Stack {
        api,
        arch,
        // Lambda's defaults when a template leaves them out.
        memory_mb: setting("MemorySize")?.unwrap_or(128.0),
        timeout_s: setting("Timeout")?.unwrap_or(3.0),
        route_throttle,
        reserved_concurrency: setting("ReservedConcurrentExecutions")?,
        log_retention_days: match t.resource(&["AWS::Logs::LogGroup"]) {
            Some(group) => t.number(&group["Properties"]["RetentionInDays"])?,
            None => None,
        },
        stage_ceiling: ceiling(&routes, route_throttle),
        per_client_limit,
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

struct Template<'a> {
    doc: &'a Value,
}

impl<'a> Template<'a> {
    /// The first resource of one of these types.
    fn resource(&self, types: &[&str]) -> Option<&'a Value> {
        self.doc["Resources"]
            .as_mapping()?
            .values()
            .find(|r| r["Type"].as_str().is_some_and(|t| types.contains(&t)))
    }

    /// A `Ref` to a parameter becomes the parameter's default.
    fn resolve<'v>(&'v self, v: &'v Value) -> &'v Value {
        match v["Ref"].as_str() {
            Some(name) => &self.doc["Parameters"][name]["Default"],
            None => v,
        }
    }

    fn number(&self, v: &'a Value) -> Result<Option<f64>, String> {
        let v = self.resolve(v);
        match v {
            Value::Null => Ok(None),
            Value::Number(n) => Ok(n.as_f64()),
            Value::String(s) => s
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| format!("{s:?} is not a number")),
            other => Err(format!("{other:?} is not a number")),
        }
    }

    /// The function's HTTP API routes, each with the throttle the API's
    /// `RouteSettings` give it.
    fn routes(&self, function: &'a Value) -> Result<Vec<Route>, String> {
        let settings = self
            .resource(&["AWS::Serverless::HttpApi"])
            .map(|api| &api["Properties"]["RouteSettings"]);
        let Some(events) = function["Properties"]["Events"].as_mapping() else {
            return Ok(vec![]);
        };
        let mut routes = Vec::new();
        for e in events
            .values()
            .filter(|e| e["Type"].as_str() == Some("HttpApi"))
        {
            let method = e["Properties"]["Method"].as_str().unwrap_or("ANY");
            let path = e["Properties"]["Path"].as_str().unwrap_or("");
            let key = format!("{} {path}", method.to_uppercase());
            let own = settings.map(|s| &s[key.as_str()]);
            let throttle = match own {
                Some(own) if !own.is_null() => {
                    let rate = self.number(&own["ThrottlingRateLimit"])?;
                    let burst = self.number(&own["ThrottlingBurstLimit"])?;
                    rate.map(|rate| Throttle {
                        rate,
                        burst: burst.unwrap_or(rate),
                    })
                }
                _ => None,
            };
            routes.push(Route { key, throttle });
        }
        Ok(routes)
    }

    /// The first WAF web ACL's rate-based limit, if the web ACL exists at
    /// the parameters' defaults.
    fn per_client_limit(&self) -> Result<Option<f64>, String> {
        let Some(acl) = self.resource(&["AWS::WAFv2::WebACL"]) else {
            return Ok(None);
        };
        if let Some(name) = acl["Condition"].as_str()
            && !self.condition(name, 0)?
        {
            return Ok(None);
        }
        let rules = acl["Properties"]["Rules"]
            .as_sequence()
            .map_or(&[][..], Vec::as_slice);
        for rule in rules {
            let limit = &rule["Statement"]["RateBasedStatement"]["Limit"];
            if !limit.is_null() {
                return Ok(self.number(limit)?.filter(|l| *l > 0.0));
            }
        }
        Ok(None)
    }

    /// A named condition, evaluated on the parameters' defaults.
    fn condition(&self, name: &str, depth: u8) -> Result<bool, String> {
        if depth > 16 {
            return Err(format!("condition {name} nests too deep"));
        }
        let c = &self.doc["Conditions"][name];
        if c.is_null() {
            return Err(format!("no condition {name}"));
        }
        self.truth(c, depth + 1)
    }

    fn truth(&self, c: &Value, depth: u8) -> Result<bool, String> {
        let args = |f: &str| -> &[Value] { c[f].as_sequence().map_or(&[], Vec::as_slice) };
        let cannot = || format!("cannot evaluate condition {c:?}");
        if let Some(name) = c["Condition"].as_str() {
            return self.condition(name, depth);
        }
        if !c["Fn::Equals"].is_null() {
            let text = |v: &Value| match self.resolve(v) {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                Value::Bool(b) => Some(b.to_string()),
                _ => None,
            };
            return match args("Fn::Equals") {
                [a, b] => match (text(a), text(b)) {
                    (Some(x), Some(y)) => Ok(x == y),
                    _ => Err(cannot()),
                },
                _ => Err(cannot()),
            };
        }
        if let [inner] = args("Fn::Not") {
            return Ok(!self.truth(inner, depth)?);
        }
        for (f, all) in [("Fn::And", true), ("Fn::Or", false)] {
            if !c[f].is_null() {
                let mut result = all;
                for x in args(f) {
                    let v = self.truth(x, depth)?;
                    result = if all { result && v } else { result || v };
                }
                return Ok(result);
            }
        }
        Err(cannot())
    }

    /// The API's kind and its default route (or method) throttle.
    fn api(&self) -> Result<(ApiKind, Option<Throttle>), String> {
        let (kind, settings) = if let Some(http) = self.resource(&["AWS::Serverless::HttpApi"]) {
            (ApiKind::Http, &http["Properties"]["DefaultRouteSettings"])
        } else if let Some(rest) = self.resource(&["AWS::Serverless::Api"]) {
            (ApiKind::Rest, &rest["Properties"]["MethodSettings"][0])
        } else {
            return Err("no AWS::Serverless::HttpApi or AWS::Serverless::Api resource".into());
        };
        let rate = self.number(&settings["ThrottlingRateLimit"])?;
        let burst = self.number(&settings["ThrottlingBurstLimit"])?;
        Ok((
            kind,
            rate.map(|rate| Throttle {
                rate,
                burst: burst.unwrap_or(rate),
            }),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPO_TEMPLATE: &str = include_str!("../../../../infra/template.yaml");

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
        let on = REPO_TEMPLATE.replacen(
            "  PerClientLimit:\n    Type: Number\n    Default: 0",
            "  PerClientLimit:\n    Type: Number\n    Default: 300",
            1,
        );
        assert_ne!(on, REPO_TEMPLATE, "the parameter's default was found");
        assert_eq!(
            parse(&on).expect("parses").stack.per_client_limit,
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

    #[test]
    fn the_search_stops_at_the_git_root() {
        let tmp = tempfile::tempdir().expect("tmp");
        let root = tmp.path();
        std::fs::create_dir_all(root.join("repo/.git")).expect("git");
        std::fs::create_dir_all(root.join("repo/a/b")).expect("dirs");
        std::fs::create_dir_all(root.join("infra")).expect("infra");
        std::fs::write(root.join("infra/template.yaml"), "x").expect("outside");
        assert_eq!(find(&root.join("repo/a/b")), None, "not above the git root");
        std::fs::create_dir_all(root.join("repo/infra")).expect("infra");
        std::fs::write(root.join("repo/infra/template.yaml"), "x").expect("inside");
        assert_eq!(
            find(&root.join("repo/a/b")),
            Some(root.join("repo/infra/template.yaml"))
        );
    }
}
