//! The function's code: the zip embedded at build time, or `--code DIR|ZIP`.

use std::path::Path;

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::package;

/// The built-in handler, packaged by build.rs from handler/.
static EMBEDDED_ZIP: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/handler.zip"));

/// A zip ready to upload.
#[derive(Debug, Clone)]
pub struct CodePackage {
    pub zip: Vec<u8>,
    /// Base64 SHA-256 of the zip: what Lambda reports as CodeSha256.
    pub sha256: String,
    /// Where it came from, for messages.
    pub origin: String,
}

impl CodePackage {
    fn new(zip: Vec<u8>, origin: String) -> Self {
        let sha256 = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&zip));
        CodePackage {
            zip,
            sha256,
            origin,
        }
    }

    /// The built-in handler.
    pub fn embedded() -> Self {
        CodePackage::new(EMBEDDED_ZIP.to_vec(), "built-in handler".to_string())
    }

    /// `--code`: a folder is packaged deterministically, a zip is checked and taken as it is.
    pub fn load(path: &Path) -> Result<Self, String> {
        let meta = std::fs::metadata(path).map_err(|e| {
            format!(
                "--code {}: {}; give a folder or a .zip file",
                path.display(),
                if e.kind() == std::io::ErrorKind::NotFound {
                    "no such file or folder".to_string()
                } else {
                    e.to_string()
                }
            )
        })?;
        if meta.is_dir() {
            let zip = package::package_dir(path).map_err(|e| format!("--code: {e}"))?;
            return Ok(CodePackage::new(zip, path.display().to_string()));
        }
        if meta.len() as usize > package::MAX_INLINE_ZIP_BYTES {
            return Err(format!(
                "--code {}: {} bytes is over Lambda's {} byte limit for direct upload; make the code smaller",
                path.display(),
                meta.len(),
                package::MAX_INLINE_ZIP_BYTES
            ));
        }
        let zip = crate::safe_fs::read_capped(path, package::MAX_INLINE_ZIP_BYTES as u64)
            .map_err(|e| format!("--code {}: {e}", path.display()))?;
        package::check_zip(&zip, &format!("--code {}", path.display()))?;
        Ok(CodePackage::new(zip, path.display().to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_handler_is_a_valid_deterministic_zip() {
        let a = CodePackage::embedded();
        let names = package::check_zip(&a.zip, "embedded").unwrap();
        assert_eq!(
            names,
            vec!["index.mjs".to_string(), "package.json".to_string()]
        );
        // Packaging handler/ again gives the same bytes, so the same hash.
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("handler");
        let again = CodePackage::load(&dir).unwrap();
        assert_eq!(again.sha256, a.sha256);
        assert_eq!(again.zip, a.zip);
    }

    #[test]
    fn folder_packaging_ignores_timestamps_and_checks_entry_point() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.mjs"), "export const handler = 1;").unwrap();
        std::fs::create_dir(dir.path().join("lib")).unwrap();
        std::fs::write(dir.path().join("lib/a.js"), "x").unwrap();
        std::fs::write(dir.path().join(".env"), "SECRET=1").unwrap();
        let first = CodePackage::load(dir.path()).unwrap();
        let names = package::check_zip(&first.zip, "t").unwrap();
        assert_eq!(names, vec!["index.mjs".to_string(), "lib/a.js".to_string()]);
        // Touch a file: same content, same hash.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        std::fs::write(dir.path().join("lib/a.js"), "x").unwrap();
        assert_eq!(CodePackage::load(dir.path()).unwrap().sha256, first.sha256);
        std::fs::write(dir.path().join("lib/a.js"), "y").unwrap();
        assert_ne!(CodePackage::load(dir.path()).unwrap().sha256, first.sha256);

        let empty = tempfile::tempdir().unwrap();
        assert!(CodePackage::load(empty.path())
            .unwrap_err()
            .contains("no files"));
        let no_entry = tempfile::tempdir().unwrap();
        std::fs::write(no_entry.path().join("main.js"), "x").unwrap();
        assert!(CodePackage::load(no_entry.path())
            .unwrap_err()
            .contains("index.handler"));
        let not_zip = dir.path().join("code.zip");
        std::fs::write(&not_zip, "not a zip").unwrap();
        assert!(CodePackage::load(&not_zip)
            .unwrap_err()
            .contains("not a valid zip"));
        assert!(CodePackage::load(Path::new("/no/such/path"))
            .unwrap_err()
            .contains("no such file"));
    }
}
