//! loadtest's integration tests, one binary: the real `loadtest` executable
//! against the local stage, a deliberately racy counter, a failing stage,
//! three generator nodes merged, runs killed and judged afterwards, and
//! runs compared.

mod compare;
mod emulated;
mod faults;
mod foreign;
mod helpers;
mod inconclusive;
mod installed;
mod interrupt;
mod killed;
mod memory;
mod metrics;
mod nodes;
mod one_path;
mod open_model;
mod promtool;
mod racy_counter;
mod runs;
mod safety;
mod stepped_and_plan;
mod structure;
mod version;
