//! JPEG decoding with mozjpeg (libjpeg-turbo inside), using libjpeg's DCT scaling so a
//! 12-megapixel photo is decoded straight to about the display size.

use std::io::{self, BufRead, Read};
use std::panic::{AssertUnwindSafe, catch_unwind};

use mozjpeg::{ColorSpace, Decompress, Marker};

use super::transform::RgbImage;
use super::{DISPLAY_MAX_SIDE, PhotoError, PhotoLimits, panic_message};

/// A decoded JPEG, possibly DCT-scaled, with the original (stored, pre-orientation) size.
pub(super) struct DecodedJpeg {
    pub original_width: u32,
    pub original_height: u32,
    pub image: RgbImage,
}

/// The DCT scale numerator `M` (the image is decoded at `M/8` of its size) that the pipeline uses
/// for a JPEG of this size: the smallest `M` in `1..=8` whose scaled longest side is still at
/// least [`DISPLAY_MAX_SIDE`], so the display rendition is always a downscale of real pixels;
/// `8` (full size) when the photo is not larger than the display size.
///
/// libjpeg then skips most of the inverse-DCT work and the full-size upsampling and colour
/// conversion, and the resize starts from a quarter of the pixels. Entropy decoding is not
/// reduced, so on large high-quality files the decode itself gains less (see the benchmark:
/// `djpeg -scale 4/8` vs full size), but the full-size buffer and its resize are gone. Public so
/// the benchmark can compare against `djpeg -scale M/8`.
pub fn chosen_scale(width: u32, height: u32) -> u8 {
    let longest = u64::from(width.max(height));
    if longest <= u64::from(DISPLAY_MAX_SIDE) {
        return 8;
    }
    (1u8..=8)
        .find(|&m| scaled_side(longest, m) >= u64::from(DISPLAY_MAX_SIDE))
        .unwrap_or(8)
}

/// libjpeg's output size for one side at scale `m/8`: `ceil(side * m / 8)`.
fn scaled_side(side: u64, m: u8) -> u64 {
    (side * u64::from(m)).div_ceil(8)
}

/// Decodes under `limits`; any libjpeg error, panic or truncation becomes `Unreadable`.
///
/// mozjpeg reports libjpeg's fatal errors by unwinding out of the C code, so everything that
/// touches it runs inside `catch_unwind`: a corrupt upload must cost a 4xx, not a worker thread.
/// (This relies on `panic = "unwind"`, the default; a `panic = "abort"` profile would turn a bad
/// photo into a crashed process.)
pub(super) fn decode(data: &[u8], limits: &PhotoLimits) -> Result<DecodedJpeg, PhotoError> {
    match catch_unwind(AssertUnwindSafe(|| decode_inner(data, limits))) {
        Ok(result) => result,
        Err(payload) => Err(PhotoError::Unreadable(format!(
            "JPEG: {}",
            panic_message(payload.as_ref())
        ))),
    }
}

fn decode_inner(data: &[u8], limits: &PhotoLimits) -> Result<DecodedJpeg, PhotoError> {
    let unreadable = |what: &str, e: io::Error| PhotoError::Unreadable(format!("JPEG {what}: {e}"));

    // Only APP14 is kept: its "Adobe" tag says whether CMYK samples are stored inverted.
    let mut dec = Decompress::builder()
        .with_markers(&[Marker::APP(14)])
        .from_reader(EofTrackingReader::new(data))
        .map_err(|e| unreadable("header", e))?;

    // The header has been read, nothing image-sized allocated yet: refuse bombs here.
    let (width, height) = (dec.width(), dec.height());
    let (Ok(width), Ok(height)) = (u32::try_from(width), u32::try_from(height)) else {
        return Err(PhotoError::Unreadable(format!(
            "JPEG size {width}x{height} out of range"
        )));
    };
    if width == 0 || height == 0 {
        return Err(PhotoError::Unreadable("JPEG has a zero dimension".into()));
    }
    if u64::from(width) * u64::from(height) > limits.max_pixels {
        return Err(PhotoError::TooManyPixels { width, height });
    }

    let source_space = dec.color_space();
    let cmyk = matches!(source_space, ColorSpace::JCS_CMYK | ColorSpace::JCS_YCCK);
    let adobe = dec
        .markers()
        .any(|m| m.marker == Marker::APP(14) && m.data.starts_with(b"Adobe"));

    let m = chosen_scale(width, height);
    let (out_w, out_h) = (
        scaled_side(u64::from(width), m),
        scaled_side(u64::from(height), m),
    );
    // mozjpeg 0.10 does not expose `cinfo.mem->max_memory_to_use`, so bound libjpeg's memory by
    // arithmetic instead: the largest allocations are the whole-image coefficient buffer of a
    // progressive/multi-scan file (2 bytes per coefficient, one per pixel per component at
    // worst) and our output buffer.
    let components = u64::try_from(dec.components().len()).unwrap_or(4).max(1);
    let out_components = if cmyk { 4 } else { 3 };
    let estimate =
        u64::from(width) * u64::from(height) * components * 2 + out_w * out_h * out_components;
    if estimate > limits.max_alloc_bytes {
        return Err(PhotoError::TooManyPixels { width, height });
    }
    dec.scale(m);

    let mut started = if cmyk {
        // libjpeg converts YCCK to CMYK but not CMYK to RGB; that last step is ours.
        dec.to_colorspace(ColorSpace::JCS_CMYK)
    } else {
        // Grayscale, YCbCr and RGB all convert to RGB inside libjpeg; anything else errors there.
        dec.rgb()
    }
    .map_err(|e| unreadable("start", e))?;

    let (sw, sh) = (started.width(), started.height());
    let samples: Vec<u8> = started
        .read_scanlines()
        .map_err(|e| unreadable("scanlines", e))?;
    let reader = started
        .finish_into_inner()
        .map_err(|e| unreadable("finish", e))?;
    // libjpeg treats a premature end of data as a warning and fills the rest with grey; a photo
    // with its lower half grey is a failed upload, not a photo.
    if reader.hit_eof {
        return Err(PhotoError::Unreadable(
            "JPEG truncated (data ended before the EOI marker)".into(),
        ));
    }

    let pixels = if cmyk {
        cmyk_to_rgb(&samples, adobe)
    } else {
        samples
    };
    let (Ok(sw), Ok(sh)) = (u32::try_from(sw), u32::try_from(sh)) else {
        return Err(PhotoError::Unreadable(
            "JPEG output size out of range".into(),
        ));
    };
    Ok(DecodedJpeg {
        original_width: width,
        original_height: height,
        image: RgbImage::new(sw, sh, pixels)?,
    })
}

/// Naive CMYK → RGB (no ICC profile: print-oriented CMYK JPEGs are rare in phone uploads and an
/// approximate colour beats a refusal). Photoshop, the main writer of CMYK JPEGs, stores the
/// samples inverted and marks the file with an Adobe APP14 segment; YCCK files are always Adobe.
fn cmyk_to_rgb(samples: &[u8], adobe_inverted: bool) -> Vec<u8> {
    let mul = |a: u8, b: u8| ((u16::from(a) * u16::from(b) + 127) / 255) as u8;
    let mut out = Vec::with_capacity(samples.len() / 4 * 3);
    for px in samples.chunks_exact(4) {
        let [c, m, y, k] = [px[0], px[1], px[2], px[3]];
        let [c, m, y, k] = if adobe_inverted {
            [c, m, y, k]
        } else {
            [255 - c, 255 - m, 255 - y, 255 - k]
        };
        // With "inverted" samples (255 = no ink) R = C' × K' / 255, and so on.
        out.extend_from_slice(&[mul(c, k), mul(m, k), mul(y, k)]);
    }
    out
}

/// A `BufRead` over the input that remembers whether libjpeg asked for bytes past the end.
///
/// mozjpeg's source manager answers end-of-file by faking an EOI marker and emitting a warning,
/// which mozjpeg's default error manager silences, so a truncated file decodes "successfully"
/// with a grey bottom. A complete file never makes libjpeg read past its EOI marker (trailing
/// bytes after EOI are left unread), so a read attempt at the end of the data means the data
/// ended early. `finish_into_inner` hands the reader back so the flag can be checked.
struct EofTrackingReader<'a> {
    data: &'a [u8],
    pos: usize,
    hit_eof: bool,
}

impl<'a> EofTrackingReader<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self {
            data,
            pos: 0,
            hit_eof: false,
        }
    }
}

impl Read for EofTrackingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for EofTrackingReader<'_> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        let rest = self.data.get(self.pos..).unwrap_or(&[]);
        if rest.is_empty() {
            self.hit_eof = true;
        }
        Ok(rest)
    }

    fn consume(&mut self, amt: usize) {
        self.pos = self.pos.saturating_add(amt).min(self.data.len());
    }
}
