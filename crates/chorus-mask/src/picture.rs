//! PNG pictures of masks (the `png` feature, on by default): the README's
//! images. Crates that only compute masks (the model) build without it and so
//! without the image encoder.

use std::path::Path;

use font8x8::{BASIC_FONTS, UnicodeFonts};
use image::{ImageFormat, Rgb, RgbImage};

use crate::dense::DenseMask;
use crate::error::MaskError;
use crate::render::{Band, bands};
use crate::role::Role;
use crate::segment::SegmentTable;

/// Largest mask side [`render_png`] accepts (one pixel per cell at that size).
pub const MAX_RENDER_SIDE: usize = 4096;

const HIDDEN: Rgb<u8> = Rgb([246, 246, 246]);
const BOUNDARY: Rgb<u8> = Rgb([40, 40, 40]);
const BACKGROUND: Rgb<u8> = Rgb([255, 255, 255]);
const QUESTION_PALETTE: [[u8; 3]; 6] = [
    [230, 126, 34],
    [155, 89, 182],
    [231, 76, 60],
    [241, 196, 15],
    [26, 188, 156],
    [52, 73, 94],
];

/// Colour of a visible cell, by the role of its key.
fn role_colour(role: Role) -> Rgb<u8> {
    Rgb(match role {
        Role::Instruction => [52, 101, 164],
        Role::FewShotQuestion { variant, .. } => {
            [[78, 154, 6], [115, 190, 40], [60, 120, 10]][variant % 3]
        }
        Role::FewShotAnswer { .. } => [32, 74, 0],
        Role::Question { paraphrase } => QUESTION_PALETTE[paraphrase % QUESTION_PALETTE.len()],
        Role::Shared => [110, 110, 110],
        Role::Generated => [192, 40, 40],
    })
}

/// Writes `mask` as a PNG to `path`: visible cells coloured by the role of their
/// key (plain dark grey without a table), hidden cells light grey; with a table,
/// segment boundaries are drawn as lines and labelled (`I`, `F0.1`, `A0`, `Q2`,
/// `S`, `G`) along the left (query rows) and top (key columns) edges.
pub fn render_png(
    mask: &DenseMask,
    table: Option<&SegmentTable>,
    path: impl AsRef<Path>,
) -> Result<(), MaskError> {
    let image = render_image(mask, table)?;
    let path = path.as_ref();
    image
        .save_with_format(path, ImageFormat::Png)
        .map_err(|source| MaskError::Image {
            path: path.display().to_string(),
            source,
        })
}

/// The picture [`render_png`] writes, as an in-memory image.
pub fn render_image(mask: &DenseMask, table: Option<&SegmentTable>) -> Result<RgbImage, MaskError> {
    let (rows, cols) = (mask.q_len(), mask.kv_len());
    if rows > MAX_RENDER_SIDE || cols > MAX_RENDER_SIDE {
        return Err(MaskError::TooLargeToRender {
            rows,
            cols,
            max: MAX_RENDER_SIDE,
        });
    }
    // Cells big enough to see at README width (~700 px), at least one pixel.
    let cell = (720 / rows.max(cols).max(1)).clamp(1, 24);
    let glyph = if cell >= 8 { 2 } else { 1 };
    let row_bands = table
        .map(|t| bands(t, mask.q_start(), rows))
        .unwrap_or_default();
    let col_bands = table.map(|t| bands(t, 0, cols)).unwrap_or_default();
    let label_chars = row_bands
        .iter()
        .chain(&col_bands)
        .map(|b| b.label.len())
        .max()
        .unwrap_or(0);
    let margin = if table.is_some() {
        label_chars * 8 * glyph + 6
    } else {
        0
    };
    let (width, height) = (margin + cols * cell + 1, margin + rows * cell + 1);
    let mut image = RgbImage::from_pixel(px(width), px(height), BACKGROUND);
    for r in 0..rows {
        for c in 0..cols {
            let colour = match (mask.get(r, c), table) {
                (false, _) => HIDDEN,
                (true, Some(t)) => role_colour(t.role_of(c)),
                (true, None) => Rgb([60, 60, 60]),
            };
            fill(
                &mut image,
                margin + c * cell,
                margin + r * cell,
                cell,
                cell,
                colour,
            );
        }
    }
    if table.is_some() {
        draw_boundaries(&mut image, margin, cell, rows, cols, &row_bands, &col_bands);
        draw_labels(
            &mut image, margin, cell, glyph, &row_bands, &col_bands, rows, cols,
        );
    }
    Ok(image)
}

fn px(v: usize) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

fn fill(image: &mut RgbImage, x: usize, y: usize, w: usize, h: usize, colour: Rgb<u8>) {
    for yy in y..(y + h).min(image.height() as usize) {
        for xx in x..(x + w).min(image.width() as usize) {
            image.put_pixel(px(xx), px(yy), colour);
        }
    }
}

fn draw_boundaries(
    image: &mut RgbImage,
    margin: usize,
    cell: usize,
    rows: usize,
    cols: usize,
    row_bands: &[Band],
    col_bands: &[Band],
) {
    let (grid_w, grid_h) = (cols * cell + 1, rows * cell + 1);
    for b in row_bands.iter().map(|b| b.start).chain([0, rows]) {
        fill(image, margin, margin + b * cell, grid_w, 1, BOUNDARY);
    }
    for b in col_bands.iter().map(|b| b.start).chain([0, cols]) {
        fill(image, margin + b * cell, margin, 1, grid_h, BOUNDARY);
    }
}

#[allow(clippy::too_many_arguments)]
fn draw_labels(
    image: &mut RgbImage,
    margin: usize,
    cell: usize,
    glyph: usize,
    row_bands: &[Band],
    col_bands: &[Band],
    rows: usize,
    cols: usize,
) {
    let text = 8 * glyph;
    for (i, band) in row_bands.iter().enumerate() {
        let span = (row_bands.get(i + 1).map_or(rows, |b| b.start) - band.start) * cell;
        // Bands thinner than half a glyph get no label rather than a smudge.
        if span * 2 >= text {
            let y = (margin + band.start * cell + span / 2).saturating_sub(text / 2);
            draw_text(
                image,
                2,
                y,
                glyph,
                &band.label,
                role_colour(band.role),
                false,
            );
        }
    }
    for (i, band) in col_bands.iter().enumerate() {
        let span = (col_bands.get(i + 1).map_or(cols, |b| b.start) - band.start) * cell;
        if span * 2 >= text {
            // Column labels run bottom-to-top so narrow segments still get whole labels.
            let x = (margin + band.start * cell + span / 2).saturating_sub(text / 2);
            draw_text(
                image,
                x,
                margin.saturating_sub(3),
                glyph,
                &band.label,
                role_colour(band.role),
                true,
            );
        }
    }
}

/// Draws `text` with font8x8 glyphs scaled by `scale`. Horizontal text has its
/// top-left corner at `(x, y)`; vertical text (rotated a quarter turn
/// anticlockwise, read bottom to top) has its bottom-left corner there.
fn draw_text(
    image: &mut RgbImage,
    x: usize,
    y: usize,
    scale: usize,
    text: &str,
    colour: Rgb<u8>,
    vertical: bool,
) {
    for (i, ch) in text.chars().enumerate() {
        let Some(rows) = BASIC_FONTS.get(ch) else {
            continue;
        };
        for (dy, bits) in rows.iter().enumerate() {
            for dx in 0..8 {
                // font8x8 stores the leftmost pixel in bit 0.
                if bits >> dx & 1 == 0 {
                    continue;
                }
                let along = (i * 8 + dx) * scale;
                if vertical {
                    if let Some(yy) = y.checked_sub(along + scale) {
                        fill(image, x + dy * scale, yy, scale, scale, colour);
                    }
                } else {
                    fill(image, x + along, y + dy * scale, scale, scale, colour);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::tests::table;
    use crate::rules::flex_rule;

    #[test]
    fn png_is_written_with_margins_and_role_colours() {
        let t = table();
        let m = DenseMask::compile(&flex_rule(&t), 0..6, 6);
        let image = render_image(&m, Some(&t)).unwrap();
        let cell = 720 / 6;
        let cell = cell.min(24);
        let margin = 2 * 8 * 2 + 6;
        assert_eq!(image.width() as usize, margin + 6 * cell + 1);
        // Cell (row 5, col 0): generated sees Q0 → Q0's colour; (row 0, col 1) hidden.
        let centre = |r: usize, c: usize| {
            *image.get_pixel(
                px(margin + c * cell + cell / 2),
                px(margin + r * cell + cell / 2),
            )
        };
        assert_eq!(centre(5, 0), role_colour(Role::Question { paraphrase: 0 }));
        assert_eq!(centre(0, 1), HIDDEN);
        let dir = std::env::temp_dir().join(format!("chorus-mask-render-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("flex.png");
        render_png(&m, Some(&t), &path).unwrap();
        assert!(std::fs::metadata(&path).unwrap().len() > 100);
        let err = render_png(&m, None, dir.join("missing-dir").join("x.png")).unwrap_err();
        assert!(err.to_string().contains("missing-dir"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn oversized_masks_are_refused() {
        let m = DenseMask::empty(0, 1, MAX_RENDER_SIDE + 1);
        assert!(matches!(
            render_image(&m, None),
            Err(MaskError::TooLargeToRender { .. })
        ));
    }
}

/// A rendered mask picture ([`render_image`]) that notebooks show inline: its
/// [`MaskPicture::evcxr_display`] is what the evcxr Jupyter kernel calls on a
/// cell's final value.
#[derive(Debug, Clone)]
pub struct MaskPicture {
    image: RgbImage,
}

impl MaskPicture {
    /// Renders `mask` (with the segment labels of `table`, when given).
    pub fn new(mask: &DenseMask, table: Option<&SegmentTable>) -> Result<Self, MaskError> {
        Ok(MaskPicture {
            image: render_image(mask, table)?,
        })
    }

    /// The picture as an in-memory image.
    pub fn image(&self) -> &RgbImage {
        &self.image
    }

    /// The picture encoded as PNG.
    pub fn to_png(&self) -> Result<Vec<u8>, MaskError> {
        let mut bytes = std::io::Cursor::new(Vec::new());
        self.image
            .write_to(&mut bytes, ImageFormat::Png)
            .map_err(|source| MaskError::Image {
                path: "<memory>".to_owned(),
                source,
            })?;
        Ok(bytes.into_inner())
    }

    /// Shows the picture in an evcxr Jupyter notebook: prints the PNG,
    /// base64-encoded, between evcxr's `EVCXR_BEGIN_CONTENT image/png` and
    /// `EVCXR_END_CONTENT` markers (evcxr's display protocol; the library
    /// does not depend on evcxr). A picture that cannot be encoded prints
    /// the error as text instead.
    pub fn evcxr_display(&self) {
        match self.to_png() {
            Ok(png) => println!(
                "EVCXR_BEGIN_CONTENT image/png\n{}\nEVCXR_END_CONTENT",
                base64(&png)
            ),
            Err(error) => println!("EVCXR_BEGIN_CONTENT text/plain\n{error}\nEVCXR_END_CONTENT"),
        }
    }
}

/// Standard base64 with padding (RFC 4648), for the display protocol.
fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod display_tests {
    use super::*;
    use crate::predicate::causal;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }

    #[test]
    fn a_picture_encodes_as_png() {
        let mask = DenseMask::compile(&causal(), 0..6, 6);
        let picture = MaskPicture::new(&mask, None).unwrap();
        let png = picture.to_png().unwrap();
        assert_eq!(&png[1..4], b"PNG");
        let decoded = image::load_from_memory(&png).unwrap().to_rgb8();
        assert_eq!(&decoded, picture.image());
    }
}
