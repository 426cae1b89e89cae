//! What the emulated stage reads from a SAM template: the workspace's one
//! reader ([`sam_template`]), its [`HttpStage`](sam_template::HttpStage)
//! under the name the stage gives it.

pub use sam_template::{
    ACCOUNT_ID, HttpStage as StageTemplate, REGION, RELATIVE_PATH, Route, RouteKey, TemplateError,
    Throttle, find,
};
