//! `cognito-post-confirmation`: Cognito calls it when a user confirms their sign-up. It puts
//! `UserConfirmed` on the events queue (the `user-sync` worker does the rest, so a slow
//! database never slows a sign-up) and hands Cognito its event back, as a trigger must.
//! Needs only `sqs:SendMessage` on the queue; never logs the user's email.

use aws_lambda_events::event::cognito::CognitoEventUserPoolsPostConfirmation as Confirmation;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use stowage_core::ports::Events;

#[tokio::main]
async fn main() -> Result<(), Error> {
    stowage_fleet::init_lambda_logging();
    let events = stowage_fleet::events_from_env(&stowage_fleet::aws_from_env())
        .await
        .map_err(Error::from)?;
    let events = &events;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<Confirmation>| async move {
            let now = stowage_fleet::now();
            if let Some(confirmed) =
                stowage_aws::cognito_trigger::user_confirmed(&event.payload, now)?
            {
                events
                    .publish(&stowage_core::events::DomainEvent::UserConfirmed(confirmed))
                    .await?;
                tracing::info!("user confirmed: queued for user-sync");
            }
            Ok::<_, Error>(event.payload)
        },
    ))
    .await
}
