//! The listener `serve` accepts connections on: at most [`MAX_CONNECTIONS`] open at once (one
//! more waits in the kernel's backlog until one closes), and a connection that neither sends
//! nor takes a byte for [`IDLE`] is closed. The request timeout starts only once a request's
//! headers are in; this bounds what comes before (a client that opens connections and sends
//! nothing, or its headers a byte a minute) and keep-alive connections left open.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep, sleep};

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 256;

/// How long a connection may stay silent both ways.
pub const IDLE: Duration = Duration::from_secs(60);

/// A TCP listener with a cap on open connections and an idle limit on each.
pub struct Bounded {
    inner: TcpListener,
    slots: Arc<Semaphore>,
}

impl Bounded {
    pub fn new(inner: TcpListener) -> Self {
        Self { inner, slots: Arc::new(Semaphore::new(MAX_CONNECTIONS)) }
    }
}

impl axum::serve::Listener for Bounded {
    type Io = Idle<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        // The semaphore is never closed, so acquiring fails never.
        let slot = self.slots.clone().acquire_owned().await.ok();
        let (io, addr) = axum::serve::Listener::accept(&mut self.inner).await;
        (Idle::new(io, slot), addr)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// The address a request's connection came from (`ConnectInfo<ClientAddr>`): the login form
/// limits wrong tokens by it.
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub SocketAddr);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, Bounded>>
    for ClientAddr
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, Bounded>) -> Self {
        Self(*stream.remote_addr())
    }
}

/// A connection that fails its reads with `TimedOut` once nothing has moved for [`IDLE`].
pub struct Idle<T> {
    io: T,
    deadline: Pin<Box<Sleep>>,
    /// Its place among the open connections, given back when it is dropped.
    _slot: Option<OwnedSemaphorePermit>,
}

impl<T> Idle<T> {
    pub fn new(io: T, slot: Option<OwnedSemaphorePermit>) -> Self {
        Self { io, deadline: Box::pin(sleep(IDLE)), _slot: slot }
    }

    fn moved(&mut self) {
        self.deadline.as_mut().reset(Instant::now() + IDLE);
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Idle<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.io).poll_read(cx, buf) {
            Poll::Ready(result) => {
                self.moved();
                Poll::Ready(result)
            }
            Poll::Pending => match self.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the connection was idle too long",
                ))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Idle<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.io).poll_write(cx, buf);
        if written.is_ready() {
            self.moved();
        }
        written
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_silent_connection_is_closed_after_the_idle_limit_and_not_before() {
        let (mut client, server) = tokio::io::duplex(64);
        let mut server = Idle::new(server, None);
        let started = Instant::now();
        let mut byte = [0u8; 1];
        // A byte every 50 s keeps it open.
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_secs(50)).await;
            client.write_all(b"x").await.unwrap();
            server.read_exact(&mut byte).await.unwrap();
        }
        let silent = Instant::now();
        let refused = server.read(&mut byte).await.unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::TimedOut);
        assert_eq!(silent.elapsed(), IDLE, "closed when the limit passed, not before");
        assert_eq!(started.elapsed(), Duration::from_secs(150) + IDLE);
    }

    #[tokio::test]
    async fn a_closed_connection_gives_its_slot_back() {
        let slots = Arc::new(Semaphore::new(1));
        let first = Idle::new(tokio::io::empty(), slots.clone().try_acquire_owned().ok());
        assert!(slots.clone().try_acquire_owned().is_err(), "the one slot is taken");
        drop(first);
        assert!(slots.try_acquire_owned().is_ok(), "a closed connection frees its slot");
    }
}
