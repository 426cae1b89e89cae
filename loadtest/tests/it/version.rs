//! `--version` names what was built: the version, the commit (from
//! build.rs) and whether the local stage is in.

use crate::helpers::{loadtest, stdout};

/// `git rev-parse HEAD` where this crate lives, if git knows it.
fn head() -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["-C", env!("CARGO_MANIFEST_DIR"), "rev-parse", "HEAD"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[tokio::test]
async fn version_names_the_commit_and_the_local_stage() {
    let o = loadtest(&["--version"]).await;
    assert_eq!(o.status.code(), Some(0));
    let v = stdout(&o);
    let commit = head().map_or("unknown".to_owned(), |h| h[..12].to_owned());
    let want = format!(
        "loadtest {} (commit {commit}, local stage built in; goose ",
        env!("CARGO_PKG_VERSION")
    );
    assert!(v.starts_with(&want), "{v:?} should start with {want:?}");
    assert_eq!(v.lines().count(), 1, "one line: {v:?}");
}
