//! System installs that happen once, however many tests ask at once.
//!
//! `cargo test` runs a binary's tests on parallel threads, and the workspace
//! runs several test binaries; each browser test needs Chromium. Without
//! care, every one of them runs `apt-get` at the same moment and all but one
//! fail on the dpkg lock. [`InstallOnce`] makes the first caller install
//! while the others wait:
//!
//! - within a process, a [`OnceLock`]: one thread runs the install, the
//!   others block on it and share its result (an error too, so the suite
//!   fails fast with one message instead of retrying in every test);
//! - across processes, an exclusive `flock` on a lock file: a second test
//!   binary waits for the first one's install, then finds the result
//!   present and installs nothing.
//!
//! (The installer command adds apt's own lock timeout for anything else on
//! the machine that holds the dpkg lock.)

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Why an install did not produce what was asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InstallError {
    #[error("cannot take the install lock {path}: {reason}")]
    Lock { path: PathBuf, reason: String },
    #[error("{0}")]
    Failed(String),
    #[error("the install succeeded but {0} is still missing")]
    StillMissing(String),
}

/// One thing to install at most once per machine at a time: its lock file,
/// and the process-wide result.
#[derive(Debug)]
pub struct InstallOnce {
    what: &'static str,
    lock_path: PathBuf,
    result: OnceLock<Result<PathBuf, InstallError>>,
}

impl InstallOnce {
    /// `what` names it in errors; `lock_path` is shared by every process
    /// that may install it (it is created if missing, never removed).
    pub fn new(what: &'static str, lock_path: PathBuf) -> Self {
        Self {
            what,
            lock_path,
            result: OnceLock::new(),
        }
    }

    /// The lock file under the system's temporary directory, the same for
    /// every test binary of every checkout on this machine (apt's lock is
    /// machine-wide too).
    pub fn in_temp_dir(what: &'static str, file_name: &str) -> Self {
        Self::new(what, std::env::temp_dir().join(file_name))
    }

    /// What `find` finds; if it finds nothing, runs `install` (in at most
    /// one thread of one process at a time) and looks again. Every caller
    /// in this process gets the first caller's result.
    pub fn get_or_install(
        &self,
        find: impl Fn() -> Option<PathBuf>,
        install: impl FnOnce() -> Result<(), String>,
    ) -> Result<PathBuf, InstallError> {
        self.result
            .get_or_init(|| {
                if let Some(found) = find() {
                    return Ok(found);
                }
                self.install_under_lock(&find, install)
            })
            .clone()
    }

    fn install_under_lock(
        &self,
        find: &dyn Fn() -> Option<PathBuf>,
        install: impl FnOnce() -> Result<(), String>,
    ) -> Result<PathBuf, InstallError> {
        let lock_error = |e: std::io::Error| InstallError::Lock {
            path: self.lock_path.clone(),
            reason: e.to_string(),
        };
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.lock_path)
            .map_err(lock_error)?;
        // Blocks while another process installs; released when `file`
        // drops (or that process dies).
        file.lock().map_err(lock_error)?;
        // Someone else may have installed it while this process waited.
        if let Some(found) = find() {
            return Ok(found);
        }
        install().map_err(InstallError::Failed)?;
        find().ok_or_else(|| InstallError::StillMissing(self.what.to_owned()))
    }
}

/// Runs a shell command for an install: its status, or why it failed.
pub fn run_shell(script: &str) -> Result<(), String> {
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .status()
        .map_err(|e| format!("sh: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{script}` exited with {status}"))
    }
}

/// Whether `path` is a file (a convenience for `find` closures).
pub fn existing(path: &Path) -> Option<PathBuf> {
    path.is_file().then(|| path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Barrier};

    /// A fake install: counts its calls and creates `marker`.
    fn fake(calls: &AtomicUsize, marker: &Path) -> Result<(), String> {
        calls.fetch_add(1, Ordering::SeqCst);
        std::fs::write(marker, b"installed").map_err(|e| e.to_string())
    }

    #[test]
    fn sixteen_threads_asking_at_once_install_once_and_all_get_the_result() {
        let dir = tempfile::tempdir().expect("tempdir");
        let marker = dir.path().join("chromium");
        let once = Arc::new(InstallOnce::new("fake", dir.path().join("lock")));
        let calls = Arc::new(AtomicUsize::new(0));
        let start = Arc::new(Barrier::new(16));
        let threads: Vec<_> = (0..16)
            .map(|_| {
                let (once, calls, start, marker) =
                    (once.clone(), calls.clone(), start.clone(), marker.clone());
                std::thread::spawn(move || {
                    start.wait();
                    once.get_or_install(|| existing(&marker), || fake(&calls, &marker))
                })
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().expect("thread"), Ok(marker.clone()));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn nothing_is_installed_when_it_is_already_there() {
        let dir = tempfile::tempdir().expect("tempdir");
        let marker = dir.path().join("chromium");
        std::fs::write(&marker, b"").expect("marker");
        let once = InstallOnce::new("fake", dir.path().join("lock"));
        let calls = AtomicUsize::new(0);
        assert_eq!(
            once.get_or_install(|| existing(&marker), || fake(&calls, &marker)),
            Ok(marker.clone())
        );
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_failed_install_is_reported_once_to_every_caller() {
        let dir = tempfile::tempdir().expect("tempdir");
        let once = InstallOnce::new("fake", dir.path().join("lock"));
        let calls = AtomicUsize::new(0);
        let fail = || {
            calls.fetch_add(1, Ordering::SeqCst);
            Err("apt-get exited with exit status: 100".to_owned())
        };
        let first = once.get_or_install(|| None, fail);
        let second = once.get_or_install(|| None, || Ok(()));
        assert_eq!(
            first,
            Err(InstallError::Failed(
                "apt-get exited with exit status: 100".into()
            ))
        );
        assert_eq!(second, first, "the second caller shares the failure");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn an_install_that_installs_nothing_says_so() {
        let dir = tempfile::tempdir().expect("tempdir");
        let once = InstallOnce::new("chromium", dir.path().join("lock"));
        assert_eq!(
            once.get_or_install(|| None, || Ok(())),
            Err(InstallError::StillMissing("chromium".into()))
        );
    }

    #[test]
    fn an_unusable_lock_path_is_a_clear_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let once = InstallOnce::new("fake", dir.path().join("no-such-dir").join("lock"));
        let err = once
            .get_or_install(|| None, || Ok(()))
            .expect_err("no lock");
        assert!(
            err.to_string().starts_with("cannot take the install lock"),
            "{err}"
        );
    }

    /// Set in a child process: the directory the two children share.
    const CHILD_DIR: &str = "INSTALL_ONCE_TEST_CHILD_DIR";

    /// Two processes (this test binary, re-run as children) install at the
    /// same moment through one lock file: the installer, a shell command
    /// that appends to a file, runs once.
    #[test]
    fn two_processes_asking_at_once_install_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let exe = std::env::current_exe().expect("this test binary");
        let children: Vec<_> = (0..2)
            .map(|_| {
                std::process::Command::new(&exe)
                    .args([
                        "--exact",
                        "install::tests::child_process_installs_through_the_shared_lock",
                        "--nocapture",
                        "--test-threads=1",
                    ])
                    .env(CHILD_DIR, dir.path())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .expect("child starts")
            })
            .collect();
        let children: Vec<_> = children
            .into_iter()
            .map(|c| c.wait_with_output().expect("child ends"))
            .collect();
        for c in &children {
            assert!(
                c.status.success(),
                "child failed: {}{}",
                String::from_utf8_lossy(&c.stdout),
                String::from_utf8_lossy(&c.stderr)
            );
        }
        let calls = std::fs::read_to_string(dir.path().join("calls")).expect("installed once");
        assert_eq!(calls.lines().count(), 1, "installer calls: {calls:?}");
        let ready = std::fs::read_dir(dir.path())
            .expect("dir")
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().to_string_lossy().starts_with("ready-"))
            })
            .count();
        assert_eq!(ready, 2, "both children ran the install path");
    }

    /// The child side of the test above; does nothing when run on its own.
    #[test]
    fn child_process_installs_through_the_shared_lock() {
        let Some(dir) = std::env::var_os(CHILD_DIR).map(PathBuf::from) else {
            return;
        };
        // A barrier across the two processes: each announces itself and
        // waits (bounded) for the other, so both ask at the same moment.
        std::fs::write(dir.join(format!("ready-{}", std::process::id())), b"").expect("ready");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let ready = std::fs::read_dir(&dir)
                .expect("dir")
                .filter(|e| {
                    e.as_ref()
                        .is_ok_and(|e| e.file_name().to_string_lossy().starts_with("ready-"))
                })
                .count();
            if ready >= 2 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the other child never started"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let marker = dir.join("chromium");
        let once = InstallOnce::new("fake", dir.join("lock"));
        // The fake install takes a while, as apt-get does, so the other
        // process arrives while it runs.
        let script = format!(
            "echo $$ >> '{calls}' && sleep 0.5 && : > '{marker}'",
            calls = dir.join("calls").display(),
            marker = marker.display()
        );
        assert_eq!(
            once.get_or_install(|| existing(&marker), || run_shell(&script)),
            Ok(marker.clone())
        );
    }

    #[test]
    fn run_shell_reports_the_exit_status() {
        assert_eq!(run_shell("true"), Ok(()));
        let err = run_shell("exit 100").expect_err("fails");
        assert!(err.contains("100"), "{err}");
    }
}
