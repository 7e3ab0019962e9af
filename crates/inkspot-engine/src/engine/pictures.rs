//! The pictures the engine shows when there is no render to serve: the
//! last good one an earlier template drew, the error picture, "busy" for a
//! display turned away, and notices such as the one that identifies a
//! device.

use std::sync::Arc;

use super::fresh::Freshness;
use super::quiet::Quiet;
use super::{BUSY_RETRY_AFTER, EngineError};
use crate::flight::Busy;
use crate::pipeline::Pipeline;
use crate::render::Output;
use crate::request::RenderRequest;
use crate::store::{Key, Rendered, Store};

/// Draws and finds the pictures shown instead of a render.
pub(super) struct Pictures {
    fresh: Freshness,
    pipeline: Pipeline,
    store: Store,
    quiet: Arc<Quiet>,
    /// Pictures of "busy", by spot and output, for displays turned away.
    busy: moka::future::Cache<(usize, Output), Arc<Rendered>>,
}

impl Pictures {
    pub(super) fn new(
        fresh: Freshness,
        pipeline: Pipeline,
        store: Store,
        quiet: Arc<Quiet>,
    ) -> Self {
        Self {
            fresh,
            pipeline,
            store,
            quiet,
            busy: moka::future::Cache::new(64),
        }
    }

    /// The error for a request turned away with `busy`. A client that shows
    /// only pictures (`error_status = 200`) gets one saying so, drawn once
    /// per spot and output and kept, so a flood costs no drawing.
    pub(super) async fn turned_away(&self, request: &RenderRequest, busy: Busy) -> EngineError {
        let picture = if request.error_status == 200 {
            let reason = "busy drawing other images; this one comes in a few seconds";
            let draw = self.error(request, "Busy right now", reason);
            let key = (request.index, request.output);
            self.busy.optionally_get_with(key, draw).await
        } else {
            None
        };
        let retry_after = BUSY_RETRY_AFTER;
        match busy {
            Busy::Full { .. } => EngineError::Busy {
                retry_after,
                picture,
            },
            Busy::Owner { limit } => EngineError::TooManyRenders {
                limit,
                retry_after,
                picture,
            },
        }
    }

    /// The error picture for `request`: `headline` over `reason`; `None`
    /// (logged) if even that cannot be drawn.
    pub(super) async fn error(
        &self,
        request: &RenderRequest,
        headline: &str,
        reason: &str,
    ) -> Option<Arc<Rendered>> {
        let now = self.fresh.now();
        match self
            .pipeline
            .error_picture(request, headline, reason, now)
            .await
        {
            Ok(picture) => Some(Arc::new(picture)),
            Err(e) => {
                tracing::error!(spot = %request.spot.name, error = %e, "cannot draw the error picture");
                None
            }
        }
    }

    /// A notice drawn as `request`'s output: `title` over `text`. Nothing
    /// is stored; `None` (logged) if it cannot be drawn.
    pub(super) async fn notice(
        &self,
        request: &RenderRequest,
        title: &str,
        text: &str,
    ) -> Option<Rendered> {
        let now = self.fresh.now();
        match self
            .pipeline
            .notice_picture(request, title, text, now)
            .await
        {
            Ok(picture) => Some(picture),
            Err(e) => {
                tracing::error!(error = %e, "cannot draw a notice");
                None
            }
        }
    }

    /// The newest stored render of `key`'s spot and output drawn by another
    /// version of its template: what to show while an edited template
    /// fails. Keys are `<output>-<template version>[-l<layers>]`.
    pub(super) async fn earlier(&self, key: &Key) -> Option<Arc<Rendered>> {
        let (output, rest) = key.variant().rsplit_once('-')?;
        // With layers the last part is theirs: the version is before it.
        let (output, layers) = match rest.strip_prefix('l') {
            Some(_) if output.contains('-') => {
                let (output, _version) = output.rsplit_once('-')?;
                (output, Some(rest))
            }
            _ => (output, None),
        };
        let same = |variant: &str| {
            let Some(tail) = variant
                .strip_prefix(output)
                .and_then(|t| t.strip_prefix('-'))
            else {
                return false;
            };
            match layers {
                Some(layers) => tail.ends_with(&format!("-{layers}")),
                None => !tail.contains('-'),
            }
        };
        let newest = self
            .store
            .list(Some(key.spot()))
            .await
            .into_iter()
            .filter(|l| l.key != *key && same(l.key.variant()))
            .max_by_key(|l| l.meta.rendered_at)?;
        let subject = format!("earlier:{}", key.spot());
        if self
            .quiet
            .failing(&subject, &newest.key.to_string())
            .is_some()
        {
            tracing::warn!(spot = key.spot(), from = %newest.key, "serving the last good render, drawn by an earlier version of the template");
        }
        self.store.get(&newest.key).await
    }
}
