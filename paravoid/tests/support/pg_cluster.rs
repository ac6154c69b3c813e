//! The throwaway PostgreSQL cluster of the workspace's test support
//! (`qsmm_test_support::pg_cluster`), under the names these tests use.
#![allow(unused_imports, reason = "each test binary uses a part of it")]

pub(crate) use qsmm_test_support::external;
pub(crate) use qsmm_test_support::pg_cluster::*;
