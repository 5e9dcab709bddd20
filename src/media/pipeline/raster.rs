//! PNG and WebP decoding with the `image` crate, under `image::Limits`.

use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};

use image::codecs::png::PngDecoder;
use image::codecs::webp::WebPDecoder;
use image::{DynamicImage, ImageDecoder, ImageError, Limits, RgbaImage};

use super::transform::RgbImage;
use super::{PhotoError, PhotoLimits, SourceFormat, panic_message};

/// Decodes a PNG or WebP to 8-bit RGB: 16-bit samples are reduced to 8, grey is expanded, and
/// transparency is composited onto white (a transparent screenshot or sticker then looks as it
/// did on the phone's light background, instead of black where JPEG has no alpha).
pub(super) fn decode(
    data: &[u8],
    format: SourceFormat,
    limits: &PhotoLimits,
) -> Result<RgbImage, PhotoError> {
    match catch_unwind(AssertUnwindSafe(|| decode_inner(data, format, limits))) {
        Ok(result) => result,
        Err(payload) => Err(PhotoError::Unreadable(format!(
            "{format:?}: {}",
            panic_message(payload.as_ref())
        ))),
    }
}

fn decode_inner(
    data: &[u8],
    format: SourceFormat,
    limits: &PhotoLimits,
) -> Result<RgbImage, PhotoError> {
    let unreadable = |e: ImageError| PhotoError::Unreadable(format!("{format:?}: {e}"));
    // The decoder is chosen by the sniffed format, never guessed from a name. At construction it
    // only reads headers (and, for PNG, the chunks before the first IDAT, bounded by max_alloc).
    let header_limits = image_limits(None, limits.max_alloc_bytes);
    let image = match format {
        SourceFormat::Png => {
            let decoder =
                PngDecoder::with_limits(Cursor::new(data), header_limits).map_err(unreadable)?;
            decode_checked(decoder, limits).map_err(|e| e.into_photo_error(format))?
        }
        SourceFormat::WebP => {
            let decoder = WebPDecoder::new(Cursor::new(data)).map_err(unreadable)?;
            decode_checked(decoder, limits).map_err(|e| e.into_photo_error(format))?
        }
        SourceFormat::Jpeg => {
            return Err(PhotoError::Unreadable(
                "JPEG is decoded by mozjpeg, not here".into(),
            ));
        }
    };
    to_rgb(image)
}

enum DecodeError {
    Photo(PhotoError),
    Image(ImageError),
}

impl DecodeError {
    fn into_photo_error(self, format: SourceFormat) -> PhotoError {
        match self {
            Self::Photo(e) => e,
            Self::Image(e) => PhotoError::Unreadable(format!("{format:?}: {e}")),
        }
    }
}

/// Checks the size the header claims *before* any pixel buffer exists, then decodes with the
/// full limits installed on the decoder.
fn decode_checked(
    mut decoder: impl ImageDecoder,
    limits: &PhotoLimits,
) -> Result<DynamicImage, DecodeError> {
    let (width, height) = decoder.dimensions();
    let pixels = u64::from(width) * u64::from(height);
    if pixels > limits.max_pixels {
        return Err(DecodeError::Photo(PhotoError::TooManyPixels {
            width,
            height,
        }));
    }
    if width == 0 || height == 0 {
        return Err(DecodeError::Photo(PhotoError::Unreadable(
            "image has a zero dimension".into(),
        )));
    }
    // Peak memory: the decoded buffer (up to 8 bytes a pixel for 16-bit RGBA), plus our 8-bit
    // RGBA copy when there is alpha, plus the RGB result.
    let copies = if decoder.color_type().has_alpha() {
        7
    } else {
        3
    };
    if decoder.total_bytes().saturating_add(pixels * copies) > limits.max_alloc_bytes {
        return Err(DecodeError::Photo(PhotoError::TooManyPixels {
            width,
            height,
        }));
    }
    let side = u32::try_from(limits.max_pixels).unwrap_or(u32::MAX);
    decoder
        .set_limits(image_limits(Some(side), limits.max_alloc_bytes))
        .map_err(DecodeError::Image)?;
    DynamicImage::from_decoder(decoder).map_err(DecodeError::Image)
}

fn image_limits(max_side: Option<u32>, max_alloc: u64) -> Limits {
    let mut l = Limits::default();
    l.max_image_width = max_side;
    l.max_image_height = max_side;
    l.max_alloc = Some(max_alloc);
    l
}

fn to_rgb(image: DynamicImage) -> Result<RgbImage, PhotoError> {
    let (width, height) = (image.width(), image.height());
    let pixels = if image.color().has_alpha() {
        composite_on_white(&image.into_rgba8())
    } else {
        // A move for RGB8, a conversion (16 → 8 bit, grey → RGB) otherwise.
        image.into_rgb8().into_raw()
    };
    RgbImage::new(width, height, pixels)
}

fn composite_on_white(rgba: &RgbaImage) -> Vec<u8> {
    let mut out = Vec::with_capacity(rgba.as_raw().len() / 4 * 3);
    for px in rgba.as_raw().chunks_exact(4) {
        let alpha = u32::from(px[3]);
        for &c in &px[..3] {
            let v = (u32::from(c) * alpha + 255 * (255 - alpha) + 127) / 255;
            out.push(v as u8);
        }
    }
    out
}
