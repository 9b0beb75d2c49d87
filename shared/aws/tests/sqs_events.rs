//! The SQS `Events` adapter against moto: events published with `SqsEvents` are received with
//! the SDK and read back equal; on a FIFO queue, a retried publish is delivered once and events
//! keep their order.

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::QueueAttributeName;
use std::time::{Duration, Instant};
use stowage_aws::sqs::parse_body;
use stowage_aws::{AwsConfig, SqsEvents};
use stowage_core::events::{DomainEvent, ManifestPushed, UserConfirmed};
use stowage_core::ports::Events;
use stowage_core::tenancy::UserName;
use stowage_core::{Digest, RepoName, Tag};
use stowage_testkit::emulators::{self, ACCESS_KEY, REGION, SECRET_KEY};

async fn client() -> Client {
    let sdk = AwsConfig {
        region: Some(REGION.into()),
        endpoint_url: Some(emulators::moto()),
        static_credentials: Some((ACCESS_KEY.into(), SECRET_KEY.into())),
    }
    .load()
    .await;
    Client::new(&sdk)
}

fn user_confirmed(name: &str, email: Option<&str>) -> DomainEvent {
    DomainEvent::UserConfirmed(UserConfirmed {
        username: UserName::parse(name).unwrap(),
        email: email.map(str::to_string),
        at: 1_767_225_600,
    })
}

fn manifest_pushed() -> DomainEvent {
    DomainEvent::ManifestPushed(ManifestPushed {
        repo: RepoName::parse("acme/prod/app").unwrap(),
        digest: Digest::sha256(b"manifest"),
        tags: vec![Tag::parse("v1").unwrap()],
        at: 1_767_225_601,
    })
}

/// Receives (and deletes) messages until `n` arrived or `within` passed; their bodies.
async fn receive(client: &Client, url: &str, n: usize, within: Duration) -> Vec<String> {
    let mut bodies = Vec::new();
    let deadline = Instant::now() + within;
    while bodies.len() < n && Instant::now() < deadline {
        let out = client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        for m in out.messages() {
            bodies.push(m.body().unwrap().to_string());
            client
                .delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
    bodies
}

#[tokio::test]
async fn published_events_are_received_and_read_back_equal() {
    let client = client().await;
    let url = client
        .create_queue()
        .queue_name(emulators::unique_name("events"))
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    let events = SqsEvents::with_client(client.clone(), &url);
    let sent = [
        user_confirmed("carol", Some("carol@example.com")),
        manifest_pushed(),
    ];
    for e in &sent {
        events.publish(e).await.unwrap();
    }
    let bodies = receive(&client, &url, 2, Duration::from_secs(10)).await;
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    let mut got: Vec<DomainEvent> = bodies.iter().map(|b| parse_body(b).unwrap()).collect();
    // A standard queue does not promise order.
    got.sort_by_key(|e| e.kind());
    assert_eq!(got, [sent[1].clone(), sent[0].clone()]);
    let more = receive(&client, &url, 1, Duration::from_secs(2)).await;
    assert!(more.is_empty(), "no duplicates: {more:?}");
}

#[tokio::test]
async fn fifo_queue_keeps_order_and_drops_a_retried_publish() {
    let client = client().await;
    let url = client
        .create_queue()
        .queue_name(format!("{}.fifo", emulators::unique_name("events")))
        .attributes(QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    let events = SqsEvents::with_client(client.clone(), &url);
    let first = user_confirmed("dave", None);
    let second = user_confirmed("erin", Some("erin@example.com"));
    events.publish(&first).await.unwrap();
    events.publish(&first).await.unwrap();
    events.publish(&second).await.unwrap();
    let got: Vec<DomainEvent> = receive(&client, &url, 2, Duration::from_secs(10))
        .await
        .iter()
        .map(|b| parse_body(b).unwrap())
        .collect();
    assert_eq!(got, [first, second]);
    let more = receive(&client, &url, 1, Duration::from_secs(2)).await;
    assert!(
        more.is_empty(),
        "the retried publish was delivered again: {more:?}"
    );
}

#[tokio::test]
async fn publishing_to_a_missing_queue_is_a_storage_error() {
    let client = client().await;
    let events = SqsEvents::with_client(
        client,
        format!("{}/123456789012/no-such-queue", emulators::moto()),
    );
    let err = events
        .publish(&user_confirmed("carol", Some("carol@example.com")))
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, stowage_core::Error::Storage(_)) && msg.contains("SendMessage"),
        "{msg}"
    );
    assert!(!msg.contains("carol@example.com"), "no body in errors");
}
