//! loadtest's integration tests, one binary: the real `loadtest` executable
//! against the local stage, a deliberately racy counter, a failing stage,
//! and three generator nodes merged.

mod emulated;
mod helpers;
mod inconclusive;
mod installed;
mod interrupt;
mod memory;
mod metrics;
mod nemesis;
mod nodes;
mod open_model;
mod promtool;
mod racy_counter;
mod runs;
mod safety;
mod stepped_and_plan;
mod structure;
