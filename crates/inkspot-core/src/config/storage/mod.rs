//! `[storage]`: where renders and job results are kept behind the memory
//! cache: the cache folder (the default), or an S3-compatible bucket that
//! replicas share.

/// The rules this section must satisfy beyond its types, checked at load.
pub(super) mod checks;

use serde::Deserialize;

use super::Secret;

/// Which backend keeps renders.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageBackend {
    /// Files in `cache.dir`.
    #[default]
    Disk,
    /// Objects in an S3-compatible bucket.
    S3,
}

/// `[storage]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// `disk` (default) or `s3`.
    pub backend: StorageBackend,
    /// The bucket (s3; required). It must exist.
    pub bucket: Option<String>,
    /// A prefix for every object, such as `inkspot/` (s3). Default: none.
    pub prefix: Option<String>,
    /// The endpoint of an S3-compatible server, such as
    /// `http://127.0.0.1:8333` (s3). Default: AWS for `region`.
    pub endpoint: Option<String>,
    /// The region (s3). Default: `AWS_REGION`, else `us-east-1`.
    pub region: Option<String>,
    /// The access key id (s3). Default: `AWS_ACCESS_KEY_ID`.
    pub access_key_id: Option<String>,
    /// The secret access key (s3). Default: `AWS_SECRET_ACCESS_KEY`.
    pub secret_access_key: Option<Secret>,
    /// A PEM file with the certificate authority that signed an `https://`
    /// endpoint's certificate, when it is a private one (s3); relative to
    /// the config's folder. Default: none, and the public roots are
    /// trusted.
    pub ca: Option<std::path::PathBuf>,
    /// The certificates of `ca`, read when the config is loaded.
    #[serde(skip)]
    pub ca_pem: Option<Vec<u8>>,
}

/// `[coordination]`: how replicas share work. Without `redis_url` each
/// replica works alone, as a single server does.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CoordinationConfig {
    /// A Redis server the replicas share: `redis://host:6379/0`, or
    /// `rediss://` for TLS. Default: the `INKSPOT_REDIS_URL` environment
    /// variable; unset, none.
    pub redis_url: Option<Secret>,
    /// The prefix of every key and channel, so deployments can share one
    /// Redis. Default `inkspot`.
    pub prefix: String,
    /// How long a claim on a fetch or render holds when its replica stops
    /// renewing it (it renews every third of this while it works); another
    /// replica takes the work over after it. Default `15s`.
    #[serde(deserialize_with = "super::units::duration")]
    pub claim_ttl: std::time::Duration,
    /// A PEM file with the certificate authority that signed a `rediss://`
    /// server's certificate, when it is a private one; relative to the
    /// config's folder. Default: none, and the public roots are trusted.
    pub redis_ca: Option<std::path::PathBuf>,
    /// The certificates of `redis_ca`, read when the config is loaded.
    #[serde(skip)]
    pub redis_ca_pem: Option<Vec<u8>>,
}

impl Default for CoordinationConfig {
    fn default() -> Self {
        Self {
            redis_url: None,
            prefix: "inkspot".to_string(),
            claim_ttl: std::time::Duration::from_secs(15),
            redis_ca: None,
            redis_ca_pem: None,
        }
    }
}
