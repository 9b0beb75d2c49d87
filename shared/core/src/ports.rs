//! Ports: the storage capabilities the registry needs, one small trait per aggregate.
//!
//! Every adapter (local files + SQLite now, S3 + DynamoDB later) implements these, and passes the
//! conformance suite for each in `stowage-testkit`. Contracts are written on each method; an
//! adapter that cannot keep one must not pretend to.

use crate::digest::Digest;
use crate::error::Result;
use crate::events::DomainEvent;
use crate::names::{Reference, RepoName, Tag, UploadId};
use crate::python::NormalizedName;
use crate::tenancy::{
    ApiTokenRecord, AuditEvent, Invitation, InvitationState, Membership, OrgInfo, OrgName,
    RegistryInfo, RegistryName, RegistrySettings, Role, UserName, UserRecord,
};
use async_trait::async_trait;
use bytes::Bytes;
use futures_util::Stream;
use std::collections::BTreeMap;
use std::ops::Range;
use std::pin::Pin;

/// A stream of body bytes, as read from a request or a store.
pub type ByteStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

/// Content-addressed blob bytes and in-progress uploads.
///
/// Blobs are immutable and keyed by digest; which repositories may see a blob is the
/// [`Catalog`]'s business, not the store's.
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// The size of the blob, or `None` if it is not stored.
    async fn stat(&self, digest: &Digest) -> Result<Option<u64>>;

    /// The blob's bytes, or the bytes in `range` (end exclusive, already clamped by the caller to
    /// the blob's size). `None` if the blob is not stored.
    async fn get(&self, digest: &Digest, range: Option<Range<u64>>) -> Result<Option<ByteStream>>;

    /// A URL a client may fetch the blob from directly (with its own `Range`, if any), when
    /// the store prefers that for an answer of `bytes` bytes; `None` means the router streams
    /// the bytes itself.
    async fn presign_get(&self, _digest: &Digest, _bytes: u64) -> Result<Option<String>> {
        Ok(None)
    }

    /// The smallest chunk (except the last) this store wants in a chunked upload, announced to
    /// clients as `OCI-Chunk-Min-Length`; `None` when any size is fine (no header is sent).
    fn min_chunk_length(&self) -> Option<u64> {
        None
    }

    /// Removes the blob's bytes. Idempotent: `false` if it was not there.
    async fn delete(&self, digest: &Digest) -> Result<bool>;

    /// Starts an empty upload. The id is fresh (the caller makes it).
    async fn begin_upload(&self, id: &UploadId) -> Result<()>;

    /// Appends `body` to the upload, whose acknowledged size is `offset` (bytes past `offset`
    /// left by an interrupted earlier append are discarded first). Returns the new size. On
    /// error the upload's acknowledged content is unchanged up to `offset`.
    async fn append(&self, id: &UploadId, offset: u64, body: ByteStream) -> Result<u64>;

    /// Verifies the first `size` bytes of the upload against `expected` and, when they match,
    /// makes them visible as blob `expected` (atomically: a reader sees all or nothing) and
    /// removes the upload. On a mismatch returns [`crate::Error::DigestInvalid`], stores
    /// nothing and removes the upload. Returns the blob size.
    async fn complete(&self, id: &UploadId, size: u64, expected: &Digest) -> Result<u64>;

    /// Discards the upload. Idempotent.
    async fn abort(&self, id: &UploadId) -> Result<()>;

    /// Stores a blob sent whole in one request: `body` (of `length` bytes when the client
    /// declared it) is verified against `expected` and, when it matches, made visible
    /// atomically. Stores nothing otherwise: [`crate::Error::DigestInvalid`] on a mismatch,
    /// [`crate::Error::BlobUploadInvalid`] when the body is not `length` bytes. `id` is a fresh
    /// id the store may use for an upload session of its own. Returns the size.
    ///
    /// The default goes through the upload session API; a store that can write a small blob
    /// in one step (S3: one PutObject) does so.
    async fn put_whole(
        &self,
        id: &UploadId,
        expected: &Digest,
        length: Option<u64>,
        body: ByteStream,
    ) -> Result<u64> {
        put_whole_in_session(self, id, expected, length, body).await
    }
}

/// [`BlobStore::put_whole`] through the upload session API (its default; stores with a
/// faster way for some blobs fall back to it for the others).
pub async fn put_whole_in_session<S: BlobStore + ?Sized>(
    store: &S,
    id: &UploadId,
    expected: &Digest,
    length: Option<u64>,
    body: ByteStream,
) -> Result<u64> {
    store.begin_upload(id).await?;
    let size = match store.append(id, 0, body).await {
        Ok(size) => size,
        Err(e) => {
            let _ = store.abort(id).await;
            return Err(e);
        }
    };
    if let Some(len) = length
        && len != size
    {
        let _ = store.abort(id).await;
        return Err(crate::Error::BlobUploadInvalid(format!(
            "received {size} bytes but Content-Length said {len}"
        )));
    }
    store.complete(id, size, expected).await
}

/// State of an upload session, kept by [`Uploads`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadSession {
    pub id: UploadId,
    pub repo: RepoName,
    /// Bytes acknowledged so far.
    pub size: u64,
    /// Unix seconds when it started.
    pub started_at: i64,
}

/// Upload session bookkeeping.
#[async_trait]
pub trait Uploads: Send + Sync + 'static {
    /// Records a new session.
    async fn create_upload(&self, session: &UploadSession) -> Result<()>;
    /// The session, or `None` if unknown, finished or cancelled.
    async fn get_upload(&self, id: &UploadId) -> Result<Option<UploadSession>>;
    /// Records that `size` bytes are acknowledged. Durable when it returns.
    async fn set_upload_size(&self, id: &UploadId, size: u64) -> Result<()>;
    /// Forgets the session. Idempotent.
    async fn delete_upload(&self, id: &UploadId) -> Result<()>;
}

/// A stored manifest: the exact bytes pushed and what the registry extracted from them.
#[derive(Clone, Debug, PartialEq)]
pub struct ManifestRecord {
    pub digest: Digest,
    pub media_type: String,
    pub body: Bytes,
    pub subject: Option<Digest>,
    pub artifact_type: Option<String>,
    pub annotations: BTreeMap<String, String>,
}

/// One entry of a referrers listing.
#[derive(Clone, Debug, PartialEq)]
pub struct Referrer {
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
    pub artifact_type: Option<String>,
    pub annotations: BTreeMap<String, String>,
}

/// A manifest as the management API lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct ArtifactSummary {
    pub digest: Digest,
    pub media_type: String,
    pub artifact_type: Option<String>,
    /// Size of the manifest itself, in bytes.
    pub size: u64,
    /// Unix seconds of the first push.
    pub pushed_at: i64,
    /// Tags pointing at it, sorted.
    pub tags: Vec<String>,
}

/// Repositories, manifests, tags, referrers and per-repository blob links.
///
/// A repository exists once anything (a blob link or a manifest) was put into it.
#[async_trait]
pub trait Catalog: Send + Sync + 'static {
    /// Whether the repository exists.
    async fn repo_exists(&self, repo: &RepoName) -> Result<bool>;

    /// Makes blob `digest` (of `size` bytes) visible in `repo`. Idempotent. Durable on return.
    async fn link_blob(&self, repo: &RepoName, digest: &Digest, size: u64) -> Result<()>;

    /// The blob's size if it is linked in `repo`.
    async fn blob_link(&self, repo: &RepoName, digest: &Digest) -> Result<Option<u64>>;

    /// The blob's size if it is linked in any repository whose name starts with `prefix`
    /// (used to mount a blob without a source repository, within what the caller may see).
    async fn find_blob(&self, prefix: &str, digest: &Digest) -> Result<Option<u64>>;

    /// Removes the blob's link from `repo`; `false` if it was not linked.
    async fn unlink_blob(&self, repo: &RepoName, digest: &Digest) -> Result<bool>;

    /// Whether any repository still links the blob.
    async fn blob_linked_anywhere(&self, digest: &Digest) -> Result<bool>;

    /// Of `blobs` and `manifests`, those not present in `repo`, in the order given.
    async fn missing(
        &self,
        repo: &RepoName,
        blobs: &[Digest],
        manifests: &[Digest],
    ) -> Result<Vec<Digest>>;

    /// Stores the manifest and points each tag at it, in one atomic, durable step.
    async fn put_manifest(
        &self,
        repo: &RepoName,
        manifest: &ManifestRecord,
        tags: &[Tag],
    ) -> Result<()>;

    /// The manifest a tag points at, or the manifest with that digest.
    async fn get_manifest(
        &self,
        repo: &RepoName,
        reference: &Reference,
    ) -> Result<Option<ManifestRecord>>;

    /// Deletes the manifest and every tag pointing at it; `false` if it was not there.
    async fn delete_manifest(&self, repo: &RepoName, digest: &Digest) -> Result<bool>;

    /// Deletes one tag (the manifest stays); `false` if it was not there.
    async fn delete_tag(&self, repo: &RepoName, tag: &Tag) -> Result<bool>;

    /// Up to `limit` manifests of `repo`, newest push first, with their tags.
    async fn list_artifacts(&self, repo: &RepoName, limit: usize) -> Result<Vec<ArtifactSummary>>;

    /// Up to `limit` tags in lexical order, after `last` when given.
    async fn list_tags(
        &self,
        repo: &RepoName,
        last: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>>;

    /// Manifests in `repo` whose subject is `subject`.
    async fn referrers(&self, repo: &RepoName, subject: &Digest) -> Result<Vec<Referrer>>;

    /// Up to `limit` repository names starting with one of `prefixes`, in lexical order, after
    /// `last` when given. No prefixes, no names.
    async fn list_repositories(
        &self,
        prefixes: &[String],
        last: Option<&str>,
        limit: usize,
    ) -> Result<Vec<RepoName>>;
}

/// Organizations, their registries, memberships and invitations.
#[async_trait]
pub trait Tenancy: Send + Sync + 'static {
    /// Creates the organization with `owner` as its admin, atomically. `false` if it exists.
    async fn create_org(&self, org: &OrgName, owner: &UserName, now: i64) -> Result<bool>;
    async fn get_org(&self, org: &str) -> Result<Option<OrgInfo>>;
    /// Creates a registry in an existing organization. `false` if it exists.
    async fn create_registry(&self, info: &RegistryInfo) -> Result<bool>;
    /// The registry, if it exists (one point read: this is on the push path).
    async fn get_registry(&self, org: &str, name: &str) -> Result<Option<RegistryInfo>>;
    async fn list_registries(&self, org: &OrgName) -> Result<Vec<RegistryInfo>>;
    /// `false` if the registry does not exist.
    async fn update_registry(
        &self,
        org: &OrgName,
        name: &RegistryName,
        settings: RegistrySettings,
    ) -> Result<bool>;
    /// Removes the registry record (its repositories stay until deleted). `false` if absent.
    async fn delete_registry(&self, org: &OrgName, name: &RegistryName) -> Result<bool>;
    /// Adds the user to the organization or changes their role. Idempotent.
    async fn set_member(&self, org: &OrgName, user: &UserName, role: Role) -> Result<()>;
    /// `false` if the user was not a member.
    async fn remove_member(&self, org: &OrgName, user: &UserName) -> Result<bool>;
    async fn member_role(&self, org: &str, user: &UserName) -> Result<Option<Role>>;
    /// Every organization the user belongs to.
    async fn memberships(&self, user: &UserName) -> Result<Vec<Membership>>;
    async fn members(&self, org: &OrgName) -> Result<Vec<Membership>>;
    async fn create_invitation(&self, invitation: &Invitation) -> Result<()>;
    async fn get_invitation(&self, id: &str) -> Result<Option<Invitation>>;
    async fn list_invitations(&self, org: &OrgName) -> Result<Vec<Invitation>>;
    /// Pending invitations addressed to `email`.
    async fn invitations_for(&self, email: &str) -> Result<Vec<Invitation>>;
    /// Moves an invitation from `from` to `to`; `false` if it was not in state `from`.
    async fn set_invitation_state(
        &self,
        id: &str,
        from: InvitationState,
        to: InvitationState,
    ) -> Result<bool>;
}

/// Users known to the registry.
#[async_trait]
pub trait Users: Send + Sync + 'static {
    /// `false` if a user of that name exists.
    async fn create_user(&self, user: &UserRecord) -> Result<bool>;
    async fn get_user(&self, name: &UserName) -> Result<Option<UserRecord>>;
    async fn list_users(&self) -> Result<Vec<UserRecord>>;
    /// `false` if the user does not exist.
    async fn set_password_hash(&self, name: &UserName, hash: &str) -> Result<bool>;
}

/// API tokens (robot credentials). Secrets are never stored, only their SHA-256.
#[async_trait]
pub trait ApiTokens: Send + Sync + 'static {
    async fn create_token(&self, token: &ApiTokenRecord) -> Result<()>;
    async fn get_token(&self, id: &str) -> Result<Option<ApiTokenRecord>>;
    async fn list_tokens(&self, org: &OrgName) -> Result<Vec<ApiTokenRecord>>;
    /// Marks the token revoked. `false` if no such token in `org`, or already revoked.
    async fn revoke_token(&self, org: &OrgName, id: &str, now: i64) -> Result<bool>;
    /// Records a use.
    async fn touch_token(&self, id: &str, now: i64) -> Result<()>;
}

/// Which audit events to list.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    /// Events with an id below this one (pagination, newest first).
    pub before: Option<i64>,
    pub since: Option<i64>,
}

/// The audit log: append-only.
#[async_trait]
pub trait Audit: Send + Sync + 'static {
    /// Appends events, in order, in one durable step.
    async fn record(&self, events: &[AuditEvent]) -> Result<()>;
    /// Events of one organization, newest first.
    async fn list_events(
        &self,
        org: &str,
        filter: &AuditFilter,
        limit: usize,
    ) -> Result<Vec<AuditEvent>>;
}

/// Publishes domain events ([`crate::events`]) for consumers that run later, elsewhere.
///
/// Contract: when `publish` returns `Ok`, the event is durably accepted by the transport (an
/// SQS `SendMessage` acknowledged) and will be delivered **at least once**: a consumer may see
/// it twice, or after a later event, so every consumer must be idempotent. On `Err` the event
/// may or may not have been accepted; publishing it again is always safe. The in-process
/// adapter of the local backend is weaker (at most once across a restart) and says so.
#[async_trait]
pub trait Events: Send + Sync + 'static {
    async fn publish(&self, event: &DomainEvent) -> Result<()>;
}

/// Verifies user passwords (local argon2id users, or Cognito).
#[async_trait]
pub trait IdentityProvider: Send + Sync + 'static {
    /// The user, if `password` is theirs. `Ok(None)` for a wrong user or password (which one
    /// is never told apart).
    async fn verify_password(&self, user: &str, password: &str) -> Result<Option<UserName>>;
}

/// Verifies bearer tokens issued by an external identity provider (Cognito).
#[async_trait]
pub trait TokenVerifier: Send + Sync + 'static {
    /// The user the token speaks for, if it is valid now; `Ok(None)` for any token this
    /// provider did not issue or that does not verify.
    async fn verify_token(&self, token: &str) -> Result<Option<UserName>>;
}

/// One file of a Python project, as the Simple index shows it (the projection kept at upload
/// time, so a page is one read).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PythonFile {
    pub project: NormalizedName,
    pub filename: String,
    /// Normalized PEP 440 version.
    pub version: String,
    /// `bdist_wheel` or `sdist`.
    pub filetype: String,
    pub size: u64,
    /// The file's blob (always sha256).
    pub digest: Digest,
    /// The OCI manifest of the file's artifact.
    pub manifest: Digest,
    /// The core metadata file (PEP 658) when the index serves one: its blob and size.
    pub metadata: Option<(Digest, u64)>,
    pub requires_python: Option<String>,
    /// Unix milliseconds.
    pub uploaded_at_ms: i64,
    /// Audit name of the uploader (`user:…`, `token:…`).
    pub uploaded_by: String,
    /// `None` when not yanked; `Some(reason)` (possibly empty) when yanked (PEP 592).
    pub yanked: Option<String>,
}

/// A project in a registry's Python index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PythonProject {
    pub name: NormalizedName,
    /// The name as its latest upload's metadata wrote it.
    pub display_name: String,
    pub files: u64,
    /// Unix milliseconds of the latest upload.
    pub last_upload_ms: i64,
}

/// The outcome of [`PythonIndex::add_python_file`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AddFile {
    Added,
    /// A file of that name is already there (nothing was changed).
    Exists(Box<PythonFile>),
    /// The release already has a source distribution (one per version).
    SdistExists(String),
}

/// The Python index of each registry: projects and their files.
///
/// Keys always carry the organization and registry, so one registry never sees another's.
#[async_trait]
pub trait PythonIndex: Send + Sync + 'static {
    /// Adds a file, atomically: nothing changes when a file of that name exists in the
    /// project, or when `file` is an sdist and its release already has one (versions compared
    /// as PEP 440 does: `1.0` and `1.0.0` are one release, see `PyVersion::release_key`).
    /// Durable on return. `display_name` becomes the project's display name.
    async fn add_python_file(
        &self,
        org: &OrgName,
        registry: &RegistryName,
        display_name: &str,
        file: &PythonFile,
    ) -> Result<AddFile>;

    async fn python_file(
        &self,
        org: &OrgName,
        registry: &RegistryName,
        project: &NormalizedName,
        filename: &str,
    ) -> Result<Option<PythonFile>>;

    /// Every file of the project, by filename; empty when the project does not exist.
    async fn python_files(
        &self,
        org: &OrgName,
        registry: &RegistryName,
        project: &NormalizedName,
    ) -> Result<Vec<PythonFile>>;

    /// The project, if it has at least one file.
    async fn python_project(
        &self,
        org: &OrgName,
        registry: &RegistryName,
        project: &NormalizedName,
    ) -> Result<Option<PythonProject>>;

    /// Every project of the registry with at least one file, by name.
    async fn python_projects(
        &self,
        org: &OrgName,
        registry: &RegistryName,
    ) -> Result<Vec<PythonProject>>;

    /// Sets (`Some(reason)`) or clears (`None`) the yank of one file. `false` if no such file.
    async fn set_python_yanked(
        &self,
        org: &OrgName,
        registry: &RegistryName,
        project: &NormalizedName,
        filename: &str,
        yanked: Option<&str>,
    ) -> Result<bool>;

    /// Removes one file (the project goes with its last file). `false` if no such file.
    async fn delete_python_file(
        &self,
        org: &OrgName,
        registry: &RegistryName,
        project: &NormalizedName,
        filename: &str,
    ) -> Result<bool>;
}
