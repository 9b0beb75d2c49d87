//! The [`Catalog`] and [`Uploads`] contracts, as one suite every metadata adapter runs.

use bytes::Bytes;
use std::collections::BTreeMap;
use std::sync::Arc;
use stowage_core::ports::{Catalog, ManifestRecord, UploadSession, Uploads};
use stowage_core::{Digest, Reference, RepoName, Tag, UploadId};

fn repo(s: &str) -> RepoName {
    RepoName::parse(s).unwrap()
}

fn tag(s: &str) -> Tag {
    Tag::parse(s).unwrap()
}

fn manifest(body: &str, subject: Option<&Digest>, artifact_type: Option<&str>) -> ManifestRecord {
    let mut annotations = BTreeMap::new();
    annotations.insert("org.example.note".to_string(), body.to_string());
    ManifestRecord {
        digest: Digest::sha256(body.as_bytes()),
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        body: Bytes::copy_from_slice(body.as_bytes()),
        subject: subject.cloned(),
        artifact_type: artifact_type.map(str::to_string),
        annotations,
    }
}

/// Runs every check against a store that implements both ports and starts empty.
pub async fn suite<S: Catalog + Uploads>(store: Arc<S>) {
    blob_links(&*store).await;
    manifests_and_tags(&*store).await;
    referrers_and_listing(&*store).await;
    large_manifests(&*store).await;
    upload_sessions(&*store).await;
}

async fn blob_links(c: &dyn Catalog) {
    let a = repo("acme/prod/app");
    let b = repo("acme/dev/app");
    let other = repo("globex/prod/app");
    let d = Digest::sha256(b"layer");
    assert!(!c.repo_exists(&a).await.unwrap());
    assert_eq!(c.blob_link(&a, &d).await.unwrap(), None);
    c.link_blob(&a, &d, 5).await.unwrap();
    c.link_blob(&a, &d, 5).await.unwrap(); // idempotent
    assert!(c.repo_exists(&a).await.unwrap());
    assert_eq!(c.blob_link(&a, &d).await.unwrap(), Some(5));
    assert_eq!(
        c.blob_link(&b, &d).await.unwrap(),
        None,
        "links are per repository"
    );
    assert_eq!(c.find_blob("acme/", &d).await.unwrap(), Some(5));
    assert_eq!(
        c.find_blob("globex/", &d).await.unwrap(),
        None,
        "find stays in its prefix"
    );
    assert_eq!(c.find_blob("acm", &d).await.unwrap(), Some(5));
    assert!(c.blob_linked_anywhere(&d).await.unwrap());
    let missing = Digest::sha256(b"missing");
    assert_eq!(
        c.missing(&a, &[d.clone(), missing.clone()], &[])
            .await
            .unwrap(),
        vec![missing]
    );
    assert!(c.unlink_blob(&a, &d).await.unwrap());
    assert!(!c.unlink_blob(&a, &d).await.unwrap());
    assert!(!c.blob_linked_anywhere(&d).await.unwrap());
    assert!(!c.unlink_blob(&other, &d).await.unwrap());
}

async fn manifests_and_tags(c: &dyn Catalog) {
    let r = repo("acme/prod/web");
    let m1 = manifest(r#"{"v":1}"#, None, None);
    let m2 = manifest(r#"{"v":2}"#, None, None);
    c.put_manifest(&r, &m1, &[tag("v1"), tag("latest")])
        .await
        .unwrap();
    let got = c
        .get_manifest(&r, &Reference::Tag(tag("latest")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        got, m1,
        "bytes, media type and annotations come back exactly"
    );
    let by_digest = c
        .get_manifest(&r, &Reference::Digest(m1.digest.clone()))
        .await
        .unwrap();
    assert_eq!(by_digest.unwrap().body, m1.body);
    assert_eq!(
        c.missing(&r, &[], &[m1.digest.clone(), m2.digest.clone()])
            .await
            .unwrap(),
        vec![m2.digest.clone()]
    );

    // Moving a tag; pushing the same manifest twice.
    c.put_manifest(&r, &m2, &[tag("latest")]).await.unwrap();
    c.put_manifest(&r, &m2, &[]).await.unwrap();
    let latest = c
        .get_manifest(&r, &Reference::Tag(tag("latest")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(latest.digest, m2.digest);
    assert_eq!(
        c.list_tags(&r, None, 100).await.unwrap(),
        vec!["latest", "v1"]
    );
    assert_eq!(c.list_tags(&r, None, 1).await.unwrap(), vec!["latest"]);
    assert_eq!(
        c.list_tags(&r, Some("latest"), 10).await.unwrap(),
        vec!["v1"]
    );

    // The artifact listing: newest first, with sorted tags and sizes.
    let arts = c.list_artifacts(&r, 10).await.unwrap();
    assert_eq!(arts.len(), 2);
    assert_eq!(arts[0].digest, m2.digest);
    assert_eq!(arts[0].tags, vec!["latest"]);
    assert_eq!(arts[1].tags, vec!["v1"]);
    assert_eq!(arts[1].size, m1.body.len() as u64);
    assert_eq!(c.list_artifacts(&r, 1).await.unwrap().len(), 1);

    // Deleting a tag keeps the manifest; deleting a manifest takes its tags.
    assert!(c.delete_tag(&r, &tag("v1")).await.unwrap());
    assert!(!c.delete_tag(&r, &tag("v1")).await.unwrap());
    assert!(
        c.get_manifest(&r, &Reference::Digest(m1.digest.clone()))
            .await
            .unwrap()
            .is_some()
    );
    assert!(c.delete_manifest(&r, &m2.digest).await.unwrap());
    assert!(!c.delete_manifest(&r, &m2.digest).await.unwrap());
    assert!(
        c.get_manifest(&r, &Reference::Tag(tag("latest")))
            .await
            .unwrap()
            .is_none()
    );
    assert!(c.list_tags(&r, None, 100).await.unwrap().is_empty());
    // Other repositories do not see it.
    let other = repo("acme/prod/other");
    assert!(
        c.get_manifest(&other, &Reference::Digest(m1.digest.clone()))
            .await
            .unwrap()
            .is_none()
    );
}

async fn referrers_and_listing(c: &dyn Catalog) {
    let r = repo("acme/prod/signed");
    let subject = Digest::sha256(b"the image");
    let sig = manifest(
        r#"{"sig":1}"#,
        Some(&subject),
        Some("application/vnd.example.sig"),
    );
    let sbom = manifest(
        r#"{"sbom":1}"#,
        Some(&subject),
        Some("application/spdx+json"),
    );
    let unrelated = manifest(r#"{"x":1}"#, None, None);
    for m in [&sig, &sbom, &unrelated] {
        c.put_manifest(&r, m, &[]).await.unwrap();
    }
    let mut got = c.referrers(&r, &subject).await.unwrap();
    got.sort_by(|a, b| a.digest.cmp(&b.digest));
    let mut want = vec![sig.clone(), sbom.clone()];
    want.sort_by(|a, b| a.digest.cmp(&b.digest));
    assert_eq!(got.len(), 2);
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g.digest, w.digest);
        assert_eq!(g.size, w.body.len() as u64);
        assert_eq!(g.artifact_type, w.artifact_type);
        assert_eq!(g.annotations, w.annotations);
    }
    assert!(
        c.referrers(&repo("acme/prod/web"), &subject)
            .await
            .unwrap()
            .is_empty()
    );

    c.link_blob(&repo("acme/dev/app"), &Digest::sha256(b"d"), 1)
        .await
        .unwrap();
    let all = c
        .list_repositories(&["acme/".to_string()], None, 100)
        .await
        .unwrap();
    let names: Vec<&str> = all.iter().map(|r| r.as_str()).collect();
    assert!(names.windows(2).all(|w| w[0] < w[1]), "sorted: {names:?}");
    assert!(names.contains(&"acme/prod/signed"));
    let page = c
        .list_repositories(&["acme/".to_string()], Some("acme/prod/signed"), 100)
        .await
        .unwrap();
    assert!(page.iter().all(|n| n.as_str() > "acme/prod/signed"));
    assert!(
        c.list_repositories(&[], None, 100)
            .await
            .unwrap()
            .is_empty(),
        "no prefixes, no names"
    );
    let dev = c
        .list_repositories(&["acme/dev/".to_string()], None, 100)
        .await
        .unwrap();
    assert!(dev.iter().all(|n| n.as_str().starts_with("acme/dev/")));
    assert!(!dev.is_empty());
    let two = c
        .list_repositories(
            &["acme/dev/".to_string(), "acme/prod/".to_string()],
            None,
            2,
        )
        .await
        .unwrap();
    assert_eq!(two.len(), 2);
    assert!(two[0] < two[1]);
}

/// A manifest of exactly `size` bytes whose content varies along its length, with a subject,
/// an artifact type and an annotation of `annotation` bytes.
fn large_manifest(size: usize, subject: &Digest, annotation: usize) -> ManifestRecord {
    let head = br#"{"pad":""#;
    let tail = br#""}"#;
    let mut body = Vec::with_capacity(size);
    body.extend_from_slice(head);
    body.extend((0..size - head.len() - tail.len()).map(|i| b'a' + ((i * 7 + i / 251) % 26) as u8));
    body.extend_from_slice(tail);
    let mut annotations = BTreeMap::new();
    annotations.insert("org.example.size".to_string(), size.to_string());
    annotations.insert("org.example.long".to_string(), "n".repeat(annotation));
    ManifestRecord {
        digest: Digest::sha256(&body),
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        body: Bytes::from(body),
        subject: Some(subject.clone()),
        artifact_type: Some("application/vnd.example.large".into()),
        annotations,
    }
}

/// Manifests up to the 4 MiB the registry accepts come back byte for byte, by tag and by
/// digest: one just over a DynamoDB item (400 KiB) and one of 4 MiB whose annotations alone
/// are over it too. (Failures print no bodies: they are megabytes.)
async fn large_manifests(c: &dyn Catalog) {
    let r = repo("acme/prod/large");
    let subject = Digest::sha256(b"the large subject");
    let over_item = large_manifest(400 * 1024 + 1, &subject, 10);
    let four_mib = large_manifest(4 * 1024 * 1024, &subject, 500 * 1024);
    for m in [&over_item, &four_mib] {
        let t = tag(&format!("s{}", m.body.len()));
        c.put_manifest(&r, m, &[t.clone(), tag("latest")])
            .await
            .unwrap();
        let by_tag = c.get_manifest(&r, &Reference::Tag(t)).await.unwrap();
        assert!(
            by_tag.as_ref() == Some(m),
            "a {}-byte manifest comes back exactly by tag",
            m.body.len()
        );
        let by_digest = c
            .get_manifest(&r, &Reference::Digest(m.digest.clone()))
            .await
            .unwrap();
        assert!(
            by_digest.as_ref() == Some(m),
            "a {}-byte manifest comes back exactly by digest",
            m.body.len()
        );
        assert!(
            c.missing(&r, &[], std::slice::from_ref(&m.digest))
                .await
                .unwrap()
                .is_empty()
        );
    }
    // Pushing one again (with another tag) keeps it whole.
    c.put_manifest(&r, &four_mib, &[tag("again")])
        .await
        .unwrap();
    let again = c
        .get_manifest(&r, &Reference::Tag(tag("again")))
        .await
        .unwrap();
    assert!(
        again.as_ref() == Some(&four_mib),
        "a re-pushed large manifest reads back"
    );
    let latest = c
        .get_manifest(&r, &Reference::Tag(tag("latest")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(latest.digest, four_mib.digest);

    let mut refs = c.referrers(&r, &subject).await.unwrap();
    refs.sort_by_key(|x| x.size);
    assert_eq!(refs.len(), 2);
    for (got, want) in refs.iter().zip([&over_item, &four_mib]) {
        assert_eq!(got.digest, want.digest);
        assert_eq!(got.size, want.body.len() as u64);
        assert!(got.annotations == want.annotations, "referrer annotations");
    }
    let arts = c.list_artifacts(&r, 10).await.unwrap();
    let sizes: Vec<(u64, Vec<String>)> = arts.iter().map(|a| (a.size, a.tags.clone())).collect();
    assert_eq!(
        sizes,
        [
            (
                four_mib.body.len() as u64,
                vec!["again".into(), "latest".into(), "s4194304".into()]
            ),
            (over_item.body.len() as u64, vec!["s409601".into()]),
        ]
    );

    for m in [&over_item, &four_mib] {
        assert!(c.delete_manifest(&r, &m.digest).await.unwrap());
        assert!(
            c.get_manifest(&r, &Reference::Digest(m.digest.clone()))
                .await
                .unwrap()
                .is_none()
        );
    }
    assert!(c.list_tags(&r, None, 100).await.unwrap().is_empty());
    assert!(c.referrers(&r, &subject).await.unwrap().is_empty());
}

async fn upload_sessions(u: &dyn Uploads) {
    let id = UploadId::from_random([9; 16]);
    assert_eq!(u.get_upload(&id).await.unwrap(), None);
    let s = UploadSession {
        id: id.clone(),
        repo: repo("acme/prod/app"),
        size: 0,
        started_at: 1,
    };
    u.create_upload(&s).await.unwrap();
    assert_eq!(u.get_upload(&id).await.unwrap(), Some(s.clone()));
    u.set_upload_size(&id, 42).await.unwrap();
    assert_eq!(u.get_upload(&id).await.unwrap().unwrap().size, 42);
    u.delete_upload(&id).await.unwrap();
    u.delete_upload(&id).await.unwrap();
    assert_eq!(u.get_upload(&id).await.unwrap(), None);
}
