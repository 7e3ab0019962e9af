//! The browser's jobs over real sockets: screenshots of a list of pages,
//! shared between keys within the window, and a crawl over a fixture site
//! with cycles, duplicates, fragments, an external link and a robots.txt.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::browser::{browser_site, fixture};
use crate::common::jobs::{Jobs, unzip};
use crate::common::*;

/// Two keys, Alice and Bob, and a quick crawl.
fn keys() -> String {
    "[browser]\njobs_allow = [\"127.0.0.1\"]\ntimeout = \"6s\"\ncrawl_delay = \"0s\"\n\
     [[api_keys]]\nname = \"alice\"\nkey = \"alice-key-for-the-browser-tests\"\nper_minute = 6000\n\
     [[api_keys]]\nname = \"bob\"\nkey = \"bob-key-for-the-browser-tests\"\nper_minute = 6000\n"
        .to_string()
}

/// The service with both keys and a screenshot spot on `base`.
async fn start(base: &str) -> (Site, App) {
    let site = Site::new();
    site.write_config(&format!(
        "{}\n{}",
        keys(),
        crate::browser::shot_spot_for_tests(base)
    ));
    let app = App::start(&site).await;
    (site, app)
}

fn as_key(app: &App, key: &str) -> Jobs {
    let mut jobs = Jobs::new(&app.url);
    jobs.key = key.to_string();
    jobs
}

#[tokio::test]
#[ignore = "needs Chromium (Debian: apt-get install chromium); scripts/test runs it"]
async fn screenshots_are_shared_between_keys_and_each_page_is_reported() {
    let _one = crate::browser::ONE_AT_A_TIME.lock().await;
    let (base, seen) = fixture("127.0.0.1", "").await;
    let (_site, app) = start(&base).await;
    let (alice, bob) = (
        as_key(&app, "alice-key-for-the-browser-tests"),
        as_key(&app, "bob-key-for-the-browser-tests"),
    );
    let a = alice
        .submit(&json!({"screenshots": {"urls": [format!("{base}/shapes"), format!("{base}/crop")], "viewport": "800x480"}}))
        .await;
    let b = bob
        .submit(&json!({"screenshots": {"urls": [format!("{base}/crop"), format!("{base}/banner"), format!("{base}/missing"), format!("{base}/hang"), "http://127.0.0.2:8999/x"], "viewport": "800x480"}}))
        .await;
    let (a_id, b_id) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
    let done = alice.wait(a_id).await;
    assert_eq!(done["status"], "done", "{done}");
    let done = bob.wait(b_id).await;
    assert_eq!(done["status"], "done", "{done}");
    for path in ["/shapes", "/crop", "/banner"] {
        assert_eq!(seen.hits(path), 1, "{path} visited once for both keys");
    }
    let items: BTreeMap<String, Value> = done["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["name"].as_str().unwrap().replace(&base, ""), i.clone()))
        .collect();
    assert_eq!(items["/crop"]["state"], "done");
    assert_eq!(items["/missing"]["state"], "failed");
    assert_eq!(items["/missing"]["error"], "the page answered HTTP 404");
    // Only `browser.jobs_allow` opens an address to a key.
    let refused = &items["http://127.0.0.2:8999/x"];
    assert_eq!(refused["state"], "failed");
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("127.0.0.2 is a loopback address"),
        "{refused}"
    );
    assert_eq!(items["/hang"]["state"], "failed");
    assert!(
        items["/hang"]["error"]
            .as_str()
            .unwrap()
            .contains("longer than 6s"),
        "{}",
        items["/hang"]
    );

    // Alice's zip: her two pictures and the index; not Bob's.
    let zip = alice.download(a_id).await.bytes().await.unwrap();
    let files: BTreeMap<String, Vec<u8>> = unzip(&zip).into_iter().collect();
    assert_eq!(
        files.keys().cloned().collect::<Vec<_>>(),
        ["000-127.0.0.1.png", "001-127.0.0.1.png", "index.json"]
    );
    let shapes = decode_png(&files["000-127.0.0.1.png"]);
    assert_eq!((shapes.width, shapes.height), (800, 480));
    assert_eq!(shapes.at(200, 100), 0);
    let index: Vec<Value> = serde_json::from_slice(&files["index.json"]).unwrap();
    assert_eq!(index[0]["url"], format!("{base}/shapes"));
    assert_eq!(index[0]["final_url"], format!("{base}/shapes"));
    assert_eq!(index[0]["status"], 200);
    assert_eq!(index[0]["title"], "Shapes");
    assert_eq!(index[0]["file"], "000-127.0.0.1.png");
    assert!(index[0]["time"].is_string());

    // The seed's shape: the index with each picture as base64.
    let results: Value = alice
        .get(&format!("/api/jobs/{a_id}/results"))
        .await
        .json()
        .await
        .unwrap();
    let first = &results["results"][0];
    let png = base64::engine::general_purpose::STANDARD
        .decode(first["image"].as_str().unwrap())
        .unwrap();
    assert_eq!(png, files["000-127.0.0.1.png"]);
    // Bob cannot see Alice's job.
    assert_eq!(
        bob.get(&format!("/api/jobs/{a_id}/results")).await.status(),
        404
    );
    app.stop().await;
}

#[tokio::test]
#[ignore = "needs Chromium (Debian: apt-get install chromium); scripts/test runs it"]
async fn a_bad_screenshot_job_is_refused_naming_the_field() {
    let _one = crate::browser::ONE_AT_A_TIME.lock().await;
    let site = browser_site("", &keys().replace("[browser]\n", ""));
    let site_config = std::fs::read_to_string(site.config_path()).unwrap();
    site.write_config(&format!(
        "{site_config}\n[[spots]]\nname = \"A\"\ntemplate = \"bar\"\n"
    ));
    let app = App::start(&site).await;
    let alice = as_key(&app, "alice-key-for-the-browser-tests");
    for (body, field, says) in [
        (
            json!({"screenshots": {"urls": ["file:///etc/passwd"]}}),
            "screenshots.urls[0]",
            "cannot be shot",
        ),
        (
            json!({"screenshots": {"urls": []}}),
            "screenshots.urls",
            "is empty",
        ),
        (
            json!({"screenshots": {"urls": ["http://a.test/"], "viewport": "huge"}}),
            "screenshots.viewport",
            "not a size",
        ),
        (
            json!({"crawl": {"url": "http://a.test/", "depth": 9}}),
            "crawl.depth",
            "0 to 5",
        ),
        (
            json!({"crawl": {"url": "http://a.test/", "dept": 1}}),
            "crawl.dept",
            "did you mean `depth`",
        ),
    ] {
        let r = alice.post(&body).await;
        assert_eq!(r.status(), 400, "{body}");
        let text = r.text().await.unwrap();
        assert!(
            text.contains(field) && text.contains(says),
            "{body}: {text}"
        );
    }
    app.stop().await;
}

/// A site to crawl: what each path links to, and what it saw.
#[derive(Clone, Default)]
struct CrawlSite {
    hits: Arc<Mutex<BTreeMap<String, usize>>>,
    external: String,
}

async fn crawl_page(State(site): State<CrawlSite>, request: Request) -> Response {
    let path = request.uri().path().to_string();
    *site.hits.lock().unwrap().entry(path.clone()).or_default() += 1;
    let links: &[&str] = match path.as_str() {
        "/robots.txt" => {
            return "User-agent: *\nDisallow: /private-area/\n".into_response();
        }
        "/" => &["/a", "/b", "/a#part", "EXTERNAL/x", "mailto:me@example.com"],
        "/a" => &["/", "/c", "/b"],
        "/b" => &["/private-area/x", "/d", "/b#again"],
        "/c" => &["/a"],
        "/d" | "/private-area/x" => &[],
        _ => return (axum::http::StatusCode::NOT_FOUND, "no").into_response(),
    };
    let anchors: String = links
        .iter()
        .map(|l| {
            format!(
                "<a href=\"{}\">{l}</a> ",
                l.replace("EXTERNAL", &site.external)
            )
        })
        .collect();
    let body = format!(
        "<html><head><title>page {path}</title></head><body><h1>{path}</h1>{anchors}</body></html>"
    );
    ([("content-type", "text/html")], body).into_response()
}

async fn crawl_site(external: &str) -> (String, CrawlSite) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let site = CrawlSite {
        external: external.to_string(),
        ..CrawlSite::default()
    };
    let router = axum::Router::new()
        .fallback(crawl_page)
        .with_state(site.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (base, site)
}

#[tokio::test]
#[ignore = "needs Chromium (Debian: apt-get install chromium); scripts/test runs it"]
async fn a_crawl_visits_each_page_once_by_depth_within_its_bounds() {
    let _one = crate::browser::ONE_AT_A_TIME.lock().await;
    let (external, external_seen) = fixture("127.0.0.1", "").await;
    // `localhost` is another host than 127.0.0.1: outside the site.
    let external = external.replace("127.0.0.1", "localhost");
    let (base, site_seen) = crawl_site(&external).await;
    let (_site, app) = start(&base).await;
    let alice = as_key(&app, "alice-key-for-the-browser-tests");
    let job = alice
        .submit(&json!({"crawl": {"url": format!("{base}/"), "depth": 2, "viewport": "400x300"}}))
        .await;
    let id = job["id"].as_str().unwrap();
    let done = alice.wait(id).await;
    assert_eq!(done["status"], "done", "{done}");

    let pages: Value = alice
        .get(&format!("/api/jobs/{id}/pages"))
        .await
        .json()
        .await
        .unwrap();
    let pages = pages["pages"].as_array().unwrap().clone();
    let by_depth = |d: i64| -> BTreeSet<String> {
        pages
            .iter()
            .filter(|p| p["depth"] == d)
            .map(|p| p["url"].as_str().unwrap().replace(&base, ""))
            .collect()
    };
    assert_eq!(by_depth(0), BTreeSet::from(["/".to_string()]));
    assert_eq!(
        by_depth(1),
        BTreeSet::from(["/a".to_string(), "/b".to_string()])
    );
    assert_eq!(
        by_depth(2),
        BTreeSet::from(["/c".to_string(), "/d".to_string()])
    );
    assert_eq!(pages.len(), 5, "{pages:?}");
    let hits = site_seen.hits.lock().unwrap().clone();
    for path in ["/", "/a", "/b", "/c", "/d"] {
        assert_eq!(hits.get(path), Some(&1), "{path} once: {hits:?}");
    }
    assert_eq!(hits.get("/robots.txt"), Some(&1), "{hits:?}");
    assert_eq!(hits.get("/private-area/x"), None, "robots.txt honoured");
    assert_eq!(
        external_seen.total(),
        0,
        "the external link was not followed"
    );

    // Each row names its parent and its stored picture, which the storage holds.
    let d = pages
        .iter()
        .find(|p| p["url"] == format!("{base}/d"))
        .unwrap();
    assert_eq!(d["parent"], format!("{base}/b"));
    assert_eq!(d["status"], 200);
    assert_eq!(d["title"], "page /d");
    for page in &pages {
        let blob = page["blob"].as_str().unwrap();
        let stored = app.engine.store().open_blob(blob).await.unwrap();
        assert!(stored.is_some_and(|b| b.len > 100), "{blob} is stored");
    }
    // The download: pages in folders by depth, the tree and the index.
    let zip = alice.download(id).await.bytes().await.unwrap();
    let files: BTreeMap<String, Vec<u8>> = unzip(&zip).into_iter().collect();
    let folders: BTreeSet<&str> = files
        .keys()
        .filter_map(|f| f.split_once('/').map(|(d, _)| d))
        .collect();
    assert_eq!(folders, BTreeSet::from(["depth-0", "depth-1", "depth-2"]));
    let tree: Vec<Value> = serde_json::from_slice(&files["tree.json"]).unwrap();
    assert_eq!(tree.len(), 1);
    let children: BTreeSet<String> = tree[0]["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["url"].as_str().unwrap().replace(&base, ""))
        .collect();
    assert_eq!(
        children,
        BTreeSet::from(["/a".to_string(), "/b".to_string()])
    );

    // max_pages is honoured.
    let small = alice
        .submit(&json!({"crawl": {"url": format!("{base}/"), "depth": 2, "max_pages": 3, "viewport": "400x300"}}))
        .await;
    let small_id = small["id"].as_str().unwrap();
    let done = alice.wait(small_id).await;
    assert_eq!(done["items"].as_array().unwrap().len(), 3, "{done}");

    // The same crawl by Bob within the window: shared, no new visit.
    let before = site_seen.hits.lock().unwrap().values().sum::<usize>();
    let bob = as_key(&app, "bob-key-for-the-browser-tests");
    let again = bob
        .submit(&json!({"crawl": {"url": format!("{base}/"), "depth": 2, "viewport": "400x300"}}))
        .await;
    let again_id = again["id"].as_str().unwrap();
    assert_ne!(again_id, id, "Bob's own job");
    assert_eq!(bob.wait(again_id).await["status"], "done");
    let after = site_seen.hits.lock().unwrap().values().sum::<usize>();
    // Only robots.txt is read again; no page is visited again.
    assert_eq!(after - before, 1, "{:?}", site_seen.hits.lock().unwrap());
    app.stop().await;
}

#[tokio::test]
#[ignore = "needs Chromium (Debian: apt-get install chromium); scripts/test runs it"]
async fn a_key_past_its_browser_time_is_refused_until_the_hour_frees_it() {
    let _one = crate::browser::ONE_AT_A_TIME.lock().await;
    let (base, seen) = fixture("127.0.0.1", "").await;
    let site = Site::new();
    site.write_config(&format!(
        "{}\n[[api_keys]]\nname = \"carol\"\nkey = \"carol-key-for-the-browser-tests\"\nper_minute = 6000\nbrowser_seconds = 1\n{}",
        keys(),
        crate::browser::shot_spot_for_tests(&base)
    ));
    let app = App::start(&site).await;
    let carol = as_key(&app, "carol-key-for-the-browser-tests");
    // One picture that waits 1.2 s after its page: more than carol's second.
    let slow = json!({"screenshots": {"urls": [format!("{base}/shapes")], "delay_ms": 1200}});
    let job = carol.submit(&slow).await;
    assert_eq!(
        carol.wait(job["id"].as_str().unwrap()).await["status"],
        "done"
    );
    let refused = carol
        .post(&json!({"screenshots": {"urls": [format!("{base}/crop")]}}))
        .await;
    assert_eq!(refused.status(), 429);
    let retry: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((3000..=3601).contains(&retry), "{retry}");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "browser_quota");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("`carol` used its 1 s"),
        "{body}"
    );
    assert_eq!(seen.hits("/crop"), 0);
    // Another key is not held back by carol's hour.
    let alice = as_key(&app, "alice-key-for-the-browser-tests");
    let other = alice
        .submit(&json!({"screenshots": {"urls": [format!("{base}/crop")]}}))
        .await;
    assert_eq!(
        alice.wait(other["id"].as_str().unwrap()).await["status"],
        "done"
    );
    app.stop().await;
}
