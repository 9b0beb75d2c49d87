//! [`ChannelEvents`]: the [`Events`] port of the local backend, a bounded tokio channel whose
//! consumer task calls one handler per event, in publish order.
//!
//! Delivery is **at most once across a restart**: an event published but not yet handled when
//! the process stops is lost, and a handler that fails is logged and not retried. That is the
//! price of needing no queue service, fine for one machine; handlers are still written to be
//! idempotent, as the port requires, so the same code runs on SQS.
//!
//! It must never log an event's fields (they may carry an email address): only its kind.

use std::future::Future;
use stowage_core::events::DomainEvent;
use stowage_core::ports::Events;
use stowage_core::{Error, Result};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Publishes into an in-process channel.
#[derive(Clone)]
pub struct ChannelEvents {
    tx: mpsc::Sender<DomainEvent>,
}

impl ChannelEvents {
    /// Starts the consumer task on the current tokio runtime. `publish` waits when `capacity`
    /// events are queued. The task ends once every `ChannelEvents` clone is dropped and the
    /// queued events are handled; await the handle to drain on shutdown.
    pub fn spawn<F, Fut>(capacity: usize, mut handler: F) -> (ChannelEvents, JoinHandle<()>)
    where
        F: FnMut(DomainEvent) -> Fut + Send + 'static,
        Fut: Future<Output = Result<()>> + Send,
    {
        let (tx, mut rx) = mpsc::channel::<DomainEvent>(capacity.max(1));
        let task = tokio::spawn(async move {
            while let Some(event) = rx.recv().await {
                let kind = event.kind();
                if let Err(e) = handler(event).await {
                    tracing::warn!(event = kind, error = %e, "event handler failed; event dropped");
                }
            }
        });
        (ChannelEvents { tx }, task)
    }
}

#[async_trait::async_trait]
impl Events for ChannelEvents {
    /// Queues the event; `Ok` means queued in memory, not handled and not durable.
    async fn publish(&self, event: &DomainEvent) -> Result<()> {
        self.tx
            .send(event.clone())
            .await
            .map_err(|_| Error::Storage("the event consumer has stopped".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use stowage_core::events::UserConfirmed;
    use stowage_core::tenancy::UserName;

    fn event(name: &str) -> DomainEvent {
        DomainEvent::UserConfirmed(UserConfirmed {
            username: UserName::parse(name).unwrap(),
            email: None,
            at: 1,
        })
    }

    #[tokio::test]
    async fn handles_every_event_in_order_and_survives_a_failing_handler() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let (events, task) = ChannelEvents::spawn(1, move |e: DomainEvent| {
            let s = s.clone();
            async move {
                let DomainEvent::UserConfirmed(u) = &e else {
                    unreachable!()
                };
                s.lock().unwrap().push(u.username.to_string());
                if u.username.as_str() == "bob" {
                    return Err(Error::Storage("boom".into()));
                }
                Ok(())
            }
        });
        for name in ["alice", "bob", "carol"] {
            events.publish(&event(name)).await.unwrap();
        }
        drop(events);
        task.await.unwrap();
        assert_eq!(*seen.lock().unwrap(), ["alice", "bob", "carol"]);
    }

    #[tokio::test]
    async fn publish_fails_once_the_consumer_is_gone() {
        let (events, task) = ChannelEvents::spawn(4, |_| async { Ok(()) });
        task.abort();
        let _ = task.await;
        assert!(events.publish(&event("alice")).await.is_err());
    }
}
