//! The [`BlobStore`] contract, as one suite every adapter runs.

use crate::{collect, stream_of};
use std::sync::Arc;
use stowage_core::ports::BlobStore;
use stowage_core::{Algorithm, Digest, Error, UploadId};

fn id(n: u8) -> UploadId {
    UploadId::from_random([n; 16])
}

/// Runs every check against `store`, which must start empty.
pub async fn suite(store: Arc<dyn BlobStore>) {
    absent_blobs(&*store).await;
    upload_in_chunks_then_read(&*store).await;
    wrong_digest_stores_nothing(&*store).await;
    interrupted_append_is_discarded(&*store).await;
    sha512_and_empty_blobs(&*store).await;
    abort_and_delete(&*store).await;
    whole_blobs(&*store).await;
}

async fn absent_blobs(s: &dyn BlobStore) {
    let d = Digest::sha256(b"never stored");
    assert_eq!(s.stat(&d).await.unwrap(), None);
    assert!(s.get(&d, None).await.unwrap().is_none());
    assert!(!s.delete(&d).await.unwrap());
}

async fn upload_in_chunks_then_read(s: &dyn BlobStore) {
    let body = b"hello, chunked world".to_vec();
    let d = Digest::sha256(&body);
    let u = id(1);
    s.begin_upload(&u).await.unwrap();
    let n = s
        .append(&u, 0, stream_of(&[&body[..5], &body[5..7]]))
        .await
        .unwrap();
    assert_eq!(n, 7);
    let n = s.append(&u, 7, stream_of(&[&body[7..]])).await.unwrap();
    assert_eq!(n, body.len() as u64);
    assert_eq!(s.complete(&u, n, &d).await.unwrap(), n);
    assert_eq!(s.stat(&d).await.unwrap(), Some(n));
    assert_eq!(collect(s.get(&d, None).await.unwrap().unwrap()).await, body);
    assert_eq!(
        collect(s.get(&d, Some(7..12)).await.unwrap().unwrap()).await,
        &body[7..12]
    );
    // The finished upload is gone.
    assert!(matches!(
        s.append(&u, n, stream_of(&[b"more"])).await,
        Err(Error::BlobUploadUnknown)
    ));
    // Storing the same content again is harmless.
    let u2 = id(2);
    s.begin_upload(&u2).await.unwrap();
    let n2 = s.append(&u2, 0, stream_of(&[&body])).await.unwrap();
    assert_eq!(s.complete(&u2, n2, &d).await.unwrap(), n);
    assert_eq!(collect(s.get(&d, None).await.unwrap().unwrap()).await, body);
}

async fn wrong_digest_stores_nothing(s: &dyn BlobStore) {
    let u = id(3);
    s.begin_upload(&u).await.unwrap();
    let n = s
        .append(&u, 0, stream_of(&[b"actual content"]))
        .await
        .unwrap();
    let claimed = Digest::sha256(b"other content");
    assert!(matches!(
        s.complete(&u, n, &claimed).await,
        Err(Error::DigestInvalid(_))
    ));
    assert_eq!(s.stat(&claimed).await.unwrap(), None);
    assert_eq!(
        s.stat(&Digest::sha256(b"actual content")).await.unwrap(),
        None
    );
}

async fn interrupted_append_is_discarded(s: &dyn BlobStore) {
    // An append whose size was never acknowledged (the caller crashed before recording it) is
    // overwritten by the next append at the acknowledged offset.
    let u = id(4);
    s.begin_upload(&u).await.unwrap();
    s.append(&u, 0, stream_of(&[b"abc"])).await.unwrap();
    s.append(&u, 3, stream_of(&[b"UNACKED"])).await.unwrap();
    let n = s.append(&u, 3, stream_of(&[b"def"])).await.unwrap();
    assert_eq!(n, 6);
    let d = Digest::sha256(b"abcdef");
    assert_eq!(s.complete(&u, 6, &d).await.unwrap(), 6);
    assert_eq!(
        collect(s.get(&d, None).await.unwrap().unwrap()).await,
        b"abcdef"
    );
}

async fn sha512_and_empty_blobs(s: &dyn BlobStore) {
    let u = id(5);
    s.begin_upload(&u).await.unwrap();
    let n = s
        .append(&u, 0, stream_of(&[b"five", b"twelve"]))
        .await
        .unwrap();
    let d = Digest::of(Algorithm::Sha512, b"fivetwelve");
    assert_eq!(s.complete(&u, n, &d).await.unwrap(), 10);
    assert_eq!(
        collect(s.get(&d, None).await.unwrap().unwrap()).await,
        b"fivetwelve"
    );

    let u = id(6);
    s.begin_upload(&u).await.unwrap();
    let empty = Digest::sha256(b"");
    assert_eq!(s.complete(&u, 0, &empty).await.unwrap(), 0);
    assert_eq!(s.stat(&empty).await.unwrap(), Some(0));
    assert!(
        collect(s.get(&empty, None).await.unwrap().unwrap())
            .await
            .is_empty()
    );
}

async fn abort_and_delete(s: &dyn BlobStore) {
    let u = id(7);
    s.begin_upload(&u).await.unwrap();
    s.append(&u, 0, stream_of(&[b"doomed"])).await.unwrap();
    s.abort(&u).await.unwrap();
    s.abort(&u).await.unwrap();
    assert!(matches!(
        s.append(&u, 6, stream_of(&[b"x"])).await,
        Err(Error::BlobUploadUnknown)
    ));
    let d = Digest::sha256(b"hello, chunked world");
    assert!(s.delete(&d).await.unwrap());
    assert_eq!(s.stat(&d).await.unwrap(), None);
    assert!(!s.delete(&d).await.unwrap());
}

async fn whole_blobs(s: &dyn BlobStore) {
    let body = b"a whole blob in one request".to_vec();
    let d = Digest::sha256(&body);
    let n = body.len() as u64;
    assert_eq!(
        s.put_whole(&id(20), &d, Some(n), stream_of(&[&body[..4], &body[4..]]))
            .await
            .unwrap(),
        n
    );
    assert_eq!(collect(s.get(&d, None).await.unwrap().unwrap()).await, body);
    // Without a declared length, and under sha512.
    let d512 = Digest::of(Algorithm::Sha512, &body);
    assert_eq!(
        s.put_whole(&id(21), &d512, None, stream_of(&[&body]))
            .await
            .unwrap(),
        n
    );
    assert_eq!(s.stat(&d512).await.unwrap(), Some(n));
    // A wrong digest, a short body and a long body store nothing.
    let other = b"another whole blob".to_vec();
    let od = Digest::sha256(&other);
    assert!(matches!(
        s.put_whole(
            &id(22),
            &Digest::sha256(b"x"),
            Some(other.len() as u64),
            stream_of(&[&other])
        )
        .await,
        Err(Error::DigestInvalid(_))
    ));
    assert!(matches!(
        s.put_whole(
            &id(23),
            &od,
            Some(other.len() as u64 + 1),
            stream_of(&[&other])
        )
        .await,
        Err(Error::BlobUploadInvalid(_))
    ));
    assert!(matches!(
        s.put_whole(
            &id(24),
            &od,
            Some(other.len() as u64 - 1),
            stream_of(&[&other])
        )
        .await,
        Err(Error::BlobUploadInvalid(_))
    ));
    assert_eq!(s.stat(&od).await.unwrap(), None);
    assert_eq!(s.stat(&Digest::sha256(b"x")).await.unwrap(), None);
    // The empty blob.
    let empty = Digest::sha256(b"");
    assert_eq!(
        s.put_whole(&id(25), &empty, Some(0), stream_of(&[]))
            .await
            .unwrap(),
        0
    );
    assert_eq!(s.stat(&empty).await.unwrap(), Some(0));
}
