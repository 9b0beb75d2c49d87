//! AWS emulators on loopback for the AWS adapters' tests: moto in server mode (S3, DynamoDB,
//! Cognito, SQS) and s3s-fs (a second S3 that checks SigV4 signatures).
//!
//! Each is started once per test process, on a free port, from the binary the test command
//! installed (`scripts/lib/tools.sh`): `$STOWAGE_MOTO_SERVER` (default
//! `$STOWAGE_TOOLS/venv/bin/moto_server`) and `$STOWAGE_S3S_FS` (default
//! `$STOWAGE_TOOLS/cargo/bin/s3s-fs`). A missing binary fails the test with the command that
//! installs it: these tests never skip themselves. The emulator exits with the test process (a
//! watcher shell kills it when its parent is gone).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The access key and secret the emulators are started with (s3s-fs checks them).
pub const ACCESS_KEY: &str = "stowagetest";
pub const SECRET_KEY: &str = "stowagetest-secret-key";
pub const REGION: &str = "us-east-1";

fn tools_dir() -> PathBuf {
    match std::env::var_os("STOWAGE_TOOLS") {
        Some(d) => PathBuf::from(d),
        None => {
            let home = std::env::var_os("HOME").unwrap_or_default();
            PathBuf::from(home).join(".cache/stowage/tools")
        }
    }
}

fn binary(env: &str, default: PathBuf, install: &str) -> PathBuf {
    let path = std::env::var_os(env).map(PathBuf::from).unwrap_or(default);
    assert!(
        path.is_file(),
        "{} is not installed (looked for {}); install it with `source scripts/lib/tools.sh; {install}` \
         or run scripts/test, or point {env} at it",
        path.file_name().unwrap_or_default().to_string_lossy(),
        path.display()
    );
    path
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Starts `program args…` under a watcher that kills it when this process is gone, then waits
/// until the port accepts connections.
fn start(name: &str, program: &Path, args: &[String], port: u16) {
    let mut cmd_line = format!("'{}'", program.display());
    for a in args {
        cmd_line.push_str(&format!(" '{a}'"));
    }
    let script = format!(
        "{cmd_line} >/dev/null 2>&1 & child=$!; \
         while kill -0 {parent} 2>/dev/null && kill -0 $child 2>/dev/null; do sleep 0.5; done; \
         kill $child 2>/dev/null",
        parent = std::process::id()
    );
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
    // Reaped when the watcher exits (with the emulator), so it never lingers as a zombie.
    std::thread::spawn(move || child.wait());
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{name} did not listen on port {port} within 60 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The endpoint of this process's moto server (`http://127.0.0.1:<port>`), started on first use.
pub fn moto() -> String {
    static MOTO: OnceLock<String> = OnceLock::new();
    MOTO.get_or_init(|| {
        let bin = binary(
            "STOWAGE_MOTO_SERVER",
            tools_dir().join("venv/bin/moto_server"),
            "ensure_moto",
        );
        let port = free_port();
        start(
            "moto_server",
            &bin,
            &[
                "-H".into(),
                "127.0.0.1".into(),
                "-p".into(),
                port.to_string(),
            ],
            port,
        );
        format!("http://127.0.0.1:{port}")
    })
    .clone()
}

/// The endpoint of this process's s3s-fs server, started on first use over a fresh temporary
/// directory, checking signatures made with [`ACCESS_KEY`] and [`SECRET_KEY`].
pub fn s3s_fs() -> String {
    static S3S: OnceLock<String> = OnceLock::new();
    S3S.get_or_init(|| {
        let bin = binary(
            "STOWAGE_S3S_FS",
            tools_dir().join("cargo/bin/s3s-fs"),
            "ensure_s3s_fs",
        );
        let port = free_port();
        let root =
            std::env::temp_dir().join(format!("stowage-s3s-{}-{}", std::process::id(), port));
        std::fs::create_dir_all(&root).expect("s3s-fs root");
        start(
            "s3s-fs",
            &bin,
            &[
                "--host".into(),
                "127.0.0.1".into(),
                "--port".into(),
                port.to_string(),
                "--access-key".into(),
                ACCESS_KEY.into(),
                "--secret-key".into(),
                SECRET_KEY.into(),
                root.display().to_string(),
            ],
            port,
        );
        format!("http://127.0.0.1:{port}")
    })
    .clone()
}

/// A name no other test in this run uses (tables, buckets, queues share one emulator).
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}
