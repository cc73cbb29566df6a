//! The console's built site (wasm, JS, CSS, images), embedded in the binary,
//! and the not-found page for everything no route answers.

use super::state::AppState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// The site built by cargo-leptos, embedded in release builds (read from
/// disk in debug builds, so `cargo leptos watch` sees changes).
#[derive(rust_embed::RustEmbed)]
/// `allow_missing`: lints and tests compile before the first site build.
#[folder = "$CARGO_MANIFEST_DIR/../target/site"]
#[allow_missing = true]
struct Site;

/// Serves an embedded asset (precompressed .br/.gz when the client accepts
/// them), or the console's not-found page.
pub async fn static_or_not_found(State(state): State<AppState>, req: Request) -> Response {
    let path = req.uri().path().trim_start_matches('/').to_string();
    if let Some(resp) = embedded(&path, &req) {
        return resp;
    }
    if path.starts_with("api/") || path.starts_with("_sfn/") {
        return (StatusCode::NOT_FOUND, axum::Json(app::error::AppError::not_found("no such route"))).into_response();
    }
    let options = state.leptos_options.clone();
    let handler = leptos_axum::render_app_to_stream(move || app::shell(options.clone()));
    let mut resp = handler(req).await.into_response();
    *resp.status_mut() = StatusCode::NOT_FOUND;
    resp
}

fn embedded(path: &str, req: &Request) -> Option<Response> {
    if path.is_empty() || path.ends_with(".br") || path.ends_with(".gz") {
        return None;
    }
    let file = Site::get(path)?;
    let accepts = req.headers().get(header::ACCEPT_ENCODING).and_then(|v| v.to_str().ok()).unwrap_or("");
    let etag = format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..12]));
    if req.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
        return Some(StatusCode::NOT_MODIFIED.into_response());
    }
    let (body, encoding) = [("br", ".br"), ("gzip", ".gz")]
        .iter()
        .find(|(enc, _)| accepts.split(',').any(|a| a.trim().starts_with(enc)))
        .and_then(|(enc, ext)| Site::get(&format!("{path}{ext}")).map(|f| (f.data, Some(*enc))))
        .unwrap_or((file.data, None));
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    let mut resp = Response::new(Body::from(body.into_owned()));
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(mime.as_ref()) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Some(enc) = encoding {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(enc));
    }
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    // File names carry no hash: revalidate every time (cheap with the ETag).
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    Some(resp)
}
