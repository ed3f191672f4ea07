//! Writes a checkpoint's tokenizer as `tokenizer.json` + `tokenizer_config.json`
//! (a few MB), e.g. to drive `--model random:...` runs on a machine the whole
//! checkpoint cannot be sent to:
//!
//! ```text
//! cargo run --release -p chorus-llama --example export_tokenizer -- models/SmolLM2-135M-Instruct.Q4_1.gguf .gpu/tokenizer
//! ```

use std::path::Path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(checkpoint), Some(dir)) = (args.next(), args.next()) else {
        return Err("usage: export_tokenizer CHECKPOINT DIR".into());
    };
    let tokenizer = chorus_llama::Tokenizer::open(Path::new(&checkpoint))?;
    tokenizer.save(Path::new(&dir))?;
    println!("{checkpoint} -> {dir}/tokenizer.json");
    Ok(())
}
