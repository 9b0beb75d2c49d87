//! `stowage`: the local all-in-one registry and its admin commands.
//!
//! `stowage serve` builds the embedded adapters (files + SQLite) from its flags, merges every
//! router, and serves until SIGINT or SIGTERM, finishing the requests in flight. The other
//! subcommands administer the same data directory (users, organizations, registries, members,
//! API tokens, signing keys), safely while a server runs. Configuration is read once here;
//! nothing below this file reads flags or the environment.

mod admin;
mod aws_cmd;

use clap::{Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use stowage_core::ports::Users;
use stowage_core::registry::Policy;
use stowage_core::tenancy::{UserName, UserRecord};

#[derive(Parser)]
#[command(
    name = "stowage",
    version,
    about = "A multi-tenant OCI and Python package registry"
)]
struct Cli {
    /// Directory for blobs, keys and the metadata database.
    #[arg(
        long,
        global = true,
        env = "STOWAGE_DATA",
        default_value = "./stowage-data"
    )]
    data: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum IdentityKind {
    /// Users and argon2id password hashes in this data directory.
    Local,
    /// A Cognito user pool (InitiateAuth for passwords, JWKS for its tokens).
    Cognito,
}

/// The Cognito user pool, for `--identity cognito`.
#[derive(clap::Args)]
struct CognitoArgs {
    #[arg(long = "cognito-region", env = "STOWAGE_COGNITO_REGION")]
    region: Option<String>,
    /// An endpoint override (an emulator such as moto).
    #[arg(long = "cognito-endpoint", env = "STOWAGE_COGNITO_ENDPOINT")]
    endpoint: Option<String>,
    #[arg(long = "cognito-user-pool-id", env = "STOWAGE_COGNITO_USER_POOL_ID")]
    user_pool_id: Option<String>,
    #[arg(long = "cognito-client-id", env = "STOWAGE_COGNITO_CLIENT_ID")]
    client_id: Option<String>,
    /// The app client's secret (environment only, never a flag: flags show in `ps`).
    #[arg(skip = std::env::var("STOWAGE_COGNITO_CLIENT_SECRET").ok().filter(|s| !s.is_empty()))]
    client_secret: Option<String>,
    /// Default: `<issuer>/.well-known/jwks.json`.
    #[arg(long = "cognito-jwks-url", env = "STOWAGE_COGNITO_JWKS_URL")]
    jwks_url: Option<String>,
    /// Default: `https://cognito-idp.<region>.amazonaws.com/<user pool id>`.
    #[arg(long = "cognito-issuer", env = "STOWAGE_COGNITO_ISSUER")]
    issuer: Option<String>,
}

impl CognitoArgs {
    fn config(&self) -> Result<stowage_aws::cognito::CognitoConfig, String> {
        let need = |v: &Option<String>, what: &str| {
            v.clone()
                .ok_or_else(|| format!("--identity cognito needs {what}"))
        };
        Ok(stowage_aws::cognito::CognitoConfig {
            region: need(&self.region, "--cognito-region")?,
            endpoint_url: self.endpoint.clone(),
            user_pool_id: need(&self.user_pool_id, "--cognito-user-pool-id")?,
            client_id: need(&self.client_id, "--cognito-client-id")?,
            client_secret: self.client_secret.clone(),
            jwks_url: self.jwks_url.clone(),
            issuer: self.issuer.clone(),
        })
    }
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum Backend {
    /// Files and SQLite in the data directory.
    Local,
    /// S3, DynamoDB and Cognito, configured by the environment as the Lambda functions are
    /// (STOWAGE_TABLE, STOWAGE_BUCKET, STOWAGE_TOKEN_SIGNING_KEYS, …; see docs/aws.md): the
    /// streaming upload service in front of which the fleet runs, with no body-size limit.
    Aws,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The flags of `stowage serve`.
#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "STOWAGE_LISTEN", default_value = "127.0.0.1:5000")]
    listen: SocketAddr,
    /// Where blobs and metadata live.
    #[arg(long, env = "STOWAGE_BACKEND", value_enum, default_value = "local")]
    backend: Backend,
    /// Log format.
    #[arg(long, env = "STOWAGE_LOG_FORMAT", value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Accept manifests whose layers or child manifests are not in the repository
    /// (sparse images and indexes, e.g. partial mirrors). Off: such a manifest is refused.
    #[arg(long, env = "STOWAGE_ALLOW_SPARSE")]
    allow_sparse: bool,
    /// The URL clients reach this server at (for the token realm), e.g.
    /// https://registry.example.com. Default: taken from each request's Host header.
    #[arg(long, env = "STOWAGE_PUBLIC_URL")]
    public_url: Option<String>,
    /// Lifetime of registry tokens, in seconds.
    #[arg(long, env = "STOWAGE_TOKEN_TTL", default_value_t = 300)]
    token_ttl: u64,
    /// Where users and their passwords live.
    #[arg(long, env = "STOWAGE_IDENTITY", value_enum, default_value = "local")]
    identity: IdentityKind,
    #[command(flatten)]
    cognito: CognitoArgs,
    /// Largest Python package file accepted by the upload API, in MiB.
    #[arg(long, env = "STOWAGE_PYTHON_MAX_FILE_MIB", default_value_t = 1024)]
    python_max_file_mib: u64,
}

#[derive(Subcommand)]
enum Command {
    /// Run the registry on this machine with embedded storage (files + SQLite).
    Serve(ServeArgs),
    /// The AWS backend: create its table and bucket, make token signing keys.
    #[command(subcommand)]
    Aws(aws_cmd::AwsCmd),
    #[command(flatten)]
    Admin(admin::AdminCommand),
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("STOWAGE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("stowage: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Serve(args) => {
            init_logging(args.log_format);
            rt.block_on(serve(cli.data, args))
        }
        Command::Aws(cmd) => rt.block_on(aws_cmd::run(cmd)),
        Command::Admin(cmd) => rt.block_on(admin::run(&cli.data, cmd)),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stowage: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// On first start (no users yet), creates the user `admin` with the password from
/// `STOWAGE_ADMIN_PASSWORD`, or a random one printed once.
async fn ensure_first_user(users: &dyn Users) -> Result<(), String> {
    if !users
        .list_users()
        .await
        .map_err(|e| e.to_string())?
        .is_empty()
    {
        return Ok(());
    }
    let (password, generated) = match std::env::var("STOWAGE_ADMIN_PASSWORD") {
        Ok(p) if !p.is_empty() => (p, false),
        _ => (admin::random_password(), true),
    };
    let hash = stowage_local::identity::hash_password(&password).map_err(|e| e.to_string())?;
    let record = UserRecord {
        name: UserName::parse("admin").map_err(|e| e.to_string())?,
        email: None,
        password_hash: Some(hash),
        created_at: admin::now(),
    };
    users
        .create_user(&record)
        .await
        .map_err(|e| e.to_string())?;
    if generated {
        // Printed once, to the terminal, never to the log.
        println!(
            "stowage: created the first user `admin` with password {password}\n\
             stowage: it is shown only this once; change it with `stowage user passwd admin --password-stdin`"
        );
    } else {
        println!(
            "stowage: created the first user `admin` with the password from STOWAGE_ADMIN_PASSWORD"
        );
    }
    Ok(())
}

/// `serve --backend aws`: every route over the AWS adapters, configured from the environment
/// exactly as the Lambda functions are (plus --listen, --public-url and --token-ttl).
async fn serve_aws(args: ServeArgs) -> Result<(), String> {
    let mut config = stowage_fleet::FleetConfig::from_env(stowage_fleet::KeyRole::Sign)?;
    if args.public_url.is_some() {
        config.public_url = args.public_url.clone();
    }
    config.token_ttl = Duration::from_secs(args.token_ttl);
    config.allow_sparse |= args.allow_sparse;
    let (table, bucket) = (config.storage.table.clone(), config.storage.bucket.clone());
    let fleet = stowage_fleet::build(config).await?;
    let app = stowage_fleet::with_call_counts(stowage_http::router_shared(fleet.app.clone()));
    tracing::info!(%table, %bucket, "blobs in S3, metadata in DynamoDB");
    listen_and_serve(args.listen, app, "aws").await
}

async fn listen_and_serve(
    listen: SocketAddr,
    app: axum::Router,
    backend: &str,
) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    // Responses are written as headers, then body frames: without TCP_NODELAY a small body
    // waits for the client's delayed ACK (about 40 ms per PEP 658 metadata file or small blob).
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!(error = %e, "cannot set TCP_NODELAY on a connection");
        }
    });
    tracing::info!(%listen, backend, "stowage is serving the registry");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .map_err(|e| format!("server error: {e}"))
}

async fn serve(data: PathBuf, args: ServeArgs) -> Result<(), String> {
    if args.backend == Backend::Aws {
        return serve_aws(args).await;
    }
    let listen = args.listen;
    let config = stowage_http::AuthConfig {
        public_url: args.public_url.clone(),
        token_ttl: Duration::from_secs(args.token_ttl),
        ..Default::default()
    };
    let policy = Policy {
        allow_sparse: args.allow_sparse,
    };
    let backend = stowage_local::open(&data, policy)
        .map_err(|e| format!("cannot open data directory {}: {e}", data.display()))?;
    let store = backend.store.clone();
    type Providers = (
        Arc<dyn stowage_core::ports::IdentityProvider>,
        Option<Arc<dyn stowage_core::ports::TokenVerifier>>,
    );
    let (identity, external_tokens): Providers = match args.identity {
        IdentityKind::Local => {
            ensure_first_user(&*store).await?;
            (
                Arc::new(stowage_local::identity::LocalIdentity::new(store.clone())),
                None,
            )
        }
        IdentityKind::Cognito => {
            let c =
                Arc::new(stowage_aws::cognito::CognitoIdentity::new(args.cognito.config()?).await);
            tracing::info!("users and passwords come from the Cognito user pool");
            (c.clone(), Some(c))
        }
    };
    let keys: Vec<stowage_http::KeyMaterial> = backend
        .keys
        .iter()
        .map(|k| stowage_http::KeyMaterial {
            kid: k.kid.clone(),
            private_pem: k.private_pem.clone(),
            public_key: k.public_key,
        })
        .collect();
    let auth = stowage_http::Auth::new(
        config,
        stowage_http::TokenKeys::new(&keys).map_err(|e| e.to_string())?,
        identity,
        external_tokens,
        stowage_http::auth::AuthStores {
            tenancy: store.clone(),
            tokens: store.clone(),
            users: store.clone(),
            audit: store.clone(),
        },
    );
    // Python uploads are spooled here while they are checked (same disk as the blobs).
    let spool = data.join("tmp");
    std::fs::create_dir_all(&spool)
        .map_err(|e| format!("cannot create {}: {e}", spool.display()))?;
    let app = stowage_http::router(stowage_http::App {
        python: stowage_core::python::service::PythonPackages {
            registry: backend.registry.clone(),
            index: store.clone(),
        },
        python_settings: stowage_http::pypi::PythonSettings {
            max_file_size: args.python_max_file_mib << 20,
            spool_dir: Some(spool),
            ..Default::default()
        },
        registry: backend.registry,
        auth,
    });
    tracing::info!(data = %data.display(), "blobs in files, metadata in SQLite");
    listen_and_serve(listen, app, "local").await
}
