//! The photo pipeline: untrusted upload bytes in, two clean baseline JPEGs and the camera's GPS
//! position out.
//!
//! Pure and synchronous (no I/O, no clock, no global state), so callers run it on a blocking
//! thread and tests run it on fixtures. The stages, cheapest order first:
//!
//! 1. [`sniff`] the magic bytes (the client's `Content-Type` is never trusted);
//! 2. check the size the header claims against [`PhotoLimits`] *before* allocating pixels;
//! 3. decode — JPEG with mozjpeg, DCT-scaled to just above the display size
//!    ([`chosen_scale`]); PNG and WebP with `image`;
//! 4. resize (fast_image_resize, Lanczos3) to the display size, and the thumbnail from that;
//! 5. apply the EXIF orientation to the two small images (cheaper than rotating the original);
//! 6. encode baseline JPEGs with jpeg-encoder, carrying no metadata at all.
//!
//! Every failure is one of three [`PhotoError`]s; a corrupt file, a decompression bomb or a panic
//! inside a decoder never takes the worker down.

mod encode;
mod format;
mod jpeg;
mod metadata;
mod raster;
mod transform;

#[cfg(test)]
mod tests;

use fast_image_resize::Resizer;

pub use self::format::{SourceFormat, sniff};
pub use self::jpeg::chosen_scale;
use self::transform::{fit_within, resize, resize_ref};
use crate::domain::Coordinates;

/// Longest side of the display rendition, in pixels: sharp on a phone held upright and on a
/// laptop, about 200–400 KB as JPEG. Smaller photos are kept at their size, never upscaled.
pub const DISPLAY_MAX_SIDE: u32 = 1600;
/// Longest side of the thumbnail used in lists and maps (about 20 KB). Never upscaled.
pub const THUMBNAIL_MAX_SIDE: u32 = 320;

/// JPEG quality of the display rendition: visually transparent for phone photos at this size.
const DISPLAY_QUALITY: u8 = 82;
/// Thumbnails are small and viewed small; artefacts are invisible at lower quality.
const THUMBNAIL_QUALITY: u8 = 75;

/// Resource bounds for decoding one untrusted file.
///
/// Compressed formats can claim enormous sizes in a few bytes (a 1 KB PNG can announce
/// 100 000 × 100 000 pixels, 30 GB of RGB); the claim is checked from the header before anything
/// image-sized is allocated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhotoLimits {
    /// Largest accepted `width × height` of the original. The default, 40 MP, is above every
    /// phone camera in default mode (12–24 MP; 50 MP+ sensors save binned 12 MP by default).
    pub max_pixels: u64,
    /// Budget for the decoder's allocations, in bytes; passed to `image::Limits::max_alloc` and
    /// used to bound libjpeg's buffers by estimate.
    pub max_alloc_bytes: u64,
}

impl Default for PhotoLimits {
    fn default() -> Self {
        Self {
            max_pixels: 40_000_000,
            max_alloc_bytes: 512 * 1024 * 1024,
        }
    }
}

/// One encoded output image. Always a baseline JPEG (`image/jpeg`) with only a JFIF header: no
/// EXIF, XMP, IPTC, ICC profile or comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendition {
    pub bytes: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

/// The result of [`process`]: everything the report needs from a photo. The original bytes are
/// not part of it; storing them would re-publish what the pipeline strips.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessedPhoto {
    /// The detected format of the upload.
    pub source: SourceFormat,
    /// The original's size as seen upright, i.e. after applying the EXIF orientation (a portrait
    /// phone photo stored as 4032×3024 with orientation 6 is 3024×4032 here).
    pub width: u32,
    /// See `width`.
    pub height: u32,
    /// Longest side [`DISPLAY_MAX_SIDE`], upright.
    pub display: Rendition,
    /// Longest side [`THUMBNAIL_MAX_SIDE`], upright.
    pub thumbnail: Rendition,
    /// The camera's GPS position from EXIF, when present and plausible. A hint for the reporter's
    /// position, never a substitute for the one the app sends.
    pub exif_location: Option<Coordinates>,
}

/// Why a photo was refused. The variants map to distinct answers for the client (wrong format,
/// too large, broken file).
#[derive(Debug, thiserror::Error)]
pub enum PhotoError {
    /// Not JPEG, PNG or WebP. `detected` names what it looked like ("HEIC/HEIF", "AVIF", "GIF",
    /// "TIFF", "BMP" or "unknown") so the message can tell the user what to change.
    #[error("unsupported image format ({detected})")]
    Unsupported { detected: &'static str },
    /// The header claims more than [`PhotoLimits::max_pixels`] (or would need more than
    /// [`PhotoLimits::max_alloc_bytes`] to decode). Refused before decoding.
    #[error("image too large: {width}x{height} pixels")]
    TooManyPixels { width: u32, height: u32 },
    /// Corrupt, truncated or otherwise undecodable. The text is a decoder message for the logs;
    /// do not send it to the client.
    #[error("unreadable image: {0}")]
    Unreadable(String),
}

/// Turns an uploaded file into the stored renditions.
///
/// Deterministic: the same bytes give the same output on the same machine. Only EXIF orientation
/// and GPS are read from the metadata; an unparseable EXIF block is ignored, not an error. CPU
/// bound (50–100 ms for a 12 MP phone photo on one core): call from a blocking thread.
pub fn process(data: &[u8], limits: &PhotoLimits) -> Result<ProcessedPhoto, PhotoError> {
    let source = sniff(data)?;
    let (original_width, original_height, decoded) = match source {
        SourceFormat::Jpeg => {
            let d = jpeg::decode(data, limits)?;
            (d.original_width, d.original_height, d.image)
        }
        SourceFormat::Png | SourceFormat::WebP => {
            let image = raster::decode(data, source, limits)?;
            (image.width, image.height, image)
        }
    };
    let exif = metadata::read_exif(data);

    // Sizes are fitted on the stored (pre-rotation) size: the longest side is the same either way,
    // so rotating afterwards yields exactly the fitted upright size. They are derived from the
    // original size, not the DCT-scaled one, so the aspect ratio is the original's.
    let mut resizer = Resizer::new();
    let (display_w, display_h) = fit_within(original_width, original_height, DISPLAY_MAX_SIDE);
    let display = resize(&mut resizer, decoded, display_w, display_h)?;
    // The thumbnail is made from the display image: a 5× downscale instead of up to 12×.
    let (thumb_w, thumb_h) = fit_within(original_width, original_height, THUMBNAIL_MAX_SIDE);
    let thumbnail = resize_ref(&mut resizer, &display, thumb_w, thumb_h)?;

    let display = exif.orientation.apply(display);
    let thumbnail = exif.orientation.apply(thumbnail);
    let (width, height) = exif
        .orientation
        .oriented_size(original_width, original_height);

    let display = Rendition {
        bytes: encode::encode_jpeg(&display, DISPLAY_QUALITY)?,
        width: display.width,
        height: display.height,
    };
    let thumbnail = Rendition {
        bytes: encode::encode_jpeg(&thumbnail, THUMBNAIL_QUALITY)?,
        width: thumbnail.width,
        height: thumbnail.height,
    };
    // (Computed outside the macro, whose expansion shadows `display` with `tracing::field::display`.)
    let (display_bytes, thumbnail_bytes) = (display.bytes.len(), thumbnail.bytes.len());
    tracing::debug!(
        format = source.mime(),
        width,
        height,
        orientation = ?exif.orientation,
        display_bytes,
        thumbnail_bytes,
        has_location = exif.location.is_some(),
        "photo processed"
    );
    Ok(ProcessedPhoto {
        source,
        width,
        height,
        display,
        thumbnail,
        exif_location: exif.location,
    })
}

/// How strong the moderation blur is: the Gaussian's sigma as a fraction of the image's longest
/// side (1/25: 64 px on a 1600 px display image). Faces and licence plates, which take a few
/// percent of a photo's width, become unrecognisable; the scene's colours and layout remain.
pub const BLUR_SIGMA_FRACTION: f32 = 1.0 / 25.0;

/// A redacted copy of a stored display rendition (a JPEG this pipeline wrote): the whole image
/// blurred strongly ([`BLUR_SIGMA_FRACTION`]), as a new display rendition of the same size and a
/// thumbnail made from it, encoded as [`process`] encodes (no metadata). CPU bound (tens of
/// milliseconds for 1600 px): call from a blocking thread.
pub fn blur(
    display_jpeg: &[u8],
    limits: &PhotoLimits,
) -> Result<(Rendition, Rendition), PhotoError> {
    let source = sniff(display_jpeg)?;
    if source != SourceFormat::Jpeg {
        return Err(PhotoError::Unreadable(
            "a stored rendition is always a JPEG".into(),
        ));
    }
    let decoded = jpeg::decode(display_jpeg, limits)?.image;
    let (width, height) = (decoded.width, decoded.height);
    let buffer = image::RgbImage::from_raw(width, height, decoded.pixels).ok_or_else(|| {
        PhotoError::Unreadable(format!("decoder returned a short {width}x{height} buffer"))
    })?;
    let sigma = (width.max(height) as f32 * BLUR_SIGMA_FRACTION).max(4.0);
    let blurred = image::imageops::fast_blur(&buffer, sigma);
    let display = transform::RgbImage::new(width, height, blurred.into_raw())?;
    let (thumb_w, thumb_h) = fit_within(width, height, THUMBNAIL_MAX_SIDE);
    let thumbnail = resize_ref(&mut Resizer::new(), &display, thumb_w, thumb_h)?;
    Ok((
        Rendition {
            bytes: encode::encode_jpeg(&display, DISPLAY_QUALITY)?,
            width,
            height,
        },
        Rendition {
            bytes: encode::encode_jpeg(&thumbnail, THUMBNAIL_QUALITY)?,
            width: thumbnail.width,
            height: thumbnail.height,
        },
    ))
}

/// The camera's GPS position from the file's EXIF, without decoding any pixels: what
/// [`process`] returns as `exif_location`, for callers that did not keep the result (an
/// idempotent replay re-reads it from the re-sent bytes). Never fails; `None` when absent,
/// implausible or unparseable.
pub fn exif_location(data: &[u8]) -> Option<Coordinates> {
    metadata::read_exif(data).location
}

/// Best-effort text of a caught panic, for `PhotoError::Unreadable`.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else {
        "decoder panicked".to_owned()
    }
}
