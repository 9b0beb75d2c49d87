//! [`Audit`] on the table: one item per event, `AUDIT#<org>` / `<id, 20 digits>` (events without
//! an organization under `AUDIT`), so an organization's log is one partition read newest
//! first, and `before` is a key condition.
//!
//! Ids increase: microseconds since the epoch times 1000 plus a random tiebreak below 1000,
//! and never below the previous id this process handed out; events of one `record` call get
//! consecutive ids. Two processes recording in the same microsecond are told apart by the
//! tiebreak (ties are possible but improbable, and then only their relative order is
//! arbitrary). Events are written with BatchWriteItem, 25 per call: each is durable when
//! `record` returns, but a failure part way leaves the earlier batches written (the log is
//! append-only and every event keeps its id, so nothing is duplicated or reordered).
//!
//! The actor, action and since filters are applied by DynamoDB after reading (a filter
//! expression), so a narrow filter over a long log reads more than it returns. This module
//! never stores secrets: events carry none by construction.

use super::item::{Expr, Item, get_n, get_s, item, n, opt_s, padded, random_hex, s, set_opt};
use super::ops::Query;
use super::{DynamoStore, PK, SK};
use async_trait::async_trait;
use std::sync::atomic::{AtomicI64, Ordering};
use stowage_core::ports::{Audit, AuditFilter};
use stowage_core::tenancy::AuditEvent;
use stowage_core::{Error, Result};

const AT: &str = "at";
const ORG: &str = "org";
const ACTOR: &str = "actor";
const ACTION: &str = "action";
const TARGET: &str = "target";
const SOURCE_IP: &str = "source_ip";
const USER_AGENT: &str = "user_agent";

fn audit_pk(org: Option<&str>) -> String {
    match org {
        Some(o) => format!("AUDIT#{o}"),
        None => "AUDIT".to_string(),
    }
}

/// `count` increasing ids, above every id this process handed out before.
fn next_ids(count: usize) -> Result<Vec<i64>> {
    static LAST: AtomicI64 = AtomicI64::new(0);
    let tiebreak = i64::from_str_radix(&random_hex(2)?, 16).map_err(Error::storage)? % 1000;
    let base = super::item::now_micros() * 1000 + tiebreak;
    let n = count as i64;
    let mut first = base;
    let _ = LAST.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
        first = base.max(last + 1);
        Some(first + n - 1)
    });
    Ok((first..first + n).collect())
}

fn event_from(i: &Item) -> Result<AuditEvent> {
    Ok(AuditEvent {
        id: get_s(i, SK)?
            .parse()
            .map_err(|_| Error::Storage("an audit item's id is malformed".into()))?,
        at: get_n(i, AT)?,
        org: opt_s(i, ORG).map(str::to_string),
        actor: get_s(i, ACTOR)?.to_string(),
        action: get_s(i, ACTION)?.to_string(),
        target: get_s(i, TARGET)?.to_string(),
        source_ip: opt_s(i, SOURCE_IP).map(str::to_string),
        user_agent: opt_s(i, USER_AGENT).map(str::to_string),
    })
}

#[async_trait]
impl Audit for DynamoStore {
    async fn record(&self, events: &[AuditEvent]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let ids = next_ids(events.len())?;
        let items = events
            .iter()
            .zip(ids)
            .map(|(e, id)| {
                let mut i = item(
                    audit_pk(e.org.as_deref()),
                    padded(id),
                    [
                        (AT, n(e.at)),
                        (ACTOR, s(&e.actor)),
                        (ACTION, s(&e.action)),
                        (TARGET, s(&e.target)),
                    ],
                );
                set_opt(&mut i, ORG, e.org.as_deref().map(s));
                set_opt(&mut i, SOURCE_IP, e.source_ip.as_deref().map(s));
                set_opt(&mut i, USER_AGENT, e.user_agent.as_deref().map(s));
                i
            })
            .collect();
        self.batch_write(items, Vec::new()).await
    }

    async fn list_events(
        &self,
        org: &str,
        filter: &AuditFilter,
        limit: usize,
    ) -> Result<Vec<AuditEvent>> {
        if limit == 0 || filter.before.is_some_and(|b| b <= 0) {
            return Ok(Vec::new());
        }
        let mut key = Expr::new("#pk = :pk")
            .name("#pk", PK)
            .value(":pk", s(audit_pk(Some(org))));
        if let Some(before) = filter.before {
            key = Expr::new("#pk = :pk AND #sk < :before")
                .merge(&key)
                .name("#sk", SK)
                .value(":before", s(padded(before)));
        }
        let mut q = Query::new(key).backward();
        let mut conds = Vec::new();
        let mut f = Expr::default();
        if let Some(actor) = &filter.actor {
            conds.push("#actor = :actor");
            f = f.name("#actor", ACTOR).value(":actor", s(actor));
        }
        if let Some(action) = &filter.action {
            conds.push("#action = :action");
            f = f.name("#action", ACTION).value(":action", s(action));
        }
        if let Some(since) = filter.since {
            conds.push("#at >= :since");
            f = f.name("#at", AT).value(":since", n(since));
        }
        if !conds.is_empty() {
            q = q.filter(Expr::new(conds.join(" AND ")).merge(&f));
        }
        self.query_up_to(&q, Some(limit), |_| true)
            .await?
            .iter()
            .map(event_from)
            .collect()
    }
}
