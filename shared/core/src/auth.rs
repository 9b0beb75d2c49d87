//! Access decisions: who is asking ([`Principal`]), what they may do to a repository
//! ([`allowed_actions`]), and the registry token spec's scopes ([`Scope`]).
//!
//! Pure functions over tenancy records. The HTTP layer authenticates callers and signs tokens;
//! it asks this module what to grant, and never decides access itself.

use crate::names::RepoName;
use crate::tenancy::{OrgName, RegistryInfo, RegistryName, Role, UserName};
use std::collections::BTreeSet;
use std::fmt;

/// An action on a repository, as the registry token spec names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    Pull,
    Push,
    Delete,
}

impl Action {
    pub const ALL: [Action; 3] = [Action::Pull, Action::Push, Action::Delete];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Pull => "pull",
            Action::Push => "push",
            Action::Delete => "delete",
        }
    }

    pub fn parse(s: &str) -> Option<Action> {
        match s {
            "pull" => Some(Action::Pull),
            "push" => Some(Action::Push),
            "delete" => Some(Action::Delete),
            _ => None,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a role allows on the repositories of its organization.
pub fn role_actions(role: Role) -> BTreeSet<Action> {
    match role {
        Role::Viewer => [Action::Pull].into(),
        Role::Writer | Role::Admin => Action::ALL.into(),
    }
}

/// Who is asking.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    Anonymous,
    User(UserName),
    /// An API token, by its public id.
    Token(String),
}

impl Subject {
    /// How the audit log names it: `user:<name>`, `token:<id>`, `anonymous`.
    pub fn audit_name(&self) -> String {
        match self {
            Subject::Anonymous => "anonymous".into(),
            Subject::User(u) => format!("user:{u}"),
            Subject::Token(id) => format!("token:{id}"),
        }
    }

    /// The `sub` claim of a registry token.
    pub fn claim(&self) -> String {
        self.audit_name()
    }

    pub fn from_claim(s: &str) -> Option<Subject> {
        if s == "anonymous" {
            return Some(Subject::Anonymous);
        }
        if let Some(u) = s.strip_prefix("user:") {
            return UserName::parse(u).ok().map(Subject::User);
        }
        s.strip_prefix("token:")
            .map(|id| Subject::Token(id.to_string()))
    }
}

/// An authenticated caller and the roles it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub subject: Subject,
    /// Organizations and the role held in each.
    pub roles: Vec<(OrgName, Role)>,
    /// For an API token limited to one registry.
    pub only_registry: Option<RegistryName>,
}

impl Principal {
    pub fn anonymous() -> Principal {
        Principal {
            subject: Subject::Anonymous,
            roles: Vec::new(),
            only_registry: None,
        }
    }

    /// The role held in `org`, if any.
    pub fn role_in(&self, org: &str) -> Option<Role> {
        self.roles
            .iter()
            .find(|(o, _)| o.as_str() == org)
            .map(|(_, r)| *r)
    }
}

/// What `principal` may do to `repo`. `registry` is the repository's registry if it exists.
///
/// Members get their role's actions even when the registry does not exist (the registry then
/// answers `NAME_UNKNOWN` itself); everyone gets `pull` on a public-read registry; nobody else
/// gets anything, so a name in a foreign organization and a name that does not exist are
/// indistinguishable.
pub fn allowed_actions(
    principal: &Principal,
    repo: &RepoName,
    registry: Option<&RegistryInfo>,
) -> BTreeSet<Action> {
    registry_actions(principal, repo.org(), repo.registry(), registry)
}

/// What `principal` may do to everything in registry `org/name` (the Python index of a
/// registry, its repositories). The same rules as [`allowed_actions`].
pub fn registry_actions(
    principal: &Principal,
    org: &str,
    name: &str,
    registry: Option<&RegistryInfo>,
) -> BTreeSet<Action> {
    let mut out = BTreeSet::new();
    let registry_ok = principal
        .only_registry
        .as_ref()
        .is_none_or(|r| r.as_str() == name);
    if registry_ok && let Some(role) = principal.role_in(org) {
        out.extend(role_actions(role));
    }
    if registry.is_some_and(|r| r.settings.public_read) {
        out.insert(Action::Pull);
    }
    out
}

/// A scope requested from the token endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// `repository:<name>:<actions>`; `*` stands for every action.
    Repository {
        name: String,
        actions: BTreeSet<Action>,
    },
    /// `registry:catalog:*`.
    Catalog,
}

/// Parses the `scope` parameter(s) of a token request (space-separated scopes). Scopes of
/// unknown types or with unknown actions are ignored (nothing is granted for them).
pub fn parse_scopes<'a>(params: impl IntoIterator<Item = &'a str>) -> Vec<Scope> {
    let mut out = Vec::new();
    for param in params {
        for scope in param.split_whitespace() {
            let mut parts = scope.splitn(2, ':');
            let kind = parts.next().unwrap_or("");
            let rest = parts.next().unwrap_or("");
            let Some((name, actions)) = rest.rsplit_once(':') else {
                continue;
            };
            match kind {
                "repository" => {
                    let actions: BTreeSet<Action> = if actions == "*" {
                        Action::ALL.into()
                    } else {
                        actions.split(',').filter_map(Action::parse).collect()
                    };
                    out.push(Scope::Repository {
                        name: name.to_string(),
                        actions,
                    });
                }
                "registry" if name == "catalog" => out.push(Scope::Catalog),
                _ => {}
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenancy::RegistrySettings;

    fn org(s: &str) -> OrgName {
        OrgName::parse(s).unwrap()
    }

    fn repo(s: &str) -> RepoName {
        RepoName::parse(s).unwrap()
    }

    fn registry(public: bool) -> RegistryInfo {
        RegistryInfo {
            org: org("acme"),
            name: RegistryName::parse("prod").unwrap(),
            settings: RegistrySettings {
                public_read: public,
                immutable_tags: false,
            },
            created_at: 0,
        }
    }

    #[test]
    fn grants_follow_roles_and_visibility() {
        let viewer = Principal {
            subject: Subject::User(UserName::parse("vi").unwrap()),
            roles: vec![(org("acme"), Role::Viewer)],
            only_registry: None,
        };
        let writer = Principal {
            roles: vec![(org("acme"), Role::Writer)],
            ..viewer.clone()
        };
        let outsider = Principal {
            roles: vec![(org("globex"), Role::Admin)],
            ..viewer.clone()
        };
        let token = Principal {
            subject: Subject::Token("t".into()),
            roles: vec![(org("acme"), Role::Writer)],
            only_registry: Some(RegistryName::parse("dev").unwrap()),
        };
        let r = repo("acme/prod/app");
        let private = registry(false);
        let public = registry(true);
        let pull: BTreeSet<_> = [Action::Pull].into();
        assert_eq!(allowed_actions(&viewer, &r, Some(&private)), pull);
        assert_eq!(
            allowed_actions(&writer, &r, Some(&private)),
            Action::ALL.into()
        );
        assert_eq!(allowed_actions(&writer, &r, None), Action::ALL.into());
        assert!(allowed_actions(&outsider, &r, Some(&private)).is_empty());
        assert!(allowed_actions(&outsider, &r, None).is_empty());
        assert_eq!(allowed_actions(&outsider, &r, Some(&public)), pull);
        assert!(allowed_actions(&Principal::anonymous(), &r, Some(&private)).is_empty());
        assert_eq!(
            allowed_actions(&Principal::anonymous(), &r, Some(&public)),
            pull
        );
        assert!(
            allowed_actions(&token, &r, Some(&private)).is_empty(),
            "token limited to dev"
        );
        assert_eq!(
            allowed_actions(&token, &repo("acme/dev/app"), None),
            Action::ALL.into()
        );
    }

    #[test]
    fn scopes() {
        let s = parse_scopes([
            "repository:acme/prod/app:pull,push registry:catalog:*",
            "repository:acme/prod/x:*",
            "repository:acme/prod/y:bogus",
            "weird",
        ]);
        assert_eq!(s.len(), 4);
        assert_eq!(
            s[0],
            Scope::Repository {
                name: "acme/prod/app".into(),
                actions: [Action::Pull, Action::Push].into()
            }
        );
        assert_eq!(s[1], Scope::Catalog);
        assert!(matches!(&s[2], Scope::Repository { actions, .. } if actions.len() == 3));
        assert!(matches!(&s[3], Scope::Repository { actions, .. } if actions.is_empty()));
        assert_eq!(
            Subject::from_claim("user:alice"),
            Some(Subject::User(UserName::parse("alice").unwrap()))
        );
    }
}
