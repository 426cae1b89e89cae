//! `infra/template.yaml` agrees with the code and with `openapi.yaml`: the
//! table's name and key, the function's environment, its permissions, and
//! its routes. Change one side alone and a test here fails.

use std::collections::BTreeSet;

use counter_lambda::config::{DEFAULT_TABLE, VARIABLES};
use counter_lambda::store::KEY_ATTRIBUTE;
use serde_json::Value;

fn yaml(relative: &str) -> Value {
    let file = format!("{}/../{relative}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&file).expect("file");
    serde_yaml_ng::from_str(&text).expect("plain YAML (long-form intrinsics)")
}

fn template() -> Value {
    yaml("infra/template.yaml")
}

#[test]
fn the_table_is_the_one_the_code_writes_to() {
    let t = template();
    let table = &t["Resources"]["VisitorCountTable"]["Properties"];
    assert_eq!(table["TableName"], DEFAULT_TABLE);
    assert_eq!(table["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(
        table["KeySchema"],
        serde_json::json!([{"AttributeName": KEY_ATTRIBUTE, "KeyType": "HASH"}]),
        "the partition key is the code's key attribute, alone"
    );
    assert_eq!(
        table["AttributeDefinitions"],
        serde_json::json!([{"AttributeName": KEY_ATTRIBUTE, "AttributeType": "S"}])
    );
    assert_eq!(
        table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );
}

#[test]
fn the_functions_environment_is_what_the_config_reads() {
    let t = template();
    let env = t["Resources"]["CounterFunction"]["Properties"]["Environment"]["Variables"]
        .as_object()
        .expect("environment");
    let known: BTreeSet<&str> = VARIABLES.into_iter().collect();
    for name in env.keys() {
        assert!(
            known.contains(name.as_str()) || name == "RUST_LOG",
            "{name} is set in the template but the code never reads it"
        );
    }
    for needed in ["TABLE_NAME", "ALLOWED_ORIGINS", "ALLOWED_PATHS"] {
        assert!(
            env.contains_key(needed),
            "the template does not set {needed}"
        );
    }
    assert_eq!(env["TABLE_NAME"]["Ref"], "VisitorCountTable");
}

#[test]
fn the_function_may_only_update_and_get_items_of_that_table() {
    let t = template();
    let policies = &t["Resources"]["CounterFunction"]["Properties"]["Policies"];
    let statements = policies[0]["Statement"]
        .as_array()
        .expect("one inline policy");
    assert_eq!(statements.len(), 1);
    assert_eq!(
        statements[0]["Action"],
        serde_json::json!(["dynamodb:UpdateItem", "dynamodb:GetItem"])
    );
    assert_eq!(
        statements[0]["Resource"]["Fn::GetAtt"],
        serde_json::json!(["VisitorCountTable", "Arn"])
    );
    assert_eq!(
        policies.as_array().map(Vec::len),
        Some(1),
        "no other policy"
    );
}

#[test]
fn the_routes_are_the_contracts_and_everything_else_reaches_the_function() {
    let t = template();
    let contract = yaml("openapi.yaml");
    let events = t["Resources"]["CounterFunction"]["Properties"]["Events"]
        .as_object()
        .expect("events");
    let routes: BTreeSet<(String, String)> = events
        .values()
        .filter(|e| e["Type"] == "HttpApi")
        .map(|e| {
            (
                e["Properties"]["Method"].as_str().unwrap_or("").to_owned(),
                e["Properties"]["Path"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let documented: BTreeSet<(String, String)> = contract["paths"]["/visits"]
        .as_object()
        .expect("/visits")
        .keys()
        .filter(|k| *k != "parameters")
        .map(|m| (m.to_uppercase(), "/visits".to_owned()))
        .collect();
    let explicit: BTreeSet<(String, String)> = routes
        .iter()
        .filter(|(_, p)| p == "/visits")
        .cloned()
        .collect();
    assert_eq!(
        explicit, documented,
        "routes for /visits = the contract's methods"
    );
    assert!(
        routes.contains(&("ANY".to_owned(), "/{proxy+}".to_owned())),
        "unknown routes reach the function, which answers the contract's 404/405"
    );
}

#[test]
fn the_function_runs_as_the_packaged_bootstrap() {
    let t = template();
    let f = &t["Resources"]["CounterFunction"]["Properties"];
    assert_eq!(f["Runtime"], "provided.al2023");
    assert_eq!(f["Handler"], "bootstrap");
    assert_eq!(f["Architectures"], serde_json::json!(["arm64"]));
    let code = f["CodeUri"].as_str().expect("CodeUri");
    let package = std::fs::read_to_string(format!(
        "{}/../infra/package.sh",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("infra/package.sh");
    let zip = code.rsplit('/').next().unwrap_or(code);
    assert!(
        package.contains(&zip.replace("arm64", "${arch}")),
        "infra/package.sh writes {zip}"
    );
}
