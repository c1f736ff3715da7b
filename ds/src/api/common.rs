//! Helpers shared by the route handlers: path segments, small bodies, error mapping.

use axum::body::{Body, Bytes};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ApiResult};
use crate::groups::GroupError;
use crate::reqauth::{Caller, Verifier};
use crate::state::App;

/// Token length in bytes (256 bits from the OS RNG).
pub const TOKEN_LEN: usize = 32;
/// Largest body of the small (non-attachment) requests.
pub(super) const MAX_SMALL_BODY: usize = 1024 * 1024;
/// Largest `group_id` accepted in an `UploadAttachmentRequest` (and largest group or client id
/// in a path).
pub(super) const MAX_GROUP_ID: usize = crate::groups::MAX_GROUP_ID_LEN;
/// Largest content of a TLS `opaque<V>` (RFC 9420 §2.1.2).
pub(super) const MAX_VL: u64 = (1 << 30) - 1;

pub(super) fn path_param(p: Result<Path<String>, PathRejection>) -> ApiResult<String> {
    p.map(|Path(s)| s).map_err(|_| ApiError::bad_request("malformed path"))
}

/// A `{token}`/`{id}` path segment: anything malformed is, like any unknown token, 404 (checked
/// after authentication, so non-members still get 403).
pub(super) fn path_token(p: Result<Path<String>, PathRejection>) -> ApiResult<String> {
    p.map(|Path(s)| s).map_err(|_| ApiError::not_found())
}

pub(super) fn verifier(app: &App) -> Verifier<'_> {
    Verifier {
        groups: &app.groups,
        crypto: &app.crypto,
        nonces: &app.nonces,
        skew_ms: app.cfg.clock_skew_secs.saturating_mul(1000),
    }
}

pub(super) fn target_of(req: &Request) -> String {
    req.uri().path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_else(|| req.uri().path().to_owned())
}

/// Verifies a signed-request header; a caller who is not a current member of the signed group
/// gets 403 `Forbidden` on every route, before any token or upload is looked up.
pub(super) fn authenticate(app: &App, req: &Request, name: &str, allow_old: bool) -> ApiResult<Caller> {
    verifier(app).verify(req.headers(), name, req.method().as_str(), &target_of(req), allow_old)
}

pub(super) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub(super) fn unb64(s: &str) -> ApiResult<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s).map_err(|_| ApiError::bad_request("not base64url"))
}

/// A `{gid}`/`{cid}` path segment: base64url of at most [`MAX_GROUP_ID`] bytes (400 otherwise).
pub(super) fn path_id(p: Result<Path<String>, PathRejection>) -> ApiResult<Vec<u8>> {
    let s = path_param(p)?;
    if s.len() > MAX_GROUP_ID.div_ceil(3) * 4 {
        return Err(ApiError::bad_request(format!("id longer than {MAX_GROUP_ID} bytes")));
    }
    let id = unb64(&s)?;
    if id.len() > MAX_GROUP_ID {
        return Err(ApiError::bad_request(format!("id longer than {MAX_GROUP_ID} bytes")));
    }
    Ok(id)
}

pub(super) fn random_bytes<const N: usize>() -> ApiResult<[u8; N]> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| ApiError::internal(format!("OS RNG: {e}")))?;
    Ok(b)
}

pub(super) fn token_hash(token: &[u8]) -> Vec<u8> {
    Sha256::digest(token).to_vec()
}

pub(super) async fn small_body(body: Body) -> ApiResult<Bytes> {
    axum::body::to_bytes(body, MAX_SMALL_BODY).await.map_err(|e| {
        if has_source::<http_body_util::LengthLimitError>(&e) {
            ApiError::too_large("request body too large")
        } else {
            body_error(&e)
        }
    })
}

pub(super) fn has_source<T: std::error::Error + 'static>(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(c) = cur {
        if c.is::<T>() {
            return true;
        }
        cur = c.source();
    }
    false
}

/// A request body that failed while being read: 408 if it stopped arriving (see
/// [`crate::server::TimedBody`]), 400 if it was cut off or malformed.
pub(super) fn body_error(e: &axum::Error) -> ApiError {
    if crate::server::is_body_timeout(e) {
        ApiError::timeout()
    } else {
        ApiError::bad_request("request body aborted or malformed")
    }
}

pub(super) fn group_err(e: GroupError) -> ApiError {
    match e {
        GroupError::Bad(m) => ApiError::bad_request(m),
        GroupError::Invalid(m) => ApiError::new(StatusCode::BAD_REQUEST, "InvalidMessage", m),
        // The same answer as for a caller that is not a member of a known group.
        GroupError::UnknownGroup => ApiError::forbidden("not a member of the group"),
        GroupError::Exists => ApiError::conflict("group already registered"),
        GroupError::WrongEpoch(e) => {
            ApiError::new(StatusCode::CONFLICT, "WrongEpoch", format!("the group is at epoch {e}"))
        }
        GroupError::Storage(m) => ApiError::internal(m),
        GroupError::DiskFull => ApiError::insufficient_storage(),
        GroupError::Forbidden(m) => ApiError::forbidden(m),
        GroupError::Limit(m) => ApiError::quota(m),
        GroupError::NotDisputable(m) => ApiError::conflict(m),
    }
}

pub(super) fn octets(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, "application/octet-stream"), (header::CACHE_CONTROL, "no-store")], body)
        .into_response()
}

/// 429 `RateLimited` with `Retry-After`.
pub(super) fn rate_limited(wait_secs: u64) -> ApiError {
    ApiError::new(StatusCode::TOO_MANY_REQUESTS, "RateLimited", "too many requests; retry later")
        .with_header("retry-after", wait_secs)
}
