//! The audit sink: handlers hand it events without waiting; a background task writes them in
//! batches (one transaction per batch), so auditing every pull does not cost a disk sync per
//! request. Events are never allowed to carry secrets: callers pass names and ids only.

use std::sync::Arc;
use stowage_core::ports::Audit;
use stowage_core::tenancy::AuditEvent;
use tokio::sync::mpsc;

const BATCH: usize = 256;

/// Queues audit events for a background writer.
#[derive(Clone)]
pub struct AuditSink {
    tx: mpsc::UnboundedSender<AuditEvent>,
}

impl AuditSink {
    /// Starts the writer on the current tokio runtime.
    pub fn start(store: Arc<dyn Audit>) -> AuditSink {
        let (tx, mut rx) = mpsc::unbounded_channel::<AuditEvent>();
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(BATCH);
            while rx.recv_many(&mut batch, BATCH).await > 0 {
                if let Err(e) = store.record(&batch).await {
                    tracing::error!(error = %e, lost = batch.len(), "audit log write failed");
                }
                batch.clear();
            }
        });
        AuditSink { tx }
    }

    pub fn record(&self, event: AuditEvent) {
        let _ = self.tx.send(event);
    }
}
