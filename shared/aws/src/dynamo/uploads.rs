//! [`Uploads`] on the table: one item per upload session, `UPLOAD#<id>` / `SESSION` (the S3
//! blob store's upload states share the partition under `S3STATE#…`, see `upload_state`).
//!
//! A session expires (TTL on `expires_at`) a week after it was last written, so an upload
//! nobody finishes disappears on its own; DynamoDB deletes expired items late (up to days
//! after), so reads also treat an expired session as gone. Reads are consistent: a PATCH in
//! one Lambda must see the size the previous PATCH acknowledged in another.
//!
//! This module never touches the `S3STATE#` items.

use super::item::{Expr, Item, absent, get_n, get_s, item, key, n, now_secs, opt_n, present, s};
use super::{DynamoStore, EXPIRES_AT};
use async_trait::async_trait;
use stowage_core::ports::{UploadSession, Uploads};
use stowage_core::{Error, RepoName, Result, UploadId};

/// How long a session lives after its last write.
const SESSION_TTL_SECS: i64 = 7 * 24 * 3600;

const REPO: &str = "repo";
const SIZE: &str = "size";
const STARTED_AT: &str = "started_at";

const SESSION: &str = "SESSION";

fn session_pk(id: &UploadId) -> String {
    format!("UPLOAD#{id}")
}

fn session_key(id: &UploadId) -> Item {
    key(session_pk(id), SESSION)
}

#[async_trait]
impl Uploads for DynamoStore {
    async fn create_upload(&self, session: &UploadSession) -> Result<()> {
        let i = item(
            session_pk(&session.id),
            SESSION,
            [
                (REPO, s(session.repo.as_str())),
                (SIZE, n(session.size)),
                (STARTED_AT, n(session.started_at)),
                (EXPIRES_AT, n(now_secs() + SESSION_TTL_SECS)),
            ],
        );
        if self.put(i, Some(absent())).await? {
            Ok(())
        } else {
            Err(Error::Storage(format!(
                "upload {} exists already",
                session.id
            )))
        }
    }

    async fn get_upload(&self, id: &UploadId) -> Result<Option<UploadSession>> {
        let Some(i) = self.get(session_key(id)).await? else {
            return Ok(None);
        };
        if opt_n::<i64>(&i, EXPIRES_AT)?.is_some_and(|t| t <= now_secs()) {
            return Ok(None);
        }
        let Ok(repo) = RepoName::parse(get_s(&i, REPO)?) else {
            return Ok(None);
        };
        Ok(Some(UploadSession {
            id: id.clone(),
            repo,
            size: get_n(&i, SIZE)?,
            started_at: get_n(&i, STARTED_AT)?,
        }))
    }

    async fn set_upload_size(&self, id: &UploadId, size: u64) -> Result<()> {
        // Only an existing session (an update would otherwise create a partial one).
        self.update(
            session_key(id),
            Expr::new("SET #size = :size, #exp = :exp")
                .name("#size", SIZE)
                .value(":size", n(size))
                .name("#exp", EXPIRES_AT)
                .value(":exp", n(now_secs() + SESSION_TTL_SECS)),
            Some(present()),
        )
        .await?;
        Ok(())
    }

    async fn delete_upload(&self, id: &UploadId) -> Result<()> {
        self.delete(session_key(id), None).await?;
        Ok(())
    }
}
