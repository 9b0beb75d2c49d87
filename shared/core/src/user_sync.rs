//! The user-sync consumer: what happens when a user finishes signing up with an external
//! identity provider ([`UserConfirmed`]).
//!
//! It creates the user's profile (no password hash: the provider holds the password) and turns
//! every pending, unexpired invitation addressed to the user's verified email address into a
//! membership ([`crate::invitations::accept_invitation`]).
//!
//! Events arrive at least once, so [`on_user_confirmed`] is idempotent: a second run changes
//! nothing and succeeds; a run that failed halfway is finished by the next. It must never
//! trust an email address the provider did not verify (the event carries only verified ones),
//! and never lower a role a user already has.

use crate::error::Result;
use crate::events::UserConfirmed;
use crate::invitations::{Acceptance, accept_invitation};
use crate::ports::{Tenancy, Users};
use crate::tenancy::{OrgName, Role, UserRecord};

/// What [`on_user_confirmed`] did (safe to log: no email address in it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserSynced {
    /// The profile was created by this run (`false`: it already existed, e.g. a redelivery).
    pub created: bool,
    /// Invitations this run accepted: id, organization, and the role the user now has there.
    pub accepted: Vec<(String, OrgName, Role)>,
}

/// The form in which email addresses are stored and matched: trimmed, ASCII lowercase (as the
/// management API stores invitations).
pub fn normalize_email(email: &str) -> String {
    email.trim().to_ascii_lowercase()
}

/// Applies `event` at time `now` (Unix seconds).
///
/// Invitations are judged at the time of the confirmation (`event.at`, never later than
/// `now`), so an invitation valid when the user confirmed is honoured even if the event is
/// processed after a delay, and a redelivery gives the same result. When the profile already
/// exists it is left as it is (its email address is not changed); invitations are still
/// matched against the verified address in the event.
pub async fn on_user_confirmed(
    users: &dyn Users,
    tenancy: &dyn Tenancy,
    event: &UserConfirmed,
    now: i64,
) -> Result<UserSynced> {
    let as_of = event.at.min(now);
    let email = event
        .email
        .as_deref()
        .map(normalize_email)
        .filter(|e| !e.is_empty());
    let created = users
        .create_user(&UserRecord {
            name: event.username.clone(),
            email: email.clone(),
            password_hash: None,
            created_at: as_of,
        })
        .await?;
    let mut accepted = Vec::new();
    if let Some(email) = email {
        for invitation in tenancy.invitations_for(&email).await? {
            if invitation.email != email {
                continue;
            }
            if let Acceptance::Accepted { role } =
                accept_invitation(tenancy, &invitation, &event.username, as_of).await?
            {
                accepted.push((invitation.id, invitation.org, role));
            }
        }
    }
    Ok(UserSynced { created, accepted })
}
