//! The S3 blob store's upload states ([`MultipartStates`]) in the table: one item per
//! acknowledged size, `UPLOAD#<id>` / `S3STATE#<size, 20 digits>`, the state as JSON, expiring
//! a week after it was written (an upload nobody finishes).

use super::{DynamoStore, EXPIRES_AT, PK, SK, storage};
use crate::s3_blobs::{MultipartState, MultipartStates};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, WriteRequest};
use std::collections::HashMap;
use stowage_core::{Error, Result, UploadId};

/// How long an unfinished upload's states are kept.
const STATE_TTL_SECS: i64 = 7 * 24 * 3600;

fn pk(id: &UploadId) -> AttributeValue {
    AttributeValue::S(format!("UPLOAD#{id}"))
}

fn sk(size: u64) -> AttributeValue {
    AttributeValue::S(format!("S3STATE#{size:020}"))
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn parse(item: &HashMap<String, AttributeValue>) -> Result<MultipartState> {
    let json = item
        .get("state")
        .and_then(|v| v.as_s().ok())
        .ok_or_else(|| Error::Storage("an upload state item has no state".into()))?;
    serde_json::from_str(json).map_err(Error::storage)
}

impl DynamoStore {
    /// The sort keys of every state item of upload `id`.
    async fn state_keys(
        &self,
        id: &UploadId,
        with_state: bool,
    ) -> Result<Vec<HashMap<String, AttributeValue>>> {
        let mut items = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let mut q = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#sk", SK)
                .expression_attribute_values(":pk", pk(id))
                .expression_attribute_values(":prefix", AttributeValue::S("S3STATE#".into()))
                .consistent_read(true)
                .set_exclusive_start_key(start.take());
            if !with_state {
                q = q.projection_expression("#pk, #sk");
            }
            let out = q.send().await.map_err(storage)?;
            items.extend(out.items().iter().cloned());
            match out.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        Ok(items)
    }
}

#[async_trait]
impl MultipartStates for DynamoStore {
    async fn put_state(&self, id: &UploadId, state: &MultipartState) -> Result<()> {
        let json = serde_json::to_string(state).map_err(Error::storage)?;
        self.client
            .put_item()
            .table_name(&self.table)
            .item(PK, pk(id))
            .item(SK, sk(state.size))
            .item("state", AttributeValue::S(json))
            .item(
                EXPIRES_AT,
                AttributeValue::N((now() + STATE_TTL_SECS).to_string()),
            )
            .send()
            .await
            .map_err(storage)?;
        Ok(())
    }

    async fn get_state(&self, id: &UploadId, size: u64) -> Result<Option<MultipartState>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, pk(id))
            .key(SK, sk(size))
            .consistent_read(true)
            .send()
            .await
            .map_err(storage)?;
        out.item().map(parse).transpose()
    }

    async fn all_states(&self, id: &UploadId) -> Result<Vec<MultipartState>> {
        self.state_keys(id, true).await?.iter().map(parse).collect()
    }

    async fn delete_states(&self, id: &UploadId) -> Result<()> {
        let keys = self.state_keys(id, false).await?;
        for batch in keys.chunks(25) {
            let mut requests: Vec<WriteRequest> = batch
                .iter()
                .map(|k| {
                    let key = k
                        .iter()
                        .filter(|(name, _)| *name == PK || *name == SK)
                        .map(|(n, v)| (n.clone(), v.clone()))
                        .collect();
                    DeleteRequest::builder()
                        .set_key(Some(key))
                        .build()
                        .map(|d| WriteRequest::builder().delete_request(d).build())
                        .map_err(Error::storage)
                })
                .collect::<Result<_>>()?;
            // Unprocessed items are retried, with a short pause, until none are left.
            for attempt in 0..10 {
                if requests.is_empty() {
                    break;
                }
                if attempt > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(50 << attempt.min(5)))
                        .await;
                }
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .send()
                    .await
                    .map_err(storage)?;
                requests = out
                    .unprocessed_items()
                    .and_then(|u| u.get(&self.table))
                    .cloned()
                    .unwrap_or_default();
            }
            if !requests.is_empty() {
                return Err(Error::Storage(format!(
                    "upload {id}: {} state items could not be deleted",
                    requests.len()
                )));
            }
        }
        Ok(())
    }
}
