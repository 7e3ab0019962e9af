//! Watching the templates folder: a reloaded set is tried at once on each
//! spot's last data, so a template that compiles but fails on real data
//! (an unknown filter, a deleted file) is logged at ERROR with its line
//! when it is saved, and shown on `/status` and the gallery, while the
//! spot's last good image goes on being served.

use std::sync::Arc;

use super::Engine;
use crate::supervisor::Supervisor;
use crate::template::{Context, POLL};

/// Checks the templates folder every [`POLL`] under `supervisor`,
/// reloading and trying a changed set.
pub(super) fn spawn_watcher(engine: Arc<Engine>, supervisor: &Supervisor) {
    supervisor.spawn("template-watcher", move |stop| async move {
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(POLL) => {}
            }
            let live = engine.pipeline().templates().clone();
            match tokio::task::spawn_blocking(move || live.reload_if_changed()).await {
                Ok(true) => {
                    engine.try_templates().await;
                }
                Ok(false) => {}
                Err(_) => tracing::error!("the template check failed"),
            }
        }
    });
}

/// Fills each spot's templates with its last good data; logs each that
/// fails and keeps it as the spot's template problem, and clears the
/// problem of a spot whose templates fill again. Returns how many spots
/// fail.
pub(super) async fn try_all(engine: &Engine) -> usize {
    let templates = engine.pipeline().templates().current();
    let trouble = engine.renders.trouble();
    let mut failing = 0;
    for spot in engine.catalog.spots() {
        let slug = spot.slug();
        let Some(data) = engine.renders.data().cached(&slug).await else {
            continue;
        };
        let context = Context::new(
            spot,
            spot.width,
            spot.height,
            Some(data.as_ref()),
            data.fetched_at,
        );
        let failed = spot
            .template
            .names()
            .into_iter()
            .find_map(|(_, name)| templates.render(name, &context).err());
        match failed {
            Some(e) => {
                failing += 1;
                tracing::error!(spot = %spot.name, error = %e, "the reloaded template fails on this spot's data; its last good image is served until the template is fixed");
                trouble.template_failed(&slug, e.to_string(), engine.fresh.now());
            }
            None => trouble.template_fills(&slug),
        }
    }
    failing
}
