//! Baseline JPEG encoding of the renditions with jpeg-encoder.

use jpeg_encoder::{ChromaSubsamplingMethod, ColorType, Encoder, SamplingFactor};

use super::PhotoError;
use super::transform::RgbImage;

/// Encodes `image` as a baseline, 4:2:0 JPEG.
///
/// jpeg-encoder writes SOI, a JFIF APP0 segment, tables, the scan and EOI: no EXIF, XMP, IPTC,
/// ICC or comment is added unless asked for, which is what keeps the camera's GPS position, serial
/// number and time stamps out of published photos. Baseline (not progressive) because every
/// decoder, including old Android web views and the IOC's dashboards, handles it.
pub(super) fn encode_jpeg(image: &RgbImage, quality: u8) -> Result<Vec<u8>, PhotoError> {
    let fail = |e: &dyn std::fmt::Display| PhotoError::Unreadable(format!("JPEG encode: {e}"));
    let (Ok(width), Ok(height)) = (u16::try_from(image.width), u16::try_from(image.height)) else {
        return Err(PhotoError::Unreadable(format!(
            "rendition {}x{} too large for JPEG",
            image.width, image.height
        )));
    };
    let mut out = Vec::with_capacity(image.pixels.len() / 8);
    let mut encoder = Encoder::new(&mut out, quality);
    encoder.set_sampling_factor(SamplingFactor::R_4_2_0);
    // Box-average chroma like libjpeg rather than the default top-left sample: cleaner colour
    // edges for a negligible cost.
    encoder.set_chroma_subsampling_method(ChromaSubsamplingMethod::Average);
    encoder
        .encode(&image.pixels, width, height, ColorType::Rgb)
        .map_err(|e| fail(&e))?;
    Ok(out)
}
