//! Hostile clients, over raw sockets and the real binary: sockets that send
//! nothing, half a request or a byte at a time; more connections than the
//! service may hold, under a low `ulimit -n`; devices that guess their way
//! in; and what pages and errors carry.

mod common;

use std::time::{Duration, Instant};

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A site with one spot and `extra` config.
fn site(extra: &str) -> Site {
    let site = Site::new();
    site.write_bar_config("http://127.0.0.1:9/never", extra);
    site
}

fn addr(app: &App) -> String {
    app.url.trim_start_matches("http://").to_string()
}

/// Waits up to `limit` for the server to close `socket`; returns how long
/// that took, or `None` when it was still open at the limit.
async fn closed_within(socket: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        let left = limit.checked_sub(start.elapsed())?;
        match tokio::time::timeout(left, socket.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(start.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

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
    let m = prom::parse(&prom::scrape_text(&format!("{}/metrics", app.url)).await);
    let closed = prom::value(
        &m,
        "inkspot_connections_closed_total",
        &[("reason", "header_timeout")],
    );
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
    let m = prom::parse(&prom::scrape_text(&format!("{}/metrics", app.url)).await);
    let refused = prom::value(
        &m,
        "inkspot_connections_closed_total",
        &[("reason", "limit")],
    );
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
    let child = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -n 256 && exec '{exe}' serve --listen 127.0.0.1:{port}"
        ))
        .current_dir(site.path())
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let server = Binary::from_child(child);
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

/// A TRMNL site with `extra` config, devices joining from loopback counted.
fn trmnl_site(extra: &str) -> Site {
    let site = Site::new();
    std::fs::write(site.path().join("page.html"), report_page("2.5", "TRMNL")).unwrap();
    let spot = bar_spot("Linda Mar", "file://page.html", "");
    site.write_config(&format!(
        "[server.rate_limit]\nloopback = true\nper_minute = 0\n[trmnl]\nauto_join = true\n{extra}\n{spot}"
    ));
    site
}

fn mac(i: usize) -> String {
    format!("AA:BB:CC:DD:{:02X}:{:02X}", i / 256, i % 256)
}

#[tokio::test]
async fn only_tokens_shaped_like_a_servers_keys_are_adopted() {
    let site = trmnl_site("");
    let app = App::start(&site).await;
    for (token, adopted) in [
        ("a", false),
        ("short-key", false),
        ("has spaces in it, sixteen+", false),
        ("zEXRKo7Vmzx8dhcKJ7cfkg", true),
        ("0123456789abcdef0123456789abcdef", true),
    ] {
        let mut fw = firmware::Firmware::new(&app.url, &mac(adopted as usize + token.len()), "og");
        fw.key = Some(token.to_string());
        let answer = fw.display("4.1", &[]).await;
        let registered = app.engine.devices().unwrap().by_mac(&fw.mac).await.unwrap();
        assert_eq!(registered.is_some(), adopted, "{token}: {answer}");
        if !adopted {
            assert_eq!(
                answer["status"], 202,
                "{token}: told to come back, never wiped"
            );
            // At its next setup it gets a key of ours.
            let setup = fw.setup().await;
            assert_eq!(setup["status"], 200);
            assert_ne!(setup["api_key"], token);
        }
    }
}

#[tokio::test]
async fn auto_join_is_capped_per_address_and_in_all() {
    let site = trmnl_site("joins_per_hour = 2\nmax_devices = 100");
    let app = App::start(&site).await;
    let mut answers = Vec::new();
    for i in 0..4 {
        let mut fw = firmware::Firmware::new(&app.url, &mac(100 + i), "og");
        answers.push(fw.setup().await["status"].clone());
    }
    assert_eq!(
        answers,
        [200, 200, 404, 404],
        "two joins an hour from one address"
    );
    let m = prom::parse(&prom::scrape_text(&format!("{}/metrics", app.url)).await);
    let refused = prom::value(
        &m,
        "inkspot_requests_refused_total",
        &[("reason", "joins_per_hour")],
    );
    assert_eq!(refused, 2.0);

    let site = trmnl_site("joins_per_hour = 100\nmax_devices = 3");
    let app = App::start(&site).await;
    let mut joined = 0;
    for i in 0..6 {
        let mut fw = firmware::Firmware::new(&app.url, &mac(200 + i), "og");
        if fw.setup().await["status"] == 200 {
            joined += 1;
        }
    }
    assert_eq!(joined, 3, "trmnl.max_devices");
    assert_eq!(app.engine.devices().unwrap().count().await.unwrap(), 3);
}

#[tokio::test]
async fn a_device_log_is_read_only_after_its_key_is_checked() {
    let site = trmnl_site("max_log_bytes = \"1KiB\"");
    let app = App::start(&site).await;
    let mut fw = firmware::Firmware::new(&app.url, &mac(7), "og");
    fw.setup().await;
    // A stranger announcing 1 MiB and sending a little is answered at
    // once, without waiting for a body it will never keep.
    let mut socket = TcpStream::connect(addr(&app)).await.unwrap();
    let head = "POST /api/log HTTP/1.1\r\nHost: x\r\nID: AA:BB:CC:00:00:01\r\nAccess-Token: x\r\nContent-Type: application/json\r\nContent-Length: 1048576\r\n\r\n{\"logs\": [";
    socket.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(3), socket.read(&mut answer))
        .await
        .expect("answered without reading the body")
        .unwrap();
    let answer = text(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"status\":202"), "{answer}");
    let big = vec![b'x'; 1024 * 1024];
    // The device's own body past the limit is dropped, acknowledged.
    let r = client()
        .post(format!("{}/api/log", app.url))
        .header("ID", &fw.mac)
        .header("Access-Token", fw.key.clone().unwrap())
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let m = prom::parse(&prom::scrape_text(&format!("{}/metrics", app.url)).await);
    let dropped = prom::value(
        &m,
        "inkspot_requests_refused_total",
        &[("reason", "device_log_dropped")],
    );
    assert_eq!(dropped, 1.0);
}

/// Sends `request` on a raw socket; returns the whole answer as text.
async fn raw(app: &App, request: &[u8]) -> String {
    let mut socket = TcpStream::connect(addr(app)).await.unwrap();
    // The server may refuse before it has read all of it.
    let _ = socket.write_all(request).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), socket.read_to_end(&mut out)).await;
    text(&out)
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
    // 200 short headers pass hyper's own count, and the size guard judges.
    let mut many = String::from("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    for i in 0..200 {
        many.push_str(&format!("X-{i}: y\r\n"));
    }
    many.push_str("\r\n");
    assert!(raw(&app, many.as_bytes()).await.starts_with("HTTP/1.1 200"));
}

const ADMIN: &str = "an-admin-token-for-the-tests";

/// A client that shows redirects rather than following them.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Signs in with `token` (and `extra` headers); returns the answer.
async fn sign_in(app: &App, token: &str, extra: &[(&str, &str)]) -> reqwest::Response {
    let mut request = browser()
        .post(format!("{}/login", app.url))
        .form(&[("token", token)]);
    for (k, v) in extra {
        request = request.header(*k, *v);
    }
    request.send().await.unwrap()
}

fn set_cookie(r: &reqwest::Response) -> String {
    r.headers()["set-cookie"].to_str().unwrap().to_string()
}

fn session_of(cookie: &str) -> String {
    cookie.split(';').next().unwrap().to_string()
}

#[tokio::test]
async fn gallery_sessions_are_random_expire_can_end_and_refuse_cross_site_forms() {
    let site = site(&format!(
        "[server]\nadmin_token = \"{ADMIN}\"\ntrusted_proxies = [\"127.0.0.1/32\"]\n"
    ));
    let app = App::start(&site).await;
    let first = sign_in(&app, ADMIN, &[]).await;
    assert_eq!(first.status(), 303, "to the gallery");
    let cookie = set_cookie(&first);
    for flag in ["HttpOnly", "SameSite=Strict", "Max-Age="] {
        assert!(cookie.contains(flag), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    let second = set_cookie(&sign_in(&app, ADMIN, &[]).await);
    assert_ne!(
        session_of(&cookie),
        session_of(&second),
        "each sign-in its own id"
    );
    // Behind a trusted proxy that says HTTPS, the cookie is Secure.
    let https = sign_in(&app, ADMIN, &[("x-forwarded-proto", "https")]).await;
    assert!(set_cookie(&https).contains("; Secure"));
    assert_eq!(
        sign_in(&app, "wrong-token-wrong-token", &[]).await.status(),
        401
    );
    // A form from another site is refused, before the token is looked at.
    let cross = sign_in(&app, ADMIN, &[("origin", "https://evil.example")]).await;
    assert_eq!(cross.status(), 403);
    assert!(!cross.headers().contains_key("set-cookie"));

    let session = session_of(&cookie);
    let status = |cookie: String| {
        let url = format!("{}/status", app.url);
        async move {
            client()
                .get(url)
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(status(session.clone()).await, 200);
    // The value a session once had (derived from the token) opens nothing.
    let derived = {
        let key = blake3::hash(ADMIN.as_bytes());
        blake3::keyed_hash(key.as_bytes(), b"inkspot session")
            .to_hex()
            .to_string()
    };
    assert_eq!(status(format!("inkspot_session={derived}")).await, 401);
    // The gallery page carries the sign-out form with its token.
    let page = client()
        .get(format!("{}/", app.url))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("script-src 'nonce-"), "{csp}");
    let html = page.text().await.unwrap();
    let token = html
        .split("name=\"form_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a sign-out form")
        .to_string();
    let sign_out = |token: String| {
        let url = format!("{}/logout", app.url);
        let session = session.clone();
        async move {
            browser()
                .post(url)
                .header("cookie", session)
                .form(&[("form_token", token)])
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(sign_out("forged".into()).await.status(), 403);
    assert_eq!(status(session.clone()).await, 200, "still signed in");
    let out = sign_out(token).await;
    assert_eq!(out.status(), 303);
    assert!(set_cookie(&out).contains("Max-Age=0"));
    assert_eq!(status(session.clone()).await, 401, "signed out");
}

#[tokio::test]
async fn pages_and_data_carry_security_headers_and_images_do_not() {
    let site = site("");
    let app = App::start(&site).await;
    for path in ["/status", "/spots", "/nope", "/"] {
        let r = app.get(path, &[]).await;
        let h = r.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
    }
    let page = app.get("/", &[]).await;
    assert!(page.headers().contains_key("content-security-policy"));
    let image = app.get("/image?spot=linda-mar", &[]).await;
    let h = image.headers();
    assert!(
        h["content-type"].to_str().unwrap().starts_with("image/"),
        "{h:?}"
    );
    for name in [
        "x-content-type-options",
        "referrer-policy",
        "content-security-policy",
    ] {
        assert!(!h.contains_key(name), "{name} on an image");
    }
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
        app.engine.clone(),
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
