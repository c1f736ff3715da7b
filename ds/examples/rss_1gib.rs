//! Uploads and downloads a 1 GiB attachment through a real `mimi-ds` process and prints the
//! DS's resident memory (VmRSS from /proc, sampled every 100 ms, and VmHWM).
//!
//! ```sh
//! cargo build --release -p mimi-ds --bins --examples
//! cargo run --release -p mimi-ds --example rss_1gib
//! ```
//! The DS binary is taken from `$MIMI_DS_BIN`, or next to this example's directory. Arguments
//! after `--` go to the DS, e.g. `-- --meta postgres://… --blobs s3://…` for the scale-out backend
//! (scripts/ds-scale-bench.sh).

use std::io::BufRead as _;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use futures_util::StreamExt as _;
use mimi_attachments::auth::{body_hash, fresh_nonce, DsRequestTbs, SignedDsRequest, AUTH_HEADER};
use mimi_attachments::wire::{decode_exact, UploadAttachmentResponse};
use openmls::prelude::tls_codec::Serialize as _;
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;
use sha2::{Digest, Sha256};

const GIB: u64 = 1 << 30;
const CHUNK: u64 = 16 << 20;

/// Deterministic pseudo-random bytes of chunk `i` (xorshift), so the client never holds 1 GiB.
fn chunk(i: u64, len: usize) -> Vec<u8> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ i.wrapping_mul(0xD1B5_4A32_D192_ED03);
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

struct Me {
    signer: SignatureKeyPair,
    gid: Vec<u8>,
    epoch: u64,
    leaf: u32,
}

impl Me {
    fn auth(&self, method: &str, target: &str, hash: [u8; 32]) -> String {
        let tbs =
            DsRequestTbs::new(&self.gid, self.epoch, self.leaf, method, target, hash, now_ms(), fresh_nonce().unwrap());
        SignedDsRequest::sign(tbs, &self.signer).unwrap().to_header().unwrap()
    }
}

#[tokio::main]
async fn main() {
    let bin = std::env::var("MIMI_DS_BIN").map(std::path::PathBuf::from).unwrap_or_else(|_| {
        let exe = std::env::current_exe().unwrap();
        exe.parent().unwrap().parent().unwrap().join("mimi-ds")
    });
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(&bin)
        .args(["--listen", "127.0.0.1:0", "--dev-identity", "--max-file-bytes", "2147483648", "--data-dir"])
        .arg(dir.path())
        .args(std::env::args().skip(1))
        .env("MIMI_DS_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let pid = child.id();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let base = line.trim().strip_prefix("listening on ").unwrap().to_owned();
    let http = reqwest::Client::new();

    // A real MLS group registered with the DS.
    let provider = OpenMlsRustCrypto::default();
    let cs = Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519;
    let signer = SignatureKeyPair::new(cs.signature_algorithm()).unwrap();
    signer.store(provider.storage()).unwrap();
    let cred = CredentialWithKey {
        credential: BasicCredential::new(b"alice".to_vec()).into(),
        signature_key: signer.public().into(),
    };
    let cfg = MlsGroupCreateConfig::builder()
        .ciphersuite(cs)
        .wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
        .use_ratchet_tree_extension(true)
        .build();
    let group = MlsGroup::new(&provider, &signer, &cfg, cred).unwrap();
    let gi = group.export_group_info(provider.crypto(), &signer, true).unwrap().tls_serialize_detached().unwrap();
    let login: serde_json::Value = http
        .post(format!("{base}/v1/dev/login"))
        .json(&serde_json::json!({ "client": "alice" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().unwrap().to_owned();
    assert_eq!(http.post(format!("{base}/v1/groups")).bearer_auth(token).body(gi).send().await.unwrap().status(), 201);
    let me = Me {
        signer,
        gid: group.group_id().as_slice().to_vec(),
        epoch: group.epoch().as_u64(),
        leaf: group.own_leaf_index().u32(),
    };

    let idle = rss_kib(pid, "VmRSS:");
    let peak = Arc::new(AtomicU64::new(idle));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, stop) = (peak.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kib(pid, "VmRSS:"), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };

    // Upload: resumable, 64 PATCHes of 16 MiB (as a browser would send it).
    let t = Instant::now();
    let h = me.auth("POST", "/v1/uploads", body_hash(b""));
    let r = http
        .post(format!("{base}/v1/uploads"))
        .header(AUTH_HEADER, h)
        .header("upload-length", GIB)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let loc = r.headers()["location"].to_str().unwrap().to_owned();
    let mut whole = Sha256::new();
    let mut token = Vec::new();
    for i in 0..GIB / CHUNK {
        let data = chunk(i, CHUNK as usize);
        whole.update(&data);
        let h = me.auth("PATCH", &loc, body_hash(&data));
        let r = http
            .patch(format!("{base}{loc}"))
            .header(AUTH_HEADER, h)
            .header("upload-offset", i * CHUNK)
            .body(data)
            .send()
            .await
            .unwrap();
        if r.status() == 201 {
            let resp: UploadAttachmentResponse = decode_exact(&r.bytes().await.unwrap()).unwrap();
            token = resp.token.as_slice().to_vec();
        } else {
            assert_eq!(r.status(), 204);
        }
    }
    let up_secs = t.elapsed().as_secs_f64();
    let peak_up = peak.swap(0, Ordering::Relaxed);
    let expected: [u8; 32] = whole.finalize().into();

    // Download: streaming GET, hashed on the fly.
    let t = Instant::now();
    let path = format!("/v1/attachments/{}", URL_SAFE_NO_PAD.encode(&token));
    let h = me.auth("GET", &path, body_hash(b""));
    let r = http.get(format!("{base}{path}")).header(AUTH_HEADER, h).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let mut stream = r.bytes_stream();
    let mut got = Sha256::new();
    let mut n = 0u64;
    while let Some(b) = stream.next().await {
        let b = b.unwrap();
        n += b.len() as u64;
        got.update(&b);
    }
    let down_secs = t.elapsed().as_secs_f64();
    let peak_down = peak.swap(0, Ordering::Relaxed);
    assert_eq!(n, GIB);
    assert_eq!(<[u8; 32]>::from(got.finalize()), expected, "downloaded bytes differ");

    // One-shot: the largest UploadAttachmentRequest (content of 2^30 - 1 bytes), streamed by the
    // client, then the draft's DownloadAttachmentRequest/Response, streamed back.
    let len = GIB - 1;
    let mut prefix = vec![me.gid.len() as u8];
    prefix.extend_from_slice(&me.gid);
    prefix.extend_from_slice(&((len as u32) | 0x8000_0000).to_be_bytes());
    let pieces = move || {
        let first = std::iter::once(prefix.clone());
        first.chain((0..GIB / CHUNK).map(move |i| {
            let mut c = chunk(i, CHUNK as usize);
            if i == GIB / CHUNK - 1 {
                c.pop();
            }
            c
        }))
    };
    let mut body_hasher = Sha256::new();
    let mut content_hasher = Sha256::new();
    for (k, p) in pieces().enumerate() {
        body_hasher.update(&p);
        if k > 0 {
            content_hasher.update(&p);
        }
    }
    let content_hash: [u8; 32] = content_hasher.finalize().into();
    let t = Instant::now();
    let h = me.auth("POST", "/v1/attachments", body_hasher.finalize().into());
    let stream = futures_util::stream::iter(pieces().map(Ok::<_, std::io::Error>));
    let r = http
        .post(format!("{base}/v1/attachments"))
        .header(AUTH_HEADER, h)
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let resp: UploadAttachmentResponse = decode_exact(&r.bytes().await.unwrap()).unwrap();
    let one_up_secs = t.elapsed().as_secs_f64();
    let peak_one_up = peak.swap(0, Ordering::Relaxed);
    let t = Instant::now();
    let req = mimi_attachments::wire::encode(&mimi_attachments::wire::DownloadAttachmentRequest {
        group_id: me.gid.clone().into(),
        token: resp.token.clone(),
    })
    .unwrap();
    let h = me.auth("POST", "/v1/attachments/download", body_hash(&req));
    let r = http.post(format!("{base}/v1/attachments/download")).header(AUTH_HEADER, h).body(req).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let mut stream = r.bytes_stream();
    let mut got = Sha256::new();
    let mut n = 0u64;
    let mut skip = 4usize; // the 4-byte varint length of content<V>
    while let Some(b) = stream.next().await {
        let b = b.unwrap();
        let s = skip.min(b.len());
        skip -= s;
        n += (b.len() - s) as u64;
        got.update(&b[s..]);
    }
    assert_eq!(n, len);
    assert_eq!(<[u8; 32]>::from(got.finalize()), content_hash, "one-shot bytes differ");
    let one_down_secs = t.elapsed().as_secs_f64();
    let peak_one_down = peak.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let hwm = rss_kib(pid, "VmHWM:");
    child.kill().ok();
    child.wait().ok();

    println!("1 GiB attachment through mimi-ds ({})", bin.display());
    println!("  upload   (64 x 16 MiB PATCH): {:.1} s, {:.0} MiB/s", up_secs, 1024.0 / up_secs);
    println!("  download (streaming GET):     {:.1} s, {:.0} MiB/s, byte-exact", down_secs, 1024.0 / down_secs);
    println!("  DS VmRSS idle after start:    {:.1} MiB", idle as f64 / 1024.0);
    println!("  DS VmRSS peak during upload:  {:.1} MiB", peak_up as f64 / 1024.0);
    println!("  DS VmRSS peak during download:{:.1} MiB", peak_down as f64 / 1024.0);
    println!(
        "  one-shot upload (2^30-1 B, streamed): {:.1} s, DS VmRSS peak {:.1} MiB",
        one_up_secs,
        peak_one_up as f64 / 1024.0
    );
    println!(
        "  one-shot TLS download (streamed):     {:.1} s, DS VmRSS peak {:.1} MiB, byte-exact",
        one_down_secs,
        peak_one_down as f64 / 1024.0
    );
    println!("  DS VmHWM (lifetime peak):     {:.1} MiB", hwm as f64 / 1024.0);
}
