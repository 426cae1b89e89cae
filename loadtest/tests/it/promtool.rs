//! Prometheus's own checker for the exposition, `promtool`, fetched the
//! way the project fetches DynamoDB Local: once, into the user's cache,
//! without installing anything. Debian's `prometheus` package is
//! downloaded (`apt-get download`, no root needed) and unpacked
//! (`dpkg-deb -x`); only its `promtool` is used, so no Prometheus server
//! is installed or started. `$PROMTOOL` or a `promtool` on PATH win.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The promtool executable, fetched on first use (once per machine even
/// when several test processes ask at the same time).
pub fn promtool() -> &'static Path {
    static FOUND: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match FOUND.get_or_init(find_or_fetch) {
        Ok(path) => path,
        Err(e) => panic!(
            "promtool is needed to check the /metrics exposition: {e} \
             (set PROMTOOL to a promtool binary, or install Debian's `prometheus`)"
        ),
    }
}

fn find_or_fetch() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("PROMTOOL") {
        return Ok(PathBuf::from(path));
    }
    if Command::new("promtool").arg("--version").output().is_ok() {
        return Ok(PathBuf::from("promtool"));
    }
    // Beside DynamoDB Local's install, in the project's cache directory.
    let dir = local_stage::cache_dir().join("promtool");
    let unpacked = dir.join("usr/bin/promtool");
    if unpacked.is_file() {
        return Ok(unpacked);
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(".lock"))
        .map_err(|e| format!("the fetch lock: {e}"))?;
    // Another process may be fetching it: wait, then look again.
    lock.lock().map_err(|e| format!("the fetch lock: {e}"))?;
    if !unpacked.is_file() {
        eprintln!(
            "Fetching promtool (Debian's prometheus package, unpacked into {}) ...",
            dir.display()
        );
        fetch_into(&dir)?;
    }
    if unpacked.is_file() {
        Ok(unpacked)
    } else {
        Err(format!("{} is missing after unpacking", unpacked.display()))
    }
}

fn fetch_into(dir: &Path) -> Result<(), String> {
    let download = tempfile::tempdir().map_err(|e| e.to_string())?;
    let fetch = || {
        run(Command::new("apt-get")
            .args(["download", "-qq", "prometheus"])
            .current_dir(download.path()))
    };
    if let Err(e) = fetch() {
        // A fresh machine may have no package lists yet; root can get them.
        if !is_root() {
            return Err(e);
        }
        run(Command::new("apt-get").args(["-o", "DPkg::Lock::Timeout=120", "update", "-qq"]))?;
        fetch()?;
    }
    let deb = std::fs::read_dir(download.path())
        .map_err(|e| e.to_string())?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .ok_or("apt-get download left no .deb")?;
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(dir))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?} exited with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}
