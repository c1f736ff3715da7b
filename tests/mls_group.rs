//! A real two-member openmls group (Alice adds Bob, Bob joins from the Welcome): both sides
//! derive the same `attachment_key`/`attachment_nonce` from the group (draft §3.6), and any change
//! of sender index, hash, nonce or epoch changes them. Runs natively and in headless Chromium,
//! for every suite openmls' RustCrypto provider can run a group in (0x0001, 0x0002, 0x0003).

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use mimi_attachments::schedule::{attachment_hash, random_nonce};
use mimi_attachments::stream::{open_chunked, seal_chunked, ChunkSize};
use mimi_attachments::{AttachmentKeys, CipherSuite};
use openmls::prelude::tls_codec::{Deserialize as _, Serialize as _};
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;

struct Client {
    provider: OpenMlsRustCrypto,
    signer: SignatureKeyPair,
    credential: CredentialWithKey,
}

fn client(name: &str, cs: Ciphersuite) -> Client {
    let provider = OpenMlsRustCrypto::default();
    let signer = SignatureKeyPair::new(cs.signature_algorithm()).expect("signature key");
    signer.store(provider.storage()).expect("store signer");
    let credential = CredentialWithKey {
        credential: BasicCredential::new(name.as_bytes().to_vec()).into(),
        signature_key: signer.public().into(),
    };
    Client { provider, signer, credential }
}

/// Sends a message over the "wire": TLS-serialize and parse, as a Delivery Service would relay it.
fn wire(m: &MlsMessageOut) -> MlsMessageIn {
    let bytes = m.tls_serialize_detached().expect("serialize");
    MlsMessageIn::tls_deserialize_exact(bytes).expect("deserialize")
}

fn alice_and_bob(cs: Ciphersuite) -> (Client, MlsGroup, Client, MlsGroup) {
    let alice = client("alice", cs);
    let bob = client("bob", cs);
    let kp = KeyPackage::builder().build(cs, &bob.provider, &bob.signer, bob.credential.clone()).expect("key package");
    let kp_in = KeyPackageIn::tls_deserialize_exact(kp.key_package().tls_serialize_detached().expect("kp bytes"))
        .expect("kp in");
    let kp = kp_in.validate(bob.provider.crypto(), ProtocolVersion::Mls10).expect("valid key package");
    let config = MlsGroupCreateConfig::builder()
        .ciphersuite(cs)
        .use_ratchet_tree_extension(true)
        .wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
        .build();
    let mut ag = MlsGroup::new(&alice.provider, &alice.signer, &config, alice.credential.clone()).expect("group");
    let (_commit, welcome, _gi) = ag.add_members(&alice.provider, &alice.signer, &[kp]).expect("add bob");
    ag.merge_pending_commit(&alice.provider).expect("merge");
    let MlsMessageBodyIn::Welcome(welcome) = wire(&welcome).extract() else { panic!("not a welcome") };
    let join = MlsGroupJoinConfig::builder().wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY).build();
    let bg = StagedWelcome::new_from_welcome(&bob.provider, &join, welcome, None)
        .expect("staged welcome")
        .into_group(&bob.provider)
        .expect("bob's group");
    (alice, ag, bob, bg)
}

const SUITES: [Ciphersuite; 3] = [
    Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519,
    Ciphersuite::MLS_128_DHKEMP256_AES128GCM_SHA256_P256,
    Ciphersuite::MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519,
];

#[test]
fn alice_and_bob_derive_the_same_attachment_key() {
    for cs in SUITES {
        let (alice, mut ag, bob, mut bg) = alice_and_bob(cs);
        let suite = CipherSuite::from_u16(u16::from(cs)).expect("suite");
        assert_eq!(ag.epoch(), bg.epoch());
        let plaintext = b"a photo of a cat".repeat(100);
        let hash = attachment_hash(suite, &plaintext);
        let nonce = random_nonce(suite).expect("rng");
        assert_eq!(nonce.len(), suite.nh());
        let sender = ag.own_leaf_index().u32();
        let sent =
            AttachmentKeys::from_group(&ag, alice.provider.crypto(), &hash, sender, &nonce).expect("alice derives");
        let got = AttachmentKeys::from_group(&bg, bob.provider.crypto(), &hash, sender, &nonce).expect("bob derives");
        assert_eq!(sent.key(), got.key(), "{cs:?}");
        assert_eq!(sent.nonce(), got.nonce(), "{cs:?}");
        assert_eq!(sent.key().len(), suite.aead().nk());

        // Alice's ciphertext opens with Bob's keys.
        let chunk = ChunkSize::new(1024).expect("cs");
        let ct = seal_chunked(&sent, chunk, &plaintext).expect("seal");
        assert_eq!(open_chunked(&got, chunk, &ct, &hash, None).expect("open"), plaintext);

        // Every input of the derivation matters.
        let bob_leaf = bg.own_leaf_index().u32();
        assert_ne!(bob_leaf, sender);
        let other_sender =
            AttachmentKeys::from_group(&bg, bob.provider.crypto(), &hash, bob_leaf, &nonce).expect("derive");
        let other_hash =
            AttachmentKeys::from_group(&bg, bob.provider.crypto(), &attachment_hash(suite, b"x"), sender, &nonce)
                .expect("derive");
        let other_nonce =
            AttachmentKeys::from_group(&bg, bob.provider.crypto(), &hash, sender, &random_nonce(suite).expect("rng"))
                .expect("derive");
        for other in [&other_sender, &other_hash, &other_nonce] {
            assert_ne!(other.key(), sent.key());
            assert_ne!(other.nonce(), sent.nonce());
        }
        assert_eq!(open_chunked(&other_sender, chunk, &ct, &hash, None).map_err(|e| e.code()), Err("DecryptFailed"));

        // A new epoch (Alice updates her leaf, Bob processes the commit) gives new keys.
        let bundle = ag.self_update(&alice.provider, &alice.signer, LeafNodeParameters::default()).expect("update");
        ag.merge_pending_commit(&alice.provider).expect("merge");
        let msg = wire(bundle.commit()).try_into_protocol_message().expect("protocol message");
        assert!(matches!(msg, ProtocolMessage::PublicMessage(_)), "handshake goes as PublicMessage");
        let processed = bg.process_message(&bob.provider, msg).expect("process commit");
        let ProcessedMessageContent::StagedCommitMessage(staged) = processed.into_content() else {
            panic!("not a commit")
        };
        bg.merge_staged_commit(&bob.provider, *staged).expect("merge staged");
        assert_eq!(ag.epoch(), bg.epoch());
        let next_a = AttachmentKeys::from_group(&ag, alice.provider.crypto(), &hash, sender, &nonce).expect("derive");
        let next_b = AttachmentKeys::from_group(&bg, bob.provider.crypto(), &hash, sender, &nonce).expect("derive");
        assert_eq!(next_a.key(), next_b.key());
        assert_ne!(next_a.key(), sent.key(), "a new epoch must change the key");
        // The key Bob kept from the old epoch still opens the old ciphertext.
        assert_eq!(open_chunked(&got, chunk, &ct, &hash, None).expect("open"), plaintext);
    }
}
