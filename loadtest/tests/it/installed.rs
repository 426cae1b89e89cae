//! A built binary knows no path of the machine it was built on: copied
//! elsewhere and started from an empty directory with a fresh `HOME`, it
//! runs and writes only where it was started.

use std::path::Path;

use crate::helpers::out_dir;

fn files_under(dir: &Path) -> Vec<String> {
    crate::helpers::files_below(dir)
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect()
}

#[tokio::test]
async fn a_copied_binary_run_from_an_empty_directory_writes_only_there() {
    // DynamoDB Local, installed once for the test binary (the copied
    // binary is pointed at it, so the test downloads nothing).
    drop(local_stage::DynamoDbLocal::start().expect("DynamoDB Local"));
    let jar_dir = local_stage::install_dir();

    let (_tmp, root) = out_dir();
    let (bin, work, home) = (root.join("bin"), root.join("work"), root.join("home"));
    for d in [&bin, &work, &home] {
        std::fs::create_dir_all(d).expect("dir");
    }
    let copied = bin.join("loadtest");
    std::fs::copy(env!("CARGO_BIN_EXE_loadtest"), &copied).expect("copied");

    let run = tokio::process::Command::new(&copied)
        .args(["--run-id", "copied", "-u", "2", "-t", "2"])
        .args(["--max-duration", "60"])
        .current_dir(&work)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("DYNAMODB_LOCAL_DIR", &jar_dir)
        .kill_on_drop(true)
        .output();
    let o = tokio::time::timeout(std::time::Duration::from_secs(240), run)
        .await
        .expect("finished within its bound")
        .expect("ran");
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        work.join("loadtest-runs/copied/summary.json").is_file(),
        "the run directory is under the working directory: {:?}",
        files_under(&work)
    );
    assert!(
        files_under(&home).is_empty(),
        "nothing written to HOME: {:?}",
        files_under(&home)
    );
    assert!(
        files_under(&bin) == vec![copied.to_string_lossy().into_owned()],
        "nothing written beside the binary"
    );
}
