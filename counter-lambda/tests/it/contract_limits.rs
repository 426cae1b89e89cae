//! The limits and codes the handler enforces are the ones `openapi.yaml`
//! states: the contract is read here, not restated.

use std::collections::BTreeSet;

use counter_lambda::error::ApiError;
use counter_lambda::path::{MAX_PATH_BYTES, PathError};

fn contract() -> serde_json::Value {
    let file = format!("{}/../openapi.yaml", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(file).expect("openapi.yaml");
    serde_yaml_ng::from_str(&text).expect("openapi.yaml is YAML")
}

/// The contract states the limit in bytes (`x-max-bytes`), as the server
/// counts; `maxLength` (characters, all JSON Schema can say) is the same
/// number, an upper bound since every character is at least one byte.
#[test]
fn path_length_limit_matches_the_contract() {
    let c = contract();
    let schema = &c["components"]["parameters"]["Path"]["schema"];
    assert_eq!(schema["x-max-bytes"].as_u64(), Some(MAX_PATH_BYTES as u64));
    assert_eq!(schema["maxLength"].as_u64(), Some(MAX_PATH_BYTES as u64));
}

#[test]
fn every_error_code_the_handler_sends_is_in_the_contract_and_back() {
    let c = contract();
    let documented: BTreeSet<String> =
        c["components"]["schemas"]["Error"]["properties"]["error"]["enum"]
            .as_array()
            .expect("an enum of codes")
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
    // `PathError::ALL` holds every variant (a compile-time check in
    // path.rs), so a new path error cannot slip past this comparison.
    let mut sent: BTreeSet<String> = PathError::ALL
        .into_iter()
        .map(|e| ApiError::BadPath(e).code().to_owned())
        .collect();
    for e in [
        ApiError::NotFound,
        ApiError::MethodNotAllowed,
        ApiError::UnexpectedBody,
        ApiError::OriginNotAllowed,
        ApiError::DirectAccessRefused,
        ApiError::Throttled,
        ApiError::Unavailable,
        ApiError::Internal,
    ] {
        sent.insert(e.code().to_owned());
    }
    assert_eq!(sent, documented);
}
