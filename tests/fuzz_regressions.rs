//! Regression cases found by the cargo-fuzz targets (fuzz/, docs/FUZZING.md), one test per
//! defect, named after it. Each reproducer is `tests/vectors/fuzz/<name>.bin`, compiled in with
//! `include_bytes!`; the test asserts the outcome the library must give (an error, never a panic).
//!
//! The three `stored_state` defects below (openmls' memory store unwrapping corrupt JSON) were
//! fixed by validating the store at import; since the client state's version 2 the package keeps
//! its own store (`src/mls/store.rs`, every read an error, never a panic), and these version-1
//! (JSON) states are refused as a whole with `Codec`. `damaged_state_at_every_byte` checks the
//! same property on version-2 states.

use mimi_attachments::mls::Client;

/// A stored client state whose `SignatureKeyPair` entry is JSON of the wrong shape (`{}`), the
/// TLS framing intact. `import_state` must reject it; it panics inside
/// `openmls_memory_storage::MemoryStorage::signature_key_pair`, which unwraps
/// `serde_json::from_slice` (reached from `SignatureKeyPair::read`).
#[test]
fn import_state_signature_key_pair_wrong_json() {
    let bytes = include_bytes!("vectors/fuzz/import_state_signature_key_pair_wrong_json.bin");
    assert!(Client::import_state(bytes).is_err());
}

/// A stored client state (valid signature key) with one group whose `Tree` entry is `{}`.
/// `import_state` may accept it, but `load_group` must then fail, not panic (it panics in
/// `MemoryStorage::tree`, reached from `MlsGroup::load`).
#[test]
fn load_group_tree_wrong_json() {
    let bytes = include_bytes!("vectors/fuzz/load_group_tree_wrong_json.bin");
    let r = Client::import_state(bytes);
    assert!(
        matches!(&r, Err(mimi_attachments::Error::Codec(m)) if m.contains("version 1") && m.contains("deleteStored")),
        "a version-1 state is refused with Codec, saying what to do: {:?}",
        r.err()
    );
}

/// The stored_state target's first crash, as found (two bytes of a real exported group state's
/// `Tree` entry changed, making it invalid JSON; `cargo fuzz tmin` could not shrink it, the TLS
/// lengths fix its size): every group of an accepted state loads or fails cleanly.
#[test]
fn load_group_tree_invalid_json_fuzzer() {
    let bytes = include_bytes!("vectors/fuzz/load_group_tree_invalid_json_fuzzer.bin");
    assert!(Client::import_state(bytes).is_err(), "a version-1 state is refused");
}

/// A real version-2 state (a client with a group it created and another member added) with one
/// byte flipped, at every position: `import_state` and then
/// `load_group` of every group answer with a value or an error, never a panic; and the
/// undamaged state imports and loads.
#[test]
fn damaged_state_at_every_byte() {
    use mimi_attachments::suite::CipherSuite;
    let suite = CipherSuite::Mls128Dhkemx25519Aes128gcmSha256Ed25519;
    let alice = Client::new(b"alice", suite).expect("client");
    let bob = Client::new(b"bob", suite).expect("client");
    let mut g = alice.create_group(Some(b"g")).expect("group");
    g.add_members(&[bob.key_package().expect("kp")]).expect("add");
    let state = alice.export_state().expect("export");
    let back = Client::import_state(&state).expect("the undamaged state imports");
    assert!(back.load_group(b"g").expect("loads").is_some());
    let mut loaded = 0;
    for i in 0..state.len() {
        let mut bad = state.clone();
        bad[i] ^= 0x5a;
        if let Ok(c) = Client::import_state(&bad) {
            for id in c.group_ids() {
                if matches!(c.load_group(&id), Ok(Some(_))) {
                    loaded += 1;
                }
            }
        }
    }
    // Most flips land in secrets and keys that decode fine: the test is that none panicked.
    assert!(loaded > 0, "some damaged states still load (bytes inside keys), {loaded}");
}

/// Found by the stored_state target on the version-2 store: a state whose `SignatureKeyPair`
/// entry (stored under the state's public key and scheme) holds a key pair of another scheme.
/// It imported, then exported under the entry's scheme, and that export did not import again.
/// `import_state` must refuse it.
#[test]
fn import_state_signature_scheme_differs() {
    let bytes = include_bytes!("vectors/fuzz/import_state_signature_scheme_differs.bin");
    if let Ok(client) = Client::import_state(bytes) {
        let again = Client::import_state(&client.export_state().expect("export"));
        assert!(again.is_ok(), "an accepted state's export imports again: {:?}", again.err());
    }
}
