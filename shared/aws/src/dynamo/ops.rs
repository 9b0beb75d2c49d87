//! The calls the ports make, written once: single conditional writes (a failed condition is an
//! answer, `false`, not an error), consistent point reads, paginated queries, consistent batch
//! reads, batch writes, and transactions with their per-action cancellation reasons.
//!
//! Reads of the base table here are strongly consistent unless a caller asks otherwise
//! (queries of a GSI never are: DynamoDB does not offer it). Nothing here logs or puts a
//! request's content into an error.

use super::item::{Expr, Item};
use super::{DynamoStore, storage};
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    ConditionCheck, Delete, DeleteRequest, KeysAndAttributes, Put, PutRequest, TransactWriteItem,
    Update, WriteRequest,
};
use std::collections::HashMap;
use std::time::Duration;
use stowage_core::{Error, Result};

/// How often a read-then-transact step is retried when a concurrent writer got in between.
pub(crate) const ATTEMPTS: u32 = 10;

/// Sleeps a little longer after each failed attempt (with jitter from the clock, so two
/// writers racing for one item do not retry in lock step).
pub(crate) async fn backoff(attempt: u32) {
    let jitter = super::item::now_micros().rem_euclid(10) as u64;
    tokio::time::sleep(Duration::from_millis((5 << attempt.min(6)) + jitter)).await;
}

/// The error when every attempt lost a race.
pub(crate) fn contended(what: &str) -> Error {
    Error::Storage(format!(
        "{what}: concurrent writes kept conflicting, gave up after {ATTEMPTS} attempts"
    ))
}

/// Whether an SDK error is a failed `ConditionExpression`.
pub(crate) fn condition_failed<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    e.as_service_error()
        .and_then(|s| s.code())
        .is_some_and(|c| c == "ConditionalCheckFailedException")
}

/// The outcome of a transaction.
#[derive(Debug)]
pub(crate) enum Tx {
    Done,
    /// Cancelled by a failed condition or a conflicting concurrent transaction; one reason
    /// code per action, `"None"` for actions that were fine.
    Cancelled(Vec<String>),
}

impl Tx {
    /// Whether the condition of action `i` failed.
    pub(crate) fn failed_at(&self, i: usize) -> bool {
        match self {
            Tx::Done => false,
            Tx::Cancelled(r) => r.get(i).is_some_and(|c| c == "ConditionalCheckFailed"),
        }
    }

    /// Whether any condition failed (as opposed to a conflict with another transaction).
    pub(crate) fn any_failed(&self) -> bool {
        match self {
            Tx::Done => false,
            Tx::Cancelled(r) => r.iter().any(|c| c == "ConditionalCheckFailed"),
        }
    }
}

/// Reasons for which a cancelled transaction is worth another attempt (after re-reading).
fn retryable(code: &str) -> bool {
    matches!(
        code,
        "None"
            | "ConditionalCheckFailed"
            | "TransactionConflict"
            | "ThrottlingError"
            | "ProvisionedThroughputExceeded"
            | "RequestLimitExceeded"
    )
}

/// A paginated query: the partition (and sort-key range) in `key`, optionally on an index.
#[derive(Clone, Debug)]
pub(crate) struct Query {
    pub(crate) index: Option<&'static str>,
    pub(crate) key: Expr,
    pub(crate) filter: Option<Expr>,
    pub(crate) projection: Option<Expr>,
    pub(crate) forward: bool,
}

impl Query {
    pub(crate) fn new(key: Expr) -> Query {
        Query {
            index: None,
            key,
            filter: None,
            projection: None,
            forward: true,
        }
    }

    pub(crate) fn index(mut self, index: &'static str) -> Query {
        self.index = Some(index);
        self
    }

    pub(crate) fn filter(mut self, filter: Expr) -> Query {
        self.filter = Some(filter);
        self
    }

    pub(crate) fn projection(mut self, projection: Expr) -> Query {
        self.projection = Some(projection);
        self
    }

    pub(crate) fn backward(mut self) -> Query {
        self.forward = false;
        self
    }
}

impl DynamoStore {
    pub(crate) fn tx_put(&self, item: Item, cond: Option<Expr>) -> Result<TransactWriteItem> {
        let cond = cond.unwrap_or_default();
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression((!cond.text.is_empty()).then(|| cond.text.clone()))
            .set_expression_attribute_names(cond.names())
            .set_expression_attribute_values(cond.values())
            .build()
            .map_err(Error::storage)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    pub(crate) fn tx_delete(&self, key: Item, cond: Option<Expr>) -> Result<TransactWriteItem> {
        let cond = cond.unwrap_or_default();
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key))
            .set_condition_expression((!cond.text.is_empty()).then(|| cond.text.clone()))
            .set_expression_attribute_names(cond.names())
            .set_expression_attribute_values(cond.values())
            .build()
            .map_err(Error::storage)?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    /// An update; `update` and `cond` share one placeholder namespace.
    pub(crate) fn tx_update(
        &self,
        key: Item,
        update: Expr,
        cond: Option<Expr>,
    ) -> Result<TransactWriteItem> {
        let cond = cond.unwrap_or_default();
        let all = update.clone().merge(&cond);
        let u = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression(update.text)
            .set_condition_expression((!cond.text.is_empty()).then(|| cond.text.clone()))
            .set_expression_attribute_names(all.names())
            .set_expression_attribute_values(all.values())
            .build()
            .map_err(Error::storage)?;
        Ok(TransactWriteItem::builder().update(u).build())
    }

    pub(crate) fn tx_check(&self, key: Item, cond: Expr) -> Result<TransactWriteItem> {
        let c = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(key))
            .condition_expression(cond.text.clone())
            .set_expression_attribute_names(cond.names())
            .set_expression_attribute_values(cond.values())
            .build()
            .map_err(Error::storage)?;
        Ok(TransactWriteItem::builder().condition_check(c).build())
    }

    /// Runs the actions as one transaction (at most 100, on distinct items). A cancellation
    /// that another attempt may cure comes back as [`Tx::Cancelled`]; anything else is an
    /// error.
    pub(crate) async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<Tx> {
        let out = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match out {
            Ok(_) => Ok(Tx::Done),
            Err(e) => match e.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(c)) => {
                    let reasons: Vec<String> = c
                        .cancellation_reasons()
                        .iter()
                        .map(|r| r.code().unwrap_or("None").to_string())
                        .collect();
                    if reasons.iter().all(|r| retryable(r)) {
                        Ok(Tx::Cancelled(reasons))
                    } else {
                        Err(storage(e))
                    }
                }
                _ => Err(storage(e)),
            },
        }
    }

    /// A strongly consistent point read.
    pub(crate) async fn get(&self, key: Item) -> Result<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(storage)?;
        Ok(out.item)
    }

    /// Puts an item; `false` when `cond` failed.
    pub(crate) async fn put(&self, item: Item, cond: Option<Expr>) -> Result<bool> {
        let cond = cond.unwrap_or_default();
        let out = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression((!cond.text.is_empty()).then(|| cond.text.clone()))
            .set_expression_attribute_names(cond.names())
            .set_expression_attribute_values(cond.values())
            .send()
            .await;
        match out {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(storage(e)),
        }
    }

    /// Updates an item; `false` when `cond` failed.
    pub(crate) async fn update(&self, key: Item, update: Expr, cond: Option<Expr>) -> Result<bool> {
        let cond = cond.unwrap_or_default();
        let all = update.clone().merge(&cond);
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression(update.text)
            .set_condition_expression((!cond.text.is_empty()).then(|| cond.text.clone()))
            .set_expression_attribute_names(all.names())
            .set_expression_attribute_values(all.values())
            .send()
            .await;
        match out {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(storage(e)),
        }
    }

    /// Deletes an item; `false` when `cond` failed.
    pub(crate) async fn delete(&self, key: Item, cond: Option<Expr>) -> Result<bool> {
        let cond = cond.unwrap_or_default();
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .set_condition_expression((!cond.text.is_empty()).then(|| cond.text.clone()))
            .set_expression_attribute_names(cond.names())
            .set_expression_attribute_values(cond.values())
            .send()
            .await;
        match out {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(storage(e)),
        }
    }

    /// Runs the query page by page; `keep` sees each item in order and says whether to keep
    /// it; stops once `want` items are kept (or at the end). Base-table queries are
    /// consistent.
    pub(crate) async fn query_up_to(
        &self,
        q: &Query,
        want: Option<usize>,
        mut keep: impl FnMut(&Item) -> bool,
    ) -> Result<Vec<Item>> {
        if want == Some(0) {
            return Ok(Vec::new());
        }
        let mut all = q.key.clone();
        if let Some(f) = &q.filter {
            all = all.merge(f);
        }
        if let Some(p) = &q.projection {
            all = all.merge(p);
        }
        let mut req = self
            .client
            .query()
            .table_name(&self.table)
            .set_index_name(q.index.map(str::to_string))
            .key_condition_expression(q.key.text.clone())
            .set_filter_expression(q.filter.as_ref().map(|f| f.text.clone()))
            .set_projection_expression(q.projection.as_ref().map(|p| p.text.clone()))
            .set_expression_attribute_names(all.names())
            .set_expression_attribute_values(all.values())
            .scan_index_forward(q.forward)
            .consistent_read(q.index.is_none());
        // Without a filter every evaluated item is returned, so the page need be no larger
        // than what is wanted (plus one the caller may skip).
        if let (Some(w), None) = (want, &q.filter) {
            req = req.limit(i32::try_from(w + 1).unwrap_or(i32::MAX));
        }
        let mut pages = req.into_paginator().send();
        let mut items = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(storage)?;
            for i in page.items.unwrap_or_default() {
                if keep(&i) {
                    items.push(i);
                    if want.is_some_and(|w| items.len() >= w) {
                        return Ok(items);
                    }
                }
            }
        }
        Ok(items)
    }

    /// Every item the query matches.
    pub(crate) async fn query_all(&self, q: &Query) -> Result<Vec<Item>> {
        self.query_up_to(q, None, |_| true).await
    }

    /// Consistent reads of `keys` (duplicates allowed), in batches of 100, until DynamoDB
    /// has answered for every key. Returns the items found, in no particular order.
    pub(crate) async fn batch_get(
        &self,
        keys: &[Item],
        projection: Option<&Expr>,
    ) -> Result<Vec<Item>> {
        let mut unique: Vec<Item> = Vec::with_capacity(keys.len());
        for k in keys {
            if !unique.contains(k) {
                unique.push(k.clone());
            }
        }
        let mut found = Vec::new();
        for chunk in unique.chunks(100) {
            let mut pending = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(chunk.to_vec()))
                    .consistent_read(true)
                    .set_projection_expression(projection.map(|p| p.text.clone()))
                    .set_expression_attribute_names(projection.and_then(Expr::names))
                    .build()
                    .map_err(Error::storage)?,
            );
            let mut attempt = 0;
            while let Some(request) = pending.take() {
                if attempt > 0 {
                    backoff(attempt).await;
                }
                if attempt >= ATTEMPTS {
                    return Err(Error::Storage(
                        "batch read: keys left unprocessed after every attempt".into(),
                    ));
                }
                attempt += 1;
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(storage)?;
                if let Some(mut r) = out.responses {
                    found.extend(r.remove(&self.table).unwrap_or_default());
                }
                pending = out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .filter(|k| !k.keys.is_empty());
            }
        }
        Ok(found)
    }

    /// Writes `puts` and deletes `deletes` in batches of 25 (not atomically), retrying
    /// unprocessed requests until none are left.
    pub(crate) async fn batch_write(&self, puts: Vec<Item>, deletes: Vec<Item>) -> Result<()> {
        let mut requests = Vec::with_capacity(puts.len() + deletes.len());
        for item in puts {
            let p = PutRequest::builder()
                .set_item(Some(item))
                .build()
                .map_err(Error::storage)?;
            requests.push(WriteRequest::builder().put_request(p).build());
        }
        for key in deletes {
            let d = DeleteRequest::builder()
                .set_key(Some(key))
                .build()
                .map_err(Error::storage)?;
            requests.push(WriteRequest::builder().delete_request(d).build());
        }
        // Put parts are up to ~350 KB each and a batch carries at most 16 MB.
        for chunk in requests.chunks(25) {
            let mut pending: Vec<WriteRequest> = chunk.to_vec();
            let mut attempt = 0;
            while !pending.is_empty() {
                if attempt > 0 {
                    backoff(attempt).await;
                }
                if attempt >= ATTEMPTS {
                    return Err(Error::Storage(format!(
                        "batch write: {} requests left unprocessed after every attempt",
                        pending.len()
                    )));
                }
                attempt += 1;
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, pending)
                    .send()
                    .await
                    .map_err(storage)?;
                pending = out
                    .unprocessed_items
                    .and_then(|mut u: HashMap<String, Vec<WriteRequest>>| u.remove(&self.table))
                    .unwrap_or_default();
            }
        }
        Ok(())
    }
}
