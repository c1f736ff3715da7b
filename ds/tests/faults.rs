//! Fault injection against the real `mimi-ds` binary on 127.0.0.1: SIGKILL during uploads,
//! downloads and the expiry sweep; a full disk (a small tmpfs); slow clients (slowloris, a reader
//! that stops); oversized and malformed requests; path traversal and oversized ids; clock skew and
//! replays. Each test is bounded and checks that afterwards the DS (or a restarted one on the same
//! data directory) serves other groups and that every attachment is either complete and
//! byte-exact or absent (404), with the quota and the files on disk agreeing.
//!
//! The full-disk test mounts a tmpfs (root); `MIMI_SKIP_TMPFS=1` skips it where that is not
//! permitted.

mod common;

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt as _;
use mimi_attachments::auth::{body_hash, AUTH_HEADER, AUTH_TARGET_HEADER};
use mimi_attachments::wire::{encode, UploadAttachmentRequest};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

// ---------------------------------------------------------------------------------------------
// Helpers

/// A `mimi-ds` process, SIGKILLed when dropped.
struct Proc {
    child: Child,
    base: String,
    addr: String,
}

impl Proc {
    fn spawn(data: &Path, args: &[&str]) -> Self {
        Self::spawn_in(data, args, None)
    }
    fn spawn_in(data: &Path, args: &[&str], cwd: Option<&Path>) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mimi-ds"));
        cmd.args(["--listen", "127.0.0.1:0", "--dev-identity", "--data-dir"])
            .arg(data)
            .args(args)
            .env("MIMI_DS_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(d) = cwd {
            cmd.current_dir(d);
        }
        let mut child = cmd.spawn().unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let base =
            line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("unexpected: {line:?}")).to_owned();
        let addr = base.strip_prefix("http://").unwrap().to_owned();
        Self { child, base, addr }
    }
    /// A client without connection reuse (the DS closes idle connections after its header
    /// timeout, which some tests set very short).
    fn ds(&self) -> Ds {
        let http =
            reqwest::Client::builder().pool_max_idle_per_host(0).timeout(Duration::from_secs(20)).build().unwrap();
        Ds { base: self.base.clone(), http, running: None, dir: None, secret: None }
    }
    fn pid(&self) -> u32 {
        self.child.id()
    }
    fn kill(mut self) {
        self.child.kill().unwrap(); // SIGKILL
        self.child.wait().unwrap();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

async fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < limit, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `(used_bytes, attachments)` from the quota endpoint.
async fn usage(ds: &Ds, who: &Member, gid: &[u8]) -> (u64, u64) {
    let path = format!("/v1/groups/{}/quota", b64(gid));
    let r = ds.http.get(ds.url(&path)).header(AUTH_HEADER, who.auth(gid, "GET", &path, b"")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    (v["used_bytes"].as_u64().unwrap(), v["attachments"].as_u64().unwrap())
}

/// Alice creates a group and adds Bob.
async fn alice_and_bob(ds: &Ds) -> (Member, Member, Vec<u8>) {
    let mut alice = Member::new("alice");
    let mut bob = Member::new("bob");
    let gid = alice.create_group(ds).await;
    alice.add(ds, &gid, &mut bob, &mut []).await;
    (alice, bob, gid)
}

/// Carol's own group, used to show that the DS keeps serving other groups.
async fn carol_round_trip(ds: &Ds, carol: &Member, gid: &[u8], seed: u64) {
    let data = random_bytes(30_000, seed);
    let t = carol.upload(ds, gid, &data).await.unwrap();
    assert_eq!(carol.download(ds, gid, &t).await.unwrap(), data);
}

/// One raw HTTP/1.1 exchange on a fresh connection; reads until the server closes (10 s max).
/// Write errors are ignored (the server may answer and close before the request is sent).
async fn raw(addr: &str, request: &[u8]) -> RawResp {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let _ = s.write_all(request).await;
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await;
    RawResp::parse(&buf)
}

#[derive(Debug)]
struct RawResp {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl RawResp {
    fn parse(b: &[u8]) -> Self {
        let split = b.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4).unwrap_or(b.len());
        let head = String::from_utf8_lossy(&b[..split]).into_owned();
        let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        Self { status, head, body: b[split..].to_vec() }
    }
    fn code(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        // The body may be chunked; find the JSON object.
        let json = text.find('{').and_then(|a| text.rfind('}').map(|b| &text[a..=b])).unwrap_or("");
        serde_json::from_str::<serde_json::Value>(json)
            .ok()
            .and_then(|v| v["code"].as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

/// A request head + body with `Connection: close` (and the body's Content-Length unless one is
/// among `headers`).
fn request(method: &str, target: &str, headers: &[(&str, String)], body: &[u8]) -> Vec<u8> {
    let mut r = format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (k, v) in headers {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-length") || k.eq_ignore_ascii_case("transfer-encoding"))
    {
        r.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    r.push_str("\r\n");
    let mut out = r.into_bytes();
    out.extend_from_slice(body);
    out
}

fn oneshot_body(gid: &[u8], content: &[u8]) -> Vec<u8> {
    encode(&UploadAttachmentRequest { group_id: gid.to_vec().into(), content: content.to_vec().into() }).unwrap()
}

/// A request body fed from a channel: the test decides when each part is sent.
fn channel_body() -> (tokio::sync::mpsc::Sender<Vec<u8>>, reqwest::Body) {
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
    let s = tokio_stream_from(rx).map(Ok::<_, std::io::Error>);
    (tx, reqwest::Body::wrap_stream(s))
}

fn tokio_stream_from(mut rx: tokio::sync::mpsc::Receiver<Vec<u8>>) -> impl futures_util::Stream<Item = Vec<u8>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

fn staging_len(data: &Path, loc: &str) -> Option<u64> {
    let id = loc.rsplit('/').next().unwrap();
    std::fs::metadata(data.join("staging").join(id)).ok().map(|m| m.len())
}

fn blob_rows(data: &Path) -> Vec<String> {
    let c = rusqlite::Connection::open_with_flags(data.join("meta.sqlite"), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap();
    let mut st = c.prepare("SELECT id FROM blobs").unwrap();
    let rows = st.query_map([], |r| r.get::<_, String>(0)).unwrap();
    rows.map(|r| r.unwrap()).collect()
}

fn count_rows(data: &Path, table: &str) -> u64 {
    let c = rusqlite::Connection::open_with_flags(data.join("meta.sqlite"), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap();
    c.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get::<_, i64>(0)).unwrap() as u64
}

fn blob_files(data: &Path) -> Vec<String> {
    std::fs::read_dir(data.join("blobs")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect()
}

#[test]
fn help_lists_the_hardening_flags() {
    let out = Command::new(env!("CARGO_BIN_EXE_mimi-ds")).arg("--help").output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--max-connections",
        "--header-timeout-secs",
        "--body-timeout-secs",
        "--body-min-rate",
        "--write-timeout-secs",
        "--max-header-bytes",
        "--min-free-bytes",
        "MIMI_DS_MIN_FREE_BYTES",
    ] {
        assert!(text.contains(flag), "{flag} missing from --help");
    }
}

// ---------------------------------------------------------------------------------------------
// SIGKILL

#[derive(Default)]
struct Resumable {
    content: Vec<u8>,
    loc: String,
    acked: u64,
    inflight: Option<(u64, u64)>,
    token: Option<Vec<u8>>,
}

/// A request whose outcome the kill may have hidden: an attachment (one-shot) or a reservation
/// (upload creation) of this many bytes may exist at the DS without the client knowing.
type Pending = Arc<Mutex<Option<(u64, bool)>>>;

/// Acknowledged one-shot uploads: (token, content).
type Acked = Arc<Mutex<Vec<(Vec<u8>, Vec<u8>)>>>;

/// Uploads one-shot attachments in a loop until a request fails; records the acknowledged ones.
async fn oneshot_loop(ds: Arc<Ds>, m: Arc<Member>, gid: Vec<u8>, seed: u64, out: Acked, pending: Pending) {
    for i in 0.. {
        let content = random_bytes(100_000 + ((seed * 7919 + i * 104_729) % 900_000) as usize, seed * 1000 + i);
        let body = oneshot_body(&gid, &content);
        let h = m.auth(&gid, "POST", "/v1/attachments", &body);
        *pending.lock().unwrap() = Some((content.len() as u64, false));
        let r = ds.http.post(ds.url("/v1/attachments")).header(AUTH_HEADER, h).body(body).send().await;
        let Ok(r) = r else { return };
        let status = r.status();
        assert_eq!(status, 201, "one-shot upload refused while the DS was up");
        let Ok(b) = r.bytes().await else { return };
        let t: mimi_attachments::wire::UploadAttachmentResponse = mimi_attachments::wire::decode_exact(&b).unwrap();
        out.lock().unwrap().push((t.token.as_slice().to_vec(), content));
        *pending.lock().unwrap() = None;
    }
}

/// Resumable uploads in 64–192 KiB PATCHes in a loop until a request fails.
async fn resumable_loop(
    ds: Arc<Ds>,
    m: Arc<Member>,
    gid: Vec<u8>,
    seed: u64,
    out: Arc<Mutex<Vec<Arc<Mutex<Resumable>>>>>,
    pending: Pending,
) {
    for i in 0.. {
        let content = random_bytes(200_000 + ((seed * 31 + i * 7_777) % 800_000) as usize, seed * 1000 + 500 + i);
        let h = m.auth(&gid, "POST", "/v1/uploads", b"");
        *pending.lock().unwrap() = Some((content.len() as u64, true));
        let Ok(r) = ds
            .http
            .post(ds.url("/v1/uploads"))
            .header(AUTH_HEADER, h)
            .header("upload-length", content.len())
            .send()
            .await
        else {
            return;
        };
        assert_eq!(r.status(), 201);
        let loc = r.headers()["location"].to_str().unwrap().to_owned();
        let rec = Arc::new(Mutex::new(Resumable { content: content.clone(), loc: loc.clone(), ..Default::default() }));
        out.lock().unwrap().push(rec.clone());
        *pending.lock().unwrap() = None;
        let mut off = 0u64;
        let mut k = 0u64;
        while off < content.len() as u64 {
            k += 1;
            let end = (off + 65_536 + (k * 40_503 + seed) % 131_072).min(content.len() as u64);
            let part = content[off as usize..end as usize].to_vec();
            rec.lock().unwrap().inflight = Some((off, end));
            let h = m.auth(&gid, "PATCH", &loc, &part);
            let Ok(r) =
                ds.http.patch(ds.url(&loc)).header(AUTH_HEADER, h).header("upload-offset", off).body(part).send().await
            else {
                return;
            };
            let status = r.status();
            if status == 204 {
                rec.lock().unwrap().acked = end;
            } else if status == 201 {
                let Ok(t) = token_or_code(r).await else { return };
                let mut g = rec.lock().unwrap();
                g.acked = end;
                g.token = Some(t);
            } else {
                panic!("PATCH refused while the DS was up: {status}");
            }
            rec.lock().unwrap().inflight = None;
            off = end;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_concurrent_uploads_keeps_every_acknowledged_byte_and_nothing_half_visible() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let p = Proc::spawn(&data, &[]);
    let ds = p.ds();
    let (alice, bob, gid) = alice_and_bob(&ds).await;
    let mut carol = Member::new("carol");
    let g2 = carol.create_group(&ds).await;
    let (alice, carol) = (Arc::new(alice), carol);
    let mut p = Some(p);

    let oneshots: Acked = Arc::default();
    let resumables: Arc<Mutex<Vec<Arc<Mutex<Resumable>>>>> = Arc::default();
    // Requests in flight at a kill may have taken effect without an answer: a one-shot
    // attachment or an upload reservation the client never learns about. They bound what the
    // DS may hold beyond the acknowledged state.
    let (mut slack_count, mut slack_bytes, mut slack_staging) = (0u64, 0u64, 0u64);
    let mut orphans = 0u64; // resumable uploads completed at the DS whose answer was lost
    let mut orphan_bytes = 0u64;
    for cycle in 0..3u64 {
        let proc_ = p.take().unwrap();
        let ds = Arc::new(proc_.ds());
        let mut tasks = Vec::new();
        let mut pendings = Vec::new();
        for t in 0..3u64 {
            let seed = cycle * 10 + t + 1;
            let (p1, p2): (Pending, Pending) = (Arc::default(), Arc::default());
            pendings.push(p1.clone());
            pendings.push(p2.clone());
            tasks.push(tokio::spawn(oneshot_loop(ds.clone(), alice.clone(), gid.clone(), seed, oneshots.clone(), p1)));
            tasks.push(tokio::spawn(resumable_loop(
                ds.clone(),
                alice.clone(),
                gid.clone(),
                seed,
                resumables.clone(),
                p2,
            )));
        }
        // Let some uploads complete, then kill in the middle of the others.
        let (n0, r0) = (oneshots.lock().unwrap().len(), resumables.lock().unwrap().len());
        wait_until("uploads to progress", Duration::from_secs(30), || {
            oneshots.lock().unwrap().len() >= n0 + 2 && resumables.lock().unwrap().len() >= r0 + 2
        })
        .await;
        tokio::time::sleep(Duration::from_millis(37 * cycle)).await;
        proc_.kill();
        for t in tasks {
            t.await.unwrap(); // each loop ends at its first failed request
        }
        for pd in &pendings {
            if let Some((bytes, create)) = *pd.lock().unwrap() {
                slack_count += 1;
                slack_bytes += bytes;
                slack_staging += u64::from(create);
            }
        }

        let proc_ = Proc::spawn(&data, &[]);
        let ds = proc_.ds();
        // Every acknowledged one-shot upload is there, byte-exact.
        let acked: Vec<_> = oneshots.lock().unwrap().clone();
        for (token, content) in &acked {
            assert!(bob.download(&ds, &gid, token).await.unwrap() == *content, "acknowledged one-shot upload damaged");
        }
        // Every resumable upload is at its acknowledged offset (or one in-flight PATCH further,
        // if that PATCH was durable before the kill) and resumes to the exact bytes.
        let recs: Vec<_> = resumables.lock().unwrap().clone();
        for rec in recs {
            let (content, loc, acked, inflight, token) = {
                let g = rec.lock().unwrap();
                (g.content.clone(), g.loc.clone(), g.acked, g.inflight, g.token.clone())
            };
            if let Some(t) = token {
                if !t.is_empty() {
                    assert!(bob.download(&ds, &gid, &t).await.unwrap() == content, "completed upload damaged");
                }
                continue;
            }
            let r = alice.head_upload(&ds, &gid, &loc).await;
            if r.status() == 404 {
                // Only possible when the last PATCH completed it and its response was lost.
                assert_eq!(inflight.map(|(_, e)| e), Some(content.len() as u64), "an unfinished upload vanished");
                orphans += 1;
                orphan_bytes += content.len() as u64;
                rec.lock().unwrap().token = Some(vec![]);
                continue;
            }
            assert_eq!(r.status(), 204);
            let off: u64 = r.headers()["upload-offset"].to_str().unwrap().parse().unwrap();
            let allowed = [Some(acked), inflight.filter(|(s, _)| *s == acked).map(|(_, e)| e)];
            assert!(
                allowed.contains(&Some(off)),
                "offset {off} after the kill; acknowledged {acked}, in flight {inflight:?}"
            );
            let r = alice.patch(&ds, &gid, &loc, off, content[off as usize..].to_vec()).await;
            assert_eq!(r.status(), 201, "resume from the durable offset");
            let t = token_or_code(r).await.unwrap();
            assert!(bob.download(&ds, &gid, &t).await.unwrap() == content, "resumed upload damaged");
            let mut g = rec.lock().unwrap();
            g.token = Some(t);
            g.acked = content.len() as u64;
            g.inflight = None;
        }
        // Nothing half-visible: the files and the metadata agree; every resumable upload the
        // client knows is finished, so staging holds at most the reservations whose answer the
        // kill swallowed; the quota counts exactly the acknowledged attachments plus at most the
        // requests that were in flight.
        let known = oneshots.lock().unwrap().len() as u64 + resumables.lock().unwrap().len() as u64;
        let known_bytes: u64 = oneshots.lock().unwrap().iter().map(|(_, c)| c.len() as u64).sum::<u64>()
            + resumables.lock().unwrap().iter().map(|r| r.lock().unwrap().content.len() as u64).sum::<u64>();
        let (used, count) = usage(&ds, &alice, &gid).await;
        assert!(
            count >= known && count <= known + slack_count,
            "cycle {cycle}: {count} attachments+uploads, known {known} (+{slack_count})"
        );
        assert!(
            used >= known_bytes && used <= known_bytes + slack_bytes,
            "cycle {cycle}: {used} bytes, known {known_bytes} (+{slack_bytes})"
        );
        let staging = files_in(&data, "staging") as u64;
        assert!(
            staging <= slack_staging,
            "cycle {cycle}: {staging} staging files, at most {slack_staging} unknown uploads"
        );
        let atts = count_rows(&data, "attachments");
        assert!(atts >= known, "cycle {cycle}: acknowledged attachments missing");
        assert_eq!(files_in(&data, "blobs") as u64, atts, "cycle {cycle}: one blob per attachment");
        let mut rows = blob_rows(&data);
        let mut files = blob_files(&data);
        rows.sort();
        files.sort();
        assert_eq!(rows, files, "metadata and files agree");
        // Other groups are served.
        carol_round_trip(&ds, &carol, &g2, 100 + cycle).await;
        p = Some(proc_);
    }
    eprintln!("in flight at the kills: {slack_count}; resumable uploads completed without an answer: {orphans} ({orphan_bytes} bytes)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_downloads_leaves_every_attachment_intact() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let p = Proc::spawn(&data, &[]);
    let ds = Arc::new(p.ds());
    let (alice, bob, gid) = alice_and_bob(&ds).await;
    let mut carol = Member::new("carol");
    let g2 = carol.create_group(&ds).await;
    let mut files = Vec::new();
    // Larger than what loopback socket buffers take in at once (1-3 MB files were sometimes sent
    // whole into the kernel before the kill, and then no download was interrupted).
    for i in 0..6u64 {
        let c = random_bytes(8_000_000 + i as usize * 1_000_000, 300 + i);
        files.push((alice.upload(&ds, &gid, &c).await.unwrap(), c));
    }
    let bob = Arc::new(bob);
    let started = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for k in 0..12usize {
        let (ds, bob, gid, started) = (ds.clone(), bob.clone(), gid.clone(), started.clone());
        let (token, size) = (files[k % files.len()].0.clone(), files[k % files.len()].1.len());
        tasks.push(tokio::spawn(async move {
            let path = format!("/v1/attachments/{}", b64(&token));
            let mut rb = ds.http.get(ds.url(&path)).header(AUTH_HEADER, bob.auth(&gid, "GET", &path, b""));
            if k % 3 == 0 {
                rb = rb.header("range", format!("bytes={}-", size / 3));
            }
            let want = if k % 3 == 0 { size - size / 3 } else { size };
            let Ok(r) = rb.send().await else { return (0, want) };
            let mut s = r.bytes_stream();
            let mut got = 0usize;
            while let Some(Ok(c)) = s.next().await {
                got += c.len();
                started.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                // Slow readers keep the transfers in flight.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (got, want)
        }));
    }
    wait_until("downloads in flight", Duration::from_secs(20), || {
        started.load(std::sync::atomic::Ordering::Relaxed) >= 24
    })
    .await;
    p.kill();
    let mut partial = 0;
    for t in tasks {
        let (got, want) = t.await.unwrap();
        assert!(got <= want);
        partial += usize::from(got < want);
    }
    assert!(partial > 0, "the kill interrupted downloads");

    let p = Proc::spawn(&data, &[]);
    let ds = p.ds();
    for (t, c) in &files {
        assert!(bob.download(&ds, &gid, t).await.unwrap() == *c, "an attachment changed");
    }
    assert_eq!(files_in(&data, "staging"), 0);
    assert_eq!(files_in(&data, "blobs"), files.len());
    let bytes: u64 = files.iter().map(|(_, c)| c.len() as u64).sum();
    assert_eq!(usage(&ds, &alice, &gid).await, (bytes, files.len() as u64));
    carol_round_trip(&ds, &carol, &g2, 400).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_the_expiry_sweep_then_restart_finishes_it_without_half_visible_attachments() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Long-lived attachments first.
    let p = Proc::spawn(&data, &["--sweep-interval-secs", "3600"]);
    let ds = p.ds();
    let (alice, bob, gid) = alice_and_bob(&ds).await;
    let mut carol = Member::new("carol");
    let g2 = carol.create_group(&ds).await;
    let keep: Vec<(Vec<u8>, Vec<u8>)> = {
        let mut v = Vec::new();
        for i in 0..3 {
            let c = random_bytes(50_000, 500 + i);
            v.push((alice.upload(&ds, &gid, &c).await.unwrap(), c));
        }
        v
    };
    p.kill();
    // Then many short-lived ones (2 s), uploaded concurrently.
    const N: usize = 300;
    let p = Proc::spawn(&data, &["--attachment-ttl-secs", "2", "--sweep-interval-secs", "3600"]);
    let ds = Arc::new(p.ds());
    let alice = Arc::new(alice);
    let t_upload = Instant::now();
    let tokens: Vec<Vec<u8>> = futures_util::stream::iter(0..N)
        .map(|i| {
            let (ds, alice, gid) = (ds.clone(), alice.clone(), gid.clone());
            async move { alice.upload(&ds, &gid, &random_bytes(512 + i, i as u64)).await.unwrap() }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    eprintln!("{N} uploads in {:?}", t_upload.elapsed());
    assert_eq!(files_in(&data, "blobs"), N + keep.len());
    // All expired: the same 404 as deleted before any sweep.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(bob.download(&ds, &gid, &tokens[0]).await.unwrap_err(), (404, "NotFound".into()));
    p.kill();

    // Restart: the sweeper starts at once; kill it while it is deleting.
    let p = Proc::spawn(&data, &["--attachment-ttl-secs", "3600", "--sweep-interval-secs", "1"]);
    let t0 = Instant::now();
    let total = N + keep.len();
    let mut at_kill = total;
    while t0.elapsed() < Duration::from_secs(20) {
        at_kill = files_in(&data, "blobs");
        if at_kill < total - 10 {
            break;
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    p.kill();
    let at_kill_files = files_in(&data, "blobs");
    eprintln!("killed with {at_kill_files} of {total} blobs left after {:?}", t0.elapsed());
    assert!(at_kill_files > keep.len(), "the kill must land in the middle of the sweep ({at_kill_files} left)");
    assert!(at_kill < total, "the sweep had started");
    // On disk right after the kill: every blob row still has its file (rows go first), so no
    // attachment can point at missing bytes; files without a row are the sweep's interrupted
    // deletions.
    let rows = blob_rows(&data);
    let files = blob_files(&data);
    for r in &rows {
        assert!(files.contains(r), "blob row {r} without its file after the kill");
    }

    // Restart again: recovery removes the orphaned files and the sweep finishes.
    let p = Proc::spawn(&data, &["--attachment-ttl-secs", "3600", "--sweep-interval-secs", "1"]);
    let ds = p.ds();
    wait_until("the sweep to finish", Duration::from_secs(30), || {
        files_in(&data, "blobs") == keep.len() && count_rows(&data, "attachments") == keep.len() as u64
    })
    .await;
    let mut rows = blob_rows(&data);
    let mut files = blob_files(&data);
    rows.sort();
    files.sort();
    assert_eq!(rows, files, "metadata and files agree");
    for (t, c) in &keep {
        assert!(bob.download(&ds, &gid, t).await.unwrap() == *c, "a live attachment was swept");
    }
    for t in tokens.iter().step_by(50) {
        assert_eq!(bob.download(&ds, &gid, t).await.unwrap_err(), (404, "NotFound".into()));
    }
    let kept_bytes: u64 = keep.iter().map(|(_, c)| c.len() as u64).sum();
    assert_eq!(usage(&ds, &alice, &gid).await, (kept_bytes, keep.len() as u64));
    let fresh = random_bytes(10_000, 600);
    let t = alice.upload(&ds, &gid, &fresh).await.unwrap();
    assert_eq!(bob.download(&ds, &gid, &t).await.unwrap(), fresh);
    carol_round_trip(&ds, &carol, &g2, 601).await;
}

// ---------------------------------------------------------------------------------------------
// Full disk

/// A tmpfs mounted for the test, unmounted on drop (also when the test fails).
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    /// `None` (skip) only with `MIMI_SKIP_TMPFS=1`; otherwise a failed mount fails the test.
    fn mount(size: &str) -> Option<Self> {
        let path = tempfile::tempdir().unwrap().keep();
        let out =
            Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"]).arg(&path).output();
        match out {
            Ok(o) if o.status.success() => Some(Self { path }),
            other => {
                let _ = std::fs::remove_dir(&path);
                if std::env::var("MIMI_SKIP_TMPFS").as_deref() == Ok("1") {
                    eprintln!("skipping: cannot mount a tmpfs ({other:?}) and MIMI_SKIP_TMPFS=1");
                    return None;
                }
                panic!(
                    "cannot mount a {size} tmpfs at {} ({other:?}); this test needs root (CAP_SYS_ADMIN). \
                     Set MIMI_SKIP_TMPFS=1 to skip it.",
                    path.display()
                );
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount").arg(&self.path).status().map(|s| s.success()).unwrap_or(false);
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        }
        let _ = std::fs::remove_dir(&self.path);
    }
}

/// Fills the filesystem of `path`'s parent with a file until ENOSPC; returns the bytes written.
fn fill_disk(path: &Path) -> u64 {
    use std::io::Write as _;
    let mut f = std::fs::File::create(path).unwrap();
    let mut n = 0u64;
    for size in [1 << 16, 4096, 1] {
        let block = vec![0xAAu8; size];
        loop {
            match f.write(&block) {
                Ok(0) => break,
                Ok(k) => n += k as u64,
                Err(e) => {
                    assert_eq!(e.raw_os_error(), Some(28), "filling: {e}");
                    break;
                }
            }
        }
    }
    let _ = f.sync_all();
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_gives_507_leaves_nothing_half_visible_and_deleting_makes_room_again() {
    let Some(fs) = Tmpfs::mount("8m") else { return };
    let data = fs.path.join("data");
    let p = Proc::spawn(&data, &["--min-free-bytes", "262144", "--registration-floor-bytes", "0"]);
    let ds = p.ds();
    let (alice, bob, gid) = alice_and_bob(&ds).await;
    let mut carol = Member::new("carol");
    let g2 = carol.create_group(&ds).await;
    let carol_file = random_bytes(20_000, 700);
    let carol_token = carol.upload(&ds, &g2, &carol_file).await.unwrap();

    // 1. Fill the disk through the API (alternating one-shot and resumable) until refused.
    let mut stored: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let refusal = loop {
        let c = random_bytes(1 << 20, 710 + stored.len() as u64);
        let r = if stored.len().is_multiple_of(2) {
            alice.upload(&ds, &gid, &c).await
        } else {
            alice.upload_resumable(&ds, &gid, &c, 256 * 1024).await
        };
        match r {
            Ok(t) => stored.push((t, c)),
            Err(e) => break e,
        }
        assert!(stored.len() < 16, "an 8 MiB disk cannot hold this much");
    };
    assert_eq!(refusal, (507, "InsufficientStorage".into()), "a clear error when the disk is full");
    assert!(stored.len() >= 3, "some uploads fit ({})", stored.len());
    assert_eq!(alice.create_upload(&ds, &gid, 1 << 20).await.unwrap_err(), (507, "InsufficientStorage".into()));
    // Nothing half-visible: no staging file, one blob per stored attachment, quota exact.
    assert_eq!(files_in(&data, "staging"), 0);
    assert_eq!(files_in(&data, "blobs"), stored.len() + 1, "plus Carol's");
    assert_eq!(usage(&ds, &alice, &gid).await, (stored.len() as u64 * (1 << 20), stored.len() as u64));
    for (t, c) in &stored {
        assert!(bob.download(&ds, &gid, t).await.unwrap() == *c);
    }
    // Other groups: downloads still work, uploads get the same clear 507.
    assert_eq!(carol.download(&ds, &g2, &carol_token).await.unwrap(), carol_file);
    assert_eq!(
        carol.upload(&ds, &g2, &random_bytes(1 << 20, 720)).await.unwrap_err(),
        (507, "InsufficientStorage".into())
    );

    // 2. Deleting makes room: uploads work again.
    for _ in 0..2 {
        let (t, _) = stored.remove(0);
        assert_eq!(alice.delete(&ds, &gid, &t).await, 204);
    }
    let c = random_bytes(1 << 20, 730);
    stored.push((alice.upload(&ds, &gid, &c).await.unwrap(), c));

    // 3. The disk fills up under the DS's feet (another process) while a one-shot upload, then
    // a PATCH, is half-way: each gets 507 and nothing of it stays.
    let filler = fs.path.join("filler");
    let small = random_bytes(300 * 1024, 740);
    let body = oneshot_body(&gid, &small);
    let head_len = body.len() - small.len();
    let (tx, b1) = channel_body();
    let h = alice.auth(&gid, "POST", "/v1/attachments", &body);
    let up = tokio::spawn(ds.http.post(ds.url("/v1/attachments")).header(AUTH_HEADER, h).body(b1).send());
    tx.send(body[..head_len + 256 * 1024].to_vec()).await.unwrap();
    wait_until("the one-shot's first bytes on disk", Duration::from_secs(10), || {
        std::fs::read_dir(data.join("staging")).unwrap().any(|e| e.unwrap().metadata().unwrap().len() == 256 * 1024)
    })
    .await;
    eprintln!("filler took {} bytes", fill_disk(&filler));
    // The client sends the rest of its body.
    for part in body[head_len + 256 * 1024..].chunks(16 * 1024) {
        let _ = tx.send(part.to_vec()).await;
    }
    drop(tx);
    let r = up.await.unwrap().expect("the DS answers the one-shot upload");
    assert_eq!(code_of(r).await, (507, "InsufficientStorage".into()));
    wait_until("the failed one-shot upload's staging file to go", Duration::from_secs(10), || {
        files_in(&data, "staging") == 0
    })
    .await;
    assert_eq!(usage(&ds, &alice, &gid).await.1, stored.len() as u64, "its reservation is gone");
    std::fs::remove_file(&filler).unwrap();

    let res = random_bytes(384 * 1024, 750);
    let loc = alice.create_upload(&ds, &gid, res.len() as u64).await.unwrap();
    let (tx, b2) = channel_body();
    let h = alice.auth(&gid, "PATCH", &loc, &res);
    let up =
        tokio::spawn(ds.http.patch(ds.url(&loc)).header(AUTH_HEADER, h).header("upload-offset", 0).body(b2).send());
    tx.send(res[..128 * 1024].to_vec()).await.unwrap();
    wait_until("the PATCH's first bytes on disk", Duration::from_secs(10), || {
        staging_len(&data, &loc) == Some(128 * 1024)
    })
    .await;
    eprintln!("filler took {} bytes", fill_disk(&filler));
    for part in res[128 * 1024..].chunks(16 * 1024) {
        let _ = tx.send(part.to_vec()).await;
    }
    drop(tx);
    let r = up.await.unwrap().expect("the DS answers the PATCH");
    assert_eq!(code_of(r).await, (507, "InsufficientStorage".into()));
    let r = alice.head_upload(&ds, &gid, &loc).await;
    assert_eq!(r.headers()["upload-offset"], "0", "the failed PATCH left no bytes counted");
    assert_eq!(staging_len(&data, &loc), Some(0), "the failed PATCH's bytes were cut");
    assert_eq!(files_in(&data, "blobs"), stored.len() + 1, "plus Carol's");
    // Reads keep working on the full disk, and so does deleting (which is how room is made).
    for (t, c) in &stored {
        assert!(bob.download(&ds, &gid, t).await.unwrap() == *c);
    }
    let (t, _) = stored.remove(0);
    assert_eq!(alice.delete(&ds, &gid, &t).await, 204, "delete on a completely full disk");
    assert_eq!(bob.download(&ds, &gid, &t).await.unwrap_err(), (404, "NotFound".into()));
    assert_eq!(carol.download(&ds, &g2, &carol_token).await.unwrap(), carol_file);

    // 4. The other process frees its space: the interrupted PATCH resumes, uploads work.
    std::fs::remove_file(&filler).unwrap();
    let r = alice.patch(&ds, &gid, &loc, 0, res.clone()).await;
    assert_eq!(r.status(), 201);
    let t = token_or_code(r).await.unwrap();
    assert_eq!(bob.download(&ds, &gid, &t).await.unwrap(), res);
    stored.push((t, res));
    let t = alice.upload(&ds, &gid, &small).await.unwrap();
    stored.push((t, small));
    carol_round_trip(&ds, &carol, &g2, 760).await;

    // 5. A restart on the same (nearly full) disk keeps everything consistent.
    p.kill();
    let p = Proc::spawn(&data, &["--min-free-bytes", "262144", "--registration-floor-bytes", "0"]);
    let ds = p.ds();
    for (t, c) in &stored {
        assert!(bob.download(&ds, &gid, t).await.unwrap() == *c);
    }
    let bytes: u64 = stored.iter().map(|(_, c)| c.len() as u64).sum();
    assert_eq!(usage(&ds, &alice, &gid).await, (bytes, stored.len() as u64));
    assert_eq!(files_in(&data, "staging"), 0);
    assert_eq!(files_in(&data, "blobs"), stored.len() + 2, "plus Carol's two");
    assert_eq!(carol.download(&ds, &g2, &carol_token).await.unwrap(), carol_file);
    drop(p);
}

// ---------------------------------------------------------------------------------------------
// Slow clients

/// Sends `head` then `trickle` one byte every `every`, while reading. Returns (seconds until the
/// server closed the connection, what it sent) — or `None` if it was still open after `give_up`.
async fn slow_client(
    addr: String,
    head: Vec<u8>,
    trickle: Vec<u8>,
    every: Duration,
    give_up: Duration,
) -> Option<(f64, Vec<u8>)> {
    let s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let (mut rd, mut wr) = s.into_split();
    let t0 = Instant::now();
    let writer = tokio::spawn(async move {
        if wr.write_all(&head).await.is_err() {
            return;
        }
        for b in trickle {
            tokio::time::sleep(every).await;
            if wr.write_all(&[b]).await.is_err() {
                return;
            }
        }
        std::future::pending::<()>().await;
    });
    let mut got = Vec::new();
    let res = tokio::time::timeout(give_up, async {
        let mut buf = [0u8; 4096];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    writer.abort();
    res.ok().map(|_| (t0.elapsed().as_secs_f64(), got))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_heads_and_bodies_are_cut_and_a_normal_client_stays_served() {
    let dir = tempfile::tempdir().unwrap();
    let p = Proc::spawn(
        &dir.path().join("data"),
        &[
            "--header-timeout-secs",
            "2",
            "--body-timeout-secs",
            "2",
            "--body-min-rate",
            "1024",
            "--register-per-min",
            "0",
        ],
    );
    let ds = p.ds();
    let (alice, bob, gid) = alice_and_bob(&ds).await;
    let base_fds = fds(p.pid());
    let give_up = Duration::from_secs(15);
    let every = Duration::from_millis(200);
    let mut tasks = Vec::new();
    let content = random_bytes(100_000, 800);
    let body = oneshot_body(&gid, &content);
    let bearer = ds.token("alice").await;
    for i in 0..120 {
        let (head, trickle) = match i % 4 {
            // A request head sent one byte at a time, never finished.
            0 => (
                Vec::new(),
                b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
                    .iter()
                    .chain([b'a'; 200].iter())
                    .copied()
                    .collect(),
            ),
            // A connection that sends nothing at all.
            1 => (Vec::new(), Vec::new()),
            // A signed upload whose body trickles at 5 bytes/s (never idle, far below the rate).
            2 => {
                let h = alice.auth(&gid, "POST", "/v1/attachments", &body);
                let head = format!(
                    "POST /v1/attachments HTTP/1.1\r\nHost: 127.0.0.1\r\n{AUTH_HEADER}: {h}\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                (head.into_bytes(), body[..200].to_vec())
            }
            // A registration (bearer token, no MLS signature) whose body stalls after a few bytes.
            _ => {
                let head = format!(
                    "POST /v1/groups HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {bearer}\r\nContent-Length: 5000\r\n\r\n0123456789"
                );
                (head.into_bytes(), Vec::new())
            }
        };
        tasks.push((i % 4, tokio::spawn(slow_client(p.addr.clone(), head, trickle, every, give_up))));
    }
    // While they hold their connections, a normal client is served promptly (liveness).
    tokio::time::sleep(Duration::from_millis(800)).await;
    let t0 = Instant::now();
    assert_eq!(ds.http.get(ds.url("/v1/health")).send().await.unwrap().text().await.unwrap(), "ok");
    let token = alice.upload(&ds, &gid, &content).await.unwrap();
    assert_eq!(bob.download(&ds, &gid, &token).await.unwrap(), content);
    let took = t0.elapsed();
    assert!(took < Duration::from_secs(5), "a normal client waited {took:?} behind slow connections");
    let during = fds(p.pid());
    // Every slow connection is cut by the DS (before the client gives up after 15 s).
    let mut cut_at = [0f64; 4];
    for (kind, t) in tasks {
        let (secs, got) = t.await.unwrap().unwrap_or_else(|| panic!("a kind-{kind} slow connection stayed open"));
        cut_at[kind] = cut_at[kind].max(secs);
        let text = String::from_utf8_lossy(&got);
        if kind >= 2 {
            assert!(text.starts_with("HTTP/1.1 408"), "a stalled body gets 408: {text}");
            assert!(text.contains("\"code\":\"Timeout\""), "with a JSON code: {text}");
        }
    }
    eprintln!("fds before {base_fds}, during {during}; latest cut per kind (s): {cut_at:?}; normal client {took:?}");
    // The slow uploads left nothing behind.
    assert_eq!(files_in(&dir.path().join("data"), "staging"), 0);
    assert_eq!(usage(&ds, &alice, &gid).await, (content.len() as u64, 1));
    wait_until("the DS to close the slow connections", Duration::from_secs(5), || fds(p.pid()) <= base_fds + 4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_connections_bounds_what_idle_clients_can_hold() {
    let dir = tempfile::tempdir().unwrap();
    let p = Proc::spawn(&dir.path().join("data"), &["--max-connections", "8", "--header-timeout-secs", "2"]);
    let ds = p.ds();
    assert_eq!(ds.http.get(ds.url("/v1/health")).send().await.unwrap().status(), 200);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let base = fds(p.pid());
    let mut idle = Vec::new();
    for _ in 0..16 {
        idle.push(tokio::net::TcpStream::connect(&p.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let held = fds(p.pid());
    assert!(held <= base + 8, "at most 8 connections accepted: fds {base} -> {held}");
    // A normal request waits for a free slot (the header timeout frees them) and is served.
    let t0 = Instant::now();
    assert_eq!(ds.http.get(ds.url("/v1/health")).send().await.unwrap().status(), 200);
    assert!(t0.elapsed() < Duration::from_secs(10), "served after {:?}", t0.elapsed());
    drop(idle);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_a_download_is_disconnected() {
    let dir = tempfile::tempdir().unwrap();
    let p = Proc::spawn(&dir.path().join("data"), &["--write-timeout-secs", "2"]);
    let ds = p.ds();
    let (alice, bob, gid) = alice_and_bob(&ds).await;
    let size = 48 << 20;
    let content = random_bytes(size, 900);
    let token = alice.upload_resumable(&ds, &gid, &content, 16 << 20).await.unwrap();
    let base_fds = fds(p.pid());
    let path = format!("/v1/attachments/{}", b64(&token));
    let req = request("GET", &path, &[(AUTH_HEADER, bob.auth(&gid, "GET", &path, b""))], b"");
    let mut s = tokio::net::TcpStream::connect(&p.addr).await.unwrap();
    s.write_all(&req).await.unwrap();
    let mut first = [0u8; 1024];
    s.read_exact(&mut first).await.unwrap();
    assert!(first.starts_with(b"HTTP/1.1 200"));
    // Stop reading; the DS's writes block; after its write timeout it drops the connection.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut rest = Vec::new();
    let r = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut rest)).await;
    assert!(r.is_ok(), "the connection was closed");
    assert!((rest.len() + 1024) < size, "the DS gave up on the non-reading client ({} bytes sent)", rest.len());
    // Other clients are fine and the connection's resources are released.
    assert_eq!(bob.download(&ds, &gid, &token).await.unwrap().len(), size);
    wait_until("the connection to be released", Duration::from_secs(5), || fds(p.pid()) <= base_fds + 2).await;
}

// ---------------------------------------------------------------------------------------------
// Oversized and malformed requests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_malformed_requests_get_clear_errors_and_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let p = Proc::spawn(&data, &["--max-file-bytes", "100000", "--body-timeout-secs", "3"]);
    let ds = p.ds();
    let (alice, bob, gid) = alice_and_bob(&ds).await;
    let mut carol = Member::new("carol");
    let g2 = carol.create_group(&ds).await;
    let a = &p.addr;
    let signed = |method: &str, target: &str, body: &[u8]| -> Vec<(&'static str, String)> {
        vec![(AUTH_HEADER, alice.auth(&gid, method, target, body))]
    };

    // Over the per-file limit: TLS length, Content-Length, resumable total, PATCH beyond it.
    assert_eq!(alice.upload(&ds, &gid, &vec![1; 100_001]).await.unwrap_err(), (413, "TooLarge".into()));
    let body = oneshot_body(&gid, b"x");
    let mut hs = signed("POST", "/v1/attachments", &body);
    hs.push(("Content-Length", "1000000000000".into()));
    let r = raw(a, &request("POST", "/v1/attachments", &hs, b"")).await;
    assert_eq!((r.status, r.code()), (413, "TooLarge".into()), "{r:?}");
    assert_eq!(alice.create_upload(&ds, &gid, 100_001).await.unwrap_err(), (413, "TooLarge".into()));
    let loc = alice.create_upload(&ds, &gid, 1000).await.unwrap();
    assert_eq!(code_of(alice.patch(&ds, &gid, &loc, 0, vec![0; 1001]).await).await, (413, "TooLarge".into()));
    // A small-body route over its 1 MiB limit.
    let r = ds
        .http
        .post(ds.url("/v1/groups"))
        .bearer_auth(ds.token("alice").await)
        .body(vec![0u8; 2 << 20])
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(r).await, (413, "TooLarge".into()));

    // Broken framing: hyper refuses it before any handler (400, empty body).
    for cl in ["abc", "-1", "10, 20", "18446744073709551616"] {
        let r = raw(a, format!("POST /v1/groups HTTP/1.1\r\nHost: x\r\nContent-Length: {cl}\r\n\r\n").as_bytes()).await;
        assert_eq!(r.status, 400, "Content-Length {cl:?}: {r:?}");
    }
    let r = raw(a, b"POST /v1/groups HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n12345").await;
    assert_eq!(r.status, 400, "conflicting lengths");
    let bearer = ds.token("alice").await;
    let r = raw(
        a,
        format!("POST /v1/groups HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {bearer}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
            .as_bytes(),
    )
    .await;
    assert_eq!(r.status, 400, "bad chunk size: {r:?}");
    let r = raw(a, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage-tls-client-hello\r\n\r\n").await;
    assert_eq!(r.status, 400, "TLS on the plain port: {r:?}");
    let r = raw(a, b"GET / HTTP/9.9\r\n\r\n").await;
    assert!(r.status == 400 || r.status == 505, "{r:?}");

    // A body cut short: Content-Length larger than what arrives before the client stops writing,
    // and a chunked body without its last chunk. 400 (or 408 if it stalls), nothing stays.
    let content = random_bytes(50_000, 1000);
    let full = oneshot_body(&gid, &content);
    for chunked in [false, true] {
        let mut s = tokio::net::TcpStream::connect(a).await.unwrap();
        let mut hs = signed("POST", "/v1/attachments", &full);
        if chunked {
            hs.push(("Transfer-Encoding", "chunked".into()));
        } else {
            hs.push(("Content-Length", full.len().to_string()));
        }
        let mut req = request("POST", "/v1/attachments", &hs, b"");
        if chunked {
            req.extend(format!("{:x}\r\n", full.len()).as_bytes());
        }
        req.extend(&full[..20_000]);
        s.write_all(&req).await.unwrap();
        s.shutdown().await.unwrap(); // half-close: the rest never comes
        let mut buf = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await;
        let r = RawResp::parse(&buf);
        assert!(r.status == 400 || r.status == 408 || buf.is_empty(), "truncated (chunked: {chunked}): {r:?}");
        if r.status != 0 {
            assert!(r.code() == "BadRequest" || r.code() == "Timeout", "{r:?}");
        }
    }
    // A body that stops arriving (connection kept open): 408 after the body timeout.
    {
        let mut s = tokio::net::TcpStream::connect(a).await.unwrap();
        let mut hs = signed("POST", "/v1/attachments", &full);
        hs.push(("Content-Length", full.len().to_string()));
        let mut req = request("POST", "/v1/attachments", &hs, b"");
        req.extend(&full[..20_000]);
        s.write_all(&req).await.unwrap();
        let mut buf = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(15), s.read_to_end(&mut buf)).await;
        let r = RawResp::parse(&buf);
        assert_eq!((r.status, r.code()), (408, "Timeout".into()), "{r:?}");
    }

    // Garbage TLS in well-signed requests: 400 with a code, never 500.
    let gl = gid.len() as u8;
    let bad = (400, "BadRequest".to_owned());
    let cases: Vec<(&str, Vec<u8>, (u16, String))> = vec![
        ("empty", vec![], bad.clone()),
        ("invalid varint", vec![0xC0, 1, 2, 3], bad.clone()),
        ("non-minimal varint", vec![0x40, 0x05, 1, 2, 3, 4, 5], bad.clone()),
        ("group id too long", [vec![0x41, 0x2c], vec![7; 300], vec![0]].concat(), bad.clone()),
        ("other group", [vec![gl], vec![9; gl as usize], vec![1, 0]].concat(), bad.clone()),
        (
            "content length 2^30-1",
            [vec![gl], gid.clone(), vec![0xBF, 0xFF, 0xFF, 0xFF]].concat(),
            (413, "TooLarge".into()),
        ),
        ("truncated content", [vec![gl], gid.clone(), vec![0x43, 0xE8], vec![1; 10]].concat(), bad.clone()),
        ("trailing bytes", [vec![gl], gid.clone(), vec![3, 1, 2, 3, 4, 5]].concat(), bad.clone()),
    ];
    for (what, body, want) in cases {
        let r = raw(a, &request("POST", "/v1/attachments", &signed("POST", "/v1/attachments", &body), &body)).await;
        assert_eq!((r.status, r.code()), want, "{what}: {r:?}");
    }
    let r = raw(
        a,
        &request("POST", "/v1/attachments/download", &signed("POST", "/v1/attachments/download", b"\x05ab"), b"\x05ab"),
    )
    .await;
    assert_eq!((r.status, r.code()), (400, "BadRequest".into()), "{r:?}");
    let r = ds
        .http
        .post(ds.url("/v1/groups"))
        .bearer_auth(ds.token("alice").await)
        .body(random_bytes(3000, 1))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = ds
        .http
        .post(ds.url(&format!("/v1/groups/{}/handshake", b64(&gid))))
        .body(random_bytes(500, 2))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = ds
        .http
        .post(ds.url(&format!("/v1/clients/{}/key-packages", b64(b"x"))))
        .bearer_auth(ds.token("x").await)
        .body(vec![0; 100])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // A garbage, a non-ASCII and an oversized Mimi-Auth header: 401 Unauthorized.
    for h in [b64(&random_bytes(300, 3)).into_bytes(), b"\xff\xfe".to_vec(), vec![b'A'; 9000]] {
        let path = format!("/v1/groups/{}/quota", b64(&gid));
        let head = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{AUTH_HEADER}: ");
        let req = [head.into_bytes(), h, b"\r\n\r\n".to_vec()].concat();
        let r = raw(a, &req).await;
        assert_eq!((r.status, r.code()), (401, "Unauthorized".into()), "{r:?}");
    }

    // Wrong Content-Type: ignored by design (the route fixes the format); the bytes are stored
    // exactly as sent, and a body that is not the route's format is refused whatever its type.
    let c = random_bytes(5_000, 1100);
    let body = oneshot_body(&gid, &c);
    for ct in ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/plain; charset=utf-16"] {
        let mut hs = signed("POST", "/v1/attachments", &body);
        hs.push(("Content-Type", ct.into()));
        let r = raw(a, &request("POST", "/v1/attachments", &hs, &body)).await;
        assert_eq!(r.status, 201, "{ct}: {r:?}");
    }
    let json = br#"{"group_id": "x", "content": "y"}"#;
    let mut hs = signed("POST", "/v1/attachments", json);
    hs.push(("Content-Type", "application/json".into()));
    let r = raw(a, &request("POST", "/v1/attachments", &hs, json)).await;
    assert_eq!((r.status, r.code()), (400, "BadRequest".into()));

    // Oversized heads: a 100 KiB header, 200 headers, a 100 KiB request target: 431/414/400.
    let big = format!("GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "a".repeat(100 * 1024));
    assert_eq!(raw(a, big.as_bytes()).await.status, 431);
    let many: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
    assert_eq!(raw(a, format!("GET /v1/health HTTP/1.1\r\nHost: x\r\n{many}\r\n").as_bytes()).await.status, 431);
    let long = format!("GET /v1/attachments/{} HTTP/1.1\r\nHost: x\r\n\r\n", "A".repeat(100 * 1024));
    let st = raw(a, long.as_bytes()).await.status;
    assert!([400, 414, 431].contains(&st), "{st}");
    // Unknown methods on known routes: the JSON 405.
    let r = raw(a, &request("PUT", "/v1/attachments", &[], b"")).await;
    assert_eq!((r.status, r.code()), (405, "MethodNotAllowed".into()));

    // Afterwards: only the three Content-Type uploads exist; no staging leftovers except the
    // one resumable upload still open; the DS serves everyone.
    assert_eq!(files_in(&data, "blobs"), 3);
    assert_eq!(files_in(&data, "staging"), 1);
    assert_eq!(usage(&ds, &alice, &gid).await, (3 * 5_000 + 1000, 4));
    let t = alice.upload(&ds, &gid, &c).await.unwrap();
    assert_eq!(bob.download(&ds, &gid, &t).await.unwrap(), c);
    carol_round_trip(&ds, &carol, &g2, 1200).await;
}

// ---------------------------------------------------------------------------------------------
// Path traversal

fn snapshot(dir: &Path) -> Vec<(PathBuf, u64, std::time::SystemTime)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let m = e.metadata().unwrap();
        if m.is_file() {
            out.push((e.path(), m.len(), m.modified().unwrap()));
        } else {
            out.push((e.path(), 0, std::time::UNIX_EPOCH));
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_traversal_and_oversized_ids_get_400_or_404_and_touch_nothing_outside_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let data = root.join("data");
    let cwd = root.join("cwd");
    std::fs::create_dir_all(&cwd).unwrap();
    std::fs::write(root.join("canary.txt"), b"do not touch").unwrap();
    std::fs::write(root.join("0123456789abcdef0123456789abcdef"), b"hex-named canary").unwrap();
    let p = Proc::spawn_in(&data, &[], Some(&cwd));
    let ds = p.ds();
    let (alice, bob, gid) = alice_and_bob(&ds).await;
    let token = alice.upload(&ds, &gid, b"legit").await.unwrap();
    let before = snapshot(root);
    let a = &p.addr;

    let long = "A".repeat(40 * 1024);
    let ids = [
        "..",
        "../../canary.txt",
        "..%2F..%2Fcanary.txt",
        "%2e%2e%2f%2e%2e%2fcanary.txt",
        "%2E%2E/%2E%2E/canary.txt",
        "....//....//canary.txt",
        "..%5c..%5ccanary.txt",
        "%00",
        "a%00b",
        "%2F",
        "%C0%AE%C0%AE%2Fcanary.txt",
        "%FF%FE",
        "..%2F..%2F0123456789abcdef0123456789abcdef",
        "0123456789abcdef0123456789abcdef%2F..",
        long.as_str(),
    ];
    let mut seen = std::collections::BTreeMap::<u16, usize>::new();
    let bearer = format!("Bearer {}", ds.token("alice").await);
    for id in ids {
        for (method, route) in [
            ("GET", format!("/v1/attachments/{id}")),
            ("DELETE", format!("/v1/attachments/{id}")),
            ("POST", format!("/v1/attachments/{id}/copy")),
            ("HEAD", format!("/v1/uploads/{id}")),
            ("PATCH", format!("/v1/uploads/{id}")),
            ("DELETE", format!("/v1/uploads/{id}")),
            ("GET", format!("/v1/groups/{id}/quota")),
            ("GET", format!("/v1/groups/{id}/messages?after=0")),
            ("GET", format!("/v1/clients/{id}/welcome")),
            ("POST", format!("/v1/clients/{id}/key-packages/claim")),
            ("GET", format!("/{id}")),
        ] {
            // Signed by a member, so the request reaches the handler.
            let mut hs = vec![(AUTH_HEADER, alice.auth(&gid, method, &route, b"")), ("authorization", bearer.clone())];
            if method == "PATCH" {
                hs.push(("Upload-Offset", "0".into()));
            }
            if route.ends_with("/copy") {
                hs.push((AUTH_TARGET_HEADER, alice.auth(&gid, method, &route, b"")));
            }
            let r = raw(a, &request(method, &route, &hs, b"")).await;
            *seen.entry(r.status).or_default() += 1;
            // A 40 KiB target cannot be signed: the Mimi-Auth header that carries it exceeds the
            // 8 KiB header limit (401); every other id reaches its handler.
            let allowed: &[u16] = if id.len() > 1000 { &[400, 401, 404, 431] } else { &[400, 403, 404] };
            assert!(
                allowed.contains(&r.status),
                "{method} {}: {} {}",
                &route[..route.len().min(80)],
                r.status,
                r.head.lines().next().unwrap_or("")
            );
            if method != "HEAD" && r.status != 431 {
                assert!(!r.code().is_empty(), "a JSON error: {method} {route:.80}: {r:?}");
            }
        }
    }
    eprintln!("statuses: {seen:?}");
    // Malformed query values: 400 with a code.
    for q in ["after=..%2F..%2Fcanary", "after=-1", "limit=99999999999999999999999", "after=%00"] {
        let route = format!("/v1/groups/{}/messages?{q}", b64(&gid));
        let r = raw(a, &request("GET", &route, &[(AUTH_HEADER, alice.auth(&gid, "GET", &route, b""))], b"")).await;
        assert_eq!((r.status, r.code()), (400, "BadRequest".into()), "{q}");
    }
    // Nothing outside the data directory was touched or created (the canaries are unchanged,
    // the DS's working directory stays empty), nothing unexpected inside it either.
    assert_eq!(snapshot(root), before, "files outside the data dir changed");
    assert_eq!(std::fs::read(root.join("canary.txt")).unwrap(), b"do not touch");
    assert_eq!(std::fs::read_dir(&cwd).unwrap().count(), 0);
    let mut inside: Vec<String> =
        std::fs::read_dir(&data).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    inside.sort();
    inside.retain(|n| !n.starts_with("meta.sqlite"));
    assert_eq!(inside, ["blobs", "staging"]);
    assert_eq!(files_in(&data, "blobs"), 1);
    assert_eq!(files_in(&data, "staging"), 0);
    assert_eq!(bob.download(&ds, &gid, &token).await.unwrap(), b"legit");
}

// ---------------------------------------------------------------------------------------------
// Clock skew and replays

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clock_skew_is_bounded_and_replays_are_refused_within_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let p = Proc::spawn(&data, &["--clock-skew-secs", "3"]);
    let ds = p.ds();
    let (alice, bob, gid) = alice_and_bob(&ds).await;
    let token = alice.upload(&ds, &gid, b"skewed").await.unwrap();
    let path = format!("/v1/attachments/{}", b64(&token));
    let get = |h: String| {
        let ds = &ds;
        let path = path.clone();
        async move {
            let r = ds.http.get(ds.url(&path)).header(AUTH_HEADER, h).send().await.unwrap();
            if r.status() == 200 {
                (200, String::new())
            } else {
                code_of(r).await
            }
        }
    };
    let at = |offset_ms: i64| {
        let ts = (now_ms() as i64 + offset_ms).max(0) as u64;
        bob.auth_with(&gid, bob.epoch(&gid), bob.leaf(&gid), "GET", &path, body_hash(b""), ts)
    };
    // Within the skew, both directions: accepted.
    assert_eq!(get(at(-2000)).await.0, 200, "2 s behind");
    assert_eq!(get(at(2000)).await.0, 200, "2 s ahead");
    // Beyond it: 401 Stale, whatever the direction or magnitude (no overflow).
    for off in [-5000i64, 5000, -86_400_000, 86_400_000] {
        assert_eq!(get(at(off)).await, (401, "Stale".into()), "{off} ms");
    }
    for ts in [0u64, u64::MAX] {
        let h = bob.auth_with(&gid, bob.epoch(&gid), bob.leaf(&gid), "GET", &path, body_hash(b""), ts);
        assert_eq!(get(h).await, (401, "Stale".into()), "timestamp {ts}");
    }
    // A captured request replayed: the first is served, the copy refused.
    let captured = at(0);
    assert_eq!(get(captured.clone()).await.0, 200);
    assert_eq!(get(captured.clone()).await, (401, "Replay".into()));
    // A replayed upload creates nothing.
    let body = oneshot_body(&gid, b"once");
    let h = alice.auth(&gid, "POST", "/v1/attachments", &body);
    for expect in [201u16, 401] {
        let r = ds
            .http
            .post(ds.url("/v1/attachments"))
            .header(AUTH_HEADER, h.clone())
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), expect);
    }
    assert_eq!(usage(&ds, &alice, &gid).await.1, 2);
    // Once the window has passed, the captured request is refused as stale, not served.
    tokio::time::sleep(Duration::from_millis(3300)).await;
    assert_eq!(get(captured).await, (401, "Stale".into()));

    // By design the replay cache is in memory: after a restart, a request captured within the
    // window can be replayed once (ds/README.md); a second copy is refused again.
    let captured = at(0);
    assert_eq!(get(captured.clone()).await.0, 200);
    p.kill();
    let p = Proc::spawn(&data, &["--clock-skew-secs", "30"]);
    let ds2 = p.ds();
    let r = ds2.http.get(ds2.url(&path)).header(AUTH_HEADER, captured.clone()).send().await.unwrap();
    assert_eq!(r.status(), 200, "documented: one replay after a restart");
    let r = ds2.http.get(ds2.url(&path)).header(AUTH_HEADER, captured).send().await.unwrap();
    assert_eq!(code_of(r).await, (401, "Replay".into()));
}
