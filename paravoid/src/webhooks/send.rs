//! One webhook call: resolve the host, check the addresses, connect to a checked address (no
//! second resolution, so DNS rebinding cannot move the call), TLS verified against the host
//! name, one `POST`, the status read and the body never.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST, USER_AGENT};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use url::{Host, Url};

use super::address::is_public;
use super::target::{Admission, Target};

/// How long connecting (TCP and TLS) may take.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a whole call may take, resolution included.
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The `User-Agent` of webhook calls.
pub(crate) const WEBHOOK_USER_AGENT: &str = concat!("paravoid-webhook/", env!("CARGO_PKG_VERSION"));

/// Why a call did not deliver, for the log (never the URL, which the creator chose).
pub(crate) type Failure = &'static str;

/// Calls `target` with `body` and the signature header `signature`; `Ok` on a 2xx answer.
///
/// # Errors
///
/// A short reason: no allowed address, timeout, connection or TLS failure, or a non-2xx
/// status (a redirect included: it is not followed).
pub(crate) async fn call(target: &Target, body: Vec<u8>, signature: String) -> Result<(), Failure> {
    tokio::time::timeout(CALL_TIMEOUT, call_within(target, body, signature))
        .await
        .map_err(|_| "the call timed out")?
}

async fn call_within(target: &Target, body: Vec<u8>, signature: String) -> Result<(), Failure> {
    let url = &target.url;
    let address = resolve(url, target.admission).await?;
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address))
        .await
        .map_err(|_| "connecting timed out")?
        .map_err(|_| "connecting failed")?;
    if url.scheme() != "https" {
        return exchange(TokioIo::new(tcp), url, body, signature).await;
    }
    let name = match url.host() {
        Some(Host::Domain(name)) => rustls::pki_types::ServerName::try_from(name.to_owned()),
        Some(Host::Ipv4(ip)) => Ok(IpAddr::V4(ip).into()),
        Some(Host::Ipv6(ip)) => Ok(IpAddr::V6(ip).into()),
        None => return Err("the URL has no host"),
    }
    .map_err(|_| "the host is no TLS name")?;
    let connector = tokio_rustls::TlsConnector::from(tls_config().ok_or("no TLS roots")?);
    let tls = tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name, tcp))
        .await
        .map_err(|_| "the TLS handshake timed out")?
        .map_err(|_| "the TLS handshake failed")?;
    exchange(TokioIo::new(tls), url, body, signature).await
}

/// The address to call: the URL's IP literal or the first resolved address that
/// `admission` allows.
async fn resolve(url: &Url, admission: Admission) -> Result<SocketAddr, Failure> {
    let port = url.port_or_known_default().ok_or("the URL has no port")?;
    let candidates: Vec<SocketAddr> = match url.host() {
        Some(Host::Ipv4(ip)) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
        Some(Host::Ipv6(ip)) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
        Some(Host::Domain(name)) => tokio::net::lookup_host((name, port))
            .await
            .map_err(|_| "the host does not resolve")?
            .collect(),
        None => return Err("the URL has no host"),
    };
    candidates
        .into_iter()
        .find(|address| allowed(address.ip(), admission))
        .ok_or("the host resolves to no allowed address")
}

/// Whether a host admitted as `admission` may be called at `ip`.
pub(crate) fn allowed(ip: IpAddr, admission: Admission) -> bool {
    match admission {
        Admission::Listed => true,
        Admission::PublicOnly => is_public(ip),
    }
}

/// The POST on a connection; the answer's status only.
async fn exchange<S>(
    io: TokioIo<S>,
    url: &Url,
    body: Vec<u8>,
    signature: String,
) -> Result<(), Failure>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|_| "the HTTP handshake failed")?;
    let driver = tokio::spawn(connection);
    let authority = match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_owned(),
    };
    let path = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    };
    let request = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(HOST, authority)
        .header(CONTENT_TYPE, "application/json")
        .header(CONTENT_LENGTH, body.len())
        .header(USER_AGENT, WEBHOOK_USER_AGENT)
        .header("paravoid-signature", signature)
        .body(Full::new(Bytes::from(body)))
        .map_err(|_| "the URL is not a valid request target")?;
    let answer = sender.send_request(request).await;
    // The body is never read: dropping the connection ends it.
    driver.abort();
    let status = answer.map_err(|_| "the request failed")?.status();
    if status.is_success() {
        Ok(())
    } else if status.is_redirection() {
        Err("the receiver answered a redirect, which is not followed")
    } else {
        Err("the receiver answered an error status")
    }
}

/// rustls with the ring provider and the system's roots, built once; `None` without roots.
fn tls_config() -> Option<Arc<rustls::ClientConfig>> {
    static CONFIG: OnceLock<Option<Arc<rustls::ClientConfig>>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = rustls::RootCertStore::empty();
            let (added, _ignored) =
                roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
            if added == 0 {
                tracing::warn!("no trusted certificate authorities: https webhooks will fail");
                return None;
            }
            let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .ok()?
            .with_root_certificates(roots)
            .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Some(Arc::new(config))
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_host_admitted_by_a_dotted_entry_is_refused_at_a_private_address() {
        for text in [
            "http://localhost:9/",
            "http://127.0.0.1:9/",
            "https://[::1]/",
        ] {
            let url = Url::parse(text).unwrap();
            assert_eq!(
                resolve(&url, Admission::PublicOnly).await,
                Err("the host resolves to no allowed address"),
                "{text}"
            );
            assert!(resolve(&url, Admission::Listed).await.is_ok(), "{text}");
        }
        let mapped = Url::parse("https://[::ffff:10.0.0.1]/").unwrap();
        assert!(resolve(&mapped, Admission::PublicOnly).await.is_err());
        let public = Url::parse("https://93.184.215.14/").unwrap();
        assert!(resolve(&public, Admission::PublicOnly).await.is_ok());
    }
}
