//! Per-client rate limits for create, reveal and peek (GCRA, the `governor` crate), answered 429
//! with `Retry-After`. Peeks have their own bucket at the reveal rate.
//!
//! An IPv6 client is counted by its network prefix (`--rate-limit-ipv6-prefix`, /64 by
//! default): one host usually holds a whole /64, so a per-address key would give it 2^64
//! buckets. IPv4 clients are counted per address.
//!
//! The client is the TCP peer address. `X-Forwarded-For` is believed only when the peer is one
//! of the configured trusted proxies, and then the client is the rightmost address of the header
//! that is not itself a trusted proxy (the leftmost ones are whatever the client wrote). A
//! request without a known peer (a router called in-process) is not limited.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::connect_info::MockConnectInfo;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::metrics::Metrics;
use crate::{AppState, Error};

/// The limiters: one for creates, one for reveals, one for peeks, each keyed by client address
/// (an IPv6 address cut to its prefix).
#[derive(Debug)]
pub(crate) struct RateLimits {
    create: Option<DefaultKeyedRateLimiter<IpAddr>>,
    reveal: Option<DefaultKeyedRateLimiter<IpAddr>>,
    peek: Option<DefaultKeyedRateLimiter<IpAddr>>,
    ipv6_prefix: u8,
    trusted_proxies: Vec<IpAddr>,
    clock: DefaultClock,
}

/// Which limit a request counts against.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kind {
    /// `POST /api/secrets` and `POST /api/e2e/notes`.
    Create,
    /// `POST /api/secrets/{id}/reveal` and `POST /api/e2e/notes/{id}/claim`.
    Reveal,
    /// `GET /api/secrets/{id}` and `GET /api/e2e/notes/{id}` (at the reveal rate).
    Peek,
}

impl RateLimits {
    /// Limits of `create_per_minute` and `reveal_per_minute` requests per client (0: no limit),
    /// each with a burst of the same size; peeks get their own limit at the reveal rate. IPv6
    /// clients are keyed by their first `ipv6_prefix` bits (clamped to 1..=128).
    pub(crate) fn new(
        create_per_minute: u32,
        reveal_per_minute: u32,
        ipv6_prefix: u8,
        trusted_proxies: Vec<IpAddr>,
    ) -> Self {
        let limiter = |per_minute: u32| {
            NonZeroU32::new(per_minute)
                .map(|rate| DefaultKeyedRateLimiter::keyed(Quota::per_minute(rate)))
        };
        Self {
            create: limiter(create_per_minute),
            reveal: limiter(reveal_per_minute),
            peek: limiter(reveal_per_minute),
            ipv6_prefix: ipv6_prefix.clamp(1, 128),
            trusted_proxies,
            clock: DefaultClock::default(),
        }
    }

    /// Counts one request of `kind` from `client`.
    ///
    /// # Errors
    ///
    /// [`Error::RateLimited`] if the client is over its limit.
    pub(crate) fn check(&self, kind: Kind, client: IpAddr) -> Result<(), Error> {
        let limiter = match kind {
            Kind::Create => &self.create,
            Kind::Reveal => &self.reveal,
            Kind::Peek => &self.peek,
        };
        let Some(limiter) = limiter else {
            return Ok(());
        };
        limiter
            .check_key(&self.bucket(client))
            .map_err(|not_until| {
                let wait = not_until.wait_time_from(self.clock.now());
                Error::RateLimited {
                    retry_after_secs: wait.as_secs().saturating_add(1),
                }
            })
    }

    /// Forgets clients whose limits have fully recovered (bounds the memory).
    pub(crate) fn forget_idle(&self) {
        for limiter in [&self.create, &self.reveal, &self.peek]
            .into_iter()
            .flatten()
        {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    /// The key a client is counted under: an IPv4 address itself, an IPv6 address with every
    /// bit after the prefix cleared.
    pub(crate) fn bucket(&self, client: IpAddr) -> IpAddr {
        match client.to_canonical() {
            IpAddr::V4(v4) => IpAddr::V4(v4),
            IpAddr::V6(v6) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.ipv6_prefix))
                    .unwrap_or(0);
                IpAddr::V6((u128::from(v6) & mask).into())
            }
        }
    }

    /// The client address of a request from `peer` with `headers`.
    pub(crate) fn client(&self, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.ip().to_canonical();
        if !self.trusted_proxies.contains(&peer) {
            return peer;
        }
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        for hop in forwarded.iter().rev() {
            let Ok(address) = hop.parse::<IpAddr>() else {
                // Garbage in the chain: the proxy's own peer is all we know.
                return peer;
            };
            let address = address.to_canonical();
            if !self.trusted_proxies.contains(&address) {
                return address;
            }
        }
        peer
    }
}

/// Middleware for one route: counts the request against `kind`'s limit.
pub(crate) async fn limit(
    State((state, kind)): State<(AppState, Kind)>,
    request: Request,
    next: Next,
) -> Response {
    let extensions = request.extensions();
    let peer = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| *peer)
        // What tests put in place of a socket (the `ConnectInfo` extractor reads it too).
        .or_else(|| {
            extensions
                .get::<MockConnectInfo<SocketAddr>>()
                .map(|MockConnectInfo(peer)| *peer)
        });
    if let Some(peer) = peer {
        let limits = &state.rate_limits;
        let client = limits.client(peer, request.headers());
        if let Err(err) = limits.check(kind, client) {
            record(&state.metrics);
            return err.into_response();
        }
    }
    next.run(request).await
}

/// Counts a refused request.
fn record(metrics: &Arc<Metrics>) {
    metrics.rate_limited();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let limits = RateLimits::new(1, 1, 64, vec![proxy]);
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "6.6.6.6, 203.0.113.7, 10.0.0.1".parse().unwrap(),
        );
        let from_proxy = SocketAddr::new(proxy, 4000);
        let direct: SocketAddr = "198.51.100.2:4000".parse().unwrap();
        assert_eq!(
            limits.client(from_proxy, &headers),
            "203.0.113.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(limits.client(direct, &headers), direct.ip());
        assert_eq!(limits.client(from_proxy, &HeaderMap::new()), proxy);
        headers.insert("x-forwarded-for", "nonsense".parse().unwrap());
        assert_eq!(limits.client(from_proxy, &headers), proxy);
    }

    #[test]
    fn a_client_over_its_limit_is_refused_alone() {
        let limits = RateLimits::new(2, 0, 64, Vec::new());
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        assert!(limits.check(Kind::Create, a).is_ok());
        assert!(limits.check(Kind::Create, a).is_ok());
        let refused = limits.check(Kind::Create, a).unwrap_err();
        let Error::RateLimited { retry_after_secs } = refused else {
            panic!("{refused:?}");
        };
        assert!((1..=31).contains(&retry_after_secs), "{retry_after_secs}");
        assert!(limits.check(Kind::Create, b).is_ok());
        // 0 = no limit.
        for _ in 0..100 {
            assert!(limits.check(Kind::Reveal, a).is_ok());
            assert!(limits.check(Kind::Peek, a).is_ok());
        }
    }

    #[test]
    fn peeks_count_at_the_reveal_rate_in_their_own_bucket() {
        let limits = RateLimits::new(0, 2, 64, Vec::new());
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        assert!(limits.check(Kind::Peek, a).is_ok());
        assert!(limits.check(Kind::Peek, a).is_ok());
        assert!(limits.check(Kind::Peek, a).is_err());
        assert!(limits.check(Kind::Reveal, a).is_ok());
    }

    #[test]
    fn ipv6_clients_share_a_bucket_per_prefix() {
        let limits = RateLimits::new(1, 0, 64, Vec::new());
        let one: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let same_64: IpAddr = "2001:db8:1:2:ffff:ffff:ffff:ffff".parse().unwrap();
        let next_64: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert!(limits.check(Kind::Create, one).is_ok());
        assert!(limits.check(Kind::Create, same_64).is_err());
        assert!(limits.check(Kind::Create, next_64).is_ok());
        assert_eq!(
            limits.bucket(same_64),
            "2001:db8:1:2::".parse::<IpAddr>().unwrap()
        );
        // IPv4, also as an IPv4-mapped IPv6 address, stays per address.
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(limits.bucket(mapped), v4);
        assert!(limits.check(Kind::Create, v4).is_ok());
        assert!(limits.check(Kind::Create, mapped).is_err());
        assert!(
            limits
                .check(Kind::Create, "192.0.2.8".parse().unwrap())
                .is_ok()
        );
        // Configurable: /128 is per address, /48 a whole site.
        let per_address = RateLimits::new(1, 0, 128, Vec::new());
        assert!(per_address.check(Kind::Create, one).is_ok());
        assert!(per_address.check(Kind::Create, same_64).is_ok());
        let per_site = RateLimits::new(1, 0, 48, Vec::new());
        assert!(per_site.check(Kind::Create, one).is_ok());
        assert!(per_site.check(Kind::Create, next_64).is_err());
    }
}
