//! The `local-stage` binary, run as a user runs it.

mod binary;
mod emulated;
mod support;
