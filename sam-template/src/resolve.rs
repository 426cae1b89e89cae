//! Intrinsic functions and conditions, resolved on the parameters' values
//! (their defaults, or the overrides the template was read with).

use std::cell::Cell;

use serde_yaml_ng::Value;

use crate::{ACCOUNT_ID, REGION, STACK_NAME};

/// Conditions may name conditions; deeper than this is a cycle.
const MAX_CONDITION_DEPTH: u8 = 16;

/// Values nest (a `Ref` to a parameter whose default is an `Fn::If` on a
/// condition that compares a `Ref` ...); deeper than this is a cycle (a
/// parameter's default naming itself, a condition inside its own `Fn::If`).
const MAX_VALUE_DEPTH: u16 = 64;

/// A resolved value: text (numbers as text), a list, or nothing
/// (`AWS::NoValue`, or what cannot be resolved, with the reason).
pub(crate) enum Resolved {
    Text(String),
    List(Vec<String>),
    Absent,
    Unresolved(String),
}

impl Resolved {
    /// As text (a list joined with commas), `None` when absent, or why it
    /// cannot be resolved.
    pub(crate) fn into_text(self) -> Result<Option<String>, String> {
        match self {
            Resolved::Text(t) => Ok(Some(t)),
            Resolved::List(l) => Ok(Some(l.join(","))),
            Resolved::Absent => Ok(None),
            Resolved::Unresolved(why) => Err(why),
        }
    }
}

/// A scalar as text (numbers and booleans as YAML writes them).
pub(crate) fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Text as a finite number (surrounding blanks allowed).
pub(crate) fn parse_number(t: &str) -> Option<f64> {
    t.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

/// Short-form intrinsics (`!Ref X`) become the long form (`{Ref: X}`).
pub(crate) fn normalize(v: Value) -> Value {
    match v {
        Value::Tagged(tagged) => {
            let name = tagged.tag.to_string();
            let name = name.trim_start_matches('!');
            let key = match name {
                "Ref" | "Condition" => name.to_owned(),
                other => format!("Fn::{other}"),
            };
            let inner = normalize(tagged.value);
            // `!GetAtt A.B` is `Fn::GetAtt: [A, B]`.
            let inner = match (key.as_str(), inner) {
                ("Fn::GetAtt", Value::String(s)) => match s.split_once('.') {
                    Some((a, b)) => {
                        Value::Sequence(vec![Value::String(a.into()), Value::String(b.into())])
                    }
                    None => Value::String(s),
                },
                (_, inner) => inner,
            };
            let mut map = serde_yaml_ng::Mapping::new();
            map.insert(Value::String(key), inner);
            Value::Mapping(map)
        }
        Value::Mapping(m) => {
            Value::Mapping(m.into_iter().map(|(k, v)| (k, normalize(v))).collect())
        }
        Value::Sequence(s) => Value::Sequence(s.into_iter().map(normalize).collect()),
        other => other,
    }
}

/// Reads values of one template document.
pub(crate) struct Resolver<'a> {
    doc: &'a Value,
    /// How deep [`Resolver::resolve`] is now: bounds a cycle.
    depth: Cell<u16>,
}

impl<'a> Resolver<'a> {
    pub(crate) fn new(doc: &'a Value) -> Self {
        Self {
            doc,
            depth: Cell::new(0),
        }
    }
    /// A value as text; unresolvable ones are noted and read as absent.
    pub(crate) fn text(&self, v: &'a Value, notes: &mut Vec<String>, what: &str) -> Option<String> {
        self.resolve(v).into_text().unwrap_or_else(|why| {
            notes.push(format!("{what} not read: {why}"));
            None
        })
    }

    /// A value as a number; text that is not one is refused, and so is a
    /// value that cannot be resolved: a number sizes the stage (memory,
    /// timeout, throttle, concurrency, a limit), and reading it as left
    /// out would emulate or price another stack than the one deployed.
    pub(crate) fn number(&self, v: &'a Value, what: &str) -> Result<Option<f64>, String> {
        let t = match self.resolve(v).into_text() {
            Ok(None) => return Ok(None),
            Ok(Some(t)) => t,
            Err(why) => {
                return Err(format!(
                    "{what} cannot be read here ({why}): give a parameter without a default its value \
                     with --parameter NAME=VALUE, or write the number in the template"
                ));
            }
        };
        match parse_number(&t) {
            Some(n) => Ok(Some(n)),
            None => Err(format!("{what}: {t:?} is not a number")),
        }
    }

    pub(crate) fn resolve(&self, v: &'a Value) -> Resolved {
        let depth = self.depth.get();
        if depth >= MAX_VALUE_DEPTH {
            return Resolved::Unresolved(
                "it nests too deep: a parameter, condition or resource refers to itself".into(),
            );
        }
        self.depth.set(depth + 1);
        let resolved = self.resolve_value(v);
        self.depth.set(depth);
        resolved
    }

    fn resolve_value(&self, v: &'a Value) -> Resolved {
        if let Some(t) = scalar_text(v) {
            return Resolved::Text(t);
        }
        match v {
            Value::Null => Resolved::Absent,
            Value::Sequence(items) => {
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
            Value::Mapping(m) if m.len() == 1 => match m.iter().next() {
                Some((Value::String(name), arg)) => self.intrinsic(name, arg),
                _ => Resolved::Unresolved(format!("{v:?} is not a value")),
            },
            _ => Resolved::Unresolved(format!("{v:?} is not a value")),
        }
    }

    fn intrinsic(&self, name: &str, arg: &'a Value) -> Resolved {
        let args = arg.as_sequence().map(Vec::as_slice);
        match name {
            "Ref" => match arg.as_str() {
                Some(r) => self.reference(r),
                None => Resolved::Unresolved(format!("Ref {arg:?}")),
            },
            "Fn::If" => match args {
                Some([cond, yes, no]) => match cond.as_str().map(|c| self.condition_named(c, 0)) {
                    Some(Ok(true)) => self.resolve(yes),
                    Some(Ok(false)) => self.resolve(no),
                    Some(Err(why)) => Resolved::Unresolved(why),
                    None => Resolved::Unresolved(format!("Fn::If {cond:?}")),
                },
                _ => Resolved::Unresolved(format!("Fn::If {arg:?}")),
            },
            "Fn::Sub" => self.sub(arg),
            "Fn::Join" => match args {
                Some([sep, list]) => match (sep.as_str(), self.resolve(list)) {
                    (Some(sep), Resolved::List(items)) => Resolved::Text(items.join(sep)),
                    (_, u @ Resolved::Unresolved(_)) => u,
                    _ => Resolved::Unresolved(format!("Fn::Join {arg:?}")),
                },
                _ => Resolved::Unresolved(format!("Fn::Join {arg:?}")),
            },
            other => Resolved::Unresolved(format!("{other} is not resolved locally")),
        }
    }

    /// `Ref`: a parameter's value, a pseudo parameter, or a resource.
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
        if param.is_mapping() {
            return match &param["Default"] {
                Value::Null => Resolved::Unresolved(format!("parameter {name} has no default")),
                d => self.resolve(d),
            };
        }
        let resource = &self.doc["Resources"][name];
        if resource["Type"].as_str() == Some("AWS::DynamoDB::Table")
            && let Resolved::Text(t) = self.resolve(&resource["Properties"]["TableName"])
        {
            return Resolved::Text(t);
        }
        if resource.is_mapping() {
            // CloudFormation would name it `<stack>-<id>-<suffix>`; locally
            // the logical id says what it is.
            return Resolved::Text(name.to_owned());
        }
        Resolved::Unresolved(format!("Ref {name}: no such parameter or resource"))
    }

    fn sub(&self, arg: &'a Value) -> Resolved {
        let (text, vars) = match arg {
            Value::String(s) => (s.as_str(), None),
            Value::Sequence(a) if a.len() == 2 && a[0].is_string() => {
                (a[0].as_str().unwrap_or_default(), a[1].as_mapping())
            }
            _ => return Resolved::Unresolved(format!("Fn::Sub {arg:?}")),
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
                match value.into_text() {
                    Ok(t) => out.push_str(&t.unwrap_or_default()),
                    Err(why) => return Resolved::Unresolved(why),
                }
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Resolved::Text(out)
    }

    /// A named condition of the template's `Conditions`.
    pub(crate) fn condition_named(&self, name: &str, depth: u8) -> Result<bool, String> {
        if depth > MAX_CONDITION_DEPTH {
            return Err(format!("condition {name} nests too deep"));
        }
        match &self.doc["Conditions"][name] {
            Value::Null => Err(format!("no condition {name}")),
            c => self
                .condition(c, depth + 1)
                .map_err(|why| format!("cannot evaluate condition {name}: {why}")),
        }
    }

    fn condition(&self, c: &'a Value, depth: u8) -> Result<bool, String> {
        let Some((Value::String(name), arg)) = c
            .as_mapping()
            .filter(|m| m.len() == 1)
            .and_then(|m| m.iter().next())
        else {
            return Err(format!("{c:?} is not a condition"));
        };
        let items = arg.as_sequence().map(Vec::as_slice).unwrap_or_default();
        match name.as_str() {
            "Condition" => self.condition_named(arg.as_str().unwrap_or_default(), depth),
            "Fn::Equals" => match items {
                [a, b] => match (self.resolve(a), self.resolve(b)) {
                    (Resolved::Text(a), Resolved::Text(b)) => Ok(a == b),
                    (Resolved::Unresolved(why), _) | (_, Resolved::Unresolved(why)) => Err(why),
                    _ => Err(format!("Fn::Equals {arg:?}")),
                },
                _ => Err(format!("Fn::Equals {arg:?}")),
            },
            "Fn::Not" => match items {
                [one] => self.condition(one, depth).map(|b| !b),
                _ => Err(format!("Fn::Not {arg:?}")),
            },
            "Fn::And" => items
                .iter()
                .try_fold(true, |acc, c| Ok(acc && self.condition(c, depth)?)),
            "Fn::Or" => items
                .iter()
                .try_fold(false, |acc, c| Ok(acc || self.condition(c, depth)?)),
            other => Err(format!("{other} is not a condition function")),
        }
    }
}
