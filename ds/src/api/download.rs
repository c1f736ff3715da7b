//! Downloads, deletion and copy of stored attachments.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::common::*;
use super::upload::token_response;
use crate::config::DeletePolicy;
use crate::error::{ApiError, ApiResult};
use crate::meta::{AttachmentRow, Reserve};
use crate::reqauth::now_ms;
use crate::state::App;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use futures_util::StreamExt as _;
use mimi_attachments::auth::{empty_body_hash, AUTH_HEADER, AUTH_TARGET_HEADER};
use mimi_attachments::wire::vl_header;
use mimi_attachments::wire::{decode_exact, DownloadAttachmentRequest};
use tokio_util::io::ReaderStream;

type AppState = Arc<App>;

/// The live attachment of `token` in the caller's group; the same 404 for everything else.
pub(super) fn find_attachment(app: &App, group_id: &[u8], token: &[u8]) -> ApiResult<AttachmentRow> {
    if token.len() != TOKEN_LEN {
        return Err(ApiError::not_found());
    }
    match app.meta.get_attachment(&token_hash(token))? {
        Some(a) if a.group_id.as_slice() == group_id && a.expires_ms > now_ms() => Ok(a),
        _ => Err(ApiError::not_found()),
    }
}

pub(super) fn decode_token(s: &str) -> ApiResult<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s).map_err(|_| ApiError::not_found())
}

/// Parses a single `bytes=` range. `None`: serve the whole body (absent, multiple or malformed,
/// RFC 9110 §14.2 allows ignoring); `Some(Err)`: 416.
pub(super) fn parse_range(h: Option<&HeaderValue>, size: u64) -> Option<Result<(u64, u64), ()>> {
    let s = h?.to_str().ok()?.trim();
    let spec = s.strip_prefix("bytes=")?.trim();
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        if n == 0 || size == 0 {
            return Some(Err(()));
        }
        return Some(Ok((size - n.min(size), size - 1)));
    }
    let start: u64 = a.parse().ok()?;
    let end: u64 = if b.is_empty() { u64::MAX } else { b.parse().ok()? };
    if end < start {
        return None;
    }
    if start >= size {
        return Some(Err(()));
    }
    Some(Ok((start, end.min(size - 1))))
}

/// Opens the attachment's bytes. A blob that vanished between the lookup and the open (the
/// attachment was deleted or expired concurrently) is the same 404 as a deleted token.
pub(super) async fn open_blob(
    app: &App,
    a: &AttachmentRow,
    start: u64,
    len: u64,
) -> ApiResult<crate::blob::BlobReader> {
    match app.blobs.open_blob(&a.blob_id, start, len).await {
        Ok(r) => Ok(r),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(ApiError::not_found()),
        Err(e) => Err(e.into()),
    }
}

pub(super) fn download_headers(h: &mut HeaderMap) {
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    h.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("content-security-policy", HeaderValue::from_static("sandbox; default-src 'none'"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// `GET /v1/attachments/{token}`: the ciphertext, with `Range` support.
pub(super) async fn download_get(
    State(app): State<AppState>,
    token: Result<Path<String>, PathRejection>,
    req: Request,
) -> ApiResult<Response> {
    let caller = authenticate(&app, &req, AUTH_HEADER, false)?;
    caller.check_body(&empty_body_hash())?;
    let token = decode_token(&path_token(token)?)?;
    let a = find_attachment(&app, &caller.group_id, &token)?;
    let (status, start, len) = match parse_range(req.headers().get(header::RANGE), a.size) {
        None => (StatusCode::OK, 0, a.size),
        Some(Ok((s, e))) => (StatusCode::PARTIAL_CONTENT, s, e - s + 1),
        Some(Err(())) => {
            return Err(ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "RangeNotSatisfiable",
                "range not satisfiable",
            )
            .with_header("content-range", format!("bytes */{}", a.size)));
        }
    };
    let reader = open_blob(&app, &a, start, len).await?;
    let mut resp = Response::new(Body::from_stream(ReaderStream::with_capacity(reader, 64 * 1024)));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    download_headers(h);
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if status == StatusCode::PARTIAL_CONTENT {
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {}-{}/{}", start, start + len - 1, a.size)) {
            h.insert(header::CONTENT_RANGE, v);
        }
    }
    Ok(resp)
}

/// `GET /v1/attachments/{token}/direct`: the same access check as a download, then a presigned
/// object-store URL for the ciphertext, valid `--direct-download-secs` (the bytes skip the DS).
/// JSON `{"url", "expires_ms", "size"}`; 404 when direct downloads are off or the store cannot
/// presign. A member removed after receiving a URL can use it until it expires.
pub(super) async fn download_direct(
    State(app): State<AppState>,
    token: Result<Path<String>, PathRejection>,
    req: Request,
) -> ApiResult<Response> {
    let caller = authenticate(&app, &req, AUTH_HEADER, false)?;
    caller.check_body(&empty_body_hash())?;
    let token = decode_token(&path_token(token)?)?;
    let a = find_attachment(&app, &caller.group_id, &token)?;
    let off = || ApiError::new(StatusCode::NOT_FOUND, "NotFound", "direct downloads are not enabled on this DS");
    if app.cfg.direct_download_secs == 0 {
        return Err(off());
    }
    let valid = std::time::Duration::from_secs(app.cfg.direct_download_secs);
    let url = app.blobs.direct_url(&a.blob_id, valid).await?.ok_or_else(off)?;
    let expires_ms = now_ms().saturating_add(app.cfg.direct_download_secs * 1000);
    let mut resp =
        axum::Json(serde_json::json!({ "url": url, "expires_ms": expires_ms, "size": a.size })).into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// `POST /v1/attachments/download`: `DownloadAttachmentRequest` → `DownloadAttachmentResponse`,
/// streamed.
pub(super) async fn download_tls(State(app): State<AppState>, req: Request) -> ApiResult<Response> {
    let caller = authenticate(&app, &req, AUTH_HEADER, false)?;
    let body = small_body(req.into_body()).await?;
    caller.check_body(&Sha256::digest(&body))?;
    let dl: DownloadAttachmentRequest = decode_exact(&body).map_err(|e| ApiError::bad_request(e.to_string()))?;
    if dl.group_id.as_slice() != caller.group_id.as_slice() {
        return Err(ApiError::not_found());
    }
    let a = find_attachment(&app, &caller.group_id, dl.token.as_slice())?;
    if a.size > MAX_VL {
        return Err(ApiError::too_large("larger than a DownloadAttachmentResponse can carry; use GET"));
    }
    let prefix =
        vl_header(usize::try_from(a.size).unwrap_or(usize::MAX)).map_err(|e| ApiError::too_large(e.to_string()))?;
    let total = prefix.len() as u64 + a.size;
    let reader = open_blob(&app, &a, 0, a.size).await?;
    let stream = futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(Bytes::from(prefix)) })
        .chain(ReaderStream::with_capacity(reader, 64 * 1024));
    let mut resp = Response::new(Body::from_stream(stream));
    download_headers(resp.headers_mut());
    resp.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(total));
    Ok(resp)
}

/// `DELETE /v1/attachments/{token}`: per the delete policy.
pub(super) async fn delete_attachment(
    State(app): State<AppState>,
    token: Result<Path<String>, PathRejection>,
    req: Request,
) -> ApiResult<Response> {
    let caller = authenticate(&app, &req, AUTH_HEADER, false)?;
    caller.check_body(&empty_body_hash())?;
    let token = decode_token(&path_token(token)?)?;
    let a = find_attachment(&app, &caller.group_id, &token)?;
    if app.cfg.delete_policy == DeletePolicy::Uploader && a.uploader != caller.key.credential {
        return Err(ApiError::forbidden("only the uploader may delete this attachment"));
    }
    if let Some(blob) = app.meta.delete_attachment(&a.token_hash)? {
        app.blobs.delete_blob(&blob).await?;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /v1/attachments/{token}/copy`: signed for the source group (`Mimi-Auth`) and the target
/// group (`Mimi-Auth-Target`) by the same identity; returns a token bound to the target group.
pub(super) async fn copy_attachment(
    State(app): State<AppState>,
    token: Result<Path<String>, PathRejection>,
    req: Request,
) -> ApiResult<Response> {
    let src = authenticate(&app, &req, AUTH_HEADER, false)?;
    let dst = authenticate(&app, &req, AUTH_TARGET_HEADER, false)?;
    src.check_body(&empty_body_hash())?;
    dst.check_body(&empty_body_hash())?;
    if src.key.identity != dst.key.identity {
        return Err(ApiError::forbidden("both signatures must come from the same identity"));
    }
    let token = decode_token(&path_token(token)?)?;
    let a = find_attachment(&app, &src.group_id, &token)?;
    let new_token = random_bytes::<TOKEN_LEN>()?;
    let row = AttachmentRow {
        token_hash: token_hash(&new_token),
        group_id: dst.group_id.clone(),
        blob_id: a.blob_id.clone(),
        size: a.size,
        uploader: dst.key.credential.clone(),
        expires_ms: now_ms().saturating_add(app.cfg.attachment_ttl_secs.saturating_mul(1000)),
    };
    match app.meta.copy_attachment(&a.token_hash, &row, app.quota())? {
        Reserve::Ok => token_response(StatusCode::CREATED, new_token.to_vec()),
        Reserve::OverBytes => Err(ApiError::quota("the target group's storage quota (bytes) would be exceeded")),
        Reserve::OverCount => Err(ApiError::quota("the target group's attachment count quota would be exceeded")),
        Reserve::OverClientBytes => {
            Err(ApiError::quota("your storage quota (bytes, over all groups) would be exceeded"))
        }
        Reserve::OverClientCount => {
            Err(ApiError::quota("your attachment count quota (over all groups) would be exceeded"))
        }
        Reserve::Missing => Err(ApiError::not_found()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let v = |s: &str| HeaderValue::from_str(s).unwrap();
        assert_eq!(parse_range(Some(&v("bytes=0-9")), 100), Some(Ok((0, 9))));
        assert_eq!(parse_range(Some(&v("bytes=90-")), 100), Some(Ok((90, 99))));
        assert_eq!(parse_range(Some(&v("bytes=90-500")), 100), Some(Ok((90, 99))));
        assert_eq!(parse_range(Some(&v("bytes=-10")), 100), Some(Ok((90, 99))));
        assert_eq!(parse_range(Some(&v("bytes=-1000")), 100), Some(Ok((0, 99))));
        assert_eq!(parse_range(Some(&v("bytes=100-")), 100), Some(Err(())));
        assert_eq!(parse_range(Some(&v("bytes=0-1,5-6")), 100), None);
        assert_eq!(parse_range(Some(&v("items=0-1")), 100), None);
        assert_eq!(parse_range(Some(&v("bytes=5-1")), 100), None);
        assert_eq!(parse_range(None, 100), None);
    }
}
