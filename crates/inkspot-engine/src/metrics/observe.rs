//! The pipeline's fetches and stages, counted: the metrics are the core's
//! observer.

use inkspot_core::observe::{Fetched, Observe};

use super::{Metrics, labels};

impl Observe for Metrics {
    fn fetched(&self, fetch: &Fetched<'_>) {
        let labels = labels::Fetch {
            spot: fetch.spot.to_string(),
            source: fetch.source.to_string(),
            host: fetch.host.to_string(),
            outcome: if fetch.bytes.is_some() {
                "ok"
            } else {
                "failed"
            },
        };
        self.fetches.get_or_create(&labels).inc();
        let host = labels::Host {
            host: fetch.host.to_string(),
        };
        if let Some(bytes) = fetch.bytes {
            self.fetch_bytes.get_or_create(&host).inc_by(bytes);
        }
        self.fetch_duration
            .get_or_create(&host)
            .observe(fetch.took.as_secs_f64());
    }

    fn retried(&self, host: &str) {
        let host = labels::Host {
            host: host.to_string(),
        };
        self.fetch_retries.get_or_create(&host).inc();
    }

    fn stage(&self, stage: &'static str, took: std::time::Duration) {
        self.render_stage
            .get_or_create(&labels::Stage { stage })
            .observe(took.as_secs_f64());
    }
}
