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

/// A file's path in the zip, size, and modification time (seconds, nanoseconds).
type Stamp = (String, u64, u64, u32);

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct CachedHash {
    files: Vec<Stamp>,
    sha256: String,
}

/// This machine's record of the code folders it zipped (`.serverless-cli/code-hashes.json`),
/// so that an unchanged folder is not read again: a no-op plan of a large folder stats its
/// files and reads none. Anything unreadable in it is taken as no record.
#[derive(Debug, Default)]
pub struct HashCache {
    path: Option<std::path::PathBuf>,
    entries: std::collections::BTreeMap<String, CachedHash>,
    dirty: bool,
}

/// The record's size at the most: a few hundred bytes a file of each folder.
const MAX_CACHE_BYTES: u64 = 8 * 1024 * 1024;

impl HashCache {
    /// The record in `dir` (none yet is an empty one).
    pub fn open(dir: &Path) -> HashCache {
        let path = dir.join("code-hashes.json");
        let entries = crate::safe_fs::read_capped(&path, MAX_CACHE_BYTES)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        HashCache {
            path: Some(path),
            entries,
            dirty: false,
        }
    }

    /// Writes the record back if it changed (replacing the file whole); a failure only costs
    /// the next run a read of the folders.
    pub fn save(&self) {
        let (Some(path), true) = (&self.path, self.dirty) else {
            return;
        };
        let Some(dir) = path.parent() else {
            return;
        };
        if crate::safe_fs::create_private_dir(dir).is_err() {
            return;
        }
        let Ok(text) = serde_json::to_vec(&self.entries) else {
            return;
        };
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        if std::fs::write(&tmp, text).is_ok() && std::fs::rename(&tmp, path).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }
}

/// Each function's code, by its logical name.
pub type Codes = std::collections::BTreeMap<String, CodePackage>;

/// A zip ready to upload, or (its folder unchanged since this machine last zipped it) its
/// SHA-256 alone, the zip made again only if it is to be uploaded.
#[derive(Debug, Clone)]
pub struct CodePackage {
    zip: std::sync::Arc<std::sync::OnceLock<Vec<u8>>>,
    /// The folder to zip again when the zip was not made this run.
    source: Option<(std::path::PathBuf, String, package::Skip)>,
    /// Base64 SHA-256 of the zip: what Lambda reports as CodeSha256.
    pub sha256: String,
    /// Where it came from, for messages.
    pub origin: String,
}

fn sha_of(zip: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(zip))
}

impl CodePackage {
    fn new(zip: Vec<u8>, origin: String) -> Self {
        CodePackage {
            sha256: sha_of(&zip),
            zip: std::sync::Arc::new(std::sync::OnceLock::from(zip)),
            source: None,
            origin,
        }
    }

    /// The zip's bytes: made now if only its hash was known. A folder that changed since its
    /// hash was taken is refused (the run would upload other code than it planned).
    pub fn zip(&self) -> Result<&[u8], String> {
        if let Some(z) = self.zip.get() {
            return Ok(z);
        }
        let Some((dir, module, skip)) = &self.source else {
            return Err(format!("{}: no code to upload", self.origin));
        };
        let zip = package::package_dir_skipping(dir, module, skip)?;
        if sha_of(&zip) != self.sha256 {
            return Err(format!(
                "{} changed while this run went on; run it again",
                self.origin
            ));
        }
        Ok(self.zip.get_or_init(|| zip))
    }

    /// [`Self::load_skipping`] for a folder, through this machine's record of the folders it
    /// zipped: a folder whose every file has the size and modification time recorded is not
    /// read (its hash is the recorded one; its zip is made only if it is to be uploaded).
    pub fn load_cached(
        path: &Path,
        module: &str,
        what: &str,
        skip: &package::Skip,
        cache: &mut HashCache,
    ) -> Result<Self, String> {
        if !std::fs::metadata(path).is_ok_and(|m| m.is_dir()) {
            return Self::load_skipping(path, module, what, skip);
        }
        let files =
            package::collect_files_skipping(path, skip).map_err(|e| format!("{what}: {e}"))?;
        let stamps: Option<Vec<Stamp>> = files
            .iter()
            .map(|(name, disk)| {
                let m = std::fs::symlink_metadata(disk).ok()?;
                let t = m
                    .modified()
                    .ok()?
                    .duration_since(std::time::UNIX_EPOCH)
                    .ok()?;
                Some((name.clone(), m.len(), t.as_secs(), t.subsec_nanos()))
            })
            .collect();
        let key = format!(
            "{}\n{module}\n{:?}",
            std::fs::canonicalize(path)
                .unwrap_or_else(|_| path.to_path_buf())
                .display(),
            skip
        );
        if let (Some(stamps), Some(hit)) = (&stamps, cache.entries.get(&key)) {
            if &hit.files == stamps {
                return Ok(CodePackage {
                    zip: Default::default(),
                    source: Some((path.to_path_buf(), module.to_string(), skip.clone())),
                    sha256: hit.sha256.clone(),
                    origin: path.display().to_string(),
                });
            }
        }
        let code = Self::load_skipping(path, module, what, skip)?;
        if let Some(files) = stamps {
            cache.entries.insert(
                key,
                CachedHash {
                    files,
                    sha256: code.sha256.clone(),
                },
            );
            cache.dirty = true;
        }
        Ok(code)
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
    fn an_unchanged_folder_is_hashed_from_its_record_and_zipped_only_when_needed() {
        let dir = tempfile::tempdir().unwrap();
        let code = dir.path().join("code");
        std::fs::create_dir(&code).unwrap();
        std::fs::write(code.join("index.mjs"), "export const handler = 1;").unwrap();
        let record = dir.path().join(".serverless-cli");
        let skip = package::Skip::default();
        let mut cache = HashCache::open(&record);
        let first = CodePackage::load_cached(&code, "index", "t", &skip, &mut cache).unwrap();
        cache.save();
        assert!(record.join("code-hashes.json").exists());

        // The same bytes' length, the same time: the record is believed, no file is read.
        let file = code.join("index.mjs");
        let when = std::fs::metadata(&file).unwrap().modified().unwrap();
        std::fs::write(&file, "export const handler = 2;").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&file)
            .unwrap()
            .set_modified(when)
            .unwrap();
        let mut cache = HashCache::open(&record);
        let second = CodePackage::load_cached(&code, "index", "t", &skip, &mut cache).unwrap();
        assert_eq!(second.sha256, first.sha256);
        // ... and zipping it for an upload finds the change instead of uploading it.
        assert!(second
            .zip()
            .unwrap_err()
            .contains("changed while this run went on"));

        // A touched file is read again.
        std::fs::File::options()
            .write(true)
            .open(&file)
            .unwrap()
            .set_modified(when + std::time::Duration::from_secs(5))
            .unwrap();
        let third = CodePackage::load_cached(&code, "index", "t", &skip, &mut cache).unwrap();
        assert_ne!(third.sha256, first.sha256);
        assert!(third.zip().is_ok());
    }

    #[test]
    fn embedded_handler_is_a_valid_deterministic_zip() {
        let a = CodePackage::embedded();
        let names = package::check_zip_for(a.zip().unwrap(), "embedded", "index").unwrap();
        assert_eq!(
            names,
            vec!["index.mjs".to_string(), "package.json".to_string()]
        );
        // Packaging examples/tutorial/handler/ again gives the same bytes, so the same hash.
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/tutorial/handler");
        let again = CodePackage::load(&dir).unwrap();
        assert_eq!(again.sha256, a.sha256);
        assert_eq!(again.zip().unwrap(), a.zip().unwrap());
    }

    #[test]
    fn folder_packaging_ignores_timestamps_and_checks_entry_point() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.mjs"), "export const handler = 1;").unwrap();
        std::fs::create_dir(dir.path().join("lib")).unwrap();
        std::fs::write(dir.path().join("lib/a.js"), "x").unwrap();
        std::fs::write(dir.path().join(".env"), "SECRET=1").unwrap();
        let first = CodePackage::load(dir.path()).unwrap();
        let names = package::check_zip_for(first.zip().unwrap(), "t", "index").unwrap();
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
