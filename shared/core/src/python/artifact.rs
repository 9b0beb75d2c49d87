//! How a Python distribution is kept as an OCI artifact.
//!
//! Each uploaded file is one image manifest in repository `<org>/<registry>/python/<normalized
//! name>`: `artifactType` [`ARTIFACT_TYPE`], the empty config, and its layers:
//!
//! 1. the file itself ([`WHEEL_MEDIA_TYPE`] or [`SDIST_MEDIA_TYPE`]), annotated with
//!    `org.opencontainers.image.title` = the filename and the core metadata fields
//!    (`org.python.metadata.*`);
//! 2. for wheels, the core metadata file (PEP 658) ([`METADATA_MEDIA_TYPE`]), titled
//!    `<filename>.metadata`, so the artifact is self-contained and the blob is referenced.
//!
//! A version's files are grouped under the tag [`PyVersion::tag`] by an image index listing
//! every file manifest of that version (each annotated with [`FILENAME_ANNOTATION`]), so
//! `oras pull <repo>:<version>` fetches them all.
//!
//! [`PyVersion::tag`]: crate::python::PyVersion::tag

use crate::digest::Digest;
use crate::manifest::{OCI_EMPTY, OCI_INDEX, OCI_MANIFEST};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

pub const ARTIFACT_TYPE: &str = "application/vnd.python.artifact";
pub const WHEEL_MEDIA_TYPE: &str = "application/vnd.python.whl.file";
pub const SDIST_MEDIA_TYPE: &str = "application/vnd.python.sdist.file";
pub const METADATA_MEDIA_TYPE: &str = "application/vnd.python.metadata.file";
pub const TITLE: &str = "org.opencontainers.image.title";
pub const CREATED: &str = "org.opencontainers.image.created";
pub const PROJECT_ANNOTATION: &str = "org.python.project";
pub const VERSION_ANNOTATION: &str = "org.python.version";
pub const FILENAME_ANNOTATION: &str = "org.python.filename";

/// The empty config blob (`{}`), and its digest.
pub const EMPTY_CONFIG: &[u8] = b"{}";

pub fn empty_config_digest() -> Digest {
    Digest::sha256(EMPTY_CONFIG)
}

/// Everything the file's manifest says.
#[derive(Clone, Debug)]
pub struct FileArtifact<'a> {
    pub project: &'a str,
    pub version: &'a str,
    pub filename: &'a str,
    pub is_wheel: bool,
    pub digest: &'a Digest,
    pub size: u64,
    /// Core metadata as annotations for the file's layer.
    pub annotations: BTreeMap<String, String>,
    /// The core metadata blob (wheels).
    pub metadata: Option<(&'a Digest, u64)>,
    /// RFC 3339 upload time.
    pub created: &'a str,
}

fn annotations(map: BTreeMap<String, String>) -> Value {
    Value::Object(
        map.into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect(),
    )
}

/// The image manifest of one file: exact bytes to push.
pub fn file_manifest(a: &FileArtifact<'_>) -> Vec<u8> {
    let mut layer_annotations = a.annotations.clone();
    layer_annotations.insert(TITLE.into(), a.filename.into());
    let mut layers = vec![json!({
        "mediaType": if a.is_wheel { WHEEL_MEDIA_TYPE } else { SDIST_MEDIA_TYPE },
        "digest": a.digest.to_string(),
        "size": a.size,
        "annotations": annotations(layer_annotations),
    })];
    if let Some((digest, size)) = a.metadata {
        layers.push(json!({
            "mediaType": METADATA_MEDIA_TYPE,
            "digest": digest.to_string(),
            "size": size,
            "annotations": { TITLE: format!("{}.metadata", a.filename) },
        }));
    }
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": ARTIFACT_TYPE,
        "config": {
            "mediaType": OCI_EMPTY,
            "digest": empty_config_digest().to_string(),
            "size": EMPTY_CONFIG.len(),
            "data": "e30=",
        },
        "layers": layers,
        "annotations": {
            CREATED: a.created,
            PROJECT_ANNOTATION: a.project,
            VERSION_ANNOTATION: a.version,
            FILENAME_ANNOTATION: a.filename,
        },
    });
    serde_json::to_vec(&manifest).unwrap_or_default()
}

/// One file manifest as listed in a version index.
#[derive(Clone, Debug)]
pub struct IndexEntry<'a> {
    pub filename: &'a str,
    pub manifest: &'a Digest,
    pub size: u64,
}

/// The image index of one version (`entries` in the order to list them).
pub fn version_index(project: &str, version: &str, entries: &[IndexEntry<'_>]) -> Vec<u8> {
    let manifests: Vec<Value> = entries
        .iter()
        .map(|e| {
            // Not the title annotation: oras would save the manifest itself under that name,
            // beside the layer that has it.
            let mut ann = Map::new();
            ann.insert(FILENAME_ANNOTATION.into(), Value::String(e.filename.into()));
            json!({
                "mediaType": OCI_MANIFEST,
                "artifactType": ARTIFACT_TYPE,
                "digest": e.manifest.to_string(),
                "size": e.size,
                "annotations": ann,
            })
        })
        .collect();
    let index = json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "artifactType": ARTIFACT_TYPE,
        "manifests": manifests,
        "annotations": {
            PROJECT_ANNOTATION: project,
            VERSION_ANNOTATION: version,
        },
    });
    serde_json::to_vec(&index).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{ManifestKind, parse};

    #[test]
    fn manifests_parse_as_oci() {
        let d = Digest::sha256(b"wheel");
        let m = Digest::sha256(b"meta");
        let body = file_manifest(&FileArtifact {
            project: "pkg",
            version: "1.0",
            filename: "pkg-1.0-py3-none-any.whl",
            is_wheel: true,
            digest: &d,
            size: 5,
            annotations: BTreeMap::from([("org.python.metadata.name".into(), "pkg".into())]),
            metadata: Some((&m, 4)),
            created: "2026-01-01T00:00:00Z",
        });
        let p = parse(Some(OCI_MANIFEST), &body).unwrap();
        assert_eq!(p.kind, ManifestKind::Image);
        assert_eq!(p.artifact_type.as_deref(), Some(ARTIFACT_TYPE));
        assert_eq!(p.blobs.len(), 3);
        let md = Digest::sha256(&body);
        let idx = version_index(
            "pkg",
            "1.0",
            &[IndexEntry {
                filename: "pkg-1.0-py3-none-any.whl",
                manifest: &md,
                size: body.len() as u64,
            }],
        );
        let p = parse(Some(OCI_INDEX), &idx).unwrap();
        assert_eq!(p.kind, ManifestKind::Index);
        assert_eq!(p.manifests[0].digest, md);
    }
}
