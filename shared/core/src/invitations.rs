//! Accepting an invitation: the one place that turns a pending invitation into a membership,
//! for the management API (a signed-in user accepts) and the user-sync consumer (a user who
//! signs up with an invited email address).
//!
//! It never decides who may accept (the caller has checked that the invitation is addressed to
//! the user's verified email address), and it never lowers a role the user already has.

use crate::error::Result;
use crate::ports::Tenancy;
use crate::tenancy::{Invitation, InvitationState, Role, UserName};

/// What [`accept_invitation`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acceptance {
    /// The invitation is accepted and the user is a member with `role` (the invitation's role,
    /// or the higher one the user already had). Also the answer when a concurrent duplicate of
    /// the same acceptance won the race.
    Accepted { role: Role },
    /// The invitation expired; nothing changed.
    Expired,
    /// The invitation was no longer pending (in the given state); nothing changed.
    NotPending(InvitationState),
}

/// Accepts `invitation` for `user` at time `now` (Unix seconds).
///
/// The membership is written before the invitation leaves the pending state, so a crash in
/// between leaves the invitation pending and a retry finishes the job (a retry of a finished
/// acceptance answers [`Acceptance::NotPending`], changing nothing). When the state change loses
/// a race to a revocation or a decline, the membership is put back as it was.
pub async fn accept_invitation(
    tenancy: &dyn Tenancy,
    invitation: &Invitation,
    user: &UserName,
    now: i64,
) -> Result<Acceptance> {
    if invitation.state != InvitationState::Pending {
        return Ok(Acceptance::NotPending(invitation.state));
    }
    if invitation.expires_at <= now {
        return Ok(Acceptance::Expired);
    }
    let org = &invitation.org;
    let before = tenancy.member_role(org.as_str(), user).await?;
    let role = before.map_or(invitation.role, |r| r.max(invitation.role));
    if before != Some(role) {
        tenancy.set_member(org, user, role).await?;
    }
    if tenancy
        .set_invitation_state(
            &invitation.id,
            InvitationState::Pending,
            InvitationState::Accepted,
        )
        .await?
    {
        return Ok(Acceptance::Accepted { role });
    }
    let now_state = tenancy
        .get_invitation(&invitation.id)
        .await?
        .map_or(InvitationState::Revoked, |i| i.state);
    if now_state == InvitationState::Accepted {
        return Ok(Acceptance::Accepted { role });
    }
    if before != Some(role) {
        match before {
            None => {
                tenancy.remove_member(org, user).await?;
            }
            Some(r) => tenancy.set_member(org, user, r).await?,
        }
    }
    Ok(Acceptance::NotPending(now_state))
}
