//! `user-sync`: the SQS consumer of domain events. For `UserConfirmed` it creates the user's
//! profile and turns the pending invitations addressed to their verified email into
//! memberships (idempotent: SQS delivers at least once). A message that fails is reported in
//! `batchItemFailures`, so SQS retries only that one (and dead-letters it in the end).

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use stowage_core::events::DomainEvent;
use stowage_fleet::StorageConfig;

#[tokio::main]
async fn main() -> Result<(), Error> {
    stowage_fleet::init_lambda_logging();
    let config = StorageConfig::from_env().map_err(Error::from)?;
    let storage = stowage_fleet::build_storage(&config).await;
    let store = &storage.store;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let mut failures = Vec::new();
        for message in &event.payload.records {
            let id = message.message_id.clone().unwrap_or_default();
            let outcome = match stowage_aws::sqs::parse_message(message) {
                Ok(DomainEvent::UserConfirmed(confirmed)) => {
                    stowage_core::user_sync::on_user_confirmed(
                        &**store,
                        &**store,
                        &confirmed,
                        stowage_fleet::now(),
                    )
                    .await
                    .map(|synced| {
                        tracing::info!(
                            message = %id,
                            created = synced.created,
                            memberships = synced.accepted.len(),
                            "user synced"
                        )
                    })
                }
                // Other events are for other consumers.
                Ok(other) => {
                    tracing::debug!(message = %id, kind = other.kind(), "not for user-sync");
                    Ok(())
                }
                Err(e) => Err(e),
            };
            if let Err(e) = outcome {
                tracing::error!(message = %id, error = %e, "message failed; SQS will retry it");
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id;
                failures.push(failure);
            }
        }
        let mut response = SqsBatchResponse::default();
        response.batch_item_failures = failures;
        Ok::<_, Error>(response)
    }))
    .await
}
