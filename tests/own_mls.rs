//! Apps with their own MLS stack (natively and in headless Chromium): the `MLS-Exporter` output
//! for an attachment (label "MIMI attachment", context `AttachmentContext`, `KDF.Nh` bytes) fed to
//! `AttachmentKeys::from_attachment_exporter_secret` gives the keys the package's group API derives;
//! `Group::export_secret` is that exporter. The cross-stack check against ts-mls is
//! tests/interop/run.mjs.

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use mimi_attachments::mls::Client;
use mimi_attachments::schedule::{attachment_hash, AttachmentContext, EXPORTER_LABEL};
use mimi_attachments::{AttachmentKeys, CipherSuite, Error};

#[test]
fn exporter_output_gives_the_group_apis_keys_in_suites_1_to_3() {
    for suite in [
        CipherSuite::Mls128Dhkemx25519Aes128gcmSha256Ed25519,
        CipherSuite::Mls128Dhkemp256Aes128gcmSha256P256,
        CipherSuite::Mls128Dhkemx25519Chacha20poly1305Sha256Ed25519,
    ] {
        let alice = Client::new(b"alice", suite).expect("alice");
        let bob = Client::new(b"bob", suite).expect("bob");
        let mut ag = alice.create_group(None).expect("group");
        let out = ag.add_members(&[bob.key_package().expect("kp")]).expect("add");
        let bg = bob.join_group(&out.welcome.expect("welcome")).expect("join");

        let hash = attachment_hash(suite, b"a photo");
        let (nonce, sent) = ag.attachment_keys_for_sending(&hash).expect("send keys");
        let context = AttachmentContext::new(&hash, ag.own_leaf_index()).to_bytes().expect("context");
        // Both members' exporters agree, and the app-side derivation gives the sender's keys.
        let a = ag.export_secret(EXPORTER_LABEL, &context, suite.nh()).expect("alice exporter");
        let b = bg.export_secret(EXPORTER_LABEL, &context, suite.nh()).expect("bob exporter");
        assert_eq!(a, b);
        let keys = AttachmentKeys::from_attachment_exporter_secret(suite, &b, &nonce).expect("keys");
        assert_eq!(keys.key(), sent.key());
        assert_eq!(keys.nonce(), sent.nonce());
        let received =
            bg.attachment_keys_for_receiving(&hash, &nonce, ag.own_leaf_index(), bg.epoch()).expect("receive keys");
        assert_eq!(keys.key(), received.key());
        // Another sender index, label or length is another secret.
        let other = AttachmentContext::new(&hash, bg.own_leaf_index()).to_bytes().expect("context");
        assert_ne!(a, bg.export_secret(EXPORTER_LABEL, &other, suite.nh()).expect("exporter"));
        assert_ne!(a, bg.export_secret("MIMI attachments", &context, suite.nh()).expect("exporter"));
        assert_eq!(bg.export_secret(EXPORTER_LABEL, &context, 16).expect("exporter").len(), 16);
    }
}

#[test]
fn exporter_length_out_of_range_is_invalid_argument() {
    let suite = CipherSuite::Mls128Dhkemx25519Aes128gcmSha256Ed25519;
    let g = Client::new(b"alice", suite).expect("alice").create_group(None).expect("group");
    // HKDF-Expand gives at most 255 * KDF.Nh bytes (8160 for SHA-256).
    for len in [0, 8161, 65_536] {
        assert!(matches!(g.export_secret("x", b"", len), Err(Error::InvalidArgument(_))), "{len}");
    }
    assert_eq!(g.export_secret("x", b"", 8160).expect("max").len(), 8160);
}
