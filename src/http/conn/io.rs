//! The connection's socket as the watchdog sees it: every byte read or
//! written is noted in its [`Watch`], and hyper's own empty refusals are
//! given the JSON body every other error has.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::Watch;

/// A socket that tells its [`Watch`] when bytes pass. It also gives the
/// refusals hyper writes by itself, before any handler sees the request (a
/// request line or header section past hyper's own limits, or one that does
/// not parse), the JSON body every other error has: hyper sends them empty.
pub(super) struct Watched {
    inner: TcpStream,
    watch: Arc<Watch>,
    /// Final response heads written so far.
    heads: u64,
    /// A refusal written in place of hyper's, and how much of it is out.
    refusal: Option<(Vec<u8>, usize)>,
}

impl Watched {
    pub(super) fn new(inner: TcpStream, watch: Arc<Watch>) -> Self {
        Self {
            inner,
            watch,
            heads: 0,
            refusal: None,
        }
    }

    /// Looks at a write starting with `first`: `true` when it starts a final
    /// response head (not a `100 Continue`). A final head while every
    /// request the service was handed has its answer written is hyper's own
    /// refusal, which is then replaced.
    fn note(&mut self, first: &[u8]) -> bool {
        if self.refusal.is_some() || !first.starts_with(b"HTTP/1.1 ") {
            return false;
        }
        let status = first.get(9..12).unwrap_or_default();
        if status.first() == Some(&b'1') {
            return false;
        }
        if self.heads >= self.watch.calls.load(Ordering::Relaxed)
            && let Some(bytes) = refusal(status)
        {
            self.refusal = Some((bytes, 0));
        }
        true
    }

    /// Counts a final head once its first bytes are out: a write hyper
    /// offers again after `Pending` is the same head, not another.
    fn wrote(&mut self, head: bool, polled: &Poll<std::io::Result<usize>>) {
        if matches!(polled, Poll::Ready(Ok(n)) if *n > 0) {
            self.heads += u64::from(head);
            self.watch.wrote();
        }
    }

    /// Writes out the replacing refusal; `Ready(Ok)` once it is all out
    /// (what hyper writes after it is dropped: the connection ends).
    fn poll_refusal(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let Some((bytes, at)) = &mut self.refusal else {
            return Poll::Ready(Ok(()));
        };
        while *at < bytes.len() {
            match Pin::new(&mut self.inner).poll_write(cx, &bytes[*at..]) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
                }
                Poll::Ready(Ok(n)) => *at += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }
}

/// The whole answer that replaces hyper's empty refusal with `status`.
fn refusal(status: &[u8]) -> Option<Vec<u8>> {
    let (line, code, message) = match status {
        b"400" => (
            "400 Bad Request",
            "bad_request",
            "the request is not HTTP/1.1 this server can read",
        ),
        b"414" => (
            "414 URI Too Long",
            "uri_too_long",
            "the path and query are too long",
        ),
        b"431" => (
            "431 Request Header Fields Too Large",
            "headers_too_large",
            "the request headers are too large",
        ),
        _ => return None,
    };
    let body = serde_json::json!({ "error": message, "code": code }).to_string();
    let head = format!(
        "HTTP/1.1 {line}\r\ncontent-type: application/json\r\ncontent-length: {}\r\ncache-control: no-store\r\nx-content-type-options: nosniff\r\nx-error-code: {code}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    Some([head.into_bytes(), body.into_bytes()].concat())
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.watch.read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let head = self.note(buf);
        if self.refusal.is_some() {
            return self.poll_refusal(cx).map_ok(|()| buf.len());
        }
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.wrote(head, &polled);
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let first = bufs.iter().find(|b| !b.is_empty());
        let head = first.is_some_and(|first| self.note(first));
        if self.refusal.is_some() {
            let len = bufs.iter().map(|b| b.len()).sum();
            return self.poll_refusal(cx).map_ok(|()| len);
        }
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.wrote(head, &polled);
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
