//! Fixture builders: small, valid OCI content built in the test, never downloaded.

use stowage_core::Digest;
use stowage_core::manifest::{OCI_INDEX, OCI_MANIFEST};

pub const LAYER_TAR_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const CONFIG: &str = "application/vnd.oci.image.config.v1+json";

/// An image: its config and layer blobs, and the manifest that lists them.
#[derive(Clone, Debug)]
pub struct Image {
    pub config: Vec<u8>,
    pub layers: Vec<Vec<u8>>,
    pub manifest: Vec<u8>,
    pub digest: Digest,
}

impl Image {
    /// Every blob the manifest references, with its digest.
    pub fn blobs(&self) -> Vec<(Digest, Vec<u8>)> {
        std::iter::once(&self.config)
            .chain(&self.layers)
            .map(|b| (Digest::sha256(b), b.clone()))
            .collect()
    }
}

fn descriptor(media_type: &str, bytes: &[u8]) -> serde_json::Value {
    serde_json::json!({
        "mediaType": media_type,
        "digest": Digest::sha256(bytes).to_string(),
        "size": bytes.len(),
    })
}

/// A one-layer image whose content depends on `seed`, with an unknown top-level field that a
/// registry must keep byte-exact.
pub fn image(seed: &str) -> Image {
    let config = format!(r#"{{"architecture":"amd64","os":"linux","seed":"{seed}"}}"#).into_bytes();
    let layer = format!("layer bytes for {seed}").repeat(10).into_bytes();
    let manifest = serde_json::to_vec_pretty(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(CONFIG, &config),
        "layers": [descriptor(LAYER_TAR_GZIP, &layer)],
        "annotations": { "org.example.seed": seed },
        "x-unknown-field": { "kept": [1, 2, 3] },
    }))
    .expect("json");
    let digest = Digest::sha256(&manifest);
    Image {
        config,
        layers: vec![layer],
        manifest,
        digest,
    }
}

/// An image index over `children`.
pub fn index(children: &[&Image]) -> (Vec<u8>, Digest) {
    let manifests: Vec<_> = children
        .iter()
        .map(|c| descriptor(OCI_MANIFEST, &c.manifest))
        .collect();
    let body = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": manifests,
    }))
    .expect("json");
    let d = Digest::sha256(&body);
    (body, d)
}
