//! The font database, built once at start-up: the fonts shipped in the
//! binary, then `templates/fonts/`, then the system's. The generic families
//! resolve to the shipped fonts so text renders the same everywhere.

use std::path::Path;

use usvg::fontdb::Database;

/// Shipped fonts (DejaVu, Bitstream Vera licence: `fonts/LICENSE-DejaVu.txt`),
/// by file name.
const SHIPPED: &[(&str, &[u8])] = &[
    (
        "DejaVuSans.ttf",
        include_bytes!("../../../../fonts/DejaVuSans.ttf"),
    ),
    (
        "DejaVuSans-Bold.ttf",
        include_bytes!("../../../../fonts/DejaVuSans-Bold.ttf"),
    ),
    (
        "DejaVuSerif.ttf",
        include_bytes!("../../../../fonts/DejaVuSerif.ttf"),
    ),
    (
        "DejaVuSansMono.ttf",
        include_bytes!("../../../../fonts/DejaVuSansMono.ttf"),
    ),
];

/// The shipped fonts, by file name: what an HTML template's page gets as
/// its default fonts, so it draws the same text as an SVG template.
pub fn shipped() -> &'static [(&'static str, &'static [u8])] {
    SHIPPED
}

/// Family that `sans-serif` resolves to, and the default for text with no family.
pub const SANS: &str = "DejaVu Sans";
const SERIF: &str = "DejaVu Serif";
const MONO: &str = "DejaVu Sans Mono";

/// Builds the database. `templates_dir/fonts` is optional.
pub fn database(templates_dir: &Path, system: bool) -> Database {
    let mut db = Database::new();
    for (_, font) in SHIPPED {
        db.load_font_data(font.to_vec());
    }
    let extra = templates_dir.join("fonts");
    if extra.is_dir() {
        db.load_fonts_dir(extra);
    }
    if system {
        db.load_system_fonts();
    }
    db.set_sans_serif_family(SANS);
    db.set_serif_family(SERIF);
    db.set_monospace_family(MONO);
    db.set_cursive_family(SANS);
    db.set_fantasy_family(SANS);
    db
}
