//! RFC 9420 §17.1 cipher suites, reduced to what attachments use: Hash, KDF (HKDF over that
//! hash) and AEAD, with their sizes `Nh`, `Nk`, `Nn`.
#![forbid(unsafe_code)]

use hkdf::Hkdf;
use sha2::{Digest, Sha256, Sha384, Sha512};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// The seven cipher suites of RFC 9420 §17.1. Attachments only use their Hash, KDF and AEAD.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum CipherSuite {
    /// 0x0001 `MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519`
    Mls128Dhkemx25519Aes128gcmSha256Ed25519 = 0x0001,
    /// 0x0002 `MLS_128_DHKEMP256_AES128GCM_SHA256_P256`
    Mls128Dhkemp256Aes128gcmSha256P256 = 0x0002,
    /// 0x0003 `MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519`
    Mls128Dhkemx25519Chacha20poly1305Sha256Ed25519 = 0x0003,
    /// 0x0004 `MLS_256_DHKEMX448_AES256GCM_SHA512_Ed448`
    Mls256Dhkemx448Aes256gcmSha512Ed448 = 0x0004,
    /// 0x0005 `MLS_256_DHKEMP521_AES256GCM_SHA512_P521`
    Mls256Dhkemp521Aes256gcmSha512P521 = 0x0005,
    /// 0x0006 `MLS_256_DHKEMX448_CHACHA20POLY1305_SHA512_Ed448`
    Mls256Dhkemx448Chacha20poly1305Sha512Ed448 = 0x0006,
    /// 0x0007 `MLS_256_DHKEMP384_AES256GCM_SHA384_P384`
    Mls256Dhkemp384Aes256gcmSha384P384 = 0x0007,
}

/// The hash function of a suite (also the KDF's: HKDF-`Hash`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HashAlg {
    /// SHA-256, `Nh = 32`.
    Sha256,
    /// SHA-384, `Nh = 48`.
    Sha384,
    /// SHA-512, `Nh = 64`.
    Sha512,
}

/// The AEAD of a suite. All three have a 12-byte nonce and a 16-byte tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AeadAlg {
    /// AES-128-GCM, `Nk = 16`.
    Aes128Gcm,
    /// AES-256-GCM, `Nk = 32`.
    Aes256Gcm,
    /// ChaCha20-Poly1305, `Nk = 32`.
    ChaCha20Poly1305,
}

/// `AEAD.Nn` for every suite.
pub const AEAD_NONCE_LEN: usize = 12;
/// The AEAD tag length for every suite.
pub const AEAD_TAG_LEN: usize = 16;

impl CipherSuite {
    /// All seven suites, in code point order.
    pub const ALL: [CipherSuite; 7] = [
        CipherSuite::Mls128Dhkemx25519Aes128gcmSha256Ed25519,
        CipherSuite::Mls128Dhkemp256Aes128gcmSha256P256,
        CipherSuite::Mls128Dhkemx25519Chacha20poly1305Sha256Ed25519,
        CipherSuite::Mls256Dhkemx448Aes256gcmSha512Ed448,
        CipherSuite::Mls256Dhkemp521Aes256gcmSha512P521,
        CipherSuite::Mls256Dhkemx448Chacha20poly1305Sha512Ed448,
        CipherSuite::Mls256Dhkemp384Aes256gcmSha384P384,
    ];

    /// The suite with this RFC 9420 code point.
    pub fn from_u16(id: u16) -> Result<Self> {
        Self::ALL.iter().copied().find(|s| s.id() == id).ok_or(Error::UnknownCipherSuite(id))
    }

    /// The RFC 9420 code point.
    pub fn id(self) -> u16 {
        self as u16
    }

    /// The suite's hash function (and KDF).
    pub fn hash(self) -> HashAlg {
        use CipherSuite::*;
        match self {
            Mls128Dhkemx25519Aes128gcmSha256Ed25519
            | Mls128Dhkemp256Aes128gcmSha256P256
            | Mls128Dhkemx25519Chacha20poly1305Sha256Ed25519 => HashAlg::Sha256,
            Mls256Dhkemx448Aes256gcmSha512Ed448
            | Mls256Dhkemp521Aes256gcmSha512P521
            | Mls256Dhkemx448Chacha20poly1305Sha512Ed448 => HashAlg::Sha512,
            Mls256Dhkemp384Aes256gcmSha384P384 => HashAlg::Sha384,
        }
    }

    /// The suite's AEAD.
    pub fn aead(self) -> AeadAlg {
        use CipherSuite::*;
        match self {
            Mls128Dhkemx25519Aes128gcmSha256Ed25519 | Mls128Dhkemp256Aes128gcmSha256P256 => AeadAlg::Aes128Gcm,
            Mls128Dhkemx25519Chacha20poly1305Sha256Ed25519 | Mls256Dhkemx448Chacha20poly1305Sha512Ed448 => {
                AeadAlg::ChaCha20Poly1305
            }
            Mls256Dhkemx448Aes256gcmSha512Ed448
            | Mls256Dhkemp521Aes256gcmSha512P521
            | Mls256Dhkemp384Aes256gcmSha384P384 => AeadAlg::Aes256Gcm,
        }
    }

    /// `KDF.Nh` (= `Hash.Nh`): the size of secrets, of the random `nonce` and of `attachment_hash`.
    pub fn nh(self) -> usize {
        self.hash().nh()
    }
}

impl HashAlg {
    /// Output size in bytes.
    pub fn nh(self) -> usize {
        match self {
            HashAlg::Sha256 => 32,
            HashAlg::Sha384 => 48,
            HashAlg::Sha512 => 64,
        }
    }

    /// `Hash(data)`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        let mut h = Hasher::new(self);
        h.update(data);
        h.finalize()
    }

    /// `KDF.Extract(salt, ikm)` (RFC 5869 HKDF-Extract, as RFC 9420 writes it).
    pub fn extract(self, salt: &[u8], ikm: &[u8]) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(match self {
            HashAlg::Sha256 => Hkdf::<Sha256>::extract(Some(salt), ikm).0.to_vec(),
            HashAlg::Sha384 => Hkdf::<Sha384>::extract(Some(salt), ikm).0.to_vec(),
            HashAlg::Sha512 => Hkdf::<Sha512>::extract(Some(salt), ikm).0.to_vec(),
        })
    }

    /// `KDF.Expand(prk, info, length)` (RFC 5869 HKDF-Expand). `prk` must be at least `Nh`
    /// bytes and `length` at most `255 * Nh`.
    pub fn expand(self, prk: &[u8], info: &[u8], length: usize) -> Result<Zeroizing<Vec<u8>>> {
        let mut okm = Zeroizing::new(vec![0u8; length]);
        let res = match self {
            HashAlg::Sha256 => Hkdf::<Sha256>::from_prk(prk).map(|h| h.expand(info, &mut okm)),
            HashAlg::Sha384 => Hkdf::<Sha384>::from_prk(prk).map(|h| h.expand(info, &mut okm)),
            HashAlg::Sha512 => Hkdf::<Sha512>::from_prk(prk).map(|h| h.expand(info, &mut okm)),
        };
        match res {
            Ok(Ok(())) => Ok(okm),
            Ok(Err(_)) => Err(Error::InvalidLength {
                what: "HKDF-Expand output (at most 255 * Nh)",
                expected: 255 * self.nh(),
                got: length,
            }),
            Err(_) => Err(Error::InvalidLength {
                what: "HKDF pseudorandom key (at least Nh)",
                expected: self.nh(),
                got: prk.len(),
            }),
        }
    }
}

impl AeadAlg {
    /// `AEAD.Nk`.
    pub fn nk(self) -> usize {
        match self {
            AeadAlg::Aes128Gcm => 16,
            AeadAlg::Aes256Gcm | AeadAlg::ChaCha20Poly1305 => 32,
        }
    }

    /// `AEAD.Nn` (12 for all three).
    pub fn nn(self) -> usize {
        AEAD_NONCE_LEN
    }
}

/// An incremental `Hash`, for hashing a file piece by piece.
#[derive(Clone)]
pub enum Hasher {
    /// SHA-256 state.
    Sha256(Sha256),
    /// SHA-384 state.
    Sha384(Sha384),
    /// SHA-512 state.
    Sha512(Sha512),
}

impl Hasher {
    /// A fresh hash state.
    pub fn new(alg: HashAlg) -> Self {
        match alg {
            HashAlg::Sha256 => Hasher::Sha256(Sha256::new()),
            HashAlg::Sha384 => Hasher::Sha384(Sha384::new()),
            HashAlg::Sha512 => Hasher::Sha512(Sha512::new()),
        }
    }

    /// Absorbs `data`.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha384(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }

    /// The digest of everything absorbed.
    pub fn finalize(self) -> Vec<u8> {
        match self {
            Hasher::Sha256(h) => h.finalize().to_vec(),
            Hasher::Sha384(h) => h.finalize().to_vec(),
            Hasher::Sha512(h) => h.finalize().to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_points_round_trip_and_unknown_is_an_error() {
        for s in CipherSuite::ALL {
            assert_eq!(CipherSuite::from_u16(s.id()), Ok(s));
        }
        assert_eq!(CipherSuite::from_u16(0), Err(Error::UnknownCipherSuite(0)));
        assert_eq!(CipherSuite::from_u16(8), Err(Error::UnknownCipherSuite(8)));
        assert_eq!(CipherSuite::from_u16(0xf001), Err(Error::UnknownCipherSuite(0xf001)));
    }

    #[test]
    fn suite_parameters_match_rfc9420_table() {
        let t: Vec<(u16, usize, usize)> = CipherSuite::ALL.iter().map(|s| (s.id(), s.nh(), s.aead().nk())).collect();
        assert_eq!(t, vec![(1, 32, 16), (2, 32, 16), (3, 32, 32), (4, 64, 32), (5, 64, 32), (6, 64, 32), (7, 48, 32)]);
    }

    #[test]
    fn expand_rejects_short_prk_and_overlong_output() {
        assert!(matches!(HashAlg::Sha256.expand(&[0; 31], b"", 32), Err(Error::InvalidLength { .. })));
        assert!(matches!(HashAlg::Sha256.expand(&[0; 32], b"", 255 * 32 + 1), Err(Error::InvalidLength { .. })));
        assert_eq!(HashAlg::Sha256.expand(&[0; 32], b"", 255 * 32).map(|v| v.len()), Ok(255 * 32));
    }
}
