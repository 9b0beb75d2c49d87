//! `auth`: the registry token endpoint `/v2/token` (the only function that holds the token
//! signing keys) and the management API under `/api/v1` (organizations, registries, members,
//! invitations, API tokens, repositories, artifacts, audit log, OpenAPI document).

use stowage_fleet::{FleetConfig, KeyRole};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    stowage_fleet::init_lambda_logging();
    let fleet = stowage_fleet::build(FleetConfig::from_env(KeyRole::Sign)?).await?;
    let router = stowage_http::token::router(fleet.app.clone())
        .merge(stowage_http::api::router(fleet.app.clone()));
    lambda_http::run(stowage_fleet::for_lambda(router, &fleet)).await
}
