//! The local stage: the counter's own handler ([`counter_lambda::handler`])
//! served over HTTP on 127.0.0.1, backed by AWS's DynamoDB Local, which this
//! crate installs from npm and runs under a watchdog.
//!
//! Its own crate (not a feature of `counter-lambda`) so that the Lambda's
//! `bootstrap` cannot link it by construction: `counter-lambda` does not
//! depend on this crate, only its tests do.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use local_stage::{LocalStage, StageOptions};
//! let config = counter_lambda::Config::from_lookup(|_| None)?;
//! let stage = LocalStage::start(StageOptions::new(config)).await?;
//! println!("POST {}/visits?path=/", stage.url());
//! # Ok(()) }
//! ```

mod dynamodb_local;
pub mod emulate;
mod fault_injector;
mod fault_proxy;
mod serve;
mod stage;
mod supervisor;

pub use dynamodb_local::{
    Binding, DYNAMODB_LOCAL_NPM, DynamoDbLocal, LocalError, Storage, cache_dir, free_port,
    install_dir,
};
pub use emulate::{EmulateError, EmulatedStage, EmulationOptions, StageFigures};
pub use fault_injector::{
    AppliedFault, FaultInjector, FaultKind, FaultPlan, FaultPlanError, FaultTargets, ProcessHandle,
};
pub use fault_proxy::{FaultProxy, FaultSwitch, ProxyFault};
pub use serve::{AcceptBackoff, BodyError, RequestBody, ServeOptions, serve, serve_fallible};
pub use stage::{LocalStage, StageOptions, create_table, local_client};
pub use supervisor::{DatabaseHealth, MAX_RESTARTS, RESTART_WINDOW, may_restart};

/// The handler's configuration, which [`StageOptions`] carries.
pub use counter_lambda::Config;
