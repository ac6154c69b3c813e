//! paravoid: a self-hosted one-time secret notes service built on `qsmm-shield`.
#![forbid(unsafe_code)]
