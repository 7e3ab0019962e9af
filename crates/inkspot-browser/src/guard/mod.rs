//! The address guard: a forward proxy that one page's browser context
//! uses for every request (`<-loopback>` takes away Chromium's own
//! exception, so loopback goes through it too). It resolves each host once,
//! checks the addresses with the [`Policy`] and connects to the address it
//! checked, so a name that resolves elsewhere the second time reaches
//! nothing. It counts the page's requests and the bytes it receives and
//! cuts it off past its limits. An HTML template's page is served from
//! the guard itself at [`site::HOST`].

pub mod site;
mod wire;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::policy::Policy;
use wire::{Head, read_answer_head, read_head, respond, split_authority, starts_with};

/// What one page may reach, and how much.
#[derive(Clone)]
pub struct Rules {
    /// The operator's address rules.
    pub policy: Arc<Policy>,
    /// When set, the only hosts the page may reach (an HTML template's
    /// `page_hosts`), each still checked by the policy.
    pub only: Option<Vec<String>>,
    /// The template page the guard serves, if any.
    pub site: Option<Arc<site::Site>>,
    /// Bytes the page may receive.
    pub max_bytes: u64,
    /// Requests (or secure connections) the page may make.
    pub max_requests: u32,
}

/// What a page did through its guard.
#[derive(Default)]
pub struct Usage {
    /// Bytes received from upstream.
    pub bytes: AtomicU64,
    /// Requests and secure connections.
    pub requests: AtomicU32,
    /// The first request refused by the address rules.
    pub refused: Mutex<Option<String>>,
    /// The limit the page went over, if it did.
    pub over: Mutex<Option<String>>,
}

impl Usage {
    fn note(slot: &Mutex<Option<String>>, why: String) {
        let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
        slot.get_or_insert(why);
    }

    /// The first refusal, if any.
    pub fn refused(&self) -> Option<String> {
        self.refused
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The limit gone over, if any.
    pub fn over(&self) -> Option<String> {
        self.over.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// One page's guard, listening until dropped. It is started unarmed, so a
/// context can be opened through it before the picture is asked for, and
/// refuses every connection until [`Guard::arm`] gives it the page's rules.
pub struct Guard {
    address: SocketAddr,
    rules: Arc<OnceLock<Rules>>,
    usage: Arc<Usage>,
    stop: CancellationToken,
}

impl Guard {
    /// Starts an unarmed guard for one page on `ip` (a free port).
    pub async fn start(ip: std::net::IpAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(SocketAddr::new(ip, 0)).await?;
        let address = listener.local_addr()?;
        let usage = Arc::new(Usage::default());
        let rules = Arc::new(OnceLock::<Rules>::new());
        let stop = CancellationToken::new();
        let (task_rules, task_usage, task_stop) = (rules.clone(), usage.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    () = task_stop.cancelled() => break,
                    accepted = listener.accept() => accepted,
                };
                let Ok((stream, _)) = accepted else {
                    // Out of descriptors, say: wait rather than spin.
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                };
                // Nothing passes before the page's rules are known.
                let Some(rules) = task_rules.get().cloned() else {
                    continue;
                };
                let usage = task_usage.clone();
                let stop = task_stop.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        () = stop.cancelled() => {}
                        () = serve(stream, &rules, &usage) => {}
                    }
                });
            }
        });
        Ok(Self {
            address,
            rules,
            usage,
            stop,
        })
    }

    /// Gives the guard its page's rules; a guard is armed once, and a
    /// second call changes nothing (returns false).
    pub fn arm(&self, rules: Rules) -> bool {
        self.rules.set(rules).is_ok()
    }

    /// The proxy address to give the browser context.
    pub fn proxy(&self) -> String {
        format!("http://{}", self.address)
    }

    /// What the page did so far.
    pub fn usage(&self) -> &Arc<Usage> {
        &self.usage
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn serve(mut browser: TcpStream, rules: &Rules, usage: &Usage) {
    let Ok(Some(head)) = read_head(&mut browser).await else {
        return;
    };
    let made = usage.requests.fetch_add(1, Ordering::Relaxed) + 1;
    if made > rules.max_requests {
        Usage::note(
            &usage.over,
            format!("more than {} requests", rules.max_requests),
        );
        let _ = respond(&mut browser, 429, "too many requests for one page").await;
        return;
    }
    let answered = if head.method.eq_ignore_ascii_case("CONNECT") {
        tunnel(&mut browser, &head, rules, usage).await
    } else {
        forward(&mut browser, head, rules, usage).await
    };
    if let Err(why) = answered {
        Usage::note(&usage.refused, why.clone());
        tracing::debug!(%why, "a page's request refused");
        let _ = respond(&mut browser, 403, &why).await;
    }
}

/// `CONNECT host:port`: a checked connection, then bytes both ways.
async fn tunnel(
    browser: &mut TcpStream,
    head: &Head,
    rules: &Rules,
    usage: &Usage,
) -> Result<(), String> {
    let (host, port) = split_authority(&head.target, 443)?;
    let mut upstream = connect(&host, port, rules).await?;
    browser
        .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        .await
        .map_err(|e| e.to_string())?;
    pipe(browser, &mut upstream, &head.rest, rules, usage).await;
    Ok(())
}

/// `GET http://host/path`: to the checked address, or from the site.
async fn forward(
    browser: &mut TcpStream,
    head: Head,
    rules: &Rules,
    usage: &Usage,
) -> Result<(), String> {
    let url = url::Url::parse(&head.target).map_err(|_| "not a proxy request".to_string())?;
    let host = url.host_str().unwrap_or_default().to_string();
    if let Some(site) = rules.site.as_ref().filter(|_| host == site::HOST) {
        let answer = site.answer(url.path());
        usage
            .bytes
            .fetch_add(answer.len() as u64, Ordering::Relaxed);
        return browser.write_all(&answer).await.map_err(|e| e.to_string());
    }
    if url.scheme() != "http" {
        return Err(format!("scheme {} is not fetched", url.scheme()));
    }
    let port = url.port_or_known_default().unwrap_or(80);
    let mut upstream = connect(&host, port, rules).await?;
    let mut path = url.path().to_string();
    if let Some(q) = url.query() {
        path = format!("{path}?{q}");
    }
    let upgrade = head.lines.iter().any(|l| starts_with(l, "upgrade:"));
    let mut out = format!("{} {path} {}\r\n", head.method, head.version);
    for line in &head.lines {
        let hop = ["proxy-connection:", "keep-alive:", "proxy-authorization:"];
        let connection = starts_with(line, "connection:");
        if hop.iter().any(|h| starts_with(line, h)) || (connection && !upgrade) {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    if !upgrade {
        // One request a connection: the next one is checked afresh.
        out.push_str("Connection: close\r\n");
    }
    out.push_str("\r\n");
    upstream
        .write_all(out.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    if upgrade {
        // A WebSocket: bytes both ways for as long as it lasts.
        pipe(browser, &mut upstream, &head.rest, rules, usage).await;
    } else {
        exchange(browser, &mut upstream, &head, rules, usage).await;
    }
    Ok(())
}

/// One request and its answer, then the connection closes: its body (by
/// `Content-Length`) goes up, the answer comes back with `Connection:
/// close`, so the browser sends its next request on a new connection,
/// checked afresh, even to a server that would keep this one open.
async fn exchange(
    browser: &mut TcpStream,
    upstream: &mut TcpStream,
    head: &Head,
    rules: &Rules,
    usage: &Usage,
) {
    let length = head
        .lines
        .iter()
        .find(|l| starts_with(l, "content-length:"))
        .and_then(|l| l[15..].trim().parse::<u64>().ok())
        .unwrap_or(0);
    let early = &head.rest[..head.rest.len().min(length as usize)];
    if upstream.write_all(early).await.is_err() {
        return;
    }
    let more = length.saturating_sub(early.len() as u64);
    if more > 0
        && tokio::io::copy(&mut (&mut *browser).take(more), upstream)
            .await
            .is_err()
    {
        return;
    }
    let Ok(Some((answer, rest))) = read_answer_head(upstream).await else {
        return;
    };
    let mut out = String::with_capacity(answer.len() + 24);
    for line in answer.split("\r\n") {
        let hop = ["connection:", "keep-alive:", "proxy-connection:"];
        if !hop.iter().any(|h| starts_with(line, h)) {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("Connection: close\r\n\r\n");
    usage
        .bytes
        .fetch_add((out.len() + rest.len()) as u64, Ordering::Relaxed);
    if browser.write_all(out.as_bytes()).await.is_err() || browser.write_all(&rest).await.is_err() {
        return;
    }
    let (mut br, mut bw) = browser.split();
    // The browser closing its side (it has the whole answer) ends it too.
    let closed = async {
        let mut sink = [0u8; 512];
        while let Ok(1..) = br.read(&mut sink).await {}
    };
    tokio::select! {
        () = copy_counted(upstream, &mut bw, rules, usage) => {}
        () = closed => {}
    }
}

/// Resolves `host` once, picks an address the rules permit, connects to it.
async fn connect(host: &str, port: u16, rules: &Rules) -> Result<TcpStream, String> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Some(only) = &rules.only
        && !only.iter().any(|h| h.eq_ignore_ascii_case(bare))
    {
        return Err(format!(
            "{bare} is not one of this page's hosts; add it to the spot's page_hosts"
        ));
    }
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((bare, port))
        .await
        .map_err(|e| format!("{bare} does not resolve: {e}"))?
        .collect();
    let address = rules.policy.pick(bare, &addresses)?;
    TcpStream::connect(address)
        .await
        .map_err(|e| format!("{bare} ({address}) refused the connection: {e}"))
}

/// Bytes both ways until either side closes; what comes back is counted
/// against the page's byte limit, and the page is cut off past it.
async fn pipe(
    browser: &mut TcpStream,
    upstream: &mut TcpStream,
    early: &[u8],
    rules: &Rules,
    usage: &Usage,
) {
    if !early.is_empty() && upstream.write_all(early).await.is_err() {
        return;
    }
    let (mut br, mut bw) = browser.split();
    let (mut ur, mut uw) = upstream.split();
    // The page's side may stay open after its request (keep-alive): the
    // exchange is over when the upstream side is.
    let up = async {
        let _ = tokio::io::copy(&mut br, &mut uw).await;
        let _ = uw.shutdown().await;
        std::future::pending::<()>().await;
    };
    tokio::select! {
        () = copy_counted(&mut ur, &mut bw, rules, usage) => {}
        () = up => {}
    }
}

async fn copy_counted(
    from: &mut (impl AsyncRead + Unpin),
    to: &mut (impl AsyncWrite + Unpin),
    rules: &Rules,
    usage: &Usage,
) {
    let mut buf = vec![0u8; 16 * 1024];
    while let Ok(n @ 1..) = from.read(&mut buf).await {
        let total = usage.bytes.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
        if total > rules.max_bytes {
            Usage::note(&usage.over, format!("more than {} bytes", rules.max_bytes));
            break;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}
