//! The management API under `/api/v1`: organizations, registries, members, invitations, API
//! tokens, repositories and artifacts, and the audit log. JSON in and out, described by the
//! OpenAPI document at `/api/v1/openapi.json` (kept beside this file; a test checks that every
//! route here is in it).
//!
//! Authentication: `Authorization: Bearer` with a Stowage registry token (any scope: only its
//! subject is used, with the roles it has now) or an API token, or Basic credentials.
//! Authorization: members read their organization; admins change it. An organization the caller
//! is not in answers `404`, exactly like one that does not exist.

use crate::App;
use crate::auth::{Credentials, new_api_token, now_secs};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use stowage_core::auth::{Principal, Subject};
use stowage_core::ports::AuditFilter;
use stowage_core::tenancy::{
    ApiTokenRecord, AuditEvent, Invitation, InvitationState, OrgName, RegistryInfo, RegistryName,
    RegistrySettings, Role, UserName,
};
use stowage_core::{Error, RepoName};

mod python;

type Shared = Arc<App>;

/// The OpenAPI document.
pub const OPENAPI: &str = include_str!("openapi.json");

pub fn router(app: Shared) -> Router {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/user", get(whoami))
        .route("/api/v1/orgs", get(list_orgs).post(create_org))
        .route("/api/v1/orgs/{org}", get(get_org))
        .route(
            "/api/v1/orgs/{org}/registries",
            get(list_registries).post(create_registry),
        )
        .route(
            "/api/v1/orgs/{org}/registries/{reg}",
            get(get_registry)
                .patch(update_registry)
                .delete(delete_registry),
        )
        .route(
            "/api/v1/orgs/{org}/registries/{reg}/repositories",
            get(list_repositories),
        )
        .route(
            "/api/v1/orgs/{org}/registries/{reg}/repositories/{*repo}",
            get(list_artifacts),
        )
        .route("/api/v1/orgs/{org}/members", get(list_members))
        .route(
            "/api/v1/orgs/{org}/members/{user}",
            put(set_member).delete(remove_member),
        )
        .route(
            "/api/v1/orgs/{org}/invitations",
            get(list_invitations).post(create_invitation),
        )
        .route(
            "/api/v1/orgs/{org}/invitations/{id}",
            axum::routing::delete(revoke_invitation),
        )
        .route("/api/v1/invitations", get(my_invitations))
        .route("/api/v1/invitations/{id}/accept", post(accept_invitation))
        .route("/api/v1/invitations/{id}/decline", post(decline_invitation))
        .route(
            "/api/v1/orgs/{org}/tokens",
            get(list_tokens).post(create_token),
        )
        .route(
            "/api/v1/orgs/{org}/tokens/{id}",
            axum::routing::delete(revoke_token),
        )
        .route("/api/v1/orgs/{org}/audit", get(audit_log))
        .route(
            "/api/v1/orgs/{org}/registries/{reg}/python/projects",
            get(python::list_projects),
        )
        .route(
            "/api/v1/orgs/{org}/registries/{reg}/python/projects/{project}",
            get(python::get_project),
        )
        .route(
            "/api/v1/orgs/{org}/registries/{reg}/python/projects/{project}/files/{file}",
            axum::routing::delete(python::delete_file),
        )
        .route(
            "/api/v1/orgs/{org}/registries/{reg}/python/projects/{project}/files/{file}/yank",
            post(python::yank_file).delete(python::yank_file),
        )
        .route(
            "/api/v1/orgs/{org}/registries/{reg}/python/projects/{project}/versions/{version}/yank",
            post(python::yank_version).delete(python::yank_version),
        )
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .with_state(app)
}

/// A JSON error: `{"error": {"code", "message"}}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    fn not_found(what: &str) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", what)
    }

    fn bad(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid", message)
    }

    fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "conflict", message)
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let (status, code) = match &e {
            Error::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Error::TooManyRequests { .. } => (StatusCode::TOO_MANY_REQUESTS, "too_many_requests"),
            Error::Denied(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Error::NameInvalid(_) | Error::BadRequest(_) => (StatusCode::BAD_REQUEST, "invalid"),
            Error::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Error::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Error::Storage(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            _ => (StatusCode::BAD_REQUEST, "invalid"),
        };
        let message = if status.is_server_error() {
            tracing::error!(error = %e, "management API failure");
            "internal error; the server log has the details under this request's id".into()
        } else {
            e.to_string()
        };
        ApiError::new(status, code, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (
            self.status,
            Json(json!({"error": {"code": self.code, "message": self.message}})),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"stowage\""),
            );
        }
        r
    }
}

type ApiResult = Result<Response, ApiError>;

fn ok(status: StatusCode, v: Value) -> ApiResult {
    Ok((status, Json(v)).into_response())
}

/// The authenticated caller.
struct Caller {
    principal: Principal,
    origin: crate::auth::Origin,
}

/// What authenticates a request, taken out of it (so no borrow of the body crosses an await).
fn sign_of(req: &Request) -> (axum::http::HeaderMap, crate::auth::Origin) {
    (req.headers().clone(), crate::origin(req))
}

async fn caller(
    app: &App,
    (headers, origin): (axum::http::HeaderMap, crate::auth::Origin),
) -> Result<Caller, ApiError> {
    let creds = app.auth.credentials(&headers, &origin).await?;
    let principal = match creds {
        Credentials::None => None,
        Credentials::Principal(p) => Some(p),
        Credentials::Bearer(c) => app.auth.principal_of(&c).await?,
    };
    match principal {
        Some(p) if p.subject != Subject::Anonymous => Ok(Caller {
            principal: p,
            origin,
        }),
        _ => Err(Error::Unauthorized(
            "sign in: Bearer token, API token or Basic credentials".into(),
        )
        .into()),
    }
}

impl Caller {
    /// The caller's role in `org`; `404` when none (the organization does not exist for them).
    fn role(&self, org: &str) -> Result<Role, ApiError> {
        self.principal
            .role_in(org)
            .ok_or_else(|| ApiError::not_found("no such organization"))
    }

    fn admin_of(&self, org: &str) -> Result<(), ApiError> {
        match self.role(org)? {
            Role::Admin => Ok(()),
            r => Err(ApiError::forbidden(format!(
                "this needs the admin role; yours is {r}"
            ))),
        }
    }

    fn user(&self) -> Result<&UserName, ApiError> {
        match &self.principal.subject {
            Subject::User(u) => Ok(u),
            _ => Err(ApiError::forbidden(
                "only users can do this, not API tokens",
            )),
        }
    }

    fn audit(&self, app: &App, org: &str, action: &str, target: String) {
        app.auth.audit.record(AuditEvent {
            id: 0,
            at: now_secs() as i64,
            org: Some(org.to_string()),
            actor: self.principal.subject.audit_name(),
            action: action.into(),
            target,
            source_ip: self.origin.ip.clone(),
            user_agent: self.origin.user_agent.clone(),
        });
    }
}

async fn json_body<T: serde::de::DeserializeOwned>(req: Request) -> Result<T, ApiError> {
    let bytes = axum::body::to_bytes(req.into_body(), 64 * 1024)
        .await
        .map_err(|_| ApiError::bad("request body larger than 64 KiB"))?;
    serde_json::from_slice(&bytes).map_err(|e| ApiError::bad(format!("invalid JSON body: {e}")))
}

fn org_name(s: &str) -> Result<OrgName, ApiError> {
    OrgName::parse(s).map_err(|e| ApiError::bad(e.to_string()))
}

fn registry_json(r: &RegistryInfo) -> Value {
    json!({
        "org": r.org, "name": r.name, "public_read": r.settings.public_read,
        "immutable_tags": r.settings.immutable_tags, "created_at": r.created_at,
    })
}

fn token_json(t: &ApiTokenRecord) -> Value {
    let mut v = serde_json::to_value(t).unwrap_or(Value::Null);
    v["active"] =
        json!(t.revoked_at.is_none() && t.expires_at.is_none_or(|e| e > now_secs() as i64));
    v
}

// ---- handlers ----------------------------------------------------------------------------

async fn openapi() -> Response {
    let mut r = OPENAPI.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

async fn whoami(State(app): State<Shared>, req: Request) -> ApiResult {
    let c = caller(&app, sign_of(&req)).await?;
    let orgs: Vec<Value> = c
        .principal
        .roles
        .iter()
        .map(|(o, r)| json!({"org": o, "role": r}))
        .collect();
    ok(
        StatusCode::OK,
        json!({"subject": c.principal.subject.audit_name(), "memberships": orgs}),
    )
}

async fn list_orgs(State(app): State<Shared>, req: Request) -> ApiResult {
    let c = caller(&app, sign_of(&req)).await?;
    let orgs: Vec<Value> = c
        .principal
        .roles
        .iter()
        .map(|(o, r)| json!({"name": o, "role": r}))
        .collect();
    ok(StatusCode::OK, json!({"orgs": orgs}))
}

#[derive(Deserialize)]
struct NewOrg {
    name: String,
}

async fn create_org(State(app): State<Shared>, req: Request) -> ApiResult {
    let c = caller(&app, sign_of(&req)).await?;
    let user = c.user()?.clone();
    let body: NewOrg = json_body(req).await?;
    let org = org_name(&body.name)?;
    if !app
        .auth
        .tenancy
        .create_org(&org, &user, now_secs() as i64)
        .await?
    {
        return Err(ApiError::conflict(format!(
            "organization {org} already exists"
        )));
    }
    c.audit(&app, org.as_str(), "org.create", org.to_string());
    ok(
        StatusCode::CREATED,
        json!({"name": org, "role": Role::Admin}),
    )
}

async fn get_org(State(app): State<Shared>, Path(org): Path<String>, req: Request) -> ApiResult {
    let c = caller(&app, sign_of(&req)).await?;
    let role = c.role(&org)?;
    let info = app
        .auth
        .tenancy
        .get_org(&org)
        .await?
        .ok_or_else(|| ApiError::not_found("no such organization"))?;
    ok(
        StatusCode::OK,
        json!({"name": info.name, "created_at": info.created_at, "role": role}),
    )
}

async fn list_registries(
    State(app): State<Shared>,
    Path(org): Path<String>,
    req: Request,
) -> ApiResult {
    let c = caller(&app, sign_of(&req)).await?;
    c.role(&org)?;
    let regs = app.auth.tenancy.list_registries(&org_name(&org)?).await?;
    let regs: Vec<Value> = regs
        .iter()
        .filter(|r| {
            c.principal
                .only_registry
                .as_ref()
                .is_none_or(|o| *o == r.name)
        })
        .map(registry_json)
        .collect();
    ok(StatusCode::OK, json!({"registries": regs}))
}

#[derive(Deserialize)]
struct NewRegistry {
    name: String,
    #[serde(default)]
    public_read: bool,
    #[serde(default)]
    immutable_tags: bool,
}

async fn create_registry(
    State(app): State<Shared>,
    Path(org): Path<String>,
    req: Request,
) -> ApiResult {
    let c = caller(&app, sign_of(&req)).await?;
    c.admin_of(&org)?;
    let body: NewRegistry = json_body(req).await?;
    let info = RegistryInfo {
        org: org_name(&org)?,
        name: RegistryName::parse(&body.name).map_err(|e| ApiError::bad(e.to_string()))?,
        settings: RegistrySettings {
            public_read: body.public_read,
            immutable_tags: body.immutable_tags,
        },
        created_at: now_secs() as i64,
    };
    if !app.auth.tenancy.create_registry(&info).await? {
        return Err(ApiError::conflict(format!(
            "registry {org}/{} already exists",
            info.name
        )));
    }
    c.audit(
        &app,
        &org,
        "registry.create",
        format!("{org}/{}", info.name),
    );
    ok(StatusCode::CREATED, registry_json(&info))
}

async fn find_registry(
    app: &App,
    c: &Caller,
    org: &str,
    reg: &str,
) -> Result<RegistryInfo, ApiError> {
    c.role(org)?;
    if c.principal
        .only_registry
        .as_ref()
        .is_some_and(|o| o.as_str() != reg)
    {
        return Err(ApiError::not_found("no such registry"));
    }
    app.auth
        .tenancy
        .get_registry(org, reg)
        .await?
        .ok_or_else(|| ApiError::not_found("no such registry"))
}

async fn get_registry(
    State(app): State<Shared>,
    Path((org, reg)): Path<(String, String)>,
    req: Request,
) -> ApiResult {
    let c = caller(&app, sign_of(&req)).await?;
    let info = find_registry(&app, &c, &org, &reg).await?;
    ok(StatusCode::OK, registry_json(&info))
}

#[derive(Deserialize)]
struct RegistryPatch {
    public_read: Option<bool>,
    immutable_tags: Option<bool>,
}

async fn update_registry(
    State(app): State<Shared>,
    Path((org, reg)): Path<(String, String)>,
    req: Request,
) -> ApiResult {
    let c = caller(&app, sign_of(&req)).await?;
    let mut info = find_registry(&app, &c, &org, &reg).await?;
    c.admin_of(&org)?;
    let patch: RegistryPatch = json_body(req).await?;
    if let Some(p) = patch.public_read {
        info.settings.public_read = p;
    }
    if let Some(i) = patch.immutable_tags {
        info.settings.immutable_tags = i;
    }
    app.auth
        .tenancy
        .update_registry(&info.org, &info.name, info.settings)
        .await?;
    c.audit(&app, &org, "registry.update", format!("{org}/{reg}"));
    ok(StatusCode::OK, registry_json(&info))
}

async fn delete_registry(
    State(app): State<Shared>,
    Path((org, reg)): Path<(String, String)>,
    req: Request,
) -> ApiResult {
    let c = caller(&app, sign_of(&req)).await?;
    let info = find_registry(&app, &c, &org, &reg).await?;
    c.admin_of(&org)?;
    app.auth
        .tenancy
        .delete_registry(&info.org, &info.name)
        .await?;
    c.audit(&app, &org, "registry.delete", format!("{org}/{reg}"));
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_repositories(
    State(app): State<Shared>,
    Path((org, reg)): Path<(String, String)>,
    req: Request,
) -> ApiResult {
    let c = caller(&app, sign_of(&req)).await?;
    find_registry(&app, &c, &org, &reg).await?;
    let repos = app
        .registry
        .catalog
        .list_repositories(&[format!("{org}/{reg}/")], None, 10_000)
        .await?;
    let names: Vec<&str> = repos.iter().map(|r| r.as_str()).collect();
    ok(StatusCode::OK, json!({"repositories": names}))
}

async fn list_artifacts(
    State(app): State<Shared>,
    Path((org, reg, repo)): Path<(String, String, String)>,
    req: Request,
) -> ApiResult {
    let c = caller(&app, sign_of(&req)).await?;
    find_registry(&app, &c, &org, &reg).await?;
    let name = RepoName::parse(&format!("{org}/{reg}/{repo}"))
        .map_err(|e| ApiError::bad(e.to_string()))?;
    if !app.registry.catalog.repo_exists(&name).await? {
        return Err(ApiError::not_found("no such repository"));
    }
    let arts = app.registry.catalog.list_artifacts(&name, 1000).await?;
    let arts: Vec<Value> = arts
        .iter()
        .map(|a| {
            json!({
                "digest": a.digest.to_string(), "media_type": a.media_type,
                "artifact_type": a.artifact_type, "size": a.size,
                "pushed_at": a.pushed_at, "tags": a.tags,
            })
        })
        .collect();
    ok(
        StatusCode::OK,
        json!({"repository": name.as_str(), "artifacts": arts}),
    )
}

async fn list_members(
    State(app): State<Shared>,
    Path(org): Path<String>,
    req: Request,
) -> ApiResult {
    let c = caller(&app, sign_of(&req)).await?;
    c.role(&org)?;
    let members: Vec<Value> = app
        .auth
        .tenancy
        .members(&org_name(&org)?)
        .await?
        .iter()
        .map(|m| json!({"user": m.user, "role": m.role}))
        .collect();
    ok(StatusCode::OK, json!({"members": members}))
}

#[derive(Deserialize)]
struct RoleBody {
    role: Role,
}

async fn set_member(
    State(app): State<Shared>,
    Path((org, user)): Path<(String, String)>,
    req: Request,
) -> ApiResult {
    let c = caller(&app, sign_of(&req)).await?;
    c.admin_of(&org)?;
    let body: RoleBody = json_body(req).await?;
    let org = org_name(&org)?;
    let user = UserName::parse(&user).map_err(|e| ApiError::bad(e.to_string()))?;
    if app.auth.users.get_user(&user).await?.is_none() {
        return Err(ApiError::not_found("no such user"));
    }
    if body.role != Role::Admin && last_admin(&app, &org, &user).await? {
        return Err(ApiError::conflict(
            "an organization keeps at least one admin",
        ));
    }
    app.auth.tenancy.set_member(&org, &user, body.role).await?;
    c.audit(
        &app,
        org.as_str(),
        "member.set",
        format!("{user}={}", body.role),
    );
    ok(StatusCode::OK, json!({"user": user, "role": body.role}))
}

/// Whether `user` is the only admin of `org`.
async fn last_admin(app: &App, org: &OrgName, user: &UserName) -> Result<bool, ApiError> {
    let members = app.auth.tenancy.members(org).await?;
    let admins: Vec<_> = members.iter().filter(|m| m.role == Role::Admin).collect();
    Ok(admins.len() == 1 && &admins[0].user == user)
}

async fn remove_member(
    State(app): State<Shared>,
    Path((org, user)): Path<(String, String)>,
    req: Request,
) -> ApiResult {
    let c = caller(&app, sign_of(&req)).await?;
    c.admin_of(&org)?;
    let org = org_name(&org)?;
    let user = UserName::parse(&user).map_err(|e| ApiError::bad(e.to_string()))?;
    if last_admin(&app, &org, &user).await? {
        return Err(ApiError::conflict(
            "an organization keeps at least one admin",
        ));
    }
    if !app.auth.tenancy.remove_member(&org, &user).await? {
        return Err(ApiError::not_found("no such member"));
    }
    c.audit(&app, org.as_str(), "member.remove", user.to_string());
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn invitation_json(i: &Invitation) -> Value {
    let expired = i.state == InvitationState::Pending && i.expires_at <= now_secs() as i64;
    json!({
        "id": i.id, "org": i.org, "email": i.email, "role": i.role, "invited_by": i.invited_by,
        "created_at": i.created_at, "expires_at": i.expires_at,
        "state": if expired { "expired" } else { i.state.as_str() },
    })
}

#[derive(Deserialize)]
struct NewInvitation {
    email: String,
    role: Role,
    #[serde(default)]
    expires_in_days: Option<u32>,
}

async fn list_invitations(
    State(app): State<Shared>,
    Path(org): Path<String>,
    req: Request,
) -> ApiResult {
    let c = caller(&app, sign_of(&req)).await?;
    c.admin_of(&org)?;
    let list: Vec<Value> = app
        .auth
        .tenancy
        .list_invitations(&org_name(&org)?)
        .await?
        .iter()
        .map(invitation_json)
        .collect();
    ok(StatusCode::OK, json!({"invitations": list}))
}

fn valid_email(e: &str) -> bool {
    let Some((local, domain)) = e.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && e.len() <= 254
        && !e
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>\"'".contains(c))
}

async fn create_invitation(
    State(app): State<Shared>,
    Path(org): Path<String>,
    req: Request,
) -> ApiResult {
    let c = caller(&app, sign_of(&req)).await?;
    c.admin_of(&org)?;
    let by = c.user()?.clone();
    let body: NewInvitation = json_body(req).await?;
    let email = body.email.trim().to_ascii_lowercase();
    if !valid_email(&email) {
        return Err(ApiError::bad("invalid email address"));
    }
    let now = now_secs() as i64;
    let inv = Invitation {
        id: crate::auth::random_id(),
        org: org_name(&org)?,
        email,
        role: body.role,
        invited_by: by,
        created_at: now,
        expires_at: now + i64::from(body.expires_in_days.unwrap_or(7).clamp(1, 90)) * 86_400,
        state: InvitationState::Pending,
    };
    app.auth.tenancy.create_invitation(&inv).await?;
    c.audit(
        &app,
        &org,
        "invitation.create",
        format!("{} as {}", inv.email, inv.role),
    );
    ok(StatusCode::CREATED, invitation_json(&inv))
}

async fn revoke_invitation(
    State(app): State<Shared>,
    Path((org, id)): Path<(String, String)>,
    req: Request,
) -> ApiResult {
    let c = caller(&app, sign_of(&req)).await?;
    c.admin_of(&org)?;
    let inv = app.auth.tenancy.get_invitation(&id).await?;
    if inv.as_ref().is_none_or(|i| i.org.as_str() != org) {
        return Err(ApiError::not_found("no such invitation"));
    }
    if !app
        .auth
        .tenancy
        .set_invitation_state(&id, InvitationState::Pending, InvitationState::Revoked)
        .await?
    {
        return Err(ApiError::conflict("the invitation is no longer pending"));
    }
    c.audit(&app, &org, "invitation.revoke", id);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn my_email(app: &App, c: &Caller) -> Result<String, ApiError> {
    let user = c.user()?;
    app.auth
        .users
        .get_user(user)
        .await?
        .and_then(|u| u.email)
        .map(|e| e.to_ascii_lowercase())
        .ok_or_else(|| ApiError::not_found("your account has no email address"))
}

async fn my_invitations(State(app): State<Shared>, req: Request) -> ApiResult {
    let c = caller(&app, sign_of(&req)).await?;
    let email = my_email(&app, &c).await?;
    let now = now_secs() as i64;
    let list: Vec<Value> = app
        .auth
        .tenancy
        .invitations_for(&email)
        .await?
        .iter()
        .filter(|i| i.expires_at > now)
        .map(invitation_json)
        .collect();
    ok(StatusCode::OK, json!({"invitations": list}))
}

async fn answer_invitation(app: &App, id: &str, req: Request, accept: bool) -> ApiResult {
    let c = caller(app, sign_of(&req)).await?;
    let email = my_email(app, &c).await?;
    let inv = app
        .auth
        .tenancy
        .get_invitation(id)
        .await?
        .filter(|i| i.email == email)
        .ok_or_else(|| ApiError::not_found("no such invitation"))?;
    if inv.expires_at <= now_secs() as i64 {
        return Err(ApiError::conflict("the invitation has expired"));
    }
    let user = c.user()?.clone();
    let to = if accept {
        // The membership first, then the state (stowage_core::invitations): a failure between
        // the two leaves the invitation pending, and accepting again finishes the job.
        use stowage_core::invitations::{Acceptance, accept_invitation};
        match accept_invitation(&*app.auth.tenancy, &inv, &user, now_secs() as i64).await? {
            Acceptance::Accepted { .. } => InvitationState::Accepted,
            Acceptance::Expired => return Err(ApiError::conflict("the invitation has expired")),
            Acceptance::NotPending(_) => {
                return Err(ApiError::conflict("the invitation is no longer pending"));
            }
        }
    } else {
        if !app
            .auth
            .tenancy
            .set_invitation_state(id, InvitationState::Pending, InvitationState::Declined)
            .await?
        {
            return Err(ApiError::conflict("the invitation is no longer pending"));
        }
        InvitationState::Declined
    };
    let action = if accept {
        "invitation.accept"
    } else {
        "invitation.decline"
    };
    c.audit(app, inv.org.as_str(), action, id.to_string());
    let mut v = invitation_json(&inv);
    v["state"] = json!(to.as_str());
    ok(StatusCode::OK, v)
}

async fn accept_invitation(
    State(app): State<Shared>,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult {
    answer_invitation(&app, &id, req, true).await
}

async fn decline_invitation(
    State(app): State<Shared>,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult {
    answer_invitation(&app, &id, req, false).await
}

async fn list_tokens(
    State(app): State<Shared>,
    Path(org): Path<String>,
    req: Request,
) -> ApiResult {
    let c = caller(&app, sign_of(&req)).await?;
    c.admin_of(&org)?;
    let list: Vec<Value> = app
        .auth
        .tokens
        .list_tokens(&org_name(&org)?)
        .await?
        .iter()
        .map(token_json)
        .collect();
    ok(StatusCode::OK, json!({"tokens": list}))
}

#[derive(Deserialize)]
struct NewToken {
    name: String,
    role: Role,
    #[serde(default)]
    registry: Option<String>,
    #[serde(default)]
    expires_in_days: Option<u32>,
}

async fn create_token(
    State(app): State<Shared>,
    Path(org): Path<String>,
    req: Request,
) -> ApiResult {
    let c = caller(&app, sign_of(&req)).await?;
    c.admin_of(&org)?;
    let by = c.user()?.clone();
    let body: NewToken = json_body(req).await?;
    if body.name.trim().is_empty() || body.name.len() > 100 {
        return Err(ApiError::bad("a token name has 1 to 100 characters"));
    }
    let registry = body
        .registry
        .map(|r| RegistryName::parse(&r))
        .transpose()
        .map_err(|e| ApiError::bad(e.to_string()))?;
    if let Some(r) = &registry
        && app
            .auth
            .tenancy
            .get_registry(&org, r.as_str())
            .await?
            .is_none()
    {
        return Err(ApiError::not_found("no such registry"));
    }
    let now = now_secs() as i64;
    let (secret, record) = new_api_token(ApiTokenRecord {
        id: String::new(),
        name: body.name,
        org: org_name(&org)?,
        role: body.role,
        registry,
        created_by: by,
        created_at: now,
        expires_at: body.expires_in_days.map(|d| now + i64::from(d) * 86_400),
        last_used_at: None,
        revoked_at: None,
        secret_sha256: String::new(),
    });
    app.auth.tokens.create_token(&record).await?;
    c.audit(
        &app,
        &org,
        "token.create",
        format!("{} ({})", record.id, record.role),
    );
    let mut v = token_json(&record);
    v["token"] = json!(secret);
    ok(StatusCode::CREATED, v)
}

async fn revoke_token(
    State(app): State<Shared>,
    Path((org, id)): Path<(String, String)>,
    req: Request,
) -> ApiResult {
    let c = caller(&app, sign_of(&req)).await?;
    c.admin_of(&org)?;
    if !app
        .auth
        .tokens
        .revoke_token(&org_name(&org)?, &id, now_secs() as i64)
        .await?
    {
        return Err(ApiError::not_found("no such active token"));
    }
    c.audit(&app, &org, "token.revoke", id);
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
struct AuditQuery {
    actor: Option<String>,
    action: Option<String>,
    before: Option<i64>,
    since: Option<i64>,
    limit: Option<usize>,
}

async fn audit_log(
    State(app): State<Shared>,
    Path(org): Path<String>,
    Query(q): Query<AuditQuery>,
    req: Request,
) -> ApiResult {
    let c = caller(&app, sign_of(&req)).await?;
    c.admin_of(&org)?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let filter = AuditFilter {
        actor: q.actor,
        action: q.action,
        before: q.before,
        since: q.since,
    };
    let events = app.auth.audit_log.list_events(&org, &filter, limit).await?;
    let next = (events.len() == limit)
        .then(|| events.last().map(|e| e.id))
        .flatten();
    ok(
        StatusCode::OK,
        json!({"events": events, "next_before": next}),
    )
}
