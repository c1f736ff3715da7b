//! The Delivery Service request-signature header (`mimi-auth`, `auth::SignedDsRequest`).
//!
//! Invariants:
//! * `SignedDsRequest::from_header` never panics on any string; what it accepts has a
//!   `NONCE_LEN`-byte nonce and a `BODY_HASH_LEN`-byte body hash, and `to_header` gives back the
//!   same header up to the surrounding white space the parser trims (canonical base64url, canonical
//!   TLS);
//! * the raw TLS decoders of `SignedDsRequest` and `DsRequestTbs` never panic, and anything they
//!   decode without trailing bytes re-encodes to exactly the input; `sign_content` of a decoded
//!   `DsRequestTbs` never panics and embeds the TBS encoding; `verify` with fixed Ed25519, P-256
//!   and P-384 keys rejects the arbitrary signature bytes without panicking (DER parsing).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mimi_attachments::auth::{DsRequestTbs, SignedDsRequest, BODY_HASH_LEN, MAX_HEADER_LEN, NONCE_LEN};
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::RustCrypto;
use openmls_traits::types::SignatureScheme;
use std::sync::OnceLock;
use tls_codec::Serialize as _;

/// One fixed signature public key per scheme the suites use (generated once per process).
fn keys() -> &'static [(SignatureScheme, Vec<u8>)] {
    static KEYS: OnceLock<Vec<(SignatureScheme, Vec<u8>)>> = OnceLock::new();
    KEYS.get_or_init(|| {
        [SignatureScheme::ED25519, SignatureScheme::ECDSA_SECP256R1_SHA256, SignatureScheme::ECDSA_SECP384R1_SHA384]
            .into_iter()
            .filter_map(|s| SignatureKeyPair::new(s).ok().map(|k| (s, k.public().to_vec())))
            .collect()
    })
}

fn exact<T>(data: &[u8]) -> Option<T>
where
    T: tls_codec::Deserialize + tls_codec::Serialize + tls_codec::Size + PartialEq + core::fmt::Debug,
{
    let mut r = data;
    let v = T::tls_deserialize(&mut r).ok()?;
    let consumed = data.len() - r.len();
    let enc = v.tls_serialize_detached().expect("a decoded struct encodes");
    assert_eq!(enc, &data[..consumed], "non-canonical encoding accepted: {v:?}");
    assert_eq!(v.tls_serialized_len(), consumed);
    Some(v)
}

fn header(s: &str) {
    let Ok(req) = SignedDsRequest::from_header(s) else { return };
    assert!(s.len() <= MAX_HEADER_LEN);
    assert_eq!(req.tbs.nonce.as_slice().len(), NONCE_LEN);
    assert_eq!(req.tbs.body_hash.as_slice().len(), BODY_HASH_LEN);
    let h = req.to_header().expect("an accepted request encodes");
    assert_eq!(h, s.trim(), "header not reproduced");
    assert_eq!(SignedDsRequest::from_header(&h).expect("canonical header parses"), req);
}

fuzz_target!(|data: &[u8]| {
    match core::str::from_utf8(data) {
        Ok(s) => header(s),
        Err(_) => header(&String::from_utf8_lossy(data)),
    }
    if let Some(req) = exact::<SignedDsRequest>(data) {
        let content = req.tbs.sign_content().expect("sign_content of a decoded TBS");
        let tbs = req.tbs.tls_serialize_detached().expect("encodes");
        assert!(content.ends_with(&tbs));
        // Arbitrary signature bytes (raw Ed25519, DER ECDSA) never verify and never panic.
        for (scheme, pk) in keys() {
            assert!(req.verify(&RustCrypto::default(), *scheme, pk).is_err(), "forged signature verified");
        }
    }
    if let Some(tbs) = exact::<DsRequestTbs>(data) {
        let _ = tbs.sign_content();
        let _ = tbs.check_fresh(u64::MAX, u64::MAX);
        let _ = tbs.check_fresh(0, 0);
        let _ = tbs.check_request("GET", "/", &[0; BODY_HASH_LEN]);
    }
});
