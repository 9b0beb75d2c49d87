//! Test support shared by every adapter and router test.
//!
//! - [`blob_store::suite`] and [`catalog::suite`]: the contracts of the storage ports, written
//!   once; every adapter (local now, AWS later) must pass them unchanged.
//! - [`tenancy::suite`]: the same for tenancy, users, API tokens and the audit log.
//! - [`python_index::suite`]: the same for the Python index projection.
//! - [`user_sync::suite`]: the user-sync consumer and invitation acceptance over a metadata store.
//! - [`emulators`]: moto and s3s-fs on loopback for the AWS adapters' tests.
//! - [`fixtures`]: builders for blobs, image manifests and indexes.
//! - [`python`]: wheels, sdists, twine's upload form and body, and malformed archives.
//!
//! Nothing here is compiled into a shipped binary.

pub mod blob_store;
pub mod catalog;
pub mod emulators;
pub mod fixtures;
pub mod python;
pub mod python_index;
pub mod tenancy;
pub mod user_sync;

use bytes::Bytes;
use futures_util::TryStreamExt;
use stowage_core::ports::ByteStream;

/// A body stream of the given chunks.
pub fn stream_of(chunks: &[&[u8]]) -> ByteStream {
    let items: Vec<std::io::Result<Bytes>> = chunks
        .iter()
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    Box::pin(futures_util::stream::iter(items))
}

/// Reads a whole stream into memory (tests only: small blobs).
pub async fn collect(stream: ByteStream) -> Vec<u8> {
    stream
        .try_fold(Vec::new(), |mut acc, b| async move {
            acc.extend_from_slice(&b);
            Ok(acc)
        })
        .await
        .expect("stream read")
}
