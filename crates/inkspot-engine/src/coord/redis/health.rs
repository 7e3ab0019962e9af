//! The state of the link to Redis as calls find it: an outage starts at the
//! first failed call and ends at the first good one, and each edge is
//! logged once, never each call.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::coord::{Backend, CoordinationStatus, LinkState as State};

/// Whether Redis answered the last call, and since when it has not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct LinkState {
    /// When the outage started; `None` while Redis answers.
    pub(super) down_since: Option<DateTime<Utc>>,
    /// The error that started it.
    pub(super) error: Option<String>,
}

/// While Redis is away, calls are not even tried for this long after a
/// failed one, so an outage (a server that does not answer at all) costs
/// one caller a second a timeout, not every caller.
const PAUSE: Duration = Duration::from_secs(1);

/// The link's state, updated by every call.
#[derive(Default)]
pub(super) struct Link {
    state: Mutex<LinkState>,
    /// When the last call failed, while Redis is away.
    failed_at: Mutex<Option<Instant>>,
}

impl Link {
    /// Whether a call should be tried now: Redis is up, or the last failed
    /// call was [`PAUSE`] ago.
    pub(super) fn may_try(&self) -> bool {
        let failed_at = self
            .failed_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        failed_at.is_none_or(|t| t.elapsed() >= PAUSE)
    }

    /// Records how a call went, and returns its value when it worked.
    pub(super) fn watch<T>(&self, result: Result<T, ::redis::RedisError>) -> Option<T> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match result {
            Ok(value) => {
                *self
                    .failed_at
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = None;
                if let Some(since) = state.down_since.take() {
                    let seconds = (Utc::now() - since).num_seconds();
                    tracing::info!(
                        outage_seconds = seconds,
                        "Redis is reachable again; replicas share their work again"
                    );
                    state.error = None;
                }
                Some(value)
            }
            Err(e) => {
                *self
                    .failed_at
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
                if state.down_since.is_none() {
                    tracing::warn!(error = %e, "Redis is unreachable; this replica works alone (its own single-flight) until it is back");
                    state.down_since = Some(Utc::now());
                    state.error = Some(e.to_string());
                }
                None
            }
        }
    }

    /// The state now.
    pub(super) fn state(&self) -> LinkState {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// What `/status` shows.
    pub(super) fn status(&self) -> CoordinationStatus {
        let state = self.state();
        CoordinationStatus {
            backend: Backend::Redis,
            state: if state.down_since.is_some() {
                State::Unreachable
            } else {
                State::Connected
            },
            since: state.down_since,
            error: state.error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused() -> ::redis::RedisError {
        std::io::Error::from(std::io::ErrorKind::ConnectionRefused).into()
    }

    #[test]
    fn an_outage_starts_at_the_first_failure_and_ends_at_the_first_success() {
        let link = Link::default();
        assert_eq!(link.watch(Ok::<_, ::redis::RedisError>(1)), Some(1));
        assert_eq!(link.state(), LinkState::default());
        assert_eq!(link.watch::<u8>(Err(refused())), None);
        let first = link.state().down_since.expect("down");
        link.watch::<u8>(Err(refused()));
        assert_eq!(link.state().down_since, Some(first), "one outage, not two");
        assert_eq!(link.status().state, State::Unreachable);
        assert!(!link.may_try(), "calls pause after a failure");
        link.watch(Ok::<_, ::redis::RedisError>(()));
        assert_eq!(link.state(), LinkState::default());
        assert_eq!(link.status().state, State::Connected);
        assert!(link.may_try());
    }
}
