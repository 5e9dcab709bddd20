//! The two EXIF facts the pipeline uses: orientation and the camera's GPS position. Nothing else
//! is read, and nothing at all is carried into the output.

use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};

use exif::{Exif, In, Reader, Tag, Value};

use super::transform::Orientation;
use crate::domain::Coordinates;

/// What EXIF told us. The default (upright, no position) is also the answer for a file with no
/// EXIF, or with EXIF that cannot be parsed.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct ExifFacts {
    pub orientation: Orientation,
    pub location: Option<Coordinates>,
}

/// Reads orientation and GPS from the file's EXIF block, never failing.
///
/// EXIF is written by thousands of camera firmwares and editors, and malformed blocks are common
/// (wrong types, offsets past the end, empty IFDs); the pixels of such photos are usually fine.
/// A report must not be refused because of its metadata, so every error — and any panic inside
/// the parser — degrades to "upright, no position".
pub(super) fn read_exif(data: &[u8]) -> ExifFacts {
    match catch_unwind(AssertUnwindSafe(|| {
        Reader::new().read_from_container(&mut Cursor::new(data))
    })) {
        Ok(Ok(exif)) => facts(&exif),
        Ok(Err(exif::Error::NotFound(_))) => ExifFacts::default(),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "EXIF ignored");
            ExifFacts::default()
        }
        Err(_) => {
            tracing::warn!("EXIF parser panicked; metadata ignored");
            ExifFacts::default()
        }
    }
}

fn facts(exif: &Exif) -> ExifFacts {
    let orientation = exif
        .get_field(Tag::Orientation, In::PRIMARY)
        .and_then(|f| f.value.get_uint(0))
        .map(Orientation::from_exif)
        .unwrap_or_default();
    ExifFacts {
        orientation,
        location: gps_location(exif),
    }
}

/// The camera's position, if all four GPS fields are present and make a plausible point.
///
/// Refused: a missing hemisphere reference (the sign would be a guess), a zero denominator,
/// minutes or seconds of 60 or more, anything outside WGS84 ranges, and exactly (0, 0) — the
/// value firmwares write when they have no fix, which would otherwise route a report to the
/// Gulf of Guinea.
fn gps_location(exif: &Exif) -> Option<Coordinates> {
    let lat = signed_degrees(exif, Tag::GPSLatitude, Tag::GPSLatitudeRef, b'N', b'S')?;
    let lon = signed_degrees(exif, Tag::GPSLongitude, Tag::GPSLongitudeRef, b'E', b'W')?;
    if lat == 0.0 && lon == 0.0 {
        return None;
    }
    Coordinates::parse(lat, lon).ok()
}

fn signed_degrees(
    exif: &Exif,
    value_tag: Tag,
    ref_tag: Tag,
    positive: u8,
    negative: u8,
) -> Option<f64> {
    let magnitude = dms_to_degrees(&exif.get_field(value_tag, In::PRIMARY)?.value)?;
    let reference = match &exif.get_field(ref_tag, In::PRIMARY)?.value {
        Value::Ascii(strings) => strings.first()?.first()?.to_ascii_uppercase(),
        _ => return None,
    };
    match reference {
        r if r == positive => Some(magnitude),
        r if r == negative => Some(-magnitude),
        _ => None,
    }
}

/// Degrees, minutes, seconds as three unsigned rationals. Also accepted: signed rationals with
/// non-negative parts (some Android firmwares, e.g. HMD/Nokia, write SRATIONAL), and a decimal
/// value in degrees alone (one or two components).
pub(super) fn dms_to_degrees(value: &Value) -> Option<f64> {
    let parts: Vec<Option<f64>> = match value {
        Value::Rational(parts) => parts
            .iter()
            .map(|r| (r.denom != 0).then(|| r.to_f64()))
            .collect(),
        Value::SRational(parts) => parts
            .iter()
            .map(|r| (r.num >= 0 && r.denom > 0).then(|| r.to_f64()))
            .collect(),
        _ => return None,
    };
    if parts.is_empty() || parts.len() > 3 {
        return None;
    }
    let mut dms = [0.0f64; 3];
    for (slot, part) in dms.iter_mut().zip(parts) {
        *slot = part?;
    }
    let [degrees, minutes, seconds] = dms;
    if !(minutes < 60.0 && seconds < 60.0) {
        return None;
    }
    let total = degrees + minutes / 60.0 + seconds / 3600.0;
    total.is_finite().then_some(total)
}
