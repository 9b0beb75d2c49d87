//! Tenancy: organizations (the access-control boundary), the registries they own, users,
//! memberships with roles, invitations and API tokens, as plain domain types.
//!
//! Who may do what is decided in [`crate::auth`]; storage of these records is behind the
//! [`crate::ports::Tenancy`], [`crate::ports::Users`], [`crate::ports::ApiTokens`] and
//! [`crate::ports::Audit`] ports.

use crate::names::NameError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A name component used for organizations, registries and user names:
/// `[a-z0-9]+((.|_|-)[a-z0-9]+)*`, 2 to 64 characters.
fn valid_slug(s: &str) -> bool {
    let b = s.as_bytes();
    (2..=64).contains(&b.len())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"._-".contains(c))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && !s.contains("..")
        && !s.contains("--")
        && !s.contains("__")
        && !b
            .windows(2)
            .any(|w| b"._-".contains(&w[0]) && b"._-".contains(&w[1]))
}

macro_rules! slug_type {
    ($name:ident, $what:literal) => {
        #[doc = concat!("A validated ", $what, " name.")]
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn parse(s: &str) -> Result<$name, NameError> {
                if valid_slug(s) {
                    Ok($name(s.to_string()))
                } else {
                    Err(NameError::Slug {
                        what: $what,
                        value: s.to_string(),
                    })
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $name::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

slug_type!(OrgName, "organization");
slug_type!(RegistryName, "registry");
slug_type!(UserName, "user");

/// A member's role in an organization. Ordered: each role can do what the one before can.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// List and pull.
    Viewer,
    /// Also push and delete artifacts.
    Writer,
    /// Also manage registries, members, invitations and tokens.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Writer => "writer",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "writer" => Some(Role::Writer),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Settings of one registry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrySettings {
    /// Anyone, signed in or not, may pull.
    pub public_read: bool,
    /// A tag, once set, may not be moved to another manifest or deleted.
    pub immutable_tags: bool,
}

/// A registry: a namespace owned by an organization.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RegistryInfo {
    pub org: OrgName,
    pub name: RegistryName,
    pub settings: RegistrySettings,
    pub created_at: i64,
}

/// An organization.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OrgInfo {
    pub name: OrgName,
    pub created_at: i64,
}

/// A user's membership.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Membership {
    pub org: OrgName,
    pub user: UserName,
    pub role: Role,
}

/// A stored user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRecord {
    pub name: UserName,
    pub email: Option<String>,
    /// A PHC string (argon2id) for local users; `None` for users of an external provider.
    pub password_hash: Option<String>,
    pub created_at: i64,
}

/// A stored API token. The secret itself is never stored, only its SHA-256.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ApiTokenRecord {
    /// Public identifier (part of the token string), 16 lowercase hex characters.
    pub id: String,
    pub name: String,
    pub org: OrgName,
    pub role: Role,
    /// Limited to one registry of the organization, when set.
    pub registry: Option<RegistryName>,
    pub created_by: UserName,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    #[serde(skip)]
    pub secret_sha256: String,
}

/// The state of an invitation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InvitationState {
    Pending,
    Accepted,
    Declined,
    Revoked,
}

impl InvitationState {
    pub fn as_str(self) -> &'static str {
        match self {
            InvitationState::Pending => "pending",
            InvitationState::Accepted => "accepted",
            InvitationState::Declined => "declined",
            InvitationState::Revoked => "revoked",
        }
    }

    pub fn parse(s: &str) -> Option<InvitationState> {
        match s {
            "pending" => Some(InvitationState::Pending),
            "accepted" => Some(InvitationState::Accepted),
            "declined" => Some(InvitationState::Declined),
            "revoked" => Some(InvitationState::Revoked),
            _ => None,
        }
    }
}

/// An invitation to join an organization, addressed by email.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Invitation {
    pub id: String,
    pub org: OrgName,
    pub email: String,
    pub role: Role,
    pub invited_by: UserName,
    pub created_at: i64,
    pub expires_at: i64,
    pub state: InvitationState,
}

/// One audit log entry. Never contains a secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Assigned by the store, increasing.
    #[serde(default)]
    pub id: i64,
    pub at: i64,
    pub org: Option<String>,
    /// `user:<name>`, `token:<id>` or `anonymous`.
    pub actor: String,
    /// What happened: `push`, `pull`, `delete`, `login`, `login_failed`, `member.set`, …
    pub action: String,
    /// What it happened to (a repository reference, a user, a token id…).
    pub target: String,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        for good in ["acme", "a1", "my-org", "my.org", "my_org", "a-b-c"] {
            assert!(OrgName::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "a",
            "Acme",
            "-acme",
            "acme-",
            "a--b",
            "a.-b",
            "a/b",
            "a b",
            &"a".repeat(65),
        ] {
            assert!(OrgName::parse(bad).is_err(), "{bad}");
        }
        assert!(Role::Admin > Role::Writer && Role::Writer > Role::Viewer);
        assert_eq!(Role::parse("writer"), Some(Role::Writer));
    }
}
