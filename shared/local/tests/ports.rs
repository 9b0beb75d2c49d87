//! The local adapters against the port suites.

use std::sync::Arc;
use stowage_local::{FsBlobStore, SqliteStore};

#[tokio::test]
async fn fs_blob_store_passes_the_blob_store_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FsBlobStore::open(dir.path()).unwrap());
    stowage_testkit::blob_store::suite(store).await;
}

#[tokio::test]
async fn sqlite_store_passes_the_catalog_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("t.db")).unwrap());
    stowage_testkit::catalog::suite(store).await;
}

#[tokio::test]
async fn sqlite_store_keeps_everything_across_reopen() {
    use stowage_core::ports::Catalog;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let repo = stowage_core::RepoName::parse("acme/prod/app").unwrap();
    let d = stowage_core::Digest::sha256(b"x");
    {
        let s = SqliteStore::open(&path).unwrap();
        s.link_blob(&repo, &d, 1).await.unwrap();
    }
    let s = SqliteStore::open(&path).unwrap();
    assert_eq!(s.blob_link(&repo, &d).await.unwrap(), Some(1));
}

#[tokio::test]
async fn fs_blob_store_large_append_writes_back_while_streaming() {
    // Larger than the 64 MiB write-back interval, in uneven frames, to cover that path.
    use stowage_core::ports::BlobStore;
    use stowage_core::{Digest, UploadId};
    let dir = tempfile::tempdir().unwrap();
    let store = FsBlobStore::open(dir.path()).unwrap();
    let frame: Vec<u8> = (0..=250u8).cycle().take(1_000_003).collect();
    let frames: Vec<&[u8]> = std::iter::repeat_n(&frame[..], 70).collect();
    let id = UploadId::from_random([1; 16]);
    store.begin_upload(&id).await.unwrap();
    let size = store
        .append(&id, 0, stowage_testkit::stream_of(&frames))
        .await
        .unwrap();
    assert_eq!(size, 70 * 1_000_003);
    let whole: Vec<u8> = frames.concat();
    let digest = Digest::sha256(&whole);
    assert_eq!(store.complete(&id, size, &digest).await.unwrap(), size);
    let back = stowage_testkit::collect(store.get(&digest, None).await.unwrap().unwrap()).await;
    assert!(back == whole, "read back differs");
}

#[tokio::test]
async fn sqlite_store_passes_the_tenancy_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("t.db")).unwrap());
    stowage_testkit::tenancy::suite(store).await;
}

#[tokio::test]
async fn sqlite_store_passes_the_python_index_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("t.db")).unwrap());
    stowage_testkit::python_index::suite(store).await;
}
