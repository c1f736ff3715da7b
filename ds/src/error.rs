//! The DS's HTTP error: a status, a stable `code` and a message, sent as JSON
//! `{"code": "...", "message": "..."}`.

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// An error response. `code` is stable and documented in ds/README.md.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// Human-readable detail (never contains secrets).
    pub message: String,
    /// Extra headers (for example `Upload-Offset` on a 409).
    pub headers: Option<Box<HeaderMap>>,
}

impl ApiError {
    /// A new error.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), headers: None }
    }
    /// 400 `BadRequest`.
    pub fn bad_request(m: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadRequest", m)
    }
    /// 404 `NotFound` — the one answer (to members) for unknown, foreign, expired or deleted
    /// tokens and uploads.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "NotFound", "not found")
    }
    /// 403 `Forbidden`.
    pub fn forbidden(m: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "Forbidden", m)
    }
    /// 409 `Conflict`.
    pub fn conflict(m: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "Conflict", m)
    }
    /// 413 `TooLarge` (per-file limit or a body longer than announced).
    pub fn too_large(m: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "TooLarge", m)
    }
    /// 507 `QuotaExceeded` (group bytes or count).
    pub fn quota(m: impl Into<String>) -> Self {
        Self::new(StatusCode::INSUFFICIENT_STORAGE, "QuotaExceeded", m)
    }
    /// 507 `InsufficientStorage` (the DS's disk is full or below `--min-free-bytes`).
    pub fn insufficient_storage() -> Self {
        Self::new(StatusCode::INSUFFICIENT_STORAGE, "InsufficientStorage", "the DS is out of disk space")
    }
    /// 408 `Timeout`: the request body stopped arriving.
    pub fn timeout() -> Self {
        Self::new(StatusCode::REQUEST_TIMEOUT, "Timeout", "the request body was not received in time")
    }
    /// 500 `Internal`; the detail goes to the log only.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal", "internal error")
    }
    /// 503 `Unavailable`: a storage engine (PostgreSQL, the object store) cannot be reached;
    /// retry after `Retry-After` seconds. Nothing of the request was made visible.
    pub fn unavailable(detail: impl std::fmt::Display) -> Self {
        tracing::warn!(error = %detail, "storage engine unavailable");
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "Unavailable", "a storage engine is unavailable; retry")
            .with_header("retry-after", 2)
    }
    /// Adds a header.
    pub fn with_header(mut self, name: &'static str, value: impl ToString) -> Self {
        if let Ok(v) = HeaderValue::from_str(&value.to_string()) {
            self.headers.get_or_insert_with(Default::default).insert(name, v);
        }
        self
    }
}

impl From<std::io::Error> for ApiError {
    fn from(e: std::io::Error) -> Self {
        // ENOSPC, EDQUOT
        if matches!(e.raw_os_error(), Some(28) | Some(122)) || e.kind() == std::io::ErrorKind::StorageFull {
            return Self::insufficient_storage();
        }
        // The object store (S3) cannot be reached: see store::s3.
        if e.kind() == std::io::ErrorKind::NotConnected {
            return Self::unavailable(e);
        }
        Self::internal(e)
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        if let rusqlite::Error::SqliteFailure(f, _) = &e {
            if f.code == rusqlite::ErrorCode::DiskFull {
                tracing::warn!(error = %e, "metadata store: disk full");
                return Self::insufficient_storage();
            }
            // PostgreSQL cannot be reached: see store::pg.
            if f.code == rusqlite::ErrorCode::CannotOpen {
                return Self::unavailable(e);
            }
        }
        Self::internal(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "code": self.code, "message": self.message }).to_string();
        let mut resp = (self.status, body).into_response();
        resp.headers_mut().insert("content-type", HeaderValue::from_static("application/json"));
        resp.headers_mut().insert("cache-control", HeaderValue::from_static("no-store"));
        for (k, v) in self.headers.iter().flat_map(|h| h.iter()) {
            resp.headers_mut().insert(k.clone(), v.clone());
        }
        resp
    }
}

/// Shorthand.
pub type ApiResult<T> = Result<T, ApiError>;
