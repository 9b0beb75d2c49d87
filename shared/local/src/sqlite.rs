//! [`SqliteStore`]: the catalog and upload sessions in one SQLite file.
//!
//! Tables: `repositories(name)`, `blob_links(repo, digest, size)`, `manifests(repo, digest,
//! media_type, body, subject, artifact_type, annotations)`, `tags(repo, tag, digest)`,
//! `uploads(id, repo, size, started_at)`, and for tenancy (implemented in `sqlite_tenancy`)
//! `orgs`, `registries`, `users`, `members`, `invitations`, `api_tokens`, `audit`, and for the
//! Python index (implemented in `sqlite_python`) `python_projects`, `python_files`. Every write is one transaction in WAL mode with
//! `synchronous=FULL`, so a commit that acknowledges a push is on disk.
//!
//! Reads run inline on a small pool of read connections (WAL lets them run beside the writer);
//! writes run on the blocking pool through the single write connection.

use async_trait::async_trait;
use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use stowage_core::ports::{
    ArtifactSummary, Catalog, ManifestRecord, Referrer, UploadSession, Uploads,
};
use stowage_core::{Digest, Error, Reference, RepoName, Result, Tag, UploadId};

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS repositories (
    name TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS blob_links (
    repo TEXT NOT NULL,
    digest TEXT NOT NULL,
    size INTEGER NOT NULL,
    PRIMARY KEY (repo, digest)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS blob_links_by_digest ON blob_links (digest);
CREATE TABLE IF NOT EXISTS manifests (
    id INTEGER PRIMARY KEY,
    repo TEXT NOT NULL,
    digest TEXT NOT NULL,
    media_type TEXT NOT NULL,
    body BLOB NOT NULL,
    subject TEXT,
    artifact_type TEXT,
    annotations TEXT,
    pushed_at INTEGER NOT NULL,
    UNIQUE (repo, digest)
);
CREATE INDEX IF NOT EXISTS manifests_by_subject ON manifests (repo, subject) WHERE subject IS NOT NULL;
CREATE TABLE IF NOT EXISTS tags (
    repo TEXT NOT NULL,
    tag TEXT NOT NULL,
    digest TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (repo, tag)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tags_by_digest ON tags (repo, digest);
CREATE TABLE IF NOT EXISTS orgs (
    name TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS registries (
    org TEXT NOT NULL,
    name TEXT NOT NULL,
    public_read INTEGER NOT NULL,
    immutable_tags INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (org, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    email TEXT,
    password_hash TEXT,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS members (
    org TEXT NOT NULL,
    user TEXT NOT NULL,
    role TEXT NOT NULL,
    PRIMARY KEY (org, user)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS members_by_user ON members (user);
CREATE TABLE IF NOT EXISTS invitations (
    id TEXT PRIMARY KEY,
    org TEXT NOT NULL,
    email TEXT NOT NULL,
    role TEXT NOT NULL,
    invited_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    state TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS invitations_by_email ON invitations (email);
CREATE TABLE IF NOT EXISTS api_tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    org TEXT NOT NULL,
    role TEXT NOT NULL,
    registry TEXT,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    last_used_at INTEGER,
    revoked_at INTEGER,
    secret_sha256 TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS api_tokens_by_org ON api_tokens (org);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    org TEXT,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    source_ip TEXT,
    user_agent TEXT
);
CREATE INDEX IF NOT EXISTS audit_by_org ON audit (org, id);
CREATE TABLE IF NOT EXISTS python_projects (
    org TEXT NOT NULL,
    registry TEXT NOT NULL,
    name TEXT NOT NULL,
    display_name TEXT NOT NULL,
    files INTEGER NOT NULL,
    last_upload_ms INTEGER NOT NULL,
    PRIMARY KEY (org, registry, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS python_files (
    org TEXT NOT NULL,
    registry TEXT NOT NULL,
    project TEXT NOT NULL,
    filename TEXT NOT NULL,
    version TEXT NOT NULL,
    release TEXT NOT NULL,
    filetype TEXT NOT NULL,
    size INTEGER NOT NULL,
    digest TEXT NOT NULL,
    manifest TEXT NOT NULL,
    metadata_digest TEXT,
    metadata_size INTEGER,
    requires_python TEXT,
    uploaded_at_ms INTEGER NOT NULL,
    uploaded_by TEXT NOT NULL,
    yanked TEXT,
    PRIMARY KEY (org, registry, project, filename)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS uploads (
    id TEXT PRIMARY KEY,
    repo TEXT NOT NULL,
    size INTEGER NOT NULL,
    started_at INTEGER NOT NULL
) WITHOUT ROWID;
"#;

const READERS: usize = 4;

/// Catalog and upload sessions in SQLite.
pub struct SqliteStore {
    writer: Arc<Mutex<Connection>>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
}

pub(crate) fn db_err(e: rusqlite::Error) -> Error {
    Error::storage(e)
}

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

fn open_conn(path: &Path) -> rusqlite::Result<Connection> {
    let c = Connection::open(path)?;
    c.busy_timeout(std::time::Duration::from_secs(10))?;
    c.pragma_update(None, "journal_mode", "WAL")?;
    c.pragma_update(None, "synchronous", "FULL")?;
    Ok(c)
}

fn parse_digest(s: String) -> rusqlite::Result<Digest> {
    s.parse().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn annotations_from(s: Option<String>) -> BTreeMap<String, String> {
    s.and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default()
}

impl SqliteStore {
    pub fn open(path: &Path) -> Result<SqliteStore> {
        let writer = open_conn(path).map_err(db_err)?;
        writer.execute_batch(SCHEMA).map_err(db_err)?;
        let readers = (0..READERS)
            .map(|_| open_conn(path).map(Mutex::new))
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db_err)?;
        Ok(SqliteStore {
            writer: Arc::new(Mutex::new(writer)),
            readers,
            next_reader: AtomicUsize::new(0),
        })
    }

    /// Runs a read on a pooled read connection (inline: these are index lookups).
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        for i in 0..READERS {
            if let Ok(c) = self.readers[(start + i) % READERS].try_lock() {
                return f(&c).map_err(db_err);
            }
        }
        let c = self.readers[start % READERS]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        f(&c).map_err(db_err)
    }

    /// Runs a write transaction on the blocking pool.
    pub(crate) async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T> {
        let writer = self.writer.clone();
        tokio::task::spawn_blocking(move || {
            let mut c = writer.lock().unwrap_or_else(|e| e.into_inner());
            let tx = c.transaction()?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })
        .await
        .map_err(Error::storage)?
        .map_err(db_err)
    }
}

fn ensure_repo(tx: &rusqlite::Transaction, repo: &str) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT OR IGNORE INTO repositories (name, created_at) VALUES (?1, ?2)",
        params![repo, now()],
    )?;
    Ok(())
}

#[async_trait]
impl Catalog for SqliteStore {
    async fn repo_exists(&self, repo: &RepoName) -> Result<bool> {
        self.read(|c| {
            c.query_row(
                "SELECT 1 FROM repositories WHERE name = ?1",
                [repo.as_str()],
                |_| Ok(()),
            )
            .optional()
            .map(|r| r.is_some())
        })
    }

    async fn link_blob(&self, repo: &RepoName, digest: &Digest, size: u64) -> Result<()> {
        let (repo, digest) = (repo.to_string(), digest.to_string());
        self.write(move |tx| {
            ensure_repo(tx, &repo)?;
            tx.execute(
                "INSERT OR REPLACE INTO blob_links (repo, digest, size) VALUES (?1, ?2, ?3)",
                params![repo, digest, size as i64],
            )?;
            Ok(())
        })
        .await
    }

    async fn blob_link(&self, repo: &RepoName, digest: &Digest) -> Result<Option<u64>> {
        self.read(|c| {
            c.query_row(
                "SELECT size FROM blob_links WHERE repo = ?1 AND digest = ?2",
                params![repo.as_str(), digest.to_string()],
                |r| r.get::<_, i64>(0),
            )
            .optional()
        })
        .map(|s| s.map(|s| s as u64))
    }

    async fn find_blob(&self, prefix: &str, digest: &Digest) -> Result<Option<u64>> {
        self.read(|c| {
            c.query_row(
                "SELECT size FROM blob_links WHERE digest = ?1 AND substr(repo, 1, length(?2)) = ?2 LIMIT 1",
                params![digest.to_string(), prefix],
                |r| r.get::<_, i64>(0),
            )
            .optional()
        })
        .map(|s| s.map(|s| s as u64))
    }

    async fn unlink_blob(&self, repo: &RepoName, digest: &Digest) -> Result<bool> {
        let (repo, digest) = (repo.to_string(), digest.to_string());
        self.write(move |tx| {
            Ok(tx.execute(
                "DELETE FROM blob_links WHERE repo = ?1 AND digest = ?2",
                params![repo, digest],
            )? > 0)
        })
        .await
    }

    async fn blob_linked_anywhere(&self, digest: &Digest) -> Result<bool> {
        self.read(|c| {
            c.query_row(
                "SELECT 1 FROM blob_links WHERE digest = ?1 LIMIT 1",
                [digest.to_string()],
                |_| Ok(()),
            )
            .optional()
            .map(|r| r.is_some())
        })
    }

    async fn missing(
        &self,
        repo: &RepoName,
        blobs: &[Digest],
        manifests: &[Digest],
    ) -> Result<Vec<Digest>> {
        self.read(|c| {
            let mut out = Vec::new();
            let mut blob_q =
                c.prepare_cached("SELECT 1 FROM blob_links WHERE repo = ?1 AND digest = ?2")?;
            for d in blobs {
                if !blob_q.exists(params![repo.as_str(), d.to_string()])? {
                    out.push(d.clone());
                }
            }
            let mut man_q =
                c.prepare_cached("SELECT 1 FROM manifests WHERE repo = ?1 AND digest = ?2")?;
            for d in manifests {
                if !man_q.exists(params![repo.as_str(), d.to_string()])? {
                    out.push(d.clone());
                }
            }
            Ok(out)
        })
    }

    async fn put_manifest(&self, repo: &RepoName, m: &ManifestRecord, tags: &[Tag]) -> Result<()> {
        let repo = repo.to_string();
        let digest = m.digest.to_string();
        let media_type = m.media_type.clone();
        let body = m.body.clone();
        let subject = m.subject.as_ref().map(|s| s.to_string());
        let artifact_type = m.artifact_type.clone();
        let annotations = (!m.annotations.is_empty())
            .then(|| serde_json::to_string(&m.annotations).unwrap_or_default());
        let tags: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
        self.write(move |tx| {
            ensure_repo(tx, &repo)?;
            let t = now();
            tx.execute(
                "INSERT INTO manifests (repo, digest, media_type, body, subject, artifact_type, annotations, pushed_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (repo, digest) DO NOTHING",
                params![repo, digest, media_type, &body[..], subject, artifact_type, annotations, t],
            )?;
            for tag in &tags {
                tx.execute(
                    "INSERT INTO tags (repo, tag, digest, updated_at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (repo, tag) DO UPDATE SET digest = excluded.digest, updated_at = excluded.updated_at",
                    params![repo, tag, digest, t],
                )?;
            }
            Ok(())
        })
        .await
    }

    async fn get_manifest(
        &self,
        repo: &RepoName,
        reference: &Reference,
    ) -> Result<Option<ManifestRecord>> {
        let row = |r: &rusqlite::Row| -> rusqlite::Result<ManifestRecord> {
            Ok(ManifestRecord {
                digest: parse_digest(r.get(0)?)?,
                media_type: r.get(1)?,
                body: Bytes::from(r.get::<_, Vec<u8>>(2)?),
                subject: r
                    .get::<_, Option<String>>(3)?
                    .map(parse_digest)
                    .transpose()?,
                artifact_type: r.get(4)?,
                annotations: annotations_from(r.get(5)?),
            })
        };
        self.read(|c| match reference {
            Reference::Digest(d) => c
                .prepare_cached(
                    "SELECT digest, media_type, body, subject, artifact_type, annotations
                     FROM manifests WHERE repo = ?1 AND digest = ?2",
                )?
                .query_row(params![repo.as_str(), d.to_string()], row)
                .optional(),
            Reference::Tag(t) => c
                .prepare_cached(
                    "SELECT m.digest, m.media_type, m.body, m.subject, m.artifact_type, m.annotations
                     FROM tags t JOIN manifests m ON m.repo = t.repo AND m.digest = t.digest
                     WHERE t.repo = ?1 AND t.tag = ?2",
                )?
                .query_row(params![repo.as_str(), t.as_str()], row)
                .optional(),
        })
    }

    async fn delete_manifest(&self, repo: &RepoName, digest: &Digest) -> Result<bool> {
        let (repo, digest) = (repo.to_string(), digest.to_string());
        self.write(move |tx| {
            let n = tx.execute(
                "DELETE FROM manifests WHERE repo = ?1 AND digest = ?2",
                params![repo, digest],
            )?;
            tx.execute(
                "DELETE FROM tags WHERE repo = ?1 AND digest = ?2",
                params![repo, digest],
            )?;
            Ok(n > 0)
        })
        .await
    }

    async fn delete_tag(&self, repo: &RepoName, tag: &Tag) -> Result<bool> {
        let (repo, tag) = (repo.to_string(), tag.to_string());
        self.write(move |tx| {
            Ok(tx.execute(
                "DELETE FROM tags WHERE repo = ?1 AND tag = ?2",
                params![repo, tag],
            )? > 0)
        })
        .await
    }

    async fn list_artifacts(&self, repo: &RepoName, limit: usize) -> Result<Vec<ArtifactSummary>> {
        self.read(|c| {
            let mut q = c.prepare_cached(
                "SELECT m.digest, m.media_type, m.artifact_type, length(m.body), m.pushed_at,
                        (SELECT group_concat(tag, char(10)) FROM
                            (SELECT tag FROM tags t WHERE t.repo = m.repo AND t.digest = m.digest ORDER BY tag))
                 FROM manifests m WHERE m.repo = ?1 ORDER BY m.pushed_at DESC, m.id DESC LIMIT ?2",
            )?;
            q.query_map(params![repo.as_str(), limit as i64], |r| {
                let tags: Option<String> = r.get(5)?;
                Ok(ArtifactSummary {
                    digest: parse_digest(r.get(0)?)?,
                    media_type: r.get(1)?,
                    artifact_type: r.get(2)?,
                    size: r.get::<_, i64>(3)? as u64,
                    pushed_at: r.get(4)?,
                    tags: tags
                        .map(|t| t.split('\n').map(str::to_string).collect())
                        .unwrap_or_default(),
                })
            })?
            .collect()
        })
    }

    async fn list_tags(
        &self,
        repo: &RepoName,
        last: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>> {
        self.read(|c| {
            let mut q = c.prepare_cached(
                "SELECT tag FROM tags WHERE repo = ?1 AND tag > ?2 ORDER BY tag LIMIT ?3",
            )?;
            q.query_map(
                params![repo.as_str(), last.unwrap_or(""), limit as i64],
                |r| r.get(0),
            )?
            .collect()
        })
    }

    async fn referrers(&self, repo: &RepoName, subject: &Digest) -> Result<Vec<Referrer>> {
        self.read(|c| {
            let mut q = c.prepare_cached(
                "SELECT digest, media_type, length(body), artifact_type, annotations
                 FROM manifests WHERE repo = ?1 AND subject = ?2 ORDER BY digest",
            )?;
            q.query_map(params![repo.as_str(), subject.to_string()], |r| {
                Ok(Referrer {
                    digest: parse_digest(r.get(0)?)?,
                    media_type: r.get(1)?,
                    size: r.get::<_, i64>(2)? as u64,
                    artifact_type: r.get(3)?,
                    annotations: annotations_from(r.get(4)?),
                })
            })?
            .collect()
        })
    }

    async fn list_repositories(
        &self,
        prefixes: &[String],
        last: Option<&str>,
        limit: usize,
    ) -> Result<Vec<RepoName>> {
        // One index range scan per prefix, merged: names under a prefix sort together.
        let mut names: Vec<String> = Vec::new();
        for prefix in prefixes {
            let from = match last {
                Some(l) if l > prefix.as_str() => l.to_string(),
                _ => String::new(),
            };
            let part: Vec<String> = self.read(|c| {
                let mut q = c.prepare_cached(
                    "SELECT name FROM repositories
                     WHERE name > ?1 AND substr(name, 1, length(?2)) = ?2 AND name >= ?2
                     ORDER BY name LIMIT ?3",
                )?;
                q.query_map(params![from, prefix, limit as i64], |r| r.get(0))?
                    .collect()
            })?;
            names.extend(part);
        }
        names.sort();
        names.dedup();
        names.truncate(limit);
        Ok(names
            .iter()
            .filter_map(|n| RepoName::parse(n).ok())
            .collect())
    }
}

#[async_trait]
impl Uploads for SqliteStore {
    async fn create_upload(&self, s: &UploadSession) -> Result<()> {
        let (id, repo, size, started) =
            (s.id.to_string(), s.repo.to_string(), s.size, s.started_at);
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO uploads (id, repo, size, started_at) VALUES (?1, ?2, ?3, ?4)",
                params![id, repo, size as i64, started],
            )?;
            Ok(())
        })
        .await
    }

    async fn get_upload(&self, id: &UploadId) -> Result<Option<UploadSession>> {
        let row = self.read(|c| {
            c.query_row(
                "SELECT repo, size, started_at FROM uploads WHERE id = ?1",
                [id.as_str()],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                },
            )
            .optional()
        })?;
        Ok(row.and_then(|(repo, size, started_at)| {
            Some(UploadSession {
                id: id.clone(),
                repo: RepoName::parse(&repo).ok()?,
                size: size as u64,
                started_at,
            })
        }))
    }

    async fn set_upload_size(&self, id: &UploadId, size: u64) -> Result<()> {
        let id = id.to_string();
        self.write(move |tx| {
            tx.execute(
                "UPDATE uploads SET size = ?2 WHERE id = ?1",
                params![id, size as i64],
            )?;
            Ok(())
        })
        .await
    }

    async fn delete_upload(&self, id: &UploadId) -> Result<()> {
        let id = id.to_string();
        self.write(move |tx| {
            tx.execute("DELETE FROM uploads WHERE id = ?1", [id])?;
            Ok(())
        })
        .await
    }
}
