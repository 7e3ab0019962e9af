//! The service's metrics, in the Prometheus (OpenMetrics) text format at
//! `/metrics`. Each engine owns its own registry, so tests and embedders
//! that run several servers in one process read their own counts.
//!
//! Counters and histograms are moved where things happen; gauges of state
//! (queue depth, cache size, devices) are set from a [`Gauges`] snapshot
//! when the metrics are read. Labels are bounded: see [`labels`].

mod browser;
mod devices;
mod history;
pub use browser::BrowserGauges;
pub use devices::{DeviceGauges, FirmwareCounts};
pub use history::HistoryGauges;
pub mod labels;
mod observe;

use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

/// The most device series; devices past it are left out of the metrics.
pub const MAX_DEVICE_SERIES: usize = 100;

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;
pub(crate) type FloatGauge = Gauge<f64, std::sync::atomic::AtomicU64>;

fn http_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 3.0, 12))
}

fn fetch_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.01, 2.0, 12))
}

fn stage_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.5, 12))
}

/// Every metric of the service.
pub struct Metrics {
    registry: Registry,
    /// Requests answered, by route, status and cache result.
    pub http_requests: Family<labels::Http, Counter>,
    /// Time to answer, by route.
    pub http_duration: Histograms<labels::Route>,
    /// Source fetches, by spot, source, host and outcome.
    pub fetches: Family<labels::Fetch, Counter>,
    /// Time of a source fetch, by host.
    pub fetch_duration: Histograms<labels::Host>,
    /// Body bytes fetched, by host.
    pub fetch_bytes: Family<labels::Host, Counter>,
    /// Retries of transient upstream failures, by host.
    pub fetch_retries: Family<labels::Host, Counter>,
    /// Time spent in each stage of a render.
    pub render_stage: Histograms<labels::Stage>,
    /// Render jobs finished, by spot and outcome.
    pub renders: Family<labels::SpotOutcome, Counter>,
    /// Jobs of the job API finished, by kind and outcome.
    pub jobs: Family<labels::Job, Counter>,
    /// Pages each finished crawl visited.
    pub crawl_pages: Histogram,
    /// Scheduled runs, by spot and outcome.
    pub schedule_runs: Family<labels::SpotOutcome, Counter>,
    /// How late scheduled runs started.
    pub schedule_lag: Histogram,
    /// Backoffs after failed runs, by spot.
    pub schedule_backoffs: Family<labels::Spot, Counter>,
    /// Requests turned away, by reason.
    pub refused: Family<labels::Refusal, Counter>,
    /// Renders removed from a cache layer to make room or by age.
    pub evictions: Family<labels::Layer, Counter>,
    /// Renders whose retried write was given up (evicted from memory, or
    /// too many waiting).
    pub pending_dropped: Counter,
    /// Connections open now, on every listener.
    pub connections_open: Gauge,
    /// Connections closed by the server, by reason.
    connections_closed: Family<labels::Refusal, Counter>,
    queue: Gauge,
    in_flight: Gauge,
    cache_entries: Family<labels::Layer, Gauge>,
    cache_bytes: Family<labels::Layer, Gauge>,
    service_up: Family<labels::Service, Gauge>,
    pending_writes: Gauge,
    devices: devices::DeviceMetrics,
    history: history::HistoryMetrics,
    /// One encoding at a time: the counters copied from other parts' own
    /// counts are brought up to date by difference, which two scrapes at
    /// once would add twice.
    encoding: std::sync::Mutex<()>,
    browser: browser::BrowserMetrics,
}

/// State read when the metrics are: what is not counted as it happens.
#[derive(Debug, Default)]
pub struct Gauges {
    /// Render jobs waiting for a render thread.
    pub queued: i64,
    /// Render jobs fetching or drawing.
    pub in_flight: i64,
    /// Entries and bytes in memory.
    pub memory: (i64, i64),
    /// Entries and bytes on disk (or the storage backend).
    pub disk: (i64, i64),
    /// Whether each service the replica uses answers now.
    pub services: Vec<(&'static str, bool)>,
    /// Renders whose write failed, waiting to be written again.
    pub pending_writes: i64,
    /// Each device's last call (unix seconds), battery volts, battery
    /// percent and signal (dBm).
    pub devices: Vec<(labels::Device, DeviceGauges)>,
    /// The firmware images' counts since start, when devices are offered
    /// updates.
    pub firmware: Option<FirmwareCounts>,
    /// The history's counts, when it is kept.
    pub history: Option<HistoryGauges>,
    /// The browser's counts.
    pub browser: BrowserGauges,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every metric, registered under `inkspot_`.
    pub fn new() -> Self {
        let mut m = Self {
            registry: Registry::with_prefix("inkspot"),
            http_requests: Family::default(),
            http_duration: Family::new_with_constructor(http_buckets),
            fetches: Family::default(),
            fetch_duration: Family::new_with_constructor(fetch_buckets),
            fetch_bytes: Family::default(),
            fetch_retries: Family::default(),
            render_stage: Family::new_with_constructor(stage_buckets),
            renders: Family::default(),
            jobs: Family::default(),
            crawl_pages: Histogram::new(exponential_buckets(1.0, 2.0, 10)),
            schedule_runs: Family::default(),
            schedule_lag: Histogram::new(exponential_buckets(0.1, 3.0, 10)),
            schedule_backoffs: Family::default(),
            refused: Family::default(),
            evictions: Family::default(),
            pending_dropped: Counter::default(),
            connections_open: Gauge::default(),
            connections_closed: Family::default(),
            queue: Gauge::default(),
            in_flight: Gauge::default(),
            cache_entries: Family::default(),
            cache_bytes: Family::default(),
            service_up: Family::default(),
            pending_writes: Gauge::default(),
            devices: devices::DeviceMetrics::default(),
            encoding: std::sync::Mutex::new(()),
            history: history::HistoryMetrics::default(),
            browser: browser::BrowserMetrics::default(),
        };
        m.register();
        m
    }

    fn register(&mut self) {
        let r = &mut self.registry;
        let build = labels::Build {
            version: env!("CARGO_PKG_VERSION"),
        };
        r.register("build", "The version running", Info::new(build));
        r.register(
            "http_requests",
            "HTTP requests answered, by route, status and cache result",
            self.http_requests.clone(),
        );
        r.register_with_unit(
            "http_request_duration",
            "Time to answer a request, by route",
            Unit::Seconds,
            self.http_duration.clone(),
        );
        r.register(
            "fetches",
            "Source fetches, by spot, source, host and outcome",
            self.fetches.clone(),
        );
        r.register_with_unit(
            "fetch_duration",
            "Time of a source fetch, by host",
            Unit::Seconds,
            self.fetch_duration.clone(),
        );
        r.register_with_unit(
            "fetch",
            "Body bytes fetched from upstreams, by host",
            Unit::Bytes,
            self.fetch_bytes.clone(),
        );
        r.register(
            "fetch_retries",
            "Retries of transient upstream failures, by host",
            self.fetch_retries.clone(),
        );
        r.register_with_unit(
            "render_stage_duration",
            "Time in each stage of a render: fetch, fill, draw, encode",
            Unit::Seconds,
            self.render_stage.clone(),
        );
        r.register(
            "renders",
            "Render jobs finished, by spot and outcome",
            self.renders.clone(),
        );
        r.register(
            "jobs",
            "Jobs of the job API finished, by kind (renders, animation, screenshots, crawl) and outcome (done, failed, cancelled)",
            self.jobs.clone(),
        );
        r.register(
            "crawl_pages",
            "Pages each finished crawl visited",
            self.crawl_pages.clone(),
        );
        self.register_state();
    }

    fn register_state(&mut self) {
        let r = &mut self.registry;
        r.register(
            "schedule_runs",
            "Scheduled refreshes, by spot and outcome",
            self.schedule_runs.clone(),
        );
        r.register_with_unit(
            "schedule_lag",
            "How late scheduled refreshes started",
            Unit::Seconds,
            self.schedule_lag.clone(),
        );
        r.register(
            "schedule_backoffs",
            "Refreshes put off after a failure, by spot",
            self.schedule_backoffs.clone(),
        );
        r.register(
            "requests_refused",
            "Requests turned away, by reason",
            self.refused.clone(),
        );
        r.register(
            "connections_open",
            "Client connections open now",
            self.connections_open.clone(),
        );
        r.register(
            "connections_closed",
            "Connections the server closed: header_timeout, idle, or limit (refused at accept)",
            self.connections_closed.clone(),
        );
        r.register(
            "cache_evictions",
            "Renders removed from a cache layer",
            self.evictions.clone(),
        );
        r.register(
            "render_queue_depth",
            "Render jobs waiting",
            self.queue.clone(),
        );
        r.register(
            "renders_in_flight",
            "Render jobs fetching or drawing",
            self.in_flight.clone(),
        );
        r.register(
            "cache_entries",
            "Renders in each cache layer",
            self.cache_entries.clone(),
        );
        r.register_with_unit(
            "cache",
            "Bytes in each cache layer",
            Unit::Bytes,
            self.cache_bytes.clone(),
        );
        r.register(
            "service_up",
            "Whether a service the replica uses answers (1) or not (0)",
            self.service_up.clone(),
        );
        r.register(
            "storage_pending_writes",
            "Renders whose write failed, waiting to be written again",
            self.pending_writes.clone(),
        );
        r.register(
            "storage_pending_dropped",
            "Renders whose write to the storage was given up while it failed (evicted from memory first)",
            self.pending_dropped.clone(),
        );
        self.devices.register(&mut self.registry);
        self.history.register(&mut self.registry);
        self.browser.register(&mut self.registry);
    }

    /// Counts one request on `route` answered `status` with `cache` result,
    /// which took `took`.
    pub fn request(&self, route: &'static str, status: u16, cache: &'static str, took: Duration) {
        let labels = labels::Http {
            route,
            status,
            cache,
        };
        self.http_requests.get_or_create(&labels).inc();
        self.http_duration
            .get_or_create(&labels::Route { route })
            .observe(took.as_secs_f64());
    }

    /// Counts a request turned away for `reason`.
    pub fn refuse(&self, reason: &'static str) {
        self.refused
            .get_or_create(&labels::Refusal { reason })
            .inc();
    }

    /// Counts a device's display call, by why it woke (`unknown` when it
    /// did not say).
    pub fn device_wake(&self, reason: Option<&'static str>) {
        self.devices.wake(reason.unwrap_or("unknown"));
    }

    /// Counts a connection the server closed for `reason`.
    pub fn close_connection(&self, reason: &'static str) {
        self.connections_closed
            .get_or_create(&labels::Refusal { reason })
            .inc();
    }

    /// The metrics as text, with the gauges set from `gauges`.
    pub fn encode(&self, gauges: &Gauges) -> String {
        let _one = self
            .encoding
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.queue.set(gauges.queued);
        self.in_flight.set(gauges.in_flight);
        for (layer, (entries, bytes)) in [("memory", gauges.memory), ("disk", gauges.disk)] {
            let l = labels::Layer { layer };
            self.cache_entries.get_or_create(&l).set(entries);
            self.cache_bytes.get_or_create(&l).set(bytes);
        }
        for &(service, up) in &gauges.services {
            let l = labels::Service { service };
            self.service_up.get_or_create(&l).set(i64::from(up));
        }
        self.pending_writes.set(gauges.pending_writes);
        self.devices.set(&gauges.devices, &gauges.firmware);
        self.browser.set(&gauges.browser);
        if let Some(history) = &gauges.history {
            self.history.set(history);
        }
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}

#[cfg(test)]
mod tests;
