//! `pypi`: the Python package API of every registry, `/api/v1/<org>/<registry>/python/…`
//! (twine and uv uploads, the Simple API, files). Basic credentials are checked against
//! Cognito or the API tokens; registry tokens are verified, never signed.

use stowage_fleet::{FleetConfig, KeyRole};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    stowage_fleet::init_lambda_logging();
    let fleet = stowage_fleet::build(FleetConfig::from_env(KeyRole::Verify)?).await?;
    let router = stowage_http::pypi::router(fleet.app.clone());
    lambda_http::run(stowage_fleet::for_lambda(router, &fleet)).await
}
