//! The Python package operations, written once over the ports: validate an upload as PyPI
//! does, keep the file as an OCI artifact, and keep the Simple index projection in step.
//!
//! Order of writes on upload (so that a crash leaves nothing a reader can see half-done):
//! blobs (file, metadata, empty config) are stored and linked, then the file's manifest, then
//! the index entry (the commit point: from here the file is listed), then the version's tag.
//! A failed validation stores nothing at all.

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::manifest;
use crate::names::{Reference, RepoName, Tag, UploadId};
use crate::ports::{AddFile, ByteStream, ManifestRecord, PythonFile, PythonIndex, PythonProject};
use crate::python::archive::{self, Limits};
use crate::python::artifact::{self, FileArtifact, IndexEntry};
use crate::python::filename::{DistFilename, DistKind};
use crate::python::metadata::CoreMetadata;
use crate::python::names::{NormalizedName, ProjectName};
use crate::python::version::PyVersion;
use crate::registry::Registry;
use crate::tenancy::{OrgName, RegistryName};
use bytes::Bytes;
use std::io::{Read, Seek};
use std::sync::Arc;

/// The path component under a registry that Python repositories live in.
pub const PYTHON_NAMESPACE: &str = "python";

/// The OCI repository of a project: `<org>/<registry>/python/<normalized name>`.
pub fn project_repo(
    org: &OrgName,
    registry: &RegistryName,
    project: &NormalizedName,
) -> Result<RepoName> {
    Ok(RepoName::parse(&format!(
        "{org}/{registry}/{PYTHON_NAMESPACE}/{project}"
    ))?)
}

/// Whether a repository is managed by the Python API (OCI clients may read it, not write it).
pub fn is_python_repo(repo: &RepoName) -> bool {
    repo.as_str()
        .split('/')
        .nth(2)
        .is_some_and(|c| c == PYTHON_NAMESPACE)
}

/// The non-file fields of an upload form (`:action`, `name`, `version`, digests, …), in order.
#[derive(Clone, Debug, Default)]
pub struct UploadForm {
    pub fields: Vec<(String, String)>,
}

impl UploadForm {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }
}

/// The uploaded file as the receiver saw it: its name, length and digests (computed while it
/// streamed in), and a way to read it again.
pub struct ReceivedFile<R> {
    pub filename: String,
    pub reader: R,
    pub size: u64,
    pub sha256: String,
    pub blake2_256: String,
    pub md5: String,
}

/// An upload that passed every check, ready to store.
#[derive(Clone, Debug)]
pub struct Prepared {
    pub file: DistFilename,
    pub metadata: CoreMetadata,
    /// The core metadata file, served per PEP 658 (wheels).
    pub metadata_file: Option<Vec<u8>>,
    pub digest: Digest,
    pub size: u64,
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::BadRequest(msg.into())
}

/// Validates an upload: the form, the filename, the digests, the archive and its metadata.
/// Blocking (reads and decompresses the file); stores nothing.
pub fn prepare<R: Read + Seek>(
    form: &UploadForm,
    received: ReceivedFile<R>,
    limits: &Limits,
    max_file_size: u64,
) -> Result<Prepared> {
    // A field that decides what is stored is sent once: which copy would win is not for the
    // client and the server to disagree on.
    for key in [
        ":action",
        "protocol_version",
        "name",
        "version",
        "filetype",
        "sha256_digest",
        "blake2_256_digest",
        "md5_digest",
    ] {
        if form.fields.iter().filter(|(k, _)| k == key).count() > 1 {
            return Err(invalid(format!("form field {key} appears more than once")));
        }
    }
    match form.get(":action") {
        Some("file_upload") => {}
        Some(other) => {
            return Err(invalid(format!(
                "unsupported :action {other:?}; only file_upload is supported"
            )));
        }
        None => return Err(invalid("missing :action (expected file_upload)")),
    }
    if let Some(v) = form.get("protocol_version")
        && v != "1"
    {
        return Err(invalid(format!(
            "unsupported protocol_version {v:?}; only 1 is supported"
        )));
    }
    if received.size == 0 {
        return Err(invalid("the uploaded file is empty"));
    }
    if received.size > max_file_size {
        return Err(invalid(format!(
            "the file is {} bytes, larger than this registry's limit of {max_file_size}",
            received.size
        )));
    }
    let file = DistFilename::parse(&received.filename).map_err(|e| invalid(e.to_string()))?;

    // Digests the client sent must match what arrived (at least one is required).
    let mut checked = 0;
    for (field, actual) in [
        ("sha256_digest", &received.sha256),
        ("blake2_256_digest", &received.blake2_256),
        ("md5_digest", &received.md5),
    ] {
        if let Some(claimed) = form.get(field) {
            checked += 1;
            if !claimed.trim().eq_ignore_ascii_case(actual) {
                return Err(invalid(format!(
                    "{field} {claimed:?} does not match the uploaded file ({actual})"
                )));
            }
        }
    }
    if checked == 0 {
        return Err(invalid(
            "include at least one of sha256_digest, blake2_256_digest or md5_digest",
        ));
    }

    // The form agrees with the filename.
    let name = form.get("name").ok_or_else(|| invalid("missing name"))?;
    let form_name = ProjectName::parse(name).map_err(|e| invalid(e.to_string()))?;
    if form_name.normalized() != file.name {
        return Err(invalid(format!(
            "the filename {:?} is not for project {name:?}",
            file.filename
        )));
    }
    let version = form
        .get("version")
        .ok_or_else(|| invalid("missing version"))?;
    let form_version = PyVersion::parse(version).map_err(|e| invalid(e.to_string()))?;
    if form_version != file.version {
        return Err(invalid(format!(
            "the filename {:?} is not for version {version:?}",
            file.filename
        )));
    }
    match form.get("filetype") {
        Some(t) if t == file.kind.filetype() => {}
        Some(t) => {
            return Err(invalid(format!(
                "filetype {t:?} does not match {:?} (expected {})",
                file.filename,
                file.kind.filetype()
            )));
        }
        None => return Err(invalid("missing filetype")),
    }

    // The archive is safe, and its metadata matches the filename.
    let inspected = archive::inspect(&file, received.reader, received.size, limits)
        .map_err(|e| invalid(format!("{}: {e}", file.filename)))?;
    let source = if file.kind == DistKind::Wheel {
        "METADATA"
    } else {
        "PKG-INFO"
    };
    let metadata =
        CoreMetadata::parse(&inspected.metadata, source).map_err(|e| invalid(e.to_string()))?;
    if metadata.normalized_name() != file.name {
        return Err(invalid(format!(
            "{source} names project {:?}, but the filename is {:?}",
            metadata.name.as_str(),
            file.filename
        )));
    }
    if metadata.version != file.version {
        return Err(invalid(format!(
            "{source} has version {:?}, but the filename is {:?}",
            metadata.version.normalized(),
            file.filename
        )));
    }
    let digest: Digest = format!("sha256:{}", received.sha256)
        .parse()
        .map_err(|_| Error::Storage("bad sha256 from the receiver".into()))?;
    Ok(Prepared {
        metadata_file: (file.kind == DistKind::Wheel).then_some(inspected.metadata),
        file,
        metadata,
        digest,
        size: received.size,
    })
}

/// What an upload did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stored {
    /// A new file.
    New(Box<PythonFile>),
    /// The same bytes under the same name were already there; nothing changed.
    Identical(Box<PythonFile>),
}

/// Who stores an upload, and when.
#[derive(Clone, Copy)]
pub struct Uploader<'a> {
    /// The uploader's audit name (`user:…`, `token:…`).
    pub actor: &'a str,
    /// Unix milliseconds.
    pub now_ms: i64,
    /// Makes fresh blob upload ids.
    pub new_id: &'a (dyn Fn() -> UploadId + Send + Sync),
}

/// The Python package operations over the ports.
#[derive(Clone)]
pub struct PythonPackages {
    pub registry: Registry,
    pub index: Arc<dyn PythonIndex>,
}

/// An RFC 3339 UTC timestamp of Unix milliseconds, in the `yyyy-mm-ddThh:mm:ss.ffffffZ` form
/// PEP 700 gives for `upload-time` (and used wherever Stowage shows an upload's time).
pub fn upload_time(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_micros(t).to_string()
}

impl PythonPackages {
    /// Stores a prepared upload. `body` streams the file's bytes.
    pub async fn store(
        &self,
        org: &OrgName,
        reg: &RegistryName,
        prepared: Prepared,
        body: ByteStream,
        by: &Uploader<'_>,
    ) -> Result<Stored> {
        let Uploader {
            actor,
            now_ms,
            new_id,
        } = *by;
        let project = prepared.file.name.clone();
        let repo = project_repo(org, reg, &project)?;
        self.registry.registry_of(&repo).await?;
        let filename = prepared.file.filename.clone();
        // Refuse what the index would refuse before anything is written (the index checks
        // again, atomically, at the commit point).
        let version = prepared.file.version.normalized().to_string();
        let known = self.index.python_files(org, reg, &project).await?;
        if let Some(existing) = known.iter().find(|f| f.filename == filename) {
            return same_or_conflict(existing.clone(), &prepared.digest);
        }
        if prepared.file.kind.is_sdist()
            && let Some(other) = known.iter().find(|f| {
                f.filetype == "sdist"
                    && PyVersion::parse(&f.version).is_ok_and(|v| v == prepared.file.version)
            })
        {
            return Err(sdist_exists(&project, &version, &other.filename));
        }

        // Blobs: the file, its metadata, the empty config.
        self.put_blob(&repo, &prepared.digest, prepared.size, body, new_id)
            .await?;
        let metadata = match &prepared.metadata_file {
            Some(bytes) => {
                let d = Digest::sha256(bytes);
                let len = bytes.len() as u64;
                self.put_blob(
                    &repo,
                    &d,
                    len,
                    bytes_stream(Bytes::from(bytes.clone())),
                    new_id,
                )
                .await?;
                Some((d, len))
            }
            None => None,
        };
        let empty = artifact::empty_config_digest();
        self.put_blob(
            &repo,
            &empty,
            artifact::EMPTY_CONFIG.len() as u64,
            bytes_stream(Bytes::from_static(artifact::EMPTY_CONFIG)),
            new_id,
        )
        .await?;

        // The file's manifest.
        let created = upload_time(now_ms);
        let body = artifact::file_manifest(&FileArtifact {
            project: project.as_str(),
            version: &version,
            filename: &filename,
            is_wheel: prepared.file.kind == DistKind::Wheel,
            digest: &prepared.digest,
            size: prepared.size,
            annotations: prepared.metadata.annotations(),
            metadata: metadata.as_ref().map(|(d, s)| (d, *s)),
            created: &created,
        });
        let manifest_digest = self.put_manifest(&repo, body, &[]).await?;

        // The index entry: the commit point.
        let record = PythonFile {
            project: project.clone(),
            filename: filename.clone(),
            version: version.clone(),
            filetype: prepared.file.kind.filetype().to_string(),
            size: prepared.size,
            digest: prepared.digest.clone(),
            manifest: manifest_digest,
            metadata,
            requires_python: prepared.metadata.requires_python.clone(),
            uploaded_at_ms: now_ms,
            uploaded_by: actor.to_string(),
            yanked: None,
        };
        let lost = match self
            .index
            .add_python_file(org, reg, prepared.metadata.name.as_str(), &record)
            .await?
        {
            AddFile::Added => None,
            AddFile::Exists(existing) => Some((
                existing.manifest.clone(),
                same_or_conflict(*existing, &prepared.digest),
            )),
            AddFile::SdistExists(other) => Some((
                Digest::sha256(b""),
                Err(sdist_exists(&project, &version, &other)),
            )),
        };
        if let Some((theirs, answer)) = lost {
            // A concurrent upload committed first: this one's manifest is nobody's (unless it
            // is byte for byte the winner's).
            if theirs != record.manifest {
                let _ = self
                    .registry
                    .catalog
                    .delete_manifest(&repo, &record.manifest)
                    .await;
            }
            return answer;
        }
        self.sync_version_tag(org, reg, &project, &prepared.file.version)
            .await?;
        Ok(Stored::New(Box::new(record)))
    }

    async fn put_blob(
        &self,
        repo: &RepoName,
        digest: &Digest,
        size: u64,
        body: ByteStream,
        new_id: &(dyn Fn() -> UploadId + Send + Sync),
    ) -> Result<()> {
        if self.registry.blobs.stat(digest).await? != Some(size) {
            let id = new_id();
            self.registry.blobs.begin_upload(&id).await?;
            let result = async {
                let written = self.registry.blobs.append(&id, 0, body).await?;
                if written != size {
                    return Err(Error::Storage(format!(
                        "spooled file changed size: {written} bytes, expected {size}"
                    )));
                }
                self.registry.blobs.complete(&id, size, digest).await
            }
            .await;
            if result.is_err() {
                let _ = self.registry.blobs.abort(&id).await;
            }
            result?;
        }
        self.registry.catalog.link_blob(repo, digest, size).await
    }

    async fn put_manifest(&self, repo: &RepoName, body: Vec<u8>, tags: &[Tag]) -> Result<Digest> {
        let parsed = manifest::parse(None, &body)?;
        let digest = Digest::sha256(&body);
        let record = ManifestRecord {
            digest: digest.clone(),
            media_type: parsed.media_type,
            body: Bytes::from(body),
            subject: parsed.subject,
            artifact_type: parsed.artifact_type,
            annotations: parsed.annotations,
        };
        self.registry
            .catalog
            .put_manifest(repo, &record, tags)
            .await?;
        Ok(digest)
    }

    /// Points the version's tag at an index of its files (or removes it when none is left).
    /// Writers racing on one version converge: each re-reads the file list after writing and
    /// writes again until what it wrote is what the list says.
    async fn sync_version_tag(
        &self,
        org: &OrgName,
        reg: &RegistryName,
        project: &NormalizedName,
        version: &PyVersion,
    ) -> Result<()> {
        let repo = project_repo(org, reg, project)?;
        let tag = version.tag();
        let wanted = |files: Vec<PythonFile>| -> Vec<PythonFile> {
            files
                .into_iter()
                .filter(|f| PyVersion::parse(&f.version).is_ok_and(|v| v == *version))
                .collect()
        };
        let mut files = wanted(self.index.python_files(org, reg, project).await?);
        for _ in 0..8 {
            if files.is_empty() {
                let _ = self.registry.catalog.delete_tag(&repo, &tag).await?;
            } else {
                let mut entries = Vec::with_capacity(files.len());
                for f in &files {
                    let size = self
                        .registry
                        .catalog
                        .get_manifest(&repo, &Reference::Digest(f.manifest.clone()))
                        .await?
                        .map(|m| m.body.len() as u64)
                        .ok_or_else(|| {
                            Error::Storage(format!("manifest of {} is missing", f.filename))
                        })?;
                    entries.push((f, size));
                }
                let list: Vec<IndexEntry<'_>> = entries
                    .iter()
                    .map(|(f, size)| IndexEntry {
                        filename: &f.filename,
                        manifest: &f.manifest,
                        size: *size,
                    })
                    .collect();
                let body = artifact::version_index(project.as_str(), &files[0].version, &list);
                self.put_manifest(&repo, body, std::slice::from_ref(&tag))
                    .await?;
            }
            let again = wanted(self.index.python_files(org, reg, project).await?);
            if again == files {
                return Ok(());
            }
            files = again;
        }
        Err(Error::Storage(format!(
            "the tag of {project} {version} kept changing; it will be right after the next upload"
        )))
    }

    /// Every file of a project; `NotFound` when it has none.
    pub async fn files(
        &self,
        org: &OrgName,
        reg: &RegistryName,
        project: &NormalizedName,
    ) -> Result<Vec<PythonFile>> {
        let files = self.index.python_files(org, reg, project).await?;
        if files.is_empty() {
            return Err(Error::NotFound(format!("project {project} does not exist")));
        }
        Ok(files)
    }

    pub async fn projects(&self, org: &OrgName, reg: &RegistryName) -> Result<Vec<PythonProject>> {
        self.index.python_projects(org, reg).await
    }

    pub async fn file(
        &self,
        org: &OrgName,
        reg: &RegistryName,
        project: &NormalizedName,
        filename: &str,
    ) -> Result<PythonFile> {
        self.index
            .python_file(org, reg, project, filename)
            .await?
            .ok_or_else(|| Error::NotFound(format!("file {filename} does not exist")))
    }

    /// Yanks (`Some(reason)`) or un-yanks (`None`) one file, or every file of a version when
    /// `version` is given instead of a filename. Returns the files changed.
    pub async fn set_yanked(
        &self,
        org: &OrgName,
        reg: &RegistryName,
        project: &NormalizedName,
        target: YankTarget<'_>,
        reason: Option<&str>,
    ) -> Result<Vec<String>> {
        let files = self.files(org, reg, project).await?;
        let chosen: Vec<&PythonFile> = match target {
            YankTarget::File(name) => files.iter().filter(|f| f.filename == name).collect(),
            YankTarget::Version(v) => {
                let v = PyVersion::parse(v).map_err(|e| invalid(e.to_string()))?;
                files
                    .iter()
                    .filter(|f| PyVersion::parse(&f.version).is_ok_and(|fv| fv == v))
                    .collect()
            }
        };
        if chosen.is_empty() {
            return Err(Error::NotFound(match target {
                YankTarget::File(n) => format!("file {n} does not exist"),
                YankTarget::Version(v) => format!("version {v} of {project} does not exist"),
            }));
        }
        let mut changed = Vec::new();
        for f in chosen {
            if self
                .index
                .set_python_yanked(org, reg, project, &f.filename, reason)
                .await?
            {
                changed.push(f.filename.clone());
            }
        }
        Ok(changed)
    }

    /// Deletes one file: its index entry, its manifest, and its blobs where nothing else in
    /// the repository uses them; the version's tag follows.
    pub async fn delete_file(
        &self,
        org: &OrgName,
        reg: &RegistryName,
        project: &NormalizedName,
        filename: &str,
    ) -> Result<PythonFile> {
        let file = self.file(org, reg, project, filename).await?;
        if !self
            .index
            .delete_python_file(org, reg, project, filename)
            .await?
        {
            return Err(Error::NotFound(format!("file {filename} does not exist")));
        }
        let repo = project_repo(org, reg, project)?;
        let rest = self.index.python_files(org, reg, project).await?;
        if let Ok(version) = PyVersion::parse(&file.version) {
            self.sync_version_tag(org, reg, project, &version).await?;
        }
        let _ = self
            .registry
            .catalog
            .delete_manifest(&repo, &file.manifest)
            .await?;
        let mut blobs = vec![file.digest.clone()];
        if let Some((d, _)) = &file.metadata {
            blobs.push(d.clone());
        }
        for d in blobs {
            let used = rest
                .iter()
                .any(|f| f.digest == d || f.metadata.as_ref().is_some_and(|(m, _)| *m == d));
            if !used {
                match self.registry.delete_blob(&repo, &d).await {
                    Ok(()) | Err(Error::BlobUnknown) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(file)
    }
}

/// What a yank applies to.
#[derive(Clone, Copy, Debug)]
pub enum YankTarget<'a> {
    File(&'a str),
    Version(&'a str),
}

fn sdist_exists(project: &NormalizedName, version: &str, other: &str) -> Error {
    invalid(format!(
        "version {version} of {project} already has a source distribution ({other}); only one \
         sdist may be uploaded per release"
    ))
}

fn same_or_conflict(existing: PythonFile, digest: &Digest) -> Result<Stored> {
    if &existing.digest == digest {
        Ok(Stored::Identical(Box::new(existing)))
    } else {
        Err(Error::Conflict(format!(
            "File already exists: {} was uploaded before with different content \
             (sha256 {}); a file's content cannot change, upload a new version instead",
            existing.filename,
            existing.digest.hex()
        )))
    }
}

fn bytes_stream(b: Bytes) -> ByteStream {
    Box::pin(futures_util::stream::once(async move { Ok(b) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_times() {
        assert_eq!(upload_time(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            upload_time(1_700_000_000_123),
            "2023-11-14T22:13:20.123000Z"
        );
        assert_eq!(upload_time(951_782_400_000), "2000-02-29T00:00:00.000000Z");
    }

    #[test]
    fn python_repos() {
        let org = OrgName::parse("acme").unwrap();
        let reg = RegistryName::parse("prod").unwrap();
        let p = NormalizedName::from_raw("My_Pkg").unwrap();
        let repo = project_repo(&org, &reg, &p).unwrap();
        assert_eq!(repo.as_str(), "acme/prod/python/my-pkg");
        assert!(is_python_repo(&repo));
        assert!(!is_python_repo(&RepoName::parse("acme/prod/app").unwrap()));
        assert!(!is_python_repo(
            &RepoName::parse("acme/prod/app/python").unwrap()
        ));
    }
}
