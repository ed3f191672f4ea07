//! The mask gallery: the pictures in the README, as code.
//!
//! [`write_gallery`] renders the masks Chorus uses on small example layouts:
//! plain causal attention over a packed flex sequence (what the Python pipeline
//! silently fell back to), the flex mask with a fused shared suffix, the flex mask
//! with `--share-prefix`, and the MyriadLAMA structured mask.

use std::path::{Path, PathBuf};

use crate::dense::DenseMask;
use crate::error::MaskError;
use crate::picture::render_png;
use crate::predicate::causal;
use crate::role::Role;
use crate::rules::{flex_rule, structured_rule};
use crate::segment::SegmentTable;

/// Generated tokens shown after the prompt in every gallery picture.
pub const GALLERY_GENERATED: usize = 4;

fn q(paraphrase: usize) -> Role {
    Role::Question { paraphrase }
}

/// The flex layout of the gallery: three whole paraphrase prompts, then the shared
/// `"\nA:"` suffix (`--fuse-first shared-suffix`).
pub fn gallery_flex_table() -> Result<SegmentTable, MaskError> {
    SegmentTable::from_lengths(&[(q(0), 9), (q(1), 7), (q(2), 8), (Role::Shared, 3)])
}

/// The `--share-prefix` flex layout: one shared instruction + few-shot prefix,
/// three paraphrase segments, the shared suffix.
pub fn gallery_share_prefix_table() -> Result<SegmentTable, MaskError> {
    SegmentTable::from_lengths(&[
        (Role::Shared, 8),
        (q(0), 5),
        (q(1), 4),
        (q(2), 6),
        (Role::Shared, 3),
    ])
}

/// The structured layout: instruction, two few-shot examples with two question
/// phrasings and an answer each, three question paraphrases, the shared suffix.
pub fn gallery_structured_table() -> Result<SegmentTable, MaskError> {
    let fsq = |example, variant| Role::FewShotQuestion { example, variant };
    SegmentTable::from_lengths(&[
        (Role::Instruction, 4),
        (fsq(0, 0), 3),
        (fsq(0, 1), 3),
        (Role::FewShotAnswer { example: 0 }, 2),
        (fsq(1, 0), 3),
        (fsq(1, 1), 3),
        (Role::FewShotAnswer { example: 1 }, 2),
        (q(0), 4),
        (q(1), 4),
        (q(2), 4),
        (Role::Shared, 2),
    ])
}

/// Writes `causal.png`, `flex.png`, `flex_share_prefix.png` and `structured.png`
/// into `dir` (created if missing); returns the paths written.
pub fn write_gallery(dir: &Path) -> Result<Vec<PathBuf>, MaskError> {
    std::fs::create_dir_all(dir).map_err(|e| MaskError::Image {
        path: dir.display().to_string(),
        source: image::ImageError::IoError(e),
    })?;
    let flex = gallery_flex_table()?;
    let share = gallery_share_prefix_table()?;
    let structured = gallery_structured_table()?;
    let mut written = Vec::new();
    let mut save = |name: &str, mask: DenseMask, table: &SegmentTable| -> Result<(), MaskError> {
        let path = dir.join(name);
        render_png(&mask, Some(table), &path)?;
        written.push(path);
        Ok(())
    };
    let n = |t: &SegmentTable| t.len() + GALLERY_GENERATED;
    save(
        "causal.png",
        DenseMask::compile(&causal(), 0..n(&flex), n(&flex)),
        &flex,
    )?;
    save(
        "flex.png",
        DenseMask::compile(&flex_rule(&flex), 0..n(&flex), n(&flex)),
        &flex,
    )?;
    save(
        "flex_share_prefix.png",
        DenseMask::compile(&flex_rule(&share), 0..n(&share), n(&share)),
        &share,
    )?;
    save(
        "structured.png",
        DenseMask::compile(
            &structured_rule(&structured),
            0..n(&structured),
            n(&structured),
        ),
        &structured,
    )?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gallery_writes_four_pngs() {
        let dir = std::env::temp_dir().join(format!("chorus-mask-gallery-{}", std::process::id()));
        let written = write_gallery(&dir).unwrap();
        assert_eq!(written.len(), 4);
        for path in &written {
            let bytes = std::fs::read(path).unwrap();
            assert_eq!(&bytes[1..4], b"PNG", "{}", path.display());
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
