//! Embedded adapters for `stowage serve`: blobs as files ([`FsBlobStore`]), metadata in one
//! SQLite file ([`SqliteStore`]) and domain events on an in-process channel ([`ChannelEvents`],
//! at most once across a restart).
//!
//! Layout of a data directory (keep this table true):
//!
//! | path                              | what                                                   |
//! |-----------------------------------|--------------------------------------------------------|
//! | `blobs/<alg>/<2 hex>/<hex>`       | a verified blob, immutable, named by its digest        |
//! | `uploads/<id>`                    | bytes of an upload in progress                         |
//! | `stowage.db` (+ `-wal`, `-shm`)   | metadata: repositories, links, manifests, tags, uploads, tenancy, users, tokens, audit, Python index |
//! | `keys/<time>-<kid>.pem`           | Ed25519 keys that sign registry tokens (mode 0600); the newest signs |
//!
//! Durability: a chunk is fsynced before its upload size is recorded; a blob is fsynced, renamed
//! into place and its directory fsynced before it is linked; metadata commits use WAL with
//! `synchronous=FULL`. So everything acknowledged to a client survives `kill -9`.
//!
//! These adapters must never hold a whole blob in memory, and never decide protocol questions
//! (that is `stowage_core::registry`).

mod events;
mod fs_blobs;
pub mod identity;
mod sqlite;
mod sqlite_python;
mod sqlite_tenancy;

pub use events::ChannelEvents;
pub use fs_blobs::FsBlobStore;
pub use sqlite::SqliteStore;

use std::path::Path;
use std::sync::Arc;
use stowage_core::registry::{Policy, Registry};

/// Everything `stowage serve` needs from one data directory.
pub struct LocalBackend {
    pub registry: Registry,
    /// The metadata store, which also implements tenancy, users, tokens and audit.
    pub store: Arc<SqliteStore>,
    /// Token signing keys, oldest first (the last one signs).
    pub keys: Vec<identity::SigningKeyFile>,
}

/// Opens (creating if needed) a data directory.
pub fn open(data: &Path, policy: Policy) -> stowage_core::Result<LocalBackend> {
    std::fs::create_dir_all(data)?;
    let blobs = Arc::new(FsBlobStore::open(data)?);
    let store = Arc::new(SqliteStore::open(&data.join("stowage.db"))?);
    let keys = identity::load_signing_keys(&data.join("keys"), sqlite::now())?;
    Ok(LocalBackend {
        registry: Registry {
            blobs,
            catalog: store.clone(),
            uploads: store.clone(),
            tenancy: store.clone(),
            policy,
        },
        store,
        keys,
    })
}

/// Opens only the metadata store of a data directory (for admin commands).
pub fn open_store(data: &Path) -> stowage_core::Result<SqliteStore> {
    std::fs::create_dir_all(data)?;
    SqliteStore::open(&data.join("stowage.db"))
}
