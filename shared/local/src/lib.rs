//! Embedded adapters for `stowage serve`: blobs as files ([`FsBlobStore`]) and metadata in one
//! SQLite file ([`SqliteStore`]).
//!
//! Layout of a data directory (keep this table true):
//!
//! | path                              | what                                                   |
//! |-----------------------------------|--------------------------------------------------------|
//! | `blobs/<alg>/<2 hex>/<hex>`       | a verified blob, immutable, named by its digest        |
//! | `uploads/<id>`                    | bytes of an upload in progress                         |
//! | `stowage.db` (+ `-wal`, `-shm`)   | metadata: repositories, links, manifests, tags, uploads |
//!
//! Durability: a chunk is fsynced before its upload size is recorded; a blob is fsynced, renamed
//! into place and its directory fsynced before it is linked; metadata commits use WAL with
//! `synchronous=FULL`. So everything acknowledged to a client survives `kill -9`.
//!
//! These adapters must never hold a whole blob in memory, and never decide protocol questions
//! (that is `stowage_core::registry`).

mod fs_blobs;
mod sqlite;

pub use fs_blobs::FsBlobStore;
pub use sqlite::SqliteStore;

use std::path::Path;
use std::sync::Arc;
use stowage_core::registry::{Policy, Registry};

/// Opens (creating if needed) a data directory and builds a [`Registry`] over it.
pub fn open_registry(data: &Path, policy: Policy) -> stowage_core::Result<Registry> {
    std::fs::create_dir_all(data)?;
    let blobs = Arc::new(FsBlobStore::open(data)?);
    let meta = Arc::new(SqliteStore::open(&data.join("stowage.db"))?);
    Ok(Registry {
        blobs,
        catalog: meta.clone(),
        uploads: meta,
        policy,
    })
}
