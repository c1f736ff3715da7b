//! The HTTP/1.1 server loop around the axum router, hardened against slow and abusive clients:
//!
//! * at most `--max-connections` connections are served at once (further ones wait in the
//!   listen backlog);
//! * a request head must arrive within `--header-timeout-secs` (counted from the connection's
//!   start or the end of the previous response, so this is also the keep-alive idle limit) and
//!   within `--max-header-bytes`;
//! * a request body must keep arriving: never more than `--body-timeout-secs` without a byte, and
//!   on average at least `--body-min-rate` bytes per second after that grace period
//!   ([`TimedBody`]; the handler answers 408 `Timeout`);
//! * a response write blocked by a client that does not read for `--write-timeout-secs` closes
//!   the connection ([`WriteTimeout`]);
//! * graceful shutdown lets requests in flight finish.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::Router;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};

use crate::Config;

/// Connection and request limits (from [`Config`]).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most connections served at once.
    pub max_connections: usize,
    /// Time to receive a complete request head (also the keep-alive idle limit); `None`: no limit.
    pub header_timeout: Option<Duration>,
    /// Longest wait for body bytes, and the grace period of the minimum rate; zero: no limit.
    pub body_timeout: Duration,
    /// Slowest average body rate after the grace period, bytes per second; 0: no limit.
    pub body_min_rate: u64,
    /// Longest blocked response write; zero: no limit.
    pub write_timeout: Duration,
    /// Largest request head in bytes.
    pub max_header_bytes: usize,
}

impl Limits {
    /// The limits configured in `cfg`.
    pub fn from_config(cfg: &Config) -> Self {
        Self {
            max_connections: cfg.max_connections.max(1),
            header_timeout: (cfg.header_timeout_secs > 0).then(|| Duration::from_secs(cfg.header_timeout_secs)),
            body_timeout: Duration::from_secs(cfg.body_timeout_secs),
            body_min_rate: cfg.body_min_rate,
            write_timeout: Duration::from_secs(cfg.write_timeout_secs),
            max_header_bytes: cfg.max_header_bytes.max(1024),
        }
    }
}

fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::Interrupted
    )
}

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting and waits
/// for the open connections to finish their requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = &mut shutdown => break,
        };
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    if !is_connection_error(&e) {
                        // EMFILE and the like: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(WriteTimeout::new(stream, limits.write_timeout));
        let router = router.clone();
        let svc = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let req = req.map(|b| Body::new(TimedBody::new(b, limits.body_timeout, limits.body_min_rate)));
            tower::ServiceExt::oneshot(router.clone(), req)
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .max_header_size(limits.max_header_bytes)
            .keep_alive(true);
        let conn = graceful.watch(builder.serve_connection(io, svc));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// The error of a request body that stopped arriving ([`TimedBody`]).
#[derive(Debug, Clone, Copy)]
pub struct BodyTimeout;

impl std::fmt::Display for BodyTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body was not received in time")
    }
}

impl std::error::Error for BodyTimeout {}

/// Whether `e` (or an error it wraps) is a [`BodyTimeout`].
pub fn is_body_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(c) = cur {
        if c.is::<BodyTimeout>() {
            return true;
        }
        cur = c.source();
    }
    false
}

/// A request body that fails with [`BodyTimeout`] when the client stops sending: after `idle`
/// without a byte while the handler waits for one, or when fewer than `min_rate` bytes per second
/// arrived on average since the first read, beyond an `idle` grace period (`start + idle +
/// received / min_rate`). Only time the handler spends waiting for the client counts towards the
/// idle limit.
pub struct TimedBody<B> {
    inner: B,
    idle: Duration,
    min_rate: u64,
    start: Option<Instant>,
    received: u64,
    waiting_since: Option<Instant>,
    sleep: Option<(Instant, Pin<Box<Sleep>>)>,
}

impl<B> TimedBody<B> {
    /// Wraps `inner`; a zero `idle` disables both limits, a zero `min_rate` the rate limit.
    pub fn new(inner: B, idle: Duration, min_rate: u64) -> Self {
        Self { inner, idle, min_rate, start: None, received: 0, waiting_since: None, sleep: None }
    }

    fn deadline(&self, start: Instant, waiting_since: Instant) -> Option<Instant> {
        let idle = waiting_since.checked_add(self.idle);
        if self.min_rate == 0 {
            return idle;
        }
        let allowance = Duration::from_millis(self.received.saturating_mul(1000) / self.min_rate);
        let rate = start.checked_add(self.idle).and_then(|t| t.checked_add(allowance));
        match (idle, rate) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

impl<B> HttpBody for TimedBody<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        let now = Instant::now();
        let start = *this.start.get_or_insert(now);
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(d) = frame.data_ref() {
                    this.received = this.received.saturating_add(d.len() as u64);
                }
                this.waiting_since = None;
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => {
                this.sleep = None;
                Poll::Ready(None)
            }
            Poll::Pending => {
                if this.idle.is_zero() {
                    return Poll::Pending;
                }
                let since = *this.waiting_since.get_or_insert(now);
                let Some(deadline) = this.deadline(start, since) else {
                    return Poll::Pending;
                };
                if now >= deadline {
                    return Poll::Ready(Some(Err(Box::new(BodyTimeout))));
                }
                match &mut this.sleep {
                    Some((at, s)) => {
                        if *at != deadline {
                            s.as_mut().reset(deadline);
                            *at = deadline;
                        }
                    }
                    None => this.sleep = Some((deadline, Box::pin(tokio::time::sleep_until(deadline)))),
                }
                if let Some((_, s)) = &mut this.sleep {
                    if s.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(Some(Err(Box::new(BodyTimeout))));
                    }
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A connection whose writes fail with `TimedOut` once they have been blocked (the client not
/// reading) for `timeout`; hyper then closes the connection.
pub struct WriteTimeout<S> {
    inner: S,
    timeout: Duration,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl<S> WriteTimeout<S> {
    /// Wraps `inner`; a zero `timeout` disables the limit.
    pub fn new(inner: S, timeout: Duration) -> Self {
        Self { inner, timeout, sleep: None }
    }

    fn blocked(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Error> {
        if self.timeout.is_zero() {
            return Poll::Pending;
        }
        let timeout = self.timeout;
        let s = self.sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match s.as_mut().poll(cx) {
            Poll::Ready(()) => {
                Poll::Ready(std::io::Error::new(std::io::ErrorKind::TimedOut, "the client stopped reading"))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn progress<T>(&mut self, cx: &mut Context<'_>, r: Poll<std::io::Result<T>>) -> Poll<std::io::Result<T>> {
        match r {
            Poll::Ready(r) => {
                self.sleep = None;
                Poll::Ready(r)
            }
            Poll::Pending => match self.blocked(cx) {
                Poll::Ready(e) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WriteTimeout<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WriteTimeout<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.progress(cx, r)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.progress(cx, r)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_flush(cx);
        this.progress(cx, r)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.progress(cx, r)
    }
}
