//! A bounded load generator for the DS, shared by `examples/load.rs` (the CLI) and
//! `tests/load.rs` (a short run with assertions).
//!
//! It starts a real `mimi-ds` process on 127.0.0.1 with a temporary data directory (or talks to
//! `--url`), creates `groups` MLS groups of `members` members (real openmls groups registered
//! with the DS; adjacent groups share half of their members so that copies between groups are
//! possible) and, for a fixed time, runs `concurrency` workers that upload (one-shot and
//! resumable PATCH), download (GET, `Range`, the TLS `DownloadAttachmentRequest`), copy across
//! groups, delete, cancel uploads and race a delete against a download. Every downloaded byte is
//! checked against the uploaded content (regenerated from a seed; SHA-256 per attachment). The
//! live data is bounded (`max_live_bytes`), the time is bounded (`seconds`, per-request timeout),
//! and the DS's VmRSS and open file descriptors are sampled every second.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use futures_util::StreamExt as _;
use mimi_attachments::auth::{body_hash, fresh_nonce, DsRequestTbs, SignedDsRequest, AUTH_HEADER, AUTH_TARGET_HEADER};
use mimi_attachments::wire::{
    decode_exact, encode, DownloadAttachmentRequest, DownloadAttachmentResponse, UploadAttachmentRequest,
    UploadAttachmentResponse,
};
use openmls::prelude::tls_codec::Serialize as _;
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use reqwest::StatusCode;
use serde::Serialize;
use sha2::{Digest as _, Sha256};

const CS: Ciphersuite = Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519;

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Length of the load phase.
    pub seconds: u64,
    /// Number of MLS groups.
    pub groups: usize,
    /// Members per group.
    pub members: usize,
    /// Concurrent workers (each one request at a time).
    pub concurrency: usize,
    /// Attachment sizes, inclusive.
    pub size_min: usize,
    /// Attachment sizes, inclusive.
    pub size_max: usize,
    /// Upper bound of the live attachment bytes (uploads turn into deletes above it).
    pub max_live_bytes: u64,
    /// Seed of every random choice and of the content.
    pub seed: u64,
    /// RSS "after warm-up" is sampled this many seconds into the load phase.
    pub warmup_secs: u64,
    /// Talk to this DS instead of starting one.
    pub url: Option<String>,
    /// PID of the DS at `url` (for RSS sampling).
    pub pid: Option<u32>,
    /// The `mimi-ds` binary to start.
    pub ds_bin: Option<PathBuf>,
    /// Data directory of the started DS (default: a temporary directory, removed at the end), or
    /// of the DS at `url` (for the on-disk checks).
    pub data_dir: Option<PathBuf>,
    /// Extra flags for the started DS.
    pub ds_args: Vec<String>,
    /// Per-request timeout.
    pub request_timeout: Duration,
    /// Print progress to stderr.
    pub verbose: bool,
}

impl Default for LoadConfig {
    fn default() -> Self {
        Self {
            seconds: 30,
            groups: 8,
            members: 4,
            concurrency: 16,
            size_min: 0,
            size_max: 1 << 20,
            max_live_bytes: 512 << 20,
            seed: 1,
            warmup_secs: 10,
            url: None,
            pid: None,
            ds_bin: None,
            data_dir: None,
            ds_args: vec![],
            request_timeout: Duration::from_secs(60),
            verbose: false,
        }
    }
}

/// Latency summary of one operation, milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct OpStats {
    /// Operation (one HTTP request kind).
    pub op: String,
    /// Requests.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Maximum.
    pub max_ms: f64,
}

/// One RSS sample.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct RssSample {
    /// Seconds since the load phase started (negative: setup).
    pub t_secs: f64,
    /// VmRSS, KiB.
    pub rss_kib: u64,
    /// Open file descriptors of the DS.
    pub fds: u64,
}

/// The outcome of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The command line or description of the run.
    pub command: String,
    /// CPU, cores, memory, kernel.
    pub machine: String,
    /// Configuration.
    pub seconds: u64,
    /// Groups.
    pub groups: usize,
    /// Members per group.
    pub members: usize,
    /// Distinct identities.
    pub identities: usize,
    /// Workers.
    pub concurrency: usize,
    /// Sizes.
    pub size_range: String,
    /// Live-bytes bound.
    pub max_live_bytes: u64,
    /// Measured length of the load phase.
    pub elapsed_secs: f64,
    /// HTTP requests in the load phase.
    pub requests: u64,
    /// Requests per second.
    pub req_per_sec: f64,
    /// Attachment bytes sent (bodies of uploads).
    pub bytes_up: u64,
    /// Attachment bytes received (download bodies).
    pub bytes_down: u64,
    /// MB/s up (10^6 bytes).
    pub mb_per_sec_up: f64,
    /// MB/s down.
    pub mb_per_sec_down: f64,
    /// MB/s both directions.
    pub mb_per_sec_total: f64,
    /// Completed uploads (one-shot + resumable).
    pub uploads: u64,
    /// Verified downloads.
    pub downloads: u64,
    /// Copies.
    pub copies: u64,
    /// Deletes.
    pub deletes: u64,
    /// Attachments that should exist but were 404 (must be 0).
    pub lost: u64,
    /// Downloads whose bytes differ from the upload (must be 0).
    pub corrupted: u64,
    /// Deleted attachments still downloadable (must be 0).
    pub zombies: u64,
    /// Unexpected statuses and transport errors, by kind (must be empty).
    pub errors: BTreeMap<String, u64>,
    /// Sum of `errors`.
    pub unexpected_errors: u64,
    /// Expected non-success outcomes (e.g. a download losing the race against a delete).
    pub expected: BTreeMap<String, u64>,
    /// Per operation latency.
    pub ops: Vec<OpStats>,
    /// Live attachments verified after the load phase.
    pub final_verified: u64,
    /// Groups whose quota endpoint disagreed with the client's books (must be 0).
    pub quota_mismatches: u64,
    /// Staging files left after the run (must be 0), if the data directory is known.
    pub staging_files_left: Option<u64>,
    /// Blob files after the run, if known.
    pub blob_files: Option<u64>,
    /// Bytes under the data directory after the run, if known.
    pub data_dir_bytes: Option<u64>,
    /// DS RSS before the load, KiB.
    pub rss_start_kib: Option<u64>,
    /// DS RSS after the warm-up, KiB.
    pub rss_warm_kib: Option<u64>,
    /// DS RSS maximum sample, KiB.
    pub rss_peak_kib: Option<u64>,
    /// DS RSS at the end (after the final verification), KiB.
    pub rss_end_kib: Option<u64>,
    /// DS VmHWM at the end, KiB.
    pub hwm_end_kib: Option<u64>,
    /// DS open file descriptors: start / peak / end.
    pub fds_start_peak_end: Option<(u64, u64, u64)>,
    /// All samples.
    pub rss_samples: Vec<RssSample>,
    /// The started DS exited within 10 s of SIGTERM.
    pub graceful_shutdown: Option<bool>,
}

// ---------------------------------------------------------------------------------------------
// Content

/// Deterministic pseudo-random bytes (xorshift64*), so the generator never stores contents.
pub fn content(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        v.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    v.truncate(len);
    v
}

fn sha(b: &[u8]) -> [u8; 32] {
    Sha256::digest(b).into()
}

fn b64(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// The DS process and /proc

/// A DS process started by the generator (SIGKILLed on drop if still running).
pub struct DsProcess {
    /// The child.
    pub child: Child,
    /// `http://127.0.0.1:port`.
    pub url: String,
    /// Its data directory.
    pub data_dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

impl DsProcess {
    /// Starts `bin` on 127.0.0.1 with `data_dir` (or a temporary one) and extra `args`.
    pub fn start(bin: &Path, data_dir: Option<&Path>, args: &[String]) -> std::io::Result<Self> {
        use std::io::BufRead as _;
        let (tmp, dir) = match data_dir {
            Some(d) => (None, d.to_path_buf()),
            None => {
                let t = tempfile::tempdir()?;
                let d = t.path().join("data");
                (Some(t), d)
            }
        };
        std::fs::create_dir_all(&dir)?;
        let log = std::fs::File::create(dir.with_extension("log"))?;
        let mut child = Command::new(bin)
            .args(["--listen", "127.0.0.1:0", "--dev-identity", "--data-dir"])
            .arg(&dir)
            .args(args)
            .env("MIMI_DS_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()?;
        let mut line = String::new();
        let out = child.stdout.take().ok_or_else(|| std::io::Error::other("no stdout"))?;
        std::io::BufReader::new(out).read_line(&mut line)?;
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .ok_or_else(|| std::io::Error::other(format!("unexpected DS output {line:?}")))?
            .to_owned();
        Ok(Self { child, url, data_dir: dir, _tmp: tmp })
    }

    /// SIGTERM, then wait up to 10 s (SIGKILL after). True if it exited by itself.
    pub fn terminate(&mut self) -> bool {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        false
    }
}

impl Drop for DsProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A `/proc/PID/status` field in KiB (`VmRSS:`, `VmHWM:`).
pub fn proc_kib(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)).and_then(|n| n.parse().ok())
}

/// Open file descriptors of `pid`.
pub fn proc_fds(pid: u32) -> Option<u64> {
    std::fs::read_dir(format!("/proc/{pid}/fd")).ok().map(|d| d.count() as u64)
}

fn files_and_bytes(dir: &Path) -> (u64, u64) {
    let mut n = 0;
    let mut bytes = 0;
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if let Ok(m) = e.metadata() {
                if m.is_dir() {
                    let (a, b) = files_and_bytes(&e.path());
                    n += a;
                    bytes += b;
                } else {
                    n += 1;
                    bytes += m.len();
                }
            }
        }
    }
    (n, bytes)
}

/// A short description of this machine.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| s.lines().next().and_then(|l| l.split_whitespace().nth(1)).and_then(|k| k.parse::<u64>().ok()))
        .map(|k| format!("{:.1} GiB RAM", k as f64 / 1024.0 / 1024.0))
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cpu}, {cores} cores, {mem}, Linux {}", kernel.trim())
}

// ---------------------------------------------------------------------------------------------
// Groups and identities

struct Identity {
    name: String,
    signer: SignatureKeyPair,
    /// (group, leaf) of every group this identity is in.
    groups: Vec<(usize, u32)>,
}

struct Group {
    gid: Vec<u8>,
    epoch: u64,
    /// (identity, leaf).
    members: Vec<(usize, u32)>,
}

struct World {
    base: String,
    http: reqwest::Client,
    ids: Vec<Identity>,
    groups: Vec<Group>,
}

impl World {
    fn url(&self, p: &str) -> String {
        format!("{}{}", self.base, p)
    }

    fn leaf(&self, id: usize, g: usize) -> u32 {
        self.ids[id].groups.iter().find(|(gg, _)| *gg == g).map(|(_, l)| *l).unwrap_or(0)
    }

    fn auth(&self, id: usize, g: usize, method: &str, target: &str, hash: [u8; 32]) -> String {
        let grp = &self.groups[g];
        let nonce = fresh_nonce().expect("OS RNG");
        let tbs = DsRequestTbs::new(&grp.gid, grp.epoch, self.leaf(id, g), method, target, hash, now_ms(), nonce);
        SignedDsRequest::sign(tbs, &self.ids[id].signer).expect("sign").to_header().expect("header")
    }
}

/// Creates the identities and the groups on the DS. Group `g` holds identity block `g` (the first
/// `ceil(m/2)` of its members) plus the first `m - ceil(m/2)` identities of block `g+1`, so each
/// of those is in two adjacent groups.
/// A client token from a DS in development identity mode (`--dev-identity`).
pub async fn dev_token(http: &reqwest::Client, base: &str, client: &str) -> Result<String, String> {
    let r = http
        .post(format!("{base}/v1/dev/login"))
        .json(&serde_json::json!({ "client": client }))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !r.status().is_success() {
        return Err(format!("dev login: {} (start the DS with --dev-identity)", r.status()));
    }
    let v: serde_json::Value = r.json().await.map_err(|e| e.to_string())?;
    v["token"].as_str().map(str::to_owned).ok_or_else(|| "dev login: no token".to_owned())
}

async fn setup(base: &str, http: &reqwest::Client, groups: usize, members: usize) -> Result<World, String> {
    let members = members.max(1);
    let (block, shared) = if groups >= 2 { (members.div_ceil(2), members - members.div_ceil(2)) } else { (members, 0) };
    let n_ids = groups * block;
    struct Setup {
        provider: OpenMlsRustCrypto,
        signer: SignatureKeyPair,
        cred: CredentialWithKey,
    }
    let mut setups = Vec::with_capacity(n_ids);
    let mut ids = Vec::with_capacity(n_ids);
    for i in 0..n_ids {
        let provider = OpenMlsRustCrypto::default();
        let signer = SignatureKeyPair::new(CS.signature_algorithm()).map_err(|e| format!("{e:?}"))?;
        signer.store(provider.storage()).map_err(|e| format!("{e:?}"))?;
        let name = format!("load-member-{i}");
        let cred = CredentialWithKey {
            credential: BasicCredential::new(name.as_bytes().to_vec()).into(),
            signature_key: signer.public().into(),
        };
        ids.push((name, Vec::new()));
        setups.push(Setup { provider, signer, cred });
    }
    let cfg = MlsGroupCreateConfig::builder()
        .ciphersuite(CS)
        .wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
        .use_ratchet_tree_extension(true)
        .build();
    let mut out_groups = Vec::with_capacity(groups);
    for g in 0..groups {
        let creator = g * block;
        let mut member_ids: Vec<usize> = (g * block..(g + 1) * block).collect();
        let next = (g + 1) % groups;
        let extra: Vec<usize> = (next * block..next * block + shared).filter(|i| !member_ids.contains(i)).collect();
        member_ids.extend(extra);
        let c = &setups[creator];
        let mut grp = MlsGroup::new(&c.provider, &c.signer, &cfg, c.cred.clone()).map_err(|e| format!("{e:?}"))?;
        let gi = grp.export_group_info(c.provider.crypto(), &c.signer, true).map_err(|e| format!("{e:?}"))?;
        let token = dev_token(http, base, &ids[creator].0).await?;
        let r = http
            .post(format!("{base}/v1/groups"))
            .bearer_auth(token)
            .body(gi.tls_serialize_detached().map_err(|e| e.to_string())?)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if r.status() != StatusCode::CREATED {
            return Err(format!("register group: {}", r.status()));
        }
        let mut kps = Vec::new();
        for &m in member_ids.iter().filter(|&&m| m != creator) {
            let s = &setups[m];
            let kp = KeyPackage::builder()
                .build(CS, &s.provider, &s.signer, s.cred.clone())
                .map_err(|e| format!("{e:?}"))?
                .key_package()
                .clone();
            kps.push(kp);
        }
        if !kps.is_empty() {
            let (commit, _welcome, _) = grp.add_members(&c.provider, &c.signer, &kps).map_err(|e| format!("{e:?}"))?;
            grp.merge_pending_commit(&c.provider).map_err(|e| format!("{e:?}"))?;
            let gi = grp.export_group_info(c.provider.crypto(), &c.signer, true).map_err(|e| format!("{e:?}"))?;
            let mut body = commit.tls_serialize_detached().map_err(|e| e.to_string())?;
            body.extend(gi.tls_serialize_detached().map_err(|e| e.to_string())?);
            let gid = grp.group_id().as_slice().to_vec();
            let r = http
                .post(format!("{base}/v1/groups/{}/handshake", b64(&gid)))
                .body(body)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if r.status() != StatusCode::OK {
                return Err(format!("add members: {} {}", r.status(), r.text().await.unwrap_or_default()));
            }
        }
        let mut mem = Vec::new();
        for &m in &member_ids {
            let leaf = grp
                .member_leaf_index(&setups[m].cred.credential)
                .ok_or_else(|| format!("identity {m} not in group {g}"))?
                .u32();
            mem.push((m, leaf));
            ids[m].1.push((g, leaf));
        }
        out_groups.push(Group { gid: grp.group_id().as_slice().to_vec(), epoch: grp.epoch().as_u64(), members: mem });
    }
    let ids =
        ids.into_iter().zip(setups).map(|((name, groups), s)| Identity { name, signer: s.signer, groups }).collect();
    Ok(World { base: base.to_owned(), http: http.clone(), ids, groups: out_groups })
}

// ---------------------------------------------------------------------------------------------
// Book-keeping

#[derive(Clone)]
struct Att {
    group: usize,
    token: Vec<u8>,
    seed: u64,
    size: usize,
    hash: [u8; 32],
    uploader: usize,
    readers: u32,
    deleting: bool,
}

#[derive(Default)]
struct Registry {
    atts: HashMap<u64, Att>,
    by_group: Vec<Vec<u64>>,
    next: u64,
    live_bytes: u64,
    reserved: u64,
}

impl Registry {
    fn insert(&mut self, a: Att) {
        self.live_bytes += a.size as u64;
        let id = self.next;
        self.next += 1;
        self.by_group[a.group].push(id);
        self.atts.insert(id, a);
    }
    fn pick(&mut self, rng: &mut StdRng, group: Option<usize>, for_delete: bool) -> Option<(u64, Att)> {
        for _ in 0..16 {
            let g = match group {
                Some(g) => g,
                None => rng.gen_range(0..self.by_group.len()),
            };
            let list = &self.by_group[g];
            if list.is_empty() {
                continue;
            }
            let id = list[rng.gen_range(0..list.len())];
            let Some(a) = self.atts.get_mut(&id) else { continue };
            if a.deleting || (for_delete && a.readers > 0) {
                continue;
            }
            if for_delete {
                a.deleting = true;
            } else {
                a.readers += 1;
            }
            return Some((id, a.clone()));
        }
        None
    }
    fn unpin(&mut self, id: u64) {
        if let Some(a) = self.atts.get_mut(&id) {
            a.readers = a.readers.saturating_sub(1);
        }
    }
    fn remove(&mut self, id: u64) {
        if let Some(a) = self.atts.remove(&id) {
            self.live_bytes -= a.size as u64;
            self.by_group[a.group].retain(|x| *x != id);
        }
    }
    fn undelete(&mut self, id: u64) {
        if let Some(a) = self.atts.get_mut(&id) {
            a.deleting = false;
        }
    }
}

#[derive(Default)]
struct Stats {
    lat: HashMap<&'static str, Vec<u32>>,
    errors: BTreeMap<String, u64>,
    expected: BTreeMap<String, u64>,
    requests: u64,
    bytes_up: u64,
    bytes_down: u64,
    uploads: u64,
    downloads: u64,
    copies: u64,
    deletes: u64,
    lost: u64,
    corrupted: u64,
    zombies: u64,
}

impl Stats {
    fn error(&mut self, what: String) {
        *self.errors.entry(what).or_default() += 1;
    }
    fn expected(&mut self, what: String) {
        *self.expected.entry(what).or_default() += 1;
    }
    fn merge(&mut self, o: Stats) {
        for (k, v) in o.lat {
            self.lat.entry(k).or_default().extend(v);
        }
        for (k, v) in o.errors {
            *self.errors.entry(k).or_default() += v;
        }
        for (k, v) in o.expected {
            *self.expected.entry(k).or_default() += v;
        }
        self.requests += o.requests;
        self.bytes_up += o.bytes_up;
        self.bytes_down += o.bytes_down;
        self.uploads += o.uploads;
        self.downloads += o.downloads;
        self.copies += o.copies;
        self.deletes += o.deletes;
        self.lost += o.lost;
        self.corrupted += o.corrupted;
        self.zombies += o.zombies;
    }
}

/// A finished HTTP exchange.
struct Resp {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Resp {
    fn code(&self) -> String {
        serde_json::from_slice::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| v["code"].as_str().map(str::to_owned))
            .unwrap_or_default()
    }
    fn describe(&self) -> String {
        format!("{} {}", self.status.as_u16(), self.code())
    }
}

struct Ctx {
    w: World,
    reg: Mutex<Registry>,
    cfg: LoadConfig,
    deadline: Instant,
}

impl Ctx {
    fn reg(&self) -> std::sync::MutexGuard<'_, Registry> {
        match self.reg.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Sends, reads the whole body, records latency; `Err` (recorded) on a transport error.
    async fn send(&self, st: &mut Stats, op: &'static str, rb: reqwest::RequestBuilder, up: usize) -> Option<Resp> {
        let t0 = Instant::now();
        st.requests += 1;
        let r = async {
            let r = rb.send().await?;
            let status = r.status();
            let headers = r.headers().clone();
            let body = r.bytes().await?.to_vec();
            Ok::<_, reqwest::Error>(Resp { status, headers, body })
        }
        .await;
        let us = u32::try_from(t0.elapsed().as_micros()).unwrap_or(u32::MAX);
        st.lat.entry(op).or_default().push(us);
        match r {
            Ok(r) => {
                st.bytes_up += up as u64;
                Some(r)
            }
            Err(e) => {
                let kind = if e.is_timeout() {
                    "timeout"
                } else if e.is_connect() {
                    "connect"
                } else if e.is_body() || e.is_decode() {
                    "body"
                } else {
                    "request"
                };
                st.error(format!("{op}: transport {kind}: {e}"));
                None
            }
        }
    }

    fn pick_size(&self, rng: &mut StdRng) -> usize {
        let (a, b) = (self.cfg.size_min, self.cfg.size_max.max(self.cfg.size_min));
        if rng.gen_ratio(1, 10) {
            rng.gen_range(a..=a.saturating_add(1024).min(b))
        } else {
            rng.gen_range(a..=b)
        }
    }

    /// Reserves room for `n` bytes within `max_live_bytes`.
    fn reserve(&self, n: usize) -> bool {
        let mut r = self.reg();
        if r.live_bytes + r.reserved + n as u64 > self.cfg.max_live_bytes {
            return false;
        }
        r.reserved += n as u64;
        true
    }

    fn unreserve(&self, n: usize) {
        let mut r = self.reg();
        r.reserved = r.reserved.saturating_sub(n as u64);
    }

    fn random_member(&self, rng: &mut StdRng, g: usize) -> usize {
        let m = &self.w.groups[g].members;
        m[rng.gen_range(0..m.len())].0
    }

    /// One-shot upload by `id` into `g`; the token on success.
    async fn upload_oneshot(&self, st: &mut Stats, id: usize, g: usize, data: &[u8]) -> Option<Vec<u8>> {
        let gid = &self.w.groups[g].gid;
        let body = encode(&UploadAttachmentRequest { group_id: gid.clone().into(), content: data.to_vec().into() })
            .expect("encode");
        let h = self.w.auth(id, g, "POST", "/v1/attachments", body_hash(&body));
        let rb = self.w.http.post(self.w.url("/v1/attachments")).header(AUTH_HEADER, h).body(body);
        let r = self.send(st, "upload_oneshot", rb, data.len()).await?;
        if r.status != StatusCode::CREATED {
            st.error(format!("upload_oneshot: {}", r.describe()));
            return None;
        }
        match decode_exact::<UploadAttachmentResponse>(&r.body) {
            Ok(t) => Some(t.token.as_slice().to_vec()),
            Err(e) => {
                st.error(format!("upload_oneshot: bad response {e}"));
                None
            }
        }
    }

    /// Resumable upload in random chunks (with a HEAD check); the token on success. With
    /// `cancel`, stops after the first chunk and cancels instead.
    async fn upload_resumable(
        &self,
        st: &mut Stats,
        rng: &mut StdRng,
        id: usize,
        g: usize,
        data: &[u8],
        cancel: bool,
    ) -> Option<Vec<u8>> {
        let h = self.w.auth(id, g, "POST", "/v1/uploads", body_hash(b""));
        let rb = self.w.http.post(self.w.url("/v1/uploads")).header(AUTH_HEADER, h).header("upload-length", data.len());
        let r = self.send(st, "create_upload", rb, 0).await?;
        if r.status != StatusCode::CREATED {
            st.error(format!("create_upload: {}", r.describe()));
            return None;
        }
        let Some(loc) = r.headers.get("location").and_then(|v| v.to_str().ok()).map(str::to_owned) else {
            st.error("create_upload: no Location".into());
            return None;
        };
        let mut off = 0usize;
        let mut checked_head = false;
        loop {
            let mut chunk = rng.gen_range(64 * 1024..=1024 * 1024);
            if cancel {
                // Stop before the end: the upload must still be in progress when cancelled.
                chunk = chunk.min(data.len() - 1).max(1);
            }
            let end = (off + chunk).min(data.len());
            let part = data[off..end].to_vec();
            let h = self.w.auth(id, g, "PATCH", &loc, body_hash(&part));
            let rb = self
                .w
                .http
                .patch(self.w.url(&loc))
                .header(AUTH_HEADER, h)
                .header("upload-offset", off)
                .header("content-type", "application/partial-upload")
                .body(part);
            let r = self.send(st, "patch", rb, end - off).await?;
            if end == data.len() {
                if r.status != StatusCode::CREATED {
                    st.error(format!("patch (last): {}", r.describe()));
                    return None;
                }
                return match decode_exact::<UploadAttachmentResponse>(&r.body) {
                    Ok(t) => Some(t.token.as_slice().to_vec()),
                    Err(e) => {
                        st.error(format!("patch: bad response {e}"));
                        None
                    }
                };
            }
            if r.status != StatusCode::NO_CONTENT {
                st.error(format!("patch: {}", r.describe()));
                return None;
            }
            off = end;
            if !checked_head || cancel {
                checked_head = true;
                let h = self.w.auth(id, g, "HEAD", &loc, body_hash(b""));
                let r =
                    self.send(st, "head_upload", self.w.http.head(self.w.url(&loc)).header(AUTH_HEADER, h), 0).await?;
                let got =
                    r.headers.get("upload-offset").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
                if r.status != StatusCode::NO_CONTENT || got != Some(off) {
                    st.error(format!("head_upload: {} offset {got:?} != {off}", r.describe()));
                    return None;
                }
            }
            if cancel {
                let h = self.w.auth(id, g, "DELETE", &loc, body_hash(b""));
                let r = self
                    .send(st, "cancel_upload", self.w.http.delete(self.w.url(&loc)).header(AUTH_HEADER, h), 0)
                    .await?;
                if r.status != StatusCode::NO_CONTENT {
                    st.error(format!("cancel_upload: {}", r.describe()));
                    return None;
                }
                let h = self.w.auth(id, g, "HEAD", &loc, body_hash(b""));
                let r =
                    self.send(st, "head_upload", self.w.http.head(self.w.url(&loc)).header(AUTH_HEADER, h), 0).await?;
                if r.status != StatusCode::NOT_FOUND {
                    st.error(format!("head after cancel: {}", r.describe()));
                }
                return None;
            }
        }
    }

    /// GET (optionally a range) of `a` by `id`; checks the bytes. `Some(true)`: verified,
    /// `Some(false)`: 404, `None`: another failure (recorded).
    async fn download(&self, st: &mut Stats, rng: &mut StdRng, id: usize, a: &Att, op: &'static str) -> Option<bool> {
        let path = format!("/v1/attachments/{}", b64(&a.token));
        let h = self.w.auth(id, a.group, "GET", &path, body_hash(b""));
        let mut rb = self.w.http.get(self.w.url(&path)).header(AUTH_HEADER, h);
        let mut range = None;
        if op == "download_range" && a.size > 0 {
            let (s, e) = if rng.gen_ratio(1, 4) {
                let n = rng.gen_range(1..=a.size);
                rb = rb.header("range", format!("bytes=-{n}"));
                (a.size - n, a.size - 1)
            } else {
                let s = rng.gen_range(0..a.size);
                let e = rng.gen_range(s..a.size);
                rb = rb.header("range", format!("bytes={s}-{e}"));
                (s, e)
            };
            range = Some((s, e));
        }
        let r = self.send(st, op, rb, 0).await?;
        if r.status == StatusCode::NOT_FOUND {
            return Some(false);
        }
        st.bytes_down += r.body.len() as u64;
        let ok = match range {
            None => r.status == StatusCode::OK && r.body.len() == a.size && sha(&r.body) == a.hash,
            Some((s, e)) => {
                let want = format!("bytes {s}-{e}/{}", a.size);
                r.status == StatusCode::PARTIAL_CONTENT
                    && r.headers.get("content-range").and_then(|v| v.to_str().ok()) == Some(want.as_str())
                    && r.body == content(a.seed, a.size)[s..=e]
            }
        };
        if !ok {
            if r.status.is_success() {
                st.corrupted += 1;
                st.error(format!("{op}: CORRUPTED ({} bytes, {})", r.body.len(), r.status));
            } else {
                st.error(format!("{op}: {}", r.describe()));
            }
            return None;
        }
        st.downloads += 1;
        Some(true)
    }

    /// The draft's `POST /v1/attachments/download`.
    async fn download_tls(&self, st: &mut Stats, id: usize, a: &Att) -> Option<bool> {
        let body = encode(&DownloadAttachmentRequest {
            group_id: self.w.groups[a.group].gid.clone().into(),
            token: a.token.clone().into(),
        })
        .expect("encode");
        let h = self.w.auth(id, a.group, "POST", "/v1/attachments/download", body_hash(&body));
        let rb = self.w.http.post(self.w.url("/v1/attachments/download")).header(AUTH_HEADER, h).body(body);
        let r = self.send(st, "download_tls", rb, 0).await?;
        if r.status == StatusCode::NOT_FOUND {
            return Some(false);
        }
        st.bytes_down += r.body.len() as u64;
        let ok = r.status == StatusCode::OK
            && decode_exact::<DownloadAttachmentResponse>(&r.body)
                .map(|d| d.content.as_slice().len() == a.size && sha(d.content.as_slice()) == a.hash)
                .unwrap_or(false);
        if !ok {
            if r.status.is_success() {
                st.corrupted += 1;
                st.error("download_tls: CORRUPTED".into());
            } else {
                st.error(format!("download_tls: {}", r.describe()));
            }
            return None;
        }
        st.downloads += 1;
        Some(true)
    }

    async fn delete(&self, st: &mut Stats, id: usize, g: usize, token: &[u8]) -> Option<StatusCode> {
        let path = format!("/v1/attachments/{}", b64(token));
        let h = self.w.auth(id, g, "DELETE", &path, body_hash(b""));
        let r = self.send(st, "delete", self.w.http.delete(self.w.url(&path)).header(AUTH_HEADER, h), 0).await?;
        Some(r.status)
    }

    // --- operations --------------------------------------------------------------------------

    async fn op_upload(&self, st: &mut Stats, rng: &mut StdRng, resumable: bool) {
        let g = rng.gen_range(0..self.w.groups.len());
        let id = self.random_member(rng, g);
        let size = self.pick_size(rng);
        if !self.reserve(size) {
            return self.op_delete(st, rng).await;
        }
        let seed = rng.gen::<u64>();
        let data = content(seed, size);
        let token = if resumable && size > 0 {
            self.upload_resumable(st, rng, id, g, &data, false).await
        } else {
            self.upload_oneshot(st, id, g, &data).await
        };
        let mut reg = self.reg();
        reg.reserved = reg.reserved.saturating_sub(size as u64);
        if let Some(token) = token {
            st.uploads += 1;
            reg.insert(Att {
                group: g,
                token,
                seed,
                size,
                hash: sha(&data),
                uploader: id,
                readers: 0,
                deleting: false,
            });
        }
    }

    async fn op_cancel(&self, st: &mut Stats, rng: &mut StdRng) {
        let g = rng.gen_range(0..self.w.groups.len());
        let id = self.random_member(rng, g);
        let size = rng.gen_range(64 * 1024 + 1..=(2 * 1024 * 1024));
        if !self.reserve(size) {
            return;
        }
        let data = content(rng.gen(), size);
        let _ = self.upload_resumable(st, rng, id, g, &data, true).await;
        self.unreserve(size);
    }

    async fn op_download(&self, st: &mut Stats, rng: &mut StdRng, op: &'static str) {
        let picked = self.reg().pick(rng, None, false);
        let Some((key, a)) = picked else {
            return self.op_upload(st, rng, false).await;
        };
        let id = self.random_member(rng, a.group);
        let res = if op == "download_tls" {
            self.download_tls(st, id, &a).await
        } else {
            self.download(st, rng, id, &a, op).await
        };
        if res == Some(false) {
            // Pinned (no delete can run), so it must exist.
            st.lost += 1;
            st.error(format!("{op}: LOST (404 for a live attachment)"));
        }
        self.reg().unpin(key);
    }

    async fn op_copy(&self, st: &mut Stats, rng: &mut StdRng) {
        // An identity in two groups copies an attachment of one into the other.
        let candidates: Vec<usize> = (0..self.w.ids.len()).filter(|i| self.w.ids[*i].groups.len() >= 2).collect();
        if candidates.is_empty() {
            return self.op_download(st, rng, "download_get").await;
        }
        let id = candidates[rng.gen_range(0..candidates.len())];
        let gs = &self.w.ids[id].groups;
        let (src_i, dst_i) = if rng.gen() { (0, 1) } else { (1, 0) };
        let (src, dst) = (gs[src_i].0, gs[dst_i].0);
        let picked = self.reg().pick(rng, Some(src), false);
        let Some((key, a)) = picked else { return };
        if !self.reserve(a.size) {
            self.reg().unpin(key);
            return;
        }
        let path = format!("/v1/attachments/{}/copy", b64(&a.token));
        let rb = self
            .w
            .http
            .post(self.w.url(&path))
            .header(AUTH_HEADER, self.w.auth(id, src, "POST", &path, body_hash(b"")))
            .header(AUTH_TARGET_HEADER, self.w.auth(id, dst, "POST", &path, body_hash(b"")));
        let r = self.send(st, "copy", rb, 0).await;
        let mut reg = self.reg();
        reg.reserved = reg.reserved.saturating_sub(a.size as u64);
        reg.unpin(key);
        let Some(r) = r else { return };
        if r.status == StatusCode::NOT_FOUND {
            st.lost += 1;
            st.error("copy: LOST (404 for a live source)".into());
            return;
        }
        if r.status != StatusCode::CREATED {
            st.error(format!("copy: {}", r.describe()));
            return;
        }
        match decode_exact::<UploadAttachmentResponse>(&r.body) {
            Ok(t) => {
                st.copies += 1;
                reg.insert(Att {
                    group: dst,
                    token: t.token.as_slice().to_vec(),
                    uploader: id,
                    readers: 0,
                    deleting: false,
                    ..a
                });
            }
            Err(e) => st.error(format!("copy: bad response {e}")),
        }
    }

    async fn op_delete(&self, st: &mut Stats, rng: &mut StdRng) {
        let picked = self.reg().pick(rng, None, true);
        let Some((key, a)) = picked else { return };
        match self.delete(st, a.uploader, a.group, &a.token).await {
            Some(s) if s == StatusCode::NO_CONTENT => {
                st.deletes += 1;
                self.reg().remove(key);
                if rng.gen_ratio(1, 4) {
                    // Gone for good, for every member.
                    let other = self.random_member(rng, a.group);
                    if let Some(true) = self.download(st, rng, other, &a, "download_get").await {
                        st.zombies += 1;
                        st.error("download_get: ZOMBIE (deleted attachment still served)".into());
                    }
                }
            }
            Some(s) => {
                st.error(format!("delete: {}", s.as_u16()));
                self.reg().undelete(key);
            }
            None => self.reg().undelete(key),
        }
    }

    /// Upload a small attachment, then download and delete it at the same time: the download
    /// is either the right bytes or a 404, never anything else.
    async fn op_race(&self, st: &mut Stats, rng: &mut StdRng) {
        let g = rng.gen_range(0..self.w.groups.len());
        let id = self.random_member(rng, g);
        let size = rng.gen_range(1..=256 * 1024);
        let seed = rng.gen::<u64>();
        let data = content(seed, size);
        let Some(token) = self.upload_oneshot(st, id, g, &data).await else { return };
        st.uploads += 1;
        let a = Att {
            group: g,
            token: token.clone(),
            seed,
            size,
            hash: sha(&data),
            uploader: id,
            readers: 0,
            deleting: false,
        };
        let other = self.random_member(rng, g);
        let mut st2 = Stats::default();
        let mut rng2 = StdRng::seed_from_u64(seed);
        let (dl, del) =
            tokio::join!(self.download(&mut st2, &mut rng2, other, &a, "download_get"), self.delete(st, id, g, &token));
        st.merge(st2);
        match dl {
            Some(true) => st.expected("race: download won".into()),
            Some(false) => st.expected("race: download got 404 (delete won)".into()),
            None => {}
        }
        match del {
            Some(s) if s == StatusCode::NO_CONTENT => st.deletes += 1,
            Some(s) => st.error(format!("race delete: {}", s.as_u16())),
            None => {}
        }
        if let Some(true) = self.download(st, rng, other, &a, "download_get").await {
            st.zombies += 1;
            st.error("race: ZOMBIE".into());
        }
    }

    async fn op_quota(&self, st: &mut Stats, rng: &mut StdRng) {
        let g = rng.gen_range(0..self.w.groups.len());
        let id = self.random_member(rng, g);
        let path = format!("/v1/groups/{}/quota", b64(&self.w.groups[g].gid));
        let h = self.w.auth(id, g, "GET", &path, body_hash(b""));
        if let Some(r) = self.send(st, "quota", self.w.http.get(self.w.url(&path)).header(AUTH_HEADER, h), 0).await {
            if r.status != StatusCode::OK {
                st.error(format!("quota: {}", r.describe()));
            }
        }
    }

    async fn worker(self: Arc<Self>, w: usize) -> Stats {
        let mut rng = StdRng::seed_from_u64(self.cfg.seed.wrapping_mul(1_000_003).wrapping_add(w as u64));
        let mut st = Stats::default();
        while Instant::now() < self.deadline {
            match rng.gen_range(0..100u32) {
                0..=19 => self.op_upload(&mut st, &mut rng, false).await,
                20..=29 => self.op_upload(&mut st, &mut rng, true).await,
                30..=54 => self.op_download(&mut st, &mut rng, "download_get").await,
                55..=67 => self.op_download(&mut st, &mut rng, "download_range").await,
                68..=72 => self.op_download(&mut st, &mut rng, "download_tls").await,
                73..=80 => self.op_copy(&mut st, &mut rng).await,
                81..=93 => self.op_delete(&mut st, &mut rng).await,
                94..=95 => self.op_race(&mut st, &mut rng).await,
                96..=97 => self.op_cancel(&mut st, &mut rng).await,
                _ => self.op_quota(&mut st, &mut rng).await,
            }
        }
        st
    }

    /// After the load: every live attachment downloads byte-exact and every group's quota
    /// endpoint agrees with the books. Returns (verified, quota mismatches).
    async fn verify_all(self: &Arc<Self>, st: &mut Stats) -> (u64, u64) {
        let all: Vec<Att> = self.reg().atts.values().cloned().collect();
        let results = futures_util::stream::iter(all.into_iter().enumerate().map(|(i, a)| {
            let ctx = self.clone();
            async move {
                let mut st = Stats::default();
                let mut rng = StdRng::seed_from_u64(i as u64);
                let id = ctx.random_member(&mut rng, a.group);
                let r = ctx.download(&mut st, &mut rng, id, &a, "final_verify").await;
                if r == Some(false) {
                    st.lost += 1;
                    st.error("final_verify: LOST".into());
                }
                (r == Some(true), st)
            }
        }))
        .buffer_unordered(self.cfg.concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
        let mut verified = 0;
        for (ok, s) in results {
            verified += u64::from(ok);
            st.merge(s);
        }
        let mut mismatches = 0;
        for g in 0..self.w.groups.len() {
            let (count, bytes) = {
                let reg = self.reg();
                let ids = &reg.by_group[g];
                (ids.len() as u64, ids.iter().filter_map(|k| reg.atts.get(k)).map(|a| a.size as u64).sum::<u64>())
            };
            let id = self.w.groups[g].members[0].0;
            let path = format!("/v1/groups/{}/quota", b64(&self.w.groups[g].gid));
            let h = self.w.auth(id, g, "GET", &path, body_hash(b""));
            let Some(r) = self.send(st, "quota", self.w.http.get(self.w.url(&path)).header(AUTH_HEADER, h), 0).await
            else {
                mismatches += 1;
                continue;
            };
            let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
            if v["attachments"].as_u64() != Some(count) || v["used_bytes"].as_u64() != Some(bytes) {
                mismatches += 1;
                st.error(format!(
                    "quota mismatch in group {g}: DS {}/{} bytes, expected {count}/{bytes}",
                    v["attachments"], v["used_bytes"]
                ));
            }
        }
        (verified, mismatches)
    }
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)] as f64 / 1000.0
}

/// Runs the load described by `cfg`; `command` is recorded in the report.
pub async fn run(cfg: LoadConfig, command: String) -> Result<Report, String> {
    let mut proc = None;
    let (base, pid, data_dir) = match &cfg.url {
        Some(u) => (u.trim_end_matches('/').to_owned(), cfg.pid, cfg.data_dir.clone()),
        None => {
            let bin = cfg.ds_bin.clone().ok_or("no DS binary (ds_bin) and no url")?;
            let p = DsProcess::start(&bin, cfg.data_dir.as_deref(), &cfg.ds_args)
                .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
            let out = (p.url.clone(), Some(p.child.id()), Some(p.data_dir.clone()));
            proc = Some(p);
            out
        }
    };
    let http = reqwest::Client::builder()
        .pool_idle_timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(cfg.concurrency.max(1) * 2)
        .timeout(cfg.request_timeout)
        .build()
        .map_err(|e| e.to_string())?;
    let t_setup = Instant::now();
    let world = setup(&base, &http, cfg.groups.max(1), cfg.members).await?;
    if cfg.verbose {
        eprintln!(
            "setup: {} groups, {} identities in {:.1} s",
            world.groups.len(),
            world.ids.len(),
            t_setup.elapsed().as_secs_f64()
        );
    }
    let n_ids = world.ids.len();
    let reg = Registry { by_group: vec![Vec::new(); world.groups.len()], ..Default::default() };

    // RSS / fd sampler.
    let samples: Arc<Mutex<Vec<RssSample>>> = Arc::default();
    let t_load = Instant::now() + Duration::from_millis(200);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = pid.map(|pid| {
        let (samples, stop) = (samples.clone(), stop.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                tick.tick().await;
                let now = Instant::now();
                let t = if now >= t_load { (now - t_load).as_secs_f64() } else { -(t_load - now).as_secs_f64() };
                if let Some(rss) = proc_kib(pid, "VmRSS:") {
                    let fds = proc_fds(pid).unwrap_or(0);
                    if let Ok(mut s) = samples.lock() {
                        s.push(RssSample { t_secs: t, rss_kib: rss, fds });
                    }
                }
            }
        })
    });
    let rss_start = pid.and_then(|p| proc_kib(p, "VmRSS:"));
    let fds_start = pid.and_then(proc_fds);
    tokio::time::sleep_until(tokio::time::Instant::from_std(t_load)).await;

    let ctx = Arc::new(Ctx {
        w: world,
        reg: Mutex::new(reg),
        cfg: cfg.clone(),
        deadline: t_load + Duration::from_secs(cfg.seconds),
    });
    let progress = cfg.verbose.then(|| {
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(10));
            tick.tick().await;
            loop {
                tick.tick().await;
                let (n, b) = {
                    let r = ctx.reg();
                    (r.atts.len(), r.live_bytes)
                };
                eprintln!(
                    "t={:>4.0}s live attachments {n} ({:.1} MiB)",
                    t_load.elapsed().as_secs_f64(),
                    b as f64 / 1048576.0
                );
            }
        })
    });
    let mut workers = Vec::new();
    for w in 0..cfg.concurrency.max(1) {
        workers.push(tokio::spawn(ctx.clone().worker(w)));
    }
    let mut st = Stats::default();
    for w in workers {
        match w.await {
            Ok(s) => st.merge(s),
            Err(e) => st.error(format!("worker panicked: {e}")),
        }
    }
    let elapsed = t_load.elapsed().as_secs_f64();
    if let Some(p) = progress {
        p.abort();
        let _ = p.await;
    }
    let load_requests = st.requests;
    let (up, down) = (st.bytes_up, st.bytes_down);
    let (verified, mismatches) = ctx.verify_all(&mut st).await;
    // Close every client connection, give the DS a moment to notice (and one-shot cleanups it
    // spawned to finish), then look at the disk, the memory and the descriptors.
    drop(ctx);
    drop(http);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (staging, blobs, disk) = match &data_dir {
        Some(d) => {
            let (s, _) = files_and_bytes(&d.join("staging"));
            let (b, _) = files_and_bytes(&d.join("blobs"));
            let (_, total) = files_and_bytes(d);
            (Some(s), Some(b), Some(total))
        }
        None => (None, None, None),
    };
    let rss_end = pid.and_then(|p| proc_kib(p, "VmRSS:"));
    let hwm_end = pid.and_then(|p| proc_kib(p, "VmHWM:"));
    let fds_end = pid.and_then(proc_fds);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    if let Some(s) = sampler {
        s.abort();
    }
    let graceful = proc.as_mut().map(|p| p.terminate());
    let samples = samples.lock().map(|s| s.clone()).unwrap_or_default();
    let warm = samples.iter().find(|s| s.t_secs >= cfg.warmup_secs as f64).map(|s| s.rss_kib);
    let peak = samples.iter().map(|s| s.rss_kib).chain(rss_start).chain(rss_end).max();
    let fds_peak = samples.iter().map(|s| s.fds).chain(fds_start).chain(fds_end).max();

    let mut ops = Vec::new();
    let mut names: Vec<_> = st.lat.keys().copied().collect();
    names.sort();
    for n in names {
        let mut v = st.lat[n].clone();
        v.sort_unstable();
        ops.push(OpStats {
            op: n.to_owned(),
            count: v.len() as u64,
            p50_ms: percentile(&v, 0.50),
            p99_ms: percentile(&v, 0.99),
            max_ms: percentile(&v, 1.0),
        });
    }
    let unexpected = st.errors.values().sum();
    Ok(Report {
        command,
        machine: machine(),
        seconds: cfg.seconds,
        groups: cfg.groups.max(1),
        members: cfg.members,
        identities: n_ids,
        concurrency: cfg.concurrency,
        size_range: format!("{}..{}", cfg.size_min, cfg.size_max),
        max_live_bytes: cfg.max_live_bytes,
        elapsed_secs: elapsed,
        requests: load_requests,
        req_per_sec: load_requests as f64 / elapsed,
        bytes_up: up,
        bytes_down: down,
        mb_per_sec_up: up as f64 / 1e6 / elapsed,
        mb_per_sec_down: down as f64 / 1e6 / elapsed,
        mb_per_sec_total: (up + down) as f64 / 1e6 / elapsed,
        uploads: st.uploads,
        downloads: st.downloads,
        copies: st.copies,
        deletes: st.deletes,
        lost: st.lost,
        corrupted: st.corrupted,
        zombies: st.zombies,
        errors: st.errors,
        unexpected_errors: unexpected,
        expected: st.expected,
        ops,
        final_verified: verified,
        quota_mismatches: mismatches,
        staging_files_left: staging,
        blob_files: blobs,
        data_dir_bytes: disk,
        rss_start_kib: rss_start,
        rss_warm_kib: warm,
        rss_peak_kib: peak,
        rss_end_kib: rss_end,
        hwm_end_kib: hwm_end,
        fds_start_peak_end: match (fds_start, fds_peak, fds_end) {
            (Some(a), Some(b), Some(c)) => Some((a, b, c)),
            _ => None,
        },
        rss_samples: samples,
        graceful_shutdown: graceful,
    })
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "n/a".into())
}

fn mib(k: Option<u64>) -> String {
    k.map(|k| format!("{:.1} MiB", k as f64 / 1024.0)).unwrap_or_else(|| "n/a".into())
}

impl Report {
    /// The human table.
    pub fn table(&self) -> String {
        let mut s = String::new();
        s.push_str(&format!(
            "load: {:.1} s, {} groups x {} members ({} identities), {} workers, sizes {} B\n",
            self.elapsed_secs, self.groups, self.members, self.identities, self.concurrency, self.size_range
        ));
        s.push_str(&format!(
            "requests {} ({:.0} req/s); up {:.1} MB/s, down {:.1} MB/s, total {:.1} MB/s\n",
            self.requests, self.req_per_sec, self.mb_per_sec_up, self.mb_per_sec_down, self.mb_per_sec_total
        ));
        s.push_str(&format!(
            "uploads {}, verified downloads {}, copies {}, deletes {}; final check: {} live attachments verified\n",
            self.uploads, self.downloads, self.copies, self.deletes, self.final_verified
        ));
        s.push_str(&format!(
            "LOST {}  CORRUPTED {}  ZOMBIES {}  quota mismatches {}  unexpected errors {}  staging left {:?}\n",
            self.lost,
            self.corrupted,
            self.zombies,
            self.quota_mismatches,
            self.unexpected_errors,
            self.staging_files_left
        ));
        s.push_str(&format!("{:<16} {:>9} {:>10} {:>10} {:>10}\n", "op", "count", "p50 ms", "p99 ms", "max ms"));
        for o in &self.ops {
            s.push_str(&format!(
                "{:<16} {:>9} {:>10.2} {:>10.2} {:>10.2}\n",
                o.op, o.count, o.p50_ms, o.p99_ms, o.max_ms
            ));
        }
        s.push_str(&format!(
            "DS RSS: start {}, after warm-up {}, peak {}, end {} (VmHWM {}); fds start/peak/end {:?}\n",
            mib(self.rss_start_kib),
            mib(self.rss_warm_kib),
            mib(self.rss_peak_kib),
            mib(self.rss_end_kib),
            mib(self.hwm_end_kib),
            self.fds_start_peak_end
        ));
        for (k, v) in &self.errors {
            s.push_str(&format!("error x{v}: {k}\n"));
        }
        for (k, v) in &self.expected {
            s.push_str(&format!("expected x{v}: {k}\n"));
        }
        s
    }

    /// The markdown report.
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        s.push_str("# DS load test\n\n");
        s.push_str(
            "Generated by `ds/examples/load.rs` (logic in `ds/examples/loadgen/mod.rs`); the JSON report at the \
             end has every number and every RSS sample. Fault tests and summary: [DS-HARDENING.md](DS-HARDENING.md).\n\n",
        );
        s.push_str(&format!("Command:\n\n    {}\n\n", self.command));
        s.push_str(&format!("Machine: {} (shared with other jobs while measured).\n\n", self.machine));
        s.push_str(&format!(
            "Workload: {:.1} s, {} groups x {} members ({} identities; adjacent groups share members, so copies \
             cross groups), {} concurrent workers, attachment sizes {} bytes, live data bounded to {} MiB. Each \
             worker loops over: one-shot upload 20 %, resumable upload (64 KiB–1 MiB PATCHes + HEAD) 10 %, GET 25 %, \
             Range GET 13 %, TLS download 5 %, copy to the other group 8 %, delete by the uploader 13 % (a quarter \
             re-checked as 404), delete racing a download 2 %, cancelled upload 2 %, quota 2 %. Every downloaded \
             byte is compared with the uploaded content.\n\n",
            self.elapsed_secs,
            self.groups,
            self.members,
            self.identities,
            self.concurrency,
            self.size_range,
            self.max_live_bytes >> 20
        ));
        s.push_str("## Results\n\n| metric | value |\n|---|---|\n");
        let rows: Vec<(&str, String)> = vec![
            ("requests", format!("{} ({:.0} req/s)", self.requests, self.req_per_sec)),
            ("throughput up", format!("{:.1} MB/s ({} bytes)", self.mb_per_sec_up, self.bytes_up)),
            ("throughput down", format!("{:.1} MB/s ({} bytes)", self.mb_per_sec_down, self.bytes_down)),
            ("throughput total", format!("{:.1} MB/s", self.mb_per_sec_total)),
            (
                "uploads / verified downloads / copies / deletes",
                format!("{} / {} / {} / {}", self.uploads, self.downloads, self.copies, self.deletes),
            ),
            ("**lost attachments**", self.lost.to_string()),
            ("**corrupted downloads**", self.corrupted.to_string()),
            ("**deleted but still served**", self.zombies.to_string()),
            ("**unexpected errors**", self.unexpected_errors.to_string()),
            ("final check: live attachments verified byte-exact", self.final_verified.to_string()),
            ("groups whose quota endpoint disagreed", self.quota_mismatches.to_string()),
            ("staging files left", opt(self.staging_files_left)),
            (
                "blob files / bytes under the data dir at the end",
                format!("{} / {}", opt(self.blob_files), opt(self.data_dir_bytes)),
            ),
            (
                "DS RSS start / after warm-up / peak / end",
                format!(
                    "{} / {} / {} / {}",
                    mib(self.rss_start_kib),
                    mib(self.rss_warm_kib),
                    mib(self.rss_peak_kib),
                    mib(self.rss_end_kib)
                ),
            ),
            ("DS VmHWM at the end", mib(self.hwm_end_kib)),
            (
                "DS open fds start / peak / end",
                self.fds_start_peak_end.map(|(a, b, c)| format!("{a} / {b} / {c}")).unwrap_or_else(|| "n/a".into()),
            ),
            (
                "graceful shutdown (SIGTERM) within 10 s",
                opt(self.graceful_shutdown.map(|b| if b { "yes" } else { "no (killed)" })),
            ),
        ];
        for (k, v) in rows {
            s.push_str(&format!("| {k} | {v} |\n"));
        }
        s.push_str("\n## Latency per request kind\n\n| request | count | p50 ms | p99 ms | max ms |\n|---|---:|---:|---:|---:|\n");
        for o in &self.ops {
            s.push_str(&format!("| {} | {} | {:.2} | {:.2} | {:.2} |\n", o.op, o.count, o.p50_ms, o.p99_ms, o.max_ms));
        }
        s.push_str("\n`final_verify` is the post-load pass over every live attachment (not part of req/s).\n");
        s.push_str("\n## Errors\n\n");
        if self.errors.is_empty() {
            s.push_str("None.\n");
        } else {
            for (k, v) in &self.errors {
                s.push_str(&format!("* {v} × {k}\n"));
            }
        }
        if !self.expected.is_empty() {
            s.push_str("\nExpected outcomes (not errors):\n\n");
            for (k, v) in &self.expected {
                s.push_str(&format!("* {v} × {k}\n"));
            }
        }
        s.push_str("\n## DS memory over time\n\nVmRSS sampled every second from `/proc/<pid>/status` (every 10th sample shown):\n\n| t (s) | VmRSS | open fds |\n|---:|---:|---:|\n");
        for (i, x) in self.rss_samples.iter().enumerate() {
            if i % 10 == 0 || i + 1 == self.rss_samples.len() {
                s.push_str(&format!("| {:.0} | {} | {} |\n", x.t_secs.max(0.0), mib(Some(x.rss_kib)), x.fds));
            }
        }
        s
    }
}
