//! The commands: a load run (the default), `merge`, `plan`, and the command
//! line they share.

pub mod cli;
pub mod merge;
pub mod plan;
pub mod run;
