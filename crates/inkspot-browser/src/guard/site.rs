//! The origin an HTML template's page is served from: the filled page at
//! `/`, the project's fonts at `/_inkspot/`, and every other path from the
//! templates folder (never outside it). Nothing else answers there.

use std::path::{Path, PathBuf};

/// The host the template's page is given, which only the guard answers.
pub const HOST: &str = "template.inkspot";

/// The style sheet that makes the shipped fonts the page's default, linked
/// into the page's head.
const FONTS_CSS: &str = r#"@font-face{font-family:"DejaVu Sans";src:url(/_inkspot/DejaVuSans.ttf)}
@font-face{font-family:"DejaVu Sans";font-weight:bold;src:url(/_inkspot/DejaVuSans-Bold.ttf)}
@font-face{font-family:"DejaVu Serif";src:url(/_inkspot/DejaVuSerif.ttf)}
@font-face{font-family:"DejaVu Sans Mono";src:url(/_inkspot/DejaVuSansMono.ttf)}
html{font-family:"DejaVu Sans",sans-serif;-webkit-font-smoothing:antialiased}
"#;

/// One filled template and its folder.
pub struct Site {
    page: String,
    root: PathBuf,
}

impl Site {
    /// The page `html`, with the fonts' style sheet linked first in its
    /// head, and its files from `root`.
    pub fn new(html: &str, root: &Path) -> Self {
        let link = r#"<link rel="stylesheet" href="/_inkspot/fonts.css">"#;
        let page = match find_head(html) {
            Some(at) => format!("{}{link}{}", &html[..at], &html[at..]),
            None => format!("{link}{html}"),
        };
        Self {
            page,
            root: root.canonicalize().unwrap_or_else(|_| root.to_path_buf()),
        }
    }

    /// The HTTP answer for `path`, whole.
    pub fn answer(&self, path: &str) -> Vec<u8> {
        let path = percent_decode(path);
        let (status, kind, body): (u16, &str, Vec<u8>) = match path.as_str() {
            "/" => (
                200,
                "text/html; charset=utf-8",
                self.page.clone().into_bytes(),
            ),
            "/_inkspot/fonts.css" => (200, "text/css", FONTS_CSS.as_bytes().to_vec()),
            p if p.starts_with("/_inkspot/") => match font(&p["/_inkspot/".len()..]) {
                Some(bytes) => (200, "font/ttf", bytes.to_vec()),
                None => (404, "text/plain", b"no such font".to_vec()),
            },
            p => match self.file(p) {
                Some((bytes, kind)) => (200, kind, bytes),
                None => (404, "text/plain", b"not in the templates folder".to_vec()),
            },
        };
        let mut answer = format!(
            "HTTP/1.1 {status} {}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
            if status == 200 { "OK" } else { "Not Found" },
            body.len()
        )
        .into_bytes();
        answer.extend_from_slice(&body);
        answer
    }

    /// A file inside the templates folder, and its type.
    fn file(&self, path: &str) -> Option<(Vec<u8>, &'static str)> {
        let wanted = self
            .root
            .join(path.trim_start_matches('/'))
            .canonicalize()
            .ok()?;
        if !wanted.starts_with(&self.root) || !wanted.is_file() {
            return None;
        }
        let kind = match wanted.extension().and_then(|e| e.to_str()).unwrap_or("") {
            "css" => "text/css",
            "js" => "text/javascript",
            "png" => "image/png",
            "jpg" | "jpeg" => "image/jpeg",
            "gif" => "image/gif",
            "svg" => "image/svg+xml",
            "webp" => "image/webp",
            "ttf" => "font/ttf",
            "otf" => "font/otf",
            "woff" => "font/woff",
            "woff2" => "font/woff2",
            "json" => "application/json",
            _ => "application/octet-stream",
        };
        Some((std::fs::read(&wanted).ok()?, kind))
    }
}

/// Where the fonts' link goes: just after `<head …>`, else none.
fn find_head(html: &str) -> Option<usize> {
    let lower = html.to_ascii_lowercase();
    let start = lower.find("<head")?;
    Some(start + lower[start..].find('>')? + 1)
}

fn font(name: &str) -> Option<&'static [u8]> {
    inkspot_core::render::fonts::shipped()
        .iter()
        .find(|(file, _)| *file == name)
        .map(|(_, bytes)| *bytes)
}

fn percent_decode(path: &str) -> String {
    percent_encoding::percent_decode_str(path)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(answer: &[u8]) -> (String, Vec<u8>) {
        let at = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        (
            String::from_utf8_lossy(&answer[..at]).to_string(),
            answer[at + 4..].to_vec(),
        )
    }

    #[test]
    fn the_page_the_fonts_and_folder_files_are_served_and_nothing_outside() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("templates");
        std::fs::create_dir(&root).unwrap();
        std::fs::write(root.join("a.css"), "b{}").unwrap();
        std::fs::write(dir.path().join("secret.txt"), "no").unwrap();
        let site = Site::new(
            "<html><head><title>t</title></head><body>x</body></html>",
            &root,
        );
        let (head, page) = body(&site.answer("/"));
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        let page = String::from_utf8(page).unwrap();
        assert!(
            page.starts_with(
                r#"<html><head><link rel="stylesheet" href="/_inkspot/fonts.css"><title>"#
            ),
            "{page}"
        );
        let (head, css) = body(&site.answer("/a.css"));
        assert!(head.contains("text/css") && css == b"b{}", "{head}");
        let (head, font) = body(&site.answer("/_inkspot/DejaVuSans.ttf"));
        assert!(
            head.starts_with("HTTP/1.1 200") && font.len() > 100_000,
            "{head}"
        );
        for outside in ["/../secret.txt", "/%2e%2e/secret.txt", "/nothing.png"] {
            let (head, _) = body(&site.answer(outside));
            assert!(head.starts_with("HTTP/1.1 404"), "{outside}: {head}");
        }
    }
}
