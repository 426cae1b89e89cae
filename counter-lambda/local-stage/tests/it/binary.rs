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
    /// The API's address, from its "Local stage: http://..." line.
    addr: String,
}

/// Starts the binary and waits (bounded) for its "Ctrl-C to stop." line.
fn start(env: &[(&str, &str)]) -> Running {
    start_with(&[], env)
}

fn start_with(args: &[&str], env: &[(&str, &str)]) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_local-stage"))
        .args(args)
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
    let mut addr = String::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match stdout.recv_timeout(left) {
            Ok(line) if line.starts_with("Ctrl-C to stop") => break,
            Ok(line) => {
                let url = line
                    .strip_prefix("Local stage: http://")
                    .or_else(|| line.strip_prefix("Emulated AWS stage: http://"));
                if let Some(url) = url {
                    addr = url.trim().to_owned();
                }
            }
            Err(e) => panic!("local-stage did not come up: {e}"),
        }
    }
    Running {
        child,
        stderr,
        addr,
    }
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

/// CPU time (user + system) the process has used, in clock ticks.
/// The unit of /proc's CPU times (USER_HZ), as the system states it.
fn clock_ticks_per_second() -> u64 {
    let out = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .expect("getconf");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("CLK_TCK is a number")
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let (_, rest) = stat.rsplit_once(')').expect("comm");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the command: state is field 3; utime and stime are 14 and 15.
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

fn set_open_files_limit(pid: u32, limit: usize) {
    let ok = Command::new("prlimit")
        .args([
            "--pid",
            &pid.to_string(),
            // The soft limit only: raising a hard limit again needs a
            // capability a container may not have.
            &format!("--nofile={limit}:"),
        ])
        .output()
        .expect("prlimit (util-linux) runs");
    assert!(
        ok.status.success(),
        "prlimit: {}",
        String::from_utf8_lossy(&ok.stderr)
    );
}

#[test]
fn out_of_file_descriptors_it_waits_instead_of_spinning() {
    let mut stage = start(&[]);
    let pid = stage.child.id();
    let open = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("fds")
        .count();
    // Room for a few more: then every accept fails with EMFILE while the
    // connections below wait in the listener's backlog.
    set_open_files_limit(pid, open + 4);
    let waiting: Vec<std::net::TcpStream> = (0..32)
        .filter_map(|_| std::net::TcpStream::connect(&stage.addr).ok())
        .collect();
    assert!(waiting.len() > 8, "connections queued: {}", waiting.len());

    // Over a window, the stage's CPU time: a loop retrying accept at once
    // burns most of a core; one that backs off (up to 1 s) almost none.
    let window = Duration::from_secs(3);
    let before = cpu_ticks(pid);
    std::thread::sleep(window);
    let used = cpu_ticks(pid) - before;
    let ticks_per_s = clock_ticks_per_second();
    let share = used as f64 / (window.as_secs_f64() * ticks_per_s as f64);
    assert!(
        share < 0.10,
        "the stage used {:.0}% of a core while out of descriptors",
        share * 100.0
    );

    // Descriptors back: it serves again (the queued connections first).
    drop(waiting);
    set_open_files_limit(pid, open + 1024);
    let deadline = Instant::now() + WITHIN;
    loop {
        use std::io::{Read, Write};
        let answered = std::net::TcpStream::connect(&stage.addr)
            .ok()
            .and_then(|mut s| {
                s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
                s.write_all(b"GET /visits?path=/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    .ok()?;
                let mut answer = String::new();
                s.read_to_string(&mut answer).ok()?;
                Some(answer)
            });
        if answered.is_some_and(|a| a.starts_with("HTTP/1.1 200")) {
            break;
        }
        assert!(Instant::now() < deadline, "it did not serve again");
        std::thread::sleep(Duration::from_millis(100));
    }
    signal(pid, "-INT");
    assert_eq!(wait_exit(&mut stage.child).code(), Some(0));
}

#[test]
fn bad_flags_exit_2_and_say_why() {
    for (args, says) in [
        (&["--template", "t.yaml"][..], "add --emulate-aws"),
        (
            &["--emulate-aws", "--faults", "latency"][..],
            "not with --emulate-aws",
        ),
        (
            &["--emulate-aws", "--function-env", "NOEQUALS"][..],
            "NAME=VALUE",
        ),
        (
            &["--emulate-aws", "--idle-timeout", "soon"][..],
            "--idle-timeout",
        ),
        (&["--emulate-aws", "--function"][..], "needs a value"),
        (&["--bogus"][..], "unknown argument"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_local-stage"))
            .args(args)
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}

/// Processes directly below `pid` whose command is `name`.
fn children_named(pid: u32, name: &str) -> Vec<u32> {
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
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == name)
        })
        .collect()
}

/// Alive: present and not a zombie.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(')').map(|(_, r)| r.trim_start().to_owned()))
        .is_some_and(|r| !r.starts_with('Z'))
}

#[test]
fn killed_outright_it_leaves_no_function_process_behind() {
    let bootstrap = crate::support::bootstrap();
    let db = crate::support::shared_dynamodb().endpoint();
    let dir = tempfile::tempdir().expect("tempdir");
    let table = crate::support::fresh_table();
    let template = crate::support::TemplateSpec {
        table: &table,
        ..Default::default()
    }
    .write(dir.path());
    let bin = bootstrap.to_string_lossy().into_owned();
    let log_dir = dir.path().join("logs");
    let mut stage = start_with(
        &[
            "--emulate-aws",
            "--template",
            &template.to_string_lossy(),
            "--log-dir",
            &log_dir.to_string_lossy(),
        ],
        &[
            ("BOOTSTRAP_BIN", bin.as_str()),
            ("DYNAMODB_ENDPOINT", db.as_str()),
        ],
    );
    // Two concurrent visits: up to two environments.
    let visit = |addr: String| {
        std::thread::spawn(move || {
            use std::io::{Read, Write};
            let mut s = std::net::TcpStream::connect(&addr).expect("connect");
            s.write_all(b"POST /visits?path=/orphan HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .expect("write");
            let mut answer = String::new();
            let _ = s.read_to_string(&mut answer);
            answer
        })
    };
    let host = stage.addr.split('/').next().unwrap_or_default().to_owned();
    let answers: Vec<String> = [visit(host.clone()), visit(host)]
        .into_iter()
        .map(|t| t.join().expect("visit"))
        .collect();
    assert!(
        answers.iter().all(|a| a.starts_with("HTTP/1.1 200")),
        "{answers:?}"
    );
    let functions = children_named(stage.child.id(), "bootstrap");
    assert!(!functions.is_empty(), "function processes below the stage");
    signal(stage.child.id(), "-KILL");
    let _ = wait_exit(&mut stage.child);
    let deadline = Instant::now() + WITHIN;
    while functions.iter().any(|p| alive(*p)) {
        assert!(
            Instant::now() < deadline,
            "function processes outlived their stage: {functions:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
