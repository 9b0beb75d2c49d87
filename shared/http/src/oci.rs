//! The OCI Distribution API (v1.1) under `/v2/`.
//!
//! One catch-all route; [`stowage_core::names::parse_v2_path`] says what a path addresses, and
//! each handler here only translates HTTP (headers, query, body stream) into one
//! [`Registry`] call and its answer back. Status codes and error codes come from the spec;
//! errors are rendered by [`crate::error`].

use crate::App;
use crate::auth::{Credentials, Origin, scope_for};
use crate::error::OciError;
use crate::ranges::byte_range;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use futures_util::TryStreamExt;
use std::sync::Arc;
use stowage_core::auth::{Action, Subject};
use stowage_core::manifest::{MAX_MANIFEST_BYTES, OCI_INDEX};
use stowage_core::names::{V2Path, parse_v2_path};
use stowage_core::ports::ByteStream;
use stowage_core::python::service::is_python_repo;
use stowage_core::registry::{ChunkRange, Registry};
use stowage_core::tenancy::AuditEvent;
use stowage_core::{Digest, Error, Reference, RepoName, Tag, UploadId};

type Shared = Arc<App>;
type HandlerResult = Result<Response, OciError>;

const API_VERSION: HeaderName = HeaderName::from_static("docker-distribution-api-version");
const CONTENT_DIGEST: HeaderName = HeaderName::from_static("docker-content-digest");
const UPLOAD_UUID: HeaderName = HeaderName::from_static("docker-upload-uuid");

/// Largest page of tags or repositories served at once.
const MAX_PAGE: usize = 10_000;

/// Which routes of the distribution API a router serves: all of them (`stowage serve`), or
/// one Lambda function's share (the front sends `/v2/*/blobs/*` to one function and the rest
/// of `/v2/` to the other).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OciRoutes {
    All,
    /// `/v2/`, the catalog, manifests, tags and referrers.
    Manifests,
    /// Blobs and blob uploads.
    Blobs,
}

impl OciRoutes {
    fn serves(self, path: &V2Path<'_>) -> bool {
        let blob = matches!(
            path,
            V2Path::Blob { .. } | V2Path::UploadStart { .. } | V2Path::Upload { .. }
        );
        match self {
            OciRoutes::All => true,
            OciRoutes::Blobs => blob,
            OciRoutes::Manifests => !blob,
        }
    }
}

pub fn router(registry: Shared) -> Router {
    router_for(registry, OciRoutes::All)
}

/// The distribution API's router, serving `routes` (others answer 404).
pub fn router_for(registry: Shared, routes: OciRoutes) -> Router {
    let handler = move |State(app): State<Shared>, req: Request| dispatch(app, req, routes);
    Router::new()
        .route("/v2", any(handler))
        .route("/v2/", any(handler))
        .route("/v2/{*rest}", any(handler))
        .with_state(registry)
}

async fn dispatch(app: Shared, req: Request, routes: OciRoutes) -> Response {
    let mut resp = match route(&app, req, routes).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    resp.headers_mut()
        .insert(API_VERSION, HeaderValue::from_static("registry/2.0"));
    resp
}

fn hv(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn not_found() -> OciError {
    OciError::new(
        StatusCode::NOT_FOUND,
        "NAME_UNKNOWN",
        "no route: the distribution API lives under /v2/<org>/<registry>/<repository>/…",
    )
}

fn method_not_allowed(method: &Method) -> OciError {
    OciError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "UNSUPPORTED",
        format!("method {method} is not supported on this endpoint"),
    )
}

/// Query parameters in order (a key may repeat, e.g. `tag`).
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(q: Option<&str>) -> Query {
        Query(
            form_urlencoded::parse(q.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, key: &str) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// What a route needs: the repository and the action, or nothing (`/v2/`, the catalog).
fn needed(parsed: &V2Path<'_>, method: &Method) -> Option<(String, Action)> {
    let (name, action) = match parsed {
        V2Path::Base | V2Path::Catalog => return None,
        V2Path::Manifest { name, .. } | V2Path::Blob { name, .. } => match *method {
            Method::PUT => (name, Action::Push),
            Method::DELETE => (name, Action::Delete),
            _ => (name, Action::Pull),
        },
        V2Path::UploadStart { name } | V2Path::Upload { name, .. } => (name, Action::Push),
        V2Path::TagsList { name } | V2Path::Referrers { name, .. } => (name, Action::Pull),
    };
    Some((name.to_string(), action))
}

fn subject_of(creds: &Credentials) -> Subject {
    match creds {
        Credentials::None => Subject::Anonymous,
        Credentials::Bearer(c) => Subject::from_claim(&c.sub).unwrap_or(Subject::Anonymous),
        Credentials::Principal(p) => p.subject.clone(),
    }
}

/// The request, authenticated and authorized.
struct Caller {
    creds: Credentials,
    origin: Origin,
}

impl Caller {
    fn audit(&self, app: &App, repo: &RepoName, action: &str, target: String) {
        app.auth.audit.record(AuditEvent {
            id: 0,
            at: crate::auth::now_secs() as i64,
            org: Some(repo.org().to_string()),
            actor: subject_of(&self.creds).audit_name(),
            action: action.to_string(),
            target: format!("{repo}{target}"),
            source_ip: self.origin.ip.clone(),
            user_agent: self.origin.user_agent.clone(),
        });
    }
}

fn unauthorized(app: &App, headers: &HeaderMap, e: Error, scope: Option<&str>) -> OciError {
    let challenge = matches!(e, Error::Unauthorized(_));
    let mut err = OciError::from(e);
    if challenge {
        err.headers.push((
            header::WWW_AUTHENTICATE,
            app.auth.challenge(headers, scope, Some("invalid_token")),
        ));
    }
    err
}

async fn route(app: &App, req: Request, routes: OciRoutes) -> HandlerResult {
    let reg = &app.registry;
    let path = req.uri().path().to_string();
    let rest = path
        .strip_prefix("/v2/")
        .or_else(|| (path == "/v2").then_some(""))
        .ok_or_else(not_found)?;
    let query = Query::parse(req.uri().query());
    let method = req.method().clone();
    let parsed = parse_v2_path(rest).ok_or_else(not_found)?;
    if !routes.serves(&parsed) {
        return Err(OciError::new(
            StatusCode::NOT_FOUND,
            "UNSUPPORTED",
            "this endpoint does not serve that route (the front routes it elsewhere)",
        ));
    }
    let name = |s: &str| RepoName::parse(s).map_err(|e| OciError::from(Error::from(e)));

    // Authentication, then authorization of the route's repository and action.
    let origin = crate::origin(&req);
    let needed = needed(&parsed, &method);
    let needed_repo = needed
        .as_ref()
        .map(|(n, a)| name(n).map(|r| (r, *a)))
        .transpose()?;
    let scope = needed_repo.as_ref().map(|(r, a)| scope_for(r, *a));
    let creds = app
        .auth
        .credentials(req.headers(), &origin)
        .await
        .map_err(|e| unauthorized(app, req.headers(), e, scope.as_deref()))?;
    let headers = req.headers().clone();
    let challenge = |scope: Option<&str>, error: Option<&str>, message: &str| {
        let mut e = OciError::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message);
        e.headers.push((
            header::WWW_AUTHENTICATE,
            app.auth.challenge(&headers, scope, error),
        ));
        e
    };
    if let Some((repo, action)) = &needed_repo {
        let granted = app.auth.actions_on(&creds, repo).await?;
        if !granted.contains(action) {
            // A token without the action: if its holder may do it, the client should fetch a
            // token with this scope (401 + challenge); if the holder may see the repository
            // but not do this, it is denied (403); otherwise the repository does not exist for
            // them, exactly as if it did not exist (401 + challenge).
            let live = match &creds {
                Credentials::None => Default::default(),
                Credentials::Bearer(_) => app.auth.live_actions(&creds, repo).await?,
                Credentials::Principal(_) => granted.clone(),
            };
            let anonymous = match &creds {
                Credentials::None => true,
                Credentials::Bearer(c) => Subject::from_claim(&c.sub) == Some(Subject::Anonymous),
                Credentials::Principal(_) => false,
            };
            return Err(match &creds {
                _ if anonymous => challenge(scope.as_deref(), None, "authentication required"),
                _ if live.contains(action) || live.is_empty() => challenge(
                    scope.as_deref(),
                    Some("insufficient_scope"),
                    "authentication required: these credentials do not grant this on this repository",
                ),
                _ => OciError::from(Error::Denied(format!(
                    "requested access to the resource is denied: {action} on {repo} is not granted"
                ))),
            });
        }
    }
    if let Some((repo, action)) = &needed_repo
        && *action != Action::Pull
        && is_python_repo(repo)
    {
        return Err(OciError::from(Error::Denied(format!(
            "{repo} holds Python packages, which the Python API manages: upload with twine or \
             uv publish to /api/v1/{}/{}/python/, and yank or delete through the management API",
            repo.org(),
            repo.registry()
        ))));
    }
    let caller = Caller { creds, origin };

    match parsed {
        V2Path::Base => match method {
            Method::GET | Method::HEAD => match caller.creds {
                Credentials::None => Err(challenge(None, None, "authentication required")),
                _ => Ok(json_response(StatusCode::OK, "{}".into())),
            },
            m => Err(method_not_allowed(&m)),
        },
        V2Path::Catalog => match method {
            Method::GET => catalog(app, &caller, &headers, &query).await,
            m => Err(method_not_allowed(&m)),
        },
        V2Path::Manifest { name: n, reference } => {
            let repo = name(n)?;
            match method {
                Method::GET => {
                    let r = get_manifest(reg, &repo, reference, true).await?;
                    caller.audit(app, &repo, "pull", format!(":{reference}"));
                    Ok(r)
                }
                Method::HEAD => get_manifest(reg, &repo, reference, false).await,
                Method::PUT => {
                    let r = put_manifest(reg, &repo, reference, &query, req).await?;
                    caller.audit(app, &repo, "push", format!(":{reference}"));
                    Ok(r)
                }
                Method::DELETE => {
                    let r = delete_manifest(reg, &repo, reference).await?;
                    caller.audit(app, &repo, "delete", format!(":{reference}"));
                    Ok(r)
                }
                m => Err(method_not_allowed(&m)),
            }
        }
        V2Path::Blob { name: n, digest } => {
            let repo = name(n)?;
            let digest: Digest = digest.parse().map_err(Error::from)?;
            match method {
                Method::GET => get_blob(reg, &repo, &digest, req.headers(), true).await,
                Method::HEAD => get_blob(reg, &repo, &digest, req.headers(), false).await,
                Method::DELETE => {
                    reg.delete_blob(&repo, &digest).await?;
                    caller.audit(app, &repo, "delete", format!("@{digest}"));
                    Ok(empty(StatusCode::ACCEPTED))
                }
                m => Err(method_not_allowed(&m)),
            }
        }
        V2Path::UploadStart { name: n } => {
            let repo = name(n)?;
            match method {
                Method::POST => start_upload(app, &caller, &repo, &query, req).await,
                m => Err(method_not_allowed(&m)),
            }
        }
        V2Path::Upload { name: n, id } => {
            let repo = name(n)?;
            let id = UploadId::parse(id).ok_or(Error::BlobUploadUnknown)?;
            match method {
                Method::GET => {
                    let s = reg.upload(&repo, &id).await?;
                    Ok(upload_status(StatusCode::NO_CONTENT, &repo, &id, s.size))
                }
                Method::PATCH => patch_upload(reg, &repo, &id, req).await,
                Method::PUT => put_upload(reg, &repo, &id, &query, req).await,
                Method::DELETE => {
                    reg.cancel_upload(&repo, &id).await?;
                    Ok(empty(StatusCode::NO_CONTENT))
                }
                m => Err(method_not_allowed(&m)),
            }
        }
        V2Path::TagsList { name: n } => {
            let repo = name(n)?;
            match method {
                Method::GET => tags_list(reg, &repo, &query).await,
                m => Err(method_not_allowed(&m)),
            }
        }
        V2Path::Referrers { name: n, digest } => {
            let repo = name(n)?;
            let digest: Digest = digest.parse().map_err(Error::from)?;
            match method {
                Method::GET => referrers(reg, &repo, &digest, &query).await,
                m => Err(method_not_allowed(&m)),
            }
        }
    }
}

// ---- helpers -----------------------------------------------------------------------------

fn empty(status: StatusCode) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    r
}

fn json_response(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn body_stream(body: Body) -> ByteStream {
    Box::pin(body.into_data_stream().map_err(std::io::Error::other))
}

fn header_u64(h: &HeaderMap, name: HeaderName) -> Result<Option<u64>, Error> {
    match h.get(&name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .map(Some)
            .ok_or_else(|| Error::SizeInvalid(format!("malformed {name} header"))),
    }
}

/// `Content-Range: <start>-<end>` on an upload chunk (a `bytes ` prefix is tolerated).
fn chunk_range(h: &HeaderMap) -> Result<Option<ChunkRange>, Error> {
    let Some(v) = h.get(header::CONTENT_RANGE) else {
        return Ok(None);
    };
    let bad = || {
        Error::BlobUploadInvalid(
            "malformed Content-Range: expected <start>-<end> (inclusive byte offsets)".into(),
        )
    };
    let s = v.to_str().map_err(|_| bad())?.trim();
    let s = s.strip_prefix("bytes ").unwrap_or(s);
    let s = s.split('/').next().unwrap_or(s);
    let (a, b) = s.split_once('-').ok_or_else(bad)?;
    let start = a.trim().parse().map_err(|_| bad())?;
    let end = b.trim().parse().map_err(|_| bad())?;
    Ok(Some(ChunkRange { start, end }))
}

fn upload_location(repo: &RepoName, id: &UploadId) -> String {
    format!("/v2/{repo}/blobs/uploads/{id}")
}

fn upload_status(status: StatusCode, repo: &RepoName, id: &UploadId, size: u64) -> Response {
    let mut r = empty(status);
    let h = r.headers_mut();
    h.insert(header::LOCATION, hv(&upload_location(repo, id)));
    h.insert(header::RANGE, hv(&format!("0-{}", size.saturating_sub(1))));
    h.insert(UPLOAD_UUID, hv(id.as_str()));
    r
}

fn blob_created(repo: &RepoName, digest: &Digest) -> Response {
    let mut r = empty(StatusCode::CREATED);
    let h = r.headers_mut();
    h.insert(header::LOCATION, hv(&format!("/v2/{repo}/blobs/{digest}")));
    h.insert(CONTENT_DIGEST, hv(&digest.to_string()));
    r
}

fn new_upload_id() -> UploadId {
    UploadId::from_random(*uuid::Uuid::new_v4().as_bytes())
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// `n` and `last` of a paginated listing; `n` capped at [`MAX_PAGE`].
fn page(query: &Query) -> Result<(usize, Option<String>, bool), Error> {
    let n = match query.get("n") {
        None => None,
        Some(s) => Some(s.parse::<usize>().map_err(|_| {
            Error::BadRequest(format!("invalid n={s:?}: expected a non-negative integer"))
        })?),
    };
    let last = query
        .get("last")
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    Ok((n.unwrap_or(MAX_PAGE).min(MAX_PAGE), last, n.is_some()))
}

fn link_next(path: &str, n: usize, last: &str) -> HeaderValue {
    let last: String = form_urlencoded::byte_serialize(last.as_bytes()).collect();
    hv(&format!("<{path}?n={n}&last={last}>; rel=\"next\""))
}

// ---- handlers ----------------------------------------------------------------------------

/// Organization prefixes (`org/`, or `org/registry/` for a registry-bound token) whose
/// repositories the caller may list.
async fn visible_prefixes(app: &App, caller: &Caller) -> Result<Vec<String>, Error> {
    let principal = match &caller.creds {
        Credentials::Principal(p) => p.clone(),
        Credentials::Bearer(c) => match Subject::from_claim(&c.sub) {
            Some(Subject::User(u)) => app.auth.user_principal(u).await?,
            Some(Subject::Token(id)) => match app.auth.tokens.get_token(&id).await? {
                Some(t) if t.revoked_at.is_none() => stowage_core::auth::Principal {
                    subject: Subject::Token(id),
                    roles: vec![(t.org, t.role)],
                    only_registry: t.registry,
                },
                _ => return Ok(Vec::new()),
            },
            _ => return Ok(Vec::new()),
        },
        Credentials::None => return Ok(Vec::new()),
    };
    Ok(principal
        .roles
        .iter()
        .map(|(org, _)| match &principal.only_registry {
            Some(r) => format!("{org}/{r}/"),
            None => format!("{org}/"),
        })
        .collect())
}

async fn catalog(app: &App, caller: &Caller, headers: &HeaderMap, query: &Query) -> HandlerResult {
    let allowed = match &caller.creds {
        Credentials::None => false,
        Credentials::Bearer(c) => c.has_catalog(),
        Credentials::Principal(_) => true,
    };
    if !allowed {
        let mut e = OciError::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "authentication required",
        );
        e.headers.push((
            header::WWW_AUTHENTICATE,
            app.auth
                .challenge(headers, Some("registry:catalog:*"), None),
        ));
        return Err(e);
    }
    let prefixes = visible_prefixes(app, caller).await?;
    let (n, last, _) = page(query)?;
    let mut repos = app
        .registry
        .catalog
        .list_repositories(&prefixes, last.as_deref(), n + 1)
        .await?;
    let more = repos.len() > n;
    repos.truncate(n);
    let names: Vec<&str> = repos.iter().map(|r| r.as_str()).collect();
    let mut r = json_response(
        StatusCode::OK,
        serde_json::json!({ "repositories": names }).to_string(),
    );
    if more && let Some(last) = names.last() {
        r.headers_mut()
            .insert(header::LINK, link_next("/v2/_catalog", n, last));
    }
    Ok(r)
}

fn parse_reference(reference: &str) -> Result<Reference, Error> {
    reference.parse::<Reference>().map_err(|e| match e {
        stowage_core::names::ReferenceError::Digest(d) => Error::from(d),
        stowage_core::names::ReferenceError::Tag(t) => Error::TagInvalid(t.to_string()),
    })
}

async fn get_manifest(
    reg: &Registry,
    repo: &RepoName,
    reference: &str,
    with_body: bool,
) -> HandlerResult {
    let reference = match parse_reference(reference) {
        Ok(r) => r,
        // A malformed reference names nothing that could exist.
        Err(_) => return Err(Error::ManifestUnknown.into()),
    };
    let m = reg.get_manifest(repo, &reference).await?;
    let len = m.body.len();
    let mut r = if with_body {
        Response::new(Body::from(m.body))
    } else {
        Response::new(Body::empty())
    };
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, hv(&m.media_type));
    h.insert(header::CONTENT_LENGTH, hv(&len.to_string()));
    h.insert(CONTENT_DIGEST, hv(&m.digest.to_string()));
    h.insert(header::ETAG, hv(&format!("\"{}\"", m.digest)));
    Ok(r)
}

async fn put_manifest(
    reg: &Registry,
    repo: &RepoName,
    reference: &str,
    query: &Query,
    req: Request,
) -> HandlerResult {
    let reference = parse_reference(reference)?;
    let extra_tags = query
        .all("tag")
        .map(|t| Tag::parse(t).map_err(|e| Error::TagInvalid(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if let Some(len) = header_u64(req.headers(), header::CONTENT_LENGTH)?
        && len > MAX_MANIFEST_BYTES as u64
    {
        return Err(Error::ManifestTooLarge {
            size: len,
            limit: MAX_MANIFEST_BYTES as u64,
        }
        .into());
    }
    let body = axum::body::to_bytes(req.into_body(), MAX_MANIFEST_BYTES + 1)
        .await
        .map_err(|_| Error::ManifestTooLarge {
            size: MAX_MANIFEST_BYTES as u64 + 1,
            limit: MAX_MANIFEST_BYTES as u64,
        })?;
    let pushed = reg
        .put_manifest(repo, &reference, content_type.as_deref(), body, extra_tags)
        .await?;
    let mut r = empty(StatusCode::CREATED);
    let h = r.headers_mut();
    h.insert(
        header::LOCATION,
        hv(&format!("/v2/{repo}/manifests/{}", pushed.digest)),
    );
    h.insert(CONTENT_DIGEST, hv(&pushed.digest.to_string()));
    if let Some(subject) = &pushed.subject {
        h.insert("oci-subject", hv(&subject.to_string()));
    }
    for tag in &pushed.tags {
        h.append("oci-tag", hv(tag.as_str()));
    }
    Ok(r)
}

async fn delete_manifest(reg: &Registry, repo: &RepoName, reference: &str) -> HandlerResult {
    let reference = parse_reference(reference)?;
    reg.delete_manifest(repo, &reference).await?;
    Ok(empty(StatusCode::ACCEPTED))
}

async fn get_blob(
    reg: &Registry,
    repo: &RepoName,
    digest: &Digest,
    headers: &HeaderMap,
    with_body: bool,
) -> HandlerResult {
    let size = reg.blob_size(repo, digest).await?;
    let range = match byte_range(headers, size) {
        Ok(r) => r,
        Err(e) => {
            let mut r = OciError::from(e).into_response();
            r.headers_mut()
                .insert(header::CONTENT_RANGE, hv(&format!("bytes */{size}")));
            return Ok(r);
        }
    };
    let (status, len) = match &range {
        Some(r) => (StatusCode::PARTIAL_CONTENT, r.end - r.start),
        None => (StatusCode::OK, size),
    };
    if with_body && let Some(url) = reg.blobs.presign_get(digest, len).await? {
        let mut r = empty(StatusCode::TEMPORARY_REDIRECT);
        r.headers_mut().insert(header::LOCATION, hv(&url));
        r.headers_mut()
            .insert(CONTENT_DIGEST, hv(&digest.to_string()));
        return Ok(r);
    }
    let body = if with_body {
        Body::from_stream(reg.blob_bytes(digest, range.clone()).await?)
    } else {
        Body::empty()
    };
    let mut r = Response::new(body);
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_LENGTH, hv(&len.to_string()));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(CONTENT_DIGEST, hv(&digest.to_string()));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::ETAG, hv(&format!("\"{digest}\"")));
    if let Some(rg) = range {
        h.insert(
            header::CONTENT_RANGE,
            hv(&format!("bytes {}-{}/{size}", rg.start, rg.end - 1)),
        );
    }
    Ok(r)
}

async fn start_upload(
    app: &App,
    caller: &Caller,
    repo: &RepoName,
    query: &Query,
    req: Request,
) -> HandlerResult {
    let reg = &app.registry;
    if let Some(mount) = query.get("mount") {
        let digest: Digest = mount.parse().map_err(Error::from)?;
        // A `from` that is not a valid name, or that the caller may not pull from, cannot
        // lend the blob: fall through to an upload.
        let from = match query.get("from") {
            Some(f) => match RepoName::parse(f) {
                Ok(from)
                    if app
                        .auth
                        .live_actions(&caller.creds, &from)
                        .await?
                        .contains(&Action::Pull) =>
                {
                    Some(Some(from))
                }
                _ => None,
            },
            None => Some(None),
        };
        if let Some(from) = from
            && reg.mount(repo, &digest, from.as_ref()).await?.is_some()
        {
            return Ok(blob_created(repo, &digest));
        }
    }
    let id = new_upload_id();
    if let Some(d) = query.get("digest") {
        // Monolithic upload in a single POST.
        let digest: Digest = d.parse().map_err(Error::from)?;
        let length = header_u64(req.headers(), header::CONTENT_LENGTH)?;
        let body = body_stream(req.into_body());
        reg.put_blob(repo, id, &digest, length, body).await?;
        return Ok(blob_created(repo, &digest));
    }
    reg.start_upload(repo, id.clone(), now()).await?;
    let mut r = upload_status(StatusCode::ACCEPTED, repo, &id, 0);
    if let Some(min) = reg.blobs.min_chunk_length() {
        r.headers_mut()
            .insert("oci-chunk-min-length", hv(&min.to_string()));
    }
    Ok(r)
}

async fn patch_upload(
    reg: &Registry,
    repo: &RepoName,
    id: &UploadId,
    req: Request,
) -> HandlerResult {
    let range = chunk_range(req.headers())?;
    let length = header_u64(req.headers(), header::CONTENT_LENGTH)?;
    let body = body_stream(req.into_body());
    match reg.upload_chunk(repo, id, range, length, body).await {
        Ok(s) => Ok(upload_status(StatusCode::ACCEPTED, repo, id, s.size)),
        Err(e @ Error::RangeNotSatisfiable { size, .. }) => {
            let mut r = OciError::from(e).into_response();
            let h = r.headers_mut();
            h.insert(header::LOCATION, hv(&upload_location(repo, id)));
            h.insert(header::RANGE, hv(&format!("0-{}", size.saturating_sub(1))));
            h.insert(UPLOAD_UUID, hv(id.as_str()));
            Ok(r)
        }
        Err(e) => Err(e.into()),
    }
}

async fn put_upload(
    reg: &Registry,
    repo: &RepoName,
    id: &UploadId,
    query: &Query,
    req: Request,
) -> HandlerResult {
    let digest: Digest = query
        .get("digest")
        .ok_or_else(|| {
            Error::DigestInvalid(
                "the digest query parameter is required to finish an upload".into(),
            )
        })?
        .parse()
        .map_err(Error::from)?;
    let range = chunk_range(req.headers())?;
    let length = header_u64(req.headers(), header::CONTENT_LENGTH)?;
    // A body is the last chunk unless it is known to be empty (HTTP/2 and chunked requests
    // carry no Content-Length).
    let empty_body =
        length == Some(0) || axum::body::HttpBody::size_hint(req.body()).exact() == Some(0);
    let last_chunk = if !empty_body || range.is_some() {
        Some((range, length, body_stream(req.into_body())))
    } else {
        None
    };
    match reg.finish_upload(repo, id, &digest, last_chunk).await {
        Ok(_) => Ok(blob_created(repo, &digest)),
        Err(e @ Error::RangeNotSatisfiable { size, .. }) => {
            let mut r = OciError::from(e).into_response();
            r.headers_mut()
                .insert(header::RANGE, hv(&format!("0-{}", size.saturating_sub(1))));
            r.headers_mut()
                .insert(header::LOCATION, hv(&upload_location(repo, id)));
            Ok(r)
        }
        Err(e) => Err(e.into()),
    }
}

async fn tags_list(reg: &Registry, repo: &RepoName, query: &Query) -> HandlerResult {
    let (n, last, _) = page(query)?;
    let mut tags = reg.tags(repo, last.as_deref(), n + 1).await?;
    let more = tags.len() > n;
    tags.truncate(n);
    let mut r = json_response(
        StatusCode::OK,
        serde_json::json!({ "name": repo.as_str(), "tags": tags }).to_string(),
    );
    if more && let Some(last) = tags.last() {
        r.headers_mut().insert(
            header::LINK,
            link_next(&format!("/v2/{repo}/tags/list"), n, last),
        );
    }
    Ok(r)
}

async fn referrers(
    reg: &Registry,
    repo: &RepoName,
    subject: &Digest,
    query: &Query,
) -> HandlerResult {
    let filter = query.get("artifactType").filter(|s| !s.is_empty());
    let list = reg.referrers(repo, subject, filter).await?;
    let manifests: Vec<serde_json::Value> = list
        .into_iter()
        .map(|r| {
            let mut d = serde_json::json!({
                "mediaType": r.media_type,
                "digest": r.digest.to_string(),
                "size": r.size,
            });
            if let Some(at) = r.artifact_type {
                d["artifactType"] = at.into();
            }
            if !r.annotations.is_empty() {
                d["annotations"] = serde_json::json!(r.annotations);
            }
            d
        })
        .collect();
    let body = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": manifests,
    });
    let mut r = (StatusCode::OK, body.to_string()).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(OCI_INDEX));
    if filter.is_some() {
        r.headers_mut().insert(
            "oci-filters-applied",
            HeaderValue::from_static("artifactType"),
        );
    }
    Ok(r)
}
