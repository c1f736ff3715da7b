//! Stateless replicas (issue 13): two real `mimi-ds` processes sharing one PostgreSQL database and
//! one S3 bucket prefix (the engines of `scripts/ds-engines.sh start`), behind a tiny round-robin
//! TCP proxy on 127.0.0.1 that sends every new connection to the next replica that accepts it.
//!
//! Skipped (with a message) when the engines are not running; `scripts/test.sh` starts them.
//! The phases share the engines (one of them stops the object store, one restarts PostgreSQL), so
//! they run in sequence in one test, bounded by a timeout.

mod common;

use std::io::BufRead as _;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt as _;
use mimi_attachments::auth::AUTH_HEADER;

/// The token secret every replica shares (token mode: a client's token is valid on all of them).
const TOKEN_SECRET: &[u8] = b"replicas-test-token-secret-0123456789abcdef";

struct Replica {
    child: Child,
    base: String,
}

impl Replica {
    fn spawn(meta: &str, blobs: &str, extra: &[&str]) -> Self {
        let data = tempfile::tempdir().unwrap().keep();
        let secret = data.join("token.key");
        std::fs::write(&secret, TOKEN_SECRET).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_mimi-ds"))
            .args(["--listen", "127.0.0.1:0", "--meta", meta, "--blobs", blobs, "--data-dir"])
            .arg(&data)
            .arg("--token-secret-file")
            .arg(&secret)
            .args(extra)
            .env("MIMI_DS_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let base =
            line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("unexpected: {line:?}")).to_owned();
        Self { child, base }
    }
    fn addr(&self) -> String {
        self.base.trim_start_matches("http://").to_owned()
    }
    fn ds(&self) -> Ds {
        let mut ds = Ds::at(self.base.clone());
        ds.secret = Some(TOKEN_SECRET.to_vec());
        ds
    }
    fn kill(&mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A round-robin TCP proxy: each accepted connection goes to the next backend that accepts it.
async fn proxy(backends: Vec<String>) -> (String, tokio::task::JoinHandle<()>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("http://{}", l.local_addr().unwrap());
    let next = Arc::new(AtomicUsize::new(0));
    let h = tokio::spawn(async move {
        loop {
            let Ok((mut inbound, _)) = l.accept().await else { return };
            let (backends, next) = (backends.clone(), next.clone());
            tokio::spawn(async move {
                for _ in 0..backends.len() {
                    let i = next.fetch_add(1, Ordering::Relaxed) % backends.len();
                    if let Ok(mut out) = tokio::net::TcpStream::connect(&backends[i]).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                        return;
                    }
                }
            });
        }
    });
    (addr, h)
}

/// A client that opens a new connection per request, so the proxy alternates replicas.
fn spreading(base: &str) -> Ds {
    let mut ds = Ds::at(base.to_owned());
    ds.secret = Some(TOKEN_SECRET.to_vec());
    ds.http = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    ds
}

fn engines_script() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/ds-engines.sh")
}

fn engines(cmd: &str) {
    let st = Command::new("bash").arg(engines_script()).arg(cmd).status().unwrap();
    assert!(st.success(), "ds-engines.sh {cmd}");
}

async fn quota(ds: &Ds, who: &Member, gid: &[u8]) -> (u64, u64) {
    let path = format!("/v1/groups/{}/quota", b64(gid));
    let r = ds.http.get(ds.url(&path)).header(AUTH_HEADER, who.auth(gid, "GET", &path, b"")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    (v["used_bytes"].as_u64().unwrap(), v["attachments"].as_u64().unwrap())
}

/// A request body that sends `head` and then stalls forever.
fn stalled_body(head: Vec<u8>) -> reqwest::Body {
    let s = futures_util::stream::iter(vec![Ok::<_, std::io::Error>(head)]).chain(futures_util::stream::pending());
    reqwest::Body::wrap_stream(s)
}

const MIB: usize = 1024 * 1024;

/// Needs PostgreSQL and S3 (`eval "$(scripts/ds-engines.sh start)"`); the test command runs it in
/// its `ds-pg-s3` step with `--include-ignored`. Ignored otherwise, so that a run without the
/// engines does not count a test that did nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL + S3: eval \"$(scripts/ds-engines.sh start)\"; cargo test -p mimi-ds --test replicas -- --include-ignored"]
async fn two_replicas_behind_a_round_robin_proxy() {
    let Some((meta, blobs)) = backend::shared() else {
        panic!(
            "two_replicas_behind_a_round_robin_proxy: PostgreSQL and S3 are not running \
             (eval \"$(scripts/ds-engines.sh start)\" sets MIMI_DS_TEST_META and MIMI_DS_TEST_BLOBS)"
        );
    };
    tokio::time::timeout(Duration::from_secs(400), scenario(meta, blobs)).await.expect("bounded: 400 s");
}

async fn scenario(meta: String, blobs: String) {
    // Quota: 400 MiB and 200 attachments per group, the same on both replicas.
    let extra = ["--group-quota-bytes", "419430400", "--group-quota-count", "200"];
    let mut a = Replica::spawn(&meta, &blobs, &extra);
    let b = Replica::spawn(&meta, &blobs, &extra);
    let (lb, _proxy) = proxy(vec![a.addr(), b.addr()]).await;
    let ds = spreading(&lb);
    let (da, db) = (a.ds(), b.ds());

    // Group set-up through the proxy: registration, key package, commit and Welcome land on
    // alternating replicas, each of which must see the other's writes.
    let mut alice = Member::new("alice");
    let mut bob = Member::new("bob");
    let gid = alice.create_group(&ds).await;
    alice.add(&ds, &gid, &mut bob, &mut []).await;
    for d in [&da, &db] {
        let r = d.http.get(d.url("/readyz")).send().await.unwrap();
        assert_eq!(r.status(), 200, "readyz: {}", r.text().await.unwrap());
    }

    eprintln!("phase 1: 50 concurrent uploads of random sizes across both replicas");
    let t0 = Instant::now();
    let sizes: Vec<usize> = (0..50u64)
        .map(|i| {
            let r = random_bytes(4, 1000 + i);
            let x = u32::from_le_bytes([r[0], r[1], r[2], r[3]]) as usize;
            match i % 5 {
                0 => x % (12 * MIB) + 5 * MIB, // resumable, several S3 parts
                _ => x % (3 * MIB / 2),        // one-shot, one PUT
            }
        })
        .collect();
    let contents: Vec<Vec<u8>> = sizes.iter().enumerate().map(|(i, n)| random_bytes(*n, 2000 + i as u64)).collect();
    let uploads = contents.iter().enumerate().map(|(i, c)| {
        let (ds, alice, gid) = (&ds, &alice, &gid);
        async move {
            if i % 5 == 0 {
                alice.upload_resumable(ds, gid, c, 2 * MIB + 12345).await
            } else {
                alice.upload(ds, gid, c).await
            }
        }
    });
    let tokens: Vec<Vec<u8>> =
        futures_util::future::join_all(uploads).await.into_iter().map(|r| r.expect("upload")).collect();
    let total: usize = sizes.iter().sum();
    eprintln!("  {} MiB up in {:.1} s", total / MIB, t0.elapsed().as_secs_f64());
    let downloads = tokens.iter().map(|t| bob.download(&ds, &gid, t));
    for (i, d) in futures_util::future::join_all(downloads).await.into_iter().enumerate() {
        assert!(d.as_ref().unwrap() == &contents[i], "upload {i} ({} bytes) byte-exact", sizes[i]);
    }
    // A range, served by a ranged GET on either replica.
    let big = (0..50).find(|i| sizes[*i] > 6 * MIB).unwrap();
    let path = format!("/v1/attachments/{}", b64(&tokens[big]));
    for d in [&da, &db] {
        let r = d
            .http
            .get(d.url(&path))
            .header(AUTH_HEADER, bob.auth(&gid, "GET", &path, b""))
            .header("range", format!("bytes={}-{}", 5 * MIB - 10, 5 * MIB + 9))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 206);
        assert_eq!(r.bytes().await.unwrap().as_ref(), &contents[big][5 * MIB - 10..5 * MIB + 10]);
    }
    assert_eq!(quota(&ds, &alice, &gid).await, (total as u64, 50));

    eprintln!("phase 2: a request replayed to the other replica is refused");
    let h = bob.auth(&gid, "GET", &path, b"");
    let r = da.http.get(da.url(&path)).header(AUTH_HEADER, h.clone()).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = db.http.get(db.url(&path)).header(AUTH_HEADER, h).send().await.unwrap();
    assert_eq!(code_of(r).await, (401, "Replay".to_owned()));

    eprintln!("phase 3: a long poll on one replica wakes on a message relayed by the other");
    let mpath = format!("/v1/groups/{}/messages", b64(&gid));
    let after = {
        let q = format!("{mpath}?after=0");
        let r = db.http.get(db.url(&q)).header(AUTH_HEADER, bob.auth(&gid, "GET", &q, b"")).send().await.unwrap();
        r.json::<serde_json::Value>().await.unwrap()["next"].as_u64().unwrap()
    };
    let q = format!("{mpath}?after={after}&wait_secs=20");
    let poll = db.http.get(db.url(&q)).header(AUTH_HEADER, bob.auth(&gid, "GET", &q, b"")).send();
    let poll = tokio::spawn(poll);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let msg = {
        use openmls::prelude::tls_codec::Serialize as _;
        let provider = &alice.provider;
        let signer = &alice.signer;
        let g = alice.groups.iter_mut().find(|g| g.group_id().as_slice() == gid.as_slice()).unwrap();
        g.create_message(provider, signer, b"hello across replicas").unwrap().tls_serialize_detached().unwrap()
    };
    let t0 = Instant::now();
    let r = da
        .http
        .post(da.url(&mpath))
        .header(AUTH_HEADER, alice.auth(&gid, "POST", &mpath, &msg))
        .body(msg.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let v: serde_json::Value = poll.await.unwrap().unwrap().json().await.unwrap();
    assert_eq!(v["messages"].as_array().unwrap().len(), 1, "the poll on B returned A's message: {v}");
    eprintln!("  woken after {:.0} ms", t0.elapsed().as_secs_f64() * 1000.0);

    eprintln!("phase 4: quota exact under races across replicas");
    let mut carol = Member::new("carol");
    let gid2 = carol.create_group(&ds).await;
    // 400 MiB quota: 60 concurrent reservations of 10 MiB → exactly 40 fit.
    let tries = (0..60).map(|_| carol.create_upload(&ds, &gid2, 10 * MIB as u64));
    let results = futures_util::future::join_all(tries).await;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let refused = results.iter().filter(|r| matches!(r, Err((507, c)) if c == "QuotaExceeded")).count();
    assert_eq!((ok, refused), (40, 20), "{results:?}");
    assert_eq!(quota(&ds, &carol, &gid2).await, (400 * MIB as u64, 40), "reservations count");
    // Cancel them all (on alternating replicas): the quota is free again, multipart uploads aborted.
    for loc in results.iter().flatten() {
        let h = carol.auth(&gid2, "DELETE", loc, b"");
        let r = ds.http.delete(ds.url(loc)).header(AUTH_HEADER, h).send().await.unwrap();
        assert_eq!(r.status(), 204);
    }
    assert_eq!(quota(&ds, &carol, &gid2).await, (0, 0));

    eprintln!("phase 5: a replica SIGKILLed mid-upload; the client resumes on the other");
    let content = random_bytes(13 * MIB, 77);
    let loc = alice.create_upload(&da, &gid, content.len() as u64).await.unwrap();
    assert_eq!(alice.patch(&da, &gid, &loc, 0, content[..6 * MIB].to_vec()).await.status(), 204);
    let h = alice.auth(&gid, "PATCH", &loc, &content[6 * MIB..]);
    let stalled = da
        .http
        .patch(da.url(&loc))
        .header(AUTH_HEADER, h)
        .header("upload-offset", 6 * MIB)
        .body(stalled_body(content[6 * MIB..9 * MIB].to_vec()))
        .send();
    let stalled = tokio::spawn(stalled);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    a.kill();
    assert!(stalled.await.unwrap().is_err(), "the stalled PATCH died with replica A");
    let r = alice.head_upload(&db, &gid, &loc).await;
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["upload-offset"].to_str().unwrap(), (6 * MIB).to_string(), "last acknowledged offset");
    let r = alice.patch(&db, &gid, &loc, 6 * MIB as u64, content[6 * MIB..].to_vec()).await;
    assert_eq!(r.status(), 201);
    let token = token_or_code(r).await.unwrap();
    assert!(bob.download(&db, &gid, &token).await.unwrap() == content, "resumed upload byte-exact");
    // The proxy skips the dead replica.
    assert!(bob.download(&ds, &gid, &tokens[1]).await.unwrap() == contents[1]);
    let a = Replica::spawn(&meta, &blobs, &extra);
    let da = a.ds();

    eprintln!("phase 6: the object store stopped for 10 s mid-upload");
    let content = random_bytes(8 * MIB, 88);
    let loc = alice.create_upload(&db, &gid, content.len() as u64).await.unwrap();
    assert_eq!(alice.patch(&db, &gid, &loc, 0, content[..3 * MIB].to_vec()).await.status(), 204);
    let before = quota(&ds, &alice, &gid).await;
    engines("stop-s3");
    let stopped = Instant::now();
    let r = alice.patch(&da, &gid, &loc, 3 * MIB as u64, content[3 * MIB..].to_vec()).await;
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(code_of(r).await, (503, "Unavailable".to_owned()));
    assert_eq!(alice.upload(&db, &gid, &random_bytes(1000, 5)).await, Err((503, "Unavailable".to_owned())));
    assert_eq!(bob.download(&da, &gid, &tokens[2]).await, Err((503, "Unavailable".to_owned())));
    let r = da.http.get(da.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 503, "readyz reports the object store");
    // Nothing half-visible: the offset is the acknowledged one, the failed one-shot left no
    // attachment and no reservation.
    let r = alice.head_upload(&db, &gid, &loc).await;
    assert_eq!(r.headers()["upload-offset"].to_str().unwrap(), (3 * MIB).to_string());
    assert_eq!(quota(&ds, &alice, &gid).await, before);
    tokio::time::sleep(Duration::from_secs(10).saturating_sub(stopped.elapsed())).await;
    engines("start-s3");
    // The client retries from HEAD's offset.
    let r = alice.patch(&da, &gid, &loc, 3 * MIB as u64, content[3 * MIB..].to_vec()).await;
    assert_eq!(r.status(), 201);
    let token = token_or_code(r).await.unwrap();
    assert!(bob.download(&db, &gid, &token).await.unwrap() == content, "byte-exact after the outage");
    assert!(bob.download(&da, &gid, &tokens[2]).await.unwrap() == contents[2]);

    eprintln!("phase 7: PostgreSQL restarted");
    let content = random_bytes(7 * MIB, 99);
    let loc = alice.create_upload(&da, &gid, content.len() as u64).await.unwrap();
    assert_eq!(alice.patch(&da, &gid, &loc, 0, content[..2 * MIB].to_vec()).await.status(), 204);
    engines("restart-pg");
    // Both replicas reconnect: the upload resumes, old and new attachments are served.
    let r = alice.patch(&db, &gid, &loc, 2 * MIB as u64, content[2 * MIB..].to_vec()).await;
    assert_eq!(r.status(), 201, "{:?}", r.headers());
    let token = token_or_code(r).await.unwrap();
    assert!(bob.download(&da, &gid, &token).await.unwrap() == content);
    assert!(bob.download(&db, &gid, &tokens[3]).await.unwrap() == contents[3]);
    for d in [&da, &db] {
        let r = d.http.get(d.url("/readyz")).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    drop(b);
}
