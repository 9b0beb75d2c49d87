//! Local identity: users with argon2id password hashes in the metadata store, and the token
//! signing keys kept as files in the data directory.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use async_trait::async_trait;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, spki::der::pem::LineEnding};
use sha2::Digest as _;
use std::path::Path;
use std::sync::Arc;
use stowage_core::ports::{IdentityProvider, Users};
use stowage_core::tenancy::UserName;
use stowage_core::{Error, Result};

/// The argon2id cost of new hashes: 7 MiB, 5 passes, 1 lane, one of OWASP's equivalent
/// settings (with 19 MiB × 2 and 12 MiB × 3). The low-memory one is chosen because each check
/// in flight holds its whole memory cost: 19 MiB would triple the server's peak footprint on
/// one login and weighs on a small Lambda. Hashes keep their own parameters (PHC string), so
/// existing ones verify unchanged.
fn hasher() -> Argon2<'static> {
    let params = argon2::Params::new(7 * 1024, 5, 1, None).expect("valid argon2 parameters");
    Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
}

/// Hashes a password with argon2id ([`hasher`]'s cost, random salt) into a PHC string.
pub fn hash_password(password: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(Error::storage)?;
    let salt = SaltString::encode_b64(&salt).map_err(Error::storage)?;
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(Error::storage)
}

fn verify_hash(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            // The parameters come from the hash itself.
            hasher().verify_password(password.as_bytes(), &h).is_ok()
        })
        .unwrap_or(false)
}

/// A hash of a password nobody has, verified for unknown users so that a wrong user name costs
/// the same time as a wrong password.
static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// [`IdentityProvider`] over the local users table.
pub struct LocalIdentity {
    users: Arc<dyn Users>,
}

impl LocalIdentity {
    pub fn new(users: Arc<dyn Users>) -> LocalIdentity {
        LocalIdentity { users }
    }
}

#[async_trait]
impl IdentityProvider for LocalIdentity {
    async fn verify_password(&self, user: &str, password: &str) -> Result<Option<UserName>> {
        let record = match UserName::parse(user) {
            Ok(name) => self.users.get_user(&name).await?,
            Err(_) => None,
        };
        let hash = match record.as_ref().and_then(|r| r.password_hash.clone()) {
            Some(h) => h,
            None => DECOY
                .get_or_init(|| hash_password("decoy password, never valid").unwrap_or_default())
                .clone(),
        };
        let password = password.to_string();
        let ok = tokio::task::spawn_blocking(move || verify_hash(&password, &hash))
            .await
            .map_err(Error::storage)?;
        Ok(match (ok, record) {
            (true, Some(r)) if r.password_hash.is_some() => Some(r.name),
            _ => None,
        })
    }
}

/// One Ed25519 key that signs registry tokens.
#[derive(Clone)]
pub struct SigningKeyFile {
    /// Key id (`kid` header): the first 16 hex characters of the public key's SHA-256.
    pub kid: String,
    /// PKCS#8 PEM of the private key.
    pub private_pem: String,
    /// The raw 32-byte public key.
    pub public_key: [u8; 32],
}

fn key_from_pem(pem: &str) -> Result<SigningKeyFile> {
    let key = SigningKey::from_pkcs8_pem(pem).map_err(Error::storage)?;
    let public_key = key.verifying_key().to_bytes();
    let kid = hex::encode(&sha2::Sha256::digest(public_key)[..8]);
    Ok(SigningKeyFile {
        kid,
        private_pem: pem.to_string(),
        public_key,
    })
}

/// Writes a new signing key into `dir` (named so that newer keys sort last).
pub fn create_signing_key(dir: &Path, now: i64) -> Result<SigningKeyFile> {
    std::fs::create_dir_all(dir)?;
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(Error::storage)?;
    let pem = SigningKey::from_bytes(&seed)
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(Error::storage)?;
    let key = key_from_pem(&pem)?;
    let path = dir.join(format!("{now:012}-{}.pem", key.kid));
    write_private(&path, pem.as_bytes())?;
    Ok(key)
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

/// Every signing key in `dir`, oldest first, creating one when there is none. The newest signs;
/// all verify (so a rotated-out key keeps its tokens valid until they expire).
pub fn load_signing_keys(dir: &Path, now: i64) -> Result<Vec<SigningKeyFile>> {
    let mut names: Vec<_> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "pem"))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    names.sort();
    let mut keys = names
        .iter()
        .map(|p| key_from_pem(&std::fs::read_to_string(p)?))
        .collect::<Result<Vec<_>>>()?;
    if keys.is_empty() {
        keys.push(create_signing_key(dir, now)?);
    }
    Ok(keys)
}
