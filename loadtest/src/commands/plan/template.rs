//! The deployed stack's shape, read from a SAM template: the function's
//! memory, architecture, timeout and reserved concurrency, the API's kind
//! and route throttle, the log group's retention. `Ref`s to parameters
//! resolve to the parameters' defaults (overrides given at deploy time are
//! not in the file).

use std::path::{Path, PathBuf};

use serde_yaml_ng::Value;

use crate::analysis::cost::{ApiKind, Arch, Throttle};

/// Where `plan` looks, from the current directory up to the git root.
pub const RELATIVE_PATH: &str = "infra/template.yaml";

/// What a template says. Fields a template may leave out mean what AWS
/// does without them (no throttle, no reserved concurrency, logs kept).
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateShape {
    pub api: ApiKind,
    pub arch: Arch,
    pub memory_mb: f64,
    pub timeout_s: f64,
    pub route_throttle: Option<Throttle>,
    pub reserved_concurrency: Option<f64>,
    pub log_retention_days: Option<f64>,
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
    Ok(TemplateShape {
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
    })
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
    fn resolve(&self, v: &'a Value) -> &'a Value {
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
        let s = parse(REPO_TEMPLATE).expect("the template parses");
        assert_eq!(s.api, ApiKind::Http);
        assert_eq!(s.arch, Arch::Arm64);
        assert_eq!((s.memory_mb, s.timeout_s), (128.0, 6.0));
        assert_eq!(
            s.route_throttle,
            Some(Throttle {
                rate: 200.0,
                burst: 400.0
            })
        );
        // The ReservedConcurrency parameter's default (sized in the template).
        assert_eq!(s.reserved_concurrency, Some(50.0));
        assert_eq!(s.log_retention_days, Some(30.0));
    }

    #[test]
    fn a_bare_template_means_what_aws_does_without_the_settings() {
        let s = parse(
            "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      ReservedConcurrentExecutions: \"5\"\n  A:\n    Type: AWS::Serverless::Api\n",
        )
        .expect("parses");
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
