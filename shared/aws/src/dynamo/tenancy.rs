//! [`Tenancy`], [`Users`] and [`ApiTokens`] on the table.
//!
//! | item | pk | sk | other keys |
//! |---|---|---|---|
//! | organization | `ORG#<org>` | `ORG` | |
//! | registry | `ORG#<org>` | `REGISTRY#<name>` | |
//! | membership, organization side | `ORG#<org>` | `MEMBER#<user>` | |
//! | membership, user side | `USER#<user>` | `MEMBER#<org>` | |
//! | user | `USER#<user>` | `PROFILE` | gsi1: `USERS` / `<user>` |
//! | invitation | `INVITE#<id>` | `INVITE` | gsi1: `INVITES#<org>` / `<created, 20 digits>#<id>` |
//! | pending invitation, by email (a copy) | `INVITEE#<email>` | `<created, 20 digits>#<id>` | |
//! | API token | `TOKEN#<id>` | `TOKEN` | gsi1: `TOKENS#<org>` / `<created, 20 digits>#<id>` |
//!
//! The two sides of a membership are written and removed together in one transaction; an
//! organization is created with its owner's membership in one transaction conditioned on the
//! organization being new; a registry is created conditioned on its organization existing.
//! Invitation state moves are conditioned on the current state and move the invitation's
//! pending copy in the same transaction (deleted when it leaves `pending`, written when it
//! returns), so the pending-by-email read is one consistent Query and exact. Token revocation
//! is conditioned on the token belonging to the organization and not being revoked yet.
//!
//! The point reads on the request path (`get_registry`, `member_role`, `get_token`,
//! `get_user`) and `invitations_for` (sign-up turns them into memberships) are consistent
//! base-table reads. The listings for management (`list_users`, `list_invitations`,
//! `list_tokens`) query gsi1 and are eventually consistent: an item written a moment ago may
//! be missing, or show its previous state, for a moment.
//!
//! Expiry times of invitations and tokens are stored as `invite_expires_at` and
//! `token_expires_at`, never as the table's TTL attribute `expires_at`: DynamoDB would delete
//! the items. This module never stores a token secret (only its SHA-256, as given) and never
//! logs one.

use super::item::{
    Expr, Item, absent, boolean, get_bool, get_n, get_s, item, key, n, opt_n, opt_s, padded,
    parse_s, present, s, set_opt,
};
use super::ops::{ATTEMPTS, Query, Tx, backoff, contended};
use super::{DynamoStore, GSI1, GSI1PK, GSI1SK, PK, SK};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use stowage_core::ports::{ApiTokens, Tenancy, Users};
use stowage_core::tenancy::{
    ApiTokenRecord, Invitation, InvitationState, Membership, OrgInfo, OrgName, RegistryInfo,
    RegistryName, RegistrySettings, Role, UserName, UserRecord,
};
use stowage_core::{Error, Result};

const CREATED_AT: &str = "created_at";
const PUBLIC_READ: &str = "public_read";
const IMMUTABLE_TAGS: &str = "immutable_tags";
const ORG: &str = "org";
const NAME: &str = "name";
const USER: &str = "user";
const ROLE: &str = "role";
const EMAIL: &str = "email";
const PASSWORD_HASH: &str = "password_hash";
const ID: &str = "id";
const INVITED_BY: &str = "invited_by";
const INVITE_EXPIRES_AT: &str = "invite_expires_at";
const STATE: &str = "state";
const REGISTRY: &str = "registry";
const CREATED_BY: &str = "created_by";
const TOKEN_EXPIRES_AT: &str = "token_expires_at";
const LAST_USED_AT: &str = "last_used_at";
const REVOKED_AT: &str = "revoked_at";
const SECRET_SHA256: &str = "secret_sha256";

fn org_pk(org: &str) -> String {
    format!("ORG#{org}")
}

fn user_pk(user: &str) -> String {
    format!("USER#{user}")
}

fn org_name(item: &Item, attr: &str) -> Result<OrgName> {
    parse_s(item, attr, |v| OrgName::parse(v).ok())
}

fn user_name(item: &Item, attr: &str) -> Result<UserName> {
    parse_s(item, attr, |v| UserName::parse(v).ok())
}

fn role(item: &Item) -> Result<Role> {
    parse_s(item, ROLE, Role::parse)
}

fn registry_from(i: &Item) -> Result<RegistryInfo> {
    Ok(RegistryInfo {
        org: org_name(i, ORG)?,
        name: parse_s(i, NAME, |v| RegistryName::parse(v).ok())?,
        settings: RegistrySettings {
            public_read: get_bool(i, PUBLIC_READ)?,
            immutable_tags: get_bool(i, IMMUTABLE_TAGS)?,
        },
        created_at: get_n(i, CREATED_AT)?,
    })
}

fn membership_from(i: &Item) -> Result<Membership> {
    Ok(Membership {
        org: org_name(i, ORG)?,
        user: user_name(i, USER)?,
        role: role(i)?,
    })
}

/// Both sides of a membership.
fn membership_items(org: &OrgName, user: &UserName, r: Role) -> [Item; 2] {
    let attrs = || {
        [
            (ORG, s(org.as_str())),
            (USER, s(user.as_str())),
            (ROLE, s(r.as_str())),
        ]
    };
    [
        item(org_pk(org.as_str()), format!("MEMBER#{user}"), attrs()),
        item(user_pk(user.as_str()), format!("MEMBER#{org}"), attrs()),
    ]
}

fn invitation_from(i: &Item) -> Result<Invitation> {
    Ok(Invitation {
        id: get_s(i, ID)?.to_string(),
        org: org_name(i, ORG)?,
        email: get_s(i, EMAIL)?.to_string(),
        role: role(i)?,
        invited_by: user_name(i, INVITED_BY)?,
        created_at: get_n(i, CREATED_AT)?,
        expires_at: get_n(i, INVITE_EXPIRES_AT)?,
        state: parse_s(i, STATE, InvitationState::parse)?,
    })
}

fn token_from(i: &Item) -> Result<ApiTokenRecord> {
    Ok(ApiTokenRecord {
        id: get_s(i, ID)?.to_string(),
        name: get_s(i, NAME)?.to_string(),
        org: org_name(i, ORG)?,
        role: role(i)?,
        registry: opt_s(i, REGISTRY)
            .map(|r| {
                RegistryName::parse(r)
                    .map_err(|_| Error::Storage("a stored token's registry is malformed".into()))
            })
            .transpose()?,
        created_by: user_name(i, CREATED_BY)?,
        created_at: get_n(i, CREATED_AT)?,
        expires_at: opt_n(i, TOKEN_EXPIRES_AT)?,
        last_used_at: opt_n(i, LAST_USED_AT)?,
        revoked_at: opt_n(i, REVOKED_AT)?,
        secret_sha256: get_s(i, SECRET_SHA256)?.to_string(),
    })
}

fn user_from(i: &Item) -> Result<UserRecord> {
    Ok(UserRecord {
        name: user_name(i, NAME)?,
        email: opt_s(i, EMAIL).map(str::to_string),
        password_hash: opt_s(i, PASSWORD_HASH).map(str::to_string),
        created_at: get_n(i, CREATED_AT)?,
    })
}

/// Items of partition `pk` whose sort key starts with `prefix`, in sort-key order.
fn in_partition(pk: String, prefix: &str) -> Query {
    Query::new(
        Expr::new("#pk = :pk AND begins_with(#sk, :prefix)")
            .name("#pk", PK)
            .name("#sk", SK)
            .value(":pk", s(pk))
            .value(":prefix", s(prefix)),
    )
}

/// Items of an index partition, in index sort-key order.
fn in_index(index: &'static str, pk_attr: &str, pk: String) -> Query {
    Query::new(
        Expr::new("#pk = :pk")
            .name("#pk", pk_attr)
            .value(":pk", s(pk)),
    )
    .index(index)
}

#[async_trait]
impl Tenancy for DynamoStore {
    async fn create_org(&self, org: &OrgName, owner: &UserName, now: i64) -> Result<bool> {
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                backoff(attempt).await;
            }
            let o = item(
                org_pk(org.as_str()),
                "ORG",
                [(NAME, s(org.as_str())), (CREATED_AT, n(now))],
            );
            let [org_side, user_side] = membership_items(org, owner, Role::Admin);
            let actions = vec![
                self.tx_put(o, Some(absent()))?,
                self.tx_put(org_side, None)?,
                self.tx_put(user_side, None)?,
            ];
            match self.transact(actions).await? {
                Tx::Done => return Ok(true),
                tx if tx.failed_at(0) => return Ok(false),
                Tx::Cancelled(_) => continue,
            }
        }
        Err(contended("create organization"))
    }

    async fn get_org(&self, org: &str) -> Result<Option<OrgInfo>> {
        match self.get(key(org_pk(org), "ORG")).await? {
            Some(i) => Ok(Some(OrgInfo {
                name: org_name(&i, NAME)?,
                created_at: get_n(&i, CREATED_AT)?,
            })),
            None => Ok(None),
        }
    }

    async fn create_registry(&self, info: &RegistryInfo) -> Result<bool> {
        let pk = org_pk(info.org.as_str());
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                backoff(attempt).await;
            }
            let r = item(
                &pk,
                format!("REGISTRY#{}", info.name),
                [
                    (ORG, s(info.org.as_str())),
                    (NAME, s(info.name.as_str())),
                    (PUBLIC_READ, boolean(info.settings.public_read)),
                    (IMMUTABLE_TAGS, boolean(info.settings.immutable_tags)),
                    (CREATED_AT, n(info.created_at)),
                ],
            );
            let actions = vec![
                self.tx_check(key(&pk, "ORG"), present())?,
                self.tx_put(r, Some(absent()))?,
            ];
            match self.transact(actions).await? {
                Tx::Done => return Ok(true),
                tx if tx.any_failed() => return Ok(false),
                Tx::Cancelled(_) => continue,
            }
        }
        Err(contended("create registry"))
    }

    async fn get_registry(&self, org: &str, name: &str) -> Result<Option<RegistryInfo>> {
        self.get(key(org_pk(org), format!("REGISTRY#{name}")))
            .await?
            .as_ref()
            .map(registry_from)
            .transpose()
    }

    async fn list_registries(&self, org: &OrgName) -> Result<Vec<RegistryInfo>> {
        let q = in_partition(org_pk(org.as_str()), "REGISTRY#");
        self.query_all(&q)
            .await?
            .iter()
            .map(registry_from)
            .collect()
    }

    async fn update_registry(
        &self,
        org: &OrgName,
        name: &RegistryName,
        settings: RegistrySettings,
    ) -> Result<bool> {
        self.update(
            key(org_pk(org.as_str()), format!("REGISTRY#{name}")),
            Expr::new("SET #pr = :pr, #it = :it")
                .name("#pr", PUBLIC_READ)
                .value(":pr", boolean(settings.public_read))
                .name("#it", IMMUTABLE_TAGS)
                .value(":it", boolean(settings.immutable_tags)),
            Some(present()),
        )
        .await
    }

    async fn delete_registry(&self, org: &OrgName, name: &RegistryName) -> Result<bool> {
        self.delete(
            key(org_pk(org.as_str()), format!("REGISTRY#{name}")),
            Some(present()),
        )
        .await
    }

    async fn set_member(&self, org: &OrgName, user: &UserName, role: Role) -> Result<()> {
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                backoff(attempt).await;
            }
            let [org_side, user_side] = membership_items(org, user, role);
            let actions = vec![self.tx_put(org_side, None)?, self.tx_put(user_side, None)?];
            if let Tx::Done = self.transact(actions).await? {
                return Ok(());
            }
        }
        Err(contended("set member"))
    }

    async fn remove_member(&self, org: &OrgName, user: &UserName) -> Result<bool> {
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                backoff(attempt).await;
            }
            let actions = vec![
                self.tx_delete(
                    key(org_pk(org.as_str()), format!("MEMBER#{user}")),
                    Some(present()),
                )?,
                self.tx_delete(key(user_pk(user.as_str()), format!("MEMBER#{org}")), None)?,
            ];
            match self.transact(actions).await? {
                Tx::Done => return Ok(true),
                tx if tx.failed_at(0) => return Ok(false),
                Tx::Cancelled(_) => continue,
            }
        }
        Err(contended("remove member"))
    }

    async fn member_role(&self, org: &str, user: &UserName) -> Result<Option<Role>> {
        self.get(key(org_pk(org), format!("MEMBER#{user}")))
            .await?
            .as_ref()
            .map(role)
            .transpose()
    }

    async fn memberships(&self, user: &UserName) -> Result<Vec<Membership>> {
        let q = in_partition(user_pk(user.as_str()), "MEMBER#");
        self.query_all(&q)
            .await?
            .iter()
            .map(membership_from)
            .collect()
    }

    async fn members(&self, org: &OrgName) -> Result<Vec<Membership>> {
        let q = in_partition(org_pk(org.as_str()), "MEMBER#");
        self.query_all(&q)
            .await?
            .iter()
            .map(membership_from)
            .collect()
    }

    async fn create_invitation(&self, inv: &Invitation) -> Result<()> {
        let main = invitation_item(inv);
        let done = if inv.state == InvitationState::Pending {
            // The pending copy is keyed by (email, created, id), all fixed for this id: a
            // refused create never touches another invitation's copy.
            let actions = vec![
                self.tx_put(main, Some(absent()))?,
                self.tx_put(pending_item(inv), None)?,
            ];
            let mut done = false;
            for attempt in 0..ATTEMPTS {
                if attempt > 0 {
                    backoff(attempt).await;
                }
                match self.transact(actions.clone()).await? {
                    Tx::Done => {
                        done = true;
                        break;
                    }
                    tx if tx.failed_at(0) => break,
                    Tx::Cancelled(_) => continue,
                }
            }
            done
        } else {
            self.put(main, Some(absent())).await?
        };
        if done {
            Ok(())
        } else {
            Err(Error::Conflict(format!(
                "invitation {} exists already",
                inv.id
            )))
        }
    }

    async fn get_invitation(&self, id: &str) -> Result<Option<Invitation>> {
        self.get(invitation_key(id))
            .await?
            .as_ref()
            .map(invitation_from)
            .transpose()
    }

    async fn list_invitations(&self, org: &OrgName) -> Result<Vec<Invitation>> {
        let q = in_index(GSI1, GSI1PK, format!("INVITES#{org}"));
        self.query_all(&q)
            .await?
            .iter()
            .map(invitation_from)
            .collect()
    }

    async fn invitations_for(&self, email: &str) -> Result<Vec<Invitation>> {
        let q = Query::new(
            Expr::new("#pk = :pk")
                .name("#pk", PK)
                .value(":pk", s(invitee_pk(email))),
        );
        self.query_all(&q)
            .await?
            .iter()
            .map(invitation_from)
            .collect()
    }

    async fn set_invitation_state(
        &self,
        id: &str,
        from: InvitationState,
        to: InvitationState,
    ) -> Result<bool> {
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                backoff(attempt).await;
            }
            // The invitation tells where its pending copy is.
            let Some(current) = self.get(invitation_key(id)).await? else {
                return Ok(false);
            };
            let mut inv = invitation_from(&current)?;
            if inv.state != from {
                return Ok(false);
            }
            inv.state = to;
            let cond = Expr::new("#state = :from")
                .name("#state", STATE)
                .value(":from", s(from.as_str()));
            let update = Expr::new("SET #state = :to").value(":to", s(to.as_str()));
            let mut actions = vec![self.tx_update(invitation_key(id), update, Some(cond))?];
            match (
                from == InvitationState::Pending,
                to == InvitationState::Pending,
            ) {
                (true, false) => actions.push(self.tx_delete(pending_key(&inv), None)?),
                (false, true) => actions.push(self.tx_put(pending_item(&inv), None)?),
                _ => {}
            }
            match self.transact(actions).await? {
                Tx::Done => return Ok(true),
                tx if tx.failed_at(0) => return Ok(false),
                Tx::Cancelled(_) => continue,
            }
        }
        Err(contended("set invitation state"))
    }
}

fn invitation_key(id: &str) -> Item {
    key(format!("INVITE#{id}"), "INVITE")
}

fn invitee_pk(email: &str) -> String {
    format!("INVITEE#{email}")
}

/// Orders an organization's and an email's invitations by creation, then id.
fn invitation_order(inv: &Invitation) -> String {
    format!("{}#{}", padded(inv.created_at), inv.id)
}

fn invitation_attrs(inv: &Invitation) -> [(&'static str, AttributeValue); 8] {
    [
        (ID, s(&inv.id)),
        (ORG, s(inv.org.as_str())),
        (EMAIL, s(&inv.email)),
        (ROLE, s(inv.role.as_str())),
        (INVITED_BY, s(inv.invited_by.as_str())),
        (CREATED_AT, n(inv.created_at)),
        (INVITE_EXPIRES_AT, n(inv.expires_at)),
        (STATE, s(inv.state.as_str())),
    ]
}

fn invitation_item(inv: &Invitation) -> Item {
    let mut i = item(
        format!("INVITE#{}", inv.id),
        "INVITE",
        invitation_attrs(inv),
    );
    i.insert(GSI1PK.into(), s(format!("INVITES#{}", inv.org)));
    i.insert(GSI1SK.into(), s(invitation_order(inv)));
    i
}

fn pending_key(inv: &Invitation) -> Item {
    key(invitee_pk(&inv.email), invitation_order(inv))
}

/// The copy of a pending invitation under its email address.
fn pending_item(inv: &Invitation) -> Item {
    item(
        invitee_pk(&inv.email),
        invitation_order(inv),
        invitation_attrs(inv),
    )
}

#[async_trait]
impl Users for DynamoStore {
    async fn create_user(&self, user: &UserRecord) -> Result<bool> {
        let mut i = item(
            user_pk(user.name.as_str()),
            "PROFILE",
            [
                (NAME, s(user.name.as_str())),
                (CREATED_AT, n(user.created_at)),
                (GSI1PK, s("USERS")),
                (GSI1SK, s(user.name.as_str())),
            ],
        );
        set_opt(&mut i, EMAIL, user.email.as_deref().map(s));
        set_opt(&mut i, PASSWORD_HASH, user.password_hash.as_deref().map(s));
        self.put(i, Some(absent())).await
    }

    async fn get_user(&self, name: &UserName) -> Result<Option<UserRecord>> {
        self.get(key(user_pk(name.as_str()), "PROFILE"))
            .await?
            .as_ref()
            .map(user_from)
            .transpose()
    }

    async fn list_users(&self) -> Result<Vec<UserRecord>> {
        let q = in_index(GSI1, GSI1PK, "USERS".to_string());
        self.query_all(&q).await?.iter().map(user_from).collect()
    }

    async fn set_password_hash(&self, name: &UserName, hash: &str) -> Result<bool> {
        self.update(
            key(user_pk(name.as_str()), "PROFILE"),
            Expr::new("SET #h = :h")
                .name("#h", PASSWORD_HASH)
                .value(":h", s(hash)),
            Some(present()),
        )
        .await
    }
}

fn token_key(id: &str) -> Item {
    key(format!("TOKEN#{id}"), "TOKEN")
}

#[async_trait]
impl ApiTokens for DynamoStore {
    async fn create_token(&self, t: &ApiTokenRecord) -> Result<()> {
        let mut i = item(
            format!("TOKEN#{}", t.id),
            "TOKEN",
            [
                (ID, s(&t.id)),
                (NAME, s(&t.name)),
                (ORG, s(t.org.as_str())),
                (ROLE, s(t.role.as_str())),
                (CREATED_BY, s(t.created_by.as_str())),
                (CREATED_AT, n(t.created_at)),
                (SECRET_SHA256, s(&t.secret_sha256)),
                (GSI1PK, s(format!("TOKENS#{}", t.org))),
                (GSI1SK, s(format!("{}#{}", padded(t.created_at), t.id))),
            ],
        );
        set_opt(&mut i, REGISTRY, t.registry.as_ref().map(|r| s(r.as_str())));
        set_opt(&mut i, TOKEN_EXPIRES_AT, t.expires_at.map(n));
        set_opt(&mut i, LAST_USED_AT, t.last_used_at.map(n));
        set_opt(&mut i, REVOKED_AT, t.revoked_at.map(n));
        if self.put(i, Some(absent())).await? {
            Ok(())
        } else {
            Err(Error::Conflict(format!("token {} exists already", t.id)))
        }
    }

    async fn get_token(&self, id: &str) -> Result<Option<ApiTokenRecord>> {
        self.get(token_key(id))
            .await?
            .as_ref()
            .map(token_from)
            .transpose()
    }

    async fn list_tokens(&self, org: &OrgName) -> Result<Vec<ApiTokenRecord>> {
        let q = in_index(GSI1, GSI1PK, format!("TOKENS#{org}"));
        self.query_all(&q).await?.iter().map(token_from).collect()
    }

    async fn revoke_token(&self, org: &OrgName, id: &str, now: i64) -> Result<bool> {
        self.update(
            token_key(id),
            Expr::new("SET #rev = :now")
                .name("#rev", REVOKED_AT)
                .value(":now", n(now)),
            Some(
                Expr::new("#org = :org AND attribute_not_exists(#rev)")
                    .name("#org", ORG)
                    .value(":org", s(org.as_str())),
            ),
        )
        .await
    }

    async fn touch_token(&self, id: &str, now: i64) -> Result<()> {
        // A token deleted meanwhile is not recreated (the condition fails quietly).
        self.update(
            token_key(id),
            Expr::new("SET #used = :now")
                .name("#used", LAST_USED_AT)
                .value(":now", n(now)),
            Some(present()),
        )
        .await?;
        Ok(())
    }
}
