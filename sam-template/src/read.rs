//! The typed accessors: the API, the function, the log group, the web ACL.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_yaml_ng::Value;

use crate::resolve::Resolver;
use crate::{
    Api, ApiKind, Architecture, Function, HttpStage, MAX_INTEGRATION_TIMEOUT, Route, RouteKey,
    Template, TemplateError, ThrottleSetting,
};

const SERVERLESS_FUNCTION: &str = "AWS::Serverless::Function";
const LAMBDA_FUNCTION: &str = "AWS::Lambda::Function";
const HTTP_API: &str = "AWS::Serverless::HttpApi";
const REST_API: &str = "AWS::Serverless::Api";

/// Lambda's defaults when a template leaves them out, and its ranges
/// (CloudFormation `AWS::Lambda::Function`: `MemorySize` 128 to 10,240,
/// default 128; `Timeout` 1 to 900, default 3).
const DEFAULT_MEMORY_MB: f64 = 128.0;
const DEFAULT_TIMEOUT_S: f64 = 3.0;

impl Template {
    /// The API in front of the function: the one the function's `HttpApi`
    /// events name (SAM's implicit one when they name none), else the
    /// first `AWS::Serverless::HttpApi`, else the first
    /// `AWS::Serverless::Api` (a REST API).
    pub fn api(&self) -> Result<Api, TemplateError> {
        Reader::new(self).api().map_err(|e| self.error(e))
    }

    /// The function behind the API: the one with `HttpApi` events, else
    /// the first `AWS::Serverless::Function` (or `AWS::Lambda::Function`).
    pub fn function(&self) -> Result<Function, TemplateError> {
        Reader::new(self).function().map_err(|e| self.error(e))
    }

    /// What the emulated stage serves: the one function with `HttpApi`
    /// events, its API's stage and routes. A template without such a
    /// function (REST `Api` events, `AWS::ApiGatewayV2` resources) or
    /// with two routes of one key is refused, saying so.
    pub fn http_stage(&self) -> Result<HttpStage, TemplateError> {
        let r = Reader::new(self);
        r.http_function().map_err(|e| self.error(e))?;
        let api = self.api()?;
        let mut function = self.function()?;
        let mut notes = api.notes;
        notes.append(&mut function.notes);
        Ok(HttpStage {
            source: self.source.clone(),
            stage_name: api.stage_name,
            routes: api.routes,
            function,
            notes,
        })
    }

    /// The first `AWS::Logs::LogGroup`'s `RetentionInDays`; `None`: no
    /// log group, or logs kept for ever.
    pub fn log_retention_days(&self) -> Result<Option<u32>, TemplateError> {
        let r = Reader::new(self);
        let Some((_, group)) = r.first(&["AWS::Logs::LogGroup"]) else {
            return Ok(None);
        };
        let days = r.number(&group["Properties"]["RetentionInDays"], "RetentionInDays");
        days.and_then(|d| d.map(|d| whole(d, "RetentionInDays", 1, 3653)).transpose())
            .map_err(|e| self.error(e))
    }

    /// The per-client limit: the first AWS WAF web ACL's rate-based
    /// `Limit` (requests per client IP in 5 minutes), when the web ACL
    /// exists at the parameters' values (its `Condition` holds) and the
    /// limit is above 0.
    pub fn per_client_limit(&self) -> Result<Option<u64>, TemplateError> {
        Reader::new(self)
            .per_client_limit()
            .map_err(|e| self.error(e))
    }
}

/// `n` as a whole number within `lo..=hi`.
/// A resource's own property `key`, else the `Globals` section's.
fn own_or_global<'a>(props: &'a Value, globals: &'a Value, key: &str) -> &'a Value {
    match &props[key] {
        Value::Null => &globals[key],
        own => own,
    }
}

fn whole(n: f64, what: &str, lo: u32, hi: u32) -> Result<u32, String> {
    if n.fract() != 0.0 || n < f64::from(lo) || n > f64::from(hi) {
        return Err(format!(
            "{what}: {n} is not a whole number from {lo} to {hi}"
        ));
    }
    Ok(n as u32)
}

struct Reader<'a> {
    doc: &'a Value,
    r: Resolver<'a>,
    /// Notes of what is read (taken by whoever returns them).
    notes: std::cell::RefCell<Vec<String>>,
}

impl<'a> Reader<'a> {
    fn new(t: &'a Template) -> Self {
        Self {
            doc: &t.doc,
            r: t.resolver(),
            notes: std::cell::RefCell::default(),
        }
    }

    fn text(&self, v: &'a Value, what: &str) -> Option<String> {
        self.r.text(v, &mut self.notes.borrow_mut(), what)
    }

    fn number(&self, v: &'a Value, what: &str) -> Result<Option<f64>, String> {
        self.r.number(v, what)
    }

    fn take_notes(&self) -> Vec<String> {
        std::mem::take(&mut self.notes.borrow_mut())
    }

    fn resources(&self) -> impl Iterator<Item = (&'a str, &'a Value)> + use<'a> {
        self.doc["Resources"]
            .as_mapping()
            .into_iter()
            .flat_map(|m| m.iter())
            .filter_map(|(k, v)| Some((k.as_str()?, v)))
    }

    /// The first resource of one of these types.
    fn first(&self, types: &[&str]) -> Option<(&'a str, &'a Value)> {
        self.resources()
            .find(|(_, r)| r["Type"].as_str().is_some_and(|t| types.contains(&t)))
    }

    fn http_events(
        &self,
        function: &'a Value,
    ) -> impl Iterator<Item = (&'a str, &'a Value)> + use<'a> {
        function["Properties"]["Events"]
            .as_mapping()
            .into_iter()
            .flat_map(|m| m.iter())
            .filter(|(_, e)| e["Type"].as_str() == Some("HttpApi"))
            .filter_map(|(k, e)| Some((k.as_str()?, &e["Properties"])))
    }

    /// The functions with `HttpApi` events; more than one is refused.
    fn with_http_events(&self) -> Result<Option<(&'a str, &'a Value)>, String> {
        let found: Vec<(&str, &Value)> = self
            .resources()
            .filter(|(_, r)| r["Type"].as_str() == Some(SERVERLESS_FUNCTION))
            .filter(|(_, r)| self.http_events(r).next().is_some())
            .collect();
        match found.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(*one)),
            many => Err(format!(
                "{} functions have HttpApi events ({}): one API's function is read",
                many.len(),
                many.iter()
                    .map(|(id, _)| *id)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }

    /// The one function with `HttpApi` events, or why there is none.
    fn http_function(&self) -> Result<(&'a str, &'a Value), String> {
        if let Some(f) = self.with_http_events()? {
            return Ok(f);
        }
        Err(if self.first(&[SERVERLESS_FUNCTION]).is_some() {
            "no AWS::Serverless::Function has HttpApi events: only SAM HttpApi routes are \
             served (REST `Api` events and AWS::ApiGatewayV2 resources are not read)"
                .to_owned()
        } else {
            "no AWS::Serverless::Function resource".to_owned()
        })
    }

    /// The `AWS::Serverless::HttpApi` the events name (`None`: SAM's
    /// implicit API); events on two APIs are refused.
    fn api_of(&self, function: &'a Value) -> Result<Option<String>, String> {
        let mut ids = BTreeSet::new();
        for (_, event) in self.http_events(function) {
            ids.insert(match &event["ApiId"] {
                Value::Null => None,
                v => match v["Ref"].as_str() {
                    Some(id) if self.doc["Resources"][id]["Type"].as_str() == Some(HTTP_API) => {
                        Some(id.to_owned())
                    }
                    _ => {
                        return Err(format!(
                            "an HttpApi event's ApiId {v:?} is not a Ref to an {HTTP_API}"
                        ));
                    }
                },
            });
        }
        match ids.len() {
            0 | 1 => Ok(ids.into_iter().next().flatten()),
            _ => Err("the function's HttpApi events are on more than one API".to_owned()),
        }
    }

    fn api(&self) -> Result<Api, String> {
        let function = self.with_http_events()?;
        let (kind, logical_id) = match function {
            Some((_, f)) => (ApiKind::Http, self.api_of(f)?),
            None => match (self.first(&[HTTP_API]), self.first(&[REST_API])) {
                (Some((id, _)), _) => (ApiKind::Http, Some(id.to_owned())),
                (None, Some((id, _))) => (ApiKind::Rest, Some(id.to_owned())),
                (None, None) => {
                    return Err(format!(
                        "no {HTTP_API} or {REST_API} resource, and no function has HttpApi \
                         events (REST `Api` events and AWS::ApiGatewayV2 resources are not read)"
                    ));
                }
            },
        };
        let props = logical_id
            .as_deref()
            .map(|id| &self.doc["Resources"][id]["Properties"]);
        let globals = match kind {
            ApiKind::Http => &self.doc["Globals"]["HttpApi"],
            ApiKind::Rest => &self.doc["Globals"]["Api"],
        };
        let setting = |key: &str| own_or_global(props.unwrap_or(&Value::Null), globals, key);
        let stage_name = self
            .text(setting("StageName"), "StageName")
            .unwrap_or_else(|| RouteKey::DEFAULT.to_owned());
        let default_throttle = match kind {
            ApiKind::Http => self.throttle(setting("DefaultRouteSettings"))?,
            ApiKind::Rest => self.throttle(&setting("MethodSettings")[0])?,
        };
        let mut routes = Vec::new();
        for (name, event) in function.into_iter().flat_map(|(_, f)| self.http_events(f)) {
            let route = self.route(name, event, setting("RouteSettings"), default_throttle)?;
            if routes.iter().any(|r: &Route| r.key == route.key) {
                return Err(format!("two events declare the route {}", route.key.key()));
            }
            routes.push(route);
        }
        Ok(Api {
            kind,
            logical_id,
            stage_name,
            default_throttle,
            routes,
            notes: self.take_notes(),
        })
    }

    fn route_key(&self, name: &str, event: &'a Value) -> Result<RouteKey, String> {
        let method = self.text(&event["Method"], name);
        let path = self.text(&event["Path"], name);
        match (method, path) {
            (None, None) => Ok(RouteKey {
                method: None,
                path: None,
            }),
            (method, Some(path)) => {
                let method = method.map_or("ANY".to_owned(), |m| m.to_uppercase());
                let method = if method == "*" || method == "X-AMAZON-APIGATEWAY-ANY-METHOD" {
                    "ANY".to_owned()
                } else {
                    method
                };
                check_path(&path).map_err(|e| format!("event {name}: {e}"))?;
                Ok(RouteKey {
                    method: Some(method),
                    path: Some(path),
                })
            }
            (Some(_), None) => Err(format!("event {name}: a Method without a Path")),
        }
    }

    fn route(
        &self,
        name: &str,
        event: &'a Value,
        stage_settings: &'a Value,
        default: Option<ThrottleSetting>,
    ) -> Result<Route, String> {
        let key = self.route_key(name, event)?;
        let own = match self.throttle(&event["RouteSettings"])? {
            Some(t) => Some(t),
            None => self.throttle(&stage_settings[key.key().as_str()])?,
        };
        let payload_format = self
            .text(&event["PayloadFormatVersion"], name)
            .unwrap_or_else(|| "2.0".to_owned());
        // 50 ms to 30 s (the quotas page above MAX_INTEGRATION_TIMEOUT).
        let timeout = match self.number(&event["TimeoutInMillis"], name)? {
            Some(ms) => Duration::from_millis(ms.clamp(50.0, 30_000.0) as u64),
            None => MAX_INTEGRATION_TIMEOUT,
        };
        Ok(Route {
            key,
            payload_format,
            integration_timeout: timeout,
            own_throttle: own,
            throttle: own.or(default),
        })
    }

    /// `ThrottlingRateLimit` and `ThrottlingBurstLimit` of a settings
    /// object; `None` when it has neither.
    fn throttle(&self, v: &'a Value) -> Result<Option<ThrottleSetting>, String> {
        let rate = self.number(&v["ThrottlingRateLimit"], "ThrottlingRateLimit")?;
        let burst = self.number(&v["ThrottlingBurstLimit"], "ThrottlingBurstLimit")?;
        Ok((rate.is_some() || burst.is_some()).then_some(ThrottleSetting { rate, burst }))
    }

    fn function(&self) -> Result<Function, String> {
        let (id, function) = match self.with_http_events()? {
            Some(f) => f,
            None => self
                .first(&[SERVERLESS_FUNCTION, LAMBDA_FUNCTION])
                .ok_or("no AWS::Serverless::Function resource")?,
        };
        let props = &function["Properties"];
        let global = &self.doc["Globals"]["Function"];
        let pick = |key: &str| own_or_global(props, global, key);
        let memory = self.number(pick("MemorySize"), "MemorySize")?;
        let timeout = self.number(pick("Timeout"), "Timeout")?;
        let reserved = self.number(
            pick("ReservedConcurrentExecutions"),
            "ReservedConcurrentExecutions",
        )?;
        let architecture = self.architecture(pick("Architectures"))?;
        let (environment, environment_unset) = self.environment(props, global);
        let timeout = timeout.unwrap_or(DEFAULT_TIMEOUT_S);
        if !(1.0..=900.0).contains(&timeout) {
            return Err(format!("Timeout: {timeout} is not from 1 to 900 s"));
        }
        Ok(Function {
            logical_id: id.to_owned(),
            name: self
                .text(&props["FunctionName"], "FunctionName")
                .unwrap_or_else(|| id.to_owned()),
            handler: self.text(pick("Handler"), "Handler"),
            runtime: self.text(pick("Runtime"), "Runtime"),
            architecture,
            memory_mb: whole(
                memory.unwrap_or(DEFAULT_MEMORY_MB),
                "MemorySize",
                128,
                10_240,
            )?,
            timeout: Duration::from_secs_f64(timeout),
            reserved_concurrency: reserved
                .map(|r| whole(r, "ReservedConcurrentExecutions", 0, u32::MAX))
                .transpose()?,
            environment,
            environment_unset,
            notes: self.take_notes(),
        })
    }

    fn architecture(&self, v: &'a Value) -> Result<Architecture, String> {
        // Like a number, it sizes (and prices) the function: one that
        // cannot be resolved is refused, not read as the default.
        let text = self.r.resolve(v).into_text().map_err(|why| {
            format!(
                "Architectures cannot be read here ({why}): give a parameter without a default \
                 its value with --parameter NAME=VALUE, or write it in the template"
            )
        })?;
        match text.as_deref().and_then(|t| t.split(',').next()) {
            Some("arm64") => Ok(Architecture::Arm64),
            Some("x86_64") | None => Ok(Architecture::X86_64),
            Some(other) => Err(format!("unknown architecture {other:?}")),
        }
    }

    /// `Environment.Variables`: the `Globals`', then the function's own;
    /// and those left unset, with why.
    fn environment(
        &self,
        props: &'a Value,
        global: &'a Value,
    ) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
        let mut environment = BTreeMap::new();
        let mut unset = BTreeMap::new();
        for vars in [
            &global["Environment"]["Variables"],
            &props["Environment"]["Variables"],
        ] {
            let pairs = vars.as_mapping().into_iter().flatten();
            for (k, v) in pairs.filter_map(|(k, v)| Some((k.as_str()?, v))) {
                match self.r.resolve(v).into_text() {
                    Ok(Some(t)) => {
                        environment.insert(k.to_owned(), t);
                    }
                    Ok(None) => {
                        environment.remove(k);
                    }
                    Err(why) => {
                        environment.remove(k);
                        unset.insert(k.to_owned(), why);
                    }
                }
            }
        }
        let mut notes = self.notes.borrow_mut();
        notes.extend(
            unset
                .iter()
                .map(|(k, why)| crate::unset_variable_note(k, why)),
        );
        (environment, unset)
    }

    fn per_client_limit(&self) -> Result<Option<u64>, String> {
        let Some((_, acl)) = self.first(&["AWS::WAFv2::WebACL"]) else {
            return Ok(None);
        };
        if let Some(name) = acl["Condition"].as_str()
            && !self.r.condition_named(name, 0)?
        {
            return Ok(None);
        }
        let rules = acl["Properties"]["Rules"]
            .as_sequence()
            .map_or(&[][..], Vec::as_slice);
        for rule in rules {
            let limit = &rule["Statement"]["RateBasedStatement"]["Limit"];
            if !limit.is_null() {
                let limit = self.number(limit, "Limit")?;
                return Ok(limit
                    .map(|l| whole(l, "Limit", 0, u32::MAX))
                    .transpose()?
                    .filter(|l| *l > 0)
                    .map(u64::from));
            }
        }
        Ok(None)
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
