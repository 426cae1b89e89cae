//! The commands: a load run (the default), `merge`, `plan`, `report`,
//! `compare`, and the command line they share.

pub mod cli;
pub mod compare;
pub mod merge;
pub mod plan;
pub mod report;
pub mod run;
