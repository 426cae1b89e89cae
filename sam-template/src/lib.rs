//! The workspace's one reader of a SAM template (`infra/template.yaml`):
//! the emulated stage (`local-stage --emulate-aws`, `loadtest
//! --emulate-aws`) takes its HTTP API and function from it, `loadtest
//! plan` the deployed stack's shape.
//!
//! ```
//! use std::path::Path;
//! use sam_template::{ApiKind, Template};
//!
//! let text = r#"
//! Parameters:
//!   Reserved: {Type: Number, Default: 5}
//! Resources:
//!   Api:
//!     Type: AWS::Serverless::HttpApi
//!     Properties:
//!       StageName: prod
//!       DefaultRouteSettings: {ThrottlingRateLimit: 100, ThrottlingBurstLimit: 10}
//!   Counter:
//!     Type: AWS::Serverless::Function
//!     Properties:
//!       ReservedConcurrentExecutions: !Ref Reserved
//!       Events:
//!         Post: {Type: HttpApi, Properties: {ApiId: !Ref Api, Method: POST, Path: /visits}}
//! "#;
//! let overrides = [("Reserved".to_owned(), "7".to_owned())];
//! let t = Template::parse_with(text, Path::new("template.yaml"), &overrides)?;
//! let api = t.api()?;
//! assert_eq!((api.kind, api.stage_name.as_str()), (ApiKind::Http, "prod"));
//! assert_eq!(api.routes[0].key.key(), "POST /visits");
//! assert_eq!(api.routes[0].throttle.and_then(|th| th.rate), Some(100.0));
//! assert_eq!(t.function()?.reserved_concurrency, Some(7));
//! # Ok::<(), sam_template::TemplateError>(())
//! ```
//!
//! The document is parsed once, short forms (`!Ref`, `!Sub`, ...) read as
//! the long ones. Intrinsic functions are resolved "as far as they can
//! be" with the parameters at their defaults, or at the values given as
//! overrides, the way `sam deploy --parameter-overrides` gives them:
//! `Ref` (parameters, pseudo parameters, resources), `Fn::If` with the
//! template's `Conditions` (`Fn::Equals`, `Fn::Not`, `Fn::And`, `Fn::Or`,
//! `Condition`), `Fn::Sub` and `Fn::Join`. A text value that cannot be
//! resolved (a parameter without a default, `Fn::GetAtt`, an import) is
//! left out and named in the notes of what was read; a number (memory,
//! timeout, a throttle, concurrency, a limit) or the architecture that
//! cannot is an error that says how to give it: these size the stack, and
//! a default in their place would be another stack. An override is
//! checked against its parameter's declaration (`Type`, `AllowedValues`,
//! `MinValue`/`MaxValue`, lengths, `AllowedPattern`) as a deploy checks it.
//!
//! Only SAM's `HttpApi` events are read as routes (an
//! `AWS::Serverless::HttpApi`, or the implicit one); a REST API
//! (`AWS::Serverless::Api`) is known by its kind and default throttle.

mod parameters;
mod read;
mod resolve;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_yaml_ng::Value;

/// HTTP API's integration timeout, its maximum and its default: 30 s
/// (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-quotas.html).
pub const MAX_INTEGRATION_TIMEOUT: Duration = Duration::from_secs(30);

/// The values the pseudo parameters take locally.
pub const REGION: &str = "us-east-1";
pub const ACCOUNT_ID: &str = "123456789012";
pub const STACK_NAME: &str = "local";

/// Where the template is looked for when none is named:
/// `infra/template.yaml` in the current directory or one above it, up to
/// the git root ([`find`]).
pub const RELATIVE_PATH: &str = "infra/template.yaml";

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

/// `NAME=VALUE` (a template `--parameter`, a `--function-env`), with a
/// name an environment variable can have; the value may hold `=`.
pub fn key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v))
            if !k.is_empty()
                && !k.starts_with(|c: char| c.is_ascii_digit())
                && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
        {
            Ok((k.to_owned(), v.to_owned()))
        }
        _ => Err(format!("`{text}` is not NAME=VALUE")),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("reading {0}: {1}")]
    Read(PathBuf, std::io::Error),
    /// The template says something this reader refuses (the message says
    /// what).
    #[error("{0}: {1}")]
    Shape(PathBuf, String),
}

/// Rate and burst of one token bucket (API Gateway's throttle).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Throttle {
    /// Tokens added a second.
    pub rate: f64,
    /// The bucket's size.
    pub burst: f64,
}

/// A throttle as a template sets it: `ThrottlingRateLimit` and
/// `ThrottlingBurstLimit`, either of which may be left out (then the
/// account's figure applies to it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThrottleSetting {
    pub rate: Option<f64>,
    pub burst: Option<f64>,
}

impl ThrottleSetting {
    /// Both figures given.
    pub fn new(rate: f64, burst: f64) -> Self {
        Self {
            rate: Some(rate),
            burst: Some(burst),
        }
    }

    /// The bucket it makes, with the account's figures for what the
    /// template leaves out.
    pub fn or_account(self, account: Throttle) -> Throttle {
        Throttle {
            rate: self.rate.unwrap_or(account.rate),
            burst: self.burst.unwrap_or(account.burst),
        }
    }
}

impl std::fmt::Display for ThrottleSetting {
    /// `100 req/s, burst 15`; a figure left out reads "the account's".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.rate {
            Some(r) => write!(f, "{r} req/s")?,
            None => f.write_str("the account's rate")?,
        }
        match self.burst {
            Some(b) => write!(f, ", burst {b}"),
            None => f.write_str(", the account's burst"),
        }
    }
}

/// One route of the HTTP API, as its route key says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteKey {
    /// `GET`, `POST`, ... or `ANY`; `None` for `$default`.
    pub method: Option<String>,
    /// `/visits`, `/pets/{id}`, `/{proxy+}`; `None` for `$default`.
    pub path: Option<String>,
}

impl RouteKey {
    pub const DEFAULT: &'static str = "$default";

    /// `POST /visits`, or `$default`.
    pub fn key(&self) -> String {
        match (&self.method, &self.path) {
            (Some(m), Some(p)) => format!("{m} {p}"),
            _ => Self::DEFAULT.to_owned(),
        }
    }
}

/// A route and what it carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub key: RouteKey,
    /// `2.0` or `1.0`.
    pub payload_format: String,
    /// How long API Gateway waits for the function.
    pub integration_timeout: Duration,
    /// The route's own throttle (its event's `RouteSettings`, else the
    /// stage's `RouteSettings` for its key); `None`: the stage's default.
    pub own_throttle: Option<ThrottleSetting>,
    /// The throttle that applies: its own, else the stage's
    /// `DefaultRouteSettings`; `None`: only the account's.
    pub throttle: Option<ThrottleSetting>,
}

/// The API Gateway flavour in front of the function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiKind {
    /// `AWS::Serverless::HttpApi` (API Gateway v2), or `HttpApi` events.
    Http,
    /// `AWS::Serverless::Api` (a REST API).
    Rest,
}

/// The API: its kind, stage and routes.
#[derive(Debug, Clone, PartialEq)]
pub struct Api {
    pub kind: ApiKind,
    /// The API resource's logical id; `None`: SAM's implicit API.
    pub logical_id: Option<String>,
    /// The stage name: requests are served under `/<stage>` unless it is
    /// `$default`.
    pub stage_name: String,
    /// An HTTP API's `DefaultRouteSettings`, a REST API's first
    /// `MethodSettings`; `None`: only the account's.
    pub default_throttle: Option<ThrottleSetting>,
    /// The function's `HttpApi` events, in the template's order (none for
    /// a REST API: its events are not read).
    pub routes: Vec<Route>,
    /// What could not be resolved, or was read in a way worth saying.
    pub notes: Vec<String>,
}

/// A Lambda function's instruction set (`Architectures`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    X86_64,
    Arm64,
}

/// The function behind the API.
#[derive(Debug, Clone, PartialEq)]
pub struct Function {
    pub logical_id: String,
    /// `FunctionName` when the template sets it, else the logical id.
    pub name: String,
    pub handler: Option<String>,
    pub runtime: Option<String>,
    /// `x86_64` when the template leaves it out (Lambda's default).
    pub architecture: Architecture,
    /// 128 when left out (Lambda's default), within Lambda's 128..=10,240.
    pub memory_mb: u32,
    /// 3 s when left out (Lambda's default), within Lambda's 1..=900 s.
    pub timeout: Duration,
    pub reserved_concurrency: Option<u32>,
    /// `Environment.Variables` (with `Globals`), resolved.
    pub environment: BTreeMap<String, String>,
    /// The variables left unset because their value could not be resolved
    /// here, with why (each also a note: [`unset_variable_note`]).
    pub environment_unset: BTreeMap<String, String>,
    /// What could not be resolved, or was read in a way worth saying.
    pub notes: Vec<String>,
}

/// The note an environment variable left unset is read with.
pub fn unset_variable_note(name: &str, why: &str) -> String {
    format!("environment variable {name} left unset: {why}")
}

/// What the emulated stage serves: one function's HTTP API routes.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpStage {
    pub source: PathBuf,
    /// The API's stage name (`$default`: served at the root).
    pub stage_name: String,
    pub routes: Vec<Route>,
    pub function: Function,
    /// What could not be resolved, or was read in a way worth saying
    /// (the API's notes, then the function's).
    pub notes: Vec<String>,
}

/// One template, parsed, with its parameters' values set.
#[derive(Debug, Clone)]
pub struct Template {
    source: PathBuf,
    doc: Value,
}

impl Template {
    /// Reads `path` with the parameters at their defaults.
    pub fn read(path: &Path) -> Result<Self, TemplateError> {
        Self::read_with(path, &[])
    }

    /// [`Template::read`], with parameters given values other than their
    /// defaults, as `sam deploy --parameter-overrides` gives them.
    pub fn read_with(path: &Path, overrides: &[(String, String)]) -> Result<Self, TemplateError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| TemplateError::Read(path.to_owned(), e))?;
        Self::parse_with(&text, path, overrides)
    }

    /// Parses a template's text (`source` names it in messages).
    pub fn parse(text: &str, source: &Path) -> Result<Self, TemplateError> {
        Self::parse_with(text, source, &[])
    }

    /// [`Template::parse`] with parameter overrides; a name the template
    /// has no parameter for is refused.
    pub fn parse_with(
        text: &str,
        source: &Path,
        overrides: &[(String, String)],
    ) -> Result<Self, TemplateError> {
        let shape = |e: String| TemplateError::Shape(source.to_owned(), e);
        let yaml: Value =
            serde_yaml_ng::from_str(text).map_err(|e| shape(format!("not YAML: {e}")))?;
        let mut doc = resolve::normalize(yaml);
        if !doc.is_mapping() {
            return Err(shape("not a CloudFormation template: not a mapping".into()));
        }
        for (name, value) in overrides {
            let param = doc
                .get_mut("Parameters")
                .and_then(|p| p.get_mut(name.as_str()))
                .and_then(Value::as_mapping_mut)
                .ok_or_else(|| {
                    shape(format!(
                        "--parameter {name}: the template has no such parameter"
                    ))
                })?;
            parameters::check(name, value, param).map_err(shape)?;
            param.insert("Default".into(), Value::String(value.clone()));
        }
        Ok(Self {
            source: source.to_owned(),
            doc,
        })
    }

    /// A named condition of the template, at the parameters' values.
    pub fn condition(&self, name: &str) -> Result<bool, TemplateError> {
        self.resolver()
            .condition_named(name, 0)
            .map_err(|e| self.error(e))
    }

    fn resolver(&self) -> resolve::Resolver<'_> {
        resolve::Resolver::new(&self.doc)
    }

    fn error(&self, message: String) -> TemplateError {
        TemplateError::Shape(self.source.clone(), message)
    }
}
