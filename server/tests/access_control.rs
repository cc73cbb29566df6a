//! Access control through the real router: tenants, admins with per-tenant
//! permissions, API tokens, sessions (idle and absolute expiry, revocation,
//! a password change or disable ending the others), admin sign-in
//! throttling, and the cross-site check of cookie-authenticated requests.

mod common;

use axum::body::Body;
use axum::http::{header, HeaderMap, Request, StatusCode};
use common::ADMIN_PASSWORD;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

struct Api {
    router: axum::Router,
    service: std::sync::Arc<dirbridge::service::Service>,
    _data: tempfile::TempDir,
}

impl Api {
    async fn new() -> Api {
        let (service, data) = common::service().await;
        let router = dirbridge::http::router(
            service.clone(),
            dirbridge::http::leptos_options("127.0.0.1:3000".parse().expect("addr")),
        );
        Api { router, service, _data: data }
    }

    async fn send(&self, req: Request<Body>) -> (StatusCode, Value, HeaderMap) {
        let resp = self.router.clone().oneshot(req).await.expect("response");
        let (status, headers) = (resp.status(), resp.headers().clone());
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null), headers)
    }

    async fn call(&self, method: &str, uri: &str, token: Option<&str>, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let req = match body {
            Some(b) => req.header(header::CONTENT_TYPE, "application/json").body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .expect("request");
        let (status, value, _) = self.send(req).await;
        (status, value)
    }

    async fn token(&self, username: &str, password: &str) -> String {
        let (status, body) = self
            .call("POST", "/api/v1/auth/token", None, Some(json!({"username": username, "password": password})))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["accessToken"].as_str().expect("token").to_string()
    }
}

fn in_days(days: i64) -> String {
    dirbridge::clock::rfc3339_at(dirbridge::service::unix_now() + days * 86_400)
}

const ANN_PASSWORD: &str = "her own long pass phrase";

/// A super-admin session, tenant `acme`, and admin `ann` who may read it.
async fn with_ann(api: &Api) -> String {
    let root = api.token("admin", ADMIN_PASSWORD).await;
    let (status, _) =
        api.call("POST", "/api/v1/tenants", Some(&root), Some(json!({"slug": "acme", "name": "Acme"}))).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = api
        .call(
            "POST",
            "/api/v1/admins",
            Some(&root),
            Some(json!({"username": "ann", "password": ANN_PASSWORD, "permissions": {"acme": ["read", "test"]}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    root
}

#[tokio::test]
async fn tenants_are_listed_by_permission_renamed_and_deleted_only_when_empty() {
    let api = Api::new().await;
    let root = with_ann(&api).await;
    let (status, body) =
        api.call("POST", "/api/v1/tenants", Some(&root), Some(json!({"slug": "acme", "name": "Again"}))).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) =
        api.call("POST", "/api/v1/tenants", Some(&root), Some(json!({"slug": "Bad Slug", "name": "x"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["fields"][0]["field"], "slug");
    let (status, body) =
        api.call("PUT", "/api/v1/tenants/acme", Some(&root), Some(json!({"slug": "acme", "name": "Acme Corp"}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((body["slug"].as_str(), body["name"].as_str()), (Some("acme"), Some("Acme Corp")));
    assert!(body["createdAt"].as_str().is_some_and(|c| !c.is_empty()));
    let (status, _) =
        api.call("PUT", "/api/v1/tenants/acme", Some(&root), Some(json!({"slug": "other", "name": "x"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the slug is fixed");

    let (_, all) = api.call("GET", "/api/v1/tenants", Some(&root), None).await;
    assert_eq!(all["totalResults"], 2, "{all}");
    let ann = api.token("ann", ANN_PASSWORD).await;
    let (_, mine) = api.call("GET", "/api/v1/tenants", Some(&ann), None).await;
    assert_eq!(mine["tenants"].as_array().map(|t| t.len()), Some(1), "{mine}");
    assert_eq!(mine["tenants"][0]["slug"], "acme");

    // A tenant with a repository cannot go; an empty one can.
    let mut repo = app::presets::new_repository(app::model::Vendor::OpenLdap);
    repo.id = "r1".into();
    repo.name = "R1".into();
    repo.connection.servers = vec!["ldap://127.0.0.1:1".into()];
    repo.connection.bind_dn = Some("cn=x".into());
    repo.connection.bind_password = Some(Some("p".into()));
    repo.users.base_dn = "dc=example,dc=org".into();
    let (status, body) = api
        .call(
            "POST",
            "/api/v1/tenants/acme/repositories",
            Some(&root),
            Some(serde_json::to_value(&repo).expect("json")),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _) = api.call("DELETE", "/api/v1/tenants/acme", Some(&root), None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    api.call("POST", "/api/v1/tenants", Some(&root), Some(json!({"slug": "empty", "name": "Empty"}))).await;
    let (status, _) = api.call("DELETE", "/api/v1/tenants/empty", Some(&root), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = api.call("GET", "/api/v1/tenants/empty", Some(&root), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = api.call("DELETE", "/api/v1/tenants/default", Some(&root), None).await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn admins_act_within_their_grants_and_tokens_within_their_creators() {
    let api = Api::new().await;
    let root = with_ann(&api).await;
    let (status, body) = api
        .call("POST", "/api/v1/admins", Some(&root), Some(json!({"username": "bob", "password": "password1234"})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["fields"][0]["field"], "password");
    let (status, _) = api
        .call(
            "POST",
            "/api/v1/admins",
            Some(&root),
            Some(json!({"username": "bob", "password": "long enough but", "permissions": {"nope": ["read"]}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "grants name existing tenants");
    let (_, listed) = api.call("GET", "/api/v1/admins", Some(&root), None).await;
    let text = listed.to_string();
    assert!(!text.contains("argon2") && !text.contains(ANN_PASSWORD) && !text.contains("password\""), "{text}");

    let ann = api.token("ann", ANN_PASSWORD).await;
    let (status, _) = api.call("GET", "/api/v1/tenants/acme/repositories", Some(&ann), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = api.call("GET", "/api/v1/tenants/default/repositories", Some(&ann), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"], "forbidden");
    let (status, _) = api.call("POST", "/api/v1/tenants/acme/repositories", Some(&ann), Some(json!({}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = api.call("GET", "/api/v1/admins", Some(&ann), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Tokens: at most what ann holds; the secret once.
    let ask = |perms: Value| json!({"name": "ci", "tenant": "acme", "permissions": perms, "expiresAt": in_days(30)});
    let (status, _) = api.call("POST", "/api/v1/tokens", Some(&ann), Some(ask(json!(["configure"])))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = api
        .call(
            "POST",
            "/api/v1/tokens",
            Some(&ann),
            Some(json!({"name": "ci", "tenant": "acme", "permissions": ["read"], "expiresAt": in_days(400)})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "at most a year: {body}");
    let (status, made) = api.call("POST", "/api/v1/tokens", Some(&ann), Some(ask(json!(["read"])))).await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let secret = made["secret"].as_str().expect("secret").to_string();
    let id = made["id"].as_str().expect("id").to_string();
    let (_, listed) = api.call("GET", "/api/v1/tokens", Some(&ann), None).await;
    assert_eq!(listed["totalResults"], 1);
    assert!(!listed.to_string().contains(&secret), "{listed}");
    let (status, _) = api.call("GET", "/api/v1/tenants/acme/users", Some(&secret), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = api.call("POST", "/api/v1/tenants/acme/repositories/r1/test", Some(&secret), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the token holds read only");
    let (status, _) = api.call("POST", "/api/v1/tokens", Some(&secret), Some(ask(json!(["read"])))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a token does not mint tokens");
    // Another admin's token is not found, not revocable.
    let (status, _) = api.call("DELETE", "/api/v1/tokens/tok_none", Some(&ann), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = api.call("DELETE", &format!("/api/v1/tokens/{id}"), Some(&ann), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = api.call("GET", "/api/v1/tenants/acme/users", Some(&secret), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "revoked");

    // A token follows what its owner holds now.
    let (_, made) = api.call("POST", "/api/v1/tokens", Some(&ann), Some(ask(json!(["read"])))).await;
    let secret = made["secret"].as_str().expect("secret").to_string();
    let (status, body) = api
        .call(
            "PUT",
            "/api/v1/admins/ann",
            Some(&root),
            Some(json!({"enabled": true, "permissions": {"acme": ["test"]}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = api.call("GET", "/api/v1/tenants/acme/users", Some(&secret), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Disabled: every session and token of ann ends.
    let (status, _) = api.call("PUT", "/api/v1/admins/ann", Some(&root), Some(json!({"enabled": false}))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = api.call("GET", "/api/v1/auth/me", Some(&ann), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = api.call("GET", "/api/v1/auth/me", Some(&secret), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) =
        api.call("POST", "/api/v1/auth/token", None, Some(json!({"username": "ann", "password": ANN_PASSWORD}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "disabled");
    // Nobody disables or deletes themselves.
    let (status, _) =
        api.call("PUT", "/api/v1/admins/admin", Some(&root), Some(json!({"enabled": false, "superAdmin": true}))).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = api.call("DELETE", "/api/v1/admins/admin", Some(&root), None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = api.call("DELETE", "/api/v1/admins/ann", Some(&root), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_password_change_ends_the_other_sessions_and_tokens_and_sessions_expire() {
    let api = Api::new().await;
    with_ann(&api).await;
    let here = api.token("ann", ANN_PASSWORD).await;
    let elsewhere = api.token("ann", ANN_PASSWORD).await;
    let (_, made) = api
        .call(
            "POST",
            "/api/v1/tokens",
            Some(&here),
            Some(json!({"name": "ci", "tenant": "acme", "permissions": ["read"], "expiresAt": in_days(1)})),
        )
        .await;
    let secret = made["secret"].as_str().expect("secret").to_string();
    let change = |current: &str, new: &str| json!({"currentPassword": current, "newPassword": new});
    let (status, body) =
        api.call("POST", "/api/v1/auth/password", Some(&here), Some(change("wrong", "a new long pass phrase"))).await;
    assert_eq!((status, body["fields"][0]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("currentPassword")));
    let (status, _) = api.call("POST", "/api/v1/auth/password", Some(&here), Some(change(ANN_PASSWORD, "short"))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = api
        .call("POST", "/api/v1/auth/password", Some(&secret), Some(change(ANN_PASSWORD, "a new long pass phrase")))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a token cannot change the password");
    let (status, _) = api
        .call("POST", "/api/v1/auth/password", Some(&here), Some(change(ANN_PASSWORD, "a new long pass phrase")))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(api.call("GET", "/api/v1/auth/me", Some(&here), None).await.0, StatusCode::OK, "this session stays");
    assert_eq!(api.call("GET", "/api/v1/auth/me", Some(&elsewhere), None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(api.call("GET", "/api/v1/auth/me", Some(&secret), None).await.0, StatusCode::UNAUTHORIZED);
    api.token("ann", "a new long pass phrase").await;

    // Logout ends the session.
    assert_eq!(api.call("POST", "/api/v1/auth/logout", Some(&here), None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(api.call("GET", "/api/v1/auth/me", Some(&here), None).await.0, StatusCode::UNAUTHORIZED);

    // Idle for longer than the idle expiry: gone, although not yet at its end.
    let idle = api.token("ann", "a new long pass phrase").await;
    let now = dirbridge::service::unix_now();
    let hash = dirbridge::auth::token_hash(&idle);
    api.service
        .store()
        .touch_session(&hash, now - dirbridge::auth::SESSION_IDLE_SECONDS as i64 - 1)
        .await
        .expect("touch");
    // Forget what was remembered (any credential change does): a logout elsewhere.
    let other = api.token("ann", "a new long pass phrase").await;
    api.call("POST", "/api/v1/auth/logout", Some(&other), None).await;
    assert_eq!(api.call("GET", "/api/v1/auth/me", Some(&idle), None).await.0, StatusCode::UNAUTHORIZED);
    // Past its absolute expiry.
    let old = "an-old-session-secret";
    api.service.store().insert_session(&dirbridge::auth::token_hash(old), "ann", now - 1, now).await.expect("session");
    assert_eq!(api.call("GET", "/api/v1/auth/me", Some(old), None).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn admin_sign_in_is_throttled_before_the_password_is_checked() {
    let api = Api::new().await;
    // Refused (429) after a few failures: spaced out, then held for the window.
    let mut failures = 0;
    loop {
        let (status, _) =
            api.call("POST", "/api/v1/auth/token", None, Some(json!({"username": "admin", "password": "wrong"}))).await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            break;
        }
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        failures += 1;
        assert!(failures <= 4, "never throttled");
    }
    assert!(failures >= 2, "throttled after {failures} failures");
    let req = Request::post("/api/v1/auth/token")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(json!({"username": "admin", "password": ADMIN_PASSWORD}).to_string()))
        .expect("request");
    let (status, body, headers) = api.send(req).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "even the right password waits: {body}");
    assert!(headers.get(header::RETRY_AFTER).is_some());
    // Another account is not held up.
    let (status, _) =
        api.call("POST", "/api/v1/auth/token", None, Some(json!({"username": "ann", "password": "x"}))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn cookie_requests_from_another_site_are_refused_bearer_ones_are_not() {
    let api = Api::new().await;
    let sign_in = Request::post("/_sfn/sign_in")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header("sec-fetch-site", "same-origin")
        .body(Body::from(format!("username=admin&password={ADMIN_PASSWORD}")))
        .expect("request");
    let (_, _, headers) = api.send(sign_in).await;
    let cookie = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(app::port::SESSION_COOKIE))
        .expect("session cookie")
        .split(';')
        .next()
        .expect("pair")
        .to_string();
    assert!(headers.get_all(header::SET_COOKIE).iter().any(|v| {
        let v = v.to_str().unwrap_or("");
        v.contains("HttpOnly") && v.contains("SameSite=Strict")
    }));
    let with = |extra: Option<(&str, &str)>| {
        let mut req = Request::post("/_sfn/list_repositories")
            .header(header::COOKIE, &cookie)
            .header(header::HOST, "console.example")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some((k, v)) = extra {
            req = req.header(k, v);
        }
        req.body(Body::empty()).expect("request")
    };
    assert_eq!(api.send(with(Some(("sec-fetch-site", "same-origin")))).await.0, StatusCode::OK);
    assert_eq!(api.send(with(Some(("origin", "http://console.example")))).await.0, StatusCode::OK);
    let (status, body, _) = api.send(with(Some(("sec-fetch-site", "cross-site")))).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")));
    assert_eq!(api.send(with(Some(("origin", "https://evil.example")))).await.0, StatusCode::FORBIDDEN);
    assert_eq!(api.send(with(Some(("origin", "null")))).await.0, StatusCode::FORBIDDEN);
    // Reads are not state changes; bearer tokens carry no ambient authority.
    let token = api.token("admin", ADMIN_PASSWORD).await;
    let req = Request::post("/api/v1/tenants")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header("sec-fetch-site", "cross-site")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(json!({"slug": "x", "name": "X"}).to_string()))
        .expect("request");
    assert_eq!(api.send(req).await.0, StatusCode::CREATED);
}

#[tokio::test]
async fn every_response_carries_the_security_headers_and_bodies_are_bounded() {
    let api = Api::new().await;
    let (status, _, headers) = api.send(Request::get("/healthz").body(Body::empty()).expect("request")).await;
    assert_eq!(status, StatusCode::OK);
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("x-frame-options", "DENY"),
        ("content-security-policy", "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"),
    ] {
        assert_eq!(headers.get(name).and_then(|v| v.to_str().ok()), Some(value), "{name}");
    }
    let token = api.token("admin", ADMIN_PASSWORD).await;
    let huge = format!("{{\"name\": \"{}\"}}", "x".repeat(dirbridge::http::MAX_BODY_BYTES + 1));
    let req = Request::post("/api/v1/tenants/default/repositories")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(huge))
        .expect("request");
    let (status, _, headers) = api.send(req).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(headers.contains_key("x-content-type-options"));
}

#[tokio::test]
async fn changes_and_sign_ins_are_audited_with_redacted_diffs_and_no_secret_is_stored_in_clear() {
    let api = Api::new().await;
    let root = with_ann(&api).await;
    let bind_secret = "bind-Secret-4711-never-shown";
    let mut repo = app::presets::new_repository(app::model::Vendor::OpenLdap);
    repo.id = "corp".into();
    repo.name = "Corp".into();
    repo.connection.servers = vec!["ldap://127.0.0.1:1".into()];
    repo.connection.bind_dn = Some("cn=x".into());
    repo.connection.bind_password = Some(Some(bind_secret.into()));
    repo.users.base_dn = "dc=example,dc=org".into();
    let body = serde_json::to_value(&repo).expect("json");
    let (status, _) = api.call("POST", "/api/v1/tenants/acme/repositories", Some(&root), Some(body.clone())).await;
    assert_eq!(status, StatusCode::CREATED);
    let mut changed = body.clone();
    changed["name"] = json!("Corp renamed");
    changed["connection"]["bindPassword"] = json!("another-Secret-0815");
    let (status, _) = api.call("PUT", "/api/v1/tenants/acme/repositories/corp", Some(&root), Some(changed)).await;
    assert_eq!(status, StatusCode::OK);
    let (_, token) = api
        .call(
            "POST",
            "/api/v1/tokens",
            Some(&root),
            Some(json!({"name": "ci", "tenant": "acme", "permissions": ["read"], "expiresAt": in_days(1)})),
        )
        .await;
    let token_secret = token["secret"].as_str().expect("secret").to_string();
    api.call("POST", "/api/v1/auth/token", None, Some(json!({"username": "ann", "password": "not hers"}))).await;

    let (status, page) = api.call("GET", "/api/v1/tenants/acme/audit?pageSize=100", Some(&root), None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let entries = page["entries"].as_array().expect("entries");
    let actions: Vec<&str> = entries.iter().filter_map(|e| e["action"].as_str()).collect();
    for wanted in [
        "repository.create",
        "repository.replace",
        "token.create",
        "tenant.create",
        "admin.create",
        "admin.sign_in",
        "admin.sign_in_failed",
    ] {
        assert!(actions.contains(&wanted), "{wanted} missing from {actions:?}");
    }
    let replace = entries.iter().find(|e| e["action"] == "repository.replace").expect("replace");
    assert_eq!(replace["actor"], "admin");
    assert_eq!(replace["target"], "corp");
    assert_eq!(replace["diff"]["name"], json!({"before": "Corp", "after": "Corp renamed"}));
    assert_eq!(replace["diff"]["connection.bindPassword"]["after"], "[redacted]");
    assert!(replace["diff"].get("meta.version").is_none());
    let text = page.to_string();
    for secret in [bind_secret, "another-Secret-0815", token_secret.as_str(), ANN_PASSWORD, "not hers"] {
        assert!(!text.contains(secret), "a secret in the audit log: {secret}");
    }
    // Filters; ann reads acme's entries but not those of no tenant.
    let (_, only) = api.call("GET", "/api/v1/tenants/acme/audit?action=repository", Some(&root), None).await;
    assert_eq!(only["totalResults"], 2, "{only}");
    let (_, future) = api.call("GET", "/api/v1/tenants/acme/audit?since=2999-01-01T00:00:00Z", Some(&root), None).await;
    assert_eq!(future["totalResults"], 0);
    let (status, _) = api.call("GET", "/api/v1/tenants/acme/audit?since=yesterday", Some(&root), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let ann = api.token("ann", ANN_PASSWORD).await;
    let (status, hers) = api.call("GET", "/api/v1/tenants/acme/audit?pageSize=100", Some(&ann), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        hers["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .all(|e| !e["action"].as_str().unwrap_or("").starts_with("admin.")),
        "{hers}"
    );
    // Nothing edits or removes an entry.
    for method in ["PUT", "DELETE", "POST"] {
        assert_eq!(
            api.call(method, "/api/v1/tenants/acme/audit", Some(&root), None).await.0,
            StatusCode::METHOD_NOT_ALLOWED
        );
    }

    // The store's files hold no secret in clear.
    drop(api.router.clone());
    for entry in std::fs::read_dir(api._data.path()).expect("data dir") {
        let path = entry.expect("entry").path();
        let bytes = std::fs::read(&path).expect("read");
        for secret in [bind_secret, "another-Secret-0815", token_secret.as_str(), ANN_PASSWORD, ADMIN_PASSWORD] {
            let found = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
            assert!(!found, "{secret} in clear in {}", path.display());
        }
    }
}

#[tokio::test]
async fn rotate_key_reseals_every_secret_under_a_new_key_that_alone_opens_them() {
    use app::port::Backend;
    let (service, data) = common::service().await;
    let port = dirbridge::service::ServicePort(service.clone());
    let mut repo = app::presets::new_repository(app::model::Vendor::OpenLdap);
    repo.id = "corp".into();
    repo.name = "Corp".into();
    repo.connection.servers = vec!["ldap://127.0.0.1:1".into()];
    repo.connection.bind_dn = Some("cn=x".into());
    repo.connection.bind_password = Some(Some("rotate-Me-secret".into()));
    repo.users.base_dn = "dc=example,dc=org".into();
    port.create_repository("default", repo).await.expect("created");
    drop(port);
    drop(service);
    let key_path = data.path().join("secret.key");
    let old_key: [u8; 32] = std::fs::read(&key_path).expect("key").try_into().expect("32 bytes");

    assert_eq!(dirbridge::rotate_key(data.path()).await.expect("rotated"), 1);
    let new_key: [u8; 32] = std::fs::read(&key_path).expect("key").try_into().expect("32 bytes");
    assert_ne!(old_key, new_key);
    assert!(!dirbridge::crypto::pending_key_path(&key_path).exists());
    let store = dirbridge::store::Store::open_file(&data.path().join("dirbridge.db")).await.expect("store");
    let sealed = store.sealed_secrets().await.expect("secrets");
    let (tenant, id, blob) = &sealed[0];
    let aad = dirbridge::service::Service::aad(tenant, id);
    assert!(
        dirbridge::crypto::SecretBox::from_key(&old_key).open(blob, &aad).is_err(),
        "the old key no longer opens it"
    );
    let plain = dirbridge::crypto::SecretBox::from_key(&new_key).open(blob, &aad).expect("the new key opens it");
    assert!(String::from_utf8_lossy(&plain).contains("rotate-Me-secret"));
    // dirbridge starts on the new key and still has the secret.
    let config = dirbridge::config::Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        data_dir: data.path().to_path_buf(),
        admin_password: None,
        login: Default::default(),
        audit_retention_days: 365,
        metrics_listen: None,
    };
    let service = dirbridge::open(&config).await.expect("starts");
    let stored = dirbridge::service::ServicePort(service).get_repository("default", "corp").await.expect("repository");
    assert!(stored.connection.bind_password_set);
}

#[tokio::test]
async fn metrics_count_requests_logins_and_sign_ins_in_prometheus_text() {
    let api = Api::new().await;
    let root = api.token("admin", ADMIN_PASSWORD).await;
    api.call(
        "POST",
        "/api/v1/tenants/default/login",
        Some(&root),
        Some(json!({"username": "nobody", "password": "x"})),
    )
    .await;
    api.call("GET", "/api/v1/tenants", Some(&root), None).await;
    let req = Request::get("/metrics")
        .header(header::AUTHORIZATION, format!("Bearer {root}"))
        .body(Body::empty())
        .expect("request");
    let resp = api.router.clone().oneshot(req).await.expect("response");
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()[header::CONTENT_TYPE].to_str().unwrap_or("").starts_with("application/openmetrics-text"));
    let text = String::from_utf8(resp.into_body().collect().await.expect("body").to_bytes().to_vec()).expect("utf-8");
    for wanted in [
        r#"dirbridge_http_requests_total{route="/api/v1/tenants",method="GET",status="200"}"#,
        r#"dirbridge_logins_total{outcome="INVALID_CREDENTIALS",repository="-"}"#,
        "dirbridge_http_request_duration_seconds_bucket",
        "dirbridge_login_duration_seconds_bucket",
        "dirbridge_store_bytes ",
    ] {
        assert!(text.contains(wanted), "{wanted} missing from\n{text}");
    }
    assert!(!text.contains(&root), "no credential in the metrics");
    assert_eq!(api.call("GET", "/metrics", None, None).await.0, StatusCode::UNAUTHORIZED);
}
