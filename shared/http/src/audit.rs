//! The audit sink: handlers hand it events without waiting; a background task writes them in
//! batches (one transaction per batch), so auditing every pull does not cost a disk sync per
//! request. Events are never allowed to carry secrets: callers pass names and ids only.
//!
//! A shell whose process may be frozen between requests (Lambda freezes the sandbox once the
//! response is returned) awaits [`AuditSink::flush`] before answering, so no event waits in
//! memory for a thaw that may never come: [`flush_audit_layer`] does that for a router.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use stowage_core::ports::Audit;
use stowage_core::tenancy::AuditEvent;
use tokio::sync::mpsc;

const BATCH: usize = 256;

/// Queues audit events for a background writer.
#[derive(Clone)]
pub struct AuditSink {
    tx: mpsc::UnboundedSender<AuditEvent>,
    progress: Arc<Progress>,
}

/// How many events were queued and how many the writer has finished with (written or failed).
#[derive(Default)]
struct Progress {
    queued: AtomicU64,
    done: AtomicU64,
    notify: tokio::sync::Notify,
}

impl AuditSink {
    /// Starts the writer on the current tokio runtime.
    pub fn start(store: Arc<dyn Audit>) -> AuditSink {
        let (tx, mut rx) = mpsc::unbounded_channel::<AuditEvent>();
        let progress = Arc::new(Progress::default());
        let p = progress.clone();
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(BATCH);
            while rx.recv_many(&mut batch, BATCH).await > 0 {
                if let Err(e) = store.record(&batch).await {
                    tracing::error!(error = %e, lost = batch.len(), "audit log write failed");
                }
                p.done.fetch_add(batch.len() as u64, Ordering::SeqCst);
                p.notify.notify_waiters();
                batch.clear();
            }
        });
        AuditSink { tx, progress }
    }

    pub fn record(&self, event: AuditEvent) {
        if self.tx.send(event).is_ok() {
            self.progress.queued.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Waits until every event queued before this call is written (or its write failed).
    pub async fn flush(&self) {
        let target = self.progress.queued.load(Ordering::SeqCst);
        loop {
            let notified = self.progress.notify.notified();
            if self.progress.done.load(Ordering::SeqCst) >= target {
                return;
            }
            notified.await;
        }
    }
}

/// A middleware that flushes `sink` after each request, before the response leaves.
pub async fn flush_audit(
    axum::extract::State(sink): axum::extract::State<AuditSink>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let resp = next.run(req).await;
    sink.flush().await;
    resp
}

/// Wraps `router` so every response waits for its audit events to be written.
pub fn flush_audit_layer(router: axum::Router, sink: AuditSink) -> axum::Router {
    router.layer(axum::middleware::from_fn_with_state(sink, flush_audit))
}
