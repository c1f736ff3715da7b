//! Verification of the signed-request headers ([`mimi_attachments::auth`]) against the DS's view
//! of the group, with freshness and replay protection.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::{HeaderMap, StatusCode};
use mimi_attachments::auth::{AuthError, SignedDsRequest, NONCE_LEN};
use openmls_rust_crypto::RustCrypto;

use crate::error::ApiError;
use crate::groups::{Groups, LeafKey};

/// An authenticated member.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The group the request was signed for.
    pub group_id: Vec<u8>,
    /// The signer's leaf.
    pub leaf_index: u32,
    /// The signed epoch.
    pub epoch: u64,
    /// The leaf key that verified the signature.
    pub key: LeafKey,
    /// The signed SHA-256 of the body (checked by the handler once the body is read).
    pub body_hash: Vec<u8>,
}

impl Caller {
    /// Checks the signed body hash.
    pub fn check_body(&self, hash: &[u8]) -> Result<(), ApiError> {
        if self.body_hash.as_slice() == hash {
            Ok(())
        } else {
            Err(ApiError::new(StatusCode::UNAUTHORIZED, "BadSignature", "the signature does not cover this body"))
        }
    }
}

/// What a caller whose signature does not verify as a current member of the signed group
/// receives, on every route: 403 `Forbidden`. The decision is taken before, and independently
/// of, any token or upload lookup, so it reveals nothing about tokens; members get the same
/// 404 `NotFound` for every token that is not a live one of their group.
fn not_member() -> ApiError {
    ApiError::forbidden("not a member of the group")
}

/// Replay cache of request nonces, kept for as long as their timestamp is acceptable. Expired
/// entries are dropped at most once a second (and whenever the map reaches a power of two), so it
/// holds at most about `request rate × (2 × clock skew + 2 s)` entries.
#[derive(Default)]
pub struct NonceCache {
    seen: Mutex<NonceMap>,
    /// A replay cache shared by all replicas (PostgreSQL), used instead of the map.
    shared: Option<std::sync::Arc<dyn crate::meta::MetaStore>>,
}

#[derive(Default)]
struct NonceMap {
    map: HashMap<[u8; NONCE_LEN], u64>,
    next_purge_ms: u64,
}

impl NonceCache {
    /// Records `nonce` until `keep_until_ms`; false if it was already seen.
    pub fn insert(&self, nonce: [u8; NONCE_LEN], now_ms: u64, keep_until_ms: u64) -> bool {
        self.try_insert(nonce, now_ms, keep_until_ms).unwrap_or(false)
    }

    /// The replay cache in a metadata store shared by every replica.
    pub fn shared(meta: std::sync::Arc<dyn crate::meta::MetaStore>) -> Self {
        Self { seen: Mutex::default(), shared: Some(meta) }
    }

    /// As [`NonceCache::insert`]; an error when the shared cache cannot be reached.
    pub fn try_insert(&self, nonce: [u8; NONCE_LEN], now_ms: u64, keep_until_ms: u64) -> Result<bool, ApiError> {
        if let Some(meta) = &self.shared {
            if let Some(fresh) = meta.insert_nonce(&nonce, now_ms, keep_until_ms)? {
                return Ok(fresh);
            }
        }
        let mut g = match self.seen.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let NonceMap { map: m, next_purge_ms } = &mut *g;
        if m.len() >= 1024 && (now_ms >= *next_purge_ms || m.len().is_power_of_two()) {
            m.retain(|_, until| *until > now_ms);
            *next_purge_ms = now_ms.saturating_add(1000);
        }
        if let Some(until) = m.get(&nonce) {
            if *until > now_ms {
                return Ok(false);
            }
        }
        m.insert(nonce, keep_until_ms);
        Ok(true)
    }
}

/// The current UNIX time in milliseconds.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn unauthorized(e: AuthError) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, e.code(), e.to_string())
}

/// Everything needed to verify one header.
pub struct Verifier<'a> {
    /// Groups.
    pub groups: &'a Groups,
    /// Crypto for signature verification.
    pub crypto: &'a RustCrypto,
    /// Replay cache.
    pub nonces: &'a NonceCache,
    /// Accepted clock skew.
    pub skew_ms: u64,
}

impl Verifier<'_> {
    /// Verifies header `name`: present exactly once (400 otherwise), well formed, covers `method`
    /// and `target`, fresh, signed by a member's leaf (per [`Groups::lookup`]; otherwise 403
    /// `Forbidden`) and not replayed. Only a caller whose signature verified is told that its
    /// epoch is stale (401 `StaleEpoch`): unknown groups, unknown leaves and bad signatures all get
    /// the same 403, so an unauthenticated caller learns nothing about a group. The body hash is
    /// checked later by the handler ([`Caller::check_body`]).
    pub fn verify(
        &self,
        headers: &HeaderMap,
        name: &str,
        method: &str,
        target: &str,
        allow_old_epochs: bool,
    ) -> Result<Caller, ApiError> {
        self.verify_with(headers, name, method, target, |tbs| {
            let found = self.groups.lookup(tbs.group_id.as_slice(), tbs.epoch, tbs.leaf_index, allow_old_epochs);
            found.map(|l| (l.keys, l.stale)).map_err(|_| not_member())
        })
        .inspect(|c| {
            // A member of the previous epoch working in the new one confirms the last commit.
            self.groups.note_current_epoch_use(&c.group_id, c.epoch, c.leaf_index, &c.key);
        })
    }

    /// Like [`Verifier::verify`], but the signature must be by `leaf` as it was *before* the
    /// group's last commit, signed in that previous epoch (see [`Groups::disputable_key`]).
    pub fn verify_previous_epoch(&self, headers: &HeaderMap, method: &str, target: &str) -> Result<Caller, ApiError> {
        self.verify_with(headers, mimi_attachments::auth::AUTH_HEADER, method, target, |tbs| {
            match self.groups.disputable_key(tbs.group_id.as_slice(), tbs.epoch, tbs.leaf_index) {
                Some(k) => Ok((vec![k], false)),
                None => Err(not_member()),
            }
        })
    }

    fn verify_with(
        &self,
        headers: &HeaderMap,
        name: &str,
        method: &str,
        target: &str,
        keys_for: impl FnOnce(&mimi_attachments::auth::DsRequestTbs) -> Result<(Vec<LeafKey>, bool), ApiError>,
    ) -> Result<Caller, ApiError> {
        let value = crate::identity::single_header(headers, name)?
            .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "Unauthorized", format!("missing {name} header")))?
            .to_str()
            .map_err(|_| unauthorized(AuthError::Malformed("not ASCII")))?;
        let signed = SignedDsRequest::from_header(value).map_err(unauthorized)?;
        let tbs = &signed.tbs;
        // Method and target now; the body hash once the handler has read the body.
        tbs.check_request(method, target, tbs.body_hash.as_slice()).map_err(unauthorized)?;
        let now = now_ms();
        tbs.check_fresh(now, self.skew_ms).map_err(unauthorized)?;
        let (keys, stale) = keys_for(tbs)?;
        let key = keys
            .into_iter()
            .find(|k| signed.verify(self.crypto, k.scheme, &k.signature_key).is_ok())
            .ok_or_else(not_member)?;
        if stale {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "StaleEpoch",
                "the signed epoch is not accepted any more",
            ));
        }
        let nonce: [u8; NONCE_LEN] =
            tbs.nonce.as_slice().try_into().map_err(|_| unauthorized(AuthError::Malformed("nonce length")))?;
        if !self.nonces.try_insert(nonce, now, tbs.timestamp_ms.saturating_add(self.skew_ms).saturating_add(1000))? {
            return Err(ApiError::new(StatusCode::UNAUTHORIZED, "Replay", "this request was already received"));
        }
        Ok(Caller {
            group_id: tbs.group_id.as_slice().to_vec(),
            leaf_index: tbs.leaf_index,
            epoch: tbs.epoch,
            key,
            body_hash: tbs.body_hash.as_slice().to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_are_refused_until_they_expire_and_expired_ones_are_purged() {
        let c = NonceCache::default();
        assert!(c.insert([1; NONCE_LEN], 1_000, 5_000));
        assert!(!c.insert([1; NONCE_LEN], 4_999, 9_000), "replay within the window");
        assert!(c.insert([1; NONCE_LEN], 5_000, 9_000), "accepted again once expired");
        for i in 0..3000u32 {
            let mut n = [0u8; NONCE_LEN];
            n[..4].copy_from_slice(&i.to_le_bytes());
            n[4] = 2;
            assert!(c.insert(n, 10_000, 11_000));
        }
        // A second later every one of them has expired and the next insert purges them.
        assert!(c.insert([3; NONCE_LEN], 12_000, 13_000));
        let len = c.seen.lock().unwrap().map.len();
        assert!(len <= 2, "expired nonces were purged ({len} left)");
    }
}
