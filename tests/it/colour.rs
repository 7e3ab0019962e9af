//! Colour e-ink panels and device byte limits, through the real service:
//! indexed PNGs of the panels' inks decoded by the `png` crate, and images
//! over a preset's `max_bytes` drawn again with less.

use crate::common::*;

/// White, with a red square, a yellow square, a blue square, and a gray
/// gradient along the bottom.
const COLOUR: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" width="{{ spot.width }}" height="{{ spot.height }}">
<defs><linearGradient id="g"><stop offset="0" stop-color="#000"/><stop offset="1" stop-color="#fff"/></linearGradient></defs>
<rect width="100%" height="100%" fill="#fff"/>
<rect x="20" y="20" width="100" height="100" fill="#ff0000"/>
<rect x="140" y="20" width="100" height="100" fill="#ffff00"/>
<rect x="260" y="20" width="100" height="100" fill="#0000ff"/>
<rect x="0" y="{{ spot.height - 100 }}" width="{{ spot.width }}" height="100" fill="url(#g)"/>
</svg>"##;

/// A decoded indexed PNG: its palette and one index per pixel.
struct Indexed {
    width: u32,
    height: u32,
    depth: u8,
    interlaced: bool,
    palette: Vec<[u8; 3]>,
    indices: Vec<u8>,
}

impl Indexed {
    fn at(&self, x: u32, y: u32) -> [u8; 3] {
        self.palette[self.indices[(y * self.width + x) as usize] as usize]
    }
}

fn decode_indexed(bytes: &[u8]) -> Indexed {
    let decoder = png::Decoder::new(bytes);
    let mut reader = decoder.read_info().expect("a PNG header");
    let info = reader.info().clone();
    assert_eq!(info.color_type, png::ColorType::Indexed, "an indexed PNG");
    let palette: Vec<[u8; 3]> = info
        .palette
        .as_ref()
        .expect("a PLTE chunk")
        .chunks_exact(3)
        .map(|c| [c[0], c[1], c[2]])
        .collect();
    let mut buf = vec![0; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut buf).expect("pixel data");
    let depth = info.bit_depth as u8;
    let per_byte = 8 / depth as usize;
    let mut indices = Vec::new();
    for row in buf[..frame.buffer_size()].chunks_exact(frame.line_size) {
        for x in 0..info.width as usize {
            let shift = 8 - depth as usize * (x % per_byte + 1);
            indices.push((row[x / per_byte] >> shift) & ((1 << depth) - 1));
        }
    }
    Indexed {
        width: info.width,
        height: info.height,
        depth,
        interlaced: info.interlaced,
        palette,
        indices,
    }
}

async fn colour_app(extra: &str) -> (Site, App) {
    let site = Site::new();
    std::fs::write(site.path().join("templates/colour.svg"), COLOUR).unwrap();
    std::fs::write(site.path().join("page.html"), report_page("1.0", "x")).unwrap();
    let spot = bar_spot("Linda Mar", "file://page.html", "")
        .replace("template = \"bar\"", "template = \"colour\"")
        .replace("width = 400\nheight = 240", "width = 800\nheight = 480");
    site.write_config(&format!("{extra}\n{spot}"));
    let app = App::start(&site).await;
    (site, app)
}

/// A preset, its bit depth, its palette, and what the blue square becomes.
type Case = (&'static str, u8, &'static [[u8; 3]], [u8; 3]);

const RED: [u8; 3] = [255, 0, 0];
const YELLOW: [u8; 3] = [255, 255, 0];
const BLUE: [u8; 3] = [0, 0, 255];
const WHITE: [u8; 3] = [255, 255, 255];

#[tokio::test]
async fn bwry_and_spectra6_are_indexed_pngs_of_their_inks_within_the_device_limit() {
    let (_site, app) = colour_app("").await;
    let cases: [Case; 2] = [
        ("trmnl-bwry", 2, &[[0, 0, 0], WHITE, YELLOW, RED], [0, 0, 0]),
        (
            "spectra6",
            4,
            &[[0, 0, 0], WHITE, YELLOW, RED, BLUE, [0, 255, 0]],
            BLUE,
        ),
    ];
    for (device, depth, inks, blue_square) in cases {
        let r = app
            .get(&format!("/image?spot=linda-mar&device={device}"), &[])
            .await;
        assert_eq!(r.status(), 200, "{device}");
        assert_eq!(r.headers()["content-type"], "image/png");
        let bytes = r.bytes().await.unwrap();
        assert!(bytes.len() <= 90_000, "{device}: {} bytes", bytes.len());
        let image = decode_indexed(&bytes);
        assert_eq!((image.width, image.height, image.depth), (800, 480, depth));
        assert!(!image.interlaced);
        assert_eq!(image.palette, inks, "{device}: exactly the inks");
        assert!(image.indices.iter().all(|&i| (i as usize) < inks.len()));
        assert_eq!(image.at(70, 70), RED, "{device}");
        assert_eq!(image.at(190, 70), YELLOW, "{device}");
        assert_eq!(
            image.at(310, 70),
            blue_square,
            "{device}: blue, or its nearest ink"
        );
        assert_eq!(image.at(500, 70), WHITE, "{device}");
        // The gradient is dithered: both black and white in its middle.
        let row: Vec<[u8; 3]> = (380..420).map(|x| image.at(x, 430)).collect();
        assert!(
            row.contains(&[0, 0, 0]) && row.contains(&WHITE),
            "{device}: {row:?}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn a_palette_can_be_asked_for_in_the_query_and_as_a_bmp() {
    let (_site, app) = colour_app("").await;
    let r = app
        .get("/image?spot=linda-mar&palette=spectra6&format=bmp", &[])
        .await;
    assert_eq!(r.status(), 200);
    let bmp = r.bytes().await.unwrap();
    assert_eq!(&bmp[..2], b"BM");
    let u16_at = |o: usize| u16::from_le_bytes([bmp[o], bmp[o + 1]]);
    let u32_at = |o: usize| u32::from_le_bytes(bmp[o..o + 4].try_into().unwrap());
    assert_eq!(u16_at(28), 4, "4 bits a pixel");
    assert_eq!(u32_at(46), 6, "six palette entries");
    // The palette is B G R 0: red is the fourth entry.
    assert_eq!(&bmp[54 + 3 * 4..54 + 3 * 4 + 4], &[0, 0, 255, 0]);
    assert_eq!(bmp.len(), 54 + 6 * 4 + 400 * 480);

    let r = app.get("/image?spot=linda-mar&palette=cmyk", &[]).await;
    assert_eq!(r.status(), 400);
    let body = r.text().await.unwrap();
    assert!(body.contains("bwry, spectra6"), "{body}");
    app.stop().await;
}

#[tokio::test]
async fn an_image_over_the_byte_limit_is_drawn_again_with_less() {
    let presets = "[presets.dithered]\nwidth = 800\nheight = 480\nbits = 4\ndither = \"floyd-steinberg\"\n[presets.capped]\nwidth = 800\nheight = 480\nbits = 4\ndither = \"floyd-steinberg\"\nmax_bytes = 12000\n";
    let (_site, app) = colour_app(presets).await;
    let free = app.get("/image?spot=linda-mar&device=dithered", &[]).await;
    let free = free.bytes().await.unwrap();
    assert!(
        free.len() > 12_000,
        "the dithered gradient: {} bytes",
        free.len()
    );
    let capped = app.get("/image?spot=linda-mar&device=capped", &[]).await;
    assert_eq!(capped.status(), 200);
    let capped = capped.bytes().await.unwrap();
    assert!(capped.len() <= 12_000, "{} bytes", capped.len());
    let image = decode_png(&capped);
    assert_eq!((image.width, image.height), (800, 480));
    assert_eq!(
        image.depth,
        png::BitDepth::Four,
        "still 16 grays, without dither"
    );
    // Undithered, the gradient is bands: along a row, gray only rises.
    let row: Vec<u8> = (0..800).map(|x| image.at(x, 430)).collect();
    assert!(row.windows(2).all(|w| w[0] <= w[1]), "banded, not dithered");
    app.stop().await;
}
