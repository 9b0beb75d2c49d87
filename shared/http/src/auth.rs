//! Authentication and the registry token flow (the Docker registry token spec).
//!
//! - `GET /v2/token` (and the OAuth2 `POST` form) takes Basic credentials — a user's password,
//!   or an API token — and returns a short-lived JWT, signed here with Ed25519, carrying only
//!   the actions the caller's roles allow on each requested repository.
//! - Every other request is authenticated by [`Auth::credentials`]: a Bearer token is checked by
//!   its signature alone (no storage read); Basic credentials are verified directly.
//! - Failed sign-ins are counted per user and per source address ([`Limiter`]); past a threshold
//!   further attempts are refused with `429` and a growing delay, whatever the password.
//!
//! What this module must never do: log or echo a secret, tell a wrong user name from a wrong
//! password, or grant anything [`stowage_core::auth::allowed_actions`] did not.

use crate::audit::AuditSink;
use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use stowage_core::auth::{Action, Principal, Scope, Subject, allowed_actions};
use stowage_core::ports::{ApiTokens, Audit, IdentityProvider, Tenancy, TokenVerifier, Users};
use stowage_core::tenancy::{ApiTokenRecord, AuditEvent, Role, UserName};
use stowage_core::{Error, RepoName, Result};
use subtle::ConstantTimeEq;

/// The issuer of Stowage's tokens.
pub const ISSUER: &str = "stowage";
/// Prefix of API token secrets (`stw_<id>_<secret>`), so they are recognisable in a leak scan.
pub const API_TOKEN_PREFIX: &str = "stw_";

/// Settings of the token flow.
#[derive(Clone, Debug)]
pub struct AuthConfig {
    /// The `service` (audience) of issued tokens.
    pub service: String,
    /// Base URL clients reach Stowage at (for the `realm`); from the request's Host when unset.
    pub public_url: Option<String>,
    /// Lifetime of issued registry tokens.
    pub token_ttl: Duration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            service: "stowage".into(),
            public_url: None,
            token_ttl: Duration::from_secs(300),
        }
    }
}

/// A key that signs or verifies registry tokens.
#[derive(Clone)]
pub struct KeyMaterial {
    pub kid: String,
    /// PKCS#8 PEM of the Ed25519 private key.
    pub private_pem: String,
    /// The raw 32-byte Ed25519 public key.
    pub public_key: [u8; 32],
}

/// The signing key (the newest) and every key that still verifies, by `kid`. A process that
/// only verifies tokens (a Lambda function other than the token endpoint) holds public keys
/// alone: [`TokenKeys::verify_only`].
pub struct TokenKeys {
    signing: Option<(String, EncodingKey)>,
    verifying: HashMap<String, DecodingKey>,
}

/// The `kid` of an Ed25519 public key: the first 16 hex characters of its SHA-256.
pub fn key_id(public_key: &[u8; 32]) -> String {
    hex::encode(&sha2::Sha256::digest(public_key)[..8])
}

impl TokenKeys {
    /// `keys` oldest first; the last one signs.
    pub fn new(keys: &[KeyMaterial]) -> Result<TokenKeys> {
        let newest = keys
            .last()
            .ok_or_else(|| Error::Storage("no token signing key".into()))?;
        let signing = EncodingKey::from_ed_pem(newest.private_pem.as_bytes())
            .map_err(|e| Error::Storage(format!("token signing key: {e}")))?;
        let mut token_keys = TokenKeys::verify_only(
            &keys
                .iter()
                .map(|k| (k.kid.clone(), k.public_key))
                .collect::<Vec<_>>(),
        )?;
        token_keys.signing = Some((newest.kid.clone(), signing));
        Ok(token_keys)
    }

    /// Keys that verify tokens and never sign one: `(kid, raw Ed25519 public key)`.
    pub fn verify_only(keys: &[(String, [u8; 32])]) -> Result<TokenKeys> {
        if keys.is_empty() {
            return Err(Error::Storage("no token verification key".into()));
        }
        let verifying = keys
            .iter()
            .map(|(kid, public)| {
                DecodingKey::from_ed_components(&URL_SAFE_NO_PAD.encode(public))
                    .map(|d| (kid.clone(), d))
                    .map_err(|e| Error::Storage(format!("token verification key: {e}")))
            })
            .collect::<Result<_>>()?;
        Ok(TokenKeys {
            signing: None,
            verifying,
        })
    }
}

/// One grant in a registry token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessEntry {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub actions: Vec<String>,
}

/// The claims of a registry token.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: u64,
    pub nbf: u64,
    pub iat: u64,
    pub jti: String,
    #[serde(default)]
    pub access: Vec<AccessEntry>,
}

impl Claims {
    /// The actions this token grants on `repo`.
    pub fn actions_on(&self, repo: &str) -> BTreeSet<Action> {
        self.access
            .iter()
            .filter(|a| a.kind == "repository" && a.name == repo)
            .flat_map(|a| a.actions.iter().filter_map(|x| Action::parse(x)))
            .collect()
    }

    pub fn has_catalog(&self) -> bool {
        self.access
            .iter()
            .any(|a| a.kind == "registry" && a.name == "catalog")
    }
}

/// Failed sign-in bookkeeping per key (`user:<name>`, `ip:<addr>`).
pub struct Limiter {
    entries: Mutex<HashMap<String, LimitEntry>>,
}

struct LimitEntry {
    failures: u32,
    last: Instant,
    locked_until: Option<Instant>,
}

/// Failures allowed per user before attempts are refused.
pub const USER_FAILURES: u32 = 5;
/// Failures allowed per source address before attempts are refused.
pub const SOURCE_FAILURES: u32 = 20;
const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);
const MAX_LOCK: Duration = Duration::from_secs(15 * 60);

impl Default for Limiter {
    fn default() -> Self {
        Limiter {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl Limiter {
    /// Seconds to wait, if any key is locked.
    pub fn locked(&self, keys: &[String]) -> Option<u64> {
        let now = Instant::now();
        let map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        keys.iter()
            .filter_map(|k| map.get(k)?.locked_until)
            .filter(|until| *until > now)
            .map(|until| (until - now).as_secs().max(1))
            .max()
    }

    /// Counts a failure against each key; `(key, threshold)` pairs.
    pub fn fail(&self, keys: &[(String, u32)]) {
        let now = Instant::now();
        let mut map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, e| {
            now.duration_since(e.last) < FORGET_AFTER || e.locked_until.is_some_and(|u| u > now)
        });
        for (key, threshold) in keys {
            let e = map.entry(key.clone()).or_insert(LimitEntry {
                failures: 0,
                last: now,
                locked_until: None,
            });
            e.failures += 1;
            e.last = now;
            if e.failures >= *threshold {
                let exp = (e.failures - threshold).min(10);
                e.locked_until = Some(now + Duration::from_secs(1 << exp).min(MAX_LOCK));
            }
        }
    }

    /// Forgets failures of `key` (after a successful sign-in).
    pub fn succeed(&self, key: &str) {
        let mut map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(key);
    }
}

/// Where a request came from, for the audit log and the limiter.
#[derive(Clone, Debug, Default)]
pub struct Origin {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// Credentials presented with a request.
pub enum Credentials {
    None,
    Bearer(Claims),
    /// Basic credentials that verified.
    Principal(Principal),
}

/// Everything the routers need to authenticate callers and sign tokens.
pub struct Auth {
    pub config: AuthConfig,
    pub keys: TokenKeys,
    pub identity: Arc<dyn IdentityProvider>,
    /// Verifies bearer tokens of the external identity provider (Cognito), when there is one.
    pub external_tokens: Option<Arc<dyn TokenVerifier>>,
    pub tenancy: Arc<dyn Tenancy>,
    pub tokens: Arc<dyn ApiTokens>,
    pub users: Arc<dyn Users>,
    /// Where audit events are written (through `audit`) and read back.
    pub audit_log: Arc<dyn Audit>,
    pub audit: AuditSink,
    pub limiter: Limiter,
    pub touched: TouchThrottle,
    pub verified: VerifiedCache,
    pub passwords: PasswordCache,
}

/// Passwords that verified in the last minute, so that pip and twine, which send Basic
/// credentials on every request, cost one identity-provider check (argon2id, or a Cognito
/// call) per minute instead of one per file. Keyed by a SHA-256 of user and password, never
/// the password itself; failures are never cached. A changed or removed password keeps working
/// for at most [`PASSWORD_CACHE_TTL`] on a server that saw it verify.
#[derive(Default)]
pub struct PasswordCache {
    map: Mutex<HashMap<[u8; 32], (UserName, Instant)>>,
}

/// How long a verified password is remembered.
pub const PASSWORD_CACHE_TTL: Duration = Duration::from_secs(60);
const PASSWORDS_MAX: usize = 10_000;

impl PasswordCache {
    fn key(user: &str, password: &str) -> [u8; 32] {
        let mut h = sha2::Sha256::new();
        h.update((user.len() as u64).to_le_bytes());
        h.update(user.as_bytes());
        h.update(password.as_bytes());
        h.finalize().into()
    }

    fn get(&self, user: &str, password: &str) -> Option<UserName> {
        let key = Self::key(user, password);
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&key)
            .filter(|(_, at)| at.elapsed() < PASSWORD_CACHE_TTL)
            .map(|(u, _)| u.clone())
    }

    fn put(&self, user: &str, password: &str, name: UserName) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= PASSWORDS_MAX {
            map.retain(|_, (_, at)| at.elapsed() < PASSWORD_CACHE_TTL);
            if map.len() >= PASSWORDS_MAX {
                map.clear();
            }
        }
        map.insert(Self::key(user, password), (name, Instant::now()));
    }
}

/// Tokens whose signature already verified, so a client reusing its token (every request of a
/// pull) costs a map lookup instead of an Ed25519 verification. Expiry is still checked on
/// every use; the cache is bounded and simply cleared when full.
#[derive(Default)]
pub struct VerifiedCache {
    map: Mutex<HashMap<String, Arc<Claims>>>,
}

const VERIFIED_MAX: usize = 10_000;

impl VerifiedCache {
    fn get(&self, token: &str) -> Option<Arc<Claims>> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.get(token).cloned()
    }

    fn put(&self, token: &str, claims: Arc<Claims>) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= VERIFIED_MAX {
            map.clear();
        }
        map.insert(token.to_string(), claims);
    }
}

/// Records an API token's last use at most once a minute per token, so that a CI job using a
/// token on every request does not cost a database write per request.
#[derive(Default)]
pub struct TouchThrottle {
    last: Mutex<HashMap<String, i64>>,
}

impl TouchThrottle {
    pub fn should_touch(&self, id: &str, now: i64) -> bool {
        let mut map = self.last.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(id) {
            Some(t) if now - t < 60 => false,
            _ => {
                if map.len() > 100_000 {
                    map.clear();
                }
                map.insert(id.to_string(), now);
                true
            }
        }
    }
}

pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    // getrandom fails only where the OS has no entropy source; nothing sensible runs there.
    getrandom::fill(&mut b).expect("operating system random source");
    hex::encode(b)
}

/// A random identifier: 32 lowercase hex characters.
pub fn random_id() -> String {
    random_hex(16)
}

/// A new API token: the string shown once, and the record to store.
pub fn new_api_token(mut record: ApiTokenRecord) -> (String, ApiTokenRecord) {
    let id = random_hex(8);
    let secret = random_hex(32);
    record.id = id.clone();
    record.secret_sha256 = hex::encode(sha2::Sha256::digest(secret.as_bytes()));
    (format!("{API_TOKEN_PREFIX}{id}_{secret}"), record)
}

/// Splits `stw_<id>_<secret>`.
fn parse_api_token(s: &str) -> Option<(&str, &str)> {
    let rest = s.strip_prefix(API_TOKEN_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    (id.len() == 16 && !secret.is_empty()).then_some((id, secret))
}

/// Decodes `Authorization: Basic …` into user and password.
pub fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(rest.trim()).ok()?;
    let s = String::from_utf8(decoded).ok()?;
    let (u, p) = s.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

/// The stores [`Auth`] reads and writes (one metadata store usually serves them all).
pub struct AuthStores {
    pub tenancy: Arc<dyn Tenancy>,
    pub tokens: Arc<dyn ApiTokens>,
    pub users: Arc<dyn Users>,
    pub audit: Arc<dyn Audit>,
}

impl Auth {
    /// Authentication over `stores`, with fresh caches and throttles, and the audit writer
    /// started on the current runtime.
    pub fn new(
        config: AuthConfig,
        keys: TokenKeys,
        identity: Arc<dyn IdentityProvider>,
        external_tokens: Option<Arc<dyn TokenVerifier>>,
        stores: AuthStores,
    ) -> Auth {
        Auth {
            config,
            keys,
            identity,
            external_tokens,
            tenancy: stores.tenancy,
            tokens: stores.tokens,
            users: stores.users,
            audit: crate::audit::AuditSink::start(stores.audit.clone()),
            audit_log: stores.audit,
            limiter: Default::default(),
            touched: Default::default(),
            verified: Default::default(),
            passwords: Default::default(),
        }
    }

    /// The principal of a user: their memberships.
    pub async fn user_principal(&self, user: UserName) -> Result<Principal> {
        let roles = self
            .tenancy
            .memberships(&user)
            .await?
            .into_iter()
            .map(|m| (m.org, m.role))
            .collect();
        Ok(Principal {
            subject: Subject::User(user),
            roles,
            only_registry: None,
        })
    }

    /// The principal of an API token, if the token is valid now.
    async fn token_principal(&self, token: &str) -> Result<Option<(Principal, ApiTokenRecord)>> {
        let Some((id, secret)) = parse_api_token(token) else {
            return Ok(None);
        };
        let Some(rec) = self.tokens.get_token(id).await? else {
            return Ok(None);
        };
        let presented = hex::encode(sha2::Sha256::digest(secret.as_bytes()));
        let matches: bool = presented
            .as_bytes()
            .ct_eq(rec.secret_sha256.as_bytes())
            .into();
        let now = now_secs() as i64;
        if !matches || rec.revoked_at.is_some() || rec.expires_at.is_some_and(|e| e <= now) {
            return Ok(None);
        }
        if self.touched.should_touch(&rec.id, now) {
            let _ = self.tokens.touch_token(&rec.id, now).await;
        }
        let principal = Principal {
            subject: Subject::Token(rec.id.clone()),
            roles: vec![(rec.org.clone(), rec.role)],
            only_registry: rec.registry.clone(),
        };
        Ok(Some((principal, rec)))
    }

    /// Verifies a user name and password (or API token as password). Slowed per user and per
    /// source after repeated failures. Failures are always audited; successes when `audit_login`
    /// (the token endpoint: a sign-in; Basic credentials on each request are not).
    pub async fn sign_in(
        &self,
        user: &str,
        password: &str,
        origin: &Origin,
        audit_login: bool,
    ) -> Result<Principal> {
        // API tokens are not counted per user: the user name that comes with them is
        // `__token__` for everyone, and their 256-bit secrets cannot be guessed, so a per-token
        // lock would only let anyone who knows a token's id lock it. The source is counted.
        let user_key = (!password.starts_with(API_TOKEN_PREFIX))
            .then(|| format!("user:{}", user.to_ascii_lowercase()));
        let ip_key = format!("ip:{}", origin.ip.as_deref().unwrap_or("unknown"));
        let keys: Vec<String> = user_key.iter().cloned().chain([ip_key.clone()]).collect();
        if let Some(retry_after) = self.limiter.locked(&keys) {
            return Err(Error::TooManyRequests { retry_after });
        }
        let found = if password.starts_with(API_TOKEN_PREFIX) {
            match self.token_principal(password).await? {
                Some((p, rec)) => Some((p, Some(rec.org.to_string()))),
                None => None,
            }
        } else {
            let name = match self.passwords.get(user, password) {
                Some(name) => Some(name),
                None => {
                    let name = self.identity.verify_password(user, password).await?;
                    if let Some(n) = &name {
                        self.passwords.put(user, password, n.clone());
                    }
                    name
                }
            };
            match name {
                Some(name) => Some((self.user_principal(name).await?, None)),
                None => None,
            }
        };
        match found {
            Some((principal, org)) => {
                if let Some(k) = &user_key {
                    self.limiter.succeed(k);
                }
                if !audit_login {
                    return Ok(principal);
                }
                self.audit.record(AuditEvent {
                    id: 0,
                    at: now_secs() as i64,
                    org,
                    actor: principal.subject.audit_name(),
                    action: "login".into(),
                    target: String::new(),
                    source_ip: origin.ip.clone(),
                    user_agent: origin.user_agent.clone(),
                });
                Ok(principal)
            }
            None => {
                self.limiter.fail(&match user_key {
                    Some(k) => vec![(k, USER_FAILURES), (ip_key, SOURCE_FAILURES)],
                    None => vec![(ip_key, SOURCE_FAILURES)],
                });
                self.audit.record(AuditEvent {
                    id: 0,
                    at: now_secs() as i64,
                    org: None,
                    actor: "anonymous".into(),
                    action: "login_failed".into(),
                    target: truncate(user, 64),
                    source_ip: origin.ip.clone(),
                    user_agent: origin.user_agent.clone(),
                });
                Err(Error::Unauthorized(
                    "invalid user name or password (or API token)".into(),
                ))
            }
        }
    }

    /// Reads the request's credentials. A Bearer token must verify; Basic credentials must sign
    /// in; no credentials are [`Credentials::None`].
    pub async fn credentials(&self, headers: &HeaderMap, origin: &Origin) -> Result<Credentials> {
        if let Some(token) = bearer(headers) {
            if token.starts_with(API_TOKEN_PREFIX) {
                return match self.token_principal(token).await? {
                    Some((p, _)) => Ok(Credentials::Principal(p)),
                    None => Err(Error::Unauthorized("invalid or expired API token".into())),
                };
            }
            return match self.verify(token) {
                Ok(claims) => Ok(Credentials::Bearer(claims)),
                Err(e) => match &self.external_tokens {
                    Some(ext) if !self.is_own_token(token) => {
                        match ext.verify_token(token).await? {
                            Some(user) => {
                                Ok(Credentials::Principal(self.user_principal(user).await?))
                            }
                            None => Err(e),
                        }
                    }
                    _ => Err(e),
                },
            };
        }
        if let Some((user, password)) = basic_credentials(headers) {
            return self
                .sign_in(&user, &password, origin, false)
                .await
                .map(Credentials::Principal);
        }
        Ok(Credentials::None)
    }

    /// What the credentials allow on `repo`.
    pub async fn actions_on(
        &self,
        creds: &Credentials,
        repo: &RepoName,
    ) -> Result<BTreeSet<Action>> {
        match creds {
            Credentials::Bearer(claims) => Ok(claims.actions_on(repo.as_str())),
            Credentials::Principal(p) => self.grant(p, repo).await,
            Credentials::None => self.grant(&Principal::anonymous(), repo).await,
        }
    }

    /// The principal a verified token speaks for, with its roles as they are now (`None` for an
    /// anonymous token, a vanished user, or a revoked or expired API token).
    pub async fn principal_of(&self, claims: &Claims) -> Result<Option<Principal>> {
        match Subject::from_claim(&claims.sub) {
            Some(Subject::User(u)) => Ok(Some(self.user_principal(u).await?)),
            Some(Subject::Token(id)) => {
                let now = now_secs() as i64;
                Ok(self.tokens.get_token(&id).await?.and_then(|t| {
                    (t.revoked_at.is_none() && t.expires_at.is_none_or(|e| e > now)).then(|| {
                        Principal {
                            subject: Subject::Token(id),
                            roles: vec![(t.org, t.role)],
                            only_registry: t.registry,
                        }
                    })
                }))
            }
            _ => Ok(None),
        }
    }

    /// What the caller behind the credentials may do on `repo` now, whatever scopes a token
    /// carries (used where asking the client for another token is not possible, such as the
    /// source of a cross-repository mount, and to tell "ask for a better token" from "denied").
    pub async fn live_actions(
        &self,
        creds: &Credentials,
        repo: &RepoName,
    ) -> Result<BTreeSet<Action>> {
        match creds {
            Credentials::Bearer(claims) => match self.principal_of(claims).await? {
                Some(p) => self.grant(&p, repo).await,
                None => self.grant(&Principal::anonymous(), repo).await,
            },
            other => self.actions_on(other, repo).await,
        }
    }

    async fn grant(&self, p: &Principal, repo: &RepoName) -> Result<BTreeSet<Action>> {
        let registry = self
            .tenancy
            .get_registry(repo.org(), repo.registry())
            .await?;
        Ok(allowed_actions(p, repo, registry.as_ref()))
    }

    /// Signs a registry token for `principal` with what it may have of `scopes`.
    pub async fn issue(&self, principal: &Principal, scopes: &[Scope]) -> Result<(String, Claims)> {
        let mut access = Vec::new();
        for scope in scopes {
            match scope {
                Scope::Repository { name, actions } => {
                    let Ok(repo) = RepoName::parse(name) else {
                        continue;
                    };
                    let allowed = self.grant(principal, &repo).await?;
                    let granted: Vec<String> = actions
                        .intersection(&allowed)
                        .map(|a| a.as_str().to_string())
                        .collect();
                    if !granted.is_empty() {
                        access.push(AccessEntry {
                            kind: "repository".into(),
                            name: repo.to_string(),
                            actions: granted,
                        });
                    }
                }
                Scope::Catalog => {
                    if principal.subject != Subject::Anonymous {
                        access.push(AccessEntry {
                            kind: "registry".into(),
                            name: "catalog".into(),
                            actions: vec!["*".into()],
                        });
                    }
                }
            }
        }
        let now = now_secs();
        let claims = Claims {
            iss: ISSUER.into(),
            sub: principal.subject.claim(),
            aud: self.config.service.clone(),
            exp: now + self.config.token_ttl.as_secs(),
            nbf: now.saturating_sub(5),
            iat: now,
            jti: random_hex(16),
            access,
        };
        let (kid, key) = self.keys.signing.as_ref().ok_or_else(|| {
            Error::Storage("this process holds no token signing key (verify-only)".into())
        })?;
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid.clone());
        header.typ = Some("JWT".into());
        let token = jsonwebtoken::encode(&header, &claims, key)
            .map_err(|e| Error::Storage(format!("signing a token: {e}")))?;
        Ok((token, claims))
    }

    /// Verifies a registry token: Ed25519 signature by a known key, issuer, audience, time.
    pub fn verify(&self, token: &str) -> Result<Claims> {
        let invalid = || Error::Unauthorized("invalid or expired token".into());
        if let Some(c) = self.verified.get(token) {
            let now = now_secs();
            // The same leeway as the full check below.
            return if c.exp + 30 > now && c.nbf <= now + 30 {
                Ok((*c).clone())
            } else {
                Err(invalid())
            };
        }
        let claims = self.verify_signature(token)?;
        self.verified.put(token, Arc::new(claims.clone()));
        Ok(claims)
    }

    fn verify_signature(&self, token: &str) -> Result<Claims> {
        let invalid = || Error::Unauthorized("invalid or expired token".into());
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid())?;
        if header.alg != Algorithm::EdDSA {
            return Err(invalid());
        }
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.keys.verifying.get(kid))
            .ok_or_else(invalid)?;
        let mut v = Validation::new(Algorithm::EdDSA);
        v.set_audience(&[&self.config.service]);
        v.set_issuer(&[ISSUER]);
        v.validate_nbf = true;
        v.leeway = 30;
        jsonwebtoken::decode::<Claims>(token, key, &v)
            .map(|d| d.claims)
            .map_err(|_| invalid())
    }

    /// Whether a token claims to be signed by one of Stowage's keys.
    fn is_own_token(&self, token: &str) -> bool {
        jsonwebtoken::decode_header(token)
            .ok()
            .and_then(|h| h.kid)
            .is_some_and(|kid| self.keys.verifying.contains_key(&kid))
    }

    /// The realm URL of the token endpoint for a request with these headers.
    pub fn realm(&self, headers: &HeaderMap) -> String {
        if let Some(base) = &self.config.public_url {
            return format!("{}/v2/token", base.trim_end_matches('/'));
        }
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| h.bytes().all(|b| b.is_ascii_graphic()) && !h.contains('"'))
            .unwrap_or("localhost");
        let proto = match headers
            .get("x-forwarded-proto")
            .and_then(|h| h.to_str().ok())
        {
            Some("https") => "https",
            _ => "http",
        };
        format!("{proto}://{host}/v2/token")
    }

    /// `WWW-Authenticate` for a challenge, with the scope the request needs.
    pub fn challenge(
        &self,
        headers: &HeaderMap,
        scope: Option<&str>,
        error: Option<&str>,
    ) -> HeaderValue {
        let mut v = format!(
            "Bearer realm=\"{}\",service=\"{}\"",
            self.realm(headers),
            self.config.service
        );
        if let Some(s) = scope {
            v.push_str(&format!(",scope=\"{s}\""));
        }
        if let Some(e) = error {
            v.push_str(&format!(",error=\"{e}\""));
        }
        HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
    }
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// The scope string a client must request for `action` on `repo` (push implies pull, as
/// docker asks).
pub fn scope_for(repo: &RepoName, action: Action) -> String {
    let actions = match action {
        Action::Pull => "pull",
        Action::Push => "pull,push",
        Action::Delete => "delete",
    };
    format!("repository:{repo}:{actions}")
}

/// Whether a role is at least `min`.
pub fn at_least(role: Option<Role>, min: Role) -> bool {
    role.is_some_and(|r| r >= min)
}
