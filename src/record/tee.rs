//! The relayed body: each chunk handed to the client the moment it arrives, a copy kept on
//! the side, and the exchange recorded when the body ends — or when the client goes away
//! mid-stream, as far as it went. Copies are bounded: a body over the evidence limit, or one
//! arriving after the whole recording's budget is spent, is kept without its body (its shape is
//! then read from its headers), never as a cut copy that would look like a stream cut short.

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
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
    /// The copy stopped short of what was relayed.
    truncated: bool,
    /// Bytes the whole recording may still copy.
    budget: Arc<AtomicUsize>,
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
        budget: Arc<AtomicUsize>,
    ) -> Self {
        Tee {
            inner,
            copy: Vec::new(),
            relayed: 0,
            truncated: false,
            budget,
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
        let copy = std::mem::take(&mut self.copy);
        r.body = (!self.truncated).then_some(copy);
        let _ = self.seen.send(Seen {
            request: std::mem::take(&mut self.request),
            status: r.status,
            ttfb_ms: r.time_to_headers_ms.unwrap_or(0.0),
            total_ms,
            bytes: self.relayed,
            error: None,
            hint: None,
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
                if !self.truncated {
                    let fits = self.copy.len() + chunk.len() <= MAX_BODY;
                    let granted = fits
                        && self
                            .budget
                            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                                left.checked_sub(chunk.len())
                            })
                            .is_ok();
                    if granted {
                        self.copy.extend_from_slice(&chunk);
                    } else {
                        // Given back: what this body held is of no use without the rest.
                        self.budget.fetch_add(self.copy.len(), Ordering::Relaxed);
                        self.copy = Vec::new();
                        self.truncated = true;
                    }
                }
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
