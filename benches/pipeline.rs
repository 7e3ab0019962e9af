//! Each stage of a render, and the whole pipeline, on the shipped 800×480
//! surf template filled from the offline demo's recorded data, to a 1-bit
//! PNG as TRMNL wants it. Run with `cargo bench`.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use inkspot::app::App;
use inkspot::config::OutputOptions;
use inkspot::http::ImageQuery;
use inkspot::pipeline::Pipeline;
use inkspot::render::{ImageFormat, Raster, Renderer, encode};
use inkspot::request::Catalog;

fn stages(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = inkspot::load_config(&root.join("examples/offline.toml")).expect("offline config");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let pipeline = Pipeline::new(&config).unwrap();
    let mut options = OutputOptions::default();
    options.set("bits", "1").unwrap();
    let request = Catalog::new(&config)
        .resolve("Linda Mar", None, &options)
        .unwrap();
    let now = chrono::Utc::now();
    let data = runtime.block_on(pipeline.fetch(&request, &inkspot::clock::SystemClock));
    assert!(
        data.errors.is_empty(),
        "offline data is complete: {:?}",
        data.errors
    );
    let output = request.output;
    let templates = pipeline.templates().current();
    // Fonts are loaded once, as in the service.
    let renderer = Renderer::new(&config.templates_dir(), true);
    let context = Pipeline::context(&request, &data, &templates);
    let svg = pipeline.fill(&request, &data).unwrap();
    let tree = renderer.parse(&svg).unwrap();
    let pixmap = renderer.draw(&tree, 800, 480).unwrap();
    let raster = Raster::from_pixmap(&pixmap, &output);
    let png = encode::encode(&raster, ImageFormat::Png, Some(1)).unwrap();
    println!("1-bit PNG of the surf template: {} bytes", png.len());

    let mut g = c.benchmark_group("surf-800x480");
    g.bench_function("1 template fill", |b| {
        b.iter(|| {
            templates
                .render(request.template(), black_box(&context))
                .unwrap()
        })
    });
    g.bench_function("2 parse and layout", |b| {
        b.iter(|| renderer.parse(black_box(&svg)).unwrap())
    });
    g.bench_function("3 draw", |b| {
        b.iter(|| renderer.draw(black_box(&tree), 800, 480).unwrap())
    });
    g.bench_function("4 gray and dither", |b| {
        b.iter(|| Raster::from_pixmap(black_box(&pixmap), &output))
    });
    g.bench_function("5 encode 1-bit PNG", |b| {
        b.iter(|| encode::encode(black_box(&raster), ImageFormat::Png, Some(1)).unwrap())
    });
    // The service's own path: fill, draw and encode on a blocking thread
    // behind the CPU limit, as every render job and `inkspot render` run it.
    g.bench_function("pipeline to 1-bit PNG", |b| {
        b.iter(|| {
            runtime
                .block_on(pipeline.draw(black_box(&request), &data, now))
                .unwrap()
        })
    });
    g.finish();
}

/// The engine over the offline demo, its cache in a fresh folder, with
/// scheduled refreshes on or off, and the trmnl variant of Linda Mar drawn.
fn hit_engine(
    runtime: &tokio::runtime::Runtime,
    schedule: bool,
    query: &ImageQuery,
) -> (App, tempfile::TempDir) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut config =
        inkspot::load_config(&root.join("examples/offline.toml")).expect("offline config");
    let cache = tempfile::tempdir().unwrap();
    config.cache.dir = cache.path().to_path_buf();
    config.schedule.enabled = schedule;
    let app = runtime.block_on(App::start(config)).unwrap();
    let engine = &app.engine;
    let first = runtime
        .block_on(engine.image_for(&query.spot, query.device.as_deref(), &query.options))
        .unwrap();
    // The schedule may have drawn it already: a hit or a miss, never stale.
    assert_ne!(first.cache.as_str(), "stale");
    (app, cache)
}

/// What a cache hit costs inside the service, apart from HTTP: parsing the
/// query, then finding the stored render, with and without the schedule.
fn cache_hit(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let raw = "spot=linda-mar&device=trmnl";
    let query = ImageQuery::parse(Some(raw)).unwrap();
    let (app, _cache) = hit_engine(&runtime, true, &query);
    let (unscheduled, _cache_too) = hit_engine(&runtime, false, &query);
    let (engine, unscheduled) = (app.engine.clone(), unscheduled.engine.clone());

    let mut g = c.benchmark_group("cache-hit");
    g.bench_function("parse query", |b| {
        b.iter(|| ImageQuery::parse(Some(black_box(raw))).unwrap())
    });
    g.bench_function("find the render", |b| {
        b.iter(|| {
            let served = runtime
                .block_on(engine.image_for(&query.spot, query.device.as_deref(), &query.options))
                .unwrap();
            assert_eq!(served.cache.as_str(), "hit");
        })
    });
    g.bench_function("find the render, schedule off", |b| {
        b.iter(|| {
            let served = runtime
                .block_on(unscheduled.image_for(
                    &query.spot,
                    query.device.as_deref(),
                    &query.options,
                ))
                .unwrap();
            assert_eq!(served.cache.as_str(), "hit");
        })
    });
    // Everything a hit costs above the socket: the layers, the router, the
    // handler and the response head, as the server calls them.
    let app = {
        let _in_runtime = runtime.enter();
        inkspot::http::app(app.clone())
    };
    let client = std::net::SocketAddr::from(([127, 0, 0, 1], 40000));
    g.bench_function("whole service", |b| {
        b.iter(|| {
            let mut request = axum::http::Request::get(format!("/image?{raw}"))
                .body(axum::body::Body::empty())
                .unwrap();
            request
                .extensions_mut()
                .insert(axum::extract::ConnectInfo(client));
            let response = runtime
                .block_on(tower::ServiceExt::oneshot(app.clone(), request))
                .unwrap();
            assert_eq!(response.status(), 200);
        })
    });
    g.finish();
}

criterion_group!(benches, stages, cache_hit);
criterion_main!(benches);
