//! The photo store: a local directory by default, an S3-compatible bucket by configuration, both
//! through `object_store` so the rest of the code does not care which.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use object_store::path::Path as ObjectPath;
use object_store::{
    BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig,
};

use crate::config::{MediaStore, Settings};

/// Longest wait for a TCP connection to the S3 endpoint (object_store's default is 5 s).
const S3_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest one S3 request may take, body included (default 30 s). A display JPEG is well under
/// 1 MB: ten seconds is generous on any link between a server and its bucket.
const S3_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Retries of a failed S3 request, and the time after which no new retry starts. The defaults
/// (10 retries, backoff up to 15 s, 3 minutes) keep an upload waiting for minutes while the store
/// is down; a resident is better served by a 503 with `Retry-After` within seconds, and the app
/// retries the upload itself.
const S3_MAX_RETRIES: usize = 2;
const S3_RETRY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct PhotoStore {
    inner: Arc<dyn ObjectStore>,
    /// The directory of the local store (`None` for S3): object directories left empty by a
    /// failed write or a delete are removed from it.
    local_root: Option<PathBuf>,
}

impl std::fmt::Debug for PhotoStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PhotoStore({})", self.inner)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no such object")]
    NotFound,
    /// No space left (or the quota is spent): answered 507, not 503, since retrying soon will
    /// not help until an operator frees space.
    #[error("photo store full: {0}")]
    Full(#[source] object_store::Error),
    #[error("photo store: {0}")]
    Unavailable(#[source] object_store::Error),
}

impl From<object_store::Error> for StoreError {
    fn from(err: object_store::Error) -> Self {
        match err {
            object_store::Error::NotFound { .. } => StoreError::NotFound,
            other if io_cause(&other).is_some_and(is_out_of_space) => StoreError::Full(other),
            other => StoreError::Unavailable(other),
        }
    }
}

/// The operating-system error under `err`, if any: object_store wraps it (the local store's
/// `io::Error` sits two levels down, inside its own error inside `Error::Generic`).
pub fn io_cause<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a std::io::Error> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        current = e.source();
    }
    None
}

/// ENOSPC (disk full) or EDQUOT (the user's quota spent).
pub fn is_out_of_space(err: &std::io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT))
        || err.kind() == std::io::ErrorKind::StorageFull
}

impl PhotoStore {
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        let media = &settings.media;
        let (inner, local_root): (Arc<dyn ObjectStore>, _) = match media.store {
            MediaStore::Local => {
                let dir = media
                    .local_dir
                    .clone()
                    .unwrap_or_else(|| settings.data_dir.join("media"));
                std::fs::create_dir_all(&dir).map_err(|e| {
                    anyhow::anyhow!("cannot create the photo directory {}: {e}", dir.display())
                })?;
                let store = object_store::local::LocalFileSystem::new_with_prefix(&dir)?;
                (Arc::new(store), Some(dir))
            }
            MediaStore::S3 => {
                let bucket = media
                    .s3_bucket
                    .as_deref()
                    .ok_or_else(|| anyhow::anyhow!("media.store = \"s3\" needs media.s3_bucket"))?;
                // Client options first: `with_client_options` replaces what `with_allow_http`
                // sets.
                let mut builder = object_store::aws::AmazonS3Builder::new()
                    .with_client_options(
                        ClientOptions::new()
                            .with_connect_timeout(S3_CONNECT_TIMEOUT)
                            .with_timeout(S3_REQUEST_TIMEOUT),
                    )
                    .with_bucket_name(bucket)
                    .with_region(&media.s3_region)
                    .with_allow_http(media.s3_allow_http)
                    .with_retry(RetryConfig {
                        backoff: BackoffConfig {
                            init_backoff: Duration::from_millis(100),
                            max_backoff: Duration::from_secs(1),
                            base: 2.0,
                        },
                        max_retries: S3_MAX_RETRIES,
                        retry_timeout: S3_RETRY_TIMEOUT,
                    });
                if let Some(endpoint) = &media.s3_endpoint {
                    builder = builder.with_endpoint(endpoint);
                }
                if let Some(id) = &media.s3_access_key_id {
                    builder = builder.with_access_key_id(id);
                }
                if let Some(secret) = &media.s3_secret_access_key {
                    builder = builder.with_secret_access_key(secret.expose());
                }
                (Arc::new(builder.build()?), None)
            }
        };
        Ok(Self { inner, local_root })
    }

    /// Writes the whole object at once (the local store writes a temporary file and renames it,
    /// S3 a single PUT), so a reader never sees half a photo. A failed local write leaves no
    /// file (object_store removes its temporary one) and no empty directory (removed here).
    pub async fn put(&self, key: &str, data: Vec<u8>) -> Result<(), StoreError> {
        let written = self
            .inner
            .put(&ObjectPath::from(key), PutPayload::from(data))
            .await;
        if let Err(e) = written {
            self.prune_dir(key).await;
            return Err(e.into());
        }
        Ok(())
    }

    pub async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        let result = self.inner.get(&ObjectPath::from(key)).await?;
        Ok(result.bytes().await?)
    }

    /// Deleting what is already gone is success: the sweeper may retry a half-done cleanup.
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        match self.inner.delete(&ObjectPath::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {
                self.prune_dir(key).await;
                Ok(())
            }
            Err(e) => Err(StoreError::Unavailable(e)),
        }
    }

    /// Removes the local directory of `key` (`photos/<id>/`) if nothing is left in it, so
    /// expired and failed uploads do not leave one empty directory each behind. Never the
    /// top-level `photos/` itself: a concurrent upload may be about to create its directory
    /// under it. Best effort: a directory still in use is simply not empty.
    async fn prune_dir(&self, key: &str) {
        let Some(root) = &self.local_root else {
            return;
        };
        let Some((parent, _)) = key.rsplit_once('/') else {
            return;
        };
        if !parent.contains('/') {
            return;
        }
        let _ = tokio::fs::remove_dir(root.join(parent)).await;
    }
}

impl PhotoStore {
    /// Removes what is left of photo `id` besides its keys, once they are deleted. The local
    /// store writes `<key>#<n>` and renames it: a process killed in between leaves that staging
    /// file, which no key names and `object_store` does not list, and the photo's directory.
    /// Every rendition of a photo lives under `photos/<id>/`, so the directory goes whole. (S3
    /// writes an object in one PUT: nothing is left there.)
    pub async fn remove_leftovers(&self, id: uuid::Uuid) -> Result<(), StoreError> {
        let Some(dir) = &self.local_root else {
            return Ok(());
        };
        let photo_dir = dir.join("photos").join(id.to_string());
        let removed = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(photo_dir))
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        match removed {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::Unavailable(object_store::Error::Generic {
                store: "LocalFileSystem",
                source: Box::new(e),
            })),
        }
    }
}

/// Object keys of one photo's renditions.
pub fn keys(id: uuid::Uuid) -> (String, String) {
    (
        format!("photos/{id}/display.jpg"),
        format!("photos/{id}/thumbnail.jpg"),
    )
}
