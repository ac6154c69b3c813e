//! Loading Wycheproof vector files: the common envelope, hex fields and result semantics.

use std::path::PathBuf;

use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer};

/// The envelope every Wycheproof file shares.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct File<G> {
    pub(crate) algorithm: String,
    pub(crate) schema: String,
    pub(crate) number_of_tests: usize,
    #[serde(default)]
    #[allow(dead_code, reason = "mirrors the file; free text")]
    pub(crate) header: Vec<String>,
    #[serde(default)]
    #[allow(dead_code, reason = "mirrors the file; explains the flags")]
    pub(crate) notes: serde_json::Value,
    pub(crate) test_groups: Vec<G>,
}

/// Provenance of a group (informational).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Source {
    pub(crate) name: String,
    #[allow(dead_code, reason = "mirrors the file; provenance only")]
    pub(crate) version: String,
}

/// A hex-encoded byte string.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Hex(pub(crate) Vec<u8>);

impl<'de> Deserialize<'de> for Hex {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        hex::decode(&text)
            .map(Hex)
            .map_err(serde::de::Error::custom)
    }
}

impl Hex {
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }
}

/// The expected outcome of a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Expect {
    Valid,
    Invalid,
    Acceptable,
}

/// Reads `tests/vectors/wycheproof/<name>`. A missing or unreadable file fails the test.
pub(crate) fn load<G: DeserializeOwned>(name: &str) -> File<G> {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "tests",
        "vectors",
        "wycheproof",
        name,
    ]
    .iter()
    .collect();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("vector file {} is missing: {e}", path.display()));
    let file: File<G> = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("vector file {name} is malformed: {e}"));
    // The schema the file names ships beside it.
    let schema: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "tests",
        "vectors",
        "wycheproof",
        "schemas",
    ]
    .iter()
    .collect::<PathBuf>()
    .join(&file.schema);
    assert!(
        schema.is_file(),
        "{name}: schema {} is missing",
        schema.display()
    );
    file
}
