//! The chunked-v1 `Decryptor` (and the one-shot opener) fed arbitrary ciphertext.
//!
//! Input layout (all integers little-endian; missing bytes read as zero):
//!
//! ```text
//! u8  suite       index into CipherSuite::ALL (mod 7); fixes the key and nonce below
//! u16 chunk_size  1024 + (v mod 3073), i.e. 1024..=4096
//! u8  flags       bit 0: pass `size` as the declared plaintext length
//! u64 size
//! u8  splits      the ciphertext is fed in up to (splits mod 8) + 1 pieces
//! u16 piece[splits mod 8]
//! [Nh] attachment_hash
//! ..  ciphertext  (at most 16 KiB)
//! ```
//!
//! The key and nonce of each suite are those of the suite's negative cases in
//! `tests/vectors/chunked.json`, so the seed corpus (`fuzz/seeds.py`) starts from real chunk
//! sequences and their defects.
//!
//! Invariants:
//! * nothing panics (`Decryptor::update`/`finish`, `open_one_shot`, `plaintext_len`,
//!   `sealed_chunk_range`, `ReadPlan`), however the input is cut into pieces;
//! * an accepted ciphertext is the unique encryption of its plaintext: `seal_chunked` of the
//!   plaintext gives back exactly the input, and the plaintext hashes to `attachment_hash`
//!   (likewise `seal_one_shot` for `open_one_shot`);
//! * only authentic plaintext is released: a failing ciphertext releases at most whole non-final
//!   chunks, each of which seals back to the input's chunk at its index, and never the final one;
//!   an error sticks;
//! * neither the outcome nor the released bytes depend on the piece sizes (the whole ciphertext in
//!   one `update` gives the same), `open_chunked` agrees, and with a declared size only that many
//!   plaintext bytes are ever accepted;
//! * `plaintext_len` and `ciphertext_len` are inverse, and `sealed_chunk_range` tiles the
//!   ciphertext exactly;
//! * the plans (`format::SealPlan`, `format::RangePlan`) agree with `sealed_chunk_range` on
//!   arbitrary lengths, offsets and ranges (from the input's numbers): a resume starts in the chunk
//!   holding the offset, a range fetches exactly the chunks holding its first and last byte.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mimi_attachments::aead::Cipher;
use mimi_attachments::schedule::attachment_hash;
use mimi_attachments::stream::{
    chunk_count, ciphertext_len, open_chunked, open_one_shot, plaintext_len, seal_chunk, seal_chunked, seal_one_shot,
    sealed_chunk_range, ChunkSize, Decryptor,
};
use mimi_attachments::format::{Format, RangePlan, SealPlan};
use mimi_attachments::{AttachmentKeys, CipherSuite};

const MAX_CIPHERTEXT: usize = 16 * 1024;

/// `(key, nonce)` per suite, in `CipherSuite::ALL` order: the keys of the negative cases
/// (`suiteN-stream_*`) in tests/vectors/chunked.json.
const KEYS: [(&str, &str); 7] = include!("../keys.in");

struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        let (a, b) = self.0.split_at(n.min(self.0.len()));
        self.0 = b;
        a
    }
    fn int<const N: usize>(&mut self) -> [u8; N] {
        let mut b = [0u8; N];
        let t = self.take(N);
        b[..t.len()].copy_from_slice(t);
        b
    }
    fn u8(&mut self) -> u8 {
        self.int::<1>()[0]
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.int())
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.int())
    }
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
}

fn keys(i: usize) -> AttachmentKeys {
    let suite = CipherSuite::ALL[i];
    let (k, n) = KEYS[i];
    AttachmentKeys::from_parts(suite, &unhex(k), &unhex(n)).expect("fixed keys fit the suite")
}

/// What a reader got: the outcome (plaintext or error code) and every plaintext byte released
/// to the caller up to that outcome.
#[derive(Debug, PartialEq)]
struct Outcome {
    result: Result<(), String>,
    released: Vec<u8>,
}

/// Feeds `ct` in the given pieces (the rest in one last piece), then finishes.
fn decrypt(
    keys: &AttachmentKeys,
    cs: ChunkSize,
    hash: &[u8],
    size: Option<u64>,
    pieces: &[usize],
    ct: &[u8],
) -> Outcome {
    let mut out = Vec::new();
    let mut d = match Decryptor::new(keys, cs, hash, size) {
        Ok(d) => d,
        Err(e) => return Outcome { result: Err(e.code().to_string()), released: out },
    };
    let mut rest = ct;
    let mut cuts: Vec<usize> = pieces.to_vec();
    cuts.push(usize::MAX);
    for p in cuts {
        let (a, b) = rest.split_at(p.min(rest.len()));
        rest = b;
        let before = out.len();
        let r = d.update(a, &mut out);
        // Only verified, non-final chunks are released: whole chunks of N bytes, even when the
        // call fails at a later chunk.
        assert_eq!((out.len() - before) % cs.get() as usize, 0);
        if let Err(e) = r {
            // The error sticks, and releases nothing more.
            let n = out.len();
            assert_eq!(d.update(b"x", &mut out).map_err(|e| e.code()), Err(e.code()));
            assert_eq!(out.len(), n);
            return Outcome { result: Err(e.code().to_string()), released: out };
        }
    }
    let before = out.len();
    let result = d.finish(&mut out).map_err(|e| e.code().to_string());
    if result.is_err() {
        // The final chunk is withheld on any failure.
        assert_eq!(out.len(), before);
    }
    Outcome { result, released: out }
}

/// Every released byte is authentic: each released chunk `i` seals (as a non-final chunk) to
/// exactly sealed chunk `i` of the input.
fn released_is_authentic(keys: &AttachmentKeys, cs: ChunkSize, released: &[u8], ct: &[u8]) {
    let cipher = Cipher::new(keys.suite().aead(), keys.key()).expect("cipher");
    for (i, chunk) in released.chunks(cs.get() as usize).enumerate() {
        assert_eq!(chunk.len(), cs.get() as usize);
        let mut sealed = Vec::new();
        seal_chunk(&cipher, keys.nonce(), i as u64, false, chunk, &mut sealed).expect("seal");
        assert_eq!(
            Some(&sealed[..]),
            ct.get(i * cs.sealed()..(i + 1) * cs.sealed()),
            "released chunk {i} is not the input's"
        );
    }
}

fn lengths(cs: ChunkSize, ct_len: u64) {
    match plaintext_len(ct_len, cs) {
        Ok(pl) => {
            assert_eq!(ciphertext_len(pl, cs).expect("ciphertext_len of a valid length"), ct_len);
            let n = chunk_count(pl, cs).expect("chunk count");
            let mut next = 0;
            for i in 0..n.min(64) {
                let (start, end, last) = sealed_chunk_range(i, ct_len, cs).expect("range of an existing chunk");
                assert_eq!(start, next);
                assert!(end > start && end <= ct_len);
                assert_eq!(last, i + 1 == n);
                next = end;
            }
            if n <= 64 {
                assert_eq!(next, ct_len);
            }
            assert!(sealed_chunk_range(n, ct_len, cs).is_err());
        }
        Err(_) => {
            assert!(sealed_chunk_range(0, ct_len, cs).is_err());
        }
    }
    if let Ok(c) = ciphertext_len(ct_len, cs) {
        assert_eq!(plaintext_len(c, cs).expect("plaintext_len of a valid length"), ct_len);
    }
}

/// `SealPlan` and `RangePlan` for a `len`-byte plaintext, at an offset and a range drawn from `x`
/// and `y`, checked against `sealed_chunk_range` (itself checked by `lengths`).
fn plans(cs: ChunkSize, len: u64, x: u64, y: u64) {
    let Ok(ct_len) = ciphertext_len(len, cs) else {
        assert!(SealPlan::new(Format::Chunked(cs), len, 0).is_err());
        return;
    };
    let n = u64::from(cs.get());
    let chunks = chunk_count(len, cs).expect("count of a valid length");
    let offset = x % ct_len.saturating_add(2);
    match SealPlan::new(Format::Chunked(cs), len, offset) {
        Ok(p) => {
            assert!(offset <= ct_len);
            assert_eq!(p.chunks, chunks);
            let (start, end, last) = sealed_chunk_range(p.first_chunk, ct_len, cs).expect("first chunk exists");
            assert_eq!(start + p.skip, offset, "resume starts at the offset");
            assert!(offset < end || (last && offset == end), "the offset is in the first chunk");
            assert_eq!(p.plain_start, p.first_chunk * n);
        }
        Err(_) => assert!(offset > ct_len, "offset {offset} of {ct_len} refused"),
    }
    let span = len.saturating_add(2);
    let (a, b) = (y % span, (y >> 32).wrapping_add(x) % span);
    match RangePlan::new(cs, len, a, b).expect("plan of a valid length") {
        None => assert!(a >= b.min(len)),
        Some(p) => {
            let end = b.min(len);
            assert!(a < end);
            assert!(p.first_chunk * n <= a && a < (p.first_chunk + 1) * n, "first chunk holds the first byte");
            assert!(p.last_chunk * n < end && end <= (p.last_chunk + 1) * n, "last chunk holds the last byte");
            assert_eq!(sealed_chunk_range(p.first_chunk, ct_len, cs).expect("first").0, p.ct_start);
            assert_eq!(sealed_chunk_range(p.last_chunk, ct_len, cs).expect("last").1, p.ct_end);
            assert_eq!((p.trim_start, p.len()), (a - p.first_chunk * n, end - a));
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut inp = Input(data);
    let si = usize::from(inp.u8()) % CipherSuite::ALL.len();
    let cs = ChunkSize::new(1024 + u64::from(inp.u16()) % 3073).expect("1024..=4096");
    let flags = inp.u8();
    let size_field = inp.u64();
    let size = (flags & 1 == 1).then_some(size_field);
    let splits = usize::from(inp.u8() % 8);
    let pieces: Vec<usize> = (0..splits).map(|_| usize::from(inp.u16())).collect();
    let keys = keys(si);
    let suite = keys.suite();
    let hash = inp.take(suite.nh()).to_vec();
    if hash.len() != suite.nh() {
        return;
    }
    let ct = inp.take(MAX_CIPHERTEXT);

    // Length arithmetic, on the input's numbers.
    lengths(cs, ct.len() as u64);
    lengths(cs, size_field);
    lengths(cs, u64::MAX - u64::from(size_field as u16));
    let x = pieces.iter().fold(size_field.rotate_left(17), |h, &p| h.rotate_left(16) ^ p as u64);
    plans(cs, ct.len() as u64, x, size_field);
    plans(cs, size_field % (1 << 24), size_field, x);
    plans(cs, size_field, x, !size_field);

    let got = decrypt(&keys, cs, &hash, size, &pieces, ct);
    // Piece sizes do not change the outcome, nor what is released before an error.
    let whole = decrypt(&keys, cs, &hash, size, &[], ct);
    assert_eq!(got, whole, "outcome depends on the piece sizes {pieces:?}");
    assert_eq!(
        got.result.is_ok(),
        open_chunked(&keys, cs, ct, &hash, size).is_ok(),
        "open_chunked disagrees with the Decryptor"
    );
    match &got.result {
        Ok(()) => {
            let pt = &got.released;
            assert_eq!(attachment_hash(suite, pt), hash);
            assert_eq!(seal_chunked(&keys, cs, pt).expect("re-encrypts"), ct, "accepted a non-canonical ciphertext");
            assert_eq!(plaintext_len(ct.len() as u64, cs).ok(), Some(pt.len() as u64));
            if let Some(s) = size {
                assert_eq!(s, pt.len() as u64);
            }
        }
        Err(_) => released_is_authentic(&keys, cs, &got.released, ct),
    }

    // The draft's one-shot form of the same bytes.
    if let Ok(pt) = open_one_shot(&keys, ct, &hash) {
        assert_eq!(attachment_hash(suite, &pt), hash);
        assert_eq!(seal_one_shot(&keys, &pt).expect("re-encrypts"), ct, "accepted a non-canonical one-shot ciphertext");
    }
});
