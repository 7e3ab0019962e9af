//! The job API's durability and priority, on real sockets: the real
//! binary killed half-way through a job finishes it after a restart, and
//! a flood of jobs leaves displays their renders.

use std::time::Duration;

use crate::common::jobs::{Jobs, api_key, hits, page, site, unzip};
use crate::common::*;
use serde_json::json;
use wiremock::MockServer;

/// The real binary killed half-way through a job: started again, it
/// finishes the job. The item done before the kill is not fetched again
/// (its render was stored); the one cut off is.
#[tokio::test]
async fn a_job_half_done_at_a_crash_is_finished_after_the_restart() {
    let upstream = MockServer::start().await;
    let site = site(&upstream, 2500, &api_key(0, 4)).await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let first = Binary::serve(&site, port);
    wait_up(&base).await;
    let jobs = Jobs::new(&base);
    let accepted = jobs
        .submit(&json!({"renders": [{"spot": "Alpha"}, {"spot": "Bravo"}]}))
        .await;
    let id = accepted["id"].as_str().unwrap().to_string();
    let half = jobs.wait_items(&id, 1).await;
    assert_eq!(half["status"], "running", "{half}");
    first.kill();

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let second = Binary::serve(&site, port);
    wait_up(&base).await;
    let jobs = Jobs::new(&base);
    let done = jobs.wait(&id).await;
    assert_eq!(done["status"], "done", "{done}");
    let zip = jobs.download(&id).await.bytes().await.unwrap();
    let names: Vec<String> = unzip(&zip).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["alpha-400x240.png", "bravo-400x240.png"]);
    let log = second.kill();
    assert!(
        log.contains("jobs interrupted by the last stop are queued again"),
        "{log}"
    );
    assert_eq!(
        hits(&upstream, "/alpha").await,
        1,
        "alpha's stored render was used"
    );
    assert_eq!(
        hits(&upstream, "/bravo").await,
        2,
        "bravo was cut off, and fetched again"
    );
}

/// A flood of jobs leaves room for displays: jobs hold at most
/// `jobs.concurrency` renders, and a display's cold request is drawn
/// while most of the flood still waits.
#[tokio::test]
async fn a_flood_of_jobs_does_not_hold_up_displays() {
    let upstream = MockServer::start().await;
    let extra = format!("[server]\nrender_queue = 4\n{}", api_key(0, 40));
    let site = site(&upstream, 0, &extra).await;
    page(&upstream, "/slow", "2.0", 300).await;
    let slow = format!("{}/slow", upstream.uri());
    let text = std::fs::read_to_string(site.config_path()).unwrap();
    site.write_config(&format!("{text}\n{}", bar_spot("Charlie", &slow, "")));
    let app = App::start(&site).await;
    // Charlie's data is fetched: each job render is only drawing, which a
    // render queue of 4 could not hold 30 of.
    assert_eq!(app.get("/image?spot=charlie", &[]).await.status(), 200);
    let jobs = Jobs::new(&app.url);
    let mut ids = Vec::new();
    for width in 0..30 {
        let options = json!({"width": 300 + width, "height": 200});
        let body = json!({"renders": [{"spot": "Charlie", "options": options}]});
        ids.push(jobs.submit(&body).await["id"].as_str().unwrap().to_string());
    }
    let mut most_in_flight = 0;
    let display = tokio::spawn({
        let url = app.url.clone();
        async move {
            client()
                .get(format!("{url}/image?spot=alpha&device=trmnl"))
                .send()
                .await
                .unwrap()
        }
    });
    while !display.is_finished() {
        most_in_flight = most_in_flight.max(app.engine.render_jobs().len());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let answer = display.await.unwrap();
    assert_eq!(answer.status(), 200, "the display was not turned away");
    assert_eq!(answer.headers()["x-cache"], "miss");
    let mut finished = 0;
    for id in &ids {
        let s = jobs.status(id).await;
        if s["status"] == "done" {
            finished += 1;
        }
    }
    assert!(
        finished < 25,
        "the display waited for the flood: {finished} jobs were done"
    );
    assert!(most_in_flight <= 2, "jobs held {most_in_flight} renders");
}
