//! The coordination contract against a real Redis, with two `Coordination`
//! handles standing for two replicas: a claim held by one at a time and
//! released with a notice, a claim left unfinished expiring, turns, shared
//! remembered failures, per-host permits (and those of a replica that died
//! expiring), an unreachable Redis answering "alone", and `rediss://` with
//! a private certificate authority. Skipped, with a message, only when
//! `redis-server` is not installed.

use std::time::Duration;

use crate::common::redis::Redis;
use chrono::Utc;
use inkspot::config::{CoordinationConfig, Secret};
use inkspot::coord::{Claim, Coordination, Lease, LinkState, Outcome, Waited};
use inkspot::source::FetchShare;
use inkspot::supervisor::Supervisor;
use tokio::time::Instant;

/// Two replicas' coordination over one Redis, with a claim TTL of `ttl`.
/// What the fetcher shares through `coord`.
fn share(coord: &Coordination) -> std::sync::Arc<dyn FetchShare> {
    coord
        .fetch_share()
        .expect("coordination through Redis shares fetches")
}

struct Pair {
    a: Coordination,
    b: Coordination,
    supervisor: Supervisor,
    _redis: Redis,
}

impl Pair {
    fn start(ttl: Duration) -> Self {
        let redis = Redis::start();
        let supervisor = Supervisor::new();
        let config = config(&redis.url, ttl);
        Self {
            a: Coordination::start(&config, &supervisor),
            b: Coordination::start(&config, &supervisor),
            supervisor,
            _redis: redis,
        }
    }

    async fn stop(self) {
        self.supervisor.shutdown(Duration::from_secs(5)).await;
    }
}

fn config(url: &str, ttl: Duration) -> CoordinationConfig {
    CoordinationConfig {
        redis_url: Some(Secret::new(url.to_string())),
        prefix: "coordination-test".to_string(),
        claim_ttl: ttl,
        ..CoordinationConfig::default()
    }
}

/// The lease of `claim`, which `what` must have won.
fn won(claim: Claim, what: &str) -> Lease {
    match claim {
        Claim::Won(lease) => lease,
        other => panic!("{what} was {}, not won", name(&other)),
    }
}

fn name(claim: &Claim) -> &'static str {
    match claim {
        Claim::Won(_) => "won",
        Claim::Held => "held",
        Claim::Alone => "alone",
    }
}

/// One replica wins a claim, the other is told it is held and waits; the
/// waiter hears the outcome when the owner finishes, and the claim is free.
#[tokio::test]
#[ignore = "needs Redis; scripts/test runs it"]
async fn a_claim_is_held_by_one_replica_and_finishing_it_tells_the_other() {
    let pair = Pair::start(Duration::from_secs(10));
    let lease = won(pair.a.claim("render:x").await, "the first claim");
    assert_eq!(name(&pair.b.claim("render:x").await), "held");
    let b = pair.b.clone();
    let waiting = tokio::spawn(async move { b.wait("render:x").await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiting.is_finished(), "the waiter waits while it is held");
    lease.finish(Outcome::Ok).await;
    let waited = tokio::time::timeout(Duration::from_secs(5), waiting).await;
    assert_eq!(waited.unwrap().unwrap(), Waited::Done(Outcome::Ok));
    assert_eq!(name(&pair.b.claim("render:x").await), "won", "released");
    pair.stop().await;
}

/// A claim whose owner stops renewing it (its work was dropped, or its
/// replica died) expires after the TTL: the waiter finds it gone and takes
/// the work over. A claim still renewed outlives its TTL.
#[tokio::test]
#[ignore = "needs Redis; scripts/test runs it"]
async fn an_unfinished_claim_expires_and_a_renewed_one_does_not() {
    // Renewed every third of a second: a claim is lost only if three
    // renewals in a row are late, which a loaded machine does not do.
    let pair = Pair::start(Duration::from_secs(1));
    let kept = won(pair.a.claim("fetch:kept").await, "the first claim");
    let dropped = won(pair.a.claim("fetch:dropped").await, "the first claim");
    drop(dropped);
    let waited = tokio::time::timeout(Duration::from_secs(5), pair.b.wait("fetch:dropped")).await;
    assert_eq!(waited.unwrap(), Waited::Vanished);
    assert_eq!(name(&pair.b.claim("fetch:dropped").await), "won");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        name(&pair.b.claim("fetch:kept").await),
        "held",
        "renewed past its TTL"
    );
    kept.finish(Outcome::Ok).await;
    pair.stop().await;
}

/// Work done through `once` with nothing stored to find instead (as the
/// shared list of requested variants is written) is one replica's at a
/// time: both replicas' work runs, and never at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Redis; scripts/test runs it"]
async fn once_with_nothing_to_find_runs_each_replicas_work_in_turn() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
    let pair = Pair::start(Duration::from_secs(10));
    let busy = Arc::new(AtomicBool::new(false));
    let (runs, overlaps) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let write = |coord: Coordination| {
        let (busy, runs, overlaps) = (busy.clone(), runs.clone(), overlaps.clone());
        tokio::spawn(async move {
            let work = || async {
                if busy.swap(true, SeqCst) {
                    overlaps.fetch_add(1, SeqCst);
                }
                tokio::time::sleep(Duration::from_millis(150)).await;
                busy.store(false, SeqCst);
                runs.fetch_add(1, SeqCst);
                ((), true)
            };
            coord.once("schedule", || async { None }, work).await;
        })
    };
    for _ in 0..3 {
        let (a, b) = (write(pair.a.clone()), write(pair.b.clone()));
        a.await.unwrap();
        b.await.unwrap();
    }
    assert_eq!(runs.load(SeqCst), 6, "every replica's work runs");
    assert_eq!(overlaps.load(SeqCst), 0, "one at a time");
    pair.stop().await;
}

/// A turn is taken by one replica for its hold, by the replicas' clock, and
/// one given back can be taken again at once.
#[tokio::test]
#[ignore = "needs Redis; scripts/test runs it"]
async fn a_turn_is_one_replicas_until_it_ends_or_is_given_back() {
    let pair = Pair::start(Duration::from_secs(10));
    let now = Utc::now();
    let hold = Duration::from_secs(600);
    let turn = won(
        pair.a.take_turn("schedule:x", now, hold).await,
        "the first turn",
    );
    assert_eq!(
        name(&pair.b.take_turn("schedule:x", now, hold).await),
        "held"
    );
    let later = now + chrono::Duration::seconds(601);
    let next = won(
        pair.b.take_turn("schedule:x", later, hold).await,
        "a turn past its hold",
    );
    next.give_back().await;
    assert_eq!(
        name(&pair.a.take_turn("schedule:x", later, hold).await),
        "won"
    );
    drop(turn);
    pair.stop().await;
}

/// A failure one replica remembers, the other recalls, until it is
/// forgotten or its time is up.
#[tokio::test]
#[ignore = "needs Redis; scripts/test runs it"]
async fn a_remembered_failure_is_known_to_every_replica() {
    let pair = Pair::start(Duration::from_secs(10));
    let url = "https://example.com/report";
    assert_eq!(share(&pair.b).recall_failure(url).await, None);
    let ttl = Duration::from_secs(60);
    share(&pair.a)
        .remember_failure(url, "HTTP 503", "10:00", ttl)
        .await;
    let recalled = share(&pair.b).recall_failure(url).await;
    assert_eq!(recalled, Some(("HTTP 503".into(), "10:00".into())));
    share(&pair.a).forget_failure(url).await;
    assert_eq!(share(&pair.b).recall_failure(url).await, None, "forgotten");
    let short = Duration::from_millis(300);
    share(&pair.a)
        .remember_failure(url, "timeout", "10:01", short)
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        share(&pair.b).recall_failure(url).await,
        None,
        "its time is up"
    );
    pair.stop().await;
}

/// With a limit of one, a host's permit is one replica's at a time; the
/// permit of a replica that died, never given back, expires after its hold.
#[tokio::test]
#[ignore = "needs Redis; scripts/test runs it"]
async fn host_permits_are_shared_and_a_dead_replicas_expires() {
    let pair = Pair::start(Duration::from_secs(10));
    let hold = Duration::from_millis(800);
    let soon = || Instant::now() + Duration::from_millis(200);
    let first = share(&pair.a)
        .host_permit("example.com", 1, hold, soon())
        .await;
    assert!(first.is_some(), "the first permit is given");
    let other = share(&pair.b)
        .host_permit("example.com", 1, hold, soon())
        .await;
    assert!(other.is_none(), "the host is at its limit");
    drop(first);
    // The second permit is given no sooner than now, so it holds until
    // `hold` from now at the earliest.
    let asked = Instant::now();
    let after_release = asked + Duration::from_secs(2);
    let second = share(&pair.b)
        .host_permit("example.com", 1, hold, after_release)
        .await;
    assert!(second.is_some(), "a permit given back is free");
    // The holder dies: its permit is never given back.
    std::mem::forget(second);
    let deadline = Instant::now() + Duration::from_secs(5);
    let taken = share(&pair.a)
        .host_permit("example.com", 1, hold, deadline)
        .await;
    assert!(taken.is_some(), "a dead replica's permit expires");
    assert!(
        asked.elapsed() >= hold - Duration::from_millis(50),
        "not before"
    );
    assert!(
        share(&pair.a)
            .host_permit("another.org", 1, hold, soon())
            .await
            .is_some(),
        "hosts are limited apart"
    );
    pair.stop().await;
}

/// A Redis that cannot be reached: each call answers "alone" (the replica
/// works on its own) and the status says so, without waiting long.
#[tokio::test]
async fn an_unreachable_redis_answers_alone_and_says_so() {
    let supervisor = Supervisor::new();
    let url = format!("redis://127.0.0.1:{}/0", crate::common::free_port());
    let coord = Coordination::start(&config(&url, Duration::from_secs(5)), &supervisor);
    assert!(coord.is_shared());
    assert_eq!(name(&coord.claim("render:x").await), "alone");
    assert_eq!(coord.wait("render:x").await, Waited::Alone);
    assert_eq!(
        share(&coord).recall_failure("https://example.com").await,
        None
    );
    let status = coord.status();
    assert_eq!(status.state, LinkState::Unreachable);
    assert!(status.since.is_some() && status.error.is_some());
    supervisor.shutdown(Duration::from_secs(5)).await;
}

/// `[coordination]` from a config file in `dir`, with `redis_url` and,
/// when given, `redis_ca`.
fn loaded(url: &str, ca: Option<&str>, dir: &std::path::Path) -> CoordinationConfig {
    let ca = ca
        .map(|c| format!("redis_ca = \"{c}\"\n"))
        .unwrap_or_default();
    let toml = format!("[coordination]\nredis_url = \"{url}\"\n{ca}");
    crate::common::load_config(&toml, dir).coordination
}

/// A `rediss://` server whose certificate a private authority signed:
/// with that authority as `redis_ca`, replicas coordinate over TLS; without
/// it, the certificate is refused and the replica works alone, saying why.
#[tokio::test]
#[ignore = "needs Redis; scripts/test runs it"]
async fn rediss_with_a_private_authority_named_in_the_config() {
    let redis = Redis::start_tls();
    let dir = redis.ca.as_ref().unwrap().parent().unwrap().to_path_buf();
    let supervisor = Supervisor::new();
    let trusted = loaded(&redis.url, Some("ca.pem"), &dir);
    let a = Coordination::start(&trusted, &supervisor);
    let b = Coordination::start(&trusted, &supervisor);
    let Claim::Won(lease) = a.claim("render:tls").await else {
        panic!("a claim over TLS wins: {:?}", a.status());
    };
    assert_eq!(name(&b.claim("render:tls").await), "held");
    lease.finish(Outcome::Ok).await;
    assert_eq!(a.status().state, LinkState::Connected);

    let public = Coordination::start(&loaded(&redis.url, None, &dir), &supervisor);
    assert_eq!(name(&public.claim("render:tls").await), "alone");
    let status = public.status();
    assert_eq!(status.state, LinkState::Unreachable);
    let error = status.error.unwrap_or_default();
    assert!(error.to_lowercase().contains("certificate"), "{error}");
    supervisor.shutdown(Duration::from_secs(5)).await;
}
