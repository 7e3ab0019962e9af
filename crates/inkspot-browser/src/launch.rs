//! Starting the browser (or reaching a remote one), and what the service
//! knows of it while it runs: its version, its processes' memory.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chromiumoxide::browser::{Browser as Cdp, BrowserConfig as CdpConfig};
use futures_util::StreamExt;
use inkspot_core::config::BrowserConfig;
use tokio::task::JoinHandle;

use inkspot_core::shot::ShotError;

use crate::BrowserError;

/// Executables looked for on the `PATH`, in order.
const CANDIDATES: &[&str] = &[
    "chromium",
    "chromium-browser",
    "google-chrome-stable",
    "google-chrome",
];

/// A running browser: the DevTools connection and its event loop, and
/// the process when it is ours.
pub struct Running {
    /// The DevTools client.
    pub cdp: Cdp,
    /// The connection's event loop; the browser is gone when it ends.
    pub events: JoinHandle<()>,
    /// The browser's process id, when this service started it.
    pub pid: Option<u32>,
    /// The browser's product and version, e.g. `Chrome/131.0.6778.85`.
    pub version: String,
    /// The profile folder of a started browser, removed with it.
    _profile: Option<tempfile::TempDir>,
}

impl Running {
    /// Whether the connection still runs.
    pub fn is_alive(&self) -> bool {
        !self.events.is_finished()
    }

    /// The memory of the browser's processes (PSS), when they are ours.
    pub fn memory(&self) -> Option<u64> {
        self.pid.map(tree_memory)
    }

    /// Ends the browser: closed politely when it answers, else killed.
    pub async fn stop(mut self) {
        let closed = tokio::time::timeout(Duration::from_secs(2), self.cdp.close()).await;
        if !matches!(closed, Ok(Ok(_))) {
            let _ = self.cdp.kill().await;
        }
        if self.pid.is_some() {
            let _ = tokio::time::timeout(Duration::from_secs(5), self.cdp.wait()).await;
        }
        self.events.abort();
    }

    /// Kills the browser at once (it hangs, or grew too large): its
    /// process when it is ours; the connection in any case.
    pub fn kill(&self) {
        if let Some(pid) = self
            .pid
            .and_then(|p| rustix::process::Pid::from_raw(p as i32))
        {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
        self.events.abort();
    }
}

/// The executable to start: the configured one, or the first found.
pub fn executable(config: &BrowserConfig) -> Result<PathBuf, BrowserError> {
    if let Some(path) = &config.executable {
        return if path.is_file() {
            Ok(path.clone())
        } else {
            Err(BrowserError::Missing(format!(
                "browser.executable {} does not exist",
                path.display()
            )))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .flat_map(|dir| CANDIDATES.iter().map(move |name| dir.join(name)))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| {
            BrowserError::Missing(format!("none of {} is on the PATH", CANDIDATES.join(", ")))
        })
}

/// Starts a browser, or connects to `browser.ws_url`.
pub async fn start(config: &BrowserConfig) -> Result<Running, BrowserError> {
    match &config.ws_url {
        Some(url) => connect(url).await,
        None => launch(&executable(config)?).await,
    }
}

async fn connect(url: &str) -> Result<Running, BrowserError> {
    let ws = debugger_url(url).await?;
    let connecting = tokio::time::timeout(Duration::from_secs(10), Cdp::connect(ws));
    let (cdp, handler) = connecting
        .await
        .map_err(|_| BrowserError::Start(format!("{url} did not answer within 10s")))?
        .map_err(|e| BrowserError::Start(format!("{url}: {e}")))?;
    running(cdp, handler, None, None).await
}

/// The browser's DevTools WebSocket: `url` itself (`ws://…`), or the one
/// an `http://host:port` address names at `/json/version`, reached at the
/// host and port given (a browser in a container names its own).
async fn debugger_url(url: &str) -> Result<String, BrowserError> {
    if !url.starts_with("http") {
        return Ok(url.to_string());
    }
    let fail = |e: String| BrowserError::Start(format!("{url}: {e}"));
    let given = url::Url::parse(url).map_err(|e| fail(e.to_string()))?;
    let version = given
        .join("/json/version")
        .map_err(|e| fail(e.to_string()))?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .no_proxy()
        .build()
        .map_err(|e| fail(e.to_string()))?;
    let body = client
        .get(version)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| fail(e.to_string()))?
        .bytes()
        .await
        .map_err(|e| fail(e.to_string()))?;
    let answer: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| fail(e.to_string()))?;
    let ws = answer["webSocketDebuggerUrl"]
        .as_str()
        .ok_or_else(|| fail("its /json/version names no webSocketDebuggerUrl".into()))?;
    let mut ws = url::Url::parse(ws).map_err(|e| fail(e.to_string()))?;
    let _ = ws.set_host(given.host_str());
    let _ = ws.set_port(given.port_or_known_default());
    Ok(ws.to_string())
}

async fn launch(executable: &Path) -> Result<Running, BrowserError> {
    let profile = tempfile::Builder::new()
        .prefix("inkspot-browser-")
        .tempdir()
        .map_err(|e| BrowserError::Start(format!("a profile folder: {e}")))?;
    let config = CdpConfig::builder()
        .chrome_executable(executable)
        .no_sandbox()
        .new_headless_mode()
        .user_data_dir(profile.path())
        .port(0)
        .launch_timeout(Duration::from_secs(20))
        .request_timeout(Duration::from_secs(30))
        .viewport(None)
        .args([
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--mute-audio",
            "--no-first-run",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--font-render-hinting=none",
            "--force-color-profile=srgb",
            // WebRTC's UDP would go around the address guard.
            "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
            "--webrtc-ip-handling-policy=disable_non_proxied_udp",
        ])
        .build()
        .map_err(BrowserError::Start)?;
    let (mut cdp, handler) = Cdp::launch(config)
        .await
        .map_err(|e| BrowserError::Start(format!("{}: {e}", executable.display())))?;
    let pid = cdp.get_mut_child().and_then(|child| child.inner.id());
    running(cdp, handler, pid, Some(profile)).await
}

async fn running(
    cdp: Cdp,
    mut handler: chromiumoxide::Handler,
    pid: Option<u32>,
    profile: Option<tempfile::TempDir>,
) -> Result<Running, BrowserError> {
    let events = tokio::spawn(async move {
        // The handler drives every command; an error on one message is
        // that message's, and the loop ends when the connection does.
        while let Some(event) = handler.next().await {
            if let Err(e) = event
                && matches!(e, chromiumoxide::error::CdpError::Ws(_))
            {
                tracing::warn!(error = %e, "the browser's connection failed");
                break;
            }
        }
    });
    let version = match cdp.version().await {
        Ok(v) => v.product,
        Err(e) => {
            events.abort();
            return Err(BrowserError::Start(format!("it does not answer: {e}")));
        }
    };
    Ok(Running {
        cdp,
        events,
        pid,
        version,
        _profile: profile,
    })
}

/// The memory of `pid` and every process below it, in bytes.
fn tree_memory(pid: u32) -> u64 {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(id) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
                continue;
            };
            if let Some(parent) = parent_of(id) {
                parents.push((id, parent));
            }
        }
    }
    let mut tree = vec![pid];
    let mut i = 0;
    while i < tree.len() {
        let at = tree[i];
        tree.extend(parents.iter().filter(|(_, p)| *p == at).map(|(c, _)| *c));
        i += 1;
    }
    tree.into_iter().map(resident).sum()
}

fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields follow the last `)`.
    let after = &stat[stat.rfind(')')? + 2..];
    after.split(' ').nth(1)?.parse().ok()
}

/// A process's proportional share of memory (PSS): its own pages and its
/// share of those it shares, so the browser's processes add up to what
/// they take together (their resident sizes would count the shared pages
/// once for each).
fn resident(pid: u32) -> u64 {
    let read = |file: &str, key: &str| {
        let text = std::fs::read_to_string(format!("/proc/{pid}/{file}")).ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    };
    read("smaps_rollup", "Pss:")
        .or_else(|| read("status", "VmRSS:"))
        .map_or(0, |kib| kib * 1024)
}

/// A DevTools failure: the browser's fault, so worth a fresh browser.
pub(crate) fn cdp(e: chromiumoxide::error::CdpError) -> ShotError {
    ShotError::Browser(e.to_string())
}
