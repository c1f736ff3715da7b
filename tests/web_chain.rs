//! Any member can add members, not only the group's creator: alice → bob → carol → dave, each
//! added by the previous joiner (a joiner's Welcome must carry the ratchet tree). Runs natively
//! (`cargo test --test web_chain`) and in headless Chromium (`--target wasm32-unknown-unknown`).

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use mimi_attachments::attachment::{AttachmentRef, PendingAttachment};
use mimi_attachments::mls::{Client, Group, GroupEvent};
use mimi_attachments::stream::{seal_chunked, ChunkSize};
use mimi_attachments::CipherSuite;

fn names(g: &Group) -> Vec<String> {
    g.members().iter().map(|m| String::from_utf8_lossy(&m.identity).into_owned()).collect()
}

fn chain(suite: CipherSuite) {
    let people = ["alice", "bob", "carol", "dave"];
    let clients: Vec<Client> = people.iter().map(|n| Client::new(n.as_bytes(), suite).expect("client")).collect();
    let mut groups = vec![clients[0].create_group(Some(b"chain")).expect("group")];
    for i in 1..people.len() {
        // The newest member (a joiner itself, except for alice) adds the next one.
        let out = groups[i - 1].add_members(&[clients[i].key_package().expect("kp")]).expect("add");
        // Every earlier member follows the commit.
        for g in groups.iter_mut().take(i - 1) {
            match g.process_message(&out.commit).expect("commit") {
                GroupEvent::Commit { added, .. } => assert_eq!(added, vec![people[i].as_bytes().to_vec()]),
                e => panic!("not a commit: {e:?}"),
            }
        }
        let joined = clients[i]
            .join_group(&out.welcome.expect("welcome"))
            .unwrap_or_else(|e| panic!("{} could not join from {}'s Welcome: {e}", people[i], people[i - 1]));
        groups.push(joined);
        for g in &groups {
            assert_eq!(g.epoch(), i as u64);
            assert_eq!(names(g), people[..=i].to_vec());
        }
    }

    // The last joiner talks and sends an attachment; the creator reads and decrypts it.
    let msg = groups[3].encrypt_message(b"hi from dave").expect("encrypt");
    let GroupEvent::Application { sender, epoch, data } = groups[0].process_message(&msg).expect("alice reads") else {
        panic!("not an application message");
    };
    assert_eq!((sender, epoch, data.as_slice()), (3, 3, &b"hi from dave"[..]));
    let file: Vec<u8> = (0..300_000u32).map(|i| (i * 7) as u8).collect();
    let hash = groups[3].attachment_hash(&file).expect("hash");
    let p = PendingAttachment::new(
        &groups[3],
        &hash,
        file.len() as u64,
        mimi_attachments::format::Format::Chunked(ChunkSize::default()),
    )
    .expect("derive");
    let ct = seal_chunked(p.keys(), ChunkSize::default(), &file).expect("seal");
    let ct_type = p.complete(&groups[3], b"tok").expect("complete").external_body().to_content_type();
    let r = AttachmentRef::receive(&groups[0], &ct_type, 3, 3).expect("alice derives");
    let mut d = r.decryptor().expect("decryptor");
    let mut out = vec![];
    d.update(&ct, &mut out).expect("update");
    d.finish(&mut out).expect("finish");
    assert_eq!(out, file);

    // A joiner removes someone, too: carol removes bob; everyone else follows.
    let out = groups[2].remove_members(&[1]).expect("carol removes bob");
    for i in [0, 3] {
        groups[i].process_message(&out.commit).expect("follow the removal");
        assert_eq!(names(&groups[i]), vec!["alice", "carol", "dave"]);
    }
    match groups[1].process_message(&out.commit).expect("bob learns") {
        GroupEvent::Commit { self_removed, .. } => assert!(self_removed),
        e => panic!("not a commit: {e:?}"),
    }
    assert!(!groups[1].is_active());
}

#[test]
fn each_joiner_adds_the_next_member() {
    chain(CipherSuite::Mls128Dhkemx25519Aes128gcmSha256Ed25519);
}

#[test]
fn each_joiner_adds_the_next_member_chacha() {
    chain(CipherSuite::Mls128Dhkemx25519Chacha20poly1305Sha256Ed25519);
}
