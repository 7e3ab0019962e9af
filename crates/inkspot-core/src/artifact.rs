//! What is stored: an encoded image and its typed metadata. Metadata is
//! written as JSON beside the image (`content_type` and `checksum` as
//! strings), so files written by earlier versions still read.

use std::fmt;
use std::str::FromStr;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::HeaderValue;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The media type of stored bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaType {
    /// `image/png`
    Png,
    /// `image/bmp`
    Bmp,
}

impl MediaType {
    /// The MIME type, as `Content-Type` sends it.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaType::Png => "image/png",
            MediaType::Bmp => "image/bmp",
        }
    }

    /// The file name extension.
    pub fn extension(self) -> &'static str {
        match self {
            MediaType::Png => "png",
            MediaType::Bmp => "bmp",
        }
    }
}

impl fmt::Display for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MediaType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "image/png" => Ok(MediaType::Png),
            "image/bmp" => Ok(MediaType::Bmp),
            other => Err(format!("unknown media type `{other}`")),
        }
    }
}

impl Serialize for MediaType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for MediaType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// The BLAKE3 hash of an image's bytes: its integrity check and its ETag.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Checksum([u8; 32]);

impl Checksum {
    /// The checksum of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(*blake3::hash(bytes).as_bytes())
    }

    /// A strong ETag: the first 128 bits, hex, quoted.
    pub fn etag(&self) -> String {
        let hex = self.hex();
        let mut tag = String::with_capacity(34);
        tag.push('"');
        tag.push_str(&hex[..32]);
        tag.push('"');
        tag
    }

    /// The hash as 64 hex digits, without allocating.
    pub fn hex(&self) -> impl std::ops::Deref<Target = str> {
        blake3::Hash::from_bytes(self.0).to_hex()
    }

    /// The raw hash.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

impl fmt::Debug for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Checksum({self})")
    }
}

impl FromStr for Checksum {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let hash = blake3::Hash::from_hex(s).map_err(|e| format!("bad checksum `{s}`: {e}"))?;
        Ok(Self(*hash.as_bytes()))
    }
}

impl Serialize for Checksum {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Checksum {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Facts about a render, kept beside its bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// When it was drawn (or first drawn with these exact bytes).
    pub rendered_at: DateTime<Utc>,
    /// When the data it shows was fetched; freshness counts from here.
    pub data_at: DateTime<Utc>,
    /// True when some sources or fields failed; such renders expire sooner.
    pub partial: bool,
    /// The media type of the bytes.
    pub content_type: MediaType,
    /// BLAKE3 of the bytes.
    pub checksum: Checksum,
}

/// A stored image.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// The encoded image.
    pub bytes: Bytes,
    /// Its metadata. Read it freely; a change goes through a method such
    /// as [`first_drawn_at`](Self::first_drawn_at), which keeps the head in
    /// step.
    pub meta: Meta,
    /// The response headers that follow from the bytes and metadata.
    head: Head,
}

/// Response header values that depend only on a render, made once when
/// the render is made or read, so that a cache hit clones them instead of
/// formatting them.
#[derive(Debug, Clone, PartialEq)]
pub struct Head {
    /// `ETag`: the strong tag of the bytes.
    pub etag: HeaderValue,
    /// `Last-Modified`: when the render was drawn, as an HTTP date.
    pub last_modified: HeaderValue,
    /// `Content-Type`.
    pub content_type: HeaderValue,
    /// `Content-Length`.
    pub content_length: HeaderValue,
}

impl Head {
    fn of(bytes: &Bytes, meta: &Meta) -> Self {
        let text = |s: String| {
            HeaderValue::from_maybe_shared(Bytes::from(s))
                .expect("hex digits and HTTP dates are valid header values")
        };
        Self {
            etag: text(meta.checksum.etag()),
            last_modified: text(httpdate::fmt_http_date(meta.rendered_at.into())),
            content_type: HeaderValue::from_static(meta.content_type.as_str()),
            content_length: HeaderValue::from(bytes.len()),
        }
    }
}

impl Rendered {
    /// Wraps freshly encoded bytes, computing the checksum.
    pub fn new(
        bytes: Vec<u8>,
        content_type: MediaType,
        rendered_at: DateTime<Utc>,
        data_at: DateTime<Utc>,
        partial: bool,
    ) -> Self {
        let checksum = Checksum::of(&bytes);
        Self::from_parts(
            Bytes::from(bytes),
            Meta {
                rendered_at,
                data_at,
                partial,
                content_type,
                checksum,
            },
        )
    }

    /// Puts stored bytes and their metadata back together, as a backend
    /// reads them. [`is_intact`](Self::is_intact) tells whether they match.
    pub fn from_parts(bytes: Bytes, meta: Meta) -> Self {
        let head = Head::of(&bytes, &meta);
        Self { bytes, meta, head }
    }

    /// The same render, dated `rendered_at`: identical bytes drawn again
    /// keep the date they were first drawn. The head follows the date.
    pub fn first_drawn_at(mut self, rendered_at: DateTime<Utc>) -> Self {
        self.meta.rendered_at = rendered_at;
        self.head = Head::of(&self.bytes, &self.meta);
        self
    }

    /// The response header values of this render.
    pub fn head(&self) -> &Head {
        &self.head
    }

    /// The strong ETag of the bytes.
    pub fn etag(&self) -> &str {
        self.head.etag.to_str().expect("built from an ASCII string")
    }

    /// Whether the bytes match the checksum in the metadata.
    pub fn is_intact(&self) -> bool {
        Checksum::of(&self.bytes) == self.meta.checksum
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_written_by_the_previous_version_still_reads() {
        let json = r#"{"rendered_at":"2026-11-22T17:00:03Z","data_at":"2026-11-22T17:00:00Z","partial":false,"content_type":"image/png","checksum":"af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"}"#;
        let meta: Meta = serde_json::from_str(json).unwrap();
        assert_eq!(meta.content_type, MediaType::Png);
        assert_eq!(meta.checksum, Checksum::of(b""));
        assert_eq!(meta.checksum.etag(), "\"af1349b9f5f9a1a6a0404dea36dcc949\"");
        assert_eq!(serde_json::to_string(&meta).unwrap(), json);
    }

    #[test]
    fn unknown_media_types_and_bad_checksums_are_refused() {
        let bad_type = r#"{"rendered_at":"2026-11-22T17:00:03Z","data_at":"2026-11-22T17:00:00Z","partial":false,"content_type":"text/html","checksum":"af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"}"#;
        assert!(serde_json::from_str::<Meta>(bad_type).is_err());
        assert!("xyz".parse::<Checksum>().is_err());
    }
}
