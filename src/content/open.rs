//! One-shot AEAD ciphertexts of any size, opened (and sealed) incrementally.
//!
//! A one-shot ciphertext (`AEAD.Seal(key, nonce, aad, plaintext)`, our one-shot form and what other
//! MIMI clients upload) has a single tag at its very end. To open it without holding it whole:
//! * **AES-GCM** (NIST SP 800-38D) is AES-CTR from counter block 2 (`J0 = nonce || 0x00000001`,
//!   keystream from `inc32(J0)`), plus GHASH over `pad16(aad) || pad16(ct) || len64(aad) ||
//!   len64(ct)`, computed over the ciphertext as it passes; the tag is `GHASH ⊕ AES_K(J0)`.
//! * **ChaCha20-Poly1305** (RFC 8439 §2.8) is ChaCha20 from block counter 1, plus Poly1305 keyed
//!   with the first 32 bytes of block 0 over `pad16(aad) || pad16(ct) || le64(aad) || le64(ct)`.
//!
//! [`StreamOpener::update`] holds back the last 16 bytes seen (they may be the tag) and returns the
//! plaintext of everything before them. **That plaintext is unverified**: the caller must keep it
//! to itself (the browser side spills it into a Blob that is handed out only afterwards) until
//! [`StreamOpener::finish`] has compared the tag, in constant time. A failed tag means every byte
//! returned must be discarded.
//!
//! encAlg 8 (registry: AEAD_AES_256_GCM_12, a 12-byte tag) is used by one sender for AES-256-GCM
//! with a 16-byte tag. [`PartOpener`] accepts it only when the part's `size` is the plaintext
//! size and the ciphertext is exactly `size + 16` bytes — a 12-byte tag would make it
//! `size + 12` — and fails with `AmbiguousTag` otherwise.
#![forbid(unsafe_code)]

use aes::cipher::{BlockEncrypt, KeyInit, KeyIvInit, StreamCipher, StreamCipherSeek};
use aes::{Aes128, Aes256};
use chacha20::ChaCha20;
use ghash::universal_hash::UniversalHash;
use ghash::GHash;
use poly1305::Poly1305;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use super::mapping::ContentHashMatch;
use super::part::{enc_alg, hash_alg, ExternalPart};
use super::ContentError as E;
use crate::error::{check_len, Error, Result};
use crate::suite::{HashAlg, Hasher, AEAD_NONCE_LEN, AEAD_TAG_LEN};

type Aes128Ctr = ctr::Ctr32BE<Aes128>;
type Aes256Ctr = ctr::Ctr32BE<Aes256>;

/// Longest AES-GCM plaintext (SP 800-38D: 2^39 - 256 bits).
pub const GCM_MAX_PLAINTEXT: u64 = (1 << 36) - 32;
/// Longest ChaCha20-Poly1305 plaintext (RFC 8439: 2^32 - 1 blocks after block 0).
pub const CHACHA_MAX_PLAINTEXT: u64 = ((1 << 32) - 1) * 64;

/// The AEADs we open from ExternalParts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartAead {
    /// AES-128-GCM (encAlg 1).
    Aes128Gcm,
    /// AES-256-GCM (encAlg 2, or 8 under the quirk's rule).
    Aes256Gcm,
    /// ChaCha20-Poly1305 (encAlg 29).
    ChaCha20Poly1305,
}

impl PartAead {
    /// From an IANA AEAD id (8 maps to AES-256-GCM with a 16-byte tag; see the module docs).
    pub fn from_enc_alg(id: u16) -> Option<Self> {
        match id {
            enc_alg::AES_128_GCM => Some(PartAead::Aes128Gcm),
            enc_alg::AES_256_GCM | enc_alg::AES_256_GCM_QUIRK => Some(PartAead::Aes256Gcm),
            enc_alg::CHACHA20_POLY1305 => Some(PartAead::ChaCha20Poly1305),
            _ => None,
        }
    }

    /// Key length.
    pub fn nk(self) -> usize {
        match self {
            PartAead::Aes128Gcm => 16,
            _ => 32,
        }
    }

    fn max_plaintext(self) -> u64 {
        match self {
            PartAead::ChaCha20Poly1305 => CHACHA_MAX_PLAINTEXT,
            _ => GCM_MAX_PLAINTEXT,
        }
    }
}

enum Keystream {
    Aes128(Box<Aes128Ctr>),
    Aes256(Box<Aes256Ctr>),
    ChaCha(Box<ChaCha20>),
}

enum Mac {
    Ghash(Box<GHash>),
    Poly(Box<Poly1305>),
}

impl Mac {
    fn update_padded(&mut self, data: &[u8]) {
        match self {
            Mac::Ghash(m) => m.update_padded(data),
            Mac::Poly(m) => m.update_padded(data),
        }
    }
}

/// The shared state of [`StreamOpener`] and [`StreamSealer`]: keystream, MAC over the ciphertext
/// (fed in 16-byte blocks; a partial block waits in `buf`), and the counts.
struct Core {
    aead: PartAead,
    ks: Keystream,
    mac: Mac,
    mask: Zeroizing<[u8; 16]>,
    buf: [u8; 16],
    buf_len: usize,
    aad_len: u64,
    ct_len: u64,
}

impl Core {
    fn new(aead: PartAead, key: &[u8], nonce: &[u8], aad: &[u8]) -> Result<Self> {
        check_len("AEAD key", aead.nk(), key.len())?;
        check_len("AEAD nonce", AEAD_NONCE_LEN, nonce.len())?;
        let mut j = [0u8; 16];
        j.get_mut(..AEAD_NONCE_LEN).unwrap_or_default().copy_from_slice(nonce);
        let mut mask = Zeroizing::new([0u8; 16]);
        let bad = |_| Error::InvalidLength { what: "AEAD key", expected: aead.nk(), got: key.len() };
        let (ks, mut mac) = match aead {
            PartAead::Aes128Gcm | PartAead::Aes256Gcm => {
                let mut h = Zeroizing::new(aes::Block::default());
                j[15] = 1;
                let mut j0 = aes::Block::from(j);
                j[15] = 2;
                let ks = if aead == PartAead::Aes128Gcm {
                    let c = Aes128::new_from_slice(key).map_err(bad)?;
                    c.encrypt_block(&mut h);
                    c.encrypt_block(&mut j0);
                    Keystream::Aes128(Box::new(
                        Aes128Ctr::new_from_slices(key, &j).map_err(|_| Error::Platform("ctr".into()))?,
                    ))
                } else {
                    let c = Aes256::new_from_slice(key).map_err(bad)?;
                    c.encrypt_block(&mut h);
                    c.encrypt_block(&mut j0);
                    Keystream::Aes256(Box::new(
                        Aes256Ctr::new_from_slices(key, &j).map_err(|_| Error::Platform("ctr".into()))?,
                    ))
                };
                mask.copy_from_slice(&j0);
                j0.zeroize();
                (ks, Mac::Ghash(Box::new(GHash::new(&h))))
            }
            PartAead::ChaCha20Poly1305 => {
                let mut c = ChaCha20::new_from_slices(key, nonce).map_err(bad)?;
                let mut pk = Zeroizing::new([0u8; 32]);
                c.apply_keystream(&mut pk[..]);
                c.seek(64u64);
                let mac = Poly1305::new_from_slice(&pk[..]).map_err(|_| Error::Platform("poly1305".into()))?;
                (Keystream::ChaCha(Box::new(c)), Mac::Poly(Box::new(mac)))
            }
        };
        if aad.len() > super::part::MAX_AAD_LEN {
            return Err(E::TooLong { field: "aad", len: aad.len() as u64, max: super::part::MAX_AAD_LEN }.into());
        }
        mac.update_padded(aad);
        Ok(Self { aead, ks, mac, mask, buf: [0; 16], buf_len: 0, aad_len: aad.len() as u64, ct_len: 0 })
    }

    /// Adds ciphertext bytes to the MAC and the count.
    fn absorb(&mut self, mut ct: &[u8]) -> Result<()> {
        self.ct_len = self.ct_len.checked_add(ct.len() as u64).ok_or(Error::TooLarge("length overflows"))?;
        if self.ct_len > self.aead.max_plaintext() {
            return Err(Error::TooLarge("above the AEAD's message limit"));
        }
        if self.buf_len > 0 {
            let n = (16 - self.buf_len).min(ct.len());
            let (a, rest) = ct.split_at(n);
            self.buf.get_mut(self.buf_len..self.buf_len + n).unwrap_or_default().copy_from_slice(a);
            self.buf_len += n;
            ct = rest;
            if self.buf_len == 16 {
                let b = self.buf;
                self.mac.update_padded(&b);
                self.buf_len = 0;
            }
        }
        let whole = ct.len() - ct.len() % 16;
        let (blocks, rest) = ct.split_at(whole);
        self.mac.update_padded(blocks);
        self.buf.get_mut(..rest.len()).unwrap_or_default().copy_from_slice(rest);
        self.buf_len += rest.len();
        Ok(())
    }

    fn keystream(&mut self, data: &mut [u8]) {
        match &mut self.ks {
            Keystream::Aes128(c) => c.apply_keystream(data),
            Keystream::Aes256(c) => c.apply_keystream(data),
            Keystream::ChaCha(c) => c.apply_keystream(data),
        }
    }

    /// The tag over everything absorbed.
    fn tag(mut self) -> Zeroizing<[u8; 16]> {
        let rest = self.buf;
        self.mac.update_padded(rest.get(..self.buf_len).unwrap_or_default());
        let mut out = Zeroizing::new([0u8; 16]);
        match self.mac {
            Mac::Ghash(mut g) => {
                let mut l = ghash::Block::default();
                l[..8].copy_from_slice(&(self.aad_len * 8).to_be_bytes());
                l[8..].copy_from_slice(&(self.ct_len * 8).to_be_bytes());
                g.update(&[l]);
                let t = g.finalize();
                for ((o, a), b) in out.iter_mut().zip(t.iter()).zip(self.mask.iter()) {
                    *o = a ^ b;
                }
            }
            Mac::Poly(mut p) => {
                let mut l = poly1305::Block::default();
                l[..8].copy_from_slice(&self.aad_len.to_le_bytes());
                l[8..].copy_from_slice(&self.ct_len.to_le_bytes());
                p.update(&[l]);
                out.copy_from_slice(&p.finalize());
            }
        }
        out
    }
}

/// Opens a one-shot AEAD ciphertext fed in pieces of any size (see the module docs: the
/// plaintext it returns is unverified until [`StreamOpener::finish`] succeeds).
pub struct StreamOpener {
    core: Core,
    tail: Vec<u8>,
}

impl StreamOpener {
    /// `key` of `aead.nk()` bytes, a 12-byte `nonce`, and the `aad` used when sealing.
    pub fn new(aead: PartAead, key: &[u8], nonce: &[u8], aad: &[u8]) -> Result<Self> {
        Ok(Self { core: Core::new(aead, key, nonce, aad)?, tail: Vec::with_capacity(2 * AEAD_TAG_LEN) })
    }

    /// Takes ciphertext bytes and appends the **unverified** plaintext of all but the last 16
    /// bytes seen so far to `out`.
    pub fn update(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        if input.len() >= AEAD_TAG_LEN {
            let (body, tail) = input.split_at(input.len() - AEAD_TAG_LEN);
            let held = core::mem::take(&mut self.tail);
            self.decrypt(&held, out)?;
            self.decrypt(body, out)?;
            self.tail.extend_from_slice(tail);
        } else {
            self.tail.extend_from_slice(input);
            if self.tail.len() > AEAD_TAG_LEN {
                let excess: Vec<u8> = self.tail.drain(..self.tail.len() - AEAD_TAG_LEN).collect();
                self.decrypt(&excess, out)?;
            }
        }
        Ok(())
    }

    fn decrypt(&mut self, ct: &[u8], out: &mut Vec<u8>) -> Result<()> {
        self.core.absorb(ct)?;
        let start = out.len();
        out.extend_from_slice(ct);
        if let Some(b) = out.get_mut(start..) {
            self.core.keystream(b);
        }
        Ok(())
    }

    /// Ciphertext bytes taken so far (including the held-back tail).
    pub fn ciphertext_len(&self) -> u64 {
        self.core.ct_len + self.tail.len() as u64
    }

    /// Compares the tag in constant time: `Ok` means everything `update` returned is authentic.
    /// [`Error::Truncated`] if fewer than 16 bytes came, [`Error::DecryptFailed`] for a bad tag.
    pub fn finish(self) -> Result<()> {
        if self.tail.len() != AEAD_TAG_LEN {
            return Err(Error::Truncated("shorter than an AEAD tag"));
        }
        let tag = self.core.tag();
        if bool::from(tag.as_slice().ct_eq(&self.tail)) {
            Ok(())
        } else {
            Err(Error::DecryptFailed { chunk: 0 })
        }
    }
}

/// Seals a one-shot AEAD ciphertext from plaintext fed in pieces (the draft's one-shot form for
/// any size up to the AEAD's limit; the output equals the one-call `AEAD.Seal`).
pub struct StreamSealer {
    core: Core,
}

impl StreamSealer {
    /// As [`StreamOpener::new`].
    pub fn new(aead: PartAead, key: &[u8], nonce: &[u8], aad: &[u8]) -> Result<Self> {
        Ok(Self { core: Core::new(aead, key, nonce, aad)? })
    }

    /// Appends the ciphertext of `plaintext` to `out`.
    pub fn update(&mut self, plaintext: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let start = out.len();
        out.extend_from_slice(plaintext);
        let Some(b) = out.get_mut(start..) else { return Ok(()) };
        self.core.keystream(b);
        let r = self.core.absorb(b);
        if r.is_err() {
            out.truncate(start);
        }
        r
    }

    /// Appends the 16-byte tag.
    pub fn finish(self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.core.tag().as_slice());
    }
}

/// Receives the content of any ExternalPart with an explicit key: decrypts as a stream (through
/// [`StreamOpener`], with the same rule: nothing released before `finish`), checks the size
/// rules, the tag, and `contentHash` under both semantics (plaintext hash first, then the hash of
/// the content at the URL).
pub struct PartOpener {
    opener: StreamOpener,
    enc_alg: u16,
    size: u64,
    /// Our one-shot form with a declared size: exactly `size + 16` bytes.
    exact_size: bool,
    expected: Vec<u8>,
    plain: Option<Hasher>,
    cipher: Option<Hasher>,
}

impl PartOpener {
    /// For a validated part with encAlg 1, 2, 8 or 29.
    pub fn new(part: &ExternalPart) -> Result<Self> {
        part.validate()?;
        let aead = PartAead::from_enc_alg(part.enc_alg)
            .ok_or_else(|| Error::InvalidArgument("encAlg 0: the part is not encrypted".into()))?;
        let h = match part.hash_alg {
            hash_alg::NONE => None,
            hash_alg::SHA_256 => Some(HashAlg::Sha256),
            hash_alg::SHA_384 => Some(HashAlg::Sha384),
            _ => Some(HashAlg::Sha512),
        };
        Ok(Self {
            opener: StreamOpener::new(aead, &part.key, &part.nonce, &part.aad)?,
            enc_alg: part.enc_alg,
            size: part.size,
            exact_size: false,
            expected: part.content_hash.clone(),
            plain: h.map(Hasher::new),
            cipher: h.map(Hasher::new),
        })
    }

    /// For our own one-shot form (a reference without `chunk-size`): `AEAD(attachment_key,
    /// attachment_nonce, "", plaintext)`, checked against the plaintext hash only and, when the
    /// reference has a size, against exactly `size + 16` ciphertext bytes.
    pub fn for_one_shot(keys: &crate::schedule::AttachmentKeys, hash: &[u8], size: Option<u64>) -> Result<Self> {
        let suite = keys.suite();
        check_len("attachment_hash", suite.nh(), hash.len())?;
        let aead = match suite.aead() {
            crate::suite::AeadAlg::Aes128Gcm => PartAead::Aes128Gcm,
            crate::suite::AeadAlg::Aes256Gcm => PartAead::Aes256Gcm,
            crate::suite::AeadAlg::ChaCha20Poly1305 => PartAead::ChaCha20Poly1305,
        };
        Ok(Self {
            opener: StreamOpener::new(aead, keys.key(), keys.nonce(), b"")?,
            enc_alg: 0,
            size: size.unwrap_or(0),
            exact_size: size.is_some(),
            expected: hash.to_vec(),
            plain: Some(Hasher::new(suite.hash())),
            cipher: None,
        })
    }

    /// Takes downloaded bytes; appends **unverified** plaintext to `out`.
    pub fn update(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        if let Some(c) = &mut self.cipher {
            c.update(input);
        }
        let start = out.len();
        self.opener.update(input, out)?;
        if let (Some(p), Some(new)) = (&mut self.plain, out.get(start..)) {
            p.update(new);
        }
        Ok(())
    }

    /// Checks length (for encAlg 8: the 16-byte-tag proof), tag and hash. `Ok` tells which
    /// hash semantics matched; only then may the plaintext be released.
    pub fn finish(self) -> Result<ContentHashMatch> {
        let n = self.opener.ciphertext_len();
        let tag = AEAD_TAG_LEN as u64;
        if self.exact_size {
            crate::stream::check_one_shot_len(n, Some(self.size))?;
        } else if self.enc_alg == enc_alg::AES_256_GCM_QUIRK {
            if self.size == 0 || self.size.checked_add(tag) != Some(n) {
                return Err(E::AmbiguousTag.into());
            }
        } else if self.size != 0 && self.size.checked_add(tag) != Some(n) && self.size != n {
            return Err(E::SizeMismatch { size: self.size, got: n }.into());
        }
        self.opener.finish()?;
        match (self.plain, self.cipher) {
            (Some(p), Some(c)) => {
                if bool::from(p.finalize().ct_eq(&self.expected)) {
                    Ok(ContentHashMatch::Plaintext)
                } else if bool::from(c.finalize().ct_eq(&self.expected)) {
                    Ok(ContentHashMatch::Ciphertext)
                } else {
                    Err(Error::HashMismatch)
                }
            }
            (Some(p), None) => {
                if bool::from(p.finalize().ct_eq(&self.expected)) {
                    Ok(ContentHashMatch::Plaintext)
                } else {
                    Err(Error::HashMismatch)
                }
            }
            _ => Ok(ContentHashMatch::None),
        }
    }
}
