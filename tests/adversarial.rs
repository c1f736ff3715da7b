//! Adversarial cases against real MLS groups (issue 7): every case is named, has a category and
//! the one error it must fail with (a code, a `BadContentType` kind, or `DecryptFailed` at a given
//! chunk). Runs natively and in headless Chromium. The same cases run through the JS API in
//! `tests/browser/adversarial.mjs` under the same names; `docs/ADVERSARIAL.md` lists them all,
//! with the static vectors of `tests/vectors/{chunked,content-type}.json`.
//!
//! The world every case runs against (built once per test thread):
//!
//! * `group-1`, suite 1. Epoch 0: Alice creates it. Epoch 1: Alice adds Bob. Alice sends
//!   attachments A and B (4000 bytes each, chunk-size 1024: three full chunks and a final one of
//!   928 bytes) and the one-shot O and O2 (1000 bytes each); Bob derives their references from
//!   Alice's messages in epoch 1 and keeps them. Epoch 2: Alice adds Carol (leaf 2) and Dave
//!   (leaf 3); Alice sends an application message Bob leaves unprocessed. Epoch 3: Alice removes
//!   Carol. Alice sends F (4000 bytes, chunk-size 1024) in epoch 3.
//! * `group-2`, suite 1: Alice and Bob again (same leaf indices, epoch 1).
//! * Mallory's own group with the id `group-1` (epoch 0, only Mallory).
//! * `group-3`, suite 3 (ChaCha20-Poly1305): Alice3 adds Bob3 (epoch 1), sends S3 (4000 bytes,
//!   chunk-size 1024).
//!
//! Where the code is `DecryptFailed`, no earlier check can tell: the content type carries no
//! group, suite, epoch or sender, and the keys are bound to all of them (and to the hash and
//! nonce) only through the derivation, so the first AEAD tag that fails to verify is the first
//! evidence (docs/ADVERSARIAL.md says so per case).

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use std::cell::RefCell;

use mimi_attachments::attachment::{AttachmentRef, PendingAttachment};
use mimi_attachments::mls::{Client, Group, GroupEvent};
use mimi_attachments::reference::ExternalBody;
use mimi_attachments::stream::{seal_chunked, seal_one_shot, ChunkSize};
use mimi_attachments::{CipherSuite, Error};

const S1: CipherSuite = CipherSuite::Mls128Dhkemx25519Aes128gcmSha256Ed25519;
const S3: CipherSuite = CipherSuite::Mls128Dhkemx25519Chacha20poly1305Sha256Ed25519;
const S7: CipherSuite = CipherSuite::Mls256Dhkemp384Aes256gcmSha384P384;

/// What a case must fail with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// `Error::code()`.
    Code(&'static str),
    /// `DecryptFailed` at this chunk (0 for the one-shot form).
    Chunk(u64),
    /// `BadContentType` with this `kind`.
    Kind(&'static str),
}

impl Expect {
    fn matches(self, e: &Error) -> bool {
        match (self, e) {
            (Expect::Code(c), e) => e.code() == c,
            (Expect::Chunk(want), Error::DecryptFailed { chunk }) => *chunk == want,
            (Expect::Kind(k), Error::BadContentType(c)) => c.kind() == k,
            _ => false,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Category {
    /// STREAM defects of real attachments: swapped, reordered, dropped, duplicated, truncated,
    /// extended chunks.
    Stream,
    /// A reference or keys of one cipher suite used with another.
    Suite,
    /// A reference derived in the wrong epoch.
    Epoch,
    /// A reference attributed to the wrong sender.
    Sender,
    /// An attachment, message or reference of one group used in another.
    Replay,
    /// A reference whose hash, nonce, size, chunk-size, token, key or encoding was modified.
    Reference,
    /// Content-type injection, overlong values, non-ASCII, duplicated/missing fields, RFC 2231.
    ContentType,
}

type Run = fn(&World) -> Result<(), Error>;

struct Case {
    name: &'static str,
    category: Category,
    expect: Expect,
    run: Run,
}

/// Cases the JS API cannot express (tested in Rust only), with the reason.
const RUST_ONLY: &[(&str, &str)] = &[(
    "pending_of_group1_completed_in_group2",
    "an OutgoingAttachment is bound to the group that created it: JS has no way to complete it in another",
)];

// ---------------------------------------------------------------------------------------------
// The world.

struct Sent {
    plain: Vec<u8>,
    ct: Vec<u8>,
    content_type: String,
}

struct World {
    /// Alice's, Bob's, Carol's (removed) and Dave's view of group-1, now in epoch 3.
    ag: RefCell<Group>,
    bg: RefCell<Group>,
    cg: RefCell<Group>,
    dg: RefCell<Group>,
    carol_leaf: u32,
    dave_leaf: u32,
    /// Sent in epoch 1 of group-1; Bob's references, derived in epoch 1.
    a: Sent,
    b: Sent,
    o: Sent,
    o2: Sent,
    ref_a: AttachmentRef,
    ref_o: AttachmentRef,
    /// Alice's application message of epoch 1 carrying A's content type (Bob processed it).
    msg_a: Vec<u8>,
    /// Alice's application message of epoch 2 (Bob has not processed it).
    msg_e2: Vec<u8>,
    /// Alice's application message of epoch 3 (nobody processed it).
    msg_e3: Vec<u8>,
    /// Keys derived by Alice in epoch 1, never completed.
    pending_e1: PendingAttachment,
    /// Sent in epoch 3 of group-1.
    f: Sent,
    /// Bob's view of group-2 (epoch 1), Alice's.
    bg2: RefCell<Group>,
    ag2: RefCell<Group>,
    /// Mallory's own group with the id "group-1" (epoch 0).
    mg: RefCell<Group>,
    /// Bob3's view of group-3 (suite 3, epoch 1); S3 and Bob3's reference.
    bg3: RefCell<Group>,
    s3: Sent,
    ref_s3: AttachmentRef,
}

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 8) as u8).collect()
}

fn client(name: &str, suite: CipherSuite) -> Client {
    Client::new(name.as_bytes(), suite).expect("client")
}

/// Encrypts `plain` in `g` (chunked with `cs`, or one-shot) and returns what goes to the DS and
/// into the message.
fn send(g: &Group, plain: Vec<u8>, cs: Option<u32>, token: &[u8]) -> Sent {
    let cs = cs.map(|n| ChunkSize::new(u64::from(n)).expect("chunk size"));
    let hash = g.attachment_hash(&plain).expect("hash");
    let p = PendingAttachment::new(g, &hash, plain.len() as u64, mimi_attachments::Format::from_chunk_size(cs))
        .expect("derive");
    let ct = match cs {
        Some(cs) => seal_chunked(p.keys(), cs, &plain).expect("seal"),
        None => seal_one_shot(p.keys(), &plain).expect("seal"),
    };
    let content_type = p.complete(g, token).expect("complete").external_body().to_content_type();
    Sent { plain, ct, content_type }
}

fn commit(g: &mut Group, msg: &[u8]) {
    match g.process_message(msg).expect("process commit") {
        GroupEvent::Commit { .. } => {}
        other => panic!("expected a commit, got {other:?}"),
    }
}

impl World {
    fn new() -> Self {
        let (alice, bob, carol, dave, mallory) =
            (client("alice", S1), client("bob", S1), client("carol", S1), client("dave", S1), client("mallory", S1));
        let mut ag = alice.create_group(Some(b"group-1")).expect("group-1");
        let out = ag.add_members(&[bob.key_package().expect("kp")]).expect("add bob");
        let mut bg = bob.join_group(&out.welcome.expect("welcome")).expect("bob joins");

        // Epoch 1.
        let a = send(&ag, data(4000, 1), Some(1024), b"token-a");
        let b = send(&ag, data(4000, 2), Some(1024), b"token-b");
        let o = send(&ag, data(1000, 3), None, b"token-o");
        let o2 = send(&ag, data(1000, 4), None, b"token-o2");
        let hash = ag.attachment_hash(b"never sent").expect("hash");
        let pending_e1 =
            PendingAttachment::new(&ag, &hash, 10, mimi_attachments::Format::Chunked(ChunkSize::default()))
                .expect("pending");
        let msg_a = ag.encrypt_message(a.content_type.as_bytes()).expect("message");
        let GroupEvent::Application { sender, epoch, data: content } = bg.process_message(&msg_a).expect("bob") else {
            panic!("not an application message")
        };
        let text = String::from_utf8(content).expect("utf-8");
        let ref_a = AttachmentRef::receive(&bg, &text, sender, epoch).expect("ref a");
        let ref_o = AttachmentRef::receive(&bg, &o.content_type, sender, epoch).expect("ref o");

        // Epoch 2: Carol and Dave.
        let out = ag.add_members(&[carol.key_package().expect("kp"), dave.key_package().expect("kp")]).expect("add");
        commit(&mut bg, &out.commit);
        let welcome = out.welcome.expect("welcome");
        let mut cg = carol.join_group(&welcome).expect("carol joins");
        let mut dg = dave.join_group(&welcome).expect("dave joins");
        let (carol_leaf, dave_leaf) = (cg.own_leaf_index(), dg.own_leaf_index());
        let msg_e2 = ag.encrypt_message(b"epoch 2").expect("message");

        // Epoch 3: Carol removed.
        let out = ag.remove_members(&[carol_leaf]).expect("remove carol");
        commit(&mut bg, &out.commit);
        commit(&mut dg, &out.commit);
        commit(&mut cg, &out.commit);
        assert!(!cg.is_active() && bg.epoch() == 3 && dg.epoch() == 3);
        let f = send(&ag, data(4000, 5), Some(1024), b"token-f");
        let msg_e3 = ag.encrypt_message(f.content_type.as_bytes()).expect("message");

        // group-2: Alice and Bob again.
        let mut ag2 = alice.create_group(Some(b"group-2")).expect("group-2");
        let out = ag2.add_members(&[bob.key_package().expect("kp")]).expect("add bob");
        let bg2 = bob.join_group(&out.welcome.expect("welcome")).expect("bob joins group-2");
        assert_eq!((bg2.epoch(), bg2.own_leaf_index()), (1, 1));

        // Mallory's own "group-1".
        let mg = mallory.create_group(Some(b"group-1")).expect("mallory's group");

        // group-3, suite 3.
        let (alice3, bob3) = (client("alice3", S3), client("bob3", S3));
        let mut ag3 = alice3.create_group(Some(b"group-3")).expect("group-3");
        let out = ag3.add_members(&[bob3.key_package().expect("kp")]).expect("add bob3");
        let bg3 = bob3.join_group(&out.welcome.expect("welcome")).expect("bob3 joins");
        let s3 = send(&ag3, data(4000, 6), Some(1024), b"token-s3");
        let ref_s3 = AttachmentRef::receive(&bg3, &s3.content_type, 0, 1).expect("ref s3");

        let w = World {
            ag: RefCell::new(ag),
            bg: RefCell::new(bg),
            cg: RefCell::new(cg),
            dg: RefCell::new(dg),
            carol_leaf,
            dave_leaf,
            a,
            b,
            o,
            o2,
            ref_a,
            ref_o,
            msg_a,
            msg_e2,
            msg_e3,
            pending_e1,
            f,
            bg2: RefCell::new(bg2),
            ag2: RefCell::new(ag2),
            mg: RefCell::new(mg),
            bg3: RefCell::new(bg3),
            s3,
            ref_s3,
        };
        w.sanity();
        w
    }

    /// The unmodified world works: every reference decrypts its own ciphertext.
    fn sanity(&self) {
        assert_eq!(decrypt(&self.ref_a, &self.a.ct).expect("A decrypts"), self.a.plain);
        assert_eq!(decrypt(&self.ref_o, &self.o.ct).expect("O decrypts"), self.o.plain);
        assert_eq!(decrypt(&self.ref_s3, &self.s3.ct).expect("S3 decrypts"), self.s3.plain);
        let b = AttachmentRef::receive(&self.bg.borrow(), &self.f.content_type, 0, 3).expect("F derives");
        assert_eq!(decrypt(&b, &self.f.ct).expect("F decrypts"), self.f.plain);
        assert_eq!(self.a.ct.len(), 3 * SEALED + 944);
    }

    /// Bob receives `content_type` in group-1 (epoch 3) from Alice.
    fn bob_receives(&self, content_type: &str) -> Result<AttachmentRef, Error> {
        AttachmentRef::receive(&self.bg.borrow(), content_type, 0, 3)
    }
}

thread_local! {
    static WORLD: World = World::new();
}

// ---------------------------------------------------------------------------------------------
// Helpers.

/// Bytes of a full sealed chunk (chunk-size 1024).
const SEALED: usize = 1024 + 16;

/// Decrypts whole and in pieces of 333 bytes; both must agree.
fn decrypt(r: &AttachmentRef, ct: &[u8]) -> Result<Vec<u8>, Error> {
    if r.chunk_size.is_none() {
        return r.open_one_shot(ct);
    }
    let run = |piece: usize| -> Result<Vec<u8>, Error> {
        let mut d = r.decryptor()?;
        let mut out = vec![];
        for p in ct.chunks(piece.max(1)) {
            d.update(p, &mut out)?;
        }
        d.finish(&mut out)?;
        Ok(out)
    };
    let whole = run(ct.len());
    assert_eq!(whole, run(333), "decrypting whole and in pieces disagree");
    whole
}

/// Sealed chunk `i` of a 4000-byte, chunk-size 1024 ciphertext.
fn chunk(ct: &[u8], i: usize) -> &[u8] {
    &ct[i * SEALED..((i + 1) * SEALED).min(ct.len())]
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn flip(mut v: Vec<u8>, at: usize) -> Vec<u8> {
    v[at] ^= 0x01;
    v
}

/// The value of parameter `name` in a canonical content type.
fn param(ct: &str, name: &str) -> String {
    ct.split("; ")
        .find_map(|p| p.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("{name} in {ct}"))
        .to_string()
}

/// The content type with parameter `name` set to `value` (`None`: removed).
fn with(ct: &str, name: &str, value: Option<&str>) -> String {
    let prefix = format!("{name}=");
    ct.split("; ")
        .filter_map(|p| match (p.starts_with(&prefix), value) {
            (true, Some(v)) => Some(format!("{name}={v}")),
            (true, None) => None,
            (false, _) => Some(p.to_string()),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// A base64url value with its first character changed (still canonical: it only moves the top six
/// bits of the first byte).
fn tweak(v: &str) -> String {
    let first = if v.starts_with('A') { 'B' } else { 'A' };
    format!("{first}{}", &v[1..])
}

fn b64(bytes: &[u8]) -> String {
    ExternalBody { token: bytes.to_vec(), nonce: vec![], hash: vec![], chunk_size: None, size: None }
        .to_content_type()
        .split("; ")
        .find_map(|p| p.strip_prefix("token="))
        .expect("token")
        .to_string()
}

/// A stored reference's bytes with `edit` applied.
fn stored(r: &AttachmentRef, edit: impl FnOnce(&mut Vec<u8>)) -> Result<AttachmentRef, Error> {
    let mut b = r.to_bytes().expect("to_bytes").to_vec();
    edit(&mut b);
    AttachmentRef::from_bytes(&b)
}

fn find(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).position(|w| w == needle).expect("subsequence")
}

fn unit<T>(r: Result<T, Error>) -> Result<(), Error> {
    r.map(drop)
}

// ---------------------------------------------------------------------------------------------
// The cases.

fn cases() -> Vec<Case> {
    use Category::*;
    use Expect::*;
    fn c(name: &'static str, category: Category, expect: Expect, run: Run) -> Case {
        Case { name, category, expect, run }
    }
    vec![
        // --- STREAM defects of real attachments (A and B: 4000 bytes, chunks 0..=2 full, 3 final).
        c("stream_bit_flip_in_chunk_1", Stream, Chunk(1), |w| {
            unit(decrypt(&w.ref_a, &flip(w.a.ct.clone(), SEALED + 5)))
        }),
        c("stream_bit_flip_in_final_tag", Stream, Chunk(3), |w| {
            unit(decrypt(&w.ref_a, &flip(w.a.ct.clone(), w.a.ct.len() - 1)))
        }),
        c("stream_chunk_0_swapped_from_b", Stream, Chunk(0), |w| {
            let (a, b) = (&w.a.ct, &w.b.ct);
            unit(decrypt(&w.ref_a, &cat(&[chunk(b, 0), chunk(a, 1), chunk(a, 2), chunk(a, 3)])))
        }),
        c("stream_chunk_1_swapped_from_b", Stream, Chunk(1), |w| {
            let (a, b) = (&w.a.ct, &w.b.ct);
            unit(decrypt(&w.ref_a, &cat(&[chunk(a, 0), chunk(b, 1), chunk(a, 2), chunk(a, 3)])))
        }),
        c("stream_final_chunk_swapped_from_b", Stream, Chunk(3), |w| {
            let (a, b) = (&w.a.ct, &w.b.ct);
            unit(decrypt(&w.ref_a, &cat(&[chunk(a, 0), chunk(a, 1), chunk(a, 2), chunk(b, 3)])))
        }),
        c("stream_whole_ciphertext_of_b", Stream, Chunk(0), |w| unit(decrypt(&w.ref_a, &w.b.ct))),
        c("stream_chunks_0_and_1_reordered", Stream, Chunk(0), |w| {
            let a = &w.a.ct;
            unit(decrypt(&w.ref_a, &cat(&[chunk(a, 1), chunk(a, 0), chunk(a, 2), chunk(a, 3)])))
        }),
        c("stream_chunks_1_and_2_reordered", Stream, Chunk(1), |w| {
            let a = &w.a.ct;
            unit(decrypt(&w.ref_a, &cat(&[chunk(a, 0), chunk(a, 2), chunk(a, 1), chunk(a, 3)])))
        }),
        c("stream_chunk_0_duplicated", Stream, Chunk(1), |w| {
            let a = &w.a.ct;
            unit(decrypt(&w.ref_a, &cat(&[chunk(a, 0), chunk(a, 0), chunk(a, 1), chunk(a, 2), chunk(a, 3)])))
        }),
        c("stream_middle_chunk_dropped", Stream, Chunk(1), |w| {
            let a = &w.a.ct;
            unit(decrypt(&w.ref_a, &cat(&[chunk(a, 0), chunk(a, 2), chunk(a, 3)])))
        }),
        c("stream_truncated_at_chunk_boundary", Stream, Code("Truncated"), |w| {
            unit(decrypt(&w.ref_a, &w.a.ct[..3 * SEALED]))
        }),
        c("stream_truncated_at_chunk_boundary_without_size", Stream, Code("Truncated"), |w| {
            let r = w.bob_receives(&with(&w.f.content_type, "size", None))?;
            unit(decrypt(&r, &w.f.ct[..3 * SEALED]))
        }),
        c("stream_truncated_to_first_chunk", Stream, Code("Truncated"), |w| unit(decrypt(&w.ref_a, &w.a.ct[..SEALED]))),
        c("stream_truncated_inside_final_chunk", Stream, Code("Truncated"), |w| {
            unit(decrypt(&w.ref_a, &w.a.ct[..w.a.ct.len() - 1]))
        }),
        c("stream_empty_ciphertext", Stream, Code("Truncated"), |w| unit(decrypt(&w.ref_a, &[]))),
        c("stream_extended_with_repeated_final_chunk", Stream, Code("TrailingData"), |w| {
            unit(decrypt(&w.ref_a, &cat(&[&w.a.ct, chunk(&w.a.ct, 3)])))
        }),
        c("stream_extended_with_repeated_final_chunk_without_size", Stream, Chunk(3), |w| {
            let r = w.bob_receives(&with(&w.f.content_type, "size", None))?;
            unit(decrypt(&r, &cat(&[&w.f.ct, chunk(&w.f.ct, 3)])))
        }),
        c("stream_extended_with_final_chunk_of_b", Stream, Code("TrailingData"), |w| {
            unit(decrypt(&w.ref_a, &cat(&[&w.a.ct, chunk(&w.b.ct, 3)])))
        }),
        c("stream_extended_with_full_chunk_of_b", Stream, Code("TrailingData"), |w| {
            unit(decrypt(&w.ref_a, &cat(&[&w.a.ct, chunk(&w.b.ct, 0)])))
        }),
        c("stream_trailing_byte", Stream, Code("TrailingData"), |w| unit(decrypt(&w.ref_a, &cat(&[&w.a.ct, &[0]])))),
        c("oneshot_bit_flip", Stream, Chunk(0), |w| unit(decrypt(&w.ref_o, &flip(w.o.ct.clone(), 500)))),
        c("oneshot_ciphertext_of_other_attachment", Stream, Chunk(0), |w| unit(decrypt(&w.ref_o, &w.o2.ct))),
        c("oneshot_truncated_by_one_byte", Stream, Code("Truncated"), |w| {
            unit(decrypt(&w.ref_o, &w.o.ct[..w.o.ct.len() - 1]))
        }),
        c("oneshot_trailing_byte", Stream, Code("TrailingData"), |w| unit(decrypt(&w.ref_o, &cat(&[&w.o.ct, &[0]])))),
        c("oneshot_empty_ciphertext", Stream, Code("Truncated"), |w| unit(decrypt(&w.ref_o, &[]))),
        // --- Cipher suites.
        c("suite1_reference_in_suite3_group", Suite, Chunk(0), |w| {
            let r = AttachmentRef::receive(&w.bg3.borrow(), &w.a.content_type, 0, 1)?;
            unit(decrypt(&r, &w.a.ct))
        }),
        c("suite3_reference_in_suite1_group", Suite, Chunk(0), |w| {
            let r = w.bob_receives(&w.s3.content_type)?;
            unit(decrypt(&r, &w.s3.ct))
        }),
        c("suite3_ciphertext_under_suite1_reference", Suite, Chunk(0), |w| unit(decrypt(&w.ref_a, &w.s3.ct))),
        c("suite7_reference_in_suite1_group", Suite, Kind("BadLength"), |w| {
            let ct = with(&with(&w.f.content_type, "nonce", Some(&b64(&[7; 48]))), "hash", Some(&b64(&[9; 48])));
            unit(w.bob_receives(&ct))
        }),
        c("suite1_reference_parsed_for_suite7", Suite, Kind("BadLength"), |w| {
            ExternalBody::parse(&w.a.content_type, S7).map(drop).map_err(Error::from)
        }),
        c("stored_ref_unknown_suite", Suite, Code("UnknownCipherSuite"), |w| {
            unit(stored(&w.ref_a, |b| b[2..4].copy_from_slice(&[0x00, 0x08])))
        }),
        c("stored_ref_suite1_relabelled_suite3", Suite, Code("InvalidLength"), |w| {
            unit(stored(&w.ref_a, |b| b[2..4].copy_from_slice(&[0x00, 0x03])))
        }),
        c("stored_ref_suite3_relabelled_suite1", Suite, Code("InvalidLength"), |w| {
            unit(stored(&w.ref_s3, |b| b[2..4].copy_from_slice(&[0x00, 0x01])))
        }),
        c("stored_ref_suite1_relabelled_suite7", Suite, Code("InvalidLength"), |w| {
            unit(stored(&w.ref_a, |b| b[2..4].copy_from_slice(&[0x00, 0x07])))
        }),
        // --- Epochs (group-1 is in epoch 3; Dave joined in epoch 2).
        c("epoch_future", Epoch, Code("WrongEpoch"), |w| {
            unit(AttachmentRef::receive(&w.bg.borrow(), &w.f.content_type, 0, 4))
        }),
        c("epoch_far_future", Epoch, Code("WrongEpoch"), |w| {
            unit(AttachmentRef::receive(&w.bg.borrow(), &w.f.content_type, 0, (1 << 53) - 1))
        }),
        c("epoch_previous", Epoch, Code("WrongEpoch"), |w| {
            unit(AttachmentRef::receive(&w.bg.borrow(), &w.f.content_type, 0, 2))
        }),
        c("epoch_pruned", Epoch, Code("WrongEpoch"), |w| {
            unit(AttachmentRef::receive(&w.bg.borrow(), &w.a.content_type, 0, 1))
        }),
        c("epoch_zero", Epoch, Code("WrongEpoch"), |w| {
            unit(AttachmentRef::receive(&w.bg.borrow(), &w.f.content_type, 0, 0))
        }),
        c("epoch_before_join", Epoch, Code("WrongEpoch"), |w| {
            unit(AttachmentRef::receive(&w.dg.borrow(), &w.a.content_type, 0, 1))
        }),
        c("message_of_epoch_before_join", Epoch, Code("WrongEpoch"), |w| {
            unit(w.dg.borrow_mut().process_message(&w.msg_a))
        }),
        c("message_of_previous_epoch", Epoch, Code("WrongEpoch"), |w| {
            unit(w.bg.borrow_mut().process_message(&w.msg_e2))
        }),
        c("message_replayed", Epoch, Code("WrongEpoch"), |w| unit(w.bg.borrow_mut().process_message(&w.msg_a))),
        c("pending_completed_after_epoch_change", Epoch, Code("WrongEpoch"), |w| {
            unit(w.pending_e1.complete(&w.ag.borrow(), b"token"))
        }),
        // --- Senders (F, sent by Alice at leaf 0 in epoch 3).
        c("sender_other_member", Sender, Chunk(0), |w| {
            let r = AttachmentRef::receive(&w.bg.borrow(), &w.f.content_type, w.dave_leaf, 3)?;
            unit(decrypt(&r, &w.f.ct))
        }),
        c("sender_self", Sender, Chunk(0), |w| {
            let bg = w.bg.borrow();
            let r = AttachmentRef::receive(&bg, &w.f.content_type, bg.own_leaf_index(), 3)?;
            unit(decrypt(&r, &w.f.ct))
        }),
        c("sender_removed_member", Sender, Code("NotMember"), |w| {
            unit(AttachmentRef::receive(&w.bg.borrow(), &w.f.content_type, w.carol_leaf, 3))
        }),
        c("sender_out_of_range", Sender, Code("NotMember"), |w| {
            unit(AttachmentRef::receive(&w.bg.borrow(), &w.f.content_type, 1000, 3))
        }),
        c("sender_max_leaf_index", Sender, Code("NotMember"), |w| {
            unit(AttachmentRef::receive(&w.bg.borrow(), &w.f.content_type, u32::MAX, 3))
        }),
        c("receiver_removed_from_group", Sender, Code("NotMember"), |w| {
            let cg = w.cg.borrow();
            unit(AttachmentRef::receive(&cg, &w.f.content_type, 0, cg.epoch()))
        }),
        // --- Replays into another group.
        c("message_of_group1_processed_in_group2", Replay, Code("WrongGroup"), |w| {
            unit(w.bg2.borrow_mut().process_message(&w.msg_e3))
        }),
        c("content_type_of_group1_received_in_group2", Replay, Chunk(0), |w| {
            let r = AttachmentRef::receive(&w.bg2.borrow(), &w.a.content_type, 0, 1)?;
            unit(decrypt(&r, &w.a.ct))
        }),
        c("group_with_the_same_id_and_other_members", Replay, Chunk(0), |w| {
            let r = AttachmentRef::receive(&w.mg.borrow(), &w.a.content_type, 0, 0)?;
            unit(decrypt(&r, &w.a.ct))
        }),
        c("pending_of_group1_completed_in_group2", Replay, Code("WrongGroup"), |w| {
            unit(w.pending_e1.complete(&w.ag2.borrow(), b"token"))
        }),
        c("reference_of_group1_downloaded_via_group2", Replay, Code("WrongGroup"), |w| {
            w.ref_a.check_group(&w.bg2.borrow())
        }),
        c("reference_of_group1_deleted_via_group2", Replay, Code("WrongGroup"), |w| {
            w.ref_a.check_group(&w.bg2.borrow())
        }),
        c("reference_of_group1_copied_from_group2", Replay, Code("WrongGroup"), |w| {
            w.ref_a.check_group(&w.bg2.borrow())
        }),
        c("copied_reference_used_in_original_group", Replay, Code("WrongGroup"), |w| {
            let copy = w.ref_a.rebind(b"token-copy", &w.bg2.borrow())?;
            copy.check_group(&w.bg.borrow())
        }),
        // --- Modified references (F's content type received by Bob in epoch 3; stored A and O).
        c("content_type_hash_modified", Reference, Chunk(0), |w| {
            let ct = with(&w.f.content_type, "hash", Some(&tweak(&param(&w.f.content_type, "hash"))));
            unit(decrypt(&w.bob_receives(&ct)?, &w.f.ct))
        }),
        c("content_type_nonce_modified", Reference, Chunk(0), |w| {
            let ct = with(&w.f.content_type, "nonce", Some(&tweak(&param(&w.f.content_type, "nonce"))));
            unit(decrypt(&w.bob_receives(&ct)?, &w.f.ct))
        }),
        c("content_type_token_of_other_attachment", Reference, Chunk(0), |w| {
            // The token names B's upload: the DS serves B's ciphertext for F's keys.
            let ct = with(&w.f.content_type, "token", Some(&b64(b"token-b")));
            unit(decrypt(&w.bob_receives(&ct)?, &w.b.ct))
        }),
        c("content_type_size_smaller", Reference, Code("TrailingData"), |w| {
            unit(decrypt(&w.bob_receives(&with(&w.f.content_type, "size", Some("3999")))?, &w.f.ct))
        }),
        c("content_type_size_larger", Reference, Code("Truncated"), |w| {
            unit(decrypt(&w.bob_receives(&with(&w.f.content_type, "size", Some("4001")))?, &w.f.ct))
        }),
        c("content_type_size_one_chunk", Reference, Code("TrailingData"), |w| {
            unit(decrypt(&w.bob_receives(&with(&w.f.content_type, "size", Some("1024")))?, &w.f.ct))
        }),
        c("content_type_size_more_chunks", Reference, Code("Truncated"), |w| {
            unit(decrypt(&w.bob_receives(&with(&w.f.content_type, "size", Some("8000")))?, &w.f.ct))
        }),
        c("content_type_size_beyond_2_pow_32_chunks", Reference, Code("TooLarge"), |w| {
            let r = w.bob_receives(&with(&w.f.content_type, "size", Some("18446744073709551615")))?;
            unit(decrypt(&r, &w.f.ct))
        }),
        c("content_type_chunk_size_modified", Reference, Chunk(0), |w| {
            unit(decrypt(&w.bob_receives(&with(&w.f.content_type, "chunk-size", Some("2048")))?, &w.f.ct))
        }),
        c("content_type_chunk_size_removed", Reference, Code("TrailingData"), |w| {
            unit(decrypt(&w.bob_receives(&with(&w.f.content_type, "chunk-size", None))?, &w.f.ct))
        }),
        c("content_type_chunk_size_removed_without_size", Reference, Chunk(0), |w| {
            let ct = with(&with(&w.f.content_type, "chunk-size", None), "size", None);
            unit(decrypt(&w.bob_receives(&ct)?, &w.f.ct))
        }),
        c("content_type_chunk_size_out_of_range", Reference, Kind("BadChunkSize"), |w| {
            unit(w.bob_receives(&with(&w.f.content_type, "chunk-size", Some("512"))))
        }),
        c("oneshot_read_as_chunked", Reference, Chunk(0), |w| {
            let mut r = w.ref_o.clone();
            r.chunk_size = Some(ChunkSize::new(1024)?);
            unit(decrypt(&r, &w.o.ct))
        }),
        c("oneshot_size_smaller", Reference, Code("TrailingData"), |w| {
            let mut r = w.ref_o.clone();
            r.size = Some(999);
            unit(decrypt(&r, &w.o.ct))
        }),
        c("oneshot_size_larger", Reference, Code("Truncated"), |w| {
            let mut r = w.ref_o.clone();
            r.size = Some(1001);
            unit(decrypt(&r, &w.o.ct))
        }),
        c("stored_ref_hash_modified", Reference, Code("HashMismatch"), |w| {
            let at = find(&w.ref_a.to_bytes().expect("bytes"), &w.ref_a.hash);
            unit(decrypt(&stored(&w.ref_a, |b| b[at] ^= 1)?, &w.a.ct))
        }),
        c("stored_ref_key_modified", Reference, Chunk(0), |w| {
            // version (2), suite (2), key length (1), key.
            unit(decrypt(&stored(&w.ref_a, |b| b[5] ^= 1)?, &w.a.ct))
        }),
        c("stored_ref_chunk_size_out_of_range", Reference, Code("BadChunkSize"), |w| {
            // chunk_size (u32) follows the hash.
            let at = find(&w.ref_a.to_bytes().expect("bytes"), &w.ref_a.hash) + w.ref_a.hash.len();
            unit(stored(&w.ref_a, |b| b[at..at + 4].copy_from_slice(&[0, 0, 0, 1])))
        }),
        c("stored_ref_truncated", Reference, Code("Codec"), |w| unit(stored(&w.ref_a, |b| b.truncate(b.len() - 1)))),
        c("stored_ref_trailing_byte", Reference, Code("Codec"), |w| unit(stored(&w.ref_a, |b| b.push(0)))),
        c("stored_ref_unknown_version", Reference, Code("Codec"), |w| unit(stored(&w.ref_a, |b| b[1] = 2))),
        // --- Content types received by Bob (group-1, epoch 3), built from F's.
        c("ct_second_token_injected", ContentType, Kind("DuplicateParameter"), |w| {
            unit(w.bob_receives(&format!("{}; token=QUFB", w.f.content_type)))
        }),
        c("ct_second_hash_injected_upper_case", ContentType, Kind("DuplicateParameter"), |w| {
            unit(w.bob_receives(&format!("{}; HASH={}", w.f.content_type, param(&w.f.content_type, "hash"))))
        }),
        c("ct_second_hash_injected_quoted", ContentType, Kind("DuplicateParameter"), |w| {
            unit(w.bob_receives(&format!("{}; hash=\"{}\"", w.f.content_type, param(&w.f.content_type, "hash"))))
        }),
        c("ct_second_access_type_injected", ContentType, Kind("DuplicateParameter"), |w| {
            unit(w.bob_receives(&format!("{}; access-type=URL", w.f.content_type)))
        }),
        c("ct_second_chunk_size_injected", ContentType, Kind("DuplicateParameter"), |w| {
            unit(w.bob_receives(&format!("{}; chunk-size=2048", w.f.content_type)))
        }),
        c("ct_second_size_injected", ContentType, Kind("DuplicateParameter"), |w| {
            unit(w.bob_receives(&format!("{}; size=1", w.f.content_type)))
        }),
        c("ct_hash_smuggled_in_quoted_unknown_parameter", ContentType, Kind("MissingParameter"), |w| {
            let h = param(&w.f.content_type, "hash");
            unit(w.bob_receives(&format!("{}; x-note=\"; hash={h}\"", with(&w.f.content_type, "hash", None))))
        }),
        c("ct_hash_smuggled_in_comment", ContentType, Kind("MissingParameter"), |w| {
            let h = param(&w.f.content_type, "hash");
            unit(w.bob_receives(&format!("{} (; hash={h})", with(&w.f.content_type, "hash", None))))
        }),
        c("ct_parameters_smuggled_in_quoted_token", ContentType, Kind("BadBase64"), |w| {
            let (t, h) = (param(&w.f.content_type, "token"), param(&w.f.content_type, "hash"));
            unit(w.bob_receives(&with(&w.f.content_type, "token", Some(&format!("\"{t}; hash={h}\"")))))
        }),
        c("ct_escaped_quote_breakout", ContentType, Kind("BadBase64"), |w| {
            let t = param(&w.f.content_type, "token");
            unit(w.bob_receives(&with(&w.f.content_type, "token", Some(&format!("\"{t}\\\"; size=1\"")))))
        }),
        c("ct_crlf_header_injection", ContentType, Kind("NonAscii"), |w| {
            unit(w.bob_receives(&format!("{}\r\nContent-Disposition: attachment; filename=x.html", w.f.content_type)))
        }),
        c("ct_bare_lf", ContentType, Kind("NonAscii"), |w| unit(w.bob_receives(&format!("{}\n", w.f.content_type)))),
        c("ct_folded_header_line", ContentType, Kind("NonAscii"), |w| {
            unit(w.bob_receives(&w.f.content_type.replace("; hash=", ";\r\n hash=")))
        }),
        c("ct_nul_in_value", ContentType, Kind("NonAscii"), |w| {
            let t = param(&w.f.content_type, "token");
            unit(w.bob_receives(&with(&w.f.content_type, "token", Some(&format!("{t}\0")))))
        }),
        c("ct_del_character", ContentType, Kind("NonAscii"), |w| {
            unit(w.bob_receives(&format!("{}; x=\u{7f}", w.f.content_type)))
        }),
        c("ct_vertical_tab", ContentType, Kind("NonAscii"), |w| {
            unit(w.bob_receives(&w.f.content_type.replace("; size", ";\u{0b}size")))
        }),
        c("ct_utf8_in_token_value", ContentType, Kind("NonAscii"), |w| {
            let t = param(&w.f.content_type, "token");
            unit(w.bob_receives(&with(&w.f.content_type, "token", Some(&format!("{t}\u{e4}")))))
        }),
        c("ct_utf8_in_quoted_unknown_parameter", ContentType, Kind("NonAscii"), |w| {
            unit(w.bob_receives(&format!("{}; x-name=\"r\u{e9}sum\u{e9}.pdf\"", w.f.content_type)))
        }),
        c("ct_utf8_in_parameter_name", ContentType, Kind("NonAscii"), |w| {
            unit(w.bob_receives(&format!("{}; na\u{ef}ve=1", w.f.content_type)))
        }),
        c("ct_fullwidth_semicolon", ContentType, Kind("NonAscii"), |w| {
            unit(w.bob_receives(&w.f.content_type.replace("; hash=", "\u{ff1b} hash=")))
        }),
        c("ct_overlong_4097_bytes", ContentType, Kind("TooLong"), |w| {
            let base = format!("{}; x-pad=", w.f.content_type);
            unit(w.bob_receives(&format!("{base}{}", "a".repeat(4097 - base.len()))))
        }),
        c("ct_overlong_token_513_bytes", ContentType, Kind("BadTokenLength"), |w| {
            unit(w.bob_receives(&with(&w.f.content_type, "token", Some(&b64(&[0x41; 513])))))
        }),
        c("ct_overlong_size_digits", ContentType, Kind("BadNumber"), |w| {
            unit(w.bob_receives(&with(&w.f.content_type, "size", Some("18446744073709551616"))))
        }),
        c("ct_overlong_chunk_size_digits", ContentType, Kind("BadNumber"), |w| {
            unit(w.bob_receives(&with(&w.f.content_type, "chunk-size", Some("99999999999999999999"))))
        }),
        c("ct_overlong_nonce_33_bytes", ContentType, Kind("BadLength"), |w| {
            unit(w.bob_receives(&with(&w.f.content_type, "nonce", Some(&b64(&[1; 33])))))
        }),
        c("ct_overlong_hash_64_bytes", ContentType, Kind("BadLength"), |w| {
            unit(w.bob_receives(&with(&w.f.content_type, "hash", Some(&b64(&[1; 64])))))
        }),
        c("ct_rfc2231_token_continuation", ContentType, Kind("Rfc2231"), |w| {
            let t = param(&w.f.content_type, "token");
            let (t0, t1) = t.split_at(4);
            unit(
                w.bob_receives(
                    &w.f.content_type.replace(&format!("token={t}"), &format!("token*0={t0}; token*1={t1}")),
                ),
            )
        }),
        c("ct_rfc2231_hash_extended_utf8", ContentType, Kind("Rfc2231"), |w| {
            let h = param(&w.f.content_type, "hash");
            unit(w.bob_receives(&w.f.content_type.replace(&format!("hash={h}"), &format!("hash*=utf-8''{h}"))))
        }),
        c("ct_rfc2231_nonce_encoded_continuation", ContentType, Kind("Rfc2231"), |w| {
            let n = param(&w.f.content_type, "nonce");
            unit(w.bob_receives(&w.f.content_type.replace(&format!("nonce={n}"), &format!("nonce*0*=utf-8''{n}"))))
        }),
        c("ct_rfc2231_access_type_extended", ContentType, Kind("Rfc2231"), |w| {
            unit(w.bob_receives(&w.f.content_type.replace("access-type=token", "access-type*=us-ascii'en'token")))
        }),
        c("ct_rfc2231_upper_case_name", ContentType, Kind("Rfc2231"), |w| {
            unit(w.bob_receives(&w.f.content_type.replace("token=", "TOKEN*0=")))
        }),
        c("ct_rfc2231_next_to_plain_parameter", ContentType, Kind("Rfc2231"), |w| {
            let h = param(&w.f.content_type, "hash");
            unit(w.bob_receives(&format!("{}; hash*=utf-8''{h}", w.f.content_type)))
        }),
        c("ct_missing_token", ContentType, Kind("MissingParameter"), |w| {
            unit(w.bob_receives(&with(&w.f.content_type, "token", None)))
        }),
        c("ct_missing_nonce", ContentType, Kind("MissingParameter"), |w| {
            unit(w.bob_receives(&with(&w.f.content_type, "nonce", None)))
        }),
        c("ct_missing_hash", ContentType, Kind("MissingParameter"), |w| {
            unit(w.bob_receives(&with(&w.f.content_type, "hash", None)))
        }),
        c("ct_missing_access_type", ContentType, Kind("MissingParameter"), |w| {
            unit(w.bob_receives(&with(&w.f.content_type, "access-type", None)))
        }),
        c("ct_no_parameters", ContentType, Kind("MissingParameter"), |w| unit(w.bob_receives("message/external-body"))),
        c("ct_empty_value", ContentType, Kind("Syntax"), |w| {
            unit(w.bob_receives(&with(&w.f.content_type, "nonce", Some(""))))
        }),
        c("ct_parameter_without_value", ContentType, Kind("Syntax"), |w| {
            unit(w.bob_receives(&format!("{}; hash", w.f.content_type)))
        }),
        c("ct_access_type_url", ContentType, Kind("WrongAccessType"), |w| {
            unit(w.bob_receives(&with(&w.f.content_type, "access-type", Some("URL"))))
        }),
        c("ct_media_type_text_plain", ContentType, Kind("WrongMediaType"), |w| {
            unit(w.bob_receives(&w.f.content_type.replace("message/external-body", "text/plain")))
        }),
        c("ct_size_negative", ContentType, Kind("BadNumber"), |w| {
            unit(w.bob_receives(&with(&w.f.content_type, "size", Some("-1"))))
        }),
        c("ct_size_plus_sign", ContentType, Kind("BadNumber"), |w| {
            unit(w.bob_receives(&with(&w.f.content_type, "size", Some("+4000"))))
        }),
        c("ct_hash_base64_padded", ContentType, Kind("BadBase64"), |w| {
            let h = param(&w.f.content_type, "hash");
            unit(w.bob_receives(&with(&w.f.content_type, "hash", Some(&format!("\"{h}=\"")))))
        }),
        c("ct_token_standard_base64_alphabet", ContentType, Kind("BadBase64"), |w| {
            unit(w.bob_receives(&with(&w.f.content_type, "token", Some("ab+c"))))
        }),
    ]
}

/// Runs the cases of `category`; fails with the list of every case that did not fail as expected.
fn run_category(category: Category) -> usize {
    WORLD.with(|w| {
        let mut wrong = vec![];
        let mut n = 0;
        for c in cases().into_iter().filter(|c| c.category == category) {
            n += 1;
            let r = (c.run)(w);
            if std::env::var_os("ADVERSARIAL_VERBOSE").is_some() {
                eprintln!("{:<56} {:?}", c.name, r.as_ref().map_err(|e| format!("{}: {e}", e.code())));
            }
            match r {
                Err(e) if c.expect.matches(&e) => {}
                Err(e) => wrong.push(format!("{}: expected {:?}, got {} ({e})", c.name, c.expect, e.code())),
                Ok(()) => wrong.push(format!("{}: expected {:?}, got no error", c.name, c.expect)),
            }
        }
        assert!(wrong.is_empty(), "{} of {n} {category:?} cases failed:\n{}", wrong.len(), wrong.join("\n"));
        n
    })
}

#[test]
fn stream_defects_of_real_attachments() {
    run_category(Category::Stream);
}

#[test]
fn wrong_cipher_suite() {
    run_category(Category::Suite);
}

#[test]
fn wrong_epoch() {
    run_category(Category::Epoch);
}

#[test]
fn wrong_sender() {
    run_category(Category::Sender);
}

#[test]
fn replayed_into_another_group() {
    run_category(Category::Replay);
}

#[test]
fn modified_references() {
    run_category(Category::Reference);
}

#[test]
fn content_type_injection_and_malformed_fields() {
    run_category(Category::ContentType);
}

/// Injection attempts the grammar neutralises rather than rejects: the smuggled value is
/// ignored and the real one is used (the attachment still decrypts, with the real hash).
#[test]
fn smuggled_values_are_ignored_not_obeyed() {
    WORLD.with(|w| {
        let (ct, h) = (&w.f.content_type, param(&w.f.content_type, "hash"));
        let other = tweak(&h);
        for (what, input) in [
            ("hash smuggled in a quoted unknown parameter", format!("{ct}; x-note=\"; hash={other}\"")),
            ("hash smuggled in a comment", format!("{ct} (; hash={other})")),
            ("RFC 2231 form of an unknown parameter", format!("{ct}; filename*=utf-8''r%C3%A9sum%C3%A9.pdf")),
            ("RFC 2231 continuation of an unknown parameter", format!("{ct}; title*0=a; title*1=b")),
            ("tabs and comments around tokens", ct.replace("; ", ";\t(c) ")),
            (
                "upper-case names",
                ct.replace("hash=", "HASH=").replace("message/external-body", "Message/External-Body"),
            ),
            ("exactly 4096 bytes", {
                let base = format!("{ct}; x-pad=");
                format!("{base}{}", "a".repeat(4096 - base.len()))
            }),
        ] {
            let r = w.bob_receives(&input).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(r.hash, w.ref_hash_f(), "{what}: the real hash is used");
            assert_eq!(decrypt(&r, &w.f.ct).unwrap_or_else(|e| panic!("{what}: {e}")), w.f.plain, "{what}");
        }
    });
}

impl World {
    fn ref_hash_f(&self) -> Vec<u8> {
        self.bob_receives(&self.f.content_type).expect("F").hash
    }
}

/// At least 40 named cases, unique names, every category present, every case documented in
/// docs/ADVERSARIAL.md and run through the JS API by tests/browser/adversarial.mjs (save the
/// RUST_ONLY ones).
#[test]
fn case_table_is_complete_and_documented() {
    const DOC: &str = include_str!("../docs/ADVERSARIAL.md");
    const JS: &str = include_str!("browser/adversarial.mjs");
    let cases = cases();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    let mut names: Vec<&str> = cases.iter().map(|c| c.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), cases.len(), "case names are unique");
    for cat in [
        Category::Stream,
        Category::Suite,
        Category::Epoch,
        Category::Sender,
        Category::Replay,
        Category::Reference,
        Category::ContentType,
    ] {
        assert!(cases.iter().any(|c| c.category == cat), "{cat:?} has cases");
    }
    for c in &cases {
        assert!(DOC.contains(&format!("`{}`", c.name)), "{} is in docs/ADVERSARIAL.md", c.name);
        let rust_only = RUST_ONLY.iter().any(|(n, _)| *n == c.name);
        assert_eq!(JS.contains(&format!("\"{}\"", c.name)), !rust_only, "{} in tests/browser/adversarial.mjs", c.name);
    }
}
