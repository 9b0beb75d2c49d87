//! The Python API through the router: upload, the Simple API, files, the OCI view of the same
//! files, yanks and deletes, and bad uploads that must store nothing.

mod common;

use axum::http::{Method, StatusCode};
use common::{PASSWORD, Reply, TestApp, basic, pypi_form, test_app};
use sha2::Digest as _;
use stowage_core::Digest;
use stowage_core::registry::Policy;
use stowage_testkit::python as fx;

const BASE: &str = "/api/v1/acme/prod/python";
const JSON: &str = "application/vnd.pypi.simple.v1+json";

fn sha(b: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(b))
}

fn text(r: &Reply) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

struct Pkg {
    wheel_name: String,
    wheel: Vec<u8>,
    sdist_name: String,
    sdist: Vec<u8>,
}

fn demo(version: &str) -> Pkg {
    Pkg {
        wheel_name: fx::wheel_filename("Demo.Pkg", version),
        wheel: fx::wheel("Demo.Pkg", version),
        sdist_name: fx::sdist_filename("Demo.Pkg", version),
        sdist: fx::sdist_tar_gz("Demo.Pkg", version),
    }
}

async fn get(t: &TestApp, auth: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut h = headers.to_vec();
    if !auth.is_empty() {
        h.push(("authorization", auth));
    }
    t.request(Method::GET, path, &h, vec![]).await
}

#[tokio::test]
async fn twine_upload_then_pip_reads_it_back_through_both_apis() {
    let t = test_app(Policy::default()).await;
    let w = basic("__token__", &t.tokens["acme-writer"]);
    let p = demo("1.0.0");
    for (name, bytes) in [(&p.wheel_name, &p.wheel), (&p.sdist_name, &p.sdist)] {
        let r = t
            .pypi_upload("acme/prod", &w, name, bytes, "Demo.Pkg", "1.0.0")
            .await;
        assert_eq!(r.status, StatusCode::OK, "{name}: {}", text(&r));
    }

    // The project list and the project page, in both formats.
    let r = get(&t, &w, &format!("{BASE}/simple/"), &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.header("content-type").starts_with("text/html"));
    assert!(text(&r).contains(&format!("<a href=\"{BASE}/simple/demo-pkg/\">Demo.Pkg</a>")));
    let r = get(&t, &w, &format!("{BASE}/simple/"), &[("accept", JSON)]).await;
    assert_eq!(r.header("content-type"), JSON);
    assert_eq!(r.json()["projects"][0]["name"], "Demo.Pkg");

    let r = get(
        &t,
        &w,
        &format!("{BASE}/simple/demo-pkg/"),
        &[("accept", JSON)],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));
    let page = r.json();
    assert_eq!(page["name"], "demo-pkg");
    assert_eq!(page["versions"], serde_json::json!(["1.0.0"]));
    let files = page["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    let wf = files
        .iter()
        .find(|f| f["filename"] == p.wheel_name.as_str())
        .unwrap();
    assert_eq!(wf["hashes"]["sha256"], sha(&p.wheel));
    assert_eq!(wf["size"], p.wheel.len());
    assert!(wf["upload-time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(wf["yanked"], false);
    let sf = files
        .iter()
        .find(|f| f["filename"] == p.sdist_name.as_str())
        .unwrap();
    assert_eq!(sf["core-metadata"], false, "sdists have no PEP 658 file");

    let html = get(&t, &w, &format!("{BASE}/simple/demo-pkg/"), &[]).await;
    let body = text(&html);
    assert!(body.contains("<meta name=\"pypi:repository-version\" content=\"1.1\">"));
    assert!(body.contains(&format!("{}#sha256={}", p.wheel_name, sha(&p.wheel))));

    // The file: bytes, Range, ETag.
    let url = wf["url"].as_str().unwrap().to_string();
    let r = get(&t, &w, &url, &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, p.wheel, "the uploaded bytes come back");
    let etag = r.header("etag").to_string();
    assert_eq!(etag, format!("\"{}\"", sha(&p.wheel)));
    let r = get(&t, &w, &url, &[("if-none-match", &etag)]).await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    let r = get(&t, &w, &url, &[("range", "bytes=0-9")]).await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.body, &p.wheel[..10]);
    assert_eq!(
        r.header("content-range"),
        format!("bytes 0-9/{}", p.wheel.len())
    );
    let r = get(
        &t,
        &w,
        &url,
        &[("range", "bytes=0-9"), ("if-range", "\"other\"")],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "If-Range with another ETag: all");
    let r = get(&t, &w, &url, &[("range", "bytes=999999999-")]).await;
    assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE);

    // PEP 658: the metadata file, with the advertised hash.
    let r = get(&t, &w, &format!("{url}.metadata"), &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(wf["core-metadata"]["sha256"], sha(&r.body));
    assert!(text(&r).contains("Name: Demo.Pkg"));
    let r = get(
        &t,
        &w,
        &format!("{BASE}/files/demo-pkg/{}.metadata", p.sdist_name),
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // The same file through the OCI API: the version tag is an index of the file manifests.
    let jwt = format!(
        "Bearer {}",
        t.jwt("wendy", &["repository:acme/prod/python/demo-pkg:pull"])
            .await
    );
    let r = get(
        &t,
        &jwt,
        "/v2/acme/prod/python/demo-pkg/manifests/1.0.0",
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));
    let index = r.json();
    assert_eq!(index["artifactType"], "application/vnd.python.artifact");
    assert_eq!(index["manifests"].as_array().unwrap().len(), 2);
    let mut found = false;
    for m in index["manifests"].as_array().unwrap() {
        let d = m["digest"].as_str().unwrap();
        let r = get(
            &t,
            &jwt,
            &format!("/v2/acme/prod/python/demo-pkg/manifests/{d}"),
            &[],
        )
        .await;
        let man = r.json();
        let layer = &man["layers"][0];
        if layer["annotations"]["org.opencontainers.image.title"] == p.wheel_name.as_str() {
            assert_eq!(layer["mediaType"], "application/vnd.python.whl.file");
            assert_eq!(layer["annotations"]["org.python.metadata.name"], "Demo.Pkg");
            let blob = get(
                &t,
                &jwt,
                &format!(
                    "/v2/acme/prod/python/demo-pkg/blobs/{}",
                    layer["digest"].as_str().unwrap()
                ),
                &[],
            )
            .await;
            assert_eq!(blob.body, p.wheel, "oras pull gets the same bytes");
            found = true;
        }
    }
    assert!(found);

    // Re-uploads: identical is fine, different bytes under the same name are a conflict.
    let r = t
        .pypi_upload(
            "acme/prod",
            &w,
            &p.wheel_name,
            &p.wheel,
            "Demo.Pkg",
            "1.0.0",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let other = fx::WheelBuilder::new("Demo.Pkg", "1.0.0")
        .file("demo_pkg/extra.py", b"x = 2\n")
        .build();
    let r = t
        .pypi_upload("acme/prod", &w, &p.wheel_name, &other, "Demo.Pkg", "1.0.0")
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(text(&r).contains("already exists"), "{}", text(&r));
    // One sdist per release.
    let zip_name = p.sdist_name.replace(".tar.gz", ".zip");
    let r = t
        .pypi_upload(
            "acme/prod",
            &w,
            &zip_name,
            &fx::sdist_zip("Demo.Pkg", "1.0.0"),
            "Demo.Pkg",
            "1.0.0",
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(text(&r).contains("already has a source distribution"));
    // ...also when the version is spelled differently (PEP 440: 1.0 is 1.0.0).
    let short = fx::sdist_filename("Demo.Pkg", "1.0");
    let r = t
        .pypi_upload(
            "acme/prod",
            &w,
            &short,
            &fx::sdist_tar_gz("Demo.Pkg", "1.0"),
            "Demo.Pkg",
            "1.0",
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", text(&r));
    assert!(text(&r).contains("already has a source distribution"));
    let r = get(
        &t,
        &w,
        &format!("{BASE}/simple/demo-pkg/"),
        &[("accept", JSON)],
    )
    .await;
    assert_eq!(
        r.json()["files"].as_array().unwrap().len(),
        2,
        "nothing added"
    );
    let r = get(
        &t,
        &jwt,
        "/v2/acme/prod/python/demo-pkg/manifests/1.0.0",
        &[],
    )
    .await;
    assert_eq!(r.json(), index, "the version index is unchanged");
}

#[tokio::test]
async fn names_redirect_formats_negotiate_and_unknowns_are_404() {
    let t = test_app(Policy::default()).await;
    let w = basic("__token__", &t.tokens["acme-writer"]);
    let p = demo("2.0");
    let r = t
        .pypi_upload("acme/prod", &w, &p.wheel_name, &p.wheel, "Demo.Pkg", "2.0")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));
    for (from, to) in [
        ("simple/Demo_Pkg/", "simple/demo-pkg/"),
        ("simple/demo-pkg", "simple/demo-pkg/"),
        ("simple/DEMO.pkg", "simple/demo-pkg/"),
        ("simple", "simple/"),
        ("", "simple/"),
    ] {
        let r = get(&t, &w, &format!("{BASE}/{from}"), &[]).await;
        assert_eq!(r.status, StatusCode::MOVED_PERMANENTLY, "{from}");
        assert_eq!(r.header("location"), format!("{BASE}/{to}"), "{from}");
    }
    let r = get(
        &t,
        &w,
        &format!("{BASE}/simple/Demo_Pkg/?format={JSON}"),
        &[],
    )
    .await;
    assert!(r.header("location").ends_with(&format!("?format={JSON}")));
    let r = get(
        &t,
        &w,
        &format!("{BASE}/simple/demo-pkg/?format=application/vnd.pypi.simple.v1%2Bjson"),
        &[],
    )
    .await;
    assert_eq!(r.header("content-type"), JSON);
    let r = get(
        &t,
        &w,
        &format!("{BASE}/simple/demo-pkg/"),
        &[("accept", "application/xml")],
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_ACCEPTABLE);
    let r = get(&t, &w, &format!("{BASE}/simple/nothere/"), &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = get(
        &t,
        &w,
        &format!("{BASE}/files/demo-pkg/nothere-1.0.tar.gz"),
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = get(
        &t,
        &w,
        &format!("{BASE}/files/Demo_Pkg/{}", p.wheel_name),
        &[],
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "file URLs use the normalized name"
    );
    // Pages revalidate with their ETag.
    let r = get(&t, &w, &format!("{BASE}/simple/demo-pkg/"), &[]).await;
    let etag = r.header("etag").to_string();
    assert!(etag.starts_with('"'));
    assert_eq!(r.header("vary"), "Accept");
    let r = get(
        &t,
        &w,
        &format!("{BASE}/simple/demo-pkg/"),
        &[("if-none-match", &etag)],
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    // Methods.
    let r = t
        .request(
            Method::POST,
            &format!("{BASE}/simple/demo-pkg/"),
            &[("authorization", &w)],
            vec![],
        )
        .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn oci_clients_may_read_python_repositories_but_not_write_them() {
    let t = test_app(Policy::default()).await;
    let w = basic("__token__", &t.tokens["acme-writer"]);
    let p = demo("1.0");
    let r = t
        .pypi_upload("acme/prod", &w, &p.wheel_name, &p.wheel, "Demo.Pkg", "1.0")
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let wt = t.bearer("acme-writer");
    let d = Digest::sha256(b"x");
    for (method, path) in [
        (Method::PUT, "/v2/acme/prod/python/demo-pkg/manifests/evil"),
        (
            Method::DELETE,
            "/v2/acme/prod/python/demo-pkg/manifests/1.0",
        ),
        (Method::POST, "/v2/acme/prod/python/demo-pkg/blobs/uploads/"),
        (Method::POST, "/v2/acme/prod/python/new/blobs/uploads/"),
    ] {
        let r = t
            .request(
                method.clone(),
                path,
                &[("authorization", &wt)],
                b"x".to_vec(),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{method} {path}");
        assert_eq!(r.error_code(), "DENIED");
        assert!(text(&r).contains("Python API"));
    }
    let r = t
        .request(
            Method::DELETE,
            &format!("/v2/acme/prod/python/demo-pkg/blobs/{d}"),
            &[("authorization", &wt)],
            vec![],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = t
        .request(
            Method::GET,
            "/v2/acme/prod/python/demo-pkg/tags/list",
            &[("authorization", &wt)],
            vec![],
        )
        .await;
    assert_eq!(r.json()["tags"], serde_json::json!(["1.0"]));
}

#[tokio::test]
async fn yank_unyank_and_delete_through_the_management_api() {
    let t = test_app(Policy::default()).await;
    let w = basic("__token__", &t.tokens["acme-writer"]);
    let admin = basic("admin", PASSWORD);
    let viewer = basic("vera", PASSWORD);
    for v in ["1.0", "1.1"] {
        let p = demo(v);
        for (n, b) in [(&p.wheel_name, &p.wheel), (&p.sdist_name, &p.sdist)] {
            let r = t.pypi_upload("acme/prod", &w, n, b, "Demo.Pkg", v).await;
            assert_eq!(r.status, StatusCode::OK, "{}", text(&r));
        }
    }
    let mgmt = "/api/v1/orgs/acme/registries/prod/python/projects";
    let r = get(&t, &viewer, mgmt, &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["projects"][0]["name"], "demo-pkg");
    assert_eq!(r.json()["projects"][0]["files"], 4);
    let r = get(&t, &viewer, &format!("{mgmt}/Demo_Pkg"), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "any spelling of the name");
    assert_eq!(r.json()["files"].as_array().unwrap().len(), 4);

    // A viewer may not yank; a writer yanks a whole version with a reason.
    let yank_v = format!("{mgmt}/demo-pkg/versions/1.1/yank");
    let r = t
        .request(Method::POST, &yank_v, &[("authorization", &viewer)], vec![])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = t
        .request(
            Method::POST,
            &yank_v,
            &[("authorization", &w), ("content-type", "application/json")],
            br#"{"reason":"broken <build>"}"#.to_vec(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));
    assert_eq!(r.json()["files"].as_array().unwrap().len(), 2);
    let page = get(
        &t,
        &w,
        &format!("{BASE}/simple/demo-pkg/"),
        &[("accept", JSON)],
    )
    .await;
    for f in page.json()["files"].as_array().unwrap() {
        let want = if f["filename"].as_str().unwrap().contains("1.1") {
            serde_json::json!("broken <build>")
        } else {
            serde_json::json!(false)
        };
        assert_eq!(f["yanked"], want, "{}", f["filename"]);
    }
    let html = text(&get(&t, &w, &format!("{BASE}/simple/demo-pkg/"), &[]).await);
    assert!(html.contains("data-yanked=\"broken &lt;build&gt;\""));
    // Un-yank one file, then yank one file without a reason.
    let p11 = demo("1.1");
    let one = format!("{mgmt}/demo-pkg/files/{}/yank", p11.wheel_name);
    let r = t
        .request(Method::DELETE, &one, &[("authorization", &w)], vec![])
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = t
        .request(Method::POST, &one, &[("authorization", &w)], vec![])
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let page = get(
        &t,
        &w,
        &format!("{BASE}/simple/demo-pkg/"),
        &[("accept", JSON)],
    )
    .await;
    let wf = page.json()["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["filename"] == p11.wheel_name.as_str())
        .cloned()
        .unwrap();
    assert_eq!(wf["yanked"], true);
    let r = t
        .request(
            Method::POST,
            &format!("{mgmt}/demo-pkg/versions/9.9/yank"),
            &[("authorization", &w)],
            vec![],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Deleting a file is for admins; it takes the file's manifest and index entry with it.
    let listed = get(&t, &viewer, &format!("{mgmt}/demo-pkg"), &[])
        .await
        .json();
    let deleted_manifest = listed["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["filename"] == p11.wheel_name.as_str())
        .map(|f| f["manifest"].as_str().unwrap().to_string())
        .unwrap();
    let del = format!("{mgmt}/demo-pkg/files/{}", p11.wheel_name);
    let r = t
        .request(Method::DELETE, &del, &[("authorization", &w)], vec![])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = t
        .request(Method::DELETE, &del, &[("authorization", &admin)], vec![])
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", text(&r));
    let r = t
        .request(Method::DELETE, &del, &[("authorization", &admin)], vec![])
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = get(
        &t,
        &w,
        &format!("{BASE}/files/demo-pkg/{}", p11.wheel_name),
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let wt = t.bearer("acme-writer");
    let r = get(&t, &wt, "/v2/acme/prod/python/demo-pkg/manifests/1.1", &[]).await;
    assert_eq!(
        r.json()["manifests"].as_array().unwrap().len(),
        1,
        "the sdist remains"
    );
    let r = get(
        &t,
        &wt,
        &format!("/v2/acme/prod/python/demo-pkg/manifests/{deleted_manifest}"),
        &[],
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "the file's manifest went with it"
    );
    // The same name may be uploaded again after a delete.
    let r = t
        .pypi_upload(
            "acme/prod",
            &w,
            &p11.wheel_name,
            &p11.wheel,
            "Demo.Pkg",
            "1.1",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = get(
        &t,
        &viewer,
        &format!("{BASE}/files/demo-pkg/{}", p11.wheel_name),
        &[],
    )
    .await;
    assert_eq!(r.body, p11.wheel);
    // Every change, and the download, is in the audit log.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await; // the batch writer
    let r = get(&t, &admin, "/api/v1/orgs/acme/audit?limit=1000", &[]).await;
    let actions: Vec<String> = r.json()["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    for a in [
        "python.upload",
        "python.yank",
        "python.unyank",
        "python.delete",
        "python.download",
    ] {
        assert!(
            actions.iter().any(|x| x == a),
            "{a} missing from {actions:?}"
        );
    }
}

#[tokio::test]
async fn public_registries_are_readable_anonymously_and_writable_by_members_only() {
    let t = test_app(Policy::default()).await;
    let w = basic("__token__", &t.tokens["acme-writer"]);
    let p = demo("1.0");
    let r = t
        .pypi_upload(
            "acme/public",
            &w,
            &p.wheel_name,
            &p.wheel,
            "Demo.Pkg",
            "1.0",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = get(&t, "", "/api/v1/acme/public/python/simple/demo-pkg/", &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.header("cache-control").starts_with("public"));
    let r = get(
        &t,
        "",
        &format!("/api/v1/acme/public/python/files/demo-pkg/{}", p.wheel_name),
        &[],
    )
    .await;
    assert_eq!(r.body, p.wheel);
    let p2 = demo("2.0");
    let r = t
        .pypi_upload(
            "acme/public",
            "",
            &p2.wheel_name,
            &p2.wheel,
            "Demo.Pkg",
            "2.0",
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.header("www-authenticate"), "Basic realm=\"stowage\"");
    let oscar = basic("oscar", PASSWORD);
    let r = t
        .pypi_upload(
            "acme/public",
            &oscar,
            &p2.wheel_name,
            &p2.wheel,
            "Demo.Pkg",
            "2.0",
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "outsiders may read, not write"
    );
    // Private: anonymous is challenged.
    let r = get(&t, "", &format!("{BASE}/simple/"), &[]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.header("www-authenticate"), "Basic realm=\"stowage\"");
}

/// Counts the blob files in the data directory.
fn stored_blobs(t: &TestApp) -> usize {
    fn walk(p: &std::path::Path) -> usize {
        std::fs::read_dir(p)
            .map(|d| {
                d.flatten()
                    .map(|e| {
                        let p = e.path();
                        if p.is_dir() { walk(&p) } else { 1 }
                    })
                    .sum()
            })
            .unwrap_or(0)
    }
    walk(&t.data_dir().join("blobs"))
}

#[tokio::test]
async fn every_bad_upload_is_a_specific_400_and_stores_nothing() {
    let t = test_app(Policy::default()).await;
    let w = basic("__token__", &t.tokens["acme-writer"]);
    let good = fx::wheel("bad-pkg", "1.0");
    let good_name = fx::wheel_filename("bad-pkg", "1.0");
    let blobs_before = stored_blobs(&t);
    let multipart = |fields: Vec<(String, String)>, filename: &str, bytes: &[u8]| {
        fx::multipart_body(&fields, "content", filename, bytes)
    };
    let form = |filename: &str, bytes: &[u8]| {
        let ft = if filename.ends_with(".whl") {
            "bdist_wheel"
        } else {
            "sdist"
        };
        fx::twine_form(filename, bytes, "bad-pkg", "1.0", ft)
    };
    let edit = |mut f: Vec<(String, String)>, key: &str, value: Option<&str>| {
        f.retain(|(k, _)| k != key);
        if let Some(v) = value {
            f.push((key.to_string(), v.to_string()));
        }
        f
    };
    let mut cases: Vec<(&str, String, Vec<u8>, &str)> = Vec::new();
    let mut add = |what: &'static str, (ct, body): (String, Vec<u8>), phrase: &'static str| {
        cases.push((what, ct, body, phrase));
    };
    add(
        "not multipart",
        ("application/json".into(), b"{}".to_vec()),
        "multipart/form-data",
    );
    add(
        "no file",
        fx::multipart_body(&form(&good_name, &good), "other", &good_name, &good),
        "no file",
    );
    add(
        "wrong sha256",
        multipart(
            edit(
                form(&good_name, &good),
                "sha256_digest",
                Some(&"0".repeat(64)),
            ),
            &good_name,
            &good,
        ),
        "sha256_digest",
    );
    add(
        "no digest at all",
        multipart(
            edit(
                edit(
                    edit(form(&good_name, &good), "sha256_digest", None),
                    "md5_digest",
                    None,
                ),
                "blake2_256_digest",
                None,
            ),
            &good_name,
            &good,
        ),
        "at least one of",
    );
    add(
        "wrong action",
        multipart(
            edit(form(&good_name, &good), ":action", Some("submit")),
            &good_name,
            &good,
        ),
        ":action",
    );
    add(
        "name differs from the filename",
        multipart(
            edit(form(&good_name, &good), "name", Some("other")),
            &good_name,
            &good,
        ),
        "is not for project",
    );
    add(
        "version differs from the filename",
        multipart(
            edit(form(&good_name, &good), "version", Some("2.0")),
            &good_name,
            &good,
        ),
        "is not for version",
    );
    add(
        "a field twice",
        multipart(
            {
                let mut f = form(&good_name, &good);
                f.push(("name".into(), "other-pkg".into()));
                f
            },
            &good_name,
            &good,
        ),
        "appears more than once",
    );
    add(
        "bad filename",
        multipart(form("bad_pkg-1.0.egg", &good), "bad_pkg-1.0.egg", &good),
        "invalid distribution filename",
    );
    let traversal = fx::WheelBuilder::new("bad-pkg", "1.0")
        .file("../evil.py", b"x")
        .build();
    add(
        "path traversal",
        multipart(form(&good_name, &traversal), &good_name, &traversal),
        "path traversal",
    );
    let empty: Vec<u8> = Vec::new();
    add(
        "empty file",
        multipart(form(&good_name, &empty), &good_name, &empty),
        "empty",
    );
    let not_zip = b"this is not a zip archive".to_vec();
    add(
        "not a zip",
        multipart(form(&good_name, &not_zip), &good_name, &not_zip),
        "not a valid zip",
    );
    let sdist_name = fx::sdist_filename("bad-pkg", "1.0");
    let not_gz = b"plain text, not gzip".to_vec();
    add(
        "not a tar.gz",
        multipart(form(&sdist_name, &not_gz), &sdist_name, &not_gz),
        ".tar.gz",
    );
    let wrong_meta = fx::WheelBuilder::new("bad-pkg", "1.0")
        .metadata_bytes(b"Metadata-Version: 2.1\nName: other-pkg\nVersion: 1.0\n")
        .build();
    add(
        "METADATA names another project",
        multipart(form(&good_name, &wrong_meta), &good_name, &wrong_meta),
        "names project",
    );
    for (what, ct, body, phrase) in cases {
        let r = t
            .request(
                Method::POST,
                &format!("{BASE}/"),
                &[("authorization", &w), ("content-type", &ct)],
                body,
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{what}: {}", text(&r));
        assert!(
            text(&r).contains(phrase),
            "{what}: {:?} does not say {phrase:?}",
            text(&r)
        );
    }
    // Nothing was stored: no project, no repository, no blob.
    let r = get(&t, &w, &format!("{BASE}/simple/"), &[("accept", JSON)]).await;
    assert_eq!(r.json()["projects"], serde_json::json!([]));
    let r = get(
        &t,
        &t.bearer("acme-writer"),
        "/v2/acme/prod/python/bad-pkg/tags/list",
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(stored_blobs(&t), blobs_before);
    // And the good file still goes in afterwards.
    let (ct, body) = pypi_form(&good_name, &good, "bad-pkg", "1.0");
    let r = t
        .request(
            Method::POST,
            &format!("{BASE}/"),
            &[("authorization", &w), ("content-type", &ct)],
            body,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));
}

#[tokio::test]
async fn a_file_over_the_size_limit_is_refused_while_it_streams() {
    let t = common::test_app_with(
        Policy::default(),
        stowage_http::pypi::PythonSettings {
            max_file_size: 1024,
            ..Default::default()
        },
    )
    .await;
    let w = basic("__token__", &t.tokens["acme-writer"]);
    let big = fx::WheelBuilder::new("big-pkg", "1.0")
        .stored()
        .file("big_pkg/data.bin", &[7u8; 8192])
        .build();
    let name = fx::wheel_filename("big-pkg", "1.0");
    let r = t
        .pypi_upload("acme/prod", &w, &name, &big, "big-pkg", "1.0")
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        text(&r).contains("larger than this registry's limit of 1024 bytes"),
        "{}",
        text(&r)
    );
}

#[tokio::test]
async fn registry_tokens_are_refused_and_basic_passwords_are_cached() {
    let t = test_app(Policy::default()).await;
    let jwt = t
        .jwt("wendy", &["repository:acme/prod/python/x:pull"])
        .await;
    let r = get(
        &t,
        &format!("Bearer {jwt}"),
        &format!("{BASE}/simple/"),
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(text(&r).contains("Basic credentials"));
    // The user's password works on every request; after the first, it is not re-hashed (the
    // cache is keyed by a hash of user and password, so a wrong password still fails).
    let wendy = basic("wendy", PASSWORD);
    for _ in 0..3 {
        let r = get(&t, &wendy, &format!("{BASE}/simple/"), &[]).await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let r = get(
        &t,
        &basic("wendy", "wrong"),
        &format!("{BASE}/simple/"),
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // An API token as Bearer works too.
    let r = get(
        &t,
        &t.bearer("acme-viewer"),
        &format!("{BASE}/simple/"),
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
}
