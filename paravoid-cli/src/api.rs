//! The end-to-end API over HTTP: create, peek and claim. Requests carry only sealed notes,
//! token hashes and tokens, never a message, a passphrase or the link keys.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Bytes;
use hyper::header::{CONTENT_TYPE, HOST, USER_AGENT};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::TcpStream;
use url::{Host, Url};
use uuid::Uuid;

use crate::error::{CliError, Result};
use crate::link::ServerUrl;
use crate::wire::{
    ClaimRequest, ClaimResponse, CreateRequest, CreateResponse, ErrorResponse, PeekResponse,
    RequestCreate, RequestCreated, RequestStatus, ResponseCreate, ResponseCreated,
};

/// Largest answer read from a server: a claim answer of the largest note with room to spare.
const MAX_ANSWER_BYTES: usize = 4 << 20;
/// Longest server error text repeated in an error message.
const MAX_ERROR_CHARS: usize = 200;
/// How long connecting (TCP and TLS) may take.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long one request may take once connected.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// A client of one server: one HTTP/1.1 connection per request (a command makes two), TLS
/// through rustls (ring) with the system's certificate roots (`SSL_CERT_FILE` and
/// `SSL_CERT_DIR` are honoured), no redirects followed (a redirect could carry a claim
/// elsewhere), no proxy, and timeouts.
#[derive(Debug)]
pub(crate) struct Api {
    server: ServerUrl,
}

impl Api {
    /// A client for `server`.
    pub(crate) fn new(server: ServerUrl) -> Result<Self> {
        Ok(Self { server })
    }

    /// `POST /api/e2e/notes`.
    pub(crate) async fn create(&self, request: &CreateRequest) -> Result<CreateResponse> {
        let answer = self
            .send(Method::POST, "/api/e2e/notes", Some(request))
            .await?;
        match answer.status {
            StatusCode::CREATED => answer.json(),
            _ => Err(answer.error()),
        }
    }

    /// `GET /api/e2e/notes/{id}`: `None` if the note is not there.
    pub(crate) async fn peek(&self, id: Uuid) -> Result<Option<PeekResponse>> {
        let path = format!("/api/e2e/notes/{}", id.hyphenated());
        let answer = self.send::<()>(Method::GET, &path, None).await?;
        match answer.status {
            StatusCode::OK => answer.json().map(Some),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(answer.error()),
        }
    }

    /// `POST /api/e2e/notes/{id}/claim`.
    pub(crate) async fn claim(
        &self,
        id: Uuid,
        request: &ClaimRequest<'_>,
    ) -> Result<ClaimResponse> {
        let path = format!("/api/e2e/notes/{}/claim", id.hyphenated());
        let answer = self.send(Method::POST, &path, Some(request)).await?;
        match answer.status {
            StatusCode::OK => answer.json(),
            StatusCode::NOT_FOUND => Err(CliError::Gone),
            StatusCode::FORBIDDEN => {
                let body = answer.error_body();
                Err(if body.attempts_left.is_some() {
                    CliError::WrongPassphrase {
                        attempts_left: body.attempts_left,
                    }
                } else if body.error.contains("passphrase") {
                    CliError::PassphraseRequired
                } else {
                    CliError::WrongLinkKeys
                })
            }
            _ => Err(answer.error()),
        }
    }

    /// Sends one request with a JSON body (if any) and reads at most [`MAX_ANSWER_BYTES`] of
    /// the answer.
    /// `POST /api/e2e/requests`: registers a request for a secret.
    pub(crate) async fn create_request(&self, request: &RequestCreate) -> Result<RequestCreated> {
        let answer = self
            .send(Method::POST, "/api/e2e/requests", Some(request))
            .await?;
        match answer.status {
            StatusCode::CREATED => answer.json(),
            _ => Err(answer.error()),
        }
    }

    /// `GET /api/e2e/requests/{id}`: whether the request is answered.
    pub(crate) async fn request_status(&self, id: Uuid) -> Result<RequestStatus> {
        let path = format!("/api/e2e/requests/{}", id.hyphenated());
        let answer = self.send::<()>(Method::GET, &path, None).await?;
        match answer.status {
            StatusCode::OK => answer.json(),
            StatusCode::NOT_FOUND | StatusCode::GONE => Err(CliError::RequestClosed),
            _ => Err(answer.error()),
        }
    }

    /// `POST /api/e2e/requests/{id}/response`: stores the one response.
    pub(crate) async fn respond(
        &self,
        id: Uuid,
        request: &ResponseCreate,
    ) -> Result<ResponseCreated> {
        let path = format!("/api/e2e/requests/{}/response", id.hyphenated());
        let answer = self.send(Method::POST, &path, Some(request)).await?;
        match answer.status {
            StatusCode::CREATED => answer.json(),
            StatusCode::NOT_FOUND | StatusCode::GONE | StatusCode::CONFLICT => {
                Err(CliError::RequestClosed)
            }
            _ => Err(answer.error()),
        }
    }

    /// `POST /api/e2e/receipts/status`: the status of a read receipt, in the answer type the
    /// caller names (`receipt::Receipt`).
    pub(crate) async fn receipt_status<R: DeserializeOwned>(
        &self,
        request: &impl Serialize,
    ) -> Result<R> {
        let answer = self
            .send(Method::POST, "/api/e2e/receipts/status", Some(request))
            .await?;
        match answer.status {
            StatusCode::OK => answer.json(),
            StatusCode::NOT_FOUND => Err(CliError::NoReceipt),
            _ => Err(answer.error()),
        }
    }

    async fn send<T: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&T>,
    ) -> Result<Answer> {
        let url = Url::parse(&self.server.endpoint(path))
            .map_err(|_| CliError::InvalidArgument("--server is not a valid URL".to_owned()))?;
        let json = match body {
            Some(body) => Some(
                serde_json::to_vec(body)
                    .map_err(|_| CliError::UnexpectedAnswer("a request did not encode"))?,
            ),
            None => None,
        };
        let exchange = async {
            let io = connect(&url).await?;
            exchange(io, &url, method, json).await
        };
        tokio::time::timeout(CONNECT_TIMEOUT + REQUEST_TIMEOUT, exchange)
            .await
            .map_err(|_| CliError::Unreachable("the server did not answer in time".to_owned()))?
    }
}

/// A connection: plain TCP or TLS over TCP.
pub(crate) enum Io {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

/// Connects to the host of `url`, with TLS for `https`.
pub(crate) async fn connect(url: &Url) -> Result<Io> {
    let unreachable =
        |err: &(dyn std::error::Error + 'static)| CliError::Unreachable(error_chain(err));
    let port = url
        .port_or_known_default()
        .ok_or_else(|| CliError::InvalidArgument("--server has no port".to_owned()))?;
    let host = url
        .host()
        .ok_or_else(|| CliError::InvalidArgument("--server has no host".to_owned()))?;
    let connecting = async {
        match &host {
            Host::Domain(name) => TcpStream::connect((*name, port)).await,
            Host::Ipv4(ip) => TcpStream::connect((*ip, port)).await,
            Host::Ipv6(ip) => TcpStream::connect((*ip, port)).await,
        }
    };
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, connecting)
        .await
        .map_err(|_| CliError::Unreachable("connecting timed out".to_owned()))?
        .map_err(|err| unreachable(&err))?;
    if url.scheme() != "https" {
        return Ok(Io::Plain(tcp));
    }
    let host = match host {
        Host::Domain(name) => name.to_owned(),
        Host::Ipv4(ip) => ip.to_string(),
        Host::Ipv6(ip) => ip.to_string(),
    };
    let name = rustls::pki_types::ServerName::try_from(host)
        .map_err(|_| CliError::InvalidArgument("--server names no valid TLS host".to_owned()))?;
    let connector = tokio_rustls::TlsConnector::from(tls_config()?);
    let tls = tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name, tcp))
        .await
        .map_err(|_| CliError::Unreachable("the TLS handshake timed out".to_owned()))?
        .map_err(|err| unreachable(&err))?;
    Ok(Io::Tls(Box::new(tls)))
}

/// rustls with the ring provider and the system's roots.
fn tls_config() -> Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        return Err(CliError::Unreachable(
            "no trusted certificate authorities found on this system (install ca-certificates, \
             or set SSL_CERT_FILE)"
                .to_owned(),
        ));
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|err| CliError::Unreachable(error_chain(&err)))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// One HTTP/1.1 request and its answer on `io`.
async fn exchange(io: Io, url: &Url, method: Method, json: Option<Vec<u8>>) -> Result<Answer> {
    match io {
        Io::Plain(tcp) => exchange_on(TokioIo::new(tcp), url, method, json).await,
        Io::Tls(tls) => exchange_on(TokioIo::new(*tls), url, method, json).await,
    }
}

async fn exchange_on<S>(
    io: TokioIo<S>,
    url: &Url,
    method: Method,
    json: Option<Vec<u8>>,
) -> Result<Answer>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let unreachable =
        |err: &(dyn std::error::Error + 'static)| CliError::Unreachable(error_chain(err));
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|err| unreachable(&err))?;
    let driver = tokio::spawn(connection);
    let authority = match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_owned(),
    };
    let mut request = Request::builder()
        .method(method)
        .uri(url.path())
        .header(HOST, authority)
        .header(
            USER_AGENT,
            concat!("paravoid-cli/", env!("CARGO_PKG_VERSION")),
        );
    if json.is_some() {
        request = request.header(CONTENT_TYPE, "application/json");
    }
    let request = request
        .body(Full::new(Bytes::from(json.unwrap_or_default())))
        .map_err(|_| CliError::InvalidArgument("--server is not a valid URL".to_owned()))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|err| unreachable(&err))?;
    let status = response.status();
    let body = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
        .collect()
        .await
        .map_err(|_| CliError::UnexpectedAnswer("the answer is too large or cut short"))?
        .to_bytes()
        .to_vec();
    driver.abort();
    Ok(Answer { status, body })
}

/// A status and a body.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) body: Vec<u8>,
}

impl Answer {
    pub(crate) fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body)
            .map_err(|_| CliError::UnexpectedAnswer("its JSON is not the documented one"))
    }

    fn error_body(&self) -> ErrorResponse {
        serde_json::from_slice(&self.body).unwrap_or_default()
    }

    /// An error answer as [`CliError::Server`], with the server's text made printable.
    pub(crate) fn error(&self) -> CliError {
        let text = self.error_body().error;
        let mut message: String = text
            .chars()
            .filter(|c| !c.is_control())
            .take(MAX_ERROR_CHARS)
            .collect();
        if message.is_empty() {
            message = self
                .status
                .canonical_reason()
                .unwrap_or("no explanation")
                .to_lowercase();
        }
        CliError::Server {
            status: self.status.as_u16(),
            message,
        }
    }
}

/// An error and its causes on one line: `a: b: c`, without control characters.
pub(crate) fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text.chars().filter(|c| !c.is_control()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_bodies_leave_out_a_missing_passphrase_token() {
        let body = serde_json::to_value(ClaimRequest {
            claim_token: "abc",
            passphrase_token: None,
        })
        .unwrap();
        assert_eq!(body, serde_json::json!({ "claim_token": "abc" }));
    }

    #[test]
    fn server_error_texts_are_cleaned() {
        let answer = Answer {
            status: StatusCode::SERVICE_UNAVAILABLE,
            body: br#"{"error":"busy\n\u001b[31mred"}"#.to_vec(),
        };
        assert_eq!(
            answer.error().to_string(),
            "the server refused the request (HTTP 503): busy[31mred"
        );
        let empty = Answer {
            status: StatusCode::TOO_MANY_REQUESTS,
            body: Vec::new(),
        };
        assert_eq!(
            empty.error().to_string(),
            "the server refused the request (HTTP 429): too many requests"
        );
    }
}
