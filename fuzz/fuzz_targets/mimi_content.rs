//! MIMI content (draft-ietf-mimi-content-07) on arbitrary bytes, and the incremental one-shot
//! opener on arbitrary ciphertext.
//!
//! Layout: byte 0 selects the mode.
//! * even: the rest is CBOR → `MimiContent::from_cbor` and `NestedPart::from_cbor`;
//! * odd: byte 1 picks the AEAD (mod 3), bytes 2..10 are up to 8 split points, the rest is the
//!   ciphertext, opened under fixed key/nonce/aad by `StreamOpener` and by the one-call AEAD.
//!
//! Invariants:
//! * never panics;
//! * **decode∘encode is the identity on accepted input** (the reader accepts only the
//!   deterministic encoding): `to_cbor(from_cbor(b)) == b`, and decoding that again gives an equal
//!   value;
//! * every ExternalPart that decodes passes `validate`; one that reads as our reference maps back
//!   to the same part (`PartReference::from_part(p).to_part() == p`); `PartOpener::new` accepts
//!   it or fails without panicking;
//! * `StreamOpener` accepts exactly what the one-call AEAD accepts, releases the same plaintext,
//!   whatever the piece sizes, and never more than `ciphertext_len - 16` bytes before `finish`.
#![no_main]

use aes_gcm::aead::{Aead, KeyInit, Payload};
use libfuzzer_sys::fuzz_target;
use mimi_attachments::content::mapping::PartReference;
use mimi_attachments::content::{MimiContent, NestedPart, PartAead, PartOpener, StreamOpener};

fn check_part(p: &NestedPart) {
    for e in p.external_parts() {
        e.validate().expect("a decoded part validates");
        if let Ok(r) = PartReference::from_part(e) {
            assert_eq!(&r.to_part().expect("our reference re-encodes"), e);
        }
        let _ = PartOpener::new(e);
    }
}

fn content(b: &[u8]) {
    if let Ok(m) = MimiContent::from_cbor(b) {
        let again = m.to_cbor().expect("a decoded message encodes");
        assert_eq!(again, b, "decode∘encode is the identity");
        assert_eq!(MimiContent::from_cbor(&again).expect("re-decodes"), m);
        check_part(&m.body);
    }
    if let Ok(p) = NestedPart::from_cbor(b) {
        let again = p.to_cbor().expect("a decoded part encodes");
        assert_eq!(again, b, "decode∘encode is the identity");
        assert_eq!(NestedPart::from_cbor(&again).expect("re-decodes"), p);
        check_part(&p);
    }
}

fn opener(sel: u8, splits: &[u8], ct: &[u8]) {
    let (aead, key): (PartAead, &[u8]) = match sel % 3 {
        0 => (PartAead::Aes128Gcm, &[7u8; 16]),
        1 => (PartAead::Aes256Gcm, &[7u8; 32]),
        _ => (PartAead::ChaCha20Poly1305, &[7u8; 32]),
    };
    let nonce = [9u8; 12];
    let aad = b"fuzz";
    let p = Payload { msg: ct, aad };
    let n = aes_gcm::Nonce::from_slice(&nonce);
    let reference = match aead {
        PartAead::Aes128Gcm => aes_gcm::Aes128Gcm::new_from_slice(key).ok().and_then(|c| c.decrypt(n, p).ok()),
        PartAead::Aes256Gcm => aes_gcm::Aes256Gcm::new_from_slice(key).ok().and_then(|c| c.decrypt(n, p).ok()),
        PartAead::ChaCha20Poly1305 => {
            chacha20poly1305::ChaCha20Poly1305::new_from_slice(key).ok().and_then(|c| c.decrypt(n, p).ok())
        }
    };
    let mut o = StreamOpener::new(aead, key, &nonce, aad).expect("fixed key");
    let mut out = Vec::new();
    let mut rest = ct;
    for &s in splits {
        let (a, b) = rest.split_at((s as usize).min(rest.len()));
        o.update(a, &mut out).expect("update");
        rest = b;
        assert!(out.len() as u64 <= o.ciphertext_len().saturating_sub(16));
    }
    o.update(rest, &mut out).expect("update");
    assert!(out.len() as u64 <= o.ciphertext_len().saturating_sub(16));
    match (o.finish(), reference) {
        (Ok(()), Some(pt)) => assert_eq!(out, pt),
        (Err(_), None) => {}
        (a, b) => panic!("stream opener {:?} vs one-call {:?}", a.is_ok(), b.is_some()),
    }
}

fuzz_target!(|data: &[u8]| {
    match data.split_first() {
        Some((m, rest)) if m % 2 == 0 => content(rest),
        Some((_, rest)) if rest.len() >= 9 => {
            let (sel, rest) = rest.split_at(1);
            let (splits, ct) = rest.split_at(8);
            opener(sel[0], splits, ct);
        }
        _ => {}
    }
});
