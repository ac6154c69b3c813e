//! `cargo xtask msrv`: the declared minimum Rust version is the toolchain CI builds with.
//!
//! Only one toolchain exists on the machines CI runs on, and none can be downloaded there, so an
//! older compiler cannot be tried. Instead the workspace declares as its `rust-version` exactly
//! the toolchain `rust-toolchain.toml` pins, and this check fails when the two drift apart or
//! when the compiler in use is not the pinned one: every other CI step then builds, lints and
//! tests with the declared minimum version itself.

use std::process::Command;

use crate::test::workspace_root;

/// Checks `rust-version` (root and `fuzz/` manifests) against `rust-toolchain.toml` and `rustc`.
pub(crate) fn run() -> Result<(), String> {
    let root = workspace_root();
    let read = |name: &str| {
        std::fs::read_to_string(root.join(name)).map_err(|e| format!("cannot read {name}: {e}"))
    };
    let channel = value_of(&read("rust-toolchain.toml")?, "channel")
        .ok_or("rust-toolchain.toml has no `channel = \"…\"` line")?;
    let pinned_minor = minor_version(&channel)
        .ok_or_else(|| format!("rust-toolchain.toml pins `{channel}`, not a version"))?;
    for manifest in ["Cargo.toml", "fuzz/Cargo.toml"] {
        let declared = value_of(&read(manifest)?, "rust-version")
            .ok_or_else(|| format!("{manifest} declares no rust-version"))?;
        if minor_version(&declared).as_deref() != Some(pinned_minor.as_str()) {
            return Err(format!(
                "{manifest} declares rust-version {declared}, but CI builds with {channel} \
                 (rust-toolchain.toml): make them agree"
            ));
        }
    }
    let output = Command::new("rustc")
        .arg("--version")
        .current_dir(&root)
        .output()
        .map_err(|e| format!("cannot run rustc: {e}"))?;
    let version = String::from_utf8_lossy(&output.stdout);
    let running = version.split_whitespace().nth(1).unwrap_or_default();
    if running != channel {
        return Err(format!(
            "rustc is {running}, but rust-toolchain.toml pins {channel}"
        ));
    }
    println!("rust-version {pinned_minor} = the pinned toolchain {channel}, which every step uses");
    Ok(())
}

/// The quoted value of the first `key = "value"` line.
fn value_of(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (name, value) = line.split_once('=')?;
        (name.trim() == key).then(|| value.trim().trim_matches('"').to_owned())
    })
}

/// `major.minor` of a version such as `1.95` or `1.95.0`.
fn minor_version(version: &str) -> Option<String> {
    let mut parts = version.split('.');
    let major = parts.next()?.parse::<u32>().ok()?;
    let minor = parts.next()?.parse::<u32>().ok()?;
    Some(format!("{major}.{minor}"))
}

#[cfg(test)]
mod tests {
    use super::{minor_version, value_of};

    #[test]
    fn versions_compare_by_major_and_minor() {
        assert_eq!(minor_version("1.95.0").as_deref(), Some("1.95"));
        assert_eq!(minor_version("1.95").as_deref(), Some("1.95"));
        assert_eq!(minor_version("stable"), None);
        assert_eq!(
            value_of("[toolchain]\nchannel = \"1.95.0\"\n", "channel").as_deref(),
            Some("1.95.0")
        );
        assert_eq!(
            value_of("rust-version.workspace = true", "rust-version"),
            None
        );
    }
}
