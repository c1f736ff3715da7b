//! Ciphertext formats (DESIGN.md §3): the draft's one-shot form, and chunked v1.
//!
//! **One-shot** (draft §3.6, literally): `AEAD.Seal(attachment_key, attachment_nonce, "", plaintext)`.
//!
//! **Chunked v1** (signalled by `chunk-size=N` in the reference): the plaintext is cut into chunks
//! of exactly `N` bytes, the last holding the rest (`1..=N` bytes; an empty plaintext is one empty
//! chunk). Chunk `i` is sealed with `nonce_i = attachment_nonce XOR BE96(i)` and
//! `aad_i = 0x01` for the last chunk, `0x00` otherwise (a STREAM construction, Hoang et al. 2015,
//! as in age). Sealed chunk `i` starts at byte `i * (N + 16)`.
//!
//! The [`Decryptor`] releases no plaintext of a chunk before that chunk's tag verifies, withholds
//! the final chunk until the whole-file hash has been checked, and rejects truncation, trailing
//! data, reordering and impossible lengths with distinct errors.
#![forbid(unsafe_code)]

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::aead::Cipher;
use crate::error::{check_len, Error, Result};
use crate::schedule::AttachmentKeys;
use crate::suite::{Hasher, AEAD_NONCE_LEN, AEAD_TAG_LEN};

/// Smallest allowed `chunk-size`.
pub const MIN_CHUNK_SIZE: u32 = 1024;
/// Largest allowed `chunk-size` (16 MiB).
pub const MAX_CHUNK_SIZE: u32 = 16 * 1024 * 1024;
/// The default `chunk-size` when sending (256 KiB; DESIGN.md §3 has the measurement).
pub const DEFAULT_CHUNK_SIZE: u32 = 256 * 1024;
/// At most 2^32 chunks per attachment.
pub const MAX_CHUNKS: u64 = 1 << 32;
/// `aad` of every chunk but the last.
pub const AAD_NOT_LAST: [u8; 1] = [0x00];
/// `aad` of the last chunk.
pub const AAD_LAST: [u8; 1] = [0x01];

/// A validated `chunk-size` (plaintext bytes per chunk).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChunkSize(u32);

impl ChunkSize {
    /// Checks `MIN_CHUNK_SIZE <= n <= MAX_CHUNK_SIZE`.
    pub fn new(n: u64) -> Result<Self> {
        match u32::try_from(n) {
            Ok(v) if (MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&v) => Ok(Self(v)),
            _ => Err(Error::BadChunkSize(n)),
        }
    }

    /// `n`, or the default ([`DEFAULT_CHUNK_SIZE`]) when absent.
    pub fn or_default(n: Option<u32>) -> Result<Self> {
        n.map_or(Ok(Self::default()), |n| Self::new(u64::from(n)))
    }

    /// Plaintext bytes per chunk.
    pub fn get(self) -> u32 {
        self.0
    }

    fn plain(self) -> usize {
        self.0 as usize
    }

    /// Bytes per sealed (full) chunk: `N + 16`.
    pub fn sealed(self) -> usize {
        self.0 as usize + AEAD_TAG_LEN
    }
}

impl Default for ChunkSize {
    fn default() -> Self {
        Self(DEFAULT_CHUNK_SIZE)
    }
}

/// Number of chunks for a plaintext of `plaintext_len` bytes: `max(1, ceil(len / N))`.
pub fn chunk_count(plaintext_len: u64, cs: ChunkSize) -> Result<u64> {
    let n = plaintext_len.div_ceil(u64::from(cs.0)).max(1);
    if n > MAX_CHUNKS {
        return Err(Error::TooLarge("more than 2^32 chunks"));
    }
    Ok(n)
}

/// Ciphertext length of a plaintext of `plaintext_len` bytes.
pub fn ciphertext_len(plaintext_len: u64, cs: ChunkSize) -> Result<u64> {
    let n = chunk_count(plaintext_len, cs)?;
    plaintext_len.checked_add(n * AEAD_TAG_LEN as u64).ok_or(Error::TooLarge("length overflows"))
}

/// The plaintext length of a ciphertext of `ciphertext_len` bytes, or
/// [`Error::BadCiphertextLength`] if no valid chunk sequence has that length.
pub fn plaintext_len(ciphertext_len: u64, cs: ChunkSize) -> Result<u64> {
    let sealed = cs.sealed() as u64;
    let tag = AEAD_TAG_LEN as u64;
    let bad = Error::BadCiphertextLength(ciphertext_len);
    if ciphertext_len < tag {
        return Err(bad);
    }
    let n = ciphertext_len.div_ceil(sealed);
    let last = ciphertext_len - (n - 1) * sealed;
    // A final chunk carries at least one byte unless it is the only chunk.
    if last < tag || (last == tag && n > 1) || n > MAX_CHUNKS {
        return Err(bad);
    }
    Ok(ciphertext_len - n * tag)
}

/// The byte range `[start, end)` of sealed chunk `index` in a ciphertext of `ciphertext_len`
/// bytes, and whether it is the last chunk (for HTTP Range reads).
pub fn sealed_chunk_range(index: u64, ciphertext_len: u64, cs: ChunkSize) -> Result<(u64, u64, bool)> {
    let pl = plaintext_len(ciphertext_len, cs)?;
    let n = chunk_count(pl, cs)?;
    if index >= n {
        return Err(Error::TooLarge("chunk index past the end"));
    }
    let start = index * cs.sealed() as u64;
    let end = (start + cs.sealed() as u64).min(ciphertext_len);
    Ok((start, end, index + 1 == n))
}

/// `nonce_i = attachment_nonce XOR BE96(i)`.
pub fn chunk_nonce(base: &[u8; AEAD_NONCE_LEN], index: u64) -> Result<[u8; AEAD_NONCE_LEN]> {
    if index >= MAX_CHUNKS {
        return Err(Error::TooLarge("more than 2^32 chunks"));
    }
    let mut n = *base;
    for (b, i) in n[AEAD_NONCE_LEN - 8..].iter_mut().zip(index.to_be_bytes()) {
        *b ^= i;
    }
    Ok(n)
}

/// `aad_i`: `0x01` for the last chunk, `0x00` otherwise.
pub fn chunk_aad(last: bool) -> &'static [u8] {
    if last {
        &AAD_LAST
    } else {
        &AAD_NOT_LAST
    }
}

/// Seals chunk `index` (`chunk` must be `1..=N` bytes, or empty only as the sole chunk),
/// appending `ciphertext || tag` to `out`.
pub fn seal_chunk(
    cipher: &Cipher,
    base: &[u8; AEAD_NONCE_LEN],
    index: u64,
    last: bool,
    chunk: &[u8],
    out: &mut Vec<u8>,
) -> Result<()> {
    let nonce = chunk_nonce(base, index)?;
    cipher.seal_into(&nonce, chunk_aad(last), chunk, out);
    Ok(())
}

/// Opens sealed chunk `index`, appending its plaintext to `out` only if its tag verifies.
pub fn open_chunk(
    cipher: &Cipher,
    base: &[u8; AEAD_NONCE_LEN],
    index: u64,
    last: bool,
    sealed: &[u8],
    out: &mut Vec<u8>,
) -> Result<()> {
    let nonce = chunk_nonce(base, index)?;
    cipher.open_into(&nonce, chunk_aad(last), sealed, out).map_err(|_| Error::DecryptFailed { chunk: index })
}

/// The draft's one-shot form: `AEAD.Seal(attachment_key, attachment_nonce, "", plaintext)`.
pub fn seal_one_shot(keys: &AttachmentKeys, plaintext: &[u8]) -> Result<Vec<u8>> {
    let cipher = Cipher::new(keys.suite().aead(), keys.key())?;
    let mut out = Vec::with_capacity(plaintext.len() + AEAD_TAG_LEN);
    cipher.seal_into(keys.nonce(), b"", plaintext, &mut out);
    Ok(out)
}

/// The one-shot form with a declared plaintext size (the reference's `size`): the ciphertext must
/// be exactly `size + 16` bytes. Checked before any decryption, so that a reference whose `size`
/// disagrees with the ciphertext fails with [`Error::Truncated`] or [`Error::TrailingData`], as
/// the chunked form does, instead of releasing a plaintext of another length than announced.
pub fn check_one_shot_len(ciphertext_len: u64, plaintext_len: Option<u64>) -> Result<()> {
    let Some(size) = plaintext_len else { return Ok(()) };
    let expected = size.checked_add(AEAD_TAG_LEN as u64).ok_or(Error::TooLarge("length overflows"))?;
    match ciphertext_len.cmp(&expected) {
        core::cmp::Ordering::Less => Err(Error::Truncated("ciphertext shorter than the declared size")),
        core::cmp::Ordering::Greater => Err(Error::TrailingData),
        core::cmp::Ordering::Equal => Ok(()),
    }
}

/// Opens the one-shot form and checks `Hash(plaintext) == attachment_hash`.
pub fn open_one_shot(keys: &AttachmentKeys, ciphertext: &[u8], attachment_hash: &[u8]) -> Result<Vec<u8>> {
    check_len("attachment_hash", keys.suite().nh(), attachment_hash.len())?;
    if ciphertext.len() < AEAD_TAG_LEN {
        return Err(Error::Truncated("shorter than an AEAD tag"));
    }
    let cipher = Cipher::new(keys.suite().aead(), keys.key())?;
    let mut out = Vec::with_capacity(ciphertext.len());
    cipher.open_into(keys.nonce(), b"", ciphertext, &mut out).map_err(|_| Error::DecryptFailed { chunk: 0 })?;
    let h = keys.suite().hash().digest(&out);
    if bool::from(h.ct_eq(attachment_hash)) {
        Ok(out)
    } else {
        Err(Error::HashMismatch)
    }
}

/// Incremental chunked-v1 encryptor. Takes input in pieces of any size and holds at most one
/// chunk of plaintext (zeroized on drop). [`Encryptor::finish`] consumes it and seals the last chunk.
pub struct Encryptor {
    cipher: Cipher,
    base: [u8; AEAD_NONCE_LEN],
    cs: ChunkSize,
    buf: Zeroizing<Vec<u8>>,
    index: u64,
}

impl Encryptor {
    /// An encryptor for `keys` with chunks of `cs` bytes.
    pub fn new(keys: &AttachmentKeys, cs: ChunkSize) -> Result<Self> {
        Ok(Self {
            cipher: Cipher::new(keys.suite().aead(), keys.key())?,
            base: *keys.nonce(),
            cs,
            buf: Zeroizing::new(Vec::with_capacity(cs.plain())),
            index: 0,
        })
    }

    /// Encrypts `data`, appending every chunk that is now complete to `out`.
    pub fn update(&mut self, mut data: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let n = self.cs.plain();
        while !data.is_empty() {
            // A full chunk followed by more data is not the last one.
            if self.buf.len() == n {
                seal_chunk(&self.cipher, &self.base, self.index, false, &self.buf, out)?;
                self.index += 1;
                self.buf.clear();
            }
            if self.buf.is_empty() && data.len() > n {
                let (chunk, rest) = data.split_at(n);
                seal_chunk(&self.cipher, &self.base, self.index, false, chunk, out)?;
                self.index += 1;
                data = rest;
                continue;
            }
            let take = (n - self.buf.len()).min(data.len());
            let (head, rest) = data.split_at(take);
            self.buf.extend_from_slice(head);
            data = rest;
        }
        Ok(())
    }

    /// Seals the last chunk (what is held: `1..=N` bytes, or empty for an empty plaintext).
    pub fn finish(self, out: &mut Vec<u8>) -> Result<()> {
        seal_chunk(&self.cipher, &self.base, self.index, true, &self.buf, out)
    }

    /// Number of chunks sealed so far.
    pub fn chunks_sealed(&self) -> u64 {
        self.index
    }
}

/// Encrypts a whole in-memory plaintext in chunked v1.
pub fn seal_chunked(keys: &AttachmentKeys, cs: ChunkSize, plaintext: &[u8]) -> Result<Vec<u8>> {
    let len = ciphertext_len(plaintext.len() as u64, cs)?;
    let mut out = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    let mut e = Encryptor::new(keys, cs)?;
    e.update(plaintext, &mut out)?;
    e.finish(&mut out)?;
    Ok(out)
}

/// The rules of a chunked-v1 reader, without I/O or crypto: which index a sealed chunk has,
/// whether it must be opened as the last one, and which error a sequence earns. Used by the
/// synchronous [`Decryptor`] and by the browser's asynchronous (WebCrypto) pipeline alike.
#[derive(Debug, Clone)]
pub struct ReadPlan {
    cs: ChunkSize,
    index: u64,
    consumed: u64,
    expected_chunks: Option<u64>,
    expected_last_len: Option<usize>,
}

impl ReadPlan {
    /// A plan for chunks of `cs`; `plaintext_len` (the reference's `size`) makes truncation and
    /// trailing data recognisable before any chunk is opened.
    pub fn new(cs: ChunkSize, plaintext_len: Option<u64>) -> Result<Self> {
        let (expected_chunks, expected_last_len) = match plaintext_len {
            None => (None, None),
            Some(len) => {
                let n = chunk_count(len, cs)?;
                let last = len - (n - 1) * u64::from(cs.get());
                (Some(n), Some(last as usize + AEAD_TAG_LEN))
            }
        };
        Ok(Self { cs, index: 0, consumed: 0, expected_chunks, expected_last_len })
    }

    /// Bytes of a full sealed chunk (`N + 16`).
    pub fn sealed_len(&self) -> usize {
        self.cs.sealed()
    }

    /// Index of the next chunk.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// A full sealed chunk that more data follows: its index, to open with `last = false`.
    pub fn not_last(&mut self) -> Result<u64> {
        let i = self.index;
        if let Some(n) = self.expected_chunks {
            if i + 1 >= n {
                return Err(Error::TrailingData);
            }
        }
        if i + 1 >= MAX_CHUNKS {
            return Err(Error::TooLarge("more than 2^32 chunks"));
        }
        self.index += 1;
        self.consumed = self.consumed.saturating_add(self.cs.sealed() as u64);
        Ok(i)
    }

    /// The input ended with a final piece of `len` bytes: its index, to open with `last = true`,
    /// or the error the sequence earns.
    pub fn last(&mut self, len: usize) -> Result<u64> {
        let i = self.index;
        let total = self.consumed.saturating_add(len as u64);
        if len == 0 {
            return Err(Error::Truncated(if i == 0 { "no ciphertext" } else { "the final chunk is missing" }));
        }
        if let Some(n) = self.expected_chunks {
            if i + 1 < n {
                return Err(Error::Truncated("fewer chunks than the declared size"));
            }
            if Some(len) != self.expected_last_len {
                return Err(if Some(len) < self.expected_last_len {
                    Error::Truncated("final chunk shorter than the declared size")
                } else {
                    Error::TrailingData
                });
            }
        }
        if len < AEAD_TAG_LEN {
            return Err(Error::Truncated("final chunk shorter than an AEAD tag"));
        }
        if len == AEAD_TAG_LEN && i > 0 {
            return Err(Error::BadCiphertextLength(total));
        }
        Ok(i)
    }

    /// The error for chunk `index` whose tag failed when opened with `as_last`;
    /// `opens_with_other_flag` says whether it opens with the other last-flag: a final chunk
    /// where more data follows is trailing data, a non-final chunk at the end is truncation.
    pub fn failure(index: u64, as_last: bool, opens_with_other_flag: bool) -> Error {
        match (opens_with_other_flag, as_last) {
            (true, false) => Error::TrailingData,
            (true, true) => Error::Truncated("the final chunk is missing"),
            (false, _) => Error::DecryptFailed { chunk: index },
        }
    }
}

/// Incremental chunked-v1 decryptor. Takes ciphertext in pieces of any size, holds at most one
/// sealed chunk, and appends plaintext to the caller's buffer only after each chunk's tag has
/// verified. The final chunk's plaintext is released only after the whole-file hash matched.
pub struct Decryptor {
    cipher: Cipher,
    base: [u8; AEAD_NONCE_LEN],
    plan: ReadPlan,
    buf: Vec<u8>,
    hasher: Hasher,
    expected_hash: Vec<u8>,
    failed: Option<Error>,
}

impl Decryptor {
    /// A decryptor for `keys`, chunks of `cs`, and the reference's `attachment_hash`. When the
    /// reference carries `size`, pass it as `plaintext_len`: then truncation and trailing data are
    /// recognised exactly, before any chunk is opened.
    pub fn new(
        keys: &AttachmentKeys,
        cs: ChunkSize,
        attachment_hash: &[u8],
        plaintext_len: Option<u64>,
    ) -> Result<Self> {
        check_len("attachment_hash", keys.suite().nh(), attachment_hash.len())?;
        Ok(Self {
            cipher: Cipher::new(keys.suite().aead(), keys.key())?,
            base: *keys.nonce(),
            plan: ReadPlan::new(cs, plaintext_len)?,
            buf: Vec::with_capacity(cs.sealed()),
            hasher: Hasher::new(keys.suite().hash()),
            expected_hash: attachment_hash.to_vec(),
            failed: None,
        })
    }

    /// Decrypts `data`, appending the plaintext of every chunk that verified to `out`.
    /// After an error every later call fails with the same error.
    pub fn update(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<()> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let r = self.update_inner(data, out);
        if let Err(e) = &r {
            self.failed = Some(e.clone());
        }
        r
    }

    fn update_inner(&mut self, mut data: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let s = self.plan.sealed_len();
        while !data.is_empty() {
            if self.buf.len() == s {
                let held = core::mem::take(&mut self.buf);
                let r = self.open_not_last(&held, out);
                self.buf = held;
                self.buf.clear();
                r?;
            }
            if self.buf.is_empty() && data.len() > s {
                let (chunk, rest) = data.split_at(s);
                self.open_not_last(chunk, out)?;
                data = rest;
                continue;
            }
            let take = (s - self.buf.len()).min(data.len());
            let (head, rest) = data.split_at(take);
            self.buf.extend_from_slice(head);
            data = rest;
        }
        Ok(())
    }

    fn open_not_last(&mut self, sealed: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let i = self.plan.not_last()?;
        let start = out.len();
        if open_chunk(&self.cipher, &self.base, i, false, sealed, out).is_ok() {
            self.hasher.update(out.get(start..).unwrap_or_default());
            return Ok(());
        }
        let mut probe = Zeroizing::new(Vec::new());
        let other = open_chunk(&self.cipher, &self.base, i, true, sealed, &mut probe).is_ok();
        Err(ReadPlan::failure(i, false, other))
    }

    /// Opens the final chunk, checks the whole-file hash, and only then appends the final
    /// chunk's plaintext to `out`.
    pub fn finish(mut self, out: &mut Vec<u8>) -> Result<()> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        let held = core::mem::take(&mut self.buf);
        let i = self.plan.last(held.len())?;
        let mut last = Zeroizing::new(Vec::with_capacity(held.len()));
        if open_chunk(&self.cipher, &self.base, i, true, &held, &mut last).is_err() {
            let mut probe = Zeroizing::new(Vec::new());
            let other = open_chunk(&self.cipher, &self.base, i, false, &held, &mut probe).is_ok();
            return Err(ReadPlan::failure(i, true, other));
        }
        self.hasher.update(&last);
        if !hash_matches(self.hasher, &self.expected_hash) {
            return Err(Error::HashMismatch);
        }
        out.extend_from_slice(&last);
        Ok(())
    }

    /// Number of chunks verified so far.
    pub fn chunks_opened(&self) -> u64 {
        self.plan.index()
    }
}

/// Constant-time check of a finished hash against the reference's `attachment_hash`.
pub fn hash_matches(hasher: Hasher, expected: &[u8]) -> bool {
    bool::from(hasher.finalize().ct_eq(expected))
}

/// Decrypts a whole in-memory chunked-v1 ciphertext and checks the hash.
pub fn open_chunked(
    keys: &AttachmentKeys,
    cs: ChunkSize,
    ciphertext: &[u8],
    attachment_hash: &[u8],
    plaintext_len: Option<u64>,
) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(ciphertext.len());
    let mut d = Decryptor::new(keys, cs, attachment_hash, plaintext_len)?;
    d.update(ciphertext, &mut out)?;
    d.finish(&mut out)?;
    Ok(out)
}
