//! Stowage's HTTP surface: axum routers built over the domain's [`Registry`] and [`Auth`],
//! shared by every shell (`stowage serve` now, the Lambda functions later).
//!
//! - [`oci`]: the OCI Distribution API under `/v2/`, every route behind [`auth`].
//! - [`token`]: the registry token endpoint `/v2/token`.
//! - [`api`]: the management API under `/api/v1` (JSON, OpenAPI-described).
//! - [`pypi`]: the Python package API of each registry (upload, Simple API, files).
//! - [`auth`]: credentials, token signing and verification, sign-in throttling.
//! - [`audit`]: the batched audit sink.
//! - [`error`]: the one table from domain errors to OCI error codes and statuses.
//! - [`log`]: one log line per request (method, path, status, bytes, duration, request id).
//!
//! A handler never knows which shell or which storage backend it runs on; it must never touch
//! storage except through the [`Registry`] and the ports [`Auth`] holds.

pub mod api;
pub mod audit;
pub mod auth;
pub mod error;
pub mod log;
pub mod oci;
pub mod pypi;
pub(crate) mod ranges;
pub mod token;

pub use auth::{Auth, AuthConfig, KeyMaterial, TokenKeys};

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use std::net::SocketAddr;
use std::sync::Arc;
use stowage_core::python::service::PythonPackages;
use stowage_core::registry::Registry;

/// What every router is built over.
pub struct App {
    pub registry: Registry,
    pub auth: Auth,
    /// The Python package operations (over the same registry and the Python index).
    pub python: PythonPackages,
    pub python_settings: pypi::PythonSettings,
}

/// Every route Stowage serves.
pub fn router(app: App) -> Router {
    router_shared(Arc::new(app))
}

/// Every route Stowage serves, over an App shared with other routers.
pub fn router_shared(app: Arc<App>) -> Router {
    oci::router(app.clone())
        .merge(token::router(app.clone()))
        .merge(pypi::router(app.clone()))
        .merge(api::router(app))
        .layer(axum::middleware::from_fn(log::log_requests))
}

/// Source address and user agent of a request (the address is the TCP peer; proxies' headers
/// are not trusted).
pub fn origin(req: &Request) -> auth::Origin {
    auth::Origin {
        ip: req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string()),
        user_agent: req
            .headers()
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(256).collect()),
    }
}
