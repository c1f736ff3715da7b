//! The attachment flow of a real group at the core level (natively and in headless Chromium):
//! Alice creates a group and adds Bob; Alice sends a 5 MiB and a 0-byte attachment; Bob derives
//! and stores the references; the group moves through two more epochs (add Carol, remove Carol);
//! Bob then decrypts both. Carol (removed) and an outsider cannot derive; a flipped bit, a dropped
//! final chunk and a wrong sender index fail with their own codes.

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use mimi_attachments::attachment::{AttachmentRef, PendingAttachment};
use mimi_attachments::mls::{Client, Group, GroupEvent};
use mimi_attachments::stream::{open_one_shot, seal_chunked, seal_one_shot, ChunkSize};
use mimi_attachments::CipherSuite;

const SUITE: CipherSuite = CipherSuite::Mls128Dhkemx25519Aes128gcmSha256Ed25519;

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 11) as u8).collect()
}

fn decrypt(r: &AttachmentRef, ct: &[u8]) -> Result<Vec<u8>, &'static str> {
    let mut d = r.decryptor().map_err(|e| e.code())?;
    let mut out = vec![];
    for piece in ct.chunks(1 << 20) {
        d.update(piece, &mut out).map_err(|e| e.code())?;
    }
    d.finish(&mut out).map_err(|e| e.code())?;
    Ok(out)
}

/// Alice sends `plaintext` in `group`; returns the content type to put in the message and the
/// ciphertext (handed over in memory: no network here).
fn send(group: &Group, plaintext: &[u8], token: &[u8]) -> (String, Vec<u8>) {
    let hash = group.attachment_hash(plaintext).expect("hash");
    let p = PendingAttachment::new(
        group,
        &hash,
        plaintext.len() as u64,
        mimi_attachments::Format::Chunked(ChunkSize::default()),
    )
    .expect("derive");
    let ct = seal_chunked(p.keys(), ChunkSize::default(), plaintext).expect("seal");
    let r = p.complete(group, token).expect("complete");
    (r.external_body().to_content_type(), ct)
}

#[test]
fn alice_sends_bob_decrypts_after_two_more_epochs() {
    let alice = Client::new(b"alice", SUITE).expect("alice");
    let bob = Client::new(b"bob", SUITE).expect("bob");
    let carol = Client::new(b"carol", SUITE).expect("carol");
    let outsider = Client::new(b"mallory", SUITE).expect("outsider");
    let mut ag = alice.create_group(Some(b"family")).expect("group");
    let out = ag.add_members(&[bob.key_package().expect("kp")]).expect("add bob");
    let mut bg = bob.join_group(&out.welcome.expect("welcome")).expect("bob joins");
    assert_eq!((ag.epoch(), bg.epoch()), (1, 1));
    assert_eq!(
        bg.members().iter().map(|m| m.identity.clone()).collect::<Vec<_>>(),
        vec![b"alice".to_vec(), b"bob".to_vec()]
    );

    // Alice sends two attachments in an application message each.
    let big = data(5 << 20, 1);
    let (ct_type_big, ct_big) = send(&ag, &big, b"token-big");
    let (ct_type_empty, ct_empty) = send(&ag, b"", b"token-empty");
    let msg = ag.encrypt_message(ct_type_big.as_bytes()).expect("message");
    let GroupEvent::Application { sender, epoch, data: content } = bg.process_message(&msg).expect("bob processes")
    else {
        panic!("not application")
    };
    assert_eq!((sender, epoch), (ag.own_leaf_index(), 1));
    let ref_big =
        AttachmentRef::receive(&bg, std::str::from_utf8(&content).expect("utf8"), sender, epoch).expect("derive big");
    let ref_empty = AttachmentRef::receive(&bg, &ct_type_empty, sender, epoch).expect("derive empty");
    // Bob stores the references as bytes.
    let stored_big = ref_big.to_bytes().expect("store");
    let stored_empty = ref_empty.to_bytes().expect("store");
    assert_eq!(ref_big.token, b"token-big");
    assert_eq!(ref_big.size, Some(5 << 20));

    // Epoch 2: Alice adds Carol. Epoch 3: Alice removes Carol.
    let out = ag.add_members(&[carol.key_package().expect("kp")]).expect("add carol");
    let GroupEvent::Commit { epoch: 2, added, .. } = bg.process_message(&out.commit).expect("bob: add") else {
        panic!("not a commit")
    };
    assert_eq!(added, vec![b"carol".to_vec()]);
    let mut cg = carol.join_group(&out.welcome.expect("welcome")).expect("carol joins");
    let carol_leaf = cg.own_leaf_index();
    // Carol is in epoch 2 and cannot derive the epoch-1 key.
    assert_eq!(AttachmentRef::receive(&cg, &ct_type_big, 0, 1).map_err(|e| e.code()).err(), Some("WrongEpoch"));
    let out = ag.remove_members(&[carol_leaf]).expect("remove carol");
    let GroupEvent::Commit { epoch: 3, removed, self_removed: false, .. } =
        bg.process_message(&out.commit).expect("bob: remove")
    else {
        panic!("not a commit")
    };
    assert_eq!(removed, vec![carol_leaf]);
    let GroupEvent::Commit { self_removed: true, .. } = cg.process_message(&out.commit).expect("carol: removed") else {
        panic!("not a commit")
    };
    assert!(!cg.is_active());
    assert_eq!(bg.epoch(), 3);

    // Bob, two epochs later, restores the references and decrypts.
    let ref_big = AttachmentRef::from_bytes(&stored_big).expect("restore");
    let ref_empty = AttachmentRef::from_bytes(&stored_empty).expect("restore");
    assert_eq!(decrypt(&ref_big, &ct_big).expect("big"), big);
    assert_eq!(decrypt(&ref_empty, &ct_empty).expect("empty"), b"");

    // Carol (removed) cannot derive keys of a new attachment; nor can an outsider's group.
    let msg = ag.encrypt_message(ct_type_big.as_bytes()).expect("message");
    assert!(cg.process_message(&msg).is_err(), "a removed member cannot read new messages");
    assert_eq!(AttachmentRef::receive(&cg, &ct_type_big, 0, 3).map_err(|e| e.code()).err(), Some("NotMember"));
    let og = outsider.create_group(Some(b"family")).expect("outsider's own group with the same id");
    let r = AttachmentRef::receive(&og, &ct_type_big, 0, og.epoch()).expect("derives some key");
    assert_eq!(decrypt(&r, &ct_big).err(), Some("DecryptFailed"));

    // Failures, each with its own code.
    let mut flipped = ct_big.clone();
    flipped[3 << 20] ^= 1;
    assert_eq!(decrypt(&ref_big, &flipped).err(), Some("DecryptFailed"));
    let sealed = ChunkSize::default().sealed();
    assert_eq!(decrypt(&ref_big, &ct_big[..ct_big.len() - sealed]).err(), Some("Truncated"));
    let mut without_size = AttachmentRef::from_bytes(&stored_big).expect("restore");
    without_size.size = None;
    assert_eq!(decrypt(&without_size, &ct_big[..ct_big.len() - sealed]).err(), Some("Truncated"));
    // Bob attributes the message to the wrong sender (his own leaf): other keys.
    let (ct_type, ct) = send(&ag, b"hello", b"t");
    let wrong = AttachmentRef::receive(&bg, &ct_type, bg.own_leaf_index(), 3).expect("derives");
    assert_eq!(decrypt(&wrong, &ct).err(), Some("DecryptFailed"));
    assert_eq!(AttachmentRef::receive(&bg, &ct_type, 7, 3).map_err(|e| e.code()).err(), Some("NotMember"));
    assert_eq!(AttachmentRef::receive(&bg, "text/plain", 0, 3).map_err(|e| e.code()).err(), Some("BadContentType"));
}

#[test]
fn one_shot_form_and_epoch_change_before_sending() {
    let alice = Client::new(b"alice", SUITE).expect("alice");
    let bob = Client::new(b"bob", SUITE).expect("bob");
    let mut ag = alice.create_group(None).expect("group");
    let out = ag.add_members(&[bob.key_package().expect("kp")]).expect("add");
    let bg = bob.join_group(&out.welcome.expect("welcome")).expect("join");
    let plain = data(1000, 9);
    let hash = ag.attachment_hash(&plain).expect("hash");
    let p = PendingAttachment::new(&ag, &hash, 1000, mimi_attachments::Format::OneShot).expect("derive");
    let ct = seal_one_shot(p.keys(), &plain).expect("seal");
    let ct_type = p.complete(&ag, b"tok").expect("complete").external_body().to_content_type();
    assert!(!ct_type.contains("chunk-size"));
    let r = AttachmentRef::receive(&bg, &ct_type, 0, 1).expect("derive");
    assert_eq!(open_one_shot(r.keys(), &ct, &r.hash).expect("open"), plain);
    // A pending attachment survives serialization (to resume an upload after a reload).
    let restored = PendingAttachment::from_bytes(&p.to_bytes().expect("to bytes")).expect("from bytes");
    assert_eq!(
        (restored.keys().key(), restored.hash(), restored.size(), restored.epoch()),
        (p.keys().key(), p.hash(), 1000, 1)
    );
    assert!(PendingAttachment::from_bytes(&p.complete(&ag, b"tok").expect("ref").to_bytes().expect("bytes")).is_err());
    // If the epoch moves on between derivation and sending, completing fails: receivers would
    // derive in the new epoch and get other keys.
    ag.self_update().expect("update");
    assert_eq!(p.complete(&ag, b"tok").map_err(|e| e.code()).err(), Some("WrongEpoch"));
}

#[test]
fn client_state_export_import_keeps_chatting() {
    let alice = Client::new(b"alice", SUITE).expect("alice");
    let bob = Client::new(b"bob", SUITE).expect("bob");
    let mut ag = alice.create_group(Some(b"g")).expect("group");
    let out = ag.add_members(&[bob.key_package().expect("kp")]).expect("add");
    let bg = bob.join_group(&out.welcome.expect("welcome")).expect("join");
    let state = bob.export_state().expect("export");
    drop(bg);
    drop(bob);
    let bob = Client::import_state(&state).expect("import");
    assert_eq!(bob.identity(), b"bob");
    assert_eq!(bob.group_ids(), vec![b"g".to_vec()]);
    let mut bg = bob.load_group(b"g").expect("load").expect("group is in the store");
    let m = ag.encrypt_message(b"after reload").expect("msg");
    let GroupEvent::Application { data, .. } = bg.process_message(&m).expect("process") else { panic!() };
    assert_eq!(data, b"after reload");
    let m = bg.encrypt_message(b"reply").expect("msg");
    let GroupEvent::Application { data, sender, .. } = ag.process_message(&m).expect("process") else { panic!() };
    assert_eq!((data.as_slice(), sender), (&b"reply"[..], 1));
    assert!(Client::import_state(&state[..state.len() - 1]).is_err());
    assert!(bob.load_group(b"nope").expect("load").is_none());
}
