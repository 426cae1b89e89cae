//! Gives `--version` the git commit it was built from, as
//! `LOADTEST_GIT_COMMIT`: the environment variable of that name when set
//! (a build without `.git`, such as the container image, passes it in),
//! else `git rev-parse HEAD` when this file is tracked by the repository
//! around it, else `unknown` (a build from a tarball, or with no git).
//! Only the commit reaches the binary: nothing of the building machine.

use std::path::{Path, PathBuf};
use std::process::Command;

const VAR: &str = "LOADTEST_GIT_COMMIT";

fn main() {
    println!("cargo:rerun-if-env-changed={VAR}");
    println!("cargo:rerun-if-changed=build.rs");
    // Cargo keys this script's run by the package's path relative to its
    // workspace, so two checkouts sharing one target directory share it,
    // and the git files below are the other checkout's. The directory
    // cargo was started from (the shell's PWD) tells them apart.
    println!("cargo:rerun-if-env-changed=PWD");
    let commit = std::env::var(VAR)
        .ok()
        .filter(|c| is_commit(c))
        .map(|c| short(&c))
        .or_else(from_git)
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env={VAR}={commit}");
}

/// Twelve hex digits are enough to name a commit of this repository.
fn short(commit: &str) -> String {
    commit.chars().take(12).collect()
}

fn is_commit(s: &str) -> bool {
    (7..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `git rev-parse HEAD` in the crate's directory, only if git tracks this
/// build script there (so a tarball unpacked inside some other repository
/// does not report that repository's commit). Asks cargo to run this
/// again when HEAD moves.
fn from_git() -> Option<String> {
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR")?);
    git(&dir, &["ls-files", "--error-unmatch", "build.rs"])?;
    let commit = git(&dir, &["rev-parse", "HEAD"]).filter(|c| is_commit(c))?;
    // HEAD (another branch checked out), the branch it points at (a
    // commit moves it), packed-refs (where a branch may live instead).
    // Only files that exist: cargo reruns for a missing one every build.
    let git_dir = git(&dir, &["rev-parse", "--path-format=absolute", "--git-dir"]);
    let common = git(
        &dir,
        &["rev-parse", "--path-format=absolute", "--git-common-dir"],
    );
    let branch = git(&dir, &["symbolic-ref", "-q", "HEAD"]);
    let watched = [
        git_dir.map(|d| PathBuf::from(d).join("HEAD")),
        common.as_ref().map(|c| Path::new(c).join("packed-refs")),
        common.zip(branch).map(|(c, b)| Path::new(&c).join(b)),
    ];
    for file in watched.into_iter().flatten().filter(|f| f.is_file()) {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    Some(short(&commit))
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}
