//! The library's `send` and `open` in this process against a real server: any message
//! round-trips exactly once (proptest), whatever its bytes and length.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail on any error"
)]

#[path = "support/harness.rs"]
mod harness;

use paravoid_cli::{CliError, Link, ServerUrl};
use proptest::collection::vec;
use proptest::prelude::*;

use crate::harness::Server;

#[test]
fn any_message_round_trips_exactly_once() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime.block_on(Server::start());
    let url = ServerUrl::parse(&server.base).unwrap();
    let config = ProptestConfig {
        cases: 24,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(message in vec(any::<u8>(), 1..8192), ttl in 1_u64..=86_400)| {
        let sent = runtime
            .block_on(paravoid_cli::send(&url, &message, None, Some(ttl)))
            .unwrap();
        prop_assert_eq!(sent.expires_at, harness::START + ttl);
        let link = Link::parse(&sent.link.to_text()).unwrap();
        let no_passphrase = || -> paravoid_cli::Result<_> { panic!("no passphrase is asked") };
        let opened = runtime.block_on(paravoid_cli::open(&link, no_passphrase)).unwrap();
        prop_assert_eq!(&opened[..], &message[..]);
        let again = runtime.block_on(paravoid_cli::open(&link, no_passphrase));
        prop_assert!(matches!(again, Err(CliError::Gone)), "{:?}", again);
    });
    runtime.block_on(server.stop());
}
