//! The package's openmls crypto provider for suites 1-3 (`mls::SuiteCrypto`, src/mls/crypto.rs)
//! against openmls_rust_crypto's, natively and in headless Chromium: the same HPKE key pairs from
//! the same input keying material, HPKE and signatures across the two both ways, the same KDF,
//! hash and AEAD outputs, other suites refused; and signature keys stored in the layout of
//! openmls_basic_credential, so client states exported before still import.
//! (Across an independent MLS implementation: tests/interop/run.mjs, ts-mls.)

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use mimi_attachments::mls::{SignatureKeys, SuiteCrypto};
use openmls_basic_credential::SignatureKeyPair;
use openmls_memory_storage::MemoryStorage;
use openmls_rust_crypto::RustCrypto;
use openmls_traits::crypto::OpenMlsCrypto;
use openmls_traits::signatures::Signer;
use openmls_traits::types::{AeadType, Ciphersuite, HashType};

const SUITES: [Ciphersuite; 3] = [
    Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519,
    Ciphersuite::MLS_128_DHKEMP256_AES128GCM_SHA256_P256,
    Ciphersuite::MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519,
];

#[test]
fn hpke_and_signatures_cross_openmls_rust_crypto_both_ways() {
    let (ours, theirs) = (SuiteCrypto, RustCrypto::default());
    for cs in SUITES {
        let config = || cs.hpke_config();
        let ikm = [7u8; 32];
        let a = ours.derive_hpke_keypair(config(), &ikm).expect("ours derives");
        let b = theirs.derive_hpke_keypair(config(), &ikm).expect("theirs derives");
        assert_eq!(a.public, b.public, "{cs:?}");
        assert_eq!(&a.private[..], &b.private[..], "{cs:?}");

        let ct = ours.hpke_seal(config(), &a.public, b"info", b"aad", b"welcome secrets").expect("seal");
        assert_eq!(theirs.hpke_open(config(), &ct, &b.private, b"info", b"aad").expect("open"), b"welcome secrets");
        let ct = theirs.hpke_seal(config(), &b.public, b"info", b"aad", b"path secret").expect("seal");
        assert_eq!(ours.hpke_open(config(), &ct, &a.private, b"info", b"aad").expect("open"), b"path secret");
        assert!(ours.hpke_open(config(), &ct, &a.private, b"info", b"other aad").is_err(), "{cs:?}");

        let (enc, s1) = ours.hpke_setup_sender_and_export(config(), &a.public, b"i", b"ctx", 32).expect("export");
        let s2 = theirs.hpke_setup_receiver_and_export(config(), &enc, &b.private, b"i", b"ctx", 32).expect("export");
        assert_eq!(&s1[..], &s2[..]);

        let scheme = cs.signature_algorithm();
        let (sk, pk) = ours.signature_key_gen(scheme).expect("keygen");
        let sig = ours.sign(scheme, b"framed content", &sk).expect("sign");
        theirs.verify_signature(scheme, b"framed content", &pk, &sig).expect("theirs verifies ours");
        assert!(theirs.verify_signature(scheme, b"other content", &pk, &sig).is_err());
        let (sk2, pk2) = theirs.signature_key_gen(scheme).expect("keygen");
        let sig2 = theirs.sign(scheme, b"commit", &sk2).expect("sign");
        ours.verify_signature(scheme, b"commit", &pk2, &sig2).expect("ours verifies theirs");
        assert!(ours.verify_signature(scheme, b"commit", &pk, &sig2).is_err());
    }
}

#[test]
fn kdf_hash_and_aead_match_and_other_suites_are_refused() {
    let (ours, theirs) = (SuiteCrypto, RustCrypto::default());
    let h = HashType::Sha2_256;
    assert_eq!(ours.hash(h, b"x").expect("hash"), theirs.hash(h, b"x").expect("hash"));
    let prk = ours.hkdf_extract(h, b"salt", b"ikm").expect("extract");
    assert_eq!(prk.as_slice(), theirs.hkdf_extract(h, b"salt", b"ikm").expect("extract").as_slice());
    let okm = ours.hkdf_expand(h, prk.as_slice(), b"info", 80).expect("expand");
    assert_eq!(okm.as_slice(), theirs.hkdf_expand(h, prk.as_slice(), b"info", 80).expect("expand").as_slice());
    assert!(ours.hkdf_expand(h, prk.as_slice(), b"info", 255 * 32 + 1).is_err());
    assert_eq!(
        ours.hmac(h, b"key", b"msg").expect("hmac").as_slice(),
        theirs.hmac(h, b"key", b"msg").expect("hmac").as_slice()
    );
    for (alg, key) in [(AeadType::Aes128Gcm, vec![1u8; 16]), (AeadType::ChaCha20Poly1305, vec![2u8; 32])] {
        let ct = ours.aead_encrypt(alg, &key, b"data", &[3; 12], b"aad").expect("seal");
        assert_eq!(ct, theirs.aead_encrypt(alg, &key, b"data", &[3; 12], b"aad").expect("seal"));
        assert_eq!(ours.aead_decrypt(alg, &key, &ct, &[3; 12], b"aad").expect("open"), b"data");
        assert!(ours.aead_decrypt(alg, &key, &ct, &[3; 12], b"bad").is_err());
    }
    assert!(ours.hash(HashType::Sha2_384, b"x").is_err());
    assert!(ours.aead_encrypt(AeadType::Aes256Gcm, &[0; 32], b"", &[0; 12], b"").is_err());
    assert_eq!(ours.supported_ciphersuites(), SUITES.to_vec());
    assert!(ours.supports(Ciphersuite::MLS_256_DHKEMP384_AES256GCM_SHA384_P384).is_err());
    assert!(ours.supports(Ciphersuite::MLS_128_DHKEMP256_AES128GCM_SHA256_P256).is_ok());
}

#[test]
fn signature_keys_use_basic_credentials_stored_form() {
    for cs in SUITES {
        let scheme = cs.signature_algorithm();
        // A key pair stored by openmls_basic_credential (client states exported before) ...
        let store = MemoryStorage::default();
        let old = SignatureKeyPair::new(scheme).expect("keygen");
        old.store(&store).expect("store");
        let read = SignatureKeys::read(&store, old.public(), scheme).expect("ours reads it");
        assert_eq!(read.public(), old.public());
        let sig = read.sign(b"payload").expect("sign");
        RustCrypto::default().verify_signature(scheme, b"payload", old.public(), &sig).expect("verifies");
        // ... and ours, read by it.
        let store = MemoryStorage::default();
        let new = SignatureKeys::new(scheme).expect("keygen");
        new.store(&store).expect("store");
        let back = SignatureKeyPair::read(&store, new.public(), scheme).expect("basic credential reads ours");
        assert_eq!(back.public(), new.public());
        assert!(SignatureKeys::read(&store, new.public(), scheme).is_some());
        assert!(SignatureKeys::read(&store, old.public(), scheme).is_none());
    }
}
