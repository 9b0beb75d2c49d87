//! Stowage's AWS adapters. Today: the Cognito identity provider ([`cognito`]). The S3 blob
//! store, DynamoDB metadata and SQS events join with the Lambda fleet.
//!
//! Every adapter takes its endpoint from configuration, so tests run against emulators on
//! loopback (moto in server mode); nothing here needs an AWS account to be tested.

pub mod cognito;
