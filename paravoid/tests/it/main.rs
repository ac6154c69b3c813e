//! paravoid's integration tests, in one binary: `cargo test -p paravoid --test it` runs them all,
//! `cargo test -p paravoid --test it -- <filter>` a part (`api::`, `postgres::`, `browser::`).
//!
//! The store-agnostic suites (`api`, `e2e`, `files`, `requests`) run each test on redb and on
//! PostgreSQL ([`on_both_stores!`]: `api::redb::health`, `api::postgres::health`). PostgreSQL is
//! the server `cargo xtask test` starts, or a throwaway cluster started on first use
//! (`qsmm_test_support::pg_cluster`). A test that needs a program from outside the workspace
//! (PostgreSQL, Chromium, node, curl) fails under `QSMM_REQUIRE_EXTERNAL=1`, as CI sets it, and is
//! reported skipped elsewhere.

mod support;

/// The JSON API through the router: create, peek, reveal, expiry, errors, passphrases.
mod api;
/// The pages in headless Chromium: flows, files, requests, a hostile server.
mod browser;
/// The end-to-end API: notes sealed by the client, claimed once.
mod e2e;
/// Files of end-to-end notes.
mod files;
/// A 100 MiB file through the real binary with the server's memory measured.
mod files_memory;
/// The service under hostile or unlucky conditions.
mod hardening;
/// The API over real HTTP: concurrency, restarts, body limits.
mod http;
/// Several instances on one PostgreSQL database.
mod instances;
/// Connection limits on a real listener.
mod limits;
/// No query parameter of PostgreSQL reaches the log.
mod log_postgres;
/// The OpenAPI document against the running server.
mod openapi;
/// The built binary as a child process: crashes, signals, configuration.
mod process;
/// The README's curl examples.
mod readme;
/// Read receipts on a store.
mod receipts;
/// Request-a-secret on a store.
mod requests;
/// HTTPS with rustls.
mod tls;
/// The browser cryptography under node.
mod web;
/// Signed webhooks of read receipts on a store.
mod webhooks;
