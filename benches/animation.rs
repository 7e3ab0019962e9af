//! What one animation frame costs to encode, by format and palette, on the
//! shipped 800×480 surf template drawn from the offline demo's data: 1-bit
//! gray as e-ink panels take it, and full colour. Drawing a frame costs as
//! much as drawing a still (see the `pipeline` bench). Run with
//! `cargo bench --bench animation`.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use inkspot::config::OutputOptions;
use inkspot::jobs::spec::{AnimationFormat, PaletteMode};
use inkspot::pipeline::Pipeline;
use inkspot::render::animate::{Encoder, Settings};
use inkspot::render::{Raster, Renderer};
use inkspot::request::Catalog;

/// The surf report as a frame, with `bits` (none: full colour).
fn frame(bits: Option<&str>) -> Raster {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = inkspot::load_config(&root.join("examples/offline.toml")).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let pipeline = Pipeline::new(&config).unwrap();
    let mut options = OutputOptions::default();
    if let Some(bits) = bits {
        options.set("bits", bits).unwrap();
    }
    let request = Catalog::new(&config)
        .resolve("Linda Mar", None, &options)
        .unwrap();
    let data = runtime.block_on(pipeline.fetch(&request, &inkspot::clock::SystemClock));
    let svg = pipeline.fill(&request, &data).unwrap();
    let renderer = Renderer::new(&config.templates_dir(), true);
    let pixmap = renderer
        .draw(&renderer.parse(&svg).unwrap(), 800, 480)
        .unwrap();
    Raster::from_pixmap(&pixmap, &request.output)
}

/// An 800×480 frame of smooth gradients, tens of thousands of colours, as
/// a photograph or a shaded map has: the surf report has 32, so a frame
/// palette keeps them exactly, and this frame is what takes NeuQuant and
/// error diffusion.
fn photo_like() -> Raster {
    let (w, h) = (800usize, 480usize);
    let rgb = (0..w * h)
        .flat_map(|i| {
            let (x, y) = (i % w, i / w);
            [
                (x * 255 / w) as u8,
                (y * 255 / h) as u8,
                ((x + 2 * y) / 9 % 256) as u8,
            ]
        })
        .collect();
    Raster {
        width: w as u32,
        height: h as u32,
        pixels: inkspot::render::raster::Pixels::Rgb(rgb),
    }
}

fn encode_frames(c: &mut Criterion) {
    let cases = [
        (
            "gif, global palette, 1-bit",
            AnimationFormat::Gif,
            PaletteMode::Global,
            Some("1"),
        ),
        (
            "gif, global palette, colour",
            AnimationFormat::Gif,
            PaletteMode::Global,
            None,
        ),
        (
            "gif, frame palette, colour",
            AnimationFormat::Gif,
            PaletteMode::Frame,
            None,
        ),
        (
            "gif, frame palette, photo-like colour",
            AnimationFormat::Gif,
            PaletteMode::Frame,
            Some("photo"),
        ),
        (
            "apng, 1-bit",
            AnimationFormat::Apng,
            PaletteMode::Global,
            Some("1"),
        ),
        (
            "apng, colour",
            AnimationFormat::Apng,
            PaletteMode::Global,
            None,
        ),
    ];
    let gray = frame(Some("1"));
    let colour = frame(None);
    let photo = photo_like();
    let mut g = c.benchmark_group("animation-frame-800x480");
    for (name, format, palette, kind) in cases {
        let raster = match kind {
            Some("1") => &gray,
            Some(_) => &photo,
            None => &colour,
        };
        let gray_samples = kind == Some("1");
        let settings = Settings {
            format,
            palette,
            delay_ms: 500,
            loops: 0,
            frames: 1,
            width: 800,
            height: 480,
        };
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut out = Encoder::new(std::io::sink(), settings, gray_samples).unwrap();
                out.add(black_box(raster.clone())).unwrap();
                out.finish().unwrap();
            })
        });
    }
    g.finish();
}

criterion_group!(benches, encode_frames);
criterion_main!(benches);
