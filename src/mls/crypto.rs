//! The openmls crypto provider of the package, limited to the cipher suites it offers (RFC 9420
//! suites 1-3: X25519 or P-256 HPKE, SHA-256, AES-128-GCM or ChaCha20-Poly1305, Ed25519 or ECDSA
//! P-256). openmls_rust_crypto's provider also carries P-384, secp256k1, ML-KEM, X-Wing, ML-DSA
//! and SHA-384/512 code that those suites never run but the module would ship.
//!
//! HPKE (RFC 9180) is hpke-rs over [`SuiteHpke`], the primitives below; randomness is the
//! platform's (`getrandom`: `crypto.getRandomValues` in the browser), never a panic when it fails.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::Aes128Gcm;
use chacha20poly1305::ChaCha20Poly1305;
use hkdf::Hkdf;
use hpke_rs::{Hpke, HpkeError, Mode};
use hpke_rs_crypto::error::Error as HpkeCryptoError;
use hpke_rs_crypto::types::{AeadAlgorithm, KdfAlgorithm, KemAlgorithm};
use hpke_rs_crypto::{HpkeCrypto, HpkeTestRng};
use openmls_traits::crypto::OpenMlsCrypto;
use openmls_traits::random::OpenMlsRand;
use openmls_traits::types::{
    AeadType, Ciphersuite, CryptoError, ExporterSecret, HashType, HpkeAeadType, HpkeCiphertext, HpkeConfig,
    HpkeKdfType, HpkeKemType, HpkeKeyPair, SignatureScheme,
};
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::elliptic_curve::sec1::ToEncodedPoint as _;
use sha2::{Digest, Sha256};
use tls_codec::SecretVLBytes;
use zeroize::{Zeroize, Zeroizing};

/// The suites this provider runs.
pub const SUITES: [Ciphersuite; 3] = [
    Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519,
    Ciphersuite::MLS_128_DHKEMP256_AES128GCM_SHA256_P256,
    Ciphersuite::MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519,
];

/// Random bytes from the platform.
fn fill_random(out: &mut [u8]) -> Result<(), CryptoError> {
    getrandom::fill(out).map_err(|_| CryptoError::InsufficientRandomness)
}

/// A fresh P-256 scalar: 32 random bytes, drawn again in the (2^-32) case they are not one.
fn p256_secret() -> Result<p256::SecretKey, CryptoError> {
    let mut b = Zeroizing::new([0u8; 32]);
    for _ in 0..8 {
        fill_random(&mut b[..])?;
        if let Ok(sk) = p256::SecretKey::from_slice(&b[..]) {
            return Ok(sk);
        }
    }
    Err(CryptoError::InsufficientRandomness)
}

fn sha256_only(h: HashType) -> Result<(), CryptoError> {
    match h {
        HashType::Sha2_256 => Ok(()),
        _ => Err(CryptoError::UnsupportedHashAlgorithm),
    }
}

/// openmls' crypto for suites 1-3 (stateless: every random byte comes from `getrandom`).
#[derive(Debug, Default, Clone, Copy)]
pub struct SuiteCrypto;

/// openmls' randomness failed (the platform's random source).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the platform's random source failed")]
pub struct RandError;

impl OpenMlsRand for SuiteCrypto {
    type Error = RandError;

    fn random_array<const N: usize>(&self) -> Result<[u8; N], RandError> {
        let mut out = [0u8; N];
        getrandom::fill(&mut out).map_err(|_| RandError)?;
        Ok(out)
    }

    fn random_vec(&self, len: usize) -> Result<Vec<u8>, RandError> {
        let mut out = vec![0u8; len];
        getrandom::fill(&mut out).map_err(|_| RandError)?;
        Ok(out)
    }
}

fn hpke(config: HpkeConfig) -> Result<Hpke<SuiteHpke>, CryptoError> {
    let kem = match config.0 {
        HpkeKemType::DhKem25519 => KemAlgorithm::DhKem25519,
        HpkeKemType::DhKemP256 => KemAlgorithm::DhKemP256,
        _ => return Err(CryptoError::UnsupportedCiphersuite),
    };
    let kdf = match config.1 {
        HpkeKdfType::HkdfSha256 => KdfAlgorithm::HkdfSha256,
        _ => return Err(CryptoError::UnsupportedKdf),
    };
    let aead = match config.2 {
        HpkeAeadType::AesGcm128 => AeadAlgorithm::Aes128Gcm,
        HpkeAeadType::ChaCha20Poly1305 => AeadAlgorithm::ChaCha20Poly1305,
        HpkeAeadType::Export => AeadAlgorithm::HpkeExport,
        HpkeAeadType::AesGcm256 => return Err(CryptoError::UnsupportedAeadAlgorithm),
    };
    Ok(Hpke::new(Mode::Base, kem, kdf, aead))
}

fn aead_seal(alg: AeadType, key: &[u8], nonce: &[u8], aad: &[u8], msg: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if nonce.len() != 12 {
        return Err(CryptoError::InvalidLength);
    }
    let payload = Payload { msg, aad };
    match alg {
        AeadType::Aes128Gcm => Aes128Gcm::new_from_slice(key)
            .map_err(|_| CryptoError::InvalidLength)?
            .encrypt(nonce.into(), payload)
            .map_err(|_| CryptoError::CryptoLibraryError),
        AeadType::ChaCha20Poly1305 => ChaCha20Poly1305::new_from_slice(key)
            .map_err(|_| CryptoError::InvalidLength)?
            .encrypt(nonce.into(), payload)
            .map_err(|_| CryptoError::CryptoLibraryError),
        AeadType::Aes256Gcm => Err(CryptoError::UnsupportedAeadAlgorithm),
    }
}

fn aead_open(alg: AeadType, key: &[u8], nonce: &[u8], aad: &[u8], msg: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if nonce.len() != 12 {
        return Err(CryptoError::InvalidLength);
    }
    let payload = Payload { msg, aad };
    match alg {
        AeadType::Aes128Gcm => Aes128Gcm::new_from_slice(key)
            .map_err(|_| CryptoError::InvalidLength)?
            .decrypt(nonce.into(), payload)
            .map_err(|_| CryptoError::AeadDecryptionError),
        AeadType::ChaCha20Poly1305 => ChaCha20Poly1305::new_from_slice(key)
            .map_err(|_| CryptoError::InvalidLength)?
            .decrypt(nonce.into(), payload)
            .map_err(|_| CryptoError::AeadDecryptionError),
        AeadType::Aes256Gcm => Err(CryptoError::UnsupportedAeadAlgorithm),
    }
}

/// `(private, public)` signature key bytes for `alg`: Ed25519 (32-byte seed, 32-byte key) or
/// ECDSA P-256 (32-byte scalar, uncompressed SEC1 point), as openmls' basic credential keeps them.
pub fn signature_key_gen(alg: SignatureScheme) -> Result<(Vec<u8>, Vec<u8>), CryptoError> {
    match alg {
        SignatureScheme::ED25519 => {
            let mut seed = Zeroizing::new([0u8; 32]);
            fill_random(&mut seed[..])?;
            let sk = ed25519_dalek::SigningKey::from_bytes(&seed);
            Ok((seed.to_vec(), sk.verifying_key().to_bytes().to_vec()))
        }
        SignatureScheme::ECDSA_SECP256R1_SHA256 => {
            let sk = p256_secret()?;
            let public = p256::ecdsa::VerifyingKey::from(&p256::ecdsa::SigningKey::from(&sk));
            Ok((sk.to_bytes().to_vec(), public.to_encoded_point(false).as_bytes().to_vec()))
        }
        _ => Err(CryptoError::UnsupportedSignatureScheme),
    }
}

/// Signs `data` with a private key from [`signature_key_gen`] (ECDSA signatures DER-encoded, as
/// RFC 9420 §5.1.2 requires).
pub fn sign(alg: SignatureScheme, data: &[u8], key: &[u8]) -> Result<Vec<u8>, CryptoError> {
    match alg {
        SignatureScheme::ED25519 => {
            let k = ed25519_dalek::SigningKey::try_from(key).map_err(|_| CryptoError::InvalidLength)?;
            Ok(k.sign(data).to_bytes().to_vec())
        }
        SignatureScheme::ECDSA_SECP256R1_SHA256 => {
            let k = p256::ecdsa::SigningKey::from_slice(key).map_err(|_| CryptoError::InvalidLength)?;
            let s: p256::ecdsa::Signature = k.sign(data);
            Ok(s.to_der().as_bytes().to_vec())
        }
        _ => Err(CryptoError::UnsupportedSignatureScheme),
    }
}

impl OpenMlsCrypto for SuiteCrypto {
    fn supports(&self, ciphersuite: Ciphersuite) -> Result<(), CryptoError> {
        if SUITES.contains(&ciphersuite) {
            Ok(())
        } else {
            Err(CryptoError::UnsupportedCiphersuite)
        }
    }

    fn supported_ciphersuites(&self) -> Vec<Ciphersuite> {
        SUITES.to_vec()
    }

    fn hkdf_extract(&self, hash_type: HashType, salt: &[u8], ikm: &[u8]) -> Result<SecretVLBytes, CryptoError> {
        sha256_only(hash_type)?;
        let (prk, _) = Hkdf::<Sha256>::extract(Some(salt), ikm);
        Ok(prk.as_slice().into())
    }

    fn hmac(&self, hash_type: HashType, key: &[u8], message: &[u8]) -> Result<SecretVLBytes, CryptoError> {
        use hmac::{KeyInit as _, Mac as _};
        sha256_only(hash_type)?;
        let mut m = hmac::Hmac::<Sha256>::new_from_slice(key).map_err(|_| CryptoError::InvalidLength)?;
        m.update(message);
        Ok(m.finalize().into_bytes().as_slice().into())
    }

    fn hkdf_expand(
        &self,
        hash_type: HashType,
        prk: &[u8],
        info: &[u8],
        okm_len: usize,
    ) -> Result<SecretVLBytes, CryptoError> {
        sha256_only(hash_type)?;
        let h = Hkdf::<Sha256>::from_prk(prk).map_err(|_| CryptoError::HkdfOutputLengthInvalid)?;
        let mut okm = vec![0u8; okm_len];
        h.expand(info, &mut okm).map_err(|_| CryptoError::HkdfOutputLengthInvalid)?;
        let out = okm.as_slice().into();
        okm.zeroize();
        Ok(out)
    }

    fn hash(&self, hash_type: HashType, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        sha256_only(hash_type)?;
        Ok(Sha256::digest(data).to_vec())
    }

    fn aead_encrypt(
        &self,
        alg: AeadType,
        key: &[u8],
        data: &[u8],
        nonce: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        aead_seal(alg, key, nonce, aad, data)
    }

    fn aead_decrypt(
        &self,
        alg: AeadType,
        key: &[u8],
        ct_tag: &[u8],
        nonce: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        aead_open(alg, key, nonce, aad, ct_tag)
    }

    fn signature_key_gen(&self, alg: SignatureScheme) -> Result<(Vec<u8>, Vec<u8>), CryptoError> {
        signature_key_gen(alg)
    }

    fn verify_signature(
        &self,
        alg: SignatureScheme,
        data: &[u8],
        pk: &[u8],
        signature: &[u8],
    ) -> Result<(), CryptoError> {
        match alg {
            SignatureScheme::ED25519 => {
                let k = ed25519_dalek::VerifyingKey::try_from(pk).map_err(|_| CryptoError::InvalidPublicKey)?;
                let s = ed25519_dalek::Signature::from_slice(signature).map_err(|_| CryptoError::InvalidSignature)?;
                k.verify_strict(data, &s).map_err(|_| CryptoError::InvalidSignature)
            }
            SignatureScheme::ECDSA_SECP256R1_SHA256 => {
                let k = p256::ecdsa::VerifyingKey::from_sec1_bytes(pk).map_err(|_| CryptoError::InvalidPublicKey)?;
                let s = p256::ecdsa::Signature::from_der(signature).map_err(|_| CryptoError::InvalidSignature)?;
                k.verify(data, &s).map_err(|_| CryptoError::InvalidSignature)
            }
            _ => Err(CryptoError::UnsupportedSignatureScheme),
        }
    }

    fn sign(&self, alg: SignatureScheme, data: &[u8], key: &[u8]) -> Result<Vec<u8>, CryptoError> {
        sign(alg, data, key)
    }

    fn hpke_seal(
        &self,
        config: HpkeConfig,
        pk_r: &[u8],
        info: &[u8],
        aad: &[u8],
        ptxt: &[u8],
    ) -> Result<HpkeCiphertext, CryptoError> {
        let (kem_output, ciphertext) =
            hpke(config)?.seal(&pk_r.into(), info, aad, ptxt, None, None, None).map_err(|e| match e {
                HpkeError::InvalidInput => CryptoError::InvalidLength,
                HpkeError::InsufficientRandomness => CryptoError::InsufficientRandomness,
                _ => CryptoError::HpkeEncryptionError,
            })?;
        Ok(HpkeCiphertext { kem_output: kem_output.into(), ciphertext: ciphertext.into() })
    }

    fn hpke_open(
        &self,
        config: HpkeConfig,
        input: &HpkeCiphertext,
        sk_r: &[u8],
        info: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        hpke(config)?
            .open(input.kem_output.as_slice(), &sk_r.into(), info, aad, input.ciphertext.as_slice(), None, None, None)
            .map_err(|_| CryptoError::HpkeDecryptionError)
    }

    fn hpke_setup_sender_and_export(
        &self,
        config: HpkeConfig,
        pk_r: &[u8],
        info: &[u8],
        exporter_context: &[u8],
        exporter_length: usize,
    ) -> Result<(Vec<u8>, ExporterSecret), CryptoError> {
        let (kem_output, context) = hpke(config)?
            .setup_sender(&pk_r.into(), info, None, None, None)
            .map_err(|_| CryptoError::SenderSetupError)?;
        let secret = context.export(exporter_context, exporter_length).map_err(|_| CryptoError::ExporterError)?;
        Ok((kem_output, secret.into()))
    }

    fn hpke_setup_receiver_and_export(
        &self,
        config: HpkeConfig,
        enc: &[u8],
        sk_r: &[u8],
        info: &[u8],
        exporter_context: &[u8],
        exporter_length: usize,
    ) -> Result<ExporterSecret, CryptoError> {
        let context = hpke(config)?
            .setup_receiver(enc, &sk_r.into(), info, None, None, None)
            .map_err(|_| CryptoError::ReceiverSetupError)?;
        let secret = context.export(exporter_context, exporter_length).map_err(|_| CryptoError::ExporterError)?;
        Ok(secret.into())
    }

    fn derive_hpke_keypair(&self, config: HpkeConfig, ikm: &[u8]) -> Result<HpkeKeyPair, CryptoError> {
        let (private, public) = hpke(config)?
            .derive_key_pair(ikm)
            .map_err(|e| match e {
                HpkeError::InvalidInput => CryptoError::InvalidLength,
                _ => CryptoError::CryptoLibraryError,
            })?
            .into_keys();
        Ok(HpkeKeyPair { private: private.as_slice().into(), public: public.as_slice().into() })
    }
}

/// hpke-rs' primitives for the suites' HPKE: DHKEM(X25519 | P-256, HKDF-SHA256), HKDF-SHA256,
/// AES-128-GCM, ChaCha20-Poly1305 and the export-only AEAD.
#[derive(Debug)]
pub struct SuiteHpke;

/// The randomness hpke-rs draws (ephemeral keys): the platform's. A failure is remembered and
/// turned into `InsufficientRandomness` by the key generation that used the bytes.
#[derive(Debug, Default)]
pub struct SuitePrng {
    failed: bool,
}

impl Zeroize for SuitePrng {
    fn zeroize(&mut self) {} // no state: every byte comes straight from the platform
}

impl rand_core::TryRng for SuitePrng {
    type Error = core::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0u8; 4];
        self.fill(&mut b);
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0u8; 8];
        self.fill(&mut b);
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        self.fill(dst);
        Ok(())
    }
}

impl rand_core::TryCryptoRng for SuitePrng {}

impl SuitePrng {
    fn fill(&mut self, dst: &mut [u8]) {
        if getrandom::fill(dst).is_err() {
            dst.fill(0);
            self.failed = true;
        }
    }
}

impl HpkeTestRng for SuitePrng {
    type Error = getrandom::Error;

    fn try_fill_test_bytes(&mut self, dest: &mut [u8]) -> Result<(), getrandom::Error> {
        getrandom::fill(dest)
    }

    fn seed(&mut self, _: &[u8]) {}
}

fn x25519_secret(sk: &[u8]) -> Result<x25519_dalek::StaticSecret, HpkeCryptoError> {
    let b: [u8; 32] = sk.try_into().map_err(|_| HpkeCryptoError::KemInvalidSecretKey)?;
    Ok(x25519_dalek::StaticSecret::from(b))
}

impl HpkeCrypto for SuiteHpke {
    type HpkePrng = SuitePrng;

    fn name() -> String {
        "mimi-attachments suites 1-3".into()
    }

    fn supports_kdf(alg: KdfAlgorithm) -> Result<(), HpkeCryptoError> {
        match alg {
            KdfAlgorithm::HkdfSha256 => Ok(()),
            _ => Err(HpkeCryptoError::UnknownKdfAlgorithm),
        }
    }

    fn supports_kem(alg: KemAlgorithm) -> Result<(), HpkeCryptoError> {
        match alg {
            KemAlgorithm::DhKem25519 | KemAlgorithm::DhKemP256 => Ok(()),
            _ => Err(HpkeCryptoError::UnknownKemAlgorithm),
        }
    }

    fn supports_aead(alg: AeadAlgorithm) -> Result<(), HpkeCryptoError> {
        match alg {
            AeadAlgorithm::Aes128Gcm | AeadAlgorithm::ChaCha20Poly1305 | AeadAlgorithm::HpkeExport => Ok(()),
            AeadAlgorithm::Aes256Gcm => Err(HpkeCryptoError::UnknownAeadAlgorithm),
        }
    }

    fn prng() -> SuitePrng {
        SuitePrng::default()
    }

    fn kdf_extract(alg: KdfAlgorithm, salt: &[u8], ikm: &[u8]) -> Result<Vec<u8>, HpkeCryptoError> {
        Self::supports_kdf(alg)?;
        Ok(Hkdf::<Sha256>::extract(Some(salt), ikm).0.to_vec())
    }

    fn kdf_expand(alg: KdfAlgorithm, prk: &[u8], info: &[u8], output_size: usize) -> Result<Vec<u8>, HpkeCryptoError> {
        Self::supports_kdf(alg)?;
        let h = Hkdf::<Sha256>::from_prk(prk).map_err(|_| HpkeCryptoError::HpkeInvalidOutputLength)?;
        let mut okm = vec![0u8; output_size];
        h.expand(info, &mut okm).map_err(|_| HpkeCryptoError::HpkeInvalidOutputLength)?;
        Ok(okm)
    }

    fn dh(alg: KemAlgorithm, pk: &[u8], sk: &[u8]) -> Result<Vec<u8>, HpkeCryptoError> {
        match alg {
            KemAlgorithm::DhKem25519 => {
                let pk: [u8; 32] = pk.try_into().map_err(|_| HpkeCryptoError::KemInvalidPublicKey)?;
                let shared = x25519_secret(sk)?.diffie_hellman(&x25519_dalek::PublicKey::from(pk));
                // RFC 9180 §7.1.4: an all-zero X25519 output (a small-order point) is an error.
                if !shared.was_contributory() {
                    return Err(HpkeCryptoError::KemInvalidPublicKey);
                }
                Ok(shared.as_bytes().to_vec())
            }
            KemAlgorithm::DhKemP256 => {
                let sk = p256::SecretKey::from_slice(sk).map_err(|_| HpkeCryptoError::KemInvalidSecretKey)?;
                let pk = p256::PublicKey::from_sec1_bytes(pk).map_err(|_| HpkeCryptoError::KemInvalidPublicKey)?;
                let shared = p256::ecdh::diffie_hellman(sk.to_nonzero_scalar(), pk.as_affine());
                Ok(shared.raw_secret_bytes().to_vec())
            }
            _ => Err(HpkeCryptoError::UnknownKemAlgorithm),
        }
    }

    fn secret_to_public(alg: KemAlgorithm, sk: &[u8]) -> Result<Vec<u8>, HpkeCryptoError> {
        match alg {
            KemAlgorithm::DhKem25519 => Ok(x25519_dalek::PublicKey::from(&x25519_secret(sk)?).as_bytes().to_vec()),
            KemAlgorithm::DhKemP256 => {
                let sk = p256::SecretKey::from_slice(sk).map_err(|_| HpkeCryptoError::KemInvalidSecretKey)?;
                Ok(sk.public_key().to_encoded_point(false).as_bytes().to_vec())
            }
            _ => Err(HpkeCryptoError::UnknownKemAlgorithm),
        }
    }

    fn kem_key_gen(alg: KemAlgorithm, prng: &mut SuitePrng) -> Result<(Vec<u8>, Vec<u8>), HpkeCryptoError> {
        let mut sk = Zeroizing::new([0u8; 32]);
        let pair = match alg {
            KemAlgorithm::DhKem25519 => {
                prng.fill(&mut sk[..]);
                (Self::secret_to_public(alg, &sk[..])?, sk.to_vec())
            }
            KemAlgorithm::DhKemP256 => {
                let mut found = None;
                for _ in 0..8 {
                    prng.fill(&mut sk[..]);
                    if let Ok(s) = p256::SecretKey::from_slice(&sk[..]) {
                        found = Some(s);
                        break;
                    }
                }
                let s = found.ok_or(HpkeCryptoError::InsufficientRandomness)?;
                (s.public_key().to_encoded_point(false).as_bytes().to_vec(), s.to_bytes().to_vec())
            }
            _ => return Err(HpkeCryptoError::UnknownKemAlgorithm),
        };
        if prng.failed {
            return Err(HpkeCryptoError::InsufficientRandomness);
        }
        Ok(pair)
    }

    fn kem_key_gen_derand(_: KemAlgorithm, _: &[u8]) -> Result<(Vec<u8>, Vec<u8>), HpkeCryptoError> {
        Err(HpkeCryptoError::UnsupportedKemOperation) // post-quantum KEMs only
    }

    fn kem_encaps(_: KemAlgorithm, _: &[u8], _: &mut SuitePrng) -> Result<(Vec<u8>, Vec<u8>), HpkeCryptoError> {
        Err(HpkeCryptoError::UnsupportedKemOperation) // post-quantum KEMs only (DHKEM is hpke-rs')
    }

    fn kem_decaps(_: KemAlgorithm, _: &[u8], _: &[u8]) -> Result<Vec<u8>, HpkeCryptoError> {
        Err(HpkeCryptoError::UnsupportedKemOperation)
    }

    fn dh_validate_sk(alg: KemAlgorithm, sk: &[u8]) -> Result<Vec<u8>, HpkeCryptoError> {
        match alg {
            KemAlgorithm::DhKemP256 => {
                p256::SecretKey::from_slice(sk).map_err(|_| HpkeCryptoError::KemInvalidSecretKey)?;
                Ok(sk.to_vec())
            }
            _ => Err(HpkeCryptoError::UnknownKemAlgorithm),
        }
    }

    fn aead_seal(
        alg: AeadAlgorithm,
        key: &[u8],
        nonce: &[u8],
        aad: &[u8],
        msg: &[u8],
    ) -> Result<Vec<u8>, HpkeCryptoError> {
        let a = match alg {
            AeadAlgorithm::Aes128Gcm => AeadType::Aes128Gcm,
            AeadAlgorithm::ChaCha20Poly1305 => AeadType::ChaCha20Poly1305,
            _ => return Err(HpkeCryptoError::UnknownAeadAlgorithm),
        };
        aead_seal(a, key, nonce, aad, msg).map_err(|e| HpkeCryptoError::CryptoLibraryError(format!("{e:?}")))
    }

    fn aead_open(
        alg: AeadAlgorithm,
        key: &[u8],
        nonce: &[u8],
        aad: &[u8],
        msg: &[u8],
    ) -> Result<Vec<u8>, HpkeCryptoError> {
        let a = match alg {
            AeadAlgorithm::Aes128Gcm => AeadType::Aes128Gcm,
            AeadAlgorithm::ChaCha20Poly1305 => AeadType::ChaCha20Poly1305,
            _ => return Err(HpkeCryptoError::UnknownAeadAlgorithm),
        };
        aead_open(a, key, nonce, aad, msg).map_err(|_| HpkeCryptoError::AeadOpenError)
    }
}

/// The client's signature key pair, kept in the openmls store. Its stored form (serde field
/// names, storage id) is that of `openmls_basic_credential::SignatureKeyPair`, so client states
/// exported before this type existed still import.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct SignatureKeys {
    #[serde(with = "secret_bytes")]
    private: SecretVLBytes,
    public: Vec<u8>,
    signature_scheme: SignatureScheme,
}

mod secret_bytes {
    use tls_codec::SecretVLBytes;
    use zeroize::Zeroizing;

    pub fn serialize<S: serde::Serializer>(v: &SecretVLBytes, s: S) -> Result<S::Ok, S::Error> {
        serde::Serialize::serialize(v.as_slice(), s)
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SecretVLBytes, D::Error> {
        let b: Zeroizing<Vec<u8>> = Zeroizing::new(serde::Deserialize::deserialize(d)?);
        Ok(b.as_slice().into())
    }
}

impl core::fmt::Debug for SignatureKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SignatureKeys").field("public", &self.public).finish_non_exhaustive()
    }
}

/// The store key of a signature key pair (basic credential's layout: public key, a label, the
/// scheme).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct StorageId {
    value: Vec<u8>,
}

impl StorageId {
    fn of(public: &[u8], scheme: SignatureScheme) -> Self {
        let mut value = public.to_vec();
        value.extend_from_slice(b"RustCryptoSignatureKey");
        value.extend_from_slice(&(scheme as u16).to_be_bytes());
        Self { value }
    }
}

use openmls_traits::storage::{self as st, StorageProvider, CURRENT_VERSION};
impl st::Key<CURRENT_VERSION> for StorageId {}
impl st::traits::SignaturePublicKey<CURRENT_VERSION> for StorageId {}
impl st::Entity<CURRENT_VERSION> for SignatureKeys {}
impl st::traits::SignatureKeyPair<CURRENT_VERSION> for SignatureKeys {}

impl SignatureKeys {
    /// A fresh key pair for `scheme` (Ed25519 or ECDSA P-256).
    pub fn new(scheme: SignatureScheme) -> Result<Self, CryptoError> {
        let (private, public) = signature_key_gen(scheme)?;
        let private = Zeroizing::new(private);
        Ok(Self { private: private.as_slice().into(), public, signature_scheme: scheme })
    }

    /// Writes the pair to the store.
    pub fn store<S: StorageProvider<CURRENT_VERSION>>(&self, store: &S) -> Result<(), S::Error> {
        store.write_signature_key_pair(&StorageId::of(&self.public, self.signature_scheme), self)
    }

    /// The pair stored for `public` and `scheme`, if any.
    pub fn read(store: &impl StorageProvider<CURRENT_VERSION>, public: &[u8], scheme: SignatureScheme) -> Option<Self> {
        store.signature_key_pair(&StorageId::of(public, scheme)).ok().flatten()
    }

    /// The public key.
    pub fn public(&self) -> &[u8] {
        &self.public
    }

    /// The signature scheme.
    pub fn signature_scheme(&self) -> SignatureScheme {
        self.signature_scheme
    }
}

impl openmls_traits::signatures::Signer for SignatureKeys {
    fn sign(&self, payload: &[u8]) -> Result<Vec<u8>, openmls_traits::signatures::SignerError> {
        sign(self.signature_scheme, payload, self.private.as_slice())
            .map_err(openmls_traits::signatures::SignerError::CryptoError)
    }

    fn signature_scheme(&self) -> SignatureScheme {
        self.signature_scheme
    }
}
