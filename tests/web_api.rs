//! The JavaScript API as JS sees it (browser only): return types, and errors that are real
//! `Error` objects with `name`, a stable `code` and details.
#![cfg(target_arch = "wasm32")]

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);
use wasm_bindgen_test::wasm_bindgen_test as test;

use js_sys::Reflect;
use mimi_attachments::web::*;
use wasm_bindgen::{JsCast, JsValue};

fn prop(v: &JsValue, k: &str) -> JsValue {
    Reflect::get(v, &JsValue::from_str(k)).expect("property")
}

/// Asserts `r` failed with a JS `Error` named MimiAttachmentsError carrying `code`.
fn assert_code<T>(r: Result<T, JsValue>, code: &str) -> JsValue {
    let Err(e) = r else { panic!("expected error {code}, got Ok") };
    assert!(e.is_instance_of::<js_sys::Error>(), "not an Error object");
    assert_eq!(prop(&e, "name").as_string().as_deref(), Some("MimiAttachmentsError"));
    assert_eq!(prop(&e, "code").as_string().as_deref(), Some(code));
    let msg = e.dyn_ref::<js_sys::Error>().expect("Error").message();
    assert!(!String::from(msg).is_empty());
    e
}

fn keys() -> AttachmentKeys {
    let hash = attachmentHash_(1, b"hello");
    AttachmentKeys::from_exporter_secret(1.0, &[7; 32], &hash, 0.0, &[9; 32]).expect("keys")
}

#[allow(non_snake_case)]
fn attachmentHash_(suite: u16, data: &[u8]) -> Vec<u8> {
    attachment_hash(f64::from(suite), data).expect("hash")
}

#[test]
fn suites_hash_and_nonce() {
    assert_eq!(supported_cipher_suites(), vec![1, 2, 3, 4, 5, 6, 7]);
    assert_eq!(attachmentHash_(7, b"").len(), 48);
    let a = random_nonce(4.0).expect("nonce");
    assert_eq!(a.len(), 64);
    assert_ne!(a, random_nonce(4.0).expect("nonce"));
    assert_code(attachment_hash(8.0, b""), "UnknownCipherSuite");
}

#[test]
fn chunked_round_trip_through_the_incremental_api() {
    let k = keys();
    let data: Vec<u8> = (0..5000u32).map(|i| (i * 31) as u8).collect();
    let hash = attachmentHash_(1, &data);
    let mut e = ChunkEncryptor::new(&k, Some(1024.0)).expect("enc");
    let mut ct = Vec::new();
    for piece in data.chunks(333) {
        ct.extend(e.update(piece).expect("update").to_vec());
    }
    ct.extend(e.finish().expect("finish").to_vec());
    assert_eq!(ct, encrypt_chunked(&k, &data, Some(1024.0)).expect("whole"));
    assert_code(e.finish(), "InvalidState");
    let mut d = ChunkDecryptor::new(&k, 1024.0, &hash, Some(5000.0)).expect("dec");
    let mut pt = Vec::new();
    for piece in ct.chunks(777) {
        pt.extend(d.update(piece).expect("update").to_vec());
    }
    pt.extend(d.finish().expect("finish").to_vec());
    assert_eq!(pt, data);
    // Keys survive a store/restore through their parts.
    let k2 = AttachmentKeys::from_parts(f64::from(k.cipher_suite()), &k.key(), &k.nonce()).expect("parts");
    assert_eq!(decrypt_chunked(&k2, &ct, &hash, 1024.0, None).expect("dec"), data);
}

#[test]
fn each_failure_has_its_own_code() {
    let k = keys();
    let data = vec![5u8; 3000];
    let hash = attachmentHash_(1, &data);
    let ct = encrypt_chunked(&k, &data, Some(1024.0)).expect("enc");
    let mut flipped = ct.clone();
    flipped[1500] ^= 1;
    let e = assert_code(decrypt_chunked(&k, &flipped, &hash, 1024.0, None), "DecryptFailed");
    assert_eq!(prop(&e, "chunk").as_f64(), Some(1.0));
    assert_code(decrypt_chunked(&k, &ct[..2080], &hash, 1024.0, None), "Truncated");
    let mut extra = ct.clone();
    extra.extend_from_slice(&[0; 20]);
    assert_code(decrypt_chunked(&k, &extra, &hash, 1024.0, Some(3000.0)), "TrailingData");
    assert_code(decrypt_chunked(&k, &ct, &attachmentHash_(1, b"other"), 1024.0, None), "HashMismatch");
    assert_code(decrypt_chunked(&k, &ct, &hash, 1000.0, None), "BadChunkSize");
    assert_code(decrypt_chunked(&k, &ct, &hash, 1024.0, Some(-1.0)), "InvalidArgument");
    assert_code(decrypt_chunked(&k, &ct, &hash, 1024.0, Some(1.5)), "InvalidArgument");
    let os = encrypt_one_shot(&k, b"hello").expect("one-shot");
    assert_eq!(decrypt_one_shot(&k, &os, &attachmentHash_(1, b"hello")).expect("open"), b"hello");
    assert_code(decrypt_one_shot(&k, &os[..3], &attachmentHash_(1, b"hello")), "Truncated");
    assert_code(AttachmentKeys::from_parts(1.0, &[0; 32], &[0; 12]), "InvalidLength");
}

#[test]
fn content_type_round_trip_and_errors() {
    let r = ExternalBodyRef::new(vec![1, 2, 3], vec![4; 32], vec![5; 32], Some(262144.0), Some(5.0)).expect("ref");
    let s = r.to_content_type();
    assert!(s.starts_with("message/external-body; access-type=token; token=AQID; "), "{s}");
    let p = ExternalBodyRef::parse(&s, 1.0).expect("parse");
    assert_eq!(
        (p.token(), p.nonce(), p.hash(), p.chunk_size(), p.size()),
        (vec![1, 2, 3], vec![4; 32], vec![5; 32], Some(262144), Some(5.0))
    );
    let e = assert_code(
        ExternalBodyRef::parse("message/external-body; access-type=token; token=AQID", 1.0),
        "BadContentType",
    );
    assert_eq!(prop(&e, "kind").as_string().as_deref(), Some("MissingParameter"));
    let e = assert_code(ExternalBodyRef::parse(&s, 7.0), "BadContentType");
    assert_eq!(prop(&e, "kind").as_string().as_deref(), Some("BadLength"));
    assert_code(ExternalBodyRef::new(vec![1], vec![], vec![], Some(1.0), None), "BadChunkSize");
}
