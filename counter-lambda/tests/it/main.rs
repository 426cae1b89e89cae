//! counter-lambda's integration tests, one binary: every test runs the real
//! handler against DynamoDB Local.

mod bad_input;
mod concurrency;
mod contract_limits;
mod cors_and_headers;
mod deployment;
mod edge;
mod events;
mod helpers;
mod origins;
mod outage;
mod routes;
mod runtime_api;
mod test_keys;
mod workflows;
