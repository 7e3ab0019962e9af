//! The runner: takes queued jobs from the records, draws their items through
//! the engine, writes the result to a scratch file, and hands it to the
//! store. Progress is written after each item, which is also the runner's
//! heartbeat, and tells it when the job was cancelled.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::records::{Item, Output, Record, State};
use super::result::blob_name;
use super::spec::{self, Plan};
use super::{JobService, KEEP_RECORDS, ORPHANED_AFTER, SWEEP_EVERY, lock};
use crate::engine::Engine;

/// What makes two jobs the same: the store keys (spot, output, layers and
/// template version) and file names of its renders, or the animation's
/// key and settings.
pub(super) fn fingerprint(engine: &Engine, plan: &Plan) -> String {
    let parts = match plan {
        Plan::Renders(list) => serde_json::json!(
            list.iter()
                .map(|(r, name)| [engine.key(r).to_string(), name.clone()])
                .collect::<Vec<_>>()
        ),
        Plan::Screenshots(shots) => serde_json::json!({
            "urls": shots.pages.iter().map(|(u, _)| u.as_str()).collect::<Vec<_>>(),
            "options": shots.options,
        }),
        Plan::Crawl(c) => serde_json::json!({
            "crawl": c.start.as_str(),
            "depth": c.depth,
            "max_pages": c.max_pages,
            "same_site": c.same_site,
            "options": c.options,
        }),
        Plan::Animation(a) => serde_json::json!({
            "key": engine.key(&a.request).to_string(),
            "hours": a.hours,
            "format": a.spec.format,
            "palette": a.spec.palette,
            "delay": a.spec.delay_ms,
            "loops": a.spec.loops,
        }),
    };
    blake3::hash(parts.to_string().as_bytes())
        .to_hex()
        .to_string()
}

/// The items of a new job, all queued.
pub(super) fn items(plan: &Plan) -> Vec<Item> {
    let names: Vec<String> = match plan {
        Plan::Renders(list) => list.iter().map(|(_, name)| name.clone()).collect(),
        Plan::Screenshots(shots) => shots.pages.iter().map(|(u, _)| u.to_string()).collect(),
        // A crawl's pages are listed as they are found.
        Plan::Crawl(c) => vec![c.start.to_string()],
        Plan::Animation(a) => a
            .hours
            .iter()
            .enumerate()
            .map(|(i, h)| format!("frame {i} (+{h} h)"))
            .collect(),
    };
    names
        .into_iter()
        .map(|name| Item {
            name,
            state: "queued".into(),
            error: None,
        })
        .collect()
}

/// A job's items as they progress, written back to the records.
pub(super) struct Tracker<'a> {
    service: &'a JobService,
    id: &'a str,
    pub(super) items: Vec<Item>,
}

impl Tracker<'_> {
    pub(super) fn set(&mut self, i: usize, state: &str, error: Option<String>) {
        if let Some(item) = self.items.get_mut(i) {
            item.state = state.to_string();
            item.error = error;
        }
    }

    /// Writes the progress; `false` when the job is no longer running.
    pub(super) async fn flush(&self) -> bool {
        let now = self.service.engine.clock().now();
        match self
            .service
            .records
            .progress(self.id, &self.items, now)
            .await
        {
            Ok(running) => running,
            Err(e) => {
                tracing::warn!(job = %self.id, error = %e, "cannot record a job's progress");
                true
            }
        }
    }
}

/// Why a job produced no result: said to its owner as is.
pub(super) type Failure = String;

/// The runner of a job service.
pub(super) struct Runner {
    pub(super) service: Arc<JobService>,
}

impl Runner {
    /// The runner: takes queued jobs, up to `jobs.concurrency` at once,
    /// until `stop`. Jobs still running then stay `running` in the records and
    /// are queued again at the next start.
    pub(super) async fn run(self: Arc<Self>, stop: CancellationToken) {
        // A SQLite file has one runner: what is running is this process's
        // past. A shared database has others, alive or not: only the
        // silent ones' jobs are taken back.
        let shared = self.service.engine.config().database.url.is_some();
        let now = self.service.engine.clock().now();
        let silent = now - chrono::Duration::from_std(ORPHANED_AFTER).unwrap_or_default();
        match self.service.records.requeue(shared.then_some(silent)).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                jobs = n,
                "jobs interrupted by the last stop are queued again"
            ),
            Err(e) => tracing::error!(error = %e, "cannot queue interrupted jobs again"),
        }
        let most = self.service.engine.config().jobs.concurrency.max(1);
        let mut tasks = tokio::task::JoinSet::new();
        let mut sweep = tokio::time::interval(SWEEP_EVERY);
        loop {
            while tasks.len() < most && !stop.is_cancelled() {
                let now = self.service.engine.clock().now();
                match self.service.records.claim(now).await {
                    Ok(Some(record)) => {
                        let token = stop.child_token();
                        lock(&self.service.running).insert(record.id.clone(), token.clone());
                        let me = self.clone();
                        tasks.spawn(async move { me.execute(record, token).await });
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot take a job from the database");
                        break;
                    }
                }
            }
            tokio::select! {
                () = stop.cancelled() => break,
                () = self.service.wake.notified() => {}
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                _ = sweep.tick() => self.sweep().await,
            }
        }
        while tasks.join_next().await.is_some() {}
    }

    /// Deletes results past their time, and queues again jobs whose runner
    /// went silent.
    async fn sweep(&self) {
        let now = self.service.engine.clock().now();
        // This runner's own jobs first: an item can take longer than the
        // silence that makes a job an orphan (a render waiting for room).
        let mine: Vec<String> = lock(&self.service.running).keys().cloned().collect();
        for id in mine {
            if let Err(e) = self.service.records.beat(&id, now).await {
                tracing::warn!(job = %id, error = %e, "cannot record that a job is alive");
            }
        }
        let orphaned = now - chrono::Duration::from_std(ORPHANED_AFTER).unwrap_or_default();
        if let Ok(n @ 1..) = self.service.records.requeue(Some(orphaned)).await {
            tracing::warn!(jobs = n, "jobs whose runner went silent are queued again");
            self.service.wake.notify_one();
        }
        let kept = now - chrono::Duration::from_std(KEEP_RECORDS).unwrap_or_default();
        if let Ok(n @ 1..) = self.service.records.prune(kept).await {
            tracing::info!(jobs = n, "records of old jobs deleted");
        }
        self.service.browsing.sweep().await;
        // A crawl's pages go with its record, whatever removed it.
        for id in self.service.pages.orphans().await.unwrap_or_default() {
            self.service.forget_pages(&id).await;
        }
        let Ok(due) = self.service.records.due(now).await else {
            return;
        };
        for id in due {
            if let Err(e) = self
                .service
                .engine
                .store()
                .delete_blob(&blob_name(&id))
                .await
            {
                tracing::warn!(job = %id, error = %e, "cannot delete an expired result");
                continue;
            }
            let _ = self.service.records.close(&id, State::Expired, now).await;
            self.service.forget_pages(&id).await;
            tracing::info!(job = %id, "job result expired");
        }
    }

    /// Works on `record` until it is finished or `token` is cancelled.
    async fn execute(&self, record: Record, token: CancellationToken) {
        let id = record.id.clone();
        let mut tracker = Tracker {
            service: &self.service,
            id: &id,
            items: record.items.clone(),
        };
        let work = self.work(&record, &mut tracker, &token);
        let outcome = tokio::select! {
            outcome = work => Some(outcome),
            () = token.cancelled() => None,
        };
        lock(&self.service.running).remove(&id);
        let Some(outcome) = outcome else {
            // Cancelled (the records says so), or the service is stopping
            // (the job is queued again at the next start).
            let _ = self
                .service
                .engine
                .store()
                .delete_blob(&blob_name(&id))
                .await;
            return;
        };
        let now = self.service.engine.clock().now();
        let keep = self.service.engine.config().jobs.keep_results;
        let expires = now + chrono::Duration::from_std(keep).unwrap_or_default();
        match &outcome {
            Ok(o) => tracing::info!(job = %id, bytes = o.bytes, "job done"),
            Err(e) => tracing::warn!(job = %id, error = %e, "job failed"),
        }
        let labels = crate::metrics::labels::Job {
            kind: record.kind(),
            outcome: if outcome.is_ok() { "done" } else { "failed" },
        };
        self.service
            .engine
            .metrics()
            .jobs
            .get_or_create(&labels)
            .inc();
        let finished = self
            .service
            .records
            .finish(&id, &tracker.items, outcome, now, expires)
            .await;
        if !matches!(finished, Ok(true)) {
            // Cancelled while it finished: no result may outlive that.
            let _ = self
                .service
                .engine
                .store()
                .delete_blob(&blob_name(&id))
                .await;
        }
    }

    async fn work(
        &self,
        record: &Record,
        tracker: &mut Tracker<'_>,
        token: &CancellationToken,
    ) -> Result<Output, Failure> {
        let body: spec::Body = serde_json::from_str(&record.spec)
            .map_err(|e| format!("the stored job does not read: {e}"))?;
        let limits = &self.service.engine.config().jobs;
        // Resolved again: the config may have changed since it was accepted.
        let plan = spec::resolve(&self.service.engine, &body, limits).map_err(|problems| {
            let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
            format!(
                "the job no longer fits the configuration: {}",
                list.join("; ")
            )
        })?;
        // The room is taken now, as the job starts: jobs running at once
        // may each take what is left, so `jobs.concurrency` results of
        // `jobs.max_result_bytes` is the most the limits can be passed by.
        let room = match self.service.access.named(&record.owner) {
            Some(client) => self
                .service
                .room_for(&client)
                .await
                .map_err(|e| e.to_string())?,
            None => limits.max_result_bytes.as_u64(),
        };
        let scratch = tempfile::Builder::new()
            .prefix(".tmp-job-")
            .tempfile_in(self.service.engine.store().scratch_dir())
            .map_err(|e| storage_failure(&record.id, &e))?;
        let file = scratch
            .reopen()
            .map_err(|e| storage_failure(&record.id, &e))?;
        let out = std::io::BufWriter::new(super::result::Capped::new(file, room));
        let (media_type, file_name) = match plan {
            Plan::Renders(list) => {
                self.service
                    .producer
                    .renders(&record.id, list, tracker, out, token)
                    .await?
            }
            Plan::Animation(a) => {
                self.service
                    .producer
                    .animation(a, tracker, out, token)
                    .await?
            }
            Plan::Screenshots(shots) => {
                self.service
                    .screenshots(&record.owner, &record.id, shots, tracker, out, token)
                    .await?
            }
            Plan::Crawl(plan) => {
                self.service
                    .crawl(&record.owner, &record.id, plan, tracker, out, token)
                    .await?
            }
        };
        self.store_result(&record.id, scratch, media_type, file_name)
            .await
    }

    /// Hashes the finished scratch file and moves it into the store.
    async fn store_result(
        &self,
        id: &str,
        scratch: tempfile::NamedTempFile,
        media_type: String,
        file_name: String,
    ) -> Result<Output, Failure> {
        let path = scratch.into_temp_path();
        let hashed = {
            let path = path.to_path_buf();
            tokio::task::spawn_blocking(move || -> std::io::Result<String> {
                let mut hasher = blake3::Hasher::new();
                hasher.update_reader(std::fs::File::open(&path)?)?;
                Ok(hasher.finalize().to_hex()[..32].to_string())
            })
            .await
        };
        let etag = match hashed {
            Ok(Ok(etag)) => etag,
            Ok(Err(e)) => return Err(storage_failure(id, &e)),
            Err(e) => return Err(storage_failure(id, &e)),
        };
        let bytes = self
            .service
            .engine
            .store()
            .put_blob(&blob_name(id), &path)
            .await
            .map_err(|e| storage_failure(id, &e))?;
        // Taken by the store (renamed or copied); nothing is left to delete.
        let _ = path.keep();
        Ok(Output {
            media_type,
            file_name,
            bytes,
            etag,
        })
    }
}

pub(super) fn storage_failure(id: &str, e: &dyn std::fmt::Display) -> Failure {
    tracing::error!(job = %id, error = %e, "cannot write a job's result");
    "the result could not be stored; the server log has the details".into()
}

/// The failure for a write that failed: its owner's own doing when it
/// passed the job's room (said as is), else the storage's.
pub(super) fn write_failure(id: &str, e: &std::io::Error) -> Failure {
    match super::result::TooLarge::within(e) {
        Some(too_large) => {
            tracing::info!(job = %id, limit = too_large.limit, "a job's result passed its room");
            too_large.to_string()
        }
        None => storage_failure(id, e),
    }
}
