//! The management API as an admin, a member and a robot would use it.

mod common;

use axum::http::{Method, StatusCode};
use common::{Reply, TestApp, basic, test_app};
use serde_json::json;
use stowage_core::registry::Policy;

async fn call(
    t: &TestApp,
    auth: &str,
    method: Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> Reply {
    let mut h = vec![("authorization", auth)];
    if body.is_some() {
        h.push(("content-type", "application/json"));
    }
    let body = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    t.request(method, path, &h, body).await
}

#[tokio::test]
async fn openapi_describes_every_route_and_the_router_serves_them() {
    let t = test_app(Policy::default()).await;
    let r = t
        .request(Method::GET, "/api/v1/openapi.json", &[], vec![])
        .await;
    assert_eq!(r.status, StatusCode::OK, "served without signing in");
    let doc = r.json();
    assert_eq!(doc["openapi"], "3.1.0");
    let admin = basic("admin", common::PASSWORD);
    let mut described = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, _) in item.as_object().unwrap() {
            described += 1;
            let concrete = path
                .replace("{org}", "acme")
                .replace("{reg}", "prod")
                .replace("{repo}", "app")
                .replace("{user}", "tess")
                .replace("{id}", "0000")
                .replace("{project}", "nothere")
                .replace("{file}", "nothere-1.0.tar.gz")
                .replace("{version}", "1.0");
            let m: Method = method.to_uppercase().parse().unwrap();
            let r = call(&t, &admin, m, &concrete, None).await;
            assert!(
                !String::from_utf8_lossy(&r.body).contains("no such endpoint"),
                "{method} {path} is described but not routed"
            );
        }
    }
    assert!(described >= 31, "{described} operations described");
    let r = call(&t, &admin, Method::GET, "/api/v1/nothing", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_admin_manages_registries_members_tokens_and_reads_the_audit_log() {
    let t = test_app(Policy::default()).await;
    let admin = basic("admin", common::PASSWORD);
    let vera = basic("vera", common::PASSWORD);

    // Registries.
    let r = call(
        &t,
        &admin,
        Method::POST,
        "/api/v1/orgs/acme/registries",
        Some(json!({"name": "staging", "public_read": true})),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.json()["public_read"], true);
    let r = call(
        &t,
        &admin,
        Method::POST,
        "/api/v1/orgs/acme/registries",
        Some(json!({"name": "staging"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = call(
        &t,
        &admin,
        Method::POST,
        "/api/v1/orgs/acme/registries",
        Some(json!({"name": "Bad Name"})),
    )
    .await;
    assert_eq!(
        (r.status, r.json()["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid"))
    );
    let r = call(
        &t,
        &admin,
        Method::POST,
        "/api/v1/orgs/acme/registries",
        Some(json!({"nom": 1})),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = call(
        &t,
        &admin,
        Method::PATCH,
        "/api/v1/orgs/acme/registries/staging",
        Some(json!({"immutable_tags": true})),
    )
    .await;
    assert_eq!(
        (
            r.json()["public_read"].clone(),
            r.json()["immutable_tags"].clone()
        ),
        (json!(true), json!(true))
    );
    let r = call(
        &t,
        &vera,
        Method::POST,
        "/api/v1/orgs/acme/registries",
        Some(json!({"name": "mine"})),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "viewers do not create registries"
    );
    let r = call(&t, &vera, Method::GET, "/api/v1/orgs/acme/registries", None).await;
    let names: Vec<String> = r.json()["registries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap().to_string())
        .collect();
    assert!(names.contains(&"staging".to_string()));

    // Members: roles change; the last admin stays.
    let r = call(
        &t,
        &admin,
        Method::PUT,
        "/api/v1/orgs/acme/members/tess",
        Some(json!({"role": "writer"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = call(
        &t,
        &admin,
        Method::PUT,
        "/api/v1/orgs/acme/members/nobody",
        Some(json!({"role": "writer"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = call(
        &t,
        &admin,
        Method::PUT,
        "/api/v1/orgs/acme/members/tess",
        Some(json!({"role": "owner"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = call(
        &t,
        &admin,
        Method::DELETE,
        "/api/v1/orgs/acme/members/admin",
        None,
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::CONFLICT,
        "the last admin cannot leave"
    );
    let r = call(
        &t,
        &admin,
        Method::PUT,
        "/api/v1/orgs/acme/members/admin",
        Some(json!({"role": "viewer"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "nor be demoted");

    // API tokens: the secret appears once, works, and stops working when revoked.
    let r = call(
        &t,
        &admin,
        Method::POST,
        "/api/v1/orgs/acme/tokens",
        Some(json!({"name": "ci", "role": "writer", "registry": "staging"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let secret = r.json()["token"].as_str().unwrap().to_string();
    let id = r.json()["id"].as_str().unwrap().to_string();
    assert!(secret.starts_with("stw_"));
    let list = call(&t, &admin, Method::GET, "/api/v1/orgs/acme/tokens", None).await;
    assert!(
        !String::from_utf8_lossy(&list.body).contains(&secret),
        "listing never shows a secret"
    );
    assert!(!String::from_utf8_lossy(&list.body).contains("secret_sha256"));
    let robot = format!("Bearer {secret}");
    let r = t
        .request(
            Method::POST,
            "/v2/acme/staging/app/blobs/uploads/",
            &[("authorization", &robot)],
            vec![],
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::ACCEPTED,
        "the token pushes to its registry"
    );
    let r = t
        .request(
            Method::POST,
            "/v2/acme/prod/app/blobs/uploads/",
            &[("authorization", &robot)],
            vec![],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "and nowhere else");
    let r = call(
        &t,
        &robot,
        Method::POST,
        "/api/v1/orgs",
        Some(json!({"name": "robots"})),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "tokens do not create organizations"
    );
    let r = call(
        &t,
        &admin,
        Method::DELETE,
        &format!("/api/v1/orgs/acme/tokens/{id}"),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = t
        .request(
            Method::POST,
            "/v2/acme/staging/app/blobs/uploads/",
            &[("authorization", &robot)],
            vec![],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "revoked");
    let r = call(
        &t,
        &admin,
        Method::DELETE,
        &format!("/api/v1/orgs/acme/tokens/{id}"),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "once");

    // Artifacts of a repository.
    let img = stowage_testkit::fixtures::image("api");
    for (d, b) in img.blobs() {
        let r = t
            .request(
                Method::POST,
                &format!("/v2/acme/prod/app/blobs/uploads/?digest={d}"),
                &[("authorization", &admin)],
                b,
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    let r = t
        .request(
            Method::PUT,
            "/v2/acme/prod/app/manifests/v1",
            &[
                ("authorization", &admin),
                ("content-type", stowage_core::manifest::OCI_MANIFEST),
            ],
            img.manifest.clone(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = call(
        &t,
        &vera,
        Method::GET,
        "/api/v1/orgs/acme/registries/prod/repositories",
        None,
    )
    .await;
    assert_eq!(r.json()["repositories"], json!(["acme/prod/app"]));
    let r = call(
        &t,
        &vera,
        Method::GET,
        "/api/v1/orgs/acme/registries/prod/repositories/app",
        None,
    )
    .await;
    let a = &r.json()["artifacts"][0];
    assert_eq!(a["digest"], img.digest.to_string());
    assert_eq!(a["tags"], json!(["v1"]));
    assert_eq!(a["size"], img.manifest.len());
    assert_eq!(a["media_type"], stowage_core::manifest::OCI_MANIFEST);
    let r = call(
        &t,
        &vera,
        Method::GET,
        "/api/v1/orgs/acme/registries/prod/repositories/nothing",
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // The audit log has all of it, filterable and paginated, and no secret.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await; // the batch writer
    let r = call(
        &t,
        &admin,
        Method::GET,
        "/api/v1/orgs/acme/audit?limit=1000",
        None,
    )
    .await;
    let text = String::from_utf8_lossy(&r.body).to_string();
    assert!(
        !text.contains(&secret) && !text.contains(common::PASSWORD),
        "no secret in the audit log"
    );
    let actions: Vec<String> = r.json()["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    for want in [
        "registry.create",
        "registry.update",
        "member.set",
        "token.create",
        "token.revoke",
        "push",
    ] {
        assert!(
            actions.contains(&want.to_string()),
            "{want} missing from {actions:?}"
        );
    }
    let r = call(
        &t,
        &admin,
        Method::GET,
        "/api/v1/orgs/acme/audit?action=token.create",
        None,
    )
    .await;
    assert_eq!(r.json()["events"].as_array().unwrap().len(), 1);
    assert_eq!(r.json()["events"][0]["actor"], "user:admin");
    let r = call(
        &t,
        &admin,
        Method::GET,
        "/api/v1/orgs/acme/audit?limit=2",
        None,
    )
    .await;
    let next = r.json()["next_before"].as_i64().unwrap();
    let r2 = call(
        &t,
        &admin,
        Method::GET,
        &format!("/api/v1/orgs/acme/audit?limit=2&before={next}"),
        None,
    )
    .await;
    assert!(r2.json()["events"][0]["id"].as_i64().unwrap() < next);
    let r = call(&t, &vera, Method::GET, "/api/v1/orgs/acme/audit", None).await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "viewers do not read the audit log"
    );
}

#[tokio::test]
async fn invitations_turn_into_memberships() {
    let t = test_app(Policy::default()).await;
    let admin = basic("admin", common::PASSWORD);
    let tess = basic("tess", common::PASSWORD);
    let r = call(
        &t,
        &admin,
        Method::POST,
        "/api/v1/orgs/acme/invitations",
        Some(json!({"email": "Tess@Example.com", "role": "writer"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let id = r.json()["id"].as_str().unwrap().to_string();
    let r = call(
        &t,
        &admin,
        Method::POST,
        "/api/v1/orgs/acme/invitations",
        Some(json!({"email": "not an email", "role": "writer"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = call(&t, &tess, Method::GET, "/api/v1/invitations", None).await;
    assert_eq!(r.json()["invitations"][0]["id"], id);
    // Someone else cannot answer it.
    let r = call(
        &t,
        &basic("vera", common::PASSWORD),
        Method::POST,
        &format!("/api/v1/invitations/{id}/accept"),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = call(
        &t,
        &tess,
        Method::POST,
        &format!("/api/v1/invitations/{id}/accept"),
        None,
    )
    .await;
    assert_eq!(
        (r.status, r.json()["state"].clone()),
        (StatusCode::OK, json!("accepted"))
    );
    let r = call(&t, &tess, Method::GET, "/api/v1/user", None).await;
    assert_eq!(
        r.json()["memberships"],
        json!([{"org": "acme", "role": "writer"}])
    );
    let r = call(
        &t,
        &tess,
        Method::POST,
        &format!("/api/v1/invitations/{id}/decline"),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "answered once");
    // A revoked invitation cannot be accepted.
    let r = call(
        &t,
        &admin,
        Method::POST,
        "/api/v1/orgs/acme/invitations",
        Some(json!({"email": "tess@example.com", "role": "admin"})),
    )
    .await;
    let id2 = r.json()["id"].as_str().unwrap().to_string();
    let r = call(
        &t,
        &admin,
        Method::DELETE,
        &format!("/api/v1/orgs/acme/invitations/{id2}"),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = call(
        &t,
        &tess,
        Method::POST,
        &format!("/api/v1/invitations/{id2}/accept"),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = call(
        &t,
        &admin,
        Method::GET,
        "/api/v1/orgs/acme/invitations",
        None,
    )
    .await;
    let mut states: Vec<String> = r.json()["invitations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["state"].as_str().unwrap().to_string())
        .collect();
    states.sort();
    assert_eq!(states, ["accepted", "revoked"]);
}

#[tokio::test]
async fn a_user_creates_an_organization_and_becomes_its_admin() {
    let t = test_app(Policy::default()).await;
    let tess = basic("tess", common::PASSWORD);
    let r = call(
        &t,
        &tess,
        Method::POST,
        "/api/v1/orgs",
        Some(json!({"name": "tessco"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = call(
        &t,
        &tess,
        Method::POST,
        "/api/v1/orgs",
        Some(json!({"name": "tessco"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = call(&t, &tess, Method::GET, "/api/v1/orgs/tessco", None).await;
    assert_eq!(r.json()["role"], "admin");
    let r = t.request(Method::GET, "/api/v1/orgs", &[], vec![]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}
