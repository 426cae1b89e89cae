//! The contract from both sides: the site in real headless Chromium against
//! wiremock playing the API, and the real API against the contract.

mod compat_gate;
mod helpers;
mod provider_checks;
mod site_in_browser;
mod stage;
