//! The S3 backend, through `object_store`: renders in a bucket that
//! replicas share. Under the prefix, each variant's image is
//! `<spot>/<variant>.<hash>.img`, named by its checksum, and its record
//! `<spot>/<variant>.meta.json`: the metadata, the image's name and size,
//! and when it was last used. The image is put first and the record last,
//! each an atomic PUT, so a reader that reads the record and then the image
//! it names gets one whole version; older images are deleted after. A
//! touch rewrites the record with the time of use, since objects have no
//! writable modification time. Documents are `<name>.json`, blobs
//! `blobs/<name>` (uploaded in parts from their file).

mod record;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{Certificate, ObjectStore, PutPayload};

use super::{
    Blob, BlobStore, DocumentStore, Key, Listed, Meta, RenderStore, Rendered, Retention,
    StoreError, Sweep,
};
use crate::config::StorageConfig;
use record::Record;

/// Renders in an S3-compatible bucket.
#[derive(Debug, Clone)]
pub struct S3Backend {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    bucket: String,
}

/// Retries of a failed request: a few, within seconds. The memory layer
/// answers while S3 is away and failed writes are retried later, so a
/// request never waits minutes on an unreachable server.
fn retry() -> object_store::RetryConfig {
    object_store::RetryConfig {
        backoff: object_store::BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            base: 2.0,
        },
        max_retries: 2,
        retry_timeout: Duration::from_secs(5),
    }
}

impl S3Backend {
    /// The backend `[storage]` describes; credentials and region fall back
    /// to the `AWS_*` environment variables.
    pub fn new(config: &StorageConfig) -> Result<Self, StoreError> {
        let bucket = config.bucket.clone().unwrap_or_default();
        let configure = |source: object_store::Error| StoreError::Remote {
            op: "configure",
            path: bucket.clone(),
            source: source.into(),
        };
        let mut client = object_store::ClientOptions::new()
            .with_connect_timeout(Duration::from_secs(2))
            .with_timeout(Duration::from_secs(30));
        if let Some(pem) = &config.ca_pem {
            for authority in Certificate::from_pem_bundle(pem).map_err(configure)? {
                client = client.with_root_certificate(authority);
            }
        }
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(&bucket)
            .with_retry(retry())
            .with_client_options(client);
        if let Some(endpoint) = &config.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
        }
        let region = config
            .region
            .clone()
            .or_else(|| std::env::var("AWS_REGION").ok());
        builder = builder.with_region(region.unwrap_or_else(|| "us-east-1".into()));
        if let Some(id) = &config.access_key_id {
            builder = builder.with_access_key_id(id);
        }
        if let Some(secret) = &config.secret_access_key {
            builder = builder.with_secret_access_key(secret.expose());
        }
        let store = builder.build().map_err(configure)?;
        let prefix = config.prefix.clone().unwrap_or_default();
        let prefix = prefix.trim_matches('/').to_string();
        Ok(Self {
            store: Arc::new(store),
            prefix,
            bucket,
        })
    }

    fn path(&self, rel: &str) -> ObjectPath {
        if self.prefix.is_empty() {
            ObjectPath::from(rel)
        } else {
            ObjectPath::from(format!("{}/{rel}", self.prefix))
        }
    }

    fn record_path(&self, key: &Key) -> ObjectPath {
        self.path(&format!("{}/{}.meta.json", key.spot(), key.variant()))
    }

    fn image_path(&self, key: &Key, meta: &Meta) -> (String, ObjectPath) {
        let hash = meta.checksum.to_string();
        let name = format!("{}.{}.img", key.variant(), &hash[..16]);
        let path = self.path(&format!("{}/{name}", key.spot()));
        (name, path)
    }

    fn named(&self, kind: &str, name: &str) -> Result<ObjectPath, StoreError> {
        if !super::is_document_name(name) {
            return Err(StoreError::BadName(name.to_string()));
        }
        Ok(match kind {
            "blob" => self.path(&format!("blobs/{name}")),
            _ => self.path(&format!("{name}.json")),
        })
    }

    fn fail(
        &self,
        op: &'static str,
        path: &ObjectPath,
    ) -> impl FnOnce(object_store::Error) -> StoreError + use<> {
        let path = format!("s3://{}/{path}", self.bucket);
        move |source| StoreError::Remote {
            op,
            path,
            source: source.into(),
        }
    }

    /// The object at `path`, or `None` when there is none.
    async fn read(&self, path: &ObjectPath) -> Result<Option<Bytes>, StoreError> {
        match self.store.get(path).await {
            Ok(got) => Ok(Some(got.bytes().await.map_err(self.fail("read", path))?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.fail("read", path)(e)),
        }
    }

    async fn write(&self, path: &ObjectPath, bytes: Bytes) -> Result<(), StoreError> {
        self.store
            .put(path, PutPayload::from(bytes))
            .await
            .map(|_| ())
            .map_err(self.fail("write", path))
    }

    /// Deletes `path`; `false` when it was not there.
    async fn remove(&self, path: &ObjectPath) -> Result<bool, StoreError> {
        match self.store.head(path).await {
            Ok(_) => {}
            Err(object_store::Error::NotFound { .. }) => return Ok(false),
            Err(e) => return Err(self.fail("read", path)(e)),
        }
        match self.store.delete(path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(true),
            Err(e) => Err(self.fail("delete", path)(e)),
        }
    }

    async fn record(&self, key: &Key) -> Result<Option<Record>, StoreError> {
        let path = self.record_path(key);
        match self.read(&path).await? {
            Some(bytes) => Record::parse(&bytes, path.as_ref()).map(Some),
            None => Ok(None),
        }
    }

    /// Every object name below `rel` (the whole prefix when `None`).
    async fn names(&self, rel: Option<&str>) -> Result<Vec<(ObjectPath, u64)>, StoreError> {
        let base = match rel {
            Some(rel) => self.path(rel),
            None if self.prefix.is_empty() => ObjectPath::default(),
            None => ObjectPath::from(self.prefix.as_str()),
        };
        let listed: Vec<_> = self
            .store
            .list(Some(&base))
            .map_ok(|m| (m.location, m.size))
            .try_collect()
            .await
            .map_err(self.fail("list", &base))?;
        Ok(listed)
    }

    /// Every render's key and record, for one spot or all.
    async fn records(&self, slug: Option<&str>) -> Result<Vec<(Key, Record)>, StoreError> {
        let mut out = Vec::new();
        for (path, _) in self.names(slug).await? {
            let Some(key) = self.key_of(&path) else {
                continue;
            };
            if let Some(record) = self.record(&key).await? {
                out.push((key, record));
            }
        }
        Ok(out)
    }

    /// The key of a record's path, if it is one.
    fn key_of(&self, path: &ObjectPath) -> Option<Key> {
        let full = path.to_string();
        let rel = if self.prefix.is_empty() {
            full.as_str()
        } else {
            full.strip_prefix(&self.prefix)?.strip_prefix('/')?
        };
        let (spot, file) = rel.split_once('/')?;
        Key::parse(spot, file.strip_suffix(".meta.json")?)
    }

    /// Images of `key`'s variant other than `keep`.
    async fn old_images(&self, key: &Key, keep: &str) -> Result<Vec<ObjectPath>, StoreError> {
        let start = format!("{}.", key.variant());
        Ok(self
            .names(Some(key.spot()))
            .await?
            .into_iter()
            .map(|(p, _)| p)
            .filter(|p| {
                let name = p.filename().unwrap_or_default();
                name.starts_with(&start)
                    && name.ends_with(".img")
                    && name != keep
                    && name[start.len()..name.len() - 4]
                        .bytes()
                        .all(|b| b.is_ascii_hexdigit())
            })
            .collect())
    }
}

#[async_trait::async_trait]
impl RenderStore for S3Backend {
    fn name(&self) -> &'static str {
        "s3"
    }

    fn is_shared(&self) -> bool {
        true
    }

    async fn open(&self) -> Result<(), StoreError> {
        // The bucket must exist and answer: shown at start-up, not at the
        // first render.
        let probe = self.path("inkspot-probe");
        self.write(&probe, Bytes::from_static(b"ok")).await?;
        self.remove(&probe).await?;
        Ok(())
    }

    async fn get(&self, key: &Key) -> Result<Option<Rendered>, StoreError> {
        for _ in 0..3 {
            let Some(record) = self.record(key).await? else {
                return Ok(None);
            };
            let path = self.path(&format!("{}/{}", key.spot(), record.image));
            // None: replaced since the record was read; read it again.
            let Some(bytes) = self.read(&path).await? else {
                continue;
            };
            let rendered = Rendered::from_parts(bytes, record.meta);
            if !rendered.is_intact() {
                return Err(StoreError::Checksum(path.to_string()));
            }
            return Ok(Some(rendered));
        }
        Ok(None)
    }

    async fn meta(&self, key: &Key) -> Result<Option<Meta>, StoreError> {
        Ok(self.record(key).await?.map(|r| r.meta))
    }

    async fn put(&self, key: &Key, rendered: &Rendered) -> Result<(), StoreError> {
        let (image, path) = self.image_path(key, &rendered.meta);
        self.write(&path, rendered.bytes.clone()).await?;
        let record = Record::new(
            rendered.meta.clone(),
            image.clone(),
            rendered.bytes.len() as u64,
        );
        self.write(&self.record_path(key), record.to_bytes())
            .await?;
        for old in self.old_images(key, &image).await? {
            self.remove(&old).await?;
        }
        Ok(())
    }

    async fn delete(&self, key: &Key) -> Result<bool, StoreError> {
        let existed = self.remove(&self.record_path(key)).await?;
        for old in self.old_images(key, "").await? {
            self.remove(&old).await?;
        }
        Ok(existed)
    }

    async fn list(&self, slug: Option<&str>) -> Result<Vec<Listed>, StoreError> {
        let records = self.records(slug).await?;
        Ok(records
            .into_iter()
            .map(|(key, r)| Listed {
                key,
                bytes: r.bytes,
                meta: r.meta,
            })
            .collect())
    }

    async fn touch(&self, key: &Key) -> Result<bool, StoreError> {
        let Some(mut record) = self.record(key).await? else {
            return Ok(false);
        };
        record.used_ms = Utc::now().timestamp_millis();
        self.write(&self.record_path(key), record.to_bytes())
            .await?;
        Ok(true)
    }

    async fn sweep(&self, retention: Retention) -> Result<Sweep, StoreError> {
        let mut records = self.records(None).await?;
        records.sort_by_key(|(_, r)| std::cmp::Reverse(r.used_ms));
        let now = Utc::now().timestamp_millis();
        let max_age = i64::try_from(retention.max_age.as_millis()).unwrap_or(i64::MAX);
        let mut sweep = Sweep::default();
        for (key, record) in records {
            let young = now - record.used_ms <= max_age;
            if young && sweep.kept_bytes + record.bytes <= retention.max_bytes {
                sweep.kept_bytes += record.bytes;
                sweep.kept += 1;
                continue;
            }
            self.delete(&key).await?;
            sweep.removed += 1;
        }
        Ok(sweep)
    }
}

#[async_trait::async_trait]
impl DocumentStore for S3Backend {
    async fn get_document(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.named("document", name)?;
        Ok(self.read(&path).await?.map(|b| b.to_vec()))
    }

    async fn put_document(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let path = self.named("document", name)?;
        self.write(&path, Bytes::copy_from_slice(bytes)).await
    }
}

#[async_trait::async_trait]
impl BlobStore for S3Backend {
    async fn put_blob(&self, name: &str, file: &std::path::Path) -> Result<u64, StoreError> {
        let path = self.named("blob", name)?;
        let io = |op| {
            let path = file.display().to_string();
            move |source| StoreError::Io { op, path, source }
        };
        let mut source = tokio::fs::File::open(file).await.map_err(io("read"))?;
        // Uploaded in parts as it is read; the object appears whole when the
        // upload completes, never half.
        let mut upload = object_store::buffered::BufWriter::new(self.store.clone(), path.clone());
        let len = tokio::io::copy(&mut source, &mut upload)
            .await
            .map_err(io("upload"))?;
        tokio::io::AsyncWriteExt::shutdown(&mut upload)
            .await
            .map_err(io("upload"))?;
        let _ = tokio::fs::remove_file(file).await;
        Ok(len)
    }

    async fn open_blob(&self, name: &str) -> Result<Option<Blob>, StoreError> {
        let path = self.named("blob", name)?;
        let got = match self.store.get(&path).await {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(self.fail("read", &path)(e)),
        };
        let len = got.meta.size;
        let body = got
            .into_stream()
            .map(|chunk| chunk.map_err(std::io::Error::other));
        Ok(Some(Blob {
            len,
            body: Box::pin(body),
        }))
    }

    async fn delete_blob(&self, name: &str) -> Result<bool, StoreError> {
        let path = self.named("blob", name)?;
        self.remove(&path).await
    }
}
