//! The `openapi-compat` gate as CI runs it: in a git repository, against
//! every earlier version of the contract's major version.

use std::path::Path;
use std::process::Command;

use contract_tests::contract::default_path;

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(["-c", "user.name=test", "-c", "user.email=test@example.com"])
        .args(args)
        .current_dir(dir)
        .status()
        .expect("git runs");
    assert!(status.success(), "git {args:?}");
}

/// A repository whose history holds the real contract, then `edited`
/// (uncommitted, as in a working tree under review); the gate's exit code
/// and output.
fn gate(edit: impl FnOnce(String) -> String) -> (i32, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let contract = std::fs::read_to_string(default_path()).expect("openapi.yaml");
    std::fs::write(dir.path().join("openapi.yaml"), &contract).expect("write");
    git(dir.path(), &["init", "-q"]);
    git(dir.path(), &["add", "openapi.yaml"]);
    git(dir.path(), &["commit", "-q", "-m", "contract"]);
    std::fs::write(dir.path().join("openapi.yaml"), edit(contract)).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_openapi-compat"))
        .current_dir(dir.path())
        .env_remove("CONTRACT_BASE_REF")
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

const COUNT_PROPERTY: &str = "        count:\n          type: integer\n          minimum: 0\n";

#[test]
fn the_gate_fails_on_a_removed_response_field() {
    let (code, out) = gate(|c| {
        assert!(c.contains(COUNT_PROPERTY), "the contract's Count.count");
        c.replace(COUNT_PROPERTY, "")
    });
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("body.count: property removed"), "{out}");
}

#[test]
fn the_gate_passes_an_added_optional_response_field() {
    let (code, out) = gate(|c| {
        c.replace(
            COUNT_PROPERTY,
            &format!("{COUNT_PROPERTY}        first_seen:\n          type: string\n"),
        )
    });
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("body.first_seen: optional property added"),
        "{out}"
    );
}

#[test]
fn the_gate_passes_a_breaking_change_under_a_new_major_version() {
    let (code, out) = gate(|c| {
        let version = c
            .lines()
            .find_map(|l| l.strip_prefix("  version: "))
            .expect("info.version")
            .to_owned();
        let major: u64 = version
            .split('.')
            .next()
            .and_then(|m| m.parse().ok())
            .expect("semver");
        c.replace(COUNT_PROPERTY, "").replacen(
            &format!("  version: {version}"),
            &format!("  version: {}.0.0", major + 1),
            1,
        )
    });
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("no earlier version of this major"), "{out}");
}
