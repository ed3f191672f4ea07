//! Renders the attention masks of the README as PNG files.
//!
//! ```text
//! cargo run --example mask_gallery [OUTPUT_DIR]   # default: docs/images
//! ```
//!
//! Writes `causal.png` (plain causal attention over a packed flex sequence: what
//! the Python pipeline silently fell back to), `flex.png` (each paraphrase sees
//! only itself; the shared `"\nA:"` suffix and generated tokens see everything),
//! `flex_share_prefix.png` (one shared instruction + few-shot prefix) and
//! `structured.png` (the MyriadLAMA structured rules). It also prints the flex mask
//! as ASCII.

use std::path::PathBuf;

use chorus::mask::gallery::{GALLERY_GENERATED, gallery_flex_table, write_gallery};
use chorus::mask::{DenseMask, MaskError, flex_rule, render_ascii};

fn main() -> Result<(), MaskError> {
    let dir = std::env::args()
        .nth(1)
        .map_or_else(|| PathBuf::from("docs/images"), PathBuf::from);
    let table = gallery_flex_table()?;
    let n = table.len() + GALLERY_GENERATED;
    let flex = DenseMask::compile(&flex_rule(&table), 0..n, n);
    println!("{}", render_ascii(&flex, Some(&table)));
    for path in write_gallery(&dir)? {
        println!("wrote {}", path.display());
    }
    Ok(())
}
