//! DynamoDB metadata: every metadata port over ONE table.
//!
//! The table has a string partition key `pk`, a string sort key `sk`, two overloaded global
//! secondary indexes (`gsi1`: `gsi1pk`/`gsi1sk`, `gsi2`: `gsi2pk`/`gsi2sk`, all attributes
//! projected) and TTL on the number attribute `expires_at` (Unix seconds). Keys always carry
//! the tenant (organization, registry, repository), so one tenant's query can never return
//! another's items: isolation is structural.
//!
//! Access patterns → keys (each is one GetItem or one Query unless it says otherwise):
//!
//! | pattern | operation | key |
//! |---|---|---|
//! | S3 upload state at a size (`s3_blobs`) | GetItem | `UPLOAD#<id>` / `S3STATE#<size, 20 digits>` |
//! | every S3 upload state of an upload (cleanup) | Query | `UPLOAD#<id>` / begins_with `S3STATE#` |
//!
//! (The submodules add their rows; the table above is the whole design.)
//!
//! Conditional or transactional writes wherever two writers could race. This module decides
//! nothing about protocol or access; it stores what the domain hands it.

mod upload_state;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    Projection, ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use stowage_core::{Error, Result};

/// Attribute names of the keys.
pub(crate) const PK: &str = "pk";
pub(crate) const SK: &str = "sk";
pub(crate) const GSI1PK: &str = "gsi1pk";
pub(crate) const GSI1SK: &str = "gsi1sk";
pub(crate) const GSI2PK: &str = "gsi2pk";
pub(crate) const GSI2SK: &str = "gsi2sk";
/// The TTL attribute (Unix seconds): DynamoDB deletes the item some time after it.
pub(crate) const EXPIRES_AT: &str = "expires_at";
pub(crate) const GSI1: &str = "gsi1";
pub(crate) const GSI2: &str = "gsi2";

/// The metadata store over one DynamoDB table. Cheap to clone (the SDK client is shared).
#[derive(Clone, Debug)]
pub struct DynamoStore {
    pub(crate) client: Client,
    pub(crate) table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> DynamoStore {
        DynamoStore {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Creates the table with the layout above (on-demand billing, TTL on `expires_at`) and
    /// waits until it is active. For tests, emulators and `stowage aws create-table`; a
    /// deployment creates it with its infrastructure code, with the same layout.
    pub async fn create_table(&self) -> Result<()> {
        let s = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(Error::storage)
        };
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .map_err(Error::storage)
        };
        let gsi = |name: &str, pk: &str, sk: &str| -> Result<GlobalSecondaryIndex> {
            GlobalSecondaryIndex::builder()
                .index_name(name)
                .key_schema(key(pk, KeyType::Hash)?)
                .key_schema(key(sk, KeyType::Range)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .map_err(Error::storage)
        };
        self.client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(s(PK)?)
            .attribute_definitions(s(SK)?)
            .attribute_definitions(s(GSI1PK)?)
            .attribute_definitions(s(GSI1SK)?)
            .attribute_definitions(s(GSI2PK)?)
            .attribute_definitions(s(GSI2SK)?)
            .key_schema(key(PK, KeyType::Hash)?)
            .key_schema(key(SK, KeyType::Range)?)
            .global_secondary_indexes(gsi(GSI1, GSI1PK, GSI1SK)?)
            .global_secondary_indexes(gsi(GSI2, GSI2PK, GSI2SK)?)
            .send()
            .await
            .map_err(storage)?;
        for _ in 0..600 {
            let d = self
                .client
                .describe_table()
                .table_name(&self.table)
                .send()
                .await
                .map_err(storage)?;
            let active = d
                .table()
                .and_then(|t| t.table_status())
                .is_some_and(|s| s.as_str() == "ACTIVE");
            if active {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(EXPIRES_AT)
                    .enabled(true)
                    .build()
                    .map_err(Error::storage)?,
            )
            .send()
            .await
            .map_err(storage)?;
        Ok(())
    }
}

/// An SDK error as a storage failure, with the service's own error code and message (never a
/// request's content).
pub(crate) fn storage<E, R>(e: aws_sdk_dynamodb::error::SdkError<E, R>) -> Error
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    Error::storage(aws_sdk_dynamodb::error::DisplayErrorContext(e))
}
