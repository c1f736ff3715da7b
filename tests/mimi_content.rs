//! MIMI content (draft-ietf-mimi-content-07) and ExternalParts: the §5.9 example byte for byte,
//! malformed parts with their specific kinds, the reference ↔ ExternalPart mapping for every
//! suite, and the incremental one-shot opener against the one-call AEADs.

use mimi_attachments::content::cbor;
use mimi_attachments::content::mapping::{suite_for, PartReference};
use mimi_attachments::content::open::StreamSealer;
use mimi_attachments::content::part::{ExtensionKey, PartBody};
use mimi_attachments::content::{
    ContentError, ContentHashMatch, ExternalPart, MimiContent, NestedPart, PartAead, PartOpener, StreamOpener,
};
use mimi_attachments::reference::ExternalBody;
use mimi_attachments::schedule::AttachmentKeys;
use mimi_attachments::stream::ChunkSize;
use mimi_attachments::{CipherSuite, Error};
use zeroize::Zeroizing;

const _: usize = cbor::MAX_DEPTH;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace([' ', '\n'], "")).unwrap()
}

fn frozen_5_9() -> Vec<u8> {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/mimi-content-5.9-attachment.hex"))
            .unwrap();
    let line = text.lines().find(|l| !l.starts_with('#')).unwrap();
    h(line)
}

/// The §5.9 example, from the values in the draft's diagnostic notation.
fn example_5_9() -> MimiContent {
    let text_value = |s: &str| {
        let mut v = vec![0x78, s.len() as u8];
        v.extend_from_slice(s.as_bytes());
        v
    };
    MimiContent {
        salt: h("18fac6371e4e53f1aeaf8a013155c166").try_into().unwrap(),
        replaces: None,
        topic_id: vec![],
        expires: None,
        in_reply_to: None,
        // Given in the reverse order on purpose: the encoder sorts the keys.
        extensions: vec![
            (ExtensionKey::Int(2), text_value("mimi://example.com/r/engineering_team")),
            (ExtensionKey::Int(1), text_value("mimi://example.com/u/bob-jones")),
        ],
        body: NestedPart {
            disposition: 6,
            language: "en".into(),
            body: PartBody::External(Box::new(ExternalPart {
                content_type: "video/mp4".into(),
                url: "https://example.com/storage/8ksB4bSrrRE.mp4".into(),
                expires: 0,
                size: 708234961,
                enc_alg: 1,
                key: Zeroizing::new(h("21399320958a6f4c745dde670d95e0d8")),
                nonce: h("c86cf2c33f21527d1dd76f5b"),
                aad: vec![],
                hash_alg: 1,
                content_hash: h("9ab17a8cf0890baaae7ee016c7312fcc 080ba46498389458ee44f0276e783163"),
                description: "2 hours of key signing video".into(),
                filename: "bigfile.mp4".into(),
            })),
        },
    }
}

#[test]
fn draft_5_9_attachment_example_byte_for_byte_and_message_id() {
    let m = example_5_9();
    let bytes = m.to_cbor().unwrap();
    assert_eq!(hex::encode(&bytes), hex::encode(frozen_5_9()));
    let back = MimiContent::from_cbor(&bytes).unwrap();
    assert_eq!(back.to_cbor().unwrap(), bytes);
    assert_eq!(back.body, m.body);
    let sender = back.text_extension(1).unwrap();
    let room = back.text_extension(2).unwrap();
    assert_eq!(sender, "mimi://example.com/u/bob-jones");
    // §3.3: the draft's message ID of this example.
    assert_eq!(
        hex::encode(back.message_id(&sender, &room).unwrap()),
        "01ad825f6116adeb437a7b1f95a9d9acbcc708f83f5df505d32af9c2826e8b5f"
    );
    // The body alone is the NestedPart from "8f" on.
    let at = bytes.windows(5).position(|w| w == [0x8f, 0x06, 0x62, 0x65, 0x6e]).unwrap();
    let body = NestedPart::from_cbor(&bytes[at..]).unwrap();
    assert_eq!(body.to_cbor().unwrap(), &bytes[at..]);
    assert_eq!(body, m.body);
    assert_eq!(body.external_parts().len(), 1);
}

/// A tiny generic CBOR writer for hand-made malformed inputs (independent of the crate's).
#[derive(Clone)]
enum V {
    U(u64),
    N(u64),
    B(Vec<u8>),
    T(String),
    A(Vec<V>),
    Raw(Vec<u8>),
}

fn head(out: &mut Vec<u8>, major: u8, n: u64) {
    let m = major << 5;
    match n {
        0..=23 => out.push(m | n as u8),
        24..=0xff => out.extend([m | 24, n as u8]),
        0x100..=0xffff => {
            out.push(m | 25);
            out.extend((n as u16).to_be_bytes())
        }
        0x1_0000..=0xffff_ffff => {
            out.push(m | 26);
            out.extend((n as u32).to_be_bytes())
        }
        _ => {
            out.push(m | 27);
            out.extend(n.to_be_bytes())
        }
    }
}

fn enc(v: &V, out: &mut Vec<u8>) {
    match v {
        V::U(n) => head(out, 0, *n),
        V::N(n) => head(out, 1, *n),
        V::B(b) => {
            head(out, 2, b.len() as u64);
            out.extend(b)
        }
        V::T(s) => {
            head(out, 3, s.len() as u64);
            out.extend(s.as_bytes())
        }
        V::A(a) => {
            head(out, 4, a.len() as u64);
            a.iter().for_each(|x| enc(x, out))
        }
        V::Raw(r) => out.extend(r),
    }
}

fn t(s: &str) -> V {
    V::T(s.into())
}

/// The §5.9 body as a generic value list: [disposition, language, cardinality, 12 fields].
fn body_fields() -> Vec<V> {
    vec![
        V::U(6),
        t("en"),
        V::U(2),
        t("video/mp4"),
        t("https://example.com/storage/8ksB4bSrrRE.mp4"),
        V::U(0),
        V::U(708234961),
        V::U(1),
        V::B(h("21399320958a6f4c745dde670d95e0d8")),
        V::B(h("c86cf2c33f21527d1dd76f5b")),
        V::B(vec![]),
        V::U(1),
        V::B(h("9ab17a8cf0890baaae7ee016c7312fcc080ba46498389458ee44f0276e783163")),
        t("2 hours of key signing video"),
        t("bigfile.mp4"),
    ]
}

fn with(i: usize, v: V) -> Vec<u8> {
    let mut f = body_fields();
    f[i] = v;
    let mut out = vec![];
    enc(&V::A(f), &mut out);
    out
}

fn kind(b: &[u8]) -> &'static str {
    match NestedPart::from_cbor(b) {
        Ok(_) => "accepted",
        Err(e) => e.kind(),
    }
}

#[test]
fn malformed_external_parts_are_rejected_with_specific_kinds() {
    let mut valid = vec![];
    enc(&V::A(body_fields()), &mut valid);
    assert_eq!(kind(&valid), "accepted");
    let mut cases: Vec<(&str, Vec<u8>, &str)> = vec![];
    let mut short = body_fields();
    short.pop();
    cases.push((
        "array of 14 (filename missing)",
        {
            let mut o = vec![];
            enc(&V::A(short), &mut o);
            o
        },
        "WrongArrayLength",
    ));
    let mut long = body_fields();
    long.push(t("extra"));
    cases.push((
        "array of 16",
        {
            let mut o = vec![];
            enc(&V::A(long), &mut o);
            o
        },
        "WrongArrayLength",
    ));
    cases.push(("cardinality single with 15 elements", with(2, V::U(1)), "WrongArrayLength"));
    cases.push(("cardinality 4", with(2, V::U(4)), "UnknownCardinality"));
    cases.push(("contentType as bstr", with(3, V::B(b"video/mp4".to_vec())), "WrongType"));
    cases.push(("url as uint", with(4, V::U(7)), "WrongType"));
    cases.push(("size negative", with(6, V::N(0)), "WrongType"));
    cases.push(("key as tstr", with(8, t("0123456789abcdef")), "WrongType"));
    cases.push(("expires above uint .size 4", with(5, V::U(1 << 32)), "OutOfRange"));
    cases.push(("encAlg above uint .size 2", with(7, V::U(1 << 16)), "OutOfRange"));
    cases.push(("hashAlg above uint .size 1", with(11, V::U(256)), "OutOfRange"));
    cases.push(("disposition 256", with(0, V::U(256)), "OutOfRange"));
    cases.push(("encAlg 3 (AES-128-CCM)", with(7, V::U(3)), "UnknownEncAlg"));
    cases.push(("AES-128-GCM with a 32-byte key", with(8, V::B(vec![1; 32])), "LengthMismatch"));
    cases.push(("nonce of 16 bytes", with(9, V::B(vec![1; 16])), "LengthMismatch"));
    cases.push(("encAlg 2 with a 16-byte key", with(7, V::U(2)), "LengthMismatch"));
    cases.push(("encAlg 0 with a key", with(7, V::U(0)), "LengthMismatch"));
    cases.push(("hashAlg 2 (sha-256-128)", with(11, V::U(2)), "UnknownHashAlg"));
    cases.push(("sha-256 hash of 31 bytes", with(12, V::B(vec![1; 31])), "LengthMismatch"));
    cases.push(("sha-512 declared, 32-byte hash", with(11, V::U(8)), "LengthMismatch"));
    cases.push(("key of 65 bytes", with(8, V::B(vec![1; 65])), "TooLong"));
    cases.push(("description of 4097 bytes", with(13, V::T("d".repeat(4097))), "TooLong"));
    cases.push(("url of 8193 bytes", with(4, V::T(format!("https://{}", "a".repeat(8185)))), "TooLong"));
    cases.push(("aad of 4097 bytes", with(10, V::B(vec![0; 4097])), "TooLong"));
    cases.push(("empty url", with(4, t("")), "BadUrl"));
    cases.push(("url with a space", with(4, t("https://example.com/a b")), "BadUrl"));
    cases.push(("filename with a path", with(14, t("../../etc/passwd")), "BadFilename"));
    cases.push(("filename not UTF-8", with(14, V::Raw(vec![0x62, 0xff, 0xfe])), "BadUtf8"));
    cases.push(("size in a non-shortest head", with(6, V::Raw(h("1b000000002a36ced1"))), "NotDeterministic"));
    cases.push(("encAlg 1 as 0x1801", with(7, V::Raw(vec![0x18, 0x01])), "NotDeterministic"));
    cases.push(("indefinite-length filename", with(14, V::Raw(h("7f6162ff"))), "IndefiniteLength"));
    cases.push(("reserved additional info 28", with(5, V::Raw(vec![0x1c])), "Reserved"));
    let mut cut = valid.clone();
    cut.pop();
    cases.push(("truncated by one byte", cut, "Truncated"));
    let mut trailing = valid.clone();
    trailing.push(0);
    cases.push(("trailing byte", trailing, "TrailingBytes"));
    let single = V::A(vec![V::U(4), t(""), V::U(1), t("text/plain"), V::B(b"hi".to_vec())]);
    cases.push((
        "multipart with one part",
        {
            let mut o = vec![];
            enc(&V::A(vec![V::U(0), t(""), V::U(3), V::U(2), V::A(vec![single.clone()])]), &mut o);
            o
        },
        "WrongArrayLength",
    ));
    cases.push((
        "partSemantics 3",
        {
            let mut o = vec![];
            enc(&V::A(vec![V::U(0), t(""), V::U(3), V::U(3), V::A(vec![single.clone(), single.clone()])]), &mut o);
            o
        },
        "OutOfRange",
    ));
    let mut deep = single.clone();
    for _ in 0..10 {
        deep = V::A(vec![V::U(0), t(""), V::U(3), V::U(2), V::A(vec![deep, single.clone()])]);
    }
    cases.push((
        "multipart nested 10 deep",
        {
            let mut o = vec![];
            enc(&deep, &mut o);
            o
        },
        "TooDeep",
    ));
    let wide = V::A(vec![V::U(0), t(""), V::U(3), V::U(2), V::A(vec![single.clone(); 64])]);
    cases.push((
        "65 parts",
        {
            let mut o = vec![];
            enc(&wide, &mut o);
            o
        },
        "TooManyParts",
    ));
    assert!(cases.len() >= 20);
    let mut failures = vec![];
    for (name, bytes, want) in &cases {
        let got = kind(bytes);
        if got != *want {
            failures.push(format!("{name}: want {want}, got {got}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    // Through the core error: code BadMimiContent, the kind inside.
    let e: Error = NestedPart::from_cbor(&with(7, V::U(3))).unwrap_err().into();
    assert_eq!(e.code(), "BadMimiContent");
}

#[test]
fn malformed_containers_are_rejected() {
    let good = frozen_5_9();
    assert!(MimiContent::from_cbor(&good).is_ok());
    // Extension keys out of order (2 before 1) and duplicated.
    let swap = {
        let mut b = good.clone();
        let a = b.iter().position(|&x| x == 0xa2).unwrap();
        // a2 01 78 1e <30> 02 78 25 <37>
        let first = b[a + 1..a + 1 + 3 + 30].to_vec();
        let second = b[a + 34..a + 34 + 3 + 37].to_vec();
        b.splice(a + 1..a + 34 + 40, second.into_iter().chain(first));
        b
    };
    assert_eq!(MimiContent::from_cbor(&swap).unwrap_err().kind(), "NotDeterministic");
    let dup = {
        let mut b = good.clone();
        let a = b.iter().position(|&x| x == 0xa2).unwrap();
        b[a + 34] = 0x01;
        b
    };
    assert_eq!(MimiContent::from_cbor(&dup).unwrap_err().kind(), "DuplicateKey");
    let salt15 = {
        let mut b = good.clone();
        b[1] = 0x4f;
        b.remove(2);
        b
    };
    assert_eq!(MimiContent::from_cbor(&salt15).unwrap_err().kind(), "LengthMismatch");
    assert_eq!(MimiContent::from_cbor(&good[..100]).unwrap_err(), ContentError::Truncated);
    assert_eq!(MimiContent::from_cbor(&[0x86]).unwrap_err().kind(), "WrongArrayLength");
}

/// A small deterministic PRNG for sizes and data.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn one_call_seal(aead: PartAead, key: &[u8], nonce: &[u8], aad: &[u8], pt: &[u8]) -> Vec<u8> {
    use aes_gcm::aead::{Aead, KeyInit, Payload};
    let p = Payload { msg: pt, aad };
    let n = aes_gcm::Nonce::from_slice(nonce);
    match aead {
        PartAead::Aes128Gcm => aes_gcm::Aes128Gcm::new_from_slice(key).unwrap().encrypt(n, p).unwrap(),
        PartAead::Aes256Gcm => aes_gcm::Aes256Gcm::new_from_slice(key).unwrap().encrypt(n, p).unwrap(),
        PartAead::ChaCha20Poly1305 => {
            chacha20poly1305::ChaCha20Poly1305::new_from_slice(key).unwrap().encrypt(n, p).unwrap()
        }
    }
}

fn open_in_pieces(
    aead: PartAead,
    key: &[u8],
    nonce: &[u8],
    aad: &[u8],
    ct: &[u8],
    rng: &mut Rng,
) -> Result<Vec<u8>, Error> {
    let mut o = StreamOpener::new(aead, key, nonce, aad)?;
    let mut out = vec![];
    let mut rest = ct;
    while !rest.is_empty() {
        let n = match rng.next() % 4 {
            0 => 1 + (rng.next() % 20) as usize,
            1 => 16,
            _ => 1 + (rng.next() % 70_000) as usize,
        }
        .min(rest.len());
        let (a, b) = rest.split_at(n);
        o.update(a, &mut out)?;
        rest = b;
        // Never more plaintext out than ciphertext in minus a possible tag.
        assert!(out.len() as u64 + 16 <= o.ciphertext_len().max(16));
    }
    o.finish()?;
    Ok(out)
}

#[test]
fn stream_opener_and_sealer_match_the_one_call_aeads() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let sizes = [0usize, 1, 15, 16, 17, 31, 32, 33, 63, 64, 65, 1000, 65_536, 200_001];
    for aead in [PartAead::Aes128Gcm, PartAead::Aes256Gcm, PartAead::ChaCha20Poly1305] {
        for (i, &size) in sizes.iter().chain([(rng.next() % 300_000) as usize].iter()).enumerate() {
            let key = rng.bytes(aead.nk());
            let nonce = rng.bytes(12);
            let aad = if i % 3 == 0 { vec![] } else { rng.bytes(i % 40) };
            let pt = rng.bytes(size);
            let ct = one_call_seal(aead, &key, &nonce, &aad, &pt);
            // Opener: any piece sizes give the plaintext.
            assert_eq!(open_in_pieces(aead, &key, &nonce, &aad, &ct, &mut rng).unwrap(), pt, "{aead:?} {size}");
            // Sealer: pieces give the one-call ciphertext.
            let mut s = StreamSealer::new(aead, &key, &nonce, &aad).unwrap();
            let mut out = vec![];
            for piece in pt.chunks(1 + (rng.next() % 5000) as usize) {
                s.update(piece, &mut out).unwrap();
            }
            s.finish(&mut out);
            assert_eq!(out, ct, "{aead:?} {size}");
            // Tampering anywhere (ciphertext or tag) fails at finish.
            let mut bad = ct.clone();
            let at = (rng.next() as usize) % bad.len();
            bad[at] ^= 1 << (rng.next() % 8);
            assert_eq!(
                open_in_pieces(aead, &key, &nonce, &aad, &bad, &mut rng).unwrap_err(),
                Error::DecryptFailed { chunk: 0 }
            );
            // Wrong aad, truncation, extension.
            let mut aad2 = aad.clone();
            aad2.push(0);
            assert!(open_in_pieces(aead, &key, &nonce, &aad2, &ct, &mut rng).is_err());
            assert!(open_in_pieces(aead, &key, &nonce, &aad, &ct[..ct.len() - 1], &mut rng).is_err());
            let mut longer = ct.clone();
            longer.push(0);
            assert!(open_in_pieces(aead, &key, &nonce, &aad, &longer, &mut rng).is_err());
        }
        let o = StreamOpener::new(aead, &vec![0; aead.nk()], &[0; 12], b"").unwrap();
        assert!(matches!(o.finish(), Err(Error::Truncated(_))));
    }
}

fn foreign_part(aead_id: u16, pt: &[u8], rng: &mut Rng, hash_of_ciphertext: bool) -> (ExternalPart, Vec<u8>) {
    use sha2::{Digest, Sha256};
    let aead = PartAead::from_enc_alg(aead_id).unwrap();
    let key = rng.bytes(aead.nk());
    let nonce = rng.bytes(12);
    let ct = one_call_seal(aead, &key, &nonce, b"", pt);
    let hash = if hash_of_ciphertext { Sha256::digest(&ct).to_vec() } else { Sha256::digest(pt).to_vec() };
    let part = ExternalPart {
        content_type: "image/png".into(),
        url: "https://s3.example/bucket/abc".into(),
        expires: 0,
        size: pt.len() as u64,
        enc_alg: aead_id,
        key: Zeroizing::new(key),
        nonce,
        aad: vec![],
        hash_alg: 1,
        content_hash: hash,
        description: String::new(),
        filename: "cat.png".into(),
    };
    (part, ct)
}

fn receive(part: &ExternalPart, ct: &[u8]) -> Result<(Vec<u8>, ContentHashMatch), Error> {
    let mut o = PartOpener::new(part)?;
    let mut out = vec![];
    for piece in ct.chunks(7777) {
        o.update(piece, &mut out)?;
    }
    let m = o.finish()?;
    Ok((out, m))
}

#[test]
fn part_opener_reads_both_hash_semantics_and_the_id_8_quirk() {
    let mut rng = Rng(42);
    let pt = rng.bytes(100_000);
    for id in [1u16, 2, 29] {
        let (p, ct) = foreign_part(id, &pt, &mut rng, false);
        assert_eq!(receive(&p, &ct).unwrap(), (pt.clone(), ContentHashMatch::Plaintext));
        let (mut p, ct) = foreign_part(id, &pt, &mut rng, true);
        assert_eq!(receive(&p, &ct).unwrap(), (pt.clone(), ContentHashMatch::Ciphertext));
        // size as the length of the content at the URL is accepted too; other sizes are not.
        p.size = ct.len() as u64;
        assert!(receive(&p, &ct).is_ok());
        p.size = pt.len() as u64 + 1;
        assert_eq!(receive(&p, &ct).unwrap_err().code(), "BadMimiContent");
        p.size = 0;
        p.content_hash[0] ^= 1;
        assert_eq!(receive(&p, &ct).unwrap_err(), Error::HashMismatch);
    }
    // id 8 = AES-256-GCM with a 16-byte tag: accepted only when the length proves the 16-byte tag.
    let (mut p, ct) = foreign_part(2, &pt, &mut rng, false);
    p.enc_alg = 8;
    assert_eq!(receive(&p, &ct).unwrap().0, pt);
    p.size = 0;
    assert_eq!(receive(&p, &ct).unwrap_err(), Error::Content(ContentError::AmbiguousTag));
    p.size = ct.len() as u64; // could be a 12-byte tag over 4 more plaintext bytes
    assert_eq!(receive(&p, &ct).unwrap_err(), Error::Content(ContentError::AmbiguousTag));
    p.size = pt.len() as u64 + 4; // what a genuine 12-byte tag would make it
    assert_eq!(receive(&p, &ct).unwrap_err(), Error::Content(ContentError::AmbiguousTag));
    // Not encrypted: refused.
    let mut plain = p.clone();
    plain.enc_alg = 0;
    plain.key = Zeroizing::new(vec![]);
    plain.nonce = vec![];
    assert_eq!(PartOpener::new(&plain).err().map(|e| e.code()), Some("InvalidArgument"));
}

#[test]
fn reference_to_part_and_back_for_every_suite() {
    let mut rng = Rng(7);
    for suite in CipherSuite::ALL {
        for chunk in [None, Some(ChunkSize::new(65536).unwrap())] {
            let pt = rng.bytes(3000);
            let keys = AttachmentKeys::from_parts(suite, &rng.bytes(suite.aead().nk()), &rng.bytes(12)).unwrap();
            let hash = suite.hash().digest(&pt);
            let r = PartReference {
                body: ExternalBody {
                    token: rng.bytes(24),
                    nonce: rng.bytes(suite.nh()),
                    hash: hash.clone(),
                    chunk_size: chunk,
                    size: Some(pt.len() as u64),
                },
                keys: keys.clone(),
                url_prefix: "https://ds.example/v1/attachments/".into(),
                media_type: "text/plain; charset=utf-8".into(),
                expires: 1_900_000_000,
                description: "notes".into(),
                filename: "notes.txt".into(),
            };
            let part = r.to_part().unwrap();
            let bytes = NestedPart::attachment(part.clone()).to_cbor().unwrap();
            let NestedPart { body: PartBody::External(back), disposition, .. } = NestedPart::from_cbor(&bytes).unwrap()
            else {
                panic!("not external")
            };
            assert_eq!(disposition, 6);
            assert_eq!(*back, part);
            let r2 = PartReference::from_part(&back).unwrap();
            assert_eq!(r2.body, r.body, "{suite:?}");
            assert_eq!(r2.keys.key(), keys.key());
            assert_eq!(r2.keys.nonce(), keys.nonce());
            assert_eq!(r2.keys.suite().aead(), suite.aead());
            assert_eq!(r2.keys.suite().hash(), suite.hash());
            assert_eq!(
                suite_for(part.enc_alg, part.hash_alg).map(|s| (s.aead(), s.hash())),
                Some((suite.aead(), suite.hash()))
            );
            assert_eq!(
                (
                    r2.url_prefix.as_str(),
                    r2.media_type.as_str(),
                    r2.expires,
                    r2.description.as_str(),
                    r2.filename.as_str()
                ),
                (
                    "https://ds.example/v1/attachments/",
                    "text/plain; charset=utf-8",
                    1_900_000_000,
                    "notes",
                    "notes.txt"
                )
            );
            assert_eq!(r2.to_part().unwrap(), part);
            // A one-shot part is what a draft-only MIMI client decrypts: AEAD(key, nonce, "", pt).
            if chunk.is_none() {
                let ct = mimi_attachments::stream::seal_one_shot(&keys, &pt).unwrap();
                assert_eq!(receive(&part, &ct).unwrap(), (pt.clone(), ContentHashMatch::Plaintext));
            }
        }
    }
    // Our one-shot form through PartOpener::for_one_shot: exact size, plaintext hash only.
    let suite = CipherSuite::Mls128Dhkemx25519Aes128gcmSha256Ed25519;
    let keys = AttachmentKeys::from_parts(suite, &[3; 16], &[4; 12]).unwrap();
    let pt = rng.bytes(5000);
    let ct = mimi_attachments::stream::seal_one_shot(&keys, &pt).unwrap();
    let hash = suite.hash().digest(&pt);
    let run = |size: Option<u64>, hash: &[u8], ct: &[u8]| -> Result<Vec<u8>, Error> {
        let mut o = PartOpener::for_one_shot(&keys, hash, size)?;
        let mut out = vec![];
        for piece in ct.chunks(999) {
            o.update(piece, &mut out)?;
        }
        o.finish()?;
        Ok(out)
    };
    assert_eq!(run(Some(5000), &hash, &ct).unwrap(), pt);
    assert_eq!(run(None, &hash, &ct).unwrap(), pt);
    assert_eq!(run(Some(5001), &hash, &ct).unwrap_err().code(), "Truncated");
    assert_eq!(run(Some(4999), &hash, &ct).unwrap_err(), Error::TrailingData);
    let ct_hash = suite.hash().digest(&ct);
    assert_eq!(run(None, &ct_hash, &ct).unwrap_err(), Error::HashMismatch);
    // A foreign part is not one of our references.
    let (p, _) = foreign_part(1, b"x", &mut rng, false);
    assert_eq!(
        PartReference::from_part(&p).unwrap_err(),
        Error::Content(ContentError::NotAReference("no mimi-nonce parameter"))
    );
}

#[test]
fn a_group_member_binds_our_part_to_sender_and_epoch() {
    use mimi_attachments::attachment::PendingAttachment;
    use mimi_attachments::content::mapping::{attachment_from_part, attachment_to_part};
    use mimi_attachments::mls::Client;
    let suite = CipherSuite::Mls128Dhkemx25519Aes128gcmSha256Ed25519;
    let alice = Client::new(b"alice", suite).unwrap();
    let bob = Client::new(b"bob", suite).unwrap();
    let mut ag = alice.create_group(Some(b"g")).unwrap();
    let out = ag.add_members(&[bob.key_package().unwrap()]).unwrap();
    let bg = bob.join_group(&out.welcome.unwrap()).unwrap();
    let pt = Rng(5).bytes(40_000);
    let hash = ag.attachment_hash(&pt).unwrap();
    let p = PendingAttachment::new(&ag, &hash, pt.len() as u64, mimi_attachments::format::Format::OneShot).unwrap();
    let ct = mimi_attachments::stream::seal_one_shot(p.keys(), &pt).unwrap();
    let r = p.complete(&ag, b"token-1").unwrap();
    let part = attachment_to_part(&r, "https://ds.example/v1/attachments/", "image/png", "a.png", "", 0).unwrap();
    let sender = ag.own_leaf_index();
    let got = attachment_from_part(&bg, &part, sender, bg.epoch()).unwrap();
    assert_eq!(got.open_one_shot(&ct).unwrap(), pt);
    assert_eq!((got.token.as_slice(), got.size, got.chunk_size), (&b"token-1"[..], Some(40_000), None));
    // Another sender index derives other keys than the part's: refused.
    assert_eq!(
        attachment_from_part(&bg, &part, sender + 1, bg.epoch()).unwrap_err(),
        Error::Content(ContentError::KeyMismatch)
    );
    // A part whose explicit key was swapped is refused too.
    let mut forged = part.clone();
    forged.key = Zeroizing::new(vec![0; 16]);
    assert_eq!(
        attachment_from_part(&bg, &forged, sender, bg.epoch()).unwrap_err(),
        Error::Content(ContentError::KeyMismatch)
    );
}
