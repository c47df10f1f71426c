//! Deterministic zip packaging of the function's code.
//!
//! The same files always give the same bytes, so the same SHA-256: entries sorted by path,
//! every timestamp fixed at 1980-01-01 00:00, every mode 0644, deflate at a fixed level.
//! `build.rs` includes this file too, so the zip embedded in the binary and a zip made from
//! `--code DIR` at run time come from one implementation.

use std::fs;
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

/// Lambda's limit for a CreateFunction / UpdateFunctionCode request, in bytes. The zip travels
/// base64-encoded inside it (docs/aws.md, "Lambda code size").
pub const MAX_REQUEST_BYTES: usize = 69_905_067;
/// Room kept for the rest of the request (names, role, environment) around the zip.
const REQUEST_ENVELOPE_BYTES: usize = 16 * 1024;
/// The largest zip whose base64 form fits in the request with its envelope: 50 MiB less
/// about 12 KiB (a zip of exactly 50 MiB is refused by Lambda).
pub const MAX_INLINE_ZIP_BYTES: usize = (MAX_REQUEST_BYTES - REQUEST_ENVELOPE_BYTES) / 4 * 3;
/// Lambda's limit on the unzipped size of a function's code.
pub const MAX_UNZIPPED_BYTES: u64 = 250 * 1024 * 1024;

/// What never goes into a function's zip, beside hidden files (`.git`, `.serverless-cli`):
/// paths on disk (the state folder, the stack file) and the function's `exclude` patterns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Skip {
    /// Files or folders, as `std::fs::canonicalize` gives them.
    pub paths: Vec<PathBuf>,
    /// Glob patterns relative to the code folder, as in a .gitignore: `*` and `?` within one
    /// name, `**` for any number of folders; a pattern without `/` matches a name at any
    /// depth; a folder matched is left out whole.
    pub patterns: Vec<String>,
}

impl Skip {
    fn skips(&self, rel: &str, disk: &Path) -> bool {
        let name = rel.rsplit('/').next().unwrap_or(rel);
        self.patterns.iter().any(|p| {
            let p = p.trim_start_matches("./").trim_end_matches('/');
            if p.contains('/') {
                glob_path(p.trim_start_matches('/'), rel)
            } else {
                glob_name(p, name)
            }
        }) || (!self.paths.is_empty()
            && fs::canonicalize(disk).is_ok_and(|c| self.paths.contains(&c)))
    }
}

/// `*` and `?` within one name, by the two-pointer walk: time linear in the two lengths'
/// product at worst, never exponential.
pub fn glob_name(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < n.len() {
        if i < p.len() && (p[i] == '?' || p[i] == n[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some((i, j));
            i += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|c| *c == '*')
}

/// A pattern of names separated by `/` against a path, `**` matching any number of names:
/// a table over the two lists of names, so bounded by their product.
pub fn glob_path(pattern: &str, path: &str) -> bool {
    let p: Vec<&str> = pattern.split('/').collect();
    let n: Vec<&str> = path.split('/').collect();
    // ok[i][j]: p[i..] matches n[j..].
    let mut ok = vec![vec![false; n.len() + 1]; p.len() + 1];
    ok[p.len()][n.len()] = true;
    for i in (0..p.len()).rev() {
        for j in (0..=n.len()).rev() {
            ok[i][j] = if p[i] == "**" {
                ok[i + 1][j] || (j < n.len() && ok[i][j + 1])
            } else {
                j < n.len() && glob_name(p[i], n[j]) && ok[i + 1][j + 1]
            };
        }
    }
    ok[0][0]
}

/// The files of a code folder that go into the zip, as (path in zip, path on disk), sorted.
///
/// When the folder's package.json has a `files` list (npm's convention for what a package
/// ships), only those entries and package.json are taken; otherwise every file below the
/// folder except hidden ones and what `skip` names. Symbolic links are refused: what is
/// deployed must be what is in the folder.
pub fn collect_files_skipping(dir: &Path, skip: &Skip) -> Result<Vec<(String, PathBuf)>, String> {
    let mut out = Vec::new();
    let listed = package_files_list(dir)?;
    match listed {
        Some(entries) => {
            let mut entries = entries;
            entries.push("package.json".to_string());
            for entry in entries {
                if entry.contains(['*', '?', '[', '!']) || entry.contains("..") {
                    return Err(format!(
                        "{}: the 'files' entry '{entry}' is a pattern; list plain file or folder names",
                        dir.join("package.json").display()
                    ));
                }
                let rel = Path::new(entry.trim_start_matches("./"));
                if rel.is_absolute() {
                    return Err(format!(
                        "{}: the 'files' entry '{entry}' is an absolute path; list names inside the code folder",
                        dir.join("package.json").display()
                    ));
                }
                // No folder on the way may be a link: it would reach outside the code folder.
                let mut at = dir.to_path_buf();
                for part in rel.parent().into_iter().flat_map(|p| p.components()) {
                    at.push(part);
                    if fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink()) {
                        return Err(format!(
                            "{} is a symbolic link; copy the files into the code folder instead",
                            at.display()
                        ));
                    }
                }
                walk(dir, &dir.join(rel), skip, &mut out)?;
            }
        }
        None => walk(dir, dir, skip, &mut out)?,
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out.dedup_by(|a, b| a.0 == b.0);
    Ok(out)
}

fn package_files_list(dir: &Path) -> Result<Option<Vec<String>>, String> {
    let manifest = dir.join("package.json");
    let text = match crate::safe_fs::read_capped(&manifest, 1024 * 1024) {
        Ok(t) => String::from_utf8_lossy(&t).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", manifest.display())),
    };
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not valid JSON: {e}", manifest.display()))?;
    match value.get("files") {
        None => Ok(None),
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("{}: 'files' must list strings", manifest.display()))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(format!("{}: 'files' must be a list", manifest.display())),
    }
}

fn walk(
    root: &Path,
    path: &Path,
    skip: &Skip,
    out: &mut Vec<(String, PathBuf)>,
) -> Result<(), String> {
    let meta =
        fs::symlink_metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if meta.file_type().is_symlink() {
        return Err(format!(
            "{} is a symbolic link; copy the file into the code folder instead",
            path.display()
        ));
    }
    if meta.is_dir() {
        let mut children: Vec<_> = fs::read_dir(path)
            .map_err(|e| format!("cannot list {}: {e}", path.display()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("cannot list {}: {e}", path.display()))?;
        children.sort_by_key(|c| c.file_name());
        for child in children {
            let name = child.file_name();
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            let child = child.path();
            let rel = child
                .strip_prefix(root)
                .map(|r| r.to_string_lossy().replace('\\', "/"))
                .unwrap_or_default();
            if skip.skips(&rel, &child) {
                continue;
            }
            walk(root, &child, skip, out)?;
        }
    } else if meta.is_file() {
        let rel = path
            .strip_prefix(root)
            .map_err(|_| format!("{} is outside {}", path.display(), root.display()))?;
        // Zip entry names are UTF-8: a name that is not would be changed on the way, and two
        // such names could become one (a file silently dropped).
        let name = rel
            .components()
            .map(|c| {
                c.as_os_str().to_str().map(str::to_string).ok_or_else(|| {
                    format!(
                        "{}: the file name is not valid UTF-8; rename it",
                        path.display()
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?
            .join("/");
        out.push((name, path.to_path_buf()));
    }
    Ok(())
}

/// Zips the files deterministically.
pub fn zip_files(files: &[(String, PathBuf)]) -> Result<Vec<u8>, String> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(6))
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(0o644);
    let mut total: u64 = 0;
    for (name, path) in files {
        let bytes = crate::safe_fs::read_capped(path, MAX_UNZIPPED_BYTES)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        total += bytes.len() as u64;
        if total > MAX_UNZIPPED_BYTES {
            return Err(format!(
                "the code is more than 250 MiB ({MAX_UNZIPPED_BYTES} bytes) unzipped, Lambda's limit; make it smaller"
            ));
        }
        writer
            .start_file(name.as_str(), options)
            .and_then(|_| writer.write_all(&bytes).map_err(Into::into))
            .map_err(|e| format!("cannot add {name} to the zip: {e}"))?;
    }
    let cursor = writer
        .finish()
        .map_err(|e| format!("cannot finish the zip: {e}"))?;
    Ok(cursor.into_inner())
}

/// The files a handler's module resolves to: `index` -> index.mjs, index.js, index.cjs.
pub fn entry_files(module: &str) -> [String; 3] {
    [
        format!("{module}.mjs"),
        format!("{module}.js"),
        format!("{module}.cjs"),
    ]
}

/// Checks a zip's entries: not empty, nothing outside its folder, within Lambda's sizes, and
/// an entry point for the handler's module (`index` for `index.handler`: index.mjs, ...).
/// Returns the entry names.
pub fn check_zip_for(bytes: &[u8], origin: &str, module: &str) -> Result<Vec<String>, String> {
    let entries = entry_files(module);
    if bytes.len() > MAX_INLINE_ZIP_BYTES {
        return Err(format!(
            "{origin}: the zipped code is {} bytes, over Lambda's {} byte limit for direct upload; make the code smaller",
            bytes.len(),
            MAX_INLINE_ZIP_BYTES
        ));
    }
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| format!("{origin} is not a valid zip file ({e})"))?;
    let names: Vec<String> = archive.file_names().map(str::to_string).collect();
    // No entry may leave the folder Lambda unpacks it into.
    if let Some(bad) = names.iter().find(|n| {
        n.starts_with('/')
            || n.contains('\\')
            || n.split('/').any(|part| part == "..")
            || n.as_bytes().get(1) == Some(&b':')
    }) {
        return Err(format!(
            "{origin} has an entry '{bad}' that points outside the folder it unzips into; rebuild the zip with relative paths"
        ));
    }
    // The sizes the entries claim (a zip bomb claims little and is caught by Lambda; we check
    // what they declare before any upload).
    let mut unzipped: u64 = 0;
    for i in 0..archive.len() {
        let entry = archive
            .by_index_raw(i)
            .map_err(|e| format!("{origin} is not a valid zip file ({e})"))?;
        unzipped = unzipped.saturating_add(entry.size());
    }
    if unzipped > MAX_UNZIPPED_BYTES {
        return Err(format!(
            "{origin} unzips to {unzipped} bytes, over Lambda's 250 MiB ({MAX_UNZIPPED_BYTES} bytes) limit for unzipped code; make the code smaller"
        ));
    }
    if names.iter().all(|n| n.ends_with('/')) {
        return Err(format!(
            "{origin} holds no files; it must contain the handler ({})",
            entries.join(" or ")
        ));
    }
    if !names.iter().any(|n| entries.contains(n)) {
        return Err(format!(
            "{origin} has no {} at its top level, so Lambda cannot find {module}.handler; add one",
            entries.join(" or ")
        ));
    }
    Ok(names)
}

/// Packages a folder: collect, zip, check (the handler in `module`).
pub fn package_dir_skipping(dir: &Path, module: &str, skip: &Skip) -> Result<Vec<u8>, String> {
    let files = collect_files_skipping(dir, skip)?;
    if files.is_empty() {
        return Err(format!("{} holds no files to deploy", dir.display()));
    }
    let bytes = zip_files(&files)?;
    check_zip_for(&bytes, &dir.display().to_string(), module)?;
    Ok(bytes)
}

#[cfg(test)]
mod glob_tests {
    use super::*;

    #[test]
    fn globs_match_like_gitignore_and_stay_linear() {
        assert!(glob_name("*.test.mjs", "a.test.mjs"));
        assert!(!glob_name("*.test.mjs", "a.mjs"));
        assert!(glob_name("?.js", "a.js"));
        assert!(glob_path("test/**", "test/a/b.mjs"));
        assert!(glob_path("**/fixtures/*.json", "a/b/fixtures/x.json"));
        assert!(!glob_path("docs/*.md", "src/docs/a.md"));
        // A pattern built to backtrack: bounded, answers at once.
        let name = "a".repeat(5000);
        assert!(!glob_name(&format!("{}b", "*a".repeat(200)), &name));
        let path = vec!["a"; 300].join("/");
        assert!(!glob_path(&format!("{}b", "**/".repeat(100)), &path));
    }

    #[test]
    fn the_state_folder_the_stack_file_and_excluded_files_are_never_packed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for f in [
            "index.mjs",
            "state/dev.json",
            "state/dev.lock",
            "serverless-cli.toml",
            "a.test.mjs",
            "docs/readme.md",
            ".git/HEAD",
            ".serverless-cli/journal",
            "lib/util.mjs",
        ] {
            let p = root.join(f);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, "x").unwrap();
        }
        let skip = Skip {
            paths: vec![
                fs::canonicalize(root.join("state")).unwrap(),
                fs::canonicalize(root.join("serverless-cli.toml")).unwrap(),
            ],
            patterns: vec!["*.test.mjs".into(), "docs".into()],
        };
        let names: Vec<String> = collect_files_skipping(root, &skip)
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, ["index.mjs", "lib/util.mjs"]);
    }
}
