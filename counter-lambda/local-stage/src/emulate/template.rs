//! What the emulated stage reads from a SAM template: the HTTP API (its
//! stage, routes, throttles, integration timeout) and the one function
//! behind it (memory, timeout, reserved concurrency, handler, runtime,
//! environment).
//!
//! Intrinsic functions are resolved "as far as they can be" with the
//! parameters at their defaults, the way a `sam deploy` with no overrides
//! would see them: `Ref` (parameters, pseudo parameters, resources),
//! `Fn::If` with the template's `Conditions` (`Fn::Equals`, `Fn::Not`,
//! `Fn::And`, `Fn::Or`, `Condition`), `Fn::Sub` and `Fn::Join`. Short
//! forms (`!Ref`, `!Sub`, ...) read as the long ones. A value that cannot
//! be resolved (a parameter without a default, `Fn::GetAtt`, an import) is
//! left out and named in [`StageTemplate::notes`].
//!
//! Only SAM's `HttpApi` events are read (an `AWS::Serverless::HttpApi`, or
//! the implicit one): a template whose function has none is refused with
//! that said, not half emulated.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

/// Lambda's defaults when a template leaves them out (CloudFormation
/// `AWS::Lambda::Function`: `MemorySize` 128, `Timeout` 3).
const DEFAULT_MEMORY_MB: u32 = 128;
const DEFAULT_TIMEOUT_S: f64 = 3.0;
/// HTTP API's integration timeout, its maximum and its default: 30 s
/// (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-quotas.html).
pub const MAX_INTEGRATION_TIMEOUT: Duration = Duration::from_secs(30);

/// The values the pseudo parameters take locally.
pub const REGION: &str = "us-east-1";
pub const ACCOUNT_ID: &str = "123456789012";
pub const STACK_NAME: &str = "local";

/// Rate and burst of one token bucket (API Gateway's throttle).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Throttle {
    /// Tokens added a second.
    pub rate: f64,
    /// The bucket's size.
    pub burst: f64,
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
    /// `2.0` or `1.0` (only 2.0 is emulated).
    pub payload_format: String,
    /// How long API Gateway waits for the function.
    pub integration_timeout: Duration,
    /// The route's own throttle (its `RouteSettings`), else the stage's
    /// `DefaultRouteSettings`; `None`: only the account's.
    pub throttle: Option<Throttle>,
}

/// The function behind the API.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionShape {
    pub logical_id: String,
    /// `FunctionName` when the template sets it, else the logical id.
    pub name: String,
    pub handler: Option<String>,
    pub runtime: Option<String>,
    pub memory_mb: u32,
    pub timeout: Duration,
    pub reserved_concurrency: Option<u32>,
    /// `Environment.Variables` (with `Globals`), resolved.
    pub environment: BTreeMap<String, String>,
}

/// What the stage emulates, read from one template.
#[derive(Debug, Clone, PartialEq)]
pub struct StageTemplate {
    pub source: PathBuf,
    /// The API's stage name: requests are served under `/<stage>` unless
    /// it is `$default`.
    pub stage_name: String,
    pub routes: Vec<Route>,
    pub function: FunctionShape,
    /// What could not be resolved, or was read in a way worth saying.
    pub notes: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("reading {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("{0}: {1}")]
    Shape(PathBuf, String),
}

/// Where the stage looks when no template is named: `infra/template.yaml`
/// in the current directory or one above it, up to the git root.
pub const RELATIVE_PATH: &str = "infra/template.yaml";

/// `infra/template.yaml` in `start` or a directory above it, stopping at
/// the first directory that holds `.git`.
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

impl StageTemplate {
    pub fn read(path: &Path) -> Result<Self, TemplateError> {
        Self::read_with(path, &[])
    }

    /// [`StageTemplate::read`], with parameters given values other than
    /// their defaults, as `sam deploy --parameter-overrides` gives them.
    pub fn read_with(path: &Path, overrides: &[(String, String)]) -> Result<Self, TemplateError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| TemplateError::Read(path.to_owned(), e))?;
        Self::parse_with(&text, path, overrides)
            .map_err(|e| TemplateError::Shape(path.to_owned(), e))
    }

    /// Parses a template's text (`source` names it in messages).
    pub fn parse(text: &str, source: &Path) -> Result<Self, String> {
        Self::parse_with(text, source, &[])
    }

    /// [`StageTemplate::parse`] with parameter overrides; a name the
    /// template has no parameter for is refused.
    pub fn parse_with(
        text: &str,
        source: &Path,
        overrides: &[(String, String)],
    ) -> Result<Self, String> {
        let yaml: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(text).map_err(|e| format!("not YAML: {e}"))?;
        let mut doc = serde_json::to_value(normalize(yaml))
            .map_err(|e| format!("not a CloudFormation template: {e}"))?;
        for (name, value) in overrides {
            let param = &mut doc["Parameters"][name.as_str()];
            if !param.is_object() {
                return Err(format!(
                    "--parameter {name}: the template has no such parameter"
                ));
            }
            param["Default"] = Value::String(value.clone());
        }
        Self::from_doc(&doc, source)
    }

    fn from_doc(doc: &Value, source: &Path) -> Result<Self, String> {
        let t = Resolver::new(doc);
        let mut notes = Vec::new();
        let (id, function) = t.http_function()?;
        let api_id = t.api_of(function)?;
        let api = api_id
            .as_deref()
            .map(|id| &doc["Resources"][id]["Properties"]);
        let globals = &doc["Globals"]["HttpApi"];
        let setting = |key: &str| match api.map(|a| &a[key]) {
            Some(v) if !v.is_null() => v,
            _ => &globals[key],
        };
        let stage_name = t
            .text(setting("StageName"), &mut notes, "StageName")
            .unwrap_or_else(|| RouteKey::DEFAULT.to_owned());
        let default_throttle = t.throttle(setting("DefaultRouteSettings"), &mut notes)?;
        let stage_settings = setting("RouteSettings");
        let mut routes = Vec::new();
        for (name, event) in t.http_events(function) {
            let route = t.route(name, event, stage_settings, default_throttle, &mut notes)?;
            if routes.iter().any(|r: &Route| r.key == route.key) {
                return Err(format!("two events declare the route {}", route.key.key()));
            }
            routes.push(route);
        }
        let function = t.function(id, function, &mut notes)?;
        Ok(Self {
            source: source.to_owned(),
            stage_name,
            routes,
            function,
            notes,
        })
    }
}

/// Short-form intrinsics (`!Ref X`) become the long form (`{Ref: X}`).
fn normalize(v: serde_yaml_ng::Value) -> serde_yaml_ng::Value {
    use serde_yaml_ng::Value as Y;
    match v {
        Y::Tagged(tagged) => {
            let name = tagged.tag.to_string();
            let name = name.trim_start_matches('!');
            let key = match name {
                "Ref" | "Condition" => name.to_owned(),
                other => format!("Fn::{other}"),
            };
            let mut map = serde_yaml_ng::Mapping::new();
            let inner = normalize(tagged.value);
            // `!GetAtt A.B` is `Fn::GetAtt: [A, B]`.
            let inner = match (key.as_str(), inner) {
                ("Fn::GetAtt", Y::String(s)) => match s.split_once('.') {
                    Some((a, b)) => Y::Sequence(vec![Y::String(a.into()), Y::String(b.into())]),
                    None => Y::String(s),
                },
                (_, inner) => inner,
            };
            map.insert(Y::String(key), inner);
            Y::Mapping(map)
        }
        Y::Mapping(m) => Y::Mapping(m.into_iter().map(|(k, v)| (k, normalize(v))).collect()),
        Y::Sequence(s) => Y::Sequence(s.into_iter().map(normalize).collect()),
        other => other,
    }
}

/// A resolved value: text (numbers as text), a list, or nothing
/// (`AWS::NoValue`, or what cannot be resolved, with the reason).
enum Resolved {
    Text(String),
    List(Vec<String>),
    Absent,
    Unresolved(String),
}

struct Resolver<'a> {
    doc: &'a Value,
}

impl<'a> Resolver<'a> {
    fn new(doc: &'a Value) -> Self {
        Self { doc }
    }

    fn resources(&self) -> impl Iterator<Item = (&'a String, &'a Value)> {
        self.doc["Resources"]
            .as_object()
            .into_iter()
            .flat_map(|m| m.iter())
    }

    /// The one function with `HttpApi` events.
    fn http_function(&self) -> Result<(&'a str, &'a Value), String> {
        let with_events: Vec<(&String, &Value)> = self
            .resources()
            .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
            .filter(|(_, r)| self.http_events(r).next().is_some())
            .collect();
        match with_events.as_slice() {
            [(id, r)] => Ok((id.as_str(), *r)),
            [] => {
                let rest = self
                    .resources()
                    .any(|(_, r)| r["Type"] == "AWS::Serverless::Function");
                Err(if rest {
                    "no AWS::Serverless::Function has HttpApi events: the emulated stage serves \
                     SAM HttpApi routes (REST `Api` events and AWS::ApiGatewayV2 resources are \
                     not read)"
                        .to_owned()
                } else {
                    "no AWS::Serverless::Function resource".to_owned()
                })
            }
            many => Err(format!(
                "{} functions have HttpApi events ({}): the emulated stage runs one",
                many.len(),
                many.iter()
                    .map(|(id, _)| id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }

    fn http_events(&self, function: &'a Value) -> impl Iterator<Item = (&'a str, &'a Value)> {
        function["Properties"]["Events"]
            .as_object()
            .into_iter()
            .flat_map(|m| m.iter())
            .filter(|(_, e)| e["Type"] == "HttpApi")
            .map(|(k, e)| (k.as_str(), &e["Properties"]))
    }

    /// The `AWS::Serverless::HttpApi` the events name (`None`: SAM's
    /// implicit API); events on two APIs are refused.
    fn api_of(&self, function: &'a Value) -> Result<Option<String>, String> {
        let mut ids = std::collections::BTreeSet::new();
        for (_, event) in self.http_events(function) {
            ids.insert(match &event["ApiId"] {
                Value::Null => None,
                v => match v["Ref"].as_str() {
                    Some(id) if self.doc["Resources"][id]["Type"] == "AWS::Serverless::HttpApi" => {
                        Some(id.to_owned())
                    }
                    _ => return Err(format!("an HttpApi event's ApiId {v} is not a Ref to an AWS::Serverless::HttpApi")),
                },
            });
        }
        match ids.len() {
            0 | 1 => Ok(ids.into_iter().next().flatten()),
            _ => Err("the function's HttpApi events are on more than one API".to_owned()),
        }
    }

    fn route(
        &self,
        name: &str,
        event: &'a Value,
        stage_settings: &'a Value,
        default: Option<Throttle>,
        notes: &mut Vec<String>,
    ) -> Result<Route, String> {
        let method = self.text(&event["Method"], notes, name);
        let path = self.text(&event["Path"], notes, name);
        let key = match (method, path) {
            (None, None) => RouteKey {
                method: None,
                path: None,
            },
            (method, Some(path)) => {
                let method = method.map_or("ANY".to_owned(), |m| m.to_uppercase());
                let method = if method == "*" || method == "X-AMAZON-APIGATEWAY-ANY-METHOD" {
                    "ANY".to_owned()
                } else {
                    method
                };
                check_path(&path).map_err(|e| format!("event {name}: {e}"))?;
                RouteKey {
                    method: Some(method),
                    path: Some(path),
                }
            }
            (Some(_), None) => return Err(format!("event {name}: a Method without a Path")),
        };
        let route_key = key.key();
        let own = match self.throttle(&event["RouteSettings"], notes)? {
            Some(t) => Some(t),
            None => self.throttle(&stage_settings[&route_key], notes)?,
        };
        let payload_format = self
            .text(&event["PayloadFormatVersion"], notes, name)
            .unwrap_or_else(|| "2.0".to_owned());
        let timeout = match self.number(&event["TimeoutInMillis"], notes, name)? {
            Some(ms) => Duration::from_millis(ms.clamp(50.0, 30_000.0) as u64),
            None => MAX_INTEGRATION_TIMEOUT,
        };
        Ok(Route {
            key,
            payload_format,
            integration_timeout: timeout,
            throttle: own.or(default),
        })
    }

    /// `ThrottlingRateLimit` and `ThrottlingBurstLimit` of a settings
    /// object. One given without the other: the missing one is the
    /// account's (filled in by the stage; NaN here).
    fn throttle(&self, v: &'a Value, notes: &mut Vec<String>) -> Result<Option<Throttle>, String> {
        let rate = self.number(&v["ThrottlingRateLimit"], notes, "ThrottlingRateLimit")?;
        let burst = self.number(&v["ThrottlingBurstLimit"], notes, "ThrottlingBurstLimit")?;
        Ok(match (rate, burst) {
            (None, None) => None,
            (rate, burst) => Some(Throttle {
                rate: rate.unwrap_or(f64::NAN),
                burst: burst.unwrap_or(f64::NAN),
            }),
        })
    }

    fn function(
        &self,
        id: &str,
        function: &'a Value,
        notes: &mut Vec<String>,
    ) -> Result<FunctionShape, String> {
        let props = &function["Properties"];
        let global = &self.doc["Globals"]["Function"];
        let pick = |key: &str| match &props[key] {
            Value::Null => &global[key],
            v => v,
        };
        let memory = self.number(pick("MemorySize"), notes, "MemorySize")?;
        let timeout = self.number(pick("Timeout"), notes, "Timeout")?;
        let reserved = self.number(
            &props["ReservedConcurrentExecutions"],
            notes,
            "ReservedConcurrentExecutions",
        )?;
        let mut environment = BTreeMap::new();
        for vars in [
            &global["Environment"]["Variables"],
            &props["Environment"]["Variables"],
        ] {
            for (k, v) in vars.as_object().into_iter().flatten() {
                match self.resolve(v) {
                    Resolved::Text(t) => {
                        environment.insert(k.clone(), t);
                    }
                    Resolved::List(l) => {
                        environment.insert(k.clone(), l.join(","));
                    }
                    Resolved::Absent => {
                        environment.remove(k);
                    }
                    Resolved::Unresolved(why) => {
                        environment.remove(k);
                        notes.push(format!("environment variable {k} left unset: {why}"));
                    }
                }
            }
        }
        Ok(FunctionShape {
            logical_id: id.to_owned(),
            name: self
                .text(&props["FunctionName"], notes, "FunctionName")
                .unwrap_or_else(|| id.to_owned()),
            handler: self.text(pick("Handler"), notes, "Handler"),
            runtime: self.text(pick("Runtime"), notes, "Runtime"),
            memory_mb: memory.map_or(DEFAULT_MEMORY_MB, |m| m.clamp(128.0, 10_240.0) as u32),
            timeout: Duration::from_secs_f64(
                timeout.unwrap_or(DEFAULT_TIMEOUT_S).clamp(1.0, 900.0),
            ),
            reserved_concurrency: reserved.map(|r| r.max(0.0) as u32),
            environment,
        })
    }

    /// A value as text; unresolvable ones are noted and read as absent.
    fn text(&self, v: &'a Value, notes: &mut Vec<String>, what: &str) -> Option<String> {
        match self.resolve(v) {
            Resolved::Text(t) => Some(t),
            Resolved::List(l) => Some(l.join(",")),
            Resolved::Absent => None,
            Resolved::Unresolved(why) => {
                notes.push(format!("{what} not read: {why}"));
                None
            }
        }
    }

    fn number(
        &self,
        v: &'a Value,
        notes: &mut Vec<String>,
        what: &str,
    ) -> Result<Option<f64>, String> {
        match self.text(v, notes, what) {
            None => Ok(None),
            Some(t) => match t.trim().parse::<f64>() {
                Ok(n) if n.is_finite() => Ok(Some(n)),
                _ => Err(format!("{what}: {t:?} is not a number")),
            },
        }
    }

    fn resolve(&self, v: &'a Value) -> Resolved {
        match v {
            Value::Null => Resolved::Absent,
            Value::String(s) => Resolved::Text(s.clone()),
            Value::Number(n) => Resolved::Text(n.to_string()),
            Value::Bool(b) => Resolved::Text(b.to_string()),
            Value::Array(items) => {
                let mut out = Vec::new();
                for i in items {
                    match self.resolve(i) {
                        Resolved::Text(t) => out.push(t),
                        Resolved::List(l) => out.extend(l),
                        Resolved::Absent => {}
                        u @ Resolved::Unresolved(_) => return u,
                    }
                }
                Resolved::List(out)
            }
            Value::Object(m) if m.len() == 1 => {
                let (name, arg) = m.iter().next().expect("one entry");
                self.intrinsic(name, arg)
            }
            Value::Object(_) => Resolved::Unresolved(format!("{v} is not a value")),
        }
    }

    fn intrinsic(&self, name: &str, arg: &'a Value) -> Resolved {
        match name {
            "Ref" => match arg.as_str() {
                Some(r) => self.reference(r),
                None => Resolved::Unresolved(format!("Ref {arg}")),
            },
            "Fn::If" => match arg.as_array().map(Vec::as_slice) {
                Some([cond, yes, no]) => match cond.as_str().map(|c| self.condition_named(c)) {
                    Some(Ok(true)) => self.resolve(yes),
                    Some(Ok(false)) => self.resolve(no),
                    Some(Err(why)) => Resolved::Unresolved(why),
                    None => Resolved::Unresolved(format!("Fn::If {cond}")),
                },
                _ => Resolved::Unresolved(format!("Fn::If {arg}")),
            },
            "Fn::Sub" => self.sub(arg),
            "Fn::Join" => match arg.as_array().map(Vec::as_slice) {
                Some([sep, list]) => match (sep.as_str(), self.resolve(list)) {
                    (Some(sep), Resolved::List(items)) => Resolved::Text(items.join(sep)),
                    (_, u @ Resolved::Unresolved(_)) => u,
                    _ => Resolved::Unresolved(format!("Fn::Join {arg}")),
                },
                _ => Resolved::Unresolved(format!("Fn::Join {arg}")),
            },
            other => Resolved::Unresolved(format!("{other} is not resolved locally")),
        }
    }

    /// `Ref`: a parameter's default, a pseudo parameter, or a resource.
    fn reference(&self, name: &str) -> Resolved {
        match name {
            "AWS::Region" => return Resolved::Text(REGION.into()),
            "AWS::AccountId" => return Resolved::Text(ACCOUNT_ID.into()),
            "AWS::StackName" => return Resolved::Text(STACK_NAME.into()),
            "AWS::Partition" => return Resolved::Text("aws".into()),
            "AWS::URLSuffix" => return Resolved::Text("amazonaws.com".into()),
            "AWS::NoValue" => return Resolved::Absent,
            _ => {}
        }
        let param = &self.doc["Parameters"][name];
        if param.is_object() {
            return match &param["Default"] {
                Value::Null => Resolved::Unresolved(format!("parameter {name} has no default")),
                d => self.resolve(d),
            };
        }
        let resource = &self.doc["Resources"][name];
        if resource["Type"] == "AWS::DynamoDB::Table"
            && let Resolved::Text(t) = self.resolve(&resource["Properties"]["TableName"])
        {
            return Resolved::Text(t);
        }
        if resource.is_object() {
            // CloudFormation would name it `<stack>-<id>-<suffix>`; locally
            // the logical id says what it is.
            return Resolved::Text(name.to_owned());
        }
        Resolved::Unresolved(format!("Ref {name}: no such parameter or resource"))
    }

    fn sub(&self, arg: &'a Value) -> Resolved {
        let (text, vars) = match arg {
            Value::String(s) => (s.as_str(), None),
            Value::Array(a) if a.len() == 2 && a[0].is_string() => {
                (a[0].as_str().unwrap_or_default(), a[1].as_object())
            }
            _ => return Resolved::Unresolved(format!("Fn::Sub {arg}")),
        };
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                return Resolved::Unresolved(format!("Fn::Sub {text:?}: an unclosed ${{"));
            };
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else {
                let value = match vars.and_then(|v| v.get(name)) {
                    Some(v) => self.resolve(v),
                    None if name.contains('.') => {
                        Resolved::Unresolved(format!("Fn::Sub ${{{name}}} (an attribute)"))
                    }
                    None => self.reference(name),
                };
                match value {
                    Resolved::Text(t) => out.push_str(&t),
                    Resolved::List(l) => out.push_str(&l.join(",")),
                    Resolved::Absent => {}
                    u @ Resolved::Unresolved(_) => return u,
                }
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Resolved::Text(out)
    }

    fn condition_named(&self, name: &str) -> Result<bool, String> {
        match &self.doc["Conditions"][name] {
            Value::Null => Err(format!("no condition {name}")),
            c => self.condition(c),
        }
    }

    fn condition(&self, c: &'a Value) -> Result<bool, String> {
        let Some((name, arg)) = c
            .as_object()
            .filter(|m| m.len() == 1)
            .and_then(|m| m.iter().next())
        else {
            return Err(format!("{c} is not a condition"));
        };
        let items = arg.as_array().map(Vec::as_slice).unwrap_or_default();
        match name.as_str() {
            "Condition" => self.condition_named(arg.as_str().unwrap_or_default()),
            "Fn::Equals" => match items {
                [a, b] => match (self.resolve(a), self.resolve(b)) {
                    (Resolved::Text(a), Resolved::Text(b)) => Ok(a == b),
                    (Resolved::Unresolved(why), _) | (_, Resolved::Unresolved(why)) => Err(why),
                    _ => Err(format!("Fn::Equals {arg}")),
                },
                _ => Err(format!("Fn::Equals {arg}")),
            },
            "Fn::Not" => match items {
                [one] => self.condition(one).map(|b| !b),
                _ => Err(format!("Fn::Not {arg}")),
            },
            "Fn::And" => items
                .iter()
                .try_fold(true, |acc, c| Ok(acc && self.condition(c)?)),
            "Fn::Or" => items
                .iter()
                .try_fold(false, |acc, c| Ok(acc || self.condition(c)?)),
            other => Err(format!("{other} is not a condition function")),
        }
    }
}

/// A route path: starts with `/`, `{name}` segments, one greedy
/// `{name+}` only at the end.
fn check_path(path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err(format!("the route path {path:?} does not start with /"));
    }
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    for (i, s) in segments.iter().enumerate() {
        if s.starts_with('{') && s.ends_with("+}") && i + 1 != segments.len() {
            return Err(format!(
                "{path:?}: a greedy variable must be the last segment"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<StageTemplate, String> {
        StageTemplate::parse(text, Path::new("t.yaml"))
    }

    #[test]
    fn parameters_can_be_given_as_a_deploy_gives_them_and_unknown_ones_are_refused() {
        let text = include_str!("../../../../infra/template.yaml");
        let t = StageTemplate::parse_with(
            text,
            Path::new("t.yaml"),
            &[
                ("OtherRoutesRateLimit".into(), "1000".into()),
                ("ReservedConcurrency".into(), "7".into()),
            ],
        )
        .expect("overridden");
        let get = t.routes.iter().find(|r| r.key.key() == "GET /visits");
        assert_eq!(get.and_then(|r| r.throttle).map(|th| th.rate), Some(1000.0));
        assert_eq!(t.function.reserved_concurrency, Some(7));
        let e =
            StageTemplate::parse_with(text, Path::new("t.yaml"), &[("Nope".into(), "1".into())])
                .expect_err("no such parameter");
        assert!(e.contains("Nope"), "{e}");
    }

    #[test]
    fn the_projects_template_reads_as_it_deploys() {
        let text = include_str!("../../../../infra/template.yaml");
        let t = parse(text).expect("the project's template");
        assert_eq!(t.stage_name, "prod");
        let mut keys: Vec<String> = t.routes.iter().map(|r| r.key.key()).collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "ANY /{proxy+}",
                "GET /visits",
                "OPTIONS /visits",
                "POST /visits"
            ]
        );
        for r in &t.routes {
            // The counting route's own throttle; every other route's is small.
            let expected = if r.key.key() == "POST /visits" {
                Throttle {
                    rate: 200.0,
                    burst: 15.0,
                }
            } else {
                Throttle {
                    rate: 5.0,
                    burst: 10.0,
                }
            };
            assert_eq!(r.throttle, Some(expected), "{}", r.key.key());
            assert_eq!(r.payload_format, "2.0");
            assert_eq!(r.integration_timeout, MAX_INTEGRATION_TIMEOUT);
        }
        let f = &t.function;
        assert_eq!(
            (f.memory_mb, f.timeout, f.reserved_concurrency),
            (128, Duration::from_secs(6), Some(60))
        );
        assert_eq!(f.handler.as_deref(), Some("bootstrap"));
        assert_eq!(f.runtime.as_deref(), Some("provided.al2023"));
        let env = &f.environment;
        assert_eq!(env["TABLE_NAME"], "visitor_count");
        assert_eq!(
            env["ALLOWED_ORIGINS"], "",
            "no browser origin unless deployed with one"
        );
        assert_eq!(
            env["LOADTEST_PATH_PREFIX"], "",
            "LoadTestKeys defaults to disabled"
        );
        assert_eq!(env["DYNAMODB_OPERATION_TIMEOUT_MS"], "4000");
        // AllowedPaths has no default: left unset, and said.
        assert!(!env.contains_key("ALLOWED_PATHS"));
        assert!(
            t.notes
                .iter()
                .any(|n| n.contains("ALLOWED_PATHS") && n.contains("AllowedPaths")),
            "{:?}",
            t.notes
        );
    }

    const SMALL: &str = r#"
Parameters:
  Rate: {Type: Number, Default: 50}
  Mode: {Type: String, Default: on}
Conditions:
  IsOn: !Equals [!Ref Mode, "on"]
Globals:
  Function: {Timeout: 2}
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      DefaultRouteSettings: {ThrottlingRateLimit: !Ref Rate, ThrottlingBurstLimit: 5}
      RouteSettings:
        "GET /slow": {ThrottlingRateLimit: 1, ThrottlingBurstLimit: 1}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.handler
      Runtime: python3.12
      Environment:
        Variables:
          WHERE: !Sub "${AWS::Region}/${Mode}/${!Literal}"
          PICKED: !If [IsOn, yes-branch, no-branch]
          GONE: !If [IsOn, !Ref AWS::NoValue, x]
          ARN: !GetAtt Fn.Arn
      Events:
        Post: {Type: HttpApi, Properties: {ApiId: !Ref Api, Method: post, Path: /things}}
        Slow: {Type: HttpApi, Properties: {ApiId: !Ref Api, Method: GET, Path: /slow, TimeoutInMillis: 1000}}
        Catch: {Type: HttpApi, Properties: {ApiId: !Ref Api}}
"#;

    #[test]
    fn short_forms_conditions_and_route_settings_resolve() {
        let t = parse(SMALL).expect("small template");
        assert_eq!(t.stage_name, "$default");
        let by_key = |k: &str| {
            t.routes
                .iter()
                .find(|r| r.key.key() == k)
                .cloned()
                .expect("the route")
        };
        let post = by_key("POST /things");
        assert_eq!(
            post.throttle,
            Some(Throttle {
                rate: 50.0,
                burst: 5.0
            })
        );
        let slow = by_key("GET /slow");
        assert_eq!(
            slow.throttle,
            Some(Throttle {
                rate: 1.0,
                burst: 1.0
            })
        );
        assert_eq!(slow.integration_timeout, Duration::from_secs(1));
        assert_eq!(by_key("$default").throttle, post.throttle);
        let f = &t.function;
        assert_eq!(f.timeout, Duration::from_secs(2));
        assert_eq!(f.reserved_concurrency, None);
        assert_eq!(f.memory_mb, 128);
        assert_eq!(f.environment["WHERE"], "us-east-1/on/${Literal}");
        assert_eq!(f.environment["PICKED"], "yes-branch");
        assert!(!f.environment.contains_key("GONE"));
        assert!(!f.environment.contains_key("ARN"));
        assert!(t.notes.iter().any(|n| n.contains("ARN")), "{:?}", t.notes);
    }

    #[test]
    fn templates_it_cannot_serve_are_refused_with_the_reason() {
        let rest = "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      Events:\n        E: {Type: Api, Properties: {Path: /x, Method: get}}\n";
        assert!(parse(rest).expect_err("refused").contains("REST"));
        assert!(
            parse("Resources: {}\n")
                .expect_err("refused")
                .contains("no AWS::Serverless::Function")
        );
        assert!(
            parse(": not yaml : [")
                .expect_err("refused")
                .contains("YAML")
        );
        let bad_path = SMALL.replace("Path: /things", "Path: '/{all+}/x'");
        assert!(parse(&bad_path).expect_err("refused").contains("greedy"));
        let bad_number = SMALL.replace("Default: 50", "Default: fast");
        assert!(
            parse(&bad_number)
                .expect_err("refused")
                .contains("not a number")
        );
    }
}
