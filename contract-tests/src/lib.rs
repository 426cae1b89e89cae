//! The API contract (`openapi.yaml`) checked from both sides.
//!
//! - Consumer: the site's real `visitor-counter.js` in headless Chromium
//!   ([`browser`]), served by [`site`], against wiremock playing the API
//!   with responses made from the contract's examples.
//! - Provider: the real API (the local stage, or `CONTRACT_BASE_URL`)
//!   against the same contract ([`provider`]).

pub mod browser;
pub mod compat;
pub mod contract;
pub mod install;
pub mod provider;
pub mod site;

pub use contract::Contract;
