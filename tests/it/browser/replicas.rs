//! Two replicas sharing PostgreSQL and S3 (SeaweedFS), each with its own
//! browser: a page one replica took for a job is shared with the other's
//! job within the window, so the page is visited once and the second
//! replica's browser never starts; past the window the page is taken
//! again, and that newer picture replaces the older for both.

use serde_json::json;

use super::*;
use crate::common::jobs::{Jobs, unzip};
use crate::common::postgres::Postgres;
use crate::common::seaweed::Seaweed;

/// The picture of a one-page screenshots job `body`, submitted by `jobs`.
async fn picture(jobs: &Jobs, body: &serde_json::Value) -> Vec<u8> {
    let job = jobs.submit(body).await;
    let id = job["id"].as_str().unwrap().to_string();
    assert_eq!(jobs.wait(&id).await["status"], "done");
    let zip = jobs.download(&id).await.bytes().await.unwrap();
    let (_, png) = unzip(&zip)
        .into_iter()
        .find(|(name, _)| name.ends_with(".png"))
        .unwrap();
    png
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium, PostgreSQL and SeaweedFS; scripts/test runs it"]
async fn a_picture_taken_on_one_replica_is_shared_with_the_other() {
    let _one = ONE_AT_A_TIME.lock().await;
    let pg = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let s3 = Seaweed::start("inkspot").await;
    let (base, seen) = fixture("127.0.0.1", "").await;
    let config = format!(
        "jobs_allow = [\"127.0.0.1\"]\nshare_window = \"4s\"\n\
         [[api_keys]]\nname = \"alice\"\nkey = \"alice-key-for-the-replica-test\"\n\
         [[api_keys]]\nname = \"bob\"\nkey = \"bob-key-for-the-replica-test\"\n\
         [[api_keys]]\nname = \"carol\"\nkey = \"carol-key-for-the-replica-test\"\n\
         [[api_keys]]\nname = \"dave\"\nkey = \"dave-key-for-the-replica-test\"\n\
         [storage]\nbackend = \"s3\"\nbucket = \"inkspot\"\nprefix = \"shots\"\n\
         endpoint = \"{}\"\nregion = \"us-east-1\"\naccess_key_id = \"any\"\nsecret_access_key = \"any\"\n\
         [database]\nurl = \"{}\"\n",
        s3.endpoint, pg.url
    );
    let sites = [
        browser_site(&shot_spot_for_tests(&base), &config),
        browser_site(&shot_spot_for_tests(&base), &config),
    ];
    let one = App::start(&sites[0]).await;
    let two = App::start(&sites[1]).await;
    let as_key = |app: &App, key: &str| {
        let mut jobs = Jobs::new(&app.url);
        jobs.key = key.to_string();
        jobs
    };
    let body = json!({"screenshots": {"urls": [format!("{base}/shapes")], "viewport": "800x480"}});
    let alice = as_key(&one, "alice-key-for-the-replica-test");
    let bob = as_key(&two, "bob-key-for-the-replica-test");
    let mut pictures = Vec::new();
    for jobs in [&alice, &bob] {
        pictures.push(picture(jobs, &body).await);
    }
    assert_eq!(seen.hits("/shapes"), 1, "the page visited once");
    assert_eq!(pictures[0], pictures[1], "the same picture");
    let status: serde_json::Value = two.get("/status", &[]).await.json().await.unwrap();
    assert_eq!(
        status["browser"]["state"], "idle",
        "the second replica's browser never started: {status}"
    );

    // Past the window, the second replica takes the page again (Carol's
    // job: a key's identical job would be the one it already has), and
    // its newer picture replaces the older in the index: Dave's job on the
    // first replica shares it.
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    picture(&as_key(&two, "carol-key-for-the-replica-test"), &body).await;
    assert_eq!(seen.hits("/shapes"), 2, "taken again past the window");
    picture(&as_key(&one, "dave-key-for-the-replica-test"), &body).await;
    assert_eq!(seen.hits("/shapes"), 2, "the newer picture shared");
    one.stop().await;
    two.stop().await;
}
