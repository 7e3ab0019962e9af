//! What a request is answered with, and how a stored render is served: as
//! fresh, as the schedule keeps it until the next image, or stale.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::RenderFailure;
use super::fresh::Freshness;
use crate::flight::JobHandle;
use crate::request::RenderRequest;
use crate::schedule::Schedule;
use crate::store::{Key, Rendered, Store};

/// Where a served image came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    /// A fresh render from the store.
    Hit,
    /// Rendered for this request.
    Miss,
    /// An older render, served because a new one could not be made yet.
    Stale,
}

impl CacheStatus {
    /// The `X-Cache` header value.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheStatus::Hit => "hit",
            CacheStatus::Miss => "miss",
            CacheStatus::Stale => "stale",
        }
    }
}

/// An image ready to send.
#[derive(Debug, Clone)]
pub struct Served {
    /// The image and its metadata.
    pub rendered: Arc<Rendered>,
    /// Where it came from.
    pub cache: CacheStatus,
    /// How long a client may keep it.
    pub max_age: Duration,
}

/// What there is for a request that must not wait: [`super::Engine::look`].
#[derive(Debug, Clone)]
pub enum Look {
    /// An image to serve, fresh or stale.
    Ready(Served),
    /// No image yet: its first render is on its way.
    Preparing,
    /// No image: its last render failed, as this says.
    Failed(Arc<super::Failed>),
}

/// A render job, as submitted or joined.
pub type RenderHandle = JobHandle<Key, Arc<Rendered>, RenderFailure>;

/// What the store holds for a request, and how to serve it without a job.
pub(super) struct Found<'a> {
    /// The stored render, fresh or not.
    pub existing: Option<Arc<Rendered>>,
    /// How to serve it without a job: fresh, or kept by the schedule.
    pub served: Option<Served>,
    /// The schedule and the time, when it draws this variant.
    pub scheduled: Option<(&'a Schedule, DateTime<Utc>)>,
}

/// Looks a request up in the store, with the schedule's say.
pub(super) struct Lookup<'a> {
    pub fresh: &'a Freshness,
    pub store: &'a Store,
    pub schedule: Option<&'a Schedule>,
    /// The spots' data: a mashup's stored render is outdated once one of
    /// its parts has newer data.
    pub data: &'a super::data::Data,
}

impl<'a> Lookup<'a> {
    /// The stored render under `key`, and how to serve it without a job if
    /// it can be (fresh, or kept by the schedule).
    pub(super) async fn find(&self, request: &RenderRequest, key: &Key) -> Found<'a> {
        let scheduled = self.scheduled(request);
        let existing = self.store.get(key).await;
        let outdated = match &existing {
            Some(r) if request.spot.mashup.is_some() => {
                self.data.parts_newer_than(request, r.meta.data_at).await
            }
            _ => false,
        };
        let served = existing
            .as_ref()
            .filter(|_| !outdated)
            .and_then(|rendered| {
                let fresh = self
                    .fresh
                    .fresh_for(rendered.meta.data_at, rendered.meta.partial);
                match scheduled {
                    Some((schedule, now)) => {
                        as_scheduled(schedule, now, request.index, rendered, fresh)
                    }
                    None => fresh.map(|left| Served {
                        rendered: rendered.clone(),
                        cache: CacheStatus::Hit,
                        max_age: left,
                    }),
                }
            });
        Found {
            existing,
            served,
            scheduled,
        }
    }

    /// The schedule and the time, when its runner is running and draws
    /// this variant. Notes the request, so the variant joins the schedule.
    fn scheduled(&self, request: &RenderRequest) -> Option<(&'a Schedule, DateTime<Utc>)> {
        let schedule = self.schedule?;
        let now = self.fresh.now();
        let covered = if request.preview {
            schedule.covers(request.index, &request.output)
        } else {
            schedule.note(request.index, &request.output, now)
        };
        (covered && schedule.is_alive()).then_some((schedule, now))
    }
}

/// A stored render of a scheduled variant, kept until the next image is
/// expected. `None` when a request should refresh it instead: expired
/// while the spot is not backing off (this variant missed the last run),
/// or the schedule has fallen behind.
fn as_scheduled(
    schedule: &Schedule,
    now: DateTime<Utc>,
    index: usize,
    rendered: &Arc<Rendered>,
    fresh: Option<Duration>,
) -> Option<Served> {
    let plan = schedule.plan(index);
    let cache = match fresh {
        Some(_) => CacheStatus::Hit,
        None => CacheStatus::Stale,
    };
    let max_age = if !plan.is_active(now) {
        // Nothing is fetched outside active hours: the last image holds
        // until the window opens and a run has drawn the next one.
        let opens = (plan.window_opens(now) - now).to_std().unwrap_or_default();
        opens + schedule.run_time(index)
    } else {
        match schedule.keep_for(index, now) {
            Some(left) if fresh.is_some() || schedule.is_backing_off(index) => left,
            // Overdue, or this variant missed the last run: a request
            // refreshes it as without a schedule.
            _ => {
                return fresh.map(|left| Served {
                    rendered: rendered.clone(),
                    cache,
                    max_age: left,
                });
            }
        }
    };
    Some(Served {
        rendered: rendered.clone(),
        cache,
        max_age,
    })
}
