//! The browser pipelines (Blob/ReadableStream in, ReadableStream out) against the frozen
//! vectors, on both AEAD backends: WebCrypto (AES-GCM suites) and RustCrypto compiled to wasm.
//! Valid cases must encrypt to exactly the vector's ciphertext and decrypt back; invalid cases
//! must error the stream with the vector's code. Browser only.
#![cfg(target_arch = "wasm32")]

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);
use wasm_bindgen_test::wasm_bindgen_test as test;

use futures_util::StreamExt as _;
use js_sys::{Array, Object, Reflect, Uint8Array};
use mimi_attachments::web::io::Options;
use mimi_attachments::web::pipeline::{decrypt_stream, encrypt_stream, hash_input, DIGEST_BUDGET};
use mimi_attachments::{AttachmentKeys, CipherSuite};
use mimi_attachments::{ChunkSize, Format};
use serde_json::Value;
use wasm_bindgen::JsCast;
use web_sys::{Blob, ReadableStream};

const CHUNKED: &str = include_str!("vectors/chunked.json");

fn h(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex")).expect("hex")
}

fn opts(backend: &str) -> Options {
    let o = Object::new();
    Reflect::set(&o, &"backend".into(), &backend.into()).expect("set");
    Options::from_js(&o).expect("options")
}

/// A Blob of `data` made of several parts of odd sizes, so that stream pieces straddle chunks.
fn blob(data: &[u8]) -> Blob {
    let parts = Array::new();
    for p in data.chunks(777) {
        parts.push(&Uint8Array::from(p));
    }
    Blob::new_with_u8_array_sequence(&parts).expect("blob")
}

/// Reads a stream to the end: Ok(bytes) or Err(error code).
async fn read_all(s: ReadableStream) -> Result<Vec<u8>, String> {
    let (out, err) = read_until_error(s).await;
    match err {
        None => Ok(out),
        Some((code, _)) => Err(code),
    }
}

/// Reads a stream until its end or its error: the bytes released, and the error's code and
/// `chunk` property.
async fn read_until_error(s: ReadableStream) -> (Vec<u8>, Option<(String, Option<f64>)>) {
    let mut st = wasm_streams::ReadableStream::from_raw(s).into_stream();
    let mut out = vec![];
    while let Some(item) = st.next().await {
        match item {
            Ok(v) => out.extend(v.dyn_into::<Uint8Array>().expect("Uint8Array").to_vec()),
            Err(e) => {
                assert!(e.is_instance_of::<js_sys::Error>(), "stream errored with a non-Error");
                let code = Reflect::get(&e, &"code".into()).expect("code").as_string().unwrap_or_default();
                let chunk = Reflect::get(&e, &"chunk".into()).ok().and_then(|c| c.as_f64());
                return (out, Some((code, chunk)));
            }
        }
    }
    (out, None)
}

fn backends(suite: CipherSuite) -> &'static [&'static str] {
    match suite.aead() {
        mimi_attachments::suite::AeadAlg::ChaCha20Poly1305 => &["wasm"],
        _ => &["webcrypto", "wasm"],
    }
}

fn case(c: &Value) -> (AttachmentKeys, Format) {
    let suite = CipherSuite::from_u16(c["cipher_suite"].as_u64().expect("suite") as u16).expect("suite");
    let keys = AttachmentKeys::from_parts(suite, &h(&c["key"]), &h(&c["nonce"])).expect("keys");
    (keys, Format::from_chunk_size(c["chunk_size"].as_u64().map(|n| ChunkSize::new(n).expect("cs"))))
}

#[test]
async fn valid_vectors_on_both_backends() {
    let v: Value = serde_json::from_str(CHUNKED).expect("json");
    let mut runs = 0;
    for c in v["valid"].as_array().expect("valid") {
        let name = c["name"].as_str().expect("name");
        let (keys, format) = case(c);
        let (p, ct, hash) = (h(&c["plaintext"]), h(&c["ciphertext"]), h(&c["attachment_hash"]));
        for backend in backends(keys.suite()) {
            let enc = encrypt_stream(keys.clone(), format, blob(&p), opts(backend)).expect("encrypt");
            assert_eq!(read_all(enc).await.as_deref(), Ok(&ct[..]), "{name} on {backend}: encrypt");
            for size in [None, Some(p.len() as u64)] {
                let dec = decrypt_stream(keys.clone(), format, &hash, size, &blob(&ct).into(), opts(backend))
                    .expect("decrypt");
                assert_eq!(read_all(dec).await.as_deref(), Ok(&p[..]), "{name} on {backend}: decrypt");
            }
            runs += 1;
        }
    }
    assert_eq!(runs, 56 + 40, "56 cases, 40 of them also on WebCrypto");
}

/// The whole-file hash is checked on both of its paths: SHA-2 in wasm (no size known) and one
/// `crypto.subtle.digest` over a copy (size known and within the digest budget). A wrong hash
/// fails with `HashMismatch` on each, and the final chunk is withheld.
#[test]
async fn wrong_hash_is_caught_in_wasm_and_by_webcrypto_digest() {
    let v: Value = serde_json::from_str(CHUNKED).expect("json");
    let mut runs = 0;
    for c in v["valid"].as_array().expect("valid") {
        let name = c["name"].as_str().expect("name");
        let (keys, format) = case(c);
        let (p, ct, mut hash) = (h(&c["plaintext"]), h(&c["ciphertext"]), h(&c["attachment_hash"]));
        hash[0] ^= 1;
        for size in [None, Some(p.len() as u64)] {
            let dec = decrypt_stream(keys.clone(), format, &hash, size, &blob(&ct).into(), opts("wasm")).expect("dec");
            let (released, err) = read_until_error(dec).await;
            assert_eq!(err.map(|e| e.0).as_deref(), Some("HashMismatch"), "{name}, size {size:?}");
            let withheld = match format {
                Format::Chunked(cs) if !p.is_empty() => (p.len() - 1) % cs.get() as usize + 1,
                _ => p.len(),
            };
            assert_eq!(released.len(), p.len() - withheld, "{name}, size {size:?}: the last chunk is withheld");
            runs += 1;
        }
    }
    assert_eq!(runs, 2 * 56);
}

#[test]
async fn invalid_vectors_on_both_backends() {
    let v: Value = serde_json::from_str(CHUNKED).expect("json");
    let mut runs = 0;
    for c in v["invalid"].as_array().expect("invalid") {
        let name = c["name"].as_str().expect("name");
        let (keys, format) = case(c);
        let (ct, hash) = (h(&c["ciphertext"]), h(&c["attachment_hash"]));
        let expect = c["expect"].as_str().expect("expect");
        for backend in backends(keys.suite()) {
            let (released, err) =
                match decrypt_stream(keys.clone(), format, &hash, c["size"].as_u64(), &blob(&ct).into(), opts(backend))
                {
                    Ok(s) => read_until_error(s).await,
                    Err(e) => (vec![], Some((e.code().to_string(), None))),
                };
            let (code, chunk) = err.unwrap_or_default();
            assert_eq!(code, expect, "{name} on {backend}");
            // Errors come in stream order, even with several chunks in flight: a failed tag in
            // chunk k releases exactly chunks 0..k, each verified, and names k.
            if let (Some(cs), "DecryptFailed", Some(k)) = (format.chunk_size(), expect, c["chunk"].as_u64()) {
                assert_eq!(chunk, Some(k as f64), "{name} on {backend}: the error's chunk");
                assert_eq!(released.len() as u64, k * u64::from(cs.get()), "{name} on {backend}: bytes released");
            }
            runs += 1;
        }
    }
    assert!(runs >= 150, "{runs}");
}

#[test]
async fn encrypt_resumes_at_any_ciphertext_offset() {
    let keys = AttachmentKeys::from_parts(CipherSuite::ALL[0], &[3; 16], &[4; 12]).expect("keys");
    let cs = ChunkSize::new(1024).expect("cs");
    let p: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    let full = read_all(encrypt_stream(keys.clone(), Format::Chunked(cs), blob(&p), opts("webcrypto")).expect("enc"))
        .await
        .expect("full");
    for offset in [0usize, 1, 1039, 1040, 1041, 3000, full.len() - 1, full.len()] {
        let o = Object::new();
        Reflect::set(&o, &"offset".into(), &(offset as f64).into()).expect("set");
        let s = encrypt_stream(keys.clone(), Format::Chunked(cs), blob(&p), Options::from_js(&o).expect("opts"))
            .expect("enc");
        assert_eq!(read_all(s).await.expect("tail"), full[offset..], "offset {offset}");
    }
    let o = Object::new();
    Reflect::set(&o, &"offset".into(), &((full.len() + 1) as f64).into()).expect("set");
    let r = encrypt_stream(keys, Format::Chunked(cs), blob(&p), Options::from_js(&o).expect("opts"));
    assert_eq!(r.err().map(|e| e.code()), Some("InvalidArgument"));
}

/// The hash pass gives the same digest on each of its paths: a Blob above the digest budget
/// (BYOB reads into one reused buffer where the engine's Blob stream is a byte stream), the same
/// bytes as a Uint8Array (default reads), and a small Blob (one `crypto.subtle.digest`).
#[test]
async fn hash_pass_agrees_on_every_path() {
    let len = DIGEST_BUDGET as usize + 3 * 1024 * 1024 + 12_345;
    let data: Vec<u8> = (0..len).map(|i| (i * 7 + i / 4093) as u8).collect();
    let parts = Array::new();
    for p in data.chunks(5 * 1024 * 1024 + 1) {
        parts.push(&Uint8Array::from(p));
    }
    let big = Blob::new_with_u8_array_sequence(&parts).expect("blob");
    let alg = mimi_attachments::suite::HashAlg::Sha256;
    let want = alg.digest(&data);
    let o = opts("auto");
    let (h, n) = hash_input(alg, &big.into(), &o, None).await.expect("blob");
    assert_eq!((h, n), (want.clone(), len as u64), "large Blob");
    let (h, n) = hash_input(alg, &Uint8Array::from(&data[..]).into(), &o, None).await.expect("bytes");
    assert_eq!((h, n), (want, len as u64), "Uint8Array");
    let small = &data[..1_000_003];
    let (h, n) = hash_input(alg, &blob(small).into(), &o, None).await.expect("small");
    assert_eq!((h, n), (alg.digest(small), small.len() as u64), "small Blob");
}
