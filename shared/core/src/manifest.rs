//! Manifest parsing and validation: what a pushed manifest is, and what it references.
//!
//! Stowage stores manifests as the exact bytes that were pushed; parsing here only extracts what
//! the registry needs (kind, media type, referenced blobs and child manifests, subject,
//! artifact type, annotations) and refuses what is malformed. Unknown fields are ignored here and
//! kept byte-exact by storage.

use crate::digest::Digest;
use crate::error::{Error, Result};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Largest manifest accepted, in bytes (4 MiB, as the spec suggests).
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";

/// Whether a manifest lists blobs (an image) or other manifests (an index).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ManifestKind {
    Image,
    Index,
}

/// A validated content descriptor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
}

impl Descriptor {
    /// Layers the registry is not expected to hold (OCI non-distributable, Docker foreign).
    pub fn is_non_distributable(&self) -> bool {
        self.media_type.contains(".nondistributable.") || self.media_type.contains(".foreign.")
    }
}

/// What the registry needs to know about a manifest.
#[derive(Clone, Debug, PartialEq)]
pub struct ParsedManifest {
    pub kind: ManifestKind,
    /// The media type it is served with.
    pub media_type: String,
    /// For the referrers API: `artifactType`, else (images) the config media type.
    pub artifact_type: Option<String>,
    pub subject: Option<Digest>,
    pub annotations: BTreeMap<String, String>,
    /// Blobs this manifest references that must be in the repository (config, layers;
    /// non-distributable layers left out).
    pub blobs: Vec<Descriptor>,
    /// Manifests this index references.
    pub manifests: Vec<Descriptor>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDescriptor {
    media_type: Option<String>,
    digest: Option<String>,
    size: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    schema_version: Option<i64>,
    media_type: Option<String>,
    artifact_type: Option<String>,
    config: Option<RawDescriptor>,
    layers: Option<Vec<RawDescriptor>>,
    manifests: Option<Vec<RawDescriptor>>,
    subject: Option<RawDescriptor>,
    annotations: Option<BTreeMap<String, String>>,
}

fn descriptor(raw: RawDescriptor, field: &str) -> Result<Descriptor> {
    let media_type = raw
        .media_type
        .filter(|m| !m.is_empty())
        .ok_or_else(|| Error::ManifestInvalid(format!("{field}: descriptor has no mediaType")))?;
    let digest = raw
        .digest
        .ok_or_else(|| Error::ManifestInvalid(format!("{field}: descriptor has no digest")))?;
    let digest: Digest = digest
        .parse()
        .map_err(|e| Error::ManifestInvalid(format!("{field}: {e}")))?;
    let size = raw
        .size
        .ok_or_else(|| Error::ManifestInvalid(format!("{field}: descriptor has no size")))?;
    let size = u64::try_from(size)
        .map_err(|_| Error::ManifestInvalid(format!("{field}: negative size {size}")))?;
    Ok(Descriptor {
        media_type,
        digest,
        size,
    })
}

/// Strips parameters from a Content-Type value (`a/b; charset=x` → `a/b`).
pub fn essence(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or("").trim()
}

/// Parses and validates a manifest pushed with `content_type`.
pub fn parse(content_type: Option<&str>, body: &[u8]) -> Result<ParsedManifest> {
    if body.len() > MAX_MANIFEST_BYTES {
        return Err(Error::ManifestTooLarge {
            size: body.len() as u64,
            limit: MAX_MANIFEST_BYTES as u64,
        });
    }
    let raw: RawManifest = serde_json::from_slice(body)
        .map_err(|e| Error::ManifestInvalid(format!("manifest is not valid JSON: {e}")))?;
    let header = content_type.map(essence).filter(|c| !c.is_empty());
    let media_type = match (&raw.media_type, header) {
        (Some(field), Some(header)) if field != header => {
            return Err(Error::ManifestInvalid(format!(
                "Content-Type {header:?} does not match the manifest's mediaType {field:?}"
            )));
        }
        (Some(field), _) => field.clone(),
        (None, Some(header)) => header.to_string(),
        (None, None) => {
            return Err(Error::ManifestInvalid(
                "manifest has no mediaType and the request no Content-Type".into(),
            ));
        }
    };
    let kind = match media_type.as_str() {
        OCI_MANIFEST | DOCKER_MANIFEST => ManifestKind::Image,
        OCI_INDEX | DOCKER_LIST => ManifestKind::Index,
        other => {
            return Err(Error::ManifestInvalid(format!(
                "unsupported manifest media type {other:?}"
            )));
        }
    };
    if raw.schema_version != Some(2) {
        return Err(Error::ManifestInvalid(
            "manifest schemaVersion must be 2".into(),
        ));
    }
    let subject = raw
        .subject
        .map(|s| descriptor(s, "subject"))
        .transpose()?
        .map(|d| d.digest);
    let annotations = raw.annotations.unwrap_or_default();
    match kind {
        ManifestKind::Image => {
            if raw.manifests.is_some() {
                return Err(Error::ManifestInvalid(
                    "an image manifest has no manifests field".into(),
                ));
            }
            let config = raw
                .config
                .ok_or_else(|| Error::ManifestInvalid("image manifest has no config".into()))?;
            let config = descriptor(config, "config")?;
            let layers = raw
                .layers
                .ok_or_else(|| Error::ManifestInvalid("image manifest has no layers".into()))?;
            let mut blobs = vec![config.clone()];
            for (i, layer) in layers.into_iter().enumerate() {
                let d = descriptor(layer, &format!("layers[{i}]"))?;
                if !d.is_non_distributable() {
                    blobs.push(d);
                }
            }
            let artifact_type = raw.artifact_type.or(Some(config.media_type));
            Ok(ParsedManifest {
                kind,
                media_type,
                artifact_type,
                subject,
                annotations,
                blobs,
                manifests: Vec::new(),
            })
        }
        ManifestKind::Index => {
            if raw.config.is_some() || raw.layers.is_some() {
                return Err(Error::ManifestInvalid(
                    "an image index has no config or layers".into(),
                ));
            }
            let children = raw
                .manifests
                .ok_or_else(|| Error::ManifestInvalid("image index has no manifests".into()))?;
            let manifests = children
                .into_iter()
                .enumerate()
                .map(|(i, m)| descriptor(m, &format!("manifests[{i}]")))
                .collect::<Result<Vec<_>>>()?;
            Ok(ParsedManifest {
                kind,
                media_type,
                artifact_type: raw.artifact_type,
                subject,
                annotations,
                blobs: Vec::new(),
                manifests,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(b: &[u8]) -> String {
        Digest::sha256(b).to_string()
    }

    #[test]
    fn image_with_subject_and_foreign_layer() {
        let body = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","artifactType":"application/x.test",
            "config":{{"mediaType":"{OCI_EMPTY}","digest":"{}","size":2}},
            "layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{}","size":1}},
                      {{"mediaType":"application/vnd.oci.image.layer.nondistributable.v1.tar","digest":"{}","size":1,"urls":["http://x"]}}],
            "subject":{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":3}},
            "annotations":{{"a":"b"}},"extra":{{"kept":true}}}}"#,
            d(b"{}"),
            d(b"1"),
            d(b"2"),
            d(b"3")
        );
        let m = parse(Some(OCI_MANIFEST), body.as_bytes()).unwrap();
        assert_eq!(m.kind, ManifestKind::Image);
        assert_eq!(
            m.blobs.len(),
            2,
            "the non-distributable layer is not required"
        );
        assert_eq!(m.subject.unwrap().to_string(), d(b"3"));
        assert_eq!(m.artifact_type.as_deref(), Some("application/x.test"));
        assert_eq!(m.annotations["a"], "b");
    }

    #[test]
    fn index_without_media_type_field_uses_header() {
        let body = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":5}}]}}"#,
            d(b"x")
        );
        let m = parse(Some(OCI_INDEX), body.as_bytes()).unwrap();
        assert_eq!(m.kind, ManifestKind::Index);
        assert_eq!(m.media_type, OCI_INDEX);
        assert_eq!(m.manifests.len(), 1);
        assert_eq!(m.artifact_type, None);
    }

    #[test]
    fn refuses_malformed() {
        let cfg = format!(
            r#""config":{{"mediaType":"{OCI_EMPTY}","digest":"{}","size":2}}"#,
            d(b"{}")
        );
        let cases = [
            (Some(OCI_MANIFEST), "not json".to_string()),
            (Some(OCI_MANIFEST), format!(r#"{{"schemaVersion":1,{cfg},"layers":[]}}"#)),
            (Some(OCI_MANIFEST), format!(r#"{{"schemaVersion":2,{cfg}}}"#)),
            (Some(OCI_MANIFEST), r#"{"schemaVersion":2,"layers":[]}"#.to_string()),
            (Some(OCI_INDEX), format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}",{cfg},"layers":[]}}"#)),
            (None, format!(r#"{{"schemaVersion":2,{cfg},"layers":[]}}"#)),
            (Some("application/json"), format!(r#"{{"schemaVersion":2,{cfg},"layers":[]}}"#)),
            (Some(OCI_MANIFEST), r#"{"schemaVersion":2,"config":{"mediaType":"a","digest":"sha256:12","size":2},"layers":[]}"#.to_string()),
            (Some(OCI_MANIFEST), format!(r#"{{"schemaVersion":2,"config":{{"mediaType":"a","digest":"{}","size":-1}},"layers":[]}}"#, d(b""))),
        ];
        for (ct, body) in cases {
            assert!(
                matches!(parse(ct, body.as_bytes()), Err(Error::ManifestInvalid(_))),
                "accepted {ct:?} {body}"
            );
        }
        let big = vec![b' '; MAX_MANIFEST_BYTES + 1];
        assert!(matches!(
            parse(Some(OCI_MANIFEST), &big),
            Err(Error::ManifestTooLarge { .. })
        ));
    }
}
