//! Stowage's HTTP surface: axum routers built over the domain's [`Registry`], shared by every
//! shell (`stowage serve` now, the Lambda functions later).
//!
//! - [`oci`]: the OCI Distribution API under `/v2/`.
//! - [`error`]: the one table from domain errors to OCI error codes and statuses.
//! - [`log`]: one log line per request (method, path, status, bytes, duration, request id).
//!
//! A handler never knows which shell or which storage backend it runs on; it must never touch
//! storage except through the [`Registry`].

pub mod error;
pub mod log;
pub mod oci;

use axum::Router;
use std::sync::Arc;
use stowage_core::registry::Registry;

/// Every route Stowage serves, over one registry.
pub fn router(registry: Registry) -> Router {
    oci::router(Arc::new(registry)).layer(axum::middleware::from_fn(log::log_requests))
}
