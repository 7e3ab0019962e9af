//! The history's metrics: samples written and dropped, retention runs,
//! rows and bytes kept. The history counts in its own atomics; they are
//! copied here when `/metrics` is read.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

use super::labels;

/// What the history reports when the metrics are read.
#[derive(Debug, Default, Clone, Copy)]
pub struct HistoryGauges {
    /// Samples written since start.
    pub written: u64,
    /// Samples dropped since start.
    pub dropped: u64,
    /// Retention runs since start.
    pub rollup_runs: u64,
    /// Raw samples kept.
    pub samples: i64,
    /// Hourly rollups kept.
    pub hours: i64,
    /// Their estimated size.
    pub bytes: i64,
}

#[derive(Debug, Default)]
pub(super) struct HistoryMetrics {
    written: Counter,
    dropped: Counter,
    runs: Counter,
    rows: Family<labels::Table, Gauge>,
    bytes: Gauge,
}

impl HistoryMetrics {
    pub(super) fn register(&self, r: &mut Registry) {
        r.register(
            "history_samples_written",
            "History samples written to the database",
            self.written.clone(),
        );
        r.register(
            "history_samples_dropped",
            "History samples dropped: the write queue was full or the database refused them",
            self.dropped.clone(),
        );
        r.register(
            "history_rollup_runs",
            "History retention and rollup runs",
            self.runs.clone(),
        );
        r.register(
            "history_rows",
            "Rows the history keeps, by table (samples, hourly)",
            self.rows.clone(),
        );
        r.register_with_unit(
            "history",
            "Estimated size of the history in the database",
            Unit::Bytes,
            self.bytes.clone(),
        );
    }

    pub(super) fn set(&self, g: &HistoryGauges) {
        // The history's counts only grow: add what is new since the last read.
        for (counter, now) in [
            (&self.written, g.written),
            (&self.dropped, g.dropped),
            (&self.runs, g.rollup_runs),
        ] {
            counter.inc_by(now.saturating_sub(counter.get()));
        }
        self.rows
            .get_or_create(&labels::Table { table: "samples" })
            .set(g.samples);
        self.rows
            .get_or_create(&labels::Table { table: "hourly" })
            .set(g.hours);
        self.bytes.set(g.bytes);
    }
}
