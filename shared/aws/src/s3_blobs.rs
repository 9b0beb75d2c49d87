//! The [`BlobStore`] on S3.
//!
//! Key layout in the bucket:
//!
//! | key | what |
//! |---|---|
//! | `blobs/<alg>/<2 hex>/<hex>` | verified blobs, immutable, content-addressed |
//! | `uploads/<id>/tail-<size>` | the bytes of an upload after its last whole part, when it had `size` bytes |
//! | `uploads/<id>/data` | the S3 multipart upload of an upload's parts, completed only to be copied |
//!
//! A deployment puts a lifecycle rule on `uploads/`: abort incomplete multipart uploads and
//! expire objects after a day, for uploads a client never finished.
//!
//! Uploads are stateless across requests, as Lambda needs: everything an append or a
//! completion needs is a [`MultipartState`] kept by a [`MultipartStates`] store (the DynamoDB
//! table), one state per acknowledged size. A state holds the S3 multipart upload id, the parts
//! uploaded so far (number, size, ETag), the tail's size and ETag, and the running SHA-256
//! ([`ResumableSha256`]), so completing never re-reads the bytes of a sha256 blob. An append at
//! offset `n` starts from the state at `n`, whatever later appends that were never
//! acknowledged left behind; parts they uploaded are overwritten or left out, and the ETags in
//! the state make a completion fail rather than assemble bytes the state did not hash.
//!
//! S3 multipart parts must be at least 5 MiB (all but the last), so bytes are gathered in
//! memory into parts of `part_size`; what is left at the end of a request (under 5 MiB) is
//! written as the tail object and read back by the next append. A long streamed append has at
//! most one part being uploaded while the next one fills: memory stays at about two parts
//! whatever the blob's size.
//!
//! A completion checks the digest before anything is visible: the running SHA-256 at once, a
//! sha512 by reading the assembled object back. Only then is the blob copied to its
//! content-addressed key (one atomic object write; above 5 GiB, a multipart copy).
//!
//! This module decides nothing about repositories or access; it never logs a body or a secret.

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream as S3Body;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;
use stowage_core::ports::{BlobStore, ByteStream, put_whole_in_session};
use stowage_core::{Algorithm, Digest, Error, Hasher, Result, ResumableSha256, UploadId};

/// S3's smallest part (all but the last part of a multipart upload).
pub const MIN_PART: usize = 5 * 1024 * 1024;
/// S3's largest single-request copy.
const MAX_COPY: u64 = 5 * 1024 * 1024 * 1024;
/// Part size of a multipart copy.
const COPY_PART: u64 = 512 * 1024 * 1024;
/// S3's highest part number.
const MAX_PARTS: i32 = 10_000;

/// One uploaded part of an upload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartRecord {
    pub number: i32,
    pub size: u64,
    pub etag: String,
}

/// Everything an upload needs between requests, at one acknowledged size.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MultipartState {
    /// Bytes received: the parts' and the tail's.
    pub size: u64,
    /// The S3 multipart upload of `uploads/<id>/data`, created with the first part.
    pub s3_upload: Option<String>,
    pub parts: Vec<PartRecord>,
    /// Bytes in `uploads/<id>/tail-<size>` (fewer than a part).
    pub tail: u64,
    pub tail_etag: Option<String>,
    /// SHA-256 of the `size` bytes.
    pub sha256: ResumableSha256,
}

impl MultipartState {
    fn empty() -> MultipartState {
        MultipartState {
            size: 0,
            s3_upload: None,
            parts: Vec::new(),
            tail: 0,
            tail_etag: None,
            sha256: ResumableSha256::new(),
        }
    }
}

/// Where upload states live between requests.
#[async_trait]
pub trait MultipartStates: Send + Sync + 'static {
    /// Stores `state` under (`id`, `state.size`), replacing a state of that size; states at
    /// other sizes are kept. Durable on return.
    async fn put_state(&self, id: &UploadId, state: &MultipartState) -> Result<()>;
    /// The state of upload `id` at `size`, or `None`.
    async fn get_state(&self, id: &UploadId, size: u64) -> Result<Option<MultipartState>>;
    /// Every state of upload `id`, in any order (to clean up).
    async fn all_states(&self, id: &UploadId) -> Result<Vec<MultipartState>>;
    /// Forgets every state of upload `id`. Idempotent.
    async fn delete_states(&self, id: &UploadId) -> Result<()>;
}

/// How the store behaves.
#[derive(Clone, Debug)]
pub struct S3BlobSettings {
    pub bucket: String,
    /// Bytes per part of a streamed append (at least [`MIN_PART`]).
    pub part_size: usize,
    /// Lifetime of presigned GET URLs; `None` streams blobs through the server instead.
    pub presign_ttl: Option<Duration>,
    /// Answers of at most this many bytes are streamed by the server, larger ones redirected
    /// to a presigned URL. The client fetches from S3 either way (one GetObject), but a small
    /// blob streamed saves it a round trip and keeps `Docker-Content-Digest` on the answer;
    /// 4 MiB fits a Lambda answer (6 MB, base64-encoded).
    pub stream_max: u64,
    /// Announced as `OCI-Chunk-Min-Length`. Smaller chunks work (they gather in the tail),
    /// at the cost of reading the tail back once per chunk.
    pub min_chunk: Option<u64>,
}

impl S3BlobSettings {
    pub fn new(bucket: impl Into<String>) -> S3BlobSettings {
        S3BlobSettings {
            bucket: bucket.into(),
            part_size: 8 * 1024 * 1024,
            presign_ttl: Some(Duration::from_secs(300)),
            stream_max: 4 * 1024 * 1024,
            min_chunk: Some(1024 * 1024),
        }
    }
}

/// Blobs in one S3 bucket.
pub struct S3BlobStore {
    client: Client,
    settings: S3BlobSettings,
    states: Arc<dyn MultipartStates>,
}

/// An S3 client for `config`; `path_style` for emulators that have no per-bucket host names.
pub fn s3_client(config: &aws_config::SdkConfig, path_style: bool) -> Client {
    use aws_sdk_s3::config::{RequestChecksumCalculation, ResponseChecksumValidation};
    let conf = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(path_style)
        // Content is verified by its digest; CRC32 trailers would only cost CPU.
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
        .interceptor(crate::metrics::CountCalls)
        .build();
    Client::from_conf(conf)
}

/// An S3 error as a storage failure naming the operation (never a body or a credential).
fn s3_error<E, R>(op: &'static str) -> impl FnOnce(aws_sdk_s3::error::SdkError<E, R>) -> Error
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    move |e| {
        Error::Storage(format!(
            "S3 {op}: {}",
            aws_sdk_s3::error::DisplayErrorContext(e)
        ))
    }
}

fn blob_key(d: &Digest) -> String {
    format!(
        "blobs/{}/{}/{}",
        d.algorithm().as_str(),
        &d.hex()[..2],
        d.hex()
    )
}

fn data_key(id: &UploadId) -> String {
    format!("uploads/{id}/data")
}

fn tail_key(id: &UploadId, size: u64) -> String {
    format!("uploads/{id}/tail-{size}")
}

impl S3BlobStore {
    pub fn new(
        client: Client,
        mut settings: S3BlobSettings,
        states: Arc<dyn MultipartStates>,
    ) -> S3BlobStore {
        settings.part_size = settings.part_size.max(MIN_PART);
        S3BlobStore {
            client,
            settings,
            states,
        }
    }

    fn bucket(&self) -> &str {
        &self.settings.bucket
    }

    /// Creates the bucket (tests and emulators; a deployment makes it with its infrastructure).
    pub async fn create_bucket(&self) -> Result<()> {
        self.client
            .create_bucket()
            .bucket(self.bucket())
            .send()
            .await
            .map_err(s3_error("create_bucket"))?;
        Ok(())
    }

    async fn head(&self, key: &str) -> Result<Option<u64>> {
        match self
            .client
            .head_object()
            .bucket(self.bucket())
            .key(key)
            .send()
            .await
        {
            Ok(o) => Ok(Some(o.content_length().unwrap_or(0).max(0) as u64)),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(None),
            Err(e) => Err(s3_error("head_object")(e)),
        }
    }

    async fn put_object(&self, key: &str, body: Bytes) -> Result<Option<String>> {
        let out = self
            .client
            .put_object()
            .bucket(self.bucket())
            .key(key)
            .body(S3Body::from(body))
            .send()
            .await
            .map_err(s3_error("put_object"))?;
        Ok(out.e_tag().map(str::to_string))
    }

    async fn delete_object(&self, key: &str) -> Result<()> {
        self.client
            .delete_object()
            .bucket(self.bucket())
            .key(key)
            .send()
            .await
            .map_err(s3_error("delete_object"))?;
        Ok(())
    }

    /// The tail of `state` (of upload `id`), checked against its ETag.
    async fn read_tail(&self, id: &UploadId, state: &MultipartState) -> Result<BytesMut> {
        let mut req = self
            .client
            .get_object()
            .bucket(self.bucket())
            .key(tail_key(id, state.size));
        if let Some(etag) = &state.tail_etag {
            req = req.if_match(etag);
        }
        let out = req.send().await.map_err(s3_error("get_object"))?;
        let bytes = out
            .body
            .collect()
            .await
            .map_err(Error::storage)?
            .into_bytes();
        if bytes.len() as u64 != state.tail {
            return Err(Error::Storage(format!(
                "upload {id}: the tail has {} bytes, its state says {}",
                bytes.len(),
                state.tail
            )));
        }
        Ok(BytesMut::from(&bytes[..]))
    }

    async fn ensure_multipart(&self, id: &UploadId, state: &mut MultipartState) -> Result<String> {
        if let Some(u) = &state.s3_upload {
            return Ok(u.clone());
        }
        let out = self
            .client
            .create_multipart_upload()
            .bucket(self.bucket())
            .key(data_key(id))
            .send()
            .await
            .map_err(s3_error("create_multipart_upload"))?;
        let upload = out
            .upload_id()
            .ok_or_else(|| Error::Storage("S3 returned no multipart upload id".into()))?
            .to_string();
        state.s3_upload = Some(upload.clone());
        Ok(upload)
    }

    /// Uploads one part, in a task of its own (so the next part can fill meanwhile).
    fn spawn_part(
        &self,
        id: &UploadId,
        upload: String,
        number: i32,
        body: Bytes,
    ) -> tokio::task::JoinHandle<Result<PartRecord>> {
        let client = self.client.clone();
        let bucket = self.bucket().to_string();
        let key = data_key(id);
        tokio::spawn(async move {
            let size = body.len() as u64;
            let out = client
                .upload_part()
                .bucket(bucket)
                .key(key)
                .upload_id(upload)
                .part_number(number)
                .body(S3Body::from(body))
                .send()
                .await
                .map_err(s3_error("upload_part"))?;
            let etag = out
                .e_tag()
                .ok_or_else(|| Error::Storage("S3 returned no ETag for a part".into()))?
                .to_string();
            Ok(PartRecord { number, size, etag })
        })
    }

    /// Assembles the upload of `state` into one object and returns its key (`None` for an
    /// empty upload): the tail object itself when there are no parts, else the completed
    /// multipart upload of `uploads/<id>/data` (the tail copied in as its last part).
    async fn assemble(&self, id: &UploadId, state: &MultipartState) -> Result<Option<String>> {
        let Some(upload) = &state.s3_upload else {
            return Ok((state.tail > 0).then(|| tail_key(id, state.size)));
        };
        let mut parts: Vec<CompletedPart> = state
            .parts
            .iter()
            .map(|p| {
                CompletedPart::builder()
                    .part_number(p.number)
                    .e_tag(&p.etag)
                    .build()
            })
            .collect();
        if state.tail > 0 {
            let number = state.parts.last().map_or(1, |p| p.number + 1);
            let mut req = self
                .client
                .upload_part_copy()
                .bucket(self.bucket())
                .key(data_key(id))
                .upload_id(upload)
                .part_number(number)
                .copy_source(format!("{}/{}", self.bucket(), tail_key(id, state.size)));
            if let Some(etag) = &state.tail_etag {
                req = req.copy_source_if_match(etag);
            }
            let out = req.send().await.map_err(s3_error("upload_part_copy"))?;
            let etag = out
                .copy_part_result()
                .and_then(|r| r.e_tag())
                .ok_or_else(|| Error::Storage("S3 returned no ETag for a copied part".into()))?;
            parts.push(
                CompletedPart::builder()
                    .part_number(number)
                    .e_tag(etag)
                    .build(),
            );
        }
        self.complete_multipart(&data_key(id), upload, parts)
            .await?;
        Ok(Some(data_key(id)))
    }

    /// The digest of an object under `alg`, read back.
    async fn hash_object(&self, key: &str, alg: Algorithm) -> Result<Digest> {
        let out = self
            .client
            .get_object()
            .bucket(self.bucket())
            .key(key)
            .send()
            .await
            .map_err(s3_error("get_object"))?;
        let mut hasher = Hasher::new(alg);
        let mut body = out.body;
        while let Some(chunk) = body.next().await {
            hasher.update(&chunk.map_err(Error::storage)?);
        }
        Ok(hasher.finish())
    }

    /// Copies `from` (of `size` bytes) to `to`: one CopyObject up to 5 GiB, a multipart copy
    /// beyond.
    async fn copy(&self, from: &str, to: &str, size: u64) -> Result<()> {
        let source = format!("{}/{}", self.bucket(), from);
        if size <= MAX_COPY {
            self.client
                .copy_object()
                .bucket(self.bucket())
                .key(to)
                .copy_source(source)
                .send()
                .await
                .map_err(s3_error("copy_object"))?;
            return Ok(());
        }
        let out = self
            .client
            .create_multipart_upload()
            .bucket(self.bucket())
            .key(to)
            .send()
            .await
            .map_err(s3_error("create_multipart_upload"))?;
        let upload = out
            .upload_id()
            .ok_or_else(|| Error::Storage("S3 returned no multipart upload id".into()))?
            .to_string();
        let mut parts = Vec::new();
        let mut start = 0u64;
        let mut number = 1;
        while start < size {
            let end = (start + COPY_PART).min(size) - 1;
            let res = self
                .client
                .upload_part_copy()
                .bucket(self.bucket())
                .key(to)
                .upload_id(&upload)
                .part_number(number)
                .copy_source(&source)
                .copy_source_range(format!("bytes={start}-{end}"))
                .send()
                .await;
            let etag = match res {
                Ok(o) => o
                    .copy_part_result()
                    .and_then(|r| r.e_tag())
                    .map(str::to_string),
                Err(e) => {
                    let _ = self.abort_multipart(to, &upload).await;
                    return Err(s3_error("upload_part_copy")(e));
                }
            };
            let Some(etag) = etag else {
                let _ = self.abort_multipart(to, &upload).await;
                return Err(Error::Storage(
                    "S3 returned no ETag for a copied part".into(),
                ));
            };
            parts.push(
                CompletedPart::builder()
                    .part_number(number)
                    .e_tag(etag)
                    .build(),
            );
            start = end + 1;
            number += 1;
        }
        self.complete_multipart(to, &upload, parts).await
    }

    async fn complete_multipart(
        &self,
        key: &str,
        upload: &str,
        parts: Vec<CompletedPart>,
    ) -> Result<()> {
        self.client
            .complete_multipart_upload()
            .bucket(self.bucket())
            .key(key)
            .upload_id(upload)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(s3_error("complete_multipart_upload"))?;
        Ok(())
    }

    async fn abort_multipart(&self, key: &str, upload: &str) -> Result<()> {
        match self
            .client
            .abort_multipart_upload()
            .bucket(self.bucket())
            .key(key)
            .upload_id(upload)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_upload()) => Ok(()),
            Err(e) => Err(s3_error("abort_multipart_upload")(e)),
        }
    }

    /// Removes everything an upload left: its multipart uploads (but `completed`, which no
    /// longer exists), tails, assembled data and states. Idempotent. A multipart upload of a
    /// discarded append that cannot be aborted is left to the bucket's lifecycle rule.
    async fn clean_up(&self, id: &UploadId, completed: Option<&str>) -> Result<()> {
        let states = self.states.all_states(id).await?;
        let mut uploads: Vec<&str> = states
            .iter()
            .filter_map(|s| s.s3_upload.as_deref())
            .filter(|u| Some(*u) != completed)
            .collect();
        uploads.sort_unstable();
        uploads.dedup();
        for upload in uploads {
            if let Err(e) = self.abort_multipart(&data_key(id), upload).await {
                tracing::warn!(upload = %id, error = %e, "cannot abort a multipart upload; the lifecycle rule will");
            }
        }
        for s in states.iter().filter(|s| s.tail > 0) {
            self.delete_object(&tail_key(id, s.size)).await?;
        }
        if completed.is_some() {
            self.delete_object(&data_key(id)).await?;
        }
        self.states.delete_states(id).await
    }
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn stat(&self, digest: &Digest) -> Result<Option<u64>> {
        self.head(&blob_key(digest)).await
    }

    async fn get(&self, digest: &Digest, range: Option<Range<u64>>) -> Result<Option<ByteStream>> {
        if let Some(r) = &range
            && r.start >= r.end
        {
            // An empty range: nothing to fetch, but the blob must exist.
            return Ok(self
                .stat(digest)
                .await?
                .map(|_| Box::pin(futures_util::stream::empty()) as ByteStream));
        }
        let mut req = self
            .client
            .get_object()
            .bucket(self.bucket())
            .key(blob_key(digest));
        if let Some(r) = &range {
            req = req.range(format!("bytes={}-{}", r.start, r.end - 1));
        }
        let out = match req.send().await {
            Ok(o) => o,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
            Err(e) => return Err(s3_error("get_object")(e)),
        };
        let reader = out.body.into_async_read();
        let stream = tokio_util::io::ReaderStream::with_capacity(reader, 256 * 1024);
        Ok(Some(Box::pin(stream)))
    }

    async fn presign_get(&self, digest: &Digest, bytes: u64) -> Result<Option<String>> {
        let Some(ttl) = self.settings.presign_ttl else {
            return Ok(None);
        };
        if bytes <= self.settings.stream_max {
            return Ok(None);
        }
        let config = PresigningConfig::expires_in(ttl).map_err(Error::storage)?;
        let req = self
            .client
            .get_object()
            .bucket(self.bucket())
            .key(blob_key(digest))
            .presigned(config)
            .await
            .map_err(s3_error("get_object"))?;
        Ok(Some(req.uri().to_string()))
    }

    fn min_chunk_length(&self) -> Option<u64> {
        self.settings.min_chunk
    }

    async fn delete(&self, digest: &Digest) -> Result<bool> {
        let key = blob_key(digest);
        if self.head(&key).await?.is_none() {
            return Ok(false);
        }
        self.delete_object(&key).await?;
        Ok(true)
    }

    async fn begin_upload(&self, id: &UploadId) -> Result<()> {
        self.states.put_state(id, &MultipartState::empty()).await
    }

    async fn append(&self, id: &UploadId, offset: u64, mut body: ByteStream) -> Result<u64> {
        let mut state = self
            .states
            .get_state(id, offset)
            .await?
            .ok_or(Error::BlobUploadUnknown)?;
        let part_size = self.settings.part_size;
        let mut buf = if state.tail > 0 {
            self.read_tail(id, &state).await?
        } else {
            BytesMut::new()
        };
        let mut next = state.parts.last().map_or(1, |p| p.number + 1);
        let mut in_flight: Option<tokio::task::JoinHandle<Result<PartRecord>>> = None;
        let result: Result<()> = async {
            while let Some(frame) = body.next().await {
                let frame = frame.map_err(|e| {
                    Error::BlobUploadInvalid(format!("request body ended early: {e}"))
                })?;
                state.sha256.update(&frame);
                state.size += frame.len() as u64;
                buf.extend_from_slice(&frame);
                while buf.len() >= part_size {
                    let part = buf.split_to(part_size).freeze();
                    let mut rest = BytesMut::with_capacity(part_size);
                    rest.extend_from_slice(&buf);
                    buf = rest;
                    if let Some(h) = in_flight.take() {
                        state.parts.push(h.await.map_err(Error::storage)??);
                    }
                    if next > MAX_PARTS {
                        return Err(Error::BlobUploadInvalid(format!(
                            "the upload is larger than this registry's limit of {} parts of {} bytes",
                            MAX_PARTS, part_size
                        )));
                    }
                    let upload = self.ensure_multipart(id, &mut state).await?;
                    in_flight = Some(self.spawn_part(id, upload, next, part));
                    next += 1;
                }
            }
            if let Some(h) = in_flight.take() {
                state.parts.push(h.await.map_err(Error::storage)??);
            }
            Ok(())
        }
        .await;
        if let Err(e) = result {
            if let Some(h) = in_flight.take() {
                h.abort();
            }
            return Err(e);
        }
        // What is left: a part when S3 takes it as one, else the tail.
        state.tail = 0;
        state.tail_etag = None;
        if buf.len() >= MIN_PART {
            let upload = self.ensure_multipart(id, &mut state).await?;
            let part = self
                .spawn_part(id, upload, next, buf.freeze())
                .await
                .map_err(Error::storage)??;
            state.parts.push(part);
        } else if !buf.is_empty() {
            state.tail = buf.len() as u64;
            state.tail_etag = self
                .put_object(&tail_key(id, state.size), buf.freeze())
                .await?;
        }
        self.states.put_state(id, &state).await?;
        Ok(state.size)
    }

    async fn complete(&self, id: &UploadId, size: u64, expected: &Digest) -> Result<u64> {
        let state = self
            .states
            .get_state(id, size)
            .await?
            .ok_or(Error::BlobUploadUnknown)?;
        let mismatch = |actual: Digest| {
            Error::DigestInvalid(format!(
                "uploaded content has digest {actual}, not {expected}"
            ))
        };
        if expected.algorithm() == Algorithm::Sha256 {
            let actual = state.sha256.finish();
            if &actual != expected {
                self.clean_up(id, None).await?;
                return Err(mismatch(actual));
            }
        }
        let source = match self.assemble(id, &state).await {
            Ok(s) => s,
            Err(e) => {
                let _ = self.clean_up(id, None).await;
                return Err(e);
            }
        };
        let completed = state.s3_upload.as_deref();
        if expected.algorithm() != Algorithm::Sha256 {
            let actual = match &source {
                Some(key) => self.hash_object(key, expected.algorithm()).await?,
                None => Digest::of(expected.algorithm(), b""),
            };
            if &actual != expected {
                self.clean_up(id, completed).await?;
                return Err(mismatch(actual));
            }
        }
        let target = blob_key(expected);
        match &source {
            Some(key) => self.copy(key, &target, size).await?,
            None => {
                self.put_object(&target, Bytes::new()).await?;
            }
        }
        // The blob is stored and verified: a failure to tidy up must not fail the push.
        if let Err(e) = self.clean_up(id, completed).await {
            tracing::warn!(upload = %id, error = %e, "cannot remove a finished upload's parts");
            self.states.delete_states(id).await?;
        }
        Ok(size)
    }

    async fn abort(&self, id: &UploadId) -> Result<()> {
        self.clean_up(id, None).await
    }

    /// A blob of at most one part's size with a declared length is gathered in memory,
    /// verified and written with one PutObject (no state, no tail, no copy); others go
    /// through an upload session.
    async fn put_whole(
        &self,
        id: &UploadId,
        expected: &Digest,
        length: Option<u64>,
        mut body: ByteStream,
    ) -> Result<u64> {
        let Some(len) = length.filter(|&l| l <= self.settings.part_size as u64) else {
            return put_whole_in_session(self, id, expected, length, body).await;
        };
        let mut buf = BytesMut::with_capacity(len as usize);
        let mut hasher = Hasher::new(expected.algorithm());
        while let Some(frame) = body.next().await {
            let frame = frame
                .map_err(|e| Error::BlobUploadInvalid(format!("request body ended early: {e}")))?;
            if buf.len() + frame.len() > len as usize {
                return Err(Error::BlobUploadInvalid(format!(
                    "received more than the {len} bytes Content-Length said"
                )));
            }
            hasher.update(&frame);
            buf.extend_from_slice(&frame);
        }
        if buf.len() as u64 != len {
            return Err(Error::BlobUploadInvalid(format!(
                "received {} bytes but Content-Length said {len}",
                buf.len()
            )));
        }
        let actual = hasher.finish();
        if &actual != expected {
            return Err(Error::DigestInvalid(format!(
                "uploaded content has digest {actual}, not {expected}"
            )));
        }
        self.put_object(&blob_key(expected), buf.freeze()).await?;
        Ok(len)
    }
}
