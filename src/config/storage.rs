//! `[storage]`: where renders and job results are kept behind the memory
//! cache: the cache folder (the default), or an S3-compatible bucket that
//! replicas share.

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
}
