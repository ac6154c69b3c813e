//! Support for paravoid's own tests, compiled only with the `test-hooks` feature (which the
//! crate's tests enable): a throwaway PostgreSQL cluster and the reporting of tests skipped for
//! a missing external program. Not part of the service; never enabled in a build of the server.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::missing_panics_doc,
    clippy::must_use_candidate,
    reason = "test support: a failure is a failed test"
)]

pub mod external;
pub mod pg_cluster;
