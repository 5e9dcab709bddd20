//! The photo store: a local directory by default, an S3-compatible bucket by configuration, both
//! through `object_store` so the rest of the code does not care which.

use std::sync::Arc;

use bytes::Bytes;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::config::{MediaStore, Settings};

#[derive(Clone)]
pub struct PhotoStore {
    inner: Arc<dyn ObjectStore>,
    /// The directory of the local store (`None` for S3).
    local_dir: Option<std::path::PathBuf>,
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
    #[error("photo store: {0}")]
    Unavailable(#[source] object_store::Error),
}

impl From<object_store::Error> for StoreError {
    fn from(err: object_store::Error) -> Self {
        match err {
            object_store::Error::NotFound { .. } => StoreError::NotFound,
            other => StoreError::Unavailable(other),
        }
    }
}

impl PhotoStore {
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        let media = &settings.media;
        let mut local_dir = None;
        let inner: Arc<dyn ObjectStore> = match media.store {
            MediaStore::Local => {
                let dir = media
                    .local_dir
                    .clone()
                    .unwrap_or_else(|| settings.data_dir.join("media"));
                std::fs::create_dir_all(&dir).map_err(|e| {
                    anyhow::anyhow!("cannot create the photo directory {}: {e}", dir.display())
                })?;
                let store = object_store::local::LocalFileSystem::new_with_prefix(&dir)?;
                local_dir = Some(dir);
                Arc::new(store)
            }
            MediaStore::S3 => {
                let bucket = media
                    .s3_bucket
                    .as_deref()
                    .ok_or_else(|| anyhow::anyhow!("media.store = \"s3\" needs media.s3_bucket"))?;
                let mut builder = object_store::aws::AmazonS3Builder::new()
                    .with_bucket_name(bucket)
                    .with_region(&media.s3_region)
                    .with_allow_http(media.s3_allow_http);
                if let Some(endpoint) = &media.s3_endpoint {
                    builder = builder.with_endpoint(endpoint);
                }
                if let Some(id) = &media.s3_access_key_id {
                    builder = builder.with_access_key_id(id);
                }
                if let Some(secret) = &media.s3_secret_access_key {
                    builder = builder.with_secret_access_key(secret.expose());
                }
                Arc::new(builder.build()?)
            }
        };
        Ok(Self { inner, local_dir })
    }

    /// Writes the whole object at once (the local store writes a temporary file and renames it,
    /// S3 a single PUT), so a reader never sees half a photo.
    pub async fn put(&self, key: &str, data: Vec<u8>) -> Result<(), StoreError> {
        self.inner
            .put(&ObjectPath::from(key), PutPayload::from(data))
            .await?;
        Ok(())
    }

    pub async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        let result = self.inner.get(&ObjectPath::from(key)).await?;
        Ok(result.bytes().await?)
    }

    /// Deleting what is already gone is success: the sweeper may retry a half-done cleanup.
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        match self.inner.delete(&ObjectPath::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(StoreError::Unavailable(e)),
        }
    }
}

impl PhotoStore {
    /// Removes what is left of photo `id` besides its keys, once they are deleted. The local
    /// store writes `<key>#<n>` and renames it: a process killed in between leaves that staging
    /// file, which no key names and `object_store` does not list, and the photo's directory.
    /// Every rendition of a photo lives under `photos/<id>/`, so the directory goes whole. (S3
    /// writes an object in one PUT: nothing is left there.)
    pub async fn remove_leftovers(&self, id: uuid::Uuid) -> Result<(), StoreError> {
        let Some(dir) = &self.local_dir else {
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
