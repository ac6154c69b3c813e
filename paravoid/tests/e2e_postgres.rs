//! The end-to-end API suite of `e2e.rs`, run again with the PostgreSQL store: each test on a
//! database of its own on a throwaway PostgreSQL server (fails under `CI` when PostgreSQL is
//! missing, falls back to redb with a printed notice elsewhere).

/// The store the included suite runs on.
const BACKEND: suite::support::Backend = suite::support::Backend::Postgres;

#[path = "e2e.rs"]
mod suite;
