//! [`PythonIndex`] on [`SqliteStore`]: `python_projects(org, registry, name, display_name,
//! files, last_upload_ms)` and `python_files(org, registry, project, filename, …, release)`,
//! both keyed by organization and registry first; `release` is the version's
//! `PyVersion::release_key`, so one sdist per release is checked on PEP 440 equality. A project row exists exactly while it has files; the
//! file count and last upload time are kept in the same transaction as the file rows.

use crate::sqlite::SqliteStore;
use async_trait::async_trait;
use rusqlite::{OptionalExtension, Row, params};
use stowage_core::ports::{AddFile, PythonFile, PythonIndex, PythonProject};
use stowage_core::python::{NormalizedName, PyVersion};
use stowage_core::tenancy::{OrgName, RegistryName};
use stowage_core::{Digest, Result};

const FILE_COLUMNS: &str = "project, filename, version, filetype, size, digest, manifest, \
    metadata_digest, metadata_size, requires_python, uploaded_at_ms, uploaded_by, yanked";

fn conv_err(e: impl std::error::Error + Send + Sync + 'static) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
}

fn digest(s: String) -> rusqlite::Result<Digest> {
    s.parse().map_err(conv_err)
}

#[derive(Debug, thiserror::Error)]
#[error("stored project name {0:?} is not normalized")]
struct BadName(String);

fn name(s: String) -> rusqlite::Result<NormalizedName> {
    NormalizedName::parse_normalized(&s).ok_or_else(|| conv_err(BadName(s)))
}

fn file_from(r: &Row<'_>) -> rusqlite::Result<PythonFile> {
    let metadata = match (r.get::<_, Option<String>>(7)?, r.get::<_, Option<i64>>(8)?) {
        (Some(d), Some(s)) => Some((digest(d)?, s as u64)),
        _ => None,
    };
    Ok(PythonFile {
        project: name(r.get(0)?)?,
        filename: r.get(1)?,
        version: r.get(2)?,
        filetype: r.get(3)?,
        size: r.get::<_, i64>(4)? as u64,
        digest: digest(r.get(5)?)?,
        manifest: digest(r.get(6)?)?,
        metadata,
        requires_python: r.get(9)?,
        uploaded_at_ms: r.get(10)?,
        uploaded_by: r.get(11)?,
        yanked: r.get(12)?,
    })
}

fn project_from(r: &Row<'_>) -> rusqlite::Result<PythonProject> {
    Ok(PythonProject {
        name: name(r.get(0)?)?,
        display_name: r.get(1)?,
        files: r.get::<_, i64>(2)? as u64,
        last_upload_ms: r.get(3)?,
    })
}

#[async_trait]
impl PythonIndex for SqliteStore {
    async fn add_python_file(
        &self,
        org: &OrgName,
        registry: &RegistryName,
        display_name: &str,
        f: &PythonFile,
    ) -> Result<AddFile> {
        let (org, registry, display_name, f) = (
            org.to_string(),
            registry.to_string(),
            display_name.to_string(),
            f.clone(),
        );
        let release = PyVersion::parse(&f.version)
            .map(|v| v.release_key())
            .unwrap_or_else(|_| f.version.clone());
        self.write(move |tx| {
            let existing = tx
                .query_row(
                    &format!(
                        "SELECT {FILE_COLUMNS} FROM python_files \
                         WHERE org = ?1 AND registry = ?2 AND project = ?3 AND filename = ?4"
                    ),
                    params![org, registry, f.project.as_str(), f.filename],
                    file_from,
                )
                .optional()?;
            if let Some(e) = existing {
                return Ok(AddFile::Exists(Box::new(e)));
            }
            if f.filetype == "sdist" {
                let other: Option<String> = tx
                    .query_row(
                        "SELECT filename FROM python_files WHERE org = ?1 AND registry = ?2 \
                         AND project = ?3 AND release = ?4 AND filetype = 'sdist'",
                        params![org, registry, f.project.as_str(), release],
                        |r| r.get(0),
                    )
                    .optional()?;
                if let Some(other) = other {
                    return Ok(AddFile::SdistExists(other));
                }
            }
            tx.execute(
                &format!(
                    "INSERT INTO python_files (org, registry, release, {FILE_COLUMNS}) \
                     VALUES (?1, ?2, ?16, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
                ),
                params![
                    org,
                    registry,
                    f.project.as_str(),
                    f.filename,
                    f.version,
                    f.filetype,
                    f.size as i64,
                    f.digest.to_string(),
                    f.manifest.to_string(),
                    f.metadata.as_ref().map(|(d, _)| d.to_string()),
                    f.metadata.as_ref().map(|(_, s)| *s as i64),
                    f.requires_python,
                    f.uploaded_at_ms,
                    f.uploaded_by,
                    f.yanked,
                    release,
                ],
            )?;
            tx.execute(
                "INSERT INTO python_projects (org, registry, name, display_name, files, last_upload_ms) \
                 VALUES (?1, ?2, ?3, ?4, 1, ?5) \
                 ON CONFLICT (org, registry, name) DO UPDATE SET \
                 display_name = excluded.display_name, files = files + 1, \
                 last_upload_ms = max(last_upload_ms, excluded.last_upload_ms)",
                params![org, registry, f.project.as_str(), display_name, f.uploaded_at_ms],
            )?;
            Ok(AddFile::Added)
        })
        .await
    }

    async fn python_file(
        &self,
        org: &OrgName,
        registry: &RegistryName,
        project: &NormalizedName,
        filename: &str,
    ) -> Result<Option<PythonFile>> {
        self.read(|c| {
            c.prepare_cached(&format!(
                "SELECT {FILE_COLUMNS} FROM python_files \
                 WHERE org = ?1 AND registry = ?2 AND project = ?3 AND filename = ?4"
            ))?
            .query_row(
                params![org.as_str(), registry.as_str(), project.as_str(), filename],
                file_from,
            )
            .optional()
        })
    }

    async fn python_files(
        &self,
        org: &OrgName,
        registry: &RegistryName,
        project: &NormalizedName,
    ) -> Result<Vec<PythonFile>> {
        self.read(|c| {
            c.prepare_cached(&format!(
                "SELECT {FILE_COLUMNS} FROM python_files \
                 WHERE org = ?1 AND registry = ?2 AND project = ?3 ORDER BY filename"
            ))?
            .query_map(
                params![org.as_str(), registry.as_str(), project.as_str()],
                file_from,
            )?
            .collect()
        })
    }

    async fn python_project(
        &self,
        org: &OrgName,
        registry: &RegistryName,
        project: &NormalizedName,
    ) -> Result<Option<PythonProject>> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT name, display_name, files, last_upload_ms FROM python_projects \
                 WHERE org = ?1 AND registry = ?2 AND name = ?3",
            )?
            .query_row(
                params![org.as_str(), registry.as_str(), project.as_str()],
                project_from,
            )
            .optional()
        })
    }

    async fn python_projects(
        &self,
        org: &OrgName,
        registry: &RegistryName,
    ) -> Result<Vec<PythonProject>> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT name, display_name, files, last_upload_ms FROM python_projects \
                 WHERE org = ?1 AND registry = ?2 ORDER BY name",
            )?
            .query_map(params![org.as_str(), registry.as_str()], project_from)?
            .collect()
        })
    }

    async fn set_python_yanked(
        &self,
        org: &OrgName,
        registry: &RegistryName,
        project: &NormalizedName,
        filename: &str,
        yanked: Option<&str>,
    ) -> Result<bool> {
        let args = (
            org.to_string(),
            registry.to_string(),
            project.to_string(),
            filename.to_string(),
            yanked.map(str::to_string),
        );
        self.write(move |tx| {
            let (org, registry, project, filename, yanked) = args;
            Ok(tx.execute(
                "UPDATE python_files SET yanked = ?5 \
                 WHERE org = ?1 AND registry = ?2 AND project = ?3 AND filename = ?4",
                params![org, registry, project, filename, yanked],
            )? > 0)
        })
        .await
    }

    async fn delete_python_file(
        &self,
        org: &OrgName,
        registry: &RegistryName,
        project: &NormalizedName,
        filename: &str,
    ) -> Result<bool> {
        let args = (
            org.to_string(),
            registry.to_string(),
            project.to_string(),
            filename.to_string(),
        );
        self.write(move |tx| {
            let (org, registry, project, filename) = args;
            let n = tx.execute(
                "DELETE FROM python_files \
                 WHERE org = ?1 AND registry = ?2 AND project = ?3 AND filename = ?4",
                params![org, registry, project, filename],
            )?;
            if n == 0 {
                return Ok(false);
            }
            tx.execute(
                "UPDATE python_projects SET files = files - 1 \
                 WHERE org = ?1 AND registry = ?2 AND name = ?3",
                params![org, registry, project],
            )?;
            tx.execute(
                "DELETE FROM python_projects \
                 WHERE org = ?1 AND registry = ?2 AND name = ?3 AND files <= 0",
                params![org, registry, project],
            )?;
            Ok(true)
        })
        .await
    }
}
