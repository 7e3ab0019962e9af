//! The storage conformance suites: what every backend must do, checked the
//! same way for each, one suite per concern: [`renders`], [`documents`]
//! and [`blobs`], and [`run`] for a whole [`Backend`], which adds that
//! sweeping renders spares the documents and blobs beside them.
//! `tests/it/storage.rs` runs it against the disk and S3; a new backend
//! adds one test that calls [`run`] (or the suite of the one concern it
//! implements) on a fresh instance.
//!
//! Each check panics with its name and what differed, like a test.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Backend, BlobStore, DocumentStore, Key, MediaType, RenderStore, Rendered, Retention};

/// Runs every suite against `backend`, which must be empty and opened.
pub async fn run(backend: Arc<dyn Backend>) {
    renders(backend.clone()).await;
    documents(&*backend).await;
    blobs(&*backend).await;
    sweeps_spare_documents_and_blobs(&*backend).await;
}

/// What a [`RenderStore`] must do; it must be empty and opened.
pub async fn renders(store: Arc<dyn RenderStore>) {
    missing_keys_are_none(&*store).await;
    put_then_get_round_trips(&*store).await;
    metadata_reads_without_the_image(&*store).await;
    a_put_replaces_the_previous_render(&*store).await;
    list_names_every_render_by_spot(&*store).await;
    delete_removes_and_says_whether_it_did(&*store).await;
    readers_never_see_half_a_render(store.clone()).await;
    sweep_keeps_the_newest_within_the_bytes(&*store).await;
    sweep_keeps_what_was_used_last(&*store).await;
}

/// What a [`DocumentStore`] must do.
pub async fn documents(store: &dyn DocumentStore) {
    documents_round_trip(store).await;
}

/// What a [`BlobStore`] must do.
pub async fn blobs(store: &dyn BlobStore) {
    blobs_round_trip(store).await;
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

/// A render of `len` bytes of `fill`, drawn at `when`.
pub fn sample(len: usize, fill: u8, when: &str) -> Rendered {
    Rendered::new(
        vec![fill; len],
        MediaType::Png,
        at(when),
        at("2026-11-22T17:00:00Z"),
        fill % 2 == 1,
    )
}

async fn missing_keys_are_none(b: &dyn RenderStore) {
    let key = Key::new("conformance-missing", "png-0");
    assert!(b.get(&key).await.unwrap().is_none(), "get of a missing key");
    assert!(
        b.meta(&key).await.unwrap().is_none(),
        "meta of a missing key"
    );
    assert!(!b.delete(&key).await.unwrap(), "delete of a missing key");
}

async fn put_then_get_round_trips(b: &dyn RenderStore) {
    let key = Key::new("conformance-a", "png-1");
    let bmp = Rendered::new(
        b"BM-bytes".to_vec(),
        MediaType::Bmp,
        at("2026-11-22T17:00:03Z"),
        at("2026-11-22T17:00:00Z"),
        true,
    );
    b.put(&key, &bmp).await.unwrap();
    let got = b.get(&key).await.unwrap().expect("stored render");
    assert_eq!(got, bmp, "bytes and every metadata field round-trip");
    let other = Key::new("conformance-b", "png-1");
    assert!(
        b.get(&other).await.unwrap().is_none(),
        "same variant, other spot"
    );
}

async fn metadata_reads_without_the_image(b: &dyn RenderStore) {
    let key = Key::new("conformance-a", "png-2");
    let r = sample(3000, 4, "2026-11-22T17:01:00Z");
    b.put(&key, &r).await.unwrap();
    assert_eq!(b.meta(&key).await.unwrap(), Some(r.meta), "meta");
}

async fn a_put_replaces_the_previous_render(b: &dyn RenderStore) {
    let key = Key::new("conformance-a", "png-3");
    b.put(&key, &sample(100, 1, "2026-11-22T17:02:00Z"))
        .await
        .unwrap();
    let newer = sample(50, 2, "2026-11-22T17:03:00Z");
    b.put(&key, &newer).await.unwrap();
    assert_eq!(b.get(&key).await.unwrap(), Some(newer), "the newer render");
}

async fn list_names_every_render_by_spot(b: &dyn RenderStore) {
    let spot_a = b.list(Some("conformance-a")).await.unwrap();
    let variants: Vec<&str> = spot_a.iter().map(|l| l.key.variant()).collect();
    assert_eq!(variants, ["png-1", "png-2", "png-3"], "list of one spot");
    let sizes: Vec<u64> = spot_a.iter().map(|l| l.bytes).collect();
    assert_eq!(sizes, [8, 3000, 50], "listed sizes are the images' sizes");
    assert_eq!(spot_a[1].meta, sample(3000, 4, "2026-11-22T17:01:00Z").meta);
    assert!(b.list(Some("conformance-none")).await.unwrap().is_empty());
    let all = b.list(None).await.unwrap();
    assert_eq!(all.len(), 3, "list of every spot");
}

async fn delete_removes_and_says_whether_it_did(b: &dyn RenderStore) {
    let key = Key::new("conformance-a", "png-2");
    assert!(b.delete(&key).await.unwrap(), "delete of a stored render");
    assert!(b.get(&key).await.unwrap().is_none(), "gone after delete");
    assert!(
        b.meta(&key).await.unwrap().is_none(),
        "no metadata after delete"
    );
    assert!(!b.delete(&key).await.unwrap(), "second delete");
}

/// While one task keeps replacing a render, readers get one whole version
/// or the other: bytes that match their metadata, every time.
async fn readers_never_see_half_a_render(b: Arc<dyn RenderStore>) {
    let key = Key::new("conformance-race", "png-1");
    let small = sample(10_000, 1, "2026-11-22T17:04:00Z");
    let large = sample(200_000, 2, "2026-11-22T17:05:00Z");
    b.put(&key, &small).await.unwrap();
    let writer = {
        let (b, key, small, large) = (b.clone(), key.clone(), small.clone(), large.clone());
        tokio::spawn(async move {
            for i in 0..20 {
                let r = if i % 2 == 0 { &large } else { &small };
                b.put(&key, r).await.unwrap();
            }
        })
    };
    let mut reads = 0;
    while !writer.is_finished() || reads < 20 {
        if let Some(got) = b.get(&key).await.unwrap() {
            assert!(got.is_intact(), "bytes match their checksum");
            assert!(got == small || got == large, "one whole version");
        }
        reads += 1;
    }
    writer.await.unwrap();
    assert!(b.delete(&key).await.unwrap());
}

/// A sweep down to a few bytes keeps the most recently stored renders.
async fn sweep_keeps_the_newest_within_the_bytes(b: &dyn RenderStore) {
    for (i, variant) in ["old", "mid", "new"].iter().enumerate() {
        let key = Key::new("conformance-sweep", variant);
        let when = format!("2026-11-22T17:1{i}:00Z");
        b.put(&key, &sample(40_000, 3, &when)).await.unwrap();
        // Stored times must differ for "newest" to mean anything.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before = b.list(None).await.unwrap().len();
    let sweep = sweep_to(b, 100_000).await;
    assert!(sweep.removed >= 1, "something was swept: {sweep:?}");
    assert!(sweep.kept_bytes <= 100_000, "within the bytes: {sweep:?}");
    let left = b.list(Some("conformance-sweep")).await.unwrap();
    let names: Vec<&str> = left.iter().map(|l| l.key.variant()).collect();
    assert!(names.contains(&"new"), "the newest is kept: {names:?}");
    assert!(!names.contains(&"old"), "the oldest goes first: {names:?}");
    assert_eq!(b.list(None).await.unwrap().len(), before - sweep.removed);
    assert_eq!(
        sweep.kept,
        before - sweep.removed,
        "kept counts what is left"
    );
}

/// A render served after the others were stored outlives them in a sweep:
/// the renders nobody asks for again leave first.
async fn sweep_keeps_what_was_used_last(b: &dyn RenderStore) {
    let key = |variant| Key::new("conformance-used", variant);
    assert!(
        !b.touch(&key("none")).await.unwrap(),
        "touch of a missing key"
    );
    for (i, variant) in ["asked", "idle-1", "idle-2"].iter().enumerate() {
        let when = format!("2026-11-22T17:2{i}:00Z");
        b.put(&key(variant), &sample(40_000, 5, &when))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(b.touch(&key("asked")).await.unwrap(), "touch of a render");
    let sweep = sweep_to(b, 100_000).await;
    let left = b.list(Some("conformance-used")).await.unwrap();
    let names: Vec<&str> = left.iter().map(|l| l.key.variant()).collect();
    assert!(
        names.contains(&"asked"),
        "the render used last is kept: {names:?} after {sweep:?}"
    );
    assert!(
        !names.contains(&"idle-1"),
        "the render used longest ago goes: {names:?}"
    );
    let asked = b.get(&key("asked")).await.unwrap().expect("still readable");
    assert_eq!(
        asked,
        sample(40_000, 5, "2026-11-22T17:20:00Z"),
        "touch keeps the bytes"
    );
}

async fn documents_round_trip(b: &dyn DocumentStore) {
    assert_eq!(
        b.get_document("conformance-doc").await.unwrap(),
        None,
        "a missing document"
    );
    b.put_document("conformance-doc", b"{\"v\":1}")
        .await
        .unwrap();
    b.put_document("conformance-doc", b"{\"v\":2}")
        .await
        .unwrap();
    assert_eq!(
        b.get_document("conformance-doc").await.unwrap().as_deref(),
        Some(&b"{\"v\":2}"[..]),
        "the last document put"
    );
    assert!(
        b.put_document("../escape", b"x").await.is_err(),
        "a name that is not [a-z0-9-] is refused"
    );
}

async fn blobs_round_trip(b: &dyn BlobStore) {
    assert!(
        b.open_blob("conformance-blob").await.unwrap().is_none(),
        "a missing blob"
    );
    let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    for round in 0..2u8 {
        let mut file = tempfile::NamedTempFile::new_in(b.scratch_dir()).unwrap();
        std::io::Write::write_all(&mut file, &body).unwrap();
        std::io::Write::write_all(&mut file, &[round]).unwrap();
        let (_, path) = file.keep().unwrap();
        let len = b.put_blob("conformance-blob", &path).await.unwrap();
        assert_eq!(len, body.len() as u64 + 1, "put_blob returns the size");
    }
    let blob = b
        .open_blob("conformance-blob")
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(
        blob.len,
        body.len() as u64 + 1,
        "the size comes with the stream"
    );
    let read = blob.read_all().await.unwrap();
    assert_eq!(&read[..body.len()], &body[..], "the bytes round-trip");
    assert_eq!(read.last(), Some(&1), "the second put replaced the first");
    let scratch = tempfile::NamedTempFile::new_in(b.scratch_dir()).unwrap();
    assert!(
        b.put_blob("../escape", scratch.path()).await.is_err(),
        "a bad name is refused"
    );
    assert!(b.delete_blob("conformance-blob").await.unwrap(), "deleted");
    assert!(
        !b.delete_blob("conformance-blob").await.unwrap(),
        "already gone"
    );
    assert!(
        b.open_blob("conformance-blob").await.unwrap().is_none(),
        "gone after delete"
    );
}

/// Renders, documents and blobs side by side: a sweep of the renders down
/// to nothing keeps the others, and neither lists as a render.
async fn sweeps_spare_documents_and_blobs(b: &dyn Backend) {
    let key = Key::new("conformance-spared", "png-0");
    b.put(&key, &sample(1_000, 7, "2026-11-22T17:00:00Z"))
        .await
        .unwrap();
    b.put_document("conformance-kept", b"{}").await.unwrap();
    let mut file = tempfile::NamedTempFile::new_in(b.scratch_dir()).unwrap();
    std::io::Write::write_all(&mut file, b"a result").unwrap();
    let (_, path) = file.keep().unwrap();
    b.put_blob("conformance-kept", &path).await.unwrap();
    assert!(!b.list(None).await.unwrap().is_empty(), "a render to sweep");
    sweep_to(b, 0).await;
    assert!(
        b.get_document("conformance-kept").await.unwrap().is_some(),
        "a sweep down to nothing keeps documents"
    );
    assert!(
        b.open_blob("conformance-kept").await.unwrap().is_some(),
        "sweeps keep blobs"
    );
    let listed = b.list(None).await.unwrap();
    assert!(
        listed.is_empty(),
        "documents and blobs are not renders: {listed:?}"
    );
    assert!(b.delete_blob("conformance-kept").await.unwrap());
}

/// Sweeps `b` down to `max_bytes`, keeping a day's renders by age.
async fn sweep_to(b: &dyn RenderStore, max_bytes: u64) -> super::Sweep {
    let retention = Retention {
        max_bytes,
        max_age: Duration::from_secs(86_400),
    };
    b.sweep(retention).await.unwrap()
}
