//! The Cognito identity provider: user passwords are checked with `InitiateAuth`
//! (`USER_PASSWORD_AUTH`, with `SECRET_HASH` when the app client has a secret), and Cognito-issued
//! JWTs (ID or access tokens) are verified against the user pool's JWKS (RS256, issuer and client
//! checked; keys cached for an hour, refetched at most once a minute for an unknown `kid`).
//!
//! It must never log a password, a token or the client secret.

use async_trait::async_trait;
use aws_sdk_cognitoidentityprovider::Client;
use aws_sdk_cognitoidentityprovider::operation::initiate_auth::InitiateAuthError;
use aws_sdk_cognitoidentityprovider::types::AuthFlowType;
use base64::Engine;
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use stowage_core::ports::{IdentityProvider, TokenVerifier};
use stowage_core::tenancy::UserName;
use stowage_core::{Error, Result};
use tokio::sync::RwLock;

/// Where the user pool is and how to talk to it.
#[derive(Clone, Debug)]
pub struct CognitoConfig {
    pub region: String,
    /// An endpoint override (an emulator); `None` for AWS itself.
    pub endpoint_url: Option<String>,
    pub user_pool_id: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    /// Default: `<issuer>/.well-known/jwks.json`.
    pub jwks_url: Option<String>,
    /// Default: `https://cognito-idp.<region>.amazonaws.com/<user pool id>`.
    pub issuer: Option<String>,
}

impl CognitoConfig {
    pub fn issuer(&self) -> String {
        self.issuer.clone().unwrap_or_else(|| {
            format!(
                "https://cognito-idp.{}.amazonaws.com/{}",
                self.region, self.user_pool_id
            )
        })
    }

    pub fn jwks_url(&self) -> String {
        self.jwks_url
            .clone()
            .unwrap_or_else(|| format!("{}/.well-known/jwks.json", self.issuer()))
    }
}

struct Jwks {
    fetched: Instant,
    keys: HashMap<String, DecodingKey>,
}

/// Users of a Cognito user pool.
pub struct CognitoIdentity {
    client: Client,
    config: CognitoConfig,
    http: reqwest::Client,
    jwks: RwLock<Option<Jwks>>,
}

const JWKS_TTL: Duration = Duration::from_secs(3600);
const JWKS_MIN_REFRESH: Duration = Duration::from_secs(60);

impl CognitoIdentity {
    /// Builds the SDK client once (credentials and region from the environment, as the SDK does,
    /// with the configured region and endpoint taking precedence).
    pub async fn new(config: CognitoConfig) -> CognitoIdentity {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(config.region.clone()));
        if let Some(ep) = &config.endpoint_url {
            loader = loader.endpoint_url(ep);
        }
        let sdk = loader.load().await;
        CognitoIdentity {
            client: Client::from_conf(
                aws_sdk_cognitoidentityprovider::config::Builder::from(&sdk)
                    .interceptor(crate::metrics::CountCalls)
                    .build(),
            ),
            config,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
            jwks: RwLock::new(None),
        }
    }

    /// `Base64(HMAC-SHA256(client secret, user name + client id))`.
    pub fn secret_hash(secret: &str, user: &str, client_id: &str) -> String {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
            .expect("HMAC takes keys of any length");
        mac.update(user.as_bytes());
        mac.update(client_id.as_bytes());
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    }

    async fn key(&self, kid: &str) -> Result<Option<DecodingKey>> {
        {
            let cache = self.jwks.read().await;
            if let Some(j) = cache.as_ref() {
                let fresh = j.fetched.elapsed() < JWKS_TTL;
                if let Some(k) = j.keys.get(kid)
                    && fresh
                {
                    return Ok(Some(k.clone()));
                }
                if fresh && j.fetched.elapsed() < JWKS_MIN_REFRESH {
                    return Ok(None);
                }
            }
        }
        let mut cache = self.jwks.write().await;
        let keys = self.fetch_jwks().await?;
        let found = keys.get(kid).cloned();
        *cache = Some(Jwks {
            fetched: Instant::now(),
            keys,
        });
        Ok(found)
    }

    async fn fetch_jwks(&self) -> Result<HashMap<String, DecodingKey>> {
        #[derive(Deserialize)]
        struct Jwk {
            kid: String,
            kty: String,
            n: Option<String>,
            e: Option<String>,
        }
        #[derive(Deserialize)]
        struct Set {
            keys: Vec<Jwk>,
        }
        let url = self.config.jwks_url();
        let set: Set = self
            .http
            .get(&url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| Error::Storage(format!("fetching the Cognito JWKS from {url}: {e}")))?
            .json()
            .await
            .map_err(|e| Error::Storage(format!("reading the Cognito JWKS: {e}")))?;
        Ok(set
            .keys
            .into_iter()
            .filter(|k| k.kty == "RSA")
            .filter_map(|k| {
                let key =
                    DecodingKey::from_rsa_components(k.n.as_deref()?, k.e.as_deref()?).ok()?;
                Some((k.kid, key))
            })
            .collect())
    }
}

#[async_trait]
impl IdentityProvider for CognitoIdentity {
    async fn verify_password(&self, user: &str, password: &str) -> Result<Option<UserName>> {
        let mut req = self
            .client
            .initiate_auth()
            .auth_flow(AuthFlowType::UserPasswordAuth)
            .client_id(&self.config.client_id)
            .auth_parameters("USERNAME", user)
            .auth_parameters("PASSWORD", password);
        if let Some(secret) = &self.config.client_secret {
            req = req.auth_parameters(
                "SECRET_HASH",
                Self::secret_hash(secret, user, &self.config.client_id),
            );
        }
        match req.send().await {
            Ok(out) if out.authentication_result().is_some() => Ok(UserName::parse(user).ok()),
            Ok(out) => {
                tracing::warn!(
                    challenge = ?out.challenge_name(),
                    "Cognito asked for a challenge; registry clients cannot answer it"
                );
                Ok(None)
            }
            Err(e) => match e.into_service_error() {
                InitiateAuthError::NotAuthorizedException(_)
                | InitiateAuthError::UserNotFoundException(_)
                | InitiateAuthError::UserNotConfirmedException(_)
                | InitiateAuthError::PasswordResetRequiredException(_) => Ok(None),
                other => Err(Error::Storage(format!("Cognito InitiateAuth: {other}"))),
            },
        }
    }
}

#[async_trait]
impl TokenVerifier for CognitoIdentity {
    async fn verify_token(&self, token: &str) -> Result<Option<UserName>> {
        let Ok(header) = jsonwebtoken::decode_header(token) else {
            return Ok(None);
        };
        if header.alg != Algorithm::RS256 {
            return Ok(None);
        }
        let Some(kid) = header.kid else {
            return Ok(None);
        };
        let Some(key) = self.key(&kid).await? else {
            return Ok(None);
        };
        let mut v = Validation::new(Algorithm::RS256);
        v.set_issuer(&[self.config.issuer()]);
        v.validate_aud = false; // checked below: ID tokens carry `aud`, access tokens `client_id`
        v.leeway = 30;
        let Ok(data) = jsonwebtoken::decode::<serde_json::Value>(token, &key, &v) else {
            return Ok(None);
        };
        let c = data.claims;
        let client_ok = c["aud"] == self.config.client_id.as_str()
            || c["client_id"] == self.config.client_id.as_str();
        let use_ok = matches!(c["token_use"].as_str(), Some("id") | Some("access"));
        if !client_ok || !use_ok {
            return Ok(None);
        }
        let name = c["cognito:username"]
            .as_str()
            .or_else(|| c["username"].as_str())
            .and_then(|u| UserName::parse(u).ok());
        Ok(name)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn secret_hash_matches_the_documented_construction() {
        // HMAC-SHA256("secret", "alice" + "client") in base64, computed independently.
        assert_eq!(
            super::CognitoIdentity::secret_hash("secret", "alice", "client"),
            "RTsve+FQ659UKyESgvLg9GYmZEL+QjzQsW/OjL77/b0="
        );
    }
}
