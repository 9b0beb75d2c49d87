//! The [`Tenancy`], [`Users`], [`ApiTokens`] and [`Audit`] contracts, as one suite every
//! metadata adapter runs.

use std::sync::Arc;
use stowage_core::ports::{ApiTokens, Audit, AuditFilter, Tenancy, Users};
use stowage_core::tenancy::{
    ApiTokenRecord, AuditEvent, Invitation, InvitationState, OrgName, RegistryInfo, RegistryName,
    RegistrySettings, Role, UserName, UserRecord,
};

fn org(s: &str) -> OrgName {
    OrgName::parse(s).unwrap()
}

fn user(s: &str) -> UserName {
    UserName::parse(s).unwrap()
}

/// Runs every check against a store implementing the four ports, starting empty.
pub async fn suite<S: Tenancy + Users + ApiTokens + Audit>(store: Arc<S>) {
    users(&*store).await;
    orgs_registries_members(&*store).await;
    invitations(&*store).await;
    api_tokens(&*store).await;
    audit(&*store).await;
}

async fn users(u: &dyn Users) {
    let alice = UserRecord {
        name: user("alice"),
        email: Some("alice@example.com".into()),
        password_hash: Some("$argon2id$fake".into()),
        created_at: 10,
    };
    assert!(u.create_user(&alice).await.unwrap());
    assert!(!u.create_user(&alice).await.unwrap(), "names are unique");
    assert_eq!(
        u.get_user(&user("alice")).await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(u.get_user(&user("nobody")).await.unwrap(), None);
    assert!(
        u.set_password_hash(&user("alice"), "$argon2id$new")
            .await
            .unwrap()
    );
    assert!(!u.set_password_hash(&user("nobody"), "x").await.unwrap());
    assert_eq!(
        u.get_user(&user("alice"))
            .await
            .unwrap()
            .unwrap()
            .password_hash
            .as_deref(),
        Some("$argon2id$new")
    );
    let bob = UserRecord {
        name: user("bob"),
        email: None,
        password_hash: None,
        created_at: 11,
    };
    u.create_user(&bob).await.unwrap();
    let names: Vec<String> = u
        .list_users()
        .await
        .unwrap()
        .iter()
        .map(|u| u.name.to_string())
        .collect();
    assert_eq!(names, ["alice", "bob"]);
}

async fn orgs_registries_members(t: &dyn Tenancy) {
    assert!(t.create_org(&org("acme"), &user("alice"), 5).await.unwrap());
    assert!(
        !t.create_org(&org("acme"), &user("bob"), 6).await.unwrap(),
        "exists"
    );
    assert_eq!(
        t.member_role("acme", &user("alice")).await.unwrap(),
        Some(Role::Admin),
        "owner is admin"
    );
    assert_eq!(
        t.member_role("acme", &user("bob")).await.unwrap(),
        None,
        "a refused create adds nobody"
    );
    assert_eq!(t.get_org("acme").await.unwrap().unwrap().created_at, 5);
    assert!(t.get_org("globex").await.unwrap().is_none());

    let prod = RegistryInfo {
        org: org("acme"),
        name: RegistryName::parse("prod").unwrap(),
        settings: RegistrySettings {
            public_read: false,
            immutable_tags: true,
        },
        created_at: 7,
    };
    assert!(t.create_registry(&prod).await.unwrap());
    assert!(!t.create_registry(&prod).await.unwrap());
    let orphan = RegistryInfo {
        org: org("globex"),
        ..prod.clone()
    };
    assert!(
        !t.create_registry(&orphan).await.unwrap(),
        "the organization must exist"
    );
    assert_eq!(
        t.get_registry("acme", "prod").await.unwrap(),
        Some(prod.clone())
    );
    assert_eq!(t.get_registry("acme", "dev").await.unwrap(), None);
    let public = RegistrySettings {
        public_read: true,
        immutable_tags: false,
    };
    assert!(
        t.update_registry(&org("acme"), &prod.name, public)
            .await
            .unwrap()
    );
    assert_eq!(
        t.get_registry("acme", "prod")
            .await
            .unwrap()
            .unwrap()
            .settings,
        public
    );
    assert_eq!(t.list_registries(&org("acme")).await.unwrap().len(), 1);

    t.set_member(&org("acme"), &user("bob"), Role::Viewer)
        .await
        .unwrap();
    t.set_member(&org("acme"), &user("bob"), Role::Writer)
        .await
        .unwrap();
    assert_eq!(
        t.member_role("acme", &user("bob")).await.unwrap(),
        Some(Role::Writer)
    );
    t.create_org(&org("globex"), &user("bob"), 8).await.unwrap();
    let bobs: Vec<(String, Role)> = t
        .memberships(&user("bob"))
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.org.to_string(), m.role))
        .collect();
    assert_eq!(
        bobs,
        [
            ("acme".into(), Role::Writer),
            ("globex".into(), Role::Admin)
        ]
    );
    assert_eq!(t.members(&org("acme")).await.unwrap().len(), 2);
    assert!(t.remove_member(&org("acme"), &user("bob")).await.unwrap());
    assert!(!t.remove_member(&org("acme"), &user("bob")).await.unwrap());
    assert!(t.delete_registry(&org("acme"), &prod.name).await.unwrap());
    assert!(!t.delete_registry(&org("acme"), &prod.name).await.unwrap());
}

async fn invitations(t: &dyn Tenancy) {
    let inv = Invitation {
        id: "inv1".into(),
        org: org("acme"),
        email: "carol@example.com".into(),
        role: Role::Viewer,
        invited_by: user("alice"),
        created_at: 1,
        expires_at: 1000,
        state: InvitationState::Pending,
    };
    t.create_invitation(&inv).await.unwrap();
    assert_eq!(t.get_invitation("inv1").await.unwrap(), Some(inv.clone()));
    assert_eq!(
        t.list_invitations(&org("acme")).await.unwrap(),
        vec![inv.clone()]
    );
    assert_eq!(
        t.invitations_for("carol@example.com").await.unwrap().len(),
        1
    );
    assert!(
        t.set_invitation_state("inv1", InvitationState::Pending, InvitationState::Accepted)
            .await
            .unwrap()
    );
    assert!(
        !t.set_invitation_state("inv1", InvitationState::Pending, InvitationState::Declined)
            .await
            .unwrap(),
        "only from the expected state"
    );
    assert!(
        t.invitations_for("carol@example.com")
            .await
            .unwrap()
            .is_empty(),
        "only pending ones"
    );
}

async fn api_tokens(s: &dyn ApiTokens) {
    let t = ApiTokenRecord {
        id: "0123456789abcdef".into(),
        name: "ci".into(),
        org: org("acme"),
        role: Role::Writer,
        registry: Some(RegistryName::parse("prod").unwrap()),
        created_by: user("alice"),
        created_at: 1,
        expires_at: Some(100),
        last_used_at: None,
        revoked_at: None,
        secret_sha256: "ab".repeat(32),
    };
    s.create_token(&t).await.unwrap();
    assert_eq!(s.get_token(&t.id).await.unwrap(), Some(t.clone()));
    s.touch_token(&t.id, 50).await.unwrap();
    assert_eq!(
        s.get_token(&t.id).await.unwrap().unwrap().last_used_at,
        Some(50)
    );
    assert_eq!(s.list_tokens(&org("acme")).await.unwrap().len(), 1);
    assert!(s.list_tokens(&org("globex")).await.unwrap().is_empty());
    assert!(
        !s.revoke_token(&org("globex"), &t.id, 60).await.unwrap(),
        "only within its org"
    );
    assert!(s.revoke_token(&org("acme"), &t.id, 60).await.unwrap());
    assert!(
        !s.revoke_token(&org("acme"), &t.id, 61).await.unwrap(),
        "once"
    );
    assert_eq!(
        s.get_token(&t.id).await.unwrap().unwrap().revoked_at,
        Some(60)
    );
}

async fn audit(a: &dyn Audit) {
    let ev = |i: i64, actor: &str, action: &str| AuditEvent {
        id: 0,
        at: i,
        org: Some("acme".into()),
        actor: actor.into(),
        action: action.into(),
        target: format!("t{i}"),
        source_ip: Some("127.0.0.1".into()),
        user_agent: Some("test".into()),
    };
    a.record(&[
        ev(1, "user:alice", "push"),
        ev(2, "user:bob", "pull"),
        ev(3, "user:alice", "pull"),
    ])
    .await
    .unwrap();
    a.record(&[AuditEvent {
        org: Some("globex".into()),
        ..ev(4, "user:x", "push")
    }])
    .await
    .unwrap();
    let all = a
        .list_events("acme", &AuditFilter::default(), 10)
        .await
        .unwrap();
    let targets: Vec<&str> = all.iter().map(|e| e.target.as_str()).collect();
    assert_eq!(
        targets,
        ["t3", "t2", "t1"],
        "newest first, one organization"
    );
    assert!(all[0].id > all[1].id);
    let alice = AuditFilter {
        actor: Some("user:alice".into()),
        ..Default::default()
    };
    assert_eq!(a.list_events("acme", &alice, 10).await.unwrap().len(), 2);
    let pulls = AuditFilter {
        action: Some("pull".into()),
        ..Default::default()
    };
    assert_eq!(a.list_events("acme", &pulls, 10).await.unwrap().len(), 2);
    let page = AuditFilter {
        before: Some(all[0].id),
        ..Default::default()
    };
    let older = a.list_events("acme", &page, 1).await.unwrap();
    assert_eq!(older.len(), 1);
    assert_eq!(older[0].target, "t2");
}
