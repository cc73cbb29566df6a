//! The REST API end to end through the real router: auth, every error case
//! of the repository resource, and secrets never leaving the server.

mod common;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use common::{env, repository, ADMIN_PASSWORD};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

struct Api {
    router: axum::Router,
    token: String,
}

async fn call(
    router: &axum::Router,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value, axum::http::HeaderMap) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let req = match body {
        Some(b) => req.header(header::CONTENT_TYPE, "application/json").body(Body::from(b.to_string())),
        None => req.body(Body::empty()),
    }
    .expect("request");
    let resp = router.clone().oneshot(req).await.expect("response");
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    let value =
        serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, value, headers)
}

impl Api {
    async fn new(service: std::sync::Arc<dirbridge::service::Service>) -> Api {
        let router =
            dirbridge::http::router(service, dirbridge::http::leptos_options("127.0.0.1:3000".parse().expect("addr")));
        let (status, body, _) = call(
            &router,
            "POST",
            "/api/v1/auth/token",
            None,
            Some(json!({"username": "admin", "password": ADMIN_PASSWORD})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["tokenType"], "Bearer");
        assert!(body["expiresIn"].as_u64().is_some_and(|s| s > 0));
        let token = body["accessToken"].as_str().expect("token").to_string();
        Api { router, token }
    }
    async fn req(&self, method: &str, uri: &str, body: Option<Value>) -> (StatusCode, Value, axum::http::HeaderMap) {
        call(&self.router, method, uri, Some(&self.token), body).await
    }
}

const REPOS: &str = "/api/v1/tenants/default/repositories";

fn field_names(body: &Value) -> Vec<String> {
    body["fields"]
        .as_array()
        .map(|a| a.iter().filter_map(|f| f["field"].as_str().map(String::from)).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn authentication_is_required_everywhere_but_health_and_token() {
    let e = env(5).await;
    let router = dirbridge::http::router(
        e.service.clone(),
        dirbridge::http::leptos_options("127.0.0.1:3000".parse().expect("addr")),
    );
    assert_eq!(call(&router, "GET", "/healthz", None, None).await.0, StatusCode::OK);
    assert_eq!(call(&router, "GET", "/readyz", None, None).await.0, StatusCode::OK);
    let (s, body, h) = call(&router, "GET", REPOS, None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "unauthorized");
    assert_eq!(h.get(header::WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()), Some("Bearer"));
    assert_eq!(call(&router, "GET", REPOS, Some("forged"), None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(call(&router, "POST", "/_sfn/list_repositories", None, None).await.0, StatusCode::UNAUTHORIZED);
    let (s, _, h) = call(&router, "GET", "/", None, None).await;
    assert!(s.is_redirection() && h.get(header::LOCATION).and_then(|v| v.to_str().ok()) == Some("/login"));
    for (user, pw) in [("admin", "wrong"), ("nobody", ADMIN_PASSWORD), ("", "")] {
        let (s, body, _) =
            call(&router, "POST", "/api/v1/auth/token", None, Some(json!({"username": user, "password": pw}))).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{user}");
        assert_eq!(body["message"], "wrong username or password");
    }
    assert_eq!(call(&router, "GET", "/login", None, None).await.0, StatusCode::OK);
}

#[tokio::test]
async fn repository_crud_and_every_error_case() {
    let e = env(5).await;
    let api = Api::new(e.service.clone()).await;
    let mut repo = serde_json::to_value(repository(&e.slapd, "corp")).expect("json");

    let (s, created, h) = api.req("POST", REPOS, Some(repo.clone())).await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    assert_eq!(
        h.get(header::LOCATION).and_then(|v| v.to_str().ok()),
        Some("/api/v1/tenants/default/repositories/corp")
    );
    assert_eq!(created["meta"]["version"], 1);
    assert_eq!(created["meta"]["resourceOwner"], "default");
    assert_eq!(created["connection"]["bindPasswordSet"], true);
    assert_eq!(created["state"], "active");
    assert_eq!(created["sync"]["pageSize"], 1000, "defaults filled");
    assert_eq!(created["sync"]["deletion"]["policy"], "disable");
    assert_eq!(created["login"]["autoLinking"], "AUTO_LINKING_OPTION_UNSPECIFIED");

    let (s, body, _) = api.req("POST", REPOS, Some(repo.clone())).await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"], "conflict");

    let mut generated = repo.clone();
    generated["id"] = json!("");
    generated["name"] = json!("Corp AD (EU)");
    let (s, body, _) = api.req("POST", REPOS, Some(generated)).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(body["id"], "corp-ad-eu");

    let mut invalid = repo.clone();
    invalid["id"] = json!("other");
    invalid["users"]["baseDn"] = json!("dc=example,");
    invalid["connection"]["servers"] = json!(["ldap://ok", "http://nope"]);
    invalid["users"]["filters"] = json!(["(cn=x"]);
    invalid["sync"]["fullSync"] = json!({"enabled": true, "cron": "0 45 1 * * ? 1800"});
    let (s, body, _) = api.req("POST", REPOS, Some(invalid)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "validation");
    assert_eq!(field_names(&body), ["connection.servers[1]", "users.baseDn", "users.filters[0]", "sync.fullSync.cron"]);

    let (s, body, _) = call(&api.router, "POST", REPOS, Some(&api.token), None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    let (s, _, _) = api.req("POST", REPOS, Some(json!({"name": 5}))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    assert_eq!(api.req("GET", "/api/v1/tenants/nope/repositories", None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(api.req("GET", "/api/v1/tenants/BAD!/repositories", None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(api.req("GET", &format!("{REPOS}/missing"), None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(api.req("PUT", &format!("{REPOS}/missing"), Some(repo.clone())).await.0, StatusCode::NOT_FOUND);
    assert_eq!(api.req("DELETE", &format!("{REPOS}/missing"), None).await.0, StatusCode::NOT_FOUND);

    let (s, list, _) = api.req("GET", REPOS, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list["totalResults"], 2);

    // PUT: the body id must match; arrays are replaced; no bindPassword keeps it.
    let mut put = created.clone();
    put["id"] = json!("other");
    let (s, body, _) = api.req("PUT", &format!("{REPOS}/corp"), Some(put)).await;
    assert_eq!((s, field_names(&body)), (StatusCode::BAD_REQUEST, vec!["id".to_string()]));

    let mut put = created.clone();
    put["users"]["objectClasses"] = json!(["person"]);
    put["name"] = json!("Corp renamed");
    let (s, updated, _) = api.req("PUT", &format!("{REPOS}/corp"), Some(put.clone())).await;
    assert_eq!(s, StatusCode::OK, "{updated}");
    assert_eq!(updated["users"]["objectClasses"], json!(["person"]));
    assert_eq!(updated["meta"]["version"], 2);
    assert_eq!(updated["connection"]["bindPasswordSet"], true, "absent bindPassword keeps the stored one");
    assert_eq!(updated["meta"]["created"], created["meta"]["created"]);

    // Stale version: the first body still says version 1.
    let (s, body, _) = api.req("PUT", &format!("{REPOS}/corp"), Some(put)).await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| m.contains("meta.version 1")));

    // An explicit null clears the secret (anonymous bind needs none).
    let mut clear = updated.clone();
    clear["connection"]["bindPassword"] = Value::Null;
    clear["connection"]["bindType"] = json!("none");
    let (s, cleared, _) = api.req("PUT", &format!("{REPOS}/corp"), Some(clear)).await;
    assert_eq!(s, StatusCode::OK, "{cleared}");
    assert_eq!(cleared["connection"]["bindPasswordSet"], false);

    // A simple bind with the password cleared is a field error, and changes nothing.
    let mut needs = cleared.clone();
    needs["connection"]["bindType"] = json!("simple");
    let (s, body, _) = api.req("PUT", &format!("{REPOS}/corp"), Some(needs)).await;
    assert_eq!((s, field_names(&body)), (StatusCode::BAD_REQUEST, vec!["connection.bindPassword".to_string()]));
    let (_, still, _) = api.req("GET", &format!("{REPOS}/corp"), None).await;
    assert_eq!(still, cleared);

    // Delete: 202, then gone in the background.
    repo["id"] = json!("to-delete");
    assert_eq!(api.req("POST", REPOS, Some(repo)).await.0, StatusCode::CREATED);
    let (s, body, _) = api.req("DELETE", &format!("{REPOS}/to-delete"), None).await;
    assert_eq!((s, body["state"].clone()), (StatusCode::ACCEPTED, json!("deleting")));
    let mut gone = false;
    for _ in 0..100 {
        if api.req("GET", &format!("{REPOS}/to-delete"), None).await.0 == StatusCode::NOT_FOUND {
            gone = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(gone, "deleted in the background");
}

#[tokio::test]
async fn secrets_never_leave_the_server_and_are_encrypted_at_rest() {
    let e = env(10).await;
    let api = Api::new(e.service.clone()).await;
    let secret = devdir::ADMIN_PASSWORD;
    let mut repo = serde_json::to_value(repository(&e.slapd, "s")).expect("json");
    repo["connection"]["referrals"] = json!({"strategy": "followListed", "servers": [{"url": "ldap://127.0.0.1:1", "bindDn": "cn=r", "bindPassword": "referral-secret-xyz"}]});
    let mut responses = Vec::new();
    responses.push(api.req("POST", REPOS, Some(repo.clone())).await);
    responses.push(api.req("GET", &format!("{REPOS}/s"), None).await);
    responses.push(api.req("GET", REPOS, None).await);
    responses.push(api.req("PUT", &format!("{REPOS}/s"), Some(repo.clone())).await);
    responses.push(api.req("POST", &format!("{REPOS}/s/test"), None).await);
    responses.push(api.req("POST", &format!("{REPOS}/s/preview?limit=3"), None).await);
    let mut bad = repo.clone();
    bad["users"]["baseDn"] = json!("bad");
    responses.push(api.req("PUT", &format!("{REPOS}/s"), Some(bad)).await);
    for (status, body, _) in &responses {
        let text = body.to_string();
        assert!(!text.contains(secret) && !text.contains("referral-secret-xyz"), "{status}: {text}");
    }
    assert_eq!(responses[0].1["connection"]["referrals"]["servers"][0]["bindPasswordSet"], true);
    assert_eq!(responses[4].0, StatusCode::OK);
    assert_eq!(responses[4].1["ok"], true, "the stored (encrypted) password works: {}", responses[4].1);
    assert_eq!(responses[5].1["users"].as_array().map(Vec::len), Some(3));
    assert_eq!(responses[6].0, StatusCode::BAD_REQUEST);

    // Nothing in the data dir holds the secrets in clear.
    for entry in std::fs::read_dir(e.data.path()).expect("data dir") {
        let path = entry.expect("entry").path();
        let bytes = std::fs::read(&path).expect("read");
        for s in [secret.as_bytes(), b"referral-secret-xyz".as_slice()] {
            assert!(!bytes.windows(s.len()).any(|w| w == s), "{} holds a secret in clear", path.display());
        }
    }
}

#[tokio::test]
async fn sync_and_users_routes() {
    let e = env(30).await;
    let api = Api::new(e.service.clone()).await;
    let repo = serde_json::to_value(repository(&e.slapd, "corp")).expect("json");
    assert_eq!(api.req("POST", REPOS, Some(repo)).await.0, StatusCode::CREATED);

    let (s, body, _) = api.req("POST", &format!("{REPOS}/corp/sync"), Some(json!({"mode": "full"}))).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{body}");
    let run_id = body["runId"].as_str().expect("runId").to_string();
    let run_uri = format!("{REPOS}/corp/sync-runs/{run_id}");
    let mut run = Value::Null;
    for _ in 0..500 {
        run = api.req("GET", &run_uri, None).await.1;
        if run["state"] != "running" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(run["state"], "succeeded", "{run}");
    assert_eq!(run["mode"], "full");
    assert_eq!(run["counts"]["added"], 31);
    assert_eq!(run["progress"]["done"], 31);
    assert!(run["startedAt"].is_string() && run["finishedAt"].is_string());

    let (s, runs, _) = api.req("GET", &format!("{REPOS}/corp/sync-runs"), None).await;
    assert_eq!((s, runs["totalResults"].clone()), (StatusCode::OK, json!(1)));
    assert_eq!(api.req("GET", &format!("{REPOS}/corp/sync-runs/999"), None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(api.req("GET", &format!("{REPOS}/corp/sync-runs/abc"), None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(api.req("POST", &format!("{REPOS}/nope/sync"), None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        api.req("POST", &format!("{REPOS}/corp/sync"), Some(json!({"mode": "sometimes"}))).await.0,
        StatusCode::BAD_REQUEST
    );

    let users = "/api/v1/tenants/default/users";
    let (s, page, _) = api.req("GET", &format!("{users}?repositoryId=corp&pageSize=10&page=2"), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!((page["totalResults"].clone(), page["users"].as_array().map(Vec::len)), (json!(31), Some(10)));
    let (_, found, _) = api.req("GET", &format!("{users}?search=jurgen"), None).await;
    let id = found["users"][0]["id"].as_str().expect("Jürgen").to_string();
    let (s, user, _) = api.req("GET", &format!("{users}/{id}"), None).await;
    assert_eq!((s, user["firstName"].clone()), (StatusCode::OK, json!("Jürgen")));
    assert_eq!(user["repositoryId"], "corp");
    assert!(user["ldapUuid"].is_string() && user["ldapDn"].is_string() && user["syncedAt"].is_string());
    assert_eq!(api.req("GET", &format!("{users}/corp:nope"), None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(api.req("GET", &format!("{users}?pageSize=0"), None).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(api.req("GET", "/api/v1/tenants/nope/users", None).await.0, StatusCode::NOT_FOUND);
    // Jürgen's groups: his department directly and All Staff through nesting.
    let groups: Vec<String> =
        user["groups"].as_array().expect("groups").iter().filter_map(|g| g.as_str().map(str::to_lowercase)).collect();
    assert!(groups.iter().any(|g| g.starts_with("cn=all staff,")), "{groups:?}");

    let (s, list, _) = api.req("GET", "/api/v1/tenants/default/groups?search=All&pageSize=5", None).await;
    assert_eq!((s, list["totalResults"].clone()), (StatusCode::OK, json!(1)), "{list}");
    assert_eq!(
        (list["groups"][0]["name"].clone(), list["groups"][0]["memberCount"].clone()),
        (json!("All Staff"), json!(5))
    );
    assert_eq!(api.req("GET", "/api/v1/tenants/default/groups?page=0", None).await.0, StatusCode::BAD_REQUEST);

    let (s, next, _) = api.req("GET", &format!("{REPOS}/corp/schedule"), None).await;
    assert_eq!((s, next), (StatusCode::OK, json!({"full": null, "changed": null})));
    assert_eq!(api.req("GET", &format!("{REPOS}/nope/schedule"), None).await.0, StatusCode::NOT_FOUND);

    // The run's event stream: a finished run sends its final state and ends.
    let (s, events, headers) = api.req("GET", &format!("{run_uri}/events"), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "text/event-stream");
    let text = events.as_str().expect("text");
    assert!(text.starts_with("event: run\ndata: {") && text.contains("\"state\":\"succeeded\""), "{text}");
    assert_eq!(api.req("GET", &format!("{REPOS}/corp/sync-runs/999/events"), None).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn login_answers_in_the_shapes_platforms_read() {
    let e = env(5).await;
    let api = Api::new(e.service.clone()).await;
    let (status, body, _) =
        api.req("POST", REPOS, Some(serde_json::to_value(repository(&e.slapd, "corp")).expect("json"))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    const LOGIN: &str = "/api/v1/tenants/default/login";
    let user = devdir::ldif::username(1);

    let (status, body, _) =
        api.req("POST", LOGIN, Some(json!({"username": user, "password": devdir::ldif::USER_PASSWORD}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["repositoryId"], "corp");
    assert_eq!(body["user"]["username"], user.as_str());
    assert_eq!(body["user"]["ldapDn"], devdir::ldif::user_dn(1).as_str());
    assert!(body["user"]["roles"].is_array() && body["user"]["admin"].is_boolean(), "{body}");
    assert!(body.get("passwordExpiresAt").is_none(), "{body}");

    let (status, body, _) = api.req("POST", LOGIN, Some(json!({"username": user, "password": "wrong"}))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(body["reason"], "INVALID_CREDENTIALS");
    assert_eq!(body["message"], body["error_description"]);
    assert!(body.get("hid_failure").is_none(), "{body}");
    let (_, unknown, _) = api.req("POST", LOGIN, Some(json!({"username": "nobody", "password": "wrong"}))).await;
    assert_eq!(unknown, body, "an unknown user answers exactly as a wrong password");

    let (status, body, _) = api.req("POST", LOGIN, Some(json!({"password": "x"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _, _) =
        api.req("POST", "/api/v1/tenants/nope/login", Some(json!({"username": user, "password": "x"}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Without credentials the route is closed like every other.
    let (status, _, _) = call(&api.router, "POST", LOGIN, None, Some(json!({"username": user, "password": "x"}))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Throttled: 429 with Retry-After, before any bind is sent.
    let mut throttled = None;
    for _ in 0..6 {
        let (status, body, headers) =
            api.req("POST", LOGIN, Some(json!({"username": user, "password": "wrong"}))).await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            throttled = Some((body, headers));
            break;
        }
    }
    let (body, headers) = throttled.expect("throttled");
    assert_eq!(body["error"], "throttled");
    let retry = body["retryAfter"].as_u64().expect("retryAfter");
    assert!(retry >= 1);
    assert_eq!(headers.get(header::RETRY_AFTER).and_then(|v| v.to_str().ok()), Some(retry.to_string().as_str()));
}
