//! Domain events on SQS: [`SqsEvents`] is the [`Events`] port (one `SendMessage` of the event's
//! JSON wire form, see `stowage_core::events`), and [`parse_body`] / [`parse_message`] read a
//! message back in the consumer function.
//!
//! Delivery is SQS's: at least once, so consumers are idempotent. On a FIFO queue (its URL ends
//! in `.fifo`) events about the same user or repository share a message group (kept in order),
//! and the deduplication id is the SHA-256 of the body, so a publish retried within SQS's
//! five-minute window is delivered once.
//!
//! It must never log a message body (events may carry an email address), only the event's kind
//! and the message id.

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_lambda_events::event::sqs::SqsMessage;
use aws_sdk_sqs::Client;
use sha2::{Digest as _, Sha256};
use stowage_core::events::DomainEvent;
use stowage_core::ports::Events;
use stowage_core::{Error, Result};

/// Publishes domain events to one SQS queue.
#[derive(Clone, Debug)]
pub struct SqsEvents {
    client: Client,
    queue_url: String,
}

impl SqsEvents {
    /// Builds the SQS client from the process's one SDK configuration.
    pub fn new(sdk: &SdkConfig, queue_url: impl Into<String>) -> SqsEvents {
        let client = Client::from_conf(
            aws_sdk_sqs::config::Builder::from(sdk)
                .interceptor(crate::metrics::CountCalls)
                .build(),
        );
        SqsEvents::with_client(client, queue_url)
    }

    pub fn with_client(client: Client, queue_url: impl Into<String>) -> SqsEvents {
        SqsEvents {
            client,
            queue_url: queue_url.into(),
        }
    }

    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    fn is_fifo(&self) -> bool {
        self.queue_url.ends_with(".fifo")
    }
}

/// A FIFO message group or deduplication id: at most 128 characters, so longer keys (a
/// repository name may have 255) are replaced by their SHA-256.
fn fifo_id(key: &str) -> String {
    if key.len() <= 128 {
        key.to_string()
    } else {
        hex::encode(Sha256::digest(key.as_bytes()))
    }
}

#[async_trait]
impl Events for SqsEvents {
    /// One `SendMessage`; `Ok` once SQS has stored the message.
    async fn publish(&self, event: &DomainEvent) -> Result<()> {
        let body = event.to_json();
        let mut send = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(&body);
        if self.is_fifo() {
            send = send
                .message_group_id(fifo_id(event.ordering_key()))
                .message_deduplication_id(hex::encode(Sha256::digest(body.as_bytes())));
        }
        let out = send.send().await.map_err(|e| {
            Error::Storage(format!(
                "SQS SendMessage of a {} event: {}",
                event.kind(),
                aws_sdk_sqs::error::DisplayErrorContext(e)
            ))
        })?;
        tracing::debug!(
            event = event.kind(),
            message_id = out.message_id().unwrap_or_default(),
            "event published"
        );
        Ok(())
    }
}

/// Reads the body of an SQS message (as `ReceiveMessage` or a Lambda SQS event gives it) back
/// into a domain event. A body that is not an event this build reads is
/// [`Error::BadRequest`]: the consumer reports it as a failed item, so SQS retries it and then
/// moves it to the dead-letter queue.
pub fn parse_body(body: &str) -> Result<DomainEvent> {
    Ok(DomainEvent::from_json(body)?)
}

/// [`parse_body`] of one record of a Lambda SQS event.
pub fn parse_message(message: &SqsMessage) -> Result<DomainEvent> {
    let body = message
        .body
        .as_deref()
        .ok_or_else(|| Error::BadRequest("the SQS message has no body".into()))?;
    parse_body(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::event::sqs::SqsEvent;
    use stowage_core::events::UserConfirmed;
    use stowage_core::tenancy::UserName;

    #[test]
    fn sample_user_sync_event_deserializes_into_user_confirmed_events() {
        let batch: SqsEvent = serde_json::from_str(include_str!(
            "../../../events/user-sync--user-confirmed-batch.json"
        ))
        .unwrap();
        assert_eq!(batch.records.len(), 2);
        let events: Vec<DomainEvent> = batch
            .records
            .iter()
            .map(|m| parse_message(m).unwrap())
            .collect();
        let expected = [
            ("carol", Some("carol@example.com"), 1_767_225_600),
            ("dave", None, 1_767_225_660),
        ];
        for (event, (name, email, at)) in events.iter().zip(expected) {
            assert_eq!(
                event,
                &DomainEvent::UserConfirmed(UserConfirmed {
                    username: UserName::parse(name).unwrap(),
                    email: email.map(str::to_string),
                    at,
                })
            );
        }
        for m in &batch.records {
            assert!(m.message_id.is_some() && m.receipt_handle.is_some());
            assert_eq!(m.event_source.as_deref(), Some("aws:sqs"));
        }
    }

    #[test]
    fn bodies_that_are_not_events_are_bad_requests() {
        for body in ["", "{}", "hello", r#"{"type":"UserConfirmed","version":9}"#] {
            assert!(
                matches!(parse_body(body), Err(Error::BadRequest(_))),
                "{body}"
            );
        }
        let no_body: SqsMessage = serde_json::from_str(r#"{"messageId":"m"}"#).unwrap();
        assert!(matches!(
            parse_message(&no_body),
            Err(Error::BadRequest(m)) if m.contains("no body")
        ));
    }

    #[test]
    fn fifo_ids_fit_sqs_limits() {
        assert_eq!(fifo_id("carol"), "carol");
        let long = format!("acme/prod/{}", "a".repeat(200));
        assert_eq!(fifo_id(&long).len(), 64);
    }
}
