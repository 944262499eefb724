//! The relayed body: each chunk handed to the client the moment it arrives, a copy kept on
//! the side (up to the evidence limit), and the exchange recorded when the body ends — or
//! when the client goes away mid-stream, as far as it went.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use futures_util::Stream;

use super::{Chunk, Seen};
use crate::evidence::{MAX_BODY, Record};

/// The upstream's body, relayed and copied.
pub(super) struct Tee<S> {
    inner: S,
    copy: Vec<u8>,
    relayed: usize,
    record: Option<Record>,
    sent: Instant,
    request: String,
    sink: Arc<Mutex<Vec<Record>>>,
    seen: tokio::sync::mpsc::UnboundedSender<Seen>,
}

impl<S> Tee<S> {
    pub(super) fn new(
        inner: S,
        record: Record,
        sent: Instant,
        request: String,
        sink: Arc<Mutex<Vec<Record>>>,
        seen: tokio::sync::mpsc::UnboundedSender<Seen>,
    ) -> Self {
        Tee {
            inner,
            copy: Vec::new(),
            relayed: 0,
            record: Some(record),
            sent,
            request,
            sink,
            seen,
        }
    }

    /// The exchange is over (or abandoned by the client, `left`): keep it.
    fn finish(&mut self, left: bool) {
        let Some(mut r) = self.record.take() else {
            return;
        };
        r.client_left = left;
        let total_ms = crate::http::ms(self.sent.elapsed());
        r.total_ms = Some(total_ms);
        r.body = Some(std::mem::take(&mut self.copy));
        let _ = self.seen.send(Seen {
            request: std::mem::take(&mut self.request),
            status: r.status,
            ttfb_ms: r.time_to_headers_ms.unwrap_or(0.0),
            total_ms,
            bytes: self.relayed,
            error: None,
        });
        self.sink
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(r);
    }
}

impl<S: Stream<Item = Chunk> + Unpin> Stream for Tee<S> {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                self.relayed += chunk.len();
                let room = MAX_BODY.saturating_sub(self.copy.len());
                let keep = chunk.len().min(room);
                self.copy.extend_from_slice(&chunk[..keep]);
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(e))) => {
                self.finish(false);
                Poll::Ready(Some(Err(std::io::Error::other(e))))
            }
            Poll::Ready(None) => {
                self.finish(false);
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S> Drop for Tee<S> {
    fn drop(&mut self) {
        // Dropped before the end: the client closed its connection mid-body.
        self.finish(true);
    }
}
