//! The shared harness of the integration tests: a folder with a config and
//! templates, the real service on 127.0.0.1:0, fixture upstreams (wiremock)
//! on random ports, and a PNG decoder.
#![allow(dead_code)]

pub mod jobs;

// The servers and fixtures the tests start, from the test kit; each test
// binary uses some of them.
#[allow(unused_imports)]
pub use inkspot_testkit::{
    client, faulty, firmware, free_port, postgres, prom, redis, report_page, seaweed, tls,
};

use std::path::{Path, PathBuf};
use std::sync::Arc;

use inkspot::Engine;
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A test template: a black bar `wave * 100` pixels wide along the top, one
/// 10-pixel black square per error along the bottom, and the headline text.
pub const BAR_TEMPLATE: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" width="{{ spot.width }}" height="{{ spot.height }}">
<rect width="100%" height="100%" fill="#fff"/>
{% if data.report.wave is not none %}<rect x="0" y="0" width="{{ data.report.wave * 100 }}" height="40" fill="#000"/>{% endif %}
{% for e in errors %}<rect x="{{ loop.index0 * 20 }}" y="{{ spot.height - 10 }}" width="10" height="10" fill="#000"/>{% endfor %}
<text x="10" y="120" font-size="30">{{ data.report.headline }}</text>
</svg>"##;

/// A folder holding `config.toml` and `templates/`.
pub struct Site {
    pub dir: TempDir,
}

impl Site {
    /// A site with the bar template and the shipped error template.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let templates = dir.path().join("templates");
        std::fs::create_dir(&templates).unwrap();
        std::fs::write(templates.join("bar.svg"), BAR_TEMPLATE).unwrap();
        std::fs::copy(
            repo_path("templates/error.svg"),
            templates.join("error.svg"),
        )
        .unwrap();
        Self { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn config_path(&self) -> PathBuf {
        self.path().join("config.toml")
    }

    pub fn cache_dir(&self) -> PathBuf {
        self.path().join("cache")
    }

    /// Writes `config.toml`.
    pub fn write_config(&self, text: &str) {
        std::fs::write(self.config_path(), text).unwrap();
    }

    /// Writes a config with one spot `Linda Mar` (400×240, template `bar`)
    /// whose source `report` is an HTML page at `url`, plus `extra` TOML
    /// before the spot (e.g. a `[cache]` table).
    pub fn write_bar_config(&self, url: &str, extra: &str) {
        self.write_spots_config(&[("Linda Mar", url)], extra);
    }

    /// Like [`Site::write_bar_config`], with one bar spot per `(name, url)`.
    pub fn write_spots_config(&self, spots: &[(&str, &str)], extra: &str) {
        let mut text = format!("{extra}\n");
        for (name, url) in spots {
            text.push_str(&bar_spot(name, url, ""));
        }
        self.write_config(&text);
    }

    /// The number of render files in the cache folder: those in the
    /// spots' folders, not the documents beside them.
    pub fn cached_files(&self) -> usize {
        let Ok(entries) = std::fs::read_dir(self.cache_dir()) else {
            return 0;
        };
        entries
            .flatten()
            .filter(|e| e.path().is_dir())
            .map(|e| walk(&e.path()).0)
            .sum()
    }

    /// The bytes of every file in the cache folder.
    pub fn cached_bytes(&self) -> u64 {
        walk(&self.cache_dir()).1
    }
}

/// A `[[spots]]` table named `name` (400×240, template `bar`) with `keys`
/// added, whose source `report` is an HTML page at `url`.
pub fn bar_spot(name: &str, url: &str, keys: &str) -> String {
    format!(
        r##"
[[spots]]
name = "{name}"
template = "bar"
width = 400
height = 240
{keys}
[[spots.sources]]
id = "report"
url = "{url}"
format = "html"
[spots.sources.fields]
wave = {{ css = "#waves .value", type = "number" }}
headline = {{ css = "h1" }}
"##
    )
}

/// Files below `dir`, and their total size.
fn walk(dir: &Path) -> (usize, u64) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return (0, 0);
    };
    let mut total = (0, 0);
    for e in entries.flatten() {
        let meta = e.metadata().unwrap();
        let (files, bytes) = if meta.is_dir() {
            walk(&e.path())
        } else {
            (1, meta.len())
        };
        total = (total.0 + files, total.1 + bytes);
    }
    total
}

/// Sets the modification time of the file at `path` to `by` ago.
pub fn backdate(path: &Path, by: std::time::Duration) {
    let file = std::fs::File::options().append(true).open(path).unwrap();
    file.set_modified(std::time::SystemTime::now() - by)
        .unwrap();
}

/// Runs the `inkspot` binary in `site` with `args`, warnings logged.
pub fn inkspot(site: &Site, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_inkspot"))
        .args(args)
        .current_dir(site.path())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

/// Bytes a process wrote, as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// What a process wrote to both outputs, as text.
pub fn text_of(out: &std::process::Output) -> String {
    format!("{}{}", text(&out.stdout), text(&out.stderr))
}

/// A path inside the repository.
pub fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The service, running on a random loopback port.
pub struct App {
    pub url: String,
    /// The engine, as the service holds it.
    pub engine: Arc<Engine>,
    /// Every part of the service.
    pub service: inkspot::app::App,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl App {
    /// Loads the site's config and starts serving it.
    pub async fn start(site: &Site) -> Self {
        Self::start_with_clock(site, Arc::new(inkspot::clock::SystemClock)).await
    }

    /// Like [`App::start`], reading time from `clock`.
    pub async fn start_with_clock(site: &Site, clock: inkspot::clock::SharedClock) -> Self {
        let config = inkspot::load_config(&site.config_path()).expect("config loads");
        Self::start_config(config, clock).await
    }

    /// Like [`App::start_with_clock`], with scheduled refreshes as the
    /// config says (on by default). The other constructors turn them off,
    /// so that tests of requests count only the fetches requests cause.
    pub async fn start_scheduled(site: &Site, clock: inkspot::clock::SharedClock) -> Self {
        let config = inkspot::load_config(&site.config_path()).expect("config loads");
        Self::serve(config, clock).await
    }

    /// Serves an already loaded `config`, reading time from `clock`, with
    /// scheduled refreshes off, and no per-device rate limit (device tests
    /// poll until an image is drawn).
    pub async fn start_config(
        mut config: inkspot::Config,
        clock: inkspot::clock::SharedClock,
    ) -> Self {
        config.schedule.enabled = false;
        config.trmnl.rate_limit = 0;
        Self::serve(config, clock).await
    }

    async fn serve(config: inkspot::Config, clock: inkspot::clock::SharedClock) -> Self {
        let service = inkspot::app::App::with_clock(config, clock)
            .await
            .expect("the service starts");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(inkspot::http::serve(listener, service.clone(), async {
            let _ = rx.await;
        }));
        Self {
            url,
            engine: service.engine.clone(),
            service,
            stop: Some(tx),
            task: Some(task),
        }
    }

    /// The device registry; the test's database is always open.
    pub fn registry(&self) -> &inkspot::devices::Registry {
        self.service
            .devices
            .as_ref()
            .expect("the device database is open")
    }

    /// Stops the server and waits for it to drain.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }

    /// GET `path` with optional headers.
    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut req = client().get(format!("{}{path}", self.url));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send().await.unwrap()
    }

    /// GET `path` with the admin `token`, which must answer 200: its text.
    pub async fn text_as(&self, path: &str, token: &str) -> String {
        let bearer = format!("Bearer {token}");
        let r = self.get(path, &[("Authorization", bearer.as_str())]).await;
        assert_eq!(r.status(), 200, "{path}");
        r.text().await.unwrap()
    }

    /// GET `path` with the admin `token`, which must answer 200: its JSON.
    pub async fn json_as(&self, path: &str, token: &str) -> serde_json::Value {
        let text = self.text_as(path, token).await;
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"))
    }
}

/// A loopback port free a moment ago, for a server the test starts itself.
/// The config `toml` (a section or two) loads to, read as the file
/// `config.toml` in `dir` with a spot `A` on a template there, so paths in
/// it are relative to `dir`.
pub fn load_config(toml: &str, dir: &Path) -> inkspot::config::Config {
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::write(dir.join("templates/t.svg"), "<svg/>").unwrap();
    let text = format!("{toml}\n[[spots]]\nname = \"A\"\ntemplate = \"t\"\n");
    inkspot::config::Config::from_toml(&text, &dir.join("config.toml"), dir).unwrap()
}

/// A decoded PNG.
#[derive(Debug)]
pub struct Image {
    pub width: u32,
    pub height: u32,
    pub color: png::ColorType,
    pub depth: png::BitDepth,
    pub interlaced: bool,
    /// Luma of every pixel, 0 (black) to 255 (white), row by row.
    pub luma: Vec<u8>,
}

impl Image {
    pub fn at(&self, x: u32, y: u32) -> u8 {
        self.luma[(y * self.width + x) as usize]
    }

    /// Dark pixels (luma < 128) in row `y`.
    pub fn dark_in_row(&self, y: u32) -> usize {
        (0..self.width).filter(|&x| self.at(x, y) < 128).count()
    }
}

/// Decodes a PNG, failing the test if it is not one.
pub fn decode_png(bytes: &[u8]) -> Image {
    let mut decoder = png::Decoder::new(bytes);
    // Expand palettes and sub-byte depths so pixels read uniformly.
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info().expect("a PNG header");
    let info = reader.info().clone();
    let mut buf = vec![0; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut buf).expect("PNG pixel data");
    let data = &buf[..frame.buffer_size()];
    let (color, _) = reader.output_color_type();
    let channels = color.samples();
    let luma = data
        .chunks_exact(channels)
        .map(|p| match channels {
            1 | 2 => p[0],
            _ => ((p[0] as u32 * 299 + p[1] as u32 * 587 + p[2] as u32 * 114) / 1000) as u8,
        })
        .collect();
    Image {
        width: info.width,
        height: info.height,
        color: info.color_type,
        depth: info.bit_depth,
        interlaced: info.interlaced,
        luma,
    }
}

/// The real binary serving a site, killed when dropped (a failed test
/// leaves no server behind).
pub struct Binary(Option<std::process::Child>);

impl Binary {
    /// Serves `site` on `port`, logging at info to a pipe.
    pub fn serve(site: &Site, port: u16) -> Self {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_inkspot"));
        command
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .current_dir(site.path());
        Self::start(command)
    }

    /// Starts `command` (the binary, or a shell that runs it), logging at
    /// info, without colour, to a pipe [`Binary::kill`] reads.
    pub fn start(mut command: std::process::Command) -> Self {
        let child = command
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        Self(Some(child))
    }

    /// Kills it at once, as a crash would; returns its log.
    pub fn kill(mut self) -> String {
        let mut child = self.0.take().unwrap();
        child.kill().unwrap();
        text(&child.wait_with_output().unwrap().stderr)
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits until `base` answers `/healthz`.
pub async fn wait_up(base: &str) {
    for _ in 0..200 {
        if client().get(format!("{base}/healthz")).send().await.is_ok() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{base} never came up");
}
