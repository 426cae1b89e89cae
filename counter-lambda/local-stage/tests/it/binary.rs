//! `local-stage` as a user runs it: it serves until Ctrl-C and then leaves
//! no java behind; if its DynamoDB Local dies and cannot be restarted on
//! its data, it exits 1 and says why.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Generous: a JVM starting on a busy 2-core machine.
const WITHIN: Duration = Duration::from_secs(120);

struct Running {
    child: Child,
    stderr: mpsc::Receiver<String>,
}

/// Starts the binary and waits (bounded) for its "Ctrl-C to stop." line.
fn start(env: &[(&str, &str)]) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_local-stage"))
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("local-stage starts");
    let (lines, stdout) = mpsc::channel();
    let out = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let (errs, stderr) = mpsc::channel();
    let err = child.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            let _ = errs.send(line);
        }
    });
    let deadline = Instant::now() + WITHIN;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match stdout.recv_timeout(left) {
            Ok(line) if line.starts_with("Ctrl-C to stop") => break,
            Ok(_) => {}
            Err(e) => panic!("local-stage did not come up: {e}"),
        }
    }
    Running { child, stderr }
}

/// The java process below the binary (a child of its watchdog `sh`).
fn java_below(pid: u32) -> Option<u32> {
    let children = |pid: u32| -> Vec<u32> {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            return vec![];
        };
        tasks
            .filter_map(Result::ok)
            .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
            .flat_map(|c| {
                c.split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect::<Vec<u32>>()
            })
            .collect()
    };
    let comm = |pid: u32| std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    children(pid)
        .into_iter()
        .flat_map(children)
        .find(|p| comm(*p).trim() == "java")
}

fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + WITHIN;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("local-stage still running after {WITHIN:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(ok.success());
}

#[test]
fn ctrl_c_stops_it_and_its_java() {
    let mut stage = start(&[]);
    let java = java_below(stage.child.id()).expect("a java process below it");
    signal(stage.child.id(), "-INT");
    let status = wait_exit(&mut stage.child);
    assert_eq!(status.code(), Some(0));
    let state = std::fs::read_to_string(format!("/proc/{java}/stat")).ok();
    assert!(
        state.is_none(),
        "java {java} outlived local-stage: {state:?}"
    );
}

#[test]
fn it_exits_1_with_the_cause_when_its_in_memory_database_dies() {
    let mut stage = start(&[("DYNAMODB_LOCAL_DATA", "memory")]);
    let java = java_below(stage.child.id()).expect("a java process below it");
    signal(java, "-KILL");
    let status = wait_exit(&mut stage.child);
    assert_eq!(status.code(), Some(1), "exit status");
    // Until the reader thread sees the pipe close (bounded).
    let stderr: Vec<String> =
        std::iter::from_fn(|| stage.stderr.recv_timeout(Duration::from_secs(10)).ok()).collect();
    assert!(
        stderr
            .iter()
            .any(|l| l.contains("exited on its own") && l.contains("in memory")),
        "the cause is printed: {stderr:?}"
    );
}
