//! Limits on the connections a listener holds: a cap on how many are open at once (a connection
//! over the cap is closed as soon as it is accepted), and the protocol timeouts that stop a slow
//! client from holding one (slowloris): the request head must arrive within the header-read
//! timeout, which also bounds how long an idle keep-alive connection stays open.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum_server::accept::Accept;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Wraps another acceptor (the plain one, or inside the TLS one) and holds one of a fixed number
/// of permits for as long as each connection is open.
#[derive(Clone, Debug)]
pub(crate) struct CappedAcceptor<A> {
    inner: A,
    permits: Arc<Semaphore>,
}

impl<A> CappedAcceptor<A> {
    /// At most `max_connections` connections at once (at least 1).
    pub(crate) fn new(inner: A, max_connections: usize) -> Self {
        Self {
            inner,
            permits: Arc::new(Semaphore::new(max_connections.max(1))),
        }
    }
}

impl<I, S, A> Accept<I, S> for CappedAcceptor<A>
where
    A: Accept<I, S> + Clone + Send + Sync + 'static,
    A::Future: Send,
    I: Send + 'static,
    S: Send + 'static,
{
    type Stream = Capped<A::Stream>;
    type Service = A::Service;
    type Future = Pin<Box<dyn Future<Output = io::Result<(Self::Stream, Self::Service)>> + Send>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        // Taken before any byte is read: a connection over the cap is closed at once (dropped
        // with `stream`), so that waiting connections cannot hold descriptors.
        let permit = self.permits.clone().try_acquire_owned();
        let inner = self.inner.clone();
        Box::pin(async move {
            let permit = permit.map_err(|_| {
                io::Error::new(io::ErrorKind::ConnectionRefused, "too many connections")
            })?;
            let (stream, service) = inner.accept(stream, service).await?;
            Ok((
                Capped {
                    inner: stream,
                    _permit: permit,
                },
                service,
            ))
        })
    }
}

/// A connection that gives its permit back when it closes.
#[derive(Debug)]
pub(crate) struct Capped<T> {
    inner: T,
    _permit: OwnedSemaphorePermit,
}

impl<T: AsyncRead + Unpin> AsyncRead for Capped<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Capped<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// The protocol limits of a listener.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HttpLimits {
    /// Connections open at once.
    pub(crate) max_connections: usize,
    /// Time allowed for a request head (and for an idle keep-alive connection's next one).
    pub(crate) header_read_timeout: Duration,
}

impl HttpLimits {
    /// Applies the timeouts to a server: HTTP/1 header-read timeout (which also closes idle
    /// keep-alive connections), the first request's deadline, and HTTP/2 keep-alive pings with
    /// a bounded number of streams.
    pub(crate) fn apply<A, Acc>(
        self,
        mut server: axum_server::Server<A, Acc>,
    ) -> axum_server::Server<A, Acc>
    where
        A: axum_server::Address,
    {
        let builder = server.http_builder();
        builder
            .http1()
            .keep_alive(true)
            .header_read_timeout(Some(self.header_read_timeout));
        builder
            .http2()
            .max_concurrent_streams(Some(HTTP2_MAX_STREAMS))
            .keep_alive_interval(Some(self.header_read_timeout))
            .keep_alive_timeout(self.header_read_timeout);
        server.first_request_timeout(self.header_read_timeout)
    }
}

/// Concurrent HTTP/2 streams on one connection.
const HTTP2_MAX_STREAMS: u32 = 64;
