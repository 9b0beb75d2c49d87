//! The user-sync consumer and invitation acceptance over the SQLite store.

use std::sync::Arc;
use stowage_local::SqliteStore;

#[tokio::test]
async fn sqlite_store_passes_the_user_sync_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("t.db")).unwrap());
    stowage_testkit::user_sync::suite(store).await;
}
