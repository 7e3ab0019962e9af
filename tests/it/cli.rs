//! The `inkspot` binary itself: render, check and help, as a user runs them.

use std::process::Command;

use crate::common::*;

#[test]
fn render_writes_one_png_without_a_server() {
    let site = Site::new();
    std::fs::write(site.path().join("page.html"), report_page("2.2", "Offline")).unwrap();
    site.write_bar_config("file://page.html", "");
    let out = inkspot(
        &site,
        &["render", "--spot", "Linda Mar", "--out", "out.png"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let image = decode_png(&std::fs::read(site.path().join("out.png")).unwrap());
    assert_eq!((image.width, image.height), (400, 240));
    assert!((219..=221).contains(&image.dark_in_row(20)));
}

#[test]
fn render_fails_with_a_message_when_every_source_fails() {
    let site = Site::new();
    site.write_bar_config("file://missing.html", "");
    let out = inkspot(
        &site,
        &["render", "--spot", "linda-mar", "--out", "out.png"],
    );
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("missing.html"), "{err}");
    assert!(
        !err.contains("no network?"),
        "a missing file is no network problem: {err}"
    );
    assert!(!site.path().join("out.png").exists());

    let out = inkspot(&site, &["render", "--spot", "nowhere", "--out", "out.png"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("unknown spot `nowhere`; configured: Linda Mar"));
}

#[test]
fn check_names_the_key_and_line_of_a_mistake() {
    let site = Site::new();
    site.write_config(
        "[cache]\nmax_age = \"1h\"\n\n[[spots]]\nname = \"A\"\ntemplate = \"bar\"\nwidth = 9000\n",
    );
    let out = inkspot(&site, &["check"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("line 7: `spots[0].width`: 9000 is out of range"),
        "{err}"
    );
}

#[test]
fn check_fetch_prints_each_field_or_why_it_is_missing() {
    let site = Site::new();
    std::fs::write(site.path().join("page.html"), "<h1>Hi</h1>").unwrap();
    site.write_bar_config("file://page.html", "");
    let out = inkspot(&site, &["check", "--fetch"]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("ok   template bar.svg for Linda Mar"),
        "{stdout}"
    );
    assert!(stdout.contains("report.headline = \"Hi\""), "{stdout}");
    assert!(
        stdout.contains("report.wave = none (no element matches `#waves .value`)"),
        "{stdout}"
    );
    assert!(
        !out.status.success(),
        "a missing field is a problem worth an exit code"
    );
}

#[test]
fn config_comes_from_the_environment_too() {
    let site = Site::new();
    site.write_bar_config("file://page.html", "");
    std::fs::rename(site.config_path(), site.path().join("other.toml")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_inkspot"))
        .arg("check")
        .current_dir(site.path())
        .env("INKSPOT_CONFIG", "other.toml")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn help_documents_every_subcommand() {
    let site = Site::new();
    let help = text(&inkspot(&site, &["--help"]).stdout);
    for cmd in [
        "serve",
        "render",
        "check",
        "healthcheck",
        "--config",
        "--log-format",
    ] {
        assert!(help.contains(cmd), "{cmd} missing from:\n{help}");
    }
}

// Multi-threaded: the blocking command below must not stall the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_exits_zero_only_when_the_service_answers() {
    let site = Site::new();
    std::fs::write(site.path().join("page.html"), report_page("2.0", "x")).unwrap();
    site.write_bar_config("file://page.html", "");
    let app = App::start(&site).await;
    let url = format!("{}/healthz", app.url);
    let ok = inkspot(&site, &["healthcheck", "--url", &url]);
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    app.stop().await;
    let down = inkspot(&site, &["healthcheck", "--url", &url]);
    assert!(!down.status.success(), "nothing listens any more");
    assert!(
        text(&down.stderr).contains("nothing is listening at"),
        "{}",
        text(&down.stderr)
    );
}

/// `status` and `healthcheck` take the service's base URL as well as the
/// endpoint's, and `status` in the folder of a config with an admin token
/// uses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_commands_take_a_base_url_and_the_configs_token() {
    let site = Site::new();
    std::fs::write(site.path().join("page.html"), report_page("2.0", "x")).unwrap();
    site.write_bar_config(
        "file://page.html",
        "[server]\nadmin_token = \"an-admin-token-for-the-tests\"\n",
    );
    let app = App::start(&site).await;
    let base = app.url.clone();
    let run = |args: Vec<String>| {
        let site_path = site.path().to_path_buf();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_inkspot"))
                .args(&args)
                .current_dir(site_path)
                .env_remove("INKSPOT_ADMIN_TOKEN")
                .output()
                .unwrap()
        })
    };
    let health = run(vec!["healthcheck".into(), "--url".into(), base.clone()])
        .await
        .unwrap();
    assert!(health.status.success(), "{}", text_of(&health));
    let status = run(vec!["status".into(), "--url".into(), base.clone()])
        .await
        .unwrap();
    assert!(status.status.success(), "{}", text_of(&status));
    assert!(
        text(&status.stdout).contains("linda-mar") || text(&status.stdout).contains("Linda Mar")
    );
    app.stop().await;
}

/// A taken port and a missing config file say what to do next.
#[test]
fn a_taken_port_and_a_missing_config_say_what_to_do() {
    let site = Site::new();
    std::fs::write(site.path().join("page.html"), report_page("2.0", "x")).unwrap();
    site.write_bar_config("file://page.html", "");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = inkspot(&site, &["serve", "--listen", &addr]);
    assert!(!out.status.success());
    let said = text_of(&out);
    assert!(
        said.contains("another inkspot?") && said.contains("--listen"),
        "{said}"
    );
    let empty = Site::new();
    let out = inkspot(&empty, &["check"]);
    let said = text_of(&out);
    assert!(!out.status.success());
    assert!(
        said.contains("looked in") && said.contains("INKSPOT_CONFIG"),
        "{said}"
    );
}

#[test]
fn render_takes_a_device_options_and_writes_the_filled_svg() {
    let site = Site::new();
    std::fs::write(site.path().join("page.html"), report_page("2.2", "Options")).unwrap();
    site.write_bar_config("file://page.html", "");
    let out = inkspot(
        &site,
        &[
            "render",
            "--spot",
            "linda-mar",
            "--device",
            "trmnl-bmp",
            "--set",
            "invert=true",
            "-o",
            "out.bmp",
            "--svg",
            "out.svg",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let bmp = std::fs::read(site.path().join("out.bmp")).unwrap();
    assert_eq!(bmp.len(), 48_062);
    let img = image::load_from_memory(&bmp).unwrap().to_luma8();
    // Inverted: the 400x240 template is drawn at 2x, its white page is black.
    assert_eq!(img.get_pixel(790, 10).0[0], 0);
    let svg = std::fs::read_to_string(site.path().join("out.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("Options"), "{svg}");

    let bad = inkspot(
        &site,
        &[
            "render",
            "--spot",
            "linda-mar",
            "--set",
            "bits=3",
            "--out",
            "x.png",
        ],
    );
    assert!(!bad.status.success());
    assert!(text(&bad.stderr).contains("invalid `bits`: `3`; allowed: 1, 2, 4, 8"));
}

/// `inkspot render` and `/image` go through one pipeline: with the same
/// data and the same time, the same request gives the same bytes.
#[tokio::test]
async fn render_and_the_service_give_the_same_bytes() {
    let now = "2026-11-22T17:30:00Z";
    let cache = tempfile::tempdir().unwrap();
    let mut config = inkspot::load_config(&repo_path("examples/offline.toml")).unwrap();
    config.cache.dir = cache.path().to_path_buf();
    let clock = inkspot::clock::ManualClock::new(now.parse().unwrap());
    let app = App::start_config(config, std::sync::Arc::new(clock)).await;
    let served = app.get("/image?spot=linda-mar&device=trmnl", &[]).await;
    assert_eq!(served.status(), 200);
    let served = served.bytes().await.unwrap();
    app.stop().await;

    let out = tempfile::tempdir().unwrap();
    let render_at = |when: &str, file: &str| {
        let path = out.path().join(file);
        let run = Command::new(env!("CARGO_BIN_EXE_inkspot"))
            .args(["--config", "examples/offline.toml", "--now", when, "render"])
            .args(["--spot", "Linda Mar", "--device", "trmnl", "--out"])
            .arg(&path)
            .current_dir(repo_path(""))
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        assert!(run.status.success(), "{}", text(&run.stderr));
        std::fs::read(path).unwrap()
    };
    let rendered = render_at(now, "same.png");
    assert!(decode_png(&rendered).width == 800);
    assert!(
        rendered == served,
        "the same request and data differ in bytes"
    );
    // The time is drawn on the report, so the comparison above is not
    // trivially true: another time gives other bytes.
    let later = render_at("2026-11-23T01:05:00Z", "later.png");
    assert!(later != served);
}

/// `check --fetch` asks every source now: the server's memory of a source
/// that just failed does not hide the second spot's own answer.
#[test]
fn check_fetch_asks_every_source_without_the_failure_memory() {
    let site = Site::new();
    site.write_spots_config(
        &[("A", "file://missing.html"), ("B", "file://missing.html")],
        "",
    );
    let out = inkspot(&site, &["check", "--fetch"]);
    assert!(!out.status.success());
    let stdout = text(&out.stdout);
    assert_eq!(
        stdout.matches("report FAILED: cannot read").count(),
        2,
        "{stdout}"
    );
    assert!(!stdout.contains("not asked again"), "{stdout}");
}

/// `--out -` writes the image to standard output, and the summary to
/// standard error; the earlier `--option` still works, with a warning.
#[test]
fn render_to_standard_output() {
    let site = Site::new();
    std::fs::write(site.path().join("page.html"), report_page("2.2", "Pipe")).unwrap();
    site.write_bar_config("file://page.html", "");
    let out = inkspot(
        &site,
        &[
            "render",
            "--spot",
            "linda-mar",
            "--option",
            "bits=1",
            "-o",
            "-",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let image = decode_png(&out.stdout);
    assert_eq!((image.width, image.height), (400, 240));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("wrote standard output"), "{stderr}");
    assert!(stderr.contains("--option is now --set"), "{stderr}");
    assert!(!site.path().join("-").exists(), "no file named `-`");
}

/// Output files get 0666 less the umask, as any tool's: readable by a web
/// server under the usual umask, private under a strict one.
#[cfg(unix)]
#[rstest::rstest]
#[case("022", 0o644)]
#[case("077", 0o600)]
fn render_writes_files_with_the_umask(#[case] umask: &str, #[case] mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let site = Site::new();
    std::fs::write(site.path().join("page.html"), report_page("2.2", "Mode")).unwrap();
    site.write_bar_config("file://page.html", "");
    let script = format!("umask {umask} && exec \"$0\" render --spot linda-mar --out out.png",);
    let out = Command::new("sh")
        .args(["-c", &script, env!("CARGO_BIN_EXE_inkspot")])
        .current_dir(site.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let meta = std::fs::metadata(site.path().join("out.png")).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, mode);
}

/// Logs carry no colour codes when they do not go to a terminal.
#[test]
fn logs_have_no_colour_codes_off_a_terminal() {
    let site = Site::new();
    std::fs::write(site.path().join("page.html"), report_page("2.2", "Log")).unwrap();
    site.write_bar_config("file://page.html", "");
    let out = Command::new(env!("CARGO_BIN_EXE_inkspot"))
        .args(["render", "--spot", "linda-mar", "--out", "out.png"])
        .current_dir(site.path())
        .env("RUST_LOG", "debug")
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("DEBUG"),
        "debug logs were written: {stderr}"
    );
    assert!(!stderr.contains('\u{1b}'), "no escape codes: {stderr:?}");
}

/// A container gives the shared services in its environment, so the one
/// shipped config serves replicas too: `INKSPOT_STORAGE_*` and
/// `INKSPOT_TRUSTED_PROXIES` fill what the file leaves out, and are
/// checked as the keys they stand for.
#[test]
fn the_environment_gives_the_storage_the_file_leaves_out() {
    let site = Site::new();
    site.write_bar_config("http://127.0.0.1:9/report", "");
    let check = |env: &[(&str, &str)]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_inkspot"))
            .arg("check")
            .current_dir(site.path())
            .envs(env.iter().copied())
            .output()
            .unwrap();
        (out.status.success(), text_of(&out))
    };
    let (ok, text) = check(&[("INKSPOT_STORAGE_BACKEND", "s3")]);
    assert!(!ok && text.contains("storage.bucket"), "{text}");
    let (ok, text) = check(&[("INKSPOT_STORAGE_BACKEND", "tape")]);
    assert!(
        !ok && text.contains("INKSPOT_STORAGE_BACKEND must be"),
        "{text}"
    );
    let (ok, text) = check(&[
        ("INKSPOT_STORAGE_BACKEND", "s3"),
        ("INKSPOT_STORAGE_BUCKET", "renders"),
        ("INKSPOT_STORAGE_ENDPOINT", "seaweedfs:8333"),
    ]);
    assert!(!ok && text.contains("storage.endpoint"), "{text}");
    let (ok, text) = check(&[
        ("INKSPOT_STORAGE_BACKEND", "s3"),
        ("INKSPOT_STORAGE_BUCKET", "renders"),
        ("INKSPOT_STORAGE_ENDPOINT", "http://seaweedfs:8333"),
    ]);
    assert!(ok, "{text}");
    let (ok, text) = check(&[("INKSPOT_TRUSTED_PROXIES", "10.0.0.0/8, fd00::/8,172.18.0.7")]);
    assert!(ok, "{text}");
    let (ok, text) = check(&[("INKSPOT_TRUSTED_PROXIES", "10.0.0.0/8,caddy")]);
    assert!(
        !ok && text.contains("server.trusted_proxies")
            && text.contains("INKSPOT_TRUSTED_PROXIES")
            && text.contains("caddy"),
        "{text}"
    );
}

/// `check --fetch` fills the templates with the data fetched, so a branch
/// the empty fill never reaches is tried; `--spot` checks one spot alone.
#[test]
fn check_fetch_fills_templates_with_the_data_and_takes_one_spot() {
    let site = Site::new();
    std::fs::write(site.path().join("calm.html"), report_page("2.0", "calm")).unwrap();
    std::fs::write(site.path().join("big.html"), report_page("6.0", "big")).unwrap();
    let fragile = BAR_TEMPLATE.replace(
        "{{ data.report.headline }}",
        "{% if data.report.wave > 5 %}{{ data.report.wave | no_such_filter }}{% endif %}",
    );
    std::fs::write(site.path().join("templates/bar.svg"), fragile).unwrap();
    site.write_spots_config(
        &[("Calm", "file://calm.html"), ("Big", "file://big.html")],
        "",
    );
    let empty = inkspot(&site, &["check"]);
    assert!(
        empty.status.success(),
        "the empty fill passes: {}",
        text_of(&empty)
    );
    let fetched = inkspot(&site, &["check", "--fetch"]);
    let said = text_of(&fetched);
    assert!(!fetched.status.success(), "{said}");
    assert!(said.contains("FAIL template bar.svg for Big"), "{said}");
    assert!(said.contains("no_such_filter"), "{said}");
    let calm = inkspot(&site, &["check", "--fetch", "--spot", "calm"]);
    assert!(calm.status.success(), "{}", text_of(&calm));
    assert!(!text_of(&calm).contains("Big"), "{}", text_of(&calm));
    let nope = inkspot(&site, &["check", "--spot", "Nowhere"]);
    assert!(!nope.status.success());
    assert!(
        text_of(&nope).contains("spots: Calm, Big"),
        "{}",
        text_of(&nope)
    );
}

/// A source error names the URL as asked, its `{{ }}` filled and its key
/// redacted.
#[test]
fn check_fetch_names_the_url_asked_without_its_secrets() {
    let site = Site::new();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/station/{{{{ spot.station }}}}?appid=s3cret");
    site.write_config(&bar_spot("Linda Mar", &url, "station = \"46012\""));
    let out = inkspot(&site, &["check", "--fetch"]);
    let stdout = text(&out.stdout);
    let asked = format!("(GET http://127.0.0.1:{port}/station/46012?appid=REDACTED)");
    assert!(stdout.contains(&asked), "{stdout}");
    assert!(!stdout.contains("s3cret"), "{stdout}");
}
