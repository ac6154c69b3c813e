//! The throwaway PostgreSQL cluster of paravoid's test support (`paravoid::testing`).
#![allow(unused_imports, reason = "each test binary uses a part of it")]

pub(crate) use paravoid::testing::external;
pub(crate) use paravoid::testing::pg_cluster::*;
