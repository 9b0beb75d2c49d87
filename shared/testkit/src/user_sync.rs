//! The user-sync consumer ([`stowage_core::user_sync::on_user_confirmed`]) and invitation
//! acceptance ([`stowage_core::invitations::accept_invitation`]) over a real metadata store, as
//! one suite every adapter implementing [`Tenancy`] and [`Users`] runs.

use std::sync::Arc;
use stowage_core::events::UserConfirmed;
use stowage_core::invitations::{Acceptance, accept_invitation};
use stowage_core::ports::{Tenancy, Users};
use stowage_core::tenancy::{Invitation, InvitationState, OrgName, Role, UserName, UserRecord};
use stowage_core::user_sync::{UserSynced, on_user_confirmed};

const NOW: i64 = 1_767_225_600;

fn org(s: &str) -> OrgName {
    OrgName::parse(s).unwrap()
}

fn user(s: &str) -> UserName {
    UserName::parse(s).unwrap()
}

fn invitation(id: &str, o: &str, email: &str, role: Role) -> Invitation {
    Invitation {
        id: id.into(),
        org: org(o),
        email: email.into(),
        role,
        invited_by: user("owner"),
        created_at: NOW - 3600,
        expires_at: NOW + 86_400,
        state: InvitationState::Pending,
    }
}

async fn state(t: &dyn Tenancy, id: &str) -> InvitationState {
    t.get_invitation(id).await.unwrap().unwrap().state
}

async fn roles(t: &dyn Tenancy, u: &str) -> Vec<(String, Role)> {
    t.memberships(&user(u))
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.org.to_string(), m.role))
        .collect()
}

/// Runs every check against a store implementing both ports, starting empty.
pub async fn suite<S: Tenancy + Users>(store: Arc<S>) {
    for o in ["acme", "beta", "gamma", "delta", "epsilon"] {
        assert!(
            store
                .create_org(&org(o), &user("owner"), NOW)
                .await
                .unwrap()
        );
    }
    confirmed_user_gets_profile_and_memberships(&*store, &*store).await;
    no_email_no_invitations(&*store, &*store).await;
    existing_role_is_never_lowered(&*store, &*store).await;
    halfway_run_is_finished_by_the_next(&*store, &*store).await;
    acceptance_that_loses_to_a_revocation_changes_nothing(&*store).await;
}

async fn confirmed_user_gets_profile_and_memberships(u: &dyn Users, t: &dyn Tenancy) {
    let email = "carol@example.com";
    t.create_invitation(&invitation("c-acme", "acme", email, Role::Writer))
        .await
        .unwrap();
    t.create_invitation(&invitation("c-beta", "beta", email, Role::Viewer))
        .await
        .unwrap();
    let mut expired = invitation("c-gamma", "gamma", email, Role::Admin);
    expired.expires_at = NOW - 1;
    t.create_invitation(&expired).await.unwrap();
    t.create_invitation(&invitation("c-delta", "delta", email, Role::Admin))
        .await
        .unwrap();
    assert!(
        t.set_invitation_state(
            "c-delta",
            InvitationState::Pending,
            InvitationState::Revoked
        )
        .await
        .unwrap()
    );
    t.create_invitation(&invitation(
        "other",
        "epsilon",
        "dave@example.com",
        Role::Admin,
    ))
    .await
    .unwrap();

    let event = UserConfirmed {
        username: user("carol"),
        // Cognito keeps the case the user typed; invitations are stored lowercase.
        email: Some(" Carol@Example.COM ".into()),
        at: NOW,
    };
    let first = on_user_confirmed(u, t, &event, NOW + 60).await.unwrap();
    assert_eq!(
        first,
        UserSynced {
            created: true,
            accepted: vec![
                ("c-acme".into(), org("acme"), Role::Writer),
                ("c-beta".into(), org("beta"), Role::Viewer),
            ],
        }
    );
    assert_eq!(
        u.get_user(&user("carol")).await.unwrap(),
        Some(UserRecord {
            name: user("carol"),
            email: Some(email.into()),
            password_hash: None,
            created_at: NOW,
        })
    );
    let expected_roles = vec![("acme".into(), Role::Writer), ("beta".into(), Role::Viewer)];
    assert_eq!(roles(t, "carol").await, expected_roles);
    assert_eq!(state(t, "c-acme").await, InvitationState::Accepted);
    assert_eq!(state(t, "c-beta").await, InvitationState::Accepted);
    assert_eq!(
        state(t, "c-gamma").await,
        InvitationState::Pending,
        "expired"
    );
    assert_eq!(state(t, "c-delta").await, InvitationState::Revoked);
    assert_eq!(state(t, "other").await, InvitationState::Pending);

    // At least once: the same event again changes nothing and is not an error.
    let again = on_user_confirmed(u, t, &event, NOW + 120).await.unwrap();
    assert_eq!(again, UserSynced::default());
    assert_eq!(roles(t, "carol").await, expected_roles);
    assert_eq!(
        u.get_user(&user("carol"))
            .await
            .unwrap()
            .unwrap()
            .created_at,
        NOW
    );

    // Processed late: invitations are judged at the time of the confirmation.
    let late = invitation("late", "epsilon", "erin@example.com", Role::Viewer);
    t.create_invitation(&late).await.unwrap();
    let erin = UserConfirmed {
        username: user("erin"),
        email: Some("erin@example.com".into()),
        at: NOW,
    };
    let synced = on_user_confirmed(u, t, &erin, late.expires_at + 3600)
        .await
        .unwrap();
    assert_eq!(
        synced.accepted,
        vec![("late".into(), org("epsilon"), Role::Viewer)]
    );
}

async fn no_email_no_invitations(u: &dyn Users, t: &dyn Tenancy) {
    t.create_invitation(&invitation("f", "acme", "frank@example.com", Role::Admin))
        .await
        .unwrap();
    let event = UserConfirmed {
        username: user("frank"),
        email: None,
        at: NOW,
    };
    let synced = on_user_confirmed(u, t, &event, NOW).await.unwrap();
    assert_eq!(
        synced,
        UserSynced {
            created: true,
            accepted: vec![]
        }
    );
    let frank = u.get_user(&user("frank")).await.unwrap().unwrap();
    assert_eq!((frank.email, frank.password_hash), (None, None));
    assert!(roles(t, "frank").await.is_empty());
    assert_eq!(state(t, "f").await, InvitationState::Pending);
}

async fn existing_role_is_never_lowered(u: &dyn Users, t: &dyn Tenancy) {
    t.set_member(&org("acme"), &user("grace"), Role::Admin)
        .await
        .unwrap();
    t.create_invitation(&invitation("g", "acme", "grace@example.com", Role::Viewer))
        .await
        .unwrap();
    let event = UserConfirmed {
        username: user("grace"),
        email: Some("grace@example.com".into()),
        at: NOW,
    };
    let synced = on_user_confirmed(u, t, &event, NOW).await.unwrap();
    assert_eq!(
        synced.accepted,
        vec![("g".into(), org("acme"), Role::Admin)]
    );
    assert_eq!(roles(t, "grace").await, vec![("acme".into(), Role::Admin)]);
    assert_eq!(state(t, "g").await, InvitationState::Accepted);
}

async fn halfway_run_is_finished_by_the_next(u: &dyn Users, t: &dyn Tenancy) {
    // A first delivery created the profile and one membership, then died.
    t.create_invitation(&invitation("h1", "acme", "heidi@example.com", Role::Writer))
        .await
        .unwrap();
    t.create_invitation(&invitation("h2", "beta", "heidi@example.com", Role::Writer))
        .await
        .unwrap();
    u.create_user(&UserRecord {
        name: user("heidi"),
        email: Some("heidi@example.com".into()),
        password_hash: None,
        created_at: NOW,
    })
    .await
    .unwrap();
    t.set_member(&org("acme"), &user("heidi"), Role::Writer)
        .await
        .unwrap();
    let event = UserConfirmed {
        username: user("heidi"),
        email: Some("heidi@example.com".into()),
        at: NOW,
    };
    let synced = on_user_confirmed(u, t, &event, NOW).await.unwrap();
    assert!(!synced.created);
    assert_eq!(synced.accepted.len(), 2);
    assert_eq!(
        roles(t, "heidi").await,
        vec![("acme".into(), Role::Writer), ("beta".into(), Role::Writer)]
    );
    assert_eq!(state(t, "h1").await, InvitationState::Accepted);
    assert_eq!(state(t, "h2").await, InvitationState::Accepted);
}

async fn acceptance_that_loses_to_a_revocation_changes_nothing(t: &dyn Tenancy) {
    let inv = invitation("i", "gamma", "ivan@example.com", Role::Writer);
    t.create_invitation(&inv).await.unwrap();
    t.set_member(&org("beta"), &user("ivan"), Role::Viewer)
        .await
        .unwrap();
    // Revoked after the caller read it as pending.
    assert!(
        t.set_invitation_state("i", InvitationState::Pending, InvitationState::Revoked)
            .await
            .unwrap()
    );
    assert_eq!(
        accept_invitation(t, &inv, &user("ivan"), NOW)
            .await
            .unwrap(),
        Acceptance::NotPending(InvitationState::Revoked)
    );
    assert_eq!(roles(t, "ivan").await, vec![("beta".into(), Role::Viewer)]);

    // Stale copy, an existing lower role: put back as it was.
    let mut inv2 = invitation("i2", "beta", "ivan@example.com", Role::Admin);
    t.create_invitation(&inv2).await.unwrap();
    assert!(
        t.set_invitation_state("i2", InvitationState::Pending, InvitationState::Declined)
            .await
            .unwrap()
    );
    assert_eq!(
        accept_invitation(t, &inv2, &user("ivan"), NOW)
            .await
            .unwrap(),
        Acceptance::NotPending(InvitationState::Declined)
    );
    assert_eq!(roles(t, "ivan").await, vec![("beta".into(), Role::Viewer)]);

    // Expired, and no longer pending, as the caller read them.
    inv2.state = InvitationState::Declined;
    assert_eq!(
        accept_invitation(t, &inv2, &user("ivan"), NOW)
            .await
            .unwrap(),
        Acceptance::NotPending(InvitationState::Declined)
    );
    let mut old = invitation("i3", "delta", "ivan@example.com", Role::Admin);
    old.expires_at = NOW;
    t.create_invitation(&old).await.unwrap();
    assert_eq!(
        accept_invitation(t, &old, &user("ivan"), NOW)
            .await
            .unwrap(),
        Acceptance::Expired
    );
    assert_eq!(state(t, "i3").await, InvitationState::Pending);
    assert_eq!(roles(t, "ivan").await, vec![("beta".into(), Role::Viewer)]);
}
