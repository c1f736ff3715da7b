//! Known-answer tests, compiled in with `include_str!` so that they run natively (`cargo test`)
//! and inside headless Chromium (`wasm-bindgen-test`).
//!
//! Files (all byte strings are lower-case hex):
//! * `rfc9420-crypto-basics.json`, `rfc9420-key-schedule.json`: the official MLS vectors. We check
//!   `expand_with_label`, `derive_secret` and every epoch's `exporter` (whose `label` is used as a
//!   text string) for all seven suites.
//! * `key-schedule.json`: `{cases: [{name, cipher_suite, epoch_exporter_secret, sender_index,
//!   plaintext, nonce, attachment_hash, attachment_context, attachment_exporter_secret,
//!   attachment_secret, attachment_key, attachment_nonce}]}`: every intermediate of draft §3.6.
//! * `chunked.json`: `{valid: [{name, cipher_suite, key, nonce, chunk_size|null, plaintext,
//!   attachment_hash, ciphertext}], invalid: [{name, cipher_suite, key, nonce, chunk_size|null,
//!   size|null, attachment_hash, ciphertext, expect, chunk|null}]}`. `chunk_size: null` is the
//!   one-shot form. A valid case must encrypt to exactly `ciphertext` and decrypt back whatever
//!   the sizes of the pieces fed in; an invalid case must fail with error code `expect` (and at
//!   chunk `chunk`), whatever the piece sizes.
//! * `content-type.json`: `{valid: [{name, cipher_suite, input, expect: {token, nonce, hash,
//!   chunk_size, size}}], invalid: [{name, cipher_suite, input, expect: kind}]}`.

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use mimi_attachments::reference::{ExternalBody, ExternalBodyIn};
use mimi_attachments::schedule::{
    attachment_hash, derive_secret, expand_with_label, mls_exporter, AttachmentContext, Derivation,
};
use mimi_attachments::stream::{open_one_shot, seal_one_shot, ChunkSize, Decryptor, Encryptor};
use mimi_attachments::{AttachmentKeys, CipherSuite, Error};
use serde_json::Value;

const CRYPTO_BASICS: &str = include_str!("vectors/rfc9420-crypto-basics.json");
const KEY_SCHEDULE_RFC: &str = include_str!("vectors/rfc9420-key-schedule.json");
const KEY_SCHEDULE: &str = include_str!("vectors/key-schedule.json");
const CHUNKED: &str = include_str!("vectors/chunked.json");
const CONTENT_TYPE: &str = include_str!("vectors/content-type.json");

fn json(s: &str) -> Value {
    serde_json::from_str(s).expect("vector file is JSON")
}

fn h(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).expect("valid hex")
}

fn suite(v: &Value) -> CipherSuite {
    let id = match v {
        Value::String(s) => s.parse().expect("suite number"),
        other => other.as_u64().expect("suite number"),
    };
    CipherSuite::from_u16(id as u16).expect("known suite")
}

fn cases<'a>(v: &'a Value, key: &str) -> &'a Vec<Value> {
    v[key].as_array().expect("array of cases")
}

#[test]
fn rfc9420_expand_with_label_and_derive_secret() {
    let v = json(CRYPTO_BASICS);
    let mut seen = vec![];
    for c in v.as_array().expect("array") {
        let s = suite(&c["cipher_suite"]);
        let e = &c["expand_with_label"];
        let len = e["length"].as_u64().expect("length") as u16;
        let out = expand_with_label(
            s.hash(),
            &h(&e["secret"]),
            e["label"].as_str().expect("label").as_bytes(),
            &h(&e["context"]),
            len,
        )
        .expect("expand");
        assert_eq!(*out, h(&e["out"]), "ExpandWithLabel, suite {s:?}");
        let d = &c["derive_secret"];
        let out =
            derive_secret(s.hash(), &h(&d["secret"]), d["label"].as_str().expect("label").as_bytes()).expect("derive");
        assert_eq!(*out, h(&d["out"]), "DeriveSecret, suite {s:?}");
        seen.push(s.id());
    }
    assert_eq!(seen, vec![1, 2, 3, 4, 5, 6, 7]);
}

#[test]
fn rfc9420_mls_exporter_every_epoch() {
    let v = json(KEY_SCHEDULE_RFC);
    let mut n = 0;
    for c in v.as_array().expect("array") {
        let s = suite(&c["cipher_suite"]);
        for epoch in c["epochs"].as_array().expect("epochs") {
            let x = &epoch["exporter"];
            let out = mls_exporter(
                s.hash(),
                &h(&epoch["exporter_secret"]),
                x["label"].as_str().expect("label").as_bytes(),
                &h(&x["context"]),
                x["length"].as_u64().expect("length") as u16,
            )
            .expect("exporter");
            assert_eq!(*out, h(&x["secret"]), "MLS-Exporter, suite {s:?}");
            n += 1;
        }
    }
    assert_eq!(n, 35, "7 suites x 5 epochs");
}

#[test]
fn attachment_key_schedule_vectors() {
    let v = json(KEY_SCHEDULE);
    let cs = cases(&v, "cases");
    assert_eq!(cs.len(), 21);
    let mut suites = std::collections::BTreeSet::new();
    for c in cs {
        let s = suite(&c["cipher_suite"]);
        suites.insert(s.id());
        let name = c["name"].as_str().expect("name");
        let sender = c["sender_index"].as_u64().expect("sender") as u32;
        let hash = attachment_hash(s, &h(&c["plaintext"]));
        assert_eq!(hash, h(&c["attachment_hash"]), "{name}: attachment_hash");
        assert_eq!(
            AttachmentContext::new(&hash, sender).to_bytes().expect("encode"),
            h(&c["attachment_context"]),
            "{name}: context"
        );
        let d =
            Derivation::from_epoch_exporter_secret(s, &h(&c["epoch_exporter_secret"]), &hash, sender, &h(&c["nonce"]))
                .expect("derivation");
        assert_eq!(d.exporter_secret.as_bytes(), h(&c["attachment_exporter_secret"]), "{name}: exporter secret");
        assert_eq!(d.secret.as_bytes(), h(&c["attachment_secret"]), "{name}: attachment_secret");
        assert_eq!(d.keys.key(), h(&c["attachment_key"]), "{name}: key");
        assert_eq!(d.keys.nonce().to_vec(), h(&c["attachment_nonce"]), "{name}: nonce");
    }
    assert_eq!(suites.len(), 7);
}

fn keys_of(c: &Value) -> AttachmentKeys {
    AttachmentKeys::from_parts(suite(&c["cipher_suite"]), &h(&c["key"]), &h(&c["nonce"])).expect("keys")
}

fn chunk_size_of(c: &Value) -> Option<ChunkSize> {
    c["chunk_size"].as_u64().map(|n| ChunkSize::new(n).expect("chunk size"))
}

/// Piece sizes to feed: whole, 1 byte, odd sizes straddling chunk and tag boundaries.
const PIECES: [usize; 5] = [usize::MAX, 1, 7, 1040, 1500];

fn feed_encrypt(keys: &AttachmentKeys, cs: ChunkSize, p: &[u8], piece: usize) -> Vec<u8> {
    let mut e = Encryptor::new(keys, cs).expect("encryptor");
    let mut out = vec![];
    for part in p.chunks(piece.min(p.len().max(1))) {
        e.update(part, &mut out).expect("update");
    }
    e.finish(&mut out).expect("finish");
    out
}

fn feed_decrypt(
    keys: &AttachmentKeys,
    cs: ChunkSize,
    ct: &[u8],
    hash: &[u8],
    size: Option<u64>,
    piece: usize,
) -> Result<Vec<u8>, Error> {
    let mut d = Decryptor::new(keys, cs, hash, size)?;
    let mut out = vec![];
    for part in ct.chunks(piece.min(ct.len().max(1))) {
        d.update(part, &mut out)?;
    }
    d.finish(&mut out)?;
    Ok(out)
}

#[test]
fn chunked_and_one_shot_valid_vectors() {
    let v = json(CHUNKED);
    let valid = cases(&v, "valid");
    assert_eq!(valid.len(), 7 * 8);
    for c in valid {
        let name = c["name"].as_str().expect("name");
        let keys = keys_of(c);
        let (p, ct, hash) = (h(&c["plaintext"]), h(&c["ciphertext"]), h(&c["attachment_hash"]));
        assert_eq!(attachment_hash(keys.suite(), &p), hash, "{name}: hash");
        match chunk_size_of(c) {
            None => {
                assert_eq!(seal_one_shot(&keys, &p).expect("seal"), ct, "{name}: one-shot seal");
                assert_eq!(open_one_shot(&keys, &ct, &hash).expect("open"), p, "{name}: one-shot open");
            }
            Some(cs) => {
                for piece in PIECES {
                    assert_eq!(feed_encrypt(&keys, cs, &p, piece), ct, "{name}: encrypt in pieces of {piece}");
                    for size in [None, Some(p.len() as u64)] {
                        assert_eq!(
                            feed_decrypt(&keys, cs, &ct, &hash, size, piece).as_deref(),
                            Ok(&p[..]),
                            "{name}: decrypt in pieces of {piece}, size {size:?}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn chunked_and_one_shot_invalid_vectors() {
    let v = json(CHUNKED);
    let invalid = cases(&v, "invalid");
    assert!(invalid.len() >= 90, "{}", invalid.len());
    for c in invalid {
        let name = c["name"].as_str().expect("name");
        let keys = keys_of(c);
        let (ct, hash) = (h(&c["ciphertext"]), h(&c["attachment_hash"]));
        let expect = c["expect"].as_str().expect("expect");
        let chunk = c["chunk"].as_u64();
        let check = |r: Result<Vec<u8>, Error>, how: &str| {
            let e = r.expect_err(&format!("{name}: must fail ({how})"));
            assert_eq!(e.code(), expect, "{name} ({how}): {e}");
            if let (Some(want), Error::DecryptFailed { chunk: got }) = (chunk, &e) {
                assert_eq!(*got, want, "{name} ({how}): failing chunk");
            }
        };
        match chunk_size_of(c) {
            None => check(open_one_shot(&keys, &ct, &hash), "one-shot"),
            Some(cs) => {
                let size = c["size"].as_u64();
                for piece in PIECES {
                    check(feed_decrypt(&keys, cs, &ct, &hash, size, piece), &format!("pieces of {piece}"));
                }
            }
        }
    }
}

#[test]
fn decryptor_releases_nothing_of_a_bad_chunk_and_withholds_the_final_one() {
    let v = json(CHUNKED);
    let c = cases(&v, "invalid").iter().find(|c| c["name"] == "suite1-stream_bad_tag").expect("case");
    let keys = keys_of(c);
    let ct = h(&c["ciphertext"]);
    let mut d = Decryptor::new(&keys, ChunkSize::new(1024).expect("cs"), &h(&c["attachment_hash"]), None).expect("d");
    let mut out = vec![];
    // Chunk 0 is fine and is released once chunk 1 starts arriving; chunk 1 has a bad tag.
    d.update(&ct[..1041], &mut out).expect("chunk 0");
    assert_eq!(out.len(), 1024);
    assert_eq!(d.update(&ct[1041..], &mut out).map_err(|e| e.code()), Err("DecryptFailed"));
    assert_eq!(out.len(), 1024, "no byte of the bad chunk was released");
    assert_eq!(d.update(b"", &mut out).map_err(|e| e.code()), Err("DecryptFailed"), "stays failed");

    let c = cases(&v, "invalid").iter().find(|c| c["name"] == "suite1-hash_mismatch").expect("case");
    let keys = keys_of(c);
    let ct = h(&c["ciphertext"]);
    let mut d = Decryptor::new(&keys, ChunkSize::new(1024).expect("cs"), &h(&c["attachment_hash"]), None).expect("d");
    let mut out = vec![];
    d.update(&ct, &mut out).expect("all chunks verify");
    assert_eq!(out.len(), 2048, "the final chunk is withheld until the hash is checked");
    assert_eq!(d.finish(&mut out).map_err(|e| e.code()), Err("HashMismatch"));
    assert_eq!(out.len(), 2048);
}

#[test]
fn content_type_valid_vectors() {
    let v = json(CONTENT_TYPE);
    let valid = cases(&v, "valid");
    assert!(valid.len() >= 19);
    for c in valid {
        let name = c["name"].as_str().expect("name");
        let s = suite(&c["cipher_suite"]);
        let input = c["input"].as_str().expect("input");
        let r = ExternalBody::parse(input, s).unwrap_or_else(|e| panic!("{name}: {e}"));
        let x = &c["expect"];
        assert_eq!(r.token, h(&x["token"]), "{name}: token");
        assert_eq!(r.nonce, h(&x["nonce"]), "{name}: nonce");
        assert_eq!(r.hash, h(&x["hash"]), "{name}: hash");
        assert_eq!(r.chunk_size.map(|c| u64::from(c.get())), x["chunk_size"].as_u64(), "{name}: chunk-size");
        assert_eq!(r.size, x["size"].as_u64(), "{name}: size");
        // The canonical form parses back to the same reference.
        assert_eq!(ExternalBody::parse(&r.to_content_type(), s).as_ref(), Ok(&r), "{name}: round trip");
    }
}

#[test]
fn content_type_invalid_vectors() {
    let v = json(CONTENT_TYPE);
    let invalid = cases(&v, "invalid");
    assert!(invalid.len() >= 40);
    for c in invalid {
        let name = c["name"].as_str().expect("name");
        let s = suite(&c["cipher_suite"]);
        let input = c["input"].as_str().expect("input");
        let e = ExternalBodyIn::parse(input).and_then(|r| r.validate(s)).expect_err(name);
        assert_eq!(e.kind(), c["expect"].as_str().expect("expect"), "{name}: {e}");
        assert_eq!(Error::from(e).code(), "BadContentType");
    }
}
