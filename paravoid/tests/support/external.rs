//! Tests that need a program from outside the workspace: paravoid's test support
//! (`paravoid::testing::external`).
#![allow(unused_imports, reason = "each test binary uses a part of it")]

pub(crate) use paravoid::testing::external::*;
