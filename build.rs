//! Packages examples/tutorial/handler/ into a deterministic zip that the binary embeds, so the binary alone can
//! deploy. The packaging code is src/package.rs, shared with `--code DIR` at run time.

#[path = "src/safe_fs.rs"]
#[allow(dead_code)]
mod safe_fs;

#[path = "src/package.rs"]
#[allow(dead_code)]
mod package;

use std::path::Path;

fn main() {
    let dir = Path::new("examples/tutorial/handler");
    println!("cargo:rerun-if-changed=examples/tutorial/handler/index.mjs");
    println!("cargo:rerun-if-changed=examples/tutorial/handler/package.json");
    println!("cargo:rerun-if-changed=src/package.rs");
    println!("cargo:rerun-if-changed=src/safe_fs.rs");
    let bytes = package::package_dir_skipping(dir, "index", &package::Skip::default())
        .unwrap_or_else(|e| panic!("packaging examples/tutorial/handler/: {e}"));
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    std::fs::write(Path::new(&out).join("handler.zip"), bytes).expect("writing handler.zip");
}
