//! The HTTP API (documented in ds/README.md), one file per concern:
//! [`groups`] (registration, handshake, relay, quota), [`mailbox`] (key packages, Welcomes, the
//! development login), [`upload`], [`download`] (download, delete, copy), [`body`] (streaming
//! request bodies) and [`common`] (shared helpers).

mod body;
mod common;
mod download;
mod groups;
mod mailbox;
mod upload;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use mimi_attachments::auth::{AUTH_HEADER, AUTH_TARGET_HEADER};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::error::ApiError;
use crate::state::App;

pub use common::TOKEN_LEN;

type AppState = Arc<App>;

/// The router with CORS and request logging.
pub fn router(app: AppState) -> Router {
    let cors = cors_layer(&app.cfg.cors_origins);
    Router::new()
        .route("/v1/health", get(|| async { "ok" }))
        .route("/v1/groups", post(groups::register_group))
        .route("/v1/groups/{gid}/handshake", post(groups::post_handshake))
        .route("/v1/groups/{gid}/messages", post(groups::post_message).get(groups::get_messages))
        .route("/v1/groups/{gid}/quota", get(groups::get_quota))
        .route("/v1/groups/{gid}/reject", post(groups::reject_commit))
        .route("/v1/dev/login", post(mailbox::dev_login))
        .route("/v1/clients/{cid}/key-packages", post(mailbox::publish_key_package))
        .route("/v1/clients/{cid}/key-packages/claim", post(mailbox::claim_key_package))
        .route("/v1/clients/{cid}/welcome", get(mailbox::get_welcome))
        .route("/v1/attachments", post(upload::upload_oneshot))
        .route("/v1/attachments/download", post(download::download_tls))
        .route("/v1/attachments/{token}", get(download::download_get).delete(download::delete_attachment))
        .route("/v1/attachments/{token}/copy", post(download::copy_attachment))
        .route("/v1/attachments/{token}/direct", get(download::download_direct))
        .route("/v1/uploads", post(upload::create_upload))
        .route(
            "/v1/uploads/{id}",
            axum::routing::patch(upload::patch_upload).head(upload::head_upload).delete(upload::cancel_upload),
        )
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn_with_state(app.clone(), mark_dev_mode))
        .layer(axum::middleware::from_fn(log_requests))
        .layer(cors)
        .with_state(app)
}

/// Anything outside the API routes: the static files if `--www`/`--www-pkg` are set (never
/// under `/v1`), the JSON 404 otherwise.
async fn fallback(State(app): State<AppState>, req: Request) -> Response {
    let path = req.uri().path();
    if path == "/v1" || path.starts_with("/v1/") || !app.www.is_enabled() {
        return ApiError::not_found().into_response();
    }
    app.www.serve(req.method(), path).await
}

/// A known API route with a method it does not have: the JSON 405.
async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", "method not allowed on this route")
}

/// A `{gid}`/`{cid}` path segment that is not UTF-8 after percent-decoding: 400.
fn cors_layer(origins: &str) -> CorsLayer {
    let allow = if origins.trim() == "*" {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.split(',').filter_map(|o| HeaderValue::from_str(o.trim()).ok()))
    };
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::HEAD, Method::DELETE, Method::OPTIONS])
        .allow_headers([
            header::CONTENT_TYPE,
            header::RANGE,
            header::HeaderName::from_static(AUTH_HEADER),
            header::HeaderName::from_static(AUTH_TARGET_HEADER),
            header::AUTHORIZATION,
            header::HeaderName::from_static("upload-offset"),
            header::HeaderName::from_static("upload-length"),
            header::HeaderName::from_static("upload-complete"),
        ])
        .expose_headers([
            header::LOCATION,
            header::CONTENT_RANGE,
            header::CONTENT_LENGTH,
            header::CONTENT_DISPOSITION,
            header::ACCEPT_RANGES,
            header::HeaderName::from_static("upload-offset"),
            header::HeaderName::from_static("upload-length"),
            header::HeaderName::from_static("upload-complete"),
            header::HeaderName::from_static("upload-limit"),
            header::HeaderName::from_static(DEV_MODE_HEADER),
            header::RETRY_AFTER,
        ])
        .max_age(Duration::from_secs(600))
}

/// Response header naming the development identity mode (absent in token mode).
pub const DEV_MODE_HEADER: &str = "mimi-ds-mode";

/// Adds `Mimi-DS-Mode: development` to every response in development identity mode.
async fn mark_dev_mode(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    if app.identity.is_dev() {
        resp.headers_mut().insert(DEV_MODE_HEADER, HeaderValue::from_static("development"));
    }
    resp
}

/// Logs method, route template (never the concrete path: it may hold a token), status, time.
async fn log_requests(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned()).unwrap_or_else(|| "-".into());
    let start = Instant::now();
    let resp = next.run(req).await;
    tracing::info!(%method, route, status = resp.status().as_u16(), ms = start.elapsed().as_millis() as u64, "request");
    resp
}
