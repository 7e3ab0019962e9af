//! The panels inkspot knows: which output each takes, its byte limit,
//! and how its inks look, for choosing a device's image and for previews.

/// One panel model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Panel {
    /// The name the firmware (or the catalogue) uses, such as `og_png`.
    pub model: &'static str,
    /// What a person calls it.
    pub label: &'static str,
    /// The output preset it takes.
    pub preset: &'static str,
    /// Gray bits, when the preset's are overridden.
    pub bits: Option<u8>,
    /// How the panel shows an image: see [`Looks`].
    pub looks: Looks,
}

/// How a panel shows pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Looks {
    /// This many grays, from black ink to the paper.
    Gray(u16),
    /// Inks: the colour the device snaps each pixel to (the nearest), and
    /// how that ink looks on the panel, as measured.
    Inks(&'static [([u8; 3], [u8; 3])]),
}

/// Black ink and the paper, as a panel shows them (neither is pure).
pub const INK: [u8; 3] = [0x19, 0x1E, 0x21];
/// See [`INK`].
pub const PAPER: [u8; 3] = [0xE8, 0xE8, 0xE8];

const BWRY: &[([u8; 3], [u8; 3])] = &[
    ([0, 0, 0], INK),
    ([255, 255, 255], PAPER),
    ([255, 255, 0], [0xEF, 0xDE, 0x44]),
    ([255, 0, 0], [0xB2, 0x13, 0x18]),
];

const SPECTRA6: &[([u8; 3], [u8; 3])] = &[
    ([0, 0, 0], INK),
    ([255, 255, 255], PAPER),
    ([255, 255, 0], [0xEF, 0xDE, 0x44]),
    ([255, 0, 0], [0xB2, 0x13, 0x18]),
    ([0, 0, 255], [0x21, 0x57, 0xBA]),
    ([0, 255, 0], [0x12, 0x5F, 0x20]),
];

/// Every panel, the default first.
pub const PANELS: &[Panel] = &[
    Panel {
        model: "og_png",
        label: "TRMNL OG, 1-bit",
        preset: "trmnl",
        bits: None,
        looks: Looks::Gray(2),
    },
    Panel {
        model: "og_plus",
        label: "TRMNL OG, 2-bit",
        preset: "trmnl",
        bits: Some(2),
        looks: Looks::Gray(4),
    },
    Panel {
        model: "og_bwry",
        label: "TRMNL BWRY",
        preset: "trmnl-bwry",
        bits: None,
        looks: Looks::Inks(BWRY),
    },
    Panel {
        model: "reterminal_e1002",
        label: "reTerminal E1002, Spectra 6",
        preset: "spectra6",
        bits: None,
        looks: Looks::Inks(SPECTRA6),
    },
    Panel {
        model: "v2",
        label: "TRMNL X, 4-bit",
        preset: "trmnl-x",
        bits: None,
        looks: Looks::Gray(16),
    },
    Panel {
        model: "xteink_x3",
        label: "XTEINK X3, 1-bit",
        preset: "xteink-x3",
        bits: None,
        looks: Looks::Gray(2),
    },
    Panel {
        model: "kindle",
        label: "Kindle, 8-bit",
        preset: "kindle",
        bits: None,
        looks: Looks::Gray(256),
    },
];

/// The panel for a `model` as the firmware or the catalogue names it.
pub fn panel(model: &str) -> Option<&'static Panel> {
    let name = match model {
        // 800×480 1-bit panels (TRMNL gen2, Seeed's reTerminal E1001 and
        // Sticky, XTEINK X4), as TRMNL's model list has them.
        "og" | "og_png" | "og_gen2" | "reterminal_e1001" | "reterminal sticky" | "xteink_x4" => {
            "og_png"
        }
        "bwry" => "og_bwry",
        "spectra6" => "reterminal_e1002",
        "x" | "trmnl_x" => "v2",
        m if m.starts_with("kindle") || m.starts_with("amazon_kindle") => "kindle",
        m => m,
    };
    PANELS.iter().find(|p| p.model == name)
}

/// The panel for a size the firmware sends in `Width` and `Height`.
pub fn panel_for_size(size: (u32, u32)) -> Option<&'static Panel> {
    match size {
        (1872, 1404) => panel("v2"),
        (800, 480) => panel("og_png"),
        (792, 528) => panel("xteink_x3"),
        _ => None,
    }
}

/// The panel of a device: by the `Model` it sends, else the `Width` and
/// `Height` it sends, else its configured model, else the model it sent
/// last (a mirror asking for its screen sends none); TRMNL OG at last.
pub fn choose(
    sent: Option<&str>,
    size: Option<(u32, u32)>,
    configured: Option<&str>,
    last: Option<&str>,
) -> &'static Panel {
    sent.and_then(panel)
        .or_else(|| size.and_then(panel_for_size))
        .or_else(|| configured.and_then(panel))
        .or_else(|| last.and_then(panel))
        .unwrap_or(&PANELS[0])
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(Some("og"), None, None, None, ("trmnl", None))]
    #[case(Some("og_plus"), None, None, None, ("trmnl", Some(2)))]
    #[case(Some("og_bwry"), None, None, None, ("trmnl-bwry", None))]
    #[case(Some("reterminal_e1002"), None, None, None, ("spectra6", None))]
    #[case(Some("x"), None, None, None, ("trmnl-x", None))]
    #[case(Some("amazon_kindle_pw5"), None, None, None, ("kindle", None))]
    // Firmware 1.8.16's models: TRMNL gen2, the Seeed Sticky (its `Model`
    // has a space and capitals, lower-cased when read), XTEINK X4 and X3.
    #[case(Some("og_gen2"), None, None, None, ("trmnl", None))]
    #[case(Some("reterminal sticky"), None, None, None, ("trmnl", None))]
    #[case(Some("xteink_x4"), None, None, None, ("trmnl", None))]
    #[case(Some("xteink_x3"), None, None, None, ("xteink-x3", None))]
    #[case(Some("waveshare"), Some((792, 528)), None, None, ("xteink-x3", None))]
    // An unknown model goes by its size, then by the config.
    #[case(Some("waveshare"), Some((1872, 1404)), None, None, ("trmnl-x", None))]
    #[case(Some("waveshare"), Some((640, 384)), Some("og_bwry"), None, ("trmnl-bwry", None))]
    // A call without headers (a mirror) goes by the config, then the last model sent.
    #[case(None, None, Some("og_plus"), Some("x"), ("trmnl", Some(2)))]
    #[case(None, None, None, Some("x"), ("trmnl-x", None))]
    #[case(None, None, None, None, ("trmnl", None))]
    fn models_choose_their_output(
        #[case] sent: Option<&str>,
        #[case] size: Option<(u32, u32)>,
        #[case] configured: Option<&str>,
        #[case] last: Option<&str>,
        #[case] expect: (&str, Option<u8>),
    ) {
        let p = choose(sent, size, configured, last);
        assert_eq!((p.preset, p.bits), expect);
    }
}
