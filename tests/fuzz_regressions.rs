//! Regression cases found by the cargo-fuzz targets (fuzz/, docs/FUZZING.md), one test per
//! defect, named after it. Each reproducer is `tests/vectors/fuzz/<name>.bin`, compiled in with
//! `include_bytes!`; the test asserts the outcome the library must give (an error, never a panic).
//!
//! The three `stored_state` defects below (openmls' memory store unwrapping corrupt JSON) are
//! fixed by `check_store` in `src/mls.rs`: `import_state` now rejects such states with an error.

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
    if let Ok(client) = Client::import_state(bytes) {
        assert!(client.load_group(b"group-1").is_err());
    }
}

/// The stored_state target's first crash, as found (two bytes of a real exported group state's
/// `Tree` entry changed, making it invalid JSON; `cargo fuzz tmin` could not shrink it, the TLS
/// lengths fix its size): every group of an accepted state loads or fails cleanly.
#[test]
fn load_group_tree_invalid_json_fuzzer() {
    let bytes = include_bytes!("vectors/fuzz/load_group_tree_invalid_json_fuzzer.bin");
    if let Ok(client) = Client::import_state(bytes) {
        for g in client.group_ids() {
            let _ = client.load_group(&g);
        }
    }
}
