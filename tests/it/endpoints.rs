//! `/spots`, `/healthz`, unknown routes and query validation.

use crate::common::*;

#[tokio::test]
async fn spots_lists_every_spot_with_its_last_render() {
    let site = Site::new();
    std::fs::write(site.path().join("page.html"), report_page("2.0", "x")).unwrap();
    site.write_bar_config("file://page.html", "");
    let app = App::start(&site).await;

    let before: serde_json::Value = app.get("/spots", &[]).await.json().await.unwrap();
    assert_eq!(before[0]["name"], "Linda Mar");
    assert_eq!(before[0]["slug"], "linda-mar");
    assert_eq!(before[0]["image_url"], "/image?spot=linda-mar");
    assert!(before[0]["last_render"].is_null());

    assert_eq!(app.get("/image?spot=linda-mar", &[]).await.status(), 200);
    let after: serde_json::Value = app.get("/spots", &[]).await.json().await.unwrap();
    let stamp = after[0]["last_render"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(stamp).is_ok(),
        "{stamp}"
    );
    app.stop().await;
}

#[tokio::test]
async fn healthz_and_unknown_routes() {
    let site = Site::new();
    site.write_bar_config("file://page.html", "");
    let app = App::start(&site).await;
    let health = app.get("/healthz", &[]).await;
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.unwrap(), "ok");

    let nothing = app.get("/wp-admin", &[]).await;
    assert_eq!(nothing.status(), 404);
    let body: serde_json::Value = nothing.json().await.unwrap();
    assert_eq!(body["code"], "not_found");

    // A wrong method answers like every other error: JSON and a code.
    let post = client()
        .post(format!("{}/image?spot=linda-mar", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 405);
    assert_eq!(post.headers()["content-type"], "application/json");
    let body: serde_json::Value = post.json().await.unwrap();
    assert_eq!(body["code"], "method_not_allowed");
    app.stop().await;
}

#[tokio::test]
async fn bad_query_parameters_are_named_in_a_400() {
    let site = Site::new();
    site.write_bar_config("file://page.html", "");
    let app = App::start(&site).await;
    for (query, code, needle) in [
        ("spot=linda-mar&colour=red", "unknown_parameter", "`colour`"),
        ("spot=a&spot=b", "repeated_parameter", "`spot`"),
        (
            &format!("spot={}", "x".repeat(300)),
            "parameter_too_long",
            "`spot`",
        ),
    ] {
        let r = app.get(&format!("/image?{query}"), &[]).await;
        assert_eq!(r.status(), 400, "{query}");
        assert_eq!(r.headers()["content-type"], "application/json");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["code"], code);
        assert!(body["error"].as_str().unwrap().contains(needle), "{body}");
    }
    // An invalid option lists its allowed values, not the spots.
    let r = app.get("/image?spot=linda-mar&bits=3", &[]).await;
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], "invalid_parameter");
    assert!(body["spots"].is_null(), "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("1, 2, 4, 8"),
        "{body}"
    );
    app.stop().await;
}

/// What devices send: upper-case values and cache-busting parameters.
#[tokio::test]
async fn device_queries_with_any_case_and_cache_busters_are_served() {
    let site = Site::new();
    std::fs::write(site.path().join("page.html"), report_page("2.0", "x")).unwrap();
    site.write_bar_config("file://page.html", "");
    let app = App::start(&site).await;
    let plain = app.get("/image?spot=linda-mar&device=trmnl", &[]).await;
    assert_eq!(plain.status(), 200);
    let plain = plain.bytes().await.unwrap();
    let shouted = app
        .get(
            "/image?spot=Linda%20Mar&device=TRMNL&format=PNG&t=1732400000&_=7",
            &[],
        )
        .await;
    assert_eq!(shouted.status(), 200);
    assert_eq!(shouted.headers()["x-cache"], "hit", "the same variant");
    assert_eq!(shouted.bytes().await.unwrap(), plain);
    app.stop().await;
}
