//! The suites' AEADs (RustCrypto), behind one small type. Used natively, and in the browser for
//! ChaCha20-Poly1305 and where WebCrypto is missing.
#![forbid(unsafe_code)]

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes128Gcm, Aes256Gcm};
use chacha20poly1305::ChaCha20Poly1305;
use zeroize::Zeroize;

use crate::error::{check_len, Result};
use crate::suite::{AeadAlg, AEAD_NONCE_LEN, AEAD_TAG_LEN};

/// An initialised AEAD key. The RustCrypto ciphers zeroize their key schedules on drop.
pub enum Cipher {
    /// AES-128-GCM.
    Aes128Gcm(Box<Aes128Gcm>),
    /// AES-256-GCM.
    Aes256Gcm(Box<Aes256Gcm>),
    /// ChaCha20-Poly1305.
    ChaCha20Poly1305(Box<ChaCha20Poly1305>),
}

/// The AEAD rejected a tag (no more detail on purpose).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenError;

impl Cipher {
    /// Initialises `alg` with `key` (`AEAD.Nk` bytes).
    pub fn new(alg: AeadAlg, key: &[u8]) -> Result<Self> {
        check_len("AEAD key", alg.nk(), key.len())?;
        // Lengths checked above, so `new_from_slice` cannot fail; map defensively anyway.
        let bad = |_| crate::error::Error::InvalidLength { what: "AEAD key", expected: alg.nk(), got: key.len() };
        Ok(match alg {
            AeadAlg::Aes128Gcm => Cipher::Aes128Gcm(Box::new(Aes128Gcm::new_from_slice(key).map_err(bad)?)),
            AeadAlg::Aes256Gcm => Cipher::Aes256Gcm(Box::new(Aes256Gcm::new_from_slice(key).map_err(bad)?)),
            AeadAlg::ChaCha20Poly1305 => {
                Cipher::ChaCha20Poly1305(Box::new(ChaCha20Poly1305::new_from_slice(key).map_err(bad)?))
            }
        })
    }

    /// `AEAD.Seal(key, nonce, aad, plaintext)`, appended to `out` as ciphertext || tag.
    pub fn seal_into(&self, nonce: &[u8; AEAD_NONCE_LEN], aad: &[u8], plaintext: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(plaintext);
        let buf = out.get_mut(start..).unwrap_or_default();
        let n = nonce.into();
        // Encryption only fails for inputs longer than the AEAD's limit (2^36 bytes for GCM),
        // far above our 16 MiB chunk bound; on that impossible path we emit no tag, which no
        // reader accepts.
        let tag = match self {
            Cipher::Aes128Gcm(c) => c.encrypt_in_place_detached(n, aad, buf).ok().map(|t| t.to_vec()),
            Cipher::Aes256Gcm(c) => c.encrypt_in_place_detached(n, aad, buf).ok().map(|t| t.to_vec()),
            Cipher::ChaCha20Poly1305(c) => c.encrypt_in_place_detached(n, aad, buf).ok().map(|t| t.to_vec()),
        };
        match tag {
            Some(t) => out.extend_from_slice(&t),
            None => {
                out.truncate(start);
            }
        }
    }

    /// `AEAD.Open(key, nonce, aad, sealed)`, appending the plaintext to `out` only if the tag
    /// verifies. On failure `out` is left as it was (unverified bytes are wiped).
    pub fn open_into(
        &self,
        nonce: &[u8; AEAD_NONCE_LEN],
        aad: &[u8],
        sealed: &[u8],
        out: &mut Vec<u8>,
    ) -> core::result::Result<(), OpenError> {
        let Some(ct_len) = sealed.len().checked_sub(AEAD_TAG_LEN) else {
            return Err(OpenError);
        };
        let (ct, tag) = sealed.split_at(ct_len);
        let start = out.len();
        out.extend_from_slice(ct);
        let buf = out.get_mut(start..).unwrap_or_default();
        let n = nonce.into();
        let t = tag.into();
        let ok = match self {
            Cipher::Aes128Gcm(c) => c.decrypt_in_place_detached(n, aad, buf, t).is_ok(),
            Cipher::Aes256Gcm(c) => c.decrypt_in_place_detached(n, aad, buf, t).is_ok(),
            Cipher::ChaCha20Poly1305(c) => c.decrypt_in_place_detached(n, aad, buf, t).is_ok(),
        };
        if ok {
            Ok(())
        } else {
            // aes-gcm decrypts before it compares the tag: wipe what it wrote.
            if let Some(b) = out.get_mut(start..) {
                b.zeroize();
            }
            out.truncate(start);
            Err(OpenError)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_tamper() {
        for alg in [AeadAlg::Aes128Gcm, AeadAlg::Aes256Gcm, AeadAlg::ChaCha20Poly1305] {
            let c = Cipher::new(alg, &vec![7; alg.nk()]).unwrap();
            let mut ct = Vec::new();
            c.seal_into(&[1; 12], b"a", b"hello", &mut ct);
            assert_eq!(ct.len(), 5 + 16);
            let mut out = b"prefix".to_vec();
            c.open_into(&[1; 12], b"a", &ct, &mut out).unwrap();
            assert_eq!(out, b"prefixhello");
            ct[0] ^= 1;
            let mut out = b"prefix".to_vec();
            assert_eq!(c.open_into(&[1; 12], b"a", &ct, &mut out), Err(OpenError));
            assert_eq!(out, b"prefix");
            assert_eq!(c.open_into(&[1; 12], b"a", &ct[..15], &mut out), Err(OpenError));
        }
        assert!(Cipher::new(AeadAlg::Aes128Gcm, &[0; 32]).is_err());
    }
}
