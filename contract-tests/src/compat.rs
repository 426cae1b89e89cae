//! Backward compatibility between two versions of `openapi.yaml`: would a
//! client written against the old one still work against the new one?
//!
//! Pure: two parsed documents in, a list of [`Change`]s out. Breaking:
//! a removed path, operation or documented response; a new required
//! parameter (or one that became required); a request limit tightened
//! (`maxLength`/`x-max-bytes` lowered, `minLength` raised, a `pattern`
//! added or changed, an enum value removed, a type changed); in a response,
//! a removed property, a property no longer required, a changed type, a
//! required header removed or a header's fixed value changed. Additions
//! (operations, responses, optional properties, enum values in a response)
//! are compatible. A breaking change passes only with a new major
//! `info.version`.
//!
//! No maintained breaking-change tool installs from the registries this
//! project uses (oasdiff is a Go binary; npm's `@useoptic/optic` 1.0.9
//! fails to start on a fresh install), hence this check, with its tests.

use std::collections::BTreeSet;
use std::fmt;

use serde_json::Value;

/// One difference between two versions of the contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Where: `POST /visits 200 body.count`, say.
    pub at: String,
    pub what: String,
    pub breaking: bool,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.breaking { "BREAKING" } else { "ok" };
        write!(f, "{kind:8} {}: {}", self.at, self.what)
    }
}

/// The comparison and what it means for the new version.
#[derive(Debug, Clone)]
pub struct Compatibility {
    pub old_version: String,
    pub new_version: String,
    pub changes: Vec<Change>,
}

impl Compatibility {
    pub fn breaking(&self) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(|c| c.breaking)
    }

    /// A new major version may break; anything else must not.
    pub fn major_bumped(&self) -> bool {
        match (major(&self.old_version), major(&self.new_version)) {
            (Some(old), Some(new)) => new > old,
            _ => false,
        }
    }

    pub fn passes(&self) -> bool {
        self.major_bumped() || self.breaking().next().is_none()
    }
}

fn major(version: &str) -> Option<u64> {
    version.split('.').next()?.trim().parse().ok()
}

/// Compares `old` with `new` (both parsed OpenAPI documents).
pub fn compare(old: &Value, new: &Value) -> Compatibility {
    let mut d = Diff {
        old,
        new,
        changes: Vec::new(),
    };
    d.paths();
    Compatibility {
        old_version: old["info"]["version"].as_str().unwrap_or("").to_owned(),
        new_version: new["info"]["version"].as_str().unwrap_or("").to_owned(),
        changes: d.changes,
    }
}

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

#[derive(Clone, Copy, PartialEq)]
enum Side {
    Request,
    Response,
}

struct Diff<'a> {
    old: &'a Value,
    new: &'a Value,
    changes: Vec<Change>,
}

/// Follows local `$ref`s (bounded, so a cycle cannot hang the check).
fn resolve<'v>(doc: &'v Value, mut v: &'v Value) -> &'v Value {
    for _ in 0..16 {
        match v.get("$ref").and_then(Value::as_str) {
            Some(r) => match doc.pointer(r.trim_start_matches('#')) {
                Some(target) => v = target,
                None => return v,
            },
            None => return v,
        }
    }
    v
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

/// A string set from a JSON array (`required`, `enum`).
fn set(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .map(|a| a.iter().map(|x| x.to_string()).collect())
        .unwrap_or_default()
}

impl Diff<'_> {
    fn note(&mut self, at: &str, what: String, breaking: bool) {
        self.changes.push(Change {
            at: at.to_owned(),
            what,
            breaking,
        });
    }

    fn paths(&mut self) {
        let (old, new) = (&self.old["paths"], &self.new["paths"]);
        for path in keys(old) {
            if new[&path].is_null() {
                self.note(&path, "path removed".into(), true);
                continue;
            }
            for method in METHODS {
                let at = format!("{} {path}", method.to_uppercase());
                match (old[&path].get(method), new[&path].get(method)) {
                    (Some(_), None) => self.note(&at, "operation removed".into(), true),
                    (Some(_), Some(_)) => self.operation(&path, method, &at),
                    (None, Some(_)) => self.note(&at, "operation added".into(), false),
                    (None, None) => {}
                }
            }
        }
        for path in keys(new).difference(&keys(old)) {
            self.note(path, "path added".into(), false);
        }
    }

    /// The parameters of an operation, its path item's included, by
    /// `in.name`, resolved.
    fn parameters<'d>(doc: &'d Value, path: &str, method: &str) -> Vec<(String, &'d Value)> {
        let item = &doc["paths"][path];
        let mut out: Vec<(String, &Value)> = Vec::new();
        for list in [&item["parameters"], &item[method]["parameters"]] {
            for p in list.as_array().into_iter().flatten() {
                let p = resolve(doc, p);
                let key = format!(
                    "{}.{}",
                    p["in"].as_str().unwrap_or(""),
                    p["name"].as_str().unwrap_or("")
                );
                // An operation's own parameter overrides the path item's.
                out.retain(|(k, _)| *k != key);
                out.push((key, p));
            }
        }
        out
    }

    fn operation(&mut self, path: &str, method: &str, at: &str) {
        let (old_doc, new_doc) = (self.old, self.new);
        let old_params = Self::parameters(old_doc, path, method);
        let new_params = Self::parameters(new_doc, path, method);
        for (key, new_p) in &new_params {
            let required = new_p["required"].as_bool().unwrap_or(false);
            let at = format!("{at} parameter {key}");
            match old_params.iter().find(|(k, _)| k == key) {
                None if required => self.note(&at, "new required parameter".into(), true),
                None => self.note(&at, "new optional parameter".into(), false),
                Some((_, old_p)) => {
                    if required && !old_p["required"].as_bool().unwrap_or(false) {
                        self.note(&at, "parameter became required".into(), true);
                    }
                    self.schema(
                        Side::Request,
                        &at,
                        resolve(old_doc, &old_p["schema"]),
                        resolve(new_doc, &new_p["schema"]),
                    );
                }
            }
        }
        for (key, _) in &old_params {
            if !new_params.iter().any(|(k, _)| k == key) {
                // The server no longer needs it; a client that sends it is
                // not refused for that by the contract.
                self.note(
                    &format!("{at} parameter {key}"),
                    "parameter removed".into(),
                    false,
                );
            }
        }
        if new_doc["paths"][path][method]["requestBody"]["required"] == true
            && old_doc["paths"][path][method]["requestBody"]["required"] != true
        {
            self.note(at, "request body became required".into(), true);
        }
        self.responses(path, method, at);
    }

    fn responses(&mut self, path: &str, method: &str, at: &str) {
        let (old_doc, new_doc) = (self.old, self.new);
        let old = &old_doc["paths"][path][method]["responses"];
        let new = &new_doc["paths"][path][method]["responses"];
        for status in keys(old) {
            let at = format!("{at} {status}");
            if new[&status].is_null() {
                self.note(&at, "response removed".into(), true);
                continue;
            }
            let (o, n) = (
                resolve(old_doc, &old[&status]),
                resolve(new_doc, &new[&status]),
            );
            self.headers(&at, o, n);
            for media in keys(&o["content"]) {
                let (os, ns) = (
                    &o["content"][&media]["schema"],
                    &n["content"][&media]["schema"],
                );
                if n["content"][&media].is_null() {
                    self.note(&at, format!("media type {media} removed"), true);
                } else {
                    let at = format!("{at} body");
                    self.schema(
                        Side::Response,
                        &at,
                        resolve(old_doc, os),
                        resolve(new_doc, ns),
                    );
                }
            }
        }
        for status in keys(new).difference(&keys(old)) {
            self.note(&format!("{at} {status}"), "response added".into(), false);
        }
    }

    fn headers(&mut self, at: &str, old: &Value, new: &Value) {
        let (old_doc, new_doc) = (self.old, self.new);
        for name in keys(&old["headers"]) {
            let o = resolve(old_doc, &old["headers"][&name]);
            let at = format!("{at} header {name}");
            if o["required"] != true {
                continue;
            }
            if new["headers"][&name].is_null() {
                self.note(&at, "required header removed".into(), true);
                continue;
            }
            let n = resolve(new_doc, &new["headers"][&name]);
            if n["required"] != true {
                self.note(&at, "header no longer required".into(), true);
            }
            let (oc, nc) = (
                &resolve(old_doc, &o["schema"])["const"],
                &resolve(new_doc, &n["schema"])["const"],
            );
            if !oc.is_null() && oc != nc {
                self.note(&at, format!("fixed value {oc} became {nc}"), true);
            }
        }
    }

    /// Compares two schemas from the side of a client: for a request, what
    /// it may send must stay accepted; for a response, what it reads must
    /// stay there.
    fn schema(&mut self, side: Side, at: &str, old: &Value, new: &Value) {
        let (old_doc, new_doc) = (self.old, self.new);
        if old["type"] != new["type"] && !old["type"].is_null() {
            self.note(
                at,
                format!("type {} became {}", old["type"], new["type"]),
                true,
            );
            return;
        }
        if side == Side::Request {
            self.request_limits(at, old, new);
        }
        let (old_enum, new_enum) = (set(&old["enum"]), set(&new["enum"]));
        if !old["enum"].is_null() || !new["enum"].is_null() {
            for removed in old_enum.difference(&new_enum) {
                // A request value no longer accepted breaks; a response
                // value no longer sent does not.
                let breaking = side == Side::Request;
                self.note(at, format!("enum value {removed} removed"), breaking);
            }
            if !old["enum"].is_null() {
                for added in new_enum.difference(&old_enum) {
                    self.note(at, format!("enum value {added} added"), false);
                }
            }
            if side == Side::Request && old["enum"].is_null() {
                self.note(at, "values restricted to an enum".into(), true);
            }
        }
        // Object properties.
        let (old_req, new_req) = (set(&old["required"]), set(&new["required"]));
        for name in keys(&old["properties"]) {
            let at = format!("{at}.{name}");
            let quoted = Value::String(name.clone()).to_string();
            if new["properties"][&name].is_null() {
                let breaking = side == Side::Response;
                self.note(&at, "property removed".into(), breaking);
                continue;
            }
            match side {
                Side::Response if old_req.contains(&quoted) && !new_req.contains(&quoted) => {
                    self.note(&at, "property no longer required".into(), true)
                }
                Side::Request if !old_req.contains(&quoted) && new_req.contains(&quoted) => {
                    self.note(&at, "property became required".into(), true)
                }
                _ => {}
            }
            self.schema(
                side,
                &at,
                resolve(old_doc, &old["properties"][&name]),
                resolve(new_doc, &new["properties"][&name]),
            );
        }
        for name in keys(&new["properties"]).difference(&keys(&old["properties"])) {
            let quoted = Value::String(name.clone()).to_string();
            let required = new_req.contains(&quoted);
            let breaking = side == Side::Request && required;
            let what = if required {
                "required property added"
            } else {
                "optional property added"
            };
            self.note(&format!("{at}.{name}"), what.into(), breaking);
        }
        if !old["items"].is_null() && !new["items"].is_null() {
            self.schema(
                side,
                &format!("{at}[]"),
                resolve(old_doc, &old["items"]),
                resolve(new_doc, &new["items"]),
            );
        }
    }

    /// A request's limits may only loosen.
    fn request_limits(&mut self, at: &str, old: &Value, new: &Value) {
        let num = |v: &Value, k: &str| v[k].as_f64();
        // The byte limit is compared with the old byte limit, or failing
        // that the old character limit (a byte limit is never looser).
        let old_max_bytes = num(old, "x-max-bytes").or(num(old, "maxLength"));
        for (key, old_bound, tighter) in [
            (
                "maxLength",
                num(old, "maxLength"),
                (|o: f64, n: f64| n < o) as fn(f64, f64) -> bool,
            ),
            ("x-max-bytes", old_max_bytes, |o, n| n < o),
            ("maximum", num(old, "maximum"), |o, n| n < o),
            ("minLength", num(old, "minLength"), |o, n| n > o),
            ("minimum", num(old, "minimum"), |o, n| n > o),
        ] {
            match (old_bound, num(new, key)) {
                (None, Some(n)) => self.note(at, format!("{key} {n} added"), true),
                (Some(o), Some(n)) if tighter(o, n) => {
                    self.note(at, format!("{key} {o} tightened to {n}"), true)
                }
                _ => {}
            }
        }
        if !new["pattern"].is_null() && old["pattern"] != new["pattern"] {
            self.note(
                at,
                format!("pattern {} became {}", old["pattern"], new["pattern"]),
                true,
            );
        }
        if !new["const"].is_null() && old["const"] != new["const"] {
            self.note(at, format!("restricted to {}", new["const"]), true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::default_path;

    fn current() -> Value {
        let text = std::fs::read_to_string(default_path()).expect("openapi.yaml");
        serde_yaml_ng::from_str(&text).expect("yaml")
    }

    /// `current()` changed by `edit`.
    fn edited(edit: impl FnOnce(&mut Value)) -> Value {
        let mut v = current();
        edit(&mut v);
        v
    }

    /// The current version with its major moved by `by` (`x.0.0`).
    fn major_plus(by: i64) -> Value {
        let v = current();
        let m =
            major(v["info"]["version"].as_str().unwrap_or("")).expect("a semver version") as i64;
        format!("{}.0.0", m + by).into()
    }

    fn breaking(v: &Compatibility) -> Vec<String> {
        v.breaking().map(ToString::to_string).collect()
    }

    #[test]
    fn the_contract_is_compatible_with_itself() {
        let v = compare(&current(), &current());
        assert!(v.changes.is_empty(), "{:?}", v.changes);
        assert!(v.passes());
    }

    #[test]
    fn a_removed_response_field_is_breaking() {
        let new = edited(|c| {
            let count = &mut c["components"]["schemas"]["Count"];
            count["properties"]
                .as_object_mut()
                .expect("properties")
                .remove("count");
            count["required"] = serde_json::json!(["path"]);
        });
        let v = compare(&current(), &new);
        let b = breaking(&v);
        assert!(
            b.iter()
                .any(|c| c.contains("POST /visits 200 body.count: property removed")),
            "{b:?}"
        );
        assert!(!v.passes(), "a removed field needs a new major version");
    }

    #[test]
    fn an_added_optional_response_field_is_compatible() {
        let new = edited(|c| {
            c["components"]["schemas"]["Count"]["properties"]["first_seen"] =
                serde_json::json!({"type": "string"});
        });
        let v = compare(&current(), &new);
        assert!(v.passes(), "{:?}", breaking(&v));
        assert!(
            v.changes
                .iter()
                .any(|c| c.at == "POST /visits 200 body.first_seen"
                    && c.what == "optional property added"),
            "{:?}",
            v.changes
        );
    }

    #[test]
    fn a_breaking_change_passes_with_a_new_major_version_only() {
        let remove_field = |c: &mut Value| {
            c["components"]["schemas"]["Count"]["properties"]
                .as_object_mut()
                .expect("properties")
                .remove("path");
        };
        let same_major = edited(|c| {
            remove_field(c);
            let minor_bump = major_plus(0).as_str().unwrap_or("").replace(".0.0", ".9.0");
            c["info"]["version"] = minor_bump.into();
        });
        assert!(!compare(&current(), &same_major).passes());
        let next_major = edited(|c| {
            remove_field(c);
            c["info"]["version"] = major_plus(1);
        });
        let v = compare(&current(), &next_major);
        assert!(v.major_bumped() && v.passes());
        assert!(v.breaking().next().is_some(), "still listed");
    }

    #[test]
    fn removed_operations_and_responses_are_breaking() {
        let new = edited(|c| {
            c["paths"]["/visits"]
                .as_object_mut()
                .expect("/visits")
                .remove("get");
            c["paths"]["/visits"]["post"]["responses"]
                .as_object_mut()
                .expect("responses")
                .remove("503");
        });
        let b = breaking(&compare(&current(), &new));
        assert!(
            b.iter()
                .any(|c| c.contains("GET /visits: operation removed")),
            "{b:?}"
        );
        assert!(
            b.iter()
                .any(|c| c.contains("POST /visits 503: response removed")),
            "{b:?}"
        );
    }

    #[test]
    fn tightened_request_limits_and_new_required_parameters_are_breaking() {
        let new = edited(|c| {
            let schema = &mut c["components"]["parameters"]["Path"]["schema"];
            schema["maxLength"] = 128.into();
            schema["x-max-bytes"] = 128.into();
            c["paths"]["/visits"]["options"]["parameters"] = serde_json::json!([
                {"name": "origin", "in": "query", "required": true, "schema": {"type": "string"}}
            ]);
        });
        let b = breaking(&compare(&current(), &new));
        for expected in [
            "POST /visits parameter query.path: maxLength 256 tightened to 128",
            "POST /visits parameter query.path: x-max-bytes 256 tightened to 128",
            "OPTIONS /visits parameter query.origin: new required parameter",
        ] {
            assert!(b.iter().any(|c| c.contains(expected)), "{expected}: {b:?}");
        }
    }

    #[test]
    fn a_removed_error_code_breaks_nothing_but_a_request_enum_narrowed_does() {
        let new = edited(|c| {
            let codes = c["components"]["schemas"]["Error"]["properties"]["error"]["enum"]
                .as_array_mut()
                .expect("enum");
            codes.retain(|v| v != "throttled");
        });
        let v = compare(&current(), &new);
        assert!(v.passes(), "{:?}", breaking(&v));
        assert!(
            v.changes
                .iter()
                .any(|c| c.what.contains("\"throttled\" removed"))
        );

        let old = edited(|c| {
            c["components"]["parameters"]["Path"]["schema"]["enum"] =
                serde_json::json!(["/", "/blog"]);
        });
        let new = edited(|c| {
            c["components"]["parameters"]["Path"]["schema"]["enum"] = serde_json::json!(["/"]);
        });
        assert!(!compare(&old, &new).passes());
    }

    #[test]
    fn a_required_header_removed_or_changed_is_breaking() {
        let new = edited(|c| {
            c["components"]["headers"]["CacheControl"]["schema"]["const"] = "max-age=60".into();
            c["components"]["responses"]["MethodNotAllowed"]["headers"]
                .as_object_mut()
                .expect("headers")
                .remove("Allow");
        });
        let b = breaking(&compare(&current(), &new));
        assert!(
            b.iter()
                .any(|c| c.contains("header Cache-Control: fixed value")),
            "{b:?}"
        );
        assert!(
            b.iter()
                .any(|c| c.contains("POST /visits 405 header Allow: required header removed")),
            "{b:?}"
        );
    }

    #[test]
    fn versions_compare_by_major() {
        assert_eq!(major("1.10.0"), Some(1));
        assert_eq!(major("x"), None);
        let v = Compatibility {
            old_version: "1.4.0".into(),
            new_version: "1.10.0".into(),
            changes: vec![],
        };
        assert!(!v.major_bumped());
    }
}
