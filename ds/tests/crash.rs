//! Crash safety: the real `mimi-ds` binary is killed with SIGKILL in the middle of uploads and
//! restarted on the same data directory.

mod common;

use std::io::BufRead as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use mimi_attachments::auth::AUTH_HEADER;
use mimi_attachments::wire::{encode, UploadAttachmentRequest};

fn spawn_ds(data: &std::path::Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mimi-ds"))
        .args(["--listen", "127.0.0.1:0", "--dev-identity", "--data-dir"])
        .arg(data)
        .env("MIMI_DS_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let base = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("unexpected: {line:?}")).to_owned();
    (child, base)
}

/// A request body that sends `head` and then stalls forever.
fn stalled_body(head: Vec<u8>) -> reqwest::Body {
    let s = futures_util::stream::iter(vec![Ok::<_, std::io::Error>(head)]).chain(futures_util::stream::pending());
    reqwest::Body::wrap_stream(s)
}

use futures_util::StreamExt as _;

fn staging_len(data: &std::path::Path, loc: &str) -> u64 {
    let id = loc.rsplit('/').next().unwrap();
    std::fs::metadata(data.join("staging").join(id)).map(|m| m.len()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_upload_then_restart_resumes_from_the_durable_offset() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let (mut child, base) = spawn_ds(data);
    let ds = Ds::at(base);

    let mut alice = Member::new("alice");
    let mut bob = Member::new("bob");
    let gid = alice.create_group(&ds).await;
    alice.add(&ds, &gid, &mut bob, &mut []).await;
    let done = random_bytes(50_000, 10);
    let token_done = alice.upload(&ds, &gid, &done).await.unwrap();

    // A resumable upload with 300,000 durable bytes.
    let content = random_bytes(1_000_000, 11);
    let loc = alice.create_upload(&ds, &gid, content.len() as u64).await.unwrap();
    assert_eq!(alice.patch(&ds, &gid, &loc, 0, content[..300_000].to_vec()).await.status(), 204);

    // A second PATCH that sends 200,000 of its 700,000 bytes and stalls.
    let h = alice.auth(&gid, "PATCH", &loc, &content[300_000..]);
    let patch = ds
        .http
        .patch(ds.url(&loc))
        .header(AUTH_HEADER, h)
        .header("upload-offset", 300_000)
        .body(stalled_body(content[300_000..500_000].to_vec()))
        .send();
    let patch = tokio::spawn(patch);
    // A one-shot upload that stalls half-way.
    let full =
        encode(&UploadAttachmentRequest { group_id: gid.clone().into(), content: random_bytes(400_000, 12).into() })
            .unwrap();
    let h = alice.auth(&gid, "POST", "/v1/attachments", &full);
    let oneshot = ds
        .http
        .post(ds.url("/v1/attachments"))
        .header(AUTH_HEADER, h)
        .body(stalled_body(full[..200_000].to_vec()))
        .send();
    let oneshot = tokio::spawn(oneshot);

    // Wait until the stalled PATCH's bytes reached the staging file, then SIGKILL.
    let t0 = Instant::now();
    let staged = || std::fs::read_dir(data.join("staging")).unwrap().count();
    while (staging_len(data, &loc) < 500_000 || staged() < 2) && t0.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(staging_len(data, &loc), 500_000, "the partial body was written before the kill");
    assert_eq!(std::fs::read_dir(data.join("staging")).unwrap().count(), 2, "resumable + one-shot staging files");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // Both stalled requests fail on the client side (connection reset).
    assert!(patch.await.unwrap().is_err());
    assert!(oneshot.await.unwrap().is_err());

    // Restart on the same data directory.
    let (mut child, base) = spawn_ds(data);
    let ds = Ds::at(base);
    // The durable offset is the last acknowledged one, not the half-written PATCH.
    let r = alice.head_upload(&ds, &gid, &loc).await;
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["upload-offset"], "300000");
    assert_eq!(r.headers()["upload-length"], "1000000");
    // The one-shot upload left nothing; the resumable one is the only staging file.
    assert_eq!(std::fs::read_dir(data.join("staging")).unwrap().count(), 1);
    assert_eq!(std::fs::read_dir(data.join("blobs")).unwrap().count(), 1);

    // Resume from the offset; the result is byte-exact.
    let r = alice.patch(&ds, &gid, &loc, 300_000, content[300_000..].to_vec()).await;
    assert_eq!(r.status(), 201);
    let token = token_or_code(r).await.unwrap();
    assert_eq!(bob.download(&ds, &gid, &token).await.unwrap(), content);
    // The attachment completed before the crash survived, and the group was restored.
    assert_eq!(bob.download(&ds, &gid, &token_done).await.unwrap(), done);
    assert_eq!(std::fs::read_dir(data.join("staging")).unwrap().count(), 0);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn help_lists_the_flags() {
    let out = Command::new(env!("CARGO_BIN_EXE_mimi-ds")).arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--listen",
        "--data-dir",
        "--max-file-bytes",
        "--group-quota-bytes",
        "--group-quota-count",
        "--attachment-ttl-secs",
        "--upload-ttl-secs",
        "--delete-policy",
        "--clock-skew-secs",
        "--epoch-grace-secs",
        "--cors-origins",
        "--www",
        "--www-pkg",
        "MIMI_DS_WWW",
        "MIMI_DS_WWW_PKG",
    ] {
        assert!(text.contains(flag), "{flag} missing from --help");
    }
    assert!(text.contains("127.0.0.1:8080"), "listens on loopback by default");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_never_contain_tokens_or_upload_ids() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("ds.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_mimi-ds"))
        .args(["--listen", "127.0.0.1:0", "--dev-identity", "--log-format", "json", "--data-dir"])
        .arg(dir.path().join("data"))
        .env("MIMI_DS_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let ds = Ds::at(line.trim().strip_prefix("listening on ").unwrap().to_owned());
    let mut alice = Member::new("alice");
    let gid = alice.create_group(&ds).await;
    let token = alice.upload(&ds, &gid, b"logged?").await.unwrap();
    assert_eq!(alice.download(&ds, &gid, &token).await.unwrap(), b"logged?");
    let loc = alice.create_upload(&ds, &gid, 10).await.unwrap();
    assert_eq!(alice.patch(&ds, &gid, &loc, 0, vec![1; 5]).await.status(), 204);
    assert_eq!(alice.delete(&ds, &gid, &token).await, 204);
    child.kill().unwrap();
    child.wait().unwrap();
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("/v1/attachments/{token}"), "requests are logged by route template: {log}");
    let id = loc.rsplit('/').next().unwrap();
    for secret in [b64(&token), hex::encode(&token), id.to_owned()] {
        assert!(!log.contains(&secret), "secret in the log");
    }
    assert!(!log.to_ascii_lowercase().contains("mimi-auth"), "auth header in the log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_serves_the_page_from_mimi_ds_www_and_the_package_from_mimi_ds_www_pkg() {
    let dir = tempfile::tempdir().unwrap();
    let (www, pkg) = (dir.path().join("www"), dir.path().join("pkg"));
    std::fs::create_dir_all(&www).unwrap();
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(www.join("index.html"), "<title>demo</title>").unwrap();
    std::fs::write(pkg.join("mimi_attachments_bg.wasm"), b"\0asm\x01\0\0\0").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mimi-ds"))
        .args(["--listen", "127.0.0.1:0", "--dev-identity", "--data-dir"])
        .arg(dir.path().join("data"))
        .env("MIMI_DS_LOG", "warn")
        .env("MIMI_DS_WWW", &www)
        .env("MIMI_DS_WWW_PKG", &pkg)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let ds = Ds::at(line.trim().strip_prefix("listening on ").unwrap().to_owned());
    let r = ds.http.get(ds.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
    assert!(r.headers()["content-security-policy"].to_str().unwrap().contains("'wasm-unsafe-eval'"));
    assert_eq!(r.text().await.unwrap(), "<title>demo</title>");
    let r = ds.http.get(ds.url("/pkg/mimi_attachments_bg.wasm")).send().await.unwrap();
    assert_eq!(r.headers()["content-type"], "application/wasm");
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"\0asm\x01\0\0\0");
    assert_eq!(ds.http.get(ds.url("/v1/health")).send().await.unwrap().text().await.unwrap(), "ok");
    child.kill().unwrap();
    child.wait().unwrap();

    // A --www that is not a directory: the binary exits with an error instead of serving.
    let status = Command::new(env!("CARGO_BIN_EXE_mimi-ds"))
        .args(["--listen", "127.0.0.1:0", "--dev-identity", "--data-dir"])
        .arg(dir.path().join("data2"))
        .arg("--www")
        .arg(www.join("index.html"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success());
}
