//! The scheduler's runner: a background task that wakes when a spot is due,
//! fetches it once, draws every variant the schedule lists from that one
//! fetch through the same render jobs as requests, records the run and arms
//! the next. At most `schedule.concurrency` spots run at once; the per-host
//! fetch limit applies underneath. A failed run stores nothing, so the
//! renders that exist keep being served.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::Engine;
use crate::coord::Claim;
use crate::request::RenderRequest;
use crate::schedule::{self, Outcome, Run, Schedule, demand};
use crate::source::SpotData;
use crate::supervisor::Supervisor;

/// The list of requested variants is written when it changes, and at least
/// this often while requests move their times.
const SAVE_EVERY: Duration = Duration::from_secs(600);

/// Marks the schedule's runner as running while it lives, so requests
/// refresh spots themselves once it has stopped or panicked.
struct Alive(Arc<Schedule>);

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.set_alive(false);
    }
}

/// Starts the runner of `engine`'s schedule under `supervisor`, if the
/// schedule is on.
pub(super) fn spawn(engine: Arc<Engine>, supervisor: &Supervisor) {
    let Some(schedule) = engine.schedule.clone() else {
        return;
    };
    let runner = Arc::new(Runner { engine, schedule });
    supervisor.spawn("scheduler", move |stop| async move {
        runner.run(stop).await;
    });
}

/// The runner: the engine it draws through, and the schedule it keeps.
struct Runner {
    engine: Arc<Engine>,
    schedule: Arc<Schedule>,
}

impl Runner {
    async fn run(self: Arc<Self>, stop: CancellationToken) {
        let schedule = self.schedule.clone();
        self.restore_demand(&schedule).await;
        self.arm_at_startup(&schedule).await;
        schedule.set_alive(true);
        let _alive = Alive(schedule.clone());
        let permits = Arc::new(Semaphore::new(self.engine.config.schedule.concurrency));
        let mut runs = JoinSet::new();
        let mut saved = Instant::now();
        loop {
            let now = self.engine.fresh.now();
            for index in schedule.due(now) {
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    break;
                };
                if let Some(due) = schedule.next_run(index) {
                    let lag = (now - due).to_std().unwrap_or_default();
                    self.engine.metrics.schedule_lag.observe(lag.as_secs_f64());
                }
                schedule.begin(index);
                let runner = self.clone();
                let schedule = schedule.clone();
                runs.spawn(async move {
                    runner.take_run(&schedule, index).await;
                    drop(permit);
                });
            }
            schedule.demand.forget_idle(now);
            if schedule.demand.take_changed() || saved.elapsed() >= SAVE_EVERY {
                self.save_demand(&schedule).await;
                saved = Instant::now();
            }
            // With every permit taken, only a finished run frees one.
            let wake = match schedule.earliest() {
                Some(t) if permits.available_permits() > 0 => t,
                _ => now + chrono::Duration::days(1),
            };
            tokio::select! {
                () = stop.cancelled() => break,
                () = self.engine.fresh.clock().sleep_until(wake) => {}
                Some(_) = runs.join_next(), if !runs.is_empty() => {}
            }
        }
        // Renders run as their own jobs and store whole or not at all;
        // only the waiting stops here.
        runs.shutdown().await;
        self.save_demand(&schedule).await;
    }

    /// One run of the spot at `index`, on one replica only: a turn keeps
    /// the other replicas from running it again, and a run that did not
    /// end `ok` gives it back, so its retry may run on any replica.
    async fn take_run(&self, schedule: &Schedule, index: usize) {
        let engine = &self.engine;
        let slug = engine.catalog.spots()[index].slug();
        // Runs of a spot are at least three quarters of its interval apart
        // (see `SpotPlan::next_run`); a turn of half of it keeps another
        // replica, whose timer differs a little, from running it again.
        let plan = schedule.plan(index);
        let turn = format!("schedule:{slug}");
        let taken = engine
            .coord
            .take_turn(&turn, engine.fresh.now(), plan.refresh / 2);
        let lease = match taken.await {
            Claim::Won(lease) => Some(lease),
            Claim::Alone => None,
            Claim::Held => {
                let next = schedule.ran_elsewhere(index, engine.fresh.now());
                tracing::debug!(spot = %slug, %next, "another replica has this run");
                let labels = crate::metrics::labels::SpotOutcome {
                    spot: engine.catalog.spots()[index].name.clone(),
                    outcome: "elsewhere",
                };
                engine.metrics.schedule_runs.get_or_create(&labels).inc();
                return;
            }
        };
        if lease.is_some() {
            // The variants requested of any replica: this one draws them all.
            self.save_demand(schedule).await;
        }
        let run = self.refresh_spot(schedule, index).await;
        self.count_run(schedule, index, &run);
        let ok = run.outcome == Outcome::Ok;
        schedule.finish(index, run, engine.fresh.now());
        if let Some(lease) = lease
            && !ok
        {
            lease.give_back().await;
        }
    }

    /// Counts a finished run in the metrics, and the backoff a failed one
    /// starts.
    fn count_run(&self, schedule: &Schedule, index: usize, run: &Run) {
        use crate::metrics::labels;
        let spot = self.engine.catalog.spots()[index].name.clone();
        let outcome = match run.outcome {
            Outcome::Ok => "ok",
            Outcome::Partial => "partial",
            Outcome::Failed => "failed",
            Outcome::Busy => "busy",
        };
        let labels = labels::SpotOutcome {
            spot: spot.clone(),
            outcome,
        };
        let metrics = &self.engine.metrics;
        metrics.schedule_runs.get_or_create(&labels).inc();
        if run.outcome == Outcome::Failed || schedule.is_backing_off(index) {
            let spot = labels::Spot { spot };
            metrics.schedule_backoffs.get_or_create(&spot).inc();
        }
    }

    /// Reads the requested variants kept by the last run of the service.
    async fn restore_demand(&self, schedule: &Schedule) {
        let engine = &self.engine;
        let Some(document) = engine.store.document(demand::DOCUMENT).await else {
            return;
        };
        let find = |slug: &str| engine.catalog.find(slug);
        match schedule.demand.restore(&document, find, engine.fresh.now()) {
            Ok(n) => tracing::debug!(variants = n, "requested variants restored"),
            Err(e) => {
                tracing::warn!(error = %e, "ignoring an unreadable list of requested variants")
            }
        }
    }

    /// Writes the requested variants. Replicas share the document: each
    /// adds what the others wrote to its own list first, so every replica
    /// comes to know every requested variant, whichever runs the spot. The
    /// read and the write are one replica's at a time (a claim), so two
    /// replicas writing at once do not drop each other's variants.
    async fn save_demand(&self, schedule: &Schedule) {
        let engine = &self.engine;
        let merge_and_write = || async {
            if engine.coord.is_shared() {
                self.restore_demand(schedule).await;
            }
            let slugs: Vec<String> = engine.catalog.spots().iter().map(|s| s.slug()).collect();
            let document = schedule.demand.to_document(&slugs);
            engine.store.put_document(demand::DOCUMENT, &document).await;
            ((), true)
        };
        // Nothing to find stored instead: each replica writes its own turn.
        let nothing = || async { None };
        engine
            .coord
            .once(demand::DOCUMENT, nothing, merge_and_write)
            .await;
    }

    /// Arms every spot's first run from what is stored: a spot whose
    /// variants are all on disk and fresh waits for its turn; one with a
    /// variant missing or due runs now (or at its next slot when
    /// `schedule.startup` is off).
    async fn arm_at_startup(&self, schedule: &Schedule) {
        let now = self.engine.fresh.now();
        for index in 0..schedule.len() {
            let data_at = self.oldest_data(schedule, index, now).await;
            let at = schedule
                .plan(index)
                .next_run(data_at, now, schedule.eager());
            schedule.arm(index, at);
        }
    }

    /// When the oldest data behind the spot's scheduled variants was
    /// fetched, as [`schedule::oldest_data`] reads the stored metadata.
    async fn oldest_data(
        &self,
        schedule: &Schedule,
        index: usize,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let mut stored = Vec::new();
        let engine = &self.engine;
        for variant in schedule.variants(index, now) {
            let key = engine.key(&engine.catalog.exact(index, variant.output));
            stored.push(
                engine
                    .store
                    .meta(&key)
                    .await
                    .map(|m| (m.data_at, m.partial)),
            );
        }
        schedule::oldest_data(stored)
    }

    /// One run: fetches the spot at `index` once, however many variants,
    /// and draws each from that fetch.
    async fn refresh_spot(&self, schedule: &Schedule, index: usize) -> Run {
        let engine = &self.engine;
        let started = engine.fresh.now();
        let clock = Instant::now();
        let requests: Vec<RenderRequest> = schedule
            .variants(index, started)
            .into_iter()
            .map(|v| engine.catalog.exact(index, v.output))
            .collect();
        let spot = engine.catalog.spots()[index].clone();
        let data = match requests.first() {
            Some(first) => engine.renders.data().fetch(first, Some(started)).await,
            None => Arc::new(SpotData::failed(&spot, "nothing to draw", started)),
        };
        let mut run = Run {
            started,
            took: Duration::ZERO,
            outcome: Outcome::Ok,
            error: None,
            upstream_bytes: data.bytes,
            drawn: 0,
            unchanged: 0,
            data_at: Some(data.fetched_at),
        };
        if data.all_failed() {
            run.outcome = Outcome::Failed;
            run.error = Some(data.failure_summary());
            run.data_at = None;
        } else {
            self.draw_all(&requests, &data, &mut run).await;
        }
        run.took = clock.elapsed();
        log_run(&spot.name, &run);
        run
    }

    /// Draws every request from `data` through the render jobs, in
    /// parallel within the render limit, and counts the results into `run`.
    async fn draw_all(&self, requests: &[RenderRequest], data: &Arc<SpotData>, run: &mut Run) {
        let engine = &self.engine;
        let mut jobs = Vec::new();
        let mut busy = 0;
        for request in requests {
            let key = engine.key(request);
            let before = engine.store.meta(&key).await.map(|m| m.checksum);
            let data = Some(data.clone());
            match engine.renders.submit(None, request.clone(), key, data) {
                Ok(job) => jobs.push((job, before)),
                Err(_) => busy += 1,
            }
        }
        let mut errors = Vec::new();
        for (job, before) in jobs {
            match job.wait().await {
                Ok(r) if Some(r.meta.checksum) == before => run.unchanged += 1,
                Ok(_) => run.drawn += 1,
                Err(failure) => errors.push(failure.to_string()),
            }
        }
        if busy > 0 {
            errors.push(format!("{busy} variants waited: the render queue was full"));
        }
        run.outcome = if run.drawn + run.unchanged == 0 && busy > 0 && errors.len() == 1 {
            Outcome::Busy
        } else if !errors.is_empty() || data.is_partial() {
            Outcome::Partial
        } else {
            Outcome::Ok
        };
        if data.is_partial() {
            errors.insert(0, data.problems());
        }
        run.error = (!errors.is_empty()).then(|| errors.join("; "));
    }
}

fn log_run(spot: &str, run: &Run) {
    macro_rules! log {
        ($level:ident) => {
            tracing::$level!(
                spot,
                took_ms = run.took.as_millis() as u64,
                upstream_bytes = run.upstream_bytes,
                drawn = run.drawn,
                unchanged = run.unchanged,
                outcome = ?run.outcome,
                error = run.error.as_deref(),
                "scheduled refresh"
            )
        };
    }
    // A run that met a full render queue is worth a look. A failed fetch or
    // drawing was logged where it failed, once while it lasts: the run's
    // line would only repeat it. The others are the service's heartbeat.
    match (&run.outcome, &run.error) {
        (Outcome::Busy, _) => log!(warn),
        (_, Some(error)) if error.contains("the render queue was full") => log!(warn),
        (_, Some(_)) => log!(debug),
        (_, None) => log!(info),
    }
}
