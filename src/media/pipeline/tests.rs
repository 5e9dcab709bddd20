//! Tests on real photos under `../shared/data/photos` (beside the crate) and on synthetic files.

use std::path::PathBuf;

use image::ImageEncoder;

use super::transform::{Orientation, RgbImage, fit_within};
use super::*;

fn photos_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/data/photos"
    ))
}

fn read_photo(rel: &str) -> Vec<u8> {
    let path = photos_dir().join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn files_in(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(photos_dir().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no fixtures in {dir}");
    files
}

fn run(data: &[u8]) -> Result<ProcessedPhoto, PhotoError> {
    process(data, &PhotoLimits::default())
}

/// Decodes one of our outputs with mozjpeg (the `image` crate here has no JPEG support).
fn decode_output(bytes: &[u8]) -> RgbImage {
    let dec = mozjpeg::Decompress::new_mem(bytes).unwrap();
    let mut started = dec.rgb().unwrap();
    let (w, h) = (started.width() as u32, started.height() as u32);
    let pixels: Vec<u8> = started.read_scanlines().unwrap();
    started.finish().unwrap();
    RgbImage::new(w, h, pixels).unwrap()
}

/// Mean absolute difference per sample after removing each image's mean per channel: the
/// orientation fixtures were exported with different tone curves (`_1` is brighter, the others
/// carry an ICC profile), which is not what the test is about.
fn structural_diff(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!((a.width, a.height), (b.width, b.height));
    let means = |img: &RgbImage| -> [f64; 3] {
        let mut m = [0.0; 3];
        for px in img.pixels.chunks_exact(3) {
            for (acc, &v) in m.iter_mut().zip(px) {
                *acc += f64::from(v);
            }
        }
        m.map(|v| v / (img.pixels.len() / 3) as f64)
    };
    let (ma, mb) = (means(a), means(b));
    let sum: f64 = a
        .pixels
        .chunks_exact(3)
        .zip(b.pixels.chunks_exact(3))
        .map(|(pa, pb)| {
            (0..3)
                .map(|c| ((f64::from(pa[c]) - ma[c]) - (f64::from(pb[c]) - mb[c])).abs())
                .sum::<f64>()
        })
        .sum();
    sum / a.pixels.len() as f64
}

/// Walks the marker segments up to the first scan: baseline frame, JFIF APP0 only, nothing else
/// that could carry metadata. Also scans the whole file for an APP1 marker or an EXIF header
/// (`FF E1` cannot occur inside entropy-coded data, where `FF` is always followed by `00`, a
/// restart marker or EOI).
fn assert_clean_baseline_jpeg(bytes: &[u8], what: &str) {
    assert!(bytes.starts_with(&[0xFF, 0xD8]), "{what}: no SOI");
    assert!(bytes.ends_with(&[0xFF, 0xD9]), "{what}: no EOI");
    assert!(
        !bytes.windows(2).any(|w| w == [0xFF, 0xE1]),
        "{what}: APP1 marker"
    );
    assert!(
        !bytes.windows(6).any(|w| w == b"Exif\0\0"),
        "{what}: EXIF header"
    );
    let mut i = 2;
    let mut saw_sof0 = false;
    loop {
        assert_eq!(bytes[i], 0xFF, "{what}: lost marker sync at {i}");
        let marker = bytes[i + 1];
        let len = usize::from(u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]));
        match marker {
            0xE0 => assert_eq!(&bytes[i + 4..i + 9], b"JFIF\0", "{what}: APP0 not JFIF"),
            0xC0 => saw_sof0 = true,
            0xDB | 0xC4 | 0xDD => {}
            0xDA => break,
            other => panic!("{what}: unexpected marker FF{other:02X} before the scan"),
        }
        i += 2 + len;
    }
    assert!(saw_sof0, "{what}: not a baseline (SOF0) JPEG");
}

fn assert_sizes(p: &ProcessedPhoto) {
    let longest = p.width.max(p.height);
    assert_eq!(
        p.display.width.max(p.display.height),
        longest.min(DISPLAY_MAX_SIDE)
    );
    assert_eq!(
        p.thumbnail.width.max(p.thumbnail.height),
        longest.min(THUMBNAIL_MAX_SIDE)
    );
    // Upright renditions keep the upright original's orientation (landscape stays landscape).
    assert_eq!(p.display.width >= p.display.height, p.width >= p.height);
    assert_eq!(p.thumbnail.width >= p.thumbnail.height, p.width >= p.height);
    let d = decode_output(&p.display.bytes);
    assert_eq!((d.width, d.height), (p.display.width, p.display.height));
    let t = decode_output(&p.thumbnail.bytes);
    assert_eq!((t.width, t.height), (p.thumbnail.width, p.thumbnail.height));
}

// ---------------------------------------------------------------------------------------------
// sniff

#[test]
fn sniff_recognises_supported_formats() {
    assert_eq!(
        sniff(&[0xFF, 0xD8, 0xFF, 0xE0]).unwrap(),
        SourceFormat::Jpeg
    );
    assert_eq!(
        sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").unwrap(),
        SourceFormat::Png
    );
    assert_eq!(
        sniff(b"RIFF\x24\0\0\0WEBPVP8L").unwrap(),
        SourceFormat::WebP
    );
    assert_eq!(SourceFormat::Jpeg.mime(), "image/jpeg");
    assert_eq!(SourceFormat::Png.mime(), "image/png");
    assert_eq!(SourceFormat::WebP.mime(), "image/webp");
}

fn detected(head: &[u8]) -> &'static str {
    match sniff(head) {
        Err(PhotoError::Unsupported { detected }) => detected,
        other => panic!("expected Unsupported, got {other:?}"),
    }
}

#[test]
fn sniff_names_unsupported_formats() {
    assert_eq!(detected(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic"), "HEIC/HEIF");
    assert_eq!(detected(b"\0\0\0\x18ftypmif1\0\0\0\0mif1heic"), "HEIC/HEIF");
    assert_eq!(detected(b"\0\0\0\x10ftypheix\0\0\0\0"), "HEIC/HEIF");
    assert_eq!(detected(b"\0\0\0\x10ftypmsf1\0\0\0\0"), "HEIC/HEIF");
    assert_eq!(detected(b"\0\0\0\x1cftypavif\0\0\0\0avifmif1miaf"), "AVIF");
    assert_eq!(detected(b"\0\0\0\x18ftypmif1\0\0\0\0mif1avif"), "AVIF");
    assert_eq!(detected(b"\0\0\0\x18ftypisom\0\0\0\0isomiso2"), "unknown");
    assert_eq!(detected(b"GIF89a\x01\0\x01\0"), "GIF");
    assert_eq!(detected(b"GIF87a\x01\0\x01\0"), "GIF");
    assert_eq!(detected(b"II*\0\x08\0\0\0"), "TIFF");
    assert_eq!(detected(b"MM\0*\0\0\0\x08"), "TIFF");
    assert_eq!(detected(b"BM\x3a\0\0\0\0\0\0\0\x36\0\0\0\x28\0"), "BMP");
    assert_eq!(detected(b"BMW 320i for sale, call"), "unknown");
    assert_eq!(detected(b"hello, this is text\n"), "unknown");
    assert_eq!(detected(b"RIFF\0\0\0\0WAVEfmt "), "unknown");
    assert_eq!(detected(&[0xFF, 0xD8]), "unknown");
    assert_eq!(detected(b""), "unknown");
}

// ---------------------------------------------------------------------------------------------
// Real photos

#[test]
fn gps_photos_yield_location_and_clean_renditions() {
    for path in files_in("gps") {
        let name = path.display().to_string();
        let p = run(&std::fs::read(&path).unwrap()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(p.source, SourceFormat::Jpeg);
        let loc = p
            .exif_location
            .unwrap_or_else(|| panic!("{name}: no location"));
        assert!(
            (loc.lat - 43.47).abs() < 0.1 && (loc.lon - 11.88).abs() < 0.1,
            "{name}: {loc:?}"
        );
        assert_sizes(&p);
        assert_clean_baseline_jpeg(&p.display.bytes, &name);
        assert_clean_baseline_jpeg(&p.thumbnail.bytes, &name);
    }
}

#[test]
fn every_exif_orientation_comes_out_upright() {
    for kind in ["landscape", "portrait"] {
        let reference = run(&read_photo(&format!("orientation/{kind}_1.jpg"))).unwrap();
        let ref_thumb = decode_output(&reference.thumbnail.bytes);
        for n in 2..=8 {
            let name = format!("{kind}_{n}");
            let p = run(&read_photo(&format!("orientation/{name}.jpg"))).unwrap();
            assert_eq!(
                (p.width, p.height),
                (reference.width, reference.height),
                "{name}"
            );
            assert_eq!(
                (p.display.width, p.display.height),
                (reference.display.width, reference.display.height),
                "{name}"
            );
            assert_eq!(
                (p.thumbnail.width, p.thumbnail.height),
                (reference.thumbnail.width, reference.thumbnail.height),
                "{name}"
            );
            let thumb = decode_output(&p.thumbnail.bytes);
            let good = structural_diff(&thumb, &ref_thumb);
            // The same picture deliberately mis-oriented: mirrored, and turned upside down.
            let mirrored = Orientation::FlipHorizontal.apply(thumb.clone());
            let flipped = Orientation::FlipVertical.apply(thumb);
            let bad =
                structural_diff(&mirrored, &ref_thumb).min(structural_diff(&flipped, &ref_thumb));
            eprintln!("{name}: upright {good:.2}, mis-oriented {bad:.2}");
            assert!(good < 10.0, "{name}: differs from {kind}_1 by {good:.2}");
            assert!(
                bad > 3.0 * good && bad > 25.0,
                "{name}: upright {good:.2}, mis-oriented {bad:.2}"
            );
        }
    }
}

#[test]
fn phone_photos_are_accepted() {
    for (file, expect_location) in [
        ("HMD_Nokia_8.3_5G.jpg", true),
        ("iphone_hdr_YES.jpg", true),
        ("jolla.jpg", false),
    ] {
        let p =
            run(&read_photo(&format!("phones/{file}"))).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(
            p.display.width.max(p.display.height),
            DISPLAY_MAX_SIDE,
            "{file}"
        );
        assert_eq!(
            p.thumbnail.width.max(p.thumbnail.height),
            THUMBNAIL_MAX_SIDE,
            "{file}"
        );
        assert_sizes(&p);
        assert_clean_baseline_jpeg(&p.display.bytes, file);
        assert_clean_baseline_jpeg(&p.thumbnail.bytes, file);
        if expect_location {
            assert!(p.exif_location.is_some(), "{file}: no location");
        }
    }
}

#[test]
fn iphone_heic_is_refused_by_name() {
    let err = run(&read_photo("phones/iphone_13_pro_max.HEIC")).unwrap_err();
    assert!(
        matches!(err, PhotoError::Unsupported { detected } if detected.contains("HEIC")),
        "{err:?}"
    );
}

#[test]
fn photos_with_broken_exif_are_accepted() {
    for path in files_in("odd-exif") {
        let name = path.display().to_string();
        let p = run(&std::fs::read(&path).unwrap()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_sizes(&p);
        assert_clean_baseline_jpeg(&p.display.bytes, &name);
    }
}

#[test]
fn output_is_deterministic() {
    let data = read_photo("orientation/portrait_6.jpg");
    assert_eq!(run(&data).unwrap(), run(&data).unwrap());
}

// ---------------------------------------------------------------------------------------------
// Refusals

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&u32::try_from(data.len()).unwrap().to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// A structurally valid PNG whose IHDR claims `width × height` RGB pixels, with ~1 KB of IDAT.
fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB, deflate, no filter, no interlace
    png_chunk(&mut png, b"IHDR", &ihdr);
    // zlib stream: one stored (uncompressed) deflate block of 1000 zero bytes.
    let mut idat = vec![0x78, 0x01, 0x01, 0xE8, 0x03, 0x17, 0xFC];
    idat.extend_from_slice(&[0u8; 1000]);
    png_chunk(&mut png, b"IDAT", &idat);
    png_chunk(&mut png, b"IEND", &[]);
    png
}

#[test]
fn png_bomb_is_refused_from_its_header() {
    let bomb = png_claiming(100_000, 100_000);
    assert!(bomb.len() < 1200);
    match run(&bomb) {
        Err(PhotoError::TooManyPixels { width, height }) => {
            assert_eq!((width, height), (100_000, 100_000));
        }
        other => panic!("expected TooManyPixels, got {other:?}"),
    }
    // Also refused when a tighter budget is configured.
    let limits = PhotoLimits {
        max_pixels: 1_000_000,
        ..PhotoLimits::default()
    };
    assert!(matches!(
        process(&png_claiming(2000, 1000), &limits),
        Err(PhotoError::TooManyPixels {
            width: 2000,
            height: 1000
        })
    ));
}

#[test]
fn webp_bomb_is_refused_from_its_header() {
    // Lossless WebP whose VP8L header claims 16000 × 16000 (256 MP), with 1 KB of "data".
    // (Not 16384, the format's maximum: image-webp 0.2.4 computes that side as 0, which the
    // pipeline refuses as Unreadable.)
    let mut vp8l = vec![0x2F];
    vp8l.extend_from_slice(&(15_999u32 | (15_999 << 14)).to_le_bytes());
    vp8l.extend_from_slice(&[0u8; 1000]);
    let mut webp = b"RIFF".to_vec();
    webp.extend_from_slice(&(4 + 8 + u32::try_from(vp8l.len()).unwrap()).to_le_bytes());
    webp.extend_from_slice(b"WEBPVP8L");
    webp.extend_from_slice(&u32::try_from(vp8l.len()).unwrap().to_le_bytes());
    webp.extend_from_slice(&vp8l);
    match run(&webp) {
        Err(PhotoError::TooManyPixels { width, height }) => {
            assert_eq!((width, height), (16_000, 16_000));
        }
        other => panic!("expected TooManyPixels, got {other:?}"),
    }
}

#[test]
fn jpeg_bomb_is_refused_from_its_header() {
    // A real JPEG whose SOF0 is patched to claim 65000 × 65000.
    let mut data = read_photo("gps/DSCN0010.jpg");
    // Walk the segments (the first FF C0 in the file belongs to the EXIF thumbnail).
    let mut sof = 2;
    while data[sof + 1] != 0xC0 {
        sof += 2 + usize::from(u16::from_be_bytes([data[sof + 2], data[sof + 3]]));
    }
    data[sof + 5..sof + 7].copy_from_slice(&65_000u16.to_be_bytes());
    data[sof + 7..sof + 9].copy_from_slice(&65_000u16.to_be_bytes());
    assert!(matches!(
        run(&data),
        Err(PhotoError::TooManyPixels {
            width: 65_000,
            height: 65_000
        })
    ));
}

#[test]
fn truncated_jpeg_is_unreadable() {
    let data = read_photo("gps/DSCN0010.jpg");
    let cut = &data[..data.len() * 6 / 10];
    assert!(
        matches!(run(cut), Err(PhotoError::Unreadable(_))),
        "{:?}",
        run(cut).map(|_| ())
    );
    // Even when only the last scan bytes are missing.
    let cut = &data[..data.len() - 100];
    assert!(matches!(run(cut), Err(PhotoError::Unreadable(_))));
    // Only the header: no image at all.
    assert!(matches!(run(&data[..2000]), Err(PhotoError::Unreadable(_))));
}

#[test]
fn garbage_after_soi_is_unreadable() {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    for len in [16, 300, 5000, 100_000] {
        let mut data = vec![0xFF, 0xD8, 0xFF];
        data.extend((0..len).map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        }));
        assert!(
            matches!(run(&data), Err(PhotoError::Unreadable(_))),
            "{len} random bytes: {:?}",
            run(&data).map(|_| ())
        );
    }
}

#[test]
fn text_and_gif_are_unsupported() {
    assert!(matches!(
        run(b"just some text, not a photo\n"),
        Err(PhotoError::Unsupported {
            detected: "unknown"
        })
    ));
    let gif = b"GIF89a\x01\0\x01\0\x80\0\0\xff\xff\xff\0\0\0!\xf9\x04\x01\0\0\0\0,\0\0\0\0\x01\0\x01\0\0\x02\x02D\x01\0;";
    assert!(matches!(
        run(gif),
        Err(PhotoError::Unsupported { detected: "GIF" })
    ));
}

// ---------------------------------------------------------------------------------------------
// Other accepted inputs

/// A 40 × 30 RGBA test card: left half opaque red, right half fully transparent.
fn rgba_card() -> Vec<u8> {
    let mut px = Vec::new();
    for _y in 0..30 {
        for x in 0..40 {
            px.extend_from_slice(if x < 20 {
                &[255, 0, 0, 255]
            } else {
                &[0, 0, 0, 0]
            });
        }
    }
    px
}

fn assert_red_then_white(p: &ProcessedPhoto) {
    assert_eq!((p.width, p.height), (40, 30));
    assert_eq!((p.display.width, p.display.height), (40, 30));
    let img = decode_output(&p.display.bytes);
    let at = |x: usize, y: usize| &img.pixels[(y * 40 + x) * 3..][..3];
    let (red, white) = (at(5, 15), at(35, 15));
    assert!(red[0] > 230 && red[1] < 30 && red[2] < 30, "{red:?}");
    assert!(white.iter().all(|&c| c > 240), "{white:?}");
}

#[test]
fn png_with_alpha_is_composited_on_white() {
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(&rgba_card(), 40, 30, image::ExtendedColorType::Rgba8)
        .unwrap();
    let p = run(&png).unwrap();
    assert_eq!(p.source, SourceFormat::Png);
    assert_eq!(p.exif_location, None);
    assert_red_then_white(&p);
    assert_clean_baseline_jpeg(&p.display.bytes, "png");
}

#[test]
fn sixteen_bit_grey_png_is_accepted() {
    let px: Vec<u8> = (0..64u16 * 48)
        .flat_map(|i| (i * 20).to_be_bytes())
        .collect();
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(&px, 64, 48, image::ExtendedColorType::L16)
        .unwrap();
    let p = run(&png).unwrap();
    assert_eq!((p.width, p.height), (64, 48));
}

#[test]
fn lossless_webp_is_accepted() {
    let mut webp = Vec::new();
    image::codecs::webp::WebPEncoder::new_lossless(&mut webp)
        .write_image(&rgba_card(), 40, 30, image::ExtendedColorType::Rgba8)
        .unwrap();
    let p = run(&webp).unwrap();
    assert_eq!(p.source, SourceFormat::WebP);
    assert_red_then_white(&p);
}

#[test]
fn large_png_is_resized() {
    let (w, h) = (2400u32, 1000u32);
    let px: Vec<u8> = (0..w * h)
        .flat_map(|i| [(i % w % 256) as u8, (i / w % 256) as u8, 128])
        .collect();
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(&px, w, h, image::ExtendedColorType::Rgb8)
        .unwrap();
    let p = run(&png).unwrap();
    assert_eq!((p.display.width, p.display.height), (1600, 667));
    assert_eq!((p.thumbnail.width, p.thumbnail.height), (320, 133));
}

fn encode_test_jpeg(px: &[u8], w: u16, h: u16, color: jpeg_encoder::ColorType) -> Vec<u8> {
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 95)
        .encode(px, w, h, color)
        .unwrap();
    out
}

#[test]
fn grayscale_jpeg_becomes_rgb() {
    let px: Vec<u8> = (0..64 * 64).map(|i| (i % 64 * 4) as u8).collect();
    let p = run(&encode_test_jpeg(
        &px,
        64,
        64,
        jpeg_encoder::ColorType::Luma,
    ))
    .unwrap();
    let img = decode_output(&p.display.bytes);
    assert_eq!((img.width, img.height), (64, 64));
}

#[test]
fn cmyk_and_ycck_jpegs_are_converted() {
    // Ink values: full magenta + yellow, no cyan or black = red.
    let px: Vec<u8> = (0..32 * 32).flat_map(|_| [0u8, 255, 255, 0]).collect();
    for color in [
        jpeg_encoder::ColorType::Cmyk,
        jpeg_encoder::ColorType::CmykAsYcck,
    ] {
        let p = run(&encode_test_jpeg(&px, 32, 32, color)).unwrap();
        let img = decode_output(&p.display.bytes);
        let c = &img.pixels[(16 * 32 + 16) * 3..][..3];
        assert!(c[0] > 220 && c[1] < 40 && c[2] < 40, "{color:?}: {c:?}");
    }
}

#[test]
fn large_jpeg_uses_dct_scaling() {
    assert_eq!(chosen_scale(4000, 3000), 4);
    assert_eq!(chosen_scale(3000, 4000), 4);
    assert_eq!(chosen_scale(4608, 1976), 3);
    assert_eq!(chosen_scale(3264, 2448), 4);
    assert_eq!(chosen_scale(1600, 1200), 8);
    assert_eq!(chosen_scale(1601, 1200), 8);
    assert_eq!(chosen_scale(3200, 100), 4);
    assert_eq!(chosen_scale(12_800, 9_600), 1);
    assert_eq!(chosen_scale(65_535, 10), 1);
    assert_eq!(chosen_scale(640, 480), 8);
}

// ---------------------------------------------------------------------------------------------
// Geometry

#[test]
fn fit_within_never_upscales() {
    assert_eq!(fit_within(4000, 3000, 1600), (1600, 1200));
    assert_eq!(fit_within(3000, 4000, 1600), (1200, 1600));
    assert_eq!(fit_within(640, 480, 1600), (640, 480));
    assert_eq!(fit_within(1600, 1600, 320), (320, 320));
    assert_eq!(fit_within(100_000, 1, 1600), (1600, 1));
    assert_eq!(fit_within(4608, 1976, 1600), (1600, 686));
}

#[test]
fn orientation_transforms_match_exif_definitions() {
    // Stored 3 × 2 image; pixel value = index in reading order.
    let stored = |vals: [u8; 6]| RgbImage {
        width: 3,
        height: 2,
        pixels: vals.iter().flat_map(|&v| [v, v, v]).collect(),
    };
    let values = |img: &RgbImage| -> Vec<u8> { img.pixels.chunks(3).map(|p| p[0]).collect() };
    let src = stored([0, 1, 2, 3, 4, 5]);
    // 0 1 2
    // 3 4 5
    let cases: [(u32, (u32, u32), [u8; 6]); 8] = [
        (1, (3, 2), [0, 1, 2, 3, 4, 5]),
        (2, (3, 2), [2, 1, 0, 5, 4, 3]),
        (3, (3, 2), [5, 4, 3, 2, 1, 0]),
        (4, (3, 2), [3, 4, 5, 0, 1, 2]),
        (5, (2, 3), [0, 3, 1, 4, 2, 5]),
        (6, (2, 3), [3, 0, 4, 1, 5, 2]),
        (7, (2, 3), [5, 2, 4, 1, 3, 0]),
        (8, (2, 3), [2, 5, 1, 4, 0, 3]),
    ];
    for (value, size, expected) in cases {
        let out = Orientation::from_exif(value).apply(src.clone());
        assert_eq!((out.width, out.height), size, "orientation {value}");
        assert_eq!(values(&out), expected, "orientation {value}");
    }
    assert_eq!(Orientation::from_exif(0), Orientation::Normal);
    assert_eq!(Orientation::from_exif(9), Orientation::Normal);
}

#[test]
fn gps_components_are_validated() {
    use super::metadata::dms_to_degrees;
    use exif::{Rational, SRational, Value};
    let r = |n, d| Rational { num: n, denom: d };
    let dms = dms_to_degrees(&Value::Rational(vec![r(43, 1), r(28, 1), r(1200, 100)])).unwrap();
    assert!((dms - (43.0 + 28.0 / 60.0 + 12.0 / 3600.0)).abs() < 1e-9);
    assert_eq!(
        dms_to_degrees(&Value::Rational(vec![r(1147, 100)])),
        Some(11.47)
    );
    assert_eq!(
        dms_to_degrees(&Value::Rational(vec![r(43, 0), r(0, 1), r(0, 1)])),
        None
    );
    assert_eq!(
        dms_to_degrees(&Value::Rational(vec![r(43, 1), r(60, 1), r(0, 1)])),
        None
    );
    assert_eq!(dms_to_degrees(&Value::Rational(vec![])), None);
    let s = |n, d| SRational { num: n, denom: d };
    assert_eq!(
        dms_to_degrees(&Value::SRational(vec![s(60, 1), s(30, 1), s(0, 1)])),
        Some(60.5)
    );
    assert_eq!(
        dms_to_degrees(&Value::SRational(vec![s(-60, 1), s(0, 1), s(0, 1)])),
        None
    );
    assert_eq!(dms_to_degrees(&Value::Ascii(vec![b"43.47".to_vec()])), None);
}

#[test]
fn exif_location_reads_gps_without_decoding() {
    let loc = exif_location(&read_photo("gps/DSCN0021.jpg")).unwrap();
    assert!((loc.lat - 43.47).abs() < 0.1 && (loc.lon - 11.88).abs() < 0.1);
    assert_eq!(
        exif_location(&read_photo("orientation/landscape_1.jpg")),
        None
    );
    assert_eq!(exif_location(b"not an image"), None);
}

#[test]
fn blur_keeps_the_size_and_wipes_out_detail() {
    let photo = process(&read_photo("gps/DSCN0010.jpg"), &PhotoLimits::default()).unwrap();
    let (display, thumbnail) = blur(&photo.display.bytes, &PhotoLimits::default()).unwrap();
    assert_eq!(
        (display.width, display.height),
        (photo.display.width, photo.display.height)
    );
    assert_eq!(
        (thumbnail.width, thumbnail.height),
        (photo.thumbnail.width, photo.thumbnail.height)
    );
    // Detail is what costs bytes in a JPEG: a strong blur leaves a fraction of them.
    assert!(
        display.bytes.len() * 4 < photo.display.bytes.len(),
        "{} vs {}",
        display.bytes.len(),
        photo.display.bytes.len()
    );
    assert!(blur(b"not a jpeg", &PhotoLimits::default()).is_err());
}
