//! One AWS SDK configuration per process, built once in `main` and shared by every client.
//!
//! An endpoint override points every service at an emulator (moto) on loopback; without one
//! the SDK's own resolution applies (region from the config, credentials from the environment
//! or the Lambda execution role).

use aws_config::{BehaviorVersion, Region, SdkConfig};

/// Where the AWS services are.
#[derive(Clone, Debug, Default)]
pub struct AwsConfig {
    /// The region (`AWS_REGION` in Lambda).
    pub region: Option<String>,
    /// One endpoint for every service (an emulator); `None` for AWS itself.
    pub endpoint_url: Option<String>,
    /// A fixed access key and secret (emulators and tests); `None` uses the default chain
    /// (environment, Lambda execution role, profile).
    pub static_credentials: Option<(String, String)>,
}

impl AwsConfig {
    /// Loads the SDK configuration: region and endpoint from here, credentials from the
    /// default provider chain.
    pub async fn load(&self) -> SdkConfig {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(region) = &self.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(endpoint) = &self.endpoint_url {
            loader = loader.endpoint_url(endpoint.clone());
        }
        if let Some((key, secret)) = &self.static_credentials {
            loader = loader.credentials_provider(aws_credential_types::Credentials::new(
                key.clone(),
                secret.clone(),
                None,
                None,
                "stowage-static",
            ));
        }
        loader.load().await
    }
}
