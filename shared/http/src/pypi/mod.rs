//! The Python package API of each registry, under `/api/v1/<org>/<registry>/python/`:
//!
//! | route | what |
//! |---|---|
//! | `POST python/` | the legacy upload API (twine, `uv publish`) |
//! | `GET simple/` | the project list (PEP 503 HTML, PEP 691 JSON) |
//! | `GET simple/<project>/` | a project page; other spellings redirect to the normalized one |
//! | `GET files/<project>/<filename>` | a file (Range, strong ETag), and `<filename>.metadata` (PEP 658) |
//!
//! Authentication is what pip, uv and twine send: Basic credentials on every request (a
//! user's password, or an API token with any user name, `__token__` by convention), or an API
//! token or Cognito token as `Bearer`. Stowage's own registry tokens (from `/v2/token`) are
//! for the OCI API and are refused here. Anonymous callers may read public registries only.
//!
//! Answers never tell an outsider whether a registry exists: anonymous callers get `401` and
//! signed-in callers `404`, alike for a private registry and for none at all. Errors are plain
//! text, with the message also as the HTTP reason phrase (what twine shows).
//!
//! This module translates HTTP to [`PythonPackages`] calls and renders their answers; it never
//! decides what a valid upload is, and never touches storage except through the ports.

pub mod simple;
pub mod upload;

use crate::App;
use crate::auth::{Credentials, Origin};
use crate::ranges::byte_range;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use simple::Format;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use stowage_core::auth::{Action, Principal, Subject, registry_actions};
use stowage_core::ports::{ByteStream, PythonFile};
use stowage_core::python::NormalizedName;
use stowage_core::python::archive::Limits;
use stowage_core::python::service::{ReceivedFile, Stored, Uploader};
use stowage_core::tenancy::{AuditEvent, OrgName, RegistryInfo, RegistryName};
use stowage_core::{Digest, Error, UploadId};

type Shared = Arc<App>;

/// What an operator sets for the Python API.
#[derive(Clone, Debug)]
pub struct PythonSettings {
    /// Largest file accepted, in bytes.
    pub max_file_size: u64,
    /// Limits against decompression bombs.
    pub limits: Limits,
    /// Where uploads are spooled while they are checked (the system's temporary directory
    /// when `None`).
    pub spool_dir: Option<PathBuf>,
}

impl Default for PythonSettings {
    fn default() -> Self {
        PythonSettings {
            max_file_size: 1 << 30,
            limits: Limits::default(),
            spool_dir: None,
        }
    }
}

pub fn router(app: Shared) -> Router {
    Router::new()
        .route("/api/v1/{org}/{reg}/python", any(upload_root))
        .route("/api/v1/{org}/{reg}/python/", any(upload_root))
        .route("/api/v1/{org}/{reg}/python/simple", any(index_redirect))
        .route("/api/v1/{org}/{reg}/python/simple/", any(index))
        .route(
            "/api/v1/{org}/{reg}/python/simple/{project}",
            any(project_redirect),
        )
        .route("/api/v1/{org}/{reg}/python/simple/{project}/", any(project))
        .route(
            "/api/v1/{org}/{reg}/python/files/{project}/{filename}",
            any(file),
        )
        .with_state(app)
}

// ---- errors ------------------------------------------------------------------------------

/// A PyPI-style error: plain text, the message also as the reason phrase.
#[derive(Debug)]
pub struct PypiError {
    status: StatusCode,
    message: String,
    headers: Vec<(header::HeaderName, HeaderValue)>,
}

/// The challenge pip and twine answer with credentials.
const BASIC_CHALLENGE: &str = "Basic realm=\"stowage\"";

impl PypiError {
    fn new(status: StatusCode, message: impl Into<String>) -> PypiError {
        PypiError {
            status,
            message: message.into(),
            headers: Vec::new(),
        }
    }

    fn unauthorized(message: impl Into<String>) -> PypiError {
        let mut e = PypiError::new(StatusCode::UNAUTHORIZED, message);
        e.headers.push((
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(BASIC_CHALLENGE),
        ));
        e
    }

    /// What an outsider, or a member asking for a registry that does not exist, is told.
    fn not_found() -> PypiError {
        PypiError::new(
            StatusCode::NOT_FOUND,
            "Not Found: no such registry or project",
        )
    }

    fn method(allowed: &'static str) -> PypiError {
        let mut e = PypiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("Method Not Allowed: this URL takes {allowed}"),
        );
        e.headers
            .push((header::ALLOW, HeaderValue::from_static(allowed)));
        e
    }
}

impl From<Error> for PypiError {
    fn from(e: Error) -> Self {
        use StatusCode as S;
        match e {
            Error::Unauthorized(m) => PypiError::unauthorized(m),
            Error::TooManyRequests { retry_after } => {
                let mut err = PypiError::new(S::TOO_MANY_REQUESTS, e.to_string());
                if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
                    err.headers.push((header::RETRY_AFTER, v));
                }
                err
            }
            Error::Denied(m) => PypiError::new(S::FORBIDDEN, m),
            Error::Conflict(m) => PypiError::new(S::CONFLICT, m),
            Error::NotFound(m) => PypiError::new(S::NOT_FOUND, m),
            Error::RegistryUnknown(_) | Error::NameUnknown => PypiError::not_found(),
            Error::Storage(_) => {
                tracing::error!(error = %e, "python API failure");
                PypiError::new(
                    S::INTERNAL_SERVER_ERROR,
                    "internal error; the server log has the details under this request's id",
                )
            }
            other => PypiError::new(S::BAD_REQUEST, other.to_string()),
        }
    }
}

/// The message as a reason phrase: printable ASCII, one line, bounded.
fn reason_phrase(message: &str) -> Option<hyper::ext::ReasonPhrase> {
    let line: String = message
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                ' '
            }
        })
        .take(300)
        .collect();
    hyper::ext::ReasonPhrase::try_from(line.trim().as_bytes()).ok()
}

impl IntoResponse for PypiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, format!("{}\n", self.message)).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        for (k, v) in self.headers {
            r.headers_mut().insert(k, v);
        }
        if let Some(p) = reason_phrase(&self.message) {
            r.extensions_mut().insert(p);
        }
        r
    }
}

type PypiResult = Result<Response, PypiError>;

// ---- access ------------------------------------------------------------------------------

/// A request that may do what it asked, in this registry.
struct Access {
    org: OrgName,
    reg: RegistryName,
    registry: RegistryInfo,
    principal: Principal,
    origin: Origin,
}

impl Access {
    fn audit(&self, app: &App, action: &str, target: String) {
        app.auth.audit.record(AuditEvent {
            id: 0,
            at: crate::auth::now_secs() as i64,
            org: Some(self.org.to_string()),
            actor: self.principal.subject.audit_name(),
            action: action.into(),
            target,
            source_ip: self.origin.ip.clone(),
            user_agent: self.origin.user_agent.clone(),
        });
    }

    fn base(&self) -> String {
        format!("/api/v1/{}/{}/python", self.org, self.reg)
    }

    fn file_url(&self, f: &PythonFile) -> String {
        format!("{}/files/{}/{}", self.base(), f.project, f.filename)
    }
}

/// Authenticates the request and checks that its caller may `need` (pull or push) in
/// `org/reg`, answering exactly alike for a registry the caller may not see and for one that
/// does not exist.
async fn authorize(
    app: &App,
    headers: &HeaderMap,
    origin: Origin,
    org: &str,
    reg: &str,
    need: Action,
) -> Result<Access, PypiError> {
    let principal = match app.auth.credentials(headers, &origin).await? {
        Credentials::None => Principal::anonymous(),
        Credentials::Principal(p) => p,
        Credentials::Bearer(_) => {
            return Err(PypiError::unauthorized(
                "registry tokens from /v2/token are for the OCI API; sign in with Basic \
                 credentials (a password, or __token__ and an API token)",
            ));
        }
    };
    let anonymous = principal.subject == Subject::Anonymous;
    let denied = || {
        if anonymous {
            PypiError::unauthorized(
                "Unauthorized: sign in (a password, or __token__ and an API token)",
            )
        } else {
            PypiError::not_found()
        }
    };
    let (Ok(org_name), Ok(reg_name)) = (OrgName::parse(org), RegistryName::parse(reg)) else {
        return Err(denied());
    };
    let registry = app.auth.tenancy.get_registry(org, reg).await?;
    let allowed: BTreeSet<Action> = registry_actions(&principal, org, reg, registry.as_ref());
    if !allowed.contains(&need) {
        return Err(if allowed.contains(&Action::Pull) && !anonymous {
            // They can see it (a viewer, or anyone on a public registry) but not do this.
            PypiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "Forbidden: {} may not {} to {org}/{reg}",
                    principal.subject.audit_name(),
                    if need == Action::Push {
                        "upload"
                    } else {
                        "do this"
                    }
                ),
            )
        } else {
            denied()
        });
    }
    let Some(registry) = registry else {
        return Err(PypiError::not_found());
    };
    Ok(Access {
        org: org_name,
        reg: reg_name,
        registry,
        principal,
        origin,
    })
}

fn redirect(to: &str, query: Option<&str>) -> Response {
    let location = match query {
        Some(q) if !q.is_empty() => format!("{to}?{q}"),
        _ => to.to_string(),
    };
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::MOVED_PERMANENTLY;
    if let Ok(v) = HeaderValue::from_str(&location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

// ---- upload ------------------------------------------------------------------------------

async fn upload_root(
    State(app): State<Shared>,
    Path((org, reg)): Path<(String, String)>,
    req: Request,
) -> PypiResult {
    match *req.method() {
        Method::POST => upload(&app, &org, &reg, req).await,
        Method::GET | Method::HEAD => {
            let origin = crate::origin(&req);
            let a = authorize(&app, req.headers(), origin, &org, &reg, Action::Pull).await?;
            Ok(redirect(&format!("{}/simple/", a.base()), None))
        }
        _ => Err(PypiError::method("POST")),
    }
}

async fn upload(app: &App, org: &str, reg: &str, req: Request) -> PypiResult {
    let origin = crate::origin(&req);
    let access = authorize(app, req.headers(), origin, org, reg, Action::Push).await?;
    let settings = &app.python_settings;
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (form, spooled) = upload::receive(
        req.into_body(),
        content_type.as_deref(),
        settings.max_file_size,
        settings.spool_dir.clone(),
    )
    .await?;
    let upload::Spooled {
        file,
        filename,
        size,
        sha256,
        blake2_256,
        md5,
    } = spooled;
    let reread = file
        .try_clone()
        .map_err(|e| Error::Storage(format!("spool file: {e}")))?;
    let limits = settings.limits;
    let max = settings.max_file_size;
    let prepared = tokio::task::spawn_blocking(move || {
        stowage_core::python::service::prepare(
            &form,
            ReceivedFile {
                filename,
                reader: std::io::BufReader::new(reread),
                size,
                sha256,
                blake2_256,
                md5,
            },
            &limits,
            max,
        )
    })
    .await
    .map_err(|e| Error::Storage(format!("checking an upload: {e}")))??;
    let filename = prepared.file.filename.clone();
    let project = prepared.file.name.clone();
    let mut file = tokio::fs::File::from_std(file);
    tokio::io::AsyncSeekExt::seek(&mut file, std::io::SeekFrom::Start(0))
        .await
        .map_err(|e| Error::Storage(format!("spool file: {e}")))?;
    let body: ByteStream = Box::pin(tokio_util::io::ReaderStream::with_capacity(file, 256 << 10));
    let actor = access.principal.subject.audit_name();
    let new_id = || UploadId::from_random(*uuid::Uuid::new_v4().as_bytes());
    let stored = app
        .python
        .store(
            &access.org,
            &access.reg,
            prepared,
            body,
            &Uploader {
                actor: &actor,
                now_ms: now_ms(),
                new_id: &new_id,
            },
        )
        .await?;
    let message = match stored {
        Stored::New(_) => {
            access.audit(
                app,
                "python.upload",
                format!("{}/{}/python/{project}/{filename}", access.org, access.reg),
            );
            "OK: stored"
        }
        Stored::Identical(_) => "OK: an identical file of that name was already stored",
    };
    let mut r = (StatusCode::OK, format!("{message}\n")).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Ok(r)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

// ---- the Simple API ----------------------------------------------------------------------

fn read_method(req: &Request) -> Result<bool, PypiError> {
    match *req.method() {
        Method::GET => Ok(true),
        Method::HEAD => Ok(false),
        _ => Err(PypiError::method("GET, HEAD")),
    }
}

/// The representation asked for: `?format=` wins over `Accept`.
fn format_of(req: &Request) -> Result<Format, PypiError> {
    let from_query = req.uri().query().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "format")
            .map(|(_, v)| v.into_owned())
    });
    let accept = from_query.or_else(|| {
        req.headers()
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .reduce(|a, _| a)
            .map(str::to_string)
    });
    simple::negotiate(accept.as_deref()).ok_or_else(|| {
        PypiError::new(
            StatusCode::NOT_ACCEPTABLE,
            "Not Acceptable: this index serves application/vnd.pypi.simple.v1+json, \
             application/vnd.pypi.simple.v1+html and text/html",
        )
    })
}

/// A rendered page, with a strong ETag of its bytes (so pip's cache revalidates cheaply).
fn page(req: &Request, access: &Access, format: Format, body: String, with_body: bool) -> Response {
    use sha2::Digest as _;
    let etag = format!(
        "\"{}\"",
        &hex::encode(sha2::Sha256::digest(body.as_bytes()))[..32]
    );
    let cache = if access.registry.settings.public_read {
        "public, max-age=0, must-revalidate"
    } else {
        "private, max-age=0, must-revalidate"
    };
    let not_modified = if_none_match(req.headers(), &etag);
    let len = body.len();
    let mut r = if not_modified || !with_body {
        Response::new(Body::empty())
    } else {
        Response::new(Body::from(body))
    };
    if not_modified {
        *r.status_mut() = StatusCode::NOT_MODIFIED;
    }
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if !not_modified {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    h.insert(header::VARY, HeaderValue::from_static("Accept"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    r
}

/// Whether `If-None-Match` names `etag` (or is `*`).
fn if_none_match(h: &HeaderMap, etag: &str) -> bool {
    h.get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == etag || t == "*")
}

async fn index_redirect(
    State(app): State<Shared>,
    Path((org, reg)): Path<(String, String)>,
    req: Request,
) -> PypiResult {
    read_method(&req)?;
    let origin = crate::origin(&req);
    let a = authorize(&app, req.headers(), origin, &org, &reg, Action::Pull).await?;
    Ok(redirect(
        &format!("{}/simple/", a.base()),
        req.uri().query(),
    ))
}

async fn index(
    State(app): State<Shared>,
    Path((org, reg)): Path<(String, String)>,
    req: Request,
) -> PypiResult {
    let with_body = read_method(&req)?;
    let origin = crate::origin(&req);
    let a = authorize(&app, req.headers(), origin, &org, &reg, Action::Pull).await?;
    let format = format_of(&req)?;
    let projects = app.python.projects(&a.org, &a.reg).await?;
    let base = a.base();
    let body = simple::render_index(format, &projects, |p| format!("{base}/simple/{}/", p.name));
    Ok(page(&req, &a, format, body, with_body))
}

async fn project_redirect(
    State(app): State<Shared>,
    Path((org, reg, project)): Path<(String, String, String)>,
    req: Request,
) -> PypiResult {
    read_method(&req)?;
    let origin = crate::origin(&req);
    let a = authorize(&app, req.headers(), origin, &org, &reg, Action::Pull).await?;
    let name = NormalizedName::from_raw(&project)
        .map_err(|_| Error::NotFound(format!("Not Found: no project {project:?}")))?;
    Ok(redirect(
        &format!("{}/simple/{name}/", a.base()),
        req.uri().query(),
    ))
}

async fn project(
    State(app): State<Shared>,
    Path((org, reg, project)): Path<(String, String, String)>,
    req: Request,
) -> PypiResult {
    let with_body = read_method(&req)?;
    let origin = crate::origin(&req);
    let a = authorize(&app, req.headers(), origin, &org, &reg, Action::Pull).await?;
    let name = NormalizedName::from_raw(&project)
        .map_err(|_| Error::NotFound(format!("Not Found: no project {project:?}")))?;
    if name.as_str() != project {
        return Ok(redirect(
            &format!("{}/simple/{name}/", a.base()),
            req.uri().query(),
        ));
    }
    let format = format_of(&req)?;
    let files = app
        .python
        .files(&a.org, &a.reg, &name)
        .await
        .map_err(|e| match e {
            Error::NotFound(_) => Error::NotFound(format!("Not Found: no project {name}")),
            e => e,
        })?;
    let body = simple::render_project(format, name.as_str(), &files, |f| a.file_url(f));
    Ok(page(&req, &a, format, body, with_body))
}

// ---- files -------------------------------------------------------------------------------

async fn file(
    State(app): State<Shared>,
    Path((org, reg, project, filename)): Path<(String, String, String, String)>,
    req: Request,
) -> PypiResult {
    let with_body = read_method(&req)?;
    let origin = crate::origin(&req);
    let a = authorize(&app, req.headers(), origin, &org, &reg, Action::Pull).await?;
    let missing = || Error::NotFound(format!("Not Found: no file {filename}"));
    let name = NormalizedName::parse_normalized(&project).ok_or_else(missing)?;
    let (dist, metadata) = match filename.strip_suffix(".metadata") {
        Some(dist) => (dist, true),
        None => (filename.as_str(), false),
    };
    let record = match app.python.file(&a.org, &a.reg, &name, dist).await {
        Ok(r) => r,
        Err(Error::NotFound(_)) => return Err(missing().into()),
        Err(e) => return Err(e.into()),
    };
    let (digest, size): (Digest, u64) = if metadata {
        record.metadata.clone().ok_or_else(missing)?
    } else {
        (record.digest.clone(), record.size)
    };
    if with_body && !metadata {
        a.audit(
            &app,
            "python.download",
            format!("{}/{}/python/{name}/{filename}", a.org, a.reg),
        );
    }
    let etag = format!("\"{}\"", digest.hex());
    let cache = if a.registry.settings.public_read {
        "public, max-age=31536000, immutable"
    } else {
        "private, max-age=31536000, immutable"
    };
    if if_none_match(req.headers(), &etag) {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r.headers_mut().insert(header::ETAG, hv(&etag));
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
        return Ok(r);
    }
    // `If-Range` with another validator: the whole file.
    let if_range_ok = req
        .headers()
        .get(header::IF_RANGE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.trim() == etag);
    let range = if if_range_ok {
        match byte_range(req.headers(), size) {
            Ok(r) => r,
            Err(_) => {
                let mut r = PypiError::new(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    format!("Range Not Satisfiable: the file has {size} bytes"),
                )
                .into_response();
                r.headers_mut()
                    .insert(header::CONTENT_RANGE, hv(&format!("bytes */{size}")));
                return Ok(r);
            }
        }
    } else {
        None
    };
    let registry = &app.registry;
    let bytes = range.as_ref().map_or(size, |r| r.end - r.start);
    if with_body && let Some(url) = registry.blobs.presign_get(&digest, bytes).await? {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::TEMPORARY_REDIRECT;
        r.headers_mut().insert(header::LOCATION, hv(&url));
        return Ok(r);
    }
    let (status, len) = match &range {
        Some(r) => (StatusCode::PARTIAL_CONTENT, r.end - r.start),
        None => (StatusCode::OK, size),
    };
    let body = if with_body {
        Body::from_stream(registry.blob_bytes(&digest, range.clone()).await?)
    } else {
        Body::empty()
    };
    let mut r = Response::new(body);
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(if metadata {
            "text/plain; charset=utf-8"
        } else {
            "application/octet-stream"
        }),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::ETAG, hv(&etag));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Some(rg) = range {
        h.insert(
            header::CONTENT_RANGE,
            hv(&format!("bytes {}-{}/{size}", rg.start, rg.end - 1)),
        );
    }
    Ok(r)
}

fn hv(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}
