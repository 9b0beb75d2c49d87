//! `oci-manifests`: the distribution API's `/v2/` version check, catalog, manifests, tags and
//! referrers, behind API Gateway. Blobs and uploads go to `oci-blobs` (the front routes
//! `/v2/*/blobs/*` there). Verifies registry tokens; never holds a signing key.

use stowage_fleet::{FleetConfig, KeyRole};
use stowage_http::oci::{OciRoutes, router_for};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    stowage_fleet::init_lambda_logging();
    let fleet = stowage_fleet::build(FleetConfig::from_env(KeyRole::Verify)?).await?;
    let router = router_for(fleet.app.clone(), OciRoutes::Manifests);
    lambda_http::run(stowage_fleet::for_lambda(router, &fleet)).await
}
