//! In-process router tests: behaviour the conformance suite does not pin down, and every
//! bad input answered with its OCI error while stored data stays as it was.

mod common;

use axum::http::{Method, StatusCode};
use common::{Reply, TestApp, test_app};
use stowage_core::Digest;
use stowage_core::registry::Policy;
use stowage_testkit::fixtures;

/// The test registry, speaking as acme's writer token unless told otherwise.
struct Server {
    t: TestApp,
    auth: String,
}

impl Server {
    async fn new(policy: Policy) -> Server {
        let t = test_app(policy).await;
        let auth = t.bearer("acme-writer");
        Server { t, auth }
    }

    async fn send(
        &self,
        method: Method,
        uri: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Reply {
        let mut h: Vec<(&str, &str)> = headers.to_vec();
        if !h
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        {
            h.push(("authorization", &self.auth));
        }
        self.t.request(method, uri, &h, body).await
    }

    async fn push_blob(&self, repo: &str, bytes: &[u8]) -> Digest {
        let d = Digest::sha256(bytes);
        let r = self
            .send(
                Method::POST,
                &format!("/v2/{repo}/blobs/uploads/?digest={d}"),
                &[],
                bytes.to_vec(),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::CREATED,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
        d
    }

    async fn push_image(&self, repo: &str, img: &fixtures::Image, tag: &str) -> Reply {
        for (_, b) in img.blobs() {
            self.push_blob(repo, &b).await;
        }
        self.send(
            Method::PUT,
            &format!("/v2/{repo}/manifests/{tag}"),
            &[("content-type", stowage_core::manifest::OCI_MANIFEST)],
            img.manifest.clone(),
        )
        .await
    }

    async fn start_upload(&self, repo: &str) -> String {
        let r = self
            .send(
                Method::POST,
                &format!("/v2/{repo}/blobs/uploads/"),
                &[],
                vec![],
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED);
        r.header("location").to_string()
    }
}

const REPO: &str = "acme/prod/app";

#[tokio::test]
async fn manifest_round_trip_is_byte_exact() {
    let s = Server::new(Policy::default()).await;
    let img = fixtures::image("exact");
    let r = s.push_image(REPO, &img, "v1").await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.header("docker-content-digest"), img.digest.to_string());
    for reference in ["v1".to_string(), img.digest.to_string()] {
        let g = s
            .send(
                Method::GET,
                &format!("/v2/{REPO}/manifests/{reference}"),
                &[],
                vec![],
            )
            .await;
        assert_eq!(g.status, StatusCode::OK);
        assert_eq!(g.body, img.manifest, "unknown fields and whitespace kept");
        assert_eq!(
            g.header("content-type"),
            stowage_core::manifest::OCI_MANIFEST
        );
        assert_eq!(g.header("docker-content-digest"), img.digest.to_string());
        let h = s
            .send(
                Method::HEAD,
                &format!("/v2/{REPO}/manifests/{reference}"),
                &[],
                vec![],
            )
            .await;
        assert_eq!(h.status, StatusCode::OK);
        assert!(h.body.is_empty());
        assert_eq!(h.header("content-length"), img.manifest.len().to_string());
    }
}

#[tokio::test]
async fn strict_policy_refuses_missing_blobs_and_children() {
    let s = Server::new(Policy::default()).await;
    let img = fixtures::image("strict");
    // Only the config is pushed: the layer is missing.
    s.push_blob(REPO, &img.config).await;
    let r = s
        .send(
            Method::PUT,
            &format!("/v2/{REPO}/manifests/v1"),
            &[("content-type", stowage_core::manifest::OCI_MANIFEST)],
            img.manifest.clone(),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error_code(), "MANIFEST_BLOB_UNKNOWN");
    let g = s
        .send(
            Method::GET,
            &format!("/v2/{REPO}/manifests/v1"),
            &[],
            vec![],
        )
        .await;
    assert_eq!(g.status, StatusCode::NOT_FOUND, "nothing was stored");

    let (index, _) = fixtures::index(&[&img]);
    let r = s
        .send(
            Method::PUT,
            &format!("/v2/{REPO}/manifests/idx"),
            &[("content-type", stowage_core::manifest::OCI_INDEX)],
            index.clone(),
        )
        .await;
    assert_eq!(r.error_code(), "MANIFEST_BLOB_UNKNOWN");

    // With the sparse policy both are accepted.
    let sparse = Server::new(Policy { allow_sparse: true }).await;
    let r = sparse
        .send(
            Method::PUT,
            &format!("/v2/{REPO}/manifests/idx"),
            &[("content-type", stowage_core::manifest::OCI_INDEX)],
            index,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
}

#[tokio::test]
async fn bad_manifests_are_refused_with_their_codes() {
    let s = Server::new(Policy::default()).await;
    let img = fixtures::image("bad");
    s.push_image(REPO, &img, "keep").await;
    let ct = [("content-type", stowage_core::manifest::OCI_MANIFEST)];
    let cases: Vec<(String, Vec<u8>, StatusCode, &str)> = vec![
        (
            format!("/v2/{REPO}/manifests/x"),
            b"{not json".to_vec(),
            StatusCode::BAD_REQUEST,
            "MANIFEST_INVALID",
        ),
        (
            format!("/v2/{REPO}/manifests/{}", Digest::sha256(b"other")),
            img.manifest.clone(),
            StatusCode::BAD_REQUEST,
            "DIGEST_INVALID",
        ),
        (
            format!("/v2/{REPO}/manifests/sha256:baddigeststring"),
            img.manifest.clone(),
            StatusCode::BAD_REQUEST,
            "DIGEST_INVALID",
        ),
        (
            format!("/v2/{REPO}/manifests/bad!tag"),
            img.manifest.clone(),
            StatusCode::BAD_REQUEST,
            "TAG_INVALID",
        ),
        (
            format!("/v2/{REPO}/manifests/big"),
            vec![b' '; 4 * 1024 * 1024 + 1],
            StatusCode::PAYLOAD_TOO_LARGE,
            "SIZE_INVALID",
        ),
        (
            "/v2/acme/app/manifests/v1".to_string(),
            img.manifest.clone(),
            StatusCode::BAD_REQUEST,
            "NAME_INVALID",
        ),
        (
            "/v2/Acme/prod/app/manifests/v1".to_string(),
            img.manifest.clone(),
            StatusCode::BAD_REQUEST,
            "NAME_INVALID",
        ),
    ];
    for (uri, body, status, code) in cases {
        let r = s.send(Method::PUT, &uri, &ct, body).await;
        assert_eq!((r.status, r.error_code().as_str()), (status, code), "{uri}");
    }
    // Content-Type that contradicts the manifest's mediaType.
    let r = s
        .send(
            Method::PUT,
            &format!("/v2/{REPO}/manifests/x"),
            &[("content-type", stowage_core::manifest::OCI_INDEX)],
            img.manifest.clone(),
        )
        .await;
    assert_eq!(r.error_code(), "MANIFEST_INVALID");
    // What was there before is untouched.
    let tags = s
        .send(Method::GET, &format!("/v2/{REPO}/tags/list"), &[], vec![])
        .await;
    let v: serde_json::Value = serde_json::from_slice(&tags.body).unwrap();
    assert_eq!(v["tags"], serde_json::json!(["keep"]));
}

#[tokio::test]
async fn chunked_upload_refuses_gaps_overlaps_and_wrong_digests() {
    let s = Server::new(Policy::default()).await;
    let loc = s.start_upload(REPO).await;
    let r = s
        .send(
            Method::PATCH,
            &loc,
            &[("content-range", "0-3")],
            b"abcd".to_vec(),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(r.header("range"), "0-3");
    // A gap and an overlap: 416 with the current range, nothing appended.
    for range in ["5-6", "2-3"] {
        let r = s
            .send(
                Method::PATCH,
                &loc,
                &[("content-range", range)],
                b"xy".to_vec(),
            )
            .await;
        assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE, "{range}");
        assert_eq!(r.header("range"), "0-3");
        assert_eq!(r.error_code(), "BLOB_UPLOAD_INVALID");
    }
    // Content-Range that disagrees with the body length.
    let r = s
        .send(
            Method::PATCH,
            &loc,
            &[("content-range", "4-9")],
            b"ef".to_vec(),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let st = s.send(Method::GET, &loc, &[], vec![]).await;
    assert_eq!(
        (st.status, st.header("range")),
        (StatusCode::NO_CONTENT, "0-3")
    );
    // A malformed Content-Range.
    let r = s
        .send(
            Method::PATCH,
            &loc,
            &[("content-range", "bogus")],
            b"ef".to_vec(),
        )
        .await;
    assert_eq!(r.error_code(), "BLOB_UPLOAD_INVALID");
    // Finishing with the wrong digest stores nothing.
    let wrong = Digest::sha256(b"something else");
    let sep = if loc.contains('?') { '&' } else { '?' };
    let r = s
        .send(
            Method::PUT,
            &format!("{loc}{sep}digest={wrong}"),
            &[],
            vec![],
        )
        .await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (StatusCode::BAD_REQUEST, "DIGEST_INVALID")
    );
    for d in [wrong, Digest::sha256(b"abcd")] {
        let h = s
            .send(Method::HEAD, &format!("/v2/{REPO}/blobs/{d}"), &[], vec![])
            .await;
        assert_eq!(h.status, StatusCode::NOT_FOUND);
    }
    // A PUT without a digest, and unknown sessions.
    let loc = s.start_upload(REPO).await;
    let r = s.send(Method::PUT, &loc, &[], vec![]).await;
    assert_eq!(r.error_code(), "DIGEST_INVALID");
    let r = s
        .send(
            Method::PATCH,
            &format!("/v2/{REPO}/blobs/uploads/0123456789abcdef0123456789abcdef"),
            &[],
            b"x".to_vec(),
        )
        .await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN")
    );
    let r = s
        .send(
            Method::GET,
            &loc.replace("acme/prod/app", "acme/prod/other"),
            &[],
            vec![],
        )
        .await;
    assert_eq!(
        r.error_code(),
        "BLOB_UPLOAD_UNKNOWN",
        "a session belongs to its repository"
    );
}

#[tokio::test]
async fn blob_reads_ranges_and_isolation() {
    let s = Server::new(Policy::default()).await;
    let body: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
    let d = s.push_blob(REPO, &body).await;
    let r = s
        .send(
            Method::GET,
            &format!("/v2/{REPO}/blobs/{d}"),
            &[("range", "bytes=10-19")],
            vec![],
        )
        .await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.body, &body[10..20]);
    assert_eq!(r.header("content-range"), "bytes 10-19/1000");
    let r = s
        .send(
            Method::GET,
            &format!("/v2/{REPO}/blobs/{d}"),
            &[("range", "bytes=1000-")],
            vec![],
        )
        .await;
    assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(r.header("content-range"), "bytes */1000");
    // Another repository does not see the blob until it is mounted.
    let other = "acme/prod/other";
    let r = s
        .send(Method::GET, &format!("/v2/{other}/blobs/{d}"), &[], vec![])
        .await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (StatusCode::NOT_FOUND, "BLOB_UNKNOWN")
    );
    // Another organization cannot mount it, with or without naming the source: it gets a
    // fresh upload instead.
    let globex = s.t.bearer("globex-writer");
    for query in [format!("mount={d}"), format!("mount={d}&from={REPO}")] {
        let r = s
            .send(
                Method::POST,
                &format!("/v2/globex/prod/app/blobs/uploads/?{query}"),
                &[("authorization", &globex)],
                vec![],
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{query}");
    }
    // Automatic mounts stay inside the registry: acme/dev does not get it from acme/prod.
    let r = s
        .send(
            Method::POST,
            &format!("/v2/acme/dev/app/blobs/uploads/?mount={d}"),
            &[],
            vec![],
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let r = s
        .send(
            Method::POST,
            &format!("/v2/{other}/blobs/uploads/?mount={d}&from={REPO}"),
            &[],
            vec![],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = s
        .send(Method::GET, &format!("/v2/{other}/blobs/{d}"), &[], vec![])
        .await;
    assert_eq!(r.body, body);
    // Deleting from one repository leaves the other's copy readable.
    let r = s
        .send(
            Method::DELETE,
            &format!("/v2/{REPO}/blobs/{d}"),
            &[],
            vec![],
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let r = s
        .send(Method::GET, &format!("/v2/{other}/blobs/{d}"), &[], vec![])
        .await;
    assert_eq!(r.body, body);
    let r = s
        .send(
            Method::GET,
            &format!("/v2/{REPO}/blobs/sha256:nothex"),
            &[],
            vec![],
        )
        .await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (StatusCode::BAD_REQUEST, "DIGEST_INVALID")
    );
}

#[tokio::test]
async fn tags_and_catalog_paginate_with_link_headers() {
    let s = Server::new(Policy::default()).await;
    let img = fixtures::image("tags");
    for t in ["c", "a", "b", "d"] {
        assert_eq!(
            s.push_image(REPO, &img, t).await.status,
            StatusCode::CREATED
        );
    }
    let r = s
        .send(
            Method::GET,
            &format!("/v2/{REPO}/tags/list?n=2"),
            &[],
            vec![],
        )
        .await;
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["tags"], serde_json::json!(["a", "b"]));
    assert_eq!(
        r.header("link"),
        format!("</v2/{REPO}/tags/list?n=2&last=b>; rel=\"next\"")
    );
    let r = s
        .send(
            Method::GET,
            &format!("/v2/{REPO}/tags/list?n=2&last=b"),
            &[],
            vec![],
        )
        .await;
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["tags"], serde_json::json!(["c", "d"]));
    assert_eq!(r.header("link"), "");
    let r = s
        .send(
            Method::GET,
            &format!("/v2/{REPO}/tags/list?n=x"),
            &[],
            vec![],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = s
        .send(Method::GET, "/v2/acme/prod/nothing/tags/list", &[], vec![])
        .await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (StatusCode::NOT_FOUND, "NAME_UNKNOWN")
    );

    s.push_image("acme/prod/zzz", &img, "v1").await;
    let r = s.send(Method::GET, "/v2/_catalog?n=1", &[], vec![]).await;
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["repositories"], serde_json::json!([REPO]));
    assert_eq!(
        r.header("link"),
        "</v2/_catalog?n=1&last=acme%2Fprod%2Fapp>; rel=\"next\""
    );
}

#[tokio::test]
async fn referrers_filter_and_subject_header() {
    let s = Server::new(Policy::default()).await;
    let img = fixtures::image("subject");
    s.push_image(REPO, &img, "v1").await;
    let empty_cfg = b"{}".to_vec();
    s.push_blob(REPO, &empty_cfg).await;
    let sig = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": stowage_core::manifest::OCI_MANIFEST,
        "artifactType": "application/vnd.example.sig",
        "config": {"mediaType": stowage_core::manifest::OCI_EMPTY, "digest": Digest::sha256(&empty_cfg).to_string(), "size": 2},
        "layers": [],
        "subject": {"mediaType": stowage_core::manifest::OCI_MANIFEST, "digest": img.digest.to_string(), "size": img.manifest.len()},
        "annotations": {"who": "ci"}
    }))
    .unwrap();
    let sig_digest = Digest::sha256(&sig);
    let r = s
        .send(
            Method::PUT,
            &format!("/v2/{REPO}/manifests/{sig_digest}"),
            &[("content-type", stowage_core::manifest::OCI_MANIFEST)],
            sig,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.header("oci-subject"), img.digest.to_string());
    let r = s
        .send(
            Method::GET,
            &format!("/v2/{REPO}/referrers/{}", img.digest),
            &[],
            vec![],
        )
        .await;
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["manifests"][0]["digest"], sig_digest.to_string());
    assert_eq!(
        v["manifests"][0]["artifactType"],
        "application/vnd.example.sig"
    );
    assert_eq!(v["manifests"][0]["annotations"]["who"], "ci");
    let r = s
        .send(
            Method::GET,
            &format!(
                "/v2/{REPO}/referrers/{}?artifactType=application/other",
                img.digest
            ),
            &[],
            vec![],
        )
        .await;
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["manifests"], serde_json::json!([]));
    assert_eq!(r.header("oci-filters-applied"), "artifactType");
}

#[tokio::test]
async fn deleting_a_manifest_takes_its_tags() {
    let s = Server::new(Policy::default()).await;
    let img = fixtures::image("del");
    s.push_image(REPO, &img, "v1").await;
    s.push_image(REPO, &img, "v2").await;
    let r = s
        .send(
            Method::DELETE,
            &format!("/v2/{REPO}/manifests/v1"),
            &[],
            vec![],
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let r = s
        .send(
            Method::GET,
            &format!("/v2/{REPO}/manifests/v2"),
            &[],
            vec![],
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "deleting a tag leaves the manifest and other tags"
    );
    let r = s
        .send(
            Method::DELETE,
            &format!("/v2/{REPO}/manifests/{}", img.digest),
            &[],
            vec![],
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let r = s
        .send(
            Method::GET,
            &format!("/v2/{REPO}/manifests/v2"),
            &[],
            vec![],
        )
        .await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN")
    );
    let r = s
        .send(
            Method::DELETE,
            &format!("/v2/{REPO}/manifests/{}", img.digest),
            &[],
            vec![],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn base_and_unknown_routes() {
    let s = Server::new(Policy::default()).await;
    let r = s.send(Method::GET, "/v2/", &[], vec![]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("docker-distribution-api-version"), "registry/2.0");
    let r = s
        .send(Method::GET, "/v2/acme/prod/app/whatever/x", &[], vec![])
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = s
        .send(
            Method::POST,
            &format!("/v2/{REPO}/manifests/v1"),
            &[],
            vec![],
        )
        .await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED")
    );
}

#[tokio::test]
async fn public_registries_serve_anonymous_pulls_only() {
    let s = Server::new(Policy::default()).await;
    let img = fixtures::image("public");
    let repo = "acme/public/app";
    assert_eq!(
        s.push_image(repo, &img, "v1").await.status,
        StatusCode::CREATED
    );
    let anon = [("authorization", "")];
    for path in [
        format!("/v2/{repo}/manifests/v1"),
        format!("/v2/{repo}/blobs/{}", Digest::sha256(&img.config)),
        format!("/v2/{repo}/tags/list"),
    ] {
        let r = s.t.request(Method::GET, &path, &[], vec![]).await;
        assert_eq!(r.status, StatusCode::OK, "anonymous GET {path}");
    }
    let _ = anon;
    // The anonymous token grants pull there and nothing in private registries.
    let r =
        s.t.request(
            Method::GET,
            &format!(
                "/v2/token?scope=repository:{repo}:pull,push&scope=repository:acme/prod/app:pull"
            ),
            &[],
            vec![],
        )
        .await;
    let token = r.json()["token"].as_str().unwrap().to_string();
    let bearer = format!("Bearer {token}");
    let r =
        s.t.request(
            Method::GET,
            &format!("/v2/{repo}/manifests/v1"),
            &[("authorization", &bearer)],
            vec![],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    for (method, path) in [
        (Method::POST, format!("/v2/{repo}/blobs/uploads/")),
        (Method::DELETE, format!("/v2/{repo}/manifests/v1")),
        (Method::GET, "/v2/acme/prod/app/tags/list".to_string()),
    ] {
        let r = s.t.request(method.clone(), &path, &[], vec![]).await;
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "anonymous {method} {path}"
        );
        let r =
            s.t.request(method.clone(), &path, &[("authorization", &bearer)], vec![])
                .await;
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "anonymous token {method} {path}"
        );
    }
}

#[tokio::test]
async fn immutable_tags_cannot_move_or_go() {
    let s = Server::new(Policy::default()).await;
    let repo = "acme/frozen/app";
    let a = fixtures::image("frozen-a");
    let b = fixtures::image("frozen-b");
    assert_eq!(
        s.push_image(repo, &a, "v1").await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        s.push_image(repo, &a, "v1").await.status,
        StatusCode::CREATED,
        "same target: fine"
    );
    let r = s.push_image(repo, &b, "v1").await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (StatusCode::FORBIDDEN, "DENIED")
    );
    let r = s
        .send(
            Method::DELETE,
            &format!("/v2/{repo}/manifests/v1"),
            &[],
            vec![],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = s
        .send(
            Method::DELETE,
            &format!("/v2/{repo}/manifests/{}", a.digest),
            &[],
            vec![],
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "deleting the manifest would remove its tag"
    );
    let r = s
        .send(
            Method::GET,
            &format!("/v2/{repo}/manifests/v1"),
            &[],
            vec![],
        )
        .await;
    assert_eq!(r.body, a.manifest, "unchanged");
    assert_eq!(
        s.push_image(repo, &b, "v2").await.status,
        StatusCode::CREATED,
        "new tags are fine"
    );
}

#[tokio::test]
async fn pushing_to_a_registry_that_does_not_exist_is_refused() {
    let s = Server::new(Policy::default()).await;
    let r = s
        .send(
            Method::POST,
            "/v2/acme/nosuch/app/blobs/uploads/",
            &[],
            vec![],
        )
        .await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (StatusCode::NOT_FOUND, "NAME_UNKNOWN")
    );
    assert!(String::from_utf8_lossy(&r.body).contains("acme/nosuch"));
    let img = fixtures::image("nosuch");
    let r = s
        .send(
            Method::PUT,
            "/v2/acme/nosuch/app/manifests/v1",
            &[("content-type", stowage_core::manifest::OCI_MANIFEST)],
            img.manifest,
        )
        .await;
    assert_eq!(r.error_code(), "NAME_UNKNOWN");
}
