//! Receiving an upload: the multipart field `file` is streamed to a temporary file under a size
//! cap, hashed as it goes, and its type decided from its first bytes — before the rest of a
//! 15 MB body has crossed a 3G link when the answer is already "no".

use std::path::Path;

use actix_multipart::Multipart;
use actix_web::http::header::HeaderMap;
use futures_util::TryStreamExt as _;
use sha2::{Digest, Sha256};
use tempfile::NamedTempFile;
use tokio::io::AsyncWriteExt as _;

use super::pipeline::{self, PhotoError, SourceFormat};

/// A received photo, still in its temporary file (removed when this is dropped).
#[derive(Debug)]
pub struct Upload {
    pub file: NamedTempFile,
    pub bytes: u64,
    pub sha256: [u8; 32],
    pub format: SourceFormat,
}

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("the request is not multipart/form-data")]
    NotMultipart,
    #[error("malformed multipart body: {0}")]
    Malformed(String),
    #[error("no `file` field")]
    NoFile,
    #[error("the file is larger than {0} bytes")]
    TooLarge(u64),
    #[error("unsupported image format: {0}")]
    Unsupported(&'static str),
    #[error("empty file")]
    Empty,
    #[error("temporary file: {0}")]
    Io(#[from] std::io::Error),
}

/// Bytes of form fields other than `file` that are read (and discarded) at most.
const OTHER_FIELDS_LIMIT: u64 = 64 * 1024;
/// Enough of the file's start to recognise every format `sniff` knows.
const SNIFF_BYTES: usize = 32;

fn multipart_error(err: actix_multipart::MultipartError) -> UploadError {
    use actix_multipart::MultipartError as E;
    match err {
        E::ContentTypeMissing | E::ContentTypeParse | E::ContentTypeIncompatible => {
            UploadError::NotMultipart
        }
        other => UploadError::Malformed(other.to_string()),
    }
}

pub async fn receive(
    headers: &HeaderMap,
    payload: actix_web::web::Payload,
    tmp_dir: &Path,
    max_bytes: u64,
) -> Result<Upload, UploadError> {
    let mut form = Multipart::new(headers, payload);
    let mut other_bytes = 0u64;
    while let Some(mut field) = form.try_next().await.map_err(multipart_error)? {
        if field.name() != Some("file") {
            while let Some(chunk) = field.try_next().await.map_err(multipart_error)? {
                other_bytes += chunk.len() as u64;
                if other_bytes > OTHER_FIELDS_LIMIT {
                    return Err(UploadError::Malformed("form fields too large".into()));
                }
            }
            continue;
        }
        let temp = tempfile::Builder::new()
            .prefix(&format!("upload-{}-", std::process::id()))
            .tempfile_in(tmp_dir)?;
        let mut out = tokio::fs::File::from_std(temp.reopen()?);
        let mut hasher = Sha256::new();
        let mut head: Vec<u8> = Vec::with_capacity(SNIFF_BYTES);
        let mut format = None;
        let mut total = 0u64;
        while let Some(chunk) = field.try_next().await.map_err(multipart_error)? {
            total += chunk.len() as u64;
            if total > max_bytes {
                return Err(UploadError::TooLarge(max_bytes));
            }
            if format.is_none() {
                let take = (SNIFF_BYTES - head.len()).min(chunk.len());
                head.extend_from_slice(&chunk[..take]);
                if head.len() == SNIFF_BYTES {
                    format = Some(sniff(&head)?);
                }
            }
            hasher.update(&chunk);
            out.write_all(&chunk).await?;
        }
        if total == 0 {
            return Err(UploadError::Empty);
        }
        let format = match format {
            Some(f) => f,
            None => sniff(&head)?,
        };
        out.flush().await?;
        // The multipart stream yields the next field only once this one is dropped.
        drop(field);
        // Drain whatever follows, so the client gets our answer rather than a reset connection.
        while let Some(mut rest) = form.try_next().await.map_err(multipart_error)? {
            while let Some(chunk) = rest.try_next().await.map_err(multipart_error)? {
                other_bytes += chunk.len() as u64;
                if other_bytes > OTHER_FIELDS_LIMIT {
                    return Err(UploadError::Malformed("form fields too large".into()));
                }
            }
        }
        return Ok(Upload {
            file: temp,
            bytes: total,
            sha256: hasher.finalize().into(),
            format,
        });
    }
    Err(UploadError::NoFile)
}

fn sniff(head: &[u8]) -> Result<SourceFormat, UploadError> {
    pipeline::sniff(head).map_err(|e| match e {
        PhotoError::Unsupported { detected } => UploadError::Unsupported(detected),
        _ => UploadError::Unsupported("unknown"),
    })
}

/// Removes upload files a killed process left behind: those of processes no longer running (the
/// file name carries the pid), and any older than an hour.
pub fn sweep_temp_dir(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let cutoff = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix("upload-") else {
            continue;
        };
        let owner_gone = rest
            .split('-')
            .next()
            .and_then(|pid| pid.parse::<i32>().ok())
            .is_some_and(|pid| !process_alive(pid));
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t < cutoff);
        if (owner_gone || old) && std::fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

fn process_alive(pid: i32) -> bool {
    use nix::errno::Errno;
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
        Ok(()) => true,
        // It exists but belongs to someone else.
        Err(Errno::EPERM) => true,
        Err(_) => false,
    }
}
