//! Unit tests of the disk backend's own rules: retention and debris.

use std::path::Path;

use super::*;
use crate::store::MediaType;
use chrono::Utc;

fn render(len: usize) -> Rendered {
    Rendered::new(vec![7; len], MediaType::Png, Utc::now(), Utc::now(), false)
}

fn age(path: &Path, by: Duration) {
    let file = std::fs::File::options().append(true).open(path).unwrap();
    file.set_modified(SystemTime::now() - by).unwrap();
}

fn variants(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir.join("spot"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter_map(|n| n.strip_suffix(".meta.json").map(str::to_string))
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn sweep_drops_old_renders_then_the_oldest_until_under_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let disk = DiskBackend::new(dir.path().to_path_buf());
    disk.open().await.unwrap();
    // v0 is newest; each later one is an hour older; v4 is 9 days old.
    for i in 0..5 {
        disk.put(&Key::new("spot", &format!("v{i}")), &render(10_000))
            .await
            .unwrap();
        let (folder, meta) = disk.paths(&Key::new("spot", &format!("v{i}")));
        let by = Duration::from_secs(if i == 4 { 9 * 86_400 } else { i * 3600 });
        for image in images_of(&folder, &format!("v{i}")).unwrap() {
            age(&image, by);
        }
        age(&meta, by);
    }
    let week = Duration::from_secs(7 * 86_400);
    let sweep = disk
        .sweep(Retention {
            max_bytes: u64::MAX,
            max_age: week,
        })
        .await
        .unwrap();
    assert_eq!(sweep.removed, 1);
    assert_eq!(variants(dir.path()), ["v0", "v1", "v2", "v3"]);

    // Room for two renders (each 10,000 bytes of image plus metadata).
    let sweep = disk
        .sweep(Retention {
            max_bytes: 25_000,
            max_age: week,
        })
        .await
        .unwrap();
    assert_eq!(sweep.removed, 2);
    assert_eq!(variants(dir.path()), ["v0", "v1"]);
    assert!(sweep.kept_bytes <= 25_000 && sweep.kept_bytes > 20_000);
    assert!(disk.get(&Key::new("spot", "v0")).await.unwrap().is_some());
    assert!(disk.get(&Key::new("spot", "v2")).await.unwrap().is_none());
}

#[tokio::test]
async fn an_old_image_without_metadata_is_debris_and_a_new_one_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let disk = DiskBackend::new(dir.path().to_path_buf());
    disk.open().await.unwrap();
    std::fs::create_dir(dir.path().join("spot")).unwrap();
    let old = dir.path().join("spot/old.img");
    let new = dir.path().join("spot/new.img");
    std::fs::write(&old, b"x").unwrap();
    std::fs::write(&new, b"x").unwrap();
    age(&old, Duration::from_secs(3600));
    let sweep = disk
        .sweep(Retention {
            max_bytes: u64::MAX,
            max_age: Duration::from_secs(86_400),
        })
        .await
        .unwrap();
    assert_eq!(sweep.removed, 1);
    assert!(!old.exists() && new.exists());
}

#[tokio::test]
async fn a_render_in_the_earlier_layout_is_read_and_replaced_on_the_next_write() {
    let dir = tempfile::tempdir().unwrap();
    let disk = DiskBackend::new(dir.path().to_path_buf());
    disk.open().await.unwrap();
    let key = Key::new("spot", "v0");
    let old = render(100);
    let folder = dir.path().join("spot");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("v0.img"), &old.bytes).unwrap();
    std::fs::write(
        folder.join("v0.meta.json"),
        serde_json::to_vec(&old.meta).unwrap(),
    )
    .unwrap();
    assert_eq!(disk.get(&key).await.unwrap(), Some(old));

    let new = render(50);
    disk.put(&key, &new).await.unwrap();
    assert_eq!(disk.get(&key).await.unwrap(), Some(new.clone()));
    let images = images_of(&folder, "v0").unwrap();
    assert_eq!(images, [image_path(&folder, "v0", &new.meta.checksum)]);
}
