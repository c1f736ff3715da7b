//! Issue 14: one test per finding of the black-box attack on the DS (named after the finding),
//! each failing on the DS before the fix. Real server on 127.0.0.1, real openmls members.

mod common;

use common::Member;
use common::*;
use futures_util::StreamExt as _;
use mimi_attachments::auth::{empty_body_hash, AUTH_HEADER};
use mimi_attachments::wire::{encode, UploadAttachmentRequest};
use openmls::prelude::tls_codec::{Deserialize as _, Serialize as _};
use openmls::prelude::*;
use openmls_traits::signatures::Signer as _;

async fn alice_and_bob(ds: &Ds) -> (Member, Member, Vec<u8>) {
    let mut alice = Member::new("alice");
    let mut bob = Member::new("bob");
    let gid = alice.create_group(ds).await;
    alice.add(ds, &gid, &mut bob, &mut []).await;
    (alice, bob, gid)
}

fn kp_bytes(kp: KeyPackage) -> Vec<u8> {
    MlsMessageOut::from(kp).tls_serialize_detached().unwrap()
}

async fn publish(ds: &Ds, cid: &str, token: Option<&str>, body: Vec<u8>) -> (u16, String) {
    let mut r = ds.http.post(ds.url(&format!("/v1/clients/{}/key-packages", b64(cid.as_bytes())))).body(body);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let r = r.send().await.unwrap();
    if r.status() == 201 {
        return (201, String::new());
    }
    code_of(r).await
}

async fn claim(ds: &Ds, cid: &str, token: Option<&str>) -> reqwest::Response {
    let mut r = ds.http.post(ds.url(&format!("/v1/clients/{}/key-packages/claim", b64(cid.as_bytes()))));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    r.send().await.unwrap()
}

/// Registers a group with a chosen id for `m` (token of `as_client`).
async fn register_with_id(ds: &Ds, m: &mut Member, gid: &[u8], as_client: &str) -> (u16, String) {
    let cfg = MlsGroupCreateConfig::builder()
        .ciphersuite(CS)
        .wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
        .use_ratchet_tree_extension(true)
        .build();
    let g =
        MlsGroup::new_with_group_id(&m.provider, &m.signer, &cfg, GroupId::from_slice(gid), m.cred.clone()).unwrap();
    let gi = g.export_group_info(m.provider.crypto(), &m.signer, true).unwrap();
    let r = ds
        .http
        .post(ds.url("/v1/groups"))
        .bearer_auth(ds.token(as_client).await)
        .body(gi.tls_serialize_detached().unwrap())
        .send()
        .await
        .unwrap();
    if r.status() == 201 {
        m.groups.push(g);
        return (201, String::new());
    }
    code_of(r).await
}

#[tokio::test]
async fn impersonation_key_package_under_another_name_is_refused() {
    let ds = Ds::start(|_| {}).await;
    // Mallory makes a KeyPackage whose (plain-name) credential says "victim".
    let forged = kp_bytes(Member::new("victim").key_package());
    // Before the fix: 201 without any authentication.
    assert_eq!(publish(&ds, "victim", None, forged.clone()).await, (401, "Unauthorized".into()));
    let mallory_token = ds.token("mallory").await;
    assert_eq!(publish(&ds, "victim", Some(&mallory_token), forged.clone()).await, (403, "Forbidden".into()));
    // Under her own name the credential must be hers.
    assert_eq!(publish(&ds, "mallory", Some(&mallory_token), forged).await, (403, "Forbidden".into()));
    // Nothing was stored for the victim.
    assert_eq!(claim(&ds, "victim", Some(&mallory_token)).await.status(), 404);
    // The real client publishes with its own token.
    let victim = Member::new("victim");
    let t = ds.token("victim").await;
    assert_eq!(publish(&ds, "victim", Some(&t), kp_bytes(victim.key_package())).await.0, 201);
}

#[tokio::test]
async fn impersonation_in_token_mode_only_operator_tokens_count_and_there_is_no_dev_login() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, b"0123456789abcdef0123456789abcdef-operator\n").unwrap();
    let ds = Ds::start(|c| {
        c.dev_identity = false;
        c.token_secret_file = Some(secret.clone());
    })
    .await;
    let r = ds.http.post(ds.url("/v1/dev/login")).json(&serde_json::json!({"client": "victim"})).send().await.unwrap();
    assert_eq!(code_of(r).await, (404, "NotFound".into()));
    let r = ds.http.get(ds.url("/v1/health")).send().await.unwrap();
    assert!(r.headers().get("mimi-ds-mode").is_none(), "only development mode is marked");
    let operator = mimi_ds::identity::Identity::with_secret(b"0123456789abcdef0123456789abcdef-operator");
    let forger = mimi_ds::identity::Identity::with_secret(b"0123456789abcdef0123456789abcdef-guessed!");
    let victim = Member::new("victim");
    let kp = kp_bytes(victim.key_package());
    let forged = forger.issue("victim", 60).unwrap();
    assert_eq!(publish(&ds, "victim", Some(&forged), kp.clone()).await, (401, "Unauthorized".into()));
    let good = operator.issue("victim", 60).unwrap();
    assert_eq!(publish(&ds, "victim", Some(&good), kp).await.0, 201);
    // A DS without any identity configuration does not start.
    let mut cfg = mimi_ds::Config::for_data_dir(dir.path().join("d2")).unwrap();
    cfg.dev_identity = false;
    cfg.token_secret_file = None;
    let err = mimi_ds::start(cfg).await.err().expect("must not start");
    assert!(err.to_string().contains("--token-secret-file"), "{err}");
}

#[tokio::test]
async fn key_package_drain_needs_a_token_is_rate_limited_and_never_takes_the_last_resort() {
    let ds = Ds::start(|c| c.claim_per_min = 5).await;
    let victim = Member::new("victim");
    let t = ds.token("victim").await;
    let ordinary = kp_bytes(victim.key_package());
    let last_resort = kp_bytes(
        KeyPackage::builder()
            .leaf_node_capabilities(Capabilities::new(None, None, Some(&[ExtensionType::LastResort]), None, None))
            .mark_as_last_resort()
            .build(CS, &victim.provider, &victim.signer, victim.cred.clone())
            .unwrap()
            .key_package()
            .clone(),
    );
    assert_eq!(publish(&ds, "victim", Some(&t), last_resort.clone()).await, (201, String::new()));
    assert_eq!(publish(&ds, "victim", Some(&t), ordinary.clone()).await.0, 201);
    // Before the fix: anyone could pop them all without a token.
    assert_eq!(code_of(claim(&ds, "victim", None).await).await, (401, "Unauthorized".into()));
    let m = ds.token("mallory").await;
    let r = claim(&ds, "victim", Some(&m)).await;
    assert_eq!(r.bytes().await.unwrap().as_ref(), ordinary.as_slice(), "the ordinary one first");
    for _ in 0..4 {
        let r = claim(&ds, "victim", Some(&m)).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.bytes().await.unwrap().as_ref(), last_resort.as_slice(), "the last resort stays");
    }
    let r = claim(&ds, "victim", Some(&m)).await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_some());
    assert_eq!(code_of(r).await.1, "RateLimited");
    // Another claimer has its own budget, and still finds the victim reachable.
    let r = claim(&ds, "victim", Some(&ds.token("alice").await)).await;
    assert_eq!(r.bytes().await.unwrap().as_ref(), last_resort.as_slice());
}

#[tokio::test]
async fn welcome_theft_needs_the_recipients_token() {
    let ds = Ds::start(|_| {}).await;
    let mut alice = Member::new("alice");
    let gid = alice.create_group(&ds).await;
    let bob = Member::new("bob");
    assert_eq!(publish(&ds, "bob", Some(&ds.token("bob").await), kp_bytes(bob.key_package())).await.0, 201);
    let kp = claim(&ds, "bob", Some(&ds.token("alice").await)).await.bytes().await.unwrap();
    let kp = match MlsMessageIn::tls_deserialize_exact(&kp).unwrap().extract() {
        MlsMessageBodyIn::KeyPackage(kp) => kp.validate(alice.provider.crypto(), ProtocolVersion::Mls10).unwrap(),
        _ => panic!(),
    };
    let (p, s) = (&alice.provider, &alice.signer);
    let (commit, welcome, _) = alice.groups[0].add_members(p, s, &[kp]).unwrap();
    let body = alice.commit_body(&gid, commit, Some(welcome));
    ds.handshake(&gid, body).await;
    let path = format!("/v1/clients/{}/welcome", bob.client_id());
    // Before the fix: 200 with Bob's Welcome for anyone.
    let r = ds.http.get(ds.url(&path)).send().await.unwrap();
    assert_eq!(code_of(r).await, (401, "Unauthorized".into()));
    let r = ds.http.get(ds.url(&path)).bearer_auth(ds.token("mallory").await).send().await.unwrap();
    assert_eq!(code_of(r).await, (403, "Forbidden".into()));
    let r = ds.http.get(ds.url(&path)).bearer_auth(ds.token("bob").await).send().await.unwrap();
    assert_eq!(r.status(), 200, "Bob still gets his Welcome");
    assert!(matches!(
        MlsMessageIn::tls_deserialize_exact(r.bytes().await.unwrap()).unwrap().extract(),
        MlsMessageBodyIn::Welcome(_)
    ));
}

#[tokio::test]
async fn outsider_disk_exhaustion_is_bounded_by_client_quotas_and_the_registration_floor() {
    let ds = Ds::start(|c| {
        c.client_max_groups = 2;
        c.client_quota_bytes = 50_000;
        c.register_per_min = 0;
    })
    .await;
    let (alice, _bob, victim_gid) = alice_and_bob(&ds).await;
    let mut mallory = Member::new("mallory");
    // Before the fix: registration needed no authentication at all.
    let g = {
        let cfg = MlsGroupCreateConfig::builder().ciphersuite(CS).use_ratchet_tree_extension(true).build();
        MlsGroup::new(&mallory.provider, &mallory.signer, &cfg, mallory.cred.clone()).unwrap()
    };
    let gi = g.export_group_info(mallory.provider.crypto(), &mallory.signer, true).unwrap();
    let r = ds.http.post(ds.url("/v1/groups")).body(gi.tls_serialize_detached().unwrap()).send().await.unwrap();
    assert_eq!(code_of(r).await, (401, "Unauthorized".into()));
    // A token of someone else than the GroupInfo's signer.
    let r = ds
        .http
        .post(ds.url("/v1/groups"))
        .bearer_auth(ds.token("alice").await)
        .body(gi.tls_serialize_detached().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(r).await, (403, "Forbidden".into()));
    // Mallory's own groups: at most 2.
    let g1 = mallory.create_group(&ds).await;
    let _g2 = mallory.create_group(&ds).await;
    let (st, code) = register_with_id(&ds, &mut mallory, b"mallory/third", "mallory").await;
    assert_eq!((st, code.as_str()), (507, "QuotaExceeded"));
    // Her bytes over all her groups: at most 50 000.
    mallory.upload(&ds, &g1, &vec![1u8; 40_000]).await.unwrap();
    assert_eq!(mallory.upload(&ds, &g1, &vec![1u8; 20_000]).await.unwrap_err(), (507, "QuotaExceeded".into()));
    // The victim group is unaffected.
    alice.upload(&ds, &victim_gid, &vec![2u8; 40_000]).await.unwrap();

    // The registration floor: with less free space than it reserves, new groups are refused
    // while existing groups keep uploading.
    // (Only where attachment bytes are on the DS's disk: object storage reports no free space.)
    if backend::is_embedded() {
        let ds = Ds::start(|c| c.registration_floor_bytes = u64::MAX / 4).await;
        let mut carol = Member::new("carol");
        let (st, code) = register_with_id(&ds, &mut carol, b"carol/new", "carol").await;
        assert_eq!((st, code.as_str()), (507, "InsufficientStorage"));
    }

    // Registration is rate-limited per client.
    let ds = Ds::start(|c| c.register_per_min = 2).await;
    let mut dan = Member::new("dan");
    assert_eq!(register_with_id(&ds, &mut dan, b"dan/1", "dan").await.0, 201);
    assert_eq!(register_with_id(&ds, &mut dan, b"dan/2", "dan").await.0, 201);
    assert_eq!(register_with_id(&ds, &mut dan, b"dan/3", "dan").await, (429, "RateLimited".into()));
}

#[tokio::test]
async fn pre_auth_leak_unknown_and_known_groups_answer_alike_and_stale_epoch_needs_a_valid_signature() {
    let ds = Ds::start(|_| {}).await;
    let (alice, _bob, gid) = alice_and_bob(&ds).await;
    let outsider = Member::new("mallory");
    let unknown = vec![0x55u8; 16];
    let q = |g: &[u8]| format!("/v1/groups/{}/quota", b64(g));
    let mut answers = Vec::new();
    // Known group at a stale epoch (before the fix: 401 StaleEpoch, revealing the group), known
    // group at the current epoch, an occupied and an empty leaf, and an unknown group.
    for (g, epoch, leaf) in
        [(&gid, 0u64, 0u32), (&gid, 1, 0), (&gid, 1, 1), (&gid, 1, 7), (&unknown, 0, 0), (&unknown, 1, 0)]
    {
        let path = q(g);
        let h = outsider.auth_with(g, epoch, leaf, "GET", &path, empty_body_hash(), now_ms());
        let r = ds.http.get(ds.url(&path)).header(AUTH_HEADER, h).send().await.unwrap();
        let status = r.status().as_u16();
        answers.push((status, r.text().await.unwrap()));
    }
    assert!(answers.iter().all(|a| a == &answers[0]), "{answers:?}");
    assert_eq!(answers[0].0, 403);
    // A member whose signature verifies learns that its epoch is stale.
    let path = q(&gid);
    let h = alice.auth_with(&gid, 9, 0, "GET", &path, empty_body_hash(), now_ms());
    let r = ds.http.get(ds.url(&path)).header(AUTH_HEADER, h).send().await.unwrap();
    assert_eq!(code_of(r).await, (401, "StaleEpoch".into()));
}

#[tokio::test]
async fn duplicate_auth_headers_are_400() {
    let ds = Ds::start(|_| {}).await;
    let (alice, bob, gid) = alice_and_bob(&ds).await;
    let path = format!("/v1/groups/{}/quota", b64(&gid));
    let good = alice.auth(&gid, "GET", &path, b"");
    let other = bob.auth(&gid, "GET", &path, b"");
    // Before the fix: the first header won (200).
    let r = ds.http.get(ds.url(&path)).header(AUTH_HEADER, good).header(AUTH_HEADER, other).send().await.unwrap();
    assert_eq!(code_of(r).await, (400, "BadRequest".into()));
    let welcome = format!("/v1/clients/{}/welcome", bob.client_id());
    let r = ds
        .http
        .get(ds.url(&welcome))
        .bearer_auth(ds.token("bob").await)
        .header("authorization", format!("Bearer {}", ds.token("mallory").await))
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(r).await, (400, "BadRequest".into()));
}

/// A one-shot request body that sends `head`, then the rest when `go` fires.
fn two_part_body(head: Vec<u8>, rest: Vec<u8>, go: tokio::sync::oneshot::Receiver<()>) -> reqwest::Body {
    let first = futures_util::stream::iter(vec![Ok::<_, std::io::Error>(head)]);
    let second = futures_util::stream::once(async move {
        let _ = go.await;
        Ok::<_, std::io::Error>(rest)
    });
    reqwest::Body::wrap_stream(first.chain(second))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_member_mid_upload_is_refused_at_the_next_part_and_its_one_shot_is_not_acknowledged() {
    let ds = Ds::start(|_| {}).await;
    let (mut alice, bob, gid) = alice_and_bob(&ds).await;
    // A resumable upload, one part in.
    let loc = bob.create_upload(&ds, &gid, 20_000).await.unwrap();
    assert_eq!(bob.patch(&ds, &gid, &loc, 0, vec![3; 10_000]).await.status(), 204);
    // A one-shot upload whose body is half sent.
    let content = vec![4u8; 200_000];
    let body = encode(&UploadAttachmentRequest { group_id: gid.clone().into(), content: content.into() }).unwrap();
    let auth = bob.auth(&gid, "POST", "/v1/attachments", &body);
    let (tx, rx) = tokio::sync::oneshot::channel();
    let (head, rest) = body.split_at(100_000);
    let req = ds
        .http
        .post(ds.url("/v1/attachments"))
        .header(AUTH_HEADER, auth)
        .header("content-length", body.len())
        .body(two_part_body(head.to_vec(), rest.to_vec(), rx))
        .send();
    let oneshot = tokio::spawn(req);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // Alice removes Bob.
    alice.remove(&ds, &gid, bob.leaf(&gid), &mut []).await;
    let _ = tx.send(());
    let r = oneshot.await.unwrap().unwrap();
    // Before the fix: 201 with a token.
    assert_eq!(code_of(r).await, (403, "Forbidden".into()));
    // The next part of the resumable upload (Bob signs in the epoch he knows).
    assert_eq!(code_of(bob.patch(&ds, &gid, &loc, 10_000, vec![3; 10_000]).await).await, (403, "Forbidden".into()));
    // Nothing of Bob's stayed: only Alice's... nothing at all was stored.
    let path = format!("/v1/groups/{}/quota", b64(&gid));
    let h = alice.auth(&gid, "GET", &path, b"");
    let v: serde_json::Value =
        ds.http.get(ds.url(&path)).header(AUTH_HEADER, h).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["attachments"], 1, "only the abandoned resumable reservation, no one-shot attachment: {v}");
}

#[tokio::test]
async fn squatting_readable_group_ids_must_be_in_the_registrants_namespace() {
    let ds = Ds::start(|_| {}).await;
    let mut mallory = Member::new("mallory");
    let mut alice = Member::new("alice");
    // Before the fix: Mallory could take "team" (or "alice/team") first.
    assert_eq!(register_with_id(&ds, &mut mallory, b"team", "mallory").await.0, 400);
    assert_eq!(register_with_id(&ds, &mut mallory, b"alice/team", "mallory").await, (403, "Forbidden".into()));
    assert_eq!(register_with_id(&ds, &mut mallory, b"\x01\x02short", "mallory").await.0, 400);
    assert_eq!(register_with_id(&ds, &mut alice, b"alice/team", "alice").await.0, 201);
    // Random binary ids (openmls' default, 16 bytes) are accepted.
    alice.create_group(&ds).await;
}

#[tokio::test]
async fn group_registry_is_bounded_and_persisted() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_path_buf();
    let mut cfg = dev_config(&data);
    cfg.max_groups = 2;
    let ds = mimi_ds::start(cfg.clone()).await.unwrap();
    let client = Ds::at(ds.url());
    let mut alice = Member::new("alice");
    let mut bob = Member::new("bob");
    assert_eq!(register_with_id(&client, &mut alice, b"alice/1", "alice").await.0, 201);
    assert_eq!(register_with_id(&client, &mut bob, b"bob/1", "bob").await.0, 201);
    // Before the fix: unbounded.
    assert_eq!(register_with_id(&client, &mut bob, b"bob/2", "bob").await, (507, "QuotaExceeded".into()));
    ds.shutdown().await;
    // After a restart the registry (with its owners) is back and still bounded.
    let ds = mimi_ds::start(cfg).await.unwrap();
    let client = Ds::at(ds.url());
    assert_eq!(register_with_id(&client, &mut bob, b"bob/3", "bob").await, (507, "QuotaExceeded".into()));
    let gid = b"alice/1".to_vec();
    alice.upload(&client, &gid, b"still served").await.unwrap();
    assert_eq!(ds.app.groups.epoch(&gid), Some(0));
    ds.shutdown().await;
}

/// Offsets in an `MlsMessage(GroupInfo)`: (confirmation tag content range, end of the signed part).
fn group_info_layout(raw: &[u8]) -> (std::ops::Range<usize>, usize) {
    fn vl(raw: &[u8], at: usize) -> (usize, usize) {
        let b0 = raw[at];
        let (n, mut v) = match b0 >> 6 {
            0 => (1, (b0 & 0x3f) as usize),
            1 => (2, (b0 & 0x3f) as usize),
            _ => (4, (b0 & 0x3f) as usize),
        };
        for i in 1..n {
            v = (v << 8) | raw[at + i] as usize;
        }
        (at + n, v) // content start, length
    }
    let mut at = 4 + 4; // MlsMessage version+wire_format, GroupContext version+suite
    let skip = |at: usize| {
        let (s, l) = vl(raw, at);
        s + l
    };
    at = skip(at); // group_id
    at += 8; // epoch
    at = skip(at); // tree_hash
    at = skip(at); // confirmed_transcript_hash
    at = skip(at); // GroupContext extensions
    at = skip(at); // GroupInfo extensions
    let (tag_start, tag_len) = vl(raw, at);
    let signer_end = tag_start + tag_len + 4;
    (tag_start..tag_start + tag_len, signer_end)
}

/// Bob's commit adding `eve`, with its confirmation tag tampered with in both the commit and a
/// re-signed GroupInfo: everything the DS can check is valid. Returns (commit, handshake body,
/// Eve's leaf).
fn forged_commit(bob: &mut Member, gid: &[u8], eve: &Member) -> (Vec<u8>, Vec<u8>, u32) {
    let (p, s) = (&bob.provider, &bob.signer);
    let g = bob.groups.iter_mut().find(|g| g.group_id().as_slice() == gid).unwrap();
    let (commit, _welcome, _) = g.add_members(p, s, &[eve.key_package()]).unwrap();
    g.merge_pending_commit(p).unwrap();
    let eve_leaf = g.members().find(|m| m.credential.serialized_content() == b"eve").unwrap().index.u32();
    let mut gi = g.export_group_info(p.crypto(), s, true).unwrap().tls_serialize_detached().unwrap();
    let mut commit = commit.tls_serialize_detached().unwrap();
    let (tag, tbs_end) = group_info_layout(&gi);
    let old_tag = gi[tag.clone()].to_vec();
    let pos = commit.windows(old_tag.len()).position(|w| w == old_tag.as_slice()).expect("tag in the commit");
    commit[pos] ^= 1;
    gi[tag.start] ^= 1;
    // Re-sign the GroupInfo: SignWithLabel(key, "GroupInfoTBS", GroupInfoTBS).
    let tbs = &gi[4..tbs_end];
    let label = b"MLS 1.0 GroupInfoTBS";
    let mut content = vec![label.len() as u8];
    content.extend_from_slice(label);
    content.extend(mimi_attachments::wire::vl_header(tbs.len()).unwrap());
    content.extend_from_slice(tbs);
    let sig = s.sign(&content).unwrap();
    let (sig_start, sig_len) = {
        let b0 = gi[tbs_end];
        assert_eq!(b0 >> 6, 1, "2-byte length of the signature");
        (tbs_end + 2, ((b0 & 0x3f) as usize) << 8 | gi[tbs_end + 1] as usize)
    };
    assert_eq!(sig_len, sig.len());
    gi[sig_start..sig_start + sig_len].copy_from_slice(&sig);
    let mut body = commit.clone();
    body.extend_from_slice(&gi);
    (commit, body, eve_leaf)
}

#[tokio::test]
async fn forged_commit_bricking_is_undone_by_a_members_rejection_and_the_group_works_again() {
    let ds = Ds::start(|_| {}).await;
    let mut alice = Member::new("alice");
    let mut bob = Member::new("bob");
    let mut carol = Member::new("carol");
    let gid = alice.create_group(&ds).await;
    alice.add(&ds, &gid, &mut bob, &mut []).await;
    alice.add(&ds, &gid, &mut carol, &mut [&mut bob]).await;
    let epoch = alice.epoch(&gid);
    let eve = Member::new("eve");

    // Bob (a member) posts the forged commit; the DS cannot tell and advances.
    let (commit, body, eve_leaf) = forged_commit(&mut bob, &gid, &eve);
    ds.handshake(&gid, body).await;
    assert_eq!(ds.app().groups.epoch(&gid), Some(epoch + 1));
    // Eve now has DS access...
    let mpath = format!("/v1/groups/{}/messages?after=0", b64(&gid));
    let eve_get = |path: &str| eve.auth_with(&gid, epoch + 1, eve_leaf, "GET", path, empty_body_hash(), now_ms());
    let r = ds.http.get(ds.url(&mpath)).header(AUTH_HEADER, eve_get(&mpath)).send().await.unwrap();
    assert_eq!(r.status(), 200, "the outsider reads the relay after the forged commit");
    // ... while the honest members reject the commit.
    for m in [&mut alice, &mut carol] {
        let g = m.groups.iter_mut().find(|g| g.group_id().as_slice() == gid.as_slice()).unwrap();
        let pm = MlsMessageIn::tls_deserialize_exact(&commit).unwrap().try_into_protocol_message().unwrap();
        assert!(g.process_message(&m.provider, pm).is_err(), "honest members reject the forged commit");
    }
    // Before the fix: honest commits in their epoch are refused from now on (409 WrongEpoch).

    // The rejection: signed by Alice in the epoch before the commit, carrying the commit.
    let rpath = format!("/v1/groups/{}/reject", b64(&gid));
    let sign = |m: &Member, body: &[u8]| m.auth(&gid, "POST", &rpath, body);
    // A non-member's or the committer's rejection counts for nothing.
    let r = ds
        .http
        .post(ds.url(&rpath))
        .header(
            AUTH_HEADER,
            eve.auth_with(&gid, epoch, eve_leaf, "POST", &rpath, mimi_attachments::auth::body_hash(&commit), now_ms()),
        )
        .body(commit.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(r).await, (403, "Forbidden".into()));
    let bob_at_prev = bob.auth_with(
        &gid,
        epoch,
        bob.leaf(&gid),
        "POST",
        &rpath,
        mimi_attachments::auth::body_hash(&commit),
        now_ms(),
    );
    let r = ds.http.post(ds.url(&rpath)).header(AUTH_HEADER, bob_at_prev).body(commit.clone()).send().await.unwrap();
    assert_eq!(code_of(r).await, (403, "Forbidden".into()));
    // Another message than the last commit: 409.
    let r = ds
        .http
        .post(ds.url(&rpath))
        .header(AUTH_HEADER, sign(&alice, b"other"))
        .body(&b"other"[..])
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(r).await, (409, "Conflict".into()));
    let r = ds
        .http
        .post(ds.url(&rpath))
        .header(AUTH_HEADER, sign(&alice, &commit))
        .body(commit.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(ds.app().groups.epoch(&gid), Some(epoch));
    // Eve's access is gone.
    let r = ds.http.get(ds.url(&mpath)).header(AUTH_HEADER, eve_get(&mpath)).send().await.unwrap();
    assert_eq!(code_of(r).await, (403, "Forbidden".into()));

    // The honest members continue: Alice removes Bob, Carol follows, and they share a file.
    alice.remove(&ds, &gid, bob.leaf(&gid), &mut [&mut carol]).await;
    assert_eq!(alice.epoch(&gid), epoch + 1);
    let token = alice.upload(&ds, &gid, b"after the recovery").await.unwrap();
    assert_eq!(carol.download(&ds, &gid, &token).await.unwrap(), b"after the recovery");
    // Carol worked in the new epoch: Alice's honest commit is confirmed and cannot be disputed.
    let r = ds
        .http
        .post(ds.url(&rpath))
        .header(
            AUTH_HEADER,
            carol.auth_with(
                &gid,
                epoch,
                carol.leaf(&gid),
                "POST",
                &rpath,
                mimi_attachments::auth::body_hash(b"x"),
                now_ms(),
            ),
        )
        .body(&b"x"[..])
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(r).await, (403, "Forbidden".into()));
    // And Carol uploads in the new epoch too.
    let token2 = carol.upload(&ds, &gid, b"still fine").await.unwrap();
    assert_eq!(alice.download(&ds, &gid, &token2).await.unwrap(), b"still fine");
}
