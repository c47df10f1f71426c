//! The function's code: the zip embedded at build time, or `--code DIR|ZIP`.

use std::path::Path;

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::package;

/// The built-in handler, packaged by build.rs from examples/tutorial/handler/.
static EMBEDDED_ZIP: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/handler.zip"));
/// Its lockfile: what `serve` installs to run the built-in handler outside the repository.
static EMBEDDED_LOCKFILE: &[u8] = include_bytes!("../examples/tutorial/handler/package-lock.json");

/// The built-in handler as a folder that `serve` can run: unpacked once into
/// `<cache>/serverless-cli/handler-<hash>` (the user's cache folder: XDG_CACHE_HOME, else
/// ~/.cache) with its locked packages installed by `npm ci`, saying so on one line. Later runs
/// find it ready. The folder is made beside under a temporary name and renamed into place
/// complete, so an interrupted install is never taken for a finished one.
pub async fn builtin_handler_dir(npm: &Path) -> Result<std::path::PathBuf, String> {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
        .ok_or("no cache folder (set HOME or XDG_CACHE_HOME), or pass --code DIR")?
        .join("serverless-cli");
    let hash: String = Sha256::digest([EMBEDDED_ZIP, EMBEDDED_LOCKFILE].concat())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    let dir = cache.join(format!("handler-{hash}"));
    let ready = dir.join(".installed");
    if std::fs::symlink_metadata(&ready).is_ok_and(|m| m.is_file()) {
        return Ok(dir);
    }
    let fail =
        |what: &str, e: &dyn std::fmt::Display| format!("{what} in {}: {e}", cache.display());
    std::fs::create_dir_all(&cache).map_err(|e| fail("cannot create the cache folder", &e))?;
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".handler-{hash}."))
        .tempdir_in(&cache)
        .map_err(|e| fail("cannot make a folder", &e))?;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(EMBEDDED_ZIP))
        .map_err(|e| format!("the built-in handler's zip: {e}"))?;
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .map_err(|e| format!("the built-in handler's zip: {e}"))?;
        let Some(name) = entry.enclosed_name() else {
            continue;
        };
        let path = tmp.path().join(name);
        let mut out = std::fs::File::create(&path).map_err(|e| fail("cannot write", &e))?;
        std::io::copy(&mut entry, &mut out).map_err(|e| fail("cannot write", &e))?;
    }
    std::fs::write(tmp.path().join("package-lock.json"), EMBEDDED_LOCKFILE)
        .map_err(|e| fail("cannot write", &e))?;
    eprintln!(
        "serve: first use of the built-in handler: installing its locked packages into {} (npm ci)",
        dir.display()
    );
    let installed = tokio::time::timeout(
        std::time::Duration::from_secs(600),
        tokio::process::Command::new(npm)
            .args(["ci", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"])
            .current_dir(tmp.path())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .map_err(|_| "npm ci did not finish within 10 minutes; check the network, or pass --code DIR".to_string())?
    .map_err(|e| {
        format!(
            "cannot run {} ({e}) to install the built-in handler's packages; install Node.js with npm, or pass --code DIR",
            npm.display()
        )
    })?;
    if !installed.status.success() {
        let why = String::from_utf8_lossy(&installed.stderr);
        return Err(format!(
            "npm ci failed for the built-in handler ({}); check the network, or pass --code DIR",
            why.lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("no message")
                .trim()
        ));
    }
    std::fs::write(tmp.path().join(".installed"), hash.as_bytes())
        .map_err(|e| fail("cannot write", &e))?;
    let tmp = tmp.keep();
    match std::fs::rename(&tmp, &dir) {
        Ok(()) => Ok(dir),
        // Another serve finished first: use its folder.
        Err(_) if std::fs::symlink_metadata(&ready).is_ok_and(|m| m.is_file()) => {
            let _ = std::fs::remove_dir_all(&tmp);
            Ok(dir)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            Err(fail("cannot move the handler into place", &e))
        }
    }
}

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
        Self::load_for(path, "index", "--code")
    }

    /// A function's code for a handler in `module` (`index` for `index.handler`); `what`
    /// names where the path was given, for messages.
    pub fn load_for(path: &Path, module: &str, what: &str) -> Result<Self, String> {
        Self::load_skipping(path, module, what, &package::Skip::default())
    }

    /// [`Self::load_for`], leaving out of a folder's zip what `skip` names.
    pub fn load_skipping(
        path: &Path,
        module: &str,
        what: &str,
        skip: &package::Skip,
    ) -> Result<Self, String> {
        let meta = std::fs::metadata(path).map_err(|e| {
            format!(
                "{what} {}: {}; give a folder or a .zip file",
                path.display(),
                if e.kind() == std::io::ErrorKind::NotFound {
                    "no such file or folder".to_string()
                } else {
                    e.to_string()
                }
            )
        })?;
        if meta.is_dir() {
            let zip = package::package_dir_skipping(path, module, skip)
                .map_err(|e| format!("{what}: {e}"))?;
            return Ok(CodePackage::new(zip, path.display().to_string()));
        }
        if meta.len() as usize > package::MAX_INLINE_ZIP_BYTES {
            return Err(format!(
                "{what} {}: {} bytes is over Lambda's {} byte limit for direct upload; make the code smaller",
                path.display(),
                meta.len(),
                package::MAX_INLINE_ZIP_BYTES
            ));
        }
        let zip = crate::safe_fs::read_capped(path, package::MAX_INLINE_ZIP_BYTES as u64)
            .map_err(|e| format!("{what} {}: {e}", path.display()))?;
        package::check_zip_for(&zip, &format!("{what} {}", path.display()), module)?;
        Ok(CodePackage::new(zip, path.display().to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_handler_is_a_valid_deterministic_zip() {
        let a = CodePackage::embedded();
        let names = package::check_zip_for(&a.zip, "embedded", "index").unwrap();
        assert_eq!(
            names,
            vec!["index.mjs".to_string(), "package.json".to_string()]
        );
        // Packaging examples/tutorial/handler/ again gives the same bytes, so the same hash.
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/tutorial/handler");
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
        let names = package::check_zip_for(&first.zip, "t", "index").unwrap();
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
