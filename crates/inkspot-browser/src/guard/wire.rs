//! The guard's wire format: request and answer heads read within a bound,
//! authorities split, short answers written.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The most a request's head may be.
const MAX_HEAD: usize = 32 * 1024;

/// A request's first line and the rest of what was read with its head.
pub(super) struct Head {
    pub(super) method: String,
    pub(super) target: String,
    pub(super) version: String,
    pub(super) lines: Vec<String>,
    pub(super) rest: Vec<u8>,
}

/// An answer's head, without its blank line, and what came after it.
pub(super) async fn read_answer_head(
    stream: &mut TcpStream,
) -> std::io::Result<Option<(String, Vec<u8>)>> {
    let mut buf = Vec::with_capacity(2048);
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..at]).into_owned();
            return Ok(Some((head, buf[at + 4..].to_vec())));
        }
        if buf.len() > MAX_HEAD * 2 {
            return Ok(None);
        }
    }
}

pub(super) fn starts_with(line: &str, prefix: &str) -> bool {
    let (line, prefix) = (line.as_bytes(), prefix.as_bytes());
    line.len() >= prefix.len() && line[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// Reads a request's head (to the blank line), at most [`MAX_HEAD`].
pub(super) async fn read_head(stream: &mut TcpStream) -> std::io::Result<Option<Head>> {
    let mut buf = Vec::with_capacity(2048);
    let mut chunk = [0u8; 4096];
    let end = loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        if buf.len() > MAX_HEAD {
            return Ok(None);
        }
    };
    let text = String::from_utf8_lossy(&buf[..end]).to_string();
    let mut lines = text.split("\r\n").map(str::to_string);
    let first = lines.next().unwrap_or_default();
    let mut parts = first.split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Ok(None);
    };
    Ok(Some(Head {
        method: method.to_string(),
        target: target.to_string(),
        version: version.to_string(),
        lines: lines.collect(),
        rest: buf[end + 4..].to_vec(),
    }))
}

/// `host:port` (with `[v6]:port`), `default` when no port is given.
pub(super) fn split_authority(authority: &str, default: u16) -> Result<(String, u16), String> {
    let bad = || format!("`{authority}` is not a host and port");
    let (host, port) = match authority.rsplit_once(':') {
        // `[::1]` alone: the colons are the address's.
        Some((host, port)) if !port.contains(']') => {
            (host, port.parse::<u16>().map_err(|_| bad())?)
        }
        _ => (authority, default),
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    url::Host::parse(bare).map_err(|_| bad())?;
    Ok((bare.to_string(), port))
}

pub(super) async fn respond(stream: &mut TcpStream, status: u16, why: &str) -> std::io::Result<()> {
    let reason = if status == 429 {
        "Too Many Requests"
    } else {
        "Forbidden"
    };
    let text = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{why}",
        why.len()
    );
    stream.write_all(text.as_bytes()).await
}
