//! The HTTP API (documented in ds/README.md).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{MatchedPath, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use futures_util::StreamExt as _;
use mimi_attachments::auth::{empty_body_hash, AUTH_HEADER, AUTH_TARGET_HEADER};
use mimi_attachments::wire::{decode_exact, encode, DownloadAttachmentRequest, UploadAttachmentResponse};
use openmls::prelude::tls_codec::Deserialize as _;
use openmls::prelude::{KeyPackageIn, MlsMessageBodyIn, MlsMessageIn, OpenMlsProvider as _, ProtocolVersion};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt as _;
use tokio_util::io::ReaderStream;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::blob::StagingWriter;
use crate::config::DeletePolicy;
use crate::error::{ApiError, ApiResult};
use crate::groups::GroupError;
use crate::meta::{AttachmentRow, Reserve, UploadRow};
use crate::reqauth::{now_ms, Caller, Verifier};
use crate::App;

type AppState = Arc<App>;

/// Largest body of the small (non-attachment) requests.
const MAX_SMALL_BODY: usize = 1024 * 1024;
/// Token length in bytes (256 bits from the OS RNG).
pub const TOKEN_LEN: usize = 32;
/// Largest `group_id` accepted in an `UploadAttachmentRequest` (and largest group or client id
/// in a path).
const MAX_GROUP_ID: usize = crate::groups::MAX_GROUP_ID_LEN;
/// Largest content of a TLS `opaque<V>` (RFC 9420 §2.1.2).
const MAX_VL: u64 = (1 << 30) - 1;

/// The router with CORS and request logging.
pub fn router(app: AppState) -> Router {
    let cors = cors_layer(&app.cfg.cors_origins);
    Router::new()
        .route("/v1/health", get(|| async { "ok" }))
        .route("/v1/groups", post(register_group))
        .route("/v1/groups/{gid}/handshake", post(post_handshake))
        .route("/v1/groups/{gid}/messages", post(post_message).get(get_messages))
        .route("/v1/groups/{gid}/quota", get(get_quota))
        .route("/v1/clients/{cid}/key-packages", post(publish_key_package))
        .route("/v1/clients/{cid}/key-packages/claim", post(claim_key_package))
        .route("/v1/clients/{cid}/welcome", get(get_welcome))
        .route("/v1/attachments", post(upload_oneshot))
        .route("/v1/attachments/download", post(download_tls))
        .route("/v1/attachments/{token}", get(download_get).delete(delete_attachment))
        .route("/v1/attachments/{token}/copy", post(copy_attachment))
        .route("/v1/uploads", post(create_upload))
        .route("/v1/uploads/{id}", axum::routing::patch(patch_upload).head(head_upload).delete(cancel_upload))
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::disable())
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
fn path_param(p: Result<Path<String>, PathRejection>) -> ApiResult<String> {
    p.map(|Path(s)| s).map_err(|_| ApiError::bad_request("malformed path"))
}

/// A `{token}`/`{id}` path segment: anything malformed is, like any unknown token, 404 (checked
/// after authentication, so non-members still get 403).
fn path_token(p: Result<Path<String>, PathRejection>) -> ApiResult<String> {
    p.map(|Path(s)| s).map_err(|_| ApiError::not_found())
}

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
        ])
        .max_age(Duration::from_secs(600))
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

fn verifier(app: &App) -> Verifier<'_> {
    Verifier {
        groups: &app.groups,
        crypto: &app.crypto,
        nonces: &app.nonces,
        skew_ms: app.cfg.clock_skew_secs.saturating_mul(1000),
    }
}

fn target_of(req: &Request) -> String {
    req.uri().path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_else(|| req.uri().path().to_owned())
}

/// Verifies a signed-request header; a caller who is not a current member of the signed group
/// gets 403 `Forbidden` on every route, before any token or upload is looked up.
fn authenticate(app: &App, req: &Request, name: &str, allow_old: bool) -> ApiResult<Caller> {
    verifier(app).verify(req.headers(), name, req.method().as_str(), &target_of(req), allow_old)
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(s: &str) -> ApiResult<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s).map_err(|_| ApiError::bad_request("not base64url"))
}

/// A `{gid}`/`{cid}` path segment: base64url of at most [`MAX_GROUP_ID`] bytes (400 otherwise).
fn path_id(p: Result<Path<String>, PathRejection>) -> ApiResult<Vec<u8>> {
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

fn random_bytes<const N: usize>() -> ApiResult<[u8; N]> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| ApiError::internal(format!("OS RNG: {e}")))?;
    Ok(b)
}

fn token_hash(token: &[u8]) -> Vec<u8> {
    Sha256::digest(token).to_vec()
}

async fn small_body(body: Body) -> ApiResult<Bytes> {
    axum::body::to_bytes(body, MAX_SMALL_BODY).await.map_err(|e| {
        if has_source::<http_body_util::LengthLimitError>(&e) {
            ApiError::too_large("request body too large")
        } else {
            body_error(&e)
        }
    })
}

fn has_source<T: std::error::Error + 'static>(e: &(dyn std::error::Error + 'static)) -> bool {
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
fn body_error(e: &axum::Error) -> ApiError {
    if crate::server::is_body_timeout(e) {
        ApiError::timeout()
    } else {
        ApiError::bad_request("request body aborted or malformed")
    }
}

fn group_err(e: GroupError) -> ApiError {
    match e {
        GroupError::Bad(m) => ApiError::bad_request(m),
        GroupError::Invalid(m) => ApiError::new(StatusCode::BAD_REQUEST, "InvalidMessage", m),
        GroupError::UnknownGroup => ApiError::not_found(),
        GroupError::Exists => ApiError::conflict("group already registered"),
        GroupError::WrongEpoch(e) => {
            ApiError::new(StatusCode::CONFLICT, "WrongEpoch", format!("the group is at epoch {e}"))
        }
        GroupError::Storage(m) => ApiError::internal(m),
        GroupError::DiskFull => ApiError::insufficient_storage(),
    }
}

fn octets(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, "application/octet-stream"), (header::CACHE_CONTROL, "no-store")], body)
        .into_response()
}

// ---------------------------------------------------------------------------------------------
// Groups, relay, key packages

async fn register_group(State(app): State<AppState>, body: Body) -> ApiResult<Response> {
    let body = small_body(body).await?;
    let (gid, epoch) = app.groups.register(app.meta.as_ref(), &body).map_err(group_err)?;
    Ok((StatusCode::CREATED, Json(serde_json::json!({ "group_id": b64(&gid), "epoch": epoch }))).into_response())
}

async fn post_handshake(
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

async fn post_message(
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
struct FetchQuery {
    #[serde(default)]
    after: u64,
    #[serde(default)]
    wait_secs: u64,
    #[serde(default)]
    limit: Option<u32>,
}

async fn get_messages(
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
async fn get_quota(
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

async fn publish_key_package(
    State(app): State<AppState>,
    cid: Result<Path<String>, PathRejection>,
    body: Body,
) -> ApiResult<Response> {
    let cid = path_id(cid)?;
    let body = small_body(body).await?;
    let msg = MlsMessageIn::tls_deserialize_exact(&body).map_err(|_| ApiError::bad_request("not an MLS message"))?;
    let kp: KeyPackageIn = match msg.extract() {
        MlsMessageBodyIn::KeyPackage(kp) => kp,
        _ => return Err(ApiError::bad_request("expected a KeyPackage")),
    };
    let provider = openmls_rust_crypto::OpenMlsRustCrypto::default();
    let kp = kp
        .validate(provider.crypto(), ProtocolVersion::Mls10)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "InvalidMessage", format!("{e:?}")))?;
    if kp.leaf_node().credential().serialized_content() != cid.as_slice() {
        return Err(ApiError::forbidden("the key package's credential is not this client's"));
    }
    app.meta.push_key_package(&cid, &body)?;
    Ok(StatusCode::CREATED.into_response())
}

async fn claim_key_package(
    State(app): State<AppState>,
    cid: Result<Path<String>, PathRejection>,
) -> ApiResult<Response> {
    let cid = path_id(cid)?;
    match app.meta.pop_key_package(&cid)? {
        Some(kp) => Ok(octets(StatusCode::OK, kp)),
        None => Err(ApiError::not_found()),
    }
}

async fn get_welcome(State(app): State<AppState>, cid: Result<Path<String>, PathRejection>) -> ApiResult<Response> {
    let cid = path_id(cid)?;
    match app.meta.pop_welcome(&cid)? {
        Some(w) => Ok(octets(StatusCode::OK, w)),
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

// ---------------------------------------------------------------------------------------------
// Streaming bodies

/// A request body read chunk by chunk, hashing every byte (for the signed body hash).
struct BodyReader {
    stream: axum::body::BodyDataStream,
    pending: Bytes,
    hasher: Sha256,
    /// The stream ended or failed: nothing more to read.
    done: bool,
}

/// At most this much of a refused upload's remaining body is read (and discarded) before the
/// error response, so that the client, still sending, receives the response instead of a
/// connection reset.
const DRAIN_MAX_BYTES: u64 = 8 * 1024 * 1024;
/// ... and for at most this long.
const DRAIN_MAX_TIME: Duration = Duration::from_secs(5);

impl BodyReader {
    fn new(body: Body) -> Self {
        Self { stream: body.into_data_stream(), pending: Bytes::new(), hasher: Sha256::new(), done: false }
    }

    /// Reads and discards what is left of the body, bounded by [`DRAIN_MAX_BYTES`] and
    /// [`DRAIN_MAX_TIME`].
    async fn drain(&mut self) {
        if self.done {
            return;
        }
        let _ = tokio::time::timeout(DRAIN_MAX_TIME, async {
            let mut n = self.pending.len() as u64;
            self.pending = Bytes::new();
            while n <= DRAIN_MAX_BYTES {
                match self.stream.next().await {
                    Some(Ok(b)) => n += b.len() as u64,
                    _ => break,
                }
            }
        })
        .await;
        self.done = true;
    }

    /// The next chunk (pending bytes first); `None` at the end.
    async fn next(&mut self) -> ApiResult<Option<Bytes>> {
        if !self.pending.is_empty() {
            return Ok(Some(std::mem::take(&mut self.pending)));
        }
        if self.done {
            return Ok(None);
        }
        loop {
            match self.stream.next().await {
                None => {
                    self.done = true;
                    return Ok(None);
                }
                Some(Err(e)) => {
                    self.done = true;
                    return Err(body_error(&e));
                }
                Some(Ok(b)) if b.is_empty() => continue,
                Some(Ok(b)) => {
                    self.hasher.update(&b);
                    return Ok(Some(b));
                }
            }
        }
    }

    /// Exactly `n` (small) bytes.
    async fn read_exact(&mut self, n: usize) -> ApiResult<Vec<u8>> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let Some(mut b) = self.next().await? else {
                return Err(ApiError::bad_request("body truncated"));
            };
            let take = (n - out.len()).min(b.len());
            out.extend_from_slice(&b.split_to(take));
            self.pending = b;
        }
        Ok(out)
    }

    /// An MLS variable-length integer (RFC 9420 §2.1.2), minimally encoded.
    async fn read_varint(&mut self) -> ApiResult<u64> {
        let first = self.read_exact(1).await?;
        let b0 = first.first().copied().unwrap_or(0);
        let (len, min) = match b0 >> 6 {
            0 => (1usize, 0u64),
            1 => (2, 64),
            2 => (4, 16384),
            _ => return Err(ApiError::bad_request("invalid varint")),
        };
        let mut v = u64::from(b0 & 0x3f);
        for b in self.read_exact(len - 1).await? {
            v = (v << 8) | u64::from(b);
        }
        if v < min {
            return Err(ApiError::bad_request("non-minimal varint"));
        }
        Ok(v)
    }

    /// Writes the next `len` bytes exactly (or up to `len` when `exact` is false) to `w`.
    /// Returns the number written; more data than `len` is [`CopyError::TooLong`].
    async fn copy_to(&mut self, w: &mut dyn StagingWriter, len: u64, exact: bool) -> Result<u64, CopyError> {
        let mut written = 0u64;
        while let Some(mut b) = self.next().await.map_err(CopyError::Api)? {
            let room = len.saturating_sub(written);
            if b.len() as u64 > room {
                if exact {
                    let keep = usize::try_from(room).unwrap_or(usize::MAX);
                    let head = b.split_to(keep);
                    w.write_all(&head).await.map_err(CopyError::Io)?;
                    written += head.len() as u64;
                    self.pending = b;
                    return Ok(written);
                }
                return Err(CopyError::TooLong);
            }
            w.write_all(&b).await.map_err(CopyError::Io)?;
            written += b.len() as u64;
            if exact && written == len {
                return Ok(written);
            }
        }
        Ok(written)
    }

    /// Reads to the end and returns the body hash.
    async fn finish(&mut self) -> ApiResult<(bool, [u8; 32])> {
        let mut extra = false;
        while self.next().await?.is_some() {
            extra = true;
        }
        Ok((extra, std::mem::take(&mut self.hasher).finalize().into()))
    }
}

enum CopyError {
    Api(ApiError),
    Io(std::io::Error),
    TooLong,
}

impl From<CopyError> for ApiError {
    fn from(e: CopyError) -> Self {
        match e {
            CopyError::Api(a) => a,
            CopyError::Io(e) => e.into(),
            CopyError::TooLong => ApiError::too_large("the body is longer than the announced length"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Uploads

/// Marks an upload as having a request in flight; removed on drop.
pub(crate) struct BusyGuard<'a> {
    app: &'a App,
    id: String,
}

impl<'a> BusyGuard<'a> {
    pub(crate) fn try_new(app: &'a App, id: &str) -> Option<Self> {
        let mut b = match app.busy.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if b.insert(id.to_owned()) {
            Some(Self { app, id: id.to_owned() })
        } else {
            None
        }
    }
}

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        let mut b = match self.app.busy.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        b.remove(&self.id);
    }
}

/// 507 `InsufficientStorage` unless the blob store has room for `n` more bytes plus the
/// `--min-free-bytes` reserve (which keeps metadata writes and deletions possible).
async fn ensure_space(app: &App, n: u64) -> ApiResult<()> {
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
fn reserve(app: &App, caller: &Caller, total: u64, resumable: bool) -> ApiResult<UploadRow> {
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
        Reserve::Missing => Err(ApiError::internal("unexpected reserve outcome")),
    }
}

fn reserve_too_large(app: &App) -> ApiError {
    ApiError::too_large(format!("the attachment exceeds the per-file limit of {} bytes", app.cfg.max_file_bytes))
}

/// Turns a complete upload into an attachment and returns its new token.
async fn finalize(app: &App, up: &UploadRow) -> ApiResult<Vec<u8>> {
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

fn token_response(status: StatusCode, token: Vec<u8>) -> ApiResult<Response> {
    let body = encode(&UploadAttachmentResponse { token: token.into() }).map_err(ApiError::internal)?;
    Ok(octets(status, body))
}

/// `POST /v1/attachments`: one-shot `UploadAttachmentRequest`, streamed to storage.
async fn upload_oneshot(State(app): State<AppState>, req: Request) -> ApiResult<Response> {
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

async fn upload_oneshot_body(app: &AppState, caller: &Caller, body: &mut BodyReader) -> ApiResult<Response> {
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
struct Cleanup {
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

fn header_u64(h: &HeaderMap, name: &str) -> ApiResult<Option<u64>> {
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

fn upload_headers(resp: &mut Response, up: &UploadRow, offset: u64, complete: bool) {
    let h = resp.headers_mut();
    h.insert("upload-offset", HeaderValue::from(offset));
    h.insert("upload-length", HeaderValue::from(up.total));
    h.insert("upload-complete", HeaderValue::from_static(if complete { "?1" } else { "?0" }));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// `POST /v1/uploads` with `Upload-Length`: creates a resumable upload.
async fn create_upload(State(app): State<AppState>, req: Request) -> ApiResult<Response> {
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
fn own_upload(app: &App, caller: &Caller, id: &str) -> ApiResult<UploadRow> {
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::not_found());
    }
    match app.meta.get_upload(id)? {
        Some(up) if up.group_id == caller.group_id && up.uploader == caller.key.credential && up.resumable => Ok(up),
        _ => Err(ApiError::not_found()),
    }
}

/// `PATCH /v1/uploads/{id}` with `Upload-Offset`: appends the body.
async fn patch_upload(
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

async fn patch_body(
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
async fn head_upload(
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
async fn cancel_upload(
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

// ---------------------------------------------------------------------------------------------
// Downloads, deletion, copy

/// The live attachment of `token` in the caller's group; the same 404 for everything else.
fn find_attachment(app: &App, group_id: &[u8], token: &[u8]) -> ApiResult<AttachmentRow> {
    if token.len() != TOKEN_LEN {
        return Err(ApiError::not_found());
    }
    match app.meta.get_attachment(&token_hash(token))? {
        Some(a) if a.group_id.as_slice() == group_id && a.expires_ms > now_ms() => Ok(a),
        _ => Err(ApiError::not_found()),
    }
}

fn decode_token(s: &str) -> ApiResult<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s).map_err(|_| ApiError::not_found())
}

/// Parses a single `bytes=` range. `None`: serve the whole body (absent, multiple or malformed,
/// RFC 9110 §14.2 allows ignoring); `Some(Err)`: 416.
fn parse_range(h: Option<&HeaderValue>, size: u64) -> Option<Result<(u64, u64), ()>> {
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
async fn open_blob(app: &App, a: &AttachmentRow, start: u64, len: u64) -> ApiResult<crate::blob::BlobReader> {
    match app.blobs.open_blob(&a.blob_id, start, len).await {
        Ok(r) => Ok(r),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(ApiError::not_found()),
        Err(e) => Err(e.into()),
    }
}

fn download_headers(h: &mut HeaderMap) {
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    h.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("content-security-policy", HeaderValue::from_static("sandbox; default-src 'none'"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// `GET /v1/attachments/{token}`: the ciphertext, with `Range` support.
async fn download_get(
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

fn varint(len: u64) -> Vec<u8> {
    if len < 64 {
        vec![len as u8]
    } else if len < 16384 {
        ((len as u16) | 0x4000).to_be_bytes().to_vec()
    } else {
        ((len as u32) | 0x8000_0000).to_be_bytes().to_vec()
    }
}

/// `POST /v1/attachments/download`: `DownloadAttachmentRequest` → `DownloadAttachmentResponse`,
/// streamed.
async fn download_tls(State(app): State<AppState>, req: Request) -> ApiResult<Response> {
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
    let prefix = varint(a.size);
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
async fn delete_attachment(
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
async fn copy_attachment(
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

    #[test]
    fn varints_are_mls() {
        assert_eq!(varint(63), vec![63]);
        assert_eq!(varint(64), vec![0x40, 64]);
        assert_eq!(varint(16383), vec![0x7f, 0xff]);
        assert_eq!(varint(16384), vec![0x80, 0, 0x40, 0]);
    }
}
