//! A parameter's value given on the command line, checked against the
//! parameter's declaration as CloudFormation checks it at deploy time
//! (<https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/parameters-section-structure.html>):
//! its `Type` (a `Number` is a number), `AllowedValues`, `MinValue` and
//! `MaxValue`, `MinLength` and `MaxLength`, and `AllowedPattern` (matched
//! against the whole value). A value a deploy would refuse is refused
//! here too, so no stage is emulated or priced that could not be deployed.

use serde_yaml_ng::{Mapping, Value};

use crate::resolve::{parse_number, scalar_text};

/// `Ok` when `value` is one the declaration `decl` of parameter `name`
/// allows; else what is wrong, naming the flag and the constraint.
pub(crate) fn check(name: &str, value: &str, decl: &Mapping) -> Result<(), String> {
    let refuse = |why: String| {
        let hint =
            text(decl.get("ConstraintDescription")).map_or(String::new(), |d| format!(" ({d})"));
        Err(format!("--parameter {name}={value}: {why}{hint}"))
    };
    let kind = text(decl.get("Type")).unwrap_or_default();
    if let Some(allowed) = decl.get("AllowedValues").and_then(Value::as_sequence) {
        let allowed: Vec<String> = allowed.iter().filter_map(|v| text(Some(v))).collect();
        if !allowed.iter().any(|a| a == value) {
            return refuse(format!("not one of {}", allowed.join(", ")));
        }
    }
    if kind == "Number" {
        let Some(n) = parse_number(value) else {
            return refuse("not a number (the parameter's Type is Number)".into());
        };
        if let Some(min) = number(decl.get("MinValue")).filter(|&min| n < min) {
            return refuse(format!("below its MinValue {min}"));
        }
        if let Some(max) = number(decl.get("MaxValue")).filter(|&max| n > max) {
            return refuse(format!("above its MaxValue {max}"));
        }
        return Ok(());
    }
    let chars = value.chars().count() as f64;
    if let Some(min) = number(decl.get("MinLength")).filter(|&min| chars < min) {
        return refuse(format!("shorter than its MinLength {min}"));
    }
    if let Some(max) = number(decl.get("MaxLength")).filter(|&max| chars > max) {
        return refuse(format!("longer than its MaxLength {max}"));
    }
    if let Some(pattern) = text(decl.get("AllowedPattern")) {
        // A pattern this regex engine cannot compile (CloudFormation's is
        // Java's) is not checked: the deploy will.
        if let Ok(re) = regex::Regex::new(&format!("^(?:{pattern})$"))
            && !re.is_match(value)
        {
            return refuse(format!("does not match its AllowedPattern {pattern}"));
        }
    }
    Ok(())
}

fn text(v: Option<&Value>) -> Option<String> {
    scalar_text(v?)
}

fn number(v: Option<&Value>) -> Option<f64> {
    parse_number(&text(v)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decl(yaml: &str) -> Mapping {
        serde_yaml_ng::from_str(yaml).expect("a mapping")
    }

    #[test]
    fn numbers_are_checked_by_type_and_range() {
        let d =
            decl("{Type: Number, MinValue: 1, MaxValue: 100, ConstraintDescription: 'at least 1'}");
        assert!(check("Burst", "15", &d).is_ok());
        assert!(check("Burst", "100", &d).is_ok());
        let e = check("Burst", "0", &d).expect_err("below the minimum");
        assert!(
            e.contains("--parameter Burst=0") && e.contains("MinValue 1"),
            "{e}"
        );
        assert!(e.contains("at least 1"), "the template's own words: {e}");
        assert!(check("Burst", "101", &d).is_err());
        let e = check("Burst", "lots", &d).expect_err("not a number");
        assert!(e.contains("not a number"), "{e}");
    }

    #[test]
    fn text_is_checked_by_allowed_values_length_and_pattern() {
        let d = decl("{Type: String, AllowedValues: [disabled, enabled]}");
        assert!(check("Keys", "enabled", &d).is_ok());
        let e = check("Keys", "maybe", &d).expect_err("not allowed");
        assert!(e.contains("disabled, enabled"), "{e}");
        let d = decl("{Type: String, AllowedPattern: '^[a-z]+$', MaxLength: 5}");
        assert!(check("Stage", "prod", &d).is_ok());
        assert!(check("Stage", "a/b", &d).is_err());
        assert!(check("Stage", "abcdef", &d).is_err(), "too long");
        // Matched against the whole value, as CloudFormation does.
        let d = decl("{Type: String, AllowedPattern: '[a-z]+'}");
        assert!(check("Stage", "ab1", &d).is_err());
        // A pattern this engine cannot read is left to the deploy.
        let d = decl("{Type: String, AllowedPattern: '(?<=a)b'}");
        assert!(check("Stage", "anything", &d).is_ok());
    }
}
