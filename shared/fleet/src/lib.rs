//! The AWS fleet's composition root: what every Lambda function's `main` and
//! `stowage serve --backend aws` share.
//!
//! [`FleetConfig::from_env`] reads the configuration once (environment variables, listed on
//! the type); [`build`] makes the SDK clients and adapters once per process (S3 blobs,
//! DynamoDB metadata, Cognito identity) and the [`App`] the routers are built over;
//! [`for_lambda`] wraps a router for the Lambda runtime (source address from the request
//! context, one log line per request, audit events written before the answer).
//!
//! This crate decides no protocol or access question and holds no handler: a function's
//! `main` is configuration, one router, and `lambda_http::run`.

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::middleware::Next;
use axum::response::Response;
use ed25519_dalek::pkcs8::DecodePrivateKey;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use stowage_aws::cognito::{CognitoConfig, CognitoIdentity};
use stowage_aws::s3_blobs::{S3BlobSettings, s3_client};
use stowage_aws::{AwsConfig, DynamoStore, S3BlobStore};
use stowage_core::ports::{IdentityProvider, TokenVerifier};
use stowage_core::python::service::PythonPackages;
use stowage_core::registry::{Policy, Registry};
use stowage_core::tenancy::UserName;
use stowage_http::audit::AuditSink;
use stowage_http::auth::AuthStores;
use stowage_http::{App, Auth, AuthConfig, KeyMaterial, TokenKeys};

/// Whether this process signs registry tokens (the token endpoint) or only verifies them.
/// A process that only verifies never reads the private keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyRole {
    Sign,
    Verify,
}

/// The token keys a process holds.
#[derive(Clone)]
pub enum Keys {
    /// Ed25519 private keys (PKCS#8 PEM), oldest first; the newest signs.
    Signing(Vec<String>),
    /// Raw Ed25519 public keys.
    Verifying(Vec<[u8; 32]>),
}

/// Where blobs and metadata are (the first rows of [`FleetConfig`]'s table).
#[derive(Clone)]
pub struct StorageConfig {
    pub aws: AwsConfig,
    pub table: String,
    pub bucket: String,
    pub s3_path_style: bool,
    pub presign_ttl: Option<Duration>,
}

/// Region and endpoint from the environment (`AWS_REGION`, `STOWAGE_AWS_ENDPOINT`);
/// credentials from the default chain.
pub fn aws_from_env() -> AwsConfig {
    AwsConfig {
        region: var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")),
        endpoint_url: var("STOWAGE_AWS_ENDPOINT"),
        static_credentials: None,
    }
}

/// Unix seconds now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl StorageConfig {
    pub fn from_env() -> Result<StorageConfig, String> {
        let presign = number("STOWAGE_PRESIGN_TTL", 300)?;
        Ok(StorageConfig {
            aws: aws_from_env(),
            table: required("STOWAGE_TABLE")?,
            bucket: required("STOWAGE_BUCKET")?,
            s3_path_style: flag("STOWAGE_S3_PATH_STYLE"),
            presign_ttl: (presign > 0).then(|| Duration::from_secs(presign)),
        })
    }
}

/// The storage adapters of one process.
pub struct Storage {
    pub store: Arc<DynamoStore>,
    pub blobs: Arc<S3BlobStore>,
}

/// Builds the SDK clients and the storage adapters (no AWS call is made).
pub async fn build_storage(config: &StorageConfig) -> Storage {
    let sdk = config.aws.load().await;
    let store = Arc::new(DynamoStore::new(
        stowage_aws::dynamo::dynamodb_client(&sdk),
        config.table.clone(),
    ));
    let mut settings = S3BlobSettings::new(config.bucket.clone());
    settings.presign_ttl = config.presign_ttl;
    let blobs = Arc::new(S3BlobStore::new(
        s3_client(&sdk, config.s3_path_style),
        settings,
        store.clone(),
    ));
    Storage { store, blobs }
}

/// The domain events queue (`STOWAGE_EVENTS_QUEUE_URL`).
pub async fn events_from_env(aws: &AwsConfig) -> Result<stowage_aws::SqsEvents, String> {
    let queue = required("STOWAGE_EVENTS_QUEUE_URL")?;
    Ok(stowage_aws::SqsEvents::new(&aws.load().await, queue))
}

/// Everything the fleet needs, read once.
///
/// | variable | meaning |
/// |---|---|
/// | `AWS_REGION` | region (set by Lambda) |
/// | `STOWAGE_AWS_ENDPOINT` | one endpoint for every AWS service (an emulator) |
/// | `STOWAGE_TABLE` | the DynamoDB table |
/// | `STOWAGE_BUCKET` | the S3 bucket of blobs |
/// | `STOWAGE_S3_PATH_STYLE` | `1`: path-style S3 URLs (emulators) |
/// | `STOWAGE_PRESIGN_TTL` | seconds a presigned blob URL lives (default 300); `0` streams blobs through the function |
/// | `STOWAGE_PUBLIC_URL` | the URL clients reach the registry at (token realm) |
/// | `STOWAGE_TOKEN_TTL` | registry token lifetime, seconds (default 300) |
/// | `STOWAGE_TOKEN_SIGNING_KEYS` | PEM Ed25519 private keys, oldest first (signing processes only) |
/// | `STOWAGE_TOKEN_PUBLIC_KEYS` | base64url raw Ed25519 public keys, comma-separated (verifying processes) |
/// | `STOWAGE_COGNITO_REGION`, `…_ENDPOINT`, `…_USER_POOL_ID`, `…_CLIENT_ID`, `…_CLIENT_SECRET`, `…_JWKS_URL`, `…_ISSUER` | the Cognito user pool (passwords and Cognito tokens); without it only API tokens sign in |
/// | `STOWAGE_EVENTS_QUEUE_URL` | the SQS queue of domain events |
/// | `STOWAGE_PYTHON_MAX_FILE_MIB` | largest Python file accepted (default 1024) |
/// | `STOWAGE_ALLOW_SPARSE` | `1`: accept manifests whose blobs are not in the repository |
#[derive(Clone)]
pub struct FleetConfig {
    pub storage: StorageConfig,
    pub public_url: Option<String>,
    pub token_ttl: Duration,
    pub keys: Keys,
    pub cognito: Option<CognitoConfig>,
    pub events_queue_url: Option<String>,
    pub python_max_file: u64,
    pub allow_sparse: bool,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn required(name: &str) -> Result<String, String> {
    var(name).ok_or_else(|| format!("{name} must be set"))
}

fn number(name: &str, default: u64) -> Result<u64, String> {
    match var(name) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| format!("{name} must be a whole number, not {v:?}")),
    }
}

fn flag(name: &str) -> bool {
    matches!(var(name).as_deref(), Some("1" | "true" | "yes"))
}

/// The PEM blocks in `text`, each rebuilt as `-----BEGIN …-----`, its base64 body in lines of
/// 64, `-----END …-----`. Line breaks in the input may be newlines or spaces (an environment
/// file holds one line per variable).
fn pem_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + 11..];
        let Some(label_end) = after.find("-----") else {
            break;
        };
        let label = &after[..label_end];
        let body_start = &after[label_end + 5..];
        let footer = format!("-----END {label}-----");
        let Some(body_end) = body_start.find(&footer) else {
            break;
        };
        let body: String = body_start[..body_end]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let mut block = format!("-----BEGIN {label}-----\n");
        for line in body.as_bytes().chunks(64) {
            block.push_str(&String::from_utf8_lossy(line));
            block.push('\n');
        }
        block.push_str(&footer);
        block.push('\n');
        blocks.push(block);
        rest = &body_start[body_end + footer.len()..];
    }
    blocks
}

fn public_of(pem: &str) -> Result<[u8; 32], String> {
    ed25519_dalek::SigningKey::from_pkcs8_pem(pem)
        .map(|k| k.verifying_key().to_bytes())
        .map_err(|e| {
            format!("STOWAGE_TOKEN_SIGNING_KEYS holds a key that is not Ed25519 PKCS#8 PEM: {e}")
        })
}

/// Reads the token keys a process in `role` may hold.
pub fn keys_from_env(role: KeyRole) -> Result<Keys, String> {
    match role {
        KeyRole::Sign => {
            let pems = pem_blocks(&required("STOWAGE_TOKEN_SIGNING_KEYS")?);
            if pems.is_empty() {
                return Err("STOWAGE_TOKEN_SIGNING_KEYS holds no PEM key".into());
            }
            for p in &pems {
                public_of(p)?;
            }
            Ok(Keys::Signing(pems))
        }
        KeyRole::Verify => {
            use base64::Engine;
            let keys = required("STOWAGE_TOKEN_PUBLIC_KEYS")?
                .split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(|k| {
                    base64::engine::general_purpose::URL_SAFE_NO_PAD
                        .decode(k.trim_end_matches('='))
                        .ok()
                        .and_then(|b| <[u8; 32]>::try_from(b).ok())
                        .ok_or_else(|| {
                            format!("STOWAGE_TOKEN_PUBLIC_KEYS: {k:?} is not a base64url 32-byte Ed25519 public key")
                        })
                })
                .collect::<Result<Vec<_>, _>>()?;
            if keys.is_empty() {
                return Err("STOWAGE_TOKEN_PUBLIC_KEYS holds no key".into());
            }
            Ok(Keys::Verifying(keys))
        }
    }
}

/// The base64url public key of each PEM private key (what verifying processes are given).
pub fn public_keys_of(pems: &str) -> Result<Vec<String>, String> {
    use base64::Engine;
    pem_blocks(pems)
        .iter()
        .map(|p| public_of(p).map(|k| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(k)))
        .collect()
}

impl FleetConfig {
    /// Reads the configuration from the environment (see the table on the type).
    pub fn from_env(role: KeyRole) -> Result<FleetConfig, String> {
        let cognito = match var("STOWAGE_COGNITO_USER_POOL_ID") {
            None => None,
            Some(pool) => Some(CognitoConfig {
                region: var("STOWAGE_COGNITO_REGION")
                    .or_else(|| var("AWS_REGION"))
                    .ok_or("STOWAGE_COGNITO_REGION or AWS_REGION must be set")?,
                endpoint_url: var("STOWAGE_COGNITO_ENDPOINT")
                    .or_else(|| var("STOWAGE_AWS_ENDPOINT")),
                user_pool_id: pool,
                client_id: required("STOWAGE_COGNITO_CLIENT_ID")?,
                client_secret: var("STOWAGE_COGNITO_CLIENT_SECRET"),
                jwks_url: var("STOWAGE_COGNITO_JWKS_URL"),
                issuer: var("STOWAGE_COGNITO_ISSUER"),
            }),
        };
        Ok(FleetConfig {
            storage: StorageConfig::from_env()?,
            public_url: var("STOWAGE_PUBLIC_URL"),
            token_ttl: Duration::from_secs(number("STOWAGE_TOKEN_TTL", 300)?),
            keys: keys_from_env(role)?,
            cognito,
            events_queue_url: var("STOWAGE_EVENTS_QUEUE_URL"),
            python_max_file: number("STOWAGE_PYTHON_MAX_FILE_MIB", 1024)? << 20,
            allow_sparse: flag("STOWAGE_ALLOW_SPARSE"),
        })
    }
}

/// Without a user pool, passwords sign nobody in (API tokens still do).
struct NoPasswords;

#[async_trait::async_trait]
impl IdentityProvider for NoPasswords {
    async fn verify_password(&self, _: &str, _: &str) -> stowage_core::Result<Option<UserName>> {
        Ok(None)
    }
}

/// The adapters and the App of one process.
pub struct Fleet {
    pub app: Arc<App>,
    pub store: Arc<DynamoStore>,
    pub blobs: Arc<S3BlobStore>,
    pub audit: AuditSink,
}

/// Builds the SDK clients, the adapters and the App, once per process. Makes no AWS call.
pub async fn build(config: FleetConfig) -> Result<Fleet, String> {
    let Storage { store, blobs } = build_storage(&config.storage).await;
    let registry = Registry {
        blobs: blobs.clone(),
        catalog: store.clone(),
        uploads: store.clone(),
        tenancy: store.clone(),
        policy: Policy {
            allow_sparse: config.allow_sparse,
        },
    };
    type Providers = (Arc<dyn IdentityProvider>, Option<Arc<dyn TokenVerifier>>);
    let (identity, external_tokens): Providers = match config.cognito.clone() {
        Some(c) => {
            let c = Arc::new(CognitoIdentity::new(c).await);
            (c.clone(), Some(c))
        }
        None => (Arc::new(NoPasswords), None),
    };
    let keys = match &config.keys {
        Keys::Signing(pems) => {
            let material = pems
                .iter()
                .map(|p| {
                    public_of(p).map(|public_key| KeyMaterial {
                        kid: stowage_http::auth::key_id(&public_key),
                        private_pem: p.clone(),
                        public_key,
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            TokenKeys::new(&material)
        }
        Keys::Verifying(keys) => TokenKeys::verify_only(
            &keys
                .iter()
                .map(|k| (stowage_http::auth::key_id(k), *k))
                .collect::<Vec<_>>(),
        ),
    }
    .map_err(|e| e.to_string())?;
    let auth = Auth::new(
        AuthConfig {
            public_url: config.public_url.clone(),
            token_ttl: config.token_ttl,
            ..Default::default()
        },
        keys,
        identity,
        external_tokens,
        AuthStores {
            tenancy: store.clone(),
            tokens: store.clone(),
            users: store.clone(),
            audit: store.clone(),
        },
    );
    let audit = auth.audit.clone();
    let app = Arc::new(App {
        python: PythonPackages {
            registry: registry.clone(),
            index: store.clone(),
        },
        python_settings: stowage_http::pypi::PythonSettings {
            max_file_size: config.python_max_file,
            ..Default::default()
        },
        registry,
        auth,
    });
    Ok(Fleet {
        app,
        store,
        blobs,
        audit,
    })
}

/// The client's address from the Lambda request context, as the routers read it.
async fn source_address(mut req: Request, next: Next) -> Response {
    use lambda_http::RequestExt;
    use lambda_http::request::RequestContext;
    let ip = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(c)) => c.identity.source_ip.clone(),
        Some(RequestContext::ApiGatewayV2(c)) => c.http.source_ip.clone(),
        _ => None,
    };
    if let Some(ip) = ip.and_then(|ip| ip.parse().ok()) {
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::new(ip, 0)));
    }
    next.run(req).await
}

/// Answers carry `x-stowage-aws-calls: Service:Operation=N,…`: the AWS calls the request
/// made (see `stowage_aws::metrics`), for cost measurements.
async fn count_calls(req: Request, next: Next) -> Response {
    let before = stowage_aws::metrics::snapshot();
    let mut resp = next.run(req).await;
    let calls = stowage_aws::metrics::delta(&before, &stowage_aws::metrics::snapshot());
    if let Ok(v) = axum::http::HeaderValue::from_str(&calls) {
        resp.headers_mut().insert("x-stowage-aws-calls", v);
    }
    resp
}

/// Adds the `x-stowage-aws-calls` answer header when `STOWAGE_COUNT_AWS_CALLS=1` (tests and
/// cost measurements; off in production).
pub fn with_call_counts(router: Router) -> Router {
    if flag("STOWAGE_COUNT_AWS_CALLS") {
        router.layer(axum::middleware::from_fn(count_calls))
    } else {
        router
    }
}

/// Wraps `router` for the Lambda runtime: the client address from the request context, one
/// log line per request, and the request's audit events written before it is answered (the
/// sandbox may be frozen once the answer is out).
pub fn for_lambda(router: Router, fleet: &Fleet) -> Router {
    let router = stowage_http::audit::flush_audit_layer(router, fleet.audit.clone());
    with_call_counts(router)
        .layer(axum::middleware::from_fn(stowage_http::log::log_requests))
        .layer(axum::middleware::from_fn(source_address))
}

/// JSON logs on stderr (CloudWatch), level from `STOWAGE_LOG` (default `info`); the Lambda
/// runtime's span carries each invocation's request id.
pub fn init_lambda_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("STOWAGE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_current_span(true)
        .without_time()
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_blocks_survive_one_line_environments() {
        let pem = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIKzxQ1JmZVtq7iGRnPp8WTTj1Jk3vMZIrtyTkVhiKs4b\n-----END PRIVATE KEY-----\n";
        let one_line = pem.replace('\n', " ");
        let two = format!("{pem}{one_line}");
        let blocks = pem_blocks(&two);
        assert_eq!(blocks, vec![pem.to_string(), pem.to_string()]);
        assert_eq!(public_keys_of(&one_line).unwrap().len(), 1);
        assert!(pem_blocks("no key here").is_empty());
    }
}
