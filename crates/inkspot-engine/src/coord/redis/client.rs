//! The Redis commands coordination uses, each bounded in time so that an
//! unreachable server costs a call at most [`CALL_TIMEOUT`]. Claims are
//! `SET NX PX` with a random token; renewing, releasing and the host
//! permits are Lua scripts, so each check-and-change is one atomic step.

use std::sync::LazyLock;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{
    AsyncCommands, Client, FromRedisValue, RedisError, RedisResult, Script, ScriptInvocation,
    TlsCertificates,
};

/// The longest a call may take before Redis counts as unreachable.
const CALL_TIMEOUT: Duration = Duration::from_millis(1500);

/// Extends a claim only while it is still this replica's.
static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0",
    )
});

/// Deletes a claim only while it is still this replica's, then tells the
/// waiting replicas, whether or not it was (a result is stored either way).
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
end
return redis.call('PUBLISH', KEYS[2], ARGV[2])",
    )
});

/// Takes a turn unless it is held until after `ARGV[1]` (milliseconds
/// since the epoch, by the replicas' clock, which the value starts with).
/// The key itself expires after `ARGV[3]` milliseconds, by Redis's clock.
static TAKE_TURN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local held = redis.call('GET', KEYS[1])
if held then
  local till = tonumber(string.match(held, '^(%d+):'))
  if till and till > tonumber(ARGV[1]) then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1",
    )
});

/// One of `ARGV[1]` permits in the sorted set `KEYS[1]`, scored by when it
/// expires; expired ones (of replicas that died) are dropped first. The
/// server's clock is the only one used, so replicas' clocks may differ.
static ACQUIRE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return 1
end
return 0",
    )
});

/// A Redis server and the prefix of this deployment's keys; cheap to clone.
#[derive(Clone)]
pub(super) struct Redis {
    client: Client,
    manager: ConnectionManager,
    prefix: String,
    describe: String,
}

/// A random token naming one claim or permit.
pub(super) fn token() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// A short digest of `text`, to key it (URLs can be long).
pub(super) fn digest(text: &str) -> String {
    blake3::hash(text.as_bytes()).to_hex()[..32].to_string()
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

async fn bounded<T>(call: impl Future<Output = RedisResult<T>>) -> RedisResult<T> {
    match tokio::time::timeout(CALL_TIMEOUT, call).await {
        Ok(result) => result,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("no answer from Redis within {CALL_TIMEOUT:?}"),
        )
        .into()),
    }
}

impl Redis {
    /// Connects lazily to `url`: the replica starts while Redis is down.
    /// A `rediss://` server's certificate is checked against `ca` (PEM)
    /// when given, else against the public roots.
    pub(super) fn new(url: &str, prefix: &str, ca: Option<&[u8]>) -> RedisResult<Self> {
        let client = match ca {
            Some(pem) => Client::build_with_tls(
                url,
                TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem.to_vec()),
                },
            )?,
            None => Client::open(url)?,
        };
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(CALL_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let manager = ConnectionManager::new_lazy_with_config(client.clone(), config)?;
        Ok(Self {
            client,
            manager,
            prefix: prefix.to_string(),
            describe: describe(url),
        })
    }

    /// Runs `command` on the shared connection, within [`CALL_TIMEOUT`].
    /// A command that finds the connection broken is sent once more: the
    /// first failure is what starts the reconnection, and after an outage
    /// the second attempt finds Redis back.
    async fn call<T, F, Fut>(&self, command: F) -> RedisResult<T>
    where
        F: Fn(ConnectionManager) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        match bounded(command(self.manager.clone())).await {
            Err(e)
                if e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error() =>
            {
                bounded(command(self.manager.clone())).await
            }
            result => result,
        }
    }

    /// Runs the script `invocation` as [`Redis::call`] runs a command; Redis
    /// keeps the script by its digest after the first call.
    async fn eval<T: FromRedisValue>(&self, invocation: &ScriptInvocation<'_>) -> RedisResult<T> {
        self.call(|mut c| async move { invocation.invoke_async(&mut c).await })
            .await
    }

    /// The server, as logs name it: without user or password.
    pub(super) fn describe(&self) -> &str {
        &self.describe
    }

    /// The key of `name` of `kind`, under the deployment's prefix.
    pub(super) fn key(&self, kind: &str, name: &str) -> String {
        format!("{}:{kind}:{name}", self.prefix)
    }

    /// The channel notices of finished claims go to, and its pattern.
    pub(super) fn done_channel(&self, name: &str) -> String {
        self.key("done", name)
    }

    /// The name a notice's channel is about.
    pub(super) fn name_of_channel<'a>(&self, channel: &'a str) -> Option<&'a str> {
        channel.strip_prefix(&self.key("done", ""))
    }

    /// A connection of its own for notices.
    pub(super) async fn subscriber(&self) -> RedisResult<redis::aio::PubSub> {
        let mut pubsub = bounded(self.client.get_async_pubsub()).await?;
        bounded(pubsub.psubscribe(self.done_channel("*"))).await?;
        Ok(pubsub)
    }

    /// `SET key value NX PX ttl`: whether it was set.
    pub(super) async fn set_nx(&self, key: &str, value: &str, ttl: Duration) -> RedisResult<bool> {
        let set: Option<String> = self
            .call(|mut c| async move {
                redis::cmd("SET")
                    .arg(key)
                    .arg(value)
                    .arg("NX")
                    .arg("PX")
                    .arg(ms(ttl))
                    .query_async(&mut c)
                    .await
            })
            .await?;
        Ok(set.is_some())
    }

    /// Takes the turn `key` as `value` (which starts with `till:`, the
    /// end of the turn in milliseconds since the epoch) unless another
    /// turn is held past `now_ms`; whether it was taken.
    pub(super) async fn take_turn(
        &self,
        key: &str,
        now_ms: i64,
        value: &str,
        ttl: Duration,
    ) -> RedisResult<bool> {
        let mut take = TAKE_TURN.prepare_invoke();
        take.key(key).arg(now_ms).arg(value).arg(ms(ttl));
        let taken: i64 = self.eval(&take).await?;
        Ok(taken == 1)
    }

    /// `SET key value PX ttl`.
    pub(super) async fn set_px(&self, key: &str, value: &str, ttl: Duration) -> RedisResult<()> {
        self.call(|mut c| async move { c.pset_ex(key, value, ms(ttl)).await })
            .await
    }

    /// `GET key`.
    pub(super) async fn get(&self, key: &str) -> RedisResult<Option<String>> {
        self.call(|mut c| async move { c.get(key).await }).await
    }

    /// `DEL key`.
    pub(super) async fn del(&self, key: &str) -> RedisResult<()> {
        self.call(|mut c| async move { c.del(key).await }).await
    }

    /// `EXISTS key`.
    pub(super) async fn exists(&self, key: &str) -> RedisResult<bool> {
        self.call(|mut c| async move { c.exists(key).await }).await
    }

    /// Extends the claim `key` for `ttl` while it holds `token`; `false`
    /// when it no longer does.
    pub(super) async fn renew(&self, key: &str, token: &str, ttl: Duration) -> RedisResult<bool> {
        let mut renew = RENEW.prepare_invoke();
        renew.key(key).arg(token).arg(ms(ttl));
        let renewed: i64 = self.eval(&renew).await?;
        Ok(renewed == 1)
    }

    /// Releases the claim `key` held with `token`, and publishes `outcome`
    /// for the claim's `name`.
    pub(super) async fn release(
        &self,
        key: &str,
        token: &str,
        name: &str,
        outcome: &str,
    ) -> RedisResult<()> {
        let mut release = RELEASE.prepare_invoke();
        release
            .key(key)
            .key(self.done_channel(name))
            .arg(token)
            .arg(outcome);
        let _: i64 = self.eval(&release).await?;
        Ok(())
    }

    /// Takes one of `limit` permits in `key` as `token`, held at most
    /// `hold`; whether it got one.
    pub(super) async fn acquire_permit(
        &self,
        key: &str,
        token: &str,
        limit: usize,
        hold: Duration,
    ) -> RedisResult<bool> {
        let mut acquire = ACQUIRE.prepare_invoke();
        acquire.key(key).arg(limit).arg(token).arg(ms(hold));
        let taken: i64 = self.eval(&acquire).await?;
        Ok(taken == 1)
    }

    /// Gives the permit `token` in `key` back.
    pub(super) async fn release_permit(&self, key: &str, token: &str) -> Result<(), RedisError> {
        self.call(|mut c| async move { c.zrem(key, token).await })
            .await
    }
}

/// `url` without its user and password.
fn describe(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => format!(
            "{}://{}:{}{}",
            u.scheme(),
            u.host_str().unwrap_or_default(),
            u.port().unwrap_or(6379),
            u.path()
        ),
        Err(_) => "(an unreadable URL)".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("redis://127.0.0.1:6380/0", "redis://127.0.0.1:6380/0")]
    #[case(
        "redis://user:secret@cache.internal/2",
        "redis://cache.internal:6379/2"
    )]
    #[case("rediss://:pw@r.example:6390", "rediss://r.example:6390")]
    fn the_url_is_described_without_credentials(#[case] url: &str, #[case] shown: &str) {
        assert_eq!(describe(url), shown);
        assert!(!describe(url).contains("secret") && !describe(url).contains("pw"));
    }
}
