//! HTTP routes, one module per area, each exposing `router()`; merged in [`crate::app`].

pub(crate) mod base64url;
pub(crate) mod e2e;
pub(crate) mod files;
pub(crate) mod health;
pub(crate) mod limits;
pub(crate) mod openapi;
pub(crate) mod pages;
pub(crate) mod receipts;
pub(crate) mod requests;
pub(crate) mod secrets;
