//! Signed Delivery Service requests (shared by the client and the Delivery Service).
//!
//! Every attachment request to the Delivery Service (DS) carries a signature by the sender's MLS
//! leaf signature key, in the manner of draft-robert-mimi-delivery-service's `ClientSignature`
//! (DESIGN.md §5). The signature is RFC 9420 §5.1.2 `SignWithLabel` with our own label
//! [`REQUEST_LABEL`]:
//!
//! ```text
//! struct {
//!   opaque group_id<V>;
//!   uint64 epoch;
//!   uint32 leaf_index;
//!   opaque method<V>;      // "GET", "POST", ... (upper case ASCII)
//!   opaque path<V>;        // the request target: path and query, e.g. "/v1/attachments/abc?x=1"
//!   opaque body_hash<V>;   // SHA-256(body); SHA-256("") when there is no body
//!   uint64 timestamp_ms;   // UNIX time in milliseconds
//!   opaque nonce<V>;       // 16 fresh random bytes
//! } DsRequestTbs;
//!
//! struct {
//!   DsRequestTbs tbs;
//!   opaque signature<V>;   // SignWithLabel(leaf signature key, "MIMI DS request", tbs)
//! } SignedDsRequest;
//!
//! SignWithLabel(SignatureKey, Label, Content) =
//!     Signature.Sign(SignatureKey, SignContent)
//! struct {
//!     opaque label<V> = "MLS 1.0 " + Label;
//!     opaque content<V> = Content;      // the TLS encoding of DsRequestTbs
//! } SignContent;
//! ```
//!
//! The request carries `base64url-nopad(TLS(SignedDsRequest))` in the [`AUTH_HEADER`] header
//! (and, for a copy between groups, a second one for the target group in
//! [`AUTH_TARGET_HEADER`]).
//!
//! The body hash is always SHA-256, whatever the group's cipher suite, so that a client can hash
//! the body once without knowing the suite. Signing works from a closure over the raw `SignContent`
//! bytes ([`SignedDsRequest::sign_with`]) or with an openmls [`Signer`]
//! ([`SignedDsRequest::sign`]); verification uses [`OpenMlsCrypto::verify_signature`], exactly as
//! openmls verifies `SignWithLabel`.
#![forbid(unsafe_code)]

#[cfg(feature = "mls")]
use openmls_traits::crypto::OpenMlsCrypto;
#[cfg(feature = "mls")]
use openmls_traits::signatures::Signer;
#[cfg(feature = "mls")]
use openmls_traits::types::SignatureScheme;
use sha2::{Digest, Sha256};
use tls_codec::{Deserialize as _, Serialize as _, TlsDeserialize, TlsSerialize, TlsSize, VLBytes};

use crate::schedule::MLS_LABEL_PREFIX;

/// The `SignWithLabel` label of a DS request (the `"MLS 1.0 "` prefix is added when signing).
pub const REQUEST_LABEL: &[u8] = b"MIMI DS request";
/// The HTTP header carrying the [`SignedDsRequest`] of the (source) group.
pub const AUTH_HEADER: &str = "mimi-auth";
/// The HTTP header carrying the [`SignedDsRequest`] for the target group of a copy.
pub const AUTH_TARGET_HEADER: &str = "mimi-auth-target";
/// Length of the random request nonce.
pub const NONCE_LEN: usize = 16;
/// Length of the SHA-256 body hash.
pub const BODY_HASH_LEN: usize = 32;
/// Upper bound of an encoded header value we accept (a signature plus a path fits easily).
pub const MAX_HEADER_LEN: usize = 8 * 1024;

/// Why a signed request could not be produced or accepted. [`AuthError::code`] is stable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The header is not base64url, not a `SignedDsRequest`, or has wrong field lengths.
    #[error("malformed request signature header: {0}")]
    Malformed(&'static str),
    /// The signature does not verify with the given key.
    #[error("request signature does not verify")]
    BadSignature,
    /// The timestamp is outside the accepted clock skew.
    #[error("request timestamp is outside the accepted window")]
    Stale,
    /// The signed method, path or body hash is not the request's.
    #[error("the signature does not cover this request: {0}")]
    Mismatch(&'static str),
    /// The signer failed.
    #[error("signing failed: {0}")]
    Signing(String),
    /// The random number generator failed (making the request nonce).
    #[error("random number generator failed")]
    Rng,
}

impl From<AuthError> for crate::Error {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Rng => crate::Error::Rng,
            AuthError::Signing(m) => crate::Error::Signing(m),
            other => crate::Error::Codec(other.to_string()),
        }
    }
}

impl AuthError {
    /// A stable identifier for callers to switch on.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::Malformed(_) => "Unauthorized",
            AuthError::BadSignature => "BadSignature",
            AuthError::Stale => "Stale",
            AuthError::Mismatch(_) => "BadSignature",
            AuthError::Signing(_) => "Signing",
            AuthError::Rng => "Rng",
        }
    }
}

/// The signed part of a DS request (see the module documentation for the TLS struct).
#[derive(Debug, Clone, PartialEq, Eq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct DsRequestTbs {
    /// The MLS group id.
    pub group_id: VLBytes,
    /// The signer's current epoch of the group.
    pub epoch: u64,
    /// The signer's leaf index in the group.
    pub leaf_index: u32,
    /// The HTTP method, upper case.
    pub method: VLBytes,
    /// The HTTP request target (path and query).
    pub path: VLBytes,
    /// SHA-256 of the request body.
    pub body_hash: VLBytes,
    /// UNIX time in milliseconds.
    pub timestamp_ms: u64,
    /// [`NONCE_LEN`] random bytes, never reused.
    pub nonce: VLBytes,
}

/// A [`DsRequestTbs`] with its `SignWithLabel` signature.
#[derive(Debug, Clone, PartialEq, Eq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct SignedDsRequest {
    /// The signed fields.
    pub tbs: DsRequestTbs,
    /// `SignWithLabel(leaf key, REQUEST_LABEL, tbs)`.
    pub signature: VLBytes,
}

/// RFC 9420 §5.1.2 `SignContent`.
#[derive(TlsSerialize, TlsSize)]
struct SignContent {
    label: VLBytes,
    content: VLBytes,
}

/// `SHA-256(body)`, the `body_hash` of a request.
pub fn body_hash(body: &[u8]) -> [u8; BODY_HASH_LEN] {
    Sha256::digest(body).into()
}

/// `SHA-256("")`, the `body_hash` of a request without a body.
pub fn empty_body_hash() -> [u8; BODY_HASH_LEN] {
    body_hash(&[])
}

/// A fresh request nonce from the operating system's random number generator.
pub fn fresh_nonce() -> Result<[u8; NONCE_LEN], AuthError> {
    let mut n = [0u8; NONCE_LEN];
    getrandom::fill(&mut n).map_err(|_| AuthError::Rng)?;
    Ok(n)
}

impl DsRequestTbs {
    /// A request to be signed now with a fresh nonce. `body_hash` is [`body_hash`] of the body.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        group_id: &[u8],
        epoch: u64,
        leaf_index: u32,
        method: &str,
        path: &str,
        body_hash: [u8; BODY_HASH_LEN],
        timestamp_ms: u64,
        nonce: [u8; NONCE_LEN],
    ) -> Self {
        Self {
            group_id: group_id.to_vec().into(),
            epoch,
            leaf_index,
            method: method.to_ascii_uppercase().into_bytes().into(),
            path: path.as_bytes().to_vec().into(),
            body_hash: body_hash.to_vec().into(),
            timestamp_ms,
            nonce: nonce.to_vec().into(),
        }
    }

    /// The bytes a signer signs: the TLS encoding of
    /// `SignContent { label = "MLS 1.0 MIMI DS request", content = TLS(self) }`.
    pub fn sign_content(&self) -> Result<Vec<u8>, AuthError> {
        let content = self.tls_serialize_detached().map_err(|_| AuthError::Malformed("encoding"))?;
        let mut label = MLS_LABEL_PREFIX.to_vec();
        label.extend_from_slice(REQUEST_LABEL);
        SignContent { label: label.into(), content: content.into() }
            .tls_serialize_detached()
            .map_err(|_| AuthError::Malformed("encoding"))
    }

    /// Checks that the timestamp lies within `skew_ms` of `now_ms`.
    pub fn check_fresh(&self, now_ms: u64, skew_ms: u64) -> Result<(), AuthError> {
        if self.timestamp_ms.abs_diff(now_ms) <= skew_ms {
            Ok(())
        } else {
            Err(AuthError::Stale)
        }
    }

    /// Checks that the signature covers this HTTP request: method, request target and body hash.
    pub fn check_request(&self, method: &str, path: &str, body_hash: &[u8]) -> Result<(), AuthError> {
        if !self.method.as_slice().eq_ignore_ascii_case(method.as_bytes()) {
            return Err(AuthError::Mismatch("method"));
        }
        if self.path.as_slice() != path.as_bytes() {
            return Err(AuthError::Mismatch("path"));
        }
        if self.body_hash.as_slice() != body_hash {
            return Err(AuthError::Mismatch("body hash"));
        }
        Ok(())
    }
}

impl SignedDsRequest {
    /// `SignWithLabel` with any signing function over the raw `SignContent` bytes (for example a
    /// WebCrypto or HSM key). The function returns the signature in the form the cipher suite's
    /// signature scheme uses in MLS (DER for ECDSA, raw for Ed25519/Ed448).
    pub fn sign_with<E: core::fmt::Display>(
        tbs: DsRequestTbs,
        sign: impl FnOnce(&[u8]) -> Result<Vec<u8>, E>,
    ) -> Result<Self, AuthError> {
        let content = tbs.sign_content()?;
        let signature = sign(&content).map_err(|e| AuthError::Signing(e.to_string()))?;
        Ok(Self { tbs, signature: signature.into() })
    }

    /// `SignWithLabel` with an openmls [`Signer`] (the member's leaf signature key).
    #[cfg(feature = "mls")]
    pub fn sign(tbs: DsRequestTbs, signer: &impl Signer) -> Result<Self, AuthError> {
        Self::sign_with(tbs, |c| signer.sign(c).map_err(|e| format!("{e:?}")))
    }

    /// `VerifyWithLabel` against the leaf's signature public key and the group's scheme.
    #[cfg(feature = "mls")]
    pub fn verify(
        &self,
        crypto: &impl OpenMlsCrypto,
        scheme: SignatureScheme,
        public_key: &[u8],
    ) -> Result<&DsRequestTbs, AuthError> {
        let content = self.tbs.sign_content()?;
        crypto
            .verify_signature(scheme, &content, public_key, self.signature.as_slice())
            .map_err(|_| AuthError::BadSignature)?;
        Ok(&self.tbs)
    }

    /// The header value: `base64url-nopad(TLS(self))`.
    pub fn to_header(&self) -> Result<String, AuthError> {
        let b = self.tls_serialize_detached().map_err(|_| AuthError::Malformed("encoding"))?;
        Ok(crate::b64::encode(b))
    }

    /// Parses a header value, checking the nonce and body hash lengths.
    pub fn from_header(value: &str) -> Result<Self, AuthError> {
        if value.len() > MAX_HEADER_LEN {
            return Err(AuthError::Malformed("header too long"));
        }
        let bytes = crate::b64::decode(value.trim()).map_err(|_| AuthError::Malformed("not base64url"))?;
        let mut r = bytes.as_slice();
        let req =
            SignedDsRequest::tls_deserialize(&mut r).map_err(|_| AuthError::Malformed("not a SignedDsRequest"))?;
        if !r.is_empty() {
            return Err(AuthError::Malformed("trailing bytes"));
        }
        if req.tbs.nonce.as_slice().len() != NONCE_LEN {
            return Err(AuthError::Malformed("nonce length"));
        }
        if req.tbs.body_hash.as_slice().len() != BODY_HASH_LEN {
            return Err(AuthError::Malformed("body hash length"));
        }
        Ok(req)
    }
}

#[cfg(all(test, feature = "mls"))]
mod tests {
    use super::*;
    use openmls_basic_credential::SignatureKeyPair;
    use openmls_rust_crypto::OpenMlsRustCrypto;
    use openmls_traits::OpenMlsProvider as _;

    fn tbs() -> DsRequestTbs {
        DsRequestTbs::new(
            b"group",
            3,
            1,
            "post",
            "/v1/attachments",
            body_hash(b"body"),
            1_700_000_000_000,
            [7; NONCE_LEN],
        )
    }

    #[test]
    fn sign_content_is_rfc9420_sign_content() {
        let t = tbs();
        let c = t.sign_content().unwrap();
        let label = b"MLS 1.0 MIMI DS request";
        assert_eq!(c[0] as usize, label.len());
        assert_eq!(&c[1..1 + label.len()], label);
        let inner = t.tls_serialize_detached().unwrap();
        // content<V>: 1- or 2-byte varint length, then TLS(tbs).
        assert!(c.ends_with(&inner));
        assert_eq!(t.method.as_slice(), b"POST");
    }

    #[test]
    fn signatures_verify_for_every_scheme_and_reject_tampering() {
        let provider = OpenMlsRustCrypto::default();
        for scheme in [SignatureScheme::ED25519, SignatureScheme::ECDSA_SECP256R1_SHA256] {
            let kp = SignatureKeyPair::new(scheme).unwrap();
            let signed = SignedDsRequest::sign(tbs(), &kp).unwrap();
            let header = signed.to_header().unwrap();
            let parsed = SignedDsRequest::from_header(&header).unwrap();
            assert_eq!(parsed, signed);
            parsed.verify(provider.crypto(), scheme, kp.public()).unwrap();

            let mut bad = parsed.clone();
            bad.tbs.leaf_index = 2;
            assert_eq!(bad.verify(provider.crypto(), scheme, kp.public()), Err(AuthError::BadSignature));
            let other = SignatureKeyPair::new(scheme).unwrap();
            assert_eq!(parsed.verify(provider.crypto(), scheme, other.public()), Err(AuthError::BadSignature));
            // A signature over the bare TLS(tbs) without the label must not verify.
            let unlabeled = SignedDsRequest::sign_with(tbs(), |_| {
                kp.sign(&tbs().tls_serialize_detached().unwrap()).map_err(|e| format!("{e:?}"))
            })
            .unwrap();
            assert_eq!(unlabeled.verify(provider.crypto(), scheme, kp.public()), Err(AuthError::BadSignature));
        }
    }

    #[test]
    fn header_parsing_rejects_bad_input() {
        assert!(matches!(SignedDsRequest::from_header("!!"), Err(AuthError::Malformed(_))));
        let mut t = tbs();
        t.nonce = vec![1, 2].into();
        let s = SignedDsRequest::sign_with(t, |_| Ok::<_, String>(vec![1])).unwrap();
        assert!(matches!(
            SignedDsRequest::from_header(&s.to_header().unwrap()),
            Err(AuthError::Malformed("nonce length"))
        ));
        let ok = SignedDsRequest::sign_with(tbs(), |_| Ok::<_, String>(vec![1])).unwrap().to_header().unwrap();
        assert!(matches!(SignedDsRequest::from_header(&format!("{ok}AA")), Err(AuthError::Malformed(_))));
    }

    #[test]
    fn freshness_and_request_binding() {
        let t = tbs();
        t.check_fresh(1_700_000_030_000, 60_000).unwrap();
        assert_eq!(t.check_fresh(1_700_000_061_000, 60_000), Err(AuthError::Stale));
        t.check_request("POST", "/v1/attachments", &body_hash(b"body")).unwrap();
        assert!(t.check_request("GET", "/v1/attachments", &body_hash(b"body")).is_err());
        assert!(t.check_request("POST", "/v1/attachments?x", &body_hash(b"body")).is_err());
        assert!(t.check_request("POST", "/v1/attachments", &body_hash(b"bodY")).is_err());
    }
}

#[cfg(test)]
mod error_code_tests {
    use super::AuthError;
    use crate::Error;

    /// RNG and signing failures keep their own codes (not `Mls`) when they reach JS.
    #[test]
    fn rng_and_signing_have_their_own_codes() {
        assert_eq!(Error::from(AuthError::Rng).code(), "Rng");
        assert_eq!(Error::from(AuthError::Signing("x".into())).code(), "Signing");
    }
}
