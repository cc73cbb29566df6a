//! The authorization matrix: every REST route (from the router's own route
//! table) and every server function (from the registry leptos builds) is
//! called with each kind of credential — none, malformed, expired, revoked,
//! another tenant's token, a read-only token, a token with each single
//! permission, a super-admin session — and must answer 401, 403 or neither
//! as its permission says. A route without an entry here fails the test.

mod common;

use app::model::{Permission, Repository};
use app::port::Backend;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use common::ADMIN_PASSWORD;
use dirbridge::service::ServicePort;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use tower::ServiceExt;

/// What a route needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Needs {
    Nothing,
    /// Any valid credential.
    SignedIn,
    /// A signed-in admin's session (not a token).
    Session,
    SuperAdmin,
    /// `read` on any tenant.
    ReadSomewhere,
    /// This permission on the tenant in the path (`default`).
    On(Permission),
}

/// A kind of credential and what it holds on tenant `default`.
struct Credential {
    name: String,
    secret: Option<String>,
    valid: bool,
    session: bool,
    super_admin: bool,
    on_default: Vec<Permission>,
    /// Holds `read` on another tenant.
    reads_elsewhere: bool,
}

impl Credential {
    fn allowed(&self, needs: Needs) -> Result<(), StatusCode> {
        let ok = match needs {
            Needs::Nothing => return Ok(()),
            _ if !self.valid => return Err(StatusCode::UNAUTHORIZED),
            Needs::SignedIn => true,
            Needs::Session => self.session,
            Needs::SuperAdmin => self.super_admin,
            Needs::ReadSomewhere => {
                self.super_admin || self.reads_elsewhere || self.on_default.contains(&Permission::Read)
            }
            Needs::On(p) => self.super_admin || self.on_default.contains(&p),
        };
        if ok {
            Ok(())
        } else {
            Err(StatusCode::FORBIDDEN)
        }
    }
}

async fn call(
    router: &axum::Router,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<(&str, String)>,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let req = match body {
        Some((kind, b)) => req.header(header::CONTENT_TYPE, kind).body(Body::from(b)),
        None => req.body(Body::empty()),
    }
    .expect("request");
    let resp = router.clone().oneshot(req).await.expect("response");
    let status = resp.status();
    // Event streams do not end: their status is all that is needed.
    if resp.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream")) {
        return (status, Value::Null);
    }
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn in_a_month() -> String {
    dirbridge::clock::rfc3339_at(dirbridge::service::unix_now() + 30 * 86_400)
}

fn repository(id: &str) -> Repository {
    let mut r = app::presets::new_repository(app::model::Vendor::OpenLdap);
    r.id = id.into();
    r.name = format!("Repository {id}");
    // Nothing listens there: tests and runs fail fast, permissions are what is tested.
    r.connection.servers = vec!["ldap://127.0.0.1:1".into()];
    r.connection.timeout_seconds = 1;
    r.connection.bind_dn = Some("cn=admin,dc=example,dc=org".into());
    r.connection.bind_password = Some(Some("secret".into()));
    r.users.base_dn = "dc=example,dc=org".into();
    r
}

/// The permission each REST route needs, by "METHOD path".
fn rest_needs() -> BTreeMap<&'static str, Needs> {
    use Needs::*;
    use Permission::*;
    BTreeMap::from([
        ("POST /api/v1/auth/token", Nothing),
        ("GET /api/v1/auth/me", SignedIn),
        ("POST /api/v1/auth/password", Session),
        ("POST /api/v1/auth/logout", SignedIn),
        ("GET /api/v1/tenants", SignedIn),
        ("POST /api/v1/tenants", SuperAdmin),
        ("GET /api/v1/tenants/{tenant}", On(Read)),
        ("PUT /api/v1/tenants/{tenant}", On(Admin)),
        ("DELETE /api/v1/tenants/{tenant}", SuperAdmin),
        ("GET /api/v1/admins", SuperAdmin),
        ("POST /api/v1/admins", SuperAdmin),
        ("GET /api/v1/admins/{username}", SuperAdmin),
        ("PUT /api/v1/admins/{username}", SuperAdmin),
        ("DELETE /api/v1/admins/{username}", SuperAdmin),
        ("GET /api/v1/tokens", SignedIn),
        ("POST /api/v1/tokens", Session),
        ("DELETE /api/v1/tokens/{id}", SignedIn),
        ("GET /api/v1/tenants/{tenant}/audit", On(Read)),
        ("GET /api/v1/tenants/{tenant}/repositories", On(Read)),
        ("POST /api/v1/tenants/{tenant}/repositories", On(Configure)),
        ("GET /api/v1/tenants/{tenant}/repositories/{id}", On(Read)),
        ("PUT /api/v1/tenants/{tenant}/repositories/{id}", On(Configure)),
        ("DELETE /api/v1/tenants/{tenant}/repositories/{id}", On(Configure)),
        ("POST /api/v1/tenants/{tenant}/repositories/{id}/test", On(Test)),
        ("POST /api/v1/tenants/{tenant}/repositories/{id}/preview", On(Test)),
        ("POST /api/v1/tenants/{tenant}/repositories/{id}/sync", On(Sync)),
        ("GET /api/v1/tenants/{tenant}/repositories/{id}/sync-runs", On(Read)),
        ("GET /api/v1/tenants/{tenant}/repositories/{id}/sync-runs/{run}", On(Read)),
        ("GET /api/v1/tenants/{tenant}/repositories/{id}/sync-runs/{run}/events", On(Read)),
        ("GET /api/v1/tenants/{tenant}/repositories/{id}/schedule", On(Read)),
        ("GET /api/v1/tenants/{tenant}/groups", On(Read)),
        ("GET /api/v1/tenants/{tenant}/users", On(Read)),
        ("GET /api/v1/tenants/{tenant}/users/{user}", On(Read)),
        ("POST /api/v1/tenants/{tenant}/users/{user}/sync", On(Sync)),
        ("POST /api/v1/tenants/{tenant}/login", On(Login)),
        ("GET /metrics", ReadSomewhere),
    ])
}

/// The permission each server function needs (they act on tenant `default`).
fn server_fn_needs() -> BTreeMap<&'static str, Needs> {
    use Needs::*;
    use Permission::*;
    BTreeMap::from([
        ("sign_in", Nothing),
        ("sign_out", Nothing),
        ("list_repositories", On(Read)),
        ("get_repository", On(Read)),
        ("create_repository", On(Configure)),
        ("replace_repository", On(Configure)),
        ("delete_repository", On(Configure)),
        ("test_connection", On(Test)),
        ("preview_users", On(Test)),
        ("try_login", On(Test)),
        ("start_sync", On(Sync)),
        ("resync_user", On(Sync)),
        ("next_runs", On(Read)),
        ("list_groups", On(Read)),
        ("sync_runs", On(Read)),
        ("list_users", On(Read)),
        ("get_user", On(Read)),
    ])
}

/// A concrete URI and body for a REST route, on fixtures that exist.
fn rest_request(method: &str, path: &str, n: usize) -> (String, Option<(&'static str, String)>) {
    let uri = path
        .replace("{tenant}", "default")
        .replace("{id}", if method == "DELETE" && path.starts_with("/api/v1/tokens") { "tok_none" } else { "r1" })
        .replace("{run}", "no-such-run")
        .replace("{user}", "no-such-user")
        .replace("{username}", "nobody");
    let j = |v: Value| Some(("application/json", v.to_string()));
    let body = match (method, path) {
        ("POST", "/api/v1/auth/token") => j(json!({"username": "admin", "password": ADMIN_PASSWORD})),
        ("POST", "/api/v1/auth/password") => j(json!({"currentPassword": "not it", "newPassword": "x"})),
        ("POST", "/api/v1/tenants") => j(json!({"slug": format!("t{n}"), "name": "A tenant"})),
        ("PUT", "/api/v1/tenants/{tenant}") => j(json!({"name": "Default"})),
        ("POST", "/api/v1/admins") => {
            j(json!({"username": format!("made{n}"), "password": "a long enough pass phrase"}))
        }
        ("PUT", "/api/v1/admins/{username}") => j(json!({"enabled": true})),
        ("POST", "/api/v1/tokens") => {
            j(json!({"name": "made", "tenant": "default", "permissions": ["read"], "expiresAt": in_a_month()}))
        }
        ("POST", "/api/v1/tenants/{tenant}/repositories") => {
            j(serde_json::to_value(repository(&format!("made{n}"))).expect("json"))
        }
        ("PUT", "/api/v1/tenants/{tenant}/repositories/{id}") => {
            j(serde_json::to_value(repository("r1")).expect("json"))
        }
        ("POST", "/api/v1/tenants/{tenant}/login") => j(json!({"username": "someone", "password": "pw"})),
        _ => None,
    };
    (uri, body)
}

fn server_fn_body(name: &str, n: usize) -> (&'static str, String) {
    let form = "application/x-www-form-urlencoded";
    let json = |v: Value| ("application/json", v.to_string());
    let repo = |id: &str| serde_json::to_value(repository(id)).expect("json");
    match name {
        "sign_in" => (form, format!("username=admin&password={ADMIN_PASSWORD}")),
        "create_repository" => json(json!({"repo": repo(&format!("sfn{n}"))})),
        "replace_repository" => json(json!({"id": "r1", "repo": repo("r1")})),
        "sign_out" | "list_repositories" => (form, String::new()),
        "test_connection" => json(json!({"draft": repo("r1"), "stored_id": "r1", "login": {}})),
        "preview_users" => json(json!({"draft": repo("r1"), "stored_id": "r1"})),
        "try_login" => json(json!({"repository_id": "r1", "username": "u", "password": "p"})),
        "start_sync" => (form, "id=r1&mode=full&force=false".into()),
        "list_groups" | "list_users" => (form, "search=&page=1".into()),
        _ => (form, "id=r1".into()),
    }
}

#[tokio::test]
async fn every_route_and_server_function_answers_each_credential_as_its_permission_says() {
    let (service, _data) = common::service().await;
    let router = dirbridge::http::router(
        service.clone(),
        dirbridge::http::leptos_options("127.0.0.1:3000".parse().expect("addr")),
    );
    let system = ServicePort(service.clone());
    system.create_repository("default", repository("r1")).await.expect("fixture repository");

    let (status, body) = call(
        &router,
        "POST",
        "/api/v1/auth/token",
        None,
        Some(("application/json", json!({"username": "admin", "password": ADMIN_PASSWORD}).to_string())),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let root = body["accessToken"].as_str().expect("session").to_string();
    let (status, _) = call(
        &router,
        "POST",
        "/api/v1/tenants",
        Some(&root),
        Some(("application/json", json!({"slug": "acme", "name": "Acme"}).to_string())),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);

    let mut made = 0;
    let mut token = |tenant: &str, permissions: Vec<Permission>| {
        made += 1;
        let body = json!({"name": format!("t{made}"), "tenant": tenant, "permissions": permissions, "expiresAt": in_a_month()});
        let (router, root) = (router.clone(), root.clone());
        async move {
            let (status, answer) =
                call(&router, "POST", "/api/v1/tokens", Some(&root), Some(("application/json", body.to_string())))
                    .await;
            assert_eq!(status, StatusCode::CREATED, "{answer}");
            assert!(answer["secret"].as_str().is_some_and(|s| s.starts_with("dbt_")), "{answer}");
            (answer["id"].as_str().expect("id").to_string(), answer["secret"].as_str().expect("secret").to_string())
        }
    };

    let valid = |name: &str, secret: String, on_default: Vec<Permission>| Credential {
        name: name.into(),
        secret: Some(secret),
        valid: true,
        session: false,
        super_admin: false,
        on_default,
        reads_elsewhere: false,
    };
    let invalid = |name: &str, secret: Option<String>| Credential {
        name: name.into(),
        secret,
        valid: false,
        session: false,
        super_admin: false,
        on_default: vec![],
        reads_elsewhere: false,
    };
    let mut credentials = vec![
        invalid("no credential", None),
        invalid("malformed", Some("not a token at all".into())),
        invalid("unknown token", Some("dbt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into())),
    ];
    // Expired: stored as one would be, with an expiry in the past.
    let expired_secret = "dbt_expired-secret-for-the-matrix-test-000000";
    let expired = dirbridge::store::tokens::TokenRow {
        id: "tok_expired".into(),
        name: "expired".into(),
        owner: "admin".into(),
        tenant: "default".into(),
        permissions: Permission::ALL.iter().copied().collect(),
        expires_at: dirbridge::service::unix_now() - 60,
        created_at: dirbridge::service::now_rfc3339(),
        revoked_at: None,
    };
    service.store().insert_token(&expired, &dirbridge::auth::token_hash(expired_secret)).await.expect("expired token");
    credentials.push(invalid("expired token", Some(expired_secret.into())));
    let (revoked_id, revoked_secret) = token("default", Permission::ALL.to_vec()).await;
    let (status, _) = call(&router, "DELETE", &format!("/api/v1/tokens/{revoked_id}"), Some(&root), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    credentials.push(invalid("revoked token", Some(revoked_secret)));
    let (_, other) = token("acme", Permission::ALL.to_vec()).await;
    credentials.push(Credential { reads_elsewhere: true, ..valid("another tenant's token", other, vec![]) });
    let (_, read_only) = token("default", vec![Permission::Read]).await;
    credentials.push(valid("read-only token", read_only, vec![Permission::Read]));
    for p in Permission::ALL {
        let (_, secret) = token("default", vec![*p]).await;
        credentials.push(valid(&format!("'{p}' token"), secret, vec![*p]));
    }
    credentials.push(Credential {
        name: "super-admin session".into(),
        secret: Some(root.clone()),
        valid: true,
        session: true,
        super_admin: true,
        on_default: vec![],
        reads_elsewhere: false,
    });

    // The router's own list, checked against the router: every listed
    // method is routed, every other one answers 405.
    let needs = rest_needs();
    let mut routes: Vec<(String, String)> = Vec::new();
    for (methods, path) in dirbridge::http::api_route_list() {
        for method in ["GET", "POST", "PUT", "DELETE"] {
            let (uri, _) = rest_request(method, path, 0);
            let listed = methods.split(' ').any(|m| m == method);
            if !listed {
                let (status, _) = call(&router, method, &uri, Some(&root), None).await;
                assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path} is routed but not listed");
                continue;
            }
            let key = format!("{method} {path}");
            assert!(needs.contains_key(key.as_str()), "no permission entry for {key}: add it to rest_needs()");
            routes.push((method.to_string(), path.to_string()));
        }
    }
    assert_eq!(routes.len(), needs.len(), "entries for routes that do not exist");
    // Logging out ends the credential: last.
    routes.sort_by_key(|(_, path)| path == "/api/v1/auth/logout");

    let fn_needs = server_fn_needs();
    let server_fns: Vec<String> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path.trim_start_matches("/_sfn/").to_string())
        .collect();
    for name in &server_fns {
        assert!(fn_needs.contains_key(name.as_str()), "no permission entry for server function {name}");
    }
    assert_eq!(server_fns.len(), fn_needs.len(), "entries for server functions that do not exist: {server_fns:?}");

    let mut n = 0;
    let mut failures = Vec::new();
    for credential in &credentials {
        let secret = credential.secret.as_deref();
        for name in &server_fns {
            n += 1;
            let (status, body) =
                call(&router, "POST", &format!("/_sfn/{name}"), secret, Some(server_fn_body(name, n))).await;
            check(
                &mut failures,
                credential,
                fn_needs[name.as_str()],
                &format!("server function {name}"),
                status,
                &body,
            );
        }
        for (method, path) in &routes {
            n += 1;
            let (uri, body) = rest_request(method, path, n);
            let (status, answer) = call(&router, method, &uri, secret, body).await;
            check(
                &mut failures,
                credential,
                needs[format!("{method} {path}").as_str()],
                &format!("{method} {path}"),
                status,
                &answer,
            );
        }
    }
    assert!(failures.is_empty(), "{} wrong answers:\n{}", failures.len(), failures.join("\n"));
}

fn check(
    failures: &mut Vec<String>,
    credential: &Credential,
    needs: Needs,
    what: &str,
    status: StatusCode,
    body: &Value,
) {
    let wrong = match credential.allowed(needs) {
        Err(expected) if status != expected => Some(format!("expected {expected}")),
        Err(_) => {
            let kind = if status == StatusCode::UNAUTHORIZED { "unauthorized" } else { "forbidden" };
            (body["error"] != kind).then(|| format!("expected an '{kind}' body"))
        }
        Ok(()) if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN => {
            Some("expected to be allowed".to_string())
        }
        Ok(()) => None,
    };
    if let Some(why) = wrong {
        failures.push(format!("{what} with {}: {status} {body} ({why})", credential.name));
    }
}
