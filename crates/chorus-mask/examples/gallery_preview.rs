//! Writes the mask gallery PNGs (same as the workspace example `mask_gallery`,
//! without building the facade): `cargo run -p chorus-mask --example gallery_preview [DIR]`.

fn main() -> Result<(), chorus_mask::MaskError> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "docs/images".to_string());
    for path in chorus_mask::gallery::write_gallery(std::path::Path::new(&dir))? {
        println!("wrote {}", path.display());
    }
    Ok(())
}
