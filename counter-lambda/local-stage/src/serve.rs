//! The accept loop every server of the stage uses: the workspace's one,
//! from `http-serve` (see that crate's documentation).

pub use http_serve::{AcceptBackoff, BodyError, RequestBody, ServeOptions, serve, serve_fallible};
