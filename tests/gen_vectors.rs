//! Writes `tests/vectors/{key-schedule,chunked,content-type}.json` ONCE:
//! `cargo test --features gen-vectors --test gen_vectors`. The files are then reviewed
//! (`python3 tests/vectors/check_vectors.py` recomputes every crypto value independently) and
//! frozen: never regenerate them to make a test pass.
//!
//! Inputs are deterministic (SHA-256 counter streams), so a regeneration is reproducible.
//! Crypto outputs come from this crate; content-type expectations are written out by hand below.
#![cfg(all(feature = "gen-vectors", not(target_arch = "wasm32")))]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use mimi_attachments::aead::Cipher;
use mimi_attachments::schedule::{attachment_hash, AttachmentContext, AttachmentKeys, Derivation};
use mimi_attachments::stream::{seal_chunk, seal_chunked, seal_one_shot, ChunkSize};
use mimi_attachments::suite::CipherSuite;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

fn det(label: &str, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 32);
    let mut i = 0u32;
    while out.len() < len {
        let mut h = Sha256::new();
        h.update(label.as_bytes());
        h.update(i.to_be_bytes());
        out.extend_from_slice(&h.finalize());
        i += 1;
    }
    out.truncate(len);
    out
}

fn hx(b: &[u8]) -> String {
    hex::encode(b)
}

fn b64(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

fn write(name: &str, v: &Value) {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::write(&path, serde_json::to_string_pretty(v).unwrap() + "\n").unwrap();
    eprintln!("wrote {path}");
}

#[test]
fn generate_key_schedule() {
    let mut cases = vec![];
    for suite in CipherSuite::ALL {
        let s = suite.id();
        for (sender, plen) in [(0u32, 0usize), (1, 5), (u32::MAX, 100)] {
            let name = format!("suite{s}-sender{sender}-len{plen}");
            let epoch = det(&format!("{name}/exporter_secret"), suite.nh());
            let plaintext = det(&format!("{name}/plaintext"), plen);
            let nonce = det(&format!("{name}/nonce"), suite.nh());
            let h = attachment_hash(suite, &plaintext);
            let ctx = AttachmentContext::new(&h, sender).to_bytes().unwrap();
            let d = Derivation::from_epoch_exporter_secret(suite, &epoch, &h, sender, &nonce).unwrap();
            cases.push(json!({
                "name": name, "cipher_suite": s, "epoch_exporter_secret": hx(&epoch),
                "sender_index": sender, "plaintext": hx(&plaintext), "nonce": hx(&nonce),
                "attachment_hash": hx(&h), "attachment_context": hx(&ctx),
                "attachment_exporter_secret": hx(d.exporter_secret.as_bytes()),
                "attachment_secret": hx(d.secret.as_bytes()),
                "attachment_key": hx(d.keys.key()), "attachment_nonce": hx(d.keys.nonce()),
            }));
        }
    }
    write(
        "key-schedule.json",
        &json!({
        "description": "draft-robert-mimi-attachments §3.6 from an epoch's raw exporter_secret. Hex bytes. See tests/vectors.rs for the schema.",
        "cases": cases }),
    );
}

fn keys_for(suite: CipherSuite, name: &str) -> AttachmentKeys {
    AttachmentKeys::from_parts(
        suite,
        &det(&format!("{name}/key"), suite.aead().nk()),
        &det(&format!("{name}/nonce"), 12),
    )
    .unwrap()
}

#[test]
fn generate_chunked() {
    let cs = ChunkSize::new(1024).unwrap();
    let mut valid = vec![];
    for suite in CipherSuite::ALL {
        let s = suite.id();
        for plen in [0usize, 100] {
            let name = format!("suite{s}-oneshot-len{plen}");
            let k = keys_for(suite, &name);
            let p = det(&format!("{name}/plaintext"), plen);
            valid.push(json!({ "name": name, "cipher_suite": s, "key": hx(k.key()), "nonce": hx(k.nonce()),
                "chunk_size": null, "plaintext": hx(&p), "attachment_hash": hx(&attachment_hash(suite, &p)),
                "ciphertext": hx(&seal_one_shot(&k, &p).unwrap()) }));
        }
        for plen in [0usize, 1, 1024, 1025, 2048, 3000] {
            let name = format!("suite{s}-chunked1024-len{plen}");
            let k = keys_for(suite, &name);
            let p = det(&format!("{name}/plaintext"), plen);
            valid.push(json!({ "name": name, "cipher_suite": s, "key": hx(k.key()), "nonce": hx(k.nonce()),
                "chunk_size": 1024, "plaintext": hx(&p), "attachment_hash": hx(&attachment_hash(suite, &p)),
                "ciphertext": hx(&seal_chunked(&k, cs, &p).unwrap()) }));
        }
    }

    // Negative cases: each named after its defect, with the expected error code (and chunk).
    let mut invalid = vec![];
    for suite in [CipherSuite::ALL[0], CipherSuite::ALL[2], CipherSuite::ALL[6]] {
        let s = suite.id();
        let name = format!("suite{s}-neg");
        let k = keys_for(suite, &name);
        let cipher = Cipher::new(suite.aead(), k.key()).unwrap();
        let p3000 = det(&format!("{name}/p3000"), 3000);
        let p2048 = det(&format!("{name}/p2048"), 2048);
        let h3000 = attachment_hash(suite, &p3000);
        let h2048 = attachment_hash(suite, &p2048);
        let ct3000 = seal_chunked(&k, cs, &p3000).unwrap(); // 1040 + 1040 + 968
        let ct2048 = seal_chunked(&k, cs, &p2048).unwrap(); // 1040 + 1040
        let seal = |chunks: &[(u64, bool, &[u8])]| {
            let mut out = vec![];
            for (i, last, c) in chunks {
                seal_chunk(&cipher, k.nonce(), *i, *last, c, &mut out).unwrap();
            }
            out
        };
        let mut add = |case: &str,
                       ct: Vec<u8>,
                       hash: &[u8],
                       size: Option<u64>,
                       chunk_size: Option<u32>,
                       expect: &str,
                       chunk: Option<u64>| {
            invalid.push(json!({ "name": format!("suite{s}-{case}"), "cipher_suite": s, "key": hx(k.key()),
                "nonce": hx(k.nonce()), "chunk_size": chunk_size, "size": size, "attachment_hash": hx(hash),
                "ciphertext": hx(&ct), "expect": expect, "chunk": chunk }));
        };
        let c = Some(1024u32);
        let mut t = ct3000.clone();
        t[1040 + 1039] ^= 0x80; // last tag byte of chunk 1
        add("stream_bad_tag", t, &h3000, None, c, "DecryptFailed", Some(1));
        let mut t = ct3000.clone();
        t[2080 + 5] ^= 1; // a ciphertext bit of the final chunk
        add("stream_flipped_bit_final_chunk", t, &h3000, None, c, "DecryptFailed", Some(2));
        let mut t = ct3000.clone();
        t[0] ^= 1;
        add("stream_flipped_bit_first_chunk", t, &h3000, None, c, "DecryptFailed", Some(0));
        add("stream_truncated_at_boundary", ct3000[..2080].to_vec(), &h3000, None, c, "Truncated", None);
        add(
            "stream_truncated_at_boundary_with_size",
            ct3000[..2080].to_vec(),
            &h3000,
            Some(3000),
            c,
            "Truncated",
            None,
        );
        add("stream_truncated_mid_chunk", ct3000[..2500].to_vec(), &h3000, None, c, "DecryptFailed", Some(2));
        add("stream_truncated_mid_chunk_with_size", ct3000[..2500].to_vec(), &h3000, Some(3000), c, "Truncated", None);
        add("stream_truncated_inside_tag", ct3000[..2080 + 10].to_vec(), &h3000, None, c, "Truncated", None);
        add(
            "stream_missing_final",
            seal(&[(0, false, &p3000[..1024]), (1, false, &p3000[1024..2048]), (2, false, &p3000[2048..])]),
            &h3000,
            None,
            c,
            "Truncated",
            None,
        );
        add(
            "stream_two_finals",
            seal(&[(0, false, &p3000[..1024]), (1, true, &p3000[1024..2048]), (2, true, &p3000[2048..])]),
            &h3000,
            None,
            c,
            "TrailingData",
            None,
        );
        add(
            "stream_final_first",
            seal(&[(0, true, &p3000[..1024]), (1, false, &p3000[1024..2048]), (2, true, &p3000[2048..])]),
            &h3000,
            None,
            c,
            "TrailingData",
            None,
        );
        let mut t = ct2048.clone();
        t.extend_from_slice(&det("garbage", 40));
        add("stream_trailing_garbage", t, &h2048, None, c, "TrailingData", None);
        let mut t = ct3000.clone();
        t.extend_from_slice(&det("garbage", 5));
        add("stream_trailing_garbage_short", t.clone(), &h3000, None, c, "DecryptFailed", Some(2));
        add("stream_trailing_garbage_short_with_size", t, &h3000, Some(3000), c, "TrailingData", None);
        let mut t = ct3000.clone();
        t.extend_from_slice(&ct3000[2080..]);
        add("stream_final_chunk_repeated", t, &h3000, None, c, "DecryptFailed", Some(2));
        let mut t = ct3000[1040..2080].to_vec();
        t.extend_from_slice(&ct3000[..1040]);
        t.extend_from_slice(&ct3000[2080..]);
        add("stream_reordered", t, &h3000, None, c, "DecryptFailed", Some(0));
        let mut t = ct3000[..1040].to_vec();
        t.extend_from_slice(&ct3000[2080..]);
        add("stream_chunk_dropped", t, &h3000, None, c, "DecryptFailed", Some(1));
        let other = keys_for(suite, &format!("{name}/other-attachment"));
        let ct_other = seal_chunked(&other, cs, &p3000).unwrap();
        let mut t = ct3000.clone();
        t[1040..2080].copy_from_slice(&ct_other[1040..2080]);
        add("stream_chunk_from_other_attachment", t, &h3000, None, c, "DecryptFailed", Some(1));
        add("stream_wrong_key", ct_other.clone(), &h3000, None, c, "DecryptFailed", Some(0));
        add(
            "stream_empty_final_after_full_chunk",
            seal(&[(0, false, &p2048[..1024]), (1, false, &p2048[1024..]), (2, true, b"")]),
            &h2048,
            None,
            c,
            "BadCiphertextLength",
            None,
        );
        add("stream_empty_ciphertext", vec![], &h3000, None, c, "Truncated", None);
        add("stream_shorter_than_tag", ct3000[..15].to_vec(), &h3000, None, c, "Truncated", None);
        add("stream_wrong_chunk_size", ct3000.clone(), &h3000, None, Some(2048), "DecryptFailed", Some(0));
        add("stream_size_smaller_than_declared", ct3000.clone(), &h3000, Some(3001), c, "Truncated", None);
        add("stream_size_larger_than_declared", ct3000.clone(), &h3000, Some(2999), c, "TrailingData", None);
        add("hash_mismatch", ct3000.clone(), &h2048, None, c, "HashMismatch", None);
        add("hash_mismatch_empty_plaintext", seal_chunked(&k, cs, b"").unwrap(), &h3000, None, c, "HashMismatch", None);
        let os = seal_one_shot(&k, &p3000).unwrap();
        let mut t = os.clone();
        t[100] ^= 4;
        add("oneshot_flipped_bit", t, &h3000, None, None, "DecryptFailed", Some(0));
        add("oneshot_truncated", os[..os.len() - 1].to_vec(), &h3000, None, None, "DecryptFailed", Some(0));
        add("oneshot_shorter_than_tag", os[..10].to_vec(), &h3000, None, None, "Truncated", None);
        add("oneshot_hash_mismatch", os.clone(), &h2048, None, None, "HashMismatch", None);
        add(
            "oneshot_read_as_chunked",
            seal_one_shot(&k, &p3000[..1000]).unwrap(),
            &attachment_hash(suite, &p3000[..1000]),
            None,
            c,
            "DecryptFailed",
            Some(0),
        );
        add(
            "chunked_read_as_oneshot",
            seal_chunked(&k, cs, &p3000[..1000]).unwrap(),
            &attachment_hash(suite, &p3000[..1000]),
            None,
            None,
            "DecryptFailed",
            Some(0),
        );
    }
    write(
        "chunked.json",
        &json!({
        "description": "Ciphertext formats of DESIGN.md §3: one-shot (chunk_size null) and chunked v1. Hex bytes. See tests/vectors.rs for the schema.",
        "valid": valid, "invalid": invalid }),
    );
}

#[test]
fn generate_content_type() {
    let t = det("ct/token", 24);
    let n = det("ct/nonce", 32);
    let h = det("ct/hash", 32);
    let (tb, nb, hb) = (b64(&t), b64(&n), b64(&h));
    let base = format!("message/external-body; access-type=token; token={tb}; nonce={nb}; hash={hb}");
    let ok = |name: &str,
              suite: u16,
              input: String,
              token: &[u8],
              nonce: &[u8],
              hash: &[u8],
              chunk: Option<u32>,
              size: Option<u64>| {
        json!({ "name": name, "cipher_suite": suite, "input": input,
            "expect": { "token": hx(token), "nonce": hx(nonce), "hash": hx(hash), "chunk_size": chunk, "size": size } })
    };
    let n48 = det("ct/nonce48", 48);
    let h48 = det("ct/hash48", 48);
    let n64 = det("ct/nonce64", 64);
    let h64 = det("ct/hash64", 64);
    let valid = vec![
        ok("canonical_chunked", 1, format!("{base}; chunk-size=262144; size=5242880"), &t, &n, &h, Some(262144), Some(5242880)),
        ok("minimal_one_shot", 1, base.clone(), &t, &n, &h, None, None),
        ok("drafts_spacing", 1, format!("message/external-body; access-type=token;token={tb}; nonce={nb}; hash={hb}"), &t, &n, &h, None, None),
        ok("no_spaces", 1, format!("message/external-body;access-type=token;token={tb};nonce={nb};hash={hb}"), &t, &n, &h, None, None),
        ok("upper_case_names", 1, format!("MESSAGE/External-Body; ACCESS-TYPE=TOKEN; Token={tb}; NONCE={nb}; Hash={hb}; Chunk-Size=1024"), &t, &n, &h, Some(1024), None),
        ok("tabs_and_spaces", 1, format!("  message / external-body\t;\taccess-type = token ;  token\t=\t{tb} ;nonce= {nb};hash ={hb}  "), &t, &n, &h, None, None),
        ok("quoted_values", 1, format!("message/external-body; access-type=\"token\"; token=\"{tb}\"; nonce=\"{nb}\"; hash=\"{hb}\"; chunk-size=\"4096\"; size=\"7\""), &t, &n, &h, Some(4096), Some(7)),
        ok("quoted_pair_escapes", 1, format!("{base}; chunk-size=\"\\1\\0\\2\\4\""), &t, &n, &h, Some(1024), None),
        ok("comments", 1, format!("message/external-body (an attachment); access-type=token (of the DS); token={tb}; nonce=(nested (comment)){nb}; hash={hb}"), &t, &n, &h, None, None),
        ok("unknown_parameters_ignored", 1, format!("{base}; expiration=\"Thu, 01 Jan 2027 00:00:00 GMT\"; name=cat.png; x-foo=bar"), &t, &n, &h, None, None),
        ok("parameters_in_any_order", 1, format!("message/external-body; hash={hb}; size=1; nonce={nb}; chunk-size=1024; token={tb}; access-type=token"), &t, &n, &h, Some(1024), Some(1)),
        ok("trailing_semicolon", 1, format!("{base};"), &t, &n, &h, None, None),
        ok("chunk_size_min", 1, format!("{base}; chunk-size=1024"), &t, &n, &h, Some(1024), None),
        ok("chunk_size_max", 1, format!("{base}; chunk-size=16777216"), &t, &n, &h, Some(16777216), None),
        ok("size_zero", 1, format!("{base}; size=0"), &t, &n, &h, None, Some(0)),
        ok("size_max_u64", 1, format!("{base}; size=18446744073709551615"), &t, &n, &h, None, Some(u64::MAX)),
        ok("one_byte_token", 1, format!("message/external-body; access-type=token; token=AA; nonce={nb}; hash={hb}"), &[0], &n, &h, None, None),
        ok("suite7_sha384", 7, format!("message/external-body; access-type=token; token={tb}; nonce={}; hash={}", b64(&n48), b64(&h48)), &t, &n48, &h48, None, None),
        ok("suite4_sha512", 4, format!("message/external-body; access-type=token; token={tb}; nonce={}; hash={}", b64(&n64), b64(&h64)), &t, &n64, &h64, None, None),
    ];
    let bad = |name: &str, input: String, kind: &str| json!({ "name": name, "cipher_suite": 1, "input": input, "expect": kind });
    let long_token = b64(&det("ct/long", 513));
    let invalid = vec![
        bad("empty_string", String::new(), "Syntax"),
        bad(
            "wrong_media_type",
            format!("message/rfc822; access-type=token; token={tb}; nonce={nb}; hash={hb}"),
            "WrongMediaType",
        ),
        bad("text_plain", "text/plain; charset=utf-8".into(), "WrongMediaType"),
        bad("missing_subtype", "message".into(), "Syntax"),
        bad(
            "access_type_url",
            format!("message/external-body; access-type=URL; token={tb}; nonce={nb}; hash={hb}"),
            "WrongAccessType",
        ),
        bad(
            "missing_access_type",
            format!("message/external-body; token={tb}; nonce={nb}; hash={hb}"),
            "MissingParameter",
        ),
        bad(
            "missing_token",
            format!("message/external-body; access-type=token; nonce={nb}; hash={hb}"),
            "MissingParameter",
        ),
        bad(
            "missing_nonce",
            format!("message/external-body; access-type=token; token={tb}; hash={hb}"),
            "MissingParameter",
        ),
        bad(
            "missing_hash",
            format!("message/external-body; access-type=token; token={tb}; nonce={nb}"),
            "MissingParameter",
        ),
        bad("duplicate_token", format!("{base}; token={tb}"), "DuplicateParameter"),
        bad("duplicate_hash_other_case", format!("{base}; HASH={hb}"), "DuplicateParameter"),
        bad("duplicate_unknown_parameter", format!("{base}; name=a; name=b"), "DuplicateParameter"),
        bad(
            "injected_hash_after_quoted_token",
            format!("message/external-body; access-type=token; token=\"{tb}; hash={hb}\"; nonce={nb}"),
            "BadBase64",
        ),
        bad(
            "nonce_too_short",
            format!("message/external-body; access-type=token; token={tb}; nonce={}; hash={hb}", b64(&n[..16])),
            "BadLength",
        ),
        bad(
            "hash_too_long_for_suite",
            format!("message/external-body; access-type=token; token={tb}; nonce={nb}; hash={}", b64(&h48)),
            "BadLength",
        ),
        bad(
            "base64_padding",
            format!(
                "message/external-body; access-type=token; token=\"{}\"; nonce={nb}; hash={hb}",
                URL_SAFE_NO_PAD.encode(&t[..4]) + "=="
            ),
            "BadBase64",
        ),
        bad(
            "base64_standard_alphabet",
            format!("message/external-body; access-type=token; token=ab+c; nonce={nb}; hash={hb}"),
            "BadBase64",
        ),
        bad(
            "base64_non_canonical_bits",
            format!("message/external-body; access-type=token; token=AB; nonce={nb}; hash={hb}"),
            "BadBase64",
        ),
        bad(
            "empty_token_value",
            format!("message/external-body; access-type=token; token=; nonce={nb}; hash={hb}"),
            "Syntax",
        ),
        bad(
            "empty_quoted_token",
            format!("message/external-body; access-type=token; token=\"\"; nonce={nb}; hash={hb}"),
            "BadTokenLength",
        ),
        bad(
            "token_too_long",
            format!("message/external-body; access-type=token; token={long_token}; nonce={nb}; hash={hb}"),
            "BadTokenLength",
        ),
        bad("chunk_size_too_small", format!("{base}; chunk-size=1023"), "BadChunkSize"),
        bad("chunk_size_too_large", format!("{base}; chunk-size=16777217"), "BadChunkSize"),
        bad("chunk_size_zero", format!("{base}; chunk-size=0"), "BadChunkSize"),
        bad("chunk_size_not_a_number", format!("{base}; chunk-size=abc"), "BadNumber"),
        bad("chunk_size_negative", format!("{base}; chunk-size=-1024"), "BadNumber"),
        bad("chunk_size_overflow", format!("{base}; chunk-size=18446744073709551616"), "BadNumber"),
        bad("chunk_size_quoted_space", format!("{base}; chunk-size=\" 1024\""), "BadNumber"),
        bad("size_fraction", format!("{base}; size=1.5"), "BadNumber"),
        bad("size_hex", format!("{base}; size=0x10"), "BadNumber"),
        bad("non_ascii_value", format!("{base}; name=h\u{e9}llo"), "NonAscii"),
        bad("crlf_injection", format!("{base}\r\nX-Evil: 1"), "NonAscii"),
        bad("nul_byte", format!("{base}\u{0}"), "NonAscii"),
        bad("unterminated_quote", format!("{base}; name=\"abc"), "Syntax"),
        bad("unterminated_comment", format!("{base} (comment"), "Syntax"),
        bad("missing_equals", format!("{base}; chunk-size"), "Syntax"),
        bad(
            "missing_semicolon",
            format!("message/external-body; access-type=token token={tb}; nonce={nb}; hash={hb}"),
            "Syntax",
        ),
        bad(
            "rfc2231_continuation",
            format!("message/external-body; access-type=token; token*0={tb}; token*1=AA; nonce={nb}; hash={hb}"),
            "Rfc2231",
        ),
        bad("rfc2231_extended_value", format!("{base}; size*=utf-8''12"), "Rfc2231"),
        bad("too_long", format!("{base}; x={}", "a".repeat(5000)), "TooLong"),
    ];
    write(
        "content-type.json",
        &json!({
        "description": "The message/external-body reference (draft §3.2, DESIGN.md §4). Expected values written by hand in tests/gen_vectors.rs. See tests/vectors.rs for the schema.",
        "valid": valid, "invalid": invalid }),
    );
}
