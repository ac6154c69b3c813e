//! The file suite of `files.rs`, run again with the PostgreSQL store: each test on a database
//! of its own on a throwaway PostgreSQL server (fails under `QSMM_REQUIRE_EXTERNAL=1` when
//! PostgreSQL is missing; elsewhere the binary reports the skip and ends, never running the suite
//! on redb in its place).

/// The store the included suite runs on.
const BACKEND: suite::support::Backend = suite::support::Backend::Postgres;

#[path = "files.rs"]
mod suite;
