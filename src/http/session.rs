//! Gallery sign-ins: a random session id in an `HttpOnly`, `SameSite=Strict`
//! cookie (`Secure` when the request came over HTTPS through a trusted
//! proxy), kept server-side in the database as a hash with its expiry, so
//! it can be signed out, ends on time, and a database leak gives no
//! session. The hash is keyed by the admin token, so changing the token
//! signs every browser out. Forms that change state are checked against
//! cross-site use.

use axum::http::{HeaderMap, HeaderValue, header};
use chrono::{DateTime, Utc};
use rand::Rng;
use sqlx::{AnyPool, Row};

use crate::db::timestamp;

/// The cookie a browser keeps after `/login`.
pub const SESSION_COOKIE: &str = "inkspot_session";

/// How long a sign-in lasts.
pub const SESSION_SECONDS: i64 = 7 * 24 * 3600;

/// The sessions, in the service's database, of one admin token.
pub struct Sessions<'a> {
    pool: &'a AnyPool,
    key: [u8; 32],
}

impl<'a> Sessions<'a> {
    /// The sessions in `pool` that `admin_token` opened.
    pub fn new(pool: &'a AnyPool, admin_token: &str) -> Self {
        let key = *blake3::hash(admin_token.as_bytes()).as_bytes();
        Self { pool, key }
    }

    fn hash(&self, id: &str) -> String {
        blake3::keyed_hash(&self.key, id.as_bytes())
            .to_hex()
            .to_string()
    }

    /// A new session from `now`; returns its id (the cookie's value).
    /// Expired sessions are deleted on the way.
    pub async fn create(&self, now: DateTime<Utc>) -> Result<String, sqlx::Error> {
        sqlx::query("DELETE FROM sessions WHERE expires_at < $1")
            .bind(timestamp(now))
            .execute(self.pool)
            .await?;
        let bytes: [u8; 32] = rand::rng().random();
        let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let expires = now + chrono::Duration::seconds(SESSION_SECONDS);
        sqlx::query("INSERT INTO sessions (id_hash, created_at, expires_at) VALUES ($1, $2, $3)")
            .bind(self.hash(&id))
            .bind(timestamp(now))
            .bind(timestamp(expires))
            .execute(self.pool)
            .await?;
        Ok(id)
    }

    /// Whether `id` is a session that has not ended at `now`. The lookup is
    /// by a hash of the id, so its time says nothing about the id itself.
    pub async fn valid(&self, id: &str, now: DateTime<Utc>) -> bool {
        if id.len() != 64 {
            return false;
        }
        let row = sqlx::query("SELECT expires_at FROM sessions WHERE id_hash = $1")
            .bind(self.hash(id))
            .fetch_optional(self.pool)
            .await;
        let expires: Option<String> = match row {
            Ok(Some(row)) => row.try_get("expires_at").ok(),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the gallery's sessions");
                None
            }
        };
        expires
            .as_deref()
            .and_then(crate::db::parse_timestamp)
            .is_some_and(|t| t > now)
    }

    /// Ends the session `id`.
    pub async fn delete(&self, id: &str) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(self.hash(id))
            .execute(self.pool)
            .await?;
        Ok(())
    }
}

/// The session cookie's value in `headers`, if any.
pub fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value)
}

/// The token a signed-in page's forms carry, bound to its session: a
/// form posted from another site cannot know it.
pub fn form_token(session: &str) -> String {
    let key = blake3::hash(session.as_bytes());
    blake3::keyed_hash(key.as_bytes(), b"inkspot form")
        .to_hex()
        .to_string()
}

/// `Set-Cookie` for `value` (empty and expired to sign out); `Secure` when
/// the browser reached the service over HTTPS.
pub fn set_cookie(value: &str, https: bool) -> Option<HeaderValue> {
    let max_age = if value.is_empty() { 0 } else { SESSION_SECONDS };
    let secure = if https { "; Secure" } else { "" };
    let cookie = format!(
        "{SESSION_COOKIE}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
    );
    HeaderValue::from_str(&cookie).ok()
}

/// Whether a form post comes from this site's own pages: the browser's
/// `Sec-Fetch-Site`, else its `Origin` against `Host`. A client that sends
/// neither (curl, an old browser) is no cross-site form.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = get("sec-fetch-site") {
        return matches!(site, "same-origin" | "none");
    }
    let Some(origin) = get("origin") else {
        return true;
    };
    let host = get("host").unwrap_or_default();
    origin
        .split_once("://")
        .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(&[], true)]
    #[case(&[("sec-fetch-site", "same-origin")], true)]
    #[case(&[("sec-fetch-site", "cross-site")], false)]
    #[case(&[("sec-fetch-site", "same-site")], false)]
    #[case(&[("origin", "http://inkspot.lan:8080"), ("host", "inkspot.lan:8080")], true)]
    #[case(&[("origin", "https://evil.example"), ("host", "inkspot.lan:8080")], false)]
    #[case(&[("origin", "null"), ("host", "inkspot.lan:8080")], false)]
    fn cross_site_posts_are_told_apart(
        #[case] sent: &[(&'static str, &'static str)],
        #[case] ok: bool,
    ) {
        let mut headers = HeaderMap::new();
        for (k, v) in sent {
            headers.insert(*k, HeaderValue::from_static(v));
        }
        assert_eq!(same_origin(&headers), ok);
    }

    #[tokio::test]
    async fn sessions_are_random_end_on_time_and_can_be_ended() {
        let dir = tempfile::tempdir().unwrap();
        let pool = crate::db::open_sqlite(&dir.path().join("s.db"))
            .await
            .unwrap();
        let sessions = Sessions::new(&pool, "the-admin-token-of-the-test");
        let t0: DateTime<Utc> = "2026-12-06T10:00:00Z".parse().unwrap();
        let a = sessions.create(t0).await.unwrap();
        let b = sessions.create(t0).await.unwrap();
        assert_ne!(a, b, "every sign-in its own id");
        assert!(sessions.valid(&a, t0).await);
        assert!(!sessions.valid(&"0".repeat(64), t0).await);
        let later = t0 + chrono::Duration::seconds(SESSION_SECONDS + 1);
        assert!(!sessions.valid(&a, later).await, "expired");
        sessions.delete(&b).await.unwrap();
        assert!(!sessions.valid(&b, t0).await, "signed out");
        let rotated = Sessions::new(&pool, "a-new-admin-token-after-a-leak");
        assert!(
            !rotated.valid(&a, t0).await,
            "a new token signs everyone out"
        );
    }
}
