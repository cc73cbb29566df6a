//! The canonical REST API (docs/api.md). Handlers only translate HTTP to the
//! service (the same port the console uses) and errors to status codes.

use super::state::AppState;
use super::RouteTable;
use app::error::AppError;
use app::model::{LoginRequest, Repository, RepositoryList, SyncRequest, TestLogin};
use app::port::{RequestPorts, UserQuery};
use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Deserialize;

pub struct ApiError(pub AppError);

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        ApiError(e)
    }
}

pub fn status_of(e: &AppError) -> StatusCode {
    StatusCode::from_u16(e.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry_after = match &self.0 {
            AppError::Throttled { retry_after, .. } => Some(*retry_after),
            _ => None,
        };
        let mut response = (status_of(&self.0), Json(self.0)).into_response();
        if let Some(seconds) = retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// This request's ports, as its credential allows them (put there by the
/// authentication in front of every route).
pub struct Ports(pub RequestPorts);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Ports {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<RequestPorts>()
            .cloned()
            .map(Ports)
            .ok_or_else(|| ApiError(AppError::internal("the request carries no ports")))
    }
}

pub(super) type ApiResult<T> = Result<T, ApiError>;

/// A JSON body whose problems answer 400 in the API's error shape.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError(AppError::TooLarge {
                    message: format!("the body is over {} bytes", super::MAX_BODY_BYTES),
                }))
            }
            Err(rejection) => Err(ApiError(AppError::bad_request(rejection.body_text()))),
        }
    }
}

fn parse_optional_body<T: DeserializeOwned + Default>(body: &Bytes) -> ApiResult<T> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| ApiError(AppError::bad_request(format!("invalid JSON body: {e}"))))
}

pub fn routes() -> RouteTable {
    RouteTable::default()
        .route("POST", "/api/v1/auth/token", post(token))
        .route("GET POST", "/api/v1/tenants/{tenant}/repositories", get(list).post(create))
        .route("GET PUT DELETE", "/api/v1/tenants/{tenant}/repositories/{id}", get(read).put(replace).delete(remove))
        .route("POST", "/api/v1/tenants/{tenant}/repositories/{id}/test", post(test))
        .route("POST", "/api/v1/tenants/{tenant}/repositories/{id}/preview", post(preview))
        .route("POST", "/api/v1/tenants/{tenant}/repositories/{id}/sync", post(start_sync))
        .route("GET", "/api/v1/tenants/{tenant}/repositories/{id}/sync-runs", get(sync_runs))
        .route("GET", "/api/v1/tenants/{tenant}/repositories/{id}/sync-runs/{run}", get(sync_run))
        .route("GET", "/api/v1/tenants/{tenant}/repositories/{id}/sync-runs/{run}/events", get(sync_run_events))
        .route("GET", "/api/v1/tenants/{tenant}/repositories/{id}/schedule", get(next_runs))
        .route("GET", "/api/v1/tenants/{tenant}/groups", get(list_groups))
        .route("GET", "/api/v1/tenants/{tenant}/users", get(list_users))
        .route("GET", "/api/v1/tenants/{tenant}/users/{user}", get(get_user))
        .route("POST", "/api/v1/tenants/{tenant}/users/{user}/sync", post(resync_user))
        .route("POST", "/api/v1/tenants/{tenant}/login", post(login))
}

#[derive(Deserialize)]
struct Credentials {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

async fn token(Ports(ports): Ports, ApiJson(c): ApiJson<Credentials>) -> ApiResult<Response> {
    let session = ports.backend.sign_in(&c.username, &c.password, ports.client).await?;
    Ok(Json(serde_json::json!({
        "accessToken": session.token,
        "tokenType": "Bearer",
        "expiresIn": session.expires_in_seconds,
    }))
    .into_response())
}

async fn list(Ports(ports): Ports, Path(tenant): Path<String>) -> ApiResult<Json<RepositoryList>> {
    let resources = ports.backend.list_repositories(&tenant).await?;
    Ok(Json(RepositoryList { total_results: resources.len(), resources }))
}

async fn create(
    Ports(ports): Ports,
    Path(tenant): Path<String>,
    ApiJson(repo): ApiJson<Repository>,
) -> ApiResult<Response> {
    let created = ports.backend.create_repository(&tenant, repo).await?;
    let location = format!("/api/v1/tenants/{tenant}/repositories/{}", created.id);
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&location) {
        headers.insert(header::LOCATION, v);
    }
    Ok((StatusCode::CREATED, headers, Json(created)).into_response())
}

async fn read(Ports(ports): Ports, Path((tenant, id)): Path<(String, String)>) -> ApiResult<Json<Repository>> {
    Ok(Json(ports.backend.get_repository(&tenant, &id).await?))
}

async fn replace(
    Ports(ports): Ports,
    Path((tenant, id)): Path<(String, String)>,
    ApiJson(repo): ApiJson<Repository>,
) -> ApiResult<Json<Repository>> {
    Ok(Json(ports.backend.replace_repository(&tenant, &id, repo).await?))
}

async fn remove(Ports(ports): Ports, Path((tenant, id)): Path<(String, String)>) -> ApiResult<Response> {
    ports.backend.delete_repository(&tenant, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(serde_json::json!({ "id": id, "state": "deleting" }))).into_response())
}

async fn test(Ports(ports): Ports, Path((tenant, id)): Path<(String, String)>, body: Bytes) -> ApiResult<Response> {
    let login: TestLogin = parse_optional_body(&body)?;
    let result = ports.backend.test_stored(&tenant, &id, login).await?;
    Ok(Json(result).into_response())
}

#[derive(Deserialize)]
struct PreviewQuery {
    limit: Option<usize>,
}

async fn preview(
    Ports(ports): Ports,
    Path((tenant, id)): Path<(String, String)>,
    Query(q): Query<PreviewQuery>,
) -> ApiResult<Response> {
    let limit = q.limit.unwrap_or(20);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError(AppError::bad_request("limit must be between 1 and 1000")));
    }
    let preview = ports.backend.preview_stored(&tenant, &id, limit).await?;
    Ok(Json(preview).into_response())
}

async fn start_sync(
    Ports(ports): Ports,
    Path((tenant, id)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    let request: SyncRequest = parse_optional_body(&body)?;
    let run_id = ports.backend.start_sync(&tenant, &id, request).await?;
    Ok((StatusCode::ACCEPTED, Json(serde_json::json!({ "runId": run_id }))).into_response())
}

async fn sync_runs(Ports(ports): Ports, Path((tenant, id)): Path<(String, String)>) -> ApiResult<Response> {
    let runs = ports.backend.sync_runs(&tenant, &id).await?;
    Ok(Json(serde_json::json!({ "totalResults": runs.len(), "runs": runs })).into_response())
}

async fn sync_run(Ports(ports): Ports, Path((tenant, id, run)): Path<(String, String, String)>) -> ApiResult<Response> {
    Ok(Json(ports.backend.sync_run(&tenant, &id, &run).await?).into_response())
}

async fn next_runs(Ports(ports): Ports, Path((tenant, id)): Path<(String, String)>) -> ApiResult<Response> {
    Ok(Json(ports.backend.next_runs(&tenant, &id).await?).into_response())
}

/// Server-sent events of one run: its state whenever it changes, until it ends.
/// The console's progress bar moves on these instead of polling.
async fn sync_run_events(
    State(state): State<AppState>,
    Ports(ports): Ports,
    Path((tenant, id, run)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    use axum::response::sse::{Event, KeepAlive, Sse};
    // Watching for ends before the first read: an end stored after it is
    // seen as a change.
    let ends = state.operations.sync_run_ends();
    // 404 (or 403) before the stream starts.
    let first = ports.backend.sync_run(&tenant, &id, &run).await?;
    let port = ports.backend.clone();
    let start = (Some(first), String::new(), false, ends);
    let stream = futures_util::stream::unfold(start, move |(pending, last, done, mut ends)| {
        let port = port.clone();
        let (tenant, id, run) = (tenant.clone(), id.clone(), run.clone());
        async move {
            if done {
                return None;
            }
            let mut last = last;
            let mut pending = pending;
            loop {
                let current = match pending.take() {
                    Some(r) => r,
                    None => {
                        // Progress every 250 ms; the end (of any run) at once.
                        let every = std::time::Duration::from_millis(250);
                        if let Ok(Err(_)) = tokio::time::timeout(every, ends.changed()).await {
                            // The engine is gone (shutting down): poll only.
                            tokio::time::sleep(every).await;
                        }
                        port.sync_run(&tenant, &id, &run).await.ok()?
                    }
                };
                let json = serde_json::to_string(&current).unwrap_or_default();
                if json != last {
                    let finished = current.state != "running";
                    let event = Event::default().event("run").data(json.clone());
                    return Some((Ok::<_, std::convert::Infallible>(event), (None, json, finished, ends)));
                }
                last = json;
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()).into_response())
}

async fn list_groups(
    Ports(ports): Ports,
    Path(tenant): Path<String>,
    Query(q): Query<UserQuery>,
) -> ApiResult<Response> {
    Ok(Json(ports.backend.list_groups(&tenant, q).await?).into_response())
}

async fn list_users(
    Ports(ports): Ports,
    Path(tenant): Path<String>,
    Query(q): Query<UserQuery>,
) -> ApiResult<Response> {
    Ok(Json(ports.backend.list_users(&tenant, q).await?).into_response())
}

async fn get_user(Ports(ports): Ports, Path((tenant, user)): Path<(String, String)>) -> ApiResult<Response> {
    Ok(Json(ports.backend.get_user(&tenant, &user).await?).into_response())
}

async fn resync_user(Ports(ports): Ports, Path((tenant, user)): Path<(String, String)>) -> ApiResult<Response> {
    Ok(Json(ports.backend.resync_user(&tenant, &user).await?).into_response())
}

/// Login by bind, for the platform that signs its users in through dirbridge.
async fn login(
    Ports(ports): Ports,
    Path(tenant): Path<String>,
    ApiJson(request): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    Ok(Json(ports.backend.login(&tenant, request, ports.client).await?).into_response())
}
