//! Scale-out storage engines (issue 13): metadata in PostgreSQL ([`pg::PgMeta`]) and bytes in
//! S3-compatible object storage ([`s3::S3BlobStore`]), selected by `--meta postgres://…` and
//! `--blobs s3://…`; the embedded default metadata in SQLite ([`sqlite::SqliteMeta`]); plus the `/healthz` and `/readyz` probes that check both engines.

pub mod pg;
pub mod s3;
pub mod sqlite;

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use crate::App;

/// `GET /healthz` (the process serves) and `GET /readyz` (both engines answer within 5 s; `503`
/// with the failing engine otherwise, so a load balancer takes the replica out of rotation).
pub fn health_router(app: Arc<App>) -> Router {
    Router::new().route("/healthz", get(|| async { "ok" })).route("/readyz", get(move || readyz(app.clone())))
}

async fn readyz(app: Arc<App>) -> Response {
    let meta_app = app.clone();
    let meta = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::task::spawn_blocking(move || meta_app.meta.ping().map_err(|e| e.to_string())),
    )
    .await;
    let meta = match meta {
        Ok(Ok(Ok(()))) => "ok".to_owned(),
        Ok(Ok(Err(e))) => e,
        Ok(Err(e)) => e.to_string(),
        Err(_) => "timeout".to_owned(),
    };
    let blobs = match tokio::time::timeout(Duration::from_secs(5), app.blobs.ready()).await {
        Ok(Ok(())) => "ok".to_owned(),
        Ok(Err(e)) => e.to_string(),
        Err(_) => "timeout".to_owned(),
    };
    let status = if meta == "ok" && blobs == "ok" { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    if status != StatusCode::OK {
        tracing::warn!(%meta, %blobs, "not ready");
    }
    (status, Json(serde_json::json!({ "meta": meta, "blobs": blobs }))).into_response()
}
