//! The S3 blob store against the blob store suite, on two S3 implementations: moto, and
//! s3s-fs (which checks every request's SigV4 signature). Upload states live in a DynamoDB
//! table on moto, as in the fleet. Then the parts of the store the suite's small blobs do not
//! reach: multipart parts and tails, an unacknowledged append across a part boundary, sha512 of
//! a multipart upload, presigned URLs.

use std::sync::Arc;
use stowage_aws::s3_blobs::{MIN_PART, S3BlobSettings, s3_client};
use stowage_aws::{AwsConfig, DynamoStore, S3BlobStore};
use stowage_core::ports::BlobStore;
use stowage_core::{Algorithm, Digest, Error, UploadId};
use stowage_testkit::emulators::{self, ACCESS_KEY, REGION, SECRET_KEY};
use stowage_testkit::{collect, stream_of};

async fn sdk(endpoint: String) -> aws_config::SdkConfig {
    AwsConfig {
        region: Some(REGION.into()),
        endpoint_url: Some(endpoint),
        static_credentials: Some((ACCESS_KEY.into(), SECRET_KEY.into())),
    }
    .load()
    .await
}

/// A store on a fresh bucket of the S3 at `s3_endpoint`, states in a fresh table on moto.
async fn store(s3_endpoint: String) -> S3BlobStore {
    let table = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&sdk(emulators::moto()).await),
        emulators::unique_name("blobs"),
    );
    table.create_table().await.unwrap();
    let client = s3_client(&sdk(s3_endpoint).await, true);
    let store = S3BlobStore::new(
        client,
        S3BlobSettings::new(emulators::unique_name("bucket")),
        Arc::new(table),
    );
    store.create_bucket().await.unwrap();
    store
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_be_bytes()[0] ^ seed)
        .collect()
}

#[tokio::test]
async fn s3_on_moto_passes_the_blob_store_suite() {
    stowage_testkit::blob_store::suite(Arc::new(store(emulators::moto()).await)).await;
}

#[tokio::test]
async fn s3_on_s3s_fs_passes_the_blob_store_suite() {
    stowage_testkit::blob_store::suite(Arc::new(store(emulators::s3s_fs()).await)).await;
}

#[tokio::test]
async fn s3s_fs_refuses_a_wrong_signature() {
    // The signature check is real: the same store with a wrong secret is refused.
    let good = store(emulators::s3s_fs()).await;
    let bad_sdk = AwsConfig {
        region: Some(REGION.into()),
        endpoint_url: Some(emulators::s3s_fs()),
        static_credentials: Some((ACCESS_KEY.into(), "not-the-secret".into())),
    }
    .load()
    .await;
    let bad = S3BlobStore::new(
        s3_client(&bad_sdk, true),
        S3BlobSettings::new("any-bucket"),
        Arc::new(DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&sdk(emulators::moto()).await),
            "unused",
        )),
    );
    let d = Digest::sha256(b"x");
    assert!(matches!(bad.stat(&d).await, Err(Error::Storage(_))));
    assert_eq!(good.stat(&d).await.unwrap(), None);
}

/// Many chunks below the part size (gathered in the tail), then a long streamed append that
/// crosses several parts, read back whole and in ranges.
async fn parts_and_tails(s: &S3BlobStore) {
    let body = pattern(3 * MIN_PART + 12_345, 1);
    let d = Digest::sha256(&body);
    let id = UploadId::from_random([10; 16]);
    s.begin_upload(&id).await.unwrap();
    // Three chunks of 2 MiB: the first two stay in the tail, the third makes a part of 6 MiB.
    let chunk = 2 * 1024 * 1024;
    let mut at = 0;
    for _ in 0..3 {
        let n = s
            .append(&id, at as u64, stream_of(&[&body[at..at + chunk]]))
            .await
            .unwrap();
        at += chunk;
        assert_eq!(n, at as u64);
    }
    // The rest (9 MiB) streamed in uneven frames: one part of 8 MiB, then a tail of 1 MiB,
    // which the completion copies in as the last part.
    let rest: Vec<&[u8]> = body[at..].chunks(700_001).collect();
    let n = s.append(&id, at as u64, stream_of(&rest)).await.unwrap();
    assert_eq!(n, body.len() as u64);
    assert_eq!(s.complete(&id, n, &d).await.unwrap(), n);
    assert_eq!(s.stat(&d).await.unwrap(), Some(n));
    let back = collect(s.get(&d, None).await.unwrap().unwrap()).await;
    assert!(back == body, "the blob read back differs");
    let r = MIN_PART as u64 - 10..MIN_PART as u64 + 10;
    assert_eq!(
        collect(s.get(&d, Some(r.clone())).await.unwrap().unwrap()).await,
        &body[r.start as usize..r.end as usize]
    );
}

/// An append that was never acknowledged, after a whole part, is replaced by the next append
/// at the acknowledged offset.
async fn unacknowledged_part_is_replaced(s: &S3BlobStore) {
    let first = pattern(MIN_PART + 100, 2);
    let lost = pattern(MIN_PART * 2, 3);
    let kept = pattern(MIN_PART + 7, 4);
    let id = UploadId::from_random([11; 16]);
    s.begin_upload(&id).await.unwrap();
    let n = s.append(&id, 0, stream_of(&[&first])).await.unwrap();
    s.append(&id, n, stream_of(&[&lost])).await.unwrap();
    let total = s.append(&id, n, stream_of(&[&kept])).await.unwrap();
    let whole = [first.clone(), kept.clone()].concat();
    assert_eq!(total, whole.len() as u64);
    let d = Digest::sha256(&whole);
    assert_eq!(s.complete(&id, total, &d).await.unwrap(), total);
    assert!(collect(s.get(&d, None).await.unwrap().unwrap()).await == whole);

    // A wrong digest of a multipart upload stores nothing and ends the upload.
    let id = UploadId::from_random([12; 16]);
    s.begin_upload(&id).await.unwrap();
    let n = s.append(&id, 0, stream_of(&[&lost])).await.unwrap();
    let claimed = Digest::sha256(b"something else");
    assert!(matches!(
        s.complete(&id, n, &claimed).await,
        Err(Error::DigestInvalid(_))
    ));
    assert_eq!(s.stat(&Digest::sha256(&lost)).await.unwrap(), None);
    assert!(matches!(
        s.append(&id, n, stream_of(&[b"x"])).await,
        Err(Error::BlobUploadUnknown)
    ));
}

async fn sha512_multipart_and_presigned(s: &S3BlobStore) {
    let body = pattern(MIN_PART + MIN_PART / 2, 5);
    let d = Digest::of(Algorithm::Sha512, &body);
    let id = UploadId::from_random([13; 16]);
    s.begin_upload(&id).await.unwrap();
    let (a, b) = body.split_at(MIN_PART + 3);
    let n = s.append(&id, 0, stream_of(&[a])).await.unwrap();
    let n = s.append(&id, n, stream_of(&[b])).await.unwrap();
    assert_eq!(s.complete(&id, n, &d).await.unwrap(), body.len() as u64);
    assert_eq!(
        s.presign_get(&d, 4 << 20).await.unwrap(),
        None,
        "small answers stream"
    );
    let url = s
        .presign_get(&d, body.len() as u64)
        .await
        .unwrap()
        .expect("a presigned URL");
    let got = reqwest::get(&url).await.unwrap();
    assert_eq!(got.status(), 200);
    assert!(got.bytes().await.unwrap() == body, "presigned GET differs");
}

#[tokio::test]
async fn s3_on_moto_multipart_uploads() {
    let s = store(emulators::moto()).await;
    parts_and_tails(&s).await;
    unacknowledged_part_is_replaced(&s).await;
    sha512_multipart_and_presigned(&s).await;
}

#[tokio::test]
async fn s3_on_s3s_fs_multipart_uploads() {
    let s = store(emulators::s3s_fs()).await;
    parts_and_tails(&s).await;
    unacknowledged_part_is_replaced(&s).await;
    sha512_multipart_and_presigned(&s).await;
}
