//! Debian's Chromium, headless, driven over the DevTools protocol
//! (chromiumoxide): installed by the project if missing, started with a
//! fresh profile, with uncaught exceptions and console output collected.

use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use chromiumoxide::browser::{Browser as Cdp, BrowserConfig};
use chromiumoxide::cdp::browser_protocol::log::{EnableParams as LogEnable, EventEntryAdded};
use chromiumoxide::cdp::js_protocol::runtime::{
    EnableParams as RuntimeEnable, EventConsoleApiCalled, EventExceptionThrown,
};
use chromiumoxide::page::{Page, ScreenshotParams};
use futures::StreamExt;

use crate::install::{InstallOnce, existing, run_shell};

#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    #[error("Chromium is not installed and could not be installed: {0}")]
    NotInstalled(String),
    #[error("browser: {0}")]
    Cdp(#[from] chromiumoxide::error::CdpError),
    #[error("{0}")]
    Other(String),
}

/// Where Debian puts Chromium.
const CHROMIUM_PATHS: [&str; 2] = ["/usr/bin/chromium", "/usr/bin/chromium-browser"];

/// Installs Debian's Chromium. `DPkg::Lock::Timeout` makes apt wait for a
/// dpkg lock held by anything else on the machine instead of failing at once.
pub const APT_INSTALL_CHROMIUM: &str = "apt-get -o DPkg::Lock::Timeout=120 update -qq \
     && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 install -y -qq chromium >/dev/null";

/// The one Chromium install of this process (and, through its lock file,
/// of every test process on the machine).
static CHROMIUM: LazyLock<InstallOnce> =
    LazyLock::new(|| InstallOnce::in_temp_dir("chromium", "contract-tests-chromium-install.lock"));

fn find_chromium() -> Option<PathBuf> {
    CHROMIUM_PATHS.iter().find_map(|p| existing(Path::new(p)))
}

/// The Chromium executable: `$CHROMIUM`, or Debian's `chromium`, installed
/// with apt-get the first time when running as root, once however many
/// tests ask at the same time (see [`crate::install`]).
pub fn ensure_chromium() -> Result<PathBuf, BrowserError> {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return Ok(PathBuf::from(path));
    }
    if let Some(p) = find_chromium() {
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
    CHROMIUM
        .get_or_install(find_chromium, || {
            eprintln!("Installing Debian's chromium for the browser tests (apt-get, once) ...");
            run_shell(APT_INSTALL_CHROMIUM)
        })
        .map_err(|e| BrowserError::NotInstalled(e.to_string()))
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

    /// Opens `url` and returns at once, collecting the page's uncaught
    /// exceptions and console output from here on.
    pub async fn open(&self, url: &str) -> Result<OpenPage, BrowserError> {
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
        Ok(OpenPage {
            page,
            exceptions,
            console,
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
        let open = self.open(url).await?;
        let deadline = Instant::now() + within;
        let mut text = String::new();
        while Instant::now() < deadline {
            text = counter_text(&open.page).await.unwrap_or_default();
            if done(&text) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        Ok(Visit {
            text,
            exceptions: open.exceptions(),
            console: open.console(),
            page: open.page,
        })
    }
}

/// A page being watched: what it has thrown and logged so far.
pub struct OpenPage {
    pub page: Page,
    exceptions: Arc<Mutex<Vec<String>>>,
    console: Arc<Mutex<Vec<String>>>,
}

impl OpenPage {
    /// Uncaught exceptions so far.
    pub fn exceptions(&self) -> Vec<String> {
        lock(&self.exceptions).clone()
    }

    /// Console calls and browser log entries so far.
    pub fn console(&self) -> Vec<String> {
        lock(&self.console).clone()
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

/// Whether the counter line still says it is waiting (`aria-busy="true"`,
/// which the script sets to false when it settles).
pub async fn counter_busy(page: &Page) -> Result<bool, BrowserError> {
    page.evaluate(
        "document.getElementById('visitor-count-line')?.getAttribute('aria-busy') === 'true'",
    )
    .await?
    .into_value::<bool>()
    .map_err(|e| BrowserError::Other(e.to_string()))
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
