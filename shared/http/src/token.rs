//! The token endpoint: `GET /v2/token` (Basic credentials in, as docker, oras, crane, helm,
//! skopeo and regctl send them) and `POST /v2/token` (the OAuth2 password grant some clients
//! prefer). Answers `{"token", "access_token", "expires_in", "issued_at"}`.

use crate::App;
use crate::auth::basic_credentials;
use crate::error::OciError;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use std::sync::Arc;
use stowage_core::Error;
use stowage_core::auth::{Principal, parse_scopes};

pub fn router(app: Arc<App>) -> Router {
    Router::new().route("/v2/token", any(token)).with_state(app)
}

fn form(q: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(q.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

async fn token(State(app): State<Arc<App>>, req: Request) -> Response {
    match issue(&app, req).await {
        Ok(r) => r,
        Err(e) => {
            let mut r = OciError::from(e).into_response();
            if r.status() == StatusCode::UNAUTHORIZED {
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"stowage\""),
                );
            }
            r
        }
    }
}

async fn issue(app: &App, req: Request) -> Result<Response, Error> {
    let origin = crate::origin(&req);
    let method = req.method().clone();
    let headers = req.headers().clone();
    let mut params = form(req.uri().query().unwrap_or(""));
    let mut credentials = basic_credentials(&headers);
    if method == Method::POST {
        let body = axum::body::to_bytes(req.into_body(), 64 * 1024)
            .await
            .map_err(|_| Error::BadRequest("token request body too large".into()))?;
        let body = form(std::str::from_utf8(&body).unwrap_or(""));
        let get = |k: &str| body.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        match get("grant_type").as_deref() {
            Some("password") => {
                if let (Some(u), Some(p)) = (get("username"), get("password")) {
                    credentials = Some((u, p));
                }
            }
            Some(other) => {
                return Err(Error::BadRequest(format!(
                    "unsupported grant_type {other:?}: use password, or GET with Basic credentials"
                )));
            }
            None => {}
        }
        params.extend(body);
    } else if method != Method::GET {
        return Err(Error::Unsupported(format!(
            "method {method} is not supported on /v2/token"
        )));
    }
    let principal = match credentials {
        Some((user, password)) => app.auth.sign_in(&user, &password, &origin, true).await?,
        None => Principal::anonymous(),
    };
    let scopes = parse_scopes(
        params
            .iter()
            .filter(|(k, _)| k == "scope")
            .map(|(_, v)| v.as_str()),
    );
    let (token, claims) = app.auth.issue(&principal, &scopes).await?;
    let issued_at = rfc3339(claims.iat);
    let body = serde_json::json!({
        "token": token,
        "access_token": token,
        "expires_in": claims.exp - claims.iat,
        "issued_at": issued_at,
    });
    let mut r = (StatusCode::OK, body.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

/// RFC 3339 UTC time of a Unix timestamp.
pub fn rfc3339(unix: u64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix))
        .to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(1_796_340_000), "2026-12-03T23:20:00Z");
    }
}
