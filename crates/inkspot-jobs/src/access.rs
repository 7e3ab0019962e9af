//! Who may use the job API: the `[[api_keys]]`, each with its own rate
//! limit and job quota. Keys are compared in constant time, each against
//! every configured key, and only a key's name is ever logged.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use subtle::ConstantTimeEq;

use crate::config::ApiKeyConfig;

/// A caller with a valid key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// The key's name.
    pub name: String,
    /// Its jobs that may be queued or running at once.
    pub max_jobs: usize,
    /// Bytes of results its jobs may keep at once.
    pub max_bytes: u64,
    /// Seconds of browser time its jobs may use in an hour.
    pub browser_seconds: u64,
}

/// Why a caller is turned away.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    /// No `Authorization: Bearer` header with a key in it.
    #[error("the job API needs an API key: send `Authorization: Bearer <key>`")]
    Missing,
    /// A key nobody was given.
    #[error("the API key sent is not recognised; check it against the server's [[api_keys]]")]
    Unrecognised,
    /// The key's requests per minute are spent.
    #[error("the key `{name}` sent more than {per_minute} requests a minute")]
    RateLimited {
        /// The key's name.
        name: String,
        /// Its limit.
        per_minute: u32,
        /// When to try again.
        retry_after: Duration,
    },
}

struct Entry {
    name: String,
    key: Vec<u8>,
    per_minute: u32,
    max_jobs: usize,
    max_bytes: u64,
    browser_seconds: u64,
    limiter: Option<DefaultDirectRateLimiter>,
}

impl Entry {
    fn client(&self) -> Client {
        Client {
            name: self.name.clone(),
            max_jobs: self.max_jobs,
            max_bytes: self.max_bytes,
            browser_seconds: self.browser_seconds,
        }
    }
}

/// The configured keys.
pub struct Access {
    keys: Vec<Entry>,
}

impl Access {
    /// The keys of the config (their `key_env` already read).
    pub fn new(keys: &[ApiKeyConfig]) -> Self {
        let keys = keys
            .iter()
            .filter_map(|k| {
                let key = k.key.as_ref()?.expose().as_bytes().to_vec();
                let limiter = NonZeroU32::new(k.per_minute)
                    .map(|n| RateLimiter::direct(Quota::per_minute(n).allow_burst(n)));
                Some(Entry {
                    name: k.name.clone(),
                    key,
                    per_minute: k.per_minute,
                    max_jobs: k.max_jobs,
                    max_bytes: k.max_bytes.as_u64(),
                    browser_seconds: k.browser_seconds,
                    limiter,
                })
            })
            .collect();
        Self { keys }
    }

    /// Whether any key is configured (without one, the job API is off).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The client whose key `authorization` (the header's value) carries,
    /// counted against its rate limit.
    pub fn check(&self, authorization: Option<&[u8]>) -> Result<Client, AccessError> {
        let token = authorization
            .and_then(|h| h.strip_prefix(b"Bearer ".as_slice()))
            .map(|t| t.trim_ascii())
            .filter(|t| !t.is_empty())
            .ok_or(AccessError::Missing)?;
        // Every key is compared, so the time taken does not say which
        // one matched, or how far a guess got.
        let mut found = None;
        for entry in &self.keys {
            if bool::from(entry.key.as_slice().ct_eq(token)) {
                found = Some(entry);
            }
        }
        let entry = found.ok_or(AccessError::Unrecognised)?;
        if let Some(limiter) = &entry.limiter
            && let Err(not_until) = limiter.check()
        {
            return Err(AccessError::RateLimited {
                name: entry.name.clone(),
                per_minute: entry.per_minute,
                retry_after: not_until.wait_time_from(DefaultClock::default().now()),
            });
        }
        Ok(entry.client())
    }

    /// The client named `name`, as its key would make it (for the runner,
    /// which works for a key that is not calling); `None` once the key is
    /// gone from the config.
    pub fn named(&self, name: &str) -> Option<Client> {
        self.keys.iter().find(|e| e.name == name).map(Entry::client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;
    use rstest::rstest;

    fn access(per_minute: u32) -> Access {
        Access::new(&[ApiKeyConfig {
            name: "shop".into(),
            key: Some(Secret::new("0123456789abcdef0123".into())),
            key_env: None,
            per_minute,
            max_jobs: 2,
            max_bytes: bytesize::ByteSize::mib(1),
            browser_seconds: 600,
        }])
    }

    #[rstest]
    #[case(None, AccessError::Missing)]
    #[case(Some("Bearer "), AccessError::Missing)]
    #[case(Some("Bearer 0123456789abcdef012"), AccessError::Unrecognised)]
    #[case(Some("Bearer 0123456789abcdef01234"), AccessError::Unrecognised)]
    #[case(Some("Basic 0123456789abcdef0123"), AccessError::Missing)]
    #[case(Some("0123456789abcdef0123"), AccessError::Missing)]
    fn wrong_or_missing_keys_are_refused_saying_which(
        #[case] header: Option<&str>,
        #[case] expected: AccessError,
    ) {
        let got = access(0).check(header.map(str::as_bytes));
        assert_eq!(got, Err(expected));
    }

    #[test]
    fn the_right_key_names_its_client_until_its_rate_is_spent() {
        let a = access(3);
        let header = Some(b"Bearer 0123456789abcdef0123".as_slice());
        for _ in 0..3 {
            assert_eq!(a.check(header).unwrap().name, "shop");
        }
        match a.check(header) {
            Err(AccessError::RateLimited { retry_after, .. }) => {
                assert!(retry_after > Duration::ZERO)
            }
            other => panic!("{other:?}"),
        }
    }
}
