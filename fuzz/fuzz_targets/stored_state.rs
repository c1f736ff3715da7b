//! State an application stores and reads back: `AttachmentRef::from_bytes` and
//! `mls::Client::import_state` (then `load_group` for every group) on arbitrary bytes (at most
//! 64 KiB; `import_state` builds an openmls provider).
//!
//! Invariants: never panics; a restored `AttachmentRef` is stable under `to_bytes`/`from_bytes`
//! (same fields, same bytes the second time) and its `decryptor()`/`ciphertext_len()` answer
//! without panicking; a restored `Client` exports a state that imports again to the same export,
//! and each of its groups loads or fails cleanly.
//!
//! **Fixed defect, formerly filtered** (docs/FUZZING.md, "Fixed defects"): openmls_memory_storage
//! 0.6 unwraps the JSON decoding of some entries (`SignatureKeyPair`, `Tree`, `GroupContext`,
//! `InterimTranscriptHash`, `ConfirmationTag`, the `ProposalQueueRefs`/`OwnLeafNodes` lists, and a
//! queued proposal missing for a listed ref), so `import_state`/`load_group` panic on a state
//! whose such entry is not what openmls wrote (tests/fuzz_regressions.rs). `import_state` then
//! validated them; since state version 2 the package has its own store (`src/mls/store.rs`, no
//! `unwrap`), so the target fuzzes every entry by default; `--no-default-features` restores the
//! old filter, which skips inputs changing one of those entries.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mimi_attachments::attachment::AttachmentRef;
use mimi_attachments::mls::Client;

const MAX_INPUT: usize = 64 * 1024;

#[cfg(not(feature = "unfiltered-state"))]
mod filter {
    use std::sync::OnceLock;
    use tls_codec::{Deserialize as _, TlsDeserialize, TlsSize, VLBytes};

    /// The layout of `mls::ClientState` (private there).
    #[derive(TlsDeserialize, TlsSize)]
    struct ClientState {
        _version: u16,
        _identity: VLBytes,
        _suite: u16,
        _signature_public_key: VLBytes,
        _signature_scheme: u16,
        _groups: Vec<VLBytes>,
        entries: Vec<StoreEntry>,
    }

    #[derive(TlsDeserialize, TlsSize)]
    struct StoreEntry {
        key: VLBytes,
        value: VLBytes,
    }

    /// Store labels whose values openmls_memory_storage 0.6 decodes with `unwrap` (and the
    /// queued proposals it expects for every listed ref).
    const UNWRAPPED: [&[u8]; 8] = [
        b"SignatureKeyPair",
        b"Tree",
        b"GroupContext",
        b"InterimTranscriptHash",
        b"ConfirmationTag",
        b"ProposalQueueRefs",
        b"OwnLeafNodes",
        b"QueuedProposal",
    ];

    fn label(key: &[u8]) -> Option<&'static [u8]> {
        UNWRAPPED.iter().copied().find(|l| key.starts_with(l))
    }

    const SEEDS: [&[u8]; 3] = [
        include_bytes!("../corpus/stored_state/seed-client_state_suite1"),
        include_bytes!("../corpus/stored_state/seed-client_state_suite1_group"),
        include_bytes!("../corpus/stored_state/seed-client_state_suite2_group"),
    ];

    /// `(label, value)` of every such entry in the seed states: values openmls wrote.
    fn known_values() -> &'static Vec<(&'static [u8], Vec<u8>)> {
        static V: OnceLock<Vec<(&'static [u8], Vec<u8>)>> = OnceLock::new();
        V.get_or_init(|| {
            SEEDS
                .iter()
                .flat_map(|s| ClientState::tls_deserialize_exact(s).expect("seed state decodes").entries)
                .filter_map(|e| Some((label(e.key.as_slice())?, e.value.as_slice().to_vec())))
                .collect()
        })
    }

    /// Whether `data` would reach the open defect: a state that decodes, with an entry under one
    /// of the unwrapped labels whose value no seed state has under that label.
    pub fn hits_open_defect(data: &[u8]) -> bool {
        let Ok(state) = ClientState::tls_deserialize_exact(data) else { return false };
        state.entries.iter().any(|e| {
            label(e.key.as_slice())
                .is_some_and(|l| !known_values().iter().any(|(kl, v)| *kl == l && v.as_slice() == e.value.as_slice()))
        })
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() > MAX_INPUT {
        return;
    }
    if let Ok(r) = AttachmentRef::from_bytes(data) {
        let b1 = r.to_bytes().expect("a restored reference serializes");
        let r2 = AttachmentRef::from_bytes(&b1).expect("its serialization restores");
        assert_eq!(*r2.to_bytes().expect("serializes"), *b1);
        assert_eq!(
            (r2.suite(), r2.keys().key(), r2.keys().nonce(), &r2.token, &r2.hash, r2.chunk_size, r2.size),
            (r.suite(), r.keys().key(), r.keys().nonce(), &r.token, &r.hash, r.chunk_size, r.size)
        );
        assert_eq!((&r2.group_id, r2.epoch, r2.sender_index), (&r.group_id, r.epoch, r.sender_index));
        assert_eq!(r2.external_body(), r.external_body());
        let _ = r.ciphertext_len();
        let _ = r.decryptor();
    }
    #[cfg(not(feature = "unfiltered-state"))]
    if filter::hits_open_defect(data) {
        return;
    }
    if let Ok(c) = Client::import_state(data) {
        let e1 = c.export_state().expect("a restored client exports");
        let c2 = Client::import_state(&e1).expect("its export imports");
        assert_eq!(c2.export_state().expect("exports"), e1);
        for g in c.group_ids() {
            let _ = c.load_group(&g);
        }
    }
});
