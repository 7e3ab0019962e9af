//! Connections: silent, half-sent, trickled, too many, under a low
//! `ulimit -n`; hyper's own refusals; the metrics listener.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::*;
use crate::common::*;

const QUICK: &str = "[server]\nheader_timeout = \"1s\"\nkeepalive_timeout = \"3s\"\n";

#[tokio::test]
async fn a_socket_that_sends_nothing_or_half_a_request_is_closed_at_the_header_timeout() {
    let site = site(QUICK);
    let app = App::start(&site).await;
    let mut silent = TcpStream::connect(addr(&app)).await.unwrap();
    let mut half = TcpStream::connect(addr(&app)).await.unwrap();
    half.write_all(b"GET /healthz HT").await.unwrap();
    let start = Instant::now();
    for (name, socket) in [("silent", &mut silent), ("half a line", &mut half)] {
        let closed = closed_within(socket, Duration::from_secs(6)).await;
        assert!(closed.is_some(), "{name}: still open after 6 s");
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(700),
            "{name}: closed after {took:?}"
        );
    }
    let closed = prom::value_at(
        &app.url,
        "inkspot_connections_closed_total",
        &[("reason", "header_timeout")],
    )
    .await;
    assert!(closed >= 2.0, "{closed}");
}

#[tokio::test]
async fn a_slowloris_trickling_its_headers_is_cut_off() {
    let site = site(QUICK);
    let app = App::start(&site).await;
    let mut socket = TcpStream::connect(addr(&app)).await.unwrap();
    let request =
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let start = Instant::now();
    let mut cut = false;
    for byte in request {
        if socket.write_all(&[*byte]).await.is_err() {
            cut = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        if start.elapsed() > Duration::from_secs(4) {
            break;
        }
    }
    if !cut {
        cut = closed_within(&mut socket, Duration::from_secs(3))
            .await
            .is_some();
    }
    assert!(
        cut,
        "a byte every 100 ms kept the connection for {:?}",
        start.elapsed()
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn a_kept_alive_connection_lives_past_the_header_timeout_and_ends_when_idle() {
    let site = site(QUICK);
    let app = App::start(&site).await;
    let mut socket = TcpStream::connect(addr(&app)).await.unwrap();
    let request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    socket.write_all(request).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = socket.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{}", text(&buf[..n]));
    // Past the header timeout, idle: kept alive, and it still answers.
    tokio::time::sleep(Duration::from_millis(1800)).await;
    socket.write_all(request).await.unwrap();
    let n = socket.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{}", text(&buf[..n]));
    let took = closed_within(&mut socket, Duration::from_secs(8)).await;
    let took = took.expect("an idle kept-alive connection is closed");
    assert!(
        took >= Duration::from_millis(2500),
        "closed after {took:?} of the 3 s"
    );
}

#[tokio::test]
async fn past_max_connections_new_ones_are_closed_at_once_and_room_comes_back() {
    let site = site("[server]\nmax_connections = 3\nheader_timeout = \"30s\"\n");
    let app = App::start(&site).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(addr(&app)).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut fourth = TcpStream::connect(addr(&app)).await.unwrap();
    let took = closed_within(&mut fourth, Duration::from_secs(2)).await;
    assert!(took.is_some(), "the fourth connection was held, not closed");
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(app.get("/healthz", &[]).await.status(), 200);
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let refused = prom::value_at(
        &app.url,
        "inkspot_connections_closed_total",
        &[("reason", "limit")],
    )
    .await;
    assert!(refused >= 1.0, "{refused}");
}

/// The binary under `ulimit -n 256`, flooded with 400 idle sockets: it
/// never runs out of descriptors, and answers `/healthz` once the header
/// timeout has cleared the flood.
#[tokio::test]
async fn a_flood_of_idle_sockets_under_a_low_ulimit_does_not_take_the_service_down() {
    let site = site("[server]\nheader_timeout = \"1s\"\n");
    let port = free_port();
    let exe = env!("CARGO_BIN_EXE_inkspot");
    let mut shell = std::process::Command::new("sh");
    shell
        .arg("-c")
        .arg(format!(
            "ulimit -n 256 && exec '{exe}' serve --listen 127.0.0.1:{port}"
        ))
        .current_dir(site.path());
    let server = Binary::start(shell);
    let base = format!("http://127.0.0.1:{port}");
    wait_up(&base).await;
    let mut flood = Vec::new();
    for _ in 0..400 {
        if let Ok(s) = TcpStream::connect(format!("127.0.0.1:{port}")).await {
            flood.push(s);
        }
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let r = tokio::time::timeout(
        Duration::from_secs(5),
        client().get(format!("{base}/healthz")).send(),
    )
    .await;
    assert!(
        matches!(&r, Ok(Ok(r)) if r.status() == 200),
        "healthz after the flood: {r:?}"
    );
    drop(flood);
    let log = server.kill();
    assert!(!log.contains("Too many open files"), "{log}");
}

/// Refusals hyper makes before any handler runs carry the JSON every other
/// error carries.
#[tokio::test]
async fn refusals_of_huge_request_lines_and_headers_carry_json() {
    let site = site("");
    let app = App::start(&site).await;
    let long_uri = format!(
        "GET /image?spot={} HTTP/1.1\r\nHost: x\r\n\r\n",
        "a".repeat(70_000)
    );
    let huge_headers = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "b".repeat(600_000)
    );
    for (request, status, code) in [
        (long_uri.as_str(), "414", "uri_too_long"),
        (huge_headers.as_str(), "431", "headers_too_large"),
        ("NONSENSE\r\n\r\n", "400", "bad_request"),
    ] {
        let answer = raw(&app, request.as_bytes()).await;
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status}")),
            "{answer:.200}"
        );
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(head.contains("content-type: application/json"), "{head}");
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["code"], code, "{body}");
    }
    // The connection served requests before: a 404 of its own is untouched.
    let answer = raw(
        &app,
        b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.contains("\"code\":\"not_found\""), "{answer}");
    // More header lines than hyper parses: its 431, given JSON too.
    let mut many = String::from("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    for i in 0..200 {
        many.push_str(&format!("X-{i}: y\r\n"));
    }
    many.push_str("\r\n");
    let answer = raw(&app, many.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    assert!(
        answer.contains("\"code\":\"headers_too_large\""),
        "{answer}"
    );
}

/// A handler's own error after `100 Continue` is its own, not taken for a
/// refusal of hyper's.
#[tokio::test]
async fn a_handlers_error_after_100_continue_is_its_own() {
    let site = site("[[api_keys]]\nname = \"shop\"\nkey = \"a-job-api-key-for-the-tests\"\n");
    let app = App::start(&site).await;
    let mut socket = TcpStream::connect(addr(&app)).await.unwrap();
    let body = b"{\"nonsense\": 1}";
    let head = format!(
        "POST /api/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a-job-api-key-for-the-tests\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    let mut first = vec![0u8; 256];
    let n = socket.read(&mut first).await.unwrap();
    assert!(
        text(&first[..n]).starts_with("HTTP/1.1 100"),
        "{}",
        text(&first[..n])
    );
    socket.write_all(body).await.unwrap();
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), socket.read_to_end(&mut rest)).await;
    let answer = text(&rest);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("invalid_job"), "{answer}");
}

/// `server.metrics_listen` keeps the same limits as the main port.
#[tokio::test]
async fn the_metrics_listener_closes_silent_sockets_too() {
    let site = site("[server]\nheader_timeout = \"1s\"\nmetrics_listen = \"127.0.0.1:0\"\n");
    let app = App::start(&site).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(inkspot::http::serve_metrics(
        listener,
        app.service.clone(),
        async {
            let _ = stopped.await;
        },
    ));
    let mut silent = TcpStream::connect(metrics).await.unwrap();
    let closed = closed_within(&mut silent, Duration::from_secs(6)).await;
    assert!(
        closed.is_some(),
        "a silent socket on the metrics port stayed open"
    );
    let text = prom::scrape_text(&format!("http://{metrics}/metrics")).await;
    assert!(text.contains("inkspot_connections_closed_total{reason=\"header_timeout\"}"));
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

/// One client holds at most `server.connections_per_client`; another
/// client (here another loopback address) still gets in.
#[tokio::test]
async fn one_client_cannot_take_every_connection() {
    let site = site(
        "[server]\nconnections_per_client = 2\nheader_timeout = \"30s\"\n[server.rate_limit]\nloopback = true\nper_minute = 0\n",
    );
    let app = App::start(&site).await;
    let port = addr(&app)
        .rsplit(':')
        .next()
        .unwrap()
        .parse::<u16>()
        .unwrap();
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(TcpStream::connect(addr(&app)).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut third = TcpStream::connect(addr(&app)).await.unwrap();
    assert!(
        closed_within(&mut third, Duration::from_secs(2))
            .await
            .is_some(),
        "a third connection from one client is closed at once"
    );
    let other = tokio::net::TcpSocket::new_v4().unwrap();
    other.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let mut other = other
        .connect(format!("127.0.0.1:{port}").parse().unwrap())
        .await
        .unwrap();
    other
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), other.read_to_end(&mut answer)).await;
    assert!(
        text(&answer).starts_with("HTTP/1.1 200"),
        "{}",
        text(&answer)
    );
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let refused = prom::value_at(
        &app.url,
        "inkspot_connections_closed_total",
        &[("reason", "per_client")],
    )
    .await;
    assert!(refused >= 1.0, "{refused}");
}
