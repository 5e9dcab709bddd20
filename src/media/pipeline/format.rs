//! Format detection from magic bytes.

use super::PhotoError;

/// The formats the pipeline decodes. Everything else is refused with a name for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceFormat {
    Jpeg,
    Png,
    WebP,
}

impl SourceFormat {
    /// MIME type of the *uploaded* file (the stored renditions are always `image/jpeg`). Useful
    /// for logs and for keeping an original, should that ever be wanted.
    pub fn mime(&self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::WebP => "image/webp",
        }
    }
}

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// Identifies the format from the first bytes of the file (12 bytes suffice for the supported
/// formats; up to a few dozen let an HEIF `ftyp` box's compatible brands be read).
///
/// Only the bytes count: the client's `Content-Type` and file name are trivially wrong (phones
/// send HEIC as `image/jpeg`, browsers guess from the extension), and believing them would hand
/// a decoder data it was not written for. Recognised but unsupported formats are named so the
/// client can be told *what* it sent ("HEIC/HEIF", the iPhone default, is the usual one).
pub fn sniff(head: &[u8]) -> Result<SourceFormat, PhotoError> {
    let unsupported = |detected| Err(PhotoError::Unsupported { detected });
    if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Ok(SourceFormat::Jpeg);
    }
    if head.starts_with(PNG_SIGNATURE) {
        return Ok(SourceFormat::Png);
    }
    if head.len() >= 12 && &head[0..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        return Ok(SourceFormat::WebP);
    }
    if let Some(detected) = iso_bmff_image(head) {
        return unsupported(detected);
    }
    if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        return unsupported("GIF");
    }
    if head.starts_with(b"II*\0")
        || head.starts_with(b"MM\0*")
        || head.starts_with(b"II+\0")
        || head.starts_with(b"MM\0+")
    {
        return unsupported("TIFF");
    }
    if is_bmp(head) {
        return unsupported("BMP");
    }
    unsupported("unknown")
}

/// HEIF family: an ISO-BMFF `ftyp` box first, whose major or compatible brands name an image
/// brand. AVIF is told apart from HEIC because the advice to the user differs.
fn iso_bmff_image(head: &[u8]) -> Option<&'static str> {
    if head.len() < 12 || &head[4..8] != b"ftyp" {
        return None;
    }
    let box_len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let end = box_len.clamp(12, head.len());
    // Major brand at 8..12, minor version at 12..16, compatible brands from 16 to the box end.
    let brands =
        std::iter::once(&head[8..12]).chain(head.get(16..end).unwrap_or(&[]).chunks_exact(4));
    let mut heif = false;
    for brand in brands {
        match brand {
            b"avif" | b"avis" => return Some("AVIF"),
            b"heic" | b"heix" | b"hevc" | b"hevx" | b"heim" | b"heis" | b"mif1" | b"msf1"
            | b"heif" => heif = true,
            _ => {}
        }
    }
    heif.then_some("HEIC/HEIF")
}

/// `BM` alone is two printable letters; also require the header's reserved bytes to be zero.
fn is_bmp(head: &[u8]) -> bool {
    head.len() >= 14 && head.starts_with(b"BM") && head[6..10] == [0, 0, 0, 0]
}
