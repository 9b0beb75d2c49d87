//! An in-process Stowage with tenants, users and API tokens, for router tests.
#![allow(dead_code)]

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use std::collections::HashMap;
use std::sync::Arc;
use stowage_core::ports::{ApiTokens, Tenancy, Users};
use stowage_core::registry::Policy;
use stowage_core::tenancy::{
    ApiTokenRecord, OrgName, RegistryInfo, RegistryName, RegistrySettings, Role, UserName,
    UserRecord,
};
use stowage_http::auth::new_api_token;
use tower::ServiceExt;

pub const PASSWORD: &str = "correct horse battery";

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn error_code(&self) -> String {
        let v: serde_json::Value =
            serde_json::from_slice(&self.body).expect("OCI error body is JSON");
        v["errors"][0]["code"].as_str().unwrap_or("").to_string()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

/// A registry with organizations `acme` and `globex`:
/// - users `admin` (acme admin), `wendy` (acme writer), `vera` (acme viewer), `oscar` (globex
///   admin), `tess` (no memberships), all with password [`PASSWORD`] and email
///   `<name>@example.com`;
/// - registries `acme/prod`, `acme/dev`, `acme/public` (public read), `acme/frozen` (immutable
///   tags), `globex/prod`;
/// - API tokens by name in [`TestApp::tokens`]: `acme-writer`, `acme-viewer`, `acme-dev-writer`
///   (limited to acme/dev), `globex-writer`, `acme-revoked`, `acme-expired`.
pub struct TestApp {
    pub app: axum::Router,
    pub tokens: HashMap<&'static str, String>,
    pub keys: Vec<stowage_http::KeyMaterial>,
    pub store: Arc<stowage_local::SqliteStore>,
    _dir: tempfile::TempDir,
}

fn now() -> i64 {
    stowage_http::auth::now_secs() as i64
}

pub async fn test_app(policy: Policy) -> TestApp {
    test_app_with(policy, Default::default()).await
}

/// [`test_app`] with other Python API settings.
pub async fn test_app_with(
    policy: Policy,
    python_settings: stowage_http::pypi::PythonSettings,
) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let backend = stowage_local::open(dir.path(), policy).unwrap();
    let store = backend.store.clone();
    let hash = stowage_local::identity::hash_password(PASSWORD).unwrap();
    for name in ["admin", "wendy", "vera", "oscar", "tess"] {
        store
            .create_user(&UserRecord {
                name: UserName::parse(name).unwrap(),
                email: Some(format!("{name}@example.com")),
                password_hash: Some(hash.clone()),
                created_at: now(),
            })
            .await
            .unwrap();
    }
    let org = |s: &str| OrgName::parse(s).unwrap();
    let user = |s: &str| UserName::parse(s).unwrap();
    store
        .create_org(&org("acme"), &user("admin"), now())
        .await
        .unwrap();
    store
        .create_org(&org("globex"), &user("oscar"), now())
        .await
        .unwrap();
    store
        .set_member(&org("acme"), &user("wendy"), Role::Writer)
        .await
        .unwrap();
    store
        .set_member(&org("acme"), &user("vera"), Role::Viewer)
        .await
        .unwrap();
    for (o, r, public, immutable) in [
        ("acme", "prod", false, false),
        ("acme", "dev", false, false),
        ("acme", "public", true, false),
        ("acme", "frozen", false, true),
        ("globex", "prod", false, false),
    ] {
        store
            .create_registry(&RegistryInfo {
                org: org(o),
                name: RegistryName::parse(r).unwrap(),
                settings: RegistrySettings {
                    public_read: public,
                    immutable_tags: immutable,
                },
                created_at: now(),
            })
            .await
            .unwrap();
    }
    let mut tokens = HashMap::new();
    for (name, o, role, registry, expires, revoke) in [
        ("acme-writer", "acme", Role::Writer, None, None, false),
        ("acme-viewer", "acme", Role::Viewer, None, None, false),
        (
            "acme-dev-writer",
            "acme",
            Role::Writer,
            Some("dev"),
            None,
            false,
        ),
        ("globex-writer", "globex", Role::Writer, None, None, false),
        ("acme-revoked", "acme", Role::Writer, None, None, true),
        (
            "acme-expired",
            "acme",
            Role::Writer,
            None,
            Some(now() - 10),
            false,
        ),
    ] {
        let (secret, rec) = new_api_token(ApiTokenRecord {
            id: String::new(),
            name: name.into(),
            org: org(o),
            role,
            registry: registry.map(|r| RegistryName::parse(r).unwrap()),
            created_by: user("admin"),
            created_at: now() - 100,
            expires_at: expires,
            last_used_at: None,
            revoked_at: None,
            secret_sha256: String::new(),
        });
        store.create_token(&rec).await.unwrap();
        if revoke {
            store.revoke_token(&org(o), &rec.id, now()).await.unwrap();
        }
        tokens.insert(name, secret);
    }
    let keys: Vec<stowage_http::KeyMaterial> = backend
        .keys
        .iter()
        .map(|k| stowage_http::KeyMaterial {
            kid: k.kid.clone(),
            private_pem: k.private_pem.clone(),
            public_key: k.public_key,
        })
        .collect();
    let auth = stowage_http::Auth {
        config: Default::default(),
        keys: stowage_http::TokenKeys::new(&keys).unwrap(),
        identity: Arc::new(stowage_local::identity::LocalIdentity::new(store.clone())),
        external_tokens: None,
        tenancy: store.clone(),
        tokens: store.clone(),
        users: store.clone(),
        audit_log: store.clone(),
        audit: stowage_http::audit::AuditSink::start(store.clone()),
        limiter: Default::default(),
        touched: Default::default(),
        verified: Default::default(),
        passwords: Default::default(),
    };
    let app = stowage_http::router(stowage_http::App {
        python: stowage_core::python::service::PythonPackages {
            registry: backend.registry.clone(),
            index: store.clone(),
        },
        python_settings,
        registry: backend.registry,
        auth,
    });
    TestApp {
        app,
        tokens,
        keys,
        store,
        _dir: dir,
    }
}

impl TestApp {
    /// The data directory the store and blobs live in.
    pub fn data_dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    pub async fn request(
        &self,
        method: Method,
        uri: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Reply {
        self.request_from("127.0.0.1", method, uri, headers, body)
            .await
    }

    /// A request from the TCP peer `ip`.
    pub async fn request_from(
        &self,
        ip: &str,
        method: Method,
        uri: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Reply {
        let mut req = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let mut req = req.body(Body::from(body)).unwrap();
        let peer: std::net::SocketAddr = format!("{ip}:40000").parse().unwrap();
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(peer));
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        Reply {
            status,
            headers,
            body,
        }
    }

    /// `Authorization` header value for an API token of [`TestApp::tokens`].
    pub fn bearer(&self, token: &str) -> String {
        format!("Bearer {}", self.tokens[token])
    }
}

pub fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

impl TestApp {
    /// A registry token from the token endpoint, signed in as `user` with [`PASSWORD`].
    pub async fn jwt(&self, user: &str, scopes: &[&str]) -> String {
        let q: String = scopes
            .iter()
            .map(|s| format!("&scope={}", s.replace(' ', "%20")))
            .collect();
        let r = self
            .request(
                Method::GET,
                &format!("/v2/token?service=stowage{q}"),
                &[("authorization", &basic(user, PASSWORD))],
                vec![],
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "sign-in of {user}: {}",
            String::from_utf8_lossy(&r.body)
        );
        r.json()["token"].as_str().unwrap().to_string()
    }
}

/// A Python upload as twine sends it: the multipart `Content-Type` and body for `bytes` under
/// `filename`, with the form fields for `name`, `version` and the digests.
pub fn pypi_form(filename: &str, bytes: &[u8], name: &str, version: &str) -> (String, Vec<u8>) {
    let filetype = if filename.ends_with(".whl") {
        "bdist_wheel"
    } else {
        "sdist"
    };
    let fields = stowage_testkit::python::twine_form(filename, bytes, name, version, filetype);
    stowage_testkit::python::multipart_body(&fields, "content", filename, bytes)
}

impl TestApp {
    /// Uploads a file to the Python API of `org/reg` with the `authorization` header value.
    pub async fn pypi_upload(
        &self,
        org_reg: &str,
        auth: &str,
        filename: &str,
        bytes: &[u8],
        name: &str,
        version: &str,
    ) -> Reply {
        let (ct, body) = pypi_form(filename, bytes, name, version);
        let mut h = vec![("content-type", ct.as_str())];
        if !auth.is_empty() {
            h.push(("authorization", auth));
        }
        self.request(
            Method::POST,
            &format!("/api/v1/{org_reg}/python/"),
            &h,
            body,
        )
        .await
    }
}
