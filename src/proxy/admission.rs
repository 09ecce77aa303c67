//! The connection limit of the process (`resilience.max_connections`), as a wrapper around the
//! proxy's Pingora application: Pingora has no hook at the end of a connection, so the wrapper
//! serves each accepted connection's keep-alive requests itself and counts the connection for
//! as long as it lives. Beyond the limit a connection gets one 503 with `Retry-After` and is
//! closed (docs/operations.md#overload).

use crate::resilience::Limits;
use async_trait::async_trait;
use pingora::apps::ServerApp;
use pingora::protocols::Stream;
use pingora::server::ShutdownWatch;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long a refused connection is given to send its request, so that closing it does not
/// discard our answer (a close with unread data resets the connection).
const DRAIN: Duration = Duration::from_millis(200);

pub struct Admitted<A> {
    inner: Arc<A>,
    limits: &'static Limits,
    /// The complete HTTP/1.1 refusal, rendered once.
    refusal: Vec<u8>,
}

impl<A> Admitted<A> {
    /// `page` is the French 503 page (HTML).
    pub fn new(inner: A, limits: &'static Limits, page: &str) -> Admitted<A> {
        let retry = limits.retry_after.to_str().unwrap_or("1");
        let refusal = format!(
            "HTTP/1.1 503 Service Unavailable\r\nRetry-After: {retry}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n{page}",
            page.len()
        );
        Admitted {
            inner: Arc::new(inner),
            limits,
            refusal: refusal.into_bytes(),
        }
    }
}

#[async_trait]
impl<A: ServerApp + Send + Sync + 'static> ServerApp for Admitted<A> {
    async fn process_new(
        self: &Arc<Self>,
        mut stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let Some(_permit) = self.limits.connection() else {
            let mut buf = [0u8; 2048];
            let _ = tokio::time::timeout(DRAIN, stream.read(&mut buf)).await;
            let _ = stream.write_all(&self.refusal).await;
            let _ = stream.flush().await;
            let _ = stream.shutdown().await;
            return None;
        };
        let mut next = self.inner.process_new(stream, shutdown).await;
        while let Some(stream) = next {
            next = self.inner.process_new(stream, shutdown).await;
        }
        None
    }

    async fn cleanup(&self) {
        self.inner.cleanup().await
    }
}
