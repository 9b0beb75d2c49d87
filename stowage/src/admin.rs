//! Admin subcommands: what an operator scripts against a data directory. Each opens the
//! metadata store directly (SQLite in WAL mode, so a running server is fine), does one thing,
//! and prints the result; secrets are printed once, to standard output, and never logged.

use base64::Engine;
use clap::{Args, Subcommand};
use std::io::Read;
use std::path::Path;
use stowage_core::ports::{ApiTokens, Audit, Tenancy, Users};
use stowage_core::tenancy::{
    ApiTokenRecord, AuditEvent, OrgName, RegistryInfo, RegistryName, RegistrySettings, Role,
    UserName, UserRecord,
};

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Users: add, list, change a password.
    #[command(subcommand)]
    User(UserCmd),
    /// Organizations: create, list.
    #[command(subcommand)]
    Org(OrgCmd),
    /// Registries of an organization: create, list, change settings.
    #[command(subcommand)]
    Registry(RegistryCmd),
    /// Members of an organization and their roles.
    #[command(subcommand)]
    Member(MemberCmd),
    /// API tokens for CI and robots.
    #[command(subcommand)]
    Token(TokenCmd),
    /// Token signing keys.
    #[command(subcommand)]
    Keys(KeysCmd),
}

#[derive(Subcommand)]
pub enum UserCmd {
    /// Adds a local user; the password is read from standard input.
    Add {
        name: String,
        #[arg(long)]
        email: Option<String>,
        /// Read the password from standard input (required: passwords never go on a command line).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Lists users.
    List,
    /// Sets a user's password, read from standard input.
    Passwd {
        name: String,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

#[derive(Subcommand)]
pub enum OrgCmd {
    /// Creates an organization with OWNER as its admin.
    Create {
        name: String,
        #[arg(long)]
        owner: String,
    },
    /// Lists the organizations USER belongs to.
    List {
        #[arg(long)]
        user: String,
    },
}

#[derive(Args)]
pub struct SettingsArgs {
    /// Anyone may pull, signed in or not.
    #[arg(long)]
    public: bool,
    /// Tags cannot be moved or deleted once set.
    #[arg(long)]
    immutable_tags: bool,
}

#[derive(Subcommand)]
pub enum RegistryCmd {
    /// Creates ORG/NAME.
    Create {
        /// ORG/NAME
        name: String,
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Replaces the settings of ORG/NAME.
    Set {
        name: String,
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Lists the registries of ORG.
    List { org: String },
}

#[derive(Subcommand)]
pub enum MemberCmd {
    /// Adds USER to ORG with ROLE (viewer, writer, admin), or changes their role.
    Set {
        org: String,
        user: String,
        role: String,
    },
    /// Removes USER from ORG.
    Remove { org: String, user: String },
    /// Lists the members of ORG.
    List { org: String },
}

#[derive(Subcommand)]
pub enum TokenCmd {
    /// Creates an API token for ORG and prints it once.
    Create {
        org: String,
        /// viewer, writer or admin.
        #[arg(long)]
        role: String,
        /// A name to recognise it by.
        #[arg(long)]
        name: String,
        /// Limit it to one registry of the organization.
        #[arg(long)]
        registry: Option<String>,
        /// Days until it expires (default: never).
        #[arg(long)]
        expires_in_days: Option<u32>,
        /// The user creating it (recorded).
        #[arg(long, default_value = "admin")]
        created_by: String,
    },
    /// Lists the tokens of ORG (never their secrets).
    List { org: String },
    /// Revokes token ID of ORG.
    Revoke { org: String, id: String },
}

#[derive(Subcommand)]
pub enum KeysCmd {
    /// Adds a new signing key; it signs from the next server start, older keys keep verifying.
    Rotate,
}

pub fn now() -> i64 {
    stowage_http::auth::now_secs() as i64
}

/// 24 random URL-safe characters.
pub fn random_password() -> String {
    let mut b = [0u8; 18];
    getrandom::fill(&mut b).expect("operating system random source");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn read_password() -> Result<String, String> {
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .map_err(|e| format!("reading the password from standard input: {e}"))?;
    let p = s.trim_end_matches(['\n', '\r']).to_string();
    if p.len() < 8 {
        return Err("passwords have at least 8 characters".into());
    }
    Ok(p)
}

/// Records what an operator did from the command line (actor `cli`).
async fn audit(
    store: &stowage_local::SqliteStore,
    org: Option<&str>,
    action: &str,
    target: String,
) -> Result<(), String> {
    store
        .record(&[AuditEvent {
            id: 0,
            at: now(),
            org: org.map(str::to_string),
            actor: "cli".into(),
            action: action.into(),
            target,
            source_ip: None,
            user_agent: Some("stowage cli".into()),
        }])
        .await
        .map_err(err)
}

/// Users of an external identity provider (Cognito) are not in the local table: say so, and go
/// on (a typo shows up here too).
async fn warn_external(store: &stowage_local::SqliteStore, user: &UserName) -> Result<(), String> {
    if store.get_user(user).await.map_err(err)?.is_none() {
        eprintln!("note: no local user {user}; assuming a user of the external identity provider");
    }
    Ok(())
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn split_registry(s: &str) -> Result<(OrgName, RegistryName), String> {
    let (o, r) = s
        .split_once('/')
        .ok_or_else(|| format!("expected ORG/REGISTRY, got {s:?}"))?;
    Ok((
        OrgName::parse(o).map_err(err)?,
        RegistryName::parse(r).map_err(err)?,
    ))
}

fn role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| format!("unknown role {s:?}: viewer, writer or admin"))
}

pub async fn run(data: &Path, cmd: AdminCommand) -> Result<(), String> {
    if let AdminCommand::Keys(KeysCmd::Rotate) = cmd {
        let key =
            stowage_local::identity::create_signing_key(&data.join("keys"), now()).map_err(err)?;
        println!(
            "new signing key {}; it signs after the next restart",
            key.kid
        );
        return Ok(());
    }
    let store = stowage_local::open_store(data).map_err(err)?;
    match cmd {
        AdminCommand::User(UserCmd::Add { name, email, .. }) => {
            let name = UserName::parse(&name).map_err(err)?;
            let password = read_password()?;
            let hash = stowage_local::identity::hash_password(&password).map_err(err)?;
            let created = store
                .create_user(&UserRecord {
                    name: name.clone(),
                    email,
                    password_hash: Some(hash),
                    created_at: now(),
                })
                .await
                .map_err(err)?;
            if !created {
                return Err(format!("user {name} already exists"));
            }
            audit(&store, None, "user.add", name.to_string()).await?;
            println!("user {name} added");
        }
        AdminCommand::User(UserCmd::List) => {
            for u in store.list_users().await.map_err(err)? {
                println!("{}\t{}", u.name, u.email.unwrap_or_default());
            }
        }
        AdminCommand::User(UserCmd::Passwd { name, .. }) => {
            let name = UserName::parse(&name).map_err(err)?;
            let hash = stowage_local::identity::hash_password(&read_password()?).map_err(err)?;
            if !store.set_password_hash(&name, &hash).await.map_err(err)? {
                return Err(format!("no user {name}"));
            }
            audit(&store, None, "user.passwd", name.to_string()).await?;
            println!("password of {name} changed");
        }
        AdminCommand::Org(OrgCmd::Create { name, owner }) => {
            let org = OrgName::parse(&name).map_err(err)?;
            let owner = UserName::parse(&owner).map_err(err)?;
            warn_external(&store, &owner).await?;
            if !store.create_org(&org, &owner, now()).await.map_err(err)? {
                return Err(format!("organization {org} already exists"));
            }
            audit(
                &store,
                Some(org.as_str()),
                "org.create",
                format!("{org} owner {owner}"),
            )
            .await?;
            println!("organization {org} created; {owner} is its admin");
        }
        AdminCommand::Org(OrgCmd::List { user }) => {
            let user = UserName::parse(&user).map_err(err)?;
            for m in store.memberships(&user).await.map_err(err)? {
                println!("{}\t{}", m.org, m.role);
            }
        }
        AdminCommand::Registry(RegistryCmd::Create { name, settings }) => {
            let (org, name) = split_registry(&name)?;
            let info = RegistryInfo {
                org: org.clone(),
                name: name.clone(),
                settings: RegistrySettings {
                    public_read: settings.public,
                    immutable_tags: settings.immutable_tags,
                },
                created_at: now(),
            };
            if store.get_org(org.as_str()).await.map_err(err)?.is_none() {
                return Err(format!("no organization {org}"));
            }
            if !store.create_registry(&info).await.map_err(err)? {
                return Err(format!("registry {org}/{name} already exists"));
            }
            audit(
                &store,
                Some(org.as_str()),
                "registry.create",
                format!("{org}/{name}"),
            )
            .await?;
            println!("registry {org}/{name} created");
        }
        AdminCommand::Registry(RegistryCmd::Set { name, settings }) => {
            let (org, name) = split_registry(&name)?;
            let s = RegistrySettings {
                public_read: settings.public,
                immutable_tags: settings.immutable_tags,
            };
            if !store.update_registry(&org, &name, s).await.map_err(err)? {
                return Err(format!("no registry {org}/{name}"));
            }
            audit(
                &store,
                Some(org.as_str()),
                "registry.update",
                format!("{org}/{name}"),
            )
            .await?;
            println!("registry {org}/{name} updated");
        }
        AdminCommand::Registry(RegistryCmd::List { org }) => {
            let org = OrgName::parse(&org).map_err(err)?;
            for r in store.list_registries(&org).await.map_err(err)? {
                println!(
                    "{}/{}\tpublic_read={}\timmutable_tags={}",
                    r.org, r.name, r.settings.public_read, r.settings.immutable_tags
                );
            }
        }
        AdminCommand::Member(MemberCmd::Set { org, user, role: r }) => {
            let org = OrgName::parse(&org).map_err(err)?;
            let user = UserName::parse(&user).map_err(err)?;
            let r = role(&r)?;
            if store.get_org(org.as_str()).await.map_err(err)?.is_none() {
                return Err(format!("no organization {org}"));
            }
            warn_external(&store, &user).await?;
            store.set_member(&org, &user, r).await.map_err(err)?;
            audit(
                &store,
                Some(org.as_str()),
                "member.set",
                format!("{user}={r}"),
            )
            .await?;
            println!("{user} is {r} of {org}");
        }
        AdminCommand::Member(MemberCmd::Remove { org, user }) => {
            let org = OrgName::parse(&org).map_err(err)?;
            let user = UserName::parse(&user).map_err(err)?;
            if !store.remove_member(&org, &user).await.map_err(err)? {
                return Err(format!("{user} is not a member of {org}"));
            }
            audit(
                &store,
                Some(org.as_str()),
                "member.remove",
                user.to_string(),
            )
            .await?;
            println!("{user} removed from {org}");
        }
        AdminCommand::Member(MemberCmd::List { org }) => {
            let org = OrgName::parse(&org).map_err(err)?;
            for m in store.members(&org).await.map_err(err)? {
                println!("{}\t{}", m.user, m.role);
            }
        }
        AdminCommand::Token(TokenCmd::Create {
            org,
            role: r,
            name,
            registry,
            expires_in_days,
            created_by,
        }) => {
            let org = OrgName::parse(&org).map_err(err)?;
            if store.get_org(org.as_str()).await.map_err(err)?.is_none() {
                return Err(format!("no organization {org}"));
            }
            let registry = registry
                .map(|r| RegistryName::parse(&r))
                .transpose()
                .map_err(err)?;
            if let Some(reg) = &registry
                && store
                    .get_registry(org.as_str(), reg.as_str())
                    .await
                    .map_err(err)?
                    .is_none()
            {
                return Err(format!("no registry {org}/{reg}"));
            }
            let now = now();
            let record = ApiTokenRecord {
                id: String::new(),
                name,
                org,
                role: role(&r)?,
                registry,
                created_by: UserName::parse(&created_by).map_err(err)?,
                created_at: now,
                expires_at: expires_in_days.map(|d| now + i64::from(d) * 86_400),
                last_used_at: None,
                revoked_at: None,
                secret_sha256: String::new(),
            };
            let (secret, record) = stowage_http::auth::new_api_token(record);
            store.create_token(&record).await.map_err(err)?;
            audit(
                &store,
                Some(record.org.as_str()),
                "token.create",
                format!("{} ({})", record.id, record.role),
            )
            .await?;
            eprintln!(
                "token {} created; the secret below is shown only once",
                record.id
            );
            println!("{secret}");
        }
        AdminCommand::Token(TokenCmd::List { org }) => {
            let org = OrgName::parse(&org).map_err(err)?;
            for t in store.list_tokens(&org).await.map_err(err)? {
                println!("{}", serde_json::to_string(&t).map_err(err)?);
            }
        }
        AdminCommand::Token(TokenCmd::Revoke { org, id }) => {
            let org = OrgName::parse(&org).map_err(err)?;
            if !store.revoke_token(&org, &id, now()).await.map_err(err)? {
                return Err(format!("no active token {id} in {org}"));
            }
            audit(&store, Some(org.as_str()), "token.revoke", id.clone()).await?;
            println!("token {id} revoked");
        }
        AdminCommand::Keys(KeysCmd::Rotate) => unreachable!("handled above"),
    }
    Ok(())
}
