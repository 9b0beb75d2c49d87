//! [`PythonIndex`] on the table: the Simple index projection of each registry.
//!
//! | item | pk | sk |
//! |---|---|---|
//! | project | `PY#<org>#<registry>` | `PROJECT#<normalized name>` |
//! | file | `PYPROJECT#<org>#<registry>#<project>` | `FILE#<filename>` |
//! | the sdist of a release | `PYPROJECT#<org>#<registry>#<project>` | `SDIST#<release key>` |
//!
//! A project item exists exactly while the project has files: its file count and latest
//! upload time are written in the transaction that adds or removes a file, conditioned on the
//! values read just before (optimistic concurrency: a concurrent upload makes the transaction
//! fail and the whole step is retried). Adding a file is conditioned on the file item and,
//! for an sdist, on the release's sdist item being absent, so two uploads racing for one
//! filename or one release never both succeed; the release key is
//! `PyVersion::release_key`, so `1.0` and `1.0.0` are one release.
//!
//! Reads are consistent (an upload is followed at once by the index page that lists it).
//! This module stores what the upload path decided; it validates nothing about packages.

use super::item::{
    Expr, Item, absent, get_n, get_s, item, key, n, opt_s, parse_s, present, s, set_opt,
};
use super::ops::{ATTEMPTS, Query, Tx, backoff, contended};
use super::{DynamoStore, PK, SK};
use async_trait::async_trait;
use stowage_core::ports::{AddFile, PythonFile, PythonIndex, PythonProject};
use stowage_core::python::{NormalizedName, PyVersion};
use stowage_core::tenancy::{OrgName, RegistryName};
use stowage_core::{Digest, Result};

const NAME: &str = "name";
const DISPLAY_NAME: &str = "display_name";
const FILES: &str = "files";
const LAST_UPLOAD_MS: &str = "last_upload_ms";
const PROJECT: &str = "project";
const FILENAME: &str = "filename";
const VERSION: &str = "version";
const RELEASE: &str = "release";
const FILETYPE: &str = "filetype";
const SIZE: &str = "size";
const DIGEST: &str = "digest";
const MANIFEST: &str = "manifest";
const METADATA_DIGEST: &str = "metadata_digest";
const METADATA_SIZE: &str = "metadata_size";
const REQUIRES_PYTHON: &str = "requires_python";
const UPLOADED_AT_MS: &str = "uploaded_at_ms";
const UPLOADED_BY: &str = "uploaded_by";
const YANKED: &str = "yanked";

fn registry_pk(org: &OrgName, registry: &RegistryName) -> String {
    format!("PY#{org}#{registry}")
}

fn project_key(org: &OrgName, registry: &RegistryName, project: &str) -> Item {
    key(registry_pk(org, registry), format!("PROJECT#{project}"))
}

fn files_pk(org: &OrgName, registry: &RegistryName, project: &str) -> String {
    format!("PYPROJECT#{org}#{registry}#{project}")
}

fn file_key(org: &OrgName, registry: &RegistryName, project: &str, filename: &str) -> Item {
    key(files_pk(org, registry, project), format!("FILE#{filename}"))
}

fn sdist_key(org: &OrgName, registry: &RegistryName, project: &str, release: &str) -> Item {
    key(files_pk(org, registry, project), format!("SDIST#{release}"))
}

/// The release a version belongs to (PEP 440 equality), as the SQLite adapter computes it.
fn release_of(version: &str) -> String {
    PyVersion::parse(version)
        .map(|v| v.release_key())
        .unwrap_or_else(|_| version.to_string())
}

fn normalized(i: &Item, attr: &str) -> Result<NormalizedName> {
    parse_s(i, attr, NormalizedName::parse_normalized)
}

fn digest(i: &Item, attr: &str) -> Result<Digest> {
    parse_s(i, attr, |v| v.parse().ok())
}

fn file_from(i: &Item) -> Result<PythonFile> {
    let metadata = match opt_s(i, METADATA_DIGEST) {
        Some(_) => Some((digest(i, METADATA_DIGEST)?, get_n(i, METADATA_SIZE)?)),
        None => None,
    };
    Ok(PythonFile {
        project: normalized(i, PROJECT)?,
        filename: get_s(i, FILENAME)?.to_string(),
        version: get_s(i, VERSION)?.to_string(),
        filetype: get_s(i, FILETYPE)?.to_string(),
        size: get_n(i, SIZE)?,
        digest: digest(i, DIGEST)?,
        manifest: digest(i, MANIFEST)?,
        metadata,
        requires_python: opt_s(i, REQUIRES_PYTHON).map(str::to_string),
        uploaded_at_ms: get_n(i, UPLOADED_AT_MS)?,
        uploaded_by: get_s(i, UPLOADED_BY)?.to_string(),
        yanked: opt_s(i, YANKED).map(str::to_string),
    })
}

fn project_from(i: &Item) -> Result<PythonProject> {
    Ok(PythonProject {
        name: normalized(i, NAME)?,
        display_name: get_s(i, DISPLAY_NAME)?.to_string(),
        files: get_n(i, FILES)?,
        last_upload_ms: get_n(i, LAST_UPLOAD_MS)?,
    })
}

fn file_item(pk: String, f: &PythonFile, release: &str) -> Item {
    let mut i = item(
        pk,
        format!("FILE#{}", f.filename),
        [
            (PROJECT, s(f.project.as_str())),
            (FILENAME, s(&f.filename)),
            (VERSION, s(&f.version)),
            (RELEASE, s(release)),
            (FILETYPE, s(&f.filetype)),
            (SIZE, n(f.size)),
            (DIGEST, s(f.digest.to_string())),
            (MANIFEST, s(f.manifest.to_string())),
            (UPLOADED_AT_MS, n(f.uploaded_at_ms)),
            (UPLOADED_BY, s(&f.uploaded_by)),
        ],
    );
    if let Some((d, size)) = &f.metadata {
        i.insert(METADATA_DIGEST.into(), s(d.to_string()));
        i.insert(METADATA_SIZE.into(), n(size));
    }
    set_opt(&mut i, REQUIRES_PYTHON, f.requires_python.as_deref().map(s));
    set_opt(&mut i, YANKED, f.yanked.as_deref().map(s));
    i
}

/// The condition that the project item still holds what was read (`None`: still absent).
fn unchanged(project: Option<&Item>) -> Result<Expr> {
    Ok(match project {
        None => absent(),
        Some(p) => Expr::new("#files = :files AND #last = :last")
            .name("#files", FILES)
            .value(":files", n(get_n::<u64>(p, FILES)?))
            .name("#last", LAST_UPLOAD_MS)
            .value(":last", n(get_n::<i64>(p, LAST_UPLOAD_MS)?)),
    })
}

#[async_trait]
impl PythonIndex for DynamoStore {
    async fn add_python_file(
        &self,
        org: &OrgName,
        registry: &RegistryName,
        display_name: &str,
        file: &PythonFile,
    ) -> Result<AddFile> {
        let project = file.project.as_str();
        let release = release_of(&file.version);
        let sdist = file.filetype == "sdist";
        let fk = file_key(org, registry, project, &file.filename);
        let pk = project_key(org, registry, project);
        let sk = sdist_key(org, registry, project, &release);
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                backoff(attempt).await;
            }
            // The file, the project, and (for an sdist) the release's sdist: one read.
            let mut keys = vec![fk.clone(), pk.clone()];
            if sdist {
                keys.push(sk.clone());
            }
            let current = self.batch_get(&keys, None).await?;
            let find = |k: &Item| {
                current
                    .iter()
                    .find(|i| i.get(PK) == k.get(PK) && i.get(SK) == k.get(SK))
            };
            if let Some(existing) = find(&fk) {
                return Ok(AddFile::Exists(Box::new(file_from(existing)?)));
            }
            if sdist && let Some(other) = find(&sk) {
                return Ok(AddFile::SdistExists(get_s(other, FILENAME)?.to_string()));
            }
            let proj = find(&pk);
            let (files, last) = match proj {
                Some(p) => (
                    get_n::<u64>(p, FILES)? + 1,
                    get_n::<i64>(p, LAST_UPLOAD_MS)?.max(file.uploaded_at_ms),
                ),
                None => (1, file.uploaded_at_ms),
            };
            let new_project = item(
                registry_pk(org, registry),
                format!("PROJECT#{project}"),
                [
                    (NAME, s(project)),
                    (DISPLAY_NAME, s(display_name)),
                    (FILES, n(files)),
                    (LAST_UPLOAD_MS, n(last)),
                ],
            );
            let mut actions = vec![
                self.tx_put(
                    file_item(files_pk(org, registry, project), file, &release),
                    Some(absent()),
                )?,
                self.tx_put(new_project, Some(unchanged(proj)?))?,
            ];
            if sdist {
                let guard = item(
                    files_pk(org, registry, project),
                    format!("SDIST#{release}"),
                    [(FILENAME, s(&file.filename))],
                );
                actions.push(self.tx_put(guard, Some(absent()))?);
            }
            if let Tx::Done = self.transact(actions).await? {
                return Ok(AddFile::Added);
            }
            // A concurrent upload got in between: read again, which tells what it did.
        }
        Err(contended("add Python file"))
    }

    async fn python_file(
        &self,
        org: &OrgName,
        registry: &RegistryName,
        project: &NormalizedName,
        filename: &str,
    ) -> Result<Option<PythonFile>> {
        self.get(file_key(org, registry, project.as_str(), filename))
            .await?
            .as_ref()
            .map(file_from)
            .transpose()
    }

    async fn python_files(
        &self,
        org: &OrgName,
        registry: &RegistryName,
        project: &NormalizedName,
    ) -> Result<Vec<PythonFile>> {
        let q = Query::new(
            Expr::new("#pk = :pk AND begins_with(#sk, :prefix)")
                .name("#pk", PK)
                .name("#sk", SK)
                .value(":pk", s(files_pk(org, registry, project.as_str())))
                .value(":prefix", s("FILE#")),
        );
        self.query_all(&q).await?.iter().map(file_from).collect()
    }

    async fn python_project(
        &self,
        org: &OrgName,
        registry: &RegistryName,
        project: &NormalizedName,
    ) -> Result<Option<PythonProject>> {
        self.get(project_key(org, registry, project.as_str()))
            .await?
            .as_ref()
            .map(project_from)
            .transpose()
    }

    async fn python_projects(
        &self,
        org: &OrgName,
        registry: &RegistryName,
    ) -> Result<Vec<PythonProject>> {
        let q = Query::new(
            Expr::new("#pk = :pk AND begins_with(#sk, :prefix)")
                .name("#pk", PK)
                .name("#sk", SK)
                .value(":pk", s(registry_pk(org, registry)))
                .value(":prefix", s("PROJECT#")),
        );
        self.query_all(&q).await?.iter().map(project_from).collect()
    }

    async fn set_python_yanked(
        &self,
        org: &OrgName,
        registry: &RegistryName,
        project: &NormalizedName,
        filename: &str,
        yanked: Option<&str>,
    ) -> Result<bool> {
        let update = match yanked {
            Some(reason) => Expr::new("SET #y = :y").value(":y", s(reason)),
            None => Expr::new("REMOVE #y"),
        }
        .name("#y", YANKED);
        self.update(
            file_key(org, registry, project.as_str(), filename),
            update,
            Some(present()),
        )
        .await
    }

    async fn delete_python_file(
        &self,
        org: &OrgName,
        registry: &RegistryName,
        project: &NormalizedName,
        filename: &str,
    ) -> Result<bool> {
        let project = project.as_str();
        let fk = file_key(org, registry, project, filename);
        let pk = project_key(org, registry, project);
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                backoff(attempt).await;
            }
            let current = self.batch_get(&[fk.clone(), pk.clone()], None).await?;
            let find = |k: &Item| {
                current
                    .iter()
                    .find(|i| i.get(PK) == k.get(PK) && i.get(SK) == k.get(SK))
            };
            let Some(f) = find(&fk) else {
                return Ok(false);
            };
            let mut actions = vec![self.tx_delete(fk.clone(), Some(present()))?];
            if get_s(f, FILETYPE)? == "sdist" {
                let release = get_s(f, RELEASE)?;
                actions.push(self.tx_delete(sdist_key(org, registry, project, release), None)?);
            }
            if let Some(p) = find(&pk) {
                let files: u64 = get_n(p, FILES)?;
                let cond = unchanged(Some(p))?;
                if files <= 1 {
                    actions.push(self.tx_delete(pk.clone(), Some(cond))?);
                } else {
                    let update = Expr::new("SET #files = :left").value(":left", n(files - 1));
                    actions.push(self.tx_update(pk.clone(), update, Some(cond))?);
                }
            }
            if let Tx::Done = self.transact(actions).await? {
                return Ok(true);
            }
        }
        Err(contended("delete Python file"))
    }
}
