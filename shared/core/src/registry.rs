//! The registry service: the OCI Distribution operations, written once over the ports.
//!
//! Routers (HTTP, Lambda) translate requests into these calls and [`Error`]s into protocol
//! answers; every shell gets the same behaviour. This module decides what is valid and in what
//! order state changes; it never touches HTTP, files or SQL directly.

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::manifest;
use crate::names::{Reference, RepoName, Tag, UploadId};
use crate::ports::{
    BlobStore, ByteStream, Catalog, ManifestRecord, Referrer, Tenancy, UploadSession, Uploads,
};
use crate::tenancy::RegistryInfo;
use bytes::Bytes;
use std::ops::Range;
use std::sync::Arc;

/// Choices a registry operator makes.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    /// Accept manifests whose layers or child manifests are not (yet) in the repository
    /// ("sparse" images and indexes, as partial mirrors produce). Off by default: a manifest
    /// that references a missing blob or manifest is refused with `MANIFEST_BLOB_UNKNOWN`.
    pub allow_sparse: bool,
}

/// A byte range of an upload chunk as the client announced it (`Content-Range: start-end`,
/// both inclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkRange {
    pub start: u64,
    pub end: u64,
}

/// The result of a manifest push.
#[derive(Clone, Debug)]
pub struct PushedManifest {
    pub digest: Digest,
    pub subject: Option<Digest>,
    pub tags: Vec<Tag>,
}

/// The OCI Distribution operations over a set of ports.
#[derive(Clone)]
pub struct Registry {
    pub blobs: Arc<dyn BlobStore>,
    pub catalog: Arc<dyn Catalog>,
    pub uploads: Arc<dyn Uploads>,
    pub tenancy: Arc<dyn Tenancy>,
    pub policy: Policy,
}

impl Registry {
    /// The registry a repository lives in; `NAME_UNKNOWN` when it does not exist (writes go
    /// only to registries an admin created).
    pub async fn registry_of(&self, repo: &RepoName) -> Result<RegistryInfo> {
        self.tenancy
            .get_registry(repo.org(), repo.registry())
            .await?
            .ok_or_else(|| Error::RegistryUnknown(format!("{}/{}", repo.org(), repo.registry())))
    }

    /// Refuses to move or remove `tags` in a registry with immutable tags (a tag may be set
    /// again to the manifest it already names).
    async fn check_tags_mutable(
        &self,
        registry: &RegistryInfo,
        repo: &RepoName,
        tags: &[Tag],
        new_target: Option<&Digest>,
    ) -> Result<()> {
        if !registry.settings.immutable_tags {
            return Ok(());
        }
        for tag in tags {
            if let Some(existing) = self
                .catalog
                .get_manifest(repo, &Reference::Tag(tag.clone()))
                .await?
                && Some(&existing.digest) != new_target
            {
                return Err(Error::Denied(format!(
                    "tag {tag} is immutable in registry {}/{}",
                    registry.org, registry.name
                )));
            }
        }
        Ok(())
    }

    // ---- blobs -------------------------------------------------------------------------

    /// The size of a blob linked in `repo` (answered from metadata alone).
    pub async fn blob_size(&self, repo: &RepoName, digest: &Digest) -> Result<u64> {
        self.catalog
            .blob_link(repo, digest)
            .await?
            .ok_or(Error::BlobUnknown)
    }

    /// Bytes of a blob linked in `repo`; `range` is already resolved against its size.
    pub async fn blob_bytes(
        &self,
        digest: &Digest,
        range: Option<Range<u64>>,
    ) -> Result<ByteStream> {
        self.blobs
            .get(digest, range)
            .await?
            .ok_or_else(|| Error::Storage(format!("blob {digest} is linked but not stored")))
    }

    /// Removes a blob from `repo`; its bytes go when no repository links it any more.
    pub async fn delete_blob(&self, repo: &RepoName, digest: &Digest) -> Result<()> {
        if !self.catalog.unlink_blob(repo, digest).await? {
            return Err(Error::BlobUnknown);
        }
        if !self.catalog.blob_linked_anywhere(digest).await? {
            self.blobs.delete(digest).await?;
        }
        Ok(())
    }

    /// Links an existing blob into `repo` without moving bytes. With `from`, the blob must be in
    /// that repository (the caller checked it may pull from there); without, in any repository
    /// of the same registry (what every caller able to push here may read). `None` when there
    /// is nothing to mount (the caller then starts an upload).
    pub async fn mount(
        &self,
        repo: &RepoName,
        digest: &Digest,
        from: Option<&RepoName>,
    ) -> Result<Option<u64>> {
        let size = match from {
            Some(from) => self.catalog.blob_link(from, digest).await?,
            None => {
                let prefix = format!("{}/{}/", repo.org(), repo.registry());
                self.catalog.find_blob(&prefix, digest).await?
            }
        };
        let Some(size) = size else { return Ok(None) };
        self.registry_of(repo).await?;
        if self.blobs.stat(digest).await?.is_none() {
            return Ok(None);
        }
        self.catalog.link_blob(repo, digest, size).await?;
        Ok(Some(size))
    }

    // ---- uploads -----------------------------------------------------------------------

    pub async fn start_upload(
        &self,
        repo: &RepoName,
        id: UploadId,
        now: i64,
    ) -> Result<UploadSession> {
        self.registry_of(repo).await?;
        self.blobs.begin_upload(&id).await?;
        let session = UploadSession {
            id,
            repo: repo.clone(),
            size: 0,
            started_at: now,
        };
        self.uploads.create_upload(&session).await?;
        Ok(session)
    }

    /// Stores a blob sent whole in one request (`POST ?digest=` with the body) and links it in
    /// `repo`, without an upload session. `id` is a fresh upload id for the store's own use.
    pub async fn put_blob(
        &self,
        repo: &RepoName,
        id: UploadId,
        digest: &Digest,
        length: Option<u64>,
        body: ByteStream,
    ) -> Result<u64> {
        self.registry_of(repo).await?;
        let size = self.blobs.put_whole(&id, digest, length, body).await?;
        self.catalog.link_blob(repo, digest, size).await?;
        Ok(size)
    }

    /// The session, if it exists and belongs to `repo`.
    pub async fn upload(&self, repo: &RepoName, id: &UploadId) -> Result<UploadSession> {
        match self.uploads.get_upload(id).await? {
            Some(s) if &s.repo == repo => Ok(s),
            _ => Err(Error::BlobUploadUnknown),
        }
    }

    /// Appends one chunk. `range`, when the client sent one, must start where the upload ends
    /// and match the body's length; `length` is the declared Content-Length.
    pub async fn upload_chunk(
        &self,
        repo: &RepoName,
        id: &UploadId,
        range: Option<ChunkRange>,
        length: Option<u64>,
        body: ByteStream,
    ) -> Result<UploadSession> {
        let mut session = self.upload(repo, id).await?;
        if let Some(r) = range {
            if r.start != session.size {
                return Err(Error::RangeNotSatisfiable {
                    message: format!(
                        "chunk starts at byte {} but the upload has {} bytes; send the chunk that starts at {}",
                        r.start, session.size, session.size
                    ),
                    size: session.size,
                });
            }
            if r.end < r.start {
                return Err(Error::BlobUploadInvalid(format!(
                    "Content-Range {}-{} ends before it starts",
                    r.start, r.end
                )));
            }
            if let Some(len) = length
                && len != r.end - r.start + 1
            {
                return Err(Error::BlobUploadInvalid(format!(
                    "Content-Range {}-{} is {} bytes but Content-Length is {len}",
                    r.start,
                    r.end,
                    r.end - r.start + 1
                )));
            }
        }
        let new_size = self.blobs.append(id, session.size, body).await?;
        let received = new_size - session.size;
        if let Some(len) = length
            && received != len
        {
            return Err(Error::BlobUploadInvalid(format!(
                "received {received} bytes but Content-Length said {len}"
            )));
        }
        if let Some(r) = range
            && new_size != r.end + 1
        {
            return Err(Error::BlobUploadInvalid(format!(
                "received {received} bytes for Content-Range {}-{}",
                r.start, r.end
            )));
        }
        self.uploads.set_upload_size(id, new_size).await?;
        session.size = new_size;
        Ok(session)
    }

    /// Finishes an upload, with an optional last chunk, verifying the digest; the blob is then
    /// linked in `repo`. Returns its size.
    pub async fn finish_upload(
        &self,
        repo: &RepoName,
        id: &UploadId,
        digest: &Digest,
        last_chunk: Option<(Option<ChunkRange>, Option<u64>, ByteStream)>,
    ) -> Result<u64> {
        let session = self.upload(repo, id).await?;
        let session = match last_chunk {
            // The whole blob in the closing request (POST, then PUT with the body, as oras and
            // docker send small blobs): stored in one step, the empty session discarded.
            Some((None, length, body)) if session.size == 0 => {
                let result = self
                    .blobs
                    .put_whole(&id.derived(), digest, length, body)
                    .await;
                // The empty session's leftovers are tidied best-effort (a failure there must
                // not fail a push whose blob is stored; upload TTLs and the bucket's lifecycle
                // rule remove what is left).
                let _ = self.blobs.abort(id).await;
                self.uploads.delete_upload(id).await?;
                let size = result?;
                self.catalog.link_blob(repo, digest, size).await?;
                return Ok(size);
            }
            Some((range, length, body)) => self.upload_chunk(repo, id, range, length, body).await?,
            None => session,
        };
        let result = self.blobs.complete(id, session.size, digest).await;
        self.uploads.delete_upload(id).await?;
        let size = result?;
        self.catalog.link_blob(repo, digest, size).await?;
        Ok(size)
    }

    pub async fn cancel_upload(&self, repo: &RepoName, id: &UploadId) -> Result<()> {
        self.upload(repo, id).await?;
        self.blobs.abort(id).await?;
        self.uploads.delete_upload(id).await
    }

    // ---- manifests ---------------------------------------------------------------------

    /// Validates and stores a manifest under `reference`, plus `extra_tags`.
    pub async fn put_manifest(
        &self,
        repo: &RepoName,
        reference: &Reference,
        content_type: Option<&str>,
        body: Bytes,
        extra_tags: Vec<Tag>,
    ) -> Result<PushedManifest> {
        let registry = self.registry_of(repo).await?;
        let parsed = manifest::parse(content_type, &body)?;
        let (digest, mut tags) = match reference {
            Reference::Digest(expected) => {
                let actual = Digest::of(expected.algorithm(), &body);
                if &actual != expected {
                    return Err(Error::DigestInvalid(format!(
                        "manifest digest is {actual}, not {expected}"
                    )));
                }
                (actual, Vec::new())
            }
            Reference::Tag(tag) => (Digest::sha256(&body), vec![tag.clone()]),
        };
        for t in extra_tags {
            if !tags.contains(&t) {
                tags.push(t);
            }
        }
        self.check_tags_mutable(&registry, repo, &tags, Some(&digest))
            .await?;
        if !self.policy.allow_sparse {
            let blobs: Vec<Digest> = parsed.blobs.iter().map(|d| d.digest.clone()).collect();
            let children: Vec<Digest> = parsed.manifests.iter().map(|d| d.digest.clone()).collect();
            let missing = self.catalog.missing(repo, &blobs, &children).await?;
            if let Some(first) = missing.first() {
                return Err(Error::ManifestBlobUnknown(first.to_string()));
            }
        }
        let record = ManifestRecord {
            digest: digest.clone(),
            media_type: parsed.media_type,
            body,
            subject: parsed.subject.clone(),
            artifact_type: parsed.artifact_type,
            annotations: parsed.annotations,
        };
        self.catalog.put_manifest(repo, &record, &tags).await?;
        Ok(PushedManifest {
            digest,
            subject: parsed.subject,
            tags,
        })
    }

    pub async fn get_manifest(
        &self,
        repo: &RepoName,
        reference: &Reference,
    ) -> Result<ManifestRecord> {
        self.catalog
            .get_manifest(repo, reference)
            .await?
            .ok_or(Error::ManifestUnknown)
    }

    /// Deletes a tag, or a manifest with all its tags.
    pub async fn delete_manifest(&self, repo: &RepoName, reference: &Reference) -> Result<()> {
        if let Some(registry) = self
            .tenancy
            .get_registry(repo.org(), repo.registry())
            .await?
            && registry.settings.immutable_tags
        {
            let tagged = match reference {
                Reference::Tag(tag) => vec![tag.clone()],
                Reference::Digest(d) => self.tags_of(repo, d).await?,
            };
            self.check_tags_mutable(&registry, repo, &tagged, None)
                .await?;
        }
        let deleted = match reference {
            Reference::Tag(tag) => self.catalog.delete_tag(repo, tag).await?,
            Reference::Digest(digest) => self.catalog.delete_manifest(repo, digest).await?,
        };
        if deleted {
            Ok(())
        } else {
            Err(Error::ManifestUnknown)
        }
    }

    /// Tags pointing at `digest` (walks the tag list: only used on deletes in immutable
    /// registries).
    async fn tags_of(&self, repo: &RepoName, digest: &Digest) -> Result<Vec<Tag>> {
        let mut out = Vec::new();
        let mut last: Option<String> = None;
        loop {
            let page = self.catalog.list_tags(repo, last.as_deref(), 1000).await?;
            let Some(l) = page.last().cloned() else { break };
            for t in page {
                let tag = Tag::parse(&t)?;
                if let Some(m) = self
                    .catalog
                    .get_manifest(repo, &Reference::Tag(tag.clone()))
                    .await?
                    && &m.digest == digest
                {
                    out.push(tag);
                }
            }
            last = Some(l);
        }
        Ok(out)
    }

    /// A page of tags; `NAME_UNKNOWN` for a repository that does not exist.
    pub async fn tags(
        &self,
        repo: &RepoName,
        last: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>> {
        if !self.catalog.repo_exists(repo).await? {
            return Err(Error::NameUnknown);
        }
        self.catalog.list_tags(repo, last, limit).await
    }

    /// Referrers of `subject`, optionally only those of one artifact type.
    pub async fn referrers(
        &self,
        repo: &RepoName,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Referrer>> {
        let mut all = self.catalog.referrers(repo, subject).await?;
        if let Some(want) = artifact_type {
            all.retain(|r| r.artifact_type.as_deref() == Some(want));
        }
        Ok(all)
    }
}
