//! The file routes over HTTP, streamed both ways: `POST /api/e2e/files` sends one file's sealed
//! stream as it is sealed, chunk by chunk, and `GET /api/e2e/notes/{id}/files/{index}` hands
//! the sealed stream to the caller chunk by chunk as it arrives. Neither holds a whole file.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt as _, Empty, Limited};
use hyper::body::{Body, Bytes, Frame, Incoming, SizeHint};
use hyper::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HOST, USER_AGENT};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use url::Url;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::api::{Answer, CONNECT_TIMEOUT, Io, REQUEST_TIMEOUT, connect, error_chain};
use crate::error::{CliError, Result};
use crate::link::ServerUrl;
use crate::wire::UploadResponse;

/// Largest JSON answer read after an upload.
const MAX_UPLOAD_ANSWER_BYTES: usize = 64 * 1024;
/// Sealed chunks queued between the sealing thread and the connection (4 × 64 KiB).
const QUEUED_CHUNKS: usize = 4;
/// How often a transfer's progress is checked against [`REQUEST_TIMEOUT`].
const PROGRESS_TICK: Duration = Duration::from_secs(1);

/// A request body fed by a channel of sealed chunks, counting the bytes handed to the
/// connection so that a stalled upload can be told from a slow one.
pub(crate) struct ChunkBody {
    chunks: mpsc::Receiver<std::io::Result<Bytes>>,
    length: u64,
    sent: Arc<AtomicU64>,
}

impl ChunkBody {
    /// A body of exactly `length` bytes, fed by `chunks`; returns it with its progress counter.
    pub(crate) fn new(length: u64) -> (Self, mpsc::Sender<std::io::Result<Bytes>>, Arc<AtomicU64>) {
        let (sender, chunks) = mpsc::channel(QUEUED_CHUNKS);
        let sent = Arc::new(AtomicU64::new(0));
        let body = Self {
            chunks,
            length,
            sent: sent.clone(),
        };
        (body, sender, sent)
    }
}

impl Body for ChunkBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<std::result::Result<Frame<Bytes>, std::io::Error>>> {
        match self.chunks.poll_recv(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                self.sent.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
            Poll::Ready(Some(Err(err))) => Poll::Ready(Some(Err(err))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.length)
    }
}

/// `POST /api/e2e/files` with `body`, `length` sealed bytes; `producer` is the task that feeds
/// the body, whose own error (a file that changed while it was read) wins over the
/// connection's. Returns the upload's id.
pub(crate) async fn upload(
    server: &ServerUrl,
    body: ChunkBody,
    sent: Arc<AtomicU64>,
    producer: JoinHandle<Result<()>>,
) -> Result<Uuid> {
    let length = body.length;
    let request = |authority: String| {
        request_builder(Method::POST, "/api/e2e/files", authority)
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(CONTENT_LENGTH, length)
            .body(body)
    };
    let exchange = async {
        let url = endpoint(server, "/api/e2e/files")?;
        let (response, driver) = send_streaming(&url, request, &sent).await?;
        let status = response.status();
        let answer = tokio::time::timeout(
            REQUEST_TIMEOUT,
            Limited::new(response.into_body(), MAX_UPLOAD_ANSWER_BYTES).collect(),
        )
        .await
        .map_err(|_| CliError::Unreachable("the server did not answer in time".to_owned()))?
        .map_err(|_| CliError::UnexpectedAnswer("the answer is too large or cut short"))?
        .to_bytes()
        .to_vec();
        driver.abort();
        Ok(Answer {
            status,
            body: answer,
        })
    };
    let outcome: Result<Answer> = exchange.await;
    let produced = producer
        .await
        .map_err(|_| CliError::Unreachable("the sealing task stopped".to_owned()))?;
    produced?;
    let answer = outcome?;
    if answer.status != StatusCode::CREATED {
        return Err(answer.error());
    }
    let uploaded: UploadResponse = answer.json()?;
    if uploaded.sealed_size != length {
        return Err(CliError::UnexpectedAnswer(
            "the server stored another length than was sent",
        ));
    }
    Uuid::try_parse(&uploaded.file_id)
        .map_err(|_| CliError::UnexpectedAnswer("the file id is not a UUID"))
}

/// A download in progress: the sealed stream of one file.
pub(crate) struct Download {
    body: Incoming,
    driver: JoinHandle<()>,
}

impl Download {
    /// The next piece of the sealed stream (any length), `None` at its end. Each piece must
    /// arrive within [`REQUEST_TIMEOUT`].
    pub(crate) async fn next(&mut self) -> Result<Option<Bytes>> {
        loop {
            let frame = tokio::time::timeout(REQUEST_TIMEOUT, self.body.frame())
                .await
                .map_err(|_| CliError::Unreachable("the download stalled".to_owned()))?;
            let Some(frame) = frame else {
                return Ok(None);
            };
            let frame = frame.map_err(|err| CliError::Unreachable(error_chain(&err)))?;
            if let Ok(data) = frame.into_data() {
                return Ok(Some(data));
            }
        }
    }
}

impl Drop for Download {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// `GET /api/e2e/notes/{id}/files/{index}` with the claim's download token: the sealed stream.
pub(crate) async fn download(
    server: &ServerUrl,
    id: Uuid,
    index: usize,
    token: &Zeroizing<String>,
) -> Result<Download> {
    let path = format!("/api/e2e/notes/{}/files/{index}", id.hyphenated());
    let url = endpoint(server, &path)?;
    let bearer = Zeroizing::new(format!("Bearer {}", token.as_str()));
    let request = |authority: String| {
        request_builder(Method::GET, &path, authority)
            .header(AUTHORIZATION, bearer.as_str())
            .body(Empty::<Bytes>::new())
    };
    let idle = Arc::new(AtomicU64::new(0));
    let (response, driver) = send_streaming(&url, request, &idle).await?;
    match response.status() {
        StatusCode::OK => Ok(Download {
            body: response.into_body(),
            driver,
        }),
        StatusCode::NOT_FOUND => {
            driver.abort();
            Err(CliError::Gone)
        }
        status => {
            driver.abort();
            Err(CliError::Server {
                status: status.as_u16(),
                message: status
                    .canonical_reason()
                    .unwrap_or("no explanation")
                    .to_lowercase(),
            })
        }
    }
}

fn endpoint(server: &ServerUrl, path: &str) -> Result<Url> {
    Url::parse(&server.endpoint(path))
        .map_err(|_| CliError::InvalidArgument("--server is not a valid URL".to_owned()))
}

fn request_builder(method: Method, path: &str, authority: String) -> hyper::http::request::Builder {
    Request::builder()
        .method(method)
        .uri(path)
        .header(HOST, authority)
        .header(
            USER_AGENT,
            concat!("paravoid-cli/", env!("CARGO_PKG_VERSION")),
        )
}

/// Connects, sends the request `make` builds (given the `Host` value), and waits for the
/// answer's head, for as long as `progress` moves at least once per [`REQUEST_TIMEOUT`].
async fn send_streaming<B, F>(
    url: &Url,
    make: F,
    progress: &AtomicU64,
) -> Result<(Response<Incoming>, JoinHandle<()>)>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    F: FnOnce(String) -> hyper::http::Result<Request<B>>,
{
    let authority = match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_owned(),
    };
    let request = make(authority)
        .map_err(|_| CliError::InvalidArgument("--server is not a valid URL".to_owned()))?;
    let io = tokio::time::timeout(CONNECT_TIMEOUT, connect(url))
        .await
        .map_err(|_| CliError::Unreachable("connecting timed out".to_owned()))??;
    match io {
        Io::Plain(tcp) => send_on(TokioIo::new(tcp), request, progress).await,
        Io::Tls(tls) => send_on(TokioIo::new(*tls), request, progress).await,
    }
}

async fn send_on<S, B>(
    io: TokioIo<S>,
    request: Request<B>,
    progress: &AtomicU64,
) -> Result<(Response<Incoming>, JoinHandle<()>)>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let unreachable =
        |err: &(dyn std::error::Error + 'static)| CliError::Unreachable(error_chain(err));
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|err| unreachable(&err))?;
    let driver = tokio::spawn(async move {
        let _closed = connection.await;
    });
    let sending = sender.send_request(request);
    tokio::pin!(sending);
    let mut seen = progress.load(Ordering::Relaxed);
    let mut since = Instant::now();
    loop {
        tokio::select! {
            answer = &mut sending => {
                return match answer {
                    Ok(response) => Ok((response, driver)),
                    Err(err) => {
                        driver.abort();
                        Err(unreachable(&err))
                    }
                };
            }
            () = tokio::time::sleep(PROGRESS_TICK) => {
                let now = progress.load(Ordering::Relaxed);
                if now != seen {
                    seen = now;
                    since = Instant::now();
                } else if since.elapsed() > REQUEST_TIMEOUT {
                    driver.abort();
                    return Err(CliError::Unreachable(
                        "the server did not answer in time".to_owned(),
                    ));
                }
            }
        }
    }
}
