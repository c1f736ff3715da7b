//! One provoked failure per error code, through the exported JS API (browser only; the
//! wasm-bindgen-test suite runs it in headless Chromium and Firefox). Each case asserts that the
//! rejection is a real `Error` with `name = "MimiAttachmentsError"`, the expected `code`, and its
//! detail fields (`kind`, `chunk`, `status`, `dsCode`). The last test checks that the cases cover
//! exactly `ErrorCode::ALL`, so a new code cannot ship without a test here.
//!
//! Delivery Service codes come from a fake `fetch` answering the DS's JSON error body
//! (`{"code", "message"}` with the DS's status): the per-code mapping is what is tested here; the
//! real DS producing them is tested in `ds/tests` and, for a few, in tests/browser (`ds_error_codes`).
//! `Signing` cannot be provoked through the API (an Ed25519 signer does not fail); its case
//! converts a core `Error::Signing` the way every exported function does.
#![cfg(target_arch = "wasm32")]

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);
use wasm_bindgen_test::wasm_bindgen_test as test;

use js_sys::{Function, Object, Promise, Reflect, Uint8Array};
use mimi_attachments::error::ErrorCode;
use mimi_attachments::web::*;
use wasm_bindgen::convert::TryFromJsValue;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

fn prop(v: &JsValue, k: &str) -> JsValue {
    Reflect::get(v, &JsValue::from_str(k)).expect("property")
}

fn obj(pairs: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in pairs {
        Reflect::set(&o, &JsValue::from_str(k), v).expect("set");
    }
    o.into()
}

/// A JS function from its source (`new Function(body)()`), for stubs and small helpers.
fn js(src: &str) -> Function {
    Function::new_no_args(&format!("return ({src});")).call0(&JsValue::NULL).expect("js").unchecked_into()
}

async fn wait(p: Promise) -> Result<JsValue, JsValue> {
    JsFuture::from(p).await
}

/// Asserts that `r` failed with a `MimiAttachmentsError` carrying `code` and returns the error.
fn check<T>(r: Result<T, JsValue>, code: &str) -> JsValue {
    let Err(e) = r else { panic!("expected {code}, got success") };
    assert!(e.is_instance_of::<js_sys::Error>(), "{code}: not an Error object: {e:?}");
    assert_eq!(prop(&e, "name").as_string().as_deref(), Some("MimiAttachmentsError"), "{code}: name");
    assert_eq!(prop(&e, "code").as_string().as_deref(), Some(code), "{code}: code ({e:?})");
    assert!(!String::from(e.unchecked_ref::<js_sys::Error>().message()).is_empty(), "{code}: message");
    e
}

fn keys() -> AttachmentKeys {
    let hash = attachment_hash(1.0, b"hello").expect("hash");
    AttachmentKeys::from_exporter_secret(1.0, &[7; 32], &hash, 0.0, &[9; 32]).expect("keys")
}

async fn client(name: &str) -> MlsClient {
    let c = wait(MlsClient::create(name.into(), Some(obj(&[("storeName", JsValue::NULL)])))).await.expect("client");
    MlsClient::try_from_js_value(c).expect("MlsClient")
}

async fn group(c: &MlsClient, id: &str) -> MlsGroup {
    let g = wait(c.create_group(Some(id.as_bytes().to_vec()))).await.expect("group");
    MlsGroup::try_from_js_value(g).expect("MlsGroup")
}

/// Alice's group, one attachment she sent in it (its reference), and its content type.
async fn sent() -> (MlsClient, MlsGroup, AttachmentRef, String) {
    let a = client("alice").await;
    let g = group(&a, "g1").await;
    let file =
        web_sys::Blob::new_with_u8_array_sequence(&js_sys::Array::of1(&Uint8Array::from(&b"hi"[..]))).expect("blob");
    let out = wait(g.encrypt_attachment(file, None)).await.expect("encrypt");
    let out = OutgoingAttachment::try_from_js_value(out).expect("OutgoingAttachment");
    let r = out.complete(&[1, 2, 3]).expect("complete");
    let ct = r.content_type();
    (a, g, r, ct)
}

#[test]
fn format_and_reference_codes() {
    let k = keys();
    check(attachment_hash(8.0, b""), "UnknownCipherSuite");
    let e = check(ExternalBodyRef::parse("text/plain", 1.0), "BadContentType");
    assert_eq!(prop(&e, "kind").as_string().as_deref(), Some("WrongMediaType"));
    // A MIMI-content ExternalPart that is not CBOR at all (0xff is a lone "break").
    let e = check(ExternalPart::from_cbor(&[0xff]), "BadMimiContent");
    assert!(prop(&e, "kind").as_string().is_some_and(|k| !k.is_empty()), "BadMimiContent: kind");
    check(ExternalBodyRef::new(vec![1], vec![], vec![], Some(1.0), None), "BadChunkSize");
    check(AttachmentKeys::from_parts(1.0, &[0; 32], &[0; 12]), "InvalidLength");

    let data: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
    let hash = attachment_hash(1.0, &data).expect("hash");
    let ct = encrypt_chunked(&k, &data, Some(1024.0)).expect("enc");
    let mut flipped = ct.clone();
    flipped[1040 + 5] ^= 1;
    let e = check(decrypt_chunked(&k, &flipped, &hash, 1024.0, None), "DecryptFailed");
    assert_eq!(prop(&e, "chunk").as_f64(), Some(1.0), "the second chunk failed");
    check(decrypt_chunked(&k, &ct[..2080], &hash, 1024.0, None), "Truncated");
    let mut extra = ct.clone();
    extra.extend_from_slice(&[0; 20]);
    check(decrypt_chunked(&k, &extra, &hash, 1024.0, Some(3000.0)), "TrailingData");
    // One full chunk, then a "final chunk" that is a bare tag: no valid sequence is that long.
    let mut bare = ct[..1040].to_vec();
    bare.extend_from_slice(&[0; 16]);
    check(decrypt_chunked(&k, &bare, &hash, 1024.0, None), "BadCiphertextLength");
    check(decrypt_chunked(&k, &ct, &attachment_hash(1.0, b"other").expect("h"), 1024.0, None), "HashMismatch");
    check(ChunkDecryptor::new(&k, 1024.0, &hash, Some(9_007_199_254_740_991.0)), "TooLarge");
    check(AttachmentRef::from_bytes(&[1, 2, 3]), "Codec");
    let mut e = ChunkEncryptor::new(&k, None).expect("enc");
    e.finish().expect("finish");
    check(e.finish(), "InvalidState");
}

#[test]
fn every_number_argument_is_checked_the_same_way() {
    let k = keys();
    for bad in [1.5, -1.0, f64::NAN, f64::INFINITY] {
        check(attachment_hash(bad, b""), "InvalidArgument");
        check(encrypt_chunked(&k, b"x", Some(bad)), "InvalidArgument");
        check(decrypt_chunked(&k, b"x", &[0; 32], 1024.0, Some(bad)), "InvalidArgument");
    }
}

#[test]
async fn invalid_argument_cipher_suite_one_and_a_half() {
    let r =
        wait(MlsClient::create("x".into(), Some(obj(&[("cipherSuite", 1.5.into()), ("storeName", JsValue::NULL)]))));
    let e = check(r.await, "InvalidArgument");
    assert!(String::from(e.unchecked_ref::<js_sys::Error>().message()).contains("cipherSuite"));
}

#[test]
async fn group_codes() {
    let (a, g, r, ct) = sent().await;
    let epoch = g.epoch();
    check(g.receive_attachment(&ct, 0.0, epoch + 1.0), "WrongEpoch");
    check(g.receive_attachment(&ct, 7.0, epoch), "NotMember");
    check(g.receive_attachment(&ct, 0.5, epoch), "InvalidArgument");
    // A reference of group g1 used with another group.
    let other = group(&a, "g2").await;
    let ds = DsClient::new("http://127.0.0.1:9".into(), &a, JsValue::UNDEFINED);
    check(wait(ds.delete_attachment(&other, &r)).await, "WrongGroup");
    // A key package is an MLSMessage, but not a Welcome.
    let kp = wait(a.key_package()).await.expect("key package");
    check(wait(a.join_group(kp.unchecked_into::<Uint8Array>().to_vec())).await, "Mls");
}

#[test]
async fn stream_codes() {
    let (_a, g, r, _ct) = sent().await;
    let aborted = js("() => { const c = new AbortController(); c.abort(); return c.signal; }")
        .call0(&JsValue::NULL)
        .expect("signal");
    let file = web_sys::Blob::new_with_u8_array_sequence(&js_sys::Array::of1(&Uint8Array::new_with_length(5000)))
        .expect("blob");
    check(wait(g.encrypt_attachment(file, Some(obj(&[("signal", aborted)])))).await, "Aborted");
    let failing = js("() => new ReadableStream({ pull(c) { c.error(new TypeError('disk gone')); } })")
        .call0(&JsValue::NULL)
        .expect("stream");
    check(wait(r.decrypt_to_blob(failing, None)).await, "Io");
}

#[test]
async fn platform_when_indexeddb_fails() {
    let global = js_sys::global();
    let idb = prop(&global, "indexedDB");
    let open = prop(&idb, "open");
    Reflect::set(&idb, &"open".into(), &js("() => { throw new DOMException('blocked', 'SecurityError'); }"))
        .expect("stub");
    let r = wait(MlsClient::create("pat".into(), Some(obj(&[("storeName", "error-codes-test".into())])))).await;
    Reflect::set(&idb, &"open".into(), &open).expect("restore");
    check(r, "Platform");
}

/// `create` over a stored client is `AlreadyExists` (the stored identity survives); `replace: true`
/// and `open` are the two ways on.
#[test]
async fn already_exists_when_creating_over_a_stored_client() {
    let store = || Some(obj(&[("storeName", "error-codes-already-exists".into())]));
    let first = wait(MlsClient::create("ada".into(), store())).await.expect("first create");
    let first = MlsClient::try_from_js_value(first).expect("MlsClient");
    let e = check(wait(MlsClient::create("ada".into(), store())).await, "AlreadyExists");
    assert!(e.unchecked_ref::<js_sys::Error>().message().includes("replace", 0), "message names the way out");
    let opened = MlsClient::try_from_js_value(wait(MlsClient::open("ada".into(), store())).await.expect("open"))
        .expect("MlsClient");
    assert_eq!(opened.signature_public_key(), first.signature_public_key(), "open returns the stored client");
    let replaced = wait(MlsClient::create(
        "ada".into(),
        Some(obj(&[("storeName", "error-codes-already-exists".into()), ("replace", true.into())])),
    ))
    .await;
    let replaced = MlsClient::try_from_js_value(replaced.expect("replace")).expect("MlsClient");
    assert_ne!(replaced.signature_public_key(), first.signature_public_key(), "replace: a new signature key");
    wait(MlsClient::delete_stored("error-codes-already-exists".into())).await.expect("clean up");
}

#[test]
fn rng_when_the_random_source_fails() {
    let crypto = prop(&js_sys::global(), "crypto");
    let proto = js_sys::Object::get_prototype_of(&crypto);
    let original = prop(&proto, "getRandomValues");
    let failing = js("() => { throw new DOMException('no entropy', 'QuotaExceededError'); }");
    Reflect::set(&crypto, &"getRandomValues".into(), &failing).expect("stub");
    Reflect::set(&proto, &"getRandomValues".into(), &failing).expect("stub");
    let r = random_nonce(1.0);
    Reflect::set(&proto, &"getRandomValues".into(), &original).expect("restore");
    Reflect::delete_property(crypto.unchecked_ref::<Object>(), &"getRandomValues".into()).expect("restore");
    check(r, "Rng");
    assert_eq!(random_nonce(1.0).expect("restored").len(), 32);
}

#[test]
fn signing_is_its_own_code() {
    // Not provokable through the API (see the module doc): the conversion every export uses.
    let e = mimi_attachments::web::error::js_error(mimi_attachments::Error::Signing("signer failed".into()));
    check::<()>(Err(e), "Signing");
}

/// Runs `f` with `globalThis.fetch` replaced by `stub`.
async fn with_fetch<F: std::future::Future<Output = Result<JsValue, JsValue>>>(
    stub: Function,
    f: impl FnOnce() -> F,
) -> Result<JsValue, JsValue> {
    let global = js_sys::global();
    let fetch = prop(&global, "fetch");
    Reflect::set(&global, &"fetch".into(), &stub).expect("stub fetch");
    let r = f().await;
    Reflect::set(&global, &"fetch".into(), &fetch).expect("restore fetch");
    r
}

/// Every code the Delivery Service sends reaches JS as that code, with the HTTP status and the
/// DS's own code as detail fields (a full disk is not a quota, a stale epoch is not a bad login).
#[test]
async fn delivery_service_codes_pass_through() {
    let a = client("dana").await;
    let ds = DsClient::new("http://ds.invalid".into(), &a, JsValue::UNDEFINED);
    let table: &[(u16, &str)] = &[
        (400, "BadRequest"),
        (400, "InvalidMessage"),
        (401, "Unauthorized"),
        (401, "BadSignature"),
        (401, "Stale"),
        (401, "StaleEpoch"),
        (401, "Replay"),
        (403, "Forbidden"),
        (404, "NotFound"),
        (405, "MethodNotAllowed"),
        (408, "Timeout"),
        (409, "Conflict"),
        (409, "WrongEpoch"),
        (413, "TooLarge"),
        (416, "RangeNotSatisfiable"),
        (429, "RateLimited"),
        (507, "QuotaExceeded"),
        (507, "InsufficientStorage"),
        (503, "Unavailable"),
        (500, "Internal"),
    ];
    for &(status, code) in table {
        let stub = js(&format!(
            "() => Promise.resolve(new Response(JSON.stringify({{code: '{code}', message: 'from the DS'}}), \
             {{status: {status}, headers: {{'content-type': 'application/json'}}}}))"
        ));
        let e = check(with_fetch(stub, || wait(ds.publish_key_package())).await, code);
        assert_eq!(prop(&e, "status").as_f64(), Some(f64::from(status)), "{code}: status");
        assert_eq!(prop(&e, "dsCode").as_string().as_deref(), Some(code), "{code}: dsCode");
    }
    // A code this version does not know, and an answer that is not the DS's JSON.
    let stub = js(
        "() => Promise.resolve(new Response('{\"code\":\"Teapot\",\"message\":\"short and stout\"}', {status: 418}))",
    );
    let e = check(with_fetch(stub, || wait(ds.publish_key_package())).await, "DsError");
    assert_eq!(prop(&e, "dsCode").as_string().as_deref(), Some("Teapot"));
    assert_eq!(prop(&e, "status").as_f64(), Some(418.0));
    let stub = js("() => Promise.resolve(new Response('<html>proxy error</html>', {status: 500}))");
    let e = check(with_fetch(stub, || wait(ds.publish_key_package())).await, "DsError");
    assert_eq!(prop(&e, "dsCode").as_string().as_deref(), Some(""));
    assert_eq!(prop(&e, "status").as_f64(), Some(500.0));
}

/// `fetch` itself failing (DS unreachable) is `Network`, after the retries (~16 s of backoff).
#[test]
async fn network_when_the_ds_is_unreachable() {
    let a = client("erin").await;
    let ds = DsClient::new("http://ds.invalid".into(), &a, JsValue::UNDEFINED);
    let stub = js("() => Promise.reject(new TypeError('Failed to fetch'))");
    check(with_fetch(stub, || wait(ds.publish_key_package())).await, "Network");
}

/// The cases above cover exactly the codes the package declares.
#[test]
fn every_code_has_a_case_here() {
    let src = include_str!("error_codes.rs");
    for c in ErrorCode::ALL {
        let quoted = format!("\"{}\"", c.as_str());
        let provoked = src.lines().any(|l| {
            l.contains(&quoted) && (l.contains("check(") || l.contains("check::<") || l.trim_start().starts_with('('))
        });
        assert!(provoked, "no case in tests/error_codes.rs provokes {}", c.as_str());
    }
}
