//! [`SqliteStore`] as the tenancy, users, API token and audit store.

use crate::sqlite::SqliteStore;
use async_trait::async_trait;
use rusqlite::{OptionalExtension, Row, params};
use stowage_core::Result;
use stowage_core::ports::{ApiTokens, Audit, AuditFilter, Tenancy, Users};
use stowage_core::tenancy::{
    ApiTokenRecord, AuditEvent, Invitation, InvitationState, Membership, OrgInfo, OrgName,
    RegistryInfo, RegistryName, RegistrySettings, Role, UserName, UserRecord,
};

fn conv<T>(v: Option<T>) -> rusqlite::Result<T> {
    v.ok_or_else(|| {
        rusqlite::Error::InvalidColumnType(0, "value".into(), rusqlite::types::Type::Text)
    })
}

fn org(s: String) -> rusqlite::Result<OrgName> {
    conv(OrgName::parse(&s).ok())
}

fn user(s: String) -> rusqlite::Result<UserName> {
    conv(UserName::parse(&s).ok())
}

fn role(s: String) -> rusqlite::Result<Role> {
    conv(Role::parse(&s))
}

fn registry_row(r: &Row) -> rusqlite::Result<RegistryInfo> {
    Ok(RegistryInfo {
        org: org(r.get(0)?)?,
        name: conv(RegistryName::parse(&r.get::<_, String>(1)?).ok())?,
        settings: RegistrySettings {
            public_read: r.get(2)?,
            immutable_tags: r.get(3)?,
        },
        created_at: r.get(4)?,
    })
}

const REGISTRY_COLS: &str = "org, name, public_read, immutable_tags, created_at";

fn invitation_row(r: &Row) -> rusqlite::Result<Invitation> {
    Ok(Invitation {
        id: r.get(0)?,
        org: org(r.get(1)?)?,
        email: r.get(2)?,
        role: role(r.get(3)?)?,
        invited_by: user(r.get(4)?)?,
        created_at: r.get(5)?,
        expires_at: r.get(6)?,
        state: conv(InvitationState::parse(&r.get::<_, String>(7)?))?,
    })
}

const INVITATION_COLS: &str = "id, org, email, role, invited_by, created_at, expires_at, state";

fn token_row(r: &Row) -> rusqlite::Result<ApiTokenRecord> {
    Ok(ApiTokenRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        org: org(r.get(2)?)?,
        role: role(r.get(3)?)?,
        registry: r
            .get::<_, Option<String>>(4)?
            .map(|s| conv(RegistryName::parse(&s).ok()))
            .transpose()?,
        created_by: user(r.get(5)?)?,
        created_at: r.get(6)?,
        expires_at: r.get(7)?,
        last_used_at: r.get(8)?,
        revoked_at: r.get(9)?,
        secret_sha256: r.get(10)?,
    })
}

const TOKEN_COLS: &str = "id, name, org, role, registry, created_by, created_at, expires_at, last_used_at, revoked_at, secret_sha256";

fn user_row(r: &Row) -> rusqlite::Result<UserRecord> {
    Ok(UserRecord {
        name: user(r.get(0)?)?,
        email: r.get(1)?,
        password_hash: r.get(2)?,
        created_at: r.get(3)?,
    })
}

#[async_trait]
impl Tenancy for SqliteStore {
    async fn create_org(&self, org: &OrgName, owner: &UserName, now: i64) -> Result<bool> {
        let (o, u) = (org.to_string(), owner.to_string());
        self.write(move |tx| {
            let n = tx.execute(
                "INSERT OR IGNORE INTO orgs (name, created_at) VALUES (?1, ?2)",
                params![o, now],
            )?;
            if n == 0 {
                return Ok(false);
            }
            tx.execute(
                "INSERT OR REPLACE INTO members (org, user, role) VALUES (?1, ?2, 'admin')",
                params![o, u],
            )?;
            Ok(true)
        })
        .await
    }

    async fn get_org(&self, org: &str) -> Result<Option<OrgInfo>> {
        self.read(|c| {
            c.query_row(
                "SELECT name, created_at FROM orgs WHERE name = ?1",
                [org],
                |r| {
                    Ok(OrgInfo {
                        name: self::org(r.get(0)?)?,
                        created_at: r.get(1)?,
                    })
                },
            )
            .optional()
        })
    }

    async fn create_registry(&self, info: &RegistryInfo) -> Result<bool> {
        let i = info.clone();
        self.write(move |tx| {
            Ok(tx.execute(
                "INSERT OR IGNORE INTO registries (org, name, public_read, immutable_tags, created_at)
                 SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM orgs WHERE name = ?1)",
                params![
                    i.org.as_str(),
                    i.name.as_str(),
                    i.settings.public_read,
                    i.settings.immutable_tags,
                    i.created_at
                ],
            )? > 0)
        })
        .await
    }

    async fn get_registry(&self, org: &str, name: &str) -> Result<Option<RegistryInfo>> {
        self.read(|c| {
            c.prepare_cached(&format!(
                "SELECT {REGISTRY_COLS} FROM registries WHERE org = ?1 AND name = ?2"
            ))?
            .query_row(params![org, name], registry_row)
            .optional()
        })
    }

    async fn list_registries(&self, org: &OrgName) -> Result<Vec<RegistryInfo>> {
        self.read(|c| {
            c.prepare_cached(&format!(
                "SELECT {REGISTRY_COLS} FROM registries WHERE org = ?1 ORDER BY name"
            ))?
            .query_map([org.as_str()], registry_row)?
            .collect()
        })
    }

    async fn update_registry(
        &self,
        org: &OrgName,
        name: &RegistryName,
        settings: RegistrySettings,
    ) -> Result<bool> {
        let (o, n) = (org.to_string(), name.to_string());
        self.write(move |tx| {
            Ok(tx.execute(
                "UPDATE registries SET public_read = ?3, immutable_tags = ?4 WHERE org = ?1 AND name = ?2",
                params![o, n, settings.public_read, settings.immutable_tags],
            )? > 0)
        })
        .await
    }

    async fn delete_registry(&self, org: &OrgName, name: &RegistryName) -> Result<bool> {
        let (o, n) = (org.to_string(), name.to_string());
        self.write(move |tx| {
            Ok(tx.execute(
                "DELETE FROM registries WHERE org = ?1 AND name = ?2",
                params![o, n],
            )? > 0)
        })
        .await
    }

    async fn set_member(&self, org: &OrgName, user: &UserName, role: Role) -> Result<()> {
        let (o, u) = (org.to_string(), user.to_string());
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO members (org, user, role) VALUES (?1, ?2, ?3)
                 ON CONFLICT (org, user) DO UPDATE SET role = excluded.role",
                params![o, u, role.as_str()],
            )?;
            Ok(())
        })
        .await
    }

    async fn remove_member(&self, org: &OrgName, user: &UserName) -> Result<bool> {
        let (o, u) = (org.to_string(), user.to_string());
        self.write(move |tx| {
            Ok(tx.execute(
                "DELETE FROM members WHERE org = ?1 AND user = ?2",
                params![o, u],
            )? > 0)
        })
        .await
    }

    async fn member_role(&self, org: &str, user: &UserName) -> Result<Option<Role>> {
        self.read(|c| {
            c.prepare_cached("SELECT role FROM members WHERE org = ?1 AND user = ?2")?
                .query_row(params![org, user.as_str()], |r| role(r.get(0)?))
                .optional()
        })
    }

    async fn memberships(&self, user: &UserName) -> Result<Vec<Membership>> {
        self.read(|c| {
            c.prepare_cached("SELECT org, user, role FROM members WHERE user = ?1 ORDER BY org")?
                .query_map([user.as_str()], |r| {
                    Ok(Membership {
                        org: org(r.get(0)?)?,
                        user: self::user(r.get(1)?)?,
                        role: role(r.get(2)?)?,
                    })
                })?
                .collect()
        })
    }

    async fn members(&self, org: &OrgName) -> Result<Vec<Membership>> {
        self.read(|c| {
            c.prepare_cached("SELECT org, user, role FROM members WHERE org = ?1 ORDER BY user")?
                .query_map([org.as_str()], |r| {
                    Ok(Membership {
                        org: self::org(r.get(0)?)?,
                        user: user(r.get(1)?)?,
                        role: role(r.get(2)?)?,
                    })
                })?
                .collect()
        })
    }

    async fn create_invitation(&self, i: &Invitation) -> Result<()> {
        let i = i.clone();
        self.write(move |tx| {
            tx.execute(
                &format!("INSERT INTO invitations ({INVITATION_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
                params![
                    i.id,
                    i.org.as_str(),
                    i.email,
                    i.role.as_str(),
                    i.invited_by.as_str(),
                    i.created_at,
                    i.expires_at,
                    i.state.as_str()
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn get_invitation(&self, id: &str) -> Result<Option<Invitation>> {
        self.read(|c| {
            c.query_row(
                &format!("SELECT {INVITATION_COLS} FROM invitations WHERE id = ?1"),
                [id],
                invitation_row,
            )
            .optional()
        })
    }

    async fn list_invitations(&self, org: &OrgName) -> Result<Vec<Invitation>> {
        self.read(|c| {
            c.prepare(&format!(
                "SELECT {INVITATION_COLS} FROM invitations WHERE org = ?1 ORDER BY created_at, id"
            ))?
            .query_map([org.as_str()], invitation_row)?
            .collect()
        })
    }

    async fn invitations_for(&self, email: &str) -> Result<Vec<Invitation>> {
        self.read(|c| {
            c.prepare(&format!(
                "SELECT {INVITATION_COLS} FROM invitations WHERE email = ?1 AND state = 'pending' ORDER BY created_at, id"
            ))?
            .query_map([email], invitation_row)?
            .collect()
        })
    }

    async fn set_invitation_state(
        &self,
        id: &str,
        from: InvitationState,
        to: InvitationState,
    ) -> Result<bool> {
        let id = id.to_string();
        self.write(move |tx| {
            Ok(tx.execute(
                "UPDATE invitations SET state = ?3 WHERE id = ?1 AND state = ?2",
                params![id, from.as_str(), to.as_str()],
            )? > 0)
        })
        .await
    }
}

#[async_trait]
impl Users for SqliteStore {
    async fn create_user(&self, u: &UserRecord) -> Result<bool> {
        let u = u.clone();
        self.write(move |tx| {
            Ok(tx.execute(
                "INSERT OR IGNORE INTO users (name, email, password_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![u.name.as_str(), u.email, u.password_hash, u.created_at],
            )? > 0)
        })
        .await
    }

    async fn get_user(&self, name: &UserName) -> Result<Option<UserRecord>> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT name, email, password_hash, created_at FROM users WHERE name = ?1",
            )?
            .query_row([name.as_str()], user_row)
            .optional()
        })
    }

    async fn list_users(&self) -> Result<Vec<UserRecord>> {
        self.read(|c| {
            c.prepare("SELECT name, email, password_hash, created_at FROM users ORDER BY name")?
                .query_map([], user_row)?
                .collect()
        })
    }

    async fn set_password_hash(&self, name: &UserName, hash: &str) -> Result<bool> {
        let (n, h) = (name.to_string(), hash.to_string());
        self.write(move |tx| {
            Ok(tx.execute(
                "UPDATE users SET password_hash = ?2 WHERE name = ?1",
                params![n, h],
            )? > 0)
        })
        .await
    }
}

#[async_trait]
impl ApiTokens for SqliteStore {
    async fn create_token(&self, t: &ApiTokenRecord) -> Result<()> {
        let t = t.clone();
        self.write(move |tx| {
            tx.execute(
                &format!("INSERT INTO api_tokens ({TOKEN_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"),
                params![
                    t.id,
                    t.name,
                    t.org.as_str(),
                    t.role.as_str(),
                    t.registry.as_ref().map(|r| r.as_str().to_string()),
                    t.created_by.as_str(),
                    t.created_at,
                    t.expires_at,
                    t.last_used_at,
                    t.revoked_at,
                    t.secret_sha256
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn get_token(&self, id: &str) -> Result<Option<ApiTokenRecord>> {
        self.read(|c| {
            c.prepare_cached(&format!(
                "SELECT {TOKEN_COLS} FROM api_tokens WHERE id = ?1"
            ))?
            .query_row([id], token_row)
            .optional()
        })
    }

    async fn list_tokens(&self, org: &OrgName) -> Result<Vec<ApiTokenRecord>> {
        self.read(|c| {
            c.prepare(&format!(
                "SELECT {TOKEN_COLS} FROM api_tokens WHERE org = ?1 ORDER BY created_at, id"
            ))?
            .query_map([org.as_str()], token_row)?
            .collect()
        })
    }

    async fn revoke_token(&self, org: &OrgName, id: &str, now: i64) -> Result<bool> {
        let (o, id) = (org.to_string(), id.to_string());
        self.write(move |tx| {
            Ok(tx.execute(
                "UPDATE api_tokens SET revoked_at = ?3 WHERE org = ?1 AND id = ?2 AND revoked_at IS NULL",
                params![o, id, now],
            )? > 0)
        })
        .await
    }

    async fn touch_token(&self, id: &str, now: i64) -> Result<()> {
        let id = id.to_string();
        self.write(move |tx| {
            tx.execute(
                "UPDATE api_tokens SET last_used_at = ?2 WHERE id = ?1",
                params![id, now],
            )?;
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl Audit for SqliteStore {
    async fn record(&self, events: &[AuditEvent]) -> Result<()> {
        let events = events.to_vec();
        self.write(move |tx| {
            let mut q = tx.prepare_cached(
                "INSERT INTO audit (at, org, actor, action, target, source_ip, user_agent)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for e in &events {
                q.execute(params![
                    e.at,
                    e.org,
                    e.actor,
                    e.action,
                    e.target,
                    e.source_ip,
                    e.user_agent
                ])?;
            }
            Ok(())
        })
        .await
    }

    async fn list_events(
        &self,
        org: &str,
        f: &AuditFilter,
        limit: usize,
    ) -> Result<Vec<AuditEvent>> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT id, at, org, actor, action, target, source_ip, user_agent FROM audit
                 WHERE org = ?1 AND (?2 IS NULL OR actor = ?2) AND (?3 IS NULL OR action = ?3)
                   AND (?4 IS NULL OR id < ?4) AND (?5 IS NULL OR at >= ?5)
                 ORDER BY id DESC LIMIT ?6",
            )?
            .query_map(
                params![org, f.actor, f.action, f.before, f.since, limit as i64],
                |r| {
                    Ok(AuditEvent {
                        id: r.get(0)?,
                        at: r.get(1)?,
                        org: r.get(2)?,
                        actor: r.get(3)?,
                        action: r.get(4)?,
                        target: r.get(5)?,
                        source_ip: r.get(6)?,
                        user_agent: r.get(7)?,
                    })
                },
            )?
            .collect()
        })
    }
}
