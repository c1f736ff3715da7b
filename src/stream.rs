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
pub use crate::format::{
    check_one_shot_len, chunk_aad, chunk_count, chunk_nonce, ciphertext_len, plaintext_len, sealed_chunk_range,
    ChunkSize, ReadPlan, AAD_LAST, AAD_NOT_LAST, DEFAULT_CHUNK_SIZE, MAX_CHUNKS, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE,
};
use crate::schedule::AttachmentKeys;
use crate::suite::{Hasher, AEAD_NONCE_LEN, AEAD_TAG_LEN};

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
