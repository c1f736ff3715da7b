//! Uploads: one-shot (`POST /v1/attachments`) and resumable (`/v1/uploads`).

use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::common::*;
use crate::error::{ApiError, ApiResult};
use crate::meta::{AttachmentRow, Reserve, UploadRow};
use crate::reqauth::{now_ms, Caller};
use crate::state::App;
use crate::state::BusyGuard;
use mimi_attachments::auth::{empty_body_hash, AUTH_HEADER};
use mimi_attachments::wire::{encode, UploadAttachmentResponse};

type AppState = Arc<App>;

use super::body::BodyReader;

/// `--min-free-bytes` reserve (which keeps metadata writes and deletions possible).
pub(super) async fn ensure_space(app: &App, n: u64) -> ApiResult<()> {
    match app.blobs.free_bytes().await {
        Ok(Some(free)) if free < n.saturating_add(app.cfg.min_free_bytes) => {
            tracing::warn!(free, needed = n, reserve = app.cfg.min_free_bytes, "refusing an upload: low on disk space");
            Err(ApiError::insufficient_storage())
        }
        Ok(_) => Ok(()),
        Err(e) => {
            tracing::warn!(error = %e, "cannot tell the free disk space");
            Ok(())
        }
    }
}

/// Reserves quota for a new upload of `total` bytes.
pub(super) fn reserve(app: &App, caller: &Caller, total: u64, resumable: bool) -> ApiResult<UploadRow> {
    if total > app.cfg.max_file_bytes {
        return Err(reserve_too_large(app));
    }
    let id = hex::encode(random_bytes::<16>()?);
    let row = UploadRow {
        id,
        group_id: caller.group_id.clone(),
        uploader: caller.key.credential.clone(),
        total,
        offset: 0,
        resumable,
        expires_ms: now_ms().saturating_add(app.cfg.upload_ttl_secs.saturating_mul(1000)),
    };
    match app.meta.reserve_upload(&row, app.quota())? {
        Reserve::Ok => Ok(row),
        Reserve::OverBytes => Err(ApiError::quota("the group's storage quota (bytes) would be exceeded")),
        Reserve::OverCount => Err(ApiError::quota("the group's attachment count quota would be exceeded")),
        Reserve::OverClientBytes => {
            Err(ApiError::quota("your storage quota (bytes, over all groups) would be exceeded"))
        }
        Reserve::OverClientCount => {
            Err(ApiError::quota("your attachment count quota (over all groups) would be exceeded"))
        }
        Reserve::Missing => Err(ApiError::internal("unexpected reserve outcome")),
    }
}

pub(super) fn reserve_too_large(app: &App) -> ApiError {
    ApiError::too_large(format!("the attachment exceeds the per-file limit of {} bytes", app.cfg.max_file_bytes))
}

/// Turns a complete upload into an attachment and returns its new token.
pub(super) async fn finalize(app: &App, up: &UploadRow) -> ApiResult<Vec<u8>> {
    app.blobs.commit_staging(&up.id).await?;
    let token = random_bytes::<TOKEN_LEN>()?;
    let row = AttachmentRow {
        token_hash: token_hash(&token),
        group_id: up.group_id.clone(),
        blob_id: up.id.clone(),
        size: up.total,
        uploader: up.uploader.clone(),
        expires_ms: now_ms().saturating_add(app.cfg.attachment_ttl_secs.saturating_mul(1000)),
    };
    if let Err(e) = app.meta.finish_upload(&up.id, &row) {
        let _ = app.blobs.restore_staging(&up.id).await;
        return Err(e.into());
    }
    Ok(token.to_vec())
}

pub(super) fn token_response(status: StatusCode, token: Vec<u8>) -> ApiResult<Response> {
    let body = encode(&UploadAttachmentResponse { token: token.into() }).map_err(ApiError::internal)?;
    Ok(octets(status, body))
}

/// `POST /v1/attachments`: one-shot `UploadAttachmentRequest`, streamed to storage.
pub(super) async fn upload_oneshot(State(app): State<AppState>, req: Request) -> ApiResult<Response> {
    let caller = authenticate(&app, &req, AUTH_HEADER, false)?;
    if let Some(cl) =
        req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok())
    {
        if cl > app.cfg.max_file_bytes.saturating_add(MAX_GROUP_ID as u64 + 8) {
            return Err(ApiError::too_large("the attachment exceeds the per-file limit"));
        }
    }
    let mut body = BodyReader::new(req.into_body());
    let res = upload_oneshot_body(&app, &caller, &mut body).await;
    if res.is_err() {
        body.drain().await;
    }
    res
}

pub(super) async fn upload_oneshot_body(app: &AppState, caller: &Caller, body: &mut BodyReader) -> ApiResult<Response> {
    let gid_len = body.read_varint().await?;
    if gid_len > MAX_GROUP_ID as u64 {
        return Err(ApiError::bad_request("group_id too long"));
    }
    let gid = body.read_exact(gid_len as usize).await?;
    if gid != caller.group_id {
        return Err(ApiError::bad_request("group_id differs from the signed group"));
    }
    let len = body.read_varint().await?;
    if len > MAX_VL {
        return Err(ApiError::bad_request("content too long for opaque<V>"));
    }
    if len > app.cfg.max_file_bytes {
        return Err(reserve_too_large(app));
    }
    ensure_space(app, len).await?;
    let up = reserve(app, caller, len, false)?;
    // Removes the reservation and the staging bytes on every failure, including the request
    // future being dropped when the client goes away.
    let mut cleanup = Cleanup { app: app.clone(), id: up.id.clone(), armed: true };
    let result = async {
        let mut w = app.blobs.open_staging(&up.id, 0).await?;
        let n = body.copy_to(w.as_mut(), len, true).await?;
        if n != len {
            return Err(ApiError::bad_request("body truncated"));
        }
        let (extra, hash) = body.finish().await?;
        if extra {
            return Err(ApiError::bad_request("trailing data after the UploadAttachmentRequest"));
        }
        caller.check_body(&hash)?;
        still_member(app, caller)?;
        w.sync().await?;
        drop(w);
        finalize(app, &up).await
    }
    .await;
    cleanup.armed = false;
    let token = match result {
        Ok(t) => t,
        Err(e) => {
            // Bytes first: on a full disk, removing them makes room for the metadata write.
            if let Err(e) = app.blobs.discard_staging(&up.id).await {
                tracing::error!(error = %e, "could not remove a staging object");
            }
            if let Err(e) = app.meta.delete_upload(&up.id) {
                tracing::error!(error = %e, "could not drop an upload reservation");
            }
            return Err(e);
        }
    };
    token_response(StatusCode::CREATED, token)
}

/// Drops a one-shot upload's reservation and staging object unless disarmed.
pub(super) struct Cleanup {
    app: AppState,
    id: String,
    armed: bool,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let (app, id) = (self.app.clone(), std::mem::take(&mut self.id));
        let drop_row = |app: &App, id: &str| {
            if let Err(e) = app.meta.delete_upload(id) {
                tracing::error!(error = %e, "could not drop an upload reservation");
            }
        };
        match tokio::runtime::Handle::try_current() {
            // Bytes first, then the reservation (see upload_oneshot).
            Ok(rt) => {
                rt.spawn(async move {
                    if let Err(e) = app.blobs.discard_staging(&id).await {
                        tracing::error!(error = %e, "could not remove a staging object");
                    }
                    drop_row(&app, &id);
                });
            }
            // Without a runtime the staging file is removed at the next start.
            Err(_) => drop_row(&app, &id),
        }
    }
}

pub(super) fn header_u64(h: &HeaderMap, name: &str) -> ApiResult<Option<u64>> {
    match h.get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .map(Some)
            .ok_or_else(|| ApiError::bad_request(format!("bad {name} header"))),
    }
}

pub(super) fn upload_headers(resp: &mut Response, up: &UploadRow, offset: u64, complete: bool) {
    let h = resp.headers_mut();
    h.insert("upload-offset", HeaderValue::from(offset));
    h.insert("upload-length", HeaderValue::from(up.total));
    h.insert("upload-complete", HeaderValue::from_static(if complete { "?1" } else { "?0" }));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// `POST /v1/uploads` with `Upload-Length`: creates a resumable upload.
pub(super) async fn create_upload(State(app): State<AppState>, req: Request) -> ApiResult<Response> {
    let caller = authenticate(&app, &req, AUTH_HEADER, false)?;
    caller.check_body(&empty_body_hash())?;
    let total = header_u64(req.headers(), "upload-length")?
        .ok_or_else(|| ApiError::bad_request("Upload-Length is required"))?;
    if total == 0 {
        return Err(ApiError::bad_request("Upload-Length must be at least 1"));
    }
    let (extra, _) = BodyReader::new(req.into_body()).finish().await?;
    if extra {
        return Err(ApiError::bad_request("the creation request carries no data; send it with PATCH"));
    }
    if total > app.cfg.max_file_bytes {
        return Err(reserve_too_large(&app));
    }
    ensure_space(&app, total).await?;
    let up = reserve(&app, &caller, total, true)?;
    if let Err(e) = app.blobs.open_staging(&up.id, 0).await.map(drop) {
        let _ = app.meta.delete_upload(&up.id);
        return Err(e.into());
    }
    let mut resp = StatusCode::CREATED.into_response();
    upload_headers(&mut resp, &up, 0, false);
    let loc = format!("/v1/uploads/{}", up.id);
    if let Ok(v) = HeaderValue::from_str(&loc) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("max-size={}", app.cfg.max_file_bytes)) {
        resp.headers_mut().insert("upload-limit", v);
    }
    Ok(resp)
}

/// The upload `id` if it belongs to the caller (group and credential); 404 otherwise.
pub(super) fn own_upload(app: &App, caller: &Caller, id: &str) -> ApiResult<UploadRow> {
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::not_found());
    }
    match app.meta.get_upload(id)? {
        Some(up) if up.group_id == caller.group_id && up.uploader == caller.key.credential && up.resumable => Ok(up),
        _ => Err(ApiError::not_found()),
    }
}

/// `PATCH /v1/uploads/{id}` with `Upload-Offset`: appends the body.
pub(super) async fn patch_upload(
    State(app): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    req: Request,
) -> ApiResult<Response> {
    let caller = authenticate(&app, &req, AUTH_HEADER, false)?;
    let (parts, body) = req.into_parts();
    let mut body = BodyReader::new(body);
    let res = patch_body(&app, &caller, id, &parts.headers, &mut body).await;
    if res.is_err() {
        body.drain().await;
    }
    res
}

pub(super) async fn patch_body(
    app: &AppState,
    caller: &Caller,
    id: Result<Path<String>, PathRejection>,
    headers: &HeaderMap,
    body: &mut BodyReader,
) -> ApiResult<Response> {
    let id = path_token(id)?;
    let up = own_upload(app, caller, &id)?;
    let Some(_busy) = BusyGuard::try_new(app, &up.id) else {
        return Err(
            ApiError::conflict("another request is writing this upload").with_header("upload-offset", up.offset)
        );
    };
    // Re-read under the guard: a request that just finished may have moved the offset.
    let up = own_upload(app, caller, &id)?;
    let offset =
        header_u64(headers, "upload-offset")?.ok_or_else(|| ApiError::bad_request("Upload-Offset is required"))?;
    if offset != up.offset {
        return Err(ApiError::conflict(format!("the upload is at offset {}", up.offset))
            .with_header("upload-offset", up.offset));
    }
    let remaining = up.total.saturating_sub(up.offset);
    let announced = header_u64(headers, header::CONTENT_LENGTH.as_str()).ok().flatten();
    ensure_space(app, announced.unwrap_or(remaining).min(remaining)).await?;
    let mut w = app.blobs.open_staging(&up.id, up.offset).await?;
    let res = async {
        let n = body.copy_to(w.as_mut(), up.total.saturating_sub(up.offset), false).await?;
        let (_, hash) = body.finish().await?;
        caller.check_body(&hash)?;
        still_member(app, caller)?;
        w.sync().await?;
        Ok::<u64, ApiError>(n)
    }
    .await;
    let n = match res {
        Ok(n) => n,
        Err(e) => {
            // Nothing of a rejected body stays.
            w.truncate(up.offset).await?;
            return Err(e);
        }
    };
    let new_offset = up.offset + n;
    if let Err(e) = app.meta.set_upload_offset(&up.id, new_offset) {
        // Not recorded: the bytes are not part of the upload (and, on a full disk, give room back).
        w.truncate(up.offset).await?;
        return Err(e.into());
    }
    drop(w);
    if new_offset == up.total {
        let token = finalize(app, &up).await?;
        let mut resp = token_response(StatusCode::CREATED, token)?;
        upload_headers(&mut resp, &up, new_offset, true);
        return Ok(resp);
    }
    let mut resp = StatusCode::NO_CONTENT.into_response();
    upload_headers(&mut resp, &up, new_offset, false);
    Ok(resp)
}

/// `HEAD /v1/uploads/{id}`: the durable offset.
pub(super) async fn head_upload(
    State(app): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    req: Request,
) -> ApiResult<Response> {
    let caller = authenticate(&app, &req, AUTH_HEADER, false)?;
    let id = path_token(id)?;
    caller.check_body(&empty_body_hash())?;
    let up = own_upload(&app, &caller, &id)?;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    upload_headers(&mut resp, &up, up.offset, false);
    Ok(resp)
}

/// `DELETE /v1/uploads/{id}`: cancels the upload and frees its quota.
pub(super) async fn cancel_upload(
    State(app): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    req: Request,
) -> ApiResult<Response> {
    let caller = authenticate(&app, &req, AUTH_HEADER, false)?;
    let id = path_token(id)?;
    caller.check_body(&empty_body_hash())?;
    let up = own_upload(&app, &caller, &id)?;
    let Some(_busy) = BusyGuard::try_new(&app, &up.id) else {
        return Err(ApiError::conflict("another request is writing this upload"));
    };
    app.meta.delete_upload(&up.id)?;
    app.blobs.discard_staging(&up.id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// 403 unless the caller's leaf still holds its credential: a member removed while its request
/// body was arriving gets no acknowledgement and its bytes are dropped.
fn still_member(app: &App, caller: &Caller) -> ApiResult<()> {
    if app.groups.still_member(&caller.group_id, caller.leaf_index, &caller.key.credential) {
        Ok(())
    } else {
        Err(ApiError::forbidden("removed from the group during the upload"))
    }
}
