//! What the pipeline tells an observer: each fetch and how long each stage
//! took. The server counts them in its metrics; the core keeps no registry.

use std::time::Duration;

/// One fetch of a source, as an observer sees it.
#[derive(Debug, Clone, Copy)]
pub struct Fetched<'a> {
    /// The spot's name.
    pub spot: &'a str,
    /// The source's id within the spot.
    pub source: &'a str,
    /// The upstream's `host:port`, or `file`.
    pub host: &'a str,
    /// The body's size when it came; `None` when the fetch failed.
    pub bytes: Option<u64>,
    /// How long it took, retries included.
    pub took: Duration,
}

/// Receives what the pipeline does. Every method has a default that does
/// nothing, so an observer implements only what it counts.
pub trait Observe: Send + Sync + 'static {
    /// A source was fetched (or failed to be).
    fn fetched(&self, _fetch: &Fetched<'_>) {}
    /// A transient failure of `host` is being retried.
    fn retried(&self, _host: &str) {}
    /// A stage of a render (`fetch`, `fill`, `draw`, `encode`) took `took`.
    fn stage(&self, _stage: &'static str, _took: Duration) {}
}

/// The observer that counts nothing: tools and tests.
#[derive(Debug, Default, Clone, Copy)]
pub struct Unobserved;

impl Observe for Unobserved {}
