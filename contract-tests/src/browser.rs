//! Debian's Chromium, headless, driven over the DevTools protocol
//! (chromiumoxide): installed by the project if missing, started with a
//! fresh profile, with uncaught exceptions and console output collected.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chromiumoxide::browser::{Browser as Cdp, BrowserConfig};
use chromiumoxide::cdp::browser_protocol::log::{EnableParams as LogEnable, EventEntryAdded};
use chromiumoxide::cdp::js_protocol::runtime::{
    EnableParams as RuntimeEnable, EventConsoleApiCalled, EventExceptionThrown,
};
use chromiumoxide::page::{Page, ScreenshotParams};
use futures::StreamExt;

#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    #[error("Chromium is not installed and could not be installed: {0}")]
    NotInstalled(String),
    #[error("browser: {0}")]
    Cdp(#[from] chromiumoxide::error::CdpError),
    #[error("{0}")]
    Other(String),
}

/// The Chromium executable: `$CHROMIUM`, or Debian's `chromium`, installed
/// with apt-get the first time when running as root.
pub fn ensure_chromium() -> Result<PathBuf, BrowserError> {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return Ok(PathBuf::from(path));
    }
    let find = || {
        ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
    };
    if let Some(p) = find() {
        return Ok(p);
    }
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !root {
        return Err(BrowserError::NotInstalled(
            "run `sudo apt-get install chromium` (or set CHROMIUM to a Chromium binary)".into(),
        ));
    }
    eprintln!("Installing Debian's chromium for the browser tests (apt-get) ...");
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null")
        .status()
        .map_err(|e| BrowserError::NotInstalled(e.to_string()))?;
    if !status.success() {
        return Err(BrowserError::NotInstalled(format!(
            "apt-get exited with {status}"
        )));
    }
    find().ok_or_else(|| BrowserError::NotInstalled("apt-get installed no chromium binary".into()))
}

/// A headless Chromium with a fresh profile; closed on drop.
pub struct Browser {
    cdp: Cdp,
    handler: tokio::task::JoinHandle<()>,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.handler.abort();
        // chromiumoxide kills the child process when `Cdp` drops.
    }
}

/// What a page load showed.
pub struct Visit {
    pub page: Page,
    /// The counter's text when the wait ended.
    pub text: String,
    /// Uncaught exceptions (Runtime.exceptionThrown).
    pub exceptions: Vec<String>,
    /// Console calls and browser log entries (CORS refusals appear here).
    pub console: Vec<String>,
}

impl Browser {
    pub async fn launch() -> Result<Self, BrowserError> {
        let exe = tokio::task::spawn_blocking(ensure_chromium)
            .await
            .map_err(|e| BrowserError::Other(e.to_string()))??;
        let profile = tempfile::tempdir().map_err(|e| BrowserError::Other(e.to_string()))?;
        let config = BrowserConfig::builder()
            .chrome_executable(exe)
            .no_sandbox()
            .user_data_dir(profile.path())
            .args([
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ])
            .window_size(1000, 720)
            .launch_timeout(Duration::from_secs(30))
            .request_timeout(Duration::from_secs(20))
            .build()
            .map_err(BrowserError::Other)?;
        let (cdp, mut events) = Cdp::launch(config).await?;
        let handler = tokio::spawn(async move {
            while let Some(event) = events.next().await {
                if event.is_err() {
                    break;
                }
            }
        });
        Ok(Self {
            cdp,
            handler,
            _profile: profile,
        })
    }

    /// Opens `url` and waits (polling, bounded by `within`) until the
    /// counter's text satisfies `done`.
    pub async fn visit(
        &self,
        url: &str,
        done: impl Fn(&str) -> bool,
        within: Duration,
    ) -> Result<Visit, BrowserError> {
        let page = self.cdp.new_page("about:blank").await?;
        page.execute(RuntimeEnable::default()).await?;
        page.execute(LogEnable::default()).await?;
        let exceptions = Arc::new(Mutex::new(Vec::new()));
        let console = Arc::new(Mutex::new(Vec::new()));
        let mut thrown = page.event_listener::<EventExceptionThrown>().await?;
        let mut calls = page.event_listener::<EventConsoleApiCalled>().await?;
        let mut logs = page.event_listener::<EventEntryAdded>().await?;
        {
            let exceptions = exceptions.clone();
            tokio::spawn(async move {
                while let Some(e) = thrown.next().await {
                    let d = &e.exception_details;
                    let text = d
                        .exception
                        .as_ref()
                        .and_then(|x| x.description.clone())
                        .unwrap_or_else(|| d.text.clone());
                    lock(&exceptions).push(text);
                }
            });
        }
        {
            let console = console.clone();
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        Some(c) = calls.next() => {
                            let args: Vec<String> = c.args.iter().filter_map(|a| a.value.as_ref().map(|v| v.to_string())).collect();
                            lock(&console).push(format!("console.{:?}: {}", c.r#type, args.join(" ")));
                        }
                        Some(l) = logs.next() => {
                            lock(&console).push(format!("log {:?}: {}", l.entry.level, l.entry.text));
                        }
                        else => break,
                    }
                }
            });
        }
        page.goto(url).await?;
        let deadline = Instant::now() + within;
        let mut text = String::new();
        while Instant::now() < deadline {
            text = counter_text(&page).await.unwrap_or_default();
            if done(&text) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        Ok(Visit {
            page,
            text,
            exceptions: lock(&exceptions).clone(),
            console: lock(&console).clone(),
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The text of `#visitor-count`.
pub async fn counter_text(page: &Page) -> Result<String, BrowserError> {
    Ok(page
        .evaluate("document.getElementById('visitor-count')?.textContent ?? ''")
        .await?
        .into_value::<String>()
        .map_err(|e| BrowserError::Other(e.to_string()))?
        .trim()
        .to_owned())
}

/// The whole visitor-count line as a visitor reads it ("Visitor #: 42").
pub async fn counter_line(page: &Page) -> Result<String, BrowserError> {
    let raw = page
        .evaluate("document.getElementById('visitor-count-line')?.textContent ?? ''")
        .await?
        .into_value::<String>()
        .map_err(|e| BrowserError::Other(e.to_string()))?;
    Ok(raw.split_whitespace().collect::<Vec<_>>().join(" "))
}

pub async fn screenshot(page: &Page, path: &std::path::Path) -> Result<(), BrowserError> {
    page.save_screenshot(ScreenshotParams::builder().full_page(true).build(), path)
        .await?;
    Ok(())
}
