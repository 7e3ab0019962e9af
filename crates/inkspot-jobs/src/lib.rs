//! The job API's jobs: service of renders and animations, submitted with
//! an API key, kept in the database and finished by a runner that survives
//! restarts. Every render goes through the engine's one render job table,
//! so a job shares renders and fetched data with `/image`, and at most
//! `jobs.concurrency` of its renders or frames are in flight at once: the
//! rest of the render queue and the drawing threads stay for displays.
//! Results go to the store's blobs and expire after `jobs.keep_results`.

pub mod access;
pub mod browse;
mod error;
mod ids;
mod produce;
pub mod records;
mod result;
mod run;
pub mod spec;
mod view;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub use access::{Access, AccessError, Client};
pub use error::JobError;
pub use records::{Output, Record, Records, State, Tally};
pub use spec::Problem;
pub use view::JobView;

use sqlx::AnyPool;

// The modules of the crates below, at the paths this crate's code names
// them by (`crate::engine::Engine`).
use inkspot_core::{config, pipeline, render, request, shot, source, template, text};
use inkspot_db as db;
use inkspot_engine::{engine, metrics, store, supervisor};

use crate::engine::Engine;
use crate::supervisor::Supervisor;

/// How often the runner looks for work it was not told about (a job
/// put back after its runner stopped), and deletes expired results.
const SWEEP_EVERY: Duration = Duration::from_secs(30);

/// How long the record of a job without a result (failed, cancelled,
/// expired) is kept, so its owner can still read what happened.
const KEEP_RECORDS: Duration = Duration::from_secs(30 * 86_400);

/// A running job whose runner has not written for this long is put back
/// in the queue.
const ORPHANED_AFTER: Duration = Duration::from_secs(120);

/// The job service: records, keys, and the runner's state.
pub struct JobService {
    engine: Arc<Engine>,
    records: Records,
    access: Access,
    /// Wakes the runner when a job is queued.
    wake: Notify,
    /// Draws the jobs' renders and frames.
    producer: produce::Producer,
    /// Jobs this runner is working on, to stop one when it is cancelled.
    running: Mutex<HashMap<String, CancellationToken>>,
    /// Takes the pictures of screenshot jobs and crawls, shared within
    /// `browser.share_window`.
    browsing: browse::Browsing,
    /// The pages crawls visited.
    pages: browse::Pages,
    /// Each host's pages open now, over every crawl.
    hosts: browse::Hosts,
    /// Each key's browser time over the last hour.
    browser_time: browse::BrowserTime,
}

impl JobService {
    /// Starts the job service on `engine` when it has API keys and a
    /// `database`: starts the runner under `supervisor`, which first
    /// queues again the jobs a stopped runner left. `None` when the API is
    /// off.
    pub fn start(
        engine: Arc<Engine>,
        database: Option<AnyPool>,
        supervisor: &Supervisor,
    ) -> Option<Arc<Self>> {
        let access = Access::new(&engine.config().api_keys);
        if access.is_empty() {
            return None;
        }
        let Some(pool) = database else {
            tracing::error!("the job API is off: the database could not be opened");
            return None;
        };
        let records = Records::new(pool.clone());
        let producer = produce::Producer::new(engine.clone());
        let camera = engine.pipeline().camera().clone();
        // Pictures are shared between replicas when the storage and the
        // database both are, and there is a window to share them in.
        let config = engine.config();
        let replicas = (engine.store().health().shared
            && config.database.url.is_some()
            && !config.browser.share_window.is_zero())
        .then(|| browse::SharedShots::new(pool.clone(), engine.clone()));
        let service = Arc::new(Self {
            engine: engine.clone(),
            records,
            access,
            wake: Notify::new(),
            producer,
            running: Mutex::new(HashMap::new()),
            browsing: browse::Browsing::new(engine.config(), camera, replicas),
            pages: browse::Pages::new(pool),
            hosts: browse::Hosts::default(),
            browser_time: browse::BrowserTime::default(),
        });
        let runner = Arc::new(run::Runner {
            service: service.clone(),
        });
        supervisor.spawn("job-runner", move |stop| runner.run(stop));
        Some(service)
    }

    /// The client `authorization` names, counted against its rate.
    pub fn authenticate(&self, authorization: Option<&[u8]>) -> Result<Client, JobError> {
        let checked = self.access.check(authorization);
        if let Err(AccessError::RateLimited { .. }) = &checked {
            self.engine.metrics().refuse("key_rate_limited");
        }
        Ok(checked?)
    }

    /// Accepts the job `body` from `client`, or finds the identical one
    /// submitted within `jobs.dedupe_window` or still in progress. Returns
    /// its id and whether it already existed.
    pub async fn submit(&self, client: &Client, body: &[u8]) -> Result<(String, bool), JobError> {
        let (body, mut problems) = spec::parse(body).map_err(JobError::Invalid)?;
        let limits = &self.engine.config().jobs;
        let plan = match spec::resolve(&self.engine, &body, limits) {
            Ok(plan) if problems.is_empty() => plan,
            Ok(_) => return Err(JobError::Invalid(problems)),
            Err(more) => {
                problems.extend(more);
                return Err(JobError::Invalid(problems));
            }
        };
        if matches!(plan, spec::Plan::Screenshots(_) | spec::Plan::Crawl(_))
            && self.budget(&client.name).spent().is_some()
        {
            self.engine.metrics().refuse("browser_quota");
            return Err(JobError::BrowserQuota {
                name: client.name.clone(),
                limit: client.browser_seconds,
                retry_after: self.browser_time.retry_after(&client.name),
            });
        }
        let fingerprint = run::fingerprint(&self.engine, &plan);
        let now = self.engine.clock().now();
        let window = chrono::Duration::from_std(limits.dedupe_window).unwrap_or_default();
        let same = self
            .records
            .same_as(&client.name, &fingerprint, now - window, now);
        if let Some(id) = same.await? {
            return Ok((id, true));
        }
        if self.records.active(&client.name).await? >= client.max_jobs as i64 {
            self.engine.metrics().refuse("too_many_jobs");
            return Err(JobError::TooManyJobs {
                name: client.name.clone(),
                limit: client.max_jobs,
            });
        }
        self.room_for(client).await.inspect_err(|e| match e {
            JobError::QuotaExceeded { .. } => self.engine.metrics().refuse("quota_exceeded"),
            JobError::StorageFull { .. } => self.engine.metrics().refuse("jobs_storage_full"),
            _ => {}
        })?;
        let id = ids::new_id();
        let spec = serde_json::to_string(&body).unwrap_or_default();
        let items = run::items(&plan);
        self.records
            .insert(&id, &client.name, &fingerprint, &spec, &items, now)
            .await?;
        tracing::info!(job = %id, key = %client.name, items = items.len(), "job accepted");
        self.wake.notify_one();
        Ok((id, false))
    }

    /// Bytes a new result of `client` may take: the least of
    /// `jobs.max_result_bytes`, what is left of the key's quota, and what
    /// is left of `jobs.max_disk`. An error when either is used up.
    pub(crate) async fn room_for(&self, client: &Client) -> Result<u64, JobError> {
        let limits = &self.engine.config().jobs;
        let used = self.records.result_bytes(Some(&client.name)).await?;
        if used >= client.max_bytes {
            return Err(JobError::QuotaExceeded {
                name: client.name.clone(),
                used,
                limit: client.max_bytes,
            });
        }
        let all = self.records.result_bytes(None).await?;
        let max_disk = limits.max_disk.as_u64();
        if all >= max_disk {
            return Err(JobError::StorageFull { limit: max_disk });
        }
        Ok(limits
            .max_result_bytes
            .as_u64()
            .min(client.max_bytes - used)
            .min(max_disk - all))
    }

    /// A page of `client`'s jobs, newest first: up to `limit` older than
    /// the job `before` (its own), and the id the next page starts after
    /// when there may be more.
    pub async fn list(
        &self,
        client: &Client,
        limit: usize,
        before: Option<&str>,
    ) -> Result<(Vec<JobView>, Option<String>), JobError> {
        let after = match before {
            Some(id) => Some(self.record(client, id).await?),
            None => None,
        };
        let records = self
            .records
            .list(&client.name, limit, after.as_ref())
            .await?;
        let now = self.engine.clock().now();
        let next = (records.len() == limit)
            .then(|| records.last().map(|r| r.id.clone()))
            .flatten();
        let views = records.iter().map(|r| JobView::of(r, now)).collect();
        Ok((views, next))
    }

    /// The job `id` of `client` as the API shows it.
    pub async fn status(&self, client: &Client, id: &str) -> Result<JobView, JobError> {
        let record = self.record(client, id).await?;
        Ok(JobView::of(&record, self.engine.clock().now()))
    }

    /// The jobs kept, by state, for `/status`.
    pub async fn tally(&self) -> Result<Tally, sqlx::Error> {
        self.records.tally(self.engine.clock().now()).await
    }

    /// The result of job `id` of `client`, checked against its recorded
    /// size and checksum, to stream; `None` when `unchanged` says the
    /// caller has it already (`If-None-Match`), which is answered before
    /// anything is read.
    pub async fn download(
        &self,
        client: &Client,
        id: &str,
        unchanged: impl FnOnce(&Output) -> bool,
    ) -> Result<(Output, Option<crate::store::Blob>), JobError> {
        let record = self.record(client, id).await?;
        let view = JobView::of(&record, self.engine.clock().now());
        match view.status {
            State::Done => {}
            State::Queued | State::Running => {
                return Err(JobError::NotReady {
                    id: id.to_string(),
                    state: view.status,
                });
            }
            state => {
                return Err(JobError::Gone {
                    id: id.to_string(),
                    state,
                });
            }
        }
        let output = record.output.ok_or_else(|| JobError::Gone {
            id: id.to_string(),
            state: State::Expired,
        })?;
        if unchanged(&output) {
            return Ok((output, None));
        }
        let blob = result::checked_blob(&self.engine, &self.records, id, &output).await?;
        Ok((output, Some(blob)))
    }

    /// A screenshots job's or crawl's results as one JSON document, each
    /// picture as base64.
    pub async fn results(&self, client: &Client, id: &str) -> Result<serde_json::Value, JobError> {
        use futures_util::StreamExt;
        let (_, blob) = self.download(client, id, |_| false).await?;
        let Some(mut blob) = blob else {
            return Err(JobError::Gone {
                id: id.to_string(),
                state: State::Expired,
            });
        };
        let mut bytes = Vec::with_capacity(usize::try_from(blob.len).unwrap_or(0));
        while let Some(chunk) = blob.body.next().await {
            let chunk = chunk.map_err(|source| {
                JobError::Store(crate::store::StoreError::Io {
                    op: "read",
                    path: result::blob_name(id),
                    source,
                })
            })?;
            bytes.extend_from_slice(&chunk);
        }
        browse::results(&bytes).map_err(|e| JobError::Invalid(vec![spec::problem("id", e)]))
    }

    /// Cancels job `id` of `client` and deletes any result.
    pub async fn cancel(&self, client: &Client, id: &str) -> Result<JobView, JobError> {
        let record = self.record(client, id).await?;
        let now = self.engine.clock().now();
        self.records.close(id, State::Cancelled, now).await?;
        if let Some(token) = lock(&self.running).get(id) {
            token.cancel();
        }
        self.engine
            .store()
            .delete_blob(&result::blob_name(id))
            .await?;
        self.forget_pages(id).await;
        tracing::info!(job = %id, key = %client.name, "job cancelled");
        if !record.state.is_finished() {
            let labels = crate::metrics::labels::Job {
                kind: record.kind(),
                outcome: "cancelled",
            };
            self.engine.metrics().jobs.get_or_create(&labels).inc();
        }
        self.status(client, id).await
    }

    /// Takes the pictures of a screenshots job of `owner`.
    pub(crate) async fn screenshots(
        &self,
        owner: &str,
        id: &str,
        plan: spec::ShotsPlan,
        tracker: &mut run::Tracker<'_>,
        out: produce::Out,
        token: &CancellationToken,
    ) -> Result<(String, String), run::Failure> {
        let shooter = browse::Shooter {
            browsing: &self.browsing,
            budget: self.budget(owner),
            at_once: self.engine.config().browser.concurrency,
        };
        browse::screenshots(&shooter, id, plan, tracker, out, token).await
    }

    /// Crawls for a job of `owner`.
    pub(crate) async fn crawl(
        &self,
        owner: &str,
        id: &str,
        plan: spec::CrawlPlan,
        tracker: &mut run::Tracker<'_>,
        out: produce::Out,
        token: &CancellationToken,
    ) -> Result<(String, String), run::Failure> {
        let crawler = browse::Crawler {
            browsing: &self.browsing,
            budget: self.budget(owner),
            engine: &self.engine,
            pages: &self.pages,
            hosts: &self.hosts,
        };
        browse::crawl(&crawler, id, plan, tracker, out, token).await
    }

    /// The browser time key `owner` may still spend this hour.
    pub(crate) fn budget(&self, owner: &str) -> browse::Budget<'_> {
        let limit = self
            .access
            .named(owner)
            .map_or(u64::MAX, |c| c.browser_seconds);
        browse::Budget {
            time: &self.browser_time,
            owner: owner.to_string(),
            limit: Duration::from_secs(limit),
        }
    }

    /// Deletes a crawl's page records and their pictures.
    pub(crate) async fn forget_pages(&self, id: &str) {
        let blobs = match self.pages.forget(id).await {
            Ok(blobs) => blobs,
            Err(e) => {
                tracing::warn!(job = %id, error = %e, "cannot forget a crawl's pages");
                return;
            }
        };
        for blob in blobs {
            let _ = self.engine.store().delete_blob(&blob).await;
        }
    }

    /// A crawl's pages as recorded, for its owner.
    pub async fn pages(&self, client: &Client, id: &str) -> Result<Vec<browse::PageRow>, JobError> {
        self.record(client, id).await?;
        Ok(self.pages.of(id).await?)
    }

    /// The job `id` when it is `client`'s: another key's job is answered
    /// as no job, so ids do not leak across keys.
    async fn record(&self, client: &Client, id: &str) -> Result<Record, JobError> {
        let well_formed = id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit());
        if !well_formed {
            return Err(JobError::NotFound(crate::text::ellipsize(id, 40)));
        }
        self.records
            .get(id)
            .await?
            .filter(|r| r.owner == client.name)
            .ok_or_else(|| JobError::NotFound(id.to_string()))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
