//! Domain events: facts other parts of the system react to later, published through the
//! [`crate::ports::Events`] port (SQS in AWS, a tokio channel locally).
//!
//! The wire format is one JSON object per event, with the event's `type`, the `version` of
//! that type's schema, and the event's fields beside them:
//!
//! ```json
//! {"type":"UserConfirmed","version":1,"username":"carol","email":"carol@example.com","at":1767225600}
//! {"type":"ManifestPushed","version":1,"repo":"acme/prod/app","digest":"sha256:…","tags":["v1"],"at":1767225600}
//! ```
//!
//! Times are Unix seconds. How the format evolves: a new optional field is added without a
//! version change (readers ignore fields they do not know, and give absent optional fields
//! their default); anything else (a field removed, renamed or given a new meaning) raises that
//! type's version. A reader refuses a version newer than it knows with a clear error, so such a
//! message is retried and lands in the dead-letter queue instead of being misread.
//!
//! Delivery is at least once: every consumer must be idempotent.
//!
//! What this module must never do: carry a secret (a password, a token) in an event, or decide
//! anything about transport. Events may carry an email address, so they are never logged
//! whole at `info` level (log [`DomainEvent::kind`] instead).

use crate::digest::Digest;
use crate::names::{RepoName, Tag};
use crate::tenancy::UserName;
use serde::{Deserialize, Serialize};

/// A user finished signing up (in Cognito: the post-confirmation trigger).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserConfirmed {
    pub username: UserName,
    /// The user's email address, only when the identity provider verified it.
    #[serde(default)]
    pub email: Option<String>,
    /// When the user was confirmed (Unix seconds).
    pub at: i64,
}

/// A manifest was stored (for the vulnerability scanner).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestPushed {
    pub repo: RepoName,
    pub digest: Digest,
    /// Tags the push pointed at the manifest (empty for a push by digest).
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// When it was pushed (Unix seconds).
    pub at: i64,
}

/// Every domain event. The serde form is the wire format described in the module docs.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(remote = "Self", tag = "type")]
pub enum DomainEvent {
    UserConfirmed(UserConfirmed),
    ManifestPushed(ManifestPushed),
}

impl DomainEvent {
    /// The event's `type` on the wire (safe to log).
    pub fn kind(&self) -> &'static str {
        match self {
            DomainEvent::UserConfirmed(_) => "UserConfirmed",
            DomainEvent::ManifestPushed(_) => "ManifestPushed",
        }
    }

    /// The schema version written for this event's type.
    pub fn version(&self) -> u32 {
        latest_version(self.kind()).unwrap_or(1)
    }

    /// The key events about the same thing share (the user, the repository), for transports
    /// that order by key (SQS FIFO message groups). Safe to log.
    pub fn ordering_key(&self) -> &str {
        match self {
            DomainEvent::UserConfirmed(e) => e.username.as_str(),
            DomainEvent::ManifestPushed(e) => e.repo.as_str(),
        }
    }

    /// The event as its JSON wire form.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("an event is strings, numbers and lists of strings")
    }

    /// Reads an event from its JSON wire form.
    pub fn from_json(json: &str) -> Result<DomainEvent, EventError> {
        serde_json::from_str(json).map_err(|e| EventError(e.to_string()))
    }
}

/// Newest schema version of each event type this build reads and writes.
fn latest_version(kind: &str) -> Option<u32> {
    match kind {
        "UserConfirmed" | "ManifestPushed" => Some(1),
        _ => None,
    }
}

/// A message that is not a domain event this build understands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a domain event this version of Stowage reads: {0}")]
pub struct EventError(String);

impl From<EventError> for crate::Error {
    fn from(e: EventError) -> Self {
        crate::Error::BadRequest(e.to_string())
    }
}

impl Serialize for DomainEvent {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Wire<'a, T> {
            #[serde(rename = "type")]
            kind: &'static str,
            version: u32,
            #[serde(flatten)]
            body: &'a T,
        }
        let (kind, version) = (self.kind(), self.version());
        match self {
            DomainEvent::UserConfirmed(body) => Wire {
                kind,
                version,
                body,
            }
            .serialize(s),
            DomainEvent::ManifestPushed(body) => Wire {
                kind,
                version,
                body,
            }
            .serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for DomainEvent {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let value = serde_json::Value::deserialize(d)?;
        let object = value
            .as_object()
            .ok_or_else(|| D::Error::custom("an event is a JSON object"))?;
        let kind = object
            .get("type")
            .and_then(|t| t.as_str())
            .ok_or_else(|| D::Error::custom("the event has no string field `type`"))?;
        let version = object
            .get("version")
            .and_then(|v| v.as_u64())
            .ok_or_else(|| D::Error::custom("the event has no numeric field `version`"))?;
        if let Some(latest) = latest_version(kind)
            && (version == 0 || version > u64::from(latest))
        {
            return Err(D::Error::custom(format!(
                "{kind} version {version} is not understood here (this build reads versions 1 to {latest})"
            )));
        }
        // The derived (remote) form: dispatches on `type`, ignores `version` and unknown fields.
        DomainEvent::deserialize(value).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user_confirmed() -> DomainEvent {
        DomainEvent::UserConfirmed(UserConfirmed {
            username: UserName::parse("carol").unwrap(),
            email: Some("carol@example.com".into()),
            at: 1_767_225_600,
        })
    }

    fn manifest_pushed() -> DomainEvent {
        DomainEvent::ManifestPushed(ManifestPushed {
            repo: RepoName::parse("acme/prod/app").unwrap(),
            digest: Digest::sha256(b"{}"),
            tags: vec![Tag::parse("v1").unwrap(), Tag::parse("latest").unwrap()],
            at: 1_767_225_601,
        })
    }

    #[test]
    fn wire_format() {
        assert_eq!(
            user_confirmed().to_json(),
            r#"{"type":"UserConfirmed","version":1,"username":"carol","email":"carol@example.com","at":1767225600}"#
        );
        let d = Digest::sha256(b"{}");
        assert_eq!(
            serde_json::to_value(manifest_pushed()).unwrap(),
            json!({"type": "ManifestPushed", "version": 1, "repo": "acme/prod/app",
                   "digest": d.to_string(), "tags": ["v1", "latest"], "at": 1_767_225_601})
        );
    }

    #[test]
    fn round_trips() {
        for e in [user_confirmed(), manifest_pushed()] {
            assert_eq!(DomainEvent::from_json(&e.to_json()).unwrap(), e);
        }
    }

    #[test]
    fn tolerates_added_fields_and_absent_optional_ones() {
        let e = DomainEvent::from_json(
            r#"{"type":"UserConfirmed","version":1,"username":"carol","at":5,"locale":"fr"}"#,
        )
        .unwrap();
        assert_eq!(
            e,
            DomainEvent::UserConfirmed(UserConfirmed {
                username: UserName::parse("carol").unwrap(),
                email: None,
                at: 5
            })
        );
    }

    #[test]
    fn refuses_what_it_does_not_understand() {
        let cases = [
            (r#"[1]"#, "JSON object"),
            (r#"{"version":1,"username":"carol","at":5}"#, "`type`"),
            (
                r#"{"type":"UserConfirmed","username":"carol","at":5}"#,
                "`version`",
            ),
            (
                r#"{"type":"UserConfirmed","version":2,"username":"carol","at":5}"#,
                "UserConfirmed version 2 is not understood",
            ),
            (
                r#"{"type":"UserConfirmed","version":0,"username":"carol","at":5}"#,
                "version 0",
            ),
            (
                r#"{"type":"UserDeleted","version":1,"username":"carol","at":5}"#,
                "unknown variant",
            ),
            (
                r#"{"type":"UserConfirmed","version":1,"username":"Carol","at":5}"#,
                "invalid user name",
            ),
            (
                r#"{"type":"ManifestPushed","version":1,"repo":"app","digest":"sha256:00","at":5}"#,
                "invalid digest",
            ),
            (
                &format!(
                    r#"{{"type":"ManifestPushed","version":1,"repo":"app","digest":"{}","at":5}}"#,
                    Digest::sha256(b"")
                ),
                "invalid repository name",
            ),
            (
                &format!(
                    r#"{{"type":"ManifestPushed","version":1,"repo":"a1/b1/c","digest":"{}","tags":["-x"],"at":5}}"#,
                    Digest::sha256(b"")
                ),
                "invalid tag",
            ),
            (r#"{"type":"UserConfirmed","version":1,"at":5}"#, "username"),
            ("not json", "expected"),
        ];
        for (json, needle) in cases {
            let err = DomainEvent::from_json(json).unwrap_err().to_string();
            assert!(err.contains(needle), "{json}: {err}");
        }
    }

    #[test]
    fn kinds_and_keys() {
        assert_eq!(user_confirmed().kind(), "UserConfirmed");
        assert_eq!(user_confirmed().ordering_key(), "carol");
        assert_eq!(manifest_pushed().ordering_key(), "acme/prod/app");
    }
}
