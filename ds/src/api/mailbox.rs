//! Client mailboxes (key packages and Welcomes) and the development login. Every route here acts
//! for a client, not a group member: the caller is identified by its bearer token
//! ([`crate::identity`]) before anything else is looked at.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::common::*;
use crate::error::{ApiError, ApiResult};
use crate::identity::DEV_TOKEN_TTL_SECS;
use crate::state::App;
use openmls::prelude::tls_codec::Deserialize as _;
use openmls::prelude::{KeyPackageIn, MlsMessageBodyIn, MlsMessageIn, OpenMlsProvider as _, ProtocolVersion};

type AppState = Arc<App>;

/// The authenticated client, which must be the one named by the `{cid}` path segment.
fn mailbox_owner(app: &App, headers: &HeaderMap, cid: Result<Path<String>, PathRejection>) -> ApiResult<Vec<u8>> {
    let client = app.identity.client_of(headers)?;
    let cid = path_id(cid)?;
    if cid != client {
        return Err(ApiError::forbidden("this mailbox belongs to another client"));
    }
    Ok(cid)
}

/// `POST /v1/clients/{cid}/key-packages` (bearer token of `cid`): the KeyPackage's credential
/// must name `cid`.
pub(super) async fn publish_key_package(
    State(app): State<AppState>,
    headers: HeaderMap,
    cid: Result<Path<String>, PathRejection>,
    body: Body,
) -> ApiResult<Response> {
    let cid = mailbox_owner(&app, &headers, cid)?;
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
    if !app.meta.push_key_package(&cid, &body, kp.last_resort(), app.cfg.max_key_packages)? {
        return Err(ApiError::quota(format!("at most {} key packages per client", app.cfg.max_key_packages)));
    }
    Ok(StatusCode::CREATED.into_response())
}

/// `POST /v1/clients/{cid}/key-packages/claim` (any authenticated client, rate-limited per
/// claimer): the oldest ordinary key package (removed), else the newest last-resort one (kept).
pub(super) async fn claim_key_package(
    State(app): State<AppState>,
    headers: HeaderMap,
    cid: Result<Path<String>, PathRejection>,
) -> ApiResult<Response> {
    let claimer = app.identity.client_of(&headers)?;
    if let Err(wait) = app.claim_limit.check(&claimer) {
        return Err(rate_limited(wait));
    }
    let cid = path_id(cid)?;
    match app.meta.pop_key_package(&cid)? {
        Some(kp) => Ok(octets(StatusCode::OK, kp)),
        None => Err(ApiError::not_found()),
    }
}

/// `GET /v1/clients/{cid}/welcome` (bearer token of `cid`): the oldest Welcome, 204 if none.
pub(super) async fn get_welcome(
    State(app): State<AppState>,
    headers: HeaderMap,
    cid: Result<Path<String>, PathRejection>,
) -> ApiResult<Response> {
    let cid = mailbox_owner(&app, &headers, cid)?;
    match app.meta.pop_welcome(&cid)? {
        Some(w) => Ok(octets(StatusCode::OK, w)),
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

#[derive(serde::Deserialize)]
pub(super) struct DevLogin {
    client: String,
}

/// `POST /v1/dev/login` `{"client": "<name>"}` (development mode only; 404 otherwise): a token
/// for any name.
pub(super) async fn dev_login(State(app): State<AppState>, body: Body) -> ApiResult<Response> {
    if !app.identity.is_dev() {
        return Err(ApiError::not_found());
    }
    let body = small_body(body).await?;
    let req: DevLogin =
        serde_json::from_slice(&body).map_err(|_| ApiError::bad_request("expected {\"client\": \"<name>\"}"))?;
    if req.client.is_empty() || req.client.len() > MAX_GROUP_ID {
        return Err(ApiError::bad_request(format!("client name must be 1 to {MAX_GROUP_ID} bytes")));
    }
    let token = app.identity.issue(&req.client, DEV_TOKEN_TTL_SECS)?;
    Ok(Json(serde_json::json!({
        "token": token,
        "client": req.client,
        "expires_in": DEV_TOKEN_TTL_SECS,
        "mode": "development",
    }))
    .into_response())
}
