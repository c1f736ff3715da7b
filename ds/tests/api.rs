//! Integration tests: a real DS in-process, real openmls groups, real HTTP on 127.0.0.1.

mod common;

use common::*;
use mimi_attachments::auth::{body_hash, empty_body_hash, AUTH_HEADER, AUTH_TARGET_HEADER};
use mimi_attachments::wire::{decode_exact, encode, DownloadAttachmentRequest, DownloadAttachmentResponse};
use openmls::prelude::tls_codec::Deserialize as _;
use openmls::prelude::OpenMlsProvider as _;

/// Alice creates a group and adds Bob; Carol is in no group.
async fn alice_and_bob(ds: &Ds) -> (Member, Member, Vec<u8>) {
    let mut alice = Member::new("alice");
    let mut bob = Member::new("bob");
    let gid = alice.create_group(ds).await;
    alice.add(ds, &gid, &mut bob, &mut []).await;
    assert_eq!(alice.epoch(&gid), 1);
    assert_eq!(bob.epoch(&gid), 1);
    (alice, bob, gid)
}

#[tokio::test]
async fn member_uploads_one_shot_and_members_download_via_get_and_tls() {
    let ds = Ds::start(|_| {}).await;
    let (alice, bob, gid) = alice_and_bob(&ds).await;
    let content = random_bytes(300_000, 1);
    let token = alice.upload(&ds, &gid, &content).await.unwrap();
    assert_eq!(token.len(), 32, "256-bit token");

    // GET with the security headers.
    let path = format!("/v1/attachments/{}", b64(&token));
    let r = ds.http.get(ds.url(&path)).header(AUTH_HEADER, bob.auth(&gid, "GET", &path, b"")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    assert_eq!(h["content-type"], "application/octet-stream");
    assert_eq!(h["content-disposition"], "attachment");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["content-security-policy"], "sandbox; default-src 'none'");
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["content-length"], "300000");
    assert_eq!(r.bytes().await.unwrap().as_ref(), content.as_slice());

    // The draft's DownloadAttachmentRequest -> DownloadAttachmentResponse.
    let body =
        encode(&DownloadAttachmentRequest { group_id: gid.clone().into(), token: token.clone().into() }).unwrap();
    let r = ds
        .http
        .post(ds.url("/v1/attachments/download"))
        .header(AUTH_HEADER, bob.auth(&gid, "POST", "/v1/attachments/download", &body))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let resp: DownloadAttachmentResponse = decode_exact(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(resp.content.as_slice(), content.as_slice());

    // The DB holds only a hash of the token: the raw token bytes appear nowhere in it.
    // (Embedded backend: the SQLite files; PostgreSQL stores the same rows.)
    if backend::is_embedded() {
        let db = std::fs::read(ds.data_dir().join("meta.sqlite")).unwrap();
        let wal = std::fs::read(ds.data_dir().join("meta.sqlite-wal")).unwrap_or_default();
        for file in [&db, &wal] {
            assert!(!file.windows(32).any(|w| w == token.as_slice()), "token stored in clear");
        }
    }

    // Two uploads get different tokens; an empty attachment is fine too.
    let t2 = alice.upload(&ds, &gid, &content).await.unwrap();
    assert_ne!(t2, token);
    let t3 = bob.upload(&ds, &gid, b"").await.unwrap();
    assert_eq!(alice.download(&ds, &gid, &t3).await.unwrap(), b"");
}

#[tokio::test]
async fn resumable_upload_offsets_conflict_head_and_cancel() {
    let ds = Ds::start(|c| c.group_quota_bytes = 3_000_000).await;
    let (alice, bob, gid) = alice_and_bob(&ds).await;
    let content = random_bytes(1_000_003, 2);
    let loc = alice.create_upload(&ds, &gid, content.len() as u64).await.unwrap();
    assert!(loc.starts_with("/v1/uploads/"));

    let r = alice.patch(&ds, &gid, &loc, 0, content[..400_000].to_vec()).await;
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["upload-offset"], "400000");
    assert_eq!(r.headers()["upload-complete"], "?0");

    // Wrong offset: 409 carrying the right one, nothing written.
    let r = alice.patch(&ds, &gid, &loc, 123, content[123..500_000].to_vec()).await;
    assert_eq!(r.status(), 409);
    assert_eq!(r.headers()["upload-offset"], "400000");
    assert_eq!(code_of(r).await.1, "Conflict");

    let r = alice.head_upload(&ds, &gid, &loc).await;
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["upload-offset"], "400000");
    assert_eq!(r.headers()["upload-length"], "1000003");

    // A body whose hash is not the signed one is refused and nothing of it stays.
    let h = alice.auth(&gid, "PATCH", &loc, b"something else");
    let r = ds
        .http
        .patch(ds.url(&loc))
        .header(AUTH_HEADER, h)
        .header("upload-offset", 400_000)
        .body(content[400_000..600_000].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(r).await, (401, "BadSignature".into()));
    assert_eq!(alice.head_upload(&ds, &gid, &loc).await.headers()["upload-offset"], "400000");

    // More than Upload-Length: 413, offset unchanged.
    let mut too_long = content[400_000..].to_vec();
    too_long.push(0);
    let r = alice.patch(&ds, &gid, &loc, 400_000, too_long).await;
    assert_eq!(code_of(r).await, (413, "TooLarge".into()));
    assert_eq!(alice.head_upload(&ds, &gid, &loc).await.headers()["upload-offset"], "400000");

    // Another member cannot see or write someone else's upload.
    assert_eq!(bob.head_upload(&ds, &gid, &loc).await.status(), 404);
    assert_eq!(bob.patch(&ds, &gid, &loc, 400_000, content[400_000..].to_vec()).await.status(), 404);

    // No token before completion: the attachment is not downloadable.
    let r = alice.patch(&ds, &gid, &loc, 400_000, content[400_000..].to_vec()).await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["upload-offset"], "1000003");
    let token = token_or_code(r).await.unwrap();
    assert_eq!(bob.download(&ds, &gid, &token).await.unwrap(), content);
    // The upload is gone once complete.
    assert_eq!(alice.head_upload(&ds, &gid, &loc).await.status(), 404);

    // Cancel frees the reservation: 1,000,003 + 1,900,000 fits 3,000,000 only after the cancel.
    let loc2 = alice.create_upload(&ds, &gid, 1_900_000).await.unwrap();
    assert_eq!(alice.create_upload(&ds, &gid, 1_000_000).await.unwrap_err(), (507, "QuotaExceeded".into()));
    let h = alice.auth(&gid, "DELETE", &loc2, b"");
    assert_eq!(ds.http.delete(ds.url(&loc2)).header(AUTH_HEADER, h).send().await.unwrap().status(), 204);
    assert_eq!(alice.head_upload(&ds, &gid, &loc2).await.status(), 404);
    alice.create_upload(&ds, &gid, 1_000_000).await.unwrap();
    assert_eq!(files_in(ds.data_dir(), "staging"), 1);

    // Chunked helper round trip with uneven chunks.
    let c2 = random_bytes(77_777, 3);
    let t2 = bob.upload_resumable(&ds, &gid, &c2, 10_000).await.unwrap();
    assert_eq!(alice.download(&ds, &gid, &t2).await.unwrap(), c2);
}

#[tokio::test]
async fn removed_member_is_rejected_at_once_even_within_the_epoch_grace() {
    let ds = Ds::start(|c| c.epoch_grace_secs = 300).await;
    let (mut alice, mut bob, gid) = alice_and_bob(&ds).await;
    let mut carol = Member::new("carol");
    alice.add(&ds, &gid, &mut carol, &mut [&mut bob]).await;
    let token = bob.upload(&ds, &gid, b"bob's file").await.unwrap();
    let bob_leaf = bob.leaf(&gid);
    let old_epoch = bob.epoch(&gid);

    // Carol, still at the previous epoch's view after Alice's next commit, stays accepted
    // during the grace period (she is still a member).
    alice.remove(&ds, &gid, bob_leaf, &mut []).await;
    assert_eq!(alice.epoch(&gid), old_epoch + 1);
    let path = format!("/v1/attachments/{}", b64(&token));
    let h = carol.auth_with(&gid, old_epoch, carol.leaf(&gid), "GET", &path, empty_body_hash(), now_ms());
    let r = ds.http.get(ds.url(&path)).header(AUTH_HEADER, h).send().await.unwrap();
    assert_eq!(r.status(), 200, "previous epoch within grace");

    // Bob, removed, signing at the previous epoch (which he still holds): 403 on every route,
    // decided before the token is looked up.
    assert_eq!(bob.download(&ds, &gid, &token).await.unwrap_err(), (403, "Forbidden".into()));
    assert_eq!(bob.delete(&ds, &gid, &token).await, 403);
    assert_eq!(bob.upload(&ds, &gid, b"x").await.unwrap_err(), (403, "Forbidden".into()));
    assert_eq!(bob.create_upload(&ds, &gid, 10).await.unwrap_err(), (403, "Forbidden".into()));
    // Or claiming the current epoch: his leaf is blank now.
    let h = bob.auth_with(&gid, old_epoch + 1, bob_leaf, "GET", &path, empty_body_hash(), now_ms());
    let r = ds.http.get(ds.url(&path)).header(AUTH_HEADER, h).send().await.unwrap();
    assert_eq!(code_of(r).await, (403, "Forbidden".into()));
    // Alice and Carol (after processing the commit) still download.
    assert_eq!(alice.download(&ds, &gid, &token).await.unwrap(), b"bob's file");
}

#[tokio::test]
async fn previous_epoch_is_refused_after_the_grace_period() {
    let ds = Ds::start(|c| c.epoch_grace_secs = 0).await;
    let (mut alice, mut bob, gid) = alice_and_bob(&ds).await;
    let token = alice.upload(&ds, &gid, b"data").await.unwrap();
    let old = alice.epoch(&gid);
    let mut carol = Member::new("carol");
    alice.add(&ds, &gid, &mut carol, &mut []).await;
    let path = format!("/v1/attachments/{}", b64(&token));
    let h = bob.auth_with(&gid, old, bob.leaf(&gid), "GET", &path, empty_body_hash(), now_ms());
    let r = ds.http.get(ds.url(&path)).header(AUTH_HEADER, h).send().await.unwrap();
    assert_eq!(code_of(r).await, (401, "StaleEpoch".into()));
    // Bob catches up from the relay (any old epoch may fetch) and is accepted again.
    let mpath = format!("/v1/groups/{}/messages?after=0", b64(&gid));
    let h = bob.auth_with(&gid, old, bob.leaf(&gid), "GET", &mpath, empty_body_hash(), now_ms());
    let r = ds.http.get(ds.url(&mpath)).header(AUTH_HEADER, h).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    let msgs = v["messages"].as_array().unwrap();
    // Commit adding Bob (seq 1) and the commit adding Carol (seq 2).
    assert_eq!(msgs.len(), 2);
    let commit =
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, msgs[1]["data"].as_str().unwrap())
            .unwrap();
    bob.process_commit(&gid, &commit);
    assert_eq!(bob.download(&ds, &gid, &token).await.unwrap(), b"data");
}

#[tokio::test]
async fn non_member_forged_replayed_stale_and_unsigned_requests_are_rejected() {
    let ds = Ds::start(|c| c.clock_skew_secs = 60).await;
    let (alice, _bob, gid) = alice_and_bob(&ds).await;
    let carol = Member::new("carol");
    let token = alice.upload(&ds, &gid, b"secret ciphertext").await.unwrap();
    let path = format!("/v1/attachments/{}", b64(&token));
    let get = |h: String| ds.http.get(ds.url(&path)).header(AUTH_HEADER, h).send();

    // Non-member: Carol signs as leaf 0 / leaf 1 of the group with her own key: 403, for a
    // live token as for an unknown one (the membership check comes first).
    let unknown = format!("/v1/attachments/{}", b64(&[9u8; 32]));
    for leaf in [0, 1, 7] {
        let h = carol.auth_with(&gid, 1, leaf, "GET", &path, empty_body_hash(), now_ms());
        assert_eq!(code_of(get(h).await.unwrap()).await, (403, "Forbidden".into()));
        let h = carol.auth_with(&gid, 1, leaf, "GET", &unknown, empty_body_hash(), now_ms());
        let r = ds.http.get(ds.url(&unknown)).header(AUTH_HEADER, h).send().await.unwrap();
        assert_eq!(code_of(r).await, (403, "Forbidden".into()));
    }
    assert_eq!(carol.upload(&ds, &gid, b"x").await.unwrap_err().0, 403);
    // Unknown group.
    let h = carol.auth_with(b"no such group", 0, 0, "GET", &path, empty_body_hash(), now_ms());
    assert_eq!(code_of(get(h).await.unwrap()).await, (403, "Forbidden".into()));

    // Forged: Alice's header with one signature byte flipped.
    let good = alice.auth(&gid, "GET", &path, b"");
    let mut raw = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &good).unwrap();
    let last = raw.len() - 1;
    raw[last] ^= 1;
    let forged = b64(&raw);
    assert_eq!(code_of(get(forged).await.unwrap()).await, (403, "Forbidden".into()));
    // The genuine one works once; replaying it is refused.
    assert_eq!(get(good.clone()).await.unwrap().status(), 200);
    assert_eq!(code_of(get(good).await.unwrap()).await, (401, "Replay".into()));

    // Stale and future timestamps.
    for ts in [now_ms() - 120_000, now_ms() + 120_000] {
        let h = alice.auth_with(&gid, alice.epoch(&gid), alice.leaf(&gid), "GET", &path, empty_body_hash(), ts);
        assert_eq!(code_of(get(h).await.unwrap()).await, (401, "Stale".into()));
    }
    // A signature for another path or method.
    let h = alice.auth(&gid, "GET", "/v1/attachments/other", b"");
    assert_eq!(code_of(get(h).await.unwrap()).await, (401, "BadSignature".into()));
    let h = alice.auth(&gid, "DELETE", &path, b"");
    assert_eq!(code_of(get(h).await.unwrap()).await, (401, "BadSignature".into()));
    // Missing or garbage header.
    let r = ds.http.get(ds.url(&path)).send().await.unwrap();
    assert_eq!(code_of(r).await, (401, "Unauthorized".into()));
    assert_eq!(code_of(get("AAAA".into()).await.unwrap()).await, (401, "Unauthorized".into()));

    // An upload whose body is not the signed one.
    let body = encode(&mimi_attachments::wire::UploadAttachmentRequest {
        group_id: gid.clone().into(),
        content: b"evil".to_vec().into(),
    })
    .unwrap();
    let h = alice.auth(&gid, "POST", "/v1/attachments", b"benign");
    let r = ds.http.post(ds.url("/v1/attachments")).header(AUTH_HEADER, h).body(body).send().await.unwrap();
    assert_eq!(code_of(r).await, (401, "BadSignature".into()));
    assert_eq!(files_in(ds.data_dir(), "staging"), 0);
    assert_eq!(files_in(ds.data_dir(), "blobs"), 1);
}

#[tokio::test]
async fn token_of_another_group_or_unknown_token_gets_the_same_404() {
    let ds = Ds::start(|_| {}).await;
    let (mut alice, _bob, g1) = alice_and_bob(&ds).await;
    let g2 = alice.create_group(&ds).await;
    let token = alice.upload(&ds, &g1, b"group one only").await.unwrap();
    let path = format!("/v1/attachments/{}", b64(&token));
    let r1 = ds.http.get(ds.url(&path)).header(AUTH_HEADER, alice.auth(&g2, "GET", &path, b"")).send().await.unwrap();
    let unknown = format!("/v1/attachments/{}", b64(&[9u8; 32]));
    let r2 =
        ds.http.get(ds.url(&unknown)).header(AUTH_HEADER, alice.auth(&g1, "GET", &unknown, b"")).send().await.unwrap();
    assert_eq!(r1.status(), 404);
    assert_eq!(r2.status(), 404);
    assert_eq!(r1.text().await.unwrap(), r2.text().await.unwrap());
    // TLS download naming group 2 with group 2's signature: 404 too; a body naming g1 signed for g2: 404.
    for named in [&g2, &g1] {
        let body =
            encode(&DownloadAttachmentRequest { group_id: named.clone().into(), token: token.clone().into() }).unwrap();
        let r = ds
            .http
            .post(ds.url("/v1/attachments/download"))
            .header(AUTH_HEADER, alice.auth(&g2, "POST", "/v1/attachments/download", &body))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(code_of(r).await, (404, "NotFound".into()));
    }
    // Deleting through the other group fails too, and the attachment survives.
    assert_eq!(alice.delete(&ds, &g2, &token).await, 404);
    assert_eq!(alice.download(&ds, &g1, &token).await.unwrap(), b"group one only");
}

#[tokio::test]
async fn quotas_per_file_group_bytes_and_count_leave_nothing_behind() {
    let ds = Ds::start(|c| {
        c.max_file_bytes = 100_000;
        c.group_quota_bytes = 250_000;
        c.group_quota_count = 3;
    })
    .await;
    let (alice, _bob, gid) = alice_and_bob(&ds).await;
    // Per file: one-shot and resumable.
    assert_eq!(alice.upload(&ds, &gid, &vec![1; 100_001]).await.unwrap_err(), (413, "TooLarge".into()));
    assert_eq!(alice.create_upload(&ds, &gid, 100_001).await.unwrap_err(), (413, "TooLarge".into()));
    alice.upload(&ds, &gid, &vec![2; 100_000]).await.unwrap();
    alice.upload(&ds, &gid, &vec![3; 100_000]).await.unwrap();
    // Group bytes: 200,000 used, 60,000 more would exceed 250,000.
    assert_eq!(alice.upload(&ds, &gid, &vec![4; 60_000]).await.unwrap_err(), (507, "QuotaExceeded".into()));
    assert_eq!(alice.create_upload(&ds, &gid, 60_000).await.unwrap_err(), (507, "QuotaExceeded".into()));
    alice.upload(&ds, &gid, &vec![5; 50_000]).await.unwrap();
    // Group count: 3 attachments.
    assert_eq!(alice.upload(&ds, &gid, b"tiny").await.unwrap_err(), (507, "QuotaExceeded".into()));
    // Rejected uploads left no staging file; exactly three blobs exist.
    assert_eq!(files_in(ds.data_dir(), "staging"), 0);
    assert_eq!(files_in(ds.data_dir(), "blobs"), 3);
    assert_eq!(ds.app().meta.usage(&gid).unwrap(), (250_000, 3));
}

#[tokio::test]
async fn quota_is_enforced_during_a_one_shot_upload_that_lies_about_its_length() {
    let ds = Ds::start(|c| c.max_file_bytes = 100_000).await;
    let (alice, _bob, gid) = alice_and_bob(&ds).await;
    // The TLS length says 5,000 but 20,000 bytes follow: refused, nothing stays.
    let mut body = encode(&mimi_attachments::wire::UploadAttachmentRequest {
        group_id: gid.clone().into(),
        content: vec![0; 5_000].into(),
    })
    .unwrap();
    body.extend(vec![0u8; 15_000]);
    let h = alice.auth(&gid, "POST", "/v1/attachments", &body);
    let r = ds.http.post(ds.url("/v1/attachments")).header(AUTH_HEADER, h).body(body).send().await.unwrap();
    assert_eq!(code_of(r).await, (400, "BadRequest".into()));
    assert_eq!(files_in(ds.data_dir(), "staging"), 0);
    assert_eq!(files_in(ds.data_dir(), "blobs"), 0);
    assert_eq!(ds.app().meta.usage(&gid).unwrap(), (0, 0));
}

#[tokio::test]
async fn delete_follows_the_uploader_policy() {
    let ds = Ds::start(|_| {}).await;
    let (alice, bob, gid) = alice_and_bob(&ds).await;
    let token = alice.upload(&ds, &gid, b"alice's").await.unwrap();
    assert_eq!(files_in(ds.data_dir(), "blobs"), 1);
    assert_eq!(bob.delete(&ds, &gid, &token).await, 403);
    assert_eq!(bob.download(&ds, &gid, &token).await.unwrap(), b"alice's");
    assert_eq!(alice.delete(&ds, &gid, &token).await, 204);
    assert_eq!(bob.download(&ds, &gid, &token).await.unwrap_err(), (404, "NotFound".into()));
    assert_eq!(alice.delete(&ds, &gid, &token).await, 404);
    assert_eq!(files_in(ds.data_dir(), "blobs"), 0, "bytes removed");
}

#[tokio::test]
async fn delete_follows_the_any_member_policy() {
    let ds = Ds::start(|c| c.delete_policy = mimi_ds::DeletePolicy::Member).await;
    let (alice, bob, gid) = alice_and_bob(&ds).await;
    let carol = Member::new("carol");
    let token = alice.upload(&ds, &gid, b"alice's").await.unwrap();
    assert_eq!(carol.delete(&ds, &gid, &token).await, 403, "non-members never delete");
    assert_eq!(bob.delete(&ds, &gid, &token).await, 204);
    assert_eq!(alice.download(&ds, &gid, &token).await.unwrap_err().0, 404);
}

#[tokio::test]
async fn attachments_and_incomplete_uploads_expire_and_the_sweeper_removes_bytes() {
    let ds = Ds::start(|c| {
        c.attachment_ttl_secs = 2;
        c.upload_ttl_secs = 2;
        c.sweep_interval_secs = 3600;
    })
    .await;
    let (alice, bob, gid) = alice_and_bob(&ds).await;
    let token = alice.upload(&ds, &gid, b"short-lived").await.unwrap();
    let loc = alice.create_upload(&ds, &gid, 1000).await.unwrap();
    assert_eq!(alice.patch(&ds, &gid, &loc, 0, vec![1; 500]).await.status(), 204);
    assert_eq!(bob.download(&ds, &gid, &token).await.unwrap(), b"short-lived");
    assert_eq!((files_in(ds.data_dir(), "blobs"), files_in(ds.data_dir(), "staging")), (1, 1));
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    // Expired: the same 404 even before the sweeper ran.
    assert_eq!(bob.download(&ds, &gid, &token).await.unwrap_err(), (404, "NotFound".into()));
    assert_eq!(ds.app().sweep().await.unwrap(), (1, 1));
    assert_eq!((files_in(ds.data_dir(), "blobs"), files_in(ds.data_dir(), "staging")), (0, 0));
    assert_eq!(alice.head_upload(&ds, &gid, &loc).await.status(), 404);
    assert_eq!(ds.app().meta.usage(&gid).unwrap(), (0, 0));
}

#[tokio::test]
async fn copy_between_groups_needs_both_memberships_shares_bytes_and_charges_the_target() {
    let ds = Ds::start(|c| c.group_quota_bytes = 150_000).await;
    let (mut alice, mut bob, g1) = alice_and_bob(&ds).await;
    let g2 = alice.create_group(&ds).await;
    let content = random_bytes(100_000, 4);
    let token = alice.upload(&ds, &g1, &content).await.unwrap();
    let copy = |who: &Member, src: &[u8], dst: &[u8], token: &[u8]| {
        let path = format!("/v1/attachments/{}/copy", b64(token));
        ds.http
            .post(ds.url(&path))
            .header(AUTH_HEADER, who.auth(src, "POST", &path, b""))
            .header(AUTH_TARGET_HEADER, who.auth(dst, "POST", &path, b""))
            .send()
    };
    // Bob is not in g2: he cannot sign for it.
    let carol = Member::new("carol");
    let path = format!("/v1/attachments/{}/copy", b64(&token));
    let r = ds
        .http
        .post(ds.url(&path))
        .header(AUTH_HEADER, bob.auth(&g1, "POST", &path, b""))
        .header(AUTH_TARGET_HEADER, carol.auth_with(&g2, 0, 0, "POST", &path, empty_body_hash(), now_ms()))
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(r).await, (403, "Forbidden".into()));
    // Only one signature: refused.
    let r = ds.http.post(ds.url(&path)).header(AUTH_HEADER, alice.auth(&g1, "POST", &path, b"")).send().await.unwrap();
    assert_eq!(code_of(r).await, (401, "Unauthorized".into()));

    let r = copy(&alice, &g1, &g2, &token).await.unwrap();
    let t2 = token_or_code(r).await.unwrap();
    assert_ne!(t2, token);
    assert_eq!(alice.download(&ds, &g2, &t2).await.unwrap(), content);
    // Bound to g2 only.
    assert_eq!(bob.download(&ds, &g1, &t2).await.unwrap_err().0, 404);
    // Shared bytes, charged to the target.
    assert_eq!(files_in(ds.data_dir(), "blobs"), 1);
    assert_eq!(ds.app().meta.usage(&g2).unwrap(), (100_000, 1));
    // A second copy into g2 would exceed g2's quota.
    let r = copy(&alice, &g1, &g2, &token).await.unwrap();
    assert_eq!(code_of(r).await, (507, "QuotaExceeded".into()));
    // Deleting the original keeps the copy; deleting the copy removes the bytes.
    assert_eq!(alice.delete(&ds, &g1, &token).await, 204);
    assert_eq!(files_in(ds.data_dir(), "blobs"), 1);
    assert_eq!(alice.download(&ds, &g2, &t2).await.unwrap(), content);
    assert_eq!(alice.delete(&ds, &g2, &t2).await, 204);
    assert_eq!(files_in(ds.data_dir(), "blobs"), 0);
    // Bob joins g2 later and can copy too (same identity signs for both).
    let mut empty: [&mut Member; 0] = [];
    alice.add(&ds, &g2, &mut bob, &mut empty).await;
    let t3 = bob.upload(&ds, &g2, b"from g2").await.unwrap();
    let t4 = token_or_code(copy(&bob, &g2, &g1, &t3).await.unwrap()).await.unwrap();
    assert_eq!(alice.download(&ds, &g1, &t4).await.unwrap(), b"from g2");
}

#[tokio::test]
async fn range_downloads() {
    let ds = Ds::start(|_| {}).await;
    let (alice, bob, gid) = alice_and_bob(&ds).await;
    let content = random_bytes(1_000, 5);
    let token = alice.upload(&ds, &gid, &content).await.unwrap();
    let path = format!("/v1/attachments/{}", b64(&token));
    for (range, from, to) in
        [("bytes=0-99", 0, 99), ("bytes=900-", 900, 999), ("bytes=-10", 990, 999), ("bytes=500-5000", 500, 999)]
    {
        let r = ds
            .http
            .get(ds.url(&path))
            .header(AUTH_HEADER, bob.auth(&gid, "GET", &path, b""))
            .header("range", range)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 206, "{range}");
        assert_eq!(r.headers()["content-range"].to_str().unwrap(), format!("bytes {from}-{to}/1000"));
        assert_eq!(r.headers()["accept-ranges"], "bytes");
        assert_eq!(r.bytes().await.unwrap().as_ref(), &content[from..=to]);
    }
    let r = ds
        .http
        .get(ds.url(&path))
        .header(AUTH_HEADER, bob.auth(&gid, "GET", &path, b""))
        .header("range", "bytes=1000-")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 416);
    assert_eq!(r.headers()["content-range"], "bytes */1000");
}

#[tokio::test]
async fn relay_orders_messages_and_the_ds_refuses_bad_commits() {
    let ds = Ds::start(|_| {}).await;
    let (mut alice, mut bob, gid) = alice_and_bob(&ds).await;

    // A commit for an old epoch (Bob commits concurrently with Alice, who wins).
    let (bob_commit, _, _) = {
        let (p, s) = (&bob.provider, &bob.signer);
        bob.groups[0].self_update(p, s, openmls::prelude::LeafNodeParameters::default()).unwrap().into_contents()
    };
    let mut carol = Member::new("carol");
    alice.add(&ds, &gid, &mut carol, &mut []).await;
    let late = bob.commit_body(&gid, bob_commit, None);
    let r = ds.http.post(ds.url(&format!("/v1/groups/{}/handshake", b64(&gid)))).body(late).send().await.unwrap();
    assert_eq!(code_of(r).await, (409, "WrongEpoch".into()));

    // A commit with a GroupInfo that is not the committer's new one: refused, state unchanged.
    let (p, s) = (&carol.provider, &carol.signer);
    let stale_gi = carol.groups[0].export_group_info(p.crypto(), s, true).unwrap();
    let (commit, _, _) =
        carol.groups[0].self_update(p, s, openmls::prelude::LeafNodeParameters::default()).unwrap().into_contents();
    use openmls::prelude::tls_codec::Serialize as _;
    let mut body = commit.tls_serialize_detached().unwrap();
    body.extend(stale_gi.tls_serialize_detached().unwrap());
    let r = ds.http.post(ds.url(&format!("/v1/groups/{}/handshake", b64(&gid)))).body(body).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(ds.app().groups.epoch(&gid), Some(2));
    // The same commit with the right GroupInfo is accepted afterwards.
    let commit_bytes = commit.tls_serialize_detached().unwrap();
    let body = carol.commit_body(&gid, commit, None);
    ds.handshake(&gid, body).await;
    assert_eq!(ds.app().groups.epoch(&gid), Some(3));
    alice.process_commit(&gid, &commit_bytes);

    // Application messages are relayed in order with a cursor; members only.
    let mpath = format!("/v1/groups/{}/messages", b64(&gid));
    for text in ["one", "two"] {
        let (p, s) = (&alice.provider, &alice.signer);
        let msg = alice.groups[0].create_message(p, s, text.as_bytes()).unwrap().tls_serialize_detached().unwrap();
        let r = ds
            .http
            .post(ds.url(&mpath))
            .header(AUTH_HEADER, alice.auth(&gid, "POST", &mpath, &msg))
            .body(msg)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    let q = format!("{mpath}?after=2");
    let r = ds.http.get(ds.url(&q)).header(AUTH_HEADER, carol.auth(&gid, "GET", &q, b"")).send().await.unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    let seqs: Vec<u64> = v["messages"].as_array().unwrap().iter().map(|m| m["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, vec![3, 4, 5], "carol's commit, then the two application messages");
    assert_eq!(v["next"], 5);
    let data = base64::Engine::decode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        v["messages"][2]["data"].as_str().unwrap(),
    )
    .unwrap();
    let pm = openmls::prelude::MlsMessageIn::tls_deserialize_exact(&data).unwrap().try_into_protocol_message().unwrap();
    let (cp, _) = (&carol.provider, ());
    let got = carol.groups[0].process_message(cp, pm).unwrap();
    match got.into_content() {
        openmls::prelude::ProcessedMessageContent::ApplicationMessage(a) => assert_eq!(a.into_bytes(), b"two"),
        _ => panic!("expected an application message"),
    }
    // Long poll wakes when a message arrives.
    let q = format!("{mpath}?after=5&wait_secs=10");
    let h = carol.auth(&gid, "GET", &q, b"");
    let waiter = tokio::spawn({
        let http = ds.http.clone();
        let url = ds.url(&q);
        async move { http.get(url).header(AUTH_HEADER, h).send().await.unwrap().json::<serde_json::Value>().await.unwrap() }
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let (p, s) = (&alice.provider, &alice.signer);
    let msg = alice.groups[0].create_message(p, s, b"three").unwrap().tls_serialize_detached().unwrap();
    let t0 = std::time::Instant::now();
    ds.http
        .post(ds.url(&mpath))
        .header(AUTH_HEADER, alice.auth(&gid, "POST", &mpath, &msg))
        .body(msg)
        .send()
        .await
        .unwrap();
    let v = tokio::time::timeout(std::time::Duration::from_secs(5), waiter).await.unwrap().unwrap();
    assert!(t0.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(v["messages"][0]["seq"], 6);
    // Non-members cannot read the relay.
    let outsider = Member::new("mallory");
    let q = format!("{mpath}?after=0");
    let r = ds
        .http
        .get(ds.url(&q))
        .header(AUTH_HEADER, outsider.auth_with(&gid, 3, 0, "GET", &q, empty_body_hash(), now_ms()))
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(r).await, (403, "Forbidden".into()));
    // Key packages are consumed; one for another identity is refused.
    let kp = openmls::prelude::MlsMessageOut::from(outsider.key_package()).tls_serialize_detached().unwrap();
    let r = ds
        .http
        .post(ds.url(&format!("/v1/clients/{}/key-packages", b64(b"someone-else"))))
        .bearer_auth(ds.token("someone-else").await)
        .body(kp)
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(r).await, (403, "Forbidden".into()));
    let r = ds
        .http
        .post(ds.url(&format!("/v1/clients/{}/key-packages/claim", outsider.client_id())))
        .bearer_auth(ds.token("alice").await)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let _ = body_hash(b"");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_uploads_of_random_sizes_round_trip_byte_exact() {
    let ds = std::sync::Arc::new(Ds::start(|_| {}).await);
    let (alice, bob, gid) = alice_and_bob(&ds).await;
    let (alice, bob) = (std::sync::Arc::new(alice), std::sync::Arc::new(bob));
    let mut tasks = Vec::new();
    for i in 0..50u64 {
        let (ds, alice, bob, gid) = (ds.clone(), alice.clone(), bob.clone(), gid.clone());
        tasks.push(tokio::spawn(async move {
            let size = (rand_size(i) % 1_500_000) as usize;
            let content = random_bytes(size, 100 + i);
            let token = if i % 2 == 0 {
                alice.upload(&ds, &gid, &content).await.unwrap()
            } else {
                alice
                    .upload_resumable(&ds, &gid, &content, 256 * 1024)
                    .await
                    .unwrap_or_else(|e| panic!("{size}: {e:?}"))
            };
            let got = bob.download(&ds, &gid, &token).await.unwrap();
            assert!(got == content, "upload {i} of {size} bytes differs");
            token
        }));
    }
    let mut tokens = std::collections::HashSet::new();
    for t in tasks {
        tokens.insert(t.await.unwrap());
    }
    assert_eq!(tokens.len(), 50);
    assert_eq!(files_in(ds.data_dir(), "blobs"), 50);
    assert_eq!(files_in(ds.data_dir(), "staging"), 0);
}

fn rand_size(i: u64) -> u64 {
    // Mix 0, tiny, chunk-boundary and large sizes.
    match i % 10 {
        0 => 0,
        1 => 1,
        2 => 256 * 1024,
        3 => 256 * 1024 + 1,
        _ => i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40,
    }
}

#[tokio::test]
async fn restart_recovers_an_unrecorded_commit_and_removes_orphans() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_path_buf();
    let ds = mimi_ds::start(dev_config(&data)).await.unwrap();
    let client = Ds::at(ds.url());
    let (alice, bob, gid) = alice_and_bob(&client).await;
    let content = random_bytes(10_000, 20);
    let loc = alice.create_upload(&client, &gid, 10_000).await.unwrap();
    assert_eq!(alice.patch(&client, &gid, &loc, 0, content[..4_000].to_vec()).await.status(), 204);
    let kept = alice.upload(&client, &gid, b"kept").await.unwrap();
    ds.shutdown().await;

    // Simulate a kill between the staging->blob rename and the metadata commit, plus debris.
    let id = loc.rsplit('/').next().unwrap();
    std::fs::rename(data.join("staging").join(id), data.join("blobs").join(id)).unwrap();
    std::fs::write(data.join("blobs").join("ab".repeat(16)), b"orphan blob").unwrap();
    std::fs::write(data.join("staging").join("cd".repeat(16)), b"orphan staging").unwrap();

    let ds = mimi_ds::start(dev_config(&data)).await.unwrap();
    let client = Ds::at(ds.url());
    assert_eq!(files_in(&data, "staging"), 1);
    assert_eq!(files_in(&data, "blobs"), 1, "only the completed attachment's blob remains");
    let r = alice.head_upload(&client, &gid, &loc).await;
    assert_eq!(r.headers()["upload-offset"], "4000");
    let r = alice.patch(&client, &gid, &loc, 4_000, content[4_000..].to_vec()).await;
    let token = token_or_code(r).await.unwrap();
    assert_eq!(bob.download(&client, &gid, &token).await.unwrap(), content);
    assert_eq!(bob.download(&client, &gid, &kept).await.unwrap(), b"kept");
    ds.shutdown().await;
}

#[tokio::test]
async fn a_standalone_proposal_then_a_commit_by_reference_removes_a_member() {
    let ds = Ds::start(|_| {}).await;
    let (mut alice, mut bob, gid) = alice_and_bob(&ds).await;
    let mut carol = Member::new("carol");
    alice.add(&ds, &gid, &mut carol, &mut [&mut bob]).await;
    let token = alice.upload(&ds, &gid, b"for the group").await.unwrap();
    assert_eq!(carol.download(&ds, &gid, &token).await.unwrap(), b"for the group");

    // Bob proposes to remove Carol; the DS queues the proposal and relays it.
    let carol_leaf = carol.leaf(&gid);
    let (p, s) = (&bob.provider, &bob.signer);
    let (proposal, _) =
        bob.groups[0].propose_remove_member(p, s, openmls::prelude::LeafNodeIndex::new(carol_leaf)).unwrap();
    use openmls::prelude::tls_codec::Serialize as _;
    let proposal = proposal.tls_serialize_detached().unwrap();
    ds.handshake(&gid, proposal.clone()).await;
    assert_eq!(ds.app().groups.epoch(&gid), Some(2), "a proposal does not change the epoch");
    // Carol is still a member until the commit.
    assert_eq!(carol.download(&ds, &gid, &token).await.unwrap(), b"for the group");

    // Alice receives the proposal and commits to it by reference.
    let pm =
        openmls::prelude::MlsMessageIn::tls_deserialize_exact(&proposal).unwrap().try_into_protocol_message().unwrap();
    let (ap, asg) = (&alice.provider, &alice.signer);
    let processed = alice.groups[0].process_message(ap, pm).unwrap();
    match processed.into_content() {
        openmls::prelude::ProcessedMessageContent::ProposalMessage(q) => {
            alice.groups[0].store_pending_proposal(ap.storage(), *q).unwrap()
        }
        _ => panic!("expected a proposal"),
    }
    let (commit, _, _) = alice.groups[0].commit_to_pending_proposals(ap, asg).unwrap();
    let _ = asg;
    let body = alice.commit_body(&gid, commit, None);
    ds.handshake(&gid, body).await;
    assert_eq!(ds.app().groups.epoch(&gid), Some(3));
    assert_eq!(carol.download(&ds, &gid, &token).await.unwrap_err(), (403, "Forbidden".into()));
    assert_eq!(alice.download(&ds, &gid, &token).await.unwrap(), b"for the group");
}

#[tokio::test]
async fn cors_preflight_allows_the_auth_header_and_exposes_upload_headers() {
    let ds = Ds::start(|c| c.cors_origins = "https://chat.example".into()).await;
    let r = ds
        .http
        .request(reqwest::Method::OPTIONS, ds.url("/v1/uploads/00"))
        .header("origin", "https://chat.example")
        .header("access-control-request-method", "PATCH")
        .header("access-control-request-headers", "mimi-auth,upload-offset,content-type")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let h = r.headers();
    assert_eq!(h["access-control-allow-origin"], "https://chat.example");
    let allowed = h["access-control-allow-headers"].to_str().unwrap().to_ascii_lowercase();
    for name in ["mimi-auth", "mimi-auth-target", "upload-offset", "upload-length", "range"] {
        assert!(allowed.contains(name), "{name} not allowed: {allowed}");
    }
    assert!(h["access-control-allow-methods"].to_str().unwrap().contains("PATCH"));
    // A simple request from the allowed origin sees the exposed headers; another origin gets no CORS headers.
    let r = ds.http.get(ds.url("/v1/health")).header("origin", "https://chat.example").send().await.unwrap();
    let exposed = r.headers()["access-control-expose-headers"].to_str().unwrap().to_ascii_lowercase();
    for name in ["upload-offset", "upload-length", "location", "content-range"] {
        assert!(exposed.contains(name), "{name} not exposed: {exposed}");
    }
    let r = ds.http.get(ds.url("/v1/health")).header("origin", "https://evil.example").send().await.unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    // Unknown routes get the JSON 404 too.
    assert_eq!(code_of(ds.http.get(ds.url("/nope")).send().await.unwrap()).await, (404, "NotFound".into()));
}

#[tokio::test]
async fn a_member_swapped_out_of_its_leaf_is_rejected_within_the_grace_period() {
    let ds = Ds::start(|c| c.epoch_grace_secs = 300).await;
    let (mut alice, bob, gid) = alice_and_bob(&ds).await;
    let token = alice.upload(&ds, &gid, b"after bob").await.unwrap();
    let (bob_leaf, old_epoch) = (bob.leaf(&gid), bob.epoch(&gid));

    // One commit removes Bob and adds Dave, who takes Bob's leaf.
    let mut dave = Member::new("dave");
    let kp = dave.key_package();
    let (p, s) = (&alice.provider, &alice.signer);
    let msgs = alice.groups[0].swap_members(p, s, &[openmls::prelude::LeafNodeIndex::new(bob_leaf)], &[kp]).unwrap();
    let body = alice.commit_body(&gid, msgs.commit, Some(msgs.welcome));
    ds.handshake(&gid, body).await;
    let r = ds
        .http
        .get(ds.url(&format!("/v1/clients/{}/welcome", dave.client_id())))
        .bearer_auth(ds.token("dave").await)
        .send()
        .await
        .unwrap();
    let w = match openmls::prelude::MlsMessageIn::tls_deserialize_exact(r.bytes().await.unwrap()).unwrap().extract() {
        openmls::prelude::MlsMessageBodyIn::Welcome(w) => w,
        _ => panic!("not a welcome"),
    };
    let g = openmls::prelude::StagedWelcome::new_from_welcome(&dave.provider, &join_config(), w, None)
        .unwrap()
        .into_group(&dave.provider)
        .unwrap();
    dave.groups.push(g);
    assert_eq!(dave.leaf(&gid), bob_leaf, "dave reuses bob's leaf");

    // Bob signs at the previous epoch, within the grace period, with his (then valid) leaf.
    let path = format!("/v1/attachments/{}", b64(&token));
    let h = bob.auth_with(&gid, old_epoch, bob_leaf, "GET", &path, empty_body_hash(), now_ms());
    let r = ds.http.get(ds.url(&path)).header(AUTH_HEADER, h).send().await.unwrap();
    assert_eq!(code_of(r).await, (403, "Forbidden".into()));
    // Dave, at the new epoch, is in.
    assert_eq!(dave.download(&ds, &gid, &token).await.unwrap(), b"after bob");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_one_shot_upload_leaves_nothing_and_frees_its_quota() {
    use futures_util::StreamExt as _;
    let ds = Ds::start(|_| {}).await;
    let (alice, _bob, gid) = alice_and_bob(&ds).await;
    let full = encode(&mimi_attachments::wire::UploadAttachmentRequest {
        group_id: gid.clone().into(),
        content: vec![7u8; 300_000].into(),
    })
    .unwrap();
    let h = alice.auth(&gid, "POST", "/v1/attachments", &full);
    let head = full[..100_000].to_vec();
    let body = reqwest::Body::wrap_stream(
        futures_util::stream::iter(vec![Ok::<_, std::io::Error>(head)]).chain(futures_util::stream::pending()),
    );
    let req = ds.http.post(ds.url("/v1/attachments")).header(AUTH_HEADER, h).body(body).send();
    let task = tokio::spawn(req);
    let t0 = std::time::Instant::now();
    while (ds.app().meta.usage(&gid).unwrap() != (300_000, 1) || files_in(ds.data_dir(), "staging") != 1)
        && t0.elapsed() < std::time::Duration::from_secs(10)
    {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(ds.app().meta.usage(&gid).unwrap(), (300_000, 1), "reserved while in flight");
    assert_eq!(files_in(ds.data_dir(), "staging"), 1);
    task.abort(); // the client goes away mid-body
    let t0 = std::time::Instant::now();
    while (files_in(ds.data_dir(), "staging") > 0 || ds.app().meta.usage(&gid).unwrap() != (0, 0))
        && t0.elapsed() < std::time::Duration::from_secs(10)
    {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(files_in(ds.data_dir(), "staging"), 0);
    assert_eq!(files_in(ds.data_dir(), "blobs"), 0);
    assert_eq!(ds.app().meta.usage(&gid).unwrap(), (0, 0));
}

/// A signed request by `who` for group `gid`; returns (status, code) — code "" without a JSON body.
async fn signed(
    ds: &Ds,
    who: &Member,
    gid: &[u8],
    method: &str,
    path: &str,
    body: Vec<u8>,
    target: Option<(&Member, &[u8])>,
) -> (u16, String) {
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut rb = ds.http.request(m, ds.url(path)).header(AUTH_HEADER, who.auth(gid, method, path, &body));
    if let Some((t, tg)) = target {
        rb = rb.header(AUTH_TARGET_HEADER, t.auth(tg, method, path, b""));
    }
    if method == "PATCH" {
        rb = rb.header("upload-offset", 0);
    }
    if path == "/v1/uploads" {
        rb = rb.header("upload-length", 10);
    }
    let r = rb.body(body).send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let code = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["code"].as_str().map(str::to_owned))
        .unwrap_or_default();
    (status, code)
}

#[tokio::test]
async fn non_members_get_403_on_every_route_and_members_get_404_for_tokens_not_theirs() {
    let ds = Ds::start(|_| {}).await;
    let (alice, bob, g1) = alice_and_bob(&ds).await;
    let mut carol = Member::new("carol");
    let g3 = carol.create_group(&ds).await; // Carol is a member of g3 only.
    let token = alice.upload(&ds, &g1, b"g1 file").await.unwrap();
    let upload = alice.create_upload(&ds, &g1, 100).await.unwrap();
    let unknown_token = [7u8; 32];
    let unknown_upload = "/v1/uploads/0123456789abcdef0123456789abcdef".to_owned();
    let dl_body = |t: &[u8]| {
        encode(&DownloadAttachmentRequest { group_id: g1.clone().into(), token: t.to_vec().into() }).unwrap()
    };
    let up_body = encode(&mimi_attachments::wire::UploadAttachmentRequest {
        group_id: g1.clone().into(),
        content: b"x".to_vec().into(),
    })
    .unwrap();
    let gpath = |s: &str| format!("/v1/groups/{}/{s}", b64(&g1));

    // Carol, signing for g1 (with any leaf, her own key), gets 403 everywhere, whether the token
    // or upload exists or not.
    for t in [token.as_slice(), &unknown_token] {
        let tp = format!("/v1/attachments/{}", b64(t));
        let cp = format!("/v1/attachments/{}/copy", b64(t));
        assert_eq!(signed(&ds, &carol, &g1, "GET", &tp, vec![], None).await, (403, "Forbidden".into()), "GET");
        assert_eq!(signed(&ds, &carol, &g1, "DELETE", &tp, vec![], None).await, (403, "Forbidden".into()));
        let r = signed(&ds, &carol, &g1, "POST", "/v1/attachments/download", dl_body(t), None).await;
        assert_eq!(r, (403, "Forbidden".into()), "TLS download");
        let r = signed(&ds, &carol, &g1, "POST", &cp, vec![], Some((&carol, &g3))).await;
        assert_eq!(r, (403, "Forbidden".into()), "copy out of a group she is not in");
    }
    for up in [&upload, &unknown_upload] {
        assert_eq!(signed(&ds, &carol, &g1, "HEAD", up, vec![], None).await.0, 403);
        assert_eq!(signed(&ds, &carol, &g1, "PATCH", up, vec![1; 10], None).await, (403, "Forbidden".into()));
        assert_eq!(signed(&ds, &carol, &g1, "DELETE", up, vec![], None).await, (403, "Forbidden".into()));
    }
    assert_eq!(signed(&ds, &carol, &g1, "POST", "/v1/attachments", up_body, None).await, (403, "Forbidden".into()));
    assert_eq!(signed(&ds, &carol, &g1, "POST", "/v1/uploads", vec![], None).await, (403, "Forbidden".into()));
    let q = format!("{}?after=0", gpath("messages"));
    assert_eq!(signed(&ds, &carol, &g1, "GET", &q, vec![], None).await, (403, "Forbidden".into()));
    assert_eq!(signed(&ds, &carol, &g1, "POST", &gpath("messages"), vec![0; 8], None).await, (403, "Forbidden".into()));
    assert_eq!(signed(&ds, &carol, &g1, "GET", &gpath("quota"), vec![], None).await, (403, "Forbidden".into()));
    // Her upload really did not happen, and Alice's upload is untouched.
    assert_eq!(ds.app().meta.usage(&g1).unwrap(), (7 + 100, 2));

    // Bob, a member: the same 404 for a token or upload that is not a live one of his group.
    let foreign = carol.upload(&ds, &g3, b"g3 file").await.unwrap();
    for t in [unknown_token.as_slice(), &foreign] {
        let tp = format!("/v1/attachments/{}", b64(t));
        let cp = format!("/v1/attachments/{}/copy", b64(t));
        assert_eq!(signed(&ds, &bob, &g1, "GET", &tp, vec![], None).await, (404, "NotFound".into()));
        assert_eq!(signed(&ds, &bob, &g1, "DELETE", &tp, vec![], None).await, (404, "NotFound".into()));
        let r = signed(&ds, &bob, &g1, "POST", "/v1/attachments/download", dl_body(t), None).await;
        assert_eq!(r, (404, "NotFound".into()));
        let r = signed(&ds, &bob, &g1, "POST", &cp, vec![], Some((&bob, &g1))).await;
        assert_eq!(r, (404, "NotFound".into()));
    }
    // Alice's upload (another uploader) and an unknown one: 404 for Bob.
    for up in [&upload, &unknown_upload] {
        assert_eq!(signed(&ds, &bob, &g1, "HEAD", up, vec![], None).await.0, 404);
        assert_eq!(signed(&ds, &bob, &g1, "PATCH", up, vec![1; 10], None).await, (404, "NotFound".into()));
        assert_eq!(signed(&ds, &bob, &g1, "DELETE", up, vec![], None).await, (404, "NotFound".into()));
    }
    // And the genuine token works for him.
    assert_eq!(bob.download(&ds, &g1, &token).await.unwrap(), b"g1 file");
}

async fn quota(ds: &Ds, who: &Member, gid: &[u8]) -> serde_json::Value {
    let path = format!("/v1/groups/{}/quota", b64(gid));
    let r = ds.http.get(ds.url(&path)).header(AUTH_HEADER, who.auth(gid, "GET", &path, b"")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    r.json().await.unwrap()
}

#[tokio::test]
async fn quota_endpoint_reports_the_limits_and_exactly_what_the_quota_counts() {
    let ds = Ds::start(|c| {
        c.max_file_bytes = 100_000;
        c.group_quota_bytes = 250_000;
        c.group_quota_count = 3;
        c.attachment_ttl_secs = 3600;
    })
    .await;
    let (mut alice, bob, gid) = alice_and_bob(&ds).await;
    let g2 = alice.create_group(&ds).await;
    let expect = |used: u64, n: u64| {
        serde_json::json!({
            "used_bytes": used, "attachments": n, "max_group_bytes": 250_000, "max_group_attachments": 3,
            "max_file_bytes": 100_000, "expiry_secs": 3600,
        })
    };
    assert_eq!(quota(&ds, &alice, &gid).await, expect(0, 0));

    let t1 = alice.upload(&ds, &gid, &random_bytes(1234, 5)).await.unwrap();
    assert_eq!(quota(&ds, &bob, &gid).await, expect(1234, 1));
    // An upload in progress counts with its announced length, from its creation on.
    let loc = bob.create_upload(&ds, &gid, 5000).await.unwrap();
    assert_eq!(quota(&ds, &alice, &gid).await, expect(6234, 2));
    assert_eq!(bob.patch(&ds, &gid, &loc, 0, vec![1; 1000]).await.status(), 204);
    assert_eq!(quota(&ds, &alice, &gid).await, expect(6234, 2));
    // Cancelled: freed.
    let h = bob.auth(&gid, "DELETE", &loc, b"");
    assert_eq!(ds.http.delete(ds.url(&loc)).header(AUTH_HEADER, h).send().await.unwrap().status(), 204);
    assert_eq!(quota(&ds, &alice, &gid).await, expect(1234, 1));
    // Another group's uploads do not count here.
    alice.upload(&ds, &g2, &random_bytes(777, 6)).await.unwrap();
    assert_eq!(quota(&ds, &alice, &gid).await, expect(1234, 1));
    assert_eq!(quota(&ds, &alice, &g2).await, expect(777, 1));
    // A completed resumable upload counts as one attachment of its size.
    let t2 = bob.upload_resumable(&ds, &gid, &random_bytes(99_999, 7), 40_000).await.unwrap();
    assert_eq!(quota(&ds, &alice, &gid).await, expect(101_233, 2));
    // The count limit the endpoint reports is the one enforced.
    alice.upload(&ds, &gid, b"third").await.unwrap();
    assert_eq!(quota(&ds, &alice, &gid).await, expect(101_238, 3));
    assert_eq!(alice.upload(&ds, &gid, b"fourth").await.unwrap_err(), (507, "QuotaExceeded".into()));
    assert_eq!(quota(&ds, &alice, &gid).await, expect(101_238, 3));
    // Deletions free it.
    assert_eq!(alice.delete(&ds, &gid, &t1).await, 204);
    assert_eq!(bob.delete(&ds, &gid, &t2).await, 204);
    assert_eq!(quota(&ds, &alice, &gid).await, expect(5, 1));

    // Non-member, signature for another group, bad group id.
    let carol = Member::new("carol");
    let path = format!("/v1/groups/{}/quota", b64(&gid));
    assert_eq!(signed(&ds, &carol, &gid, "GET", &path, vec![], None).await, (403, "Forbidden".into()));
    assert_eq!(signed(&ds, &alice, &g2, "GET", &path, vec![], None).await, (403, "Forbidden".into()));
    let r = signed(&ds, &alice, &gid, "GET", "/v1/groups/!!/quota", vec![], None).await;
    assert_eq!(r, (400, "BadRequest".into()));
    let r = ds.http.get(ds.url(&path)).send().await.unwrap();
    assert_eq!(code_of(r).await, (401, "Unauthorized".into()));
}

/// `--direct-download-secs`: a member gets a presigned object-store URL that serves the
/// ciphertext (and ranges of it) without the DS; non-members, removed members and tampered or
/// expired URLs get nothing. Embedded backend: the flag needs `--blobs`, the route is off.
#[tokio::test]
async fn direct_downloads_are_presigned_urls_for_members_only() {
    if backend::is_embedded() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = mimi_ds::Config::for_data_dir(dir.path()).unwrap();
        cfg.dev_identity = true;
        cfg.direct_download_secs = 60;
        let e = mimi_ds::start(cfg).await.err().expect("--direct-download-secs without --blobs must not start");
        assert!(e.to_string().contains("--blobs"), "{e}");
    }
    let off = Ds::start(|_| {}).await;
    let (alice, _bob, gid) = alice_and_bob(&off).await;
    let token = alice.upload(&off, &gid, b"proxied only").await.unwrap();
    let path = format!("/v1/attachments/{}/direct", b64(&token));
    let r = off.http.get(off.url(&path)).header(AUTH_HEADER, alice.auth(&gid, "GET", &path, b"")).send().await.unwrap();
    assert_eq!(r.status(), 404, "direct downloads are off by default");
    assert!(r.text().await.unwrap().contains("not enabled"));
    if backend::is_embedded() {
        return;
    }

    let ds = Ds::start(|c| c.direct_download_secs = 3).await;
    let (mut alice, bob, gid) = alice_and_bob(&ds).await;
    let content = random_bytes(300_000, 9);
    let token = alice.upload(&ds, &gid, &content).await.unwrap();
    let path = format!("/v1/attachments/{}/direct", b64(&token));
    let direct = |who: &Member| {
        let h = who.auth(&gid, "GET", &path, b"");
        ds.http.get(ds.url(&path)).header(AUTH_HEADER, h).send()
    };
    let r = direct(&bob).await.unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["size"], 300_000);
    assert!(v["expires_ms"].as_u64().unwrap() > now_ms());
    let url = v["url"].as_str().unwrap().to_owned();
    assert!(!url.starts_with(&ds.base), "the URL points at the object store, not the DS: {url}");
    // No DS authentication needed: the signature in the URL is the authorisation.
    let plain = reqwest::Client::new();
    let got = plain.get(&url).send().await.unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.unwrap().as_ref(), &content[..], "the ciphertext, byte-exact");
    let part = plain.get(&url).header("range", "bytes=1000-1999").send().await.unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.bytes().await.unwrap().as_ref(), &content[1000..2000]);
    // A tampered signature is refused by the object store.
    let sig = url.find("X-Amz-Signature=").expect("a SigV4 presigned URL") + "X-Amz-Signature=".len();
    let mut bad = url.clone().into_bytes();
    bad[sig] = if bad[sig] == b'0' { b'1' } else { b'0' };
    let r = plain.get(String::from_utf8(bad).unwrap()).send().await.unwrap();
    assert_eq!(r.status(), 403, "tampered URL");
    // A non-member cannot get one; a removed member neither.
    let mut carol = Member::new("carol");
    let other = carol.create_group(&ds).await;
    let h = carol.auth(&other, "GET", &path, b"");
    let r = ds.http.get(ds.url(&path)).header(AUTH_HEADER, h).send().await.unwrap();
    assert_eq!(r.status(), 404, "a token of another group: the same 404 as an unknown token");
    let bob_leaf = bob.leaf(&gid);
    alice.remove(&ds, &gid, bob_leaf, &mut []).await;
    assert_eq!(code_of(direct(&bob).await.unwrap()).await, (403, "Forbidden".into()));
    // The URL dies with its lifetime.
    tokio::time::sleep(std::time::Duration::from_millis(4_000)).await;
    let r = plain.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 403, "expired URL");
}
