//! The local stage: the same handler served over HTTP on 127.0.0.1, backed
//! by AWS's DynamoDB Local. Only with the `local` feature; never in the
//! Lambda build.

mod dynamodb_local;
mod stage;

pub use dynamodb_local::{
    DYNAMODB_LOCAL_NPM, DynamoDbLocal, LocalError, free_port, install_dir, target_dir,
};
pub use stage::{LocalStage, StageOptions, create_table, local_client};
