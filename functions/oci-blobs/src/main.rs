//! `oci-blobs`: blob GET (a `307` to a presigned S3 URL: a Lambda answer carries at most
//! 6 MB), HEAD (from metadata), DELETE, and upload sessions in chunks that fit a Lambda
//! request (a layer pushed in one request goes to the streaming upload service,
//! `stowage serve --backend aws`). Verifies registry tokens; never holds a signing key.

use stowage_fleet::{FleetConfig, KeyRole};
use stowage_http::oci::{OciRoutes, router_for};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    stowage_fleet::init_lambda_logging();
    let fleet = stowage_fleet::build(FleetConfig::from_env(KeyRole::Verify)?).await?;
    let router = router_for(fleet.app.clone(), OciRoutes::Blobs);
    lambda_http::run(stowage_fleet::for_lambda(router, &fleet)).await
}
