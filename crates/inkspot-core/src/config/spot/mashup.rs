//! `mashup = { layout = "1Lx2R", spots = [...], gutter = 8 }`: a spot
//! drawn as a layout of other spots, each in its region by its own
//! template, with TRMNL's eight layouts.

use serde::{Deserialize, Deserializer, de};

use super::super::locate::{Collector, Seg, key, with};
use super::super::{Spot, SpotTemplate};

/// A spot made of other spots.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mashup {
    /// How the panel is divided.
    pub layout: Layout,
    /// The spots drawn in the layout's regions, in order: left before
    /// right, top before bottom.
    pub spots: Vec<String>,
    /// White pixels between regions. Default `8`.
    #[serde(default = "default_gutter")]
    pub gutter: u32,
}

fn default_gutter() -> u32 {
    8
}

/// The largest gutter.
pub const MAX_GUTTER: u32 = 64;

/// TRMNL's mashup layouts: `L`eft, `R`ight, `T`op, `B`ottom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One region, the whole panel.
    Full,
    /// Left and right halves.
    LeftRight,
    /// The left half, and the right half in two.
    LeftTwoRight,
    /// The left half in two, and the right half.
    TwoLeftRight,
    /// Top and bottom halves.
    TopBottom,
    /// The top half, and the bottom half in two.
    TopTwoBottom,
    /// The top half in two, and the bottom half.
    TwoTopBottom,
    /// Four quarters: top left, top right, bottom left, bottom right.
    Quarters,
}

/// Every layout by the name TRMNL gives it.
pub const LAYOUTS: [(&str, Layout); 8] = [
    ("1x1", Layout::Full),
    ("1Lx1R", Layout::LeftRight),
    ("1Lx2R", Layout::LeftTwoRight),
    ("2Lx1R", Layout::TwoLeftRight),
    ("1Tx1B", Layout::TopBottom),
    ("1Tx2B", Layout::TopTwoBottom),
    ("2Tx1B", Layout::TwoTopBottom),
    ("2x2", Layout::Quarters),
];

/// One region of a panel, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// Its left edge.
    pub x: u32,
    /// Its top edge.
    pub y: u32,
    /// Its width.
    pub width: u32,
    /// Its height.
    pub height: u32,
}

impl Layout {
    /// Its name, as TRMNL writes it.
    pub fn name(self) -> &'static str {
        LAYOUTS
            .iter()
            .find(|(_, l)| *l == self)
            .map_or("1x1", |(n, _)| n)
    }

    /// How many spots it holds.
    pub fn parts(self) -> usize {
        match self {
            Layout::Full => 1,
            Layout::LeftRight | Layout::TopBottom => 2,
            Layout::Quarters => 4,
            _ => 3,
        }
    }

    /// Its regions on a `width`×`height` panel with `gutter` pixels
    /// between them, in the order of its spots.
    pub fn regions(self, width: u32, height: u32, gutter: u32) -> Vec<Region> {
        // Two spans with a gutter between: the first takes the odd pixel.
        let split = |total: u32| {
            let second = total.saturating_sub(gutter) / 2;
            let first = total.saturating_sub(gutter).saturating_sub(second);
            ((0, first), (first + gutter, second))
        };
        let (left, right) = split(width);
        let (top, bottom) = split(height);
        let all_x = (0, width);
        let all_y = (0, height);
        let r = |(x, w): (u32, u32), (y, h): (u32, u32)| Region {
            x,
            y,
            width: w,
            height: h,
        };
        match self {
            Layout::Full => vec![r(all_x, all_y)],
            Layout::LeftRight => vec![r(left, all_y), r(right, all_y)],
            Layout::LeftTwoRight => vec![r(left, all_y), r(right, top), r(right, bottom)],
            Layout::TwoLeftRight => vec![r(left, top), r(left, bottom), r(right, all_y)],
            Layout::TopBottom => vec![r(all_x, top), r(all_x, bottom)],
            Layout::TopTwoBottom => vec![r(all_x, top), r(left, bottom), r(right, bottom)],
            Layout::TwoTopBottom => vec![r(left, top), r(right, top), r(all_x, bottom)],
            Layout::Quarters => vec![
                r(left, top),
                r(right, top),
                r(left, bottom),
                r(right, bottom),
            ],
        }
    }
}

impl<'de> Deserialize<'de> for Layout {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        LAYOUTS
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(&name))
            .map(|(_, l)| *l)
            .ok_or_else(|| {
                let names: Vec<&str> = LAYOUTS.iter().map(|(n, _)| *n).collect();
                de::Error::custom(format!(
                    "unknown layout `{name}`; layouts: {}",
                    names.join(", ")
                ))
            })
    }
}

/// A mashup's own rules: no template or sources of its own, a spot for
/// each region, a sane gutter. That its spots exist is checked with the
/// whole config.
pub(super) fn check(c: &mut Collector, path: &[Seg], spot: &Spot, mashup: &Mashup) {
    let at = |k: &str| with(path, &[key("mashup"), key(k)]);
    if spot.template != SpotTemplate::default()
        || spot.screenshot.is_some()
        || !spot.sources.is_empty()
    {
        c.add(
            &with(path, &[key("mashup")]),
            "a mashup is drawn by its spots' templates: remove its own `template`, `screenshot` and `sources`",
        );
    }
    let wanted = mashup.layout.parts();
    if mashup.spots.len() != wanted {
        c.add(
            &at("spots"),
            format!(
                "layout `{}` holds {wanted} spots; {} are listed",
                mashup.layout.name(),
                mashup.spots.len()
            ),
        );
    }
    if mashup.gutter > MAX_GUTTER {
        c.add(&at("gutter"), format!("must be 0 to {} pixels", MAX_GUTTER));
    }
}

/// Each mashup's spots name configured spots that are not mashups.
pub(in crate::config) fn check_parts(c: &mut Collector, spots: &[Spot]) {
    for (i, spot) in spots.iter().enumerate() {
        let Some(mashup) = &spot.mashup else {
            continue;
        };
        for (j, name) in mashup.spots.iter().enumerate() {
            let at = [
                key("spots"),
                Seg::Index(i),
                key("mashup"),
                key("spots"),
                Seg::Index(j),
            ];
            let found = spots
                .iter()
                .find(|s| s.name.eq_ignore_ascii_case(name) || s.slug() == *name);
            match found {
                None => {
                    let names: Vec<&str> = spots
                        .iter()
                        .filter(|s| s.mashup.is_none())
                        .map(|s| s.name.as_str())
                        .collect();
                    c.add(
                        &at,
                        format!("no spot named `{name}`; spots: {}", names.join(", ")),
                    );
                }
                Some(part) if part.mashup.is_some() => {
                    c.add(
                        &at,
                        format!(
                            "`{name}` is a mashup itself; a mashup holds spots drawn by templates"
                        ),
                    );
                }
                Some(_) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn reg(x: u32, y: u32, width: u32, height: u32) -> Region {
        Region {
            x,
            y,
            width,
            height,
        }
    }

    /// Each layout's regions on TRMNL's 800×480 with an 8 px gutter.
    #[rstest]
    #[case("1x1", vec![reg(0, 0, 800, 480)])]
    #[case("1Lx1R", vec![reg(0, 0, 396, 480), reg(404, 0, 396, 480)])]
    #[case("1Lx2R", vec![reg(0, 0, 396, 480), reg(404, 0, 396, 236), reg(404, 244, 396, 236)])]
    #[case("2Lx1R", vec![reg(0, 0, 396, 236), reg(0, 244, 396, 236), reg(404, 0, 396, 480)])]
    #[case("1Tx1B", vec![reg(0, 0, 800, 236), reg(0, 244, 800, 236)])]
    #[case("1Tx2B", vec![reg(0, 0, 800, 236), reg(0, 244, 396, 236), reg(404, 244, 396, 236)])]
    #[case("2Tx1B", vec![reg(0, 0, 396, 236), reg(404, 0, 396, 236), reg(0, 244, 800, 236)])]
    #[case("2x2", vec![reg(0, 0, 396, 236), reg(404, 0, 396, 236), reg(0, 244, 396, 236), reg(404, 244, 396, 236)])]
    fn layouts_divide_the_panel(#[case] name: &str, #[case] regions: Vec<Region>) {
        let layout = LAYOUTS.iter().find(|(n, _)| *n == name).unwrap().1;
        assert_eq!(layout.regions(800, 480, 8), regions);
        assert_eq!(layout.parts(), regions.len());
        assert_eq!(layout.name(), name);
    }

    #[test]
    fn an_odd_size_gives_the_first_region_the_odd_pixel() {
        let regions = Layout::LeftRight.regions(793, 528, 0);
        assert_eq!(regions, vec![reg(0, 0, 397, 528), reg(397, 0, 396, 528)]);
    }
}
