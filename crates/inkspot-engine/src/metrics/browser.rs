//! The browser's metrics: pictures by outcome, their time, restarts, pages
//! open and memory. The browser counts in its own atomics; they are
//! copied here when `/metrics` is read.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

use super::labels;

/// What the browser reports when the metrics are read.
#[derive(Debug, Default, Clone)]
pub struct BrowserGauges {
    /// Pictures by outcome (`ok`, or the failure's reason), since start.
    pub shots: Vec<(String, u64)>,
    /// Seconds spent taking pictures, since start.
    pub shot_seconds: f64,
    /// Times the browser was started again.
    pub restarts: u64,
    /// Pages open now.
    pub pages_open: i64,
    /// The browser's resident memory, when it runs here.
    pub memory: Option<i64>,
}

#[derive(Debug, Default)]
pub(super) struct BrowserMetrics {
    shots: Family<labels::Outcome, Counter>,
    seconds: Counter<f64, std::sync::atomic::AtomicU64>,
    restarts: Counter,
    pages: Gauge,
    memory: Gauge,
}

impl BrowserMetrics {
    pub(super) fn register(&self, r: &mut Registry) {
        r.register(
            "browser_shots",
            "Pictures the browser took, by outcome (ok, refused, timeout, too_large, wait_for, load, browser, unavailable)",
            self.shots.clone(),
        );
        r.register_with_unit(
            "browser_shot",
            "Time spent taking pictures",
            Unit::Seconds,
            self.seconds.clone(),
        );
        r.register(
            "browser_restarts",
            "Times the browser was killed or lost and started again",
            self.restarts.clone(),
        );
        r.register(
            "browser_pages_open",
            "Browser pages open now",
            self.pages.clone(),
        );
        r.register_with_unit(
            "browser_memory",
            "Resident memory of the browser's processes",
            Unit::Bytes,
            self.memory.clone(),
        );
    }

    pub(super) fn set(&self, g: &BrowserGauges) {
        // The browser's counts only grow: add what is new since the last read.
        for (outcome, now) in &g.shots {
            let counter = self.shots.get_or_create(&labels::Outcome {
                outcome: outcome.clone(),
            });
            counter.inc_by(now.saturating_sub(counter.get()));
        }
        self.seconds
            .inc_by((g.shot_seconds - self.seconds.get()).max(0.0));
        self.restarts
            .inc_by(g.restarts.saturating_sub(self.restarts.get()));
        self.pages.set(g.pages_open);
        self.memory.set(g.memory.unwrap_or(0));
    }
}
