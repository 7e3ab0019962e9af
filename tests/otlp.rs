//! Trace export over OTLP/HTTP, with the `otlp` feature:
//! `cargo test --features otlp --test otlp`. The real binary sends its
//! request spans to a collector on a random port, which receives the
//! protobuf the OpenTelemetry protocol posts to `/v1/traces`.
#![cfg(feature = "otlp")]

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_spans_reach_the_collector_with_their_id() {
    let collector = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/traces"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&collector)
        .await;
    let site = Site::new();
    std::fs::write(site.path().join("page.html"), report_page("2.5", "Clean")).unwrap();
    site.write_bar_config("file://page.html", "");
    let config = std::fs::read_to_string(site.config_path()).unwrap();
    site.write_config(&format!(
        "[otlp]\nendpoint = \"{}/v1/traces\"\nservice_name = \"inkspot-test\"\n{config}",
        collector.uri()
    ));
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_inkspot"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .current_dir(site.path())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let mut answered = None;
    for _ in 0..100 {
        let sent = client()
            .get(format!("{base}/spots"))
            .header("X-Request-Id", "trace-me-77")
            .send()
            .await;
        if let Ok(r) = sent {
            answered = Some(r.status());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(answered.map(|s| s.as_u16()), Some(200));
    // SIGTERM: the service drains, and the exporter sends what is left.
    let pid = child.id().to_string();
    let stopped = tokio::task::spawn_blocking(move || {
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        child.wait().unwrap()
    })
    .await
    .unwrap();
    assert!(stopped.success());
    let received = collector.received_requests().await.unwrap();
    assert!(!received.is_empty(), "the collector got nothing");
    let post = &received[0];
    assert_eq!(post.headers["content-type"], "application/x-protobuf");
    let body: Vec<u8> = received.iter().flat_map(|r| r.body.clone()).collect();
    let has = |needle: &[u8]| body.windows(needle.len()).any(|w| w == needle);
    assert!(has(b"trace-me-77"), "the request id is on the span");
    assert!(has(b"inkspot-test"), "the service name");
    assert!(has(b"/spots"), "the route");
}
