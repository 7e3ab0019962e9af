//! Devices that guess their way in: foreign tokens, floods of joins,
//! log bodies from strangers, and pairing a reset device again.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::*;
use crate::common::*;

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
        let registered = app
            .service
            .devices
            .as_ref()
            .unwrap()
            .by_mac(&fw.mac)
            .await
            .unwrap();
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
    let refused = prom::value_at(
        &app.url,
        "inkspot_requests_refused_total",
        &[("reason", "joins_per_hour")],
    )
    .await;
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
    assert_eq!(app.registry().count().await.unwrap(), 3);
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
    let dropped = prom::value_at(
        &app.url,
        "inkspot_requests_refused_total",
        &[("reason", "device_log_dropped")],
    )
    .await;
    assert_eq!(dropped, 1.0);
}

/// `inkspot devices pair` opens pairing through the admin API of the
/// running service; without the right token it fails, saying why.
#[tokio::test]
async fn the_devices_pair_command_opens_pairing() {
    let site = trmnl_site(&format!("[server]\nadmin_token = \"{ADMIN}\""));
    let app = App::start(&site).await;
    let mut fw = firmware::Firmware::new(&app.url, &mac(300), "og");
    assert_eq!(fw.setup().await["status"], 200);
    let key = fw.key.clone().unwrap();
    fw.display("4.1", &[]).await;
    assert_eq!(
        fw.setup().await["status"],
        404,
        "set up: no key without pairing"
    );
    let run = |token: &'static str| {
        let (url, device) = (app.url.clone(), fw.mac.clone());
        let exe = env!("CARGO_BIN_EXE_inkspot");
        let dir = site.path().to_path_buf();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(exe)
                .args(["devices", "pair", &device, "--url", &url, "--token", token])
                .current_dir(dir)
                .env_remove("INKSPOT_ADMIN_TOKEN")
                .output()
                .unwrap()
        })
    };
    let wrong = run("not-the-admin-token").await.unwrap();
    assert!(!wrong.status.success());
    assert!(text_of(&wrong).contains("401"), "{}", text_of(&wrong));
    let out = run(ADMIN).await.unwrap();
    assert!(out.status.success(), "{}", text_of(&out));
    assert!(
        text_of(&out).contains("may fetch its key"),
        "{}",
        text_of(&out)
    );
    let again = fw.setup().await;
    assert_eq!(again["status"], 200, "{again}");
    assert_eq!(again["api_key"], key.as_str(), "its own key back");
}
