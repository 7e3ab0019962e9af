//! What has gone wrong lately: the renders that failed, by store key, so a
//! display is not sent back to an image that cannot be drawn; and each
//! spot's template problem, for `/status` and the gallery.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};

use super::RenderFailure;
use super::quiet::Quiet;
use crate::config::Spot;
use crate::pipeline::DrawError;
use crate::store::{Key, Rendered};

/// The most bytes of error pictures the failures keep. A client can make
/// many keys fail (one per output it asks for), so the table is bounded by
/// what it holds; an evicted failure is only tried once more.
const FAILURES_BYTES: u64 = 8 * 1024 * 1024;

/// A render that failed, and keeps failing the same way.
#[derive(Debug)]
pub struct Failed {
    /// When it first failed this way.
    pub since: DateTime<Utc>,
    /// What the error picture says in large type.
    pub headline: &'static str,
    /// Why.
    pub reason: String,
    /// The error picture of the first failure, when it could be drawn.
    pub picture: Option<Arc<Rendered>>,
}

impl Failed {
    /// Six hex digits that change only when the kind of failure does:
    /// what a display's `filename` for the error picture is made of, with
    /// [`Failed::since`]. Its reason's wording (a source's retry time) may
    /// change while it keeps failing; the panel is not redrawn for that.
    pub fn id(&self) -> String {
        blake3::hash(self.headline.as_bytes()).to_hex()[..6].to_string()
    }
}

/// A spot's template failing on its data.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TemplateProblem {
    /// The template's error: its file, line and reason.
    pub error: String,
    /// When it was found.
    pub at: DateTime<Utc>,
}

/// The failures and template problems in force.
pub(super) struct Trouble {
    failures: moka::future::Cache<Key, Arc<Failed>>,
    /// By spot slug; as many as there are spots.
    templates: Mutex<HashMap<String, TemplateProblem>>,
    /// What has been logged of failures that last.
    quiet: Arc<Quiet>,
}

impl Trouble {
    pub(super) fn new(quiet: Arc<Quiet>) -> Self {
        let failures = moka::future::Cache::builder()
            .max_capacity(FAILURES_BYTES)
            .weigher(|_key: &Key, failed: &Arc<Failed>| {
                let bytes = failed.picture.as_ref().map_or(0, |p| p.bytes.len());
                u32::try_from(bytes + 256).unwrap_or(u32::MAX)
            })
            .build();
        Self {
            failures,
            templates: Mutex::new(HashMap::new()),
            quiet,
        }
    }

    /// Logs that `spot`'s template could not be drawn, once while the same
    /// failure lasts.
    pub(super) fn draw_failed(&self, spot: &Spot, cause: &DrawError) {
        let subject = format!("draw:{}", spot.slug());
        if let Some(repeated) = self.quiet.failing(&subject, &cause.to_string()) {
            tracing::error!(spot = %spot.name, error = %cause, repeated, "render failed");
        }
    }

    /// Notes that `spot` was drawn: a failure logged before is over.
    pub(super) fn drawn(&self, spot: &Spot) {
        self.quiet.recovered(&format!("draw:{}", spot.slug()));
    }

    /// Notes how the render of `key` for spot `slug` ended at `now`.
    pub(super) async fn ended(
        &self,
        key: &Key,
        slug: &str,
        result: &Result<Arc<Rendered>, RenderFailure>,
        now: DateTime<Utc>,
    ) {
        let failure = match result {
            Ok(_) => {
                self.failures.invalidate(key).await;
                self.template_fills(slug);
                return;
            }
            Err(failure) => failure,
        };
        if let RenderFailure::Draw { cause, .. } = failure {
            // What the operator's template or page gets wrong is shown in
            // /status until it draws again.
            match cause.as_ref() {
                DrawError::Template(e) => self.template_failed(slug, e.to_string(), now),
                DrawError::Shot(e) => self.template_failed(slug, format!("the page: {e}"), now),
                _ => {}
            }
        }
        let (headline, reason) = describe(failure);
        let known = self.failures.get(key).await;
        // The same kind of failure again keeps its first time and picture,
        // so what a display is told stays the same while it lasts.
        if known.is_some_and(|k| k.headline == headline) {
            return;
        }
        let failed = Failed {
            since: now,
            headline,
            reason,
            picture: failure.picture(),
        };
        self.failures.insert(key.clone(), Arc::new(failed)).await;
    }

    /// The failure of `key`'s last render, if it failed.
    pub(super) async fn failure(&self, key: &Key) -> Option<Arc<Failed>> {
        self.failures.get(key).await
    }

    /// Notes that spot `slug`'s template fails on its data with `error`.
    pub(super) fn template_failed(&self, slug: &str, error: String, now: DateTime<Utc>) {
        let problem = TemplateProblem { error, at: now };
        self.templates().insert(slug.to_string(), problem);
    }

    /// Forgets spot `slug`'s template problem (its template fills again).
    pub(super) fn template_fills(&self, slug: &str) {
        self.templates().remove(slug);
    }

    /// Spot `slug`'s template problem, if it has one.
    pub(super) fn template_problem(&self, slug: &str) -> Option<TemplateProblem> {
        self.templates().get(slug).cloned()
    }

    fn templates(&self) -> std::sync::MutexGuard<'_, HashMap<String, TemplateProblem>> {
        self.templates
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// The headline and reason the error picture of `failure` shows.
fn describe(failure: &RenderFailure) -> (&'static str, String) {
    match failure {
        RenderFailure::NoData { reason, .. } => (NO_DATA, reason.clone()),
        RenderFailure::Draw { cause, .. } => (NOT_DRAWN, cause.to_string()),
        RenderFailure::Panicked(e) => (NOT_DRAWN, e.to_string()),
    }
}

/// The error picture's headline when every source failed.
pub(super) const NO_DATA: &str = "No data right now";
/// Its headline when the data came but the picture could not be drawn.
pub(super) const NOT_DRAWN: &str = "This picture could not be drawn";
