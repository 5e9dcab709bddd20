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

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use futures_util::Stream;

/// How far the network may run ahead of the disk, per upload. The multipart parser pulls every
/// byte the socket has into its own buffer; without this, a fast link (or a reverse proxy that
/// buffers the request and then sends it at LAN speed) puts whole 15 MB bodies in memory at once.
const READ_AHEAD: u64 = 512 * 1024;

/// Counts bytes handed to the parser and bytes written out, and parks the reader in between.
#[derive(Default)]
struct Gate {
    yielded: AtomicU64,
    consumed: AtomicU64,
    waker: std::sync::Mutex<Option<Waker>>,
}

impl Gate {
    fn consumed(&self, n: usize) {
        self.consumed.fetch_add(n as u64, Ordering::AcqRel);
        if let Ok(mut w) = self.waker.lock()
            && let Some(w) = w.take()
        {
            w.wake();
        }
    }

    fn ahead(&self) -> u64 {
        self.yielded
            .load(Ordering::Acquire)
            .saturating_sub(self.consumed.load(Ordering::Acquire))
    }
}

/// The request body, paused while the parser holds more than [`READ_AHEAD`] unwritten bytes.
struct Throttled<S> {
    inner: S,
    gate: Arc<Gate>,
}

impl<S, E> Stream for Throttled<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    type Item = Result<Bytes, E>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.gate.ahead() > READ_AHEAD {
            if let Ok(mut w) = self.gate.waker.lock() {
                *w = Some(cx.waker().clone());
            }
            // Written out meanwhile? Then go on rather than wait for a wake that already happened.
            if self.gate.ahead() > READ_AHEAD {
                return Poll::Pending;
            }
        }
        let polled = Pin::new(&mut self.inner).poll_next(cx);
        if let Poll::Ready(Some(Ok(chunk))) = &polled {
            self.gate
                .yielded
                .fetch_add(chunk.len() as u64, Ordering::AcqRel);
        }
        polled
    }
}

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
    #[error("the client stopped sending the upload")]
    TimedOut,
    #[error("files are not accepted from this sender")]
    Refused,
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
        E::Payload(p) if crate::security::is_body_timeout(&p) => UploadError::TimedOut,
        other => UploadError::Malformed(other.to_string()),
    }
}

/// Most parts a form may have (a photo and a few text fields in practice).
const MAX_PARTS: usize = 16;
/// Longest an upload may take: 15 MB at 3G's slowest usable rate (~200 kbit/s) is ten minutes.
const UPLOAD_DEADLINE: std::time::Duration = std::time::Duration::from_secs(15 * 60);

pub async fn receive(
    headers: &HeaderMap,
    payload: actix_web::web::Payload,
    tmp_dir: &Path,
    max_bytes: u64,
) -> Result<Upload, UploadError> {
    tokio::time::timeout(
        UPLOAD_DEADLINE,
        receive_form(headers, payload, tmp_dir, max_bytes),
    )
    .await
    .unwrap_or_else(|_| Err(UploadError::TimedOut))
}

async fn receive_form(
    headers: &HeaderMap,
    payload: actix_web::web::Payload,
    tmp_dir: &Path,
    max_bytes: u64,
) -> Result<Upload, UploadError> {
    let gate = Arc::new(Gate::default());
    let mut form = Multipart::new(
        headers,
        Throttled {
            inner: payload,
            gate: gate.clone(),
        },
    );
    let mut others = OtherParts::default();
    while let Some(mut field) = form.try_next().await.map_err(multipart_error)? {
        others.count()?;
        if field.name() != Some("file") {
            others.discard(&mut field, &gate).await?;
            continue;
        }
        let upload = spool(&mut field, tmp_dir, max_bytes, &gate).await?;
        // The multipart stream yields the next field only once this one is dropped.
        drop(field);
        // Drain whatever follows, so the client gets our answer rather than a reset connection.
        while let Some(mut rest) = form.try_next().await.map_err(multipart_error)? {
            others.count()?;
            others.discard(&mut rest, &gate).await?;
        }
        return Ok(upload);
    }
    Err(UploadError::NoFile)
}

/// A form of text fields and files (Open311 `POST requests` with `media` parts).
#[derive(Debug, Default)]
pub struct Form {
    /// Text fields in order, each name with its value.
    pub fields: Vec<(String, String)>,
    /// The files of the file field, in order.
    pub files: Vec<Upload>,
}

/// Reads a whole `multipart/form-data` body: parts named `file_field` are streamed to temporary
/// files (each under `max_bytes`, at most `max_files`, types sniffed as for single uploads); the
/// other parts are text fields, 64 KiB in all. Before the first file is written, `authorize`
/// sees the text fields read so far and may refuse the sender ([`UploadError::Refused`]): nobody
/// fills the disk without credentials.
pub async fn receive_fields(
    headers: &HeaderMap,
    payload: actix_web::web::Payload,
    tmp_dir: &Path,
    max_bytes: u64,
    file_field: &str,
    max_files: usize,
    mut authorize: impl AsyncFnMut(&[(String, String)]) -> bool,
) -> Result<Form, UploadError> {
    let work = async {
        let gate = Arc::new(Gate::default());
        let mut multipart = Multipart::new(
            headers,
            Throttled {
                inner: payload,
                gate: gate.clone(),
            },
        );
        let mut others = OtherParts::default();
        let mut form = Form::default();
        while let Some(mut field) = multipart.try_next().await.map_err(multipart_error)? {
            others.count()?;
            let name = field.name().unwrap_or_default().to_owned();
            if name == file_field {
                if form.files.is_empty() && !authorize(&form.fields).await {
                    return Err(UploadError::Refused);
                }
                if form.files.len() >= max_files {
                    return Err(UploadError::Malformed(format!(
                        "at most {max_files} `{file_field}` files"
                    )));
                }
                form.files
                    .push(spool(&mut field, tmp_dir, max_bytes, &gate).await?);
            } else {
                // Text that is not UTF-8 is read with replacement characters, as the
                // urlencoded form of the same request is: an `api_key` or a `service_code` then
                // fails its own check, a description keeps the readable rest.
                let value = others.read(&mut field, &gate).await?;
                let value = String::from_utf8_lossy(&value).into_owned();
                form.fields.push((name, value));
            }
        }
        Ok(form)
    };
    tokio::time::timeout(UPLOAD_DEADLINE, work)
        .await
        .unwrap_or_else(|_| Err(UploadError::Malformed("upload took too long".into())))
}

/// Streams one file part to a temporary file, hashing it and sniffing its type on the way.
async fn spool(
    field: &mut actix_multipart::Field,
    tmp_dir: &Path,
    max_bytes: u64,
    gate: &Gate,
) -> Result<Upload, UploadError> {
    let temp = tempfile::Builder::new()
        .prefix(&format!("upload-{}-{}-", host_tag(), std::process::id()))
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
        gate.consumed(chunk.len());
    }
    if total == 0 {
        return Err(UploadError::Empty);
    }
    let format = match format {
        Some(f) => f,
        None => sniff(&head)?,
    };
    out.flush().await?;
    Ok(Upload {
        file: temp,
        bytes: total,
        sha256: hasher.finalize().into(),
        format,
    })
}

/// The parts of a form other than `file`: counted, read and thrown away, within limits.
#[derive(Default)]
struct OtherParts {
    parts: usize,
    bytes: u64,
}

impl OtherParts {
    fn count(&mut self) -> Result<(), UploadError> {
        self.parts += 1;
        if self.parts > MAX_PARTS {
            return Err(UploadError::Malformed("too many form parts".into()));
        }
        Ok(())
    }

    async fn discard(
        &mut self,
        field: &mut actix_multipart::Field,
        gate: &Gate,
    ) -> Result<(), UploadError> {
        self.read(field, gate).await.map(drop)
    }

    /// The part's bytes, counted against the limit of all such parts.
    async fn read(
        &mut self,
        field: &mut actix_multipart::Field,
        gate: &Gate,
    ) -> Result<Vec<u8>, UploadError> {
        let mut value = Vec::new();
        while let Some(chunk) = field.try_next().await.map_err(multipart_error)? {
            gate.consumed(chunk.len());
            self.bytes += chunk.len() as u64;
            if self.bytes > OTHER_FIELDS_LIMIT {
                return Err(UploadError::Malformed("form fields too large".into()));
            }
            value.extend_from_slice(&chunk);
        }
        Ok(value)
    }
}

fn sniff(head: &[u8]) -> Result<SourceFormat, UploadError> {
    pipeline::sniff(head).map_err(|e| match e {
        PhotoError::Unsupported { detected } => UploadError::Unsupported(detected),
        _ => UploadError::Unsupported("unknown"),
    })
}

/// Removes upload files a killed process left behind: those of this host's processes that are no
/// longer running (the file name carries host and pid), and any older than an hour. Blocking:
/// call at start-up or from a blocking thread.
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
        // Only processes of this host can be checked; another host's files go by age alone.
        let mut fields = rest.split('-');
        let same_host = fields.next() == Some(host_tag().as_str());
        let owner_gone = same_host
            && fields
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

/// This host's name, reduced to characters safe in a file name (containers sharing a data
/// directory each have their own).
fn host_tag() -> String {
    let name = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default();
    let tag: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(32)
        .collect();
    if tag.is_empty() { "host".into() } else { tag }
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
