//! The isolation matrix: every route, for every kind of caller, checked against a table; and
//! no existence oracle: outside an organization, a name that exists answers exactly like one
//! that does not.

mod common;

use axum::http::{Method, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{Reply, TestApp, basic, test_app};
use stowage_core::Digest;
use stowage_core::manifest::OCI_MANIFEST;
use stowage_core::registry::Policy;
use stowage_testkit::fixtures;
use stowage_testkit::python as fx;

const REPO: &str = "acme/prod/app";
/// The Python project every matrix fixture holds (one wheel, version 1.0, in acme/prod).
const PY_PROJECT: &str = "matrix-pkg";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Need {
    Ping,
    Catalog,
    Pull,
    Push,
    Delete,
    Token,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Caller {
    Anonymous,
    Viewer,
    Writer,
    Admin,
    OtherOrg,
    RevokedToken,
    ExpiredToken,
    ExpiredJwt,
    ForeignKeyJwt,
    AlgNoneJwt,
    HsConfusionJwt,
    OtherRepoJwt,
}

const CALLERS: [Caller; 12] = [
    Caller::Anonymous,
    Caller::Viewer,
    Caller::Writer,
    Caller::Admin,
    Caller::OtherOrg,
    Caller::RevokedToken,
    Caller::ExpiredToken,
    Caller::ExpiredJwt,
    Caller::ForeignKeyJwt,
    Caller::AlgNoneJwt,
    Caller::HsConfusionJwt,
    Caller::OtherRepoJwt,
];

/// What each caller gets, per kind of route: `0` means the route's own success status.
/// Columns: ping, catalog, pull, push, delete, token endpoint.
fn table(caller: Caller) -> [u16; 6] {
    use Caller::*;
    match caller {
        Anonymous => [401, 401, 401, 401, 401, 0],
        Viewer => [0, 0, 0, 403, 403, 0],
        Writer | Admin => [0, 0, 0, 0, 0, 0],
        OtherOrg => [0, 0, 401, 401, 401, 0],
        RevokedToken | ExpiredToken => [401, 401, 401, 401, 401, 401],
        ExpiredJwt | ForeignKeyJwt | AlgNoneJwt | HsConfusionJwt => [401, 401, 401, 401, 401, 0],
        OtherRepoJwt => [0, 401, 401, 401, 401, 0],
    }
}

fn column(need: Need) -> usize {
    match need {
        Need::Ping => 0,
        Need::Catalog => 1,
        Need::Pull => 2,
        Need::Push => 3,
        Need::Delete => 4,
        Need::Token => 5,
    }
}

struct Fixture {
    t: TestApp,
    writer: String,
    img: fixtures::Image,
    layer: Digest,
    headers: Vec<(Caller, Option<String>, Option<String>)>,
}

const FULL_SCOPE: &str = "repository:acme/prod/app:pull,push,delete";

fn claims(exp_offset: i64, sub: &str) -> serde_json::Value {
    let now = stowage_http::auth::now_secs() as i64;
    serde_json::json!({
        "iss": "stowage", "sub": sub, "aud": "stowage",
        "exp": now + exp_offset, "nbf": now - 600, "iat": now - 600, "jti": "x",
        "access": [{"type": "repository", "name": REPO, "actions": ["pull", "push", "delete"]},
                   {"type": "registry", "name": "catalog", "actions": ["*"]}]
    })
}

fn forged(t: &TestApp) -> Vec<(Caller, String)> {
    use ed25519_dalek::pkcs8::{EncodePrivateKey, spki::der::pem::LineEnding};
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    let real = &t.keys[0];
    let mut h = Header::new(Algorithm::EdDSA);
    h.kid = Some(real.kid.clone());
    let real_key = EncodingKey::from_ed_pem(real.private_pem.as_bytes()).unwrap();
    let expired = jsonwebtoken::encode(&h, &claims(-3600, "user:wendy"), &real_key).unwrap();
    let other_pem = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32])
        .to_pkcs8_pem(LineEnding::LF)
        .unwrap();
    let other = EncodingKey::from_ed_pem(other_pem.as_bytes()).unwrap();
    let foreign = jsonwebtoken::encode(&h, &claims(600, "user:wendy"), &other).unwrap();
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(format!(
            r#"{{"alg":"none","typ":"JWT","kid":"{}"}}"#,
            real.kid
        )),
        URL_SAFE_NO_PAD.encode(claims(600, "user:wendy").to_string())
    );
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some(real.kid.clone());
    let confusion = jsonwebtoken::encode(
        &hs,
        &claims(600, "user:wendy"),
        &EncodingKey::from_secret(&real.public_key).unwrap(),
    )
    .unwrap();
    vec![
        (Caller::ExpiredJwt, expired),
        (Caller::ForeignKeyJwt, foreign),
        (Caller::AlgNoneJwt, none),
        (Caller::HsConfusionJwt, confusion),
    ]
}

async fn fixture() -> Fixture {
    let t = test_app(Policy::default()).await;
    let writer = t.bearer("acme-writer");
    let img = fixtures::image("matrix");
    for (_, b) in img.blobs() {
        let d = Digest::sha256(&b);
        let r = t
            .request(
                Method::POST,
                &format!("/v2/{REPO}/blobs/uploads/?digest={d}"),
                &[("authorization", &writer)],
                b,
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    let r = t
        .request(
            Method::PUT,
            &format!("/v2/{REPO}/manifests/v1"),
            &[("authorization", &writer), ("content-type", OCI_MANIFEST)],
            img.manifest.clone(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let layer = Digest::sha256(&img.layers[0]);
    let r = t
        .pypi_upload(
            "acme/prod",
            &basic("__token__", &t.tokens["acme-writer"]),
            &fx::wheel_filename(PY_PROJECT, "1.0"),
            &fx::wheel(PY_PROJECT, "1.0"),
            PY_PROJECT,
            "1.0",
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let scopes = [FULL_SCOPE, "registry:catalog:*"];
    let mut headers: Vec<(Caller, Option<String>, Option<String>)> = vec![
        (Caller::Anonymous, None, None),
        (
            Caller::Viewer,
            Some(format!("Bearer {}", t.jwt("vera", &scopes).await)),
            Some(basic("vera", common::PASSWORD)),
        ),
        (
            Caller::Writer,
            Some(format!("Bearer {}", t.jwt("wendy", &scopes).await)),
            Some(basic("wendy", common::PASSWORD)),
        ),
        (
            Caller::Admin,
            Some(format!("Bearer {}", t.jwt("admin", &scopes).await)),
            Some(basic("admin", common::PASSWORD)),
        ),
        (
            Caller::OtherOrg,
            Some(format!("Bearer {}", t.jwt("oscar", &scopes).await)),
            Some(basic("oscar", common::PASSWORD)),
        ),
        (
            Caller::RevokedToken,
            Some(t.bearer("acme-revoked")),
            Some(basic("__token__", &t.tokens["acme-revoked"])),
        ),
        (
            Caller::ExpiredToken,
            Some(t.bearer("acme-expired")),
            Some(basic("__token__", &t.tokens["acme-expired"])),
        ),
        (
            Caller::OtherRepoJwt,
            Some(format!(
                "Bearer {}",
                t.jwt("wendy", &["repository:acme/prod/other:pull,push,delete"])
                    .await
            )),
            None,
        ),
    ];
    for (c, tok) in forged(&t) {
        headers.push((c, Some(format!("Bearer {tok}")), None));
    }
    Fixture {
        t,
        writer,
        img,
        layer,
        headers,
    }
}

impl Fixture {
    async fn as_writer(
        &self,
        method: Method,
        uri: &str,
        extra: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Reply {
        let mut h = vec![("authorization", self.writer.as_str())];
        h.extend_from_slice(extra);
        self.t.request(method, uri, &h, body).await
    }

    async fn start_upload(&self, repo: &str) -> String {
        let r = self
            .as_writer(
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

/// One route, prepared for one cell: method, path, headers, body, success status, and a check
/// (as the writer) that a refused request changed nothing.
struct Prepared {
    method: Method,
    path: String,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    success: StatusCode,
}

const ROUTES: [(&str, Need); 21] = [
    ("ping", Need::Ping),
    ("catalog", Need::Catalog),
    ("manifest get by tag", Need::Pull),
    ("manifest head", Need::Pull),
    ("manifest get by digest", Need::Pull),
    ("manifest put", Need::Push),
    ("manifest delete", Need::Delete),
    ("blob get", Need::Pull),
    ("blob head", Need::Pull),
    ("blob delete", Need::Delete),
    ("upload start", Need::Push),
    ("upload monolithic", Need::Push),
    ("blob mount", Need::Push),
    ("upload patch", Need::Push),
    ("upload finish", Need::Push),
    ("upload status", Need::Push),
    ("upload cancel", Need::Push),
    ("tags list", Need::Pull),
    ("referrers", Need::Pull),
    ("token get", Need::Token),
    ("token post", Need::Token),
];

async fn prepare(f: &Fixture, route: &str, cell: usize, repo: &str) -> Prepared {
    let p = |method: Method, path: String, success: StatusCode| Prepared {
        method,
        path,
        content_type: None,
        body: Vec::new(),
        success,
    };
    let unique = format!("cell {cell} of the matrix").into_bytes();
    let ud = Digest::sha256(&unique);
    match route {
        "ping" => p(Method::GET, "/v2/".into(), StatusCode::OK),
        "catalog" => p(Method::GET, "/v2/_catalog".into(), StatusCode::OK),
        "manifest get by tag" => p(
            Method::GET,
            format!("/v2/{repo}/manifests/v1"),
            StatusCode::OK,
        ),
        "manifest head" => p(
            Method::HEAD,
            format!("/v2/{repo}/manifests/v1"),
            StatusCode::OK,
        ),
        "manifest get by digest" => p(
            Method::GET,
            format!("/v2/{repo}/manifests/{}", f.img.digest),
            StatusCode::OK,
        ),
        "manifest put" => Prepared {
            content_type: Some(OCI_MANIFEST),
            body: f.img.manifest.clone(),
            ..p(
                Method::PUT,
                format!("/v2/{repo}/manifests/put{cell}"),
                StatusCode::CREATED,
            )
        },
        "manifest delete" => {
            if repo == REPO {
                let r = f
                    .as_writer(
                        Method::PUT,
                        &format!("/v2/{REPO}/manifests/del{cell}"),
                        &[("content-type", OCI_MANIFEST)],
                        f.img.manifest.clone(),
                    )
                    .await;
                assert_eq!(r.status, StatusCode::CREATED);
            }
            p(
                Method::DELETE,
                format!("/v2/{repo}/manifests/del{cell}"),
                StatusCode::ACCEPTED,
            )
        }
        "blob get" => p(
            Method::GET,
            format!("/v2/{repo}/blobs/{}", f.layer),
            StatusCode::OK,
        ),
        "blob head" => p(
            Method::HEAD,
            format!("/v2/{repo}/blobs/{}", f.layer),
            StatusCode::OK,
        ),
        "blob delete" => {
            if repo == REPO {
                let r = f
                    .as_writer(
                        Method::POST,
                        &format!("/v2/{REPO}/blobs/uploads/?digest={ud}"),
                        &[],
                        unique.clone(),
                    )
                    .await;
                assert_eq!(r.status, StatusCode::CREATED);
            }
            p(
                Method::DELETE,
                format!("/v2/{repo}/blobs/{ud}"),
                StatusCode::ACCEPTED,
            )
        }
        "upload start" => p(
            Method::POST,
            format!("/v2/{repo}/blobs/uploads/"),
            StatusCode::ACCEPTED,
        ),
        "upload monolithic" => Prepared {
            body: unique,
            ..p(
                Method::POST,
                format!("/v2/{repo}/blobs/uploads/?digest={ud}"),
                StatusCode::CREATED,
            )
        },
        "blob mount" => p(
            Method::POST,
            format!("/v2/{repo}/blobs/uploads/?mount={}&from={REPO}", f.layer),
            StatusCode::CREATED,
        ),
        "upload patch" | "upload finish" | "upload status" | "upload cancel" => {
            // The session exists only in the real repository; elsewhere the same id is used.
            let loc = f.start_upload(REPO).await;
            let loc = loc.replacen(REPO, repo, 1);
            match route {
                "upload patch" => Prepared {
                    body: unique,
                    ..p(Method::PATCH, loc, StatusCode::ACCEPTED)
                },
                "upload finish" => Prepared {
                    body: unique,
                    ..p(
                        Method::PUT,
                        format!("{loc}?digest={ud}"),
                        StatusCode::CREATED,
                    )
                },
                "upload status" => p(Method::GET, loc, StatusCode::NO_CONTENT),
                _ => p(Method::DELETE, loc, StatusCode::NO_CONTENT),
            }
        }
        "tags list" => p(Method::GET, format!("/v2/{repo}/tags/list"), StatusCode::OK),
        "referrers" => p(
            Method::GET,
            format!("/v2/{repo}/referrers/{}", f.img.digest),
            StatusCode::OK,
        ),
        "token get" => p(
            Method::GET,
            format!("/v2/token?service=stowage&scope=repository:{repo}:pull,push,delete"),
            StatusCode::OK,
        ),
        "token post" => Prepared {
            content_type: Some("application/x-www-form-urlencoded"),
            body: format!("grant_type=password&service=stowage&scope=repository:{repo}:pull,push")
                .into_bytes(),
            ..p(Method::POST, "/v2/token".into(), StatusCode::OK)
        },
        other => panic!("unknown route {other}"),
    }
}

async fn send(f: &Fixture, caller: Caller, need: Need, prep: &Prepared) -> Reply {
    let (_, bearer, basic_h) = f.headers.iter().find(|(c, _, _)| *c == caller).unwrap();
    let mut h: Vec<(&str, String)> = Vec::new();
    let mut body = prep.body.clone();
    if need == Need::Token {
        if prep.method == Method::POST {
            // The OAuth2 form carries the credentials in the body.
            if let Some(b) = basic_h {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(b.trim_start_matches("Basic "))
                    .unwrap();
                let (u, pw) = std::str::from_utf8(&decoded)
                    .unwrap()
                    .split_once(':')
                    .unwrap();
                let enc =
                    |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
                body.extend_from_slice(
                    format!("&username={}&password={}", enc(u), enc(pw)).as_bytes(),
                );
            }
        } else if let Some(b) = basic_h {
            h.push(("authorization", b.clone()));
        }
    } else if let Some(b) = bearer {
        h.push(("authorization", b.clone()));
    }
    if let Some(ct) = prep.content_type {
        h.push(("content-type", ct.to_string()));
    }
    let hh: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
    f.t.request(prep.method.clone(), &prep.path, &hh, body)
        .await
}

#[tokio::test]
async fn isolation_matrix() {
    let f = fixture().await;
    let mut cells = 0;
    let mut failures = Vec::new();
    let mut cell = 0;
    for (route, need) in ROUTES {
        for caller in CALLERS {
            cell += 1;
            let prep = prepare(&f, route, cell, REPO).await;
            let r = send(&f, caller, need, &prep).await;
            let want = match table(caller)[column(need)] {
                0 => prep.success,
                s => StatusCode::from_u16(s).unwrap(),
            };
            cells += 1;
            if r.status != want {
                failures.push(format!(
                    "{route} as {caller:?}: got {} want {want}: {}",
                    r.status,
                    String::from_utf8_lossy(&r.body)
                ));
                continue;
            }
            // Refused requests leave stored data as it was.
            if !want.is_success() {
                match route {
                    "manifest delete" => {
                        let g = f
                            .as_writer(
                                Method::GET,
                                &format!("/v2/{REPO}/manifests/del{cell}"),
                                &[],
                                vec![],
                            )
                            .await;
                        assert_eq!(
                            g.status,
                            StatusCode::OK,
                            "{route} as {caller:?} changed data"
                        );
                    }
                    "blob delete" => {
                        let ud = Digest::sha256(format!("cell {cell} of the matrix").as_bytes());
                        let g = f
                            .as_writer(Method::HEAD, &format!("/v2/{REPO}/blobs/{ud}"), &[], vec![])
                            .await;
                        assert_eq!(
                            g.status,
                            StatusCode::OK,
                            "{route} as {caller:?} changed data"
                        );
                    }
                    "manifest put" => {
                        let g = f
                            .as_writer(
                                Method::GET,
                                &format!("/v2/{REPO}/manifests/put{cell}"),
                                &[],
                                vec![],
                            )
                            .await;
                        assert_eq!(
                            g.status,
                            StatusCode::NOT_FOUND,
                            "{route} as {caller:?} changed data"
                        );
                    }
                    _ => {}
                }
                if r.status == StatusCode::UNAUTHORIZED && need != Need::Token {
                    assert!(
                        r.header("www-authenticate").starts_with("Bearer realm="),
                        "{route} as {caller:?}: 401 without a challenge"
                    );
                }
            }
            // What the token endpoint grants is exactly what the role allows.
            if need == Need::Token && r.status == StatusCode::OK {
                let token = r.json()["token"].as_str().unwrap().to_string();
                let payload = token.split('.').nth(1).unwrap();
                let claims: serde_json::Value =
                    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
                let mut granted: Vec<String> = claims["access"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .flat_map(|a| {
                        a["actions"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|x| x.as_str().unwrap().to_string())
                    })
                    .collect();
                granted.sort();
                let requested: &[&str] = if prep.method == Method::POST {
                    &["pull", "push"]
                } else {
                    &["delete", "pull", "push"]
                };
                let want: Vec<&str> = match caller {
                    Caller::Viewer => vec!["pull"],
                    Caller::Writer | Caller::Admin => requested.to_vec(),
                    _ => vec![],
                };
                assert_eq!(granted, want, "{route} as {caller:?} granted {granted:?}");
            }
            // The catalog shows only the caller's organizations.
            if route == "catalog" && r.status == StatusCode::OK {
                let names = r.json()["repositories"].clone();
                let names: Vec<&str> = names
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap())
                    .collect();
                let sees_acme = names.iter().any(|n| n.starts_with("acme/"));
                assert_eq!(
                    sees_acme,
                    caller != Caller::OtherOrg,
                    "catalog as {caller:?}: {names:?}"
                );
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {cells} cells failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(cells, ROUTES.len() * CALLERS.len());
    eprintln!(
        "isolation matrix: {} routes x {} callers = {cells} cells checked",
        ROUTES.len(),
        CALLERS.len()
    );
}

#[tokio::test]
async fn no_existence_oracle_across_tenants() {
    let f = fixture().await;
    let outsiders = [
        Caller::Anonymous,
        Caller::OtherOrg,
        Caller::RevokedToken,
        Caller::ForeignKeyJwt,
        Caller::OtherRepoJwt,
    ];
    let missing = [
        "acme/prod/nothere",
        "acme/nosuchreg/app",
        "nosuchorg/prod/app",
    ];
    let mut cell = 10_000;
    let mut compared = 0;
    for (route, need) in ROUTES {
        if matches!(need, Need::Ping | Need::Catalog | Need::Token) {
            continue;
        }
        for caller in outsiders {
            cell += 1;
            let real = send(&f, caller, need, &prepare(&f, route, cell, REPO).await).await;
            for name in missing {
                cell += 1;
                let other = send(&f, caller, need, &prepare(&f, route, cell, name).await).await;
                let norm = |r: &Reply, n: &str| {
                    (
                        r.status,
                        String::from_utf8_lossy(&r.body).replace(n, "NAME"),
                        r.header("www-authenticate").replace(n, "NAME"),
                    )
                };
                assert_eq!(
                    norm(&real, REPO),
                    norm(&other, name),
                    "{route} as {caller:?}: {REPO} vs {name}"
                );
                compared += 1;
            }
        }
    }
    eprintln!("no-oracle: {compared} answers compared");
}

#[tokio::test]
async fn brute_force_is_slowed_per_user_and_per_source() {
    let t = test_app(Policy::default()).await;
    let token = |user: &str, pw: &str| basic(user, pw);
    // Per user: after five wrong passwords, even the right one is refused for a while.
    for i in 0..stowage_http::auth::USER_FAILURES {
        let r = t
            .request_from(
                &format!("10.0.0.{i}"),
                Method::GET,
                "/v2/token",
                &[("authorization", &token("wendy", "wrong"))],
                vec![],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let r = t
        .request_from(
            "10.0.1.1",
            Method::GET,
            "/v2/token",
            &[("authorization", &token("wendy", common::PASSWORD))],
            vec![],
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::TOO_MANY_REQUESTS,
        "locked out after repeated failures"
    );
    assert_eq!(r.error_code(), "TOOMANYREQUESTS");
    assert!(r.header("retry-after").parse::<u64>().unwrap() >= 1);
    // Another user is not affected.
    let r = t
        .request_from(
            "10.0.1.2",
            Method::GET,
            "/v2/token",
            &[("authorization", &token("vera", common::PASSWORD))],
            vec![],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);

    // Per source: many user names tried from one address lock that address out.
    for i in 0..stowage_http::auth::SOURCE_FAILURES {
        let r = t
            .request_from(
                "192.0.2.7",
                Method::GET,
                "/v2/token",
                &[("authorization", &token(&format!("guess{i}"), "x"))],
                vec![],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let r = t
        .request_from(
            "192.0.2.7",
            Method::GET,
            "/v2/token",
            &[("authorization", &token("admin", common::PASSWORD))],
            vec![],
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::TOO_MANY_REQUESTS,
        "the source is slowed"
    );
    let r = t
        .request_from(
            "192.0.2.8",
            Method::GET,
            "/v2/token",
            &[("authorization", &token("admin", common::PASSWORD))],
            vec![],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "other sources are not");

    // Wrong API tokens (all under the user name `__token__`) never lock out a valid one, nor
    // the token whose id they reuse.
    let valid = &t.tokens["acme-writer"];
    let id = valid.split('_').nth(1).unwrap();
    for i in 0..2 * stowage_http::auth::USER_FAILURES {
        let wrong = format!("stw_{id}_{}", "0".repeat(64));
        let r = t
            .request_from(
                &format!("10.0.2.{i}"),
                Method::GET,
                "/v2/token",
                &[("authorization", &token("__token__", &wrong))],
                vec![],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let r = t
        .request_from(
            "10.0.3.1",
            Method::GET,
            "/v2/token",
            &[("authorization", &token("__token__", valid))],
            vec![],
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "tokens are not locked per user name or id"
    );
}

// ---- the management API ------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mgmt {
    /// Any signed-in caller.
    SignedIn,
    /// Members of the organization.
    Member,
    /// Admins of the organization.
    Admin,
    /// Only the addressee of an invitation (wendy).
    Addressee,
    /// Writers and admins of the organization.
    Writer,
}

/// Columns: signed in, member, admin, addressee, writer. `0`: the route's success status.
fn mgmt_table(caller: Caller) -> [u16; 5] {
    use Caller::*;
    match caller {
        Anonymous | RevokedToken | ExpiredToken | ExpiredJwt | ForeignKeyJwt | AlgNoneJwt
        | HsConfusionJwt => [401, 401, 401, 401, 401],
        Viewer => [0, 0, 403, 404, 403],
        Writer => [0, 0, 403, 0, 0],
        Admin => [0, 0, 0, 404, 0],
        OtherOrg => [0, 404, 404, 404, 404],
        // A registry token for another repository still proves who wendy is.
        OtherRepoJwt => [0, 0, 403, 0, 0],
    }
}

const MGMT_ROUTES: [(&str, Mgmt); 31] = [
    ("GET /api/v1/user", Mgmt::SignedIn),
    ("GET /api/v1/orgs", Mgmt::SignedIn),
    ("POST /api/v1/orgs", Mgmt::SignedIn),
    ("GET /api/v1/invitations", Mgmt::SignedIn),
    ("POST /api/v1/invitations/{inv}/accept", Mgmt::Addressee),
    ("POST /api/v1/invitations/{inv}/decline", Mgmt::Addressee),
    ("GET /api/v1/orgs/{org}", Mgmt::Member),
    ("GET /api/v1/orgs/{org}/registries", Mgmt::Member),
    ("GET /api/v1/orgs/{org}/registries/prod", Mgmt::Member),
    (
        "GET /api/v1/orgs/{org}/registries/prod/repositories",
        Mgmt::Member,
    ),
    (
        "GET /api/v1/orgs/{org}/registries/prod/repositories/app",
        Mgmt::Member,
    ),
    ("GET /api/v1/orgs/{org}/members", Mgmt::Member),
    ("POST /api/v1/orgs/{org}/registries", Mgmt::Admin),
    ("PATCH /api/v1/orgs/{org}/registries/prod", Mgmt::Admin),
    ("DELETE /api/v1/orgs/{org}/registries/{reg}", Mgmt::Admin),
    ("PUT /api/v1/orgs/{org}/members/tess", Mgmt::Admin),
    ("DELETE /api/v1/orgs/{org}/members/tess", Mgmt::Admin),
    ("GET /api/v1/orgs/{org}/invitations", Mgmt::Admin),
    ("POST /api/v1/orgs/{org}/invitations", Mgmt::Admin),
    ("DELETE /api/v1/orgs/{org}/invitations/{inv}", Mgmt::Admin),
    ("GET /api/v1/orgs/{org}/tokens", Mgmt::Admin),
    ("POST /api/v1/orgs/{org}/tokens", Mgmt::Admin),
    ("DELETE /api/v1/orgs/{org}/tokens/{tok}", Mgmt::Admin),
    ("GET /api/v1/orgs/{org}/audit", Mgmt::Admin),
    (
        "GET /api/v1/orgs/{org}/registries/prod/python/projects",
        Mgmt::Member,
    ),
    (
        "GET /api/v1/orgs/{org}/registries/prod/python/projects/matrix-pkg",
        Mgmt::Member,
    ),
    (
        "POST /api/v1/orgs/{org}/registries/prod/python/projects/matrix-pkg/files/{whl}/yank",
        Mgmt::Writer,
    ),
    (
        "DELETE /api/v1/orgs/{org}/registries/prod/python/projects/matrix-pkg/files/{whl}/yank",
        Mgmt::Writer,
    ),
    (
        "POST /api/v1/orgs/{org}/registries/prod/python/projects/matrix-pkg/versions/1.0/yank",
        Mgmt::Writer,
    ),
    (
        "DELETE /api/v1/orgs/{org}/registries/prod/python/projects/matrix-pkg/versions/1.0/yank",
        Mgmt::Writer,
    ),
    (
        "DELETE /api/v1/orgs/{org}/registries/prod/python/projects/matrix-pkg/files/{cellwhl}",
        Mgmt::Admin,
    ),
];

/// Prepares one management cell: creates what it acts on (as the store, for `acme`), and
/// returns method, path, JSON body and the success status.
async fn prepare_mgmt(
    f: &Fixture,
    route: &str,
    cell: usize,
    org: &str,
) -> (Method, String, Option<String>, StatusCode) {
    use stowage_core::ports::{ApiTokens, Tenancy};
    use stowage_core::tenancy::*;
    let (method, path) = route.split_once(' ').unwrap();
    let method: Method = method.parse().unwrap();
    let acme = OrgName::parse("acme").unwrap();
    let now = stowage_http::auth::now_secs() as i64;
    let mut path = path.replace("{org}", org);
    if path.contains("{reg}") {
        let name = RegistryName::parse(&format!("gone{cell}")).unwrap();
        f.t.store
            .create_registry(&RegistryInfo {
                org: acme.clone(),
                name: name.clone(),
                settings: Default::default(),
                created_at: now,
            })
            .await
            .unwrap();
        path = path.replace("{reg}", name.as_str());
    }
    if path.contains("{inv}") {
        let id = format!("inv{cell}");
        f.t.store
            .create_invitation(&Invitation {
                id: id.clone(),
                org: acme.clone(),
                email: "wendy@example.com".into(),
                role: Role::Viewer,
                invited_by: UserName::parse("admin").unwrap(),
                created_at: now,
                expires_at: now + 3600,
                state: InvitationState::Pending,
            })
            .await
            .unwrap();
        path = path.replace("{inv}", &id);
    }
    if path.contains("{tok}") {
        let (_, rec) = stowage_http::auth::new_api_token(ApiTokenRecord {
            id: String::new(),
            name: format!("cell{cell}"),
            org: acme.clone(),
            role: Role::Viewer,
            registry: None,
            created_by: UserName::parse("admin").unwrap(),
            created_at: now,
            expires_at: None,
            last_used_at: None,
            revoked_at: None,
            secret_sha256: String::new(),
        });
        f.t.store.create_token(&rec).await.unwrap();
        path = path.replace("{tok}", &rec.id);
    }
    if path.contains("{whl}") {
        path = path.replace("{whl}", &fx::wheel_filename(PY_PROJECT, "1.0"));
    }
    if path.contains("{cellwhl}") {
        let version = format!("0.{cell}");
        let name = fx::wheel_filename(PY_PROJECT, &version);
        let r =
            f.t.pypi_upload(
                "acme/prod",
                &basic("__token__", &f.t.tokens["acme-writer"]),
                &name,
                &fx::wheel(PY_PROJECT, &version),
                PY_PROJECT,
                &version,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        path = path.replace("{cellwhl}", &name);
    }
    if route == "DELETE /api/v1/orgs/{org}/members/tess" {
        f.t.store
            .set_member(&acme, &UserName::parse("tess").unwrap(), Role::Viewer)
            .await
            .unwrap();
    }
    let (body, success) = match route {
        "POST /api/v1/orgs" => (
            Some(format!(r#"{{"name":"neworg{cell}"}}"#)),
            StatusCode::CREATED,
        ),
        "POST /api/v1/orgs/{org}/registries" => (
            Some(format!(r#"{{"name":"r{cell}"}}"#)),
            StatusCode::CREATED,
        ),
        "PATCH /api/v1/orgs/{org}/registries/prod" => (Some("{}".into()), StatusCode::OK),
        "PUT /api/v1/orgs/{org}/members/tess" => {
            (Some(r#"{"role":"viewer"}"#.into()), StatusCode::OK)
        }
        "POST /api/v1/orgs/{org}/invitations" => (
            Some(r#"{"email":"new@example.com","role":"viewer"}"#.into()),
            StatusCode::CREATED,
        ),
        "POST /api/v1/orgs/{org}/tokens" => (
            Some(format!(r#"{{"name":"t{cell}","role":"viewer"}}"#)),
            StatusCode::CREATED,
        ),
        _ if route.ends_with("/yank") => (None, StatusCode::OK),
        _ if method == Method::DELETE => (None, StatusCode::NO_CONTENT),
        _ => (None, StatusCode::OK),
    };
    (method, path, body, success)
}

async fn send_mgmt(
    f: &Fixture,
    caller: Caller,
    method: Method,
    path: &str,
    body: Option<String>,
) -> Reply {
    let (_, bearer, _) = f.headers.iter().find(|(c, _, _)| *c == caller).unwrap();
    let mut h: Vec<(&str, &str)> = Vec::new();
    if let Some(b) = bearer {
        h.push(("authorization", b));
    }
    if body.is_some() {
        h.push(("content-type", "application/json"));
    }
    f.t.request(method, path, &h, body.unwrap_or_default().into_bytes())
        .await
}

#[tokio::test]
async fn management_isolation_matrix() {
    let f = fixture().await;
    let mut failures = Vec::new();
    let mut cells = 0;
    let mut cell = 20_000;
    for (route, need) in MGMT_ROUTES {
        for caller in CALLERS {
            cell += 1;
            let (method, path, body, success) = prepare_mgmt(&f, route, cell, "acme").await;
            let col = match need {
                Mgmt::SignedIn => 0,
                Mgmt::Member => 1,
                Mgmt::Admin => 2,
                Mgmt::Addressee => 3,
                Mgmt::Writer => 4,
            };
            let want = match mgmt_table(caller)[col] {
                0 => success,
                s => StatusCode::from_u16(s).unwrap(),
            };
            let r = send_mgmt(&f, caller, method, &path, body).await;
            cells += 1;
            if r.status != want {
                failures.push(format!(
                    "{route} as {caller:?}: got {} want {want}: {}",
                    r.status,
                    String::from_utf8_lossy(&r.body)
                ));
            } else if !want.is_success() {
                assert!(
                    r.json()["error"]["code"].is_string(),
                    "{route} as {caller:?}: error body"
                );
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {cells} cells failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!(
        "management matrix: {} routes x {} callers = {cells} cells checked",
        MGMT_ROUTES.len(),
        CALLERS.len()
    );
}

#[tokio::test]
async fn management_no_existence_oracle() {
    let f = fixture().await;
    let mut cell = 30_000;
    let mut compared = 0;
    for (route, need) in MGMT_ROUTES {
        if !matches!(need, Mgmt::Member | Mgmt::Admin | Mgmt::Writer) {
            continue;
        }
        for caller in [Caller::OtherOrg, Caller::Anonymous, Caller::ForeignKeyJwt] {
            cell += 1;
            let (m, p, b, _) = prepare_mgmt(&f, route, cell, "acme").await;
            let real = send_mgmt(&f, caller, m, &p, b).await;
            cell += 1;
            let (m, p, b, _) = prepare_mgmt(&f, route, cell, "nosuchorg").await;
            let other = send_mgmt(&f, caller, m, &p, b).await;
            assert_eq!(
                (real.status, &real.body),
                (other.status, &other.body),
                "{route} as {caller:?}"
            );
            compared += 1;
        }
    }
    eprintln!("management no-oracle: {compared} answers compared");
}

#[tokio::test]
async fn tokens_signed_by_a_rotated_out_key_still_verify() {
    use stowage_http::{KeyMaterial, TokenKeys};
    let t = test_app(Policy::default()).await;
    let old_jwt = t.jwt("wendy", &[FULL_SCOPE]).await;
    // Rotate: a newer key signs, the old one still verifies.
    let dir = tempfile::tempdir().unwrap();
    let new = stowage_local::identity::create_signing_key(dir.path(), i64::MAX / 2).unwrap();
    let mut keys = t.keys.clone();
    keys.push(KeyMaterial {
        kid: new.kid.clone(),
        private_pem: new.private_pem.clone(),
        public_key: new.public_key,
    });
    let rotated = TokenKeys::new(&keys).unwrap();
    let only_new = TokenKeys::new(&keys[1..]).unwrap();
    let auth = |keys| stowage_http::Auth {
        config: Default::default(),
        keys,
        identity: std::sync::Arc::new(stowage_local::identity::LocalIdentity::new(t.store.clone())),
        external_tokens: None,
        tenancy: t.store.clone(),
        tokens: t.store.clone(),
        users: t.store.clone(),
        audit_log: t.store.clone(),
        audit: stowage_http::audit::AuditSink::start(t.store.clone()),
        limiter: Default::default(),
        touched: Default::default(),
        verified: Default::default(),
        passwords: Default::default(),
    };
    let rotated = auth(rotated);
    assert!(
        rotated.verify(&old_jwt).is_ok(),
        "old key still verifies after rotation"
    );
    let p = rotated
        .user_principal(stowage_core::tenancy::UserName::parse("wendy").unwrap())
        .await
        .unwrap();
    let (new_jwt, _) = rotated.issue(&p, &[]).await.unwrap();
    let header = jsonwebtoken::decode_header(&new_jwt).unwrap();
    assert_eq!(
        header.kid.as_deref(),
        Some(new.kid.as_str()),
        "the newest key signs"
    );
    assert!(rotated.verify(&new_jwt).is_ok());
    let retired = auth(only_new);
    assert!(
        retired.verify(&old_jwt).is_err(),
        "a removed key no longer verifies"
    );
}

// ---- the Python API ----------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
enum Py {
    Read,
    Upload,
}

/// Columns: read (index, pages, files), upload. `0`: the route's success status. Registry
/// tokens (the JWT rows) are for the OCI API and are refused outright.
fn pypi_table(caller: Caller) -> [u16; 2] {
    use Caller::*;
    match caller {
        Viewer => [0, 403],
        Writer | Admin => [0, 0],
        OtherOrg => [404, 404],
        Anonymous | RevokedToken | ExpiredToken | ExpiredJwt | ForeignKeyJwt | AlgNoneJwt
        | HsConfusionJwt | OtherRepoJwt => [401, 401],
    }
}

const PYPI_ROUTES: [(&str, Py); 9] = [
    ("GET python/", Py::Read),
    ("GET python/simple/", Py::Read),
    ("GET python/simple/matrix-pkg/", Py::Read),
    ("GET python/simple/Matrix_Pkg/", Py::Read),
    ("GET python/simple/nothere/", Py::Read),
    ("GET python/files/matrix-pkg/{whl}", Py::Read),
    ("HEAD python/files/matrix-pkg/{whl}", Py::Read),
    ("GET python/files/matrix-pkg/{whl}.metadata", Py::Read),
    ("POST python/", Py::Upload),
];

struct PyCell {
    method: Method,
    path: String,
    content_type: Option<String>,
    body: Vec<u8>,
    success: StatusCode,
    /// The upload's filename (to check a refused upload stored nothing).
    uploaded: Option<String>,
}

fn prepare_pypi(route: &str, cell: usize, org_reg: &str) -> PyCell {
    let (method, rest) = route.split_once(' ').unwrap();
    let method: Method = method.parse().unwrap();
    let path = format!(
        "/api/v1/{org_reg}/{}",
        rest.replace("{whl}", &fx::wheel_filename(PY_PROJECT, "1.0"))
    );
    let success = match rest {
        "python/" if method == Method::GET => StatusCode::MOVED_PERMANENTLY,
        "python/simple/Matrix_Pkg/" => StatusCode::MOVED_PERMANENTLY,
        "python/simple/nothere/" => StatusCode::NOT_FOUND,
        _ => StatusCode::OK,
    };
    if method == Method::POST {
        let version = format!("0.{cell}");
        let name = fx::wheel_filename(PY_PROJECT, &version);
        let (ct, body) = common::pypi_form(
            &name,
            &fx::wheel(PY_PROJECT, &version),
            PY_PROJECT,
            &version,
        );
        return PyCell {
            method,
            path,
            content_type: Some(ct),
            body,
            success,
            uploaded: Some(name),
        };
    }
    PyCell {
        method,
        path,
        content_type: None,
        body: Vec::new(),
        success,
        uploaded: None,
    }
}

/// What pip and twine send: Basic credentials where the caller has them, else its token. Each
/// cell comes from its own address, so the sign-in limiter (tested on its own) stays out of it.
async fn send_pypi(f: &Fixture, caller: Caller, c: &PyCell, cell: usize) -> Reply {
    let (_, bearer, basic_h) = f.headers.iter().find(|(x, _, _)| *x == caller).unwrap();
    let mut h: Vec<(&str, &str)> = Vec::new();
    if let Some(a) = basic_h.as_ref().or(bearer.as_ref()) {
        h.push(("authorization", a));
    }
    if let Some(ct) = &c.content_type {
        h.push(("content-type", ct));
    }
    let ip = format!(
        "10.{}.{}.{}",
        (cell >> 16) & 255,
        (cell >> 8) & 255,
        cell & 255
    );
    f.t.request_from(&ip, c.method.clone(), &c.path, &h, c.body.clone())
        .await
}

#[tokio::test]
async fn pypi_isolation_matrix() {
    let f = fixture().await;
    let writer = basic("__token__", &f.t.tokens["acme-writer"]);
    let mut failures = Vec::new();
    let mut cells = 0;
    let mut cell = 40_000;
    for (route, need) in PYPI_ROUTES {
        for caller in CALLERS {
            cell += 1;
            let c = prepare_pypi(route, cell, "acme/prod");
            let r = send_pypi(&f, caller, &c, cell).await;
            let col = match need {
                Py::Read => 0,
                Py::Upload => 1,
            };
            let want = match pypi_table(caller)[col] {
                0 => c.success,
                s => StatusCode::from_u16(s).unwrap(),
            };
            cells += 1;
            if r.status != want {
                failures.push(format!(
                    "{route} as {caller:?}: got {} want {want}: {}",
                    r.status,
                    String::from_utf8_lossy(&r.body)
                ));
                continue;
            }
            if r.status == StatusCode::UNAUTHORIZED {
                assert_eq!(
                    r.header("www-authenticate"),
                    "Basic realm=\"stowage\"",
                    "{route} as {caller:?}: pip needs a Basic challenge"
                );
            }
            // A refused upload stored nothing.
            if let Some(name) = &c.uploaded
                && !want.is_success()
            {
                let g =
                    f.t.request(
                        Method::GET,
                        &format!("/api/v1/acme/prod/python/files/{PY_PROJECT}/{name}"),
                        &[("authorization", &writer)],
                        vec![],
                    )
                    .await;
                assert_eq!(
                    g.status,
                    StatusCode::NOT_FOUND,
                    "{route} as {caller:?} stored"
                );
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {cells} cells failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!(
        "pypi matrix: {} routes x {} callers = {cells} cells checked",
        PYPI_ROUTES.len(),
        CALLERS.len()
    );
}

#[tokio::test]
async fn pypi_no_existence_oracle() {
    let f = fixture().await;
    let mut cell = 50_000;
    let mut compared = 0;
    for (route, _) in PYPI_ROUTES {
        for caller in [
            Caller::Anonymous,
            Caller::OtherOrg,
            Caller::RevokedToken,
            Caller::ForeignKeyJwt,
            Caller::OtherRepoJwt,
        ] {
            cell += 1;
            let real = send_pypi(&f, caller, &prepare_pypi(route, cell, "acme/prod"), cell).await;
            for missing in ["acme/nosuchreg", "nosuchorg/prod"] {
                cell += 1;
                let other = send_pypi(&f, caller, &prepare_pypi(route, cell, missing), cell).await;
                assert_eq!(
                    (real.status, &real.body, real.header("www-authenticate")),
                    (other.status, &other.body, other.header("www-authenticate")),
                    "{route} as {caller:?}: acme/prod vs {missing}"
                );
                compared += 1;
            }
        }
    }
    eprintln!("pypi no-oracle: {compared} answers compared");
}
