//! `cargo xtask layout`: the shape rules of the source tree.
//!
//! - No source file of a crate's `src/` is longer than [`MAX_LINES`] lines, test modules
//!   (`tests.rs`, files under a `tests/` folder) aside.
//! - Inside a crate, no module names another module that names it back (`use crate::a` in `b`
//!   and `use crate::b` in `a`, or the same through `super::`). The crate root is left out: it
//!   only declares modules and re-exports, and every module may name the crate's `Error`.
//!
//! Paths are read from code lines (comments and `#[cfg(test)] mod tests` blocks aside), which is
//! enough for this workspace's style: every cross-module reference is a `crate::`/`super::` path.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::test::workspace_root;

/// The longest a non-test source file may be.
const MAX_LINES: usize = 700;

/// Checks every workspace crate with a `src/` folder (and `fuzz/`).
pub(crate) fn run() -> Result<(), String> {
    let root = workspace_root();
    let mut problems = Vec::new();
    let mut crates = 0;
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&root)
        .map_err(|e| format!("cannot list {}: {e}", root.display()))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|dir| dir.join("Cargo.toml").is_file() && dir.join("src").is_dir())
        .collect();
    entries.sort();
    for dir in entries {
        crates += 1;
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let modules = modules_of(&dir.join("src"))?;
        for file in modules.values() {
            let lines = file.text.lines().count();
            if lines > MAX_LINES && !file.is_test {
                problems.push(format!(
                    "{name}: {} has {lines} lines (at most {MAX_LINES})",
                    file.path.display()
                ));
            }
        }
        for (a, b) in cycles(&modules) {
            problems.push(format!("{name}: `{a}` and `{b}` import each other"));
        }
    }
    println!("layout: {crates} crates checked");
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// One source file: its path, text and whether it is a test module.
struct SourceFile {
    path: PathBuf,
    text: String,
    is_test: bool,
}

/// Every module file under `src`, keyed by its module path (`a::b`; the root is empty).
fn modules_of(src: &Path) -> Result<BTreeMap<Vec<String>, SourceFile>, String> {
    let mut modules = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries =
            std::fs::read_dir(&dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().and_then(|e| e.to_str()) != Some("rs") {
                continue;
            }
            let relative = path.strip_prefix(src).unwrap_or(&path).with_extension("");
            let mut parts: Vec<String> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if parts.first().map(String::as_str) == Some("bin") {
                continue;
            }
            if matches!(
                parts.last().map(String::as_str),
                Some("lib" | "main" | "mod")
            ) {
                parts.pop();
            }
            let is_test = parts.iter().any(|p| p == "tests");
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            modules.insert(
                parts,
                SourceFile {
                    path,
                    text,
                    is_test,
                },
            );
        }
    }
    Ok(modules)
}

/// Pairs of modules (neither the root, neither inside the other) that import each other.
fn cycles(modules: &BTreeMap<Vec<String>, SourceFile>) -> Vec<(String, String)> {
    let mut edges: BTreeMap<&[String], BTreeSet<Vec<String>>> = BTreeMap::new();
    for (module, file) in modules {
        if module.is_empty() || file.is_test {
            continue;
        }
        for target in references(module, &code_of(&file.text)) {
            if let Some(found) = longest_module(modules, &target) {
                let related = found.starts_with(module) || module.starts_with(&found);
                if !found.is_empty() && !related {
                    edges.entry(module).or_default().insert(found);
                }
            }
        }
    }
    let mut pairs = Vec::new();
    for (a, targets) in &edges {
        for b in targets {
            let back = edges
                .get(b.as_slice())
                .is_some_and(|t| t.iter().any(|x| x == a));
            if back && a.to_vec() < *b {
                pairs.push((a.join("::"), b.join("::")));
            }
        }
    }
    pairs
}

/// The code of a file: comment lines and the inline `#[cfg(test)] mod tests` block dropped.
fn code_of(text: &str) -> String {
    let text = text
        .split("#[cfg(test)]\nmod tests {")
        .next()
        .unwrap_or(text);
    text.lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The module paths `code` names through `crate::…` and `super::…`, resolved from `module`.
fn references(module: &[String], code: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let bytes = code.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let at_word_start = i == 0 || !is_ident(bytes[i - 1]);
        if at_word_start && bytes[i..].starts_with(b"crate::") {
            let (path, end) = path_at(code, i + "crate::".len());
            found.push(path);
            i = end;
        } else if at_word_start && bytes[i..].starts_with(b"super::") {
            let mut base = module.to_vec();
            let mut j = i;
            while bytes[j..].starts_with(b"super::") {
                base.pop();
                j += "super::".len();
            }
            let (rest, end) = path_at(code, j);
            base.extend(rest);
            found.push(base);
            i = end;
        } else {
            i += 1;
        }
    }
    found
}

/// The `a::b::c` segments starting at byte `start`, and where they end.
fn path_at(code: &str, start: usize) -> (Vec<String>, usize) {
    let bytes = code.as_bytes();
    let mut segments = Vec::new();
    let mut i = start;
    loop {
        let begin = i;
        while i < bytes.len() && is_ident(bytes[i]) {
            i += 1;
        }
        if begin == i {
            break;
        }
        segments.push(code[begin..i].to_owned());
        if bytes[i..].starts_with(b"::") {
            i += 2;
        } else {
            break;
        }
    }
    (segments, i)
}

/// The longest prefix of `path` that is a module of the crate.
fn longest_module(
    modules: &BTreeMap<Vec<String>, SourceFile>,
    path: &[String],
) -> Option<Vec<String>> {
    (0..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|prefix| modules.contains_key(prefix))
}

fn is_ident(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crate_of(files: &[(&str, &str)]) -> BTreeMap<Vec<String>, SourceFile> {
        files
            .iter()
            .map(|(module, text)| {
                let parts: Vec<String> = module
                    .split("::")
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
                let file = SourceFile {
                    path: PathBuf::from(module),
                    text: (*text).to_owned(),
                    is_test: false,
                };
                (parts, file)
            })
            .collect()
    }

    #[test]
    fn two_siblings_naming_each_other_are_a_cycle() {
        let modules = crate_of(&[
            ("", "mod a; mod b;"),
            ("a", "use crate::b::Thing;"),
            ("b", "fn f() { super::a::g() }"),
        ]);
        assert_eq!(cycles(&modules), vec![("a".to_owned(), "b".to_owned())]);
    }

    #[test]
    fn one_way_use_parents_and_comments_are_not() {
        let modules = crate_of(&[
            ("", "mod a; mod b;"),
            ("a", "use crate::b::Thing;\nuse super::Error;"),
            ("a::inner", "use super::super::a::X; use crate::a::Y;"),
            (
                "b",
                "/// See [`a`](crate::a).\n// crate::a::f()\nuse crate::Error;",
            ),
        ]);
        assert!(cycles(&modules).is_empty());
    }
}
