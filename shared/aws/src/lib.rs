//! Stowage's AWS adapters, each implementing ports of `stowage-core`:
//!
//! - [`s3_blobs`]: the `BlobStore` on S3 (content-addressed objects, uploads as stateless S3
//!   multipart uploads whose state lives in the table, presigned GETs);
//! - [`dynamo`]: every metadata port over one DynamoDB table;
//! - [`cognito`]: the Cognito identity provider (`InitiateAuth`, JWKS);
//! - [`cognito_trigger`]: the post-confirmation trigger event as a `UserConfirmed` domain event;
//! - [`sqs`]: the `Events` port on SQS, and reading messages back in the consumer;
//! - [`config`]: the one SDK configuration a process builds.
//!
//! Every adapter takes its endpoint from configuration, so tests run against emulators on
//! loopback (moto in server mode, s3s-fs); nothing here needs an AWS account to be tested.
//! Adapters decide no protocol or access question; they never log a secret or a body.

pub mod cognito;
pub mod cognito_trigger;
pub mod config;
pub mod dynamo;
pub mod metrics;
pub mod s3_blobs;
pub mod sqs;

pub use config::AwsConfig;
pub use dynamo::DynamoStore;
pub use s3_blobs::S3BlobStore;
pub use sqs::SqsEvents;
