//! The Python index of a registry in the management API: projects and their files (members),
//! yanking and un-yanking a file or a whole version (writers), deleting a file (admins).
//! Every change is recorded in the audit log.

use super::{ApiError, ApiResult, Caller, Shared, caller, find_registry, ok, sign_of};
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};
use stowage_core::ports::{PythonFile, PythonProject};
use stowage_core::python::NormalizedName;
use stowage_core::python::service::{YankTarget, project_repo, upload_time};
use stowage_core::tenancy::{RegistryInfo, Role};

fn project_json(p: &PythonProject) -> Value {
    json!({
        "name": p.name, "display_name": p.display_name, "files": p.files,
        "last_upload": upload_time(p.last_upload_ms),
    })
}

fn file_json(f: &PythonFile) -> Value {
    json!({
        "filename": f.filename, "version": f.version, "filetype": f.filetype, "size": f.size,
        "sha256": f.digest.hex(), "manifest": f.manifest.to_string(),
        "requires_python": f.requires_python, "uploaded_at": upload_time(f.uploaded_at_ms),
        "uploaded_by": f.uploaded_by, "yanked": f.yanked.is_some(),
        "yanked_reason": f.yanked.as_deref().filter(|r| !r.is_empty()),
    })
}

/// Any spelling of a project name; the normalized one is what is stored.
fn project_name(s: &str) -> Result<NormalizedName, ApiError> {
    NormalizedName::from_raw(s).map_err(|_| ApiError::not_found("no such project"))
}

/// The caller's role in the registry's organization, at least `min`.
async fn registry_with_role(
    app: &Shared,
    c: &Caller,
    org: &str,
    reg: &str,
    min: Role,
) -> Result<RegistryInfo, ApiError> {
    let info = find_registry(app, c, org, reg).await?;
    let role = c.role(org)?;
    if role < min {
        return Err(ApiError::forbidden(format!(
            "this needs the {min} role; yours is {role}"
        )));
    }
    Ok(info)
}

pub(super) async fn list_projects(
    State(app): State<Shared>,
    Path((org, reg)): Path<(String, String)>,
    req: Request,
) -> ApiResult {
    let c = caller(&app, sign_of(&req)).await?;
    let info = registry_with_role(&app, &c, &org, &reg, Role::Viewer).await?;
    let projects = app.python.projects(&info.org, &info.name).await?;
    let list: Vec<Value> = projects.iter().map(project_json).collect();
    ok(StatusCode::OK, json!({"projects": list}))
}

pub(super) async fn get_project(
    State(app): State<Shared>,
    Path((org, reg, project)): Path<(String, String, String)>,
    req: Request,
) -> ApiResult {
    let c = caller(&app, sign_of(&req)).await?;
    let info = registry_with_role(&app, &c, &org, &reg, Role::Viewer).await?;
    let name = project_name(&project)?;
    let files = app.python.files(&info.org, &info.name, &name).await?;
    let repo = project_repo(&info.org, &info.name, &name)?;
    ok(
        StatusCode::OK,
        json!({
            "project": name, "repository": repo.as_str(),
            "files": files.iter().map(file_json).collect::<Vec<_>>(),
        }),
    )
}

#[derive(Deserialize, Default)]
struct YankBody {
    #[serde(default)]
    reason: Option<String>,
}

/// The optional JSON body of a yank (`{"reason": …}`); an empty body is no reason.
async fn yank_body(req: Request) -> Result<YankBody, ApiError> {
    let bytes = axum::body::to_bytes(req.into_body(), 64 * 1024)
        .await
        .map_err(|_| ApiError::bad("request body larger than 64 KiB"))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(YankBody::default());
    }
    let body: YankBody = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad(format!("invalid JSON body: {e}")))?;
    if body
        .reason
        .as_ref()
        .is_some_and(|r| r.chars().count() > 1000)
    {
        return Err(ApiError::bad("a yank reason has at most 1000 characters"));
    }
    Ok(body)
}

async fn yank(
    app: Shared,
    org: String,
    reg: String,
    project: String,
    target: YankTarget<'_>,
    req: Request,
    set: bool,
) -> ApiResult {
    let c = caller(&app, sign_of(&req)).await?;
    let info = registry_with_role(&app, &c, &org, &reg, Role::Writer).await?;
    let name = project_name(&project)?;
    let reason = if set {
        Some(yank_body(req).await?.reason.unwrap_or_default())
    } else {
        None
    };
    let changed = app
        .python
        .set_yanked(&info.org, &info.name, &name, target, reason.as_deref())
        .await?;
    let what = match target {
        YankTarget::File(f) => f.to_string(),
        YankTarget::Version(v) => format!("version {v}"),
    };
    c.audit(
        &app,
        &org,
        if set { "python.yank" } else { "python.unyank" },
        format!("{org}/{reg}/python/{name} {what}"),
    );
    ok(
        StatusCode::OK,
        json!({"project": name, "yanked": set, "files": changed}),
    )
}

pub(super) async fn yank_file(
    State(app): State<Shared>,
    Path((org, reg, project, file)): Path<(String, String, String, String)>,
    req: Request,
) -> ApiResult {
    let set = req.method() == axum::http::Method::POST;
    yank(app, org, reg, project, YankTarget::File(&file), req, set).await
}

pub(super) async fn yank_version(
    State(app): State<Shared>,
    Path((org, reg, project, version)): Path<(String, String, String, String)>,
    req: Request,
) -> ApiResult {
    let set = req.method() == axum::http::Method::POST;
    yank(
        app,
        org,
        reg,
        project,
        YankTarget::Version(&version),
        req,
        set,
    )
    .await
}

pub(super) async fn delete_file(
    State(app): State<Shared>,
    Path((org, reg, project, file)): Path<(String, String, String, String)>,
    req: Request,
) -> ApiResult {
    let c = caller(&app, sign_of(&req)).await?;
    let info = registry_with_role(&app, &c, &org, &reg, Role::Admin).await?;
    let name = project_name(&project)?;
    app.python
        .delete_file(&info.org, &info.name, &name, &file)
        .await?;
    c.audit(
        &app,
        &org,
        "python.delete",
        format!("{org}/{reg}/python/{name}/{file}"),
    );
    Ok(StatusCode::NO_CONTENT.into_response())
}
