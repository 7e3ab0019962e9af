//! A screenshot's `headers` go to the page's own origin only, never to
//! the other hosts it loads from: its requests there are paused
//! (DevTools `Fetch`) and continued with the headers added.

use chromiumoxide::Page;
use chromiumoxide::cdp::browser_protocol::fetch::{
    ContinueRequestParams, EnableParams, EventRequestPaused, HeaderEntry, RequestPattern,
    RequestStage,
};
use futures_util::StreamExt;
use inkspot_core::shot::ShotError;
use std::collections::BTreeMap;

use crate::launch::cdp;

/// Adds `headers` to every request of `page` to `url`'s origin until the
/// returned task is dropped.
pub async fn send(
    page: &Page,
    url: &str,
    headers: &BTreeMap<String, String>,
) -> Result<Option<Sending>, ShotError> {
    if headers.is_empty() {
        return Ok(None);
    }
    let origin = url::Url::parse(url)
        .map_err(|e| ShotError::Load(e.to_string()))?
        .origin()
        .ascii_serialization();
    let mut events = page
        .event_listener::<EventRequestPaused>()
        .await
        .map_err(cdp)?;
    let pattern = RequestPattern {
        url_pattern: Some(format!("{origin}/*")),
        resource_type: None,
        request_stage: Some(RequestStage::Request),
    };
    let enable = EnableParams {
        patterns: Some(vec![pattern]),
        ..EnableParams::default()
    };
    page.execute(enable).await.map_err(cdp)?;
    let page = page.clone();
    let ours = headers.clone();
    let task = tokio::spawn(async move {
        while let Some(paused) = events.next().await {
            let mut entries: Vec<HeaderEntry> = paused
                .request
                .headers
                .inner()
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(name, _)| !ours.keys().any(|o| o.eq_ignore_ascii_case(name)))
                .map(|(name, value)| HeaderEntry::new(name, value.as_str().unwrap_or_default()))
                .collect();
            entries.extend(ours.iter().map(|(n, v)| HeaderEntry::new(n, v)));
            let mut go = ContinueRequestParams::new(paused.request_id.clone());
            go.headers = Some(entries);
            let _ = page.execute(go).await;
        }
    });
    Ok(Some(Sending(task)))
}

/// The task that adds the headers; stopped when dropped.
pub struct Sending(tokio::task::JoinHandle<()>);

impl Drop for Sending {
    fn drop(&mut self) {
        self.0.abort();
    }
}
