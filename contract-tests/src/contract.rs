//! `openapi.yaml`, read: responses, their examples, their headers, and
//! JSON-schema validation of bodies (OpenAPI 3.1 schemas are JSON Schema
//! 2020-12, checked with the `jsonschema` crate).

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    #[error("reading {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("openapi.yaml is not valid YAML: {0}")]
    Yaml(#[from] serde_yaml_ng::Error),
    #[error("the contract has no {0}")]
    Missing(String),
    #[error("schema {0} does not compile: {1}")]
    Schema(String, String),
}

/// Where the contract lives: the workspace root.
pub fn default_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../openapi.yaml")
}

#[derive(Debug, Clone)]
pub struct Contract {
    doc: Value,
}

/// One documented response of one operation.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    pub path: String,
    pub method: String,
    pub status: u16,
}

impl Contract {
    pub fn load() -> Result<Self, ContractError> {
        Self::from_file(&default_path())
    }

    pub fn from_file(path: &Path) -> Result<Self, ContractError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| ContractError::Read(path.to_owned(), e))?;
        Ok(Self {
            doc: serde_yaml_ng::from_str(&text)?,
        })
    }

    /// Follows a local `$ref` (`#/components/...`) if `v` is one.
    pub fn resolve<'a>(&'a self, v: &'a Value) -> &'a Value {
        match v.get("$ref").and_then(Value::as_str) {
            Some(r) => self
                .doc
                .pointer(r.trim_start_matches('#'))
                .map_or(v, |target| self.resolve(target)),
            None => v,
        }
    }

    /// Every (path, method, status) the contract documents.
    pub fn operations(&self) -> Vec<Operation> {
        let mut out = Vec::new();
        let Some(paths) = self.doc["paths"].as_object() else {
            return out;
        };
        for (path, item) in paths {
            let Some(item) = item.as_object() else {
                continue;
            };
            for (method, op) in item {
                if method == "parameters" {
                    continue;
                }
                if let Some(responses) = op["responses"].as_object() {
                    for status in responses.keys() {
                        if let Ok(status) = status.parse() {
                            out.push(Operation {
                                path: path.clone(),
                                method: method.to_uppercase(),
                                status,
                            });
                        }
                    }
                }
            }
        }
        out
    }

    /// The response object for an operation's status.
    pub fn response(&self, path: &str, method: &str, status: u16) -> Result<&Value, ContractError> {
        let r = &self.doc["paths"][path][method.to_lowercase()]["responses"][status.to_string()];
        if r.is_null() {
            return Err(ContractError::Missing(format!(
                "{method} {path} {status} response"
            )));
        }
        Ok(self.resolve(r))
    }

    /// The response's JSON examples, by name.
    pub fn examples(
        &self,
        path: &str,
        method: &str,
        status: u16,
    ) -> Result<Vec<(String, Value)>, ContractError> {
        let r = self.response(path, method, status)?;
        let examples = r["content"]["application/json"]["examples"]
            .as_object()
            .ok_or_else(|| {
                ContractError::Missing(format!("examples for {method} {path} {status}"))
            })?;
        Ok(examples
            .iter()
            .map(|(name, e)| (name.clone(), self.resolve(e)["value"].clone()))
            .collect())
    }

    /// One named example.
    pub fn example(
        &self,
        path: &str,
        method: &str,
        status: u16,
        name: &str,
    ) -> Result<Value, ContractError> {
        self.examples(path, method, status)?
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
            .ok_or_else(|| {
                ContractError::Missing(format!("example {name} of {method} {path} {status}"))
            })
    }

    /// Headers the response documents: (name, required, const value if any).
    pub fn headers(
        &self,
        path: &str,
        method: &str,
        status: u16,
    ) -> Result<Vec<(String, bool, Option<String>)>, ContractError> {
        let r = self.response(path, method, status)?;
        Ok(r["headers"]
            .as_object()
            .map(|h| {
                h.iter()
                    .map(|(name, spec)| {
                        let spec = self.resolve(spec);
                        (
                            name.clone(),
                            spec["required"].as_bool().unwrap_or(false),
                            spec["schema"]["const"].as_str().map(str::to_owned),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Checks a body against the response's schema; each violation is a
    /// message that names the rule broken and where.
    pub fn validate_body(
        &self,
        path: &str,
        method: &str,
        status: u16,
        body: &Value,
    ) -> Result<Vec<String>, ContractError> {
        let r = self.response(path, method, status)?;
        let schema = &r["content"]["application/json"]["schema"];
        if schema.is_null() {
            return Ok(vec![]);
        }
        // The schema may $ref into components: validate within a document
        // that carries them.
        let root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": self.doc["components"],
            "allOf": [schema],
        });
        let validator = jsonschema::draft202012::new(&root).map_err(|e| {
            ContractError::Schema(format!("{method} {path} {status}"), e.to_string())
        })?;
        Ok(validator
            .iter_errors(body)
            .map(|e| {
                let at = e.instance_path().to_string();
                format!(
                    "{e} (at {})",
                    if at.is_empty() { "/".to_owned() } else { at }
                )
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_example_validates_against_its_own_schema() {
        let c = Contract::load().expect("contract");
        let mut checked = 0;
        for op in c.operations() {
            let Ok(examples) = c.examples(&op.path, &op.method, op.status) else {
                continue;
            };
            for (name, value) in examples {
                let errors = c
                    .validate_body(&op.path, &op.method, op.status, &value)
                    .expect("schema");
                assert!(
                    errors.is_empty(),
                    "{} {} {} example {name}: {errors:?}",
                    op.method,
                    op.path,
                    op.status
                );
                checked += 1;
            }
        }
        assert!(checked >= 10, "{checked} examples checked");
    }

    #[test]
    fn a_body_with_visits_instead_of_count_is_named_as_a_violation() {
        let c = Contract::load().expect("contract");
        let errors = c
            .validate_body("/visits", "POST", 200, &json!({"visits": 3}))
            .expect("schema");
        let all = errors.join("; ");
        assert!(all.contains("\"count\" is a required property"), "{all}");
        assert!(all.contains("visits"), "{all}");
    }
}
