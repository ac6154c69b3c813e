//! Tests that need a program from outside the workspace (PostgreSQL, node, Chromium, curl): the
//! skip-or-fail helpers of `qsmm_test_support::external`, under the names these tests (and
//! paravoid-cli's, which include this file) use.
#![allow(unused_imports, reason = "each test binary uses a part of it")]

pub(crate) use qsmm_test_support::external::{find_program, programs, required, skip, skip_binary};
