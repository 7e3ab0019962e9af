//! A newcomer's first minutes with the binary: the offline demo as the
//! README shows it, the README's first spot as printed, failures that say
//! what to do next, and `check` catching what would fail later.

mod blocks;
mod curl;
mod docs;

use std::process::Command;

use crate::common::*;

/// The offline demo's `[clock] now` holds the clock at the morning its
/// recordings describe: a render without `--now` is that morning's, and
/// `--now` still overrides it.
#[test]
fn the_offline_demo_draws_the_morning_of_its_recordings() {
    let site = Site::new();
    let config = repo_path("examples/offline.toml");
    let config = config.to_str().unwrap();
    let render = |extra: &[&str], out: &str| {
        let mut args = vec![
            "render",
            "--config",
            config,
            "--spot",
            "linda-mar",
            "-o",
            out,
        ];
        args.extend(extra);
        let run = inkspot(&site, &args);
        assert!(run.status.success(), "{}", text(&run.stderr));
        std::fs::read(site.path().join(out)).unwrap()
    };
    let default = render(&[], "default.png");
    let morning = render(&["--now", "2026-11-22T17:30:00Z"], "morning.png");
    let later = render(&["--now", "2026-11-24T17:30:00Z"], "later.png");
    assert_eq!(default, morning, "the config's clock is that morning");
    assert_ne!(default, later, "--now overrides it");
}

/// When every source of a spot fails, the service says so in one log line
/// naming what failed, once rather than once per client or source; a
/// missing file is no network problem, so no hint about the network.
#[tokio::test]
async fn the_service_log_says_what_to_do_when_every_source_fails() {
    let site = Site::new();
    site.write_bar_config("file://missing.html", "");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_inkspot"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .current_dir(site.path())
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/image?spot=linda-mar");
    let mut status = None;
    for _ in 0..100 {
        if let Ok(r) = client().get(&url).send().await {
            status = Some(r.status());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(status.map(|s| s.as_u16()), Some(503));
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let log = text(&out.stderr);
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("every source failed"))
        .collect();
    assert_eq!(lines.len(), 1, "{log}");
    assert!(lines[0].contains("missing.html"), "{log}");
    assert!(!log.contains("no network?"), "{log}");
    // And at start-up, the first image to ask for.
    let try_it = format!(
        "try: curl --fail-with-body -o linda-mar.png 'http://127.0.0.1:{port}/image?spot=linda-mar'"
    );
    assert!(log.contains(&try_it), "{log}");
}

/// A spot key that no template or source URL reads is most likely a typo:
/// `check` says so (and still passes: it may be read by a template to come).
#[test]
fn check_flags_spot_keys_that_nothing_reads() {
    let site = Site::new();
    site.write_bar_config("file://page.html", "");
    let config = std::fs::read_to_string(site.config_path())
        .unwrap()
        .replace(
            "height = 240\n",
            "height = 240\ntide_staton = \"9414131\"\n",
        );
    site.write_config(&config);
    let out = inkspot(&site, &["check"]);
    assert!(out.status.success(), "{}", text_of(&out));
    assert!(
        text(&out.stdout).contains(
            "warn spot `Linda Mar`: no template or source URL reads `spot.tide_staton`; is `tide_staton` misspelt?"
        ),
        "{}",
        text_of(&out)
    );
}

/// The README's first template and spot work as printed: rendered from a
/// recorded answer in place of the live URL, they show its value.
#[test]
fn the_readmes_first_spot_renders() {
    let readme = std::fs::read_to_string(repo_path("README.md")).unwrap();
    let block = |marker: &str| {
        let after = &readme[readme.find(marker).expect(marker)..];
        let body = &after[after.find('\n').unwrap() + 1..];
        let body = &body[body.find('\n').unwrap() + 1..];
        body[..body.find("```").unwrap()].to_string()
    };
    let site = Site::new();
    std::fs::create_dir_all(site.path().join("templates")).unwrap();
    std::fs::write(
        site.path().join("templates/hello.svg"),
        block("<!-- template: hello -->"),
    )
    .unwrap();
    let config = block("<!-- hello-config -->");
    let live = config.lines().find(|l| l.starts_with("url = ")).unwrap();
    site.write_config(&config.replace(live, "url = \"file://weather.json\""));
    std::fs::write(
        site.path().join("weather.json"),
        r#"{"current_units":{"temperature_2m":"°F"},"current":{"time":"2026-11-22T09:00","temperature_2m":61.7}}"#,
    )
    .unwrap();
    let out = inkspot(
        &site,
        &[
            "render",
            "--spot",
            "Home",
            "-o",
            "hello.png",
            "--svg",
            "hello.svg",
        ],
    );
    assert!(out.status.success(), "{}", text_of(&out));
    let svg = std::fs::read_to_string(site.path().join("hello.svg")).unwrap();
    assert!(svg.contains("62°F"), "{svg}");
    let image = decode_png(&std::fs::read(site.path().join("hello.png")).unwrap());
    assert_eq!((image.width, image.height), (800, 480));
}

/// A template whose output is not SVG fails `check`, which names the
/// template line that wrote the bad output, instead of failing every
/// device later.
#[test]
fn check_parses_the_filled_svg_and_names_the_template_line() {
    let site = Site::new();
    std::fs::create_dir_all(site.path().join("templates")).unwrap();
    std::fs::write(
        site.path().join("templates/bad.svg"),
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"800\" height=\"480\">\n  <rect width=\"800\" height=\"480\" fill=\"#fff\"/>\n  {# a comment #}\n  <text x=\"10\" y=\"40\">{{ spot.name }}</txt>\n</svg>\n",
    )
    .unwrap();
    site.write_config("[[spots]]\nname = \"A\"\ntemplate = \"bad\"\n");
    let out = inkspot(&site, &["check"]);
    assert!(!out.status.success());
    let stdout = text(&out.stdout);
    assert!(stdout.contains("FAIL template bad.svg for A"), "{stdout}");
    assert!(stdout.contains("not 'txt'"), "{stdout}");
    assert!(
        stdout.contains("written by line 4 of the template"),
        "{stdout}"
    );
}

/// The offline demo's way of naming its database (`examples/../cache/..`,
/// relative to a config given by a relative path, from another folder)
/// opens the file where it points: `/status` shows nothing degraded and
/// devices can join.
#[tokio::test]
async fn a_database_under_a_relative_path_with_dots_opens_where_it_points() {
    let root = tempfile::tempdir().unwrap();
    let site = root.path().join("site");
    std::fs::create_dir_all(site.join("examples")).unwrap();
    std::fs::create_dir_all(root.path().join("elsewhere")).unwrap();
    std::fs::create_dir_all(site.join("templates")).unwrap();
    std::fs::write(site.join("templates/bar.svg"), BAR_TEMPLATE).unwrap();
    std::fs::copy(
        repo_path("templates/error.svg"),
        site.join("templates/error.svg"),
    )
    .unwrap();
    std::fs::write(site.join("examples/page.html"), report_page("2.0", "Dots")).unwrap();
    let config = format!(
        "[cache]\ndir = \"../cache/offline\"\n[templates]\ndir = \"../templates\"\n[trmnl]\nauto_join = true\n{}",
        bar_spot("Linda Mar", "file://page.html", "")
    );
    std::fs::write(site.join("examples/demo.toml"), config).unwrap();
    let port = free_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_inkspot"));
    command
        .args(["--config", "../site/examples/../examples/demo.toml"])
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .current_dir(root.path().join("elsewhere"));
    let server = Binary::start(command);
    let base = format!("http://127.0.0.1:{port}");
    wait_up(&base).await;
    let status: serde_json::Value = client()
        .get(format!("{base}/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["state"], "ok", "{status}");
    let mut fw = crate::common::firmware::Firmware::new(&base, "AA:BB:CC:DD:EE:51", "og");
    assert_eq!(fw.setup().await["status"], 200);
    let log = server.kill();
    assert!(!log.contains("cannot open the database"), "{log}");
    assert!(site.join("cache/offline/inkspot.db").is_file(), "{log}");
    assert!(!root.path().join("elsewhere/cache").exists());
}

/// The README's `[[devices]]` example, pasted under the shipped config,
/// passes `check`: its playlist names spots the config has.
#[test]
fn the_readmes_device_example_passes_check_with_the_shipped_config() {
    let readme = std::fs::read_to_string(repo_path("README.md")).unwrap();
    let start = readme
        .find("```toml\n[[devices]]")
        .expect("the device example");
    let block = &readme[start + "```toml\n".len()..];
    let block = &block[..block.find("```").unwrap()];
    let dir = tempfile::tempdir().unwrap();
    let shipped = std::fs::read_to_string(repo_path("config.toml")).unwrap();
    std::fs::write(
        dir.path().join("config.toml"),
        format!("{shipped}\n{block}"),
    )
    .unwrap();
    std::os::unix::fs::symlink(repo_path("templates"), dir.path().join("templates")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_inkspot"))
        .args(["check"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text_of(&out));
}

/// A template reading `data.<id>` that the spot has no source for (a
/// typo) is named, with the spot's sources, in `check` and in the log.
#[test]
fn a_template_reading_a_source_the_spot_lacks_is_named() {
    let site = Site::new();
    site.write_bar_config("file://page.html", "");
    let bar = std::fs::read_to_string(site.path().join("templates/bar.svg")).unwrap();
    std::fs::write(
        site.path().join("templates/bar.svg"),
        bar.replace("{{ data.report.headline }}", "{{ data.reprot.headline }}"),
    )
    .unwrap();
    let out = inkspot(&site, &["check"]);
    let said = text_of(&out);
    assert!(said.contains("`data.reprot`"), "{said}");
    assert!(said.contains("did you mean `report`?"), "{said}");
}
