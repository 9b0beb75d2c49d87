//! `stowage`: the local all-in-one registry.
//!
//! `stowage serve` builds the embedded adapters (files + SQLite) from its flags, merges every
//! router, and serves until SIGINT or SIGTERM, finishing the requests in flight. Configuration is
//! read once here; nothing below this file reads flags or the environment.

use clap::{Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use stowage_core::registry::Policy;

#[derive(Parser)]
#[command(
    name = "stowage",
    version,
    about = "A multi-tenant OCI and Python package registry"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the registry on this machine with embedded storage (files + SQLite).
    Serve {
        /// Address to listen on.
        #[arg(long, env = "STOWAGE_LISTEN", default_value = "127.0.0.1:5000")]
        listen: SocketAddr,
        /// Directory for blobs and the metadata database.
        #[arg(long, env = "STOWAGE_DATA", default_value = "./stowage-data")]
        data: PathBuf,
        /// Log format.
        #[arg(long, env = "STOWAGE_LOG_FORMAT", value_enum, default_value = "text")]
        log_format: LogFormat,
        /// Accept manifests whose layers or child manifests are not in the repository
        /// (sparse images and indexes, e.g. partial mirrors). Off: such a manifest is refused.
        #[arg(long, env = "STOWAGE_ALLOW_SPARSE")]
        allow_sparse: bool,
    },
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
    match cli.command {
        Command::Serve {
            listen,
            data,
            log_format,
            allow_sparse,
        } => {
            init_logging(log_format);
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
            match rt.block_on(serve(listen, data, Policy { allow_sparse })) {
                Ok(()) => std::process::ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e}");
                    eprintln!("stowage: {e}");
                    std::process::ExitCode::FAILURE
                }
            }
        }
    }
}

async fn serve(listen: SocketAddr, data: PathBuf, policy: Policy) -> Result<(), String> {
    let registry = stowage_local::open_registry(&data, policy)
        .map_err(|e| format!("cannot open data directory {}: {e}", data.display()))?;
    let app = stowage_http::router(registry);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    tracing::info!(%listen, data = %data.display(), "stowage is serving the registry");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| format!("server error: {e}"))
}
