//! Every input kept in `fuzz/regressions/<target>/` (crashes the fuzzers
//! found, and hand-written hostile cases) runs through the same entry point
//! as its fuzz target, so a fixed crash stays fixed without a nightly build.

use std::path::Path;

fn run(target: &str, entry: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target);
    let mut count = 0;
    for file in std::fs::read_dir(&dir).unwrap().flatten() {
        let data = std::fs::read(file.path()).unwrap();
        let name = file.path().display().to_string();
        let caught = std::panic::catch_unwind(|| entry(&data));
        assert!(caught.is_ok(), "{name} panics");
        count += 1;
    }
    count
}

#[test]
fn extract_regressions() {
    assert!(run("extract", inkspot::fuzz::extract) > 0);
}

#[test]
fn config_regressions() {
    assert!(run("config", inkspot::fuzz::config) > 0);
}

#[test]
fn query_regressions() {
    assert!(run("query", inkspot::fuzz::query) > 0);
}
