//! `inkspot serve` as a process: SIGTERM stops accepting, lets the request
//! in flight finish, stores its render whole, and exits 0, within
//! `server.shutdown_timeout` even when a request would take longer.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::faulty::Faulty;
use crate::common::*;

/// The process; killed and reaped if a test fails before it exits.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The binary serving `site` on a free loopback port; waits until it answers.
async fn serve(site: &Site) -> (Server, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Server(
        Command::new(env!("CARGO_BIN_EXE_inkspot"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .current_dir(site.path())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if let Ok(r) = client().get(format!("{url}/healthz")).send().await
            && r.status() == 200
        {
            return (child, url);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the service did not start");
}

fn sigterm(server: &Server) {
    signal(server, "TERM");
}

fn signal(server: &Server, name: &str) {
    // The shell's own `kill`: no extra package needed.
    let status = Command::new("sh")
        .args(["-c", &format!("kill -{name} {}", server.0.id())])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits for the process to exit, at most `limit`.
async fn wait_exit(server: &mut Server, limit: Duration) -> std::process::ExitStatus {
    let began = Instant::now();
    loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            return status;
        }
        if began.elapsed() > limit {
            panic!("still running {limit:?} after SIGTERM");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_request_in_flight_and_exits_zero() {
    let faulty = Faulty::start().await;
    let site = Site::new();
    site.write_bar_config(&format!("{}/slow/1500/3.0", faulty.url), "");
    let (mut child, url) = serve(&site).await;

    let image_url = format!("{url}/image?spot=linda-mar");
    let in_flight = tokio::spawn(async move { client().get(image_url).send().await });
    tokio::time::sleep(Duration::from_millis(400)).await;
    sigterm(&child);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        client().get(format!("{url}/healthz")).send().await.is_err(),
        "no new connections once stopping"
    );

    let r = in_flight
        .await
        .unwrap()
        .expect("the request in flight is answered");
    assert_eq!(r.status(), 200);
    assert_eq!(decode_png(&r.bytes().await.unwrap()).dark_in_row(20), 300);
    let status = wait_exit(&mut child, Duration::from_secs(5)).await;
    assert_eq!(status.code(), Some(0));

    // The render was stored whole: the next process serves it from disk.
    assert_eq!(site.cached_files(), 2);
    let app = App::start(&site).await;
    let r = app.get("/image?spot=linda-mar", &[]).await;
    assert_eq!(r.headers()["x-cache"], "hit");
    assert_eq!(faulty.gauge.total(), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_outlives_the_shutdown_timeout_does_not_hold_the_exit() {
    let faulty = Faulty::start().await;
    let site = Site::new();
    site.write_bar_config(
        &format!("{}/hang", faulty.url),
        "[server]\nshutdown_timeout = \"1s\"\n[fetch]\ntimeout = \"60s\"",
    );
    let (mut child, url) = serve(&site).await;
    let image_url = format!("{url}/image?spot=linda-mar");
    let in_flight = tokio::spawn(async move { client().get(image_url).send().await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let began = Instant::now();
    sigterm(&child);
    let status = wait_exit(&mut child, Duration::from_secs(5)).await;
    assert_eq!(status.code(), Some(0));
    assert!(
        began.elapsed() >= Duration::from_millis(900),
        "waited for the request"
    );
    assert!(
        in_flight.await.unwrap().is_err(),
        "the hung request was cut"
    );
    assert_eq!(site.cached_files(), 0, "nothing half-written");
}

/// The first Ctrl-C waits for requests in flight; a second one is someone
/// who will not wait, and the process exits at once (130, as shells do).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_interrupt_exits_at_once() {
    let faulty = Faulty::start().await;
    let site = Site::new();
    site.write_bar_config(
        &format!("{}/hang", faulty.url),
        "[server]\nshutdown_timeout = \"30s\"\n[fetch]\ntimeout = \"60s\"",
    );
    let (mut child, url) = serve(&site).await;
    let image_url = format!("{url}/image?spot=linda-mar");
    let _in_flight = tokio::spawn(async move { client().get(image_url).send().await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    signal(&child, "INT");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(child.0.try_wait().unwrap().is_none(), "the first waits");
    signal(&child, "INT");
    let status = wait_exit(&mut child, Duration::from_secs(5)).await;
    assert_eq!(status.code(), Some(130));
}

/// Stopping the service stops its background tasks and waits for them:
/// the template watcher, the store sweeper, the history's writer and
/// retention, and the cleanups of the rate limiter and of the devices'
/// join limit.
#[tokio::test]
async fn stopping_the_service_stops_every_background_task() {
    use inkspot::supervisor::TaskState;
    let upstream = Faulty::start().await;
    let site = Site::new();
    site.write_bar_config(&format!("{}/ok/2.0", upstream.url), "");
    let app = App::start(&site).await;
    let supervisor = app.service.supervisor.clone();
    assert_eq!(app.get("/image?spot=linda-mar", &[]).await.status(), 200);
    let names: Vec<&str> = supervisor.tasks().into_keys().collect();
    assert_eq!(
        names,
        [
            "history-retention",
            "history-writer",
            "join-limit-cleanup",
            "rate-limit-cleanup",
            "store-sweeper",
            "template-watcher"
        ]
    );
    assert!(
        supervisor
            .tasks()
            .values()
            .all(|s| *s == TaskState::Running)
    );
    app.stop().await;
    let states = supervisor.tasks();
    assert!(
        states.values().all(|s| *s == TaskState::Stopped),
        "{states:?}"
    );
    assert!(supervisor.is_stopping());
}
