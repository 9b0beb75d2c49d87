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
