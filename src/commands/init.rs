//! `serverless-cli init [DIR]` and `serverless-cli schema`.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::cli::{GlobalArgs, InitArgs};
use crate::error::UsageError;
use crate::report;
use crate::stackfile::{self, FILE_NAME};

/// The schema's file name, beside the stack file.
pub const SCHEMA_FILE: &str = "serverless-cli.schema.json";

/// examples/tutorial, as `init` writes it (the binary carries it).
use crate::stackfile::TUTORIAL_FILE;
/// The handler's files, by their path under the handler folder.
const HANDLER_FILES: [(&str, &str); 5] = [
    (
        "index.mjs",
        include_str!("../../examples/tutorial/handler/index.mjs"),
    ),
    (
        "package.json",
        include_str!("../../examples/tutorial/handler/package.json"),
    ),
    (
        "package-lock.json",
        include_str!("../../examples/tutorial/handler/package-lock.json"),
    ),
    (
        "test/handler.test.mjs",
        include_str!("../../examples/tutorial/handler/test/handler.test.mjs"),
    ),
    (
        "test/emulator.mjs",
        include_str!("../../examples/tutorial/handler/test/emulator.mjs"),
    ),
];

/// examples/tutorial-proxy: the tutorial's stack with Lambda proxy integration (`--proxy`).
const PROXY_FILE: &str = include_str!("../../examples/tutorial-proxy/serverless-cli.toml");
/// Its handler's files. The test's emulator starter is the tutorial's own (the example links
/// to it; init writes the file).
const PROXY_HANDLER_FILES: [(&str, &str); 5] = [
    (
        "index.mjs",
        include_str!("../../examples/tutorial-proxy/handler/index.mjs"),
    ),
    (
        "package.json",
        include_str!("../../examples/tutorial-proxy/handler/package.json"),
    ),
    (
        "package-lock.json",
        include_str!("../../examples/tutorial-proxy/handler/package-lock.json"),
    ),
    (
        "test/handler.test.mjs",
        include_str!("../../examples/tutorial-proxy/handler/test/handler.test.mjs"),
    ),
    (
        "test/emulator.mjs",
        include_str!("../../examples/tutorial/handler/test/emulator.mjs"),
    ),
];

/// The stack file `init` writes: the example's, its schema link pointing beside it.
pub fn tutorial_file() -> String {
    with_local_schema(TUTORIAL_FILE)
}

/// A stack file whose `#:schema` line names the schema beside it.
fn with_local_schema(file: &str) -> String {
    let mut lines = file.lines();
    let first = lines.next().unwrap_or_default();
    let rest: Vec<&str> = lines.collect();
    let header = if first.starts_with("#:schema") {
        format!("#:schema ./{SCHEMA_FILE}")
    } else {
        first.to_string()
    };
    format!("{header}\n{}\n", rest.join("\n"))
}

/// The schema as a file's text.
pub fn schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&stackfile::json_schema()).unwrap_or_default();
    text.push('\n');
    text
}

/// What `init` writes, as (path under DIR, content): the tutorial's stack, or with `proxy`
/// its Lambda proxy integration version.
pub fn files(proxy: bool) -> Vec<(PathBuf, String)> {
    let (file, handler) = if proxy {
        (with_local_schema(PROXY_FILE), PROXY_HANDLER_FILES)
    } else {
        (tutorial_file(), HANDLER_FILES)
    };
    let mut out = vec![
        (PathBuf::from(FILE_NAME), file),
        (PathBuf::from(SCHEMA_FILE), schema_text()),
    ];
    for (name, text) in handler {
        out.push((Path::new("handler").join(name), text.to_string()));
    }
    out
}

pub fn run(global: &GlobalArgs, args: &InitArgs) -> anyhow::Result<i32> {
    let dir = &args.dir;
    if std::fs::symlink_metadata(dir).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(UsageError(format!(
            "{} is a symbolic link; give the folder itself. Nothing was written",
            dir.display()
        ))
        .into());
    }
    if dir.exists() && !dir.is_dir() {
        return Err(UsageError(format!(
            "{} is not a folder; give a folder to write the stack into. Nothing was written",
            dir.display()
        ))
        .into());
    }
    let files = files(args.proxy);
    // Nothing is written unless everything can be.
    let taken: Vec<String> = files
        .iter()
        .map(|(p, _)| dir.join(p))
        .filter(|p| std::fs::symlink_metadata(p).is_ok())
        .map(|p| p.display().to_string())
        .collect();
    if !taken.is_empty() {
        return Err(UsageError(format!(
            "{} already exist{}; init never overwrites: choose an empty folder (serverless-cli init DIR). Nothing was written",
            taken.join(", "),
            if taken.len() == 1 { "s" } else { "" }
        ))
        .into());
    }
    // No folder on the way may be a link: `DIR/handler` pointing elsewhere would have the
    // handler written outside DIR.
    for (rel, _) in &files {
        let mut at = dir.to_path_buf();
        for part in rel.parent().into_iter().flat_map(|p| p.components()) {
            at.push(part);
            if let Ok(m) = std::fs::symlink_metadata(&at) {
                if m.file_type().is_symlink() || !m.is_dir() {
                    return Err(UsageError(format!(
                        "{} is {}; init writes only into folders of its own. Nothing was written",
                        at.display(),
                        if m.file_type().is_symlink() {
                            "a symbolic link"
                        } else {
                            "not a folder"
                        }
                    ))
                    .into());
                }
            }
        }
    }
    let mut made = Made::default();
    let written = match write_all(dir, &files, &mut made) {
        Ok(w) => w,
        Err(e) => {
            // All or nothing: what this run made is removed, so the next init starts clean.
            made.undo();
            return Err(e.context("nothing was left behind"));
        }
    };
    let shown = dir.display();
    let text = format!(
        "Wrote the tutorial's stack{} into {shown}:\n  {}\nNext:\n  cd {shown}\n  (cd handler && npm ci)   # the handler's packages, for serve and its tests\n  serverless-cli plan\n  serverless-cli deploy\n  serverless-cli serve      # then, in another terminal: serverless-cli try --url http://127.0.0.1:3000/prod\n",
        if args.proxy {
            " (Lambda proxy integration)"
        } else {
            ""
        },
        written.join("\n  ")
    );
    let doc = json!({"command": "init", "ok": true, "dir": shown.to_string(), "files": written, "proxy": args.proxy});
    report::emit(global.output, &doc, &text);
    Ok(0)
}

/// What a run of init made, to undo on failure.
#[derive(Default)]
struct Made {
    files: Vec<PathBuf>,
    dirs: Vec<PathBuf>,
}

impl Made {
    fn undo(&self) {
        for f in self.files.iter().rev() {
            let _ = std::fs::remove_file(f);
        }
        for d in self.dirs.iter().rev() {
            let _ = std::fs::remove_dir(d);
        }
    }
}

fn write_all(
    dir: &Path,
    files: &[(PathBuf, String)],
    made: &mut Made,
) -> anyhow::Result<Vec<String>> {
    let mut written = Vec::new();
    for (rel, text) in files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            // Each missing folder on the way, outermost first, remembered as made.
            let mut missing: Vec<PathBuf> = parent
                .ancestors()
                .take_while(|a| !a.as_os_str().is_empty() && std::fs::symlink_metadata(a).is_err())
                .map(Path::to_path_buf)
                .collect();
            missing.reverse();
            for m in missing {
                std::fs::create_dir(&m)
                    .map_err(|e| anyhow::anyhow!("making {}: {e}", m.display()))?;
                made.dirs.push(m);
            }
        }
        // create_new: never follows or replaces anything that appeared meanwhile.
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
        made.files.push(path.clone());
        f.write_all(text.as_bytes())
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
        written.push(path.display().to_string());
    }
    Ok(written)
}

pub fn schema(_: &GlobalArgs) -> anyhow::Result<i32> {
    print!("{}", schema_text());
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_midway_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        // `b` is a file where a folder is wanted: the second write fails.
        std::fs::write(dir.path().join("b"), "x").unwrap();
        let files = vec![
            (PathBuf::from("new/a.txt"), "a".to_string()),
            (PathBuf::from("b/c.txt"), "c".to_string()),
        ];
        let mut made = Made::default();
        assert!(write_all(dir.path(), &files, &mut made).is_err());
        assert!(dir.path().join("new/a.txt").exists());
        made.undo();
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["b"]);
    }

    #[test]
    fn the_shipped_schema_is_the_generated_one() {
        let shipped =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(SCHEMA_FILE))
                .unwrap();
        // (Not assert_eq: the two texts would fill the screen.)
        assert!(
            shipped == schema_text(),
            "regenerate it: serverless-cli schema > {SCHEMA_FILE}"
        );
    }

    #[test]
    fn init_writes_the_example_with_its_schema_beside_it() {
        let f = tutorial_file();
        assert!(f.starts_with("#:schema ./serverless-cli.schema.json\n"));
        assert_eq!(
            f.lines().skip(1).collect::<Vec<_>>(),
            TUTORIAL_FILE.lines().skip(1).collect::<Vec<_>>()
        );
    }
}
