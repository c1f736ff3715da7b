//! Groups: registration, handshake messages, the message relay and the quota view.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use sha2::{Digest, Sha256};

use super::common::*;
use crate::error::{ApiError, ApiResult};
use crate::groups::RegisterLimits;
use crate::state::App;
use mimi_attachments::auth::{empty_body_hash, AUTH_HEADER};
use openmls::prelude::tls_codec::Deserialize as _;
use openmls::prelude::MlsMessageIn;

type AppState = Arc<App>;

/// `POST /v1/groups` (bearer token): registers a group whose GroupInfo is signed by the caller's
/// leaf, within the caller's rate limit and group count, the registry bound, and the disk floor
/// reserved for existing groups.
pub(super) async fn register_group(State(app): State<AppState>, headers: HeaderMap, body: Body) -> ApiResult<Response> {
    let owner = app.identity.client_of(&headers)?;
    if let Err(wait) = app.register_limit.check(&owner) {
        return Err(rate_limited(wait));
    }
    if let Ok(Some(free)) = app.blobs.free_bytes().await {
        if free < app.cfg.min_free_bytes.saturating_add(app.cfg.registration_floor_bytes) {
            tracing::warn!(free, "refusing a new group: the remaining space is reserved for existing groups");
            return Err(ApiError::insufficient_storage());
        }
    }
    let body = small_body(body).await?;
    let limits = RegisterLimits { max_groups: app.cfg.max_groups, per_client: app.cfg.client_max_groups };
    let (gid, epoch) = app.groups.register(app.meta.as_ref(), &body, &owner, limits).map_err(group_err)?;
    Ok((StatusCode::CREATED, Json(serde_json::json!({ "group_id": b64(&gid), "epoch": epoch }))).into_response())
}

pub(super) async fn post_handshake(
    State(app): State<AppState>,
    gid: Result<Path<String>, PathRejection>,
    body: Body,
) -> ApiResult<Response> {
    let gid = path_id(gid)?;
    let body = small_body(body).await?;
    let out = app.groups.handshake(app.meta.as_ref(), &gid, &body).map_err(group_err)?;
    app.notify.notify_waiters();
    Ok(Json(serde_json::json!({ "seq": out.seq, "epoch": out.epoch, "welcomed": out.welcomed.len() })).into_response())
}

pub(super) async fn post_message(
    State(app): State<AppState>,
    gid: Result<Path<String>, PathRejection>,
    req: Request,
) -> ApiResult<Response> {
    let gid = path_id(gid)?;
    let caller = authenticate(&app, &req, AUTH_HEADER, false)?;
    if caller.group_id != gid {
        return Err(ApiError::forbidden("signed for another group"));
    }
    let body = small_body(req.into_body()).await?;
    caller.check_body(&Sha256::digest(&body))?;
    let msg = MlsMessageIn::tls_deserialize_exact(&body).map_err(|_| ApiError::bad_request("not an MLS message"))?;
    let pm = msg.try_into_protocol_message().map_err(|_| ApiError::bad_request("not a protocol message"))?;
    if pm.group_id().as_slice() != gid.as_slice() {
        return Err(ApiError::bad_request("message of another group"));
    }
    if pm.is_handshake_message() {
        return Err(ApiError::bad_request("handshake messages go to /handshake"));
    }
    let seq = app.meta.append_message(&gid, &body)?;
    app.notify.notify_waiters();
    Ok((StatusCode::CREATED, Json(serde_json::json!({ "seq": seq }))).into_response())
}

#[derive(serde::Deserialize)]
pub(super) struct FetchQuery {
    #[serde(default)]
    after: u64,
    #[serde(default)]
    wait_secs: u64,
    #[serde(default)]
    limit: Option<u32>,
}

pub(super) async fn get_messages(
    State(app): State<AppState>,
    gid: Result<Path<String>, PathRejection>,
    q: Result<Query<FetchQuery>, QueryRejection>,
    req: Request,
) -> ApiResult<Response> {
    let gid = path_id(gid)?;
    let caller = authenticate(&app, &req, AUTH_HEADER, true)?;
    let Query(q) = q.map_err(|_| ApiError::bad_request("malformed query"))?;
    caller.check_body(&empty_body_hash())?;
    if caller.group_id != gid {
        return Err(ApiError::forbidden("signed for another group"));
    }
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let deadline = Instant::now() + Duration::from_secs(q.wait_secs.min(app.cfg.max_poll_secs));
    loop {
        let notified = app.notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let msgs = app.meta.messages_after(&gid, q.after, limit)?;
        let now = Instant::now();
        if !msgs.is_empty() || now >= deadline {
            let next = msgs.last().map(|(s, _)| *s).unwrap_or(q.after);
            let list: Vec<_> = msgs.iter().map(|(s, d)| serde_json::json!({ "seq": s, "data": b64(d) })).collect();
            return Ok(Json(serde_json::json!({ "messages": list, "next": next })).into_response());
        }
        let _ = tokio::time::timeout(deadline - now, notified).await;
    }
}

/// `GET /v1/groups/{gid}/quota` (signed by a member): the group's usage as the quota counts it
/// (stored attachments, expired ones until the sweeper removed them, plus the announced length
/// of every upload in progress) and the DS's limits.
pub(super) async fn get_quota(
    State(app): State<AppState>,
    gid: Result<Path<String>, PathRejection>,
    req: Request,
) -> ApiResult<Response> {
    let gid = path_id(gid)?;
    let caller = authenticate(&app, &req, AUTH_HEADER, false)?;
    caller.check_body(&empty_body_hash())?;
    if caller.group_id != gid {
        return Err(ApiError::forbidden("signed for another group"));
    }
    let (used_bytes, attachments) = app.meta.usage(&gid)?;
    let mut resp = Json(serde_json::json!({
        "used_bytes": used_bytes,
        "attachments": attachments,
        "max_group_bytes": app.cfg.group_quota_bytes,
        "max_group_attachments": app.cfg.group_quota_count,
        "max_file_bytes": app.cfg.max_file_bytes,
        "expiry_secs": app.cfg.attachment_ttl_secs,
    }))
    .into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// `POST /v1/groups/{gid}/reject`, signed (`Mimi-Auth`) in the epoch *before* the group's last
/// commit by a member of that epoch other than the committer; the body is the rejected commit as
/// relayed. While no other member of the previous epoch has worked in the new epoch, the DS
/// returns the group to the previous epoch: the leaves the commit added lose access and honest
/// members commit again. See docs/SECURITY.md ("Forged commits").
pub(super) async fn reject_commit(
    State(app): State<AppState>,
    gid: Result<Path<String>, PathRejection>,
    req: Request,
) -> ApiResult<Response> {
    let caller = verifier(&app).verify_previous_epoch(req.headers(), "POST", &target_of(&req))?;
    let gid = path_id(gid)?;
    if caller.group_id != gid {
        return Err(ApiError::forbidden("signed for another group"));
    }
    let body = small_body(req.into_body()).await?;
    caller.check_body(&Sha256::digest(&body))?;
    let epoch = app
        .groups
        .reject_commit(app.meta.as_ref(), &gid, caller.leaf_index, &Sha256::digest(&body))
        .map_err(group_err)?;
    tracing::warn!(group = %b64(&gid), epoch, reporter = caller.leaf_index, "a member rejected the last commit; rolled back");
    app.notify.notify_waiters();
    Ok(Json(serde_json::json!({ "epoch": epoch })).into_response())
}
