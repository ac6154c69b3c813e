//! `cargo xtask api [--bless]`: the public API of every library crate, one path per item.
//!
//! For each crate in [`CRATES`] the step asks rustdoc for its JSON description (an unstable
//! output format, enabled with `RUSTC_BOOTSTRAP=1` for this command only, in a build directory of
//! its own so the workspace's build is never rebuilt), walks the public module tree from the
//! crate root through public modules and re-exports, and
//!
//! - fails when an item of the crate can be named by two public paths, or when the crate
//!   re-exports an item of another workspace crate — except each crate root's `Error` and
//!   `Result`, which every library re-exports from `qsmm_types` on purpose, and the facade
//!   `qsmm`, whose modules are the other crates;
//! - compares the list of public paths with the snapshot committed in `xtask/api/<crate>.txt`
//!   and fails on any difference, so that every change to a public API shows up in review.
//!   `--bless` rewrites the snapshots instead.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::test::workspace_root;

/// The library crates whose public API is checked (package name, library name).
const CRATES: &[(&str, &str)] = &[
    ("qsmm-types", "qsmm_types"),
    ("qsmm-shield", "qsmm_shield"),
    ("qsmm-shatter", "qsmm_shatter"),
    ("qsmm-void", "qsmm_void"),
    ("qsmm-proof-stub", "qsmm_proof_stub"),
    ("qsmm-proof-halo2", "qsmm_proof_halo2"),
    ("qsmm-volume", "qsmm_volume"),
    ("qsmm-cloak", "qsmm_cloak"),
    ("qsmm", "qsmm"),
];

/// How the paths of items of the workspace's own crates begin.
const WORKSPACE_PREFIXES: &[&str] = &["qsmm_", "paravoid"];

/// Root re-exports of another crate's item that every library makes on purpose.
const SHARED_ROOT_REEXPORTS: &[&str] = &["Error", "Result"];

/// Runs the check for every crate in [`CRATES`], or rewrites the snapshots with `--bless`.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let bless = match args {
        [] => false,
        [flag] if flag == "--bless" => true,
        _ => return Err("usage: cargo xtask api [--bless]".into()),
    };
    let root = workspace_root();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root.join("target"), PathBuf::from)
        .join("api");
    let mut failures = Vec::new();
    for &(package, library) in CRATES {
        let json = rustdoc_json(&root, &target, package, library)?;
        let api = PublicApi::walk(&json, library)?;
        let facade = package == "qsmm";
        failures.extend(api.second_paths(facade));
        let snapshot = root
            .join("xtask")
            .join("api")
            .join(format!("{package}.txt"));
        let listing = api.listing();
        if bless {
            std::fs::write(&snapshot, &listing)
                .map_err(|e| format!("cannot write {}: {e}", snapshot.display()))?;
        } else {
            let committed = std::fs::read_to_string(&snapshot).unwrap_or_default();
            if committed != listing {
                failures.push(format!(
                    "{package}: public API differs from xtask/api/{package}.txt:\n{}\
                     (review the change, then `cargo xtask api --bless`)",
                    diff(&committed, &listing)
                ));
            }
        }
        println!("api: {package}: {} public paths", api.paths.len());
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n"))
    }
}

/// Builds `package`'s rustdoc JSON and parses it.
fn rustdoc_json(root: &Path, target: &Path, package: &str, library: &str) -> Result<Value, String> {
    let status = Command::new(env!("CARGO"))
        .args([
            "rustdoc",
            "--quiet",
            "--all-features",
            "--lib",
            "-p",
            package,
        ])
        .args(["--", "-Z", "unstable-options", "--output-format", "json"])
        .env("RUSTC_BOOTSTRAP", "1")
        .env("CARGO_TARGET_DIR", target)
        .current_dir(root)
        .status()
        .map_err(|e| format!("cannot run cargo rustdoc: {e}"))?;
    if !status.success() {
        return Err(format!("cargo rustdoc -p {package} failed ({status})"));
    }
    let path: PathBuf = target.join("doc").join(format!("{library}.json"));
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: not JSON: {e}", path.display()))
}

/// The public paths of one crate.
struct PublicApi {
    /// Every public path, with the kind of item it names.
    paths: BTreeMap<String, &'static str>,
    /// The paths of each item of this crate (by rustdoc id).
    by_item: BTreeMap<u64, BTreeSet<String>>,
    /// Re-exports of items of other crates: path → the source path rustdoc records.
    foreign: BTreeMap<String, String>,
}

impl PublicApi {
    /// Walks the public tree of the crate described by `json` from its root module.
    fn walk(json: &Value, library: &str) -> Result<Self, String> {
        let index = json["index"]
            .as_object()
            .ok_or("rustdoc JSON without an index")?;
        let root = json["root"].as_u64().ok_or("rustdoc JSON without a root")?;
        let mut api = Self {
            paths: BTreeMap::new(),
            by_item: BTreeMap::new(),
            foreign: BTreeMap::new(),
        };
        let mut visiting = BTreeSet::new();
        api.visit_module(index, root, library, &mut visiting);
        Ok(api)
    }

    /// Records every public item of module `id`, reached at `path`.
    fn visit_module(
        &mut self,
        index: &serde_json::Map<String, Value>,
        id: u64,
        path: &str,
        visiting: &mut BTreeSet<u64>,
    ) {
        if !visiting.insert(id) {
            return;
        }
        let items = index
            .get(&id.to_string())
            .and_then(|module| module["inner"]["module"]["items"].as_array())
            .cloned()
            .unwrap_or_default();
        for child in items.iter().filter_map(Value::as_u64) {
            let Some(item) = index.get(&child.to_string()) else {
                continue;
            };
            if item["visibility"] != "public" {
                continue;
            }
            if let Some(reexport) = item["inner"].get("use") {
                let target = reexport["id"].as_u64();
                let name = reexport["name"].as_str().unwrap_or_default();
                let local = target.and_then(|t| index.get(&t.to_string()).map(|item| (t, item)));
                match (local, reexport["is_glob"].as_bool().unwrap_or(false)) {
                    (Some((t, _)), true) => self.visit_module(index, t, path, visiting),
                    (Some((t, item)), false) => {
                        let at = format!("{path}::{name}");
                        self.record(t, &at, kind_of(item));
                        if kind_of(item) == "mod" {
                            self.visit_module(index, t, &at, visiting);
                        }
                    }
                    (None, _) => {
                        let at = format!("{path}::{name}");
                        let source = reexport["source"].as_str().unwrap_or_default().to_owned();
                        self.paths.insert(at.clone(), "re-export");
                        self.foreign.insert(at, source);
                    }
                }
                continue;
            }
            let Some(name) = item["name"].as_str() else {
                continue;
            };
            let at = format!("{path}::{name}");
            self.record(child, &at, kind_of(item));
            if kind_of(item) == "mod" {
                self.visit_module(index, child, &at, visiting);
            }
        }
        visiting.remove(&id);
    }

    fn record(&mut self, id: u64, path: &str, kind: &'static str) {
        self.paths.insert(path.to_owned(), kind);
        self.by_item.entry(id).or_default().insert(path.to_owned());
    }

    /// Items named by more than one public path, and re-exports of other crates' items.
    fn second_paths(&self, facade: bool) -> Vec<String> {
        let mut found = Vec::new();
        for paths in self.by_item.values().filter(|paths| paths.len() > 1) {
            let list: Vec<&str> = paths.iter().map(String::as_str).collect();
            found.push(format!("one item, several paths: {}", list.join(", ")));
        }
        if !facade {
            for (path, source) in &self.foreign {
                if !WORKSPACE_PREFIXES.iter().any(|p| source.starts_with(p)) {
                    // A dependency's type re-exported so users can name it without depending on
                    // that crate themselves (e.g. the field element type of `mimc`).
                    continue;
                }
                let segments: Vec<&str> = path.split("::").collect();
                let at_root = segments.len() == 2;
                if at_root && SHARED_ROOT_REEXPORTS.contains(&segments[1]) {
                    continue;
                }
                found.push(format!(
                    "{path} re-exports {source}: name it by its own path"
                ));
            }
        }
        found
    }

    /// One line per public path: its kind and the path, sorted by path.
    fn listing(&self) -> String {
        self.paths
            .iter()
            .map(|(path, kind)| format!("{kind} {path}\n"))
            .collect()
    }
}

/// The short kind of an item, as it appears in the snapshot.
fn kind_of(item: &Value) -> &'static str {
    let inner = item["inner"].as_object();
    let key = inner
        .and_then(|inner| inner.keys().next())
        .map(String::as_str);
    match key {
        Some("module") => "mod",
        Some("struct") => "struct",
        Some("enum") => "enum",
        Some("union") => "union",
        Some("trait") => "trait",
        Some("trait_alias") => "trait-alias",
        Some("function") => "fn",
        Some("type_alias") => "type",
        Some("constant") => "const",
        Some("static") => "static",
        Some("macro") | Some("proc_macro") => "macro",
        Some("use") => "re-export",
        _ => "item",
    }
}

/// The lines only in `old` (`-`) and only in `new` (`+`).
fn diff(old: &str, new: &str) -> String {
    let old: BTreeSet<&str> = old.lines().collect();
    let new: BTreeSet<&str> = new.lines().collect();
    let mut out = String::new();
    for line in old.difference(&new) {
        out.push_str(&format!("  - {line}\n"));
    }
    for line in new.difference(&old) {
        out.push_str(&format!("  + {line}\n"));
    }
    out
}
