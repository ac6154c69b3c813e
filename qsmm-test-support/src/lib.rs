#![doc = include_str!("../README.md")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::missing_panics_doc,
    clippy::must_use_candidate,
    reason = "test support: a failed step fails the test that called it"
)]

pub mod cargo_bin;
pub mod external;
pub mod nbd;
pub mod pg_cluster;
pub mod server_process;
pub mod webdriver;
