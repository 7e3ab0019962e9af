//! The firmware images of `trmnl.firmware_dir`, as its `firmware.toml`
//! declares them: each file's version, the `Model` values it is built
//! for and its SHA-256, every declaration checked when the service starts,
//! and the images held in memory to be served with their length.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use semver::Version;
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The largest firmware image read (an ESP32's app partition is smaller).
pub const MAX_IMAGE_BYTES: u64 = 16 << 20;
/// The most the images of one folder may hold together, in memory.
pub const MAX_TOTAL_BYTES: u64 = 64 << 20;
/// The most images one folder may declare.
pub const MAX_IMAGES: usize = 32;

/// Why the firmware folder was refused: every problem, each naming the
/// file, line and key.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// `firmware.toml` cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `firmware.toml` is not TOML of the expected form.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the parser said, with its line.
        message: String,
    },
    /// Declarations that do not hold.
    #[error("{path}: {}", .problems.join("; "))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Each problem.
        problems: Vec<String>,
    },
}

/// One declared image, read and checked.
#[derive(Debug, Clone)]
pub struct Image {
    /// Its file name in the folder, which is also its name in the URL.
    pub file: String,
    /// The firmware version it installs.
    pub version: Version,
    /// The `Model` header values it is built for, lower case.
    pub models: Vec<String>,
    /// Its SHA-256, lower-case hex.
    pub sha256: String,
    /// Its bytes.
    pub bytes: Bytes,
}

impl Image {
    /// Whether it is built for a device that sends `model`.
    pub fn fits(&self, model: &str) -> bool {
        let model = model.trim().to_ascii_lowercase();
        self.models.contains(&model)
    }
}

/// Every image of the folder.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    images: Vec<Image>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    #[serde(default)]
    firmware: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    file: toml::Spanned<String>,
    version: toml::Spanned<String>,
    models: toml::Spanned<Vec<String>>,
    sha256: toml::Spanned<String>,
}

impl Catalog {
    /// Reads `dir/firmware.toml` and every image it declares, checking
    /// each: a plain file name in `dir`, a version, at least one model, a
    /// size within the bounds and the declared SHA-256. Refused whole when
    /// anything does not hold, naming every problem.
    pub fn load(dir: &Path) -> Result<Self, CatalogError> {
        let path = dir.join("firmware.toml");
        let text = std::fs::read_to_string(&path).map_err(|source| CatalogError::Read {
            path: path.clone(),
            source,
        })?;
        let manifest: Manifest = toml::from_str(&text).map_err(|e| CatalogError::Parse {
            path: path.clone(),
            message: e.to_string().trim().replace('\n', " "),
        })?;
        let mut problems = Vec::new();
        let mut images = Vec::new();
        let mut total = 0u64;
        if manifest.firmware.len() > MAX_IMAGES {
            problems.push(format!(
                "declares {} images; at most {MAX_IMAGES}",
                manifest.firmware.len()
            ));
        }
        for (i, entry) in manifest.firmware.iter().enumerate().take(MAX_IMAGES) {
            let at = |key: &str, span: std::ops::Range<usize>| {
                let line = text[..span.start.min(text.len())].lines().count().max(1);
                format!("line {line}: `firmware[{i}].{key}`")
            };
            match read(dir, entry, &at) {
                Ok(image) if images.iter().any(|o: &Image| o.file == image.file) => {
                    problems.push(format!(
                        "{}: `{}` is declared twice",
                        at("file", entry.file.span()),
                        image.file
                    ));
                }
                Ok(image) => {
                    total += image.bytes.len() as u64;
                    images.push(image);
                }
                Err(mut found) => problems.append(&mut found),
            }
        }
        if total > MAX_TOTAL_BYTES {
            problems.push(format!(
                "the images hold {total} bytes together; at most {MAX_TOTAL_BYTES}"
            ));
        }
        if !problems.is_empty() {
            return Err(CatalogError::Invalid { path, problems });
        }
        Ok(Self { images })
    }

    /// These images with `image`, in place of one with its file name.
    pub fn with(&self, image: Image) -> Self {
        let mut images: Vec<Image> = self
            .images
            .iter()
            .filter(|i| i.file != image.file)
            .cloned()
            .collect();
        images.push(image);
        Self { images }
    }

    /// The images, as declared.
    pub fn images(&self) -> &[Image] {
        &self.images
    }

    /// The image named `file`.
    pub fn get(&self, file: &str) -> Option<&Image> {
        self.images.iter().find(|i| i.file == file)
    }

    /// The newest image built for `model`.
    pub fn newest_for(&self, model: &str) -> Option<&Image> {
        self.images
            .iter()
            .filter(|i| i.fits(model))
            .max_by(|a, b| a.version.cmp(&b.version))
    }
}

/// One entry's image, or each of its problems.
fn read(
    dir: &Path,
    entry: &Entry,
    at: &dyn Fn(&str, std::ops::Range<usize>) -> String,
) -> Result<Image, Vec<String>> {
    let mut problems = Vec::new();
    let (file, version, models, declared) = declared(entry, at, &mut problems);
    let sha_at = at("sha256", entry.sha256.span());
    let bytes = file.as_ref().and_then(|file| {
        load_bytes(
            &dir.join(file),
            &at("file", entry.file.span()),
            &mut problems,
        )
    });
    if let (Some(bytes), Some(file)) = (&bytes, &file) {
        let actual = hex::encode(Sha256::digest(bytes));
        if declared.len() == 64 && actual != declared {
            problems.push(format!("{sha_at}: `{file}` has SHA-256 {actual}, not the declared {declared}; it is refused"));
        }
    }
    match (problems.is_empty(), file, version, bytes) {
        (true, Some(file), Some(version), Some(bytes)) => Ok(Image {
            file,
            version,
            models,
            sha256: declared,
            bytes,
        }),
        _ => Err(problems),
    }
}

/// What an entry declares, each checked: its file name (when it is a
/// plain name in the folder), version, models and SHA-256 (lower case).
fn declared(
    entry: &Entry,
    at: &dyn Fn(&str, std::ops::Range<usize>) -> String,
    problems: &mut Vec<String>,
) -> (Option<String>, Option<Version>, Vec<String>, String) {
    let file = entry.file.get_ref().clone();
    let plain = !file.is_empty()
        && !file.starts_with('.')
        && file
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-+".contains(c));
    if !plain {
        let at = at("file", entry.file.span());
        problems.push(format!(
            "{at}: `{file}` must be a file name in the folder (letters, digits, `._-+`)"
        ));
    }
    let version = parse_version(entry.version.get_ref());
    if version.is_none() {
        let at = at("version", entry.version.span());
        let text = entry.version.get_ref();
        problems.push(format!("{at}: `{text}` is not a version such as 1.8.16"));
    }
    let models: Vec<String> = entry
        .models
        .get_ref()
        .iter()
        .map(|m| m.trim().to_ascii_lowercase())
        .filter(|m| !m.is_empty())
        .collect();
    if models.is_empty() {
        let at = at("models", entry.models.span());
        problems.push(format!(
            "{at}: name at least one `Model` the image is built for, such as \"og\""
        ));
    }
    let sha = entry.sha256.get_ref().trim().to_ascii_lowercase();
    if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        let at = at("sha256", entry.sha256.span());
        problems.push(format!(
            "{at}: must be 64 hex digits, as `sha256sum` prints"
        ));
    }
    (plain.then_some(file), version, models, sha)
}

/// The file's bytes, within [`MAX_IMAGE_BYTES`]; a problem said otherwise.
fn load_bytes(path: &Path, at: &str, problems: &mut Vec<String>) -> Option<Bytes> {
    let name = path.display();
    match std::fs::metadata(path) {
        Ok(m) if !m.is_file() => problems.push(format!("{at}: {name} is not a file")),
        Ok(m) if m.len() > MAX_IMAGE_BYTES => {
            problems.push(format!(
                "{at}: {name} is {} bytes; at most {MAX_IMAGE_BYTES}",
                m.len()
            ));
        }
        Ok(_) => match std::fs::read(path) {
            Ok(bytes) => return Some(Bytes::from(bytes)),
            Err(e) => problems.push(format!("{at}: cannot read {name}: {e}")),
        },
        Err(e) => problems.push(format!("{at}: cannot read {name}: {e}")),
    }
    None
}

/// A firmware version as devices send it in `FW-Version` (`1.8.16`,
/// `v1.8.16`, `1.8`); `None` when it is not one.
pub fn parse_version(text: &str) -> Option<Version> {
    let text = text.trim();
    let text = text.strip_prefix(['v', 'V']).unwrap_or(text);
    Version::parse(text)
        .ok()
        .or_else(|| Version::parse(&format!("{text}.0")).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("1.8.16", Some("1.8.16"))]
    #[case("v1.8.2", Some("1.8.2"))]
    #[case("1.8", Some("1.8.0"))]
    #[case(" 1.7.0-beta.1 ", Some("1.7.0-beta.1"))]
    #[case("latest", None)]
    #[case("", None)]
    fn versions_are_read_leniently(#[case] text: &str, #[case] expect: Option<&str>) {
        assert_eq!(
            parse_version(text).map(|v| v.to_string()).as_deref(),
            expect
        );
    }

    fn folder(manifest: &str, files: &[(&str, &[u8])]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("firmware.toml"), manifest).unwrap();
        for (name, bytes) in files {
            std::fs::write(dir.path().join(name), bytes).unwrap();
        }
        dir
    }

    fn sha(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))
    }

    #[test]
    fn declared_images_load_and_the_newest_per_model_is_chosen() {
        let manifest = format!(
            "[[firmware]]\nfile = \"a.bin\"\nversion = \"1.8.15\"\nmodels = [\"og\", \"OG_gen2\"]\nsha256 = \"{}\"\n\n[[firmware]]\nfile = \"b.bin\"\nversion = \"1.8.16\"\nmodels = [\"og\"]\nsha256 = \"{}\"\n",
            sha(b"aaa"),
            sha(b"bbbb").to_uppercase()
        );
        let dir = folder(&manifest, &[("a.bin", b"aaa"), ("b.bin", b"bbbb")]);
        let catalog = Catalog::load(dir.path()).unwrap();
        assert_eq!(catalog.images().len(), 2);
        assert_eq!(catalog.newest_for("og").unwrap().file, "b.bin");
        assert_eq!(catalog.newest_for("og_gen2").unwrap().file, "a.bin");
        assert!(catalog.newest_for("x").is_none());
        assert_eq!(&catalog.get("b.bin").unwrap().bytes[..], b"bbbb");
    }

    #[test]
    fn every_problem_is_named_with_its_line_and_a_wrong_checksum_refuses_the_folder() {
        let manifest = format!(
            "[[firmware]]\nfile = \"a.bin\"\nversion = \"1.8.16\"\nmodels = [\"og\"]\nsha256 = \"{}\"\n\n[[firmware]]\nfile = \"../etc/passwd\"\nversion = \"soon\"\nmodels = []\nsha256 = \"abc\"\n\n[[firmware]]\nfile = \"gone.bin\"\nversion = \"1.9.0\"\nmodels = [\"x\"]\nsha256 = \"{}\"\n",
            sha(b"something else"),
            sha(b"")
        );
        let dir = folder(&manifest, &[("a.bin", b"aaa")]);
        let message = Catalog::load(dir.path()).unwrap_err().to_string();
        for expected in [
            "line 5: `firmware[0].sha256`: `a.bin` has SHA-256",
            "line 8: `firmware[1].file`: `../etc/passwd` must be a file name",
            "line 9: `firmware[1].version`: `soon` is not a version",
            "line 10: `firmware[1].models`: name at least one",
            "line 11: `firmware[1].sha256`: must be 64 hex digits",
            "line 14: `firmware[2].file`: cannot read",
        ] {
            assert!(
                message.contains(expected),
                "{expected:?} missing from: {message}"
            );
        }
    }

    #[test]
    fn a_folder_without_its_manifest_or_with_unknown_keys_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let message = Catalog::load(dir.path()).unwrap_err().to_string();
        assert!(message.contains("firmware.toml"), "{message}");
        let dir = folder("[[firmware]]\nfile = \"a.bin\"\nversoin = \"1\"\n", &[]);
        let message = Catalog::load(dir.path()).unwrap_err().to_string();
        assert!(message.contains("versoin"), "{message}");
    }
}
