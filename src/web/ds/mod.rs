//! A Delivery Service client over `fetch`: group management through the DS (handshakes as
//! PublicMessages), the message relay, key packages, and attachments: one-shot or resumable
//! upload with retries, streaming and Range downloads, delete and copy. Every group request is
//! signed by this member's leaf key (`Mimi-Auth`, see `crate::auth`).
//!
//! The client is split by concern: `http` (requests, signing, retries, DS error bodies), `relay`
//! (key packages, groups, handshakes, messages), `upload` (one-shot and resumable, resume after
//! a reload) and `download` (streaming and Range downloads, delete, copy).

mod download;
mod groups;
mod http;
mod identity;
#[cfg(feature = "mls")]
mod relay;
#[cfg(feature = "mls")]
mod resume;
mod save;
mod upload;

use wasm_bindgen::prelude::*;

#[cfg(feature = "mls")]
use super::client::MlsClient;
#[cfg(not(feature = "mls"))]
use super::external::ExternalGroup;
#[cfg(feature = "mls")]
use super::group::MlsGroup;
use super::member::Member;
#[cfg(feature = "mls")]
use super::store::ClientHandle;
use http::Req;

/// The group `DsClient`'s methods take: this package's `MlsGroup` in the full build, the
/// application's `ExternalGroup` in the light build (`mimi-attachments/lite`).
#[cfg(feature = "mls")]
pub(crate) type DsGroup = MlsGroup;
/// The group `DsClient`'s methods take: this package's `MlsGroup` in the full build, the
/// application's `ExternalGroup` in the light build (`mimi-attachments/lite`).
#[cfg(not(feature = "mls"))]
pub(crate) type DsGroup = ExternalGroup;

/// Attachments whose ciphertext is at most this size go up in one request (`POST /v1/attachments`).
pub const ONE_SHOT_UPLOAD_MAX: u64 = 4 << 20;

/// Bytes per `PATCH` of a resumable upload.
pub const UPLOAD_PART: usize = 8 << 20;

/// Tries per request on network errors and 502/503/504, with exponential backoff (0.25 s .. 4 s).
pub const RETRIES: u32 = 8;

fn b64(b: &[u8]) -> String {
    crate::b64::encode(b)
}

/// A client of one Delivery Service, acting for one `MlsClient` (full build) or for the members
/// of the application's own MLS stack (`ExternalGroup`, light build).
#[wasm_bindgen]
pub struct DsClient {
    base: String,
    #[cfg(feature = "mls")]
    h: ClientHandle,
    auth: identity::ClientAuth,
}

#[wasm_bindgen]
impl DsClient {
    /// A client of the Delivery Service at `baseUrl` (e.g. `"http://127.0.0.1:8080"`, or `""` for
    /// the page's own origin), acting for `client`. `options.authToken`: the bearer token your
    /// login issued for this client (sent on the key-package, Welcome and group-registration
    /// routes); `options.devLogin: true`: fetch one from a DS in development mode instead.
    #[cfg(feature = "mls")]
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(js_name = baseUrl)] base_url: String,
        client: &MlsClient,
        #[wasm_bindgen(unchecked_optional_param_type = "{ authToken?: string; devLogin?: boolean }")] options: JsValue,
    ) -> DsClient {
        let auth = identity::ClientAuth::from_options(&options);
        DsClient { base: base_url.trim_end_matches('/').to_string(), h: client.0.clone(), auth }
    }

    /// A client of the Delivery Service at `baseUrl` for groups of the application's own MLS
    /// stack (`ExternalGroup`, whose `sign` callback signs every group request).
    /// `options.authToken`: the bearer token your login issued (sent when registering a group);
    /// `options.devLogin: true`: fetch one from a DS in development mode instead.
    #[cfg(not(feature = "mls"))]
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(js_name = baseUrl)] base_url: String,
        #[wasm_bindgen(unchecked_optional_param_type = "{ authToken?: string; devLogin?: boolean }")] options: JsValue,
    ) -> DsClient {
        let auth = identity::ClientAuth::from_options(&options);
        DsClient { base: base_url.trim_end_matches('/').to_string(), auth }
    }

    /// Replaces the bearer token (e.g. after your login refreshed it).
    #[wasm_bindgen(js_name = setAuthToken)]
    pub fn set_auth_token(&self, token: Option<String>) {
        self.auth.set(token);
    }
}

impl DsClient {
    #[cfg(feature = "mls")]
    fn gid(g: &Member) -> String {
        b64(&g.group_id())
    }

    fn signed(g: &Member, method: &'static str, path: String, body_hash: [u8; 32]) -> Req {
        Req::new(method, path).signed_by(g, body_hash)
    }

    fn clone_handle(&self) -> DsClient {
        DsClient {
            base: self.base.clone(),
            #[cfg(feature = "mls")]
            h: self.h.clone(),
            auth: self.auth.clone(),
        }
    }
}
