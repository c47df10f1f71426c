//! The structure drawing: which part of `src/` uses which. A room is a folder under `src/`
//! (`kinds`, `ops`, ...) or a file directly in it (`graph.rs`, `state.rs`, ...). Every
//! `crate::ROOM` a file names, in code, `use` lists or doc links, is an arrow from its room to
//! ROOM. The rooms must stand on floors with every arrow pointing down: no circle through two
//! rooms. `scripts/structure` prints the drawing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Rooms and the rooms each one uses, with a count of the references.
type Arrows = BTreeMap<String, BTreeMap<String, usize>>;

fn room_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy()
        .into_owned();
    first.trim_end_matches(".rs").to_string()
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn ident_at(text: &str) -> &str {
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    &text[..end]
}

/// The top-level modules a file names after `crate::`, including `use crate::{a, b::c}`.
fn named_modules(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (at, _) in text.match_indices("crate::") {
        // `serverless_crate::` or `my_crate::` are not this crate.
        if text[..at].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let rest = &text[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0usize;
            let mut start_of_item = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start_of_item = true,
                    c if c.is_whitespace() => {}
                    _ if start_of_item && depth == 0 => {
                        out.push(ident_at(&group[i..]).to_string());
                        start_of_item = false;
                    }
                    _ => {}
                }
            }
        } else {
            out.push(ident_at(rest).to_string());
        }
    }
    out
}

fn arrows() -> Arrows {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let rooms: BTreeSet<String> = files.iter().map(|f| room_of(&src, f)).collect();
    // `#[macro_export]` macros are named `crate::NAME`: the room that defines one is used.
    let mut macros = BTreeMap::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for (at, _) in text.match_indices("macro_rules!") {
            let name = ident_at(text[at + "macro_rules!".len()..].trim_start());
            macros.insert(name.to_string(), room_of(&src, file));
        }
    }
    let mut arrows = Arrows::new();
    for file in &files {
        let from = room_of(&src, file);
        let text = std::fs::read_to_string(file).unwrap();
        let entry = arrows.entry(from.clone()).or_default();
        let mut named = named_modules(&text);
        if from == "main" {
            // The crate root names its modules without `crate::`.
            for room in &rooms {
                if text.contains(&format!("{room}::")) && room != "main" {
                    named.push(room.clone());
                }
            }
        }
        for to in named {
            let to = macros.get(&to).cloned().unwrap_or(to);
            assert!(
                rooms.contains(&to),
                "{}: crate::{to} is no room of src/",
                file.display()
            );
            if to != from {
                *entry.entry(to).or_default() += 1;
            }
        }
    }
    arrows
}

/// Floors from the bottom: a room stands one floor above the highest room it uses. None when
/// the rooms in the returned list use each other in a circle.
fn floors(arrows: &Arrows) -> Result<BTreeMap<String, usize>, Vec<String>> {
    let mut floor = BTreeMap::<String, usize>::new();
    let mut left: BTreeSet<&String> = arrows.keys().collect();
    while !left.is_empty() {
        let ready: Vec<&String> = left
            .iter()
            .copied()
            .filter(|room| arrows[*room].keys().all(|to| floor.contains_key(to)))
            .collect();
        if ready.is_empty() {
            return Err(left.into_iter().cloned().collect());
        }
        for room in ready {
            let f = arrows[room]
                .keys()
                .map(|to| floor[to] + 1)
                .max()
                .unwrap_or(0);
            floor.insert(room.clone(), f);
            left.remove(room);
        }
    }
    Ok(floor)
}

/// The drawing: one line per floor, top first, each room with the rooms it uses.
fn drawing(arrows: &Arrows, floor: &BTreeMap<String, usize>) -> String {
    let top = floor.values().copied().max().unwrap_or(0);
    let mut out = String::new();
    let count: usize = arrows.values().map(|to| to.len()).sum();
    out.push_str(&format!(
        "{} rooms on {} floors, {count} arrows, all down\n",
        arrows.len(),
        top + 1
    ));
    for f in (0..=top).rev() {
        for (room, _) in floor.iter().filter(|(_, x)| **x == f) {
            let uses: Vec<&str> = arrows[room].keys().map(String::as_str).collect();
            out.push_str(&format!("{f:>2}  {room:<12} -> {}\n", uses.join(" ")));
        }
    }
    out
}

#[test]
fn every_arrow_points_down() {
    let arrows = arrows();
    match floors(&arrows) {
        Ok(floor) => {
            println!("{}", drawing(&arrows, &floor));
            assert_eq!(
                floor["main"],
                floor.values().copied().max().unwrap(),
                "main.rs is on top"
            );
        }
        Err(left) => {
            // The circles themselves: rooms that reach each other.
            let reach = |from: &String| {
                let mut seen = BTreeSet::new();
                let mut todo = vec![from.clone()];
                while let Some(r) = todo.pop() {
                    for to in arrows[&r].keys() {
                        if seen.insert(to.clone()) {
                            todo.push(to.clone());
                        }
                    }
                }
                seen
            };
            let reaches: BTreeMap<&String, BTreeSet<String>> =
                left.iter().map(|r| (r, reach(r))).collect();
            let circle: Vec<&String> = left.iter().filter(|r| reaches[r].contains(*r)).collect();
            let lines: Vec<String> = circle
                .iter()
                .map(|room| {
                    let to: Vec<String> = arrows[*room]
                        .iter()
                        .filter(|(to, _)| reaches.get(to).is_some_and(|r| r.contains(*room)))
                        .map(|(to, n)| format!("{to} ({n})"))
                        .collect();
                    format!("  {room} -> {}", to.join(", "))
                })
                .collect();
            panic!(
                "these rooms use each other in a circle:\n{}",
                lines.join("\n")
            );
        }
    }
}

#[test]
fn the_kinds_stand_below_the_operations() {
    let arrows = arrows();
    // The kinds use none of the rooms that run them.
    for above in [
        "ops",
        "commands",
        "main",
        "cli",
        "serve",
        "stackfile",
        "store",
    ] {
        assert!(
            !arrows["kinds"].contains_key(above),
            "src/kinds uses crate::{above} ({} times)",
            arrows["kinds"][above]
        );
    }
    // And the operations walk the registry: outside their tests (which build records of
    // particular kinds to test with), they name no kind.
    let ops = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/ops");
    let mut files = Vec::new();
    rust_files(&ops, &mut files);
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for line in code.lines() {
            let kinds = named_kinds(line);
            assert!(
                kinds.is_empty(),
                "{} names the kind {}: `{}`; give the kind a hook instead",
                file.display(),
                kinds.join(", "),
                line.trim()
            );
        }
    }
}

/// The kinds' modules a line names (`kinds::table`, `kinds::stage::...`).
fn named_kinds(line: &str) -> Vec<String> {
    let kinds = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/kinds");
    let mut out = Vec::new();
    for e in std::fs::read_dir(kinds).unwrap() {
        let name = e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        let generic = ["mod", "context", "graph"].contains(&name.as_str());
        if !generic && line.contains(&format!("kinds::{name}::")) {
            out.push(name);
        }
    }
    out
}

#[test]
fn the_reference_reader_sees_use_groups_and_paths() {
    let text = "use crate::{a::b, c, d::{e, f}};\nlet x = crate::g::h();\nmy_crate::z();";
    assert_eq!(named_modules(text), ["a", "c", "d", "g"]);
}
